//! # failsafe-tower
//!
//! [Failsafe](failsafe_core) as tower [`Layer`](tower_layer::Layer)s on
//! **any runtime**: the layers reach time only through the driver's
//! [`Runtime`](failsafe_driver::Runtime) (its clock, `sleep_until`,
//! `reset_sleep`), so the same layer runs on tokio (`failsafe_tokio::TokioClock`,
//! paused time included), on smol or async-std (`failsafe_async_std::AsyncIoClock`),
//! or on any runtime that binds the driver. This crate does not depend on
//! tokio.
//!
//! | layer | what it does | decides in |
//! |---|---|---|
//! | [`AdmissionLayer`] | any admission machine: circuit breaker, fail fast, bulkhead, rate limiter | `poll_ready` |
//! | [`KeyedAdmissionLayer`] | the same, keyed by the request (a keyed rate limiter) or bounded by the request's deadline | `call` |
//! | [`RetryLayer`] | resends a failed request under a retry policy and budget | the response future |
//! | [`TimeoutLayer`] | bounds a request by a deadline, handed down in the request | the response future |
//! | [`FallbackLayer`] | answers a failed request with an alternative service | the response future |
//! | [`ChaosLayer`] | injects errors, chosen outcomes, hangs and latency (a driver [`ChaosPolicy`](failsafe_driver::chaos::ChaosPolicy)) | `call` |
//!
//! ## One layer for every admission machine
//!
//! A circuit breaker, a fail fast, a bulkhead and a rate limiter differ
//! only in their core machine; each is a [`SharedAdmission`](failsafe_core::sync::SharedAdmission)
//! (what a driver [`Policy`](failsafe_driver::Policy) holds: an
//! `Arc<Shared<..>>`, or `Arc<Throttle<AtomicGcra>>`). So there is one
//! layer, [`AdmissionLayer<S, R>`](AdmissionLayer), one service and one
//! response future ([`ResponseFuture`]) for all of them; the pattern names
//! are aliases ([`CircuitBreakerLayer`], [`FailFastLayer`],
//! [`BulkheadLayer`], [`RateLimitLayer`], [`KeyedRateLimitLayer`]).
//! Build one from a policy with [`AdmissionLayer::from_policy`] (its
//! machine, runtime and [`Ask`](failsafe_driver::Ask)) or from the parts
//! with [`AdmissionLayer::new`].
//!
//! **Where a layer decides: in `poll_ready`, the same rule for every
//! pattern.** The layer asks its machine before it polls the inner
//! service's readiness (outer layer first, then inner), through the
//! driver's [`Admit`](failsafe_driver::Admit): a bulkhead's queue or a rate
//! limiter's booking makes the caller wait in `poll_ready`, its waker and
//! timer registered. Admitted, the layer keeps the permit ([`Guard`](failsafe_driver::Guard))
//! and only then polls the inner service. Rejected, it does **not** poll
//! the inner service: `poll_ready` is ready and the next `call` returns a
//! future that fails at once with [`Error::Rejected`](failsafe_driver::Error::Rejected).
//! So a rejected request never holds an inner slot: a rate-limit layer in
//! front of a bulkhead layer no longer takes the bulkhead's slot for the
//! requests it turns away. `call` moves the permit into the response
//! future, which hands it back with the outcome its classifier gives the
//! result (driver [`Classify`](failsafe_driver::Classify); by default an
//! `Err` is a failure), or as `Cancelled` if the future is dropped.
//!
//! **The one exception: a decision that needs the request.** `poll_ready`
//! cannot see the request, so a keyed machine (a per-tenant rate limit)
//! or a fail fast judging each request's own deadline decides in `call`
//! ([`KeyedAdmissionLayer`], made with [`AdmissionLayer::keyed`] or
//! [`AdmissionLayer::with_request_deadline`]); if that machine makes the
//! call wait, the response future waits before it polls the inner future.
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
//! ## Retry, timeout and fallback
//!
//! [`RetryLayer`], [`TimeoutLayer`] and [`FallbackLayer`] wrap the driver's
//! [`RetryPolicy`](failsafe_driver::RetryPolicy),
//! [`TimeoutPolicy`](failsafe_driver::TimeoutPolicy) and
//! [`Fallback`](failsafe_driver::Fallback) on any runtime; their futures
//! are named, never boxed, and sleep on the runtime's timer. A request
//! carries its deadline from layer to layer through a [`RequestDeadline`].
//! The default order, from the outside in: **Fallback -> Retry ->
//! CircuitBreaker -> Timeout**: the fallback answers whatever is left,
//! each retry asks the breaker again, and the timeout bounds each attempt
//! (build the policies on one clock, as deadlines pass between them).
//!
//! ## For benches
//!
//! Each peer of tower 0.5 is one line: `BulkheadLayer::from_policy(&bulkhead)`
//! (`ConcurrencyLimit`), `RateLimitLayer::from_policy(&limiter)`
//! (`RateLimit`), `TimeoutLayer::new(policy)` (`Timeout`). Clone a service
//! once per connection, then `ready().await` + `call(..)`: an admission
//! service allocates its wait's storage once and reuses it.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod admission;
mod cache;
mod chaos;
mod deadline;
mod fallback;
mod hedge;
mod pipeline;
mod retry;
mod timeout;

