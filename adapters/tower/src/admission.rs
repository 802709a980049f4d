//! One layer for every admission machine: [`AdmissionLayer`] (decides in
//! `poll_ready`) and [`KeyedAdmissionLayer`] (in `call`, for a decision
//! that needs the request), sharing one [`ResponseFuture`].

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker, ready};
use core::time::Duration;

use failsafe_core::Rejected;
use failsafe_core::admission::Entry;
use failsafe_core::sync::SharedAdmission;
use failsafe_driver::{Admit, Ask, Classify, DefaultClassifier, Error, Guard, Policy, Runtime};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Layered, NoDeadline, RequestDeadline};

/// A reusable place for one admission wait (allocated once per service).
type Slot<S, R, Q> = Option<Pin<Box<Admit<S, R, Q>>>>;

/// Puts services behind an admission machine (a circuit breaker, a fail
/// fast, a bulkhead, a rate limiter: any [`SharedAdmission`] keyed by
/// `()`), shared by every service it makes. It decides in `poll_ready`
/// (see [`AdmissionService`]); an `Err` counts as a failure unless
/// [`with_classifier`](Self::with_classifier) says otherwise.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CountWindow};
/// use failsafe_driver::{CircuitBreakerPolicy, Error};
/// use failsafe_tokio::TokioClock;
/// use failsafe_tower::AdmissionLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let breaker: CircuitBreakerPolicy<CountWindow<100>, TokioClock> =
///     CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new());
/// let svc = AdmissionLayer::from_policy(&breaker)
///     .layer(service_fn(|name: &'static str| async move { Ok::<_, ()>(format!("hello {name}")) }));
/// assert_eq!(svc.clone().oneshot("world").await, Ok("hello world".to_string()));
/// breaker.force_open();
/// assert!(matches!(svc.oneshot("world").await, Err(Error::Rejected(_))));
/// # }
/// ```
#[derive(Clone)]
pub struct AdmissionLayer<S, R, K = DefaultClassifier> {
    policy: Policy<S, R>,
    classify: K,
}

impl<S, R> AdmissionLayer<S, R> {
    /// A layer over `shared` on `runtime`, each call asking
    /// [`Ask::DEFAULT`] (no deadline, weight 1, the machine's own wait).
    pub const fn new(shared: S, runtime: R) -> Self {
        AdmissionLayer {
            policy: Policy::new_shared(shared, runtime),
            classify: DefaultClassifier,
        }
    }

    /// A layer over a driver [`Policy`]'s machine, runtime and ask (a rate
    /// limiter's waits up to its max wait; see [`with_max_wait`](Self::with_max_wait)).
    pub fn from_policy(policy: &Policy<S, R>) -> Self
    where
        S: Clone,
        R: Clone,
    {
        AdmissionLayer {
            policy: policy.clone(),
            classify: DefaultClassifier,
        }
    }
}

impl<S, R, K> AdmissionLayer<S, R, K> {
    /// Judges what each result tells the machine with `classify` (cloned
    /// into every call's future); the caller gets the result unchanged.
    pub fn with_classifier<K2>(self, classify: K2) -> AdmissionLayer<S, R, K2> {
        AdmissionLayer {
            policy: self.policy,
            classify,
        }
    }

    /// Each call waits at most `max_wait` for a rate limiter's permits
    /// (zero: rejected at once, with `retry_at`); deadline and weight come
    /// from the policy ([`Policy::with_deadline`], [`Policy::with_weight`]).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.policy = self.policy.with_max_wait(max_wait);
        self
    }

    /// The same machine, decided in `call` for the key `key(&request)` (a
    /// keyed rate limiter): see [`KeyedAdmissionLayer`].
    pub fn keyed<F>(self, key: F) -> KeyedAdmissionLayer<S, R, F, NoDeadline, K> {
        let deadline = NoDeadline;
        KeyedAdmissionLayer {
            layer: self,
            key,
            deadline,
        }
    }

    /// The same machine, decided in `call` with each request's deadline
    /// (the earlier of it and the policy's binds): a fail fast rejects a
    /// request whose time left cannot cover the call.
    pub fn with_request_deadline<D>(self, deadline: D) -> KeyedAdmissionLayer<S, R, NoKey, D, K> {
        KeyedAdmissionLayer {
            layer: self,
            key: NoKey,
            deadline,
        }
    }

    /// The policy every call goes through (machine, runtime, [`Ask`]).
    pub const fn policy(&self) -> &Policy<S, R> {
        &self.policy
    }
}

