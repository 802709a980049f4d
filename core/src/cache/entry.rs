//! One key's record and the decisions on it (freshness, stale window,
//! refresh-ahead, load marks, recorded failures), shared by the fixed
//! [`Cache`](super::Cache) and any other store (the driver's heap-backed
//! `QuickStore` keeps these in a `quick_cache`).

use core::time::Duration;

use super::{CacheConfig, LoadMark};
use crate::Instant;

/// What a record holds.
#[derive(Clone, Debug)]
pub(crate) enum Stored<V> {
    /// A loaded value.
    Value(V),
    /// A failed load (negative caching).
    Failure,
    /// Nothing yet: the record only holds a loader's mark.
    Pending,
}

/// What a record is at an instant (nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Age {
    Fresh,
    Stale(u64),
    Negative(u64),
    Pending,
    Dead,
}

/// What [`Entry::look`] found: the answer of a lookup, without the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use]
pub enum Found {
    /// A fresh value; `refresh`: this caller (and no other) should reload it.
    Fresh {
        /// This caller was told to refresh ahead of expiry.
        refresh: bool,
    },
    /// A value past its expiry by `age`, within its stale window.
    Stale {
        /// How long ago it expired.
        age: Duration,
    },
    /// A recorded failure, served until `until`.
    Negative {
        /// When it stops being served.
        until: Instant,
    },
    /// Nothing usable; `dead`: the record is past every window and holds
    /// no live load mark, so the store should remove it.
    Missing {
        /// Remove the record.
        dead: bool,
    },
}

/// One key's record in a store: a value, a recorded failure or only a load
/// mark, with its expiry, its last hit (time-to-idle counts from there),
/// its load mark and whether refresh-ahead was told. Its methods are the
/// core [`Cache`](super::Cache)'s decisions (see
/// [`Cache::lookup`](super::Cache::lookup)), so that a store of another
/// shape decides exactly as the core does.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{CacheConfig, Entry, Found};
/// use failsafe_core::Instant;
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(10)).build().unwrap();
/// let mut entry = Entry::value("v", Instant::ZERO, &config);
/// assert_eq!(entry.look(Instant::from_secs(9), &config, true), Found::Fresh { refresh: false });
/// assert_eq!(entry.look(Instant::from_secs(10), &config, true), Found::Missing { dead: true });
/// ```
#[derive(Clone, Debug)]
pub struct Entry<V> {
    pub(crate) value: Stored<V>,
    /// When the value stops being fresh by its time-to-live (nanoseconds;
    /// `u64::MAX`: never). For a failure: when it stops being served.
    pub(crate) expires: u64,
    /// The insertion or the last hit: time-to-idle counts from here.
    pub(crate) touched: u64,
    /// A loader holds this key's mark until then (0: no mark).
    pub(crate) loading_until: u64,
    /// Refresh-ahead was told for this value.
    pub(crate) refresh_told: bool,
}

impl<V> Entry<V> {
    pub(crate) const fn new(value: Stored<V>, now: u64, ttl: u64, loading_until: u64) -> Self {
        Entry {
            value,
            expires: now.saturating_add(ttl),
            touched: now,
            loading_until,
            refresh_told: false,
        }
    }

    /// `value` loaded at `now`, fresh for `config`'s time-to-live.
    ///
    /// ```
    /// # use failsafe_core::cache::{CacheConfig, Entry};
    /// # use failsafe_core::Instant;
    /// assert_eq!(Entry::value(1, Instant::ZERO, &CacheConfig::DEFAULT).get(), Some(&1));
    /// ```
    pub const fn value(value: V, now: Instant, config: &CacheConfig) -> Self {
        Entry::new(Stored::Value(value), now.as_nanos(), config.ttl, 0)
    }

