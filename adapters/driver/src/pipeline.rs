//! One pipeline: any set of patterns around one call, with one error, one
//! reading of the clock when the call starts and one when each attempt ends
//! (a fired timer gives its own instant), on any [`Runtime`].
//!
//! The order, from the outside in, is fixed where it matters and chosen by
//! you where it does not:
//!
//! **fallback → overall timeout → retry → admissions → attempt timeout →
//! chaos → operation**.
//!
//! - The fallback ([`PipelineError::fallback_reason`], or
//!   [`Pipeline::call_or_else`]) answers whatever is left, and sees the true
//!   reason: rejected, timed out, gave up, failed.
//! - The overall timeout is the retries' deadline: no retry starts after
//!   it, and it bounds every attempt.
//! - Each retry asks the admissions again: an open breaker rejects without
//!   calling and the retry waits for its `retry_at`.
//! - Admissions ([`admit`](Pipeline::admit)) decide in the order they were
//!   added, with the same `now` and deadline, all or nothing (a call one of
//!   them rejects holds no capacity in another). The recommended order, as
//!   in Failsafe for Java and resilience4j: **circuit breaker / fail fast →
//!   rate limiter → bulkhead** (a call the breaker would refuse never spends
//!   a rate permit; a call the limiter turns away never holds a bulkhead
//!   slot). A call waiting for a machine's permit holds those of the
//!   machines before it meanwhile (a breaker's probe while the limiter
//!   books its turn): [`max_wait`](Pipeline::max_wait). A cache sits
//!   outside the retry (`call_cached`: a hit answers before anything
//!   admits); a hedge in place of the retry (`call_hedged`).
//! - The attempt timeout bounds one attempt, waiting for admission
//!   included, never past the overall deadline.
//! - Chaos ([`chaos`](Pipeline::chaos), none by default) injects its faults
//!   and latency next to the operation, so every pattern above sees them
//!   as the dependency's own.
//!
//! One error, [`PipelineError`], says which pattern stopped the call and
//! why, keeps the operation's error typed, and carries `retry_at`.

#[cfg(feature = "std")]
extern crate std;

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use failsafe_core::admission::{Call, Entry};
use failsafe_core::fallback::{FallbackPolicy, FallbackReason};
use failsafe_core::hedge::{HedgeEvent, HedgePlan};
use failsafe_core::plan::{Attempt, Finish, Judged};
use failsafe_core::retry::{
    GiveUp, NoBudget, RetryBudget, RetryConfig, RetryEvent, RetryPlan, Verdict,
};
use failsafe_core::rng::Xorshift64;

use crate::seeds::CallSeeds;
use failsafe_core::sync::{Lock, SharedAdmission};
use failsafe_core::timeout::{AttemptTimeout, Deadline, TimeoutConfig};
use failsafe_core::{Instant, Observer, Outcome, RejectReason, Rejected};

use crate::chaos::{Inject, Injects};
use crate::plan_run::LastIf;
use crate::slots::Slots;
use crate::{
    Admit, Ask, Attempts, Classify, DefaultClassifier, Error, FallbackCause, Guard, Judge, PlanRun,
};
use crate::{Runtime, Step};

/// A pipeline call's error: how its last attempt failed and, when the
/// pipeline retries, why it stopped retrying.
///
/// ```
/// use failsafe_core::{Instant, RejectReason, Rejected};
/// use failsafe_core::fallback::FallbackReason;
/// use failsafe_core::retry::GiveUp;
/// use failsafe_driver::{Error, PipelineError};
///
/// let open = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(30)));
/// let e = PipelineError::<()> {
///     error: Error::Rejected(open),
///     attempts: 3,
///     gave_up: Some(GiveUp::Attempts),
///     answered_at: Some(Instant::from_secs(10)),
/// };
/// assert_eq!(e.retry_after(Instant::from_secs(10)), Some(core::time::Duration::from_secs(20)));
/// assert_eq!(e.fallback_reason(), FallbackReason::GaveUp(GiveUp::Attempts));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PipelineError<E> {
    /// How the last attempt failed: rejected by an admission (its reason
    /// names the pattern, its `retry_at` says when to come back), timed
    /// out, or the operation's own error, kept typed. A call whose overall
    /// deadline passed before any attempt is a timeout.
    pub error: Error<E>,
    /// Attempts started.
    pub attempts: u32,
    /// Why the retries or hedges stopped, if the call retries or hedges
    /// (attempts exhausted, budget spent, time limit, no retry fits before
    /// the deadline, not retryable, aborted). `None` for a call that makes
    /// one attempt (`call` or `call_blocking` on a pipeline without a
    /// retry).
    pub gave_up: Option<GiveUp>,
    /// When the pipeline answered with this error, on its runtime's clock:
    /// read for a rejection that says when to come back (`retry_at`), so
    /// that [`retry_after`](Self::retry_after) can be measured on the
    /// pipeline's own clock where no `now` is at hand (an HTTP response);
    /// `None` otherwise.
    pub answered_at: Option<Instant>,
}

impl<E> PipelineError<E> {
    /// The rejection, if an admission stopped the last attempt.
    pub fn rejected(&self) -> Option<&Rejected> {
        self.error.rejected()
    }

    /// How long to wait before trying again, from `now`, if the rejection
    /// said (a breaker's open wait, a limiter's next permit): what a
    /// server puts in `Retry-After`.
    pub fn retry_after(&self, now: Instant) -> Option<Duration> {
        self.rejected().and_then(|r| r.retry_after(now))
    }

    /// `true` if the last attempt timed out.
    pub fn is_timeout(&self) -> bool {
        self.error.is_timeout()
    }

    /// The operation's own error, if the last attempt ran and failed.
    pub fn inner(&self) -> Option<&E> {
        match &self.error {
            Error::Inner(e) => Some(e),
            _ => None,
        }
    }

    /// The operation's own error, by value.
    pub fn into_inner(self) -> Option<E> {
        self.error.into_inner()
    }

