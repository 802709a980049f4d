//! The fixed-capacity store and its resilience decisions.

use core::hash::{Hash, Hasher};
use core::time::Duration;

use core::ops::{Deref, DerefMut};

use super::entry::{Age, Entry, Found, Stored};
use super::hash::SeededHasher;
use super::policy::{Candidate, EvictionPolicy, S3Fifo};
use super::{CacheConfig, CacheEvent, CacheMetrics, LoadMark, Lookup, RemovalCause};
use crate::time::{Monotonic, duration_nanos};
use crate::{Instant, Observer};

/// "No slot".
const NIL: u32 = u32::MAX;

/// An occupied slot: its key, the key's hash and its record.
#[derive(Clone, Debug)]
struct Slot<K, V> {
    key: K,
    hash: u64,
    entry: Entry<V>,
}

impl<K, V> Deref for Slot<K, V> {
    type Target = Entry<V>;

    fn deref(&self) -> &Entry<V> {
        &self.entry
    }
}

impl<K, V> DerefMut for Slot<K, V> {
    fn deref_mut(&mut self) -> &mut Entry<V> {
        &mut self.entry
    }
}

/// A cache of at most `N` entries with a scan-resistant eviction policy
/// (`P`: [`S3Fifo`] by default, [`Sieve`](super::Sieve), or
/// [`Lru`](super::Lru) for comparison), time-to-live, time-to-idle, and the
/// resilience decisions of the [module docs](super): stale-on-error,
/// refresh-ahead, negative caching and load marks for miss coalescing.
///
/// Everything lives inline: `N` entries, `N` bucket heads and the policy's
/// per-slot links, so the size is fixed at compile time and nothing is
/// allocated. Keys hash with a caller-provided `seed` into `N` buckets
/// chained through the slots (load factor at most 1). Operations are O(1)
/// on average; an eviction may walk a bounded number of slots (S3-FIFO at
/// most `4N`, SIEVE one lap).
///
/// `now` is passed into every operation that reads time; an earlier `now`
/// than one already seen counts as no time passed.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig, Lookup};
/// use failsafe_core::Instant;
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(10)).build().unwrap();
/// let mut cache: Cache<&str, u32, 64> = Cache::new(config, 0x5eed);
/// cache.insert("a", 1, Instant::ZERO);
/// assert_eq!(cache.get(&"a", Instant::from_secs(9)), Some(&1));
/// assert_eq!(cache.get(&"a", Instant::from_secs(10)), None); // expired at t=10s
/// assert_eq!(cache.metrics().hits, 1);
/// ```
#[derive(Clone, Debug)]
pub struct Cache<K, V, const N: usize, P = S3Fifo<N>, O = ()> {
    config: CacheConfig,
    seed: u64,
    slots: [Option<Slot<K, V>>; N],
    /// For an occupied slot: the next slot in its bucket's chain; for a free
    /// one: the next free slot.
    chain: [u32; N],
    buckets: [u32; N],
    /// Head of the list of freed slots.
    free: u32,
    /// Slots `unused..N` were never used.
    unused: u32,
    len: u32,
    policy: P,
    observer: O,
    pub(super) clock: Monotonic,
    metrics: CacheMetrics,
}

impl<K, V, const N: usize, P: EvictionPolicy> Cache<K, V, N, P> {
    /// An empty cache; `seed` keys the hash (pass a random value where keys
    /// come from untrusted clients). `const`, so a firmware cache can live in
    /// a `static` behind a lock.
    ///
    /// Zero capacity, a capacity of `u32::MAX` slots or more, or a policy of
    /// another capacity fails to compile.
    ///
    /// ```
    /// use failsafe_core::cache::{Cache, CacheConfig, Sieve};
    /// const CACHE: Cache<u16, [u8; 4], 32, Sieve<32>> = Cache::new(CacheConfig::DEFAULT, 7);
    /// assert_eq!(CACHE.capacity(), 32);
    /// ```
    ///
    /// ```compile_fail,E0080
    /// use failsafe_core::cache::{Cache, CacheConfig, Lru};
    /// let c: Cache<u8, u8, 4, Lru<8>> = Cache::new(CacheConfig::DEFAULT, 0);
    /// ```
    pub const fn new(config: CacheConfig, seed: u64) -> Self {
        const {
            assert!(N > 0, "a cache needs at least one slot");
            assert!(
                N < u32::MAX as usize,
                "a cache holds fewer than u32::MAX slots"
            );
            assert!(
                P::CAPACITY == N,
                "the eviction policy's capacity must be the cache's"
            );
        };
        Cache {
            config,
            seed,
            slots: [const { None }; N],
            chain: [NIL; N],
            buckets: [NIL; N],
            free: NIL,
            unused: 0,
            len: 0,
            policy: P::EMPTY,
            observer: (),
            clock: Monotonic::new(),
            metrics: CacheMetrics::ZERO,
        }
    }
}

