//! Rate limiters that live in `static`s and wait on embassy-time.

use core::future::Future;
use core::hash::Hash;
use core::time::Duration;

use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_core::rate::{AtomicGcra, KeyedGcra, Quota, Reservation};
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::{Instant, Rejected};
use failsafe_driver::rate;
use failsafe_driver::{
    Clock, DEFAULT_MAX_WAIT, Error, KeyedLimiter, Limiter, SharedKeyedLimiter, SharedLimiter,
    WithKey,
};

use crate::{EmbassyClock, MutexLock};

/// A rate limiter for embassy firmware: `const`-constructible so it lives in
/// a `static`, shared by every task and interrupt handler, waiting on
/// embassy-time.
///
/// The default limiter is the core's [`AtomicGcra`]: one atomic word, no
/// lock on any path (on cores without 64-bit atomics, thumbv6m, thumbv7m
/// and thumbv7em, the word is updated inside a short critical section, so
/// it stays interrupt-safe; thumbv6m also needs this crate's
/// `critical-section` feature). Any other
/// [`SharedLimiter`] fits through [`from_limiter`](Self::from_limiter): a
/// [`TokenBucket`](failsafe_core::rate::TokenBucket) or a window behind a
/// [`CsLock`] or a [`MutexLock`], say.
///
/// - [`acquire(n).await`](Self::acquire) waits up to
///   [`max_wait`](Self::with_max_wait) (5 s by default) and returns the
///   instant the permits were granted, or the rejection at once if they
///   cannot be had in time;
/// - [`try_acquire(n)`](Self::try_acquire) never waits (interrupt handlers);
/// - [`call(|| async { .. })`](Self::call) acquires one permit, then runs
///   the operation; a rejection is [`Error::Rejected`] with `retry_at`.
///
/// ## Quick start
///
/// ```
/// use core::time::Duration;
/// use embassy_time::Timer;
/// use failsafe_embassy::{EmbassyClock, Error, Quota, RateLimiter};
///
/// /// The radio may send 2 frames a second, 5 at once after a quiet spell
/// /// (checked at compile time: a zero rate does not build). A sender waits
/// /// at most 1 s for its turn.
/// static RADIO: RateLimiter =
///     RateLimiter::new(Quota::or_panic(Quota::or_panic(Quota::per_second(2)).with_burst(5)))
///         .with_max_wait(Duration::from_secs(1));
///
/// async fn transmit(frame: &[u8]) -> Result<(), ()> {
///     let _ = frame; // drive the radio here
///     Ok(())
/// }
///
/// async fn report(frame: &[u8]) {
///     match RADIO.call(|| transmit(frame)).await {
///         Ok(()) => {}
///         Err(Error::Rejected(rejected)) => {
///             // over the duty cycle for longer than we would wait: come back later
///             if let Some(at) = rejected.retry_at.filter(|_| !rejected.is_never()) {
///                 Timer::at(EmbassyClock::to_embassy(at)).await;
///             }
///         }
///         Err(_radio_error) => {}
///     }
/// }
/// # futures_lite::future::block_on(report(b"hello"));
/// # assert!(RADIO.try_acquire(1).is_ok()); // 4 of the burst are left
/// ```
///
/// Waiters are served in order, each exactly at the instant its permits
/// were booked for (a GCRA books the start when the wait begins). A
/// waiting future that is dropped after booking (a `select` that took
/// another branch, a `with_timeout` that fired) gives its booking back when no later caller booked after it (the limiter
/// returns to its state before the booking, so the rate is never exceeded);
/// otherwise the later callers hold the instants after it and its permits
/// count as used at their instant: capacity is lost, never gained. Limiters that cannot
/// book (buckets, windows) are asked again at their `retry_at` instead, and
/// dropping such a wait costs nothing; see [`failsafe_driver::rate`].
#[derive(Debug)]
pub struct RateLimiter<L = AtomicGcra> {
    limiter: L,
    max_wait: Duration,
}

impl RateLimiter<AtomicGcra> {
    /// A GCRA limiter with `quota`, a full burst available. `const`.
    pub const fn new(quota: Quota) -> Self {
        Self::from_limiter(AtomicGcra::new(quota))
    }

