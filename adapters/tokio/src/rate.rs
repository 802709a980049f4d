//! Rate limiting on tokio's clock: the driver's handles bound to
//! [`TokioClock`].

use failsafe_core::rate::AtomicGcra;

use crate::TokioClock;

/// A cloneable, `Send + Sync` rate limiter on tokio's clock: clones share
/// one limiter, by default the lock-free [`AtomicGcra`].
///
/// This is the driver's [`RateLimiter`](failsafe_driver::RateLimiter)
/// bound to [`TokioClock`]; see it for every method:
///
/// - [`RateLimiter::new(quota)`](failsafe_driver::RateLimiter::new), then
///   [`.with_max_wait(..)`](failsafe_driver::RateLimiter::with_max_wait)
///   (how long `acquire` and `call` may wait; 5 s by default);
/// - [`acquire(n).await`](failsafe_driver::RateLimiter::acquire) and
///   [`acquire_within(n, wait).await`](failsafe_driver::RateLimiter::acquire_within):
///   the instant the permits were granted, or a [`Rejected`](crate::Rejected)
///   with `retry_at` at once when they cannot be had in time;
/// - [`try_acquire(n)`](failsafe_driver::RateLimiter::try_acquire): never waits;
/// - [`call(|| async { .. })`](failsafe_driver::RateLimiter::call): one
///   permit, then the operation; a rejection is [`Error::Rejected`](crate::Error::Rejected);
/// - [`set_quota(..)`](failsafe_driver::RateLimiter::set_quota) at run time.
///
/// `L` may be any [`SharedLimiter`](failsafe_driver::SharedLimiter): a
/// token bucket or a window behind a [`StdLock`](failsafe_driver::StdLock),
/// through [`from_limiter`](failsafe_driver::RateLimiter::from_limiter).
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Clock, Error, Quota, RateLimiter};
///
/// async fn send(msg: &str) -> Result<usize, std::io::Error> {
///     Ok(msg.len())
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 10 messages a second, up to 20 at once after a quiet spell;
/// // a caller waits at most 500 ms for its turn
/// let limiter = RateLimiter::new(Quota::per_second(10)?.with_burst(20)?)
///     .with_max_wait(Duration::from_millis(500));
///
/// match limiter.call(|| send("hello")).await {
///     Ok(sent) => assert_eq!(sent, 5),
///     Err(Error::Rejected(rejected)) => {
///         // over the limit for longer than we would wait: not sent;
///         // `retry_at` can become a Retry-After
///         let wait = rejected.retry_after(limiter.clock().now());
///         eprintln!("busy, try again in {wait:?}");
///     }
///     Err(Error::Inner(io_error)) => return Err(io_error.into()),
///     Err(other) => return Err(other.into()),
/// }
///
/// // or take permits by hand: a batch of 5 costs 5
/// limiter.acquire(5).await?;
/// // never waits: Ok, or rejected with retry_at
/// let _ = limiter.try_acquire(1);
/// # Ok(())
/// # }
/// ```
///
/// Waiters are served in order, each exactly at the instant its permits
/// were booked for. A waiting future that is dropped (a `select!` that
/// took another branch, a timeout) after booking gives its booking back when no later caller booked after it (the limiter
/// returns to its state before the booking, so the rate is never exceeded);
/// otherwise the later callers hold the instants after it and its permits
/// count as used at their instant: capacity is lost, never gained.
pub type RateLimiter<L = AtomicGcra> = failsafe_driver::RateLimiter<L, TokioClock>;

/// A cloneable rate limiter with one GCRA per key (a client IP, a tenant,
/// an API key) on tokio's clock, in a table of `N` slots that never grows.
///
/// This is the driver's
/// [`KeyedRateLimiter`](failsafe_driver::KeyedRateLimiter) bound to
/// [`TokioClock`]: [`new(quota)`](failsafe_driver::KeyedRateLimiter::new)
/// (hash seeded at random), [`acquire(&key, n).await`](failsafe_driver::KeyedRateLimiter::acquire),
/// [`try_acquire(&key, n)`](failsafe_driver::KeyedRateLimiter::try_acquire),
/// [`call(&key, || async { .. })`](failsafe_driver::KeyedRateLimiter::call),
/// [`set_quota`](failsafe_driver::KeyedRateLimiter::set_quota). A keyed
/// limiter cannot book ahead: a waiter sleeps until its key's `retry_at`
/// and asks again (dropping the wait costs nothing).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use failsafe_tokio::{KeyedRateLimiter, Quota};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // each client 2 requests a second; 4096 clients tracked at once
/// let per_client: KeyedRateLimiter<IpAddr, 4096> = KeyedRateLimiter::new(Quota::per_second(2).unwrap());
/// let (alice, bob) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
/// assert!(per_client.try_acquire(&alice, 1).is_ok());
/// assert!(per_client.try_acquire(&alice, 1).is_err()); // alice is limited ...
/// assert!(per_client.try_acquire(&bob, 1).is_ok()); // ... bob is not
/// # }
/// ```
pub type KeyedRateLimiter<K, const N: usize = 1024> =
    failsafe_driver::KeyedRateLimiter<K, N, TokioClock>;
