//! The cache on any runtime: [`SharedCache`], one handle over a lock around
//! a cache store (the core's allocation-free
//! [`Cache`], or on std the heap-backed
//! `QuickStore`), with `get_or_load` (async) and `get_or_load_blocking`.
//!
//! What a call gets, by what the store holds for the key:
//!
//! - **Fresh**: the value ([`Cached::Fresh`]); the loader is not called.
//! - **Refresh-ahead told** (the one caller the store tells, once per value,
//!   within `refresh_ahead` of expiry): there is no spawning in a `no_std`
//!   driver, so *that caller* runs the loader inline under the key's load
//!   mark and gets the new value ([`Cached::Loaded`]); every other caller
//!   meanwhile keeps getting the still-fresh value at once. If the refresh
//!   fails, the told caller gets what the store holds when it fails: the
//!   old value as [`Cached::Fresh`] if it is still fresh, as
//!   [`Cached::Stale`] if it expired meanwhile (and the error allows
//!   stale), else the loader's error.
//! - **Missing or expired**: **miss coalescing** on the store's load marks.
//!   The first caller is the leader and runs the loader; the others are
//!   followers and wait for the leader's end or its lease (`lease`, 30 s
//!   by default), whichever is first:
//!   - **Woken by the leader** when the store keeps followers: a
//!     [`WithWaiters`] store (the core's `Cache`, or any, with a fixed
//!     registry of `W` followers) or `QuickStore` (its own, growing). A
//!     follower registers its waker ([`register_waiter`](CacheStore::register_waiter))
//!     under the lock, in the same critical section as the lookup that made
//!     it a follower, and the leader takes the wakers
//!     ([`take_waiter`](CacheStore::take_waiter)) under the lock in the
//!     same critical section as the store operation that ends its mark
//!     (value stored, failure recorded, or mark ended by a dropped future
//!     or a panicking blocking loader), and wakes them after releasing it:
//!     no wake-up is lost, and a follower answers at the instant its
//!     leader ends, with one more lookup. A blocking follower registers a
//!     waker from [`BlockingRuntime::thread_waker`] (the std runtimes
//!     unpark the thread) and blocks on
//!     [`block_until_woken`](BlockingRuntime::block_until_woken).
//!   - **Re-checking on the runtime's timer every `recheck`** (10 ms by
//!     default) otherwise: the bare core `Cache` (no registry), a full
//!     registry, or a blocking runtime that cannot be woken (`no_std`,
//!     virtual clocks). Such a follower sees the result up to `recheck`
//!     late, and each re-check counts as a lookup in the store's metrics.
//!
//!   A leader still running past its lease loses the mark: a follower may
//!   then lead a second load (a duplicate, never a lost one). The old
//!   leader tells its mark from the newer one's by its end
//!   ([`load_mark`](CacheStore::load_mark)): dropped, it ends nothing;
//!   failed, it records nothing; succeeded, its value is stored and the
//!   newer leader's mark put back, so that no third caller loads.
//! - **The load fails**: with a value expired less than `max_stale` ago,
//!   that value is served and says so ([`Cached::Stale`] with its age at
//!   the answer); otherwise the loader's error ([`CacheError::Load`]). The
//!   failure is recorded ([`insert_failure`](CacheStore::insert_failure)):
//!   with a `negative_ttl`, callers within it get [`CacheError::Negative`]
//!   without calling the loader.
//! - **Followers of a leader that ended without a value** (failed,
//!   dropped, or lapsed): a stale value is served as [`Cached::Stale`]
//!   (the leader's load counts as failed; followers do not each retry it),
//!   a recorded failure as [`CacheError::Negative`], and with neither the
//!   follower leads a load itself (one at a time: the others follow it).
//!   A value that was stored and has already expired by the time a
//!   follower looks (a time-to-live shorter than its wait) is not a
//!   failure: the follower leads a load, and serves it stale only if that
//!   load fails.
//!
//! The lock is held only for store operations, never across the loader or
//! an `.await`, nor while waking.
//!
//! [`SharedCache::begin`] and [`Pending::run`] are `get_or_load` in two
//! halves (the first look synchronous, so a tower service answers a hit in
//! `call`); they behave as one `get_or_load` but for two things: a follower
//! registers its waker at `run`'s first poll (`begin` has none), and a
//! leader's [`Pending`] dropped unrun ends its load mark (if still its own)
//! and wakes its followers, as a dropped `get_or_load` future does.

use core::fmt;
use core::future::Future;
use core::hash::Hash;
use core::marker::PhantomData;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use failsafe_core::cache::{Cache, CacheEvent, EvictionPolicy, LoadMark, Lookup};
use failsafe_core::sync::Lock;
use failsafe_core::{ConfigError, Instant, Observer, Problem};

