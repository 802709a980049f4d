//! Bulkhead overhead, failsafe next to tokio's semaphore and tower's
//! concurrency limit in one report.
//!
//! Groups (single thread, nothing else holds a slot, nobody waits):
//!
//! - `bulkhead/uncontended`: take a slot and give it back: the core's
//!   [`Bulkhead`] (`&mut`), [`SharedBulkhead`] behind a std mutex, the
//!   driver's std handle (an owned guard, dropped or finished), next to
//!   `tokio::sync::Semaphore::try_acquire` (borrowed and owned permits).
//! - `bulkhead/tower`: one request through a tower service whose inner
//!   service is ready at once (`ready().await` + `call().await` on a
//!   current-thread runtime): bare, in tower's `ConcurrencyLimit`, in
//!   failsafe-tokio's `BulkheadLayer`; plus the tokio handle's
//!   `Bulkhead::call`.
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_core::sync::{Lock, SharedBulkhead};
use failsafe_core::{Instant, Outcome};
use failsafe_driver::{StdClock, StdLock};
use failsafe_tower::BulkheadLayer;
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimit;
use tower::{Layer, Service, ServiceExt, service_fn};

/// Slots of every bulkhead and semaphore here: far more than one caller uses.
const LIMIT: u32 = 100;

/// The waiting queue's capacity (the tokio handle's default); nobody queues.
const Q: usize = 64;

fn config() -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(LIMIT)
        .build()
        .unwrap()
}

/// A cheap, strictly increasing `now` (one nanosecond per call).
struct Ticker(u64);

impl Ticker {
    #[inline(always)]
    fn tick(&mut self) -> Instant {
        self.0 += 1;
        Instant::from_nanos(self.0)
    }
}

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead/uncontended");

    g.bench_function("failsafe-core Bulkhead &mut: try_acquire + release", |b| {
        let mut bulkhead: Bulkhead<Q> = Bulkhead::new(config());
        let mut t = Ticker(0);
        b.iter(|| {
            let now = black_box(t.tick());
            let permit = bulkhead.try_acquire(now).unwrap();
            bulkhead.release(now, permit, black_box(Outcome::Success));
        });
        assert_eq!(bulkhead.in_flight(), 0);
    });

    g.bench_function(
        "failsafe-core SharedBulkhead<StdLock>: try_acquire + release",
        |b| {
            let shared: SharedBulkhead<Q, (), StdLock<Bulkhead<Q>>> =
                SharedBulkhead::new(StdLock::new(Bulkhead::new(config())));
            let shared = black_box(&shared);
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                let permit = shared.try_acquire(now).unwrap();
                shared.release(now, permit, black_box(Outcome::Success));
            });
            assert_eq!(shared.metrics().in_flight, 0);
        },
    );

    g.bench_function(
        "failsafe-core SharedBulkhead<StdLock>, Q = 1: try_acquire + release",
        |b| {
            let shared: SharedBulkhead<1, (), StdLock<Bulkhead<1>>> =
                SharedBulkhead::new(StdLock::new(Bulkhead::new(config())));
            let shared = black_box(&shared);
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                let permit = shared.try_acquire(now).unwrap();
                shared.release(now, permit, black_box(Outcome::Success));
            });
            assert_eq!(shared.metrics().in_flight, 0);
        },
    );

    g.bench_function(
        "failsafe-core Bulkhead in StdLock (no SharedBulkhead): try_acquire + release",
        |b| {
            let lock: StdLock<Bulkhead<Q>> = StdLock::new(Bulkhead::new(config()));
            let lock = black_box(&lock);
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                let permit = lock.with(|b| b.try_acquire(now)).unwrap();
                lock.with(|b| b.release(now, permit, black_box(Outcome::Success)));
            });
            assert_eq!(lock.with(|b| b.in_flight()), 0);
        },
    );

    g.bench_function(
        "failsafe-driver BulkheadPolicy (StdClock): try_acquire + drop guard",
        |b| {
            let bulkhead: failsafe_driver::BulkheadPolicy<Q, FixedLimit, StdClock> =
                failsafe_driver::BulkheadPolicy::new(config());
            let bulkhead = black_box(&bulkhead);
            b.iter(|| drop(bulkhead.try_acquire().unwrap()));
            assert_eq!(bulkhead.in_flight(), 0);
        },
    );

    g.bench_function(
        "failsafe-driver BulkheadPolicy (StdClock): try_acquire + finish(Success)",
        |b| {
            let bulkhead: failsafe_driver::BulkheadPolicy<Q, FixedLimit, StdClock> =
                failsafe_driver::BulkheadPolicy::new(config());
            let bulkhead = black_box(&bulkhead);
            b.iter(|| {
                bulkhead
                    .try_acquire()
                    .unwrap()
                    .finish(black_box(Outcome::Success))
            });
            assert_eq!(bulkhead.in_flight(), 0);
        },
    );

    g.bench_function("tokio 1.x Semaphore::try_acquire + drop", |b| {
        let semaphore = Semaphore::new(LIMIT as usize);
        let semaphore = black_box(&semaphore);
        b.iter(|| drop(semaphore.try_acquire().unwrap()));
        assert_eq!(semaphore.available_permits(), LIMIT as usize);
    });

    g.bench_function("tokio 1.x Arc<Semaphore>::try_acquire_owned + drop", |b| {
        let semaphore = Arc::new(Semaphore::new(LIMIT as usize));
        let semaphore = black_box(&semaphore);
        b.iter(|| drop(Arc::clone(semaphore).try_acquire_owned().unwrap()));
        assert_eq!(semaphore.available_permits(), LIMIT as usize);
    });

    g.finish();
}

