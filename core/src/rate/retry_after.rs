//! What to tell a rejected client to wait: the Python Failsafe's
//! retry-after strategies, as pure functions and a small estimator.
//!
//! - **fixed**: the limiter's own answer, the time to the next permit;
//! - **utilization**: a maximum scaled by how saturated the limiter is, so
//!   clients back off harder the fuller it is;
//! - **backpressure**: driven by the protected service's latency: the share
//!   of recent calls over the latency objective and the latency gradient,
//!   `retry_after = (min + penalty * pressure) * U(0.8, 1.2)`.

use core::time::Duration;

use crate::rng::Rng;
use crate::sliding::SlidingCounts;
use crate::time::{Monotonic, duration_nanos};
use crate::{ConfigError, Instant, Problem, Rejected};

/// The limiter's own answer: time from `now` to `retry_at` (zero if unknown or due).
///
/// ```
/// use failsafe_core::rate::retry_after;
/// use failsafe_core::{Instant, RejectReason, Rejected};
/// let r = Rejected::new(RejectReason::RateLimited, Some(Instant::from_millis(250)));
/// assert_eq!(retry_after::fixed(&r, Instant::from_millis(100)).as_millis(), 150);
/// ```
pub fn fixed(rejected: &Rejected, now: Instant) -> Duration {
    rejected.retry_after(now).unwrap_or(Duration::ZERO)
}

/// `max * utilization` (utilization in `[0, 1]`, clamped; NaN counts as
/// full), but never less than the limiter's own `fixed` answer.
///
/// Bounds: the answer is `max(fixed, scaled)` with `scaled` in `[0, max]`,
/// exactly `max` at full utilization and `0` at none (`max` above
/// `u64::MAX` ns counts as `u64::MAX` ns), whatever the utilization (NaN,
/// infinities, negatives included).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::retry_after;
/// let d = retry_after::utilization(Duration::from_millis(10), 0.5, Duration::from_secs(4));
/// assert_eq!(d, Duration::from_secs(2));
/// ```
pub fn utilization(fixed: Duration, utilization: f64, max: Duration) -> Duration {
    let u = if utilization.is_nan() {
        1.0
    } else {
        utilization.clamp(0.0, 1.0)
    };
    let max = duration_nanos(max);
    // Full is exactly `max`; otherwise `max as f64` may round past `max`
    // either way (2^60 - 1 becomes 2^60): cap.
    let scaled = Duration::from_nanos(if u >= 1.0 {
        max
    } else {
        ((max as f64 * u) as u64).min(max)
    });
    scaled.max(fixed)
}

/// Estimates the protected service's pressure from call latencies and turns
/// it into a retry-after.
///
/// Pressure, in `[0, 1]`, is the mean of two signals: the share of calls in
/// the last `window` (kept in `B` buckets) slower than the latency
/// objective, and the latency gradient: how far the short-term average
/// latency (last ~8 calls) exceeds the long-term one (last ~128), capped at
/// double.
///
/// Bounds, for any latencies (zero to [`Duration::MAX`]) and any times:
/// [`pressure`](Self::pressure) is finite and in `[0, 1]`;
/// [`retry_after`](Self::retry_after) is `b + U[-b/5, b/5]` in whole
/// nanoseconds, `b = min + floor(penalty * pressure)`, so it lies in
/// `[m - m/5, s + s/5]` with `m = min`, `s = min + penalty` (integer
/// division, saturating at `u64::MAX` ns).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::retry_after::Backpressure;
/// use failsafe_core::rng::Xorshift64;
/// use failsafe_core::Instant;
///
/// let mut bp = Backpressure::<10>::new(
///     Duration::from_millis(100), // latency objective
///     Duration::from_secs(10),    // window
///     Duration::from_millis(500), // min retry-after
///     Duration::from_secs(10),    // penalty at full pressure
/// ).unwrap();
/// for ms in 0..50 {
///     bp.record(Instant::from_millis(ms * 10), Duration::from_millis(40)); // healthy
/// }
/// assert!(bp.pressure(Instant::from_millis(500)) < 0.05);
/// for ms in 50..100 {
///     bp.record(Instant::from_millis(ms * 10), Duration::from_millis(400)); // slow
/// }
/// assert!(bp.pressure(Instant::from_secs(1)) > 0.5);
/// let wait = bp.retry_after(Instant::from_secs(1), &mut Xorshift64::new(1));
/// assert!(wait > Duration::from_secs(4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backpressure<const B: usize> {
    objective_nanos: u64,
    min_nanos: u64,
    penalty_nanos: u64,
    /// calls, calls over the objective
    counts: SlidingCounts<B, 2>,
    short: f64,
    long: f64,
    clock: Monotonic,
}