use crate::{BlockingRuntime, Clock, Runtime};

pub use crate::cache_waiters::{LoadWaiters, WithWaiters};

/// What a cache keeps for its keys: the few store operations a
/// [`SharedCache`] needs, with the core's meaning (see
/// [`failsafe_core::cache::Cache`]). Implemented by the core's `Cache` and,
/// with the `quick-cache` feature, by `QuickStore`.
pub trait CacheStore {
    /// The key.
    type Key;
    /// The value.
    type Value;

    /// What the store holds for `key` at `now` (the core's
    /// [`Cache::lookup`]: fresh, with the refresh-ahead turn; stale;
    /// a recorded failure; or nothing).
    fn lookup(&mut self, key: &Self::Key, now: Instant) -> Lookup<'_, Self::Value>;

    /// Takes `key`'s load mark until `until`, or says who holds it
    /// ([`Cache::begin_load`]).
    fn begin_load(&mut self, key: Self::Key, now: Instant, until: Instant) -> LoadMark;

    /// Ends `key`'s load mark without a result ([`Cache::end_load`]).
    fn end_load(&mut self, key: &Self::Key);

    /// When `key`'s load mark ends, if one is held or lapsed and not ended
    /// ([`Cache::load_mark`]): how a leader tells its own mark from a
    /// newer leader's.
    fn load_mark(&self, key: &Self::Key) -> Option<Instant>;

    /// Stores a loaded value, ending the mark ([`Cache::insert`]).
    fn insert(&mut self, key: Self::Key, value: Self::Value, now: Instant);

    /// Records a failed load, ending the mark; a value still within its
    /// stale window is kept. Returns whether a failure was recorded
    /// ([`Cache::insert_failure`]).
    fn insert_failure(&mut self, key: Self::Key, now: Instant) -> bool;

    /// How long past its expiry a value may still be served after a failed
    /// load.
    fn max_stale(&self) -> Duration;

    /// Registers `waker` (a follower's) to be woken when `key`'s load mark
    /// ends: [`take_waiter`](Self::take_waiter) hands it to the leader
    /// that stored a value, recorded a failure or dropped its mark. Called
    /// under the lock, in the same critical section as the
    /// [`begin_load`](Self::begin_load) that answered
    /// [`LoadMark::Follower`], so no wake-up is lost. A waker that
    /// [`will_wake`](Waker::will_wake) the same task as one registered for
    /// `key` replaces it.
    ///
    /// Returns whether it was registered: `false` (the default: a store
    /// that keeps no followers, as the bare core `Cache`; or a full
    /// registry) and the follower re-checks the store on the timer every
    /// `recheck`. [`WithWaiters`] adds a fixed registry to any store.
    fn register_waiter(&mut self, key: &Self::Key, waker: &Waker) -> bool {
        let _ = (key, waker);
        false
    }

    /// Takes one waker registered for `key` (its load mark has just
    /// ended); `None` once there are no more (the default: none kept).
    fn take_waiter(&mut self, key: &Self::Key) -> Option<Waker> {
        let _ = key;
        None
    }

    /// Removes `waker`'s registration for `key`: its follower stopped
    /// waiting (answered, dropped, or leading a load itself). The default
    /// does nothing.
    fn remove_waiter(&mut self, key: &Self::Key, waker: &Waker) {
        let _ = (key, waker);
    }
}

impl<K, V, const N: usize, P, O> CacheStore for Cache<K, V, N, P, O>
where
    K: Eq + Hash,
    P: EvictionPolicy,
    O: for<'a> Observer<CacheEvent<'a, K, V>>,
{
    type Key = K;
    type Value = V;

    fn lookup(&mut self, key: &K, now: Instant) -> Lookup<'_, V> {
        Cache::lookup(self, key, now)
    }

    fn begin_load(&mut self, key: K, now: Instant, until: Instant) -> LoadMark {
        Cache::begin_load(self, key, now, until)
    }

    fn end_load(&mut self, key: &K) {
        Cache::end_load(self, key);
    }

    fn load_mark(&self, key: &K) -> Option<Instant> {
        Cache::load_mark(self, key)
    }

    fn insert(&mut self, key: K, value: V, now: Instant) {
        Cache::insert(self, key, value, now);
    }

    fn insert_failure(&mut self, key: K, now: Instant) -> bool {
        Cache::insert_failure(self, key, now)
    }

    fn max_stale(&self) -> Duration {
        self.config().max_stale()
    }
}

