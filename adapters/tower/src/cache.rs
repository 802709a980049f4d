//! A tower [`Layer`] that answers requests from a cache: the driver's
//! [`SharedCache`] (the core's allocation-free `Cache`, or on std the
//! driver's `QuickStore`) in front of a service, with its miss coalescing,
//! stale-on-error, refresh-ahead and negative caching.
//!
//! See [`CacheLayer`] for what a caller gets and why.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use std::boxed::Box;
use std::sync::Arc;

use failsafe_core::sync::Lock;
use failsafe_driver::{Begin, CacheError, CacheStore, Cached, Runtime, SharedCache};
use tower::ServiceExt;
use tower::util::Oneshot;
use tower_layer::Layer;
use tower_service::Service;

use crate::Layered;

/// Wraps services in a [`CacheService`]: requests the key function gives a
/// key are answered from a [`SharedCache`] (the inner service's response,
/// cloned) or loaded once through the inner service for all the requests
/// that miss the key together, when the load succeeds. When it fails, the
/// waiting requests get a stale value if one is within `max_stale`, or
/// the recorded failure if the config has a `negative_ttl`; with neither,
/// each waiting request loads the key again in turn (one load at a time,
/// so `n` waiters on a failing key wait up to `n` loads): give a cache in
/// front of a dependency that fails a `negative_ttl`.
///
/// **What a caller gets.** The response is the driver's [`Cached`]: the
/// inner service's response, cloned out of the cache, and where it came
/// from: [`Cached::Fresh`] (a hit; the inner service was not called),
/// [`Cached::Loaded`] (the inner service was called, by this request or by
/// the one it waited for) or [`Cached::Stale`] (the load failed and an
/// expired response, `age` past its expiry, was served instead). A wrapper
/// rather than a marker hidden in the response, because a stale answer is
/// a degraded answer, and a demanding caller must not be able to miss it:
/// an extension exists only on `http` types, a header only on HTTP, and
/// both are silently ignored by code that does not look; a wrapper works
/// for every response type, keeps the age, and the compiler makes every
/// caller decide. A caller that wants the bare response (axum's router, a
/// client) says how to mark staleness in one `map_response` (an `Age` or
/// `Warning: 110` header, a metric) and unwraps with
/// [`Cached::into_value`].
///
/// **The error** is the driver's [`CacheError<E>`](CacheError), `E` the
/// inner service's error, as every layer of this crate keeps the inner
/// error typed inside its own (the pipeline's `PipelineError<E>`, the
/// admission layers' `Error<E>`): [`CacheError::Load`] with the inner
/// service's error when no stale response may be served, and
/// [`CacheError::Negative`] (with the instant it ends, for a `Retry-After`)
/// while a recent failure of the key is cached: the inner service is not
/// called.
///
/// **Which requests.** A key function `Fn(&Request) -> Option<Key>` picks
/// them: `None` is not cacheable (a `POST`, a request with credentials): it
/// goes to the inner service as it is, nothing is read or stored, its
/// response comes back as [`Cached::Loaded`] (not stored, for these) and
/// its error as [`CacheError::Load`]: count hits and misses from the
/// cache's metrics, not from these labels.
///
/// **Spawning.** A load or a wait is a boxed `Send` future. With an inner
/// error type that borrows (`&'static str`), rustc cannot prove that future
/// `Send` for every lifetime ("implementation of `Send` is not general
/// enough") and `tokio::spawn` refuses it; use an owned error type
/// (`String`, an enum).
///
/// **Readiness.** A [`CacheService`] is always ready, and each request that
/// reaches the inner service drives **its own clone** of it to readiness
/// and calls it (tower's `oneshot`, as tower's docs advise for a service
/// used from a future, and as this crate's pipeline and hedge layers do).
/// Not the readiness reserved in `poll_ready`, for two reasons: a hit must
/// answer even when the inner service is saturated (a full bulkhead, an
/// exhausted rate limit, a full `Buffer` must not hold up an answer the
/// cache already has), and the request that loads is not known in `call`
/// (a follower may lead a load later, when the leader's future is
/// dropped), so readiness reserved in `poll_ready` would be held (a
/// `ConcurrencyLimit` permit) by every hit and follower for nothing. So the
/// inner service's back-pressure shows in the response future of a load,
/// not in `poll_ready`; the inner service must be `Clone` (put a `Buffer`
/// in front of one that is not).
///
/// **Costs.** A hit is answered in `call` ([`SharedCache::begin`]: one
/// clock read, one lock, a clone of the response): its future is ready,
/// nothing is allocated or reference-counted, and the inner service is not
/// cloned. A request that loads or waits for a load boxes the rest of it
/// ([`Pending::run`](failsafe_driver::Pending::run), an `async fn`) and
/// reads the clock again when the answer is stored; an uncacheable request
/// is not boxed.
///
/// **Followers** of a load are woken by its leader when it ends (stored,
/// failed, or dropped) if the store keeps followers: the core's `Cache` in
/// a [`WithWaiters`](failsafe_driver::cache::WithWaiters) (a fixed
/// registry, no allocation) or `QuickStore`; a follower registers its
/// task's waker at its future's first poll (`call` has none) and answers
/// at the instant its leader ends. Over the bare core `Cache` (or a full
/// registry) followers re-check the store on the cache's timer instead
/// (every 10 ms by default, [`SharedCache::timing`]) and see the result up
/// to that late.
///
/// ```
/// use std::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig};
/// use failsafe_driver::cache::WithWaiters;
/// use failsafe_driver::{Cached, SharedCache, StdLock};
/// use failsafe_tokio::TokioClock;
/// use failsafe_tower::CacheLayer;
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = CacheConfig::builder()
///     .time_to_live(Duration::from_secs(30))
///     .max_stale(Duration::from_secs(300))
///     .build()
///     .unwrap();
/// // Up to 32 followers of a load are woken by its leader (more re-check).
/// let store: WithWaiters<Cache<u32, String, 256>, 32> = WithWaiters::new(Cache::new(config, 0x5eed));
/// let cache = SharedCache::new(StdLock::new(store), TokioClock);
/// // Even ids are cacheable; odd ones pass through.
/// let layer = CacheLayer::new(cache, |id: &u32| id.is_multiple_of(2).then_some(*id));
/// let svc = layer.layer(service_fn(|id: u32| async move { Ok::<_, ()>(format!("user {id}")) }));
///
/// assert_eq!(svc.clone().oneshot(2).await, Ok(Cached::Loaded("user 2".to_string())));
/// assert_eq!(svc.clone().oneshot(2).await, Ok(Cached::Fresh("user 2".to_string())));
///
/// // Unwrapped for a caller that wants the bare response, staleness marked.
/// let plain = svc.map_response(|answer: Cached<String>| match answer {
///     Cached::Stale { value, age } => format!("{value} (stale by {}s)", age.as_secs()),
///     answer => answer.into_value(),
/// });
/// assert_eq!(plain.oneshot(2).await, Ok("user 2".to_string()));
/// # }
/// ```
pub struct CacheLayer<St, L, R, F> {
    cache: Arc<SharedCache<St, L, R>>,
    key: Arc<F>,
}

