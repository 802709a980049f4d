//! How long to wait before each retry: backoff shapes and jitter.

use core::time::Duration;

use crate::rng::Rng;
use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

/// Computes the delay before each retry. Implement it for a custom shape;
/// the built-in ones are [`BackoffKind`]'s variants.
///
/// `retry` is 1 for the first retry. A backoff may keep state between
/// retries of one call (each call works on its own copy) and must never
/// panic or overflow, whatever `retry` is.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::Backoff;
/// use failsafe_core::rng::Rng;
///
/// /// 1 s, 2 s, 3 s, ... but never on the hour.
/// #[derive(Clone)]
/// struct Steps;
/// impl Backoff for Steps {
///     fn delay(&mut self, retry: u32, _rng: &mut dyn Rng) -> Duration {
///         Duration::from_secs(u64::from(retry).min(59))
///     }
/// }
/// let mut rng = failsafe_core::rng::Xorshift64::new(1);
/// assert_eq!(Steps.delay(3, &mut rng), Duration::from_secs(3));
/// ```
pub trait Backoff {
    /// The delay before retry number `retry` (1-based), before jitter.
    fn delay(&mut self, retry: u32, rng: &mut dyn Rng) -> Duration;

    /// What a [`Retry`](super::Retry) asks, handing its config:
    /// [`delay`](Self::delay), the config unread. Only the backoff a
    /// [`RetryPlan`](super::RetryPlan) keeps overrides it, to follow the
    /// config's shape: read there at each delay rather than copied into
    /// the call, a `const` config (a zero-sized
    /// [`const_config!`](crate::const_config) type) leaves the compiler
    /// only that shape's code to keep.
    ///
    /// ```
    /// # use core::time::Duration;
    /// use failsafe_core::retry::{Backoff, BackoffKind, RetryConfig};
    /// use failsafe_core::rng::Xorshift64;
    /// let config = RetryConfig::builder().build().unwrap();
    /// let mut state = BackoffKind::Constant(Duration::from_millis(5)).start();
    /// // the state's own shape, whatever the config says
    /// assert_eq!(state.delay_in(&config, 1, &mut Xorshift64::new(1)), Duration::from_millis(5));
    /// ```
    #[inline]
    fn delay_in(&mut self, config: &super::RetryConfig, retry: u32, rng: &mut dyn Rng) -> Duration {
        let _ = config;
        self.delay(retry, rng)
    }
}

