//! `get_or_load`'s decisions, for any store: [`GetOrLoad`], the machine of
//! one call, over a [`CacheStore`]; what it answers ([`Cached`],
//! [`CacheError`]) and asks its driver to do ([`CacheStep`]).
//!
//! See [`GetOrLoad`] for what a call gets, with a whole call played by hand.

use core::fmt;
use core::hash::Hash;
use core::task::Waker;
use core::time::Duration;

use super::{Cache, CacheEvent, EvictionPolicy, LoadMark, Lookup};
use crate::{Instant, Observer};

/// What a cache keeps for its keys: the store operations [`GetOrLoad`]
/// needs, with the meaning of the core's [`Cache`] (which implements it; so
/// do [`WithWaiters`](super::WithWaiters) and the driver's heap-backed
/// store).
pub trait CacheStore {
    /// The key.
    type Key;
    /// The value.
    type Value;

    /// What the store holds for `key` at `now` ([`Cache::lookup`]).
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

    /// The clock contract: `max(now, the latest instant the store has
    /// seen)`, remembered (the default: `now`, for a store that keeps no
    /// time). [`GetOrLoad`] reads its instants through it, so a clock that
    /// steps back counts as no time passed for the whole call.
    fn observe(&mut self, now: Instant) -> Instant {
        now
    }

    /// Registers `waker` (a follower's) to be woken when `key`'s load mark
    /// ends: [`take_waiter`](Self::take_waiter) hands it to the leader
    /// that stored a value, recorded a failure or ended its mark. Called in
    /// the same critical section as the [`begin_load`](Self::begin_load)
    /// that answered [`LoadMark::Follower`], so no wake-up is lost. A waker
    /// that [`will_wake`](Waker::will_wake) the same task as one registered
    /// for `key` replaces it.
    ///
    /// Returns whether it was registered: `false` (the default: a store
    /// that keeps no followers, as the bare [`Cache`]; or a full registry)
    /// and the follower re-checks the store on a timer.
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

    fn observe(&mut self, now: Instant) -> Instant {
        self.clock.observe(now)
    }
}

/// Where a `get_or_load` answer came from.
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
    /// # use failsafe_core::cache::Cached;
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
    /// # use failsafe_core::cache::Cached;
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
    /// # use failsafe_core::cache::Cached;
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

/// Why a `get_or_load` call has no value.
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
    /// # use failsafe_core::cache::CacheError;
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

/// What [`GetOrLoad::look`] asks its driver to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum CacheStep<V> {
    /// Answer this (a fresh value; a loaded one a leader stored; a stale
    /// one a failed leader left).
    Done(Cached<V>),
    /// Answer [`CacheError::Negative`]: a recent load failed.
    Negative {
        /// When the recorded failure stops being served.
        until: Instant,
    },
    /// Follow: wait until the leader ends (a wake-up, if `registered`) or
    /// `until` (its lease), whichever is first, re-checking meanwhile if
    /// not `registered`; then look again.
    Wait {
        /// When the leader's mark ends.
        until: Instant,
        /// Whether the waker was registered: the leader wakes it.
        registered: bool,
    },
    /// Lead: run the loader (this call holds the key's load mark), then
    /// hand its result to [`GetOrLoad::finish`] (or, if it is dropped or
    /// panics, call [`GetOrLoad::abandon`]).
    Load,
}

/// What a leader holds while it loads.
#[derive(Clone, Debug)]
struct Lead<V> {
    /// Its mark's end (how it tells its own mark from a newer leader's).
    until: Instant,
    /// When it took the mark.
    started: Instant,
    /// The expired value the store held, and its age then.
    stale: Option<(V, Duration)>,
    /// The fresh value it was told to refresh.
    refresh: Option<V>,
}

