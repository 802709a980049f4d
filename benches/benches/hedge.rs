//! The hedge's per-call decision next to what tower's hedge pays per
//! request for its latency quantile, in one report.
//!
//! Group `hedge/decision` (single thread, no clock: `now` is a counter):
//!
//! - `failsafe-core HedgePlan, quantile delay`: one call's plan built, its
//!   first attempt started, the quantile delay read (a `CsLock` over a
//!   `LatencyQuantile`), the attempt's success judged and the winner's
//!   latency recorded: everything the core decides for a call whose first
//!   attempt answers before the hedge;
//! - `failsafe-core LatencyQuantile::record`: recording one latency (the
//!   quantile itself is recomputed once per period, not per request);
//! - `hdrhistogram value_at_quantile(0.95)`: the per-request read tower's
//!   hedge does (`tower::hedge` keeps a rotating `hdrhistogram` and asks it
//!   for the quantile on every request), on a histogram holding 10,000
//!   recent latencies;
//! - `hdrhistogram record`: recording one latency there.
//!
//! Group `hedge/layer` (failsafe issue 10): one request (`ready().await` +
//! `call().await`) through a hedge around a ready `service_fn` that answers
//! at once, on one current-thread tokio runtime (the shared tower harness,
//! as `benches/tower.rs` and `benches/pipeline.rs` use it). The first
//! attempt always wins, so no hedge is ever sent: what each layer costs a
//! request whose hedge is armed but never fires.
//!
//! - `failsafe-tower HedgeLayer`: `HedgeLayer::idempotent(config,
//!   TokioClock)`, 2 attempts, `HedgeDelay::Fixed(10 ms)`;
//! - `tower 0.5 Hedge`: `tower::hedge::Hedge::new_with_mock_latencies`
//!   (2 attempts is all it does), the hedge at the 95th percentile of the
//!   rotating histogram, at least 100 data points, 1 s period, the
//!   histogram seeded with 1,000 latencies of 10 ms so the hedge is armed
//!   from the first request (with `Hedge::new` it stays unarmed, a plain
//!   pass-through, until the first full period has been recorded);
//! - `tower-resilience 0.13 HedgeLayer`: `HedgeLayer::builder()` with
//!   `.delay(10 ms)` and `.max_hedged_attempts(2)`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::Instant;
use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgePlan, LatencyQuantile};
use failsafe_core::plan::{Action, Judged, Plan, PlanEvent};
use failsafe_core::retry::NoBudget;
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::timeout::Deadline;
use failsafe_tokio::TokioClock;
use failsafe_tower::HedgeLayer;
use hdrhistogram::Histogram;
use tower::{Layer, ServiceExt};
use tower_resilience::hedge::HedgeLayer as TrHedgeLayer;

#[path = "common/tower_harness.rs"]
#[allow(
    dead_code,
    reason = "the retry policy `Attempts` is for the retry benches"
)]
mod harness;
use harness::{inner, one_request, requests};

