//! Properties of the core's cache (`failsafe_core::cache`).
//!
//! - **Model**: with more slots than keys (no eviction), every answer
//!   (lookups, values returned, load marks, removals, purges), the length
//!   and every metric match a plain model written from the docs, for any
//!   configuration, any sequence of operations and a clock that steps back.
//! - **Under pressure** (4 slots, 24 keys, each policy): never more than 4
//!   entries; a fresh answer is the key's latest value and lies strictly
//!   before its expiry (TTL), a stale one only with stale-on-error on and
//!   less than `max_stale` past the expiry, with the right age; a negative
//!   one only within `negative_ttl` of a recorded failure; refresh-ahead is
//!   told at most once per stored value, and only within its margin.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::cache::{
    Cache, CacheConfig, EvictionPolicy, LoadMark, Lookup, Lru, S3Fifo, Sieve,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u32),
    InsertTtl(u8, u32, u64),
    Failure(u8),
    Lookup(u8),
    Get(u8),
    Remove(u8),
    Begin(u8, u64),
    End(u8),
    Invalidate,
    Purge,
}

fn op(keys: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..keys, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (0..keys, any::<u32>(), 1u64..60).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        1 => (0..keys).prop_map(Op::Failure),
        6 => (0..keys).prop_map(Op::Lookup),
        2 => (0..keys).prop_map(Op::Get),
        1 => (0..keys).prop_map(Op::Remove),
        1 => (0..keys, 0u64..30).prop_map(|(k, l)| Op::Begin(k, l)),
        1 => (0..keys).prop_map(Op::End),
        1 => Just(Op::Invalidate),
        1 => Just(Op::Purge),
    ]
}

/// Times and durations come in steps of 100 ms, so that answers land on
/// the boundaries (exactly at an expiry, at the end of a stale window).
fn ms(n: u64) -> u64 {
    n * 100_000_000
}

fn config() -> impl Strategy<Value = CacheConfig> {
    (
        prop::option::of(1u64..80),
        prop::option::of(1u64..80),
        prop_oneof![Just(0u64), 1u64..50],
        prop::option::of(1u64..80),
        prop::option::of(1u64..30),
    )
        .prop_filter_map(
            "invalid configuration",
            |(ttl, tti, stale, refresh, negative)| {
                let mut b = CacheConfig::builder().max_stale(Duration::from_nanos(ms(stale)));
                if let Some(t) = ttl {
                    b = b.time_to_live(Duration::from_nanos(ms(t)));
                }
                if let Some(t) = tti {
                    b = b.time_to_idle(Duration::from_nanos(ms(t)));
                }
                if let Some(r) = refresh {
                    b = b.refresh_ahead(Duration::from_nanos(ms(r)));
                }
                if let Some(n) = negative {
                    b = b.negative_ttl(Duration::from_nanos(ms(n)));
                }
                b.build().ok()
            },
        )
}

/// Steps of -2 s ..= +3 s: about two in five go back in time.
fn steps(keys: u8) -> impl Strategy<Value = Vec<(i64, Op)>> {
    prop::collection::vec((-20i64..=30, op(keys)), 1..120)
}

/// An owned [`Lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Fresh(u32, bool),
    Stale(u32, u64),
    Negative(u64),
    Missing,
}

fn seen(l: Lookup<'_, u32>) -> Seen {
    match l {
        Lookup::Fresh { value, refresh } => Seen::Fresh(*value, refresh),
        Lookup::Stale { value, age } => Seen::Stale(*value, age.as_nanos() as u64),
        Lookup::Negative { until } => Seen::Negative(until.as_nanos()),
        Lookup::Missing => Seen::Missing,
    }
}

// ----------------------------------------------------------------- model --

#[derive(Clone, Debug)]
enum Held {
    Value(u32),
    Failure,
    Pending,
}

#[derive(Clone, Debug)]
struct Entry {
    held: Held,
    expires: u64,
    touched: u64,
    loading: u64,
    told: bool,
}

/// The documented behaviour, written plainly over a `HashMap`.
#[derive(Debug, Default)]
struct Model {
    entries: HashMap<u8, Entry>,
    latest: u64,
    hits: u64,
    misses: u64,
    stale: u64,
    negative: u64,
    refreshes: u64,
    inserts: u64,
    expirations: u64,
}

/// Nanoseconds of an optional setting (`None`: `u64::MAX`, never).
fn nanos(d: Option<Duration>) -> u64 {
    d.map_or(u64::MAX, |d| d.as_nanos() as u64)
}

