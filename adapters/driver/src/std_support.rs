//! What the std bindings (tokio, async-std, thread) share: a mutex lock, an
//! event hook and a std clock.

extern crate std;

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use failsafe_core::sync::Lock;
use failsafe_core::{Instant, Observer};

use crate::Clock;

/// A [`Lock`] over `std::sync::Mutex`. A poisoned mutex (an observer that
/// panicked) is recovered, not propagated: the machines stay consistent
/// because they only call the observer after updating themselves.
#[derive(Debug, Default)]
pub struct StdLock<T>(Mutex<T>);

impl<T> StdLock<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        StdLock(Mutex::new(value))
    }
}

impl<T> Lock<T> for StdLock<T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// An [`Observer`] that forwards events to a shared closure (or nowhere).
/// Use it to bridge to `tracing`, `metrics` or a test's log.
pub struct Hook<E>(Option<Arc<dyn Fn(E) + Send + Sync>>);

impl<E> Hook<E> {
    /// Forwards every event to `f`.
    pub fn new(f: impl Fn(E) + Send + Sync + 'static) -> Self {
        Hook(Some(Arc::new(f)))
    }

    /// Forwards nothing.
    pub const fn none() -> Self {
        Hook(None)
    }
}

impl<E> Default for Hook<E> {
    fn default() -> Self {
        Hook::none()
    }
}

impl<E> Clone for Hook<E> {
    fn clone(&self) -> Self {
        Hook(self.0.clone())
    }
}

impl<E> fmt::Debug for Hook<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Hook(set)"
        } else {
            "Hook(none)"
        })
    }
}

impl<E> Observer<E> for Hook<E> {
    #[inline]
    fn on_event(&mut self, event: E) {
        if let Some(f) = &self.0 {
            f(event)
        }
    }

    #[inline]
    fn is_silent(&self) -> bool {
        self.0.is_none()
    }
}

/// `std::time::Instant` as core [`Instant`]s, measured from one process-wide
/// epoch (the first time any `StdClock` is read), so every handle in the
/// process agrees on `now`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdClock;

impl StdClock {
    /// The process-wide epoch.
    pub fn epoch() -> std::time::Instant {
        static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
        *EPOCH.get_or_init(std::time::Instant::now)
    }

    /// Converts a std instant (saturating at the epoch).
    pub fn to_core(at: std::time::Instant) -> Instant {
        Instant::from_nanos(
            u64::try_from(at.saturating_duration_since(Self::epoch()).as_nanos())
                .unwrap_or(u64::MAX),
        )
    }

    /// Converts a core instant back to std (saturating far in the future).
    pub fn to_std(at: Instant) -> std::time::Instant {
        let epoch = Self::epoch();
        let since = std::time::Duration::from_nanos(at.as_nanos());
        epoch
            .checked_add(since)
            .unwrap_or_else(|| epoch + std::time::Duration::from_secs(86_400 * 365 * 100))
    }
}

impl Clock for StdClock {
    #[inline]
    fn now(&self) -> Instant {
        Self::to_core(std::time::Instant::now())
    }
}