/// The built-in backoff shapes, each with the bounds its delay (before
/// jitter) keeps for every `retry` from 1 to `u32::MAX` and every valid
/// configuration.
///
/// Durations count in whole nanoseconds and saturate: a `max` above
/// `u64::MAX` nanoseconds (about 584 years, e.g. [`Duration::MAX`] for "no
/// cap") counts as `u64::MAX` ns. No shape overflows, panics, or produces a
/// non-finite intermediate that reaches its delay, and each costs O(1)
/// (Fibonacci: at most ~95 additions) however large `retry` is.
///
/// # The Python Failsafe's deterministic backoffs
///
/// Every deterministic backoff of the Python Failsafe (`failsafe.retry.backoffs`:
/// `const`, `interval`, `linear`, `expo`, `fibo`) is expressed with the same
/// parameters and yields the same sequence (`n` is the retry, from 1):
///
/// | Python Failsafe | here | delay `n` |
/// |---|---|---|
/// | `const(d)` | `Constant(d)` | `d` |
/// | `interval([a, b, c])` | `Intervals(&[a, b, c])` | `a, b, c, a, b, ...` (cycled) |
/// | `linear(min, additive, max)` | `Linear { initial: min, step: additive, max }` | `min + additive * (n - 1)`, capped |
/// | `expo(min, base, max)` | `Exponential { initial: min, multiplier: base, max }` | `min * base^(n - 1)`, capped |
/// | `fibo(min, factor, max)` | `Fibonacci { initial: min, factor, max }` | `min`, `min + factor`, then the sum of the two before, capped |
///
/// Python's `max_delay_secs=None` (no cap) is `max: Duration::MAX` here.
/// Differences: Python accepts an `expo` base below 1 (delays that shrink
/// below `min`), rejected here as `backoff.multiplier`; Python's floats may be
/// negative, durations here cannot.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::{Backoff, BackoffKind};
/// use failsafe_core::rng::Xorshift64;
///
/// // Python: fibo(min_delay_secs=0.05, factor_secs=0.02, max_delay_secs=1)
/// let ms = Duration::from_millis;
/// let mut fib = BackoffKind::Fibonacci { initial: ms(50), factor: ms(20), max: ms(1_000) }.start();
/// let mut rng = Xorshift64::new(1);
/// let delays: [u128; 9] = core::array::from_fn(|i| fib.delay(i as u32 + 1, &mut rng).as_millis());
/// assert_eq!(delays, [50, 70, 120, 190, 310, 500, 810, 1_000, 1_000]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackoffKind {
    /// The same delay every time. Bounds: exactly the delay.
    Constant(Duration),
    /// Delays from a list, cycled: `[1s, 5s]` gives 1 s, 5 s, 1 s, 5 s, ...
    /// Bounds: exactly the list's entry `(retry - 1) % len`.
    Intervals(&'static [Duration]),
    /// `initial + step * (retry - 1)`, capped at `max` (saturating).
    /// Bounds: in `[initial, max]`, non-decreasing in `retry`.
    Linear {
        /// The first delay.
        initial: Duration,
        /// Added per retry.
        step: Duration,
        /// The cap.
        max: Duration,
    },
    /// `initial * multiplier^(retry - 1)`, capped at `max` (computed with
    /// `pow`, so any `retry` costs the same; a power that overflows `f64`
    /// gives `max`). Bounds: in `[initial, max]`.
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The growth factor, finite and at least 1.
        multiplier: f64,
        /// The cap.
        max: Duration,
    },
    /// The Python Failsafe's Fibonacci: `initial`, `initial + factor`, then
    /// each delay the sum of the two before, capped at `max` (saturating).
    /// `factor: Duration::ZERO` gives `initial * (1, 1, 2, 3, 5, 8, ...)`.
    /// Bounds: in `[initial, max]`, non-decreasing in `retry`.
    Fibonacci {
        /// The first delay.
        initial: Duration,
        /// The second delay is `initial + factor`.
        factor: Duration,
        /// The cap.
        max: Duration,
    },
    /// AWS's "decorrelated jitter": `min(max, uniform(base, previous * 3))`,
    /// starting from `previous = base`. Random by construction.
    /// Bounds: in `[base, max]`.
    DecorrelatedJitter {
        /// The smallest delay.
        base: Duration,
        /// The cap.
        max: Duration,
    },
    /// Polly's "decorrelated jitter V2" (soft exponential): smooth exponential
    /// growth with jitter and no clumping; the median first delay is `median_first`.
    ///
    /// The delay before retry `n` is the growth of `2^t * tanh(sqrt(4 t))`,
    /// `t = n - 1 + U[0, 1)`, since the previous retry, times
    /// `median_first / 1.4` (Polly's `DecorrelatedJitterBackoffV2`).
    /// Bounds: in `[0, max]`; from retry 1025 on (where `2^t` no longer fits
    /// an `f64`, and the true growth is far above any cap) exactly `max`.
    ///
    /// The one shape computed in floating point (`libm`'s `pow`, `tanh` and
    /// `sqrt`): behind the `soft-exponential` feature, so that firmware
    /// without an FPU links no soft-float code for the shapes it does not
    /// use (the shape is chosen at run time, so every variant's code is
    /// linked with [`BackoffState`]).
    #[cfg(feature = "soft-exponential")]
    SoftExponential {
        /// The median of the first delay.
        median_first: Duration,
        /// The cap.
        max: Duration,
    },
}

