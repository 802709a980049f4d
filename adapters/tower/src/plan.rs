//! One layer for every per-call plan ([`PlanLayer`]) and one future for the
//! plans the driver's [`PlanRun`] executes ([`PlanFuture`]): retry, timeout
//! and hedge differ only in the plan they build and how they send an
//! attempt ([`PlanCall`]).

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use failsafe_core::Instant;
use failsafe_core::hedge::{HedgeConfig, HedgePlan, Latencies, LatencyQuantile};
use failsafe_core::plan::{Attempt, Finish, Judged, Plan as _};
use failsafe_core::retry::{GiveUp, NoBudget, RetryBudget, Verdict};
use failsafe_core::sync::Lock;
use failsafe_core::timeout::{Deadline, Timeout, TimeoutEvent};
use failsafe_driver::slots::{Four, One, Slots};
use failsafe_driver::{
    BoxedSleep, Classify, Clock, DefaultClassifier, Error, FirstAttemptAlone, Hook, PlanRun,
    RetryCallPlan, RetryError, RetryPolicy, Runtime, StdLock, Step, TimeoutPolicy,
};
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Layered, NoDeadline, RequestDeadline};

/// The layer of every per-call pattern: the pattern `P` (a [`RetryPolicy`],
/// a timeout, a [`Hedging`], a [`Piped`](crate::Piped) pipeline), the
/// classifier `K` judging the inner service's results, and `D`, how a
/// request carries its deadline ([`RequestDeadline`]). The pattern names
/// are aliases ([`RetryLayer`], [`TimeoutLayer`], [`HedgeLayer`],
/// [`PipelineLayer`](crate::PipelineLayer)); every service it makes shares
/// the pattern (its budget, its hook).
#[derive(Clone)]
pub struct PlanLayer<P, K = DefaultClassifier, D = NoDeadline> {
    pub(crate) pattern: P,
    pub(crate) classify: K,
    pub(crate) deadline: D,
}

impl<P, K> PlanLayer<P, K> {
    pub(crate) const fn of(pattern: P, classify: K) -> Self {
        PlanLayer {
            pattern,
            classify,
            deadline: NoDeadline,
        }
    }
}

impl<P, K, D> PlanLayer<P, K, D> {
    /// Judges the inner service's results with `classify` (an `Ok(503)`
    /// may retry, a `400` may not; a retry-after hint); the caller still
    /// gets them unchanged. A timeout takes none.
    pub fn with_classifier<K2>(self, classify: K2) -> PlanLayer<P, K2, D> {
        let PlanLayer {
            pattern, deadline, ..
        } = self;
        PlanLayer {
            pattern,
            classify,
            deadline,
        }
    }

    /// Reads each request's deadline with `deadline` (a [`RequestDeadline`]
    /// or any `Fn(&Req) -> Deadline`): the earlier of it and the pattern's
    /// binds, no retry or hedge starts at or after it, and a timeout writes
    /// its own back into the request for the layers inside.
    pub fn with_request_deadline<D2>(self, deadline: D2) -> PlanLayer<P, K, D2> {
        let PlanLayer {
            pattern, classify, ..
        } = self;
        PlanLayer {
            pattern,
            classify,
            deadline,
        }
    }

    /// The pattern the services share.
    pub const fn pattern(&self) -> &P {
        &self.pattern
    }

    /// The same layer over the pattern `f` makes of this one.
    pub(crate) fn map<P2>(self, f: impl FnOnce(P) -> P2) -> PlanLayer<P2, K, D> {
        let PlanLayer {
            pattern,
            classify,
            deadline,
        } = self;
        PlanLayer {
            pattern: f(pattern),
            classify,
            deadline,
        }
    }
}

impl<P, K, D> fmt::Debug for PlanLayer<P, K, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanLayer").finish_non_exhaustive()
    }
}

