//! The async wrappers: `failsafe_driver::call` on embassy-time's clock.

use core::future::Future;

use failsafe_driver::{Classify, DefaultClassifier, Error, SharedPolicy};

use crate::EmbassyClock;

/// Runs `f` through `policy` on embassy-time's clock: `Ok` counts as a
/// success, `Err` as a failure. A rejected call never runs `f` and returns
/// [`Error::Rejected`] with its `retry_at`; dropping the future mid-call
/// hands the permit back as cancelled.
///
/// Works with any shared policy, e.g. a core
/// [`SharedBreaker`](failsafe_core::sync::SharedBreaker) you built yourself;
/// with a [`CircuitBreaker`](crate::CircuitBreaker) the method
/// [`CircuitBreaker::call`](crate::CircuitBreaker::call) reads better.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::sync::{CsLock, SharedBreaker};
///
/// static RAW: SharedBreaker<NoWindow, (), CsLock<CircuitBreaker<NoWindow>>> =
///     SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
///
/// # futures_lite::future::block_on(async {
/// let answer = failsafe_embassy::call(&RAW, || async { Ok::<_, ()>(7) }).await;
/// assert_eq!(answer, Ok(7));
/// # });
/// ```
pub async fn call<P, F, Fut, T, E>(policy: P, f: F) -> Result<T, Error<E>>
where
    P: SharedPolicy,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    failsafe_driver::call(policy, EmbassyClock, &DefaultClassifier, f).await
}

/// [`call`] with a classifier deciding what counts: any
/// `Fn(&Result<T, E>) -> Outcome` or a [`Classify`] implementation. The
/// caller always gets the operation's own result back.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::sync::{CsLock, SharedBreaker};
/// use failsafe_core::Outcome;
///
/// let breaker = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
/// let busy_is_fine = |r: &Result<(), &str>| match r {
///     Err("busy") => Outcome::Ignored,
///     Err(_) => Outcome::Failure,
///     Ok(()) => Outcome::Success,
/// };
/// # futures_lite::future::block_on(async {
/// let r = failsafe_embassy::call_with(&breaker, &busy_is_fine, || async { Err("busy") }).await;
/// assert_eq!(r.unwrap_err().into_inner(), Some("busy"));
/// # });
/// ```
pub async fn call_with<P, K, F, Fut, T, E>(policy: P, classify: &K, f: F) -> Result<T, Error<E>>
where
    P: SharedPolicy,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    failsafe_driver::call(policy, EmbassyClock, classify, f).await
}
