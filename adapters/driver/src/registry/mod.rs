//! A registry of named policies: list them, change them at run time, reload
//! their configurations (feature `registry`).
//!
//! A service registers its policies by name when it builds them; an
//! operator can then, during an incident and without a redeploy:
//!
//! - **see** every policy's kind, configuration (in the serde form of the
//!   core's configuration types) and live state ([`Registry::list`],
//!   [`Registry::get`]);
//! - **act** on one ([`Registry::apply`] a [`Change`]): force a breaker
//!   open or closed, reset it, change a rate limiter's quota or a
//!   bulkhead's limit, flip a feature flag, change its rollout or target a
//!   key. Every change keeps the policy's state (calls in flight keep their
//!   permits, waiters their place, counts stay) and is reported to the
//!   registry's listeners as a [`RegistryEvent`];
//! - **reload** configurations from TOML ([`Registry::reload_toml`]):
//!   every value is checked first, and one invalid value rejects the whole
//!   reload, naming the policy and the field, with nothing changed;
//! - with the `axum` feature, do all of it over HTTP with
//!   `admin::router` (JSON), which the service mounts where it chooses.
//!
//! The registry is bounded (its capacity is set when it is built) and
//! keyed by name; it never sits on a call's path: a policy's calls go
//! through its own handle as before, and the registry holds a clone of it.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use failsafe_driver::prelude::*;
//! use failsafe_driver::registry::{Change, Registry};
//! use failsafe_driver::{CircuitBreakerPolicy, RateLimiterPolicy};
//!
//! let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
//! let limiter: RateLimiterPolicy = RateLimiterPolicy::new(Quota::per_second(100).unwrap());
//!
//! let registry = Registry::new(16);
//! registry.register("payments", breaker.clone()).unwrap();
//! registry.register("search", limiter.clone()).unwrap();
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = seen.clone();
//! registry.on_change(move |e| log.lock().unwrap().push((e.name.clone(), e.change.action())));
//!
//! // an operator forces the breaker open: the service's handle sees it
//! registry.apply("payments", Change::ForceOpen).unwrap();
//! assert_eq!(breaker.state(), State::ForcedOpen);
//! assert_eq!(registry.get("payments").unwrap().state["state"], "forced-open");
//!
//! // a reload changes the quota; a bad value would have changed nothing
//! registry.reload_toml("[search]\nrate = 50\nburst = 5\n").unwrap();
//! assert_eq!(limiter.quota().burst(), 5);
//! let bad = registry.reload_toml("[search]\nrate = 0\n").unwrap_err();
//! assert_eq!(bad.field(), Some("rate"));
//! assert_eq!(limiter.quota().burst(), 5);
//!
//! assert_eq!(*seen.lock().unwrap(), [("payments".to_string(), "force_open"), ("search".to_string(), "configure")]);
//! ```
//!
//! # Protecting the admin routes
//!
//! The admin routes change live policies: whoever reaches them can open
//! every breaker. They are off unless mounted; mount them on a listener
//! only operators reach (a separate port bound to loopback or a private
//! network), behind authentication (a `tower-http`
//! `ValidateRequestHeaderLayer`, mTLS at the proxy), and log who called
//! them (each change is a [`RegistryEvent`]).

extern crate std;

#[cfg(feature = "axum")]
pub mod admin;
mod breaker;
mod bulkhead;
mod change;
mod chaos;
mod control;
mod error;
mod event;
mod failfast;
mod handle;
mod rate;
mod reload;
mod retry;
mod toggle;

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, RwLock};
use std::vec::Vec;

use serde::Serialize;
use serde_json::{Map, Value};

pub use change::{AttemptLimit, Change, parse_config};
pub use chaos::ChaosSwitch;
pub use control::{Control, Kind, Settling, Staged};
pub use error::{ChangeError, RegistryError};
pub use event::RegistryEvent;
pub use handle::global;
pub use toggle::FeatureFlags;

