//! Retries and timeouts: the driver's loops on [`EmbassyClock`].

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;

use failsafe_driver::Observer;
use failsafe_driver::retry_machine::{NoBudget, RetryBudget, RetryConfig, RetryEvent};
use failsafe_driver::rng::{Rng, Xorshift64};
use failsafe_driver::sync::{CsLock, Lock};
use failsafe_driver::timeout_machine::{Deadline, TimeoutConfig};
use failsafe_driver::{Attempt, Classify, DefaultClassifier, Error, RetryContext, RetryError};

use crate::EmbassyClock;

/// A retry policy in a `static`: a [`RetryConfig`], a budget `L` shared by
/// reference ([`NoBudget`] by default), a seeded [`Xorshift64`] (each call's
/// jitter) and an observer `O`, cloned per call:
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{with_timeout, CsLock, Deadline, RetryConfig};
/// use failsafe_embassy::{RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TokenQuota};
/// const PER_ATTEMPT: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(Duration::from_millis(200)));
/// static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
/// /// Reseed it per device at boot (`GPS.reseed(uid)`).
/// static GPS: RetryPolicy<CsLock<TokenQuota>> =
///     RetryPolicy::new(&failsafe_embassy::checked(RetryConfig::builder().build()), 0x5EED).with_budget(&BUDGET);
/// # futures_lite::future::block_on(async {
/// let fix = GPS.call_within(Deadline::NEVER, &RetryOnFailsafeError, |attempt| {
///     with_timeout(PER_ATTEMPT, attempt.deadline, |_| async { Ok::<_, ()>((52, 13)) })
/// });
/// assert_eq!(fix.await, Ok((52, 13)));
/// # });
/// ```
///
/// The config `C`: a `&RetryConfig` (a `const` in flash) or a zero-sized
/// [`const_config!`](crate::const_config) type, folded into the loop (only
/// its backoff's and jitter's code is linked):
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{checked, const_config, BackoffKind, Jitter, NoBudget, RetryConfig, RetryPolicy};
/// const_config!(Gps: RetryConfig = checked(RetryConfig::builder()
///     .backoff(BackoffKind::Exponential { initial: Duration::from_millis(10), multiplier: 2.0, max: Duration::from_millis(100) })
///     .jitter(Jitter::Full)
///     .build()));
/// static GPS: RetryPolicy<NoBudget, (), Gps> = RetryPolicy::new(Gps, 0x5EED);
/// # assert_eq!(GPS.config().max_attempts(), Some(3));
/// ```
pub struct RetryPolicy<'a, L = NoBudget, O = (), C = &'a RetryConfig>(
    C,
    &'a L,
    CsLock<Xorshift64>,
    O,
);

impl<'a, C> RetryPolicy<'a, NoBudget, (), C> {
    /// `config`, no budget, no observer, jitter seeded with `seed`.
    pub const fn new(config: C, seed: u64) -> Self {
        RetryPolicy(config, &NoBudget, CsLock::new(Xorshift64::new(seed)), ())
    }
}

impl<'a, L, O: Copy, C: Copy> RetryPolicy<'a, L, O, C> {
    /// The same policy reporting to `observer` (run inside the budget's
    /// lock: keep it short).
    pub const fn with_observer<P>(self, observer: P) -> RetryPolicy<'a, L, P, C> {
        RetryPolicy(self.0, self.1, self.2, observer)
    }

    /// The same policy drawing on `budget` (any [`Lock`] around a
    /// [`RetryBudget`]; policies may share it).
    pub const fn with_budget<'b, M>(self, budget: &'b M) -> RetryPolicy<'b, M, O, C>
    where
        'a: 'b,
    {
        RetryPolicy(self.0, budget, self.2, self.3)
    }
}

impl<L, O, C: Borrow<RetryConfig>> RetryPolicy<'_, L, O, C> {
    /// The configuration.
    pub fn config(&self) -> RetryConfig {
        *self.0.borrow()
    }

    /// Restarts the jitter generator from `seed` (the chip's unique ID, a
    /// hardware RNG: devices from one image otherwise retry in lockstep).
    pub fn reseed(&self, seed: u64) {
        self.2.with(|rng| *rng = Xorshift64::new(seed));
    }
}

impl<L, O: Observer<RetryEvent> + Clone, C: Borrow<RetryConfig> + Copy> RetryPolicy<'_, L, O, C> {
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
    /// `deadline` (the driver's [`retry`](failsafe_driver::retry)); starts
    /// (time read, seed drawn) when called.
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
            config: self.0,
            deadline,
            budget: self.1,
            rng: Xorshift64::new(self.2.with(|rng| rng.next_u64())),
            observer: self.3.clone(),
        };
        // The driver's future, not an `async fn`: no panic path to link.
        failsafe_driver::retry(&EmbassyClock, ctx, classify, op)
    }
}

impl<L, O, C: Borrow<RetryConfig>> fmt::Debug for RetryPolicy<'_, L, O, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.0.borrow();
        f.debug_struct("RetryPolicy")
            .field("config", config)
            .finish_non_exhaustive()
    }
}

/// The driver's [`timeout`](failsafe_driver::timeout) on [`EmbassyClock`],
/// `op`'s error as [`Error::Inner`] (for an observer, call the driver's).
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
