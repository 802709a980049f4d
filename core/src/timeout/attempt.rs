//! A timeout on every attempt of another plan (a retry's, a hedge's).

use crate::Instant;
use crate::plan::{Action, Attempt, Judged, Plan, PlanEvent};
use crate::retry::{FailureKind, Verdict};
use crate::time::Monotonic;

use super::{Deadline, TimeoutConfig, TimeoutMode};

/// How an attempt cut at its deadline is judged: a timeout
/// ([`FailureKind::Timeout`]), which a retry retries. [`AttemptTimeout`]
/// reports its cuts so; a driver that cannot cut (blocking work, whose
/// late result is discarded) judges a late attempt the same.
///
/// ```
/// use failsafe_core::retry::Verdict;
/// use failsafe_core::timeout::ATTEMPT_TIMED_OUT;
/// assert!(matches!(ATTEMPT_TIMED_OUT.verdict, Verdict::Retry { .. }));
/// ```
pub const ATTEMPT_TIMED_OUT: Judged = Judged::verdict(Verdict::Retry {
    kind: FailureKind::Timeout,
    retry_after: None,
});

/// Another plan `P` with a timeout on each of its attempts: each attempt
/// runs under `now + timeout` (never past the deadline the inner plan
/// gave it), and the plan's one timer also serves the attempts in flight,
/// so a call holds one timer, not one per attempt (Failsafe for Java's
/// `Timeout` inside a `RetryPolicy`; Polly's per-try timeout).
///
/// An attempt still running when it is cut is cancelled
/// ([`Action::Cancel`]) and ends, for the inner plan, as a timeout
/// ([`FailureKind::Timeout`]: a retry retries it). It is cut at its
/// deadline in [`TimeoutMode::Cancel`]; in [`TimeoutMode::Soft`] the
/// deadline is only handed down, and the attempt is cut only at the
/// deadline the inner plan gave it (a retry's overall deadline), as it is
/// with no timeout at all (`None`): the inner plan's deadlines bind either
/// way. Up to `N` attempts in flight at once are timed (a hedge's; more
/// run uncut).
///
/// It asks for the time where the inner plan does, and before the first
/// start (an attempt's deadline counts from its start): later starts use
/// the instant the inner plan asked to be given (a retry's backoff reads
/// the time after a failure; a timer's instant is fresh). In soft mode it
/// reports nothing about an overrun: a late attempt's result is kept as
/// it is (a [`Timeout`](super::Timeout) of its own, inside the attempt,
/// reports one). A clock that steps back reads as no time passed.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
/// use failsafe_core::retry::{NoBudget, RetryConfig, RetryPlan};
/// use failsafe_core::rng::Xorshift64;
/// use failsafe_core::timeout::{AttemptTimeout, Deadline, TimeoutConfig};
/// use failsafe_core::Instant;
///
/// let retry = RetryPlan::new(RetryConfig::builder().build().unwrap(), Deadline::NEVER, &NoBudget, Xorshift64::new(1), (), Instant::ZERO);
/// let per_try = TimeoutConfig::new(Duration::from_millis(100)).unwrap();
/// let mut plan: AttemptTimeout<_> = AttemptTimeout::new(retry, Some(per_try));
/// let Action::Start(first) = plan.poll_action(Instant::ZERO) else { panic!() };
/// assert_eq!(first.deadline, Deadline::at(Instant::from_millis(100)));
/// // It waits at most until the attempt's deadline; the timer fires there.
/// assert_eq!(plan.poll_action(Instant::ZERO), Action::Wait(Some(Instant::from_millis(100))));
/// plan.on_event(Instant::from_millis(100), PlanEvent::Timer);
/// assert_eq!(plan.poll_action(Instant::from_millis(100)), Action::Cancel(1));
/// assert_eq!(plan.timed_out(), Some(first.deadline));
/// // The retry judged it a timeout and backs off before the second try.
/// assert!(matches!(plan.poll_action(Instant::from_millis(100)), Action::Wait(Some(_))));
/// ```
#[derive(Clone, Debug)]
pub struct AttemptTimeout<P, const N: usize = 4> {
    plan: P,
    config: Option<TimeoutConfig>,
    /// The attempts in flight that are timed, and when each is cut.
    running: [Option<(u32, Deadline)>; N],
    /// Attempts cut at their deadline, to cancel before anything else.
    cancel: [Option<u32>; N],
    /// The last attempt to end was cut at this deadline.
    timed_out: Option<Deadline>,
    /// The latest instant seen: a clock that steps back reads as no time
    /// passed (an attempt's deadline never counts from before it).
    clock: Monotonic,
}