impl BackoffKind {
    /// Checks the shape's parameters; the error names the offending field.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::BackoffKind;
    /// let bad = BackoffKind::Exponential { initial: Duration::from_millis(10), multiplier: 0.5, max: Duration::from_secs(1) };
    /// assert_eq!(bad.validate().unwrap_err().field, "backoff.multiplier");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`] (`Constant` never fails):
    /// - `backoff.intervals` empty (`Zero`); `backoff.multiplier` NaN or
    ///   below 1 (`BelowMinimum`) or infinite (`TooLarge`); `backoff.base`,
    ///   `backoff.median_first` zero (`Zero`);
    /// - then `backoff.max` below the first delay (`initial`, `base` or
    ///   `median_first`) (`BelowMinimum`).
    pub const fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            BackoffKind::Constant(_) => Ok(()),
            BackoffKind::Intervals(list) => {
                if list.is_empty() {
                    Err(ConfigError::new("backoff.intervals", Problem::Zero))
                } else {
                    Ok(())
                }
            }
            BackoffKind::Linear { initial, max, .. }
            | BackoffKind::Fibonacci { initial, max, .. } => check_max(initial, max),
            BackoffKind::Exponential {
                initial,
                multiplier,
                max,
            } => {
                if multiplier.is_nan() || multiplier < 1.0 {
                    return Err(ConfigError::new(
                        "backoff.multiplier",
                        Problem::BelowMinimum,
                    ));
                }
                if multiplier.is_infinite() {
                    return Err(ConfigError::new("backoff.multiplier", Problem::TooLarge));
                }
                check_max(initial, max)
            }
            BackoffKind::DecorrelatedJitter { base, max } => {
                if base.is_zero() {
                    return Err(ConfigError::new("backoff.base", Problem::Zero));
                }
                check_max(base, max)
            }
            #[cfg(feature = "soft-exponential")]
            BackoffKind::SoftExponential { median_first, max } => {
                if median_first.is_zero() {
                    return Err(ConfigError::new("backoff.median_first", Problem::Zero));
                }
                check_max(median_first, max)
            }
        }
    }

    /// A fresh per-call state for this shape (what [`Retry::new`](super::Retry::new) uses).
    ///
    /// ```
    /// # use core::time::Duration;
    /// use failsafe_core::retry::{Backoff, BackoffKind};
    /// use failsafe_core::rng::Xorshift64;
    /// let mut state = BackoffKind::Constant(Duration::from_millis(5)).start();
    /// assert_eq!(state.delay(1, &mut Xorshift64::new(1)), Duration::from_millis(5));
    /// ```
    pub const fn start(self) -> BackoffState {
        BackoffState {
            kind: self,
            memory: Memory::new(),
        }
    }
}

const fn check_max(first: Duration, max: Duration) -> Result<(), ConfigError> {
    if duration_nanos(max) < duration_nanos(first) {
        Err(ConfigError::new("backoff.max", Problem::BelowMinimum))
    } else {
        Ok(())
    }
}

/// A built-in shape plus what it remembers within one call.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackoffState {
    kind: BackoffKind,
    memory: Memory,
}

impl BackoffState {
    /// The shape this state follows.
    pub const fn kind(&self) -> BackoffKind {
        self.kind
    }
}

impl Backoff for BackoffState {
    /// The delay before retry `retry` (1-based; 0 counts as 1), within the
    /// bounds [`BackoffKind`] documents for the shape. Meant to be called
    /// with `retry` = 1, 2, 3, ... on one state (what a [`Retry`](super::Retry)
    /// does); a `retry` not above the previous one starts the soft
    /// exponential's growth afresh.
    fn delay(&mut self, retry: u32, rng: &mut dyn Rng) -> Duration {
        self.kind.delay_after(&mut self.memory, retry, rng)
    }
}

/// What a built-in shape remembers between the retries of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Memory {
    previous_nanos: u64,
    #[cfg(feature = "soft-exponential")]
    soft_previous: f64,
}

