//! The cloneable rate limiter handles the std adapters bind: a limiter
//! shared by every clone, a clock, and how long a caller may wait. The loop
//! itself is [`rate::acquire`] / [`rate::acquire_blocking`].

extern crate std;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use core::time::Duration;

use failsafe_core::rate::{AtomicGcra, KeyedGcra, Quota, Reservation};
use failsafe_core::sync::Lock;
use failsafe_core::{Instant, Rejected};

use crate::rate::{
    self, DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, SharedKeyedLimiter, SharedLimiter, WithKey,
};
use crate::{BlockingRuntime, Clock, Error, Runtime, StdLock};

impl<T: Limiter> SharedLimiter for StdLock<T> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.with(|l| l.acquire(now, n))
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        self.with(|l| l.reserve(now, n, max_wait))
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        self.with(|l| l.cancel(reservation))
    }
}

impl<K, T: KeyedLimiter<K>> SharedKeyedLimiter<K> for StdLock<T> {
    #[inline]
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        self.with(|l| l.acquire(key, now, n))
    }

    #[inline]
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        self.with(|l| l.reserve(key, now, n, max_wait))
    }
}

impl<L: SharedLimiter + ?Sized> SharedLimiter for Arc<L> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        (**self).acquire(now, n)
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        (**self).reserve(now, n, max_wait)
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        (**self).cancel(reservation)
    }
}

impl<K, L: SharedKeyedLimiter<K> + ?Sized> SharedKeyedLimiter<K> for Arc<L> {
    #[inline]
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        (**self).acquire(key, now, n)
    }

    #[inline]
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        (**self).reserve(key, now, n, max_wait)
    }
}

/// A cloneable, `Send + Sync` rate limiter for std code on clock or
/// runtime `C`: clones share one limiter `L`, by default the lock-free
/// [`AtomicGcra`] (one atomic word; no lock on any path). The tokio,
/// async-std and thread adapters are this handle bound to their clocks.
///
/// - [`try_acquire(n)`](Self::try_acquire) takes permits now or rejects,
///   never waiting;
/// - [`acquire(n)`](Self::acquire) waits up to the handle's
///   [`max_wait`](Self::with_max_wait) (default [`DEFAULT_MAX_WAIT`]),
///   [`acquire_within(n, wait)`](Self::acquire_within) up to `wait`; both
///   return the instant the permits were granted, or the rejection with
///   the limiter's `retry_at` when they cannot be had in time;
/// - [`call(|| async { .. })`](Self::call) acquires one permit, then runs
///   the operation; a rejection is [`Error::Rejected`];
/// - `_blocking` variants for threads ([`BlockingRuntime`] clocks).
///
/// A GCRA books a waiter's start instant when it starts waiting: waiters
/// are served in order, each exactly at the instant promised. **A wait
/// that is dropped (a cancelled future) after booking does not give its
/// permits back**: see [`rate`](crate::rate) for why, and for limiters
/// that cannot book.
///
/// Any [`SharedLimiter`] fits: a token bucket or a window behind a
/// [`StdLock`] through [`from_limiter`](Self::from_limiter).
pub struct RateLimiter<L, C> {
    limiter: Arc<L>,
    clock: C,
    max_wait: Duration,
}

impl<L, C: Clone> Clone for RateLimiter<L, C> {
    fn clone(&self) -> Self {
        RateLimiter {
            limiter: Arc::clone(&self.limiter),
            clock: self.clock.clone(),
            max_wait: self.max_wait,
        }
    }
}

impl<L: fmt::Debug, C: fmt::Debug> fmt::Debug for RateLimiter<L, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .field("clock", &self.clock)
            .finish()
    }
}

impl<C: Clock + Default> RateLimiter<AtomicGcra, C> {
    /// A GCRA limiter with `quota` (full burst available), on the default clock.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, C::default())
    }
}

impl<C: Clock> RateLimiter<AtomicGcra, C> {
    /// A GCRA limiter with `quota` (full burst available), reading `clock`.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self::from_limiter(AtomicGcra::new(quota), clock)
    }

    /// Changes the quota at run time for every clone; time already booked
    /// stays booked ([`AtomicGcra::set_quota`]).
    pub fn set_quota(&self, quota: Quota) {
        self.limiter.set_quota(quota)
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        self.limiter.quota()
    }

    /// Permits available now (0 to the burst).
    pub fn available(&self) -> u32 {
        self.limiter.available(self.clock.now())
    }
}

impl<L: SharedLimiter, C: Clock> RateLimiter<L, C> {
    /// Shares `limiter` (any [`SharedLimiter`]: a [`StdLock`] around a token
    /// bucket or a window, say), reading `clock`.
    pub fn from_limiter(limiter: L, clock: C) -> Self {
        Self::from_arc(Arc::new(limiter), clock)
    }

