//! A tower [`Layer`] and [`Service`] that run every request through a
//! circuit breaker.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use failsafe_core::Rejected;
use failsafe_core::breaker::{CountWindow, Window};
use failsafe_driver::{Classify, DefaultClassifier, Error, PermitGuard, SharedStdBreaker};
use tower_layer::Layer;
use tower_service::Service;

use crate::{CircuitBreaker, TokioClock};

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
///
/// Every service the layer makes reports to the same breaker (the handle is
/// cloned, not the machine). By default an `Err` from the inner service
/// counts as a failure and an `Ok` as a success; choose otherwise with
/// [`with_classifier`](Self::with_classifier).
///
/// ```
/// use failsafe_tokio::{BreakerConfig, CircuitBreaker, CircuitBreakerLayer, CountWindow, Outcome};
/// use tower::{Layer, service_fn};
///
/// let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
/// // count an HTTP-like `Ok(503)` as a failure
/// let layer = CircuitBreakerLayer::new(breaker).with_classifier(|r: &Result<u16, ()>| match r {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(()) => Outcome::Failure,
/// });
/// let svc = layer.layer(service_fn(|_req: ()| async { Ok::<u16, ()>(200) }));
/// # let _ = svc;
/// ```
pub struct CircuitBreakerLayer<W = CountWindow<100>, K = DefaultClassifier> {
    breaker: CircuitBreaker<W>,
    classify: K,
}

impl<W> CircuitBreakerLayer<W> {
    /// A layer reporting to `breaker`, counting `Err` as failure.
    pub fn new(breaker: CircuitBreaker<W>) -> Self {
        CircuitBreakerLayer {
            breaker,
            classify: DefaultClassifier,
        }
    }
}

impl<W, K> CircuitBreakerLayer<W, K> {
    /// Uses `classify` to decide what each `Result<S::Response, S::Error>`
    /// tells the breaker (it is cloned into every call's future). The caller
    /// still gets the inner service's result unchanged.
    pub fn with_classifier<K2>(self, classify: K2) -> CircuitBreakerLayer<W, K2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
        }
    }

    /// The breaker the services report to.
    pub fn breaker(&self) -> &CircuitBreaker<W> {
        &self.breaker
    }
}

impl<W, K: Clone> Clone for CircuitBreakerLayer<W, K> {
    fn clone(&self) -> Self {
        CircuitBreakerLayer {
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<W, K> fmt::Debug for CircuitBreakerLayer<W, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, W, K: Clone> Layer<S> for CircuitBreakerLayer<W, K> {
    type Service = CircuitBreakerService<S, W, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService {
            inner,
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

/// A service behind a circuit breaker.
///
/// [`poll_ready`](Service::poll_ready) is the inner service's. [`call`](Service::call)
/// asks the breaker first: if it rejects, the inner service is not called
/// and the returned future resolves at once to [`Error::Rejected`], whose
/// `retry_at` says when to try again. Otherwise the inner future runs; its
/// classified result is recorded when it completes, and a future dropped
/// before completing (a timeout, a client gone) records `Cancelled`, which
/// frees a half-open probe slot without counting either way.
pub struct CircuitBreakerService<S, W = CountWindow<100>, K = DefaultClassifier> {
    inner: S,
    breaker: CircuitBreaker<W>,
    classify: K,
}

impl<S, W> CircuitBreakerService<S, W> {
    /// Puts `inner` behind `breaker`, counting `Err` as failure.
    pub fn new(inner: S, breaker: CircuitBreaker<W>) -> Self {
        CircuitBreakerService {
            inner,
            breaker,
            classify: DefaultClassifier,
        }
    }
}

impl<S, W, K> CircuitBreakerService<S, W, K> {
    /// Uses `classify` to decide what each result tells the breaker.
    pub fn with_classifier<K2>(self, classify: K2) -> CircuitBreakerService<S, W, K2> {
        CircuitBreakerService {
            inner: self.inner,
            breaker: self.breaker,
            classify,
        }
    }

    /// The breaker this service reports to.
    pub fn breaker(&self) -> &CircuitBreaker<W> {
        &self.breaker
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

impl<S: Clone, W, K: Clone> Clone for CircuitBreakerService<S, W, K> {
    fn clone(&self) -> Self {
        CircuitBreakerService {
            inner: self.inner.clone(),
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S: fmt::Debug, W, K> fmt::Debug for CircuitBreakerService<S, W, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerService")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<S, W, K, Req> Service<Req> for CircuitBreakerService<S, W, K>
where
    S: Service<Req>,
    W: Window,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = ResponseFuture<S::Future, W, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let state = match self.breaker.acquire() {
            Ok(guard) => FutureState::Admitted {
                future: self.inner.call(req),
                guard: Some(guard),
                classify: self.classify.clone(),
            },
            Err(rejected) => FutureState::Rejected { rejected },
        };
        ResponseFuture { state }
    }
}

/// The permit a [`ResponseFuture`] holds while the inner call runs.
type Guard<W> = PermitGuard<Arc<SharedStdBreaker<W>>, TokioClock>;

pin_project_lite::pin_project! {
    /// The future of a [`CircuitBreakerService`] call: the inner future
    /// holding its breaker permit, or a rejection ready at once.
    ///
    /// Dropping it before it completes records the call as `Cancelled`.
    pub struct ResponseFuture<F, W, K>
    where
        W: Window,
    {
        #[pin]
        state: FutureState<F, W, K>,
    }
}

pin_project_lite::pin_project! {
    #[project = FutureStateProj]
    enum FutureState<F, W, K>
    where
        W: Window,
    {
        Admitted {
            #[pin]
            future: F,
            guard: Option<Guard<W>>,
            classify: K,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F, W: Window, K> fmt::Debug for ResponseFuture<F, W, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResponseFuture");
        match &self.state {
            FutureState::Admitted { guard, .. } => {
                d.field("admitted", &true).field("done", &guard.is_none())
            }
            FutureState::Rejected { rejected } => d.field("rejected", rejected),
        };
        d.finish_non_exhaustive()
    }
}

impl<F, W, K, T, E> Future for ResponseFuture<F, W, K>
where
    F: Future<Output = Result<T, E>>,
    W: Window,
    K: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FutureStateProj::Admitted {
                future,
                guard,
                classify,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(guard) = guard.take() {
                    guard.finish(classify.classify(&result));
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
            FutureStateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(*rejected))),
        }
    }
}
