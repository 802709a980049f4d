//! Bulkhead overhead, failsafe next to tokio's semaphore in one report.
//!
//! Groups (single thread, nothing else holds a slot, nobody waits):
//!
//! - `bulkhead/uncontended`: take a slot and give it back: the core's
//!   [`Bulkhead`] (`&mut`), [`SharedBulkhead`] behind a std mutex, the
//!   driver's std handle (an owned guard, dropped or finished), next to
//!   `tokio::sync::Semaphore::try_acquire` (borrowed and owned permits).
//!
//! The tower bulkhead layer against tower's `ConcurrencyLimit` is in the
//! `tower` bench, beside every other layer.
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_core::sync::{Lock, SharedBulkhead};
use failsafe_core::{Instant, Outcome};
use failsafe_driver::{StdClock, StdLock};
use tokio::sync::Semaphore;

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
    targets = uncontended
}
criterion_main!(benches);
