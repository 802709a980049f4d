//! Cache: the core's fixed-capacity store next to `quick_cache`, `moka` and
//! `lru` in one report, and the hit ratio of its policies on two traces.
//!
//! Groups:
//!
//! - `cache/hit`: one `get` of a present key, cycling through 1000 keys
//!   (shuffled) in a cache of 1024 slots that holds them all: the core's
//!   `Cache` with S3-FIFO, SIEVE and LRU (`&mut`, `now` passed in, no TTL),
//!   `quick_cache::unsync::Cache`, `moka::sync::Cache` (a clone of the
//!   `u64` value out; TinyLFU, concurrent) and `lru::LruCache`.
//! - `cache/miss`: one `get` of a key that is not there (1000 absent keys
//!   cycled against the same full caches).
//!
//! Before criterion runs, the hit ratios (printed, not timed): each cache
//! replays a trace, inserting on every miss, with capacity 1% and 10% of
//! the key space:
//!
//! - **Zipf**: 1,000,000 requests over 100,000 keys, Zipf with exponent 1.0
//!   (seeded SplitMix64 draws, inverse CDF by binary search);
//! - **scan-polluted**: the same Zipf stream where every 20,000 requests
//!   come 10,000 keys seen once and never again (a batch job's scan).
//!
//! The core's three policies are measured beside `quick_cache` (S3-FIFO
//! variant) and `lru`; the core's `Lru` and `lru::LruCache` must agree to the
//! request (both are exact LRU), a check on the replay itself.
//!
//! See `benches/README.md` for how to run it and how to read the figures.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::time::Duration;

use criterion::Criterion;
use failsafe_core::Instant;
use failsafe_core::cache::{Cache, CacheConfig, EvictionPolicy, Lru, S3Fifo, Sieve};
use failsafe_driver::{SharedCache, StdClock, StdLock};

/// Keys the hit / miss benches cycle through.
const KEYS: u64 = 1_000;
/// Slots of the caches in the hit / miss benches.
const SLOTS: usize = 1_024;

/// The 1000 keys in a fixed shuffled order (xorshift, seeded), spread over
/// the `u64` range, plus 1000 keys never inserted.
fn keys() -> (Vec<u64>, Vec<u64>) {
    let mut present: Vec<u64> = (0..KEYS)
        .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..present.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        present.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let absent = present.iter().map(|k| k ^ 0x5555_5555).collect();
    (present, absent)
}

/// Cycles through keys.
struct Cycle {
    keys: Vec<u64>,
    at: usize,
}

impl Cycle {
    #[inline(always)]
    fn next(&mut self) -> u64 {
        self.at += 1;
        if self.at == self.keys.len() {
            self.at = 0;
        }
        self.keys[self.at]
    }
}

fn core_cache<P: EvictionPolicy>(present: &[u64]) -> Box<Cache<u64, u64, SLOTS, P>> {
    let mut c = Box::new(Cache::new(CacheConfig::DEFAULT, 0x5eed));
    for &k in present {
        c.insert(k, k, Instant::ZERO);
    }
    c
}

fn bench_core<P: EvictionPolicy>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    keys: &[u64],
    present: &[u64],
    hit: bool,
) {
    let mut c = core_cache::<P>(present);
    let mut cycle = Cycle {
        keys: keys.to_vec(),
        at: 0,
    };
    g.bench_function(name, |b| {
        b.iter(|| c.get(black_box(&cycle.next()), Instant::ZERO).is_some())
    });
    let found = keys
        .iter()
        .filter(|k| c.get(k, Instant::ZERO).is_some())
        .count();
    assert_eq!(found, if hit { keys.len() } else { 0 }, "{name}");
}

