//! The whole [`Pipeline`] as one tower [`Layer`]: every admission decides
//! in the request's future, in the pipeline's order, before the inner
//! service is asked to be ready, so a request any admission rejects holds
//! nothing anywhere (not even the inner service's readiness).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::boxed::Box;
use std::sync::Arc;

use core::convert::Infallible;
use failsafe_core::retry::{RetryBudget, RetryEvent};
use failsafe_core::sync::{Lock, SharedAdmission};

use failsafe_driver::{
    Attempt, Attempts, Classify, DefaultClassifier, Observer, Pipeline, PipelineError, Runtime,
};
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_service::Service;

use crate::{Layered, NoDeadline, PlanLayer, RequestDeadline};

/// Wraps services in a [`PipelineService`]: each request runs through the
/// shared [`Pipeline`] (admissions, retry, timeouts), with one error type,
/// [`PipelineError`].
///
/// Requests must be `Clone` (each attempt sends a clone) and so must the
/// service: an attempt drives a clone of it to readiness and calls it, as
/// tower's own `Retry` does.
///
/// ```
/// use std::time::Duration;
/// use failsafe_driver::Pipeline;
/// use failsafe_core::retry::RetryConfig;
/// use failsafe_tokio::TokioClock;
/// use failsafe_tower::PipelineLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let pipeline = Pipeline::new(TokioClock)
///     .retry(RetryConfig::builder().max_attempts(3).build().unwrap())
///     .timeout(Duration::from_secs(5));
/// let svc = PipelineLayer::new(pipeline)
///     .layer(service_fn(|n: u32| async move { if n > 0 { Ok(n) } else { Err("zero") } }));
/// assert_eq!(svc.clone().oneshot(4).await, Ok(4));
/// let e = svc.oneshot(0).await.unwrap_err();
/// assert_eq!((e.attempts, e.inner()), (3, Some(&"zero")));
/// # }
/// ```
pub type PipelineLayer<
    P,
    K = DefaultClassifier,
    D = NoDeadline,
    Y = CloneRequests,
    M = KeepErrors,
> = PlanLayer<Piped<P, Y, M>, K, D>;

/// What a [`PipelineLayer`] shares among its services: the pipeline, how a
/// request is sent again ([`Replay`]) and what a failure answers
/// ([`Respond`]).
pub type Piped<P, Y = CloneRequests, M = KeepErrors> = (Arc<P>, Y, M);

/// How a [`PipelineLayer`] sends a request again for a retry.
pub trait Replay<Req>: Clone {
    /// A copy of `request` to send, or `None` if it cannot be sent again
    /// (the original then goes with the next attempt, its last).
    fn replay(&self, request: &Req) -> Option<Req>;
}

/// Retries send a clone of the request (the default; requests must be
/// `Clone`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneRequests;

