//! Handles back by name: [`Registry::handle`] and the process-wide
//! [`global`] registry, which the decorator's by-name form
//! (`#[policy(name = "payments", handle = H)]`) looks its handle up in.

extern crate std;

use std::any::Any;
use std::string::ToString;
use std::sync::{Arc, LazyLock};

use super::{Kind, Registry, RegistryError, Slot, read};

/// A registered policy's handle, kept to be called (the registry's views
/// go through [`Control`](super::Control)).
pub(super) type Callable = Arc<dyn Any + Send + Sync>;

static GLOBAL: LazyLock<Registry> = LazyLock::new(Registry::default);

/// The process-wide registry (of [`Registry::DEFAULT_CAPACITY`] names),
/// built at first use: the one the decorator's by-name form looks handles
/// up in unless told another (`registry = EXPR`).
///
/// ```
/// use failsafe_driver::prelude::*;
/// use failsafe_driver::registry;
/// use failsafe_driver::CircuitBreakerPolicy;
/// let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
/// registry::global().register("doc.global", breaker).unwrap();
/// assert!(core::ptr::eq(registry::global(), registry::global()));
/// assert!(registry::global().get("doc.global").is_some());
/// ```
pub fn global() -> &'static Registry {
    &GLOBAL
}

impl Registry {
    /// A clone of the handle registered as `name` with
    /// [`register`](Self::register), to call through: it shares the
    /// registered handle's state, so a change applied by name (an
    /// operator's `force_open`) is seen by its calls. `H` is the handle's
    /// exact type (`CircuitBreakerPolicy<CountWindow>`, `BulkheadPolicy`..).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] for a name not registered;
    /// [`RegistryError::WrongType`] for a name registered with another
    /// type, or as a pipeline (its stages are views, not a handle).
    ///
    /// ```
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Change, Registry, RegistryError};
    /// use failsafe_driver::{BulkheadPolicy, CircuitBreakerPolicy};
    /// let registry = Registry::default();
    /// let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
    /// registry.register("payments", breaker).unwrap();
    ///
    /// let payments = registry.handle::<CircuitBreakerPolicy>("payments").unwrap();
    /// registry.apply("payments", Change::ForceOpen).unwrap();
    /// assert_eq!(payments.state(), State::ForcedOpen);
    ///
    /// assert_eq!(registry.handle::<BulkheadPolicy>("search").unwrap_err(), RegistryError::NotFound("search".into()));
    /// assert!(matches!(registry.handle::<BulkheadPolicy>("payments"), Err(RegistryError::WrongType { .. })));
    /// ```
    pub fn handle<H: Clone + 'static>(&self, name: &str) -> Result<H, RegistryError> {
        let found = read(&self.handles).get(name).cloned();
        match found {
            Some(callable) => match callable.downcast_ref::<H>() {
                Some(handle) => Ok(handle.clone()),
                None => Err(self.wrong_type::<H>(name)),
            },
            None if read(&self.slots).contains_key(name) => Err(self.wrong_type::<H>(name)),
            None => Err(RegistryError::NotFound(name.to_string())),
        }
    }

    fn wrong_type<H>(&self, name: &str) -> RegistryError {
        let kind = match read(&self.slots).get(name) {
            Some(Slot::Policy(p)) => p.kind(),
            _ => Kind::Pipeline,
        };
        RegistryError::WrongType {
            name: name.to_string(),
            kind,
            expected: std::any::type_name::<H>(),
        }
    }
}
