//! Timeouts on embassy-time: `failsafe_driver::timeout` on [`EmbassyClock`].

use core::future::Future;

use failsafe_core::Observer;
use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent};
use failsafe_driver::Error;

use crate::EmbassyClock;

/// Runs `op` with a timeout on embassy-time: `op` gets the call's
/// [`Deadline`] (`now + timeout`, or the caller's `parent` deadline if that
/// is earlier; [`Deadline::NEVER`] for no parent) to hand down to inner
/// calls.
///
/// In the default [`TimeoutMode::Cancel`](failsafe_core::timeout::TimeoutMode::Cancel)
/// the operation's future is dropped when an embassy timer fires at the
/// deadline (never before the clock reads it), and the result is
/// [`Error::Timeout`] with that deadline. In
/// [`TimeoutMode::Soft`](failsafe_core::timeout::TimeoutMode::Soft) the
/// operation runs to completion; only an observer hears about the overrun
/// (see [`with_timeout_observed`]). The operation's own error comes back as
/// [`Error::Inner`].
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{config_or_panic, with_timeout, Deadline, Error, TimeoutConfig};
///
/// const SENSOR_TIMEOUT: TimeoutConfig = config_or_panic(TimeoutConfig::new(Duration::from_millis(50)));
///
/// async fn read_sensor() -> Result<u16, &'static str> { Ok(421) }
///
/// # futures_lite::future::block_on(async {
/// let r = with_timeout(SENSOR_TIMEOUT, Deadline::NEVER, |_deadline| read_sensor()).await;
/// assert_eq!(r, Ok(421));
///
/// // A deadline that has already passed (the caller's budget is spent): the
/// // operation is cancelled at once.
/// use failsafe_embassy::{Clock, EmbassyClock};
/// let spent = Deadline::at(EmbassyClock.now());
/// let r = with_timeout(SENSOR_TIMEOUT, spent, |_| core::future::pending::<Result<u16, &str>>()).await;
/// assert_eq!(r, Err(Error::Timeout(spent)));
/// # });
/// ```
///
/// An operation that already returns an [`Error`] (a
/// [`CircuitBreaker::call`](crate::CircuitBreaker::call), an inner timeout)
/// comes back as `Error<Error<E>>`: [`Error::flatten`] makes it one level.
pub async fn with_timeout<F, Fut, T, E>(
    config: TimeoutConfig,
    parent: Deadline,
    op: F,
) -> Result<T, Error<E>>
where
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    with_timeout_observed(config, parent, (), op).await
}

/// [`with_timeout`] reporting to `observer` when the deadline passes (a
/// [`TimeoutEvent`]): the way to hear about a soft timeout's overrun.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use core::time::Duration;
/// use failsafe_embassy::{
///     config_or_panic, with_timeout_observed, Clock, Deadline, EmbassyClock, FnObserver,
///     TimeoutConfig, TimeoutEvent, TimeoutMode,
/// };
///
/// static OVERRUNS: AtomicU32 = AtomicU32::new(0);
/// const SOFT: TimeoutConfig =
///     config_or_panic(TimeoutConfig::new(Duration::from_millis(5))).mode(TimeoutMode::Soft);
///
/// # futures_lite::future::block_on(async {
/// let spent = Deadline::at(EmbassyClock.now());
/// let observer = FnObserver(|_: TimeoutEvent| { OVERRUNS.fetch_add(1, Ordering::Relaxed); });
/// // Soft: the work finishes (late), and the overrun is reported.
/// let r = with_timeout_observed(SOFT, spent, observer, |_| async { Ok::<_, ()>(7) }).await;
/// assert_eq!(r, Ok(7));
/// assert_eq!(OVERRUNS.load(Ordering::Relaxed), 1);
/// # });
/// ```
pub async fn with_timeout_observed<O, F, Fut, T, E>(
    config: TimeoutConfig,
    parent: Deadline,
    observer: O,
    op: F,
) -> Result<T, Error<E>>
where
    O: Observer<TimeoutEvent>,
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    failsafe_driver::timeout(&EmbassyClock, config, parent, observer, |deadline| {
        let work = op(deadline);
        async move { work.await.map_err(Error::Inner) }
    })
    .await
}
