//! Retrying an operation through the core's [`Retry`] machine, sleeping on
//! the runtime's timer. The loop exists once, here, for every adapter.

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;

use failsafe_core::fallback::FallbackReason;
use failsafe_core::plan::{Attempt, Finish, Judged, Plan};
use failsafe_core::retry::{
    FailureKind, GiveUp, RetryBudget, RetryConfig, RetryEvent, RetryPlan, Verdict,
};
use failsafe_core::rng::Rng;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome};

use crate::blocking::execute_blocking_from;
use crate::{
    BlockingRuntime, Classify, Error, FallbackCause, Judge, Runtime, execute, execute_blocking,
};

/// For operations that return [`Error`]: an inner error retries as an
/// error, a timeout as a timeout, a rejection (an open breaker, a rate
/// limit, a full bulkhead) as throttling, **waiting for its `retry_at`**:
/// the rules of [`Verdict::for_rejection`] (a known `retry_at` is the
/// retry's hint, clamped by its [`RetryAfter`](failsafe_core::retry::RetryAfter)
/// rule; no `retry_at` retries on the backoff; "never" and a deadline too
/// short are not retried). Budgets price the kinds accordingly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOnFailsafeError;

impl<T, E> Classify<T, Error<E>> for RetryOnFailsafeError {
    /// A rejection says nothing about the dependency (ignored); a timeout
    /// is a timeout; the inner error a failure.
    fn classify(&self, result: &Result<T, Error<E>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(Error::Inner(_)) => Outcome::Failure,
            Err(Error::Timeout(_)) => Outcome::Timeout,
            Err(Error::Rejected(_)) => Outcome::Ignored,
        }
    }

    /// Without the time, a rejection's `retry_at` cannot become a delay:
    /// the loops call [`verdict_at`](Classify::verdict_at).
    fn verdict(&self, result: &Result<T, Error<E>>) -> Verdict {
        match self.verdict_at(Instant::MAX, result) {
            Verdict::Retry { kind, .. } => Verdict::Retry {
                kind,
                retry_after: None,
            },
            verdict => verdict,
        }
    }

    fn verdict_at(&self, now: Instant, result: &Result<T, Error<E>>) -> Verdict {
        let kind = match result {
            Ok(_) => return Verdict::Success,
            Err(Error::Inner(_)) => FailureKind::Error,
            Err(Error::Timeout(_)) => FailureKind::Timeout,
            Err(Error::Rejected(rejected)) => return Verdict::for_rejection(rejected, now),
        };
        Verdict::Retry {
            kind,
            retry_after: None,
        }
    }
}

/// Retries gave up: why, after how many attempts, and the last attempt's
/// error (none if no attempt ran, or the last one returned a value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryError<E> {
    /// Why the retries stopped.
    pub reason: GiveUp,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last: Option<E>,
}

impl<E> RetryError<E> {
    /// The call's result from how a retry plan finished
    /// ([`execute`](crate::execute)'s answer): the last attempt's value, or
    /// why the retries gave up with the last attempt's error.
    ///
    /// ```
    /// use failsafe_core::plan::Finish;
    /// use failsafe_core::retry::GiveUp;
    /// use failsafe_driver::RetryError;
    ///
    /// let gave_up = Finish::Answer { attempts: 3, gave_up: Some(GiveUp::Attempts) };
    /// let error = RetryError::from_finish::<()>(gave_up, Some(Err("down"))).unwrap_err();
    /// assert_eq!((error.reason, error.attempts, error.last), (GiveUp::Attempts, 3, Some("down")));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`RetryError`] unless the last attempt returned a value.
    pub fn from_finish<T>(finish: Finish, result: Option<Result<T, E>>) -> Result<T, Self> {
        let (reason, attempts, last) = match (finish, result) {
            (Finish::Answer { attempts, gave_up }, result) => {
                let reason = gave_up.unwrap_or(GiveUp::NotRetryable);
                match result {
                    Some(Ok(value)) => return Ok(value),
                    Some(Err(e)) => (reason, attempts, Some(e)),
                    None => (reason, attempts, None),
                }
            }
            (Finish::GaveUp { reason, attempts }, result) => {
                (reason, attempts, result.and_then(Result::err))
            }
            // A retry plan never times out by itself; a deadline that cut
            // the call short is the retries' deadline.
            (Finish::TimedOut(_), result) => (GiveUp::Deadline, 0, result.and_then(Result::err)),
        };
        Err(RetryError {
            reason,
            attempts,
            last,
        })
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gave up after {} attempt(s): {}",
            self.attempts, self.reason
        )?;
        if let Some(last) = &self.last {
            write!(f, "; last error: {last}")?;
        }
        Ok(())
    }
}

