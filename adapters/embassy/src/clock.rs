//! embassy-time as the driver's [`Clock`] and [`Runtime`].

use failsafe_driver::{Clock, Runtime};
use failsafe_driver::{Instant, Rejected};

const MICROS_PER_SEC: u128 = 1_000_000;

/// embassy-time's clock, zero-sized. Core [`Instant`]s are microseconds since
/// boot: reading rounds ticks **down** to whole microseconds,
/// [`to_embassy`](Self::to_embassy) rounds **up**, so a timer never fires
/// before the clock reads its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbassyClock;

impl EmbassyClock {
    /// An embassy instant (ticks since boot) as a core instant, rounded down
    /// to a whole microsecond. Never overflows.
    pub const fn to_core(at: embassy_time::Instant) -> Instant {
        let micros = at.as_ticks() as u128 * MICROS_PER_SEC / embassy_time::TICK_HZ as u128;
        Instant::from_micros(saturate(micros))
    }

    /// A core instant as an embassy instant, rounded up to the next
    /// microsecond and tick: `to_core(to_embassy(t)) >= t`. [`Instant::MAX`]
    /// (never) and anything beyond embassy's range become
    /// [`embassy_time::Instant::MAX`], which a timer treats as never too.
    pub const fn to_embassy(at: Instant) -> embassy_time::Instant {
        if at.as_nanos() == Instant::MAX.as_nanos() {
            return embassy_time::Instant::MAX;
        }
        let micros = at.as_nanos().div_ceil(1_000) as u128;
        let ticks = (micros * embassy_time::TICK_HZ as u128).div_ceil(MICROS_PER_SEC);
        embassy_time::Instant::from_ticks(saturate(ticks))
    }

    /// When a rejected call may come back, for `Timer::at`: `None` when the
    /// machine cannot say (a probe out, a health report awaited) or never
    /// will (more permits than a limiter holds).
    pub const fn retry_at(rejected: &Rejected) -> Option<embassy_time::Instant> {
        match rejected.retry_at {
            Some(at) if !rejected.is_never() => Some(Self::to_embassy(at)),
            _ => None,
        }
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

    /// `Timer::at(to_embassy(deadline))`: ready at once if it has passed.
    #[inline]
    fn sleep_until(&self, deadline: Instant) -> embassy_time::Timer {
        embassy_time::Timer::at(Self::to_embassy(deadline))
    }
}
