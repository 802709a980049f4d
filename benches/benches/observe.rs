//! What observing costs, in one report: the same handle with no observer
//! at all (the handle as it was before listeners could be added), with an
//! empty listener list (today's default), with a `TracingObserver` and no
//! subscriber, with a subscriber that has the events' level turned off
//! (tracing disabled at run time), with tracing enabled (a subscriber that
//! counts events), and with a `MetricsObserver` (no recorder; a recorder).
//!
//! Groups (single thread, a counter clock so no clock read is measured;
//! the rows with a subscriber or a recorder run last, see `subscribed`):
//!
//! - `observe/rate_limiter`: one admitted `try_acquire` on the lock-free
//!   rate limiter: every call is one event (`RateEvent::Acquired`);
//! - `observe/bulkhead`: one admitted call on a bulkhead (acquire and
//!   release under its lock: two events per call);
//! - `observe/breaker_open`: one call rejected by an open breaker on its
//!   lock-free gate (counted, reported in batches: no event per call).
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_core::rate::{AtomicGcra, Quota, Throttle};
use failsafe_core::sync::Shared;
use failsafe_core::{Instant, Outcome};
use failsafe_driver::observe::{MetricsObserver, TracingObserver};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, Policy, RateLimiterPolicy, StdLock,
};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A [`Clock`] that reads no clock: one nanosecond more per read.
#[derive(Default)]
struct CounterClock(Cell<u64>);

impl Clock for CounterClock {
    #[inline(always)]
    fn now(&self) -> Instant {
        let t = self.0.get() + 1;
        self.0.set(t);
        Instant::from_nanos(t)
    }
}

/// One permit per nanosecond, a burst of `u32::MAX`: every call admitted.
fn permissive() -> Quota {
    Quota::with_period(Duration::from_nanos(1))
        .and_then(|q| q.with_burst(u32::MAX))
        .unwrap()
}

/// A subscriber that keeps events up to `max` and counts them.
struct Counting {
    max: tracing::Level,
    seen: Arc<AtomicU64>,
}

impl Subscriber for Counting {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.max.into())
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `f` with a counting subscriber at `max` as the default; returns
/// how many events it saw.
fn with_tracing(max: tracing::Level, f: impl FnOnce()) -> u64 {
    let seen = Arc::new(AtomicU64::new(0));
    let sub = Counting {
        max,
        seen: seen.clone(),
    };
    tracing::subscriber::with_default(sub, f);
    seen.load(Ordering::Relaxed)
}

/// The observers every group compares, by name.
#[derive(Clone, Copy)]
enum Listener {
    Empty,
    Tracing,
    Metrics,
}

fn rate_handle(listener: Listener) -> RateLimiterPolicy<CounterClock> {
    let limiter: RateLimiterPolicy<CounterClock> =
        RateLimiterPolicy::with_runtime(permissive(), CounterClock::default())
            .with_max_wait(Duration::ZERO);
    match listener {
        Listener::Empty => limiter,
        Listener::Tracing => limiter.observe(TracingObserver::new("bench")),
        Listener::Metrics => limiter.observe(MetricsObserver::new("bench")),
    }
}

fn bulkhead_handle(
    config: BulkheadConfig,
    listener: Listener,
) -> BulkheadPolicy<64, FixedLimit, CounterClock> {
    let bulkhead: BulkheadPolicy<64, FixedLimit, CounterClock> =
        BulkheadPolicy::with_runtime(config, CounterClock::default());
    match listener {
        Listener::Empty => bulkhead,
        Listener::Tracing => bulkhead.observe(TracingObserver::new("bench")),
        Listener::Metrics => bulkhead.observe(MetricsObserver::new("bench")),
    }
}

fn rate_limiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe/rate_limiter");
    g.bench_function(
        "no observer (Throttle<AtomicGcra>, the handle before listeners)",
        |b| {
            let limiter = Policy::new_shared(
                Arc::new(Throttle::new(AtomicGcra::new(permissive()))),
                CounterClock::default(),
            );
            b.iter(|| black_box(limiter.try_acquire().is_ok()));
            assert!(limiter.try_acquire().is_ok());
        },
    );
    let handle = rate_handle;
    g.bench_function("RateLimiterPolicy, no listener", |b| {
        let limiter = handle(Listener::Empty);
        b.iter(|| black_box(limiter.try_acquire().is_ok()));
    });
    g.bench_function("+ TracingObserver, no subscriber", |b| {
        let limiter = handle(Listener::Tracing);
        b.iter(|| black_box(limiter.try_acquire().is_ok()));
    });
    g.bench_function("+ MetricsObserver, no recorder", |b| {
        let limiter = handle(Listener::Metrics);
        b.iter(|| black_box(limiter.try_acquire().is_ok()));
    });
    g.finish();
}

