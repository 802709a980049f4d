//! What a TOML file says: scenarios and pipelines, with durations in
//! milliseconds (`_ms`).
//!
//! These are the simulator's own structs. When failsafe-core's config
//! types deserialise (its `serde` feature), [`BreakerSpec`], [`RetrySpec`]
//! and the rest give way to them here, and `pipeline.rs` stops translating.

use serde::Deserialize;

/// A whole file: a seed, scenarios and the pipelines each runs with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteSpec {
    /// The seed of every run (each run derives its own from it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The scenarios, in order.
    #[serde(rename = "scenario")]
    pub scenarios: Vec<ScenarioSpec>,
    /// The pipelines.
    #[serde(rename = "pipeline")]
    pub pipelines: Vec<PipelineSpec>,
}

fn default_seed() -> u64 {
    1
}

/// A scenario: traffic against a modelled dependency.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Its name (`--scenario NAME`).
    pub name: String,
    /// One line saying what happens.
    #[serde(default)]
    pub description: String,
    /// A note for the report (what to compare the figures with).
    #[serde(default)]
    pub note: String,
    /// How long clients send calls.
    pub duration_ms: u64,
    /// Open traffic: calls per second, Poisson arrivals. Ignored when
    /// `clients` is set.
    #[serde(default)]
    pub rate_per_sec: f64,
    /// Closed traffic: this many clients each make one call at time zero
    /// (the contention experiment).
    #[serde(default)]
    pub clients: Option<u32>,
    /// When the dependency is healthy again (for the time to recover).
    #[serde(default)]
    pub recovers_at_ms: Option<u64>,
    /// The pipelines to run it with, by name (all of them if empty).
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// The dependency.
    pub dependency: DependencySpec,
    /// How long calls still open after the last arrival may go on
    /// (default 60 s); calls open after that count as hung.
    #[serde(default)]
    pub drain_ms: Option<u64>,
    /// Width of one point of the time series (default: duration / 240).
    #[serde(default)]
    pub bucket_ms: Option<u64>,
}

/// A modelled dependency.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencySpec {
    /// Service time of one call.
    #[serde(default)]
    pub latency_ms: u64,
    /// Plus a uniform extra in `[0, latency_jitter_ms]`.
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// A server of limited capacity: workers and a FIFO queue; a call that
    /// finds the queue full is answered 503 at once. Queued work is never
    /// dropped when its caller times out (the metastable-failure shape).
    #[serde(default)]
    pub capacity: Option<CapacitySpec>,
    /// A throttling upstream: a GCRA admits calls at this rate, the rest are
    /// answered 429 with `Retry-After` (when the next would be admitted).
    #[serde(default)]
    pub throttle: Option<ThrottleSpec>,
    /// Optimistic concurrency: an attempt fails if another committed
    /// while it ran (the AWS backoff-and-jitter experiment).
    #[serde(default)]
    pub contention: bool,
    /// Injected faults.
    #[serde(default)]
    pub chaos: ChaosSpec,
}

/// A server's capacity.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// Calls served at once.
    pub workers: u32,
    /// Calls waiting at most.
    pub queue: u32,
}

/// A throttling upstream's rate.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Calls admitted per second.
    pub per_second: u32,
    /// Burst.
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

/// Faults to inject, one rule per kind (the chaos machine's builder).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChaosSpec {
    /// Calls failing with an error.
    #[serde(default)]
    pub error: Option<RuleSpec>,
    /// Calls answered with a chosen outcome (a 503).
    #[serde(default)]
    pub outcome: Option<RuleSpec>,
    /// Calls never answered.
    #[serde(default)]
    pub hang: Option<RuleSpec>,
    /// Calls slowed down.
    #[serde(default)]
    pub latency: Option<LatencyRuleSpec>,
}

/// A fault's rate and schedule.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Percent of calls (0 to 100).
    pub percent: f64,
    /// When.
    #[serde(default)]
    pub schedule: ScheduleSpec,
}

/// Added latency, its rate and schedule.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyRuleSpec {
    /// Percent of calls (0 to 100).
    pub percent: f64,
    /// Least added.
    pub min_ms: u64,
    /// Most added.
    pub max_ms: u64,
    /// When.
    #[serde(default)]
    pub schedule: ScheduleSpec,
}

/// When a fault is active.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ScheduleSpec {
    /// All the time.
    #[default]
    Always,
    /// From `from_ms` until `until_ms`.
    Between {
        /// Start.
        from_ms: u64,
        /// End (excluded).
        until_ms: u64,
    },
    /// `active_ms` of every `period_ms`, from `offset_ms` in each period.
    Periodic {
        /// Cycle.
        period_ms: u64,
        /// On for.
        active_ms: u64,
        /// Where it switches on.
        #[serde(default)]
        offset_ms: u64,
    },
    /// Growing from `from_ms` to its full rate at `full_at_ms`.
    Ramp {
        /// Start.
        from_ms: u64,
        /// Full rate.
        full_at_ms: u64,
    },
}

