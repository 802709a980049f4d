//! [`Control`] for the bulkhead's std handle.

extern crate std;

use failsafe_core::bulkhead::{BulkheadConfig, LimitAlgorithm};
use serde_json::{Value, json};

use super::change::parse;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::{BulkheadPolicy, Clock};

impl<const Q: usize, A, R> Control for BulkheadPolicy<Q, A, R>
where
    A: LimitAlgorithm + Send + 'static,
    R: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::Bulkhead
    }

    fn config(&self) -> Value {
        to_json(&BulkheadPolicy::config(self))
    }

    /// Its [`BulkheadMetrics`](failsafe_core::bulkhead::BulkheadMetrics),
    /// and whether its limit adapts.
    fn state(&self) -> Value {
        let m = self.metrics();
        json!({
            "in_flight": m.in_flight,
            "limit": m.limit,
            "queued": m.queued,
            "acquired": m.acquired,
            "rejected": m.rejected,
            "expired": m.expired,
            "cancelled": m.cancelled,
            "released": m.released,
            "adaptive": A::ADAPTIVE,
        })
    }

    /// `set_limit`: a fixed limit becomes `max_concurrent` (the static
    /// limit change, [`Bulkhead::change_config`](failsafe_core::bulkhead::Bulkhead::change_config));
    /// an adaptive one is moved by hand within `[1, max_concurrent]` and
    /// its algorithm's `[min_limit, max_limit]` (refused outside) and
    /// carries on from there. `configure`: a new [`BulkheadConfig`].
    /// Calls in flight keep their slots and waiters their place either way.
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        Ok(match *change {
            Change::SetLimit { limit } => {
                let current = BulkheadPolicy::config(self);
                if limit == 0 {
                    return Err(ChangeError::invalid("limit", "must be greater than zero"));
                }
                if A::ADAPTIVE {
                    if limit > current.max_concurrent() {
                        return Err(ChangeError::invalid(
                            "limit",
                            std::format!(
                                "must not exceed max_concurrent ({}) for an adaptive limit",
                                current.max_concurrent()
                            ),
                        ));
                    }
                    // The algorithm would clamp it silently: refused instead,
                    // so that what listeners hear is the limit in force.
                    let (min, max) = self.with(|b, _| b.algorithm().limit_bounds());
                    if limit < min || limit > max {
                        return Err(ChangeError::invalid(
                            "limit",
                            std::format!(
                                "must lie within the algorithm's min_limit and max_limit ({min}..={max})"
                            ),
                        ));
                    }
                    Staged::new(move || {
                        self.with(|b, now| {
                            let _ = b.set_limit(now, limit);
                            now
                        })
                    })
                } else {
                    let config = BulkheadConfig::builder()
                        .max_concurrent(limit)
                        .max_wait(current.max_wait())
                        .build()
                        .map_err(|e| ChangeError::invalid("limit", e.problem.as_str()))?;
                    self.reconfigure(config)
                }
            }
            Change::Configure { ref config } => {
                let config: BulkheadConfig = parse(config)?;
                if config == BulkheadPolicy::config(self) {
                    Staged::unchanged()
                } else {
                    self.reconfigure(config)
                }
            }
            ref other => return Err(ChangeError::unsupported(other.action())),
        })
    }
}

trait Reconfigure {
    fn reconfigure(&self, config: BulkheadConfig) -> Staged<'_>;
}

impl<const Q: usize, A, R> Reconfigure for BulkheadPolicy<Q, A, R>
where
    A: LimitAlgorithm + Send + 'static,
    R: Clock + Send + Sync + 'static,
{
    fn reconfigure(&self, config: BulkheadConfig) -> Staged<'_> {
        Staged::new(move || {
            self.with(|b, now| {
                let _ = b.change_config(now, config);
                now
            })
        })
    }
}
