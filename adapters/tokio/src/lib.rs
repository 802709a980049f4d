//! # failsafe-tokio
//!
//! [Failsafe](failsafe_core) for tokio: a circuit breaker, retries,
//! timeouts and fallbacks on tokio's clock (so `tokio::time::pause()` and
//! `advance` drive them in tests), each as a cloneable handle for wrapping
//! calls and as a tower [`Layer`](tower_layer::Layer).
//!
//! This crate only binds [`failsafe_driver`] to tokio: the state machines
//! are [`failsafe_core`]'s, the call wrapper, the retry loop, the timeout
//! race and the fallback decision are the driver's.
//!
//! | pattern | handle | tower layer |
//! |---|---|---|
//! | circuit breaker | [`CircuitBreaker`] | [`CircuitBreakerLayer`] |
//! | retry | [`RetryPolicy`] | [`RetryLayer`] |
//! | timeout | [`TimeoutPolicy`] | [`TimeoutLayer`] |
//! | fallback | [`Fallback`] | [`FallbackLayer`] |
//!
//! ## Quick start: a circuit breaker around a call
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
//! ## Quick start: a circuit breaker as a tower layer
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
//! ## Quick start: retry
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{BackoffKind, FailureKind, Jitter, RetryConfig, RetryPolicy, TokenQuota, Verdict};
//!
//! # #[derive(Debug)] struct HttpError { status: u16, retry_after: Option<Duration> }
//! # async fn get(_url: &str, attempt: u32) -> Result<String, HttpError> {
//! #     if attempt < 2 { Err(HttpError { status: 503, retry_after: None }) } else { Ok("body".into()) }
//! # }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RetryConfig::builder()
//!     .max_attempts(4)
//!     .backoff(BackoffKind::Exponential {
//!         initial: Duration::from_millis(100),
//!         multiplier: 2.0,
//!         max: Duration::from_secs(5),
//!     })
//!     .jitter(Jitter::Full)
//!     .build()?;
//! // one policy per dependency; clones share the budget (AWS's retry quota here)
//! let retry = RetryPolicy::new(config).budget(TokenQuota::AWS_STANDARD);
//!
//! // which failures retry, and how soon the server asked us to come back
//! let classify = |r: &Result<String, HttpError>| match r {
//!     Ok(_) => Verdict::Success,
//!     Err(e) if e.status == 429 || e.status == 503 => Verdict::Retry {
//!         kind: FailureKind::Throttled,
//!         retry_after: e.retry_after,
//!     },
//!     Err(e) if e.status >= 500 => Verdict::retry(),
//!     Err(_) => Verdict::DoNotRetry,
//! };
//! let body = retry
//!     .run_with(&classify, |attempt| get("https://example.invalid/", attempt.number))
//!     .await
//!     .map_err(|gave_up| format!("{} after {} attempts", gave_up.reason, gave_up.attempts))?;
//! assert_eq!(body, "body");
//! # Ok(())
//! # }
//! ```
//!
//! `retry.run(|attempt| ..)` retries every `Err`. Each attempt gets an
//! [`Attempt`]: its number, and the caller's deadline to hand down
//! ([`run_with_deadline`](failsafe_driver::RetryPolicy::run_with_deadline)).
//! Dropping the future stops retrying; the error is a [`RetryError`] with
//! the reason ([`GiveUp`]), the attempts made and the last error.
//!
//! ## Quick start: timeout
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{Deadline, Error, TimeoutConfig, TimeoutPolicy};
//!
//! async fn query(deadline: Deadline) -> Result<u32, std::io::Error> {
//!     // hand `deadline` down: to a gRPC `grpc-timeout`, a database statement timeout, ...
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//!     Ok(1)
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(2))?);
//! match timeout.run(Deadline::NEVER, query).await {
//!     Ok(rows) => println!("{rows}"),
//!     // the query's future was dropped at the deadline
//!     Err(Error::Timeout(deadline)) => assert_eq!(deadline, Deadline::at(failsafe_tokio::Instant::from_secs(2))),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The first argument is the caller's deadline: the call gets the earlier of
//! it and `now + timeout`. With [`TimeoutMode::Soft`] the work is not
//! cancelled: it finishes and the hook ([`on_event`](failsafe_driver::TimeoutPolicy::on_event))
//! hears [`TimeoutEvent::Expired`].
//!
//! ## Quick start: fallback
//!
//! ```
//! use failsafe_tokio::{Error, Fallback, FallbackReason};
//!
//! async fn from_primary() -> Result<String, Error<&'static str>> { Err(Error::Inner("primary down")) }
//! async fn from_replica() -> Result<String, Error<&'static str>> { Err(Error::Inner("replica down")) }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let fallback = Fallback::new();
//! // an ordered chain: each alternative sees why the previous step failed
//! let price = fallback
//!     .chain(from_primary())
//!     .or_else(|_reason, _error| from_replica())
//!     .or_else(|reason, _error| async move {
//!         assert_eq!(reason, FallbackReason::Failed);
//!         Ok("price from the nightly cache".to_string())
//!     })
//!     .await;
//! assert_eq!(price.unwrap(), "price from the nightly cache");
//! # }
//! ```
//!
//! `fallback.run(primary, |reason, error| ..)` is the one-alternative form;
//! [`Fallback::policy`](failsafe_driver::Fallback::policy) chooses which
//! reasons fall back ([`FallbackPolicy`]): a failure, a rejection (an open
//! breaker), a timeout, or retries that gave up.
//!
//! ## Putting them together
//!
//! The default order, as in Failsafe for Java, from the outside in:
//! **Fallback -> Retry -> CircuitBreaker -> Timeout**. The fallback answers
//! whatever is left; each retry asks the breaker again (an open breaker
//! rejects without calling, and the retry backs off); the timeout bounds
//! each attempt, never past the caller's deadline.
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{
//!     BackoffKind, BreakerConfig, CircuitBreaker, Clock, CountWindow, Deadline, Error, Fallback,
//!     Jitter, RetryConfig, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TimeoutPolicy,
//!     TokenQuota, TokioClock,
//! };
//!
//! async fn fetch(deadline: Deadline) -> Result<String, std::io::Error> {
//!     let _ = deadline; // hand it down
//!     Err(std::io::Error::other("connection reset"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // one clock for handles that pass deadlines to one another
//! let clock = TokioClock::new();
//! let fallback = Fallback::with_clock(clock);
//! let retry = RetryPolicy::with_clock(
//!     RetryConfig::builder()
//!         .max_attempts(3)
//!         .backoff(BackoffKind::Constant(Duration::from_millis(200)))
//!         .jitter(Jitter::Full)
//!         .min_remaining(Duration::from_millis(100)) // skip a retry that cannot finish
//!         .build()?,
//!     clock,
//! )
//! .budget(TokenQuota::AWS_STANDARD);
//! let breaker = CircuitBreaker::with_clock(BreakerConfig::DEFAULT, CountWindow::<100>::new(), clock);
//! let per_attempt = TimeoutPolicy::with_clock(TimeoutConfig::new(Duration::from_millis(500))?, clock);
//! let overall = Deadline::after(clock.now(), Duration::from_secs(2));
//!
//! let (breaker, per_attempt) = (&breaker, &per_attempt);
//! let value = fallback
//!     .run(
//!         retry.run_with_deadline(overall, &RetryOnFailsafeError, |attempt| async move {
//!             breaker
//!                 .call(|| per_attempt.run(attempt.deadline, fetch))
//!                 .await
//!                 .map_err(Error::flatten) // one level: Rejected, Timeout or Inner(io::Error)
//!         }),
//!         |reason, gave_up| async move {
//!             eprintln!("serving the default: {reason}; last error: {:?}", gave_up.last);
//!             Ok(String::from("default"))
//!         },
//!     )
//!     .await?;
//! assert_eq!(value, "default");
//! # Ok(())
//! # }
//! ```
//!
//! A [`Deadline`] is an instant on a clock, and each [`TokioClock`] counts
//! from the moment it was made: handles that hand deadlines to one another
//! (a retry's `attempt.deadline` to a timeout, a timeout layer's deadline
//! to a retry layer inside it) should be built `with_clock` from one clock,
//! as above. Handles made with `new()` at different times disagree by the
//! time between them.
//!
//! As tower layers, in the same order (the request must be `Clone` for
//! retries and fallbacks):
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{
//!     BreakerConfig, CircuitBreaker, CircuitBreakerLayer, CountWindow, Error, Fallback,
//!     FallbackLayer, FallbackRequest, RetryConfig, RetryError, RetryLayer, RetryOnFailsafeError,
//!     RetryPolicy, TimeoutConfig, TimeoutLayer, TimeoutPolicy,
//! };
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! type Failure = RetryError<Error<&'static str>>;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker: CircuitBreaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
//! let service = ServiceBuilder::new()
//!     .layer(FallbackLayer::new(
//!         Fallback::new(),
//!         service_fn(|f: FallbackRequest<u32, Failure>| async move { Ok::<_, Failure>(f.request + 1000) }),
//!     ))
//!     .layer(RetryLayer::new(RetryPolicy::new(RetryConfig::builder().build()?)).with_classifier(RetryOnFailsafeError))
//!     .map_err(Error::flatten)
//!     .layer(CircuitBreakerLayer::new(breaker))
//!     .layer(TimeoutLayer::new(TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(500))?)))
//!     .service(service_fn(|n: u32| async move { if n > 0 { Ok(n) } else { Err("zero") } }));
//!
//! assert_eq!(service.clone().oneshot(7).await, Ok(7));
//! assert_eq!(service.oneshot(0).await, Ok(1000)); // 3 failed attempts, then the fallback
//! # Ok(())
//! # }
//! ```
//!
//! ## Time
//!
//! [`TokioClock`] reads [`tokio::time::Instant`] relative to an epoch taken
//! when the clock is made. Under `#[tokio::test(start_paused = true)]`,
//! `tokio::time::advance(open_wait).await` is enough to move an open
//! breaker to half-open, and a retry's backoff sleeps complete as soon as
//! the runtime is idle (the paused clock jumps to the next timer): no test
//! needs to sleep for real.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;

pub use clock::TokioClock;

pub use failsafe_core::breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerMetrics, CountWindow, NoWindow,
    State, TimeWindow, Window,
};
pub use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
pub use failsafe_core::retry::{
    BackoffKind, FailureKind, GiveUp, GrpcThrottle, Jitter, NoBudget, RatioBudget, RetryAfter,
    RetryBudget, RetryConfig, RetryConfigBuilder, RetryEvent, TokenQuota, Verdict,
};
pub use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
pub use failsafe_core::{ConfigError, Instant, Outcome, Problem, RejectReason, Rejected};
pub use failsafe_driver::{
    Attempt, Breaker, Classify, Clock, DefaultClassifier, Error, FallbackCause, FallbackChain,
    PermitGuard, RetryClassify, RetryError, RetryOnErr, RetryOnFailsafeError, Runtime,
    SharedBudget, SharedStdBreaker,
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

/// A cloneable retry policy on tokio's clock: clones share the budget `B`
/// ([`NoBudget`] by default) and the jitter seed counter.
///
/// This is the driver's [`RetryPolicy`](failsafe_driver::RetryPolicy)
/// bound to [`TokioClock`]; see it for every method:
///
/// - [`RetryPolicy::new(config)`](failsafe_driver::RetryPolicy::new), then
///   [`.budget(..)`](failsafe_driver::RetryPolicy::budget) ([`TokenQuota`],
///   [`RatioBudget`], [`GrpcThrottle`]), [`.seed(..)`](failsafe_driver::RetryPolicy::seed)
///   for repeatable jitter, [`.on_event(..)`](failsafe_driver::RetryPolicy::on_event);
/// - [`run(|attempt| async { .. })`](failsafe_driver::RetryPolicy::run),
///   [`run_with(&classifier, ..)`](failsafe_driver::RetryPolicy::run_with) and
///   [`run_with_deadline(deadline, &classifier, ..)`](failsafe_driver::RetryPolicy::run_with_deadline),
///   which return `Result<T, RetryError<E>>`.
pub type RetryPolicy<B = NoBudget> = failsafe_driver::RetryPolicy<B, TokioClock>;

/// A cloneable timeout on tokio's clock: the driver's
/// [`TimeoutPolicy`](failsafe_driver::TimeoutPolicy) bound to
/// [`TokioClock`]. [`TimeoutPolicy::new(config)`](failsafe_driver::TimeoutPolicy::new),
/// [`.on_event(..)`](failsafe_driver::TimeoutPolicy::on_event), and
/// [`run(parent_deadline, |deadline| async { .. })`](failsafe_driver::TimeoutPolicy::run),
/// which returns `Result<T, Error<E>>`.
pub type TimeoutPolicy = failsafe_driver::TimeoutPolicy<TokioClock>;

/// A cloneable fallback on tokio's clock: the driver's
/// [`Fallback`](failsafe_driver::Fallback) bound to [`TokioClock`].
/// [`Fallback::new()`](failsafe_driver::Fallback::new),
/// [`.policy(..)`](failsafe_driver::Fallback::policy),
/// [`.on_event(..)`](failsafe_driver::Fallback::on_event),
/// [`run(primary, |reason, error| async { .. })`](failsafe_driver::Fallback::run)
/// and [`chain(primary).or_else(..).or_else(..)`](failsafe_driver::Fallback::chain).
pub type Fallback = failsafe_driver::Fallback<TokioClock>;

mod rate;

pub use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull,
};
pub use failsafe_driver::{
    DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, SharedKeyedLimiter, SharedLimiter, StdLock,
};
pub use rate::{KeyedRateLimiter, RateLimiter};

pub use failsafe_core::failfast::{
    CloseCause, FailFastConfig, FailFastConfigBuilder, FailFastEvent, FailFastMetrics, OpenCause,
    State as FailFastState,
};
pub use failsafe_driver::{
    ByOutcome, ClassifyHealth, FailFastGuard, Health, SharedStdFailFast, UnhealthyWhen,
};

/// A cloneable, `Send + Sync` fail fast on tokio's clock: clones share one
/// fail fast. This is the driver's [`FailFast`](failsafe_driver::FailFast)
/// handle bound to [`TokioClock`]; see it for every method.
///
/// A fail fast stops calling a dependency known to be down: it opens after
/// a number of failures in a row, when a result is judged
/// [`Health::Unhealthy`], or by hand, and unlike a circuit breaker it stays
/// open until recovery is signalled ([`report_healthy`](failsafe_driver::FailFast::report_healthy),
/// [`close`](failsafe_driver::FailFast::close)), or a probe admitted once
/// per [`probe_interval`](FailFastConfigBuilder::probe_interval) succeeds.
/// It also refuses a call the caller's [`Deadline`] cannot cover (the
/// expected duration is configured, or learned from successful calls).
///
/// ## Quick start: fail fast
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{
///     Clock, Deadline, Error, FailFast, FailFastConfig, FailFastState, Health, RejectReason,
/// };
///
/// #[derive(Debug)]
/// enum DbError { Timeout, Refused }
///
/// async fn query(sql: &str) -> Result<u64, DbError> {
///     tokio::time::sleep(Duration::from_millis(40)).await; // about 40 ms a query
///     if sql.is_empty() { Err(DbError::Refused) } else { Ok(1) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = FailFastConfig::builder()
///     .consecutive_failures(5)       // five failures in a row open it ...
///     .learn_expected_duration(16)   // ... and it learns how long a query takes
///     .safety_margin(Duration::from_millis(10))
///     .build()
///     .unwrap();
/// let db = FailFast::new(config); // one per dependency; clones share it
///
/// // A refused connection says the database is down: open at once.
/// let judge = |r: &Result<u64, DbError>| match r {
///     Ok(_) => Health::Success,
///     Err(DbError::Timeout) => Health::Timeout,
///     Err(DbError::Refused) => Health::Unhealthy,
/// };
/// assert_eq!(db.call_with(&judge, || query("select 1")).await.unwrap(), 1);
///
/// // A caller with 30 ms left cannot fit a ~40 ms query: refused before it starts.
/// let deadline = Deadline::after(db.clock().now(), Duration::from_millis(30));
/// match db.call_with_deadline(deadline, &judge, || query("select 2")).await {
///     Err(Error::Rejected(r)) => assert_eq!(r.reason, RejectReason::DeadlineTooShort),
///     other => panic!("{other:?}"),
/// }
///
/// let _ = db.call_with(&judge, || query("")).await; // refused: now open
/// assert_eq!(db.state(), FailFastState::Open);
/// // every call is rejected at once, without touching the database ...
/// assert!(matches!(db.call(|| query("select 3")).await, Err(Error::Rejected(_))));
/// // ... until a health check (or an operator) says it is back
/// db.report_healthy();
/// assert_eq!(db.call(|| query("select 4")).await.unwrap(), 1);
/// # }
/// ```
///
/// As a tower layer, see [`FailFastLayer`]. Dropping a call's future
/// records it as `Cancelled`: the streak of failures is left as it was.
pub type FailFast = failsafe_driver::FailFast<TokioClock>;

mod bulkhead;

pub use bulkhead::Bulkhead;
pub use failsafe_core::bulkhead::{
    Aimd, AimdBuilder, BulkheadConfig, BulkheadConfigBuilder, BulkheadEvent, BulkheadMetrics,
    FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
};
pub use failsafe_driver::{AcquireSlot, BulkheadGuard, OwnedBulkheadGuard, SharedStdBulkhead};
