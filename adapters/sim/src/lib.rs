//! # failsafe-sim
//!
//! A virtual-time resilience lab: the real failsafe-core machines (circuit
//! breaker, fail fast, rate limiter, bulkhead, retry with backoff and
//! jitter, timeouts) composed as pipelines and run against modelled
//! dependencies (outages, brownouts, overload, throttling, flapping,
//! contention) in virtual time: no sleeping, next-deadline stepping,
//! reproducible from a seed.
#![allow(clippy::print_stdout)]

pub mod chaos;
pub mod dependency;
pub mod driver_engine;
pub mod engine;
pub mod harness;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod report;
pub mod run;
pub mod spec;
pub mod suite;
