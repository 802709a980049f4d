//! Configurations in files: `serde` for every configuration of the patterns
//! (feature `serde`, no_std, no alloc).
//!
//! Every configuration type serialises and deserialises as a table whose
//! keys are the names of its builder's setters, and a deserialised
//! configuration goes through the **same validation as its builder**: a bad
//! value is an error naming the field (the [`ConfigError`](crate::ConfigError)
//! message), and in a TOML file the error also carries the line and column
//! of the table (toml attaches them to an error raised while it deserialises
//! that table; an error in a nested value, such as a retry's inline
//! `backoff = { ... }` table, points at that value's line).
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::breaker::BreakerConfig;
//!
//! #[derive(serde::Deserialize, Debug)]
//! struct Service {
//!     breaker: BreakerConfig,
//! }
//!
//! let good: Service = toml::from_str(r#"
//!     [breaker]
//!     failure_rate_threshold = 0.25
//!     open_wait = "1m30s"
//! "#).unwrap();
//! assert_eq!(good.breaker.open_wait(), Duration::from_secs(90));
//!
//! let bad = toml::from_str::<Service>("[breaker]\nfailure_rate_threshold = 1.5\n").unwrap_err();
//! assert!(bad.to_string().contains("line 1"));
//! assert!(bad.to_string().contains("invalid `failure_rate_threshold`: must be a ratio in (0, 1]"));
//! ```
//!
//! # The file form
//!
//! - **Keys** are the builder's setter names (`open_wait`, `max_concurrent`,
//!   `time_to_live`, ...); an unknown key is an error (a typo is not
//!   silently ignored).
//! - **A key left out takes the builder's default** (see each builder's
//!   table). A setting that is off by default (`slow_call_duration`,
//!   `consecutive_failures`, a cache's `time_to_live`, ...) is off when left
//!   out. The two settings that are on by default and can be turned off are
//!   turned off with a word: `failure_rate_threshold = "off"` (breaker) and
//!   `max_attempts = "unlimited"` (retry). Types with no defaults (a
//!   [`Quota`](crate::rate::Quota), a [`TokenBucket`](crate::rate::TokenBucket),
//!   a timeout) name the missing key ([`Problem::Missing`](crate::Problem::Missing)).
//! - **Durations** are strings in the grammar of [`duration`]: `"250ms"`,
//!   `"1.5s"`, `"1m30s"`, `"2h"`.
//! - **Ratios and factors** are numbers (`0.5`, `2`).
//! - **Kinds** (a backoff, a retry-after policy) are a table with a `kind`
//!   key and the kind's own keys: `{ kind = "exponential", initial = "100ms",
//!   multiplier = 2.0, max = "10s" }`. A key that belongs to another kind is
//!   an error naming it.
//! - **Enums without data** are `snake_case` strings (`"rate_thresholds"`,
//!   `"evict_least_loaded"`, `"soft"`; an [`Outcome`](crate::Outcome) is
//!   `"success"`, `"timeout"`, ...).
//!
//! Serialising writes every setting in force, leaving out only the
//! settings that are off and the two that equal what they default to from
//! another (`open_wait_max` = `open_wait`, `success_threshold` =
//! `half_open_probes`); reading it back gives an equal configuration. The machines that are their own configuration (the
//! adaptive limits [`Aimd`](crate::bulkhead::Aimd),
//! [`Vegas`](crate::bulkhead::Vegas), [`Gradient2`](crate::bulkhead::Gradient2),
//! the limiters [`TokenBucket`](crate::rate::TokenBucket),
//! [`FixedWindow`](crate::rate::FixedWindow),
//! [`SlidingWindow`](crate::rate::SlidingWindow),
//! [`KeyedGcra`](crate::rate::KeyedGcra), the budgets
//! [`RatioBudget`](crate::retry::RatioBudget),
//! [`TokenQuota`](crate::retry::TokenQuota),
//! [`GrpcThrottle`](crate::retry::GrpcThrottle)) write their configuration
//! only, never their running state (an adaptive limit writes its current
//! limit as `initial_limit`), and deserialise as a fresh machine.
//!
//! | type | keys |
//! |---|---|
//! | [`BreakerConfig`](crate::breaker::BreakerConfig) | `failure_rate_threshold` (number or `"off"`), `slow_call_rate_threshold`, `slow_call_duration`, `minimum_calls`, `consecutive_failures`, `open_wait`, `open_wait_multiplier`, `open_wait_max`, `half_open_probes`, `success_threshold`, `half_open_rule`, `probe_lease` |
//! | [`FailFastConfig`](crate::failfast::FailFastConfig) | `consecutive_failures`, `probe_interval`, `expected_duration`, `learn_expected_duration`, `max_expected_duration`, `safety_margin` |
//! | [`BulkheadConfig`](crate::bulkhead::BulkheadConfig) | `max_concurrent`, `max_wait` |
//! | [`FixedLimit`](crate::bulkhead::FixedLimit) | `limit` |
//! | [`Aimd`](crate::bulkhead::Aimd) | `initial_limit`, `min_limit`, `max_limit`, `backoff_ratio`, `timeout` |
//! | [`Vegas`](crate::bulkhead::Vegas) | `initial_limit`, `min_limit`, `max_limit`, `alpha`, `beta`, `smoothing`, `probe_multiplier` |
//! | [`Gradient2`](crate::bulkhead::Gradient2) | `initial_limit`, `min_limit`, `max_limit`, `rtt_tolerance`, `smoothing`, `queue_size`, `long_window` |
//! | [`Quota`](crate::rate::Quota) | `period`, or `rate` with `per` (default `"1s"`); `burst` (default 1) |
//! | [`TokenBucket`](crate::rate::TokenBucket) | `capacity`, `refill`, `period` |
//! | [`FixedWindow`](crate::rate::FixedWindow), [`SlidingWindow`](crate::rate::SlidingWindow) | `limit`, `window` |
//! | [`KeyedGcra`](crate::rate::KeyedGcra) | `quota` (a quota table), `seed`, `when_full` |
//! | [`RetryConfig`](crate::retry::RetryConfig) | `max_attempts` (number or `"unlimited"`), `max_elapsed`, `backoff`, `jitter`, `retry_after`, `min_remaining` |
//! | [`BackoffKind`](crate::retry::BackoffKind) | `kind` = `constant` (`delay`), `intervals` (`intervals`, a list; needs `alloc` to read), `linear` (`initial`, `step`, `max`), `exponential` (`initial`, `multiplier`, `max`), `fibonacci` (`initial`, `factor`, `max`), `decorrelated_jitter` (`base`, `max`), `soft_exponential` (`median_first`, `max`) |
//! | [`Jitter`](crate::retry::Jitter) | `"none"`, `"full"`, `"equal"`, or a number: proportional |
//! | [`RetryAfter`](crate::retry::RetryAfter) | `kind` = `ignore`, `clamp` (`max_extra`), `trust` (`max`) |
//! | [`RatioBudget`](crate::retry::RatioBudget) | `ttl`, `ratio`, `min_per_sec` |
//! | [`TokenQuota`](crate::retry::TokenQuota) | `capacity`, `error_cost`, `timeout_cost`, `throttle_cost`, `first_try_refund` |
//! | [`GrpcThrottle`](crate::retry::GrpcThrottle) | `max_tokens`, `token_ratio` |
//! | [`TimeoutConfig`](crate::timeout::TimeoutConfig) | `timeout`, `mode` (`"cancel"` or `"soft"`) |
//! | [`FallbackPolicy`](crate::fallback::FallbackPolicy) | `on_failed`, `on_rejected`, `on_timed_out`, `on_gave_up` |
//! | [`HedgeConfig`](crate::hedge::HedgeConfig) | `max_attempts`, `delay` (a duration, `"parallel"`, `"on_failure"` or `"quantile"`) |
//! | [`CacheConfig`](crate::cache::CacheConfig) | `time_to_live`, `time_to_idle`, `max_stale`, `refresh_ahead`, `negative_ttl` |
//! | [`ToggleConfig`](crate::toggle::ToggleConfig) (reading needs `alloc`) | `seed`, `flags` = list of [`FlagSpec`](crate::toggle::FlagSpec) (`name`, `enabled`, `rollout` in basis points, `windows` = list of [`Window`](crate::toggle::Window) (`start`, `end`: durations since the clock's epoch)) |
//!
//! # What cannot be written or read
//!
//! - A [`HedgeDelay::Function`](crate::hedge::HedgeDelay::Function) cannot be
//!   serialised (a function pointer has no file form): serialising says so.
//! - Reading a list into a `&'static` slice (`BackoffKind::Intervals`, a
//!   `ToggleConfig`'s names and windows) needs the `alloc` feature: the list
//!   is allocated once and leaked (load such configurations once, at start).
//!   Without `alloc` reading one is an error saying so.
//! - TOML integers are signed 64-bit: a `seed` above `i64::MAX` cannot be
//!   written to TOML (other formats can).
//! - Ratios are kept as parts per million (the breaker's, AIMD's) or as
//!   six-decimal numbers (Vegas's, Gradient2's): a finer ratio is rounded on
//!   reading, and written back rounded.

