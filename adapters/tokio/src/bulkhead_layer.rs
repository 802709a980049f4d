//! A tower [`Layer`] and [`Service`] that run every request in a bulkhead
//! slot.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::sync::Arc;

use failsafe_core::bulkhead::{FixedLimit, LimitAlgorithm};
use failsafe_core::{Instant, Rejected};
use failsafe_driver::{
    BulkheadGuard, BulkheadPolicy, Classify, DefaultClassifier, Error, OwnedBulkheadGuard,
    SharedStdBulkhead, SlotStep, SlotWait,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Bulkhead, TokioClock};

/// Wraps services in a [`BulkheadService`] sharing one bulkhead: at most
/// `limit` requests in flight across every service the layer makes, the
/// others queued (FIFO, up to `Q` of them, each for at most `max_wait`).
///
/// **Where the waiting happens, and where a rejection shows.** A service
/// waits for its slot in [`poll_ready`](Service::poll_ready): it returns
/// `Pending` (the task's waker registered with the bulkhead, and a tokio
/// timer armed for the end of its wait) until a slot is granted, then
/// polls the inner service. A caller the bulkhead turns away (every slot
/// taken and no wait allowed, the queue full, or the wait ran out) is
/// **not** failed in `poll_ready`, which returns `Ready(Ok)` so the
/// service stays usable: the next [`call`](Service::call) returns a future
/// that resolves at once to [`Error::Rejected`], without calling the inner
/// service (tower's load-shed convention).
///
/// The slot is given back when the response future completes (with the
/// classified outcome, which an adaptive limit learns from) or is dropped
/// (as `Cancelled`); a service dropped while it waits, or while holding a
/// slot no `call` used, gives it up too.
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Bulkhead, BulkheadConfig, BulkheadLayer, Error, RejectReason};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = BulkheadConfig::builder()
///     .max_concurrent(2)
///     .max_wait(Duration::from_millis(100))
///     .build()
///     .unwrap();
/// let bulkhead: Bulkhead = Bulkhead::new(config);
/// let svc = BulkheadLayer::new(bulkhead.clone()).layer(service_fn(|n: u64| async move {
///     tokio::time::sleep(Duration::from_millis(n)).await;
///     Ok::<_, ()>(n)
/// }));
///
/// assert_eq!(svc.clone().oneshot(10).await, Ok(10));
///
/// // two slow requests take both slots; a third waits 100 ms, then is turned away
/// let slow = [tokio::spawn(svc.clone().oneshot(500)), tokio::spawn(svc.clone().oneshot(500))];
/// tokio::task::yield_now().await;
/// match svc.oneshot(1).await {
///     Err(Error::Rejected(r)) => assert_eq!(r.reason, RejectReason::BulkheadWaitExpired),
///     other => panic!("{other:?}"),
/// }
/// for s in slow {
///     assert_eq!(s.await.unwrap(), Ok(500));
/// }
/// assert_eq!(bulkhead.in_flight(), 0);
/// # }
/// ```
pub struct BulkheadLayer<const Q: usize = 64, A = FixedLimit, K = DefaultClassifier> {
    bulkhead: Bulkhead<Q, A>,
    classify: K,
}

impl<const Q: usize, A> BulkheadLayer<Q, A> {
    /// A layer running requests in slots of `bulkhead`; `Err` counts as a
    /// failure (for an adaptive limit).
    pub fn new(bulkhead: Bulkhead<Q, A>) -> Self {
        BulkheadLayer {
            bulkhead,
            classify: DefaultClassifier,
        }
    }
}

impl<const Q: usize, A, K> BulkheadLayer<Q, A, K> {
    /// Uses `classify` to decide what each result tells an adaptive limit
    /// (it is cloned into every call's future). The caller still gets the
    /// inner service's result unchanged.
    pub fn with_classifier<K2>(self, classify: K2) -> BulkheadLayer<Q, A, K2> {
        BulkheadLayer {
            bulkhead: self.bulkhead,
            classify,
        }
    }

    /// The bulkhead the services share.
    pub fn bulkhead(&self) -> &Bulkhead<Q, A> {
        &self.bulkhead
    }
}

impl<const Q: usize, A, K: Clone> Clone for BulkheadLayer<Q, A, K> {
    fn clone(&self) -> Self {
        BulkheadLayer {
            bulkhead: self.bulkhead.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<const Q: usize, A, K> fmt::Debug for BulkheadLayer<Q, A, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadLayer")
            .field("bulkhead", &self.bulkhead)
            .finish_non_exhaustive()
    }
}

impl<S, const Q: usize, A: LimitAlgorithm, K: Clone> Layer<S> for BulkheadLayer<Q, A, K> {
    type Service = BulkheadService<S, Q, A, K>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService::new(inner, self.bulkhead.clone()).with_classifier(self.classify.clone())
    }
}

type Shared<const Q: usize, A> = Arc<SharedStdBulkhead<Q, A>>;

/// A service whose requests run in slots of a bulkhead; made by
/// [`BulkheadLayer`] (see it for where waiting happens and where a
/// rejection shows).
///
/// [`call`](Service::call) without a slot or rejection in hand (the
/// `poll_ready` contract broken) panics, as tower's own concurrency limit
/// does. A clone shares the bulkhead but not this service's slot: it waits
/// for its own.
pub struct BulkheadService<S, const Q: usize = 64, A = FixedLimit, K = DefaultClassifier>
where
    A: LimitAlgorithm,
{
    inner: S,
    bulkhead: Bulkhead<Q, A>,
    classify: K,
    /// The wait for the next call's slot; dropping it gives up its place.
    wait: SlotWait<Shared<Q, A>, TokioClock>,
    /// What the last wait ended with, for the next call.
    ready: Option<Result<OwnedBulkheadGuard<Q, A, TokioClock>, Rejected>>,
    /// The timer for the end of the wait, kept and reset between waits.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    sleep_at: Option<Instant>,
}

