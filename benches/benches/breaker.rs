//! Circuit-breaker overhead, failsafe next to its peers in one report.
//!
//! Groups (single thread, a no-op operation that always succeeds):
//!
//! - `breaker/closed`: one admitted call on a closed breaker (acquire and
//!   record a success), from the bare core machine up to the full std handle
//!   that reads the real clock, next to `failsafe` 1.3 and `recloser` 1.x.
//! - `breaker/open`: one rejected call on an open breaker (the std handle
//!   also on the TSC clock, and built with `NoCounters`: what counting the
//!   rejection costs).
//! - `breaker/clock`: what a clock read costs on this machine, for scale.
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow, NoCounters, NoWindow};
use failsafe_core::sync::{Shared, SharedBreaker};
use failsafe_core::{Instant, Outcome};
use failsafe_driver::{CircuitBreakerPolicy, Clock, Park, Policy, QuantaClock, StdClock, StdLock};

/// Long enough that no open breaker half-opens during a run.
const HOUR: Duration = Duration::from_secs(3_600);

/// resilience4j-style rate breaker: the defaults over the last 100 calls.
fn rate_config() -> BreakerConfig {
    BreakerConfig::builder().open_wait(HOUR).build().unwrap()
}

/// The Python Failsafe's breaker: five failures in a row, no window.
fn consecutive_config() -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(5)
        .open_wait(HOUR)
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

/// A [`Clock`] that reads no clock: one nanosecond more per read. Runs the
/// driver's `call_blocking` without the cost of `Instant::now()`.
struct CounterClock(Cell<u64>);

impl Clock for CounterClock {
    #[inline(always)]
    fn now(&self) -> Instant {
        let t = self.0.get() + 1;
        self.0.set(t);
        Instant::from_nanos(t)
    }
}

/// A breaker never makes a blocking caller wait: never parks.
impl Park for CounterClock {}

fn closed(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/closed");

    g.bench_function("failsafe-core &mut, CountWindow<100>", |b| {
        let mut breaker = CircuitBreaker::new(rate_config(), CountWindow::<100>::new());
        let mut t = Ticker(0);
        b.iter(|| {
            let now = black_box(t.tick());
            let permit = breaker.acquire(now).unwrap();
            breaker.record(now, permit, black_box(Outcome::Success));
        });
    });

    g.bench_function("failsafe-core &mut, NoWindow (consecutive)", |b| {
        let mut breaker = CircuitBreaker::new(consecutive_config(), NoWindow);
        let mut t = Ticker(0);
        b.iter(|| {
            let now = black_box(t.tick());
            let permit = breaker.acquire(now).unwrap();
            breaker.record(now, permit, black_box(Outcome::Success));
        });
    });

    g.bench_function(
        "failsafe-core SharedBreaker<StdLock>, CountWindow<100>",
        |b| {
            let shared = SharedBreaker::new(StdLock::new(CircuitBreaker::new(
                rate_config(),
                CountWindow::<100>::new(),
            )));
            let shared = black_box(&shared);
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                let permit = shared.acquire(now).unwrap();
                shared.record(now, permit, black_box(Outcome::Success));
            });
        },
    );

    g.bench_function(
        "failsafe-driver CircuitBreakerPolicy::call_blocking (StdClock x2)",
        |b| {
            let breaker: CircuitBreakerPolicy<CountWindow<100>, StdClock> =
                CircuitBreakerPolicy::new(rate_config(), CountWindow::new());
            let breaker = black_box(&breaker);
            b.iter(|| breaker.call_blocking(|| black_box(Ok::<_, ()>(()))));
        },
    );

    g.bench_function("failsafe-driver call_blocking (counter clock)", |b| {
        let breaker = CircuitBreakerPolicy::with_runtime(
            rate_config(),
            CountWindow::<100>::new(),
            CounterClock(Cell::new(0)),
        );
        let breaker = black_box(&breaker);
        b.iter(|| breaker.call_blocking(|| black_box(Ok::<_, ()>(()))));
    });

    g.bench_function("failsafe-rs 1.3 call (default policy)", |b| {
        let breaker = failsafe::Config::new().build();
        let breaker = black_box(&breaker);
        b.iter(|| breaker.call(|| black_box(Ok::<_, ()>(()))));
    });

    g.bench_function("recloser 1.x call (default, 100 calls)", |b| {
        let breaker = recloser::Recloser::default();
        let breaker = black_box(&breaker);
        b.iter(|| breaker.call(|| black_box(Ok::<_, ()>(()))));
    });

    g.finish();
}

