//! # failsafe-tokio
//!
//! The [failsafe](failsafe_core) circuit breaker for tokio: a cloneable
//! breaker handle on tokio's clock (so `tokio::time::pause()` and
//! `advance` drive it in tests) and a tower [`Layer`](tower_layer::Layer).
//!
//! This crate only binds [`failsafe_driver`] to tokio: the state machine is
//! [`failsafe_core`]'s, the call wrapper and the permit guard are the
//! driver's.
//!
//! ## Quick start: wrap a call
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{BreakerConfig, CircuitBreaker, Clock, CountWindow, Error};
//!
//! async fn fetch(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("item {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5) // open when half the last calls failed
//!     .minimum_calls(10)
//!     .open_wait(Duration::from_secs(30))
//!     .build()?;
//! // one breaker per dependency; clones share it
//! let breaker: CircuitBreaker = CircuitBreaker::new(config, CountWindow::new());
//!
//! match breaker.call(|| fetch(7)).await {
//!     Ok(item) => assert_eq!(item, "item 7"),
//!     Err(Error::Rejected(rejected)) => {
//!         // not called: the breaker is open; `retry_at` can become a Retry-After
//!         let wait = rejected.retry_after(breaker.clock().now());
//!         eprintln!("try again in {wait:?}");
//!     }
//!     Err(Error::Inner(io_error)) => return Err(io_error.into()),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `breaker.call_with(&classifier, || ..)` decides per result what counts as
//! a failure (see [`Classify`]); dropping the call's future (a
//! `tokio::time::timeout`, a `select!` that took another branch) or a panic
//! inside it returns the permit as `Cancelled`, so a half-open breaker's
//! probe slot is never lost.
//!
//! ## Quick start: a tower layer
//!
//! ```
//! use failsafe_tokio::{BreakerConfig, CircuitBreaker, CircuitBreakerLayer, CountWindow, Error};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
//! let service = CircuitBreakerLayer::new(breaker.clone())
//!     .layer(service_fn(|name: &'static str| async move { Ok::<_, &str>(format!("hello {name}")) }));
//!
//! let reply = service.clone().oneshot("world").await;
//! assert_eq!(reply, Ok("hello world".to_string()));
//!
//! breaker.force_open(); // e.g. from an admin endpoint
//! let reply = service.oneshot("world").await;
//! assert!(matches!(reply, Err(Error::Rejected(_))));
//! # }
//! ```
//!
//! ## Time
//!
//! [`TokioClock`] reads [`tokio::time::Instant`] relative to an epoch taken
//! when the clock is made. Under `#[tokio::test(start_paused = true)]`,
//! `tokio::time::advance(open_wait).await` is enough to move an open
//! breaker to half-open: no test needs to sleep for real.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;
mod layer;

pub use clock::TokioClock;
pub use layer::{CircuitBreakerLayer, CircuitBreakerService, ResponseFuture};

pub use failsafe_core::breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerMetrics, CountWindow, NoWindow,
    State, TimeWindow, Window,
};
pub use failsafe_core::{ConfigError, Instant, Outcome, Problem, RejectReason, Rejected};
pub use failsafe_driver::{
    Breaker, Classify, Clock, DefaultClassifier, Error, PermitGuard, Runtime, SharedStdBreaker,
};

/// A cloneable, `Send + Sync` circuit breaker on tokio's clock: clones share
/// one breaker.
///
/// This is the driver's [`Breaker`] handle bound to [`TokioClock`]; see it
/// for every method. The ones used most:
///
/// - [`CircuitBreaker::new(config, window)`](Breaker::new);
/// - [`call(|| async { .. })`](Breaker::call) and
///   [`call_with(&classifier, || async { .. })`](Breaker::call_with), which
///   return `Result<T, Error<E>>`;
/// - [`acquire()`](Breaker::acquire), an owned permit guard for futures
///   that must be `'static`;
/// - [`state()`](Breaker::state), [`metrics()`](Breaker::metrics),
///   [`on_event(..)`](Breaker::on_event) and the operator switches
///   ([`open`](Breaker::open), [`close`](Breaker::close),
///   [`force_open`](Breaker::force_open), ...).
///
/// `W` is the window: [`CountWindow<N>`] (the last `N` calls, default 100),
/// [`TimeWindow<B>`] (the last period, in `B` buckets) or [`NoWindow`]
/// (consecutive failures only). `new` takes the window type from its
/// argument; a `CountWindow::new()` needs its size spelled out, as
/// `CountWindow::<100>::new()` or with `let breaker: CircuitBreaker = ..`.
pub type CircuitBreaker<W = CountWindow<100>> = Breaker<W, TokioClock>;
