//! What the runtime-control registry owes an operator, pattern by pattern:
//! a view read back and sent back unchanged changes nothing (the flag
//! table's shows its switches as in force); a change is applied as asked
//! or refused with the field named (an adaptive bulkhead's limit outside
//! its algorithm's bounds, a retry table leaving out a fixed setting, a
//! reload entry that is not a table: `Malformed`, HTTP 400); adding a key
//! already on a full list is no error; an unknown key is named as written.
//! Each "once" below was a fault a helper's review found.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, CountWindow};
use failsafe_core::bulkhead::{Aimd, BulkheadConfig};
use failsafe_core::checked;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::RetryConfig;
use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
use failsafe_driver::registry::{Change, FeatureFlags, Registry, RegistryEvent};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, FailFastPolicy, KeyedRateLimiterPolicy,
    RateLimiterPolicy,
};
use serde_json::{Value, json};

#[derive(Clone, Debug, Default)]
struct Manual(Arc<AtomicU64>);

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

fn events(registry: &Registry) -> Arc<Mutex<Vec<RegistryEvent>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    registry.on_change(move |e| log.lock().unwrap().push(e.clone()));
    events
}

/// Sends every policy's view config back as `configure`: nothing must change.
fn round_trip(registry: &Registry, name: &str) {
    let before = registry.get(name).unwrap();
    let seen = events(registry);
    let r = registry.apply(
        name,
        Change::Configure {
            config: before.config.clone(),
        },
    );
    assert!(
        r.is_ok(),
        "{name}: the view's config was refused: {r:?}\n{}",
        before.config
    );
    let after = registry.get(name).unwrap();
    assert_eq!(after.config, before.config, "{name}");
    assert_eq!(after.state, before.state, "{name}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "{name}: {:?}",
        seen.lock().unwrap()
    );
}

/// REGRESSION (passes): every std pattern's view config round-trips.
#[test]
fn regression_every_views_config_sent_back_changes_nothing() {
    let clock = Manual::default();
    let registry = Registry::new(16);
    let breaker: CircuitBreakerPolicy<CountWindow<10>, Manual> = CircuitBreakerPolicy::with_runtime(
        BreakerConfig::builder()
            .consecutive_failures(2)
            .slow_call_duration(Duration::from_millis(1500))
            .build()
            .unwrap(),
        CountWindow::new(),
        clock.clone(),
    );
    registry.register("breaker", breaker).unwrap();
    let ff = FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, clock.clone());
    registry.register("ff", ff).unwrap();
    let pool: BulkheadPolicy<4, _, Manual> = BulkheadPolicy::with_runtime(
        BulkheadConfig::builder()
            .max_concurrent(3)
            .max_wait(Duration::from_millis(7))
            .build()
            .unwrap(),
        clock.clone(),
    );
    registry.register("pool", pool).unwrap();
    let limiter = RateLimiterPolicy::with_runtime(
        Quota::builder()
            .per(7, Duration::from_secs(3))
            .burst(4)
            .build()
            .unwrap(),
        clock.clone(),
    );
    registry.register("limiter", limiter).unwrap();
    let keyed: KeyedRateLimiterPolicy<u32, 8, Manual> =
        KeyedRateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), clock.clone());
    registry.register("keyed", keyed).unwrap();
    let retry = failsafe_driver::RetryPolicy::with_runtime(
        RetryConfig::builder().max_attempts(3).build().unwrap(),
        clock.clone(),
    );
    registry.register("retry", retry).unwrap();
    for name in registry.names() {
        round_trip(&registry, &name);
    }
}

fn flag_table() -> &'static FlagTable<2, 2> {
    Box::leak(Box::new(FlagTable::new(checked(ToggleConfig::new(
        7,
        [
            FlagSpec::new("new-checkout").rollout(0),
            FlagSpec::new("promo"),
        ],
    )))))
}

/// Once: `FeatureFlags::config` (toggle.rs:116) shows the table as built,
/// so sending the view's config back as `configure` (toggle.rs:214) undoes
/// the operator's flips: it reports a change and reverts the live switches.
#[test]
fn a_flag_tables_view_sent_back_after_a_flip_changes_nothing() {
    let table = flag_table();
    let registry = Registry::new(4);
    registry
        .register("flags", FeatureFlags::new(Manual::default(), table))
        .unwrap();
    registry
        .apply(
            "flags",
            Change::SetRollout {
                flag: "new-checkout".into(),
                rollout: 2_500,
            },
        )
        .unwrap();
    registry
        .apply(
            "flags",
            Change::SetEnabled {
                flag: "promo".into(),
                enabled: false,
            },
        )
        .unwrap();
    round_trip(&registry, "flags");
}

