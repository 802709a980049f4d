//! Timelines: each test reads as "at t=.. this happens, then ..".

extern crate std;
use std::vec::Vec;

use core::time::Duration;

use super::*;
use crate::{FnObserver, Instant, Outcome, RejectReason};

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
    run(&mut b, 0, 99, Outcome::Success).unwrap(); // fast
    run(&mut b, 200, 100, Outcome::Success).unwrap(); // exactly the limit: slow
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
        r.retry_at,
        Some(ms(6_002)),
        "the lease of the last probe admitted"
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
    assert_eq!(b.next_deadline(), Some(Instant::MAX));
    assert!(b.acquire(Instant::MAX).unwrap().is_probe());
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
    run(&mut b, 1_000, 50, Outcome::Success).unwrap();
    assert_eq!(b.state(), State::Open);
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
