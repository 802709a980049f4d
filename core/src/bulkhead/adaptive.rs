//! Adaptive concurrency limits: algorithms that move a bulkhead's limit from
//! the latency and the drops of the calls it admitted.
//!
//! Each algorithm is fed one sample per finished call (the bulkhead does it
//! in [`release`](super::Bulkhead::release)) and answers with the limit it
//! wants. Every algorithm here keeps its limit inside its configured
//! `[min_limit, max_limit]` whatever the samples say, and its arithmetic
//! cannot overflow, divide by zero or produce NaN: rtts are counted as at
//! least one nanosecond, every float it steps is finite, and every
//! configuration value is validated.
//!
//! | algorithm | grows | shrinks |
//! |---|---|---|
//! | [`Aimd`] | +1 per sample while the limit is used | x`backoff_ratio` on a drop or an rtt over `timeout` |
//! | [`Vegas`] | +log10(L) while the estimated queue is under alpha | -log10(L) over beta, or on a drop |
//! | [`Gradient2`] | towards `L + queue_size` while latency is steady | towards `L * gradient + queue_size` as latency rises, or on a drop |
//!
//! A limit grows only while the bulkhead is actually using it (at least
//! half of it was in flight when the sampled call was admitted); otherwise
//! an idle service would ratchet its limit up to the maximum without ever
//! having tested it.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Instant, Problem};

/// Decides a concurrency limit from samples of finished calls.
///
/// Implementations keep their limit at least 1; the bulkhead also clamps it
/// to `[1, max_concurrent]` of its configuration.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::LimitAlgorithm;
/// use failsafe_core::Instant;
///
/// /// Halves on a drop, otherwise doubles up to 64.
/// struct Doubling(u32);
/// impl LimitAlgorithm for Doubling {
///     fn on_sample(&mut self, _now: Instant, _rtt: Duration, _in_flight: u32, dropped: bool) -> u32 {
///         self.0 = if dropped { (self.0 / 2).max(1) } else { (self.0 * 2).min(64) };
///         self.0
///     }
///     fn limit(&self) -> u32 { self.0 }
/// }
/// let mut d = Doubling(8);
/// assert_eq!(d.on_sample(Instant::ZERO, Duration::from_millis(3), 8, false), 16);
/// ```
pub trait LimitAlgorithm {
    /// `false` for a limit that never moves on its own ([`FixedLimit`]): the
    /// bulkhead then takes no samples, and reads no clock to take them.
    const ADAPTIVE: bool = true;

    /// One finished call: it took `rtt`, `in_flight` calls (itself included)
    /// were in flight when it was admitted, and `dropped` says it failed or
    /// timed out. Returns the new limit.
    fn on_sample(&mut self, now: Instant, rtt: Duration, in_flight: u32, dropped: bool) -> u32;

    /// The current limit.
    fn limit(&self) -> u32;

    /// Moves the limit by hand (an operator shedding load, a test); the
    /// algorithm carries on from there. Returns the limit in force, clamped
    /// to the algorithm's bounds. The default keeps the algorithm's own limit.
    fn set_limit(&mut self, limit: u32) -> u32 {
        let _ = limit;
        self.limit()
    }

    /// The bounds [`set_limit`](Self::set_limit) keeps the limit within,
    /// `(min, max)`: `(1, u32::MAX)` by default; each built-in algorithm's
    /// `min_limit` and `max_limit`.
    fn limit_bounds(&self) -> (u32, u32) {
        (1, u32::MAX)
    }
}

/// A limit that moves only by hand: what [`Bulkhead::new`](super::Bulkhead::new) uses.
///
/// ```
/// use failsafe_core::bulkhead::{FixedLimit, LimitAlgorithm};
/// let mut fixed = FixedLimit::new(10);
/// assert_eq!(fixed.set_limit(4), 4);
/// assert_eq!(fixed.limit(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FixedLimit {
    limit: u32,
}

impl FixedLimit {
    /// A fixed limit of `limit` (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{FixedLimit, LimitAlgorithm};
    /// assert_eq!(FixedLimit::new(0).limit(), 1);
    /// ```
    pub const fn new(limit: u32) -> FixedLimit {
        FixedLimit {
            limit: if limit == 0 { 1 } else { limit },
        }
    }
}

