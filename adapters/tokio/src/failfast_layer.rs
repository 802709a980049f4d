//! A tower [`Layer`] and [`Service`] that run every request through a fail
//! fast, under the deadline the request carries.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use failsafe_core::Rejected;
use failsafe_driver::{ClassifyHealth, DefaultClassifier, Error, FailFastGuard, SharedStdFailFast};
use tower_layer::Layer;
use tower_service::Service;

use crate::{FailFast, NoDeadline, RequestDeadline, TokioClock};

/// Wraps services in a [`FailFastService`] sharing one fail fast.
///
/// Every service the layer makes reports to the same fail fast (the handle
/// is cloned, not the machine). By default an `Err` from the inner service
/// is a failure and an `Ok` a success; choose otherwise, or open at once on
/// a result that says the dependency is down, with
/// [`with_classifier`](Self::with_classifier). With
/// [`with_request_deadline`](Self::with_request_deadline) each request's own
/// deadline (the one a [`TimeoutLayer`](crate::TimeoutLayer) outside writes,
/// say) is checked against the expected call duration.
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Clock, Deadline, Error, FailFast, FailFastConfig, FailFastLayer, Health, RejectReason};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// #[derive(Clone)]
/// struct Query { id: u32, deadline: Deadline }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = FailFastConfig::builder().expected_duration(Duration::from_millis(80)).build().unwrap();
/// let ff = FailFast::new(config);
/// let svc = FailFastLayer::new(ff.clone())
///     .with_request_deadline(|q: &Query| q.deadline)
///     // a "maintenance" reply stops all calls until a health check says otherwise
///     .with_classifier(|r: &Result<u16, ()>| match r {
///         Ok(503) => Health::Unhealthy,
///         Ok(_) => Health::Success,
///         Err(()) => Health::Failure,
///     })
///     .layer(service_fn(|q: Query| async move { Ok::<u16, ()>(if q.id == 0 { 503 } else { 200 }) }));
///
/// let now = ff.clock().now();
/// let roomy = Query { id: 1, deadline: Deadline::after(now, Duration::from_secs(1)) };
/// assert_eq!(svc.clone().oneshot(roomy.clone()).await, Ok(200));
/// // 50 ms left cannot cover an 80 ms call: rejected without calling
/// let tight = Query { id: 1, deadline: Deadline::after(now, Duration::from_millis(50)) };
/// let r = svc.clone().oneshot(tight).await.unwrap_err();
/// assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
///
/// assert_eq!(svc.clone().oneshot(Query { id: 0, ..roomy.clone() }).await, Ok(503));
/// assert!(matches!(svc.clone().oneshot(roomy.clone()).await, Err(Error::Rejected(_))));
/// ff.report_healthy();
/// assert_eq!(svc.oneshot(roomy).await, Ok(200));
/// # }
/// ```
pub struct FailFastLayer<D = NoDeadline, K = DefaultClassifier> {
    fail_fast: FailFast,
    deadline: D,
    classify: K,
}

impl FailFastLayer {
    /// A layer reporting to `fail_fast`, counting `Err` as failure, with no
    /// per-request deadline.
    pub fn new(fail_fast: FailFast) -> Self {
        FailFastLayer {
            fail_fast,
            deadline: NoDeadline,
            classify: DefaultClassifier,
        }
    }
}

impl<D, K> FailFastLayer<D, K> {
    /// Uses `classify` to judge each `Result<S::Response, S::Error>` (it is
    /// cloned into every call's future): any `Fn(&Result<T, E>) -> Health`,
    /// an [`UnhealthyWhen`](crate::UnhealthyWhen) predicate or a
    /// [`ByOutcome`](crate::ByOutcome) outcome classifier. The caller still
    /// gets the inner service's result unchanged.
    pub fn with_classifier<K2>(self, classify: K2) -> FailFastLayer<D, K2> {
        FailFastLayer {
            fail_fast: self.fail_fast,
            deadline: self.deadline,
            classify,
        }
    }

    /// Reads each request's deadline with `deadline` (a
    /// [`RequestDeadline`], or any `Fn(&Req) -> Deadline`): a request whose
    /// time left cannot cover the expected call is rejected at once.
    pub fn with_request_deadline<D2>(self, deadline: D2) -> FailFastLayer<D2, K> {
        FailFastLayer {
            fail_fast: self.fail_fast,
            deadline,
            classify: self.classify,
        }
    }

