//! The breaker's state machine.

use core::borrow::Borrow;

use crate::time::{LazyTime, Monotonic, PackedInstant, TimeSource};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected};

use super::window::{Sample, Window};
use super::{
    BreakerConfig, BreakerCounters, BreakerEvent, BreakerMetrics, BreakerPermit, Counters,
    HalfOpenRule, PermitKind, State,
};

/// One half-open round of probes. The lease's end is the machine's
/// `deadline`. The probes in flight are not kept: every admitted probe is
/// either out or counted once, as a success or a failure (an expired one
/// as a failure; one that did not count frees its slot), so they are
/// `admitted - successes - failures`. Each count is at most
/// `half_open_probes`, which the builder caps at 65,535: `u16`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Round {
    pub(super) admitted: u16,
    pub(super) successes: u16,
    pub(super) failures: u16,
    /// Probes that took longer than the slow-call duration (the rate rule
    /// counts them apart; the success-threshold rule counts them as failures).
    pub(super) slow: u16,
}

/// What the current state counts: failures in a row (closed and
/// metrics-only) or the half-open [`Round`]. No state keeps both and
/// entering any state zeroes it, so the two share these 8 bytes (apart,
/// the firmware breaker would take 68 bytes, not 64). Read through the
/// machine's `streak()` and `round()`, which know the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(super) struct Tally {
    /// Failures in a row; or the round's `admitted` (bits 0 to 15) and
    /// `successes` (bits 16 to 31).
    first: u32,
    /// The round's `failures` (bits 0 to 15) and `slow` (bits 16 to 31);
    /// 0 outside half-open.
    second: u32,
}

/// A circuit breaker over window `W`, reporting to observer `O`, configured
/// by `C`: a [`BreakerConfig`] held by value (the default), or anything that
/// lends one ([`Borrow<BreakerConfig>`]): `&'static BreakerConfig` on
/// firmware, so the configuration stays in flash (a `const`) and the breaker
/// holds one pointer (4 bytes on Cortex-M) instead of an 80-byte copy in
/// RAM; an `Arc<BreakerConfig>` to share one configuration built at run
/// time between many breakers.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
/// const CONFIG: BreakerConfig = failsafe_core::checked(BreakerConfig::builder().minimum_calls(20).build());
/// // by reference: the configuration stays in flash
/// let by_ref = CircuitBreaker::new(&CONFIG, CountWindow::<128>::new());
/// // by value: a configuration built at run time
/// let by_value = CircuitBreaker::new(CONFIG, CountWindow::<128>::new());
/// assert_eq!(by_ref.config(), by_value.config());
/// assert!(core::mem::size_of_val(&by_ref) < core::mem::size_of_val(&by_value));
/// ```
///
/// Pure and clock-injected: every call takes `now`, nothing reads a clock,
/// sleeps or allocates. An earlier `now` than one already seen counts as no
/// time passed. Share it through
/// [`SharedBreaker`](crate::sync::SharedBreaker) or an adapter.
///
/// Each [`BreakerPermit`] carries the epoch it was issued in; the epoch moves
/// on every state change and every half-open lease expiry, so a late outcome
/// is never counted in a state it does not belong to.
///
/// `K` keeps the counts behind the metrics' `rejected`, `times_opened` and
/// `stale_outcomes`: [`Counters`] by default; a firmware breaker may drop
/// them ([`with_counters`](Self::with_counters) and
/// [`NoCounters`](super::NoCounters): 24 bytes less RAM; those metrics then
/// read 0).
///
/// Its RAM on a 32-bit target, a firmware breaker over a 128-call window
/// without slow-call bits (`CountWindow<128, 4, 0>`, a
/// [`const_config!`](crate::const_config) config, no observer, no
/// counters): 60 bytes (the window 28, the open or lease deadline 8, the
/// latest time seen 8, failures in a row or the half-open round 8, the
/// epoch 4, the state and opens in a row 2, padding 2); every field aligns
/// to 4, so a lock's `RefCell` flag adds 4, not 8.
#[derive(Debug)]
pub struct CircuitBreaker<W, O = (), C = BreakerConfig, K = Counters> {
    config: C,
    window: W,
    observer: O,
    /// Open: the end of the open wait ([`Instant::MAX`]: never). Half-open:
    /// when the probes out count as failed (valid while one is out).
    deadline: PackedInstant,
    /// Failures in a row, or the half-open round (see [`Tally`]).
    tally: Tally,
    epoch: u32,
    clock: Monotonic,
    counters: K,
    mode: State,
    /// Saturates at 255: a wait stops growing long before (`open_wait_for`
    /// reaches its cap by the 65th open in a row, the `u64` of nanoseconds
    /// saturating), so the waits are exactly those of an unbounded count.
    opens_in_a_row: u8,
}