impl<E: core::error::Error + 'static> core::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.last
            .as_ref()
            .map(|e| e as &(dyn core::error::Error + 'static))
    }
}

impl<E> FallbackCause for RetryError<E> {
    fn fallback_reason(&self) -> FallbackReason {
        FallbackReason::GaveUp(self.reason)
    }
}

/// What a retry loop needs besides the operation: the policy, the caller's
/// deadline, a (shared) budget, randomness for jitter and an observer.
#[derive(Debug)]
pub struct RetryContext<'a, L: ?Sized, N, O, C = RetryConfig> {
    /// The policy: a [`RetryConfig`], or anything lending one
    /// (`&RetryConfig`, the std handles' `RetryConfigRef`, a zero-sized
    /// [`const_config!`](failsafe_core::const_config) type, which the
    /// compiler folds into the loop).
    pub config: C,
    /// No retry is scheduled at or after it ([`Deadline::NEVER`] for none).
    pub deadline: Deadline,
    /// The budget, shared across calls behind a lock (`&NoBudget` for none).
    pub budget: &'a L,
    /// Randomness for jitter.
    pub rng: N,
    /// Receives [`RetryEvent`]s.
    pub observer: O,
}

impl<'a, L: ?Sized, N: Rng, O: Observer<RetryEvent>, C: Borrow<RetryConfig>>
    RetryContext<'a, L, N, O, C>
{
    /// The call's [`RetryPlan`], starting at `now`.
    #[inline]
    pub fn plan<G>(self, now: Instant) -> RetryPlan<&'a L, G, N, O, C>
    where
        L: Lock<G>,
        G: RetryBudget,
    {
        RetryPlan::new(
            self.config,
            self.deadline,
            self.budget,
            self.rng,
            self.observer,
            now,
        )
    }

    /// The call's [`RetryPlan`], starting when its first attempt does
    /// ([`RetryPlan::unstarted`]).
    #[inline]
    pub fn unstarted_plan<G>(self) -> RetryPlan<&'a L, G, N, O, C>
    where
        L: Lock<G>,
        G: RetryBudget,
    {
        RetryPlan::unstarted(
            self.config,
            self.deadline,
            self.budget,
            self.rng,
            self.observer,
        )
    }

    /// [`unstarted_plan`](Self::unstarted_plan) with the attempt limit set
    /// at run time, if any (`None`: the config's), judged without the time
    /// when `timeless` (the classifier reads none): the plan every driver
    /// entry makes.
    #[inline]
    pub(crate) fn call_plan<G>(
        self,
        max_attempts: Option<Option<u32>>,
        timeless: bool,
    ) -> RetryPlan<&'a L, G, N, O, C>
    where
        L: Lock<G>,
        G: RetryBudget,
    {
        let mut plan = self.unstarted_plan();
        if let Some(max) = max_attempts {
            plan = plan.with_max_attempts(max);
        }
        if timeless {
            plan = plan.judged_without_time();
        }
        plan
    }
}

/// Runs `op` until it succeeds or the policy gives up, sleeping on
/// `runtime` between attempts. Dropping the returned future stops retrying.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::{BackoffKind, Jitter, NoBudget, RetryConfig};
/// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
/// use failsafe_driver::{retry, Clock, RetryContext, DefaultClassifier, Runtime};
/// use std::{cell::Cell, future::Ready};
///
/// /// A runtime whose sleep completes at once and jumps the clock.
/// struct Virtual(Cell<u64>);
/// impl Clock for Virtual { fn now(&self) -> Instant { Instant::from_millis(self.0.get()) } }
/// impl Runtime for Virtual {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, at: Instant) -> Ready<()> { self.0.set(at.as_millis()); std::future::ready(()) }
/// }
///
/// let rt = Virtual(Cell::new(0));
/// let config = RetryConfig::builder().backoff(BackoffKind::Constant(Duration::from_millis(10))).jitter(Jitter::None).build().unwrap();
/// let ctx = RetryContext { config, deadline: Deadline::NEVER, budget: &NoBudget, rng: Xorshift64::new(1), observer: () };
/// let result = futures_lite::future::block_on(retry(&rt, ctx, &DefaultClassifier, |attempt| async move {
///     if attempt.number < 3 { Err("flaky") } else { Ok(attempt.number) }
/// }));
/// assert_eq!(result, Ok(3));
/// assert_eq!(rt.now(), Instant::from_millis(20));
/// ```
#[inline]
pub fn retry<R, L, G, N, O, C, K, F, Fut, T, E>(
    runtime: &R,
    ctx: RetryContext<'_, L, N, O, C>,
    classify: &K,
    op: F,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    R: Runtime,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // Always under the plan: a firmware's code stays one path (the std
    // handles run a first attempt alone, [`retry_limited`]; both paths
    // compiled for one operation cost a firmware about 1.7 KB of flash).
    let timeless = !classify.verdict_uses_time();
    let judge = move |now, result: &Result<T, E>| Judged::verdict(classify.verdict_at(now, result));
    planned(
        runtime,
        ctx,
        None,
        timeless,
        judge,
        op,
        RetryError::from_finish,
    )
}

