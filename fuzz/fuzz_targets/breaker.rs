//! Fuzzes the circuit breaker: an arbitrary configuration (valid or not), an
//! arbitrary window, and an arbitrary timeline of calls, outcomes, deadlines
//! and operator commands, with `now` free to jump, stall, step back or sit at
//! `u64::MAX`.
//!
//! Besides "never panics, never overflows" (cargo-fuzz builds with debug
//! assertions and overflow checks), every step checks what a user relies on:
//!
//! - an invalid configuration or window is an `Err` naming a field;
//! - a half-open round never has more probes out, or admitted, than
//!   `half_open_probes`, and rejects "half-open full" only when it really is;
//! - a rejection while open says to retry strictly later than the latest
//!   `now` seen, at the end of the open wait; half-open full says `None`
//!   (the earliest is unknown: a probe may report any moment), forced open
//!   `None`; closed, disabled and metrics-only breakers never reject;
//! - closed means under the threshold: on a count window at any time, and
//!   on a time window right after every counted record (which is judged);
//! - `next_deadline()` agrees with the state, and calling `on_deadline` at it
//!   always moves something (no busy loop for a driver);
//! - metrics never underflow (failures and slow calls never exceed calls) and
//!   agree with the permits the harness holds or leaked;
//! - the clock contract: a twin fed `max(now, latest)` for every call
//!   decides, schedules and counts exactly as the breaker;
//! - a probe that never reports (a leaked permit) cannot wedge half-open: past
//!   every lease, no probe is in flight any more.
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, BreakerPermit, CircuitBreaker, CountWindow,
    NoWindow, State, TimeWindow, Window,
};
use failsafe_core::{Instant, Observer, Outcome, RejectReason};
use libfuzzer_sys::fuzz_target;

/// A duration, biased towards the scales a breaker cares about but able to
/// reach anything `Duration` can hold (which exceeds `u64` nanoseconds).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Millis(u16),
    Nanos(u64),
    Secs(u64),
    Raw { secs: u64, nanos: u32 },
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Millis(ms) => Duration::from_millis(ms.into()),
            Dur::Nanos(n) => Duration::from_nanos(n),
            Dur::Secs(s) => Duration::from_secs(s),
            Dur::Raw { secs, nanos } => Duration::new(secs, nanos % 1_000_000_000),
        }
    }
}

/// A ratio: a percentage (0 and over 100 are invalid) or any `f32` at all
/// (NaN, infinities, negatives, subnormals).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ratio {
    Percent(u8),
    Raw(f32),
}

impl Ratio {
    fn get(self) -> f32 {
        match self {
            Ratio::Percent(p) => f32::from(p) / 100.0,
            Ratio::Raw(r) => r,
        }
    }
}

/// A count: small ones most of the time (so a window fills up within a
/// short timeline), any `u32` now and then.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Count {
    Small(u8),
    Any(u32),
}

impl Count {
    fn get(self) -> u32 {
        match self {
            Count::Small(n) => u32::from(n % 16),
            Count::Any(n) => n,
        }
    }
}

/// Every builder setting, each one optional (unset keeps the default).
#[derive(Arbitrary, Debug)]
struct ConfigInput {
    failure_rate: Option<Ratio>,
    no_failure_rate: bool,
    slow_call_duration: Option<Dur>,
    slow_call_rate: Option<Ratio>,
    minimum_calls: Option<Count>,
    consecutive_failures: Option<u32>,
    open_wait: Option<Dur>,
    open_wait_backoff: Option<(u32, Dur)>,
    half_open_probes: Option<u8>,
    half_open_probes_wide: Option<u32>,
    success_threshold: Option<u32>,
    probe_lease: Option<Dur>,
}

impl ConfigInput {
    fn build(&self) -> Result<BreakerConfig, failsafe_core::ConfigError> {
        let mut b = BreakerConfig::builder();
        if let Some(r) = self.failure_rate {
            b = b.failure_rate_threshold(r.get());
        }
        if self.no_failure_rate {
            b = b.no_failure_rate();
        }
        if let Some(d) = self.slow_call_duration {
            b = b.slow_call_duration(d.get());
        }
        if let Some(r) = self.slow_call_rate {
            b = b.slow_call_rate_threshold(r.get());
        }
        if let Some(n) = self.minimum_calls {
            b = b.minimum_calls(n.get());
        }
        if let Some(n) = self.consecutive_failures {
            b = b.consecutive_failures(n);
        }
        if let Some(d) = self.open_wait {
            b = b.open_wait(d.get());
        }
        if let Some((m, max)) = self.open_wait_backoff {
            b = b.open_wait_backoff(m, max.get());
        }
        if let Some(p) = self.half_open_probes {
            b = b.half_open_probes(p.into());
        }
        if let Some(p) = self.half_open_probes_wide {
            b = b.half_open_probes(p);
        }
        if let Some(s) = self.success_threshold {
            b = b.success_threshold(s);
        }
        if let Some(d) = self.probe_lease {
            b = b.probe_lease(d.get());
        }
        b.build()
    }

