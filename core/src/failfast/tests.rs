//! Timelines: each test reads as "at t=.. this happens, then ..".

extern crate std;
use std::vec::Vec;

use core::time::Duration;

use super::*;
use crate::timeout::Deadline;
use crate::{FnObserver, Instant, Observer, Outcome, RejectReason};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Acquire at `t` (no deadline), record `outcome` at `t + took`.
fn run<O: Observer<FailFastEvent>>(
    ff: &mut FailFast<O>,
    t: u64,
    took: u64,
    outcome: Outcome,
) -> Result<(), Rejected> {
    let p = ff.acquire(ms(t), Deadline::NEVER)?;
    ff.record(ms(t + took), p, outcome);
    Ok(())
}

fn after_failures(n: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(n)
        .build()
        .unwrap()
}

fn with_probes(n: u32, interval_ms: u64) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(n)
        .probe_interval(Duration::from_millis(interval_ms))
        .build()
        .unwrap()
}

#[test]
fn opens_after_n_failures_in_a_row_and_a_success_resets_the_streak() {
    let mut events = Vec::new();
    let mut ff = FailFast::with_observer(after_failures(3), FnObserver(|e| events.push(e)));
    run(&mut ff, 0, 1, Outcome::Failure).unwrap();
    run(&mut ff, 10, 1, Outcome::Failure).unwrap();
    run(&mut ff, 20, 1, Outcome::Success).unwrap(); // streak broken
    assert_eq!(ff.metrics().consecutive_failures, 0);
    run(&mut ff, 30, 1, Outcome::Failure).unwrap();
    run(&mut ff, 40, 1, Outcome::Cancelled).unwrap(); // counts neither way
    run(&mut ff, 45, 1, Outcome::Ignored).unwrap();
    run(&mut ff, 50, 1, Outcome::Timeout).unwrap(); // a timeout is a failure
    assert_eq!(ff.state(), State::Closed);
    assert_eq!(ff.metrics().consecutive_failures, 2);
    run(&mut ff, 60, 1, Outcome::Failure).unwrap();
    // at t=61 the third failure in a row opens it
    assert_eq!(ff.state(), State::Open);
    let m = ff.metrics();
    assert_eq!(
        (m.open_cause, m.open_since, m.consecutive_failures),
        (Some(OpenCause::ConsecutiveFailures), Some(ms(61)), 3)
    );
    let r = ff.acquire(ms(70), Deadline::NEVER).unwrap_err();
    assert_eq!(
        events,
        [
            FailFastEvent::Opened {
                at: ms(61),
                cause: OpenCause::ConsecutiveFailures
            },
            FailFastEvent::Rejected {
                at: ms(70),
                rejected: r
            },
        ]
    );
}

#[test]
fn without_probes_it_stays_open_until_recovery_is_signalled() {
    let mut ff = FailFast::new(after_failures(1));
    run(&mut ff, 0, 0, Outcome::Failure).unwrap();
    assert_eq!(ff.next_deadline(), None, "nothing happens by time alone");
    // an hour, a day, a year later: still open, and no retry_at to promise
    for t in [1_000, 3_600_000, 86_400_000, 31_536_000_000] {
        ff.on_deadline(ms(t));
        let r = ff.acquire(ms(t), Deadline::NEVER).unwrap_err();
        assert_eq!((r.reason, r.retry_at), (RejectReason::FailFastOpen, None));
    }
    assert_eq!(ff.metrics().rejected_open, 4);
    assert_eq!(ff.rejecting_until(), Some(Instant::MAX));
    // at t=1y+1s a health check reports it back
    ff.report_healthy(ms(31_536_001_000));
    assert_eq!(ff.state(), State::Closed);
    run(&mut ff, 31_536_001_001, 1, Outcome::Success).unwrap();
}