fn lookups(c: &mut Criterion, hit: bool) {
    let (present, absent) = keys();
    let keys = if hit { &present } else { &absent };
    let mut g = c.benchmark_group(if hit { "cache/hit" } else { "cache/miss" });

    bench_core::<S3Fifo<SLOTS>>(
        &mut g,
        "failsafe-core Cache S3Fifo get",
        keys,
        &present,
        hit,
    );
    bench_core::<Sieve<SLOTS>>(&mut g, "failsafe-core Cache Sieve get", keys, &present, hit);
    bench_core::<Lru<SLOTS>>(&mut g, "failsafe-core Cache Lru get", keys, &present, hit);

    let mut qc = quick_cache::unsync::Cache::new(SLOTS);
    for &k in &present {
        qc.insert(k, k);
    }
    let mut cycle = Cycle {
        keys: keys.clone(),
        at: 0,
    };
    g.bench_function("quick_cache 0.6 unsync get", |b| {
        b.iter(|| qc.get(black_box(&cycle.next())).is_some())
    });
    assert_eq!(
        keys.iter().filter(|k| qc.get(*k).is_some()).count(),
        if hit { keys.len() } else { 0 }
    );

    let moka = moka::sync::Cache::new(SLOTS as u64);
    for &k in &present {
        moka.insert(k, k);
    }
    moka.run_pending_tasks();
    let mut cycle = Cycle {
        keys: keys.clone(),
        at: 0,
    };
    g.bench_function("moka 0.12 sync get", |b| {
        b.iter(|| moka.get(black_box(&cycle.next())).is_some())
    });
    assert_eq!(
        keys.iter().filter(|k| moka.get(*k).is_some()).count(),
        if hit { keys.len() } else { 0 }
    );

    if hit {
        // The shared handles a service calls: ours over a std mutex with the
        // std clock (a hit: the loader never runs), and quick_cache's
        // thread-safe cache.
        let config = CacheConfig::builder()
            .time_to_live(Duration::from_secs(3_600))
            .build()
            .unwrap();
        let store: Cache<u64, u64, SLOTS, S3Fifo<SLOTS>> = Cache::new(config, 7);
        let shared = SharedCache::new(StdLock::new(store), StdClock);
        for &k in &present {
            let loaded = shared.get_or_load_blocking(k, || Ok::<_, ()>(k));
            assert!(loaded.is_ok());
        }
        let mut cycle = Cycle {
            keys: keys.clone(),
            at: 0,
        };
        g.bench_function(
            "failsafe-driver SharedCache (S3Fifo, StdLock, StdClock) get_or_load_blocking",
            |b| {
                b.iter(|| {
                    let k = black_box(cycle.next());
                    shared
                        .get_or_load_blocking(k, || Err::<u64, ()>(()))
                        .is_ok()
                })
            },
        );
        let qs = quick_cache::sync::Cache::new(SLOTS);
        for &k in &present {
            qs.insert(k, k);
        }
        let mut cycle = Cycle {
            keys: keys.clone(),
            at: 0,
        };
        g.bench_function("quick_cache 0.6 sync get", |b| {
            b.iter(|| qs.get(black_box(&cycle.next())).is_some())
        });
    }

    let mut lru = lru::LruCache::new(NonZeroUsize::new(SLOTS).unwrap());
    for &k in &present {
        lru.put(k, k);
    }
    let mut cycle = Cycle {
        keys: keys.clone(),
        at: 0,
    };
    g.bench_function("lru 0.16 get", |b| {
        b.iter(|| lru.get(black_box(&cycle.next())).is_some())
    });
    assert_eq!(
        keys.iter().filter(|k| lru.get(*k).is_some()).count(),
        if hit { keys.len() } else { 0 }
    );
    g.finish();
}

// ------------------------------------------------------------ hit ratio --