impl<P, const N: usize> AttemptTimeout<P, N> {
    /// `plan` with each attempt bounded by `config` (`None`: by nothing
    /// but the inner plan's own deadline, which it then enforces).
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::fallback::{FallbackPlan, FallbackPolicy};
    /// use failsafe_core::plan::{Action, Plan};
    /// use failsafe_core::timeout::{AttemptTimeout, Deadline, TimeoutConfig};
    /// use failsafe_core::Instant;
    ///
    /// let fallback = FallbackPlan::new(FallbackPolicy::ALL, 1, Deadline::NEVER, ());
    /// let per_try = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
    /// let mut plan: AttemptTimeout<_> = AttemptTimeout::new(fallback, Some(per_try));
    /// let Action::Start(attempt) = plan.poll_action(Instant::from_secs(5)) else { panic!() };
    /// assert_eq!(attempt.deadline, Deadline::at(Instant::from_secs(6)));
    /// ```
    pub const fn new(plan: P, config: Option<TimeoutConfig>) -> Self {
        AttemptTimeout {
            plan,
            config,
            running: [None; N],
            cancel: [None; N],
            timed_out: None,
            clock: Monotonic::new(),
        }
    }

    /// The inner plan.
    ///
    /// ```
    /// # use failsafe_core::fallback::{FallbackPlan, FallbackPolicy};
    /// # use failsafe_core::timeout::{AttemptTimeout, Deadline};
    /// let plan: AttemptTimeout<_> = AttemptTimeout::new(FallbackPlan::new(FallbackPolicy::ALL, 1, Deadline::NEVER, ()), None);
    /// let _inner: &FallbackPlan = plan.inner();
    /// ```
    pub const fn inner(&self) -> &P {
        &self.plan
    }

    /// When an attempt is cut under `config`: at the deadline it was
    /// `handed` in cancel mode, at the `inner` plan's deadline for it in
    /// soft mode or without a timeout. For a driver that cannot cut (a
    /// blocking attempt), the instant past which its result is late.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::timeout::{AttemptTimeout, Deadline, TimeoutConfig, TimeoutMode};
    /// # use failsafe_core::Instant;
    /// let (handed, inner) = (Deadline::at(Instant::from_secs(1)), Deadline::NEVER);
    /// let soft = TimeoutConfig::new(Duration::from_secs(1)).unwrap().mode(TimeoutMode::Soft);
    /// assert_eq!(AttemptTimeout::<()>::cut_at(Some(soft), handed, inner), inner);
    /// assert_eq!(AttemptTimeout::<()>::cut_at(Some(soft.mode(TimeoutMode::Cancel)), handed, inner), handed);
    /// ```
    pub fn cut_at(config: Option<TimeoutConfig>, handed: Deadline, inner: Deadline) -> Deadline {
        match config {
            Some(c) if c.timeout_mode() == TimeoutMode::Cancel => handed,
            _ => inner,
        }
    }

    /// The deadline at which the last attempt to end was cut, if it was
    /// (`None` once an attempt ends by itself): a call whose last attempt
    /// was cut timed out, and has no result of its own to answer with.
    ///
    /// ```
    /// # use failsafe_core::fallback::{FallbackPlan, FallbackPolicy};
    /// # use failsafe_core::timeout::{AttemptTimeout, Deadline};
    /// let plan: AttemptTimeout<_> = AttemptTimeout::new(FallbackPlan::new(FallbackPolicy::ALL, 1, Deadline::NEVER, ()), None);
    /// assert_eq!(plan.timed_out(), None);
    /// ```
    pub const fn timed_out(&self) -> Option<Deadline> {
        self.timed_out
    }
}

