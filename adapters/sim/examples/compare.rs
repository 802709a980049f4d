//! The built-in suite (quick) through both engines, side by side: the
//! event-loop engine and the driver's async `Pipeline` on virtual time.
//!
//! `cargo run --release -p failsafe-sim --example compare`

#![allow(missing_docs, clippy::print_stdout)]

use failsafe_sim::driver_engine::run_driver;
use failsafe_sim::report::table;
use failsafe_sim::run::run;
use failsafe_sim::suite::{DEFAULT, parse, pipelines_of, quick, seed_of};

fn main() {
    let mut suite = parse(DEFAULT, "built-in").expect("valid");
    if std::env::args().nth(1).as_deref() != Some("--full") {
        quick(&mut suite);
    }
    let mut rows = Vec::new();
    for (i, scenario) in suite.scenarios.iter().enumerate() {
        // Instances sharing a limit run one model on either engine.
        if scenario.shared.is_some() {
            continue;
        }
        for pipeline in pipelines_of(&suite, scenario) {
            let seed = seed_of(suite.seed, i);
            let mut a = run(scenario, pipeline, seed, &mut |_| {}).expect("runs");
            let mut b = run_driver(scenario, pipeline, seed).expect("runs");
            a.pipeline = format!("{} [engine]", a.pipeline);
            b.pipeline = format!("{} [driver]", b.pipeline);
            rows.push(a);
            rows.push(b);
        }
    }
    print!("{}", table(&rows));
}
