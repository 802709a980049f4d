//! # failsafe-tokio
//!
//! [Failsafe](failsafe_driver) on tokio: this crate binds [`failsafe_driver`]
//! to tokio's clock, timer and cooperative budget ([`TokioClock`]) and names
//! each pattern's handle on it. The state machines are
//! `failsafe-core`'s; admission, waiting, the retry loop, the timeout race
//! and the fallback are the driver's.
//!
//! | pattern | handle | core machine |
//! |---|---|---|
//! | circuit breaker | [`CircuitBreakerPolicy`] | [`CircuitBreaker`](failsafe_driver::breaker::CircuitBreaker) |
//! | fail fast | [`FailFastPolicy`] | [`FailFast`](failsafe_driver::failfast::FailFast) |
//! | bulkhead | [`BulkheadPolicy`] | [`Bulkhead`](failsafe_driver::bulkhead::Bulkhead) |
//! | rate limiter | [`RateLimiterPolicy`], [`KeyedRateLimiterPolicy`] | [`AtomicGcra`], [`KeyedGcra`] |
//! | retry | [`RetryPolicy`] | [`Retry`](failsafe_driver::retry_machine::Retry) |
//! | timeout | [`TimeoutPolicy`] | [`Timeout`](failsafe_driver::timeout_machine::Timeout) |
//! | fallback | [`Fallback`] | [`FallbackPolicy`] |
//!
//! The admission handles (breaker, fail fast, bulkhead, rate limiters) are
//! one type, [`Policy`], with the same verbs: `call(|| async ..)`,
//! `call_with(&classifier, || async ..)`, `try_acquire()` (a [`Guard`] or a
//! rejection, never waits), `acquire()` (waits as the machine says: a
//! bulkhead's queue, a limiter's booking), `with_deadline`, `with_weight`,
//! `with_max_wait`, and `call_blocking(|| ..)` for threads outside the
//! runtime. Clones share the machine. Dropping a call's future (a
//! `tokio::time::timeout`, a `select!` that took another branch) or a panic
//! inside it hands the permit back as `Cancelled`.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{BreakerConfig, CircuitBreakerPolicy, Clock, CountWindow, Error, TokioClock};
//!
//! async fn fetch(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("item {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // open when half the last 100 calls (at least 10) failed; probe after 30 s
//! let config = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5)
//!     .minimum_calls(10)
//!     .open_wait(Duration::from_secs(30))
//!     .build()?;
//! let breaker: CircuitBreakerPolicy = CircuitBreakerPolicy::new(config, CountWindow::new());
//! match breaker.call(|| fetch(7)).await {
//!     Ok(item) => assert_eq!(item, "item 7"),
//!     // not called: the breaker is open; `retry_at` can become a Retry-After
//!     Err(Error::Rejected(r)) => eprintln!("try again in {:?}", r.retry_after(TokioClock.now())),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Putting them together: one pipeline
//!
//! A [`Pipeline`] runs any set of patterns around one call, with one
//! clock reading when the call starts and one when each attempt ends, and
//! one error ([`PipelineError`]). From the outside in: **fallback → overall
//! timeout → retry → breaker / fail fast → rate limiter → bulkhead →
//! attempt timeout**; admissions decide in the order they are added, all
//! or nothing. Every [`TokioClock`] counts from one epoch, so deadlines
//! and `retry_at`s from any handles agree.
//!
//! ```
//! use std::time::Duration;
//! use failsafe_tokio::{
//!     BreakerConfig, CircuitBreakerPolicy, Deadline, FallbackReason, GiveUp, NoWindow, Pipeline,
//!     RetryConfig, TimeoutConfig, TokioClock,
//! };
//!
//! async fn fetch(deadline: Deadline) -> Result<String, std::io::Error> {
//!     let _ = deadline; // hand it down: to a gRPC `grpc-timeout`, a statement timeout, ...
//!     Err(std::io::Error::other("connection reset"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
//! let pipeline = Pipeline::new(TokioClock)
//!     .admit(&breaker)
//!     .retry(RetryConfig::builder().max_attempts(3).min_remaining(Duration::from_millis(100)).build()?)
//!     .attempt_timeout(TimeoutConfig::new(Duration::from_millis(500))?)
//!     .timeout(Duration::from_secs(2));
//!
//! let value = pipeline
//!     .call_or_else(
//!         |attempt| fetch(attempt.deadline),
//!         |reason, e| async move {
//!             assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
//!             eprintln!("serving the default: {e}"); // the last io::Error, typed, in `e.error`
//!             Ok(String::from("default"))
//!         },
//!     )
//!     .await?;
//! assert_eq!(value, "default");
//! # Ok(())
//! # }
//! ```
//!
//! The single-pattern handles below compose by hand too (a retry whose
//! attempts call a breaker), and each has its own verbs.
//!
//! A retry classifier ([`Classify`], any `Fn(&Result) -> Verdict` or `-> Outcome`)
//! decides which failures retry and honours a server's `Retry-After`
//! ([`Verdict::Retry`]); the error is a [`RetryError`] with the reason
//! ([`GiveUp`]), the attempts made and the last error. A
//! [`TimeoutMode::Soft`] timeout lets the work finish and reports
//! [`TimeoutEvent::Expired`]. A fallback can be an ordered chain
//! ([`chain`](failsafe_driver::Fallback::chain)), and its [`FallbackPolicy`]
//! chooses which reasons fall back.
//!
//! ## Time and tests
//!
//! [`TokioClock`] reads [`tokio::time::Instant`]: under
//! `#[tokio::test(start_paused = true)]`, `tokio::time::advance(open_wait)`
//! moves an open breaker to half-open, and backoffs and queue waits end as
//! soon as the runtime is idle: no test sleeps for real. With this crate's
//! `test-util` feature each paused runtime reads zero when failsafe first
//! meets it (its first handle made, or its first clock read), not when
//! the runtime was built: make the handles before the first `advance`
//! (see [`TokioClock`]).
//!
//! ## Tower layers
//!
//! The runtime-generic `failsafe-tower` crate turns any of these policies
//! into a tower layer (`AdmissionLayer::from_policy(&policy)`) on
//! [`TokioClock`].
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;