impl LimitAlgorithm for FixedLimit {
    const ADAPTIVE: bool = false;

    #[inline]
    fn on_sample(&mut self, _now: Instant, _rtt: Duration, _in_flight: u32, _dropped: bool) -> u32 {
        self.limit
    }

    #[inline]
    fn limit(&self) -> u32 {
        self.limit
    }

    fn set_limit(&mut self, limit: u32) -> u32 {
        self.limit = if limit == 0 { 1 } else { limit };
        self.limit
    }
}

// ---------------------------------------------------------------- validation

/// `min >= 1`, `max >= min`, `min <= initial <= max`.
const fn check_limits(min: u32, initial: u32, max: u32) -> Result<(), ConfigError> {
    if min == 0 {
        return Err(ConfigError::new("min_limit", Problem::Zero));
    }
    if max < min {
        return Err(ConfigError::new("max_limit", Problem::BelowMinimum));
    }
    if initial < min {
        return Err(ConfigError::new("initial_limit", Problem::BelowMinimum));
    }
    if initial > max {
        return Err(ConfigError::new("initial_limit", Problem::TooLarge));
    }
    Ok(())
}

/// An `f32` setting as the `f64` it was written as (`0.2f32` is
/// 0.200000003: keep 6 decimals, so 0.2 computes as 0.2).
const fn decimal(x: f32) -> f64 {
    let x = x as f64;
    if x > 0.0 && x < 1.0e9 {
        let rounded = (x * 1.0e6 + 0.5) as u64 as f64 / 1.0e6;
        if rounded > 0.0 { rounded } else { x }
    } else {
        x
    }
}

/// A ratio in `(0, 1]`.
const fn check_ratio(field: &'static str, ratio: f32) -> Result<f64, ConfigError> {
    if ratio.is_nan() || ratio <= 0.0 || ratio > 1.0 {
        return Err(ConfigError::new(field, Problem::RatioOutOfRange));
    }
    Ok(decimal(ratio))
}

/// A finite factor greater than zero.
const fn check_positive(field: &'static str, value: f32) -> Result<f64, ConfigError> {
    if value.is_nan() || value <= 0.0 {
        return Err(ConfigError::new(field, Problem::Zero));
    }
    if value.is_infinite() {
        return Err(ConfigError::new(field, Problem::TooLarge));
    }
    Ok(decimal(value))
}

/// `x` clamped to `[lo, hi]`; a NaN (which the algorithms never produce,
/// but a guard costs nothing) keeps `fallback`. Never panics, unlike `f64::clamp`.
#[inline]
fn clamp_or(x: f64, lo: f64, hi: f64, fallback: f64) -> f64 {
    if x.is_nan() {
        fallback
    } else if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// An rtt in nanoseconds, at least one (so ratios never divide by zero).
#[inline]
fn rtt_nanos(rtt: Duration) -> u64 {
    let n = duration_nanos(rtt);
    if n == 0 { 1 } else { n }
}

/// Was less than half of the limit in use? Then growth was never tested.
#[inline]
fn app_limited(in_flight: u32, limit: u32) -> bool {
    (in_flight as u64) * 2 < limit as u64
}

/// The integer limit of a float estimate already clamped to `[min, max]`.
#[inline]
fn floor_limit(estimate: f64, min: u32, max: u32) -> u32 {
    let l = estimate as u32; // saturating, truncating toward zero
    l.clamp(min, max)
}

// ---------------------------------------------------------------------- AIMD

/// Additive increase, multiplicative decrease (Netflix `AIMDLimit`): +1 per
/// sample while at least half the limit is in flight, x`backoff_ratio` on a
/// drop or when a call took longer than `timeout`. Integer arithmetic only.
///
/// Bounds: every answer of [`on_sample`](LimitAlgorithm::on_sample),
/// [`limit`](LimitAlgorithm::limit) and [`set_limit`](LimitAlgorithm::set_limit)
/// lies in `[min_limit, max_limit]`, for any samples (rtts from zero to
/// [`Duration::MAX`], any number of them).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::{Aimd, LimitAlgorithm};
/// use failsafe_core::Instant;
///
/// let mut aimd = Aimd::DEFAULT; // starts at 20, moves within 20..=200
/// let t = Instant::from_millis(1);
/// assert_eq!(aimd.on_sample(t, Duration::from_millis(5), 20, false), 21);
/// assert_eq!(aimd.on_sample(t, Duration::from_millis(5), 3, false), 21); // barely used: no growth
/// let mut aimd = Aimd::builder().initial_limit(100).build().unwrap();
/// assert_eq!(aimd.on_sample(t, Duration::from_millis(5), 100, true), 90); // a drop: x0.9
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Aimd {
    pub(crate) limit: u32,
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) backoff_ppm: u32,
    pub(crate) timeout_nanos: u64,
}