impl<W: Window, C: Borrow<BreakerConfig>> CircuitBreaker<W, (), C> {
    /// A closed breaker with no observer. `const`, so it can live in a `static`.
    ///
    /// ```
    /// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, State};
    /// let breaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<100>::new());
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub const fn new(config: C, window: W) -> Self {
        Self::with_observer(config, window, ())
    }
}

impl<W: Window, O: Observer<BreakerEvent>, C: Borrow<BreakerConfig>> CircuitBreaker<W, O, C> {
    /// A closed breaker that reports every event to `observer`.
    ///
    /// ```
    /// use failsafe_core::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker, NoWindow, State};
    /// use failsafe_core::{FnObserver, Instant, Outcome};
    /// let mut log = Vec::new();
    /// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
    /// let mut b = CircuitBreaker::with_observer(config, NoWindow, FnObserver(|e| log.push(e)));
    /// let p = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::from_millis(1), p, Outcome::Failure);
    /// drop(b);
    /// assert!(matches!(log[0], BreakerEvent::StateChanged { to: State::Open, .. }));
    /// ```
    pub const fn with_observer(config: C, window: W, observer: O) -> Self {
        Self::with_counters(config, window, observer, Counters::new())
    }
}

impl<W: Window, O: Observer<BreakerEvent>, C: Borrow<BreakerConfig>, K: BreakerCounters>
    CircuitBreaker<W, O, C, K>
{
    /// A closed breaker that reports every event to `observer` and keeps
    /// its counts in `counters`: [`NoCounters`](super::NoCounters) keeps
    /// none (its metrics' `rejected`, `times_opened` and `stale_outcomes`
    /// read 0; 24 bytes less RAM, for firmware); it decides exactly as with
    /// [`Counters`]. `const`, for a `static`.
    ///
    /// ```
    /// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, NoCounters};
    /// static CONFIG: BreakerConfig = BreakerConfig::DEFAULT;
    /// let counted = CircuitBreaker::new(&CONFIG, CountWindow::<128, 4, 0>::new());
    /// let lean = CircuitBreaker::with_counters(&CONFIG, CountWindow::<128, 4, 0>::new(), (), NoCounters);
    /// assert_eq!(core::mem::size_of_val(&counted) - core::mem::size_of_val(&lean), 24);
    /// assert_eq!(lean.config(), counted.config());
    /// ```
    pub const fn with_counters(config: C, window: W, observer: O, counters: K) -> Self {
        CircuitBreaker {
            config,
            window,
            observer,
            mode: State::Closed,
            deadline: PackedInstant::new(Instant::MAX),
            tally: Tally::ZERO,
            epoch: 0,
            clock: Monotonic::new(),
            opens_in_a_row: 0,
            counters,
        }
    }

    /// May a call start at `now`? On success the permit must come back
    /// through [`record`](Self::record). A rejection says when to retry.
    ///
    /// Moves open to half-open when the wait is over, and expires probes whose
    /// lease ran out, before deciding.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
    /// # use failsafe_core::{Instant, Outcome, RejectReason};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// let permit = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::from_millis(3), permit, Outcome::Success);
    /// b.force_open(Instant::from_millis(4));
    /// assert_eq!(b.acquire(Instant::from_millis(5)).unwrap_err().reason, RejectReason::BreakerForcedOpen);
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RejectReason::BreakerOpen`] while open: `retry_at` the end of the
    ///   open wait (a probe is admitted then), `Instant::MAX` (never) for a
    ///   wait ending past the end of the clock.
    /// - [`RejectReason::BreakerHalfOpenFull`], `retry_at: None`, when
    ///   half-open and every probe permit of the round is handed out.
    /// - [`RejectReason::BreakerForcedOpen`], `retry_at: None`, while forced
    ///   open.
    #[inline]
    pub fn acquire(&mut self, now: impl TimeSource) -> Result<BreakerPermit, Rejected> {
        let mut time = LazyTime::new(now, &mut self.clock);
        if self.is_timed() {
            let now = time.get(&mut self.clock);
            self.advance_timed(now);
        }
        let kind = match self.mode {
            State::Closed | State::MetricsOnly => PermitKind::Counted,
            State::Disabled => PermitKind::Uncounted,
            State::HalfOpen if u32::from(self.round().admitted) < self.cfg().half_open_probes => {
                let now = time.get(&mut self.clock);
                let lease = now.saturating_add(core::time::Duration::from_nanos(
                    self.cfg().probe_lease_nanos,
                ));
                let mut round = self.round();
                // `admitted < half_open_probes <= u16::MAX`: no overflow.
                round.admitted += 1;
                self.set_round(round);
                self.deadline.set(if round.in_flight() == 1 {
                    lease
                } else {
                    self.deadline.get().max(lease)
                });
                PermitKind::Probe
            }
            _ => {
                let now = time.get(&mut self.clock);
                let rejected = self.rejection();
                self.counters.on_rejected();
                self.observer
                    .on_event(BreakerEvent::Rejected { at: now, rejected });
                return Err(rejected);
            }
        };
        // The start time matters only to slow-call detection (and probes, read above).
        let issued_at = if self.cfg().slow_call_nanos.is_some() || kind == PermitKind::Probe {
            time.get(&mut self.clock)
        } else {
            self.clock.latest()
        };
        Ok(BreakerPermit::new(issued_at, self.epoch, kind))
    }

    /// Reports how the call admitted by `permit` ended at `now`. The call's
    /// duration (for slow-call detection) is `now - permit.issued_at()`.
    ///
    /// An outcome for a permit from an earlier state is not counted
    /// ([`BreakerEvent::StaleOutcome`]); cancelled and ignored outcomes only
    /// return the permit.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, State};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BreakerConfig::builder().minimum_calls(2).build().unwrap();
    /// let mut b = CircuitBreaker::new(config, CountWindow::<4>::new());
    /// let (p1, p2) = (b.acquire(Instant::ZERO).unwrap(), b.acquire(Instant::ZERO).unwrap());
    /// b.record(Instant::from_millis(1), p1, Outcome::Success);
    /// b.record(Instant::from_millis(2), p2, Outcome::Failure); // 1 of 2 failed = 50%
    /// assert_eq!(b.state(), State::Open);
    /// ```
    #[inline]
    pub fn record(&mut self, now: impl TimeSource, permit: BreakerPermit, outcome: Outcome) {
        let mut time = LazyTime::new(now, &mut self.clock);
        if self.is_timed() {
            let now = time.get(&mut self.clock);
            self.advance_timed(now);
        }
        if permit.kind() == PermitKind::Uncounted {
            return;
        }
        if permit.epoch() != self.epoch {
            let at = time.get(&mut self.clock);
            self.counters.on_stale_outcome();
            self.observer
                .on_event(BreakerEvent::StaleOutcome { at, outcome });
            return;
        }
        // Slow means strictly longer than the limit (resilience4j's rule).
        let slow = match self.cfg().slow_call_nanos {
            Some(limit) => {
                time.get(&mut self.clock)
                    .as_nanos()
                    .saturating_sub(permit.issued_at.as_nanos())
                    > limit
            }
            None => false,
        };
        match permit.kind() {
            PermitKind::Counted => self.record_counted(&mut time, outcome, slow),
            PermitKind::Probe => {
                let now = time.get(&mut self.clock);
                self.record_probe(now, outcome, slow)
            }
            PermitKind::Uncounted => {}
        }
    }

    /// When the driver must call [`on_deadline`](Self::on_deadline) even if
    /// no call happens: the end of the open wait, or of a probe lease. A soft
    /// deadline: calling earlier is harmless. Changes after every call.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// assert_eq!(b.next_deadline(), None);
    /// b.open(Instant::from_secs(1));
    /// assert_eq!(b.next_deadline(), Some(Instant::from_secs(31)));
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.mode {
            // An open wait ending past the end of the clock never ends.
            State::Open if self.deadline.get() != Instant::MAX => Some(self.deadline.get()),
            State::HalfOpen if self.round().in_flight() > 0 => Some(self.deadline.get()),
            _ => None,
        }
    }

    /// Applies whatever became due by `now` (open to half-open, probe
    /// expiry). Spurious calls are no-ops.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, State};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// b.open(Instant::ZERO);
    /// b.on_deadline(Instant::from_secs(29));
    /// assert_eq!(b.state(), State::Open);
    /// b.on_deadline(Instant::from_secs(30));
    /// assert_eq!(b.state(), State::HalfOpen);
    /// ```
    pub fn on_deadline(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.advance(now);
    }

    /// The current state (as of the last call; see [`on_deadline`](Self::on_deadline)).
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// let b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub const fn state(&self) -> State {
        self.mode
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// let b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// assert_eq!(*b.config(), BreakerConfig::DEFAULT);
    /// ```
    pub fn config(&self) -> &BreakerConfig {
        self.config.borrow()
    }

    /// The configuration, wherever it is held.
    #[inline(always)]
    fn cfg(&self) -> &BreakerConfig {
        self.config.borrow()
    }

    /// Failures in a row: counted in closed and metrics-only, 0 in any
    /// other state.
    #[inline]
    fn streak(&self) -> u32 {
        match self.mode {
            State::HalfOpen => 0, // the tally holds the round
            _ => self.tally.failures_in_a_row(),
        }
    }

    /// The half-open round (read only in half-open).
    #[inline]
    fn round(&self) -> Round {
        self.tally.as_round()
    }

    /// Replaces the half-open round (only in half-open).
    #[inline]
    fn set_round(&mut self, round: Round) {
        self.tally = Tally::round(round);
    }

    /// The latest time seen (the clock contract's "latest"), for the shared
    /// handles' gate.
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }

    /// Until when every call is rejected without looking further: the open
    /// wait's end (exclusive: a call at exactly that instant is a probe),
    /// [`Instant::MAX`] when forced open or when the open wait ends past the
    /// end of the clock, `None` otherwise.
    /// Shared handles copy it into an atomic so an open breaker rejects
    /// without taking a lock.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// assert_eq!(b.rejecting_until(), None);
    /// b.force_open(Instant::ZERO);
    /// assert_eq!(b.rejecting_until(), Some(Instant::MAX));
    /// ```
    pub const fn rejecting_until(&self) -> Option<Instant> {
        match self.mode {
            State::Open => Some(self.deadline.get()),
            State::ForcedOpen => Some(Instant::MAX),
            _ => None,
        }
    }

    /// A snapshot of the state and the window at `now`.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// for outcome in [Outcome::Success, Outcome::Failure, Outcome::Success, Outcome::Success] {
    ///     let p = b.acquire(Instant::ZERO).unwrap();
    ///     b.record(Instant::ZERO, p, outcome);
    /// }
    /// let m = b.metrics(Instant::ZERO);
    /// assert_eq!((m.calls, m.failures, m.failure_rate), (4, 1, Some(0.25)));
    /// ```
    pub fn metrics(&mut self, now: Instant) -> BreakerMetrics {
        let now = self.clock.observe(now);
        self.advance(now);
        let totals = self.window.totals(now);
        let rate =
            |part: u64| (totals.calls > 0).then(|| (part as f64 / totals.calls as f64) as f32);
        BreakerMetrics {
            state: self.state(),
            calls: totals.calls,
            failures: totals.failures,
            slow_calls: totals.slow,
            failure_rate: rate(totals.failures),
            slow_call_rate: rate(totals.slow),
            consecutive_failures: self.streak(),
            rejected: self.counters.rejected(),
            times_opened: self.counters.times_opened(),
            stale_outcomes: self.counters.stale_outcomes(),
            probes_in_flight: match self.mode {
                State::HalfOpen => u32::from(self.round().in_flight()),
                _ => 0,
            },
            open_until: match self.mode {
                State::Open => Some(self.deadline.get()),
                _ => None,
            },
        }
    }

    /// Opens now, as if the failure threshold had been reached (the wait
    /// grows with opens in a row like any other open).
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.open(Instant::ZERO);
    /// assert_eq!(b.state(), State::Open);
    /// ```
    pub fn open(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.trip(now);
    }

    /// Closes now, forgetting the window and the open backoff.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.force_open(Instant::ZERO);
    /// b.close(Instant::from_secs(1));
    /// assert_eq!(b.state(), State::Closed);
    /// ```
    pub fn close(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.opens_in_a_row = 0;
        self.enter(State::Closed, Instant::MAX, now);
    }

    /// Closes and zeroes every counter, as if new (the clock is kept).
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.open(Instant::ZERO);
    /// b.reset(Instant::ZERO);
    /// assert_eq!(b.metrics(Instant::ZERO).times_opened, 0);
    /// ```
    pub fn reset(&mut self, now: Instant) {
        self.close(now);
        self.window.clear();
        self.tally = Tally::ZERO;
        self.counters.clear();
    }

    /// Operator state: reject everything until [`close`](Self::close) or another state.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.force_open(Instant::ZERO);
    /// assert_eq!(b.acquire(Instant::from_secs(1_000)).unwrap_err().retry_at, None);
    /// ```
    pub fn force_open(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.enter(State::ForcedOpen, Instant::MAX, now);
    }

    /// Operator state: admit everything and count nothing.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.disable(Instant::ZERO);
    /// let p = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::ZERO, p, Outcome::Failure);
    /// assert_eq!(b.state(), State::Disabled);
    /// ```
    pub fn disable(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.enter(State::Disabled, Instant::MAX, now);
    }

    /// Operator state: admit everything, count it, never trip: the breaker
    /// held closed ("forced closed") until an operator closes, opens or
    /// resets it (resilience4j's `METRICS_ONLY`).
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
    /// let mut b = CircuitBreaker::new(config, NoWindow);
    /// b.metrics_only(Instant::ZERO);
    /// let p = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::ZERO, p, Outcome::Failure);
    /// assert_eq!(b.metrics(Instant::ZERO).consecutive_failures, 1);
    /// assert_eq!(b.state(), State::MetricsOnly);
    /// ```
    #[doc(alias = "force_closed")]
    pub fn metrics_only(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.enter(State::MetricsOnly, Instant::MAX, now);
    }

    /// Replaces the configuration at `now`, keeping the state: the state,
    /// the window's counts, the half-open round and the open wait under way
    /// all stay; returns the configuration replaced. Each setting takes
    /// effect where it is next read: thresholds at the next outcome (a
    /// closed breaker whose counts already reach a lowered threshold trips
    /// at its next counted outcome, not now), `open_wait` at the next open,
    /// `half_open_probes` at the next probe admitted (probes already out
    /// keep their permits and report as usual), `probe_lease` at the next
    /// probe admitted. The window's capacity is in its type and does not
    /// change. Calls admitted while slow-call detection was off carry the
    /// latest time the breaker had seen when they were admitted, not a
    /// fresh reading: turning `slow_call_duration` on times them from
    /// there, so such a call may count as slower than it was by the time
    /// between the breaker's last clock reading and its admission.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, State};
    /// # use failsafe_core::{Instant, Outcome};
    /// let lax = BreakerConfig::builder().consecutive_failures(5).build().unwrap();
    /// let mut b = CircuitBreaker::new(lax, CountWindow::<10>::new());
    /// for t in 0..2 {
    ///     let p = b.acquire(Instant::from_millis(t)).unwrap();
    ///     b.record(Instant::from_millis(t), p, Outcome::Failure);
    /// }
    /// let strict = BreakerConfig::builder().consecutive_failures(3).build().unwrap();
    /// let old = b.set_config(Instant::from_millis(5), strict);
    /// assert_eq!(old, lax);
    /// assert_eq!(b.metrics(Instant::from_millis(5)).consecutive_failures, 2); // counts kept
    /// let p = b.acquire(Instant::from_millis(6)).unwrap();
    /// b.record(Instant::from_millis(6), p, Outcome::Failure);
    /// assert_eq!(b.state(), State::Open); // the third failure in a row trips it
    /// ```
    pub fn set_config(&mut self, now: Instant, config: C) -> C {
        let _ = self.clock.observe(now);
        core::mem::replace(&mut self.config, config)
    }

    /// The observer, e.g. to read what it collected.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// let b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// let () = *b.observer();
    /// ```
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, mutably.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// let () = *b.observer_mut();
    /// ```
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    fn rejection(&self) -> Rejected {
        match self.mode {
            State::Open => Rejected::new(RejectReason::BreakerOpen, Some(self.deadline.get())),
            // Every probe is out; one may report (and free or end the round)
            // at any moment: the earliest admission is unknown. The lease's
            // end is only a later bound, so it is not given.
            State::HalfOpen => Rejected::new(RejectReason::BreakerHalfOpenFull, None),
            // Until an operator says otherwise: unknown.
            _ => Rejected::new(RejectReason::BreakerForcedOpen, None),
        }
    }

    /// Applies the transitions that became due by `now`. Only open and
    /// half-open have anything to do, so the closed path stays a single check.
    #[inline]
    fn advance(&mut self, now: Instant) {
        if self.is_timed() {
            self.advance_timed(now);
        }
    }

    /// Open and half-open are the states where time alone changes things.
    #[inline]
    fn is_timed(&self) -> bool {
        matches!(self.mode, State::Open | State::HalfOpen)
    }

    /// What a shared handle may admit without taking the lock: the epoch and
    /// the kind of permit, or `None` when admission needs the machine.
    #[inline]
    pub(crate) fn free_admission(&self) -> Option<(u32, bool, bool)> {
        let counted = match self.mode {
            State::Closed | State::MetricsOnly => true,
            State::Disabled => false,
            _ => return None,
        };
        Some((self.epoch, counted, self.cfg().slow_call_nanos.is_some()))
    }

    /// How many successes in a row, from now on, cannot change anything
    /// but the counts (see [`Admission::gate_exit_credit`](crate::admission::Admission::gate_exit_credit)):
    /// none unless closed or metrics-only, on a window that needs no time
    /// and only dilutes on a success ([`Window::success_only_dilutes`]),
    /// without slow-call detection (a success may be slow). Metrics-only
    /// never trips. Closed trips on a success only when it brings the
    /// window's calls up to `minimum_calls` with the failure (or slow) rate
    /// reached: a success adds at most one call and no failure, and the
    /// rates only fall as calls grow, so past that first eligible count no
    /// success can trip.
    pub(crate) fn success_credit(&mut self) -> u32 {
        let counts_only = match self.mode {
            State::Closed => false,
            State::MetricsOnly => true,
            _ => return 0,
        };
        if self.cfg().slow_call_nanos.is_some()
            || self.window.needs_time()
            || !self.window.success_only_dilutes()
        {
            return 0;
        }
        if counts_only {
            return u32::MAX;
        }
        let Some(cap) = self.window.capacity() else {
            return 0;
        };
        let totals = self.window.totals(self.clock.latest());
        let cap = cap as u64;
        // The smallest call count at which the window may trip.
        let eligible = (min_u32(self.cfg().minimum_calls, cap as u32) as u64).max(1);
        if eligible > cap {
            return u32::MAX; // never enough calls to trip (no window at all)
        }
        // Successes until the window first reaches it (at least the next one).
        let first = eligible.saturating_sub(totals.calls).max(1);
        let calls = totals.calls.saturating_add(first).min(cap);
        if self.cfg().failure_rate_reached(totals.failures, calls)
            || self.cfg().slow_rate_reached(totals.slow, calls)
        {
            u32::try_from(first - 1).unwrap_or(u32::MAX)
        } else {
            u32::MAX
        }
    }

    /// Applies `n` successes of counted permits of the current epoch, as
    /// `n` calls of [`record`](Self::record) would, the latest of them at
    /// `latest` (or earlier).
    pub(crate) fn absorb_successes(&mut self, n: u32, latest: Instant) {
        let now = self.clock.observe(latest);
        if n == 0 || !matches!(self.mode, State::Closed | State::MetricsOnly) {
            return;
        }
        self.window.record_successes(now, n);
        self.tally = Tally::ZERO; // no failures in a row
        // Never true within the credit granted; checked all the same.
        if self.mode == State::Closed && self.should_trip(now) {
            self.trip(now);
        }
    }

    fn advance_timed(&mut self, now: Instant) {
        loop {
            match self.mode {
                // `Instant::MAX` marks a wait that ends past the end of the
                // clock: it never ends (its rejections say "never").
                State::Open
                    if now >= self.deadline.get() && self.deadline.get() != Instant::MAX =>
                {
                    let until = self.deadline.get();
                    self.enter(State::HalfOpen, Instant::MAX, until);
                }
                State::HalfOpen if self.round().in_flight() > 0 && now >= self.deadline.get() => {
                    let at = self.deadline.get();
                    let mut round = self.round();
                    let count = round.in_flight();
                    round.failures += count; // none in flight now: at most `admitted`
                    self.set_round(round);
                    // Late reports of the expired probes must not count again.
                    self.epoch = self.epoch.wrapping_add(1);
                    self.observer.on_event(BreakerEvent::ProbesExpired {
                        at,
                        count: u32::from(count),
                    });
                    self.judge_round(round, at);
                    if self.mode == State::HalfOpen {
                        return;
                    }
                }
                _ => return,
            }
        }
    }

    #[inline]
    fn record_counted<T: TimeSource>(
        &mut self,
        time: &mut LazyTime<T>,
        outcome: Outcome,
        slow: bool,
    ) {
        if !outcome.counts() {
            return;
        }
        let failed = outcome.is_failure();
        // Count windows ignore `now`: read the clock only for a time window.
        let now = if self.window.needs_time() {
            time.get(&mut self.clock)
        } else {
            self.clock.latest()
        };
        self.window.record(now, Sample { failed, slow });
        let streak = if failed {
            self.streak().saturating_add(1)
        } else {
            0
        };
        self.tally = Tally::streak(streak);
        if self.mode == State::Closed && self.should_trip(now) {
            let now = time.get(&mut self.clock);
            self.trip(now);
        }
    }

    fn should_trip(&mut self, now: Instant) -> bool {
        if let Some(n) = self.cfg().consecutive_failures
            && self.streak() >= n
        {
            return true;
        }
        let totals = self.window.totals(now);
        let minimum = match self.window.capacity() {
            Some(cap) => min_u32(self.cfg().minimum_calls, cap),
            None => self.cfg().minimum_calls,
        };
        totals.calls > 0
            && totals.calls >= minimum as u64
            && (self
                .cfg()
                .failure_rate_reached(totals.failures, totals.calls)
                || self.cfg().slow_rate_reached(totals.slow, totals.calls))
    }

    fn record_probe(&mut self, now: Instant, outcome: Outcome, slow: bool) {
        if self.mode != State::HalfOpen {
            return; // unreachable: a probe's epoch only matches in half-open
        }
        let mut round = self.round();
        // Every count below stays at most `admitted`: no overflow.
        // This probe leaves the flight by counting once below, or by
        // giving its slot back.
        if !outcome.counts() {
            round.admitted = round.admitted.saturating_sub(1); // the slot is free again
        } else {
            match self.cfg().half_open_rule {
                HalfOpenRule::SuccessThreshold if outcome == Outcome::Success && !slow => {
                    round.successes += 1
                }
                HalfOpenRule::SuccessThreshold => round.failures += 1,
                HalfOpenRule::RateThresholds => {
                    if outcome.is_failure() {
                        round.failures += 1;
                    } else {
                        round.successes += 1;
                    }
                    round.slow += slow as u16;
                }
            }
        }
        self.set_round(round);
        self.judge_round(round, now);
    }

    /// Closes or reopens once a round's result is due (see [`HalfOpenRule`]).
    fn judge_round(&mut self, round: Round, at: Instant) {
        let (close, reopen) = match self.cfg().half_open_rule {
            HalfOpenRule::SuccessThreshold => {
                let needed = self.cfg().success_threshold;
                (
                    u32::from(round.successes) >= needed,
                    u32::from(round.failures) > self.cfg().half_open_probes - needed,
                )
            }
            HalfOpenRule::RateThresholds => {
                let reported = round.successes as u64 + round.failures as u64;
                if round.in_flight() > 0 || reported < self.cfg().half_open_probes as u64 {
                    return; // judged once every permitted probe has reported
                }
                let over = self
                    .cfg()
                    .failure_rate_reached(round.failures as u64, reported)
                    || self.cfg().slow_rate_reached(round.slow as u64, reported);
                (!over, over)
            }
        };
        if close {
            self.opens_in_a_row = 0;
            self.enter(State::Closed, Instant::MAX, at);
        } else if reopen {
            self.trip(at);
        }
    }

    fn trip(&mut self, at: Instant) {
        self.opens_in_a_row = self.opens_in_a_row.saturating_add(1);
        let wait = self.cfg().open_wait_for(u32::from(self.opens_in_a_row));
        self.counters.on_opened();
        // A wait past the last representable instant saturates to
        // `Instant::MAX`, which never ends (see `advance_timed`).
        let until = at.saturating_add(wait);
        self.enter(State::Open, until, at);
    }

    /// Enters `to` at `at`: a new epoch, an empty window and, entering
    /// half-open, a fresh round; `deadline` is the open wait's end (open)
    /// or [`Instant::MAX`].
    fn enter(&mut self, to: State, deadline: Instant, at: Instant) {
        let from = self.mode;
        if from == to && to != State::Open {
            return;
        }
        self.mode = to;
        self.deadline.set(deadline);
        self.tally = Tally::ZERO; // no failures in a row, a fresh round
        self.epoch = self.epoch.wrapping_add(1);
        self.window.clear();
        self.observer
            .on_event(BreakerEvent::StateChanged { from, to, at });
    }
}

