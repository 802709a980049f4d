//! `QuantaClock` / `QuantaRuntime` and `RetryPolicy`'s kept configs
//! (`RetryConfigRef`), `PlanParts::alone`. A fresh helper's review of the
//! change that brought them wrote these (2026-12-01); two faults failed
//! here before their fixes: `QuantaRuntime` handed `R` a deadline read on
//! the counter unconverted, so the counter's drift from `R`'s clock
//! (growing with uptime) shortened or stretched every wait, and the kept
//! configs grew without bound (now at most `KEPT_CONFIGS`, then shared).
#![cfg(all(feature = "std", feature = "quanta"))]
#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Ready;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::plan::{Action, Judged, Plan as _};
use failsafe_core::retry::{BackoffKind, Jitter, NoBudget, RetryConfig, Verdict};
use failsafe_core::timeout::Deadline;
use failsafe_driver::{
    Clock, FirstAttemptAlone, QuantaClock, QuantaRuntime, RetryPolicy, Runtime, StdClock,
};

/// The tests that read the shared counter against a drifted clock run
/// one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn constant(attempts: u32, ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// A config unique to `n` (its `max_elapsed`), as a service building a
/// policy per request from the request's time budget would make.
fn per_request(n: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(3)
        .max_elapsed(Duration::from_millis(1_000_000 + n))
        .build()
        .unwrap()
}

// ------------------------------------------------------------ clock epochs

fn apart(a: Instant, b: Instant) -> Duration {
    a.saturating_duration_since(b)
        .max(b.saturating_duration_since(a))
}

