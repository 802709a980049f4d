//! Chaos injection: faults injected on purpose, by probability or on a
//! schedule, so a pipeline's protection can be tried before an incident.
//!
//! A [`Chaos`] machine decides, for each call, an [`Injection`]: a latency to
//! add before the call, and at most one [`Fault`]: fail with an error,
//! answer with a chosen outcome (an `Ok` 503, say), or hang. What an error
//! or an outcome *is* belongs to the caller (the driver takes it as a
//! closure); the core only decides when. Decisions are deterministic for a
//! given configuration, `now` and random stream (the [`Rng`] is injected,
//! as everywhere in the core), and the machine can be switched off and on
//! at run time ([`Chaos::set_enabled`]) from any thread, lock-free.
//!
//! The anchors are Polly's chaos strategies (fault, outcome, latency,
//! behaviour, each with an injection rate and an enabled switch) and
//! tower-resilience's chaos layer. Rates are integers in parts per million,
//! so firmware links no floating point.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::chaos::{Chaos, ChaosConfig, Fault, Injection, Rate, Schedule};
//! use failsafe_core::rng::Xorshift64;
//! use failsafe_core::{checked, Instant};
//!
//! // the dependency is down from 10 s to 20 s
//! const OUTAGE: ChaosConfig = checked(
//!     ChaosConfig::builder()
//!         .error(Rate::ALWAYS, Schedule::Between { from: Instant::from_secs(10), until: Instant::from_secs(20) })
//!         .build(),
//! );
//! let chaos = Chaos::new(OUTAGE);
//! let mut rng = Xorshift64::new(1);
//! assert_eq!(chaos.decide(Instant::from_secs(5), &mut rng), Injection::PASS);
//! assert_eq!(chaos.decide(Instant::from_secs(15), &mut rng).fault, Some(Fault::Error));
//!
//! chaos.set_enabled(false); // the operator's switch
//! assert_eq!(chaos.decide(Instant::from_secs(15), &mut rng), Injection::PASS);
//! ```

mod config;

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

pub use config::{
    ChaosConfig, ChaosConfigBuilder, FaultRule, LatencyRule, PER_MILLION, Rate, Schedule,
};

use crate::Instant;
use crate::rng::Rng;
use crate::time::duration_nanos;

/// A fault injected in place of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Fault {
    /// Fail with the caller's error, without calling.
    Error,
    /// Answer with the caller's chosen outcome, without calling.
    Outcome,
    /// Never answer: the call waits until its deadline or timeout cuts it.
    Hang,
}

/// What to do to one call: wait `delay` first, then inject `fault` (or
/// make the call when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Injection {
    /// Latency added before the call (or before the fault).
    pub delay: Duration,
    /// The fault injected in place of the call, if any.
    pub fault: Option<Fault>,
}

impl Injection {
    /// Nothing injected: make the call now.
    pub const PASS: Injection = Injection {
        delay: Duration::ZERO,
        fault: None,
    };

    /// Whether nothing is injected.
    ///
    /// ```
    /// # use failsafe_core::chaos::Injection;
    /// assert!(Injection::PASS.is_pass());
    /// ```
    pub const fn is_pass(&self) -> bool {
        self.delay.is_zero() && self.fault.is_none()
    }
}

/// The chaos machine: a [`ChaosConfig`] and an on/off switch. See the
/// [module docs](self).
///
/// It holds no per-call state, so one machine serves any number of callers
/// by shared reference (`&Chaos` in a `static`, an `Arc`), with no lock.
#[derive(Debug)]
pub struct Chaos {
    config: ChaosConfig,
    enabled: AtomicBool,
    /// The fault rates in effect at every instant, when no fault rule in
    /// effect follows a schedule (worked out once: a decision then reads
    /// no schedule).
    steady: Option<[(u32, Fault); 3]>,
}

