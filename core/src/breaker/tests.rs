//! Timelines: each test reads as "at t=.. this happens, then ..".

extern crate std;
use std::vec::Vec;

use core::time::Duration;

use super::machine::{Round, Tally};
use super::*;
use crate::{FnObserver, Instant, Outcome, Problem, RejectReason};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Acquire at `t`, record `outcome` at `t + took`.
fn run<W: Window, O: crate::Observer<BreakerEvent>>(
    b: &mut CircuitBreaker<W, O>,
    t: u64,
    took: u64,
    outcome: Outcome,
) -> Result<(), Rejected> {
    let p = b.acquire(ms(t))?;
    b.record(ms(t + took), p, outcome);
    Ok(())
}

fn consecutive(n: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(n)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[test]
fn consecutive_failures_trip_and_a_success_resets_the_streak() {
    let mut b = CircuitBreaker::new(consecutive(3), NoWindow);
    run(&mut b, 0, 1, Outcome::Failure).unwrap();
    run(&mut b, 10, 1, Outcome::Failure).unwrap();
    run(&mut b, 20, 1, Outcome::Success).unwrap(); // streak broken
    run(&mut b, 30, 1, Outcome::Failure).unwrap();
    run(&mut b, 40, 1, Outcome::Timeout).unwrap(); // a timeout is a failure
    assert_eq!(b.state(), State::Closed);
    run(&mut b, 50, 1, Outcome::Failure).unwrap();
    // at t=51 the third failure in a row opens it until t=60.051
    assert_eq!(b.state(), State::Open);
    let r = b.acquire(ms(30_000)).unwrap_err();
    assert_eq!(r.reason, RejectReason::BreakerOpen);
    assert_eq!(r.retry_at, Some(ms(60_051)));
    assert!(b.acquire(ms(60_050)).is_err());
    assert!(b.acquire(ms(60_051)).unwrap().is_probe());
}

#[test]
fn cancelled_and_ignored_calls_do_not_count() {
    let mut b = CircuitBreaker::new(consecutive(2), NoWindow);
    run(&mut b, 0, 1, Outcome::Failure).unwrap();
    run(&mut b, 1, 1, Outcome::Cancelled).unwrap();
    run(&mut b, 2, 1, Outcome::Ignored).unwrap();
    assert_eq!(b.metrics(ms(3)).consecutive_failures, 1);
    run(&mut b, 3, 1, Outcome::Failure).unwrap();
    assert_eq!(b.state(), State::Open);
}

fn rate_config(min_calls: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(min_calls)
        .open_wait(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn count_window_trips_at_the_rate_only_after_minimum_calls() {
    let mut b = CircuitBreaker::new(rate_config(4), CountWindow::<10>::new());
    // F F: 100% failures but only 2 calls
    run(&mut b, 0, 1, Outcome::Failure).unwrap();
    run(&mut b, 1, 1, Outcome::Failure).unwrap();
    assert_eq!(b.state(), State::Closed);
    // S: 3 calls
    run(&mut b, 2, 1, Outcome::Success).unwrap();
    assert_eq!(b.state(), State::Closed);
    // S: 4 calls, 2 failures = 50% >= 50%: a success can trip by reaching minimum_calls
    run(&mut b, 3, 1, Outcome::Success).unwrap();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn count_window_below_threshold_stays_closed_and_old_calls_slide_out() {
    let mut b = CircuitBreaker::new(rate_config(4), CountWindow::<4>::new());
    for (t, o) in [
        (0, Outcome::Failure),
        (1, Outcome::Success),
        (2, Outcome::Success),
        (3, Outcome::Success),
    ] {
        run(&mut b, t, 0, o).unwrap();
    }
    assert_eq!(b.state(), State::Closed); // 1/4 = 25%
    // the failure at t=0 slides out; two new failures make 2/4
    run(&mut b, 4, 0, Outcome::Failure).unwrap();
    assert_eq!(b.metrics(ms(4)).failures, 1);
    run(&mut b, 5, 0, Outcome::Failure).unwrap();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn minimum_calls_is_capped_at_a_count_windows_size() {
    // 100 minimum calls could never be met by a window of 4: the window size wins.
    let mut b = CircuitBreaker::new(rate_config(100), CountWindow::<4>::new());
    for t in 0..4 {
        run(&mut b, t, 0, Outcome::Failure).unwrap();
    }
    assert_eq!(b.state(), State::Open);
}

#[test]
fn time_window_forgets_failures_older_than_the_window() {
    let window = TimeWindow::<10>::new(Duration::from_secs(10)).unwrap();
    let mut b = CircuitBreaker::new(rate_config(4), window);
    // three failures at t=0s, 1s and 3.5s, then silence
    for t in [0, 1_000, 3_500] {
        run(&mut b, t, 0, Outcome::Failure).unwrap();
    }
    // at t=12.5s the window holds the buckets of seconds 3..=12: the first two
    // failures have slid out, leaving 1 failure + 3 successes = 25%
    for t in [12_000, 12_100, 12_200] {
        run(&mut b, t, 0, Outcome::Success).unwrap();
    }
    let m = b.metrics(ms(12_500));
    assert_eq!((m.calls, m.failures), (4, 1));
    assert_eq!(b.state(), State::Closed);
    // at t=13s the failure of t=3.5s slides out too: 2 new failures of 5 = 40%
    run(&mut b, 13_000, 0, Outcome::Failure).unwrap();
    run(&mut b, 13_001, 0, Outcome::Failure).unwrap();
    assert_eq!(b.state(), State::Closed);
    run(&mut b, 13_002, 0, Outcome::Failure).unwrap(); // 3 of 6 = 50%
    assert_eq!(b.state(), State::Open);
}

#[test]
fn slow_calls_trip_on_the_slow_call_rate() {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(0.5)
        .minimum_calls(4)
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    run(&mut b, 0, 100, Outcome::Success).unwrap(); // exactly the limit: not slow
    run(&mut b, 200, 101, Outcome::Success).unwrap(); // 1 ms over: slow
    run(&mut b, 400, 10, Outcome::Success).unwrap();
    assert_eq!(b.metrics(ms(500)).slow_calls, 1);
    assert_eq!(b.state(), State::Closed);
    run(&mut b, 600, 5_000, Outcome::Success).unwrap(); // slow: 2 of 4
    assert_eq!(b.state(), State::Open);
}

#[test]
fn open_wait_grows_across_failed_probes_and_resets_on_close() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .open_wait_backoff(2, Duration::from_secs(3))
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, NoWindow);
    run(&mut b, 0, 0, Outcome::Failure).unwrap();
    assert_eq!(b.next_deadline(), Some(ms(1_000)));
    run(&mut b, 1_000, 0, Outcome::Failure).unwrap(); // probe fails: wait 2 s
    assert_eq!(b.next_deadline(), Some(ms(3_000)));
    run(&mut b, 3_000, 0, Outcome::Failure).unwrap(); // wait 4 s capped to 3 s
    assert_eq!(b.next_deadline(), Some(ms(6_000)));
    run(&mut b, 6_000, 0, Outcome::Success).unwrap(); // probe succeeds: closed
    assert_eq!(b.state(), State::Closed);
    run(&mut b, 7_000, 0, Outcome::Failure).unwrap(); // back to the base wait
    assert_eq!(b.next_deadline(), Some(ms(8_000)));
}

fn half_open_config(probes: u32, successes: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(probes)
        .success_threshold(successes)
        .probe_lease(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[test]
fn half_open_admits_exactly_its_probe_quota() {
    let mut b = CircuitBreaker::new(half_open_config(3, 2), NoWindow);
    b.open(ms(0));
    let probes: Vec<_> = (0..3).map(|i| b.acquire(ms(1_000 + i)).unwrap()).collect();
    let r = b.acquire(ms(1_003)).unwrap_err();
    assert_eq!(r.reason, RejectReason::BreakerHalfOpenFull);
    assert_eq!(
        r.retry_at, None,
        "a probe may report at any moment: the earliest admission is unknown"
    );
    let mut probes = probes.into_iter();
    b.record(ms(1_010), probes.next().unwrap(), Outcome::Failure); // 1 failure: 2 successes still possible
    assert_eq!(b.state(), State::HalfOpen);
    assert!(
        b.acquire(ms(1_011)).is_err(),
        "a reported probe does not free a slot in its round"
    );
    b.record(ms(1_020), probes.next().unwrap(), Outcome::Success);
    b.record(ms(1_030), probes.next().unwrap(), Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn half_open_reopens_once_the_success_threshold_is_out_of_reach() {
    let mut b = CircuitBreaker::new(half_open_config(3, 2), NoWindow);
    b.open(ms(0));
    let p1 = b.acquire(ms(1_000)).unwrap();
    let p2 = b.acquire(ms(1_000)).unwrap();
    let p3 = b.acquire(ms(1_000)).unwrap();
    b.record(ms(1_001), p1, Outcome::Failure);
    b.record(ms(1_002), p2, Outcome::Timeout);
    assert_eq!(
        b.state(),
        State::Open,
        "two failures of three: two successes are out of reach"
    );
    // the third probe's result belongs to the finished round
    b.record(ms(1_003), p3, Outcome::Success);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics(ms(1_003)).stale_outcomes, 1);
}

#[test]
fn a_cancelled_probe_frees_its_slot() {
    let mut b = CircuitBreaker::new(half_open_config(1, 1), NoWindow);
    b.open(ms(0));
    let p = b.acquire(ms(1_000)).unwrap();
    assert!(b.acquire(ms(1_001)).is_err());
    b.record(ms(1_002), p, Outcome::Cancelled);
    let p = b.acquire(ms(1_003)).expect("the slot is free again");
    b.record(ms(1_004), p, Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_probe_that_never_reports_expires_and_reopens() {
    let mut events = Vec::new();
    let mut b = CircuitBreaker::with_observer(
        half_open_config(1, 1),
        NoWindow,
        FnObserver(|e| events.push(e)),
    );
    b.open(ms(0));
    let lost = b.acquire(ms(1_000)).unwrap(); // lease until t=6s
    assert_eq!(b.next_deadline(), Some(ms(6_000)));
    b.on_deadline(ms(5_999));
    assert_eq!(b.state(), State::HalfOpen);
    b.on_deadline(ms(6_000));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.next_deadline(), Some(ms(7_000)));
    // the lost probe finally reports: too late, not counted
    b.record(ms(6_500), lost, Outcome::Success);
    assert_eq!(b.state(), State::Open);
    let expected = [
        BreakerEvent::StateChanged {
            from: State::Closed,
            to: State::Open,
            at: ms(0),
        },
        BreakerEvent::StateChanged {
            from: State::Open,
            to: State::HalfOpen,
            at: ms(1_000),
        },
        BreakerEvent::ProbesExpired {
            at: ms(6_000),
            count: 1,
        },
        BreakerEvent::StateChanged {
            from: State::HalfOpen,
            to: State::Open,
            at: ms(6_000),
        },
        BreakerEvent::StaleOutcome {
            at: ms(6_500),
            outcome: Outcome::Success,
        },
    ];
    assert_eq!(events, expected);
}

#[test]
fn a_lease_noticed_late_still_reopens_from_the_lease_deadline() {
    let mut b = CircuitBreaker::new(half_open_config(1, 1), NoWindow);
    b.open(ms(0));
    let _lost = b.acquire(ms(1_000)).unwrap();
    // nobody looks until t=6.5s: the lease ran out at 6s, the reopen wait ends at 7s
    let r = b.acquire(ms(6_500)).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(7_000)));
    // nobody looks until t=20s: open (6s..7s) is long over, a new round admits
    assert!(b.acquire(ms(20_000)).unwrap().is_probe());
}

#[test]
fn an_outcome_from_before_the_trip_is_not_counted_after_it() {
    let mut b = CircuitBreaker::new(half_open_config(1, 1), NoWindow);
    let slow_call = b.acquire(ms(0)).unwrap();
    run(&mut b, 1, 0, Outcome::Failure).unwrap(); // trips
    assert_eq!(b.state(), State::Open);
    let probe = b.acquire(ms(1_001)).unwrap();
    // the pre-trip call reports success during half-open: it must not close the breaker
    b.record(ms(1_002), slow_call, Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen);
    b.record(ms(1_003), probe, Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn operator_states_behave_as_named() {
    let mut b = CircuitBreaker::new(consecutive(1), NoWindow);
    b.disable(ms(0));
    for t in 0..10 {
        run(&mut b, t, 0, Outcome::Failure).unwrap();
    }
    assert_eq!(b.state(), State::Disabled);
    assert_eq!(
        b.metrics(ms(10)).consecutive_failures,
        0,
        "disabled counts nothing"
    );

    b.metrics_only(ms(10));
    for t in 10..20 {
        run(&mut b, t, 0, Outcome::Failure).unwrap();
    }
    assert_eq!(b.state(), State::MetricsOnly);
    assert_eq!(
        b.metrics(ms(20)).consecutive_failures,
        10,
        "metrics-only counts"
    );

    b.force_open(ms(20));
    let r = b.acquire(ms(1_000_000)).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BreakerForcedOpen, None)
    );
    assert_eq!(
        b.next_deadline(),
        None,
        "forced open never moves on its own"
    );

    b.close(ms(30));
    run(&mut b, 31, 0, Outcome::Success).unwrap();
    assert_eq!(b.state(), State::Closed);
    b.reset(ms(40));
    let m = b.metrics(ms(40));
    assert_eq!((m.rejected, m.times_opened, m.calls), (0, 0, 0));
}

#[test]
fn a_clock_stepping_backwards_is_no_time_passed() {
    let mut b = CircuitBreaker::new(consecutive(1), NoWindow);
    run(&mut b, 5_000, 0, Outcome::Failure).unwrap(); // open until 65 s
    // the clock jumps back to t=1s: the breaker does not reopen earlier, nor panic
    let r = b.acquire(ms(1_000)).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(65_000)));
    assert!(b.acquire(ms(64_999)).is_err());
    let p = b.acquire(ms(65_000)).unwrap();
    b.record(ms(0), p, Outcome::Success); // reported "before" it was issued
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn instants_near_the_end_of_time_saturate() {
    let mut b = CircuitBreaker::new(consecutive(1), NoWindow);
    let far = Instant::MAX.saturating_sub(Duration::from_secs(1));
    let p = b.acquire(far).unwrap();
    b.record(far, p, Outcome::Failure);
    // the 60 s wait would end past the end of the clock: it never ends
    assert_eq!(b.metrics(far).open_until, Some(Instant::MAX));
    assert_eq!(b.next_deadline(), None, "nothing ever becomes due");
    let r = b.acquire(far).unwrap_err();
    assert_eq!(r.reason, RejectReason::BreakerOpen);
    assert!(r.is_never());
    assert!(b.acquire(Instant::MAX).unwrap_err().is_never());
    b.close(Instant::MAX); // only an operator ends it
    assert!(b.acquire(Instant::MAX).is_ok());
}

#[test]
fn every_transition_is_reported_in_order() {
    let mut events = Vec::new();
    let mut b =
        CircuitBreaker::with_observer(consecutive(2), NoWindow, FnObserver(|e| events.push(e)));
    run(&mut b, 0, 0, Outcome::Failure).unwrap();
    run(&mut b, 10, 0, Outcome::Failure).unwrap();
    let rejected = b.acquire(ms(20)).unwrap_err();
    run(&mut b, 60_010, 5, Outcome::Success).unwrap();
    assert_eq!(
        events,
        [
            BreakerEvent::StateChanged {
                from: State::Closed,
                to: State::Open,
                at: ms(10)
            },
            BreakerEvent::Rejected {
                at: ms(20),
                rejected
            },
            BreakerEvent::StateChanged {
                from: State::Open,
                to: State::HalfOpen,
                at: ms(60_010)
            },
            BreakerEvent::StateChanged {
                from: State::HalfOpen,
                to: State::Closed,
                at: ms(60_015)
            },
        ]
    );
}

#[test]
fn a_slow_probe_counts_as_a_failed_probe() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .slow_call_duration(Duration::from_millis(50))
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    b.open(ms(0));
    run(&mut b, 1_000, 51, Outcome::Success).unwrap(); // 1 ms over the limit
    assert_eq!(b.state(), State::Open);
    run(&mut b, 3_000, 50, Outcome::Success).unwrap(); // exactly the limit: not slow
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn metrics_report_rates_and_the_open_deadline() {
    let mut b = CircuitBreaker::new(rate_config(100), CountWindow::<100>::new());
    assert_eq!(b.metrics(ms(0)).failure_rate, None);
    for t in 0..8 {
        run(
            &mut b,
            t,
            0,
            if t % 4 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
        )
        .unwrap();
    }
    let m = b.metrics(ms(8));
    assert_eq!((m.calls, m.failures, m.failure_rate), (8, 2, Some(0.25)));
    b.open(ms(9));
    let _ = b.acquire(ms(10));
    let m = b.metrics(ms(10));
    assert_eq!(
        (m.state, m.open_until, m.rejected, m.times_opened),
        (State::Open, Some(ms(10_009)), 1, 1)
    );
}

#[test]
fn invalid_configurations_name_their_field() {
    let cases = [
        (
            BreakerConfig::builder().failure_rate_threshold(0.0).build(),
            "failure_rate_threshold",
        ),
        (
            BreakerConfig::builder()
                .failure_rate_threshold(f32::NAN)
                .build(),
            "failure_rate_threshold",
        ),
        (
            BreakerConfig::builder()
                .slow_call_rate_threshold(1.01)
                .build(),
            "slow_call_rate_threshold",
        ),
        (
            BreakerConfig::builder()
                .slow_call_duration(Duration::ZERO)
                .build(),
            "slow_call_duration",
        ),
        (
            BreakerConfig::builder().minimum_calls(0).build(),
            "minimum_calls",
        ),
        (
            BreakerConfig::builder().consecutive_failures(0).build(),
            "consecutive_failures",
        ),
        (
            BreakerConfig::builder().no_failure_rate().build(),
            "failure_rate_threshold",
        ),
        (
            BreakerConfig::builder().open_wait(Duration::ZERO).build(),
            "open_wait",
        ),
        (
            BreakerConfig::builder()
                .open_wait(Duration::from_secs(2))
                .open_wait_backoff(2, Duration::from_secs(1))
                .build(),
            "open_wait_max",
        ),
        (
            BreakerConfig::builder()
                .open_wait_backoff(0, Duration::from_secs(60))
                .build(),
            "open_wait_multiplier",
        ),
        (
            BreakerConfig::builder().half_open_probes(0).build(),
            "half_open_probes",
        ),
        (
            BreakerConfig::builder().success_threshold(0).build(),
            "success_threshold",
        ),
        (
            BreakerConfig::builder().probe_lease(Duration::ZERO).build(),
            "probe_lease",
        ),
    ];
    for (result, field) in cases {
        assert_eq!(result.map_err(|e| e.field), Err(field));
    }
}

#[test]
fn open_wait_backoff_never_overflows() {
    let config = BreakerConfig::builder()
        .open_wait(Duration::from_secs(1))
        .open_wait_backoff(u32::MAX, Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(
        config.open_wait_for(u32::MAX),
        Duration::from_nanos(u64::MAX)
    );
}

// ---- Half-open rules (issue 7, item 8) ----

/// resilience4j-style: `probes` probes judged at a 50% failure rate.
fn rate_rule(probes: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(probes)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .probe_lease(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Opens at t=0, admits `outcomes.len()` probes at t=1s, reports them in order
/// at t=1.010s, 1.020s, ...; returns the state after each report.
fn probe_round<W: Window>(b: &mut CircuitBreaker<W>, outcomes: &[Outcome]) -> Vec<State> {
    b.open(ms(0));
    let permits: Vec<_> = outcomes
        .iter()
        .map(|_| b.acquire(ms(1_000)).unwrap())
        .collect();
    permits
        .into_iter()
        .zip(outcomes)
        .enumerate()
        .map(|(i, (p, &o))| {
            b.record(ms(1_010 + 10 * i as u64), p, o);
            b.state()
        })
        .collect()
}

#[test]
fn rate_rule_closes_on_one_failed_probe_of_three_as_resilience4j_does() {
    // 1 of 3 failed = 33% < 50%: closed, once all three have reported
    let mut b = CircuitBreaker::new(rate_rule(3), CountWindow::<10>::new());
    let states = probe_round(
        &mut b,
        &[Outcome::Failure, Outcome::Success, Outcome::Success],
    );
    assert_eq!(states, [State::HalfOpen, State::HalfOpen, State::Closed]);
}

#[test]
fn success_threshold_rule_reopens_at_the_first_failed_probe_of_three() {
    let config = BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(3)
        .build()
        .unwrap();
    assert_eq!(config.half_open_rule(), HalfOpenRule::SuccessThreshold);
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    b.open(ms(0));
    let p: Vec<_> = (0..3).map(|_| b.acquire(ms(1_000)).unwrap()).collect();
    let mut p = p.into_iter();
    b.record(ms(1_010), p.next().unwrap(), Outcome::Failure);
    assert_eq!(
        b.state(),
        State::Open,
        "every probe must succeed by default"
    );
    b.record(ms(1_020), p.next().unwrap(), Outcome::Success);
    b.record(ms(1_030), p.next().unwrap(), Outcome::Success);
    assert_eq!(b.state(), State::Open, "the round was already judged");
    assert_eq!(b.metrics(ms(1_030)).stale_outcomes, 2);
}

#[test]
fn rate_rule_a_rate_equal_to_the_threshold_reopens() {
    // 4 probes at 50%: 2 failures = 50% reopens, 1 failure = 25% closes
    let f = Outcome::Failure;
    let s = Outcome::Success;
    let mut b = CircuitBreaker::new(rate_rule(4), NoWindow);
    assert_eq!(probe_round(&mut b, &[s, f, s, f])[3], State::Open);
    let mut b = CircuitBreaker::new(rate_rule(4), NoWindow);
    assert_eq!(probe_round(&mut b, &[s, f, s, s])[3], State::Closed);
    let mut b = CircuitBreaker::new(rate_rule(4), NoWindow);
    assert_eq!(probe_round(&mut b, &[f, f, s, f])[3], State::Open);
    // 2 probes, 1 failure: exactly 50%
    let mut b = CircuitBreaker::new(rate_rule(2), NoWindow);
    assert_eq!(probe_round(&mut b, &[s, f]), [State::HalfOpen, State::Open]);
}

#[test]
fn rate_rule_waits_for_every_probe_even_when_the_outcome_is_certain() {
    // resilience4j judges only once the permitted calls have all finished
    let f = Outcome::Failure;
    let mut b = CircuitBreaker::new(rate_rule(3), NoWindow);
    assert_eq!(
        probe_round(&mut b, &[f, f, Outcome::Success]),
        [State::HalfOpen, State::HalfOpen, State::Open]
    );
}

#[test]
fn rate_rule_judges_the_slow_call_rate_too() {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(1)
        .slow_call_duration(Duration::from_millis(100))
        .slow_call_rate_threshold(0.5)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(2)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .build()
        .unwrap();
    // one of two probes slow (101 ms): 50% reopens
    let mut b = CircuitBreaker::new(config, NoWindow);
    b.open(ms(0));
    let (p1, p2) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    b.record(ms(1_101), p1, Outcome::Success);
    b.record(ms(1_102), p2, Outcome::Failure); // fails, but the failure rate is off
    assert_eq!(b.state(), State::Open);
    // one probe of exactly 100 ms (not slow), one fast failure: 0% slow, closes
    let mut b = CircuitBreaker::new(config, NoWindow);
    b.open(ms(0));
    let (p1, p2) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    b.record(ms(1_100), p1, Outcome::Success);
    b.record(ms(1_100), p2, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn rate_rule_an_expired_probe_counts_as_failed() {
    let config = |threshold| {
        BreakerConfig::builder()
            .failure_rate_threshold(threshold)
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(1))
            .half_open_probes(2)
            .half_open_rule(HalfOpenRule::RateThresholds)
            .probe_lease(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    // 1 success + 1 expired = 50% failed: reopens at 50%, from the lease's end
    let mut b = CircuitBreaker::new(config(0.5), NoWindow);
    b.open(ms(0));
    let (p1, _lost) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    b.record(ms(1_010), p1, Outcome::Success);
    b.on_deadline(ms(5_999));
    assert_eq!(b.state(), State::HalfOpen);
    b.on_deadline(ms(6_000));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.next_deadline(), Some(ms(7_000)));
    // ... and closes at a 60% threshold
    let mut b = CircuitBreaker::new(config(0.6), NoWindow);
    b.open(ms(0));
    let (p1, _lost) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    b.record(ms(1_010), p1, Outcome::Success);
    b.on_deadline(ms(6_000));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn rate_rule_an_expired_probe_of_an_unfinished_round_leaves_it_open_for_more() {
    // 3 permitted, only 1 admitted and it expires: 1 of 3 reported, keep probing
    let mut b = CircuitBreaker::new(rate_rule(3), NoWindow);
    b.open(ms(0));
    let _lost = b.acquire(ms(1_000)).unwrap();
    b.on_deadline(ms(6_000));
    assert_eq!(b.state(), State::HalfOpen);
    let (p2, p3) = (b.acquire(ms(6_001)).unwrap(), b.acquire(ms(6_001)).unwrap());
    assert!(
        b.acquire(ms(6_002)).is_err(),
        "the expired probe used its slot"
    );
    b.record(ms(6_010), p2, Outcome::Success);
    b.record(ms(6_020), p3, Outcome::Success);
    assert_eq!(b.state(), State::Closed, "1 of 3 failed: 33% < 50%");
}

#[test]
fn rate_rule_a_cancelled_probe_frees_its_slot_and_counts_nowhere() {
    let mut b = CircuitBreaker::new(rate_rule(2), NoWindow);
    b.open(ms(0));
    let (p1, p2) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    b.record(ms(1_001), p1, Outcome::Cancelled);
    b.record(ms(1_002), p2, Outcome::Success);
    assert_eq!(b.state(), State::HalfOpen, "one of two permitted reported");
    let p3 = b.acquire(ms(1_003)).unwrap();
    b.record(ms(1_004), p3, Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn half_open_rule_is_validated_and_the_last_setter_wins() {
    let e = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .build()
        .unwrap_err();
    assert_eq!(
        (e.field, e.problem),
        ("half_open_rule", Problem::NothingEnabled)
    );
    // slow-call detection alone is enough
    assert!(
        BreakerConfig::builder()
            .no_failure_rate()
            .slow_call_duration(Duration::from_secs(1))
            .half_open_rule(HalfOpenRule::RateThresholds)
            .build()
            .is_ok()
    );
    // success_threshold after the rate rule selects the threshold rule again
    let c = BreakerConfig::builder()
        .half_open_probes(3)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .success_threshold(2)
        .build()
        .unwrap();
    assert_eq!(
        (c.half_open_rule(), c.success_threshold()),
        (HalfOpenRule::SuccessThreshold, 2)
    );
    // the rate rule after a success threshold: the threshold is not used (nor validated)
    let c = BreakerConfig::builder()
        .half_open_probes(3)
        .success_threshold(7)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .build()
        .unwrap();
    assert_eq!(c.half_open_rule(), HalfOpenRule::RateThresholds);
}

// ---- retry_at of every rejection (issue 7, item 6) ----

#[test]
fn half_open_full_says_the_earliest_instant_is_unknown() {
    let mut b = CircuitBreaker::new(half_open_config(2, 2), NoWindow);
    b.open(ms(0));
    let (p1, p2) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
    let r = b.acquire(ms(1_001)).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BreakerHalfOpenFull, None)
    );
    // indeed a probe reporting 1 ms later decides the round: no lease-long wait
    b.record(ms(1_002), p1, Outcome::Success);
    b.record(ms(1_002), p2, Outcome::Success);
    assert!(b.acquire(ms(1_002)).is_ok());
}

#[test]
fn every_rejection_keeps_the_retry_at_convention() {
    let mut b = CircuitBreaker::new(half_open_config(1, 1), NoWindow);
    // open: exactly the wait's end, and admitted there
    b.open(ms(0));
    let r = b.acquire(ms(500)).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BreakerOpen, Some(ms(1_000)))
    );
    assert!(b.acquire(Instant::from_nanos(999_999_999)).is_err());
    let p = b.acquire(ms(1_000)).unwrap();
    // half-open full: unknown
    let r = b.acquire(ms(1_001)).unwrap_err();
    assert_eq!(r.retry_at, None);
    b.record(ms(1_002), p, Outcome::Success);
    // forced open: unknown (an operator decides)
    b.force_open(ms(2_000));
    let r = b.acquire(ms(2_001)).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BreakerForcedOpen, None)
    );
    assert!(!r.is_never());
}

// ---- SharedBreaker answers exactly as the machine (issue 7, item 6) ----

mod shared {
    use super::*;
    use crate::sync::{CsLock, SharedBreaker};

    type Shared = SharedBreaker<NoWindow, (), CsLock<CircuitBreaker<NoWindow>>>;

    fn shared(config: BreakerConfig) -> Shared {
        SharedBreaker::new(CsLock::new(CircuitBreaker::new(config, NoWindow)))
    }

    #[test]
    fn open_rejects_lock_free_with_the_exact_end_of_the_wait() {
        let s = shared(half_open_config(1, 1));
        s.with(|b| b.open(ms(0)));
        let r = s.acquire(Instant::from_nanos(999_999_999)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerOpen, Some(ms(1_000)))
        );
        assert!(s.acquire(ms(1_000)).unwrap().is_probe());
    }

    /// A breaker without counters keeps none in its shared handle either:
    /// the gate's rejections (where there is a gate) are not counted, and
    /// every answer is the counting breaker's.
    #[test]
    fn no_counters_counts_no_gate_rejection() {
        let lean: SharedBreaker<NoWindow, (), CsLock<_>, BreakerConfig, NoCounters> =
            SharedBreaker::new(CsLock::new(CircuitBreaker::with_counters(
                half_open_config(1, 1),
                NoWindow,
                (),
                NoCounters,
            )));
        let counted = shared(half_open_config(1, 1));
        lean.with(|b| b.open(ms(0)));
        counted.with(|b| b.open(ms(0)));
        for t in 1..10 {
            assert_eq!(lean.acquire(ms(t)), counted.acquire(ms(t)));
        }
        assert_eq!(lean.gate_rejections(), 0);
        assert_eq!(lean.metrics(ms(10)).rejected, 0);
        assert_eq!(counted.metrics(ms(10)).rejected, 9);
    }

    #[test]
    fn half_open_full_says_unknown() {
        let s = shared(half_open_config(1, 1));
        s.with(|b| b.open(ms(0)));
        let p = s.acquire(ms(1_000)).unwrap();
        let r = s.acquire(ms(1_001)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerHalfOpenFull, None)
        );
        s.record(ms(1_002), p, Outcome::Success);
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn forced_open_says_unknown() {
        let s = shared(half_open_config(1, 1));
        s.with(|b| b.force_open(ms(0)));
        let r = s.acquire(ms(1_000_000)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerForcedOpen, None)
        );
        assert_eq!(s.metrics(ms(1_000_000)).rejected, 1);
    }

    #[test]
    fn an_open_wait_past_the_end_of_the_clock_says_never_not_forced_open() {
        let s = shared(half_open_config(1, 1));
        let late = Instant::MAX.saturating_sub(Duration::from_millis(1));
        s.with(|b| b.open(late)); // 1 s wait: ends past the end of the clock
        for at in [late, Instant::from_nanos(u64::MAX - 1), Instant::MAX] {
            let r = s.acquire(at).unwrap_err();
            assert_eq!(r.reason, RejectReason::BreakerOpen, "at {at}");
            assert!(r.is_never(), "at {at}");
            // the machine's own answer is the same
            let direct = s.with(|b| b.acquire(at)).unwrap_err();
            assert_eq!(direct, r);
        }
    }

    #[test]
    fn an_open_wait_ending_just_before_the_end_of_the_clock_is_exact() {
        // opened at MAX - 1 s - 1 ns with a 1 s wait: ends at MAX - 1 ns, a
        // real instant (the shared gate cannot hold it; the machine answers)
        let s = shared(half_open_config(1, 1));
        let opened = Instant::from_nanos(u64::MAX - 1_000_000_001);
        s.with(|b| b.open(opened));
        let end = Instant::from_nanos(u64::MAX - 1);
        let r = s.acquire(opened).unwrap_err();
        assert_eq!(r.retry_at, Some(end));
        assert!(s.acquire(end).unwrap().is_probe());
    }
}

// ---- A shared closed breaker counts successes without its lock ----
// (only where `Shared` has its gate: these count the lock's takes)

#[cfg(not(failsafe_no_gate))]
mod lock_free_successes {
    use core::cell::Cell;

    use super::*;
    use crate::sync::{CsLock, Lock, Shared};

    /// A [`CsLock`] that counts how often it is taken.
    struct Counting<'a, T> {
        lock: CsLock<T>,
        taken: &'a Cell<u32>,
    }

    impl<T> Lock<T> for Counting<'_, T> {
        fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
            self.taken.set(self.taken.get() + 1);
            self.lock.with(f)
        }
    }

    type Breaker<'a, W> = Shared<CircuitBreaker<W>, Counting<'a, CircuitBreaker<W>>>;

    fn shared<W: Window>(config: BreakerConfig, window: W, taken: &Cell<u32>) -> Breaker<'_, W> {
        Shared::from_lock(Counting {
            lock: CsLock::new(CircuitBreaker::new(config, window)),
            taken,
        })
    }

    /// One admitted call that succeeds, its time read only if needed.
    fn success<W: Window>(s: &Breaker<W>, at: u64) {
        let p = s.acquire(|| ms(at)).unwrap();
        s.record(|| ms(at), p, Outcome::Success);
    }

    /// One admitted call that fails at `at`.
    fn failure<W: Window>(s: &Breaker<W>, at: u64) {
        let p = s.acquire(ms(at)).unwrap();
        s.record(ms(at), p, Outcome::Failure);
    }

    #[test]
    fn successes_take_no_lock_and_are_all_counted() {
        let taken = Cell::new(0);
        let s = shared(rate_config(4), CountWindow::<10>::new(), &taken);
        let before = taken.get();
        for t in 0..7 {
            success(&s, t);
        }
        assert_eq!(taken.get(), before, "seven successes, no lock");
        let m = s.metrics(ms(7));
        assert_eq!((m.calls, m.failures, m.state), (7, 0, State::Closed));
        // a full window's worth and more: 25 successes fill 10 slots
        for t in 0..25 {
            success(&s, 7 + t);
        }
        let m = s.metrics(ms(32));
        assert_eq!((m.calls, m.failures), (10, 0));
    }

    #[test]
    fn the_success_that_reaches_minimum_calls_still_trips() {
        // as `count_window_trips_at_the_rate_only_after_minimum_calls`, shared
        let taken = Cell::new(0);
        let s = shared(rate_config(4), CountWindow::<10>::new(), &taken);
        failure(&s, 0);
        failure(&s, 1);
        success(&s, 2); // 3 calls: cannot trip, counted lock-free
        assert_eq!(s.state(), State::Closed);
        success(&s, 3); // 4 calls, 2 failures = 50%: trips
        assert_eq!(s.state(), State::Open);
        let r = s.acquire(ms(4)).unwrap_err();
        assert_eq!(r.retry_at, Some(ms(3 + 10_000)));
    }

    #[test]
    fn a_lock_free_success_ends_a_failure_streak() {
        let taken = Cell::new(0);
        let s = shared(consecutive(3), NoWindow, &taken);
        let before = taken.get();
        success(&s, 0);
        assert_eq!(taken.get(), before);
        failure(&s, 1);
        failure(&s, 2);
        success(&s, 3);
        failure(&s, 4);
        failure(&s, 5);
        assert_eq!(
            s.state(),
            State::Closed,
            "the success at 3 ended the streak"
        );
        assert_eq!(s.metrics(ms(5)).consecutive_failures, 2);
        failure(&s, 6);
        assert_eq!(s.state(), State::Open);
    }

    #[test]
    fn a_success_from_before_a_trip_is_stale_not_counted() {
        let taken = Cell::new(0);
        let s = shared(consecutive(1), CountWindow::<10>::new(), &taken);
        let old = s.acquire(ms(0)).unwrap();
        failure(&s, 1); // trips: a new epoch
        s.with(|b| b.close(ms(2)));
        s.record(|| ms(3), old, Outcome::Success);
        let m = s.metrics(ms(3));
        assert_eq!((m.calls, m.stale_outcomes), (0, 1));
    }

    #[test]
    fn a_success_at_a_newer_known_time_reaches_the_machine() {
        // the clock contract: a success noted at 10 s makes a failure at 5 s
        // count as 10 s, so the 60 s open wait runs from 10 s (not from 5 s)
        let taken = Cell::new(0);
        let s = shared(consecutive(1), CountWindow::<10>::new(), &taken);
        let p = s.acquire(ms(0)).unwrap();
        s.record(ms(10_000), p, Outcome::Success);
        failure(&s, 5_000);
        let r = s.acquire(ms(5_000)).unwrap_err();
        assert_eq!(r.retry_at, Some(ms(70_000)));
    }

    #[test]
    fn slow_call_detection_and_time_windows_keep_the_lock() {
        let slow = BreakerConfig::builder()
            .slow_call_duration(Duration::from_millis(100))
            .build()
            .unwrap();
        let taken = Cell::new(0);
        let s = shared(slow, CountWindow::<10>::new(), &taken);
        let before = taken.get();
        success(&s, 0);
        assert_eq!(taken.get(), before + 1);

        let taken = Cell::new(0);
        let s = shared(
            rate_config(4),
            crate::breaker::TimeWindow::<4>::new(Duration::from_secs(4)).unwrap(),
            &taken,
        );
        let before = taken.get();
        success(&s, 0);
        assert_eq!(taken.get(), before + 1);
    }

    #[test]
    fn metrics_only_counts_every_success_lock_free() {
        let taken = Cell::new(0);
        let s = shared(consecutive(1), CountWindow::<10>::new(), &taken);
        s.with(|b| b.metrics_only(ms(0)));
        let before = taken.get();
        for t in 0..4 {
            success(&s, t);
        }
        assert_eq!(taken.get(), before);
        assert_eq!(s.metrics(ms(4)).calls, 4);
    }

    #[test]
    fn count_window_record_successes_is_n_records() {
        for n in [0u32, 1, 3, 4, 5, 9, 10, 11, 23] {
            let mut fast = CountWindow::<4>::new();
            let mut slow = CountWindow::<4>::new();
            for (i, failed) in [true, false, true].into_iter().enumerate() {
                let s = Sample {
                    failed,
                    slow: i == 0,
                };
                fast.record(ms(0), s);
                slow.record(ms(0), s);
            }
            fast.record_successes(ms(0), n);
            for _ in 0..n {
                slow.record(ms(0), Sample::default());
            }
            assert_eq!(fast, slow, "n = {n}");
        }
    }
}

