//! Rate limiting for blocking code: thin wrappers over the driver's shared
//! handles whose `acquire` and `call` block the calling thread.

use core::fmt;
use core::hash::Hash;
use core::ops::Deref;
use core::time::Duration;

use failsafe_core::rate::{AtomicGcra, KeyedGcra, Quota};
use failsafe_core::{Instant, Rejected};
use failsafe_driver as driver;
use failsafe_driver::{BlockingRuntime, Error, SharedLimiter, StdClock};

/// A cloneable, `Send + Sync` rate limiter for blocking code: clones share
/// one limiter `L`, by default the lock-free [`AtomicGcra`], across
/// threads too.
///
/// [`acquire(n)`](Self::acquire) and [`call(f)`](Self::call) block the
/// calling thread until the permits are granted, up to the handle's
/// [`max_wait`](driver::RateLimiter::max_wait) (5 s unless set with
/// [`with_max_wait`](Self::with_max_wait)); [`try_acquire(n)`](Self::try_acquire)
/// never blocks. `C` is the clock that blocks: [`StdClock`] (with
/// `std::thread::sleep`) unless a test injects one with
/// [`with_clock`](Self::with_clock) whose
/// [`block_until`](BlockingRuntime::block_until) moves it forward instead.
/// Every other method ([`set_quota`](driver::RateLimiter::set_quota),
/// [`quota`](driver::RateLimiter::quota),
/// [`available`](driver::RateLimiter::available), ...) is the driver's
/// [`RateLimiter`](driver::RateLimiter)'s, through `Deref`.
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_thread::{Error, Quota, RateLimiter};
///
/// fn write_row(id: u32) -> Result<(), std::io::Error> {
///     let _ = id;
///     Ok(())
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 1000 rows a second, bursts of 100; a writer blocks at most 50 ms for its turn
/// let limiter = RateLimiter::new(Quota::per_second(1_000)?.with_burst(100)?)
///     .with_max_wait(Duration::from_millis(50));
///
/// let writers: Vec<_> = (0..4)
///     .map(|w| {
///         let limiter = limiter.clone(); // clones share one limiter
///         std::thread::spawn(move || limiter.call(|| write_row(w)))
///     })
///     .collect();
/// for writer in writers {
///     match writer.join().unwrap() {
///         Ok(()) => {}
///         // over the limit for longer than we would block: not written
///         Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
///         Err(Error::Inner(io_error)) => return Err(io_error.into()),
///         Err(other) => return Err(other.into()),
///     }
/// }
/// // never blocks: Ok, or rejected with retry_at
/// let _ = limiter.try_acquire(1);
/// # Ok(())
/// # }
/// ```
///
/// A GCRA books a waiter's start when it starts waiting, and the thread
/// then blocks until exactly that instant: waiters are served in order.
pub struct RateLimiter<L = AtomicGcra, C = StdClock>(driver::RateLimiter<L, C>);

impl RateLimiter<AtomicGcra, StdClock> {
    /// A GCRA limiter with `quota` (full burst available), on the std clock.
    ///
    /// ```
    /// use failsafe_thread::{Quota, RateLimiter};
    /// let limiter = RateLimiter::new(Quota::per_second(10).unwrap());
    /// assert_eq!(limiter.available(), 1);
    /// ```
    pub fn new(quota: Quota) -> Self {
        RateLimiter(driver::RateLimiter::new(quota))
    }
}

impl<C: BlockingRuntime> RateLimiter<AtomicGcra, C> {
    /// A GCRA limiter with `quota`, on `clock` (a test clock, say).
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        RateLimiter(driver::RateLimiter::with_clock(quota, clock))
    }
}

impl<L: SharedLimiter, C: BlockingRuntime> RateLimiter<L, C> {
    /// Shares any [`SharedLimiter`] (a token bucket or a window behind a
    /// [`StdLock`](failsafe_driver::StdLock), say), on `clock`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_thread::{RateLimiter, StdClock, StdLock, TokenBucket};
    ///
    /// let bucket = StdLock::new(TokenBucket::new(10, 10, Duration::from_secs(1)).unwrap());
    /// let limiter = RateLimiter::from_limiter(bucket, StdClock);
    /// assert!(limiter.try_acquire(10).is_ok());
    /// ```
    pub fn from_limiter(limiter: L, clock: C) -> Self {
        RateLimiter(driver::RateLimiter::from_limiter(limiter, clock))
    }

    /// The same limiter, with `acquire` and `call` blocking up to
    /// `max_wait` (`Duration::ZERO`: never block).
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        RateLimiter(self.0.with_max_wait(max_wait))
    }

    /// Takes `n` permits, blocking this thread until they are granted (at
    /// most [`max_wait`](driver::RateLimiter::max_wait)): returns the
    /// instant they were granted, or the rejection (with `retry_at`) at
    /// once if they cannot be had in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_thread::{Quota, RateLimiter, RejectReason};
    ///
    /// let limiter = RateLimiter::new(Quota::per_second(1).unwrap()).with_max_wait(Duration::ZERO);
    /// assert!(limiter.acquire(1).is_ok());
    /// let r = limiter.acquire(1).unwrap_err(); // the next is a second away
    /// assert_eq!(r.reason, RejectReason::RateLimited);
    /// ```
    pub fn acquire(&self, n: u32) -> Result<Instant, Rejected> {
        self.0.acquire_blocking(n)
    }

    /// [`acquire`](Self::acquire), blocking up to `max_wait`.
    pub fn acquire_within(&self, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        self.0.acquire_blocking_within(n, max_wait)
    }

    /// Takes `n` permits now or returns the rejection: never blocks.
    pub fn try_acquire(&self, n: u32) -> Result<Instant, Rejected> {
        self.0.try_acquire(n)
    }

    /// Runs `f` on this thread once one permit is granted (blocking up to
    /// [`max_wait`](driver::RateLimiter::max_wait)); otherwise returns
    /// [`Error::Rejected`] without calling it.
    pub fn call<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking(f)
    }

    /// [`call`](Self::call) costing `n` permits.
    pub fn call_weighted<F, T, E>(&self, n: u32, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking_weighted(n, f)
    }

    /// The driver's handle (also reachable through `Deref`), e.g. to share
    /// the limiter with async code.
    pub fn as_limiter(&self) -> &driver::RateLimiter<L, C> {
        &self.0
    }

    /// Unwraps the driver's handle.
    pub fn into_limiter(self) -> driver::RateLimiter<L, C> {
        self.0
    }
}