    /// The failure-rate threshold the built config uses, if any.
    fn failure_rate(&self) -> Option<f32> {
        if self.no_failure_rate {
            None
        } else {
            Some(self.failure_rate.map_or(0.5, Ratio::get))
        }
    }
}

#[derive(Arbitrary, Debug)]
enum WindowKind {
    Count,
    /// Two words of bits: calls cross a word boundary.
    Count40,
    Time(Dur),
    None,
}

/// The next `now`, relative to the previous one (so time can step back).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    LaterMicros(u32),
    LaterNanos(u8),
    EarlierMicros(u32),
    At(u64),
    Max,
    /// The last open rejection's `retry_at`, as a well-behaved caller waits.
    RetryAt,
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
    Acquire(Time),
    /// Report on one of the held permits (by index, modulo how many are held).
    Record(Time, u8, OutcomeIn),
    /// Drop a held permit without reporting it: a leaked call.
    Leak(u8),
    OnDeadline(Time),
    /// Call `on_deadline` exactly at `next_deadline()`.
    FireDeadline,
    Metrics(Time),
    Open(Time),
    Close(Time),
    ForceOpen(Time),
    Disable(Time),
    MetricsOnly(Time),
    Reset(Time),
}

#[derive(Arbitrary, Debug)]
struct Input {
    config: ConfigInput,
    window: WindowKind,
    /// For `open_wait_for` checks.
    open_count: u8,
    events: Vec<Event>,
}

/// Counts the events that (by the machine's documented contract) move its
/// epoch: every state change and every half-open lease expiry.
#[derive(Debug, Default)]
struct Tally {
    state_changes: u64,
    expiries: u64,
    latest_at: Instant,
}

impl Tally {
    fn generation(&self) -> u64 {
        self.state_changes + self.expiries
    }
}

impl Observer<BreakerEvent> for Tally {
    fn on_event(&mut self, event: BreakerEvent) {
        match event {
            BreakerEvent::StateChanged { from, to, at } => {
                assert!(
                    from != to || to == State::Open,
                    "no-op transition {from} -> {to}"
                );
                self.state_changes += 1;
                self.latest_at = self.latest_at.max(at);
            }
            BreakerEvent::ProbesExpired { at, count } => {
                assert!(count > 0, "expired zero probes");
                self.expiries += 1;
                self.latest_at = self.latest_at.max(at);
            }
            BreakerEvent::Rejected { at, .. } | BreakerEvent::StaleOutcome { at, .. } => {
                self.latest_at = self.latest_at.max(at);
            }
            _ => {}
        }
    }
}

/// A permit the harness holds, with the generation it was issued in.
#[derive(Debug)]
struct Held {
    permit: BreakerPermit,
    /// The clock-contract twin's permit for the same call.
    clamped: BreakerPermit,
    generation: u64,
}

struct Harness<W: Window> {
    breaker: CircuitBreaker<W, Tally>,
    /// The clock contract: the same breaker fed `max(now, latest)` for every
    /// call decides, schedules and counts exactly as this one.
    clamped: CircuitBreaker<W, ()>,
    config: BreakerConfig,
    // Settings the breaker does not expose, remembered from the input.
    /// Failure-rate threshold: checked on a count window at any time, and
    /// on every window right after a counted record while closed.
    failure_rate: Option<f32>,
    consecutive_failures: Option<u32>,
    minimum_calls: u32,
    probe_lease: Duration,
    count_window: Option<u32>,
    /// The last `now` handed in, and the latest (what the machine uses).
    cursor: Instant,
    latest: Instant,
    held: Vec<Held>,
    /// Generations of the probe permits dropped without a report.
    leaked_probes: Vec<u64>,
    /// Probes admitted in the current half-open round, minus the ones whose
    /// cancelled / ignored report gave the slot back.
    round: u64,
    round_admitted: u32,
    last_metrics: Option<BreakerMetrics>,
    /// The last `BreakerOpen` rejection's `retry_at`, and the state changes
    /// seen then: while nothing changed, the same request is refused (with
    /// the same `retry_at`) before it and admitted from it on.
    open_retry: Option<(Instant, u64)>,
}

