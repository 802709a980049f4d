//! Racing an operation against the runtime's timer with the core's
//! [`Timeout`] machine.

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutEvent, TimeoutMode};
use failsafe_core::{Observer, Outcome};

use crate::{Error, Runtime};

/// Runs `op` with a timeout: the operation gets the deadline to hand down
/// (`now + timeout`, or the caller's `parent` deadline if earlier).
///
/// In [`TimeoutMode::Cancel`] the operation's future is dropped at the
/// deadline and [`Error::Timeout`] is returned; in [`TimeoutMode::Soft`] it
/// runs to completion and the overrun is only reported to `observer`.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::timeout::{Deadline, TimeoutConfig};
/// use failsafe_core::Instant;
/// use failsafe_driver::{timeout, Clock, Error, Runtime};
/// use std::future::{pending, ready, Ready};
///
/// /// A runtime whose timers fire at once.
/// struct Instantly;
/// impl Clock for Instantly { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Instantly {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { ready(()) }
/// }
///
/// let config = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
/// let hung = timeout(&Instantly, config, Deadline::NEVER, (), |_| pending::<Result<(), Error<()>>>());
/// let result = futures_lite::future::block_on(hung);
/// assert_eq!(result, Err(Error::Timeout(Deadline::at(Instant::from_secs(1)))));
/// ```
pub async fn timeout<R, O, F, Fut, T, E>(
    runtime: &R,
    config: TimeoutConfig,
    parent: Deadline,
    observer: O,
    op: F,
) -> Result<T, Error<E>>
where
    R: Runtime,
    O: Observer<TimeoutEvent>,
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, Error<E>>>,
{
    let mut timer = Timeout::start_observed(config, runtime.now(), parent, observer);
    let deadline = timer.deadline();
    let work = op(deadline);
    if config.timeout_mode() == TimeoutMode::Soft || deadline.is_never() {
        let result = work.await;
        timer.finish(
            runtime.now(),
            if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        );
        return result;
    }
    let mut work = pin!(work);
    let mut sleep = pin!(runtime.sleep_until(deadline.instant()));
    let finished = poll_fn(|cx| {
        if let Poll::Ready(result) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await;
    match finished {
        Some(result) => result,
        None => {
            // The runtime's timer fired; the machine agrees the deadline passed.
            timer.on_deadline(runtime.now().max(deadline.instant()));
            Err(Error::Timeout(deadline))
        }
    }
}