/// The machine counts opens in a row in a `u8` that saturates at 255: the
/// wait reaches its cap by the 65th open whatever the multiplier, so the
/// waits are those of an unbounded count.
#[test]
fn opens_in_a_row_saturating_at_255_changes_no_wait() {
    for multiplier in [2u32, 3, 10, 1_000, u32::MAX] {
        for initial_ns in [1u64, 7, 1_000_000_000] {
            let c = BreakerConfig::builder()
                .open_wait(Duration::from_nanos(initial_ns))
                .open_wait_backoff(multiplier, Duration::MAX)
                .build()
                .unwrap();
            let capped = c.open_wait_for(255);
            for n in [255u32, 256, 1_000, u32::MAX] {
                assert_eq!(
                    c.open_wait_for(n),
                    capped,
                    "x{multiplier} from {initial_ns} ns, n = {n}"
                );
            }
        }
    }
    // and a breaker that opened 300 times in a row waits the cap
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_millis(1))
        .open_wait_backoff(2, Duration::from_secs(1))
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(&config, NoWindow);
    b.open(ms(0));
    let mut t = 0;
    for _ in 0..300 {
        t += 1_000;
        b.open(ms(t));
    }
    assert_eq!(b.next_deadline(), Some(ms(t + 1_000)));
}

