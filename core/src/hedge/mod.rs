//! Hedge: when an attempt is slow, start another and take the first
//! acceptable answer; the others are cancelled. A per-call [`Plan`]: it
//! says when to launch the next attempt and, when one ends, whether the
//! call is done, another starts, or it waits.
//!
//! Hedging sends the same request more than once: only for **idempotent**
//! work (the driver's hedge verbs make the caller say so). The extra load
//! is bounded by the attempt limit and by a budget, which can be the very
//! budget the retries spend ([`RetryBudget`]; a hedge is priced as a
//! timeout, the failure it anticipates), so retries and hedges together
//! stay within one bound.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgePlan};
//! use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
//! use failsafe_core::retry::NoBudget;
//! use failsafe_core::{timeout::Deadline, Instant};
//!
//! let config = HedgeConfig::builder()
//!     .max_attempts(3)
//!     .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
//!     .build()
//!     .unwrap();
//! let ms = Instant::from_millis;
//! let mut plan = HedgePlan::new(config, Deadline::NEVER, &NoBudget, (), (), ms(0));
//! assert!(matches!(plan.poll_action(ms(0)), Action::Start(a) if a.number == 1));
//! assert_eq!(plan.poll_action(ms(0)), Action::Wait(Some(ms(50)))); // slow? hedge at 50 ms
//! plan.on_event(ms(50), PlanEvent::Timer);
//! assert!(matches!(plan.poll_action(ms(50)), Action::Start(a) if a.number == 2));
//! // the hedge answers first: it wins, the first attempt is cancelled
//! plan.on_event(ms(70), PlanEvent::Ended { attempt: 2, judged: Judged::SUCCESS });
//! assert_eq!(plan.poll_action(ms(70)), Action::Cancel(1));
//! let won = Finish::Answer { attempts: 2, gave_up: None };
//! assert_eq!(plan.poll_action(ms(70)), Action::Finish(won));
//! ```

mod latency;

pub use latency::LatencyQuantile;

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::time::Duration;

use crate::plan::{Action, Attempt, Finish, Plan, PlanEvent};
use crate::retry::{FailureKind, GiveUp, RetryBudget, Verdict};
use crate::sync::Lock;
use crate::time::Monotonic;
use crate::timeout::Deadline;
use crate::{ConfigError, Instant, Observer, Problem};

/// The most attempts one call may have in flight (a bit mask holds them).
pub const MAX_ATTEMPTS: u32 = 16;

/// When the next attempt starts.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// After this long without an answer (and again after as long).
    Fixed(Duration),
    /// All attempts at once.
    Parallel,
    /// Only after an attempt fails (a fallback that races nothing).
    OnFailure,
    /// After the shared latency quantile ([`LatencyQuantile`]) of recent
    /// calls: hedge the slowest few per cent.
    Quantile,
    /// After `f(n)` for the `n`-th attempt to come (2 for the first hedge).
    Function(fn(u32) -> Duration),
}

/// A hedge's configuration. `const`.
#[derive(Clone, Copy, Debug)]
pub struct HedgeConfig {
    max_attempts: u32,
    delay: HedgeDelay,
}

impl HedgeConfig {
    /// Two attempts (one hedge), after 100 ms.
    pub const DEFAULT: HedgeConfig = HedgeConfig {
        max_attempts: 2,
        delay: HedgeDelay::Fixed(Duration::from_millis(100)),
    };

    /// A builder from [`DEFAULT`](Self::DEFAULT).
    pub const fn builder() -> HedgeConfigBuilder {
        HedgeConfigBuilder(HedgeConfig::DEFAULT)
    }

    /// Attempts at most, the first included.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// When the next attempt starts.
    pub const fn delay(&self) -> HedgeDelay {
        self.delay
    }

    /// The same hedge with at most `n` attempts (and at least one): what a
    /// driver holding `n` attempts at once runs.
    ///
    /// ```
    /// use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    /// let six = HedgeConfig::builder().max_attempts(6).delay(HedgeDelay::Parallel).build().unwrap();
    /// assert_eq!(six.at_most(4).max_attempts(), 4);
    /// assert_eq!(six.at_most(8).max_attempts(), 6);
    /// ```
    pub const fn at_most(mut self, n: u32) -> HedgeConfig {
        if self.max_attempts > n {
            self.max_attempts = if n == 0 { 1 } else { n };
        }
        self
    }
}

