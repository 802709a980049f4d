//! Handles back by name: [`Registry::handle`] and the process-wide
//! [`global`] registry, which the decorator's by-name form
//! (`#[policy(name = "payments", handle = H)]`) looks its handle up in.

extern crate std;

use std::any::Any;
use std::string::ToString;
use std::sync::{Arc, LazyLock};

use super::{Kind, Registry, RegistryError, Slot, read, write};

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
    /// [`register`](Self::register) (or
    /// [`register_pipeline_handle`](Self::register_pipeline_handle)), to
    /// call through: it shares the
    /// registered handle's state, so a change applied by name (an
    /// operator's `force_open`) is seen by its calls. `H` is the handle's
    /// exact type (`CircuitBreakerPolicy<CountWindow>`, `BulkheadPolicy`..).
    ///
    /// # Errors
    ///
    /// [`RegistryError::NotFound`] for a name not registered;
    /// [`RegistryError::WrongType`] for a name registered with another
    /// type, or as a pipeline without its handle
    /// ([`register_pipeline`](Self::register_pipeline) keeps only its
    /// stages' names; [`register_pipeline_handle`](Self::register_pipeline_handle)
    /// keeps the handle too).
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

    /// Registers a pipeline as `name`, as
    /// [`register_pipeline`](Self::register_pipeline) does (its `stages`
    /// registered on their own, listed with their states), and keeps
    /// `pipeline`, the handle the service calls through, to be taken back
    /// with [`handle`](Self::handle) (the decorator's
    /// `#[policy(pipeline = "name", handle = TYPE)]`). A `Pipeline` is not
    /// `Clone`: keep it in an `Arc` (`handle::<Arc<Pipeline<..>>>`), which
    /// calls as the pipeline does.
    ///
    /// # Errors
    ///
    /// As [`register_pipeline`](Self::register_pipeline).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use failsafe_driver::prelude::*;
    /// use failsafe_driver::registry::{Change, Registry};
    /// use failsafe_driver::{CircuitBreakerPolicy, Pipeline, StdClock};
    /// let registry = Registry::default();
    /// let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
    /// registry.register("api.breaker", breaker.clone()).unwrap();
    /// let api = Arc::new(Pipeline::with_admission(StdClock, breaker));
    /// registry.register_pipeline_handle("api", &["api.breaker"], api).unwrap();
    ///
    /// let api = registry.handle::<Arc<Pipeline<CircuitBreakerPolicy, StdClock>>>("api").unwrap();
    /// registry.apply("api.breaker", Change::ForceOpen).unwrap();
    /// assert!(api.call_blocking(|_| Ok::<_, ()>(())).is_err());
    /// ```
    pub fn register_pipeline_handle<H: Clone + Send + Sync + 'static>(
        &self,
        name: &str,
        stages: &[&str],
        pipeline: H,
    ) -> Result<(), RegistryError> {
        let mut handles = write(&self.handles);
        self.register_pipeline(name, stages)?;
        handles.insert(name.to_string(), Arc::new(pipeline));
        Ok(())
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
