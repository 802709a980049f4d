//! A user's own TOML: two pipelines side by side, and errors that say where.

use failsafe_sim::suite::{EngineKind, parse, run_suite};

const MINE: &str = r#"
seed = 42

[[pipeline]]
name = "mine"
attempt_timeout_ms = 200
retry = { max_attempts = 2, backoff = { kind = "constant", delay_ms = 50 }, jitter = "none" }

[[pipeline]]
name = "theirs"
breaker = { consecutive_failures = 5, failure_rate = 0, window = { kind = "none" }, open_wait_ms = 2000 }
retry = { max_attempts = 2, backoff = { kind = "constant", delay_ms = 50 }, jitter = "none" }

[[scenario]]
name = "my outage"
duration_ms = 20000
rate_per_sec = 50
recovers_at_ms = 10000
[scenario.dependency]
latency_ms = 10
chaos.error = { percent = 100, schedule = { kind = "between", from_ms = 5000, until_ms = 10000 } }
"#;

#[test]
fn two_pipelines_side_by_side_in_one_file() {
    let suite = parse(MINE, "mine.toml").unwrap();
    let runs = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_eq!(runs.len(), 2);
    let (mine, theirs) = (&runs[0], &runs[1]);
    assert_eq!(
        (mine.pipeline.as_str(), theirs.pipeline.as_str()),
        ("mine", "theirs")
    );
    // the same traffic for both
    assert_eq!(mine.offered, theirs.offered);
    assert!(theirs.amplification() < mine.amplification());
    assert!(theirs.transitions.iter().any(|t| t.to == "open"));
}

#[test]
fn a_bad_toml_value_names_the_file_line_and_field() {
    let bad = MINE.replace("latency_ms = 10", "latency_ms = \"ten\"");
    let e = parse(&bad, "mine.toml").unwrap_err().to_string();
    assert!(e.starts_with("mine.toml:20:14: `latency_ms`: "), "{e}");
    let unknown = MINE.replace("rate_per_sec = 50", "rate_per_second = 50");
    let e = parse(&unknown, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("rate_per_second"), "{e}");
}

#[test]
fn a_value_the_core_rejects_names_the_pipeline_and_field() {
    let bad = MINE.replace("max_attempts = 2, backoff = { kind = \"constant\", delay_ms = 50 }, jitter = \"none\" }\n\n[[pipeline]]", "max_attempts = 2, backoff = { kind = \"exponential\", initial_ms = 10, multiplier = 0.5, max_ms = 100 }, jitter = \"none\" }\n\n[[pipeline]]");
    let suite = parse(&bad, "mine.toml").unwrap();
    let e = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pipeline \"mine\" retry") && e.contains("backoff.multiplier"),
        "{e}"
    );
}

#[test]
fn a_scenario_naming_an_unknown_pipeline_is_an_error() {
    let bad = MINE.replace(
        "recovers_at_ms = 10000",
        "recovers_at_ms = 10000\npipelines = [\"nobody\"]",
    );
    let e = parse(&bad, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("\"nobody\""), "{e}");
}
