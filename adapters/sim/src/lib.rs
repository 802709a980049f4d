//! # failsafe-sim
//!
//! A virtual-time resilience lab: the real failsafe-core machines (circuit
//! breaker, fail fast, rate limiter, bulkhead, retry with backoff and
//! jitter, timeouts) composed as pipelines and run against modelled
//! dependencies (outages, brownouts, overload, throttling, flapping,
//! contention) in virtual time: no sleeping, next-deadline stepping,
//! reproducible from a seed.
//!
//! | module | what it holds |
//! |---|---|
//! | [`spec`] | what a TOML file says: scenarios, pipelines (the core's own configs) |
//! | [`pipeline`] | a pipeline's machines ([`pipeline::Guards`], entered in the driver's order) and policy ([`pipeline::Built`]) |
//! | [`dependency`] | the modelled dependency: chaos, server capacity, a 429 upstream, optimistic concurrency, scripted answers |
//! | [`engine`] | the discrete-event engine driving the machines and each call's retry plan |
//! | [`driver_engine`] | the same runs through the driver's async `Pipeline` on a virtual-time runtime |
//! | [`metrics`] | counters, the latency histogram, the time series |
//! | [`run`], [`suite`] | one run summed up; a whole suite, the built-in one embedded |
//! | [`report`], [`plot`] | the table, `report.md`, the SVG plots |
//! | [`shared`] | many instances sharing one rate limit: local-only, a store key, leased batches |
//! | [`harness`] | the public test harness |
//! | [`chaos`] | the core's chaos machine, re-exported |

pub mod chaos;
pub mod dependency;
pub mod driver_engine;
pub mod engine;
mod gaps;
pub mod harness;
pub mod metrics;
pub mod pipeline;
pub mod plot;
pub mod report;
pub mod run;
pub mod shared;
pub mod spec;
pub mod suite;
