//! Many instances sharing one rate limit (issue 14): what a user relies
//! on. Local limits overshoot by about the number of instances; a shared
//! store key keeps every window within `shared_bound`; leasing within
//! `leased_bound`, with at least `batch` times fewer store round trips.

use core::time::Duration;

use failsafe_core::rate::Quota;
use failsafe_core::rate::shared::{leased_bound, shared_bound};
use failsafe_sim::run::RunReport;
use failsafe_sim::shared::SharedStats;
use failsafe_sim::suite::{DEFAULT, EngineKind, parse, run_suite};

fn runs(text: &str, origin: &str, seed: u64) -> Vec<RunReport> {
    let mut suite = parse(text, origin).expect("parses");
    suite.seed = seed;
    suite.scenarios.retain(|s| s.shared.is_some());
    run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).expect("runs")
}

fn stats<'a>(runs: &'a [RunReport], pipeline: &str) -> (&'a RunReport, &'a SharedStats) {
    let r = runs
        .iter()
        .find(|r| r.pipeline == pipeline)
        .unwrap_or_else(|| panic!("no run of {pipeline}"));
    (r, r.shared.as_ref().expect("a shared run has its stats"))
}

#[test]
fn the_built_in_scenario_local_overshoots_shared_and_leased_keep_their_bounds() {
    // the upstream's quota, which every pipeline of the scenario limits at
    let quota = Quota::per_second(100).unwrap().with_burst(10).unwrap();
    let second = Duration::from_secs(1);
    for seed in [1, 2, 3] {
        let runs = runs(DEFAULT, "built-in", seed);
        assert_eq!(runs.len(), 3);
        for r in &runs {
            assert_eq!(
                r.succeeded + r.failed + r.rejected + r.timed_out + r.unfinished,
                r.offered,
                "{}",
                r.pipeline
            );
            assert_eq!(r.offered, runs[0].offered, "the same traffic");
        }
        let (local, l) = stats(&runs, "local only");
        let (shared, s) = stats(&runs, "shared store key");
        let (_, le) = stats(&runs, "leased, batch 5");
        // local-only: ten limiters of the whole quota send about ten times it
        assert_eq!(l.limit, shared_bound(quota, second));
        assert!(l.over_limit() >= 9.0, "seed {seed}: {l:?}");
        assert!(
            local.reached >= 9 * 100 * 60 * 9 / 10,
            "seed {seed}: {}",
            local.reached
        );
        assert!(
            l.throttled * 10 >= local.reached * 8,
            "seed {seed}: the upstream refuses most"
        );
        assert_eq!(l.round_trips, 0);
        // shared: within shared_bound in every 1 s window, and the budget used
        assert!(
            s.worst_window <= shared_bound(quota, second),
            "seed {seed}: {s:?}"
        );
        assert!(
            shared.reached >= 100 * 60 * 95 / 100,
            "seed {seed}: {}",
            shared.reached
        );
        assert_eq!(s.round_trips, shared.offered, "one round trip per call");
        // the store's grants, one round trip later, fit the upstream's own GCRA
        assert_eq!(s.throttled, 0, "seed {seed}");
        assert_eq!(s.added_latency_max, Duration::from_millis(2));
        // leased: within leased_bound, at least `batch` times fewer round trips
        assert!(
            le.worst_window <= leased_bound(quota, second, 10, 5),
            "seed {seed}: {le:?}"
        );
        assert_eq!(le.bound, leased_bound(quota, second, 10, 5));
        assert!(
            s.round_trips >= 5 * le.round_trips,
            "seed {seed}: {s:?} {le:?}"
        );
        assert!(le.added_latency_mean() < s.added_latency_mean());
    }
}