impl Aimd {
    /// Netflix's defaults: start at 20, within 20..=200, x0.9 on a drop or
    /// a call over 5 s.
    pub const DEFAULT: Aimd = crate::checked(Aimd::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::builder().build(), Ok(Aimd::DEFAULT));
    /// ```
    pub const fn builder() -> AimdBuilder {
        AimdBuilder {
            limits: Limits::new(20, 20, 200),
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }

    /// The lowest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::DEFAULT.min_limit(), 20);
    /// ```
    pub const fn min_limit(&self) -> u32 {
        self.min
    }

    /// The highest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::DEFAULT.max_limit(), 200);
    /// ```
    pub const fn max_limit(&self) -> u32 {
        self.max
    }
}

impl Default for Aimd {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl LimitAlgorithm for Aimd {
    fn on_sample(&mut self, _now: Instant, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        if dropped || duration_nanos(rtt) > self.timeout_nanos {
            // u64: limit * ppm < 2^32 * 2^20, no overflow.
            let backed_off = (self.limit as u64 * self.backoff_ppm as u64 / PPM) as u32;
            self.limit = backed_off.clamp(self.min, self.max);
        } else if !app_limited(in_flight, self.limit) {
            self.limit = self.limit.saturating_add(1).clamp(self.min, self.max);
        }
        self.limit
    }

    fn limit(&self) -> u32 {
        self.limit
    }

    fn set_limit(&mut self, limit: u32) -> u32 {
        self.limit = limit.clamp(self.min, self.max);
        self.limit
    }

    fn limit_bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }
}

const PPM: u64 = 1_000_000;

/// The three limits every algorithm's builder shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Limits {
    min: u32,
    initial: u32,
    max: u32,
}

impl Limits {
    const fn new(min: u32, initial: u32, max: u32) -> Limits {
        Limits { min, initial, max }
    }
}

/// Builds an [`Aimd`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 20 | never below (at least 1) |
/// | `max_limit` | 200 | never above |
/// | `backoff_ratio` | 0.9 | multiply the limit by this on a drop, in `(0, 1]` |
/// | `timeout` | 5 s | a call longer than this counts as a drop |
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct AimdBuilder {
    limits: Limits,
    backoff_ratio: f32,
    timeout: Duration,
}

impl AimdBuilder {
    /// The limit before any sample.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Aimd, LimitAlgorithm};
    /// assert_eq!(Aimd::builder().initial_limit(50).build().unwrap().limit(), 50);
    /// ```
    pub const fn initial_limit(mut self, limit: u32) -> Self {
        self.limits.initial = limit;
        self
    }

    /// The limit never goes below this (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::builder().min_limit(0).build().unwrap_err().field, "min_limit");
    /// ```
    pub const fn min_limit(mut self, limit: u32) -> Self {
        self.limits.min = limit;
        self
    }

    /// The limit never goes above this.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::builder().max_limit(10).build().unwrap_err().field, "max_limit");
    /// ```
    pub const fn max_limit(mut self, limit: u32) -> Self {
        self.limits.max = limit;
        self
    }

    /// Multiply the limit by this on a drop, in `(0, 1]`.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert_eq!(Aimd::builder().backoff_ratio(1.5).build().unwrap_err().field, "backoff_ratio");
    /// ```
    pub const fn backoff_ratio(mut self, ratio: f32) -> Self {
        self.backoff_ratio = ratio;
        self
    }

