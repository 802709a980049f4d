//! The whole [`Pipeline`] as one tower [`Layer`]: every admission decides
//! in the request's future, in the pipeline's order, before the inner
//! service is asked to be ready, so a request any admission rejects holds
//! nothing anywhere (not even the inner service's readiness).

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::sync::Arc;

use failsafe_core::retry::{RetryBudget, RetryEvent};
use failsafe_core::sync::{Lock, SharedAdmission};
use failsafe_driver::{Classify, DefaultClassifier, Observer, Pipeline, PipelineError, Runtime};
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use crate::{Layered, NoDeadline, RequestDeadline};

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
pub struct PipelineLayer<P, K = DefaultClassifier, D = NoDeadline> {
    pipeline: Arc<P>,
    classify: Arc<K>,
    deadline: D,
}

impl<P> PipelineLayer<P> {
    /// Every request through `pipeline`; every `Err` of the inner service
    /// fails (and retries, if the pipeline retries).
    pub fn new(pipeline: P) -> Self {
        PipelineLayer {
            pipeline: Arc::new(pipeline),
            classify: Arc::new(DefaultClassifier),
            deadline: NoDeadline,
        }
    }
}

impl<P, K, D> PipelineLayer<P, K, D> {
    /// Classifies the inner service's results with `classify`.
    pub fn with_classifier<K2>(self, classify: K2) -> PipelineLayer<P, K2, D> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify: Arc::new(classify),
            deadline: self.deadline,
        }
    }

    /// Reads each request's own deadline (a `grpc-timeout` header, an
    /// extension) with `deadline`.
    pub fn with_request_deadline<D2>(self, deadline: D2) -> PipelineLayer<P, K, D2> {
        PipelineLayer {
            pipeline: self.pipeline,
            classify: self.classify,
            deadline,
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &P {
        &self.pipeline
    }
}

impl<P, K, D: Clone> Clone for PipelineLayer<P, K, D> {
    fn clone(&self) -> Self {
        PipelineLayer {
            pipeline: Arc::clone(&self.pipeline),
            classify: Arc::clone(&self.classify),
            deadline: self.deadline.clone(),
        }
    }
}

impl<P: fmt::Debug, K, D> fmt::Debug for PipelineLayer<P, K, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineLayer")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl<S, P, K, D: Clone> Layer<S> for PipelineLayer<P, K, D> {
    type Service = PipelineService<S, P, K, D>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service behind a [`PipelineLayer`]. Always ready: each request's
/// future runs the pipeline and readies a clone of the inner service only
/// for an attempt every admission let in.
pub type PipelineService<S, P, K = DefaultClassifier, D = NoDeadline> =
    Layered<PipelineLayer<P, K, D>, S>;

/// The future of a [`PipelineService`] call (boxed: it owns the pipeline
/// handle it borrows from).
pub type PipelineFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, PipelineError<E>>> + Send>>;

impl<S, Req, A, R, B, G, O, K, D> Service<Req>
    for Layered<PipelineLayer<Pipeline<A, R, B, G, O>, K, D>, S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    Req: Clone + Send + 'static,
    A: SharedAdmission<Key = ()> + Send + Sync + 'static,
    A::Permit: Send,
    A::Wait: Send,
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
    B: Lock<G> + Send + Sync + 'static,
    G: RetryBudget + 'static,
    O: Observer<RetryEvent> + Clone + Send + Sync + 'static,
    K: Classify<S::Response, S::Error> + Send + Sync + 'static,
    D: RequestDeadline<Req> + Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = PipelineError<S::Error>;
    type Future = PipelineFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Req) -> Self::Future {
        let layer = &self.layer;
        let deadline = layer.deadline.deadline(&request);
        let (pipeline, classify) = (Arc::clone(&layer.pipeline), Arc::clone(&layer.classify));
        let inner = self.inner.clone();
        let rule = layer.deadline.clone();
        Box::pin(async move {
            let attempt = move |attempt: failsafe_driver::Attempt| {
                rule.set_deadline(&mut request, attempt.deadline);
                inner.clone().oneshot(request.clone())
            };
            pipeline.call_with(&*classify, deadline, attempt).await
        })
    }
}
