//! Each pattern's std handle: an alias of [`Policy`] over its shared core
//! machine, plus the few operator methods that are the pattern's own.
//! Everything else (calls, guards, waiting, blocking) is [`Policy`]'s.

extern crate std;

use std::sync::Arc;

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, CircuitBreaker, CountWindow, State, Window,
};
use failsafe_core::bulkhead::{
    Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadMetrics, FixedLimit, LimitAlgorithm,
};
use failsafe_core::event::SharedObserver;
use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastEvent, FailFastMetrics};
use failsafe_core::rate::{AtomicGcra, KeyedGcra, Quota, RateEvent, Throttle};
use failsafe_core::sync::Shared;

use crate::{Clock, Hook, Policy, SharedHook, StdClock, StdLock};

/// A core machine behind a std mutex, shared by `Arc`.
pub type StdShared<M> = Arc<Shared<M, StdLock<M>>>;

impl<M: failsafe_core::admission::Admission, R: Clock> Policy<StdShared<M>, R> {
    /// Runs `f` on the machine, under its lock, at the runtime's now
    /// (operator actions, snapshots).
    pub fn with<T>(&self, f: impl FnOnce(&mut M, Instant) -> T) -> T {
        let now = self.runtime().now();
        self.shared().with(|m| f(m, now))
    }

    fn add_hook<E>(self, f: impl Fn(E) + Send + Sync + 'static) -> Self
    where
        M: HasHook<E>,
    {
        self.shared().with(|m| m.hook().add(f));
        self
    }

    fn add_observer<E>(self, o: impl SharedObserver<E> + Send + Sync + 'static) -> Self
    where
        M: HasHook<E>,
    {
        self.shared().with(|m| m.hook().add_observer(o));
        self
    }
}

/// A machine whose observer is a [`Hook`].
trait HasHook<E> {
    fn hook(&mut self) -> &mut Hook<E>;
}

impl<W: Window> HasHook<BreakerEvent> for CircuitBreaker<W, Hook<BreakerEvent>> {
    fn hook(&mut self) -> &mut Hook<BreakerEvent> {
        self.observer_mut()
    }
}

impl HasHook<FailFastEvent> for FailFast<Hook<FailFastEvent>> {
    fn hook(&mut self) -> &mut Hook<FailFastEvent> {
        self.observer_mut()
    }
}

impl<K: Eq + core::hash::Hash + Clone, const N: usize> HasHook<RateEvent>
    for Throttle<KeyedGcra<K, N>, Hook<RateEvent>>
{
    fn hook(&mut self) -> &mut Hook<RateEvent> {
        self.observer_mut()
    }
}

impl<const Q: usize, A: LimitAlgorithm> HasHook<BulkheadEvent>
    for Bulkhead<Q, Hook<BulkheadEvent>, A>
{
    fn hook(&mut self) -> &mut Hook<BulkheadEvent> {
        self.observer_mut()
    }
}

/// The circuit breaker's std handle (core machine: [`CircuitBreaker`]).
pub type CircuitBreakerPolicy<W = CountWindow<100>, R = StdClock> =
    Policy<StdShared<CircuitBreaker<W, Hook<BreakerEvent>>>, R>;

impl<W: Window, R: Clock> CircuitBreakerPolicy<W, R> {
    /// A closed breaker with `config` and `window`, on `runtime`.
    pub fn with_runtime(config: BreakerConfig, window: W, runtime: R) -> Self {
        let machine = CircuitBreaker::with_observer(config, window, Hook::none());
        Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), runtime)
    }

    /// A closed breaker with `config` and `window`, on the default runtime.
    pub fn new(config: BreakerConfig, window: W) -> Self
    where
        R: Default,
    {
        Self::with_runtime(config, window, R::default())
    }

    /// Adds `f` to the listeners of every [`BreakerEvent`] (earlier ones
    /// keep listening); `f` runs under the lock. Calls rejected on the
    /// lock-free path are counted there and reach `f` together, as one
    /// [`BreakerEvent::LockFreeRejections`], at the next locked operation
    /// (any call that reaches the breaker, an operator action,
    /// [`metrics`](Self::metrics) or [`flush_events`](Self::flush_events)).
    #[must_use]
    pub fn on_event(self, f: impl Fn(BreakerEvent) + Send + Sync + 'static) -> Self {
        self.add_hook(f)
    }

