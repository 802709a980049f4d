//! How many simulated client calls the engine runs per second of real time,
//! for a breaker + retry + rate limiter pipeline against a dependency with
//! 1% errors (open traffic, 1,000 calls/s of simulated time).
//!
//! `cargo bench -p failsafe-sim --bench engine`: criterion's throughput
//! line is simulated calls per second of real time.

#![allow(missing_docs)]

use core::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsafe_sim::dependency::Dependency;
use failsafe_sim::engine::{Engine, Traffic};
use failsafe_sim::metrics::Recorder;
use failsafe_sim::spec::{
    BreakerSpec, ChaosSpec, DependencySpec, PipelineSpec, RateSpec, RetrySpec, RuleSpec,
    ScheduleSpec, WindowSpec,
};

fn pipeline() -> PipelineSpec {
    PipelineSpec {
        name: "breaker+retry+rate".into(),
        breaker: Some(BreakerSpec {
            failure_rate: 0.5,
            minimum_calls: 20,
            window: WindowSpec::Count,
            consecutive_failures: None,
            open_wait_ms: 5_000,
            half_open_probes: 1,
            slow_call_ms: None,
            slow_call_rate: None,
        }),
        rate_limit: Some(RateSpec {
            per_second: 2_000,
            burst: Some(50),
        }),
        retry: Some(RetrySpec {
            max_attempts: 3,
            backoff: Default::default(),
            jitter: Default::default(),
            retry_after: Default::default(),
            min_remaining_ms: None,
        }),
        ..PipelineSpec::default()
    }
}

fn dependency() -> DependencySpec {
    DependencySpec {
        latency_ms: 20,
        latency_jitter_ms: 10,
        chaos: ChaosSpec {
            error: Some(RuleSpec {
                percent: 1.0,
                schedule: ScheduleSpec::Always,
            }),
            ..ChaosSpec::default()
        },
        ..DependencySpec::default()
    }
}

fn engine(c: &mut Criterion) {
    const SECS: u64 = 1_000; // 1,000 s at 1,000 calls/s: about a million calls
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    // Count the calls once (same seed, same run every time).
    let calls = run(SECS);
    group.throughput(Throughput::Elements(calls));
    group.bench_function("breaker+retry+rate, 1000 calls/s, 1% errors", |b| {
        b.iter(|| run(SECS))
    });
    group.finish();
}

fn run(secs: u64) -> u64 {
    let spec = pipeline();
    let built = spec.build().expect("valid pipeline");
    let dep = Dependency::new(&dependency()).expect("valid dependency");
    let duration = Duration::from_secs(secs);
    let recorder = Recorder::new(duration, Duration::from_secs(1));
    let mut engine = Engine::new(built, dep, 7, recorder);
    engine.run(
        Traffic::Open { rate: 1_000.0 },
        duration,
        Duration::from_secs(60),
        &mut |_| {},
    );
    engine.recorder.offered
}

criterion_group!(benches, engine);
criterion_main!(benches);
