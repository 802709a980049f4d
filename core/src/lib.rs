//! # failsafe-core
//!
//! Resilience patterns as pure state machines, for a Cortex-M with no heap and
//! a cloud service alike.
//!
//! ## The contract
//!
//! The core **never reads a clock, never sleeps, never allocates, never
//! spawns and never draws randomness on its own.** Everything it needs
//! arrives as arguments; everything it decides comes back as values:
//!
//! - **Time** is an [`Instant`] (u64 nanoseconds since an epoch the adapter
//!   picks) passed into every call. Arithmetic saturates; a `now` earlier than
//!   one already seen is treated as "no time passed".
//! - **Verbs**: `acquire(now) -> Result<Permit, Rejected>` asks whether a call
//!   may start; `record(now, permit, outcome)` says how it ended;
//!   `next_deadline()` / `on_deadline(now)` tell the driver when to come back
//!   even if nothing happens (spurious calls are no-ops).
//! - **Permits are tokens**: `#[must_use]`, not `Clone`, tied to the state
//!   that issued them, so capacity is returned exactly once and late results
//!   are never counted in the wrong state.
//! - **Rejections say when**: [`Rejected::retry_at`] is the earliest instant
//!   worth trying again, where one is known.
//! - **Events** go to an [`Observer`] chosen by the caller (`()` by default,
//!   which compiles to nothing).
//! - **Randomness** comes from a caller-provided [`rng::Rng`].
//! - **Capacity is in the type**: windows take const generics; zero capacity
//!   fails to compile.
//! - **Configuration is validated**: builders return
//!   `Result<Config, ConfigError>`, and are `const` so firmware checks them at
//!   compile time.
//!
//! Two contracts cover every pattern: admission machines (breaker, fail
//! fast, bulkhead, rate limiters, a feature flag's gate) implement [`admission::Admission`]; per-call
//! plans (retry, timeout, fallback) implement [`plan::Plan`]. One classifier
//! ([`classify::Classify`]) judges results for all of them.
//!
//! Sharing is the adapters' job; [`sync`] holds the pieces they share.
//!
//! ## Patterns
//!
//! | pattern | module |
//! |---|---|
//! | Circuit breaker | [`breaker`] |
//! | Retry (backoffs, jitter, budgets) | [`retry`] |
//! | Timeout and deadlines | [`timeout`] |
//! | Fallback (which reasons fall back) | [`fallback`] |
//! | Fail fast (known-down dependencies, deadline-aware) | [`failfast`] |
//! | Rate limiting (GCRA, token bucket, windows, keyed) | [`rate`] |
//! | Bulkhead (FIFO wait queue, adaptive limits) | [`bulkhead`] |
//! | Cache (S3-FIFO / SIEVE store, stale-on-error, refresh-ahead, negative caching) | [`cache`] |
//! | Feature toggle (lock-free flags, rollout, lists, schedules, kill switch) | [`toggle`] |
//! | Chaos injection (errors, outcomes, hangs, latency; by rate or schedule) | [`chaos`] |
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
// Every fallible public function says how it fails; CI's clippy (`-D
// warnings`) holds the core to it.
#![warn(clippy::missing_errors_doc)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod admission;
#[cfg(feature = "arbitrary")]
pub mod arbitrary;
mod atomic;
pub mod breaker;
pub mod bulkhead;
pub mod cache;
pub mod chain;
pub mod chaos;
pub mod classify;
mod error;
pub mod event;
pub mod failfast;
pub mod fallback;
pub mod hedge;
mod outcome;
pub mod plan;
pub mod rate;
pub mod retry;
pub mod rng;
#[cfg(feature = "serde")]
pub mod serde_support;
mod sliding;
pub mod sync;
pub mod time;
pub mod timeout;
pub mod toggle;

pub use error::{ConfigError, Problem, RejectReason, Rejected, checked};
pub use event::{FnObserver, Observer};
pub use outcome::Outcome;
pub use time::{Instant, TimeSource};
