//! failsafe on smol / async-std as a newcomer uses it from the crate docs
//! (a fresh helper's review, 2026-12-01; every probe passed). Nothing
//! sleeps for real: waits are zero, deadlines already passed, or (as the
//! crate docs advise for timelines) the driver's generic handles run on a
//! runtime whose `sleep_until` jumps a virtual clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_async_std::{
    AsyncIoClock, BackoffKind, BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy,
    Clock, CountWindow, Deadline, Error, FailFastConfig, FailFastPolicy, GiveUp, Instant, Jitter,
    NoWindow, Pipeline, Quota, RateLimiterPolicy, RejectReason, RetryConfig, RetryPolicy, Runtime,
    State, TimeoutConfig, TimeoutPolicy,
};

fn breaker_config(failures: u32, open_wait: Duration) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(open_wait)
        .build()
        .unwrap()
}

/// Polls `f` once with a no-op waker, then drops it.
fn poll_once_then_drop<F: Future>(f: F) -> Poll<F::Output> {
    let mut f = std::pin::pin!(f);
    f.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

// ------------------------------------------------------------ a jump clock

/// A virtual clock whose `sleep_until` jumps to the deadline at once.
#[derive(Clone, Debug, Default)]
struct Jump(Arc<AtomicU64>);

impl Clock for Jump {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

struct JumpSleep(Jump, Instant);

impl Future for JumpSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let at = self.1.as_nanos();
        if at != u64::MAX {
            self.0.0.fetch_max(at, Ordering::SeqCst);
        }
        Poll::Ready(())
    }
}

impl Runtime for Jump {
    type Sleep = JumpSleep;
    fn sleep_until(&self, deadline: Instant) -> JumpSleep {
        JumpSleep(self.clone(), deadline)
    }
}

// ------------------------------------------------------------ probes

#[test]
fn quick_start_runs_on_smol_and_async_std() {
    let config = BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(10)
        .open_wait(Duration::from_secs(30))
        .build()
        .unwrap();
    let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(config, CountWindow::new());
    let b2 = breaker.clone();
    let r = smol::block_on(async { breaker.call(|| async { Ok::<_, std::io::Error>(7) }).await });
    assert_eq!(r.unwrap(), 7);
    let r = async_std::task::block_on(async move { b2.call(|| async { Ok::<_, ()>(8) }).await });
    assert_eq!(r, Ok(8));
}

#[test]
fn breaker_open_rejects_with_retry_at_on_async_io_clock() {
    let b: CircuitBreakerPolicy<NoWindow> =
        CircuitBreakerPolicy::new(breaker_config(1, Duration::from_secs(30)), NoWindow);
    smol::block_on(async {
        let before = AsyncIoClock.now();
        let _ = b.call(|| async { Err::<(), _>("down") }).await;
        let after = AsyncIoClock.now();
        let r = *b
            .call(|| async { Ok::<_, ()>(1) })
            .await
            .unwrap_err()
            .rejected()
            .unwrap();
        assert_eq!(r.reason, RejectReason::BreakerOpen);
        let at = r.retry_at.unwrap();
        assert!(at >= before + Duration::from_secs(30) && at <= after + Duration::from_secs(30));
    });
}

#[test]
fn dropped_half_open_probe_is_handed_back() {
    let b: CircuitBreakerPolicy<NoWindow> =
        CircuitBreakerPolicy::new(breaker_config(1, Duration::from_nanos(1)), NoWindow);
    b.open();
    // 1 ns open wait: half-open as soon as the clock moves
    while b.state() != State::HalfOpen {
        std::hint::spin_loop();
    }
    let p = poll_once_then_drop(b.call(std::future::pending::<Result<(), ()>>));
    assert!(p.is_pending());
    assert_eq!(b.metrics().probes_in_flight, 0);
    assert_eq!(smol::block_on(b.call(|| async { Ok::<_, ()>(1) })), Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn panicking_call_on_smol_task_returns_bulkhead_slot() {
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let bh2 = bh.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        smol::block_on(async move {
            bh2.call(|| async {
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), ()>(())
            })
            .await
        })
    }));
    assert!(r.is_err());
    assert_eq!(bh.in_flight(), 0);
    assert!(bh.try_acquire().is_ok());
}

#[test]
fn bulkhead_dropped_waiter_and_spawned_tasks() {
    let bh: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let slot = bh.try_acquire().unwrap();
    assert!(poll_once_then_drop(bh.acquire()).is_pending());
    assert_eq!(bh.queued(), 0);
    drop(slot);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let bh = bh.clone();
            smol::spawn(async move { bh.call(|| async move { Ok::<_, ()>(i) }).await })
        })
        .collect();
    smol::block_on(async {
        for t in tasks {
            assert!(t.await.is_ok());
        }
    });
    assert_eq!(bh.in_flight(), 0);
}

