//! The retry as a [`Plan`]: the [`Retry`] machine plus what one call needs
//! around it (a handle to the shared budget, the jitter source, the
//! caller's deadline).

use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use super::backoff::ConfigShape;
use super::{Decision, GiveUp, NoBudget, Retry, RetryBudget, RetryConfig, RetryEvent, Verdict};
use crate::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
use crate::rng::Rng;
use crate::sync::Lock;
use crate::timeout::Deadline;
use crate::{Instant, Observer};

/// How a [`RetryPlan`] reaches the budget its calls share: any handle that
/// derefs to a [`Lock`] over it (`&lock`, `Arc<lock>`, `Rc<lock>`,
/// `&NoBudget`), or a handle of one's own that may hold none.
///
/// A handle that holds no budget answers `None`: the plan then counts
/// nothing and grants every retry, as [`NoBudget`] does. A driver whose
/// budget keeps no state ([`RetryBudget::is_unlimited`]) hands such a
/// handle to each call and so shares nothing (no reference count to step)
/// per call.
///
/// ```
/// use failsafe_core::retry::{BudgetHandle, NoBudget, RetryBudget, TokenQuota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
///
/// let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
/// let handle = &quota;
/// assert_eq!(handle.with_budget(|q: &mut TokenQuota| q.tokens()), Some(10));
///
/// /// A handle that never holds a budget.
/// struct Unbudgeted;
/// impl<G> BudgetHandle<G> for Unbudgeted {
///     fn with_budget<R>(&self, _: impl FnOnce(&mut G) -> R) -> Option<R> {
///         None
///     }
/// }
/// assert_eq!(Unbudgeted.with_budget(|b: &mut NoBudget| b.on_call(Instant::ZERO)), None);
/// ```
pub trait BudgetHandle<G> {
    /// Runs `f` on the budget under its lock, or answers `None` if this
    /// handle holds no budget.
    fn with_budget<R>(&self, f: impl FnOnce(&mut G) -> R) -> Option<R>;
}

impl<L, G> BudgetHandle<G> for L
where
    L: Deref,
    L::Target: Lock<G>,
{
    #[inline]
    fn with_budget<R>(&self, f: impl FnOnce(&mut G) -> R) -> Option<R> {
        Some(Lock::with(&**self, f))
    }
}

/// One call's retries as a [`Plan`]: start an attempt, wait for it, sleep
/// until the backoff's instant, start again, until an attempt succeeds or
/// the policy gives up.
///
/// It owns everything the call needs (the [`Retry`] machine, a handle `L`
/// to the shared budget, the jitter source `N`, the observer), so it can
/// live inside a `'static` future. The config `C` is a [`RetryConfig`] by
/// value, or anything lending one (`&'static RetryConfig`, a zero-sized
/// [`const_config!`](crate::const_config) type: read in place at each
/// decision, so a `const` one folds into the code). The handle is a
/// [`BudgetHandle`]: anything that derefs to a [`Lock`] over the budget
/// (`&lock`, `Arc<lock>`, `&NoBudget` for none), or one that may hold none.
/// The budget is locked only while a decision is made, never across a
/// sleep or an attempt.
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
    phase: Phase,
    /// The driver judges results without reading the time
    /// ([`judged_without_time`](RetryPlan::judged_without_time)).
    timeless_judge: bool,
    _budget: PhantomData<fn(&mut G)>,
}

/// Kept small, and read back field by field: the driver asks for the next
/// action right after an attempt ends, and a finish written as narrow
/// fields then read back whole stalls (store forwarding) on x86. What the
/// machine already holds is not copied here (two bytes, not sixteen): the
/// running attempt's number is [`Retry::attempts`], a sleep's end
/// [`Retry::next_deadline`], the caller's deadline the machine's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Start the first attempt at the next poll; the call starts then
    /// ([`RetryPlan::unstarted`]).
    Unstarted,
    /// Start an attempt at the next poll.
    Ready,
    /// The attempt numbered [`Retry::attempts`] is in flight.
    Running,
    /// Waiting for the retry the machine scheduled.
    Sleeping,
    /// Answer with the last attempt's result; why the retries stopped, if
    /// they gave up.
    Answered(Option<GiveUp>),
    /// No attempt may start.
    GaveUp(GiveUp),
}

