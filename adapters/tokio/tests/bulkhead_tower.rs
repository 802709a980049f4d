//! The bulkhead tower layer on tokio's paused clock (moved from
//! `bulkhead.rs`: the layer and the earlier `Bulkhead` handle it takes are
//! moving to `failsafe-tower`): it waits in `poll_ready`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use failsafe_tokio::{Bulkhead, BulkheadConfig, BulkheadLayer, Clock, Outcome, RejectReason};
use tower::{Layer, Service, ServiceExt, service_fn};

fn config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(limit)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountWakes {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn tower_poll_ready_waits_until_a_slot_frees_then_dropping_the_response_releases() {
    let bulkhead: Bulkhead<4> = Bulkhead::new(config(1, Duration::from_secs(60)));
    let inner = service_fn(|n: u32| async move {
        std::future::pending::<()>().await; // never answers: only dropping ends it
        Ok::<_, ()>(n)
    });
    let layer = BulkheadLayer::new(bulkhead.clone());
    let mut first = layer.layer(inner);
    let mut second = first.clone();

    // the first service takes the only slot; its response future holds it
    first.ready().await.unwrap();
    let response = first.call(1);
    assert_eq!(bulkhead.in_flight(), 1);

    // the second waits in poll_ready, woken when the slot comes back
    let wakes = Arc::new(CountWakes::default());
    let waker = Waker::from(wakes.clone());
    let cx = &mut Context::from_waker(&waker);
    assert!(Service::<u32>::poll_ready(&mut second, cx).is_pending());
    assert!(Service::<u32>::poll_ready(&mut second, cx).is_pending());
    assert_eq!(bulkhead.queued(), 1);
    assert_eq!(wakes.count(), 0);

    drop(response); // the first call is abandoned: its slot goes to the waiter
    assert_eq!(wakes.count(), 1, "the waiting service was woken");
    assert!(matches!(
        Service::<u32>::poll_ready(&mut second, cx),
        Poll::Ready(Ok(()))
    ));
    let response = second.call(2);
    assert_eq!(bulkhead.in_flight(), 1);
    drop(response);
    let m = bulkhead.metrics();
    assert_eq!(
        (m.in_flight, m.queued, m.acquired, m.released),
        (0, 0, 2, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn tower_rejections_come_from_the_response_future() {
    let bulkhead: Bulkhead<4> = Bulkhead::new(config(1, Duration::from_millis(40)));
    let called = Arc::new(AtomicU32::new(0));
    let inner = {
        let called = called.clone();
        service_fn(move |n: u32| {
            called.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>(n) }
        })
    };
    let mut svc = BulkheadLayer::new(bulkhead.clone()).layer(inner);
    let held = bulkhead.try_acquire().unwrap();
    let start = bulkhead.clock().now();
    // poll_ready waits 40 ms on its timer, then is ready with a rejection
    svc.ready().await.unwrap();
    assert_eq!(bulkhead.clock().now(), start + Duration::from_millis(40));
    let r = svc.call(7).await.unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    assert_eq!(
        called.load(Ordering::SeqCst),
        0,
        "the inner service was not called"
    );
    held.finish(Outcome::Success);
    // the service is still usable
    assert_eq!(svc.ready().await.unwrap().call(8).await, Ok(8));
    assert_eq!(called.load(Ordering::SeqCst), 1);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_tower_service_dropped_while_waiting_or_holding_gives_up_its_slot() {
    let bulkhead: Bulkhead<4> = Bulkhead::new(config(1, Duration::from_secs(60)));
    let layer = BulkheadLayer::new(bulkhead.clone());
    let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, ()>(n) }));

    let mut holding = svc.clone();
    holding.ready().await.unwrap(); // holds the slot for a call that never comes
    let mut waiting = svc.clone();
    let cx = &mut Context::from_waker(Waker::noop());
    assert!(Service::<u32>::poll_ready(&mut waiting, cx).is_pending());
    assert_eq!((bulkhead.in_flight(), bulkhead.queued()), (1, 1));

    drop(holding); // its slot goes to the waiting service ...
    assert_eq!((bulkhead.in_flight(), bulkhead.queued()), (1, 0));
    drop(waiting); // ... which is dropped before using it
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(svc.oneshot(3).await, Ok(3));
}
