//! The retry loop as explicit steps, for drivers that cannot be an `async
//! fn`: a hand-written future with a nameable type (a tower service's), or a
//! poll loop in an interrupt-driven system. [`retry`](crate::retry) and
//! [`retry_blocking`](crate::retry_blocking) are the same loop written as
//! code; this is the loop written as a value.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use failsafe_core::retry::{
    BackoffState, Decision, GiveUp, Retry, RetryBudget, RetryConfig, RetryEvent, Verdict,
};
use failsafe_core::rng::Rng;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer};

use crate::{Attempt, RetryError};

/// What to do after an attempt: sleep and start another, or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryStep<T, E> {
    /// Sleep until this instant, then call [`RetryLoop::start`] again.
    RetryAt(Instant),
    /// The call is over: the value, or why the retries gave up.
    Done(Result<T, RetryError<E>>),
}

/// One call's retry loop, driven step by step: [`start`](Self::start) an
/// attempt, run it, hand its result to [`finish`](Self::finish), sleep until
/// the instant it returns, start again.
///
/// It owns everything the loop needs (the core's [`Retry`] machine, a handle
/// `L` to the shared budget, the jitter source and the observer), so it can
/// live inside a `'static` future. The handle is anything that derefs to a
/// [`Lock`] over the budget: `&lock`, `Arc<lock>`, `&NoBudget` for none.
/// The budget is locked only inside `start` and `finish`, never across a
/// sleep or an attempt.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, NoBudget, RetryConfig, Verdict};
/// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
/// use failsafe_driver::{RetryLoop, RetryStep};
///
/// let config = RetryConfig::builder()
///     .max_attempts(3)
///     .backoff(BackoffKind::Constant(Duration::from_millis(10)))
///     .jitter(Jitter::None)
///     .build()
///     .unwrap();
/// let mut now = Instant::ZERO;
/// let mut lp = RetryLoop::new(config, Deadline::NEVER, &NoBudget, Xorshift64::new(1), (), now);
/// let outcome = loop {
///     let attempt = lp.start(now).unwrap();
///     let result: Result<u32, &str> = Err("down"); // every attempt fails
///     match lp.finish(now, Verdict::retry(), result) {
///         RetryStep::RetryAt(at) => now = at, // a driver sleeps here
///         RetryStep::Done(done) => break done,
///     }
/// };
/// let error = outcome.unwrap_err();
/// assert_eq!((error.reason, error.attempts, error.last), (GiveUp::Attempts, 3, Some("down")));
/// assert_eq!(now, Instant::from_millis(20));
/// ```
pub struct RetryLoop<L, G, N, O, E> {
    machine: Retry<BackoffState, O>,
    budget: L,
    rng: N,
    deadline: Deadline,
    last: Option<E>,
    _budget: PhantomData<fn(&mut G)>,
}

impl<L, G, N, O, E> RetryLoop<L, G, N, O, E>
where
    L: Deref,
    L::Target: Lock<G>,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
{
    /// A call starting at `now` under `config`; no retry is scheduled at or
    /// after `deadline`. `budget` is a handle to the (shared) budget; the
    /// call's first attempt counts towards it once `start` is called.
    pub fn new(
        config: RetryConfig,
        deadline: Deadline,
        budget: L,
        rng: N,
        observer: O,
        now: Instant,
    ) -> Self {
        RetryLoop {
            machine: Retry::new(config, now)
                .with_deadline(deadline.instant())
                .observed(observer),
            budget,
            rng,
            deadline,
            last: None,
            _budget: PhantomData,
        }
    }

    /// Starts the next attempt at `now`, or says why none may start (the
    /// deadline passed, or the call is already over), with the last
    /// attempt's error.
    ///
    /// Call it once at the beginning and once after each
    /// [`RetryStep::RetryAt`].
    pub fn start(&mut self, now: Instant) -> Result<Attempt, RetryError<E>> {
        let machine = &mut self.machine;
        match self.budget.with(|b| machine.start_attempt(now, b)) {
            Ok(number) => Ok(Attempt {
                number,
                deadline: self.deadline,
            }),
            Err(reason) => Err(RetryError {
                reason,
                attempts: self.machine.attempts(),
                last: self.last.take(),
            }),
        }
    }

    /// The attempt ended at `now` with `result`, which the caller's
    /// classifier judged `verdict`: retry at an instant, or stop.
    ///
    /// A value the classifier wanted retried is returned as `Ok` when the
    /// retries give up: it is still the best answer there is.
    pub fn finish<T>(
        &mut self,
        now: Instant,
        verdict: Verdict,
        result: Result<T, E>,
    ) -> RetryStep<T, E> {
        let (machine, rng) = (&mut self.machine, &mut self.rng);
        let decision = self
            .budget
            .with(|b| machine.on_result(now, verdict, rng, b));
        let attempts = self.machine.attempts();
        match decision {
            Decision::RetryAt { at, .. } => {
                self.last = result.err();
                RetryStep::RetryAt(at)
            }
            Decision::Done => RetryStep::Done(result.map_err(|e| RetryError {
                reason: GiveUp::NotRetryable,
                attempts,
                last: Some(e),
            })),
            Decision::GiveUp(reason) => RetryStep::Done(result.map_err(|e| RetryError {
                reason,
                attempts,
                last: Some(e),
            })),
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.machine.attempts()
    }

    /// While waiting for a retry: when it is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.machine.next_deadline()
    }

    /// The caller's deadline handed to every attempt.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }
}

