//! What the decorator costs: a decorated function beside the same handle
//! called by hand and beside the bare function, in one report.
//!
//! - `decorator/blocking`: a closed consecutive-failures breaker
//!   (`failsafe-thread`, the std clock) around a no-op that succeeds:
//!   `#[policy(B)] fn`, `B.call_blocking(|| ..)` written by hand, and the
//!   bare function.
//! - `decorator/async`: the same breaker on tokio (`failsafe-tokio`), its
//!   `call` from an `async fn` on a current-thread runtime (`block_on`
//!   per call; a closed breaker never waits), decorated and by hand.
//!
//! The expansion is the hand-written call, so the ratios should read 1.0
//! within noise. Run: `cargo bench -p failsafe-macros --bench decorator`.
//!
//! 2026-11-30, a shared 2-core VM (medians; by hand / decorated): blocking
//! 42.5 / 45.7 ns, 38.8 / 42.3 ns, 40.2 / 40.6 ns in three runs (0.93,
//! 0.92, 0.99; the bare fn 2.6 ns); async on tokio 647.6 / 655.1 ns
//! (0.99). Overlapping intervals in two runs of three: noise on this
//! machine is 10-30% (benches/README.md).
//!
//! By name (`decorator/blocking`, the same breaker registered in
//! `registry::global()`): `cargo bench -p failsafe-macros --bench
//! decorator -- decorator/blocking --warm-up-time 1 --measurement-time 3`,
//! two runs, 2026-11-30 (medians; static / by name / lookup per call):
//! 18.2 / 19.8 / 86.6 ns and 19.1 / 26.8 / 125.7 ns. By name costs 1.08x
//! and 1.40x the static form (the `OnceLock` load, within this machine's
//! noise in one run); a registry lookup on every call would cost 4.4x and
//! 4.7x the by-name form, hence the expansion's `static`.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_driver::registry;
use failsafe_thread::{BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, policy};

/// The Python Failsafe's breaker: five failures in a row.
fn consecutive() -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(5)
        .build()
        .unwrap()
}

static BREAKER: LazyLock<CircuitBreakerPolicy<NoWindow>> =
    LazyLock::new(|| CircuitBreakerPolicy::new(consecutive(), NoWindow));

fn bare(x: u64) -> Result<u64, ()> {
    Ok(black_box(x))
}

#[policy(BREAKER)]
fn decorated(x: u64) -> Result<u64, Error<()>> {
    Ok(black_box(x))
}

fn by_hand(x: u64) -> Result<u64, Error<()>> {
    BREAKER.call_blocking(|| Ok(black_box(x)))
}

/// The same breaker by name: looked up at the first call, kept in the
/// expansion's `static`.
#[policy(name = "bench.breaker", handle = CircuitBreakerPolicy<NoWindow>)]
fn decorated_by_name(x: u64) -> Result<u64, Error<()>> {
    Ok(black_box(x))
}

/// What the expansion's `static` saves: the registry's lookup on every call.
fn looked_up_per_call(x: u64) -> Result<u64, Error<()>> {
    let breaker = registry::global()
        .handle::<CircuitBreakerPolicy<NoWindow>>("bench.breaker")
        .unwrap();
    breaker.call_blocking(|| Ok(black_box(x)))
}

static TOKIO_BREAKER: LazyLock<failsafe_tokio::CircuitBreakerPolicy<NoWindow>> =
    LazyLock::new(|| failsafe_tokio::CircuitBreakerPolicy::new(consecutive(), NoWindow));

#[policy(TOKIO_BREAKER)]
async fn decorated_async(x: u64) -> Result<u64, Error<()>> {
    Ok(black_box(x))
}

async fn by_hand_async(x: u64) -> Result<u64, Error<()>> {
    TOKIO_BREAKER
        .call(move || async move { Ok(black_box(x)) })
        .await
}

fn blocking(c: &mut Criterion) {
    let mut g = c.benchmark_group("decorator/blocking");
    g.bench_function("#[policy(B)] fn", |b| b.iter(|| decorated(black_box(7))));
    g.bench_function("B.call_blocking by hand", |b| {
        b.iter(|| by_hand(black_box(7)))
    });
    g.bench_function("bare fn (no breaker)", |b| b.iter(|| bare(black_box(7))));
    registry::global()
        .register("bench.breaker", BREAKER.clone())
        .unwrap();
    g.bench_function("#[policy(name = .., handle = ..)] fn", |b| {
        b.iter(|| decorated_by_name(black_box(7)))
    });
    g.bench_function("registry lookup per call", |b| {
        b.iter(|| looked_up_per_call(black_box(7)))
    });
    g.finish();
}

fn asynchronous(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("decorator/async");
    g.bench_function("#[policy(B)] async fn", |b| {
        b.iter(|| runtime.block_on(decorated_async(black_box(7))))
    });
    g.bench_function("B.call by hand", |b| {
        b.iter(|| runtime.block_on(by_hand_async(black_box(7))))
    });
    g.finish();
}

fn config() -> Criterion {
    // The benches/ crate's settings: about 15 s for this file.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = blocking, asynchronous
}
criterion_main!(benches);
