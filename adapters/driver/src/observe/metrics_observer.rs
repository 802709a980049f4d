//! Every pattern's events as `metrics` counters, gauges and histograms.

use failsafe_core::Observer;
use failsafe_core::event::{Describe, Fields, SharedObserver};
use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

/// Every event: `failsafe_events_total{policy, pattern, kind}`.
pub(crate) const EVENTS: &str = "failsafe_events_total";
/// Calls rejected: `failsafe_calls_rejected_total{policy, pattern, reason}`.
pub(crate) const REJECTED: &str = "failsafe_calls_rejected_total";
/// A breaker's or fail fast's state: `failsafe_state{policy, pattern, state}`, 1 or 0.
pub(crate) const STATE: &str = "failsafe_state";
/// `failsafe_bulkhead_in_flight{policy}`.
pub(crate) const IN_FLIGHT: &str = "failsafe_bulkhead_in_flight";
/// `failsafe_bulkhead_limit{policy}`.
pub(crate) const LIMIT: &str = "failsafe_bulkhead_limit";
/// `failsafe_bulkhead_queued{policy}`.
pub(crate) const QUEUED: &str = "failsafe_bulkhead_queued";
/// `failsafe_rate_limiter_available{policy}`.
pub(crate) const AVAILABLE: &str = "failsafe_rate_limiter_available";
/// `failsafe_call_duration_seconds{policy, pattern, outcome}`.
pub(crate) const CALL_DURATION: &str = "failsafe_call_duration_seconds";
/// `failsafe_attempt_duration_seconds{policy, pattern, outcome}`.
pub(crate) const ATTEMPT_DURATION: &str = "failsafe_attempt_duration_seconds";
/// `failsafe_wait_duration_seconds{policy, pattern, kind}`.
pub(crate) const WAIT_DURATION: &str = "failsafe_wait_duration_seconds";

/// An observer that records every decision through the [`metrics`] facade
/// (whatever recorder the application installed: Prometheus, StatsD, an
/// OpenTelemetry bridge), under one naming scheme for every pattern,
/// documented with resilience4j's and Polly's names beside it in
/// `adapters/driver/METRICS.md`:
///
/// | name | type | labels | from |
/// |---|---|---|---|
/// | `failsafe_events_total` | counter | `policy`, `pattern`, `kind` | every event (a batch of lock-free rejections counts each call) |
/// | `failsafe_calls_rejected_total` | counter | `policy`, `pattern`, `reason` | every rejected call, lock-free ones included |
/// | `failsafe_state` | gauge (1 current, 0 left) | `policy`, `pattern`, `state` | breaker and fail fast transitions |
/// | `failsafe_bulkhead_in_flight` | gauge | `policy` | bulkhead acquired / released |
/// | `failsafe_bulkhead_limit` | gauge | `policy` | bulkhead acquired / limit changed |
/// | `failsafe_bulkhead_queued` | gauge | `policy` | bulkhead queued |
/// | `failsafe_rate_limiter_available` | gauge | `policy` | rate limiter decisions and returns (GCRA limiters) |
/// | `failsafe_call_duration_seconds` | histogram | `policy`, `pattern`, `outcome` | a retried call that ended (all attempts and waits) |
/// | `failsafe_attempt_duration_seconds` | histogram | `policy`, `pattern`, `outcome` | each retry attempt; a winning hedge |
/// | `failsafe_wait_duration_seconds` | histogram | `policy`, `pattern`, `kind` | a bulkhead queue wait (`acquired`), a retry's backoff (`retry_scheduled`) |
///
/// Label values are the `snake_case` codes of
/// [`Fields`](failsafe_core::event::Fields); every name and label value is
/// a `&'static str` (no formatting per event). [`new`](Self::new)
/// describes the metrics (units, help text) to the recorder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsObserver {
    policy: &'static str,
}

impl MetricsObserver {
    /// Records the events of the policy named `policy`; describes the
    /// metrics to the installed recorder.
    pub fn new(policy: &'static str) -> Self {
        describe();
        MetricsObserver { policy }
    }

