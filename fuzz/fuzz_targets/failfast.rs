//! Fuzzes the fail fast: an arbitrary `FailFastConfig` from the builder's
//! settings (any failure count, probe interval or none, expected duration,
//! learning or not, a cap, a safety margin; invalid ones included), and a
//! timeline of acquisitions with any deadline (none, passed, tight, far),
//! records of any held permit with any outcome (stale ones included),
//! leaked permits, `open` / `close` / `report_healthy` /
//! `report_unhealthy` / `reset` and `on_deadline`, with `now` free to stall,
//! step back, sit near `u64::MAX` or land on `next_deadline()`.
//!
//! Besides "never panics, never overflows" (cargo-fuzz builds with debug
//! assertions and overflow checks), every step checks:
//!
//! - an invalid configuration is an `Err` naming the first bad field in the
//!   builder's order, a valid one is accepted and reads back as set;
//! - never admits while open except probes: with no probe interval nothing
//!   at all; with one, the first probe no earlier than `interval` after
//!   opening and each next one no earlier than `interval` after the last
//!   (or after the last probe that came back cancelled or ignored, which
//!   gives its turn back); a rejection while open says `FailFastOpen` with
//!   `retry_at` the next probe instant; a probe is admitted as soon as it
//!   is due (unless its deadline is too short, which does not use it up);
//! - never admits a call whose deadline has passed or leaves less than the
//!   expected duration plus the margin (`min_remaining`), and admits every
//!   closed call whose deadline fits; the expected duration is the
//!   configured one, or a learned one within the range of the samples (and
//!   the seed) and under the cap;
//! - consecutive failures are counted as documented, and a closed fail fast
//!   opens exactly when they reach the threshold; a successful probe closes
//!   it; nothing else closes it by itself;
//! - a permit issued before the last open or close changes nothing when
//!   recorded (state, streak, estimate, probe schedule, counters) except
//!   the stale-outcome count;
//! - `next_deadline()` is the unreported due probe; `on_deadline` reports a
//!   due probe once and never changes the state;
//! - the clock contract: a twin fed `max(now, latest)` for every call
//!   decides, schedules and counts exactly as the fail fast;
//! - a `SharedFailFast` (a `CsLock` behind the lock-free rejection gate) fed
//!   the same calls decides exactly as the bare machine and reports the same
//!   metrics, as long as `now` never steps back (its gate compares the raw
//!   `now`, so after a step back it may refuse what the machine, clamping
//!   time, would admit: stricter, by design).
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use failsafe_core::failfast::{
    CloseCause, FailFast, FailFastConfig, FailFastEvent, FailFastPermit, OpenCause, State,
};
use failsafe_core::sync::{CsLock, SharedFailFast};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome, RejectReason};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Zero,
    Nanos(u16),
    Millis(u16),
    Secs(u32),
    Raw(u64),
    Max,
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Zero => Duration::ZERO,
            Dur::Nanos(n) => Duration::from_nanos(n.into()),
            Dur::Millis(ms) => Duration::from_millis(ms.into()),
            Dur::Secs(s) => Duration::from_secs(s.into()),
            Dur::Raw(n) => Duration::from_nanos(n),
            Dur::Max => Duration::MAX,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct ConfigIn {
    consecutive_failures: u8,
    probe_interval: Option<Dur>,
    expected: Dur,
    learn: Option<u8>,
    max_expected: Option<Dur>,
    margin: Dur,
}

impl ConfigIn {
    /// The first field the builder must name, in its order of checks.
    fn problem(&self) -> Option<&'static str> {
        if self.consecutive_failures == 0 {
            return Some("consecutive_failures");
        }
        if self.probe_interval.is_some_and(|d| nanos(d.get()) == 0) {
            return Some("probe_interval");
        }
        if self.learn == Some(0) {
            return Some("learn_expected_duration");
        }
        if let Some(max) = self.max_expected {
            let max = nanos(max.get());
            if max == 0 || max < nanos(self.expected.get()) {
                return Some("max_expected_duration");
            }
        }
        None
    }

    fn build(&self) -> Result<FailFastConfig, failsafe_core::ConfigError> {
        let mut b = FailFastConfig::builder()
            .consecutive_failures(self.consecutive_failures.into())
            .expected_duration(self.expected.get())
            .safety_margin(self.margin.get());
        if let Some(d) = self.probe_interval {
            b = b.probe_interval(d.get());
        }
        if let Some(n) = self.learn {
            b = b.learn_expected_duration(n.into());
        }
        if let Some(d) = self.max_expected {
            b = b.max_expected_duration(d.get());
        }
        b.build()
    }
}

