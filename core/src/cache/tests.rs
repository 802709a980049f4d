//! Timelines in virtual time.

use core::time::Duration;

use super::*;
use crate::FnObserver;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn config() -> CacheConfig {
    CacheConfig::builder()
        .time_to_live(Duration::from_secs(10))
        .max_stale(Duration::from_secs(5))
        .refresh_ahead(Duration::from_secs(2))
        .negative_ttl(Duration::from_secs(1))
        .build()
        .unwrap()
}

#[test]
fn ttl_boundaries_fresh_stale_gone() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    c.insert(1, 10, at(0));
    // t=9.999s fresh, t=10s stale (age 0), t=14.999s stale, t=15s gone
    assert_eq!(c.get(&1, at(9_999)), Some(&10));
    assert_eq!(c.get(&1, at(10_000)), None);
    assert_eq!(
        c.lookup(&1, at(10_000)),
        Lookup::Stale {
            value: &10,
            age: Duration::ZERO
        }
    );
    assert_eq!(
        c.lookup(&1, at(14_999)),
        Lookup::Stale {
            value: &10,
            age: Duration::from_millis(4_999)
        }
    );
    assert_eq!(c.lookup(&1, at(15_000)), Lookup::Missing);
    assert!(c.is_empty());
    let m = c.metrics();
    assert_eq!((m.hits, m.stale, m.misses, m.expirations), (1, 3, 1, 1));
}

#[test]
fn time_to_idle_restarts_on_hits_only() {
    let config = CacheConfig::builder()
        .time_to_idle(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut c: Cache<u32, u32, 8> = Cache::new(config, 1);
    c.insert(1, 10, at(0));
    assert!(c.get(&1, at(1_999)).is_some()); // idle restarts at 1.999s
    assert!(c.get(&1, at(3_998)).is_some());
    assert!(c.get(&1, at(5_998)).is_none()); // 2 s idle
}

#[test]
fn per_entry_ttl_overrides_the_cache_ttl() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    c.insert_with_ttl(1, 10, at(0), Duration::from_secs(1));
    c.insert_with_ttl(2, 20, at(0), Duration::MAX);
    assert!(c.get(&1, at(999)).is_some());
    assert!(c.get(&1, at(1_000)).is_none());
    assert!(c.get(&2, Instant::from_secs(1_000_000)).is_some());
}

#[test]
fn refresh_ahead_told_once_per_value() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    c.insert(1, 10, at(0));
    assert_eq!(
        c.lookup(&1, at(7_999)),
        Lookup::Fresh {
            value: &10,
            refresh: false
        }
    );
    assert!(c.get(&1, at(8_000)).is_some()); // get never takes the turn
    assert_eq!(
        c.lookup(&1, at(8_000)),
        Lookup::Fresh {
            value: &10,
            refresh: true
        }
    );
    assert_eq!(
        c.lookup(&1, at(8_001)),
        Lookup::Fresh {
            value: &10,
            refresh: false
        }
    );
    // the refresh lands: a new value, a new turn at 16 s
    c.insert(1, 11, at(8_500));
    assert_eq!(
        c.lookup(&1, at(16_499)),
        Lookup::Fresh {
            value: &11,
            refresh: false
        }
    );
    assert_eq!(
        c.lookup(&1, at(16_500)),
        Lookup::Fresh {
            value: &11,
            refresh: true
        }
    );
    assert_eq!(c.metrics().refreshes, 2);
}

#[test]
fn refresh_ahead_not_told_while_a_load_is_marked() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    c.insert(1, 10, at(0));
    assert_eq!(c.begin_load(1, at(7_000), at(9_000)), LoadMark::Leader);
    assert_eq!(
        c.lookup(&1, at(8_500)),
        Lookup::Fresh {
            value: &10,
            refresh: false
        }
    );
    // the mark lapsed at 9 s: the next hit is told
    assert_eq!(
        c.lookup(&1, at(9_000)),
        Lookup::Fresh {
            value: &10,
            refresh: true
        }
    );
}

#[test]
fn negative_caching_never_hides_a_value() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    assert!(c.insert_failure(1, at(0)));
    assert_eq!(c.lookup(&1, at(999)), Lookup::Negative { until: at(1_000) });
    assert_eq!(c.get(&1, at(999)), None);
    assert_eq!(c.lookup(&1, at(1_000)), Lookup::Missing);
    c.insert(2, 20, at(0));
    assert!(!c.insert_failure(2, at(12_000))); // stale: kept
    assert_eq!(c.lookup(&2, at(12_000)).on_error(), Some(&20));
    let m = c.metrics();
    assert_eq!(m.negative_hits, 2);
}

#[test]
fn negative_caching_off_records_nothing() {
    let mut c: Cache<u32, u32, 8> = Cache::new(CacheConfig::DEFAULT, 1);
    assert_eq!(c.begin_load(1, at(0), at(100)), LoadMark::Leader);
    assert!(!c.insert_failure(1, at(0)));
    assert!(c.is_empty()); // the mark's placeholder went with it
    assert_eq!(c.lookup(&1, at(0)), Lookup::Missing);
}

#[test]
fn load_marks_coalesce_and_expire() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    assert_eq!(c.begin_load(1, at(0), at(500)), LoadMark::Leader);
    assert_eq!(c.lookup(&1, at(1)), Lookup::Missing); // a mark is no value
    assert_eq!(
        c.begin_load(1, at(100), at(900)),
        LoadMark::Follower { until: at(500) }
    );
    // the leader was lost: at 500 ms the mark is void
    assert_eq!(c.begin_load(1, at(500), at(900)), LoadMark::Leader);
    c.insert(1, 10, at(600));
    assert_eq!(c.begin_load(1, at(700), at(900)), LoadMark::Leader); // the insert ended the mark
    c.end_load(&1);
    assert_eq!(c.get(&1, at(700)), Some(&10));
    assert_eq!(c.metrics().misses, 1);
}

