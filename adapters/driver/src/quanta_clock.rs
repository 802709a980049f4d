//! A std clock on the CPU's time-stamp counter ([`quanta`]), for handles
//! whose decisions cost less than reading `std::time::Instant` (about
//! 22-33 ns on the machines measured, against a few ns here).

extern crate std;

use std::sync::OnceLock;

use failsafe_core::Instant;

use crate::{BlockingRuntime, Clock, Park};

/// A [`Clock`] reading the time-stamp counter through [`quanta::Clock`],
/// measured from one process-wide epoch (the first time any `QuantaClock`
/// is read), so every handle on it in the process agrees on `now`.
///
/// It is a drop-in for [`StdClock`](crate::StdClock) in the std handles
/// (`RateLimiterPolicy::with_runtime(quota, QuantaClock)`, `CircuitBreakerPolicy::with_runtime`,
/// ...), and blocks like it (`block_until` sleeps the thread). Its epoch is
/// not `StdClock`'s: instants from the two must not be mixed. Where the
/// counter is unusable (no invariant TSC, some virtual machines), `quanta`
/// falls back to the OS clock, so it is never slower than `StdClock` by more
/// than its own call.
///
/// ```
/// use failsafe_driver::{Clock, QuantaClock};
/// let (a, b) = (QuantaClock.now(), QuantaClock.now());
/// assert!(b >= a);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct QuantaClock;

/// The shared counter and its reading at the epoch.
fn base() -> &'static (quanta::Clock, u64) {
    static BASE: OnceLock<(quanta::Clock, u64)> = OnceLock::new();
    BASE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let epoch = clock.raw();
        (clock, epoch)
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
        let (clock, epoch) = base();
        Instant::from_nanos(clock.delta_as_nanos(*epoch, clock.raw()))
    }
}

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
