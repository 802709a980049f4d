//! Retries, timeouts and fallbacks in firmware: the driver's loops on
//! [`EmbassyClock`], with a retry policy's state in `static`s.

use core::fmt;
use core::future::Future;

use failsafe_core::fallback::{FallbackPolicy, FallbackReason};
use failsafe_core::retry::{NoBudget, RetryBudget, RetryConfig, RetryEvent};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_core::{ConfigError, Observer};
use failsafe_driver::RetryOnErr;
use failsafe_driver::{Attempt, Error, FallbackCause, RetryClassify, RetryContext, RetryError};

use crate::EmbassyClock;

/// Unwraps a configuration in a `const` (or panics naming the bad field), so
/// a bad value is a build error: [`RetryConfig`]'s builder,
/// [`TimeoutConfig::new`], `TokenQuota::new`, `TokenBucket::new`.
///
/// ```compile_fail,E0080
/// use failsafe_embassy::{config_or_panic, RetryConfig};
/// const RETRY: RetryConfig = config_or_panic(RetryConfig::builder().max_attempts(0).build());
/// ```
pub const fn config_or_panic<T: Copy>(result: Result<T, ConfigError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{}", e.field),
    }
}

/// A retry policy in a `static`: its [`RetryConfig`], a retry budget `L`
/// shared by reference (a [`CsLock`] around a `TokenQuota` in a `static`;
/// [`NoBudget`] by default), a seeded [`Xorshift64`] giving each call a
/// jitter generator of its own, and a `Clone` observer `O` of
/// [`RetryEvent`]s. The loop is [`failsafe_driver::retry`] on embassy-time;
/// dropping a call's future stops its retries.
///
/// ```
/// use failsafe_embassy::{config_or_panic, CsLock, RetryConfig, RetryPolicy, TokenQuota};
/// const CONFIG: RetryConfig = config_or_panic(RetryConfig::builder().max_attempts(4).build());
/// static BUS: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
/// static READ: RetryPolicy<CsLock<TokenQuota>> = RetryPolicy::new(CONFIG, 1).with_budget(&BUS);
/// # futures_lite::future::block_on(async {
/// assert_eq!(READ.run(|_attempt| async { Ok::<_, ()>(7) }).await, Ok(7));
/// # });
/// ```
pub struct RetryPolicy<'a, L = NoBudget, O = ()> {
    config: RetryConfig,
    budget: &'a L,
    rng: CsLock<Xorshift64>,
    observer: O,
}

impl RetryPolicy<'static> {
    /// `config`, no budget, no observer, jitter seeded with `seed`. `const`.
    /// Devices built from one image share the seed: [`reseed`](Self::reseed)
    /// at boot, or a fleet retries in lockstep after a shared outage.
    pub const fn new(config: RetryConfig, seed: u64) -> Self {
        let rng = CsLock::new(Xorshift64::new(seed));
        RetryPolicy {
            config,
            budget: &NoBudget,
            rng,
            observer: (),
        }
    }
}

impl<'a, L> RetryPolicy<'a, L> {
    /// The same policy reporting to `observer` (cloned per call; it runs
    /// inside the budget's lock: keep it short). `const`.
    pub const fn with_observer<P>(self, observer: P) -> RetryPolicy<'a, L, P> {
        let RetryPolicy {
            config,
            budget,
            rng,
            observer: (),
        } = self;
        RetryPolicy {
            config,
            budget,
            rng,
            observer,
        }
    }
}

impl<'a, L, O: Copy> RetryPolicy<'a, L, O> {
    /// The same policy drawing on `budget` (any [`Lock`] around a
    /// [`RetryBudget`]). `const` (hence `O: Copy`; any observer works when
    /// `with_budget` comes first).
    pub const fn with_budget<'b, M>(self, budget: &'b M) -> RetryPolicy<'b, M, O> {
        let RetryPolicy {
            config,
            rng,
            observer,
            ..
        } = self;
        RetryPolicy {
            config,
            budget,
            rng,
            observer,
        }
    }
}

impl<'a, L, O> RetryPolicy<'a, L, O> {
    /// The configuration.
    pub const fn config(&self) -> RetryConfig {
        self.config
    }

