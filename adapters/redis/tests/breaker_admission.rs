//! The shared Redis breaker as an admission machine (issue 14): in a
//! driver `Pipeline`, a `Policy` (async and blocking) and failsafe-tower's
//! `AdmissionLayer`, against a real Redis. One instance trips through
//! failures, another rejects within the documented delay; half-open probes
//! across instances stay within the quota; a dropped probe holds its slot
//! no longer than its lease.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{RedisServer, until};
use failsafe_core::RejectReason;
use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_redis::{RedisBreaker, SharedPermit, Store, StoreConfig, StoreEvent};
use failsafe_tokio::{Pipeline, Policy, TokioClock};

fn store(server: &RedisServer) -> Store {
    Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

/// Trips after 3 consecutive failures; `open_wait`; 2 probes, 2 successes close.
fn config(open_wait: Duration) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(open_wait)
        .half_open_probes(2)
        .success_threshold(2)
        .build()
        .unwrap()
}

fn instance(
    server: &RedisServer,
    name: &str,
    open_wait: Duration,
    poll: Duration,
) -> RedisBreaker<NoWindow> {
    RedisBreaker::builder(store(server), name, config(open_wait), NoWindow)
        .poll(poll)
        .build()
        .unwrap()
}

/// Reads the record until its round is at least `round`: a trip is
/// published by a task after the call returned.
async fn published(breaker: &RedisBreaker<NoWindow>, round: u64) {
    until("the trip published", || async {
        breaker.refresh().await.unwrap().round() >= round
    })
    .await;
}