    /// A call that took longer than this counts as a drop.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::Aimd;
    /// assert!(Aimd::builder().timeout(Duration::from_millis(200)).build().is_ok());
    /// ```
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks every field and returns the algorithm, or the first error.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Aimd;
    /// let e = Aimd::builder().min_limit(5).initial_limit(1).build().unwrap_err();
    /// assert_eq!(e.to_string(), "invalid `initial_limit`: must not be below its minimum");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`], in this order:
    /// - `min_limit` zero (`Zero`); `max_limit` or `initial_limit` below
    ///   `min_limit` (`BelowMinimum`); `initial_limit` above `max_limit`
    ///   (`TooLarge`);
    /// - `backoff_ratio` NaN or outside `(0, 1]` (`RatioOutOfRange`);
    ///   `timeout` zero (`Zero`).
    pub const fn build(self) -> Result<Aimd, ConfigError> {
        let Limits { min, initial, max } = self.limits;
        if let Err(e) = check_limits(min, initial, max) {
            return Err(e);
        }
        let ratio = match check_ratio("backoff_ratio", self.backoff_ratio) {
            Ok(r) => r,
            Err(e) => return Err(e),
        };
        let timeout_nanos = duration_nanos(self.timeout);
        if timeout_nanos == 0 {
            return Err(ConfigError::new("timeout", Problem::Zero));
        }
        let ppm = (ratio * PPM as f64 + 0.5) as u32;
        Ok(Aimd {
            limit: initial,
            min,
            max,
            backoff_ppm: if ppm == 0 { 1 } else { ppm },
            timeout_nanos,
        })
    }
}

// --------------------------------------------------------------------- Vegas

/// TCP Vegas for concurrency (Netflix `VegasLimit`): estimates how many calls
/// are queueing downstream from how far the rtt is above the lowest rtt seen
/// (`queue = ceil(L * (1 - rtt_noload / rtt))`), and keeps that estimate
/// between `alpha = 3 * log10(L)` and `beta = 6 * log10(L)`: below alpha the
/// limit grows by `log10(L)`, above beta (or on a drop) it shrinks by as much
/// (each step at least 1).
///
/// The lowest rtt is forgotten every `probe_multiplier * L` samples, so a
/// lasting change in the dependency's baseline latency is learned.
///
/// Bounds: its float estimate stays finite and in `[min_limit, max_limit]`,
/// so every limit it answers does too, for any samples (rtts from zero to
/// [`Duration::MAX`], any number of them); [`rtt_noload`](Vegas::rtt_noload)
/// is one of the rtts sampled (counted as at least 1 ns).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::{LimitAlgorithm, Vegas};
/// use failsafe_core::Instant;
///
/// let mut vegas = Vegas::DEFAULT; // starts at 20
/// let t = Instant::ZERO;
/// let ms = Duration::from_millis;
/// assert_eq!(vegas.on_sample(t, ms(10), 20, false), 21); // no queue: grow by log10(20)
/// // latency doubles: queue = ceil(21.3 * 0.5) = 11 > beta = 6 * log10(21.3) = 8: shrink by 1.3
/// assert_eq!(vegas.on_sample(t, ms(20), 21, false), 19);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Vegas {
    estimate: f64,
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) alpha: f64,
    pub(crate) beta: f64,
    pub(crate) smoothing: f64,
    pub(crate) probe_multiplier: u32,
    /// The lowest rtt seen since the last probe, in ns; 0 = none yet.
    rtt_noload: u64,
    samples_since_probe: u64,
}

impl Vegas {
    /// Netflix's defaults: start at 20, within 1..=1000, alpha 3, beta 6
    /// (per log10 of the limit), no smoothing, probe every 30 x L samples.
    pub const DEFAULT: Vegas = crate::checked(Vegas::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().build(), Ok(Vegas::DEFAULT));
    /// ```
    pub const fn builder() -> VegasBuilder {
        VegasBuilder {
            limits: Limits::new(1, 20, 1_000),
            alpha: 3.0,
            beta: 6.0,
            smoothing: 1.0,
            probe_multiplier: 30,
        }
    }

    /// The lowest rtt seen since the last probe (the "no-load" rtt), if any.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{LimitAlgorithm, Vegas};
    /// # use failsafe_core::Instant;
    /// let mut v = Vegas::DEFAULT;
    /// assert_eq!(v.rtt_noload(), None);
    /// v.on_sample(Instant::ZERO, Duration::from_millis(7), 20, false);
    /// assert_eq!(v.rtt_noload(), Some(Duration::from_millis(7)));
    /// ```
    pub const fn rtt_noload(&self) -> Option<Duration> {
        if self.rtt_noload == 0 {
            None
        } else {
            Some(Duration::from_nanos(self.rtt_noload))
        }
    }

