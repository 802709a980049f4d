//! `TracingObserver`: every event kind of every pattern arrives as one
//! `tracing` event, target `failsafe`, with the documented field names and
//! values; a real handle's lock-free rejections arrive too.

mod observe_common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_driver::breaker::{BreakerConfig, NoWindow};
use failsafe_driver::observe::TracingObserver;
use failsafe_driver::{CircuitBreakerPolicy, Outcome};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One captured event: its level, target and fields as text.
#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    target: String,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

/// A subscriber that keeps every event.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().into(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The tests of this file, one at a time: `tracing` caches each event
/// site's interest across threads, and a test that runs with no
/// subscriber can cache "never" for sites another test's capture is
/// about to hit (a capture once lost every event of the kinds the
/// subscriber-less test had just sent).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let sub = Capture::default();
    tracing::subscriber::with_default(sub.clone(), || {
        // Interest worked out again with this capture in place.
        tracing::callsite::rebuild_interest_cache();
        f()
    });
    sub.0.lock().unwrap().clone()
}

#[test]
fn every_event_kind_of_every_pattern_arrives_with_the_documented_names() {
    let _serial = one_at_a_time();
    let events = capture(|| observe_common::send_all(&TracingObserver::new("payments")));
    let names: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.get("pattern").unwrap(), e.get("kind").unwrap()))
        .collect();
    assert_eq!(names, observe_common::DOCUMENTED);
    for e in &events {
        assert_eq!(e.target, "failsafe");
        assert_eq!(e.get("policy"), Some("payments"));
        assert!(e.get("message").is_some(), "{e:?}");
    }
    // Spot checks of the structured fields, by position in `send_all`.
    let opened = &events[0];
    assert_eq!(opened.level, Level::WARN);
    assert_eq!(
        (opened.get("from"), opened.get("to")),
        (Some("closed"), Some("open"))
    );
    let gated = &events[2];
    assert_eq!(gated.get("count"), Some("7"));
    assert_eq!(gated.get("reason"), Some("breaker_open"));
    assert_eq!(gated.get("delay_ms"), Some("4997.0"));
    assert_eq!(gated.level, Level::DEBUG);
    let failed = &events[21];
    assert_eq!(
        (
            failed.get("attempt"),
            failed.get("reason"),
            failed.get("took_ms")
        ),
        (Some("1"), Some("timeout"), Some("10.0"))
    );
    let scheduled = &events[22];
    assert_eq!(scheduled.get("delay_ms"), Some("100.0"));
    let gave_up = &events[23];
    assert_eq!(gave_up.level, Level::WARN);
    assert_eq!(
        (gave_up.get("reason"), gave_up.get("elapsed_ms")),
        (Some("attempts"), Some("300.0"))
    );
    let acquired = &events[11];
    assert_eq!(
        (acquired.get("in_flight"), acquired.get("limit")),
        (Some("2"), Some("10"))
    );
    let decided = &events[34];
    assert_eq!(
        (
            decided.get("flag"),
            decided.get("to"),
            decided.get("reason")
        ),
        (Some("new_checkout"), Some("enabled"), Some("in_rollout"))
    );
    // Absent fields are not recorded.
    assert_eq!(events[0].get("attempt"), None);
}

#[test]
fn a_handle_reports_its_lock_free_rejections_to_tracing() {
    let _serial = one_at_a_time();
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let events = capture(|| {
        let breaker: CircuitBreakerPolicy<NoWindow> =
            CircuitBreakerPolicy::new(config, NoWindow).observe(TracingObserver::new("db"));
        breaker.try_acquire().unwrap().finish(Outcome::Failure);
        for _ in 0..5 {
            assert!(breaker.try_acquire().is_err());
        }
        breaker.flush_events();
    });
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (e.get("kind").unwrap(), e.get("count").unwrap()))
        .collect();
    assert_eq!(kinds, [("state_changed", "1"), ("rejected", "5")]);
    assert!(events.iter().all(|e| e.get("policy") == Some("db")));
}

#[test]
fn no_subscriber_no_event_and_no_panic() {
    let _serial = one_at_a_time();
    observe_common::send_all(&TracingObserver::new("quiet"));
}
