//! Properties of fail fast that users rely on, over arbitrary configurations
//! and event sequences (including time going backwards and stale permits).

use core::time::Duration;

use failsafe_core::failfast::{
    FailFast, FailFastConfig, FailFastEvent, FailFastPermit, OpenCause, State,
};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome, RejectReason};
use proptest::prelude::*;

/// Counts transitions (so the harness knows which permits are stale) and
/// remembers when the current open began.
#[derive(Default)]
struct Log {
    transitions: u64,
    stale: u64,
    opened_at: Option<Instant>,
    opens: u64,
}

impl Observer<FailFastEvent> for Log {
    fn on_event(&mut self, event: FailFastEvent) {
        match event {
            FailFastEvent::Opened { at, .. } => {
                self.transitions += 1;
                self.opens += 1;
                self.opened_at = Some(at);
            }
            FailFastEvent::Closed { .. } => {
                self.transitions += 1;
                self.opened_at = None;
            }
            FailFastEvent::StaleOutcome { .. } => self.stale += 1,
            _ => {}
        }
    }
}

/// Where a call's deadline lies.
#[derive(Clone, Copy, Debug)]
enum Due {
    /// No deadline.
    Never,
    /// This many ms after the (raw) clock.
    Millis(u64),
    /// Right at the boundary: the machine's latest time plus its current
    /// `min_remaining()`, plus this many ns (may be negative).
    Boundary(i64),
}

#[derive(Clone, Debug)]
enum Op {
    /// Move the clock by this many ms (negative: the clock steps back).
    Tick(i64),
    /// Acquire with a deadline (see [`Due`]).
    Acquire(Due),
    /// Report the held permit at this index (mod len) with this outcome.
    Record(usize, Outcome),
    /// Lose the held permit at this index: it never reports.
    Leak(usize),
    Deadline,
    Open,
    Close,
    Healthy,
    Unhealthy,
    Reset,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        4 => Just(Outcome::Failure),
        1 => Just(Outcome::Timeout),
        1 => Just(Outcome::Cancelled),
        1 => Just(Outcome::Ignored),
        1 => Just(Outcome::Unhealthy),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (-2_000i64..10_000).prop_map(Op::Tick),
        6 => prop_oneof![
            Just(Due::Never),
            (0u64..1_000).prop_map(Due::Millis),
        ]
        .prop_map(Op::Acquire),
        4 => (-3i64..=3).prop_map(|d| Op::Acquire(Due::Boundary(d))),
        8 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Record(i, o)),
        1 => any::<usize>().prop_map(Op::Leak),
        2 => Just(Op::Deadline),
        1 => Just(Op::Open),
        1 => Just(Op::Close),
        1 => Just(Op::Healthy),
        1 => Just(Op::Unhealthy),
        1 => Just(Op::Reset),
    ]
}

fn config() -> impl Strategy<Value = FailFastConfig> {
    (
        1u32..6,
        prop::option::of(1u64..5_000),
        prop::option::of(0u64..500),
        prop::option::of(1u32..8),
        prop::option::of(0u64..1_000),
        0u64..100,
    )
        .prop_filter_map(
            "a valid config",
            |(n, probe, expected, learn, max, margin)| {
                let mut b = FailFastConfig::builder()
                    .consecutive_failures(n)
                    .safety_margin(Duration::from_millis(margin));
                if let Some(ms) = probe {
                    b = b.probe_interval(Duration::from_millis(ms));
                }
                if let Some(ms) = expected {
                    b = b.expected_duration(Duration::from_millis(ms));
                }
                if let Some(k) = learn {
                    b = b.learn_expected_duration(k);
                }
                if let Some(ms) = max {
                    b = b.max_expected_duration(Duration::from_millis(ms));
                }
                b.build().ok()
            },
        )
}

struct Held {
    permit: FailFastPermit,
    /// Transitions seen when it was issued: if more happened since, it is stale.
    transitions: u64,
    /// Its place in the order of admissions.
    id: u64,
}

