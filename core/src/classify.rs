//! One classifier for every pattern: what a call's result means.
//!
//! A [`Classify`] turns a result into an [`Outcome`] (what admission
//! machines count: success, failure, timeout, unhealthy, ignored) and into
//! a retry [`Verdict`] (retry, with a kind and a `Retry-After` hint; do not
//! retry; abort). Each is derived from the other unless a classifier gives
//! both, so one classifier serves a breaker, a fail fast, a bulkhead's
//! adaptive limit and a retry at once.
//!
//! Any closure returning an [`Outcome`] or a [`Verdict`] is a classifier.
//!
//! ```
//! use failsafe_core::classify::{Classify, DefaultClassifier};
//! use failsafe_core::retry::Verdict;
//! use failsafe_core::Outcome;
//!
//! let status_aware = |r: &Result<u16, ()>| match r {
//!     Ok(code) if *code >= 500 => Outcome::Failure,
//!     Ok(404) => Outcome::Ignored,
//!     Ok(_) => Outcome::Success,
//!     Err(()) => Outcome::Failure,
//! };
//! assert_eq!(status_aware.classify(&Ok(503)), Outcome::Failure);
//! assert_eq!(status_aware.verdict(&Ok(503)), Verdict::retry());
//! assert_eq!(DefaultClassifier.classify(&Ok::<u16, ()>(503)), Outcome::Success);
//! ```

use crate::retry::{FailureKind, Verdict};
use crate::{Instant, Outcome};

/// What a result means, to every pattern.
pub trait Classify<T, E> {
    /// The outcome admission machines count.
    fn classify(&self, result: &Result<T, E>) -> Outcome;

    /// Whether a retry follows; defaults to the outcome's
    /// ([`Judgement::verdict`]).
    fn verdict(&self, result: &Result<T, E>) -> Verdict {
        self.classify(result).verdict()
    }

    /// [`verdict`](Self::verdict) knowing the time (a classifier that
    /// turns a rejection's `retry_at` into a hint needs it).
    fn verdict_at(&self, now: Instant, result: &Result<T, E>) -> Verdict {
        let _ = now;
        self.verdict(result)
    }

    /// Whether [`verdict_at`](Self::verdict_at) reads its `now`. A
    /// classifier that says no lets a retry end a successful attempt
    /// without reading the clock (when nothing else needs the time). Yes
    /// by default (the safe answer); the classifiers here that only look
    /// at the result, closures included, say no.
    ///
    /// ```
    /// use failsafe_core::classify::{Classify, DefaultClassifier};
    /// assert!(!Classify::<u8, ()>::verdict_uses_time(&DefaultClassifier));
    /// ```
    #[inline(always)]
    fn verdict_uses_time(&self) -> bool {
        true
    }
}

/// A classifier's answer for one result: an [`Outcome`] or a [`Verdict`],
/// each readable as the other.
pub trait Judgement: Copy {
    /// As an outcome: a verdict to retry is a failure (a timeout if its
    /// kind says so), not retrying or aborting is a failure too.
    fn outcome(self) -> Outcome;
    /// As a retry verdict: failures retry (timeouts as timeouts), an
    /// ignored result ends the retry as it is, a cancelled call aborts.
    fn verdict(self) -> Verdict;
}

impl Judgement for Outcome {
    #[inline]
    fn outcome(self) -> Outcome {
        self
    }

    fn verdict(self) -> Verdict {
        match self {
            Outcome::Success | Outcome::Ignored => Verdict::Success,
            Outcome::Timeout => Verdict::Retry {
                kind: FailureKind::Timeout,
                retry_after: None,
            },
            Outcome::Cancelled => Verdict::Abort,
            _ => Verdict::retry(),
        }
    }
}

impl Judgement for Verdict {
    fn outcome(self) -> Outcome {
        match self {
            Verdict::Success => Outcome::Success,
            Verdict::Retry {
                kind: FailureKind::Timeout,
                ..
            } => Outcome::Timeout,
            _ => Outcome::Failure,
        }
    }

    #[inline]
    fn verdict(self) -> Verdict {
        self
    }
}

impl<T, E, F, J> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> J,
    J: Judgement,
{
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        self(result).outcome()
    }

    #[inline]
    fn verdict(&self, result: &Result<T, E>) -> Verdict {
        self(result).verdict()
    }

    #[inline(always)]
    fn verdict_uses_time(&self) -> bool {
        false
    }
}

/// `Ok` is a success, `Err` a failure (retried).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classify<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }

    #[inline(always)]
    fn verdict_uses_time(&self) -> bool {
        false
    }
}

/// [`DefaultClassifier`], except that a result `P` says is unhealthy is
/// [`Outcome::Unhealthy`] (fail fast opens at once).
///
/// ```
/// use failsafe_core::classify::{Classify, UnhealthyWhen};
/// use failsafe_core::Outcome;
///
/// let down = UnhealthyWhen(|r: &Result<u16, ()>| matches!(r, Ok(503)));
/// assert_eq!(down.classify(&Ok(503)), Outcome::Unhealthy);
/// assert_eq!(down.classify(&Err(())), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnhealthyWhen<P>(pub P);

impl<T, E, P: Fn(&Result<T, E>) -> bool> Classify<T, E> for UnhealthyWhen<P> {
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        if (self.0)(result) {
            Outcome::Unhealthy
        } else {
            DefaultClassifier.classify(result)
        }
    }

    #[inline(always)]
    fn verdict_uses_time(&self) -> bool {
        false
    }
}
