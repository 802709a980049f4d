//! Retrying an operation through the core's [`Retry`] machine, sleeping on
//! the runtime's timer. The loop exists once, here, for every adapter.

use core::fmt;
use core::future::Future;

use failsafe_core::fallback::FallbackReason;
use failsafe_core::retry::{FailureKind, GiveUp, RetryBudget, RetryConfig, RetryEvent, Verdict};
use failsafe_core::rng::Rng;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome};

use crate::{
    Classify, Clock, DefaultClassifier, Error, FallbackCause, RetryLoop, RetryStep, Runtime,
};

/// `Ok` succeeds, every `Err` is retried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryOnErr;

impl<T, E> Classify<T, E> for RetryOnErr {
    #[inline]
    fn classify(&self, result: &Result<T, E>) -> Outcome {
        DefaultClassifier.classify(result)
    }
}

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
    ctx: RetryContext<'_, L, N, O>,
    classify: &K,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    R: Runtime,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    // One clock read starts the loop and its first attempt.
    let mut started = Some(runtime.now());
    let mut steps = RetryLoop::new(
        ctx.config,
        ctx.deadline,
        ctx.budget,
        ctx.rng,
        ctx.observer,
        started.unwrap_or(Instant::ZERO),
    );
    loop {
        let attempt = steps.start(started.take().unwrap_or_else(|| runtime.now()))?;
        let result = op(attempt).await;
        let now = runtime.now();
        let verdict = classify.verdict_at(now, &result);
        match steps.finish(now, verdict, result) {
            RetryStep::RetryAt(at) => runtime.sleep_until(at).await,
            RetryStep::Done(done) => return done,
        }
    }
}

/// [`retry`] for blocking code: `sleep_until` blocks the thread until the
/// instant (e.g. `std::thread::sleep`).
pub fn retry_blocking<C, S, L, G, N, O, K, F, T, E>(
    clock: &C,
    mut sleep_until: S,
    ctx: RetryContext<'_, L, N, O>,
    classify: &K,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    C: Clock,
    S: FnMut(Instant),
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    N: Rng,
    O: Observer<RetryEvent>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Result<T, E>,
{
    let mut started = Some(clock.now());
    let mut steps = RetryLoop::new(
        ctx.config,
        ctx.deadline,
        ctx.budget,
        ctx.rng,
        ctx.observer,
        started.unwrap_or(Instant::ZERO),
    );
    loop {
        let attempt = steps.start(started.take().unwrap_or_else(|| clock.now()))?;
        let result = op(attempt);
        let now = clock.now();
        let verdict = classify.verdict_at(now, &result);
        match steps.finish(now, verdict, result) {
            RetryStep::RetryAt(at) => sleep_until(at),
            RetryStep::Done(done) => return done,
        }
    }
}
