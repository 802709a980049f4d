//! A tower [`Layer`] that hedges idempotent requests: when the inner
//! service is slow, a copy of the request goes out again, and the first
//! success answers; the others are dropped. Decisions are the core's
//! [`HedgePlan`]; up to four attempts run at once, pinned in place.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use failsafe_core::Instant;
use failsafe_core::hedge::{HedgeConfig, HedgePlan, Latencies, LatencyQuantile};
use failsafe_core::plan::{Attempt, Judged};
use failsafe_core::retry::{NoBudget, RetryBudget};
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_driver::slots::Four;
use failsafe_driver::{Classify, DefaultClassifier, PlanRun, RetryError, Runtime, StdLock, Step};
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_layer::Layer;
use tower_service::Service;

use crate::Layered;

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

/// Wraps services in a [`HedgeService`]. Only for **idempotent** requests:
/// build it with [`idempotent`](Self::idempotent), which says so.
/// Requests must be `Clone` (each attempt sends a copy) and so must the
/// service (each attempt drives a clone to readiness and calls it).
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
pub struct HedgeLayer<R, B = NoBudget, K = DefaultClassifier> {
    config: HedgeConfig,
    runtime: R,
    budget: Arc<StdLock<B>>,
    latencies: SharedLatencies,
    classify: K,
}

impl<R> HedgeLayer<R> {
    /// Hedges requests the caller says are idempotent, under `config`, on
    /// `runtime`'s timer, with no budget and a p95 latency tracker (50 ms
    /// until 100 latencies were seen, refreshed every second).
    pub fn idempotent(config: HedgeConfig, runtime: R) -> Self {
        let p95 = LatencyQuantile::new(
            9_500,
            core::time::Duration::from_millis(50),
            100,
            core::time::Duration::from_secs(1),
        );
        HedgeLayer {
            config,
            runtime,
            budget: Arc::new(StdLock::new(NoBudget)),
            latencies: SharedLatencies::new(p95),
            classify: DefaultClassifier,
        }
    }
}

impl<R, B, K> HedgeLayer<R, B, K> {
    /// Spends hedges from `budget`, shared by every service of the layer
    /// (the retries' budget, to bound both).
    pub fn budget<B2: RetryBudget>(self, budget: Arc<StdLock<B2>>) -> HedgeLayer<R, B2, K> {
        HedgeLayer {
            config: self.config,
            runtime: self.runtime,
            budget,
            latencies: self.latencies,
            classify: self.classify,
        }
    }

    /// Takes the quantile delay from `latencies` (shared with other layers).
    pub fn latencies(mut self, latencies: SharedLatencies) -> Self {
        self.latencies = latencies;
        self
    }

    /// Classifies the inner service's results with `classify`.
    pub fn with_classifier<K2>(self, classify: K2) -> HedgeLayer<R, B, K2> {
        HedgeLayer {
            config: self.config,
            runtime: self.runtime,
            budget: self.budget,
            latencies: self.latencies,
            classify,
        }
    }
}

impl<R: Clone, B, K: Clone> Clone for HedgeLayer<R, B, K> {
    fn clone(&self) -> Self {
        HedgeLayer {
            config: self.config,
            runtime: self.runtime.clone(),
            budget: Arc::clone(&self.budget),
            latencies: self.latencies.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<R: fmt::Debug, B, K> fmt::Debug for HedgeLayer<R, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeLayer")
            .field("config", &self.config)
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl<S, R: Clone, B, K: Clone> Layer<S> for HedgeLayer<R, B, K> {
    type Service = HedgeService<S, R, B, K>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service behind a [`HedgeLayer`]. Always ready: each attempt readies
/// its own clone of the inner service.
pub type HedgeService<S, R, B = NoBudget, K = DefaultClassifier> = Layered<HedgeLayer<R, B, K>, S>;

type Plan<B> = HedgePlan<Arc<StdLock<B>>, B, SharedLatencies>;

pin_project_lite::pin_project! {
    /// The future of a [`HedgeService`] call: the driver's [`PlanRun`]
    /// under the core's hedge plan, up to four attempts pinned in place.
    #[must_use = "futures do nothing unless polled"]
    pub struct HedgeFuture<S, Req, R, B, K>
    where
        S: Service<Req>,
        R: Runtime,
    {
        service: S,
        request: Req,
        runtime: R,
        classify: K,
        #[pin]
        run: PlanRun<Plan<B>, Oneshot<S, Req>, R::Sleep, Four<Oneshot<S, Req>>>,
    }
}

impl<S: Service<Req>, Req, R: Runtime, B, K> fmt::Debug for HedgeFuture<S, Req, R, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgeFuture").finish_non_exhaustive()
    }
}

impl<S, Req, R, B, K> Service<Req> for Layered<HedgeLayer<R, B, K>, S>
where
    S: Service<Req> + Clone,
    Req: Clone,
    R: Runtime + Clone,
    B: RetryBudget,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = RetryError<S::Error>;
    type Future = HedgeFuture<S, Req, R, B, K>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let layer = &self.layer;
        let now = layer.runtime.now();
        // Four attempts at most: the slots the future holds.
        let plan = HedgePlan::new(
            layer.config.at_most(4),
            Deadline::NEVER,
            Arc::clone(&layer.budget),
            layer.latencies.clone(),
            (),
            now,
        );
        let service = self.inner.clone();
        let first = |_: Attempt| Some(service.clone().oneshot(request.clone()));
        let run = PlanRun::new(plan, now).with_first(first);
        HedgeFuture {
            service,
            request,
            runtime: layer.runtime.clone(),
            classify: layer.classify.clone(),
            run,
        }
    }
}

impl<S, Req, R, B, K> Future for HedgeFuture<S, Req, R, B, K>
where
    S: Service<Req> + Clone,
    Req: Clone,
    R: Runtime,
    B: RetryBudget,
    K: Classify<S::Response, S::Error>,
{
    type Output = Result<S::Response, RetryError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let classify = &*this.classify;
            let mut judge = |now, result: &Result<S::Response, S::Error>| {
                Judged::verdict(classify.verdict_at(now, result))
            };
            match ready!(this.run.as_mut().poll_step(cx, &*this.runtime, &mut judge)) {
                Step::Start(attempt) => {
                    let future = this.service.clone().oneshot(this.request.clone());
                    this.run.as_mut().start(attempt, future);
                }
                Step::Finish(finish, result) => {
                    return Poll::Ready(RetryError::from_finish(finish, result));
                }
            }
        }
    }
}
