//! Retry: a per-call state machine that says "retry at T" or "give up,
//! because ...", plus budgets shared across calls.
//!
//! The adapter's loop is always the same:
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::retry::{BackoffKind, Decision, GiveUp, Jitter, NoBudget, Retry, RetryConfig, Verdict};
//! use failsafe_core::rng::Xorshift64;
//! use failsafe_core::Instant;
//!
//! let config = RetryConfig::builder()
//!     .max_attempts(3)
//!     .backoff(BackoffKind::Constant(Duration::from_millis(100)))
//!     .jitter(Jitter::None)
//!     .build()
//!     .unwrap();
//! let (mut rng, mut budget) = (Xorshift64::new(1), NoBudget);
//! let mut now = Instant::ZERO;
//! let mut retry = Retry::new(config, now);
//! let outcome = loop {
//!     let attempt = retry.start_attempt(now, &mut budget).unwrap();
//!     let failed = attempt < 3; // the operation fails twice, then succeeds
//!     now = now + Duration::from_millis(5);
//!     let verdict = if failed { Verdict::retry() } else { Verdict::Success };
//!     match retry.on_result(now, verdict, &mut rng, &mut budget) {
//!         Decision::RetryAt { at, .. } => now = at, // the adapter sleeps until `at`
//!         Decision::Done => break Ok(attempt),
//!         Decision::GiveUp(reason) => break Err(reason),
//!     }
//! };
//! assert_eq!(outcome, Ok::<u32, GiveUp>(3));
//! assert_eq!(now, Instant::from_millis(215)); // 5 + 100 + 5 + 100 + 5
//! ```

mod backoff;
mod budget;
mod plan;
#[cfg(test)]
mod tests;

pub use backoff::{Backoff, BackoffKind, BackoffState, Jitter};
pub use budget::{
    FailureKind, GrpcThrottle, GrpcThrottleBuilder, NoBudget, RatioBudget, RatioBudgetBuilder,
    RetryBudget, TokenQuota, TokenQuotaBuilder,
};
pub use plan::{BudgetHandle, RetryPlan};

use core::borrow::Borrow;
use core::fmt;
use core::time::Duration;

use crate::rng::Rng;
use crate::time::Monotonic;
use crate::{ConfigError, Instant, Observer, Problem, RejectReason, Rejected};

/// How a server's retry-after hint changes the computed delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RetryAfter {
    /// Ignore hints.
    Ignore,
    /// Use the hint, clamped to `[computed, computed + max_extra]` (AWS's
    /// 2026 rule, with `max_extra` = 5 s).
    Clamp {
        /// How far past the computed delay a hint may push the retry.
        max_extra: Duration,
    },
    /// Use the hint as given, up to `max`.
    Trust {
        /// The longest hint honoured.
        max: Duration,
    },
}

impl RetryAfter {
    #[inline]
    fn apply(self, computed: Duration, hint: Option<Duration>) -> Duration {
        match (self, hint) {
            (_, None) | (RetryAfter::Ignore, _) => computed,
            // `max(..).min(..)`, not `clamp`: the same since the upper end is
            // never below the lower, without `clamp`'s panic path.
            (RetryAfter::Clamp { max_extra }, Some(h)) => {
                h.max(computed).min(computed.saturating_add(max_extra))
            }
            (RetryAfter::Trust { max }, Some(h)) => h.min(max),
        }
    }
}

/// A validated retry policy. `Copy`: each call starts its own [`Retry`] from it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RetryConfig {
    max_attempts: Option<u32>,
    max_elapsed: Option<Duration>,
    backoff: BackoffKind,
    jitter: Jitter,
    pub(crate) retry_after: RetryAfter,
    pub(crate) min_remaining: Duration,
}

