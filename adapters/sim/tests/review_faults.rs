//! Faults a fresh review found (2026-12-01), each guarded by a test named
//! for the behaviour it keeps, beside the review's checks that already
//! held: figures recomputed by hand (rates, retries, breakers, throttling,
//! percentiles), bad input refused with its field named, runs that stop
//! when they should (drain, the last call, no false stall), the two
//! engines' agreement, the report's text, and the harness.

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, State};
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, Jitter, RetryAfter, RetryConfig};
use failsafe_sim::dependency::Scripted;
use failsafe_sim::engine::SimEvent;
use failsafe_sim::harness::Harness;
use failsafe_sim::metrics::CallEnd;
use failsafe_sim::pipeline::Built;
use failsafe_sim::run::{RunError, RunReport};
use failsafe_sim::spec::MAX_RATE_PER_SEC;
use failsafe_sim::suite::{EngineKind, parse, run_suite};

// The review's 14 faults, and where each is guarded:
//  1. a huge `capacity.workers` aborted on allocation:
//     `a_huge_worker_count_runs_in_the_memory_of_its_calls`; a huge
//     `shared.instances`: `a_huge_instance_count_is_refused_when_read`
//  2. percentiles above every latency, rejections as 1 µs:
//     `a_latency_every_call_shares_is_reported_as_is`,
//     `an_immediate_rejection_takes_no_time`
//  3. a transition after the last call, the engines disagreeing:
//     `no_transition_is_reported_after_the_last_call`,
//     `the_engines_agree_on_a_breaker_without_retry`
//  4. shared scenarios ignored `drain`:
//     `a_shared_scenario_honours_drain_and_counts_hung_calls`
//  5. two million clients called a stall:
//     `two_million_clients_answered_at_once_are_not_a_stall`,
//     `more_clients_than_the_engine_holds_are_refused`
//  6. rates too high for whole-nanosecond gaps:
//     `a_rate_above_the_cap_is_refused_naming_rate_per_sec`,
//     `a_rate_at_the_cap_sends_rate_times_duration_calls`
//  7. `recovers_at` after the traffic: `recovers_at_after_the_traffic_is_an_error`
//  8. `pipeline = []`: `an_empty_pipeline_or_scenario_list_is_an_error`
//  9. blank names: `a_blank_name_is_an_error`
// 10. errors in `kind`-tagged tables naming the table:
//     `a_zero_lease_ttl_error_names_limit_sharing_ttl`,
//     `a_zero_breaker_time_window_error_names_breaker_window_window`
// 11. a breaker time window under 10 ns: `a_too_short_breaker_window_error_is_accurate_and_located`
// 12. the report's "60 s after the last arrival": `the_legend_says_when_hung_calls_are_counted`
// 13. names unescaped in report.md: `names_show_as_themselves_in_report_md`
// 14. a duration of absurdly many calls: `a_duration_of_absurdly_many_calls_is_refused`

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn run_text(text: &str, engine: EngineKind) -> Result<Vec<RunReport>, RunError> {
    let suite = parse(text, "probe.toml").expect("the probe's file parses");
    run_suite(&suite, None, engine, &mut |_, _, _| {})
}

fn one(text: &str) -> RunReport {
    let mut runs = run_text(text, EngineKind::Events).expect("runs");
    assert_eq!(runs.len(), 1);
    runs.remove(0)
}