/// The firmware breaker's RAM, field by field (the README's table and
/// `.ci/firmware.sh`'s `breaker128_ram`): no pointer in it and every field
/// aligned to 4, so a 64-bit host lays it out as thumbv7em does.
#[test]
fn firmware_breaker_layout() {
    use core::mem::{align_of, size_of};
    crate::const_config!(Firmware: BreakerConfig = crate::checked(BreakerConfig::builder().build()));
    type Window = CountWindow<128, 4, 0>;
    type Lean = CircuitBreaker<Window, (), Firmware, NoCounters>;
    assert_eq!(size_of::<Firmware>(), 0, "the config: a const, no RAM");
    assert_eq!(size_of::<NoCounters>(), 0, "no counters, no RAM");
    // failure bits 16 B, position, failures, slow calls 3 x 4 B
    assert_eq!(size_of::<Window>(), 28);
    // + open/lease deadline 8 (two u32 halves), latest time seen 8 (the
    // same), failures in a row or the half-open round 8, epoch 4, state and
    // opens in a row 2: 58, padded to 60
    assert_eq!(size_of::<crate::time::PackedInstant>(), 8);
    assert_eq!(size_of::<crate::time::Monotonic>(), 8);
    assert_eq!(size_of::<Tally>(), 8);
    assert_eq!(size_of::<Lean>(), 60);
    // aligned to 4: a lock's `RefCell` borrow flag (an `isize`, 4 B on
    // thumbv7em) adds 4 B and no padding: 64 B in all
    assert_eq!(align_of::<Lean>(), 4);
    // the default keeps the counters (rejected, opened, stale: 3 x u64,
    // aligned to 8): 60 + 24 = 84, padded to 88
    assert_eq!(size_of::<CircuitBreaker<Window, (), Firmware>>(), 88);
    // the default window keeps slow bits too
    assert_eq!(size_of::<CountWindow<128>>(), 44);
}