fn bulkhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe/bulkhead");
    let config = BulkheadConfig::builder().max_concurrent(8).build().unwrap();
    g.bench_function(
        "no observer (Bulkhead<_, ()>, the handle before listeners)",
        |b| {
            let machine: Bulkhead<64, (), FixedLimit> = Bulkhead::with_observer(config, ());
            let bulkhead = Policy::new_shared(
                Arc::new(Shared::new(StdLock::new(machine))),
                CounterClock::default(),
            );
            b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
        },
    );
    let handle = |l| bulkhead_handle(config, l);
    g.bench_function("BulkheadPolicy, no listener", |b| {
        let bulkhead = handle(Listener::Empty);
        b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
    });
    g.bench_function("+ TracingObserver, no subscriber", |b| {
        let bulkhead = handle(Listener::Tracing);
        b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
    });
    g.bench_function("+ MetricsObserver, no recorder", |b| {
        let bulkhead = handle(Listener::Metrics);
        b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
    });
    g.finish();
}

fn breaker_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe/breaker_open");
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(3_600))
        .build()
        .unwrap();
    let open = |b: &CircuitBreakerPolicy<NoWindow, CounterClock>| {
        b.try_acquire().unwrap().finish(Outcome::Failure);
        assert!(b.try_acquire().is_err());
    };
    g.bench_function(
        "no observer (CircuitBreaker<_, ()>, the handle before listeners)",
        |b| {
            let machine: CircuitBreaker<NoWindow> = CircuitBreaker::new(config, NoWindow);
            let breaker = Policy::new_shared(
                Arc::new(Shared::new(StdLock::new(machine))),
                CounterClock::default(),
            );
            breaker.try_acquire().unwrap().finish(Outcome::Failure);
            b.iter(|| black_box(breaker.try_acquire().is_err()));
        },
    );
    g.bench_function("CircuitBreakerPolicy, no listener", |b| {
        let breaker: CircuitBreakerPolicy<NoWindow, CounterClock> =
            CircuitBreakerPolicy::with_runtime(config, NoWindow, CounterClock::default());
        open(&breaker);
        b.iter(|| black_box(breaker.try_acquire().is_err()));
    });
    g.bench_function(
        "+ TracingObserver (gate counts; one event per batch)",
        |b| {
            let breaker: CircuitBreakerPolicy<NoWindow, CounterClock> =
                CircuitBreakerPolicy::with_runtime(config, NoWindow, CounterClock::default())
                    .observe(TracingObserver::new("bench"));
            open(&breaker);
            b.iter(|| black_box(breaker.try_acquire().is_err()));
            breaker.flush_events();
        },
    );
    g.finish();
}

/// Last, since a subscriber once installed leaves tracing's global level
/// raised for the rest of the process: what listening costs with a
/// subscriber whose level keeps the events off (tracing disabled at run
/// time) and with one that takes them, and with a real `metrics` recorder.
fn subscribed(c: &mut Criterion) {
    let config = BulkheadConfig::builder().max_concurrent(8).build().unwrap();
    let mut g = c.benchmark_group("observe/rate_limiter");
    let handle = rate_handle;
    g.bench_function("+ TracingObserver, subscriber at INFO (events off)", |b| {
        let limiter = handle(Listener::Tracing);
        let seen = with_tracing(tracing::Level::INFO, || {
            b.iter(|| black_box(limiter.try_acquire().is_ok()));
        });
        assert_eq!(seen, 0);
    });
    g.bench_function("+ TracingObserver, subscriber at DEBUG (events on)", |b| {
        let limiter = handle(Listener::Tracing);
        let seen = with_tracing(tracing::Level::DEBUG, || {
            b.iter(|| black_box(limiter.try_acquire().is_ok()));
        });
        assert!(seen > 0);
    });
    g.bench_function("+ MetricsObserver, debugging recorder", |b| {
        let limiter = handle(Listener::Metrics);
        let recorder = metrics_util::debugging::DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            b.iter(|| black_box(limiter.try_acquire().is_ok()));
        });
    });
    g.finish();
    let mut g = c.benchmark_group("observe/bulkhead");
    let handle = |l| bulkhead_handle(config, l);
    g.bench_function("+ TracingObserver, subscriber at INFO (events off)", |b| {
        let bulkhead = handle(Listener::Tracing);
        let seen = with_tracing(tracing::Level::INFO, || {
            b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
        });
        assert_eq!(seen, 0);
    });
    g.bench_function("+ TracingObserver, subscriber at DEBUG (events on)", |b| {
        let bulkhead = handle(Listener::Tracing);
        let seen = with_tracing(tracing::Level::DEBUG, || {
            b.iter(|| bulkhead.try_acquire().unwrap().finish(Outcome::Success));
        });
        assert!(seen > 0);
    });
    g.finish();
}

fn config() -> Criterion {
    // Short: the whole file takes about 40 s on a 2-core machine.
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = rate_limiter, bulkhead, breaker_open, subscribed
}
criterion_main!(benches);
