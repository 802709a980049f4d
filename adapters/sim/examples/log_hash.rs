//! Hashes the full event log of every run of the built-in suite (full and
//! `--quick`, three seeds) and of the speed bench's run: one line per run.
//! A change meant to make the engine faster without changing what it
//! computes must leave every line as it was (compare the output before
//! and after).
//!
//! `cargo run --release -p failsafe-sim --example log_hash > hashes.txt`

#![allow(missing_docs, clippy::print_stdout)]

use core::hash::{Hash, Hasher};
use std::collections::hash_map::DefaultHasher;

use failsafe_sim::dependency::Dependency;
use failsafe_sim::engine::{Engine, Traffic};
use failsafe_sim::metrics::Recorder;
use failsafe_sim::run::bucket_of;
use failsafe_sim::spec::SuiteSpec;
use failsafe_sim::suite::{DEFAULT, parse, pipelines_of, quick, seed_of};

/// The speed bench's run.
const STEADY: &str = include_str!("../benches/steady.toml");

fn hash_suite(label: &str, suite: &SuiteSpec) {
    for (i, scenario) in suite.scenarios.iter().enumerate() {
        // Instances sharing a limit do not run on the engine.
        if scenario.shared.is_some() {
            continue;
        }
        for pipeline in pipelines_of(suite, scenario) {
            let seed = seed_of(suite.seed, i);
            let built = pipeline.build().expect("valid");
            let dependency = Dependency::new(&scenario.dependency);
            let drain = scenario.drain.unwrap_or(failsafe_sim::engine::DRAIN);
            let recorder = Recorder::new(scenario.duration + drain, bucket_of(scenario));
            let mut engine = Engine::new(built, dependency, seed, recorder);
            engine.keep_log();
            let traffic = match scenario.clients {
                Some(n) => Traffic::Closed { n },
                None => Traffic::Open {
                    rate: scenario.rate_per_sec,
                },
            };
            engine.run(traffic, scenario.duration, drain, &mut |_| {});
            let mut h = DefaultHasher::new();
            for e in engine.log() {
                format!("{e:?}").hash(&mut h);
            }
            println!(
                "{label:<16} {:<16} {:<30} {:>9} events  {:016x}",
                scenario.name,
                pipeline.name,
                engine.log().len(),
                h.finish()
            );
        }
    }
}

fn main() {
    for seed in [42, 7, 2024] {
        let mut suite = parse(DEFAULT, "default").expect("valid");
        suite.seed = seed;
        hash_suite(&format!("seed {seed}"), &suite);
        quick(&mut suite);
        hash_suite(&format!("seed {seed} quick"), &suite);
    }
    let mut steady = parse(STEADY, "steady").expect("valid");
    steady.scenarios[0].duration = core::time::Duration::from_secs(100);
    steady.seed = 7;
    hash_suite("steady", &steady);
}
