//! A reqwest client behind one pipeline (fallback, overall timeout, retry
//! honouring `Retry-After`, circuit breaker, attempt timeout) against a
//! deliberately flaky local server on loopback: two 503s, a 429 with
//! `Retry-After: 1`, a hang, then 200. Prints every attempt, every retry
//! decision and the answer.
//!
//! `cargo run -p failsafe-tower --example reqwest_client`
#![allow(clippy::print_stdout)] // printing what every pattern did is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant as StdInstant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig, RetryEvent};
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_driver::http::HttpClassifier;
use failsafe_driver::{CircuitBreakerPolicy, Hook, Pipeline};
use failsafe_tokio::TokioClock;

/// The flaky server: what the `n`-th request gets.
async fn flaky(n: u32) -> (StatusCode, HeaderMap, &'static str) {
    let mut headers = HeaderMap::new();
    match n {
        1 | 2 => (StatusCode::SERVICE_UNAVAILABLE, headers, "busy"),
        3 => {
            headers.insert("retry-after", "1".parse().unwrap());
            (StatusCode::TOO_MANY_REQUESTS, headers, "slow down")
        }
        4 => {
            tokio::time::sleep(Duration::from_secs(30)).await; // hangs
            (StatusCode::OK, headers, "too late")
        }
        _ => (StatusCode::OK, headers, "fresh data"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let served = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&served);
    let app = Router::new().route(
        "/data",
        get(move || flaky(counter.fetch_add(1, Ordering::SeqCst) + 1)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/data", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app).into_future());

    let start = StdInstant::now();
    let elapsed = move || format!("{:>5} ms", start.elapsed().as_millis());
    let breaker_config = BreakerConfig::builder().consecutive_failures(10).build()?;
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, TokioClock);
    let retry = RetryConfig::builder()
        .max_attempts(6)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .build()?;
    let log = Hook::new(move |event: RetryEvent| match event {
        RetryEvent::RetryScheduled { attempt, delay, .. } => {
            println!("{}  retry: attempt {attempt} in {delay:?}", elapsed());
        }
        RetryEvent::GaveUp { reason, .. } => println!("  gave up: {reason}"),
        _ => {}
    });
    let pipeline = Pipeline::new(TokioClock)
        .admit(&breaker)
        .retry(retry)
        .observe_retries(log)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(500))?)
        .timeout(Duration::from_secs(10));

    let client = reqwest::Client::new();
    let attempt = |attempt: failsafe_driver::Attempt| {
        println!("{}  attempt {}", elapsed(), attempt.number);
        let request = client.get(&url).timeout(attempt_budget(attempt)).send();
        async move {
            let response = http::Response::from(request.await?);
            println!("{}    -> {}", elapsed(), response.status());
            Ok::<_, reqwest::Error>(response)
        }
    };
    // The classifier retries 503 and 429 (waiting for Retry-After), and
    // the attempt timeout cuts the hung request.
    match pipeline
        .call_with(&HttpClassifier, Deadline::NEVER, attempt)
        .await
    {
        Ok(response) => println!("answer: {} after {}", response.status(), elapsed()),
        Err(e) => {
            // The fallback would answer here, told the true reason.
            println!(
                "no answer: {e}; fallback reason: {:?}",
                pipeline.falls_back(&e)
            );
        }
    }
    println!(
        "server saw {} requests; breaker {:?}",
        served.load(Ordering::SeqCst),
        breaker.state()
    );
    Ok(())
}

/// What is left of the attempt's deadline, for reqwest's own timeout.
fn attempt_budget(attempt: failsafe_driver::Attempt) -> Duration {
    attempt
        .deadline
        .remaining(failsafe_driver::Clock::now(&TokioClock))
}