impl Model {
    /// `Fresh`, `Stale(age)`, `Negative(until)`, `Pending` or dead (`None`).
    fn state(e: &Entry, now: u64, c: &CacheConfig) -> Option<Seen> {
        match e.held {
            Held::Value(v) => {
                let expiry = e
                    .expires
                    .min(e.touched.saturating_add(nanos(c.time_to_idle())));
                let stale = c.max_stale().as_nanos() as u64;
                if now < expiry {
                    Some(Seen::Fresh(v, false))
                } else if now - expiry < stale {
                    Some(Seen::Stale(v, now - expiry))
                } else {
                    None
                }
            }
            Held::Failure => (now < e.expires).then_some(Seen::Negative(e.expires)),
            Held::Pending => (now < e.loading).then_some(Seen::Missing),
        }
    }

    fn lookup(&mut self, k: u8, now: u64, c: &CacheConfig, tell: bool) -> Seen {
        let Some(e) = self.entries.get_mut(&k) else {
            self.misses += 1;
            return Seen::Missing;
        };
        match Self::state(e, now, c) {
            Some(Seen::Fresh(v, _)) => {
                self.hits += 1;
                e.touched = now;
                let margin = c.refresh_ahead().map_or(0, |d| d.as_nanos() as u64);
                let refresh = tell
                    && margin > 0
                    && !e.told
                    && e.expires != u64::MAX
                    && now >= e.expires.saturating_sub(margin)
                    && e.loading <= now;
                if refresh {
                    e.told = true;
                    self.refreshes += 1;
                }
                Seen::Fresh(v, refresh)
            }
            Some(s @ Seen::Stale(..)) => {
                self.stale += 1;
                s
            }
            Some(s @ Seen::Negative(_)) => {
                self.negative += 1;
                s
            }
            Some(_) => {
                self.misses += 1;
                Seen::Missing
            }
            // A dead entry under a live load mark stays (the leader's).
            None if e.loading > now => {
                self.misses += 1;
                Seen::Missing
            }
            None => {
                if !matches!(e.held, Held::Pending) {
                    self.expirations += 1;
                }
                self.entries.remove(&k);
                self.misses += 1;
                Seen::Missing
            }
        }
    }

    fn store(&mut self, k: u8, held: Held, ttl: u64, now: u64) -> Option<u32> {
        self.inserts += 1;
        let e = Entry {
            held,
            expires: now.saturating_add(ttl),
            touched: now,
            loading: 0,
            told: false,
        };
        match self.entries.insert(k, e) {
            Some(Entry {
                held: Held::Value(v),
                ..
            }) => Some(v),
            _ => None,
        }
    }

    fn failure(&mut self, k: u8, now: u64, c: &CacheConfig) -> bool {
        if let Some(e) = self.entries.get_mut(&k)
            && matches!(e.held, Held::Value(_))
            && Self::state(e, now, c).is_some()
        {
            e.loading = 0;
            return false;
        }
        match c.negative_ttl() {
            None => {
                self.end(k);
                false
            }
            Some(t) => {
                self.store(k, Held::Failure, t.as_nanos() as u64, now);
                true
            }
        }
    }

    fn end(&mut self, k: u8) {
        match self.entries.get_mut(&k) {
            Some(Entry {
                held: Held::Pending,
                ..
            }) => {
                self.entries.remove(&k);
            }
            Some(e) => e.loading = 0,
            None => {}
        }
    }

    fn begin(&mut self, k: u8, now: u64, until: u64) -> LoadMark {
        match self.entries.get_mut(&k) {
            Some(e) if e.loading > now => LoadMark::Follower {
                until: Instant::from_nanos(e.loading),
            },
            Some(e) => {
                e.loading = until;
                LoadMark::Leader
            }
            None => {
                self.entries.insert(
                    k,
                    Entry {
                        held: Held::Pending,
                        expires: 0,
                        touched: now,
                        loading: until,
                        told: false,
                    },
                );
                LoadMark::Leader
            }
        }
    }

    fn purge(&mut self, now: u64, c: &CacheConfig) -> usize {
        let dead: Vec<u8> = self
            .entries
            .iter()
            .filter(|(_, e)| Self::state(e, now, c).is_none())
            .map(|(k, _)| *k)
            .collect();
        let mut purged = 0;
        for k in dead {
            if let Some(e) = self.entries.remove(&k)
                && !matches!(e.held, Held::Pending)
            {
                purged += 1;
                self.expirations += 1;
            }
        }
        purged
    }
}

