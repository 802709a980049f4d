//! Running one call through a policy: the wrapper every adapter shares.

use core::future::Future;

use crate::{Classify, Clock, Error, PermitGuard, SharedPolicy};

/// Runs the async operation `f` through `policy`: acquire a permit (or
/// return [`Error::Rejected`] without calling `f`), await the operation,
/// classify its result, record it. Dropping the returned future mid-call, or
/// a panic inside the operation, records [`Outcome::Cancelled`](failsafe_core::Outcome::Cancelled).
///
/// The classifier decides what the breaker counts; the caller always gets
/// the operation's own result back (an `Ok(503)` counted as a failure is
/// still returned as `Ok(503)`).
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::sync::{CsLock, SharedBreaker};
/// use failsafe_core::Instant;
/// use failsafe_driver::{call, Clock, DefaultClassifier};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let breaker = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
/// let answer = futures_lite::future::block_on(call(&breaker, Frozen, &DefaultClassifier, || async {
///     Ok::<_, ()>(42)
/// }));
/// assert_eq!(answer, Ok(42));
/// ```
pub async fn call<P, C, K, F, Fut, T, E>(
    policy: P,
    clock: C,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    P: SharedPolicy,
    C: Clock,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let guard = PermitGuard::acquire(policy, clock)?;
    let result = f().await;
    guard.finish(classify.classify(&result));
    result.map_err(Error::Inner)
}

/// [`call`] for blocking code: runs `f` on this thread. A panic in `f`
/// records [`Outcome::Cancelled`](failsafe_core::Outcome::Cancelled) as it
/// unwinds, then continues unwinding.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::sync::{CsLock, SharedBreaker};
/// use failsafe_core::Instant;
/// use failsafe_driver::{call_blocking, Clock, DefaultClassifier, Error};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let breaker = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
/// let r: Result<(), Error<&str>> = call_blocking(&breaker, Frozen, &DefaultClassifier, || Err("down"));
/// assert_eq!(r, Err(Error::Inner("down")));
/// ```
pub fn call_blocking<P, C, K, F, T, E>(
    policy: P,
    clock: C,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    P: SharedPolicy,
    C: Clock,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Result<T, E>,
{
    let guard = PermitGuard::acquire(policy, clock)?;
    let result = f();
    guard.finish(classify.classify(&result));
    result.map_err(Error::Inner)
}
