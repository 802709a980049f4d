//! # failsafe-embassy
//!
//! Resilience patterns for [embassy](https://embassy.dev) firmware: `no_std`,
//! no allocation, state in `static`s. The core decides, [`failsafe_driver`]
//! runs the calls (its [`prelude`](failsafe_driver::prelude) is re-exported);
//! this crate adds [`EmbassyClock`], [`WakeAt`] (for `Timer::at`),
//! [`MutexLock`], `DefmtObserver` (feature `defmt`) and `const`
//! constructors of `static` [`Policy`]s ([`circuit_breaker`], [`fail_fast`],
//! [`bulkhead`], [`rate_limiter`], [`keyed_rate_limiter`], [`from_lock`],
//! [`pipeline`], [`RetryPolicy`]), with [`EmbassyPolicy`]'s verbs;
//! operator actions: `policy.shared().with(|m| ..)`.
//!
//! ## Quick start
//!
//! ```
//! use core::time::Duration;
//! use embassy_time::Timer;
//! use failsafe_embassy::{circuit_breaker, BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, WakeAt};
//!
//! // Open when half of at least 10 of the last 20 calls failed, for 5 s.
//! const CONFIG: BreakerConfig = failsafe_embassy::checked(BreakerConfig::builder()
//!     .failure_rate_threshold(0.5).minimum_calls(10).open_wait(Duration::from_secs(5)).build());
//! static SENSOR: CircuitBreakerPolicy<CountWindow<20>> = circuit_breaker(&CONFIG, CountWindow::new());
//! async fn read_sensor() -> Result<u16, ()> { Ok(421) } // talk to the hardware here
//!
//! async fn sample() -> Option<u16> {
//!     match SENSOR.call(read_sensor).await {
//!         Ok(value) => Some(value),
//!         Err(Error::Rejected(rejected)) => {
//!             // Open: the bus was not touched. Come back when a probe is admitted.
//!             if let Some(at) = rejected.wake_at() { Timer::at(at).await; }
//!             None
//!         }
//!         Err(_bus_error) => None, // counted as a failure
//!     }
//! }
//! # assert_eq!(futures_lite::future::block_on(sample()), Some(421));
//! ```
//!
//! Tasks and interrupt handlers may share a `static` whose lock masks
//! interrupts ([`CsKind`], `EmbassyMutex<CriticalSectionRawMutex>`); on
//! thumbv6m (no CAS) enable the `critical-section` feature.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod clock;
mod policy;
mod retry;

pub use clock::{EmbassyClock, WakeAt};
#[cfg(feature = "defmt")]
pub use failsafe_driver::DefmtObserver;
pub use policy::{
    BulkheadPolicy, CircuitBreakerPolicy, EmbassyMutex, EmbassyPolicy, FailFastPolicy,
    KeyedRateLimiterPolicy, LockedPolicy, MutexLock, Pipeline, RateLimiterPolicy, bulkhead,
    circuit_breaker, fail_fast, from_lock, keyed_rate_limiter, pipeline, rate_limiter,
};
pub use retry::{RetryPolicy, with_timeout};

/// The driver, with the core's machines and vocabulary it re-exports.
pub use ::failsafe_driver as driver;
pub use failsafe_driver::breaker::{CircuitBreaker, Counters, NoCounters};
pub use failsafe_driver::const_config;
pub use failsafe_driver::failfast::FailFast;
pub use failsafe_driver::prelude::*;
pub use failsafe_driver::sync::{CsLock, Lock, SharedAdmission};
pub use failsafe_driver::{CsKind, FnObserver, LockKind, Observer, bulkhead::Bulkhead};
