//! # failsafe-async-std
//!
//! [Failsafe](failsafe_core) for runtimes built on [`async-io`](async_io):
//! **smol**, and async-std. A circuit breaker ([`CircuitBreaker`]),
//! retries ([`RetryPolicy`]), timeouts ([`TimeoutPolicy`]) and fallbacks
//! ([`Fallback`]), as cloneable handles with the same API as in
//! `failsafe-tokio`.
//!
//! > **async-std is discontinued upstream** (advisory
//! > [RUSTSEC-2025-0052](https://rustsec.org/advisories/RUSTSEC-2025-0052.html));
//! > its authors point to smol. This crate does not depend on async-std at
//! > all: it reads the std clock and sleeps on `async_io::Timer`, which both
//! > runtimes drive, so **smol users can use this crate directly**, and
//! > async-std code keeps working while it migrates.
//!
//! This crate only binds [`failsafe_driver`] to async-io: the state
//! machines are [`failsafe_core`]'s; the call wrapper, the retry loop, the
//! timeout race and the fallback decision are the driver's.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{BreakerConfig, CircuitBreaker, CountWindow, Error};
//!
//! async fn fetch(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("item {id}"))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5)
//!     .minimum_calls(10)
//!     .open_wait(Duration::from_secs(30))
//!     .build()?;
//! // one breaker per dependency; clones share it
//! let breaker: CircuitBreaker = CircuitBreaker::new(config, CountWindow::new());
//!
//! smol::block_on(async {
//!     match breaker.call(|| fetch(7)).await {
//!         Ok(item) => assert_eq!(item, "item 7"),
//!         // not called: the breaker is open; retry at `rejected.retry_at`
//!         Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
//!         Err(Error::Inner(io_error)) => eprintln!("fetch failed: {io_error}"),
//!         Err(other) => eprintln!("{other}"),
//!     }
//! });
//! # Ok(())
//! # }
//! ```
//!
//! `breaker.call_with(&classifier, || ..)` decides per result what counts as
//! a failure (see [`Classify`]). Dropping the call's future, or a panic
//! inside it, returns the permit as `Cancelled`, so a half-open breaker's
//! probe slot is never lost.
//!
//! ## Retry, timeout and fallback
//!
//! In the documented default order, from the outside in: Fallback -> Retry
//! -> CircuitBreaker -> Timeout.
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{
//!     AsyncIoClock, BackoffKind, BreakerConfig, CircuitBreaker, CountWindow, Deadline, Error,
//!     Fallback, Jitter, RetryConfig, RetryOnFailsafeError, RetryPolicy, TimeoutConfig,
//!     TimeoutPolicy, TokenQuota,
//! };
//!
//! async fn fetch(deadline: Deadline) -> Result<u32, std::io::Error> {
//!     let _ = deadline; // hand it down
//!     Ok(7)
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
//! .budget(TokenQuota::AWS_STANDARD); // clones share it
//! let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
//! let per_attempt = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500))?);
//!
//! let value = smol::block_on(async {
//!     let (breaker, per_attempt) = (&breaker, &per_attempt);
//!     fallback
//!         .run(
//!             retry.run_with(&RetryOnFailsafeError, |attempt| async move {
//!                 breaker
//!                     .call(|| per_attempt.run(attempt.deadline, fetch))
//!                     .await
//!                     .map_err(Error::flatten)
//!             }),
//!             |_reason, _gave_up| async { Ok(0) },
//!         )
//!         .await
//! })?;
//! assert_eq!(value, 7);
//! # Ok(())
//! # }
//! ```
//!
//! Every [`AsyncIoClock`] reads the same process-wide epoch, so deadlines
//! pass between handles made at any time.
//!
//! ## Time
//!
//! [`AsyncIoClock`] is the driver's [`StdClock`] (one process-wide epoch)
//! plus sleeping on [`async_io::Timer::at`]. There is no virtual time here:
//! to test timelines, build the handles with the driver's generic types
//! ([`Breaker::with_clock`],
//! [`failsafe_driver::RetryPolicy::with_clock`],
//! [`failsafe_driver::TimeoutPolicy::with_clock`]) and a runtime of your own
//! whose clock the test moves forward (its `sleep_until` can jump the clock
//! and complete at once).
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

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
    Attempt, Breaker, Classify, Clock, DefaultClassifier, Error, FallbackCause, FallbackChain,
    PermitGuard, RetryClassify, RetryError, RetryOnErr, RetryOnFailsafeError, Runtime,
    SharedBudget, SharedStdBreaker, StdClock,
};

