//! # failsafe-embassy
//!
//! Resilience patterns for [embassy](https://embassy.dev) firmware: `no_std`,
//! no allocation, state in `static`s, time from `embassy-time`. The
//! decisions are [`failsafe_core`]'s machines, the calls and waits
//! [`failsafe_driver`]'s one path; this crate binds them to embassy:
//!
//! - [`EmbassyClock`]: embassy-time as the driver's [`Clock`] and [`Runtime`];
//! - `const` constructors, so every pattern's handle is a `static`:
//!   [`circuit_breaker`], [`fail_fast`], [`bulkhead`], [`rate_limiter`]
//!   (lock-free), [`keyed_rate_limiter`], and [`from_lock`] for any machine
//!   in any lock (an observer, an adaptive limit, a token bucket, a
//!   [`MutexLock`] over the embassy-sync raw mutex you pick). Each returns a
//!   [`Policy`] (aliases [`CircuitBreakerPolicy`], [`FailFastPolicy`],
//!   [`BulkheadPolicy`], [`RateLimiterPolicy`], [`KeyedRateLimiterPolicy`],
//!   [`LockedPolicy`]) with the same verbs for every pattern: `call(|| async
//!   ..)`, `call_with(&classify, ..)`, `try_acquire()` and `acquire().await`
//!   (a [`Guard`] handing the permit back once, `Cancelled` if dropped), and
//!   [`EmbassyPolicy`]'s `call_blocking` (never waits: interrupt handlers)
//!   and `by_ref()` (one call's weight, deadline or wait);
//! - operator actions on the shared machine: `policy.shared().with(|m| ..)`,
//!   `.state()`, `.metrics(..)`, with instants from [`EmbassyClock`];
//! - [`RetryPolicy`] (config, shared budget and jitter in `static`s),
//!   [`with_timeout`], [`fallback`], [`config_or_panic`];
//! - with the `defmt` feature: `defmt::Format` on the core and driver types
//!   and `DefmtObserver`, which logs every pattern's events.
//!
//! ## Quick start
//!
//! ```
//! use core::time::Duration;
//! use embassy_time::Timer;
//! use failsafe_embassy::{circuit_breaker, BreakerConfig, CircuitBreakerPolicy, CountWindow, EmbassyClock, Error};
//!
//! // Checked at compile time: a bad value is a build error naming the field.
//! const CONFIG: BreakerConfig = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5) // open when half of ...
//!     .minimum_calls(10)           // ... at least 10 of the last 20 calls failed
//!     .open_wait(Duration::from_secs(5))
//!     .build_or_panic();
//!
//! static SENSOR: CircuitBreakerPolicy<CountWindow<20>> = circuit_breaker(CONFIG, CountWindow::new());
//!
//! async fn read_sensor() -> Result<u16, ()> {
//!     Ok(421) // talk to the hardware here
//! }
//!
//! async fn sample() -> Option<u16> {
//!     match SENSOR.call(read_sensor).await {
//!         Ok(value) => Some(value),
//!         Err(Error::Rejected(rejected)) => {
//!             // Open: the bus was not touched. Come back when a probe is admitted.
//!             if let Some(at) = EmbassyClock::retry_at(&rejected) {
//!                 Timer::at(at).await;
//!             }
//!             None
//!         }
//!         Err(_bus_error) => None, // counted as a failure
//!     }
//! }
//! # assert_eq!(futures_lite::future::block_on(sample()), Some(421));
//! ```
//!
//! In firmware `sample` runs in an embassy task; several tasks (and
//! interrupt handlers, through `call_blocking` or `try_acquire`) share
//! `SENSOR`. Retries with per-attempt timeouts, from a shared budget:
//!
//! ```
//! use core::time::Duration;
//! use failsafe_embassy::{
//!     config_or_panic, with_timeout, CsLock, Deadline, Error, RetryConfig, RetryError,
//!     RetryOnFailsafeError, RetryPolicy, TimeoutConfig, TokenQuota,
//! };
//!
//! const RETRY: RetryConfig = config_or_panic(RetryConfig::builder().max_attempts(4).build());
//! const PER_ATTEMPT: TimeoutConfig = config_or_panic(TimeoutConfig::new(Duration::from_millis(200)));
//! static GPS_BUDGET: CsLock<TokenQuota> = CsLock::new(config_or_panic(TokenQuota::new(100, 5, 10, 5, 1)));
//! static GPS: RetryPolicy<CsLock<TokenQuota>> = RetryPolicy::new(RETRY, 0x5EED).with_budget(&GPS_BUDGET);
//!
//! async fn read_fix() -> Result<(i32, i32), ()> {
//!     Ok((52_520_008, 13_404_954)) // talk to the module here
//! }
//!
//! async fn fix() -> Result<(i32, i32), RetryError<Error<()>>> {
//!     GPS.run_within(Deadline::NEVER, &RetryOnFailsafeError, |attempt| {
//!         with_timeout(PER_ATTEMPT, attempt.deadline, |_| read_fix())
//!     })
//!     .await
//! }
//! # assert_eq!(futures_lite::future::block_on(fix()), Ok((52_520_008, 13_404_954)));
//! ```
//!
//! ## Interrupt handlers
//!
//! Every `static` here may be used from tasks and interrupt handlers at once
//! on every Cortex-M if its lock masks interrupts (the default [`CsLock`],
//! or `MutexLock<CriticalSectionRawMutex, _>`; not `ThreadModeRawMutex` or
//! `NoopRawMutex`): the lock-free words use real atomics where the core has
//! 64-bit ones and a short critical section where it does not, never a lock
//! an interrupt could spin on. Link one critical-section implementation; on
//! thumbv6m (no CAS) also turn on this crate's `critical-section` feature.
//! See `failsafe_core::sync` for the table.
//!
//! ## Time
//!
//! Core instants are microseconds since boot (embassy's epoch), read once
//! per call and rounded up when handed to an embassy timer, so a timer never
//! fires before a machine agrees its instant has passed.
//! [`EmbassyClock::to_embassy`] and [`EmbassyClock::retry_at`] turn a
//! deadline or a rejection into a `Timer::at` instant.
//!
//! On the host, embassy-time's `mock-driver` (plus a `generic-queue-*`
//! feature, which timers outside embassy-executor need) and
//! critical-section's `std` feature run firmware logic in virtual time:
//! `MockDriver::get().advance(d)`. The mock and `std` drivers cannot link
//! into one binary.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;
#[cfg(feature = "defmt")]
mod defmt_observer;
mod lock;
mod policy;
mod retry;