impl<L, G, N, O: Observer<RetryEvent>, E> fmt::Debug for RetryLoop<L, G, N, O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLoop")
            .field("attempts", &self.machine.attempts())
            .field("deadline", &self.deadline)
            .field("failed_before", &self.last.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use core::time::Duration;

    use failsafe_core::FnObserver;
    use failsafe_core::retry::{BackoffKind, FailureKind, Jitter, NoBudget, TokenQuota};
    use failsafe_core::rng::Xorshift64;
    use failsafe_core::sync::CsLock;

    use super::*;

    fn config(attempts: u32, delay_ms: u64) -> RetryConfig {
        RetryConfig::builder()
            .max_attempts(attempts)
            .backoff(BackoffKind::Constant(Duration::from_millis(delay_ms)))
            .jitter(Jitter::None)
            .build()
            .unwrap()
    }

    #[test]
    fn fails_twice_then_succeeds_at_the_backoff_instants() {
        let mut events = Vec::new();
        let mut lp = RetryLoop::new(
            config(5, 100),
            Deadline::NEVER,
            &NoBudget,
            Xorshift64::new(1),
            FnObserver(|e| events.push(e)),
            Instant::ZERO,
        );
        let mut now = Instant::ZERO;
        let mut starts = Vec::new();
        let done = loop {
            let attempt = lp.start(now).unwrap();
            starts.push((attempt.number, now));
            let result = if attempt.number < 3 {
                Err("flaky")
            } else {
                Ok(attempt.number)
            };
            let verdict = if result.is_ok() {
                Verdict::Success
            } else {
                Verdict::retry()
            };
            match lp.finish(now, verdict, result) {
                RetryStep::RetryAt(at) => now = at,
                RetryStep::Done(done) => break done,
            }
        };
        assert_eq!(done, Ok(3));
        assert_eq!(
            starts,
            [
                (1, Instant::ZERO),
                (2, Instant::from_millis(100)),
                (3, Instant::from_millis(200))
            ]
        );
        assert!(matches!(
            events.last(),
            Some(RetryEvent::Succeeded { attempts: 3, .. })
        ));
    }

    #[test]
    fn a_passed_deadline_stops_before_the_attempt_with_the_last_error() {
        let deadline = Deadline::at(Instant::from_millis(150));
        let mut lp: RetryLoop<_, _, _, _, &str> = RetryLoop::new(
            config(5, 100),
            deadline,
            &NoBudget,
            Xorshift64::new(1),
            (),
            Instant::ZERO,
        );
        assert_eq!(lp.start(Instant::ZERO).unwrap().deadline, deadline);
        let step = lp.finish::<()>(Instant::ZERO, Verdict::retry(), Err("first"));
        assert_eq!(step, RetryStep::RetryAt(Instant::from_millis(100)));
        // the sleep overran the deadline: no second attempt
        let error = lp.start(Instant::from_millis(150)).unwrap_err();
        assert_eq!(
            error,
            RetryError {
                reason: GiveUp::Deadline,
                attempts: 1,
                last: Some("first")
            }
        );
    }

    #[test]
    fn two_loops_share_one_budget_through_a_lock() {
        // 10 tokens, a retry costs 5: two retries in all, across calls
        let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
        let run = |budget| {
            let mut lp = RetryLoop::new(
                config(10, 1),
                Deadline::NEVER,
                budget,
                Xorshift64::new(1),
                (),
                Instant::ZERO,
            );
            let mut now = Instant::ZERO;
            loop {
                lp.start(now).unwrap();
                match lp.finish::<()>(now, Verdict::retry(), Err(FailureKind::Error)) {
                    RetryStep::RetryAt(at) => now = at,
                    RetryStep::Done(done) => break done.unwrap_err(),
                }
            }
        };
        let first = run(&quota);
        assert_eq!((first.reason, first.attempts), (GiveUp::Budget, 3));
        let second = run(&quota);
        assert_eq!((second.reason, second.attempts), (GiveUp::Budget, 1));
    }

    #[test]
    fn a_value_classified_for_retry_is_returned_when_retries_give_up() {
        let mut lp: RetryLoop<_, _, _, _, ()> = RetryLoop::new(
            config(1, 1),
            Deadline::NEVER,
            &NoBudget,
            Xorshift64::new(1),
            (),
            Instant::ZERO,
        );
        lp.start(Instant::ZERO).unwrap();
        assert_eq!(
            lp.finish(Instant::ZERO, Verdict::retry(), Ok(503)),
            RetryStep::Done(Ok(503))
        );
    }
}
