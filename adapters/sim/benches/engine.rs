//! How many simulated client calls run per second of real time, for a
//! breaker + retry + rate limiter pipeline against a dependency answering
//! in 20-30 ms with 1% errors (open traffic, 1,000 calls/s of simulated
//! time): the event-loop engine, and side by side the same run through the
//! driver's async `Pipeline` on a virtual-time runtime (`--driver`).
//!
//! `cargo bench -p failsafe-sim --bench engine`: criterion's throughput
//! line is simulated calls per second of real time.

#![allow(missing_docs)]

use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsafe_sim::driver_engine::run_driver;
use failsafe_sim::run::run;
use failsafe_sim::spec::SuiteSpec;
use failsafe_sim::suite::parse;

/// The run: `benches/steady.toml`.
const SUITE: &str = include_str!("steady.toml");

fn suite(seconds: u64) -> SuiteSpec {
    let mut suite = parse(SUITE, "bench").expect("valid");
    suite.scenarios[0].duration = Duration::from_secs(seconds);
    suite
}

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    // 1,000 s at 1,000 calls/s: about a million calls (the same every
    // run: one seed).
    let s = suite(1_000);
    let (scenario, pipeline) = (&s.scenarios[0], &s.pipelines[0]);
    let calls = run(scenario, pipeline, 7, &mut |_| {})
        .expect("runs")
        .offered;
    group.throughput(Throughput::Elements(calls));
    group.bench_function("engine: breaker+retry+rate, 1% errors", |b| {
        b.iter(|| run(scenario, pipeline, 7, &mut |_| {}).expect("runs"))
    });
    // The driver's Pipeline is slower: a tenth of the run.
    let s = suite(100);
    let (scenario, pipeline) = (&s.scenarios[0], &s.pipelines[0]);
    let calls = run_driver(scenario, pipeline, 7).expect("runs").offered;
    group.throughput(Throughput::Elements(calls));
    group.bench_function("driver Pipeline: breaker+retry+rate, 1% errors", |b| {
        b.iter(|| run_driver(scenario, pipeline, 7).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
