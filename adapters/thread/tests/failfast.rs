//! Fail fast for blocking calls on std threads. Timelines run on a test
//! clock the test moves by hand; nothing sleeps.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_thread::{
    Clock, CloseCause, Deadline, Error, FailFastConfig, FailFastEvent, FailFastState, Instant,
    OpenCause, Outcome, RejectReason,
};

mod support;
use support::TestClock;

type TestFailFast = failsafe_driver::FailFastPolicy<TestClock>;

fn fail_fast(config: FailFastConfig) -> (TestFailFast, TestClock) {
    let clock = TestClock::default();
    (TestFailFast::with_runtime(config, clock.clone()), clock)
}

fn failures(n: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(n)
        .build()
        .unwrap()
}

fn reason<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<T, Error<E>>) -> RejectReason {
    r.unwrap_err().rejected().expect("a rejection").reason
}

#[test]
fn opens_after_n_failures_and_never_runs_the_closure_while_open() {
    let (ff, clock) = fail_fast(failures(3));
    let calls = AtomicU32::new(0);
    let op = |result: Result<u32, &'static str>| {
        calls.fetch_add(1, Ordering::SeqCst);
        result
    };
    for _ in 0..3 {
        assert_eq!(
            ff.call_blocking(|| op(Err("nack"))),
            Err(Error::Inner("nack"))
        );
    }
    clock.advance(Duration::from_secs(86_400)); // a day changes nothing
    for _ in 0..5 {
        let r = ff.call_blocking(|| op(Ok(1)));
        let rejected = *r.unwrap_err().rejected().unwrap();
        assert_eq!(
            (rejected.reason, rejected.retry_at),
            (RejectReason::FailFastOpen, None)
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    ff.report_healthy();
    assert_eq!(ff.call_blocking(|| op(Ok(2))), Ok(2));
}

#[test]
fn threads_share_one_fail_fast_and_none_runs_while_open() {
    let (ff, _clock) = fail_fast(failures(8));
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| ff.call_blocking(|| Err::<(), _>("down")));
        }
    });
    assert_eq!(ff.state(), FailFastState::Open);
    let calls = AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let ff = ff.clone();
            let calls = &calls;
            s.spawn(move || {
                for _ in 0..100 {
                    let r = ff.call_blocking(|| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    });
                    assert_eq!(reason(r), RejectReason::FailFastOpen);
                }
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(ff.metrics().rejected_open, 400);
}

#[test]
fn manual_switches_and_health_reports_emit_events() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let (ff, clock) = fail_fast(failures(5));
    let ff = ff.on_event(move |e| {
        if matches!(
            e,
            FailFastEvent::Opened { .. } | FailFastEvent::Closed { .. }
        ) {
            log.lock().unwrap().push(e);
        }
    });
    let second = Duration::from_secs(1);
    clock.advance(second);
    ff.open();
    assert_eq!(
        reason(ff.call_blocking(|| Ok::<_, ()>(()))),
        RejectReason::FailFastOpen
    );
    clock.advance(second);
    ff.close();
    clock.advance(second);
    ff.report_unhealthy();
    clock.advance(second);
    ff.report_healthy();
    assert_eq!(ff.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    let at = Instant::from_secs;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            FailFastEvent::Opened {
                at: at(1),
                cause: OpenCause::Manual
            },
            FailFastEvent::Closed {
                at: at(2),
                cause: CloseCause::Manual
            },
            FailFastEvent::Opened {
                at: at(3),
                cause: OpenCause::Unhealthy
            },
            FailFastEvent::Closed {
                at: at(4),
                cause: CloseCause::Healthy
            },
        ]
    );
}

#[test]
fn a_predicate_opens_at_once_and_an_outcome_classifier_can_ignore() {
    let (ff, _clock) = fail_fast(failures(2));
    let not_found_is_fine = |r: &Result<(), u16>| match r {
        Err(404) => Outcome::Ignored,
        Err(_) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    };
    for _ in 0..5 {
        let _ = ff.call_blocking_with(&not_found_is_fine, || Err(404));
    }
    assert_eq!(ff.metrics().consecutive_failures, 0);

    // "down for maintenance": stop calling now
    let maintenance = |r: &Result<(), u16>| match r {
        Err(503) => Outcome::Unhealthy,
        Err(_) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    };
    assert_eq!(
        ff.call_blocking_with(&maintenance, || Err(503)),
        Err(Error::Inner(503))
    );
    let m = ff.metrics();
    assert_eq!(
        (m.state, m.open_cause),
        (FailFastState::Open, Some(OpenCause::Unhealthy))
    );
}