pub use admission::{
    AdmissionLayer, AdmissionService, AdmissionState, KeyedAdmissionLayer, KeyedAdmissionService,
    NoKey, RequestKey, ResponseFuture,
};
pub use cache::{CacheFuture, CacheLayer, CacheService};
pub use chaos::{ChaosLayer, ChaosService};
pub use deadline::{NoDeadline, RequestDeadline};
pub use fallback::{FallbackFuture, FallbackLayer, FallbackRequest, FallbackService};
pub use hedge::{HedgeFuture, HedgeLayer, HedgeService, SharedLatencies};
pub use pipeline::{
    CloneRequests, KeepErrors, PipelineFuture, PipelineLayer, PipelineService, Replay, Respond,
    RespondWith, SendOnce,
};
pub use retry::{RetryFuture, RetryLayer, RetryService};
pub use timeout::{TimeoutFuture, TimeoutLayer, TimeoutService};

use std::sync::Arc;

/// A service made by one of this crate's layers (a [`RetryService`], an
/// [`AdmissionService`], ...): the inner service, a copy of the layer that
/// made it (its policy, classifier, request deadline) and the service's own
/// state, if it has any.
#[derive(Clone, Debug)]
pub struct Layered<L, S, T = ()> {
    layer: L,
    inner: S,
    state: T,
}

impl<L, S> Layered<L, S> {
    pub(crate) const fn new(layer: L, inner: S) -> Self {
        Layered::with_state(layer, inner, ())
    }
}

impl<L, S, T> Layered<L, S, T> {
    pub(crate) const fn with_state(layer: L, inner: S, state: T) -> Self {
        Layered {
            layer,
            inner,
            state,
        }
    }

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

use failsafe_core::breaker::{BreakerEvent, CircuitBreaker, CountWindow};
use failsafe_core::bulkhead::{Bulkhead, BulkheadEvent, FixedLimit};
use failsafe_core::failfast::{FailFast, FailFastEvent};
use failsafe_core::rate::{AtomicGcra, KeyedGcra, RateEvent, Throttle};
use failsafe_driver::{Hook, SharedHook, StdShared};

/// The circuit breaker's layer: [`AdmissionLayer`] over a
/// [`CircuitBreakerPolicy`](failsafe_driver::CircuitBreakerPolicy)'s
/// machine; build it with [`from_policy`](AdmissionLayer::from_policy).
pub type CircuitBreakerLayer<R, W = CountWindow<100>> =
    AdmissionLayer<StdShared<CircuitBreaker<W, Hook<BreakerEvent>>>, R>;

/// Fail fast's layer: [`AdmissionLayer`] over a fail fast policy's
/// machine. [`with_request_deadline`](AdmissionLayer::with_request_deadline)
/// makes it refuse a request whose own deadline cannot cover the call.
pub type FailFastLayer<R> = AdmissionLayer<StdShared<FailFast<Hook<FailFastEvent>>>, R>;

/// The bulkhead's layer: [`AdmissionLayer`] over a bulkhead policy's
/// machine (`Q` its queue's capacity): a caller waits for its slot in
/// `poll_ready`.
pub type BulkheadLayer<R, const Q: usize = 64, A = FixedLimit> =
    AdmissionLayer<StdShared<Bulkhead<Q, Hook<BulkheadEvent>, A>>, R>;

/// The lock-free rate limiter's layer: [`AdmissionLayer`] over a
/// [`RateLimiterPolicy`](failsafe_driver::RateLimiterPolicy)'s machine: a
/// caller waits for its permit in `poll_ready`, up to the ask's max wait.
pub type RateLimitLayer<R> = AdmissionLayer<Arc<Throttle<AtomicGcra, SharedHook<RateEvent>>>, R>;

/// The keyed rate limiter's layer: [`KeyedAdmissionLayer`] over a
/// [`KeyedRateLimiterPolicy`](failsafe_driver::KeyedRateLimiterPolicy)'s
/// machine, keyed by `F` (build it with
/// `AdmissionLayer::from_policy(&policy).keyed(|req| key)`).
pub type KeyedRateLimitLayer<R, K, const N: usize, F> =
    KeyedAdmissionLayer<StdShared<Throttle<KeyedGcra<K, N>, Hook<RateEvent>>>, R, F>;
