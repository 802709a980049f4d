//! The circuit breaker: stop calling a dependency that is failing, probe it
//! carefully, and resume when it has recovered.
//!
//! ```text
//!            trip (rate, slow rate or consecutive failures)
//!   Closed ─────────────────────────────────────────────▶ Open ◀──────┐
//!     ▲                                                    │          │ the round failed
//!     │ the round passed (HalfOpenRule)                    │ open_wait│ (HalfOpenRule; a probe
//!     └──────────────────────────── HalfOpen ◀─────────────┘          │ whose lease ran out
//!                                       └─────────────────────────────┘ counts as failed)
//! ```
//! Plus operator states: `Disabled` (admit everything, count nothing),
//! `MetricsOnly` (admit everything, count, never trip) and `ForcedOpen`.
//!
//! A timeline (the breaker opens after three failures in a row):
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
//! use failsafe_core::{Instant, Outcome};
//!
//! let config = BreakerConfig::builder()
//!     .no_failure_rate()
//!     .consecutive_failures(3)
//!     .open_wait(Duration::from_secs(60))
//!     .build()
//!     .unwrap();
//! let mut breaker = CircuitBreaker::new(config, NoWindow);
//! for ms in [0, 10, 20] {
//!     let t = Instant::from_millis(ms);
//!     let permit = breaker.acquire(t).unwrap();
//!     breaker.record(t, permit, Outcome::Failure);
//! }
//! // at t=20ms the breaker is open until t=60.020s
//! assert_eq!(breaker.state(), State::Open);
//! let rejected = breaker.acquire(Instant::from_secs(30)).unwrap_err();
//! assert_eq!(rejected.retry_at, Some(Instant::from_millis(60_020)));
//! // at t=60.020s one probe is admitted; its success closes the breaker
//! let probe = breaker.acquire(Instant::from_millis(60_020)).unwrap();
//! assert!(breaker.acquire(Instant::from_millis(60_021)).is_err()); // quota: one probe
//! breaker.record(Instant::from_millis(60_100), probe, Outcome::Success);
//! assert_eq!(breaker.state(), State::Closed);
//! ```

//! # Boundaries
//!
//! Every threshold says in its doc on which side its exact value falls; the
//! builder's table ([`BreakerConfigBuilder`]) sums them up. In short, following
//! resilience4j: a call of exactly `slow_call_duration` is not slow, a rate
//! equal to its threshold opens, a window of exactly `minimum_calls` is
//! judged, the `n`-th consecutive failure opens; and the open wait and the
//! probe lease end at exactly their instant (a call then is a probe; a probe
//! still out then has failed).
//!
//! # What a rejection's `retry_at` says
//!
//! | state | reason | `retry_at` |
//! |---|---|---|
//! | open | [`BreakerOpen`](crate::RejectReason::BreakerOpen) | `Some(end of the open wait)`: exactly when a probe is admitted; `Some(Instant::MAX)` (never) if the wait ends past the end of the clock |
//! | half-open, every probe out | [`BreakerHalfOpenFull`](crate::RejectReason::BreakerHalfOpenFull) | `None`: a probe may report at any moment (the lease's end is only a later bound) |
//! | forced open | [`BreakerForcedOpen`](crate::RejectReason::BreakerForcedOpen) | `None`: until an operator says otherwise |
//!
//! The [`SharedBreaker`](crate::sync::SharedBreaker) fast path answers the same.
//!
//! # How a half-open round is judged
//!
//! Two rules, chosen with [`BreakerConfigBuilder::half_open_rule`] (see
//! [`HalfOpenRule`]); the default is unchanged from earlier releases
//! ([`HalfOpenRule::SuccessThreshold`] with every probe required). What each
//! anchor library does, and how to say it here:
//!
//! | library | its half-open rule | here |
//! |---|---|---|
//! | resilience4j | admits `permittedNumberOfCallsInHalfOpenState` (10) calls; once they have all finished, opens if their failure rate or slow-call rate is at or above its threshold, else closes | `.half_open_probes(n).half_open_rule(HalfOpenRule::RateThresholds)` with the same `failure_rate_threshold` / `slow_call_*` |
//! | Failsafe for Java | a success threshold, a count (`withSuccessThreshold(k)`) or a ratio (`withSuccessThreshold(k, n)`): closes at `k` successes, opens once more than `n - k` failed. Without one, the failure threshold applies in half-open: a count `k` of `n` (opens at `k` failures, closes at `n - k + 1` successes; default 1 of 1, one trial call), or a time-based failure rate (once `failureExecutionThreshold` executions: opens at a failure rate at or above it, closes at a success rate above its complement) | success threshold: `.half_open_probes(n).success_threshold(k)` (`n = k` for a count); failure count only: `.half_open_probes(n).success_threshold(n - k + 1)`; failure rate: `.half_open_probes(executions).half_open_rule(HalfOpenRule::RateThresholds)` (judged once all have reported) |
//! | Polly | one trial call per break: its success closes, its failure reopens | the default: `.half_open_probes(1)` |
//! | Python Failsafe | `recovery_threshold` successes in a row close; any failure reopens (trial calls are not capped) | `.half_open_probes(k).success_threshold(k)` (the default threshold when `half_open_probes(k)`) |
//!
//! The default stays the success threshold with every probe required: a
//! single bad probe keeps a barely recovered dependency protected, and with
//! the default single probe the two rules agree anyway.

