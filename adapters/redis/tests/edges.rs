//! The Redis policies at their edges: a configure error names the field,
//! not the value; an injected `now` past the scripts' exact range (2^52 µs)
//! is refused as never, as the core does at the end of its range; an
//! injected `now` leaves the store's clock alone. Each "once" below was a
//! fault a helper's review found.

mod common;

use std::time::Duration;

use common::RedisServer;
use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, CountWindow};
use failsafe_core::rate::Quota;
use failsafe_core::rate::shared::gcra_step;
use failsafe_driver::registry::{Change, Registry};
use failsafe_redis::{RedisBreaker, RedisRateLimiter, Store, StoreConfig};
use failsafe_tokio::{Clock, TokioClock};
use serde_json::json;

fn store(url: &str) -> Store {
    Store::connect(url, StoreConfig::new().call_timeout(Duration::from_secs(2))).unwrap()
}

fn system_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Once: registry.rs:30-45 takes the first backtick-quoted word of the
/// serde message as the field: `burst = -1` is reported as field `-1`.
/// No server needed: `prepare` checks the table before any store call.
#[tokio::test(flavor = "current_thread")]
async fn a_configure_error_names_the_field_not_the_value() {
    // nothing listens on port 1: the store connects lazily and is never called
    let limiter = RedisRateLimiter::builder(
        store("redis://127.0.0.1:1/"),
        "field-name",
        Quota::per_second(10).unwrap(),
    )
    .build()
    .unwrap()
    .into_admission();
    let registry = Registry::default();
    registry.register("api", limiter).unwrap();
    let e = registry
        .apply(
            "api",
            Change::Configure {
                config: json!({"rate": 10, "burst": -1}),
            },
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("burst"), "{e}");
}

/// Once: an injected `now` is never checked against the script's exact
/// range (store.rs:467 `now_arg`): at `Instant::MAX` the core refuses (past
/// the end of time) and the script grants.
#[tokio::test(flavor = "current_thread")]
async fn the_gcra_script_refuses_past_the_end_of_time_as_the_core_does() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let quota = Quota::with_period(Duration::from_micros(1)).unwrap();
    let limiter = RedisRateLimiter::builder(store(&server.url()), "far", quota)
        .build()
        .unwrap();
    let now = Instant::MAX;
    let core = gcra_step(None, now, 1, quota);
    let lua = limiter.step(Some(now), 1).await.unwrap();
    assert_eq!(lua.decision, core.map(|s| s.tat));
}

/// Same cause: at an injected `now` past 2^53 µs the doubles rounded
/// `now + period` back to `now`, and a burst-1 limit granted every call.
/// Past the script's exact range (2^52 µs) every call is refused, never
/// to be admitted, as the core answers at the end of its own range.
#[tokio::test(flavor = "current_thread")]
async fn an_injected_now_past_the_scripts_range_is_refused() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let quota = Quota::with_period(Duration::from_micros(1)).unwrap();
    let limiter = RedisRateLimiter::builder(store(&server.url()), "far2", quota)
        .build()
        .unwrap();
    for now in [
        Instant::from_micros((1 << 52) + 1),
        Instant::from_micros(1 << 54),
    ] {
        for _ in 0..5 {
            let refused = limiter.acquire_at(now, 1).await.unwrap_err();
            assert!(refused.is_never(), "{refused:?}");
        }
    }
    // at the range's end, still exact: one granted, the next refused
    let end = Instant::from_micros(1 << 52);
    assert!(limiter.acquire_at(end, 1).await.is_ok());
    assert!(limiter.acquire_at(end, 1).await.is_err());
}

/// Once: store.rs:424-428 takes every reply's last element as the
/// server's `TIME`, but with an injected `now` the scripts return that
/// instead: one `acquire_at` moves `Store::now` by decades for every
/// policy on the store, and a breaker's 30 s open wait answers a retry
/// in 57 years.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_now_leaves_the_store_clock_alone() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server.url());
    let config = BreakerConfig::builder().minimum_calls(2).build().unwrap();
    // a long poll: the acquire below decides on the view the `open` folded in
    let breaker = RedisBreaker::builder(store.clone(), "skew", config, CountWindow::<4>::new())
        .poll(Duration::from_secs(600))
        .build()
        .unwrap();
    breaker.open().await.unwrap(); // open for the default 30 s, by the server's clock
    let limiter =
        RedisRateLimiter::builder(store.clone(), "skew-l", Quota::per_second(10).unwrap())
            .build()
            .unwrap();
    // another policy on the same store decides at an injected instant
    limiter.acquire_at(Instant::from_secs(5), 1).await.unwrap();
    let drift = (store.now().as_nanos() / 1_000).abs_diff(system_us());
    let before = TokioClock.now();
    let r = breaker.acquire().await.unwrap_err();
    let wait = r.retry_at.unwrap().saturating_duration_since(before);
    assert!(
        wait <= config.open_wait(),
        "a 30 s open wait answers retry in {wait:?} (Store::now off by {drift} us after an injected call)"
    );
}