/// Each thread's quanta readings never go back.
#[test]
fn quanta_reads_are_monotonic_on_every_thread() {
    let _s = serial();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                let mut last = QuantaClock.now();
                for _ in 0..200_000 {
                    let now = QuantaClock.now();
                    assert!(now >= last);
                    last = now;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// ------------------------------------------------------------ QuantaRuntime

/// A runtime whose timer fires at once and records every deadline.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Instant>>>);

impl Clock for Recorder {
    fn now(&self) -> Instant {
        StdClock.now()
    }
}

impl Runtime for Recorder {
    type Sleep = Ready<()>;
    fn sleep_until(&self, deadline: Instant) -> Ready<()> {
        self.0.lock().unwrap().push(deadline);
        std::future::ready(())
    }
}

/// The runtime's clock is QuantaClock's; a deadline is handed to `R` as
/// the same time away on `R`'s own clock.
#[test]
fn quanta_runtime_reads_quanta_and_hands_deadlines_on() {
    let _s = serial();
    let rec = Recorder::default();
    let rt = QuantaRuntime(rec.clone());
    let (a, q, b) = (QuantaClock.now(), rt.now(), QuantaClock.now());
    assert!(a <= q && q <= b);
    drop(rt.sleep_until(q + Duration::from_secs(3)));
    let asked = rec.0.lock().unwrap()[0];
    let wanted = rec.now() + Duration::from_secs(3);
    assert!(
        apart(asked, wanted) < Duration::from_millis(20),
        "R asked {asked:?}, R's now + 3 s {wanted:?}"
    );
}

/// A retry on QuantaRuntime(R) sleeps on R until "now + backoff", with
/// `now` on the StdClock timeline R counts on: the deadline R gets is the
/// backoff away from R's own clock.
#[test]
fn a_retry_on_quanta_runtime_sleeps_on_r_for_the_backoff() {
    let _s = serial();
    let rec = Recorder::default();
    let policy = RetryPolicy::with_runtime(constant(3, 250), QuantaRuntime(rec.clone()));
    let calls = AtomicU32::new(0);
    let r: Result<(), _> = futures_lite::future::block_on(policy.call(|_| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err::<(), _>("down"))
    }));
    let now_on_r = rec.now();
    assert_eq!(r.unwrap_err().attempts, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let sleeps = rec.0.lock().unwrap().clone();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    // the timer "fired" at once, so the driver thinks 250 ms passed per
    // retry: the first deadline is within a few ms of R's now + 250 ms
    let first = sleeps[0];
    let wanted = now_on_r + Duration::from_millis(250);
    assert!(
        apart(first, wanted) < Duration::from_millis(20),
        "deadline {first:?}, R's now + backoff {wanted:?}"
    );
}

#[test]
fn quanta_runtime_and_its_policy_are_send_sync() {
    fn both<T: Send + Sync>() {}
    both::<QuantaRuntime<StdClock>>();
    both::<RetryPolicy<NoBudget, QuantaRuntime<StdClock>>>();
    both::<FirstAttemptAlone<NoBudget>>();
    both::<failsafe_driver::PlanParts<NoBudget>>();
}

// ------------------------------------------------------------ doc claims

/// "136 bytes each" (RetryPolicy's doc), "four words" (FirstAttemptAlone).
#[test]
fn the_documented_sizes_hold() {
    assert_eq!(size_of::<RetryConfig>(), 136);
    assert_eq!(
        size_of::<FirstAttemptAlone<NoBudget>>(),
        4 * size_of::<usize>()
    );
}

/// Past `KEPT_CONFIGS` distinct configs nothing more is kept for the
/// process's life: a new config is shared by its policy and calls, so a
/// service that makes a policy per request (its `max_elapsed` from the
/// request's budget) keeps bounded memory.
#[test]
fn past_the_kept_configs_a_new_config_is_shared_not_kept() {
    use failsafe_driver::{KEPT_CONFIGS, RetryConfigRef};
    let _s = serial();
    for n in 0..=KEPT_CONFIGS as u64 {
        let _ = RetryConfigRef::new(per_request(70_000_000 + n));
    }
    let fresh = per_request(80_000_000);
    let (a, b) = (RetryConfigRef::new(fresh), RetryConfigRef::new(fresh));
    assert_eq!((*a, *b), (fresh, fresh));
    assert!(!std::ptr::eq(&*a, &*b), "a config past the cap was kept");
    // one kept before the cap is still shared by every policy made with it
    let early = RetryConfigRef::new(per_request(70_000_000));
    assert!(std::ptr::eq(
        &*early,
        &*RetryConfigRef::new(per_request(70_000_000))
    ));
    // and a policy made with a config past the cap reads it back
    let policy = RetryPolicy::<_, StdClock>::new(fresh);
    assert_eq!(policy.config(), fresh);
}

// ------------------------------------------------------------ PlanParts::alone

/// The limit in force when the call began reaches the plan made after a
/// first attempt that ran alone, for every way of setting it.
#[test]
fn alone_keeps_the_limit_in_force_when_the_call_began() {
    let _s = serial();
    let mut policy = RetryPolicy::<_, StdClock>::new(constant(3, 10));
    let handle = policy.clone();
    for (set, attempts) in [
        (Some(Some(5)), 5),
        (Some(Some(1)), 1),
        (Some(None), 50),
        (None, 3),
    ] {
        match set {
            Some(Some(n)) => handle.set_max_attempts(Some(n)).unwrap(),
            Some(None) => handle.set_unlimited_attempts(),
            None => handle.set_max_attempts(None).unwrap(),
        }
        let later = policy.plan_parts(Deadline::NEVER).alone(true).unwrap();
        // changed after the call began: not seen by it
        handle.set_max_attempts(Some(2)).unwrap();
        let mut plan = later.unstarted().judged_without_time();
        let mut now = Instant::ZERO;
        plan.first_attempt_ended(now, Judged::verdict(Verdict::retry()));
        let mut made = 1;
        loop {
            match plan.poll_action(now) {
                Action::Wait(Some(at)) => {
                    now = at;
                    plan.on_event(now, failsafe_core::plan::PlanEvent::Timer);
                }
                Action::Start(a) => {
                    made += 1;
                    if made >= 50 {
                        break;
                    }
                    plan.on_event(
                        now,
                        failsafe_core::plan::PlanEvent::Ended {
                            attempt: a.number,
                            judged: Judged::verdict(Verdict::retry()),
                        },
                    );
                }
                Action::Finish(_) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(made, attempts, "{set:?}");
    }
}

// ------------------------------------------------------------ interned configs

/// Equal configs are shared, and a policy's config reads back as built,
/// from many threads at once.
#[test]
fn interned_configs_read_back_as_built_across_threads() {
    let _s = serial();
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            std::thread::spawn(move || {
                for n in 0..2_000u64 {
                    let c = per_request(50_000_000 + (n % 100) + t * 1_000);
                    let p = RetryPolicy::<_, StdClock>::new(c);
                    assert_eq!(p.config(), c);
                    assert_eq!(p.max_attempts(), Some(3));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// ------------------------------------------- QuantaRuntime under clock drift

/// A runtime whose clock is QuantaClock's plus `ahead_ms` (negative:
/// behind): the OS clock a real `R` (tokio, async-io) sleeps on, once the
/// counter has drifted from it. Its timer is ready when its own clock has
/// reached the deadline, else pending (polled once here, never woken).
#[derive(Clone)]
struct Drifted {
    ahead_ms: i64,
    asked: Arc<Mutex<Vec<Instant>>>,
}

impl Drifted {
    fn new(ahead_ms: i64) -> Self {
        Drifted {
            ahead_ms,
            asked: Arc::default(),
        }
    }
}

impl Clock for Drifted {
    fn now(&self) -> Instant {
        let q = QuantaClock.now();
        let by = Duration::from_millis(self.ahead_ms.unsigned_abs());
        if self.ahead_ms >= 0 {
            q + by
        } else {
            q.saturating_sub(by)
        }
    }
}

/// A [`Drifted`] timer: ready once its runtime's own clock reaches `at`.
struct DriftedSleep {
    clock: Drifted,
    at: Instant,
}

impl std::future::Future for DriftedSleep {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.clock.now() >= self.at {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

impl Runtime for Drifted {
    type Sleep = DriftedSleep;
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        self.asked.lock().unwrap().push(deadline);
        DriftedSleep {
            clock: self.clone(),
            at: deadline,
        }
    }
}

/// The counter's drift from the OS clock grows with uptime (ppm x uptime:
/// 2 s after ~12 days at 2 ppm, ~3.6 h at 154 ppm, both seen on this
/// machine's quanta calibration). `QuantaRuntime` handed `R` a deadline
/// read on the counter as is, so every sleep was off by the whole drift:
/// with `R` 2 s ahead, a 1 s sleep was asked for an instant `R` passed a
/// second ago (fires at once: a 1 s timeout fires immediately); with `R`
/// 2 s behind, it is asked for 3 s from `R`'s now.
#[test]
fn quanta_runtime_sleeps_for_the_asked_duration_whatever_the_drift() {
    let _s = serial();
    for ahead_ms in [2_000i64, -2_000] {
        let r = Drifted::new(ahead_ms);
        let rt = QuantaRuntime(r.clone());
        let wanted = Duration::from_secs(1);
        drop(rt.sleep_until(rt.now() + wanted));
        let asked = r.asked.lock().unwrap()[0];
        let on_r = asked.saturating_duration_since(r.now()).as_millis() as i64
            - r.now().saturating_duration_since(asked).as_millis() as i64;
        assert!(
            (on_r - 1_000).abs() < 50,
            "R {ahead_ms} ms ahead of the counter: a 1 s sleep lasts {on_r} ms on R's timer"
        );
    }
}

/// What a user meets: a long-running service on `QuantaRuntime(R)` whose
/// counter has fallen 2 s behind R's clock; a 1 s timeout around an
/// operation that has not answered yet fires at its first poll (R's timer
/// for the deadline is already due), so every call times out at once.
#[test]
fn a_timeout_on_quanta_runtime_does_not_fire_at_once_when_the_counter_lags() {
    let _s = serial();
    let config = failsafe_core::timeout::TimeoutConfig::new(Duration::from_secs(1)).unwrap();
    let policy =
        failsafe_driver::TimeoutPolicy::with_runtime(config, QuantaRuntime(Drifted::new(2_000)));
    let call = policy.call(|_| std::future::pending::<Result<(), ()>>());
    let first = futures_lite::future::block_on(futures_lite::future::poll_once(call));
    assert!(
        first.is_none(),
        "a 1 s timeout answered at its first poll: {first:?}"
    );
}
