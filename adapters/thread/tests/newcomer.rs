//! failsafe-thread as a newcomer uses it from the README and the crate
//! docs: the blocking handles on plain threads.
//!
//! No test sleeps, and none asserts on how much real time passed. Every
//! timeline (an open wait, a backoff, a rate limiter's turn, a queue wait
//! that runs out, a late result) runs on virtual time, as the crate docs'
//! "Time in tests" says: the driver's generic handle built `with_runtime`
//! on a [`VirtualTime`], whose parking and blocking jump the clock to the
//! instant waited for, and a slow operation moves the clock itself
//! ([`advance`]). Those tests assert the exact virtual instants, and "at
//! once" as "the clock did not move". A hedged attempt on its own thread
//! that must be slow blocks on a gate the test opens after the call
//! returned.
//!
//! The tests about threads really parking and waking each other (a
//! released slot handed to a parked waiter, many threads on one handle,
//! cache followers woken by their leader) stay on [`StdClock`] and wait
//! for events (a barrier, a channel, a count they can observe), never for
//! a duration. Their time limits are long ([`PATIENT`], an hour's lease),
//! so that a slow machine never reaches them and a wrong implementation
//! hangs instead of passing; only one test gives its waiters a short real
//! `max_wait`, because their running out while slots come back is what it
//! tests, and it asserts no timing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use failsafe_conformance::{BlockingBinding, VirtualTime};
use failsafe_thread::{
    BackoffKind, BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy, Clock,
    CountWindow, Deadline, Error, FailFastConfig, FailFastPolicy, Fallback, FallbackReason,
    FixedLimit, GiveUp, Instant, Jitter, NoWindow, Pipeline, Quota, RateLimiterPolicy,
    RejectReason, RetryConfig, RetryPolicy, State, StdClock, TimeoutConfig, TimeoutMode,
    TimeoutPolicy, driver,
};

/// How long a waiter on the real clock may wait in the tests that wait
/// for an event: far longer than any scheduling delay, so it never runs
/// out while the event is on its way.
const PATIENT: Duration = Duration::from_secs(60);

/// Moves virtual time forward by `by` (a slow operation, time passing
/// between two calls).
fn advance(vt: &VirtualTime, by: Duration) {
    BlockingBinding::advance(vt, by);
}

/// Virtual time passed since `start`.
fn since(vt: &VirtualTime, start: Instant) -> Duration {
    vt.now().saturating_duration_since(start)
}

fn breaker(failures: u32, open_wait: Duration) -> CircuitBreakerPolicy<NoWindow> {
    CircuitBreakerPolicy::new(breaker_config(failures, open_wait), NoWindow)
}

fn breaker_config(failures: u32, open_wait: Duration) -> BreakerConfig {
    BreakerConfig::builder()
        .consecutive_failures(failures)
        .open_wait(open_wait)
        .build()
        .unwrap()
}

/// [`breaker`] on virtual time.
fn virtual_breaker(
    vt: &VirtualTime,
    failures: u32,
    open_wait: Duration,
) -> driver::CircuitBreakerPolicy<NoWindow, VirtualTime> {
    driver::CircuitBreakerPolicy::with_runtime(
        breaker_config(failures, open_wait),
        NoWindow,
        vt.clone(),
    )
}

fn bulkhead(limit: u32, max_wait: Duration) -> BulkheadPolicy {
    BulkheadPolicy::new(bulkhead_config(limit, max_wait))
}

fn bulkhead_config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(limit)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

/// [`bulkhead`] on virtual time.
fn virtual_bulkhead(
    vt: &VirtualTime,
    limit: u32,
    max_wait: Duration,
) -> driver::BulkheadPolicy<64, FixedLimit, VirtualTime> {
    driver::BulkheadPolicy::with_runtime(bulkhead_config(limit, max_wait), vt.clone())
}

/// A rate limiter on virtual time.
fn virtual_limiter(vt: &VirtualTime, quota: Quota) -> driver::RateLimiterPolicy<VirtualTime> {
    driver::RateLimiterPolicy::with_runtime(quota, vt.clone())
}

/// A timeout on virtual time.
fn virtual_timeout(vt: &VirtualTime, config: TimeoutConfig) -> driver::TimeoutPolicy<VirtualTime> {
    driver::TimeoutPolicy::with_runtime(config, vt.clone())
}

/// A fail fast on virtual time.
fn virtual_failfast(
    vt: &VirtualTime,
    config: FailFastConfig,
) -> driver::FailFastPolicy<VirtualTime> {
    driver::FailFastPolicy::with_runtime(config, vt.clone())
}

// ---------------------------------------------------------------- breaker

#[test]
fn breaker_opens_and_rejects_without_calling() {
    let vt = VirtualTime::new();
    let b = virtual_breaker(&vt, 2, Duration::from_secs(60));
    let calls = AtomicU32::new(0);
    for _ in 0..2 {
        let r = b.call_blocking(|| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("down")
        });
        assert_eq!(r, Err(Error::Inner("down")));
    }
    let opened = vt.now();
    assert_eq!(b.state(), State::Open);
    let r = b.call_blocking(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, &str>(())
    });
    let rejected = *r.unwrap_err().rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // retry_at is open_wait from when it opened
    assert_eq!(
        rejected.retry_at,
        Some(opened.saturating_add(Duration::from_secs(60)))
    );
}

#[test]
fn breaker_panicking_closure_hands_the_half_open_probe_back() {
    let vt = VirtualTime::new();
    let b = virtual_breaker(&vt, 1, Duration::from_millis(5));
    let _ = b.call_blocking(|| Err::<(), _>("down"));
    assert_eq!(b.state(), State::Open);
    advance(&vt, Duration::from_millis(5)); // the open wait ends
    assert_eq!(b.state(), State::HalfOpen);
    // the probe panics
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), &str> { panic!("boom") })
    }));
    assert!(r.is_err());
    // the probe came back as cancelled: another probe is admitted and closes it
    assert_eq!(b.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn breaker_shared_by_many_threads_counts_every_failure() {
    let b = CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .failure_rate_threshold(0.5)
            .minimum_calls(50)
            .build()
            .unwrap(),
        CountWindow::<100>::new(),
    );
    let barrier = Barrier::new(8);
    thread::scope(|s| {
        for i in 0..8 {
            let (b, barrier) = (&b, &barrier);
            s.spawn(move || {
                barrier.wait();
                for j in 0..5 {
                    let _ = b.call_blocking(|| if (i + j) % 2 == 0 { Ok(()) } else { Err(()) });
                }
            });
        }
    });
    let m = b.metrics();
    assert_eq!(b.state(), State::Closed, "{m:?}");
    // 40 calls, none lost
    assert_eq!(m.calls, 40, "{m:?}");
    assert_eq!(m.failures, 20, "{m:?}");
}

// ---------------------------------------------------------------- bulkhead