impl<S, R: fmt::Debug, K> fmt::Debug for AdmissionLayer<S, R, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<Svc, S, R, K> Layer<Svc> for AdmissionLayer<S, R, K>
where
    S: SharedAdmission<Key = ()> + Clone,
    R: Runtime + Clone,
    K: Clone,
{
    type Service = AdmissionService<Svc, S, R, K>;

    fn layer(&self, inner: Svc) -> Self::Service {
        let (admit, decided) = (None, None);
        let own =
            (!S::NEEDS_EXIT).then(|| (self.policy.shared().clone(), self.policy.runtime().clone()));
        let state = AdmissionState {
            admit,
            waiting: false,
            yielding: false,
            decided,
            own,
        };
        let (layer, inner) = (self.clone(), inner);
        Layered {
            layer,
            inner,
            state,
        }
    }
}

/// One [`AdmissionService`]'s own state: its wait (allocated once, reused)
/// and what `poll_ready` decided for the next call.
pub struct AdmissionState<S: SharedAdmission, R: Runtime> {
    admit: Slot<S, R, ()>,
    waiting: bool,
    /// A rejection is kept while the task yields for the runtime's budget
    /// (`true`), else it was answered ready and is decided anew by the
    /// next `poll_ready`.
    yielding: bool,
    decided: Option<Result<Decided<S, R>, Rejected>>,
    /// The machine and runtime, kept here once per service (not per
    /// request) when the machine's exit does nothing: bare permits go back
    /// through them.
    own: Option<(S, R)>,
}

/// A permit `poll_ready` took for the next call.
enum Decided<S: SharedAdmission, R: Runtime> {
    /// Held by a guard (it will owe the machine an exit).
    Guard(Guard<S, R>),
    /// Bare, from a machine whose exit does nothing
    /// ([`SharedAdmission::NEEDS_EXIT`] `false`: a rate limiter): no handle
    /// cloned for it, so a request pays no `Arc` clone and drop. Given back
    /// through the layer's own handle if never used.
    Bare(S::Permit),
}

impl<S: SharedAdmission, R: Runtime> fmt::Debug for Decided<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decided::Guard(guard) => guard.fmt(f),
            Decided::Bare(_) => f.write_str("Bare"),
        }
    }
}

impl<S: SharedAdmission, R: Runtime> AdmissionState<S, R> {
    /// Gives the permit `poll_ready` took back unused (nothing counted).
    fn abandon_decided(&mut self) {
        match self.decided.take() {
            Some(Ok(Decided::Guard(guard))) => guard.abandon(),
            Some(Ok(Decided::Bare(permit))) => {
                if let Some((shared, runtime)) = &self.own {
                    shared.abandon(runtime.now(), permit);
                }
            }
            _ => {}
        }
    }
}

impl<S: SharedAdmission, R: Runtime> Drop for AdmissionState<S, R> {
    fn drop(&mut self) {
        self.abandon_decided();
    }
}

impl<S: SharedAdmission, R: Runtime> fmt::Debug for AdmissionState<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionState")
            .field("waiting", &self.waiting)
            .field("decided", &self.decided)
            .finish_non_exhaustive()
    }
}

/// A service behind an admission machine; made by [`AdmissionLayer`].
///
/// `poll_ready` decides first, through the driver's [`Admit`] (waiting
/// there if the machine says so), and polls the inner service only if
/// admitted; `call` moves the permit into the [`ResponseFuture`], or
/// answers a rejection without calling the inner service. A permit never
/// used (the service dropped, an inner readiness error) goes back with
/// nothing counted; a service dropped while it waits gives its place up; a
/// `call` without `poll_ready` decides at once, without waiting. A clone
/// shares the machine, not this service's permit.
pub type AdmissionService<Svc, S, R, K = DefaultClassifier> =
    Layered<AdmissionLayer<S, R, K>, Svc, AdmissionState<S, R>>;

