//! The axum example's app on loopback under a bounded load: rate-limited
//! requests get 429 with a `Retry-After` of one second (the wait owed at
//! 50 requests a second, rounded up), admitted ones 200, and nothing is
//! left holding a slot.

#[path = "../examples/axum_server/app.rs"]
mod app;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_requests_get_429_with_retry_after() {
    let guards = app::Guards::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/work", listener.local_addr().unwrap());
    let server =
        tokio::spawn(axum::serve(listener, app::router(&guards, Duration::ZERO)).into_future());
    let client = reqwest::Client::new();
    let (mut ok, mut limited) = (0, 0);
    // Requests in a row until five are limited: the burst of 10 passes, then
    // the rate bites (a loopback request takes far less than the 20 ms a
    // permit takes to come back; 1,000 requests would need 20 s to pass).
    let mut sent = 0;
    while limited < 5 && sent < 1_000 {
        sent += 1;
        let r = client.get(&url).send().await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                limited += 1;
                let after = r
                    .headers()
                    .get("retry-after")
                    .expect("429 carries Retry-After");
                assert_eq!(after, "1", "a 20 ms wait rounds up to 1 s, never 0");
                let field = r
                    .headers()
                    .get("ratelimit")
                    .expect("and the RateLimit field");
                assert_eq!(field, "\"failsafe\";r=0;t=1");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 10, "the burst passes: {ok}");
    assert_eq!(limited, 5, "requests are rate limited ({sent} sent)");
    assert_eq!(ok + limited, sent);
    assert_eq!(guards.bulkhead.in_flight(), 0);
    server.abort();
}