    /// Changes the quota at run time; time already booked stays booked
    /// ([`AtomicGcra::set_quota`]).
    ///
    /// ```
    /// use failsafe_embassy::{Quota, RateLimiter};
    /// static LIMIT: RateLimiter = RateLimiter::new(Quota::or_panic(Quota::per_second(1)));
    /// LIMIT.set_quota(Quota::per_second(50).unwrap()); // e.g. after a link upgrade
    /// assert_eq!(LIMIT.quota(), Quota::per_second(50).unwrap());
    /// ```
    pub fn set_quota(&self, quota: Quota) {
        self.limiter.set_quota(quota)
    }

    /// The quota in force.
    pub fn quota(&self) -> Quota {
        self.limiter.quota()
    }

    /// Permits available now (0 to the burst).
    pub fn available(&self) -> u32 {
        self.limiter.available(EmbassyClock.now())
    }
}

impl<L> RateLimiter<L> {
    /// Shares `limiter`: any [`SharedLimiter`]. `const`.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_embassy::{config_or_panic, CsLock, RateLimiter, TokenBucket};
    ///
    /// /// 10 tokens, 10 more every second, in whole steps.
    /// static BUS: RateLimiter<CsLock<TokenBucket>> = RateLimiter::from_limiter(CsLock::new(
    ///     config_or_panic(TokenBucket::new(10, 10, Duration::from_secs(1))),
    /// ));
    /// assert!(BUS.try_acquire(10).is_ok());
    /// assert!(BUS.try_acquire(1).is_err());
    /// ```
    pub const fn from_limiter(limiter: L) -> Self {
        RateLimiter {
            limiter,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// The same limiter, with `acquire` and `call` waiting up to `max_wait`
    /// (`Duration::ZERO`: never wait). `const`.
    pub const fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long `acquire` and `call` wait for permits.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The limiter underneath, whose methods take explicit instants.
    pub const fn limiter(&self) -> &L {
        &self.limiter
    }
}

impl<L: SharedLimiter> RateLimiter<L> {
    /// Takes `n` permits, waiting up to [`max_wait`](Self::max_wait) on an
    /// embassy timer: returns the instant they were granted, or the
    /// rejection (with `retry_at`) at once if they cannot be had in time.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_embassy::{Quota, RateLimiter, RejectReason};
    ///
    /// static LIMIT: RateLimiter = RateLimiter::new(Quota::or_panic(Quota::per_second(1)))
    ///     .with_max_wait(Duration::from_millis(10));
    /// # futures_lite::future::block_on(async {
    /// assert!(LIMIT.acquire(1).await.is_ok());
    /// // the next permit is a second away: beyond 10 ms, rejected without waiting
    /// let r = LIMIT.acquire(1).await.unwrap_err();
    /// assert_eq!(r.reason, RejectReason::RateLimited);
    /// # });
    /// ```
    pub async fn acquire(&self, n: u32) -> Result<Instant, Rejected> {
        self.acquire_within(n, self.max_wait).await
    }

    /// [`acquire`](Self::acquire), waiting up to `max_wait`.
    pub async fn acquire_within(&self, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        rate::acquire(&EmbassyClock, &self.limiter, n, max_wait).await
    }

    /// Takes `n` permits now or returns the rejection (with `retry_at`):
    /// never waits, so it serves interrupt handlers too.
    pub fn try_acquire(&self, n: u32) -> Result<Instant, Rejected> {
        rate::try_acquire(&EmbassyClock, &self.limiter, n)
    }

    /// Runs `f` once one permit is granted (waiting up to
    /// [`max_wait`](Self::max_wait)); otherwise returns
    /// [`Error::Rejected`] without calling it.
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        rate::call(&EmbassyClock, &self.limiter, 1, self.max_wait, f).await
    }

    /// [`call`](Self::call) costing `n` permits.
    pub async fn call_weighted<F, Fut, T, E>(&self, n: u32, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        rate::call(&EmbassyClock, &self.limiter, n, self.max_wait, f).await
    }
}

impl<L: SharedLimiter> SharedLimiter for RateLimiter<L> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.limiter.acquire(now, n)
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        self.limiter.reserve(now, n, max_wait)
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        self.limiter.cancel(reservation)
    }
}

