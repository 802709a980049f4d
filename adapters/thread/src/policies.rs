//! Retry, timeout and fallback for blocking code: thin wrappers over the
//! driver's shared handles whose `run` is the blocking one.

use core::fmt;
use core::ops::Deref;

use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
use failsafe_core::retry::{NoBudget, RetryBudget, RetryConfig, RetryEvent};
use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent};
use failsafe_driver as driver;
use failsafe_driver::{
    Attempt, BlockingChain, BlockingRuntime, Clock, Error, FallbackCause, RetryClassify,
    RetryError, SharedBudget, StdClock,
};

/// A cloneable retry policy for blocking code: clones share the budget `B`
/// ([`NoBudget`] by default) and the jitter seed counter, across threads
/// too.
///
/// [`run`](Self::run) runs the closure on the calling thread and blocks it
/// between attempts: `C` is the clock that blocks, [`StdClock`] (with
/// `std::thread::sleep`) unless a test injects one with
/// [`with_clock`](Self::with_clock) whose
/// [`block_until`](BlockingRuntime::block_until) moves it forward instead.
/// Every other method is the driver's
/// [`RetryPolicy`](failsafe_driver::RetryPolicy)'s, through `Deref`.
///
/// ```
/// use std::time::Duration;
/// use failsafe_thread::{BackoffKind, GiveUp, Jitter, RetryConfig, RetryPolicy};
///
/// let config = RetryConfig::builder()
///     .max_attempts(3)
///     .backoff(BackoffKind::Constant(Duration::ZERO))
///     .jitter(Jitter::None)
///     .build()
///     .unwrap();
/// let retry = RetryPolicy::new(config);
/// assert_eq!(retry.run(|a| if a.number < 3 { Err("flaky") } else { Ok(a.number) }), Ok(3));
/// let gave_up = retry.run(|_| Err::<(), _>("down")).unwrap_err();
/// assert_eq!((gave_up.reason, gave_up.attempts), (GiveUp::Attempts, 3));
/// ```
pub struct RetryPolicy<B = NoBudget, C = StdClock>(driver::RetryPolicy<B, C>);

impl RetryPolicy<NoBudget, StdClock> {
    /// A policy with `config` and no budget, on the std clock.
    pub fn new(config: RetryConfig) -> Self {
        RetryPolicy(driver::RetryPolicy::new(config))
    }
}

impl<C: BlockingRuntime> RetryPolicy<NoBudget, C> {
    /// A policy with `config` and no budget, on `clock` (a test clock, say).
    pub fn with_clock(config: RetryConfig, clock: C) -> Self {
        RetryPolicy(driver::RetryPolicy::with_clock(config, clock))
    }
}

impl<B, C> RetryPolicy<B, C> {
    /// The same policy spending `budget`, shared by this handle's clones
    /// from now on.
    pub fn budget<B2: RetryBudget>(self, budget: B2) -> RetryPolicy<B2, C> {
        RetryPolicy(self.0.budget(budget))
    }

    /// The same policy spending an existing shared budget.
    pub fn shared_budget<B2>(self, budget: SharedBudget<B2>) -> RetryPolicy<B2, C> {
        RetryPolicy(self.0.shared_budget(budget))
    }

    /// Seeds the jitter, for repeatable delays.
    pub fn seed(self, seed: u64) -> Self {
        RetryPolicy(self.0.seed(seed))
    }

    /// Sends every [`RetryEvent`] to `f` (replacing any previous hook).
    /// `f` runs under the budget's lock: keep it short.
    pub fn on_event(self, f: impl Fn(RetryEvent) + Send + Sync + 'static) -> Self {
        RetryPolicy(self.0.on_event(f))
    }

    /// The driver's handle (also reachable through `Deref`).
    pub fn as_policy(&self) -> &driver::RetryPolicy<B, C> {
        &self.0
    }

    /// Unwraps the driver's handle.
    pub fn into_policy(self) -> driver::RetryPolicy<B, C> {
        self.0
    }
}

impl<B: RetryBudget, C: BlockingRuntime> RetryPolicy<B, C> {
    /// Runs `op` on this thread until it returns `Ok` or the policy gives
    /// up, blocking between attempts; every `Err` is retried.
    pub fn run<F, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.0.run_blocking(op)
    }

    /// [`run`](Self::run) with `classify` deciding which results retry.
    pub fn run_with<K, F, T, E>(&self, classify: &K, op: F) -> Result<T, RetryError<E>>
    where
        K: RetryClassify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.0.run_blocking_with(classify, op)
    }

    /// [`run_with`](Self::run_with) under the caller's `deadline`: no retry
    /// is scheduled to start at or after it.
    pub fn run_with_deadline<K, F, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        op: F,
    ) -> Result<T, RetryError<E>>
    where
        K: RetryClassify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.0.run_blocking_with_deadline(deadline, classify, op)
    }
}

impl<B, C> Deref for RetryPolicy<B, C> {
    type Target = driver::RetryPolicy<B, C>;

    fn deref(&self) -> &driver::RetryPolicy<B, C> {
        &self.0
    }
}

impl<B, C> From<driver::RetryPolicy<B, C>> for RetryPolicy<B, C> {
    fn from(policy: driver::RetryPolicy<B, C>) -> Self {
        RetryPolicy(policy)
    }
}

impl<B, C: Clone> Clone for RetryPolicy<B, C> {
    fn clone(&self) -> Self {
        RetryPolicy(self.0.clone())
    }
}

impl<B, C: fmt::Debug> fmt::Debug for RetryPolicy<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RetryPolicy").field(&self.0).finish()
    }
}

