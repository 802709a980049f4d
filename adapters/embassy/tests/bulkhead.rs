//! A bulkhead in a `static`, on embassy-time's real `std` driver.
//!
//! No test waits on real time or depends on how much of it passed: every
//! wait that ends here is ended by a slot coming back (the waits run out
//! an hour from now), or has no end at all. The wait that runs out exactly
//! at its deadline lives in `mock-time-tests/tests/bulkhead_wait.rs`.

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Arc;
use std::task::Wake;

use failsafe_embassy::{
    Aimd, Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadPolicy, Clock, CsLock, EmbassyClock,
    EmbassyPolicy, Error, FnObserver, Outcome, RejectReason, bulkhead, from_lock,
};
use futures_lite::future::block_on;

const fn config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    failsafe_embassy::checked(
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(max_wait)
            .build(),
    )
}

const HOUR: Duration = Duration::from_secs(3600);

/// Calls holding a slot, and calls queued for one.
fn in_flight<const Q: usize, O: failsafe_embassy::Observer<BulkheadEvent>>(
    pool: &BulkheadPolicy<Q, O>,
) -> (u32, usize) {
    pool.shared().with(|b| (b.in_flight(), b.queued()))
}

#[derive(Default)]
struct CountWakes(AtomicU32);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_waiting_task_is_woken_by_a_release_and_runs() {
    static POOL: BulkheadPolicy<4> = bulkhead(config(1, HOUR));
    let held = POOL.try_acquire().unwrap();
    let wakes = Arc::new(CountWakes::default());
    let waker = Waker::from(wakes.clone());
    let cx = &mut Context::from_waker(&waker);

    let mut call = pin!(POOL.call(|| async { Ok::<_, ()>(in_flight(&POOL).0) }));
    assert!(call.as_mut().poll(cx).is_pending());
    assert_eq!(in_flight(&POOL).1, 1);
    assert!(POOL.next_deadline().is_some(), "its wait has an end");

    held.finish(Outcome::Success);
    assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "woken by the release");
    assert_eq!(call.as_mut().poll(cx), Poll::Ready(Ok(1)));
    let m = POOL.shared().metrics();
    assert_eq!(
        (m.in_flight, m.queued, m.acquired, m.released),
        (0, 0, 2, 2)
    );
}

#[test]
fn tasks_get_slots_in_the_order_they_queued() {
    static POOL: BulkheadPolicy<8> = bulkhead(config(1, HOUR));
    static ORDER: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
    async fn step(i: u8) -> Result<(), ()> {
        ORDER.lock().unwrap().push(i);
        Ok(())
    }
    let held = POOL.try_acquire().unwrap();
    let cx = &mut Context::from_waker(Waker::noop());
    let mut a = pin!(POOL.call(|| step(0)));
    let mut b = pin!(POOL.call(|| step(1)));
    let mut c = pin!(POOL.call(|| step(2)));
    // queue in the order a, b, c
    for f in [
        a.as_mut().poll(cx),
        b.as_mut().poll(cx),
        c.as_mut().poll(cx),
    ] {
        assert!(f.is_pending());
    }
    drop(held);
    // polled in the reverse order: only the first in line may run
    assert!(c.as_mut().poll(cx).is_pending());
    assert!(b.as_mut().poll(cx).is_pending());
    assert_eq!(a.as_mut().poll(cx), Poll::Ready(Ok(())));
    assert!(c.as_mut().poll(cx).is_pending());
    assert_eq!(b.as_mut().poll(cx), Poll::Ready(Ok(())));
    assert_eq!(c.as_mut().poll(cx), Poll::Ready(Ok(())));
    assert_eq!(*ORDER.lock().unwrap(), [0, 1, 2]);
    assert_eq!(in_flight(&POOL).0, 0);
}

#[test]
fn a_full_queue_or_no_wait_rejects_at_once() {
    static NEVER_WAITS: BulkheadPolicy<1> = bulkhead(config(1, Duration::ZERO));
    static SMALL_QUEUE: BulkheadPolicy<1> = bulkhead(config(1, HOUR));
    let _a = NEVER_WAITS.try_acquire().unwrap();
    let r = block_on(NEVER_WAITS.call(|| async { Ok::<_, ()>(()) }));
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BulkheadFull
    );

    let _b = SMALL_QUEUE.try_acquire().unwrap();
    let mut queued = pin!(SMALL_QUEUE.acquire());
    assert!(
        queued
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    let r = block_on(SMALL_QUEUE.acquire()).unwrap_err();
    assert_eq!(r.reason, RejectReason::BulkheadQueueFull);
}