#[test]
fn capacity_never_exceeded_and_eviction_reported() {
    let mut evicted = 0u32;
    {
        let mut c: Cache<u32, u32, 4, Sieve<4>, _> = Cache::new(CacheConfig::DEFAULT, 9)
            .with_observer(FnObserver(|e: CacheEvent<'_, u32, u32>| {
                if let CacheEvent::Removed {
                    cause: RemovalCause::Evicted,
                    ..
                } = e
                {
                    evicted += 1;
                }
            }));
        for k in 0..100 {
            c.insert(k, k, at(0));
            assert!(c.len() <= 4);
        }
        assert_eq!(c.metrics().evictions, 96);
    }
    assert_eq!(evicted, 96);
}

#[test]
fn eviction_prefers_dead_entries() {
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut c: Cache<u32, u32, 4> = Cache::new(config, 3);
    c.insert(1, 1, at(0));
    for k in 2..=4 {
        c.insert_with_ttl(k, k, at(0), Duration::MAX);
        assert!(c.get(&k, at(0)).is_some());
        assert!(c.get(&k, at(0)).is_some());
    }
    c.insert(5, 5, at(2_000)); // key 1 is dead
    let m = c.metrics();
    assert_eq!((m.evictions, m.expirations), (0, 1));
    for k in 2..=5 {
        assert!(c.get(&k, at(2_000)).is_some());
    }
}

#[test]
fn clock_stepping_back_is_no_time() {
    let mut c: Cache<u32, u32, 8> = Cache::new(config(), 1);
    c.insert(1, 10, at(20_000)); // expires at 30 s
    c.insert(2, 20, at(0)); // stepped back: inserted "at 20 s", expires at 30 s too
    assert_eq!(c.get(&2, at(25_000)), Some(&20));
    assert_eq!(c.get(&2, at(0)), Some(&20));
}

#[test]
fn remove_invalidate_and_reuse_slots() {
    let mut c: Cache<u32, u32, 3, Lru<3>> = Cache::new(CacheConfig::DEFAULT, 5);
    for round in 0..5 {
        for k in 0..3 {
            assert_eq!(c.insert(k, k + round, at(0)), None);
        }
        assert_eq!(c.remove(&1), Some(1 + round));
        assert_eq!(c.get(&1, at(0)), None);
        assert_eq!(c.get(&2, at(0)), Some(&(2 + round)));
        c.invalidate_all();
        assert!(c.is_empty());
    }
}

#[test]
fn s3fifo_resists_a_scan() {
    let mut c: Cache<u32, u32, 20> = Cache::new(CacheConfig::DEFAULT, 11);
    for k in 0..10 {
        c.insert(k, k, at(0));
        assert!(c.get(&k, at(0)).is_some());
    }
    for k in 1_000..1_200 {
        c.insert(k, k, at(0));
    }
    for k in 0..10 {
        assert_eq!(c.get(&k, at(0)), Some(&k), "hot key {k} survived the scan");
    }
    // the same with LRU loses every hot key
    let mut l: Cache<u32, u32, 20, Lru<20>> = Cache::new(CacheConfig::DEFAULT, 11);
    for k in 0..10 {
        l.insert(k, k, at(0));
    }
    for k in 1_000..1_200 {
        l.insert(k, k, at(0));
    }
    assert!((0..10).all(|k| l.get(&k, at(0)).is_none()));
}

#[test]
fn config_errors_name_the_field() {
    let zero = Duration::ZERO;
    let s = Duration::from_secs(1);
    let cases = [
        (
            CacheConfig::builder().time_to_live(zero).build(),
            "time_to_live",
        ),
        (
            CacheConfig::builder().time_to_idle(zero).build(),
            "time_to_idle",
        ),
        (
            CacheConfig::builder().negative_ttl(zero).build(),
            "negative_ttl",
        ),
        (
            CacheConfig::builder().refresh_ahead(s).build(),
            "refresh_ahead",
        ),
        (
            CacheConfig::builder()
                .time_to_live(s)
                .refresh_ahead(s)
                .build(),
            "refresh_ahead",
        ),
    ];
    for (result, field) in cases {
        assert_eq!(result.unwrap_err().field, field);
    }
}

#[test]
fn a_dead_entry_under_a_live_mark_keeps_the_mark() {
    // ttl 10 s, stale for 5 s: dead at t=15s.
    let mut c: Cache<u8, u8, 4> = Cache::new(config(), 1);
    c.insert(1, 10, at(0));
    // at t=12s (stale) a leader takes the mark until t=42s
    assert_eq!(c.begin_load(1, at(12_000), at(42_000)), LoadMark::Leader);
    // at t=20s the value is dead: Missing, but the entry and its mark stay
    assert_eq!(c.lookup(&1, at(20_000)), Lookup::Missing);
    assert_eq!(
        c.begin_load(1, at(20_000), at(50_000)),
        LoadMark::Follower { until: at(42_000) },
        "a second caller follows the leader, not leads beside it"
    );
    // the leader's result replaces it
    c.insert(1, 11, at(21_000));
    assert_eq!(
        c.lookup(&1, at(21_000)),
        Lookup::Fresh {
            value: &11,
            refresh: false
        }
    );
}