/// A cloneable timeout for blocking code.
///
/// A thread cannot be interrupted, so [`run`](Self::run) hands the closure
/// its deadline (`now + timeout`, or the caller's if earlier) to bound its
/// own waits with, and judges the result when it returns: in
/// [`TimeoutMode::Cancel`](crate::TimeoutMode::Cancel) a late result is
/// replaced by [`Error::Timeout`] (and a deadline that has already passed
/// does not run the closure at all); in
/// [`TimeoutMode::Soft`](crate::TimeoutMode::Soft) it is kept and the hook
/// hears of the overrun.
///
/// ```
/// use std::time::Duration;
/// use failsafe_thread::{Clock, Deadline, TimeoutConfig, TimeoutPolicy};
///
/// let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(5)).unwrap());
/// let remaining = timeout
///     .run(Deadline::NEVER, |deadline| Ok::<_, ()>(deadline.remaining(timeout.clock().now())))
///     .unwrap();
/// assert!(remaining <= Duration::from_secs(5));
/// ```
pub struct TimeoutPolicy<C = StdClock>(driver::TimeoutPolicy<C>);

impl TimeoutPolicy<StdClock> {
    /// A timeout with `config` on the std clock.
    pub fn new(config: TimeoutConfig) -> Self {
        TimeoutPolicy(driver::TimeoutPolicy::new(config))
    }
}

impl<C: Clock> TimeoutPolicy<C> {
    /// A timeout with `config` reading `clock`.
    pub fn with_clock(config: TimeoutConfig, clock: C) -> Self {
        TimeoutPolicy(driver::TimeoutPolicy::with_clock(config, clock))
    }

    /// Sends every [`TimeoutEvent`] to `f` (replacing any previous hook).
    pub fn on_event(self, f: impl Fn(TimeoutEvent) + Send + Sync + 'static) -> Self {
        TimeoutPolicy(self.0.on_event(f))
    }

    /// Runs `op` on this thread under the deadline, as described above.
    pub fn run<F, T, E>(&self, parent: Deadline, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, E>,
    {
        self.0.run_blocking(parent, op)
    }

    /// The driver's handle (also reachable through `Deref`).
    pub fn as_policy(&self) -> &driver::TimeoutPolicy<C> {
        &self.0
    }
}

impl<C> Deref for TimeoutPolicy<C> {
    type Target = driver::TimeoutPolicy<C>;

    fn deref(&self) -> &driver::TimeoutPolicy<C> {
        &self.0
    }
}

impl<C: Clone> Clone for TimeoutPolicy<C> {
    fn clone(&self) -> Self {
        TimeoutPolicy(self.0.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for TimeoutPolicy<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimeoutPolicy").field(&self.0).finish()
    }
}

/// A cloneable fallback for blocking code: a failure the policy accepts
/// (all by default) is answered by an alternative that sees the reason and
/// the error.
///
/// ```
/// use failsafe_thread::{Error, Fallback, FallbackReason};
///
/// let fallback = Fallback::new();
/// let reading = fallback
///     .chain(|| Err::<u32, _>(Error::Inner("sensor A offline")))
///     .or_else(|_reason, _error| Err(Error::Inner("sensor B offline")))
///     .or_else(|reason, _error| {
///         assert_eq!(reason, FallbackReason::Failed);
///         Ok(20) // the last known good value
///     })
///     .finish();
/// assert_eq!(reading, Ok(20));
/// ```
pub struct Fallback<C = StdClock>(driver::Fallback<C>);

impl Fallback<StdClock> {
    /// Falls back for every reason, on the std clock.
    pub fn new() -> Self {
        Fallback(driver::Fallback::new())
    }
}

impl Default for Fallback<StdClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> Fallback<C> {
    /// Falls back for every reason; events are stamped by `clock`.
    pub fn with_clock(clock: C) -> Self {
        Fallback(driver::Fallback::with_clock(clock))
    }

    /// Falls back only for the reasons `policy` accepts.
    pub fn policy(self, policy: FallbackPolicy) -> Self {
        Fallback(self.0.policy(policy))
    }

    /// Sends every [`FallbackEvent`] to `f` (replacing any previous hook).
    pub fn on_event(self, f: impl Fn(FallbackEvent) + Send + Sync + 'static) -> Self {
        Fallback(self.0.on_event(f))
    }

    /// Runs `primary`; if it fails for a reason the policy accepts, runs
    /// `alternative(reason, error)` instead.
    pub fn run<P, A, T, X>(&self, primary: P, alternative: A) -> Result<T, X>
    where
        P: FnOnce() -> Result<T, X>,
        X: FallbackCause,
        A: FnOnce(FallbackReason, X) -> Result<T, X>,
    {
        self.0.run_blocking(primary, alternative)
    }

    /// An ordered chain: runs `primary` now; each `or_else` runs its
    /// alternative at once if everything before it failed for a reason the
    /// policy accepts; `finish` gives the result.
    pub fn chain<P, T, X>(&self, primary: P) -> BlockingChain<'_, C, T, X>
    where
        P: FnOnce() -> Result<T, X>,
    {
        self.0.chain_blocking(primary)
    }

    /// The driver's handle (also reachable through `Deref`).
    pub fn as_fallback(&self) -> &driver::Fallback<C> {
        &self.0
    }
}

impl<C> Deref for Fallback<C> {
    type Target = driver::Fallback<C>;

    fn deref(&self) -> &driver::Fallback<C> {
        &self.0
    }
}

impl<C: Clone> Clone for Fallback<C> {
    fn clone(&self) -> Self {
        Fallback(self.0.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for Fallback<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fallback").field(&self.0).finish()
    }
}