    /// Adds an observer of every [`BreakerEvent`] (a `TracingObserver`, a
    /// `MetricsObserver`), as [`on_event`](Self::on_event).
    #[must_use]
    pub fn observe(self, o: impl SharedObserver<BreakerEvent> + Send + Sync + 'static) -> Self {
        self.add_observer(o)
    }

    /// Reports the calls rejected on the lock-free path since the last
    /// locked operation to the listeners now (before a scrape, say).
    pub fn flush_events(&self) {
        self.with(|_, _| ())
    }

    /// The breaker's state, applying any transition that became due (an
    /// open wait that ended reads as half-open).
    pub fn state(&self) -> State {
        self.with(|b, now| {
            b.on_deadline(now);
            b.state()
        })
    }

    /// A snapshot of the counts and the state, lock-free rejections included.
    pub fn metrics(&self) -> BreakerMetrics {
        self.shared().metrics(self.runtime().now())
    }

    /// Opens the breaker now (its open wait starts).
    pub fn open(&self) {
        self.with(|b, now| b.open(now))
    }

    /// Closes the breaker now.
    pub fn close(&self) {
        self.with(|b, now| b.close(now))
    }

    /// Rejects every call until an operator closes or resets it.
    pub fn force_open(&self) {
        self.with(|b, now| b.force_open(now))
    }

    /// Admits every call and counts nothing.
    pub fn disable(&self) {
        self.with(|b, now| b.disable(now))
    }

    /// Admits and counts every call, never trips.
    pub fn metrics_only(&self) {
        self.with(|b, now| b.metrics_only(now))
    }

    /// Back to closed with empty counts.
    pub fn reset(&self) {
        self.shared().reset(self.runtime().now())
    }
}

/// Fail fast's std handle (core machine: [`FailFast`]).
pub type FailFastPolicy<R = StdClock> = Policy<StdShared<FailFast<Hook<FailFastEvent>>>, R>;

impl<R: Clock> FailFastPolicy<R> {
    /// A closed fail fast with `config`, on `runtime`.
    pub fn with_runtime(config: FailFastConfig, runtime: R) -> Self {
        let machine = FailFast::with_observer(config, Hook::none());
        Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), runtime)
    }

    /// A closed fail fast with `config`, on the default runtime.
    pub fn new(config: FailFastConfig) -> Self
    where
        R: Default,
    {
        Self::with_runtime(config, R::default())
    }

    /// Adds `f` to the listeners of every [`FailFastEvent`] (earlier ones
    /// keep listening); `f` runs under the lock. Lock-free rejections
    /// arrive together as [`FailFastEvent::LockFreeRejections`] at the next
    /// locked operation (see [`CircuitBreakerPolicy::on_event`]).
    #[must_use]
    pub fn on_event(self, f: impl Fn(FailFastEvent) + Send + Sync + 'static) -> Self {
        self.add_hook(f)
    }

    /// Adds an observer of every [`FailFastEvent`], as [`on_event`](Self::on_event).
    #[must_use]
    pub fn observe(self, o: impl SharedObserver<FailFastEvent> + Send + Sync + 'static) -> Self {
        self.add_observer(o)
    }

    /// Reports the calls rejected on the lock-free path since the last
    /// locked operation to the listeners now.
    pub fn flush_events(&self) {
        self.with(|_, _| ())
    }

    /// Reports the dependency healthy (closes it).
    pub fn report_healthy(&self) {
        self.with(|ff, now| ff.report_healthy(now))
    }

    /// Reports the dependency unhealthy (opens it).
    pub fn report_unhealthy(&self) {
        self.with(|ff, now| ff.report_unhealthy(now))
    }

    /// Opens it now.
    pub fn open(&self) {
        self.with(|ff, now| ff.open(now))
    }

    /// Closes it now.
    pub fn close(&self) {
        self.with(|ff, now| ff.close(now))
    }

    /// Back to closed with empty counts.
    pub fn reset(&self) {
        self.shared().reset(self.runtime().now())
    }

    /// Its state.
    pub fn state(&self) -> failsafe_core::failfast::State {
        self.with(|ff, _| ff.state())
    }

    /// A snapshot of its counts, lock-free rejections included.
    pub fn metrics(&self) -> FailFastMetrics {
        self.shared().metrics()
    }

    /// The shortest remaining deadline a call may have to be admitted.
    pub fn min_remaining(&self) -> Duration {
        self.with(|ff, _| ff.min_remaining())
    }
}

