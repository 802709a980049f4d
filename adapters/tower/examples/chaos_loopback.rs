//! Chaos in front of a real server: an axum server on loopback whose
//! `ChaosLayer` injects an outage (every request answered 503 from 200 ms
//! to 700 ms after the run starts) and added latency (a fifth of the
//! requests 5-20 ms slower), with a fixed seed; a tokio client sends the
//! same bounded load (300 calls, one every 3 ms) three times: with no
//! protection, with a retry alone, and with a pipeline of a breaker, a
//! retry and timeouts. Prints one row per client, and exits non-zero if what the
//! protection is for does not show: the retry alone multiplies the calls
//! reaching the server during the outage (a retry storm), the breaker cuts
//! them to well under the unprotected client's.
//!
//! Then the same scenario runs in the simulator (`failsafe-sim`: the same
//! core machines in virtual time, the server modelled by the same chaos
//! configuration, Poisson arrivals at the same mean rate). Each real run is
//! recorded as the simulator records its own (every call's arrival and
//! end, every request the server saw, the breaker's state changes, in the
//! simulator's `Recorder`, summed up by its `summarize`), so the two print
//! in one table, the simulator's report table, row beside row; the
//! example also fails if the simulator tells a different story (the same
//! ordering of calls reaching the server and of failures between the
//! three clients).
//!
//! `cargo run -p failsafe-tower --example chaos_loopback`
#![allow(clippy::print_stdout)] // printing the table is the point

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use failsafe_core::breaker::{BreakerConfig, BreakerEvent, NoWindow};
use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
use failsafe_driver::{CircuitBreakerPolicy, Pipeline, PipelineError};
use failsafe_sim::metrics::{CallEnd, Recorder};
use failsafe_sim::pipeline::Transition;
use failsafe_sim::run::RunReport;
use failsafe_sim::spec::SuiteSpec;
use failsafe_tokio::TokioClock;
use failsafe_tower::ChaosLayer;
use std::sync::Mutex;

const CALLS: u32 = 300;
const EVERY: Duration = Duration::from_millis(3);
const OUTAGE: (Duration, Duration) = (Duration::from_millis(200), Duration::from_millis(700));

/// What the server saw: requests its handler answered, requests the
/// outage answered 503 (every request arriving during it), and when each
/// arrived (from the run's start).
struct Hits {
    served: AtomicU32,
    in_outage: AtomicU32,
    start: tokio::time::Instant,
    at: Mutex<Vec<Duration>>,
}

impl Hits {
    fn new(start: tokio::time::Instant) -> Hits {
        let (served, in_outage, at) = (AtomicU32::new(0), AtomicU32::new(0), Mutex::default());
        Hits {
            served,
            in_outage,
            start,
            at,
        }
    }

    fn arrived(&self) {
        let at = self.start.elapsed();
        self.at.lock().expect("not poisoned").push(at);
    }
}

