//! The tower cache layer next to tower-resilience's cache and coalesce
//! layers, in one run (failsafe issue 10): one request (`ready().await` +
//! `call(n).await`) around a `service_fn` that answers at once, on one
//! current-thread tokio runtime (the shared tower harness, as
//! `benches/tower.rs` and `benches/hedge.rs` use it).
//!
//! Group `cache_layer/hit`: every request asks for the one key already
//! cached (time-to-live 1 h):
//!
//! - `failsafe-tower CacheLayer`: `CacheLayer::new(SharedCache::new(StdLock<Cache<u32, u32, 1024>>,
//!   TokioClock), |n| Some(*n))`, S3-FIFO, answers `Cached::Fresh`;
//! - `tower-resilience 0.13 CacheLayer`: `CacheLayer::builder().max_size(1024).ttl(1 h)`,
//!   its default LRU eviction.
//!
//! Group `cache_layer/miss`: every request asks for a new key (a counter),
//! so each one loads through the inner service and stores the answer, and
//! once the cache holds 1024 entries, each store evicts one:
//!
//! - `bare service_fn`: the inner service with the same requests;
//! - `failsafe-tower CacheLayer`: the same layer as above (lookup, load
//!   mark, the inner call, insert, eviction; one boxed future);
//! - `failsafe-tower CacheLayer, uncacheable (pass-through)`: a key
//!   function that answers `None`: the inner call through the layer;
//! - `tower-resilience 0.13 CacheLayer`: as above (a miss, the inner call,
//!   insert, eviction; no coalescing);
//! - `tower-resilience 0.13 CoalesceLayer`: `CoalesceLayer::new(|n| *n)`,
//!   no cache: each request leads its key's flight alone (the coalescing
//!   our miss also does, without the cache).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::cache::{Cache, CacheConfig};
use failsafe_driver::{Cached, SharedCache, StdLock};
use failsafe_tokio::TokioClock;
use failsafe_tower::CacheLayer;
use tower::{Layer, Service, ServiceExt};
use tower_resilience::cache::CacheLayer as TrCacheLayer;
use tower_resilience::coalesce::CoalesceLayer as TrCoalesceLayer;

#[path = "common/tower_harness.rs"]
#[allow(
    dead_code,
    reason = "the retry policy `Attempts` is for the retry benches"
)]
mod harness;
use harness::{inner, one_request, requests};

type Store = Cache<u32, u32, 1024>;
type Shared = SharedCache<Store, StdLock<Store>, TokioClock>;

const TTL: Duration = Duration::from_secs(3_600);
const SLOTS: usize = 1024;

/// The next request of the miss benches: a new key for every request of
/// the run.
static NEXT: AtomicU32 = AtomicU32::new(1_000_000);

fn shared() -> Arc<Shared> {
    let config = CacheConfig::builder().time_to_live(TTL).build().unwrap();
    Arc::new(SharedCache::new(
        StdLock::new(Cache::new(config, 0x5eed)),
        TokioClock,
    ))
}

/// Times `iters` requests, each for a new key, on one service made by
/// `make` outside the timed loop.
fn new_keys<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, make: impl Fn() -> S)
where
    S: Service<u32> + 'static,
    S::Error: std::fmt::Debug,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = make();
        async move {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let ready = svc.ready().await.unwrap();
                black_box(ready.call(black_box(n)).await.unwrap());
            }
            start.elapsed()
        }
    });
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();

    let hit_cache = shared();
    let ours_hit = CacheLayer::new(Arc::clone(&hit_cache), |n: &u32| Some(*n)).layer(inner());
    let miss_cache = shared();
    let ours_miss = CacheLayer::new(Arc::clone(&miss_cache), |n: &u32| Some(*n)).layer(inner());
    let ours_pass = CacheLayer::new(shared(), |_: &u32| None).layer(inner());
    let tr_cache = || {
        TrCacheLayer::builder()
            .max_size(SLOTS)
            .ttl(TTL)
            .key_extractor(|n: &u32| *n)
            .build()
            .unwrap()
            .layer(inner())
    };
    let (tr_hit, tr_miss) = (tr_cache(), tr_cache());
    let tr_coalesce = TrCoalesceLayer::new(|n: &u32| *n).layer(inner());

    // Sanity: every service answers with the request's value; the hit
    // services hold key 1, the miss caches are full.
    rt.block_on(async {
        assert_eq!(
            ours_hit.clone().oneshot(1).await.unwrap(),
            Cached::Loaded(1)
        );
        assert_eq!(one_request(&mut ours_hit.clone()).await, Cached::Fresh(1));
        assert_eq!(tr_hit.clone().oneshot(1).await.unwrap(), 1);
        assert_eq!(one_request(&mut tr_hit.clone()).await, 1);
        assert_eq!(
            ours_pass.clone().oneshot(5).await.unwrap(),
            Cached::Loaded(5)
        );
        assert_eq!(tr_coalesce.clone().oneshot(5).await.unwrap(), 5);
        for n in 0..u32::try_from(SLOTS).unwrap() {
            assert_eq!(
                ours_miss.clone().oneshot(n).await.unwrap(),
                Cached::Loaded(n)
            );
            assert_eq!(tr_miss.clone().oneshot(n).await.unwrap(), n);
        }
    });

    let mut g = c.benchmark_group("cache_layer/hit");
    g.bench_function("bare service_fn", |b| requests(b, &rt, inner));
    g.bench_function(
        "failsafe-tower CacheLayer (core Cache S3Fifo, StdLock)",
        |b| requests(b, &rt, || ours_hit.clone()),
    );
    g.bench_function("tower-resilience 0.13 CacheLayer (LRU)", |b| {
        requests(b, &rt, || tr_hit.clone())
    });
    g.finish();

    let mut g = c.benchmark_group("cache_layer/miss");
    g.bench_function("bare service_fn", |b| new_keys(b, &rt, inner));
    g.bench_function(
        "failsafe-tower CacheLayer (core Cache S3Fifo, StdLock)",
        |b| new_keys(b, &rt, || ours_miss.clone()),
    );
    g.bench_function(
        "failsafe-tower CacheLayer, uncacheable (pass-through)",
        |b| new_keys(b, &rt, || ours_pass.clone()),
    );
    g.bench_function("tower-resilience 0.13 CacheLayer (LRU)", |b| {
        new_keys(b, &rt, || tr_miss.clone())
    });
    g.bench_function("tower-resilience 0.13 CoalesceLayer (no cache)", |b| {
        new_keys(b, &rt, || tr_coalesce.clone())
    });
    g.finish();

    // What was measured: the hits hit, the misses missed.
    let hits = hit_cache.with(|s| s.metrics());
    assert_eq!(
        hits.misses, 1,
        "only the first request of the hit bench missed"
    );
    let misses = miss_cache.with(|s| s.metrics());
    assert_eq!(misses.hits, 0, "no request of the miss bench hit");
    assert!(misses.evictions > 0, "the miss bench's cache evicted");
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2_500))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = layer
}
criterion_main!(benches);