fn open(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/open");

    g.bench_function("failsafe-core &mut acquire", |b| {
        let mut breaker = CircuitBreaker::new(rate_config(), CountWindow::<100>::new());
        breaker.open(Instant::ZERO);
        let mut t = Ticker(0);
        b.iter(|| breaker.acquire(black_box(t.tick())).unwrap_err());
    });

    g.bench_function("failsafe-core SharedBreaker fast path", |b| {
        let shared = SharedBreaker::new(StdLock::new(CircuitBreaker::new(
            rate_config(),
            CountWindow::<100>::new(),
        )));
        shared.with(|b| b.open(Instant::ZERO));
        let shared = black_box(&shared);
        let mut t = Ticker(0);
        b.iter(|| shared.acquire(black_box(t.tick())).unwrap_err());
    });

    /// One rejected call through the std handle on `runtime`.
    fn rejected_on<R: Park>(b: &mut criterion::Bencher<'_>, runtime: R) {
        let breaker: CircuitBreakerPolicy<CountWindow<100>, R> =
            CircuitBreakerPolicy::with_runtime(rate_config(), CountWindow::new(), runtime);
        breaker.open();
        let breaker = black_box(&breaker);
        b.iter(|| {
            breaker
                .call_blocking(|| black_box(Ok::<_, ()>(())))
                .unwrap_err()
        });
    }
    g.bench_function(
        "failsafe-driver CircuitBreakerPolicy::call_blocking (StdClock x1)",
        |b| rejected_on(b, StdClock),
    );
    g.bench_function(
        "failsafe-driver CircuitBreakerPolicy::call_blocking (QuantaClock x1)",
        |b| rejected_on(b, QuantaClock),
    );

    g.bench_function(
        "failsafe-driver Policy<breaker, NoCounters>::call_blocking (StdClock x1)",
        |b| {
            let machine = CircuitBreaker::with_counters(
                rate_config(),
                CountWindow::<100>::new(),
                (),
                NoCounters,
            );
            let breaker =
                Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), StdClock);
            breaker.shared().with(|m| m.open(StdClock.now()));
            assert!(matches!(
                breaker.call_blocking(|| Ok::<_, ()>(())),
                Err(failsafe_driver::Error::Rejected(_))
            ));
            let breaker = black_box(&breaker);
            b.iter(|| {
                breaker
                    .call_blocking(|| black_box(Ok::<_, ()>(())))
                    .unwrap_err()
            });
        },
    );

    g.bench_function("failsafe-driver call_blocking (counter clock)", |b| {
        rejected_on(b, CounterClock(Cell::new(0)))
    });

    g.bench_function("failsafe-rs 1.3 call (open)", |b| {
        let policy =
            failsafe::failure_policy::consecutive_failures(1, failsafe::backoff::constant(HOUR));
        let breaker = failsafe::Config::new().failure_policy(policy).build();
        let _ = breaker.call(|| Err::<(), _>(()));
        assert!(!breaker.is_call_permitted(), "failsafe-rs did not open");
        let breaker = black_box(&breaker);
        b.iter(|| breaker.call(|| black_box(Ok::<_, ()>(()))).unwrap_err());
    });

    g.bench_function("recloser 1.x call (open)", |b| {
        let breaker = recloser::Recloser::custom()
            .closed_len(1)
            .open_wait(HOUR)
            .build();
        let opened = (0..10).any(|_| {
            matches!(
                breaker.call(|| Err::<(), _>(())),
                Err(recloser::Error::Rejected)
            )
        });
        assert!(opened, "recloser did not open");
        let breaker = black_box(&breaker);
        b.iter(|| breaker.call(|| black_box(Ok::<_, ()>(()))).unwrap_err());
    });

    g.finish();
}

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("breaker/clock");
    g.bench_function("std::time::Instant::now", |b| {
        b.iter(std::time::Instant::now)
    });
    g.bench_function("failsafe-driver StdClock::now", |b| {
        b.iter(|| StdClock.now())
    });
    g.finish();
}

fn config() -> Criterion {
    // Modest so the whole suite (four files) stays under 5 minutes on a
    // 2-core machine: this file takes about 50 s.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = closed, open, clock
}
criterion_main!(benches);
