//! Validated fail-fast configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

/// How a fail fast decides, validated. Build one with
/// [`FailFastConfig::builder`]; the builder is `const`, so a firmware
/// configuration is checked at compile time.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::failfast::FailFastConfig;
///
/// const CONFIG: FailFastConfig = failsafe_core::checked(FailFastConfig::builder()
///     .consecutive_failures(3)
///     .probe_interval(Duration::from_secs(10))
///     .expected_duration(Duration::from_millis(40))
///     .safety_margin(Duration::from_millis(5))
///     .build()); // a bad value here is a compile error naming the field
/// assert_eq!(CONFIG.consecutive_failures(), 3);
/// assert_eq!(CONFIG.probe_interval(), Some(Duration::from_secs(10)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailFastConfig {
    pub(crate) consecutive_failures: u32,
    pub(crate) probe_interval_nanos: Option<u64>,
    pub(crate) expected_nanos: u64,
    pub(crate) learn_smoothing: Option<u32>,
    pub(crate) max_expected_nanos: u64,
    pub(crate) margin_nanos: u64,
}

impl FailFastConfig {
    /// The defaults: see [`FailFastConfigBuilder`] for each value.
    pub const DEFAULT: FailFastConfig = crate::checked(FailFastConfig::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::failfast::FailFastConfig;
    /// assert_eq!(FailFastConfig::builder().build(), Ok(FailFastConfig::default()));
    /// ```
    pub const fn builder() -> FailFastConfigBuilder {
        FailFastConfigBuilder {
            consecutive_failures: 5,
            probe_interval: None,
            expected_duration: Duration::ZERO,
            learn_smoothing: None,
            max_expected_duration: None,
            safety_margin: Duration::ZERO,
        }
    }

    /// How many failures in a row open it.
    ///
    /// ```
    /// # use failsafe_core::failfast::FailFastConfig;
    /// assert_eq!(FailFastConfig::DEFAULT.consecutive_failures(), 5);
    /// ```
    pub const fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// While open, one health probe is admitted per this interval; `None`:
    /// no probes, it stays open until recovery is signalled.
    ///
    /// ```
    /// # use failsafe_core::failfast::FailFastConfig;
    /// assert_eq!(FailFastConfig::DEFAULT.probe_interval(), None);
    /// ```
    pub const fn probe_interval(&self) -> Option<Duration> {
        match self.probe_interval_nanos {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }

    /// The configured expected call duration: fixed, or the starting point of
    /// the learned estimate (zero: none configured).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().expected_duration(Duration::from_millis(20)).build().unwrap();
    /// assert_eq!(c.expected_duration(), Duration::from_millis(20));
    /// ```
    pub const fn expected_duration(&self) -> Duration {
        Duration::from_nanos(self.expected_nanos)
    }

    /// `Some(n)` when the expected duration is learned from successful calls,
    /// each moving the estimate `1/n` of the way towards its own duration.
    ///
    /// ```
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().learn_expected_duration(8).build().unwrap();
    /// assert_eq!(c.learn_smoothing(), Some(8));
    /// assert_eq!(FailFastConfig::DEFAULT.learn_smoothing(), None);
    /// ```
    pub const fn learn_smoothing(&self) -> Option<u32> {
        self.learn_smoothing
    }

    /// The ceiling of a learned expected duration (`u64::MAX` nanoseconds,
    /// about 584 years, when unset).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder()
    ///     .learn_expected_duration(4)
    ///     .max_expected_duration(Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.max_expected_duration(), Duration::from_secs(1));
    /// ```
    pub const fn max_expected_duration(&self) -> Duration {
        Duration::from_nanos(self.max_expected_nanos)
    }

    /// Extra time a caller's deadline must leave beyond the expected duration.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// assert_eq!(FailFastConfig::DEFAULT.safety_margin(), Duration::ZERO);
    /// ```
    pub const fn safety_margin(&self) -> Duration {
        Duration::from_nanos(self.margin_nanos)
    }
}

impl Default for FailFastConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Builds a [`FailFastConfig`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `consecutive_failures` | 5 | open after this many failures in a row (>= 1) |
/// | `probe_interval` | off | while open, admit one health probe per interval; a successful probe closes |
/// | `expected_duration` | 0 | how long a call takes: fixed, or the seed of the learned estimate |
/// | `learn_expected_duration` | off | learn it from successful calls (integer EWMA, weight `1/n`) |
/// | `max_expected_duration` | none | ceiling of the learned estimate |
/// | `safety_margin` | 0 | extra time a deadline must leave beyond the expected duration |
///
/// Without a probe interval an open fail fast stays open until recovery is
/// signalled ([`FailFast::report_healthy`](super::FailFast::report_healthy)
/// or [`FailFast::close`](super::FailFast::close)), as in the Python
/// Failsafe. A call is admitted only if its deadline leaves at least
/// `expected duration + safety margin` (and is not already past).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct FailFastConfigBuilder {
    consecutive_failures: u32,
    probe_interval: Option<Duration>,
    expected_duration: Duration,
    learn_smoothing: Option<u32>,
    max_expected_duration: Option<Duration>,
    safety_margin: Duration,
}

impl FailFastConfigBuilder {
    /// Open after `n` failures (or timeouts) in a row; must be at least 1.
    /// Boundary: the `n`-th failure in a row opens (the Python Failsafe's
    /// `consecutive_exceptions >= failure_threshold`).
    ///
    /// ```
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().consecutive_failures(1).build().unwrap();
    /// assert_eq!(c.consecutive_failures(), 1);
    /// ```
    pub const fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = n;
        self
    }

    /// While open, admit one health probe per `interval` (non-zero); a
    /// successful probe closes. Rejections then carry the next probe instant
    /// as `retry_at`; a call at exactly that instant is the probe.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().probe_interval(Duration::from_secs(30)).build().unwrap();
    /// assert_eq!(c.probe_interval(), Some(Duration::from_secs(30)));
    /// ```
    pub const fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = Some(interval);
        self
    }