impl<St, L, R, F> CacheLayer<St, L, R, F> {
    /// Caches in `cache` (a [`SharedCache`], or an `Arc` of one you keep
    /// for metrics and invalidation) the responses to the requests `key`
    /// gives a key; `key` answering `None` lets a request pass through.
    pub fn new(cache: impl Into<Arc<SharedCache<St, L, R>>>, key: F) -> Self {
        CacheLayer {
            cache: cache.into(),
            key: Arc::new(key),
        }
    }

    /// The cache (for operator actions: remove, invalidate, metrics,
    /// through [`SharedCache::with`]).
    pub fn cache(&self) -> &Arc<SharedCache<St, L, R>> {
        &self.cache
    }
}

impl<St, L, R, F> Clone for CacheLayer<St, L, R, F> {
    fn clone(&self) -> Self {
        CacheLayer {
            cache: Arc::clone(&self.cache),
            key: Arc::clone(&self.key),
        }
    }
}

impl<St, L, R: fmt::Debug, F> fmt::Debug for CacheLayer<St, L, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl<S, St, L, R, F> Layer<S> for CacheLayer<St, L, R, F> {
    type Service = CacheService<S, St, L, R, F>;

    fn layer(&self, inner: S) -> Self::Service {
        Layered::new(self.clone(), inner)
    }
}

