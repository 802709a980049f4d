//! The pipeline as one tower layer, on tokio's paused clock: every pattern
//! in one layer with one error; a rejected request never reaches (or
//! readies) the inner service; the inner service's errors stay typed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_core::RejectReason;
use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, RetryConfig};
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::{BulkheadPolicy, CircuitBreakerPolicy, Error, Pipeline, RateLimiterPolicy};
use failsafe_tokio::TokioClock;
use failsafe_tower::PipelineLayer;
use tower::{Layer, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn one_layer_runs_every_pattern_and_rejects_before_the_inner_service() {
    let config = BreakerConfig::builder()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, TokioClock);
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(1_000).unwrap(), TokioClock);
    let slots = BulkheadConfig::builder().max_concurrent(8).build().unwrap();
    let bulkhead: BulkheadPolicy<4, FixedLimit, TokioClock> =
        BulkheadPolicy::with_runtime(slots, TokioClock);
    let retry = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(50)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let per_attempt = TimeoutConfig::new(Duration::from_millis(100)).unwrap();
    let pipeline = Pipeline::new(TokioClock)
        .admit(breaker.clone())
        .admit(limiter)
        .admit(bulkhead.clone())
        .retry(retry)
        .attempt_timeout(per_attempt)
        .timeout(Duration::from_secs(2));
    let unguarded = Pipeline::new(TokioClock)
        .admit(bulkhead.clone())
        .retry(retry)
        .attempt_timeout(per_attempt);
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let inner = service_fn(move |n: u32| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Err("down"),
                1 => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(1)
                }
                n => Ok(n),
            }
        }
    });
    let svc = PipelineLayer::new(pipeline).layer(inner.clone());
    let hung = PipelineLayer::new(unguarded).layer(inner);

    assert_eq!(svc.clone().oneshot(7).await, Ok(7));
    // A hung request: three attempts, each cut at 100 ms.
    let e = hung.oneshot(1).await.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)));
    assert_eq!((e.attempts, e.gave_up), (3, Some(GiveUp::Attempts)));
    assert_eq!(
        bulkhead.in_flight(),
        0,
        "cut attempts hand their slots back"
    );
    // Three failures open the breaker; the inner service's error stays typed.
    let e = svc.clone().oneshot(0).await.unwrap_err();
    assert_eq!((e.inner(), e.attempts), (Some(&"down"), 3));
    assert_eq!(breaker.state(), State::Open);
    // Once open, requests are rejected without reaching the inner service.
    let before = calls.load(Ordering::SeqCst);
    let e = svc.clone().oneshot(7).await.unwrap_err();
    assert_eq!(
        e.rejected().map(|r| r.reason),
        Some(RejectReason::BreakerOpen)
    );
    assert!(
        e.retry_after(failsafe_driver::Clock::now(&TokioClock))
            .is_some()
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before,
        "the inner service was never called"
    );
}

/// The hedge layer: a slow first attempt is overtaken by its hedge and
/// dropped; when every attempt fails, the error says how many ran.
#[tokio::test(start_paused = true)]
async fn the_hedge_layer_takes_the_first_success_and_drops_the_slow_attempt() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_tower::HedgeLayer;

    struct Flag(Arc<AtomicU32>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
        .build()
        .unwrap();
    let (calls, drops) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (c, d) = (Arc::clone(&calls), Arc::clone(&drops));
    let svc = HedgeLayer::idempotent(config, TokioClock).layer(service_fn(move |fail: bool| {
        let first = c.fetch_add(1, Ordering::SeqCst) % 2 == 0;
        let flag = Flag(Arc::clone(&d));
        async move {
            let _flag = flag;
            if first {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            if fail { Err("down") } else { Ok(1) }
        }
    }));
    let start = tokio::time::Instant::now();
    assert_eq!(svc.clone().oneshot(false).await, Ok(1));
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(20),
        "the hedge answered"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "the winner finished, the slow one was dropped"
    );
    let e = svc.oneshot(true).await.unwrap_err();
    assert_eq!((e.attempts, e.last), (2, Some("down")));
}

/// The hedge layer reads the request's deadline (through the shared
/// `PlanLayer::with_request_deadline`): no hedge starts at or after it, so
/// a slow first attempt is left to answer alone.
#[tokio::test(start_paused = true)]
async fn the_hedge_layer_starts_no_hedge_past_the_requests_deadline() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_core::timeout::Deadline;
    use failsafe_driver::Clock;
    use failsafe_tower::HedgeLayer;

    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    let deadline = Deadline::at(TokioClock.now() + Duration::from_millis(10));
    let svc = HedgeLayer::idempotent(config, TokioClock)
        .with_request_deadline(move |_: &u32| deadline)
        .layer(service_fn(move |n: u32| {
            c.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, ()>(n)
            }
        }));
    let start = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(7).await, Ok(7));
    let answered = (start.elapsed(), calls.load(Ordering::SeqCst));
    assert_eq!(
        answered,
        (Duration::from_secs(5), 1),
        "no hedge after the deadline"
    );
}
