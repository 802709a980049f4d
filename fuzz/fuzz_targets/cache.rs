//! Fuzzes the cache: an arbitrary `CacheConfig` (any time-to-live,
//! time-to-idle, stale window, refresh margin and negative TTL, invalid ones
//! included) and a timeline of inserts (with the cache's or an entry's own
//! TTL), recorded failures, lookups, gets, removals, load marks (any lease),
//! purges and invalidations over 8 keys, with `now` free to stall, step
//! back, jump or sit near `u64::MAX`, fed to an S3-FIFO, a SIEVE and an LRU
//! cache of 16 slots (never full) and of 4 slots (always under pressure).
//!
//! Besides "never panics, never overflows" (cargo-fuzz builds with debug
//! assertions and overflow checks), every step checks:
//!
//! - an invalid configuration is an `Err` naming the first bad field in the
//!   builder's order, a valid one reads back as set;
//! - 16 slots: every answer, the length and every metric equal a simple
//!   model (a `BTreeMap` and the documented rules), for all three policies;
//! - 4 slots: never more than 4 entries; a fresh value is the key's latest
//!   stored value and strictly before its expiry by TTL; a stale one only
//!   with a stale window, within it; a negative answer only within
//!   `negative_ttl` of the recorded failure; refresh-ahead told at most once
//!   per stored value; hits + misses + stale + negative hits = lookups;
//! - the clock contract: a twin fed `max(now, latest)` answers exactly the
//!   same (values, metrics).
#![no_main]

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use failsafe_core::cache::{
    Cache, CacheConfig, EvictionPolicy, LoadMark, Lookup, Lru, S3Fifo, Sieve,
};
use failsafe_core::{ConfigError, Instant};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Zero,
    Millis(u16),
    Secs(u16),
    Raw(u64),
    Max,
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Zero => Duration::ZERO,
            Dur::Millis(ms) => Duration::from_millis(ms.into()),
            Dur::Secs(s) => Duration::from_secs(s.into()),
            Dur::Raw(n) => Duration::from_nanos(n),
            Dur::Max => Duration::MAX,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Arbitrary, Debug)]
struct Settings {
    ttl: Option<Dur>,
    tti: Option<Dur>,
    max_stale: Dur,
    refresh: Option<Dur>,
    negative: Option<Dur>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    Forward(u16),
    ForwardSecs(u16),
    Back(u16),
    NearMax(u16),
    Raw(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Insert(u8, u32),
    InsertTtl(u8, u32, Dur),
    Failure(u8),
    Lookup(u8),
    Get(u8),
    Remove(u8),
    Begin(u8, Dur),
    End(u8),
    Invalidate,
    Purge,
}

#[derive(Arbitrary, Debug)]
struct Input {
    settings: Settings,
    seed: u64,
    steps: Vec<(Time, Op)>,
}

fn build(s: &Settings) -> Result<CacheConfig, ConfigError> {
    let mut b = CacheConfig::builder().max_stale(s.max_stale.get());
    if let Some(d) = s.ttl {
        b = b.time_to_live(d.get());
    }
    if let Some(d) = s.tti {
        b = b.time_to_idle(d.get());
    }
    if let Some(d) = s.refresh {
        b = b.refresh_ahead(d.get());
    }
    if let Some(d) = s.negative {
        b = b.negative_ttl(d.get());
    }
    b.build()
}

/// The builder's rules, restated: the first bad field, in order.
fn first_bad(s: &Settings) -> Option<&'static str> {
    let zero = |d: Option<Dur>| d.is_some_and(|d| d.get().is_zero());
    if zero(s.ttl) {
        return Some("time_to_live");
    }
    if zero(s.tti) {
        return Some("time_to_idle");
    }
    if zero(s.negative) {
        return Some("negative_ttl");
    }
    if let Some(r) = s.refresh {
        let ttl = s.ttl.map(|d| nanos(d.get()));
        if r.get().is_zero() || ttl.is_none_or(|ttl| nanos(r.get()) >= ttl) {
            return Some("refresh_ahead");
        }
    }
    None
}

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
        Lookup::Stale { value, age } => Seen::Stale(*value, nanos(age)),
        Lookup::Negative { until } => Seen::Negative(until.as_nanos()),
        Lookup::Missing => Seen::Missing,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Lookup(Seen),
    Value(Option<u32>),
    Flag(bool),
    Mark(LoadMark),
    Count(usize),
    Nothing,
}