impl<W: Window + Clone> Harness<W> {
    fn time(&mut self, t: Time) -> Instant {
        let c = self.cursor;
        self.cursor = match t {
            Time::Same => c,
            Time::LaterMicros(us) => c + Duration::from_micros(us.into()),
            Time::LaterNanos(ns) => c + Duration::from_nanos(ns.into()),
            Time::EarlierMicros(us) => c - Duration::from_micros(us.into()),
            Time::At(n) => Instant::from_nanos(n),
            Time::Max => Instant::MAX,
            Time::RetryAt => self.open_retry.map_or(c, |(at, _)| at),
        };
        self.latest = self.latest.max(self.cursor);
        self.cursor
    }

    fn generation(&self) -> u64 {
        self.breaker.observer().generation()
    }

    /// Follows the machine's rounds: a state change starts a new one.
    fn sync(&mut self) {
        let changes = self.breaker.observer().state_changes;
        if changes != self.round {
            self.round = changes;
            self.round_admitted = 0;
        }
    }

    /// Probes issued in the current generation and not yet reported.
    fn live_probes(&self) -> u32 {
        let g = self.generation();
        let held = self
            .held
            .iter()
            .filter(|h| h.generation == g && h.permit.is_probe())
            .count();
        let leaked = self.leaked_probes.iter().filter(|&&l| l == g).count();
        u32::try_from(held + leaked).unwrap()
    }

    fn step(&mut self, event: Event) {
        match event {
            Event::Acquire(t) => self.acquire(t),
            Event::Record(t, i, outcome) => self.record(t, i, outcome.get()),
            Event::Leak(i) => {
                if !self.held.is_empty() {
                    let h = self.held.swap_remove(usize::from(i) % self.held.len());
                    if h.permit.is_probe() {
                        self.leaked_probes.push(h.generation);
                    }
                }
            }
            Event::OnDeadline(t) => {
                let now = self.time(t);
                self.breaker.on_deadline(now);
                self.clamped.on_deadline(self.latest);
                self.sync();
            }
            Event::FireDeadline => self.fire_deadline(),
            Event::Metrics(t) => {
                let now = self.time(t);
                self.check_metrics(now);
            }
            Event::Open(t) => {
                let now = self.time(t);
                self.breaker.open(now);
                self.clamped.open(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::Open);
            }
            Event::Close(t) => {
                let now = self.time(t);
                self.breaker.close(now);
                self.clamped.close(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::Closed);
            }
            Event::ForceOpen(t) => {
                let now = self.time(t);
                self.breaker.force_open(now);
                self.clamped.force_open(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::ForcedOpen);
            }
            Event::Disable(t) => {
                let now = self.time(t);
                self.breaker.disable(now);
                self.clamped.disable(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::Disabled);
            }
            Event::MetricsOnly(t) => {
                let now = self.time(t);
                self.breaker.metrics_only(now);
                self.clamped.metrics_only(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::MetricsOnly);
            }
            Event::Reset(t) => {
                let now = self.time(t);
                self.breaker.reset(now);
                self.clamped.reset(self.latest);
                self.sync();
                assert_eq!(self.breaker.state(), State::Closed);
                // The counters start again from zero.
                self.last_metrics = None;
                let m = self.breaker.metrics(now);
                assert_eq!(
                    self.clamped.metrics(self.latest),
                    m,
                    "clock contract: metrics"
                );
                self.sync();
                assert_eq!((m.calls, m.rejected, m.times_opened), (0, 0, 0));
                assert_eq!(m.stale_outcomes, 0);
            }
        }
        self.check_state();
    }