    /// Why a fallback is taken: the retries gave up (attempts, budget, time
    /// limit, or a deadline that left no room for another try after a
    /// failure), or else how the last attempt failed (rejected, timed out,
    /// failed).
    pub fn fallback_reason(&self) -> FallbackReason {
        match (self.gave_up, &self.error) {
            (Some(GiveUp::Deadline), Error::Timeout(_)) => FallbackReason::TimedOut,
            (Some(r @ (GiveUp::Attempts | GiveUp::Budget | GiveUp::Elapsed)), _)
            | (Some(r @ GiveUp::Deadline), _) => FallbackReason::GaveUp(r),
            _ => self.error.fallback_reason(),
        }
    }
}

impl<E> FallbackCause for PipelineError<E> {
    fn fallback_reason(&self) -> FallbackReason {
        PipelineError::fallback_reason(self)
    }
}

impl<E: fmt::Display> fmt::Display for PipelineError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error {
            Error::Rejected(r) => write!(f, "rejected: {r}")?,
            Error::Timeout(d) => write!(f, "timed out at {d}")?,
            Error::Inner(e) => write!(f, "failed: {e}")?,
        }
        if let Some(gave_up) = self.gave_up {
            write!(
                f,
                " (gave up after {} attempt(s): {gave_up})",
                self.attempts
            )?;
        }
        Ok(())
    }
}

impl<E: core::error::Error + 'static> core::error::Error for PipelineError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        self.inner()
            .map(|e| e as &(dyn core::error::Error + 'static))
    }
}

/// Patterns around one call: admissions `A` (a chain built with
/// [`admit`](Self::admit)), a retry with its budget `B` (over `G`) and
/// observer `O`, an attempt timeout and an overall timeout, on runtime `R`;
/// hedged calls report to the hedge observer `H`
/// ([`observe_hedges`](Self::observe_hedges)).
/// Every part is optional; `const`, so a firmware keeps one in a `static`.
///
/// See the [module docs](self) for the order and why.
pub struct Pipeline<A, R, B = NoBudget, G = NoBudget, O = (), H = (), C = ()> {
    admission: A,
    budget: B,
    observer: O,
    hedge_observer: H,
    chaos: C,
    settings: Settings<R>,
    _budget: PhantomData<fn(&mut G)>,
}

/// What a pipeline's builder steps carry along unchanged: the runtime and
/// the settings that do not change the pipeline's type.
#[derive(Debug)]
struct Settings<R> {
    runtime: R,
    /// The retry's config, if the pipeline retries.
    retry: Option<RetryConfig>,
    seeds: CallSeeds,
    attempt_timeout: Option<TimeoutConfig>,
    timeout: Option<Duration>,
    fallback: FallbackPolicy,
    /// How long an attempt may wait for a rate limiter's permits (`None`:
    /// each limiter's own wait).
    max_wait: Option<Duration>,
}

impl<A, R: fmt::Debug, B, G, O, H, C> fmt::Debug for Pipeline<A, R, B, G, O, H, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("Pipeline")
            .field("runtime", &s.runtime)
            .field("retry", &s.retry)
            .field("attempt_timeout", &s.attempt_timeout)
            .field("timeout", &s.timeout)
            .field("max_wait", &s.max_wait)
            .finish_non_exhaustive()
    }
}

/// One attempt, no backoff: a pipeline without a retry.
const ONCE: RetryConfig = crate::checked(RetryConfig::builder().max_attempts(1).build());

impl<R> Pipeline<(), R> {
    /// An empty pipeline on `runtime`: admits every call, one attempt, no
    /// timeout.
    pub const fn new(runtime: R) -> Self {
        Pipeline::with_admission(runtime, ())
    }
}

impl<A, R> Pipeline<A, R> {
    /// A pipeline on `runtime` admitting through `admission` (one handle,
    /// or a chain: `(breaker, (limiter, bulkhead))`), one attempt, no
    /// timeout. `const`: the way to build a firmware's `static` pipeline.
    pub const fn with_admission(runtime: R, admission: A) -> Self {
        Pipeline::from_parts(runtime, admission, NoBudget, (), (), ())
    }
}

impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C> {
    /// A pipeline with every part given at once: the runtime, the
    /// admission chain, the retry budget (a lock over a
    /// [`RetryBudget`] `G`, or [`NoBudget`]), the retry and hedge
    /// observers and the chaos policy (`()` for none); one attempt, no
    /// timeout. `const`, so a firmware's `static` pipeline can take a
    /// budget, observers and chaos.
    ///
    /// The builder steps that change a part's type
    /// ([`retry_budget`](Self::retry_budget),
    /// [`observe_retries`](Self::observe_retries),
    /// [`observe_hedges`](Self::observe_hedges), [`chaos`](Self::chaos))
    /// cannot be `const` on stable Rust: they move the other parts out of
    /// a generic value, which a `const fn` may only do with the unstable
    /// `const_precise_live_drops`. The steps that keep the type (`retry`,
    /// `timeout`, `attempt_timeout`, `max_wait`, `fallback_on`, `seed`)
    /// follow this one in a `static` as after [`with_admission`](Pipeline::with_admission).
    ///
    /// ```
    /// use failsafe_core::retry::{RetryConfig, RetryEvent, TokenQuota};
    /// use failsafe_core::sync::CsLock;
    /// use failsafe_driver::{FnObserver, Pipeline, StdClock, checked};
    ///
    /// static BUDGET: CsLock<TokenQuota> = CsLock::new(checked(TokenQuota::new(500, 5, 10, 5, 1)));
    /// fn note(_: RetryEvent) {}
    /// static UPLINK: Pipeline<(), StdClock, &CsLock<TokenQuota>, TokenQuota, FnObserver<fn(RetryEvent)>> =
    ///     Pipeline::from_parts(StdClock, (), &BUDGET, FnObserver(note as fn(RetryEvent)), (), ())
    ///         .retry(checked(RetryConfig::builder().max_attempts(3).build()));
    /// # let _ = &UPLINK;
    /// ```
    pub const fn from_parts(
        runtime: R,
        admission: A,
        budget: B,
        retry_observer: O,
        hedge_observer: H,
        chaos: C,
    ) -> Self {
        let settings = Settings {
            runtime,
            retry: None,
            seeds: CallSeeds::by_default(0x5EED),
            attempt_timeout: None,
            timeout: None,
            fallback: FallbackPolicy::ALL,
            max_wait: None,
        };
        Pipeline {
            admission,
            budget,
            observer: retry_observer,
            hedge_observer,
            chaos,
            settings,
            _budget: PhantomData,
        }
    }
}

impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C> {
    /// A call's deadline at `now`: the caller's, bounded by the overall
    /// timeout.
    fn call_deadline(&self, now: Instant, deadline: Deadline) -> Deadline {
        match self.settings.timeout {
            Some(overall) => deadline.child(now, overall),
            None => deadline,
        }
    }

    /// Adds an admission after those already added (a circuit breaker,
    /// fail fast, rate limiter or bulkhead handle, or a reference to one).
    pub fn admit<X>(self, admission: X) -> Pipeline<(A, X), R, B, G, O, H, C> {
        Pipeline {
            admission: (self.admission, admission),
            budget: self.budget,
            observer: self.observer,
            hedge_observer: self.hedge_observer,
            chaos: self.chaos,
            settings: self.settings,
            _budget: PhantomData,
        }
    }

    /// Retries failed attempts under `config`.
    pub const fn retry(mut self, config: RetryConfig) -> Self {
        self.settings.retry = Some(config);
        self
    }

    /// Bounds each attempt (waiting for admission included): an attempt
    /// still running at `now + timeout` (never past the call's deadline)
    /// is cut and retried as a timeout. In
    /// [`TimeoutMode::Soft`](failsafe_core::timeout::TimeoutMode::Soft) the
    /// attempt only gets that deadline to hand down and runs on; the
    /// call's own deadline ([`timeout`](Self::timeout)) still cuts it. The
    /// plan is the core's [`AttemptTimeout`].
    pub const fn attempt_timeout(mut self, config: TimeoutConfig) -> Self {
        self.settings.attempt_timeout = Some(config);
        self
    }

    /// Bounds the whole call: no retry starts after `now + overall` and no
    /// attempt runs past it.
    pub const fn timeout(mut self, overall: Duration) -> Self {
        self.settings.timeout = Some(overall);
        self
    }

    /// Which reasons [`call_or_else`](Self::call_or_else) falls back for
    /// (all of them by default).
    pub const fn fallback_on(mut self, policy: FallbackPolicy) -> Self {
        self.settings.fallback = policy;
        self
    }

    /// Each attempt waits at most `max_wait` for admission: a rate
    /// limiter's permits, a bulkhead's queue (zero: no waiting; a machine
    /// that cannot admit at once rejects, a limiter with its `retry_at`).
    /// By default each machine's own wait applies (the std
    /// `RateLimiterPolicy`'s: [`DEFAULT_MAX_WAIT`](crate::DEFAULT_MAX_WAIT);
    /// a bulkhead's `max_wait`). In a hedged call, an attempt started
    /// beside attempts still running never waits, whatever `max_wait`
    /// says: its wait would hold up the attempts already running (and
    /// their answer), and it is late anyway; one started once every
    /// earlier attempt has ended (a hedge on failure) waits as the first
    /// does, each such attempt up to `max_wait`, as each retry does. The
    /// call's and the attempt's deadlines bound the waits either way. A
    /// handle's own `with_max_wait` is not used here: the pipeline asks
    /// for the call.
    ///
    /// While an attempt waits for a machine, it holds the permits of the
    /// machines before it in the chain (a breaker's half-open probe, a
    /// bulkhead's slot): put the machines that make calls wait first, or
    /// do not wait.
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.settings.max_wait = Some(max_wait);
        self
    }

    /// Seeds the retries' jitter: calls made in the same order draw the
    /// same delays, in every process. By default, with the `std` feature,
    /// each process draws its own (a fleet does not retry in step); without
    /// it (firmware), every device draws the same unless seeded apart.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.settings.seeds = CallSeeds::given(seed);
        self
    }

    /// Spends retries from `budget` (shared by everything that holds it:
    /// a `&'static` lock on firmware, a `SharedBudget` on std).
    pub fn retry_budget<B2: Lock<G2>, G2: RetryBudget>(
        self,
        budget: B2,
    ) -> Pipeline<A, R, B2, G2, O, H, C> {
        Pipeline {
            admission: self.admission,
            budget,
            observer: self.observer,
            hedge_observer: self.hedge_observer,
            chaos: self.chaos,
            settings: self.settings,
            _budget: PhantomData,
        }
    }

    /// Reports retry events to `observer` (cloned per call): any
    /// [`Observer`], a closure in a [`FnObserver`](crate::FnObserver).
    /// It runs inside the call it reports on (not under a shared machine's
    /// lock, as a handle's `on_event` listeners do, whose panics are
    /// caught): a panic in it reaches that call's caller as a panicking
    /// operation's would, and whatever the call held goes back with its
    /// guards.
    ///
    /// ```
    /// # #[cfg(feature = "std")] fn main() {
    /// use std::sync::{Arc, Mutex};
    /// use failsafe_core::retry::{BackoffKind, RetryConfig, RetryEvent};
    /// use failsafe_driver::{FnObserver, Pipeline, StdClock};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&seen);
    /// let pipeline = Pipeline::new(StdClock::default())
    ///     .retry(RetryConfig::builder().max_attempts(2).backoff(BackoffKind::Constant(Default::default())).build().unwrap())
    ///     .observe_retries(FnObserver(move |e: RetryEvent| log.lock().unwrap().push(e)));
    /// let r = pipeline.call_blocking(|_| Err::<u32, _>("down"));
    /// assert!(r.is_err());
    /// assert!(matches!(seen.lock().unwrap().last(), Some(RetryEvent::GaveUp { .. })));
    /// # }
    /// # #[cfg(not(feature = "std"))] fn main() {}
    /// ```
    pub fn observe_retries<O2: Observer<RetryEvent> + Clone>(
        self,
        observer: O2,
    ) -> Pipeline<A, R, B, G, O2, H, C> {
        Pipeline {
            admission: self.admission,
            budget: self.budget,
            observer,
            hedge_observer: self.hedge_observer,
            chaos: self.chaos,
            settings: self.settings,
            _budget: PhantomData,
        }
    }

    /// Reports hedge events ([`HedgeEvent`]: each attempt launched, the
    /// one that won and its latency, a hedge the budget refused) of
    /// [`call_hedged`](Self::call_hedged) and
    /// [`call_hedged_blocking`](Self::call_hedged_blocking) to `observer`
    /// (cloned per call), as [`observe_retries`](Self::observe_retries)
    /// does for retries. Until then they go nowhere.
    pub fn observe_hedges<H2: Observer<HedgeEvent> + Clone>(
        self,
        observer: H2,
    ) -> Pipeline<A, R, B, G, O, H2, C> {
        Pipeline {
            admission: self.admission,
            budget: self.budget,
            observer: self.observer,
            hedge_observer: observer,
            chaos: self.chaos,
            settings: self.settings,
            _budget: PhantomData,
        }
    }

    /// Injects faults and latency into every attempt as `policy` decides
    /// (a [`ChaosPolicy`](crate::chaos::ChaosPolicy), or a reference to
    /// one): the innermost stage, after the admissions and inside the
    /// attempt timeout, so the breaker, the retry and the timeouts see an
    /// injected fault as the dependency's own. (Not in
    /// [`call_hedged_blocking`](Self::call_hedged_blocking), whose attempts
    /// run on threads of their own.)
    pub fn chaos<C2>(self, policy: C2) -> Pipeline<A, R, B, G, O, H, C2> {
        Pipeline {
            admission: self.admission,
            budget: self.budget,
            observer: self.observer,
            hedge_observer: self.hedge_observer,
            chaos: policy,
            settings: self.settings,
            _budget: PhantomData,
        }
    }

    /// The admission chain.
    pub const fn admission(&self) -> &A {
        &self.admission
    }

    /// The runtime.
    pub const fn runtime(&self) -> &R {
        &self.settings.runtime
    }
}

impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C>
where
    A: SharedAdmission<Key = ()>,
    R: Runtime,
    B: Lock<G>,
    G: RetryBudget,
    O: Observer<RetryEvent> + Clone,
{
    /// Runs `op` through the pipeline; every `Err` is a failure that
    /// retries. `op` is called when an attempt starts and gets the
    /// [`Attempt`] (its number, and the deadline to hand down); its future
    /// is polled only once every admission has let the attempt in.
    /// Dropping the returned future drops the attempt in flight and hands
    /// its permits back.
    pub fn call<F, Fut, T, E>(
        &self,
        op: F,
    ) -> PipelineCall<'_, A, R, B, G, O, H, C, DefaultClassifier, F, Fut, T, E>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Inject<T, E>,
    {
        self.call_with(&DefaultClassifier, Deadline::NEVER, op)
    }

    /// [`call`](Self::call) under the caller's `deadline`, with `classify`
    /// deciding which results fail, which retry and what a retry-after
    /// hint says.
    pub fn call_with<'p, K, F, Fut, T, E>(
        &'p self,
        classify: &'p K,
        deadline: Deadline,
        op: F,
    ) -> PipelineCall<'p, A, R, B, G, O, H, C, K, F, Fut, T, E>
    where
        K: Classify<T, E>,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Inject<T, E>,
    {
        self.call_attempts(classify, deadline, op)
    }

    /// [`call_with`](Self::call_with) for an operation that may be unable
    /// to make another attempt ([`Attempts::make`] answers `None`: a
    /// request that cannot be sent twice); the call then ends with the
    /// last attempt's result.
    pub fn call_attempts<'p, K, F, Fut, T, E>(
        &'p self,
        classify: &'p K,
        deadline: Deadline,
        op: F,
    ) -> PipelineCall<'p, A, R, B, G, O, H, C, K, F, Fut, T, E>
    where
        K: Classify<T, E>,
        F: Attempts<Fut>,
        Fut: Future<Output = Result<T, E>>,
        C: Inject<T, E>,
    {
        let now = self.settings.runtime.now();
        let (deadline, plan) = self.retries_at(now, deadline);
        PipelineCall {
            pipeline: self,
            classify,
            op,
            deadline,
            pending: None,
            admitting: None,
            run: PlanRun::new(self.timed(plan), now),
        }
    }

    /// [`call`](Self::call) with a hedge in place of the retry: the
    /// operation (idempotent: the caller says so) starts again whenever
    /// `hedge` says (a slow attempt, a failure), up to four attempts in all
    /// (the call holds four: a config asking for more runs four), each
    /// admitted through the chain and bounded by the attempt timeout;
    /// the first success wins and the others are dropped, their permits
    /// handed back. Hedges spend the pipeline's retry budget; their
    /// [`HedgeEvent`]s go to [`observe_hedges`](Self::observe_hedges)'s
    /// observer.
    ///
    /// `latencies` is where the
    /// [`Quantile`](failsafe_core::hedge::HedgeDelay::Quantile) delay comes
    /// from and the winner's latency goes: a reference to a lock over a
    /// [`LatencyQuantile`](failsafe_core::hedge::LatencyQuantile) shared by
    /// the calls to one dependency, or `()` for none (the quantile delay is
    /// then zero: all attempts at once).
    pub fn call_hedged<'p, Q, F, Fut, T, E>(
        &'p self,
        hedge: failsafe_core::hedge::HedgeConfig,
        latencies: Q,
        op: crate::Idempotent<F>,
    ) -> HedgedCall<'p, A, R, B, G, O, Q, F, Fut, T, E, H, C>
    where
        H: Observer<HedgeEvent> + Clone,
        Q: failsafe_core::hedge::Latencies,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Inject<T, E>,
    {
        let now = self.settings.runtime.now();
        let (deadline, plan) = self.hedged_at(now, hedge, latencies);
        PipelineCall {
            pipeline: self,
            classify: &DefaultClassifier,
            op: op.0,
            deadline,
            pending: None,
            admitting: None,
            run: PlanRun::new(plan, now),
        }
    }

    /// [`call`](Self::call), answering a failure with `alternative(reason,
    /// error)` when the reason is one [`fallback_on`](Self::fallback_on)
    /// accepts.
    ///
    /// # Errors
    ///
    /// The alternative's error, or the pipeline's when it does not fall
    /// back.
    pub async fn call_or_else<F, Fut, T, E, X, XFut>(
        &self,
        op: F,
        alternative: X,
    ) -> Result<T, PipelineError<E>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        C: Inject<T, E>,
        X: FnOnce(FallbackReason, PipelineError<E>) -> XFut,
        XFut: Future<Output = Result<T, PipelineError<E>>>,
    {
        match self.call(op).await {
            Err(error) => match self.falls_back(&error) {
                Some(reason) => alternative(reason, error).await,
                None => Err(error),
            },
            ok => ok,
        }
    }
}