fn decision(c: &mut Criterion) {
    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Quantile)
        .build()
        .unwrap();
    let latencies = CsLock::new(LatencyQuantile::new(
        9_500,
        Duration::from_millis(50),
        100,
        Duration::from_secs(1),
    ));
    let mut hdr = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for i in 0..10_000u64 {
        hdr.record(1_000 + (i * 7_919) % 50_000).unwrap();
        latencies.with(|q| {
            q.record(
                Instant::from_micros(i),
                Duration::from_micros(1_000 + (i * 7_919) % 50_000),
            )
        });
    }
    // Sanity: a call's first attempt wins before the hedge.
    let mut plan = HedgePlan::new(
        config,
        Deadline::NEVER,
        &NoBudget,
        &latencies,
        (),
        Instant::ZERO,
    );
    assert!(matches!(plan.poll_action(Instant::ZERO), Action::Start(_)));

    let mut g = c.benchmark_group("hedge/decision");
    let mut t = 1_000_000_000u64;
    g.bench_function("failsafe-core HedgePlan, quantile delay (one call)", |b| {
        b.iter(|| {
            t += 1_000;
            let now = Instant::from_nanos(t);
            let mut plan = HedgePlan::new(config, Deadline::NEVER, &NoBudget, &latencies, (), now);
            let started = plan.poll_action(now);
            let waiting = plan.poll_action(now); // the hedge's instant: the quantile
            let end = Instant::from_nanos(t + 500);
            plan.on_event(
                end,
                PlanEvent::Ended {
                    attempt: 1,
                    judged: Judged::SUCCESS,
                },
            );
            black_box((started, waiting, plan.poll_action(end)))
        })
    });
    g.bench_function("failsafe-core LatencyQuantile::record", |b| {
        let mut q = LatencyQuantile::new(
            9_500,
            Duration::from_millis(50),
            100,
            Duration::from_secs(1),
        );
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            q.record(
                Instant::from_micros(i),
                Duration::from_micros(1_000 + (i * 7_919) % 50_000),
            );
        })
    });
    g.bench_function(
        "hdrhistogram 7 value_at_quantile(0.95) (tower's hedge, per request)",
        |b| b.iter(|| black_box(hdr.value_at_quantile(black_box(0.95)))),
    );
    g.bench_function("hdrhistogram 7 record", |b| {
        let mut h = hdr.clone();
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            h.record(1_000 + (i * 7_919) % 50_000).unwrap();
        })
    });
    g.finish();
}

/// The hedge's fixed delay (failsafe, tower-resilience) and the latency
/// seeded into tower's histogram (so its p95 is the same).
const HEDGE_AFTER: Duration = Duration::from_millis(10);

/// tower's hedge policy: every request may be cloned and hedged (what
/// `HedgeLayer::idempotent` and tower-resilience's `AlwaysHedge` do).
#[derive(Clone, Debug)]
struct Idempotent;

impl tower::hedge::Policy<u32> for Idempotent {
    fn clone_request(&self, req: &u32) -> Option<u32> {
        Some(*req)
    }

    fn can_retry(&self, _: &u32) -> bool {
        true
    }
}

fn layer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();

    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(HEDGE_AFTER))
        .build()
        .unwrap();
    let ours = HedgeLayer::idempotent(config, TokioClock).layer(inner());
    let seeded = [u64::try_from(HEDGE_AFTER.as_millis()).unwrap(); 1_000];
    let tower_hedge = || {
        tower::hedge::Hedge::new_with_mock_latencies(
            inner(),
            Idempotent,
            100,
            0.95,
            Duration::from_secs(1),
            &seeded,
        )
    };
    let tr_hedge = TrHedgeLayer::builder()
        .delay(HEDGE_AFTER)
        .max_hedged_attempts(2)
        .build()
        .layer(inner());

    // Sanity: every service answers Ok, with the request's value.
    rt.block_on(async {
        assert_eq!(ours.clone().oneshot(7).await.unwrap(), 7);
        assert_eq!(tower_hedge().oneshot(7).await.unwrap(), 7);
        assert_eq!(tr_hedge.clone().oneshot(7).await.unwrap(), 7);
        assert_eq!(one_request(&mut ours.clone()).await, 1);
        assert_eq!(one_request(&mut tower_hedge()).await, 1);
        assert_eq!(one_request(&mut tr_hedge.clone()).await, 1);
    });

    let mut g = c.benchmark_group("hedge/layer");
    g.bench_function("bare service_fn", |b| requests(b, &rt, inner));
    g.bench_function("failsafe-tower HedgeLayer (fixed 10 ms, 2 attempts)", |b| {
        requests(b, &rt, || ours.clone())
    });
    g.bench_function("tower 0.5 Hedge (p95, 2 attempts)", |b| {
        requests(b, &rt, tower_hedge)
    });
    g.bench_function(
        "tower-resilience 0.13 HedgeLayer (fixed 10 ms, 2 attempts)",
        |b| requests(b, &rt, || tr_hedge.clone()),
    );
    g.finish();
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
    targets = decision, layer
}
criterion_main!(benches);