/// The protected service: ready at once, answers at once.
fn inner()
-> impl Service<u32, Response = u32, Error = Infallible, Future = Ready<Result<u32, Infallible>>> + Clone
{
    service_fn(|n: u32| ready(Ok::<_, Infallible>(n)))
}

/// One request: `ready().await` then `call().await`, as tower users write it.
async fn one_request<S>(svc: &mut S) -> S::Response
where
    S: Service<u32>,
    S::Error: std::fmt::Debug,
{
    let ready = svc.ready().await.unwrap();
    ready.call(black_box(1)).await.unwrap()
}

/// Times `iters` requests on a clone of `svc` (the clone is made outside
/// the timed loop: a tower service is cloned once per connection).
fn requests<S>(b: &mut criterion::Bencher<'_>, rt: &tokio::runtime::Runtime, svc: &S)
where
    S: Service<u32, Response = u32> + Clone + 'static,
    S::Error: std::fmt::Debug,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = svc.clone();
        async move {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                black_box(one_request(&mut svc).await);
            }
            start.elapsed()
        }
    });
}

fn tower_services(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let bulkhead: failsafe_tokio::BulkheadPolicy<Q> =
        rt.block_on(async { failsafe_tokio::BulkheadPolicy::new(config()) });
    let limited = BulkheadLayer::from_policy(&bulkhead).layer(inner());
    let concurrency = ConcurrencyLimit::new(inner(), LIMIT as usize);

    // Sanity: every service answers and gives its slot back.
    rt.block_on(async {
        assert_eq!(one_request(&mut inner()).await, 1);
        assert_eq!(one_request(&mut limited.clone()).await, 1);
        assert_eq!(one_request(&mut concurrency.clone()).await, 1);
        assert_eq!(bulkhead.call(|| async { Ok::<_, ()>(1) }).await.unwrap(), 1);
    });
    assert_eq!(bulkhead.in_flight(), 0);

    let mut g = c.benchmark_group("bulkhead/tower");

    g.bench_function("bare service_fn: ready + call", |b| {
        requests(b, &rt, &inner());
    });

    g.bench_function("tower 0.5 ConcurrencyLimit: ready + call", |b| {
        requests(b, &rt, &concurrency);
    });

    g.bench_function("failsafe-tower BulkheadLayer: ready + call", |b| {
        requests(b, &rt, &limited);
    });

    g.bench_function("failsafe-tokio BulkheadPolicy::call(ready op)", |b| {
        let bulkhead = &bulkhead;
        b.to_async(&rt)
            .iter(|| bulkhead.call(|| async { Ok::<_, ()>(black_box(1u32)) }));
    });

    g.finish();
    assert_eq!(bulkhead.in_flight(), 0);
}

fn criterion_config() -> Criterion {
    // Modest so the whole suite (four files) stays under 5 minutes on a
    // 2-core machine: this file takes about 40 s.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = uncontended, tower_services
}
criterion_main!(benches);