/// The next `now`, relative to the latest one (so time can step back).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    LaterNanos(u8),
    LaterMicros(u32),
    LaterSecs(u16),
    EarlierMicros(u32),
    At(u64),
    NearMax(u16),
    Max,
    /// `next_deadline()` (or the same time), as a well-behaved driver wakes.
    Deadline,
}

/// A caller's deadline, relative to its `now`.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum DeadlineIn {
    Never,
    After(Dur),
    /// Exactly `min_remaining` away, give or take a few nanoseconds.
    Tight(i8),
    Passed(u32),
    At(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OutcomeIn {
    Success,
    Failure,
    Timeout,
    Cancelled,
    Ignored,
    Unhealthy,
}

impl OutcomeIn {
    fn get(self) -> Outcome {
        match self {
            OutcomeIn::Success => Outcome::Success,
            OutcomeIn::Failure => Outcome::Failure,
            OutcomeIn::Timeout => Outcome::Timeout,
            OutcomeIn::Cancelled => Outcome::Cancelled,
            OutcomeIn::Ignored => Outcome::Ignored,
            OutcomeIn::Unhealthy => Outcome::Unhealthy,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Event {
    Acquire(Time, DeadlineIn),
    Record(Time, u8, OutcomeIn),
    /// Drops a held permit unrecorded (a leaked guard).
    Leak(u8),
    Open(Time),
    Close(Time),
    Healthy(Time),
    Unhealthy(Time),
    OnDeadline(Time),
    Reset(Time),
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: ConfigIn,
    events: Vec<Event>,
}

#[derive(Debug, Default)]
struct Tally(Vec<FailFastEvent>);

impl Observer<FailFastEvent> for Tally {
    fn on_event(&mut self, event: FailFastEvent) {
        self.0.push(event);
    }
}

/// The same fail fast shared through `&self` (a `CsLock`, and the
/// lock-free rejection gate in front of it), fed the same calls.
type Shared = SharedFailFast<(), CsLock<FailFast<()>>>;

struct Held {
    permit: FailFastPermit,
    /// The shared twin's permit for the same call.
    twin: Option<FailFastPermit>,
    /// The clock-contract twin's permit for the same call.
    clamped: FailFastPermit,
    /// The harness's epoch when it was issued (opens + closes seen).
    epoch: u64,
}

struct Harness {
    ff: FailFast<Tally>,
    /// Dropped once `now` steps back: its gate compares the raw `now`, the
    /// machine a clamped one, so from then on it may be stricter (by design).
    twin: Option<Shared>,
    /// The clock contract: the same fail fast fed `max(now, latest)` for
    /// every call decides, schedules and counts exactly as this one.
    clamped: FailFast<()>,
    config: FailFastConfig,
    interval: Option<u64>,
    cursor: u64,
    /// The latest `now` handed over: every call notes it, so this is the
    /// fail fast's own idea of the time.
    latest: u64,
    epoch: u64,
    events_seen: usize,
    held: Vec<Held>,
    /// Consecutive failures as documented.
    streak: u32,
    /// While open with a probe interval: the next probe's earliest instant.
    probe_at: Option<u64>,
    /// When the current probe was admitted, until it reports: while it is
    /// out, open rejections cannot know when (its success may close it).
    probe_out: Option<u64>,
    /// The range of learned samples and seed the estimate must stay within.
    hull: Option<(u64, u64)>,
}

impl Harness {
    fn time(&mut self, t: Time) -> u64 {
        let base = self.cursor;
        let now = match t {
            Time::Same => base,
            Time::LaterNanos(n) => base.saturating_add(n.into()),
            Time::LaterMicros(us) => base.saturating_add(u64::from(us) * 1_000),
            Time::LaterSecs(s) => base.saturating_add(u64::from(s) * 1_000_000_000),
            Time::EarlierMicros(us) => base.saturating_sub(u64::from(us) * 1_000),
            Time::At(n) => n,
            Time::NearMax(back) => u64::MAX - u64::from(back),
            Time::Max => u64::MAX,
            Time::Deadline => self.ff.next_deadline().map_or(base, Instant::as_nanos),
        };
        self.cursor = now;
        if now < self.latest {
            self.twin = None;
        }
        self.latest = self.latest.max(now);
        now
    }

    /// Follows the fail fast's own transitions (from its events) and checks
    /// the ones it may make.
    fn events(&mut self, may_open: bool, may_close_by_probe: bool) {
        let events: Vec<FailFastEvent> = self.ff.observer().0[self.events_seen..].to_vec();
        self.events_seen = self.ff.observer().0.len();
        for e in events {
            match e {
                FailFastEvent::Opened { at, cause } => {
                    assert!(may_open, "opened ({cause}) when it may not");
                    assert_eq!(at.as_nanos(), self.latest, "opened at {at}, not now");
                    self.epoch += 1;
                    self.probe_at = self.interval.map(|i| self.latest.saturating_add(i));
                    self.probe_out = None;
                }
                FailFastEvent::Closed { at, cause } => {
                    if cause == CloseCause::ProbeSucceeded {
                        assert!(may_close_by_probe, "closed by a probe that did not succeed");
                    }
                    assert_eq!(at.as_nanos(), self.latest);
                    self.epoch += 1;
                    self.probe_at = None;
                    self.probe_out = None;
                }
                _ => {}
            }
        }
        let m = self.ff.metrics();
        assert_eq!(m.consecutive_failures, self.streak, "failure streak");
        match m.state {
            State::Closed => {
                assert_eq!(self.ff.next_deadline(), None);
                assert_eq!(self.ff.rejecting_until(), None);
            }
            State::Open => {
                assert_eq!(
                    m.next_probe_at.map(Instant::as_nanos),
                    self.probe_at.filter(|&at| at != u64::MAX),
                    "the next probe is not one interval after the last (or after opening; never past the clock's end)"
                );
                // the lock-free gate's "until": the next probe, unless one is
                // out (then every call must ask the machine), or forever
                let until = match (self.probe_at, self.probe_out) {
                    (None, _) => Some(Instant::MAX),
                    (Some(at), None) => Some(Instant::from_nanos(at)),
                    (Some(_), Some(_)) => None,
                };
                assert_eq!(self.ff.rejecting_until(), until);
                if let Some(d) = self.ff.next_deadline() {
                    assert_eq!(Some(d.as_nanos()), self.probe_at);
                    assert_ne!(d, Instant::MAX, "a probe at the end of time is a deadline");
                }
            }
        }
        // The expected duration: configured, or learned within its samples.
        let expected = nanos(self.ff.expected_duration());
        match (self.config.learn_smoothing(), self.hull) {
            (None, _) => assert_eq!(expected, nanos(self.config.expected_duration())),
            (Some(_), Some((lo, hi))) => {
                let cap = nanos(self.config.max_expected_duration());
                assert!(
                    expected <= cap && expected >= lo.min(cap) && expected <= hi.max(lo),
                    "learned {expected} ns outside [{lo}, {hi}] (cap {cap})"
                );
            }
            (Some(_), None) => assert_eq!(expected, nanos(self.config.expected_duration())),
        }
        assert_eq!(
            nanos(self.ff.min_remaining()),
            expected.saturating_add(nanos(self.config.safety_margin()))
        );
        assert_eq!(
            self.clamped.metrics(),
            m,
            "clock contract: the fail fast fed the latest now went another way"
        );
        assert_eq!(self.clamped.next_deadline(), self.ff.next_deadline());
        assert_eq!(self.clamped.rejecting_until(), self.ff.rejecting_until());
        assert_eq!(
            self.clamped.expected_duration(),
            self.ff.expected_duration()
        );
        if let Some(twin) = &self.twin {
            assert_eq!(twin.metrics(), m, "the shared fail fast went its own way");
        }
    }

    fn acquire(&mut self, t: Time, d: DeadlineIn) {
        let now = self.time(t);
        let eff = self.latest;
        let min_remaining = nanos(self.ff.min_remaining());
        let deadline = match d {
            DeadlineIn::Never => Deadline::NEVER,
            DeadlineIn::After(d) => Deadline::after(Instant::from_nanos(now), d.get()),
            DeadlineIn::Tight(delta) => Deadline::at(Instant::from_nanos(
                eff.saturating_add(min_remaining)
                    .saturating_add_signed(delta.into()),
            )),
            DeadlineIn::Passed(back) => {
                Deadline::at(Instant::from_nanos(eff.saturating_sub(back.into())))
            }
            DeadlineIn::At(at) => Deadline::at(Instant::from_nanos(at)),
        };
        let fits = deadline.is_never() || {
            let remaining = deadline.instant().as_nanos().saturating_sub(eff);
            remaining > 0 && remaining >= min_remaining
        };
        let before = self.ff.metrics();
        let result = self.ff.acquire(Instant::from_nanos(now), deadline);
        let clamped = self.clamped.acquire(Instant::from_nanos(eff), deadline);
        let mut clamped_permit = match (&result, clamped) {
            (Ok(p), Ok(q)) => {
                assert_eq!((p.is_probe(), p.issued_at()), (q.is_probe(), q.issued_at()));
                Some(q)
            }
            (Err(a), Err(b)) => {
                assert_eq!(
                    *a, b,
                    "clock contract: acquire at {now} decided otherwise than at the latest now {eff}"
                );
                None
            }
            (a, b) => {
                panic!("clock contract: acquire at {now} gave {a:?}, at the latest now {eff} {b:?}")
            }
        };
        let mut twin_permit = None;
        if let Some(twin) = &self.twin {
            match (&result, twin.acquire(Instant::from_nanos(now), deadline)) {
                (Ok(p), Ok(q)) => {
                    assert_eq!(p.is_probe(), q.is_probe());
                    twin_permit = Some(q);
                }
                (Err(a), Err(b)) => assert_eq!(
                    (a.reason, a.retry_at),
                    (b.reason, b.retry_at),
                    "the shared fail fast decided otherwise: {a:?} / {b:?}"
                ),
                (Ok(_), Err(b)) => {
                    panic!("the shared fail fast refused ({b:?}) what the machine admits")
                }
                (Err(a), Ok(_)) => {
                    panic!("the shared fail fast admitted what the machine refuses ({a:?})")
                }
            }
        }
        match (before.state, result) {
            (State::Closed, Ok(permit)) => {
                assert!(
                    fits,
                    "admitted a deadline of {deadline:?} at {eff} needing {min_remaining} ns"
                );
                assert!(!permit.is_probe());
                self.held.push(Held {
                    permit,
                    twin: twin_permit.take(),
                    clamped: clamped_permit
                        .take()
                        .expect("the clamped twin admitted too"),
                    epoch: self.epoch,
                });
            }
            (State::Closed, Err(r)) => {
                assert!(!fits, "rejected a closed call whose deadline fits: {r:?}");
                assert_eq!(
                    (r.reason, r.retry_at),
                    (RejectReason::DeadlineTooShort, None)
                );
            }
            (State::Open, Ok(permit)) => {
                assert!(permit.is_probe(), "admitted a non-probe while open");
                let due = self
                    .probe_at
                    .expect("a probe admitted with no probe interval");
                assert!(eff >= due, "a probe admitted at {eff}, before {due}");
                assert_ne!(due, u64::MAX, "a probe past the end of time was admitted");
                assert!(fits, "a probe admitted with a deadline too short");
                self.probe_at = self.interval.map(|i| eff.saturating_add(i));
                self.probe_out = Some(permit.issued_at().as_nanos());
                self.held.push(Held {
                    permit,
                    twin: twin_permit.take(),
                    clamped: clamped_permit
                        .take()
                        .expect("the clamped twin admitted too"),
                    epoch: self.epoch,
                });
            }
            (State::Open, Err(r)) => match self.probe_at {
                Some(due) if eff >= due && due != u64::MAX => {
                    // Due: only a short deadline keeps it out, and the
                    // probe is not used up.
                    assert!(!fits, "a due probe was refused: {r:?}");
                    assert_eq!(r.reason, RejectReason::DeadlineTooShort);
                }
                due => {
                    assert_eq!(r.reason, RejectReason::FailFastOpen);
                    // the next probe is the earliest admission, unless a probe
                    // is out (its success may close it sooner) or the next
                    // one lies at the end of the clock (never comes): unknown
                    let earliest = due.filter(|at| self.probe_out.is_none() && *at != u64::MAX);
                    assert_eq!(r.retry_at.map(Instant::as_nanos), earliest);
                }
            },
        }
        assert_eq!(self.ff.state(), before.state, "acquire changed the state");
        self.events(false, false);
    }

    fn record(&mut self, t: Time, i: u8, outcome: Outcome) {
        if self.held.is_empty() {
            return;
        }
        let i = usize::from(i) % self.held.len();
        let now = self.time(t);
        let held = self.held.swap_remove(i);
        let stale = held.epoch != self.epoch;
        let probe = held.permit.is_probe();
        let issued = held.permit.issued_at().as_nanos();
        let before = self.ff.metrics();
        let (mut may_open, mut may_close) = (false, false);
        let current_probe = !stale && probe && self.probe_out == Some(issued);
        if current_probe {
            self.probe_out = None; // the current probe reported
        }
        if !stale {
            if outcome.is_failure() {
                self.streak = self.streak.saturating_add(1);
                may_open = before.state == State::Closed
                    && (self.streak >= self.config.consecutive_failures()
                        || outcome == Outcome::Unhealthy);
            } else if outcome.counts() {
                self.streak = 0;
                if self.config.learn_smoothing().is_some() {
                    let took = self.latest.saturating_sub(issued);
                    let seed = nanos(self.config.expected_duration());
                    let (lo, hi) = self.hull.unwrap_or(if seed == 0 {
                        (took, took)
                    } else {
                        (seed, seed)
                    });
                    self.hull = Some((lo.min(took), hi.max(took)));
                }
                may_close = probe;
            } else if current_probe && before.state == State::Open {
                // The current probe, saying nothing, gives its turn back;
                // one it replaced (silent past its interval) has none left.
                if let Some(at) = self.probe_at.as_mut() {
                    *at = (*at).min(self.latest);
                }
            }
        }
        self.ff
            .record(Instant::from_nanos(now), held.permit, outcome);
        self.clamped
            .record(Instant::from_nanos(self.latest), held.clamped, outcome);
        if let (Some(twin), Some(q)) = (&self.twin, held.twin) {
            twin.record(Instant::from_nanos(now), q, outcome);
        }
        let after = self.ff.metrics();
        if stale {
            let mut expected = before;
            expected.stale_outcomes += 1;
            assert_eq!(after, expected, "a stale permit changed something");
        } else {
            assert_eq!(
                after.stale_outcomes, before.stale_outcomes,
                "a current permit counted as stale"
            );
            if may_open {
                assert_eq!(
                    after.state,
                    State::Open,
                    "{} failures in a row did not open it",
                    self.streak
                );
                let cause = if outcome == Outcome::Unhealthy {
                    OpenCause::Unhealthy
                } else {
                    OpenCause::ConsecutiveFailures
                };
                assert_eq!(after.open_cause, Some(cause));
            } else if may_close && before.state == State::Open {
                assert_eq!(
                    after.state,
                    State::Closed,
                    "a successful probe did not close it"
                );
                self.streak = 0;
            } else {
                assert_eq!(after.state, before.state, "{outcome} moved the state");
            }
        }
        self.events(may_open, may_close);
    }

    fn open(&mut self, t: Time, kind: u8) {
        let now = Instant::from_nanos(self.time(t));
        let was = self.ff.state();
        match kind {
            0 => self.ff.open(now),
            _ => self.ff.report_unhealthy(now),
        }
        let eff = Instant::from_nanos(self.latest);
        if kind == 0 {
            self.clamped.open(eff)
        } else {
            self.clamped.report_unhealthy(eff)
        }
        if let Some(twin) = &self.twin {
            twin.with(|ff| {
                if kind == 0 {
                    ff.open(now)
                } else {
                    ff.report_unhealthy(now)
                }
            });
        }
        assert_eq!(self.ff.state(), State::Open);
        if was == State::Open {
            self.events(false, false);
        } else {
            self.events(true, false);
            let cause = if kind == 0 {
                OpenCause::Manual
            } else {
                OpenCause::Unhealthy
            };
            assert_eq!(self.ff.metrics().open_cause, Some(cause));
        }
    }

    fn close(&mut self, t: Time, kind: u8) {
        let now = Instant::from_nanos(self.time(t));
        let eff = Instant::from_nanos(self.latest);
        match kind {
            0 => self.clamped.close(eff),
            1 => self.clamped.report_healthy(eff),
            _ => self.clamped.reset(eff),
        }
        if let Some(twin) = &self.twin {
            match kind {
                0 => twin.with(|ff| ff.close(now)),
                1 => twin.with(|ff| ff.report_healthy(now)),
                _ => twin.reset(now),
            }
        }
        match kind {
            0 => self.ff.close(now),
            1 => self.ff.report_healthy(now),
            _ => {
                self.ff.reset(now);
                self.hull = None;
                let m = self.ff.metrics();
                assert_eq!(
                    (
                        m.times_opened,
                        m.stale_outcomes,
                        m.probes_admitted,
                        m.rejected_open
                    ),
                    (0, 0, 0, 0)
                );
            }
        }
        self.streak = 0;
        assert_eq!(self.ff.state(), State::Closed);
        self.events(false, false);
    }

    fn on_deadline(&mut self, t: Time) {
        let now = self.time(t);
        let state = self.ff.state();
        let due = self.ff.next_deadline();
        let seen = self.events_seen;
        self.ff.on_deadline(Instant::from_nanos(now));
        self.clamped.on_deadline(Instant::from_nanos(self.latest));
        if let Some(twin) = &self.twin {
            twin.with(|ff| ff.on_deadline(Instant::from_nanos(now)));
        }
        assert_eq!(self.ff.state(), state, "on_deadline changed the state");
        let reported = self.ff.observer().0[seen..]
            .iter()
            .filter(|e| matches!(e, FailFastEvent::ProbeDue { .. }))
            .count();
        match due {
            Some(d) if self.latest >= d.as_nanos() => {
                assert_eq!(reported, 1, "a due probe reported {reported} times");
                assert_eq!(self.ff.next_deadline(), None, "reported, still due");
            }
            _ => {
                assert_eq!(reported, 0);
                assert_eq!(self.ff.next_deadline(), due);
            }
        }
        self.events(false, false);
    }
}

fuzz_target!(|input: Input| {
    let c = input.config;
    let config = match (c.build(), c.problem()) {
        (Ok(config), None) => config,
        (Err(e), Some(field)) => {
            assert_eq!(e.field, field, "{c:?}");
            assert!(e.to_string().contains(field));
            return;
        }
        (Ok(_), Some(field)) => panic!("{c:?} accepted with a bad `{field}`"),
        (Err(e), None) => panic!("{c:?} is valid but rejected: {e}"),
    };
    assert_eq!(
        config.consecutive_failures(),
        u32::from(c.consecutive_failures)
    );
    assert_eq!(
        config.probe_interval().map(nanos),
        c.probe_interval.map(|d| nanos(d.get()))
    );
    assert_eq!(nanos(config.expected_duration()), nanos(c.expected.get()));
    assert_eq!(config.learn_smoothing(), c.learn.map(u32::from));
    assert_eq!(nanos(config.safety_margin()), nanos(c.margin.get()));
    let mut h = Harness {
        ff: FailFast::with_observer(config, Tally::default()),
        twin: Some(SharedFailFast::new(CsLock::new(FailFast::new(config)))),
        clamped: FailFast::new(config),
        config,
        interval: config.probe_interval().map(nanos),
        cursor: 0,
        latest: 0,
        epoch: 0,
        events_seen: 0,
        held: Vec::new(),
        streak: 0,
        probe_at: None,
        probe_out: None,
        hull: None,
    };
    for &event in &input.events {
        match event {
            Event::Acquire(t, d) => h.acquire(t, d),
            Event::Record(t, i, o) => h.record(t, i, o.get()),
            Event::Leak(i) => {
                if !h.held.is_empty() {
                    let i = usize::from(i) % h.held.len();
                    let _leaked = h.held.swap_remove(i);
                }
            }
            Event::Open(t) => h.open(t, 0),
            Event::Unhealthy(t) => h.open(t, 1),
            Event::Close(t) => h.close(t, 0),
            Event::Healthy(t) => h.close(t, 1),
            Event::Reset(t) => h.close(t, 2),
            Event::OnDeadline(t) => h.on_deadline(t),
        }
    }
});