#[test]
fn manual_open_and_close() {
    let mut events = Vec::new();
    let mut ff = FailFast::with_observer(after_failures(5), FnObserver(|e| events.push(e)));
    ff.open(ms(100));
    ff.open(ms(150)); // already open: nothing changes
    assert!(ff.acquire(ms(200), Deadline::NEVER).is_err());
    ff.close(ms(300));
    ff.close(ms(350)); // already closed: no event
    run(&mut ff, 400, 1, Outcome::Success).unwrap();
    assert_eq!(ff.metrics().times_opened, 1);
    assert_eq!(
        events,
        [
            FailFastEvent::Opened {
                at: ms(100),
                cause: OpenCause::Manual
            },
            FailFastEvent::Rejected {
                at: ms(200),
                rejected: Rejected::new(RejectReason::FailFastOpen, None)
            },
            FailFastEvent::Closed {
                at: ms(300),
                cause: CloseCause::Manual
            },
        ]
    );
}

#[test]
fn an_unhealthy_report_opens_at_once_and_a_healthy_one_closes() {
    let mut events = Vec::new();
    let mut ff = FailFast::with_observer(after_failures(100), FnObserver(|e| events.push(e)));
    run(&mut ff, 0, 5, Outcome::Failure).unwrap();
    // at t=10 the outcome predicate (say, a 503 with "maintenance") matched
    ff.report_unhealthy(ms(10));
    assert_eq!(ff.state(), State::Open);
    ff.report_unhealthy(ms(20)); // already open
    ff.report_healthy(ms(30));
    assert_eq!(ff.state(), State::Closed);
    assert_eq!(ff.metrics().consecutive_failures, 0);
    assert_eq!(
        events,
        [
            FailFastEvent::Opened {
                at: ms(10),
                cause: OpenCause::Unhealthy
            },
            FailFastEvent::Closed {
                at: ms(30),
                cause: CloseCause::Healthy
            },
        ]
    );
}

#[test]
fn a_healthy_report_while_closed_ends_the_streak() {
    let mut ff = FailFast::new(after_failures(2));
    run(&mut ff, 0, 1, Outcome::Failure).unwrap();
    ff.report_healthy(ms(5));
    run(&mut ff, 10, 1, Outcome::Failure).unwrap();
    assert_eq!(ff.state(), State::Closed);
}

#[test]
fn with_a_probe_interval_one_probe_per_interval_and_a_success_closes() {
    let mut events = Vec::new();
    let mut ff = FailFast::with_observer(with_probes(1, 1_000), FnObserver(|e| events.push(e)));
    run(&mut ff, 0, 0, Outcome::Failure).unwrap(); // open at t=0, first probe at t=1s
    assert_eq!(ff.next_deadline(), Some(ms(1_000)));
    let r = ff.acquire(ms(500), Deadline::NEVER).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::FailFastOpen, Some(ms(1_000)))
    );
    // at t=1s the driver wakes up: the probe is due (reported once)
    ff.on_deadline(ms(1_000));
    assert_eq!(ff.next_deadline(), None);
    assert_eq!(
        ff.state(),
        State::Open,
        "a due probe does not change the state"
    );
    // at t=1.2s the first caller is the probe; the next probe is due at
    // t=2.2s, but while this one is out its success may close it sooner
    let probe = ff.acquire(ms(1_200), Deadline::NEVER).unwrap();
    assert!(probe.is_probe());
    let r = ff.acquire(ms(1_201), Deadline::NEVER).unwrap_err();
    assert_eq!(r.retry_at, None);
    assert_eq!(ff.next_deadline(), Some(ms(2_200)));
    ff.record(ms(1_300), probe, Outcome::Failure); // still down: stays open
    assert_eq!(ff.state(), State::Open);
    assert!(ff.acquire(ms(2_199), Deadline::NEVER).is_err());
    // at t=2.2s the second probe succeeds and closes it
    let probe = ff.acquire(ms(2_200), Deadline::NEVER).unwrap();
    ff.record(ms(2_250), probe, Outcome::Success);
    assert_eq!(ff.state(), State::Closed);
    assert_eq!(ff.next_deadline(), None);
    assert_eq!(ff.metrics().probes_admitted, 2);
    let expected = [
        FailFastEvent::Opened {
            at: ms(0),
            cause: OpenCause::ConsecutiveFailures,
        },
        FailFastEvent::Rejected {
            at: ms(500),
            rejected: Rejected::new(RejectReason::FailFastOpen, Some(ms(1_000))),
        },
        FailFastEvent::ProbeDue { at: ms(1_000) },
        FailFastEvent::Rejected {
            at: ms(1_201),
            rejected: Rejected::new(RejectReason::FailFastOpen, None),
        },
        FailFastEvent::Rejected {
            at: ms(2_199),
            rejected: Rejected::new(RejectReason::FailFastOpen, Some(ms(2_200))),
        },
        FailFastEvent::ProbeDue { at: ms(2_200) },
        FailFastEvent::Closed {
            at: ms(2_250),
            cause: CloseCause::ProbeSucceeded,
        },
    ];
    assert_eq!(events, expected);
}