/// Failures in a row and the half-open round share one [`Tally`]: each
/// reads back what was written, over the whole range of every count.
#[test]
fn a_tally_holds_a_streak_or_a_round() {
    for n in [0, 1, 0xffff, 0x1_0000, u32::MAX] {
        assert_eq!(Tally::streak(n).failures_in_a_row(), n);
    }
    for (admitted, successes, failures, slow) in [
        (0, 0, 0, 0),
        (1, 0, 1, 1),
        (u16::MAX, u16::MAX - 1, 1, u16::MAX),
        (0x8000, 0x7fff, 0x0001, 0xfffe),
    ] {
        let round = Round {
            admitted,
            successes,
            failures,
            slow,
        };
        assert_eq!(Tally::round(round).as_round(), round);
    }
    assert_eq!(
        Tally::ZERO.as_round(),
        Tally::round(Round::default()).as_round()
    );
    assert_eq!(Tally::ZERO.failures_in_a_row(), 0);
}

/// The half-open round counts in `u16`s: the builder caps the probes.
#[test]
fn half_open_probes_are_capped_at_65535() {
    let at = |n: u32| BreakerConfig::builder().half_open_probes(n).build();
    assert_eq!(at(65_535).unwrap().half_open_probes(), 65_535);
    for n in [65_536, u32::MAX] {
        let e = at(n).unwrap_err();
        assert_eq!(
            (e.field, e.problem),
            ("half_open_probes", Problem::TooLarge)
        );
    }
    // a full round of 65,535 probes: every one admitted, the next rejected,
    // and all of them succeeding closes
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .half_open_probes(65_535)
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, NoWindow);
    b.open(ms(0));
    let permits: Vec<_> = (0..65_535).map(|_| b.acquire(ms(1_000)).unwrap()).collect();
    assert_eq!(b.metrics(ms(1_000)).probes_in_flight, 65_535);
    assert_eq!(
        b.acquire(ms(1_000)).unwrap_err().reason,
        RejectReason::BreakerHalfOpenFull
    );
    for p in permits {
        assert_eq!(b.state(), State::HalfOpen);
        b.record(ms(1_001), p, Outcome::Success);
    }
    assert_eq!(b.state(), State::Closed);
}