impl Memory {
    pub(crate) const fn new() -> Memory {
        Memory {
            previous_nanos: 0,
            #[cfg(feature = "soft-exponential")]
            soft_previous: 0.0,
        }
    }
}

/// The backoff a [`RetryPlan`](super::RetryPlan) keeps: the config's
/// shape, read from the config at each delay ([`Backoff::delay_in`]), and
/// the memory of this call. Alone (no config) it has no shape: no delay.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ConfigShape(Memory);

impl ConfigShape {
    pub(crate) const fn new() -> ConfigShape {
        ConfigShape(Memory::new())
    }
}

impl Backoff for ConfigShape {
    fn delay(&mut self, _retry: u32, _rng: &mut dyn Rng) -> Duration {
        Duration::ZERO
    }

    #[inline]
    fn delay_in(&mut self, config: &super::RetryConfig, retry: u32, rng: &mut dyn Rng) -> Duration {
        config.backoff_ref().delay_after(&mut self.0, retry, rng)
    }
}

impl BackoffKind {
    /// The delay before retry `retry` for this shape, `memory` holding the
    /// call's previous delays. Inlined: the match folds away for a shape
    /// the compiler knows (a `const` config), leaving only that arm.
    #[inline]
    fn delay_after(&self, memory: &mut Memory, retry: u32, rng: &mut dyn Rng) -> Duration {
        let retry = retry.max(1);
        let nanos = match *self {
            BackoffKind::Constant(d) => duration_nanos(d),
            BackoffKind::Intervals(list) => match list.len() {
                0 => 0,
                n => duration_nanos(list[(retry - 1) as usize % n]),
            },
            BackoffKind::Linear { initial, step, max } => duration_nanos(initial)
                .saturating_add(duration_nanos(step).saturating_mul(u64::from(retry - 1)))
                .min(duration_nanos(max)),
            BackoffKind::Exponential {
                initial,
                multiplier,
                max,
            } => exponential(
                duration_nanos(initial),
                multiplier,
                retry - 1,
                duration_nanos(max),
            ),
            BackoffKind::Fibonacci {
                initial,
                factor,
                max,
            } => fibonacci(
                duration_nanos(initial),
                duration_nanos(factor),
                retry,
                duration_nanos(max),
            ),
            BackoffKind::DecorrelatedJitter { base, max } => {
                let (base, max) = (duration_nanos(base), duration_nanos(max));
                let previous = if memory.previous_nanos == 0 {
                    base
                } else {
                    memory.previous_nanos
                };
                let high = previous.saturating_mul(3).max(base);
                base.saturating_add(rng.below((high - base).saturating_add(1)))
                    .min(max)
            }
            #[cfg(feature = "soft-exponential")]
            BackoffKind::SoftExponential { median_first, max } => {
                // next = 2^t * tanh(sqrt(4 t)), t = (retry - 1) + U[0, 1); the
                // delay is the growth since the previous retry, scaled so the
                // first delay's median is `median_first`.
                let max = duration_nanos(max);
                let t = (retry - 1) as f64 + rng.next_f64();
                // +inf from t = 1024 on (retry 1025); never NaN (tanh(0) = 0
                // only at t = 0, where 2^t = 1).
                let next = libm::pow(2.0, t) * libm::tanh(libm::sqrt(4.0 * t));
                // The curve only grows, so `next` is below the previous value
                // only when called out of order: start afresh from 0 then.
                let previous = if next >= memory.soft_previous {
                    memory.soft_previous
                } else {
                    0.0
                };
                memory.soft_previous = next;
                if next.is_infinite() {
                    // The true growth is then at least 2^1022 * (2^(2^-43) - 1),
                    // far above any u64 cap: the delay is the cap (never
                    // inf - inf = NaN, which used to clamp to 0).
                    max
                } else {
                    // Finite and >= 0; times median / 1.4 may overflow to +inf: `max`.
                    let grown = next - previous;
                    float_nanos(grown / 1.4 * duration_nanos(median_first) as f64, 0, max)
                }
            }
        };
        memory.previous_nanos = nanos;
        Duration::from_nanos(nanos)
    }
}

