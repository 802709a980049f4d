//! # failsafe-thread
//!
//! [Failsafe](failsafe_core) for blocking code on plain std threads: no
//! async runtime; `breaker.call(|| ..)`, `retry.run(|attempt| ..)`,
//! `timeout.run(parent, |deadline| ..)` and `fallback.run(|| .., |reason, error| ..)`
//! run the closures on the calling thread, and a retry's backoff blocks
//! the thread.
//!
//! [`CircuitBreaker`] is a thin wrapper over the driver's shared
//! [`Breaker`] handle whose `call` is the blocking one
//! ([`Breaker::call_blocking`]); every other method (`state`, `metrics`,
//! `open`, `close`, `force_open`, ...) is the handle's, reached through
//! `Deref`. Clones share one breaker, and the handle is `Send + Sync`, so
//! threads can share it by clone, by `Arc` or by reference in a
//! `std::thread::scope`.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_thread::{BreakerConfig, CircuitBreaker, CountWindow, Error, State};
//!
//! fn read_sensor() -> Result<u32, std::io::Error> {
//!     Ok(42)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = BreakerConfig::builder()
//!     .consecutive_failures(5)
//!     .open_wait(Duration::from_secs(10))
//!     .build()?;
//! let breaker = CircuitBreaker::new(config, CountWindow::<100>::new());
//!
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let breaker = breaker.clone(); // clones share one breaker
//!         std::thread::spawn(move || breaker.call(read_sensor))
//!     })
//!     .collect();
//! for worker in workers {
//!     match worker.join().unwrap() {
//!         Ok(value) => assert_eq!(value, 42),
//!         // not called: the breaker is open; retry at `rejected.retry_at`
//!         Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
//!         Err(Error::Inner(io_error)) => return Err(io_error.into()),
//!         Err(other) => return Err(other.into()),
//!     }
//! }
//! assert_eq!(breaker.state(), State::Closed);
//! # Ok(())
//! # }
//! ```
//!
//! A panic inside the closure returns the permit as `Cancelled` while it
//! unwinds (a half-open probe slot is never lost), then keeps unwinding.
//!
//! ## Retry, timeout and fallback
//!
//! In the documented default order, from the outside in: Fallback -> Retry
//! -> CircuitBreaker -> Timeout.
//!
//! ```
//! use std::time::Duration;
//! use failsafe_thread::{
//!     BackoffKind, BreakerConfig, CircuitBreaker, CountWindow, Deadline, Error, Fallback, Jitter,
//!     RetryConfig, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TimeoutPolicy, TokenQuota,
//! };
//!
//! fn read_sensor(deadline: Deadline) -> Result<u32, std::io::Error> {
//!     let _ = deadline; // e.g. a socket's read timeout: deadline.remaining(now)
//!     Ok(42)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fallback = Fallback::new();
//! let retry = RetryPolicy::new(
//!     RetryConfig::builder()
//!         .max_attempts(3)
//!         .backoff(BackoffKind::Constant(Duration::from_millis(50)))
//!         .jitter(Jitter::Full)
//!         .build()?,
//! )
//! .budget(TokenQuota::AWS_STANDARD); // clones share it, across threads too
//! let breaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<100>::new());
//! let per_attempt = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500))?);
//!
//! let value = fallback.run(
//!     || {
//!         retry.run_with(&RetryOnFailsafeError, |attempt| {
//!             breaker
//!                 .call(|| per_attempt.run(attempt.deadline, read_sensor))
//!                 .map_err(Error::flatten)
//!         })
//!     },
//!     |_reason, _gave_up| Ok(0), // a safe default
//! )?;
//! assert_eq!(value, 42);
//! # Ok(())
//! # }
//! ```
//!
//! A thread cannot be interrupted: the timeout hands the deadline to the
//! closure to bound its own waits, and a result that comes back after it is
//! replaced by [`Error::Timeout`] (or, in [`TimeoutMode::Soft`], kept and
//! reported). Tests inject a clock whose
//! [`block_until`](BlockingRuntime::block_until) moves it forward, so no
//! retry timeline needs to sleep.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use core::fmt;
use core::ops::Deref;

pub use failsafe_core::breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerMetrics, CountWindow, NoWindow,
    State, TimeWindow, Window,
};
pub use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
pub use failsafe_core::retry::{
    BackoffKind, FailureKind, GiveUp, GrpcThrottle, Jitter, NoBudget, RatioBudget, RetryAfter,
    RetryBudget, RetryConfig, RetryConfigBuilder, RetryEvent, TokenQuota, Verdict,
};
pub use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
pub use failsafe_core::{ConfigError, Instant, Outcome, Problem, RejectReason, Rejected};
pub use failsafe_driver::{
    Attempt, BlockingChain, BlockingRuntime, Breaker, Classify, Clock, DefaultClassifier, Error,
    FallbackCause, PermitGuard, RetryClassify, RetryError, RetryOnErr, RetryOnFailsafeError,
    SharedBudget, SharedStdBreaker, StdClock,
};

mod policies;

pub use policies::{Fallback, RetryPolicy, TimeoutPolicy};