    /// The fail fast the services report to.
    pub fn fail_fast(&self) -> &FailFast {
        &self.fail_fast
    }
}

impl<D: Clone, K: Clone> Clone for FailFastLayer<D, K> {
    fn clone(&self) -> Self {
        FailFastLayer {
            fail_fast: self.fail_fast.clone(),
            deadline: self.deadline.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<D, K> fmt::Debug for FailFastLayer<D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailFastLayer")
            .field("fail_fast", &self.fail_fast)
            .finish_non_exhaustive()
    }
}

impl<S, D: Clone, K: Clone> Layer<S> for FailFastLayer<D, K> {
    type Service = FailFastService<S, D, K>;

    fn layer(&self, inner: S) -> Self::Service {
        FailFastService {
            inner,
            fail_fast: self.fail_fast.clone(),
            deadline: self.deadline.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A service behind a fail fast; made by [`FailFastLayer`].
///
/// [`poll_ready`](Service::poll_ready) is the inner service's.
/// [`call`](Service::call) asks the fail fast first, with the request's
/// deadline: if it rejects (open, or too little time left), the inner
/// service is not called and the returned future resolves at once to
/// [`Error::Rejected`]. Otherwise the inner future runs; its judged result
/// is recorded when it completes, and a future dropped before completing
/// records `Cancelled`, which counts neither way.
pub struct FailFastService<S, D = NoDeadline, K = DefaultClassifier> {
    inner: S,
    fail_fast: FailFast,
    deadline: D,
    classify: K,
}

impl<S> FailFastService<S> {
    /// Puts `inner` behind `fail_fast`, counting `Err` as failure.
    pub fn new(inner: S, fail_fast: FailFast) -> Self {
        FailFastService {
            inner,
            fail_fast,
            deadline: NoDeadline,
            classify: DefaultClassifier,
        }
    }
}

impl<S, D, K> FailFastService<S, D, K> {
    /// The fail fast this service reports to.
    pub fn fail_fast(&self) -> &FailFast {
        &self.fail_fast
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, D: Clone, K: Clone> Clone for FailFastService<S, D, K> {
    fn clone(&self) -> Self {
        FailFastService {
            inner: self.inner.clone(),
            fail_fast: self.fail_fast.clone(),
            deadline: self.deadline.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, D, K> fmt::Debug for FailFastService<S, D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailFastService")
            .field("inner", &self.inner)
            .field("fail_fast", &self.fail_fast)
            .finish_non_exhaustive()
    }
}

impl<S, D, K, Req> Service<Req> for FailFastService<S, D, K>
where
    S: Service<Req>,
    D: RequestDeadline<Req>,
    K: ClassifyHealth<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = FailFastFuture<S::Future, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let deadline = self.deadline.deadline(&request);
        let state = match self.fail_fast.acquire(deadline) {
            Ok(guard) => State::Admitted {
                future: self.inner.call(request),
                guard: Some(guard),
                classify: self.classify.clone(),
            },
            Err(rejected) => State::Rejected { rejected },
        };
        FailFastFuture { state }
    }
}

/// The permit a [`FailFastFuture`] holds while the inner call runs.
type Guard = FailFastGuard<Arc<SharedStdFailFast>, TokioClock>;

pin_project_lite::pin_project! {
    /// The future of a [`FailFastService`] call: the inner future holding
    /// its permit, or a rejection ready at once.
    ///
    /// Dropping it before it completes records the call as `Cancelled`.
    pub struct FailFastFuture<F, K> {
        #[pin]
        state: State<F, K>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, K> {
        Admitted {
            #[pin]
            future: F,
            guard: Option<Guard>,
            classify: K,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F, K> fmt::Debug for FailFastFuture<F, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("FailFastFuture");
        match &self.state {
            State::Admitted { guard, .. } => {
                d.field("admitted", &true).field("done", &guard.is_none())
            }
            State::Rejected { rejected } => d.field("rejected", rejected),
        };
        d.finish_non_exhaustive()
    }
}

impl<F, K, T, E> Future for FailFastFuture<F, K>
where
    F: Future<Output = Result<T, E>>,
    K: ClassifyHealth<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Admitted {
                future,
                guard,
                classify,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(guard) = guard.take() {
                    guard.finish(classify.health(&result));
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
            StateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(*rejected))),
        }
    }
}
