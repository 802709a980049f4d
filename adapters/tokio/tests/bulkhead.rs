//! The bulkhead policy on tokio, in paused (virtual) time: the limit holds
//! under 200 tasks, waiters are served in order, a full queue and an
//! expired wait reject (the latter exactly at its deadline), nothing leaks
//! when a waiter is dropped or a call panics, and an adaptive limit backs
//! off on drops.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use failsafe_tokio::{
    Aimd, BulkheadConfig, BulkheadEvent, BulkheadPolicy, Clock, Error, Instant, Outcome,
    RejectReason, TokioClock,
};

fn config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(limit)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

/// Lets every other task run until none can make progress without time
/// moving (the paused clock never moves on its own while tasks are busy).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn two_hundred_tasks_never_run_more_than_the_limit() {
    let bulkhead: BulkheadPolicy<256> = BulkheadPolicy::new(config(5, Duration::from_secs(3600)));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..200u64)
        .map(|i| {
            let (bulkhead, running, peak) = (bulkhead.clone(), running.clone(), peak.clone());
            tokio::spawn(async move {
                bulkhead
                    .call(|| async {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        // uneven durations, so slots come back out of order
                        tokio::time::sleep(Duration::from_millis(1 + i % 7)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(i)
                    })
                    .await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), Ok(i as u64));
    }
    assert_eq!(
        peak.load(Ordering::SeqCst),
        5,
        "the limit was reached, never passed"
    );
    let m = bulkhead.metrics();
    assert_eq!(
        (m.in_flight, m.queued, m.acquired, m.released),
        (0, 0, 200, 200)
    );
    assert_eq!((m.rejected, m.expired, m.cancelled), (0, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn waiters_get_slots_in_the_order_they_queued() {
    let bulkhead: BulkheadPolicy<16> = BulkheadPolicy::new(config(1, Duration::from_secs(60)));
    let held = bulkhead.try_acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (b, order) = (bulkhead.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            b.call(|| async {
                order.lock().unwrap().push(i);
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok::<_, ()>(())
            })
            .await
        }));
        settle().await; // task i queues before task i + 1 starts
        assert_eq!(bulkhead.queued(), i + 1);
    }
    held.finish(Outcome::Success);
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..8).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_rejects_at_once() {
    let bulkhead: BulkheadPolicy<2> = BulkheadPolicy::new(config(1, Duration::from_secs(60)));
    let _held = bulkhead.acquire().await.unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let b = bulkhead.clone();
            tokio::spawn(async move { b.acquire().await.map(drop) })
        })
        .collect();
    settle().await;
    assert_eq!(bulkhead.queued(), 2);
    let start = TokioClock.now();
    let r = bulkhead
        .call(|| async { Ok::<_, ()>(()) })
        .await
        .unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadQueueFull
    );
    assert_eq!(TokioClock.now(), start, "rejected without waiting");
    let m = bulkhead.metrics();
    assert_eq!((m.rejected, m.queued), (1, 2));
    for w in waiters {
        w.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_wait_nobody_ends_expires_exactly_at_its_deadline() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let bulkhead: BulkheadPolicy<4> = BulkheadPolicy::new(config(1, Duration::from_millis(250)))
        .on_event(move |e| log.lock().unwrap().push(e));
    let _held = bulkhead.try_acquire().unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    let queued_at = TokioClock.now();
    assert_eq!(queued_at, Instant::from_millis(10));

    let waiter = {
        let b = bulkhead.clone();
        tokio::spawn(async move {
            let r = b.acquire().await.map(drop);
            (r, TokioClock.now())
        })
    };
    settle().await;
    tokio::time::advance(Duration::from_millis(249)).await;
    settle().await;
    assert!(
        !waiter.is_finished(),
        "still waiting 1 ms before the deadline"
    );
    assert_eq!(bulkhead.queued(), 1);

    tokio::time::advance(Duration::from_millis(1)).await;
    let (r, at) = waiter.await.unwrap();
    assert_eq!(r.unwrap_err().reason, RejectReason::BulkheadWaitExpired);
    assert_eq!(
        at,
        Instant::from_millis(260),
        "exactly max_wait after queueing"
    );
    assert!(
        events
            .lock()
            .unwrap()
            .contains(&BulkheadEvent::WaitExpired {
                at: Instant::from_millis(260)
            })
    );
    let m = bulkhead.metrics();
    assert_eq!((m.expired, m.queued, m.in_flight), (1, 0, 1));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaks_nothing() {
    let bulkhead: BulkheadPolicy<4> = BulkheadPolicy::new(config(1, Duration::from_secs(60)));
    let held = bulkhead.try_acquire().unwrap();

    // given up while waiting (a timeout around the wait)
    let r = tokio::time::timeout(Duration::from_millis(5), bulkhead.acquire()).await;
    assert!(r.is_err());
    assert_eq!(bulkhead.queued(), 0);

    // dropped after the slot was granted to it, before it collected it
    {
        let mut waiter = pin!(bulkhead.acquire());
        let cx = &mut Context::from_waker(Waker::noop());
        assert!(waiter.as_mut().poll(cx).is_pending());
        held.finish(Outcome::Success);
        assert_eq!(bulkhead.in_flight(), 1, "granted to the waiter");
    }
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.queued, m.cancelled), (0, 0, 2));
    assert_eq!(m.acquired, m.released);
    // and the slot is usable again
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_panic_inside_a_call_gives_the_slot_back() {
    let bulkhead: BulkheadPolicy<4> = BulkheadPolicy::new(config(1, Duration::from_secs(1)));
    let b = bulkhead.clone();
    let task = tokio::spawn(async move {
        b.call(|| async {
            tokio::time::sleep(Duration::from_millis(3)).await;
            if true {
                panic!("boom");
            }
            Ok::<_, ()>(())
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.acquired, m.released), (0, 1, 1));
    assert!(bulkhead.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_backs_off_on_drops_and_grows_under_load() {
    let aimd = Aimd::builder()
        .initial_limit(10)
        .min_limit(2)
        .max_limit(50)
        .build()
        .unwrap();
    let limits = Arc::new(Mutex::new(Vec::new()));
    let log = limits.clone();
    let bulkhead: BulkheadPolicy<64, Aimd> =
        BulkheadPolicy::adaptive(config(50, Duration::from_secs(10)), aimd).on_event(move |e| {
            if let BulkheadEvent::LimitChanged { to, .. } = e {
                log.lock().unwrap().push(to);
            }
        });
    assert_eq!(bulkhead.limit(), 10);

    // A brownout: ten calls at once, all failing: each drop takes 10% off.
    let failing: Vec<_> = (0..10)
        .map(|_| {
            let b = bulkhead.clone();
            tokio::spawn(async move {
                b.call(|| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err::<(), _>("overloaded")
                })
                .await
            })
        })
        .collect();
    for t in failing {
        assert_eq!(t.await.unwrap(), Err(Error::Inner("overloaded")));
    }
    // 10 -> 9 -> 8 -> 7 -> 6 -> 5 -> 4 -> 3 -> 2 (the floor) -> 2
    assert_eq!(bulkhead.limit(), 2);
    assert_eq!(*limits.lock().unwrap(), [9, 8, 7, 6, 5, 4, 3, 2]);

    // Recovery: calls keep both slots busy and succeed, so it grows by one
    // a call; a queue forms behind it and the limit never lets more run.
    let running = Arc::new(AtomicU32::new(0));
    let over = Arc::new(AtomicU32::new(0));
    let healthy: Vec<_> = (0..20)
        .map(|_| {
            let (b, running, over) = (bulkhead.clone(), running.clone(), over.clone());
            tokio::spawn(async move {
                b.call(|| async {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    if now > b.limit() {
                        over.fetch_add(1, Ordering::SeqCst);
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await
            })
        })
        .collect();
    for t in healthy {
        t.await.unwrap().unwrap();
    }
    assert!(bulkhead.limit() > 2, "grew back: {}", bulkhead.limit());
    assert_eq!(over.load(Ordering::SeqCst), 0);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn set_limit_by_hand_lets_waiters_in() {
    let bulkhead: BulkheadPolicy<8> = BulkheadPolicy::new(config(4, Duration::from_secs(60)));
    assert_eq!(bulkhead.set_limit(1), 1);
    let _held = bulkhead.try_acquire().unwrap();
    let waiter = {
        let b = bulkhead.clone();
        tokio::spawn(async move { b.acquire().await.map(drop) })
    };
    settle().await;
    assert_eq!(bulkhead.queued(), 1);
    assert_eq!(bulkhead.set_limit(2), 2);
    assert_eq!(waiter.await.unwrap(), Ok(()));
}