impl<S, const Q: usize, A: LimitAlgorithm> BulkheadService<S, Q, A> {
    /// Puts `inner` behind `bulkhead`; `Err` counts as a failure.
    pub fn new(inner: S, bulkhead: Bulkhead<Q, A>) -> Self {
        let wait = SlotWait::new(Arc::clone(bulkhead.shared()), *bulkhead.clock());
        BulkheadService {
            inner,
            bulkhead,
            classify: DefaultClassifier,
            wait,
            ready: None,
            sleep: None,
            sleep_at: None,
        }
    }
}

impl<S, const Q: usize, A: LimitAlgorithm, K> BulkheadService<S, Q, A, K> {
    /// Uses `classify` to decide what each result tells an adaptive limit.
    pub fn with_classifier<K2>(self, classify: K2) -> BulkheadService<S, Q, A, K2> {
        BulkheadService {
            inner: self.inner,
            bulkhead: self.bulkhead,
            classify,
            wait: self.wait,
            ready: self.ready,
            sleep: self.sleep,
            sleep_at: self.sleep_at,
        }
    }

    /// The bulkhead this service's requests run in.
    pub fn bulkhead(&self) -> &Bulkhead<Q, A> {
        &self.bulkhead
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped (a slot held or waited for is given up).
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Waits for the next call's slot (or its rejection): `Ready` once
    /// `self.ready` holds one.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while self.ready.is_none() {
            let at = match self.wait.poll(Some(cx.waker())) {
                SlotStep::Granted(guard) => {
                    self.ready = Some(Ok(guard));
                    break;
                }
                SlotStep::Rejected(rejected) => {
                    self.ready = Some(Err(rejected));
                    break;
                }
                // Only a grant can end this wait: the waker is registered.
                SlotStep::Pending { recheck_at: None } => return Poll::Pending,
                SlotStep::Pending {
                    recheck_at: Some(at),
                } => at,
            };
            if self.sleep_at != Some(at) {
                let deadline = self.bulkhead.clock().to_tokio(at);
                match self.sleep.as_mut() {
                    Some(sleep) => sleep.as_mut().reset(deadline),
                    None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                }
                self.sleep_at = Some(at);
            }
            let Some(sleep) = self.sleep.as_mut() else {
                return Poll::Pending; // unreachable: armed just above
            };
            // Pending: the timer holds the waker too.
            ready!(sleep.as_mut().poll(cx));
            self.sleep_at = None;
            self.wait.timer_fired(at);
        }
        Poll::Ready(())
    }
}

impl<S: Clone, const Q: usize, A: LimitAlgorithm, K: Clone> Clone for BulkheadService<S, Q, A, K> {
    /// A clone shares the bulkhead but not this service's slot.
    fn clone(&self) -> Self {
        BulkheadService::new(self.inner.clone(), self.bulkhead.clone())
            .with_classifier(self.classify.clone())
    }
}

impl<S: fmt::Debug, const Q: usize, A: LimitAlgorithm, K> fmt::Debug
    for BulkheadService<S, Q, A, K>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadService")
            .field("inner", &self.inner)
            .field("bulkhead", &self.bulkhead)
            .field("wait", &self.wait)
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl<S, const Q: usize, A, K, Req> Service<Req> for BulkheadService<S, Q, A, K>
where
    S: Service<Req>,
    A: LimitAlgorithm,
    K: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = BulkheadFuture<S::Future, Shared<Q, A>, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        ready!(self.poll_slot(cx));
        match self.ready {
            // The slot is held while the inner service gets ready.
            Some(Ok(_)) => self.inner.poll_ready(cx).map_err(Error::Inner),
            // Turned away: `call` answers with the rejection.
            _ => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let state = match self.ready.take() {
            Some(Ok(guard)) => State::Admitted {
                future: self.inner.call(req),
                guard: Some(guard),
                classify: self.classify.clone(),
            },
            Some(Err(rejected)) => State::Rejected { rejected },
            None => panic!("BulkheadService::call before poll_ready returned Ready"),
        };
        BulkheadFuture { state }
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`BulkheadService`] call: the inner future holding
    /// its slot, or a rejection ready at once.
    ///
    /// Completing gives the slot back with the classified outcome;
    /// dropping it first gives the slot back as `Cancelled`. `B` is the
    /// bulkhead the slot belongs to (an `Arc` of the service's
    /// [`SharedStdBulkhead`]).
    pub struct BulkheadFuture<F, B, K>
    where
        B: BulkheadPolicy,
    {
        #[pin]
        state: State<F, B, K>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B, K>
    where
        B: BulkheadPolicy,
    {
        Admitted {
            #[pin]
            future: F,
            guard: Option<BulkheadGuard<B, TokioClock>>,
            classify: K,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F, B: BulkheadPolicy, K> fmt::Debug for BulkheadFuture<F, B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BulkheadFuture");
        match &self.state {
            State::Admitted { guard, .. } => {
                d.field("admitted", &true).field("done", &guard.is_none())
            }
            State::Rejected { rejected } => d.field("rejected", rejected),
        };
        d.finish_non_exhaustive()
    }
}

impl<F, B, K, T, E> Future for BulkheadFuture<F, B, K>
where
    F: Future<Output = Result<T, E>>,
    B: BulkheadPolicy,
    K: Classify<T, E>,
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
                    guard.finish(classify.classify(&result));
                }
                Poll::Ready(result.map_err(Error::Inner))
            }
            StateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(*rejected))),
        }
    }
}
