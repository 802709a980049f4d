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

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::Instant;
use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgePlan, LatencyQuantile};
use failsafe_core::plan::{Action, Judged, Plan, PlanEvent};
use failsafe_core::retry::NoBudget;
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::timeout::Deadline;
use hdrhistogram::Histogram;

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

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2_500))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = decision
}
criterion_main!(benches);
