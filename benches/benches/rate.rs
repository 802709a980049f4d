//! Rate-limiter overhead, failsafe's GCRA next to `governor`'s in one report.
//!
//! Groups:
//!
//! - `rate/direct`: one admitted permit on one limiter, from one thread: the
//!   core's [`Gcra`] (`&mut`) and [`AtomicGcra`] (`&self`, lock-free) with
//!   `now` passed in, the driver's std handle reading the real clock (std's,
//!   and the TSC through `QuantaClock`, as governor's default clock reads
//!   it), next to governor's direct limiter on its
//!   fake clock and on its default clock.
//! - `rate/rejected`: one rejected permit (a limiter whose burst is spent),
//!   each rejection carrying when to retry.
//! - `rate/keyed`: one admitted permit for one of 1000 keys (visited in a
//!   shuffled round): the core's [`KeyedGcra`] table of 1024 (and 2048)
//!   slots, bare and through the driver's std handle, next to governor's keyed (dashmap)
//!   limiter on its fake and default clocks.
//! - `rate/2 threads`: two threads hammering one shared limiter at once
//!   (wall-clock time per admitted permit, both threads' permits counted).
//!
//! Every admitting limiter has the same permissive quota (one permit per
//! nanosecond, a burst of `u32::MAX`), so every measured call is admitted;
//! each single-thread bench checks afterwards that its limiter still admits
//! (its state only moves forward, so every earlier call was admitted too),
//! and the two-thread benches count refusals in each thread (none allowed).
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Barrier;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::Instant;
use failsafe_core::rate::{AtomicGcra, Gcra, KeyedGcra, Quota};
use failsafe_core::sync::Lock;
use failsafe_driver::{KeyedRateLimiterPolicy, QuantaClock, RateLimiterPolicy, StdClock, StdLock};
use governor::clock::FakeRelativeClock;

/// Keys the keyed benches cycle through.
const KEYS: u32 = 1_000;

/// One permit per nanosecond, a burst of `u32::MAX`: admits every call of a
/// run (about 4.3 billion at a frozen clock, far more than criterion makes).
fn permissive() -> Quota {
    Quota::with_period(Duration::from_nanos(1))
        .and_then(|q| q.with_burst(u32::MAX))
        .unwrap()
}

/// The same quota in governor's terms.
fn governor_permissive() -> governor::Quota {
    governor::Quota::with_period(Duration::from_nanos(1))
        .unwrap()
        .allow_burst(NonZeroU32::MAX)
}

/// One permit per second, burst 1: spent by one call, then every call is
/// rejected for the rest of the run.
fn strict() -> Quota {
    Quota::per_second(1).unwrap()
}

fn governor_strict() -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::MIN)
}

/// A cheap, strictly increasing `now` (one nanosecond per call), what a
/// caller that reads the clock once per request hands every layer.
struct Ticker(u64);

impl Ticker {
    #[inline(always)]
    fn tick(&mut self) -> Instant {
        self.0 += 1;
        Instant::from_nanos(self.0)
    }
}

/// The 1000 keys in a fixed shuffled order (xorshift, seeded), so neither
/// table sees keys in hash order.
fn shuffled_keys() -> Vec<u32> {
    let mut keys: Vec<u32> = (0..KEYS).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..keys.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        keys.swap(i, (x % (i as u64 + 1)) as usize);
    }
    keys
}

/// Cycles through `keys`.
struct KeyCycle {
    keys: Vec<u32>,
    at: usize,
}

impl KeyCycle {
    fn new() -> Self {
        KeyCycle {
            keys: shuffled_keys(),
            at: 0,
        }
    }

    #[inline(always)]
    fn next(&mut self) -> u32 {
        self.at += 1;
        if self.at == self.keys.len() {
            self.at = 0;
        }
        self.keys[self.at]
    }
}

fn direct(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/direct");

    g.bench_function("failsafe-core Gcra &mut acquire", |b| {
        let mut limiter = Gcra::new(permissive());
        let mut t = Ticker(0);
        b.iter(|| limiter.acquire(black_box(t.tick()), 1));
        assert!(
            limiter.acquire(t.tick(), 1).is_ok(),
            "Gcra stopped admitting"
        );
    });

    g.bench_function("failsafe-core AtomicGcra &self acquire", |b| {
        let limiter = AtomicGcra::new(permissive());
        let limiter = black_box(&limiter);
        let mut t = Ticker(0);
        b.iter(|| limiter.acquire(black_box(t.tick()), 1));
        assert!(limiter.acquire(t.tick(), 1).is_ok());
    });

    g.bench_function("governor 0.10 direct check, FakeRelativeClock", |b| {
        let limiter = governor::RateLimiter::direct_with_clock(
            governor_permissive(),
            FakeRelativeClock::default(),
        );
        let limiter = black_box(&limiter);
        b.iter(|| limiter.check());
        assert!(limiter.check().is_ok(), "governor stopped admitting");
    });

    g.bench_function(
        "failsafe-driver RateLimiterPolicy<StdClock>::try_acquire",
        |b| {
            let limiter: RateLimiterPolicy<StdClock> = RateLimiterPolicy::new(permissive());
            let limiter = black_box(&limiter);
            b.iter(|| limiter.try_acquire());
            assert!(limiter.try_acquire().is_ok());
        },
    );

    g.bench_function(
        "failsafe-driver RateLimiterPolicy<QuantaClock>::try_acquire",
        |b| {
            let limiter: RateLimiterPolicy<QuantaClock> = RateLimiterPolicy::new(permissive());
            let limiter = black_box(&limiter);
            b.iter(|| limiter.try_acquire());
            assert!(limiter.try_acquire().is_ok());
        },
    );

    g.bench_function("governor 0.10 direct check, default clock", |b| {
        let limiter = governor::RateLimiter::direct(governor_permissive());
        let limiter = black_box(&limiter);
        b.iter(|| limiter.check());
        assert!(limiter.check().is_ok());
    });

    g.finish();
}

