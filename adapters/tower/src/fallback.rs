//! A layer answering a failed request with an alternative service.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::fallback::FallbackReason;
use failsafe_driver::{Clock, Fallback, FallbackCause};
use tower::ServiceExt;
use tower::util::Oneshot;
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

/// Answers a request that fails for a reason the driver's [`Fallback`]
/// policy accepts with the alternative service `A` (a cache, a replica, a
/// `service_fn`), which sees the request, the reason and the error and
/// answers with the same types. Stack layers for an ordered chain (the
/// outermost tried last; [`with_index`](Self::with_index) numbers them in
/// the events). The primary's error must say why it failed
/// ([`FallbackCause`]): put the layer over a retry, admission or timeout
/// layer, or map a plain error to [`Error::Inner`](failsafe_driver::Error::Inner).
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
/// let fallback = Fallback::with_runtime(failsafe_tokio::TokioClock::new());
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
    #[must_use]
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
/// [`FallbackLayer`]. Its `poll_ready` is the primary's; each call keeps a
/// clone of the request (so it must be `Clone`) and readies a clone of the
/// alternative only when the primary fails for a reason the policy
/// accepts. Other errors come back unchanged.
pub type FallbackService<S, A, C> = Layered<FallbackLayer<A, C>, S>;

impl<S, A, C, Req> Service<Req> for FallbackService<S, A, C>
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
        let future = self.inner.call(request.clone());
        let (layer, request) = (Some(self.layer.clone()), Some(request));
        let state = FallbackState::Primary { future, request };
        FallbackFuture { state, layer }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`FallbackService`] call: the primary in flight, or
    /// the alternative (readied and called). Named, not boxed.
    #[must_use = "futures do nothing unless polled"]
    pub struct FallbackFuture<F, A, Req, E, C>
    where
        A: Service<FallbackRequest<Req, E>>,
    {
        #[pin]
        state: FallbackState<F, Oneshot<A, FallbackRequest<Req, E>>, Req>,
        layer: Option<FallbackLayer<A, C>>,
    }
}

pin_project_lite::pin_project! {
    #[project = FallbackStateProj]
    enum FallbackState<F, G, Req> {
        Primary { #[pin] future: F, request: Option<Req> },
        Alternative { #[pin] future: G },
        // Answered: polled again, it stays pending.
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
            let (future, request) = match this.state.as_mut().project() {
                FallbackStateProj::Primary { future, request } => (future, request),
                FallbackStateProj::Alternative { future } => {
                    let answer = ready!(future.poll(cx));
                    this.state.set(FallbackState::Done);
                    return Poll::Ready(answer);
                }
                FallbackStateProj::Done => return Poll::Pending,
            };
            let result = ready!(future.poll(cx));
            let request = request.take();
            this.state.set(FallbackState::Done);
            let error = match result {
                Ok(value) => return Poll::Ready(Ok(value)),
                Err(error) => error,
            };
            let Some(layer) = this.layer.take() else {
                return Poll::Pending;
            };
            let reason = layer.fallback.reason_for(&error, layer.index);
            let (Some(reason), Some(request)) = (reason, request) else {
                return Poll::Ready(Err(error));
            };
            let fallback = FallbackRequest {
                request,
                reason,
                error,
            };
            let future = layer.alternative.oneshot(fallback);
            this.state.set(FallbackState::Alternative { future });
        }
    }
}
