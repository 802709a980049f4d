//! Tower [`Layer`]s and [`Service`]s that admit requests through a rate
//! limiter: [`RateLimitLayer`] (one limit for all requests) and
//! [`KeyedRateLimitLayer`] (one limit per key taken from the request).

use core::fmt;
use core::future::Future;
use core::hash::Hash;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use std::sync::Arc;

use failsafe_core::rate::AtomicGcra;
use failsafe_core::{Instant, Rejected};
use failsafe_driver::{AcquireStep, Acquisition, BookingGuard, Error, SharedLimiter};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Clock, KeyedRateLimiter, RateLimiter};

/// Wraps services in a [`RateLimitService`] sharing one limiter.
///
/// By default a request over the limit is **rejected, never delayed**: its
/// future resolves at once to [`Error::Rejected`], whose `retry_at` is when
/// the limiter would admit it (a `Retry-After` for the client), and the
/// inner service is not called. Nothing waits inside `call`.
///
/// With [`wait_up_to(max_wait)`](Self::wait_up_to) the service instead
/// waits for a permit in `poll_ready`, up to `max_wait`, on a tokio timer
/// registered with the task's context (so the task is woken when the
/// permit is due); a permit that cannot be had within `max_wait` is not
/// waited for: the next `call` returns the rejection at once.
///
/// Every service the layer makes draws on the same limiter (the handle is
/// cloned, not the limiter); each request costs one permit.
///
/// ```
/// use failsafe_tokio::{Error, Quota, RateLimitLayer, RateLimiter};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let limiter = RateLimiter::new(Quota::per_second(100).unwrap().with_burst(2).unwrap());
/// let svc = RateLimitLayer::new(limiter).layer(service_fn(|n: u32| async move { Ok::<_, ()>(n * 2) }));
///
/// assert_eq!(svc.clone().oneshot(1).await, Ok(2));
/// assert_eq!(svc.clone().oneshot(2).await, Ok(4));
/// match svc.oneshot(3).await {
///     Err(Error::Rejected(rejected)) => {
///         // the burst is spent; the next permit is due 10 ms from now
///         assert_eq!(rejected.retry_at, Some(failsafe_tokio::Instant::from_millis(10)));
///     }
///     other => panic!("{other:?}"),
/// }
/// # }
/// ```
pub struct RateLimitLayer<L = AtomicGcra> {
    limiter: RateLimiter<L>,
    max_wait: Duration,
}

impl<L> RateLimitLayer<L> {
    /// A layer drawing on `limiter` that rejects requests over the limit
    /// without waiting. (The handle's own
    /// [`max_wait`](failsafe_driver::RateLimiter::max_wait) is not used:
    /// the layer's is [`wait_up_to`](Self::wait_up_to)'s.)
    pub fn new(limiter: RateLimiter<L>) -> Self {
        RateLimitLayer {
            limiter,
            max_wait: Duration::ZERO,
        }
    }

