//! The followers a leader wakes when its load ends: [`LoadWaiters`], a
//! fixed-capacity registry of `(key, waker)` pairs, and [`WithWaiters`], a
//! store with one (what the allocation-free [`Cache`](super::Cache) is
//! wrapped in to have its followers woken instead of re-checking).

use core::fmt;
use core::ops::{Deref, DerefMut};
use core::task::Waker;
use core::time::Duration;

use super::{CacheStore, LoadMark, Lookup};
use crate::Instant;

/// Up to `W` followers waiting for a key's load, each as the key and its
/// waker: a fixed array, no allocation, kept under the cache's lock (it is
/// part of the store, see [`WithWaiters`]). A full registry refuses
/// ([`register`](Self::register) returns `false`) and the follower falls
/// back to re-checking the store on the timer.
///
/// ```
/// use core::task::Waker;
/// use failsafe_core::cache::LoadWaiters;
///
/// let mut waiters: LoadWaiters<u32, 1> = LoadWaiters::new();
/// assert!(waiters.register(&7, Waker::noop()));
/// assert!(waiters.register(&7, Waker::noop()), "the same task again replaces its waker");
/// assert!(!waiters.register(&8, Waker::noop()), "full");
/// assert!(waiters.take(&8).is_none());
/// assert!(waiters.take(&7).is_some());
/// assert!(waiters.is_empty());
/// ```
pub struct LoadWaiters<K, const W: usize> {
    slots: [Option<(K, Waker)>; W],
}

impl<K, const W: usize> LoadWaiters<K, W> {
    /// An empty registry. `const`, so it fits a `static`.
    ///
    /// ```
    /// # use failsafe_core::cache::LoadWaiters;
    /// static WAITERS: LoadWaiters<u8, 4> = LoadWaiters::new();
    /// assert!(WAITERS.is_empty());
    /// ```
    pub const fn new() -> Self {
        LoadWaiters {
            slots: [const { None }; W],
        }
    }

    /// Followers registered.
    ///
    /// ```
    /// # use failsafe_core::cache::LoadWaiters;
    /// assert_eq!(LoadWaiters::<u8, 4>::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether no follower is registered.
    ///
    /// ```
    /// # use failsafe_core::cache::LoadWaiters;
    /// assert!(LoadWaiters::<u8, 4>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

impl<K: Eq + Clone, const W: usize> LoadWaiters<K, W> {
    /// Registers `waker` to be woken when `key`'s load ends. A waker that
    /// [`will_wake`](Waker::will_wake) the same task as one already
    /// registered for `key` takes its place (a follower re-checking does
    /// not take a second slot). Returns `false` if the registry is full.
    ///
    /// ```
    /// # use core::task::Waker;
    /// # use failsafe_core::cache::LoadWaiters;
    /// let mut w: LoadWaiters<u8, 2> = LoadWaiters::new();
    /// assert!(w.register(&1, Waker::noop()) && w.register(&2, Waker::noop()));
    /// assert!(!w.register(&3, Waker::noop()));
    /// ```
    pub fn register(&mut self, key: &K, waker: &Waker) -> bool {
        let mut free = None;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            match slot {
                Some((k, w)) if k == key && w.will_wake(waker) => {
                    w.clone_from(waker);
                    return true;
                }
                Some(_) => {}
                None => {
                    free.get_or_insert(i);
                }
            }
        }
        match free.and_then(|i| self.slots.get_mut(i)) {
            Some(slot) => {
                *slot = Some((key.clone(), waker.clone()));
                true
            }
            None => false,
        }
    }

    /// Takes one waker registered for `key` (its load ended), if any.
    ///
    /// ```
    /// # use core::task::Waker;
    /// # use failsafe_core::cache::LoadWaiters;
    /// let mut w: LoadWaiters<u8, 2> = LoadWaiters::new();
    /// w.register(&1, Waker::noop());
    /// assert!(w.take(&1).is_some());
    /// assert!(w.take(&1).is_none());
    /// ```
    pub fn take(&mut self, key: &K) -> Option<Waker> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some((k, _)) if k == key))?;
        slot.take().map(|(_, w)| w)
    }

    /// Removes `waker`'s registration for `key` (a follower that stopped
    /// waiting: answered, dropped, or leading a load itself).
    ///
    /// ```
    /// # use core::task::Waker;
    /// # use failsafe_core::cache::LoadWaiters;
    /// let mut w: LoadWaiters<u8, 2> = LoadWaiters::new();
    /// w.register(&1, Waker::noop());
    /// w.remove(&1, Waker::noop());
    /// assert!(w.is_empty());
    /// ```
    pub fn remove(&mut self, key: &K, waker: &Waker) {
        for slot in &mut self.slots {
            if matches!(slot, Some((k, w)) if k == key && w.will_wake(waker)) {
                *slot = None;
            }
        }
    }
}

