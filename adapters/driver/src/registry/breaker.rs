//! [`Control`] for the circuit breaker's std handle.

extern crate std;

use failsafe_core::breaker::{BreakerConfig, Window};
use serde_json::{Value, json};

use super::change::parse;
use super::control::act;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::{CircuitBreakerPolicy, Clock};

impl<W, R> Control for CircuitBreakerPolicy<W, R>
where
    W: Window + Send + 'static,
    R: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::CircuitBreaker
    }

    fn config(&self) -> Value {
        to_json(&self.with(|b, _| *b.config()))
    }

    /// The breaker's [`BreakerMetrics`](failsafe_core::breaker::BreakerMetrics)
    /// (instants in nanoseconds on the policy's clock).
    fn state(&self) -> Value {
        let now = self.runtime().now();
        let m = self.metrics();
        json!({
            "state": m.state.as_str(),
            "calls": m.calls,
            "failures": m.failures,
            "slow_calls": m.slow_calls,
            "failure_rate": m.failure_rate,
            "slow_call_rate": m.slow_call_rate,
            "consecutive_failures": m.consecutive_failures,
            "rejected": m.rejected,
            "times_opened": m.times_opened,
            "stale_outcomes": m.stale_outcomes,
            "probes_in_flight": m.probes_in_flight,
            "open_until_ns": m.open_until.map(|t| t.as_nanos()),
            "now_ns": now.as_nanos(),
        })
    }

    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        Ok(match change {
            Change::ForceOpen => act(self, |b, now| b.force_open(now)),
            Change::ForceClosed | Change::MetricsOnly => act(self, |b, now| b.metrics_only(now)),
            Change::Open => act(self, |b, now| b.open(now)),
            Change::Close => act(self, |b, now| b.close(now)),
            Change::Disable => act(self, |b, now| b.disable(now)),
            Change::Reset => Staged::new(|| {
                let now = self.runtime().now();
                self.shared().reset(now);
                now
            }),
            Change::Configure { config } => {
                let config: BreakerConfig = parse(config)?;
                if config == self.with(|b, _| *b.config()) {
                    Staged::unchanged()
                } else {
                    Staged::new(move || {
                        self.with(|b, now| {
                            let _ = b.set_config(now, config);
                            now
                        })
                    })
                }
            }
            other => return Err(ChangeError::unsupported(other.action())),
        })
    }
}
