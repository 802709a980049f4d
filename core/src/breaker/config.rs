//! Validated circuit-breaker configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

const PPM: u64 = 1_000_000;

/// How a half-open round of probes is judged: when it closes the breaker and
/// when it reopens it. Set with
/// [`BreakerConfigBuilder::half_open_rule`]; see the [module
/// docs](super#how-a-half-open-round-is-judged) for which rule each anchor
/// library uses and how to express it here.
///
/// Either way a probe that has not reported when its lease ends counts as a
/// failed probe, a cancelled or ignored probe frees its slot for another
/// caller and counts nowhere, and an outcome arriving after the round was
/// judged is not counted ([`BreakerEvent::StaleOutcome`](super::BreakerEvent::StaleOutcome)).
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, HalfOpenRule};
/// assert_eq!(BreakerConfig::DEFAULT.half_open_rule(), HalfOpenRule::SuccessThreshold);
/// let r4j = BreakerConfig::builder()
///     .half_open_probes(10)
///     .half_open_rule(HalfOpenRule::RateThresholds)
///     .build()
///     .unwrap();
/// assert_eq!(r4j.half_open_rule(), HalfOpenRule::RateThresholds);
/// ```
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HalfOpenRule {
    /// Failsafe for Java's and the Python Failsafe's rule, and the default:
    /// the round closes as soon as `success_threshold` probes have succeeded
    /// (`successes >= success_threshold`), and reopens as soon as that can no
    /// longer be reached (`failures > half_open_probes - success_threshold`),
    /// without waiting for the other probes. A slow probe (one taking longer
    /// than `slow_call_duration`) counts as a failed probe. With the default
    /// `success_threshold` (= `half_open_probes`) one failed probe reopens.
    #[default]
    SuccessThreshold,
    /// resilience4j's rule: the round is judged once all `half_open_probes`
    /// probes have reported (or had their lease run out), against the same
    /// thresholds as the closed state: it reopens if
    /// `failures / half_open_probes >= failure_rate_threshold` or
    /// `slow / half_open_probes >= slow_call_rate_threshold` (slow-call
    /// detection on), and closes otherwise. Equal to a threshold reopens, as
    /// in resilience4j. A slow probe counts as slow, and as failed only if it
    /// failed. `minimum_calls` and `consecutive_failures` play no part.
    RateThresholds,
}

/// A ratio in `(0, 1]` as parts per million, validated.
const fn ratio_ppm(field: &'static str, ratio: f32) -> Result<u32, ConfigError> {
    if ratio.is_nan() || ratio <= 0.0 || ratio > 1.0 {
        return Err(ConfigError::new(field, Problem::RatioOutOfRange));
    }
    let ppm = (ratio as f64 * PPM as f64 + 0.5) as u32;
    Ok(if ppm == 0 { 1 } else { ppm })
}

/// How a circuit breaker decides, validated. Build one with
/// [`BreakerConfig::builder`]; the builder is `const`, so a firmware breaker's
/// configuration is checked at compile time.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::breaker::BreakerConfig;
///
/// const CONFIG: BreakerConfig = failsafe_core::checked(BreakerConfig::builder()
///     .failure_rate_threshold(0.5)
///     .minimum_calls(10)
///     .open_wait(Duration::from_secs(5))
///     .build()); // a bad value here is a compile error naming the field
/// assert_eq!(CONFIG.open_wait(), Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BreakerConfig {
    pub(crate) failure_rate_ppm: Option<u32>,
    pub(crate) slow_call_rate_ppm: u32,
    pub(crate) slow_call_nanos: Option<u64>,
    pub(crate) minimum_calls: u32,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) open_wait_nanos: u64,
    pub(crate) open_wait_multiplier: u32,
    pub(crate) open_wait_max_nanos: u64,
    pub(crate) half_open_probes: u32,
    pub(crate) success_threshold: u32,
    pub(crate) half_open_rule: HalfOpenRule,
    pub(crate) probe_lease_nanos: u64,
}

