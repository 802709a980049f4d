//! What the std adapters (tokio, async-std, thread) share: a mutex lock, an
//! event hook, a std clock and the cloneable [`Breaker`] handle.

extern crate std;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::{fmt, future::Future};

use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, CircuitBreaker, State, Window,
};
use failsafe_core::sync::{Lock, SharedBreaker};
use failsafe_core::{Instant, Observer, Outcome, Rejected, TimeSource};

use crate::{
    Classify, Clock, DefaultClassifier, Error, PermitGuard, SharedPolicy, call, call_blocking,
};

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

impl<P: SharedPolicy + ?Sized> SharedPolicy for Arc<P> {
    type Permit = P::Permit;
    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<Self::Permit, Rejected> {
        (**self).acquire(now)
    }
    #[inline]
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        (**self).record(now, permit, outcome)
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

/// The machine inside a [`Breaker`] handle.
pub type SharedStdBreaker<W> =
    SharedBreaker<W, Hook<BreakerEvent>, StdLock<CircuitBreaker<W, Hook<BreakerEvent>>>>;

/// A cloneable, `Send + Sync` circuit breaker for std code, reading clock `C`.
/// Clones share one breaker. The tokio, async-std and thread adapters are
/// this handle with their own clock.
///
/// While the breaker is open, calls are rejected after one atomic load,
/// without taking the lock.
pub struct Breaker<W, C> {
    shared: Arc<SharedStdBreaker<W>>,
    clock: C,
}

impl<W, C: Clone> Clone for Breaker<W, C> {
    fn clone(&self) -> Self {
        Breaker {
            shared: Arc::clone(&self.shared),
            clock: self.clock.clone(),
        }
    }
}

impl<W, C: fmt::Debug> fmt::Debug for Breaker<W, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<W: Window, C: Clock + Default> Breaker<W, C> {
    /// A closed breaker with `config` over `window`, on the default clock.
    pub fn new(config: BreakerConfig, window: W) -> Self {
        Self::with_clock(config, window, C::default())
    }
}

impl<W: Window, C: Clock> Breaker<W, C> {
    /// A closed breaker reading `clock`.
    pub fn with_clock(config: BreakerConfig, window: W, clock: C) -> Self {
        let machine = CircuitBreaker::with_observer(config, window, Hook::none());
        Breaker {
            shared: Arc::new(SharedBreaker::new(StdLock::new(machine))),
            clock,
        }
    }

    /// Sends every [`BreakerEvent`] to `f` (replacing any previous hook).
    /// Fast-path rejections while open are counted in
    /// [`metrics`](Self::metrics) but not sent.
    pub fn on_event(self, f: impl Fn(BreakerEvent) + Send + Sync + 'static) -> Self {
        self.shared.with(|b| *b.observer_mut() = Hook::new(f));
        self
    }

    /// Runs `f` through the breaker; `Err` counts as a failure.
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        call(&*self.shared, &self.clock, &DefaultClassifier, f).await
    }

    /// Runs `f` through the breaker; `classify` decides what counts.
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        call(&*self.shared, &self.clock, classify, f).await
    }

    /// Runs blocking `f` through the breaker; `Err` counts as a failure.
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        call_blocking(&*self.shared, &self.clock, &DefaultClassifier, f)
    }

    /// Runs blocking `f` through the breaker; `classify` decides what counts.
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        call_blocking(&*self.shared, &self.clock, classify, f)
    }

    /// A permit guard that owns a handle to this breaker (for futures that
    /// must be `'static`, such as a tower service's).
    pub fn acquire(&self) -> Result<PermitGuard<Arc<SharedStdBreaker<W>>, C>, Rejected>
    where
        C: Clone,
    {
        PermitGuard::acquire(Arc::clone(&self.shared), self.clock.clone())
    }

    /// The current state (applying any transition that became due).
    pub fn state(&self) -> State {
        let now = self.clock.now();
        self.shared.with(|b| {
            b.on_deadline(now);
            b.state()
        })
    }

    /// A snapshot of state and window.
    pub fn metrics(&self) -> BreakerMetrics {
        self.shared.metrics(self.clock.now())
    }

    /// Opens now, as if tripped.
    pub fn open(&self) {
        let now = self.clock.now();
        self.shared.with(|b| b.open(now))
    }

    /// Closes now.
    pub fn close(&self) {
        let now = self.clock.now();
        self.shared.with(|b| b.close(now))
    }

    /// Rejects everything until closed.
    pub fn force_open(&self) {
        let now = self.clock.now();
        self.shared.with(|b| b.force_open(now))
    }

    /// Admits everything, counts nothing.
    pub fn disable(&self) {
        let now = self.clock.now();
        self.shared.with(|b| b.disable(now))
    }

    /// Admits and counts everything, never trips.
    pub fn metrics_only(&self) {
        let now = self.clock.now();
        self.shared.with(|b| b.metrics_only(now))
    }

    /// Closes and zeroes every counter.
    pub fn reset(&self) {
        self.shared.reset(self.clock.now())
    }

    /// The clock this handle reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The shared machine, for anything the handle does not wrap.
    pub fn shared(&self) -> &Arc<SharedStdBreaker<W>> {
        &self.shared
    }
}