fn model_matches<P: EvictionPolicy>(
    config: CacheConfig,
    trace: &[(i64, Op)],
) -> Result<(), TestCaseError> {
    // 8 slots, 6 keys: never full, so nothing is evicted.
    let mut cache: Box<Cache<u8, u32, 8, P>> = Box::new(Cache::new(config, 7));
    let mut model = Model::default();
    let mut t = 50i64;
    for (i, (step, op)) in trace.iter().enumerate() {
        t = (t + step).max(0);
        let raw = ms(t as u64);
        let now = Instant::from_nanos(raw);
        let takes_time = !matches!(op, Op::Remove(_) | Op::End(_) | Op::Invalidate);
        if takes_time {
            model.latest = model.latest.max(raw);
        }
        let m = model.latest;
        let (got, want): (String, String) = match *op {
            Op::Insert(k, v) => (
                format!("{:?}", cache.insert(k, v, now)),
                format!(
                    "{:?}",
                    model.store(k, Held::Value(v), nanos(config.time_to_live()), m)
                ),
            ),
            Op::InsertTtl(k, v, ttl) => (
                format!(
                    "{:?}",
                    cache.insert_with_ttl(k, v, now, Duration::from_nanos(ms(ttl)))
                ),
                format!("{:?}", model.store(k, Held::Value(v), ms(ttl), m)),
            ),
            Op::Failure(k) => (
                format!("{:?}", cache.insert_failure(k, now)),
                format!("{:?}", model.failure(k, m, &config)),
            ),
            Op::Lookup(k) => (
                format!("{:?}", seen(cache.lookup(&k, now))),
                format!("{:?}", model.lookup(k, m, &config, true)),
            ),
            Op::Get(k) => (
                format!("{:?}", cache.get(&k, now).copied()),
                format!(
                    "{:?}",
                    match model.lookup(k, m, &config, false) {
                        Seen::Fresh(v, _) => Some(v),
                        _ => None,
                    }
                ),
            ),
            Op::Remove(k) => (
                format!("{:?}", cache.remove(&k)),
                format!(
                    "{:?}",
                    match model.entries.remove(&k) {
                        Some(Entry {
                            held: Held::Value(v),
                            ..
                        }) => Some(v),
                        _ => None,
                    }
                ),
            ),
            Op::Begin(k, lease) => (
                format!(
                    "{:?}",
                    cache.begin_load(k, now, Instant::from_nanos(raw + ms(lease)))
                ),
                format!("{:?}", model.begin(k, m, raw + ms(lease))),
            ),
            Op::End(k) => {
                cache.end_load(&k);
                model.end(k);
                (String::new(), String::new())
            }
            Op::Invalidate => {
                cache.invalidate_all();
                model.entries.clear();
                (String::new(), String::new())
            }
            Op::Purge => (
                format!("{:?}", cache.purge_expired(now)),
                format!("{:?}", model.purge(m, &config)),
            ),
        };
        prop_assert_eq!(&got, &want, "step {}: {:?} at {} ms", i, op, t * 100);
        let c = cache.metrics();
        prop_assert_eq!(
            (
                c.hits,
                c.misses,
                c.stale,
                c.negative_hits,
                c.refreshes,
                c.inserts,
                c.expirations,
                c.evictions
            ),
            (
                model.hits,
                model.misses,
                model.stale,
                model.negative,
                model.refreshes,
                model.inserts,
                model.expirations,
                0
            ),
            "step {}: metrics",
            i
        );
        prop_assert_eq!(cache.len(), model.entries.len(), "step {}: len", i);
    }
    Ok(())
}

// -------------------------------------------------------------- pressure --

/// What the property knows of a key: its latest stored value and expiry
/// (by TTL), or its latest failure's end.
#[derive(Clone, Copy, Debug)]
enum Last {
    Value {
        v: u32,
        expires: u64,
        generation: u64,
    },
    Failure {
        until: u64,
    },
}

