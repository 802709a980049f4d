//! A [`Lock`] over any embassy-sync [`RawMutex`], and [`LockKind`]: a lock
//! chosen once for a policy's type.

use core::cell::RefCell;
use core::fmt;
use core::marker::PhantomData;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_driver::sync::{CsLock, Lock};

/// A [`Lock`] over an embassy-sync blocking mutex of the raw mutex you
/// pick: `CriticalSectionRawMutex` (as [`CsLock`](failsafe_driver::sync::CsLock)),
/// `ThreadModeRawMutex` (no interrupts) or `NoopRawMutex` (one executor; not
/// `Sync`: keep it in a task). Never held across an `.await`; calling back
/// into the machine from inside [`with`](Lock::with) (an observer) panics.
/// In a policy: `from_lock(MutexLock::new(machine))`, its type naming the
/// kind [`EmbassyMutex<M>`](EmbassyMutex).
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

/// A kind of lock, chosen once for a policy: a type constructor giving the
/// lock around any machine `T`, so a policy's type names the kind, not the
/// machine a second time: `CircuitBreakerPolicy<NoWindow, Obs,
/// EmbassyMutex<CriticalSectionRawMutex>>`. The kinds: [`CsKind`] (the
/// default, [`CsLock`]) and [`EmbassyMutex`] (a [`MutexLock`] over a raw
/// mutex). A lock type is its own kind too, so the full spelling
/// (`MutexLock<CriticalSectionRawMutex, CircuitBreaker<NoWindow, Obs>>`)
/// names the same type.
///
/// ```
/// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
/// use failsafe_embassy::{
///     BreakerConfig, BreakerEvent, CircuitBreaker, CircuitBreakerPolicy, EmbassyMutex, FnObserver,
///     MutexLock, NoWindow, from_lock,
/// };
///
/// type Log = FnObserver<fn(BreakerEvent)>;
/// const LOG: Log = FnObserver(|_event| {}); // defmt::info!("{}", event) here
///
/// static SENSOR: CircuitBreakerPolicy<NoWindow, Log, EmbassyMutex<CriticalSectionRawMutex>> =
///     from_lock(MutexLock::new(CircuitBreaker::with_observer(&BreakerConfig::DEFAULT, NoWindow, LOG)));
/// # let _ = &SENSOR;
/// ```
pub trait LockKind {
    /// This kind's lock around a `T`.
    type Lock<T>: Lock<T>;
}

/// The default lock kind: [`CsLock`], a critical section (interrupts
/// masked on a single-core Cortex-M) around a `RefCell`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CsKind;

impl LockKind for CsKind {
    type Lock<T> = CsLock<T>;
}

/// The lock kind of a [`MutexLock`] over the raw mutex `R`
/// (`CriticalSectionRawMutex`, `ThreadModeRawMutex`, `NoopRawMutex`). Only
/// a name in a type: never built.
pub struct EmbassyMutex<R>(PhantomData<fn() -> R>);

impl<R: RawMutex> LockKind for EmbassyMutex<R> {
    type Lock<T> = MutexLock<R, T>;
}

impl<R> fmt::Debug for EmbassyMutex<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmbassyMutex")
    }
}

/// A [`CsLock`] names its kind ([`CsKind`]): the spelling before lock kinds.
impl<U> LockKind for CsLock<U> {
    type Lock<T> = CsLock<T>;
}

/// A [`MutexLock`] names its kind ([`EmbassyMutex`]): the spelling before
/// lock kinds.
impl<R: RawMutex, U> LockKind for MutexLock<R, U> {
    type Lock<T> = MutexLock<R, T>;
}
