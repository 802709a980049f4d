//! The bulkhead on async-io runtimes. Timelines run the driver's handle on
//! an injected virtual runtime whose sleeps jump its clock; the smoke tests
//! use the real `AsyncIoClock` only where every wait is ended by a release,
//! never by time. Nothing sleeps.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_async_std::{
    BulkheadConfig, BulkheadPolicy, Clock, FixedLimit, Outcome, RejectReason,
};
use smol::future::yield_now;

#[path = "../../thread/tests/support/mod.rs"]
mod support;
use support::{TestClock as Virtual, ms};

fn config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(limit)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

#[test]
fn a_wait_nobody_ends_expires_exactly_at_its_deadline() {
    let rt = Virtual::default();
    rt.set(ms(40));
    let bulkhead: failsafe_driver::BulkheadPolicy<4, FixedLimit, Virtual> =
        failsafe_driver::BulkheadPolicy::with_runtime(
            config(1, Duration::from_millis(75)),
            rt.clone(),
        );
    let held = bulkhead.try_acquire().unwrap();
    let r = smol::block_on(bulkhead.call(|| async { Ok::<_, ()>(()) })).unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    // one timer, for exactly the end of the wait, and the clock stopped there
    assert_eq!(rt.waits(), [ms(115)]);
    assert_eq!(rt.now(), ms(115));
    held.finish(Outcome::Success);
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.expired, m.queued), (0, 1, 0));
}

#[test]
fn many_tasks_never_run_more_than_the_limit_and_keep_their_order() {
    // AsyncIoClock: no wait has an end (Duration::MAX), so only releases end them.
    let bulkhead: BulkheadPolicy<64> = BulkheadPolicy::new(config(3, Duration::MAX));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let order = Arc::new(Mutex::new(Vec::new()));
    let ex = smol::LocalExecutor::new();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (b, running, peak, order) = (
                bulkhead.clone(),
                running.clone(),
                peak.clone(),
                order.clone(),
            );
            ex.spawn(async move {
                b.call(|| async {
                    order.lock().unwrap().push(i);
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    for _ in 0..(i % 4) {
                        yield_now().await;
                    }
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(i)
                })
                .await
            })
        })
        .collect();
    let results = smol::block_on(ex.run(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    }));
    assert_eq!(results, (0..40).map(Ok).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    // tasks start in spawn order and queue in that order: FIFO admission
    assert_eq!(*order.lock().unwrap(), (0..40).collect::<Vec<_>>());
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[test]
fn a_dropped_waiter_leaks_nothing() {
    let bulkhead: BulkheadPolicy<4> = BulkheadPolicy::new(config(1, Duration::MAX));
    let held = bulkhead.try_acquire().unwrap();
    smol::block_on(async {
        // a waiter that loses a race is dropped while queued
        let waiter = bulkhead.acquire();
        let other = async {
            yield_now().await;
            "other"
        };
        assert_eq!(
            smol::future::or(async { waiter.await.map(|_| "slot").unwrap() }, other).await,
            "other"
        );
    });
    assert_eq!(bulkhead.queued(), 0);
    assert_eq!(bulkhead.metrics().cancelled, 1);
    held.finish(Outcome::Success);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[test]
fn async_std_runs_it_too() {
    let bulkhead: BulkheadPolicy<16> = BulkheadPolicy::new(config(2, Duration::MAX));
    let total = async_std::task::block_on(async {
        let tasks: Vec<_> = (0..10u32)
            .map(|i| {
                let b = bulkhead.clone();
                async_std::task::spawn(
                    async move { b.call(|| async move { Ok::<_, ()>(i) }).await },
                )
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, 45);
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.acquired, m.released), (0, 10, 10));
    async_std::task::block_on(async {
        let _a = bulkhead.acquire().await.unwrap();
        let _b = bulkhead.acquire().await.unwrap();
        let r = bulkhead.try_acquire().unwrap_err();
        assert_eq!(r.reason, RejectReason::BulkheadFull);
    });
    assert_eq!(bulkhead.in_flight(), 0);
}
