//! Model-checks the shared breaker's lock-free fast path with loom: every
//! interleaving of the atomic "rejecting until" word with the locked machine.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p failsafe-core --test loom_shared_breaker --release`
#![cfg(loom)]

use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, NoWindow, State};
use failsafe_core::sync::{Lock, SharedBreaker};
use failsafe_core::{Instant, Outcome, RejectReason};
use loom::sync::{Arc, Mutex};
use loom::thread;

struct LoomLock<T>(Mutex<T>);

impl<T> Lock<T> for LoomLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

type Shared = SharedBreaker<NoWindow, (), LoomLock<CircuitBreaker<NoWindow>>>;

fn shared() -> Arc<Shared> {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    Arc::new(SharedBreaker::new(LoomLock(Mutex::new(
        CircuitBreaker::new(config, NoWindow),
    ))))
}

/// One thread trips the breaker while another calls: the caller is either
/// admitted (it ran before the trip) or rejected with the trip's own retry_at,
/// never with anything else; afterwards the fast path agrees with the machine.
/// (The trip's time is clamped to the latest time seen: if the caller's t=2
/// reached the machine first, the trip at t=1 counts as t=2.)
#[test]
fn a_trip_races_a_caller() {
    loom::model(|| {
        let b = shared();
        let tripper = {
            let b = b.clone();
            thread::spawn(move || {
                let p = b.acquire(Instant::from_secs(1)).unwrap();
                b.record(Instant::from_secs(1), p, Outcome::Failure);
            })
        };
        let caller = {
            let b = b.clone();
            thread::spawn(move || match b.acquire(Instant::from_secs(2)) {
                Ok(p) => {
                    b.record(Instant::from_secs(2), p, Outcome::Cancelled);
                    None
                }
                Err(r) => {
                    assert_eq!(r.reason, RejectReason::BreakerOpen);
                    Some(r.retry_at)
                }
            })
        };
        tripper.join().unwrap();
        let seen_by_caller = caller.join().unwrap();
        assert_eq!(b.state(), State::Open);
        let r = b.acquire(Instant::from_secs(3)).unwrap_err();
        assert!(
            r.retry_at == Some(Instant::from_secs(11))
                || r.retry_at == Some(Instant::from_secs(12))
        );
        if let Some(seen) = seen_by_caller {
            assert_eq!(
                seen, r.retry_at,
                "the fast path published the trip's own deadline"
            );
        }
    });
}

/// An operator closes the breaker while a caller is being rejected on the
/// fast path: once the close is done, nobody is rejected any more.
#[test]
fn a_close_races_a_fast_path_rejection() {
    loom::model(|| {
        let b = shared();
        b.with(|m| m.open(Instant::ZERO));
        let closer = {
            let b = b.clone();
            thread::spawn(move || b.with(|m| m.close(Instant::from_secs(1))))
        };
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.acquire(Instant::from_secs(1)) {
                    b.record(Instant::from_secs(1), p, Outcome::Success);
                }
            })
        };
        closer.join().unwrap();
        caller.join().unwrap();
        assert_eq!(b.state(), State::Closed);
        let p = b
            .acquire(Instant::from_secs(2))
            .expect("closed: the fast path must not reject");
        b.record(Instant::from_secs(2), p, Outcome::Success);
    });
}

/// Two callers arrive when the open wait is over: exactly one gets the single
/// half-open probe, the other is rejected.
#[test]
fn two_callers_race_for_one_probe() {
    loom::model(|| {
        let b = shared();
        b.with(|m| m.open(Instant::ZERO));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.acquire(Instant::from_secs(10)).map(|p| p.is_probe()))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| matches!(r, Ok(true))).count(),
            1,
            "{results:?}"
        );
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    });
}

/// A trip and an operator's close race: whatever order the lock saw them in,
/// the fast path ends up agreeing with the machine (a stale "open" published
/// after the close would reject calls on a closed breaker).
#[test]
fn a_trip_races_a_close() {
    loom::model(|| {
        let b = shared();
        let tripper = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(p) = b.acquire(Instant::from_secs(1)) {
                    b.record(Instant::from_secs(1), p, Outcome::Failure);
                }
            })
        };
        let closer = {
            let b = b.clone();
            thread::spawn(move || b.with(|m| m.close(Instant::from_secs(1))))
        };
        tripper.join().unwrap();
        closer.join().unwrap();
        // Ask the fast path first: `state()` takes the lock and would republish.
        let admitted = b.acquire(Instant::from_secs(2));
        let state = b.with(|m| m.state());
        match admitted {
            Ok(p) => {
                assert_eq!(state, State::Closed);
                b.record(Instant::from_secs(2), p, Outcome::Success);
            }
            Err(_) => assert_eq!(state, State::Open),
        }
    });
}

/// A closed breaker admits on the lock-free path while another thread
/// trips it: the admitted call's late success is reported as stale and
/// cannot close the open breaker.
#[test]
fn a_lock_free_admission_races_a_trip() {
    loom::model(|| {
        let b = shared();
        // Publish the closed breaker's admission word.
        b.with(|_| ());
        let caller = {
            let b = b.clone();
            thread::spawn(move || {
                let p = b.acquire(Instant::from_secs(1));
                p.ok()
            })
        };
        let tripper = {
            let b = b.clone();
            thread::spawn(move || {
                let p = b.acquire(Instant::from_secs(1)).unwrap();
                b.record(Instant::from_secs(1), p, Outcome::Failure);
            })
        };
        tripper.join().unwrap();
        let admitted = caller.join().unwrap();
        let was_admitted = admitted.is_some();
        if let Some(p) = admitted {
            b.record(Instant::from_secs(2), p, Outcome::Success);
        }
        assert_eq!(
            b.state(),
            State::Open,
            "a success admitted before the trip cannot undo it"
        );
        let stale = b.metrics(Instant::from_secs(2)).stale_outcomes;
        assert_eq!(
            stale,
            u64::from(was_admitted),
            "the pre-trip permit is recognised as stale"
        );
    });
}

