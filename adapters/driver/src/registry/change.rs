//! [`Change`]: the runtime changes an operator can make, and their JSON form.

extern crate std;

use std::string::{String, ToString};

use failsafe_core::rate::Quota;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ChangeError, RegistryError};

/// A runtime change to a named policy. Each keeps the policy's state;
/// each applied change is reported as a
/// [`RegistryEvent`](super::RegistryEvent).
///
/// Its JSON form (the admin routes' request body) is an object with an
/// `action` and the action's own keys:
///
/// | action | keys | patterns |
/// |---|---|---|
/// | `force_open` | | breaker: rejects every call until an operator changes it |
/// | `force_closed` | | breaker: admits and counts every call and never trips until an operator changes it (the core's `metrics_only` state) |
/// | `open`, `close` | | breaker (open: its open wait starts), fail fast |
/// | `reset` | | breaker, fail fast: closed, counts zeroed |
/// | `disable` | | breaker: admits every call and counts nothing; chaos: injects nothing |
/// | `enable` | | chaos: injects again |
/// | `metrics_only` | | breaker: the same as `force_closed` |
/// | `set_quota` | `quota`: a quota table (`rate`, `per`, `burst` or `period`) | rate limiter, keyed rate limiter (every key) |
/// | `set_limit` | `limit`: calls at once | bulkhead |
/// | `set_max_attempts` | `max_attempts`: attempts per call (at least 1), `"unlimited"` (as in a config), or `null` for the config's | retry: every later call (calls in flight keep theirs) |
/// | `set_enabled` | `flag`, `enabled` | feature toggle: flip a flag |
/// | `set_rollout` | `flag`, `rollout` (basis points, 0 to 10 000) | feature toggle |
/// | `allow`, `deny`, `forget` | `flag`, `key` | feature toggle: target a key |
/// | `configure` | `config`: the policy's configuration table, as in a reload file | every pattern |
///
/// ```
/// use failsafe_driver::registry::Change;
/// let change = Change::from_json(serde_json::json!({"action": "set_limit", "limit": 8})).unwrap();
/// assert_eq!(change, Change::SetLimit { limit: 8 });
/// let bad = Change::from_json(serde_json::json!({"action": "set_limit", "limit": "eight"})).unwrap_err();
/// assert!(bad.to_string().contains("`limit`"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// Breaker: reject every call until an operator changes it.
    ForceOpen,
    /// Breaker: admit and count every call, never trip, until an operator
    /// changes it (the core's `MetricsOnly` state, resilience4j's
    /// `METRICS_ONLY`).
    ForceClosed,
    /// Breaker, fail fast: open now.
    Open,
    /// Breaker, fail fast: close now.
    Close,
    /// Breaker, fail fast: closed, every count zeroed.
    Reset,
    /// Breaker: admit every call, count nothing. Chaos: inject nothing.
    Disable,
    /// Chaos: inject again (after [`Disable`](Self::Disable)).
    Enable,
    /// Breaker: the same as [`ForceClosed`](Self::ForceClosed).
    MetricsOnly,
    /// Rate limiters: a new quota, keeping the state.
    SetQuota {
        /// The quota.
        quota: Quota,
    },
    /// Bulkhead: a new limit; calls in flight keep their slots, waiters
    /// their place.
    SetLimit {
        /// Calls at once.
        limit: u32,
    },
    /// Retry: the attempt limit of every later call (calls in flight keep
    /// theirs); `null` goes back to the config's.
    SetMaxAttempts {
        /// The limit: a number of attempts (at least 1), none, or the
        /// config's.
        max_attempts: AttemptLimit,
    },
    /// Feature toggle: switch `flag` on or off.
    SetEnabled {
        /// The flag's name.
        flag: String,
        /// On or off.
        enabled: bool,
    },
    /// Feature toggle: `flag`'s rollout in basis points (0 to 10 000).
    SetRollout {
        /// The flag's name.
        flag: String,
        /// Basis points.
        rollout: u16,
    },
    /// Feature toggle: put `key` on `flag`'s allow list.
    Allow {
        /// The flag's name.
        flag: String,
        /// The key.
        key: String,
    },
    /// Feature toggle: put `key` on `flag`'s deny list.
    Deny {
        /// The flag's name.
        flag: String,
        /// The key.
        key: String,
    },
    /// Feature toggle: take `key` off both of `flag`'s lists.
    Forget {
        /// The flag's name.
        flag: String,
        /// The key.
        key: String,
    },
    /// Any pattern: a new configuration in the serde form of the core's
    /// configuration type (what a reload file holds for this policy);
    /// what cannot change at run time must stay as it is.
    Configure {
        /// The configuration table.
        config: Value,
    },
}

