//! Fallbacks: `failsafe_driver::fallback` on [`EmbassyClock`].

use core::future::Future;

use failsafe_core::Observer;
use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
use failsafe_driver::FallbackCause;

use crate::EmbassyClock;

/// Awaits `primary`; if it fails (for any reason: the operation failed, a
/// breaker rejected it, it timed out, retries gave up), runs
/// `alternative(reason, error)` instead. The alternative may return a value,
/// compute one from the error, or run another operation; nest `fallback`
/// calls for an ordered chain.
///
/// The error type says why it failed: [`Error`](crate::Error),
/// [`RetryError`](crate::RetryError), or your own through
/// [`FallbackCause`].
///
/// ```
/// use failsafe_embassy::{fallback, Error};
///
/// static LAST_GOOD: core::sync::atomic::AtomicU16 = core::sync::atomic::AtomicU16::new(215);
/// async fn read_sensor() -> Result<u16, &'static str> { Err("nack") }
/// async fn read_backup_sensor() -> Result<u16, &'static str> { Err("unplugged") }
///
/// # futures_lite::future::block_on(async {
/// // The sensor, else the backup sensor, else the last good value.
/// let reading = fallback(
///     async { read_sensor().await.map_err(Error::Inner) },
///     |_reason, _error| fallback(
///         async { read_backup_sensor().await.map_err(Error::Inner) },
///         |_reason, _error| async {
///             Ok(LAST_GOOD.load(core::sync::atomic::Ordering::Relaxed))
///         },
///     ),
/// ).await;
/// assert_eq!(reading, Ok(215));
/// # });
/// ```
pub async fn fallback<P, A, AFut, T, X>(primary: P, alternative: A) -> Result<T, X>
where
    P: Future<Output = Result<T, X>>,
    X: FallbackCause,
    A: FnOnce(FallbackReason, X) -> AFut,
    AFut: Future<Output = Result<T, X>>,
{
    fallback_with(FallbackPolicy::ALL, (), |_: &X| true, primary, alternative).await
}

/// [`fallback`] for the reasons `policy` accepts and the errors `when`
/// agrees with, reporting each use of the alternative to `observer` (a
/// [`FallbackEvent`] stamped with embassy-time's clock).
///
/// ```
/// use failsafe_embassy::{fallback_with, Error, FallbackPolicy, RejectReason, Rejected};
///
/// // Only an open breaker falls back to the cached value; a real failure
/// // is reported as it is.
/// let only_rejections = FallbackPolicy::NONE.on_rejected(true);
/// # futures_lite::future::block_on(async {
/// let failed = async { Err::<u8, _>(Error::Inner("nack")) };
/// let r = fallback_with(only_rejections, (), |_: &Error<&str>| true, failed, |_, _| async { Ok(0) }).await;
/// assert_eq!(r, Err(Error::Inner("nack")));
///
/// let open = async { Err::<u8, Error<&str>>(Error::Rejected(Rejected::new(RejectReason::BreakerOpen, None))) };
/// let r = fallback_with(only_rejections, (), |_: &Error<&str>| true, open, |_, _| async { Ok(0) }).await;
/// assert_eq!(r, Ok(0));
/// # });
/// ```
pub async fn fallback_with<O, W, P, A, AFut, T, X>(
    policy: FallbackPolicy,
    observer: O,
    when: W,
    primary: P,
    alternative: A,
) -> Result<T, X>
where
    O: Observer<FallbackEvent>,
    W: FnOnce(&X) -> bool,
    P: Future<Output = Result<T, X>>,
    X: FallbackCause,
    A: FnOnce(FallbackReason, X) -> AFut,
    AFut: Future<Output = Result<T, X>>,
{
    failsafe_driver::fallback(&EmbassyClock, policy, observer, when, primary, alternative).await
}
