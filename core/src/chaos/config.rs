//! What a chaos machine injects, how often and when: rates, schedules and the
//! validated configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Instant, Problem};

/// One in a million: the unit of [`Rate`] and of a schedule's intensity.
pub const PER_MILLION: u32 = 1_000_000;

/// How often an injection happens, in parts per million of calls (integer,
/// so firmware links no floating point).
///
/// ```
/// use failsafe_core::chaos::Rate;
/// assert_eq!(Rate::percent(5), Rate::per_million(50_000));
/// assert_eq!(Rate::ALWAYS.as_per_million(), 1_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rate(u32);

impl Rate {
    /// Never injected.
    pub const NEVER: Rate = Rate(0);
    /// Injected into every call (while the schedule is fully on).
    pub const ALWAYS: Rate = Rate(PER_MILLION);

    /// `ppm` calls in a million. Values above a million are rejected by
    /// [`ChaosConfigBuilder::build`] (and read as 100 % elsewhere).
    ///
    /// ```
    /// # use failsafe_core::chaos::Rate;
    /// assert_eq!(Rate::per_million(250).as_per_million(), 250);
    /// ```
    pub const fn per_million(ppm: u32) -> Rate {
        Rate(ppm)
    }

    /// `percent` calls in a hundred (saturating, so `percent(200)` is
    /// rejected by the builder rather than wrapping).
    ///
    /// ```
    /// # use failsafe_core::chaos::Rate;
    /// assert_eq!(Rate::percent(100), Rate::ALWAYS);
    /// ```
    pub const fn percent(percent: u32) -> Rate {
        Rate(percent.saturating_mul(10_000))
    }

    /// The rate in parts per million.
    ///
    /// ```
    /// # use failsafe_core::chaos::Rate;
    /// assert_eq!(Rate::percent(1).as_per_million(), 10_000);
    /// ```
    pub const fn as_per_million(self) -> u32 {
        self.0
    }

    /// This rate scaled by an intensity in parts per million (rounded down).
    const fn scaled(self, intensity: u32) -> u32 {
        ((self.0 as u64 * intensity as u64) / PER_MILLION as u64) as u32
    }
}

/// When an injection is on, as an intensity from 0 (off) to a million (fully
/// on) at each instant, on the clock of the `now` passed to
/// [`Chaos::decide`](super::Chaos::decide).
///
/// A fault's rate is multiplied by the intensity; an added latency's length
/// is (so a [`Ramp`](Schedule::Ramp) makes every call slower, as a brownout
/// does, rather than some calls fully slow).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::chaos::Schedule;
/// use failsafe_core::Instant;
///
/// let outage = Schedule::Between { from: Instant::from_secs(10), until: Instant::from_secs(70) };
/// assert_eq!(outage.intensity(Instant::from_secs(9)), 0);
/// assert_eq!(outage.intensity(Instant::from_secs(10)), 1_000_000);
/// assert_eq!(outage.intensity(Instant::from_secs(70)), 0);
///
/// let brownout = Schedule::Ramp { from: Instant::from_secs(0), full_at: Instant::from_secs(100) };
/// assert_eq!(brownout.intensity(Instant::from_secs(25)), 250_000);
///
/// // on for 5 s of every 20 s, starting at 10 s
/// let flapping = Schedule::Periodic {
///     period: Duration::from_secs(20),
///     active: Duration::from_secs(5),
///     offset: Duration::from_secs(10),
/// };
/// assert_eq!(flapping.intensity(Instant::from_secs(12)), 1_000_000);
/// assert_eq!(flapping.intensity(Instant::from_secs(16)), 0);
/// assert_eq!(flapping.intensity(Instant::from_secs(31)), 1_000_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Schedule {
    /// Always on.
    #[default]
    Always,
    /// On from `from` (included) until `until` (excluded): an outage.
    Between {
        /// The first instant on.
        from: Instant,
        /// The first instant off again.
        until: Instant,
    },
    /// On for `active` at the start of every `period`, the first period
    /// starting at `offset` after the clock's zero: a flapping dependency.
    Periodic {
        /// The length of one on/off cycle.
        period: Duration,
        /// How long each cycle is on (at most `period`).
        active: Duration,
        /// When the first cycle starts.
        offset: Duration,
    },
    /// Off before `from`, growing linearly to fully on at `full_at`, on
    /// after: a brownout.
    Ramp {
        /// When it starts growing.
        from: Instant,
        /// When it is fully on.
        full_at: Instant,
    },
}

