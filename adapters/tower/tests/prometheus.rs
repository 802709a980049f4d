//! The axum example's Prometheus endpoint on loopback: after a load that
//! the rate limiter partly refuses, a scrape of `/metrics` shows every
//! refusal the clients saw (`failsafe_calls_rejected_total`, reason
//! `rate_limited`), every admission, and the bulkhead's gauges, under the
//! names `adapters/driver/METRICS.md` documents.

#[path = "../examples/axum_server/app.rs"]
mod app;

use std::time::Duration;

/// The value of the series `name` whose labels include every one of `labels`.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_every_decision_under_the_documented_names() {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let guards = app::Guards::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app::router_with_metrics(&guards, Duration::ZERO, move || prometheus.render());
    let server = tokio::spawn(axum::serve(listener, router).into_future());
    let client = reqwest::Client::new();
    let (mut ok, mut limited, mut sent) = (0u32, 0u32, 0u32);
    while limited < 5 && sent < 1_000 {
        sent += 1;
        match client
            .get(format!("{base}/work"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
        {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(limited, 5);

    let r = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    let api = r#"policy="api""#;
    assert_eq!(
        series(
            &text,
            "failsafe_calls_rejected_total",
            &[api, r#"pattern="rate_limiter""#, r#"reason="rate_limited""#]
        ),
        Some(f64::from(limited)),
        "{text}"
    );
    assert_eq!(
        series(
            &text,
            "failsafe_events_total",
            &[api, r#"pattern="rate_limiter""#, r#"kind="acquired""#]
        ),
        Some(f64::from(ok)),
    );
    // Every admitted request took and gave back a bulkhead slot.
    for kind in ["acquired", "released"] {
        let kind = format!(r#"kind="{kind}""#);
        assert_eq!(
            series(
                &text,
                "failsafe_events_total",
                &[api, r#"pattern="bulkhead""#, &kind]
            ),
            Some(f64::from(ok)),
        );
    }
    assert_eq!(
        series(&text, "failsafe_bulkhead_in_flight", &[api]),
        Some(0.0)
    );
    assert_eq!(series(&text, "failsafe_bulkhead_limit", &[api]), Some(8.0));
    assert!(series(&text, "failsafe_rate_limiter_available", &[api]).is_some());
    assert!(
        text.contains("# TYPE failsafe_calls_rejected_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# HELP failsafe_calls_rejected_total"),
        "{text}"
    );
    server.abort();
}
