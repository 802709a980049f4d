//! A fail fast in a `static` through a whole timeline on the mock clock: a
//! learned call duration refuses a deadline too short for it, two failures
//! open it, one probe is admitted per interval (a dropped probe does not
//! close it and the next comes one interval later), a successful probe
//! closes it.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, just_before, millis, ms, now, run_until_idle};
use embassy_time::Timer;
use failsafe_embassy::{
    CloseCause, CsLock, Deadline, EmbassyPolicy, Error, FailFast, FailFastConfig, FailFastEvent,
    FailFastPolicy, FailFastState, FnObserver, OpenCause, RejectReason, from_lock,
};

static EVENTS: Mutex<Vec<FailFastEvent>> = Mutex::new(Vec::new());

fn log(event: FailFastEvent) {
    if !matches!(event, FailFastEvent::Rejected { .. }) {
        EVENTS.lock().unwrap().push(event);
    }
}

fn take_events() -> Vec<FailFastEvent> {
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

static PEER: FailFastPolicy<FnObserver<fn(FailFastEvent)>> =
    from_lock(CsLock::new(FailFast::with_observer(
        failsafe_embassy::checked(
            FailFastConfig::builder()
                .consecutive_failures(2)
                .probe_interval(millis(5_000))
                .learn_expected_duration(1)
                .build(),
        ),
        FnObserver(log as fn(FailFastEvent)),
    )));

fn state() -> FailFastState {
    PEER.shared().with(|ff| ff.state())
}

/// A request to the peer that takes `took` ms and answers `ok`.
async fn request(took: u64, ok: bool) -> Result<u32, &'static str> {
    Timer::after_millis(took).await;
    if ok { Ok(took as u32) } else { Err("refused") }
}

fn rejected<T: core::fmt::Debug>(
    r: Poll<Result<T, Error<&'static str>>>,
) -> failsafe_embassy::Rejected {
    match r {
        Poll::Ready(Err(Error::Rejected(r))) => r,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_fail_fast_timeline_on_the_mock_clock() {
    assert_eq!(now(), ms(0));

    // t=0..100 ms: a success that took 100 ms teaches the expected duration.
    let mut first = pin!(PEER.call(|| request(100, true)));
    assert!(run_until_idle(first.as_mut()).is_pending());
    advance_to(ms(100));
    assert_eq!(run_until_idle(first.as_mut()), Poll::Ready(Ok(100)));
    assert_eq!(PEER.shared().with(|ff| ff.min_remaining()), millis(100));

    // t=100 ms: 99 ms left cannot cover it; 100 ms can.
    let tight = Deadline::after(now(), millis(99));
    let r = run_until_idle(pin!(
        PEER.by_ref().with_deadline(tight).call(|| request(1, true))
    ));
    let r = rejected(r);
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::DeadlineTooShort, None)
    );
    let enough = Deadline::after(now(), millis(100));
    let within_enough = PEER.by_ref().with_deadline(enough);
    let mut second = pin!(within_enough.call(|| request(100, true)));
    assert!(run_until_idle(second.as_mut()).is_pending());
    advance_to(ms(200));
    assert_eq!(run_until_idle(second.as_mut()), Poll::Ready(Ok(100)));

    // t=200 ms: two quick failures open it; the next probe is due at 5.2 s.
    for _ in 0..2 {
        let r = run_until_idle(pin!(PEER.call(|| request(0, false))));
        assert_eq!(r, Poll::Ready(Err(Error::Inner("refused"))));
    }
    assert_eq!(state(), FailFastState::Open);
    assert_eq!(
        take_events(),
        [FailFastEvent::Opened {
            at: ms(200),
            cause: OpenCause::ConsecutiveFailures
        }]
    );
    assert_eq!(PEER.next_deadline(), Some(ms(5_200)));

    // Just before it, every call is rejected with retry_at 5.2 s.
    advance_to(just_before(ms(5_200)));
    let r = rejected(run_until_idle(pin!(PEER.call(|| request(0, true)))));
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::FailFastOpen, Some(ms(5_200)))
    );

    // At 5.2 s a supervisor hears the probe is due; the first call is the probe,
    // a second one meanwhile is rejected, not knowing when: the probe's success
    // may close it at any moment (the next interval, 10.2 s, is a later bound).
    // The call rejected just before it, on the lock-free gate, is reported
    // first (at the latest time the machine had seen: the opening).
    advance_to(ms(5_200));
    PEER.on_deadline();
    assert_eq!(
        take_events(),
        [
            FailFastEvent::LockFreeRejections {
                count: 1,
                at: ms(200),
                rejected: failsafe_embassy::Rejected::new(
                    RejectReason::FailFastOpen,
                    Some(ms(5_200))
                ),
            },
            FailFastEvent::ProbeDue { at: ms(5_200) }
        ]
    );
    {
        let mut probe = pin!(PEER.call(|| request(1_000, true)));
        assert!(run_until_idle(probe.as_mut()).is_pending());
        let r = rejected(run_until_idle(pin!(PEER.call(|| request(0, true)))));
        assert_eq!(r.retry_at, None);
        advance_to(ms(5_700));
        // The caller gives up on the probe half way: dropped, it is cancelled.
    }
    assert_eq!(
        state(),
        FailFastState::Open,
        "a dropped probe does not close it"
    );
    assert_eq!(
        PEER.shared().metrics().consecutive_failures,
        2,
        "nor count as a failure"
    );

    // The dropped probe said nothing, so it gave its turn back: the next
    // caller probes at once instead of waiting for the next interval.
    let mut probe = pin!(PEER.call(|| request(50, true)));
    assert!(run_until_idle(probe.as_mut()).is_pending());
    advance_to(ms(5_750));
    assert_eq!(run_until_idle(probe.as_mut()), Poll::Ready(Ok(50)));
    assert_eq!(state(), FailFastState::Closed);
    assert_eq!(
        take_events(),
        [
            // no supervisor this time: the call that became the probe noticed it
            FailFastEvent::ProbeDue { at: ms(5_700) },
            FailFastEvent::Closed {
                at: ms(5_750),
                cause: CloseCause::ProbeSucceeded
            }
        ]
    );
    let m = PEER.shared().metrics();
    assert_eq!((m.probes_admitted, m.times_opened), (2, 1));
    assert_eq!(m.expected_duration, millis(50), "the probe taught it too");
}
