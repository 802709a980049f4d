//! The breaker handle on async-io runtimes. There is no virtual time here,
//! so timelines run on a test clock the test moves by hand; nothing sleeps.

use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use failsafe_async_std::{
    AsyncIoClock, BreakerConfig, CircuitBreakerPolicy, Clock, CountWindow, Error, Instant,
    NoWindow, Outcome, Policy, RejectReason, Runtime, State, StdClock,
};
use smol::future::poll_once;

#[path = "../../thread/tests/support/mod.rs"]
mod support;
use support::TestClock;

const OPEN_WAIT: Duration = Duration::from_secs(60);

type TestBreaker = failsafe_driver::CircuitBreakerPolicy<NoWindow, TestClock>;

fn breaker(failures: u32) -> (TestBreaker, TestClock) {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .build()
        .unwrap();
    let clock = TestClock::default();
    (
        TestBreaker::with_runtime(config, NoWindow, clock.clone()),
        clock,
    )
}

async fn succeed(b: &TestBreaker) -> Result<u32, Error<&'static str>> {
    b.call(|| async { Ok(7) }).await
}

async fn fail(b: &TestBreaker) -> Result<u32, Error<&'static str>> {
    b.call(|| async { Err("down") }).await
}

#[test]
fn trip_reject_then_manual_close() {
    smol::block_on(async {
        let (b, clock) = breaker(2);
        assert_eq!(succeed(&b).await, Ok(7));
        assert_eq!(fail(&b).await, Err(Error::Inner("down")));
        clock.advance(Duration::from_millis(10));
        assert_eq!(fail(&b).await, Err(Error::Inner("down")));
        // tripped at t=10ms: open until t=60.010s
        assert_eq!(b.state(), State::Open);

        clock.advance(Duration::from_secs(1));
        let called = AtomicBool::new(false);
        let r: Result<(), Error<()>> = b
            .call(|| {
                called.store(true, Ordering::SeqCst);
                async { Ok(()) }
            })
            .await;
        let rejected = r.unwrap_err().rejected().copied().unwrap();
        assert_eq!(rejected.reason, RejectReason::BreakerOpen);
        assert_eq!(rejected.retry_at, Some(Instant::from_millis(60_010)));
        assert!(!called.load(Ordering::SeqCst), "rejected calls never run");

        // an operator closes it long before the wait is over
        b.close();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(succeed(&b).await, Ok(7));
        assert_eq!(b.metrics().times_opened, 1);
    });
}

