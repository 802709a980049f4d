//! The retry as a [`Plan`]: the [`Retry`] machine plus what one call needs
//! around it (a handle to the shared budget, the jitter source, the
//! caller's deadline).

use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use super::backoff::ConfigShape;
use super::{Decision, Retry, RetryBudget, RetryConfig, RetryEvent};
use crate::plan::{Action, Attempt, Finish, Plan, PlanEvent};
use crate::rng::Rng;
use crate::sync::Lock;
use crate::timeout::Deadline;
use crate::{Instant, Observer};

/// One call's retries as a [`Plan`]: start an attempt, wait for it, sleep
/// until the backoff's instant, start again, until an attempt succeeds or
/// the policy gives up.
///
/// It owns everything the call needs (the [`Retry`] machine, a handle `L`
/// to the shared budget, the jitter source `N`, the observer), so it can
/// live inside a `'static` future. The config `C` is a [`RetryConfig`] by
/// value, or anything lending one (`&'static RetryConfig`, a zero-sized
/// [`const_config!`](crate::const_config) type: read in place at each
/// decision, so a `const` one folds into the code). The handle is anything that derefs to a
/// [`Lock`] over the budget: `&lock`, `Arc<lock>`, `&NoBudget` for none. The
/// budget is locked only while a decision is made, never across a sleep or
/// an attempt.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
/// use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, NoBudget, RetryConfig, RetryPlan, Verdict};
/// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
///
/// let config = RetryConfig::builder()
///     .max_attempts(2)
///     .backoff(BackoffKind::Constant(Duration::from_millis(10)))
///     .jitter(Jitter::None)
///     .build()
///     .unwrap();
/// let t0 = Instant::ZERO;
/// let mut plan = RetryPlan::new(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), (), t0);
/// assert_eq!(plan.poll_action(t0), Action::Start(Attempt { number: 1, deadline: Deadline::NEVER }));
/// assert_eq!(plan.poll_action(t0), Action::Wait(None)); // the attempt is in flight
/// plan.on_event(t0, PlanEvent::Ended { attempt: 1, judged: Judged::verdict(Verdict::retry()) });
/// let t1 = Instant::from_millis(10);
/// assert_eq!(plan.poll_action(t0), Action::Wait(Some(t1))); // the backoff
/// plan.on_event(t1, PlanEvent::Timer);
/// assert_eq!(plan.poll_action(t1), Action::Start(Attempt { number: 2, deadline: Deadline::NEVER }));
/// plan.on_event(t1, PlanEvent::Ended { attempt: 2, judged: Judged::verdict(Verdict::retry()) });
/// let gave_up = Finish::Answer { attempts: 2, gave_up: Some(GiveUp::Attempts) };
/// assert_eq!(plan.poll_action(t1), Action::Finish(gave_up));
/// ```
pub struct RetryPlan<L, G, N, O = (), C = RetryConfig> {
    machine: Retry<ConfigShape, O, C>,
    budget: L,
    rng: N,
    deadline: Deadline,
    phase: Phase,
    _budget: PhantomData<fn(&mut G)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Start an attempt at the next poll.
    Ready,
    Running(u32),
    Sleeping(Instant),
    Done(Finish),
}

impl<L, G, N, O, C> RetryPlan<L, G, N, O, C>
where
    L: Deref,
    L::Target: Lock<G>,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
{
    /// A call starting at `now` under `config`; no retry is scheduled at or
    /// after `deadline`, and every attempt is handed it. `budget` is a handle
    /// to the (shared) budget; the call counts towards it when its first
    /// attempt starts.
    #[inline]
    pub fn new(
        config: C,
        deadline: Deadline,
        budget: L,
        rng: N,
        observer: O,
        now: Instant,
    ) -> Self {
        RetryPlan {
            machine: Retry::with_backoff(config, ConfigShape::new(), now)
                .with_deadline(deadline.instant())
                .observed(observer),
            budget,
            rng,
            deadline,
            phase: Phase::Ready,
            _budget: PhantomData,
        }
    }

    fn start(&mut self, now: Instant) -> Action {
        let machine = &mut self.machine;
        match self.budget.with(|b| machine.start_attempt(now, b)) {
            Ok(number) => {
                self.phase = Phase::Running(number);
                Action::Start(Attempt {
                    number,
                    deadline: self.deadline,
                })
            }
            Err(reason) => self.finish(Finish::GaveUp {
                reason,
                attempts: self.machine.attempts(),
            }),
        }
    }

    fn finish(&mut self, finish: Finish) -> Action {
        self.phase = Phase::Done(finish);
        Action::Finish(finish)
    }
}

impl<L, G, N, O: Observer<RetryEvent>, C: Borrow<RetryConfig>> RetryPlan<L, G, N, O, C> {
    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.machine.attempts()
    }

    /// The caller's deadline, handed to every attempt.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// While waiting for a retry: when it is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sleeping(at) => Some(at),
            _ => None,
        }
    }
}

impl<L, G, N, O, C> Plan for RetryPlan<L, G, N, O, C>
where
    L: Deref,
    L::Target: Lock<G>,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
{
    fn poll_action(&mut self, now: Instant) -> Action {
        match self.phase {
            Phase::Ready => self.start(now),
            Phase::Running(_) => Action::Wait(None),
            Phase::Sleeping(at) if now >= at => self.start(now),
            Phase::Sleeping(at) => Action::Wait(Some(at)),
            Phase::Done(finish) => Action::Finish(finish),
        }
    }

    /// An ended attempt is judged by the [`Retry`] machine: retry at an
    /// instant, or stop with the attempt's result as the answer. A value
    /// the classifier wanted retried is still the answer when the retries
    /// give up: it is the best there is.
    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        let Phase::Running(running) = self.phase else {
            return; // a timer needs no bookkeeping: the next poll compares instants
        };
        let PlanEvent::Ended { attempt, judged } = event else {
            return;
        };
        if attempt != running {
            return;
        }
        let (machine, rng) = (&mut self.machine, &mut self.rng);
        let decision = self
            .budget
            .with(|b| machine.on_result(now, judged.verdict, rng, b));
        let attempts = self.machine.attempts();
        self.phase = match decision {
            Decision::RetryAt { at, .. } => Phase::Sleeping(at),
            Decision::Done => Phase::Done(Finish::Answer {
                attempts,
                gave_up: None,
            }),
            Decision::GiveUp(reason) => Phase::Done(Finish::Answer {
                attempts,
                gave_up: Some(reason),
            }),
        };
    }
}

impl<L, G, N, O: Observer<RetryEvent>, C: Borrow<RetryConfig>> fmt::Debug
    for RetryPlan<L, G, N, O, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPlan")
            .field("attempts", &self.machine.attempts())
            .field("deadline", &self.deadline)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
