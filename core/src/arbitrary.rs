//! Fuzz and property-test your own policies (feature `arbitrary`):
//! [`arbitrary::Arbitrary`] for the configurations,
//! for [`Outcome`] and for a [`Timeline`] of outcomes in virtual time.
//!
//! Every configuration drawn is **valid**: it is built through its builder
//! from raw bytes mapped into the ranges below, so a fuzz target never spends
//! its time on inputs the builder refuses (the builders themselves are
//! fuzzed with raw values in this repository). Running out of bytes draws
//! the smallest values (arbitrary's rule), never an error.
//!
//! The `arbitrary` crate needs `std`, so this feature is for host-side tests
//! and fuzzing; it turns on `alloc` (a [`Timeline`] is a `Vec`).
//!
//! ```
//! use arbitrary::{Arbitrary, Unstructured};
//! use failsafe_core::arbitrary::Timeline;
//! use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
//! use failsafe_core::Instant;
//!
//! // in a fuzz target these bytes come from the fuzzer
//! let bytes: Vec<u8> = (0..512u32).map(|i| (i * 37 % 251) as u8).collect();
//! let mut u = Unstructured::new(&bytes);
//! let config = BreakerConfig::arbitrary(&mut u).unwrap(); // always valid
//! let timeline = Timeline::arbitrary(&mut u).unwrap();
//!
//! let mut breaker = CircuitBreaker::new(config, NoWindow);
//! for (now, outcome) in timeline.events(Instant::ZERO) {
//!     if let Ok(permit) = breaker.acquire(now) {
//!         breaker.record(now, permit, outcome);
//!     }
//!     // your property here, e.g. an open breaker's retry_at is in the future
//!     if let Err(rejected) = breaker.acquire(now) {
//!         assert!(rejected.retry_at.is_none_or(|at| at > now));
//!     }
//! }
//! ```
//!
//! # Ranges drawn
//!
//! | type | values |
//! |---|---|
//! | durations | 1 ns to a bound per setting (60 s for call-scale settings, 10 min for waits), zero where the builder allows it |
//! | ratios | `k / 1_000_000`, `k` in `1..=1_000_000` (six decimals, so a file round trip is exact) |
//! | counts | from the setting's minimum to a bound per setting (`minimum_calls` to 1,000, `max_concurrent` to 10,000, ...) |
//! | [`BackoffKind`] | every kind but `Intervals` (a `'static` list); `SoftExponential` with that feature |
//! | [`Outcome`] | every variant |
//! | [`Timeline`] | up to [`Timeline::MAX_LEN`] steps, each advancing 0 to 999 ns, us, ms or s |

use alloc::vec::Vec;
use core::time::Duration;

use ::arbitrary::{Arbitrary, Error, Result, Unstructured};

use crate::breaker::{BreakerConfig, HalfOpenRule};
use crate::bulkhead::{Aimd, BulkheadConfig, FixedLimit, Gradient2, Vegas};
use crate::cache::CacheConfig;
use crate::failfast::FailFastConfig;
use crate::fallback::FallbackPolicy;
use crate::hedge::{HedgeConfig, HedgeDelay, MAX_ATTEMPTS};
use crate::rate::{FixedWindow, Quota, SlidingWindow, TokenBucket};
use crate::retry::{
    BackoffKind, GrpcThrottle, Jitter, RatioBudget, RetryAfter, RetryConfig, TokenQuota,
};
use crate::timeout::{TimeoutConfig, TimeoutMode};
use crate::{ConfigError, Instant, Outcome};

const SEC: u64 = 1_000_000_000;

/// A duration of `min..=max` nanoseconds.
fn nanos(u: &mut Unstructured<'_>, min: u64, max: u64) -> Result<Duration> {
    Ok(Duration::from_nanos(u.int_in_range(min..=max)?))
}

/// A ratio in `(0, 1]` with six decimals.
fn ratio(u: &mut Unstructured<'_>) -> Result<f32> {
    Ok(ratio64(u)? as f32)
}