#[test]
fn bulkhead_panicking_closure_returns_its_slot() {
    let db = bulkhead(1, Duration::ZERO);
    let r = catch_unwind(AssertUnwindSafe(|| {
        db.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    assert_eq!(db.in_flight(), 0);
    assert_eq!(db.call_blocking(|| Ok::<_, ()>(7)), Ok(7));
}

#[test]
fn bulkhead_full_without_wait_rejects_at_once() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::ZERO);
    let slot = db.acquire_blocking().unwrap();
    let start = vt.now();
    let r = db.call_blocking(|| Ok::<_, ()>(()));
    assert_eq!(since(&vt, start), Duration::ZERO, "no wait");
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BulkheadFull
    );
    assert_eq!(db.queued(), 0);
    drop(slot);
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn bulkhead_waiter_gives_up_after_max_wait_and_leaves_the_queue() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_millis(15));
    let slot = db.acquire_blocking().unwrap();
    let start = vt.now();
    let r = db.call_blocking(|| Ok::<_, ()>(()));
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    // it waited max_wait, no less and no more
    assert_eq!(since(&vt, start), Duration::from_millis(15));
    assert_eq!(db.queued(), 0);
    drop(slot);
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn bulkhead_released_slot_goes_to_the_parked_waiter() {
    let db = bulkhead(1, PATIENT);
    let slot = db.acquire_blocking().unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| db.call_blocking(|| Ok::<_, ()>("served")));
        while db.queued() == 0 {
            thread::yield_now();
        }
        drop(slot);
        assert_eq!(waiter.join().unwrap(), Ok("served"));
    });
    assert_eq!((db.in_flight(), db.queued()), (0, 0));
}

#[test]
fn bulkhead_queue_full_is_its_own_reason() {
    let db: BulkheadPolicy<1> = BulkheadPolicy::new(bulkhead_config(1, PATIENT));
    let slot = db.acquire_blocking().unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| db.call_blocking(|| Ok::<_, ()>(1)));
        while db.queued() == 0 {
            thread::yield_now();
        }
        let r = db.call_blocking(|| Ok::<_, ()>(2));
        assert_eq!(
            r.unwrap_err().rejected().unwrap().reason,
            RejectReason::BulkheadQueueFull
        );
        drop(slot);
        assert_eq!(waiter.join().unwrap(), Ok(1));
    });
}

/// Makes the first two callers into a 2-slot bulkhead hold both slots
/// together until `until` holds (the others have queued behind them), so
/// the limit is reached and every later slot goes through the queue.
struct FirstTwoHold {
    entered: AtomicU32,
    both_in: Barrier,
}

impl FirstTwoHold {
    fn new() -> Self {
        FirstTwoHold {
            entered: AtomicU32::new(0),
            both_in: Barrier::new(2),
        }
    }

    /// For one of the first two callers, holds until `until` and returns
    /// `true`; any later caller returns `false` at once.
    fn hold_until(&self, until: impl Fn() -> bool) -> bool {
        if self.entered.fetch_add(1, Ordering::SeqCst) >= 2 {
            return false;
        }
        self.both_in.wait();
        while !until() {
            thread::yield_now();
        }
        self.both_in.wait(); // neither leaves before both saw it
        true
    }
}

/// 16 threads, 2 slots: the first two callers hold both slots together
/// until the other 14 have queued behind them, so the limit is reached and
/// every later slot goes through the queue.
#[test]
fn bulkhead_never_exceeds_its_limit_under_many_threads() {
    let db = bulkhead(2, PATIENT);
    let now = AtomicU32::new(0);
    let peak = AtomicU32::new(0);
    let done = AtomicU32::new(0);
    let holders = FirstTwoHold::new();
    thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                let r = db.call_blocking(|| {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    if !holders.hold_until(|| db.queued() >= 14) {
                        thread::yield_now();
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                });
                if r.is_ok() {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(done.load(Ordering::SeqCst), 16);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    assert_eq!((db.in_flight(), db.queued()), (0, 0));
}

/// The core's docs: `Duration::MAX` waits forever. A waiter with it is
/// still queued a century later, and is served when the slot comes back.
#[test]
fn bulkhead_max_wait_duration_max_waits_and_is_served() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::MAX);
    let slot = db.acquire_blocking().unwrap();
    thread::scope(|s| {
        let waiter = s.spawn(|| db.call_blocking(|| Ok::<_, ()>("late")));
        while db.queued() == 0 {
            thread::yield_now();
        }
        advance(&vt, Duration::from_secs(100 * 365 * 24 * 3600));
        db.on_deadline(); // any wait due by now ends
        assert_eq!(db.queued(), 1, "still waiting");
        drop(slot);
        assert_eq!(waiter.join().unwrap(), Ok("late"));
    });
    assert_eq!((db.in_flight(), db.queued()), (0, 0));
}

/// `with_max_wait(ZERO)` on the handle: "zero: rejected at once".
#[test]
fn bulkhead_handle_with_max_wait_zero_rejects_at_once() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_secs(5));
    let slot = db.acquire_blocking().unwrap();
    let hurried = db.clone().with_max_wait(Duration::ZERO);
    let start = vt.now();
    let r = hurried.call_blocking(|| Ok::<_, ()>(()));
    // not the bulkhead's own 5 s
    assert_eq!(since(&vt, start), Duration::ZERO);
    assert!(r.is_err());
    assert_eq!(db.queued(), 0);
    drop(slot);
}

#[test]
fn bulkhead_zero_limit_is_a_config_error_naming_the_field() {
    let e = BulkheadConfig::builder()
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "max_concurrent");
}

// ------------------------------------------------------------ rate limiter

#[test]
fn limiter_blocks_for_its_turn_then_runs() {
    // 200 a second, burst 1: the second call waits 5 ms
    let vt = VirtualTime::new();
    let rows = virtual_limiter(&vt, Quota::per_second(200).unwrap())
        .with_max_wait(Duration::from_millis(40));
    assert_eq!(rows.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    let start = vt.now();
    assert_eq!(rows.call_blocking(|| Ok::<_, ()>(2)), Ok(2));
    assert_eq!(since(&vt, start), Duration::from_millis(5));
}

#[test]
fn limiter_max_wait_zero_rejects_with_retry_at() {
    let vt = VirtualTime::new();
    let rows = virtual_limiter(&vt, Quota::per_second(10).unwrap()).with_max_wait(Duration::ZERO);
    let start = vt.now();
    assert!(rows.call_blocking(|| Ok::<_, ()>(())).is_ok());
    let r = rows.call_blocking(|| Ok::<_, ()>(()));
    let rejected = *r.unwrap_err().rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::RateLimited);
    // the next permit: 100 ms after the first
    assert_eq!(
        rejected.retry_at,
        Some(start.saturating_add(Duration::from_millis(100)))
    );
    assert_eq!(since(&vt, start), Duration::ZERO, "no wait");
}