impl Schedule {
    /// The intensity at `now`, in parts per million.
    ///
    /// ```
    /// # use failsafe_core::chaos::Schedule;
    /// # use failsafe_core::Instant;
    /// assert_eq!(Schedule::Always.intensity(Instant::ZERO), 1_000_000);
    /// ```
    pub const fn intensity(&self, now: Instant) -> u32 {
        let t = now.as_nanos();
        match *self {
            Schedule::Always => PER_MILLION,
            Schedule::Between { from, until } => {
                if t >= from.as_nanos() && t < until.as_nanos() {
                    PER_MILLION
                } else {
                    0
                }
            }
            Schedule::Periodic {
                period,
                active,
                offset,
            } => {
                let (period, offset) = (duration_nanos(period), duration_nanos(offset));
                if t < offset || period == 0 {
                    return 0;
                }
                if (t - offset) % period < duration_nanos(active) {
                    PER_MILLION
                } else {
                    0
                }
            }
            Schedule::Ramp { from, full_at } => {
                let (from, full) = (from.as_nanos(), full_at.as_nanos());
                if t < from {
                    0
                } else if t >= full {
                    PER_MILLION
                } else {
                    ((t - from) as u128 * PER_MILLION as u128 / (full - from) as u128) as u32
                }
            }
        }
    }

    /// Checks the schedule, naming `field` in the error.
    const fn check(&self, field: &'static str) -> Result<(), ConfigError> {
        match *self {
            Schedule::Always => Ok(()),
            Schedule::Between { from, until } => {
                if until.as_nanos() <= from.as_nanos() {
                    Err(ConfigError::new(field, Problem::Unordered))
                } else {
                    Ok(())
                }
            }
            Schedule::Periodic { period, active, .. } => {
                if period.is_zero() || active.is_zero() {
                    Err(ConfigError::new(field, Problem::Zero))
                } else if duration_nanos(active) > duration_nanos(period) {
                    Err(ConfigError::new(field, Problem::TooLarge))
                } else {
                    Ok(())
                }
            }
            Schedule::Ramp { from, full_at } => {
                if full_at.as_nanos() < from.as_nanos() {
                    Err(ConfigError::new(field, Problem::Unordered))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// One kind of fault: how often, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FaultRule {
    /// How often, while the schedule is fully on.
    pub rate: Rate,
    /// When.
    pub schedule: Schedule,
}

impl FaultRule {
    /// Never injected.
    pub const NONE: FaultRule = FaultRule {
        rate: Rate::NEVER,
        schedule: Schedule::Always,
    };

    /// The rate in effect at `now`, in parts per million.
    pub(crate) const fn rate_at(&self, now: Instant) -> u32 {
        self.rate.scaled(self.schedule.intensity(now))
    }
}

/// Added latency: how often, how much (uniform between `min` and `max`,
/// scaled by the schedule's intensity), and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LatencyRule {
    /// How often a call is delayed.
    pub rate: Rate,
    /// The shortest delay added, at full intensity.
    pub min: Duration,
    /// The longest delay added, at full intensity.
    pub max: Duration,
    /// When, and how strongly.
    pub schedule: Schedule,
}

impl LatencyRule {
    /// No latency added.
    pub const NONE: LatencyRule = LatencyRule {
        rate: Rate::NEVER,
        min: Duration::ZERO,
        max: Duration::ZERO,
        schedule: Schedule::Always,
    };
}

/// A validated chaos configuration: an added latency and three faults (an
/// error, a chosen outcome, a hang). The three faults exclude each other: one
/// draw picks at most one, so their rates in effect add up to at most 100 %.
///
/// The faults follow Polly's chaos strategies (fault, outcome, latency,
/// behaviour) and tower-resilience's chaos layer; the driver decides what an
/// error or an outcome *is* (the user gives it), the core only when.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
/// use failsafe_core::Instant;
///
/// // down (every call fails) from 60 s to 180 s; 10 % of calls 50-150 ms slower
/// let config = ChaosConfig::builder()
///     .error(Rate::ALWAYS, Schedule::Between { from: Instant::from_secs(60), until: Instant::from_secs(180) })
///     .latency(Rate::percent(10), Duration::from_millis(50), Duration::from_millis(150), Schedule::Always)
///     .build()
///     .unwrap();
/// assert_eq!(config.error().rate, Rate::ALWAYS);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChaosConfig {
    error: FaultRule,
    outcome: FaultRule,
    hang: FaultRule,
    latency: LatencyRule,
}

impl ChaosConfig {
    /// Injects nothing.
    pub const NONE: ChaosConfig = ChaosConfig {
        error: FaultRule::NONE,
        outcome: FaultRule::NONE,
        hang: FaultRule::NONE,
        latency: LatencyRule::NONE,
    };

    /// A builder starting from [`ChaosConfig::NONE`].
    ///
    /// ```
    /// # use failsafe_core::chaos::ChaosConfig;
    /// assert_eq!(ChaosConfig::builder().build(), Ok(ChaosConfig::NONE));
    /// ```
    pub const fn builder() -> ChaosConfigBuilder {
        ChaosConfigBuilder {
            config: ChaosConfig::NONE,
        }
    }

    /// Fail the call with the caller's error instead of calling.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, FaultRule};
    /// assert_eq!(ChaosConfig::NONE.error(), FaultRule::NONE);
    /// ```
    pub const fn error(&self) -> FaultRule {
        self.error
    }

    /// Answer with the caller's chosen outcome (e.g. an `Ok` 503) instead
    /// of calling.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, FaultRule};
    /// assert_eq!(ChaosConfig::NONE.outcome(), FaultRule::NONE);
    /// ```
    pub const fn outcome(&self) -> FaultRule {
        self.outcome
    }

    /// Never answer: the call hangs until the caller's deadline or timeout.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, FaultRule};
    /// assert_eq!(ChaosConfig::NONE.hang(), FaultRule::NONE);
    /// ```
    pub const fn hang(&self) -> FaultRule {
        self.hang
    }

    /// Delay the call (or the injected fault) by an added latency.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, LatencyRule};
    /// assert_eq!(ChaosConfig::NONE.latency(), LatencyRule::NONE);
    /// ```
    pub const fn latency(&self) -> LatencyRule {
        self.latency
    }
}

/// Builds a [`ChaosConfig`]; every method is `const`.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct ChaosConfigBuilder {
    config: ChaosConfig,
}

impl ChaosConfigBuilder {
    /// Fail `rate` of calls with the user's error while `schedule` is on.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
    /// let c = ChaosConfig::builder().error(Rate::percent(5), Schedule::Always).build().unwrap();
    /// assert_eq!(c.error().rate, Rate::percent(5));
    /// ```
    pub const fn error(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.error = FaultRule { rate, schedule };
        self
    }

