//! # failsafe-thread
//!
//! [Failsafe](failsafe_driver) for blocking code on plain std threads, with
//! no async runtime. Every handle is one of the driver's, bound to
//! [`StdClock`] (one process-wide epoch, so deadlines and `retry_at` from
//! any two handles agree): this crate adds no pattern code, only names.
//!
//! The blocking verbs run the closure on the calling thread:
//! `policy.call_blocking(|| ..)` and `acquire_blocking()` for the circuit
//! breaker, fail fast, bulkhead and rate limiters ([`Policy`]);
//! `retry.call_blocking(|attempt| ..)`, `timeout.call_blocking(|deadline| ..)`
//! and `fallback.call_blocking(|| .., |reason, error| ..)`; `try_acquire()`
//! never blocks. A thread that has to wait (a bulkhead's queue, a rate
//! limiter's booking) parks ([`Park`]): a release unparks it; a retry's
//! backoff blocks it ([`BlockingRuntime`]). Clones share one machine and
//! every handle is `Send + Sync`, so threads share it by clone, by `Arc`
//! or by reference in a `std::thread::scope`.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_thread::{BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, State};
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
//! let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(config, CountWindow::new());
//!
//! let workers: Vec<_> = (0..4)
//!     .map(|_| {
//!         let breaker = breaker.clone(); // clones share one breaker
//!         std::thread::spawn(move || breaker.call_blocking(read_sensor))
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
//! A panic inside the closure hands the permit back as `Cancelled` while it
//! unwinds (a half-open probe or a bulkhead slot is never lost), then keeps
//! unwinding.
//!
//! ## Bulkhead, rate limiter and fail fast
//!
//! ```
//! use std::time::Duration;
//! use failsafe_thread::{
//!     BulkheadConfig, BulkheadPolicy, Clock, Deadline, FailFastConfig, FailFastPolicy, Quota,
//!     RateLimiterPolicy, RejectReason,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 4 queries at once; other threads park up to 2 s for a slot (FIFO)
//! let db: BulkheadPolicy = BulkheadPolicy::new(
//!     BulkheadConfig::builder().max_concurrent(4).max_wait(Duration::from_secs(2)).build()?,
//! );
//! std::thread::scope(|s| {
//!     for id in 0..16 {
//!         let db = &db;
//!         s.spawn(move || db.call_blocking(|| Ok::<_, std::io::Error>(id * 2)));
//!     }
//! });
//! assert_eq!(db.in_flight(), 0);
//! let slot = db.acquire_blocking()?; // or hold a slot by hand
//! drop(slot); // given back
//!
//! // 1000 rows a second, bursts of 100; a writer blocks at most 50 ms for its turn
//! let rows = RateLimiterPolicy::new(Quota::per_second(1_000)?.with_burst(100)?)
//!     .with_max_wait(Duration::from_millis(50));
//! rows.call_blocking(|| Ok::<_, std::io::Error>(()))?;
//! let _never_blocks = rows.try_acquire(); // a guard, or the rejection with `retry_at`
//!
//! // a caller with 100 ms left cannot fit a 250 ms read: not even started
//! let bus = FailFastPolicy::new(FailFastConfig::builder().expected_duration(Duration::from_millis(250)).build()?);
//! let hurried = bus.clone().with_deadline(Deadline::after(bus.runtime().now(), Duration::from_millis(100)));
//! let r = hurried.call_blocking(|| Ok::<_, std::io::Error>(1));
//! assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
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
//! use failsafe_thread::{
//!     BackoffKind, BreakerConfig, CircuitBreakerPolicy, CountWindow, Deadline, Error, Fallback,
//!     Jitter, RetryConfig, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TimeoutPolicy,
//!     TokenQuota,
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
//! let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::<100>::new());
//! let per_attempt = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500))?);
//!
//! let value = fallback.call_blocking(
//!     || {
//!         retry.call_blocking_with(&RetryOnFailsafeError, |attempt| {
//!             breaker
//!                 .call_blocking(|| per_attempt.call_blocking_with_deadline(attempt.deadline, read_sensor))
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
//! reported).
//!
//! ## Time in tests
//!
//! Each alias here is the driver's handle with [`StdClock`]. A test builds
//! the driver's generic handle instead
//! ([`failsafe_driver::CircuitBreakerPolicy::with_runtime`], ...,
//! [`failsafe_driver::RetryPolicy::with_runtime`], ...) on a clock it moves
//! by hand, whose [`Park::park_until`] and [`BlockingRuntime::block_until`]
//! move it forward instead of blocking: no timeline needs to sleep.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

