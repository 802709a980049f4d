//! A larger, heap-backed store for [`SharedCache`](crate::SharedCache) on
//! std: the `quick_cache` crate's single-threaded cache (its S3-FIFO-like,
//! scan-resistant policy, capacity chosen at run time) with the core's
//! cache semantics on top.
//!
//! What it supports, with the core [`Cache`](failsafe_core::cache::Cache)'s
//! meaning (read from the same [`CacheConfig`]): time-to-live,
//! time-to-idle, stale-on-error (`max_stale`), refresh-ahead (one caller
//! told, once per value), negative caching (`negative_ttl`) and load marks
//! with a lease (so miss coalescing works). What it does not: per-entry
//! time-to-live, the core's `CacheMetrics` and `CacheEvent`s (no eviction
//! listener), and a seeded hash (`quick_cache`'s default hasher, randomly
//! seeded per process). Like the core, a load mark lives in an entry and can
//! be evicted under pressure (a duplicate load, never a lost one); expired
//! entries leave when looked up or evicted.

extern crate std;

use core::hash::Hash;
use core::task::Waker;
use core::time::Duration;
use std::vec::Vec;

use failsafe_core::cache::{CacheConfig, LoadMark, Lookup};
use failsafe_core::{ConfigError, Instant, Problem};

use crate::CacheStore;

#[derive(Clone, Debug)]
enum Stored<V> {
    Value(V),
    Failure,
    Pending,
}

#[derive(Clone, Debug)]
struct Entry<V> {
    value: Stored<V>,
    /// Fresh until then by time-to-live (a failure: served until then).
    expires: Instant,
    /// Inserted or last hit: time-to-idle counts from here.
    touched: Instant,
    /// A loader's mark holds until then (`ZERO`: none).
    loading_until: Instant,
    refresh_told: bool,
}

/// A `quick_cache`-backed [`CacheStore`] of up to `capacity` entries. Put
/// it behind a `StdLock` in a [`SharedCache`](crate::SharedCache).
///
/// Supported, with the core `Cache`'s meaning (from the same
/// [`CacheConfig`]): time-to-live, time-to-idle, stale-on-error,
/// refresh-ahead, negative caching, load marks with a lease (miss
/// coalescing). Not supported: per-entry time-to-live, `CacheMetrics` and
/// `CacheEvent`s (no eviction listener), a seeded hash (`quick_cache`'s
/// default hasher, randomly seeded per process). A load mark lives in an
/// entry and can be evicted under pressure (a duplicate load, never a lost
/// one); expired entries leave when looked up or evicted.
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
        match self.cache.remove(key)?.1.value {
            Stored::Value(v) => Some(v),
            _ => None,
        }
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

    /// The clock contract: an earlier `now` than one seen is no time passed.
    fn observe(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        self.latest
    }

    fn ttl_expiry(&self, now: Instant, ttl: Option<Duration>) -> Instant {
        match ttl {
            Some(ttl) => now.saturating_add(ttl),
            None => Instant::MAX,
        }
    }

    fn store(&mut self, key: K, value: Stored<V>, expires: Instant, now: Instant) {
        self.cache.insert(
            key,
            Entry {
                value,
                expires,
                touched: now,
                loading_until: Instant::ZERO,
                refresh_told: false,
            },
        );
    }
}

/// What an entry is at `now`.
enum Age {
    Fresh,
    Stale(Duration),
    Negative(Instant),
    Pending,
    Dead,
}

impl<V> Entry<V> {
    fn expiry(&self, config: &CacheConfig) -> Instant {
        match config.time_to_idle() {
            Some(tti) => self.expires.min(self.touched.saturating_add(tti)),
            None => self.expires,
        }
    }