impl RetryConfig {
    /// A builder with the defaults: 3 attempts, exponential backoff from
    /// 100 ms doubling up to 10 s, full jitter, retry-after hints clamped to
    /// `[computed, computed + 5 s]`, no time limit.
    ///
    /// ```
    /// # use failsafe_core::retry::RetryConfig;
    /// assert_eq!(RetryConfig::builder().build().unwrap().max_attempts(), Some(3));
    /// ```
    pub const fn builder() -> RetryConfigBuilder {
        RetryConfigBuilder {
            config: RetryConfig {
                max_attempts: Some(3),
                max_elapsed: None,
                backoff: BackoffKind::Exponential {
                    initial: Duration::from_millis(100),
                    multiplier: 2.0,
                    max: Duration::from_secs(10),
                },
                jitter: Jitter::Full,
                retry_after: RetryAfter::Clamp {
                    max_extra: Duration::from_secs(5),
                },
                min_remaining: Duration::ZERO,
            },
        }
    }

    /// The attempt limit (first attempt included); `None` is unlimited.
    pub const fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The limit on when the last retry may start, from the first attempt.
    pub const fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The backoff shape.
    pub const fn backoff(&self) -> BackoffKind {
        self.backoff
    }

    /// The jitter.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The backoff shape, in place.
    pub(crate) const fn backoff_ref(&self) -> &BackoffKind {
        &self.backoff
    }

    /// Whether a call under this config may run its first attempt before
    /// its plan is made (and make the plan only if that attempt does not
    /// succeed): the call has no `deadline`, the config no `max_elapsed`,
    /// the budget `G` keeps no state and reads no time
    /// ([`RetryBudget::is_unlimited`], [`RetryBudget::uses_time`]), the
    /// `observer` is silent, and results are judged without the time
    /// (`timeless_judge`). The one rule behind
    /// [`RetryPlan::first_attempt_alone`] and the drivers that hold off
    /// making the plan.
    ///
    /// ```
    /// use failsafe_core::retry::{NoBudget, RetryConfig, TokenQuota};
    /// use failsafe_core::timeout::Deadline;
    /// use failsafe_core::Instant;
    ///
    /// let config = RetryConfig::builder().build().unwrap();
    /// assert!(config.first_attempt_alone::<NoBudget, _>(Deadline::NEVER, &(), true));
    /// assert!(!config.first_attempt_alone::<NoBudget, _>(Deadline::NEVER, &(), false));
    /// assert!(!config.first_attempt_alone::<TokenQuota, _>(Deadline::NEVER, &(), true));
    /// let soon = Deadline::at(Instant::from_secs(1));
    /// assert!(!config.first_attempt_alone::<NoBudget, _>(soon, &(), true));
    /// ```
    #[inline]
    pub fn first_attempt_alone<G: RetryBudget, O: Observer<RetryEvent>>(
        &self,
        deadline: crate::timeout::Deadline,
        observer: &O,
        timeless_judge: bool,
    ) -> bool {
        timeless_judge
            && G::is_unlimited()
            && !G::uses_time()
            && observer.is_silent()
            && deadline.is_never()
            && self.max_elapsed.is_none()
    }
}

/// Builds a [`RetryConfig`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RetryConfigBuilder {
    config: RetryConfig,
}

