//! An axum server protected by fail fast + rate limiter + bulkhead in one
//! pipeline layer, under a bounded load from a local client on loopback:
//! prints what each pattern did and the answers the clients saw, then
//! scrapes its own Prometheus endpoint (`/metrics`, through
//! `metrics-exporter-prometheus`) and prints the `failsafe_` series.
//!
//! `cargo run -p failsafe-tower --example axum_server`
#![allow(clippy::print_stdout)] // printing what every pattern did is the point

mod app;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use app::Guards;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let guards = Guards::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let url = format!("{base}/work");
    let work = std::time::Duration::from_millis(20);
    let router = app::router_with_metrics(&guards, work, move || prometheus.render());
    tokio::spawn(axum::serve(listener, router).into_future());

    // 200 requests, 32 at a time: more than 50/s and more than 8 at once.
    let client = reqwest::Client::new();
    let seen = Arc::new(Mutex::new(BTreeMap::<(u16, Option<String>), u32>::new()));
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let (client, url, seen) = (client.clone(), url.clone(), Arc::clone(&seen));
        tasks.push(tokio::spawn(async move {
            for _ in (worker..200).step_by(32) {
                let r = client.get(&url).send().await.expect("loopback");
                let after = r
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap_or("?").to_string());
                *seen
                    .lock()
                    .unwrap()
                    .entry((r.status().as_u16(), after))
                    .or_default() += 1;
            }
        }));
    }
    for task in tasks {
        task.await?;
    }

    println!("answers (status, Retry-After) -> count:");
    for ((status, after), n) in seen.lock().unwrap().iter() {
        println!("  {status} {:>8} -> {n}", after.as_deref().unwrap_or("-"));
    }
    println!("fail fast: {:?}", guards.fail_fast.state());
    println!(
        "rate limiter: {} permits available now",
        guards.limiter.available()
    );
    println!(
        "bulkhead: {} in flight, limit {}",
        guards.bulkhead.in_flight(),
        guards.bulkhead.limit()
    );
    let scraped = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    println!("GET /metrics (failsafe_ series):");
    for line in scraped.lines().filter(|l| l.starts_with("failsafe_")) {
        println!("  {line}");
    }
    Ok(())
}
