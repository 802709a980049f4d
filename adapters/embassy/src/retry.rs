//! Retries and timeouts: the driver's loops on [`EmbassyClock`].

use core::future::Future;

use failsafe_driver::retry_machine::{NoBudget, RetryConfig};
use failsafe_driver::timeout_machine::{Deadline, TimeoutConfig};
use failsafe_driver::{ConstRuntime, Error, StaticRetryPolicy};

use crate::EmbassyClock;

impl ConstRuntime for EmbassyClock {
    const RUNTIME: &'static Self = &EmbassyClock;
}

/// A retry policy in a `static` on [`EmbassyClock`] (the driver's
/// [`StaticRetryPolicy`]): a [`RetryConfig`], a budget `L` shared by
/// reference ([`NoBudget`] by default), a seeded jitter generator and an
/// observer `O`, cloned per call:
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{with_timeout, CsLock, Deadline, RetryConfig};
/// use failsafe_embassy::{RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TokenQuota};
/// const PER_ATTEMPT: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(Duration::from_millis(200)));
/// static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
/// /// Reseed it per device at boot (`GPS.reseed(uid)`).
/// static GPS: RetryPolicy<CsLock<TokenQuota>> =
///     RetryPolicy::new(&failsafe_embassy::checked(RetryConfig::builder().build()), 0x5EED).with_budget(&BUDGET);
/// # futures_lite::future::block_on(async {
/// let fix = GPS.call_within(Deadline::NEVER, &RetryOnFailsafeError, |attempt| {
///     with_timeout(PER_ATTEMPT, attempt.deadline, |_| async { Ok::<_, ()>((52, 13)) })
/// });
/// assert_eq!(fix.await, Ok((52, 13)));
/// # });
/// ```
///
/// The config `C`: a `&RetryConfig` (a `const` in flash) or a zero-sized
/// [`const_config!`](crate::const_config) type, folded into the loop (only
/// its backoff's and jitter's code is linked):
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{checked, const_config, BackoffKind, Jitter, NoBudget, RetryConfig, RetryPolicy};
/// const_config!(Gps: RetryConfig = checked(RetryConfig::builder()
///     .backoff(BackoffKind::Exponential { initial: Duration::from_millis(10), multiplier: 2.0, max: Duration::from_millis(100) })
///     .jitter(Jitter::Full)
///     .build()));
/// static GPS: RetryPolicy<NoBudget, (), Gps> = RetryPolicy::new(Gps, 0x5EED);
/// # assert_eq!(GPS.config().max_attempts(), Some(3));
/// ```
pub type RetryPolicy<'a, L = NoBudget, O = (), C = &'a RetryConfig> =
    StaticRetryPolicy<'a, EmbassyClock, L, O, C>;

/// The driver's [`timeout`](failsafe_driver::timeout) on [`EmbassyClock`],
/// `op`'s error as [`Error::Inner`] (for an observer, call the driver's).
///
/// # Errors
///
/// [`Error::Timeout`] with the deadline, or [`Error::Inner`] with `op`'s error.
pub async fn with_timeout<F, Fut, T, E>(
    config: TimeoutConfig,
    parent: Deadline,
    op: F,
) -> Result<T, Error<E>>
where
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let op = |deadline| {
        let work = op(deadline);
        async move { work.await.map_err(Error::Inner) }
    };
    failsafe_driver::timeout(&EmbassyClock, config, parent, (), op).await
}