/// A cloneable, `Send + Sync` circuit breaker for blocking code: clones
/// share one breaker.
///
/// `W` is the window: [`CountWindow<N>`] (the last `N` calls, default 100),
/// [`TimeWindow<B>`] (the last period, in `B` buckets) or [`NoWindow`]
/// (consecutive failures only). `C` is the clock, [`StdClock`] unless a
/// test injects its own with [`with_clock`](Self::with_clock).
///
/// [`call`](Self::call) and [`call_with`](Self::call_with) block: they run
/// the closure on the calling thread. Every other method is the shared
/// [`Breaker`] handle's, through `Deref`.
pub struct CircuitBreaker<W = CountWindow<100>, C = StdClock>(Breaker<W, C>);

impl<W: Window> CircuitBreaker<W, StdClock> {
    /// A closed breaker with `config` over `window`, on the std clock.
    ///
    /// ```
    /// use failsafe_thread::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// let config = BreakerConfig::builder().consecutive_failures(3).build().unwrap();
    /// let breaker = CircuitBreaker::new(config, NoWindow);
    /// assert_eq!(breaker.state(), State::Closed);
    /// ```
    pub fn new(config: BreakerConfig, window: W) -> Self {
        CircuitBreaker(Breaker::new(config, window))
    }
}

impl<W: Window, C: Clock> CircuitBreaker<W, C> {
    /// A closed breaker reading `clock` (a test clock, say).
    pub fn with_clock(config: BreakerConfig, window: W, clock: C) -> Self {
        CircuitBreaker(Breaker::with_clock(config, window, clock))
    }

    /// Sends every [`BreakerEvent`] to `f` (replacing any previous hook).
    /// `f` runs under the breaker's lock: keep it short and do not call
    /// back into the breaker.
    pub fn on_event(self, f: impl Fn(BreakerEvent) + Send + Sync + 'static) -> Self {
        CircuitBreaker(self.0.on_event(f))
    }

    /// Runs `f` on this thread through the breaker; `Err` counts as a
    /// failure. A rejection returns [`Error::Rejected`] without calling `f`.
    ///
    /// ```
    /// use failsafe_thread::{BreakerConfig, CircuitBreaker, Error, NoWindow, RejectReason};
    /// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
    /// let breaker = CircuitBreaker::new(config, NoWindow);
    /// assert_eq!(breaker.call(|| Err::<(), _>("down")), Err(Error::Inner("down")));
    /// let r = breaker.call(|| Ok::<_, &str>(1));
    /// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::BreakerOpen);
    /// ```
    pub fn call<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking(f)
    }

    /// Runs `f` on this thread through the breaker; `classify` decides what
    /// each result tells the breaker. The caller gets `f`'s result as is.
    ///
    /// ```
    /// use failsafe_thread::{BreakerConfig, CircuitBreaker, NoWindow, Outcome, State};
    /// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
    /// let breaker = CircuitBreaker::new(config, NoWindow);
    /// let by_status = |r: &Result<u16, ()>| match r {
    ///     Ok(s) if *s >= 500 => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    ///     Err(()) => Outcome::Failure,
    /// };
    /// assert_eq!(breaker.call_with(&by_status, || Ok(503)), Ok(503));
    /// assert_eq!(breaker.state(), State::Open);
    /// ```
    pub fn call_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking_with(classify, f)
    }

    /// The shared handle (also reachable through `Deref`), e.g. to hand the
    /// same breaker to async code.
    pub fn as_breaker(&self) -> &Breaker<W, C> {
        &self.0
    }

    /// Unwraps the shared handle.
    pub fn into_breaker(self) -> Breaker<W, C> {
        self.0
    }
}

impl<W, C> Deref for CircuitBreaker<W, C> {
    type Target = Breaker<W, C>;

    fn deref(&self) -> &Breaker<W, C> {
        &self.0
    }
}

impl<W, C> From<Breaker<W, C>> for CircuitBreaker<W, C> {
    fn from(breaker: Breaker<W, C>) -> Self {
        CircuitBreaker(breaker)
    }
}

impl<W, C: Clone> Clone for CircuitBreaker<W, C> {
    fn clone(&self) -> Self {
        CircuitBreaker(self.0.clone())
    }
}

impl<W, C: fmt::Debug> fmt::Debug for CircuitBreaker<W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CircuitBreaker").field(&self.0).finish()
    }
}

mod rate;

pub use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull,
};
pub use failsafe_driver::{
    DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, SharedKeyedLimiter, SharedLimiter, StdLock,
};
pub use rate::{KeyedRateLimiter, RateLimiter};

mod failfast;

pub use failfast::FailFast;
pub use failsafe_core::failfast::{
    CloseCause, FailFastConfig, FailFastConfigBuilder, FailFastEvent, FailFastMetrics, OpenCause,
    State as FailFastState,
};
pub use failsafe_driver::{
    ByOutcome, ClassifyHealth, FailFastGuard, Health, SharedStdFailFast, UnhealthyWhen,
};

mod bulkhead;

pub use bulkhead::Bulkhead;
pub use failsafe_core::bulkhead::{
    Aimd, AimdBuilder, BulkheadConfig, BulkheadConfigBuilder, BulkheadEvent, BulkheadMetrics,
    FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
};
pub use failsafe_driver::{BulkheadGuard, OwnedBulkheadGuard, Park, SharedStdBulkhead};
