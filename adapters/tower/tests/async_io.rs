//! The same layers on smol's reactor (async-io), with no tokio runtime:
//! `failsafe_async_std::AsyncIoClock` is the runtime, `async_io::block_on`
//! the executor. Nothing here waits on a timer (the std clock is real
//! time): waits end by a slot coming back, and backoffs are zero.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_async_std::AsyncIoClock;
use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, RetryConfig};
use failsafe_core::timeout::Deadline;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Error, RateLimiterPolicy, RetryPolicy, TimeoutPolicy,
};
use failsafe_tower::{
    AdmissionLayer, BulkheadLayer, CircuitBreakerLayer, RetryLayer, TimeoutLayer,
};
use futures_lite::future;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

#[test]
fn the_breaker_layer_trips_and_rejects_on_async_io() {
    async_io::block_on(async {
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(2)
            .open_wait(Duration::from_secs(3_600))
            .build()
            .unwrap();
        let breaker: CircuitBreakerPolicy<NoWindow, AsyncIoClock> =
            CircuitBreakerPolicy::new(config, NoWindow);
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let svc = CircuitBreakerLayer::from_policy(&breaker).layer(service_fn(move |n: u32| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { if n == 0 { Err("zero") } else { Ok(n) } }
        }));
        assert_eq!(svc.clone().oneshot(1).await, Ok(1));
        assert_eq!(svc.clone().oneshot(0).await, Err(Error::Inner("zero")));
        assert_eq!(svc.clone().oneshot(0).await, Err(Error::Inner("zero")));
        assert_eq!(breaker.state(), State::Open);
        let r = svc.oneshot(1).await.unwrap_err();
        assert_eq!(r.rejected().unwrap().reason, RejectReason::BreakerOpen);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn a_bulkhead_waiter_is_woken_in_poll_ready_when_the_slot_comes_back_on_async_io() {
    async_io::block_on(async {
        let bulkhead: BulkheadPolicy<4, FixedLimit, AsyncIoClock> = BulkheadPolicy::new(
            BulkheadConfig::builder()
                .max_concurrent(1)
                .max_wait(Duration::from_secs(3_600))
                .build()
                .unwrap(),
        );
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let released = Arc::new(std::sync::Mutex::new(Some(released)));
        let svc = BulkheadLayer::from_policy(&bulkhead).layer(service_fn(move |n: u32| {
            let gate = released.lock().unwrap().take();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.await; // the first call holds its slot until released
                }
                Ok::<_, ()>(n)
            }
        }));
        let mut first = svc.clone();
        first.ready().await.unwrap();
        let first = first.call(1);
        let mut second = svc.clone();
        let mut ready = pin!(std::future::poll_fn(|cx| second.poll_ready(cx)));
        let noop = &mut Context::from_waker(Waker::noop());
        assert!(ready.as_mut().poll(noop).is_pending());
        assert_eq!((bulkhead.in_flight(), bulkhead.queued()), (1, 1));
        release.send(()).unwrap();
        // the first call finishes and hands its slot to the waiting service
        let (a, b) = future::zip(first, ready).await;
        assert_eq!((a, b), (Ok(1), Ok(())));
        assert_eq!(second.call(2).await, Ok(2));
        let m = bulkhead.metrics();
        assert_eq!((m.acquired, m.released, m.in_flight), (2, 2, 0));
    });
}

#[test]
fn rate_retry_and_timeout_layers_stack_on_async_io() {
    async_io::block_on(async {
        let limiter: RateLimiterPolicy<AsyncIoClock> =
            RateLimiterPolicy::new(Quota::per_minute(1).unwrap().with_burst(3).unwrap());
        let retry = RetryPolicy::with_runtime(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(BackoffKind::Constant(Duration::ZERO))
                .jitter(Jitter::None)
                .build()
                .unwrap(),
            AsyncIoClock,
        );
        let timeout = TimeoutPolicy::with_runtime(
            TimeoutConfig::new(Duration::from_secs(3_600)).unwrap(),
            AsyncIoClock,
        );
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let svc = ServiceBuilder::new()
            .layer(RetryLayer::new(retry))
            .layer(AdmissionLayer::from_policy(&limiter).with_max_wait(Duration::ZERO))
            .layer(TimeoutLayer::new(timeout))
            .service(service_fn(move |n: u32| {
                let call = counter.fetch_add(1, Ordering::SeqCst);
                async move { if call == 0 { Err("first fails") } else { Ok(n) } }
            }));
        // fails once, retried at once (zero backoff on the async-io timer)
        assert_eq!(svc.clone().oneshot(7).await, Ok(7));
        // the third permit of the burst, then the limiter rejects every retry
        assert_eq!(svc.clone().oneshot(8).await, Ok(8));
        let gave_up = svc.oneshot(9).await.unwrap_err();
        assert_eq!((gave_up.reason, gave_up.attempts), (GiveUp::Attempts, 3));
        let last = gave_up.last.unwrap();
        assert_eq!(last.rejected().unwrap().reason, RejectReason::RateLimited);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn the_response_future_is_ready_at_once_when_rejected_on_async_io() {
    let limiter: RateLimiterPolicy<AsyncIoClock> =
        RateLimiterPolicy::new(Quota::per_minute(1).unwrap());
    let mut svc = AdmissionLayer::from_policy(&limiter)
        .with_max_wait(Duration::ZERO)
        .layer(service_fn(|n: u32| async move { Ok::<_, ()>(n) }));
    let cx = &mut Context::from_waker(Waker::noop());
    assert_eq!(svc.poll_ready(cx), Poll::Ready(Ok(())));
    assert_eq!(future::block_on(svc.call(1)), Ok(1));
    assert_eq!(svc.poll_ready(cx), Poll::Ready(Ok(())));
    let mut rejected = pin!(svc.call(2));
    match rejected.as_mut().poll(cx) {
        Poll::Ready(Err(Error::Rejected(r))) => assert_eq!(r.reason, RejectReason::RateLimited),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_timeout_layer_fires_on_the_async_io_timer() {
    async_io::block_on(async {
        let timeout = TimeoutPolicy::with_runtime(
            TimeoutConfig::new(Duration::from_secs(3_600)).unwrap(),
            AsyncIoClock,
        );
        // a caller's deadline already past: the timer fires at once, and
        // the hanging call is dropped
        let past = Deadline::at(Instant::ZERO);
        let svc = TimeoutLayer::new(timeout)
            .with_parent(past)
            .layer(service_fn(|(): ()| {
                std::future::pending::<Result<(), ()>>()
            }));
        assert_eq!(svc.oneshot(()).await, Err(Error::Timeout(past)));
    });
}
