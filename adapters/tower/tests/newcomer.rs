//! The tower layers as a newcomer uses them from the README and the crate
//! docs, on tokio's paused clock. A fresh helper's review wrote these
//! (2026-12-01); three failed before their fixes: a kept rejection answered
//! after the breaker had moved on (`poll_ready_again_after_open_wait_decides_again`),
//! `send_once` waiting out a backoff it could never use
//! (`pipeline_layer_send_once_answers_without_waiting_a_backoff`), and
//! axum's `Retry-After` measured on the process clock, not the pipeline's
//! (`axum_into_response_retry_after_in_paused_time`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Waker};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::RejectReason;
use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, RetryConfig};
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::{Clock, Error, Fallback, Pipeline, RetryOnFailsafeError};
use failsafe_tokio::{
    BulkheadPolicy, CircuitBreakerPolicy, RateLimiterPolicy, RetryPolicy, TimeoutPolicy, TokioClock,
};
use failsafe_tower::{
    BulkheadLayer, CircuitBreakerLayer, FallbackLayer, FallbackRequest, PipelineLayer,
    RateLimitLayer, RetryLayer, TimeoutLayer,
};
use tokio::time::advance;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

fn breaker(failures: u32, open_wait: Duration) -> CircuitBreakerPolicy<NoWindow> {
    CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(failures)
            .open_wait(open_wait)
            .build()
            .unwrap(),
        NoWindow,
    )
}

fn bulkhead(limit: u32) -> BulkheadPolicy {
    BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    )
}

/// README: `CircuitBreakerLayer::from_policy(&breaker).layer(service)` with
/// the tokio binding's `CircuitBreakerPolicy`.
#[tokio::test(start_paused = true)]
async fn readme_breaker_layer_from_tokio_policy() {
    let b = breaker(1, Duration::from_secs(10));
    let svc = CircuitBreakerLayer::from_policy(&b).layer(service_fn(|n: u32| async move {
        if n > 0 { Ok(n) } else { Err("zero") }
    }));
    assert_eq!(svc.clone().oneshot(1).await, Ok(1));
    assert_eq!(svc.clone().oneshot(0).await, Err(Error::Inner("zero")));
    assert_eq!(b.state(), State::Open);
    let e = svc.clone().oneshot(1).await.unwrap_err();
    assert_eq!(e.rejected().unwrap().retry_at, Some(Instant::from_secs(10)));
}

#[tokio::test(start_paused = true)]
async fn poll_ready_admitted_then_service_dropped_returns_slot() {
    let bh = bulkhead(1);
    let mut svc =
        BulkheadLayer::from_policy(&bh).layer(service_fn(|_: ()| async { Ok::<_, ()>(()) }));
    svc.ready().await.unwrap();
    assert_eq!(bh.in_flight(), 1);
    drop(svc);
    assert_eq!(bh.in_flight(), 0);
    assert_eq!(bh.metrics().cancelled, 0, "unused: nothing counted");
}

#[tokio::test(start_paused = true)]
async fn dropped_response_future_returns_slot() {
    let bh = bulkhead(1);
    let svc = BulkheadLayer::from_policy(&bh)
        .layer(service_fn(|_: ()| std::future::pending::<Result<(), ()>>()));
    let r = tokio::time::timeout(Duration::from_millis(10), svc.oneshot(())).await;
    assert!(r.is_err());
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn panicking_inner_service_returns_slot() {
    let bh = bulkhead(1);
    let svc = BulkheadLayer::from_policy(&bh).layer(service_fn(|_: ()| async {
        panic!("boom");
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    }));
    let task = tokio::spawn(svc.oneshot(()));
    assert!(task.await.is_err());
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_layer_waits_in_poll_ready_and_is_woken() {
    let bh = bulkhead(1);
    let svc = BulkheadLayer::from_policy(&bh).layer(service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok::<_, ()>(())
    }));
    let a = tokio::spawn(svc.clone().oneshot(()));
    let b = tokio::spawn(svc.clone().oneshot(()));
    assert_eq!(a.await.unwrap(), Ok(()));
    assert_eq!(b.await.unwrap(), Ok(()));
    assert_eq!(TokioClock.now(), Instant::from_millis(60));
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn rate_layer_zero_wait_retry_at() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(10).unwrap().with_burst(1).unwrap());
    let svc = RateLimitLayer::from_policy(&limiter)
        .with_max_wait(Duration::ZERO)
        .layer(service_fn(|_: ()| async { Ok::<_, ()>(()) }));
    assert_eq!(svc.clone().oneshot(()).await, Ok(()));
    let e = svc.clone().oneshot(()).await.unwrap_err();
    let r = e.rejected().unwrap();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(r.retry_at, Some(Instant::from_millis(100)));
}