/// Builds a [`HedgeConfig`].
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HedgeConfigBuilder(HedgeConfig);

impl HedgeConfigBuilder {
    /// Attempts at most, the first included (1 to [`MAX_ATTEMPTS`]).
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.0.max_attempts = n;
        self
    }

    /// When the next attempt starts.
    pub const fn delay(mut self, delay: HedgeDelay) -> Self {
        self.0.delay = delay;
        self
    }

    /// The configuration.
    ///
    /// # Errors
    ///
    /// `max_attempts` of zero, or above [`MAX_ATTEMPTS`].
    pub const fn build(self) -> Result<HedgeConfig, ConfigError> {
        if self.0.max_attempts == 0 {
            return Err(ConfigError::new("max_attempts", Problem::Zero));
        }
        if self.0.max_attempts > MAX_ATTEMPTS {
            return Err(ConfigError::new("max_attempts", Problem::TooLarge));
        }
        Ok(self.0)
    }
}

/// What a hedge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HedgeEvent {
    /// Attempt `attempt` started (1: the first; more: hedges).
    Launched {
        /// Its number.
        attempt: u32,
        /// When.
        at: Instant,
    },
    /// Attempt `attempt` answered first; the others are cancelled.
    Won {
        /// Its number.
        attempt: u32,
        /// When.
        at: Instant,
        /// How long it took.
        latency: Duration,
    },
    /// A hedge was due but the budget refused it.
    BudgetExhausted {
        /// When.
        at: Instant,
    },
}

/// Where the [`HedgeDelay::Quantile`] delay comes from, and where a
/// winner's latency goes: `()` for none, or a reference to a lock over a
/// [`LatencyQuantile`] shared by every call.
pub trait Latencies {
    /// The delay to use now.
    fn delay(&self) -> Duration;
    /// A winning attempt's latency, at `now`.
    fn record(&self, now: Instant, latency: Duration);
}

impl Latencies for () {
    fn delay(&self) -> Duration {
        Duration::ZERO
    }
    fn record(&self, _: Instant, _: Duration) {}
}

impl<L: Lock<LatencyQuantile>> Latencies for &L {
    fn delay(&self) -> Duration {
        self.with(|q| q.delay())
    }
    fn record(&self, now: Instant, latency: Duration) {
        self.with(|q| q.record(now, latency));
    }
}

/// One call's hedging as a [`Plan`] (see the [module docs](self)):
/// attempts start at the config's delays, at most `max_attempts`, while
/// the budget `L` (a handle to a lock over a [`RetryBudget`] `G`) allows;
/// the first success wins and the others are cancelled; a failure makes
/// the next attempt due at once; when every attempt failed, the last
/// failure is the answer.
pub struct HedgePlan<L, G, Q = (), O = ()> {
    config: HedgeConfig,
    budget: L,
    latencies: Q,
    observer: O,
    deadline: Deadline,
    launched: u32,
    /// Bit `n - 1` set: attempt `n` in flight; `launched_at` its start.
    running: u32,
    to_cancel: u32,
    launched_at: [Instant; MAX_ATTEMPTS as usize],
    next_launch: Option<Instant>,
    finish: Option<Finish>,
    clock: Monotonic,
    _budget: PhantomData<fn(&mut G)>,
}