impl RetryConfigBuilder {
    /// At most `n` attempts in all (`n >= 1`; 1 means no retry): attempt `n`
    /// is made, attempt `n + 1` never is ([`GiveUp::Attempts`]).
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = Some(n);
        self
    }

    /// No attempt limit (bound the call with `max_elapsed`, a deadline or a budget).
    pub const fn unlimited_attempts(mut self) -> Self {
        self.config.max_attempts = None;
        self
    }

    /// No retry starts later than `limit` after the first attempt started.
    /// Boundary: a retry due **exactly** `limit` after the start is made; one
    /// due 1 ns later gives up with [`GiveUp::Elapsed`].
    pub const fn max_elapsed(mut self, limit: Duration) -> Self {
        self.config.max_elapsed = Some(limit);
        self
    }

    /// The backoff shape.
    pub const fn backoff(mut self, backoff: BackoffKind) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// The jitter added to each delay.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.config.jitter = jitter;
        self
    }

    /// How a server's retry-after hint is used.
    pub const fn retry_after(mut self, policy: RetryAfter) -> Self {
        self.config.retry_after = policy;
        self
    }

    /// Skip a retry that would leave less than this before the deadline
    /// (e.g. the per-attempt timeout: a retry that cannot finish is not made).
    /// Boundary: a retry leaving **exactly** this much is made; one starting
    /// at (or after) the deadline never is, whatever this is.
    pub const fn min_remaining(mut self, time: Duration) -> Self {
        self.config.min_remaining = time;
        self
    }

    /// Checks every field; the error names the first bad one.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::RetryConfig;
    /// assert_eq!(RetryConfig::builder().max_attempts(0).build().unwrap_err().field, "max_attempts");
    /// assert_eq!(RetryConfig::builder().max_elapsed(Duration::ZERO).build().unwrap_err().field, "max_elapsed");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for the first invalid field and its
    /// [`Problem`], in this order:
    /// - `max_attempts` zero, `max_elapsed` (when set) zero (`Zero`);
    /// - then the backoff's and the jitter's, as
    ///   [`BackoffKind::validate`] and [`Jitter::validate`] report them.
    pub const fn build(self) -> Result<RetryConfig, ConfigError> {
        if let Some(0) = self.config.max_attempts {
            return Err(ConfigError::new("max_attempts", Problem::Zero));
        }
        if let Some(limit) = self.config.max_elapsed
            && limit.is_zero()
        {
            return Err(ConfigError::new("max_elapsed", Problem::Zero));
        }
        if let Err(e) = self.config.backoff.validate() {
            return Err(e);
        }
        if let Err(e) = self.config.jitter.validate() {
            return Err(e);
        }
        Ok(self.config)
    }
}

/// What the caller's classifier made of an attempt's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Verdict {
    /// The attempt succeeded: stop.
    Success,
    /// The attempt failed and may be retried.
    Retry {
        /// How it failed (budgets may price kinds differently).
        kind: FailureKind,
        /// The server's hint of when to retry, if any.
        retry_after: Option<Duration>,
    },
    /// The attempt failed in a way retrying cannot fix (e.g. a 400).
    DoNotRetry,
    /// An abort condition matched: stop at once.
    Abort,
}

impl Verdict {
    /// A retryable error without a hint.
    pub const fn retry() -> Verdict {
        Verdict::Retry {
            kind: FailureKind::Error,
            retry_after: None,
        }
    }

    /// The verdict on a call this library rejected at `now`: the one rule
    /// for every rejection reason.
    ///
    /// | the rejection | verdict |
    /// |---|---|
    /// | `retry_at: Some(t)` (breaker open, rate limited, fail fast with a probe due) | [`Retry`](Verdict::Retry) as [`Throttled`](FailureKind::Throttled) with the hint `t - now` (zero if `t` has passed), which the retry clamps or trusts by its [`RetryAfter`] rule |
    /// | `retry_at: None` (half-open breaker with every probe out, forced open, bulkhead full, queue full or wait expired, fail fast open until healthy or with its probe out) | `Retry` as `Throttled`, no hint: the retry's own backoff |
    /// | [never](Rejected::is_never) (more permits than a limiter can ever grant) | [`DoNotRetry`](Verdict::DoNotRetry): no later attempt can be admitted |
    /// | [`DeadlineTooShort`](RejectReason::DeadlineTooShort) | `DoNotRetry`: the caller's remaining time only shrinks |
    /// | [`FeatureDisabled`](RejectReason::FeatureDisabled) | `DoNotRetry`: a disabled feature is a decision, not an overload (take the disabled path) |
    ///
    /// A timeout is retried as [`FailureKind::Timeout`] without a hint.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::retry::{FailureKind, Verdict};
    /// use failsafe_core::{Instant, RejectReason, Rejected};
    ///
    /// let open = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(30)));
    /// assert_eq!(
    ///     Verdict::for_rejection(&open, Instant::from_secs(10)),
    ///     Verdict::Retry { kind: FailureKind::Throttled, retry_after: Some(Duration::from_secs(20)) },
    /// );
    /// let full = Rejected::new(RejectReason::BulkheadFull, None);
    /// assert_eq!(
    ///     Verdict::for_rejection(&full, Instant::ZERO),
    ///     Verdict::Retry { kind: FailureKind::Throttled, retry_after: None },
    /// );
    /// let never = Rejected::never(RejectReason::RateInsufficientCapacity);
    /// assert_eq!(Verdict::for_rejection(&never, Instant::ZERO), Verdict::DoNotRetry);
    /// ```
    pub fn for_rejection(rejected: &Rejected, now: Instant) -> Verdict {
        if rejected.is_never()
            || matches!(
                rejected.reason,
                RejectReason::DeadlineTooShort | RejectReason::FeatureDisabled
            )
        {
            return Verdict::DoNotRetry;
        }
        Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: rejected.retry_after(now),
        }
    }
}