impl<S, P: Clone, K: Clone, D: Clone> Layer<S> for PlanLayer<P, K, D> {
    type Service = Layered<Self, S>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// How a [`PlanFuture`] sends the attempts its plan starts after the first
/// (sent in `call`), judges their results and answers.
pub trait PlanCall {
    /// An attempt's future.
    type Attempt: Future;
    /// Where the attempts in flight are kept ([`One`]; a hedge's [`Four`]).
    type Slots: Slots<Self::Attempt>;
    /// The call's answer.
    type Output;
    /// Takes in the attempt the plan asks to start.
    fn begin(&mut self, attempt: Attempt);
    /// Sends the attempt taken in once the service is ready (`None`:
    /// nothing to send, or the attempt is [`late`](Self::late)), or
    /// answers if it cannot; `clock` reads the time an attempt's deadline
    /// is checked against.
    fn poll_send<Cl: Clock + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        clock: &Cl,
    ) -> Poll<Option<Sent<Self>>>;
    /// The attempt taken in, not sent: its deadline passed while the
    /// service became ready (the call then gives up at its deadline, with
    /// the last result). `None` by default.
    fn late(&mut self) -> Option<Attempt> {
        None
    }
    /// The plan's judgement of a result that ended at `now`.
    fn judge(&self, now: Instant, result: &<Self::Attempt as Future>::Output) -> Judged;
    /// The answer for how the call finished and its last result.
    fn finish(finish: Finish, result: Option<<Self::Attempt as Future>::Output>) -> Self::Output;
}

/// An attempt sent (its number and future), or the call's answer.
pub type Sent<C> = Result<(Attempt, <C as PlanCall>::Attempt), <C as PlanCall>::Output>;

pin_project_lite::pin_project! {
    /// The future of every plan layer's call (aliases [`RetryFuture`],
    /// [`TimeoutFuture`], [`HedgeFuture`]): the driver's [`PlanRun`] under
    /// the core plan `P` (the attempts in flight and one timer on the
    /// runtime `R`, pinned in place: named, not boxed), and `C` sending the
    /// attempts. Dropping it drops the attempts in flight.
    #[must_use = "futures do nothing unless polled"]
    pub struct PlanFuture<C, P, R>
    where
        C: PlanCall,
        R: Runtime,
    {
        call: C,
        runtime: R,
        #[pin]
        run: PlanRun<P, C::Attempt, R::Sleep, C::Slots>,
    }
}

impl<C: PlanCall, P, R: Runtime> PlanFuture<C, P, R> {
    /// The plan this call runs under (a timeout's deadline, the attempts
    /// a retry made).
    pub fn plan(&self) -> &P {
        self.run.plan()
    }
}

impl<C: PlanCall, P, R: Runtime> fmt::Debug for PlanFuture<C, P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanFuture").finish_non_exhaustive()
    }
}

impl<C, P, R> Future for PlanFuture<C, P, R>
where
    C: PlanCall,
    P: failsafe_core::plan::Plan,
    R: Runtime,
{
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<C::Output> {
        let mut this = self.project();
        loop {
            match ready!(this.call.poll_send(cx, &*this.runtime)) {
                Some(Ok((attempt, future))) => this.run.as_mut().start(attempt, future),
                Some(Err(answer)) => return Poll::Ready(answer),
                None => {
                    if let Some(attempt) = this.call.late() {
                        // The attempt is not made: the call gives up at its
                        // deadline, as the plan does for a retry due after it.
                        let finish = Finish::Answer {
                            attempts: attempt.number.saturating_sub(1),
                            gave_up: Some(GiveUp::Deadline),
                        };
                        return Poll::Ready(C::finish(finish, this.run.as_mut().take_last()));
                    }
                }
            }
            let call = &*this.call;
            let mut judge = |now, result: &<C::Attempt as Future>::Output| call.judge(now, result);
            match ready!(this.run.as_mut().poll_step(cx, &*this.runtime, &mut judge)) {
                Step::Start(attempt) => this.call.begin(attempt),
                Step::Finish(finish, result) => return Poll::Ready(C::finish(finish, result)),
            }
        }
    }
}