fn rejected(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/rejected");

    g.bench_function("failsafe-core Gcra &mut acquire", |b| {
        let mut limiter = Gcra::new(strict());
        limiter.acquire(Instant::ZERO, 1).unwrap();
        let mut t = Ticker(0);
        b.iter(|| limiter.acquire(black_box(t.tick()), 1).unwrap_err());
    });

    g.bench_function("failsafe-core AtomicGcra &self acquire", |b| {
        let limiter = AtomicGcra::new(strict());
        limiter.acquire(Instant::ZERO, 1).unwrap();
        let limiter = black_box(&limiter);
        let mut t = Ticker(0);
        b.iter(|| limiter.acquire(black_box(t.tick()), 1).unwrap_err());
    });

    g.bench_function("governor 0.10 direct check, FakeRelativeClock", |b| {
        let limiter = governor::RateLimiter::direct_with_clock(
            governor_strict(),
            FakeRelativeClock::default(),
        );
        limiter.check().unwrap();
        let limiter = black_box(&limiter);
        b.iter(|| limiter.check().unwrap_err());
    });

    g.finish();
}

/// Admits once for every key, so the measured calls find their keys.
fn warm_keys(mut admit: impl FnMut(u32) -> bool) {
    for key in 0..KEYS {
        assert!(admit(key), "key {key} not admitted");
    }
}

fn keyed(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/keyed");

    g.bench_function("failsafe-core KeyedGcra<u32, 1024> &mut acquire", |b| {
        let mut table = KeyedGcra::<u32, 1024>::new(permissive(), 0x5eed);
        warm_keys(|k| table.acquire(&k, Instant::ZERO, 1).is_ok());
        let mut keys = KeyCycle::new();
        let mut t = Ticker(0);
        b.iter(|| table.acquire(black_box(&keys.next()), black_box(t.tick()), 1));
        assert!(table.acquire(&keys.next(), t.tick(), 1).is_ok());
    });

    g.bench_function("failsafe-core KeyedGcra<u32, 2048> &mut acquire", |b| {
        let mut table = Box::new(KeyedGcra::<u32, 2048>::new(permissive(), 0x5eed));
        warm_keys(|k| table.acquire(&k, Instant::ZERO, 1).is_ok());
        let mut keys = KeyCycle::new();
        let mut t = Ticker(0);
        b.iter(|| table.acquire(black_box(&keys.next()), black_box(t.tick()), 1));
        assert!(table.acquire(&keys.next(), t.tick(), 1).is_ok());
    });

    g.bench_function(
        "governor 0.10 keyed (dashmap) check_key, FakeRelativeClock",
        |b| {
            let limiter = governor::RateLimiter::dashmap_with_clock(
                governor_permissive(),
                FakeRelativeClock::default(),
            );
            warm_keys(|k| limiter.check_key(&k).is_ok());
            let limiter = black_box(&limiter);
            let mut keys = KeyCycle::new();
            b.iter(|| limiter.check_key(black_box(&keys.next())));
            assert!(limiter.check_key(&keys.next()).is_ok());
        },
    );

    g.bench_function(
        "failsafe-driver KeyedRateLimiterPolicy<u32, 1024, StdClock>::try_acquire",
        |b| {
            let limiter: KeyedRateLimiterPolicy<u32, 1024, StdClock> =
                KeyedRateLimiterPolicy::new(permissive());
            warm_keys(|k| limiter.try_acquire_keyed(&k).is_ok());
            let limiter = black_box(&limiter);
            let mut keys = KeyCycle::new();
            b.iter(|| limiter.try_acquire_keyed(black_box(&keys.next())));
            assert!(limiter.try_acquire_keyed(&keys.next()).is_ok());
        },
    );

    g.bench_function(
        "failsafe-driver KeyedRateLimiterPolicy<u32, 1024, QuantaClock>::try_acquire",
        |b| {
            let limiter: KeyedRateLimiterPolicy<u32, 1024, QuantaClock> =
                KeyedRateLimiterPolicy::new(permissive());
            warm_keys(|k| limiter.try_acquire_keyed(&k).is_ok());
            let limiter = black_box(&limiter);
            let mut keys = KeyCycle::new();
            b.iter(|| limiter.try_acquire_keyed(black_box(&keys.next())));
            assert!(limiter.try_acquire_keyed(&keys.next()).is_ok());
        },
    );

    g.bench_function(
        "governor 0.10 keyed (dashmap) check_key, default clock",
        |b| {
            let limiter: governor::DefaultKeyedRateLimiter<u32> =
                governor::RateLimiter::keyed(governor_permissive());
            warm_keys(|k| limiter.check_key(&k).is_ok());
            let limiter = black_box(&limiter);
            let mut keys = KeyCycle::new();
            b.iter(|| limiter.check_key(black_box(&keys.next())));
            assert!(limiter.check_key(&keys.next()).is_ok());
        },
    );

    g.finish();
}