/// Once: bulkhead.rs:130-145 checks an adaptive limit only against
/// `[1, max_concurrent]`; the core clamps it to the algorithm's
/// `[min_limit, max_limit]` (here 5..20): `set_limit 2` is accepted and
/// reported as `SetLimit { limit: 2 }`, and the limit in force is 5.
#[test]
fn an_adaptive_bulkheads_set_limit_is_applied_as_asked_or_refused() {
    let aimd = Aimd::builder()
        .initial_limit(10)
        .min_limit(5)
        .max_limit(20)
        .build()
        .unwrap();
    let pool: BulkheadPolicy<4, Aimd, Manual> = BulkheadPolicy::adaptive_with_runtime(
        BulkheadConfig::builder()
            .max_concurrent(25)
            .build()
            .unwrap(),
        aimd,
        Manual::default(),
    );
    let registry = Registry::new(4);
    registry.register("pool", pool.clone()).unwrap();
    let seen = events(&registry);
    for limit in [2u32, 24] {
        let r = registry.apply("pool", Change::SetLimit { limit });
        if r.is_ok() {
            assert_eq!(
                pool.limit(),
                limit,
                "accepted and reported {:?}, but the limit is {}",
                seen.lock().unwrap().last().map(|e| e.change.clone()),
                pool.limit()
            );
        }
    }
}

struct Zoo {
    registry: Registry,
}

fn zoo() -> Zoo {
    let clock = Manual::default();
    clock.0.store(u64::MAX - 10, Ordering::SeqCst);
    let registry = Registry::new(16);
    let breaker: CircuitBreakerPolicy<CountWindow<10>, Manual> = CircuitBreakerPolicy::with_runtime(
        BreakerConfig::builder()
            .consecutive_failures(2)
            .build()
            .unwrap(),
        CountWindow::new(),
        clock.clone(),
    );
    registry.register("breaker", breaker).unwrap();
    registry
        .register(
            "ff",
            FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, clock.clone()),
        )
        .unwrap();
    let pool: BulkheadPolicy<4, _, Manual> = BulkheadPolicy::with_runtime(
        BulkheadConfig::builder().max_concurrent(3).build().unwrap(),
        clock.clone(),
    );
    registry.register("pool", pool).unwrap();
    let aimd = Aimd::builder()
        .initial_limit(10)
        .min_limit(5)
        .max_limit(20)
        .build()
        .unwrap();
    let apool: BulkheadPolicy<4, Aimd, Manual> = BulkheadPolicy::adaptive_with_runtime(
        BulkheadConfig::builder()
            .max_concurrent(25)
            .build()
            .unwrap(),
        aimd,
        clock.clone(),
    );
    registry.register("apool", apool).unwrap();
    registry
        .register(
            "limiter",
            RateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), clock.clone()),
        )
        .unwrap();
    let keyed: KeyedRateLimiterPolicy<u32, 8, Manual> =
        KeyedRateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), clock.clone());
    registry.register("keyed", keyed).unwrap();
    let retry = failsafe_driver::RetryPolicy::with_runtime(
        RetryConfig::builder().max_attempts(3).build().unwrap(),
        clock.clone(),
    );
    registry.register("retry", retry).unwrap();
    registry
        .register("flags", FeatureFlags::new(clock.clone(), flag_table()))
        .unwrap();
    Zoo { registry }
}