/// Why a call gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GiveUp {
    /// The attempt limit was reached.
    Attempts,
    /// The next retry would start after `max_elapsed`.
    Elapsed,
    /// The next retry could not start (or leave `min_remaining`) before the deadline.
    Deadline,
    /// The retry budget is exhausted.
    Budget,
    /// An abort condition matched.
    Aborted,
    /// The failure is not retryable.
    NotRetryable,
}

impl GiveUp {
    /// A short description.
    ///
    /// ```
    /// # use failsafe_core::retry::GiveUp;
    /// assert_eq!(GiveUp::Budget.as_str(), "retry budget exhausted");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUp::Attempts => "attempts exhausted",
            GiveUp::Elapsed => "retry time limit reached",
            GiveUp::Deadline => "no retry fits before the deadline",
            GiveUp::Budget => "retry budget exhausted",
            GiveUp::Aborted => "aborted",
            GiveUp::NotRetryable => "failure is not retryable",
        }
    }
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for GiveUp {}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decision {
    /// The call succeeded.
    Done,
    /// Start the next attempt at `at` (after sleeping `delay`).
    RetryAt {
        /// When.
        at: Instant,
        /// How long from the result to `at`.
        delay: Duration,
    },
    /// Stop, for this reason.
    GiveUp(GiveUp),
}

/// How a [`Retry`] ended: the [`Decision`]s that are final, kept in two
/// bytes rather than a whole decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finished {
    Done,
    GiveUp(GiveUp),
}

/// What a [`Retry`] reports to its observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RetryEvent {
    /// An attempt failed.
    AttemptFailed {
        /// Its number (1 = the first attempt).
        attempt: u32,
        /// When.
        at: Instant,
        /// How.
        kind: FailureKind,
        /// How long it ran (from its start to `at`).
        took: Duration,
    },
    /// A retry was scheduled.
    RetryScheduled {
        /// The number of the attempt that will run.
        attempt: u32,
        /// When it will run.
        retry_at: Instant,
        /// The delay chosen.
        delay: Duration,
    },
    /// The call gave up (exhaustion, abort, deadline, budget, ...).
    GaveUp {
        /// Why.
        reason: GiveUp,
        /// When.
        at: Instant,
        /// Attempts made.
        attempts: u32,
        /// How long the call ran (from its first attempt's start to `at`).
        elapsed: Duration,
    },
    /// The call succeeded.
    Succeeded {
        /// Attempts made.
        attempts: u32,
        /// When.
        at: Instant,
        /// How long the successful attempt ran.
        took: Duration,
        /// How long the call ran (from its first attempt's start to `at`).
        elapsed: Duration,
    },
}

/// One call's retries: created per call, fed each attempt's verdict.
///
/// Generic over the backoff (`B`, by default the config's built-in shape),
/// an observer (`O`) and where the config is held (`C`: a [`RetryConfig`]
/// by value, the default, or anything that lends one, [`Borrow<RetryConfig>`]:
/// a `&'static RetryConfig`, or a zero-sized [`const_config!`](crate::const_config)
/// type naming a `const`, which lets the compiler fold the config away).
/// Time is clamped so a clock stepping back is no time passed.
#[derive(Debug)]
pub struct Retry<B = BackoffState, O = (), C = RetryConfig> {
    config: C,
    backoff: B,
    observer: O,
    started: Instant,
    attempt_started: Instant,
    /// The deadline, read only when `has_deadline` (an `Option<Instant>`
    /// would take a word more for its tag).
    deadline: Instant,
    attempts: u32,
    last_failure: Option<FailureKind>,
    /// When the scheduled retry is due, read only when `waiting` (kept
    /// apart from its flag for the same reason as `deadline`).
    waiting_until: Instant,
    has_deadline: bool,
    waiting: bool,
    finished: Option<Finished>,
    clock: Monotonic,
    /// The attempt limit in force: the config's, unless
    /// [`with_max_attempts`](Retry::with_max_attempts) replaced it; `0`
    /// for none (a limit is at least 1), so it fits beside `attempts`.
    max_attempts: u32,
}

