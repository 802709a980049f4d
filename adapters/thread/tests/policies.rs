//! Blocking retry, timeout and fallback on an injected clock whose
//! `block_until` moves it forward: every backoff passes in virtual time,
//! nothing sleeps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_driver as driver;
use failsafe_thread::{
    BackoffKind, BreakerConfig, Clock, Deadline, DefaultClassifier, Error, FailureKind,
    FallbackEvent, FallbackReason, GiveUp, Instant, Jitter, NoWindow, RejectReason, RetryConfig,
    RetryError, RetryEvent, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TimeoutEvent,
    TimeoutMode, TokenQuota, Verdict,
};

mod support;
use support::TestClock;

fn constant(attempts: u32, ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn timeout_ms(ms: u64) -> TimeoutConfig {
    TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
}

#[test]
fn a_flaky_call_fails_twice_then_succeeds_after_exactly_the_backoff() {
    let clock = TestClock::default();
    let config = RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Fibonacci {
            initial: Duration::from_millis(100),
            factor: Duration::ZERO,
            max: Duration::from_secs(10),
        })
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let retry = driver::RetryPolicy::with_runtime(config, clock.clone())
        .on_event(move |e| sink.lock().unwrap().push(e));
    let mut starts = Vec::new();
    let result = retry.call_blocking(|attempt| {
        starts.push(clock.now());
        clock.advance(Duration::from_millis(10)); // the call takes 10 ms
        if attempt.number < 3 {
            Err("flaky")
        } else {
            Ok(attempt.number)
        }
    });
    assert_eq!(result, Ok(3));
    // fib backoff: 100 ms, 100 ms
    assert_eq!(
        starts,
        [
            Instant::ZERO,
            Instant::from_millis(110),
            Instant::from_millis(220)
        ]
    );
    assert_eq!(clock.now(), Instant::from_millis(230));
    let scheduled = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, RetryEvent::RetryScheduled { .. }))
        .count();
    assert_eq!(scheduled, 2);
}

#[test]
fn a_retry_after_hint_sets_the_delay() {
    let clock = TestClock::default();
    let retry = driver::RetryPolicy::with_runtime(constant(3, 10), clock.clone());
    let classify = |r: &Result<u32, u64>| match r {
        Ok(_) => Verdict::Success,
        Err(secs) => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(Duration::from_secs(*secs)),
        },
    };
    let r = retry.call_blocking_with(
        &classify,
        |a| if a.number == 1 { Err(3) } else { Ok(a.number) },
    );
    assert_eq!(r, Ok(2));
    assert_eq!(clock.now(), Instant::from_secs(3));
}

#[test]
fn a_deadline_cuts_the_retries_short() {
    let clock = TestClock::default();
    let retry = driver::RetryPolicy::with_runtime(constant(10, 100), clock.clone());
    let deadline = Deadline::at(Instant::from_millis(250));
    let mut starts = Vec::new();
    let e = retry
        .call_blocking_with_deadline(&DefaultClassifier, deadline, |a| {
            starts.push(clock.now());
            assert_eq!(a.deadline, deadline);
            clock.advance(Duration::from_millis(60));
            Err::<(), _>("down")
        })
        .unwrap_err();
    assert_eq!(
        e,
        RetryError {
            reason: GiveUp::Deadline,
            attempts: 2,
            last: Some("down")
        }
    );
    assert_eq!(starts, [Instant::ZERO, Instant::from_millis(160)]);
}

