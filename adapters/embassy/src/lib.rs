//! # failsafe-embassy
//!
//! Resilience patterns for [embassy](https://embassy.dev) firmware: `no_std`,
//! no allocation, state in `static`s. `failsafe-core`'s machines decide,
//! [`failsafe_driver`]'s one path runs the calls; this crate adds
//! [`EmbassyClock`] (the driver's [`Clock`] and [`Runtime`]), [`WakeAt`]
//! (every rejection's `retry_at`, policy's `next_deadline()` and
//! [`Deadline`] as the `embassy_time::Instant` `Timer::at` takes),
//! [`MutexLock`] and the [`LockKind`]s naming a policy's lock once
//! ([`CsKind`], [`EmbassyMutex`]),
//! `DefmtObserver` (feature `defmt`), and `const` constructors, so each
//! pattern's [`Policy`] is a `static`: [`circuit_breaker`], [`fail_fast`],
//! [`bulkhead`], [`rate_limiter`] (lock-free), [`keyed_rate_limiter`],
//! [`from_lock`] (any machine, any lock). Every policy has the same verbs:
//! `call(|| async ..)`, `call_with(&classify, ..)`, `try_acquire()`,
//! `acquire().await` (a [`Guard`]: the permit back once, `Cancelled` if
//! dropped), and [`EmbassyPolicy`]'s `call_blocking` (never waits) and
//! `by_ref()` (one call's weight, deadline or wait). Operator actions go to
//! the machine: `policy.shared().with(|machine| ..)`. [`RetryPolicy`] keeps
//! a retry's budget and jitter in `static`s.
//!
//! ## Quick start
//!
//! ```
//! use core::time::Duration;
//! use embassy_time::Timer;
//! use failsafe_embassy::{circuit_breaker, BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, WakeAt};
//!
//! const CONFIG: BreakerConfig = failsafe_embassy::checked(BreakerConfig::builder()
//!     .failure_rate_threshold(0.5) // open when half of ...
//!     .minimum_calls(10)           // ... at least 10 of the last 20 calls failed
//!     .open_wait(Duration::from_secs(5))
//!     .build());
//!
//! static SENSOR: CircuitBreakerPolicy<CountWindow<20>> = circuit_breaker(&CONFIG, CountWindow::new());
//!
//! async fn read_sensor() -> Result<u16, ()> { Ok(421) } // talk to the hardware here
//!
//! async fn sample() -> Option<u16> {
//!     match SENSOR.call(read_sensor).await {
//!         Ok(value) => Some(value),
//!         Err(Error::Rejected(rejected)) => {
//!             // Open: the bus was not touched. Come back when a probe is admitted.
//!             if let Some(at) = rejected.wake_at() {
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
//! Tasks and interrupt handlers may share a `static` if its lock masks
//! interrupts ([`CsLock`], `MutexLock<CriticalSectionRawMutex, _>`: the
//! kinds [`CsKind`] and `EmbassyMutex<CriticalSectionRawMutex>`); on
//! thumbv6m (no CAS) enable the `critical-section` feature. [`pipeline`]
//! puts policies, a retry and timeouts around one call, in a `static`.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;
#[cfg(feature = "defmt")]
mod defmt_observer;
mod lock;
mod policy;
mod retry;
mod wake;

pub use clock::EmbassyClock;
#[cfg(feature = "defmt")]
pub use defmt_observer::DefmtObserver;
pub use failsafe_driver::{checked, const_config};
pub use lock::{CsKind, EmbassyMutex, LockKind, MutexLock};
pub use policy::{
    BulkheadPolicy, CircuitBreakerPolicy, EmbassyPolicy, FailFastPolicy, KeyedRateLimiterPolicy,
    LockedPolicy, Pipeline, RateLimiterPolicy, StaticBreaker, bulkhead, circuit_breaker, fail_fast,
    from_lock, keyed_rate_limiter, pipeline, rate_limiter,
};
pub use retry::{RetryPolicy, with_timeout};
pub use wake::WakeAt;

/// The driver, with the core's machines and vocabulary it re-exports.
pub use ::failsafe_driver as driver;
pub use failsafe_driver::breaker::{
    BreakerConfig, BreakerEvent, CircuitBreaker, CountWindow, NoWindow, State, TimeWindow,
};
pub use failsafe_driver::bulkhead::{Aimd, Bulkhead, BulkheadConfig, BulkheadEvent, FixedLimit};
pub use failsafe_driver::failfast::{
    CloseCause, FailFast, FailFastConfig, FailFastEvent, OpenCause, State as FailFastState,
};
pub use failsafe_driver::fallback_machine::{FallbackEvent, FallbackPolicy, FallbackReason};
pub use failsafe_driver::rate::{
    AtomicGcra, FixedWindow, KeyedGcra, Quota, Reservation, SlidingWindow, Throttle, TokenBucket,
    WhenFull,
};
pub use failsafe_driver::retry_machine::{
    BackoffKind, FailureKind, GiveUp, GrpcThrottle, Jitter, NoBudget, RatioBudget, RetryBudget,
    RetryConfig, RetryEvent, TokenQuota, Verdict,
};
pub use failsafe_driver::sync::{CsLock, Lock, Shared, SharedAdmission};
pub use failsafe_driver::timeout_machine::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
pub use failsafe_driver::{
    Attempt, Classify, Clock, DefaultClassifier, Error, FallbackCause, Guard, Policy, RetryError,
    RetryOnErr, RetryOnFailsafeError, Runtime,
};
pub use failsafe_driver::{
    ConfigError, FnObserver, Instant, Observer, Outcome, RejectReason, Rejected,
};