impl Round {
    /// Probes admitted and not yet reported (nor expired).
    #[inline]
    const fn in_flight(&self) -> u16 {
        self.admitted
            .saturating_sub(self.successes)
            .saturating_sub(self.failures)
    }
}

impl Tally {
    /// No failures in a row; a fresh round.
    pub(super) const ZERO: Tally = Tally {
        first: 0,
        second: 0,
    };

    /// `n` failures in a row.
    #[inline]
    pub(super) const fn streak(n: u32) -> Tally {
        Tally {
            first: n,
            second: 0,
        }
    }

    /// The failures in a row (closed, metrics-only).
    #[inline]
    pub(super) const fn failures_in_a_row(self) -> u32 {
        self.first
    }

    /// `round` (half-open).
    #[inline]
    pub(super) const fn round(round: Round) -> Tally {
        Tally {
            first: round.admitted as u32 | (round.successes as u32) << 16,
            second: round.failures as u32 | (round.slow as u32) << 16,
        }
    }

    /// The round (half-open).
    #[inline]
    pub(super) const fn as_round(self) -> Round {
        Round {
            admitted: self.first as u16,
            successes: (self.first >> 16) as u16,
            failures: self.second as u16,
            slow: (self.second >> 16) as u16,
        }
    }
}

const fn min_u32(a: u32, b: u32) -> u32 {
    if a < b { a } else { b }
}