impl<A, R, B: Lock<G>, G: RetryBudget, O: Observer<RetryEvent> + Clone, H, C>
    Pipeline<A, R, B, G, O, H, C>
{
    /// The call's deadline (the caller's, bounded by the overall timeout)
    /// and its retry plan, starting at `now`.
    fn retries_at(&self, now: Instant, deadline: Deadline) -> (Deadline, Plan0<'_, B, G, O>) {
        let deadline = self.call_deadline(now, deadline);
        let seeds = self.settings.seeds.next();
        let plan = RetryPlan::new(
            self.settings.retry.unwrap_or(ONCE),
            deadline,
            &self.budget,
            seeds,
            self.observer.clone(),
            now,
        );
        (deadline, plan)
    }

    /// A hedged call's deadline and plan (at most four attempts in all,
    /// each bounded by the attempt timeout), starting at `now`.
    fn hedged_at<Q: failsafe_core::hedge::Latencies>(
        &self,
        now: Instant,
        hedge: failsafe_core::hedge::HedgeConfig,
        latencies: Q,
    ) -> (Deadline, Timed<Hedged<'_, B, G, Q, H>>)
    where
        H: Observer<HedgeEvent> + Clone,
    {
        let deadline = self.call_deadline(now, Deadline::NEVER);
        let four = hedge.at_most(IN_FLIGHT as u32);
        let hedges = self.hedge_observer.clone();
        let plan = HedgePlan::new(four, deadline, &self.budget, latencies, hedges, now);
        (deadline, self.timed(plan))
    }

    /// `plan` with the attempt timeout on top.
    fn timed<P>(&self, plan: P) -> Timed<P> {
        AttemptTimeout::new(plan, self.settings.attempt_timeout)
    }
}

impl<A, R: crate::Clock, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C> {
    /// When an attempt handed `handed` in a call whose deadline is `call`
    /// is cut: its own deadline in cancel mode, the call's otherwise (a
    /// soft attempt timeout only hands its deadline down). Past it, an
    /// attempt the call stops waiting for gives its permits back as a
    /// timeout; before it, as cancelled.
    fn cut(&self, handed: Deadline, call: Deadline) -> Deadline {
        Timed::<()>::cut_at(self.settings.attempt_timeout, handed, call)
    }

    /// Whether `rejected` is an attempt cut at `cut` while it waited for
    /// admission (a bulkhead's queue gives a call up at its deadline): a
    /// timeout, not a refusal.
    fn timed_out_waiting(&self, rejected: &Rejected, cut: Deadline) -> bool {
        rejected.reason == RejectReason::DeadlineTooShort
            && cut.is_expired(self.settings.runtime.now())
    }

    /// What an attempt under `deadline` asks of the admissions; `hedged`:
    /// a hedge started beside an attempt still running, which never waits
    /// (waiting for a permit, it would hold up the attempts already
    /// running, and it is late anyway).
    fn ask(&self, deadline: Deadline, hedged: bool) -> Ask {
        let max_wait = if hedged {
            Some(Duration::ZERO)
        } else {
            self.settings.max_wait
        };
        Ask {
            deadline,
            max_wait,
            ..Ask::DEFAULT
        }
    }

    /// The reason to fall back for `error`, if the pipeline's fallback
    /// policy accepts it (decided by the core's `FallbackPlan`).
    pub fn falls_back<E>(&self, error: &PipelineError<E>) -> Option<FallbackReason> {
        let mut none = ();
        crate::fallback::falls_back(
            &self.settings.runtime,
            self.settings.fallback,
            &mut none,
            |_| true,
            error,
        )
    }

    /// The call's result from how its retries finished.
    /// `hedged`: the plan was a hedge, whose giving up is reported as a
    /// retry's is (one attempt without a retry gives up on nothing).
    fn answer<T, E>(
        &self,
        deadline: Deadline,
        finish: Finish,
        last: Option<Ended<T, E>>,
        hedged: bool,
    ) -> Result<T, PipelineError<E>> {
        let (attempts, gave_up) = match finish {
            Finish::Answer { attempts, gave_up } => (attempts, gave_up),
            Finish::GaveUp { reason, attempts } => (attempts, Some(reason)),
            Finish::TimedOut(_) => (0, Some(GiveUp::Deadline)),
        };
        let error = match last.map(|ended| ended.result) {
            Some(Ok(value)) => return Ok(value),
            Some(Err(error)) => error,
            // No attempt ran: the overall deadline had passed.
            None => Error::Timeout(deadline),
        };
        let gave_up = if hedged || self.settings.retry.is_some() {
            gave_up
        } else {
            None
        };
        // The clock is read only for an answer that says when to come back.
        let answered_at = error
            .rejected()
            .and_then(|r| r.retry_at)
            .map(|_| self.settings.runtime.now());
        Err(PipelineError {
            error,
            attempts,
            gave_up,
            answered_at,
        })
    }
}

/// How an attempt ended: its result, when (if it read the clock), and
/// the classifier's judgement (none for a rejection: judged by the
/// executor at the time it learns of it).
#[derive(Debug)]
struct Ended<T, E> {
    result: Result<T, Error<E>>,
    at: Option<Instant>,
    judged: Option<Judged>,
}

impl<T, E> Ended<T, E> {
    /// Refused admission: judged by the rejection's own verdict.
    const fn rejected(rejected: Rejected) -> Self {
        Ended {
            result: Err(Error::Rejected(rejected)),
            at: None,
            judged: None,
        }
    }

    /// Cut at `cut`, ending `at` (running, or waiting for admission):
    /// judged as a timed-out attempt, retried as one.
    const fn timed_out(cut: Deadline, at: Instant) -> Self {
        Ended {
            result: Err(Error::Timeout(cut)),
            at: Some(at),
            judged: Some(failsafe_core::timeout::ATTEMPT_TIMED_OUT),
        }
    }
}

/// Judges a pipeline attempt.
struct ByAttempt;

impl<T, E> Judge<Ended<T, E>> for ByAttempt {
    fn judge(&mut self, now: Instant, ended: &Ended<T, E>) -> Judged {
        if let Some(judged) = ended.judged {
            return judged;
        }
        Judged::verdict(match &ended.result {
            Err(Error::Rejected(rejected)) => Verdict::for_rejection(rejected, now),
            _ => Verdict::DoNotRetry,
        })
    }

    fn ended_at(&self, ended: &Ended<T, E>) -> Option<Instant> {
        ended.at
    }
}

/// A held attempt's permits: handed back with the attempt's outcome when it
/// ends, or, if the attempt is dropped first (cut, a hedge's loser, or the
/// call itself dropped), as a timeout when the deadline it is cut at has
/// passed and as cancelled otherwise (a soft attempt timeout's deadline
/// cuts nothing).
struct Held<'p, A: SharedAdmission, R: Runtime> {
    guard: Option<Guard<&'p A, &'p R>>,
    deadline: Deadline,
    runtime: &'p R,
}

