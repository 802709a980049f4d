//! Cache: a fixed-capacity, allocation-free store with a scan-resistant
//! eviction policy, and the decisions that make a cache a resilience
//! pattern rather than only a speed-up.
//!
//! - **Store**: [`Cache<K, V, N, P>`](Cache) holds at most `N` entries
//!   inline (capacity in the type, nothing allocated), evicting by
//!   [`S3Fifo`] (default), [`Sieve`] or [`Lru`] (for comparison); keys hash
//!   with an injected seed. Time-to-live per cache and per entry,
//!   time-to-idle, hit / miss / eviction / expiration counts
//!   ([`CacheMetrics`]) and events ([`CacheEvent`]) to an
//!   [`Observer`](crate::Observer).
//! - **Stale-on-error**: [`Cache::lookup`] answers [`Lookup::Fresh`],
//!   [`Lookup::Stale`] (expired for `age`, within `max_stale`: serve it
//!   only if a new load fails), [`Lookup::Negative`] or [`Lookup::Missing`].
//! - **Refresh-ahead**: the first hit within `refresh_ahead` of an entry's
//!   time-to-live says `refresh: true`, once, so exactly one caller reloads
//!   while the others keep hitting.
//! - **Negative caching**: [`Cache::insert_failure`] makes lookups answer
//!   "failed" for `negative_ttl`, so a failing loader is not called by every
//!   caller.
//! - **Miss coalescing**: [`Cache::begin_load`] gives a per-key load mark
//!   with a lease: one [`LoadMark::Leader`] loads, the others are
//!   [`LoadMark::Follower`]s until its result lands. [`GetOrLoad`] makes the
//!   whole call's decisions over any [`CacheStore`] (who leads, who waits,
//!   what a follower of a failed or lapsed leader gets, stale-on-error
//!   ages, refresh-ahead failures); [`WithWaiters`] keeps the followers a
//!   leader wakes. A driver (`failsafe_driver::SharedCache`) only reads the
//!   clock, locks, runs the loader and waits.
//!
//! Every decision is a pure function of the store and `now`; the clock
//! contract holds (a `now` earlier than one seen counts as no time passed).
//!
//! A timeline with a loader that fails:
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::cache::{Cache, CacheConfig, LoadMark, Lookup};
//! use failsafe_core::Instant;
//!
//! let config = CacheConfig::builder()
//!     .time_to_live(Duration::from_secs(30))
//!     .max_stale(Duration::from_secs(300))
//!     .negative_ttl(Duration::from_secs(5))
//!     .build()
//!     .unwrap();
//! let mut cache: Cache<&str, u32, 128> = Cache::new(config, 0x5eed);
//!
//! // t=0: loaded and cached for 30 s
//! cache.insert("price", 42, Instant::ZERO);
//! // t=45s: expired 15 s ago; the leader reloads, the loader fails: serve the stale value
//! let now = Instant::from_secs(45);
//! assert_eq!(cache.lookup(&"price", now), Lookup::Stale { value: &42, age: Duration::from_secs(15) });
//! assert_eq!(cache.begin_load("price", now, now + Duration::from_secs(2)), LoadMark::Leader);
//! assert!(!cache.insert_failure("price", now)); // a stale value is kept, not hidden
//! // t=400s: past the stale window: gone; this time the failure is cached for 5 s
//! let now = Instant::from_secs(400);
//! assert_eq!(cache.lookup(&"price", now), Lookup::Missing);
//! assert!(cache.insert_failure("price", now));
//! assert_eq!(cache.lookup(&"price", now + Duration::from_secs(1)), Lookup::Negative { until: Instant::from_secs(405) });
//! ```

use core::time::Duration;

use crate::Instant;

mod config;
mod entry;
mod get_or_load;
#[cfg(test)]
mod get_or_load_tests;
mod hash;
mod policy;
mod store;
#[cfg(test)]
mod tests;
mod waiters;

pub use config::{CacheConfig, CacheConfigBuilder};
pub use entry::{Entry, Found};
pub use get_or_load::{CacheError, CacheStep, CacheStore, Cached, GetOrLoad};
pub use policy::{Candidate, EvictionPolicy, Lru, S3Fifo, Sieve};
pub use store::Cache;
pub use waiters::{LoadWaiters, WithWaiters};

/// What [`Cache::lookup`] found for a key at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Lookup<'a, V> {
    /// A value before its expiry: serve it.
    Fresh {
        /// The value.
        value: &'a V,
        /// This caller (and no other) should reload the entry now: it is
        /// within the `refresh_ahead` margin of its time-to-live.
        refresh: bool,
    },
    /// A value past its expiry by `age` (less than `max_stale`): load
    /// anew, and serve this value only if the load fails.
    Stale {
        /// The expired value.
        value: &'a V,
        /// How long ago it expired.
        age: Duration,
    },
    /// A recent load of this key failed ([`Cache::insert_failure`]): fail
    /// without calling the loader until `until`.
    Negative {
        /// When the recorded failure stops being served.
        until: Instant,
    },
    /// Nothing usable: load it.
    Missing,
}