/// The bounds hold for other instance counts, batches, round trips, window
/// lengths and loads (below, at and over the quota) too.
#[test]
fn the_bounds_hold_across_instances_batches_round_trips_and_windows() {
    for (instances, batch, rtt, window, rate, seed) in [
        (2u32, 2u32, "1ms", "100ms", 300, 1),
        (10, 10, "20ms", "1s", 1500, 2),
        (30, 3, "5ms", "250ms", 900, 3),
        (30, 3, "5ms", "250ms", 90, 3),
        (10, 5, "2ms", "1s", 100, 3),
        (10, 5, "2ms", "1s", 200, 3),
        (5, 5, "50ms", "2s", 120, 4),
        (10, 1, "1ms", "1s", 2000, 5),
    ] {
        let text = format!(
            r#"
seed = {seed}
[[pipeline]]
name = "local"
rate_limit = {{ rate = 100, burst = 10 }}
limit_sharing = {{ kind = "local" }}
[[pipeline]]
name = "shared"
rate_limit = {{ rate = 100, burst = 10 }}
limit_sharing = {{ kind = "shared" }}
[[pipeline]]
name = "leased"
rate_limit = {{ rate = 100, burst = 10 }}
limit_sharing = {{ kind = "leased", batch = {batch}, ttl = "500ms" }}
[[scenario]]
name = "sweep"
duration = "20s"
rate_per_sec = {rate}
shared = {{ instances = {instances}, store_rtt = "{rtt}", window = "{window}" }}
[scenario.dependency]
latency = "10ms"
latency_jitter = "5ms"
"#
        );
        let runs = runs(&text, "sweep.toml", seed);
        let case = format!("{instances} instances, batch {batch}, rtt {rtt}, window {window}");
        let (_, l) = stats(&runs, "local");
        let (_, s) = stats(&runs, "shared");
        let (_, le) = stats(&runs, "leased");
        assert!(l.worst_window >= s.worst_window, "{case}");
        assert!(s.worst_window <= s.limit, "{case}: {s:?}");
        assert!(le.worst_window <= le.bound, "{case}: {le:?}");
        assert_eq!(
            le.bound,
            le.limit + u64::from(instances) * (u64::from(batch) - 1)
        );
        // Fewer round trips always, but not `batch` times fewer in general:
        // near or over the limit, leased permits held by some instances
        // leave the key short for others, whose refused batches cost round
        // trips (1.6 to 3.9 times fewer here for batches 2 to 5; the
        // built-in scenario, each instance offered 1.5 times the quota,
        // above).
        assert!(le.round_trips < s.round_trips, "{case}: {s:?} {le:?}");
    }
}

#[test]
fn a_shared_scenario_says_what_its_pipelines_lack() {
    let base = r#"
[[pipeline]]
name = "p"
rate_limit = { rate = 100, burst = 10 }
PIPE
[[scenario]]
name = "s"
duration = "1s"
rate_per_sec = 100
shared = { instances = 3 SHARED }
[scenario.dependency]
latency = "1ms"
"#;
    let file = |pipe: &str, shared: &str| base.replace("PIPE", pipe).replace("SHARED", shared);
    let err = |pipe: &str, shared: &str| {
        parse(&file(pipe, shared), "f.toml")
            .unwrap_err()
            .to_string()
    };
    assert!(parse(&file("limit_sharing = { kind = \"shared\" }", ""), "f.toml").is_ok());
    assert!(
        err("", "").contains("which has no `limit_sharing`"),
        "{}",
        err("", "")
    );
    let e = err("limit_sharing = { kind = \"leased\", batch = 11 }", "");
    assert!(
        e.contains("`limit_sharing.batch` must be from 1 to the `rate_limit` burst (10), not 11"),
        "{e}"
    );
    let e = err(
        "limit_sharing = { kind = \"shared\" }\nretry = { max_attempts = 2 }",
        "",
    );
    assert!(e.contains("only `rate_limit` applies"), "{e}");
    let e = err("limit_sharing = { kind = \"shared\" }", ", store = \"1ms\"");
    assert!(
        e.starts_with("f.toml:10:") && e.contains("unknown field `store`"),
        "{e}"
    );
    let e = err("limit_sharing = { kind = \"pooled\" }", "");
    assert!(e.contains("unknown variant `pooled`"), "{e}");
}

#[test]
fn both_engines_run_the_same_shared_model() {
    let mut suite = parse(DEFAULT, "built-in").unwrap();
    suite.scenarios.retain(|s| s.shared.is_some());
    suite.scenarios[0].duration = Duration::from_secs(5);
    let events = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    let driver = run_suite(&suite, None, EngineKind::Driver, &mut |_, _, _| {}).unwrap();
    assert_eq!(events, driver);
}
