//! How a call ended, as reported back to the machine that admitted it.

use core::fmt;

/// How a call ended. The call's duration is not part of the outcome: the
/// machine knows when it issued the permit and when the outcome is recorded.
///
/// ```
/// use failsafe_core::Outcome;
/// assert!(Outcome::Timeout.is_failure());
/// assert!(!Outcome::Cancelled.counts());
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed in a way that says something about the dependency.
    Failure,
    /// The call ran out of time (counts as a failure).
    Timeout,
    /// The call failed and says the dependency is down (a health check's
    /// verdict, a `503` with a maintenance header): a failure everywhere,
    /// and fail fast opens at once instead of waiting for its streak.
    Unhealthy,
    /// The caller gave up (the future was dropped, the closure panicked): the
    /// permit is returned but the call counts neither way.
    Cancelled,
    /// The call finished, but its result says nothing about the dependency
    /// (a classifier chose to ignore it, e.g. a `404`): the permit is returned
    /// and the call counts neither way.
    Ignored,
}

impl Outcome {
    /// `true` for [`Outcome::Failure`], [`Outcome::Timeout`] and
    /// [`Outcome::Unhealthy`].
    ///
    /// ```
    /// # use failsafe_core::Outcome;
    /// assert!(Outcome::Failure.is_failure());
    /// assert!(!Outcome::Success.is_failure());
    /// ```
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Outcome::Failure | Outcome::Timeout | Outcome::Unhealthy
        )
    }

    /// `true` when the outcome is evidence about the dependency (success,
    /// failure, timeout, unhealthy); `false` for cancelled and ignored calls.
    ///
    /// ```
    /// # use failsafe_core::Outcome;
    /// assert!(Outcome::Success.counts());
    /// assert!(!Outcome::Ignored.counts());
    /// ```
    pub const fn counts(self) -> bool {
        !matches!(self, Outcome::Cancelled | Outcome::Ignored)
    }

    /// The outcome's lowercase name (its `Display`, and the `outcome`
    /// code events carry).
    ///
    /// ```
    /// # use failsafe_core::Outcome;
    /// assert_eq!(Outcome::Timeout.as_str(), "timeout");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Timeout => "timeout",
            Outcome::Unhealthy => "unhealthy",
            Outcome::Cancelled => "cancelled",
            Outcome::Ignored => "ignored",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