impl BreakerConfig {
    /// The defaults: see [`BreakerConfigBuilder`] for each value.
    pub const DEFAULT: BreakerConfig = crate::checked(BreakerConfig::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::builder().build(), Ok(BreakerConfig::default()));
    /// ```
    pub const fn builder() -> BreakerConfigBuilder {
        BreakerConfigBuilder {
            failure_rate: Some(0.5),
            slow_call_rate: 1.0,
            slow_call_duration: None,
            minimum_calls: 10,
            consecutive_failures: None,
            open_wait: Duration::from_secs(30),
            open_wait_multiplier: 1,
            open_wait_max: None,
            half_open_probes: 1,
            success_threshold: None,
            half_open_rule: HalfOpenRule::SuccessThreshold,
            probe_lease: Duration::from_secs(30),
        }
    }

    /// The wait in the open state before the first probe.
    ///
    /// ```
    /// # use failsafe_core::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::DEFAULT.open_wait().as_secs(), 30);
    /// ```
    pub const fn open_wait(&self) -> Duration {
        Duration::from_nanos(self.open_wait_nanos)
    }

    /// How many probe calls a half-open breaker admits per round.
    ///
    /// ```
    /// # use failsafe_core::breaker::BreakerConfig;
    /// assert_eq!(BreakerConfig::DEFAULT.half_open_probes(), 1);
    /// ```
    pub const fn half_open_probes(&self) -> u32 {
        self.half_open_probes
    }

    /// How a half-open round is judged.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, HalfOpenRule};
    /// assert_eq!(BreakerConfig::DEFAULT.half_open_rule(), HalfOpenRule::SuccessThreshold);
    /// ```
    pub const fn half_open_rule(&self) -> HalfOpenRule {
        self.half_open_rule
    }

    /// Successful probes needed to close under
    /// [`HalfOpenRule::SuccessThreshold`] (unused under the rate rule).
    ///
    /// ```
    /// # use failsafe_core::breaker::BreakerConfig;
    /// let c = BreakerConfig::builder().half_open_probes(3).build().unwrap();
    /// assert_eq!(c.success_threshold(), 3); // default: every probe
    /// ```
    pub const fn success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// A call that took `took` is slow: strictly longer than
    /// `slow_call_duration` (resilience4j's rule); never when slow-call
    /// detection is off.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::BreakerConfig;
    /// let c = BreakerConfig::builder().slow_call_duration(Duration::from_secs(1)).build().unwrap();
    /// assert!(!c.is_slow(Duration::from_secs(1)));
    /// assert!(c.is_slow(Duration::from_nanos(1_000_000_001)));
    /// assert!(!BreakerConfig::DEFAULT.is_slow(Duration::MAX));
    /// ```
    pub const fn is_slow(&self, took: Duration) -> bool {
        match self.slow_call_nanos {
            Some(limit) => duration_nanos(took) > limit,
            None => false,
        }
    }

    /// The wait for the `n`-th open in a row (`n >= 1`): `open_wait *
    /// multiplier^(n-1)`, capped at `open_wait_max`, never overflowing.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::BreakerConfig;
    /// let c = BreakerConfig::builder()
    ///     .open_wait(Duration::from_secs(1))
    ///     .open_wait_backoff(2, Duration::from_secs(5))
    ///     .build()
    ///     .unwrap();
    /// let waits: Vec<u64> = (1..=5).map(|n| c.open_wait_for(n).as_secs()).collect();
    /// assert_eq!(waits, [1, 2, 4, 5, 5]);
    /// ```
    pub const fn open_wait_for(&self, n: u32) -> Duration {
        let mut wait = self.open_wait_nanos;
        let mut k = 1;
        while k < n && self.open_wait_multiplier > 1 && wait < self.open_wait_max_nanos {
            wait = wait.saturating_mul(self.open_wait_multiplier as u64);
            k += 1;
        }
        if wait > self.open_wait_max_nanos {
            wait = self.open_wait_max_nanos;
        }
        Duration::from_nanos(wait)
    }

    /// Is `failures` out of `calls` at or above the failure-rate threshold?
    /// Equal reaches it (resilience4j: `failureRate >= threshold`).
    pub(crate) const fn failure_rate_reached(&self, failures: u64, calls: u64) -> bool {
        match self.failure_rate_ppm {
            Some(ppm) => reached(failures, calls, ppm),
            None => false,
        }
    }

    /// Is `slow` out of `calls` at or above the slow-call-rate threshold?
    /// Equal reaches it (resilience4j: `slowCallRate >= threshold`).
    pub(crate) const fn slow_rate_reached(&self, slow: u64, calls: u64) -> bool {
        self.slow_call_nanos.is_some() && reached(slow, calls, self.slow_call_rate_ppm)
    }
}