/// An attempt limit as one word: `0` for none (`Some(0)` never passes the
/// config's check, and a call's limit is raised to 1).
#[inline(always)]
const fn limit_word(limit: Option<u32>) -> u32 {
    match limit {
        Some(n) => n,
        None => 0,
    }
}

impl Retry<BackoffState, ()> {
    /// A call starting at `now` with the config's backoff.
    #[inline]
    pub fn new(config: RetryConfig, now: Instant) -> Self {
        Retry::with_backoff(config, config.backoff.start(), now)
    }
}

impl<B: Backoff, C: Borrow<RetryConfig>> Retry<B, (), C> {
    /// A call starting at `now` with a custom backoff.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::{Backoff, Decision, NoBudget, Retry, RetryConfig, Verdict, Jitter};
    /// # use failsafe_core::{rng::{Rng, Xorshift64}, Instant};
    /// struct Twice;
    /// impl Backoff for Twice {
    ///     fn delay(&mut self, retry: u32, _: &mut dyn Rng) -> Duration { Duration::from_secs(2 * u64::from(retry)) }
    /// }
    /// let config = RetryConfig::builder().jitter(Jitter::None).build().unwrap();
    /// let mut r = Retry::with_backoff(config, Twice, Instant::ZERO);
    /// r.start_attempt(Instant::ZERO, &mut NoBudget).unwrap();
    /// let d = r.on_result(Instant::ZERO, Verdict::retry(), &mut Xorshift64::new(1), &mut NoBudget);
    /// assert_eq!(d, Decision::RetryAt { at: Instant::from_secs(2), delay: Duration::from_secs(2) });
    /// ```
    #[inline]
    pub fn with_backoff(config: C, backoff: B, now: Instant) -> Self {
        let mut clock = Monotonic::new();
        let started = clock.observe(now);
        let max_attempts = limit_word(config.borrow().max_attempts);
        Retry {
            config,
            backoff,
            observer: (),
            started,
            attempt_started: started,
            deadline: Instant::MAX,
            attempts: 0,
            last_failure: None,
            waiting_until: Instant::ZERO,
            has_deadline: false,
            waiting: false,
            finished: None,
            clock,
            max_attempts,
        }
    }
}

impl<B: Backoff, O: Observer<RetryEvent>, C: Borrow<RetryConfig>> Retry<B, O, C> {
    /// Starts over as a fresh call at `now` with `backoff`: the machine
    /// [`with_backoff`](Retry::with_backoff) makes, keeping this one's
    /// config and observer (no deadline, the config's attempt limit).
    #[inline]
    pub(crate) fn restart(&mut self, backoff: B, now: Instant) {
        let mut clock = Monotonic::new();
        let started = clock.observe(now);
        self.backoff = backoff;
        self.started = started;
        self.attempt_started = started;
        self.deadline = Instant::MAX;
        self.attempts = 0;
        self.last_failure = None;
        self.waiting_until = Instant::ZERO;
        self.has_deadline = false;
        self.waiting = false;
        self.finished = None;
        self.clock = clock;
        self.max_attempts = limit_word(self.config.borrow().max_attempts);
    }