#[test]
fn limiter_with_max_wait_duration_max_does_not_panic() {
    let vt = VirtualTime::new();
    let rows = virtual_limiter(&vt, Quota::per_second(1_000).unwrap()).with_max_wait(Duration::MAX);
    assert_eq!(rows.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(rows.call_blocking(|| Ok::<_, ()>(2)), Ok(2));
    // the second waited its 1 ms turn
    assert_eq!(vt.now(), Instant::from_millis(1));
}

/// 1000 a second, burst 5: 20 calls from 4 threads, each parked until its
/// turn on a shared virtual clock. Whatever the interleaving, the `i`-th
/// call to run did not run before `i - 4` ms, so the last not before 15 ms.
#[test]
fn limiter_many_threads_never_beat_the_rate() {
    let vt = VirtualTime::new();
    let rows = virtual_limiter(
        &vt,
        Quota::per_second(1_000).unwrap().with_burst(5).unwrap(),
    )
    .with_max_wait(Duration::from_millis(45));
    let ran = Mutex::new(Vec::new());
    let ok = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let r = rows.call_blocking(|| {
                        ran.lock().unwrap().push(vt.now());
                        Ok::<_, ()>(())
                    });
                    if r.is_ok() {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::SeqCst), 20);
    let mut ran = ran.into_inner().unwrap();
    ran.sort();
    for (i, at) in ran.iter().enumerate() {
        let earliest = Instant::from_millis(i.saturating_sub(4) as u64);
        assert!(*at >= earliest, "call {i} ran at {at:?}: {ran:?}");
    }
    assert!(vt.now() >= Instant::from_millis(15), "{:?}", vt.now());
}

#[test]
fn limiter_panicking_closure_keeps_the_permit_used() {
    let vt = VirtualTime::new();
    let rows = virtual_limiter(&vt, Quota::per_second(10).unwrap()).with_max_wait(Duration::ZERO);
    let r = catch_unwind(AssertUnwindSafe(|| {
        rows.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    // a rate permit is spent once the call started: nothing is given back
    assert!(rows.call_blocking(|| Ok::<_, ()>(())).is_err());
}

#[test]
fn quota_zero_is_an_error() {
    assert!(Quota::per_second(0).is_err());
    let e = Quota::per_second(10).unwrap().with_burst(0).unwrap_err();
    assert_eq!(e.field, "burst");
}

// ---------------------------------------------------------------- retry

fn retry_config(attempts: u32, backoff: Duration) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(backoff))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn retry(attempts: u32, backoff: Duration) -> RetryPolicy {
    RetryPolicy::new(retry_config(attempts, backoff))
}

/// [`retry`] on virtual time: a backoff jumps the clock.
fn virtual_retry(
    vt: &VirtualTime,
    attempts: u32,
    backoff: Duration,
) -> driver::RetryPolicy<failsafe_thread::NoBudget, VirtualTime> {
    driver::RetryPolicy::with_runtime(retry_config(attempts, backoff), vt.clone())
}

#[test]
fn retry_gives_up_after_max_attempts_with_the_last_error() {
    let vt = VirtualTime::new();
    let r = virtual_retry(&vt, 3, Duration::from_millis(1));
    let calls = AtomicU32::new(0);
    let start = vt.now();
    let e = r
        .call_blocking(|attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(attempt.number)
        })
        .unwrap_err();
    assert_eq!(
        (e.reason, e.attempts, e.last),
        (GiveUp::Attempts, 3, Some(3))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // two backoffs of 1 ms between the three attempts
    assert_eq!(since(&vt, start), Duration::from_millis(2));
}

#[test]
fn retry_zero_backoff_retries_at_once() {
    let vt = VirtualTime::new();
    let r = virtual_retry(&vt, 5, Duration::ZERO);
    let start = vt.now();
    let v = r.call_blocking(|a| if a.number < 5 { Err("x") } else { Ok(a.number) });
    assert_eq!(v, Ok(5));
    assert_eq!(since(&vt, start), Duration::ZERO);
}

#[test]
fn retry_panicking_attempt_propagates_and_the_policy_still_works() {
    let r = retry(3, Duration::ZERO);
    let p = catch_unwind(AssertUnwindSafe(|| {
        r.call_blocking(|a| -> Result<(), ()> {
            if a.number == 2 {
                panic!("boom")
            }
            Err(())
        })
    }));
    assert!(p.is_err());
    assert_eq!(r.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
}

/// README: "a retry that cannot start before the deadline is not scheduled".
/// A huge backoff under a short caller deadline gives up at once.
#[test]
fn retry_huge_backoff_under_a_deadline_gives_up_without_sleeping() {
    let vt = VirtualTime::new();
    let r = virtual_retry(&vt, 3, Duration::from_secs(3_600));
    let start = vt.now();
    let deadline = Deadline::after(start, Duration::from_millis(20));
    let e = r
        .call_blocking_with_deadline(&failsafe_thread::DefaultClassifier, deadline, |_| {
            Err::<(), _>("x")
        })
        .unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUp::Deadline, 1));
    assert_eq!(since(&vt, start), Duration::ZERO, "no wait");
}

#[test]
fn retry_backoff_duration_max_does_not_panic() {
    let vt = VirtualTime::new();
    let r = virtual_retry(&vt, 2, Duration::MAX);
    let start = vt.now();
    let deadline = Deadline::after(start, Duration::from_millis(10));
    let e = r
        .call_blocking_with_deadline(&failsafe_thread::DefaultClassifier, deadline, |_| {
            Err::<(), _>("x")
        })
        .unwrap_err();
    assert_eq!(e.reason, GiveUp::Deadline);
    assert_eq!(since(&vt, start), Duration::ZERO, "no wait");
}

#[test]
fn retry_zero_attempts_is_a_config_error_naming_the_field() {
    let e = RetryConfig::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(e.field, "max_attempts");
}

#[test]
fn retry_shared_by_threads() {
    let vt = VirtualTime::new();
    let r = virtual_retry(&vt, 3, Duration::from_millis(1));
    let calls = AtomicU32::new(0);
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let v = r.call_blocking(|a| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if a.number < 2 { Err(()) } else { Ok(a.number) }
                });
                assert_eq!(v, Ok(2));
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 16);
}

// ---------------------------------------------------------------- timeout

#[test]
fn timeout_replaces_a_late_result() {
    let vt = VirtualTime::new();
    let t = virtual_timeout(&vt, TimeoutConfig::new(Duration::from_millis(5)).unwrap());
    let r = t.call_blocking(|deadline| {
        assert_eq!(deadline.remaining(vt.now()), Duration::from_millis(5));
        advance(&vt, Duration::from_millis(10)); // slow
        Ok::<_, ()>("late")
    });
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    // a quick one passes
    assert_eq!(t.call_blocking(|_| Ok::<_, ()>("quick")), Ok("quick"));
}

#[test]
fn timeout_soft_mode_keeps_the_late_result() {
    let vt = VirtualTime::new();
    let config = TimeoutConfig::new(Duration::from_millis(2))
        .unwrap()
        .mode(TimeoutMode::Soft);
    let t = virtual_timeout(&vt, config);
    let r = t.call_blocking(|_| {
        advance(&vt, Duration::from_millis(5)); // slow
        Ok::<_, ()>("late")
    });
    assert_eq!(r, Ok("late"));
}