/// A retry's [`PlanCall`]: the ready service sends each attempt a clone of
/// the request.
#[derive(Debug)]
pub struct Resend<S, Req, K> {
    service: S,
    request: Req,
    classify: K,
    // The attempt the plan asked for, waiting for the service to be ready.
    next: Option<Attempt>,
    // That attempt, not sent: the service became ready past its deadline.
    late: Option<Attempt>,
}

impl<S, Req, K> Resend<S, Req, K> {
    /// Resends `request` through `service` for every attempt the plan
    /// starts after the first.
    const fn new(service: S, request: Req, classify: K) -> Self {
        Resend {
            service,
            request,
            classify,
            next: None,
            late: None,
        }
    }
}

impl<S, Req, K> PlanCall for Resend<S, Req, K>
where
    S: Service<Req>,
    Req: Clone,
    K: Classify<S::Response, S::Error>,
{
    type Attempt = S::Future;
    type Slots = One<S::Future>;
    type Output = Result<S::Response, RetryError<S::Error>>;

    fn begin(&mut self, attempt: Attempt) {
        self.next = Some(attempt);
    }

    fn poll_send<Cl: Clock + ?Sized>(
        &mut self,
        cx: &mut Context<'_>,
        clock: &Cl,
    ) -> Poll<Option<Sent<Self>>> {
        let Some(attempt) = self.next else {
            return Poll::Ready(None);
        };
        let ready = ready!(self.service.poll_ready(cx));
        self.next = None;
        // A wait for readiness (a full bulkhead inside) that outlasted the
        // call's deadline: the request is not sent after it (the readiness
        // taken goes back when the service is dropped).
        if ready.is_ok() && !attempt.deadline.is_never() && attempt.deadline.is_expired(clock.now())
        {
            self.late = Some(attempt);
            return Poll::Ready(None);
        }
        Poll::Ready(Some(match ready {
            Ok(()) => Ok((attempt, self.service.call(self.request.clone()))),
            // A service that failed to become ready is broken: stop.
            Err(e) => Err(Err(RetryError {
                reason: GiveUp::NotRetryable,
                attempts: attempt.number,
                last: Some(e),
            })),
        }))
    }

    fn late(&mut self) -> Option<Attempt> {
        self.late.take()
    }

    fn judge(&self, now: Instant, result: &Result<S::Response, S::Error>) -> Judged {
        Judged::verdict(self.classify.verdict_at(now, result))
    }

    fn finish(finish: Finish, result: Option<Result<S::Response, S::Error>>) -> Self::Output {
        RetryError::from_finish(finish, result)
    }
}

/// A hedge's [`PlanCall`]: each attempt readies its own clone of the
/// service (tower's `oneshot`) with a clone of the request.
#[derive(Debug)]
pub struct Hedged<S, Req, K>(Resend<S, Req, K>);

impl<S, Req, K> PlanCall for Hedged<S, Req, K>
where
    S: Service<Req> + Clone,
    Req: Clone,
    K: Classify<S::Response, S::Error>,
{
    type Attempt = Oneshot<S, Req>;
    type Slots = Four<Oneshot<S, Req>>;
    type Output = Result<S::Response, RetryError<S::Error>>;

    fn begin(&mut self, attempt: Attempt) {
        self.0.next = Some(attempt);
    }

    fn poll_send<Cl: Clock + ?Sized>(
        &mut self,
        _: &mut Context<'_>,
        _: &Cl,
    ) -> Poll<Option<Sent<Self>>> {
        let send = |a| (a, self.0.service.clone().oneshot(self.0.request.clone()));
        Poll::Ready(self.0.next.take().map(send).map(Ok))
    }

    fn judge(&self, now: Instant, result: &Result<S::Response, S::Error>) -> Judged {
        self.0.judge(now, result)
    }

    fn finish(finish: Finish, result: Option<Result<S::Response, S::Error>>) -> Self::Output {
        RetryError::from_finish(finish, result)
    }
}