impl<A: SharedAdmission, R: Runtime> Drop for Held<'_, A, R> {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            hand_back(guard, self.deadline, self.runtime.now());
        }
    }
}

/// Hands back the permits of an attempt the call no longer waits for, at
/// `now`: as a timeout if its deadline has passed, as cancelled otherwise.
pub(crate) fn hand_back<A: SharedAdmission, R: crate::Clock>(
    guard: Guard<A, R>,
    deadline: Deadline,
    now: Instant,
) {
    let outcome = match deadline.is_expired(now) {
        true => Outcome::Timeout,
        false => Outcome::Cancelled,
    };
    guard.finish_at(now, outcome);
}

pin_project_lite::pin_project! {
    /// One attempt: refused by an admission, or admitted and running. Its
    /// deadline is raced by the call's one timer (the plan's); an attempt
    /// cut at its deadline is dropped and its permits go back as a timeout.
    //
    // Not generic over the result's `T` and `E` (its `Future` impl learns
    // them from `Fut`'s output): a type naming them apart from `Fut` could
    // not be proved `Send` inside an async block when `E` holds a lifetime
    // (rust-lang/rust#90696).
    struct AttemptFuture<'p, A, R, K, Fut>
    where
        A: SharedAdmission,
        R: Runtime,
    {
        #[pin]
        op: Option<Fut>,
        rejected: Option<Rejected>,
        held: Held<'p, A, R>,
        classify: &'p K,
    }
}

impl<A, R, K, Fut, T, E> Future for AttemptFuture<'_, A, R, K, Fut>
where
    A: SharedAdmission,
    R: Runtime,
    K: Classify<T, E>,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Ended<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended<T, E>> {
        let this = self.project();
        let Some(op) = this.op.as_pin_mut() else {
            return Poll::Ready(match this.rejected.take() {
                Some(rejected) => Ended::rejected(rejected),
                // Its wait for admission cut at its deadline: timed out, as
                // a running attempt cut there (and retried as one).
                None => Ended::timed_out(this.held.deadline, this.held.runtime.now()),
            });
        };
        let result = ready!(op.poll(cx));
        let end = this.held.runtime.now();
        let outcome = this.classify.classify(&result);
        let verdict = this.classify.verdict_at(end, &result);
        if let Some(guard) = this.held.guard.take() {
            guard.finish_at(end, outcome);
        }
        Poll::Ready(Ended {
            result: result.map_err(Error::Inner),
            at: Some(end),
            judged: Some(Judged::verdict(verdict)),
        })
    }
}

/// Attempts a pipeline runs at once at most (a hedge's four), each under
/// the attempt timeout.
const IN_FLIGHT: usize = 4;

/// A call's plan with the attempt timeout on top.
type Timed<P> = AttemptTimeout<P, IN_FLIGHT>;

/// An attempt's future with the pipeline's injection `C` around it.
type Injected<C, Fut, R> = <C as Injects>::Future<Fut, <R as Runtime>::Sleep>;

/// An attempt of a pipeline with injection `C`.
type Attempting<'p, A, R, K, C, Fut> = AttemptFuture<'p, A, R, K, Injected<C, Fut, R>>;

/// A call's retry plan.
pub type Plan0<'p, B, G, O> = RetryPlan<&'p B, G, Xorshift64, O>;

/// A hedged call's plan ([`Pipeline::call_hedged`]), reporting to the
/// pipeline's hedge observer `H` ([`Pipeline::observe_hedges`]).
pub type Hedged<'p, B, G, Q, H = ()> = HedgePlan<&'p B, G, Q, H>;

/// The future of [`Pipeline::call_hedged`].
pub type HedgedCall<'p, A, R, B, G, O, Q, F, Fut, T, E, H = (), C = ()> = PipelineCall<
    'p,
    A,
    R,
    B,
    G,
    O,
    H,
    C,
    DefaultClassifier,
    F,
    Fut,
    T,
    E,
    Hedged<'p, B, G, Q, H>,
    UpToFour,
>;

/// How many attempts a [`PipelineCall`] holds at once.
pub trait SlotKind {
    /// The slots, for attempts of type `F`.
    type Slots<F>: Slots<F>;
    /// Several attempts run at once (a hedge's).
    const CONCURRENT: bool;
}

/// One attempt at a time (a retry).
#[derive(Clone, Copy, Debug)]
pub struct OneAtATime;

impl SlotKind for OneAtATime {
    type Slots<F> = crate::slots::One<F>;
    const CONCURRENT: bool = false;
}

/// Up to four at once (a hedge).
#[derive(Clone, Copy, Debug)]
pub struct UpToFour;

impl SlotKind for UpToFour {
    type Slots<F> = crate::slots::Four<F>;
    const CONCURRENT: bool = true;
}

