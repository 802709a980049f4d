//! Fault injection for the modelled dependencies.
//!
//! A local stand-in with the API of `failsafe_core::chaos` (the lead's
//! chaos machine, landing on main): [`Rate`], [`Schedule`],
//! [`ChaosConfig`], [`Chaos::decide`] returning an [`Injection`]. When the
//! core's module lands, this file becomes `pub use failsafe_core::chaos::*;`
//! and nothing else in the crate changes.

use core::time::Duration;

use failsafe_core::rng::Rng;
use failsafe_core::{ConfigError, Instant, Problem};

/// How often a fault fires: parts per million of calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(u32);

impl Rate {
    /// `p` percent of calls (0 to 100).
    pub const fn percent(p: u32) -> Rate {
        Rate(p.saturating_mul(10_000))
    }

    /// `n` calls in a million (0 to 1,000,000).
    pub const fn per_million(n: u32) -> Rate {
        Rate(n)
    }

    /// The rate in parts per million.
    pub const fn as_per_million(self) -> u32 {
        self.0
    }
}

/// When a fault is active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// All the time.
    Always,
    /// From `from` (included) until `until` (excluded).
    Between {
        /// Start.
        from: Instant,
        /// End.
        until: Instant,
    },
    /// `active` out of every `period`, starting `offset` into each period.
    Periodic {
        /// The cycle.
        period: Duration,
        /// How long the fault is on in each cycle.
        active: Duration,
        /// Where in the cycle it switches on.
        offset: Duration,
    },
    /// Off before `from`, at its full rate from `full_at` on, growing
    /// linearly in between.
    Ramp {
        /// Start of the ramp.
        from: Instant,
        /// End of the ramp.
        full_at: Instant,
    },
}

impl Schedule {
    /// The share (parts per million of the rate) in force at `now`.
    fn share(&self, now: Instant) -> u64 {
        const FULL: u64 = 1_000_000;
        match *self {
            Schedule::Always => FULL,
            Schedule::Between { from, until } => {
                if now >= from && now < until {
                    FULL
                } else {
                    0
                }
            }
            Schedule::Periodic {
                period,
                active,
                offset,
            } => {
                let period = period.as_nanos().max(1) as u64;
                let phase = (now.as_nanos() % period + period
                    - (offset.as_nanos() as u64 % period))
                    % period;
                if (phase as u128) < active.as_nanos() {
                    FULL
                } else {
                    0
                }
            }
            Schedule::Ramp { from, full_at } => {
                if now < from {
                    0
                } else if now >= full_at {
                    FULL
                } else {
                    let span = full_at.as_nanos() - from.as_nanos();
                    let done = now.as_nanos() - from.as_nanos();
                    (u128::from(done) * u128::from(FULL) / u128::from(span)) as u64
                }
            }
        }
    }

    /// Whether a fault at `rate` fires at `now`, drawing from `rng`.
    fn fires(&self, rate: Rate, now: Instant, rng: &mut dyn Rng) -> bool {
        let p = u64::from(rate.0.min(1_000_000)) * self.share(now) / 1_000_000;
        p > 0 && rng.below(1_000_000) < p
    }
}

/// A fault a call is answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with an error.
    Error,
    /// The call returns a chosen outcome (e.g. an `Ok` 503).
    Outcome,
    /// The call never answers.
    Hang,
}

/// What [`Chaos::decide`] does to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// Latency added before the call proceeds (or fails).
    pub delay: Duration,
    /// The fault, if any.
    pub fault: Option<Fault>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    rate: Rate,
    schedule: Schedule,
}

/// A validated chaos configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChaosConfig {
    error: Option<Rule>,
    outcome: Option<Rule>,
    hang: Option<Rule>,
    latency: Option<(Rule, Duration, Duration)>,
}

impl ChaosConfig {
    /// A builder injecting nothing.
    pub const fn builder() -> ChaosConfigBuilder {
        ChaosConfigBuilder {
            config: ChaosConfig {
                error: None,
                outcome: None,
                hang: None,
                latency: None,
            },
        }
    }
}

/// Builds a [`ChaosConfig`].
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ChaosConfigBuilder {
    config: ChaosConfig,
}

impl ChaosConfigBuilder {
    /// Fail `rate` of calls with an error while `schedule` is active.
    pub const fn error(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.error = Some(Rule { rate, schedule });
        self
    }

    /// Answer `rate` of calls with the chosen outcome.
    pub const fn outcome(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.outcome = Some(Rule { rate, schedule });
        self
    }

    /// Never answer `rate` of calls.
    pub const fn hang(mut self, rate: Rate, schedule: Schedule) -> Self {
        self.config.hang = Some(Rule { rate, schedule });
        self
    }

    /// Add a latency uniform in `[min, max]` to `rate` of calls.
    pub const fn latency(
        mut self,
        rate: Rate,
        min: Duration,
        max: Duration,
        schedule: Schedule,
    ) -> Self {
        self.config.latency = Some((Rule { rate, schedule }, min, max));
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    ///
    /// A rate above a million parts per million (`RatioOutOfRange`), a
    /// latency `max` below its `min` (`BelowMinimum`).
    pub const fn build(self) -> Result<ChaosConfig, ConfigError> {
        let rules = [
            ("error", self.config.error),
            ("outcome", self.config.outcome),
            ("hang", self.config.hang),
        ];
        let mut i = 0;
        while i < rules.len() {
            if let Some(rule) = rules[i].1
                && rule.rate.0 > 1_000_000
            {
                return Err(ConfigError::new(rules[i].0, Problem::RatioOutOfRange));
            }
            i += 1;
        }
        if let Some((rule, min, max)) = self.config.latency {
            if rule.rate.0 > 1_000_000 {
                return Err(ConfigError::new("latency", Problem::RatioOutOfRange));
            }
            if max.as_nanos() < min.as_nanos() {
                return Err(ConfigError::new("latency.max", Problem::BelowMinimum));
            }
        }
        Ok(self.config)
    }
}

/// The chaos machine: decides, per call, what to inject.
#[derive(Clone, Copy, Debug)]
pub struct Chaos {
    config: ChaosConfig,
    enabled: bool,
}

impl Chaos {
    /// A machine injecting what `config` says, enabled.
    pub const fn new(config: ChaosConfig) -> Chaos {
        Chaos {
            config,
            enabled: true,
        }
    }

    /// Switches injection on or off at run time.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
    }

    /// What to do to a call at `now`: a hang wins over an error, an error
    /// over a chosen outcome; latency is added to any of them.
    pub fn decide(&mut self, now: Instant, rng: &mut dyn Rng) -> Injection {
        let mut injection = Injection {
            delay: Duration::ZERO,
            fault: None,
        };
        if !self.enabled {
            return injection;
        }
        let c = &self.config;
        if let Some((rule, min, max)) = c.latency
            && rule.schedule.fires(rule.rate, now, rng)
        {
            let spread = max.saturating_sub(min).as_nanos() as u64;
            injection.delay = min + Duration::from_nanos(rng.below(spread.saturating_add(1)));
        }
        for (rule, fault) in [
            (c.hang, Fault::Hang),
            (c.error, Fault::Error),
            (c.outcome, Fault::Outcome),
        ] {
            if let Some(rule) = rule
                && rule.schedule.fires(rule.rate, now, rng)
            {
                injection.fault = Some(fault);
                break;
            }
        }
        injection
    }
}