/// Without counters the breaker decides exactly as with them; only the
/// three counts read 0.
#[test]
fn no_counters_decides_the_same() {
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .open_wait(Duration::from_millis(10))
        .half_open_probes(2)
        .build()
        .unwrap();
    let mut counted = CircuitBreaker::new(config, CountWindow::<8>::new());
    let mut lean = CircuitBreaker::with_counters(config, CountWindow::<8>::new(), (), NoCounters);
    let mut stale = None;
    for t in 0..200u64 {
        let (a, b) = (counted.acquire(ms(t)), lean.acquire(ms(t)));
        assert_eq!(a.as_ref().err(), b.as_ref().err(), "t = {t}");
        if let (Ok(a), Ok(b)) = (a, b) {
            let outcome = if t % 7 < 3 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            if t % 11 == 0 && stale.is_none() {
                stale = Some((a, b)); // reported later, in another state
                continue;
            }
            counted.record(ms(t), a, outcome);
            lean.record(ms(t), b, outcome);
        }
        if t % 50 == 49
            && let Some((a, b)) = stale.take()
        {
            counted.record(ms(t), a, Outcome::Success);
            lean.record(ms(t), b, Outcome::Success);
        }
        let (m, n) = (counted.metrics(ms(t)), lean.metrics(ms(t)));
        assert_eq!((n.rejected, n.times_opened, n.stale_outcomes), (0, 0, 0));
        assert_eq!(
            BreakerMetrics {
                rejected: 0,
                times_opened: 0,
                stale_outcomes: 0,
                ..m
            },
            n,
            "t = {t}"
        );
        assert_eq!(counted.next_deadline(), lean.next_deadline());
    }
    let m = counted.metrics(ms(200));
    assert!(
        m.rejected > 0 && m.times_opened > 0 && m.stale_outcomes > 0,
        "{m:?}"
    );
}
