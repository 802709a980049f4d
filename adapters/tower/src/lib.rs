//! # failsafe-tower
//!
//! [Failsafe](failsafe_core) as tower [`Layer`](tower_layer::Layer)s on
//! **any runtime**: the layers reach time only through the driver's
//! [`Runtime`](failsafe_driver::Runtime), so the same layer runs on tokio
//! (`failsafe_tokio::TokioClock`, paused time included), on smol or
//! async-std (`failsafe_async_std::AsyncIoClock`), or on any runtime that
//! binds the driver. This crate does not depend on tokio. It is a thin
//! shell over the driver, whose docs say what each pattern does:
//!
//! | layer | over | decides in |
//! |---|---|---|
//! | [`AdmissionLayer`] (aliases [`CircuitBreakerLayer`], [`FailFastLayer`], [`BulkheadLayer`], [`RateLimitLayer`]) | any admission machine, a driver [`Policy`](failsafe_driver::Policy) | `poll_ready` |
//! | [`KeyedAdmissionLayer`] ([`KeyedRateLimitLayer`]) | the same, keyed by the request or bounded by its deadline | `call` |
//! | [`PlanLayer`] ([`RetryLayer`], [`TimeoutLayer`], [`HedgeLayer`], [`PipelineLayer`]) | any per-call plan: [`RetryPolicy`](failsafe_driver::RetryPolicy), [`TimeoutPolicy`](failsafe_driver::TimeoutPolicy), a hedge, a [`Pipeline`](failsafe_driver::Pipeline) | the response future |
//! | [`FallbackLayer`] | a driver [`Fallback`](failsafe_driver::Fallback) and an alternative service | the response future |
//! | [`ChaosLayer`] | a driver [`ChaosPolicy`](failsafe_driver::chaos::ChaosPolicy) | `call` |
//! | [`CacheLayer`] | a driver [`SharedCache`](failsafe_driver::SharedCache) | `call` |
//!
//! **One rule for where a layer decides.** A machine that can make the
//! caller wait (a bulkhead's queue, a rate limiter's booking) decides in
//! `poll_ready`, before the inner service is polled: the caller waits
//! there, and a rejected request never holds an inner slot (`poll_ready`
//! is then ready and `call` answers [`Error::Rejected`](failsafe_driver::Error::Rejected)
//! at once). A decision that needs the request (a key, the request's own
//! deadline) or a whole call (a plan) is made in `call` and the response
//! future. One future serves every admission layer ([`ResponseFuture`]:
//! it hands the permit back with the classified outcome, or `Cancelled` if
//! dropped) and one every plan layer ([`PlanFuture`]).
//!
//! ```
//! use std::time::Duration;
//! use failsafe_core::bulkhead::BulkheadConfig;
//! use failsafe_core::rate::Quota;
//! use failsafe_driver::{BulkheadPolicy, Error, RateLimiterPolicy};
//! use failsafe_tokio::TokioClock;
//! use failsafe_tower::{BulkheadLayer, RateLimitLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let limiter: RateLimiterPolicy<TokioClock> =
//!     RateLimiterPolicy::new(Quota::per_second(100).unwrap().with_burst(2).unwrap());
//! let bulkhead: BulkheadPolicy<16, _, TokioClock> =
//!     BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
//! let svc = ServiceBuilder::new()
//!     .map_err(Error::flatten) // one level: Rejected or Inner(())
//!     // reject at once over the rate (the policy would wait up to 5 s)
//!     .layer(RateLimitLayer::from_policy(&limiter).with_max_wait(Duration::ZERO))
//!     .layer(BulkheadLayer::from_policy(&bulkhead))
//!     .service(service_fn(|n: u32| async move { Ok::<_, ()>(n * 2) }));
//!
//! assert_eq!(svc.clone().oneshot(1).await, Ok(2));
//! assert_eq!(svc.clone().oneshot(2).await, Ok(4));
//! let over = svc.oneshot(3).await.unwrap_err();
//! assert_eq!(over.rejected().unwrap().retry_at, Some(failsafe_core::Instant::from_millis(10)));
//! assert_eq!(bulkhead.metrics().acquired, 2, "the rejected request took no bulkhead slot");
//! # }
//! ```
//!
//! A request carries its deadline from layer to layer through a
//! [`RequestDeadline`]. The default order, from the outside in:
//! **Fallback -> Retry -> CircuitBreaker -> Timeout** (the fallback answers
//! whatever is left, each retry asks the breaker again, the timeout bounds
//! each attempt; build the policies on one clock). For benches, clone a
//! service once per connection, then `ready().await` + `call(..)`: an
//! admission service allocates its wait's storage once and reuses it.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod admission;
mod cache;
mod chaos;
mod fallback;
mod pipeline;
mod plan;

pub use admission::{
    AdmissionLayer, AdmissionService, AdmissionState, KeyedAdmissionLayer, KeyedAdmissionService,
    NoKey, RequestKey, ResponseFuture,
};
pub use cache::{CacheFuture, CacheLayer, CacheService};
pub use chaos::{ChaosLayer, ChaosService};
pub use fallback::{FallbackFuture, FallbackLayer, FallbackRequest, FallbackService};
pub use pipeline::{
    CloneRequests, KeepErrors, Piped, PipelineFuture, PipelineLayer, PipelineService, Replay,
    Respond, RespondWith, SendOnce,
};
pub use plan::{
    HedgeFuture, HedgeLayer, HedgeService, Hedged, Hedging, OneAttempt, PlanCall, PlanFuture,
    PlanLayer, Resend, RetryFuture, RetryLayer, RetryService, Sent, SharedLatencies, TimeoutFuture,
    TimeoutLayer, TimeoutService,
};

