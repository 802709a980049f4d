//! Validated circuit-breaker configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

const PPM: u64 = 1_000_000;

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
/// const CONFIG: BreakerConfig = BreakerConfig::builder()
///     .failure_rate_threshold(0.5)
///     .minimum_calls(10)
///     .open_wait(Duration::from_secs(5))
///     .build_or_panic(); // a bad value here is a compile error naming the field
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
    pub(crate) probe_lease_nanos: u64,
}

impl BreakerConfig {
    /// The defaults: see [`BreakerConfigBuilder`] for each value.
    pub const DEFAULT: BreakerConfig = BreakerConfig::builder().build_or_panic();

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
    pub(crate) const fn failure_rate_reached(&self, failures: u64, calls: u64) -> bool {
        match self.failure_rate_ppm {
            Some(ppm) => reached(failures, calls, ppm),
            None => false,
        }
    }

    /// Is `slow` out of `calls` at or above the slow-call-rate threshold?
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

/// Builds a [`BreakerConfig`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `failure_rate_threshold` | 0.5 | open when this share of windowed calls failed |
/// | `slow_call_duration` | off | a call at least this long is slow |
/// | `slow_call_rate_threshold` | 1.0 | open when this share of windowed calls was slow |
/// | `minimum_calls` | 10 | rates are trusted only from this many calls (capped at a count window's size) |
/// | `consecutive_failures` | off | open after this many failures in a row |
/// | `open_wait` | 30 s | stay open this long before probing |
/// | `open_wait_backoff` | x1 | grow the wait across opens in a row, up to a cap |
/// | `half_open_probes` | 1 | probe calls admitted per half-open round |
/// | `success_threshold` | = probes | successful probes needed to close |
/// | `probe_lease` | 30 s | a probe silent this long after the last admission counts as failed |
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
    probe_lease: Duration,
}

impl BreakerConfigBuilder {
    /// Open when at least this share (in `(0, 1]`) of the windowed calls failed.
    pub const fn failure_rate_threshold(mut self, ratio: f32) -> Self {
        self.failure_rate = Some(ratio);
        self
    }

    /// Do not trip on the failure rate (e.g. consecutive failures only).
    pub const fn no_failure_rate(mut self) -> Self {
        self.failure_rate = None;
        self
    }

    /// A call taking at least `duration` is slow; turns slow-call detection on.
    pub const fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.slow_call_duration = Some(duration);
        self
    }

    /// Open when at least this share (in `(0, 1]`) of the windowed calls was slow.
    pub const fn slow_call_rate_threshold(mut self, ratio: f32) -> Self {
        self.slow_call_rate = ratio;
        self
    }

    /// Rates are only acted on once the window holds this many calls.
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Open after `n` failures in a row, whatever the window says.
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// Stay open this long before the first probe.
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
    /// are waiting.
    pub const fn half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// How many probes must succeed to close (default: all of them). The
    /// round reopens as soon as this can no longer be reached.
    pub const fn success_threshold(mut self, successes: u32) -> Self {
        self.success_threshold = Some(successes);
        self
    }

    /// A probe that has not reported this long after the round's last
    /// admission counts as failed, so half-open can never wedge.
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
        let success_threshold = match self.success_threshold {
            Some(0) => return Err(ConfigError::new("success_threshold", Problem::Zero)),
            Some(s) if s > self.half_open_probes => {
                return Err(ConfigError::new("success_threshold", Problem::TooLarge));
            }
            Some(s) => s,
            None => self.half_open_probes,
        };
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
            probe_lease_nanos,
        })
    }

    /// [`build`](Self::build) for `const` items: an invalid value becomes a
    /// compile-time error (a panic at run time outside `const`) naming the field.
    pub const fn build_or_panic(self) -> BreakerConfig {
        match self.build() {
            Ok(config) => config,
            Err(e) => panic!("{}", e.field),
        }
    }
}