    fn acquire(&mut self, t: Time) {
        let now = self.time(t);
        let changes = self.breaker.observer().state_changes;
        let result = self.breaker.acquire(now);
        // The `retry_at` convention: the earliest instant, exactly.
        if let Some((at, seen)) = self.open_retry
            && seen == changes
        {
            if self.latest >= at {
                assert!(
                    result.is_ok(),
                    "refused at {} ({result:?}), at or after the open breaker's own retry_at {at}",
                    self.latest
                );
            } else {
                assert_eq!(
                    result.as_ref().err().map(|r| (r.reason, r.retry_at)),
                    Some((RejectReason::BreakerOpen, Some(at))),
                    "before the open breaker's retry_at {at}, at {}",
                    self.latest
                );
            }
        }
        let clamped = match (&result, self.clamped.acquire(self.latest)) {
            (Ok(p), Ok(q)) => {
                assert_eq!((p.is_probe(), p.issued_at()), (q.is_probe(), q.issued_at()));
                Some(q)
            }
            (Err(a), Err(b)) => {
                assert_eq!(
                    *a, b,
                    "clock contract: acquire at {now} decided otherwise than at the latest now {}",
                    self.latest
                );
                None
            }
            (a, b) => panic!(
                "clock contract: acquire at {now} gave {a:?}, at the latest now {} {b:?}",
                self.latest
            ),
        };
        self.sync();
        let state = self.breaker.state();
        match result {
            Ok(permit) => {
                assert_eq!(permit.issued_at(), self.latest, "issued at the latest now");
                assert_eq!(permit.is_probe(), state == State::HalfOpen);
                if permit.is_probe() {
                    self.round_admitted += 1;
                }
                self.held.push(Held {
                    permit,
                    clamped: clamped.expect("the clamped twin admitted too"),
                    generation: self.generation(),
                });
            }
            Err(rejected) => match rejected.reason {
                RejectReason::BreakerOpen => {
                    assert_eq!(state, State::Open);
                    let at = rejected.retry_at.expect("an open breaker knows when");
                    if rejected.is_never() {
                        // its wait ends past the clock's range
                        assert_eq!(self.breaker.next_deadline(), None);
                        assert_eq!(self.breaker.rejecting_until(), Some(Instant::MAX));
                    } else {
                        assert!(
                            at > self.latest,
                            "retry_at {at} is not after {}",
                            self.latest
                        );
                        assert_eq!(Some(at), self.breaker.next_deadline());
                        self.open_retry = Some((at, self.breaker.observer().state_changes));
                    }
                }
                RejectReason::BreakerHalfOpenFull => {
                    assert_eq!(state, State::HalfOpen);
                    assert_eq!(
                        self.round_admitted,
                        self.config.half_open_probes(),
                        "half-open full before its quota was used"
                    );
                    // A probe may report any moment and free the round:
                    // the earliest instant is unknown (issue 7, item 6).
                    assert_eq!(
                        rejected.retry_at, None,
                        "half-open full must say None (earliest unknown), not a lease end"
                    );
                }
                RejectReason::BreakerForcedOpen => {
                    assert_eq!(state, State::ForcedOpen);
                    assert_eq!(rejected.retry_at, None);
                }
                other => panic!("unexpected rejection {other:?}"),
            },
        }
    }

    fn record(&mut self, t: Time, index: u8, outcome: Outcome) {
        if self.held.is_empty() {
            return;
        }
        let now = self.time(t);
        let h = self.held.swap_remove(usize::from(index) % self.held.len());
        let (changes, expiries) = {
            let tally = self.breaker.observer();
            (tally.state_changes, tally.expiries)
        };
        let live = h.generation == self.generation();
        let probe = h.permit.is_probe();
        self.breaker.record(now, h.permit, outcome);
        self.clamped.record(self.latest, h.clamped, outcome);
        let tally = self.breaker.observer();
        let quiet = tally.state_changes == changes && tally.expiries == expiries;
        // With no event during the call, the permit was judged in the
        // generation it was issued in iff it was live; a cancelled or ignored
        // live probe gives its slot back. (Any state change restarts the
        // round below; an expiry alone made the permit stale.)
        if quiet && live && probe && !outcome.counts() {
            self.round_admitted -= 1;
        }
        self.sync();
        // Every counted outcome recorded while closed is judged at once: if
        // the breaker stays closed, the window (count or time) is under the
        // threshold at that very instant.
        if quiet && live && !probe && outcome.counts() && self.breaker.state() == State::Closed {
            self.check_closed_under_threshold(now);
        }
    }