mod configs;
pub mod duration;

pub use duration::ParseDurationError;

/// `Option<Duration>` in the [`duration`] grammar, for
/// `#[serde(with = "failsafe_core::serde_support::option_duration")]`;
/// `None` should be skipped on writing
/// (`skip_serializing_if = "Option::is_none"`, with `default`).
///
/// ```
/// use core::time::Duration;
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Probe {
///     #[serde(default, with = "failsafe_core::serde_support::option_duration",
///             skip_serializing_if = "Option::is_none")]
///     every: Option<Duration>,
/// }
/// let p: Probe = toml::from_str(r#"every = "5s""#).unwrap();
/// assert_eq!(p.every, Some(Duration::from_secs(5)));
/// let none: Probe = toml::from_str("").unwrap();
/// assert_eq!(none.every, None);
/// ```
pub mod option_duration {
    use core::time::Duration;

    use serde::{Deserializer, Serializer};

    /// Writes `Some(d)` as [`duration::serialize`](super::duration::serialize)
    /// does, `None` as a unit (skip it instead where the format has no null).
    ///
    /// # Errors
    ///
    /// Those of the serializer.
    #[allow(clippy::ref_option)] // serde's `with` signature
    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => super::duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a present value as a duration string.
    ///
    /// # Errors
    ///
    /// Those of [`duration::deserialize`](super::duration::deserialize).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        super::duration::deserialize(d).map(Some)
    }
}