#[test]
fn deadlines_are_checked_against_configured_and_learned_durations() {
    let configured = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let (ff, clock) = fail_fast(configured);
    let short = Deadline::after(clock.now(), Duration::from_millis(99));
    assert_eq!(
        reason(
            ff.clone()
                .with_deadline(short)
                .call_blocking(|| Ok::<_, ()>(()))
        ),
        RejectReason::DeadlineTooShort
    );
    let enough = Deadline::after(clock.now(), Duration::from_millis(100));
    assert_eq!(
        ff.clone()
            .with_deadline(enough)
            .call_blocking(|| Ok::<_, ()>(1)),
        Ok(1)
    );

    let learned = FailFastConfig::builder()
        .learn_expected_duration(2)
        .safety_margin(Duration::from_millis(10))
        .build()
        .unwrap();
    let (ff, clock) = fail_fast(learned);
    let takes = |ms: u64| {
        clock.advance(Duration::from_millis(ms));
        Ok::<_, ()>(ms)
    };
    assert_eq!(ff.call_blocking(|| takes(200)), Ok(200)); // first sample: 200 ms
    assert_eq!(ff.call_blocking(|| takes(100)), Ok(100)); // half way: 150 ms
    assert_eq!(ff.min_remaining(), Duration::from_millis(160));
    let tight = Deadline::after(clock.now(), Duration::from_millis(159));
    assert_eq!(
        reason(ff.clone().with_deadline(tight).call_blocking(|| takes(1))),
        RejectReason::DeadlineTooShort
    );
    let expired = Deadline::at(clock.now());
    assert_eq!(
        reason(ff.clone().with_deadline(expired).call_blocking(|| takes(1))),
        RejectReason::DeadlineTooShort
    );
    assert_eq!(ff.metrics().rejected_deadline, 2);
}

#[test]
fn one_probe_per_interval() {
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    let (ff, clock) = fail_fast(config);
    let _ = ff.call_blocking(|| Err::<(), _>("down"));
    assert_eq!(ff.next_deadline(), Some(Instant::from_secs(30)));
    clock.advance(Duration::from_secs(30));
    // the probe runs; while it runs, another thread is rejected
    let r = ff.call_blocking(|| {
        let other = std::thread::scope(|s| s.spawn(|| ff.call_blocking(|| Ok::<_, ()>(()))).join());
        let rejected = *other.unwrap().unwrap_err().rejected().unwrap();
        // the probe is out: its success may close it before 60 s
        assert_eq!(rejected.retry_at, None);
        Err::<(), _>("still down")
    });
    assert_eq!(r, Err(Error::Inner("still down")));
    assert_eq!(ff.state(), FailFastState::Open);
    clock.advance(Duration::from_secs(29));
    assert!(ff.call_blocking(|| Ok::<_, ()>(())).is_err());
    clock.advance(Duration::from_secs(1));
    assert_eq!(ff.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    assert_eq!(ff.state(), FailFastState::Closed);
    assert_eq!(ff.metrics().probes_admitted, 2);
}

#[test]
fn a_panicking_closure_is_cancelled_and_keeps_unwinding() {
    let (ff, _clock) = fail_fast(failures(2));
    let _ = ff.call_blocking(|| Err::<(), _>("x"));
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        ff.call_blocking(|| -> Result<(), &str> { panic!("boom") })
    }));
    assert!(panicked.is_err());
    let m = ff.metrics();
    assert_eq!(
        (m.state, m.consecutive_failures),
        (FailFastState::Closed, 1)
    );
    let guard = ff.try_acquire().unwrap();
    guard.finish(Outcome::Failure);
    assert_eq!(ff.state(), FailFastState::Open);
}