/// Where a [`SharedCache`] answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum Cached<T> {
    /// A fresh value from the store; nothing was loaded.
    Fresh(T),
    /// The load failed (or the leader this caller waited for did not
    /// store a value): an expired value, `age` past its expiry (less than
    /// the store's `max_stale`).
    Stale {
        /// The expired value.
        value: T,
        /// How long ago it expired, at the answer.
        age: Duration,
    },
    /// Just loaded (by this caller, or by the leader it waited for) and
    /// stored.
    Loaded(T),
}

impl<T> Cached<T> {
    /// The value, wherever it came from.
    ///
    /// ```
    /// # use failsafe_driver::Cached;
    /// assert_eq!(Cached::Loaded(3).value(), &3);
    /// ```
    pub const fn value(&self) -> &T {
        match self {
            Cached::Fresh(value) | Cached::Loaded(value) | Cached::Stale { value, .. } => value,
        }
    }

    /// The value, by value.
    ///
    /// ```
    /// # use failsafe_driver::Cached;
    /// assert_eq!(Cached::Fresh("a").into_value(), "a");
    /// ```
    pub fn into_value(self) -> T {
        match self {
            Cached::Fresh(value) | Cached::Loaded(value) | Cached::Stale { value, .. } => value,
        }
    }

    /// How long past its expiry a stale value is; `None` for a fresh or
    /// loaded one.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_driver::Cached;
    /// let stale = Cached::Stale { value: 1, age: Duration::from_secs(4) };
    /// assert_eq!(stale.stale_age(), Some(Duration::from_secs(4)));
    /// assert_eq!(Cached::Fresh(1).stale_age(), None);
    /// ```
    pub const fn stale_age(&self) -> Option<Duration> {
        match self {
            Cached::Stale { age, .. } => Some(*age),
            _ => None,
        }
    }
}

/// Why a [`SharedCache`] call has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheError<E> {
    /// This caller's load failed and no value was within its stale window.
    Load(E),
    /// A recent load of the key failed (negative caching): not loaded
    /// again until `until`.
    Negative {
        /// When the recorded failure stops being served.
        until: Instant,
    },
}

impl<E> CacheError<E> {
    /// The loader's error, if this caller's load failed.
    ///
    /// ```
    /// # use failsafe_driver::CacheError;
    /// assert_eq!(CacheError::Load("down").into_inner(), Some("down"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            CacheError::Load(e) => Some(e),
            CacheError::Negative { .. } => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for CacheError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::Load(e) => write!(f, "load failed: {e}"),
            CacheError::Negative { until } => {
                write!(f, "a recent load failed (cached until {until})")
            }
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for CacheError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            CacheError::Load(e) => Some(e),
            CacheError::Negative { .. } => None,
        }
    }
}

/// What [`SharedCache::begin`] found: the answer at once, or a load or a
/// wait left to run.
#[must_use]
pub enum Begin<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    /// A fresh value (or a fresh one whose refresh another caller is
    /// running): nothing to load.
    Done(Cached<S::Value>),
    /// A recent load of the key failed (negative caching): the answer is
    /// [`CacheError::Negative`] until `until`.
    Negative {
        /// When the recorded failure stops being served.
        until: Instant,
    },
    /// A load to lead (the key's load mark is held) or a leader to wait
    /// for: finish it with [`Pending::run`].
    Pending(Pending<S, L, R, C>),
}

impl<S, L, R, C> fmt::Debug for Begin<S, L, R, C>
where
    S: CacheStore,
    S::Value: fmt::Debug,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Begin::Done(cached) => f.debug_tuple("Done").field(cached).finish(),
            Begin::Negative { until } => f.debug_struct("Negative").field("until", until).finish(),
            Begin::Pending(pending) => f.debug_tuple("Pending").field(pending).finish(),
        }
    }
}

/// The rest of a [`SharedCache::begin`]: a load this caller leads (it
/// holds the key's load mark; dropped unrun, it ends the mark if the mark
/// is still its own, and wakes the followers) or a leader it waits for.
/// Keeps the cache as the caller held it (`C`).
#[must_use = "a pending load does nothing unless run"]
pub struct Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    cache: C,
    key: S::Key,
    /// When `begin` looked (its load mark, if it leads, ends at
    /// `started + lease`).
    started: Instant,
    /// `begin`'s step; `None` once `run` took it over.
    step: Option<Step<S::Value>>,
}

impl<S, L, R, C> fmt::Debug for Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("started", &self.started)
            .field("leads", &matches!(self.step, Some(Step::Load { .. })))
            .finish_non_exhaustive()
    }
}