/// A float delay as whole nanoseconds within `[low, high]` (`high` wins when
/// `low > high`): truncated; NaN counts as `low`, `+inf` and anything at or
/// above `high` give `high`. The one place a float becomes a delay.
#[cfg(feature = "soft-exponential")]
#[inline]
fn float_nanos(x: f64, low: u64, high: u64) -> u64 {
    // `as` saturates: negative and -inf give 0, +inf gives u64::MAX.
    let n = if x.is_nan() { low } else { x as u64 };
    n.max(low).min(high)
}

/// `initial * multiplier^k` capped at `max`, never below `initial` (so an
/// unvalidated NaN or sub-1 multiplier gives `initial`, `+inf` gives `max`);
/// O(log k) for any `k`.
///
/// Integer arithmetic only, from the multiplier's exact binary value: no
/// floating-point instruction, so a core without an FPU links no soft-float
/// or `libm` code for it. `multiplier^k` is computed by squaring on 128-bit
/// mantissas, each of the at most 64 products truncated to 128 bits.
/// Squaring doubles a relative error, so the power's is below
/// `k * 2^-125` (under `2^-93` for any `u32` `k`; 64-bit mantissas gave
/// `k * 2^-62`, 2 ns off in 49 s at `k` near 2^28); one truncation to 64
/// bits for the product with `initial` keeps the whole below `2^-62`
/// (about 2 parts in 10^19), then the delay is truncated to whole
/// nanoseconds. A power-of-two multiplier (2, 4,
/// ...) is a shift, exact (as the general path is for it); inlined, a
/// `const` multiplier leaves only its own path.
#[inline]
fn exponential(initial: u64, multiplier: f64, k: u32, max: u64) -> u64 {
    if initial == 0 || k == 0 {
        return initial.min(max);
    }
    let bits = multiplier.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let fraction = bits & ((1 << 52) - 1);
    let grown = match (bits >> 63, exponent) {
        // NaN: `initial`, as documented.
        (_, 0x7ff) if fraction != 0 => initial,
        // Negative, zero, subnormal or below 1: the power is below 1.
        (1, _) | (_, 0..1023) => initial,
        // +inf: past any cap.
        (_, 0x7ff) => max,
        // 2^e: `initial * 2^(e * k)`, saturating (`initial >= 1`, so a
        // shift of 64 or more is past any cap).
        (_, e) if fraction == 0 => {
            let shift = ((e - 1023) as u64).saturating_mul(u64::from(k));
            if shift >= 64 || initial.leading_zeros() < shift as u32 {
                u64::MAX
            } else {
                initial << shift
            }
        }
        _ => wide_power(initial, exponent, fraction, k, max),
    };
    grown.max(initial).min(max)
}

/// `initial * m^k` for the multiplier `m` of biased `exponent` (1023 to
/// 2046) and `fraction`, on 128-bit mantissas ([`Wide`]); `max` once the
/// power passes `2^64`.
fn wide_power(initial: u64, exponent: i64, fraction: u64, k: u32, max: u64) -> u64 {
    let m = Wide::normal(u128::from(fraction | 1 << 52) << 75, exponent - 1075 - 75);
    match m.pow(k) {
        Some(power) => power.times(initial),
        None => max,
    }
}

/// A positive number `mantissa * 2^exponent` with the mantissa's top bit
/// set: a 128-bit software float for [`exponential`], integer operations
/// only.
#[derive(Clone, Copy)]
struct Wide {
    mantissa: u128,
    exponent: i64,
}

impl Wide {
    /// Values at or above `2^EXCESS` exceed any delay ratio (`u64::MAX` ns
    /// over 1 ns is below `2^64`).
    const EXCESS: i64 = 64;

    const fn normal(mantissa: u128, exponent: i64) -> Wide {
        Wide { mantissa, exponent }
    }