/// One `get_or_load` call's decisions over a [`CacheStore`]. Pure and
/// clock-injected: the driver reads the clock, holds the store's lock
/// around each method, runs the loader, waits, and wakes the wakers the
/// methods hand back (after releasing the lock).
///
/// A driver loops: [`look`](Self::look) (answer, wait then look again, or
/// lead); a leader runs the loader and calls [`finish`](Self::finish) with
/// its result, or [`abandon`](Self::abandon) if the load is dropped. Each
/// of the three may return a follower to wake; the driver wakes it and the
/// rest ([`CacheStore::take_waiter`]) outside the lock.
///
/// What a call gets, by what the store holds for the key:
///
/// - **Fresh**: the value ([`Cached::Fresh`]); nothing is loaded.
/// - **Refresh-ahead told** (the one caller the store tells, once per value,
///   within `refresh_ahead` of expiry): that caller leads a load (a
///   `no_std` driver has nothing to spawn it on) and gets the new value
///   ([`Cached::Loaded`]); every other caller meanwhile keeps the
///   still-fresh value. If the refresh fails, the told caller gets what the
///   store holds then: the old value as [`Cached::Fresh`] if still fresh,
///   as [`Cached::Stale`] if it expired meanwhile (and the error allows
///   stale), else the loader's error.
/// - **Missing or expired**: **miss coalescing** on the store's load marks.
///   The first caller leads ([`CacheStep::Load`]); the others follow
///   ([`CacheStep::Wait`]) until the leader's end or its lease, whichever
///   is first, woken by the leader if the store keeps followers
///   ([`CacheStore::register_waiter`], under the same lock as the lookup
///   that made them followers, so no wake-up is lost), else re-checking.
///   A leader past its lease loses the mark: a follower may lead a second
///   load (a duplicate, never a lost one). The old leader tells its mark
///   from the newer one's by its end ([`CacheStore::load_mark`]):
///   abandoned, it ends nothing; failed, it records nothing; succeeded,
///   its value is stored and the newer leader's mark put back, so that no
///   third caller loads.
/// - **The load fails**: a value expired less than `max_stale` ago is
///   served and says so ([`Cached::Stale`] with its age at the answer);
///   otherwise the loader's error ([`CacheError::Load`]). The failure is
///   recorded ([`CacheStore::insert_failure`]): with a `negative_ttl`,
///   callers within it get [`CacheError::Negative`] without loading.
/// - **Followers of a leader that ended without a value** (failed,
///   abandoned, or lapsed): a stale value is served as [`Cached::Stale`]
///   (the leader's load counts as failed; followers do not each retry it),
///   a recorded failure as [`CacheError::Negative`], and with neither the
///   follower leads a load itself (one at a time). A value stored and
///   already expired by the time a follower looks (a time-to-live shorter
///   than its wait) is not a failure: the follower leads a load.
///
/// A whole call, the driver's part played by hand:
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig, CacheStep, Cached, GetOrLoad};
/// use failsafe_core::Instant;
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(60)).build().unwrap();
/// let mut store: Cache<&str, u32, 16> = Cache::new(config, 1);
/// let lease = Duration::from_secs(30);
/// let (mut a, mut b) = (GetOrLoad::new("price", lease), GetOrLoad::new("price", lease));
/// // t=0: `a` misses and leads; `b` follows until a's lease ends at most
/// assert_eq!(a.look(&mut store, Instant::ZERO, None).0, CacheStep::Load);
/// let until = Instant::from_secs(30);
/// assert_eq!(b.look(&mut store, Instant::ZERO, None).0, CacheStep::Wait { until, registered: false });
/// // t=1s: a's loader returns 42: stored; then `b` looks again and reads it
/// let (answer, _wake) = a.finish(&mut store, Instant::from_secs(1), Ok::<_, ()>(42), |_| true);
/// assert_eq!(answer, Ok(Cached::Loaded(42)));
/// assert_eq!(b.look(&mut store, Instant::from_secs(1), None).0, CacheStep::Done(Cached::Loaded(42)));
/// ```
#[derive(Clone, Debug)]
pub struct GetOrLoad<K, V> {
    key: K,
    lease: Duration,
    /// When this call first followed a leader.
    waited: Option<Instant>,
    /// The end of the mark it follows, when it followed with no waker
    /// to register.
    unregistered: Option<Instant>,
    lead: Option<Lead<V>>,
}

impl<K, V> GetOrLoad<K, V> {
    /// A call for `key` whose load marks, if it leads, last `lease` (a
    /// loader running longer loses its mark and a follower may load too).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::GetOrLoad;
    /// let call: GetOrLoad<&str, u32> = GetOrLoad::new("price", Duration::from_secs(30));
    /// assert_eq!((call.key(), call.is_leading()), (&"price", false));
    /// ```
    pub const fn new(key: K, lease: Duration) -> Self {
        GetOrLoad {
            key,
            lease,
            waited: None,
            unregistered: None,
            lead: None,
        }
    }

    /// The key.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::GetOrLoad;
    /// assert_eq!(GetOrLoad::<u8, u8>::new(3, Duration::from_secs(1)).key(), &3);
    /// ```
    pub const fn key(&self) -> &K {
        &self.key
    }

    /// Whether this call holds a load mark (its last step was
    /// [`CacheStep::Load`] and it has not finished or abandoned it).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::{Cache, CacheConfig, GetOrLoad};
    /// # use failsafe_core::Instant;
    /// let mut store: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// let mut call = GetOrLoad::new(1, Duration::from_secs(1));
    /// let _ = call.look(&mut store, Instant::ZERO, None);
    /// assert!(call.is_leading());
    /// ```
    pub const fn is_leading(&self) -> bool {
        self.lead.is_some()
    }