    /// The policy's name.
    pub const fn policy(&self) -> &'static str {
        self.policy
    }

    fn record(&self, f: &Fields) {
        let policy = self.policy;
        let pattern = f.pattern;
        counter!(EVENTS, "policy" => policy, "pattern" => pattern, "kind" => f.kind)
            .increment(if f.is_rejection() { f.count } else { 1 });
        if f.is_rejection() {
            counter!(REJECTED, "policy" => policy, "pattern" => pattern, "reason" => f.reason.unwrap_or("unknown"))
                .increment(f.count);
        }
        if let (Some(from), Some(to)) = (f.from, f.to)
            && matches!(pattern, "circuit_breaker" | "fail_fast")
        {
            gauge!(STATE, "policy" => policy, "pattern" => pattern, "state" => from).set(0.0);
            gauge!(STATE, "policy" => policy, "pattern" => pattern, "state" => to).set(1.0);
        }
        if pattern == "bulkhead" {
            if let Some(n) = f.in_flight {
                gauge!(IN_FLIGHT, "policy" => policy).set(f64::from(n));
            }
            if let Some(n) = f.limit {
                gauge!(LIMIT, "policy" => policy).set(f64::from(n));
            }
            if let Some(n) = f.queued {
                gauge!(QUEUED, "policy" => policy).set(f64::from(n));
            }
        }
        if let Some(n) = f.available {
            gauge!(AVAILABLE, "policy" => policy).set(f64::from(n));
        }
        let outcome = match f.kind {
            "succeeded" | "won" => "success",
            _ => "failure",
        };
        if let Some(d) = f.elapsed {
            histogram!(CALL_DURATION, "policy" => policy, "pattern" => pattern, "outcome" => outcome)
                .record(d.as_secs_f64());
        }
        if let Some(d) = f.took {
            histogram!(ATTEMPT_DURATION, "policy" => policy, "pattern" => pattern, "outcome" => outcome)
                .record(d.as_secs_f64());
        }
        if let (Some(d), "acquired" | "retry_scheduled") = (f.delay, f.kind) {
            histogram!(WAIT_DURATION, "policy" => policy, "pattern" => pattern, "kind" => f.kind)
                .record(d.as_secs_f64());
        }
    }
}

/// Units and help text, told to the recorder.
fn describe() {
    describe_counter!(
        EVENTS,
        Unit::Count,
        "Decisions of a failsafe policy, by pattern and kind"
    );
    describe_counter!(
        REJECTED,
        Unit::Count,
        "Calls a failsafe policy rejected, by reason"
    );
    describe_gauge!(
        STATE,
        "1 for the state a breaker or fail fast is in, 0 for the ones it left"
    );
    describe_gauge!(IN_FLIGHT, Unit::Count, "Calls holding a bulkhead slot");
    describe_gauge!(LIMIT, Unit::Count, "A bulkhead's concurrency limit");
    describe_gauge!(QUEUED, Unit::Count, "Callers waiting for a bulkhead slot");
    describe_gauge!(
        AVAILABLE,
        Unit::Count,
        "Permits a rate limiter could grant now"
    );
    describe_histogram!(
        CALL_DURATION,
        Unit::Seconds,
        "Duration of a whole call, retries included"
    );
    describe_histogram!(ATTEMPT_DURATION, Unit::Seconds, "Duration of one attempt");
    describe_histogram!(
        WAIT_DURATION,
        Unit::Seconds,
        "Time waited: a bulkhead queue, a retry's backoff"
    );
}

impl<E: Describe> Observer<E> for MetricsObserver {
    #[inline]
    fn on_event(&mut self, event: E) {
        self.record(&event.describe())
    }
}

impl<E: Describe> SharedObserver<E> for MetricsObserver {
    #[inline]
    fn on_event(&self, event: E) {
        self.record(&event.describe())
    }
}
