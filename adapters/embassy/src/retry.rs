//! A retry policy that lives in a `static`, sleeping on embassy-time.

use core::fmt;
use core::future::Future;

use failsafe_core::retry::{NoBudget, RetryBudget, RetryConfig, RetryEvent};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::timeout::Deadline;
use failsafe_core::{ConfigError, Observer};
use failsafe_driver::{Attempt, RetryClassify, RetryContext, RetryError, RetryOnErr};

use crate::EmbassyClock;

/// Unwraps a configuration result in a `const` (or panics, naming the bad
/// field): in a `const` or `static` initializer a bad value becomes a build
/// error instead of a runtime one. Works for every fallible `const`
/// constructor of the core: [`RetryConfig`]'s builder,
/// [`TimeoutConfig::new`](failsafe_core::timeout::TimeoutConfig::new),
/// [`TokenQuota::new`](failsafe_core::retry::TokenQuota::new).
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{config_or_panic, RetryConfig, TimeoutConfig, TokenQuota};
///
/// const RETRY: RetryConfig = config_or_panic(RetryConfig::builder().max_attempts(4).build());
/// const PER_ATTEMPT: TimeoutConfig = config_or_panic(TimeoutConfig::new(Duration::from_millis(200)));
/// const QUOTA: TokenQuota = config_or_panic(TokenQuota::new(50, 5, 10, 5, 1));
/// # assert_eq!(RETRY.max_attempts(), Some(4));
/// # let _ = (PER_ATTEMPT, QUOTA);
/// ```
///
/// A bad value does not compile; the message names the field:
///
/// ```compile_fail,E0080
/// use failsafe_embassy::{config_or_panic, RetryConfig};
/// // error[E0080]: evaluation of constant value failed ... max_attempts
/// const RETRY: RetryConfig = config_or_panic(RetryConfig::builder().max_attempts(0).build());
/// ```
pub const fn config_or_panic<T: Copy>(result: Result<T, ConfigError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{}", e.field),
    }
}

/// A retry policy for embassy firmware: `const`-constructible so it lives in
/// a `static` and every task shares it, sleeping on embassy-time between
/// attempts. The loop itself is [`failsafe_driver::retry`]; this type holds
/// what it needs across calls:
///
/// - the [`RetryConfig`] (checked at compile time with [`config_or_panic`]);
/// - a reference to a retry budget `L` shared by every call (and by other
///   policies guarding the same dependency): a [`CsLock`] (or
///   [`MutexLock`](crate::MutexLock)) around a
///   [`TokenQuota`](failsafe_core::retry::TokenQuota) in a `static`, say;
///   [`NoBudget`] (the default) for none;
/// - the source of jitter: a seeded [`Xorshift64`] behind a critical
///   section, which hands each call a generator of its own;
/// - an [`Observer`] of [`RetryEvent`]s `O` (`()` for none). Each call
///   works on a clone of it, so use a `Copy` one such as
///   `FnObserver(handler as fn(RetryEvent))`.
///
/// The budget and the generator are locked only for a decision, never
/// across an `.await`. Dropping a call's future stops its retries at once.
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{
///     config_or_panic, BackoffKind, CsLock, GiveUp, RetryConfig, RetryPolicy, TokenQuota,
/// };
///
/// const CONFIG: RetryConfig = config_or_panic(
///     RetryConfig::builder()
///         .max_attempts(4)
///         .backoff(BackoffKind::Exponential {
///             initial: Duration::from_millis(50),
///             multiplier: 2.0,
///             max: Duration::from_secs(1),
///         })
///         .build(),
/// );
///
/// /// Retries against the modem, whichever task makes them, may cost at
/// /// most 100 tokens (a success gives some back).
/// static MODEM_BUDGET: CsLock<TokenQuota> =
///     CsLock::new(config_or_panic(TokenQuota::new(100, 5, 10, 5, 1)));
///
/// /// Seeded per device in real firmware: see `reseed`.
/// static MODEM_RETRY: RetryPolicy<CsLock<TokenQuota>> =
///     RetryPolicy::new(CONFIG, 0x5EED).with_budget(&MODEM_BUDGET);
///
/// # futures_lite::future::block_on(async {
/// let reply = MODEM_RETRY.run(|attempt| async move {
///     // send "AT" over the UART here; `attempt.number` is 1, 2, ...
///     Ok::<_, &str>("OK")
/// }).await;
/// assert_eq!(reply, Ok("OK"));
/// # });
/// ```
pub struct RetryPolicy<'a, L = NoBudget, O = ()> {
    config: RetryConfig,
    budget: &'a L,
    rng: CsLock<Xorshift64>,
    observer: O,
}

