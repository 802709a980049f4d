//! Each pattern's firmware handle: the driver's [`Policy`] over its core
//! machine, on [`EmbassyClock`], built by a `const fn` for a `static`.

use core::borrow::Borrow;
use core::hash::Hash;
use core::time::Duration;

use failsafe_driver::breaker::{BreakerConfig, CircuitBreaker, Window};
use failsafe_driver::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_driver::failfast::{FailFast, FailFastConfig};
use failsafe_driver::rate::{AtomicGcra, KeyedGcra, Quota, Throttle};
use failsafe_driver::retry_machine::NoBudget;
use failsafe_driver::sync::{CsLock, Shared, SharedAdmission};
use failsafe_driver::{
    Asks, Classify, CsKind, DefaultAsk, DefaultClassifier, Error, LockKind, Policy,
};

use crate::EmbassyClock;

/// Any core machine `M` behind lock `L` (a [`CsLock`] by default, or a
/// [`MutexLock`](crate::MutexLock), or any [`Lock`](crate::Lock)); built by
/// [`from_lock`]. The pattern aliases below take a [`LockKind`] instead,
/// so the machine is not named twice.
///
/// A `static` handle carries no per-call [`Ask`](failsafe_driver::Ask)
/// ([`DefaultAsk`]: every call asks the default); `by_ref()` and the
/// `with_*` methods give a handle that does.
pub type LockedPolicy<M, L = CsLock<M>> = Policy<Shared<M, L>, EmbassyClock, DefaultAsk>;

/// A circuit breaker (core machine: [`CircuitBreaker`], window `W`,
/// observer `O`, lock kind `K`: [`CsKind`] or an
/// [`EmbassyMutex`](crate::EmbassyMutex)); built by [`circuit_breaker`] or
/// [`from_lock`]. Its config `C` is a `&'static BreakerConfig` by default: a
/// `const` in flash, costing a pointer of RAM (80 B by value); or a
/// zero-sized [`const_config!`](crate::const_config) type: no RAM at all,
/// and the compiler folds the config into the breaker's code.
pub type CircuitBreakerPolicy<W, O = (), K = CsKind, C = &'static BreakerConfig> =
    LockedPolicy<StaticBreaker<W, O, C>, <K as LockKind>::Lock<StaticBreaker<W, O, C>>>;

/// The breaker machine of a [`CircuitBreakerPolicy`]: its config referenced
/// from flash (or a [`const_config!`](crate::const_config) type).
pub type StaticBreaker<W, O = (), C = &'static BreakerConfig> = CircuitBreaker<W, O, C>;

/// A fail fast; built by [`fail_fast`].
pub type FailFastPolicy<O = (), K = CsKind> =
    LockedPolicy<FailFast<O>, <K as LockKind>::Lock<FailFast<O>>>;

/// A bulkhead queueing up to `Q` tasks; built by [`bulkhead`].
pub type BulkheadPolicy<const Q: usize, O = (), A = FixedLimit, K = CsKind> =
    LockedPolicy<Bulkhead<Q, O, A>, <K as LockKind>::Lock<Bulkhead<Q, O, A>>>;

/// The lock-free rate limiter (core machine: [`AtomicGcra`] in a
/// [`Throttle`]); built by [`rate_limiter`]. Other limiters go behind a
/// lock: `LockedPolicy<Throttle<TokenBucket>>`, built by [`from_lock`].
pub type RateLimiterPolicy = Policy<Throttle<AtomicGcra>, EmbassyClock, DefaultAsk>;

/// A rate limiter per key (`N` keys, idle ones evicted first, lock kind
/// `L`); built by [`keyed_rate_limiter`].
pub type KeyedRateLimiterPolicy<K, const N: usize, L = CsKind> =
    LockedPolicy<Throttle<KeyedGcra<K, N>>, <L as LockKind>::Lock<Throttle<KeyedGcra<K, N>>>>;

/// Any machine inside `lock` (an observer, an adaptive limit, a
/// [`MutexLock`](crate::MutexLock)). A machine that is not fresh (opened by
/// hand) rejects through the lock until its first call.
///
/// ```
/// use failsafe_embassy::{from_lock, Aimd, Bulkhead, BulkheadConfig, BulkheadPolicy, CsLock};
/// const CONFIG: BulkheadConfig = failsafe_embassy::checked(BulkheadConfig::builder().max_concurrent(200).build());
/// static POOL: BulkheadPolicy<8, (), Aimd> = from_lock(CsLock::new(Bulkhead::adaptive(CONFIG, Aimd::DEFAULT)));
/// assert_eq!(POOL.shared().with(|b| b.limit()), 20);
/// ```
pub const fn from_lock<M, L>(lock: L) -> LockedPolicy<M, L> {
    Policy::new_static(Shared::new(lock), EmbassyClock)
}

