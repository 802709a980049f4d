//! `MetricsObserver` with `metrics-util`'s debugging recorder: every event
//! kind of every pattern arrives under the documented names and labels,
//! gauges and histograms included, and a real handle's lock-free
//! rejections are counted as the handle counts them.

mod observe_common;

use std::collections::BTreeMap;
use std::time::Duration;

use failsafe_driver::breaker::{BreakerConfig, NoWindow};
use failsafe_driver::observe::MetricsObserver;
use failsafe_driver::{CircuitBreakerPolicy, Outcome};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A snapshot as `"name{k=v,...}" -> value` (labels sorted), histograms as
/// their samples.
fn snapshot(f: impl FnOnce()) -> BTreeMap<String, (MetricKind, Vec<f64>)> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let name = format!("{}{{{}}}", key.name(), labels.join(","));
            let values = match value {
                DebugValue::Counter(n) => vec![n as f64],
                DebugValue::Gauge(g) => vec![g.into_inner()],
                DebugValue::Histogram(h) => h.into_iter().map(|v| v.into_inner()).collect(),
            };
            (name, (kind, values))
        })
        .collect()
}

fn value(m: &BTreeMap<String, (MetricKind, Vec<f64>)>, key: &str) -> Vec<f64> {
    m.get(key)
        .unwrap_or_else(|| panic!("no {key} in {:#?}", m.keys().collect::<Vec<_>>()))
        .1
        .clone()
}

#[test]
fn every_event_kind_of_every_pattern_arrives_with_the_documented_names() {
    let m = snapshot(|| observe_common::send_all(&MetricsObserver::new("payments")));
    // Every (pattern, kind) has its events counter.
    for (pattern, kind) in observe_common::DOCUMENTED {
        let key = format!("failsafe_events_total{{kind={kind},pattern={pattern},policy=payments}}");
        assert!(m.contains_key(&key), "missing {key}");
        assert_eq!(m[&key].0, MetricKind::Counter);
    }
    // A batch of 7 lock-free rejections and one more: 8 calls.
    assert_eq!(
        value(
            &m,
            "failsafe_events_total{kind=rejected,pattern=circuit_breaker,policy=payments}"
        ),
        [8.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_calls_rejected_total{pattern=circuit_breaker,policy=payments,reason=breaker_open}"
        ),
        [8.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_calls_rejected_total{pattern=fail_fast,policy=payments,reason=fail_fast_open}"
        ),
        [4.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_calls_rejected_total{pattern=bulkhead,policy=payments,reason=bulkhead_full}"
        ),
        [1.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_calls_rejected_total{pattern=rate_limiter,policy=payments,reason=rate_limited}"
        ),
        [1.0]
    );
    // Gauges: the breaker went closed -> open; fail fast closed -> open -> closed.
    assert_eq!(
        value(
            &m,
            "failsafe_state{pattern=circuit_breaker,policy=payments,state=open}"
        ),
        [1.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_state{pattern=circuit_breaker,policy=payments,state=closed}"
        ),
        [0.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_state{pattern=fail_fast,policy=payments,state=closed}"
        ),
        [1.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_state{pattern=fail_fast,policy=payments,state=open}"
        ),
        [0.0]
    );
    assert_eq!(
        value(&m, "failsafe_bulkhead_in_flight{policy=payments}"),
        [1.0]
    );
    assert_eq!(
        value(&m, "failsafe_bulkhead_limit{policy=payments}"),
        [12.0]
    );
    assert_eq!(
        value(&m, "failsafe_bulkhead_queued{policy=payments}"),
        [1.0]
    );
    // The last rate event's (a return, leaving 1).
    assert_eq!(
        value(&m, "failsafe_rate_limiter_available{policy=payments}"),
        [1.0]
    );
    // Histograms, in seconds.
    assert_eq!(
        value(
            &m,
            "failsafe_call_duration_seconds{outcome=failure,pattern=retry,policy=payments}"
        ),
        [0.3]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_call_duration_seconds{outcome=success,pattern=retry,policy=payments}"
        ),
        [0.12]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_attempt_duration_seconds{outcome=failure,pattern=retry,policy=payments}"
        ),
        [0.01]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_attempt_duration_seconds{outcome=success,pattern=retry,policy=payments}"
        ),
        [0.01]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_attempt_duration_seconds{outcome=success,pattern=hedge,policy=payments}"
        ),
        [0.004]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_wait_duration_seconds{kind=acquired,pattern=bulkhead,policy=payments}"
        ),
        [0.003]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_wait_duration_seconds{kind=retry_scheduled,pattern=retry,policy=payments}"
        ),
        [0.1]
    );
    // Only the documented names.
    let names: std::collections::BTreeSet<&str> =
        m.keys().map(|k| k.split('{').next().unwrap()).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "failsafe_attempt_duration_seconds",
            "failsafe_bulkhead_in_flight",
            "failsafe_bulkhead_limit",
            "failsafe_bulkhead_queued",
            "failsafe_call_duration_seconds",
            "failsafe_calls_rejected_total",
            "failsafe_events_total",
            "failsafe_rate_limiter_available",
            "failsafe_state",
            "failsafe_wait_duration_seconds",
        ]
    );
}

#[test]
fn a_handle_s_lock_free_rejections_are_counted_as_the_handle_counts_them() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut rejected = 0;
    let m = snapshot(|| {
        let breaker: CircuitBreakerPolicy<NoWindow> =
            CircuitBreakerPolicy::new(config, NoWindow).observe(MetricsObserver::new("db"));
        breaker.try_acquire().unwrap().finish(Outcome::Failure);
        for _ in 0..250 {
            assert!(breaker.try_acquire().is_err());
        }
        rejected = breaker.metrics().rejected;
    });
    assert_eq!(rejected, 250);
    assert_eq!(
        value(
            &m,
            "failsafe_calls_rejected_total{pattern=circuit_breaker,policy=db,reason=breaker_open}"
        ),
        [250.0]
    );
    assert_eq!(
        value(
            &m,
            "failsafe_state{pattern=circuit_breaker,policy=db,state=open}"
        ),
        [1.0]
    );
}
