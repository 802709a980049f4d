//! A short version of every built-in scenario (`quick`: a tenth of the
//! traffic and capacity), asserting its invariants.

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_sim::run::RunReport;
use failsafe_sim::spec::SuiteSpec;
use failsafe_sim::suite::{DEFAULT, EngineKind, parse, quick, run_suite};

fn suite(seed: u64) -> SuiteSpec {
    let mut suite = parse(DEFAULT, "built-in").expect("the built-in suite parses");
    suite.seed = seed;
    quick(&mut suite);
    suite
}

fn scenario(suite: &SuiteSpec, name: &str) -> Vec<RunReport> {
    run_suite(suite, Some(name), EngineKind::Events, &mut |_, _, _| {})
        .expect("the built-in suite runs")
}

fn by<'a>(runs: &'a [RunReport], pipeline: &str) -> &'a RunReport {
    runs.iter()
        .find(|r| r.pipeline == pipeline)
        .unwrap_or_else(|| panic!("no run of {pipeline}"))
}

#[test]
fn every_call_is_accounted_for_in_every_scenario() {
    let suite = suite(1);
    let runs = run_suite(&suite, None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_eq!(runs.len(), 28);
    for r in &runs {
        assert!(r.offered > 0, "{} / {}", r.scenario, r.pipeline);
        assert_eq!(
            r.succeeded + r.failed + r.rejected + r.timed_out + r.unfinished,
            r.offered,
            "{} / {}",
            r.scenario,
            r.pipeline
        );
        assert!(r.p50 <= r.p99 && r.p99 <= r.p999);
    }
}

#[test]
fn protection_lowers_amplification_in_the_retry_storm() {
    for seed in 1..=3 {
        let runs = scenario(&suite(seed), "retry storm");
        let naive = by(&runs, "retry");
        // the storm: retries multiply the load and outlive the trigger
        assert!(naive.amplification() > 2.0, "seed {seed}: {naive:?}");
        assert_eq!(
            naive.recovery,
            Some(None),
            "seed {seed}: the naive retry recovered"
        );
        for protected in ["breaker+retry", "breaker+rate+bulkhead+retry"] {
            let p = by(&runs, protected);
            assert!(
                p.amplification() < 1.0 && p.amplification() < naive.amplification() / 2.0,
                "seed {seed}, {protected}: {} vs {}",
                p.amplification(),
                naive.amplification()
            );
            assert!(
                matches!(p.recovery, Some(Some(_))),
                "seed {seed}, {protected} never recovered"
            );
            assert!(p.succeeded > 3 * naive.succeeded);
        }
    }
}

#[test]
fn the_breaker_recovers_within_its_configured_waits_after_the_outage() {
    // The outage ends at 60 s; the breakers wait 5 s open. A probe in
    // flight when it ends may fail once more (one more wait), then the
    // first call after the wait is a probe that succeeds: closed by
    // 60 s + 5 s + a probe's latency (30 ms) + a gap between calls.
    let recovered = Instant::from_secs(60);
    let open_wait = Duration::from_secs(5);
    let slack = Duration::from_secs(1);
    for seed in 1..=3 {
        let runs = scenario(&suite(seed), "outage");
        for pipeline in ["breaker+retry", "breaker+rate+bulkhead+retry"] {
            let r = by(&runs, pipeline);
            let breaker: Vec<_> = r
                .transitions
                .iter()
                .filter(|t| t.machine == "breaker")
                .collect();
            assert!(breaker.iter().any(|t| t.to == "open" && t.at < recovered));
            let last = breaker.last().expect("transitions");
            assert_eq!(last.to, "closed", "seed {seed}, {pipeline}: {breaker:?}");
            assert!(
                last.at <= recovered.saturating_add(open_wait + slack),
                "seed {seed}, {pipeline}: closed at {:?}",
                last.at
            );
            // and it fails fast while the dependency is down
            assert!(r.rejected > 0 && r.amplification() < by(&runs, "none").amplification());
        }
    }
}

#[test]
fn jittered_backoffs_make_fewer_calls_than_no_jitter_with_the_same_seeds() {
    for seed in 1..=4 {
        let runs = scenario(&suite(seed), "contention");
        let none = by(&runs, "no jitter");
        assert_eq!(none.succeeded, none.offered, "every client finishes");
        for jittered in ["full jitter", "equal jitter", "decorrelated jitter"] {
            let j = by(&runs, jittered);
            assert_eq!(j.succeeded, j.offered);
            assert!(
                j.reached * 3 / 2 < none.reached,
                "seed {seed}, {jittered}: {} calls vs {} without jitter",
                j.reached,
                none.reached
            );
            assert!(j.completion < none.completion);
        }
    }
}

#[test]
fn without_jitter_every_round_lets_exactly_one_client_through() {
    // n clients in lockstep: round k has n - k + 1 contenders, one wins.
    let runs = scenario(&suite(1), "contention");
    let none = by(&runs, "no jitter");
    let n = none.offered;
    assert_eq!(none.reached, n * (n + 1) / 2);
}

#[test]
fn a_client_rate_limiter_spends_no_calls_on_a_throttling_upstream() {
    let runs = scenario(&suite(1), "throttling 429");
    let ignored = by(&runs, "retry, Retry-After ignored");
    let limited = by(&runs, "rate limiter+retry");
    assert!(ignored.amplification() > 2.0);
    assert!(limited.amplification() < 1.0);
    // and the upstream's capacity is used as well either way
    assert!(limited.succeeded * 10 >= ignored.succeeded * 9);
}

#[test]
fn the_breaker_follows_a_flapping_dependency() {
    let runs = scenario(&suite(1), "flapping");
    let r = by(&runs, "breaker+retry");
    // 5 failing spells in 120 s: it opens in each one and closes after
    let opened = r.transitions.iter().filter(|t| t.to == "open").count();
    assert!(opened >= 5, "{:?}", r.transitions);
    assert!(r.rejected > 0);
    assert_eq!(by(&runs, "none").transitions.len(), 0);
}

#[test]
fn in_a_brownout_attempt_timeouts_are_retried_and_the_breaker_sheds_them() {
    let runs = scenario(&suite(1), "brownout");
    let naive = by(&runs, "retry");
    let protected = by(&runs, "breaker+retry");
    assert!(naive.timed_out > 0);
    assert!(protected.timed_out < naive.timed_out / 4);
    assert!(protected.amplification() < naive.amplification());
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let a = run_suite(&suite(9), None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    let b = run_suite(&suite(9), None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_eq!(a, b);
    let c = run_suite(&suite(10), None, EngineKind::Events, &mut |_, _, _| {}).unwrap();
    assert_ne!(a, c);
}

#[test]
fn a_probe_taken_by_a_call_about_to_expire_reopens_the_breaker_unless_min_remaining() {
    // at full traffic (the effect needs a herd of retries at the probe)
    let full = parse(DEFAULT, "built-in").unwrap();
    let runs = scenario(&full, "flapping");
    let bare = by(&runs, "breaker+rate+bulkhead+retry");
    let fixed = by(&runs, "same, min_remaining 500 ms");
    // a half-open probe cut by its call's deadline reopens the breaker
    let reopened = |r: &RunReport| {
        r.transitions
            .iter()
            .filter(|t| t.from == "half-open" && t.to == "open")
            .count()
    };
    assert!(reopened(bare) > 0, "{:?}", bare.transitions);
    assert!(reopened(fixed) < reopened(bare));
    assert!(fixed.succeeded > bare.succeeded);
}
