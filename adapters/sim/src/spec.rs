//! What a TOML file says: scenarios and pipelines.
//!
//! Every pattern's settings are the core's own configuration types in
//! their file form (failsafe-core's `serde` feature, see
//! `failsafe_core::serde_support`): keys are the builders' setter names,
//! durations are strings (`"250ms"`, `"1.5s"`, `"1m30s"`), and a bad value
//! is the builder's error naming the field, with the file's line. Only
//! what belongs to the simulator (traffic, the modelled server, the
//! breaker's window, a budget's kind) is defined here.

use core::time::Duration;

use failsafe_core::breaker::BreakerConfig;
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::chaos::ChaosConfig;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{RatioBudget, RetryConfig, TokenQuota};
use failsafe_core::serde_support::{duration, option_duration};
use serde::{Deserialize, Deserializer};

/// A duration that must be above zero (a run's length, a timeout, a
/// window, a time-series point): zero is an error naming the key and the
/// line, not a run that silently sends nothing or times every call out.
mod positive_duration {
    use core::time::Duration;

    use serde::Deserializer;
    use serde::de::Error as _;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let value = failsafe_core::serde_support::duration::deserialize(d)?;
        if value.is_zero() {
            return Err(D::Error::custom("must be greater than zero"));
        }
        Ok(value)
    }
}

/// [`positive_duration`] when present.
mod option_positive_duration {
    use core::time::Duration;

    use serde::Deserializer;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::positive_duration::deserialize(d).map(Some)
    }
}

/// The field `field` of a `kind`-tagged table (`limit_sharing`,
/// `breaker_window`): serde reads such a table whole before choosing its
/// variant, so an error in it carries the table's line and key, not the
/// field's. Its message starts with [`FIELD_MARK`] and the field's name, and
/// [`crate::suite::parse`] writes the key as `table.field`.
fn field_error<E: serde::de::Error>(field: &str, message: impl core::fmt::Display) -> E {
    let message = message.to_string();
    E::custom(format_args!("{FIELD_MARK}{field}`: {}", message.trim_end()))
}

/// How a message of [`field_error`] starts (then the field and "`: ").
pub(crate) const FIELD_MARK: &str = "in field `";

/// `limit_sharing.ttl`: a lease's validity, above zero when given.
fn lease_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = duration::deserialize(d).map_err(|e| field_error("ttl", e))?;
    if value.is_zero() {
        return Err(field_error("ttl", "must be greater than zero"));
    }
    Ok(Some(value))
}

/// Buckets of a breaker's time window (`breaker_window = { kind = "time" }`).
pub const TIME_WINDOW_BUCKETS: usize = 10;

/// `breaker_window.window`: at least one nanosecond for each of its
/// [`TIME_WINDOW_BUCKETS`] buckets.
fn time_window<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = duration::deserialize(d).map_err(|e| field_error("window", e))?;
    let least = Duration::from_nanos(TIME_WINDOW_BUCKETS as u64);
    if value.is_zero() {
        return Err(field_error("window", "must be greater than zero"));
    }
    if value < least {
        return Err(field_error(
            "window",
            format_args!(
                "must be at least {least:?} (one nanosecond for each of its {TIME_WINDOW_BUCKETS} buckets), not {value:?}"
            ),
        ));
    }
    Ok(value)
}