#[test]
fn threads_sharing_clones_share_one_budget() {
    let clock = TestClock::default();
    // 10 tokens, a retry costs 5: two retries among all threads
    let retry = driver::RetryPolicy::with_runtime(constant(10, 1), clock)
        .budget(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
    let calls = AtomicU32::new(0);
    let errors: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let retry = retry.clone();
                let calls = &calls;
                s.spawn(move || {
                    retry
                        .call_blocking(|_| {
                            calls.fetch_add(1, Ordering::SeqCst);
                            Err::<(), _>("down")
                        })
                        .unwrap_err()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(errors.iter().all(|e| e.reason == GiveUp::Budget));
    assert_eq!(errors.iter().map(|e| e.attempts).sum::<u32>(), 4);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(retry.shared().with(|q| q.tokens()), 0);
}

#[test]
fn a_late_result_is_a_timeout_and_a_soft_timeout_keeps_it() {
    let clock = TestClock::default();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let cancel = driver::TimeoutPolicy::with_runtime(timeout_ms(100), clock.clone());
    let r = cancel.call_blocking(|deadline| {
        assert_eq!(deadline, Deadline::at(Instant::from_millis(100)));
        clock.advance(Duration::from_millis(150));
        Ok::<_, ()>("too late")
    });
    assert_eq!(
        r,
        Err(Error::Timeout(Deadline::at(Instant::from_millis(100))))
    );

    let soft =
        driver::TimeoutPolicy::with_runtime(timeout_ms(100).mode(TimeoutMode::Soft), clock.clone())
            .on_event(move |e| sink.lock().unwrap().push(e));
    let r = soft.call_blocking(|_| {
        clock.advance(Duration::from_millis(150));
        Ok::<_, ()>("late but kept")
    });
    assert_eq!(r, Ok("late but kept"));
    assert_eq!(
        *events.lock().unwrap(),
        [TimeoutEvent::Expired {
            deadline: Deadline::at(Instant::from_millis(250)),
            at: Instant::from_millis(300),
            mode: TimeoutMode::Soft
        }]
    );

    // a caller whose deadline has passed: the work is not started
    let mut ran = false;
    let r = cancel.call_blocking_with_deadline(Deadline::at(Instant::from_millis(10)), |_| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert!(r.unwrap_err().is_timeout());
    assert!(!ran);
}

#[test]
fn per_attempt_deadlines_never_pass_the_overall_one() {
    let clock = TestClock::default();
    let retry = driver::RetryPolicy::with_runtime(constant(5, 100), clock.clone());
    let per_attempt = driver::TimeoutPolicy::with_runtime(timeout_ms(300), clock.clone());
    let overall = Deadline::at(Instant::from_millis(1_000));
    let mut seen = Vec::new();
    let r = retry.call_blocking_with_deadline(&RetryOnFailsafeError, overall, |attempt| {
        per_attempt.call_blocking_with_deadline(attempt.deadline, |inner| {
            seen.push((clock.now(), inner));
            // the first two attempts run 350 ms: past their 300 ms
            clock.advance(Duration::from_millis(if attempt.number < 3 {
                350
            } else {
                50
            }));
            Ok::<_, ()>(attempt.number)
        })
    });
    assert_eq!(r, Ok(3));
    let (at, by) = (Instant::from_millis, |ms| {
        Deadline::at(Instant::from_millis(ms))
    });
    // t=0..350 late (deadline 300); t=450..800 late (750); t=900: 900+300
    // is past the overall deadline, so this attempt gets 1000
    assert_eq!(
        seen,
        [(at(0), by(300)), (at(450), by(750)), (at(900), by(1_000))]
    );
    assert!(seen.iter().all(|(_, inner)| *inner <= overall));
    assert_eq!(clock.now(), at(950));
}

#[test]
fn fallback_chain_open_breaker_and_exhausted_retries() {
    let clock = TestClock::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let fallback = driver::Fallback::with_runtime(clock.clone()).on_event(move |e| {
        if let FallbackEvent::FellBack { reason, index, .. } = e {
            sink.lock().unwrap().push((reason, index));
        }
    });

    // primary fails -> first alternative fails -> second succeeds
    let r = fallback
        .chain_blocking(|| Err::<&str, _>(Error::Inner("primary")))
        .or_else(|_, _| Err(Error::Inner("secondary")))
        .or_else(|reason, e| {
            assert_eq!(
                (reason, e),
                (FallbackReason::Failed, Error::Inner("secondary"))
            );
            Ok("tertiary")
        })
        .finish();
    assert_eq!(r, Ok("tertiary"));

    // an open breaker is a rejection
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let breaker = driver::CircuitBreakerPolicy::with_runtime(config, NoWindow, clock.clone());
    breaker.open();
    let r = fallback.call_blocking(
        || breaker.call_blocking(|| Ok::<_, &str>("fresh")),
        |reason, _| match reason {
            FallbackReason::Rejected(r) if r.reason == RejectReason::BreakerOpen => Ok("stale"),
            other => panic!("unexpected {other:?}"),
        },
    );
    assert_eq!(r, Ok("stale"));

    // retries that gave up
    let retry = driver::RetryPolicy::with_runtime(constant(2, 10), clock);
    let r = fallback.call_blocking(
        || retry.call_blocking(|_| Err::<&str, _>("down")),
        |reason, gave_up| {
            assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
            assert_eq!(gave_up.last, Some("down"));
            Ok("default")
        },
    );
    assert_eq!(r, Ok("default"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen[..2],
        [(FallbackReason::Failed, 0), (FallbackReason::Failed, 1)]
    );
    assert!(matches!(seen[2], (FallbackReason::Rejected(_), 0)));
    assert_eq!(seen[3], (FallbackReason::GaveUp(GiveUp::Attempts), 0));
}

#[test]
fn the_std_clock_retries_without_waiting_when_the_backoff_is_zero() {
    let retry = RetryPolicy::new(constant(3, 0));
    assert_eq!(
        retry.call_blocking(|a| if a.number < 3 { Err(()) } else { Ok(a.number) }),
        Ok(3)
    );
}