/// A service behind a [`CacheLayer`]. Always ready: each request that
/// reaches the inner service readies its own clone of it.
pub type CacheService<S, St, L, R, F> = Layered<CacheLayer<St, L, R, F>, S>;

type Answer<T, E> = Result<Cached<T>, CacheError<E>>;
type Load<T, E> = Pin<Box<dyn Future<Output = Answer<T, E>> + Send>>;

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<S, Req>
    where
        S: Service<Req>,
    {
        // The cache answered in `call` (a hit, a recorded failure);
        // `None` once taken.
        Ready { answer: Option<Answer<S::Response, S::Error>> },
        // Not cacheable: the inner service's call, as it is.
        Pass { #[pin] call: Oneshot<S, Req> },
        // The rest of the cache's `get_or_load`, the inner service as its
        // loader.
        Cached { load: Load<S::Response, S::Error> },
    }
}

pin_project_lite::pin_project! {
    /// The future of a [`CacheService`] call: a hit's answer (ready), the
    /// rest of a load (boxed, see [`CacheLayer`]), or an uncacheable
    /// request's call to the inner service.
    #[must_use = "futures do nothing unless polled"]
    pub struct CacheFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        kind: Kind<S, Req>,
    }
}

impl<S: Service<Req>, Req> fmt::Debug for CacheFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Ready { .. } => "ready",
            Kind::Pass { .. } => "pass",
            Kind::Cached { .. } => "cached",
        };
        f.debug_struct("CacheFuture").field("kind", &kind).finish()
    }
}

impl<S, Req, St, L, R, F> Service<Req> for Layered<CacheLayer<St, L, R, F>, S>
where
    S: Service<Req, Response = St::Value> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    Req: Send + 'static,
    St: CacheStore + 'static,
    St::Key: Clone + Send + Sync + 'static,
    St::Value: Clone + Send + 'static,
    L: Lock<St> + Send + Sync + 'static,
    R: Runtime + Send + Sync + 'static,
    R::Sleep: Send,
    F: Fn(&Req) -> Option<St::Key>,
{
    type Response = Cached<S::Response>;
    type Error = CacheError<S::Error>;
    type Future = CacheFuture<S, Req>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let Some(key) = (self.layer.key)(&request) else {
            let call = self.inner.clone().oneshot(request);
            return CacheFuture {
                kind: Kind::Pass { call },
            };
        };
        let kind = match SharedCache::begin(&self.layer.cache, key) {
            Begin::Done(cached) => Kind::Ready {
                answer: Some(Ok(cached)),
            },
            Begin::Negative { until } => Kind::Ready {
                answer: Some(Err(CacheError::Negative { until })),
            },
            Begin::Pending(pending) => {
                let service = self.inner.clone();
                let load = pending.run(move || service.oneshot(request));
                Kind::Cached {
                    load: Box::pin(load),
                }
            }
        };
        CacheFuture { kind }
    }
}

impl<S, Req> Future for CacheFuture<S, Req>
where
    S: Service<Req>,
{
    type Output = Answer<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut kind = self.project().kind;
        let answer = match kind.as_mut().project() {
            // Polled again after its answer: tower's futures may panic
            // here; this one stays pending, as a fused future would.
            KindProj::Ready { answer } => return answer.take().map_or(Poll::Pending, Poll::Ready),
            KindProj::Pass { call } => match ready!(call.poll(cx)) {
                Ok(response) => Ok(Cached::Loaded(response)),
                Err(error) => Err(CacheError::Load(error)),
            },
            KindProj::Cached { load } => ready!(load.as_mut().poll(cx)),
        };
        // The call or load is over (and may not be polled again).
        kind.set(Kind::Ready { answer: None });
        Poll::Ready(answer)
    }
}
