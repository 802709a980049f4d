//! [`Control`] for the rate limiters' std handles.

extern crate std;

use failsafe_core::rate::Quota;
use serde::Deserialize;
use serde_json::{Value, json};

use super::change::parse;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::{Clock, KeyedRateLimiterPolicy, RateLimiterPolicy};

impl<R> Control for RateLimiterPolicy<R>
where
    R: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::RateLimiter
    }

    /// The [`Quota`] in force.
    fn config(&self) -> Value {
        to_json(&self.quota())
    }

    /// The permits available now and the quota in force.
    fn state(&self) -> Value {
        let q = self.quota();
        json!({
            "available": self.available(),
            "burst": q.burst(),
            "period_ns": u64::try_from(q.period().as_nanos()).unwrap_or(u64::MAX),
            "now_ns": self.runtime().now().as_nanos(),
        })
    }

    /// `set_quota` or `configure` (a [`Quota`] table): the new quota,
    /// keeping the limiter's state (permits taken stay taken).
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let quota = match change {
            Change::SetQuota { quota } => *quota,
            Change::Configure { config } => parse::<Quota>(config)?,
            other => return Err(ChangeError::unsupported(other.action())),
        };
        if matches!(change, Change::Configure { .. }) && quota == self.quota() {
            return Ok(Staged::unchanged());
        }
        Ok(Staged::new(move || {
            self.set_quota(quota);
            self.runtime().now()
        }))
    }
}

/// A keyed limiter's table as in a file: only the quota can change at run
/// time; `seed` and `when_full`, if given, must be those in force.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of keyed rate limit settings"
)]
struct KeyedIn {
    quota: Quota,
    #[serde(default)]
    seed: Option<Value>,
    #[serde(default)]
    when_full: Option<Value>,
}

impl<K, const N: usize, R> Control for KeyedRateLimiterPolicy<K, N, R>
where
    K: Eq + core::hash::Hash + Clone + Send + 'static,
    R: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::KeyedRateLimiter
    }

    /// The [`KeyedGcra`](failsafe_core::rate::KeyedGcra) table's
    /// configuration (`quota`, `seed`, `when_full`).
    fn config(&self) -> Value {
        self.with(|t, _| to_json(t.limiter()))
    }

    /// The keys tracked and the table's capacity.
    fn state(&self) -> Value {
        json!({ "keys": self.len(), "capacity": N })
    }

    /// `set_quota`, or `configure` with a keyed limiter's table: every
    /// key's quota changes, keeping each key's state.
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let quota = match change {
            Change::SetQuota { quota } => *quota,
            Change::Configure { config } => {
                let new: KeyedIn = parse(config)?;
                let live = self.config();
                for (field, value) in [("seed", &new.seed), ("when_full", &new.when_full)] {
                    if value.as_ref().is_some_and(|v| Some(v) != live.get(field)) {
                        return Err(ChangeError::fixed(field));
                    }
                }
                let current: Option<Quota> = live
                    .get("quota")
                    .and_then(|q| serde_json::from_value(q.clone()).ok());
                if current == Some(new.quota) {
                    return Ok(Staged::unchanged());
                }
                new.quota
            }
            other => return Err(ChangeError::unsupported(other.action())),
        };
        Ok(Staged::new(move || {
            self.with(|t, now| {
                t.limiter_mut().set_quota(quota);
                now
            })
        }))
    }
}
