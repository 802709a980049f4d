//! One property for every admission machine's std handle: every call the
//! handle rejects reaches its listeners, the ones rejected on the lock-free
//! path (the breaker's and fail fast's gate, the lock-free rate limiter)
//! included, so that a listener that counts rejections agrees with the
//! handle's own count (its metrics snapshot; the rate limiters keep no
//! count, so there with what the callers were told). Several listeners
//! added one after the other all hear the same events. A new admission
//! handle joins with one `proptest!` case.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use failsafe_core::event::Describe;
use failsafe_driver::bulkhead::BulkheadConfig;
use failsafe_driver::prelude::*;
use failsafe_driver::rate::Quota;
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, FailFastPolicy, Instant, KeyedRateLimiterPolicy,
    RateLimiterPolicy,
};
use proptest::prelude::*;

/// A clock the test moves by hand.
#[derive(Clone, Debug, Default)]
struct Manual(Arc<AtomicU64>);

impl Manual {
    fn advance(&self, ms: u64) {
        self.0.fetch_add(ms * 1_000_000, Ordering::Relaxed);
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// Two listeners' counts of rejected calls (each event counts
/// [`Fields::count`](failsafe_core::event::Fields) calls).
#[derive(Clone, Debug, Default)]
struct Counts {
    first: Arc<AtomicU64>,
    second: Arc<AtomicU64>,
}

impl Counts {
    fn listener<E: Describe>(counter: &Arc<AtomicU64>) -> impl Fn(E) + Send + Sync + 'static {
        let counter = counter.clone();
        move |e: E| {
            let f = e.describe();
            if f.is_rejection() {
                counter.fetch_add(f.count, Ordering::Relaxed);
            }
        }
    }

    fn check(&self, expected: u64) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.first.load(Ordering::Relaxed), expected);
        prop_assert_eq!(self.second.load(Ordering::Relaxed), expected);
        Ok(())
    }
}

/// One step: `advance` ms pass, then a call starts and ends with
/// `fails` (or, for a bulkhead, is held until `release`d).
#[derive(Clone, Debug)]
struct Step {
    advance: u64,
    fails: bool,
    weight: u32,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0u64..40, any::<bool>(), 1u32..3).prop_map(|(advance, fails, weight)| Step {
            advance,
            fails,
            weight,
        }),
        0..200,
    )
}

fn outcome(fails: bool) -> Outcome {
    if fails {
        Outcome::Failure
    } else {
        Outcome::Success
    }
}

proptest! {
    #[test]
    fn breaker_listeners_count_every_rejection(trace in steps(), metrics_every in 1usize..50) {
        let clock = Manual::default();
        let counts = Counts::default();
        let config = BreakerConfig::builder()
            .consecutive_failures(2)
            .open_wait(Duration::from_millis(100))
            .build()
            .unwrap();
        let breaker: CircuitBreakerPolicy<NoWindow, Manual> =
            CircuitBreakerPolicy::with_runtime(config, NoWindow, clock.clone())
                .on_event(Counts::listener(&counts.first))
                .on_event(Counts::listener(&counts.second));
        let mut told = 0;
        for (i, step) in trace.iter().enumerate() {
            clock.advance(step.advance);
            match breaker.try_acquire() {
                Ok(guard) => guard.finish(outcome(step.fails)),
                Err(_) => told += 1,
            }
            if i % metrics_every == 0 {
                // A snapshot reports what the gate counted so far.
                let m = breaker.metrics();
                prop_assert_eq!(m.rejected, told);
                counts.check(told)?;
            }
        }
        prop_assert_eq!(breaker.metrics().rejected, told);
        counts.check(told)?;
    }

    #[test]
    fn fail_fast_listeners_count_every_rejection(trace in steps()) {
        let clock = Manual::default();
        let counts = Counts::default();
        let config = FailFastConfig::builder()
            .consecutive_failures(2)
            .probe_interval(Duration::from_millis(100))
            .build()
            .unwrap();
        let ff: FailFastPolicy<Manual> = FailFastPolicy::with_runtime(config, clock.clone())
            .on_event(Counts::listener(&counts.first))
            .on_event(Counts::listener(&counts.second));
        let mut told = 0;
        for step in &trace {
            clock.advance(step.advance);
            match ff.try_acquire() {
                Ok(guard) => guard.finish(outcome(step.fails)),
                Err(_) => told += 1,
            }
        }
        let m = ff.metrics();
        prop_assert_eq!(m.rejected_open + m.rejected_deadline, told);
        counts.check(told)?;
    }

    #[test]
    fn bulkhead_listeners_count_every_rejection(trace in steps()) {
        let clock = Manual::default();
        let counts = Counts::default();
        let config = BulkheadConfig::builder().max_concurrent(3).build().unwrap();
        let bulkhead: BulkheadPolicy<4, FixedLimit, Manual> =
            BulkheadPolicy::with_runtime(config, clock.clone())
                .on_event(Counts::listener(&counts.first))
                .on_event(Counts::listener(&counts.second));
        let mut held = Vec::new();
        let mut told = 0;
        for step in &trace {
            clock.advance(step.advance);
            match bulkhead.try_acquire() {
                Ok(guard) => held.push(guard),
                Err(_) => told += 1,
            }
            if step.fails && !held.is_empty() {
                held.remove(0).finish(Outcome::Success);
            }
        }
        drop(held);
        prop_assert_eq!(bulkhead.metrics().rejected, told);
        counts.check(told)?;
    }

    #[test]
    fn rate_limiter_listeners_count_every_rejection(trace in steps()) {
        let clock = Manual::default();
        let counts = Counts::default();
        let quota = Quota::per_second(20).unwrap().with_burst(3).unwrap();
        let limiter: RateLimiterPolicy<Manual> = RateLimiterPolicy::with_runtime(quota, clock.clone())
            .on_event(Counts::listener(&counts.first))
            .on_event(Counts::listener(&counts.second));
        let mut told = 0;
        for step in &trace {
            clock.advance(step.advance);
            if limiter.clone().with_weight(step.weight).try_acquire().is_err() {
                told += 1;
            }
        }
        counts.check(told)?;
    }

    #[test]
    fn keyed_rate_limiter_listeners_count_every_rejection(trace in steps()) {
        let clock = Manual::default();
        let counts = Counts::default();
        let quota = Quota::per_second(20).unwrap().with_burst(2).unwrap();
        let limiter: KeyedRateLimiterPolicy<u32, 8, Manual> =
            KeyedRateLimiterPolicy::with_runtime(quota, clock.clone())
                .on_event(Counts::listener(&counts.first))
                .on_event(Counts::listener(&counts.second));
        let mut told = 0;
        for step in &trace {
            clock.advance(step.advance);
            if limiter.try_acquire_keyed(&step.weight).is_err() {
                told += 1;
            }
        }
        counts.check(told)?;
    }
}

