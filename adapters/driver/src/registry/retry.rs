//! [`Control`] for the retry's std handle: its attempt limit changes at run
//! time; the rest of its config is fixed when the policy is built.

extern crate std;

use failsafe_core::retry::{RetryBudget, RetryConfig};
use serde_json::Value;

use super::change::parse;
use super::{AttemptLimit, Change, ChangeError, Control, Kind, Staged, to_json};
use crate::{Clock, RetryPolicy};

impl<B, C> Control for RetryPolicy<B, C>
where
    B: RetryBudget + Send + 'static,
    C: Clock + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::Retry
    }

    /// The config as built, with the attempt limit in force (a number or
    /// `"unlimited"`, as a config writes it).
    fn config(&self) -> Value {
        let mut config = to_json(&RetryPolicy::config(self));
        if let Value::Object(map) = &mut config {
            map.insert(
                "max_attempts".into(),
                AttemptLimit::json(self.max_attempts()),
            );
        }
        config
    }

    /// The attempt limit in force (a number or `"unlimited"`), and whether
    /// it was set at run time.
    fn state(&self) -> Value {
        serde_json::json!({
            "max_attempts": AttemptLimit::json(self.max_attempts()),
            "changed": self.max_attempts() != RetryPolicy::config(self).max_attempts(),
        })
    }

    /// `set_max_attempts`: the limit of every later call (`null`: the
    /// config's). `configure`: a [`RetryConfig`] that may differ from the
    /// one the policy was built with only in `max_attempts`. Calls in flight
    /// keep the limit in force when their future was made.
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        // `None`: back to the config's limit; `Some(limit)`: that limit in
        // its place (`Some(None)`: unlimited, a configured "unlimited").
        let target: Option<Option<u32>> = match *change {
            Change::SetMaxAttempts { max_attempts } => match max_attempts {
                AttemptLimit::Limit(0) => {
                    return Err(ChangeError::invalid(
                        "max_attempts",
                        "must be greater than zero",
                    ));
                }
                AttemptLimit::Limit(n) => Some(Some(n)),
                AttemptLimit::Unlimited => Some(None),
                AttemptLimit::Configured => None,
            },
            Change::Configure { ref config } => {
                let new: RetryConfig = parse(config)?;
                let built = RetryPolicy::config(self);
                let limit = new.max_attempts();
                if let Some(field) = fixed_field_changed(&new, &built) {
                    let left_out = config.as_object().is_some_and(|c| !c.contains_key(&field));
                    let why = if left_out {
                        // The operator did not write it: its default differs
                        // from the value the retry was built with.
                        "left out, it takes its default, which differs from the value in force \
                         and cannot change at run time: repeat it (or use `set_max_attempts`)"
                    } else {
                        "cannot change at run time (only `max_attempts` of a retry can)"
                    };
                    return Err(ChangeError::invalid(&field, why));
                }
                // Back to "the config's" when it names the built limit.
                if limit == built.max_attempts() {
                    if self.max_attempts() == limit {
                        return Ok(Staged::unchanged());
                    }
                    None
                } else {
                    Some(limit)
                }
            }
            ref other => return Err(ChangeError::unsupported(other.action())),
        };
        let unchanged = match target {
            Some(limit) => self.max_attempts() == limit,
            // Back to the config's when it is already in force.
            None => self.live_max_attempts().is_none(),
        };
        if unchanged {
            return Ok(Staged::unchanged());
        }
        Ok(Staged::new(move || {
            // Checked above: a zero limit never reaches here.
            self.set_live_max_attempts(target);
            self.runtime().now()
        }))
    }
}

/// The first field other than the attempt limit where `new` differs from
/// the config the policy was built with, if any.
fn fixed_field_changed(new: &RetryConfig, built: &RetryConfig) -> Option<std::string::String> {
    let (Value::Object(new), Value::Object(built)) = (to_json(new), to_json(built)) else {
        return None;
    };
    // Over the keys of both: a setting that is off (`max_elapsed` unset)
    // is not written, so a key on one side only differs too.
    new.keys()
        .chain(built.keys())
        .find(|&key| key != "max_attempts" && new.get(key) != built.get(key))
        .cloned()
}
