//! tokio's clock as a failsafe [`Clock`] and [`Runtime`].

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_driver::{Clock, Runtime};

/// How far ahead "never" lies when a core instant does not fit a tokio one
/// (tokio caps its timers far below this anyway).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// tokio's clock ([`tokio::time::Instant`]) as core [`Instant`]s: nanoseconds
/// since this clock's epoch.
///
/// Because it reads `tokio::time::Instant`, a paused runtime
/// (`tokio::time::pause()`, `#[tokio::test(start_paused = true)]`) and
/// `tokio::time::advance` move it, so breaker tests run minutes of virtual
/// time in milliseconds.
///
/// Each clock made with [`new`](Self::new) (or `Default`, which
/// [`CircuitBreaker::new`](crate::CircuitBreaker) uses) takes the current
/// tokio time as its epoch; clones share it, so every clone of a breaker
/// handle agrees on `now`. A per-clock epoch rather than a process-wide one
/// keeps paused-time tests independent: each test's runtime has its own
/// paused clock, and a shared epoch taken from one of them could lie in
/// another's future. Instants from two clocks with different epochs are not
/// comparable; convert with [`to_tokio`](Self::to_tokio) first.
///
/// ```
/// use failsafe_tokio::{Clock, Instant, TokioClock};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let clock = TokioClock::new();
/// let copy = clock; // `Copy`: same epoch
/// tokio::time::advance(Duration::from_secs(5)).await;
/// assert_eq!(clock.now(), Instant::from_secs(5));
/// assert_eq!(copy.now(), clock.now());
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokioClock {
    epoch: tokio::time::Instant,
}

impl TokioClock {
    /// A clock whose epoch (core [`Instant::ZERO`]) is the current tokio time.
    pub fn new() -> Self {
        Self::with_epoch(tokio::time::Instant::now())
    }

    /// A clock whose epoch is `epoch`, e.g. to share one epoch between
    /// several breakers.
    ///
    /// ```
    /// use failsafe_tokio::TokioClock;
    /// let epoch = tokio::time::Instant::now();
    /// assert_eq!(TokioClock::with_epoch(epoch).epoch(), epoch);
    /// ```
    pub const fn with_epoch(epoch: tokio::time::Instant) -> Self {
        TokioClock { epoch }
    }

    /// The tokio instant that core [`Instant::ZERO`] stands for.
    pub const fn epoch(&self) -> tokio::time::Instant {
        self.epoch
    }

    /// Converts a tokio instant to a core one (an instant before the epoch
    /// becomes [`Instant::ZERO`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Instant, TokioClock};
    /// let clock = TokioClock::new();
    /// let later = clock.epoch() + Duration::from_millis(1_500);
    /// assert_eq!(clock.to_core(later), Instant::from_millis(1_500));
    /// ```
    pub fn to_core(&self, at: tokio::time::Instant) -> Instant {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        Instant::from_nanos(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// Converts a core instant (a rejection's `retry_at`, say) to a tokio
    /// one, e.g. to sleep until it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Instant, TokioClock};
    /// let clock = TokioClock::new();
    /// assert_eq!(clock.to_tokio(Instant::from_secs(2)), clock.epoch() + Duration::from_secs(2));
    /// ```
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        let since = Duration::from_nanos(at.as_nanos());
        self.epoch
            .checked_add(since)
            .or_else(|| self.epoch.checked_add(FAR_FUTURE))
            .unwrap_or(self.epoch)
    }
}

impl Default for TokioClock {
    /// Same as [`TokioClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        self.to_core(tokio::time::Instant::now())
    }
}

impl Runtime for TokioClock {
    type Sleep = tokio::time::Sleep;

    /// [`tokio::time::sleep_until`] the tokio instant `deadline` stands for.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(self.to_tokio(deadline))
    }
}
