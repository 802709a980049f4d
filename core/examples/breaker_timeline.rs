//! The main job for now: a circuit breaker in front of a dependency that goes
//! down for two minutes, driven in virtual time, printing its timeline.
//!
//! Run with `cargo run -p failsafe-core --example breaker_timeline`.
#![allow(clippy::print_stdout)] // printing the timeline is the point

use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker, CountWindow};
use failsafe_core::{FnObserver, Instant, Outcome};

fn main() {
    let config = BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(10)
        .open_wait(Duration::from_secs(10))
        .open_wait_backoff(2, Duration::from_secs(60))
        .half_open_probes(2)
        .build()
        .expect("valid configuration");
    let print = FnObserver(|event: BreakerEvent| match event {
        BreakerEvent::StateChanged { from, to, at } => {
            println!("{:>12}  {from} -> {to}", at.to_string())
        }
        BreakerEvent::ProbesExpired { at, count } => {
            println!("{:>12}  {count} probe(s) expired", at.to_string())
        }
        _ => {}
    });
    let mut breaker = CircuitBreaker::with_observer(config, CountWindow::<20>::new(), print);

    let outage = Instant::from_secs(30)..Instant::from_secs(150);
    let (mut admitted, mut rejected, mut first_retry_at) = (0u32, 0u32, None);
    println!("one call every 500 ms; the dependency is down from t=30s to t=150s\n");
    // 4 minutes of traffic, one call every 500 ms, each taking 40 ms.
    for step in 0..480u64 {
        let now = Instant::from_millis(step * 500);
        match breaker.acquire(now) {
            Ok(permit) => {
                admitted += 1;
                let outcome = if outage.contains(&now) {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                breaker.record(now + Duration::from_millis(40), permit, outcome);
            }
            Err(rejection) => {
                rejected += 1;
                if first_retry_at.is_none() {
                    first_retry_at = rejection.retry_at;
                    println!("{:>12}  rejected: {rejection}", now.to_string());
                }
            }
        }
    }
    let end = Instant::from_secs(240);
    let metrics = breaker.metrics(end);
    println!(
        "\n{admitted} calls admitted, {rejected} rejected; opened {} times; now {} with {} calls in the window",
        metrics.times_opened, metrics.state, metrics.calls
    );
}