    /// The product, its mantissa truncated to 128 bits (relative error
    /// below `2^-126`).
    fn mul(self, other: Wide) -> Wide {
        const LOW: u128 = u64::MAX as u128;
        let (a1, a0) = (self.mantissa >> 64, self.mantissa & LOW);
        let (b1, b0) = (other.mantissa >> 64, other.mantissa & LOW);
        let (cross_a, cross_b) = (a1 * b0, a0 * b1);
        // The 256-bit product's high half, the low half's carries included.
        let middle = ((a0 * b0) >> 64) + (cross_a & LOW) + (cross_b & LOW);
        let high = a1 * b1 + (cross_a >> 64) + (cross_b >> 64) + (middle >> 64);
        // Both mantissas are in [2^127, 2^128): the product is in
        // [2^254, 2^256), so `high` is in [2^126, 2^128).
        let (mantissa, shift) = if high >> 127 == 1 {
            (high, 128)
        } else {
            // One bit from below the high half keeps 128 bits.
            (high << 1 | (middle & LOW) >> 63, 127)
        };
        Wide {
            mantissa,
            exponent: self.exponent + other.exponent + shift,
        }
    }

    /// Whether the value is at or above `2^EXCESS`.
    fn excessive(self) -> bool {
        self.exponent + 128 > Self::EXCESS
    }

    /// `self^k` for a value at least 1, or `None` once it is at or above
    /// `2^EXCESS` (the delay is then the cap).
    fn pow(self, mut k: u32) -> Option<Wide> {
        let mut result = Wide::normal(1 << 127, -127);
        let mut base = self;
        loop {
            if k & 1 == 1 {
                result = result.mul(base);
                if result.excessive() {
                    return None;
                }
            }
            k >>= 1;
            if k == 0 {
                return Some(result);
            }
            base = base.mul(base);
            if base.excessive() {
                // `k` still has a set bit: the result will include this
                // (or a larger) factor.
                return None;
            }
        }
    }