const fn reached(part: u64, calls: u64, ppm: u32) -> bool {
    // u128: no overflow whatever the counts.
    calls > 0 && part as u128 * PPM as u128 >= ppm as u128 * calls as u128
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The most probes a half-open round admits (`u16::MAX`).
const MAX_HALF_OPEN_PROBES: u32 = u16::MAX as u32;

/// Builds a [`BreakerConfig`]; every setter is `const`.
///
/// | setting | default | meaning | at exactly the boundary |
/// |---|---|---|---|
/// | `failure_rate_threshold` | 0.5 | open when this share of windowed calls failed | a rate equal to it opens |
/// | `slow_call_duration` | off | a call strictly longer than this is slow | a call of exactly it is not slow |
/// | `slow_call_rate_threshold` | 1.0 | open when this share of windowed calls was slow | a rate equal to it opens |
/// | `minimum_calls` | 10 | rates are judged only from this many calls (capped at a count window's size) | exactly this many calls are judged |
/// | `consecutive_failures` | off | open after this many failures in a row | the `n`-th failure opens |
/// | `open_wait` | 30 s | stay open this long before probing | a call at exactly `opened + wait` is a probe |
/// | `open_wait_backoff` | x1 | grow the wait across opens in a row, up to a cap | the cap itself is reached |
/// | `half_open_probes` | 1 | probe calls admitted per half-open round (at most 65,535) | the `n`-th probe is admitted, the `n+1`-th is not |
/// | `success_threshold` | = probes | successful probes needed to close | the `n`-th success closes |
/// | `half_open_rule` | success threshold | how a round is judged ([`HalfOpenRule`]) | rate rule: equal to a threshold reopens |
/// | `probe_lease` | 30 s | a probe silent this long after the round's last admission counts as failed | at exactly the lease's end the probe has failed; its report then is stale |
///
/// Where resilience4j defines a boundary we follow it (slow is strictly
/// longer; a rate equal to its threshold opens; judged from exactly
/// `minimum_calls`). One exception: resilience4j leaves the open state only
/// strictly after the wait (`isAfter`); here a call at exactly
/// `opened + open_wait` is admitted, so that the open rejection's
/// [`retry_at`](crate::Rejected::retry_at) is the true earliest instant
/// (the Python Failsafe does the same: it stops failing when `now >= until`).
///
/// The defaults sit between resilience4j's (60 s wait, 100 minimum calls,
/// 10 probes) and Polly's (5 s break, one trial call): small enough for a
/// firmware window, safe for a service.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BreakerConfigBuilder {
    failure_rate: Option<f32>,
    slow_call_rate: f32,
    slow_call_duration: Option<Duration>,
    minimum_calls: u32,
    consecutive_failures: Option<u32>,
    open_wait: Duration,
    open_wait_multiplier: u32,
    open_wait_max: Option<Duration>,
    half_open_probes: u32,
    success_threshold: Option<u32>,
    half_open_rule: HalfOpenRule,
    probe_lease: Duration,
}

impl BreakerConfigBuilder {
    /// Open when at least this share (in `(0, 1]`) of the windowed calls
    /// failed: a rate **equal** to the threshold opens (resilience4j's
    /// `failureRate >= failureRateThreshold`). The ratio is kept in parts per
    /// million, rounded to the nearest.
    pub const fn failure_rate_threshold(mut self, ratio: f32) -> Self {
        self.failure_rate = Some(ratio);
        self
    }

    /// Do not trip on the failure rate (e.g. consecutive failures only).
    pub const fn no_failure_rate(mut self) -> Self {
        self.failure_rate = None;
        self
    }