#[test]
fn timeout_zero_is_a_config_error_naming_the_field() {
    let e = TimeoutConfig::new(Duration::ZERO).unwrap_err();
    assert_eq!(e.field, "timeout");
}

#[test]
fn timeout_duration_max_does_not_panic() {
    let t = TimeoutPolicy::new(TimeoutConfig::new(Duration::MAX).unwrap());
    assert_eq!(t.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
}

#[test]
fn timeout_passed_parent_deadline_does_not_call() {
    let vt = VirtualTime::new();
    let t = virtual_timeout(&vt, TimeoutConfig::new(Duration::from_secs(1)).unwrap());
    let passed = Deadline::after(vt.now(), Duration::from_nanos(1));
    advance(&vt, Duration::from_millis(1));
    let called = AtomicU32::new(0);
    let r = t.call_blocking_with_deadline(passed, |_| {
        called.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    });
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------- fallback

#[test]
fn fallback_sees_the_reason_and_the_error() {
    let fb = Fallback::new();
    let b = breaker(1, Duration::from_secs(60));
    let _ = b.call_blocking(|| Err::<(), _>("down"));
    let v = fb.call_blocking(
        || b.call_blocking(|| Ok::<_, &str>("fresh")),
        |reason, e| {
            assert!(matches!(reason, FallbackReason::Rejected(_)), "{reason:?}");
            assert!(e.rejected().is_some());
            Ok("cached")
        },
    );
    assert_eq!(v, Ok("cached"));
    let v: Result<&str, Error<&str>> = fb.call_blocking(
        || Err(Error::Inner("boom")),
        |reason, _| {
            assert_eq!(reason, FallbackReason::Failed);
            Ok("default")
        },
    );
    assert_eq!(v, Ok("default"));
}

#[test]
fn fallback_chain_blocking_tries_in_order() {
    let fb = Fallback::new();
    let v: Result<u32, Error<&str>> = fb
        .chain_blocking(|| Err(Error::Inner("primary")))
        .or_else(|_, _| Err(Error::Inner("second")))
        .or_else(|_, _| Ok(3))
        .finish();
    assert_eq!(v, Ok(3));
}

// ---------------------------------------------------------------- fail fast

#[test]
fn failfast_opens_and_is_closed_by_a_health_report() {
    let ff = FailFastPolicy::new(
        FailFastConfig::builder()
            .consecutive_failures(1)
            .build()
            .unwrap(),
    );
    let _ = ff.call_blocking(|| Err::<(), _>("down"));
    let r = ff.call_blocking(|| Ok::<_, &str>(1));
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::FailFastOpen
    );
    ff.report_healthy();
    assert_eq!(ff.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
}

// ---------------------------------------------------------------- pipeline

#[test]
fn pipeline_call_blocking_retries_through_a_breaker() {
    let vt = VirtualTime::new();
    let b = virtual_breaker(&vt, 5, Duration::from_secs(60));
    let pipeline = Pipeline::new(vt.clone()).admit(&b).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(1)))
            .build()
            .unwrap(),
    );
    let v = pipeline.call_blocking(|a| {
        if a.number < 3 {
            Err("flaky")
        } else {
            Ok(a.number)
        }
    });
    assert_eq!(v, Ok(3));
    let e = pipeline
        .call_blocking(|_| Err::<(), _>("down"))
        .unwrap_err();
    assert_eq!(
        (e.error, e.attempts, e.gave_up),
        (Error::Inner("down"), 3, Some(GiveUp::Attempts))
    );
}

#[test]
fn pipeline_call_blocking_panicking_op_returns_every_permit() {
    let b = breaker(1, Duration::from_secs(60));
    let db = bulkhead(1, Duration::ZERO);
    let pipeline = Pipeline::new(StdClock).admit(&b).admit(&db);
    let r = catch_unwind(AssertUnwindSafe(|| {
        pipeline.call_blocking(|_| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    assert_eq!(db.in_flight(), 0);
    assert_eq!(b.state(), State::Closed); // a panic is not a failure
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
}

#[test]
fn pipeline_call_blocking_attempt_timeout_makes_a_late_attempt_a_timeout() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::ZERO);
    let pipeline = Pipeline::new(vt.clone())
        .admit(&db)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(3)).unwrap());
    let e = pipeline
        .call_blocking(|_| {
            advance(&vt, Duration::from_millis(6)); // slow
            Ok::<_, ()>(())
        })
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn pipeline_call_blocking_waits_for_the_limiter() {
    let vt = VirtualTime::new();
    let limiter = virtual_limiter(&vt, Quota::per_second(200).unwrap());
    let pipeline = Pipeline::new(vt.clone()).admit(&limiter);
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
    let start = vt.now();
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, ()>(2)), Ok(2));
    // its turn: 5 ms after the first
    assert_eq!(since(&vt, start), Duration::from_millis(5));
}

/// README: "a server that should answer 429 at once says
/// `.max_wait(Duration::ZERO)` (no admission waits then, a bulkhead's
/// queue included)".
#[test]
fn pipeline_max_wait_zero_rejects_a_queued_bulkhead_at_once() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_secs(5));
    let pipeline = Pipeline::new(vt.clone())
        .admit(&db)
        .max_wait(Duration::ZERO);
    let slot = db.acquire_blocking().unwrap();
    let start = vt.now();
    let e = pipeline.call_blocking(|_| Ok::<_, ()>(())).unwrap_err();
    // not the bulkhead's own 5 s
    assert_eq!(since(&vt, start), Duration::ZERO);
    assert!(e.rejected().is_some(), "{e:?}");
    assert_eq!(db.queued(), 0);
    drop(slot);
}

#[test]
fn pipeline_all_or_nothing_a_rejecting_limiter_holds_no_bulkhead_slot() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 2, Duration::ZERO);
    let limiter = virtual_limiter(&vt, Quota::per_second(1).unwrap());
    let pipeline = Pipeline::new(vt.clone())
        .admit(&db)
        .admit(&limiter)
        .max_wait(Duration::ZERO);
    assert!(pipeline.call_blocking(|_| Ok::<_, ()>(())).is_ok());
    let e = pipeline.call_blocking(|_| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
    assert_eq!(db.in_flight(), 0);
}

/// 8 threads, 2 slots: the first two callers hold both slots together
/// until the other 6 have queued behind them.
#[test]
fn pipeline_call_blocking_shared_by_threads() {
    let db = bulkhead(2, PATIENT);
    let pipeline = Pipeline::new(StdClock).admit(&db);
    let ok = AtomicU32::new(0);
    let holders = FirstTwoHold::new();
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let r = pipeline.call_blocking(|_| {
                    holders.hold_until(|| db.queued() >= 6);
                    Ok::<_, ()>(())
                });
                if r.is_ok() {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::SeqCst), 8);
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn handles_are_send_sync_and_shared_by_arc() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let b = Arc::new(breaker(3, Duration::from_secs(1)));
    assert_send_sync(&*b);
    let db = bulkhead(1, Duration::ZERO);
    assert_send_sync(&db);
    let pipeline = Pipeline::new(StdClock).admit(db.clone());
    assert_send_sync(&pipeline);
    let b2 = Arc::clone(&b);
    thread::spawn(move || b2.call_blocking(|| Ok::<_, ()>(())))
        .join()
        .unwrap()
        .unwrap();
}

