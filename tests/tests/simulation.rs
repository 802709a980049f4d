//! Long scenarios in virtual time: outages, brownouts, hanging dependencies.

use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, CountWindow, State, TimeWindow};
use failsafe_tests::sim::{self, Health, Scenario};

fn minutes(n: u64) -> Instant {
    Instant::from_secs(n * 60)
}

fn config() -> BreakerConfig {
    BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(20)
        .open_wait(Duration::from_secs(5))
        .open_wait_backoff(2, Duration::from_secs(40))
        .half_open_probes(3)
        .probe_lease(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[test]
fn a_ten_minute_outage_costs_the_dependency_only_probes() {
    // 100 calls/s for an hour; the dependency is down from minute 10 to 20.
    let scenario = Scenario {
        every: Duration::from_millis(10),
        latency: Duration::from_millis(20),
        health: |t: Instant| {
            if t >= minutes(10) && t < minutes(20) {
                Health::Down
            } else {
                Health::Up
            }
        },
        length: Duration::from_secs(3_600),
        seed: 1,
    };
    let report = sim::run(config(), CountWindow::<100>::new(), &scenario);
    let transitions = report.transitions();

    // The window is full of successes, so it opens once 50 of the last 100
    // calls failed: 50 failing arrivals (10 ms apart) plus one latency.
    let (opened_at, _, _) = transitions[0];
    assert_eq!(
        (transitions[0].1, transitions[0].2),
        (State::Closed, State::Open)
    );
    assert!(
        opened_at <= minutes(10).saturating_add(Duration::from_millis(50 * 10 + 20)),
        "{opened_at}"
    );

    // During the outage the dependency sees the calls before the trip (50
    // failures + 2 in flight) plus at most 3 probes per half-open round.
    let rounds = transitions
        .iter()
        .filter(|t| t.2 == State::HalfOpen)
        .count() as u64;
    assert!(
        report.admitted_while_unhealthy <= 52 + 3 * rounds,
        "{}",
        report.admitted_while_unhealthy
    );
    // Backoff: waits of 5, 10, 20, 40, 40.. s over ten minutes: few rounds, not 120.
    assert!(rounds <= 20, "{rounds} rounds");

    // It closes within one (capped) wait plus a probe's latency of the recovery.
    let closed_at = transitions
        .iter()
        .rev()
        .find(|t| t.2 == State::Closed)
        .unwrap()
        .0;
    assert!(closed_at >= minutes(20));
    assert!(
        closed_at <= minutes(20).saturating_add(Duration::from_millis(40_000 + 20 + 10)),
        "{closed_at}"
    );
    assert_eq!(report.final_state, Some(State::Closed));
    // Arrivals every 10 ms from t=0 through t=3600 s inclusive; most of the
    // outage's were rejected.
    assert_eq!(report.admitted + report.rejected, 360_001);
    assert!(report.rejected > 59_000, "{}", report.rejected);
}

#[test]
fn a_brownout_below_the_threshold_never_opens_and_one_above_does() {
    let scenario = |p: f64| Scenario {
        every: Duration::from_millis(10),
        latency: Duration::from_millis(5),
        health: move |_| Health::Flaky(p),
        length: Duration::from_secs(600),
        seed: 7,
    };
    let mild = sim::run(config(), CountWindow::<100>::new(), &scenario(0.3));
    assert!(
        mild.transitions().is_empty(),
        "30% failures against a 50% threshold"
    );
    assert_eq!(mild.rejected, 0);

    let severe = sim::run(config(), CountWindow::<100>::new(), &scenario(0.8));
    assert_eq!(severe.transitions()[0].2, State::Open);
    assert!(severe.rejected > 30_000);
}

#[test]
fn a_hanging_dependency_never_wedges_half_open() {
    // Calls started during minutes 1..5 never return: probes are lost.
    let scenario = Scenario {
        every: Duration::from_millis(100),
        latency: Duration::from_millis(10),
        health: |t: Instant| {
            if t >= minutes(1) && t < minutes(5) {
                Health::Hangs
            } else if t >= Instant::from_secs(50) && t < minutes(1) {
                Health::Down
            } else {
                Health::Up
            }
        },
        length: Duration::from_secs(900),
        seed: 3,
    };
    let window = TimeWindow::<10>::new(Duration::from_secs(10)).unwrap();
    let report = sim::run(config(), window, &scenario);
    let expired = report
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                failsafe_core::breaker::BreakerEvent::ProbesExpired { .. }
            )
        })
        .count();
    assert!(expired > 0, "lost probes must expire");
    // The simulator had to wake up for leases and open waits with no traffic due.
    assert!(report.deadline_wakeups > 0);
    assert_eq!(
        report.final_state,
        Some(State::Closed),
        "recovered after the hang ended"
    );
}