impl<Svc: Clone, S, R, K> Clone for AdmissionService<Svc, S, R, K>
where
    S: SharedAdmission<Key = ()> + Clone,
    R: Runtime + Clone,
    K: Clone,
{
    /// A clone shares the machine but not this service's permit.
    fn clone(&self) -> Self {
        self.layer.layer(self.inner.clone())
    }
}

impl<Svc, S, R, K, Req> Service<Req> for AdmissionService<Svc, S, R, K>
where
    Svc: Service<Req>,
    S: SharedAdmission<Key = ()> + Clone,
    R: Runtime + Clone,
    K: Classify<Svc::Response, Svc::Error> + Clone,
{
    type Response = Svc::Response;
    type Error = Error<Svc::Error>;
    type Future = ResponseFuture<Svc::Future, S, R, K>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let (p, state) = (&self.layer.policy, &mut self.state);
        if matches!(state.decided, Some(Err(_))) && !state.yielding {
            // A rejection already answered ready and not yet used by a
            // `call`: stale by now (an open breaker may have moved on), so
            // the machine is asked again.
            state.decided = None;
        }
        if state.decided.is_none() && !state.waiting {
            // The fast path: one decision, no `Admit` built, unless the
            // machine makes the call wait.
            match failsafe_driver::enter(p.shared(), p.runtime(), p.ask(), &(), Some(cx.waker())) {
                Entry::Admitted(permit) if !S::NEEDS_EXIT => {
                    state.decided = Some(Ok(Decided::Bare(permit)));
                }
                Entry::Admitted(permit) => {
                    state.decided = Some(Ok(Decided::Guard(Guard::new(
                        p.shared().clone(),
                        p.runtime().clone(),
                        permit,
                    ))));
                }
                Entry::Rejected(rejected) => {
                    // Kept first: a loop of rejected requests yields to the
                    // runtime, and the next poll answers without asking
                    // the machine again.
                    state.decided = Some(Err(rejected));
                    state.yielding = true;
                }
                Entry::Pending { wait, .. } => {
                    let fresh =
                        Admit::waiting(p.shared().clone(), p.runtime().clone(), p.ask(), (), wait);
                    match state.admit.as_mut() {
                        Some(admit) => admit.set(fresh),
                        None => state.admit = Some(Box::pin(fresh)),
                    }
                    state.waiting = true;
                }
            }
        }
        if state.yielding {
            ready!(p.runtime().poll_budget(cx));
            state.yielding = false;
        }
        if state.decided.is_none() {
            let Some(admit) = state.admit.as_mut() else {
                unreachable!("armed just above");
            };
            state.decided = Some(ready!(admit.as_mut().poll(cx)).map(Decided::Guard));
            state.waiting = false;
        }
        if !matches!(state.decided, Some(Ok(_))) {
            // Rejected: `call` answers without the inner service.
            return Poll::Ready(Ok(()));
        }
        let ready = ready!(self.inner.poll_ready(cx));
        if ready.is_err() {
            // A readiness error is no call: nothing is counted.
            state.abandon_decided();
        }
        Poll::Ready(ready.map_err(Error::Inner))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (l, p) = (&self.layer, &self.layer.policy);
        self.state.yielding = false;
        let decided = self.state.decided.take().unwrap_or_else(|| {
            failsafe_driver::try_acquire(p.shared().clone(), p.runtime().clone(), p.ask())
                .map(Decided::Guard)
        });
        let classify = l.classify.clone();
        match decided {
            Ok(Decided::Guard(guard)) => {
                ResponseFuture::new(Ok(self.inner.call(request)), None, Some(guard), classify)
            }
            // The machine's exit does nothing: the permit is spent.
            Ok(Decided::Bare(_)) => {
                ResponseFuture::new(Ok(self.inner.call(request)), None, None, classify)
            }
            Err(rejected) => ResponseFuture::new(Err(rejected), None, None, classify),
        }
    }
}

/// What a [`KeyedAdmissionLayer`] reads from each request to key its call:
/// any `Fn(&Req) -> Q` (`Q` the machine's key, owned or borrowed-from), or
/// [`NoKey`].
pub trait RequestKey<Req> {
    /// The key handed to the machine.
    type Key;
    /// The key of `request`.
    fn key(&self, request: &Req) -> Self::Key;
}

