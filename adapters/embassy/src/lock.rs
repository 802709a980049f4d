//! A [`Lock`] over any embassy-sync [`RawMutex`], and its [`LockKind`].

use core::cell::RefCell;
use core::fmt;
use core::marker::PhantomData;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_driver::LockKind;
use failsafe_driver::sync::Lock;

/// A [`Lock`] over an embassy-sync blocking mutex: `CriticalSectionRawMutex`
/// (as `CsLock`), `ThreadModeRawMutex` (no interrupts) or `NoopRawMutex`
/// (one executor; not `Sync`). Never held across an `.await`; calling back
/// into the machine from inside [`with`](Lock::with) panics. Its kind is
/// [`EmbassyMutex<M>`](EmbassyMutex).
pub struct MutexLock<M, T> {
    inner: Mutex<M, RefCell<T>>,
}

impl<M: RawMutex, T> MutexLock<M, T> {
    /// Wraps `value`; `const`, for a `static`.
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
        f.debug_struct("MutexLock").finish_non_exhaustive()
    }
}

/// The lock kind of a [`MutexLock`] over the raw mutex `R`; never built.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex as Cs;
/// use failsafe_embassy::{BreakerConfig, CircuitBreaker, CircuitBreakerPolicy, EmbassyMutex, MutexLock, NoWindow, from_lock};
///
/// static SENSOR: CircuitBreakerPolicy<NoWindow, (), EmbassyMutex<Cs>> =
///     from_lock(MutexLock::new(CircuitBreaker::new(&BreakerConfig::DEFAULT, NoWindow)));
/// # let _ = &SENSOR;
/// ```
pub struct EmbassyMutex<R>(PhantomData<fn() -> R>);

impl<R: RawMutex> LockKind for EmbassyMutex<R> {
    type Lock<T> = MutexLock<R, T>;
}

impl<R> fmt::Debug for EmbassyMutex<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmbassyMutex")
    }
}

/// A lock names its own kind.
impl<R: RawMutex, U> LockKind for MutexLock<R, U> {
    type Lock<T> = MutexLock<R, T>;
}
