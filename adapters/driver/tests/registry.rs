//! The registry of named policies in virtual time: listing, runtime changes
//! that keep state (each one an event), and reloads that change everything
//! or nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, CountWindow, State};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, Window};
use failsafe_core::{Instant, Outcome, RejectReason, checked};
use failsafe_driver::registry::{
    AttemptLimit, Change, ChangeError, FeatureFlags, Kind, Registry, RegistryError, RegistryEvent,
};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, FailFastPolicy, KeyedRateLimiterPolicy,
    RateLimiterPolicy,
};
use serde_json::json;

/// Virtual time shared by every policy and the test.
#[derive(Clone, Debug, Default)]
struct Manual(Arc<AtomicU64>);

impl Manual {
    fn set(&self, at: Instant) {
        self.0.store(at.as_nanos(), Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

type Breaker = CircuitBreakerPolicy<CountWindow<10>, Manual>;
type Pool = BulkheadPolicy<4, failsafe_core::bulkhead::FixedLimit, Manual>;

static WINDOWS: [Window; 1] = [checked(Window::new(
    Instant::from_secs(100),
    Instant::from_secs(200),
))];
/// A flag table of the test's own: tests run in parallel, and one that
/// reloads flags must not change another's (a shared `static` did).
fn flags() -> &'static FlagTable<2, 2> {
    Box::leak(Box::new(FlagTable::new(checked(ToggleConfig::new(
        7,
        [
            FlagSpec::new("new-checkout").rollout(0),
            FlagSpec::new("promo").windows(&WINDOWS),
        ],
    )))))
}

struct World {
    clock: Manual,
    registry: Registry,
    breaker: Breaker,
    failfast: FailFastPolicy<Manual>,
    pool: Pool,
    limiter: RateLimiterPolicy<Manual>,
    keyed: KeyedRateLimiterPolicy<u32, 8, Manual>,
    events: Arc<Mutex<Vec<RegistryEvent>>>,
}

fn world(flags: Option<&'static FlagTable<2, 2>>) -> World {
    let clock = Manual::default();
    let breaker = Breaker::with_runtime(
        BreakerConfig::builder()
            .consecutive_failures(2)
            .build()
            .unwrap(),
        CountWindow::new(),
        clock.clone(),
    );
    let failfast = FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, clock.clone());
    let pool = Pool::with_runtime(
        BulkheadConfig::builder().max_concurrent(3).build().unwrap(),
        clock.clone(),
    );
    let limiter = RateLimiterPolicy::with_runtime(
        Quota::builder()
            .per(10, Duration::from_secs(1))
            .burst(4)
            .build()
            .unwrap(),
        clock.clone(),
    );
    let keyed = KeyedRateLimiterPolicy::with_runtime(Quota::per_second(5).unwrap(), clock.clone());
    let registry = Registry::new(8);
    registry.register("payments", breaker.clone()).unwrap();
    registry.register("ledger", failfast.clone()).unwrap();
    registry.register("db", pool.clone()).unwrap();
    registry.register("search", limiter.clone()).unwrap();
    registry.register("per-user", keyed.clone()).unwrap();
    if let Some(table) = flags {
        registry
            .register("flags", FeatureFlags::new(clock.clone(), table))
            .unwrap();
    }
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    registry.on_change(move |e| log.lock().unwrap().push(e.clone()));
    World {
        clock,
        registry,
        breaker,
        failfast,
        pool,
        limiter,
        keyed,
        events,
    }
}

impl World {
    fn events(&self) -> Vec<(String, &'static str, Instant, bool)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| (e.name.clone(), e.change.action(), e.at, e.reload))
            .collect()
    }

    /// Every policy's configuration, to compare before and after.
    fn configs(&self) -> Vec<serde_json::Value> {
        self.registry.list().into_iter().map(|p| p.config).collect()
    }

