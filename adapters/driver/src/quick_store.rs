//! [`QuickStore`]: a heap-backed store on `quick_cache` (capacity chosen at
//! run time) of the core's [`Entry`] records: it decides as `Cache` does.

extern crate std;

use core::hash::Hash;
use core::task::Waker;
use core::time::Duration;
use std::vec::Vec;

use failsafe_core::cache::{CacheConfig, CacheStore, Entry, Found, LoadMark, Lookup};
use failsafe_core::{ConfigError, Instant, Problem};

/// A `quick_cache`-backed [`CacheStore`] of up to `capacity` entries. Put
/// it behind a `StdLock` in a [`SharedCache`](crate::SharedCache).
///
/// Everything of the core `Cache`'s [`CacheConfig`] but per-entry
/// time-to-live, with its meaning; no `CacheMetrics` or `CacheEvent`s, no
/// seeded hash (`quick_cache`'s default, randomly seeded). A load mark can
/// be evicted under pressure (a duplicate load, never a lost one).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::CacheConfig;
/// use failsafe_driver::{CacheStore, QuickStore};
/// use failsafe_core::{Instant, cache::Lookup};
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(10)).build().unwrap();
/// let mut store: QuickStore<String, u32> = QuickStore::new(100_000, config).unwrap();
/// store.insert("a".into(), 1, Instant::ZERO);
/// assert_eq!(store.lookup(&"a".into(), Instant::from_secs(1)), Lookup::Fresh { value: &1, refresh: false });
/// ```
pub struct QuickStore<K, V> {
    cache: quick_cache::unsync::Cache<K, Entry<V>>,
    config: CacheConfig,
    latest: Instant,
    /// Followers waiting for a load, woken when it ends (unbounded: the
    /// heap grows only while followers wait).
    waiters: Vec<(K, Waker)>,
}

impl<K: Eq + Hash, V> core::fmt::Debug for QuickStore<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("QuickStore")
            .field("len", &self.cache.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> QuickStore<K, V> {
    /// An empty store of at most `capacity` entries under `config`.
    ///
    /// # Errors
    ///
    /// [`Problem::Zero`] naming `capacity` if it is zero.
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// # use failsafe_driver::QuickStore;
    /// assert_eq!(QuickStore::<u8, u8>::new(0, CacheConfig::DEFAULT).unwrap_err().field, "capacity");
    /// ```
    pub fn new(capacity: usize, config: CacheConfig) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", Problem::Zero));
        }
        Ok(QuickStore {
            cache: quick_cache::unsync::Cache::new(capacity),
            config,
            latest: Instant::ZERO,
            waiters: Vec::new(),
        })
    }

    /// Entries held (load marks included).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// # use failsafe_driver::QuickStore;
    /// assert_eq!(QuickStore::<u8, u8>::new(8, CacheConfig::DEFAULT).unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// `true` if no entry is held.
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// # use failsafe_driver::QuickStore;
    /// assert!(QuickStore::<u8, u8>::new(8, CacheConfig::DEFAULT).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// # use failsafe_core::{cache::CacheConfig, Instant};
    /// # use failsafe_driver::{CacheStore, QuickStore};
    /// let mut s = QuickStore::<u8, u8>::new(8, CacheConfig::DEFAULT).unwrap();
    /// s.insert(1, 10, Instant::ZERO);
    /// assert_eq!(s.remove(&1), Some(10));
    /// ```
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.cache.remove(key)?.1.get().cloned()
    }

    /// Removes every entry and load mark.
    ///
    /// ```
    /// # use failsafe_core::{cache::CacheConfig, Instant};
    /// # use failsafe_driver::{CacheStore, QuickStore};
    /// let mut s = QuickStore::<u8, u8>::new(8, CacheConfig::DEFAULT).unwrap();
    /// s.insert(1, 10, Instant::ZERO);
    /// s.invalidate_all();
    /// assert!(s.is_empty());
    /// ```
    pub fn invalidate_all(&mut self) {
        self.cache.clear();
    }
}

impl<K: Eq + Hash + Clone, V: Clone> CacheStore for QuickStore<K, V> {
    type Key = K;
    type Value = V;

    fn lookup(&mut self, key: &K, now: Instant) -> Lookup<'_, V> {
        let now = self.observe(now);
        let found = match self.cache.peek_mut(key) {
            Some(mut e) => e.look(now, &self.config, true),
            None => return Lookup::Missing,
        };
        match found {
            // A hit counts in the policy; other lookups only peek.
            Found::Fresh { refresh } => (self.cache.get(key).and_then(Entry::get))
                .map_or(Lookup::Missing, |value| Lookup::Fresh { value, refresh }),
            Found::Stale { age } => (self.cache.peek(key).and_then(Entry::get))
                .map_or(Lookup::Missing, |value| Lookup::Stale { value, age }),
            Found::Negative { until } => Lookup::Negative { until },
            Found::Missing { dead } => {
                if dead {
                    self.cache.remove(key);
                }
                Lookup::Missing
            }
        }
    }

    fn begin_load(&mut self, key: K, now: Instant, until: Instant) -> LoadMark {
        let now = self.observe(now);
        if let Some(mut e) = self.cache.peek_mut(&key) {
            return e.begin_load(now, until);
        }
        self.cache.insert(key, Entry::pending(now, until));
        LoadMark::Leader
    }

    fn end_load(&mut self, key: &K) {
        if self.cache.peek_mut(key).is_some_and(|mut e| e.end_load()) {
            self.cache.remove(key);
        }
    }

    fn load_mark(&self, key: &K) -> Option<Instant> {
        self.cache.peek(key)?.load_mark()
    }

    fn insert(&mut self, key: K, value: V, now: Instant) {
        let now = self.observe(now);
        self.cache
            .insert(key, Entry::value(value, now, &self.config));
    }

    fn insert_failure(&mut self, key: K, now: Instant) -> bool {
        let now = self.observe(now);
        let config = self.config;
        if self
            .cache
            .peek_mut(&key)
            .is_some_and(|mut e| e.keeps_value_on_failure(now, &config))
        {
            return false;
        }
        if config.negative_ttl().is_none() {
            self.end_load(&key);
            return false;
        }
        self.cache.insert(key, Entry::failure(now, &config));
        true
    }

    fn max_stale(&self) -> Duration {
        self.config.max_stale()
    }

    fn observe(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        self.latest
    }

    fn register_waiter(&mut self, key: &K, waker: &Waker) -> bool {
        match self
            .waiters
            .iter_mut()
            .find(|(k, w)| k == key && w.will_wake(waker))
        {
            Some((_, w)) => w.clone_from(waker),
            None => self.waiters.push((key.clone(), waker.clone())),
        }
        true
    }

    fn take_waiter(&mut self, key: &K) -> Option<Waker> {
        let i = self.waiters.iter().position(|(k, _)| k == key)?;
        Some(self.waiters.swap_remove(i).1)
    }

    fn remove_waiter(&mut self, key: &K, waker: &Waker) {
        self.waiters
            .retain(|(k, w)| !(k == key && w.will_wake(waker)));
    }
}