    /// `floor(n * self)` (the mantissa's top 64 bits), saturating at
    /// `u64::MAX`.
    fn times(self, n: u64) -> u64 {
        let top = (self.mantissa >> 64) as u64;
        let product = u128::from(n) * u128::from(top);
        let exponent = self.exponent + 64;
        let shift = exponent.unsigned_abs();
        let exact = if exponent >= 0 {
            // Fits only if `product < 2^(64 - shift)`.
            (shift < 64 && product >> (64 - shift) == 0).then(|| product << shift)
        } else if shift >= 128 {
            Some(0)
        } else {
            Some(product >> shift)
        };
        exact.map_or(u64::MAX, |v| u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// The `retry`-th term (1-based) of `initial, initial + factor, ...`, each the
/// sum of the two before, capped at `max`, saturating. The terms never
/// shrink and, unless all are zero, at least double every two steps, so the
/// loop stops within ~95 steps at the cap (or at once when all are zero).
fn fibonacci(initial: u64, factor: u64, retry: u32, max: u64) -> u64 {
    let (mut a, mut b) = (initial, initial.saturating_add(factor));
    let mut k = 1;
    while k < retry && a < max && b != 0 {
        (a, b) = (b, a.saturating_add(b));
        k += 1;
    }
    a.min(max)
}

/// `floor(n * r)` exactly for `r` in `[0, 1]` (NaN and negatives count as 0,
/// above 1 as 1): `r` is `m * 2^e` with a 53-bit `m`, so `n * m` fits a u128.
fn mul_ratio(n: u64, r: f64) -> u64 {
    // Read from the bits, with no floating-point instruction (see
    // `exponential`): positive values order as their bits do.
    const ONE: u64 = 0x3ff0_0000_0000_0000;
    const INFINITY: u64 = 0x7ff0_0000_0000_0000;
    let bits = r.to_bits();
    if bits >> 63 == 1 || bits == 0 || bits > INFINITY {
        return 0; // negative, zero or NaN
    }
    if bits >= ONE {
        return n;
    }
    let exponent = ((bits >> 52) & 0x7ff) as u32;
    let fraction = bits & ((1u64 << 52) - 1);
    // r = m * 2^-(shift); r < 1 gives shift >= 53.
    let (m, shift) = if exponent == 0 {
        (fraction, 1074)
    } else {
        (fraction | (1u64 << 52), 1075 - exponent)
    };
    if shift >= 128 {
        0
    } else {
        ((u128::from(n) * u128::from(m)) >> shift) as u64
    }
}

/// Randomness added on top of a backoff's delay `d`, in whole nanoseconds.
///
/// Bounds (`n` = `d` in nanoseconds, saturating at `u64::MAX`): `None`
/// exactly `n`; `Full` in `[0, n]`; `Equal` in `[n / 2, n]` (`n / 2`
/// rounded down); `Proportional(r)` in `[n - s, n + s]` with `s = floor(n * r)`
/// computed exactly, so within `[d * (1 - r), d * (1 + r)]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly `d`.
    #[default]
    None,
    /// Uniform in `[0, d]` (AWS "full jitter").
    Full,
    /// Uniform in `[d/2, d]` (AWS "equal jitter").
    Equal,
    /// Uniform in `[d * (1 - r), d * (1 + r)]`, `r` in `[0, 1]` (e.g. 0.25 for +-25%).
    /// An unvalidated `r` is clamped into `[0, 1]` (NaN counts as 0).
    Proportional(f64),
}

impl Jitter {
    /// Checks the jitter's parameter.
    ///
    /// ```
    /// # use failsafe_core::retry::Jitter;
    /// assert_eq!(Jitter::Proportional(1.5).validate().unwrap_err().field, "jitter");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `jitter`, `FractionOutOfRange`, if a `Proportional`
    ///   ratio is NaN or outside `[0, 1]`.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Jitter::Proportional(r) if r.is_nan() || r < 0.0 || r > 1.0 => {
                Err(ConfigError::new("jitter", Problem::FractionOutOfRange))
            }
            _ => Ok(()),
        }
    }

    /// Applies the jitter to `d`, drawing from `rng`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::Jitter;
    /// # use failsafe_core::rng::Xorshift64;
    /// let mut rng = Xorshift64::new(9);
    /// let d = Duration::from_millis(100);
    /// for _ in 0..100 {
    ///     let j = Jitter::Equal.apply(d, &mut rng);
    ///     assert!(j >= d / 2 && j <= d);
    /// }
    /// ```
    #[inline]
    pub fn apply(&self, d: Duration, rng: &mut dyn Rng) -> Duration {
        let n = duration_nanos(d);
        let nanos = match *self {
            Jitter::None => n,
            Jitter::Full => rng.below(n.saturating_add(1)),
            Jitter::Equal => {
                let half = n / 2;
                half + rng.below(n - half + 1)
            }
            Jitter::Proportional(r) => {
                let spread = mul_ratio(n, r); // <= n
                (n - spread).saturating_add(rng.below(spread.saturating_mul(2).saturating_add(1)))
            }
        };
        Duration::from_nanos(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::{exponential, wide_power};

    /// A power-of-two multiplier's shift gives what the general path gives
    /// (exact for it), capped alike, across initials, retries and caps.
    #[test]
    fn power_of_two_multipliers_shift_as_the_general_path_multiplies() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for e in [0i64, 1, 2, 3, 10, 31, 63, 64, 200, 1023] {
            let multiplier = f64::from_bits(((1023 + e) as u64) << 52);
            for _ in 0..2_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                for initial in [1, x >> 40, x >> 20, x, u64::MAX] {
                    for k in [1, 2, (x % 70) as u32, 64, 65, u32::MAX] {
                        for max in [u64::MAX, x | initial, initial] {
                            let general = wide_power(initial, 1023 + e, 0, k, max)
                                .max(initial)
                                .min(max);
                            assert_eq!(
                                exponential(initial, multiplier, k, max),
                                general,
                                "{initial} * 2^({e} * {k}) capped at {max}"
                            );
                        }
                    }
                }
            }
        }
    }
}