impl<P, const N: usize> AttemptTimeout<P, N> {
    /// Attempt `number` is no longer in flight.
    fn forget(&mut self, number: u32) {
        for slot in &mut self.running {
            if slot.is_some_and(|(n, _)| n == number) {
                *slot = None;
            }
        }
    }
}

impl<P: Plan, const N: usize> Plan for AttemptTimeout<P, N> {
    fn poll_action(&mut self, now: Instant) -> Action {
        let now = self.clock.observe(now);
        if let Some(number) = self.cancel.iter_mut().find_map(Option::take) {
            return Action::Cancel(number);
        }
        match self.plan.poll_action(now) {
            Action::Start(attempt) => {
                let handed = match self.config {
                    Some(c) => attempt.deadline.child(now, c.timeout()),
                    None => attempt.deadline,
                };
                let cut = Self::cut_at(self.config, handed, attempt.deadline);
                if let Some(free) = self.running.iter_mut().find(|slot| slot.is_none()) {
                    *free = Some((attempt.number, cut));
                }
                Action::Start(Attempt {
                    number: attempt.number,
                    deadline: handed,
                })
            }
            Action::Wait(at) => {
                let due = self
                    .running
                    .iter()
                    .flatten()
                    .filter(|(_, deadline)| !deadline.is_never())
                    .map(|(_, deadline)| deadline.instant())
                    .min();
                Action::Wait(match (at, due) {
                    (Some(at), Some(due)) => Some(at.min(due)),
                    (at, due) => at.or(due),
                })
            }
            Action::Cancel(number) => {
                // Cancelled by the inner plan (a hedge's loser): no longer
                // in flight, never to be cut.
                self.forget(number);
                Action::Cancel(number)
            }
            finish @ Action::Finish(_) => finish,
        }
    }

    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        let now = self.clock.observe(now);
        if let PlanEvent::Ended { attempt, .. } = event {
            self.forget(attempt);
            self.timed_out = None;
            self.plan.on_event(now, event);
            return;
        }
        // Cut every attempt whose deadline passed: cancel it first, then
        // the inner plan judges it as a timeout.
        for index in 0..N {
            let Some((number, deadline)) = self.running[index] else {
                continue;
            };
            if !deadline.is_expired(now) {
                continue;
            }
            self.running[index] = None;
            self.cancel[index] = Some(number);
            self.timed_out = Some(deadline);
            let cut = PlanEvent::Ended {
                attempt: number,
                judged: ATTEMPT_TIMED_OUT,
            };
            self.plan.on_event(now, cut);
        }
        self.plan.on_event(now, event);
    }

    /// The inner plan's answer: an attempt ending before its deadline's
    /// timer fired is in time, whatever the clock says.
    fn needs_end_time(&self) -> bool {
        self.plan.needs_end_time()
    }

    fn needs_time_after(&self, judged: &Judged) -> bool {
        self.plan.needs_time_after(judged)
    }

    /// Yes with a timeout (each attempt's deadline counts from its
    /// start); otherwise the inner plan's answer.
    fn needs_start_time(&self) -> bool {
        self.config.is_some() || self.plan.needs_start_time()
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::plan::Finish;
    use crate::retry::{BackoffKind, GiveUp, Jitter, NoBudget, RetryConfig, RetryPlan};
    use crate::rng::Xorshift64;

    fn retry(attempts: u32) -> RetryPlan<&'static NoBudget, NoBudget, Xorshift64> {
        let config = RetryConfig::builder()
            .max_attempts(attempts)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(Jitter::None)
            .build()
            .unwrap();
        RetryPlan::new(
            config,
            Deadline::NEVER,
            &NoBudget,
            Xorshift64::new(1),
            (),
            Instant::ZERO,
        )
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn per_try(n: u64, mode: TimeoutMode) -> Option<TimeoutConfig> {
        Some(
            TimeoutConfig::new(Duration::from_millis(n))
                .unwrap()
                .mode(mode),
        )
    }

    /// Cut, retried after the backoff, and the second attempt's deadline
    /// counts from its own start; an attempt that ends in time clears the
    /// cut.
    #[test]
    fn a_cut_attempt_is_retried_with_a_fresh_deadline() {
        let mut plan: AttemptTimeout<_> =
            AttemptTimeout::new(retry(3), per_try(100, TimeoutMode::Cancel));
        assert!(matches!(plan.poll_action(ms(0)), Action::Start(_)));
        plan.on_event(ms(100), PlanEvent::Timer);
        assert_eq!(plan.poll_action(ms(100)), Action::Cancel(1));
        assert_eq!(plan.timed_out(), Some(Deadline::at(ms(100))));
        assert_eq!(plan.poll_action(ms(100)), Action::Wait(Some(ms(110))));
        plan.on_event(ms(110), PlanEvent::Timer);
        let Action::Start(second) = plan.poll_action(ms(110)) else {
            panic!("a second attempt")
        };
        assert_eq!((second.number, second.deadline), (2, Deadline::at(ms(210))));
        plan.on_event(
            ms(150),
            PlanEvent::Ended {
                attempt: 2,
                judged: Judged::SUCCESS,
            },
        );
        assert_eq!(plan.timed_out(), None);
        assert_eq!(
            plan.poll_action(ms(150)),
            Action::Finish(Finish::Answer {
                attempts: 2,
                gave_up: None
            })
        );
    }

    /// A soft timeout hands the deadline down and never cuts.
    #[test]
    fn a_soft_timeout_cuts_only_at_the_inner_deadline() {
        let mut plan: AttemptTimeout<_> =
            AttemptTimeout::new(retry(3), per_try(100, TimeoutMode::Soft));
        let Action::Start(first) = plan.poll_action(ms(0)) else {
            panic!("an attempt")
        };
        assert_eq!(first.deadline, Deadline::at(ms(100)));
        assert_eq!(plan.poll_action(ms(0)), Action::Wait(None));
        plan.on_event(ms(500), PlanEvent::Timer);
        assert_eq!(plan.poll_action(ms(500)), Action::Wait(None));
        assert_eq!(plan.timed_out(), None);
    }

    /// The last attempt cut: the retry gives up, and the cut says why.
    #[test]
    fn the_last_attempt_cut_leaves_its_deadline() {
        let mut plan: AttemptTimeout<_> =
            AttemptTimeout::new(retry(1), per_try(50, TimeoutMode::Cancel));
        assert!(matches!(plan.poll_action(ms(0)), Action::Start(_)));
        plan.on_event(ms(70), PlanEvent::Timer);
        assert_eq!(plan.poll_action(ms(70)), Action::Cancel(1));
        assert_eq!(
            plan.poll_action(ms(70)),
            Action::Finish(Finish::Answer {
                attempts: 1,
                gave_up: Some(GiveUp::Attempts)
            })
        );
        assert_eq!(plan.timed_out(), Some(Deadline::at(ms(50))));
    }

    /// It reads the time where the inner plan does, and at each start.
    #[test]
    fn time_needs_are_the_inner_plans() {
        let timeless = || {
            RetryPlan::unstarted(
                RetryConfig::builder().build().unwrap(),
                Deadline::NEVER,
                &NoBudget,
                Xorshift64::new(1),
                (),
            )
            .judged_without_time()
        };
        let failed = Judged::verdict(Verdict::retry());
        let untimed: AttemptTimeout<_> = AttemptTimeout::new(timeless(), None);
        assert!(!untimed.needs_start_time());
        assert!(!untimed.needs_end_time());
        assert!(!untimed.needs_time_after(&Judged::SUCCESS));
        assert!(untimed.needs_time_after(&failed));
        let timed: AttemptTimeout<_> =
            AttemptTimeout::new(timeless(), per_try(5, TimeoutMode::Cancel));
        assert!(timed.needs_start_time());
        assert!(timed.needs_time_after(&failed));
    }
}
