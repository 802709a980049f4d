//! A [`Lock`] over any embassy-sync [`RawMutex`].

use core::cell::RefCell;
use core::fmt;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_core::sync::Lock;

/// A [`Lock`] over an embassy-sync blocking mutex, so you pick the raw mutex:
/// `CriticalSectionRawMutex` (as the default [`CsLock`](failsafe_core::sync::CsLock)),
/// `ThreadModeRawMutex` (thread mode only, no interrupts) or `NoopRawMutex`
/// (one executor; not `Sync`, so not in a `static`: keep it in a task and
/// share `&` references). Held only for a machine's bookkeeping, never
/// across an `.await`; calling back into the same machine from inside
/// [`with`](Lock::with) (an observer) panics.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
/// use failsafe_embassy::{from_lock, CircuitBreaker, CircuitBreakerPolicy, BreakerConfig, MutexLock, NoWindow};
///
/// type Local = CircuitBreakerPolicy<NoWindow, (), MutexLock<NoopRawMutex, CircuitBreaker<NoWindow>>>;
/// let local: Local = from_lock(MutexLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
/// # futures_lite::future::block_on(async {
/// assert_eq!(local.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
/// # });
/// ```
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