pub use clock::TokioClock;

/// A cloneable, `Send + Sync` circuit breaker on tokio: the driver's
/// [`CircuitBreakerPolicy`](failsafe_driver::CircuitBreakerPolicy) on
/// [`TokioClock`]. `W` is the window: [`CountWindow<N>`] (the last `N`
/// calls, 100 by default), [`TimeWindow<B>`] (the last period, in `B`
/// buckets) or [`NoWindow`] (consecutive failures only).
///
/// `new(config, window)`, the [`Policy`] verbs, and the operator's
/// `state`, `metrics`, `on_event`, `open`, `close`, `force_open`,
/// `disable`, `metrics_only`, `reset`. See the crate's quick start.
pub type CircuitBreakerPolicy<W = CountWindow<100>> =
    failsafe_driver::CircuitBreakerPolicy<W, TokioClock>;

/// A cloneable, `Send + Sync` fail fast on tokio: the driver's fail fast
/// handle on [`TokioClock`]. It opens after failures in a row or by hand
/// and, unlike a breaker, stays open until recovery is signalled
/// (`report_healthy`, `close`) or a probe admitted once per
/// [`probe_interval`](FailFastConfigBuilder::probe_interval) succeeds. It
/// refuses a call whose deadline ([`Policy::with_deadline`]) cannot cover
/// the expected duration (configured, or learned).
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Clock, Deadline, FailFastConfig, FailFastPolicy, FailFastState, RejectReason, TokioClock};
///
/// async fn query(sql: &str) -> Result<u64, std::io::Error> {
///     tokio::time::sleep(Duration::from_millis(40)).await; // about 40 ms a query
///     if sql.is_empty() { Err(std::io::Error::other("refused")) } else { Ok(1) }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let config = FailFastConfig::builder().consecutive_failures(1).learn_expected_duration(16).build().unwrap();
/// let db = FailFastPolicy::new(config);
/// assert_eq!(db.call(|| query("select 1")).await.unwrap(), 1);
/// // 30 ms left cannot fit a ~40 ms query: refused before it starts
/// let hurried = db.clone().with_deadline(Deadline::after(TokioClock.now(), Duration::from_millis(30)));
/// let refused = hurried.call(|| query("select 2")).await.unwrap_err();
/// assert_eq!(refused.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
/// let _ = db.call(|| query("")).await; // a failure: open, every call rejected at once ...
/// assert_eq!(db.state(), FailFastState::Open);
/// db.report_healthy(); // ... until a health check says it is back
/// assert_eq!(db.call(|| query("select 3")).await.unwrap(), 1);
/// # }
/// ```
pub type FailFastPolicy = failsafe_driver::FailFastPolicy<TokioClock>;