impl<K, V, const N: usize, P, O> Cache<K, V, N, P, O> {
    /// The same cache reporting its events to `observer` (an eviction
    /// listener, a metrics bridge).
    ///
    /// ```
    /// use failsafe_core::cache::{Cache, CacheConfig, CacheEvent, RemovalCause};
    /// use failsafe_core::{FnObserver, Instant};
    ///
    /// let mut evicted = 0;
    /// let mut cache = Cache::<u32, u32, 1>::new(CacheConfig::DEFAULT, 0)
    ///     .with_observer(FnObserver(|e: CacheEvent<'_, u32, u32>| {
    ///         if let CacheEvent::Removed { cause: RemovalCause::Evicted, .. } = e {
    ///             evicted += 1;
    ///         }
    ///     }));
    /// cache.insert(1, 1, Instant::ZERO);
    /// cache.insert(2, 2, Instant::ZERO);
    /// drop(cache);
    /// assert_eq!(evicted, 1);
    /// ```
    pub fn with_observer<O2>(self, observer: O2) -> Cache<K, V, N, P, O2> {
        Cache {
            config: self.config,
            seed: self.seed,
            slots: self.slots,
            chain: self.chain,
            buckets: self.buckets,
            free: self.free,
            unused: self.unused,
            len: self.len,
            policy: self.policy,
            observer,
            clock: self.clock,
            metrics: self.metrics,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// let c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.config(), &CacheConfig::DEFAULT);
    /// ```
    pub const fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// Changes the configuration at run time; entries keep the expiry they
    /// were given (a new time-to-idle, stale window or refresh margin
    /// applies at once).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.set_config(CacheConfig::builder().max_stale(Duration::from_secs(1)).build().unwrap());
    /// assert_eq!(c.config().max_stale(), Duration::from_secs(1));
    /// ```
    pub fn set_config(&mut self, config: CacheConfig) {
        self.config = config;
    }

    /// The number of slots, `N`.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// let c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.capacity(), 4);
    /// ```
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Slots in use: fresh, stale, failed and pending entries, and expired
    /// ones not yet found out (see [`purge_expired`](Self::purge_expired)).
    /// Never more than `N`.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 1, Instant::ZERO);
    /// assert_eq!(c.len(), 1);
    /// ```
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// `true` if no slot is in use.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// let c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert!(c.is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counts since creation, and the current [`len`](Self::len).
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.get(&1, Instant::ZERO), None);
    /// assert_eq!(c.metrics().misses, 1);
    /// ```
    pub const fn metrics(&self) -> CacheMetrics {
        let mut m = self.metrics;
        m.len = self.len;
        m
    }

    /// The latest `now` seen (the clock contract's floor).
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 1, Instant::from_secs(5));
    /// c.get(&1, Instant::from_secs(2)); // stepped back: no time passed
    /// assert_eq!(c.latest_seen(), Instant::from_secs(5));
    /// ```
    pub const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
}