#[test]
fn rate_limiter_zero_wait_rejects_with_retry_at() {
    let limiter =
        RateLimiterPolicy::new(Quota::per_second(1).unwrap()).with_max_wait(Duration::ZERO);
    smol::block_on(async {
        assert_eq!(limiter.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
        let now = AsyncIoClock.now();
        let e = limiter.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
        let r = e.rejected().unwrap();
        assert_eq!(r.reason, RejectReason::RateLimited);
        let after = r.retry_after(now).unwrap();
        assert!(
            after > Duration::from_millis(900) && after <= Duration::from_secs(1),
            "{after:?}"
        );
    });
}

#[test]
fn failfast_refuses_a_passed_deadline() {
    let ff = FailFastPolicy::new(
        FailFastConfig::builder()
            .expected_duration(Duration::from_millis(20))
            .build()
            .unwrap(),
    );
    let d = Deadline::after(AsyncIoClock.now(), Duration::from_millis(5));
    let r = smol::block_on(
        ff.clone()
            .with_deadline(d)
            .call(|| async { Ok::<_, ()>(1) }),
    );
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::DeadlineTooShort
    );
}

#[test]
fn retry_with_zero_backoff_on_async_io() {
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let n = AtomicU32::new(0);
    let e = smol::block_on(retry.call(|_| async {
        n.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>("x")
    }))
    .unwrap_err();
    assert_eq!(
        (e.reason, e.attempts, e.last),
        (GiveUp::Attempts, 3, Some("x"))
    );
}

#[test]
fn timeout_with_a_deadline_already_passed() {
    let t = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(1)).unwrap());
    let passed = Deadline::at(AsyncIoClock.now());
    let called = AtomicU32::new(0);
    let r = smol::block_on(t.call_with_deadline(passed, |_| async {
        called.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<Result<(), ()>>().await
    }));
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
}

#[test]
fn pipeline_on_async_io_admissions_and_blocking() {
    let b: CircuitBreakerPolicy<NoWindow> =
        CircuitBreakerPolicy::new(breaker_config(2, Duration::from_secs(30)), NoWindow);
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let pipeline = Pipeline::new(AsyncIoClock)
        .admit(b.clone())
        .admit(bh.clone())
        .retry(
            RetryConfig::builder()
                .max_attempts(2)
                .backoff(BackoffKind::Constant(Duration::ZERO))
                .build()
                .unwrap(),
        )
        .max_wait(Duration::ZERO);
    let e = smol::block_on(pipeline.call(|_| async { Err::<(), _>("down") })).unwrap_err();
    assert_eq!(e.attempts, 2);
    assert_eq!(b.state(), State::Open);
    // (the retrying pipeline would wait up to backoff + 5 s for the open
    // breaker, for real: the default `RetryAfter` clamp)
    let once = Pipeline::new(AsyncIoClock)
        .admit(b.clone())
        .admit(bh.clone());
    let e = once.call_blocking(|_| Ok::<_, &str>(1)).unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
    assert_eq!(bh.in_flight(), 0);
    // the pipeline future dropped mid-call gives the slot back
    b.close();
    assert!(
        poll_once_then_drop(pipeline.call(|_| std::future::pending::<Result<(), ()>>()))
            .is_pending()
    );
    assert_eq!(bh.in_flight(), 0);
}

#[test]
fn breaker_call_blocking_on_async_io() {
    let b: CircuitBreakerPolicy<NoWindow> =
        CircuitBreakerPolicy::new(breaker_config(1, Duration::from_secs(30)), NoWindow);
    assert_eq!(
        b.call_blocking(|| Err::<(), _>("x")),
        Err(Error::Inner("x"))
    );
    assert!(
        b.call_blocking(|| Ok::<_, ()>(1))
            .unwrap_err()
            .is_rejected()
    );
}

/// As the crate docs advise: the driver's generic handles on a runtime of
/// your own whose clock the test moves (`sleep_until` jumps it).
#[test]
fn virtual_runtime_timeline_retry_and_breaker() {
    let clock = Jump::default();
    let breaker = failsafe_driver::CircuitBreakerPolicy::with_runtime(
        breaker_config(1, Duration::from_secs(5)),
        NoWindow,
        clock.clone(),
    );
    let pipeline = Pipeline::new(clock.clone()).admit(breaker.clone()).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(100)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    let n = AtomicU32::new(0);
    let r = smol::block_on(pipeline.call(|_| {
        let k = n.fetch_add(1, Ordering::SeqCst);
        async move { if k == 0 { Err("down") } else { Ok(k) } }
    }));
    assert_eq!(r, Ok(1));
    assert_eq!(
        clock.now(),
        Instant::from_secs(5),
        "the retry waited for the breaker's retry_at"
    );

    let retry = failsafe_driver::RetryPolicy::with_runtime(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_secs(1)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
        clock.clone(),
    );
    let e = smol::block_on(retry.call(|_| async { Err::<(), _>("x") })).unwrap_err();
    assert_eq!(e.attempts, 3);
    assert_eq!(clock.now(), Instant::from_secs(7));
}

#[test]
fn rate_limiter_waits_on_virtual_runtime() {
    let clock = Jump::default();
    let limiter = failsafe_driver::RateLimiterPolicy::with_runtime(
        Quota::per_second(10).unwrap(),
        clock.clone(),
    );
    smol::block_on(async {
        for _ in 0..3 {
            limiter.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
        }
    });
    assert_eq!(clock.now(), Instant::from_millis(200));
}
