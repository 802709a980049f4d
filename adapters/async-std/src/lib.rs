//! # failsafe-async-std
//!
//! [Failsafe](failsafe_driver) for runtimes built on [`async-io`](async_io):
//! **smol**, and async-std. This crate binds the driver to async-io's
//! clock and timer ([`AsyncIoClock`]) and names the driver's handles on
//! it: every pattern is the driver's [`Policy`] (the circuit breaker, fail
//! fast, bulkhead and rate limiters) or its retry, timeout and fallback
//! handles, with the same verbs on every runtime: `call(|| async ..)`,
//! `acquire().await`, `try_acquire()` (never waits), `call_blocking(|| ..)`.
//!
//! > **async-std is discontinued upstream** (advisory
//! > [RUSTSEC-2025-0052](https://rustsec.org/advisories/RUSTSEC-2025-0052.html));
//! > its authors point to smol. This crate does not depend on async-std at
//! > all: it reads the std clock and sleeps on `async_io::Timer`, which both
//! > runtimes drive, so **smol users can use this crate directly**, and
//! > async-std code keeps working while it migrates.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{BreakerConfig, CircuitBreakerPolicy, CountWindow, Error};
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
//! let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(config, CountWindow::new());
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
//! a failure (see [`Classify`]). Dropping a call's future, or a panic
//! inside it, hands the permit back as `Cancelled` (a half-open probe or a
//! bulkhead slot is never lost); a waiter dropped while queued or booked
//! gives its place up.
//!
//! ## Bulkhead, rate limiter and fail fast
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{
//!     BulkheadConfig, BulkheadPolicy, Clock, Deadline, FailFastConfig, FailFastPolicy, Quota,
//!     RateLimiterPolicy, RejectReason,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 2 resizes at once; others queue (FIFO) for up to a second on an async-io timer
//! let resizer: BulkheadPolicy = BulkheadPolicy::new(
//!     BulkheadConfig::builder().max_concurrent(2).max_wait(Duration::from_secs(1)).build()?,
//! );
//! // 50 events a second, bursts of 10; a caller waits at most 100 ms for its turn
//! let events = RateLimiterPolicy::new(Quota::per_second(50)?.with_burst(10)?)
//!     .with_max_wait(Duration::from_millis(100));
//! // a call expected to take 20 ms
//! let cache = FailFastPolicy::new(
//!     FailFastConfig::builder().expected_duration(Duration::from_millis(20)).build()?,
//! );
//!
//! smol::block_on(async {
//!     let jobs: Vec<_> = (0..8)
//!         .map(|image| {
//!             let resizer = resizer.clone(); // clones share one bulkhead
//!             smol::spawn(async move { resizer.call(|| async move { Ok::<_, ()>(image) }).await })
//!         })
//!         .collect();
//!     for job in jobs {
//!         assert!(job.await.is_ok());
//!     }
//!     events.call(|| async { Ok::<_, ()>(()) }).await.unwrap();
//!     let _slot = events.try_acquire(); // never waits: a guard, or the rejection with `retry_at`
//!
//!     // a caller with 5 ms left cannot fit a 20 ms call: not even started
//!     let deadline = Deadline::after(cache.runtime().now(), Duration::from_millis(5));
//!     let r = cache.clone().with_deadline(deadline).call(|| async { Ok::<_, ()>(1) }).await;
//!     assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
//! });
//! assert_eq!(resizer.in_flight(), 0);
//! # Ok(())
//! # }
//! ```
//!
//! ## Retry, timeout and fallback
//!
//! In the documented default order, from the outside in: Fallback -> Retry
//! -> CircuitBreaker -> Timeout.
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{
//!     BackoffKind, BreakerConfig, CircuitBreakerPolicy, CountWindow, Deadline, Error, Fallback,
//!     Jitter, RetryConfig, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TimeoutPolicy,
//!     TokenQuota,
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
//! let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::<100>::new());
//! let per_attempt = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500))?);
//!
//! let value = smol::block_on(async {
//!     let (breaker, per_attempt) = (&breaker, &per_attempt);
//!     fallback
//!         .call(
//!             retry.call_with(&RetryOnFailsafeError, |attempt| async move {
//!                 breaker
//!                     .call(|| per_attempt.call_with_deadline(attempt.deadline, fetch))
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
//! ## Time
//!
//! [`AsyncIoClock`] reads the driver's [`StdClock`] (one process-wide
//! epoch, so deadlines and `retry_at` pass between any two handles, and
//! between this crate's handles and `failsafe-thread`'s) and sleeps on
//! [`async_io::Timer`], reset in place when a waiter's instant moves.
//! There is no virtual time here: to test timelines, build the driver's
//! generic handles ([`failsafe_driver::CircuitBreakerPolicy::with_runtime`],
//! ..., [`failsafe_driver::RetryPolicy::with_runtime`], ...) on a runtime of
//! your own whose clock the test moves forward (its `sleep_until` can jump
//! the clock and complete at once).
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// The driver, with the core's machines and vocabulary it re-exports
/// (`driver::toggle_machine::Window`, `driver::cache_machine::S3Fifo`, ...).
pub use ::failsafe_driver as driver;
/// The decorator (`macros` feature): `#[policy(HANDLE)]` runs a function's
/// body through a policy, `retry = ..` a retry, `pipeline = ..` a pipeline.
#[cfg(feature = "macros")]
pub use failsafe_driver::policy;
pub use failsafe_driver::prelude::*;

/// The async-io binding: the std clock ([`StdClock`]'s process-wide epoch,
/// so every handle agrees on `now`) with sleeps on [`async_io::Timer`],
/// which smol and async-std both drive. Blocking callers on it park the
/// thread ([`Park`], [`BlockingRuntime`]), as `failsafe-thread` does.
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

    /// Moves the timer in place ([`async_io::Timer::set_at`]): no new
    /// timer, and the waker already registered stays.
    fn reset_sleep(&self, sleep: Pin<&mut Sleep>, deadline: Instant) {
        sleep.get_mut().0.set_at(StdClock::to_std(deadline));
    }
}

/// Parks for the real time left until the deadline ([`StdClock`]'s).
impl Park for AsyncIoClock {}

impl BlockingRuntime for AsyncIoClock {
    fn block_until(&self, deadline: Instant) {
        StdClock.block_until(deadline)
    }
    /// A waker that unparks this thread (a blocking cache follower's).
    fn thread_waker(&self) -> Option<std::task::Waker> {
        Some(failsafe_driver::thread_waker())
    }

    /// Parks the thread until woken or for the real time left.
    fn block_until_woken(&self, deadline: Instant) {
        self.park_until(Some(deadline));
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

/// A circuit breaker over a window `W` ([`CountWindow<N>`], [`TimeWindow<B>`]
/// or [`NoWindow`]) on async-io: the driver's
/// [`CircuitBreakerPolicy`](driver::CircuitBreakerPolicy). While open, a
/// call is rejected after one atomic load, without taking the lock.
pub type CircuitBreakerPolicy<W = CountWindow<100>> = driver::CircuitBreakerPolicy<W, AsyncIoClock>;

/// Fail fast on async-io: rejects every call at once while the dependency
/// is known to be down, and a call whose deadline cannot cover the
/// expected duration (the driver's [`FailFastPolicy`](driver::FailFastPolicy)).
pub type FailFastPolicy = driver::FailFastPolicy<AsyncIoClock>;

/// A bulkhead on async-io: at most `limit` calls at once, and a FIFO queue
/// of up to `Q` callers (64 by default), each waiting at most `max_wait` on
/// an `async_io::Timer` (the driver's [`BulkheadPolicy`](driver::BulkheadPolicy)).
pub type BulkheadPolicy<const Q: usize = 64, A = FixedLimit> =
    driver::BulkheadPolicy<Q, A, AsyncIoClock>;

/// The lock-free GCRA rate limiter on async-io (the driver's
/// [`RateLimiterPolicy`](driver::RateLimiterPolicy)): a caller waits for its
/// booked turn up to [`DEFAULT_MAX_WAIT`] unless told otherwise
/// ([`Policy::with_max_wait`]); a waiter dropped after booking gives its
/// booking back when no later caller booked after it.
pub type RateLimiterPolicy = driver::RateLimiterPolicy<AsyncIoClock>;

/// One GCRA per key in a table of `N` keys (1024 by default) that never
/// grows, on async-io (the driver's
/// [`KeyedRateLimiterPolicy`](driver::KeyedRateLimiterPolicy)).
pub type KeyedRateLimiterPolicy<K, const N: usize = 1024> =
    driver::KeyedRateLimiterPolicy<K, N, AsyncIoClock>;

/// Retries sleeping on async-io timers: the driver's
/// [`RetryPolicy`](driver::RetryPolicy). Clones share the budget `B` and
/// the jitter seed counter.
pub type RetryPolicy<B = NoBudget> = driver::RetryPolicy<B, AsyncIoClock>;

/// A timeout racing an async-io timer: the driver's
/// [`TimeoutPolicy`](driver::TimeoutPolicy).
pub type TimeoutPolicy = driver::TimeoutPolicy<AsyncIoClock>;

/// A fallback on async-io: the driver's [`Fallback`](driver::Fallback).
pub type Fallback = driver::Fallback<AsyncIoClock>;
