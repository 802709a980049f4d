//! # failsafe-embassy
//!
//! Resilience patterns for [embassy](https://embassy.dev) firmware: `no_std`,
//! no allocation, state in `static`s, time from `embassy-time`.
//!
//! - [`CircuitBreaker`]: a circuit breaker with a `const` constructor, shared
//!   by every task and interrupt handler through a `critical-section` lock
//!   (or an embassy-sync raw mutex of your choice, see [`MutexLock`]).
//!   [`call`](CircuitBreaker::call) wraps an async operation;
//!   [`call_with`](CircuitBreaker::call_with) takes a classifier.
//! - [`RetryPolicy`]: retries with backoff and jitter, `const` so it lives in
//!   a `static`, drawing on a retry budget in another `static` (a
//!   [`TokenQuota`] behind a [`CsLock`], say) that every call shares.
//!   [`run`](RetryPolicy::run), [`run_with`](RetryPolicy::run_with) (a
//!   classifier), [`run_within`](RetryPolicy::run_within) (a caller's deadline).
//! - [`with_timeout`]: cancels an operation at a deadline and hands the
//!   deadline down, so a per-attempt timeout never outlives the whole call's.
//! - [`fallback`] / [`fallback_with`]: answer a failure with an alternative.
//! - [`config_or_panic`]: checks a configuration at compile time.
//! - [`EmbassyClock`]: embassy-time as the driver's [`Clock`] and
//!   [`Runtime`], for the runtime-agnostic pieces of [`failsafe_driver`].
//! - [`call`] / [`call_with`]: the breaker's wrappers for any shared policy.
//! - With the `defmt` feature: `defmt::Format` on every core and driver type,
//!   and `DefmtObserver`, which logs breaker, retry, timeout and fallback
//!   events.
//!
//! The decisions are made by [`failsafe_core`]'s pure state machines and the
//! loops by [`failsafe_driver`]; this crate only binds them to embassy's
//! clock and keeps their state in statics. The types they need are
//! re-exported here, so firmware needs only this crate.
//!
//! ## Quick start
//!
//! ```
//! use core::time::Duration;
//! use embassy_time::Timer;
//! use failsafe_embassy::{BreakerConfig, CircuitBreaker, CountWindow, EmbassyClock, Error};
//!
//! // Checked at compile time: a bad value is a build error naming the field.
//! const CONFIG: BreakerConfig = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5) // open when half of ...
//!     .minimum_calls(10)           // ... at least 10 of the last 20 calls failed
//!     .open_wait(Duration::from_secs(5))
//!     .build_or_panic();
//!
//! static SENSOR: CircuitBreaker<CountWindow<20>> = CircuitBreaker::new(CONFIG, CountWindow::new());
//!
//! #[derive(Debug, PartialEq)]
//! struct BusError;
//!
//! async fn read_sensor() -> Result<u16, BusError> {
//!     Ok(421) // talk to the hardware here
//! }
//!
//! async fn sample() -> Option<u16> {
//!     match SENSOR.call(read_sensor).await {
//!         Ok(value) => Some(value),
//!         Err(Error::Rejected(rejected)) => {
//!             // The breaker is open: the bus was not touched. Come back when it
//!             // will admit a probe.
//!             if let Some(at) = rejected.retry_at.filter(|_| !rejected.is_never()) {
//!                 Timer::at(EmbassyClock::to_embassy(at)).await;
//!             }
//!             None
//!         }
//!         Err(_bus_error) => None, // counted as a failure
//!     }
//! }
//! # assert_eq!(futures_lite::future::block_on(sample()), Some(421));
//! ```
//!
//! In firmware, `sample` runs inside an embassy task; several tasks (and
//! interrupt handlers, through [`call_blocking`](CircuitBreaker::call_blocking)
//! or [`acquire`](CircuitBreaker::acquire)) may share `SENSOR`:
//!
//! ```no_run
//! # use failsafe_embassy::{BreakerConfig, CircuitBreaker, CountWindow};
//! # static SENSOR: CircuitBreaker<CountWindow<20>> = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
//! # async fn read_sensor() -> Result<u16, ()> { Ok(1) }
//! #[embassy_executor::task]
//! async fn poll_sensor() {
//!     loop {
//!         let _ = SENSOR.call(read_sensor).await;
//!         embassy_time::Timer::after_millis(100).await;
//!     }
//! }
//! ```
//!
//! ## Quick start: retry with timeouts
//!
//! A GPS module on a UART answers most requests, sometimes late, sometimes
//! not at all. Each attempt gets 200 ms, the whole call 1 s; up to four
//! attempts, with backoffs of 100 ms, 200 ms and 400 ms (full jitter: a random
//! part of each), paid from a budget that every task talking to the module
//! shares:
//!
//! ```
//! use core::time::Duration;
//! use failsafe_embassy::{
//!     config_or_panic, with_timeout, BackoffKind, CsLock, Deadline, Error, GiveUp, RetryConfig,
//!     RetryError, RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TokenQuota,
//! };
//!
//! // Checked at compile time: a bad value is a build error naming the field.
//! const RETRY: RetryConfig = config_or_panic(
//!     RetryConfig::builder()
//!         .max_attempts(4)
//!         .backoff(BackoffKind::Exponential {
//!             initial: Duration::from_millis(100),
//!             multiplier: 2.0,
//!             max: Duration::from_millis(400),
//!         })
//!         // No retry that could not have its full 200 ms before the deadline.
//!         .min_remaining(Duration::from_millis(200))
//!         .build(),
//! );
//! const PER_ATTEMPT: TimeoutConfig = config_or_panic(TimeoutConfig::new(Duration::from_millis(200)));
//! const OVERALL: TimeoutConfig = config_or_panic(TimeoutConfig::new(Duration::from_secs(1)));
//!
//! /// Retries cost 5 tokens (10 after a timeout) of 100; successes refill it.
//! static GPS_BUDGET: CsLock<TokenQuota> = CsLock::new(config_or_panic(TokenQuota::new(100, 5, 10, 5, 1)));
//! /// The jitter seed: reseed it per device at boot (`GPS.reseed(uid)`).
//! static GPS: RetryPolicy<CsLock<TokenQuota>> = RetryPolicy::new(RETRY, 0x5EED).with_budget(&GPS_BUDGET);
//!
//! #[derive(Debug, PartialEq)]
//! struct Fix { lat: i32, lon: i32 }
//! #[derive(Debug, PartialEq)]
//! struct UartError;
//!
//! async fn read_fix() -> Result<Fix, UartError> {
//!     Ok(Fix { lat: 52_520_008, lon: 13_404_954 }) // talk to the module here
//! }
//!
//! async fn fix() -> Result<Fix, Error<RetryError<Error<UartError>>>> {
//!     with_timeout(OVERALL, Deadline::NEVER, |call_deadline| {
//!         // Timeouts and UART errors are both retried (a timeout costs more) ...
//!         GPS.run_within(call_deadline, &RetryOnFailsafeError, |attempt| {
//!             // ... and each attempt's timeout ends by the call's deadline.
//!             with_timeout(PER_ATTEMPT, attempt.deadline, |_| read_fix())
//!         })
//!     })
//!     .await
//! }
//!
//! async fn navigate() {
//!     match fix().await {
//!         Ok(_fix) => { /* use it */ }
//!         Err(Error::Inner(gave_up)) => match gave_up.reason {
//!             GiveUp::Budget => { /* the module is struggling: back off for a while */ }
//!             _ => { /* attempts spent, or no retry fitted in the second */ }
//!         },
//!         Err(_timed_out) => { /* the whole second went by */ }
//!     }
//! }
//! # futures_lite::future::block_on(async {
//! # assert_eq!(fix().await, Ok(Fix { lat: 52_520_008, lon: 13_404_954 }));
//! # navigate().await;
//! # });
//! ```
//!
//! A [`RetryError`] says why the retries stopped ([`GiveUp`]), after how
//! many attempts, and carries the last error. Dropping a retrying future
//! stops it: nothing keeps running in the background.
//!
//! ## Interrupt handlers
//!
//! Every `static` here may be used from tasks and interrupt handlers at once
//! on every Cortex-M, as long as its lock masks interrupts (the default
//! `CsLock`, or `MutexLock<CriticalSectionRawMutex, _>`; not
//! `ThreadModeRawMutex` or `NoopRawMutex`): the rate limiter's and the
//! breaker's and fail fast's lock-free words use real atomics where the core
//! has 64-bit ones, and a short critical section where it does not
//! (thumbv6m, thumbv7m, thumbv7em), never a lock an interrupt could spin on.
//! You provide one critical-section implementation (embassy's HAL crates, or
//! cortex-m's `critical-section-single-core` feature); on thumbv6m
//! (Cortex-M0/M0+, RP2040, STM32G0) also turn on this crate's
//! `critical-section` feature, or the build stops with a `compile_error!`
//! naming it. See `failsafe_core::sync` for the table.
//!
//! ## Time
//!
//! Core instants are microseconds since boot (embassy's epoch), read once per
//! call. Deadlines are rounded up when handed to an embassy timer, so a timer
//! never fires before the breaker would agree that the deadline has passed,
//! and a retry never starts before its backoff is over. A [`Deadline`] holds
//! a core instant ([`Deadline::instant`]); [`EmbassyClock::to_embassy`] turns
//! that into an embassy one for `Timer::at`.
//!
//! ## Testing your firmware logic on the host
//!
//! Enable embassy-time's `mock-driver` (plus a `generic-queue-*` feature) and
//! `critical-section`'s `std` feature in your dev-dependencies; then
//! `embassy_time::MockDriver::get().advance(d)` moves the breaker through
//! open, half-open and closed, and retries and timeouts through their
//! delays, in virtual time: poll the call, advance the clock to the next
//! instant that matters, poll again. The mock and the `std` time drivers
//! cannot be linked into one binary.
//!
//! Retries and timeouts sleep on `embassy_time::Timer`. Outside
//! embassy-executor (a `block_on` in a test) timers need a `generic-queue-*`
//! feature of embassy-time; without one they work only in embassy tasks.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod breaker;
mod call;
mod clock;
#[cfg(feature = "defmt")]
mod defmt_observer;
mod fallback;
mod lock;
mod retry;
mod timeout;

