//! Each pattern's firmware handle: the driver's [`Policy`] over its core
//! machine, on [`EmbassyClock`], built by a `const fn` for a `static`.

use core::hash::Hash;
use core::time::Duration;

use failsafe_driver::breaker::{BreakerConfig, CircuitBreaker, Window};
use failsafe_driver::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_driver::failfast::{FailFast, FailFastConfig};
use failsafe_driver::rate::{AtomicGcra, KeyedGcra, Quota, Throttle};
use failsafe_driver::retry_machine::NoBudget;
use failsafe_driver::sync::{CsLock, Shared, SharedAdmission};
use failsafe_driver::{Classify, CsKind, DefaultClassifier, Error, LockKind, Policy};

use crate::EmbassyClock;

/// Any core machine `M` behind lock `L` (a [`CsLock`] by default); built by
/// [`from_lock`]. The aliases below take a [`LockKind`] `K` instead.
pub type LockedPolicy<M, L = CsLock<M>> = Policy<Shared<M, L>, EmbassyClock>;

/// A circuit breaker (window `W`, observer `O`), its config referenced
/// from flash (no RAM: 80 B otherwise); built by [`circuit_breaker`].
pub type CircuitBreakerPolicy<W, O = (), K = CsKind> =
    LockedPolicy<StaticBreaker<W, O>, <K as LockKind>::Lock<StaticBreaker<W, O>>>;

/// The breaker machine of a [`CircuitBreakerPolicy`].
pub type StaticBreaker<W, O = ()> = CircuitBreaker<W, O, &'static BreakerConfig>;

/// A fail fast; built by [`fail_fast`].
pub type FailFastPolicy<O = (), K = CsKind> =
    LockedPolicy<FailFast<O>, <K as LockKind>::Lock<FailFast<O>>>;

/// A bulkhead queueing up to `Q` tasks; built by [`bulkhead`].
pub type BulkheadPolicy<const Q: usize, O = (), A = FixedLimit, K = CsKind> =
    LockedPolicy<Bulkhead<Q, O, A>, <K as LockKind>::Lock<Bulkhead<Q, O, A>>>;

/// The lock-free GCRA rate limiter; built by [`rate_limiter`]. Other
/// limiters: `LockedPolicy<Throttle<TokenBucket>>`, by [`from_lock`].
pub type RateLimiterPolicy = Policy<Throttle<AtomicGcra>, EmbassyClock>;

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
    Policy::new_shared(Shared::new(lock), EmbassyClock)
}

/// A closed breaker behind a [`CsLock`].
pub const fn circuit_breaker<W: Window>(
    config: &'static BreakerConfig,
    window: W,
) -> CircuitBreakerPolicy<W> {
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
    Policy::new_shared(limiter, EmbassyClock)
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

impl<S: SharedAdmission> EmbassyPolicy for Policy<S, EmbassyClock> {
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
