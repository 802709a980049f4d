//! Fail fast: stop calling a dependency known to be down, and do not start
//! a call the caller's deadline cannot cover.
//!
//! ```text
//!          N consecutive failures, report_unhealthy, open
//!   Closed ───────────────────────────────────────────────▶ Open
//!     ▲                                                      │
//!     └──────────────────────────────────────────────────────┘
//!       report_healthy, close, or a successful probe (if a probe interval is set)
//! ```
//!
//! Unlike a circuit breaker, an open fail fast does not recover by itself:
//! it stays open until recovery is signalled (a health report or a manual
//! close), as in the Python Failsafe. With a probe interval configured it
//! admits one health probe per interval, and a successful probe closes it.
//!
//! Deadline awareness: [`FailFast::acquire`] takes the caller's
//! [`Deadline`](crate::timeout::Deadline) and rejects with
//! [`RejectReason::DeadlineTooShort`](crate::RejectReason::DeadlineTooShort)
//! a call whose remaining time is below the expected call duration plus a
//! safety margin. The expected duration is configured, or learned from the
//! durations of successful calls.
//!
//! A timeline (open after three failures in a row, stay open until healthy):
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::failfast::{FailFast, FailFastConfig, State};
//! use failsafe_core::timeout::Deadline;
//! use failsafe_core::{Instant, Outcome, RejectReason};
//!
//! let config = FailFastConfig::builder()
//!     .consecutive_failures(3)
//!     .expected_duration(Duration::from_millis(50))
//!     .build()
//!     .unwrap();
//! let mut ff = FailFast::new(config);
//! for ms in [0, 10, 20] {
//!     let t = Instant::from_millis(ms);
//!     let permit = ff.acquire(t, Deadline::NEVER).unwrap();
//!     ff.record(t, permit, Outcome::Failure);
//! }
//! // at t=20ms the third failure opens it, with no way back on its own
//! assert_eq!(ff.state(), State::Open);
//! let r = ff.acquire(Instant::from_secs(3_600), Deadline::NEVER).unwrap_err();
//! assert_eq!((r.reason, r.retry_at), (RejectReason::FailFastOpen, None));
//! // at t=1h a health check says the dependency is back
//! ff.report_healthy(Instant::from_secs(3_600));
//! // a caller with 30 ms left cannot fit a 50 ms call
//! let now = Instant::from_secs(3_601);
//! let short = Deadline::after(now, Duration::from_millis(30));
//! assert_eq!(ff.acquire(now, short).unwrap_err().reason, RejectReason::DeadlineTooShort);
//! ```

mod config;
mod contract;
mod machine;

pub use config::{FailFastConfig, FailFastConfigBuilder};
pub use machine::FailFast;

use core::fmt;
use core::time::Duration;

use crate::{Instant, Outcome, Rejected};

/// The fail fast's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Calls flow (if their deadline allows) and failures in a row are counted.
    Closed,
    /// The dependency is known to be down: calls are rejected (except one
    /// probe per interval, if configured).
    Open,
}

impl State {
    /// The state's name, e.g. `"open"`.
    ///
    /// ```
    /// # use failsafe_core::failfast::State;
    /// assert_eq!(State::Open.as_str(), "open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a fail fast opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OpenCause {
    /// The configured number of failures in a row was reached.
    ConsecutiveFailures,
    /// [`FailFast::report_unhealthy`]: a predicate over an outcome or an
    /// external health check said the dependency is down.
    Unhealthy,
    /// [`FailFast::open`]: an operator or the application opened it.
    Manual,
}

impl OpenCause {
    /// A short description, e.g. `"consecutive failures"`.
    ///
    /// ```
    /// # use failsafe_core::failfast::OpenCause;
    /// assert_eq!(OpenCause::Unhealthy.as_str(), "reported unhealthy");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            OpenCause::ConsecutiveFailures => "consecutive failures",
            OpenCause::Unhealthy => "reported unhealthy",
            OpenCause::Manual => "opened manually",
        }
    }
}

impl fmt::Display for OpenCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a fail fast closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CloseCause {
    /// [`FailFast::report_healthy`]: a health check said the dependency is back.
    Healthy,
    /// [`FailFast::close`] (or [`FailFast::reset`]): closed by hand.
    Manual,
    /// A health probe admitted while open succeeded.
    ProbeSucceeded,
}

