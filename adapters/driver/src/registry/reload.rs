//! Reloading configurations: check every value first, then change every
//! policy, or change nothing.

extern crate std;

use std::string::{String, ToString};
use std::sync::Arc;
use std::vec::Vec;

use serde_json::Value;

use super::{
    Change, ChangeError, Control, Kind, Registry, RegistryError, RegistryEvent, Slot, lock, read,
};

impl Registry {
    /// Applies the configurations of a TOML document to the live policies
    /// it names: one table per policy, keyed by its name, holding the keys
    /// of the core's configuration type for that pattern (the same serde
    /// types a service reads its configuration with; see
    /// [`failsafe_core::serde_support`]):
    ///
    /// ```toml
    /// [payments]            # a circuit breaker: BreakerConfig
    /// failure_rate_threshold = 0.25
    /// open_wait = "30s"
    ///
    /// ["db.pool"]           # a bulkhead: BulkheadConfig
    /// max_concurrent = 10
    ///
    /// [search]              # a rate limiter: Quota
    /// rate = 100
    /// burst = 20
    ///
    /// [orders]              # a retry: RetryConfig (only max_attempts may
    /// max_attempts = 5      # change; repeat any other key it was built with)
    ///
    /// [flags]               # a feature toggle: ToggleConfig
    /// seed = 7
    /// flags = [{ name = "new-checkout", rollout = 2500 }]
    /// ```
    ///
    /// Every table is read and checked before any policy changes: one
    /// invalid value (or a name not registered, or a setting that cannot
    /// change at run time) rejects the whole reload, naming the policy and
    /// the field, and nothing changes. A policy left out of the document is
    /// left alone; a key left out of a table takes the type's default,
    /// exactly as when the service read it at start. A policy whose
    /// configuration equals the one in force is left alone (an operator's
    /// change of its state, such as a forced-open breaker, survives); the
    /// others change keeping their state, each reported as a
    /// [`Change::Configure`] event with `reload` set. Returns the names of
    /// the policies changed.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Malformed`] for a document that is not TOML (with
    /// its line and column) or a top-level value that is not a table;
    /// [`RegistryError::NotFound`] for a name not registered;
    /// [`RegistryError::Change`] for a value a policy refuses, naming the
    /// field.
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::Registry;
    /// use failsafe_driver::BulkheadPolicy;
    /// let registry = Registry::default();
    /// let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    /// registry.register("db", pool.clone()).unwrap();
    /// assert_eq!(registry.reload_toml("[db]\nmax_concurrent = 4\n").unwrap(), ["db"]);
    /// assert_eq!(pool.limit(), 4);
    /// let e = registry.reload_toml("[db]\nmax_concurrent = 0\n").unwrap_err();
    /// assert_eq!(e.field(), Some("max_concurrent"));
    /// assert_eq!(pool.limit(), 4);
    /// ```
    pub fn reload_toml(&self, document: &str) -> Result<Vec<String>, RegistryError> {
        let table: toml::Table = toml::from_str(document)
            .map_err(|e| RegistryError::Malformed(ChangeError::message(e.to_string())))?;
        let value = serde_json::to_value(table)
            .map_err(|e| RegistryError::Malformed(ChangeError::message(e.to_string())))?;
        self.reload(value)
    }

    /// [`reload_toml`](Self::reload_toml) from a JSON value (an object of
    /// configuration tables keyed by policy name): the admin route's
    /// reload, or a document in another format read with serde.
    ///
    /// # Errors
    ///
    /// As [`reload_toml`](Self::reload_toml).
    pub fn reload(&self, configs: Value) -> Result<Vec<String>, RegistryError> {
        let Value::Object(configs) = configs else {
            return Err(RegistryError::Malformed(ChangeError::message(
                "a reload is a table of configuration tables keyed by policy name",
            )));
        };
        let _one_at_a_time = lock(&self.changing);
        // Every name first ...
        let mut targets: Vec<(String, Arc<dyn Control>, Change)> = Vec::new();
        {
            let slots = read(&self.slots);
            for (name, config) in configs {
                match slots.get(&name) {
                    None => return Err(RegistryError::NotFound(name)),
                    Some(Slot::Pipeline(_)) => {
                        return Err(RegistryError::Change {
                            name,
                            kind: Kind::Pipeline,
                            error: ChangeError::message(
                                "a pipeline has no configuration of its own: configure its stages by their names",
                            ),
                        });
                    }
                    // A value where a table belongs: the document is
                    // malformed (its policy says what its table holds).
                    Some(Slot::Policy(p)) if !config.is_object() => {
                        let why = match p.prepare(&Change::Configure { config }) {
                            Err(e) => e.to_string(),
                            Ok(_) => "expected a table of settings".into(),
                        };
                        return Err(RegistryError::Malformed(ChangeError::message(
                            std::format!("`{name}`: {why}"),
                        )));
                    }
                    Some(Slot::Policy(p)) => {
                        targets.push((name, p.clone(), Change::Configure { config }))
                    }
                }
            }
        }
        // ... then every value, before anything changes ...
        let mut staged = Vec::with_capacity(targets.len());
        for (name, policy, change) in &targets {
            let s = policy
                .prepare(change)
                .map_err(|error| RegistryError::Change {
                    name: name.to_string(),
                    kind: policy.kind(),
                    error,
                })?;
            staged.push(s);
        }
        // ... then every change (none can fail now).
        let mut events = Vec::new();
        for (s, (name, policy, change)) in staged.into_iter().zip(&targets) {
            if let Some(at) = s.run() {
                events.push(RegistryEvent {
                    name: name.clone(),
                    kind: policy.kind(),
                    change: change.clone(),
                    at,
                    reload: true,
                });
            }
        }
        let changed = events.iter().map(|e| e.name.clone()).collect();
        for event in events {
            self.report(event);
        }
        Ok(changed)
    }
}
