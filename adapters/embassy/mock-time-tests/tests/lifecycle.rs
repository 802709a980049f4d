//! Closed -> open -> half-open -> closed, in virtual time, with a static
//! breaker and an observer logging each transition at its exact instant.
//!
//! One scenario per file: the mock clock is process-wide.

use core::time::Duration;
use std::sync::Mutex;

use embassy_time::MockDriver;
use failsafe_embassy::{
    BreakerConfig, BreakerEvent, CircuitBreaker, CircuitBreakerPolicy, Clock, CountWindow,
    Counters, CsKind, CsLock, EmbassyClock, Error, FnObserver, Instant, Outcome, RejectReason,
    Rejected, Runtime, State, from_lock,
};
use futures_lite::future::{block_on, poll_once};

static EVENTS: Mutex<Vec<BreakerEvent>> = Mutex::new(Vec::new());

fn log(event: BreakerEvent) {
    EVENTS.lock().unwrap().push(event);
}

fn take_events() -> Vec<BreakerEvent> {
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

type Log = FnObserver<fn(BreakerEvent)>;

/// Opens when half of at least 4 calls failed, for 5 s; closes after 2 good
/// probes; a probe silent for 10 s after the last admission counts as failed.
static BREAKER: CircuitBreakerPolicy<CountWindow<4>, Log, CsKind, &BreakerConfig, Counters> =
    from_lock(CsLock::new(CircuitBreaker::with_observer(
        &failsafe_embassy::checked(
            BreakerConfig::builder()
                .failure_rate_threshold(0.5)
                .minimum_calls(4)
                .open_wait(Duration::from_secs(5))
                .half_open_probes(2)
                .probe_lease(Duration::from_secs(10))
                .build(),
        ),
        CountWindow::new(),
        FnObserver(log as fn(BreakerEvent)),
    )));

fn advance(d: Duration) {
    MockDriver::get().advance(embassy_time::Duration::from_micros(d.as_micros() as u64));
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

async fn device(ok: bool) -> Result<u8, &'static str> {
    if ok { Ok(1) } else { Err("timeout") }
}

fn changed(from: State, to: State, at: Instant) -> BreakerEvent {
    BreakerEvent::StateChanged { from, to, at }
}

#[test]
fn closed_open_half_open_closed_in_virtual_time() {
    block_on(async {
        assert_eq!(EmbassyClock.now(), Instant::ZERO);

        // t=0 ok, t=10 fail, t=20 ok, t=30 fail: 2 of 4 failed, so it opens at t=30ms.
        for (i, ok) in [true, false, true, false].into_iter().enumerate() {
            if i > 0 {
                advance(Duration::from_millis(10));
            }
            let _ = BREAKER.call(|| device(ok)).await;
        }
        assert_eq!(BREAKER.shared().state(), State::Open);
        assert_eq!(take_events(), [changed(State::Closed, State::Open, ms(30))]);

        // At t=2.030s a call is rejected, without running, until t=5.030s.
        advance(Duration::from_secs(2));
        let r = BREAKER
            .call(|| async { unreachable!("open") as Result<u8, &str> })
            .await;
        let rejected = *r.unwrap_err().rejected().unwrap();
        assert_eq!(rejected.reason, RejectReason::BreakerOpen);
        assert_eq!(rejected.retry_at, Some(ms(5_030)));
        assert_eq!(
            rejected.retry_after(EmbassyClock.now()),
            Some(Duration::from_secs(3))
        );
        assert_eq!(BREAKER.next_deadline(), Some(ms(5_030)));
        assert_eq!(
            EmbassyClock::retry_at(&rejected),
            Some(embassy_time::Instant::from_millis(5_030))
        );

        // A supervisor sleeps until that deadline: not a microsecond earlier.
        let mut timer = EmbassyClock.sleep_until(ms(5_030));
        assert!(poll_once(&mut timer).await.is_none());
        advance(Duration::from_millis(3_000) - Duration::from_micros(1));
        assert!(poll_once(&mut timer).await.is_none());
        BREAKER.on_deadline();
        assert_eq!(BREAKER.shared().state(), State::Open);
        let r = BREAKER.call(|| device(true)).await.unwrap_err();
        assert_eq!(r.rejected().unwrap().retry_at, Some(ms(5_030)));

        advance(Duration::from_micros(1));
        assert_eq!(poll_once(&mut timer).await, Some(()));
        BREAKER.on_deadline(); // half-open on time, with no call needed
        assert_eq!(BREAKER.shared().state(), State::HalfOpen);
        // The two calls the open breaker turned away on its lock-free gate
        // are reported at the next locked operations (the two
        // `on_deadline`s), each at the latest time the breaker had seen.
        let gated = |at| BreakerEvent::LockFreeRejections {
            count: 1,
            at,
            rejected: Rejected::new(RejectReason::BreakerOpen, Some(ms(5_030))),
        };
        assert_eq!(
            take_events(),
            [
                gated(ms(30)),
                gated(ms(5_030) - Duration::from_micros(1)),
                changed(State::Open, State::HalfOpen, ms(5_030))
            ]
        );

        // Two probes are admitted; a third caller is turned away with no
        // retry instant: a probe may report at any moment (the probes' lease,
        // 10 s after the last admission, is only a later bound).
        let first = BREAKER.try_acquire().expect("probe 1");
        advance(Duration::from_millis(5));
        assert_eq!(BREAKER.call(|| device(true)).await, Ok(1)); // probe 2
        assert_eq!(
            BREAKER.shared().state(),
            State::HalfOpen,
            "needs both probes"
        );
        let full = BREAKER.call(|| device(true)).await.unwrap_err();
        let full = *full.rejected().unwrap();
        assert_eq!(full.reason, RejectReason::BreakerHalfOpenFull);
        assert_eq!(full.retry_at, None);

        // The first probe succeeds at t=5.040s: closed.
        advance(Duration::from_millis(5));
        first.finish(Outcome::Success);
        assert_eq!(BREAKER.shared().state(), State::Closed);
        let events = take_events();
        assert!(matches!(events[0], BreakerEvent::Rejected { at, .. } if at == ms(5_035)));
        assert_eq!(
            events[1..],
            [changed(State::HalfOpen, State::Closed, ms(5_040))]
        );

        // And calls flow again.
        assert_eq!(BREAKER.call(|| device(true)).await, Ok(1));
        assert!(matches!(
            BREAKER.call(|| device(false)).await,
            Err(Error::Inner("timeout"))
        ));
        let m = BREAKER.shared().metrics(EmbassyClock.now());
        assert_eq!((m.times_opened, m.calls, m.failures), (1, 2, 1));
    });
}