impl<'a, V> Lookup<'a, V> {
    /// The value if it is fresh.
    ///
    /// ```
    /// # use failsafe_core::cache::Lookup;
    /// assert_eq!(Lookup::Fresh { value: &1, refresh: false }.fresh(), Some(&1));
    /// assert_eq!(Lookup::<u8>::Missing.fresh(), None);
    /// ```
    pub const fn fresh(self) -> Option<&'a V> {
        match self {
            Lookup::Fresh { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The value to serve **after a failed load**: a fresh or a stale one.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::Lookup;
    /// assert_eq!(Lookup::Stale { value: &1, age: Duration::ZERO }.on_error(), Some(&1));
    /// ```
    pub const fn on_error(self) -> Option<&'a V> {
        match self {
            Lookup::Fresh { value, .. } | Lookup::Stale { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// What [`Cache::begin_load`] says to a caller about to load a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use]
pub enum LoadMark {
    /// Load it, then end the mark ([`Cache::insert`],
    /// [`Cache::insert_failure`] or [`Cache::end_load`]).
    Leader,
    /// Another caller is loading it: wait for its result, until `until`
    /// at the latest (after which the mark is void).
    Follower {
        /// When the leader's mark ends.
        until: Instant,
    },
}

/// Why an entry left the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RemovalCause {
    /// Made room for a new key (the policy's victim, still usable).
    Evicted,
    /// Past its expiry and its stale window (found by a lookup, the eviction
    /// policy or [`Cache::purge_expired`]).
    Expired,
    /// [`Cache::remove`].
    Explicit,
    /// [`Cache::invalidate_all`].
    Invalidated,
}

/// What a cache reports to its [`Observer`](crate::Observer), as it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheEvent<'a, K, V> {
    /// A fresh value was found.
    Hit {
        /// The key.
        key: &'a K,
    },
    /// Nothing usable was found.
    Miss {
        /// The key.
        key: &'a K,
    },
    /// An expired value within its stale window was found.
    Stale {
        /// The key.
        key: &'a K,
        /// How long ago it expired.
        age: Duration,
    },
    /// A cached failure was found.
    NegativeHit {
        /// The key.
        key: &'a K,
    },
    /// A caller was told to refresh the key ahead of its expiry.
    RefreshAhead {
        /// The key.
        key: &'a K,
    },
    /// An entry left the cache (the eviction listener).
    Removed {
        /// The key.
        key: &'a K,
        /// Its value (`None` for a cached failure).
        value: Option<&'a V>,
        /// Why.
        cause: RemovalCause,
    },
}

/// Counts since the cache was created. Every [`Cache::lookup`] or
/// [`Cache::get`] counts exactly one of `hits`, `stale`, `negative_hits`
/// or `misses`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct CacheMetrics {
    /// Lookups that found a fresh value.
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Lookups that found an expired value within its stale window.
    pub stale: u64,
    /// Lookups that found a cached failure.
    pub negative_hits: u64,
    /// Callers told to refresh ahead of expiry.
    pub refreshes: u64,
    /// Values and failures stored.
    pub inserts: u64,
    /// Entries evicted to make room.
    pub evictions: u64,
    /// Entries removed past their expiry and stale window.
    pub expirations: u64,
    /// Slots in use now.
    pub len: u32,
}

impl CacheMetrics {
    const ZERO: CacheMetrics = CacheMetrics {
        hits: 0,
        misses: 0,
        stale: 0,
        negative_hits: 0,
        refreshes: 0,
        inserts: 0,
        evictions: 0,
        expirations: 0,
        len: 0,
    };

    /// `hits / (hits + misses + stale + negative_hits)` in parts per
    /// million, or `None` before the first lookup.
    ///
    /// ```
    /// # use failsafe_core::cache::{Cache, CacheConfig};
    /// # use failsafe_core::Instant;
    /// let mut c: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// c.insert(1, 1, Instant::ZERO);
    /// c.get(&1, Instant::ZERO);
    /// c.get(&2, Instant::ZERO);
    /// assert_eq!(c.metrics().hit_ratio_ppm(), Some(500_000));
    /// ```
    pub const fn hit_ratio_ppm(&self) -> Option<u32> {
        let total = self
            .hits
            .saturating_add(self.misses)
            .saturating_add(self.stale)
            .saturating_add(self.negative_hits);
        if total == 0 {
            None
        } else {
            Some(((self.hits as u128 * 1_000_000) / total as u128) as u32)
        }
    }
}
