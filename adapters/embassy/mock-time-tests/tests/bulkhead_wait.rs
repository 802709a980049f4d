//! A bulkhead in a `static` on the mock clock: one slot held by a 400 ms
//! operation, three tasks queued behind it with 250 ms each to wait. The
//! first two waits run out exactly at their deadlines (not a microsecond
//! earlier), with nobody releasing anything: the tasks' own timers end
//! them. The third is granted the slot the instant the operation ends.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, just_before, millis, ms, now, run_until_idle};
use embassy_time::Timer;
use failsafe_embassy::{
    Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadPolicy, CsLock, Error, FnObserver, Instant,
    RejectReason, from_lock,
};

static EXPIRED_AT: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

fn log(event: BulkheadEvent) {
    if let BulkheadEvent::WaitExpired { at } = event {
        EXPIRED_AT.lock().unwrap().push(at);
    }
}

static BUS: BulkheadPolicy<4, FnObserver<fn(BulkheadEvent)>> =
    from_lock(CsLock::new(Bulkhead::with_observer(
        failsafe_embassy::checked(
            BulkheadConfig::builder()
                .max_concurrent(1)
                .max_wait(millis(250))
                .build(),
        ),
        FnObserver(log as fn(BulkheadEvent)),
    )));

/// Calls holding a slot, and calls queued for one.
fn in_flight() -> (u32, usize) {
    BUS.shared().with(|b| (b.in_flight(), b.queued()))
}

/// A bus transfer taking `took` ms; returns when it finished.
async fn transfer(took: u64) -> Result<Instant, ()> {
    Timer::after_millis(took).await;
    Ok(now())
}

fn expired<T: core::fmt::Debug>(r: Poll<Result<T, Error<()>>>) -> bool {
    match r {
        Poll::Ready(Err(Error::Rejected(r))) => r.reason == RejectReason::BulkheadWaitExpired,
        other => panic!("expected an expired wait, got {other:?}"),
    }
}

#[test]
fn waits_run_out_exactly_at_their_deadlines_and_a_release_grants_the_next() {
    advance_to(ms(1_000));
    let mut a = pin!(BUS.call(|| transfer(400))); // holds the slot until t=1.4s
    assert!(run_until_idle(a.as_mut()).is_pending());
    let mut b = pin!(BUS.call(|| transfer(10))); // queued at t=1.0s: gives up at 1.25s
    assert!(run_until_idle(b.as_mut()).is_pending());
    advance_to(ms(1_100));
    let mut c = pin!(BUS.call(|| transfer(10))); // queued at 1.1s: gives up at 1.35s
    assert!(run_until_idle(c.as_mut()).is_pending());
    advance_to(ms(1_200));
    let mut d = pin!(BUS.call(|| transfer(10))); // queued at 1.2s: would give up at 1.45s
    assert!(run_until_idle(d.as_mut()).is_pending());
    assert_eq!(in_flight().1, 3);

    advance_to(just_before(ms(1_250)));
    assert!(
        run_until_idle(b.as_mut()).is_pending(),
        "1 µs early: still waiting"
    );
    advance_to(ms(1_250));
    assert!(expired(run_until_idle(b.as_mut())));

    advance_to(just_before(ms(1_350)));
    assert!(run_until_idle(c.as_mut()).is_pending());
    advance_to(ms(1_350));
    assert!(expired(run_until_idle(c.as_mut())));
    assert_eq!(*EXPIRED_AT.lock().unwrap(), [ms(1_250), ms(1_350)]);

    // the transfer ends at 1.4s; its slot goes to d at once
    advance_to(ms(1_400));
    assert_eq!(run_until_idle(a.as_mut()), Poll::Ready(Ok(ms(1_400))));
    assert_eq!(in_flight(), (1, 0), "granted to d");
    assert!(run_until_idle(d.as_mut()).is_pending(), "d's transfer runs");
    advance_to(ms(1_410));
    assert_eq!(run_until_idle(d.as_mut()), Poll::Ready(Ok(ms(1_410))));

    let m = BUS.shared().metrics();
    assert_eq!(
        (m.in_flight, m.acquired, m.released, m.expired),
        (0, 2, 2, 2)
    );
}