    /// A call taking **strictly longer** than `duration` is slow (a call of
    /// exactly `duration` is not, as in resilience4j); turns slow-call
    /// detection on. A call's duration is `record`'s `now` minus the permit's
    /// [`issued_at`](super::BreakerPermit::issued_at).
    pub const fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.slow_call_duration = Some(duration);
        self
    }

    /// Open when at least this share (in `(0, 1]`) of the windowed calls was
    /// slow: a rate **equal** to the threshold opens (resilience4j's
    /// `slowCallRate >= slowCallRateThreshold`). Only acts with
    /// [`slow_call_duration`](Self::slow_call_duration) set.
    pub const fn slow_call_rate_threshold(mut self, ratio: f32) -> Self {
        self.slow_call_rate = ratio;
        self
    }

    /// Rates are only acted on once the window holds this many calls: a window
    /// of **exactly** `calls` calls is judged (resilience4j: not judged while
    /// `calls < minimumNumberOfCalls`). With a count window smaller than
    /// `calls`, its size is used instead.
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Open after `n` failures in a row, whatever the window says: the `n`-th
    /// consecutive failure opens (the Python Failsafe's
    /// `consecutive_exceptions >= failure_threshold`).
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Stay open this long before the first probe: a breaker opened at `t`
    /// admits a probe at **exactly** `t + wait` (and rejects at
    /// `t + wait - 1 ns` with `retry_at = t + wait`).
    pub const fn open_wait(mut self, wait: Duration) -> Self {
        self.open_wait = wait;
        self
    }

    /// Multiply the wait by `multiplier` on each open in a row (a failed
    /// half-open round), never beyond `max`. A close resets it.
    pub const fn open_wait_backoff(mut self, multiplier: u32, max: Duration) -> Self {
        self.open_wait_multiplier = multiplier;
        self.open_wait_max = Some(max);
        self
    }

    /// How many probe calls a half-open round admits, however many callers
    /// are waiting (resilience4j's `permittedNumberOfCallsInHalfOpenState`).
    /// Once they are all out, callers are rejected with
    /// [`BreakerHalfOpenFull`](crate::RejectReason::BreakerHalfOpenFull) and
    /// `retry_at: None`: a probe may report at any moment. At most 65,535
    /// (the round counts in `u16`s, to keep a firmware breaker within 64
    /// bytes; resilience4j's default is 10): more is a [`ConfigError`] on
    /// `half_open_probes`, `TooLarge`.
    ///
    /// ```
    /// # use failsafe_core::breaker::BreakerConfig;
    /// assert!(BreakerConfig::builder().half_open_probes(65_535).build().is_ok());
    /// let e = BreakerConfig::builder().half_open_probes(65_536).build().unwrap_err();
    /// assert_eq!(e.field, "half_open_probes");
    /// ```
    pub const fn half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// How many probes must succeed to close (default: all of them): the
    /// `successes`-th success closes. The round reopens as soon as this can
    /// no longer be reached. Selects [`HalfOpenRule::SuccessThreshold`] (the
    /// last of `success_threshold` and `half_open_rule` called wins).
    pub const fn success_threshold(mut self, successes: u32) -> Self {
        self.success_threshold = Some(successes);
        self.half_open_rule = HalfOpenRule::SuccessThreshold;
        self
    }

    /// How a half-open round is judged (default
    /// [`HalfOpenRule::SuccessThreshold`]). [`HalfOpenRule::RateThresholds`]
    /// needs a failure-rate threshold or slow-call detection, or
    /// [`build`](Self::build) fails on `half_open_rule`; under it
    /// `success_threshold` is not used.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, HalfOpenRule};
    /// // resilience4j's defaults for the half-open state: 10 probes, judged at 50% failures
    /// let c = BreakerConfig::builder()
    ///     .failure_rate_threshold(0.5)
    ///     .half_open_probes(10)
    ///     .half_open_rule(HalfOpenRule::RateThresholds)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.half_open_rule(), HalfOpenRule::RateThresholds);
    /// ```
    pub const fn half_open_rule(mut self, rule: HalfOpenRule) -> Self {
        self.half_open_rule = rule;
        self
    }

    /// A probe that has not reported this long after the round's last
    /// admission counts as failed, so half-open can never wedge. The lease
    /// ends at **exactly** `last admission + lease`: from that instant the
    /// outstanding probes have failed, and a report arriving at it is stale.
    pub const fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease;
        self
    }

    /// Checks every field and returns the configuration, or the first error.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::BreakerConfig;
    /// let e = BreakerConfig::builder().half_open_probes(2).success_threshold(3).build();
    /// assert_eq!(e.unwrap_err().field, "success_threshold");
    /// let e = BreakerConfig::builder().open_wait(Duration::ZERO).build();
    /// assert_eq!(e.unwrap_err().field, "open_wait");
    /// ```
    ///
    /// # Errors
    ///
    /// The first invalid field, in this order: `failure_rate_threshold` or
    /// `slow_call_rate_threshold` outside `(0, 1]`; `slow_call_duration`,
    /// `minimum_calls`, `consecutive_failures` zero; nothing that can trip
    /// (`failure_rate_threshold`, `NothingEnabled`); `open_wait`,
    /// `open_wait_multiplier` zero; `open_wait_max` below `open_wait`;
    /// `half_open_probes` zero or above 65,535; `success_threshold` zero or above
    /// `half_open_probes` (under the success-threshold rule);
    /// `half_open_rule` the rate rule with neither a failure-rate threshold
    /// nor slow-call detection (`NothingEnabled`); `probe_lease` zero.
    pub const fn build(self) -> Result<BreakerConfig, ConfigError> {
        let failure_rate_ppm = match self.failure_rate {
            Some(r) => match ratio_ppm("failure_rate_threshold", r) {
                Ok(p) => Some(p),
                Err(e) => return Err(e),
            },
            None => None,
        };
        let slow_call_rate_ppm = match ratio_ppm("slow_call_rate_threshold", self.slow_call_rate) {
            Ok(p) => p,
            Err(e) => return Err(e),
        };
        let slow_call_nanos = match self.slow_call_duration {
            Some(d) if d.is_zero() => {
                return Err(ConfigError::new("slow_call_duration", Problem::Zero));
            }
            Some(d) => Some(duration_nanos(d)),
            None => None,
        };
        if self.minimum_calls == 0 {
            return Err(ConfigError::new("minimum_calls", Problem::Zero));
        }
        if let Some(0) = self.consecutive_failures {
            return Err(ConfigError::new("consecutive_failures", Problem::Zero));
        }
        if failure_rate_ppm.is_none()
            && slow_call_nanos.is_none()
            && self.consecutive_failures.is_none()
        {
            return Err(ConfigError::new(
                "failure_rate_threshold",
                Problem::NothingEnabled,
            ));
        }
        let open_wait_nanos = duration_nanos(self.open_wait);
        if open_wait_nanos == 0 {
            return Err(ConfigError::new("open_wait", Problem::Zero));
        }
        if self.open_wait_multiplier == 0 {
            return Err(ConfigError::new("open_wait_multiplier", Problem::Zero));
        }
        let open_wait_max_nanos = match self.open_wait_max {
            Some(max) => duration_nanos(max),
            None => open_wait_nanos,
        };
        if open_wait_max_nanos < open_wait_nanos {
            return Err(ConfigError::new("open_wait_max", Problem::BelowMinimum));
        }
        if self.half_open_probes == 0 {
            return Err(ConfigError::new("half_open_probes", Problem::Zero));
        }
        if self.half_open_probes > MAX_HALF_OPEN_PROBES {
            return Err(ConfigError::new("half_open_probes", Problem::TooLarge));
        }
        let success_threshold = match (self.half_open_rule, self.success_threshold) {
            (HalfOpenRule::SuccessThreshold, Some(0)) => {
                return Err(ConfigError::new("success_threshold", Problem::Zero));
            }
            (HalfOpenRule::SuccessThreshold, Some(s)) if s > self.half_open_probes => {
                return Err(ConfigError::new("success_threshold", Problem::TooLarge));
            }
            (HalfOpenRule::SuccessThreshold, Some(s)) => s,
            _ => self.half_open_probes,
        };
        if let HalfOpenRule::RateThresholds = self.half_open_rule
            && failure_rate_ppm.is_none()
            && slow_call_nanos.is_none()
        {
            return Err(ConfigError::new("half_open_rule", Problem::NothingEnabled));
        }
        let probe_lease_nanos = duration_nanos(self.probe_lease);
        if probe_lease_nanos == 0 {
            return Err(ConfigError::new("probe_lease", Problem::Zero));
        }
        Ok(BreakerConfig {
            failure_rate_ppm,
            slow_call_rate_ppm,
            slow_call_nanos,
            minimum_calls: self.minimum_calls,
            consecutive_failures: self.consecutive_failures,
            open_wait_nanos,
            open_wait_multiplier: self.open_wait_multiplier,
            open_wait_max_nanos,
            half_open_probes: self.half_open_probes,
            success_threshold,
            half_open_rule: self.half_open_rule,
            probe_lease_nanos,
        })
    }
}