    /// The lowest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::DEFAULT.min_limit(), 1);
    /// ```
    pub const fn min_limit(&self) -> u32 {
        self.min
    }

    /// The highest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::DEFAULT.max_limit(), 1_000);
    /// ```
    pub const fn max_limit(&self) -> u32 {
        self.max
    }
}

impl Default for Vegas {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl LimitAlgorithm for Vegas {
    fn on_sample(&mut self, _now: Instant, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        let rtt = rtt_nanos(rtt);
        let limit = self.limit();
        self.samples_since_probe = self.samples_since_probe.saturating_add(1);
        if self.samples_since_probe >= self.probe_multiplier as u64 * limit as u64 {
            self.rtt_noload = 0; // probe: learn the baseline afresh from this sample
            self.samples_since_probe = 0;
        }
        if self.rtt_noload == 0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
        }
        let l = self.estimate; // finite, in [min, max], >= 1
        let log = libm::log10(l); // >= 0
        let step = if log > 1.0 { log } else { 1.0 };
        let target = if dropped {
            l - step
        } else {
            // rtt_noload <= rtt, so the queue lies in [0, L).
            let queue = libm::ceil(l * (1.0 - self.rtt_noload as f64 / rtt as f64));
            // At least 1, so a limit of 1 (log10 = 0) can still grow.
            let alpha = max_f64(self.alpha * log, 1.0);
            let beta = max_f64(self.beta * log, alpha);
            if queue < alpha {
                if app_limited(in_flight, limit) {
                    l
                } else {
                    l + step
                }
            } else if queue > beta {
                l - step
            } else {
                l
            }
        };
        let smoothed = l * (1.0 - self.smoothing) + target * self.smoothing;
        self.estimate = clamp_or(smoothed, self.min as f64, self.max as f64, l);
        self.limit()
    }

    fn limit(&self) -> u32 {
        floor_limit(self.estimate, self.min, self.max)
    }

    fn set_limit(&mut self, limit: u32) -> u32 {
        self.estimate = limit.clamp(self.min, self.max) as f64;
        self.limit()
    }

    fn limit_bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }
}

