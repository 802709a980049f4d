//! A pipeline without a retry budget runs on `Engine<NoBudget>` (calls
//! that never consult a budget, and whose first attempt runs without the
//! retry plan when the call has no timeout): the same run, event for
//! event, as on `Engine<AnyBudget>` with `AnyBudget::None` (every call
//! led by its plan), for every pipeline of the built-in suite (quick)
//! that has no budget, for the speed bench's run, and for a run where
//! time stops (a retry with no delay against a full bulkhead).

use failsafe_core::retry::RetryBudget;
use failsafe_sim::dependency::Dependency;
use failsafe_sim::engine::{DRAIN, Engine, SimEvent, Traffic};
use failsafe_sim::metrics::Recorder;
use failsafe_sim::run::bucket_of;
use failsafe_sim::spec::ScenarioSpec;
use failsafe_sim::suite::{DEFAULT, parse, pipelines_of, quick, seed_of};

/// The speed bench's run.
const STEADY: &str = include_str!("../benches/steady.toml");

fn log_of<G: RetryBudget>(mut engine: Engine<G>, scenario: &ScenarioSpec) -> Vec<SimEvent> {
    engine.keep_log();
    let traffic = match scenario.clients {
        Some(n) => Traffic::Closed { n },
        None => Traffic::Open {
            rate: scenario.rate_per_sec,
        },
    };
    let drain = scenario.drain.unwrap_or(DRAIN);
    engine.run(traffic, scenario.duration, drain, &mut |_| {});
    engine.log().to_vec()
}

fn parts(scenario: &ScenarioSpec) -> (Dependency, Recorder) {
    let drain = scenario.drain.unwrap_or(DRAIN);
    (
        Dependency::new(&scenario.dependency),
        Recorder::new(scenario.duration + drain, bucket_of(scenario)),
    )
}

#[test]
fn a_pipeline_without_a_budget_runs_the_same_on_either_engine() {
    let mut suite = parse(DEFAULT, "default").expect("valid");
    quick(&mut suite);
    let mut compared = 0;
    for (i, scenario) in suite.scenarios.iter().enumerate() {
        if scenario.shared.is_some() {
            continue;
        }
        for pipeline in pipelines_of(&suite, scenario) {
            let seed = seed_of(suite.seed, i);
            let Some(unbudgeted) = ({
                let (dependency, recorder) = parts(scenario);
                Engine::unbudgeted(pipeline.build().expect("valid"), dependency, seed, recorder)
            }) else {
                continue; // a pipeline with a budget
            };
            let (dependency, recorder) = parts(scenario);
            let general = Engine::new(pipeline.build().expect("valid"), dependency, seed, recorder);
            let (a, b) = (log_of(unbudgeted, scenario), log_of(general, scenario));
            assert!(!a.is_empty());
            assert!(
                a == b,
                "{} / {}: the two engines' logs differ",
                scenario.name,
                pipeline.name
            );
            compared += 1;
        }
    }
    eprintln!("{compared} runs compared");
    assert!(compared >= 5, "only {compared} runs compared");
}

#[test]
fn the_speed_bench_runs_the_same_on_either_engine() {
    let mut suite = parse(STEADY, "steady").expect("valid");
    // 20 s of it: about 20,000 calls, some 200 of them retried.
    suite.scenarios[0].duration = core::time::Duration::from_secs(20);
    let (scenario, pipeline) = (&suite.scenarios[0], &suite.pipelines[0]);
    let (dependency, recorder) = parts(scenario);
    let unbudgeted = Engine::unbudgeted(pipeline.build().expect("valid"), dependency, 7, recorder)
        .expect("no budget");
    let (dependency, recorder) = parts(scenario);
    let general = Engine::new(pipeline.build().expect("valid"), dependency, 7, recorder);
    let (a, b) = (log_of(unbudgeted, scenario), log_of(general, scenario));
    let retried = a
        .iter()
        .filter(|e| matches!(e, SimEvent::AttemptStarted { attempt: 2, .. }))
        .count();
    assert!(retried > 50, "only {retried} calls retried");
    assert!(a == b, "the two engines' logs differ");
}

/// A retry with no delay against a bulkhead that is full for an hour: the
/// second call's refusals stop time ([`Engine::stalled`]); a call arriving
/// after that is refused once and goes no further, on either engine.
#[test]
fn a_run_where_time_stops_ends_the_same_on_either_engine() {
    use core::time::Duration;
    use failsafe_core::bulkhead::BulkheadConfig;
    use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
    use failsafe_sim::dependency::Scripted;
    use failsafe_sim::pipeline::Built;

    let built = || {
        let spin = RetryConfig::builder()
            .unlimited_attempts()
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let one = BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::ZERO)
            .build()
            .unwrap();
        Built::unprotected().with_retry(spin).with_bulkhead(one)
    };
    let parts = || {
        (
            Dependency::scripted(Scripted::ok(Duration::from_secs(3600))),
            Recorder::new(Duration::from_secs(10), Duration::from_secs(1)),
        )
    };
    fn ran<G: RetryBudget>(
        mut engine: Engine<G>,
    ) -> (Vec<SimEvent>, Option<failsafe_core::Instant>, u64) {
        engine.keep_log();
        let second = Duration::from_secs(1);
        engine.run(Traffic::Closed { n: 3 }, second, second, &mut |_| {});
        (
            engine.log().to_vec(),
            engine.stalled(),
            engine.recorder.attempts_rejected,
        )
    }
    let (dependency, recorder) = parts();
    let alone = ran(Engine::unbudgeted(built(), dependency, 1, recorder).expect("no budget"));
    let (dependency, recorder) = parts();
    let planned = ran(Engine::new(built(), dependency, 1, recorder));
    assert!(alone.1.is_some(), "time stopped");
    let third: Vec<_> = alone
        .0
        .iter()
        .filter(|e| matches!(e, SimEvent::AttemptRejected { call: 3, .. }))
        .collect();
    assert_eq!(third.len(), 1, "the third call is refused once: {third:?}");
    assert!(alone == planned, "the two engines' runs differ");
}