/// The std clock ([`StdClock`]: one process-wide epoch, so every handle
/// agrees on `now`) with sleeps on [`async_io::Timer`], which smol and
/// async-std both drive.
///
/// ```
/// use failsafe_async_std::{AsyncIoClock, Clock, Instant, Runtime};
///
/// let clock = AsyncIoClock;
/// let start = clock.now();
/// // a deadline that has passed completes at once
/// smol::block_on(clock.sleep_until(Instant::ZERO));
/// assert!(clock.now() >= start);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncIoClock;

impl Clock for AsyncIoClock {
    #[inline]
    fn now(&self) -> Instant {
        StdClock.now()
    }
}

impl Runtime for AsyncIoClock {
    type Sleep = Sleep;

    /// [`async_io::Timer::at`] the std instant `deadline` stands for.
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(async_io::Timer::at(StdClock::to_std(deadline)))
    }
}

/// The future returned by [`AsyncIoClock::sleep_until`]: completes at the
/// deadline, at once if it has passed.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// A cloneable, `Send + Sync` circuit breaker for smol and async-std: clones
/// share one breaker.
///
/// This is the driver's [`Breaker`] handle bound to [`AsyncIoClock`]; see it
/// for every method: [`CircuitBreaker::new(config, window)`](Breaker::new),
/// [`call`](Breaker::call), [`call_with`](Breaker::call_with),
/// [`acquire`](Breaker::acquire), [`state`](Breaker::state),
/// [`metrics`](Breaker::metrics), [`on_event`](Breaker::on_event) and the
/// operator switches ([`open`](Breaker::open), [`close`](Breaker::close),
/// [`force_open`](Breaker::force_open), ...).
///
/// `new` takes the window type from its argument; a `CountWindow::new()`
/// needs its size spelled out, as `CountWindow::<100>::new()` or with
/// `let breaker: CircuitBreaker = ..`.
pub type CircuitBreaker<W = CountWindow<100>> = Breaker<W, AsyncIoClock>;

/// A cloneable retry policy for smol and async-std: clones share the
/// budget `B` ([`NoBudget`] by default) and the jitter seed counter.
///
/// This is the driver's [`RetryPolicy`](failsafe_driver::RetryPolicy)
/// bound to [`AsyncIoClock`]; see it for every method:
/// [`RetryPolicy::new(config)`](failsafe_driver::RetryPolicy::new),
/// [`.budget(..)`](failsafe_driver::RetryPolicy::budget),
/// [`.seed(..)`](failsafe_driver::RetryPolicy::seed),
/// [`.on_event(..)`](failsafe_driver::RetryPolicy::on_event),
/// [`run`](failsafe_driver::RetryPolicy::run),
/// [`run_with`](failsafe_driver::RetryPolicy::run_with) and
/// [`run_with_deadline`](failsafe_driver::RetryPolicy::run_with_deadline).
///
/// ```
/// use std::time::Duration;
/// use failsafe_async_std::{BackoffKind, Jitter, RetryConfig, RetryPolicy};
///
/// let config = RetryConfig::builder()
///     .backoff(BackoffKind::Constant(Duration::ZERO)) // retry at once
///     .jitter(Jitter::None)
///     .build()
///     .unwrap();
/// let retry: RetryPolicy = RetryPolicy::new(config);
/// let answer = smol::block_on(retry.run(|attempt| async move {
///     if attempt.number < 2 { Err("flaky") } else { Ok(attempt.number) }
/// }));
/// assert_eq!(answer, Ok(2));
/// ```
pub type RetryPolicy<B = NoBudget> = failsafe_driver::RetryPolicy<B, AsyncIoClock>;

/// A cloneable timeout for smol and async-std: the driver's
/// [`TimeoutPolicy`](failsafe_driver::TimeoutPolicy) bound to
/// [`AsyncIoClock`]: [`TimeoutPolicy::new(config)`](failsafe_driver::TimeoutPolicy::new),
/// [`.on_event(..)`](failsafe_driver::TimeoutPolicy::on_event) and
/// [`run(parent_deadline, |deadline| async { .. })`](failsafe_driver::TimeoutPolicy::run).
pub type TimeoutPolicy = failsafe_driver::TimeoutPolicy<AsyncIoClock>;