impl<K, V, const N: usize, P, O> Cache<K, V, N, P, O>
where
    K: Eq + Hash,
    P: EvictionPolicy,
    O: for<'a> Observer<CacheEvent<'a, K, V>>,
{
    #[inline]
    fn hash(&self, key: &K) -> u64 {
        let mut h = SeededHasher::new(self.seed);
        key.hash(&mut h);
        h.finish()
    }

    #[inline]
    fn bucket(hash: u64) -> usize {
        ((hash as u128 * N as u128) >> 64) as usize
    }

    #[inline]
    fn find(&self, key: &K, hash: u64) -> Option<u32> {
        let mut i = self.buckets[Self::bucket(hash)];
        while i != NIL {
            if let Some(e) = &self.slots[i as usize]
                && e.hash == hash
                && e.key == *key
            {
                return Some(i);
            }
            i = self.chain[i as usize];
        }
        None
    }

    /// Empties `slot` (already forgotten by the policy) and frees it.
    fn take(&mut self, slot: u32) -> Option<Slot<K, V>> {
        let entry = self.slots[slot as usize].take()?;
        let b = Self::bucket(entry.hash);
        let next = self.chain[slot as usize];
        if self.buckets[b] == slot {
            self.buckets[b] = next;
        } else {
            let mut i = self.buckets[b];
            while i != NIL {
                if self.chain[i as usize] == slot {
                    self.chain[i as usize] = next;
                    break;
                }
                i = self.chain[i as usize];
            }
        }
        self.chain[slot as usize] = self.free;
        self.free = slot;
        self.len -= 1;
        Some(entry)
    }

    /// Removes `slot` for `cause`, telling the policy, counting and reporting.
    fn drop_slot(&mut self, slot: u32, cause: RemovalCause) -> Option<V> {
        self.policy.removed(slot);
        let entry = self.take(slot)?;
        self.removed(entry, cause)
    }

    fn removed(&mut self, entry: Slot<K, V>, cause: RemovalCause) -> Option<V> {
        // A pending placeholder was never an entry: nothing to count or report.
        if entry.is_pending() {
            return None;
        }
        match cause {
            RemovalCause::Evicted => {
                self.metrics.evictions = self.metrics.evictions.saturating_add(1)
            }
            RemovalCause::Expired => {
                self.metrics.expirations = self.metrics.expirations.saturating_add(1)
            }
            _ => {}
        }
        self.observer.on_event(CacheEvent::Removed {
            key: &entry.key,
            value: entry.get(),
            cause,
        });
        match entry.entry.value {
            Stored::Value(v) => Some(v),
            _ => None,
        }
    }

    /// A free slot, evicting one if every slot is in use.
    fn slot_for_new(&mut self, now: u64) -> u32 {
        if self.free != NIL {
            let s = self.free;
            self.free = self.chain[s as usize];
            return s;
        }
        if (self.unused as usize) < N {
            self.unused += 1;
            return self.unused - 1;
        }
        let (slots, config) = (&self.slots, &self.config);
        let victim = self.policy.evict(|i| match &slots[i as usize] {
            Some(e) => Candidate {
                dead: e.age(now, config) == Age::Dead,
                hash: e.hash,
            },
            None => Candidate {
                dead: true,
                hash: 0,
            },
        });
        if let Some(entry) = self.take(victim) {
            let cause = if entry.age(now, &self.config) == Age::Dead {
                RemovalCause::Expired
            } else {
                RemovalCause::Evicted
            };
            self.removed(entry, cause);
        }
        // `take` put the victim on the free list.
        let s = self.free;
        self.free = self.chain[s as usize];
        s
    }

    fn put(
        &mut self,
        key: K,
        hash: u64,
        value: Stored<V>,
        expires: u64,
        now: u64,
        loading_until: u64,
    ) {
        let slot = self.slot_for_new(now);
        let b = Self::bucket(hash);
        self.chain[slot as usize] = self.buckets[b];
        self.buckets[b] = slot;
        let mut entry = Entry::new(value, now, 0, loading_until);
        entry.expires = expires;
        self.slots[slot as usize] = Some(Slot { key, hash, entry });
        self.len += 1;
        self.policy.inserted(slot, hash);
    }

    /// Looks `key` up at `now` and says what the cache holds for it: a fresh
    /// value (and whether this caller should refresh it ahead of expiry), a
    /// stale one (serve it only if a new load fails), a cached failure, or
    /// nothing. Counts one of hits, stale, negative hits or misses.
    ///
    /// - **Fresh** strictly before the entry's expiry (its time-to-live, or
    ///   `time_to_idle` after its last hit, whichever comes first). A fresh
    ///   lookup counts as a hit and restarts the idle time.
    /// - **Refresh-ahead**: the first fresh lookup at or after
    ///   `expiry_by_ttl - refresh_ahead` gets `refresh: true`, and only it
    ///   (until a new value is inserted); not while a load mark
    ///   ([`begin_load`](Self::begin_load)) is held for the key.
    /// - **Stale** from the expiry for less than `max_stale`; `age` is the
    ///   time since the expiry. A stale lookup does not restart the idle time.
    /// - **Negative** while a failure recorded by
    ///   [`insert_failure`](Self::insert_failure) is younger than `negative_ttl`.
    /// - **Missing** otherwise; an entry past its stale window is removed
    ///   (counted as an expiration), unless a load mark is held for the key
    ///   (the mark is the leader's: the entry stays until its result
    ///   replaces it or the mark ends).
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::cache::{Cache, CacheConfig, Lookup};
    /// use failsafe_core::Instant;
    ///
    /// let config = CacheConfig::builder()
    ///     .time_to_live(Duration::from_secs(10))
    ///     .refresh_ahead(Duration::from_secs(2))
    ///     .max_stale(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// let mut cache: Cache<u8, &str, 8> = Cache::new(config, 0);
    /// cache.insert(1, "v1", Instant::ZERO);
    /// assert_eq!(cache.lookup(&1, Instant::from_secs(5)), Lookup::Fresh { value: &"v1", refresh: false });
    /// // within 2 s of expiry: the first caller is told to refresh, the next is not
    /// assert_eq!(cache.lookup(&1, Instant::from_secs(8)), Lookup::Fresh { value: &"v1", refresh: true });
    /// assert_eq!(cache.lookup(&1, Instant::from_secs(9)), Lookup::Fresh { value: &"v1", refresh: false });
    /// // expired at t=10s: stale for 60 s (serve it if the loader fails)
    /// assert_eq!(cache.lookup(&1, Instant::from_secs(15)), Lookup::Stale { value: &"v1", age: Duration::from_secs(5) });
    /// assert_eq!(cache.lookup(&1, Instant::from_secs(70)), Lookup::Missing);
    /// ```
    pub fn lookup(&mut self, key: &K, now: Instant) -> Lookup<'_, V> {
        self.lookup_at(key, now, true)
    }

    /// The fresh value for `key` at `now`, if any (a hit). Never returns a
    /// value at or past its expiry. Counts like [`lookup`](Self::lookup) but
    /// never takes the refresh-ahead turn.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 10, Instant::ZERO);
    /// assert_eq!(c.get(&1, Instant::ZERO), Some(&10));
    /// assert_eq!(c.get(&2, Instant::ZERO), None);
    /// ```
    pub fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        self.lookup_at(key, now, false).fresh()
    }

    fn lookup_at(&mut self, key: &K, now: Instant, tell: bool) -> Lookup<'_, V> {
        let now = self.clock.observe(now);
        let hash = self.hash(key);
        let Some(slot) = self.find(key, hash) else {
            return self.missed(key);
        };
        let s = slot as usize;
        let found = match self.slots[s].as_mut() {
            Some(e) => e.entry.look(now, &self.config, tell),
            None => Found::Missing { dead: false },
        };
        match found {
            Found::Fresh { refresh } => {
                self.policy.accessed(slot);
                self.metrics.hits = self.metrics.hits.saturating_add(1);
                if refresh {
                    self.metrics.refreshes = self.metrics.refreshes.saturating_add(1);
                }
                let Some(e) = self.slots[s].as_ref() else {
                    return Lookup::Missing;
                };
                self.observer.on_event(CacheEvent::Hit { key: &e.key });
                if refresh {
                    self.observer
                        .on_event(CacheEvent::RefreshAhead { key: &e.key });
                }
                match e.get() {
                    Some(value) => Lookup::Fresh { value, refresh },
                    None => Lookup::Missing,
                }
            }
            Found::Stale { age } => {
                self.metrics.stale = self.metrics.stale.saturating_add(1);
                let Some(e) = self.slots[s].as_ref() else {
                    return Lookup::Missing;
                };
                self.observer
                    .on_event(CacheEvent::Stale { key: &e.key, age });
                match e.get() {
                    Some(value) => Lookup::Stale { value, age },
                    None => Lookup::Missing,
                }
            }
            Found::Negative { until } => {
                self.metrics.negative_hits = self.metrics.negative_hits.saturating_add(1);
                self.observer.on_event(CacheEvent::NegativeHit { key });
                Lookup::Negative { until }
            }
            Found::Missing { dead: true } => {
                self.drop_slot(slot, RemovalCause::Expired);
                self.missed(key)
            }
            Found::Missing { dead: false } => self.missed(key),
        }
    }

    fn missed(&mut self, key: &K) -> Lookup<'_, V> {
        self.metrics.misses = self.metrics.misses.saturating_add(1);
        self.observer.on_event(CacheEvent::Miss { key });
        Lookup::Missing
    }

    /// Stores `value` for `key` at `now`, fresh for the cache's
    /// time-to-live; returns the key's previous value. A new key evicts one
    /// entry if every slot is in use (an expired one first where the policy
    /// meets one). Ends any load mark on the key and re-arms refresh-ahead.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.insert(1, 10, Instant::ZERO), None);
    /// assert_eq!(c.insert(1, 11, Instant::ZERO), Some(10));
    /// ```
    pub fn insert(&mut self, key: K, value: V, now: Instant) -> Option<V> {
        let ttl = self.config.ttl;
        self.store(key, Stored::Value(value), ttl, now)
    }

    /// [`insert`](Self::insert) with this entry's own time-to-live instead
    /// of the cache's (`Duration::MAX`: no TTL); time-to-idle still applies.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert_with_ttl(1, 10, Instant::ZERO, Duration::from_secs(1));
    /// assert_eq!(c.get(&1, Instant::from_millis(999)), Some(&10));
    /// assert_eq!(c.get(&1, Instant::from_secs(1)), None);
    /// ```
    pub fn insert_with_ttl(&mut self, key: K, value: V, now: Instant, ttl: Duration) -> Option<V> {
        self.store(key, Stored::Value(value), duration_nanos(ttl), now)
    }

    /// Records that loading `key` failed at `now`: with a `negative_ttl`,
    /// lookups answer [`Lookup::Negative`] for that long, so callers fail
    /// fast instead of calling a failing loader again. A key that still
    /// holds a value (fresh or stale) keeps it: a failure never hides a
    /// value stale-on-error may serve. Ends any load mark on the key.
    /// Returns whether a failure was recorded.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{Cache, CacheConfig, Lookup};
    /// # use failsafe_core::Instant;
    /// let config = CacheConfig::builder().negative_ttl(Duration::from_secs(1)).build().unwrap();
    /// let mut c: Cache<u8, u8, 4> = Cache::new(config, 0);
    /// assert!(c.insert_failure(1, Instant::ZERO));
    /// assert_eq!(c.lookup(&1, Instant::from_millis(500)), Lookup::Negative { until: Instant::from_secs(1) });
    /// assert_eq!(c.lookup(&1, Instant::from_secs(1)), Lookup::Missing);
    /// ```
    pub fn insert_failure(&mut self, key: K, now: Instant) -> bool {
        let now = self.clock.observe(now);
        let hash = self.hash(&key);
        if let Some(slot) = self.find(&key, hash)
            && let Some(e) = self.slots[slot as usize].as_mut()
            && e.entry.keeps_value_on_failure(now, &self.config)
        {
            return false;
        }
        if self.config.negative_ttl == 0 {
            self.end_load(&key);
            return false;
        }
        let ttl = self.config.negative_ttl;
        self.store(key, Stored::Failure, ttl, now);
        true
    }

    fn store(&mut self, key: K, value: Stored<V>, ttl: u64, now: Instant) -> Option<V> {
        let now = self.clock.observe(now).as_nanos();
        let hash = self.hash(&key);
        let expires = now.saturating_add(ttl);
        self.metrics.inserts = self.metrics.inserts.saturating_add(1);
        if let Some(slot) = self.find(&key, hash)
            && let Some(e) = self.slots[slot as usize].as_mut()
        {
            let old = core::mem::replace(&mut e.value, value);
            e.expires = expires;
            e.touched = now;
            e.loading_until = 0;
            e.refresh_told = false;
            self.policy.accessed(slot);
            return match old {
                Stored::Value(v) => Some(v),
                _ => None,
            };
        }
        self.put(key, hash, value, expires, now, 0);
        None
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 10, Instant::ZERO);
    /// assert_eq!(c.remove(&1), Some(10));
    /// assert_eq!(c.remove(&1), None);
    /// ```
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let hash = self.hash(key);
        let slot = self.find(key, hash)?;
        self.drop_slot(slot, RemovalCause::Explicit)
    }

    /// Removes every entry (and every load mark).
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 10, Instant::ZERO);
    /// c.invalidate_all();
    /// assert!(c.is_empty());
    /// ```
    pub fn invalidate_all(&mut self) {
        for slot in 0..N {
            if let Some(entry) = self.slots[slot].take() {
                self.removed(entry, RemovalCause::Invalidated);
            }
        }
        self.chain = [NIL; N];
        self.buckets = [NIL; N];
        self.free = NIL;
        self.unused = 0;
        self.len = 0;
        self.policy.clear();
    }

    /// Removes every entry past its stale window at `now` (optional
    /// housekeeping: expired entries are also removed when looked up or
    /// met by the eviction policy); returns how many.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let config = CacheConfig::builder().time_to_live(Duration::from_secs(1)).build().unwrap();
    /// let mut c: Cache<u8, u8, 4> = Cache::new(config, 0);
    /// c.insert(1, 10, Instant::ZERO);
    /// assert_eq!(c.purge_expired(Instant::from_secs(1)), 1);
    /// assert_eq!(c.metrics().expirations, 1);
    /// ```
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let now = self.clock.observe(now).as_nanos();
        let mut purged = 0;
        for slot in 0..N {
            let dead = self.slots[slot]
                .as_ref()
                .is_some_and(|e| e.age(now, &self.config) == Age::Dead);
            if dead {
                let pending = self.slots[slot].as_ref().is_some_and(|e| e.is_pending());
                self.drop_slot(slot as u32, RemovalCause::Expired);
                purged += usize::from(!pending);
            }
        }
        purged
    }

    /// Asks to load `key` at `now`, holding the load until `until` (the
    /// loader's deadline): the first caller is the [`LoadMark::Leader`] and
    /// loads; callers while its mark holds are [`LoadMark::Follower`]s and
    /// should wait for the leader's result (or `until`) instead of loading
    /// too. The leader ends its mark with [`insert`](Self::insert),
    /// [`insert_failure`](Self::insert_failure) or
    /// [`end_load`](Self::end_load); a mark past `until` is void, so a lost
    /// leader never wedges the key.
    ///
    /// A key with no entry takes a slot for its mark (evicting if the store
    /// is full); under pressure a mark can itself be evicted, after which a
    /// new caller leads again (a duplicate load, never a lost one).
    ///
    /// ```
    /// use failsafe_core::cache::{Cache, CacheConfig, LoadMark, Lookup};
    /// use failsafe_core::Instant;
    ///
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// let deadline = Instant::from_secs(5);
    /// assert_eq!(c.lookup(&1, Instant::ZERO), Lookup::Missing);
    /// assert_eq!(c.begin_load(1, Instant::ZERO, deadline), LoadMark::Leader);
    /// assert_eq!(c.begin_load(1, Instant::from_secs(1), deadline), LoadMark::Follower { until: deadline });
    /// c.insert(1, 10, Instant::from_secs(2)); // the leader's result ends the mark
    /// assert_eq!(c.get(&1, Instant::from_secs(2)), Some(&10));
    /// ```
    pub fn begin_load(&mut self, key: K, now: Instant, until: Instant) -> LoadMark {
        let now = self.clock.observe(now);
        let hash = self.hash(&key);
        if let Some(slot) = self.find(&key, hash)
            && let Some(e) = self.slots[slot as usize].as_mut()
        {
            return e.entry.begin_load(now, until);
        }
        let (now, until) = (now.as_nanos(), until.as_nanos());
        self.put(key, hash, Stored::Pending, 0, now, until);
        LoadMark::Leader
    }

    /// Ends `key`'s load mark without a result (the load was cancelled):
    /// the next caller leads a new load.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig, LoadMark};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.begin_load(1, Instant::ZERO, Instant::from_secs(5)), LoadMark::Leader);
    /// c.end_load(&1);
    /// assert_eq!(c.begin_load(1, Instant::ZERO, Instant::from_secs(5)), LoadMark::Leader);
    /// ```
    pub fn end_load(&mut self, key: &K) {
        let hash = self.hash(key);
        let Some(slot) = self.find(key, hash) else {
            return;
        };
        if self.slots[slot as usize]
            .as_mut()
            .is_some_and(|e| e.entry.end_load())
        {
            self.drop_slot(slot, RemovalCause::Explicit);
        }
    }

    /// When `key`'s load mark ends, if one was taken and not ended (it may
    /// have lapsed: compare with `now`). A leader compares it with the end
    /// it asked for to tell whether the mark is still its own (another
    /// caller may lead once its lease lapsed). Counts nothing.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig, LoadMark};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// assert_eq!(c.load_mark(&1), None);
    /// assert_eq!(c.begin_load(1, Instant::ZERO, Instant::from_secs(5)), LoadMark::Leader);
    /// assert_eq!(c.load_mark(&1), Some(Instant::from_secs(5)));
    /// c.end_load(&1);
    /// assert_eq!(c.load_mark(&1), None);
    /// ```
    pub fn load_mark(&self, key: &K) -> Option<Instant> {
        let slot = self.find(key, self.hash(key))?;
        self.slots[slot as usize].as_ref()?.load_mark()
    }
}