impl<Req, Q, F: Fn(&Req) -> Q> RequestKey<Req> for F {
    type Key = Q;

    #[inline]
    fn key(&self, request: &Req) -> Q {
        self(request)
    }
}

/// Requests are not keyed (a fail fast reading each request's deadline).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoKey;

impl<Req> RequestKey<Req> for NoKey {
    type Key = ();

    #[inline]
    fn key(&self, _: &Req) {}
}

/// An [`AdmissionLayer`] whose decision needs the request: a key (a keyed
/// rate limiter) or the request's own deadline (a fail fast). `poll_ready`
/// cannot see the request, so it is the inner service's and the layer
/// decides in `call`: a rejection answers at once, the inner service not
/// called; a wait happens in the [`ResponseFuture`], which polls the inner
/// future only once admitted (dropping it unpolled if rejected).
///
/// ```
/// use failsafe_core::rate::Quota;
/// use failsafe_driver::{Error, KeyedRateLimiterPolicy};
/// use failsafe_tower::AdmissionLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let per_tenant: KeyedRateLimiterPolicy<u32, 64, failsafe_tokio::TokioClock> =
///     KeyedRateLimiterPolicy::new(Quota::per_second(1).unwrap());
/// let svc = AdmissionLayer::from_policy(&per_tenant)
///     .keyed(|(tenant, _): &(u32, &str)| *tenant)
///     .layer(service_fn(|(_, body): (u32, &'static str)| async move { Ok::<_, ()>(body) }));
/// assert_eq!(svc.clone().oneshot((1, "a")).await, Ok("a"));
/// assert!(matches!(svc.clone().oneshot((1, "b")).await, Err(Error::Rejected(_))));
/// assert_eq!(svc.oneshot((2, "c")).await, Ok("c"));
/// # }
/// ```
#[derive(Clone)]
pub struct KeyedAdmissionLayer<S, R, F, D = NoDeadline, K = DefaultClassifier> {
    layer: AdmissionLayer<S, R, K>,
    key: F,
    deadline: D,
}

impl<S, R, F, D, K> KeyedAdmissionLayer<S, R, F, D, K> {
    /// Uses `classify` to decide what each result tells the machine.
    pub fn with_classifier<K2>(self, classify: K2) -> KeyedAdmissionLayer<S, R, F, D, K2> {
        let (key, deadline) = (self.key, self.deadline);
        KeyedAdmissionLayer {
            layer: self.layer.with_classifier(classify),
            key,
            deadline,
        }
    }

    /// Reads each request's deadline with `deadline` (a [`RequestDeadline`]).
    pub fn with_request_deadline<D2>(self, deadline: D2) -> KeyedAdmissionLayer<S, R, F, D2, K> {
        let (layer, key) = (self.layer, self.key);
        KeyedAdmissionLayer {
            layer,
            key,
            deadline,
        }
    }

    /// The machine, runtime and ask every call starts from.
    pub const fn admission(&self) -> &AdmissionLayer<S, R, K> {
        &self.layer
    }
}

