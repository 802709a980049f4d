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
/// parking) and what each call asks (`A`: an [`Ask`], its deadline, weight
/// and max wait; or [`DefaultAsk`], zero-sized, always the default: what a
/// firmware `static` holds, built by [`new_static`](Policy::new_static)).
/// Clones of an `Arc`-backed policy share the machine.
#[derive(Clone)]
pub struct Policy<S, R, A = Ask> {
    shared: S,
    runtime: R,
    ask: A,
}

/// What a [`Policy`] asks for each call: an [`Ask`] it carries, or the
/// default one ([`DefaultAsk`]) it need not carry.
pub trait Asks: Copy {
    /// The ask of the next call.
    fn ask(&self) -> Ask;
}

impl Asks for Ask {
    #[inline]
    fn ask(&self) -> Ask {
        *self
    }
}

/// [`Ask::DEFAULT`] (no deadline, weight 1, may wait) as a zero-sized
/// type: a handle built by [`Policy::new_static`] carries no ask (32 bytes
/// of RAM on Cortex-M). `with_deadline`, `with_weight` and
/// `with_max_wait` return a handle carrying an [`Ask`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DefaultAsk;

impl Asks for DefaultAsk {
    #[inline]
    fn ask(&self) -> Ask {
        Ask::DEFAULT
    }
}

/// A handle is its machine in a [`Pipeline`](crate::Pipeline)'s admission
/// chain (its own ask is not used there: the pipeline asks for the call).
impl<S: SharedAdmission, R, A> SharedAdmission for Policy<S, R, A> {
    type Key = S::Key;
    type Permit = S::Permit;
    type Wait = S::Wait;
    const NEEDS_EXIT: bool = S::NEEDS_EXIT;
    const READS_NOW: bool = S::READS_NOW;

    #[inline(always)]
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

impl<S, R: fmt::Debug, A: Asks> fmt::Debug for Policy<S, R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("runtime", &self.runtime)
            .field("ask", &self.ask.ask())
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
}

impl<S, R> Policy<S, R, DefaultAsk> {
    /// A handle over `shared` on `runtime` whose calls ask the default
    /// ([`DefaultAsk`]): it holds no [`Ask`], what a firmware `static`
    /// wants. `const`.
    pub const fn new_static(shared: S, runtime: R) -> Self {
        Policy {
            shared,
            runtime,
            ask: DefaultAsk,
        }
    }
}

impl<S, R, A: Asks> Policy<S, R, A> {
    /// The shared machine.
    pub const fn shared(&self) -> &S {
        &self.shared
    }

    /// The runtime (its clock).
    pub const fn runtime(&self) -> &R {
        &self.runtime
    }

    /// What each call asks.
    #[inline]
    pub fn ask(&self) -> Ask {
        self.ask.ask()
    }

    /// This handle carrying its ask as an [`Ask`], to change.
    fn asking(self) -> Policy<S, R, Ask> {
        Policy {
            ask: self.ask.ask(),
            shared: self.shared,
            runtime: self.runtime,
        }
    }

    /// The same handle, each call carrying `deadline` (fail fast rejects a
    /// call that cannot finish before it; a limiter never books past it; a
    /// bulkhead's queue gives the call up at it).
    #[must_use]
    pub fn with_deadline(self, deadline: Deadline) -> Policy<S, R, Ask> {
        let mut policy = self.asking();
        policy.ask.deadline = deadline;
        policy
    }

    /// The same handle, each call taking `weight` permits of a rate limiter.
    #[must_use]
    pub fn with_weight(self, weight: u32) -> Policy<S, R, Ask> {
        let mut policy = self.asking();
        policy.ask.weight = weight;
        policy
    }

    /// The same handle, each call waiting at most `max_wait` for a rate
    /// limiter's permits or in a bulkhead's queue (zero: rejected at once,
    /// a limiter with `retry_at`).
    #[must_use]
    pub fn with_max_wait(self, max_wait: Duration) -> Policy<S, R, Ask> {
        let mut policy = self.asking();
        policy.ask.max_wait = Some(max_wait);
        policy
    }
}

impl<S: SharedAdmission, R: Clock, A: Asks> Policy<S, R, A> {
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
        admit::try_acquire(&self.shared, &self.runtime, self.ask.ask())
    }

    /// [`try_acquire`](Self::try_acquire) for a keyed machine.
    ///
    /// # Errors
    ///
    /// The machine's [`Rejected`], with its `retry_at`.
    pub fn try_acquire_keyed(&self, key: &S::Key) -> Result<Guard<&S, &R>, Rejected> {
        admit::try_acquire_keyed(&self.shared, &self.runtime, self.ask.ask(), key)
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

impl<S: SharedAdmission, R: Runtime, A: Asks> Policy<S, R, A> {
    /// Waits for admission on the runtime's timer (see [`Admit`]).
    pub fn acquire(&self) -> Admit<&S, &R>
    where
        S: SharedAdmission<Key = ()>,
    {
        Admit::new(&self.shared, &self.runtime, self.ask.ask())
    }

    /// [`acquire`](Self::acquire) for a keyed machine.
    pub fn acquire_keyed<Q>(&self, key: Q) -> Admit<&S, &R, Q>
    where
        Q: core::borrow::Borrow<S::Key>,
    {
        Admit::keyed(&self.shared, &self.runtime, self.ask.ask(), key)
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
        admit::call(&self.shared, &self.runtime, self.ask.ask(), classify, f)
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
        let guard = Admit::keyed(&self.shared, &self.runtime, self.ask.ask(), key).await?;
        let result = f().await;
        guard.finish(DefaultClassifier.classify(&result));
        result.map_err(Error::Inner)
    }
}