/// A cloneable, `Send + Sync` bulkhead on tokio: at most `limit` calls at
/// once and a FIFO queue of up to `Q` callers (64 by default), each waiting
/// at most `max_wait` for a slot. The driver's bulkhead handle on
/// [`TokioClock`]: `new(config)`, `adaptive(config, algorithm)` for a limit
/// that follows the latency ([`Aimd`], [`Vegas`], [`Gradient2`]), the
/// [`Policy`] verbs, `set_limit`, `limit`, `in_flight`, `queued`,
/// `metrics`, `on_event`.
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{BulkheadConfig, BulkheadPolicy, RejectReason};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 4 renders at once; more queue, each for at most 50 ms
/// let config = BulkheadConfig::builder().max_concurrent(4).max_wait(Duration::from_millis(50)).build()?;
/// let renders: BulkheadPolicy = BulkheadPolicy::new(config);
/// let render = || async { tokio::time::sleep(Duration::from_millis(30)).await; Ok::<_, ()>("page") };
/// let tasks: Vec<_> = (0..10)
///     .map(|_| { let renders = renders.clone(); tokio::spawn(async move { renders.call(render).await }) })
///     .collect();
/// let mut turned_away = 0;
/// for task in tasks {
///     if let Err(e) = task.await? {
///         assert_eq!(e.rejected().unwrap().reason, RejectReason::BulkheadWaitExpired);
///         turned_away += 1;
///     }
/// }
/// assert_eq!(turned_away, 2); // 4 ran, 4 more after 30 ms; 2 would have waited 60 ms
/// let slot = renders.acquire().await?; // or hold a slot by hand, until dropped
/// # drop(slot);
/// # Ok(())
/// # }
/// ```
pub type BulkheadPolicy<const Q: usize = 64, A = FixedLimit> =
    failsafe_driver::BulkheadPolicy<Q, A, TokioClock>;

/// A cloneable, `Send + Sync`, lock-free rate limiter on tokio: the
/// driver's [`RateLimiterPolicy`](failsafe_driver::RateLimiterPolicy) on
/// [`TokioClock`]. A caller waits for its booked turn up to `max_wait`
/// ([`DEFAULT_MAX_WAIT`] unless [`with_max_wait`](Policy::with_max_wait) says
/// otherwise), each exactly at its instant, in order; one that would wait
/// longer is rejected at once with `retry_at`. `with_weight(n)` takes `n`
/// permits a call; `set_quota`, `quota`, `available`.
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Quota, RateLimiterPolicy};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 10 a second, 20 at once after a quiet spell; a caller waits up to 500 ms
/// let limiter = RateLimiterPolicy::new(Quota::per_second(10)?.with_burst(20)?)
///     .with_max_wait(Duration::from_millis(500));
/// assert_eq!(limiter.call(|| async { Ok::<_, ()>("sent") }).await, Ok("sent"));
/// let batch = limiter.clone().with_weight(5); // a batch of 5 costs 5
/// let _permits = batch.acquire().await?;
/// assert!(limiter.try_acquire().is_ok()); // never waits
/// # Ok(())
/// # }
/// ```
///
/// A waiter dropped after booking gives its booking back when no later
/// caller booked after it; otherwise its permits count as used: capacity
/// is lost, never gained.
pub type RateLimiterPolicy = failsafe_driver::RateLimiterPolicy<TokioClock>;

/// A cloneable rate limiter with one GCRA per key (a client IP, a tenant)
/// on tokio, in a table of `N` slots that never grows: the driver's
/// [`KeyedRateLimiterPolicy`](failsafe_driver::KeyedRateLimiterPolicy) on
/// [`TokioClock`]: `try_acquire_keyed(&ip)`, `acquire_keyed`, `call_keyed`,
/// `set_quota`, `available`, `len`, `forget_idle`. Its hash is seeded at
/// random, so clients cannot aim their keys at one slot.
pub type KeyedRateLimiterPolicy<K, const N: usize = 1024> =
    failsafe_driver::KeyedRateLimiterPolicy<K, N, TokioClock>;

/// A cloneable retry policy on tokio: the driver's
/// [`RetryPolicy`](failsafe_driver::RetryPolicy) on [`TokioClock`]. Clones
/// share the budget `B` ([`NoBudget`] by default: [`TokenQuota`],
/// [`RatioBudget`], [`GrpcThrottle`]) and the jitter seed counter.
pub type RetryPolicy<B = NoBudget> = failsafe_driver::RetryPolicy<B, TokioClock>;

/// A cloneable timeout on tokio: the driver's
/// [`TimeoutPolicy`](failsafe_driver::TimeoutPolicy) on [`TokioClock`].
pub type TimeoutPolicy = failsafe_driver::TimeoutPolicy<TokioClock>;

/// A cloneable fallback on tokio: the driver's
/// [`Fallback`](failsafe_driver::Fallback) on [`TokioClock`].
pub type Fallback = failsafe_driver::Fallback<TokioClock>;

/// The driver, with the core's machines and vocabulary it re-exports
/// (`driver::toggle_machine::Window`, `driver::cache_machine::S3Fifo`, ...).
pub use ::failsafe_driver as driver;
/// The decorator (`macros` feature): `#[policy(HANDLE)]` runs a function's
/// body through a policy, `retry = ..` a retry, `pipeline = ..` a pipeline.
#[cfg(feature = "macros")]
pub use failsafe_driver::policy;
pub use failsafe_driver::prelude::*;