impl RetryPolicy<'static, NoBudget, ()> {
    /// A policy with `config`, no budget and no observer, drawing jitter
    /// from a generator seeded with `seed`. `const`.
    ///
    /// Every device built from the same image starts from the same seed:
    /// after a shared outage a fleet would retry in lockstep. Mix something
    /// per device into it with [`reseed`](Self::reseed) at boot (a hardware
    /// RNG, the chip's unique ID).
    ///
    /// ```
    /// use failsafe_embassy::{RetryConfig, RetryPolicy, config_or_panic};
    /// static RETRY: RetryPolicy = RetryPolicy::new(config_or_panic(RetryConfig::builder().build()), 1);
    /// assert_eq!(RETRY.config().max_attempts(), Some(3));
    /// ```
    pub const fn new(config: RetryConfig, seed: u64) -> Self {
        RetryPolicy {
            config,
            budget: &NoBudget,
            rng: CsLock::new(Xorshift64::new(seed)),
            observer: (),
        }
    }
}

impl<'a, L> RetryPolicy<'a, L, ()> {
    /// The same policy, reporting each call's [`RetryEvent`]s to `observer`
    /// (cloned per call). `const`.
    ///
    /// The observer runs inside the budget's lock (with interrupts masked
    /// for a [`CsLock`]): keep it short.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use failsafe_embassy::{FnObserver, RetryConfig, RetryEvent, RetryPolicy, config_or_panic};
    ///
    /// static FAILURES: AtomicU32 = AtomicU32::new(0);
    /// fn count(event: RetryEvent) {
    ///     if let RetryEvent::AttemptFailed { .. } = event {
    ///         FAILURES.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    /// type Count = FnObserver<fn(RetryEvent)>;
    /// static RETRY: RetryPolicy<failsafe_embassy::NoBudget, Count> =
    ///     RetryPolicy::new(config_or_panic(RetryConfig::builder().max_attempts(1).build()), 7)
    ///         .with_observer(FnObserver(count as fn(RetryEvent)));
    ///
    /// # futures_lite::future::block_on(async {
    /// let _ = RETRY.run(|_| async { Err::<(), _>("nack") }).await;
    /// assert_eq!(FAILURES.load(Ordering::Relaxed), 1);
    /// # });
    /// ```
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
    /// The same policy, drawing on `budget` (any [`Lock`] around a
    /// [`RetryBudget`]) instead. `const`, so a `static` policy can point at
    /// a `static` budget; several policies may share one.
    ///
    /// (Here the observer must be `Copy`, a limit of `const fn` on stable
    /// Rust; any observer works when `with_budget` comes first:
    /// `RetryPolicy::new(..).with_budget(&B).with_observer(o)`.)
    ///
    /// ```
    /// use failsafe_embassy::{CsLock, RetryConfig, RetryPolicy, TokenQuota, config_or_panic};
    ///
    /// const CONFIG: RetryConfig = config_or_panic(RetryConfig::builder().build());
    /// static BUS: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
    /// // Two operations on the same bus spend from the same budget.
    /// static READ: RetryPolicy<CsLock<TokenQuota>> = RetryPolicy::new(CONFIG, 1).with_budget(&BUS);
    /// static WRITE: RetryPolicy<CsLock<TokenQuota>> = RetryPolicy::new(CONFIG, 2).with_budget(&BUS);
    /// # let _ = (&READ, &WRITE);
    /// ```
    pub const fn with_budget<'b, M>(self, budget: &'b M) -> RetryPolicy<'b, M, O> {
        let RetryPolicy {
            config,
            budget: _previous,
            rng,
            observer,
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

    /// The shared budget (lock it with [`Lock::with`] to read it).
    ///
    /// ```
    /// use failsafe_embassy::{CsLock, Lock, RetryConfig, RetryPolicy, TokenQuota, config_or_panic};
    /// static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
    /// static RETRY: RetryPolicy<CsLock<TokenQuota>> =
    ///     RetryPolicy::new(config_or_panic(RetryConfig::builder().build()), 1).with_budget(&BUDGET);
    /// assert_eq!(RETRY.budget().with(|q| q.tokens()), 500);
    /// ```
    pub const fn budget(&self) -> &'a L {
        self.budget
    }

    /// The observer.
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// Restarts the jitter generator from `seed`. Call it once at boot with
    /// something that differs per device (a hardware RNG, the unique ID), so
    /// that a fleet does not retry in lockstep. Calls already running keep
    /// the generator they drew.
    ///
    /// ```
    /// # use failsafe_embassy::{RetryConfig, RetryPolicy, config_or_panic};
    /// # static RETRY: RetryPolicy = RetryPolicy::new(config_or_panic(RetryConfig::builder().build()), 0);
    /// let unique_id: u64 = 0x0042_1337_0000_00FF; // e.g. from the chip's UID registers
    /// RETRY.reseed(unique_id);
    /// ```
    pub fn reseed(&self, seed: u64) {
        self.rng.with(|rng| *rng = Xorshift64::new(seed));
    }

    /// A generator of its own for one call: seeded from the shared one, so
    /// calls are independent and the whole run is reproducible from the seed.
    fn call_rng(&self) -> Xorshift64 {
        Xorshift64::new(self.rng.with(|rng| rng.next_u64()))
    }
}