/// A closed breaker behind a [`CsLock`], its config referenced (a `const`
/// stays in flash) or a [`const_config!`](crate::const_config) type. `const`.
///
/// ```
/// use failsafe_embassy::{checked, circuit_breaker, const_config, BreakerConfig, CircuitBreakerPolicy, CountWindow, CsKind};
/// const_config!(Sensor: BreakerConfig = checked(BreakerConfig::builder().minimum_calls(20).build()));
/// static SENSOR: CircuitBreakerPolicy<CountWindow<128>, (), CsKind, Sensor> =
///     circuit_breaker(Sensor, CountWindow::new());
/// # assert_eq!(SENSOR.shared().with(|b| *b.config()), Sensor::CONFIG);
/// ```
pub const fn circuit_breaker<W: Window, C: Borrow<BreakerConfig>>(
    config: C,
    window: W,
) -> CircuitBreakerPolicy<W, (), CsKind, C> {
    from_lock(CsLock::new(CircuitBreaker::new(config, window)))
}

/// A closed fail fast behind a [`CsLock`].
pub const fn fail_fast(config: FailFastConfig) -> FailFastPolicy {
    from_lock(CsLock::new(FailFast::new(config)))
}

/// A bulkhead with a fixed limit behind a [`CsLock`].
pub const fn bulkhead<const Q: usize>(config: BulkheadConfig) -> BulkheadPolicy<Q> {
    from_lock(CsLock::new(Bulkhead::new(config)))
}

/// A full GCRA limiter, a caller waiting up to `max_wait` for its permits
/// (zero: rejected at once with `retry_at`).
pub const fn rate_limiter(quota: Quota, max_wait: Duration) -> RateLimiterPolicy {
    let limiter = Throttle::new(AtomicGcra::new(quota)).max_wait(max_wait);
    Policy::new_static(limiter, EmbassyClock)
}

/// An empty table of `N` keys at `quota` behind a [`CsLock`], `seed` keying
/// the hash; a caller waits up to `max_wait` for its key's permit.
pub const fn keyed_rate_limiter<K: Eq + Hash + Clone, const N: usize>(
    quota: Quota,
    seed: u64,
    max_wait: Duration,
) -> KeyedRateLimiterPolicy<K, N> {
    let table = Throttle::new(KeyedGcra::new(quota, seed)).max_wait(max_wait);
    from_lock(CsLock::new(table))
}

/// The driver's [`Pipeline`](failsafe_driver::Pipeline) on [`EmbassyClock`].
pub type Pipeline<A, B = NoBudget, G = NoBudget, O = ()> =
    failsafe_driver::Pipeline<A, EmbassyClock, B, G, O>;

/// A `static` pipeline admitting through `admission` (a chain:
/// `(&BREAKER, &RADIO)`); add a retry and timeouts with its `const` methods.
///
/// ```
/// use failsafe_embassy::*;
/// static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&BreakerConfig::DEFAULT, NoWindow);
/// static RADIO: RateLimiterPolicy = rate_limiter(checked(Quota::per_second(10)), core::time::Duration::ZERO);
/// static UPLINK: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &RateLimiterPolicy)> =
///     pipeline((&BREAKER, &RADIO)).retry(checked(RetryConfig::builder().max_attempts(3).build()));
/// # let _ = &UPLINK;
/// ```
pub const fn pipeline<A>(admission: A) -> Pipeline<A> {
    failsafe_driver::Pipeline::with_admission(EmbassyClock, admission)
}

/// What a firmware policy adds to the driver's verbs.
pub trait EmbassyPolicy {
    /// The shared machine.
    type Shared: SharedAdmission;

    /// A handle borrowing this machine, its ask the default, to give a
    /// call its own: `LIMIT.by_ref().with_weight(3)`.
    fn by_ref(&self) -> Policy<&Self::Shared, EmbassyClock>;

    /// Runs `f` now if admitted now (an interrupt handler): never waits.
    /// `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        Self::Shared: SharedAdmission<Key = ()>,
        F: FnOnce() -> Result<T, E>;
}

impl<S: SharedAdmission, A: Asks> EmbassyPolicy for Policy<S, EmbassyClock, A> {
    type Shared = S;

    fn by_ref(&self) -> Policy<&S, EmbassyClock> {
        Policy::new_shared(self.shared(), EmbassyClock)
    }

    fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        S: SharedAdmission<Key = ()>,
        F: FnOnce() -> Result<T, E>,
    {
        let guard = self.try_acquire()?;
        let result = f();
        guard.finish(DefaultClassifier.classify(&result));
        result.map_err(Error::Inner)
    }
}
