//! The Redis limiter and breaker in the driver's registry (feature
//! `registry`), against a real Redis.

mod common;

use std::time::Duration;

use common::RedisServer;
use failsafe_core::breaker::{BreakerConfig, CountWindow, State};
use failsafe_core::rate::Quota;
use failsafe_driver::registry::{Change, Kind, Registry, RegistryError};
use failsafe_redis::{RedisBreaker, RedisRateLimiter, Store, StoreConfig};

fn store(server: &RedisServer) -> Store {
    Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_secs(2)),
    )
    .unwrap()
}

/// Reads the record until `ok` holds: a registry change runs as a store
/// call on a task (waiting for it, not a timing assertion).
async fn until<W: failsafe_core::breaker::Window>(
    breaker: &RedisBreaker<W>,
    ok: impl Fn(&RedisBreaker<W>) -> bool,
) {
    common::until("the change reached the store", || async {
        breaker.refresh().await.unwrap();
        ok(breaker)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limiter_is_listed_changed_and_reloaded() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let quota = Quota::per_second(10).unwrap().with_burst(4).unwrap();
    let admission = RedisRateLimiter::builder(store(&server), "reg-limit", quota)
        .build()
        .unwrap()
        .into_admission();
    let registry = Registry::default();
    registry.register("api", admission.clone()).unwrap();
    admission.limiter().acquire(1).await.unwrap();

    let view = registry.get("api").unwrap();
    assert_eq!(view.kind, Kind::RateLimiter);
    assert_eq!(view.state["burst"], 4);
    assert_eq!(view.state["store"]["available"], true);
    assert_eq!(view.state["shared"]["admitted"], true);
    assert_eq!(view.config["burst"], 4);

    let q = Quota::per_second(20).unwrap().with_burst(8).unwrap();
    registry
        .apply("api", Change::SetQuota { quota: q })
        .unwrap();
    assert_eq!(admission.limiter().quota(), q);

    registry
        .reload_toml("[api]\nrate = 5\nburst = 2\n")
        .unwrap();
    assert_eq!(admission.limiter().quota().burst(), 2);
    // a bad value changes nothing, naming the field
    let e = registry.reload_toml("[api]\nrate = 0\n").unwrap_err();
    assert_eq!(e.field(), Some("rate"));
    // a third of a second is not whole microseconds: the store's unit
    let e = registry
        .apply(
            "api",
            Change::SetQuota {
                quota: Quota::per_second(3).unwrap(),
            },
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("period"));
    assert_eq!(admission.limiter().quota().burst(), 2);
    // the new quota is what the store applies, the stored arrival time
    // kept (one permit taken at 10/s): one more, then rejected
    admission.limiter().acquire(1).await.unwrap();
    admission.limiter().acquire(1).await.unwrap_err();
    assert!(registry.apply("api", Change::ForceOpen).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_breaker_is_forced_open_closed_reset_and_reconfigured() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = BreakerConfig::builder().minimum_calls(2).build().unwrap();
    let build = || {
        RedisBreaker::builder(
            store(&server),
            "reg-breaker",
            config,
            CountWindow::<10>::new(),
        )
        .poll(Duration::ZERO)
        .build()
        .unwrap()
    };
    let (a, b) = (build(), build());
    let registry = Registry::default();
    registry.register("payments", a.clone()).unwrap();
    let view = registry.get("payments").unwrap();
    assert_eq!(view.kind, Kind::CircuitBreaker);
    assert_eq!(view.state["state"], "closed");

    // forced open through instance a's registry: b rejects too
    registry.apply("payments", Change::ForceOpen).unwrap();
    until(&a, |a| a.state() == State::ForcedOpen).await;
    assert!(b.acquire().await.is_err());
    assert_eq!(b.state(), State::ForcedOpen);
    assert_eq!(
        registry.get("payments").unwrap().state["state"],
        "forced-open"
    );
    assert_eq!(
        registry.get("payments").unwrap().state["shared"]["open"],
        true
    );

    registry.apply("payments", Change::Close).unwrap();
    until(&a, |a| a.state() == State::Closed).await;
    assert!(b.acquire().await.is_ok_and(|p| {
        drop(p);
        true
    }));

    registry.apply("payments", Change::Open).unwrap();
    until(&a, |a| a.state() == State::Open).await;
    registry.apply("payments", Change::Reset).unwrap();
    until(&a, |a| a.state() == State::Closed).await;

    // configure: the instance's own breaker; a bad value changes nothing
    let e = registry
        .reload_toml("[payments]\nopen_wait = \"1ns\"\n")
        .unwrap_err();
    assert_eq!(e.field(), Some("open_wait"));
    registry
        .reload_toml("[payments]\nminimum_calls = 7\n")
        .unwrap();
    assert_eq!(registry.get("payments").unwrap().config["minimum_calls"], 7);
    assert!(
        registry
            .apply("payments", Change::SetLimit { limit: 1 })
            .is_err()
    );
}

/// What the admin routes call: the view answered shows the store's record
/// after the change, and a store that does not answer is an error, not an
/// `Ok` that changed nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_change_answers_once_the_store_took_it_or_says_it_did_not() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let store = Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let config = BreakerConfig::builder().minimum_calls(2).build().unwrap();
    let breaker = RedisBreaker::builder(store, "reg-settled", config, CountWindow::<10>::new())
        .poll(Duration::ZERO)
        .build()
        .unwrap();
    let registry = Registry::default();
    registry.register("payments", breaker.clone()).unwrap();
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = heard.clone();
    registry.on_change(move |e| log.lock().unwrap().push(e.change.action().to_string()));

    // no waiting loop: the answer comes once the record is in the store
    let view = registry
        .apply_settled("payments", Change::ForceOpen)
        .await
        .unwrap();
    assert_eq!(view.state["state"], "forced-open");
    assert_eq!(view.state["shared"]["open"], true);
    let view = registry
        .apply_settled("payments", Change::Close)
        .await
        .unwrap();
    assert_eq!(view.state["state"], "closed");
    assert_eq!(*heard.lock().unwrap(), ["force_open", "close"]);

    server.stop();
    let e = registry
        .apply_settled("payments", Change::ForceOpen)
        .await
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::NotApplied { ref name, kind: Kind::CircuitBreaker, .. } if name == "payments"),
        "{e:?}"
    );
    assert!(e.to_string().contains("did not take"), "{e}");
    assert_eq!(registry.get("payments").unwrap().state["state"], "closed");
    // the listeners heard of it when it was made, in order
    assert_eq!(
        *heard.lock().unwrap(),
        ["force_open", "close", "force_open"]
    );
}