/// A rate limiter with one GCRA per key (a peer address, a CAN node, a
/// sensor), in a table of `N` slots that never grows, behind lock `L` (a
/// [`CsLock`] by default, or a [`MutexLock`]). `const`-constructible, so it
/// lives in a `static`.
///
/// Idle keys are evicted first when a new key needs a slot; see
/// [`KeyedGcra`] and [`WhenFull`](failsafe_core::rate::WhenFull). A keyed
/// limiter cannot book ahead: a waiter sleeps until its key's `retry_at`
/// and asks again, and dropping the wait costs nothing.
///
/// ```
/// use failsafe_embassy::{KeyedRateLimiter, Quota};
///
/// /// Each CAN node may wake us 4 times a second; 16 nodes tracked at once.
/// static PER_NODE: KeyedRateLimiter<u8, 16> =
///     KeyedRateLimiter::new(Quota::or_panic(Quota::per_second(4)), 0x5EED);
///
/// assert!(PER_NODE.try_acquire(&3, 1).is_ok());
/// assert!(PER_NODE.try_acquire(&3, 1).is_err()); // node 3 is limited ...
/// assert!(PER_NODE.try_acquire(&4, 1).is_ok()); // ... node 4 is not
/// ```
#[derive(Debug)]
pub struct KeyedRateLimiter<K, const N: usize, L = CsLock<KeyedGcra<K, N>>> {
    table: L,
    max_wait: Duration,
    _keys: core::marker::PhantomData<fn(&K)>,
}

impl<K: Eq + Hash + Clone, const N: usize> KeyedRateLimiter<K, N> {
    /// An empty table behind a [`CsLock`] with `quota` for every key; `seed`
    /// keys the hash (mix in something per device where keys come from
    /// untrusted peers). `const`.
    pub const fn new(quota: Quota, seed: u64) -> Self {
        Self::from_lock(CsLock::new(KeyedGcra::new(quota, seed)))
    }
}

impl<K, const N: usize, L> KeyedRateLimiter<K, N, L> {
    /// Shares the table inside `lock` (built with its own
    /// [`when_full`](KeyedGcra::when_full) policy, or behind a
    /// [`MutexLock`]). `const`.
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    /// use failsafe_embassy::{KeyedGcra, KeyedRateLimiter, MutexLock, Quota, WhenFull};
    ///
    /// type Table = MutexLock<CriticalSectionRawMutex, KeyedGcra<u16, 8>>;
    /// static PEERS: KeyedRateLimiter<u16, 8, Table> = KeyedRateLimiter::from_lock(MutexLock::new(
    ///     KeyedGcra::new(Quota::or_panic(Quota::per_second(1)), 7).when_full(WhenFull::RejectNewKeys),
    /// ));
    /// assert!(PEERS.try_acquire(&1, 1).is_ok());
    /// ```
    pub const fn from_lock(lock: L) -> Self {
        KeyedRateLimiter {
            table: lock,
            max_wait: DEFAULT_MAX_WAIT,
            _keys: core::marker::PhantomData,
        }
    }

    /// The same table, with `acquire` and `call` waiting up to `max_wait`.
    /// `const`.
    pub const fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long `acquire` and `call` wait for permits.
    pub const fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

impl<K, const N: usize, L: SharedKeyedLimiter<K>> KeyedRateLimiter<K, N, L> {
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
        rate::acquire(&EmbassyClock, &WithKey::new(&self.table, key), n, max_wait).await
    }

    /// Takes `n` permits for `key` now or returns the rejection: never waits.
    pub fn try_acquire(&self, key: &K, n: u32) -> Result<Instant, Rejected> {
        rate::try_acquire(&EmbassyClock, &WithKey::new(&self.table, key), n)
    }

    /// Runs `f` once one permit for `key` is granted; otherwise returns
    /// [`Error::Rejected`] without calling it.
    pub async fn call<F, Fut, T, E>(&self, key: &K, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let limiter = WithKey::new(&self.table, key);
        rate::call(&EmbassyClock, &limiter, 1, self.max_wait, f).await
    }
}

impl<K: Eq + Hash + Clone, const N: usize, L: Lock<KeyedGcra<K, N>>> KeyedRateLimiter<K, N, L> {
    /// Changes every key's quota at run time, keeping their states.
    pub fn set_quota(&self, quota: Quota) {
        self.table.with(|t| t.set_quota(quota))
    }

    /// Permits available to `key` now.
    pub fn available(&self, key: &K) -> u32 {
        let now = EmbassyClock.now();
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
        let now = EmbassyClock.now();
        self.table.with(|t| t.forget_idle(now))
    }

    /// Runs `f` on the table under its lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut KeyedGcra<K, N>) -> R) -> R {
        self.table.with(f)
    }
}

impl<M: RawMutex, T: Limiter> SharedLimiter for MutexLock<M, T> {
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

impl<K, M: RawMutex, T: KeyedLimiter<K>> SharedKeyedLimiter<K> for MutexLock<M, T> {
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
