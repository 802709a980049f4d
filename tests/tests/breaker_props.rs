//! Properties of the circuit breaker that users rely on, over arbitrary
//! configurations and event sequences (including time going backwards).

use core::time::Duration;

use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, CircuitBreaker, CountWindow, HalfOpenRule, NoWindow, Sample,
    State, TimeWindow, Window,
};
use failsafe_core::sync::{Lock, SharedBreaker};
use failsafe_core::{Instant, Observer, Outcome, RejectReason};
use proptest::prelude::*;

/// Counts half-open rounds so the harness knows which probes belong together,
/// and logs the events of the current step for the half-open model.
#[derive(Default)]
struct Rounds {
    round: u64,
    events: Vec<BreakerEvent>,
}

impl Observer<BreakerEvent> for Rounds {
    fn on_event(&mut self, event: BreakerEvent) {
        match event {
            BreakerEvent::StateChanged { .. } | BreakerEvent::ProbesExpired { .. } => {
                self.round += 1
            }
            _ => {}
        }
        self.events.push(event);
    }
}

/// What the harness has seen counted in the current half-open round.
#[derive(Clone, Copy, Debug, Default)]
struct RoundModel {
    successes: u32,
    failures: u32,
    slow: u32,
}

#[derive(Clone, Debug)]
enum Op {
    /// Move the clock by this many ms (negative: the clock steps back).
    Tick(i64),
    Acquire,
    /// Report the held permit at this index (mod len) with this outcome.
    Record(usize, Outcome),
    /// Lose the held permit at this index: it never reports.
    Leak(usize),
    Deadline,
    Open,
    Close,
    ForceOpen,
    Disable,
    MetricsOnly,
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
        6 => (-2_000i64..20_000).prop_map(Op::Tick),
        8 => Just(Op::Acquire),
        8 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Record(i, o)),
        1 => any::<usize>().prop_map(Op::Leak),
        2 => Just(Op::Deadline),
        1 => Just(Op::Open),
        1 => Just(Op::Close),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Disable),
        1 => Just(Op::MetricsOnly),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    (
        prop::option::of(0.05f32..=1.0),
        prop::option::of(1u32..6),
        prop::option::of(1u64..3_000),
        1u32..12,
        1u64..20_000,
        1u32..4,
        1u32..5,
        1u64..30_000,
        any::<bool>(),
    )
        .prop_filter_map(
            "a config with a trip condition",
            |(rate, consecutive, slow, min_calls, wait, mult, probes, lease, rate_rule)| {
                let mut b = BreakerConfig::builder()
                    .minimum_calls(min_calls)
                    .open_wait(Duration::from_millis(wait))
                    .open_wait_backoff(mult, Duration::from_millis(wait * 4))
                    .half_open_probes(probes)
                    .success_threshold(probes.div_ceil(2))
                    .probe_lease(Duration::from_millis(lease));
                if rate_rule {
                    b = b.half_open_rule(HalfOpenRule::RateThresholds);
                }
                b = match rate {
                    Some(r) => b.failure_rate_threshold(r),
                    None => b.no_failure_rate(),
                };
                if let Some(n) = consecutive {
                    b = b.consecutive_failures(n);
                }
                if let Some(ms) = slow {
                    b = b.slow_call_duration(Duration::from_millis(ms));
                }
                b.build().ok()
            },
        )
}

struct Held {
    permit: failsafe_core::breaker::BreakerPermit,
    round: u64,
}

