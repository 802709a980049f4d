//! Five patterns around one ready service, in one run (failsafe issue 9):
//! what a request pays for a circuit breaker, a rate limiter, a bulkhead, a
//! retry and an attempt timeout when nothing fails and nobody waits
//! (`ready().await` + `call().await` on a `service_fn` that answers at once,
//! on one current-thread tokio runtime, as `benches/tower.rs` does).
//!
//! - failsafe: the whole pipeline as one layer,
//!   `PipelineLayer::new(Pipeline::new(TokioClock).admit(breaker).admit(limiter).admit(bulkhead).retry(..).attempt_timeout(..))`,
//!   with a count-window breaker (resilience4j's default window of 100) and
//!   with a consecutive-failures breaker (`NoWindow`);
//! - tower-resilience 0.13: its five layers stacked in the same order
//!   (retry outermost, then circuit breaker, rate limiter, bulkhead, time
//!   limiter), both breaker models;
//! - tower 0.5: its own layers where they exist (no circuit breaker in
//!   tower); its `RateLimit` is not `Clone`, so it sits outside the `Retry`
//!   (a retry clones the service it wraps);
//! - for scale: failsafe's separate tower layers stacked in the pipeline's
//!   order (their error types nest, no glue needed), and the driver's
//!   `Pipeline::call` with no tower at all.
//!
//! Ratios (peer / ours) are read from criterion's estimates.

use std::convert::Infallible;
use std::future::ready;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::breaker::{BreakerConfig, CountWindow, NoWindow};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::RetryConfig;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::Pipeline;
use failsafe_tokio::{
    BulkheadPolicy, CircuitBreakerPolicy, RateLimiterPolicy, RetryPolicy, TimeoutPolicy, TokioClock,
};
use failsafe_tower::{
    BulkheadLayer, CircuitBreakerLayer, PipelineLayer, RateLimitLayer, RetryLayer, TimeoutLayer,
};
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer as TowerRateLimitLayer};
use tower::retry::RetryLayer as TowerRetryLayer;
use tower::timeout::TimeoutLayer as TowerTimeoutLayer;
use tower::{Layer, ServiceBuilder};
use tower_resilience::bulkhead::BulkheadLayer as TrBulkheadLayer;
use tower_resilience::circuitbreaker::CircuitBreakerLayer as TrCircuitBreakerLayer;
use tower_resilience::ratelimiter::RateLimiterLayer as TrRateLimiterLayer;
use tower_resilience::retry::RetryLayer as TrRetryLayer;
use tower_resilience::timelimiter::TimeLimiterLayer as TrTimeLimiterLayer;

#[path = "common/tower_harness.rs"]
mod harness;
use harness::{Attempts, inner, one_request, requests};

/// Far above any request rate: the limiters never limit.
const HUGE: u32 = 1_000_000_000;
/// Bulkhead slots.
const SLOTS: u32 = 100;
/// Attempts (the first one succeeds).
const ATTEMPTS: u32 = 3;
/// Attempt timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// The consecutive-failures breaker's threshold.
const IN_A_ROW: u32 = 5;

fn retry_config() -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(ATTEMPTS)
        .build()
        .unwrap()
}

fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::new(TIMEOUT).unwrap()
}

fn bulkhead_config() -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(SLOTS)
        .build()
        .unwrap()
}

fn consecutive() -> BreakerConfig {
    BreakerConfig::builder()
        .consecutive_failures(IN_A_ROW)
        .build()
        .unwrap()
}

fn quota() -> Quota {
    Quota::per_second(HUGE).unwrap()
}