/// A retried call under its plan ([`planned`]).
pub(crate) type Planned<'r, 'a, R, L, G, N, O, C, J, F, Fut, M> =
    crate::Execute<'r, R, RetryPlan<&'a L, G, N, O, C>, J, F, Fut, M>;

/// The call under its plan from the start: the plan made now, the clock
/// read for its start only if something needs the time (a deadline,
/// `max_elapsed`, a budget), and at an attempt's end only if it failed or
/// something times a success (a budget, an observer, a classifier reading
/// `now`). The call starts when its future is made (as
/// `tokio::time::timeout`'s deadline does), its first attempt at the
/// first poll.
#[inline]
#[allow(clippy::too_many_arguments)]
pub(crate) fn planned<'r, 'a, R, L, G, N, O, C, J, F, Fut, M, Out>(
    runtime: &'r R,
    ctx: RetryContext<'a, L, N, O, C>,
    max_attempts: Option<Option<u32>>,
    timeless: bool,
    judge: J,
    op: F,
    answer: M,
) -> Planned<'r, 'a, R, L, G, N, O, C, J, F, Fut, M>
where
    R: Runtime,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
    J: Judge<Fut::Output>,
    F: FnMut(Attempt) -> Fut,
    Fut: Future,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
{
    let plan = ctx.call_plan(max_attempts, timeless);
    let now = if plan.needs_start_time() {
        runtime.now()
    } else {
        Instant::ZERO
    };
    execute(runtime, now, plan, judge, op, answer)
}

/// [`retry`] for blocking code: `runtime` blocks the thread between
/// attempts ([`BlockingRuntime::block_until`]).
///
/// # Errors
///
/// A [`RetryError`] when the retries give up: why, the attempts made and
/// the last error.
pub fn retry_blocking<R, L, G, N, O, C, K, F, T, E>(
    runtime: &R,
    ctx: RetryContext<'_, L, N, O, C>,
    classify: &K,
    op: F,
) -> Result<T, RetryError<E>>
where
    R: BlockingRuntime + ?Sized,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Result<T, E>,
{
    retry_blocking_limited(runtime, ctx, None, classify, op)
}

/// [`retry_blocking`] with the attempt limit set at run time, if any
/// (`None`: the config's).
pub(crate) fn retry_blocking_limited<R, L, G, N, O, C, K, F, T, E>(
    runtime: &R,
    ctx: RetryContext<'_, L, N, O, C>,
    max_attempts: Option<Option<u32>>,
    classify: &K,
    op: F,
) -> Result<T, RetryError<E>>
where
    R: BlockingRuntime + ?Sized,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    C: Borrow<RetryConfig>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Result<T, E>,
{
    let mut op = op;
    let mut plan = ctx.call_plan(max_attempts, !classify.verdict_uses_time());
    let judge = |now, result: &Result<T, E>| Judged::verdict(classify.verdict_at(now, result));
    if plan.first_attempt_alone() {
        // As the async `retry`: the first attempt alone, no clock read
        // unless it did not succeed.
        let result = op(Attempt {
            number: 1,
            deadline: Deadline::NEVER,
        });
        let verdict = classify.verdict_at(Instant::ZERO, &result);
        if verdict == Verdict::Success {
            let answered = Finish::Answer {
                attempts: 1,
                gave_up: None,
            };
            return RetryError::from_finish(answered, Some(result));
        }
        let now = runtime.now();
        plan.first_attempt_ended(now, Judged::verdict(verdict));
        let run = |a, _| op(a);
        let (finish, result) = execute_blocking_from(runtime, now, plan, judge, run, Some(result));
        return RetryError::from_finish(finish, result);
    }
    let now = runtime.now();
    let (finish, result) = execute_blocking(runtime, now, plan, judge, |a, _| op(a));
    RetryError::from_finish(finish, result)
}