/// REGRESSION (passes): huge, negative, overflowing, unicode and
/// mistyped values on every policy: typed errors, never a panic.
#[test]
fn regression_no_panic_on_hostile_changes() {
    let bodies: Vec<Value> = vec![
        json!({"action": "set_quota", "quota": {"rate": 4294967295u64, "per": "1ns"}}),
        json!({"action": "set_quota", "quota": {"rate": 1, "per": "18446744073709551615s"}}),
        json!({"action": "set_quota", "quota": {"period": "18446744073709551615s 999999999ns", "burst": 4294967295u64}}),
        json!({"action": "set_quota", "quota": {"period": "1ns", "burst": 4294967295u64}}),
        json!({"action": "set_quota", "quota": {"rate": 1, "per": "-1s"}}),
        json!({"action": "set_quota", "quota": {"rate": -1}}),
        json!({"action": "set_quota", "quota": {"rate": 1.5}}),
        json!({"action": "set_limit", "limit": 4294967295u64}),
        json!({"action": "set_limit", "limit": -1}),
        json!({"action": "set_max_attempts", "max_attempts": 4294967295u64}),
        json!({"action": "set_max_attempts", "max_attempts": -1}),
        json!({"action": "set_rollout", "flag": "new-checkout", "rollout": 65535}),
        json!({"action": "set_rollout", "flag": "é", "rollout": 1}),
        json!({"action": "allow", "flag": "new-checkout", "key": "ключ🔑"}),
        json!({"action": "configure", "config": {"open_wait": "18446744073709551615s", "open_wait_multiplier": 1e30}}),
        json!({"action": "configure", "config": {"open_wait": "1ns", "open_wait_max": "18446744073709551615s", "open_wait_multiplier": 100}}),
        json!({"action": "configure", "config": {"probe_lease": "18446744073709551615s"}}),
        json!({"action": "configure", "config": {"slow_call_duration": "18446744073709551615s"}}),
        json!({"action": "configure", "config": {"max_concurrent": 4294967295u64, "max_wait": "18446744073709551615s"}}),
        json!({"action": "configure", "config": {"rate": 4294967295u64, "per": "1ns", "burst": 4294967295u64}}),
        json!({"action": "configure", "config": {"quota": {"rate": 4294967295u64, "per": "1ns", "burst": 4294967295u64}}}),
        json!({"action": "configure", "config": {"max_attempts": 4294967295u64, "backoff":{"initial":"100ms","kind":"exponential","max":"10s","multiplier":2.0},"jitter":"full","min_remaining":"0s","retry_after":{"kind":"clamp","max_extra":"5s"}}}),
        json!({"action": "configure", "config": {"max_attempts": 0, "backoff":{"initial":"100ms","kind":"exponential","max":"10s","multiplier":2.0},"jitter":"full","min_remaining":"0s","retry_after":{"kind":"clamp","max_extra":"5s"}}}),
        json!({"action": "configure", "config": {"seed": 7, "flags": [{"name": "new-checkout", "rollout": 65535}, {"name": "promo"}]}}),
        json!({"action": "configure", "config": {"seed": 7, "flags": [{"name": "new-checkout", "windows": [{"start": "18446744073709551615s", "end": "1s"}]}, {"name": "promo"}]}}),
        json!({"action": "configure", "config": {"consecutive_failures": 5, "probe_interval": "18446744073709551615s", "expected_duration": "18446744073709551615s", "safety_margin": "18446744073709551615s"}}),
        json!({"action": "configure", "config": null}),
        json!({"action": "configure", "config": [1, 2]}),
        json!({"action": "configure", "config": "x"}),
        json!({"action": "configure", "config": {"a`b": 1}}),
    ];
    let z = zoo();
    for body in bodies {
        for name in z.registry.names() {
            let body2 = body.clone();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let change = Change::from_json(body2)?;
                z.registry.apply(&name, change)
            }));
            assert!(r.is_ok(), "{name}: panicked on {body}");
            let _ = z.registry.list();
        }
    }
}

/// Once: retry.rs:414-420 compares only the keys the new table has: a
/// table leaving out `max_elapsed` (off, not written) is accepted though the
/// retry keeps its `max_elapsed` of 10 s, which cannot change at run time.
#[test]
fn a_retry_table_leaving_out_max_elapsed_is_refused() {
    let built = RetryConfig::builder()
        .max_attempts(3)
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap();
    let retry = failsafe_driver::RetryPolicy::with_runtime(built, Manual::default());
    let registry = Registry::new(4);
    registry.register("orders", retry).unwrap();
    let view = registry.get("orders").unwrap();
    let mut config = view.config.clone();
    config.as_object_mut().unwrap().remove("max_elapsed");
    config["max_attempts"] = json!(5);
    let r = registry.apply("orders", Change::Configure { config });
    assert!(
        r.is_err(),
        "a table without max_elapsed (off) was accepted, yet the retry keeps max_elapsed: {}",
        registry.get("orders").unwrap().config
    );
}