/// Runs `op(shared, thread, i)` for `i` in `0..iters` on each of two
/// threads started together, and returns half the wall-clock time the
/// slower thread took: criterion divides by `iters`, so the figure is the
/// wall-clock time per permit with both threads' permits counted. `op`
/// says whether its permit was admitted; every one must be.
fn two_threads<S: Sync>(
    iters: u64,
    shared: &S,
    op: impl Fn(&S, u64, u64) -> bool + Sync,
) -> Duration {
    let start = Barrier::new(2);
    let (slowest, refused) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|thread| {
                let (start, op) = (&start, &op);
                s.spawn(move || {
                    start.wait();
                    let began = std::time::Instant::now();
                    let mut refused = 0u64;
                    for i in 0..iters {
                        refused += u64::from(!op(shared, thread, i));
                    }
                    (began.elapsed(), refused)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .fold((Duration::ZERO, 0), |(t, r), (t2, r2)| (t.max(t2), r + r2))
    });
    assert_eq!(refused, 0, "a permissive limiter refused permits");
    slowest / 2
}

/// Each thread's own strictly increasing `now`: interleaved nanoseconds.
#[inline(always)]
fn thread_now(thread: u64, i: u64) -> Instant {
    Instant::from_nanos(2 * i + thread + 1)
}

fn contended(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate/2 threads");

    g.bench_function("failsafe-core AtomicGcra &self acquire", |b| {
        let limiter = AtomicGcra::new(permissive());
        b.iter_custom(|iters| {
            two_threads(iters, &limiter, |l, thread, i| {
                black_box(l.acquire(black_box(thread_now(thread, i)), 1)).is_ok()
            })
        });
    });

    g.bench_function("failsafe-core Gcra in StdLock (std mutex)", |b| {
        let limiter = StdLock::new(Gcra::new(permissive()));
        b.iter_custom(|iters| {
            two_threads(iters, &limiter, |l, thread, i| {
                let now = black_box(thread_now(thread, i));
                black_box(l.with(|g| g.acquire(now, 1))).is_ok()
            })
        });
    });

    g.bench_function("governor 0.10 direct check, FakeRelativeClock", |b| {
        let limiter = governor::RateLimiter::direct_with_clock(
            governor_permissive(),
            FakeRelativeClock::default(),
        );
        b.iter_custom(|iters| two_threads(iters, &limiter, |l, _, _| black_box(l.check()).is_ok()));
        assert!(limiter.check().is_ok());
    });

    g.bench_function(
        "failsafe-driver RateLimiterPolicy<StdClock>::try_acquire",
        |b| {
            let limiter: RateLimiterPolicy<StdClock> = RateLimiterPolicy::new(permissive());
            b.iter_custom(|iters| {
                two_threads(iters, &limiter, |l, _, _| {
                    black_box(l.try_acquire()).is_ok()
                })
            });
            assert!(limiter.try_acquire().is_ok());
        },
    );

    g.bench_function(
        "failsafe-driver RateLimiterPolicy<QuantaClock>::try_acquire",
        |b| {
            let limiter: RateLimiterPolicy<QuantaClock> = RateLimiterPolicy::new(permissive());
            b.iter_custom(|iters| {
                two_threads(iters, &limiter, |l, _, _| {
                    black_box(l.try_acquire()).is_ok()
                })
            });
            assert!(limiter.try_acquire().is_ok());
        },
    );

    g.bench_function("governor 0.10 direct check, default clock", |b| {
        let limiter = governor::RateLimiter::direct(governor_permissive());
        b.iter_custom(|iters| two_threads(iters, &limiter, |l, _, _| black_box(l.check()).is_ok()));
        assert!(limiter.check().is_ok());
    });

    g.finish();
}

fn config() -> Criterion {
    // Modest so the whole suite (four files) stays under 5 minutes on a
    // 2-core machine: this file takes about 75 s.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = direct, rejected, keyed, contended
}
criterion_main!(benches);