/// A ratio in `(0, 1]` with six decimals, as `f64`.
#[allow(clippy::cast_precision_loss)] // at most 1e6: exact
fn ratio64(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(u.int_in_range(1u32..=1_000_000)? as f64 / 1_000_000.0)
}

/// `f(u)` when a drawn flag says so.
fn maybe<T>(
    u: &mut Unstructured<'_>,
    f: impl FnOnce(&mut Unstructured<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if bool::arbitrary(u)? {
        f(u).map(Some)
    } else {
        Ok(None)
    }
}

/// A built configuration; the ranges above make the builder's refusal
/// impossible, and if it ever happened it is an input error, not a panic.
fn valid<T>(built: core::result::Result<T, ConfigError>) -> Result<T> {
    built.map_err(|_| Error::IncorrectFormat)
}

impl<'a> Arbitrary<'a> for BreakerConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let failure_rate = maybe(u, ratio)?;
        let slow = maybe(u, |u| nanos(u, 1, 60 * SEC))?;
        let mut consecutive = maybe(u, |u| u.int_in_range(1..=100))?;
        if failure_rate.is_none() && slow.is_none() && consecutive.is_none() {
            consecutive = Some(u.int_in_range(1..=100)?);
        }
        let open_wait = nanos(u, 1, 600 * SEC)?;
        let open_wait_max = open_wait.saturating_add(nanos(u, 0, 600 * SEC)?);
        let probes = u.int_in_range(1..=20)?;
        let mut b = BreakerConfig::builder()
            .slow_call_rate_threshold(ratio(u)?)
            .minimum_calls(u.int_in_range(1..=1_000)?)
            .open_wait(open_wait)
            .open_wait_backoff(u.int_in_range(1..=10)?, open_wait_max)
            .half_open_probes(probes)
            .probe_lease(nanos(u, 1, 600 * SEC)?);
        b = match failure_rate {
            Some(r) => b.failure_rate_threshold(r),
            None => b.no_failure_rate(),
        };
        if let Some(d) = slow {
            b = b.slow_call_duration(d);
        }
        if let Some(n) = consecutive {
            b = b.consecutive_failures(n);
        }
        if (failure_rate.is_some() || slow.is_some()) && bool::arbitrary(u)? {
            b = b.half_open_rule(HalfOpenRule::RateThresholds);
        } else if bool::arbitrary(u)? {
            b = b.success_threshold(u.int_in_range(1..=probes)?);
        }
        valid(b.build())
    }
}

impl<'a> Arbitrary<'a> for FailFastConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let expected = nanos(u, 0, 60 * SEC)?;
        let mut b = FailFastConfig::builder()
            .consecutive_failures(u.int_in_range(1..=100)?)
            .expected_duration(expected)
            .safety_margin(nanos(u, 0, 60 * SEC)?);
        if let Some(d) = maybe(u, |u| nanos(u, 1, 600 * SEC))? {
            b = b.probe_interval(d);
        }
        if let Some(n) = maybe(u, |u| u.int_in_range(1..=1_000))? {
            b = b.learn_expected_duration(n);
        }
        if let Some(extra) = maybe(u, |u| nanos(u, 1, 600 * SEC))? {
            b = b.max_expected_duration(expected.saturating_add(extra));
        }
        valid(b.build())
    }
}

impl<'a> Arbitrary<'a> for BulkheadConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            BulkheadConfig::builder()
                .max_concurrent(u.int_in_range(1..=10_000)?)
                .max_wait(nanos(u, 0, 60 * SEC)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for FixedLimit {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(FixedLimit::new(u.int_in_range(1..=10_000)?))
    }
}

/// `(min, initial, max)` limits, `1 <= min <= initial <= max`.
fn limits(u: &mut Unstructured<'_>) -> Result<(u32, u32, u32)> {
    let min = u.int_in_range(1..=1_000)?;
    let max = u.int_in_range(min..=min + 10_000)?;
    let initial = u.int_in_range(min..=max)?;
    Ok((min, initial, max))
}

