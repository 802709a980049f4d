//! embassy-time as the driver's [`Clock`] and [`Runtime`], and [`WakeAt`]:
//! any instant failsafe hands a firmware, as `Timer::at` takes it.

use failsafe_driver::{Clock, ComeBack, Instant, Rejected, Runtime};

const MICROS_PER_SEC: u64 = 1_000_000;

/// Microseconds per tick, `MICROS / TICKS` reduced (no 64-bit division linked).
const GCD: u64 = gcd(MICROS_PER_SEC, embassy_time::TICK_HZ);
const MICROS: u64 = MICROS_PER_SEC / GCD;
const TICKS: u64 = embassy_time::TICK_HZ / GCD;

/// Nanoseconds per tick if `TICK_HZ` divides 10^6 (1 MHz, 1 kHz; else 0):
/// then a conversion is one multiply or division, as exact (see the tests).
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

/// `floor(x * num / den)` (or the ceiling), saturating; `x = q * den + r`,
/// `r * num < den * num` fits a `u64` here.
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

/// embassy-time's clock, zero-sized. Reading rounds ticks **down** to whole
/// microseconds, [`to_embassy`](Self::to_embassy) **up**: a timer never
/// fires before the clock reads its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmbassyClock;

impl EmbassyClock {
    /// Ticks since boot as a core instant, rounded down to a microsecond.
    pub const fn to_core(at: embassy_time::Instant) -> Instant {
        if NANOS_PER_TICK != 0 {
            // `floor(ticks * MICROS / TICKS)` microseconds, exactly.
            return Instant::from_nanos(at.as_ticks().saturating_mul(NANOS_PER_TICK));
        }
        Instant::from_micros(scale(at.as_ticks(), MICROS, TICKS, false))
    }

    /// A core instant as an embassy one, rounded up to the microsecond and
    /// tick (`to_core(to_embassy(t)) >= t`); [`Instant::MAX`] (never) and
    /// beyond embassy's range: [`embassy_time::Instant::MAX`] (never too).
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
    /// `embassy_time::Instant::now()` through [`EmbassyClock::to_core`]; out
    /// of line, one copy however many places read it (firmware `.text`).
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

/// The driver's [`ComeBack`] instant (a `retry_at`, a `next_deadline()`, a
/// deadline; `None`: none, or never) for `Timer::at`, rounded up
/// ([`EmbassyClock::to_embassy`]): a timer never fires before the machine would admit.
///
/// ```
/// use failsafe_embassy::{BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, WakeAt, checked, circuit_breaker};
/// const CONFIG: BreakerConfig = checked(BreakerConfig::builder().consecutive_failures(1).build());
/// static SENSOR: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&CONFIG, NoWindow);
/// # futures_lite::future::block_on(async {
/// let _ = SENSOR.call(|| async { Err::<u16, _>("bus fault") }).await; // opens it
/// match SENSOR.call(|| async { Ok::<u16, &str>(421) }).await {
///     Err(Error::Rejected(rejected)) => {
///         let at = rejected.wake_at().expect("an open breaker says when");
///         assert_eq!(SENSOR.wake_at(), Some(at)); // the same instant: it half-opens then
///         // embassy_time::Timer::at(at).await;
///     }
///     other => panic!("{other:?}"),
/// }
/// # });
/// ```
pub trait WakeAt {
    /// The instant to pass to `Timer::at`, or `None` if there is none.
    fn wake_at(&self) -> Option<embassy_time::Instant>;
}

impl<T: ComeBack + ?Sized> WakeAt for T {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.come_back_at().map(EmbassyClock::to_embassy)
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
