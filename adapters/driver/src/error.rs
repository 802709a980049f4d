//! The error a wrapped call returns: the inner error, kept typed, or the
//! reason the call never ran.

use core::fmt;

use failsafe_core::Rejected;
use failsafe_core::fallback::FallbackReason;
use failsafe_core::plan::Finish;
use failsafe_core::timeout::Deadline;

/// A wrapped call's error.
///
/// ```
/// use failsafe_core::{Instant, RejectReason, Rejected};
/// use failsafe_driver::Error;
///
/// let e: Error<&str> = Error::Rejected(Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(9))));
/// assert_eq!(e.rejected().unwrap().retry_at, Some(Instant::from_secs(9)));
/// assert_eq!(Error::Inner("boom").into_inner(), Some("boom"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E> {
    /// A policy did not let the call run; says why and when to retry.
    Rejected(Rejected),
    /// The call did not finish by this deadline and was cancelled.
    Timeout(Deadline),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> Error<E> {
    /// The rejection, if the call never ran.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Error::Rejected(r) => Some(r),
            _ => None,
        }
    }

    /// `true` if a policy did not let the call run.
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// `true` if the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// The inner error, if the call ran and failed.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// A timed call's result from how its plan finished
    /// ([`execute`](crate::execute)'s answer): the attempt's own result, or
    /// [`Error::Timeout`] when the deadline passed first (or its late
    /// result was discarded).
    ///
    /// A finish with no result that is not a timeout (never given by a
    /// timeout plan) is reported as a timeout at [`Deadline::NEVER`].
    ///
    /// ```
    /// use failsafe_core::plan::Finish;
    /// use failsafe_core::{timeout::Deadline, Instant};
    /// use failsafe_driver::Error;
    ///
    /// let deadline = Deadline::at(Instant::from_secs(1));
    /// let timed_out = Error::<()>::from_finish::<()>(Finish::TimedOut(deadline), None);
    /// assert_eq!(timed_out, Err(Error::Timeout(deadline)));
    /// ```
    ///
    /// # Errors
    ///
    /// The attempt's error, or [`Error::Timeout`].
    pub fn from_finish<T>(finish: Finish, result: Option<Result<T, Error<E>>>) -> Result<T, Self> {
        match (finish, result) {
            (Finish::TimedOut(deadline), _) => Err(Error::Timeout(deadline)),
            (_, Some(result)) => result,
            (_, None) => Err(Error::Timeout(Deadline::NEVER)),
        }
    }

    /// Why a fallback would be taken for this error.
    pub fn fallback_reason(&self) -> FallbackReason {
        match self {
            Error::Rejected(r) => FallbackReason::Rejected(*r),
            Error::Timeout(_) => FallbackReason::TimedOut,
            Error::Inner(_) => FallbackReason::Failed,
        }
    }

    /// Maps the inner error, keeping rejections as they are.
    ///
    /// ```
    /// # use failsafe_driver::Error;
    /// assert_eq!(Error::Inner(2).map_inner(|n| n * 10), Error::Inner(20));
    /// ```
    pub fn map_inner<F, G: FnOnce(E) -> F>(self, g: G) -> Error<F> {
        match self {
            Error::Inner(e) => Error::Inner(g(e)),
            Error::Rejected(r) => Error::Rejected(r),
            Error::Timeout(d) => Error::Timeout(d),
        }
    }
}

impl<E> Error<Error<E>> {
    /// Flattens the error of a wrapper around a wrapped call (a breaker
    /// around a timeout, say) into one level.
    ///
    /// ```
    /// # use failsafe_driver::Error;
    /// let nested: Error<Error<&str>> = Error::Inner(Error::Inner("boom"));
    /// assert_eq!(nested.flatten(), Error::Inner("boom"));
    /// ```
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Inner(inner) => inner,
            Error::Rejected(r) => Error::Rejected(r),
            Error::Timeout(d) => Error::Timeout(d),
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => write!(f, "rejected: {r}"),
            Error::Timeout(d) => write!(f, "timed out at {d}"),
            Error::Inner(e) => write!(f, "{e}"),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        // Display already shows this level; the chain continues below it.
        match self {
            Error::Rejected(_) | Error::Timeout(_) => None,
            Error::Inner(e) => e.source(),
        }
    }
}