    /// A leader's load ended with no result (dropped, or its loader
    /// panicked): ends its mark if the mark is still its own (not a newer
    /// leader's, taken after its lease lapsed) and returns a follower owed
    /// a wake-up. Does nothing for a call that does not lead.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::cache::{Cache, CacheConfig, CacheStep, GetOrLoad};
    /// use failsafe_core::Instant;
    ///
    /// let mut store: Cache<u8, u8, 4> = Cache::new(CacheConfig::DEFAULT, 0);
    /// let mut call = GetOrLoad::new(1, Duration::from_secs(5));
    /// assert_eq!(call.look(&mut store, Instant::ZERO, None).0, CacheStep::Load);
    /// let _ = call.abandon(&mut store);
    /// assert_eq!(store.load_mark(&1), None);
    /// ```
    pub fn abandon<S>(&mut self, store: &mut S) -> Option<Waker>
    where
        S: CacheStore<Key = K, Value = V> + ?Sized,
    {
        let lead = self.lead.take()?;
        if store.load_mark(&self.key) != Some(lead.until) {
            return None;
        }
        store.end_load(&self.key);
        store.take_waiter(&self.key)
    }
}

impl<K: Clone, V: Clone> GetOrLoad<K, V> {
    /// One look at `store` at `now`: answer, follow (registering `waker`,
    /// if given, for the leader to wake), or lead (the mark is taken here,
    /// in the same call as the lookup). Also returns a follower owed a
    /// wake-up (a lapsed leader's mark this look ended).
    ///
    /// A call that followed with no waker to register (a synchronous first
    /// look) and looks again with one registers it without a lookup if the
    /// leader it saw still holds its mark (its end unchanged): that leader
    /// wakes it when it ends.
    ///
    /// ```
    /// use core::task::Waker;
    /// use core::time::Duration;
    /// use failsafe_core::cache::{Cache, CacheConfig, CacheStep, GetOrLoad, WithWaiters};
    /// use failsafe_core::Instant;
    ///
    /// let mut store: WithWaiters<Cache<u8, u8, 4>, 2> = WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 0));
    /// let lease = Duration::from_secs(5);
    /// let mut leader = GetOrLoad::new(1, lease);
    /// assert_eq!(leader.look(&mut store, Instant::ZERO, None).0, CacheStep::Load);
    /// let mut follower = GetOrLoad::new(1, lease);
    /// let (step, _) = follower.look(&mut store, Instant::ZERO, Some(Waker::noop()));
    /// assert_eq!(step, CacheStep::Wait { until: Instant::from_secs(5), registered: true });
    /// // a follower that looked with no waker registers one at its next look
    /// let mut late = GetOrLoad::new(1, lease);
    /// assert!(matches!(late.look(&mut store, Instant::ZERO, None).0, CacheStep::Wait { registered: false, .. }));
    /// assert!(matches!(late.look(&mut store, Instant::ZERO, Some(Waker::noop())).0, CacheStep::Wait { registered: true, .. }));
    /// // the leader's load is dropped: its mark ends and a follower is owed a wake-up
    /// assert!(leader.abandon(&mut store).is_some());
    /// ```
    pub fn look<S>(
        &mut self,
        store: &mut S,
        now: Instant,
        waker: Option<&Waker>,
    ) -> (CacheStep<V>, Option<Waker>)
    where
        S: CacheStore<Key = K, Value = V> + ?Sized,
    {
        let now = store.observe(now);
        let key = &self.key;
        if let (Some(w), Some(until)) = (waker, self.unregistered.take())
            && store.load_mark(key) == Some(until)
        {
            let registered = store.register_waiter(key, w);
            return (CacheStep::Wait { until, registered }, None);
        }
        let (stale, refresh) = match store.lookup(key, now) {
            Lookup::Fresh {
                value,
                refresh: false,
            } => {
                // A follower reads the value its leader just stored.
                let value = value.clone();
                let cached = match self.waited {
                    Some(_) => Cached::Loaded(value),
                    None => Cached::Fresh(value),
                };
                return (CacheStep::Done(cached), None);
            }
            Lookup::Fresh {
                value,
                refresh: true,
            } => (None, Some(value.clone())),
            Lookup::Stale { value, age } => (Some((value.clone(), age)), None),
            Lookup::Negative { until } => return (CacheStep::Negative { until }, None),
            Lookup::Missing => (None, None),
        };
        let until = now.saturating_add(self.lease);
        match store.begin_load(key.clone(), now, until) {
            LoadMark::Follower { until } => match refresh {
                // The store tells refresh only with no mark held; if one
                // is, someone is already refreshing: serve.
                Some(value) => (CacheStep::Done(Cached::Fresh(value)), None),
                None => {
                    let registered = waker.is_some_and(|w| store.register_waiter(key, w));
                    self.waited.get_or_insert(now);
                    self.unregistered = waker.is_none().then_some(until);
                    (CacheStep::Wait { until, registered }, None)
                }
            },
            // The leader this call waited for ended without a fresh value:
            // its load counts as failed; serve the stale one. (Unless that
            // value expired after this call began waiting: then the leader
            // did store it, it has just expired already, and nothing
            // failed: load.)
            LoadMark::Leader => match stale {
                Some((value, age))
                    if self
                        .waited
                        .is_some_and(|since| now.saturating_sub(age) <= since) =>
                {
                    store.end_load(key);
                    let owed = store.take_waiter(key);
                    (CacheStep::Done(Cached::Stale { value, age }), owed)
                }
                stale => {
                    self.lead = Some(Lead {
                        until,
                        started: now,
                        stale,
                        refresh,
                    });
                    (CacheStep::Load, None)
                }
            },
        }
    }