/// A count that must be at least 1.
fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n == 0 {
        return Err(serde::de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

/// A whole file: a seed, scenarios and the pipelines each runs with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteSpec {
    /// The seed of every run (each scenario derives its own from it).
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
    /// Its name (`--scenario NAME`; not blank).
    pub name: String,
    /// One line saying what happens.
    #[serde(default)]
    pub description: String,
    /// A note for the report (what to compare the figures with).
    #[serde(default)]
    pub note: String,
    /// How long clients send calls (above zero; at most [`MAX_CALLS`]
    /// calls at `rate_per_sec`).
    #[serde(with = "positive_duration")]
    pub duration: Duration,
    /// Open traffic: calls per second, Poisson arrivals (at most
    /// [`MAX_RATE_PER_SEC`]). Not with `clients` (a file giving both is
    /// refused).
    #[serde(default)]
    pub rate_per_sec: f64,
    /// Closed traffic: this many clients each make one call at time zero
    /// (the contention experiment; at most [`MAX_CLIENTS`]).
    #[serde(default)]
    pub clients: Option<u32>,
    /// When the dependency is healthy again (for the time to recover):
    /// before the traffic's last time bucket, since recovery is looked for
    /// while calls arrive.
    #[serde(default, with = "option_duration")]
    pub recovers_at: Option<Duration>,
    /// The pipelines to run it with, by name (all of them if empty).
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// The dependency.
    pub dependency: DependencySpec,
    /// How long calls still open when the traffic ends (`duration`) may
    /// go on (default 60 s); the run stops then, and calls still open
    /// count as hung.
    #[serde(default, with = "option_duration")]
    pub drain: Option<Duration>,
    /// Width of one point of the time series (default: duration / 240;
    /// at least 1 ms, and at most [`MAX_POINTS`] points in a run).
    #[serde(default, with = "option_positive_duration")]
    pub bucket: Option<Duration>,
    /// Many client instances sharing one rate limit (issue 14): the
    /// traffic (`rate_per_sec`, in total) is split between `instances`,
    /// and each pipeline says how they share its `rate_limit`
    /// (`limit_sharing`). See [`crate::shared`].
    #[serde(default)]
    pub shared: Option<SharedSpec>,
}

/// A scenario's client instances and the store they share a limit in.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedSpec {
    /// Client instances, each sending `rate_per_sec / instances` calls
    /// per second (Poisson arrivals, a random stream of its own): 1 to
    /// [`MAX_INSTANCES`].
    pub instances: u32,
    /// One round trip to the shared store (virtual; the store applies a
    /// request half-way through it). Default 1 ms.
    #[serde(default, with = "option_duration")]
    pub store_rtt: Option<Duration>,
    /// The window over which the calls sent upstream are counted for the
    /// worst window (default 1 s), compared with `shared_bound` and
    /// `leased_bound` over the same length (above zero).
    #[serde(default, with = "option_positive_duration")]
    pub window: Option<Duration>,
}

/// How the instances of a `shared` scenario share a pipeline's
/// `rate_limit` (the global quota).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SharingSpec {
    /// Each instance its own local limiter at the whole quota (no store):
    /// together they admit up to `instances` times the quota.
    Local {},
    /// Every call is one `gcra_step` on the store's key, one round trip
    /// before the call proceeds.
    Shared {},
    /// Each instance leases `batch` permits at a time from the store's key
    /// (one round trip per batch, `failsafe_core::rate::shared::Lease`),
    /// valid for `ttl` (default 1 s); a refused batch is not asked for
    /// again before the store's `retry_at`.
    Leased {
        /// Permits per lease (1 to the quota's burst).
        batch: u32,
        /// How long leased permits stay valid (above zero).
        #[serde(default, deserialize_with = "lease_ttl")]
        ttl: Option<Duration>,
    },
}

/// A modelled dependency.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependencySpec {
    /// Service time of one call.
    #[serde(default, with = "duration")]
    pub latency: Duration,
    /// Plus a uniform extra in `[0, latency_jitter]`.
    #[serde(default, with = "duration")]
    pub latency_jitter: Duration,
    /// A server of limited capacity: workers and a FIFO queue; a call that
    /// finds the queue full is answered 503 at once. Queued work is never
    /// dropped when its caller times out (the metastable-failure shape).
    #[serde(default)]
    pub capacity: Option<CapacitySpec>,
    /// A throttling upstream: a GCRA with this quota (the core's file
    /// form: `rate`, `per`, `burst`) admits calls, the rest are answered
    /// 429 with `Retry-After` (when the next would be admitted).
    #[serde(default)]
    pub throttle: Option<Quota>,
    /// Optimistic concurrency: an attempt fails if another committed
    /// while it ran (the AWS backoff-and-jitter experiment).
    #[serde(default)]
    pub contention: bool,
    /// Injected faults: the core's chaos configuration (`error`,
    /// `outcome`, `hang`: `{ rate, schedule }`; `latency`: `{ rate, min,
    /// max, schedule }`; rates are ratios of calls).
    #[serde(default)]
    pub chaos: Option<ChaosConfig>,
}