/// An overall timeout cuts a wait in a bulkhead's queue: a timeout at the
/// deadline, not a wait of the bulkhead's own 1 s.
#[test]
fn pipeline_overall_timeout_cuts_a_bulkhead_queue_wait() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_secs(1));
    let pipeline = Pipeline::new(vt.clone())
        .admit(&db)
        .timeout(Duration::from_millis(10));
    let slot = db.acquire_blocking().unwrap();
    let start = vt.now();
    let e = pipeline.call_blocking(|_| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(since(&vt, start), Duration::from_millis(10));
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(db.queued(), 0);
    drop(slot);
}

/// "a limiter never books past the deadline": a call whose turn comes
/// after its deadline does not wait for it.
#[test]
fn pipeline_limiter_never_waits_past_the_overall_timeout() {
    let vt = VirtualTime::new();
    let limiter = virtual_limiter(&vt, Quota::per_second(1).unwrap());
    let pipeline = Pipeline::new(vt.clone())
        .admit(&limiter)
        .timeout(Duration::from_millis(10));
    assert!(pipeline.call_blocking(|_| Ok::<_, ()>(())).is_ok());
    let start = vt.now();
    let e = pipeline.call_blocking(|_| Ok::<_, ()>(())).unwrap_err();
    // its turn is 1 s away, past its 10 ms: turned away without waiting
    assert_eq!(since(&vt, start), Duration::ZERO);
    let rejected = e
        .rejected()
        .expect("rejected by the limiter, not timed out");
    assert_eq!(rejected.reason, RejectReason::RateLimited);
    assert_eq!(rejected.retry_at, Some(start + Duration::from_secs(1)));
}

/// README: "with the default `Retry-After` rule a retry first waits for the
/// breaker's `retry_at`".
#[test]
fn pipeline_retry_waits_for_the_breaker_then_probes() {
    let vt = VirtualTime::new();
    let b = virtual_breaker(&vt, 1, Duration::from_millis(8));
    let pipeline = Pipeline::new(vt.clone())
        .admit(&b)
        .retry(retry_config(3, Duration::from_millis(1)));
    let ran = Mutex::new(Vec::new());
    let v = pipeline.call_blocking(|a| {
        ran.lock().unwrap().push(vt.now());
        if a.number == 1 {
            Err("down")
        } else {
            Ok(a.number)
        }
    });
    // attempt 2 meets the open breaker (a rejection spends an attempt, as in
    // Failsafe for Java); attempt 3 waits for its retry_at and probes
    assert_eq!(v, Ok(3));
    assert_eq!(
        *ran.lock().unwrap(),
        [Instant::ZERO, Instant::from_millis(8)],
        "the probe runs when the open wait ends"
    );
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn limiter_weight_zero_and_huge_do_not_panic() {
    let rows = RateLimiterPolicy::new(Quota::per_second(10).unwrap()).with_max_wait(Duration::ZERO);
    let _ = rows
        .clone()
        .with_weight(0)
        .call_blocking(|| Ok::<_, ()>(()));
    let r = rows
        .clone()
        .with_weight(u32::MAX)
        .call_blocking(|| Ok::<_, ()>(()));
    let rejected = *r.unwrap_err().rejected().unwrap();
    assert!(rejected.is_never(), "{rejected:?}");
}

#[test]
fn keyed_limiter_blocking_per_key() {
    let vt = VirtualTime::new();
    let per_user: driver::KeyedRateLimiterPolicy<&str, 1024, VirtualTime> =
        driver::KeyedRateLimiterPolicy::with_runtime(Quota::per_second(1).unwrap(), vt.clone())
            .with_max_wait(Duration::ZERO);
    assert!(
        per_user
            .call_blocking_keyed(&"a", || Ok::<_, ()>(()))
            .is_ok()
    );
    assert!(
        per_user
            .call_blocking_keyed(&"a", || Ok::<_, ()>(()))
            .is_err()
    );
    assert!(
        per_user
            .call_blocking_keyed(&"b", || Ok::<_, ()>(()))
            .is_ok()
    );
}

/// Waiters with a very short max wait racing releases: no slot and no
/// queue place is ever lost. The one test whose waiters wait for real
/// time (300 µs each, on the real clock: a wait running out at the moment
/// a slot comes back is what it tests); it asserts no timing.
#[test]
fn bulkhead_short_waits_racing_releases_leak_nothing() {
    let db = bulkhead(1, Duration::from_micros(300));
    let (ok, turned_away) = (AtomicU32::new(0), AtomicU32::new(0));
    thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..40 {
                    match db.call_blocking(|| {
                        thread::yield_now();
                        Ok::<_, ()>(())
                    }) {
                        Ok(()) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(_) => turned_away.fetch_add(1, Ordering::SeqCst),
                    };
                }
            });
        }
    });
    assert_eq!(
        ok.load(Ordering::SeqCst) + turned_away.load(Ordering::SeqCst),
        320
    );
    assert_eq!((db.in_flight(), db.queued()), (0, 0));
    let _slot = db.try_acquire().expect("the slot is free");
}

