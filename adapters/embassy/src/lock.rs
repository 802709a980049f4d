//! A [`Lock`] over any embassy-sync [`RawMutex`].

use core::cell::RefCell;
use core::fmt;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_driver::sync::Lock;

/// A [`Lock`] over an embassy-sync blocking mutex of the raw mutex you
/// pick: `CriticalSectionRawMutex` (as [`CsLock`](failsafe_driver::sync::CsLock)),
/// `ThreadModeRawMutex` (no interrupts) or `NoopRawMutex` (one executor; not
/// `Sync`: keep it in a task). Never held across an `.await`; calling back
/// into the machine from inside [`with`](Lock::with) (an observer) panics.
/// In a policy: `from_lock(MutexLock::new(machine))`.
pub struct MutexLock<M, T> {
    inner: Mutex<M, RefCell<T>>,
}

impl<M: RawMutex, T> MutexLock<M, T> {
    /// Wraps `value`. `const`, so it fits in a `static` when `M` is `Sync`.
    pub const fn new(value: T) -> Self {
        MutexLock {
            inner: Mutex::new(RefCell::new(value)),
        }
    }
}

impl<M: RawMutex, T> Lock<T> for MutexLock<M, T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.inner.lock(|cell| f(&mut cell.borrow_mut()))
    }
}

impl<M, T> fmt::Debug for MutexLock<M, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value can only be read under the lock; do not take it here.
        f.debug_struct("MutexLock").finish_non_exhaustive()
    }
}