    /// Waits up to `max_wait` for a permit in `poll_ready` before
    /// rejecting (`Duration::ZERO`: never wait).
    ///
    /// A GCRA books the permit when the wait starts: a service that is
    /// dropped while waiting, or before its `call` comes, gives the booking
    /// back if no later booking was made since (otherwise it stays spent:
    /// see [`SharedLimiter::cancel`]). A service's clones wait on their own.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Clock, Quota, RateLimitLayer, RateLimiter};
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let limiter = RateLimiter::new(Quota::per_second(10).unwrap());
    /// let clock = *limiter.clock();
    /// let svc = RateLimitLayer::new(limiter)
    ///     .wait_up_to(Duration::from_secs(1))
    ///     .layer(service_fn(move |()| async move { Ok::<_, ()>(clock.now()) }));
    /// // one every 100 ms: the third request is sent at 200 ms
    /// for expected in [0, 100, 200] {
    ///     let sent_at = svc.clone().oneshot(()).await.unwrap();
    ///     assert_eq!(sent_at, failsafe_tokio::Instant::from_millis(expected));
    /// }
    /// # }
    /// ```
    pub fn wait_up_to(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The limiter the services draw on.
    pub fn limiter(&self) -> &RateLimiter<L> {
        &self.limiter
    }

    /// How long `poll_ready` waits for a permit (zero: never).
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

impl<L> Clone for RateLimitLayer<L> {
    fn clone(&self) -> Self {
        RateLimitLayer {
            limiter: self.limiter.clone(),
            max_wait: self.max_wait,
        }
    }
}

impl<L: fmt::Debug> fmt::Debug for RateLimitLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl<S, L> Layer<S> for RateLimitLayer<L> {
    type Service = RateLimitService<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService::new(inner, self.limiter.clone()).wait_up_to(self.max_wait)
    }
}

/// Where a [`RateLimitService`] stands with the permit for its next call.
#[derive(Debug)]
enum Permit<L> {
    /// Nothing asked yet: `call` asks without waiting.
    Idle,
    /// Asleep until `until`: the booked start (with its `booking`) or the
    /// instant to ask again.
    Waiting {
        acquisition: Acquisition,
        until: Instant,
        booking: Option<Booking<L>>,
    },
    /// A permit is held for the next call (booked ahead, or taken at once).
    Granted(Option<Booking<L>>),
    /// No permit within the wait: the next call returns this.
    Rejected(Rejected),
}

/// Permits taken (now or booked ahead) for this service's next call: given
/// back if the service is dropped before the call.
type Booking<L> = BookingGuard<Arc<L>>;

/// A service admitting requests through a rate limiter; made by
/// [`RateLimitLayer`].
///
/// Without a wait (the default), [`poll_ready`](Service::poll_ready) is the
/// inner service's, and [`call`](Service::call) takes one permit or
/// resolves at once to [`Error::Rejected`] (with `retry_at`) without
/// calling the inner service.
///
/// With a wait, `poll_ready` first obtains the permit for the next call:
/// it books it and sleeps until its start on a tokio timer registered with
/// the context, then polls the inner service. If no permit can be had
/// within the wait, `poll_ready` returns ready at once and the next `call`
/// returns the rejection. `call` without a permit in hand (the
/// `poll_ready` contract broken) tries the limiter without waiting; while a
/// wait is in progress it panics, as tower services do.
pub struct RateLimitService<S, L = AtomicGcra> {
    inner: S,
    limiter: RateLimiter<L>,
    max_wait: Duration,
    permit: Permit<L>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, L> RateLimitService<S, L> {
    /// Puts `inner` behind `limiter`, rejecting without waiting.
    pub fn new(inner: S, limiter: RateLimiter<L>) -> Self {
        RateLimitService {
            inner,
            limiter,
            max_wait: Duration::ZERO,
            permit: Permit::Idle,
            sleep: None,
        }
    }

    /// Waits up to `max_wait` for a permit in `poll_ready` (see
    /// [`RateLimitLayer::wait_up_to`]).
    pub fn wait_up_to(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The limiter this service draws on.
    pub fn limiter(&self) -> &RateLimiter<L> {
        &self.limiter
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

impl<S, L: SharedLimiter> RateLimitService<S, L> {
    /// Obtains the permit for the next call (or its rejection), sleeping on
    /// a registered timer while the limiter asks to wait.
    fn poll_permit(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            match self.permit {
                Permit::Granted(_) => return Poll::Ready(()),
                // A rejection is not kept across polls: ask afresh (a
                // rejection booked nothing).
                Permit::Idle | Permit::Rejected(_) => {
                    let now = self.limiter.clock().now();
                    let acquisition = Acquisition::new(now, 1, self.max_wait);
                    let step = acquisition.step(&**self.limiter.limiter(), now);
                    if let Permit::Rejected(_) = self.settle(acquisition, step) {
                        return Poll::Ready(());
                    }
                }
                Permit::Waiting { .. } => {
                    let Some(sleep) = self.sleep.as_mut() else {
                        unreachable!("a wait always has its timer armed");
                    };
                    // Pending here means the timer holds the task's waker.
                    ready!(sleep.as_mut().poll(cx));
                    let Permit::Waiting {
                        acquisition,
                        until,
                        booking,
                    } = core::mem::replace(&mut self.permit, Permit::Idle)
                    else {
                        unreachable!("matched above");
                    };
                    if booking.is_some() {
                        self.permit = Permit::Granted(booking);
                    } else {
                        let now = self.limiter.clock().now().max(until);
                        let step = acquisition.step(&**self.limiter.limiter(), now);
                        self.settle(acquisition, step);
                    }
                }
            }
        }
    }

    /// Records what a step decided, arming the timer for a wait.
    fn settle(&mut self, acquisition: Acquisition, step: AcquireStep) -> &Permit<L> {
        self.permit = match step {
            // Held for the call: given back if the service is dropped first.
            AcquireStep::Granted(reservation) => Permit::Granted(Some(BookingGuard::new(
                Arc::clone(self.limiter.limiter()),
                reservation,
            ))),
            AcquireStep::Booked(reservation) => {
                let start = reservation.start();
                let booking = BookingGuard::new(Arc::clone(self.limiter.limiter()), reservation);
                self.wait(acquisition, start, Some(booking))
            }
            AcquireStep::RetryAt(at) => self.wait(acquisition, at, None),
            AcquireStep::Rejected(rejected) => Permit::Rejected(rejected),
        };
        &self.permit
    }

    fn wait(
        &mut self,
        acquisition: Acquisition,
        until: Instant,
        booking: Option<Booking<L>>,
    ) -> Permit<L> {
        let deadline = self.limiter.clock().to_tokio(until);
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        Permit::Waiting {
            acquisition,
            until,
            booking,
        }
    }
}

impl<S: Clone, L> Clone for RateLimitService<S, L> {
    /// A clone shares the limiter but not this service's permit: it waits
    /// for its own.
    fn clone(&self) -> Self {
        RateLimitService {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            max_wait: self.max_wait,
            permit: Permit::Idle,
            sleep: None,
        }
    }
}

impl<S: fmt::Debug, L: fmt::Debug> fmt::Debug for RateLimitService<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .field("max_wait", &self.max_wait)
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}

impl<S, L, Req> Service<Req> for RateLimitService<S, L>
where
    S: Service<Req>,
    L: SharedLimiter,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.max_wait.is_zero() {
            ready!(self.poll_permit(cx));
            if let Permit::Rejected(_) = self.permit {
                // the next call is answered without the inner service
                return Poll::Ready(Ok(()));
            }
        }
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let admitted = match core::mem::replace(&mut self.permit, Permit::Idle) {
            Permit::Granted(booking) => {
                if let Some(booking) = booking {
                    booking.keep();
                }
                Ok(())
            }
            Permit::Rejected(rejected) => Err(rejected),
            Permit::Idle => self.limiter.try_acquire(1).map(drop),
            Permit::Waiting { .. } => {
                panic!("RateLimitService::call while waiting for a permit: poll_ready first")
            }
        };
        match admitted {
            Ok(()) => RateLimitFuture::admitted(self.inner.call(request)),
            Err(rejected) => RateLimitFuture::rejected(rejected),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of a rate-limited call: the inner future, or a rejection
    /// ready at once (the inner service was not called).
    pub struct RateLimitFuture<F> {
        #[pin]
        state: FutureState<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = FutureStateProj]
    enum FutureState<F> {
        Admitted {
            #[pin]
            future: F,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F> RateLimitFuture<F> {
    fn admitted(future: F) -> Self {
        RateLimitFuture {
            state: FutureState::Admitted { future },
        }
    }

    fn rejected(rejected: Rejected) -> Self {
        RateLimitFuture {
            state: FutureState::Rejected { rejected },
        }
    }

    /// The rejection, if the request was not admitted.
    pub fn rejection(&self) -> Option<&Rejected> {
        match &self.state {
            FutureState::Rejected { rejected } => Some(rejected),
            FutureState::Admitted { .. } => None,
        }
    }
}

impl<F> fmt::Debug for RateLimitFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitFuture")
            .field("rejected", &self.rejection())
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Future for RateLimitFuture<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FutureStateProj::Admitted { future } => future.poll(cx).map_err(Error::Inner),
            FutureStateProj::Rejected { rejected } => Poll::Ready(Err(Error::Rejected(*rejected))),
        }
    }
}

/// Wraps services in a [`KeyedRateLimitService`]: each request costs one
/// permit of its own key, which `key` takes from the request (a client
/// address, an API key, a tenant, a route).
///
/// A request over its key's limit is rejected at once with
/// [`Error::Rejected`] and `retry_at`, never delayed; other keys are not
/// affected.
///
/// ```
/// use failsafe_tokio::{Error, KeyedRateLimitLayer, KeyedRateLimiter, Quota};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// struct Request { tenant: u32, body: &'static str }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let per_tenant: KeyedRateLimiter<u32> = KeyedRateLimiter::new(Quota::per_second(1).unwrap());
/// let svc = KeyedRateLimitLayer::new(per_tenant, |r: &Request| r.tenant)
///     .layer(service_fn(|r: Request| async move { Ok::<_, ()>(r.body) }));
///
/// assert_eq!(svc.clone().oneshot(Request { tenant: 1, body: "a" }).await, Ok("a"));
/// let limited = svc.clone().oneshot(Request { tenant: 1, body: "b" }).await;
/// assert!(matches!(limited, Err(Error::Rejected(_))));
/// assert_eq!(svc.oneshot(Request { tenant: 2, body: "c" }).await, Ok("c"));
/// # }
/// ```
pub struct KeyedRateLimitLayer<K, const N: usize, F> {
    limiter: KeyedRateLimiter<K, N>,
    key: F,
}

impl<K, const N: usize, F> KeyedRateLimitLayer<K, N, F> {
    /// A layer limiting each key `key(&request)` by `limiter`.
    pub fn new(limiter: KeyedRateLimiter<K, N>, key: F) -> Self {
        KeyedRateLimitLayer { limiter, key }
    }

    /// The limiter the services draw on.
    pub fn limiter(&self) -> &KeyedRateLimiter<K, N> {
        &self.limiter
    }
}

impl<K, const N: usize, F: Clone> Clone for KeyedRateLimitLayer<K, N, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitLayer {
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

impl<K, const N: usize, F> fmt::Debug for KeyedRateLimitLayer<K, N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitLayer")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, K, const N: usize, F: Clone> Layer<S> for KeyedRateLimitLayer<K, N, F> {
    type Service = KeyedRateLimitService<S, K, N, F>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedRateLimitService {
            inner,
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

/// A service limiting each key of its requests; made by
/// [`KeyedRateLimitLayer`]. [`poll_ready`](Service::poll_ready) is the
/// inner service's; [`call`](Service::call) takes one permit of the
/// request's key or resolves at once to [`Error::Rejected`] without
/// calling the inner service.
pub struct KeyedRateLimitService<S, K, const N: usize, F> {
    inner: S,
    limiter: KeyedRateLimiter<K, N>,
    key: F,
}

impl<S, K, const N: usize, F> KeyedRateLimitService<S, K, N, F> {
    /// The limiter this service draws on.
    pub fn limiter(&self) -> &KeyedRateLimiter<K, N> {
        &self.limiter
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

impl<S: Clone, K, const N: usize, F: Clone> Clone for KeyedRateLimitService<S, K, N, F> {
    fn clone(&self) -> Self {
        KeyedRateLimitService {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
            key: self.key.clone(),
        }
    }
}

impl<S: fmt::Debug, K, const N: usize, F> fmt::Debug for KeyedRateLimitService<S, K, N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedRateLimitService")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<S, K, const N: usize, F, Req> Service<Req> for KeyedRateLimitService<S, K, N, F>
where
    S: Service<Req>,
    K: Eq + Hash + Clone,
    F: Fn(&Req) -> K,
{
    type Response = S::Response;
    type Error = Error<S::Error>;
    type Future = RateLimitFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Error::Inner)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let key = (self.key)(&request);
        match self.limiter.try_acquire(&key, 1) {
            Ok(_) => RateLimitFuture::admitted(self.inner.call(request)),
            Err(rejected) => RateLimitFuture::rejected(rejected),
        }
    }
}