/// A server's capacity.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacitySpec {
    /// Calls served at once (at least 1; idle workers take no memory).
    #[serde(deserialize_with = "positive_u32")]
    pub workers: u32,
    /// Calls waiting at most.
    pub queue: u32,
}

/// A pipeline: the patterns around each call, each in the core's file
/// form. An empty one (only a name) is "no protection".
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Its name in the report (not blank).
    pub name: String,
    /// A circuit breaker (`BreakerConfig`).
    #[serde(default)]
    pub breaker: Option<BreakerConfig>,
    /// The breaker's window (the last 100 calls when left out; only with
    /// a `breaker`).
    #[serde(default)]
    pub breaker_window: Option<WindowSpec>,
    /// Fail fast (`FailFastConfig`).
    #[serde(default)]
    pub fail_fast: Option<FailFastConfig>,
    /// A client-side GCRA rate limiter (`Quota`).
    #[serde(default)]
    pub rate_limit: Option<Quota>,
    /// A bulkhead (`BulkheadConfig`; a full one rejects: calls never
    /// queue in the simulator).
    #[serde(default)]
    pub bulkhead: Option<BulkheadConfig>,
    /// Retries (`RetryConfig`).
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// A retry budget shared by all calls.
    #[serde(default)]
    pub budget: Option<BudgetSpec>,
    /// Each attempt's timeout (above zero).
    #[serde(default, with = "option_positive_duration")]
    pub attempt_timeout: Option<Duration>,
    /// The whole call's timeout (above zero).
    #[serde(default, with = "option_positive_duration")]
    pub timeout: Option<Duration>,
    /// In a `shared` scenario only: how the instances share `rate_limit`.
    #[serde(default)]
    pub limit_sharing: Option<SharingSpec>,
}

/// The breaker's window.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WindowSpec {
    /// The last 100 calls. (Struct-like, so a key it does not have is an
    /// error rather than ignored.)
    Count {},
    /// The calls of the last `window`, in [`TIME_WINDOW_BUCKETS`] buckets.
    Time {
        /// How far back (at least a nanosecond a bucket: 10 ns).
        #[serde(deserialize_with = "time_window")]
        window: Duration,
    },
    /// None (consecutive failures only).
    None {},
}

impl Default for WindowSpec {
    fn default() -> Self {
        WindowSpec::Count {}
    }
}

/// A retry budget: the core's budgets in their file form, with a `kind`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BudgetSpec {
    /// tower's `TpsBudget` shape (`ttl`, `ratio`, `min_per_sec`).
    Ratio(RatioBudget<10>),
    /// The AWS SDKs' retry quota (`capacity`, `error_cost`,
    /// `timeout_cost`, `throttle_cost`, `first_try_refund`; the standard
    /// quota when left out).
    Tokens(TokenQuota),
}

/// The highest `rate_per_sec` (open traffic, in total): ten million calls
/// a second. Arrival gaps are whole nanoseconds, rounded down, so a rate
/// `r` sends about `r × (1 + r / 2e9)` calls a second: 0.5% too many at
/// this cap, 72% too many at 10^9.
pub const MAX_RATE_PER_SEC: f64 = 1e7;

/// The most calls a scenario may be expected to send (`rate_per_sec` ×
/// `duration`): ten billion, about twenty minutes of the engine at its
/// best; a longer run is a typo (`"100000000000h"`), not a plan.
pub const MAX_CALLS: f64 = 1e10;

/// Clients of closed traffic at most (`clients`): the calls the engine
/// can hold in flight at once (4,194,304).
pub const MAX_CLIENTS: u32 = crate::engine::MAX_SLOTS as u32;

/// Client instances of a `shared` scenario at most (`shared.instances`):
/// a hundred thousand, each with its state and its stream of arrivals
/// (about 150 bytes).
pub const MAX_INSTANCES: u32 = 100_000;

/// Points of a run's time series at most (its length and drain over its
/// `bucket`): a million, 48 MB of counters. A finer series is an error
/// rather than an allocation the machine may not have.
pub const MAX_POINTS: u64 = 1_000_000;
