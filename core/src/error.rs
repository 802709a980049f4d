//! The two error values every pattern shares: a rejection ("not now, try at
//! T") and an invalid configuration ("field F is wrong because ...").

use core::fmt;

use crate::Instant;

/// Why a call was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RejectReason {
    /// The circuit breaker is open.
    BreakerOpen,
    /// The circuit breaker is half-open and all its probe permits are out.
    BreakerHalfOpenFull,
    /// The circuit breaker was forced open by an operator.
    BreakerForcedOpen,
    /// The rate limit is reached.
    RateLimited,
    /// More permits were asked for at once than the limiter can ever grant.
    RateInsufficientCapacity,
    /// Every concurrency slot of the bulkhead is taken (and no wait was allowed).
    BulkheadFull,
    /// The bulkhead's wait queue is full.
    BulkheadQueueFull,
    /// The call waited in the bulkhead's queue for its maximum wait.
    BulkheadWaitExpired,
    /// Fail fast is open: the dependency is known to be down.
    FailFastOpen,
    /// The caller's remaining deadline is shorter than the call is expected to take.
    DeadlineTooShort,
    /// The feature flag gating the call is disabled for it (switched off,
    /// killed, denied, outside its schedule or outside its rollout): see
    /// [`toggle`](crate::toggle). Not an overload: retrying does not help
    /// unless `retry_at` names the start of the flag's next window.
    FeatureDisabled,
}

impl RejectReason {
    /// A small number for each reason (a shared handle's gate word).
    pub(crate) const fn code(self) -> u8 {
        self as u8
    }

    /// The reason of [`code`](Self::code).
    pub(crate) const fn from_code(code: u8) -> Option<RejectReason> {
        const ALL: [RejectReason; 11] = [
            RejectReason::BreakerOpen,
            RejectReason::BreakerHalfOpenFull,
            RejectReason::BreakerForcedOpen,
            RejectReason::RateLimited,
            RejectReason::RateInsufficientCapacity,
            RejectReason::BulkheadFull,
            RejectReason::BulkheadQueueFull,
            RejectReason::BulkheadWaitExpired,
            RejectReason::FailFastOpen,
            RejectReason::DeadlineTooShort,
            RejectReason::FeatureDisabled,
        ];
        let mut i = 0;
        while i < ALL.len() {
            if ALL[i] as u8 == code {
                return Some(ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// A short human-readable description.
    ///
    /// ```
    /// # use failsafe_core::RejectReason;
    /// assert_eq!(RejectReason::BreakerOpen.as_str(), "circuit breaker is open");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::BreakerOpen => "circuit breaker is open",
            RejectReason::BreakerHalfOpenFull => {
                "circuit breaker is half-open and all probes are out"
            }
            RejectReason::BreakerForcedOpen => "circuit breaker is forced open",
            RejectReason::RateLimited => "rate limited",
            RejectReason::RateInsufficientCapacity => {
                "more permits asked for than the limiter can ever grant"
            }
            RejectReason::BulkheadFull => "bulkhead is full",
            RejectReason::BulkheadQueueFull => "bulkhead wait queue is full",
            RejectReason::BulkheadWaitExpired => "waited too long for a bulkhead slot",
            RejectReason::FailFastOpen => "failing fast: the dependency is down",
            RejectReason::DeadlineTooShort => {
                "the remaining deadline is shorter than the call takes"
            }
            RejectReason::FeatureDisabled => "the feature is disabled for this call",
        }
    }
}

/// A call was not admitted. Carries the earliest instant worth trying again
/// where the machine knows one, so a server can answer `Retry-After`.
///
/// # What `retry_at` means (one rule for every machine)
///
/// | value | meaning |
/// |---|---|
/// | `Some(t)`, `t < Instant::MAX` | `t` is the **earliest** instant at which the same request can be admitted: no earlier attempt can be, and at `t` it is, unless other calls take the capacity first or an operator intervenes. Never a later bound. |
/// | `None` | the earliest instant is **not known**: it depends on something the machine cannot foresee (a probe reporting, a slot being released, an operator closing a forced-open breaker, a dependency reported healthy). Retry on your own backoff. |
/// | `Some(Instant::MAX)` ([`is_never`](Rejected::is_never)) | **never**: the same request can never be admitted (more permits than the limiter can ever grant; the admission would need time past the end of the clock's range, e.g. a GCRA booking within `period * n` of `Instant::MAX`). Do not retry. |
///
/// "The same request" leaves out what the instant does not speak of: a
/// refused reservation (`reserve` with a maximum wait) says when its permits
/// could **start**, so asking for them at `t` without waiting is admitted;
/// a caller's deadline only shrinks and is judged on its own
/// ([`DeadlineTooShort`](RejectReason::DeadlineTooShort)).
///
/// `tests/tests/clock_contract.rs` checks the rule on every machine that
/// answers with an instant: asked again at `t - 1 ns` the request is still
/// refused, at `t` it is admitted.
///
/// ```
/// use failsafe_core::{Instant, RejectReason, Rejected};
/// let r = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(60)));
/// assert_eq!(r.retry_after(Instant::from_secs(45)).map(|d| d.as_secs()), Some(15));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// Why the call was not admitted.
    pub reason: RejectReason,
    /// The earliest instant at which a new attempt may be admitted, if known.
    pub retry_at: Option<Instant>,
}

impl Rejected {
    /// A rejection for `reason`, retry possible at `retry_at`.
    ///
    /// ```
    /// # use failsafe_core::{RejectReason, Rejected};
    /// let r = Rejected::new(RejectReason::BreakerForcedOpen, None);
    /// assert_eq!(r.retry_at, None);
    /// ```
    pub const fn new(reason: RejectReason, retry_at: Option<Instant>) -> Rejected {
        Rejected { reason, retry_at }
    }