/// SplitMix64: the trace's one source of randomness, seeded.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A deterministic trace: `requests` Zipf(1.0) draws over `keys` keys
/// (key 0 the most popular, keys scattered by a multiply so hashing sees no
/// order), and, if `scan` is `Some((every, len))`, `len` keys seen once after
/// every `every` requests.
fn trace(seed: u64, keys: usize, requests: usize, scan: Option<(usize, usize)>) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(keys);
    let mut sum = 0.0;
    for rank in 1..=keys {
        sum += 1.0 / rank as f64;
        cdf.push(sum);
    }
    let mut rng = SplitMix(seed);
    let mut out = Vec::with_capacity(requests * 2);
    let mut one_off = 1u64 << 40;
    for i in 0..requests {
        let u = rng.unit() * sum;
        let rank = cdf.partition_point(|&c| c < u).min(keys - 1);
        out.push((rank as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        if let Some((every, len)) = scan
            && (i + 1) % every == 0
        {
            for _ in 0..len {
                one_off += 1;
                out.push(one_off);
            }
        }
    }
    out
}

/// Hits / requests, inserting on every miss.
fn ratio_core<const N: usize, P: EvictionPolicy>(trace: &[u64]) -> f64 {
    let mut c: Box<Cache<u64, (), N, P>> = Box::new(Cache::new(CacheConfig::DEFAULT, 0x5eed));
    let mut hits = 0usize;
    for &k in trace {
        if c.get(&k, Instant::ZERO).is_some() {
            hits += 1;
        } else {
            c.insert(k, (), Instant::ZERO);
        }
    }
    hits as f64 / trace.len() as f64
}

fn ratio_quick_cache(trace: &[u64], n: usize) -> f64 {
    let mut c = quick_cache::unsync::Cache::new(n);
    let mut hits = 0usize;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.insert(k, ());
        }
    }
    hits as f64 / trace.len() as f64
}

fn ratio_lru(trace: &[u64], n: usize) -> f64 {
    let mut c = lru::LruCache::new(NonZeroUsize::new(n).unwrap());
    let mut hits = 0usize;
    for &k in trace {
        if c.get(&k).is_some() {
            hits += 1;
        } else {
            c.put(k, ());
        }
    }
    hits as f64 / trace.len() as f64
}

fn ratios<const N: usize>(name: &str, trace: &[u64]) {
    let s3 = ratio_core::<N, S3Fifo<N>>(trace);
    let sieve = ratio_core::<N, Sieve<N>>(trace);
    let lru = ratio_core::<N, Lru<N>>(trace);
    let qc = ratio_quick_cache(trace, N);
    let peer_lru = ratio_lru(trace, N);
    assert!(
        (lru - peer_lru).abs() < 1e-12,
        "two exact LRUs disagree: {lru} vs {peer_lru}"
    );
    println!(
        "cache/hit ratio  {name:<26} {N:>6} slots: S3Fifo {:>6.2}%  Sieve {:>6.2}%  Lru {:>6.2}%  | quick_cache 0.6 {:>6.2}%  lru 0.16 {:>6.2}%  | S3Fifo/Lru {:.3}  Sieve/Lru {:.3}",
        s3 * 100.0,
        sieve * 100.0,
        lru * 100.0,
        qc * 100.0,
        peer_lru * 100.0,
        s3 / lru,
        sieve / lru,
    );
}

fn hit_ratios(smoke: bool) {
    let (keys, requests) = if smoke {
        (10_000, 20_000)
    } else {
        (100_000, 1_000_000)
    };
    let zipf = trace(42, keys, requests, None);
    let scan = trace(
        42,
        keys,
        requests,
        Some((20_000.min(requests / 2), keys / 10)),
    );
    ratios::<1_000>("Zipf 1.0", &zipf);
    ratios::<10_000>("Zipf 1.0", &zipf);
    ratios::<1_000>("Zipf 1.0 + scans", &scan);
    ratios::<10_000>("Zipf 1.0 + scans", &scan);
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` (the CI smoke
    // run, unoptimised) does not: then the traces are small.
    let smoke = !std::env::args().any(|a| a == "--bench");
    hit_ratios(smoke);
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args();
    lookups(&mut c, true);
    lookups(&mut c, false);
    c.final_summary();
}