// ------------------------------------------------------------ the model --

#[derive(Clone, Copy, Debug)]
enum Held {
    Value(u32),
    Failure,
    Pending,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    held: Held,
    expires: u64,
    touched: u64,
    loading: u64,
    told: bool,
}

#[derive(Debug, Default)]
struct Model {
    entries: BTreeMap<u8, Entry>,
    counts: [u64; 7], // hits, misses, stale, negative, refreshes, inserts, expirations
}

fn opt(d: Option<Duration>) -> u64 {
    d.map_or(u64::MAX, nanos)
}

impl Model {
    fn state(e: &Entry, now: u64, c: &CacheConfig) -> Option<Seen> {
        match e.held {
            Held::Value(v) => {
                let expiry = e
                    .expires
                    .min(e.touched.saturating_add(opt(c.time_to_idle())));
                if now < expiry {
                    Some(Seen::Fresh(v, false))
                } else if now - expiry < nanos(c.max_stale()) {
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
            self.counts[1] += 1;
            return Seen::Missing;
        };
        match Self::state(e, now, c) {
            Some(Seen::Fresh(v, _)) => {
                self.counts[0] += 1;
                e.touched = now;
                let margin = c.refresh_ahead().map_or(0, nanos);
                let refresh = tell
                    && margin > 0
                    && !e.told
                    && e.expires != u64::MAX
                    && now >= e.expires.saturating_sub(margin)
                    && e.loading <= now;
                if refresh {
                    e.told = true;
                    self.counts[4] += 1;
                }
                Seen::Fresh(v, refresh)
            }
            Some(s @ Seen::Stale(..)) => {
                self.counts[2] += 1;
                s
            }
            Some(s @ Seen::Negative(_)) => {
                self.counts[3] += 1;
                s
            }
            Some(Seen::Missing) => {
                self.counts[1] += 1;
                Seen::Missing
            }
            // A dead entry under a live load mark stays (the leader's).
            None if e.loading > now => {
                self.counts[1] += 1;
                Seen::Missing
            }
            None => {
                if !matches!(e.held, Held::Pending) {
                    self.counts[6] += 1;
                }
                self.entries.remove(&k);
                self.counts[1] += 1;
                Seen::Missing
            }
        }
    }

    fn store(&mut self, k: u8, held: Held, ttl: u64, now: u64) -> Option<u32> {
        self.counts[5] += 1;
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

    fn apply(&mut self, now: u64, raw: u64, op: Op, c: &CacheConfig) -> Answer {
        match op {
            Op::Insert(k, v) => {
                Answer::Value(self.store(k % 8, Held::Value(v), opt(c.time_to_live()), now))
            }
            Op::InsertTtl(k, v, d) => {
                Answer::Value(self.store(k % 8, Held::Value(v), nanos(d.get()), now))
            }
            Op::Failure(k) => {
                let k = k % 8;
                if let Some(e) = self.entries.get_mut(&k)
                    && matches!(e.held, Held::Value(_))
                    && Self::state(e, now, c).is_some()
                {
                    e.loading = 0;
                    return Answer::Flag(false);
                }
                match c.negative_ttl() {
                    None => {
                        self.end(k);
                        Answer::Flag(false)
                    }
                    Some(t) => {
                        self.store(k, Held::Failure, nanos(t), now);
                        Answer::Flag(true)
                    }
                }
            }
            Op::Lookup(k) => Answer::Lookup(self.lookup(k % 8, now, c, true)),
            Op::Get(k) => Answer::Value(match self.lookup(k % 8, now, c, false) {
                Seen::Fresh(v, _) => Some(v),
                _ => None,
            }),
            Op::Remove(k) => Answer::Value(match self.entries.remove(&(k % 8)) {
                Some(Entry {
                    held: Held::Value(v),
                    ..
                }) => Some(v),
                _ => None,
            }),
            Op::Begin(k, d) => {
                let until = raw.saturating_add(nanos(d.get()));
                Answer::Mark(match self.entries.get_mut(&(k % 8)) {
                    Some(e) if e.loading > now => LoadMark::Follower {
                        until: Instant::from_nanos(e.loading),
                    },
                    Some(e) => {
                        e.loading = until;
                        LoadMark::Leader
                    }
                    None => {
                        let e = Entry {
                            held: Held::Pending,
                            expires: 0,
                            touched: now,
                            loading: until,
                            told: false,
                        };
                        self.entries.insert(k % 8, e);
                        LoadMark::Leader
                    }
                })
            }
            Op::End(k) => {
                self.end(k % 8);
                Answer::Nothing
            }
            Op::Invalidate => {
                self.entries.clear();
                Answer::Nothing
            }
            Op::Purge => {
                let dead: Vec<u8> = self
                    .entries
                    .iter()
                    .filter(|(_, e)| Self::state(e, now, c).is_none())
                    .map(|(k, _)| *k)
                    .collect();
                let mut n = 0;
                for k in dead {
                    if let Some(e) = self.entries.remove(&k)
                        && !matches!(e.held, Held::Pending)
                    {
                        n += 1;
                        self.counts[6] += 1;
                    }
                }
                Answer::Count(n)
            }
        }
    }
}

/// `raw` is the caller's own reading of the clock: a load mark's end (the
/// loader's deadline) is counted from it, whatever the cache makes of `now`.
fn apply<const N: usize, P: EvictionPolicy>(
    c: &mut Cache<u8, u32, N, P>,
    now: u64,
    raw: u64,
    op: Op,
) -> Answer {
    let t = Instant::from_nanos(now);
    match op {
        Op::Insert(k, v) => Answer::Value(c.insert(k % 8, v, t)),
        Op::InsertTtl(k, v, d) => Answer::Value(c.insert_with_ttl(k % 8, v, t, d.get())),
        Op::Failure(k) => Answer::Flag(c.insert_failure(k % 8, t)),
        Op::Lookup(k) => Answer::Lookup(seen(c.lookup(&(k % 8), t))),
        Op::Get(k) => Answer::Value(c.get(&(k % 8), t).copied()),
        Op::Remove(k) => Answer::Value(c.remove(&(k % 8))),
        Op::Begin(k, d) => Answer::Mark(c.begin_load(k % 8, t, Instant::from_nanos(raw) + d.get())),
        Op::End(k) => {
            c.end_load(&(k % 8));
            Answer::Nothing
        }
        Op::Invalidate => {
            c.invalidate_all();
            Answer::Nothing
        }
        Op::Purge => Answer::Count(c.purge_expired(t)),
    }
}

fn takes_time(op: Op) -> bool {
    !matches!(op, Op::Remove(_) | Op::End(_) | Op::Invalidate)
}

fn next_time(t: u64, time: Time) -> u64 {
    match time {
        Time::Same => t,
        Time::Forward(ms) => t.saturating_add(u64::from(ms) * 1_000_000),
        Time::ForwardSecs(s) => t.saturating_add(u64::from(s) * 1_000_000_000),
        Time::Back(ms) => t.saturating_sub(u64::from(ms) * 1_000_000),
        Time::NearMax(n) => u64::MAX - u64::from(n),
        Time::Raw(n) => n,
    }
}

/// 16 slots, 8 keys: the model, and a clamped twin.
fn exact<P: EvictionPolicy>(config: CacheConfig, seed: u64, steps: &[(Time, Op)]) {
    let mut cache: Box<Cache<u8, u32, 16, P>> = Box::new(Cache::new(config, seed));
    let mut twin: Box<Cache<u8, u32, 16, P>> = Box::new(Cache::new(config, seed));
    let mut model = Model::default();
    let (mut t, mut latest) = (0u64, 0u64);
    for (i, &(time, op)) in steps.iter().enumerate() {
        t = next_time(t, time);
        if takes_time(op) {
            latest = latest.max(t);
        }
        let got = apply(&mut cache, t, t, op);
        assert_eq!(
            got,
            apply(&mut twin, latest.max(t), t, op),
            "step {i}: the clamped twin differs"
        );
        assert_eq!(
            got,
            model.apply(latest, t, op, &config),
            "step {i}: {op:?} at {t}"
        );
        let m = cache.metrics();
        assert_eq!(
            [
                m.hits,
                m.misses,
                m.stale,
                m.negative_hits,
                m.refreshes,
                m.inserts,
                m.expirations
            ],
            model.counts,
            "step {i}: metrics"
        );
        assert_eq!(m.evictions, 0);
        assert_eq!(cache.len(), model.entries.len(), "step {i}: len");
        assert_eq!(cache.metrics(), twin.metrics());
    }
}

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

/// 4 slots, 8 keys: the safety properties.
fn pressure<P: EvictionPolicy>(config: CacheConfig, seed: u64, steps: &[(Time, Op)]) {
    let mut cache: Cache<u8, u32, 4, P> = Cache::new(config, seed);
    let mut last: BTreeMap<u8, Last> = BTreeMap::new();
    let mut told = BTreeSet::new();
    let (mut t, mut latest, mut generation, mut lookups) = (0u64, 0u64, 0u64, 0u64);
    for (i, &(time, op)) in steps.iter().enumerate() {
        t = next_time(t, time);
        if takes_time(op) {
            latest = latest.max(t);
        }
        let answer = apply(&mut cache, t, t, op);
        assert!(cache.len() <= 4, "step {i}: {} entries", cache.len());
        let k = match op {
            Op::Insert(k, v) | Op::InsertTtl(k, v, _) => {
                let ttl = match op {
                    Op::InsertTtl(_, _, d) => nanos(d.get()),
                    _ => opt(config.time_to_live()),
                };
                generation += 1;
                last.insert(
                    k % 8,
                    Last::Value {
                        v,
                        expires: latest.saturating_add(ttl),
                        generation,
                    },
                );
                continue;
            }
            Op::Failure(k) => {
                if answer == Answer::Flag(true) {
                    let until = latest.saturating_add(opt(config.negative_ttl()));
                    last.insert(k % 8, Last::Failure { until });
                }
                continue;
            }
            Op::Lookup(k) | Op::Get(k) => {
                lookups += 1;
                k % 8
            }
            _ => continue,
        };
        let seen = match answer {
            Answer::Lookup(s) => s,
            Answer::Value(Some(v)) => Seen::Fresh(v, false),
            _ => Seen::Missing,
        };
        match (seen, last.get(&k).copied()) {
            (Seen::Missing, _) => {}
            (
                Seen::Fresh(v, refresh),
                Some(Last::Value {
                    v: want,
                    expires,
                    generation,
                }),
            ) => {
                assert_eq!(v, want, "step {i}: not the latest value");
                assert!(
                    latest < expires,
                    "step {i}: fresh at {latest}, past its TTL at {expires}"
                );
                if refresh {
                    assert!(
                        told.insert(generation),
                        "step {i}: refresh-ahead told twice"
                    );
                }
            }
            (
                Seen::Stale(v, age),
                Some(Last::Value {
                    v: want, expires, ..
                }),
            ) => {
                assert_eq!(v, want);
                assert!(age < nanos(config.max_stale()), "step {i}: stale {age} ns");
                assert!(latest - age <= expires, "step {i}: stale before its expiry");
            }
            (Seen::Negative(until), Some(Last::Failure { until: want })) => {
                assert_eq!(until, want);
                assert!(latest < until);
            }
            (seen, known) => panic!("step {i}: {seen:?} for key {k}, last stored {known:?}"),
        }
        let m = cache.metrics();
        assert_eq!(m.hits + m.misses + m.stale + m.negative_hits, lookups);
    }
}

fuzz_target!(|input: Input| {
    let config = build(&input.settings);
    match (config, first_bad(&input.settings)) {
        (Err(e), Some(field)) => {
            assert_eq!(e.field, field);
            return;
        }
        (Ok(c), None) => {
            let s = &input.settings;
            if let Some(d) = s.ttl.filter(|d| nanos(d.get()) < u64::MAX) {
                assert_eq!(c.time_to_live(), Some(d.get()));
            }
            assert_eq!(
                c.max_stale(),
                Duration::from_nanos(nanos(s.max_stale.get()))
            );
        }
        (got, want) => panic!("config {got:?}, expected error on {want:?}"),
    }
    let config = config.unwrap();
    let steps = &input.steps[..input.steps.len().min(200)];
    exact::<S3Fifo<16>>(config, input.seed, steps);
    exact::<Sieve<16>>(config, input.seed, steps);
    exact::<Lru<16>>(config, input.seed, steps);
    pressure::<S3Fifo<4>>(config, input.seed, steps);
    pressure::<Sieve<4>>(config, input.seed, steps);
    pressure::<Lru<4>>(config, input.seed, steps);
});