impl<S, L, R, C> Pending<S, L, R, C>
where
    S: CacheStore,
    S::Key: Clone,
    S::Value: Clone,
    L: Lock<S>,
    R: Runtime,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    /// Finishes what [`SharedCache::begin`] started, as
    /// [`get_or_load`](SharedCache::get_or_load) would from there: leads
    /// the load with `loader`, or waits for the leader on the cache's
    /// runtime (woken by it when the store keeps followers, registering
    /// at the first poll; else re-checking every `recheck`), and looks
    /// again (and may lead a load itself).
    ///
    /// # Errors
    ///
    /// As [`get_or_load`](SharedCache::get_or_load).
    pub async fn run<F, Fut, E>(mut self, loader: F) -> Result<Cached<S::Value>, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        // From here the load's own mark guard ends the mark, not `Drop`.
        let first = self.step.take().map(|step| (self.started, step));
        let key = self.key.clone();
        let cache = &*self.cache;
        cache
            .run_from(&cache.runtime, key, first, loader, |_| true)
            .await
    }
}

impl<S, L, R, C> Drop for Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn drop(&mut self) {
        if let Some(Step::Load { .. }) = self.step {
            let cache = &*self.cache;
            let until = self.started.saturating_add(cache.lease);
            end_own_mark::<S, L>(&cache.lock, &self.key, until);
        }
    }
}

/// The default lease of a leader's load mark: 30 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The default interval at which followers the leader cannot wake (no
/// registry, or a full one) re-check the store: 10 ms.
pub const DEFAULT_RECHECK: Duration = Duration::from_millis(10);

/// A cache store `S` behind a lock `L` (a `CsLock` or an embassy mutex
/// wrapper in a `static`, a `StdLock` on std) with a runtime `R`:
/// `get_or_load` with miss coalescing, stale-on-error, refresh-ahead and
/// negative caching, as the [module docs](self) say.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{BlockingRuntime, Cached, Clock, SharedCache};
/// # use core::cell::Cell;
/// # struct Manual(Cell<Instant>);
/// # impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
/// # impl BlockingRuntime for Manual { fn block_until(&self, t: Instant) { self.0.set(self.0.get().max(t)) } }
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(60)).build().unwrap();
/// let store: Cache<u32, &str, 64> = Cache::new(config, 0x5eed);
/// let cache = SharedCache::new(CsLock::new(store), Manual(Cell::new(Instant::ZERO)));
///
/// let first = cache.get_or_load_blocking(7, || Ok::<_, ()>("seven"));
/// assert_eq!(first, Ok(Cached::Loaded("seven")));
/// let again = cache.get_or_load_blocking(7, || -> Result<_, ()> { unreachable!() });
/// assert_eq!(again, Ok(Cached::Fresh("seven")));
/// ```
pub struct SharedCache<S, L, R> {
    lock: L,
    runtime: R,
    lease: Duration,
    recheck: Duration,
    _store: PhantomData<fn() -> S>,
}

impl<S, L, R: fmt::Debug> fmt::Debug for SharedCache<S, L, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("runtime", &self.runtime)
            .field("lease", &self.lease)
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

/// What the store said, as an owned step of a `get_or_load`.
enum Step<V> {
    Done(Cached<V>),
    Negative(Instant),
    /// A follower: wait until `until` (the leader's lease), woken by the
    /// leader if `registered`, else re-checking every `recheck`.
    Wait {
        until: Instant,
        registered: bool,
    },
    /// Lead a load (a refresh if `refresh`).
    Load {
        stale: Option<(V, Duration)>,
        refresh: Option<V>,
    },
}

/// Wakes `first` and every other follower registered for `key`, taking
/// them one at a time (the lock is never held while waking).
fn wake_followers<S: CacheStore, L: Lock<S>>(lock: &L, key: &S::Key, first: Option<Waker>) {
    let mut next = first;
    while let Some(waker) = next {
        waker.wake();
        next = lock.with(|s| s.take_waiter(key));
    }
}

/// A leader's load mark: ended on drop unless disarmed by a result, and
/// its followers woken.
///
/// The store's marks have no owner, so a leader tells its own by its end
/// (`until`): past its lease a follower may lead under a mark of its own,
/// and the old leader must not end that one. A leader whose mark is no
/// longer its own ends nothing when dropped and records no failure; its
/// value is stored and the newer leader's mark put back.
struct Mark<'a, S: CacheStore, L: Lock<S>> {
    lock: &'a L,
    key: S::Key,
    until: Instant,
    armed: bool,
    _store: PhantomData<fn() -> S>,
}