    /// How long a call is expected to take. Alone it is fixed; with
    /// [`learn_expected_duration`](Self::learn_expected_duration) it is the
    /// estimate until the first success is learned.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().expected_duration(Duration::from_millis(250)).build().unwrap();
    /// assert_eq!((c.expected_duration(), c.learn_smoothing()), (Duration::from_millis(250), None));
    /// ```
    pub const fn expected_duration(mut self, duration: Duration) -> Self {
        self.expected_duration = duration;
        self
    }

    /// Learn the expected duration from successful calls: each success moves
    /// the estimate `1/n` of the way towards its own duration (an exponentially
    /// weighted moving average over roughly the last `n` successes, in integer
    /// nanoseconds; `n = 1` keeps only the latest). With no
    /// [`expected_duration`](Self::expected_duration) the first success is
    /// taken as it is.
    ///
    /// Only admitted calls teach it: if every caller's deadline is shorter
    /// than the estimate, nothing is admitted to correct it. Calls without a
    /// deadline keep it honest; [`max_expected_duration`](Self::max_expected_duration)
    /// bounds it.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder()
    ///     .expected_duration(Duration::from_millis(100)) // until the first success
    ///     .learn_expected_duration(16)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.learn_smoothing(), Some(16));
    /// ```
    pub const fn learn_expected_duration(mut self, n: u32) -> Self {
        self.learn_smoothing = Some(n);
        self
    }

    /// Never let the learned estimate exceed `max` (non-zero, not below
    /// [`expected_duration`](Self::expected_duration)). Only a learned
    /// estimate is capped; a fixed one is taken as configured.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder()
    ///     .learn_expected_duration(8)
    ///     .max_expected_duration(Duration::from_secs(2))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.max_expected_duration(), Duration::from_secs(2));
    /// ```
    pub const fn max_expected_duration(mut self, max: Duration) -> Self {
        self.max_expected_duration = Some(max);
        self
    }

    /// Require a deadline to leave `margin` beyond the expected duration
    /// (time to hand the result back, say). Boundary: a deadline leaving
    /// exactly `expected + margin` is admitted, 1 ns less is rejected
    /// ([`DeadlineTooShort`](crate::RejectReason::DeadlineTooShort)); a
    /// deadline at or before `now` is rejected whatever the expected duration.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let c = FailFastConfig::builder().safety_margin(Duration::from_millis(10)).build().unwrap();
    /// assert_eq!(c.safety_margin(), Duration::from_millis(10));
    /// ```
    pub const fn safety_margin(mut self, margin: Duration) -> Self {
        self.safety_margin = margin;
        self
    }

    /// Checks every field and returns the configuration, or the first error.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::failfast::FailFastConfig;
    /// let e = FailFastConfig::builder().consecutive_failures(0).build();
    /// assert_eq!(e.unwrap_err().field, "consecutive_failures");
    /// let e = FailFastConfig::builder().probe_interval(Duration::ZERO).build();
    /// assert_eq!(e.unwrap_err().field, "probe_interval");
    /// let e = FailFastConfig::builder()
    ///     .expected_duration(Duration::from_secs(2))
    ///     .max_expected_duration(Duration::from_secs(1))
    ///     .build();
    /// assert_eq!(e.unwrap_err().field, "max_expected_duration");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`], in this order:
    /// - `consecutive_failures` zero, `probe_interval` (when set) zero,
    ///   `learn_expected_duration` (when set) zero (`Zero`);
    /// - `max_expected_duration` (when set) zero (`Zero`) or below
    ///   `expected_duration` (`BelowMinimum`).
    pub const fn build(self) -> Result<FailFastConfig, ConfigError> {
        if self.consecutive_failures == 0 {
            return Err(ConfigError::new("consecutive_failures", Problem::Zero));
        }
        let probe_interval_nanos = match self.probe_interval {
            Some(d) => match duration_nanos(d) {
                0 => return Err(ConfigError::new("probe_interval", Problem::Zero)),
                n => Some(n),
            },
            None => None,
        };
        if let Some(0) = self.learn_smoothing {
            return Err(ConfigError::new("learn_expected_duration", Problem::Zero));
        }
        let expected_nanos = duration_nanos(self.expected_duration);
        let max_expected_nanos = match self.max_expected_duration {
            Some(max) => match duration_nanos(max) {
                0 => return Err(ConfigError::new("max_expected_duration", Problem::Zero)),
                n if n < expected_nanos => {
                    return Err(ConfigError::new(
                        "max_expected_duration",
                        Problem::BelowMinimum,
                    ));
                }
                n => n,
            },
            None => u64::MAX,
        };
        Ok(FailFastConfig {
            consecutive_failures: self.consecutive_failures,
            probe_interval_nanos,
            expected_nanos,
            learn_smoothing: self.learn_smoothing,
            max_expected_nanos,
            margin_nanos: duration_nanos(self.safety_margin),
        })
    }
}