    /// A failed load at `now`, served for `config`'s `negative_ttl`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{CacheConfig, Entry, Found};
    /// # use failsafe_core::Instant;
    /// let config = CacheConfig::builder().negative_ttl(Duration::from_secs(1)).build().unwrap();
    /// let mut entry = Entry::<u8>::failure(Instant::ZERO, &config);
    /// assert_eq!(entry.look(Instant::ZERO, &config, true), Found::Negative { until: Instant::from_secs(1) });
    /// ```
    pub const fn failure(now: Instant, config: &CacheConfig) -> Self {
        Entry::new(Stored::Failure, now.as_nanos(), config.negative_ttl, 0)
    }

    /// Only a load mark, taken at `now` until `until` (a key with no
    /// record, as [`begin_load`](Self::begin_load) on one).
    ///
    /// ```
    /// # use failsafe_core::cache::Entry;
    /// # use failsafe_core::Instant;
    /// let entry = Entry::<u8>::pending(Instant::ZERO, Instant::from_secs(5));
    /// assert_eq!(entry.load_mark(), Some(Instant::from_secs(5)));
    /// ```
    pub const fn pending(now: Instant, until: Instant) -> Self {
        Entry::new(Stored::Pending, now.as_nanos(), 0, until.as_nanos())
    }

    /// The value, if the record holds one (fresh or not).
    ///
    /// ```
    /// # use failsafe_core::cache::{CacheConfig, Entry};
    /// # use failsafe_core::Instant;
    /// assert_eq!(Entry::<u8>::failure(Instant::ZERO, &CacheConfig::DEFAULT).get(), None);
    /// ```
    pub const fn get(&self) -> Option<&V> {
        match &self.value {
            Stored::Value(v) => Some(v),
            _ => None,
        }
    }

    /// Whether the record only holds a load mark (no value, no failure).
    ///
    /// ```
    /// # use failsafe_core::cache::Entry;
    /// # use failsafe_core::Instant;
    /// assert!(Entry::<u8>::pending(Instant::ZERO, Instant::from_secs(5)).is_pending());
    /// ```
    pub const fn is_pending(&self) -> bool {
        matches!(self.value, Stored::Pending)
    }

    /// When the value stops being fresh: its TTL or its idle limit, whichever is first.
    const fn expiry(&self, tti: u64) -> u64 {
        let idle = self.touched.saturating_add(tti);
        if idle < self.expires {
            idle
        } else {
            self.expires
        }
    }

    pub(crate) fn age(&self, now: u64, config: &CacheConfig) -> Age {
        match self.value {
            Stored::Value(_) => {
                let expiry = self.expiry(config.tti);
                if now < expiry {
                    Age::Fresh
                } else if now - expiry < config.max_stale {
                    Age::Stale(now - expiry)
                } else {
                    Age::Dead
                }
            }
            Stored::Failure if now < self.expires => Age::Negative(self.expires),
            Stored::Failure => Age::Dead,
            Stored::Pending if now < self.loading_until => Age::Pending,
            Stored::Pending => Age::Dead,
        }
    }

    /// What a lookup at `now` finds (the rules of
    /// [`Cache::lookup`](super::Cache::lookup)); a fresh lookup restarts
    /// the idle time and, if `tell`, may take the refresh-ahead turn.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::cache::{CacheConfig, Entry, Found};
    /// use failsafe_core::Instant;
    ///
    /// let config = CacheConfig::builder()
    ///     .time_to_live(Duration::from_secs(10))
    ///     .refresh_ahead(Duration::from_secs(2))
    ///     .max_stale(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// let mut entry = Entry::value("v1", Instant::ZERO, &config);
    /// assert_eq!(entry.look(Instant::from_secs(8), &config, true), Found::Fresh { refresh: true });
    /// assert_eq!(entry.look(Instant::from_secs(9), &config, true), Found::Fresh { refresh: false });
    /// assert_eq!(entry.look(Instant::from_secs(15), &config, true), Found::Stale { age: Duration::from_secs(5) });
    /// ```
    pub fn look(&mut self, now: Instant, config: &CacheConfig, tell: bool) -> Found {
        let now = now.as_nanos();
        match self.age(now, config) {
            Age::Fresh => {
                self.touched = now;
                let margin = config.refresh_ahead;
                let refresh = tell
                    && margin > 0
                    && !self.refresh_told
                    && self.expires != u64::MAX
                    && now >= self.expires.saturating_sub(margin)
                    && self.loading_until <= now;
                self.refresh_told |= refresh;
                Found::Fresh { refresh }
            }
            Age::Stale(age) => Found::Stale {
                age: Duration::from_nanos(age),
            },
            Age::Negative(until) => Found::Negative {
                until: Instant::from_nanos(until),
            },
            Age::Pending => Found::Missing { dead: false },
            // A dead value or failure under a live load mark stays (the
            // mark is the leader's: dropping it would let a second caller
            // lead a load beside it); the leader's result replaces it.
            Age::Dead => Found::Missing {
                dead: self.loading_until <= now,
            },
        }
    }

