//! The fail fast handle on async-io runtimes (smol, async-std). There is no
//! virtual time here: timelines run on a test clock the test moves by hand,
//! and the tests on the real clock never depend on how much time passed.

use std::future::pending;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_async_std::{
    AsyncIoClock, Clock, Deadline, Error, FailFastConfig, FailFastPolicy, FailFastState, Instant,
    OpenCause, Outcome, RejectReason,
};
use smol::future::poll_once;

#[path = "../../thread/tests/support/mod.rs"]
mod support;
use support::TestClock;

type TestFailFast = failsafe_driver::FailFastPolicy<TestClock>;

fn config(failures: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(failures)
        .build()
        .unwrap()
}

#[test]
fn opens_after_failures_and_stops_calling_until_healthy() {
    let ff = FailFastPolicy::new(config(2));
    let calls = AtomicU32::new(0);
    let op = |result: Result<u32, &'static str>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { result }
    };
    smol::block_on(async {
        for _ in 0..2 {
            assert_eq!(ff.call(|| op(Err("down"))).await, Err(Error::Inner("down")));
        }
        for _ in 0..5 {
            let r = ff.call(|| op(Ok(1))).await;
            assert_eq!(
                r.unwrap_err().rejected().unwrap().reason,
                RejectReason::FailFastOpen
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        ff.report_healthy();
        assert_eq!(ff.call(|| op(Ok(3))).await, Ok(3));
    });
}

#[test]
fn runs_under_the_async_std_executor_too() {
    let ff = FailFastPolicy::new(config(1));
    ff.open();
    let r = async_std::task::block_on(ff.call(|| async { Ok::<_, ()>(()) }));
    assert!(r.unwrap_err().is_rejected());
    ff.close();
    let r = async_std::task::block_on(ff.call(|| async { Ok::<_, ()>(4) }));
    assert_eq!(r, Ok(4));
}

#[test]
fn a_past_or_short_deadline_is_rejected_on_the_real_clock() {
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_secs(3_600))
        .build()
        .unwrap();
    let ff = FailFastPolicy::new(config);
    smol::block_on(async {
        // an hour-long call never fits a minute, however fast this test runs
        let minute = Deadline::after(AsyncIoClock.now(), Duration::from_secs(60));
        let r = ff
            .clone()
            .with_deadline(minute)
            .call(|| async { Ok::<_, ()>(()) })
            .await;
        assert_eq!(
            r.unwrap_err().rejected().unwrap().reason,
            RejectReason::DeadlineTooShort
        );
        assert_eq!(ff.metrics().rejected_deadline, 1);
    });
}

#[test]
fn probes_and_learned_durations_on_a_test_clock() {
    let clock = TestClock::default();
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(Duration::from_secs(5))
        .learn_expected_duration(1)
        .build()
        .unwrap();
    let ff = TestFailFast::with_runtime(config, clock.clone());
    smol::block_on(async {
        // a success that takes 300 ms teaches the expected duration
        let r = ff
            .call(|| async {
                clock.advance(Duration::from_millis(300));
                Ok::<_, ()>(())
            })
            .await;
        assert_eq!(r, Ok(()));
        assert_eq!(ff.min_remaining(), Duration::from_millis(300));
        let tight = Deadline::after(clock.now(), Duration::from_millis(299));
        let r = ff
            .clone()
            .with_deadline(tight)
            .call(|| async { Ok::<_, ()>(()) })
            .await;
        assert_eq!(
            r.unwrap_err().rejected().unwrap().reason,
            RejectReason::DeadlineTooShort
        );

        // open at t=0.3 s; one probe at t=5.3 s, the next not before 10.3 s
        let _ = ff.call(|| async { Err::<(), _>("down") }).await;
        let r = ff.call(|| async { Ok::<_, ()>(()) }).await;
        assert_eq!(
            r.unwrap_err().rejected().unwrap().retry_at,
            Some(Instant::from_millis(5_300))
        );
        clock.advance(Duration::from_secs(5));
        let probe = ff.try_acquire().unwrap();
        assert!(probe.permit().unwrap().is_probe());
        assert!(ff.try_acquire().is_err(), "a second probe");
        probe.finish(Outcome::Success);
        assert_eq!(ff.state(), FailFastState::Closed);
    });
}

#[test]
fn a_dropped_call_is_cancelled() {
    let clock = TestClock::default();
    let ff = TestFailFast::with_runtime(config(2), clock);
    smol::block_on(async {
        let _ = ff.call(|| async { Err::<(), _>("x") }).await;
        {
            let mut hung = pin!(ff.call(pending::<Result<(), &str>>));
            assert!(poll_once(hung.as_mut()).await.is_none());
        } // dropped mid-call
        let m = ff.metrics();
        assert_eq!(
            (m.state, m.consecutive_failures),
            (FailFastState::Closed, 1)
        );
        let _ = ff.call(|| async { Err::<(), _>("x") }).await;
        assert_eq!(
            ff.metrics().open_cause,
            Some(OpenCause::ConsecutiveFailures)
        );
    });
}

#[test]
fn an_unhealthy_verdict_opens_it_at_once() {
    #[derive(Debug, PartialEq)]
    enum CacheError {
        Miss,
        Refused,
    }
    let cache = FailFastPolicy::new(config(5));
    // a refused connection means the cache is down: open at once
    let refused = |r: &Result<(), CacheError>| match r {
        Err(CacheError::Refused) => Outcome::Unhealthy,
        Err(CacheError::Miss) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    };
    smol::block_on(async {
        let r = cache
            .call_with(&refused, || async { Err(CacheError::Miss) })
            .await;
        assert_eq!(r, Err(Error::Inner(CacheError::Miss)));
        assert_eq!(cache.state(), FailFastState::Closed, "one miss of five");
        let r = cache
            .call_with(&refused, || async { Err(CacheError::Refused) })
            .await;
        assert_eq!(r, Err(Error::Inner(CacheError::Refused)));
        let m = cache.metrics();
        assert_eq!(
            (m.state, m.open_cause),
            (FailFastState::Open, Some(OpenCause::Unhealthy))
        );
    });
}