    /// Closed right after a judged record: fewer calls than the minimum, or a
    /// failure rate under the threshold, on either window.
    fn check_closed_under_threshold(&mut self, now: Instant) {
        let Some(threshold) = self.failure_rate else {
            return;
        };
        let m = self.breaker.metrics(now);
        assert_eq!(
            self.clamped.metrics(self.latest),
            m,
            "clock contract: metrics"
        );
        self.sync();
        assert_eq!(
            m.state,
            State::Closed,
            "reading the metrics moved the state"
        );
        let minimum = match self.count_window {
            Some(cap) => self.minimum_calls.min(cap),
            None => self.minimum_calls,
        };
        if let Some(rate) = m.failure_rate {
            assert!(
                m.calls < u64::from(minimum) || rate < threshold + 1e-4,
                "closed right after a record at a failure rate of {rate} over {} calls (threshold {threshold}, minimum {minimum}, {} window)",
                m.calls,
                if self.count_window.is_some() {
                    "count"
                } else {
                    "time"
                }
            );
        }
    }

    fn fire_deadline(&mut self) {
        let Some(deadline) = self.breaker.next_deadline() else {
            return;
        };
        let before = (self.breaker.state(), self.generation());
        self.cursor = deadline;
        self.latest = self.latest.max(deadline);
        self.breaker.on_deadline(deadline);
        self.clamped.on_deadline(self.latest);
        self.sync();
        let after = (self.breaker.state(), self.generation());
        assert!(
            before != after || self.breaker.next_deadline() != Some(deadline),
            "on_deadline({deadline}) changed nothing: a driver would spin"
        );
    }

    /// Pure checks after every step (no call that could move the machine).
    fn check_state(&self) {
        let state = self.breaker.state();
        let deadline = self.breaker.next_deadline();
        let rejecting = self.breaker.rejecting_until();
        assert_eq!(
            (
                self.clamped.state(),
                self.clamped.next_deadline(),
                self.clamped.rejecting_until()
            ),
            (state, deadline, rejecting),
            "clock contract: the breaker fed the latest now went another way"
        );
        let probes = self.config.half_open_probes();
        assert!(
            self.breaker.observer().latest_at <= self.latest,
            "an event dated after the latest now"
        );
        match state {
            // an open wait that would end past the clock's range never ends:
            // nothing to come back for, and its rejections say "never"
            State::Open if rejecting == Some(Instant::MAX) => {
                assert_eq!(deadline, None, "an endless open wait has no deadline");
            }
            State::Open => {
                let until = deadline.expect("open without a deadline");
                assert_eq!(rejecting, Some(until));
                assert!(
                    until > self.latest,
                    "open until {until}, not after the latest now"
                );
            }
            State::HalfOpen => {
                let live = self.live_probes();
                assert!(live <= probes, "{live} probes out, quota {probes}");
                assert!(self.round_admitted <= probes);
                assert!(live <= self.round_admitted);
                assert_eq!(deadline.is_some(), live > 0, "lease deadline vs probes out");
                assert_eq!(rejecting, None);
            }
            State::ForcedOpen => {
                assert_eq!(deadline, None);
                assert_eq!(rejecting, Some(Instant::MAX));
            }
            State::Closed | State::Disabled | State::MetricsOnly => {
                assert_eq!(deadline, None);
                assert_eq!(rejecting, None);
            }
        }
    }

    fn check_metrics(&mut self, now: Instant) {
        let m = self.breaker.metrics(now);
        assert_eq!(
            self.clamped.metrics(self.latest),
            m,
            "clock contract: metrics({now}) differ from those at the latest now {}",
            self.latest
        );
        self.sync();
        assert_eq!(m.state, self.breaker.state());
        assert!(
            m.failures <= m.calls,
            "{} failures of {} calls",
            m.failures,
            m.calls
        );
        assert!(
            m.slow_calls <= m.calls,
            "{} slow of {} calls",
            m.slow_calls,
            m.calls
        );
        for rate in [m.failure_rate, m.slow_call_rate].into_iter().flatten() {
            assert!((0.0..=1.0).contains(&rate), "rate {rate}");
        }
        assert_eq!(m.failure_rate.is_some(), m.calls > 0);
        if let Some(cap) = self.count_window {
            assert!(m.calls <= u64::from(cap));
        }
        if m.state == State::HalfOpen {
            assert_eq!(m.probes_in_flight, self.live_probes());
        } else {
            assert_eq!(m.probes_in_flight, 0);
        }
        assert_eq!(m.open_until.is_some(), m.state == State::Open);
        if m.state == State::Open {
            // an open wait ending past the clock's range has no deadline
            let due = m.open_until.filter(|until| *until != Instant::MAX);
            assert_eq!(due, self.breaker.next_deadline());
        }
        if m.state == State::Closed {
            if let Some(n) = self.consecutive_failures {
                assert!(
                    m.consecutive_failures < n,
                    "closed after {n} failures in a row"
                );
            }
            // On a count window the totals only change on a record, and every
            // record in closed checks the threshold: closed means below it.
            if let (Some(cap), Some(threshold), Some(rate)) =
                (self.count_window, self.failure_rate, m.failure_rate)
            {
                let minimum = self.minimum_calls.min(cap);
                assert!(
                    m.calls < u64::from(minimum) || rate < threshold + 1e-4,
                    "closed at a failure rate of {rate} over {} calls (threshold {threshold})",
                    m.calls
                );
            }
        }
        if let Some(prev) = self.last_metrics {
            assert!(m.rejected >= prev.rejected);
            assert!(m.times_opened >= prev.times_opened);
            assert!(m.stale_outcomes >= prev.stale_outcomes);
        }
        self.last_metrics = Some(m);
    }

