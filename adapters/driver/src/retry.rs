//! Retrying an operation through the core's [`Retry`] machine, sleeping on
//! the runtime's timer. The loop exists once, here, for every adapter.

use core::fmt;
use core::future::Future;

use failsafe_core::fallback::FallbackReason;
use failsafe_core::retry::{
    Decision, FailureKind, GiveUp, Retry, RetryBudget, RetryConfig, RetryEvent, Verdict,
};
use failsafe_core::rng::Rng;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer};

use crate::{Clock, Error, FallbackCause, Runtime};

/// Turns an attempt's result into a retry [`Verdict`]: which errors retry,
/// which abort, and which `Ok` values (an HTTP 503) retry too.
///
/// Any `Fn(&Result<T, E>) -> Verdict` is one.
pub trait RetryClassify<T, E> {
    /// The verdict on `result`.
    fn verdict(&self, result: &Result<T, E>) -> Verdict;
}

impl<T, E, F: Fn(&Result<T, E>) -> Verdict> RetryClassify<T, E> for F {
    #[inline]
    fn verdict(&self, result: &Result<T, E>) -> Verdict {
        self(result)
    }
}

/// `Ok` succeeds, every `Err` is retried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOnErr;

impl<T, E> RetryClassify<T, E> for RetryOnErr {
    #[inline]
    fn verdict(&self, result: &Result<T, E>) -> Verdict {
        match result {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::retry(),
        }
    }
}

/// For operations that return [`Error`]: an inner error retries as an
/// error, a timeout as a timeout, a rejection (an open breaker) as
/// throttling. Budgets price them accordingly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOnFailsafeError;

impl<T, E> RetryClassify<T, Error<E>> for RetryOnFailsafeError {
    fn verdict(&self, result: &Result<T, Error<E>>) -> Verdict {
        let kind = match result {
            Ok(_) => return Verdict::Success,
            Err(Error::Inner(_)) => FailureKind::Error,
            Err(Error::Timeout(_)) => FailureKind::Timeout,
            Err(Error::Rejected(_)) => FailureKind::Throttled,
        };
        Verdict::Retry {
            kind,
            retry_after: None,
        }
    }
}

/// The attempt an operation is asked to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The caller's deadline, to hand down to inner calls.
    pub deadline: Deadline,
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
pub struct RetryContext<'a, L: ?Sized, N, O> {
    /// The policy.
    pub config: RetryConfig,
    /// No retry is scheduled at or after it ([`Deadline::NEVER`] for none).
    pub deadline: Deadline,
    /// The budget, shared across calls behind a lock (`&NoBudget` for none).
    pub budget: &'a L,
    /// Randomness for jitter.
    pub rng: N,
    /// Receives [`RetryEvent`]s.
    pub observer: O,
}

/// The decision on one attempt's result, taken with the budget locked
/// only for the decision itself (never across an `.await`).
fn decide<G, L, N, O>(
    machine: &mut Retry<failsafe_core::retry::BackoffState, O>,
    ctx: &mut RetryContext<'_, L, N, O>,
    now: Instant,
    verdict: Verdict,
) -> Decision
where
    G: RetryBudget,
    L: Lock<G> + ?Sized,
    N: Rng,
    O: Observer<RetryEvent>,
{
    let rng = &mut ctx.rng;
    ctx.budget.with(|b| machine.on_result(now, verdict, rng, b))
}

/// How one finished attempt ends the loop, if it does.
fn settle<T, E>(
    decision: Decision,
    result: Result<T, E>,
    attempts: u32,
) -> Result<Result<T, RetryError<E>>, Option<E>> {
    match decision {
        Decision::Done => Ok(result.map_err(|e| RetryError {
            reason: GiveUp::NotRetryable,
            attempts,
            last: Some(e),
        })),
        // A value the classifier wanted retried is still the best answer there is.
        Decision::GiveUp(reason) => Ok(result.map_err(|e| RetryError {
            reason,
            attempts,
            last: Some(e),
        })),
        Decision::RetryAt { .. } => Err(result.err()),
    }
}

/// Runs `op` until it succeeds or the policy gives up, sleeping on
/// `runtime` between attempts. Dropping the returned future stops retrying.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::{BackoffKind, Jitter, NoBudget, RetryConfig};
/// use failsafe_core::{rng::Xorshift64, timeout::Deadline, Instant};
/// use failsafe_driver::{retry, Clock, RetryContext, RetryOnErr, Runtime};
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
/// let result = futures_lite::future::block_on(retry(&rt, ctx, &RetryOnErr, |attempt| async move {
///     if attempt.number < 3 { Err("flaky") } else { Ok(attempt.number) }
/// }));
/// assert_eq!(result, Ok(3));
/// assert_eq!(rt.now(), Instant::from_millis(20));
/// ```
pub async fn retry<R, L, G, N, O, K, F, Fut, T, E>(
    runtime: &R,
    mut ctx: RetryContext<'_, L, N, O>,
    classify: &K,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    R: Runtime,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent> + Clone,
    K: RetryClassify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = ctx.deadline;
    let mut machine = Retry::new(ctx.config, runtime.now())
        .with_deadline(deadline.instant())
        .observed(ctx.observer.clone());
    let mut last = None;
    loop {
        let now = runtime.now();
        let number = match ctx.budget.with(|b| machine.start_attempt(now, b)) {
            Ok(n) => n,
            Err(reason) => {
                return Err(RetryError {
                    reason,
                    attempts: machine.attempts(),
                    last,
                });
            }
        };
        let result = op(Attempt { number, deadline }).await;
        let verdict = classify.verdict(&result);
        let decision = decide::<G, L, N, O>(&mut machine, &mut ctx, runtime.now(), verdict);
        match settle(decision, result, machine.attempts()) {
            Ok(done) => return done,
            Err(error) => last = error,
        }
        if let Decision::RetryAt { at, .. } = decision {
            runtime.sleep_until(at).await;
        }
    }
}

/// [`retry`] for blocking code: `sleep_until` blocks the thread until the
/// instant (e.g. `std::thread::sleep`).
pub fn retry_blocking<C, S, L, G, N, O, K, F, T, E>(
    clock: &C,
    mut sleep_until: S,
    mut ctx: RetryContext<'_, L, N, O>,
    classify: &K,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    C: Clock,
    S: FnMut(Instant),
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent> + Clone,
    K: RetryClassify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Result<T, E>,
{
    let deadline = ctx.deadline;
    let mut machine = Retry::new(ctx.config, clock.now())
        .with_deadline(deadline.instant())
        .observed(ctx.observer.clone());
    let mut last = None;
    loop {
        let now = clock.now();
        let number = match ctx.budget.with(|b| machine.start_attempt(now, b)) {
            Ok(n) => n,
            Err(reason) => {
                return Err(RetryError {
                    reason,
                    attempts: machine.attempts(),
                    last,
                });
            }
        };
        let result = op(Attempt { number, deadline });
        let verdict = classify.verdict(&result);
        let decision = decide::<G, L, N, O>(&mut machine, &mut ctx, clock.now(), verdict);
        match settle(decision, result, machine.attempts()) {
            Ok(done) => return done,
            Err(error) => last = error,
        }
        if let Decision::RetryAt { at, .. } = decision {
            sleep_until(at);
        }
    }
}
