//! embassy-time as the driver's [`Clock`] and [`Runtime`].

use failsafe_driver::{Clock, Runtime};
use failsafe_driver::{Instant, Rejected};

const MICROS_PER_SEC: u64 = 1_000_000;

/// Microseconds per tick as a reduced fraction `MICROS / TICKS`: at the
/// usual rates the divisor is 1 or a power of two (no 64-bit division linked).
const GCD: u64 = gcd(MICROS_PER_SEC, embassy_time::TICK_HZ);
const MICROS: u64 = MICROS_PER_SEC / GCD;
const TICKS: u64 = embassy_time::TICK_HZ / GCD;

/// Nanoseconds per tick when a tick is a whole number of microseconds
/// (`TICK_HZ` divides 10^6: 1 MHz, 1 kHz, ...; 0 otherwise): then both
/// conversions are one multiply or one division, exactly the general
/// path's results (see the tests).
const NANOS_PER_TICK: u64 = if MICROS_PER_SEC.is_multiple_of(embassy_time::TICK_HZ) {
    1_000 * (MICROS_PER_SEC / embassy_time::TICK_HZ)
} else {
    0
};

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `floor(x * num / den)` (or the ceiling), saturating, with no wider
/// intermediate: `x = q * den + r`, and `r * num < den * num` fits a `u64` here.
const fn scale(x: u64, num: u64, den: u64, round_up: bool) -> u64 {
    let (q, r) = (x / den, x % den);
    let part = r * num;
    let part = if round_up {
        part.div_ceil(den)
    } else {
        part / den
    };
    q.saturating_mul(num).saturating_add(part)
}

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
        if NANOS_PER_TICK != 0 {
            // `floor(ticks * MICROS / TICKS)` is `ticks * (10^6 / TICK_HZ)`
            // microseconds, exactly: one saturating multiply.
            return Instant::from_nanos(at.as_ticks().saturating_mul(NANOS_PER_TICK));
        }
        Instant::from_micros(scale(at.as_ticks(), MICROS, TICKS, false))
    }

    /// A core instant as an embassy instant, rounded up to the next
    /// microsecond and tick: `to_core(to_embassy(t)) >= t`. [`Instant::MAX`]
    /// (never) and anything beyond embassy's range become
    /// [`embassy_time::Instant::MAX`], which a timer treats as never too.
    pub const fn to_embassy(at: Instant) -> embassy_time::Instant {
        if at.as_nanos() == Instant::MAX.as_nanos() {
            return embassy_time::Instant::MAX;
        }
        if NANOS_PER_TICK != 0 {
            // `ceil(ceil(n / 1000) / (10^6 / TICK_HZ))` is `ceil(n / NANOS_PER_TICK)`.
            return embassy_time::Instant::from_ticks(at.as_nanos().div_ceil(NANOS_PER_TICK));
        }
        let micros = at.as_nanos().div_ceil(1_000);
        embassy_time::Instant::from_ticks(scale(micros, TICKS, MICROS, true))
    }

    /// `rejected.`[`wake_at()`](crate::WakeAt) as a `const fn`.
    pub const fn retry_at(rejected: &Rejected) -> Option<embassy_time::Instant> {
        match rejected.retry_at {
            Some(at) if !rejected.is_never() => Some(Self::to_embassy(at)),
            _ => None,
        }
    }
}

impl Clock for EmbassyClock {
    /// `embassy_time::Instant::now()`, converted with [`EmbassyClock::to_core`].
    /// Out of line: one copy of the conversion however many places read
    /// the clock (firmware `.text`).
    #[inline(never)]
    fn now(&self) -> Instant {
        Self::to_core(embassy_time::Instant::now())
    }
}

impl Runtime for EmbassyClock {
    type Sleep = embassy_time::Timer;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> embassy_time::Timer {
        embassy_time::Timer::at(Self::to_embassy(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::{EmbassyClock, MICROS, NANOS_PER_TICK, TICKS, scale};
    use failsafe_driver::Instant;

    /// The one-multiply and one-division paths give the general path's
    /// results at the compiled tick rate, across the `u64` range.
    #[test]
    fn whole_microsecond_ticks_convert_as_the_general_path() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for value in [
                x,
                x >> 20,
                x >> 40,
                x & 0xFFFF,
                u64::MAX - 1,
                0,
                1,
                999,
                1_001,
            ] {
                let general = Instant::from_micros(scale(value, MICROS, TICKS, false));
                let at = embassy_time::Instant::from_ticks(value);
                assert_eq!(EmbassyClock::to_core(at), general, "to_core({value})");
                let general = scale(value.div_ceil(1_000), TICKS, MICROS, true);
                let at = Instant::from_nanos(value);
                assert_eq!(
                    EmbassyClock::to_embassy(at).as_ticks(),
                    general,
                    "to_embassy({value})"
                );
            }
        }
        // the fast paths are the ones taken at the usual rates
        const { assert!(NANOS_PER_TICK != 0 || !1_000_000u64.is_multiple_of(embassy_time::TICK_HZ)) };
    }

    /// `scale` against the same fraction in `u128`, for tick rates from 1 Hz
    /// to 1 GHz (reduced against 10^6) and values across the `u64` range.
    #[test]
    fn scale_is_the_exact_fraction_rounded_and_saturated() {
        let fractions = [
            (1, 1),
            (1_000, 1),
            (15_625, 512),
            (1, 1_000),
            (1_000_000, 1),
            (3, 7),
        ];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for value in [x, x >> 20, x >> 40, x & 0xFFFF, u64::MAX, 0] {
                for (num, den) in fractions {
                    for round_up in [false, true] {
                        let exact = u128::from(value) * u128::from(num);
                        let exact = if round_up {
                            exact.div_ceil(u128::from(den))
                        } else {
                            exact / u128::from(den)
                        };
                        let expected = u64::try_from(exact).unwrap_or(u64::MAX);
                        assert_eq!(
                            scale(value, num, den, round_up),
                            expected,
                            "{value} * {num} / {den}"
                        );
                    }
                }
            }
        }
    }
}