impl<L, C> Deref for RateLimiter<L, C> {
    type Target = driver::RateLimiter<L, C>;

    fn deref(&self) -> &driver::RateLimiter<L, C> {
        &self.0
    }
}

impl<L, C> From<driver::RateLimiter<L, C>> for RateLimiter<L, C> {
    fn from(limiter: driver::RateLimiter<L, C>) -> Self {
        RateLimiter(limiter)
    }
}

impl<L, C: Clone> Clone for RateLimiter<L, C> {
    fn clone(&self) -> Self {
        RateLimiter(self.0.clone())
    }
}

impl<L: fmt::Debug, C: fmt::Debug> fmt::Debug for RateLimiter<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RateLimiter").field(&self.0).finish()
    }
}

/// A cloneable rate limiter with one GCRA per key (a client, a tenant, a
/// device) for blocking code, in a table of `N` slots that never grows.
/// `acquire` and `call` block the calling thread; every other method is
/// the driver's [`KeyedRateLimiter`](driver::KeyedRateLimiter)'s, through
/// `Deref`.
///
/// ```
/// use failsafe_thread::{KeyedRateLimiter, Quota};
///
/// let per_device: KeyedRateLimiter<u16> = KeyedRateLimiter::new(Quota::per_minute(6).unwrap());
/// assert!(per_device.try_acquire(&42, 1).is_ok());
/// assert!(per_device.try_acquire(&42, 1).is_err()); // device 42 is limited ...
/// assert!(per_device.try_acquire(&43, 1).is_ok()); // ... device 43 is not
/// ```
pub struct KeyedRateLimiter<K, const N: usize = 1024, C = StdClock>(
    driver::KeyedRateLimiter<K, N, C>,
);

impl<K: Eq + Hash + Clone, const N: usize> KeyedRateLimiter<K, N, StdClock> {
    /// An empty table with `quota` for every key (hash seeded at random),
    /// on the std clock.
    pub fn new(quota: Quota) -> Self {
        KeyedRateLimiter(driver::KeyedRateLimiter::new(quota))
    }
}

impl<K: Eq + Hash + Clone, const N: usize, C: BlockingRuntime> KeyedRateLimiter<K, N, C> {
    /// An empty table with `quota` for every key, on `clock`.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        KeyedRateLimiter(driver::KeyedRateLimiter::with_clock(quota, clock))
    }

    /// Shares `table` (with its own seed and
    /// [`when_full`](KeyedGcra::when_full) policy), on `clock`.
    pub fn from_table(table: KeyedGcra<K, N>, clock: C) -> Self {
        KeyedRateLimiter(driver::KeyedRateLimiter::from_table(table, clock))
    }

    /// The same table, with `acquire` and `call` blocking up to `max_wait`.
    pub fn with_max_wait(self, max_wait: Duration) -> Self {
        KeyedRateLimiter(self.0.with_max_wait(max_wait))
    }

    /// Takes `n` permits for `key`, blocking this thread until they are
    /// granted (at most [`max_wait`](driver::KeyedRateLimiter::max_wait)).
    pub fn acquire(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        self.0.acquire_blocking(key, n)
    }

    /// [`acquire`](Self::acquire), blocking up to `max_wait`.
    pub fn acquire_within(&self, key: &K, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        self.0.acquire_blocking_within(key, n, max_wait)
    }

    /// Takes `n` permits for `key` now or returns the rejection: never blocks.
    pub fn try_acquire(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        self.0.try_acquire(key, n)
    }

    /// Runs `f` on this thread once one permit for `key` is granted;
    /// otherwise returns [`Error::Rejected`] without calling it.
    pub fn call<F, T, E>(&self, key: &K, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking(key, f)
    }

    /// The driver's handle (also reachable through `Deref`).
    pub fn as_limiter(&self) -> &driver::KeyedRateLimiter<K, N, C> {
        &self.0
    }
}

impl<K, const N: usize, C> Deref for KeyedRateLimiter<K, N, C> {
    type Target = driver::KeyedRateLimiter<K, N, C>;

    fn deref(&self) -> &driver::KeyedRateLimiter<K, N, C> {
        &self.0
    }
}

impl<K, const N: usize, C: Clone> Clone for KeyedRateLimiter<K, N, C> {
    fn clone(&self) -> Self {
        KeyedRateLimiter(self.0.clone())
    }
}

impl<K, const N: usize, C: fmt::Debug> fmt::Debug for KeyedRateLimiter<K, N, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyedRateLimiter").field(&self.0).finish()
    }
}
