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

/// Values a user can write that used to run silently wrong (a run that
/// sends nothing, every call timed out at once, one worker for none, two
/// scenarios mixed in one plot, a setting that applies to nothing, a time
/// series too large to allocate): each is an error at parse time, named.
#[test]
fn a_value_that_would_run_silently_wrong_is_an_error() {
    let cases: [(String, &str); 11] = [
        (
            MINE.replace("rate_per_sec = 50", "rate_per_sec = 50\nclients = 5"),
            "gives both `clients`",
        ),
        (
            MINE.replace("duration = \"20s\"", "duration = \"0s\""),
            "mine.toml:17:12: `duration`: must be greater than zero",
        ),
        (
            MINE.replace("attempt_timeout = \"200ms\"", "attempt_timeout = \"0s\""),
            "mine.toml:6:19: `attempt_timeout`: must be greater than zero",
        ),
        (
            MINE.replace("latency = \"10ms\"", "latency = \"10ms\"\ncapacity = { workers = 0, queue = 4 }"),
            "`workers`: must be at least 1",
        ),
        (
            MINE.replace(
                "breaker_window = { kind = \"none\" }",
                "breaker_window = { kind = \"time\", window = \"0s\" }",
            ),
            "mine.toml:12:18: `breaker_window.window`: must be greater than zero",
        ),
        (
            MINE.replace("recovers_at = \"10s\"", "recovers_at = \"10s\"\nbucket = \"0s\""),
            "`bucket`: must be greater than zero",
        ),
        (
            MINE.replace("recovers_at = \"10s\"", "recovers_at = \"10s\"\nbucket = \"1ms\"\ndrain = \"2d\""),
            "points of time series",
        ),
        (
            format!("{MINE}\n[[scenario]]\nname = \"my outage\"\nduration = \"1s\"\nrate_per_sec = 5\n[scenario.dependency]\n"),
            "scenario \"my outage\" is defined twice",
        ),
        (
            format!("{MINE}\n[[scenario]]\nname = \"my-outage\"\nduration = \"1s\"\nrate_per_sec = 5\n[scenario.dependency]\n"),
            "would both plot to my-outage.svg",
        ),
        (
            MINE.replace(
                "attempt_timeout = \"200ms\"",
                "attempt_timeout = \"200ms\"\nbreaker_window = { kind = \"none\" }",
            ),
            "`breaker_window` without a `breaker`",
        ),
        (
            MINE.replace(
                "breaker_window = { kind = \"none\" }\nretry = { max_attempts = 2, backoff = { kind = \"constant\", delay = \"50ms\" }, jitter = \"none\" }",
                "breaker_window = { kind = \"none\" }\nbudget = { kind = \"tokens\" }",
            ),
            "`budget` without a `retry`",
        ),
    ];
    for (file, expected) in cases {
        let e = parse(&file, "mine.toml").unwrap_err().to_string();
        assert!(e.contains(expected), "expected {expected:?} in: {e}");
    }
}

/// A retry with no delay against a dependency that fails at once never
/// lets virtual time pass: the run stops with an error saying so instead
/// of running for ever.
#[test]
fn a_run_whose_time_stops_is_an_error_not_a_hang() {
    let file = r#"
[[pipeline]]
name = "spin"
retry = { max_attempts = "unlimited", backoff = { kind = "constant", delay = "0s" }, jitter = "none" }

[[scenario]]
name = "instant failures"
duration = "1s"
rate_per_sec = 1
[scenario.dependency]
chaos.error = { rate = 1.0 }
"#;
    // the same against a machine that keeps refusing: a full bulkhead
    // that never queues (the loop stays inside one step of the engine)
    let refusing = r#"
[[pipeline]]
name = "spin"
bulkhead = { max_concurrent = 1, max_wait = "0s" }
retry = { max_attempts = "unlimited", backoff = { kind = "constant", delay = "0s" }, jitter = "none" }

[[scenario]]
name = "full bulkhead"
duration = "1s"
rate_per_sec = 1000
[scenario.dependency]
latency = "10ms"
"#;
    for file in [file, refusing] {
        let suite = parse(file, "spin.toml").unwrap();
        // both engines: the driver's spins inside one task's poll
        for engine in [EngineKind::Events, EngineKind::Driver] {
            let e = run_suite(&suite, None, engine, &mut |_, _, _| {})
                .unwrap_err()
                .to_string();
            assert!(e.contains("virtual time stopped at"), "{e}");
            assert!(e.contains("\"spin\""), "{e}");
        }
    }
}