pub use clock::EmbassyClock;
#[cfg(feature = "defmt")]
pub use defmt_observer::DefmtObserver;
pub use lock::MutexLock;
pub use policy::{
    BulkheadPolicy, CircuitBreakerPolicy, EmbassyPolicy, FailFastPolicy, KeyedRateLimiterPolicy,
    LockedPolicy, RateLimiterPolicy, bulkhead, circuit_breaker, fail_fast, from_lock,
    keyed_rate_limiter, rate_limiter,
};
pub use retry::{RetryPolicy, config_or_panic, fallback, with_timeout};

pub use failsafe_core;
pub use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, CircuitBreaker, CountWindow, NoWindow, State,
    TimeWindow,
};
pub use failsafe_core::bulkhead::{
    Aimd, Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadMetrics, FixedLimit, Gradient2,
    LimitAlgorithm, Vegas,
};
pub use failsafe_core::failfast::{
    CloseCause, FailFast, FailFastConfig, FailFastEvent, FailFastMetrics, OpenCause,
    State as FailFastState,
};
pub use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
pub use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, Reservation, SlidingWindow, Throttle,
    TokenBucket, WhenFull,
};
pub use failsafe_core::retry::{
    Backoff, BackoffKind, FailureKind, GiveUp, Jitter, NoBudget, RatioBudget, RetryBudget,
    RetryConfig, RetryEvent, TokenQuota, Verdict,
};
pub use failsafe_core::rng::{Rng, Xorshift64};
pub use failsafe_core::sync::{CsLock, Lock, Shared, SharedAdmission};
pub use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
pub use failsafe_core::{
    ConfigError, FnObserver, Instant, Observer, Outcome, RejectReason, Rejected,
};
pub use failsafe_driver;
pub use failsafe_driver::{
    Admit, Ask, Attempt, Classify, Clock, DefaultClassifier, Error, FallbackCause, Guard, Policy,
    RetryClassify, RetryError, RetryOnErr, RetryOnFailsafeError, Runtime,
};
