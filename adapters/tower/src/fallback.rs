//! A tower [`Layer`] and [`Service`] that answer a failed request with an
//! alternative service.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::fallback::FallbackReason;
use failsafe_driver::{Clock, Fallback, FallbackCause};
use tower_layer::Layer;
use tower_service::Service;

use crate::Layered;

/// What the alternative service of a [`FallbackLayer`] is asked: the
/// original request, why the primary path failed, and its error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackRequest<Req, E> {
    /// The request the primary service was called with.
    pub request: Req,
    /// Why it failed: a failure, a rejection, a timeout, exhausted retries.
    pub reason: FallbackReason,
    /// The primary's error.
    pub error: E,
}

/// Wraps services in a [`FallbackService`]: a request that fails for a
/// reason the [`Fallback`] policy accepts is answered by the alternative
/// service `A` instead, which sees the request, the reason and the error.
///
/// The alternative may be any `Service<FallbackRequest<Req, E>>` with the
/// same response and error types: a cache, a replica, or a closure lifted
/// with `tower::service_fn`. Stack several layers for an ordered chain
/// (the outermost is tried last); [`with_index`](Self::with_index) numbers
/// them in the events.
///
/// The primary's error must say why it failed ([`FallbackCause`]): put the
/// layer over a [`RetryLayer`](crate::RetryLayer), a
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer) or a
/// [`TimeoutLayer`](crate::TimeoutLayer), or map a plain error to
/// [`Error::Inner`](failsafe_driver::Error::Inner).
///
/// ```
/// use failsafe_driver::{Error, Fallback};
/// use failsafe_tower::{FallbackLayer, FallbackRequest};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let primary = service_fn(|_: u32| async { Err::<String, _>(Error::Inner("down")) });
/// let cache = service_fn(|f: FallbackRequest<u32, Error<&str>>| async move {
///     Ok(format!("cached {}", f.request))
/// });
/// let fallback = Fallback::with_clock(failsafe_tokio::TokioClock::new());
/// let svc = FallbackLayer::new(fallback, cache).layer(primary);
/// assert_eq!(svc.oneshot(7).await, Ok("cached 7".to_string()));
/// # }
/// ```
#[derive(Clone)]
pub struct FallbackLayer<A, C> {
    fallback: Fallback<C>,
    alternative: A,
    index: u32,
}

impl<A, C> FallbackLayer<A, C> {
    /// A layer answering failures that `fallback`'s policy accepts with
    /// `alternative`.
    pub fn new(fallback: Fallback<C>, alternative: A) -> Self {
        FallbackLayer {
            fallback,
            alternative,
            index: 0,
        }
    }

    /// Reports this layer's fallbacks as alternative number `index` of a
    /// chain (0 by default).
    pub fn with_index(mut self, index: u32) -> Self {
        self.index = index;
        self
    }

    /// The fallback policy and hook.
    pub fn fallback(&self) -> &Fallback<C> {
        &self.fallback
    }
}

impl<A, C: fmt::Debug> fmt::Debug for FallbackLayer<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("fallback", &self.fallback)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<S, A: Clone, C: Clone> Layer<S> for FallbackLayer<A, C> {
    type Service = FallbackService<S, A, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service whose failures are answered by an alternative; made by
/// [`FallbackLayer`].
///
/// [`poll_ready`](Service::poll_ready) is the primary's. Each call keeps a
/// clone of the request and of the alternative service (so the request
/// must be `Clone`); the alternative is only made ready and called when
/// the primary fails for a reason the policy accepts. Other errors come
/// back unchanged.
pub type FallbackService<S, A, C> = Layered<FallbackLayer<A, C>, S>;

impl<S, A, C, Req> Service<Req> for Layered<FallbackLayer<A, C>, S>
where
    C: Clock + Clone,
    S: Service<Req>,
    S::Error: FallbackCause,
    Req: Clone,
    A: Service<FallbackRequest<Req, S::Error>, Response = S::Response, Error = S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = FallbackFuture<S::Future, A, Req, S::Error, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        FallbackFuture {
            state: FallbackState::Primary {
                future: self.inner.call(request.clone()),
                request: Some(request),
            },
            layer: self.layer.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`FallbackService`] call: the primary in flight, or
    /// the alternative. Named, not boxed.
    #[must_use = "futures do nothing unless polled"]
    pub struct FallbackFuture<F, A, Req, E, C>
    where
        A: Service<FallbackRequest<Req, E>>,
    {
        #[pin]
        state: FallbackState<F, A::Future, Req, E>,
        layer: FallbackLayer<A, C>,
    }
}

pin_project_lite::pin_project! {
    #[project = FallbackStateProj]
    enum FallbackState<F, G, Req, E> {
        Primary {
            #[pin]
            future: F,
            request: Option<Req>,
        },
        Readying {
            pending: Option<FallbackRequest<Req, E>>,
        },
        Alternative {
            #[pin]
            future: G,
        },
        Done,
    }
}

impl<F, A: Service<FallbackRequest<Req, E>>, Req, E, C> fmt::Debug
    for FallbackFuture<F, A, Req, E, C>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let primary = matches!(self.state, FallbackState::Primary { .. });
        f.debug_struct("FallbackFuture")
            .field("primary", &primary)
            .finish_non_exhaustive()
    }
}

impl<F, A, Req, T, E, C> Future for FallbackFuture<F, A, Req, E, C>
where
    C: Clock,
    F: Future<Output = Result<T, E>>,
    E: FallbackCause,
    A: Service<FallbackRequest<Req, E>, Response = T, Error = E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                FallbackStateProj::Primary { future, request } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(value) => {
                            this.state.set(FallbackState::Done);
                            return Poll::Ready(Ok(value));
                        }
                        Err(error) => error,
                    };
                    let (Some(reason), Some(request)) = (
                        this.layer.fallback.reason_for(&error, this.layer.index),
                        request.take(),
                    ) else {
                        this.state.set(FallbackState::Done);
                        return Poll::Ready(Err(error));
                    };
                    let pending = FallbackRequest {
                        request,
                        reason,
                        error,
                    };
                    this.state.set(FallbackState::Readying {
                        pending: Some(pending),
                    });
                }
                FallbackStateProj::Readying { pending } => {
                    if let Err(error) = ready!(this.layer.alternative.poll_ready(cx)) {
                        this.state.set(FallbackState::Done);
                        return Poll::Ready(Err(error));
                    }
                    let Some(pending) = pending.take() else {
                        panic!("FallbackFuture lost its request");
                    };
                    let future = this.layer.alternative.call(pending);
                    this.state.set(FallbackState::Alternative { future });
                }
                FallbackStateProj::Alternative { future } => {
                    let result = ready!(future.poll(cx));
                    this.state.set(FallbackState::Done);
                    return Poll::Ready(result);
                }
                FallbackStateProj::Done => panic!("FallbackFuture polled after completion"),
            }
        }
    }
}
