//! The registry's errors: [`ChangeError`] (what a policy refuses) and
//! [`RegistryError`] (what the registry refuses, with the policy's name).

extern crate std;

use std::error::Error;
use std::fmt;
use std::string::{String, ToString};

use failsafe_core::ConfigError;

use super::control::Kind;

/// Why a policy refused a change (nothing changed).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeError {
    /// This pattern does not take this action (e.g. `set_quota` on a
    /// breaker), or cannot change this part of its configuration at run
    /// time (`field` names it, where there is one).
    Unsupported {
        /// The action, e.g. `"set_quota"`.
        action: String,
        /// The part of the configuration that cannot change, if any.
        field: Option<String>,
    },
    /// A value is invalid: `field` names it (a path such as
    /// `flags[1].rollout` inside a table) where it is known.
    Invalid {
        /// The offending field.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
}

impl ChangeError {
    /// An action this pattern does not take.
    ///
    /// ```
    /// use failsafe_driver::registry::ChangeError;
    /// let e = ChangeError::unsupported("set_quota");
    /// assert_eq!(e.to_string(), "`set_quota` is not supported by this policy");
    /// ```
    pub fn unsupported(action: &str) -> Self {
        ChangeError::Unsupported {
            action: action.to_string(),
            field: None,
        }
    }

    /// A setting that cannot change at run time.
    ///
    /// ```
    /// use failsafe_driver::registry::ChangeError;
    /// let e = ChangeError::fixed("seed");
    /// assert_eq!(e.field(), Some("seed"));
    /// ```
    pub fn fixed(field: &str) -> Self {
        ChangeError::Unsupported {
            action: "configure".to_string(),
            field: Some(field.to_string()),
        }
    }

    /// A message naming no field.
    pub(crate) fn message(message: impl Into<String>) -> Self {
        ChangeError::Invalid {
            field: None,
            message: message.into(),
        }
    }

    /// An invalid `field`.
    ///
    /// ```
    /// use failsafe_driver::registry::ChangeError;
    /// let e = ChangeError::invalid("limit", "must be greater than zero");
    /// assert_eq!(e.to_string(), "invalid `limit`: must be greater than zero");
    /// ```
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ChangeError::Invalid {
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// The field named, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            ChangeError::Unsupported { field, .. } | ChangeError::Invalid { field, .. } => {
                field.as_deref()
            }
        }
    }

    /// The field prefixed with `prefix` (`flags[0]` + `rollout`).
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        let (ChangeError::Unsupported { field, .. } | ChangeError::Invalid { field, .. }) =
            &mut self;
        *field = Some(match field.take() {
            Some(f) => std::format!("{prefix}.{f}"),
            None => prefix.to_string(),
        });
        self
    }
}

impl From<ConfigError> for ChangeError {
    fn from(e: ConfigError) -> Self {
        ChangeError::Invalid {
            field: Some(e.field.to_string()),
            message: e.problem.as_str().to_string(),
        }
    }
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChangeError::Unsupported {
                action,
                field: None,
            } => write!(f, "`{action}` is not supported by this policy"),
            ChangeError::Unsupported {
                field: Some(field), ..
            } => write!(f, "`{field}` cannot change at run time"),
            ChangeError::Invalid {
                field: Some(field),
                message,
            } => write!(f, "invalid `{field}`: {message}"),
            ChangeError::Invalid {
                field: None,
                message,
            } => f.write_str(message),
        }
    }
}

impl Error for ChangeError {}

/// Why the registry refused an operation (nothing changed, but for
/// [`NotApplied`](RegistryError::NotApplied)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry holds `capacity` policies already.
    Full {
        /// Its capacity.
        capacity: usize,
    },
    /// A policy of this name is registered already.
    Duplicate(String),
    /// A name must be 1 to 64 characters of `A-Z a-z 0-9 . _ -` (it is a
    /// path segment of the admin routes and a key of a reload file).
    InvalidName(String),
    /// No policy of this name (in a change, a reload file or a pipeline's
    /// stages).
    NotFound(String),
    /// The policy `name` refused the change.
    Change {
        /// The policy.
        name: String,
        /// Its kind.
        kind: Kind,
        /// Why.
        error: ChangeError,
    },
    /// The request could not be read: not a JSON object with an
    /// `action`, an unknown action, keys that do not fit the action or a
    /// value their type refuses, such as a zero `quota.burst` (the error
    /// names the key), not a TOML document.
    Malformed(ChangeError),
    /// The change to the policy `name` was made but not confirmed: it
    /// takes effect elsewhere (a shared store) and that did not answer
    /// ([`Registry::apply_settled`](super::Registry::apply_settled)). The
    /// listeners heard of it when it was made; what the policy changes on
    /// its own side has changed (a Redis breaker's `reset` resets the
    /// instance's own breaker); a store call that timed out may still have
    /// reached the store.
    NotApplied {
        /// The policy.
        name: String,
        /// Its kind.
        kind: Kind,
        /// Why, e.g. the store's error.
        message: String,
    },
    /// [`Registry::handle`](super::Registry::handle) asked for a type the
    /// handle registered as `name` is not (or `name` is a pipeline).
    WrongType {
        /// The name.
        name: String,
        /// What it is.
        kind: Kind,
        /// The type asked for.
        expected: &'static str,
    },
}

impl RegistryError {
    /// The field named, if any: the field of a policy's [`ChangeError`].
    ///
    /// ```
    /// use failsafe_driver::registry::RegistryError;
    /// assert_eq!(RegistryError::NotFound("api".into()).field(), None);
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            RegistryError::Change { error, .. } | RegistryError::Malformed(error) => error.field(),
            _ => None,
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Full { capacity } => {
                write!(f, "the registry is full ({capacity} policies)")
            }
            RegistryError::Duplicate(name) => write!(f, "`{name}` is registered already"),
            RegistryError::InvalidName(name) => write!(
                f,
                "invalid name {name:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -"
            ),
            RegistryError::NotFound(name) => write!(f, "no policy named `{name}`"),
            RegistryError::Change { name, kind, error } => {
                write!(f, "{kind} `{name}`: {error}")
            }
            RegistryError::Malformed(error) => write!(f, "{error}"),
            RegistryError::NotApplied {
                name,
                kind,
                message,
            } => write!(f, "{kind} `{name}`: the change did not take: {message}"),
            RegistryError::WrongType {
                name,
                kind,
                expected,
            } => write!(f, "`{name}` is a {kind}, not a `{expected}`"),
        }
    }
}

impl Error for RegistryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RegistryError::Change { error, .. } | RegistryError::Malformed(error) => Some(error),
            _ => None,
        }
    }
}
