//! The Redis limiter as an admission machine: in a `Pipeline` and a
//! `Policy` like any other, async and blocking, against a real Redis.

mod common;

use std::time::Duration;

use common::RedisServer;
use failsafe_core::RejectReason;
use failsafe_core::rate::Quota;
use failsafe_redis::{RedisRateLimiter, Store, StoreConfig};
use failsafe_tokio::{Clock, Pipeline, Policy, TokioClock};

fn limiter(server: &RedisServer, name: &str, batch: u32) -> RedisRateLimiter {
    let store = Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    // 1 a second, bursts of 2 (leasing: batches of `batch`)
    let quota = Quota::per_second(1).unwrap().with_burst(2).unwrap();
    RedisRateLimiter::builder(store, name, quota)
        .lease(batch, Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_admits_through_the_shared_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    for batch in [1, 2] {
        let pipeline = Pipeline::new(TokioClock)
            .admit(limiter(&server, &format!("pipeline-{batch}"), batch).into_admission());
        for _ in 0..2 {
            let r = pipeline
                .call(|_| async { Ok::<_, std::io::Error>("sent") })
                .await;
            assert_eq!(r.unwrap(), "sent");
        }
        let now = TokioClock.now();
        let e = pipeline
            .call(|_| async { Ok::<_, std::io::Error>("sent") })
            .await
            .unwrap_err();
        let r = e.rejected().expect("rejected by the shared limit");
        assert_eq!(r.reason, RejectReason::RateLimited);
        // `retry_at` on the caller's clock: when the next permit (or the next
        // batch of `batch`: 1 s each) is granted
        let at = r.retry_at.unwrap();
        let latest =
            now.saturating_add(Duration::from_secs(u64::from(batch)) + Duration::from_millis(100));
        assert!(at > now && at <= latest, "{at:?} vs {now:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_serves_async_and_blocking_callers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let policy = Policy::new_shared(limiter(&server, "policy", 1).into_admission(), TokioClock);
    assert_eq!(policy.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    let blocking = policy.clone();
    let r = tokio::task::spawn_blocking(move || blocking.call_blocking(|| Ok::<_, ()>(2)))
        .await
        .unwrap();
    assert_eq!(r, Ok(2));
    let e = policy.call(|| async { Ok::<_, ()>(3) }).await.unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tower_layer_admits_through_the_shared_limit() {
    use tower::{Layer, ServiceExt, service_fn};
    let Some(server) = RedisServer::start() else {
        return;
    };
    let policy = Policy::new_shared(limiter(&server, "tower", 1).into_admission(), TokioClock);
    let layer = failsafe_tower::AdmissionLayer::from_policy(&policy);
    let service = layer.layer(service_fn(|x: u32| async move {
        Ok::<_, std::io::Error>(x + 1)
    }));
    assert_eq!(service.clone().oneshot(1).await.unwrap(), 2);
    assert_eq!(service.clone().oneshot(2).await.unwrap(), 3);
    assert!(
        service.oneshot(3).await.is_err(),
        "the third is over the shared limit"
    );
}
