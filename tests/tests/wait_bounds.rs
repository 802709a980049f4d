//! No admission machine keeps a call waiting past the call's own bounds:
//! its deadline and the `max_wait` it asks for. Checked once for every
//! machine that can make a call wait (a bulkhead's queue, every rate
//! limiter's booking), through the admission contract a driver uses:
//!
//! - a `Pending` answer names a `recheck_at` no later than the bound, so
//!   a driver that sleeps until it wakes in time;
//! - asked again at or after the bound, a call is never left `Pending`,
//!   nor admitted by a slot freed at or after it: a freed slot goes to a
//!   live waiter;
//! - the time read is the latest seen (a stale reading is no earlier).
//!
//! A bulkhead once held a queued call until its own `max_wait` ran out,
//! however soon the call's deadline (a pipeline's timeout) came.

use core::fmt::Debug;
use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::rate::{
    FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, Throttle, TokenBucket,
};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Outcome, Rejected};
use proptest::prelude::*;

/// One step of a trace, `ms` after the previous one.
#[derive(Clone, Debug)]
enum Op {
    /// A call for `key` taking `weight` permits, with a deadline
    /// `deadline_ms` from now (if any) and its own `max_wait`, if any.
    Enter {
        key: u8,
        weight: u32,
        deadline_ms: Option<u64>,
        wait_ms: Option<u64>,
    },
    /// The oldest admitted call ends; every waiting call is asked again
    /// (woken, as a freed slot wakes its driver).
    Exit,
    /// The waiting calls whose `recheck_at` has come are asked again.
    Recheck,
    /// The next step's clock reads `ms` earlier (a stale reading).
    Stale { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (
            0u8..3,
            1u32..3,
            prop::option::of(0u64..600),
            prop::option::of(0u64..600)
        )
            .prop_map(|(key, weight, deadline_ms, wait_ms)| Op::Enter {
                key,
                weight,
                deadline_ms,
                wait_ms,
            }),
        1 => Just(Op::Exit),
        2 => Just(Op::Recheck),
        1 => (0u64..200).prop_map(|ms| Op::Stale { ms }),
    ]
}

fn trace() -> impl Strategy<Value = Vec<(u64, Op)>> {
    prop::collection::vec((0u64..150, op()), 1..80)
}

/// A call waiting: its key, weight, bounds, the wait and when to recheck.
struct Waiting<K, W> {
    key: K,
    weight: u32,
    deadline: Deadline,
    max_wait: Option<Duration>,
    bound: Instant,
    wait: W,
    recheck_at: Option<Instant>,
}