impl<L, G, Q, O> HedgePlan<L, G, Q, O>
where
    L: Deref,
    L::Target: Lock<G>,
    G: RetryBudget,
    Q: Latencies,
    O: Observer<HedgeEvent>,
{
    /// A call starting at `now`, under `deadline` (no hedge starts at or
    /// after it), spending hedges from `budget`, taking its quantile delay
    /// from `latencies`.
    pub fn new(
        config: HedgeConfig,
        deadline: Deadline,
        budget: L,
        latencies: Q,
        observer: O,
        now: Instant,
    ) -> Self {
        let mut clock = Monotonic::new();
        let now = clock.observe(now);
        HedgePlan {
            config,
            budget,
            latencies,
            observer,
            deadline,
            launched: 0,
            running: 0,
            to_cancel: 0,
            launched_at: [now; MAX_ATTEMPTS as usize],
            next_launch: None,
            finish: None,
            clock,
            _budget: PhantomData,
        }
    }

    /// Attempts started so far.
    pub const fn attempts(&self) -> u32 {
        self.launched
    }

    /// The delay before attempt `next`, or none (only after a failure).
    fn delay_before(&self, next: u32) -> Option<Duration> {
        match self.config.delay {
            HedgeDelay::Fixed(d) => Some(d),
            HedgeDelay::Parallel => Some(Duration::ZERO),
            HedgeDelay::OnFailure => None,
            HedgeDelay::Quantile => Some(self.latencies.delay()),
            HedgeDelay::Function(f) => Some(f(next)),
        }
    }

    fn launch(&mut self, now: Instant) -> Action {
        if self.launched == 0 {
            self.budget.with(|b| b.on_call(now));
        }
        self.launched += 1;
        let number = self.launched;
        self.running |= 1 << (number - 1);
        self.launched_at[(number - 1) as usize] = now;
        self.next_launch = if number < self.config.max_attempts {
            self.delay_before(number + 1).map(|d| now.saturating_add(d))
        } else {
            None
        };
        self.observer.on_event(HedgeEvent::Launched {
            attempt: number,
            at: now,
        });
        Action::Start(Attempt {
            number,
            deadline: self.deadline,
        })
    }

    fn finish(&mut self, finish: Finish) {
        self.finish = Some(finish);
        self.to_cancel = self.running;
        self.running = 0;
        self.next_launch = None;
    }
}

impl<L, G, Q, O> Plan for HedgePlan<L, G, Q, O>
where
    L: Deref,
    L::Target: Lock<G>,
    G: RetryBudget,
    Q: Latencies,
    O: Observer<HedgeEvent>,
{
    fn poll_action(&mut self, now: Instant) -> Action {
        let now = self.clock.observe(now);
        if self.to_cancel != 0 {
            let bit = self.to_cancel.trailing_zeros();
            self.to_cancel &= !(1 << bit);
            return Action::Cancel(bit + 1);
        }
        if let Some(finish) = self.finish {
            return Action::Finish(finish);
        }
        if self.launched == 0 {
            return self.launch(now);
        }
        if let Some(at) = self.next_launch
            && now >= at
        {
            if self.deadline.is_expired(now) {
                self.next_launch = None;
            } else if self.budget.with(|b| b.try_retry(now, FailureKind::Timeout)) {
                return self.launch(now);
            } else {
                self.observer
                    .on_event(HedgeEvent::BudgetExhausted { at: now });
                self.next_launch = None;
            }
        }
        if self.running == 0 {
            // Nothing in flight and nothing more may start: the last
            // failure is the answer (or the budget and deadline said no).
            let reason = if self.launched >= self.config.max_attempts {
                GiveUp::Attempts
            } else if self.deadline.is_expired(now) {
                GiveUp::Deadline
            } else {
                GiveUp::Budget
            };
            let finish = Finish::Answer {
                attempts: self.launched,
                gave_up: Some(reason),
            };
            self.finish(finish);
            return Action::Finish(finish);
        }
        Action::Wait(self.next_launch)
    }

    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        let now = self.clock.observe(now);
        let PlanEvent::Ended { attempt, judged } = event else {
            return;
        };
        let bit = 1u32.checked_shl(attempt.wrapping_sub(1)).unwrap_or(0);
        if self.finish.is_some() || self.running & bit == 0 {
            return; // not in flight (a cancelled loser, a stranger)
        }
        self.running &= !bit;
        if judged.verdict == Verdict::Success {
            let started = self.launched_at[(attempt - 1) as usize];
            let latency = now.saturating_duration_since(started);
            self.budget.with(|b| b.on_success(now, None));
            self.latencies.record(now, latency);
            self.observer.on_event(HedgeEvent::Won {
                attempt,
                at: now,
                latency,
            });
            self.finish(Finish::Answer {
                attempts: self.launched,
                gave_up: None,
            });
            return;
        }
        self.budget.with(|b| b.on_failure(now, FailureKind::Error));
        // A failure makes the next attempt due now (if one may start).
        if self.launched < self.config.max_attempts {
            self.next_launch = Some(now);
        }
    }
}

impl<L, G, Q, O> fmt::Debug for HedgePlan<L, G, Q, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgePlan")
            .field("config", &self.config)
            .field("launched", &self.launched)
            .field("running", &self.running)
            .field("next_launch", &self.next_launch)
            .field("finish", &self.finish)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
