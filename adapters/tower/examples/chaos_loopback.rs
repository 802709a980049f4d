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
//! configuration, Poisson arrivals at the same mean rate) and the two
//! tables print side by side; the example also fails if the simulator
//! tells a different story (the same ordering of calls reaching the server
//! and of failures between the three clients).
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
use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
use failsafe_driver::{CircuitBreakerPolicy, Clock, Pipeline, PipelineError};
use failsafe_tokio::TokioClock;
use failsafe_tower::ChaosLayer;

const CALLS: u32 = 300;
const EVERY: Duration = Duration::from_millis(3);
const OUTAGE: (Duration, Duration) = (Duration::from_millis(200), Duration::from_millis(700));

/// What the server saw: requests its handler answered, and requests the
/// outage answered 503 (every request arriving during it).
#[derive(Default)]
struct Hits {
    served: AtomicU32,
    in_outage: AtomicU32,
}

/// Starts a server whose outage starts 200 ms from now.
async fn serve(hits: Arc<Hits>) -> std::io::Result<String> {
    let now = TokioClock.now();
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
    let handler = move || async move {
        hits.served.fetch_add(1, Ordering::Relaxed);
        "ok"
    };
    let app = Router::new()
        .route("/", get(handler))
        .layer(ChaosLayer::new(policy.seed(7), TokioClock));
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
        Err(_) => Answer::Failed,
    }
}

struct Row {
    answers: [u32; 3],
    hits: u32,
    in_outage: u32,
    p50: Duration,
    p99: Duration,
}

/// Offers `CALLS` calls made by `call`, one every `EVERY`, against a fresh
/// server, and measures.
async fn run<F, Fut>(call: F) -> Result<Row, Box<dyn std::error::Error>>
where
    F: Fn(reqwest::Client, Arc<str>) -> Fut,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let hits = Arc::new(Hits::default());
    let url: Arc<str> = serve(Arc::clone(&hits)).await?.into();
    let client = reqwest::Client::new();
    let mut tick = tokio::time::interval(EVERY);
    let mut tasks = Vec::new();
    for _ in 0..CALLS {
        tick.tick().await;
        let call = call(client.clone(), Arc::clone(&url));
        tasks.push(tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            (call.await, start.elapsed())
        }));
    }
    let (mut answers, mut took) = ([0; 3], Vec::new());
    for task in tasks {
        let (answer, elapsed) = task.await?;
        answers[answer as usize] += 1;
        took.push(elapsed);
    }
    took.sort();
    let at = |q: usize| took[(took.len() - 1) * q / 100];
    let in_outage = hits.in_outage.load(Ordering::Relaxed);
    Ok(Row {
        answers,
        hits: hits.served.load(Ordering::Relaxed) + in_outage,
        in_outage,
        p50: at(50),
        p99: at(99),
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
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, TokioClock);
    let protected = Arc::new(
        Pipeline::new(TokioClock)
            .admit(breaker)
            .retry(retry)
            .attempt_timeout(attempt)
            .timeout(Duration::from_millis(500)),
    );

    let none = run(|client, url| async move {
        match get_once(client, url).await {
            Ok(()) => Answer::Ok,
            Err(_) => Answer::Failed,
        }
    })
    .await?;
    let retry_only = run(|client, url| {
        let p = Arc::clone(&retrying);
        async move { answer(p.call(|_| get_once(client.clone(), url.clone())).await) }
    })
    .await?;
    let guarded = run(|client, url| {
        let p = Arc::clone(&protected);
        async move { answer(p.call(|_| get_once(client.clone(), url.clone())).await) }
    })
    .await?;

    println!(
        "{CALLS} calls, one every {EVERY:?}; outage (503) from {:?} to {:?}; 20 % of requests 5-20 ms slower (seed 7)",
        OUTAGE.0, OUTAGE.1
    );
    println!(
        "| client | offered | succeeded | failed | rejected fast | server calls / call | server calls in outage | p50 | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rows = [
        ("none", &none),
        ("retry + timeout", &retry_only),
        ("breaker + retry + timeout", &guarded),
    ];
    for (name, row) in rows {
        let [ok, failed, rejected] = row.answers;
        println!(
            "| {name} | {CALLS} | {ok} | {failed} | {rejected} | {:.2} | {} | {:.1} ms | {:.1} ms |",
            f64::from(row.hits) / f64::from(CALLS),
            row.in_outage,
            row.p50.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3,
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
    let simulated = simulate()?;
    println!();
    println!(
        "The same scenario in the simulator (virtual time, seed 7), beside the real run; failed includes timed out:"
    );
    println!(
        "| client | offered real / sim | succeeded real / sim | failed real / sim | rejected fast real / sim | server calls / call real / sim | p50 real / sim | p99 real / sim |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for ((name, real), sim) in rows.iter().zip(&simulated) {
        let [ok, failed, rejected] = real.answers;
        println!(
            "| {name} | {CALLS} / {} | {ok} / {} | {failed} / {} | {rejected} / {} | {:.2} / {:.2} | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
            sim.offered,
            sim.succeeded,
            sim.failed + sim.timed_out + sim.unfinished,
            sim.rejected,
            f64::from(real.hits) / f64::from(CALLS),
            sim.amplification(),
            ms(real.p50),
            ms(sim.p50),
            ms(real.p99),
            ms(sim.p99),
        );
    }
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
fn simulate() -> Result<Vec<failsafe_sim::run::RunReport>, Box<dyn std::error::Error>> {
    let suite = failsafe_sim::suite::parse(SCENARIO, "chaos_loopback.rs").map_err(|e| e.0)?;
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