/// The gate really is exercised: while open, rejections reach the
/// listener only at the next locked operation, as one event, and
/// `flush_events` delivers them on demand.
#[test]
fn lock_free_rejections_arrive_together_at_the_next_locked_operation() {
    let clock = Manual::default();
    let counts = Counts::default();
    let events = Arc::new(AtomicU64::new(0));
    let e2 = events.clone();
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let breaker: CircuitBreakerPolicy<NoWindow, Manual> =
        CircuitBreakerPolicy::with_runtime(config, NoWindow, clock.clone())
            .on_event(Counts::listener(&counts.first))
            .on_event(move |e: BreakerEvent| {
                if let BreakerEvent::LockFreeRejections { count, .. } = e {
                    assert_eq!(count, 1000);
                    e2.fetch_add(1, Ordering::Relaxed);
                }
            });
    // The failure opens it; the gate is published at once, so every call
    // from then on is rejected without the lock.
    breaker.try_acquire().unwrap().finish(Outcome::Failure);
    let before = counts.first.load(Ordering::Relaxed);
    assert_eq!(before, 0);
    for _ in 0..1000 {
        assert!(breaker.try_acquire().is_err());
    }
    assert_eq!(counts.first.load(Ordering::Relaxed), before);
    breaker.flush_events();
    assert_eq!(counts.first.load(Ordering::Relaxed), before + 1000);
    assert_eq!(events.load(Ordering::Relaxed), 1);
    assert_eq!(breaker.metrics().rejected, before + 1000);
}

/// A breaker that keeps no counts ([`NoCounters`]) has its gate count
/// rejections only for a listening observer, and reports every one of
/// them; its metrics stay without counts.
#[test]
fn a_breaker_without_counters_still_reports_its_lock_free_rejections() {
    use std::cell::Cell;

    use failsafe_core::admission::{Call, Entry};
    use failsafe_core::breaker::{CircuitBreaker, NoCounters};
    use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
    use failsafe_core::{FnObserver, Outcome as CoreOutcome};

    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let heard = Cell::new(0u64);
    let observer = FnObserver(|e: BreakerEvent| {
        let f = e.describe();
        if f.is_rejection() {
            heard.set(heard.get() + f.count);
        }
    });
    let shared = Shared::new(CsLock::new(CircuitBreaker::with_counters(
        config, NoWindow, observer, NoCounters,
    )));
    let at = |ms| Call::at(Instant::from_millis(ms));
    let Entry::Admitted(p) = shared.enter(&at(0), None) else {
        panic!("closed")
    };
    shared.exit(Instant::from_millis(1), p, CoreOutcome::Failure);
    for i in 0..100 {
        assert!(matches!(shared.enter(&at(2 + i), None), Entry::Rejected(_)));
    }
    assert_eq!(shared.gate_rejections(), 100, "counted on the gate");
    assert_eq!(heard.get(), 0, "not reported before a locked operation");
    shared.on_deadline(Instant::from_millis(200));
    assert_eq!(heard.get(), 100);
    assert_eq!(
        shared.metrics(Instant::from_millis(200)).rejected,
        0,
        "no counts kept"
    );
}