    /// Reports events to `observer` from now on.
    #[inline]
    pub fn observed<P: Observer<RetryEvent>>(self, observer: P) -> Retry<B, P, C> {
        Retry {
            config: self.config,
            backoff: self.backoff,
            observer,
            started: self.started,
            attempt_started: self.attempt_started,
            deadline: self.deadline,
            attempts: self.attempts,
            last_failure: self.last_failure,
            waiting_until: self.waiting_until,
            has_deadline: self.has_deadline,
            waiting: self.waiting,
            finished: self.finished,
            clock: self.clock,
            max_attempts: self.max_attempts,
        }
    }

    /// This call's attempt limit is `max` instead of the config's (`None`:
    /// no limit): a limit changed at run time (a registry's
    /// `set_max_attempts`) reaches a call this way, its config untouched.
    /// A limit of `Some(0)` is read as `Some(1)`: the first attempt always
    /// runs.
    ///
    /// ```
    /// use failsafe_core::retry::{Decision, GiveUp, NoBudget, Retry, RetryConfig, Verdict};
    /// use failsafe_core::{rng::Xorshift64, Instant};
    ///
    /// let config = RetryConfig::builder().max_attempts(5).build().unwrap();
    /// let mut r = Retry::new(config, Instant::ZERO).with_max_attempts(Some(1));
    /// r.start_attempt(Instant::ZERO, &mut NoBudget).unwrap();
    /// let d = r.on_result(Instant::ZERO, Verdict::retry(), &mut Xorshift64::new(1), &mut NoBudget);
    /// assert_eq!(d, Decision::GiveUp(GiveUp::Attempts));
    /// ```
    #[inline]
    #[must_use]
    pub fn with_max_attempts(mut self, max: Option<u32>) -> Self {
        self.max_attempts = limit_word(max.map(|m| m.max(1)));
        self
    }

