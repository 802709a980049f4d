//! What the std bindings (tokio, async-std, thread) share: a mutex lock, an
//! event hook and a std clock.

extern crate std;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use failsafe_core::event::SharedObserver;
use failsafe_core::sync::Lock;
use failsafe_core::{Instant, Observer};

use crate::Clock;

/// A [`Lock`] over `std::sync::Mutex`. A poisoned mutex is recovered, not
/// propagated: the machines stay consistent because they only call the
/// observer after updating themselves (and a [`Hook`] catches a listener's
/// panic before it reaches them).
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

/// A shared listener of `E`.
type Listener<E> = Arc<dyn Fn(E) + Send + Sync>;

/// An [`Observer`] that forwards every event to a list of shared closures
/// (or nowhere), in the order they were added: several listeners (a log, a
/// `tracing` bridge, `metrics`, a test's count) hear the same events. A
/// listener that panics misses that event only: its panic is caught (the
/// panic hook still reports it), so the machine and the call go on and
/// nothing it was handing out is lost.
/// Cloning shares the list; adding to a clone leaves the original as it
/// was. Calling through a shared reference ([`SharedObserver`]) works too,
/// so lock-free machines report to it.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use failsafe_driver::{Hook, Observer};
/// let seen = Arc::new(AtomicU32::new(0));
/// let (a, b) = (seen.clone(), seen.clone());
/// let mut hook = Hook::new(move |e: u32| { a.fetch_add(e, Ordering::Relaxed); })
///     .and(move |e: u32| { b.fetch_add(10 * e, Ordering::Relaxed); });
/// hook.on_event(1);
/// assert_eq!(seen.load(Ordering::Relaxed), 11);
/// assert_eq!(hook.len(), 2);
/// ```
pub struct Hook<E>(Option<Arc<[Listener<E>]>>);

impl<E> Hook<E> {
    /// Forwards every event to `f`.
    pub fn new(f: impl Fn(E) + Send + Sync + 'static) -> Self {
        Hook::none().and(f)
    }

    /// Forwards nothing.
    pub const fn none() -> Self {
        Hook(None)
    }

    /// The same listeners, and `f` after them.
    #[must_use]
    pub fn and(mut self, f: impl Fn(E) + Send + Sync + 'static) -> Self {
        self.add(f);
        self
    }

    /// Adds `f` after the listeners already there.
    pub fn add(&mut self, f: impl Fn(E) + Send + Sync + 'static) {
        let f: Listener<E> = Arc::new(f);
        self.0 = Some(match self.0.take() {
            None => Arc::from([f]),
            Some(list) => list.iter().cloned().chain(std::iter::once(f)).collect(),
        });
    }

    /// Adds an observer that takes `&self` (the `tracing` and `metrics`
    /// observers, a [`FnObserver`](failsafe_core::FnObserver) over `Fn`).
    pub fn add_observer(&mut self, observer: impl SharedObserver<E> + Send + Sync + 'static) {
        if !observer.is_silent() {
            self.add(move |e| observer.on_event(e));
        }
    }

    /// Listeners.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len())
    }

    /// `true` if nobody listens.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Removes every listener.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl<E: Clone> Hook<E> {
    #[inline]
    fn emit(&self, event: E) {
        if let Some(list) = &self.0
            && let [rest @ .., last] = &list[..]
        {
            for f in rest {
                caught(|| f(event.clone()));
            }
            caught(|| last(event));
        }
    }
}

/// Runs a user's listener `f`, catching its panic (the panic hook still
/// reports it): the listener misses this event and nothing else. The
/// machine calling it is in the middle of a decision, and unwinding through
/// it would lose what it was handing out (a bulkhead's slot, a probe's
/// place) or leave a lock poisoned.
#[inline]
pub(crate) fn caught(f: impl FnOnce()) {
    let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(heard);
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
        match &self.0 {
            None => f.write_str("Hook(none)"),
            Some(list) => write!(f, "Hook({} listeners)", list.len()),
        }
    }
}

impl<E: Clone> Observer<E> for Hook<E> {
    #[inline]
    fn on_event(&mut self, event: E) {
        self.emit(event)
    }

    #[inline]
    fn is_silent(&self) -> bool {
        self.0.is_none()
    }
}

impl<E: Clone> SharedObserver<E> for Hook<E> {
    #[inline]
    fn on_event(&self, event: E) {
        self.emit(event)
    }

    #[inline]
    fn is_silent(&self) -> bool {
        self.0.is_none()
    }
}

/// A [`Hook`] that listeners may join through a shared reference, for a
/// lock-free machine shared by `Arc` (the rate limiter's std handle). With
/// nobody listening, a call pays one relaxed load; with listeners, a read
/// lock per event. A listener must not add listeners to the hook it is
/// called from (the write lock would wait for its own read lock).
pub struct SharedHook<E> {
    any: AtomicBool,
    hook: RwLock<Hook<E>>,
}

impl<E> SharedHook<E> {
    /// Nobody listening.
    pub const fn none() -> Self {
        SharedHook {
            any: AtomicBool::new(false),
            hook: RwLock::new(Hook::none()),
        }
    }

    /// Adds `f` after the listeners already there.
    pub fn add(&self, f: impl Fn(E) + Send + Sync + 'static) {
        let mut hook = self.hook.write().unwrap_or_else(PoisonError::into_inner);
        hook.add(f);
        self.any.store(true, Ordering::Release);
    }

    /// Adds an observer that takes `&self`.
    pub fn add_observer(&self, observer: impl SharedObserver<E> + Send + Sync + 'static) {
        if !observer.is_silent() {
            self.add(move |e| observer.on_event(e));
        }
    }

    /// Listeners.
    pub fn len(&self) -> usize {
        self.hook
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// `true` if nobody listens.
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }
}

impl<E> Default for SharedHook<E> {
    fn default() -> Self {
        SharedHook::none()
    }
}

impl<E> fmt::Debug for SharedHook<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharedHook({} listeners)", self.len())
    }
}

impl<E: Clone> SharedObserver<E> for SharedHook<E> {
    #[inline]
    fn on_event(&self, event: E) {
        self.hook
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .emit(event)
    }

    #[inline]
    fn is_silent(&self) -> bool {
        !self.any.load(Ordering::Relaxed)
    }
}

/// `std::time::Instant` as core [`Instant`]s, measured from one process-wide
/// epoch (the first time any `StdClock` is read), so every handle in the
/// process agrees on `now`.
#[derive(Clone, Copy, Debug, Default)]
pub struct StdClock;

impl StdClock {
    /// The process-wide epoch.
    #[inline]
    pub fn epoch() -> std::time::Instant {
        static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
        *EPOCH.get_or_init(std::time::Instant::now)
    }

    /// Converts a std instant (saturating at the epoch).
    ///
    /// In `u64` arithmetic (seconds times 10^9 plus the nanoseconds,
    /// saturating), not through `Duration::as_nanos`'s `u128`: this runs on
    /// every clock read, so its cost is part of every decision that needs
    /// the time.
    #[inline]
    pub fn to_core(at: std::time::Instant) -> Instant {
        let since = at.saturating_duration_since(Self::epoch());
        Instant::from_nanos(
            since
                .as_secs()
                .saturating_mul(1_000_000_000)
                .saturating_add(u64::from(since.subsec_nanos())),
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

/// A random seed from std's random hash keys: a different one at each
/// call (a retry policy's jitter stream, a keyed table's hash keys).
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
