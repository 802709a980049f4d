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
    let scaled = Duration::from_nanos((duration_nanos(max) as f64 * u) as u64);
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

    /// The pressure in `[0, 1]` at `now`.
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
        ((violations + gradient) / 2.0).clamp(0.0, 1.0)
    }

    /// `(min + penalty * pressure) * U(0.8, 1.2)`.
    pub fn retry_after(&mut self, now: Instant, rng: &mut dyn Rng) -> Duration {
        let base = self.min_nanos as f64 + self.penalty_nanos as f64 * self.pressure(now);
        let jitter = 0.8 + 0.4 * rng.next_f64();
        let nanos = base * jitter;
        Duration::from_nanos(if nanos >= u64::MAX as f64 {
            u64::MAX
        } else {
            nanos as u64
        })
    }
}