    fn age(&self, now: Instant, config: &CacheConfig) -> Age {
        match self.value {
            Stored::Value(_) => {
                let expiry = self.expiry(config);
                let age = now.saturating_duration_since(expiry);
                if now < expiry {
                    Age::Fresh
                } else if age < config.max_stale() {
                    Age::Stale(age)
                } else {
                    Age::Dead
                }
            }
            Stored::Failure if now < self.expires => Age::Negative(self.expires),
            Stored::Pending if now < self.loading_until => Age::Pending,
            Stored::Failure | Stored::Pending => Age::Dead,
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> CacheStore for QuickStore<K, V> {
    type Key = K;
    type Value = V;

    fn lookup(&mut self, key: &K, now: Instant) -> Lookup<'_, V> {
        let now = self.observe(now);
        let config = self.config;
        let (age, marked) = match self.cache.peek(key) {
            Some(e) => (e.age(now, &config), e.loading_until > now),
            None => return Lookup::Missing,
        };
        match age {
            Age::Fresh => {
                let Some(mut e) = self.cache.get_mut(key) else {
                    return Lookup::Missing;
                };
                e.touched = now;
                let refresh = match config.refresh_ahead() {
                    Some(margin) => {
                        !e.refresh_told
                            && e.expires != Instant::MAX
                            && now >= e.expires.saturating_sub(margin)
                            && e.loading_until <= now
                    }
                    None => false,
                };
                e.refresh_told |= refresh;
                drop(e);
                match self.cache.peek(key).map(|e| &e.value) {
                    Some(Stored::Value(value)) => Lookup::Fresh { value, refresh },
                    _ => Lookup::Missing,
                }
            }
            Age::Stale(age) => match self.cache.peek(key).map(|e| &e.value) {
                Some(Stored::Value(value)) => Lookup::Stale { value, age },
                _ => Lookup::Missing,
            },
            Age::Negative(until) => Lookup::Negative { until },
            Age::Pending => Lookup::Missing,
            // A dead entry under a live load mark stays: the mark is the
            // leader's (a second caller must not lead beside it).
            Age::Dead if marked => Lookup::Missing,
            Age::Dead => {
                self.cache.remove(key);
                Lookup::Missing
            }
        }
    }

    fn begin_load(&mut self, key: K, now: Instant, until: Instant) -> LoadMark {
        let now = self.observe(now);
        if let Some(mut e) = self.cache.peek_mut(&key) {
            if e.loading_until > now {
                return LoadMark::Follower {
                    until: e.loading_until,
                };
            }
            e.loading_until = until;
            return LoadMark::Leader;
        }
        self.cache.insert(
            key,
            Entry {
                value: Stored::Pending,
                expires: Instant::ZERO,
                touched: now,
                loading_until: until,
                refresh_told: false,
            },
        );
        LoadMark::Leader
    }

    fn end_load(&mut self, key: &K) {
        let pending = match self.cache.peek_mut(key) {
            Some(mut e) => {
                e.loading_until = Instant::ZERO;
                matches!(e.value, Stored::Pending)
            }
            None => false,
        };
        if pending {
            self.cache.remove(key);
        }
    }

    fn load_mark(&self, key: &K) -> Option<Instant> {
        self.cache
            .peek(key)
            .map(|e| e.loading_until)
            .filter(|until| *until > Instant::ZERO)
    }

    fn insert(&mut self, key: K, value: V, now: Instant) {
        let now = self.observe(now);
        let expires = self.ttl_expiry(now, self.config.time_to_live());
        self.store(key, Stored::Value(value), expires, now);
    }

    fn insert_failure(&mut self, key: K, now: Instant) -> bool {
        let now = self.observe(now);
        let config = self.config;
        if let Some(mut e) = self.cache.peek_mut(&key)
            && matches!(e.value, Stored::Value(_))
            && !matches!(e.age(now, &config), Age::Dead)
        {
            e.loading_until = Instant::ZERO;
            return false;
        }
        match config.negative_ttl() {
            Some(ttl) => {
                self.store(key, Stored::Failure, now.saturating_add(ttl), now);
                true
            }
            None => {
                self.end_load(&key);
                false
            }
        }
    }

    fn max_stale(&self) -> Duration {
        self.config.max_stale()
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