/// Starts a server whose outage starts 200 ms after the run's start.
async fn serve(hits: Arc<Hits>) -> std::io::Result<String> {
    let now = TokioClock.to_core(hits.start);
    let (from, until) = (now + OUTAGE.0, now + OUTAGE.1);
    let (min, max) = (Duration::from_millis(5), Duration::from_millis(20));
    let config = ChaosConfig::builder()
        .outcome(Rate::ALWAYS, Schedule::Between { from, until })
        .latency(Rate::percent(20), min, max, Schedule::Always)
        .build()
        .expect("a valid chaos configuration");
    let counted = Arc::clone(&hits);
    let outage = move || -> Result<Response, std::convert::Infallible> {
        counted.in_outage.fetch_add(1, Ordering::Relaxed);
        Ok(StatusCode::SERVICE_UNAVAILABLE.into_response())
    };
    let policy = ChaosPolicy::new(
        Chaos::new(config),
        || unreachable!("no error faults"),
        outage,
    )
    .seed(7);
    let served = Arc::clone(&hits);
    let handler = move || async move {
        served.served.fetch_add(1, Ordering::Relaxed);
        "ok"
    };
    // Each request is noted as it reaches the server, outside the chaos
    // layer: before any latency it injects, as the simulator notes an
    // attempt reaching its dependency.
    let app = Router::new()
        .route("/", get(handler))
        .layer(ChaosLayer::new(policy.seed(7), TokioClock))
        .layer(tower::util::MapRequestLayer::new(move |request| {
            hits.arrived();
            request
        }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(url)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Failed,
    Rejected,
    TimedOut,
}

impl Answer {
    /// How the simulator's recorder counts it.
    fn end(self) -> CallEnd {
        match self {
            Answer::Ok => CallEnd::Succeeded,
            Answer::Failed => CallEnd::Failed,
            Answer::Rejected => CallEnd::Rejected,
            Answer::TimedOut => CallEnd::TimedOut,
        }
    }
}

/// One GET: `Err(status)` unless 2xx (0: no answer).
async fn get_once(client: reqwest::Client, url: Arc<str>) -> Result<(), u16> {
    match client.get(&*url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(r.status().as_u16()),
        Err(_) => Err(0),
    }
}

fn answer(r: Result<(), PipelineError<u16>>) -> Answer {
    match r {
        Ok(()) => Answer::Ok,
        Err(e) if e.rejected().is_some() => Answer::Rejected,
        Err(e) if e.error.is_timeout() => Answer::TimedOut,
        Err(_) => Answer::Failed,
    }
}

/// One real run: how its calls ended (by [`Answer`]), the requests the
/// server saw (in all and during the outage), and the run as the
/// simulator's [`Recorder`] records one.
struct Row {
    answers: [u32; 4],
    hits: u32,
    in_outage: u32,
    recorder: Recorder,
}

/// A time from the run's start as a simulator instant.
fn at(since_start: Duration) -> failsafe_core::Instant {
    failsafe_core::Instant::from_nanos(u64::try_from(since_start.as_nanos()).unwrap_or(u64::MAX))
}

/// Offers `CALLS` calls made by `call`, one every `EVERY`, against a fresh
/// server, and records them in a recorder made by `recorder`; the breaker's
/// state changes logged in `breaker` (absolute instants) during the run
/// are its transitions.
async fn run<F, Fut>(
    call: F,
    recorder: impl FnOnce() -> Recorder,
    breaker: &Mutex<Vec<(failsafe_core::Instant, &'static str, &'static str)>>,
) -> Result<Row, Box<dyn std::error::Error>>
where
    F: Fn(reqwest::Client, Arc<str>) -> Fut,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let start = tokio::time::Instant::now();
    let hits = Arc::new(Hits::new(start));
    let url: Arc<str> = serve(Arc::clone(&hits)).await?.into();
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(EVERY);
    let mut tasks = Vec::new();
    for _ in 0..CALLS {
        tick.tick().await;
        let call = call(client.clone(), Arc::clone(&url));
        tasks.push(tokio::spawn(async move {
            let arrived = start.elapsed();
            (call.await, arrived, start.elapsed())
        }));
    }
    let (mut answers, mut rec) = ([0; 4], recorder());
    for task in tasks {
        let (answer, arrived, ended) = task.await?;
        answers[answer as usize] += 1;
        rec.offered += 1;
        rec.bucket(at(arrived)).offered += 1;
        rec.end(at(arrived), at(ended), answer.end());
    }
    for &hit in hits.at.lock().expect("not poisoned").iter() {
        rec.reached += 1;
        rec.bucket(at(hit)).reached += 1;
    }
    let start = TokioClock.to_core(start);
    rec.transitions = breaker
        .lock()
        .expect("not poisoned")
        .drain(..)
        .filter(|&(when, ..)| when >= start)
        .map(|(when, from, to)| Transition {
            at: at(when.saturating_duration_since(start)),
            machine: "breaker",
            from,
            to,
        })
        .collect();
    let in_outage = hits.in_outage.load(Ordering::Relaxed);
    Ok(Row {
        answers,
        hits: hits.served.load(Ordering::Relaxed) + in_outage,
        in_outage,
        recorder: rec,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let retry = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::Full)
        .build()?;
    let attempt = TimeoutConfig::new(Duration::from_millis(200))?;
    let retrying = Arc::new(
        Pipeline::new(TokioClock)
            .retry(retry)
            .attempt_timeout(attempt)
            .timeout(Duration::from_millis(500)),
    );
    let breaker_config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(5)
        .open_wait(Duration::from_millis(100))
        .build()?;
    // Its state changes, for the report's transitions.
    let changes = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&changes);
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, TokioClock)
        .on_event(move |e| {
            if let BreakerEvent::StateChanged { from, to, at } = e {
                log.lock()
                    .expect("not poisoned")
                    .push((at, from.as_str(), to.as_str()));
            }
        });
    let protected = Arc::new(
        Pipeline::new(TokioClock)
            .admit(breaker)
            .retry(retry)
            .attempt_timeout(attempt)
            .timeout(Duration::from_millis(500)),
    );

    let suite = failsafe_sim::suite::parse(SCENARIO, "chaos_loopback.rs").map_err(|e| e.0)?;
    let scenario = &suite.scenarios[0];
    let bucket = failsafe_sim::run::bucket_of(scenario);
    let drain = scenario.drain.unwrap_or(failsafe_sim::engine::DRAIN);
    // The simulator's recorder, sized as its own runs of the scenario.
    let recorder = || Recorder::new(scenario.duration + drain, bucket);
    let none = run(
        |client, url| async move {
            match get_once(client, url).await {
                Ok(()) => Answer::Ok,
                Err(_) => Answer::Failed,
            }
        },
        recorder,
        &changes,
    )
    .await?;
    let retry_only = run(
        |client, url| {
            let p = Arc::clone(&retrying);
            async move { answer(p.call(|_| get_once(client.clone(), url.clone())).await) }
        },
        recorder,
        &changes,
    )
    .await?;
    let guarded = run(
        |client, url| {
            let p = Arc::clone(&protected);
            async move { answer(p.call(|_| get_once(client.clone(), url.clone())).await) }
        },
        recorder,
        &changes,
    )
    .await?;

    println!(
        "{CALLS} calls, one every {EVERY:?}; outage (503) from {:?} to {:?}; 20 % of requests 5-20 ms slower (seed 7)",
        OUTAGE.0, OUTAGE.1
    );
    let rows = [
        ("none", &none),
        ("retry + timeout", &retry_only),
        ("breaker + retry + timeout", &guarded),
    ];
    for (name, row) in rows {
        println!(
            "{name}: {} requests reached the server, {} of them during the outage",
            row.hits, row.in_outage
        );
    }

    let mut broken = Vec::new();
    if rows
        .iter()
        .any(|(_, r)| r.answers.iter().sum::<u32>() != CALLS)
    {
        broken.push("every call offered is answered once");
    }
    if none.in_outage == 0 || none.answers[Answer::Failed as usize] == 0 {
        broken.push("the outage reached the unprotected client");
    }
    if retry_only.in_outage <= none.in_outage {
        broken.push("a retry alone multiplies the calls reaching the server in the outage");
    }
    if guarded.in_outage * 2 > none.in_outage {
        broken.push("the breaker halves (at least) the calls reaching the server in the outage");
    }
    if guarded.answers[Answer::Rejected as usize] == 0 {
        broken.push("the breaker rejects fast during the outage");
    }
    let simulated = simulate(&suite)?;
    println!();
    println!(
        "The real run (real) and the same scenario in the simulator (sim: virtual time, seed 7), in the simulator's report table:"
    );
    let mut side_by_side: Vec<RunReport> = Vec::new();
    let names = rows.map(|(name, _)| name);
    let real = [none, retry_only, guarded];
    for (((name, real), sim), pipeline) in names
        .into_iter()
        .zip(real)
        .zip(&simulated)
        .zip(&suite.pipelines)
    {
        let mut real = failsafe_sim::run::summarize(
            scenario,
            pipeline,
            real.recorder,
            0,
            scenario.duration,
            bucket,
        );
        real.pipeline = format!("{name} (real)");
        let mut sim = sim.clone();
        sim.pipeline = format!("{name} (sim)");
        side_by_side.extend([real, sim]);
    }
    println!("{}", failsafe_sim::report::table(&side_by_side));
    let [sim_none, sim_retry, sim_guarded] = &simulated[..] else {
        return Err("the simulator ran three pipelines".into());
    };
    if !(sim_retry.amplification() > sim_none.amplification()
        && sim_guarded.amplification() < sim_none.amplification())
    {
        broken.push("the simulator orders calls reaching the server as the real run does");
    }
    if !(sim_guarded.rejected > 0 && sim_guarded.failed < sim_none.failed) {
        broken
            .push("the simulator's breaker rejects fast and lowers the failures, as the real one");
    }
    if !broken.is_empty() {
        return Err(format!("invariants broken: {}", broken.join("; ")).into());
    }
    println!(
        "invariants hold: retry storm without a breaker; the breaker cuts the outage's load; the simulator agrees in shape"
    );
    Ok(())
}