    /// The shared budget.
    pub const fn budget(&self) -> &'a L {
        self.budget
    }

    /// Restarts the jitter generator from `seed` (a hardware RNG, the chip's
    /// unique ID); calls already running keep theirs.
    pub fn reseed(&self, seed: u64) {
        self.rng.with(|rng| *rng = Xorshift64::new(seed));
    }
}

impl<L, O: Observer<RetryEvent> + Clone> RetryPolicy<'_, L, O> {
    /// Runs `op` (given its [`Attempt`]) until `Ok` or the policy gives up;
    /// every `Err` is retried.
    ///
    /// # Errors
    ///
    /// A [`RetryError`]: why it gave up, after how many attempts, the last error.
    pub async fn run<G, F, Fut, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        L: Lock<G>,
        G: RetryBudget,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_within(Deadline::NEVER, &RetryOnErr, op).await
    }

    /// [`run`](Self::run) with `classify` deciding what retries (a closure
    /// returning a `Verdict`, or `RetryOnFailsafeError` around a breaker or
    /// a timeout).
    ///
    /// # Errors
    ///
    /// A [`RetryError`].
    pub async fn run_with<G, K, F, Fut, T, E>(
        &self,
        classify: &K,
        op: F,
    ) -> Result<T, RetryError<E>>
    where
        L: Lock<G>,
        G: RetryBudget,
        K: RetryClassify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_within(Deadline::NEVER, classify, op).await
    }

    /// [`run_with`](Self::run_with) inside the caller's `deadline`: no retry
    /// starts at or after it (gives up with `GiveUp::Deadline` instead of
    /// sleeping into it); each [`Attempt`] carries it, to hand down.
    ///
    /// # Errors
    ///
    /// A [`RetryError`].
    pub async fn run_within<G, K, F, Fut, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        op: F,
    ) -> Result<T, RetryError<E>>
    where
        L: Lock<G>,
        G: RetryBudget,
        K: RetryClassify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let rng = Xorshift64::new(self.rng.with(|rng| rng.next_u64()));
        let (config, budget, observer) = (self.config, self.budget, self.observer.clone());
        let ctx = RetryContext {
            config,
            deadline,
            budget,
            rng,
            observer,
        };
        failsafe_driver::retry(&EmbassyClock, ctx, classify, op).await
    }
}

impl<L, O> fmt::Debug for RetryPolicy<'_, L, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Runs `op` with a timeout on embassy-time: `op` gets the call's
/// [`Deadline`] (`now + timeout`, or `parent` if earlier) to hand down. In
/// cancel mode the operation is dropped when a timer fires at the deadline
/// (never before); in soft mode it runs to the end. With an observer:
/// `failsafe_driver::timeout(&EmbassyClock, ..)`.
///
/// # Errors
///
/// [`Error::Timeout`] with the deadline, or [`Error::Inner`] with `op`'s error.
pub async fn with_timeout<F, Fut, T, E>(
    config: TimeoutConfig,
    parent: Deadline,
    op: F,
) -> Result<T, Error<E>>
where
    F: FnOnce(Deadline) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let op = |deadline| {
        let work = op(deadline);
        async move { work.await.map_err(Error::Inner) }
    };
    failsafe_driver::timeout(&EmbassyClock, config, parent, (), op).await
}

/// Awaits `primary`; if it fails for any reason (its own error, a
/// rejection, a timeout, retries given up), runs `alternative(reason,
/// error)`; nest for a chain. With a [`FallbackPolicy`], a predicate or an
/// observer: `failsafe_driver::fallback(&EmbassyClock, ..)`.
///
/// # Errors
///
/// The alternative's error.
pub async fn fallback<P, A, AFut, T, X>(primary: P, alternative: A) -> Result<T, X>
where
    P: Future<Output = Result<T, X>>,
    X: FallbackCause,
    A: FnOnce(FallbackReason, X) -> AFut,
    AFut: Future<Output = Result<T, X>>,
{
    let all = |_: &X| true;
    failsafe_driver::fallback(
        &EmbassyClock,
        FallbackPolicy::ALL,
        (),
        all,
        primary,
        alternative,
    )
    .await
}