/// Runs `ops` against a breaker and checks, after every step:
/// - outstanding probes of the current half-open round never exceed the quota;
/// - while a rejection promised "not before T", nothing is admitted before T;
/// - every rejection keeps the `retry_at` convention: open says exactly when
///   (strictly later), half-open full and forced open say "unknown" (`None`);
/// - a half-open round is judged as its [`HalfOpenRule`] says (checked
///   against a model of the probes counted in the round);
/// - metrics stay consistent.
fn check_sequence<W: Window>(
    config: BreakerConfig,
    window: W,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut b = CircuitBreaker::with_observer(config, window, Rounds::default());
    let mut raw_now: i64 = 0;
    let mut latest = 0u64; // the monotonic time the breaker sees
    let mut held: Vec<Held> = Vec::new();
    let mut leaked: Vec<Held> = Vec::new();
    let mut promised: Option<Instant> = None; // "open until" from a rejection
    let mut model = RoundModel::default();

    for op in ops {
        let now = Instant::from_millis(raw_now.max(0) as u64);
        latest = latest.max(now.as_nanos());
        // The probe reported in this step, if any: (outcome, its duration).
        let mut reported: Option<(Outcome, Duration)> = None;
        let manual = matches!(
            op,
            Op::Open | Op::Close | Op::ForceOpen | Op::Disable | Op::MetricsOnly
        );
        match op {
            Op::Tick(d) => raw_now += d,
            Op::Acquire => match b.acquire(now) {
                Ok(permit) => {
                    if let Some(until) = promised {
                        prop_assert!(
                            latest >= until.as_nanos(),
                            "admitted at {latest} before the promised {until}"
                        );
                    }
                    let round = b.observer().round;
                    if permit.is_probe() {
                        let out = held
                            .iter()
                            .chain(&leaked)
                            .filter(|h| h.permit.is_probe() && h.round == round)
                            .count();
                        prop_assert!(
                            out < config.half_open_probes() as usize,
                            "probe quota exceeded"
                        );
                    }
                    held.push(Held { permit, round });
                }
                Err(r) => match r.reason {
                    RejectReason::BreakerOpen => {
                        prop_assert_eq!(b.state(), State::Open);
                        let at = r.retry_at.expect("an open rejection says when");
                        prop_assert!(at.as_nanos() > latest, "retry_at {at} is not in the future");
                        promised = Some(at);
                    }
                    RejectReason::BreakerHalfOpenFull => {
                        prop_assert_eq!(b.state(), State::HalfOpen);
                        prop_assert_eq!(r.retry_at, None, "a probe may report at any moment");
                    }
                    RejectReason::BreakerForcedOpen => {
                        prop_assert_eq!(b.state(), State::ForcedOpen);
                        prop_assert_eq!(r.retry_at, None, "an operator decides");
                    }
                    other => prop_assert!(false, "a breaker rejected with {other:?}"),
                },
            },
            Op::Record(i, outcome) if !held.is_empty() => {
                let h = held.swap_remove(i % held.len());
                if h.permit.is_probe() {
                    let took = Duration::from_nanos(latest - h.permit.issued_at().as_nanos());
                    reported = Some((outcome, took));
                }
                b.record(now, h.permit, outcome);
            }
            Op::Leak(i) if !held.is_empty() => {
                let h = held.swap_remove(i % held.len());
                leaked.push(h);
            }
            Op::Record(..) | Op::Leak(_) => {}
            Op::Deadline => b.on_deadline(now),
            Op::Open => {
                b.open(now);
                promised = None;
            }
            Op::Close => {
                b.close(now);
                promised = None;
            }
            Op::ForceOpen => {
                b.force_open(now);
                promised = None;
            }
            Op::Disable => {
                b.disable(now);
                promised = None;
            }
            Op::MetricsOnly => {
                b.metrics_only(now);
                promised = None;
            }
        }
        if promised.is_some_and(|p| latest >= p.as_nanos()) {
            promised = None;
        }
        let m = b.metrics(now);
        prop_assert!(m.failures <= m.calls && m.slow_calls <= m.calls);
        prop_assert!(m.probes_in_flight <= config.half_open_probes());
        let events = core::mem::take(&mut b.observer_mut().events);
        check_half_open(&config, &mut model, &events, reported, manual)?;
    }

    // Return every permit still held; leaked ones never come back. Then go
    // far past every lease: no probe may stay in flight (no wedged half-open).
    let end = Instant::from_millis(raw_now.max(0) as u64);
    for h in held.drain(..) {
        b.record(end, h.permit, Outcome::Success);
    }
    let far = Instant::from_nanos(latest).saturating_add(Duration::from_secs(3_600));
    b.on_deadline(far);
    let m = b.metrics(far);
    prop_assert_eq!(m.probes_in_flight, 0, "a leaked probe wedged half-open");
    if b.state() == State::HalfOpen {
        let p = b.acquire(far);
        prop_assert!(
            p.is_ok(),
            "half-open with nothing in flight must admit a probe"
        );
    }
    Ok(())
}