    /// Takes the load mark until `until`, or says who holds it (the rules
    /// of [`Cache::begin_load`](super::Cache::begin_load)).
    ///
    /// ```
    /// # use failsafe_core::cache::{CacheConfig, Entry, LoadMark};
    /// # use failsafe_core::Instant;
    /// let mut entry = Entry::value(1, Instant::ZERO, &CacheConfig::DEFAULT);
    /// let until = Instant::from_secs(5);
    /// assert_eq!(entry.begin_load(Instant::ZERO, until), LoadMark::Leader);
    /// assert_eq!(entry.begin_load(Instant::from_secs(1), until), LoadMark::Follower { until });
    /// ```
    pub fn begin_load(&mut self, now: Instant, until: Instant) -> LoadMark {
        if self.loading_until > now.as_nanos() {
            return LoadMark::Follower {
                until: Instant::from_nanos(self.loading_until),
            };
        }
        self.loading_until = until.as_nanos();
        LoadMark::Leader
    }

    /// Ends the load mark; returns whether the record held only the mark
    /// (the store should then remove it).
    ///
    /// ```
    /// # use failsafe_core::cache::Entry;
    /// # use failsafe_core::Instant;
    /// let mut entry = Entry::<u8>::pending(Instant::ZERO, Instant::from_secs(5));
    /// assert!(entry.end_load());
    /// assert_eq!(entry.load_mark(), None);
    /// ```
    pub fn end_load(&mut self) -> bool {
        self.loading_until = 0;
        self.is_pending()
    }

    /// When the load mark ends, if one was taken and not ended (it may have
    /// lapsed).
    ///
    /// ```
    /// # use failsafe_core::cache::{CacheConfig, Entry};
    /// # use failsafe_core::Instant;
    /// assert_eq!(Entry::value(1, Instant::ZERO, &CacheConfig::DEFAULT).load_mark(), None);
    /// ```
    pub const fn load_mark(&self) -> Option<Instant> {
        if self.loading_until > 0 {
            Some(Instant::from_nanos(self.loading_until))
        } else {
            None
        }
    }

    /// A load of this key failed at `now`: if the record holds a value
    /// still fresh or within its stale window, the value is kept (a failure
    /// never hides a value stale-on-error may serve), the mark ends, and
    /// this returns `true`; otherwise `false` and the record is left as it
    /// is (the store records the failure or ends the mark).
    ///
    /// ```
    /// # use failsafe_core::cache::{CacheConfig, Entry};
    /// # use failsafe_core::Instant;
    /// let mut entry = Entry::value(1, Instant::ZERO, &CacheConfig::DEFAULT);
    /// assert!(entry.keeps_value_on_failure(Instant::ZERO, &CacheConfig::DEFAULT));
    /// ```
    pub fn keeps_value_on_failure(&mut self, now: Instant, config: &CacheConfig) -> bool {
        let keeps =
            matches!(self.value, Stored::Value(_)) && self.age(now.as_nanos(), config) != Age::Dead;
        if keeps {
            self.loading_until = 0;
        }
        keeps
    }
}