pub use breaker::{CircuitBreaker, Machine};
pub use call::{call, call_with};
pub use clock::EmbassyClock;
#[cfg(feature = "defmt")]
pub use defmt_observer::DefmtObserver;
pub use fallback::{fallback, fallback_with};
pub use lock::MutexLock;
pub use retry::{RetryPolicy, config_or_panic};
pub use timeout::{with_timeout, with_timeout_observed};

pub use failsafe_core;
pub use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, CountWindow, NoWindow, State, TimeWindow,
};
pub use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
pub use failsafe_core::retry::{
    Backoff, BackoffKind, FailureKind, GiveUp, GrpcThrottle, Jitter, NoBudget, RatioBudget,
    RetryAfter, RetryBudget, RetryConfig, RetryConfigBuilder, RetryEvent, TokenQuota, Verdict,
};
pub use failsafe_core::rng::{Rng, Xorshift64};
pub use failsafe_core::sync::{CsLock, Lock};
pub use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
pub use failsafe_core::{
    ConfigError, FnObserver, Instant, Observer, Outcome, RejectReason, Rejected,
};
pub use failsafe_driver;
pub use failsafe_driver::{
    Attempt, Classify, Clock, DefaultClassifier, Error, FallbackCause, PermitGuard, RetryClassify,
    RetryError, RetryOnErr, RetryOnFailsafeError, Runtime,
};

mod rate;

pub use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull,
};
pub use failsafe_driver::{
    DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, LockedLimiter, SharedKeyedLimiter, SharedLimiter,
    WithKey,
};
pub use rate::{KeyedRateLimiter, RateLimiter};

mod failfast;

pub use failfast::{FailFast, FailFastMachine};
pub use failsafe_core::failfast::{
    CloseCause, FailFastConfig, FailFastConfigBuilder, FailFastEvent, FailFastMetrics, OpenCause,
    State as FailFastState,
};
pub use failsafe_driver::{
    ByOutcome, ClassifyHealth, FailFastGuard, FailFastPolicy, Health, UnhealthyWhen,
};

mod bulkhead;

pub use bulkhead::{Bulkhead, BulkheadMachine};
pub use failsafe_core::bulkhead::{
    Aimd, AimdBuilder, BulkheadConfig, BulkheadConfigBuilder, BulkheadEvent, BulkheadMetrics,
    BulkheadPermit, FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
};
pub use failsafe_core::sync::SharedBulkhead;
pub use failsafe_driver::{AcquireSlot, BulkheadGuard, BulkheadPolicy};