/// A cloneable fallback for smol and async-std: the driver's
/// [`Fallback`](failsafe_driver::Fallback) bound to [`AsyncIoClock`]:
/// [`run(primary, |reason, error| ..)`](failsafe_driver::Fallback::run) and
/// [`chain(primary).or_else(..)`](failsafe_driver::Fallback::chain).
pub type Fallback = failsafe_driver::Fallback<AsyncIoClock>;

mod rate;

pub use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull,
};
pub use failsafe_driver::{
    DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, SharedKeyedLimiter, SharedLimiter, StdLock,
};
pub use rate::{KeyedRateLimiter, RateLimiter};

pub use failsafe_core::failfast::{
    CloseCause, FailFastConfig, FailFastConfigBuilder, FailFastEvent, FailFastMetrics, OpenCause,
    State as FailFastState,
};
pub use failsafe_driver::{
    ByOutcome, ClassifyHealth, FailFastGuard, Health, SharedStdFailFast, UnhealthyWhen,
};

/// A cloneable, `Send + Sync` fail fast for smol and async-std: clones share
/// one fail fast. This is the driver's [`FailFast`](failsafe_driver::FailFast)
/// handle bound to [`AsyncIoClock`]; see it for every method.
///
/// It opens after a number of failures in a row, when a result is judged
/// [`Health::Unhealthy`], or by hand, and stays open (rejecting every call
/// at once, without calling the operation) until recovery is signalled:
/// [`report_healthy`](failsafe_driver::FailFast::report_healthy),
/// [`close`](failsafe_driver::FailFast::close), or a successful probe if a
/// [`probe_interval`](FailFastConfigBuilder::probe_interval) is set. With
/// [`call_with_deadline`](failsafe_driver::FailFast::call_with_deadline) it
/// also refuses a call the caller's [`Deadline`] cannot cover.
///
/// ## Quick start: fail fast
///
/// ```
/// use std::time::Duration;
/// use failsafe_async_std::{
///     Clock, Deadline, DefaultClassifier, Error, FailFast, FailFastConfig, FailFastState,
///     RejectReason, UnhealthyWhen,
/// };
///
/// #[derive(Debug, PartialEq)]
/// enum CacheError { Miss, Refused }
///
/// async fn get(key: &str) -> Result<String, CacheError> {
///     match key {
///         "" => Err(CacheError::Refused),
///         "gone" => Err(CacheError::Miss),
///         key => Ok(key.to_uppercase()),
///     }
/// }
///
/// # fn main() {
/// let config = FailFastConfig::builder()
///     .consecutive_failures(5)
///     .expected_duration(Duration::from_millis(20))
///     .build()
///     .unwrap();
/// let cache = FailFast::new(config); // one per dependency; clones share it
/// // a refused connection means the cache is down: open at once
/// let refused = UnhealthyWhen(|r: &Result<String, CacheError>| r == &Err(CacheError::Refused));
///
/// smol::block_on(async {
///     assert_eq!(cache.call_with(&refused, || get("k")).await, Ok("K".to_string()));
///
///     // a caller with 5 ms left cannot fit a 20 ms call: not even started
///     let deadline = Deadline::after(cache.clock().now(), Duration::from_millis(5));
///     let r = cache.call_with_deadline(deadline, &DefaultClassifier, || get("k")).await;
///     assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
///
///     let _ = cache.call_with(&refused, || get("")).await;
///     assert_eq!(cache.state(), FailFastState::Open);
///     assert!(matches!(cache.call(|| get("k")).await, Err(Error::Rejected(_))));
///     cache.report_healthy(); // a health check says it is back
///     assert_eq!(cache.call(|| get("k")).await, Ok("K".to_string()));
/// });
/// # }
/// ```
///
/// To test timelines, build the driver's generic
/// [`failsafe_driver::FailFast::with_clock`] with a clock the test moves.
pub type FailFast = failsafe_driver::FailFast<AsyncIoClock>;

mod bulkhead;

pub use bulkhead::Bulkhead;
pub use failsafe_core::bulkhead::{
    Aimd, AimdBuilder, BulkheadConfig, BulkheadConfigBuilder, BulkheadEvent, BulkheadMetrics,
    FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
};
pub use failsafe_driver::{AcquireSlot, BulkheadGuard, OwnedBulkheadGuard, SharedStdBulkhead};