/// The driver, with the core's machines and vocabulary it re-exports
/// (`driver::toggle_machine::Window`, `driver::cache_machine::S3Fifo`, ...).
pub use ::failsafe_driver as driver;
/// The decorator (`macros` feature): `#[policy(HANDLE)]` runs a function's
/// body through a policy, `retry = ..` a retry, `pipeline = ..` a pipeline.
#[cfg(feature = "macros")]
pub use failsafe_driver::policy;
pub use failsafe_driver::prelude::*;

/// A circuit breaker over a window `W` ([`CountWindow<N>`], [`TimeWindow<B>`]
/// or [`NoWindow`]): the driver's
/// [`CircuitBreakerPolicy`](driver::CircuitBreakerPolicy). While open, a
/// call is rejected after one atomic load, without taking the lock.
///
/// ```
/// use failsafe_thread::{BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, RejectReason};
/// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
/// let breaker = CircuitBreakerPolicy::new(config, NoWindow);
/// assert_eq!(breaker.call_blocking(|| Err::<(), _>("down")), Err(Error::Inner("down")));
/// let r = breaker.call_blocking(|| Ok::<_, &str>(1));
/// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::BreakerOpen);
/// ```
pub type CircuitBreakerPolicy<W = CountWindow<100>> = driver::CircuitBreakerPolicy<W, StdClock>;

/// Fail fast: rejects every call at once while the dependency is known to
/// be down, and a call whose deadline cannot cover the expected duration
/// (the driver's [`FailFastPolicy`](driver::FailFastPolicy)).
pub type FailFastPolicy = driver::FailFastPolicy<StdClock>;

/// A bulkhead: at most `limit` calls at once across every thread, and a
/// FIFO queue of up to `Q` parked threads (64 by default), each waiting at
/// most `max_wait` (the driver's [`BulkheadPolicy`](driver::BulkheadPolicy)).
pub type BulkheadPolicy<const Q: usize = 64, A = FixedLimit> =
    driver::BulkheadPolicy<Q, A, StdClock>;

/// The lock-free GCRA rate limiter (the driver's
/// [`RateLimiterPolicy`](driver::RateLimiterPolicy)): a caller blocks for
/// its booked turn up to [`DEFAULT_MAX_WAIT`] unless told otherwise
/// ([`Policy::with_max_wait`]); waiters are served in booking order.
pub type RateLimiterPolicy = driver::RateLimiterPolicy<StdClock>;

/// One GCRA per key in a table of `N` keys (1024 by default) that never
/// grows (the driver's [`KeyedRateLimiterPolicy`](driver::KeyedRateLimiterPolicy)).
pub type KeyedRateLimiterPolicy<K, const N: usize = 1024> =
    driver::KeyedRateLimiterPolicy<K, N, StdClock>;

/// Retries, blocking the thread between attempts (`call_blocking`, ...):
/// the driver's [`RetryPolicy`](driver::RetryPolicy). Clones share the
/// budget `B` and the jitter seed counter, across threads too.
pub type RetryPolicy<B = NoBudget> = driver::RetryPolicy<B, StdClock>;

/// A timeout for blocking work (`call_blocking`): the closure gets its
/// deadline, and a late result is replaced by [`Error::Timeout`] (the
/// driver's [`TimeoutPolicy`](driver::TimeoutPolicy)).
pub type TimeoutPolicy = driver::TimeoutPolicy<StdClock>;

/// A fallback (`call_blocking`, `chain_blocking`): the driver's
/// [`Fallback`](driver::Fallback).
pub type Fallback = driver::Fallback<StdClock>;