impl<const B: usize> Backpressure<B> {
    /// An estimator for calls whose latency objective is `objective`,
    /// looking back over `window`; the retry-after ranges from `min` (no
    /// pressure) to `min + penalty` (full pressure), +-20% jitter.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `objective`, `Zero`, if `objective` is zero; then
    ///   `window`, `Zero`, if it is shorter than `B` nanoseconds.
    pub fn new(
        objective: Duration,
        window: Duration,
        min: Duration,
        penalty: Duration,
    ) -> Result<Self, ConfigError> {
        if objective.is_zero() {
            return Err(ConfigError::new("objective", Problem::Zero));
        }
        Ok(Backpressure {
            objective_nanos: duration_nanos(objective),
            min_nanos: duration_nanos(min),
            penalty_nanos: duration_nanos(penalty),
            counts: SlidingCounts::new("window", window)?,
            short: 0.0,
            long: 0.0,
            clock: Monotonic::new(),
        })
    }

    /// Feeds one finished call's latency.
    pub fn record(&mut self, now: Instant, latency: Duration) {
        let now = self.clock.observe(now);
        let nanos = duration_nanos(latency);
        self.counts
            .add(now, [1, (nanos > self.objective_nanos) as u32]);
        let x = nanos as f64;
        if self.long == 0.0 {
            (self.short, self.long) = (x, x);
        } else {
            self.short += (x - self.short) / 8.0;
            self.long += (x - self.long) / 128.0;
        }
    }

