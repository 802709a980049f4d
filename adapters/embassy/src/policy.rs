//! Each pattern's firmware handle: the driver's [`Policy`] over its core
//! machine shared in a `static` ([`Shared`] behind a lock, or the lock-free
//! [`Throttle<AtomicGcra>`]), on [`EmbassyClock`]. The verbs are the
//! driver's (`call`, `call_with`, `try_acquire`, `acquire`, ...); the
//! constructors here are `const fn`s, so a policy is a `static`.

use core::hash::Hash;
use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, Window};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_core::failfast::{FailFast, FailFastConfig};
use failsafe_core::rate::{AtomicGcra, KeyedGcra, Quota, Throttle};
use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
use failsafe_driver::{Classify, DefaultClassifier, Error, Policy};

use crate::EmbassyClock;

/// Any core machine `M` behind lock `L` (a [`CsLock`] by default, or a
/// [`MutexLock`](crate::MutexLock)), as a firmware policy: built by
/// [`from_lock`].
pub type LockedPolicy<M, L = CsLock<M>> = Policy<Shared<M, L>, EmbassyClock>;

/// A circuit breaker in a `static` (core machine: [`CircuitBreaker`],
/// window `W`, observer `O`); built by [`circuit_breaker`] or [`from_lock`].
pub type CircuitBreakerPolicy<W, O = (), L = CsLock<CircuitBreaker<W, O>>> =
    LockedPolicy<CircuitBreaker<W, O>, L>;

/// A fail fast in a `static` (core machine: [`FailFast`]); built by
/// [`fail_fast`] or [`from_lock`].
pub type FailFastPolicy<O = (), L = CsLock<FailFast<O>>> = LockedPolicy<FailFast<O>, L>;

/// A bulkhead in a `static` (core machine: [`Bulkhead`], a queue of `Q`
/// tasks); built by [`bulkhead`] or [`from_lock`].
pub type BulkheadPolicy<const Q: usize, O = (), A = FixedLimit, L = CsLock<Bulkhead<Q, O, A>>> =
    LockedPolicy<Bulkhead<Q, O, A>, L>;

/// The lock-free rate limiter in a `static` (core machine: [`AtomicGcra`]
/// in a [`Throttle`]): one atomic word, no lock on any path; built by
/// [`rate_limiter`]. Other limiters (a token bucket, a window) go behind a
/// lock: `LockedPolicy<Throttle<TokenBucket>>`, built by [`from_lock`].
pub type RateLimiterPolicy = Policy<Throttle<AtomicGcra>, EmbassyClock>;

/// A rate limiter per key (core machine: [`KeyedGcra`], `N` keys, idle ones
/// evicted first); built by [`keyed_rate_limiter`] or [`from_lock`].
pub type KeyedRateLimiterPolicy<K, const N: usize, L = CsLock<Throttle<KeyedGcra<K, N>>>> =
    LockedPolicy<Throttle<KeyedGcra<K, N>>, L>;

/// Any machine inside `lock`, whatever the lock (an observer, an adaptive
/// limit, a [`MutexLock`](crate::MutexLock), a fresh machine of any kind).
/// `const`. A machine that is not fresh (opened by hand) is handled
/// correctly, but rejects through the lock until its first call.
///
/// ```
/// use failsafe_embassy::{from_lock, Aimd, Bulkhead, BulkheadConfig, BulkheadPolicy, CsLock};
/// const CONFIG: BulkheadConfig = BulkheadConfig::builder().max_concurrent(200).build_or_panic();
/// static POOL: BulkheadPolicy<8, (), Aimd> = from_lock(CsLock::new(Bulkhead::adaptive(CONFIG, Aimd::DEFAULT)));
/// assert_eq!(POOL.shared().with(|b| b.limit()), 20);
/// ```
pub const fn from_lock<M, L>(lock: L) -> LockedPolicy<M, L> {
    Policy::new_shared(Shared::new(lock), EmbassyClock)
}

/// A closed breaker with `config` and `window` behind a [`CsLock`]. `const`.
pub const fn circuit_breaker<W: Window>(
    config: BreakerConfig,
    window: W,
) -> CircuitBreakerPolicy<W> {
    from_lock(CsLock::new(CircuitBreaker::new(config, window)))
}

/// A closed fail fast with `config` behind a [`CsLock`]. `const`.
pub const fn fail_fast(config: FailFastConfig) -> FailFastPolicy {
    from_lock(CsLock::new(FailFast::new(config)))
}

/// A bulkhead with `config` (a fixed limit) behind a [`CsLock`]. `const`.
pub const fn bulkhead<const Q: usize>(config: BulkheadConfig) -> BulkheadPolicy<Q> {
    from_lock(CsLock::new(Bulkhead::new(config)))
}

/// A full GCRA limiter at `quota`, a caller waiting up to `max_wait` for
/// its permits (zero: rejected at once with `retry_at`). `const`.
pub const fn rate_limiter(quota: Quota, max_wait: Duration) -> RateLimiterPolicy {
    Policy::new_shared(
        Throttle::new(AtomicGcra::new(quota)).max_wait(max_wait),
        EmbassyClock,
    )
}

/// An empty table of `N` keys, each at `quota`, behind a [`CsLock`];
/// `seed` keys the hash (mix in something per device where keys come from
/// untrusted peers); a caller waits up to `max_wait` for its key's next
/// permit, asking again at its `retry_at`. `const`.
pub const fn keyed_rate_limiter<K: Eq + Hash + Clone, const N: usize>(
    quota: Quota,
    seed: u64,
    max_wait: Duration,
) -> KeyedRateLimiterPolicy<K, N> {
    from_lock(CsLock::new(
        Throttle::new(KeyedGcra::new(quota, seed)).max_wait(max_wait),
    ))
}

/// What a firmware policy adds to the driver's verbs.
pub trait EmbassyPolicy {
    /// The shared machine.
    type Shared: SharedAdmission;

    /// A handle borrowing this policy's machine, for one call's own
    /// [`Ask`](failsafe_driver::Ask): `LIMIT.by_ref().with_weight(3).call(..)`,
    /// `LINK.by_ref().with_deadline(d).try_acquire()`.
    fn by_ref(&self) -> Policy<&Self::Shared, EmbassyClock>;

    /// Runs `f` on the spot if the machine admits the call now (interrupt
    /// handlers, busy-wait drivers): never waits, a machine that would make
    /// the call wait rejects it (as `try_acquire`). `Err` counts as a
    /// failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        Self::Shared: SharedAdmission<Key = ()>,
        F: FnOnce() -> Result<T, E>,
    {
        self.call_blocking_with(&DefaultClassifier, f)
    }

    /// [`call_blocking`](Self::call_blocking) with `classify` deciding the
    /// outcome.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        Self::Shared: SharedAdmission<Key = ()>,
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>;
}

impl<S: SharedAdmission> EmbassyPolicy for Policy<S, EmbassyClock> {
    type Shared = S;

    fn by_ref(&self) -> Policy<&S, EmbassyClock> {
        let ask = self.ask();
        let policy = Policy::new_shared(self.shared(), EmbassyClock).with_deadline(ask.deadline);
        let policy = policy.with_weight(ask.weight);
        match ask.max_wait {
            Some(max_wait) => policy.with_max_wait(max_wait),
            None => policy,
        }
    }

    fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        S: SharedAdmission<Key = ()>,
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        let guard = self.try_acquire()?;
        let result = f();
        guard.finish(classify.classify(&result));
        result.map_err(Error::Inner)
    }
}