    /// Shares a limiter already in an `Arc` (shared with other code).
    pub fn from_arc(limiter: Arc<L>, clock: C) -> Self {
        RateLimiter {
            limiter,
            clock,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// The same limiter, with `acquire` and `call` waiting up to `max_wait`
    /// for permits (`Duration::ZERO`: never wait). The setting is this
    /// handle's (and its later clones'); the limiter stays shared.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long `acquire` and `call` wait for permits.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Takes `n` permits now, or returns the rejection (its `retry_at` says
    /// when they could be had): never waits, never books ahead. Returns the
    /// instant read from the clock.
    pub fn try_acquire(&self, n: u32) -> Result<Instant, Rejected> {
        rate::try_acquire(&self.clock, &*self.limiter, n)
    }

    /// The clock this handle reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Arc<L> {
        &self.limiter
    }
}

impl<L: SharedLimiter, C: Runtime> RateLimiter<L, C> {
    /// Takes `n` permits, waiting up to [`max_wait`](Self::max_wait) on the
    /// runtime's timer: returns the instant they were granted, or the
    /// rejection (with `retry_at`) at once if they cannot be had in time.
    ///
    /// Dropping the future while it waits for a booked GCRA start leaves
    /// the permits spent.
    pub async fn acquire(&self, n: u32) -> Result<Instant, Rejected> {
        self.acquire_within(n, self.max_wait).await
    }

    /// [`acquire`](Self::acquire), waiting up to `max_wait`.
    pub async fn acquire_within(&self, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        rate::acquire(&self.clock, &*self.limiter, n, max_wait).await
    }

    /// Runs `f` once one permit is granted (waiting up to
    /// [`max_wait`](Self::max_wait)); otherwise returns
    /// [`Error::Rejected`] without calling it.
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        rate::call(&self.clock, &*self.limiter, 1, self.max_wait, f).await
    }

    /// [`call`](Self::call) costing `n` permits.
    pub async fn call_weighted<F, Fut, T, E>(&self, n: u32, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        rate::call(&self.clock, &*self.limiter, n, self.max_wait, f).await
    }
}

impl<L: SharedLimiter, C: BlockingRuntime> RateLimiter<L, C> {
    /// [`acquire`](Self::acquire) for threads: blocks until the permits are
    /// granted (at most [`max_wait`](Self::max_wait)).
    pub fn acquire_blocking(&self, n: u32) -> Result<Instant, Rejected> {
        self.acquire_blocking_within(n, self.max_wait)
    }

    /// [`acquire_blocking`](Self::acquire_blocking), waiting up to `max_wait`.
    pub fn acquire_blocking_within(&self, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        rate::acquire_blocking(&self.clock, &*self.limiter, n, max_wait)
    }

    /// [`call`](Self::call) for threads: blocks for one permit, then runs
    /// `f` on this thread.
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        rate::call_blocking(&self.clock, &*self.limiter, 1, self.max_wait, f)
    }

    /// [`call_blocking`](Self::call_blocking) costing `n` permits.
    pub fn call_blocking_weighted<F, T, E>(&self, n: u32, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        rate::call_blocking(&self.clock, &*self.limiter, n, self.max_wait, f)
    }
}

/// The table inside a [`KeyedRateLimiter`].
pub type SharedKeyedGcra<K, const N: usize> = StdLock<KeyedGcra<K, N>>;

/// A cloneable, `Send + Sync` rate limiter with one GCRA per key (a client,
/// a tenant, a route), for std code on clock or runtime `C`: clones share
/// one table of `N` slots that never grows (see [`KeyedGcra`]: idle keys
/// are evicted first; [`WhenFull`](failsafe_core::rate::WhenFull) decides
/// the rest).
///
/// The same verbs as [`RateLimiter`], with the key first. The table sits
/// behind a [`StdLock`], held for one decision at a time, never across a
/// wait. Keyed limiters cannot book ahead: a waiter sleeps until its key's
/// `retry_at` and asks again, and dropping a wait costs nothing.
pub struct KeyedRateLimiter<K, const N: usize, C> {
    table: Arc<SharedKeyedGcra<K, N>>,
    clock: C,
    max_wait: Duration,
}

impl<K, const N: usize, C: Clone> Clone for KeyedRateLimiter<K, N, C> {
    fn clone(&self) -> Self {
        KeyedRateLimiter {
            table: Arc::clone(&self.table),
            clock: self.clock.clone(),
            max_wait: self.max_wait,
        }
    }
}

impl<K, const N: usize, C: fmt::Debug> fmt::Debug for KeyedRateLimiter<K, N, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimiter")
            .field("slots", &N)
            .field("max_wait", &self.max_wait)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

