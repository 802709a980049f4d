//! The bench's run (breaker + retry + rate limiter, 1,000 calls/s of
//! simulated time, 1% errors) as a plain program, for `perf stat`: prints
//! the simulated calls and the wall time.
//!
//! It runs what `benches/engine.rs` times, through the same functions
//! (`run::run`, seed 7; and the driver engine once, on 10 s of the run,
//! as the bench's setup runs it), so that the compiler builds the engine's loop as it does
//! in the bench: with the driver engine linked in, the functions the two
//! engines share are inlined differently (a program driving the engine
//! alone ran about 9% more calls per CPU-second than the bench's code).
//!
//! `CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
//! cargo run --release -p failsafe-sim --example throughput [RUNS]`, or
//! `cargo build --profile bench -p failsafe-sim --example throughput`
//! then `perf stat target/release/examples/throughput 10`.

#![allow(missing_docs, clippy::print_stdout)]

use core::time::Duration;

use failsafe_sim::driver_engine::run_driver;
use failsafe_sim::run::run;
use failsafe_sim::suite::parse;

/// The run: `benches/steady.toml`.
const SUITE: &str = include_str!("../benches/steady.toml");

fn main() {
    let runs: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut suite = parse(SUITE, "throughput").expect("valid");
    // As the bench's setup runs it (briefly: 10,000 calls).
    suite.scenarios[0].duration = Duration::from_secs(10);
    let (scenario, pipeline) = (&suite.scenarios[0], &suite.pipelines[0]);
    run_driver(scenario, pipeline, 7).expect("runs");
    let mut suite = parse(SUITE, "throughput").expect("valid");
    suite.scenarios[0].duration = Duration::from_secs(1_000);
    let (scenario, pipeline) = (&suite.scenarios[0], &suite.pipelines[0]);
    let started = std::time::Instant::now();
    let mut calls = 0;
    for _ in 0..runs {
        calls += run(scenario, pipeline, 7, &mut |_| {})
            .expect("runs")
            .offered;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{calls} simulated calls in {secs:.3} s of wall time: {:.2} M calls/s (wall)",
        calls as f64 / secs / 1e6
    );
}
