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
}

/// The built-in backoff shapes. Every one saturates at its `max` and never overflows.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackoffKind {
    /// The same delay every time.
    Constant(Duration),
    /// Delays from a list, cycled: `[1s, 5s]` gives 1 s, 5 s, 1 s, 5 s, ...
    Intervals(&'static [Duration]),
    /// `initial + step * (retry - 1)`, capped at `max`.
    Linear {
        /// The first delay.
        initial: Duration,
        /// Added per retry.
        step: Duration,
        /// The cap.
        max: Duration,
    },
    /// `initial * multiplier^(retry - 1)`, capped at `max`.
    Exponential {
        /// The first delay.
        initial: Duration,
        /// The growth factor, at least 1.
        multiplier: f64,
        /// The cap.
        max: Duration,
    },
    /// `initial * fib(retry)` with fib = 1, 1, 2, 3, 5, 8, ..., capped at `max`.
    Fibonacci {
        /// The unit.
        initial: Duration,
        /// The cap.
        max: Duration,
    },
    /// AWS's "decorrelated jitter": `min(max, uniform(base, previous * 3))`,
    /// starting from `previous = base`. Random by construction.
    DecorrelatedJitter {
        /// The smallest delay.
        base: Duration,
        /// The cap.
        max: Duration,
    },
    /// Polly's "decorrelated jitter V2" (soft exponential): smooth exponential
    /// growth with jitter and no clumping; the median first delay is `median_first`.
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
            BackoffKind::Linear { initial, max, .. } | BackoffKind::Fibonacci { initial, max } => {
                check_max(initial, max)
            }
            BackoffKind::Exponential {
                initial,
                multiplier,
                max,
            } => {
                if multiplier.is_nan() || multiplier < 1.0 || multiplier.is_infinite() {
                    return Err(ConfigError::new(
                        "backoff.multiplier",
                        Problem::BelowMinimum,
                    ));
                }
                check_max(initial, max)
            }
            BackoffKind::DecorrelatedJitter { base, max } => {
                if base.is_zero() {
                    return Err(ConfigError::new("backoff.base", Problem::Zero));
                }
                check_max(base, max)
            }
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
            previous_nanos: 0,
            soft_previous: 0.0,
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
    previous_nanos: u64,
    soft_previous: f64,
}

impl BackoffState {
    /// The shape this state follows.
    pub const fn kind(&self) -> BackoffKind {
        self.kind
    }
}

impl Backoff for BackoffState {
    fn delay(&mut self, retry: u32, rng: &mut dyn Rng) -> Duration {
        let retry = retry.max(1);
        let nanos = match self.kind {
            BackoffKind::Constant(d) => duration_nanos(d),
            BackoffKind::Intervals(list) => match list.len() {
                0 => 0,
                n => duration_nanos(list[(retry as usize - 1) % n]),
            },
            BackoffKind::Linear { initial, step, max } => duration_nanos(initial)
                .saturating_add(duration_nanos(step).saturating_mul(u64::from(retry - 1)))
                .min(duration_nanos(max)),
            BackoffKind::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let (initial, max) = (duration_nanos(initial), duration_nanos(max));
                let mut d = initial as f64;
                let mut k = 1;
                // Stops as soon as the cap is reached, so huge `retry` values cost nothing.
                while k < retry && d < max as f64 && multiplier > 1.0 {
                    d *= multiplier;
                    k += 1;
                }
                if d >= max as f64 { max } else { d as u64 }
            }
            BackoffKind::Fibonacci { initial, max } => {
                let (unit, max) = (duration_nanos(initial), duration_nanos(max));
                let (mut a, mut b) = (1u64, 1u64);
                let mut k = 1;
                while k < retry && unit.saturating_mul(a) < max {
                    (a, b) = (b, a.saturating_add(b));
                    k += 1;
                }
                unit.saturating_mul(a).min(max)
            }
            BackoffKind::DecorrelatedJitter { base, max } => {
                let (base, max) = (duration_nanos(base), duration_nanos(max));
                let previous = if self.previous_nanos == 0 {
                    base
                } else {
                    self.previous_nanos
                };
                let high = previous.saturating_mul(3).max(base);
                base.saturating_add(rng.below(high - base + 1)).min(max)
            }
            BackoffKind::SoftExponential { median_first, max } => {
                // next = 2^t * tanh(sqrt(4 t)), t = (retry - 1) + U[0, 1); the
                // delay is the growth since the previous retry, scaled so the
                // first delay's median is `median_first`.
                let t = (retry - 1) as f64 + rng.next_f64();
                let next = libm::pow(2.0, t) * libm::tanh(libm::sqrt(4.0 * t));
                let grown = (next - self.soft_previous).max(0.0);
                self.soft_previous = next;
                let nanos = grown / 1.4 * duration_nanos(median_first) as f64;
                let max = duration_nanos(max);
                if nanos.is_nan() || nanos >= max as f64 {
                    max
                } else {
                    nanos as u64
                }
            }
        };
        self.previous_nanos = nanos;
        Duration::from_nanos(nanos)
    }
}

/// Randomness added on top of a backoff's delay `d`.
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
    Proportional(f64),
}

impl Jitter {
    /// Checks the jitter's parameter.
    ///
    /// ```
    /// # use failsafe_core::retry::Jitter;
    /// assert_eq!(Jitter::Proportional(1.5).validate().unwrap_err().field, "jitter");
    /// ```
    pub const fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            Jitter::Proportional(r) if r.is_nan() || r < 0.0 || r > 1.0 => {
                Err(ConfigError::new("jitter", Problem::RatioOutOfRange))
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
                let spread = (n as f64 * r) as u64;
                let low = n - spread.min(n);
                low.saturating_add(rng.below(spread.saturating_mul(2).saturating_add(1)))
            }
        };
        Duration::from_nanos(nanos)
    }
}