impl<Req: Clone> Replay<Req> for CloneRequests {
    fn replay(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// Requests are sent once (a server's request body cannot be replayed):
/// the pipeline makes one attempt, whatever its retry says.
#[derive(Clone, Copy, Debug, Default)]
pub struct SendOnce;

impl<Req> Replay<Req> for SendOnce {
    fn replay(&self, _: &Req) -> Option<Req> {
        None
    }
}

/// What a [`PipelineService`] answers when the pipeline fails.
pub trait Respond<T, E>: Clone {
    /// The service's error type.
    type Error;
    /// The service's answer for the pipeline's result.
    ///
    /// # Errors
    ///
    /// `Self::Error`, as the mode decides.
    fn respond(&self, result: Result<T, PipelineError<E>>) -> Result<T, Self::Error>;
}

/// Failures are the service's errors, as [`PipelineError`]s (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepErrors;

impl<T, E> Respond<T, E> for KeepErrors {
    type Error = PipelineError<E>;
    fn respond(&self, result: Result<T, PipelineError<E>>) -> Result<T, PipelineError<E>> {
        result
    }
}

/// Failures become responses (`Error = Infallible`): what axum's
/// `Router::layer` asks for. With the driver's `axum` feature,
/// `PipelineError` is `IntoResponse`: `.respond_with(IntoResponse::into_response)`.
#[derive(Clone, Copy, Debug)]
pub struct RespondWith<F>(F);

impl<T, E, F: Fn(PipelineError<E>) -> T + Clone> Respond<T, E> for RespondWith<F> {
    type Error = Infallible;
    fn respond(&self, result: Result<T, PipelineError<E>>) -> Result<T, Infallible> {
        Ok(result.unwrap_or_else(&self.0))
    }
}

impl<P> PipelineLayer<P> {
    /// Every request through `pipeline`; every `Err` of the inner service
    /// fails (and retries, if the pipeline retries).
    pub fn new(pipeline: P) -> Self {
        PlanLayer::of(
            (Arc::new(pipeline), CloneRequests, KeepErrors),
            DefaultClassifier,
        )
    }
}

impl<P, K, D, Y, M> PipelineLayer<P, K, D, Y, M> {
    /// Sends each request once ([`SendOnce`]): no `Clone` needed, no retry.
    pub fn send_once(self) -> PipelineLayer<P, K, D, SendOnce, M> {
        self.map(|(pipeline, _, respond)| (pipeline, SendOnce, respond))
    }

    /// Answers failures with `respond(error)` as a response
    /// ([`RespondWith`]): the service's error becomes `Infallible`.
    pub fn respond_with<F>(self, respond: F) -> PipelineLayer<P, K, D, Y, RespondWith<F>> {
        self.map(|(pipeline, replay, _)| (pipeline, replay, RespondWith(respond)))
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &P {
        &self.pattern.0
    }
}

/// A service behind a [`PipelineLayer`]. Always ready: each request's
/// future runs the pipeline and readies a clone of the inner service only
/// for an attempt every admission let in.
pub type PipelineService<
    S,
    P,
    K = DefaultClassifier,
    D = NoDeadline,
    Y = CloneRequests,
    M = KeepErrors,
> = Layered<PipelineLayer<P, K, D, Y, M>, S>;

/// The future of a [`PipelineService`] call (boxed: it owns the pipeline
/// handle it borrows from). A type of its own rather than the bare boxed
/// `dyn Future`: behind tower's `Buffer`, a request made in a spawned task
/// could not be proved `Send` when the buffered service's future was a
/// `dyn Future` (its `'static` bound is a lifetime the compiler erases
/// there: rust-lang/rust#102211).
/// `None` once it answered: polled again, it stays pending (the `async`
/// block inside would panic).
pub struct PipelineFuture<T, E>(Option<BoxedCall<T, E>>);

/// A pipeline call's boxed `async` block.
type BoxedCall<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<T, E> Future for PipelineFuture<T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, E>> {
        let Some(call) = self.0.as_mut() else {
            return Poll::Pending;
        };
        let answer = ready!(call.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(answer)
    }
}

impl<T, E> fmt::Debug for PipelineFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineFuture").finish_non_exhaustive()
    }
}

/// Sends a request for each attempt: a replayed copy while the [`Replay`]
/// gives one, the original for the last.
struct Sender<S, Req, Y, D> {
    service: S,
    request: Option<Req>,
    replay: Y,
    rule: D,
}

impl<S, Req, Y, D> Attempts<Oneshot<S, Req>> for Sender<S, Req, Y, D>
where
    S: Service<Req> + Clone,
    Y: Replay<Req>,
    D: RequestDeadline<Req>,
{
    fn make(&mut self, attempt: Attempt) -> Option<Oneshot<S, Req>> {
        let held = self.request.as_ref()?;
        let mut request = match self.replay.replay(held) {
            Some(copy) => copy,
            None => self.request.take()?,
        };
        self.rule.set_deadline(&mut request, attempt.deadline);
        Some(self.service.clone().oneshot(request))
    }

    /// The original request has been sent: nothing is left to send.
    fn exhausted(&self) -> bool {
        self.request.is_none()
    }
}

impl<S, Req, A, R, B, G, O, K, D, Y, M> Service<Req>
    for PipelineService<S, Pipeline<A, R, B, G, O>, K, D, Y, M>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Send + 'static,
    Y: Replay<Req> + Send + 'static,
    M: Respond<S::Response, S::Error> + Send + 'static,
    M::Error: Send,
    A: SharedAdmission<Key = ()> + Send + Sync + 'static,
    A::Permit: Send,
    A::Wait: Send,
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
    B: Lock<G> + Send + Sync + 'static,
    G: RetryBudget + 'static,
    O: Observer<RetryEvent> + Clone + Send + Sync + 'static,
    K: Classify<S::Response, S::Error> + Clone + Send + Sync + 'static,
    D: RequestDeadline<Req> + Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = M::Error;
    type Future = PipelineFuture<S::Response, M::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (layer, (pipeline, replay, respond)) = (&self.layer, &self.layer.pattern);
        let deadline = layer.deadline.deadline(&request);
        let (pipeline, classify) = (Arc::clone(pipeline), layer.classify.clone());
        let respond = respond.clone();
        let sender = Sender {
            service: self.inner.clone(),
            request: Some(request),
            replay: replay.clone(),
            rule: layer.deadline.clone(),
        };
        PipelineFuture(Some(Box::pin(async move {
            let result = pipeline.call_attempts(&classify, deadline, sender).await;
            respond.respond(result)
        })))
    }
}
