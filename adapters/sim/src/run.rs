//! Runs a scenario with a pipeline and sums the run up ([`RunReport`]).

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::retry::RetryBudget;

use crate::dependency::Dependency;
use crate::engine::{Engine, Traffic};
use crate::metrics::{Bucket, Recorder};
use crate::pipeline::{SpecError, Transition};
use crate::spec::{PipelineSpec, ScenarioSpec};

/// One scenario run with one pipeline, summed up.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// Client calls offered.
    pub offered: u64,
    /// Client calls that succeeded.
    pub succeeded: u64,
    /// Client calls that failed with the dependency's error.
    pub failed: u64,
    /// Client calls rejected fast by an admission machine.
    pub rejected: u64,
    /// Client calls that timed out.
    pub timed_out: u64,
    /// Client calls still open when the run stopped (hung).
    pub unfinished: u64,
    /// Attempts that reached the dependency.
    pub reached: u64,
    /// p50 latency of the calls that ended.
    pub p50: Duration,
    /// p99 latency.
    pub p99: Duration,
    /// p99.9 latency.
    pub p999: Duration,
    /// Time from the dependency's recovery to the first bucket where 95% of
    /// the calls ending succeed: `None` if the scenario has no recovery,
    /// `Some(None)` if that never happened.
    pub recovery: Option<Option<Duration>>,
    /// When the last call ended.
    pub completion: Duration,
    /// Breaker and fail fast state changes.
    pub transitions: Vec<Transition>,
    /// The time series.
    pub series: Vec<Bucket>,
    /// Width of one bucket.
    pub bucket: Duration,
    /// What a scenario of instances sharing one limit measured
    /// ([`crate::shared`]); `None` for every other scenario.
    pub shared: Option<crate::shared::SharedStats>,
}

impl RunReport {
    /// Calls reaching the dependency per client call offered.
    pub fn amplification(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            self.reached as f64 / self.offered as f64
        }
    }
}

/// A pipeline's spec the core rejected when building it (the core's
/// configurations themselves are validated when the file is read).
#[derive(Debug)]
pub enum RunError {
    /// A pipeline's value.
    Pipeline(SpecError),
    /// A scenario of instances sharing a limit run with a pipeline that
    /// does not say how they share it (what is missing).
    Shared(String),
    /// Virtual time stopped: about a million events came due at one
    /// instant beyond a few for each call in flight there
    /// ([`Engine::stalled`]; in the driver's engine, sleeps already over
    /// and attempts entered), so the run stopped there.
    Stalled {
        /// The scenario.
        scenario: String,
        /// The pipeline.
        pipeline: String,
        /// Where time stopped, from the run's start.
        at: Duration,
    },
}