/// The bulkhead's std handle (core machine: [`Bulkhead`]), `Q` the queue's
/// capacity.
pub type BulkheadPolicy<const Q: usize = 64, A = FixedLimit, R = StdClock> =
    Policy<StdShared<Bulkhead<Q, Hook<BulkheadEvent>, A>>, R>;

impl<const Q: usize, R: Clock> BulkheadPolicy<Q, FixedLimit, R> {
    /// A bulkhead with a fixed limit, on `runtime`.
    pub fn with_runtime(config: BulkheadConfig, runtime: R) -> Self {
        let machine = Bulkhead::with_observer(config, Hook::none());
        Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), runtime)
    }

    /// A bulkhead with a fixed limit, on the default runtime.
    pub fn new(config: BulkheadConfig) -> Self
    where
        R: Default,
    {
        Self::with_runtime(config, R::default())
    }
}

impl<const Q: usize, A: LimitAlgorithm, R: Clock> BulkheadPolicy<Q, A, R> {
    /// A bulkhead whose limit `algorithm` adapts, on `runtime`.
    pub fn adaptive_with_runtime(config: BulkheadConfig, algorithm: A, runtime: R) -> Self {
        let machine = Bulkhead::with_parts(config, algorithm, Hook::none());
        Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), runtime)
    }

    /// A bulkhead whose limit `algorithm` adapts, on the default runtime.
    pub fn adaptive(config: BulkheadConfig, algorithm: A) -> Self
    where
        R: Default,
    {
        Self::adaptive_with_runtime(config, algorithm, R::default())
    }

    /// Adds `f` to the listeners of every [`BulkheadEvent`] (earlier ones
    /// keep listening); `f` runs under the lock.
    #[must_use]
    pub fn on_event(self, f: impl Fn(BulkheadEvent) + Send + Sync + 'static) -> Self {
        self.add_hook(f)
    }

    /// Adds an observer of every [`BulkheadEvent`], as [`on_event`](Self::on_event).
    #[must_use]
    pub fn observe(self, o: impl SharedObserver<BulkheadEvent> + Send + Sync + 'static) -> Self {
        self.add_observer(o)
    }

    /// Sets the limit within `[1, max_concurrent]` (the configured
    /// `max_concurrent` is the ceiling: asking more gives that); returns
    /// the new one. To move the ceiling itself (a fixed bulkhead's limit),
    /// [`change_config`](Self::change_config).
    pub fn set_limit(&self, limit: u32) -> u32 {
        self.with(|b, now| b.set_limit(now, limit))
    }

    /// Replaces the configuration (resilience4j's `changeConfig`; what the
    /// registry's `set_limit` and reload do): a fixed limit becomes the new
    /// `max_concurrent`, and raising it grants free slots to waiters at
    /// once ([`Bulkhead::change_config`](failsafe_core::bulkhead::Bulkhead::change_config)).
    /// Returns the limit in force afterwards.
    pub fn change_config(&self, config: BulkheadConfig) -> u32 {
        self.with(|b, now| b.change_config(now, config))
    }

    /// The current limit.
    pub fn limit(&self) -> u32 {
        self.with(|b, _| b.limit())
    }

    /// Calls holding a slot.
    pub fn in_flight(&self) -> u32 {
        self.with(|b, _| b.in_flight())
    }

    /// Calls waiting for a slot.
    pub fn queued(&self) -> usize {
        self.with(|b, _| b.queued())
    }

    /// A snapshot of its counts.
    pub fn metrics(&self) -> BulkheadMetrics {
        self.shared().metrics()
    }

    /// Its configuration.
    pub fn config(&self) -> BulkheadConfig {
        self.with(|b, _| *b.config())
    }
}

/// The lock-free rate limiter's std handle (core machine: [`AtomicGcra`]
/// in a [`Throttle`]). A caller waits up to [`DEFAULT_MAX_WAIT`] for its
/// permits: the machine's own wait, so the same through the handle, a
/// tower layer or a [`Pipeline`](crate::Pipeline); a handle's calls can be
/// told otherwise ([`Policy::with_max_wait`]), a pipeline's too
/// ([`Pipeline::max_wait`](crate::Pipeline::max_wait)).
pub type RateLimiterPolicy<R = StdClock> =
    Policy<Arc<Throttle<AtomicGcra, SharedHook<RateEvent>>>, R>;