    /// Past every lease, no probe can still be out; then every held permit
    /// can still be reported, and the metrics still add up.
    fn finish(&mut self) {
        let lease = self.probe_lease;
        let far = self.latest + lease + Duration::from_nanos(1);
        self.cursor = far;
        self.latest = self.latest.max(far);
        self.breaker.on_deadline(far);
        self.clamped.on_deadline(self.latest);
        self.sync();
        let m = self.breaker.metrics(far);
        assert_eq!(
            self.clamped.metrics(self.latest),
            m,
            "clock contract: metrics"
        );
        self.sync();
        assert!(
            !(m.state == State::HalfOpen && m.probes_in_flight > 0),
            "half-open wedged: {} probes in flight past every lease",
            m.probes_in_flight
        );
        self.check_state();
        while let Some(h) = self.held.pop() {
            self.breaker.record(far, h.permit, Outcome::Success);
            self.clamped
                .record(self.latest, h.clamped, Outcome::Success);
            self.sync();
            self.check_state();
        }
        self.check_metrics(far);
    }
}

fn run<W: Window + Clone>(
    input: &Input,
    config: BreakerConfig,
    window: W,
    count_window: Option<u32>,
) {
    let mut h = Harness {
        clamped: CircuitBreaker::new(config, window.clone()),
        breaker: CircuitBreaker::with_observer(config, window, Tally::default()),
        config,
        failure_rate: input.config.failure_rate(),
        consecutive_failures: input.config.consecutive_failures,
        minimum_calls: input.config.minimum_calls.map_or(10, Count::get),
        probe_lease: input
            .config
            .probe_lease
            .map_or(Duration::from_secs(30), Dur::get),
        count_window,
        cursor: Instant::ZERO,
        latest: Instant::ZERO,
        held: Vec::new(),
        leaked_probes: Vec::new(),
        round: 0,
        round_admitted: 0,
        last_metrics: None,
        open_retry: None,
    };
    h.check_state();
    for &event in &input.events {
        h.step(event);
    }
    h.finish();
}

fuzz_target!(|input: Input| {
    let config = match input.config.build() {
        Ok(config) => config,
        Err(e) => {
            // Invalid values are errors that name the field, never panics.
            assert!(!e.field.is_empty());
            assert!(e.to_string().contains(e.field));
            return;
        }
    };
    check_config(&input, &config);
    match input.window {
        WindowKind::Count => run(&input, config, CountWindow::<8>::new(), Some(8)),
        WindowKind::Count40 => run(&input, config, CountWindow::<40, 2>::new(), Some(40)),
        WindowKind::Time(d) => match TimeWindow::<4>::new(d.get()) {
            Ok(w) => run(&input, config, w, None),
            Err(e) => assert_eq!(e.field, "window"),
        },
        WindowKind::None => run(&input, config, NoWindow, Some(0)),
    }
});

/// What a valid configuration promises about itself.
fn check_config(input: &Input, config: &BreakerConfig) {
    let probes = config.half_open_probes();
    assert!(probes > 0);
    if let Some(s) = input.config.success_threshold {
        assert!(s > 0 && s <= probes);
    }
    let wait = config.open_wait();
    assert!(!wait.is_zero());
    assert_eq!(config.open_wait_for(1), wait);
    let n = u32::from(input.open_count).max(1);
    let (a, b) = (config.open_wait_for(n), config.open_wait_for(n + 1));
    assert!(a >= wait && b >= a, "open wait shrank: {a:?} then {b:?}");
}