#[test]
fn a_dropped_waiter_or_call_leaks_nothing() {
    static POOL: BulkheadPolicy<4> = bulkhead(config(1, HOUR));
    let cx = &mut Context::from_waker(Waker::noop());
    let held = POOL.try_acquire().unwrap();
    {
        let mut waiter = pin!(POOL.acquire());
        assert!(waiter.as_mut().poll(cx).is_pending());
    }
    assert_eq!(in_flight(&POOL).1, 0, "dropped while queued");
    {
        let mut waiter = pin!(POOL.acquire());
        assert!(waiter.as_mut().poll(cx).is_pending());
        held.finish(Outcome::Success); // granted to the waiter ...
    } // ... which is dropped before collecting it
    assert_eq!(in_flight(&POOL).0, 0);
    {
        // a call dropped while its operation runs
        let mut call = pin!(POOL.call(core::future::pending::<Result<(), ()>>));
        assert!(call.as_mut().poll(cx).is_pending());
        assert_eq!(in_flight(&POOL).0, 1);
    }
    let m = POOL.shared().metrics();
    assert_eq!((m.in_flight, m.queued, m.cancelled), (0, 0, 2));
    assert_eq!(m.acquired, m.released);
}

#[test]
fn static_bulkheads_adapt_and_report() {
    static REJECTED: AtomicU32 = AtomicU32::new(0);
    fn on_event(e: BulkheadEvent) {
        if let BulkheadEvent::Rejected { .. } = e {
            REJECTED.fetch_add(1, Ordering::SeqCst);
        }
    }
    const AIMD: Aimd = match Aimd::builder()
        .initial_limit(10)
        .min_limit(1)
        .max_limit(10)
        .build()
    {
        Ok(aimd) => aimd,
        Err(_) => panic!("aimd"),
    };
    static POOL: BulkheadPolicy<2, (), Aimd> = from_lock(CsLock::new(Bulkhead::adaptive(
        config(10, Duration::ZERO),
        AIMD,
    )));
    static WATCHED: BulkheadPolicy<2, FnObserver<fn(BulkheadEvent)>> =
        from_lock(CsLock::new(Bulkhead::with_observer(
            config(1, Duration::ZERO),
            FnObserver(on_event as fn(BulkheadEvent)),
        )));
    block_on(async {
        for _ in 0..3 {
            let r = POOL.call(|| async { Err::<(), _>("nack") }).await;
            assert_eq!(r, Err(Error::Inner("nack")));
        }
    });
    assert_eq!(POOL.shared().with(|b| b.limit()), 7, "10 -> 9 -> 8 -> 7");
    let limit = POOL.shared().with(|b| b.set_limit(EmbassyClock.now(), 2));
    assert_eq!(limit, 2);
    // the fixed bulkhead reports its events through its observer
    let held = WATCHED.try_acquire().unwrap();
    assert!(block_on(WATCHED.call(|| async { Ok::<_, ()>(()) })).is_err());
    assert_eq!(REJECTED.load(Ordering::SeqCst), 1);
    drop(held);
    let limit = WATCHED
        .shared()
        .with(|b| b.set_limit(EmbassyClock.now(), 5));
    assert_eq!(limit, 1, "max_concurrent is the ceiling");
}

#[test]
fn a_blocking_call_never_queues_and_calls_are_send() {
    static POOL: BulkheadPolicy<4> = bulkhead(config(1, HOUR));
    fn assert_send<T: Send>(_: T) {}
    assert_send(POOL.acquire());
    assert_send(POOL.call(|| async { Ok::<_, ()>(()) }));
    assert_eq!(
        POOL.call_blocking(|| Ok::<_, ()>(in_flight(&POOL))),
        Ok((1, 0))
    );
    let held = POOL.try_acquire().unwrap();
    // An interrupt handler cannot wait: rejected at once, never queued.
    let r = POOL.call_blocking(|| Ok::<_, ()>(()));
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BulkheadFull
    );
    assert_eq!(in_flight(&POOL), (1, 0));
    drop(held);
    let m = POOL.shared().metrics();
    assert_eq!((m.acquired, m.released, m.in_flight), (2, 2, 0));
}
