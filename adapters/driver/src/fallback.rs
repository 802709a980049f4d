//! Answering a failure with an alternative: a value, a function of the
//! error, another operation, or a chain of them (nest the calls).

use core::future::Future;

use failsafe_core::Observer;
use failsafe_core::fallback::{FallbackEvent, FallbackPlan, FallbackPolicy, FallbackReason};
use failsafe_core::timeout::Deadline;

use crate::{Clock, Error};

/// An error that can say why the primary path failed.
pub trait FallbackCause {
    /// The reason, matched against a [`FallbackPolicy`].
    fn fallback_reason(&self) -> FallbackReason;
}

impl<E> FallbackCause for Error<E> {
    fn fallback_reason(&self) -> FallbackReason {
        Error::fallback_reason(self)
    }
}

/// Awaits `primary`; if it fails for a reason `policy` accepts and `when`
/// agrees with, runs `alternative(reason, error)` instead. The alternative
/// may return a value, compute one from the error, or run another
/// operation; nest `fallback` calls for an ordered chain.
///
/// # Errors
///
/// `primary`'s error when `policy` or `when` does not fall back for it;
/// otherwise whatever the alternative returns.
///
/// ```
/// use failsafe_core::fallback::{FallbackPolicy, FallbackReason};
/// use failsafe_core::{Instant, RejectReason, Rejected};
/// use failsafe_driver::{fallback, Clock, Error};
///
/// struct Zero;
/// impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let open = Error::<&str>::Rejected(Rejected::new(RejectReason::BreakerOpen, None));
/// let primary = async move { Err::<&str, _>(open) };
/// let cached = fallback(&Zero, FallbackPolicy::ALL, (), |_: &Error<&str>| true, primary, |reason, _err| async move {
///     assert!(matches!(reason, FallbackReason::Rejected(_)));
///     Ok("stale but useful")
/// });
/// assert_eq!(futures_lite::future::block_on(cached), Ok("stale but useful"));
/// ```
pub async fn fallback<C, O, W, P, A, AFut, T, X>(
    clock: &C,
    policy: FallbackPolicy,
    mut observer: O,
    when: W,
    primary: P,
    alternative: A,
) -> Result<T, X>
where
    C: Clock,
    O: Observer<FallbackEvent>,
    W: FnOnce(&X) -> bool,
    P: Future<Output = Result<T, X>>,
    X: FallbackCause,
    A: FnOnce(FallbackReason, X) -> AFut,
    AFut: Future<Output = Result<T, X>>,
{
    match primary.await {
        Ok(value) => Ok(value),
        Err(error) => match falls_back(clock, policy, &mut observer, when, &error) {
            Some(reason) => alternative(reason, error).await,
            None => Err(error),
        },
    }
}

/// [`fallback`] for blocking code.
///
/// # Errors
///
/// `primary`'s error when the policy (or `when`) does not fall back for
/// it; otherwise whatever the alternative returns.
pub fn fallback_blocking<C, O, W, P, A, T, X>(
    clock: &C,
    policy: FallbackPolicy,
    mut observer: O,
    when: W,
    primary: P,
    alternative: A,
) -> Result<T, X>
where
    C: Clock,
    O: Observer<FallbackEvent>,
    W: FnOnce(&X) -> bool,
    P: FnOnce() -> Result<T, X>,
    X: FallbackCause,
    A: FnOnce(FallbackReason, X) -> Result<T, X>,
{
    match primary() {
        Ok(value) => Ok(value),
        Err(error) => match falls_back(clock, policy, &mut observer, when, &error) {
            Some(reason) => alternative(reason, error),
            None => Err(error),
        },
    }
}

/// The reason to fall back for `error`, if the caller's predicate and the
/// core's [`FallbackPlan`] agree; the plan reports the fallback when they do.
pub(crate) fn falls_back<C: Clock, O: Observer<FallbackEvent>, X: FallbackCause>(
    clock: &C,
    policy: FallbackPolicy,
    observer: &mut O,
    when: impl FnOnce(&X) -> bool,
    error: &X,
) -> Option<FallbackReason> {
    let cause = when(error).then(|| error.fallback_reason())?;
    FallbackPlan::new(policy, 1, Deadline::NEVER, observer).fall_back(clock.now(), 1, Some(cause))
}
