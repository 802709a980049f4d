//! One property for every gated machine (`Admission::GATED`: the circuit
//! breaker and fail fast today): behind [`Shared`], whose lock-free gate
//! answers some calls from two atomic words without taking the lock, the
//! machine answers every call exactly as it does bare: admitted or rejected,
//! the reason, `retry_at`, and the next deadline. Instants range over all of
//! `u64`, the last representable ones included: the gate's word once rounded
//! an end of `MAX - 1 ns` to its neighbour (a fail fast probing at
//! `MAX - 1 ns` told callers to retry 1 ns early). A new gated machine joins
//! by adding one `proptest!` line.

use core::fmt::Debug;
use core::time::Duration;

use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
use failsafe_core::failfast::{FailFast, FailFastConfig};
use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
use failsafe_core::{Instant, Outcome};
use proptest::prelude::*;

/// One step of a trace.
#[derive(Clone, Debug)]
enum Op {
    /// A call starts this many ns after the previous step.
    Enter(u64),
    /// The oldest call in flight ends this many ns after the previous step.
    Exit(u64, Outcome),
}

/// What a caller sees of an answer (permits are compared by what they do
/// next: both copies are handed back with the same outcome).
#[derive(Debug, PartialEq)]
enum Seen {
    Admitted,
    Rejected(failsafe_core::Rejected),
    Pending(Option<Instant>),
}

fn seen<P, W>(entry: Entry<P, W>, held: &mut Vec<P>) -> Seen {
    match entry {
        Entry::Admitted(p) => {
            held.push(p);
            Seen::Admitted
        }
        Entry::Rejected(r) => Seen::Rejected(r),
        Entry::Pending { recheck_at, .. } => Seen::Pending(recheck_at),
    }
}

/// Runs `trace` from `start` on a bare machine and on the same machine behind
/// `Shared`, and asserts that every answer agrees.
fn agrees<M>(make: impl Fn() -> M, start: u64, trace: &[Op])
where
    M: Admission<Key = ()>,
    M::Wait: Debug,
{
    let mut bare = make();
    let shared = Shared::from_lock(CsLock::new(make()));
    let (mut bare_held, mut shared_held) = (Vec::new(), Vec::new());
    let mut now = start;
    for (step, op) in trace.iter().enumerate() {
        match *op {
            Op::Enter(after) => {
                now = now.saturating_add(after);
                let call = Call::at(Instant::from_nanos(now));
                let b = seen(bare.enter(&call, None), &mut bare_held);
                let s = seen(shared.enter(&call, None), &mut shared_held);
                assert_eq!(b, s, "step {step}: a call at {now} ns");
            }
            Op::Exit(after, outcome) => {
                now = now.saturating_add(after);
                if bare_held.is_empty() {
                    continue;
                }
                let at = Instant::from_nanos(now);
                bare.exit(at, bare_held.remove(0), outcome);
                shared.exit(at, shared_held.remove(0), outcome);
            }
        }
        assert_eq!(
            Admission::next_deadline(&bare),
            SharedAdmission::next_deadline(&shared),
            "step {step}: the next deadline at {now} ns"
        );
    }
}

/// Starts anywhere, often within a few ns or µs of the last instant.
fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        any::<u64>(),
        (0..4_000u64).prop_map(|back| u64::MAX - back),
    ]
}

/// A wait, short, long or near `u64::MAX` ns.
fn wait() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1..3_000u64).prop_map(Duration::from_nanos),
        (0..4u64).prop_map(|back| Duration::from_nanos(u64::MAX - back)),
        any::<u64>().prop_map(Duration::from_nanos),
    ]
}

/// A wait and a start; half the time the start is chosen so that a wait
/// begun within a few ns of it ends on or around the last representable
/// instants (`MAX - 8 ns` to `MAX`), where the gate's word has its markers.
fn timing() -> impl Strategy<Value = (Duration, u64)> {
    prop_oneof![
        (wait(), start()),
        wait().prop_flat_map(|w| {
            let end = u64::MAX.saturating_sub(w.as_nanos() as u64);
            (
                Just(w),
                (0..8u64).prop_map(move |back| end.saturating_sub(back)),
            )
        }),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![Just(Outcome::Failure), Just(Outcome::Success)]
}

fn trace() -> impl Strategy<Value = Vec<Op>> {
    let gap = prop_oneof![6 => 0..3u64, 1 => 0..3_000u64, 1 => any::<u64>()];
    let op = prop_oneof![
        gap.clone().prop_map(Op::Enter),
        (gap, outcome()).prop_map(|(g, o)| Op::Exit(g, o)),
    ];
    proptest::collection::vec(op, 1..40)
}

fn breaker(failures: u32, wait: Duration) -> impl Fn() -> CircuitBreaker<NoWindow> {
    let config = BreakerConfig::builder()
        .consecutive_failures(failures)
        .open_wait(wait)
        .build()
        .expect("a valid breaker config");
    move || CircuitBreaker::new(config, NoWindow)
}

fn fail_fast(failures: u32, probe: Option<Duration>) -> impl Fn() -> FailFast {
    let mut builder = FailFastConfig::builder().consecutive_failures(failures);
    if let Some(interval) = probe {
        builder = builder.probe_interval(interval);
    }
    let config = builder.build().expect("a valid fail fast config");
    move || FailFast::new(config)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_shared_breaker_answers_as_the_bare_one(
        failures in 1..3u32, (wait, start) in timing(), trace in trace()
    ) {
        agrees(breaker(failures, wait), start, &trace);
    }

    #[test]
    fn a_shared_fail_fast_answers_as_the_bare_one(
        failures in 1..3u32, probe in any::<bool>(), (wait, start) in timing(), trace in trace()
    ) {
        agrees(fail_fast(failures, probe.then_some(wait)), start, &trace);
    }
}

/// The failing input from CI's fuzz smoke, reduced: a fail fast whose probe
/// is due at `MAX - 1 ns` rejects earlier calls with exactly that `retry_at`,
/// bare and shared.
#[test]
fn a_probe_due_at_the_next_to_last_instant_is_told_exactly() {
    let start = u64::MAX - 11;
    let trace = [Op::Enter(0), Op::Exit(1, Outcome::Failure), Op::Enter(1)];
    agrees(fail_fast(1, Some(Duration::from_nanos(9))), start, &trace);
}