#[test]
fn pipeline_zero_and_huge_timeouts_do_not_panic() {
    let huge = Pipeline::new(StdClock)
        .attempt_timeout(TimeoutConfig::new(Duration::MAX).unwrap())
        .timeout(Duration::MAX);
    assert_eq!(huge.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
    let zero = Pipeline::new(StdClock).timeout(Duration::ZERO);
    let called = AtomicU32::new(0);
    let r = zero.call_blocking(|_| {
        called.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(1)
    });
    assert!(r.is_err_and(|e| e.is_timeout()));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

/// A hedge takes the retry's place: when every attempt fails the error
/// says why the hedge stopped (`GiveUp::Attempts`), as `hedge_blocking`'s
/// `RetryError` does, whether or not the pipeline also has a retry.
#[test]
fn call_hedged_blocking_every_attempt_failing_says_gave_up_attempts() {
    let fail =
        || failsafe_thread::Idempotent(|a: failsafe_thread::Attempt| Err::<u32, _>(a.number));
    let parallel = || hedge(2, failsafe_thread::HedgeDelay::Parallel);
    let without = Pipeline::new(StdClock)
        .call_hedged_blocking(parallel(), (), fail())
        .unwrap_err();
    let with = Pipeline::new(StdClock)
        .retry(RetryConfig::builder().max_attempts(5).build().unwrap())
        .call_hedged_blocking(parallel(), (), fail())
        .unwrap_err();
    assert_eq!(with.gave_up, Some(GiveUp::Attempts), "{with:?}");
    assert_eq!(without.gave_up, with.gave_up, "{without:?} vs {with:?}");
}

// ------------------------------------------------------- hedge on threads

fn hedge(attempts: u32, delay: failsafe_thread::HedgeDelay) -> failsafe_thread::HedgeConfig {
    failsafe_thread::HedgeConfig::builder()
        .max_attempts(attempts)
        .delay(delay)
        .build()
        .unwrap()
}

/// A gate an attempt's thread blocks on until the test opens it, and how
/// the test learns that the attempt ended: an attempt the call no longer
/// waits for can be shown to be still running when the call returns.
struct Gate {
    open: mpsc::Sender<()>,
    ended: mpsc::Receiver<()>,
}

/// The attempt's side of a [`Gate`]: `pass` blocks until the gate opens,
/// then reports the attempt ended.
struct Pass {
    opened: Mutex<mpsc::Receiver<()>>,
    ended: mpsc::Sender<()>,
}

impl Pass {
    fn pass(&self) {
        let _ = self.opened.lock().unwrap().recv();
        let _ = self.ended.send(());
    }
}

fn gate() -> (Gate, Pass) {
    let (open, opened) = mpsc::channel();
    let (end, ended) = mpsc::channel();
    let pass = Pass {
        opened: Mutex::new(opened),
        ended: end,
    };
    (Gate { open, ended }, pass)
}

impl Gate {
    /// Whether the attempt is still blocked at the gate.
    fn still_running(&self) -> bool {
        self.ended.try_recv().is_err()
    }

    /// Opens the gate and waits for the attempt to end.
    fn open_and_wait(self) {
        self.open.send(()).unwrap();
        self.ended.recv().unwrap();
    }
}

/// The first attempt answers only when the test lets it, after the call
/// returned: the hedge, started at its delay (3 ms, on virtual time), wins.
#[test]
fn call_hedged_blocking_slow_first_attempt_loses_and_gives_its_slot_back() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 4, Duration::ZERO);
    let pipeline = Pipeline::new(vt.clone()).admit(&db);
    let (gate, pass) = gate();
    let r = pipeline.call_hedged_blocking(
        hedge(
            2,
            failsafe_thread::HedgeDelay::Fixed(Duration::from_millis(3)),
        ),
        (),
        failsafe_thread::Idempotent(move |a: failsafe_thread::Attempt| {
            if a.number == 1 {
                pass.pass(); // slow
            }
            Ok::<_, ()>(a.number)
        }),
    );
    assert_eq!(r, Ok(2));
    // answered when the hedge did, at its delay
    assert_eq!(vt.now(), Instant::from_millis(3));
    assert!(gate.still_running(), "the call did not wait for the loser");
    // the loser is abandoned: its slot is back though its thread runs on
    assert_eq!(db.in_flight(), 0);
    gate.open_and_wait();
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn call_hedged_blocking_panicking_attempt_is_a_failed_attempt() {
    let db = bulkhead(4, Duration::ZERO);
    let pipeline = Pipeline::new(StdClock).admit(&db);
    let r = pipeline.call_hedged_blocking(
        hedge(2, failsafe_thread::HedgeDelay::OnFailure),
        (),
        failsafe_thread::Idempotent(|a: failsafe_thread::Attempt| {
            if a.number == 1 {
                panic!("attempt bug");
            }
            Ok::<_, ()>(a.number)
        }),
    );
    assert_eq!(r, Ok(2));
    assert_eq!(db.in_flight(), 0);
}

#[test]
fn call_hedged_blocking_every_attempt_panicking_panics_the_caller() {
    let db = bulkhead(4, Duration::ZERO);
    let pipeline = Pipeline::new(StdClock).admit(&db);
    let r = catch_unwind(AssertUnwindSafe(|| {
        pipeline.call_hedged_blocking(
            hedge(2, failsafe_thread::HedgeDelay::Parallel),
            (),
            failsafe_thread::Idempotent(|_: failsafe_thread::Attempt| -> Result<(), ()> {
                panic!("attempt bug")
            }),
        )
    }));
    assert!(r.is_err());
    assert_eq!(db.in_flight(), 0);
}

// ------------------------------------------------------- cache on threads

type Store = failsafe_thread::driver::cache::WithWaiters<failsafe_thread::Cache<u32, u64, 16>, 8>;
type ThreadCache = failsafe_thread::SharedCache<Store, failsafe_thread::StdLock<Store>, StdClock>;

/// A cache whose leader's mark lasts an hour and whose followers re-check
/// hourly: a follower its leader does not wake hangs the test instead of
/// passing late.
fn thread_cache(config: failsafe_thread::CacheConfig) -> ThreadCache {
    let hour = Duration::from_secs(3_600);
    failsafe_thread::SharedCache::new(
        failsafe_thread::StdLock::new(failsafe_thread::driver::cache::WithWaiters::new(
            failsafe_thread::Cache::new(config, 1),
        )),
        StdClock,
    )
    .timing(hour, hour)
    .unwrap()
}

/// Followers registered to be woken for their leader's load.
fn followers(c: &ThreadCache) -> usize {
    c.with(|s| s.waiters().len())
}

/// Four threads miss together: one loads while the three others wait for
/// it (the load ends only once all three are waiting), and its end wakes
/// them with its value.
#[test]
fn cache_blocking_coalesces_threads_and_wakes_followers() {
    use failsafe_thread::Cached;
    let c = thread_cache(failsafe_thread::CacheConfig::DEFAULT);
    let loads = AtomicU32::new(0);
    let barrier = Barrier::new(4);
    thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    c.get_or_load_blocking(1, || {
                        loads.fetch_add(1, Ordering::SeqCst);
                        while followers(&c) < 3 {
                            thread::yield_now();
                        }
                        Ok::<_, ()>(10)
                    })
                })
            })
            .collect();
        for h in handles {
            let v = h.join().unwrap().unwrap();
            assert_eq!(*v.value(), 10);
            assert!(matches!(v, Cached::Loaded(_) | Cached::Fresh(_)));
        }
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(followers(&c), 0);
}

/// "A panicking loader ends its mark": a follower waiting for it loads at
/// once instead of waiting out the lease (an hour here).
#[test]
fn cache_blocking_panicking_leader_hands_the_load_to_a_follower() {
    use failsafe_thread::Cached;
    let c = thread_cache(failsafe_thread::CacheConfig::DEFAULT);
    let leading = Barrier::new(2);
    thread::scope(|s| {
        let leader = s.spawn(|| {
            catch_unwind(AssertUnwindSafe(|| {
                c.get_or_load_blocking(5, || -> Result<u64, ()> {
                    leading.wait();
                    while followers(&c) < 1 {
                        thread::yield_now();
                    }
                    panic!("loader bug")
                })
            }))
        });
        leading.wait();
        let v = c.get_or_load_blocking(5, || Ok::<_, ()>(50));
        assert_eq!(v, Ok(Cached::Loaded(50)));
        assert!(leader.join().unwrap().is_err());
    });
}