/// Replays one step's events against the model of the current half-open
/// round: `reported` is the probe outcome the step reported (counted unless
/// the events say it was stale), applied just before the round's judgment.
fn check_half_open(
    config: &BreakerConfig,
    model: &mut RoundModel,
    events: &[BreakerEvent],
    reported: Option<(Outcome, Duration)>,
    manual: bool,
) -> Result<(), TestCaseError> {
    let stale = events
        .iter()
        .any(|e| matches!(e, BreakerEvent::StaleOutcome { .. }));
    let mut report = reported.filter(|(o, _)| o.counts() && !stale);
    let apply = |model: &mut RoundModel, (outcome, took): (Outcome, Duration)| {
        let slow = config.is_slow(took);
        match config.half_open_rule() {
            HalfOpenRule::RateThresholds => {
                if outcome.is_failure() {
                    model.failures += 1;
                } else {
                    model.successes += 1;
                }
                model.slow += slow as u32;
            }
            _ => {
                if outcome == Outcome::Success && !slow {
                    model.successes += 1;
                } else {
                    model.failures += 1;
                }
            }
        }
    };
    let (n, k) = (config.half_open_probes(), config.success_threshold());
    for event in events {
        match *event {
            BreakerEvent::ProbesExpired { count, .. } => model.failures += count,
            BreakerEvent::StateChanged {
                to: State::HalfOpen,
                ..
            } => {
                *model = RoundModel::default();
            }
            BreakerEvent::StateChanged {
                from: State::HalfOpen,
                to,
                ..
            } if !manual => {
                if let Some(r) = report.take() {
                    apply(model, r);
                }
                let m = *model;
                match config.half_open_rule() {
                    HalfOpenRule::RateThresholds => {
                        prop_assert_eq!(
                            m.successes + m.failures,
                            n,
                            "judged before every permitted probe reported: {:?}",
                            m
                        );
                        if m.failures == 0 && m.slow == 0 {
                            prop_assert_eq!(to, State::Closed, "a clean round must close");
                        }
                    }
                    _ => match to {
                        State::Closed => prop_assert_eq!(m.successes, k, "{:?}", m),
                        _ => prop_assert!(m.failures > n - k && m.successes < k, "{:?}", m),
                    },
                }
                *model = RoundModel::default();
            }
            BreakerEvent::StateChanged { .. } => *model = RoundModel::default(),
            _ => {}
        }
    }
    if let Some(r) = report {
        apply(model, r);
    }
    Ok(())
}

/// A `std` mutex as the shared breaker's lock.
struct StdLock<T>(std::sync::Mutex<T>);

impl<T> Lock<T> for StdLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