impl<L, G, N, O, C> RetryPlan<L, G, N, O, C>
where
    L: BudgetHandle<G>,
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
            phase: Phase::Ready,
            timeless_judge: false,
            _budget: PhantomData,
        }
    }

    /// [`new`](Self::new) for a call that starts when its first attempt
    /// does: at the instant of the first [`poll_action`](Plan::poll_action).
    /// With no deadline, no `max_elapsed` and a budget that reads no time
    /// ([`RetryBudget::uses_time`]), the plan does not need that instant
    /// ([`Plan::needs_start_time`] says no) and a driver may start the
    /// first attempt without reading the clock.
    ///
    /// ```
    /// use failsafe_core::plan::{Action, Attempt, Plan};
    /// use failsafe_core::retry::{NoBudget, RetryConfig, RetryPlan};
    /// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
    ///
    /// let config = RetryConfig::builder().build().unwrap();
    /// let mut plan = RetryPlan::unstarted(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), ());
    /// assert!(!plan.needs_start_time());
    /// let first = Attempt { number: 1, deadline: Deadline::NEVER };
    /// assert_eq!(plan.poll_action(Instant::ZERO), Action::Start(first));
    /// ```
    #[inline]
    pub fn unstarted(config: C, deadline: Deadline, budget: L, rng: N, observer: O) -> Self {
        let mut plan = RetryPlan::new(config, deadline, budget, rng, observer, Instant::ZERO);
        plan.phase = Phase::Unstarted;
        plan
    }

    /// Starts over as the plan of a new call, in place: exactly the plan
    /// [`new`](Self::new) makes from this plan's config, budget handle and
    /// observer with `deadline`, `rng` and `now` (the config's attempt
    /// limit, results judged with the time). A driver keeping one plan per
    /// slot reuses the handles it holds instead of handing them out again
    /// for every call.
    ///
    /// ```
    /// use failsafe_core::plan::{Action, Attempt, Judged, Plan, PlanEvent};
    /// use failsafe_core::retry::{NoBudget, RetryConfig, RetryPlan, Verdict};
    /// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
    ///
    /// let config = RetryConfig::builder().max_attempts(1).build().unwrap();
    /// let t0 = Instant::ZERO;
    /// let mut plan = RetryPlan::new(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), (), t0);
    /// let first = Attempt { number: 1, deadline: Deadline::NEVER };
    /// assert_eq!(plan.poll_action(t0), Action::Start(first));
    /// let judged = Judged::verdict(Verdict::Success);
    /// plan.on_event(t0, PlanEvent::Ended { attempt: 1, judged });
    /// assert!(matches!(plan.poll_action(t0), Action::Finish(_)));
    /// // the next call, on the same plan
    /// let t1 = Instant::from_secs(1);
    /// plan.restart(Deadline::NEVER, Xorshift64::new(2), t1);
    /// assert_eq!(plan.poll_action(t1), Action::Start(first));
    /// ```
    #[inline]
    pub fn restart(&mut self, deadline: Deadline, rng: N, now: Instant) {
        self.machine.restart(ConfigShape::new(), now);
        self.machine.set_deadline(deadline.instant());
        self.rng = rng;
        self.phase = Phase::Ready;
        self.timeless_judge = false;
    }

    /// The driver judges every result without reading the time (its
    /// classifier ignores the `now` it is handed:
    /// [`Classify::verdict_uses_time`](crate::classify::Classify::verdict_uses_time)
    /// says no). Then, when neither the budget nor the observer needs the
    /// time either, an attempt that succeeds needs no reading of the clock
    /// ([`Plan::needs_end_time`] says no; a failed one still does,
    /// [`Plan::needs_time_after`]).
    #[inline]
    #[must_use]
    pub fn judged_without_time(mut self) -> Self {
        self.timeless_judge = true;
        self
    }

    /// This call's attempt limit is `max` instead of the config's
    /// ([`Retry::with_max_attempts`](super::Retry::with_max_attempts)): how
    /// a limit changed at run time reaches a call.
    ///
    /// ```
    /// use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
    /// use failsafe_core::retry::{GiveUp, NoBudget, RetryConfig, RetryPlan, Verdict};
    /// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
    ///
    /// let config = RetryConfig::builder().max_attempts(5).build().unwrap();
    /// let t0 = Instant::ZERO;
    /// let mut plan = RetryPlan::new(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), (), t0)
    ///     .with_max_attempts(Some(1));
    /// assert!(matches!(plan.poll_action(t0), Action::Start(_)));
    /// plan.on_event(t0, PlanEvent::Ended { attempt: 1, judged: Judged::verdict(Verdict::retry()) });
    /// let gave_up = Finish::Answer { attempts: 1, gave_up: Some(GiveUp::Attempts) };
    /// assert_eq!(plan.poll_action(t0), Action::Finish(gave_up));
    /// ```
    #[inline]
    #[must_use]
    pub fn with_max_attempts(mut self, max: Option<u32>) -> Self {
        self.machine = self.machine.with_max_attempts(max);
        self
    }

    #[inline]
    fn start(&mut self, now: Instant) -> Action {
        let machine = &mut self.machine;
        let started = if G::is_unlimited() {
            machine.start_attempt(now, &mut NoBudget)
        } else {
            match self.budget.with_budget(|b| machine.start_attempt(now, b)) {
                Some(started) => started,
                None => machine.start_attempt(now, &mut NoBudget),
            }
        };
        match started {
            Ok(number) => {
                self.phase = Phase::Running;
                Action::Start(Attempt {
                    number,
                    deadline: Deadline::at(self.machine.deadline_or_max()),
                })
            }
            Err(reason) => {
                self.phase = Phase::GaveUp(reason);
                Action::Finish(Finish::GaveUp {
                    reason,
                    attempts: self.machine.attempts(),
                })
            }
        }
    }
}