impl Change {
    /// The action's name, e.g. `"set_quota"`.
    ///
    /// ```
    /// use failsafe_driver::registry::Change;
    /// assert_eq!(Change::ForceClosed.action(), "force_closed");
    /// ```
    pub fn action(&self) -> &'static str {
        match self {
            Change::ForceOpen => "force_open",
            Change::ForceClosed => "force_closed",
            Change::Open => "open",
            Change::Close => "close",
            Change::Reset => "reset",
            Change::Disable => "disable",
            Change::Enable => "enable",
            Change::MetricsOnly => "metrics_only",
            Change::SetQuota { .. } => "set_quota",
            Change::SetLimit { .. } => "set_limit",
            Change::SetMaxAttempts { .. } => "set_max_attempts",
            Change::SetEnabled { .. } => "set_enabled",
            Change::SetRollout { .. } => "set_rollout",
            Change::Allow { .. } => "allow",
            Change::Deny { .. } => "deny",
            Change::Forget { .. } => "forget",
            Change::Configure { .. } => "configure",
        }
    }

    /// Reads a change from its JSON form (see the table above).
    ///
    /// # Errors
    ///
    /// [`RegistryError::Malformed`] for a value that is not an object with
    /// a known `action`, or whose keys do not fit the action, naming the
    /// key (`"invalid `limit`: ..."`, `"unknown field `limits`..."`).
    pub fn from_json(value: Value) -> Result<Change, RegistryError> {
        let Value::Object(mut map) = value else {
            return Err(malformed("a change is a JSON object with an `action`"));
        };
        let action = match map.remove("action") {
            Some(Value::String(action)) => action,
            Some(_) => {
                return Err(RegistryError::Malformed(ChangeError::invalid(
                    "action",
                    "must be a string",
                )));
            }
            None => {
                return Err(RegistryError::Malformed(ChangeError::invalid(
                    "action", "missing",
                )));
            }
        };
        let rest = Value::Object(map);
        let unit = |change: Change| -> Result<Change, RegistryError> {
            match &rest {
                Value::Object(m) if m.is_empty() => Ok(change),
                Value::Object(m) => {
                    let key = m.keys().next().map_or("", String::as_str);
                    Err(RegistryError::Malformed(ChangeError::invalid(
                        key,
                        std::format!("unknown field: `{action}` takes no keys"),
                    )))
                }
                _ => Ok(change),
            }
        };
        let keys = RegistryError::Malformed;
        match action.as_str() {
            "force_open" => unit(Change::ForceOpen),
            "force_closed" => unit(Change::ForceClosed),
            "open" => unit(Change::Open),
            "close" => unit(Change::Close),
            "reset" => unit(Change::Reset),
            "disable" => unit(Change::Disable),
            "enable" => unit(Change::Enable),
            "metrics_only" => unit(Change::MetricsOnly),
            "set_quota" => {
                let a: QuotaArgs = parse(&rest).map_err(keys)?;
                Ok(Change::SetQuota { quota: a.quota })
            }
            "set_limit" => {
                let a: LimitArgs = parse(&rest).map_err(keys)?;
                Ok(Change::SetLimit { limit: a.limit })
            }
            "set_max_attempts" => {
                let a: MaxAttemptsArgs = parse(&rest).map_err(keys)?;
                Ok(Change::SetMaxAttempts {
                    max_attempts: a.max_attempts,
                })
            }
            "set_enabled" => {
                let a: EnabledArgs = parse(&rest).map_err(keys)?;
                Ok(Change::SetEnabled {
                    flag: a.flag,
                    enabled: a.enabled,
                })
            }
            "set_rollout" => {
                let a: RolloutArgs = parse(&rest).map_err(keys)?;
                Ok(Change::SetRollout {
                    flag: a.flag,
                    rollout: a.rollout,
                })
            }
            "allow" | "deny" | "forget" => {
                let a: KeyArgs = parse(&rest).map_err(keys)?;
                let (flag, key) = (a.flag, a.key);
                Ok(match action.as_str() {
                    "allow" => Change::Allow { flag, key },
                    "deny" => Change::Deny { flag, key },
                    _ => Change::Forget { flag, key },
                })
            }
            "configure" => {
                let a: ConfigureArgs = parse(&rest).map_err(keys)?;
                Ok(Change::Configure { config: a.config })
            }
            other => Err(RegistryError::Malformed(ChangeError::invalid(
                "action",
                std::format!("unknown action `{other}`"),
            ))),
        }
    }
}

