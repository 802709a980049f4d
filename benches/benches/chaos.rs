//! The chaos layer when it injects nothing, next to a bare tower service
//! and tower-resilience 0.13's `ChaosLayer`, in one run: what a request
//! pays around a ready service (`ready().await` + `call().await` on a
//! `service_fn` that answers at once), on one current-thread tokio runtime.
//!
//! - nothing configured: failsafe's `ChaosConfig::NONE` (the switch's
//!   relaxed load, one clock read, the decision's rate checks, no draw) vs
//!   tower-resilience's default builder (no error, no latency);
//! - rates drawn per call: failsafe with a 1 ppm outcome and a 1 ppm
//!   zero-length latency (a clock read, a generator from the policy's
//!   seeds and two draws per call, nothing injected in practice) vs tower-resilience
//!   with a 1e-6 latency rate of zero length (its `StdRng` behind a mutex,
//!   one draw);
//! - switched off at run time: failsafe's layer with the drawing
//!   configuration and `set_enabled(false)` (one relaxed load, no clock).
//!
//! Ratios (peer / ours) are read from criterion's estimates.

use std::convert::Infallible;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
use failsafe_tokio::TokioClock;
use failsafe_tower::ChaosLayer;
use tower::{Layer, Service};
use tower_resilience::chaos::ChaosLayer as TrChaosLayer;

#[path = "common/tower_harness.rs"]
#[allow(
    dead_code,
    reason = "the retry policy `Attempts` is for the retry benches"
)]
mod harness;
use harness::{inner, one_request, requests};

/// The inner service never fails, so no error fault is configured.
fn no_error() -> Infallible {
    unreachable!("no error fault is configured")
}

/// Our policy, with plain function pointers for the error and the outcome.
type Policy = ChaosPolicy<Chaos, fn() -> Infallible, fn() -> Result<u32, Infallible>>;

fn ours(config: ChaosConfig) -> ChaosLayer<Policy, TokioClock> {
    let outcome: fn() -> Result<u32, Infallible> = || Ok(0);
    let policy = ChaosPolicy::new(Chaos::new(config), no_error as fn() -> Infallible, outcome);
    ChaosLayer::new(policy.seed(1), TokioClock)
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let drawn = ChaosConfig::builder()
        .outcome(Rate::per_million(1), Schedule::Always)
        .latency(
            Rate::per_million(1),
            Duration::ZERO,
            Duration::ZERO,
            Schedule::Always,
        )
        .build()
        .unwrap();
    let ours_none = ours(ChaosConfig::NONE).layer(inner());
    let ours_drawn = ours(drawn).layer(inner());
    let ours_off = ours(drawn).layer(inner());
    ours_off.layer().policy().chaos().set_enabled(false);
    let theirs_none = TrChaosLayer::builder().seed(1).build().layer(inner());
    let theirs_drawn = TrChaosLayer::builder()
        .latency_rate(1e-6)
        .min_latency(Duration::ZERO)
        .max_latency(Duration::ZERO)
        .seed(1)
        .build()
        .layer(inner());

    // Sanity: every service answers.
    rt.block_on(async {
        assert_eq!(one_request(&mut ours_none.clone()).await, 1);
        assert_eq!(one_request(&mut ours_drawn.clone()).await, 1);
        assert_eq!(one_request(&mut theirs_none.clone()).await, 1);
        assert_eq!(one_request(&mut theirs_drawn.clone()).await, 1);
    });

    eprintln!(
        "future sizes: failsafe ChaosFuture {} B (inner future {} B), tower-resilience boxed",
        size_of_val(&ours_none.clone().call(1)),
        size_of_val(&inner().call(1)),
    );

    let mut g = c.benchmark_group("chaos/no injection");
    g.bench_function("bare service_fn", |b| requests(b, &rt, inner));
    g.bench_function("failsafe-tower ChaosLayer (nothing configured)", |b| {
        requests(b, &rt, || ours_none.clone())
    });
    g.bench_function(
        "tower-resilience 0.13 ChaosLayer (nothing configured)",
        |b| requests(b, &rt, || theirs_none.clone()),
    );
    g.bench_function("failsafe-tower ChaosLayer (rates drawn per call)", |b| {
        requests(b, &rt, || ours_drawn.clone())
    });
    g.bench_function(
        "tower-resilience 0.13 ChaosLayer (rate drawn per call)",
        |b| requests(b, &rt, || theirs_drawn.clone()),
    );
    g.bench_function("failsafe-tower ChaosLayer (switched off)", |b| {
        requests(b, &rt, || ours_off.clone())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = harness::criterion_config();
    targets = layers
}
criterion_main!(benches);
