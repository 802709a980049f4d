//! [`Policy`]: the one handle over any admission machine.
//!
//! A pattern's handle is an alias of `Policy` over its shared machine
//! ([`CircuitBreakerPolicy`], [`FailFastPolicy`], [`BulkheadPolicy`],
//! [`RateLimiterPolicy`], [`KeyedRateLimiterPolicy`]); every one has the
//! same verbs: `call(|| async ..)`, `call_blocking(|| ..)`,
//! `try_acquire()`, `acquire()` (async) and `acquire_blocking()`, each
//! returning or using one [`Guard`].

use core::fmt;
use core::future::Future;
use core::time::Duration;

use core::task::Waker;

use failsafe_core::admission::{Call, Entry};
use failsafe_core::sync::SharedAdmission;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, Rejected, TimeSource};

use crate::admit::{self, Admit, Ask, Calling, Guard};
use crate::{Classify, Clock, DefaultClassifier, Error, Runtime};

/// The handle of any admission machine: the shared machine (`Arc` on
/// std, inline in a `static` on firmware), the runtime (clock, timer,
/// parking) and what each call asks ([`Ask`]: deadline, weight, max wait).
/// Clones of an `Arc`-backed policy share the machine.
#[derive(Clone)]
pub struct Policy<S, R> {
    shared: S,
    runtime: R,
    ask: Ask,
}

/// A handle is its machine in a [`Pipeline`](crate::Pipeline)'s admission
/// chain (its own ask is not used there: the pipeline asks for the call).
impl<S: SharedAdmission, R> SharedAdmission for Policy<S, R> {
    type Key = S::Key;
    type Permit = S::Permit;
    type Wait = S::Wait;

    #[inline]
    fn enter(&self, call: &Call<'_, S::Key>, waker: Option<&Waker>) -> Entry<S::Permit, S::Wait> {
        self.shared.enter(call, waker)
    }

    fn resume(
        &self,
        call: &Call<'_, S::Key>,
        wait: S::Wait,
        waker: Option<&Waker>,
    ) -> Entry<S::Permit, S::Wait> {
        self.shared.resume(call, wait, waker)
    }

    fn cancel(&self, now: Instant, wait: S::Wait) {
        self.shared.cancel(now, wait)
    }

    #[inline]
    fn exit(&self, now: impl TimeSource, permit: S::Permit, outcome: Outcome) {
        self.shared.exit(now, permit, outcome)
    }

    fn abandon(&self, now: Instant, permit: S::Permit) {
        self.shared.abandon(now, permit)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.shared.next_deadline()
    }

    fn on_deadline(&self, now: Instant) {
        self.shared.on_deadline(now)
    }
}

impl<S, R: fmt::Debug> fmt::Debug for Policy<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("runtime", &self.runtime)
            .field("ask", &self.ask)
            .finish_non_exhaustive()
    }
}

impl<S, R> Policy<S, R> {
    /// A handle over `shared` on `runtime`. `const`, so a firmware policy
    /// fits in a `static`.
    pub const fn new_shared(shared: S, runtime: R) -> Self {
        Policy {
            shared,
            runtime,
            ask: Ask::DEFAULT,
        }
    }

    /// The shared machine.
    pub const fn shared(&self) -> &S {
        &self.shared
    }

    /// The runtime (its clock).
    pub const fn runtime(&self) -> &R {
        &self.runtime
    }

    /// What each call asks.
    pub const fn ask(&self) -> Ask {
        self.ask
    }

    /// The same handle, each call carrying `deadline` (fail fast rejects a
    /// call that cannot finish before it; a limiter never books past it).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Deadline) -> Self {
        self.ask.deadline = deadline;
        self
    }

    /// The same handle, each call taking `weight` permits of a rate limiter.
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.ask.weight = weight;
        self
    }

    /// The same handle, each call waiting at most `max_wait` for a rate
    /// limiter's permits (zero: rejected at once with `retry_at`).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.ask.max_wait = Some(max_wait);
        self
    }
}

impl<S: SharedAdmission, R: Clock> Policy<S, R> {
    /// Admits the call now or rejects it: never waits.
    ///
    /// # Errors
    ///
    /// The machine's [`Rejected`], with its `retry_at`.
    #[inline]
    pub fn try_acquire(&self) -> Result<Guard<&S, &R>, Rejected>
    where
        S: SharedAdmission<Key = ()>,
    {
        admit::try_acquire(&self.shared, &self.runtime, self.ask)
    }

    /// [`try_acquire`](Self::try_acquire) for a keyed machine.
    ///
    /// # Errors
    ///
    /// The machine's [`Rejected`], with its `retry_at`.
    pub fn try_acquire_keyed(&self, key: &S::Key) -> Result<Guard<&S, &R>, Rejected> {
        admit::try_acquire_keyed(&self.shared, &self.runtime, self.ask, key)
    }

    /// The machine's next instant of change ([`SharedAdmission::next_deadline`]).
    pub fn next_deadline(&self) -> Option<failsafe_core::Instant> {
        self.shared.next_deadline()
    }

    /// Applies what is due now ([`SharedAdmission::on_deadline`]).
    pub fn on_deadline(&self) {
        self.shared.on_deadline(self.runtime.now());
    }
}

impl<S: SharedAdmission, R: Runtime> Policy<S, R> {
    /// Waits for admission on the runtime's timer (see [`Admit`]).
    pub fn acquire(&self) -> Admit<&S, &R>
    where
        S: SharedAdmission<Key = ()>,
    {
        Admit::new(&self.shared, &self.runtime, self.ask)
    }

    /// [`acquire`](Self::acquire) for a keyed machine.
    pub fn acquire_keyed<Q>(&self, key: Q) -> Admit<&S, &R, Q>
    where
        Q: core::borrow::Borrow<S::Key>,
    {
        Admit::keyed(&self.shared, &self.runtime, self.ask, key)
    }

    /// Runs `f` once admitted; an `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    pub fn call<F, Fut, T, E>(&self, f: F) -> Calling<'_, &S, &R, DefaultClassifier, F, Fut>
    where
        S: SharedAdmission<Key = ()>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(&DefaultClassifier, f)
    }

    /// [`call`](Self::call) with a classifier deciding the outcome.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    pub fn call_with<'a, K, F, Fut, T, E>(
        &'a self,
        classify: &'a K,
        f: F,
    ) -> Calling<'a, &'a S, &'a R, K, F, Fut>
    where
        S: SharedAdmission<Key = ()>,
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        admit::call(&self.shared, &self.runtime, self.ask, classify, f)
    }

    /// [`call`](Self::call) for a keyed machine.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    pub async fn call_keyed<F, Fut, T, E>(&self, key: &S::Key, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let guard = Admit::keyed(&self.shared, &self.runtime, self.ask, key).await?;
        let result = f().await;
        guard.finish(DefaultClassifier.classify(&result));
        result.map_err(Error::Inner)
    }
}