/// A timeout's [`PlanCall`]: its one attempt, the inner future `F`, is sent
/// in `call`; an `Err` is a failure.
pub struct OneAttempt<F>(PhantomData<fn() -> F>);

impl<F> fmt::Debug for OneAttempt<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneAttempt")
    }
}

impl<F: Future<Output = Result<T, E>>, T, E> PlanCall for OneAttempt<F> {
    type Attempt = F;
    type Slots = One<F>;
    type Output = Result<T, Error<E>>;

    // The timeout plan never asks for a second attempt; were it to, none
    // is sent and the run answers with the first attempt's result.
    fn begin(&mut self, _: Attempt) {}

    fn poll_send<Cl: Clock + ?Sized>(
        &mut self,
        _: &mut Context<'_>,
        _: &Cl,
    ) -> Poll<Option<Sent<Self>>> {
        Poll::Ready(None)
    }

    fn judge(&self, _: Instant, result: &Result<T, E>) -> Judged {
        Judged::of_result(result)
    }

    fn finish(finish: Finish, result: Option<Result<T, E>>) -> Self::Output {
        Error::from_finish(finish, result.map(|r| r.map_err(Error::Inner)))
    }
}

/// Retries failed requests under a [`RetryPolicy`] (its backoff, attempt
/// limit and budget, shared by every service of the layer), as the
/// driver's `RetryPolicy::call` does. By default every `Err` retries
/// ([`DefaultClassifier`]; [`with_classifier`](PlanLayer::with_classifier)
/// chooses). Requests and the service must be `Clone`: like tower's
/// `Retry`, the call's future keeps a clone of the service and readies it
/// before each retry. The service's `poll_ready` is the inner one's (an
/// error there is a [`RetryError`] with no attempt made, `NotRetryable`);
/// the future answers the first accepted response or a [`RetryError`] with
/// the last error.
///
/// ```
/// use failsafe_core::retry::RetryConfig;
/// use failsafe_driver::RetryPolicy;
/// use failsafe_tower::RetryLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = RetryConfig::builder().max_attempts(3).build().unwrap();
/// let policy = RetryPolicy::with_runtime(config, failsafe_tokio::TokioClock::new());
/// let svc = RetryLayer::new(policy)
///     .layer(service_fn(|n: u32| async move { if n % 2 == 0 { Ok(n) } else { Err("odd") } }));
/// assert_eq!(svc.clone().oneshot(4).await, Ok(4));
/// let gave_up = svc.oneshot(3).await.unwrap_err();
/// assert_eq!((gave_up.attempts, gave_up.last), (3, Some("odd")));
/// # }
/// ```
pub type RetryLayer<B, R, K = DefaultClassifier, D = NoDeadline> =
    PlanLayer<RetryPolicy<B, R>, K, D>;
/// A service made by a [`RetryLayer`].
pub type RetryService<S, B, R, K = DefaultClassifier, D = NoDeadline> =
    Layered<RetryLayer<B, R, K, D>, S>;

/// A [`RetryService`] call once its plan is made: the driver's
/// [`PlanRun`], as every plan layer runs, boxed in the [`RetryFuture`].
pub(crate) type RetryRun<S, Req, B, R, K> =
    PlanFuture<Resend<S, Req, K>, RetryCallPlan<B>, BoxedSleep<R>>;

/// What a [`RetryFuture`] whose first attempt runs alone makes its plan
/// and its retries from, should that attempt not succeed.
struct Later<S, Req, B, R, K> {
    service: S,
    request: Req,
    classify: K,
    plan: FirstAttemptAlone<B>,
    runtime: BoxedSleep<R>,
}