impl core::fmt::Display for RunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RunError::Pipeline(e) => e.fmt(f),
            RunError::Shared(e) => f.write_str(e),
            RunError::Stalled {
                scenario,
                pipeline,
                at,
            } => write!(
                f,
                "scenario \"{scenario}\" with pipeline \"{pipeline}\": virtual time stopped at {at:?} (over a million events at that one instant, more than its calls in flight account for): a retry with no delay against a dependency that answers at once, or against a machine that keeps refusing (a full bulkhead that never queues, a breaker forced open)? Give the retry a backoff, the dependency a latency, or the call a timeout"
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl RunError {
    /// Time stopped at `at` in `scenario`'s run with `pipeline` (either
    /// engine).
    pub(crate) fn stalled(scenario: &ScenarioSpec, pipeline: &PipelineSpec, at: Instant) -> Self {
        RunError::Stalled {
            scenario: scenario.name.clone(),
            pipeline: pipeline.name.clone(),
            at: at.saturating_duration_since(Instant::ZERO),
        }
    }
}

/// The width of one bucket of a scenario's time series.
pub fn bucket_of(scenario: &ScenarioSpec) -> Duration {
    scenario
        .bucket
        .unwrap_or(scenario.duration / 240)
        .max(Duration::from_millis(1))
}

/// Runs `scenario` with `pipeline`, seeded by `seed` (a scenario of
/// instances sharing a limit runs
/// [`run_shared`](crate::shared::run_shared) instead).
///
/// # Errors
///
/// A value of the pipeline or the dependency the core rejects;
/// [`RunError::Stalled`] if virtual time stopped.
pub fn run(
    scenario: &ScenarioSpec,
    pipeline: &PipelineSpec,
    seed: u64,
    progress: &mut dyn FnMut(Instant),
) -> Result<RunReport, RunError> {
    if scenario.shared.is_some() {
        return crate::shared::run_shared(scenario, pipeline, seed, progress);
    }
    let built = pipeline.build().map_err(RunError::Pipeline)?;
    let dependency = Dependency::new(&scenario.dependency);
    let duration = scenario.duration;
    let bucket = bucket_of(scenario);
    let drain = scenario.drain.unwrap_or(crate::engine::DRAIN);
    // The series covers the run and its drain.
    let recorder = Recorder::new(duration.saturating_add(drain), bucket);
    let traffic = match scenario.clients {
        Some(n) => Traffic::Closed { n },
        None => Traffic::Open {
            rate: scenario.rate_per_sec,
        },
    };
    // Without a budget, calls that never consult one (the same run).
    let (recorder, unfinished, stalled) = if built.has_budget() {
        let engine = Engine::new(built, dependency, seed, recorder);
        finish(engine, traffic, duration, drain, progress)
    } else {
        let engine = Engine::unbudgeted(built, dependency, seed, recorder);
        let engine = engine.expect("a pipeline without a budget");
        finish(engine, traffic, duration, drain, progress)
    };
    if let Some(at) = stalled {
        return Err(RunError::stalled(scenario, pipeline, at));
    }
    Ok(summarize(
        scenario, pipeline, recorder, unfinished, duration, bucket,
    ))
}

/// Runs `engine` and hands back what it recorded, the calls left
/// unfinished and where time stopped, if it did.
fn finish<G: RetryBudget>(
    mut engine: Engine<G>,
    traffic: Traffic,
    duration: Duration,
    drain: Duration,
    progress: &mut dyn FnMut(Instant),
) -> (Recorder, u64, Option<Instant>) {
    engine.run(traffic, duration, drain, progress);
    let (unfinished, stalled) = (engine.calls_in_flight(), engine.stalled());
    (engine.recorder, unfinished, stalled)
}

/// Sums a run up from what it recorded.
pub fn summarize(
    scenario: &ScenarioSpec,
    pipeline: &PipelineSpec,
    mut rec: Recorder,
    unfinished: u64,
    duration: Duration,
    bucket: Duration,
) -> RunReport {
    // Trim the series after the last activity.
    let last = rec
        .series
        .iter()
        .rposition(|b| *b != Bucket::default())
        .map_or(1, |i| i + 1)
        .max((duration.as_nanos() / bucket.as_nanos().max(1)) as usize)
        .min(rec.series.len());
    rec.series.truncate(last);
    // hdrhistogram answers the highest value equivalent to the quantile's
    // bucket (3 significant digits), which can exceed every latency
    // recorded (250 ms as 250.1 ms): a quantile is at most the longest
    // latency of a call that ended, which the series keeps exactly.
    let longest_us = rec
        .series
        .iter()
        .map(|b| b.latency_max_us)
        .max()
        .unwrap_or(0);
    let q = |p: f64| Duration::from_micros(rec.latency.value_at_quantile(p).min(longest_us));
    let recovery = scenario
        .recovers_at
        .map(|at| recovery(&rec, at, bucket, duration));
    RunReport {
        scenario: scenario.name.clone(),
        pipeline: pipeline.name.clone(),
        offered: rec.offered,
        succeeded: rec.succeeded,
        failed: rec.failed,
        rejected: rec.rejected,
        timed_out: rec.timed_out,
        unfinished,
        reached: rec.reached,
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        recovery,
        completion: rec.last_end.saturating_duration_since(Instant::ZERO),
        transitions: rec.transitions,
        series: rec.series,
        bucket,
        shared: None,
    }
}

/// Time from `recovered` to the end of the first bucket starting at or
/// after it, and before the traffic stops at `duration`, in which at least
/// 95% of the calls that ended succeeded.
fn recovery(
    rec: &Recorder,
    recovered: Duration,
    bucket: Duration,
    duration: Duration,
) -> Option<Duration> {
    let width = bucket.as_nanos().max(1);
    let first = recovered.as_nanos().div_ceil(width) as usize;
    let last = duration.as_nanos().div_ceil(width) as usize;
    rec.series
        .iter()
        .enumerate()
        .take(last)
        .skip(first)
        .find_map(|(i, b)| {
            let ended = b.succeeded + b.unsucceeded;
            (ended > 0 && b.succeeded * 100 >= ended * 95).then(|| {
                let end = Duration::from_nanos(((i as u128 + 1) * width) as u64);
                end.saturating_sub(recovered)
            })
        })
}