/// How long a rate-limited caller waits for its permits by default: 5 s,
/// resilience4j's `timeoutDuration` default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

impl<R: Clock> RateLimiterPolicy<R> {
    /// A limiter at `quota`, full, on `runtime`.
    pub fn with_runtime(quota: Quota, runtime: R) -> Self {
        let limiter = Throttle::new(AtomicGcra::new(quota))
            .max_wait(DEFAULT_MAX_WAIT)
            .observe(SharedHook::none());
        Policy::new_shared(Arc::new(limiter), runtime)
    }

    /// Adds `f` to the listeners of every [`RateEvent`] (earlier ones keep
    /// listening). The limiter stays lock-free: `f` runs on the caller's
    /// thread, possibly on several at once. Handles cloned from this one
    /// share the listeners.
    #[must_use]
    pub fn on_event(self, f: impl Fn(RateEvent) + Send + Sync + 'static) -> Self {
        self.shared().observer().add(f);
        self
    }

    /// Adds an observer of every [`RateEvent`], as [`on_event`](Self::on_event).
    #[must_use]
    pub fn observe(self, o: impl SharedObserver<RateEvent> + Send + Sync + 'static) -> Self {
        self.shared().observer().add_observer(o);
        self
    }

    /// A limiter at `quota`, full, on the default runtime.
    pub fn new(quota: Quota) -> Self
    where
        R: Default,
    {
        Self::with_runtime(quota, R::default())
    }

    /// Changes the quota at run time, keeping the state.
    pub fn set_quota(&self, quota: Quota) {
        self.shared().limiter().set_quota(quota)
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.shared().limiter().quota()
    }

    /// Permits that could be taken now.
    pub fn available(&self) -> u32 {
        self.shared().limiter().available(self.runtime().now())
    }
}

/// The keyed rate limiter's std handle (core machine: [`KeyedGcra`], `N`
/// keys, idle keys evicted first).
pub type KeyedRateLimiterPolicy<K, const N: usize, R = StdClock> =
    Policy<StdShared<Throttle<KeyedGcra<K, N>, Hook<RateEvent>>>, R>;

impl<K: Eq + core::hash::Hash + Clone, const N: usize, R: Clock> KeyedRateLimiterPolicy<K, N, R> {
    /// A table of `N` keys, each at `quota`, on `runtime`. The hash is
    /// seeded at random, so clients cannot aim keys at one slot.
    pub fn with_runtime(quota: Quota, runtime: R) -> Self {
        Self::from_table(KeyedGcra::new(quota, crate::random_seed()), runtime)
    }

    /// A table of `N` keys, each at `quota`, on the default runtime.
    pub fn new(quota: Quota) -> Self
    where
        R: Default,
    {
        Self::with_runtime(quota, R::default())
    }

    /// A handle over a table built by hand (its seed, its `WhenFull`).
    pub fn from_table(table: KeyedGcra<K, N>, runtime: R) -> Self {
        Policy::new_shared(
            Arc::new(Shared::new(StdLock::new(
                Throttle::new(table).observe(Hook::none()),
            ))),
            runtime,
        )
    }

    /// Adds `f` to the listeners of every [`RateEvent`] (earlier ones keep
    /// listening); `f` runs under the lock.
    #[must_use]
    pub fn on_event(self, f: impl Fn(RateEvent) + Send + Sync + 'static) -> Self {
        self.add_hook(f)
    }

    /// Adds an observer of every [`RateEvent`], as [`on_event`](Self::on_event).
    #[must_use]
    pub fn observe(self, o: impl SharedObserver<RateEvent> + Send + Sync + 'static) -> Self {
        self.add_observer(o)
    }

    /// Changes every key's quota at run time.
    pub fn set_quota(&self, quota: Quota) {
        self.with(|t, _| t.limiter_mut().set_quota(quota))
    }

    /// Permits `key` could take now.
    pub fn available(&self, key: &K) -> u32 {
        self.with(|t, now| t.limiter().available(key, now))
    }

    /// Keys tracked.
    pub fn len(&self) -> usize {
        self.with(|t, _| t.limiter().len())
    }

    /// `true` if no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets keys idle long enough to be full again.
    pub fn forget_idle(&self) {
        self.with(|t, now| t.limiter_mut().forget_idle(now))
    }
}