/// Reads the record until its open wait is over (half-open).
async fn half_open(breaker: &RedisBreaker<NoWindow>) {
    until("the record half-open", || async {
        breaker.refresh().await.unwrap();
        breaker.state() == State::HalfOpen
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_trips_and_another_instances_pipeline_rejects() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let wait = Duration::from_secs(60);
    let a = instance(&server, "pipeline", wait, Duration::from_millis(100));
    let b = instance(&server, "pipeline", wait, Duration::ZERO);
    let (a_handle, b_handle) = (a.clone(), b.clone());
    let pa = Pipeline::new(TokioClock).admit(a.into_admission());
    let pb = Pipeline::new(TokioClock).admit(b.into_admission());
    assert_eq!(
        pb.call(|_| async { Ok::<_, std::io::Error>(1) })
            .await
            .unwrap(),
        1
    );
    for _ in 0..3 {
        let r = pa
            .call(|_| async { Err::<(), _>(std::io::Error::other("down")) })
            .await;
        assert!(r.unwrap_err().rejected().is_none(), "a failure, admitted");
    }
    published(&a_handle, 1).await;
    // B polls every call (poll 0): it rejects on its next call, within its
    // documented delay (poll + the store call's timeout)
    assert_eq!(b_handle.delay(), Duration::from_secs(2));
    let e = pb
        .call(|_| async { Ok::<_, std::io::Error>(2) })
        .await
        .unwrap_err();
    let r = e.rejected().expect("rejected by the shared record");
    assert_eq!(r.reason, RejectReason::BreakerOpen);
    assert!(
        r.retry_at.is_some(),
        "the open wait's end, on the local clock"
    );
    // A has read the record (it published it): rejected without a store call
    let e = pa
        .call(|_| async { Ok::<_, std::io::Error>(3) })
        .await
        .unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_closed_record_admits_without_a_store_call() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let events = Arc::new(AtomicU32::new(0));
    let seen = events.clone();
    let store = Store::connect(
        &server.url(),
        StoreConfig::new()
            .call_timeout(Duration::from_millis(500))
            .on_event(move |e| {
                if matches!(e, StoreEvent::DecidedWithout { .. }) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            }),
    )
    .unwrap();
    // fail closed and a copy fresh for an hour
    let breaker = RedisBreaker::builder(store, "fresh", config(Duration::from_secs(60)), NoWindow)
        .poll(Duration::from_secs(3_600))
        .fail_closed()
        .build()
        .unwrap();
    let policy = Policy::new_shared(breaker.clone().into_admission(), TokioClock);
    assert_eq!(policy.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    // the store gone: a call that asked it would be rejected (fail closed)
    server.stop();
    for i in 0..10 {
        assert_eq!(policy.call(|| async move { Ok::<_, ()>(i) }).await, Ok(i));
    }
    assert_eq!(events.load(Ordering::SeqCst), 0, "no store call was made");
    assert!(!breaker.record_seen().is_open());
    // a stale copy asks the store: fail closed rejects
    let stale = RedisBreaker::builder(
        breaker.store().clone(),
        "fresh",
        config(Duration::from_secs(60)),
        NoWindow,
    )
    .poll(Duration::ZERO)
    .fail_closed()
    .build()
    .unwrap();
    let policy = Policy::new_shared(stale.into_admission(), TokioClock);
    let e = policy.call(|| async { Ok::<_, ()>(0) }).await.unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
    assert!(events.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_serves_async_and_blocking_callers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let wait = Duration::from_secs(60);
    let a = instance(&server, "policy", wait, Duration::ZERO);
    let b = instance(&server, "policy", wait, Duration::ZERO);
    let a_handle = a.clone();
    let pa = Policy::new_shared(a.into_admission(), TokioClock);
    let pb = Policy::new_shared(b.into_admission(), TokioClock);
    let blocking = pb.clone();
    let r = tokio::task::spawn_blocking(move || blocking.call_blocking(|| Ok::<_, ()>(1)))
        .await
        .unwrap();
    assert_eq!(r, Ok(1));
    for _ in 0..3 {
        let r = pa.call(|| async { Err::<(), _>("down") }).await;
        assert!(r.unwrap_err().rejected().is_none());
    }
    published(&a_handle, 1).await;
    let blocking = pb.clone();
    let r = tokio::task::spawn_blocking(move || blocking.call_blocking(|| Ok::<_, ()>(2)))
        .await
        .unwrap();
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BreakerOpen
    );
    let e = pb.call(|| async { Ok::<_, ()>(3) }).await.unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tower_layer_trips_and_another_instances_layer_rejects() {
    use tower::{Layer, ServiceExt, service_fn};
    let Some(server) = RedisServer::start() else {
        return;
    };
    let wait = Duration::from_secs(60);
    let a = instance(&server, "tower", wait, Duration::ZERO);
    let b = instance(&server, "tower", wait, Duration::ZERO);
    let a_handle = a.clone();
    let pa = Policy::new_shared(a.into_admission(), TokioClock);
    let pb = Policy::new_shared(b.into_admission(), TokioClock);
    let failing =
        failsafe_tower::AdmissionLayer::from_policy(&pa).layer(service_fn(|_: u32| async move {
            Err::<u32, _>(std::io::Error::other("down"))
        }));
    let working =
        failsafe_tower::AdmissionLayer::from_policy(&pb).layer(service_fn(|x: u32| async move {
            Ok::<_, std::io::Error>(x + 1)
        }));
    assert_eq!(working.clone().oneshot(1).await.unwrap(), 2);
    for i in 0..3 {
        assert!(failing.clone().oneshot(i).await.is_err());
    }
    published(&a_handle, 1).await;
    assert!(
        working.oneshot(2).await.is_err(),
        "the shared record is open: rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_probes_across_instances_stay_within_the_quota() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // a 1 ms open wait: half-open as soon as the trip is stored
    let wait = Duration::from_millis(1);
    let tripper = instance(&server, "probes", wait, Duration::ZERO);
    let handle = tripper.clone();
    let pa = Pipeline::new(TokioClock).admit(tripper.into_admission());
    for _ in 0..3 {
        let _ = pa
            .call(|_| async { Err::<(), _>(std::io::Error::other("down")) })
            .await;
    }
    published(&handle, 1).await;
    half_open(&handle).await;
    // 4 instances x 10 calls; an admitted call holds its probe until the
    // gate opens. A closed semaphore is a gate that stays open: a call
    // admitted after the release (or racing it on another worker) passes
    // too, where `Notify::notify_waiters` would leave it waiting forever.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let admitted = Arc::new(AtomicU32::new(0));
    let mut calls = Vec::new();
    for _ in 0..4 {
        let p = Arc::new(
            Pipeline::new(TokioClock)
                .admit(instance(&server, "probes", wait, Duration::ZERO).into_admission()),
        );
        for _ in 0..10 {
            let (p, gate, admitted) = (p.clone(), gate.clone(), admitted.clone());
            calls.push(tokio::spawn(async move {
                p.call(|_| {
                    let (gate, admitted) = (gate.clone(), admitted.clone());
                    async move {
                        admitted.fetch_add(1, Ordering::SeqCst);
                        // `Err(Closed)` once the gate opens: that is the release
                        let _ = gate.acquire().await;
                        Ok::<_, std::io::Error>(())
                    }
                })
                .await
            }));
        }
    }
    // wait until every call either waits in its operation or has been
    // rejected: each has had its admission round trip, however slow the
    // machine (bounded by a generous deadline, so a fault fails, not hangs)
    let settled = async {
        loop {
            let done = calls.iter().filter(|c| c.is_finished()).count();
            if done + admitted.load(Ordering::SeqCst) as usize == calls.len() {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), settled)
        .await
        .expect("every call admitted or rejected within 60 s");
    assert_eq!(
        admitted.load(Ordering::SeqCst),
        2,
        "exactly the quota of probes across every instance"
    );
    gate.close();
    let mut rejected = Vec::new();
    for call in calls {
        if let Err(e) = call.await.unwrap() {
            rejected.push(e.rejected().expect("a rejection").reason);
        }
    }
    assert_eq!(rejected.len(), 38);
    assert!(rejected.iter().all(|r| matches!(
        r,
        RejectReason::BreakerHalfOpenFull | RejectReason::BreakerOpen
    )));
    // the two successes (settled by tasks) close the round for everyone
    until("the round closed", || async {
        !handle.refresh().await.unwrap().is_open()
    })
    .await;
    assert!(
        !handle.record_seen().is_open(),
        "{:?}",
        handle.record_seen()
    );
    assert_eq!(
        pa.call(|_| async { Ok::<_, std::io::Error>(7) })
            .await
            .unwrap(),
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_probe_holds_its_slot_no_longer_than_its_lease() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(1)
        .open_wait(Duration::from_millis(1))
        .half_open_probes(1)
        .success_threshold(1)
        .build()
        .unwrap();
    let lease = Duration::from_millis(300);
    let instance = || {
        RedisBreaker::builder(store(&server), "dropped", config, NoWindow)
            .poll(Duration::ZERO)
            .probe_lease(lease)
            .build()
            .unwrap()
    };
    let a = instance();
    let handle = a.clone();
    let pa = Arc::new(Pipeline::new(TokioClock).admit(a.into_admission()));
    let _ = pa
        .call(|_| async { Err::<(), _>(std::io::Error::other("down")) })
        .await;
    published(&handle, 1).await;
    half_open(&handle).await;
    // a probe admitted, then its call dropped mid-flight
    let (tx, rx) = tokio::sync::oneshot::channel();
    let p = pa.clone();
    let call = tokio::spawn(async move {
        let mut tx = Some(tx);
        p.call(move |_| {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
            std::future::pending::<Result<(), std::io::Error>>()
        })
        .await
    });
    rx.await.expect("the probe is admitted");
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // the slot is held for now ...
    let other = instance();
    let held = other.acquire().await.unwrap_err();
    assert_eq!(held.reason, RejectReason::BreakerHalfOpenFull);
    // ... and free again once the lease is over (a new round, half-open again);
    // bounded: 10 s of reads
    let start = std::time::Instant::now();
    loop {
        match other.acquire().await {
            Ok(permit @ SharedPermit::Probe { .. }) => {
                other.record(permit, failsafe_core::Outcome::Success).await;
                break;
            }
            Ok(_) => panic!("the round was closed by nobody"),
            Err(_) if start.elapsed() < Duration::from_secs(10) => {
                tokio::task::yield_now().await;
            }
            Err(r) => panic!("the dropped probe's slot leaked: {r:?}"),
        }
    }
    assert!(
        other.record_seen().round() >= 2,
        "the lease opened the next round"
    );
    assert!(!other.refresh().await.unwrap().is_open());
}