#[inline]
fn max_f64(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// Builds a [`Vegas`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 1 | never below (at least 1) |
/// | `max_limit` | 1000 | never above |
/// | `alpha` | 3 | grow while the estimated queue is under `alpha * log10(L)` |
/// | `beta` | 6 | shrink while it is over `beta * log10(L)` (at least alpha) |
/// | `smoothing` | 1.0 | how much of each step is taken, in `(0, 1]` |
/// | `probe_multiplier` | 30 | forget the no-load rtt every this x L samples |
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct VegasBuilder {
    limits: Limits,
    alpha: f32,
    beta: f32,
    smoothing: f32,
    probe_multiplier: u32,
}

impl VegasBuilder {
    /// The limit before any sample.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{LimitAlgorithm, Vegas};
    /// assert_eq!(Vegas::builder().initial_limit(8).build().unwrap().limit(), 8);
    /// ```
    pub const fn initial_limit(mut self, limit: u32) -> Self {
        self.limits.initial = limit;
        self
    }

    /// The limit never goes below this (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().min_limit(4).build().unwrap().min_limit(), 4);
    /// ```
    pub const fn min_limit(mut self, limit: u32) -> Self {
        self.limits.min = limit;
        self
    }

    /// The limit never goes above this.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().max_limit(64).build().unwrap().max_limit(), 64);
    /// ```
    pub const fn max_limit(mut self, limit: u32) -> Self {
        self.limits.max = limit;
        self
    }

    /// Grow while the estimated queue is under `alpha * log10(L)` (finite, > 0).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().alpha(f32::NAN).build().unwrap_err().field, "alpha");
    /// ```
    pub const fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Shrink while the estimated queue is over `beta * log10(L)` (finite, >= alpha).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().alpha(4.0).beta(2.0).build().unwrap_err().field, "beta");
    /// ```
    pub const fn beta(mut self, beta: f32) -> Self {
        self.beta = beta;
        self
    }

    /// How much of each step is taken at once, in `(0, 1]` (1: all of it).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert!(Vegas::builder().smoothing(0.5).build().is_ok());
    /// ```
    pub const fn smoothing(mut self, smoothing: f32) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Forget the no-load rtt every `multiplier * L` samples (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// assert_eq!(Vegas::builder().probe_multiplier(0).build().unwrap_err().field, "probe_multiplier");
    /// ```
    pub const fn probe_multiplier(mut self, multiplier: u32) -> Self {
        self.probe_multiplier = multiplier;
        self
    }

    /// Checks every field and returns the algorithm, or the first error.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Vegas;
    /// let e = Vegas::builder().smoothing(0.0).build().unwrap_err();
    /// assert_eq!(e.to_string(), "invalid `smoothing`: must be a ratio in (0, 1]");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`], in this order:
    /// - `min_limit` zero (`Zero`); `max_limit` or `initial_limit` below
    ///   `min_limit` (`BelowMinimum`); `initial_limit` above `max_limit`
    ///   (`TooLarge`);
    /// - `alpha` NaN or not above zero (`Zero`) or infinite (`TooLarge`);
    ///   `beta` NaN or below `alpha` (`BelowMinimum`) or infinite
    ///   (`TooLarge`); `smoothing` NaN or outside `(0, 1]`
    ///   (`RatioOutOfRange`); `probe_multiplier` zero (`Zero`).
    pub const fn build(self) -> Result<Vegas, ConfigError> {
        let Limits { min, initial, max } = self.limits;
        if let Err(e) = check_limits(min, initial, max) {
            return Err(e);
        }
        let alpha = match check_positive("alpha", self.alpha) {
            Ok(a) => a,
            Err(e) => return Err(e),
        };
        if self.beta.is_nan() || decimal(self.beta) < alpha {
            return Err(ConfigError::new("beta", Problem::BelowMinimum));
        }
        if self.beta.is_infinite() {
            return Err(ConfigError::new("beta", Problem::TooLarge));
        }
        let smoothing = match check_ratio("smoothing", self.smoothing) {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        if self.probe_multiplier == 0 {
            return Err(ConfigError::new("probe_multiplier", Problem::Zero));
        }
        Ok(Vegas {
            estimate: initial as f64,
            min,
            max,
            alpha,
            beta: decimal(self.beta),
            smoothing,
            probe_multiplier: self.probe_multiplier,
            rtt_noload: 0,
            samples_since_probe: 0,
        })
    }
}

// ----------------------------------------------------------------- Gradient2

/// Netflix's `Gradient2Limit`: compares each call's rtt (short) with a long
/// exponential average of rtts (window 600 samples),
/// `gradient = clamp(rtt_tolerance * long / short, 0.5, 1)`, and moves the
/// limit `smoothing` (0.2) of the way towards `L * gradient + queue_size`.
/// Steady latency (gradient 1) grows the limit by `queue_size * smoothing`
/// per sample; latency rising past `rtt_tolerance` (1.5) times the long
/// average shrinks it, by at most half.
///
/// Unlike Netflix's version, a drop counts as the worst latency signal
/// (gradient 0.5), so failures and timeouts shrink the limit too. When the
/// long average is more than twice the latest rtt it decays by 5% per
/// sample, so the limit recovers quickly after a slow period.
///
/// Bounds: its float estimate stays finite and in `[min_limit, max_limit]`,
/// so every limit it answers does too, for any samples (rtts from zero to
/// [`Duration::MAX`], any number of them); the gradient lies in `[0.5, 1]`;
/// [`long_rtt`](Gradient2::long_rtt) lies between the shortest and the
/// longest rtt sampled (each counted as at least 1 ns, to `f64` precision).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::{Gradient2, LimitAlgorithm};
/// use failsafe_core::Instant;
///
/// let mut g = Gradient2::builder().initial_limit(100).build().unwrap();
/// let (t, ms) = (Instant::ZERO, Duration::from_millis);
/// for _ in 0..9 {
///     g.on_sample(t, ms(10), 100, false); // steady: 0.2 of the way to L + 4, +0.8 each
/// }
/// assert_eq!(g.limit(), 107); // 107.2
/// // rtt 3x the long average: gradient 0.5, 0.2 of the way to L * 0.5 + 4 = 57.6
/// assert_eq!(g.on_sample(t, ms(40), 107, false), 97); // 97.28
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gradient2 {
    estimate: f64,
    pub(crate) min: u32,
    pub(crate) max: u32,
    pub(crate) tolerance: f64,
    pub(crate) smoothing: f64,
    pub(crate) queue_size: u32,
    pub(crate) long_window: u32,
    /// Long average rtt in ns; 0 = no sample yet.
    long_rtt: f64,
    samples: u64,
}

impl Gradient2 {
    /// Netflix's defaults: start at 20, within 20..=200, tolerance 1.5,
    /// smoothing 0.2, queue size 4, long window 600 samples.
    pub const DEFAULT: Gradient2 = crate::checked(Gradient2::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().build(), Ok(Gradient2::DEFAULT));
    /// ```
    pub const fn builder() -> Gradient2Builder {
        Gradient2Builder {
            limits: Limits::new(20, 20, 200),
            rtt_tolerance: 1.5,
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
        }
    }

    /// The long average rtt, if any sample arrived yet.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Gradient2, LimitAlgorithm};
    /// # use failsafe_core::Instant;
    /// let mut g = Gradient2::DEFAULT;
    /// g.on_sample(Instant::ZERO, Duration::from_millis(10), 20, false);
    /// g.on_sample(Instant::ZERO, Duration::from_millis(20), 20, false);
    /// assert_eq!(g.long_rtt(), Some(Duration::from_millis(15))); // a plain mean while warming up
    /// ```
    pub fn long_rtt(&self) -> Option<Duration> {
        if self.samples == 0 {
            None
        } else {
            Some(Duration::from_nanos(self.long_rtt as u64))
        }
    }

    /// The lowest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::DEFAULT.min_limit(), 20);
    /// ```
    pub const fn min_limit(&self) -> u32 {
        self.min
    }

    /// The highest limit it will ever answer.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::DEFAULT.max_limit(), 200);
    /// ```
    pub const fn max_limit(&self) -> u32 {
        self.max
    }
}

impl Default for Gradient2 {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl LimitAlgorithm for Gradient2 {
    fn on_sample(&mut self, _now: Instant, rtt: Duration, in_flight: u32, dropped: bool) -> u32 {
        let short = rtt_nanos(rtt) as f64; // >= 1
        self.samples = self.samples.saturating_add(1);
        // A plain mean while warming up, then an exponential average over the window.
        let by_count = 1.0 / self.samples as f64;
        let by_window = 2.0 / (self.long_window as f64 + 1.0);
        let weight = max_f64(by_count, by_window);
        let previous = self.long_rtt;
        self.long_rtt = if self.samples == 1 {
            short
        } else {
            // Between the previous average and this sample, exactly: a
            // rounding step past either end is clamped back.
            let (low, high) = if previous < short {
                (previous, short)
            } else {
                (short, previous)
            };
            clamp_or(previous + (short - previous) * weight, low, high, short)
        };
        if self.long_rtt > 2.0 * short {
            // Recover quickly after a slow period; stays above 1.9 x short.
            self.long_rtt *= 0.95;
        }
        let gradient = if dropped {
            0.5
        } else {
            clamp_or(self.tolerance * self.long_rtt / short, 0.5, 1.0, 0.5)
        };
        let l = self.estimate;
        let mut target = l * gradient + self.queue_size as f64;
        if target > l && app_limited(in_flight, self.limit()) {
            target = l;
        }
        let smoothed = l * (1.0 - self.smoothing) + target * self.smoothing;
        self.estimate = clamp_or(smoothed, self.min as f64, self.max as f64, l);
        self.limit()
    }

    fn limit(&self) -> u32 {
        floor_limit(self.estimate, self.min, self.max)
    }

    fn set_limit(&mut self, limit: u32) -> u32 {
        self.estimate = limit.clamp(self.min, self.max) as f64;
        self.limit()
    }

    fn limit_bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }
}

/// Builds a [`Gradient2`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `initial_limit` | 20 | the limit before any sample |
/// | `min_limit` | 20 | never below (at least 1) |
/// | `max_limit` | 200 | never above |
/// | `rtt_tolerance` | 1.5 | latency up to this x the long average still counts as steady (>= 1) |
/// | `smoothing` | 0.2 | how far each sample moves the limit towards its target, in `(0, 1]` |
/// | `queue_size` | 4 | headroom added on each step (at least 1) |
/// | `long_window` | 600 | samples in the long rtt average (at least 1) |
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Gradient2Builder {
    limits: Limits,
    rtt_tolerance: f32,
    smoothing: f32,
    queue_size: u32,
    long_window: u32,
}

impl Gradient2Builder {
    /// The limit before any sample.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Gradient2, LimitAlgorithm};
    /// assert_eq!(Gradient2::builder().initial_limit(64).build().unwrap().limit(), 64);
    /// ```
    pub const fn initial_limit(mut self, limit: u32) -> Self {
        self.limits.initial = limit;
        self
    }

    /// The limit never goes below this (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().min_limit(2).build().unwrap().min_limit(), 2);
    /// ```
    pub const fn min_limit(mut self, limit: u32) -> Self {
        self.limits.min = limit;
        self
    }

    /// The limit never goes above this.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().max_limit(300).build().unwrap().max_limit(), 300);
    /// ```
    pub const fn max_limit(mut self, limit: u32) -> Self {
        self.limits.max = limit;
        self
    }

    /// Latency up to this many times the long average counts as steady (finite, >= 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().rtt_tolerance(0.9).build().unwrap_err().field, "rtt_tolerance");
    /// ```
    pub const fn rtt_tolerance(mut self, tolerance: f32) -> Self {
        self.rtt_tolerance = tolerance;
        self
    }

    /// How far each sample moves the limit towards its target, in `(0, 1]`.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().smoothing(2.0).build().unwrap_err().field, "smoothing");
    /// ```
    pub const fn smoothing(mut self, smoothing: f32) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// Headroom added on each step, so the limit can grow (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert_eq!(Gradient2::builder().queue_size(0).build().unwrap_err().field, "queue_size");
    /// ```
    pub const fn queue_size(mut self, queue_size: u32) -> Self {
        self.queue_size = queue_size;
        self
    }

    /// How many samples the long rtt average spans (at least 1).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// assert!(Gradient2::builder().long_window(100).build().is_ok());
    /// ```
    pub const fn long_window(mut self, samples: u32) -> Self {
        self.long_window = samples;
        self
    }

    /// Checks every field and returns the algorithm, or the first error.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Gradient2;
    /// let e = Gradient2::builder().long_window(0).build().unwrap_err();
    /// assert_eq!(e.to_string(), "invalid `long_window`: must be greater than zero");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`], in this order:
    /// - `min_limit` zero (`Zero`); `max_limit` or `initial_limit` below
    ///   `min_limit` (`BelowMinimum`); `initial_limit` above `max_limit`
    ///   (`TooLarge`);
    /// - `rtt_tolerance` NaN or below 1 (`BelowMinimum`) or infinite
    ///   (`TooLarge`); `smoothing` NaN or outside `(0, 1]`
    ///   (`RatioOutOfRange`); `queue_size`, `long_window` zero (`Zero`).
    pub const fn build(self) -> Result<Gradient2, ConfigError> {
        let Limits { min, initial, max } = self.limits;
        if let Err(e) = check_limits(min, initial, max) {
            return Err(e);
        }
        if self.rtt_tolerance.is_nan() || self.rtt_tolerance < 1.0 {
            return Err(ConfigError::new("rtt_tolerance", Problem::BelowMinimum));
        }
        if self.rtt_tolerance.is_infinite() {
            return Err(ConfigError::new("rtt_tolerance", Problem::TooLarge));
        }
        let smoothing = match check_ratio("smoothing", self.smoothing) {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        if self.queue_size == 0 {
            return Err(ConfigError::new("queue_size", Problem::Zero));
        }
        if self.long_window == 0 {
            return Err(ConfigError::new("long_window", Problem::Zero));
        }
        Ok(Gradient2 {
            estimate: initial as f64,
            min,
            max,
            tolerance: decimal(self.rtt_tolerance),
            smoothing,
            queue_size: self.queue_size,
            long_window: self.long_window,
            long_rtt: 0.0,
            samples: 0,
        })
    }
}