fn parse_err(text: &str) -> String {
    match parse(text, "probe.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

// ------------------------------------------------------------ figures by hand

/// A client-side GCRA of 100/s (burst 10) under 2,000 calls/s for 10 s
/// admits 100 × 10 + the burst, give or take one.
#[test]
fn a_rate_limit_admits_n_times_t_plus_burst() {
    let r = one(r#"
[[pipeline]]
name = "rate"
rate_limit = { rate = 100, burst = 10 }
[[scenario]]
name = "s"
duration = "10s"
rate_per_sec = 2000
[scenario.dependency]
latency = "5ms"
"#);
    assert!(
        (1_005..=1_011).contains(&r.succeeded),
        "admitted {}",
        r.succeeded
    );
    assert_eq!(r.succeeded + r.rejected, r.offered);
    assert_eq!(r.reached, r.succeeded);
}

/// Every attempt fails: `max_attempts = 4` makes exactly 4 attempts per
/// call, and a call's latency is 4 × 10 ms + 3 × 10 ms of backoff.
#[test]
fn retries_multiply_the_load_by_max_attempts() {
    let r = one(r#"
[[pipeline]]
name = "retry4"
retry = { max_attempts = 4, backoff = { kind = "constant", delay = "10ms" }, jitter = "none" }
[[scenario]]
name = "s"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 1.0 }
"#);
    assert_eq!(r.reached, 4 * r.offered);
    assert_eq!(r.failed, r.offered);
    // 4 × 10 ms answers + 3 × 10 ms backoff (the histogram's 3 digits:
    // compared as the report prints it)
    assert_eq!(failsafe_sim::report::human(r.p50), "70.0ms");
}

/// Half the attempts fail: 1 + 1/2 + 1/4 + 1/8 = 1.875 attempts a call.
#[test]
fn retries_against_half_errors_amplify_by_the_geometric_sum() {
    let r = one(r#"
[[pipeline]]
name = "retry4"
retry = { max_attempts = 4, backoff = { kind = "constant", delay = "10ms" }, jitter = "none" }
[[scenario]]
name = "s"
duration = "200s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 0.5 }
"#);
    let a = r.amplification();
    assert!((a - 1.875).abs() < 0.03, "amplification {a}");
    let failed = r.failed as f64 / r.offered as f64;
    assert!((failed - 1.0 / 16.0).abs() < 0.01, "failed {failed}");
}

/// A breaker on 5 consecutive failures opens at the 5th failure's end.
#[test]
fn a_breaker_opens_after_its_threshold() {
    let r = one(r#"
[[pipeline]]
name = "b"
breaker = { failure_rate_threshold = "off", consecutive_failures = 5, open_wait = "1m" }
[[scenario]]
name = "s"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 1.0 }
"#);
    assert_eq!(
        (r.transitions[0].from, r.transitions[0].to),
        ("closed", "open")
    );
    assert!(r.transitions[0].at < Instant::from_millis(100));
    // 5 failures plus any admitted before the 5th ended (10 ms answers,
    // 100 calls/s: at most a couple)
    assert!((5..=8).contains(&r.failed), "failed {}", r.failed);
    assert_eq!(r.failed + r.rejected, r.offered);
}

/// An upstream throttling at 100/s (burst 10) for 60 s answers about
/// 6,010 calls; the rest are 429s.
#[test]
fn a_throttling_upstream_admits_n_times_t() {
    let r = one(r#"
[[pipeline]]
name = "none"
[[scenario]]
name = "s"
duration = "60s"
rate_per_sec = 200
[scenario.dependency]
latency = "20ms"
throttle = { rate = 100, burst = 10 }
"#);
    assert!((6_005..=6_011).contains(&r.succeeded), "{}", r.succeeded);
}

/// The README's promise: the same seed gives the same report; another
/// seed, other traffic.
#[test]
fn the_same_seed_gives_the_same_report() {
    let text = failsafe_sim::suite::DEFAULT;
    let mut suite = parse(text, "built-in").unwrap();
    failsafe_sim::suite::quick(&mut suite);
    let a = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    let b = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_eq!(a, b);
    suite.seed = 2;
    let c = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_ne!(a, c);
}

/// Arrival gaps are whole nanoseconds, rounded down: a rate `r` sends
/// about `r × (1 + r / 2e9)` calls a second (72% too many at 10^9/s). A
/// rate above [`MAX_RATE_PER_SEC`] (10^7/s) is refused, naming the field.
#[test]
fn a_rate_above_the_cap_is_refused_naming_rate_per_sec() {
    for rate in ["1e8", "3e8", "1e9", "inf"] {
        let e = parse_err(&format!(
            r#"
[[pipeline]]
name = "none"
[[scenario]]
name = "s"
duration = "2ms"
rate_per_sec = {rate}
[scenario.dependency]
latency = "1ms"
"#
        ));
        assert!(e.contains("`rate_per_sec` must be at most 1e7"), "{e}");
    }
}

/// At the cap, open traffic sends rate × duration calls within 1% (the
/// rounding adds 0.5%; 50 ms at 10^7/s is 500,000 calls, a Poisson
/// standard deviation of 0.14%).
#[test]
fn a_rate_at_the_cap_sends_rate_times_duration_calls() {
    assert_eq!(MAX_RATE_PER_SEC, 1e7);
    let r = one(r#"
[[pipeline]]
name = "none"
[[scenario]]
name = "s"
duration = "50ms"
drain = "1s"
rate_per_sec = 1e7
[scenario.dependency]
latency = "1ms"
"#);
    let off = r.offered as f64 / 500_000.0 - 1.0;
    assert!(
        off.abs() < 0.01,
        "{} calls offered ({:+.2}%)",
        r.offered,
        off * 100.0
    );
}

/// Both engines tell the same story for a pipeline with nothing random on
/// the client's side (README, "Two engines": the same to the call): a
/// breaker alone, no retry. The event engine counted one more transition
/// (20 against 19): it fired the breaker's open-wait deadline during the
/// drain, after the last call ended, which the driver's run never does.
#[test]
fn the_engines_agree_on_a_breaker_without_retry() {
    let text = r#"
[[pipeline]]
name = "breaker5"
breaker = { failure_rate_threshold = "off", consecutive_failures = 5, open_wait = "1s" }
[[scenario]]
name = "always error"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 1.0 }
"#;
    let seed = 3;
    let mut suite = parse(text, "probe.toml").unwrap();
    suite.seed = seed;
    let e = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    let d = run_suite(&suite, None, EngineKind::Driver, &mut |_, _, _| {}).unwrap();
    let at = |r: &RunReport| -> Vec<String> {
        r.transitions
            .iter()
            .map(|t| format!("{}→{} {:?}", t.from, t.to, t.at))
            .collect()
    };
    assert_eq!(
        e[0].transitions.len(),
        d[0].transitions.len(),
        "events: {:?}\ndriver: {:?} (last call ended at {:?})",
        at(&e[0]).last(),
        at(&d[0]).last(),
        e[0].completion
    );
}

/// The breaker's open wait (1 min) ends 50 s after the last call (traffic
/// 10 s, drain 60 s), with no call there to see it; the report counted
/// and listed "open→half-open at 60.04s" (the event engine fired the
/// machine's deadline during the drain; the driver's engine does not,
/// hence the engines' disagreement above). The run stops once the
/// traffic is over and no call is left.
#[test]
fn no_transition_is_reported_after_the_last_call() {
    let r = one(r#"
[[pipeline]]
name = "b"
breaker = { failure_rate_threshold = "off", consecutive_failures = 5, open_wait = "1m" }
[[scenario]]
name = "s"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 1.0 }
"#);
    let last_end = Instant::ZERO + r.completion;
    let late: Vec<_> = r.transitions.iter().filter(|t| t.at > last_end).collect();
    assert!(
        late.is_empty(),
        "last call ended at {:?}; transitions after it: {late:?}",
        r.completion
    );
}

/// Every call times out at exactly 250 ms (overall timeout; attempts at
/// 0, 110 and 220 ms): p50, p99 and p99.9 are 250 ms, and the report
/// should print 250.0ms. It printed 250.1ms: the quantile was
/// hdrhistogram's highest value equivalent to its bucket, clamped only
/// by the run's last end; it is clamped by the longest latency now.
#[test]
fn a_latency_every_call_shares_is_reported_as_is() {
    let r = one(r#"
[[pipeline]]
name = "overall"
attempt_timeout = "100ms"
timeout = "250ms"
retry = { max_attempts = 10, backoff = { kind = "constant", delay = "10ms" }, jitter = "none" }
[[scenario]]
name = "slow"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "1s"
"#);
    assert_eq!(r.timed_out, r.offered);
    assert_eq!(r.reached, 3 * r.offered, "attempts at 0, 110 and 220 ms");
    let shown = [r.p50, r.p99, r.p999].map(failsafe_sim::report::human);
    assert_eq!(
        shown,
        ["250.0ms", "250.0ms", "250.0ms"],
        "{:?}",
        [r.p50, r.p99, r.p999]
    );
}

/// A call a rate limiter refuses at its arrival takes no time: with
/// nearly every call refused so, the median latency is 0 µs (it was
/// recorded as 1 µs).
#[test]
fn an_immediate_rejection_takes_no_time() {
    let r = one(r#"
[[pipeline]]
name = "limited"
rate_limit = { rate = 1, burst = 1 }
[[scenario]]
name = "s"
duration = "10s"
rate_per_sec = 100
[scenario.dependency]
latency = "10ms"
"#);
    assert!(r.rejected > 900, "rejected {}", r.rejected);
    assert_eq!(r.p50, Duration::ZERO);
    assert_eq!(failsafe_sim::report::human(r.p50), "0µs");
    assert_eq!(r.p999, ms(10));
}

// ------------------------------------------------------------- bad input

const SCENARIO: &str = r#"
[[scenario]]
name = "s"
duration = "5s"
rate_per_sec = 10
[scenario.dependency]
latency = "10ms"
"#;

/// A file with scenarios and no pipeline ran nothing and succeeded
/// (`0 runs`, exit 0): like a scenario that sends no calls and a pipeline
/// that runs nowhere, a file with nothing to run is an error.
#[test]
fn an_empty_pipeline_or_scenario_list_is_an_error() {
    let e = parse_err(&format!("pipeline = []\n{SCENARIO}"));
    assert!(e.contains("`pipeline` is empty"), "{e}");
    let e = parse_err("scenario = []\npipeline = []\n");
    assert!(e.contains("`scenario` is empty"), "{e}");
}

/// A nameless scenario ran, its plot written to a hidden file `.svg` and
/// its report section a bare `## `; a blank name is an error, of a
/// scenario or a pipeline.
#[test]
fn a_blank_name_is_an_error() {
    let file = |scenario: &str, pipeline: &str| {
        format!(
            r#"
[[pipeline]]
name = "{pipeline}"
[[scenario]]
name = "{scenario}"
duration = "5s"
rate_per_sec = 10
[scenario.dependency]
latency = "10ms"
"#
        )
    };
    let e = parse_err(&file("", ""));
    assert!(e.contains("scenario number 1: `name` is blank"), "{e}");
    let e = parse_err(&file("s", "  "));
    assert!(e.contains("pipeline number 1: `name` is blank"), "{e}");
}

/// `recovers_at` at or after the end of the traffic can never be
/// measured (the bucket search stops at `duration`), yet the report said
/// `never`: the dependency "never recovered" although every call
/// succeeded. It is refused, as is one inside the traffic's last bucket.
#[test]
fn recovers_at_after_the_traffic_is_an_error() {
    let text = r#"
[[pipeline]]
name = "p"
[[scenario]]
name = "s"
duration = "5s"
recovers_at = "10s"
rate_per_sec = 10
[scenario.dependency]
latency = "10ms"
"#;
    match parse(text, "probe.toml") {
        Err(e) => assert!(e.to_string().contains("`recovers_at` (10s)"), "{e}"),
        Ok(_) => {
            let r = one(text);
            assert_eq!(r.failed, 0);
            panic!(
                "accepted; all {} calls succeeded and the report says recovery {:?} (`never`)",
                r.succeeded, r.recovery
            );
        }
    }
    // at the end of the traffic, or inside its last bucket: no bucket
    // left to measure in
    let in_buckets_of_1s =
        |at: &str| text.replace("\"10s\"", &format!("\"{at}\"\nbucket = \"1s\""));
    for at in ["5s", "4.5s"] {
        let e = parse_err(&in_buckets_of_1s(at));
        assert!(e.contains(&format!("`recovers_at` ({at})")), "{e}");
    }
    // a bucket before the end: measured
    let r = one(&in_buckets_of_1s("4s"));
    assert_eq!(r.recovery, Some(Some(Duration::from_secs(1))));
}

/// `capacity.workers` near `u32::MAX` passed the file check and then
/// aborted the process in `Dependency::new` (a heap of one entry per
/// worker: "memory allocation of 34359738360 bytes failed"). Idle
/// workers are a count now: the run takes the memory of its calls.
#[test]
fn a_huge_worker_count_runs_in_the_memory_of_its_calls() {
    let r = one(r#"
[[pipeline]]
name = "p"
[[scenario]]
name = "s"
duration = "5s"
rate_per_sec = 10
[scenario.dependency]
latency = "10ms"
capacity = { workers = 4294967295, queue = 10 }
"#);
    assert!(r.offered > 0);
    assert_eq!(r.succeeded, r.offered);
}

/// `shared.instances` near `u32::MAX` likewise aborted in `run_shared`
/// ("memory allocation of 446676598680 bytes failed"): each instance has
/// its state and its arrivals, so more than 100,000 are refused.
#[test]
fn a_huge_instance_count_is_refused_when_read() {
    let e = parse_err(
        r#"
[[pipeline]]
name = "p"
rate_limit = { rate = 100, burst = 10 }
limit_sharing = { kind = "local" }
[[scenario]]
name = "s"
duration = "5s"
rate_per_sec = 10
shared = { instances = 4294967295 }
[scenario.dependency]
latency = "10ms"
"#,
    );
    assert!(
        e.contains("`shared.instances` must be from 1 to 100000, not 4294967295"),
        "{e}"
    );
}

/// A zero `ttl` in `limit_sharing`: the error named the inline table
/// (`limit_sharing`) but not the field; it names `limit_sharing.ttl`.
/// (The review's probe looked for `` `ttl` `` alone; the field's whole
/// path is what the other errors give.)
#[test]
fn a_zero_lease_ttl_error_names_limit_sharing_ttl() {
    let e = parse_err(
        r#"
[[pipeline]]
name = "p"
rate_limit = { rate = 100, burst = 10 }
limit_sharing = { kind = "leased", batch = 5, ttl = "0s" }
[[scenario]]
name = "s"
duration = "5s"
rate_per_sec = 10
shared = { instances = 2 }
[scenario.dependency]
latency = "10ms"
"#,
    );
    assert!(
        e.contains("probe.toml:5:17: `limit_sharing.ttl`: must be greater than zero"),
        "{e}"
    );
}

/// A zero `shared.window`: the error should say `window`.
#[test]
fn a_zero_shared_window_error_names_window() {
    let e = parse_err(
        r#"
[[pipeline]]
name = "p"
rate_limit = { rate = 100, burst = 10 }
limit_sharing = { kind = "local" }
[[scenario]]
name = "s"
duration = "5s"
rate_per_sec = 10
shared = { instances = 2, window = "0s" }
[scenario.dependency]
latency = "10ms"
"#,
    );
    assert!(e.contains("`window`") || e.contains("shared.window"), "{e}");
}

/// A zero time window of the breaker: the error named `breaker_window`,
/// not its `window` field; it names `breaker_window.window`.
#[test]
fn a_zero_breaker_time_window_error_names_breaker_window_window() {
    let e = parse_err(&format!(
        r#"
[[pipeline]]
name = "p"
breaker = {{ minimum_calls = 5 }}
breaker_window = {{ kind = "time", window = "0s" }}
{SCENARIO}"#
    ));
    assert!(
        e.contains("`breaker_window.window`: must be greater than zero"),
        "{e}"
    );
}

/// A breaker time window too short for its 10 buckets (5 ns): the core's
/// message said "must be greater than zero" of a value that is, and the
/// error had no line, unlike every other bad value.
#[test]
fn a_too_short_breaker_window_error_is_accurate_and_located() {
    let e = parse_err(&format!(
        r#"
[[pipeline]]
name = "p"
breaker = {{ minimum_calls = 5 }}
breaker_window = {{ kind = "time", window = "5ns" }}
{SCENARIO}"#
    ));
    assert!(e.contains("probe.toml:"), "no line: {e}");
    assert!(
        !e.contains("greater than zero"),
        "5 ns is greater than zero: {e}"
    );
    assert!(
        e.contains("`breaker_window.window`: must be at least 10ns"),
        "{e}"
    );
}

/// Closed traffic of two million clients is a legitimate load test (no
/// retry at all); their answers all land at one instant, and the engine
/// called it a stall (about a million events at one instant), blaming "a
/// retry with no delay". The allowance grows with the calls in flight.
#[test]
fn two_million_clients_answered_at_once_are_not_a_stall() {
    let text = r#"
[[pipeline]]
name = "none"
[[scenario]]
name = "s"
duration = "1ms"
clients = 2000000
[scenario.dependency]
latency = "10ms"
"#;
    match run_text(text, EngineKind::Events) {
        Ok(r) => assert_eq!(r[0].succeeded, 2_000_000),
        Err(e) => panic!("{e}"),
    }
}

/// More clients than the engine holds in flight at once (4,194,304)
/// would never start (counted as hung): refused, naming `clients`.
#[test]
fn more_clients_than_the_engine_holds_are_refused() {
    let e = parse_err(
        r#"
[[pipeline]]
name = "none"
[[scenario]]
name = "s"
duration = "1ms"
clients = 4294967295
[scenario.dependency]
latency = "10ms"
"#,
    );
    assert!(e.contains("`clients` must be at most 4194304"), "{e}");
}

/// `duration = "100000000000h"` at 10 calls/s ran without end: more than
/// 10^10 expected calls are refused, naming `duration`.
#[test]
fn a_duration_of_absurdly_many_calls_is_refused() {
    let e = parse_err(
        &SCENARIO
            .replace("\"5s\"", "\"100000000000h\"")
            .replace("[[scenario]]", "[[pipeline]]\nname = \"p\"\n[[scenario]]"),
    );
    assert!(
        e.contains("scenario \"s\": `duration` (360000000000000s)"),
        "{e}"
    );
    assert!(e.contains("more than 1e10"), "{e}");
}

/// A scenario of instances sharing a limit ignored `drain` (and the
/// default 60 s): with a store round trip of 2 min (a typo for "2ms"),
/// calls of a 2 s run ended 122 s in, none counted as hung, and the
/// report said "done at 122.00s" although the run was to stop at 2 s +
/// 10 s.
#[test]
fn a_shared_scenario_honours_drain_and_counts_hung_calls() {
    let r = one(r#"
[[pipeline]]
name = "q"
rate_limit = { rate = 100, burst = 10 }
limit_sharing = { kind = "shared" }
[[scenario]]
name = "s"
duration = "2s"
drain = "10s"
rate_per_sec = 300
shared = { instances = 3, store_rtt = "2m" }
[scenario.dependency]
latency = "1ms"
"#);
    assert!(
        r.completion <= Duration::from_secs(12) && r.unfinished > 0,
        "done at {:?}, hung {} of {}",
        r.completion,
        r.unfinished,
        r.offered
    );
    // every call is accounted for
    let ended = r.succeeded + r.failed + r.rejected + r.timed_out;
    assert_eq!(ended + r.unfinished, r.offered);
}

// ---------------------------------------------------------------- report

/// The legend said hung calls were those "still open … 60 s after the
/// last arrival"; the run stops `drain` after the traffic ends.
#[test]
fn the_legend_says_when_hung_calls_are_counted() {
    let legend = failsafe_sim::report::LEGEND;
    assert!(!legend.contains("after the last arrival"), "{legend}");
    assert!(legend.contains("`drain`"), "{legend}");
}

/// Names were written into report.md as they are: a `|` split a table
/// row, `<x>` vanished as HTML. They show as themselves now.
#[test]
fn names_show_as_themselves_in_report_md() {
    let scenario = "a & b <x> | c";
    let mut r = one(&format!(
        r#"
[[pipeline]]
name = "p `q` *r*"
[[scenario]]
name = "{scenario}"
duration = "1s"
rate_per_sec = 10
[scenario.dependency]
latency = "10ms"
"#
    ));
    r.transitions.push(failsafe_sim::pipeline::Transition {
        machine: "breaker",
        from: "closed",
        to: "open",
        at: Instant::from_millis(5),
    });
    let descriptions = [(scenario.to_string(), String::new(), String::new())];
    let md = failsafe_sim::report::markdown(&[r], &descriptions, 1);
    let row = md
        .lines()
        .find(|l| l.starts_with("| a "))
        .expect("the run's row");
    assert!(
        row.starts_with(r"| a &amp; b &lt;x&gt; \| c | p \`q\` \*r\* | "),
        "{row}"
    );
    // 15 cells: 16 bars not escaped
    let bars = row
        .match_indices('|')
        .filter(|(i, _)| !row[..*i].ends_with('\\'));
    assert_eq!(bars.count(), 16, "{row}");
    assert!(md.contains("\n## a &amp; b &lt;x&gt; \\| c\n"), "{md}");
    assert!(
        md.contains("![a &amp; b &lt;x&gt; \\| c](a---b--x----c.svg)"),
        "{md}"
    );
    assert!(
        md.contains("- ``p `q` *r*``: breaker closed→open at 5.0ms"),
        "{md}"
    );
}

// --------------------------------------------------------------- harness

/// A rate limiter in the harness: calls every 10 ms for 10 s against a
/// 10/s quota (burst 1): 100 admitted.
#[test]
fn the_harness_rate_limits_as_configured() {
    let pipeline = Built::unprotected().with_rate_limit(Quota::per_second(10).unwrap());
    let mut h = Harness::new(pipeline, 1);
    h.otherwise(Scripted::ok(ms(1)));
    let mut calls = Vec::new();
    for _ in 0..1_000 {
        calls.push(h.call());
        h.advance(ms(10));
    }
    h.run_until_idle();
    let ok = calls
        .iter()
        .filter(|&&c| h.end_of(c) == Some(CallEnd::Succeeded))
        .count();
    assert_eq!(ok, 100);
    assert_eq!(calls.first(), Some(&1));
    assert_eq!(h.recorder().offered, 1_000);
}

/// A 429 with `Retry-After` 300 ms and a retry trusting it: the retry
/// starts 300 ms after the answer, not after the 10 ms backoff.
#[test]
fn the_harness_retry_trusts_retry_after() {
    let retry = RetryConfig::builder()
        .max_attempts(2)
        .backoff(BackoffKind::Constant(ms(10)))
        .jitter(Jitter::None)
        .retry_after(RetryAfter::Trust { max: ms(5_000) })
        .build()
        .unwrap();
    let mut h = Harness::new(Built::unprotected().with_retry(retry), 1);
    h.script([Scripted::throttled(ms(5), ms(300))])
        .otherwise(Scripted::ok(ms(5)));
    let c = h.call();
    h.run_until_idle();
    assert_eq!(h.end_of(c), Some(CallEnd::Succeeded));
    assert!(h.events().contains(&SimEvent::AttemptStarted {
        at: Instant::from_millis(305),
        call: c,
        attempt: 2
    }));
}

/// A breaker in the harness opens and its state and transitions agree.
#[test]
fn the_harness_breaker_state_and_transitions_agree() {
    let breaker = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut h = Harness::new(Built::unprotected().with_breaker(breaker), 1);
    h.otherwise(Scripted::error(ms(1)));
    for _ in 0..3 {
        h.call();
        h.advance(ms(10));
    }
    assert_eq!(h.breaker_state(), State::Open);
    assert_eq!(h.transitions().len(), 1);
    let c = h.call();
    h.advance(ms(1));
    assert_eq!(h.end_of(c), Some(CallEnd::Rejected));
    h.advance(Duration::from_secs(5));
    // open wait over: half-open, seen by both
    assert_eq!(h.breaker_state(), State::HalfOpen);
    assert_eq!(h.transitions().last().map(|t| t.to), Some("half-open"));
}