fn pipelines(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();

    // failsafe: one pipeline, one layer (closed breaker, limiter that never
    // limits, 100 slots, 3 attempts, 1 s per attempt).
    let bulkhead: BulkheadPolicy = BulkheadPolicy::new(bulkhead_config());
    let counted: CircuitBreakerPolicy =
        CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
    let in_a_row: CircuitBreakerPolicy<NoWindow> =
        CircuitBreakerPolicy::new(consecutive(), NoWindow);
    let limiter = RateLimiterPolicy::new(quota());
    let pipeline_count = Pipeline::new(TokioClock)
        .admit(counted.clone())
        .admit(limiter.clone())
        .admit(bulkhead.clone())
        .retry(retry_config())
        .attempt_timeout(timeout_config());
    let pipeline_no_window = Pipeline::new(TokioClock)
        .admit(in_a_row.clone())
        .admit(limiter.clone())
        .admit(bulkhead.clone())
        .retry(retry_config())
        .attempt_timeout(timeout_config());
    let direct = Pipeline::new(TokioClock)
        .admit(counted.clone())
        .admit(limiter.clone())
        .admit(bulkhead.clone())
        .retry(retry_config())
        .attempt_timeout(timeout_config());
    let ours_count = PipelineLayer::new(pipeline_count).layer(inner());
    let ours_no_window = PipelineLayer::new(pipeline_no_window).layer(inner());

    // failsafe: the separate layers stacked in the pipeline's order.
    let ours_stacked = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::new(retry_config())))
        .layer(CircuitBreakerLayer::from_policy(&counted))
        .layer(RateLimitLayer::from_policy(&limiter))
        .layer(BulkheadLayer::from_policy(&bulkhead))
        .layer(TimeoutLayer::new(TimeoutPolicy::new(timeout_config())))
        .service(inner());

    // tower-resilience 0.13: the same five, the same order, defaults
    // closest to ours (breaker: failure rate 50% over the last 100 calls,
    // or 5 failures in a row; limiter waits up to 5 s as ours does; the
    // bulkhead rejects when full as ours does; 3 attempts; 1 s per attempt).
    let resilience = |breaker: TrCircuitBreakerLayer| {
        ServiceBuilder::new()
            .layer(
                TrRetryLayer::builder()
                    .max_attempts(ATTEMPTS as usize)
                    .build(),
            )
            .layer(breaker)
            .layer(
                TrRateLimiterLayer::builder()
                    .limit_for_period(HUGE as usize)
                    .refresh_period(Duration::from_secs(1))
                    .timeout_duration(Duration::from_secs(5))
                    .build()
                    .unwrap(),
            )
            .layer(
                TrBulkheadLayer::builder()
                    .max_concurrent_calls(SLOTS as usize)
                    .reject_when_full()
                    .build()
                    .unwrap(),
            )
            .layer(
                TrTimeLimiterLayer::builder()
                    .timeout_duration(TIMEOUT)
                    .build(),
            )
            .service(inner())
    };
    let theirs_count = resilience(
        TrCircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .build()
            .unwrap(),
    );
    let theirs_in_a_row = resilience(
        TrCircuitBreakerLayer::builder()
            .consecutive_failures(IN_A_ROW as usize)
            .build()
            .unwrap(),
    );

    // tower 0.5: no breaker; `RateLimit` is not `Clone`, so it wraps the retry.
    let tower_stack = || {
        ServiceBuilder::new()
            .layer(TowerRateLimitLayer::new(
                u64::from(HUGE),
                Duration::from_secs(1),
            ))
            .layer(TowerRetryLayer::new(Attempts(ATTEMPTS)))
            .layer(ConcurrencyLimitLayer::new(SLOTS as usize))
            .layer(TowerTimeoutLayer::new(TIMEOUT))
            .service(inner())
    };

    // Sanity: every stack answers Ok.
    rt.block_on(async {
        assert_eq!(one_request(&mut ours_count.clone()).await, 1);
        assert_eq!(one_request(&mut ours_no_window.clone()).await, 1);
        assert_eq!(one_request(&mut ours_stacked.clone()).await, 1);
        assert_eq!(one_request(&mut theirs_count.clone()).await, 1);
        assert_eq!(one_request(&mut theirs_in_a_row.clone()).await, 1);
        assert_eq!(one_request(&mut tower_stack()).await, 1);
        let op = |_| ready(Ok::<_, Infallible>(1u32));
        assert_eq!(direct.call(op).await, Ok(1));
    });

    let mut g = c.benchmark_group("pipeline/5 patterns");
    g.bench_function("bare service_fn", |b| requests(b, &rt, inner));
    g.bench_function(
        "failsafe-tower PipelineLayer (breaker CountWindow<100>)",
        |b| requests(b, &rt, || ours_count.clone()),
    );
    g.bench_function(
        "failsafe-tower PipelineLayer (breaker NoWindow, 5 in a row)",
        |b| requests(b, &rt, || ours_no_window.clone()),
    );
    g.bench_function(
        "tower-resilience 0.13 five layers (breaker count window 100)",
        |b| requests(b, &rt, || theirs_count.clone()),
    );
    g.bench_function(
        "tower-resilience 0.13 five layers (breaker 5 consecutive failures)",
        |b| requests(b, &rt, || theirs_in_a_row.clone()),
    );
    g.bench_function(
        "tower 0.5 RateLimit > Retry > ConcurrencyLimit > Timeout (no breaker in tower)",
        |b| requests(b, &rt, tower_stack),
    );
    g.bench_function(
        "for scale: failsafe-tower five separate layers stacked",
        |b| requests(b, &rt, || ours_stacked.clone()),
    );
    g.bench_function(
        "for scale: failsafe-driver Pipeline::call(ready op), no tower",
        |b| {
            let direct = &direct;
            b.to_async(&rt)
                .iter(|| direct.call(|_| ready(Ok::<_, Infallible>(black_box(1u32)))));
        },
    );
    g.finish();
    assert_eq!(bulkhead.in_flight(), 0);
}

criterion_group! {
    name = benches;
    config = harness::criterion_config();
    targets = pipelines
}
criterion_main!(benches);
