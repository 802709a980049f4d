//! embassy-time as the driver's [`Clock`] and [`Runtime`].

use failsafe_core::Instant;
use failsafe_driver::{Clock, Runtime};

const MICROS_PER_SEC: u128 = 1_000_000;

/// embassy-time's clock, as the failsafe driver sees it. Zero-sized.
///
/// Core [`Instant`]s are microseconds since boot (embassy's epoch) expressed
/// in nanoseconds: reading the clock rounds embassy's ticks **down** to whole
/// microseconds, and [`to_embassy`](Self::to_embassy) rounds a deadline
/// **up** to the next microsecond and tick, so a timer set for a deadline
/// never fires before the clock reads that deadline.
///
/// ```
/// use failsafe_embassy::Clock;
/// use failsafe_embassy::EmbassyClock;
///
/// let now = EmbassyClock.now();
/// assert!(EmbassyClock::to_core(embassy_time::Instant::now()) >= now);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbassyClock;

impl EmbassyClock {
    /// Converts an embassy instant (ticks since boot) to a core instant,
    /// rounding down to a whole microsecond. Never overflows.
    ///
    /// ```
    /// use failsafe_embassy::Instant;
    /// use failsafe_embassy::EmbassyClock;
    ///
    /// let at = embassy_time::Instant::from_millis(1_500);
    /// assert_eq!(EmbassyClock::to_core(at), Instant::from_millis(1_500));
    /// ```
    pub const fn to_core(at: embassy_time::Instant) -> Instant {
        let micros = at.as_ticks() as u128 * MICROS_PER_SEC / embassy_time::TICK_HZ as u128;
        Instant::from_micros(saturate(micros))
    }

    /// Converts a core instant to an embassy instant, rounding up to the next
    /// whole microsecond and then to the next tick, so that
    /// `to_core(to_embassy(t)) >= t`. [`Instant::MAX`] (the core's "never")
    /// becomes [`embassy_time::Instant::MAX`], which a timer treats as
    /// "never" too; anything beyond embassy's range saturates there.
    ///
    /// ```
    /// use failsafe_embassy::Instant;
    /// use failsafe_embassy::EmbassyClock;
    ///
    /// let deadline = Instant::from_nanos(1_500); // 1.5 µs
    /// let at = EmbassyClock::to_embassy(deadline);
    /// assert_eq!(at.as_micros(), 2); // never early
    /// assert!(EmbassyClock::to_core(at) >= deadline);
    /// assert_eq!(EmbassyClock::to_embassy(Instant::MAX), embassy_time::Instant::MAX);
    /// ```
    pub const fn to_embassy(at: Instant) -> embassy_time::Instant {
        if at.as_nanos() == Instant::MAX.as_nanos() {
            return embassy_time::Instant::MAX;
        }
        let micros = at.as_nanos().div_ceil(1_000) as u128;
        let ticks = (micros * embassy_time::TICK_HZ as u128).div_ceil(MICROS_PER_SEC);
        embassy_time::Instant::from_ticks(saturate(ticks))
    }
}

const fn saturate(n: u128) -> u64 {
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

impl Clock for EmbassyClock {
    /// `embassy_time::Instant::now()`, converted with [`EmbassyClock::to_core`].
    #[inline]
    fn now(&self) -> Instant {
        Self::to_core(embassy_time::Instant::now())
    }
}

impl Runtime for EmbassyClock {
    type Sleep = embassy_time::Timer;

    /// `embassy_time::Timer::at(to_embassy(deadline))`: ready at once if the
    /// deadline has passed, never before it.
    #[inline]
    fn sleep_until(&self, deadline: Instant) -> embassy_time::Timer {
        embassy_time::Timer::at(Self::to_embassy(deadline))
    }
}