/// A factor `lo + k / 1000` for `k` in `0..=span`.
#[allow(clippy::cast_precision_loss)] // small integers: exact
fn thousandths(u: &mut Unstructured<'_>, lo: u32, span: u32) -> Result<f32> {
    Ok((lo * 1_000 + u.int_in_range(0..=span)?) as f32 / 1_000.0)
}

impl<'a> Arbitrary<'a> for Aimd {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let (min, initial, max) = limits(u)?;
        valid(
            Aimd::builder()
                .min_limit(min)
                .initial_limit(initial)
                .max_limit(max)
                .backoff_ratio(ratio(u)?)
                .timeout(nanos(u, 1, 60 * SEC)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for Vegas {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let (min, initial, max) = limits(u)?;
        let alpha_k = u.int_in_range(1..=100_000)?;
        let beta_k = alpha_k + u.int_in_range(0..=100_000)?;
        #[allow(clippy::cast_precision_loss)] // below 2^24: exact
        let (alpha, beta) = (alpha_k as f32 / 1_000.0, beta_k as f32 / 1_000.0);
        valid(
            Vegas::builder()
                .min_limit(min)
                .initial_limit(initial)
                .max_limit(max)
                .alpha(alpha)
                .beta(beta)
                .smoothing(ratio(u)?)
                .probe_multiplier(u.int_in_range(1..=100)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for Gradient2 {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let (min, initial, max) = limits(u)?;
        valid(
            Gradient2::builder()
                .min_limit(min)
                .initial_limit(initial)
                .max_limit(max)
                .rtt_tolerance(thousandths(u, 1, 9_000)?)
                .smoothing(ratio(u)?)
                .queue_size(u.int_in_range(1..=100)?)
                .long_window(u.int_in_range(1..=10_000)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for Quota {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            Quota::builder()
                .period(nanos(u, 1, 60 * SEC)?)
                .burst(u.int_in_range(1..=10_000)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for TokenBucket {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            TokenBucket::builder()
                .capacity(u.int_in_range(1..=10_000)?)
                .refill(u.int_in_range(1..=10_000)?)
                .period(nanos(u, 1, 60 * SEC)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for FixedWindow {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            FixedWindow::builder()
                .limit(u.int_in_range(1..=100_000)?)
                .window(nanos(u, 1, 3_600 * SEC)?)
                .build(),
        )
    }
}

/// A window of a whole number (`1..`) of nanoseconds per bucket, `B` buckets.
fn whole_buckets<const B: usize>(u: &mut Unstructured<'_>, max: u64) -> Result<Duration> {
    let b = B as u64;
    let bucket = u.int_in_range(1..=(max / b).max(1))?;
    Ok(Duration::from_nanos(bucket.saturating_mul(b)))
}

impl<'a, const B: usize> Arbitrary<'a> for SlidingWindow<B> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            SlidingWindow::<B>::builder()
                .limit(u.int_in_range(1..=100_000)?)
                .window(whole_buckets::<B>(u, 3_600 * SEC)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for BackoffKind {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let kinds = if cfg!(feature = "soft-exponential") {
            6
        } else {
            5
        };
        let first = nanos(u, 0, 10 * SEC)?;
        let max = first.saturating_add(nanos(u, 0, 600 * SEC)?);
        let kind = match u.choose_index(kinds)? {
            0 => BackoffKind::Constant(first),
            1 => BackoffKind::Linear {
                initial: first,
                step: nanos(u, 0, 10 * SEC)?,
                max,
            },
            2 => BackoffKind::Exponential {
                initial: first,
                multiplier: f64::from(thousandths(u, 1, 9_000)?),
                max,
            },
            3 => BackoffKind::Fibonacci {
                initial: first,
                factor: nanos(u, 0, 10 * SEC)?,
                max,
            },
            4 => BackoffKind::DecorrelatedJitter {
                base: first.max(Duration::from_nanos(1)),
                max: max.max(Duration::from_nanos(1)),
            },
            #[cfg(feature = "soft-exponential")]
            _ => BackoffKind::SoftExponential {
                median_first: first.max(Duration::from_nanos(1)),
                max: max.max(Duration::from_nanos(1)),
            },
            #[cfg(not(feature = "soft-exponential"))]
            _ => BackoffKind::Constant(first),
        };
        valid(kind.validate()).map(|()| kind)
    }
}

impl<'a> Arbitrary<'a> for Jitter {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        #[allow(clippy::cast_precision_loss)] // at most 1e6: exact
        let j = match u.choose_index(4)? {
            0 => Jitter::None,
            1 => Jitter::Full,
            2 => Jitter::Equal,
            _ => Jitter::Proportional(u.int_in_range(0u32..=1_000_000)? as f64 / 1_000_000.0),
        };
        valid(j.validate()).map(|()| j)
    }
}

impl<'a> Arbitrary<'a> for RetryAfter {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.choose_index(3)? {
            0 => RetryAfter::Ignore,
            1 => RetryAfter::Clamp {
                max_extra: nanos(u, 0, 60 * SEC)?,
            },
            _ => RetryAfter::Trust {
                max: nanos(u, 0, 600 * SEC)?,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for RetryConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut b = RetryConfig::builder()
            .backoff(BackoffKind::arbitrary(u)?)
            .jitter(Jitter::arbitrary(u)?)
            .retry_after(RetryAfter::arbitrary(u)?)
            .min_remaining(nanos(u, 0, 10 * SEC)?);
        b = match maybe(u, |u| u.int_in_range(1..=20))? {
            Some(n) => b.max_attempts(n),
            None => b.unlimited_attempts(),
        };
        if let Some(d) = maybe(u, |u| nanos(u, 1, 600 * SEC))? {
            b = b.max_elapsed(d);
        }
        valid(b.build())
    }
}

impl<'a, const B: usize> Arbitrary<'a> for RatioBudget<B> {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        #[allow(clippy::cast_precision_loss)] // at most 1e9: exact
        let ratio = u.int_in_range(0u32..=1_000_000_000)? as f64 / 1_000_000.0;
        valid(
            RatioBudget::<B>::builder()
                .ttl(whole_buckets::<B>(u, 600 * SEC)?)
                .ratio(ratio)
                .min_per_sec(u.int_in_range(0..=1_000)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for TokenQuota {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let capacity = u.int_in_range(1..=10_000)?;
        valid(
            TokenQuota::builder()
                .capacity(capacity)
                .error_cost(u.int_in_range(0..=capacity)?)
                .timeout_cost(u.int_in_range(0..=capacity)?)
                .throttle_cost(u.int_in_range(0..=capacity)?)
                .first_try_refund(u.int_in_range(0..=capacity)?)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for GrpcThrottle {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        valid(
            GrpcThrottle::builder()
                .max_tokens(u.int_in_range(1..=1_000)?)
                .token_ratio(f64::from(u.int_in_range(1u32..=1_000)?) / 1_000.0)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for TimeoutConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mode = if bool::arbitrary(u)? {
            TimeoutMode::Soft
        } else {
            TimeoutMode::Cancel
        };
        Ok(valid(TimeoutConfig::new(nanos(u, 1, 600 * SEC)?))?.mode(mode))
    }
}

impl<'a> Arbitrary<'a> for FallbackPolicy {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(FallbackPolicy::NONE
            .on_failed(bool::arbitrary(u)?)
            .on_rejected(bool::arbitrary(u)?)
            .on_timed_out(bool::arbitrary(u)?)
            .on_gave_up(bool::arbitrary(u)?))
    }
}

impl<'a> Arbitrary<'a> for HedgeConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let delay = match u.choose_index(4)? {
            0 => HedgeDelay::Fixed(nanos(u, 0, 10 * SEC)?),
            1 => HedgeDelay::Parallel,
            2 => HedgeDelay::OnFailure,
            _ => HedgeDelay::Quantile,
        };
        valid(
            HedgeConfig::builder()
                .max_attempts(u.int_in_range(1..=MAX_ATTEMPTS)?)
                .delay(delay)
                .build(),
        )
    }
}

impl<'a> Arbitrary<'a> for CacheConfig {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let ttl = maybe(u, |u| nanos(u, 2, 3_600 * SEC))?;
        let mut b = CacheConfig::builder().max_stale(nanos(u, 0, 600 * SEC)?);
        if let Some(ttl) = ttl {
            b = b.time_to_live(ttl);
            // refresh ahead: strictly inside the time to live
            let ttl_nanos = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
            if let Some(d) = maybe(u, |u| nanos(u, 1, ttl_nanos - 1))? {
                b = b.refresh_ahead(d);
            }
        }
        if let Some(d) = maybe(u, |u| nanos(u, 1, 3_600 * SEC))? {
            b = b.time_to_idle(d);
        }
        if let Some(d) = maybe(u, |u| nanos(u, 1, 600 * SEC))? {
            b = b.negative_ttl(d);
        }
        valid(b.build())
    }
}

impl<'a> Arbitrary<'a> for Outcome {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const ALL: [Outcome; 6] = [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Timeout,
            Outcome::Unhealthy,
            Outcome::Cancelled,
            Outcome::Ignored,
        ];
        Ok(*u.choose(&ALL)?)
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(4))
    }
}

/// One step of a [`Timeline`]: the clock advances by `advance`, then a call
/// ends with `outcome`.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::arbitrary::Step;
/// use failsafe_core::Outcome;
/// let step = Step { advance: Duration::from_millis(5), outcome: Outcome::Failure };
/// assert!(step.outcome.is_failure());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// How far the clock moves before the outcome (zero: the same instant).
    pub advance: Duration,
    /// How the call ended.
    pub outcome: Outcome,
}

impl<'a> Arbitrary<'a> for Step {
    /// `advance` is 0 to 999 of one unit (ns, us, ms or s), so a timeline
    /// mixes bursts at one instant with waits long enough to cross a
    /// breaker's open wait.
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        const UNITS: [u64; 4] = [1, 1_000, 1_000_000, SEC];
        let unit = *u.choose(&UNITS)?;
        let advance = Duration::from_nanos(u.int_in_range(0u64..=999)? * unit);
        Ok(Step {
            advance,
            outcome: Outcome::arbitrary(u)?,
        })
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (3, Some(16))
    }
}

/// A list of outcomes in virtual time, to drive a machine or a pipeline:
/// each [`Step`] moves the clock, then ends a call. Drawn with at most
/// [`MAX_LEN`](Self::MAX_LEN) steps.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::arbitrary::{Step, Timeline};
/// use failsafe_core::{Instant, Outcome};
///
/// let timeline = Timeline {
///     steps: vec![
///         Step { advance: Duration::ZERO, outcome: Outcome::Failure },
///         Step { advance: Duration::from_secs(2), outcome: Outcome::Success },
///     ],
/// };
/// let events: Vec<_> = timeline.events(Instant::from_secs(10)).collect();
/// assert_eq!(events, [
///     (Instant::from_secs(10), Outcome::Failure),
///     (Instant::from_secs(12), Outcome::Success),
/// ]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeline {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Timeline {
    /// The most steps an arbitrary timeline has.
    pub const MAX_LEN: usize = 1_024;

    /// Each step's instant (from `start`, saturating at [`Instant::MAX`]) and
    /// outcome, in order.
    ///
    /// ```
    /// use failsafe_core::arbitrary::Timeline;
    /// use failsafe_core::Instant;
    /// assert_eq!(Timeline::default().events(Instant::ZERO).count(), 0);
    /// ```
    pub fn events(&self, start: Instant) -> impl Iterator<Item = (Instant, Outcome)> + '_ {
        self.steps.iter().scan(start, |now, step| {
            *now = now.saturating_add(step.advance);
            Some((*now, step.outcome))
        })
    }
}

impl<'a> Arbitrary<'a> for Timeline {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let len = u.arbitrary_len::<Step>()?.min(Self::MAX_LEN);
        let steps = (0..len)
            .map(|_| Step::arbitrary(u))
            .collect::<Result<Vec<_>>>()?;
        Ok(Timeline { steps })
    }
}
