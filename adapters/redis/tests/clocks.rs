//! Issue 14's review: every answer on the caller's clock, errors naming
//! the setter, the reason a store call failed, and the merged breaker
//! state, against a real Redis.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::RedisServer;
use failsafe_core::breaker::{BreakerConfig, CountWindow, State};
use failsafe_core::rate::Quota;
use failsafe_core::{Outcome, RejectReason};
use failsafe_redis::{
    RedisBreaker, RedisRateLimiter, SetupError, Store, StoreConfig, StoreEvent, StoreFailure,
};
use failsafe_tokio::{Clock, TokioClock};

fn store(server: &RedisServer) -> Store {
    Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_is_on_the_callers_clock() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // 1 a second, burst 1: the second call waits at most a second
    let limiter = RedisRateLimiter::builder(store(&server), "clock", Quota::per_second(1).unwrap())
        .build()
        .unwrap();
    limiter.acquire(1).await.unwrap();
    let before = TokioClock.now();
    let r = limiter.acquire(1).await.unwrap_err();
    let after = TokioClock.now();
    assert_eq!(r.reason, RejectReason::RateLimited);
    let at = r.retry_at.unwrap();
    // on the tokio clock, not in µs since 1970
    assert!(at >= before, "{at:?} before {before:?}");
    assert!(at <= after.saturating_add(Duration::from_secs(1)), "{at:?}");

    // the breaker's too
    let config = BreakerConfig::builder().minimum_calls(1).build().unwrap();
    let breaker = RedisBreaker::builder(store(&server), "clock-b", config, CountWindow::<4>::new())
        .poll(Duration::ZERO)
        .build()
        .unwrap();
    let permit = breaker.acquire().await.unwrap();
    breaker.record(permit, Outcome::Failure).await;
    let before = TokioClock.now();
    let r = breaker.acquire().await.unwrap_err();
    let at = r.retry_at.unwrap();
    assert_eq!(r.reason, RejectReason::BreakerOpen);
    assert!(at >= before, "{at:?} before {before:?}");
    assert!(
        at <= TokioClock.now().saturating_add(config.open_wait()),
        "{at:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_says_open_after_a_published_trip() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = BreakerConfig::builder().minimum_calls(1).build().unwrap();
    let breaker = RedisBreaker::builder(store(&server), "merged", config, CountWindow::<4>::new())
        .build()
        .unwrap();
    assert_eq!(breaker.state(), State::Closed);
    let permit = breaker.acquire().await.unwrap();
    breaker.record(permit, Outcome::Failure).await;
    // published: the instance counts afresh, the shared record is open
    assert_eq!(breaker.local_state(), State::Closed);
    assert_eq!(breaker.state(), State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_setter_and_the_reason() {
    let e = Store::connect(
        "redis://127.0.0.1:1/",
        StoreConfig::new().call_timeout(Duration::ZERO),
    )
    .unwrap_err();
    assert!(
        matches!(&e, SetupError::Config(c) if c.field == "call_timeout"),
        "{e}"
    );

    // nothing listens on the port: the reason is the connection
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = Store::connect(
        &format!("redis://127.0.0.1:{port}/"),
        StoreConfig::new()
            .call_timeout(Duration::from_secs(2))
            .on_event(move |e| log.lock().unwrap().push(e)),
    )
    .unwrap();
    let quota = Quota::per_second(10).unwrap();
    let e = RedisRateLimiter::builder(store.clone(), "x", quota)
        .lease(0, Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, SetupError::Config(c) if c.field == "lease.batch"),
        "{e}"
    );
    let e = RedisRateLimiter::builder(store.clone(), "x", quota)
        .lease(1, Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, SetupError::Config(c) if c.field == "lease.ttl"),
        "{e}"
    );
    let limiter = RedisRateLimiter::builder(store, "x", quota)
        .build()
        .unwrap();
    let step = limiter.step(None, 1).await.unwrap_err();
    assert_eq!(step.failure, StoreFailure::Connection);
    assert_eq!(
        seen.lock().unwrap()[0],
        StoreEvent::Unavailable {
            failure: StoreFailure::Connection
        }
    );
}
