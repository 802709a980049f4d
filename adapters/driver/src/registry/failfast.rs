//! [`Control`] for fail fast's std handle.

extern crate std;

use failsafe_core::failfast::FailFastConfig;
use serde_json::{Value, json};

use super::change::parse;
use super::control::act;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::{Clock, FailFastPolicy};

impl<R> Control for FailFastPolicy<R>
where
    R: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::FailFast
    }

    fn config(&self) -> Value {
        to_json(&self.with(|ff, _| *ff.config()))
    }

    /// Its [`FailFastMetrics`](failsafe_core::failfast::FailFastMetrics)
    /// (instants in nanoseconds on the policy's clock).
    fn state(&self) -> Value {
        let m = self.metrics();
        json!({
            "state": m.state.as_str(),
            "open_cause": m.open_cause.map(|c| std::format!("{c:?}")),
            "open_since_ns": m.open_since.map(|t| t.as_nanos()),
            "next_probe_at_ns": m.next_probe_at.map(|t| t.as_nanos()),
            "consecutive_failures": m.consecutive_failures,
            "expected_duration_ns": u64::try_from(m.expected_duration.as_nanos()).unwrap_or(u64::MAX),
            "learned_samples": m.learned_samples,
            "rejected_open": m.rejected_open,
            "rejected_deadline": m.rejected_deadline,
            "probes_admitted": m.probes_admitted,
            "times_opened": m.times_opened,
            "stale_outcomes": m.stale_outcomes,
            "now_ns": self.runtime().now().as_nanos(),
        })
    }

    /// `open`, `close`, `reset`; `configure` only with the configuration in
    /// force (a fail fast's configuration cannot change at run time).
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        Ok(match change {
            Change::Open => act(self, |ff, now| ff.open(now)),
            Change::Close => act(self, |ff, now| ff.close(now)),
            Change::Reset => Staged::new(|| {
                let now = self.runtime().now();
                self.shared().reset(now);
                now
            }),
            Change::Configure { config } => {
                let config: FailFastConfig = parse(config)?;
                if config == self.with(|ff, _| *ff.config()) {
                    Staged::unchanged()
                } else {
                    return Err(ChangeError::Unsupported {
                        action: "configure".into(),
                        field: None,
                    });
                }
            }
            other => return Err(ChangeError::unsupported(other.action())),
        })
    }
}
