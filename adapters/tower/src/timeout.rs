//! A tower [`Layer`] and [`Service`] that bound every request by a
//! [`TimeoutPolicy`] and the caller's deadline, on any [`Runtime`]'s timer.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::plan::Judged;
use failsafe_core::timeout::{Deadline, Timeout, TimeoutEvent};
use failsafe_driver::{Error, Hook, PlanRun, Runtime, Step, TimeoutPolicy};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Layered, NoDeadline, RequestDeadline};

/// Wraps services in a [`TimeoutService`].
///
/// Each request's deadline is `now + timeout`, or an earlier one: the
/// layer's [`parent`](Self::with_parent) deadline, or the deadline the
/// request itself carries (read with
/// [`with_request_deadline`](Self::with_request_deadline)). The deadline is
/// written back into the request for the layers inside, so a per-attempt
/// timeout inside a [`RetryLayer`](crate::RetryLayer) never outlives an
/// overall one outside it.
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
/// let policy = TimeoutPolicy::with_clock(config, failsafe_tokio::TokioClock::new());
/// let hangs = service_fn(|(): ()| std::future::pending::<Result<(), ()>>());
/// let r = TimeoutLayer::new(policy).layer(hangs).oneshot(()).await;
/// assert!(matches!(r, Err(Error::Timeout(_))));
/// # }
/// ```
#[derive(Clone)]
pub struct TimeoutLayer<R, D = NoDeadline> {
    policy: TimeoutPolicy<R>,
    parent: Deadline,
    deadline: D,
}

impl<R> TimeoutLayer<R> {
    /// A layer bounding every request by `policy`.
    pub fn new(policy: TimeoutPolicy<R>) -> Self {
        TimeoutLayer {
            policy,
            parent: Deadline::NEVER,
            deadline: NoDeadline,
        }
    }
}

impl<R, D> TimeoutLayer<R, D> {
    /// No request may run past `parent` either.
    pub fn with_parent(mut self, parent: Deadline) -> Self {
        self.parent = parent;
        self
    }

    /// Reads each request's own deadline (the earlier one binds) and writes
    /// the resulting deadline back with `deadline`.
    pub fn with_request_deadline<D2>(self, deadline: D2) -> TimeoutLayer<R, D2> {
        TimeoutLayer {
            policy: self.policy,
            parent: self.parent,
            deadline,
        }
    }

    /// The timeout the services apply.
    pub fn policy(&self) -> &TimeoutPolicy<R> {
        &self.policy
    }
}

impl<R: fmt::Debug, D> fmt::Debug for TimeoutLayer<R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutLayer")
            .field("policy", &self.policy)
            .field("parent", &self.parent)
            .finish_non_exhaustive()
    }
}

impl<S, R: Clone, D: Clone> Layer<S> for TimeoutLayer<R, D> {
    type Service = TimeoutService<S, R, D>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service whose requests are bounded by a deadline; made by
/// [`TimeoutLayer`].
///
/// In [`TimeoutMode::Cancel`](failsafe_core::timeout::TimeoutMode::Cancel) the inner future is dropped when the deadline
/// passes and [`Error::Timeout`] is returned; in [`TimeoutMode::Soft`](failsafe_core::timeout::TimeoutMode::Soft) it
/// runs to completion and the policy's hook hears of the overrun. The inner
/// service's errors come back as [`Error::Inner`].
pub type TimeoutService<S, R, D = NoDeadline> = Layered<TimeoutLayer<R, D>, S>;

impl<S, R, D, Req> Service<Req> for Layered<TimeoutLayer<R, D>, S>
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
        let layer = &self.layer;
        let parent = layer.parent.min(layer.deadline.deadline(&request));
        let clock = layer.policy.clock().clone();
        let now = clock.now();
        let plan = layer.policy.plan(parent, now);
        let (inner, rule) = (&mut self.inner, &layer.deadline);
        let run = PlanRun::new(plan, now).with_first(|attempt| {
            rule.set_deadline(&mut request, attempt.deadline);
            Some(inner.call(request))
        });
        TimeoutFuture { run, clock }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`TimeoutService`] call: the inner future raced
    /// against the runtime's timer by the driver's [`PlanRun`] under the
    /// core's timeout plan. Named, not boxed; the inner future is dropped
    /// as soon as the deadline passes. The timer is armed only if the inner
    /// future is not ready on its first poll.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimeoutFuture<F, R>
    where
        F: Future,
        R: Runtime,
    {
        #[pin]
        run: PlanRun<Timeout<Hook<TimeoutEvent>>, F, R::Sleep>,
        clock: R,
    }
}

impl<F: Future, R: Runtime> TimeoutFuture<F, R> {
    /// The deadline this call runs under.
    pub fn deadline(&self) -> Deadline {
        self.run.plan().deadline()
    }
}

impl<F: Future, R: Runtime> fmt::Debug for TimeoutFuture<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("deadline", &self.deadline())
            .finish_non_exhaustive()
    }
}

impl<F, R, T, E> Future for TimeoutFuture<F, R>
where
    F: Future<Output = Result<T, E>>,
    R: Runtime,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut judge = |_, r: &Result<T, E>| Judged::of_result(r);
        match ready!(this.run.poll_step(cx, &*this.clock, &mut judge)) {
            Step::Finish(finish, result) => {
                let result = result.map(|r| r.map_err(Error::Inner));
                Poll::Ready(Error::from_finish(finish, result))
            }
            // The timeout plan starts its one attempt in `call` and never
            // asks for another; were it to, there is no answer to give.
            Step::Start(_) => Poll::Ready(Err(Error::Timeout(Deadline::NEVER))),
        }
    }
}