use crate::patterns::random_seed;

impl<K: Eq + Hash + Clone, const N: usize, C: Clock + Default> KeyedRateLimiter<K, N, C> {
    /// An empty table with `quota` for every key, on the default clock. The
    /// hash is seeded at random, so clients cannot aim keys at one slot.
    pub fn new(quota: Quota) -> Self {
        Self::with_clock(quota, C::default())
    }
}

impl<K: Eq + Hash + Clone, const N: usize, C: Clock> KeyedRateLimiter<K, N, C> {
    /// An empty table with `quota` for every key (hash seeded at random),
    /// reading `clock`.
    pub fn with_clock(quota: Quota, clock: C) -> Self {
        Self::from_table(KeyedGcra::new(quota, random_seed()), clock)
    }

    /// Shares `table` (built with its own seed and
    /// [`when_full`](KeyedGcra::when_full) policy), reading `clock`.
    pub fn from_table(table: KeyedGcra<K, N>, clock: C) -> Self {
        KeyedRateLimiter {
            table: Arc::new(StdLock::new(table)),
            clock,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// The same table, with `acquire` and `call` waiting up to `max_wait`.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long `acquire` and `call` wait for permits.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Takes `n` permits for `key` now, or returns the rejection (with its
    /// `retry_at`): never waits.
    pub fn try_acquire(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        rate::try_acquire(&self.clock, &self.for_key(key), n)
    }

    /// Changes every key's quota at run time, keeping their states.
    pub fn set_quota(&self, quota: Quota) {
        self.table.with(|t| t.set_quota(quota))
    }

    /// Permits available to `key` now.
    pub fn available(&self, key: &K) -> u32 {
        let now = self.clock.now();
        self.table.with(|t| t.available(key, now))
    }

    /// Keys in the table (idle ones included).
    pub fn len(&self) -> usize {
        self.table.with(|t| t.len())
    }

    /// `true` if the table holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key that is idle now (optional: idle keys are also
    /// reused on demand).
    pub fn forget_idle(&self) {
        let now = self.clock.now();
        self.table.with(|t| t.forget_idle(now))
    }

    /// Runs `f` on the table under its lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut KeyedGcra<K, N>) -> R) -> R {
        self.table.with(f)
    }

    /// The clock this handle reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The shared table.
    pub fn shared(&self) -> &Arc<SharedKeyedGcra<K, N>> {
        &self.table
    }

    fn for_key<'a>(&'a self, key: &'a K) -> WithKey<'a, SharedKeyedGcra<K, N>, K> {
        WithKey::new(&self.table, key)
    }
}

impl<K: Eq + Hash + Clone, const N: usize, C: Runtime> KeyedRateLimiter<K, N, C> {
    /// Takes `n` permits for `key`, waiting up to
    /// [`max_wait`](Self::max_wait): returns the instant they were granted,
    /// or the rejection (with `retry_at`) once they cannot be had in time.
    pub async fn acquire(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        self.acquire_within(key, n, self.max_wait).await
    }

    /// [`acquire`](Self::acquire), waiting up to `max_wait`.
    pub async fn acquire_within(
        &self,
        key: &K,
        n: u32,
        max_wait: Duration,
    ) -> Result<Instant, Rejected> {
        rate::acquire(&self.clock, &self.for_key(key), n, max_wait).await
    }

    /// Runs `f` once one permit for `key` is granted; otherwise returns
    /// [`Error::Rejected`] without calling it.
    pub async fn call<F, Fut, T, E>(&self, key: &K, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        rate::call(&self.clock, &self.for_key(key), 1, self.max_wait, f).await
    }
}

impl<K: Eq + Hash + Clone, const N: usize, C: BlockingRuntime> KeyedRateLimiter<K, N, C> {
    /// [`acquire`](Self::acquire) for threads.
    pub fn acquire_blocking(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        self.acquire_blocking_within(key, n, self.max_wait)
    }

    /// [`acquire_blocking`](Self::acquire_blocking), waiting up to `max_wait`.
    pub fn acquire_blocking_within(
        &self,
        key: &K,
        n: u32,
        max_wait: Duration,
    ) -> Result<Instant, Rejected> {
        rate::acquire_blocking(&self.clock, &self.for_key(key), n, max_wait)
    }