fn under_pressure<P: EvictionPolicy>(
    config: CacheConfig,
    trace: &[(i64, Op)],
) -> Result<(), TestCaseError> {
    let mut cache: Cache<u8, u32, 4, P> = Cache::new(config, 3);
    let mut last: HashMap<u8, Last> = HashMap::new();
    let mut told: HashSet<u64> = HashSet::new();
    let mut generation = 0u64;
    let (mut t, mut latest) = (50i64, 0u64);
    let stale = config.max_stale().as_nanos() as u64;
    for (i, (step, op)) in trace.iter().enumerate() {
        t = (t + step).max(0);
        let raw = ms(t as u64);
        let now = Instant::from_nanos(raw);
        if !matches!(op, Op::Remove(_) | Op::End(_) | Op::Invalidate) {
            latest = latest.max(raw);
        }
        let answer = match *op {
            Op::Insert(k, v) => {
                cache.insert(k, v, now);
                generation += 1;
                let expires = latest.saturating_add(nanos(config.time_to_live()));
                last.insert(
                    k,
                    Last::Value {
                        v,
                        expires,
                        generation,
                    },
                );
                None
            }
            Op::InsertTtl(k, v, ttl) => {
                cache.insert_with_ttl(k, v, now, Duration::from_nanos(ms(ttl)));
                generation += 1;
                last.insert(
                    k,
                    Last::Value {
                        v,
                        expires: latest + ms(ttl),
                        generation,
                    },
                );
                None
            }
            Op::Failure(k) => {
                if cache.insert_failure(k, now) {
                    let until = latest + config.negative_ttl().unwrap().as_nanos() as u64;
                    last.insert(k, Last::Failure { until });
                }
                None
            }
            Op::Lookup(k) => Some((k, seen(cache.lookup(&k, now)))),
            Op::Get(k) => Some((
                k,
                cache
                    .get(&k, now)
                    .map_or(Seen::Missing, |v| Seen::Fresh(*v, false)),
            )),
            Op::Remove(k) => {
                cache.remove(&k);
                None
            }
            Op::Begin(k, lease) => {
                let _ = cache.begin_load(k, now, Instant::from_nanos(raw + ms(lease)));
                None
            }
            Op::End(k) => {
                cache.end_load(&k);
                None
            }
            Op::Invalidate => {
                cache.invalidate_all();
                None
            }
            Op::Purge => {
                cache.purge_expired(now);
                None
            }
        };
        prop_assert!(cache.len() <= 4, "step {}: {} entries", i, cache.len());
        let Some((k, answer)) = answer else { continue };
        let known = last.get(&k).copied();
        match (answer, known) {
            (Seen::Missing, _) => {}
            (
                Seen::Fresh(v, refresh),
                Some(Last::Value {
                    v: want,
                    expires,
                    generation,
                }),
            ) => {
                prop_assert_eq!(v, want, "step {}: a fresh value that is not the latest", i);
                prop_assert!(
                    latest < expires,
                    "step {}: served at {} past its TTL ({})",
                    i,
                    latest,
                    expires
                );
                if refresh {
                    prop_assert!(
                        told.insert(generation),
                        "step {}: refresh-ahead told twice",
                        i
                    );
                    let margin = config.refresh_ahead().unwrap().as_nanos() as u64;
                    prop_assert!(
                        latest >= expires.saturating_sub(margin),
                        "step {}: refresh told early",
                        i
                    );
                }
            }
            (
                Seen::Stale(v, age),
                Some(Last::Value {
                    v: want, expires, ..
                }),
            ) => {
                prop_assert_eq!(v, want);
                prop_assert!(
                    stale > 0 && age < stale,
                    "step {}: stale {} ns, max {} ns",
                    i,
                    age,
                    stale
                );
                // time-to-idle can expire it earlier than its TTL, never later
                prop_assert!(
                    latest - age <= expires,
                    "step {}: stale before its expiry",
                    i
                );
                if config.time_to_idle().is_none() {
                    prop_assert_eq!(latest - age, expires, "step {}: wrong age", i);
                }
            }
            (Seen::Negative(until), Some(Last::Failure { until: want })) => {
                prop_assert_eq!(until, want);
                prop_assert!(latest < until);
            }
            (answer, known) => {
                prop_assert!(
                    false,
                    "step {}: {:?} for key {} whose last store was {:?}",
                    i,
                    answer,
                    k,
                    known
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn s3fifo_matches_the_model(c in config(), t in steps(6)) {
        model_matches::<S3Fifo<8>>(c, &t)?;
    }

    #[test]
    fn sieve_matches_the_model(c in config(), t in steps(6)) {
        model_matches::<Sieve<8>>(c, &t)?;
    }

    #[test]
    fn lru_matches_the_model(c in config(), t in steps(6)) {
        model_matches::<Lru<8>>(c, &t)?;
    }

    #[test]
    fn s3fifo_under_pressure(c in config(), t in steps(24)) {
        under_pressure::<S3Fifo<4>>(c, &t)?;
    }

    #[test]
    fn sieve_under_pressure(c in config(), t in steps(24)) {
        under_pressure::<Sieve<4>>(c, &t)?;
    }

    #[test]
    fn lru_under_pressure(c in config(), t in steps(24)) {
        under_pressure::<Lru<4>>(c, &t)?;
    }
}
