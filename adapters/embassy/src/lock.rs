//! A [`Lock`] over any embassy-sync [`RawMutex`].

use core::cell::RefCell;
use core::fmt;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_core::sync::Lock;

/// A [`Lock`] over an embassy-sync blocking mutex, so you pick the raw mutex:
///
/// - `NoopRawMutex`: no masking at all, for a breaker used from one executor
///   only. It is not `Sync`, so it cannot sit in a `static`: keep it in a
///   task, or in a `StaticCell`, and share `&` references between futures of
///   that executor.
/// - `CriticalSectionRawMutex`: the same guarantee as the default
///   [`CsLock`](failsafe_core::sync::CsLock), `static`-friendly.
/// - `ThreadModeRawMutex`: thread mode on Cortex-M only (no interrupts).
///
/// Like every lock here, it is held only for the breaker's bookkeeping, never
/// across an `.await`. Calling back into the same breaker from inside
/// [`with`](Lock::with) (e.g. from an observer) panics.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
/// use failsafe_embassy::failsafe_core::sync::Lock;
/// use failsafe_embassy::MutexLock;
///
/// let lock: MutexLock<NoopRawMutex, u32> = MutexLock::new(1);
/// lock.with(|n| *n += 1);
/// assert_eq!(lock.with(|n| *n), 2);
/// ```
pub struct MutexLock<M, T> {
    inner: Mutex<M, RefCell<T>>,
}

impl<M: RawMutex, T> MutexLock<M, T> {
    /// Wraps `value`. `const`, so it fits in a `static` when `M` is `Sync`.
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    /// use failsafe_embassy::MutexLock;
    ///
    /// static FLAG: MutexLock<CriticalSectionRawMutex, bool> = MutexLock::new(false);
    /// # let _ = &FLAG;
    /// ```
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