pin_project_lite::pin_project! {
    #[project = RetryStateProj]
    enum RetryState<F, L, P> {
        // The first attempt in flight, the plan not made.
        Alone { #[pin] attempt: F, later: Option<L> },
        // The plan made.
        Planned { run: Pin<Box<P>> },
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`RetryService`] call.
    ///
    /// While nothing needs the call's plan for its first attempt (no
    /// deadline, no `max_elapsed`, a budget keeping no state, nobody
    /// listening, a classifier ignoring the time:
    /// [`PlanParts::alone`](failsafe_driver::PlanParts::alone)), that
    /// attempt runs alone: the future holds it, the request, the service
    /// and what the plan is made from ([`FirstAttemptAlone`]: the policy's
    /// config by reference, a jitter seed, the attempt limit), and makes the
    /// plan only if the attempt does not succeed. Otherwise, and from a
    /// failed first attempt on, the call runs under the driver's
    /// [`PlanRun`] as every plan layer does, allocated once
    /// then (a retry sleeps anyway), so that the future moved around by
    /// the caller stays small. Dropping it drops the attempt in flight.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, Req, B, R, K>
    where
        S: Service<Req>,
        Req: Clone,
        R: Runtime,
        K: Classify<S::Response, S::Error>,
    {
        #[pin]
        state: RetryState<S::Future, Later<S, Req, B, R, K>, RetryRun<S, Req, B, R, K>>,
    }
}

impl<S, Req, B, R, K> fmt::Debug for RetryFuture<S, Req, B, R, K>
where
    S: Service<Req>,
    Req: Clone,
    R: Runtime,
    K: Classify<S::Response, S::Error>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alone = matches!(self.state, RetryState::Alone { .. });
        f.debug_struct("RetryFuture")
            .field("first_attempt_alone", &alone)
            .finish_non_exhaustive()
    }
}

impl<S, Req, B, R, K> Future for RetryFuture<S, Req, B, R, K>
where
    S: Service<Req>,
    Req: Clone,
    B: RetryBudget,
    R: Runtime,
    K: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, RetryError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let run = match state.as_mut().project() {
            RetryStateProj::Planned { run } => return run.as_mut().poll(cx),
            RetryStateProj::Alone { attempt, later } => {
                if later.is_none() {
                    // Polled again after its answer: the attempt is over
                    // (and may not be polled again), nothing left to run.
                    return Poll::Pending;
                }
                let result = ready!(attempt.poll(cx));
                let Some(later) = later.take() else {
                    return Poll::Pending;
                };
                // Judged without the time, as `first_attempt_alone` requires.
                let verdict = later.classify.verdict_at(Instant::ZERO, &result);
                if verdict == Verdict::Success {
                    let answered = Finish::Answer {
                        attempts: 1,
                        gave_up: None,
                    };
                    return Poll::Ready(RetryError::from_finish(answered, Some(result)));
                }
                // The plan now: it starts the attempt that ran (at no time
                // read, as the unstarted plan would have) and hears how it
                // ended, at a reading of the clock (a retry's backoff
                // counts from it).
                let Later {
                    service,
                    request,
                    classify,
                    plan,
                    runtime,
                } = later;
                let mut plan = plan.unstarted().judged_without_time();
                let now = runtime.now();
                plan.first_attempt_ended(now, Judged::verdict(verdict));
                Box::pin(PlanFuture {
                    run: PlanRun::resumed(plan, now, result),
                    call: Resend::new(service, request, classify),
                    runtime,
                })
            }
        };
        state.set(RetryState::Planned { run });
        match state.project() {
            RetryStateProj::Planned { run } => run.as_mut().poll(cx),
            RetryStateProj::Alone { .. } => Poll::Pending,
        }
    }
}

impl<B, R> RetryLayer<B, R> {
    /// A layer retrying every `Err` under `policy`.
    pub const fn new(policy: RetryPolicy<B, R>) -> Self {
        PlanLayer::of(policy, DefaultClassifier)
    }
}

