//! Properties of the registry's reload over arbitrary documents, valid and
//! invalid values mixed, with calls in flight:
//!
//! - a rejected reload changes nothing: every configuration and every
//!   state is as before, and no event is reported;
//! - an accepted reload leaves each named policy with the document's
//!   configuration, leaves the others alone, reports one event per policy
//!   whose configuration changed, and keeps the calls in flight (the
//!   bulkhead's slots taken).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, CountWindow};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::rate::Quota;
use failsafe_driver::registry::Registry;
use failsafe_driver::{BulkheadPolicy, CircuitBreakerPolicy, Clock, RateLimiterPolicy};
use proptest::prelude::*;

#[derive(Clone, Debug, Default)]
struct Manual(Arc<AtomicU64>);

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// One table of a reload document: its TOML and whether it is valid.
#[derive(Clone, Debug)]
struct Table {
    name: &'static str,
    toml: String,
    valid: bool,
}

fn breaker_table() -> impl Strategy<Value = Table> {
    (0u32..4, 0u32..120, prop::option::of(0u64..5_000)).prop_map(|(failures, pct, wait)| {
        let mut toml = format!("consecutive_failures = {failures}\n");
        // 0 % and above 100 % are invalid ratios
        toml += &format!("failure_rate_threshold = {}\n", f64::from(pct) / 100.0);
        if let Some(ms) = wait {
            toml += &format!("open_wait = \"{ms}ms\"\n");
        }
        let valid = failures > 0 && pct > 0 && pct <= 100 && wait != Some(0);
        Table {
            name: "payments",
            toml,
            valid,
        }
    })
}

fn bulkhead_table() -> impl Strategy<Value = Table> {
    (0u32..6, 0u64..100).prop_map(|(max, wait)| Table {
        name: "db",
        toml: format!("max_concurrent = {max}\nmax_wait = \"{wait}ms\"\n"),
        valid: max > 0,
    })
}

fn quota_table() -> impl Strategy<Value = Table> {
    (0u32..50, 0u32..10).prop_map(|(rate, burst)| Table {
        name: "search",
        toml: format!("rate = {rate}\nburst = {burst}\n"),
        valid: rate > 0 && burst > 0,
    })
}

fn document() -> impl Strategy<Value = Vec<Table>> {
    (
        prop::option::of(breaker_table()),
        prop::option::of(bulkhead_table()),
        prop::option::of(quota_table()),
        any::<bool>(),
    )
        .prop_map(|(b, d, q, unknown)| {
            let mut tables: Vec<Table> = [b, d, q].into_iter().flatten().collect();
            if unknown {
                tables.push(Table {
                    name: "nobody",
                    toml: "rate = 1\n".into(),
                    valid: false,
                });
            }
            tables
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_reload_changes_everything_or_nothing(
        docs in prop::collection::vec(document(), 1..6),
        taken in 0usize..3,
    ) {
        let clock = Manual::default();
        let breaker: CircuitBreakerPolicy<CountWindow<8>, Manual> =
            CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, CountWindow::new(), clock.clone());
        let pool: BulkheadPolicy<4, FixedLimit, Manual> = BulkheadPolicy::with_runtime(
            BulkheadConfig::builder().max_concurrent(3).build().unwrap(),
            clock.clone(),
        );
        let quota = Quota::builder().per(10, std::time::Duration::from_secs(1)).burst(4).build().unwrap();
        let limiter = RateLimiterPolicy::with_runtime(quota, clock.clone());
        let registry = Registry::new(4);
        registry.register("payments", breaker.clone()).unwrap();
        registry.register("db", pool.clone()).unwrap();
        registry.register("search", limiter.clone()).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = events.clone();
        registry.on_change(move |e| log.lock().unwrap().push(e.name.clone()));
        // calls in flight across every reload
        let held: Vec<_> = (0..taken).map(|_| pool.try_acquire().unwrap()).collect();
        for _ in 0..taken {
            drop(limiter.try_acquire().unwrap());
        }

        for doc in docs {
            let text: String = doc
                .iter()
                .map(|t| format!("[{}]\n{}\n", t.name, t.toml))
                .collect();
            let before = registry.list();
            let events_before = events.lock().unwrap().len();
            let result = registry.reload_toml(&text);
            let valid = doc.iter().all(|t| t.valid);
            prop_assert_eq!(result.is_ok(), valid, "{}: {:?}", text, result);
            let after = registry.list();
            match result {
                Err(_) => {
                    prop_assert_eq!(&after, &before, "a rejected reload changed something");
                    prop_assert_eq!(events.lock().unwrap().len(), events_before);
                }
                Ok(changed) => {
                    for (b, a) in before.iter().zip(&after) {
                        let named = doc.iter().any(|t| t.name == a.name);
                        let moved = changed.contains(&a.name);
                        prop_assert_eq!(moved, named && a.config != b.config, "{}", a.name);
                        if !named {
                            prop_assert_eq!(&a.config, &b.config);
                        }
                    }
                    let reported: Vec<String> = events.lock().unwrap()[events_before..].to_vec();
                    prop_assert_eq!(reported, changed);
                }
            }
            // the calls in flight keep their slots
            prop_assert_eq!(pool.in_flight(), taken as u32);
        }
        drop(held);
        prop_assert_eq!(pool.in_flight(), 0);
    }
}
