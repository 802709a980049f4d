//! A tower [`Layer`] and [`Service`] that retry failed requests with a
//! [`RetryPolicy`], sharing its budget across every request.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::Instant;
use failsafe_core::plan::{Attempt, Judged, Plan as _};
use failsafe_core::retry::{GiveUp, RetryBudget, RetryEvent, RetryPlan};
use failsafe_core::rng::Xorshift64;
use failsafe_driver::{
    Classify, Hook, PlanRun, RetryError, RetryOnErr, RetryPolicy, Runtime, SharedBudget, Step,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Layered, NoDeadline, RequestDeadline};

/// Wraps services in a [`RetryService`]: failed requests are sent again
/// under the policy's backoff, attempt limit and (shared) budget.
///
/// Every service the layer makes spends the same budget (the policy handle
/// is cloned, not the budget). By default every `Err` is retried; choose
/// otherwise with [`with_classifier`](Self::with_classifier). Requests must
/// be `Clone` (each attempt sends a clone) and so must the service: like
/// tower's own `Retry`, a call's future owns a clone of the service and
/// waits for it to be ready before each retry.
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
/// let policy = RetryPolicy::with_clock(config, failsafe_tokio::TokioClock::new());
/// let svc = RetryLayer::new(policy)
///     .layer(service_fn(|n: u32| async move { if n % 2 == 0 { Ok(n) } else { Err("odd") } }));
/// assert_eq!(svc.clone().oneshot(4).await, Ok(4));
/// let gave_up = svc.oneshot(3).await.unwrap_err();
/// assert_eq!((gave_up.attempts, gave_up.last), (3, Some("odd")));
/// # }
/// ```
pub struct RetryLayer<B, R, K = RetryOnErr, D = NoDeadline> {
    policy: RetryPolicy<B, R>,
    classify: K,
    deadline: D,
}

impl<B, R> RetryLayer<B, R> {
    /// A layer retrying every `Err` under `policy`.
    pub fn new(policy: RetryPolicy<B, R>) -> Self {
        RetryLayer {
            policy,
            classify: RetryOnErr,
            deadline: NoDeadline,
        }
    }
}

impl<B, R, K, D> RetryLayer<B, R, K, D> {
    /// Uses `classify` to decide which results retry (an `Ok(503)` may, a
    /// `400` may not) and what retry-after hint they carry.
    pub fn with_classifier<K2>(self, classify: K2) -> RetryLayer<B, R, K2, D> {
        RetryLayer {
            policy: self.policy,
            classify,
            deadline: self.deadline,
        }
    }

    /// Reads each request's deadline with `deadline`: no retry is scheduled
    /// to start at or after it.
    pub fn with_request_deadline<D2>(self, deadline: D2) -> RetryLayer<B, R, K, D2> {
        RetryLayer {
            policy: self.policy,
            classify: self.classify,
            deadline,
        }
    }

    /// The policy the services retry under.
    pub fn policy(&self) -> &RetryPolicy<B, R> {
        &self.policy
    }
}

impl<B, R: Clone, K: Clone, D: Clone> Clone for RetryLayer<B, R, K, D> {
    fn clone(&self) -> Self {
        RetryLayer {
            policy: self.policy.clone(),
            classify: self.classify.clone(),
            deadline: self.deadline.clone(),
        }
    }
}

impl<B, R: fmt::Debug, K, D> fmt::Debug for RetryLayer<B, R, K, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, B, R: Clone, K: Clone, D: Clone> Layer<S> for RetryLayer<B, R, K, D> {
    type Service = RetryService<S, B, R, K, D>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service whose failed requests are retried; made by [`RetryLayer`].
///
/// [`poll_ready`](Service::poll_ready) is the inner service's (an error
/// there is returned as a [`RetryError`] with no attempt made, reason
/// `NotRetryable`). [`call`](Service::call) sends the first attempt at
/// once; the returned [`RetryFuture`] sleeps on the runtime's timer between
/// attempts and resolves to the first accepted response, or to a
/// [`RetryError`] saying why the retries gave up with the last error.
/// Dropping it stops retrying at once.
pub type RetryService<S, B, R, K = RetryOnErr, D = NoDeadline> = Layered<RetryLayer<B, R, K, D>, S>;

impl<S, B, R, K, D, Req> Service<Req> for Layered<RetryLayer<B, R, K, D>, S>
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
        let layer = &self.layer;
        let clock = layer.policy.clock().clone();
        // The clock is read for the first attempt only if the plan needs
        // the time (a deadline, `max_elapsed`, a budget), and at its end
        // only if it failed or something times a success.
        let mut plan = layer
            .policy
            .unstarted_plan(layer.deadline.deadline(&request));
        if !Classify::<S::Response, S::Error>::verdict_uses_time(&layer.classify) {
            plan = plan.judged_without_time();
        }
        let now = if plan.needs_start_time() {
            clock.now()
        } else {
            Instant::ZERO
        };
        // The ready service sends the first attempt now; a clone waits for
        // later ones.
        let clone = self.inner.clone();
        let mut service = core::mem::replace(&mut self.inner, clone);
        let run = PlanRun::new(plan, now).with_first(|_| Some(service.call(request.clone())));
        RetryFuture {
            service,
            request,
            classify: layer.classify.clone(),
            clock,
            readying: None,
            run,
        }
    }
}

/// The plan a [`RetryFuture`] runs.
type Plan<B> = RetryPlan<SharedBudget<B>, B, Xorshift64, Hook<RetryEvent>>;

pin_project_lite::pin_project! {
    /// The future of a [`RetryService`] call: the driver's [`PlanRun`]
    /// under the core's retry plan (an attempt in flight or a backoff
    /// sleep). Named, not boxed.
    #[must_use = "futures do nothing unless polled"]
    pub struct RetryFuture<S, Req, B, R, K>
    where
        S: Service<Req>,
        R: Runtime,
    {
        service: S,
        request: Req,
        classify: K,
        clock: R,
        // An attempt the plan asked for, waiting for the service to be ready.
        readying: Option<Attempt>,
        #[pin]
        run: PlanRun<Plan<B>, S::Future, R::Sleep>,
    }
}

impl<S: Service<Req>, Req, B, R: Runtime, K> fmt::Debug for RetryFuture<S, Req, B, R, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryFuture")
            .field("attempts", &self.run.plan().attempts())
            .field("readying", &self.readying.is_some())
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
        let mut this = self.project();
        loop {
            if let Some(attempt) = *this.readying {
                match ready!(this.service.poll_ready(cx)) {
                    Ok(()) => {
                        let future = this.service.call(this.request.clone());
                        this.run.as_mut().start(attempt, future);
                        *this.readying = None;
                    }
                    // A service that failed to become ready is broken: stop.
                    Err(e) => {
                        *this.readying = None;
                        return Poll::Ready(Err(RetryError {
                            reason: GiveUp::NotRetryable,
                            attempts: attempt.number,
                            last: Some(e),
                        }));
                    }
                }
            }
            let classify = &*this.classify;
            let mut judge = |now, result: &Result<S::Response, S::Error>| {
                Judged::verdict(classify.verdict_at(now, result))
            };
            match ready!(this.run.as_mut().poll_step(cx, &*this.clock, &mut judge)) {
                Step::Start(attempt) => *this.readying = Some(attempt),
                Step::Finish(finish, result) => {
                    return Poll::Ready(RetryError::from_finish(finish, result));
                }
            }
        }
    }
}