type Counted = SharedBreaker<CountWindow<4>, (), LoomLock<CircuitBreaker<CountWindow<4>>>>;

/// A closed breaker over the last 4 calls that trips at a 50% failure rate
/// once it has seen 4 calls.
fn counted(config: BreakerConfig) -> Arc<Counted> {
    Arc::new(SharedBreaker::from_lock(LoomLock(Mutex::new(
        CircuitBreaker::new(config, CountWindow::new()),
    ))))
}

/// One admitted call that succeeds, its time never needed: a closed
/// breaker with credit counts it on the admission word, without the lock.
fn succeed(b: &Counted) {
    let p = b.acquire(|| Instant::from_secs(1)).unwrap();
    b.record(|| Instant::from_secs(1), p, Outcome::Success);
}

/// Successes counted without the lock race a locked operation that hands
/// them to the machine (a metrics snapshot): whatever the interleaving, every
/// success is counted exactly once.
#[test]
fn lock_free_successes_race_a_fold_and_none_is_lost() {
    loom::model(|| {
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(5)
            .build()
            .unwrap();
        let b = counted(config);
        let worker = {
            let b = b.clone();
            thread::spawn(move || succeed(&b))
        };
        succeed(&b);
        let snapshot = b.metrics(Instant::from_secs(1)).calls;
        assert!((1..=2).contains(&snapshot), "{snapshot}");
        worker.join().unwrap();
        assert_eq!(b.metrics(Instant::from_secs(1)).calls, 2);
    });
}

/// Two failures, then two successes at once: the breaker grants credit for
/// one success only (the one making 4 calls could trip it), so whichever
/// comes second takes the lock, sees the first counted, and trips at 2 of 4.
#[test]
fn the_success_that_can_trip_always_takes_the_lock() {
    loom::model(|| {
        let config = BreakerConfig::builder()
            .failure_rate_threshold(0.5)
            .minimum_calls(4)
            .build()
            .unwrap();
        let b = counted(config);
        for _ in 0..2 {
            let p = b.acquire(Instant::from_secs(1)).unwrap();
            b.record(Instant::from_secs(1), p, Outcome::Failure);
        }
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || succeed(&b))
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let m = b.metrics(Instant::from_secs(1));
        assert_eq!((m.state, m.times_opened), (State::Open, 1));
    });
}

/// A success counted without the lock at a known time (5 s) races a fold:
/// either way the machine learns the time, so a failure reported later at
/// an earlier time (1 s) trips the breaker at 5 s (the clock contract).
#[test]
fn a_time_known_to_a_lock_free_success_reaches_the_machine() {
    loom::model(|| {
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(10))
            .build()
            .unwrap();
        let b = counted(config);
        let worker = {
            let b = b.clone();
            thread::spawn(move || {
                let p = b.acquire(|| Instant::from_secs(1)).unwrap();
                b.record(Instant::from_secs(5), p, Outcome::Success);
            })
        };
        let _ = b.metrics(Instant::from_secs(1));
        worker.join().unwrap();
        let p = b.acquire(Instant::from_secs(1)).unwrap();
        b.record(Instant::from_secs(1), p, Outcome::Failure);
        let r = b.acquire(Instant::from_secs(1)).unwrap_err();
        assert_eq!(r.retry_at, Some(Instant::from_secs(15)));
    });
}

/// An observer that counts the calls it hears were rejected.
#[derive(Default)]
struct Rejections(u64);

impl failsafe_core::Observer<failsafe_core::breaker::BreakerEvent> for Rejections {
    fn on_event(&mut self, event: failsafe_core::breaker::BreakerEvent) {
        use failsafe_core::event::Describe;
        let f = event.describe();
        if f.is_rejection() {
            self.0 += f.count;
        }
    }
}

/// Rejections taken on the lock-free gate while another thread's locked
/// operation reports the earlier ones: every rejection a caller saw
/// reaches the observer exactly once (none lost between the gate's count
/// and the report, none reported twice), and the metrics agree.
#[test]
fn lock_free_rejections_race_their_report() {
    type Observed =
        SharedBreaker<NoWindow, Rejections, LoomLock<CircuitBreaker<NoWindow, Rejections>>>;
    loom::model(|| {
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(10))
            .build()
            .unwrap();
        let b: Arc<Observed> = Arc::new(SharedBreaker::new(LoomLock(Mutex::new(
            CircuitBreaker::with_observer(config, NoWindow, Rejections::default()),
        ))));
        let p = b.acquire(Instant::from_secs(1)).unwrap();
        b.record(Instant::from_secs(1), p, Outcome::Failure);
        let callers: Vec<_> = (0..2)
            .map(|i| {
                let b = b.clone();
                thread::spawn(move || u64::from(b.acquire(Instant::from_secs(2 + i)).is_err()))
            })
            .collect();
        // A locked operation meanwhile reports what the gate counted so far.
        let reporter = {
            let b = b.clone();
            thread::spawn(move || b.with(|_| ()))
        };
        let told: u64 = callers.into_iter().map(|t| t.join().unwrap()).sum();
        reporter.join().unwrap();
        assert_eq!(told, 2, "open for 10 s: both rejected");
        let heard = b.with(|m| m.observer().0);
        assert_eq!(heard, told);
        assert_eq!(b.metrics(Instant::from_secs(3)).rejected, told);
    });
}