pin_project_lite::pin_project! {
    /// The future of one [`Pipeline::call`]: a named type, no allocation,
    /// one timer (the attempt's deadline and the retry's backoff take
    /// turns on it).
    #[must_use = "futures do nothing unless polled"]
    pub struct PipelineCall<'p, A, R, B, G, O, H, C, K, F, Fut, T, E, P = Plan0<'p, B, G, O>, Z = OneAtATime>
    where
        A: SharedAdmission,
        R: Runtime,
        K: Classify<T, E>,
        Fut: Future<Output = Result<T, E>>,
        Z: SlotKind,
        C: Inject<T, E>,
    {
        pipeline: &'p Pipeline<A, R, B, G, O, H, C>,
        classify: &'p K,
        op: F,
        deadline: Deadline,
        pending: Option<Attempt>,
        #[pin]
        admitting: Option<Admit<&'p A, &'p R>>,
        #[pin]
        run: PlanRun<
            Timed<P>,
            Attempting<'p, A, R, K, C, Fut>,
            R::Sleep,
            Z::Slots<Attempting<'p, A, R, K, C, Fut>>,
        >,
    }
}

impl<'p, A, R, B, G, O, K, F, Fut, T, E, P, Z, H, C>
    PipelineCall<'p, A, R, B, G, O, H, C, K, F, Fut, T, E, P, Z>
where
    Z: SlotKind,
    C: Inject<T, E>,
    A: SharedAdmission<Key = ()>,
    R: Runtime,
    K: Classify<T, E>,
    F: Attempts<Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    /// The attempt admitted with `guard` (or refused), as the run's future;
    /// `None` if the operation can make no further attempt.
    fn attempt(
        pipeline: &'p Pipeline<A, R, B, G, O, H, C>,
        classify: &'p K,
        op: &mut F,
        attempt: Attempt,
        call_deadline: Deadline,
        admitted: Result<Guard<&'p A, &'p R>, Rejected>,
    ) -> Option<Attempting<'p, A, R, K, C, Fut>> {
        let runtime = &pipeline.settings.runtime;
        let (op, rejected, guard) = match admitted {
            Ok(guard) => match pipeline
                .chaos
                .around(runtime, attempt.deadline, || op.make(attempt))
            {
                Some(op) => (Some(op), None, Some(guard)),
                None => {
                    guard.abandon();
                    return None;
                }
            },
            // Refused for its deadline once that deadline had come (its
            // wait in a bulkhead's queue cut there): the attempt timed out.
            Err(rejected)
                if pipeline.timed_out_waiting(
                    &rejected,
                    pipeline.cut(attempt.deadline, call_deadline),
                ) =>
            {
                (None, None, None)
            }
            Err(rejected) => (None, Some(rejected), None),
        };
        Some(AttemptFuture {
            op,
            rejected,
            held: Held {
                guard,
                deadline: pipeline.cut(attempt.deadline, call_deadline),
                runtime,
            },
            classify,
        })
    }
}

impl<A, R, B, G, O, K, F, Fut, T, E, P, Z, H, C> Future
    for PipelineCall<'_, A, R, B, G, O, H, C, K, F, Fut, T, E, P, Z>
where
    C: Inject<T, E>,
    A: SharedAdmission<Key = ()>,
    R: Runtime,
    P: failsafe_core::plan::Plan,
    Z: SlotKind,
    K: Classify<T, E>,
    F: Attempts<Fut>,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, PipelineError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let pipeline: &Pipeline<A, R, B, G, O, H, C> = this.pipeline;
        loop {
            let (attempt, admitted) = if let Some(admit) = this.admitting.as_mut().as_pin_mut() {
                let admitted = ready!(admit.poll(cx));
                this.admitting.set(None);
                let Some(attempt) = this.pending.take() else {
                    continue;
                };
                (attempt, admitted)
            } else {
                let runtime = &pipeline.settings.runtime;
                let mut judge = LastIf {
                    judge: &mut ByAttempt,
                    last: this.op.exhausted(),
                };
                let attempt = match ready!(this.run.as_mut().poll_step(cx, runtime, &mut judge)) {
                    Step::Start(attempt) => attempt,
                    Step::Finish(finish, last) => {
                        // A last attempt cut at its deadline has no result of
                        // its own: the call timed out (not the attempt before).
                        let answer = match this.run.plan().timed_out() {
                            Some(deadline) => {
                                pipeline.answer(deadline, finish, None, Z::CONCURRENT)
                            }
                            None => pipeline.answer(*this.deadline, finish, last, Z::CONCURRENT),
                        };
                        return Poll::Ready(answer);
                    }
                };
                // One `now` for every admission; the plan set the deadline.
                // A hedge beside attempts in flight never waits; one that
                // runs alone (its predecessors ended) waits as any attempt.
                let hedged = Z::CONCURRENT && attempt.number > 1 && !this.run.idle();
                // Asked with the deadline that cuts the attempt (a soft
                // attempt timeout cuts nothing: the call's).
                let cut = pipeline.cut(attempt.deadline, *this.deadline);
                let ask = pipeline.ask(cut, hedged);
                let (admission, call) = (
                    &pipeline.admission,
                    ask.apply(Call::at(this.run.now()), &()),
                );
                let admitted = match admission.enter(&call, Some(cx.waker())) {
                    Entry::Admitted(permit) => Ok(Guard::new(admission, runtime, permit)),
                    Entry::Rejected(rejected) => Err(rejected),
                    Entry::Pending { wait, .. } => {
                        let admit = Admit::waiting(admission, runtime, ask, (), wait);
                        this.admitting.set(Some(admit));
                        *this.pending = Some(attempt);
                        continue;
                    }
                };
                (attempt, admitted)
            };
            let call_deadline = *this.deadline;
            match Self::attempt(
                pipeline,
                this.classify,
                this.op,
                attempt,
                call_deadline,
                admitted,
            ) {
                Some(future) => this.run.as_mut().start(attempt, future),
                // The operation can make no further attempt (its request
                // cannot be sent again): the last attempt's result answers.
                None => {
                    let last = this.run.as_mut().take_last();
                    let finish = Finish::Answer {
                        attempts: attempt.number.saturating_sub(1),
                        gave_up: Some(GiveUp::NotRetryable),
                    };
                    return Poll::Ready(pipeline.answer(
                        *this.deadline,
                        finish,
                        last,
                        Z::CONCURRENT,
                    ));
                }
            }
        }
    }
}