    fn states(&self) -> Vec<serde_json::Value> {
        self.registry.list().into_iter().map(|p| p.state).collect()
    }
}

#[test]
fn lists_every_policy_with_its_kind_config_and_state() {
    let w = world(None);
    w.registry
        .register_pipeline("checkout", &["payments", "db"])
        .unwrap();
    let all = w.registry.list();
    let kinds: Vec<(&str, Kind)> = all.iter().map(|p| (p.name.as_str(), p.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("checkout", Kind::Pipeline),
            ("db", Kind::Bulkhead),
            ("ledger", Kind::FailFast),
            ("payments", Kind::CircuitBreaker),
            ("per-user", Kind::KeyedRateLimiter),
            ("search", Kind::RateLimiter),
        ]
    );
    let payments = w.registry.get("payments").unwrap();
    assert_eq!(payments.config["consecutive_failures"], 2);
    assert_eq!(payments.state["state"], "closed");
    let db = w.registry.get("db").unwrap();
    assert_eq!(db.config, json!({"max_concurrent": 3, "max_wait": "0s"}));
    assert_eq!(db.state["limit"], 3);
    assert_eq!(w.registry.get("search").unwrap().state["available"], 4);
    assert_eq!(w.registry.get("per-user").unwrap().state["capacity"], 8);
    let checkout = w.registry.get("checkout").unwrap();
    assert_eq!(checkout.config, json!({"stages": ["payments", "db"]}));
    assert_eq!(checkout.state["payments"]["kind"], "circuit_breaker");
    // the whole listing is JSON
    let text = serde_json::to_string(&all).unwrap();
    assert!(text.contains(r#""kind":"keyed_rate_limiter""#));
}

#[test]
fn a_forced_breaker_stays_forced_and_each_change_is_an_event() {
    let w = world(None);
    w.clock.set(Instant::from_secs(1));
    w.registry.apply("payments", Change::ForceOpen).unwrap();
    assert_eq!(
        w.breaker.try_acquire().unwrap_err().reason,
        RejectReason::BreakerForcedOpen
    );
    // forced closed: failures are counted and never trip it
    w.clock.set(Instant::from_secs(2));
    let view = w.registry.apply("payments", Change::ForceClosed).unwrap();
    assert_eq!(view.state["state"], "metrics-only");
    for _ in 0..5 {
        w.breaker.try_acquire().unwrap().finish(Outcome::Failure);
    }
    assert_eq!(w.breaker.state(), State::MetricsOnly);
    assert_eq!(w.breaker.metrics().consecutive_failures, 5);
    // reset: closed, counts zeroed; two failures in a row trip it again
    w.clock.set(Instant::from_secs(3));
    w.registry.apply("payments", Change::Reset).unwrap();
    assert_eq!(w.breaker.state(), State::Closed);
    assert_eq!(w.breaker.metrics().consecutive_failures, 0);
    for _ in 0..2 {
        w.breaker.try_acquire().unwrap().finish(Outcome::Failure);
    }
    assert_eq!(w.breaker.state(), State::Open);
    // the breaker refuses what it does not take, and nothing is reported
    let e = w
        .registry
        .apply("payments", Change::SetLimit { limit: 3 })
        .unwrap_err();
    assert!(matches!(
        e,
        RegistryError::Change { ref name, kind: Kind::CircuitBreaker, error: ChangeError::Unsupported { .. } } if name == "payments"
    ));
    assert_eq!(
        w.events(),
        [
            (
                "payments".into(),
                "force_open",
                Instant::from_secs(1),
                false
            ),
            (
                "payments".into(),
                "force_closed",
                Instant::from_secs(2),
                false
            ),
            ("payments".into(), "reset", Instant::from_secs(3), false),
        ]
    );
}

#[test]
fn fail_fast_opens_and_closes_by_hand() {
    let w = world(None);
    w.registry.apply("ledger", Change::Open).unwrap();
    assert_eq!(
        w.failfast.try_acquire().unwrap_err().reason,
        RejectReason::FailFastOpen
    );
    w.registry.apply("ledger", Change::Close).unwrap();
    assert!(w.failfast.try_acquire().is_ok());
    assert!(w.registry.apply("ledger", Change::ForceClosed).is_err());
}

#[test]
fn a_bulkhead_limit_change_keeps_the_calls_in_flight() {
    let w = world(None);
    let held: Vec<_> = (0..3).map(|_| w.pool.try_acquire().unwrap()).collect();
    // lowered below the calls in flight: they keep their slots
    w.registry
        .apply("db", Change::SetLimit { limit: 1 })
        .unwrap();
    assert_eq!((w.pool.limit(), w.pool.in_flight()), (1, 3));
    assert_eq!(w.registry.get("db").unwrap().config["max_concurrent"], 1);
    assert!(w.pool.try_acquire().is_err());
    drop(held); // each slot comes back once
    assert_eq!(w.pool.in_flight(), 0);
    let one = w.pool.try_acquire().unwrap();
    assert!(w.pool.try_acquire().is_err());
    // raised: free slots at once
    w.registry
        .apply("db", Change::SetLimit { limit: 5 })
        .unwrap();
    let more: Vec<_> = (0..4).map(|_| w.pool.try_acquire().unwrap()).collect();
    assert!(w.pool.try_acquire().is_err());
    drop((one, more));
    // an invalid limit names the field and changes nothing
    let e = w
        .registry
        .apply("db", Change::SetLimit { limit: 0 })
        .unwrap_err();
    assert_eq!(e.field(), Some("limit"));
    assert_eq!(w.pool.limit(), 5);
    assert_eq!(w.pool.metrics().in_flight, 0);
}

#[test]
fn a_quota_change_keeps_the_permits_taken() {
    let w = world(None);
    for _ in 0..4 {
        drop(w.limiter.try_acquire().unwrap());
    }
    assert!(w.limiter.try_acquire().is_err());
    let quota = Quota::builder()
        .per(10, Duration::from_secs(1))
        .burst(6)
        .build()
        .unwrap();
    w.registry
        .apply("search", Change::SetQuota { quota })
        .unwrap();
    assert_eq!(w.limiter.quota(), quota);
    // the four taken stay taken: two more of the burst of six
    assert_eq!(w.limiter.available(), 2);
    w.registry
        .apply("per-user", Change::SetQuota { quota })
        .unwrap();
    assert_eq!(w.keyed.available(&1), 6);
}

#[test]
fn flags_flip_retarget_and_name_what_is_wrong() {
    static TABLE: FlagTable<2, 2> = FlagTable::new(checked(ToggleConfig::new(
        7,
        [
            FlagSpec::new("new-checkout").rollout(0),
            FlagSpec::new("promo").windows(&WINDOWS),
        ],
    )));
    let w = world(Some(&TABLE));
    let flag = TABLE.flag("new-checkout").unwrap();
    let apply = |change| w.registry.apply("flags", change);
    apply(Change::SetRollout {
        flag: "new-checkout".into(),
        rollout: 2_500,
    })
    .unwrap();
    apply(Change::Allow {
        flag: "new-checkout".into(),
        key: "vip".into(),
    })
    .unwrap();
    assert!(TABLE.decide(Instant::ZERO, flag, "vip").is_enabled());
    apply(Change::SetEnabled {
        flag: "new-checkout".into(),
        enabled: false,
    })
    .unwrap();
    assert!(!TABLE.decide(Instant::ZERO, flag, "vip").is_enabled());
    let state = w.registry.get("flags").unwrap().state;
    assert_eq!(
        state["flags"][0],
        json!({"name": "new-checkout", "enabled": false, "rollout": 2500, "allowed": 1, "denied": 0})
    );
    let e = apply(Change::SetRollout {
        flag: "new-checkout".into(),
        rollout: 10_001,
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("rollout"));
    let e = apply(Change::SetEnabled {
        flag: "nope".into(),
        enabled: true,
    })
    .unwrap_err();
    assert_eq!(e.field(), Some("flag"));
    assert_eq!(TABLE.state(flag).unwrap().basis_points, 2_500);
}

#[test]
fn a_reload_changes_every_policy_it_names_keeping_their_state() {
    let table = flags();
    let w = world(Some(table));
    let permit = w.pool.try_acquire().unwrap();
    w.registry.apply("payments", Change::ForceOpen).unwrap();
    w.clock.set(Instant::from_secs(9));
    let changed = w
        .registry
        .reload_toml(
            r#"
            [payments]
            consecutive_failures = 3
            open_wait = "10s"

            [db]
            max_concurrent = 2
            max_wait = "50ms"

            [search]
            rate = 20
            burst = 8

            [per-user]
            quota = { rate = 1, burst = 2 }

            [ledger]                  # as in force: left alone

            [flags]
            seed = 7
            flags = [
                { name = "new-checkout", rollout = 5000 },
                { name = "promo", enabled = false, windows = [{ start = "100s", end = "200s" }] },
            ]
            "#,
        )
        .unwrap();
    assert_eq!(changed, ["db", "flags", "payments", "per-user", "search"]);
    // state kept: the breaker is still forced open, the call still holds its slot
    assert_eq!(w.breaker.state(), State::ForcedOpen);
    assert_eq!(w.pool.in_flight(), 1);
    assert_eq!(
        w.pool.config(),
        BulkheadConfig::builder()
            .max_concurrent(2)
            .max_wait(Duration::from_millis(50))
            .build()
            .unwrap()
    );
    assert_eq!(w.limiter.quota().burst(), 8);
    assert_eq!(w.keyed.available(&1), 2);
    let checkout = table.state(table.flag("new-checkout").unwrap()).unwrap();
    assert_eq!((checkout.enabled, checkout.basis_points), (true, 5_000));
    assert!(!table.state(table.flag("promo").unwrap()).unwrap().enabled);
    let payments = w.registry.get("payments").unwrap().config;
    assert_eq!(
        (&payments["consecutive_failures"], &payments["open_wait"]),
        (&json!(3), &json!("10s"))
    );
    let reloads: Vec<_> = w.events().into_iter().filter(|e| e.3).collect();
    assert_eq!(reloads.len(), 5);
    assert!(
        reloads
            .iter()
            .all(|e| e.1 == "configure" && e.2 == Instant::from_secs(9))
    );
    drop(permit);
    // the same document again changes nothing and reports nothing
    let events = w.events().len();
    let again = w
        .registry
        .reload_toml("[search]\nrate = 20\nburst = 8\n")
        .unwrap();
    assert!(again.is_empty());
    assert_eq!(w.events().len(), events);
}

#[test]
fn one_invalid_value_rejects_the_whole_reload_and_changes_nothing() {
    let table = flags();
    let w = world(Some(table));
    let configs = w.configs();
    let states = w.states();
    let flags = table.state(table.flag("new-checkout").unwrap());
    let reject = |doc: &str| {
        let e = w.registry.reload_toml(doc).unwrap_err();
        assert_eq!(
            w.configs(),
            configs,
            "a rejected reload changed a configuration"
        );
        assert_eq!(w.states(), states, "a rejected reload changed a state");
        assert_eq!(table.state(table.flag("new-checkout").unwrap()), flags);
        e
    };
    // valid tables before and after the bad one: none of them applied
    let e = reject(
        "[db]\nmax_concurrent = 9\n[payments]\nfailure_rate_threshold = 1.5\n[search]\nrate = 99\n",
    );
    assert_eq!(e.field(), Some("failure_rate_threshold"));
    assert!(e.to_string().contains("`payments`"), "{e}");
    assert!(e.to_string().contains("must be a ratio in (0, 1]"), "{e}");
    let e = reject("[db]\nmax_concurrent = 0\n");
    assert_eq!(e.field(), Some("max_concurrent"));
    let e = reject("[db]\nmax_concurent = 4\n");
    assert_eq!(e.field(), Some("max_concurent"), "a typo is named: {e}");
    // a value where a table belongs says what the table holds, not a type
    // of the library's own
    let e = reject("db = 5\n");
    assert!(e.to_string().contains("`db`"), "{e}");
    assert!(
        e.to_string().contains("a table of bulkhead settings"),
        "{e}"
    );
    assert!(!e.to_string().contains("File"), "{e}");
    let e = reject("[search]\nrate = 10\nburst = 0\n");
    assert_eq!(e.field(), Some("burst"));
    let e = reject("[per-user]\nquota = { rate = 1, burst = 0 }\n");
    assert_eq!(e.field(), Some("quota.burst"));
    let e = reject("[per-user]\nquota = { rate = 1 }\nseed = 12345\n");
    assert_eq!(e.field(), Some("seed"));
    let e = reject("[db]\nmax_concurrent = 9\n[nobody]\nrate = 1\n");
    assert_eq!(e, RegistryError::NotFound("nobody".into()));
    let e = reject("[ledger]\nconsecutive_failures = 9\n");
    assert!(matches!(
        e,
        RegistryError::Change {
            kind: Kind::FailFast,
            ..
        }
    ));
    let e = reject(
        "[flags]\nseed = 7\nflags = [{ name = \"new-checkout\", rollout = 20000 }, { name = \"promo\" }]\n",
    );
    assert_eq!(e.field(), Some("flags[0].rollout"));
    let e =
        reject("[flags]\nseed = 7\nflags = [{ name = \"new-checkout\" }, { name = \"promo\" }]\n");
    assert_eq!(
        e.field(),
        Some("flags[1].windows"),
        "a schedule is fixed: {e}"
    );
    let e = reject("[flags]\nseed = 8\nflags = []\n");
    assert_eq!(e.field(), Some("seed"));
    let e = reject("[db\nmax_concurrent = 9\n");
    assert!(matches!(e, RegistryError::Malformed(_)));
    assert!(e.to_string().contains("line 1"), "{e}");
    assert!(w.events().is_empty());
}

#[test]
fn names_are_bounded_unique_and_path_safe() {
    let registry = Registry::new(2);
    let clock = Manual::default();
    let pool = || Pool::with_runtime(BulkheadConfig::DEFAULT, clock.clone());
    assert!(matches!(
        registry.register("a b", pool()),
        Err(RegistryError::InvalidName(_))
    ));
    assert!(matches!(
        registry.register("", pool()),
        Err(RegistryError::InvalidName(_))
    ));
    registry.register("a", pool()).unwrap();
    assert_eq!(
        registry.register("a", pool()),
        Err(RegistryError::Duplicate("a".into()))
    );
    registry.register("b", pool()).unwrap();
    assert_eq!(
        registry.register("c", pool()),
        Err(RegistryError::Full { capacity: 2 })
    );
    assert_eq!(
        registry.register_pipeline("p", &["a", "zz"]),
        Err(RegistryError::NotFound("zz".into()))
    );
    assert!(registry.unregister("a"));
    registry.register("c", pool()).unwrap();
    assert_eq!(registry.names(), ["b", "c"]);
}

#[test]
fn changes_read_from_json_name_the_bad_key() {
    let field = |v: serde_json::Value| Change::from_json(v).unwrap_err().field().map(String::from);
    assert_eq!(
        Change::from_json(json!({"action": "set_quota", "quota": {"rate": 5, "burst": 2}}))
            .unwrap(),
        Change::SetQuota {
            quota: Quota::builder()
                .per(5, Duration::from_secs(1))
                .burst(2)
                .build()
                .unwrap()
        }
    );
    assert_eq!(
        field(json!({"action": "set_quota", "quota": {"rate": 5, "burst": 0}})).as_deref(),
        Some("quota.burst")
    );
    assert_eq!(
        field(json!({"action": "set_rollout", "flag": "a", "rollout": 70000})).as_deref(),
        Some("rollout")
    );
    assert_eq!(
        field(json!({"action": "set_limit", "limits": 3})).as_deref(),
        Some("limits")
    );
    assert_eq!(
        field(json!({"action": "force_open", "now": true})).as_deref(),
        Some("now")
    );
    assert_eq!(
        field(json!({"action": "explode"})).as_deref(),
        Some("action")
    );
    assert_eq!(field(json!({"limit": 3})).as_deref(), Some("action"));
}

#[test]
fn chaos_is_switched_off_and_on() {
    use failsafe_core::chaos::{Chaos, ChaosConfig, Rate, Schedule};
    use failsafe_driver::registry::ChaosSwitch;

    let config = ChaosConfig::builder()
        .error(Rate::percent(100), Schedule::Always)
        .build()
        .unwrap();
    let chaos = Arc::new(Chaos::new(config));
    let clock = Manual::default();
    let registry = Registry::new(1);
    registry
        .register("chaos", ChaosSwitch::new(clock.clone(), chaos.clone()))
        .unwrap();
    let view = registry.get("chaos").unwrap();
    assert_eq!(view.kind, Kind::Chaos);
    assert_eq!(view.state, json!({"enabled": true}));
    clock.set(Instant::from_secs(4));
    registry.apply("chaos", Change::Disable).unwrap();
    assert!(!chaos.is_enabled());
    registry.apply("chaos", Change::Enable).unwrap();
    assert!(chaos.is_enabled());
    // its configuration is fixed: the one in force is accepted, another refused
    let same = view.config.clone();
    assert!(
        registry
            .reload(json!({ "chaos": same }))
            .unwrap()
            .is_empty()
    );
    let e = registry
        .reload_toml("[chaos]\nerror = { rate = 0.5 }\n")
        .unwrap_err();
    assert!(
        matches!(
            e,
            RegistryError::Change {
                kind: Kind::Chaos,
                error: ChangeError::Unsupported { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(chaos.is_enabled());
}

/// A clock whose blocking sleep jumps it: a retry's backoff in virtual time.
#[derive(Clone, Debug, Default)]
struct Jumping(Manual);

impl Clock for Jumping {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl failsafe_driver::BlockingRuntime for Jumping {
    fn block_until(&self, at: Instant) {
        if at > self.0.now() {
            self.0.set(at);
        }
    }
}

fn retry_world() -> (
    Registry,
    failsafe_driver::RetryPolicy<failsafe_core::retry::NoBudget, Jumping>,
) {
    let config = failsafe_core::retry::RetryConfig::builder()
        .max_attempts(3)
        .build()
        .unwrap();
    let policy = failsafe_driver::RetryPolicy::with_runtime(config, Jumping::default()).seed(1);
    let registry = Registry::new(4);
    registry.register("orders", policy.clone()).unwrap();
    (registry, policy)
}

#[test]
fn a_retry_limit_change_keeps_the_call_in_flight_and_applies_to_the_next() {
    let (registry, policy) = retry_world();
    let view = registry.get("orders").unwrap();
    assert_eq!(view.kind, Kind::Retry);
    assert_eq!(view.config["max_attempts"], 3);
    assert_eq!(view.state["changed"], false);
    // lowered during a call: that call keeps its limit of 3
    let mut seen = 0;
    let e = policy
        .call_blocking(|attempt| {
            seen = attempt.number;
            if attempt.number == 1 {
                registry
                    .apply(
                        "orders",
                        Change::SetMaxAttempts {
                            max_attempts: AttemptLimit::Limit(1),
                        },
                    )
                    .unwrap();
            }
            Err::<(), _>("down")
        })
        .unwrap_err();
    assert_eq!((e.attempts, seen), (3, 3));
    // the next call, and every clone, has the new limit
    let e = policy
        .clone()
        .call_blocking(|_| Err::<(), _>("down"))
        .unwrap_err();
    assert_eq!(e.attempts, 1);
    let view = registry.get("orders").unwrap();
    assert_eq!(
        (
            view.config["max_attempts"].clone(),
            view.state["changed"].clone()
        ),
        (json!(1), json!(true))
    );
    // raised above the config's
    let change =
        Change::from_json(json!({"action": "set_max_attempts", "max_attempts": 5})).unwrap();
    registry.apply("orders", change).unwrap();
    let e = policy.call_blocking(|_| Err::<(), _>("down")).unwrap_err();
    assert_eq!(e.attempts, 5);
    // zero names the field and changes nothing; null goes back to the config's
    let e = registry
        .apply(
            "orders",
            Change::SetMaxAttempts {
                max_attempts: AttemptLimit::Limit(0),
            },
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("max_attempts"));
    assert_eq!(policy.max_attempts(), Some(5));
    let back =
        Change::from_json(json!({"action": "set_max_attempts", "max_attempts": null})).unwrap();
    registry.apply("orders", back.clone()).unwrap();
    assert_eq!(policy.max_attempts(), Some(3));
    // null again, the config's already in force: no change is reported
    let heard = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = std::sync::Arc::clone(&heard);
    registry.on_change(move |_| {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    });
    registry.apply("orders", back.clone()).unwrap();
    assert_eq!(heard.load(std::sync::atomic::Ordering::SeqCst), 0);
    // "unlimited", as a config writes it: no limit, and the views say it
    // in the same words, so a view sent back as a change is accepted
    let unlimited =
        Change::from_json(json!({"action": "set_max_attempts", "max_attempts": "unlimited"}))
            .unwrap();
    registry.apply("orders", unlimited).unwrap();
    assert_eq!(policy.max_attempts(), None);
    let view = registry.get("orders").unwrap();
    assert_eq!(view.state["max_attempts"], "unlimited");
    assert_eq!(view.config["max_attempts"], "unlimited");
    let configure =
        Change::from_json(json!({"action": "configure", "config": view.config})).unwrap();
    registry.apply("orders", configure).unwrap();
    assert_eq!(policy.max_attempts(), None);
    let e = policy.call_blocking(|attempt| {
        if attempt.number < 7 {
            Err("down")
        } else {
            Ok(attempt.number)
        }
    });
    assert_eq!(e, Ok(7));
    registry.apply("orders", back).unwrap();
    assert_eq!(policy.max_attempts(), Some(3));
    assert!(
        Change::from_json(json!({"action": "set_max_attempts", "max_attempts": "many"})).is_err()
    );
    // left out: the config's, as null says
    assert_eq!(
        Change::from_json(json!({"action": "set_max_attempts"})).unwrap(),
        Change::SetMaxAttempts {
            max_attempts: AttemptLimit::Configured
        }
    );
    // the other patterns' actions are refused
    assert!(registry.apply("orders", Change::Reset).is_err());
}

#[test]
fn a_retry_table_reloads_its_limit_and_refuses_any_other_field() {
    let (registry, policy) = retry_world();
    let changed = registry
        .reload_toml("[orders]\nmax_attempts = 4\n")
        .unwrap();
    assert_eq!(changed, vec!["orders".to_string()]);
    assert_eq!(policy.max_attempts(), Some(4));
    let e = policy.call_blocking(|_| Err::<(), _>("down")).unwrap_err();
    assert_eq!(e.attempts, 4);
    // a backoff cannot change at run time: the whole reload is refused,
    // naming the field, and nothing changes
    let e = registry
        .reload_toml(
            "[orders]\nmax_attempts = 2\nbackoff = { kind = \"constant\", delay = \"1s\" }\n",
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("backoff"));
    assert!(e.to_string().contains("cannot change at run time"), "{e}");
    assert_eq!(policy.max_attempts(), Some(4));
    // back to the config's limit: a change; the same again: none
    assert_eq!(
        registry
            .reload_toml("[orders]\nmax_attempts = 3\n")
            .unwrap(),
        vec!["orders".to_string()]
    );
    assert!(
        registry
            .reload_toml("[orders]\nmax_attempts = 3\n")
            .unwrap()
            .is_empty()
    );
    assert_eq!(registry.get("orders").unwrap().state["changed"], false);
    // "unlimited" is a limit too: applied (it was taken for "the config's"
    // and changed nothing while reporting a change), then back again
    assert_eq!(
        registry
            .reload_toml("[orders]\nmax_attempts = \"unlimited\"\n")
            .unwrap(),
        vec!["orders".to_string()]
    );
    assert_eq!(policy.max_attempts(), None);
    assert_eq!(registry.get("orders").unwrap().state["changed"], true);
    assert!(
        registry
            .reload_toml("[orders]\nmax_attempts = \"unlimited\"\n")
            .unwrap()
            .is_empty(),
        "the same again: no change"
    );
    registry
        .reload_toml("[orders]\nmax_attempts = 3\n")
        .unwrap();
    assert_eq!(policy.max_attempts(), Some(3));
}

/// A retry built with a backoff of its own: a table naming only the limit
/// leaves the backoff out, which then takes its default; the refusal says
/// so (the operator never wrote `backoff`), and the same table repeating
/// the backoff it was built with is accepted.
#[test]
fn a_retry_table_that_leaves_out_its_backoff_is_told_to_repeat_it() {
    let config = failsafe_core::retry::RetryConfig::builder()
        .max_attempts(3)
        .backoff(failsafe_core::retry::BackoffKind::Constant(
            std::time::Duration::from_secs(1),
        ))
        .build()
        .unwrap();
    let policy = failsafe_driver::RetryPolicy::with_runtime(config, Jumping::default());
    let registry = Registry::new(4);
    registry.register("orders", policy.clone()).unwrap();
    let e = registry
        .reload_toml("[orders]\nmax_attempts = 5\n")
        .unwrap_err();
    assert_eq!(e.field(), Some("backoff"));
    assert!(e.to_string().contains("left out"), "{e}");
    assert_eq!(policy.max_attempts(), Some(3), "nothing changed");
    let repeated =
        "[orders]\nmax_attempts = 5\nbackoff = { kind = \"constant\", delay = \"1s\" }\n";
    assert_eq!(registry.reload_toml(repeated).unwrap(), ["orders"]);
    assert_eq!(policy.max_attempts(), Some(5));
}