impl<S: CacheStore, L: Lock<S>> Drop for Mark<'_, S, L> {
    fn drop(&mut self) {
        if self.armed {
            end_own_mark::<S, L>(self.lock, &self.key, self.until);
        }
    }
}

/// Ends `key`'s load mark if it is still the one that ends at `until` (a
/// leader's own: not a newer leader's, taken after its lease lapsed), and
/// wakes its followers.
fn end_own_mark<S: CacheStore, L: Lock<S>>(lock: &L, key: &S::Key, until: Instant) {
    let first = lock.with(|s| {
        if s.load_mark(key) != Some(until) {
            return None;
        }
        s.end_load(key);
        s.take_waiter(key)
    });
    wake_followers::<S, L>(lock, key, first);
}

/// A follower's registration: removed when it stops waiting (answered,
/// leading, or dropped), so a dropped follower leaves no slot behind.
struct Follow<'a, S: CacheStore, L: Lock<S>> {
    lock: &'a L,
    key: &'a S::Key,
    waker: Option<Waker>,
    _store: PhantomData<fn() -> S>,
}

impl<S: CacheStore, L: Lock<S>> Drop for Follow<'_, S, L> {
    fn drop(&mut self) {
        if let Some(waker) = self.waker.take() {
            self.lock.with(|s| s.remove_waiter(self.key, &waker));
        }
    }
}

/// Waits for the first wake-up: the timer's, or anyone's (a leader that
/// ended). Any wake-up means "look at the store again"; an early one is
/// harmless.
struct Woken<T> {
    sleep: T,
    polled: bool,
}

impl<T: Future<Output = ()> + Unpin> Future for Woken<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.polled {
            return Poll::Ready(());
        }
        this.polled = true;
        Pin::new(&mut this.sleep).poll(cx)
    }
}

impl<S, L, R> SharedCache<S, L, R> {
    /// A handle over `lock` (holding the store) on `runtime`, with the
    /// default lease (30 s) and re-check interval (10 ms). `const`, so a
    /// firmware keeps one in a `static`.
    pub const fn new(lock: L, runtime: R) -> Self {
        SharedCache {
            lock,
            runtime,
            lease: DEFAULT_LEASE,
            recheck: DEFAULT_RECHECK,
            _store: PhantomData,
        }
    }

    /// Sets how long a leader's load mark lasts (`lease`: a loader that
    /// runs longer loses it and a follower may load too) and how often a
    /// follower the leader cannot wake re-checks the store for its result
    /// (`recheck`).
    ///
    /// # Errors
    ///
    /// [`Problem::Zero`] naming `lease` or `recheck` if it is zero (a zero
    /// re-check would spin).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_driver::SharedCache;
    /// let cache = SharedCache::<(), (), ()>::new((), ());
    /// assert!(cache.timing(Duration::from_secs(5), Duration::from_millis(1)).is_ok());
    /// let cache = SharedCache::<(), (), ()>::new((), ());
    /// assert_eq!(cache.timing(Duration::from_secs(5), Duration::ZERO).unwrap_err().field, "recheck");
    /// ```
    pub fn timing(mut self, lease: Duration, recheck: Duration) -> Result<Self, ConfigError> {
        if lease.is_zero() {
            return Err(ConfigError::new("lease", Problem::Zero));
        }
        if recheck.is_zero() {
            return Err(ConfigError::new("recheck", Problem::Zero));
        }
        self.lease = lease;
        self.recheck = recheck;
        Ok(self)
    }

    /// The lock around the store (for operator actions: remove,
    /// invalidate, metrics).
    pub const fn lock(&self) -> &L {
        &self.lock
    }

    /// The runtime.
    pub const fn runtime(&self) -> &R {
        &self.runtime
    }
}