impl<B, R, K, D> RetryLayer<B, R, K, D> {
    /// The policy the services retry under.
    pub const fn policy(&self) -> &RetryPolicy<B, R> {
        &self.pattern
    }
}

impl<S, B, R, K, D, Req> Service<Req> for RetryService<S, B, R, K, D>
where
    S: Service<Req> + Clone,
    Req: Clone,
    B: RetryBudget,
    R: Runtime + Clone,
    K: Classify<S::Response, S::Error> + Clone,
    D: RequestDeadline<Req>,
{
    type Response = S::Response;
    type Error = RetryError<S::Error>;
    type Future = RetryFuture<S, Req, B, R, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(|e| RetryError {
            reason: GiveUp::NotRetryable,
            attempts: 0,
            last: Some(e),
        })
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let layer = &mut self.layer;
        let runtime = BoxedSleep(layer.pattern.runtime().clone());
        let deadline = layer.deadline.deadline(&request);
        let parts = layer.pattern.plan_parts(deadline);
        let timeless = !Classify::<S::Response, S::Error>::verdict_uses_time(&layer.classify);
        // The ready service sends the first attempt now; a clone waits for
        // later ones.
        let clone = self.inner.clone();
        let mut service = core::mem::replace(&mut self.inner, clone);
        let classify = layer.classify.clone();
        let parts = match parts.alone(timeless) {
            // One expression, so that the future is built where it is
            // returned.
            Ok(plan) => {
                return RetryFuture {
                    state: RetryState::Alone {
                        attempt: service.call(request.clone()),
                        later: Some(Later {
                            service,
                            request,
                            classify,
                            plan,
                            runtime,
                        }),
                    },
                };
            }
            Err(parts) => parts,
        };
        // The clock is read for the first attempt only if the plan needs
        // the time (a deadline, `max_elapsed`, a budget), and at its end
        // only if it failed or something times a success.
        let mut plan = parts.unstarted();
        if timeless {
            plan = plan.judged_without_time();
        }
        let now = if plan.needs_start_time() {
            runtime.now()
        } else {
            Instant::ZERO
        };
        let run = Box::pin(PlanFuture {
            run: PlanRun::started(plan, now, |_| Some(service.call(request.clone()))),
            call: Resend::new(service, request, classify),
            runtime,
        });
        RetryFuture {
            state: RetryState::Planned { run },
        }
    }
}

/// Bounds each request by a [`TimeoutPolicy`]: its deadline is `now +
/// timeout`, or an earlier one (the layer's [`with_parent`](PlanLayer::with_parent),
/// the request's own with [`with_request_deadline`](PlanLayer::with_request_deadline)),
/// written back into the request for the layers inside, so a per-attempt
/// timeout inside a [`RetryLayer`] never outlives an overall one outside
/// it. In `TimeoutMode::Cancel` the inner future is dropped at the
/// deadline and [`Error::Timeout`] returned (the timer is armed only if it
/// is not ready at its first poll); in `Soft` it runs on and the hook hears
/// of the overrun. Inner errors come back as [`Error::Inner`]. A request
/// whose deadline has already passed answers [`Error::Timeout`] without
/// calling the inner service: the readiness `poll_ready` took for it (a
/// bulkhead's slot inside) is then held for the next request, or until
/// the service is dropped, as tower's contract has it.
///
/// ```
/// use std::time::Duration;
/// use failsafe_core::timeout::TimeoutConfig;
/// use failsafe_driver::{Error, TimeoutPolicy};
/// use failsafe_tower::TimeoutLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
/// let policy = TimeoutPolicy::with_runtime(config, failsafe_tokio::TokioClock::new());
/// let hangs = service_fn(|(): ()| std::future::pending::<Result<(), ()>>());
/// let r = TimeoutLayer::new(policy).layer(hangs).oneshot(()).await;
/// assert!(matches!(r, Err(Error::Timeout(_))));
/// # }
/// ```
pub type TimeoutLayer<R, D = NoDeadline> =
    PlanLayer<(TimeoutPolicy<R>, Deadline), DefaultClassifier, D>;