#[test]
fn a_probe_that_never_reports_does_not_wedge_it_and_a_cancelled_one_gives_its_turn_back() {
    let mut ff = FailFast::new(with_probes(1, 1_000));
    ff.open(ms(0));
    let _lost = ff.acquire(ms(1_000), Deadline::NEVER).unwrap();
    // the lost probe never reports: the next one is due one interval later anyway
    assert!(ff.acquire(ms(1_999), Deadline::NEVER).is_err());
    let cancelled = ff.acquire(ms(2_000), Deadline::NEVER).unwrap();
    ff.record(ms(2_001), cancelled, Outcome::Cancelled);
    // a cancelled probe says nothing: the next caller probes at once
    let again = ff.acquire(ms(2_002), Deadline::NEVER).unwrap();
    assert!(again.is_probe());
    assert!(
        ff.acquire(ms(2_003), Deadline::NEVER).is_err(),
        "still one probe at a time"
    );
    ff.record(ms(2_010), again, Outcome::Success);
    assert_eq!(ff.state(), State::Closed);
}

#[test]
fn a_probe_from_an_earlier_open_cannot_close_a_later_one() {
    let mut ff = FailFast::new(with_probes(1, 1_000));
    ff.open(ms(0));
    let old_probe = ff.acquire(ms(1_000), Deadline::NEVER).unwrap();
    ff.report_healthy(ms(1_100));
    ff.report_unhealthy(ms(1_200)); // down again
    ff.record(ms(1_300), old_probe, Outcome::Success);
    assert_eq!(ff.state(), State::Open);
    assert_eq!(ff.metrics().stale_outcomes, 1);
}

#[test]
fn outcomes_from_before_the_last_open_or_close_are_stale() {
    let mut events = Vec::new();
    let mut ff = FailFast::with_observer(after_failures(2), FnObserver(|e| events.push(e)));
    let before_open = ff.acquire(ms(0), Deadline::NEVER).unwrap();
    run(&mut ff, 1, 0, Outcome::Failure).unwrap();
    run(&mut ff, 2, 0, Outcome::Failure).unwrap(); // opens at t=2
    ff.close(ms(10));
    let before_close = {
        ff.open(ms(20));
        ff.close(ms(30));
        ff.acquire(ms(31), Deadline::NEVER).unwrap()
    };
    run(&mut ff, 32, 0, Outcome::Failure).unwrap(); // one failure of two
    // the call admitted at t=0 finally fails at t=40: not counted, no trip
    ff.record(ms(40), before_open, Outcome::Failure);
    assert_eq!(ff.state(), State::Closed);
    assert_eq!(ff.metrics().consecutive_failures, 1);
    ff.open(ms(50));
    // a success admitted while closed cannot close a later open
    ff.record(ms(60), before_close, Outcome::Success);
    assert_eq!(ff.state(), State::Open);
    assert_eq!(ff.metrics().stale_outcomes, 2);
    assert!(events.contains(&FailFastEvent::StaleOutcome {
        at: ms(40),
        outcome: Outcome::Failure
    }));
}