impl<S, L, R> SharedCache<S, L, R>
where
    S: CacheStore,
    S::Key: Clone,
    S::Value: Clone,
    L: Lock<S>,
{
    /// Runs `f` on the store, under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut S) -> T) -> T {
        self.lock.with(f)
    }

    /// The key's value: fresh from the store, or loaded by `loader` (once
    /// for all the callers that miss together), or stale when the load
    /// fails; see the [module docs](self). Dropping the future while it
    /// loads ends its load mark and wakes its followers; dropping it while it
    /// follows removes its registration.
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] with the loader's error when no value is within
    /// its stale window; [`CacheError::Negative`] while a recent failure of
    /// the key is cached.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: S::Key,
        loader: F,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        R: Runtime,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        self.load_on(&self.runtime, key, loader, |_| true).await
    }

    /// [`get_or_load`](Self::get_or_load) for blocking code: a follower
    /// registers the runtime's [`thread_waker`](BlockingRuntime::thread_waker)
    /// and blocks until its leader wakes it (or its lease ends), on the
    /// runtime's `block_until_woken`; with no waker or no room it blocks
    /// (`block_until`) between re-checks. A panicking loader ends its load
    /// mark and wakes its followers.
    ///
    /// # Errors
    ///
    /// As [`get_or_load`](Self::get_or_load).
    pub fn get_or_load_blocking<F, E>(
        &self,
        key: S::Key,
        loader: F,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        R: BlockingRuntime,
        F: FnOnce() -> Result<S::Value, E>,
    {
        self.load_blocking_on(&self.runtime, key, loader, |_| true)
    }

    /// [`get_or_load`](Self::get_or_load) in two halves, for a caller that
    /// must answer a hit without an `.await` or an allocation (a tower
    /// service's `call`): `begin` reads the clock and takes the first look
    /// at the store, under one lock, exactly as `get_or_load` does; a fresh
    /// value or a recorded failure is the answer at once ([`Begin::Done`],
    /// [`Begin::Negative`]), anything else is a [`Pending`] load or wait
    /// that [`Pending::run`] finishes. `this` is how the caller holds the
    /// cache (an `Arc`, a `&'static` or any `&SharedCache`): only the
    /// pending half keeps a clone of it (so it can outlive the borrow: a
    /// `'static` response future); a hit clones nothing.
    ///
    /// A `Pending` that leads a load holds the key's load mark; dropping it
    /// unrun (or dropping `run`'s future) ends the mark (if it is still its
    /// own) and wakes its followers, as dropping `get_or_load`'s future
    /// does. A `Pending` that follows has no waker to register yet (`begin`
    /// is synchronous): `run` registers its task's at its first poll, if
    /// the leader still holds the mark `begin` saw, and looks again at once
    /// if that leader has already ended.
    ///
    /// ```
    /// use failsafe_core::cache::{Cache, CacheConfig};
    /// use failsafe_core::sync::CsLock;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{Begin, Cached, Clock, Runtime, SharedCache};
    /// # use core::future::Ready;
    /// # #[derive(Debug)] struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// # impl Runtime for Zero { type Sleep = Ready<()>; fn sleep_until(&self, _: Instant) -> Ready<()> { core::future::ready(()) } }
    ///
    /// let store: Cache<&str, u32, 16> = Cache::new(CacheConfig::DEFAULT, 1);
    /// let cache = SharedCache::new(CsLock::new(store), Zero);
    /// let handle = &cache; // or an `Arc<SharedCache<..>>`
    /// let Begin::Pending(load) = SharedCache::begin(&handle, "price") else { unreachable!() };
    /// let loaded = futures_lite::future::block_on(load.run(|| async { Ok::<_, ()>(42) }));
    /// assert_eq!(loaded, Ok(Cached::Loaded(42)));
    /// assert!(matches!(SharedCache::begin(&handle, "price"), Begin::Done(Cached::Fresh(42))));
    /// ```
    pub fn begin<C>(this: &C, key: S::Key) -> Begin<S, L, R, C>
    where
        C: Deref<Target = Self> + Clone,
        R: Clock,
    {
        let now = this.runtime.now();
        // No waker (and not waited): nothing is registered, nothing owed.
        let (step, owed) = this.step(&key, now, None, None);
        wake_followers::<S, L>(&this.lock, &key, owed);
        match step {
            Step::Done(cached) => Begin::Done(cached),
            Step::Negative(until) => Begin::Negative { until },
            step => Begin::Pending(Pending {
                cache: this.clone(),
                key,
                started: now,
                step: Some(step),
            }),
        }
    }

    /// `get_or_load` on `rt`'s clock and timer, serving a stale value
    /// after a failure only if `serve_stale` accepts the error.
    pub(crate) async fn load_on<RT, F, Fut, E>(
        &self,
        rt: &RT,
        key: S::Key,
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        RT: Runtime,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        self.run_from(rt, key, None, loader, serve_stale).await
    }

    /// `load_on` from `first`, the step [`begin`](Self::begin) took at its
    /// instant (without a waker), or from a first look of its own.
    async fn run_from<RT, F, Fut, E>(
        &self,
        rt: &RT,
        key: S::Key,
        mut first: Option<(Instant, Step<S::Value>)>,
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        RT: Runtime,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        let mut waited: Option<Instant> = None;
        let mut follow = self.follow(&key);
        loop {
            let (now, step, registered) = match first.take() {
                Some((now, Step::Wait { until, .. })) => {
                    // `begin` made it a follower with no waker to register:
                    // register the task's now, in one critical section
                    // with a look at the mark: if the leader `begin` saw
                    // still holds it (its end unchanged), that leader
                    // takes the waker when it ends; if it has ended
                    // already, this caller did wait for it: look again.
                    let adopted = core::future::poll_fn(|cx| {
                        Poll::Ready(self.lock.with(|s| {
                            (s.load_mark(&key) == Some(until))
                                .then(|| s.register_waiter(&key, cx.waker()))
                                .map(|registered| registered.then(|| cx.waker().clone()))
                        }))
                    })
                    .await;
                    let Some(registered) = adopted else {
                        waited.get_or_insert(now);
                        continue;
                    };
                    let step = Step::Wait {
                        until,
                        registered: registered.is_some(),
                    };
                    (now, step, registered)
                }
                Some((now, step)) => (now, step, None),
                None => {
                    let now = rt.now();
                    // The task's waker, registered (cloned) only if it
                    // follows.
                    let (step, owed, registered) = core::future::poll_fn(|cx| {
                        let (step, owed) = self.step(&key, now, waited, Some(cx.waker()));
                        let registered = matches!(
                            step,
                            Step::Wait {
                                registered: true,
                                ..
                            }
                        )
                        .then(|| cx.waker().clone());
                        Poll::Ready((step, owed, registered))
                    })
                    .await;
                    wake_followers::<S, L>(&self.lock, &key, owed);
                    (now, step, registered)
                }
            };
            match step {
                Step::Done(cached) => return Ok(cached),
                Step::Negative(until) => return Err(CacheError::Negative { until }),
                Step::Wait {
                    until,
                    registered: woken,
                } => {
                    // Woken by the leader: sleep to its lease's end; not
                    // registered: re-check on the timer.
                    let at = if woken {
                        follow.waker = registered;
                        until
                    } else {
                        until.min(now.saturating_add(self.recheck))
                    };
                    let sleep = core::pin::pin!(rt.sleep_until(at));
                    Woken {
                        sleep,
                        polled: false,
                    }
                    .await;
                    waited.get_or_insert(now);
                }
                Step::Load { stale, refresh } => {
                    drop(follow);
                    let mark = self.mark(&key, now);
                    let result = loader().await;
                    return self.finish(rt, mark, key, now, result, stale, refresh, serve_stale);
                }
            }
        }
    }

    /// The blocking `load_on`.
    pub(crate) fn load_blocking_on<RT, F, E>(
        &self,
        rt: &RT,
        key: S::Key,
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        RT: BlockingRuntime,
        F: FnOnce() -> Result<S::Value, E>,
    {
        let mut waited: Option<Instant> = None;
        // The thread's waker, made once for the whole wait (if the
        // runtime can be woken) when the thread first has to follow.
        let mut waker: Option<Waker> = None;
        let mut asked = false;
        let mut follow = self.follow(&key);
        loop {
            let now = rt.now();
            let (step, owed) = self.step(&key, now, waited, waker.as_ref());
            wake_followers::<S, L>(&self.lock, &key, owed);
            match step {
                Step::Done(cached) => return Ok(cached),
                Step::Negative(until) => return Err(CacheError::Negative { until }),
                Step::Wait {
                    until,
                    registered: true,
                } => {
                    if follow.waker.is_none() {
                        follow.waker.clone_from(&waker);
                    }
                    rt.block_until_woken(until);
                    waited.get_or_insert(now);
                }
                Step::Wait {
                    until,
                    registered: false,
                } => {
                    if !asked {
                        asked = true;
                        waker = rt.thread_waker();
                        if waker.is_some() {
                            // Register first (a second look, with the
                            // waker), then block.
                            continue;
                        }
                    }
                    rt.block_until(until.min(now.saturating_add(self.recheck)));
                    waited.get_or_insert(now);
                }
                Step::Load { stale, refresh } => {
                    drop(follow);
                    let mark = self.mark(&key, now);
                    let result = loader();
                    return self.finish(rt, mark, key, now, result, stale, refresh, serve_stale);
                }
            }
        }
    }

    fn mark(&self, key: &S::Key, now: Instant) -> Mark<'_, S, L> {
        Mark {
            lock: &self.lock,
            key: key.clone(),
            until: now.saturating_add(self.lease),
            armed: true,
            _store: PhantomData,
        }
    }

    fn follow<'a>(&'a self, key: &'a S::Key) -> Follow<'a, S, L> {
        Follow {
            lock: &self.lock,
            key,
            waker: None,
            _store: PhantomData,
        }
    }

    /// One look at the store: answer, wait (registering `waker` if given),
    /// or lead a load (the mark is taken here, under the same lock as the
    /// lookup). Also returns a follower owed a wake-up (a mark ended here).
    fn step(
        &self,
        key: &S::Key,
        now: Instant,
        waited: Option<Instant>,
        waker: Option<&Waker>,
    ) -> (Step<S::Value>, Option<Waker>) {
        let until = now.saturating_add(self.lease);
        self.lock.with(|s| {
            let (stale, refresh) = match s.lookup(key, now) {
                Lookup::Fresh {
                    value,
                    refresh: false,
                } => {
                    // A follower reads the value its leader just stored.
                    let value = value.clone();
                    let cached = if waited.is_some() {
                        Cached::Loaded(value)
                    } else {
                        Cached::Fresh(value)
                    };
                    return (Step::Done(cached), None);
                }
                Lookup::Fresh {
                    value,
                    refresh: true,
                } => (None, Some(value.clone())),
                Lookup::Stale { value, age } => (Some((value.clone(), age)), None),
                Lookup::Negative { until } => return (Step::Negative(until), None),
                Lookup::Missing => (None, None),
            };
            match s.begin_load(key.clone(), now, until) {
                LoadMark::Follower { until } => match refresh {
                    // The store tells refresh only with no mark held; if
                    // one is, someone is already refreshing: serve.
                    Some(value) => (Step::Done(Cached::Fresh(value)), None),
                    None => {
                        let registered = waker.is_some_and(|w| s.register_waiter(key, w));
                        (Step::Wait { until, registered }, None)
                    }
                },
                LoadMark::Leader => match stale {
                    // The leader we waited for ended without a fresh
                    // value: its load counts as failed; serve the stale
                    // one. (Unless that value expired after we began
                    // waiting: then the leader did store it, it has just
                    // expired already, and nothing failed: load.)
                    Some((value, age))
                        if waited.is_some_and(|since| now.saturating_sub(age) <= since) =>
                    {
                        s.end_load(key);
                        let owed = s.take_waiter(key);
                        (Step::Done(Cached::Stale { value, age }), owed)
                    }
                    stale => (Step::Load { stale, refresh }, None),
                },
            }
        })
    }

    /// Stores a leader's result and answers.
    #[allow(clippy::too_many_arguments)]
    fn finish<C: Clock, E>(
        &self,
        clock: &C,
        mut mark: Mark<'_, S, L>,
        key: S::Key,
        started: Instant,
        result: Result<S::Value, E>,
        stale: Option<(S::Value, Duration)>,
        refresh: Option<S::Value>,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>> {
        let now = clock.now();
        mark.armed = false;
        match result {
            Ok(value) => {
                let first = self.lock.with(|s| {
                    // A newer leader's live mark (this one's lease lapsed):
                    // put back after the insert, which ends any mark.
                    let newer = s
                        .load_mark(&mark.key)
                        .filter(|&until| until != mark.until && until > now);
                    s.insert(key, value.clone(), now);
                    if let Some(until) = newer {
                        let _ = s.begin_load(mark.key.clone(), now, until);
                    }
                    s.take_waiter(&mark.key)
                });
                wake_followers::<S, L>(&self.lock, &mark.key, first);
                Ok(Cached::Loaded(value))
            }
            Err(error) => {
                let (max_stale, first) = self.lock.with(|s| {
                    if s.load_mark(&mark.key) == Some(mark.until) {
                        s.insert_failure(key, now);
                    }
                    (s.max_stale(), s.take_waiter(&mark.key))
                });
                wake_followers::<S, L>(&self.lock, &mark.key, first);
                if refresh.is_some() {
                    // The value was fresh when the refresh began; the
                    // refresh may have outlived it: say what it is now.
                    let now_held = self.lock.with(|s| match s.lookup(&mark.key, now) {
                        Lookup::Fresh { value, .. } => Some((value.clone(), None)),
                        Lookup::Stale { value, age } => Some((value.clone(), Some(age))),
                        _ => None,
                    });
                    return match now_held {
                        Some((value, None)) => Ok(Cached::Fresh(value)),
                        Some((value, Some(age))) if serve_stale(&error) => {
                            Ok(Cached::Stale { value, age })
                        }
                        _ => Err(CacheError::Load(error)),
                    };
                }
                if let Some((value, age)) = stale
                    && serve_stale(&error)
                {
                    let age = age.saturating_add(now.saturating_duration_since(started));
                    if age < max_stale {
                        return Ok(Cached::Stale { value, age });
                    }
                }
                Err(CacheError::Load(error))
            }
        }
    }
}