impl<L, O> RetryPolicy<'_, L, O>
where
    O: Observer<RetryEvent> + Clone,
{
    /// Runs `op` until it returns `Ok` or the policy gives up, sleeping on
    /// embassy-time between attempts; every `Err` is retried. `op` gets the
    /// [`Attempt`] (its number, and the deadline to hand down).
    ///
    /// Gives up with a [`RetryError`]: why ([`GiveUp`](failsafe_core::retry::GiveUp)),
    /// after how many attempts, and the last error. Dropping the returned
    /// future (a `select`, a timeout) stops retrying at once.
    ///
    /// ```
    /// # use failsafe_embassy::{BackoffKind, Jitter, RetryConfig, RetryPolicy, config_or_panic};
    /// # use core::time::Duration;
    /// use failsafe_embassy::GiveUp;
    ///
    /// static RETRY: RetryPolicy = RetryPolicy::new(
    ///     config_or_panic(RetryConfig::builder().max_attempts(3)
    ///         .backoff(BackoffKind::Constant(Duration::ZERO)).jitter(Jitter::None).build()),
    ///     1,
    /// );
    /// # futures_lite::future::block_on(async {
    /// let r = RETRY.run(|attempt| async move { Err::<(), _>(attempt.number) }).await;
    /// let e = r.unwrap_err();
    /// assert_eq!((e.reason, e.attempts, e.last), (GiveUp::Attempts, 3, Some(3)));
    /// # });
    /// ```
    pub async fn run<G, F, Fut, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        L: Lock<G>,
        G: RetryBudget,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_within(Deadline::NEVER, &RetryOnErr, op).await
    }

    /// [`run`](Self::run) with a classifier deciding what retries: any
    /// `Fn(&Result<T, E>) -> Verdict` or a [`RetryClassify`]
    /// ([`RetryOnFailsafeError`](failsafe_driver::RetryOnFailsafeError) for
    /// operations wrapped in a timeout or a breaker). A verdict can carry
    /// the device's "retry after" hint.
    ///
    /// ```
    /// # use failsafe_embassy::{BackoffKind, Jitter, RetryConfig, RetryPolicy, config_or_panic};
    /// # use core::time::Duration;
    /// use failsafe_embassy::{GiveUp, Verdict};
    ///
    /// # static RETRY: RetryPolicy = RetryPolicy::new(
    /// #     config_or_panic(RetryConfig::builder().backoff(BackoffKind::Constant(Duration::ZERO)).jitter(Jitter::None).build()), 1);
    /// #[derive(Debug, PartialEq)]
    /// enum SensorError { Busy, Unplugged }
    /// let busy_only = |r: &Result<u16, SensorError>| match r {
    ///     Ok(_) => Verdict::Success,
    ///     Err(SensorError::Busy) => Verdict::retry(),
    ///     Err(SensorError::Unplugged) => Verdict::DoNotRetry,
    /// };
    /// # futures_lite::future::block_on(async {
    /// let r = RETRY.run_with(&busy_only, |_| async { Err(SensorError::Unplugged) }).await;
    /// assert_eq!(r.unwrap_err().reason, GiveUp::NotRetryable); // one attempt only
    /// # });
    /// ```
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

    /// [`run_with`](Self::run_with) inside a caller's `deadline` (from an
    /// enclosing [`with_timeout`](crate::with_timeout), say): no retry is
    /// scheduled to start at or after it, so the loop gives up with
    /// [`GiveUp::Deadline`](failsafe_core::retry::GiveUp::Deadline) as soon
    /// as the next retry could not make it, instead of sleeping into the
    /// deadline. Each [`Attempt`] carries the deadline, to hand down to a
    /// per-attempt timeout.
    ///
    /// ```
    /// # use failsafe_embassy::{RetryConfig, RetryPolicy, config_or_panic};
    /// use failsafe_embassy::{Clock, Deadline, EmbassyClock, GiveUp, RetryOnErr};
    /// # static RETRY: RetryPolicy = RetryPolicy::new(config_or_panic(RetryConfig::builder().build()), 1);
    /// # futures_lite::future::block_on(async {
    /// let already_over = Deadline::at(EmbassyClock.now());
    /// let r = RETRY.run_within(already_over, &RetryOnErr, |_| async { Ok::<_, ()>(()) }).await;
    /// let e = r.unwrap_err();
    /// assert_eq!((e.reason, e.attempts), (GiveUp::Deadline, 0)); // never ran
    /// # });
    /// ```
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
        let ctx = RetryContext {
            config: self.config,
            deadline,
            budget: self.budget,
            rng: self.call_rng(),
            observer: self.observer.clone(),
        };
        failsafe_driver::retry(&EmbassyClock, ctx, classify, op).await
    }
}

impl<L, O> fmt::Debug for RetryPolicy<'_, L, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The budget and the generator can only be read under their locks.
        f.debug_struct("RetryPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