use std::sync::Arc;

use failsafe_core::breaker::{BreakerEvent, CircuitBreaker, CountWindow};
use failsafe_core::bulkhead::{Bulkhead, BulkheadEvent, FixedLimit};
use failsafe_core::failfast::{FailFast, FailFastEvent};
use failsafe_core::rate::{AtomicGcra, KeyedGcra, RateEvent, Throttle};
use failsafe_core::timeout::Deadline;
use failsafe_driver::{Hook, SharedHook, StdShared};

/// A service made by one of this crate's layers: the inner service, a copy
/// of the layer that made it and the service's own state, if any.
#[derive(Clone, Debug)]
pub struct Layered<L, S, T = ()> {
    layer: L,
    inner: S,
    state: T,
}

impl<L, S> Layered<L, S> {
    pub(crate) const fn new(layer: L, inner: S) -> Self {
        let state = ();
        Layered {
            layer,
            inner,
            state,
        }
    }
}

impl<L, S, T> Layered<L, S, T> {
    /// The layer that made this service.
    pub const fn layer(&self) -> &L {
        &self.layer
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
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

/// Reads (and, to hand it down, writes) the [`Deadline`] a request
/// carries, so the layers respect the caller's remaining time. A strategy
/// rather than a trait on the request, so it serves types you do not own
/// (an `http::Request`'s extensions); any `Fn(&Req) -> Deadline` reads
/// without writing. Build the policies of layers that pass deadlines on
/// one clock.
///
/// ```
/// use failsafe_core::timeout::Deadline;
/// use failsafe_tower::RequestDeadline;
///
/// #[derive(Clone)]
/// struct Query { sql: &'static str, deadline: Deadline }
///
/// /// The deadline travels in the request itself.
/// #[derive(Clone, Copy)]
/// struct InQuery;
/// impl RequestDeadline<Query> for InQuery {
///     fn deadline(&self, q: &Query) -> Deadline { q.deadline }
///     fn set_deadline(&self, q: &mut Query, deadline: Deadline) { q.deadline = deadline }
/// }
/// # let _ = Query { sql: "", deadline: Deadline::NEVER }.sql;
/// ```
pub trait RequestDeadline<Req> {
    /// The deadline `request` carries ([`Deadline::NEVER`] for none).
    fn deadline(&self, request: &Req) -> Deadline;

    /// Stores `deadline` in `request` for the layers inside (by default,
    /// nothing).
    fn set_deadline(&self, request: &mut Req, deadline: Deadline) {
        let _ = (request, deadline);
    }
}

/// Requests carry no deadline: the layer's own configuration decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoDeadline;

impl<Req> RequestDeadline<Req> for NoDeadline {
    #[inline]
    fn deadline(&self, _request: &Req) -> Deadline {
        Deadline::NEVER
    }
}

impl<Req, F: Fn(&Req) -> Deadline> RequestDeadline<Req> for F {
    #[inline]
    fn deadline(&self, request: &Req) -> Deadline {
        self(request)
    }
}

/// [`AdmissionLayer`] over a [`CircuitBreakerPolicy`](failsafe_driver::CircuitBreakerPolicy)'s machine.
pub type CircuitBreakerLayer<R, W = CountWindow<100>> =
    AdmissionLayer<StdShared<CircuitBreaker<W, Hook<BreakerEvent>>>, R>;

/// [`AdmissionLayer`] over a fail fast policy's machine (its
/// [`with_request_deadline`](AdmissionLayer::with_request_deadline) refuses
/// a request whose own deadline cannot cover the call).
pub type FailFastLayer<R> = AdmissionLayer<StdShared<FailFast<Hook<FailFastEvent>>>, R>;

/// [`AdmissionLayer`] over a bulkhead policy's machine (`Q` its queue).
pub type BulkheadLayer<R, const Q: usize = 64, A = FixedLimit> =
    AdmissionLayer<StdShared<Bulkhead<Q, Hook<BulkheadEvent>, A>>, R>;

/// The lock-free rate limiter's layer: [`AdmissionLayer`] over a
/// [`RateLimiterPolicy`](failsafe_driver::RateLimiterPolicy)'s machine: a
/// caller waits for its permit in `poll_ready`, up to the ask's max wait.
pub type RateLimitLayer<R> = AdmissionLayer<Arc<Throttle<AtomicGcra, SharedHook<RateEvent>>>, R>;

/// [`KeyedAdmissionLayer`] over a [`KeyedRateLimiterPolicy`](failsafe_driver::KeyedRateLimiterPolicy)'s
/// machine, keyed by `F` (`AdmissionLayer::from_policy(&policy).keyed(|req| key)`).
pub type KeyedRateLimitLayer<R, K, const N: usize, F> =
    KeyedAdmissionLayer<StdShared<Throttle<KeyedGcra<K, N>, Hook<RateEvent>>>, R, F>;