#[test]
fn open_wait_elapses_on_the_injected_clock() {
    smol::block_on(async {
        let (b, clock) = breaker(1);
        assert!(fail(&b).await.is_err());
        clock.advance(OPEN_WAIT - Duration::from_nanos(1));
        assert!(matches!(succeed(&b).await, Err(Error::Rejected(_))));
        clock.advance(Duration::from_nanos(1));
        assert_eq!(b.state(), State::HalfOpen);
        assert_eq!(succeed(&b).await, Ok(7));
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn classifier_decides_what_counts() {
    smol::block_on(async {
        let (b, _clock) = breaker(2);
        let by_status = |r: &Result<u16, ()>| match r {
            Ok(404) => Outcome::Ignored,
            Ok(s) if *s >= 500 => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(()) => Outcome::Failure,
        };
        assert_eq!(b.call_with(&by_status, || async { Ok(503) }).await, Ok(503));
        assert_eq!(b.call_with(&by_status, || async { Ok(404) }).await, Ok(404));
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics().consecutive_failures, 1);
        assert_eq!(b.call_with(&by_status, || async { Ok(500) }).await, Ok(500));
        assert_eq!(b.state(), State::Open);
    });
}

#[test]
fn dropped_future_releases_the_probe() {
    smol::block_on(async {
        let (b, clock) = breaker(1);
        b.open();
        clock.advance(OPEN_WAIT);

        {
            let mut probe = pin!(b.call(pending::<Result<u32, &str>>));
            assert!(poll_once(probe.as_mut()).await.is_none());
            assert_eq!(b.metrics().probes_in_flight, 1);
            let second = succeed(&b).await.unwrap_err();
            assert_eq!(
                second.rejected().unwrap().reason,
                RejectReason::BreakerHalfOpenFull
            );
        } // the probe's future is dropped here

        let m = b.metrics();
        assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
        assert_eq!(succeed(&b).await, Ok(7));
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn sleep_until_a_past_instant_completes_at_once() {
    smol::block_on(async {
        let clock = AsyncIoClock;
        let now = clock.now();
        assert_eq!(poll_once(clock.sleep_until(Instant::ZERO)).await, Some(()));
        assert_eq!(poll_once(clock.sleep_until(now)).await, Some(()));
        // ...and one in the future does not
        let later = now + Duration::from_secs(3_600);
        assert_eq!(poll_once(clock.sleep_until(later)).await, None);
        assert_eq!(poll_once(clock.sleep_until(Instant::MAX)).await, None);
    });
}

#[test]
fn a_reset_timer_follows_its_new_instant() {
    smol::block_on(async {
        let clock = AsyncIoClock;
        let far = clock.now() + Duration::from_secs(3_600);
        let mut sleep = pin!(clock.sleep_until(far));
        assert_eq!(poll_once(sleep.as_mut()).await, None, "an hour away");
        // moved to an instant that has passed: completes at once
        clock.reset_sleep(sleep.as_mut(), Instant::ZERO);
        assert_eq!(poll_once(sleep.as_mut()).await, Some(()));

        let mut sleep = pin!(clock.sleep_until(Instant::ZERO));
        // moved an hour away before it was ever polled: it waits
        clock.reset_sleep(sleep.as_mut(), far);
        assert_eq!(poll_once(sleep.as_mut()).await, None);
    });
}

#[test]
fn async_io_clock_reads_std_time_on_the_process_wide_epoch() {
    let before = std::time::Instant::now();
    let now = AsyncIoClock.now();
    let after = std::time::Instant::now();
    // the core instant maps back to the std instant it was read at
    let at = failsafe_async_std::StdClock::to_std(now);
    assert!(before <= at && at <= after);
    assert!(AsyncIoClock.now() >= now);
    // one epoch per clock kind: a deadline from one handle means the same
    // instant to every other (and to `failsafe-thread`'s `StdClock`)
    let std_now = failsafe_async_std::StdClock.now();
    let io_now = AsyncIoClock.now();
    assert!(now <= std_now && std_now <= io_now);
}

#[test]
fn runs_under_smol_and_async_std_executors() {
    let b: CircuitBreakerPolicy =
        CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());

    let on_smol = smol::block_on({
        let b = b.clone();
        smol::spawn(async move { b.call(|| async { Ok::<_, ()>(1) }).await })
    });
    let on_async_std = async_std::task::block_on({
        let b = b.clone();
        async_std::task::spawn(async move { b.call(|| async { Ok::<_, ()>(2) }).await })
    });
    assert_eq!((on_smol, on_async_std), (Ok(1), Ok(2)));
    assert_eq!(b.metrics().calls, 2);

    b.force_open();
    let r = async_std::task::block_on(b.call(|| async { Ok::<_, ()>(3) }));
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BreakerForcedOpen
    );
}

#[test]
fn handle_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CircuitBreakerPolicy>();
    send_sync::<AsyncIoClock>();
    fn send<T: Send>(_: &T) {}
    send(&AsyncIoClock.sleep_until(Instant::ZERO));
}

#[test]
fn blocking_callers_and_thread_handles_share_the_machine_and_the_epoch() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(OPEN_WAIT)
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::new(config, NoWindow);
    let before = StdClock.now();
    // an async-io handle serves blocking callers too (it parks)
    let r = breaker.call_blocking(|| Err::<(), _>("down"));
    let after = StdClock.now();
    assert_eq!(r, Err(Error::Inner("down")));
    // the same machine on the std clock (as `failsafe-thread` binds it)
    let on_threads = Policy::new_shared(breaker.shared().clone(), StdClock);
    let rejected = on_threads.try_acquire().unwrap_err();
    let retry_at = rejected.retry_at.unwrap();
    // opened at an AsyncIoClock instant, read on the StdClock: one epoch
    assert!(before + OPEN_WAIT <= retry_at && retry_at <= after + OPEN_WAIT);
    let r = smol::block_on(breaker.call(|| async { Ok::<_, ()>(()) }));
    assert_eq!(r.unwrap_err().rejected(), Some(&rejected));
}