impl CloseCause {
    /// A short description, e.g. `"probe succeeded"`.
    ///
    /// ```
    /// # use failsafe_core::failfast::CloseCause;
    /// assert_eq!(CloseCause::ProbeSucceeded.as_str(), "probe succeeded");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseCause::Healthy => "reported healthy",
            CloseCause::Manual => "closed manually",
            CloseCause::ProbeSucceeded => "probe succeeded",
        }
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a fail fast reports to its [`Observer`](crate::Observer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FailFastEvent {
    /// It opened at `at`.
    Opened {
        /// When.
        at: Instant,
        /// Why.
        cause: OpenCause,
    },
    /// It closed at `at`.
    Closed {
        /// When.
        at: Instant,
        /// Why.
        cause: CloseCause,
    },
    /// While open, a health probe became due at `at` (reported once per
    /// interval, by [`FailFast::on_deadline`] or the call that noticed it):
    /// the next call is admitted as the probe, or a driver may start one.
    ProbeDue {
        /// When it became due.
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
    /// reported together at the handle's next locked operation.
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
    /// An outcome arrived for a permit issued before the last open or close
    /// and was not counted.
    StaleOutcome {
        /// When it arrived.
        at: Instant,
        /// What it said.
        outcome: Outcome,
    },
}

/// A consistent snapshot of a fail fast, for dashboards and health checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct FailFastMetrics {
    /// The current state.
    pub state: State,
    /// While open: why it opened.
    pub open_cause: Option<OpenCause>,
    /// While open: since when.
    pub open_since: Option<Instant>,
    /// While open with a probe interval: when the next probe is admitted
    /// (`None` when it would fall past the end of the clock: it never comes).
    pub next_probe_at: Option<Instant>,
    /// Failures in a row (since the last success, close or health report).
    pub consecutive_failures: u32,
    /// The current expected call duration (configured or learned), without
    /// the safety margin.
    pub expected_duration: Duration,
    /// Successful call durations learned so far (zero when not learning).
    pub learned_samples: u64,
    /// Calls rejected because it was open.
    pub rejected_open: u64,
    /// Calls rejected because their deadline was too short.
    pub rejected_deadline: u64,
    /// Health probes admitted while open.
    pub probes_admitted: u64,
    /// Times it opened.
    pub times_opened: u64,
    /// Outcomes ignored because their permit predates the last open or close.
    pub stale_outcomes: u64,
}

/// Admission to make one call through a fail fast. Hand it back with
/// [`FailFast::record`]; adapters wrap it in a guard that records
/// [`Outcome::Cancelled`] if the call is dropped or panics. Hand it back to
/// the fail fast that gave it: recorded on another, its outcome counts
/// there (the adapters' guards keep each permit with its machine).
#[must_use = "a permit must be returned with `record`, or its outcome is never counted"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailFastPermit {
    issued_at: Instant,
    epoch: u32,
    probe: bool,
}

impl FailFastPermit {
    /// When the call started, where the fail fast needed to know (it learns
    /// durations, checked a deadline, or was open). Otherwise it did not read
    /// the clock, and this is an earlier instant it had seen (possibly the epoch).
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    /// let p = ff.acquire(Instant::from_millis(5), Deadline::NEVER).unwrap();
    /// assert_eq!(p.issued_at(), Instant::from_millis(5));
    /// # ff.record(Instant::from_millis(6), p, Outcome::Success);
    /// ```
    pub const fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// `true` if this is a health probe admitted while open.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = FailFastConfig::builder().probe_interval(Duration::from_secs(1)).build().unwrap();
    /// let mut ff = FailFast::new(config);
    /// ff.open(Instant::ZERO);
    /// let p = ff.acquire(Instant::from_secs(1), Deadline::NEVER).unwrap();
    /// assert!(p.is_probe());
    /// # ff.record(Instant::from_secs(1), p, Outcome::Success);
    /// ```
    pub const fn is_probe(&self) -> bool {
        self.probe
    }
}

#[cfg(test)]
mod tests;