#[test]
fn a_deadline_shorter_than_the_configured_duration_plus_margin_is_rejected() {
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(80))
        .safety_margin(Duration::from_millis(20))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    let now = ms(1_000);
    // 100 ms left is exactly enough
    let p = ff
        .acquire(now, Deadline::after(now, Duration::from_millis(100)))
        .unwrap();
    ff.record(ms(1_080), p, Outcome::Success);
    // 99 ms is not; waiting would only make it worse, so no retry_at
    let r = ff
        .acquire(now, Deadline::after(now, Duration::from_millis(99)))
        .unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::DeadlineTooShort, None)
    );
    // no deadline at all is always enough
    let p = ff.acquire(now, Deadline::NEVER).unwrap();
    ff.record(now, p, Outcome::Success);
    let m = ff.metrics();
    assert_eq!((m.rejected_deadline, m.rejected_open), (1, 0));
    assert_eq!(
        m.expected_duration,
        Duration::from_millis(80),
        "fixed: not learned"
    );
}

#[test]
fn an_expired_deadline_is_rejected_even_with_nothing_configured() {
    let mut ff = FailFast::new(FailFastConfig::DEFAULT);
    let r = ff.acquire(ms(10), Deadline::at(ms(10))).unwrap_err();
    assert_eq!(r.reason, RejectReason::DeadlineTooShort);
    let p = ff.acquire(ms(10), Deadline::at(ms(11))).unwrap();
    ff.record(ms(11), p, Outcome::Success);
}

#[test]
fn the_expected_duration_is_learned_from_successes_only() {
    let config = FailFastConfig::builder()
        .consecutive_failures(10)
        .learn_expected_duration(4)
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    assert_eq!(
        ff.expected_duration(),
        Duration::ZERO,
        "nothing learned yet"
    );
    run(&mut ff, 0, 200, Outcome::Success).unwrap(); // first success taken as is
    assert_eq!(ff.expected_duration(), Duration::from_millis(200));
    run(&mut ff, 1_000, 5_000, Outcome::Timeout).unwrap(); // failures teach nothing
    run(&mut ff, 7_000, 9_000, Outcome::Cancelled).unwrap();
    assert_eq!(ff.expected_duration(), Duration::from_millis(200));
    run(&mut ff, 20_000, 600, Outcome::Success).unwrap(); // 200 + (600 - 200) / 4
    assert_eq!(ff.expected_duration(), Duration::from_millis(300));
    run(&mut ff, 21_000, 100, Outcome::Success).unwrap(); // 300 - 200 / 4
    assert_eq!(ff.expected_duration(), Duration::from_millis(250));
    assert_eq!(ff.metrics().learned_samples, 3);
    // a caller with 249 ms left is turned away, one with 250 ms is admitted
    let now = ms(30_000);
    let r = ff
        .acquire(now, Deadline::after(now, Duration::from_millis(249)))
        .unwrap_err();
    assert_eq!(r.reason, RejectReason::DeadlineTooShort);
    let p = ff
        .acquire(now, Deadline::after(now, Duration::from_millis(250)))
        .unwrap();
    ff.record(ms(30_250), p, Outcome::Success);
}

#[test]
fn a_learned_duration_starts_from_the_configured_one_and_is_capped() {
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(100))
        .learn_expected_duration(2)
        .max_expected_duration(Duration::from_millis(400))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    assert_eq!(ff.expected_duration(), Duration::from_millis(100));
    run(&mut ff, 0, 300, Outcome::Success).unwrap(); // seeded: 100 + (300 - 100) / 2
    assert_eq!(ff.expected_duration(), Duration::from_millis(200));
    run(&mut ff, 1_000, 60_000, Outcome::Success).unwrap(); // one very slow success
    assert_eq!(ff.expected_duration(), Duration::from_millis(400), "capped");
    // a caller with 450 ms can still get through and teach it otherwise
    let now = ms(100_000);
    let p = ff
        .acquire(now, Deadline::after(now, Duration::from_millis(450)))
        .unwrap();
    ff.record(ms(100_000), p, Outcome::Success); // 0 ms
    assert_eq!(ff.expected_duration(), Duration::from_millis(200));
    ff.reset(ms(100_001));
    assert_eq!(
        ff.expected_duration(),
        Duration::from_millis(100),
        "reset forgets"
    );
}