impl<S, R: fmt::Debug, F, D, K> fmt::Debug for KeyedAdmissionLayer<S, R, F, D, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedAdmissionLayer")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<Svc, S: Clone, R: Clone, F: Clone, D: Clone, K: Clone> Layer<Svc>
    for KeyedAdmissionLayer<S, R, F, D, K>
{
    type Service = KeyedAdmissionService<Svc, S, R, F, D, K>;

    fn layer(&self, inner: Svc) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service made by a [`KeyedAdmissionLayer`].
pub type KeyedAdmissionService<Svc, S, R, F, D = NoDeadline, K = DefaultClassifier> =
    Layered<KeyedAdmissionLayer<S, R, F, D, K>, Svc>;

impl<Svc, S, R, F, D, K, Req> Service<Req> for Layered<KeyedAdmissionLayer<S, R, F, D, K>, Svc>
where
    Svc: Service<Req>,
    S: SharedAdmission + Clone,
    R: Runtime + Clone,
    F: RequestKey<Req>,
    F::Key: Borrow<S::Key>,
    D: RequestDeadline<Req>,
    K: Classify<Svc::Response, Svc::Error> + Clone,
{
    type Response = Svc::Response;
    type Error = Error<Svc::Error>;
    type Future = ResponseFuture<Svc::Future, S, R, K, F::Key>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let (l, p) = (&self.layer.layer, &self.layer.layer.policy);
        let ask = Ask {
            deadline: p.ask().deadline.min(self.layer.deadline.deadline(&request)),
            ..p.ask()
        };
        let key = self.layer.key.key(&request);
        let mut admit = Box::pin(Admit::keyed(
            p.shared().clone(),
            p.runtime().clone(),
            ask,
            key,
        ));
        // Decided now; the first poll registers a no-op waker, replaced by
        // the caller's when the future is polled.
        let classify = l.classify.clone();
        let (guard, admit) = match admit.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(guard)) => (Some(guard), None),
            Poll::Ready(Err(rejected)) => {
                return ResponseFuture::new(Err(rejected), None, None, classify);
            }
            Poll::Pending => (None, Some(admit)),
        };
        ResponseFuture::new(Ok(self.inner.call(request)), admit, guard, classify)
    }
}

pin_project_lite::pin_project! {
    /// The future of every admission layer's call: the inner future holding
    /// its permit, a rejection ready at once, or (a [`KeyedAdmissionLayer`]
    /// that waits) the wait, then the inner future. Completing hands the
    /// permit back with the classified outcome; dropping it first hands it
    /// back as `Cancelled`, or gives a wait's place up.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, S, R, K, Q = ()>
    where
        S: SharedAdmission,
        R: Runtime,
    {
        #[pin]
        inner: Option<F>,
        admit: Slot<S, R, Q>,
        guard: Option<Guard<S, R>>,
        rejected: Option<Rejected>,
        classify: K,
    }
}

impl<F, S: SharedAdmission, R: Runtime, K, Q> ResponseFuture<F, S, R, K, Q> {
    /// `inner` admitted with `guard` (or still waiting in `admit`), or the
    /// rejection (`inner` never called).
    fn new(
        inner: Result<F, Rejected>,
        admit: Slot<S, R, Q>,
        guard: Option<Guard<S, R>>,
        classify: K,
    ) -> Self {
        let (inner, rejected) = match inner {
            Ok(inner) => (Some(inner), None),
            Err(rejected) => (None, Some(rejected)),
        };
        ResponseFuture {
            inner,
            admit,
            guard,
            rejected,
            classify,
        }
    }

    /// The rejection, if the request was not admitted.
    pub const fn rejection(&self) -> Option<&Rejected> {
        self.rejected.as_ref()
    }
}

impl<F, S: SharedAdmission, R: Runtime, K, Q> fmt::Debug for ResponseFuture<F, S, R, K, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("waiting", &self.admit.is_some())
            .field("admitted", &self.guard.is_some())
            .field("rejected", &self.rejected)
            .finish_non_exhaustive()
    }
}

impl<F, S, R, K, Q, T, E> Future for ResponseFuture<F, S, R, K, Q>
where
    F: Future<Output = Result<T, E>>,
    S: SharedAdmission,
    R: Runtime,
    K: Classify<T, E>,
    Q: Borrow<S::Key>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(admit) = this.admit.as_mut() {
            match ready!(admit.as_mut().poll(cx)) {
                Ok(guard) => *this.guard = Some(guard),
                Err(rejected) => {
                    this.inner.set(None);
                    *this.rejected = Some(rejected);
                }
            }
            *this.admit = None;
        }
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            let Some(rejected) = this.rejected.take() else {
                // Polled again after its answer: it stays pending, as every
                // failsafe future does.
                return Poll::Pending;
            };
            return Poll::Ready(Err(Error::Rejected(rejected)));
        };
        let result = ready!(inner.poll(cx));
        this.inner.set(None);
        if let Some(guard) = this.guard.as_mut() {
            // In place: the guard is not moved out of the future first.
            guard.finish_in_place(this.classify.classify(&result));
            *this.guard = None;
        }
        Poll::Ready(result.map_err(Error::Inner))
    }
}
