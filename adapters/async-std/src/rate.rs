//! Rate limiting on async-io: the driver's handles bound to [`AsyncIoClock`].

use failsafe_core::rate::AtomicGcra;

use crate::AsyncIoClock;

/// A cloneable, `Send + Sync` rate limiter for smol and async-std: clones
/// share one limiter, by default the lock-free [`AtomicGcra`].
///
/// This is the driver's [`RateLimiter`](failsafe_driver::RateLimiter)
/// bound to [`AsyncIoClock`] (waits sleep on `async_io::Timer`); see it
/// for every method: [`new(quota)`](failsafe_driver::RateLimiter::new),
/// [`with_max_wait`](failsafe_driver::RateLimiter::with_max_wait) (5 s by
/// default), [`acquire(n).await`](failsafe_driver::RateLimiter::acquire),
/// [`acquire_within(n, wait).await`](failsafe_driver::RateLimiter::acquire_within),
/// [`try_acquire(n)`](failsafe_driver::RateLimiter::try_acquire) (never
/// waits), [`call(|| async { .. })`](failsafe_driver::RateLimiter::call)
/// and [`set_quota`](failsafe_driver::RateLimiter::set_quota).
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_async_std::{Error, Quota, RateLimiter};
///
/// async fn publish(event: &str) -> Result<(), std::io::Error> {
///     let _ = event;
///     Ok(())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 50 events a second, bursts of 10; a caller waits at most 100 ms
/// let limiter: RateLimiter = RateLimiter::new(Quota::per_second(50)?.with_burst(10)?)
///     .with_max_wait(Duration::from_millis(100));
///
/// smol::block_on(async {
///     match limiter.call(|| publish("started")).await {
///         Ok(()) => {}
///         // over the limit for longer than we would wait: not published
///         Err(Error::Rejected(rejected)) => eprintln!("dropped: {rejected}"),
///         Err(Error::Inner(io_error)) => eprintln!("publish failed: {io_error}"),
///         Err(other) => eprintln!("{other}"),
///     }
///     // never waits: Ok, or rejected with retry_at
///     assert!(limiter.try_acquire(1).is_ok());
/// });
/// # Ok(())
/// # }
/// ```
///
/// Waiters are served in order, each at the instant its permits were
/// booked for; a waiting future dropped after booking gives its booking back when no later caller booked after it (the limiter
/// returns to its state before the booking, so the rate is never exceeded);
/// otherwise the later callers hold the instants after it and its permits
/// count as used at their instant: capacity is lost, never gained.
/// See [`failsafe_driver::rate`].
pub type RateLimiter<L = AtomicGcra> = failsafe_driver::RateLimiter<L, AsyncIoClock>;

/// A cloneable rate limiter with one GCRA per key for smol and async-std, in
/// a table of `N` slots that never grows: the driver's
/// [`KeyedRateLimiter`](failsafe_driver::KeyedRateLimiter) bound to
/// [`AsyncIoClock`].
///
/// ```
/// use failsafe_async_std::{KeyedRateLimiter, Quota};
///
/// let per_user: KeyedRateLimiter<u64> = KeyedRateLimiter::new(Quota::per_minute(30).unwrap());
/// assert!(per_user.try_acquire(&7, 1).is_ok());
/// assert!(per_user.try_acquire(&7, 1).is_err()); // user 7 is limited ...
/// assert!(per_user.try_acquire(&8, 1).is_ok()); // ... user 8 is not
/// ```
pub type KeyedRateLimiter<K, const N: usize = 1024> =
    failsafe_driver::KeyedRateLimiter<K, N, AsyncIoClock>;