    /// No retry will be scheduled to start at or after `deadline` (the
    /// caller's remaining budget, see [`Deadline`](crate::timeout::Deadline)),
    /// and [`start_attempt`](Self::start_attempt) at exactly `deadline` gives
    /// up: the deadline has passed at its own instant, as
    /// [`Deadline::is_expired`](crate::timeout::Deadline::is_expired) says.
    #[inline]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.set_deadline(deadline);
        self
    }

    /// [`with_deadline`](Self::with_deadline) in place.
    #[inline]
    pub(crate) fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.has_deadline = true;
    }

    /// Starts the next attempt at `now` and returns its number (1-based).
    ///
    /// # Errors
    ///
    /// The call is over: the reason it gave up if it did, and
    /// [`GiveUp::Attempts`] once it succeeded (nothing is left to try);
    /// [`GiveUp::Deadline`] if the deadline is at or before `now`;
    /// [`GiveUp::Attempts`] if the attempt limit is reached (a driver that
    /// starts again without reporting cannot pass it).
    #[inline]
    pub fn start_attempt<G: RetryBudget>(
        &mut self,
        now: Instant,
        budget: &mut G,
    ) -> Result<u32, GiveUp> {
        let now = self.clock.observe(now);
        match self.finished {
            Some(Finished::GiveUp(reason)) => return Err(reason),
            Some(_) => return Err(GiveUp::Attempts),
            None => {}
        }
        if self.has_deadline && now >= self.deadline {
            return Err(self.give_up(now, GiveUp::Deadline));
        }
        // A driver that starts again without reporting cannot pass the limit.
        if self.max_attempts != 0 && self.attempts >= self.max_attempts {
            return Err(self.give_up(now, GiveUp::Attempts));
        }
        if self.attempts == 0 {
            budget.on_call(now);
        }
        self.waiting = false;
        if !self.observer.is_silent() {
            // Only a listener hears an attempt's duration.
            self.attempt_started = now;
        }
        self.attempts = self.attempts.saturating_add(1);
        Ok(self.attempts)
    }

    /// The verdict on the attempt that just ended at `now`: done, retry at
    /// T, or give up with a reason. Draws jitter from `rng`; asks `budget`
    /// before scheduling a retry (never blocks on it).
    #[inline]
    pub fn on_result<G: RetryBudget>(
        &mut self,
        now: Instant,
        verdict: Verdict,
        rng: &mut dyn Rng,
        budget: &mut G,
    ) -> Decision {
        let now = self.clock.observe(now);
        if let Some(done) = self.finished {
            return match done {
                Finished::Done => Decision::Done,
                Finished::GiveUp(reason) => Decision::GiveUp(reason),
            };
        }
        // The success inline (the common case, a few stores), the rest
        // out of line.
        if let Verdict::Success = verdict {
            budget.on_success(now, self.last_failure);
            if !self.observer.is_silent() {
                self.observer.on_event(RetryEvent::Succeeded {
                    attempts: self.attempts,
                    at: now,
                    took: now.saturating_duration_since(self.attempt_started),
                    elapsed: now.saturating_duration_since(self.started),
                });
            }
            self.finished = Some(Finished::Done);
            self.waiting = false;
            return Decision::Done;
        }
        self.on_failed(now, verdict, rng, budget)
    }

    /// [`on_result`](Self::on_result) for anything but a success, at a
    /// `now` already observed, the call not finished.
    #[inline(never)]
    fn on_failed<G: RetryBudget>(
        &mut self,
        now: Instant,
        verdict: Verdict,
        rng: &mut dyn Rng,
        budget: &mut G,
    ) -> Decision {
        let kind = match verdict {
            Verdict::Success => return Decision::Done,
            Verdict::DoNotRetry | Verdict::Abort => {
                budget.on_failure(now, FailureKind::Error);
                if !self.observer.is_silent() {
                    self.observer.on_event(RetryEvent::AttemptFailed {
                        attempt: self.attempts,
                        at: now,
                        kind: FailureKind::Error,
                        took: now.saturating_duration_since(self.attempt_started),
                    });
                }
                let reason = if verdict == Verdict::Abort {
                    GiveUp::Aborted
                } else {
                    GiveUp::NotRetryable
                };
                return Decision::GiveUp(self.give_up(now, reason));
            }
            Verdict::Retry { kind, .. } => kind,
        };
        budget.on_failure(now, kind);
        if !self.observer.is_silent() {
            self.observer.on_event(RetryEvent::AttemptFailed {
                attempt: self.attempts,
                at: now,
                kind,
                took: now.saturating_duration_since(self.attempt_started),
            });
        }
        self.last_failure = Some(kind);
        if self.max_attempts != 0 && self.attempts >= self.max_attempts {
            return Decision::GiveUp(self.give_up(now, GiveUp::Attempts));
        }
        let hint = match verdict {
            Verdict::Retry { retry_after, .. } => retry_after,
            _ => None,
        };
        let config = self.config.borrow();
        let base = self.backoff.delay_in(config, self.attempts, rng);
        let delay = config
            .retry_after
            .apply(config.jitter.apply(base, rng), hint);
        let at = now.saturating_add(delay);
        // Near the end of time `at` saturates: report the delay actually left.
        let delay = at.saturating_duration_since(now);
        if self
            .cfg()
            .max_elapsed
            .is_some_and(|max| at.saturating_duration_since(self.started) > max)
        {
            return Decision::GiveUp(self.give_up(now, GiveUp::Elapsed));
        }
        // A retry must start before the deadline and leave at least
        // `min_remaining` (exactly `min_remaining` is enough).
        if self.has_deadline
            && (at >= self.deadline
                || self.deadline.saturating_duration_since(at) < self.cfg().min_remaining)
        {
            return Decision::GiveUp(self.give_up(now, GiveUp::Deadline));
        }
        if !budget.try_retry(now, kind) {
            return Decision::GiveUp(self.give_up(now, GiveUp::Budget));
        }
        self.waiting_until = at;
        self.waiting = true;
        self.observer.on_event(RetryEvent::RetryScheduled {
            attempt: self.attempts + 1,
            retry_at: at,
            delay,
        });
        Decision::RetryAt { at, delay }
    }

    /// While waiting for a retry: when it is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.waiting {
            Some(self.waiting_until)
        } else {
            None
        }
    }

    /// The deadline set by [`with_deadline`](Self::with_deadline), or
    /// [`Instant::MAX`] for none.
    #[inline(always)]
    pub(crate) const fn deadline_or_max(&self) -> Instant {
        self.deadline
    }

    /// When the scheduled retry is due; meaningful only while
    /// [`next_deadline`](Self::next_deadline) is `Some`.
    #[inline(always)]
    pub(crate) const fn waiting_until(&self) -> Instant {
        self.waiting_until
    }

    /// Attempts started so far.
    pub const fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the first attempt started.
    pub const fn started(&self) -> Instant {
        self.started
    }

    /// The observer.
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// `max(now, the latest instant seen)`, remembered: the clock
    /// contract, for a plan that is told the time between decisions.
    #[inline(always)]
    pub(crate) fn observe(&mut self, now: Instant) -> Instant {
        self.clock.observe(now)
    }

    /// A call made before its start was known (a retry plan that read no
    /// clock): it starts at `now`, if no attempt has yet.
    #[inline]
    pub(crate) fn restart_at(&mut self, now: Instant) {
        if self.attempts == 0 {
            self.started = self.clock.observe(now);
        }
    }

    /// The configuration, wherever it is held.
    #[inline(always)]
    pub(crate) fn cfg(&self) -> &RetryConfig {
        self.config.borrow()
    }

    fn give_up(&mut self, now: Instant, reason: GiveUp) -> GiveUp {
        self.finished = Some(Finished::GiveUp(reason));
        self.waiting = false;
        if !self.observer.is_silent() {
            self.observer.on_event(RetryEvent::GaveUp {
                reason,
                at: now,
                attempts: self.attempts,
                elapsed: now.saturating_duration_since(self.started),
            });
        }
        reason
    }
}