impl<L, G, N, O: Observer<RetryEvent>, C: Borrow<RetryConfig>> RetryPlan<L, G, N, O, C> {
    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.machine.attempts()
    }

    /// The caller's deadline, handed to every attempt.
    pub fn deadline(&self) -> Deadline {
        Deadline::at(self.machine.deadline_or_max())
    }

    /// While waiting for a retry: when it is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sleeping => self.machine.next_deadline(),
            _ => None,
        }
    }

    /// Whether this unstarted plan's first attempt needs nothing of it: no
    /// deadline, no `max_elapsed`, a budget that keeps no state
    /// ([`RetryBudget::is_unlimited`]) and reads no time, a silent
    /// observer, results judged without the time
    /// ([`judged_without_time`](Self::judged_without_time)). Such a plan,
    /// started and told the attempt succeeded, answers with it
    /// (`Finish::Answer { attempts: 1, gave_up: None }`) having done
    /// nothing else, so a driver may run the first attempt alone, hand it
    /// `Attempt { number: 1, deadline: Deadline::NEVER }`, and bring the
    /// plan in only if the attempt did not succeed
    /// ([`first_attempt_ended`](Self::first_attempt_ended)).
    ///
    /// ```
    /// use failsafe_core::plan::{Action, Judged, Plan};
    /// use failsafe_core::retry::{NoBudget, RetryConfig, RetryPlan, Verdict};
    /// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
    ///
    /// let config = RetryConfig::builder().build().unwrap();
    /// let plan = RetryPlan::unstarted(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), ());
    /// assert!(!plan.first_attempt_alone(), "a result judged with the time needs the plan");
    /// let mut plan = plan.judged_without_time();
    /// assert!(plan.first_attempt_alone());
    /// // the attempt ran alone and failed at 5 ms: the plan takes over
    /// let now = Instant::from_millis(5);
    /// plan.first_attempt_ended(now, Judged::verdict(Verdict::retry()));
    /// assert_eq!(plan.attempts(), 1);
    /// assert!(matches!(plan.poll_action(now), Action::Wait(Some(_))));
    /// ```
    #[inline]
    pub fn first_attempt_alone(&self) -> bool
    where
        G: RetryBudget,
    {
        matches!(self.phase, Phase::Unstarted)
            && self.machine.cfg().first_attempt_alone::<G, O>(
                self.deadline(),
                self.machine.observer(),
                self.timeless_judge,
            )
    }

    /// The first attempt ran alone ([`first_attempt_alone`](Self::first_attempt_alone))
    /// and ended at `now`, judged `judged` (anything but a success: a
    /// success needs no plan): the plan starts it and hears how it ended,
    /// as if it had run under the plan from the start.
    #[inline]
    pub fn first_attempt_ended(&mut self, now: Instant, judged: Judged)
    where
        L: BudgetHandle<G>,
        G: RetryBudget,
        N: Rng,
    {
        // What cannot change since the caller asked `first_attempt_alone`
        // (an observer may start listening meanwhile: then the attempt's
        // duration reads from the start of the clock, as a plan started at
        // no time read does).
        debug_assert!(
            matches!(self.phase, Phase::Unstarted)
                && G::is_unlimited()
                && self.machine.deadline_or_max() == Instant::MAX
                && self.machine.cfg().max_elapsed().is_none(),
            "a plan that needs the time for its first attempt ran it alone"
        );
        let _first = self.poll_action(Instant::ZERO);
        self.on_event(now, PlanEvent::Ended { attempt: 1, judged });
    }

    /// Nothing but a failure needs the time at which an attempt ended.
    #[inline]
    fn success_is_timeless(&self) -> bool
    where
        G: RetryBudget,
    {
        self.timeless_judge && !G::uses_time() && self.machine.observer().is_silent()
    }
}