/// The one check, for any machine that can make a call wait.
fn keeps_to_bounds<M: Admission>(
    mut machine: M,
    key: impl Fn(u8) -> M::Key,
    trace: &[(u64, Op)],
) -> Result<(), TestCaseError>
where
    M::Key: Sized,
    M::Wait: Debug,
{
    let (mut latest, mut held) = (Instant::ZERO, Vec::new());
    let mut waiting: Vec<Waiting<M::Key, M::Wait>> = Vec::new();
    let mut stale = Duration::ZERO;
    for (step, op) in trace {
        latest = latest + Duration::from_millis(*step);
        // What this step reads: the latest time, or a stale reading; the
        // machine takes either as the latest.
        let now = latest.saturating_sub(core::mem::take(&mut stale));
        match op {
            Op::Enter {
                key: k,
                weight,
                deadline_ms,
                wait_ms,
            } => {
                let k = key(*k);
                let deadline = deadline_ms.map_or(Deadline::NEVER, |ms| {
                    Deadline::after(now, Duration::from_millis(ms))
                });
                let max_wait = wait_ms.map(Duration::from_millis);
                // Counted from the time the machine decides at (the clock
                // contract: a stale reading is the latest seen).
                let from = now.max(machine.latest_seen());
                let bound = max_wait
                    .map_or(Instant::MAX, |w| from.saturating_add(w))
                    .min(deadline.instant());
                let call = Call::at(now)
                    .with_key(&k)
                    .with_weight(*weight)
                    .with_deadline(deadline)
                    .with_max_wait(max_wait);
                match machine.enter(&call, None) {
                    Entry::Admitted(p) => held.push(p),
                    Entry::Rejected(_) => {}
                    Entry::Pending { wait, recheck_at } => {
                        if bound < Instant::MAX {
                            prop_assert!(
                                recheck_at.is_some_and(|at| at <= bound),
                                "entered at {now:?}, bound {bound:?}, recheck at {recheck_at:?}"
                            );
                        }
                        waiting.push(Waiting {
                            key: k,
                            weight: *weight,
                            deadline,
                            max_wait,
                            bound,
                            wait,
                            recheck_at,
                        });
                    }
                }
            }
            Op::Stale { ms } => stale = Duration::from_millis(*ms),
            Op::Exit | Op::Recheck => {
                let woken = matches!(op, Op::Exit);
                if woken && !held.is_empty() {
                    machine.exit(now, held.remove(0), Outcome::Success);
                }
                // The time the machine decides at: the latest it has seen.
                let seen = now.max(machine.latest_seen());
                let due = |w: &Waiting<_, _>| woken || w.recheck_at.is_some_and(|at| at <= latest);
                let (ready, still): (Vec<_>, Vec<_>) = waiting.drain(..).partition(due);
                waiting = still;
                for w in ready {
                    let call = Call::at(now)
                        .with_key(&w.key)
                        .with_weight(w.weight)
                        .with_deadline(w.deadline)
                        .with_max_wait(w.max_wait);
                    match machine.resume(&call, w.wait, None) {
                        Entry::Admitted(p) => {
                            // A slot freed now (woken) went to a live waiter.
                            // (a limiter's booking was made within bounds
                            // when the call entered: only a freed slot counts)
                            prop_assert!(
                                !M::NEEDS_EXIT || !woken || seen <= w.bound,
                                "admitted by a slot freed at {seen:?}, past its bound {:?}",
                                w.bound
                            );
                            held.push(p);
                        }
                        Entry::Rejected(Rejected { .. }) => {}
                        Entry::Pending { wait, recheck_at } => {
                            prop_assert!(
                                seen.max(machine.latest_seen()) < w.bound,
                                "asked at {seen:?}, past its bound {:?}, still waiting",
                                w.bound
                            );
                            if w.bound < Instant::MAX {
                                prop_assert!(
                                    recheck_at.is_some_and(|at| at <= w.bound),
                                    "asked at {seen:?}: recheck at {recheck_at:?}, past its bound {:?}",
                                    w.bound
                                );
                            }
                            waiting.push(Waiting {
                                wait,
                                recheck_at,
                                ..w
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

fn quota() -> Quota {
    Quota::per_second(10).unwrap().with_burst(2).unwrap()
}

proptest! {
    #[test]
    fn bulkhead(trace in trace()) {
        // A long queue wait of its own: the call's bounds come first.
        let config = BulkheadConfig::builder()
            .max_concurrent(2)
            .max_wait(Duration::from_secs(10))
            .build()
            .unwrap();
        let bulkhead: Bulkhead<8> = Bulkhead::new(config);
        keeps_to_bounds(bulkhead, |_| (), &trace)?;
    }

    #[test]
    fn gcra(trace in trace()) {
        keeps_to_bounds(Throttle::new(Gcra::new(quota())).max_wait(Duration::from_secs(10)), |_| (), &trace)?;
    }

    #[test]
    fn keyed_gcra(trace in trace()) {
        let table = Throttle::new(KeyedGcra::<u8, 2>::new(quota(), 7)).max_wait(Duration::from_secs(10));
        keeps_to_bounds(table, |k| k, &trace)?;
    }

    #[test]
    fn token_bucket(trace in trace()) {
        let bucket = TokenBucket::new(2, 1, Duration::from_millis(100)).unwrap();
        keeps_to_bounds(Throttle::new(bucket).max_wait(Duration::from_secs(10)), |_| (), &trace)?;
    }

    #[test]
    fn fixed_window(trace in trace()) {
        let window = FixedWindow::new(2, Duration::from_millis(300)).unwrap();
        keeps_to_bounds(Throttle::new(window).max_wait(Duration::from_secs(10)), |_| (), &trace)?;
    }

    #[test]
    fn sliding_window(trace in trace()) {
        let window = SlidingWindow::<4>::new(2, Duration::from_millis(300)).unwrap();
        keeps_to_bounds(Throttle::new(window).max_wait(Duration::from_secs(10)), |_| (), &trace)?;
    }
}