impl<K, const W: usize> Default for LoadWaiters<K, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, const W: usize> fmt::Debug for LoadWaiters<K, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadWaiters")
            .field("len", &self.len())
            .field("capacity", &W)
            .finish()
    }
}

/// A cache store `S` with room for `W` waiting followers: put it behind a
/// shared cache's lock (the driver's `SharedCache`) instead of the bare
/// store and
/// a leader wakes its followers when it ends (value stored, failure
/// recorded, mark dropped) instead of their re-checking the store on the
/// timer. The registry lives under the same lock as the store, so a
/// follower registers in the very lookup that made it a follower: no
/// wake-up is lost. A follower that finds the registry full re-checks on
/// the timer (every `recheck`). Derefs to the store, for operator actions
/// (`remove`, `invalidate`, `metrics`).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig};
/// use core::task::Waker;
/// use failsafe_core::cache::{CacheStore, WithWaiters};
///
/// type Store = Cache<u32, u32, 64>;
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(60)).build().unwrap();
/// // Up to 8 followers are woken; a ninth re-checks on the timer.
/// let mut store = WithWaiters::<Store, 8>::new(Cache::new(config, 1));
/// assert!(store.register_waiter(&7, Waker::noop()));
/// assert_eq!((store.len(), store.waiters().len()), (0, 1));
/// ```
pub struct WithWaiters<S: CacheStore, const W: usize> {
    store: S,
    waiters: LoadWaiters<S::Key, W>,
}

impl<S: CacheStore, const W: usize> WithWaiters<S, W> {
    /// `store` with an empty registry of `W` followers. `const`, so a
    /// firmware keeps it in a `static`.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig, WithWaiters};
    /// const STORE: WithWaiters<Cache<u8, u8, 4>, 2> = WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 0));
    /// assert!(STORE.waiters().is_empty());
    /// ```
    pub const fn new(store: S) -> Self {
        WithWaiters {
            store,
            waiters: LoadWaiters::new(),
        }
    }

    /// The registry (how many followers wait).
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig, WithWaiters};
    /// let store: WithWaiters<Cache<u8, u8, 4>, 2> = WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 0));
    /// assert_eq!(store.waiters().len(), 0);
    /// ```
    pub const fn waiters(&self) -> &LoadWaiters<S::Key, W> {
        &self.waiters
    }

    /// The store, unwrapped.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig, WithWaiters};
    /// let store: WithWaiters<Cache<u8, u8, 4>, 2> = WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 0));
    /// assert_eq!(store.into_inner().capacity(), 4);
    /// ```
    pub fn into_inner(self) -> S {
        self.store
    }
}

impl<S: CacheStore, const W: usize> Deref for WithWaiters<S, W> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.store
    }
}

impl<S: CacheStore, const W: usize> DerefMut for WithWaiters<S, W> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.store
    }
}

impl<S: CacheStore + fmt::Debug, const W: usize> fmt::Debug for WithWaiters<S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithWaiters")
            .field("store", &self.store)
            .field("waiters", &self.waiters)
            .finish()
    }
}

impl<S, const W: usize> CacheStore for WithWaiters<S, W>
where
    S: CacheStore,
    S::Key: Eq + Clone,
{
    type Key = S::Key;
    type Value = S::Value;

    fn lookup(&mut self, key: &S::Key, now: Instant) -> Lookup<'_, S::Value> {
        self.store.lookup(key, now)
    }

    fn begin_load(&mut self, key: S::Key, now: Instant, until: Instant) -> LoadMark {
        self.store.begin_load(key, now, until)
    }

    fn end_load(&mut self, key: &S::Key) {
        self.store.end_load(key);
    }

    fn load_mark(&self, key: &S::Key) -> Option<Instant> {
        self.store.load_mark(key)
    }

    fn insert(&mut self, key: S::Key, value: S::Value, now: Instant) {
        self.store.insert(key, value, now);
    }

    fn insert_failure(&mut self, key: S::Key, now: Instant) -> bool {
        self.store.insert_failure(key, now)
    }

    fn max_stale(&self) -> Duration {
        self.store.max_stale()
    }

    fn observe(&mut self, now: Instant) -> Instant {
        self.store.observe(now)
    }

    fn register_waiter(&mut self, key: &S::Key, waker: &Waker) -> bool {
        self.waiters.register(key, waker)
    }

    fn take_waiter(&mut self, key: &S::Key) -> Option<Waker> {
        self.waiters.take(key)
    }

    fn remove_waiter(&mut self, key: &S::Key, waker: &Waker) {
        self.waiters.remove(key, waker);
    }
}