/// The real run's scenario and clients, as a `failsafe-sim` file.
const SCENARIO: &str = r#"
seed = 7

[[scenario]]
name = "loopback outage"
duration = "900ms"
rate_per_sec = 333.3
recovers_at = "700ms"
drain = "2s"
bucket = "10ms"
dependency = { latency = "400us", chaos = { outcome = { rate = 1.0, schedule = { kind = "between", from = "200ms", until = "700ms" } }, latency = { rate = 0.2, min = "5ms", max = "20ms" } } }

[[pipeline]]
name = "none"

[[pipeline]]
name = "retry + timeout"
attempt_timeout = "200ms"
timeout = "500ms"
retry = { max_attempts = 3, backoff = { kind = "constant", delay = "10ms" }, jitter = "full" }

[[pipeline]]
name = "breaker + retry + timeout"
attempt_timeout = "200ms"
timeout = "500ms"
breaker = { failure_rate_threshold = "off", consecutive_failures = 5, open_wait = "100ms" }
breaker_window = { kind = "none" }
retry = { max_attempts = 3, backoff = { kind = "constant", delay = "10ms" }, jitter = "full" }
"#;

/// Runs [`SCENARIO`] in the simulator: one report per client, in order.
fn simulate(suite: &SuiteSpec) -> Result<Vec<RunReport>, Box<dyn std::error::Error>> {
    let scenario = &suite.scenarios[0];
    let seed = failsafe_sim::suite::seed_of(suite.seed, 0);
    suite
        .pipelines
        .iter()
        .map(|p| {
            failsafe_sim::run::run(scenario, p, seed, &mut |_| {})
                .map_err(|e| format!("{e:?}").into())
        })
        .collect()
}
