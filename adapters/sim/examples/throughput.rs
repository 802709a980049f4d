//! The bench's run (breaker + retry + rate limiter, 1,000 calls/s of
//! simulated time, 1% errors) as a plain program, for `perf stat`: prints
//! the simulated calls and the wall time.
//!
//! `cargo run --release -p failsafe-sim --example throughput [RUNS]`

#![allow(missing_docs, clippy::print_stdout)]

use core::time::Duration;

use failsafe_sim::dependency::Dependency;
use failsafe_sim::engine::{Engine, Traffic};
use failsafe_sim::metrics::Recorder;
use failsafe_sim::suite::parse;

/// The run: `benches/steady.toml`.
const SUITE: &str = include_str!("../benches/steady.toml");

fn main() {
    let runs: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let suite = parse(SUITE, "throughput").expect("valid");
    let (scenario, pipeline) = (&suite.scenarios[0], &suite.pipelines[0]);
    let started = std::time::Instant::now();
    let mut calls = 0;
    for seed in 0..u64::from(runs) {
        let built = pipeline.build().expect("valid");
        let dependency = Dependency::new(&scenario.dependency);
        let duration = scenario.duration;
        let recorder = Recorder::new(duration, Duration::from_secs(1));
        let mut engine = Engine::new(built, dependency, seed, recorder);
        engine.run(
            Traffic::Open {
                rate: scenario.rate_per_sec,
            },
            duration,
            Duration::from_secs(60),
            &mut |_| {},
        );
        calls += engine.recorder.offered;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{calls} simulated calls in {secs:.3} s of wall time: {:.2} M calls/s (wall)",
        calls as f64 / secs / 1e6
    );
}
