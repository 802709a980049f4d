//! The protected axum app: fail fast, a rate limiter and a bulkhead in one
//! pipeline layer, whose errors answer as HTTP (429 / 503 with
//! `Retry-After`), every decision recorded as `metrics` (policy `api`) and
//! exposed for Prometheus on `/metrics`. Shared by the example and its
//! tests.

use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_driver::observe::MetricsObserver;
use failsafe_driver::{BulkheadPolicy, FailFastPolicy, Pipeline, RateLimiterPolicy};
use failsafe_tokio::TokioClock;
use failsafe_tower::PipelineLayer;

/// The handles, kept to report what each pattern did.
#[derive(Clone)]
pub(crate) struct Guards {
    pub(crate) fail_fast: FailFastPolicy<TokioClock>,
    pub(crate) limiter: RateLimiterPolicy<TokioClock>,
    pub(crate) bulkhead: BulkheadPolicy<64, FixedLimit, TokioClock>,
}

impl Guards {
    /// 50 requests a second (bursts of 10), 8 at a time, fail fast on;
    /// each reports to the `metrics` recorder installed (none: nothing).
    pub(crate) fn new() -> Self {
        let quota = Quota::per_second(50).unwrap().with_burst(10).unwrap();
        let slots = BulkheadConfig::builder()
            .max_concurrent(8)
            .max_wait(Duration::ZERO)
            .build()
            .unwrap();
        let metrics = MetricsObserver::new("api");
        Guards {
            fail_fast: FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, TokioClock)
                .observe(metrics),
            limiter: RateLimiterPolicy::with_runtime(quota, TokioClock).observe(metrics),
            bulkhead: BulkheadPolicy::with_runtime(slots, TokioClock).observe(metrics),
        }
    }
}

/// `/work` takes `work` (real time; zero: answers at once); the pipeline
/// sits in `Router::layer` directly.
pub(crate) fn router(guards: &Guards, work: Duration) -> Router {
    // A server answers 429 at once rather than holding the request for a
    // permit: no waiting (a client would rather wait, the default).
    let pipeline = Pipeline::new(TokioClock)
        .admit(guards.fail_fast.clone())
        .admit(guards.limiter.clone())
        .admit(guards.bulkhead.clone())
        .max_wait(Duration::ZERO);
    let layer = PipelineLayer::new(pipeline)
        .send_once()
        .respond_with(IntoResponse::into_response);
    Router::new()
        .route(
            "/work",
            get(move || async move {
                if !work.is_zero() {
                    tokio::time::sleep(work).await;
                }
                "done"
            }),
        )
        .layer(layer)
}

/// `router` plus `GET /metrics`: the Prometheus text `render` returns (it
/// sits outside the pipeline: a scrape is never rate limited). Before
/// rendering, fail fast hands over the calls it rejected without its lock.
#[allow(dead_code)] // tests/axum.rs serves `router` alone
pub(crate) fn router_with_metrics(
    guards: &Guards,
    work: Duration,
    render: impl Fn() -> String + Clone + Send + Sync + 'static,
) -> Router {
    let fail_fast = guards.fail_fast.clone();
    let metrics = Router::new().route(
        "/metrics",
        get(move || async move {
            fail_fast.flush_events();
            render()
        }),
    );
    router(guards, work).merge(metrics)
}
