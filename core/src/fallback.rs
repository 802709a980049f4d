//! Fallback: which failures are answered with an alternative.
//!
//! The alternatives themselves (a value, a function of the error, another
//! operation, a chain) live in the adapters; the core says which reasons
//! qualify, so every adapter decides the same way.

use core::fmt;

use crate::plan::{Action, Attempt, Finish, Plan, PlanEvent};
use crate::retry::{GiveUp, Verdict};
use crate::timeout::Deadline;
use crate::{Instant, Observer, Rejected};

/// Why the primary path did not produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FallbackReason {
    /// The operation ran and failed.
    Failed,
    /// Another pattern rejected the call (open breaker, ...).
    Rejected(Rejected),
    /// The operation timed out.
    TimedOut,
    /// Retries gave up.
    GaveUp(GiveUp),
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackReason::Failed => f.write_str("the operation failed"),
            FallbackReason::Rejected(r) => write!(f, "rejected: {r}"),
            FallbackReason::TimedOut => f.write_str("timed out"),
            FallbackReason::GaveUp(g) => write!(f, "retries gave up: {g}"),
        }
    }
}

/// Which reasons fall back. All of them by default.
///
/// ```
/// use failsafe_core::fallback::{FallbackPolicy, FallbackReason};
/// let only_rejections = FallbackPolicy::NONE.on_rejected(true);
/// assert!(!only_rejections.applies(FallbackReason::Failed));
/// assert!(FallbackPolicy::ALL.applies(FallbackReason::TimedOut));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FallbackPolicy {
    pub(crate) failed: bool,
    pub(crate) rejected: bool,
    pub(crate) timed_out: bool,
    pub(crate) gave_up: bool,
}

impl FallbackPolicy {
    /// Fall back for every reason.
    pub const ALL: FallbackPolicy = FallbackPolicy {
        failed: true,
        rejected: true,
        timed_out: true,
        gave_up: true,
    };
    /// Fall back for nothing (start here and enable reasons one by one).
    pub const NONE: FallbackPolicy = FallbackPolicy {
        failed: false,
        rejected: false,
        timed_out: false,
        gave_up: false,
    };

    /// Whether a failed operation falls back.
    pub const fn on_failed(mut self, yes: bool) -> Self {
        self.failed = yes;
        self
    }
    /// Whether a rejection falls back.
    pub const fn on_rejected(mut self, yes: bool) -> Self {
        self.rejected = yes;
        self
    }
    /// Whether a timeout falls back.
    pub const fn on_timed_out(mut self, yes: bool) -> Self {
        self.timed_out = yes;
        self
    }
    /// Whether exhausted retries fall back.
    pub const fn on_gave_up(mut self, yes: bool) -> Self {
        self.gave_up = yes;
        self
    }

    /// Does `reason` fall back under this policy?
    pub const fn applies(&self, reason: FallbackReason) -> bool {
        match reason {
            FallbackReason::Failed => self.failed,
            FallbackReason::Rejected(_) => self.rejected,
            FallbackReason::TimedOut => self.timed_out,
            FallbackReason::GaveUp(_) => self.gave_up,
        }
    }
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        FallbackPolicy::ALL
    }
}

/// What a fallback reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FallbackEvent {
    /// Alternative number `index` (0 = the first) was used for `reason`.
    FellBack {
        /// Why.
        reason: FallbackReason,
        /// Which alternative.
        index: u32,
        /// When.
        at: Instant,
    },
}

/// A fallback chain for one call as a [`Plan`]: attempt 1 is the primary
/// operation, attempt `k + 1` the `k`-th alternative. After an attempt
/// fails for a reason the driver's judgement names
/// ([`Judged::cause`](crate::plan::Judged::cause)) and the policy accepts,
/// the next alternative starts (a [`FallbackEvent::FellBack`] with its
/// index, 0 for the first); otherwise the last attempt's result is the
/// answer.
///
/// ```
/// use failsafe_core::fallback::{FallbackPlan, FallbackPolicy, FallbackReason};
/// use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
/// use failsafe_core::retry::Verdict;
/// use failsafe_core::{timeout::Deadline, Instant};
///
/// let now = Instant::ZERO;
/// let mut plan = FallbackPlan::new(FallbackPolicy::ALL, 1, Deadline::NEVER, ());
/// assert!(matches!(plan.poll_action(now), Action::Start(a) if a.number == 1));
/// let failed = Judged { verdict: Verdict::DoNotRetry, cause: Some(FallbackReason::TimedOut) };
/// plan.on_event(now, PlanEvent::Ended { attempt: 1, judged: failed });
/// assert!(matches!(plan.poll_action(now), Action::Start(a) if a.number == 2));
/// plan.on_event(now, PlanEvent::Ended { attempt: 2, judged: Judged::SUCCESS });
/// assert_eq!(plan.poll_action(now), Action::Finish(Finish::Answer { attempts: 2, gave_up: None }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FallbackPlan<O = ()> {
    policy: FallbackPolicy,
    alternatives: u32,
    deadline: Deadline,
    /// The attempt to start at the next poll, or the one in flight.
    next: u32,
    running: bool,
    done: bool,
    observer: O,
}

impl<O: Observer<FallbackEvent>> FallbackPlan<O> {
    /// A primary and up to `alternatives` alternatives, each run under
    /// `deadline`, falling back for the reasons `policy` accepts.
    pub const fn new(
        policy: FallbackPolicy,
        alternatives: u32,
        deadline: Deadline,
        observer: O,
    ) -> Self {
        FallbackPlan {
            policy,
            alternatives,
            deadline,
            next: 1,
            running: false,
            done: false,
            observer,
        }
    }

    /// Decides after attempt `attempt` failed for `cause` at `now`: the
    /// reason to fall back for (and the next attempt is due), or `None`
    /// (the call is over). For drivers that run the alternative themselves.
    pub fn fall_back(
        &mut self,
        now: Instant,
        attempt: u32,
        cause: Option<FallbackReason>,
    ) -> Option<FallbackReason> {
        let reason = cause.filter(|r| self.policy.applies(*r))?;
        if self.done || attempt > self.alternatives {
            return None;
        }
        self.observer.on_event(FallbackEvent::FellBack {
            reason,
            index: attempt - 1,
            at: now,
        });
        Some(reason)
    }
}

impl<O: Observer<FallbackEvent>> Plan for FallbackPlan<O> {
    fn poll_action(&mut self, _now: Instant) -> Action {
        if self.done {
            Action::Finish(Finish::Answer {
                attempts: self.next,
                gave_up: None,
            })
        } else if self.running {
            Action::Wait(None)
        } else {
            self.running = true;
            Action::Start(Attempt {
                number: self.next,
                deadline: self.deadline,
            })
        }
    }

    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        let PlanEvent::Ended { attempt, judged } = event else {
            return;
        };
        if !self.running || attempt != self.next {
            return;
        }
        self.running = false;
        let failed = judged.verdict != Verdict::Success;
        match failed.then(|| self.fall_back(now, attempt, judged.cause)) {
            Some(Some(_)) => self.next += 1,
            _ => self.done = true,
        }
    }
}