/// A service whose `poll_ready` saw an open breaker, asked again after the
/// breaker moved on (half-open), should decide again, not answer a stale
/// rejection whose `retry_at` has passed.
#[tokio::test(start_paused = true)]
async fn poll_ready_again_after_open_wait_decides_again() {
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    let mut svc =
        CircuitBreakerLayer::from_policy(&b).layer(service_fn(|_: ()| async { Ok::<_, ()>(1) }));
    svc.ready().await.unwrap(); // rejection stored for the next call
    advance(Duration::from_secs(11)).await;
    assert_eq!(b.state(), State::HalfOpen);
    svc.ready().await.unwrap();
    let r = svc.call(()).await;
    assert_eq!(r, Ok(1), "a stale rejection from 11 s ago was answered");
}

/// README order Fallback -> Retry -> CircuitBreaker -> Timeout with
/// ServiceBuilder: a retry waits for the open breaker's `retry_at`.
#[tokio::test(start_paused = true)]
async fn readme_order_with_service_builder() {
    let b = breaker(1, Duration::from_secs(1));
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500)).unwrap());
    let n = Arc::new(AtomicU32::new(0));
    let n2 = Arc::clone(&n);
    let inner = service_fn(move |_: ()| {
        let k = n2.fetch_add(1, Ordering::SeqCst);
        async move { if k == 0 { Err("down") } else { Ok(k) } }
    });
    let cache = service_fn(
        |_f: FallbackRequest<(), failsafe_driver::RetryError<Error<Error<&'static str>>>>| async {
            Ok(99)
        },
    );
    let svc = ServiceBuilder::new()
        .layer(FallbackLayer::new(
            Fallback::with_runtime(TokioClock),
            cache,
        ))
        .layer(RetryLayer::new(retry).with_classifier(RetryOnFailsafeError))
        .layer(CircuitBreakerLayer::from_policy(&b))
        .layer(TimeoutLayer::new(timeout))
        .service(inner);
    let r = svc.oneshot(()).await;
    assert_eq!(r, Ok(1));
    assert_eq!(TokioClock.now(), Instant::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn pipeline_layer_dropped_future_returns_slot() {
    let bh = bulkhead(1);
    let svc = PipelineLayer::new(Pipeline::new(TokioClock).admit(bh.clone()))
        .layer(service_fn(|_: ()| std::future::pending::<Result<(), ()>>()));
    let r = tokio::time::timeout(Duration::from_millis(10), svc.oneshot(())).await;
    assert!(r.is_err());
    assert_eq!(bh.in_flight(), 0);
}

/// `send_once`: "the pipeline makes one attempt, whatever its retry says".
/// The caller should get the failure at once, not after a retry's backoff.
#[tokio::test(start_paused = true)]
async fn pipeline_layer_send_once_answers_without_waiting_a_backoff() {
    let pipeline = Pipeline::new(TokioClock).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_secs(1)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = Arc::clone(&calls);
    let svc = PipelineLayer::new(pipeline)
        .send_once()
        .layer(service_fn(move |_: String| {
            c2.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), _>("down") }
        }));
    let e = svc.oneshot(String::from("body")).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(e.attempts, 1);
    assert_eq!(e.inner(), Some(&"down"));
    assert_eq!(
        TokioClock.now(),
        Instant::ZERO,
        "answered after a backoff nobody could use"
    );
}