    /// Answer `rate` of calls with the user's chosen outcome while
    /// `schedule` is on.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
    /// let c = ChaosConfig::builder().outcome(Rate::percent(5), Schedule::Always).build().unwrap();
    /// assert_eq!(c.outcome().rate, Rate::percent(5));
    /// ```
    pub const fn outcome(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.outcome = FaultRule { rate, schedule };
        self
    }

    /// Make `rate` of calls hang (never answer) while `schedule` is on.
    ///
    /// ```
    /// # use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
    /// let c = ChaosConfig::builder().hang(Rate::percent(1), Schedule::Always).build().unwrap();
    /// assert_eq!(c.hang().rate, Rate::percent(1));
    /// ```
    pub const fn hang(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.hang = FaultRule { rate, schedule };
        self
    }

    /// Delay `rate` of calls by a latency drawn uniformly from `min..=max`
    /// (scaled by the schedule's intensity).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
    /// let (min, max) = (Duration::from_millis(50), Duration::from_millis(80));
    /// let c = ChaosConfig::builder().latency(Rate::ALWAYS, min, max, Schedule::Always).build().unwrap();
    /// assert_eq!((c.latency().min, c.latency().max), (min, max));
    /// ```
    pub const fn latency(
        mut self,
        rate: Rate,
        min: Duration,
        max: Duration,
        schedule: Schedule,
    ) -> Self {
        self.config.latency = LatencyRule {
            rate,
            min,
            max,
            schedule,
        };
        self
    }

    /// The validated configuration.
    ///
    /// # Errors
    ///
    /// - `error.rate`, `outcome.rate`, `hang.rate`, `latency.rate`
    ///   ([`Problem::FractionOutOfRange`]): a rate above a million per million;
    /// - the rate that takes the sum of the three fault rates (they exclude
    ///   each other) over 100 %, in the order error, outcome, hang
    ///   ([`Problem::TooLarge`]);
    /// - `latency.max` ([`Problem::BelowMinimum`]): `max < min`;
    /// - `error.schedule`, `outcome.schedule`, `hang.schedule`,
    ///   `latency.schedule`: an empty `Between` or a `Ramp` ending before it
    ///   starts ([`Problem::Unordered`]); a `Periodic` with a zero period
    ///   or active time ([`Problem::Zero`]) or an active time longer than
    ///   its period ([`Problem::TooLarge`]).
    ///
    /// ```
    /// use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
    /// let e = ChaosConfig::builder()
    ///     .error(Rate::percent(60), Schedule::Always)
    ///     .hang(Rate::percent(50), Schedule::Always)
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(e.to_string(), "invalid `hang.rate`: is too large");
    /// ```
    pub const fn build(self) -> Result<ChaosConfig, ConfigError> {
        let c = self.config;
        let rules = [
            (&c.error, "error.rate", "error.schedule"),
            (&c.outcome, "outcome.rate", "outcome.schedule"),
            (&c.hang, "hang.rate", "hang.schedule"),
        ];
        let mut sum = 0u32;
        let mut i = 0;
        while i < rules.len() {
            let (rule, rate_field, schedule_field) = rules[i];
            if rule.rate.0 > PER_MILLION {
                return Err(ConfigError::new(rate_field, Problem::FractionOutOfRange));
            }
            if let Err(e) = rule.schedule.check(schedule_field) {
                return Err(e);
            }
            sum += rule.rate.0;
            if sum > PER_MILLION {
                return Err(ConfigError::new(rate_field, Problem::TooLarge));
            }
            i += 1;
        }
        if c.latency.rate.0 > PER_MILLION {
            return Err(ConfigError::new(
                "latency.rate",
                Problem::FractionOutOfRange,
            ));
        }
        if duration_nanos(c.latency.max) < duration_nanos(c.latency.min) {
            return Err(ConfigError::new("latency.max", Problem::BelowMinimum));
        }
        if let Err(e) = c.latency.schedule.check("latency.schedule") {
            return Err(e);
        }
        Ok(c)
    }
}
