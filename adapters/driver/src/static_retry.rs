//! A retry policy that lives in a `static`: no allocation, any runtime
//! that is one constant value ([`ConstRuntime`]; embassy's clock).

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;

use failsafe_core::Observer;
use failsafe_core::retry::{NoBudget, RetryBudget, RetryConfig, RetryEvent};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::timeout::Deadline;

use crate::{Attempt, Classify, DefaultClassifier, RetryContext, RetryError, Runtime};

/// A runtime that is one constant value (a unit type such as embassy's
/// clock), so a handle in a `static` can name it by its type alone.
pub trait ConstRuntime: Runtime + 'static {
    /// The runtime.
    const RUNTIME: &'static Self;
}

/// A retry policy in a `static` on runtime `R`: a [`RetryConfig`], a budget
/// `L` shared by reference ([`NoBudget`] by default), a seeded
/// [`Xorshift64`] (each call's jitter seed is drawn from it) and an
/// observer `O`, cloned per call. A binding names it with its runtime
/// (`failsafe_embassy::RetryPolicy`).
///
/// The config `C`: a `&RetryConfig` (a `const` in flash) or a zero-sized
/// [`const_config!`](crate::const_config) type, folded into the loop (only
/// its backoff's and jitter's code is linked).
///
/// ```
/// use core::future::{Ready, ready};
/// use failsafe_core::retry::{RetryConfig, TokenQuota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_driver::{Clock, ConstRuntime, Instant, Runtime, StaticRetryPolicy, checked};
///
/// // A runtime whose clock stands still and whose sleeps end at once.
/// struct Still;
/// impl Clock for Still { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Still {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { ready(()) }
/// }
/// impl ConstRuntime for Still { const RUNTIME: &'static Self = &Still; }
///
/// const CONFIG: RetryConfig = checked(RetryConfig::builder().max_attempts(3).build());
/// static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
/// static GPS: StaticRetryPolicy<Still, CsLock<TokenQuota>> =
///     StaticRetryPolicy::new(&CONFIG, 0x5EED).with_budget(&BUDGET);
/// # futures_lite::future::block_on(async {
/// let mut tries = 0;
/// let fix = GPS.call(|_attempt| {
///     tries += 1;
///     ready(if tries < 3 { Err("no fix") } else { Ok((52, 13)) })
/// });
/// assert_eq!(fix.await, Ok((52, 13)));
/// # });
/// ```
pub struct StaticRetryPolicy<'a, R, L = NoBudget, O = (), C = &'a RetryConfig> {
    config: C,
    budget: &'a L,
    seeds: CsLock<Xorshift64>,
    observer: O,
    _runtime: PhantomData<fn() -> R>,
}

impl<'a, R, C> StaticRetryPolicy<'a, R, NoBudget, (), C> {
    /// `config`, no budget, no observer, jitter seeded with `seed`.
    pub const fn new(config: C, seed: u64) -> Self {
        StaticRetryPolicy {
            config,
            budget: &NoBudget,
            seeds: CsLock::new(Xorshift64::new(seed)),
            observer: (),
            _runtime: PhantomData,
        }
    }
}

impl<'a, R, L, O: Copy, C: Copy> StaticRetryPolicy<'a, R, L, O, C> {
    /// The same policy reporting to `observer` (run inside the budget's
    /// lock: keep it short).
    pub const fn with_observer<P>(self, observer: P) -> StaticRetryPolicy<'a, R, L, P, C> {
        StaticRetryPolicy {
            config: self.config,
            budget: self.budget,
            seeds: self.seeds,
            observer,
            _runtime: PhantomData,
        }
    }

    /// The same policy drawing on `budget` (any [`Lock`] around a
    /// [`RetryBudget`]; policies may share it).
    pub const fn with_budget<'b, M>(self, budget: &'b M) -> StaticRetryPolicy<'b, R, M, O, C>
    where
        'a: 'b,
    {
        StaticRetryPolicy {
            config: self.config,
            budget,
            seeds: self.seeds,
            observer: self.observer,
            _runtime: PhantomData,
        }
    }
}

impl<R, L, O, C: Borrow<RetryConfig>> StaticRetryPolicy<'_, R, L, O, C> {
    /// The configuration.
    pub fn config(&self) -> RetryConfig {
        *self.config.borrow()
    }

    /// Restarts the jitter generator from `seed` (the chip's unique ID, a
    /// hardware RNG: devices from one image otherwise retry in lockstep).
    pub fn reseed(&self, seed: u64) {
        self.seeds.with(|rng| *rng = Xorshift64::new(seed));
    }
}

impl<R, L, O, C> StaticRetryPolicy<'_, R, L, O, C>
where
    R: ConstRuntime,
    O: Observer<RetryEvent> + Clone,
    C: Borrow<RetryConfig> + Copy,
{
    /// Runs `op` (given its [`Attempt`]) until `Ok` or the policy gives up.
    ///
    /// # Errors
    ///
    /// A [`RetryError`].
    pub fn call<G, F, Fut, T, E>(&self, op: F) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        L: Lock<G>,
        G: RetryBudget,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_within(Deadline::NEVER, &DefaultClassifier, op)
    }

    /// [`call`](Self::call), `classify` deciding what retries, within
    /// `deadline` (the driver's [`retry`](crate::retry())); starts (time
    /// read, seed drawn) when called.
    ///
    /// # Errors
    ///
    /// A [`RetryError`].
    pub fn call_within<G, K, F, Fut, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        op: F,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        L: Lock<G>,
        G: RetryBudget,
        K: Classify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let ctx = RetryContext {
            config: self.config,
            deadline,
            budget: self.budget,
            rng: Xorshift64::new(self.seeds.with(|rng| rng.next_u64())),
            observer: self.observer.clone(),
        };
        // The driver's future, not an `async fn`: no panic path to link.
        crate::retry(R::RUNTIME, ctx, classify, op)
    }
}

impl<R, L, O, C: Borrow<RetryConfig>> fmt::Debug for StaticRetryPolicy<'_, R, L, O, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("config", self.config.borrow())
            .finish_non_exhaustive()
    }
}
