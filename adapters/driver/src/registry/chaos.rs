//! [`ChaosSwitch`]: chaos injection in the registry.

use core::borrow::Borrow;

use failsafe_core::chaos::{Chaos, ChaosConfig};
use serde_json::{Value, json};

use super::change::parse;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::Clock;

/// A [`Chaos`] machine (shared with the
/// [`ChaosPolicy`](crate::chaos::ChaosPolicy) that injects through it: an
/// `Arc<Chaos>` or a `&'static Chaos`) and the clock its changes are dated
/// by, to register: an operator turns injection off (`disable`) and on
/// again (`enable`) at run time, for every caller at once. Its
/// configuration is fixed when it is built (`configure` accepts only the
/// one in force).
///
/// ```
/// use std::sync::Arc;
/// use failsafe_core::chaos::{Chaos, ChaosConfig, Rate, Schedule};
/// use failsafe_driver::registry::{Change, ChaosSwitch, Registry};
/// use failsafe_driver::StdClock;
///
/// let config = ChaosConfig::builder().error(Rate::percent(1), Schedule::Always).build().unwrap();
/// let chaos = Arc::new(Chaos::new(config));
/// let registry = Registry::default();
/// registry.register("chaos", ChaosSwitch::new(StdClock, chaos.clone())).unwrap();
/// registry.apply("chaos", Change::Disable).unwrap();
/// assert!(!chaos.is_enabled());
/// ```
#[derive(Debug)]
pub struct ChaosSwitch<C, S> {
    clock: C,
    chaos: S,
}

impl<C, S> ChaosSwitch<C, S> {
    /// `chaos`, its changes dated by `clock`.
    pub const fn new(clock: C, chaos: S) -> Self {
        ChaosSwitch { clock, chaos }
    }
}

impl<C, S> Control for ChaosSwitch<C, S>
where
    C: Clock + Send + Sync + 'static,
    S: Borrow<Chaos> + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::Chaos
    }

    /// The [`ChaosConfig`].
    fn config(&self) -> Value {
        to_json(self.chaos.borrow().config())
    }

    /// Whether it injects.
    fn state(&self) -> Value {
        json!({ "enabled": self.chaos.borrow().is_enabled() })
    }

    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let enabled = match change {
            Change::Enable => true,
            Change::Disable => false,
            Change::Configure { config } => {
                let config: ChaosConfig = parse(config)?;
                if config == *self.chaos.borrow().config() {
                    return Ok(Staged::unchanged());
                }
                return Err(ChangeError::Unsupported {
                    action: "configure".into(),
                    field: None,
                });
            }
            other => return Err(ChangeError::unsupported(other.action())),
        };
        Ok(Staged::new(move || {
            self.chaos.borrow().set_enabled(enabled);
            self.clock.now()
        }))
    }
}
