//! Each pattern's firmware handle: the driver's [`Policy`] over its core
//! machine, on [`EmbassyClock`], built by a `const fn` for a `static`; and
//! a [`Lock`] over any embassy-sync [`RawMutex`], with its [`LockKind`].

use core::borrow::Borrow;
use core::cell::RefCell;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use core::time::Duration;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::RawMutex;

use failsafe_driver::breaker::{BreakerConfig, CircuitBreaker, NoCounters, Window};
use failsafe_driver::bulkhead::{Bulkhead, BulkheadConfig, FixedLimit};
use failsafe_driver::failfast::{FailFast, FailFastConfig};
use failsafe_driver::rate::{AtomicGcra, KeyedGcra, Quota, Throttle};
use failsafe_driver::retry_machine::NoBudget;
use failsafe_driver::sync::{CsLock, Lock, Shared, SharedAdmission};
use failsafe_driver::{
    Asks, Classify, CsKind, DefaultAsk, DefaultClassifier, Error, LockKind, Policy,
};

use crate::EmbassyClock;

/// Any core machine `M` behind lock `L` ([`CsLock`] by default, a
/// [`MutexLock`], any [`Lock`]), built by [`from_lock`]; the aliases below
/// take a [`LockKind`], naming the machine once. No per-call ask
/// ([`DefaultAsk`]; `by_ref()` and the `with_*` methods give one).
pub type LockedPolicy<M, L = CsLock<M>> = Policy<Shared<M, L>, EmbassyClock, DefaultAsk>;

/// A circuit breaker ([`CircuitBreaker`]: window `W`, observer `O`, lock
/// kind `K`, config `C`, counters `N`), built by [`circuit_breaker`] or
/// [`from_lock`]. `C`: a `&'static BreakerConfig` (a `const` in flash, a
/// pointer of RAM) or a zero-sized [`const_config!`](crate::const_config)
/// type (no RAM, folded into the code). `N`: [`NoCounters`] (24 B less RAM;
/// the metrics' `rejected`, `times_opened`, `stale_outcomes` read 0) or
/// [`Counters`](failsafe_driver::breaker::Counters), the machine from
/// `CircuitBreaker::new` through [`from_lock`].
pub type CircuitBreakerPolicy<W, O = (), K = CsKind, C = &'static BreakerConfig, N = NoCounters> =
    LockedPolicy<CircuitBreaker<W, O, C, N>, <K as LockKind>::Lock<CircuitBreaker<W, O, C, N>>>;

/// A fail fast; built by [`fail_fast`].
pub type FailFastPolicy<O = (), K = CsKind> =
    LockedPolicy<FailFast<O>, <K as LockKind>::Lock<FailFast<O>>>;

/// A bulkhead queueing up to `Q` tasks; built by [`bulkhead`].
pub type BulkheadPolicy<const Q: usize, O = (), A = FixedLimit, K = CsKind> =
    LockedPolicy<Bulkhead<Q, O, A>, <K as LockKind>::Lock<Bulkhead<Q, O, A>>>;

/// The lock-free GCRA limiter ([`AtomicGcra`] in a [`Throttle`]), built by
/// [`rate_limiter`]; others go behind a lock (`LockedPolicy<Throttle<TokenBucket>>`).
pub type RateLimiterPolicy = Policy<Throttle<AtomicGcra>, EmbassyClock, DefaultAsk>;

/// A rate limiter per key (`N` keys, idle ones evicted first, lock kind `L`).
pub type KeyedRateLimiterPolicy<K, const N: usize, L = CsKind> =
    LockedPolicy<Throttle<KeyedGcra<K, N>>, <L as LockKind>::Lock<Throttle<KeyedGcra<K, N>>>>;

/// Any machine inside `lock` (with an observer, an adaptive limit, in a
/// [`MutexLock`]); one not fresh (opened by hand) rejects until its first call.
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

/// A closed breaker behind a [`CsLock`] keeping no counts ([`NoCounters`]),
/// its config a `&'static` `const` or a [`const_config!`](crate::const_config) type.
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
    let breaker = CircuitBreaker::with_counters(config, window, (), NoCounters);
    from_lock(CsLock::new(breaker))
}

/// A closed fail fast behind a [`CsLock`].
pub const fn fail_fast(config: FailFastConfig) -> FailFastPolicy {
    from_lock(CsLock::new(FailFast::new(config)))
}

/// A bulkhead with a fixed limit behind a [`CsLock`].
pub const fn bulkhead<const Q: usize>(config: BulkheadConfig) -> BulkheadPolicy<Q> {
    from_lock(CsLock::new(Bulkhead::new(config)))
}

/// A GCRA limiter; a caller waits up to `max_wait` (zero: rejected with `retry_at`).
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

/// The driver's [`Pipeline`](failsafe_driver::Pipeline) on [`EmbassyClock`]:
/// admissions `A`, a retry budget `B` over `G`, retry and hedge observers
/// `O` and `H`, chaos `C`.
pub type Pipeline<A, B = NoBudget, G = NoBudget, O = (), H = (), C = ()> =
    failsafe_driver::Pipeline<A, EmbassyClock, B, G, O, H, C>;

/// A `static` pipeline admitting through `admission` (`(&BREAKER, &RADIO)`);
/// add a retry and timeouts with its `const` methods. One with a retry
/// budget, observers or chaos is built with the `const`
/// [`Pipeline::from_parts`](failsafe_driver::Pipeline::from_parts)
/// (`Pipeline::from_parts(EmbassyClock, (&BREAKER, &RADIO), &BUDGET,
/// DefmtObserver, (), ())`).
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

    /// A handle borrowing it, for a call's own ask: `LIMIT.by_ref().with_weight(3)`.
    fn by_ref(&self) -> Policy<&Self::Shared, EmbassyClock>;

    /// Runs `f` now if admitted now (an interrupt handler: never waits);
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

/// A [`Lock`] over an embassy-sync blocking mutex (`CriticalSectionRawMutex`
/// as `CsLock`, `ThreadModeRawMutex`: no interrupts, `NoopRawMutex`: one
/// executor, not `Sync`), of kind [`EmbassyMutex<M>`](EmbassyMutex). Never
/// held across an `.await`; calling into the machine from [`with`](Lock::with) panics.
pub struct MutexLock<M, T>(Mutex<M, RefCell<T>>);

impl<M: RawMutex, T> MutexLock<M, T> {
    /// Wraps `value`; `const`, for a `static`.
    pub const fn new(value: T) -> Self {
        MutexLock(Mutex::new(RefCell::new(value)))
    }
}

impl<M: RawMutex, T> Lock<T> for MutexLock<M, T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        self.0.lock(|cell| f(&mut cell.borrow_mut()))
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
/// use failsafe_embassy::{BreakerConfig, CircuitBreaker, CircuitBreakerPolicy, Counters, EmbassyMutex, MutexLock, NoWindow, from_lock};
/// // counting: `N` = `Counters`, a machine from `CircuitBreaker::new`
/// static SENSOR: CircuitBreakerPolicy<NoWindow, (), EmbassyMutex<Cs>, &BreakerConfig, Counters> =
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