#[test]
fn call_cached_blocking_through_a_pipeline() {
    use failsafe_thread::Cached;
    let c = thread_cache(failsafe_thread::CacheConfig::DEFAULT);
    let b = breaker(1, Duration::from_secs(60));
    let pipeline = Pipeline::new(StdClock).admit(&b);
    assert_eq!(
        pipeline.call_cached_blocking(&c, 1, |_| Ok::<_, ()>(1)),
        Ok(Cached::Loaded(1))
    );
    b.force_open();
    assert_eq!(
        pipeline.call_cached_blocking(&c, 1, |_| Ok::<_, ()>(2)),
        Ok(Cached::Fresh(1))
    );
}

// ---------------------------------------------------------------- toggle

#[test]
fn toggle_call_blocking_on_threads() {
    use failsafe_thread::{FlagSpec, FlagTable, Toggle, ToggleConfig};
    static FLAGS: FlagTable<1, 2> = FlagTable::new(failsafe_thread::checked(ToggleConfig::new(
        3,
        [FlagSpec::new("fast-path").rollout(0)],
    )));
    let toggle = Toggle::named(StdClock, &FLAGS, "fast-path").unwrap();
    FLAGS.allow(StdClock.now(), toggle.flag(), "vip").unwrap();
    thread::scope(|s| {
        s.spawn(|| assert_eq!(toggle.call_blocking("vip", || "new", || "old"), "new"));
        s.spawn(|| assert_eq!(toggle.call_blocking("anyone", || "new", || "old"), "old"));
    });
}

// ---------------------------------------------------------------- decorator

#[cfg(feature = "macros")]
mod decorator {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::LazyLock;
    use std::time::Duration;

    use failsafe_conformance::VirtualTime;
    use failsafe_thread::{
        BulkheadConfig, BulkheadPolicy, Clock, Error, NoBudget, Pipeline, PipelineError,
        RetryError, StdClock, driver, policy,
    };

    static DB: LazyLock<BulkheadPolicy> = LazyLock::new(|| {
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap())
    });

    #[policy(DB)]
    fn query(fail: bool) -> Result<u32, Error<String>> {
        if fail {
            panic!("bug in the body");
        }
        Ok(1)
    }

    #[test]
    fn panicking_decorated_fn_returns_its_slot() {
        assert!(catch_unwind(|| query(true)).is_err());
        assert_eq!(DB.in_flight(), 0);
        assert_eq!(query(false), Ok(1));
    }

    /// The decorator takes any retry handle: this one on virtual time, so
    /// its backoffs jump the clock.
    static RETRY: LazyLock<driver::RetryPolicy<NoBudget, VirtualTime>> = LazyLock::new(|| {
        driver::RetryPolicy::with_runtime(
            super::retry_config(3, Duration::from_millis(1)),
            VirtualTime::new(),
        )
    });

    #[policy(retry = RETRY, attempt = attempt)]
    fn flaky(until: u32) -> Result<u32, RetryError<&'static str>> {
        if attempt.number < until {
            return Err("flaky");
        }
        Ok(attempt.number)
    }

    #[test]
    fn retry_decorated_fn_binds_the_attempt() {
        let clock = RETRY.runtime();
        let start = clock.now();
        assert_eq!(flaky(2), Ok(2));
        let e = flaky(9).unwrap_err();
        assert_eq!((e.attempts, e.last), (3, Some("flaky")));
        // one backoff of 1 ms, then two
        assert_eq!(
            clock.now().saturating_duration_since(start),
            Duration::from_millis(3)
        );
    }

    struct Service {
        pipeline: Pipeline<((), BulkheadPolicy), StdClock>,
    }

    impl Service {
        #[policy(pipeline = self.pipeline, attempt = attempt)]
        fn get(&self, key: &str) -> Result<String, PipelineError<std::io::Error>> {
            Ok(format!("{key}#{}", attempt.number))
        }
    }

    #[test]
    fn pipeline_decorated_method_on_a_thread() {
        let service = Service {
            pipeline: Pipeline::new(StdClock).admit(BulkheadPolicy::new(BulkheadConfig::DEFAULT)),
        };
        let service = &service;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(move || assert_eq!(service.get("k").unwrap(), "k#1"));
            }
        });
        let _ = AssertUnwindSafe(());
    }
}

/// A hedge meeting a full bulkhead (the slot the first attempt holds) does
/// not queue for it (a hedge beside a running attempt never waits): it is
/// turned away at once, at its delay (1 ms, on virtual time), and the
/// first attempt, which answers only once the hedge was turned away, wins.
/// Had the hedge queued, the caller would have waited out the bulkhead's
/// 40 ms.
#[test]
fn call_hedged_blocking_hedge_queued_behind_the_first_attempt_does_not_wait_it_out() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_millis(40));
    let pipeline = Pipeline::new(vt.clone()).admit(&db);
    let watched = db.clone();
    let r = pipeline.call_hedged_blocking(
        hedge(
            2,
            failsafe_thread::HedgeDelay::Fixed(Duration::from_millis(1)),
        ),
        (),
        failsafe_thread::Idempotent(move |a: failsafe_thread::Attempt| {
            // answers once the hedge is turned away, or its wait ran out
            while a.number == 1 && {
                let m = watched.metrics();
                m.rejected + m.expired == 0
            } {
                thread::yield_now();
            }
            Ok::<_, ()>(a.number)
        }),
    );
    assert_eq!(r, Ok(1));
    assert_eq!(
        vt.now(),
        Instant::from_millis(1),
        "nobody waited in the queue"
    );
    let m = db.metrics();
    assert_eq!((m.rejected, m.expired), (1, 0), "{m:?}");
    assert_eq!(db.in_flight(), 0);
}

// ---------------------------------------------------------------- batch 2