type Listener = Arc<dyn Fn(&RegistryEvent) + Send + Sync>;

/// One registered name: a policy, or a pipeline naming its stages.
#[derive(Clone)]
enum Slot {
    Policy(Arc<dyn Control>),
    Pipeline(Vec<String>),
}

/// One policy as the registry lists it (the admin routes' JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PolicyView {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// The configuration in force (a pipeline: its stages).
    pub config: Value,
    /// The live state (a pipeline: each stage's kind and state).
    pub state: Value,
}

/// A bounded registry of named policies (see the [module docs](self)).
///
/// `Sync`: share it in an `Arc` between the service and its admin routes.
pub struct Registry {
    capacity: usize,
    slots: RwLock<BTreeMap<String, Slot>>,
    /// Each registered policy's handle, to call by name ([`Registry::handle`]).
    handles: RwLock<BTreeMap<String, handle::Callable>>,
    listeners: RwLock<Vec<Listener>>,
    /// Changes and reloads one at a time, so a reload's checks and its
    /// changes see the same policies and events come out in order.
    changing: Mutex<()>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("capacity", &self.capacity)
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    /// A registry of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) names.
    fn default() -> Self {
        Registry::new(Self::DEFAULT_CAPACITY)
    }
}

impl Registry {
    /// The capacity of [`Registry::default`]: 256 names.
    pub const DEFAULT_CAPACITY: usize = 256;

    /// An empty registry holding at most `capacity` names (policies and
    /// pipelines).
    ///
    /// ```
    /// use failsafe_driver::registry::Registry;
    /// assert_eq!(Registry::new(8).capacity(), 8);
    /// ```
    pub fn new(capacity: usize) -> Self {
        Registry {
            capacity,
            slots: RwLock::new(BTreeMap::new()),
            handles: RwLock::new(BTreeMap::new()),
            listeners: RwLock::new(Vec::new()),
            changing: Mutex::new(()),
        }
    }

    /// How many names it may hold.
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many names it holds.
    pub fn len(&self) -> usize {
        read(&self.slots).len()
    }