#[cfg(feature = "std")]
impl<A, R, B, G, O, H, C> Pipeline<A, R, B, G, O, H, C>
where
    A: SharedAdmission<Key = ()>,
    R: crate::Park + crate::BlockingRuntime,
    B: Lock<G>,
    G: RetryBudget,
    O: Observer<RetryEvent> + Clone,
{
    /// [`call`](Self::call) for blocking code on the calling thread:
    /// admissions that wait park the thread, retries block it until their
    /// instant. A blocking attempt cannot be interrupted: one that returns
    /// after its deadline counts as timed out and its result is discarded
    /// (as a blocking timeout does).
    ///
    /// # Errors
    ///
    /// A [`PipelineError`]: how the last attempt failed and why the
    /// retries stopped.
    pub fn call_blocking<F, T, E>(&self, op: F) -> Result<T, PipelineError<E>>
    where
        F: FnMut(Attempt) -> Result<T, E>,
        C: Inject<T, E>,
    {
        self.call_blocking_with(&DefaultClassifier, Deadline::NEVER, op)
    }

    /// [`call_blocking`](Self::call_blocking) under the caller's `deadline`,
    /// with `classify` deciding which results fail and retry.
    ///
    /// # Errors
    ///
    /// A [`PipelineError`].
    pub fn call_blocking_with<K, F, T, E>(
        &self,
        classify: &K,
        deadline: Deadline,
        mut op: F,
    ) -> Result<T, PipelineError<E>>
    where
        K: Classify<T, E>,
        F: FnMut(Attempt) -> Result<T, E>,
        C: Inject<T, E>,
    {
        let runtime = &self.settings.runtime;
        let now = runtime.now();
        let (deadline, plan) = self.retries_at(now, deadline);
        // A late attempt is cut at its own deadline, or in soft mode at
        // the call's, as the async call's plan cuts it.
        let call_deadline = deadline;
        let attempt = |attempt: Attempt, now: Instant| {
            let deadline = attempt.deadline;
            let cut = self.cut(deadline, call_deadline);
            let guard = match crate::std_blocking::admit_at(
                &self.admission,
                runtime,
                now,
                self.ask(cut, false),
            ) {
                Ok(guard) => guard,
                // As the async call: a wait cut at the deadline timed out.
                Err(rejected) if self.timed_out_waiting(&rejected, cut) => {
                    return Ended::timed_out(cut, runtime.now());
                }
                Err(rejected) => return Ended::rejected(rejected),
            };
            let result = self
                .chaos
                .around_blocking(runtime, deadline, || op(attempt));
            let end = runtime.now();
            if cut.is_expired(end) {
                guard.finish_at(end, Outcome::Timeout);
                return Ended::timed_out(cut, end);
            }
            guard.finish_at(end, classify.classify(&result));
            Ended {
                judged: Some(Judged::verdict(classify.verdict_at(end, &result))),
                result: result.map_err(Error::Inner),
                at: Some(end),
            }
        };
        let plan = self.timed(plan);
        let (finish, last) = crate::execute_blocking(runtime, now, plan, ByAttempt, attempt);
        self.answer(deadline, finish, last, false)
    }

    /// [`call_hedged`](Self::call_hedged) for blocking code: each attempt
    /// is admitted through the chain on the calling thread (a wait parks
    /// it), then runs on a thread of its own; the first success wins (see
    /// [`hedge_blocking`](crate::hedge_blocking) for the threads, at most
    /// four, and why `op` is `Fn + Send + Sync + 'static`). The decisions
    /// are the async call's: the same plan, the same attempt deadlines.
    ///
    /// A thread cannot be cancelled: an attempt the call no longer waits
    /// for (a loser, or one cut at its attempt deadline) is abandoned, its
    /// result discarded; its permits are handed back when it is abandoned,
    /// as a timeout if its deadline has passed and as cancelled otherwise
    /// (the async call's accounting), so a bulkhead counts the attempts
    /// the call waits for, not the threads still running. A panicking
    /// attempt is a failed attempt (its permits go back as a failure). Hedge
    /// events go to [`observe_hedges`](Self::observe_hedges)'s observer.
    ///
    /// # Errors
    ///
    /// A [`PipelineError`], as [`call_hedged`](Self::call_hedged)'s.
    ///
    /// # Panics
    ///
    /// Only with the attempts' own panic, when no attempt returned at all
    /// (every one panicked, or no thread could be started): there is no
    /// result to answer with, as a panicking
    /// [`call_blocking`](Self::call_blocking) has none.
    pub fn call_hedged_blocking<Q, F, T, E>(
        &self,
        hedge: failsafe_core::hedge::HedgeConfig,
        latencies: Q,
        op: crate::Idempotent<F>,
    ) -> Result<T, PipelineError<E>>
    where
        H: Observer<HedgeEvent> + Clone,
        Q: failsafe_core::hedge::Latencies,
        F: Fn(Attempt) -> Result<T, E> + Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let now = self.settings.runtime.now();
        let (deadline, mut timed) = self.hedged_at(now, hedge, latencies);
        let work = crate::std_hedge::OnThreads {
            admission: &self.admission,
            runtime: &self.settings.runtime,
            classify: &DefaultClassifier,
            op: std::sync::Arc::new(op.0),
            cut: &|handed| self.cut(handed, deadline),
            ask: &|attempt: Attempt, alone| self.ask(self.cut(attempt.deadline, deadline), !alone),
        };
        let (finish, last, panic) = work.execute(now, &mut timed);
        if let Some(cut) = timed.timed_out() {
            // The last attempt was cut at its deadline: the call timed out.
            return self.answer(cut, finish, None, true);
        }
        if last.is_none()
            && let Some(panic) = panic
        {
            std::panic::resume_unwind(panic);
        }
        let last = last.map(|output| Ended {
            result: match output {
                // As the async hedge: a wait cut at the deadline timed out.
                Err(rejected) if self.timed_out_waiting(&rejected, deadline) => {
                    Err(Error::Timeout(deadline))
                }
                output => output
                    .map_err(Error::Rejected)
                    .and_then(|r| r.map_err(Error::Inner)),
            },
            at: None,
            judged: None,
        });
        self.answer(deadline, finish, last, true)
    }
}