/// Runs `ops` and checks, after every step:
/// - while open nothing is admitted but a probe, at most one per interval
///   (the first one interval after opening, the next one interval after the
///   last, or at once after the probe out said nothing: a probe it replaced
///   gives no turn back), and never without a probe interval;
/// - no call is admitted whose deadline leaves less than the expected
///   duration plus margin as it stood just before (nor an expired one);
/// - open rejections promise a `retry_at` in the future (the next probe) or
///   none at all without probes;
/// - an outcome for a permit from before the last open/close changes nothing;
/// - the learned expected duration never exceeds its configured ceiling.
fn check_sequence(config: FailFastConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut ff = FailFast::with_observer(config, Log::default());
    let mut raw_now: i64 = 0;
    let mut latest = 0u64; // the monotonic time the machine sees
    let mut held: Vec<Held> = Vec::new();
    let mut leaked: Vec<Held> = Vec::new();
    // While open: probes may not be admitted before this.
    let mut next_probe_gate: Option<Instant> = None;
    // The probe out now (the last admitted, not yet reported): only its
    // silence gives the turn back, not a probe it replaced.
    let mut current_probe: Option<u64> = None;
    let mut admitted = 0u64;

    for op in ops {
        let now = Instant::from_millis(raw_now.max(0) as u64);
        // Only operations that hand `now` to the machine move its clock.
        let seen = match &op {
            Op::Tick(_) | Op::Leak(_) => false,
            Op::Record(..) => !held.is_empty(),
            _ => true,
        };
        match op {
            Op::Tick(d) => raw_now = raw_now.saturating_add(d),
            Op::Acquire(due) => {
                latest = latest.max(now.as_nanos());
                let deadline = match due {
                    Due::Never => Deadline::NEVER,
                    Due::Millis(d) => Deadline::after(now, Duration::from_millis(d)),
                    Due::Boundary(d) => {
                        let at = Instant::from_nanos(latest) + ff.min_remaining();
                        Deadline::at(Instant::from_nanos(at.as_nanos().saturating_add_signed(d)))
                    }
                };
                let state = ff.state();
                let opened_at = ff.observer().opened_at;
                let needed = ff.min_remaining();
                let expected = ff.expected_duration();
                match ff.acquire(now, deadline) {
                    Ok(permit) => {
                        let at = Instant::from_nanos(latest);
                        if state == State::Open {
                            prop_assert!(permit.is_probe(), "admitted a non-probe while open");
                            let interval = config.probe_interval();
                            prop_assert!(interval.is_some(), "a probe without a probe interval");
                            let gate = next_probe_gate
                                .unwrap_or_else(|| opened_at.unwrap() + interval.unwrap());
                            prop_assert!(at >= gate, "probe at {at} before {gate}");
                            next_probe_gate = Some(at + interval.unwrap());
                        } else {
                            prop_assert!(!permit.is_probe(), "a probe while closed");
                        }
                        if !deadline.is_never() {
                            let remaining = deadline.remaining(at);
                            prop_assert!(remaining > Duration::ZERO, "admitted past its deadline");
                            prop_assert!(
                                remaining >= needed && remaining >= expected,
                                "admitted with {remaining:?} left, needing {needed:?}"
                            );
                        }
                        let transitions = ff.observer().transitions;
                        admitted += 1;
                        if permit.is_probe() {
                            current_probe = Some(admitted);
                        }
                        held.push(Held {
                            permit,
                            transitions,
                            id: admitted,
                        });
                    }
                    Err(r) => match r.reason {
                        RejectReason::FailFastOpen => {
                            prop_assert_eq!(state, State::Open);
                            match config.probe_interval() {
                                Some(_) => match r.retry_at {
                                    Some(at) => prop_assert!(
                                        at.as_nanos() > latest,
                                        "retry_at {} is not in the future",
                                        at
                                    ),
                                    // unknown only while a probe is out (its
                                    // success may close it at any moment)
                                    None => prop_assert!(
                                        held.iter().chain(&leaked).any(|h| h.permit.is_probe()),
                                        "probes, none out: the rejection must say when"
                                    ),
                                },
                                None => prop_assert_eq!(r.retry_at, None),
                            }
                        }
                        RejectReason::DeadlineTooShort => {
                            prop_assert!(!deadline.is_never());
                            prop_assert_eq!(r.retry_at, None);
                            let remaining = deadline.remaining(Instant::from_nanos(latest));
                            prop_assert!(remaining == Duration::ZERO || remaining < needed);
                        }
                        other => prop_assert!(false, "unexpected reason {:?}", other),
                    },
                }
            }
            Op::Record(i, outcome) if !held.is_empty() => {
                let h = held.swap_remove(i % held.len());
                let stale = h.transitions != ff.observer().transitions;
                let before = (
                    ff.state(),
                    ff.metrics().consecutive_failures,
                    ff.expected_duration(),
                );
                let stale_before = ff.observer().stale;
                let current = current_probe == Some(h.id);
                if current {
                    current_probe = None;
                }
                let gives_turn_back =
                    !stale && current && !outcome.counts() && ff.state() == State::Open;
                ff.record(now, h.permit, outcome);
                if gives_turn_back {
                    // A probe that said nothing gives its turn back: probing may resume now.
                    latest = latest.max(now.as_nanos());
                    let at = Instant::from_nanos(latest);
                    next_probe_gate = Some(next_probe_gate.map_or(at, |gate| gate.min(at)));
                }
                if stale {
                    prop_assert_eq!(ff.observer().stale, stale_before + 1);
                    prop_assert_eq!(
                        (
                            ff.state(),
                            ff.metrics().consecutive_failures,
                            ff.expected_duration()
                        ),
                        before,
                        "a stale outcome changed something"
                    );
                } else {
                    prop_assert_eq!(ff.observer().stale, stale_before);
                }
            }
            Op::Leak(i) if !held.is_empty() => {
                let h = held.swap_remove(i % held.len());
                leaked.push(h);
            }
            Op::Record(..) | Op::Leak(_) => {}
            Op::Deadline => ff.on_deadline(now),
            Op::Open => ff.open(now),
            Op::Close => ff.close(now),
            Op::Healthy => ff.report_healthy(now),
            Op::Unhealthy => ff.report_unhealthy(now),
            Op::Reset => ff.reset(now),
        }
        if seen {
            latest = latest.max(now.as_nanos());
        }
        if ff.state() == State::Closed {
            next_probe_gate = None;
        }
        let m = ff.metrics();
        prop_assert!(m.expected_duration <= config.max_expected_duration());
        if config.learn_smoothing().is_none() {
            prop_assert_eq!(m.expected_duration, config.expected_duration());
        }
        prop_assert_eq!(m.state == State::Open, m.open_since.is_some());
        prop_assert_eq!(
            m.next_probe_at.is_some(),
            m.state == State::Open && config.probe_interval().is_some()
        );
        if m.open_cause == Some(OpenCause::ConsecutiveFailures) {
            prop_assert!(m.consecutive_failures >= config.consecutive_failures());
        }
        if let Some(at) = ff.next_deadline() {
            prop_assert_eq!(Some(at), m.next_probe_at);
        }
    }
    // With probes, an open fail fast always admits again eventually (no wedge,
    // whatever was leaked); without, it stays open until told otherwise.
    let far = Instant::from_nanos(latest).saturating_add(Duration::from_secs(3_600));
    if ff.state() == State::Open {
        let r = ff.acquire(far, Deadline::NEVER);
        prop_assert_eq!(r.is_ok(), config.probe_interval().is_some());
        if let Ok(p) = r {
            ff.record(far, p, Outcome::Success);
            prop_assert_eq!(ff.state(), State::Closed);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn fail_fast_keeps_its_promises(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        check_sequence(config, ops)?;
    }

    /// Feeding a clock that steps backwards gives exactly the decisions of
    /// feeding the same clock clamped to its running maximum.
    #[test]
    fn time_going_backwards_is_no_time_passed(
        config in config(),
        steps in prop::collection::vec((0u64..20_000, prop::option::of(0u64..1_000), outcome(), 0u8..8), 1..200),
    ) {
        let mut raw = FailFast::new(config);
        let mut clamped = FailFast::new(config);
        let mut max = 0;
        for (t, deadline_ms, outcome, action) in steps {
            max = u64::max(max, t);
            let (a, b) = (Instant::from_millis(t), Instant::from_millis(max));
            // the deadline is absolute: the same instant for both
            let deadline = deadline_ms.map_or(Deadline::NEVER, |d| Deadline::at(Instant::from_millis(t + d)));
            match action {
                0 => { raw.open(a); clamped.open(b); }
                1 => { raw.report_healthy(a); clamped.report_healthy(b); }
                2 => { raw.on_deadline(a); clamped.on_deadline(b); }
                _ => {
                    let (pa, pb) = (raw.acquire(a, deadline), clamped.acquire(b, deadline));
                    prop_assert_eq!(pa.is_ok(), pb.is_ok());
                    match (pa, pb) {
                        (Ok(pa), Ok(pb)) => {
                            prop_assert_eq!(pa.is_probe(), pb.is_probe());
                            raw.record(a, pa, outcome);
                            clamped.record(b, pb, outcome);
                        }
                        (Err(ra), Err(rb)) => prop_assert_eq!(ra, rb),
                        _ => unreachable!(),
                    }
                }
            }
            prop_assert_eq!(raw.metrics(), clamped.metrics());
            prop_assert_eq!(raw.next_deadline(), clamped.next_deadline());
        }
    }

    /// Extreme instants, durations and configurations never panic.
    #[test]
    fn arbitrary_extremes_never_panic(
        n in 1u32..=u32::MAX,
        probe in prop::option::of(1u64..=u64::MAX),
        expected in any::<u64>(),
        learn in prop::option::of(1u32..=u32::MAX),
        margin in any::<u64>(),
        steps in prop::collection::vec((any::<u64>(), any::<u64>(), outcome(), 0u8..8), 1..100),
    ) {
        let mut b = FailFastConfig::builder()
            .consecutive_failures(n)
            .expected_duration(Duration::from_nanos(expected))
            .safety_margin(Duration::from_nanos(margin));
        if let Some(p) = probe { b = b.probe_interval(Duration::from_nanos(p)); }
        if let Some(k) = learn { b = b.learn_expected_duration(k); }
        let mut ff = FailFast::new(b.build().unwrap());
        let mut held = Vec::new();
        for (t, d, outcome, action) in steps {
            let now = Instant::from_nanos(t);
            match action {
                0 => ff.open(now),
                1 => ff.close(now),
                2 => ff.report_unhealthy(now),
                3 => ff.on_deadline(now),
                4 => if let Some(p) = held.pop() { ff.record(now, p, outcome) },
                _ => if let Ok(p) = ff.acquire(now, Deadline::at(Instant::from_nanos(d))) { held.push(p) },
            }
            let _ = ff.metrics();
            let _ = ff.min_remaining();
        }
    }
}