    /// `true` if it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        read(&self.slots).keys().cloned().collect()
    }

    /// Registers `policy` (a clone of the handle the service calls
    /// through) as `name`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidName`], [`RegistryError::Duplicate`],
    /// [`RegistryError::Full`].
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Registry, RegistryError};
    /// use failsafe_driver::BulkheadPolicy;
    /// let registry = Registry::new(1);
    /// let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    /// registry.register("db", pool.clone()).unwrap();
    /// assert_eq!(registry.register("db", pool.clone()), Err(RegistryError::Duplicate("db".into())));
    /// assert_eq!(registry.register("cache", pool), Err(RegistryError::Full { capacity: 1 }));
    /// ```
    pub fn register(&self, name: &str, policy: impl Control) -> Result<(), RegistryError> {
        let policy = Arc::new(policy);
        let mut handles = write(&self.handles);
        self.insert(name, Slot::Policy(policy.clone()))?;
        handles.insert(name.to_string(), policy);
        Ok(())
    }

    /// Registers a pipeline as `name`: its `stages` are policies registered
    /// on their own (change them by their names); the pipeline lists them
    /// with their states.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register), and [`RegistryError::NotFound`]
    /// for a stage not registered.
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Kind, Registry};
    /// use failsafe_driver::{BulkheadPolicy, CircuitBreakerPolicy};
    /// let registry = Registry::default();
    /// let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
    /// let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    /// registry.register("api.breaker", breaker).unwrap();
    /// registry.register("api.pool", pool).unwrap();
    /// registry.register_pipeline("api", &["api.breaker", "api.pool"]).unwrap();
    /// let api = registry.get("api").unwrap();
    /// assert_eq!(api.kind, Kind::Pipeline);
    /// assert_eq!(api.state["api.pool"]["kind"], "bulkhead");
    /// ```
    pub fn register_pipeline(&self, name: &str, stages: &[&str]) -> Result<(), RegistryError> {
        {
            let slots = read(&self.slots);
            for stage in stages {
                if !matches!(slots.get(*stage), Some(Slot::Policy(_))) {
                    return Err(RegistryError::NotFound((*stage).to_string()));
                }
            }
        }
        let stages = stages.iter().map(|s| (*s).to_string()).collect();
        self.insert(name, Slot::Pipeline(stages))
    }

    fn insert(&self, name: &str, slot: Slot) -> Result<(), RegistryError> {
        if !valid_name(name) {
            return Err(RegistryError::InvalidName(name.to_string()));
        }
        let mut slots = write(&self.slots);
        if slots.contains_key(name) {
            return Err(RegistryError::Duplicate(name.to_string()));
        }
        if slots.len() >= self.capacity {
            return Err(RegistryError::Full {
                capacity: self.capacity,
            });
        }
        slots.insert(name.to_string(), slot);
        Ok(())
    }

    /// Forgets `name`; returns whether it was registered. The policy itself
    /// carries on (the service holds its handle).
    pub fn unregister(&self, name: &str) -> bool {
        let mut handles = write(&self.handles);
        handles.remove(name);
        write(&self.slots).remove(name).is_some()
    }

    /// Calls `f` with every change applied from now on (several listeners
    /// may listen; each hears every change, in order). `f` runs on the
    /// caller's thread, after the change, while the registry holds its
    /// change lock: it must not change the registry itself (that would
    /// wait for ever); hand the event to a channel or a log instead.
    pub fn on_change(&self, f: impl Fn(&RegistryEvent) + Send + Sync + 'static) -> &Self {
        write(&self.listeners).push(Arc::new(f));
        self
    }

    /// The policy `name`: its kind, configuration and live state.
    pub fn get(&self, name: &str) -> Option<PolicyView> {
        let slot = read(&self.slots).get(name)?.clone();
        Some(self.view(name, &slot))
    }

    /// Every policy and pipeline, by name.
    pub fn list(&self) -> Vec<PolicyView> {
        let slots: Vec<(String, Slot)> = read(&self.slots)
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        slots.iter().map(|(n, s)| self.view(n, s)).collect()
    }

    fn view(&self, name: &str, slot: &Slot) -> PolicyView {
        match slot {
            Slot::Policy(p) => PolicyView {
                name: name.to_string(),
                kind: p.kind(),
                config: p.config(),
                state: p.state(),
            },
            Slot::Pipeline(stages) => {
                let mut state = Map::new();
                for stage in stages {
                    let entry = match self.policy(stage) {
                        Some(p) => serde_json::json!({"kind": p.kind(), "state": p.state()}),
                        None => Value::Null, // unregistered since
                    };
                    state.insert(stage.clone(), entry);
                }
                PolicyView {
                    name: name.to_string(),
                    kind: Kind::Pipeline,
                    config: serde_json::json!({ "stages": stages }),
                    state: Value::Object(state),
                }
            }
        }
    }

    fn policy(&self, name: &str) -> Option<Arc<dyn Control>> {
        match read(&self.slots).get(name)? {
            Slot::Policy(p) => Some(p.clone()),
            Slot::Pipeline(_) => None,
        }
    }

    /// Applies `change` to the policy `name`, keeping its state, and
    /// reports it to the listeners; returns the policy as it is after.
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`]; [`RegistryError::Change`] when the
    /// policy refuses the change (unsupported action, invalid value with
    /// the field named): nothing changed.
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Change, Registry};
    /// use failsafe_driver::BulkheadPolicy;
    /// let registry = Registry::default();
    /// let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    /// registry.register("db", pool.clone()).unwrap();
    /// registry.apply("db", Change::SetLimit { limit: 4 }).unwrap();
    /// assert_eq!(pool.limit(), 4);
    /// let e = registry.apply("db", Change::SetLimit { limit: 0 }).unwrap_err();
    /// assert_eq!(e.field(), Some("limit"));
    /// assert_eq!(pool.limit(), 4);
    /// ```
    pub fn apply(&self, name: &str, change: Change) -> Result<PolicyView, RegistryError> {
        // A change that takes effect elsewhere goes on there unawaited.
        let (policy, _settling) = self.run_change(name, change)?;
        Ok(self.view(name, &Slot::Policy(policy)))
    }

    /// [`apply`](Self::apply), then waiting for a change that takes
    /// effect elsewhere (a Redis breaker's `open`, which is a call to the
    /// shared store: [`Staged::settling`]) to take before it answers, so
    /// the view it returns shows the change. What the admin routes call.
    /// The listeners hear of the change when it is made, in order with
    /// every other, as with `apply` (an answer that never comes, or a
    /// caller that stops waiting, does not keep it from them).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); and [`RegistryError::NotApplied`] when
    /// the change was made but the place it takes effect did not confirm
    /// it (the store did not answer).
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Change, Registry};
    /// use failsafe_driver::BulkheadPolicy;
    /// # futures_lite::future::block_on(async {
    /// let registry = Registry::default();
    /// let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    /// registry.register("db", pool.clone()).unwrap();
    /// let view = registry.apply_settled("db", Change::SetLimit { limit: 4 }).await.unwrap();
    /// assert_eq!(view.config["max_concurrent"], 4);
    /// # });
    /// ```
    pub async fn apply_settled(
        &self,
        name: &str,
        change: Change,
    ) -> Result<PolicyView, RegistryError> {
        let (policy, settling) = self.run_change(name, change)?;
        if let Some(settling) = settling {
            settling
                .await
                .map_err(|message| RegistryError::NotApplied {
                    name: name.to_string(),
                    kind: policy.kind(),
                    message,
                })?;
        }
        Ok(self.view(name, &Slot::Policy(policy)))
    }

    /// Prepares and runs `change` on the policy `name` and tells the
    /// listeners, one change at a time (so events come out in the order
    /// the changes were made): the policy, and what the change still has
    /// on its way.
    fn run_change(
        &self,
        name: &str,
        change: Change,
    ) -> Result<(Arc<dyn Control>, Option<Settling>), RegistryError> {
        let _one_at_a_time = lock(&self.changing);
        let slot = read(&self.slots)
            .get(name)
            .cloned()
            .ok_or_else(|| RegistryError::NotFound(name.to_string()))?;
        let policy = match slot {
            Slot::Policy(p) => p,
            Slot::Pipeline(_) => {
                return Err(RegistryError::Change {
                    name: name.to_string(),
                    kind: Kind::Pipeline,
                    error: ChangeError::Unsupported {
                        action: change.action().to_string(),
                        field: None,
                    },
                });
            }
        };
        let staged = policy
            .prepare(&change)
            .map_err(|error| RegistryError::Change {
                name: name.to_string(),
                kind: policy.kind(),
                error,
            })?;
        let Some((at, settling)) = staged.run_settling() else {
            return Ok((policy, None)); // nothing to change: no event
        };
        self.report(RegistryEvent {
            name: name.to_string(),
            kind: policy.kind(),
            change,
            at,
            reload: false,
        });
        Ok((policy, settling))
    }

    /// Tells every listener; one that panics misses the event and nothing
    /// else (the change is made: the others must hear of it too).
    fn report(&self, event: RegistryEvent) {
        let listeners = read(&self.listeners).clone();
        for listener in listeners {
            crate::std_support::caught(|| listener(&event));
        }
    }
}

/// 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

// A panic in a listener or a policy must not lock the registry for good.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `value` as JSON; a value with no JSON form (none of the core's
/// configurations but a hedge's delay function) says so instead.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}
