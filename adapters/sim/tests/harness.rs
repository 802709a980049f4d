//! The public harness: scripted answers, time jumps, every event.

use core::time::Duration;

use failsafe_core::retry::{BackoffKind, Jitter, RetryAfter, RetryConfig};
use failsafe_core::{Instant, RejectReason};
use failsafe_sim::dependency::{Reply, Scripted};
use failsafe_sim::engine::SimEvent;
use failsafe_sim::harness::Harness;
use failsafe_sim::metrics::CallEnd;
use failsafe_sim::pipeline::Built;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn retry(attempts: u32, delay: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(ms(delay)))
        .jitter(Jitter::None)
        .retry_after(RetryAfter::Trust { max: ms(10_000) })
        .build()
        .unwrap()
}

#[test]
fn a_hang_is_cut_by_the_attempt_timeout_and_retried() {
    let pipeline = Built::unprotected()
        .with_retry(retry(2, 10))
        .with_attempt_timeout(ms(100));
    let mut h = Harness::new(pipeline, 1);
    h.script([Scripted::hang()]).otherwise(Scripted::ok(ms(5)));
    let call = h.call();
    h.run_until_idle();
    assert_eq!(h.end_of(call), Some(CallEnd::Succeeded));
    let t = Instant::from_millis;
    assert_eq!(
        h.events(),
        [
            SimEvent::CallStarted { at: t(0), call },
            SimEvent::AttemptStarted {
                at: t(0),
                call,
                attempt: 1
            },
            SimEvent::AttemptTimedOut {
                at: t(100),
                call,
                attempt: 1
            },
            SimEvent::BackoffEnded { at: t(110), call },
            SimEvent::AttemptStarted {
                at: t(110),
                call,
                attempt: 2
            },
            SimEvent::AttemptEnded {
                at: t(115),
                call,
                attempt: 2,
                reply: Reply::Ok
            },
            match h.events()[6] {
                e @ SimEvent::CallEnded {
                    at,
                    end: CallEnd::Succeeded,
                    ..
                } if at == t(115) => e,
                e => panic!("{e:?}"),
            },
        ]
    );
}

#[test]
fn a_trusted_retry_after_sets_the_next_attempt() {
    let mut h = Harness::new(Built::unprotected().with_retry(retry(2, 10)), 1);
    h.script([Scripted::throttled(ms(1), ms(750))]);
    let call = h.call();
    h.run_until_idle();
    assert!(h.events().contains(&SimEvent::AttemptStarted {
        at: Instant::from_millis(751),
        call,
        attempt: 2
    }));
}

#[test]
fn a_full_bulkhead_rejects_fast() {
    let config = failsafe_core::bulkhead::BulkheadConfig::builder()
        .max_concurrent(1)
        .build()
        .unwrap();
    let mut h = Harness::new(Built::unprotected().with_bulkhead(config), 1);
    h.otherwise(Scripted::ok(ms(50)));
    let first = h.call();
    let second = h.call();
    h.run_until_idle();
    assert_eq!(h.end_of(first), Some(CallEnd::Succeeded));
    assert_eq!(h.end_of(second), Some(CallEnd::Rejected));
    assert!(h.events().iter().any(|e| matches!(
        e,
        SimEvent::AttemptRejected { call, rejected, .. }
            if *call == second && rejected.reason == RejectReason::BulkheadFull
    )));
    assert_eq!(h.recorder().reached, 1);
}

#[test]
fn time_only_moves_when_told() {
    let mut h = Harness::new(Built::unprotected(), 1);
    h.otherwise(Scripted::ok(ms(30)));
    let call = h.call();
    h.advance(ms(29));
    assert_eq!(h.end_of(call), None);
    assert_eq!(h.now(), Instant::from_millis(29));
    h.advance(ms(1));
    assert_eq!(h.end_of(call), Some(CallEnd::Succeeded));
}

/// A retry with no delay and no attempt limit against scripted failures
/// that take no time never lets virtual time pass: `run_until_idle` stops
/// (it used to run for ever) and the harness says where time stopped.
#[test]
fn a_run_whose_time_stops_returns_and_says_where() {
    let spin = RetryConfig::builder()
        .unlimited_attempts()
        .backoff(BackoffKind::Constant(Duration::ZERO))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let mut h = Harness::new(Built::unprotected().with_retry(spin), 1);
    h.otherwise(Scripted::error(Duration::ZERO));
    let call = h.call();
    h.advance(ms(10));
    assert_eq!(h.stalled(), Some(Instant::ZERO));
    h.run_until_idle();
    assert_eq!(h.now(), Instant::ZERO, "time stood still");
    assert_eq!(h.end_of(call), None, "the call never ended");
}