/// REGRESSION (passes): a retry's view after `set_max_attempts` round-trips.
#[test]
fn regression_a_retrys_view_sent_back_after_a_limit_change_changes_nothing() {
    let retry = failsafe_driver::RetryPolicy::with_runtime(
        RetryConfig::builder()
            .max_attempts(3)
            .jitter(failsafe_core::retry::Jitter::Proportional(0.1))
            .build()
            .unwrap(),
        Manual::default(),
    );
    let registry = Registry::new(4);
    registry.register("orders", retry).unwrap();
    round_trip(&registry, "orders");
    registry
        .apply(
            "orders",
            Change::SetMaxAttempts {
                max_attempts: failsafe_driver::registry::AttemptLimit::Unlimited,
            },
        )
        .unwrap();
    round_trip(&registry, "orders");
    registry
        .apply(
            "orders",
            Change::SetMaxAttempts {
                max_attempts: failsafe_driver::registry::AttemptLimit::Limit(7),
            },
        )
        .unwrap();
    round_trip(&registry, "orders");
}

/// Once: reload.rs:102-116 never checks that each policy's entry is a
/// table: `search = 5` is a `Change` error (HTTP 422) where the docs
/// (reload.rs:57) promise `Malformed` (HTTP 400).
#[test]
fn a_reload_with_a_top_level_value_not_a_table_is_malformed() {
    let registry = Registry::new(4);
    registry
        .register(
            "search",
            RateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), Manual::default()),
        )
        .unwrap();
    let e = registry.reload_toml("search = 5\n").unwrap_err();
    assert!(
        matches!(e, failsafe_driver::registry::RegistryError::Malformed(_)),
        "{e:?}"
    );
}

/// Once: toggle.rs:169-180 refuses `allow` on a full list before looking
/// whether the key is on it already (the core's `allow` accepts that as a
/// no-op): re-allowing a listed key fails with "the allow list is full".
#[test]
fn allowing_a_key_already_on_a_full_list_is_accepted() {
    let registry = Registry::new(4);
    registry
        .register("flags", FeatureFlags::new(Manual::default(), flag_table()))
        .unwrap();
    for key in ["a", "b", "a"] {
        let r = registry.apply(
            "flags",
            Change::Allow {
                flag: "promo".into(),
                key: key.into(),
            },
        );
        r.unwrap();
    }
}

/// Once: change.rs:413-426 takes the first backtick-quoted word of a serde
/// message as the field, so an unknown key holding a backtick is named
/// wrongly (`a`b.a` for the key `a`b`).
#[test]
fn an_unknown_key_with_a_backtick_is_named_as_it_is() {
    let z = zoo();
    let e = z
        .registry
        .apply(
            "pool",
            Change::Configure {
                config: json!({"a`b": 1}),
            },
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("a`b"), "{e}");
}

/// One raw HTTP/1.1 request to the admin router on loopback: the status.
async fn status(app: axum::Router, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    server.abort();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.split(' ').nth(1).unwrap().parse().unwrap();
    (code, text)
}

/// FAULT (HTTP face of the reload fault above): `POST /reload` with an
/// entry that is not a table answers 422, not the documented 400.
#[tokio::test]
async fn the_admin_reload_of_a_non_table_entry_answers_400() {
    let registry = Arc::new(Registry::new(4));
    registry
        .register(
            "search",
            RateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), Manual::default()),
        )
        .unwrap();
    let app =
        axum::Router::new().nest("/admin", failsafe_driver::registry::admin::router(registry));
    let (code, text) = status(app, "POST", "/admin/reload", "search = 5\n").await;
    assert_eq!(code, 400, "{text}");
}

/// `named_field` takes an unknown key up to the *last* "`, " of serde's
/// message: with three or more expected fields ("expected one of `a`,
/// `b`, `c`") it names far more than the key.
#[test]
fn an_unknown_key_is_named_as_written_when_serde_lists_many_fields() {
    use failsafe_core::retry::RetryConfig;
    use failsafe_driver::registry::parse_config;
    let e = parse_config::<RetryConfig>(&serde_json::json!({ "bogus": 1 })).unwrap_err();
    assert_eq!(e.field(), Some("bogus"), "{e}");
}
