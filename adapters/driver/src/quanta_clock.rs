//! A std clock on the CPU's time-stamp counter ([`quanta`]), for handles
//! whose decisions cost less than reading `std::time::Instant` (about
//! 17-33 ns on the machines measured, against a few ns here), and
//! [`QuantaRuntime`], an async runtime's timer with this clock.

extern crate std;

use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::OnceLock;

use failsafe_core::Instant;

use crate::{BlockingRuntime, Clock, Park, Runtime, StdClock};

/// A [`Clock`] reading the time-stamp counter through [`quanta::Clock`],
/// on [`StdClock`]'s process-wide epoch: the counter is read once beside
/// `std::time::Instant::now()` when any `QuantaClock` is first read, and
/// every reading counts on from there, never going back. Every handle on
/// `QuantaClock` agrees with every other; against `StdClock` its readings
/// drift by the counter's error since that first read: `quanta`
/// calibrates the counter against the OS clock once, to a few parts per
/// million (tens, calibrated under load), so the gap grows with the
/// process's uptime, to seconds a day. Mix the two clocks' instants only
/// across short spans (a `retry_at` read against the other clock soon
/// after), or keep one clock kind per process.
///
/// It is a drop-in for [`StdClock`] in the std handles
/// (`RateLimiterPolicy::with_runtime(quota, QuantaClock)`, `CircuitBreakerPolicy::with_runtime`,
/// ...), and blocks like it (`block_until` sleeps the thread); for async
/// handles see [`QuantaRuntime`]. Where the counter is unusable (no
/// invariant TSC, some virtual machines), `quanta` falls back to the OS
/// clock, so it is never slower than `StdClock` by more than its own call.
///
/// ```
/// use failsafe_driver::{Clock, QuantaClock, StdClock};
/// let (a, b) = (QuantaClock.now(), QuantaClock.now());
/// assert!(b >= a);
/// // The same epoch as StdClock's: the two read about the same time.
/// let (std, tsc) = (StdClock.now(), QuantaClock.now());
/// let apart = std.saturating_duration_since(tsc).max(tsc.saturating_duration_since(std));
/// assert!(apart < std::time::Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct QuantaClock;

/// The shared counter, its reading at the first read, and that moment on
/// `StdClock`'s timeline.
fn base() -> &'static (quanta::Clock, u64, Instant) {
    static BASE: OnceLock<(quanta::Clock, u64, Instant)> = OnceLock::new();
    BASE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let raw = clock.raw();
        (clock, raw, StdClock.now())
    })
}

impl QuantaClock {
    /// How long from `now()` until `at` (zero if it has passed).
    fn until(&self, at: Instant) -> std::time::Duration {
        at.saturating_duration_since(self.now())
    }
}

impl Clock for QuantaClock {
    #[inline]
    fn now(&self) -> Instant {
        let (clock, raw, at) = base();
        Instant::from_nanos(
            at.as_nanos()
                .saturating_add(clock.delta_as_nanos(*raw, clock.raw())),
        )
    }
}

/// The async runtime `R`'s timer and cooperative budget, with the time read
/// from [`QuantaClock`]: `QuantaRuntime(TokioClock)`,
/// `QuantaRuntime(AsyncIoClock)`. A handle on it decides on a counter
/// read of a few ns instead of the OS clock's (the rate limiter and the
/// timeout read the time on every call) and sleeps on `R`'s timer.
///
/// A sleep until an instant read here is handed to `R` as the same span on
/// `R`'s own clock (`R`'s now plus the time left on the counter, one read
/// of each per sleep), so the counter's drift from `R`'s clock, which
/// grows with uptime (see [`QuantaClock`]), never shortens or stretches a
/// wait: only the drift during the sleep itself remains (parts per
/// million of it). Not for paused tokio time (`start_paused`,
/// `test-util`): the counter does not stop; test with `R` itself.
///
/// ```
/// use core::future::Ready;
/// use failsafe_driver::{Clock, Instant, QuantaRuntime, Runtime};
///
/// // A runtime whose timer answers at once, to show what is handed on.
/// #[derive(Clone, Copy)]
/// struct Timer;
/// impl Clock for Timer {
///     fn now(&self) -> Instant { failsafe_driver::StdClock.now() }
/// }
/// impl Runtime for Timer {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { core::future::ready(()) }
/// }
/// let runtime = QuantaRuntime(Timer);
/// let (a, b) = (runtime.now(), runtime.now());
/// assert!(b >= a);
/// let _sleep: Ready<()> = runtime.sleep_until(b + core::time::Duration::from_millis(5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuantaRuntime<R>(pub R);

impl<R: Clock> QuantaRuntime<R> {
    /// `deadline` (on the counter) as the instant the same time away on
    /// `R`'s clock.
    #[inline]
    fn on_r(&self, deadline: Instant) -> Instant {
        let left = QuantaClock.until(deadline);
        self.0.now().saturating_add(left)
    }
}

impl<R> Clock for QuantaRuntime<R> {
    #[inline]
    fn now(&self) -> Instant {
        QuantaClock.now()
    }
}

impl<R: Runtime> Runtime for QuantaRuntime<R> {
    type Sleep = R::Sleep;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> R::Sleep {
        self.0.sleep_until(self.on_r(deadline))
    }

    #[inline]
    fn reset_sleep(&self, sleep: Pin<&mut R::Sleep>, deadline: Instant) {
        self.0.reset_sleep(sleep, self.on_r(deadline));
    }

    #[inline]
    fn poll_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_budget(cx)
    }
}

/// Blocks the thread as [`QuantaClock`] does (for the `*_blocking` verbs).
impl<R> BlockingRuntime for QuantaRuntime<R> {
    fn block_until(&self, deadline: Instant) {
        QuantaClock.block_until(deadline);
    }

    fn thread_waker(&self) -> Option<std::task::Waker> {
        QuantaClock.thread_waker()
    }

    fn block_until_woken(&self, deadline: Instant) {
        QuantaClock.block_until_woken(deadline);
    }
}

impl<R> Park for QuantaRuntime<R> {}

impl BlockingRuntime for QuantaClock {
    fn block_until(&self, deadline: Instant) {
        let wait = self.until(deadline);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn thread_waker(&self) -> Option<std::task::Waker> {
        Some(crate::thread_waker())
    }

    fn block_until_woken(&self, deadline: Instant) {
        crate::Park::park_until(self, Some(deadline));
    }
}

impl Park for QuantaClock {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_never_go_back_and_clones_share_the_epoch() {
        let mut last = QuantaClock.now();
        for _ in 0..10_000 {
            let now = QuantaClock.now();
            assert!(now >= last, "{now:?} before {last:?}");
            last = now;
        }
        // a copy reads the same epoch: its `now` is not behind the original's
        let copy = QuantaClock;
        assert!(copy.now() >= last);
    }

    #[test]
    fn block_until_a_passed_instant_returns_at_once() {
        let before = QuantaClock.now();
        QuantaClock.block_until(Instant::ZERO);
        QuantaClock.block_until(before);
        assert_eq!(QuantaClock.until(before), std::time::Duration::ZERO);
    }
}