/// `send_once` with a breaker: the second attempt that is never sent should
/// not be admitted (a half-open probe taken and thrown away).
#[tokio::test(start_paused = true)]
async fn pipeline_layer_send_once_gave_up_reason() {
    let pipeline = Pipeline::new(TokioClock).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let svc = PipelineLayer::new(pipeline)
        .send_once()
        .layer(service_fn(|_: String| async { Err::<(), _>("down") }));
    let e = svc.oneshot(String::from("body")).await.unwrap_err();
    assert_eq!(e.attempts, 1);
    assert_eq!(e.gave_up, Some(GiveUp::NotRetryable));
}

/// README: with the driver's `axum` feature a pipeline answers 429 / 503 /
/// 504 with `Retry-After`. In paused time (as the docs ask tests to run),
/// `Retry-After` should be the breaker's remaining open wait.
#[tokio::test(start_paused = true)]
async fn axum_into_response_retry_after_in_paused_time() {
    use axum::response::IntoResponse;
    let b = breaker(1, Duration::from_secs(30));
    advance(Duration::from_secs(100)).await;
    b.open();
    let pipeline = Pipeline::new(TokioClock).admit(b.clone());
    let e = pipeline
        .call(|_| async { Ok::<_, std::convert::Infallible>("x") })
        .await
        .unwrap_err();
    assert_eq!(
        e.retry_after(TokioClock.now()),
        Some(Duration::from_secs(30))
    );
    let response = e.into_response();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string()),
        Some("30".to_string())
    );
}

#[tokio::test(start_paused = true)]
async fn axum_into_response_statuses() {
    use axum::response::IntoResponse;
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let p = Pipeline::new(TokioClock)
        .admit(limiter.clone())
        .max_wait(Duration::ZERO);
    assert!(
        p.call(|_| async { Ok::<_, std::convert::Infallible>("x") })
            .await
            .is_ok()
    );
    let e = p
        .call(|_| async { Ok::<_, std::convert::Infallible>("x") })
        .await
        .unwrap_err();
    assert_eq!(e.into_response().status(), 429);
    let t = Pipeline::new(TokioClock).timeout(Duration::from_millis(10));
    let e = t
        .call(|_| std::future::pending::<Result<&str, std::convert::Infallible>>())
        .await
        .unwrap_err();
    assert_eq!(e.into_response().status(), 504);
}

/// An admission service that has polled ready (holding a bulkhead slot)
/// and is cloned: the clone does not share the permit.
#[tokio::test(start_paused = true)]
async fn clone_after_ready_does_not_double_spend() {
    let bh = bulkhead(1);
    let mut svc =
        BulkheadLayer::from_policy(&bh).layer(service_fn(|_: ()| async { Ok::<_, ()>(()) }));
    svc.ready().await.unwrap();
    let mut clone = svc.clone();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(
        clone.poll_ready(&mut cx).is_pending(),
        "the only slot is held by svc"
    );
    drop(clone);
    assert_eq!(bh.queued(), 0, "dropped waiter left the queue");
    svc.call(()).await.unwrap();
    assert_eq!(bh.in_flight(), 0);
}

/// Timeout layer: a request whose inner future hangs is cut, and the
/// bulkhead inside it gets its slot back.
#[tokio::test(start_paused = true)]
async fn timeout_layer_over_bulkhead_frees_slot() {
    let bh = bulkhead(1);
    let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(50)).unwrap());
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(timeout))
        .layer(BulkheadLayer::from_policy(&bh))
        .service(service_fn(|_: ()| std::future::pending::<Result<(), ()>>()));
    let r = svc.oneshot(()).await;
    assert!(matches!(r, Err(Error::Timeout(_))));
    assert_eq!(bh.in_flight(), 0);
}