    /// A leader's loader returned `result` at `now`: store the value (or
    /// record the failure, if the mark is still this call's own) and say
    /// what the caller gets. After a failure a value is served stale only
    /// if `serve_stale` accepts the error. Also returns a follower owed a
    /// wake-up (the mark ended). A call that does not lead answers
    /// `result` as it is ([`Cached::Loaded`] or [`CacheError::Load`]) and
    /// stores nothing.
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::cache::{Cache, CacheConfig, CacheStep, Cached, GetOrLoad};
    /// use failsafe_core::Instant;
    ///
    /// let config = CacheConfig::builder()
    ///     .time_to_live(Duration::from_secs(10))
    ///     .max_stale(Duration::from_secs(60))
    ///     .build()
    ///     .unwrap();
    /// let mut store: Cache<u8, u8, 4> = Cache::new(config, 0);
    /// store.insert(1, 7, Instant::ZERO);
    /// // t=15s: expired 5 s ago; this call leads a reload that fails at t=16s
    /// let mut call = GetOrLoad::new(1, Duration::from_secs(30));
    /// assert_eq!(call.look(&mut store, Instant::from_secs(15), None).0, CacheStep::Load);
    /// let (answer, _) = call.finish(&mut store, Instant::from_secs(16), Err::<u8, _>("down"), |_| true);
    /// assert_eq!(answer, Ok(Cached::Stale { value: 7, age: Duration::from_secs(6) }));
    /// ```
    #[allow(clippy::type_complexity)]
    pub fn finish<S, E>(
        &mut self,
        store: &mut S,
        now: Instant,
        result: Result<V, E>,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> (Result<Cached<V>, CacheError<E>>, Option<Waker>)
    where
        S: CacheStore<Key = K, Value = V> + ?Sized,
    {
        let now = store.observe(now);
        let key = &self.key;
        let Some(lead) = self.lead.take() else {
            return (result.map(Cached::Loaded).map_err(CacheError::Load), None);
        };
        let error = match result {
            Ok(value) => {
                // A newer leader's live mark (this one's lease lapsed): put
                // back after the insert, which ends any mark.
                let newer = store
                    .load_mark(key)
                    .filter(|&until| until != lead.until && until > now);
                store.insert(key.clone(), value.clone(), now);
                if let Some(until) = newer {
                    let _ = store.begin_load(key.clone(), now, until);
                }
                return (Ok(Cached::Loaded(value)), store.take_waiter(key));
            }
            Err(error) => error,
        };
        if store.load_mark(key) == Some(lead.until) {
            store.insert_failure(key.clone(), now);
        }
        let owed = store.take_waiter(key);
        let answer = if lead.refresh.is_some() {
            // The value was fresh when the refresh began; the refresh may
            // have outlived it: say what it is now.
            match store.lookup(key, now) {
                Lookup::Fresh { value, .. } => Ok(Cached::Fresh(value.clone())),
                Lookup::Stale { value, age } if serve_stale(&error) => Ok(Cached::Stale {
                    value: value.clone(),
                    age,
                }),
                _ => Err(CacheError::Load(error)),
            }
        } else {
            let max_stale = store.max_stale();
            match lead.stale {
                Some((value, age)) if serve_stale(&error) => {
                    let age = age.saturating_add(now.saturating_duration_since(lead.started));
                    if age < max_stale {
                        Ok(Cached::Stale { value, age })
                    } else {
                        Err(CacheError::Load(error))
                    }
                }
                _ => Err(CacheError::Load(error)),
            }
        };
        (answer, owed)
    }
}
