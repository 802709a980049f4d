//! Retry, timeout and fallback on async-io runtimes. Where timing matters
//! the handles run on an injected virtual runtime whose sleeps jump its
//! clock and complete at once; the smoke tests use the real `AsyncIoClock`
//! with timers that never need to wait. Nothing sleeps.

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_async_std::{
    BackoffKind, Clock, Deadline, DefaultClassifier, Error, Fallback, FallbackReason, GiveUp,
    Instant, Jitter, RetryConfig, RetryError, RetryEvent, RetryOnFailsafeError, RetryPolicy,
    TimeoutConfig, TimeoutEvent, TimeoutMode, TimeoutPolicy, TokenQuota,
};
use failsafe_driver as driver;

#[path = "../../thread/tests/support/mod.rs"]
mod support;
use support::TestClock as Virtual;

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn constant(attempts: u32, ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[test]
fn a_flaky_operation_succeeds_after_exactly_the_backoff_on_a_virtual_clock() {
    let rt = Virtual::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let config = RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Linear {
            initial: Duration::from_millis(100),
            step: Duration::from_millis(50),
            max: Duration::from_secs(1),
        })
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let retry = driver::RetryPolicy::with_runtime(config, rt.clone())
        .on_event(move |e| sink.lock().unwrap().push(e));
    let result = smol::block_on(retry.call(|attempt| {
        rt.advance(Duration::from_millis(5)); // each attempt takes 5 ms
        async move {
            if attempt.number < 3 {
                Err("flaky")
            } else {
                Ok(attempt.number)
            }
        }
    }));
    assert_eq!(result, Ok(3));
    // 3 attempts of 5 ms, backoffs of 100 ms and 150 ms
    assert_eq!(rt.now(), Instant::from_millis(265));
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(RetryEvent::Succeeded { attempts: 3, .. })
    ));
}

#[test]
fn a_deadline_stops_retries_and_a_shared_budget_runs_out_across_clones() {
    let rt = Virtual::default();
    let retry = driver::RetryPolicy::with_runtime(constant(10, 100), rt.clone());
    let deadline = Deadline::at(Instant::from_millis(250));
    let e = smol::block_on(retry.call_with_deadline(&DefaultClassifier, deadline, |a| {
        assert!(
            !a.deadline.is_expired(rt.now()),
            "no attempt after the deadline"
        );
        async { Err::<(), _>("down") }
    }))
    .unwrap_err();
    // attempts at 0, 100, 200; the retry at 300 is past the deadline
    assert_eq!((e.reason, e.attempts), (GiveUp::Deadline, 3));

    let budgeted = retry.budget(TokenQuota::new(5, 5, 5, 5, 0).unwrap());
    let clone = budgeted.clone();
    let first = smol::block_on(budgeted.call(|_| async { Err::<(), _>("down") })).unwrap_err();
    let second = smol::block_on(clone.call(|_| async { Err::<(), _>("down") })).unwrap_err();
    assert_eq!((first.reason, first.attempts), (GiveUp::Budget, 2));
    assert_eq!((second.reason, second.attempts), (GiveUp::Budget, 1));
}

#[test]
fn a_timeout_drops_a_hanging_future_and_a_soft_one_reports_the_overrun() {
    let rt = Virtual::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cancel = driver::TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_secs(1)).unwrap(),
        rt.clone(),
    );
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let r = smol::block_on(cancel.call(|_| async move {
        let _guard = DropFlag(flag);
        pending::<Result<(), ()>>().await
    }));
    assert_eq!(r, Err(Error::Timeout(Deadline::at(Instant::from_secs(1)))));
    assert!(dropped.load(Ordering::SeqCst));

    let soft = driver::TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_secs(1))
            .unwrap()
            .mode(TimeoutMode::Soft),
        rt.clone(),
    )
    .on_event(move |e| sink.lock().unwrap().push(e));
    let r = smol::block_on(soft.call(|_| {
        rt.advance(Duration::from_secs(3)); // the work takes 3 s
        async { Ok::<_, ()>("late") }
    }));
    assert_eq!(r, Ok("late"));
    assert_eq!(
        *events.lock().unwrap(),
        [TimeoutEvent::Expired {
            deadline: Deadline::at(Instant::from_secs(2)),
            at: Instant::from_secs(4),
            mode: TimeoutMode::Soft,
        }]
    );
}

#[test]
fn a_fallback_chain_and_a_fallback_over_exhausted_retries() {
    let rt = Virtual::default();
    let fallback = driver::Fallback::with_runtime(rt.clone());
    let r = smol::block_on(
        fallback
            .chain(async { Err::<&str, _>(Error::Inner("primary")) })
            .or_else(|_, _| async { Err(Error::Inner("replica")) })
            .or_else(|reason, e| async move {
                assert_eq!(
                    (reason, e),
                    (FallbackReason::Failed, Error::Inner("replica"))
                );
                Ok("cache")
            })
            .into_future(),
    );
    assert_eq!(r, Ok("cache"));

    let retry = driver::RetryPolicy::with_runtime(constant(2, 10), rt);
    let r = smol::block_on(fallback.call(
        retry.call(|_| async { Err::<u32, _>("down") }),
        |reason, gave_up: RetryError<&str>| async move {
            assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
            assert_eq!(gave_up.last, Some("down"));
            Ok(0)
        },
    ));
    assert_eq!(r, Ok(0));
}

/// The real async-io bindings, composed in the default order, under smol:
/// no timer here ever has to wait.
#[test]
fn smoke_under_smol_with_the_real_clock() {
    let calls = AtomicU32::new(0);
    let retry: RetryPolicy = RetryPolicy::new(
        RetryConfig::builder()
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let per_attempt = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(60)).unwrap());
    let fallback = Fallback::new();
    let result = smol::block_on(fallback.call(
        retry.call_with(&RetryOnFailsafeError, |attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            per_attempt.call_with_deadline(attempt.deadline, move |deadline| async move {
                assert!(
                    !deadline.is_never(),
                    "the per-attempt timeout set a deadline"
                );
                if attempt.number < 2 {
                    Err("flaky")
                } else {
                    Ok(attempt.number)
                }
            })
        }),
        |_, _| async { Ok(0) },
    ));
    assert_eq!(result, Ok(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // a deadline that already passed: the timer fires at once
    let r = smol::block_on(
        per_attempt
            .call_with_deadline(Deadline::at(Instant::ZERO), |_| pending::<Result<(), ()>>()),
    );
    assert_eq!(r, Err(Error::Timeout(Deadline::at(Instant::ZERO))));
}

/// The same bindings under async-std's executor (discontinued upstream;
/// kept working while users migrate to smol).
#[test]
fn smoke_under_async_std() {
    let retry: RetryPolicy = RetryPolicy::new(
        RetryConfig::builder()
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let r = async_std::task::block_on(retry.call(|a| async move {
        if a.number < 3 {
            Err("flaky")
        } else {
            Ok(a.number)
        }
    }));
    assert_eq!(r, Ok(3));
}