impl<L, G, N, O, C> Plan for RetryPlan<L, G, N, O, C>
where
    L: BudgetHandle<G>,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
{
    #[inline]
    fn poll_action(&mut self, now: Instant) -> Action {
        // A clock that steps back reads as no time passed (a sleep is
        // over once any instant at or past its end has been seen).
        let now = self.machine.observe(now);
        match self.phase {
            Phase::Unstarted => {
                self.machine.restart_at(now);
                self.start(now)
            }
            Phase::Ready => self.start(now),
            Phase::Running => Action::Wait(None),
            Phase::Sleeping => {
                let at = self.machine.waiting_until();
                if now >= at {
                    self.start(now)
                } else {
                    Action::Wait(Some(at))
                }
            }
            Phase::Answered(gave_up) => Action::Finish(Finish::Answer {
                attempts: self.machine.attempts(),
                gave_up,
            }),
            Phase::GaveUp(reason) => Action::Finish(Finish::GaveUp {
                reason,
                attempts: self.machine.attempts(),
            }),
        }
    }

    /// An ended attempt is judged by the [`Retry`] machine: retry at an
    /// instant, or stop with the attempt's result as the answer. A value
    /// the classifier wanted retried is still the answer when the retries
    /// give up: it is the best there is.
    #[inline]
    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        // Every instant told counts as seen, a timer's too.
        let now = self.machine.observe(now);
        let Phase::Running = self.phase else {
            return; // a timer needs no bookkeeping: the next poll compares instants
        };
        let PlanEvent::Ended { attempt, judged } = event else {
            return;
        };
        if attempt != self.machine.attempts() {
            return;
        }
        let (machine, rng) = (&mut self.machine, &mut self.rng);
        let decision = if G::is_unlimited() {
            machine.on_result(now, judged.verdict, rng, &mut NoBudget)
        } else {
            match self
                .budget
                .with_budget(|b| machine.on_result(now, judged.verdict, &mut *rng, b))
            {
                Some(decision) => decision,
                None => machine.on_result(now, judged.verdict, rng, &mut NoBudget),
            }
        };
        self.phase = match decision {
            Decision::RetryAt { .. } => Phase::Sleeping,
            Decision::Done => Phase::Answered(None),
            Decision::GiveUp(reason) => Phase::Answered(Some(reason)),
        };
    }

    /// No for a call whose success nobody times: the driver judges without
    /// the time ([`judged_without_time`](RetryPlan::judged_without_time)),
    /// the budget reads none and the observer is silent.
    #[inline]
    fn needs_end_time(&self) -> bool {
        !self.success_is_timeless()
    }

    /// Any result but a success may schedule a retry or report a failure:
    /// it needs the time.
    #[inline]
    fn needs_time_after(&self, judged: &Judged) -> bool {
        judged.verdict != Verdict::Success
    }

    /// No when nothing at the start reads the time: no deadline, no
    /// `max_elapsed`, a budget that reads none, a silent observer (a
    /// listening one hears each attempt's and the call's duration).
    #[inline]
    fn needs_start_time(&self) -> bool {
        self.machine.deadline_or_max() != Instant::MAX
            || self.machine.cfg().max_elapsed().is_some()
            || G::uses_time()
            || !self.machine.observer().is_silent()
    }
}

impl<L, G, N, O: Observer<RetryEvent>, C: Borrow<RetryConfig>> fmt::Debug
    for RetryPlan<L, G, N, O, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPlan")
            .field("attempts", &self.machine.attempts())
            .field("deadline", &self.deadline())
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