    /// A rejection that can never turn into an admission: `retry_at` is
    /// `Some(Instant::MAX)`, the one representation of "never".
    ///
    /// ```
    /// # use failsafe_core::{Instant, RejectReason, Rejected};
    /// let r = Rejected::never(RejectReason::RateInsufficientCapacity);
    /// assert_eq!(r.retry_at, Some(Instant::MAX));
    /// assert!(r.is_never());
    /// ```
    pub const fn never(reason: RejectReason) -> Rejected {
        Rejected {
            reason,
            retry_at: Some(Instant::MAX),
        }
    }

    /// Whether this rejection says "never" (`retry_at == Some(Instant::MAX)`).
    ///
    /// ```
    /// # use failsafe_core::{Instant, RejectReason, Rejected};
    /// assert!(!Rejected::new(RejectReason::BreakerOpen, None).is_never());
    /// assert!(!Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(1))).is_never());
    /// ```
    pub const fn is_never(&self) -> bool {
        matches!(self.retry_at, Some(Instant::MAX))
    }

    /// How long from `now` until a retry is worth it (zero if already due).
    ///
    /// ```
    /// # use failsafe_core::{Instant, RejectReason, Rejected};
    /// let r = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(5)));
    /// assert_eq!(r.retry_after(Instant::from_secs(9)).unwrap().as_secs(), 0);
    /// ```
    pub fn retry_after(&self, now: Instant) -> Option<core::time::Duration> {
        self.retry_at.map(|at| at.saturating_duration_since(now))
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason.as_str())?;
        match self.retry_at {
            Some(Instant::MAX) => f.write_str(" (never admissible)")?,
            Some(at) => write!(f, " (retry at {at})")?,
            None => {}
        }
        Ok(())
    }
}

impl core::error::Error for Rejected {}

/// What is wrong with a configuration value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Problem {
    /// Must be greater than zero.
    Zero,
    /// A ratio must lie in `(0, 1]` and not be NaN.
    RatioOutOfRange,
    /// A fraction must lie in `[0, 1]` and not be NaN (a jitter ratio, a
    /// share of calls: zero is allowed).
    FractionOutOfRange,
    /// A maximum is below its minimum (or a part exceeds its whole).
    BelowMinimum,
    /// The value is larger than this machine can hold.
    TooLarge,
    /// The configuration can never trigger (nothing was enabled).
    NothingEnabled,
    /// The same value is given twice where each must be unique (a flag name).
    Duplicate,
    /// Values that must come in increasing order do not (schedule windows).
    Unordered,
    /// A required field of a builder was never set.
    Missing,
}

impl Problem {
    /// A short human-readable description.
    ///
    /// ```
    /// # use failsafe_core::Problem;
    /// assert_eq!(Problem::Zero.as_str(), "must be greater than zero");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Problem::Zero => "must be greater than zero",
            Problem::RatioOutOfRange => "must be a ratio in (0, 1]",
            Problem::FractionOutOfRange => "must be a fraction in [0, 1]",
            Problem::BelowMinimum => "must not be below its minimum",
            Problem::TooLarge => "is too large",
            Problem::NothingEnabled => "no condition is enabled",
            Problem::Duplicate => "is given twice",
            Problem::Unordered => "must be in increasing order, without overlap",
            Problem::Missing => "must be set",
        }
    }
}

/// A configuration value was rejected; names the field and the problem.
///
/// ```
/// use failsafe_core::breaker::BreakerConfig;
/// let err = BreakerConfig::builder().failure_rate_threshold(1.5).build().unwrap_err();
/// assert_eq!(err.field, "failure_rate_threshold");
/// assert_eq!(err.to_string(), "invalid `failure_rate_threshold`: must be a ratio in (0, 1]");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigError {
    /// The name of the offending field, as spelled by its builder method.
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: Problem,
}

impl ConfigError {
    /// An error about `field`.
    ///
    /// ```
    /// # use failsafe_core::{ConfigError, Problem};
    /// assert_eq!(ConfigError::new("window", Problem::Zero).field, "window");
    /// ```
    pub const fn new(field: &'static str, problem: Problem) -> ConfigError {
        ConfigError { field, problem }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`: {}", self.field, self.problem.as_str())
    }
}

impl core::error::Error for ConfigError {}

/// Unwraps a configuration in a `const` or a `static`: the one spelling for
/// a compile-time-checked configuration (every builder's `build()`, and
/// `Quota::per_second`, `TimeWindow::new`, `RatioBudget::new`, ...).
///
/// # Panics
///
/// On an `Err`, naming the field: in a `const` or a `static` that is a
/// build error, so a bad firmware configuration never ships.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::breaker::BreakerConfig;
/// use failsafe_core::checked;
/// use failsafe_core::rate::Quota;
///
/// const CONFIG: BreakerConfig = checked(BreakerConfig::builder().open_wait(Duration::from_secs(5)).build());
/// const QUOTA: Quota = checked(Quota::per_second(100));
/// # let _ = (CONFIG, QUOTA);
/// ```
///
/// ```compile_fail,E0080
/// use failsafe_core::breaker::BreakerConfig;
/// use failsafe_core::checked;
/// const BAD: BreakerConfig = checked(BreakerConfig::builder().failure_rate_threshold(2.0).build());
/// ```
pub const fn checked<T: Copy>(config: Result<T, ConfigError>) -> T {
    match config {
        Ok(value) => value,
        Err(e) => panic!("{}", e.field),
    }
}
