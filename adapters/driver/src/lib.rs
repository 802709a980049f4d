//! # failsafe-driver
//!
//! The one place that knows how to run a call through a
//! [`failsafe_core`] machine, generic over a tiny runtime trait ([`Clock`],
//! [`Runtime`]). The tokio, async-std, embassy and thread adapters only bind
//! it to their clocks and add what is specific to them.
//!
//! - [`SharedPolicy`]: a machine's `acquire` / `record` from `&self`;
//! - [`PermitGuard`]: returns its permit exactly once, as `Cancelled` on drop;
//! - [`call`] / [`call_blocking`]: acquire, run, classify, record;
//! - [`Classify`]: which results count as failures;
//! - [`Error`]: the inner error kept typed, or the rejection with its
//!   `retry_at`, or the deadline that passed;
//! - [`retry`] / [`retry_blocking`]: the retry loop over the core's machine,
//!   sleeping on the runtime's timer, with a shared budget;
//! - [`timeout`]: races an operation against the runtime's timer (or, in
//!   soft mode, only reports the overrun) and hands the deadline down;
//! - [`fallback`] / [`fallback_blocking`]: answer a failure with an alternative;
//! - with the `std` feature: [`StdLock`], [`Hook`], [`StdClock`] and the
//!   cloneable [`Breaker`] handle.
//! - [`RetryLoop`]: the retry loop as steps, for hand-written (nameable)
//!   futures; [`BlockingRuntime`] and [`timeout_blocking`] for threads;
//! - with the `std` feature: the cloneable [`RetryPolicy`] (with a
//!   [`SharedBudget`]), [`TimeoutPolicy`] and [`Fallback`] handles the std
//!   adapters bind to their clocks.
#![no_std]

pub mod admit;
mod call;
mod classify;
mod clock;
mod error;
mod fallback;
mod policy;
#[cfg(feature = "quanta")]
mod quanta_clock;
mod retry;
#[cfg(feature = "std")]
mod std_support;
mod timeout;

pub use admit::{Admit, Ask, Guard, try_acquire, try_acquire_keyed};
pub use call::{call, call_blocking};
pub use classify::{Classify, DefaultClassifier};
pub use clock::{Clock, Runtime};
pub use error::Error;
pub use fallback::{FallbackCause, fallback, fallback_blocking};
pub use policy::{PermitGuard, SharedPolicy};
#[cfg(feature = "quanta")]
pub use quanta_clock::QuantaClock;
pub use retry::{
    Attempt, RetryClassify, RetryContext, RetryError, RetryOnErr, RetryOnFailsafeError, retry,
    retry_blocking,
};
#[cfg(feature = "std")]
pub use std_support::{Breaker, Hook, SharedStdBreaker, StdClock, StdLock};
pub use timeout::timeout;
mod blocking;
mod retry_loop;
#[cfg(feature = "std")]
mod std_fallback;
#[cfg(feature = "std")]
mod std_retry;
#[cfg(feature = "std")]
mod std_timeout;
pub use blocking::{BlockingRuntime, timeout_blocking};
pub use retry_loop::{RetryLoop, RetryStep};
#[cfg(feature = "std")]
pub use std_fallback::{BlockingChain, Fallback, FallbackChain};
#[cfg(feature = "std")]
pub use std_retry::{RetryPolicy, SharedBudget};
#[cfg(feature = "std")]
pub use std_timeout::TimeoutPolicy;
pub mod rate;
#[cfg(feature = "std")]
mod std_rate;
pub use rate::{
    AcquireStep, Acquisition, BookingGuard, DEFAULT_MAX_WAIT, KeyedLimiter, Limiter, LockedLimiter,
    SharedKeyedLimiter, SharedLimiter, WithKey,
};
#[cfg(feature = "std")]
pub use std_rate::{KeyedRateLimiter, RateLimiter, SharedKeyedGcra};
mod failfast;
#[cfg(feature = "std")]
mod std_failfast;
pub use failfast::{
    ByOutcome, ClassifyHealth, FailFastGuard, FailFastPolicy, Health, UnhealthyWhen, fail_fast,
    fail_fast_blocking,
};
#[cfg(feature = "std")]
pub use std_failfast::{FailFast, SharedStdFailFast};
pub mod bulkhead;
#[cfg(feature = "std")]
mod std_bulkhead;
pub use bulkhead::{AcquireSlot, BulkheadGuard, BulkheadPolicy, SlotStep, SlotWait};
#[cfg(feature = "std")]
pub use std_bulkhead::{Bulkhead, OwnedBulkheadGuard, Park, SharedStdBulkhead};
#[cfg(feature = "std")]
mod patterns;
mod policy_handle;
#[cfg(feature = "std")]
mod std_blocking;
#[cfg(feature = "std")]
pub use patterns::{
    BulkheadPolicy as BulkheadHandle, CircuitBreakerPolicy, DEFAULT_MAX_WAIT as RATE_MAX_WAIT,
    FailFastPolicy as FailFastHandle, KeyedRateLimiterPolicy, RateLimiterPolicy, StdShared,
};
pub use policy_handle::Policy;
#[cfg(feature = "std")]
pub use std_blocking::admit_blocking;
