//! A layer injecting faults and latency in front of a service.

use core::borrow::Borrow;
use core::fmt;
use core::task::{Context, Poll};
use std::sync::Arc;

use failsafe_core::Observer;
use failsafe_core::timeout::Deadline;
use failsafe_driver::Runtime;
use failsafe_driver::chaos::{Chaos, ChaosEvent, ChaosFuture, ChaosPolicy};
use tower_layer::Layer;
use tower_service::Service;

use crate::Layered;

/// Injects what a driver [`ChaosPolicy`] decides, on any runtime's timer:
/// each request waits the added latency, then gets the injected error, the
/// chosen outcome (an `Ok` 503 for a server whose error is `Infallible`), a
/// hang (cut by a timeout outside) or the inner service's answer; a fault
/// never reaches the inner service. The layer changes no types: put it in
/// front of a real server (axum's `Router::layer`) to see what its clients'
/// protection does.
///
/// The inner service's `call` is made at once and its future polled only
/// after the latency: a lazy future (an `async` handler, axum's) does its
/// work after the delay; a service that works in `call` itself (tower's
/// `Buffer` sends the request there) has it under way during the delay,
/// which then delays only its answer. A fault does not call the inner
/// service: the readiness `poll_ready` took for the request (a bulkhead's
/// slot inside) is held for the next request, or until the service is
/// dropped, as tower's contract has it.
///
/// ```
/// use std::time::Duration;
/// use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
/// use failsafe_tokio::TokioClock;
/// use failsafe_tower::ChaosLayer;
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let latency = Duration::from_millis(100);
/// let config = ChaosConfig::builder()
///     .outcome(Rate::ALWAYS, Schedule::Always)
///     .latency(Rate::ALWAYS, latency, latency, Schedule::Always)
///     .build()
///     .unwrap();
/// let policy = ChaosPolicy::new(Chaos::new(config), || "down", || Ok(503)).seed(1);
/// let svc = ServiceBuilder::new()
///     .layer(ChaosLayer::new(policy, TokioClock::new()))
///     .service(service_fn(|_: ()| async { Ok::<u16, &str>(200) }));
/// let start = tokio::time::Instant::now();
/// assert_eq!(svc.oneshot(()).await, Ok(503));
/// assert_eq!(start.elapsed(), latency);
/// # }
/// ```
pub struct ChaosLayer<P, R> {
    policy: Arc<P>,
    runtime: R,
}

impl<P, R> ChaosLayer<P, R> {
    /// A layer injecting as `policy` decides, sleeping on `runtime`.
    pub fn new(policy: P, runtime: R) -> Self {
        ChaosLayer::shared(Arc::new(policy), runtime)
    }

    /// A layer over a policy shared with others (whose machine they can
    /// switch off and on).
    pub fn shared(policy: Arc<P>, runtime: R) -> Self {
        ChaosLayer { policy, runtime }
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }
}

impl<P, R: Clone> Clone for ChaosLayer<P, R> {
    fn clone(&self) -> Self {
        ChaosLayer::shared(Arc::clone(&self.policy), self.runtime.clone())
    }
}

impl<P, R: fmt::Debug> fmt::Debug for ChaosLayer<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl<S, P, R: Clone> Layer<S> for ChaosLayer<P, R> {
    type Service = ChaosService<S, P, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service with chaos injected in front; made by [`ChaosLayer`].
pub type ChaosService<S, P, R> = Layered<ChaosLayer<P, R>, S>;

impl<S, C, ME, MO, N, R, Req> Service<Req> for Layered<ChaosLayer<ChaosPolicy<C, ME, MO, N>, R>, S>
where
    S: Service<Req>,
    R: Runtime,
    C: Borrow<Chaos>,
    ME: Fn() -> S::Error,
    MO: Fn() -> Result<S::Response, S::Error>,
    N: Observer<ChaosEvent> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ChaosFuture<S::Future, R::Sleep>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (layer, inner) = (&self.layer, &mut self.inner);
        let call = || inner.call(request);
        layer.policy.run(&layer.runtime, Deadline::NEVER, call)
    }
}