mod config;
mod contract;
mod counters;
mod machine;
mod window;

pub use config::{BreakerConfig, BreakerConfigBuilder, HalfOpenRule};
pub use counters::{BreakerCounters, Counters, NoCounters};
pub use machine::CircuitBreaker;
pub use window::{CountWindow, NoWindow, Sample, TimeWindow, Totals, Window};

use core::fmt;

use crate::{Instant, Outcome, Rejected};

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Calls flow and are counted.
    Closed,
    /// Calls are rejected until the open wait is over.
    Open,
    /// A limited number of probe calls are let through.
    HalfOpen,
    /// Operator state: every call is admitted and nothing is counted.
    Disabled,
    /// Operator state: every call is admitted and counted, but the breaker never trips.
    MetricsOnly,
    /// Operator state: every call is rejected until an operator says otherwise.
    ForcedOpen,
}

impl State {
    /// The state's name, e.g. `"half-open"`.
    ///
    /// ```
    /// # use failsafe_core::breaker::State;
    /// assert_eq!(State::HalfOpen.as_str(), "half-open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::Disabled => "disabled",
            State::MetricsOnly => "metrics-only",
            State::ForcedOpen => "forced-open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a breaker reports to its [`Observer`](crate::Observer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BreakerEvent {
    /// The state changed at `at` (the instant the change became due, which
    /// may be earlier than the call that noticed it).
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// When.
        at: Instant,
    },
    /// A call was not admitted.
    Rejected {
        /// When.
        at: Instant,
        /// Why, and when to retry.
        rejected: Rejected,
    },
    /// Calls rejected without the lock by a shared handle's gate
    /// ([`Shared`](crate::sync::Shared)), counted with one atomic add each and
    /// reported together at the handle's next locked operation (any call
    /// that reaches the machine, an operator action, a metrics snapshot).
    LockFreeRejections {
        /// How many calls.
        count: u64,
        /// The latest time the machine had seen when they were reported: the
        /// gate does not tell it the time, so they were rejected at or
        /// after it (and before the operation that reported them).
        at: Instant,
        /// Why they were rejected, and when to retry, as the gate told them.
        rejected: Rejected,
    },
    /// Half-open probes did not report within their lease and were counted as failures.
    ProbesExpired {
        /// When the lease ran out.
        at: Instant,
        /// How many probes expired.
        count: u32,
    },
    /// An outcome arrived for a permit issued in an earlier state (or an
    /// earlier half-open round) and was not counted.
    StaleOutcome {
        /// When it arrived.
        at: Instant,
        /// What it said.
        outcome: Outcome,
    },
}