/// A `const` configuration as a zero-sized type that lends it
/// ([`Borrow`](core::borrow::Borrow)): for the `C` parameter of
/// [`Retry`], [`RetryPlan`] and
/// [`CircuitBreaker`](crate::breaker::CircuitBreaker). It costs no RAM (no
/// copy, not even a pointer), and since the machine reads the `const`
/// itself, the compiler folds the configuration into the code: a retry
/// keeps only its backoff shape's and jitter's code, a breaker drops the
/// rules it does not use (what firmware `.text` measures).
///
/// `const_config!(VIS NAME: TYPE = VALUE);` declares `struct NAME` (with
/// the attributes and doc comments written before it, and `Clone`, `Copy`,
/// `Debug`, `Default`, `PartialEq`, `Eq`, `Hash`), its associated const
/// `NAME::CONFIG` and `Borrow<TYPE> for NAME`. Check a built config with
/// [`checked`](crate::checked): a bad value fails the build.
///
/// ```
/// use core::borrow::Borrow;
/// use core::time::Duration;
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
/// use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
/// use failsafe_core::{checked, const_config};
///
/// const_config! {
///     /// Four attempts, 10 ms doubling, full jitter.
///     pub Gps: RetryConfig = checked(RetryConfig::builder()
///         .max_attempts(4)
///         .backoff(BackoffKind::Exponential { initial: Duration::from_millis(10), multiplier: 2.0, max: Duration::from_millis(100) })
///         .jitter(Jitter::Full)
///         .build());
/// }
/// const_config!(Sensor: BreakerConfig = checked(BreakerConfig::builder().minimum_calls(20).build()));
///
/// assert_eq!(core::mem::size_of::<Gps>(), 0);
/// let config: &RetryConfig = Gps.borrow();
/// assert_eq!(config.max_attempts(), Some(4));
/// let breaker = CircuitBreaker::new(Sensor, CountWindow::<128>::new());
/// assert_eq!(*breaker.config(), Sensor::CONFIG);
/// ```
#[macro_export]
macro_rules! const_config {
    ($(#[$attr:meta])* $vis:vis $name:ident: $ty:ty = $value:expr $(;)?) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        $vis struct $name;

        impl $name {
            /// The configuration this type lends.
            $vis const CONFIG: $ty = $value;
        }

        impl ::core::borrow::Borrow<$ty> for $name {
            #[inline(always)]
            fn borrow(&self) -> &$ty {
                &Self::CONFIG
            }
        }
    };
}
