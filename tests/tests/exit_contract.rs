//! A machine whose `exit` changes nothing says so
//! (`Admission::NEEDS_EXIT` false), and the shared handles take it at its
//! word: they hand such a permit back without taking the lock, and the
//! tower layer keeps no handle for it. Checked once for every such machine
//! ([`same_without_exits`]): any trace of calls (admitted, rejected,
//! waiting, resumed, cancelled) gets the same answers whether or not each
//! admitted permit is handed back with `exit`, whatever the outcome. The
//! machines that do need their exits say so too ([`declared`]).

use core::fmt::Debug;
use core::time::Duration;

use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::failfast::{FailFast, FailFastConfig};
use failsafe_core::rate::{
    FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, Throttle, TokenBucket,
};
use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
use failsafe_core::{Instant, Outcome};
use proptest::prelude::*;

/// One step of a trace, `ms` after the previous one.
#[derive(Clone, Debug)]
enum Op {
    /// A call for `key` taking `weight` permits, waiting at most `wait_ms`.
    Enter { key: u8, weight: u32, wait_ms: u64 },
    /// The oldest admitted call ends so (with `exit`, in one run only).
    Exit { outcome: u8 },
    /// The oldest waiting call is asked again, or gives its place up.
    Waited { resume: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..4, 0u32..3, prop_oneof![Just(0u64), 0u64..400]).prop_map(|(key, weight, wait_ms)| {
            Op::Enter {
                key,
                weight,
                wait_ms,
            }
        }),
        (0u8..5).prop_map(|outcome| Op::Exit { outcome }),
        any::<bool>().prop_map(|resume| Op::Waited { resume }),
    ]
}

fn outcome(o: u8) -> Outcome {
    match o {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        2 => Outcome::Timeout,
        3 => Outcome::Cancelled,
        _ => Outcome::Ignored,
    }
}

/// One machine through the trace: `exits` says whether admitted permits
/// are handed back; every answer, in order, as text.
fn run<M: Admission>(
    mut machine: M,
    key: impl Fn(u8) -> M::Key,
    trace: &[(u64, Op)],
    exits: bool,
) -> Vec<String>
where
    M::Key: Sized,
    M::Permit: Debug,
    M::Wait: Debug,
{
    let (mut now, mut held, mut waiting) = (0u64, Vec::new(), Vec::new());
    let mut answers = Vec::new();
    for (step, op) in trace {
        now += step * 1_000_000;
        let at = Instant::from_nanos(now);
        match op {
            Op::Enter {
                key: k,
                weight,
                wait_ms,
            } => {
                let k = key(*k);
                let call = Call::at(at)
                    .with_key(&k)
                    .with_weight(*weight)
                    .with_max_wait(Some(Duration::from_millis(*wait_ms)));
                let entry = machine.enter(&call, None);
                answers.push(format!("{entry:?}"));
                match entry {
                    Entry::Admitted(p) => held.push(p),
                    Entry::Pending { wait, .. } => waiting.push((k, *weight, wait)),
                    Entry::Rejected(_) => {}
                }
            }
            Op::Exit { outcome: o } => {
                if held.is_empty() {
                    continue;
                }
                let permit = held.remove(0);
                if exits {
                    machine.exit(at, permit, outcome(*o));
                }
            }
            Op::Waited { resume } => {
                if waiting.is_empty() {
                    continue;
                }
                let (k, weight, wait) = waiting.remove(0);
                if *resume {
                    let call = Call::at(at).with_key(&k).with_weight(weight);
                    let entry = machine.resume(&call, wait, None);
                    answers.push(format!("resumed {entry:?}"));
                    match entry {
                        Entry::Admitted(p) => held.push(p),
                        Entry::Pending { wait, .. } => waiting.push((k, weight, wait)),
                        Entry::Rejected(_) => {}
                    }
                } else {
                    machine.cancel(at, wait);
                }
            }
        }
    }
    answers
}

/// The one check, for a machine that says its `exit` changes nothing.
fn same_without_exits<M: Admission>(
    make: impl Fn() -> M,
    key: impl Fn(u8) -> M::Key + Copy,
    trace: &[(u64, Op)],
) -> Result<(), TestCaseError>
where
    M::Key: Sized,
    M::Permit: Debug,
    M::Wait: Debug,
{
    prop_assert!(!M::NEEDS_EXIT, "checked only for machines that say so");
    let with = run(make(), key, trace, true);
    let without = run(make(), key, trace, false);
    prop_assert_eq!(with, without);
    Ok(())
}

fn trace() -> impl Strategy<Value = Vec<(u64, Op)>> {
    prop::collection::vec((0u64..120, op()), 1..80)
}

fn quota() -> Quota {
    Quota::per_second(10).unwrap().with_burst(3).unwrap()
}

proptest! {
    #[test]
    fn gcra(trace in trace()) {
        same_without_exits(|| Throttle::new(Gcra::new(quota())), |_| (), &trace)?;
    }

    #[test]
    fn keyed_gcra(trace in trace()) {
        same_without_exits(|| Throttle::new(KeyedGcra::<u8, 2>::new(quota(), 7)), |k| k, &trace)?;
    }

    #[test]
    fn token_bucket(trace in trace()) {
        let bucket = || TokenBucket::new(3, 1, Duration::from_millis(100)).unwrap();
        same_without_exits(|| Throttle::new(bucket()), |_| (), &trace)?;
    }

    #[test]
    fn fixed_window(trace in trace()) {
        let window = || FixedWindow::new(3, Duration::from_millis(300)).unwrap();
        same_without_exits(|| Throttle::new(window()), |_| (), &trace)?;
    }

    #[test]
    fn sliding_window(trace in trace()) {
        let window = || SlidingWindow::<4>::new(3, Duration::from_millis(300)).unwrap();
        same_without_exits(|| Throttle::new(window()), |_| (), &trace)?;
    }
}

/// Every rate limiter says its exit changes nothing, through a shared
/// handle too; the machines that count how calls end say they need it.
#[test]
fn declared() {
    fn needs<M: Admission>(_: &M) -> bool {
        M::NEEDS_EXIT
    }
    fn shared_needs<S: SharedAdmission>(_: &S) -> bool {
        S::NEEDS_EXIT
    }
    let limiter = Throttle::new(Gcra::new(quota()));
    assert!(!needs(&limiter));
    assert!(!shared_needs(&Shared::new(CsLock::new(limiter))));
    let breaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    assert!(needs(&breaker));
    let bulkhead: Bulkhead = Bulkhead::new(BulkheadConfig::DEFAULT);
    assert!(needs(&bulkhead));
    assert!(shared_needs(&Shared::new(CsLock::new(bulkhead))));
    assert!(needs(&FailFast::new(FailFastConfig::DEFAULT)));
}
