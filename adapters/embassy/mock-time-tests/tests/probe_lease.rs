//! A half-open probe that never reports: its lease runs out in virtual time,
//! the breaker reopens on schedule, and the probe's late cancellation is not
//! counted.
//!
//! One scenario per file: the mock clock is process-wide.

use core::time::Duration;
use std::sync::Mutex;

use embassy_time::MockDriver;
use failsafe_embassy::{
    BreakerConfig, BreakerEvent, CircuitBreaker, CircuitBreakerPolicy, Clock, Counters, CsKind,
    CsLock, EmbassyClock, FnObserver, Instant, NoWindow, Outcome, RejectReason, Rejected, State,
    from_lock,
};
use futures_lite::future::{self, block_on, poll_once};

static EVENTS: Mutex<Vec<BreakerEvent>> = Mutex::new(Vec::new());

fn log(event: BreakerEvent) {
    EVENTS.lock().unwrap().push(event);
}

fn take_events() -> Vec<BreakerEvent> {
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

/// Counting (its metrics are read below).
type Counted = CircuitBreakerPolicy<
    NoWindow,
    FnObserver<fn(BreakerEvent)>,
    CsKind,
    &'static BreakerConfig,
    Counters,
>;

/// Opens on the first failure for 1 s; one probe, leased for 2 s.
static BREAKER: Counted = from_lock(CsLock::new(CircuitBreaker::with_observer(
    &failsafe_embassy::checked(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(1))
            .probe_lease(Duration::from_secs(2))
            .build(),
    ),
    NoWindow,
    FnObserver(log as fn(BreakerEvent)),
)));

fn advance_micros(us: u64) {
    MockDriver::get().advance(embassy_time::Duration::from_micros(us));
}

fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

#[test]
fn a_probe_that_never_reports_expires_and_the_breaker_reopens() {
    block_on(async {
        // t=0: one failure opens the breaker until t=1s.
        assert!(
            BREAKER
                .call(|| async { Err::<(), _>("down") })
                .await
                .is_err()
        );
        assert_eq!(BREAKER.shared().state(), State::Open);

        // t=1s: the probe is admitted, and then hangs forever.
        advance_micros(1_000_000);
        let mut probe = Box::pin(BREAKER.call(future::pending::<Result<(), &str>>));
        assert!(poll_once(probe.as_mut()).await.is_none());
        assert_eq!(BREAKER.shared().state(), State::HalfOpen);
        assert_eq!(
            BREAKER
                .shared()
                .metrics(EmbassyClock.now())
                .probes_in_flight,
            1
        );

        // Meanwhile everyone else is turned away with no retry instant: the
        // probe could report at any moment (its lease's end is only a later bound).
        let r = BREAKER.try_acquire().unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerHalfOpenFull, None)
        );
        assert_eq!(BREAKER.next_deadline(), Some(secs(3)));

        // One microsecond before the lease ends, nothing happens.
        advance_micros(2_000_000 - 1);
        BREAKER.on_deadline();
        assert_eq!(BREAKER.shared().state(), State::HalfOpen);

        // At t=3s the silent probe counts as failed and the breaker reopens,
        // at the lease's end, for another open wait: until t=4s.
        advance_micros(1);
        BREAKER.on_deadline();
        assert_eq!(BREAKER.shared().state(), State::Open);
        let events = take_events();
        assert_eq!(
            events[events.len() - 2..],
            [
                BreakerEvent::ProbesExpired {
                    at: secs(3),
                    count: 1
                },
                BreakerEvent::StateChanged {
                    from: State::HalfOpen,
                    to: State::Open,
                    at: secs(3)
                },
            ]
        );
        let r = BREAKER.try_acquire().unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerOpen, Some(secs(4)))
        );

        // The hung probe's caller finally gives up: that report is stale and
        // changes nothing.
        // (The call just rejected on the lock-free gate is reported first.)
        drop(probe);
        assert_eq!(
            take_events(),
            [
                BreakerEvent::LockFreeRejections {
                    count: 1,
                    at: secs(3),
                    rejected: Rejected::new(RejectReason::BreakerOpen, Some(secs(4))),
                },
                BreakerEvent::StaleOutcome {
                    at: secs(3),
                    outcome: Outcome::Cancelled
                }
            ]
        );
        let m = BREAKER.shared().metrics(EmbassyClock.now());
        assert_eq!(
            (m.state, m.stale_outcomes, m.times_opened),
            (State::Open, 1, 2)
        );

        // t=4s: a fresh probe that answers closes the breaker.
        advance_micros(1_000_000);
        assert_eq!(BREAKER.call(|| async { Ok::<_, &str>(()) }).await, Ok(()));
        assert_eq!(BREAKER.shared().state(), State::Closed);
        assert_eq!(
            EmbassyClock::to_core(embassy_time::Instant::now()),
            secs(4),
            "all of it in virtual time"
        );
    });
}
