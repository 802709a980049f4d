//! The fail fast's state machine.

use core::time::Duration;

use crate::time::{LazyTime, Monotonic, TimeSource};
use crate::timeout::Deadline;
use crate::{Instant, Observer, Outcome, RejectReason, Rejected};

use super::{
    CloseCause, FailFastConfig, FailFastEvent, FailFastMetrics, FailFastPermit, OpenCause, State,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Mode {
    Closed,
    Open {
        since: Instant,
        cause: OpenCause,
        /// The next probe is admitted from here on (`None`: no probes;
        /// `Instant::MAX`: past the end of the clock, read through
        /// [`coming`]).
        probe_at: Option<Instant>,
        /// [`FailFastEvent::ProbeDue`] was reported for `probe_at`.
        due_reported: bool,
        /// When the current probe was admitted, while it has not reported:
        /// its success may close at any moment, so the earliest admission is
        /// unknown (`retry_at` `None`). A probe that stays silent past the
        /// next probe instant is replaced by the next probe (its lease ends).
        probe_out: Option<Instant>,
    },
}

/// The probe instant `probe_at` that will come: `None` for no probe, or
/// for one at `Instant::MAX`, past the end of the clock's range (it never
/// comes, as the breaker's open wait that saturates there). Every reader of
/// `probe_at` but the one giving a turn back goes through here.
const fn coming(probe_at: Option<Instant>) -> Option<Instant> {
    match probe_at {
        Some(at) if at.as_nanos() == u64::MAX => None,
        other => other,
    }
}

/// A fail fast, reporting to observer `O`.
///
/// Pure and clock-injected: every call takes `now`, nothing reads a clock,
/// sleeps or allocates. An earlier `now` than one already seen counts as no
/// time passed. Share it behind a [`Lock`](crate::sync::Lock) or an adapter.
///
/// Each [`FailFastPermit`] carries the epoch it was issued in; the epoch
/// moves on every open and every close, so the outcome of a call admitted
/// before the dependency went down (or came back) is never counted after it.
#[derive(Debug)]
pub struct FailFast<O = ()> {
    config: FailFastConfig,
    observer: O,
    mode: Mode,
    epoch: u32,
    clock: Monotonic,
    pub(super) consecutive_failures: u32,
    /// The learned expected duration (the configured one when not learning).
    estimate_nanos: u64,
    learned_samples: u64,
    rejected_open: u64,
    rejected_deadline: u64,
    probes_admitted: u64,
    times_opened: u64,
    stale_outcomes: u64,
}

impl FailFast<()> {
    /// A closed fail fast with no observer. `const`, so it can live in a `static`.
    ///
    /// ```
    /// use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(ff.state(), State::Closed);
    /// ```
    pub const fn new(config: FailFastConfig) -> Self {
        Self::with_observer(config, ())
    }
}

impl<O: Observer<FailFastEvent>> FailFast<O> {
    /// A closed fail fast that reports every event to `observer`.
    ///
    /// ```
    /// use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastEvent, OpenCause};
    /// use failsafe_core::{FnObserver, Instant};
    /// let mut log = Vec::new();
    /// let mut ff = FailFast::with_observer(FailFastConfig::DEFAULT, FnObserver(|e| log.push(e)));
    /// ff.report_unhealthy(Instant::from_millis(7));
    /// drop(ff);
    /// assert_eq!(log, [FailFastEvent::Opened { at: Instant::from_millis(7), cause: OpenCause::Unhealthy }]);
    /// ```
    pub const fn with_observer(config: FailFastConfig, observer: O) -> Self {
        FailFast {
            config,
            observer,
            mode: Mode::Closed,
            epoch: 0,
            clock: Monotonic::new(),
            consecutive_failures: 0,
            estimate_nanos: config.expected_nanos,
            learned_samples: 0,
            rejected_open: 0,
            rejected_deadline: 0,
            probes_admitted: 0,
            times_opened: 0,
            stale_outcomes: 0,
        }
    }

    /// May a call with `deadline` start at `now`? Pass [`Deadline::NEVER`]
    /// for a caller without one. On success the permit must come back
    /// through [`record`](Self::record).
    ///
    /// Rejects with [`RejectReason::FailFastOpen`] while open: `retry_at` is
    /// the next probe instant, the earliest a call can be admitted; it is
    /// `None` (unknown) without a probe interval (only a health report or an
    /// operator closes it) and while a probe is out (its success would close
    /// it at any moment). Once a probe is due, the next call is admitted as
    /// the probe. Rejects with
    /// [`RejectReason::DeadlineTooShort`] (`retry_at` `None`: waiting only
    /// shortens the deadline) when the deadline has passed or leaves less
    /// than [`min_remaining`](Self::min_remaining); a probe is not used up
    /// by such a call.
    ///
    /// Reads the clock only if it must: while open, for a deadline other
    /// than `NEVER`, or to time the call when learning durations.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome, RejectReason};
    /// let config = FailFastConfig::builder().expected_duration(Duration::from_millis(100)).build().unwrap();
    /// let mut ff = FailFast::new(config);
    /// let now = Instant::from_millis(1_000);
    /// let permit = ff.acquire(now, Deadline::at(Instant::from_millis(1_100))).unwrap(); // exactly enough
    /// ff.record(Instant::from_millis(1_090), permit, Outcome::Success);
    /// let r = ff.acquire(now, Deadline::at(Instant::from_millis(1_099))).unwrap_err();
    /// assert_eq!((r.reason, r.retry_at), (RejectReason::DeadlineTooShort, None));
    /// ff.open(now);
    /// assert_eq!(ff.acquire(now, Deadline::NEVER).unwrap_err().reason, RejectReason::FailFastOpen);
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RejectReason::FailFastOpen`] while open and no probe is due:
    ///   `retry_at` is the next probe instant, or `None` without a probe
    ///   interval, while a probe is out, or if the next probe would lie at
    ///   [`Instant::MAX`].
    /// - [`RejectReason::DeadlineTooShort`], `retry_at: None`, if `deadline`
    ///   (other than `NEVER`) is at or before `now` or leaves less than
    ///   [`min_remaining`](Self::min_remaining).
    pub fn acquire(
        &mut self,
        now: impl TimeSource,
        deadline: Deadline,
    ) -> Result<FailFastPermit, Rejected> {
        let mut time = LazyTime::new(now, &mut self.clock);
        let mut probe = false;
        if let Mode::Open { .. } = self.mode {
            let now = time.get(&mut self.clock);
            self.advance(now);
            if let Mode::Open {
                probe_at,
                probe_out,
                ..
            } = self.mode
            {
                match coming(probe_at) {
                    Some(at) if now >= at => probe = true,
                    next => {
                        // No probe to come (or one out): only a health
                        // report or an operator closes it, as without
                        // probes (unknown, not "never").
                        let retry_at = next.filter(|_| probe_out.is_none());
                        return Err(self.reject(now, RejectReason::FailFastOpen, retry_at));
                    }
                }
            }
        }
        if !deadline.is_never() {
            let now = time.get(&mut self.clock);
            if !self.fits(now, deadline) {
                return Err(self.reject(now, RejectReason::DeadlineTooShort, None));
            }
        }
        let issued_at = if probe || !deadline.is_never() || self.config.learn_smoothing.is_some() {
            time.get(&mut self.clock)
        } else {
            self.clock.latest()
        };
        if probe {
            let next = self
                .config
                .probe_interval_nanos
                .map(|interval| issued_at.saturating_add(Duration::from_nanos(interval)));
            if let Mode::Open {
                probe_at,
                due_reported,
                probe_out,
                ..
            } = &mut self.mode
            {
                *probe_at = next;
                *due_reported = false;
                *probe_out = Some(issued_at);
            }
            self.probes_admitted = self.probes_admitted.saturating_add(1);
        }
        Ok(FailFastPermit {
            issued_at,
            epoch: self.epoch,
            probe,
        })
    }

    /// Reports how the call admitted by `permit` ended at `now`.
    ///
    /// A failure or timeout extends the streak of failures in a row, and
    /// opens once it reaches the configured count. A success ends the streak,
    /// teaches the expected duration (`now - permit.issued_at()`, when
    /// learning) and, for a probe, closes. Cancelled and ignored outcomes
    /// count neither way. An outcome for a permit issued before the last open
    /// or close is not counted at all ([`FailFastEvent::StaleOutcome`]).
    ///
    /// [`Outcome::Unhealthy`] (a classifier says the dependency is down) is
    /// a failure that opens at once, whatever the streak; a stale one
    /// neither counts nor opens.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = FailFastConfig::builder().consecutive_failures(2).build().unwrap();
    /// let mut ff = FailFast::new(config);
    /// for outcome in [Outcome::Failure, Outcome::Success, Outcome::Failure, Outcome::Timeout] {
    ///     let p = ff.acquire(Instant::ZERO, Deadline::NEVER).unwrap();
    ///     ff.record(Instant::from_millis(1), p, outcome);
    /// }
    /// assert_eq!(ff.state(), State::Open); // the success broke the first streak
    /// ```
    pub fn record(&mut self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        let mut time = LazyTime::new(now, &mut self.clock);
        if permit.epoch != self.epoch {
            let at = time.get(&mut self.clock);
            self.stale_outcomes = self.stale_outcomes.saturating_add(1);
            self.observer
                .on_event(FailFastEvent::StaleOutcome { at, outcome });
            return;
        }
        let mut current_probe = false;
        if permit.probe
            && let Mode::Open { probe_out, .. } = &mut self.mode
            && *probe_out == Some(permit.issued_at)
        {
            // The current probe reported (its epoch matched: this open state).
            *probe_out = None;
            current_probe = true;
        }
        if !outcome.counts() {
            // Only the current probe's turn is given back: one it replaced
            // (silent past its interval) has no turn left to give.
            if current_probe
                && let Mode::Open {
                    probe_at: Some(at),
                    due_reported,
                    ..
                } = &mut self.mode
            {
                // A probe that says nothing (dropped, ignored) gives its turn
                // back: the next caller may probe at once, as a breaker's
                // half-open slot is freed.
                let now = time.get(&mut self.clock);
                if now < *at {
                    *at = now;
                    *due_reported = false;
                }
            }
            return;
        }
        if outcome.is_failure() {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            if self.mode == Mode::Closed {
                // An unhealthy verdict opens at once; other failures once
                // the streak is long enough.
                let cause = if outcome == Outcome::Unhealthy {
                    Some(OpenCause::Unhealthy)
                } else {
                    (self.consecutive_failures >= self.config.consecutive_failures)
                        .then_some(OpenCause::ConsecutiveFailures)
                };
                if let Some(cause) = cause {
                    let now = time.get(&mut self.clock);
                    self.enter_open(now, cause);
                }
            }
            return;
        }
        self.consecutive_failures = 0;
        if let Some(n) = self.config.learn_smoothing {
            let now = time.get(&mut self.clock);
            let took = now.as_nanos().saturating_sub(permit.issued_at.as_nanos());
            self.learn(took, n);
        }
        if permit.probe {
            // Its epoch matched: still in the open state that admitted it.
            let now = time.get(&mut self.clock);
            self.enter_closed(now, CloseCause::ProbeSucceeded);
        }
    }

    /// Opens now by hand (cause [`OpenCause::Manual`]). Already open: nothing changes.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.open(Instant::ZERO);
    /// assert_eq!(ff.state(), State::Open);
    /// ```
    pub fn open(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        if self.mode == Mode::Closed {
            self.enter_open(now, OpenCause::Manual);
        }
    }

    /// A predicate over an outcome or an external health check says the
    /// dependency is down: opens at once (cause [`OpenCause::Unhealthy`]).
    /// Already open: nothing changes.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.report_unhealthy(Instant::from_millis(3));
    /// assert_eq!(ff.metrics().open_since, Some(Instant::from_millis(3)));
    /// ```
    pub fn report_unhealthy(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        if self.mode == Mode::Closed {
            self.enter_open(now, OpenCause::Unhealthy);
        }
    }

    /// Closes now by hand (cause [`CloseCause::Manual`]). Also ends any
    /// streak of failures, open or not.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.open(Instant::ZERO);
    /// ff.close(Instant::from_secs(1));
    /// assert_eq!(ff.state(), State::Closed);
    /// ```
    pub fn close(&mut self, now: Instant) {
        self.recover(now, CloseCause::Manual);
    }

    /// A health check says the dependency is back: closes now (cause
    /// [`CloseCause::Healthy`]). Also ends any streak of failures, open or not.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.report_unhealthy(Instant::ZERO);
    /// ff.report_healthy(Instant::from_secs(5));
    /// assert!(ff.acquire(Instant::from_secs(5), Deadline::NEVER).is_ok());
    /// ```
    pub fn report_healthy(&mut self, now: Instant) {
        self.recover(now, CloseCause::Healthy);
    }

    /// Closes and zeroes every counter, forgetting learned durations, as if
    /// new (the clock is kept).
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.open(Instant::ZERO);
    /// ff.reset(Instant::from_millis(1));
    /// let m = ff.metrics();
    /// assert_eq!((m.state, m.times_opened), (State::Closed, 0));
    /// ```
    pub fn reset(&mut self, now: Instant) {
        self.close(now);
        self.estimate_nanos = self.config.expected_nanos;
        self.learned_samples = 0;
        self.rejected_open = 0;
        self.rejected_deadline = 0;
        self.probes_admitted = 0;
        self.times_opened = 0;
        self.stale_outcomes = 0;
    }

    /// When the driver should call [`on_deadline`](Self::on_deadline) even
    /// if no call happens: while open with a probe interval, the instant the
    /// next probe becomes due, until that has been reported. A soft deadline:
    /// calling earlier is harmless. Otherwise `None`: nothing happens by
    /// time alone.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::Instant;
    /// let config = FailFastConfig::builder().probe_interval(Duration::from_secs(10)).build().unwrap();
    /// let mut ff = FailFast::new(config);
    /// assert_eq!(ff.next_deadline(), None);
    /// ff.open(Instant::from_secs(1));
    /// assert_eq!(ff.next_deadline(), Some(Instant::from_secs(11)));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.mode {
            Mode::Open {
                probe_at,
                due_reported: false,
                ..
            } => coming(probe_at),
            _ => None,
        }
    }

    /// Notices at `now` whatever became due: a probe, reported once as
    /// [`FailFastEvent::ProbeDue`] (a driver may start an active health
    /// check then). The state does not change. Spurious calls are no-ops.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastEvent};
    /// # use failsafe_core::{FnObserver, Instant};
    /// let config = FailFastConfig::builder().probe_interval(Duration::from_secs(10)).build().unwrap();
    /// let mut due = Vec::new();
    /// let mut ff = FailFast::with_observer(config, FnObserver(|e| {
    ///     if let FailFastEvent::ProbeDue { at } = e { due.push(at) }
    /// }));
    /// ff.open(Instant::ZERO);
    /// ff.on_deadline(Instant::from_secs(9));
    /// ff.on_deadline(Instant::from_secs(12));
    /// ff.on_deadline(Instant::from_secs(13)); // already reported
    /// assert_eq!(ff.next_deadline(), None);
    /// drop(ff);
    /// assert_eq!(due, [Instant::from_secs(10)]);
    /// ```
    pub fn on_deadline(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.advance(now);
    }

    /// The current state.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(ff.state(), State::Closed);
    /// ```
    pub const fn state(&self) -> State {
        match self.mode {
            Mode::Closed => State::Closed,
            Mode::Open { .. } => State::Open,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(*ff.config(), FailFastConfig::DEFAULT);
    /// ```
    pub const fn config(&self) -> &FailFastConfig {
        &self.config
    }

    /// The current expected call duration: the configured one, or the
    /// learned estimate (capped at the configured maximum). The safety
    /// margin is not included.
    ///
    /// Bounds of a learned estimate (integer arithmetic, no float): it lies
    /// between the smallest and the largest of the configured seed (if any) and the
    /// durations learned so far, and never above
    /// [`max_expected_duration`](FailFastConfig::max_expected_duration).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = FailFastConfig::builder().learn_expected_duration(2).build().unwrap();
    /// let mut ff = FailFast::new(config);
    /// for (start, end) in [(0, 100), (1_000, 1_200)] {
    ///     let p = ff.acquire(Instant::from_millis(start), Deadline::NEVER).unwrap();
    ///     ff.record(Instant::from_millis(end), p, Outcome::Success);
    /// }
    /// // the first success is taken as it is (100 ms), the second moves it half way to 200 ms
    /// assert_eq!(ff.expected_duration(), Duration::from_millis(150));
    /// ```
    pub const fn expected_duration(&self) -> Duration {
        Duration::from_nanos(self.expected_nanos())
    }

    /// The least time a deadline must leave for a call to be admitted: the
    /// expected duration plus the safety margin (saturating). A deadline that
    /// has already passed is rejected even when this is zero.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// let config = FailFastConfig::builder()
    ///     .expected_duration(Duration::from_millis(80))
    ///     .safety_margin(Duration::from_millis(20))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(FailFast::new(config).min_remaining(), Duration::from_millis(100));
    /// ```
    pub const fn min_remaining(&self) -> Duration {
        Duration::from_nanos(self.min_remaining_nanos())
    }

    /// The latest time seen (the clock contract's "latest"), for the shared
    /// handles' gate.
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }

    /// Until when every call is rejected without looking further: the next
    /// probe instant while open with a probe interval and no probe out,
    /// [`Instant::MAX`] while open without a probe interval, `None` while
    /// closed or while a probe is out (each call must then ask the machine). A shared handle can copy it into
    /// an atomic so an open fail fast rejects without taking a lock (deadline
    /// checks still need [`min_remaining`](Self::min_remaining)).
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(ff.rejecting_until(), None);
    /// ff.open(Instant::ZERO);
    /// assert_eq!(ff.rejecting_until(), Some(Instant::MAX));
    /// ```
    pub const fn rejecting_until(&self) -> Option<Instant> {
        match self.mode {
            Mode::Closed => None,
            Mode::Open {
                probe_at: Some(at),
                probe_out: None,
                ..
            } => Some(at),
            // A probe is out: its report may close at any moment, so every
            // call asks the machine (which rejects with `retry_at` `None`).
            Mode::Open {
                probe_at: Some(_), ..
            } => None,
            Mode::Open { probe_at: None, .. } => Some(Instant::MAX),
        }
    }

    /// A snapshot of the state and counters.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig, OpenCause, State};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::Instant;
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// ff.open(Instant::from_millis(2));
    /// let _ = ff.acquire(Instant::from_millis(3), Deadline::NEVER);
    /// let m = ff.metrics();
    /// assert_eq!((m.state, m.open_cause, m.rejected_open), (State::Open, Some(OpenCause::Manual), 1));
    /// ```
    pub const fn metrics(&self) -> FailFastMetrics {
        let (open_cause, open_since, next_probe_at) = match self.mode {
            Mode::Closed => (None, None, None),
            Mode::Open {
                since,
                cause,
                probe_at,
                ..
            } => (Some(cause), Some(since), coming(probe_at)),
        };
        FailFastMetrics {
            state: self.state(),
            open_cause,
            open_since,
            next_probe_at,
            consecutive_failures: self.consecutive_failures,
            expected_duration: self.expected_duration(),
            learned_samples: self.learned_samples,
            rejected_open: self.rejected_open,
            rejected_deadline: self.rejected_deadline,
            probes_admitted: self.probes_admitted,
            times_opened: self.times_opened,
            stale_outcomes: self.stale_outcomes,
        }
    }

    /// The observer, e.g. to read what it collected.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// let () = *ff.observer();
    /// ```
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, mutably.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// let () = *ff.observer_mut();
    /// ```
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    const fn expected_nanos(&self) -> u64 {
        if self.config.learn_smoothing.is_some() {
            self.estimate_nanos
        } else {
            self.config.expected_nanos
        }
    }

    const fn min_remaining_nanos(&self) -> u64 {
        self.expected_nanos()
            .saturating_add(self.config.margin_nanos)
    }

    /// Does `deadline` leave enough time at `now`?
    fn fits(&self, now: Instant, deadline: Deadline) -> bool {
        let remaining = deadline.instant().as_nanos().saturating_sub(now.as_nanos());
        remaining > 0 && remaining >= self.min_remaining_nanos()
    }

    /// Moves the estimate `1/n` of the way towards `took` (integer EWMA; the
    /// first sample without a configured seed is taken as it is).
    fn learn(&mut self, took: u64, n: u32) {
        let estimate = if self.learned_samples == 0 && self.config.expected_nanos == 0 {
            took
        } else {
            let old = self.estimate_nanos as i128;
            // At least 1, so the division has no panic path (callers pass
            // a sample count, never 0).
            let n = i128::from(n.max(1));
            // Between `old` and `took`: always fits a u64.
            (old + (took as i128 - old) / n) as u64
        };
        self.estimate_nanos = if estimate > self.config.max_expected_nanos {
            self.config.max_expected_nanos
        } else {
            estimate
        };
        self.learned_samples = self.learned_samples.saturating_add(1);
    }

    fn reject(&mut self, at: Instant, reason: RejectReason, retry_at: Option<Instant>) -> Rejected {
        let rejected = Rejected::new(reason, retry_at);
        match reason {
            RejectReason::FailFastOpen => self.rejected_open = self.rejected_open.saturating_add(1),
            _ => self.rejected_deadline = self.rejected_deadline.saturating_add(1),
        }
        self.observer
            .on_event(FailFastEvent::Rejected { at, rejected });
        rejected
    }

    /// Reports a probe that became due by `now`, once.
    fn advance(&mut self, now: Instant) {
        if let Mode::Open {
            probe_at,
            due_reported,
            ..
        } = &mut self.mode
            && let Some(at) = coming(*probe_at)
            && !*due_reported
            && now >= at
        {
            *due_reported = true;
            self.observer.on_event(FailFastEvent::ProbeDue { at });
        }
    }

    fn recover(&mut self, now: Instant, cause: CloseCause) {
        let now = self.clock.observe(now);
        self.consecutive_failures = 0;
        if self.mode != Mode::Closed {
            self.enter_closed(now, cause);
        }
    }

    fn enter_open(&mut self, at: Instant, cause: OpenCause) {
        let probe_at = self
            .config
            .probe_interval_nanos
            .map(|interval| at.saturating_add(Duration::from_nanos(interval)));
        self.mode = Mode::Open {
            since: at,
            cause,
            probe_at,
            due_reported: false,
            probe_out: None,
        };
        self.epoch = self.epoch.wrapping_add(1);
        self.times_opened = self.times_opened.saturating_add(1);
        self.observer.on_event(FailFastEvent::Opened { at, cause });
    }

    fn enter_closed(&mut self, at: Instant, cause: CloseCause) {
        self.mode = Mode::Closed;
        self.epoch = self.epoch.wrapping_add(1);
        self.consecutive_failures = 0;
        self.observer.on_event(FailFastEvent::Closed { at, cause });
    }
}