#[test]
fn a_probe_with_a_deadline_too_short_does_not_use_up_the_probe() {
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(Duration::from_secs(1))
        .expected_duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    ff.open(ms(0));
    // before the probe: "open" wins over "deadline", it says more
    let r = ff.acquire(ms(10), Deadline::at(ms(20))).unwrap_err();
    assert_eq!(r.reason, RejectReason::FailFastOpen);
    let r = ff.acquire(ms(1_000), Deadline::at(ms(1_050))).unwrap_err();
    assert_eq!(r.reason, RejectReason::DeadlineTooShort);
    let p = ff.acquire(ms(1_001), Deadline::at(ms(1_500))).unwrap();
    assert!(p.is_probe());
    ff.record(ms(1_090), p, Outcome::Success);
    assert_eq!(ff.state(), State::Closed);
}

#[test]
fn a_clock_stepping_backwards_is_no_time_passed() {
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(Duration::from_secs(60))
        .learn_expected_duration(1)
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    run(&mut ff, 5_000, 0, Outcome::Failure).unwrap(); // open until a probe at 65 s
    // the clock jumps back to t=1s: no earlier probe, no panic
    let r = ff.acquire(ms(1_000), Deadline::NEVER).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(65_000)));
    let p = ff.acquire(ms(65_000), Deadline::NEVER).unwrap();
    ff.record(ms(0), p, Outcome::Success); // reported "before" it was issued: took 0
    assert_eq!(ff.state(), State::Closed);
    assert_eq!(ff.expected_duration(), Duration::ZERO);
    // a deadline judged against the latest time seen, not the stepped-back one
    let r = ff.acquire(ms(10), Deadline::at(ms(60_000))).unwrap_err();
    assert_eq!(r.reason, RejectReason::DeadlineTooShort);
}

#[test]
fn huge_durations_saturate() {
    let config = FailFastConfig::builder()
        .consecutive_failures(u32::MAX)
        .probe_interval(Duration::MAX)
        .expected_duration(Duration::MAX)
        .safety_margin(Duration::MAX)
        .learn_expected_duration(u32::MAX)
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    assert_eq!(ff.min_remaining(), Duration::from_nanos(u64::MAX));
    // no finite deadline is long enough; no deadline is
    let far = Instant::MAX.saturating_sub(Duration::from_secs(1));
    assert!(ff.acquire(ms(0), Deadline::at(far)).is_err());
    let p = ff.acquire(ms(0), Deadline::NEVER).unwrap();
    ff.record(Instant::MAX, p, Outcome::Success);
    assert_eq!(ff.expected_duration(), Duration::from_nanos(u64::MAX));
    // a probe past the end of the clock's range never comes, even at its
    // last instant: no deadline, and rejections say "unknown", not a time
    ff.open(far);
    assert_eq!(ff.next_deadline(), None);
    assert_eq!(ff.metrics().next_probe_at, None);
    assert_eq!(ff.rejecting_until(), Some(Instant::MAX));
    let rejected = ff.acquire(Instant::MAX, Deadline::NEVER).unwrap_err();
    assert_eq!(rejected.retry_at, None);
    // a streak that long opens, and a failed probe on top saturates instead of wrapping
    let config = FailFastConfig::builder()
        .consecutive_failures(u32::MAX)
        .probe_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    ff.consecutive_failures = u32::MAX - 1;
    run(&mut ff, 0, 0, Outcome::Failure).unwrap();
    assert_eq!(ff.state(), State::Open);
    let probe = ff.acquire(Instant::MAX, Deadline::NEVER).unwrap();
    ff.record(Instant::MAX, probe, Outcome::Failure);
    assert_eq!(ff.metrics().consecutive_failures, u32::MAX);
}

#[test]
fn the_clock_is_read_only_when_the_decision_needs_it() {
    let mut ff = FailFast::new(after_failures(1));
    let mut reads = 0;
    let p = ff
        .acquire(
            || {
                reads += 1;
                ms(5)
            },
            Deadline::NEVER,
        )
        .unwrap();
    ff.record(
        || {
            reads += 1;
            ms(6)
        },
        p,
        Outcome::Success,
    );
    assert_eq!(reads, 0, "closed, no deadline, not learning");
    let p = ff
        .acquire(
            || {
                reads += 1;
                ms(7)
            },
            Deadline::at(ms(100)),
        )
        .unwrap();
    ff.record(
        || {
            reads += 1;
            ms(8)
        },
        p,
        Outcome::Failure,
    );
    assert_eq!(reads, 2, "the deadline and the open each needed it once");
    assert_eq!(ff.metrics().open_since, Some(ms(8)));
}

