//! What a runtime must provide: the time, and a way to sleep until a time.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use failsafe_core::Instant;

/// Reads the current time as a core [`Instant`].
///
/// Read it once per decision and pass the same value through every layer:
/// reading a clock costs more than the decisions themselves.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// A clock that can also sleep: everything the async wrappers need from a
/// runtime. Adapters implement it for tokio, async-io and embassy-time.
pub trait Runtime: Clock {
    /// The future returned by [`sleep_until`](Self::sleep_until).
    type Sleep: Future<Output = ()>;
    /// Completes at (or soon after) `deadline`; at once if it has passed.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Moves a pending sleep to `deadline` (a resettable timer, as quinn's
    /// runtime trait has): the default replaces it in place; tokio resets
    /// its `Sleep` without a new registration.
    fn reset_sleep(&self, mut sleep: Pin<&mut Self::Sleep>, deadline: Instant) {
        sleep.set(self.sleep_until(deadline));
    }

    /// Takes part in the runtime's cooperative scheduling budget: called
    /// before a rejection is returned, so a task that retries rejected
    /// calls in a loop yields once its budget is spent instead of starving
    /// the others (tokio's coop budget). `Pending` means "yield first" (the
    /// runtime has arranged to wake the task). The default never yields.
    fn poll_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        let _ = cx;
        Poll::Ready(())
    }
}

impl<R: Runtime + ?Sized> Runtime for &R {
    type Sleep = R::Sleep;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> R::Sleep {
        (**self).sleep_until(deadline)
    }

    #[inline]
    fn reset_sleep(&self, sleep: Pin<&mut R::Sleep>, deadline: Instant) {
        (**self).reset_sleep(sleep, deadline)
    }

    #[inline]
    fn poll_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        (**self).poll_budget(cx)
    }
}
