//! Every failsafe tower layer next to its tower 0.5 peer, in one run: what
//! a request pays around a ready service (`ready().await` + `call().await`
//! on a `service_fn` that answers at once), on one current-thread tokio
//! runtime, nobody waiting and nothing failing:
//!
//! - bulkhead: `failsafe_tower::BulkheadLayer` vs `tower::limit::ConcurrencyLimit`;
//! - rate limit: `failsafe_tower::RateLimitLayer` (GCRA, rejects over the
//!   rate) vs `tower::limit::RateLimit` (fixed window), both far above the
//!   request rate;
//! - timeout: `failsafe_tower::TimeoutLayer` vs `tower::timeout::Timeout`;
//! - retry whose first attempt succeeds: `failsafe_tower::RetryLayer` vs
//!   `tower::retry::Retry` (with a policy allowing 3 attempts); ours also
//!   with a listener and with a token budget (their calls need the plan
//!   from the first attempt on).
//!
//! The rate and timeout layers also on `QuantaRuntime(TokioClock)` (tokio's
//! timer, the time from the TSC: what a tokio user picks for these layers
//! when the OS clock read, about 17 ns here, costs more than the decision).
//!
//! Ratios (peer / ours) are read from criterion's estimates. For scale, the
//! tokio bulkhead handle's `call` around a ready operation, no tower.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::RetryConfig;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::QuantaRuntime;
use failsafe_tokio::{BulkheadPolicy, RateLimiterPolicy, RetryPolicy, TimeoutPolicy, TokioClock};
use failsafe_tower::{BulkheadLayer, RateLimitLayer, RetryLayer, TimeoutLayer};
use tower::Layer;
use tower::limit::{ConcurrencyLimitLayer, RateLimitLayer as TowerRateLimitLayer};
use tower::retry::RetryLayer as TowerRetryLayer;
use tower::timeout::TimeoutLayer as TowerTimeoutLayer;

#[path = "common/tower_harness.rs"]
mod harness;
use harness::{Attempts, inner, one_request, requests};

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let bulkhead: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(100)
            .build()
            .unwrap(),
    );
    let limiter = RateLimiterPolicy::new(Quota::per_second(1_000_000_000).unwrap());
    let retry = RetryPolicy::new(RetryConfig::builder().max_attempts(3).build().unwrap());
    let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(1)).unwrap());

    let ours_bulkhead = BulkheadLayer::from_policy(&bulkhead).layer(inner());
    let tower_bulkhead = ConcurrencyLimitLayer::new(100).layer(inner());
    let ours_rate = RateLimitLayer::from_policy(&limiter)
        .with_max_wait(Duration::ZERO)
        .layer(inner());
    let tower_rate =
        || TowerRateLimitLayer::new(1_000_000_000, Duration::from_secs(1)).layer(inner());
    let tsc = QuantaRuntime(TokioClock);
    let tsc_limiter = failsafe_driver::RateLimiterPolicy::with_runtime(
        Quota::per_second(1_000_000_000).unwrap(),
        tsc,
    );
    let ours_rate_tsc = RateLimitLayer::from_policy(&tsc_limiter)
        .with_max_wait(Duration::ZERO)
        .layer(inner());
    let tsc_timeout = failsafe_driver::TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_secs(1)).unwrap(),
        tsc,
    );
    let ours_timeout_tsc = TimeoutLayer::new(tsc_timeout).layer(inner());
    let ours_timeout = TimeoutLayer::new(timeout).layer(inner());
    let tower_timeout = TowerTimeoutLayer::new(Duration::from_secs(1)).layer(inner());
    let ours_retry = RetryLayer::new(retry.clone()).layer(inner());
    // What a service with metrics or a retry budget pays: its calls need
    // the plan from the first attempt on.
    let heard = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = std::sync::Arc::clone(&heard);
    let listened = retry.clone().on_event(move |_| {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let ours_retry_listened = RetryLayer::new(listened).layer(inner());
    let budgeted = retry.budget(failsafe_core::retry::TokenQuota::AWS_STANDARD);
    let ours_retry_budgeted = RetryLayer::new(budgeted).layer(inner());
    let tower_retry = TowerRetryLayer::new(Attempts(3)).layer(inner());

    // Sanity: every service answers.
    rt.block_on(async {
        assert_eq!(one_request(&mut ours_bulkhead.clone()).await, 1);
        assert_eq!(one_request(&mut ours_rate.clone()).await, 1);
        assert_eq!(one_request(&mut ours_timeout.clone()).await, 1);
        assert_eq!(one_request(&mut ours_rate_tsc.clone()).await, 1);
        assert_eq!(one_request(&mut ours_timeout_tsc.clone()).await, 1);
        assert_eq!(one_request(&mut ours_retry.clone()).await, 1);
        assert_eq!(one_request(&mut tower_rate()).await, 1);
        assert_eq!(one_request(&mut tower_timeout.clone()).await, 1);
        assert_eq!(one_request(&mut tower_retry.clone()).await, 1);
    });

    let mut g = c.benchmark_group("tower/layers");
    g.bench_function("bare service_fn", |b| requests(b, &rt, inner));
    g.bench_function("bulkhead: tower 0.5 ConcurrencyLimit", |b| {
        requests(b, &rt, || tower_bulkhead.clone())
    });
    g.bench_function("bulkhead: failsafe-tower BulkheadLayer", |b| {
        requests(b, &rt, || ours_bulkhead.clone())
    });
    g.bench_function("rate: tower 0.5 RateLimit", |b| {
        requests(b, &rt, tower_rate)
    });
    g.bench_function("rate: failsafe-tower RateLimitLayer", |b| {
        requests(b, &rt, || ours_rate.clone())
    });
    g.bench_function(
        "rate: failsafe-tower RateLimitLayer, QuantaRuntime(TokioClock)",
        |b| requests(b, &rt, || ours_rate_tsc.clone()),
    );
    g.bench_function("timeout: tower 0.5 Timeout", |b| {
        requests(b, &rt, || tower_timeout.clone())
    });
    g.bench_function("timeout: failsafe-tower TimeoutLayer", |b| {
        requests(b, &rt, || ours_timeout.clone())
    });
    g.bench_function(
        "timeout: failsafe-tower TimeoutLayer, QuantaRuntime(TokioClock)",
        |b| requests(b, &rt, || ours_timeout_tsc.clone()),
    );
    g.bench_function("retry: tower 0.5 Retry", |b| {
        requests(b, &rt, || tower_retry.clone())
    });
    g.bench_function("retry: failsafe-tower RetryLayer", |b| {
        requests(b, &rt, || ours_retry.clone())
    });
    g.bench_function("retry: failsafe-tower RetryLayer, a listener", |b| {
        requests(b, &rt, || ours_retry_listened.clone())
    });
    g.bench_function("retry: failsafe-tower RetryLayer, a token budget", |b| {
        requests(b, &rt, || ours_retry_budgeted.clone())
    });
    g.bench_function(
        "for scale: failsafe-tokio BulkheadPolicy::call(ready op)",
        |b| {
            let bulkhead = &bulkhead;
            b.to_async(&rt)
                .iter(|| bulkhead.call(|| async { Ok::<_, ()>(black_box(1u32)) }));
        },
    );
    g.finish();
    assert_eq!(bulkhead.in_flight(), 0);
}

criterion_group! {
    name = benches;
    config = harness::criterion_config();
    targets = layers
}
criterion_main!(benches);