fn malformed(message: &str) -> RegistryError {
    RegistryError::Malformed(ChangeError::message(message))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `quota`")]
struct QuotaArgs {
    quota: Quota,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `limit`")]
struct LimitArgs {
    limit: u32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `max_attempts`")]
struct MaxAttemptsArgs {
    // Left out: the config's, as `null` says.
    #[serde(default)]
    max_attempts: AttemptLimit,
}

/// A retry's attempt limit as [`Change::SetMaxAttempts`] sets it. Its
/// JSON form: a number, `"unlimited"` (a config's spelling of none), or
/// `null` for the config's.
///
/// ```
/// use failsafe_driver::registry::{AttemptLimit, Change};
/// use serde_json::json;
///
/// let unlimited = json!({"action": "set_max_attempts", "max_attempts": "unlimited"});
/// let Change::SetMaxAttempts { max_attempts } = Change::from_json(unlimited).unwrap() else { panic!() };
/// assert_eq!(max_attempts, AttemptLimit::Unlimited);
/// let configured = json!({"action": "set_max_attempts", "max_attempts": null});
/// let Change::SetMaxAttempts { max_attempts } = Change::from_json(configured).unwrap() else { panic!() };
/// assert_eq!(max_attempts, AttemptLimit::Configured);
/// assert!(Change::from_json(json!({"action": "set_max_attempts", "max_attempts": "many"})).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttemptLimit {
    /// Back to the limit the policy was built with (also what a change
    /// leaving `max_attempts` out means).
    #[default]
    Configured,
    /// At most this many attempts per call (at least 1).
    Limit(u32),
    /// No limit (bounded by the policy's `max_elapsed`, a deadline or a
    /// budget, if any).
    Unlimited,
}

impl AttemptLimit {
    /// The limit as a retry's config writes it: a number, or
    /// `"unlimited"` for none (how the registry's views show the limit in
    /// force, so that a view can be sent back as a change).
    pub(crate) fn json(limit: Option<u32>) -> Value {
        match limit {
            Some(n) => Value::from(n),
            None => Value::from("unlimited"),
        }
    }
}

impl Serialize for AttemptLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            AttemptLimit::Configured => s.serialize_none(),
            AttemptLimit::Limit(n) => s.serialize_u32(n),
            AttemptLimit::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for AttemptLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AttemptLimit;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(r#"a number of attempts, "unlimited", or null for the config's"#)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<AttemptLimit, E> {
                u32::try_from(v)
                    .map(AttemptLimit::Limit)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AttemptLimit, E> {
                if v == "unlimited" {
                    Ok(AttemptLimit::Unlimited)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<AttemptLimit, E> {
                Ok(AttemptLimit::Configured)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<AttemptLimit, E> {
                Ok(AttemptLimit::Configured)
            }
        }
        d.deserialize_any(Visit)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `flag` and `enabled`")]
struct EnabledArgs {
    flag: String,
    enabled: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `flag` and `rollout`")]
struct RolloutArgs {
    flag: String,
    rollout: u16,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `flag` and `key`")]
struct KeyArgs {
    flag: String,
    key: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with `config`")]
struct ConfigureArgs {
    config: Value,
}

/// Reads a configuration `T` from `value`, the error naming the field: the
/// path where deserialising failed (`flags[1]`) and the field a core
/// configuration's check named in its message (`` invalid `burst`: ... ``)
/// or serde's (an unknown, missing or duplicate key, named as written),
/// joined (`quota.burst`). What every [`Control`](super::Control)'s
/// `configure` reads its table with.
///
/// # Errors
///
/// [`ChangeError::Invalid`] naming the field, if it can.
///
/// ```
/// use failsafe_core::rate::Quota;
/// use failsafe_driver::registry::parse_config;
/// let e = parse_config::<Quota>(&serde_json::json!({ "rate": 10, "burst": -1 })).unwrap_err();
/// assert_eq!(e.field(), Some("burst"));
/// ```
pub fn parse_config<T: DeserializeOwned>(value: &Value) -> Result<T, ChangeError> {
    parse(value)
}

pub(crate) fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, ChangeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let named = named_field(&message);
        let field = match (path.as_str(), named) {
            ("." | "", None) => None,
            ("." | "", Some(n)) => Some(n.to_string()),
            (p, Some(n)) if !p.ends_with(n) => Some(std::format!("{p}.{n}")),
            (p, _) => Some(p.to_string()),
        };
        ChangeError::Invalid {
            field,
            message: strip_field(&message),
        }
    })
}

/// The field named in a serde or core message: `` invalid `x`: `` (a core
/// check's: a field name, never a backtick in it), `` unknown field `x`,
/// expected .. ``, `` missing field `x` ``, `` duplicate field `x` `` (a
/// key as written, backticks and all: its quote closes where serde's
/// message goes on).
fn named_field(message: &str) -> Option<&str> {
    for (lead, closes) in [
        ("invalid `", &["`: "][..]),
        // serde goes on with the fields it expected, each quoted too
        (
            "unknown field `",
            &["`, expected", "`, there are no fields"][..],
        ),
        ("missing field `", &["`"][..]),
        ("duplicate field `", &["`"][..]),
    ] {
        if let Some(start) = message.find(lead) {
            let rest = &message[start + lead.len()..];
            let end = closes.iter().find_map(|close| match *close {
                // the key ends the message: its last backtick closes it
                "`" => rest.rfind('`'),
                close => rest.find(close),
            });
            return end.map(|end| &rest[..end]);
        }
    }
    None
}

/// The message without its leading `` invalid `x`: `` (the field is named
/// apart).
fn strip_field(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid `")
        && let Some(end) = rest.find("`: ")
    {
        return rest[end + 3..].to_string();
    }
    message.to_string()
}