    /// The pressure at `now`: finite, in `[0, 1]`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::retry_after::Backpressure;
    /// # use failsafe_core::Instant;
    /// let ms = Duration::from_millis;
    /// let mut bp = Backpressure::<4>::new(ms(100), ms(4_000), ms(1_000), ms(9_000)).unwrap();
    /// // Every call over the objective, latency steady: violations 1, gradient 0.
    /// for t in 0..8 {
    ///     bp.record(Instant::from_millis(t), ms(150));
    /// }
    /// assert_eq!(bp.pressure(Instant::from_millis(8)), 0.5);
    /// ```
    pub fn pressure(&mut self, now: Instant) -> f64 {
        let now = self.clock.observe(now);
        let [calls, slow] = self.counts.sums(now);
        let violations = if calls == 0 {
            0.0
        } else {
            slow as f64 / calls as f64
        };
        let gradient = if self.long > 0.0 {
            (self.short / self.long - 1.0).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let pressure = (violations + gradient) / 2.0;
        // Never NaN (calls > 0 and long > 0 are checked); a guard costs nothing.
        if pressure.is_nan() {
            1.0
        } else {
            pressure.clamp(0.0, 1.0)
        }
    }

    /// `(min + penalty * pressure) * U[0.8, 1.2]`, in whole nanoseconds:
    /// `b + U[-b/5, b/5]` with `b = min + floor(penalty * pressure)`
    /// (integer arithmetic, saturating; see the type's bounds).
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::rate::retry_after::Backpressure;
    /// use failsafe_core::rng::Xorshift64;
    /// use failsafe_core::Instant;
    ///
    /// let ms = Duration::from_millis;
    /// let mut bp = Backpressure::<4>::new(ms(100), ms(4_000), ms(1_000), ms(9_000)).unwrap();
    /// // No calls yet: pressure 0, so 1 s +- 20%.
    /// let wait = bp.retry_after(Instant::ZERO, &mut Xorshift64::new(1));
    /// assert!(wait >= ms(800) && wait <= ms(1_200));
    /// ```
    pub fn retry_after(&mut self, now: Instant, rng: &mut dyn Rng) -> Duration {
        // pressure is in [0, 1], so the product is in [0, penalty].
        let extra =
            ((self.penalty_nanos as f64 * self.pressure(now)) as u64).min(self.penalty_nanos);
        let base = self.min_nanos.saturating_add(extra);
        let fifth = base / 5;
        Duration::from_nanos(
            (base - fifth).saturating_add(rng.below(fifth.saturating_mul(2).saturating_add(1))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Always draws the same word: `below(b)` is `0` for `Fixed(0)` and
    /// `b - 1` for `Fixed(u64::MAX)`, the two ends of the jitter.
    struct Fixed(u64);

    impl Rng for Fixed {
        fn next_u64(&mut self) -> u64 {
            self.0
        }
    }

    #[test]
    fn utilization_never_exceeds_max_even_where_f64_rounds_up() {
        // 2^60 - 1 is not an f64: `as f64` gives 2^60, one past the cap.
        let max = Duration::from_nanos((1 << 60) - 1);
        assert_eq!(utilization(Duration::ZERO, 1.0, max), max);
        assert_eq!(utilization(Duration::ZERO, f64::NAN, max), max);
        // 2^54 + 1 is not an f64 either: `as f64` gives 2^54, one short of it.
        let max = Duration::from_nanos((1 << 54) + 1);
        assert_eq!(utilization(Duration::ZERO, 1.0, max), max);
        assert_eq!(utilization(Duration::ZERO, f64::INFINITY, max), max);
        assert_eq!(
            utilization(Duration::ZERO, f64::NEG_INFINITY, max),
            Duration::ZERO
        );
        assert_eq!(utilization(Duration::MAX, 0.5, max), Duration::MAX);
    }

    #[test]
    fn backpressure_retry_after_ends_are_exact_and_saturate() {
        let ms = Duration::from_millis;
        // No pressure: b = 1000 ms, fifth 200 ms: [800, 1200] ms exactly.
        let mut bp = Backpressure::<4>::new(ms(100), ms(4_000), ms(1_000), ms(9_000)).unwrap();
        assert_eq!(bp.retry_after(Instant::ZERO, &mut Fixed(0)), ms(800));
        assert_eq!(
            bp.retry_after(Instant::ZERO, &mut Fixed(u64::MAX)),
            ms(1_200)
        );
        // Under pressure the ends stay within [m - m/5, s + s/5] = [800 ms, 12 s]
        // (m = 1 s, s = 1 s + 9 s), and the low end is above 800 ms.
        bp.record(Instant::ZERO, ms(1));
        for t in 1..200 {
            bp.record(Instant::from_millis(t), ms(1_000));
        }
        let now = Instant::from_millis(200);
        let p = bp.pressure(now);
        assert!(p > 0.5 && p <= 1.0, "{p}");
        let low = bp.retry_after(now, &mut Fixed(0));
        let high = bp.retry_after(now, &mut Fixed(u64::MAX));
        assert!(low > ms(800) && high <= ms(12_000), "{low:?} {high:?}");
        // Durations past u64 nanoseconds: b saturates at u64::MAX ns, the
        // low end is u64::MAX - u64::MAX / 5, the high end saturates.
        let mut huge =
            Backpressure::<4>::new(ms(100), ms(4_000), Duration::MAX, Duration::MAX).unwrap();
        huge.record(Instant::ZERO, Duration::MAX);
        let max = u64::MAX;
        assert_eq!(
            huge.retry_after(Instant::ZERO, &mut Fixed(0)),
            Duration::from_nanos(max - max / 5)
        );
        assert_eq!(
            huge.retry_after(Instant::ZERO, &mut Fixed(u64::MAX)),
            Duration::from_nanos(max)
        );
        assert_eq!(huge.pressure(Instant::ZERO), 0.5);
    }
}
