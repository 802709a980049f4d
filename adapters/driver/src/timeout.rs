//! Racing an operation against the runtime's timer with the core's
//! [`Timeout`] machine.

use core::future::Future;

use failsafe_core::Observer;
use failsafe_core::plan::{Attempt, Judged};
use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutEvent};

use crate::{Error, Once, Runtime, execute};

/// Runs `op` with a timeout: the operation gets the deadline to hand down
/// (`now + timeout`, or the caller's `parent` deadline if earlier).
///
/// In [`TimeoutMode::Cancel`](failsafe_core::timeout::TimeoutMode::Cancel) the operation's future is dropped at the
/// deadline and [`Error::Timeout`] is returned; in [`TimeoutMode::Soft`](failsafe_core::timeout::TimeoutMode::Soft) it
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
pub fn timeout<R, O, F, Fut, T, E>(
    runtime: &R,
    config: TimeoutConfig,
    parent: Deadline,
    observer: O,
    op: F,
) -> impl Future<Output = Result<T, Error<E>>>
where
    R: Runtime,
    O: Observer<TimeoutEvent>,
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, Error<E>>>,
{
    let now = runtime.now();
    let plan = Timeout::start_observed(config, now, parent, observer);
    let work = Once(Some(|attempt: Attempt| op(attempt.deadline)));
    execute(
        runtime,
        now,
        plan,
        |_, r: &Result<T, Error<E>>| Judged::of_result(r),
        work,
        Error::from_finish,
    )
}
