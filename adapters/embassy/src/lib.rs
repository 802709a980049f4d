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
//! - [`EmbassyClock`]: embassy-time as the driver's [`Clock`] and
//!   [`Runtime`], for the runtime-agnostic pieces of [`failsafe_driver`].
//! - [`call`] / [`call_with`]: the same wrappers for any shared policy.
//! - With the `defmt` feature: `defmt::Format` on every core and driver type,
//!   and `DefmtObserver`, which logs breaker events.
//!
//! The decisions are made by [`failsafe_core`]'s pure state machines; this
//! crate only binds them to embassy's clock and shares them. The machines'
//! types are re-exported here, so firmware needs only this crate.
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
//!             if let Some(at) = rejected.retry_at {
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
//! ## Time
//!
//! Core instants are microseconds since boot (embassy's epoch), read once per
//! call. Deadlines are rounded up when handed to an embassy timer, so a timer
//! never fires before the breaker would agree that the deadline has passed.
//!
//! ## Testing your firmware logic on the host
//!
//! Enable embassy-time's `mock-driver` (plus a `generic-queue-*` feature) and
//! `critical-section`'s `std` feature in your dev-dependencies; then
//! `embassy_time::MockDriver::get().advance(d)` moves the breaker through
//! open, half-open and closed in virtual time. The mock and the `std` time
//! drivers cannot be linked into one binary.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod breaker;
mod call;
mod clock;
#[cfg(feature = "defmt")]
mod defmt_observer;
mod lock;

pub use breaker::{CircuitBreaker, Machine};
pub use call::{call, call_with};
pub use clock::EmbassyClock;
#[cfg(feature = "defmt")]
pub use defmt_observer::DefmtObserver;
pub use lock::MutexLock;

pub use failsafe_core;
pub use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, CountWindow, NoWindow, State, TimeWindow,
};
pub use failsafe_core::sync::CsLock;
pub use failsafe_core::{FnObserver, Instant, Observer, Outcome, RejectReason, Rejected};
pub use failsafe_driver;
pub use failsafe_driver::{Classify, Clock, DefaultClassifier, Error, PermitGuard, Runtime};