/// Runs `ops` (with a clock that never steps back) on a machine and on a
/// `SharedBreaker` around an identical machine: every admission and every
/// rejection (reason and `retry_at`), the state and the rejection count agree,
/// so the lock-free paths keep the machine's `retry_at` convention.
fn check_shared_twin(config: BreakerConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut machine = CircuitBreaker::new(config, CountWindow::<8>::new());
    let shared = SharedBreaker::new(StdLock(std::sync::Mutex::new(CircuitBreaker::new(
        config,
        CountWindow::<8>::new(),
    ))));
    let mut t = 0u64;
    let mut held = Vec::new();
    for op in ops {
        let now = Instant::from_millis(t);
        match op {
            Op::Tick(d) => t += d.unsigned_abs(),
            Op::Acquire => match (machine.acquire(now), shared.acquire(now)) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(a.is_probe(), b.is_probe());
                    held.push((a, b));
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b, "at {}", now),
                (a, b) => prop_assert!(false, "machine {:?}, shared {:?} at {}", a, b, now),
            },
            Op::Record(i, outcome) if !held.is_empty() => {
                let (a, b) = held.swap_remove(i % held.len());
                machine.record(now, a, outcome);
                shared.record(now, b, outcome);
            }
            Op::Leak(i) if !held.is_empty() => {
                let _ = held.swap_remove(i % held.len());
            }
            Op::Record(..) | Op::Leak(_) => {}
            Op::Deadline => {
                machine.on_deadline(now);
                shared.on_deadline(now);
            }
            Op::Open => {
                machine.open(now);
                shared.with(|b| b.open(now));
            }
            Op::Close => {
                machine.close(now);
                shared.with(|b| b.close(now));
            }
            Op::ForceOpen => {
                machine.force_open(now);
                shared.with(|b| b.force_open(now));
            }
            Op::Disable => {
                machine.disable(now);
                shared.with(|b| b.disable(now));
            }
            Op::MetricsOnly => {
                machine.metrics_only(now);
                shared.with(|b| b.metrics_only(now));
            }
        }
        prop_assert_eq!(machine.state(), shared.state());
        prop_assert_eq!(machine.metrics(now).rejected, shared.metrics(now).rejected);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_shared_breaker_answers_exactly_as_its_machine(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        check_shared_twin(config, ops)?;
    }

    #[test]
    fn count_window_breaker_keeps_its_promises(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        check_sequence(config, CountWindow::<8>::new(), ops)?;
    }

    #[test]
    fn time_window_breaker_keeps_its_promises(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        check_sequence(config, TimeWindow::<4>::new(Duration::from_secs(4)).unwrap(), ops)?;
    }

    #[test]
    fn consecutive_breaker_keeps_its_promises(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        check_sequence(config, NoWindow, ops)?;
    }

    /// Feeding a clock that steps backwards gives exactly the decisions of
    /// feeding the same clock clamped to its running maximum.
    #[test]
    fn time_going_backwards_is_no_time_passed(
        config in config(),
        steps in prop::collection::vec((0u64..100_000, outcome(), any::<bool>()), 1..200),
    ) {
        let mut raw = CircuitBreaker::new(config, CountWindow::<8>::new());
        let mut clamped = CircuitBreaker::new(config, CountWindow::<8>::new());
        let mut max = 0;
        for (t, outcome, acquire_only) in steps {
            max = u64::max(max, t);
            let (a, b) = (raw.acquire(Instant::from_millis(t)), clamped.acquire(Instant::from_millis(max)));
            prop_assert_eq!(a.as_ref().err(), b.as_ref().err());
            if let (Ok(pa), Ok(pb)) = (a, b) {
                if acquire_only {
                    raw.record(Instant::from_millis(t), pa, Outcome::Cancelled);
                    clamped.record(Instant::from_millis(max), pb, Outcome::Cancelled);
                } else {
                    raw.record(Instant::from_millis(t), pa, outcome);
                    clamped.record(Instant::from_millis(max), pb, outcome);
                }
            }
            prop_assert_eq!(raw.state(), clamped.state());
            prop_assert_eq!(raw.next_deadline(), clamped.next_deadline());
        }
    }

    /// An open breaker admits a probe at exactly the instant it promised.
    #[test]
    fn an_open_breaker_admits_exactly_at_retry_at(config in config(), opened_at in 0u64..1u64 << 50, ask_at in 0u64..1u64 << 20) {
        let mut b = CircuitBreaker::new(config, NoWindow);
        b.open(Instant::from_nanos(opened_at));
        let asked = Instant::from_nanos(opened_at + ask_at);
        match b.acquire(asked) {
            Err(r) => {
                let at = r.retry_at.unwrap();
                prop_assert!(at > asked);
                prop_assert!(b.acquire(Instant::from_nanos(at.as_nanos() - 1)).is_err());
                prop_assert!(b.acquire(at).unwrap().is_probe());
            }
            Ok(p) => prop_assert!(ask_at >= config.open_wait().as_nanos() as u64 && p.is_probe()),
        }
    }

    /// The count window holds exactly the last N samples.
    #[test]
    fn count_window_matches_a_naive_model(samples in prop::collection::vec((any::<bool>(), any::<bool>()), 0..100)) {
        let mut w = CountWindow::<7>::new();
        for (i, &(failed, slow)) in samples.iter().enumerate() {
            w.record(Instant::ZERO, Sample { failed, slow });
            let tail = &samples[(i + 1).saturating_sub(7)..=i];
            let t = w.totals(Instant::ZERO);
            prop_assert_eq!(t.calls, tail.len() as u64);
            prop_assert_eq!(t.failures, tail.iter().filter(|s| s.0).count() as u64);
            prop_assert_eq!(t.slow, tail.iter().filter(|s| s.1).count() as u64);
        }
    }

    /// The bit-packed count window, across word boundaries, with bulk
    /// successes and clears, holds exactly the last N samples.
    #[test]
    fn count_window_bits_match_a_naive_model(ops in prop::collection::vec(window_op(), 0..300)) {
        check_count_window(CountWindow::<7, 1>::new(), &ops)?;
        check_count_window(CountWindow::<32, 1>::new(), &ops)?;
        check_count_window(CountWindow::<33, 2>::new(), &ops)?;
        check_count_window(CountWindow::<100>::new(), &ops)?;
        check_count_window(CountWindow::<128>::new(), &ops)?;
        check_count_window(CountWindow::<5, 3>::new(), &ops)?; // more words than needed
    }

    /// The time window holds exactly the samples whose bucket is among the last B.
    #[test]
    fn time_window_matches_a_naive_model(
        gaps in prop::collection::vec((0u64..3_000, any::<bool>()), 0..100),
        probe_gap in 0u64..10_000,
    ) {
        const B: u64 = 5;
        let bucket = 1_000u64; // ms: a 5 s window in 5 buckets
        let mut w = TimeWindow::<5>::new(Duration::from_millis(B * bucket)).unwrap();
        let mut t = 0;
        let mut log = Vec::new();
        for (gap, failed) in gaps {
            t += gap;
            w.record(Instant::from_millis(t), Sample { failed, slow: false });
            log.push((t, failed));
        }
        let now = t + probe_gap;
        let head = now / bucket;
        let live: Vec<_> = log.iter().filter(|(at, _)| at / bucket + B > head).collect();
        let totals = w.totals(Instant::from_millis(now));
        prop_assert_eq!(totals.calls, live.len() as u64);
        prop_assert_eq!(totals.failures, live.iter().filter(|(_, f)| *f).count() as u64);
    }
}