#[test]
fn invalid_configurations_name_their_field() {
    let cases = [
        (
            FailFastConfig::builder().consecutive_failures(0).build(),
            "consecutive_failures",
        ),
        (
            FailFastConfig::builder()
                .probe_interval(Duration::ZERO)
                .build(),
            "probe_interval",
        ),
        (
            FailFastConfig::builder().learn_expected_duration(0).build(),
            "learn_expected_duration",
        ),
        (
            FailFastConfig::builder()
                .max_expected_duration(Duration::ZERO)
                .build(),
            "max_expected_duration",
        ),
        (
            FailFastConfig::builder()
                .expected_duration(Duration::from_millis(2))
                .max_expected_duration(Duration::from_millis(1))
                .build(),
            "max_expected_duration",
        ),
    ];
    for (result, field) in cases {
        assert_eq!(result.map_err(|e| e.field), Err(field));
    }
}

#[test]
fn names_read_well() {
    extern crate alloc;
    use alloc::string::ToString;
    assert_eq!(State::Closed.to_string(), "closed");
    assert_eq!(
        OpenCause::ConsecutiveFailures.to_string(),
        "consecutive failures"
    );
    assert_eq!(CloseCause::Healthy.to_string(), "reported healthy");
}

/// Issue 7, item 6: while a probe is out its success may close the fail
/// fast at any moment, so a rejection's `retry_at` is unknown (`None`), not
/// the next probe instant (a later bound). Once the probe has failed, the
/// next probe instant is the earliest again.
#[test]
fn while_a_probe_is_out_the_earliest_retry_is_unknown() {
    let mut ff = FailFast::new(with_probes(1, 1_000));
    run(&mut ff, 0, 0, Outcome::Failure).unwrap(); // open at t=0, probe due at 1 s
    let r = ff.acquire(ms(500), Deadline::NEVER).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::FailFastOpen, Some(ms(1_000)))
    );
    assert_eq!(ff.rejecting_until(), Some(ms(1_000)));
    let probe = ff.acquire(ms(1_000), Deadline::NEVER).unwrap(); // the probe, out
    let r = ff.acquire(ms(1_010), Deadline::NEVER).unwrap_err();
    assert_eq!((r.reason, r.retry_at), (RejectReason::FailFastOpen, None));
    assert_eq!(
        ff.rejecting_until(),
        None,
        "the shared gate must ask the machine"
    );
    ff.record(ms(1_020), probe, Outcome::Failure); // still down: next probe at 2 s
    let r = ff.acquire(ms(1_030), Deadline::NEVER).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(2_000)));
    assert_eq!(ff.rejecting_until(), Some(ms(2_000)));
    // a probe whose success closes it: admitted before its "retry_at" would say
    let probe = ff.acquire(ms(2_000), Deadline::NEVER).unwrap();
    assert_eq!(
        ff.acquire(ms(2_001), Deadline::NEVER).unwrap_err().retry_at,
        None
    );
    ff.record(ms(2_002), probe, Outcome::Success);
    assert!(ff.acquire(ms(2_003), Deadline::NEVER).is_ok());
}

#[test]
fn an_unhealthy_outcome_opens_at_once_and_a_stale_one_does_nothing() {
    let config = FailFastConfig::builder()
        .consecutive_failures(5)
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    let stale = ff.acquire(ms(0), Deadline::NEVER).unwrap();
    let fresh = ff.acquire(ms(0), Deadline::NEVER).unwrap();
    ff.record(ms(1), fresh, Outcome::Unhealthy);
    assert_eq!(
        ff.state(),
        State::Open,
        "one unhealthy verdict, not five failures"
    );
    assert_eq!(ff.metrics().open_since, Some(ms(1)));
    ff.close(ms(2));
    ff.record(ms(3), stale, Outcome::Unhealthy);
    assert_eq!(
        ff.state(),
        State::Closed,
        "issued before the last open: stale"
    );
}
