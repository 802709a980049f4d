//! [`LockKind`]: a lock chosen once for a policy's type, whatever machine
//! it guards.

use failsafe_core::sync::{CsLock, Lock};

/// A kind of lock, chosen once for a policy: the lock around any machine
/// `T`, so a policy's type names the kind, not the machine a second time
/// (`CircuitBreakerPolicy<NoWindow, Obs, EmbassyMutex<CriticalSectionRawMutex>>`
/// in failsafe-embassy). [`CsKind`] is the default; a binding adds its
/// own (embassy's `EmbassyMutex`); a lock type is its own kind too, so the
/// full spelling names the same type.
///
/// ```
/// use failsafe_driver::sync::CsLock;
/// use failsafe_driver::{CsKind, LockKind};
///
/// let lock: <CsKind as LockKind>::Lock<u32> = CsLock::new(7);
/// let _same: <CsLock<()> as LockKind>::Lock<u32> = lock;
/// ```
pub trait LockKind {
    /// This kind's lock around a `T`.
    type Lock<T>: Lock<T>;
}

/// The default lock kind: [`CsLock`] (a critical section around a `RefCell`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CsKind;

impl LockKind for CsKind {
    type Lock<T> = CsLock<T>;
}

/// A lock names its own kind: the spelling before lock kinds.
impl<U> LockKind for CsLock<U> {
    type Lock<T> = CsLock<T>;
}