/// A service made by a [`TimeoutLayer`].
pub type TimeoutService<S, R, D = NoDeadline> = Layered<TimeoutLayer<R, D>, S>;
/// The future of a [`TimeoutService`] call.
pub type TimeoutFuture<F, R> = PlanFuture<OneAttempt<F>, Timeout<Hook<TimeoutEvent>>, R>;

impl<R> TimeoutLayer<R> {
    /// A layer bounding every request by `policy`.
    pub const fn new(policy: TimeoutPolicy<R>) -> Self {
        PlanLayer::of((policy, Deadline::NEVER), DefaultClassifier)
    }
}

impl<R, K, D> PlanLayer<(TimeoutPolicy<R>, Deadline), K, D> {
    /// No request may run past `parent` either.
    #[must_use]
    pub fn with_parent(mut self, parent: Deadline) -> Self {
        self.pattern.1 = parent;
        self
    }

    /// The timeout the services apply.
    pub const fn policy(&self) -> &TimeoutPolicy<R> {
        &self.pattern.0
    }
}

// A timeout takes no classifier: its answer is the deadline's.
impl<S, R, D, Req> Service<Req> for TimeoutService<S, R, D>
where
    S: Service<Req>,
    R: Runtime + Clone,
    D: RequestDeadline<Req>,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = TimeoutFuture<S::Future, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let (layer, (policy, parent)) = (&self.layer, &self.layer.pattern);
        let parent = (*parent).min(layer.deadline.deadline(&request));
        let runtime = policy.runtime().clone();
        let now = runtime.now();
        let (inner, rule) = (&mut self.inner, &layer.deadline);
        PlanFuture {
            run: PlanRun::started(policy.plan(parent, now), now, |attempt| {
                rule.set_deadline(&mut request, attempt.deadline);
                Some(inner.call(request))
            }),
            call: OneAttempt(PhantomData),
            runtime,
        }
    }
}

/// The latencies every request of a [`HedgeLayer`] shares (its
/// [`HedgeDelay::Quantile`](failsafe_core::hedge::HedgeDelay::Quantile)).
#[derive(Clone, Debug)]
pub struct SharedLatencies(Arc<StdLock<LatencyQuantile>>);

impl SharedLatencies {
    /// A shared tracker.
    pub fn new(quantile: LatencyQuantile) -> Self {
        SharedLatencies(Arc::new(StdLock::new(quantile)))
    }

    /// The delay a hedge waits now.
    pub fn delay(&self) -> core::time::Duration {
        self.0.with(|q| q.delay())
    }
}

impl Latencies for SharedLatencies {
    fn delay(&self) -> core::time::Duration {
        SharedLatencies::delay(self)
    }
    fn record(&self, now: Instant, latency: core::time::Duration) {
        self.0.with(|q| q.record(now, latency));
    }
}

/// Hedges **idempotent** requests (the constructor,
/// [`idempotent`](PlanLayer::idempotent), says so): when the inner service
/// is slow a copy of the request goes out again, up to four at once, the
/// first success answers and the others are dropped; the core's
/// [`HedgePlan`] decides. Requests and the service must be `Clone`; the
/// service is always ready, each attempt readying its own clone.
///
/// ```
/// use std::time::Duration;
/// use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
/// use failsafe_tokio::TokioClock;
/// use failsafe_tower::HedgeLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = HedgeConfig::builder()
///     .max_attempts(2)
///     .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
///     .build()
///     .unwrap();
/// let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
/// let counter = calls.clone();
/// let svc = HedgeLayer::idempotent(config, TokioClock).layer(service_fn(move |n: u32| {
///     let first = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
///     async move {
///         if first { tokio::time::sleep(Duration::from_secs(10)).await } // a slow replica
///         Ok::<_, ()>(n)
///     }
/// }));
/// let started = tokio::time::Instant::now();
/// assert_eq!(svc.oneshot(7).await, Ok(7));
/// assert_eq!(started.elapsed(), Duration::from_millis(50)); // the hedge answered
/// # }
/// ```
pub type HedgeLayer<R, B = NoBudget, K = DefaultClassifier, D = NoDeadline> =
    PlanLayer<Hedging<R, B>, K, D>;