/// A consistent snapshot of a breaker, for dashboards and health checks.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct BreakerMetrics {
    /// The current state.
    pub state: State,
    /// Calls in the window.
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// `failures / calls`, or `None` with no calls.
    pub failure_rate: Option<f32>,
    /// `slow_calls / calls`, or `None` with no calls.
    pub slow_call_rate: Option<f32>,
    /// Failures since the last success (counted in closed and metrics-only).
    pub consecutive_failures: u32,
    /// Calls rejected since creation (or the last reset).
    pub rejected: u64,
    /// Times the breaker opened since creation (or the last reset).
    pub times_opened: u64,
    /// Outcomes ignored because their permit belonged to an earlier state.
    pub stale_outcomes: u64,
    /// Half-open probes currently out.
    pub probes_in_flight: u32,
    /// While open: when the breaker will admit a probe.
    pub open_until: Option<Instant>,
}

/// Admission to make one call through a breaker. Hand it back with
/// [`CircuitBreaker::record`]; adapters wrap it in a guard that records
/// [`Outcome::Cancelled`] if the call is dropped or panics. Hand it back to
/// the breaker that gave it: recorded on another, its outcome counts there
/// (the adapters' guards keep each permit with its machine).
#[must_use = "a permit must be returned with `record`, or a half-open probe slot stays taken until its lease ends"]
#[derive(PartialEq, Eq)]
pub struct BreakerPermit {
    issued_at: Instant,
    /// The epoch (bits 0 to 31) and the [`PermitKind`] (bits 32 and up) in
    /// one word: a permit of two words moves in two registers, not through
    /// memory. A counted or uncounted permit's tag is the shared gate's token.
    tag: u64,
}

impl core::fmt::Debug for BreakerPermit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("issued_at", &self.issued_at)
            .field("epoch", &self.epoch())
            .field("kind", &self.kind())
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for BreakerPermit {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "BreakerPermit {{ issued_at: {}, epoch: {}, kind: {} }}",
            self.issued_at,
            self.epoch(),
            self.kind()
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum PermitKind {
    /// Issued while closed or metrics-only: counted in the window.
    Counted = 0,
    /// Issued while disabled: counts nowhere.
    Uncounted = 1,
    /// A half-open probe.
    Probe = 2,
}

impl BreakerPermit {
    pub(crate) const fn new(issued_at: Instant, epoch: u32, kind: PermitKind) -> Self {
        BreakerPermit {
            issued_at,
            tag: epoch as u64 | (kind as u64) << 32,
        }
    }

    /// A permit from its tag (see the field).
    pub(crate) const fn from_tag(issued_at: Instant, tag: u64) -> Self {
        BreakerPermit { issued_at, tag }
    }

    /// The tag: the epoch and the kind.
    pub(crate) const fn tag(&self) -> u64 {
        self.tag
    }

    /// The epoch it was issued in.
    pub(crate) const fn epoch(&self) -> u32 {
        self.tag as u32
    }

    /// Its kind.
    pub(crate) const fn kind(&self) -> PermitKind {
        match self.tag >> 32 {
            0 => PermitKind::Counted,
            1 => PermitKind::Uncounted,
            _ => PermitKind::Probe,
        }
    }

    /// When the call started, where the breaker needed to know (slow-call
    /// detection is on, or the permit is a probe). Otherwise the breaker does
    /// not read the clock to admit a call, and this is an earlier instant it
    /// had seen (possibly the epoch).
    ///
    /// ```
    /// # use failsafe_core::{breaker::{BreakerConfig, CircuitBreaker, CountWindow}, Instant, Outcome};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// let p = b.acquire(Instant::from_millis(5)).unwrap();
    /// assert_eq!(p.issued_at(), Instant::from_millis(5));
    /// # b.record(Instant::from_millis(6), p, Outcome::Success);
    /// ```
    pub const fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// `true` if this is a half-open probe.
    ///
    /// ```
    /// # use failsafe_core::{breaker::{BreakerConfig, CircuitBreaker, CountWindow}, Instant, Outcome};
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
    /// let p = b.acquire(Instant::ZERO).unwrap();
    /// assert!(!p.is_probe());
    /// # b.record(Instant::ZERO, p, Outcome::Success);
    /// ```
    pub const fn is_probe(&self) -> bool {
        matches!(self.kind(), PermitKind::Probe)
    }
}

#[cfg(test)]
mod tests;
