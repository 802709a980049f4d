//! Every pattern's events as `tracing` events.

use failsafe_core::Observer;
use failsafe_core::event::{Describe, Fields, SharedObserver};
use tracing::Level;
use tracing::level_filters::LevelFilter;

/// An observer that turns every decision into one `tracing` event, target
/// `failsafe`, with structured fields (absent ones are not recorded):
///
/// | field | type | what |
/// |---|---|---|
/// | `policy` | str | the name given to [`new`](Self::new) |
/// | `pattern` | str | `circuit_breaker`, `fail_fast`, `bulkhead`, `rate_limiter`, `retry`, `timeout`, `fallback`, `hedge`, `feature_toggle`, `cache`, `chaos` |
/// | `kind` | str | what happened (the table in [`Describe`]) |
/// | `reason` | str | why (a rejection's reason, a give-up, an opening's cause) |
/// | `attempt` | u64 | the attempt's number (1 = first), attempts made |
/// | `delay_ms` | f64 | until a retry or the rejected call's `retry_at`; a queue wait; latency injected |
/// | `took_ms` | f64 | one attempt's duration |
/// | `elapsed_ms` | f64 | a whole call's duration (retry) |
/// | `from`, `to` | str | states of a transition |
/// | `count` | u64 | calls the event stands for (lock-free rejections come in batches) |
/// | `outcome` | str | a call's outcome |
/// | `in_flight`, `limit`, `queued`, `available` | u64 | a bulkhead's or limiter's gauges |
/// | `flag` | str | a feature toggle's flag |
///
/// Levels: `WARN` when a breaker or fail fast opens, probes expire, a
/// retry gives up or a timeout expires; `INFO` for other state changes,
/// due probes, fallbacks, a success after retries, limit and toggle
/// changes, a hedge's budget running out; `DEBUG` for the rest (calls
/// admitted, rejected, released, each attempt, cache hits and misses,
/// toggle decisions, chaos injections). With no subscriber, or the
/// `failsafe` target's levels off, an event costs one relaxed load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracingObserver {
    policy: &'static str,
}

impl TracingObserver {
    /// Events of the policy named `policy`.
    pub const fn new(policy: &'static str) -> Self {
        TracingObserver { policy }
    }

    /// The policy's name.
    pub const fn policy(&self) -> &'static str {
        self.policy
    }

    #[inline]
    fn emit<E: Describe>(&self, event: &E) {
        if LevelFilter::current() == LevelFilter::OFF {
            return;
        }
        emit(self.policy, &event.describe());
    }
}

/// The level of an event (see [`TracingObserver`]).
fn level(f: &Fields) -> Level {
    match (f.pattern, f.kind) {
        (_, "opened" | "probes_expired" | "gave_up") | ("timeout", "expired") => Level::WARN,
        (_, "state_changed") if matches!(f.to, Some("open" | "forced_open")) => Level::WARN,
        (
            _,
            "state_changed" | "closed" | "probe_due" | "fell_back" | "limit_changed"
            | "budget_exhausted" | "switched" | "rollout_changed" | "list_changed" | "scheduled",
        ) => Level::INFO,
        ("retry", "succeeded") if f.attempt.is_some_and(|a| a > 1) => Level::INFO,
        _ => Level::DEBUG,
    }
}

fn ms(d: Option<core::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

fn emit(policy: &'static str, f: &Fields) {
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(
                target: "failsafe",
                $level,
                policy,
                pattern = f.pattern,
                kind = f.kind,
                reason = f.reason,
                attempt = f.attempt,
                delay_ms = ms(f.delay),
                took_ms = ms(f.took),
                elapsed_ms = ms(f.elapsed),
                from = f.from,
                to = f.to,
                count = f.count,
                outcome = f.outcome,
                in_flight = f.in_flight,
                limit = f.limit,
                queued = f.queued,
                available = f.available,
                flag = f.flag,
                "{} {} {}",
                policy,
                f.pattern,
                f.kind
            )
        };
    }
    match level(f) {
        Level::WARN => event!(Level::WARN),
        Level::INFO => event!(Level::INFO),
        _ => event!(Level::DEBUG),
    }
}

impl<E: Describe> Observer<E> for TracingObserver {
    #[inline]
    fn on_event(&mut self, event: E) {
        self.emit(&event)
    }
}

impl<E: Describe> SharedObserver<E> for TracingObserver {
    #[inline]
    fn on_event(&self, event: E) {
        self.emit(&event)
    }
}