/// A token budget shared by clones on many threads: retries stop with
/// `GiveUp::Budget` once the tokens are spent (500 tokens, 5 a retry: at
/// most 100 retries), and never more retries than the budget allows.
#[test]
fn retry_budget_shared_by_threads_caps_retries() {
    let r = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    )
    .budget(failsafe_thread::TokenQuota::AWS_STANDARD);
    let (attempts, budget_give_ups) = (AtomicU32::new(0), AtomicU32::new(0));
    thread::scope(|s| {
        for _ in 0..8 {
            let r = r.clone();
            let (attempts, budget_give_ups) = (&attempts, &budget_give_ups);
            s.spawn(move || {
                for _ in 0..10 {
                    let e = r
                        .call_blocking(|_| {
                            attempts.fetch_add(1, Ordering::SeqCst);
                            Err::<(), _>("down")
                        })
                        .unwrap_err();
                    if e.reason == GiveUp::Budget {
                        budget_give_ups.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let retries = attempts.load(Ordering::SeqCst) - 80;
    assert_eq!(retries, 100, "retries made");
    assert!(budget_give_ups.load(Ordering::SeqCst) > 0);
}

/// Soft mode keeps the late result and reports it ("kept and reported").
#[test]
fn timeout_soft_mode_reports_the_overrun() {
    let vt = VirtualTime::new();
    let expired = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&expired);
    let t = virtual_timeout(
        &vt,
        TimeoutConfig::new(Duration::from_millis(1))
            .unwrap()
            .mode(TimeoutMode::Soft),
    )
    .on_event(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    let r = t.call_blocking(|_| {
        advance(&vt, Duration::from_millis(3)); // slow
        Ok::<_, ()>(1)
    });
    assert_eq!(r, Ok(1));
    assert_eq!(expired.load(Ordering::SeqCst), 1);
}

/// A late blocking attempt is a timed-out attempt, and the retry tries again.
#[test]
fn pipeline_call_blocking_late_attempt_is_retried() {
    let vt = VirtualTime::new();
    let pipeline = Pipeline::new(vt.clone())
        .retry(
            RetryConfig::builder()
                .max_attempts(2)
                .backoff(BackoffKind::Constant(Duration::ZERO))
                .build()
                .unwrap(),
        )
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(3)).unwrap());
    let v = pipeline.call_blocking(|a| {
        if a.number == 1 {
            advance(&vt, Duration::from_millis(6)); // slow
        }
        Ok::<_, ()>(a.number)
    });
    assert_eq!(v, Ok(2));
}

#[test]
fn every_blocking_handle_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RetryPolicy>();
    send_sync::<TimeoutPolicy>();
    send_sync::<Fallback>();
    send_sync::<BulkheadPolicy>();
    send_sync::<RateLimiterPolicy>();
    send_sync::<FailFastPolicy>();
    send_sync::<CircuitBreakerPolicy>();
    send_sync::<Pipeline<((), BulkheadPolicy), StdClock>>();
}

/// "a FIFO queue of up to `Q` parked threads": waiters are served in the
/// order they queued.
#[test]
fn bulkhead_serves_parked_threads_in_fifo_order() {
    let db = bulkhead(1, PATIENT);
    let order = Mutex::new(Vec::new());
    let slot = db.acquire_blocking().unwrap();
    thread::scope(|s| {
        for id in 0..4u32 {
            let (db, order) = (&db, &order);
            s.spawn(move || {
                db.call_blocking(|| {
                    order.lock().unwrap().push(id);
                    Ok::<_, ()>(())
                })
            });
            while db.queued() < id as usize + 1 {
                thread::yield_now();
            }
        }
        drop(slot);
    });
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
}

/// `with_deadline`: "a bulkhead's queue gives the call up at it".
#[test]
fn bulkhead_queue_wait_is_cut_at_the_callers_deadline() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 1, Duration::from_secs(1));
    let slot = db.acquire_blocking().unwrap();
    let start = vt.now();
    let hurried = db
        .clone()
        .with_deadline(Deadline::after(start, Duration::from_millis(8)));
    let r = hurried.call_blocking(|| Ok::<_, ()>(()));
    // it waited until its deadline, not the bulkhead's own 1 s
    assert_eq!(since(&vt, start), Duration::from_millis(8));
    // the caller's deadline, not the bulkhead's max_wait, ended the wait
    let reason = r.unwrap_err().rejected().unwrap().reason;
    assert_eq!(reason, RejectReason::DeadlineTooShort);
    assert_eq!(db.queued(), 0);
    drop(slot);
}

/// Fail fast's health probe, one per interval: a success closes it.
#[test]
fn failfast_probe_per_interval_closes_on_success() {
    let vt = VirtualTime::new();
    let ff = virtual_failfast(
        &vt,
        FailFastConfig::builder()
            .consecutive_failures(1)
            .probe_interval(Duration::from_millis(8))
            .build()
            .unwrap(),
    );
    let _ = ff.call_blocking(|| Err::<(), _>("down"));
    let e = ff.call_blocking(|| Ok::<_, &str>(())).unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::FailFastOpen);
    advance(&vt, Duration::from_millis(8)); // the probe interval passes
    assert_eq!(ff.call_blocking(|| Ok::<_, &str>(1)), Ok(1));
    assert_eq!(ff.state(), failsafe_thread::FailFastState::Closed);
}

/// The crate docs: "A panic inside the closure hands the permit back as
/// `Cancelled` while it unwinds (a half-open probe ... is never lost)".
/// A fail fast probe that panics: the next call may probe at once.
#[test]
fn failfast_panicking_probe_is_not_lost() {
    let vt = VirtualTime::new();
    let ff = virtual_failfast(
        &vt,
        FailFastConfig::builder()
            .consecutive_failures(1)
            .probe_interval(Duration::from_millis(8))
            .build()
            .unwrap(),
    );
    let _ = ff.call_blocking(|| Err::<(), _>("down"));
    advance(&vt, Duration::from_millis(8)); // the probe interval passes
    let p = catch_unwind(AssertUnwindSafe(|| {
        ff.call_blocking(|| -> Result<(), &str> { panic!("probe bug") })
    }));
    assert!(p.is_err());
    // at the same instant
    let r = ff.call_blocking(|| Ok::<_, &str>(2));
    assert_eq!(r, Ok(2), "{:?}", ff.metrics());
}

/// A timeout seen by a fallback is `TimedOut`; a rejection `Rejected`.
#[test]
fn fallback_reason_for_a_blocking_timeout() {
    let vt = VirtualTime::new();
    let t = virtual_timeout(&vt, TimeoutConfig::new(Duration::from_millis(1)).unwrap());
    let v = driver::Fallback::with_runtime(vt.clone()).call_blocking(
        || {
            t.call_blocking(|_| {
                advance(&vt, Duration::from_millis(3)); // slow
                Ok::<_, ()>("slow")
            })
        },
        |reason, _| {
            assert_eq!(reason, FallbackReason::TimedOut);
            Ok("default")
        },
    );
    assert_eq!(v, Ok("default"));
}

/// "an attempt the call no longer waits for (a loser, or one cut at its
/// attempt deadline) is abandoned": the call answers at the deadline, not
/// when the thread ends, and the slot goes back as a timeout.
#[test]
fn call_hedged_blocking_attempt_cut_at_its_deadline_is_abandoned() {
    let vt = VirtualTime::new();
    let db = virtual_bulkhead(&vt, 4, Duration::ZERO);
    let pipeline = Pipeline::new(vt.clone())
        .admit(&db)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(5)).unwrap());
    let (gate, pass) = gate();
    let e = pipeline
        .call_hedged_blocking(
            hedge(1, failsafe_thread::HedgeDelay::OnFailure),
            (),
            failsafe_thread::Idempotent(move |_: failsafe_thread::Attempt| {
                pass.pass(); // slow: ends only when the test lets it
                Ok::<_, ()>(())
            }),
        )
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    // answered at the attempt deadline, the attempt still running
    assert_eq!(vt.now(), Instant::from_millis(5));
    assert!(
        gate.still_running(),
        "the call did not wait for the attempt"
    );
    assert_eq!(db.in_flight(), 0);
    gate.open_and_wait();
    assert_eq!(db.in_flight(), 0);
}