    /// [`call`](Self::call) for threads: runs `f` on this thread.
    pub fn call_blocking<F, T, E>(&self, key: &K, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        rate::call_blocking(&self.clock, &self.for_key(key), 1, self.max_wait, f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::vec::Vec;

    use failsafe_core::rate::{SlidingWindow, TokenBucket, WhenFull};

    use super::*;

    /// A clock whose blocking sleep jumps it forward; clones share it.
    #[derive(Clone, Debug, Default)]
    struct Jump(Arc<AtomicU64>);
    impl Clock for Jump {
        fn now(&self) -> Instant {
            Instant::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }
    impl BlockingRuntime for Jump {
        fn block_until(&self, at: Instant) {
            self.0.fetch_max(at.as_nanos(), Ordering::SeqCst);
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn clones_share_the_limiter_and_a_quota_change_reaches_them_all() {
        let a = RateLimiter::with_clock(Quota::per_second(1).unwrap(), Jump::default());
        let b = a.clone().with_max_wait(Duration::ZERO);
        assert_eq!(a.try_acquire(1), Ok(ms(0)));
        assert_eq!(b.try_acquire(1).unwrap_err().retry_at, Some(ms(1_000)));
        a.set_quota(Quota::per_second(10).unwrap().with_burst(10).unwrap());
        assert_eq!(b.quota().burst(), 10);
        // the booked second is kept: at 500 ms, 5 of the new burst are free
        a.clock().block_until(ms(500));
        assert_eq!(b.available(), 5);
        assert_eq!(
            (a.max_wait(), b.max_wait()),
            (DEFAULT_MAX_WAIT, Duration::ZERO)
        );
    }

    #[test]
    fn blocking_acquire_waits_exactly_until_the_booked_start() {
        let l = RateLimiter::with_clock(Quota::per_second(4).unwrap(), Jump::default())
            .with_max_wait(Duration::from_millis(500));
        let starts: Vec<_> = (0..3).map(|_| l.acquire_blocking(1).unwrap()).collect();
        assert_eq!(starts, [ms(0), ms(250), ms(500)]);
        assert_eq!(l.clock().now(), ms(500));
        // the next would start at 750 ms: 250 ms away, within the wait
        assert_eq!(
            l.call_blocking(|| Ok::<_, ()>(l.clock().now())),
            Ok(ms(750))
        );
        let r = l
            .acquire_blocking_within(1, Duration::from_millis(249))
            .unwrap_err();
        assert_eq!(r.retry_at, Some(ms(1_000)));
        assert_eq!(l.call_blocking_weighted(1, || Ok::<_, ()>(())), Ok(()));
    }

    #[test]
    fn any_shared_limiter_fits_the_handle() {
        let bucket = StdLock::new(TokenBucket::new(2, 2, Duration::from_secs(1)).unwrap());
        let l = RateLimiter::from_limiter(bucket, Jump::default());
        assert_eq!(l.acquire_blocking(2), Ok(ms(0)));
        assert_eq!(l.acquire_blocking(2), Ok(ms(1_000)));
        let window = Arc::new(StdLock::new(
            SlidingWindow::<4>::new(1, Duration::from_secs(1)).unwrap(),
        ));
        let w = RateLimiter::from_arc(Arc::clone(&window), Jump::default())
            .with_max_wait(Duration::ZERO);
        assert!(w.try_acquire(1).is_ok());
        assert!(
            SharedLimiter::acquire(&window, ms(0), 1).is_err(),
            "one window, shared"
        );
    }

    #[test]
    fn keyed_handles_limit_each_key_alone_and_share_the_table() {
        let table = KeyedGcra::<u32, 8>::new(Quota::per_second(2).unwrap(), 1)
            .when_full(WhenFull::RejectNewKeys);
        let k = KeyedRateLimiter::from_table(table, Jump::default());
        let clone = k.clone().with_max_wait(Duration::ZERO);
        assert_eq!(k.try_acquire(&1, 1), Ok(ms(0)));
        assert_eq!(
            clone.try_acquire(&1, 1).unwrap_err().retry_at,
            Some(ms(500))
        );
        assert_eq!(clone.try_acquire(&2, 1), Ok(ms(0)));
        assert_eq!((k.len(), k.available(&1), k.available(&3)), (2, 0, 1));
        // key 1 waits for its own permit; key 2 is untouched
        assert_eq!(k.acquire_blocking(&1, 1), Ok(ms(500)));
        assert_eq!(
            k.call_blocking(&2, || Ok::<_, ()>(k.clock().now())),
            Ok(ms(500))
        );
        k.set_quota(Quota::per_second(1).unwrap());
        k.clock().block_until(ms(10_000));
        k.forget_idle();
        assert!(k.is_empty());
        assert_eq!(k.with(|t| t.len()), 0);
        assert_eq!(
            k.acquire_blocking_within(&7, 1, Duration::ZERO),
            Ok(ms(10_000))
        );
        assert_eq!(k.shared().with(|t| t.available(&7, ms(10_000))), 0);
    }
}