/// A pipeline: the patterns around each call. An empty one (only a name)
/// is "no protection".
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Its name in the report.
    pub name: String,
    /// A circuit breaker.
    #[serde(default)]
    pub breaker: Option<BreakerSpec>,
    /// Fail fast.
    #[serde(default)]
    pub fail_fast: Option<FailFastSpec>,
    /// A client-side rate limiter (GCRA).
    #[serde(default)]
    pub rate_limit: Option<RateSpec>,
    /// A bulkhead.
    #[serde(default)]
    pub bulkhead: Option<BulkheadSpec>,
    /// Retries.
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// A retry budget shared by all calls.
    #[serde(default)]
    pub budget: Option<BudgetSpec>,
    /// Each attempt's timeout.
    #[serde(default)]
    pub attempt_timeout_ms: Option<u64>,
    /// The whole call's timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A circuit breaker (`BreakerConfig`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Failure rate that opens it (0 < r <= 1; default 0.5); 0: no rate rule.
    #[serde(default = "half")]
    pub failure_rate: f32,
    /// Calls in the window before the rate is judged.
    #[serde(default = "ten")]
    pub minimum_calls: u32,
    /// The window.
    #[serde(default)]
    pub window: WindowSpec,
    /// Failures in a row that open it.
    #[serde(default)]
    pub consecutive_failures: Option<u32>,
    /// Open wait before a probe.
    #[serde(default = "thirty_secs")]
    pub open_wait_ms: u64,
    /// Probes per half-open round.
    #[serde(default = "one")]
    pub half_open_probes: u32,
    /// A call slower than this is slow.
    #[serde(default)]
    pub slow_call_ms: Option<u64>,
    /// Slow-call rate that opens it.
    #[serde(default)]
    pub slow_call_rate: Option<f32>,
}

fn half() -> f32 {
    0.5
}

fn ten() -> u32 {
    10
}

fn thirty_secs() -> u64 {
    30_000
}

/// The breaker's window.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    /// The last 100 calls.
    #[default]
    Count,
    /// The last `secs` seconds.
    Time {
        /// Seconds.
        secs: u64,
    },
    /// None (consecutive failures only).
    None,
}

/// Fail fast (`FailFastConfig`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailFastSpec {
    /// Failures in a row that open it.
    pub consecutive_failures: u32,
    /// One probe per interval while open.
    #[serde(default)]
    pub probe_interval_ms: Option<u64>,
}

/// A GCRA rate limiter (`Quota`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    /// Permits per second.
    pub per_second: u32,
    /// Burst.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// A bulkhead (`BulkheadConfig`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkheadSpec {
    /// Calls in flight at most.
    pub max_concurrent: u32,
}

/// Retries (`RetryConfig`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included; 0 is unlimited.
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// The backoff shape.
    #[serde(default)]
    pub backoff: BackoffSpec,
    /// The jitter.
    #[serde(default)]
    pub jitter: JitterSpec,
    /// How a `Retry-After` hint is used.
    #[serde(default)]
    pub retry_after: RetryAfterSpec,
    /// Skip a retry that would leave less than this before the call's
    /// deadline (e.g. the attempt timeout).
    #[serde(default)]
    pub min_remaining_ms: Option<u64>,
}

fn three() -> u32 {
    3
}

/// A backoff shape.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackoffSpec {
    /// The same delay.
    Constant {
        /// Delay.
        delay_ms: u64,
    },
    /// `initial * multiplier^(n-1)`, capped.
    Exponential {
        /// First delay.
        initial_ms: u64,
        /// Growth.
        multiplier: f64,
        /// Cap.
        max_ms: u64,
    },
    /// AWS's decorrelated jitter.
    Decorrelated {
        /// Least delay.
        base_ms: u64,
        /// Cap.
        max_ms: u64,
    },
}

impl Default for BackoffSpec {
    fn default() -> Self {
        BackoffSpec::Exponential {
            initial_ms: 100,
            multiplier: 2.0,
            max_ms: 10_000,
        }
    }
}

/// Jitter.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JitterSpec {
    /// None.
    None,
    /// Uniform in `[0, d]`.
    #[default]
    Full,
    /// Uniform in `[d/2, d]`.
    Equal,
}

/// The use of a `Retry-After` hint.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RetryAfterSpec {
    /// Ignored.
    Ignore,
    /// Clamped to `[computed, computed + max_extra]`.
    Clamp {
        /// Extra allowed.
        max_extra_ms: u64,
    },
    /// Trusted up to `max`.
    Trust {
        /// Longest honoured.
        max_ms: u64,
    },
}

impl Default for RetryAfterSpec {
    fn default() -> Self {
        RetryAfterSpec::Clamp {
            max_extra_ms: 5_000,
        }
    }
}

/// A retry budget.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BudgetSpec {
    /// tower's `TpsBudget`: `ratio` retries per call plus `min_per_sec`.
    Ratio {
        /// Retries per call.
        ratio: f64,
        /// Retries per second always allowed.
        min_per_sec: u32,
        /// Over how long.
        #[serde(default = "ten_secs")]
        ttl_ms: u64,
    },
    /// The AWS SDKs' standard retry quota (500 tokens, 5 per retry).
    Tokens,
}

fn ten_secs() -> u64 {
    10_000
}
