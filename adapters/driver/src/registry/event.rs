//! [`RegistryEvent`]: every change applied through the registry.

extern crate std;

use std::string::String;

use failsafe_core::Instant;

use super::change::Change;
use super::control::Kind;

/// A change the registry applied to the policy `name` (from
/// [`Registry::apply`](super::Registry::apply), an admin route or a reload,
/// which reports one [`Change::Configure`] per policy whose configuration
/// changed). Listeners registered with
/// [`Registry::on_change`](super::Registry::on_change) receive each one,
/// in the order the changes were applied. The policy's own observer also
/// hears what its machine reports (a breaker's `StateChanged`, a
/// bulkhead's `LimitChanged`, a flag's `Switched`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RegistryEvent {
    /// The policy's name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// What changed.
    pub change: Change,
    /// When it took effect, on the policy's clock.
    pub at: Instant,
    /// `true` when the change came from a reload.
    pub reload: bool,
}