/// What a [`HedgeLayer`] shares among its services: the config, the
/// runtime, the budget hedges spend and the latencies they learn from.
pub type Hedging<R, B = NoBudget> = (HedgeConfig, R, Arc<StdLock<B>>, SharedLatencies);
/// A service made by a [`HedgeLayer`].
pub type HedgeService<S, R, B = NoBudget, K = DefaultClassifier, D = NoDeadline> =
    Layered<HedgeLayer<R, B, K, D>, S>;
/// The future of a [`HedgeService`] call.
pub type HedgeFuture<S, Req, R, B, K> =
    PlanFuture<Hedged<S, Req, K>, HedgePlan<Arc<StdLock<B>>, B, SharedLatencies>, R>;

impl<R> HedgeLayer<R> {
    /// Hedges requests the caller says are idempotent, under `config`, on
    /// `runtime`'s timer, with no budget and a p95 latency tracker (50 ms
    /// until 100 latencies were seen, refreshed every second).
    pub fn idempotent(config: HedgeConfig, runtime: R) -> Self {
        let ms50 = core::time::Duration::from_millis(50);
        let p95 = LatencyQuantile::new(9_500, ms50, 100, core::time::Duration::from_secs(1));
        let budget = Arc::new(StdLock::new(NoBudget));
        let latencies = SharedLatencies::new(p95);
        PlanLayer::of((config, runtime, budget, latencies), DefaultClassifier)
    }
}

impl<R, B, K, D> HedgeLayer<R, B, K, D> {
    /// Spends hedges from `budget`, shared by every service of the layer
    /// (the retries' budget, to bound both).
    pub fn budget<B2: RetryBudget>(self, budget: Arc<StdLock<B2>>) -> HedgeLayer<R, B2, K, D> {
        self.map(|(config, runtime, _, latencies)| (config, runtime, budget, latencies))
    }

    /// Takes the quantile delay from `latencies` (shared with other layers).
    #[must_use]
    pub fn latencies(mut self, latencies: SharedLatencies) -> Self {
        self.pattern.3 = latencies;
        self
    }
}

impl<S, R, B, K, D, Req> Service<Req> for HedgeService<S, R, B, K, D>
where
    S: Service<Req> + Clone,
    Req: Clone,
    R: Runtime + Clone,
    B: RetryBudget,
    K: Classify<S::Response, S::Error> + Clone,
    D: RequestDeadline<Req>,
{
    type Response = S::Response;
    type Error = RetryError<S::Error>;
    type Future = HedgeFuture<S, Req, R, B, K>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (layer, (config, runtime, budget, latencies)) = (&self.layer, &self.layer.pattern);
        let now = runtime.now();
        let deadline = layer.deadline.deadline(&request);
        let (budget, latencies) = (Arc::clone(budget), latencies.clone());
        // Four attempts at most: the slots the future holds.
        let plan = HedgePlan::new(config.at_most(4), deadline, budget, latencies, (), now);
        let service = self.inner.clone();
        let first = |_: Attempt| Some(service.clone().oneshot(request.clone()));
        let classify = layer.classify.clone();
        PlanFuture {
            run: PlanRun::started(plan, now, first),
            call: Hedged(Resend::new(service, request, classify)),
            runtime: runtime.clone(),
        }
    }
}
