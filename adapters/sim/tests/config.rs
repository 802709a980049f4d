//! A user's own TOML: two pipelines side by side, and errors that say where.

use failsafe_sim::suite::{EngineKind, parse, run_suite};

const MINE: &str = r#"
seed = 42

[[pipeline]]
name = "mine"
attempt_timeout = "200ms"
retry = { max_attempts = 2, backoff = { kind = "constant", delay = "50ms" }, jitter = "none" }

[[pipeline]]
name = "theirs"
breaker = { consecutive_failures = 5, failure_rate_threshold = "off", open_wait = "2s" }
breaker_window = { kind = "none" }
retry = { max_attempts = 2, backoff = { kind = "constant", delay = "50ms" }, jitter = "none" }

[[scenario]]
name = "my outage"
duration = "20s"
rate_per_sec = 50
recovers_at = "10s"
[scenario.dependency]
latency = "10ms"
chaos.error = { rate = 1.0, schedule = { kind = "between", from = "5s", until = "10s" } }
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
    let bad = MINE.replace("latency = \"10ms\"", "latency = \"ten\"");
    let e = parse(&bad, "mine.toml").unwrap_err().to_string();
    assert!(e.starts_with("mine.toml:21:11: `latency`: "), "{e}");
    let unknown = MINE.replace("rate_per_sec = 50", "rate_per_second = 50");
    let e = parse(&unknown, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("rate_per_second"), "{e}");
}

#[test]
fn a_value_the_core_rejects_is_the_builders_error_with_its_line() {
    // the core's own validation, as its builder reports it
    let bad = MINE.replace(
        "backoff = { kind = \"constant\", delay = \"50ms\" }, jitter = \"none\" }\n\n[[pipeline]]",
        "backoff = { kind = \"exponential\", initial = \"10ms\", multiplier = 0.5, max = \"100ms\" } }\n\n[[pipeline]]",
    );
    let e = parse(&bad, "mine.toml").unwrap_err().to_string();
    assert!(e.starts_with("mine.toml:7:"), "{e}");
    assert!(e.contains("backoff.multiplier"), "{e}");
    let rate = MINE.replace("rate = 1.0", "rate = 1.5");
    let e = parse(&rate, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("mine.toml:22:"), "{e}");
}

#[test]
fn a_scenario_naming_an_unknown_pipeline_is_an_error() {
    let bad = MINE.replace(
        "recovers_at = \"10s\"",
        "recovers_at = \"10s\"\npipelines = [\"nobody\"]",
    );
    let e = parse(&bad, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("\"nobody\""), "{e}");
}

#[test]
fn a_file_that_would_run_nothing_is_an_error() {
    let twice = format!("{MINE}\n[[pipeline]]\nname = \"mine\"\n");
    let e = parse(&twice, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("defined twice"), "{e}");
    let silent = MINE.replace("rate_per_sec = ", "rate_per_sec = 0.0 # was ");
    let e = parse(&silent, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("sends no calls"), "{e}");
    let window = MINE.replacen(
        "[[pipeline]]",
        "[[pipeline]]\nbreaker_window = { kind = \"count\", window = 20 }",
        1,
    );
    let e = parse(&window, "mine.toml").unwrap_err().to_string();
    assert!(e.contains("unknown field `window`"), "{e}");
}