impl Chaos {
    /// A machine injecting as `config` says, switched on.
    ///
    /// ```
    /// # use failsafe_core::chaos::{Chaos, ChaosConfig};
    /// assert!(Chaos::new(ChaosConfig::NONE).is_enabled());
    /// ```
    pub const fn new(config: ChaosConfig) -> Chaos {
        Chaos {
            config,
            enabled: AtomicBool::new(true),
            steady: steady_rates(&config),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::chaos::{Chaos, ChaosConfig};
    /// assert_eq!(*Chaos::new(ChaosConfig::NONE).config(), ChaosConfig::NONE);
    /// ```
    pub const fn config(&self) -> &ChaosConfig {
        &self.config
    }

    /// Switches injection on or off, for every caller, from any thread.
    ///
    /// ```
    /// # use failsafe_core::chaos::{Chaos, ChaosConfig};
    /// let chaos = Chaos::new(ChaosConfig::NONE);
    /// chaos.set_enabled(false);
    /// assert!(!chaos.is_enabled());
    /// ```
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether injection is on.
    ///
    /// ```
    /// # use failsafe_core::chaos::{Chaos, ChaosConfig};
    /// assert!(Chaos::new(ChaosConfig::NONE).is_enabled());
    /// ```
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// What to inject into a call starting at `now`.
    ///
    /// Draws from `rng` only for rules whose rate in effect is above zero
    /// and below 100 %: one draw for the latency's occurrence and one for
    /// its length, one draw picking at most one fault (error, outcome and
    /// hang take consecutive slices of a million). Off, it draws nothing
    /// and answers [`Injection::PASS`]. Any `now` is valid: the machine
    /// keeps no time, so a clock stepping back only moves the schedule back.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::chaos::{Chaos, ChaosConfig, Rate, Schedule};
    /// use failsafe_core::rng::Xorshift64;
    /// use failsafe_core::Instant;
    ///
    /// // a brownout: every call 0 to 2 s slower as it ramps up over 100 s
    /// let config = ChaosConfig::builder()
    ///     .latency(Rate::ALWAYS, Duration::from_secs(2), Duration::from_secs(2),
    ///              Schedule::Ramp { from: Instant::ZERO, full_at: Instant::from_secs(100) })
    ///     .build()
    ///     .unwrap();
    /// let chaos = Chaos::new(config);
    /// let mut rng = Xorshift64::new(3);
    /// assert_eq!(chaos.decide(Instant::from_secs(50), &mut rng).delay, Duration::from_secs(1));
    /// ```
    pub fn decide<R: Rng + ?Sized>(&self, now: Instant, rng: &mut R) -> Injection {
        if !self.is_enabled() {
            return Injection::PASS;
        }
        let c = &self.config;
        let delay = latency(&c.latency(), now, rng);
        let faults = match self.steady {
            Some(rates) => rates,
            None => [
                (c.error().rate_at(now), Fault::Error),
                (c.outcome().rate_at(now), Fault::Outcome),
                (c.hang().rate_at(now), Fault::Hang),
            ],
        };
        Injection {
            delay,
            fault: pick_fault(faults, rng),
        }
    }
}

/// The fault rates in effect at every instant, if they do not change with
/// time: every fault rule is at a zero rate (never in effect) or always on
/// (its rate in effect is its rate, as `Rate::scaled` by a full
/// intensity leaves it).
const fn steady_rates(c: &ChaosConfig) -> Option<[(u32, Fault); 3]> {
    let rules = [c.error(), c.outcome(), c.hang()];
    let mut i = 0;
    while i < rules.len() {
        if rules[i].rate.as_per_million() != 0 && !matches!(rules[i].schedule, Schedule::Always) {
            return None;
        }
        i += 1;
    }
    Some([
        (rules[0].rate.as_per_million(), Fault::Error),
        (rules[1].rate.as_per_million(), Fault::Outcome),
        (rules[2].rate.as_per_million(), Fault::Hang),
    ])
}

/// Whether an event of `rate` parts per million happens, drawing only when
/// the answer is not certain.
fn happens<R: Rng + ?Sized>(rate: u32, rng: &mut R) -> bool {
    match rate {
        0 => false,
        r if r >= PER_MILLION => true,
        r => rng.below(PER_MILLION as u64) < r as u64,
    }
}

fn latency<R: Rng + ?Sized>(rule: &LatencyRule, now: Instant, rng: &mut R) -> Duration {
    // A zero rate is settled before the schedule is read (the common case:
    // no latency configured); neither draws.
    if rule.rate == Rate::NEVER {
        return Duration::ZERO;
    }
    let intensity = rule.schedule.intensity(now);
    if intensity == 0 || !happens(rule.rate.as_per_million(), rng) {
        return Duration::ZERO;
    }
    let (min, max) = (duration_nanos(rule.min), duration_nanos(rule.max));
    let span = max.saturating_sub(min);
    let drawn = if span == 0 {
        min
    } else {
        // `span + 1` overflows only for a span of u64::MAX, where `below`
        // of u64::MAX is as good.
        min + rng.below(span.saturating_add(1))
    };
    let scaled = (drawn as u128 * intensity as u128 / PER_MILLION as u128) as u64;
    Duration::from_nanos(scaled)
}

#[inline]
fn pick_fault<R: Rng + ?Sized>(faults: [(u32, Fault); 3], rng: &mut R) -> Option<Fault> {
    let total: u64 = faults.iter().map(|(rate, _)| *rate as u64).sum();
    if total == 0 {
        return None;
    }
    // A certain fault needs no draw. The builder keeps the sum within a
    // million, so a rule at 100 % is the only one in effect.
    if let Some((_, fault)) = faults.iter().find(|(rate, _)| *rate >= PER_MILLION) {
        return Some(*fault);
    }
    let draw = rng.below(PER_MILLION as u64);
    let mut edge = 0u64;
    for (rate, fault) in faults {
        edge += rate as u64;
        if draw < edge {
            return Some(fault);
        }
    }
    None
}

#[cfg(test)]
mod tests;