#[derive(Clone, Debug)]
enum WindowOp {
    Record(bool, bool),
    Successes(u32),
    Clear,
}

fn window_op() -> impl Strategy<Value = WindowOp> {
    prop_oneof![
        8 => (any::<bool>(), any::<bool>()).prop_map(|(f, s)| WindowOp::Record(f, s)),
        2 => (0u32..300).prop_map(WindowOp::Successes),
        1 => Just(WindowOp::Clear),
    ]
}

/// Runs `ops` on `w` and on a list of samples, comparing totals after each.
fn check_count_window<W: Window>(mut w: W, ops: &[WindowOp]) -> Result<(), TestCaseError> {
    let n = w.capacity().unwrap() as usize;
    let mut log: Vec<(bool, bool)> = Vec::new();
    for op in ops {
        match *op {
            WindowOp::Record(failed, slow) => {
                w.record(Instant::ZERO, Sample { failed, slow });
                log.push((failed, slow));
            }
            WindowOp::Successes(k) => {
                w.record_successes(Instant::ZERO, k);
                log.extend(std::iter::repeat_n((false, false), k as usize));
            }
            WindowOp::Clear => {
                w.clear();
                log.clear();
            }
        }
        let tail = &log[log.len().saturating_sub(n)..];
        let t = w.totals(Instant::ZERO);
        prop_assert_eq!(t.calls, tail.len() as u64);
        prop_assert_eq!(t.failures, tail.iter().filter(|s| s.0).count() as u64);
        prop_assert_eq!(t.slow, tail.iter().filter(|s| s.1).count() as u64);
    }
    Ok(())
}

proptest! {
    /// A configuration replaced at run time (`set_config`, what a registry
    /// reload does) keeps the state and the counts at that instant, never
    /// lets the probes out exceed the larger of the two quotas, and never
    /// wedges half-open: once every permit is back and the leases are
    /// past, nothing is in flight and a half-open breaker admits a probe.
    #[test]
    fn a_config_replaced_at_run_time_keeps_the_state(
        first in config(),
        second in config(),
        ops in prop::collection::vec(op(), 0..160),
        at in 0usize..160,
    ) {
        let mut b = CircuitBreaker::new(first, CountWindow::<8>::new());
        let quota = first.half_open_probes().max(second.half_open_probes());
        let mut held = Vec::new();
        let mut raw_now: i64 = 0;
        let mut latest = Instant::ZERO;
        for (i, op) in ops.into_iter().enumerate() {
            if let Op::Tick(d) = op {
                raw_now += d;
            }
            let now = Instant::from_millis(raw_now.max(0) as u64);
            latest = latest.max(now);
            if i == at {
                let before = b.metrics(now);
                let old = b.set_config(now, second);
                prop_assert_eq!(old, first);
                prop_assert_eq!(*b.config(), second);
                prop_assert_eq!(b.metrics(now), before, "the state and counts are kept");
            }
            match op {
                Op::Acquire => {
                    if let Ok(p) = b.acquire(now) {
                        held.push(p);
                    }
                }
                Op::Record(j, outcome) if !held.is_empty() => {
                    let p = held.swap_remove(j % held.len());
                    b.record(now, p, outcome);
                }
                Op::Leak(j) if !held.is_empty() => {
                    let _ = held.swap_remove(j % held.len());
                }
                Op::Deadline => b.on_deadline(now),
                Op::Open => b.open(now),
                Op::Close => b.close(now),
                Op::ForceOpen => b.force_open(now),
                Op::Disable => b.disable(now),
                Op::MetricsOnly => b.metrics_only(now),
                _ => {}
            }
            let m = b.metrics(now);
            prop_assert!(m.failures <= m.calls && m.slow_calls <= m.calls);
            prop_assert!(m.probes_in_flight <= quota);
        }
        for p in held.drain(..) {
            b.record(latest, p, Outcome::Success);
        }
        let far = latest.saturating_add(Duration::from_secs(3_600));
        b.on_deadline(far);
        prop_assert_eq!(b.metrics(far).probes_in_flight, 0, "a probe wedged half-open");
        if b.state() == State::HalfOpen {
            prop_assert!(b.acquire(far).is_ok());
        }
    }
}
