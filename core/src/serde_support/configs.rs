//! `Serialize` and `Deserialize` for every configuration: each through a
//! small "file form" struct of its builder's settings; deserialising builds
//! with the builder, so the builder's validation (and its field names) apply.

use core::fmt;
use core::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::duration::{self, Text};
use super::option_duration;
use crate::breaker::{BreakerConfig, HalfOpenRule};
use crate::bulkhead::{Aimd, BulkheadConfig, FixedLimit, Gradient2, LimitAlgorithm, Vegas};
use crate::cache::CacheConfig;
use crate::chaos::{ChaosConfig, FaultRule, LatencyRule, Rate, Schedule};
use crate::failfast::FailFastConfig;
use crate::fallback::FallbackPolicy;
use crate::hedge::{HedgeConfig, HedgeDelay};
use crate::rate::{FixedWindow, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull};
use crate::retry::{
    BackoffKind, GrpcThrottle, Jitter, RatioBudget, RetryAfter, RetryConfig, TokenQuota,
};
use crate::timeout::{TimeoutConfig, TimeoutMode};
use crate::toggle::{FlagSpec, ToggleConfig, Window};
use crate::{ConfigError, Instant, Problem};

// ------------------------------------------------------------------ plumbing

/// Why a file form does not make a configuration.
#[derive(Clone, Copy, Debug)]
enum FileError {
    /// The builder refused a value.
    Config(ConfigError),
    /// A key of another kind (`step` in a constant backoff).
    NotFor {
        field: &'static str,
        kind: &'static str,
    },
    /// Two keys that exclude each other.
    Both(&'static str, &'static str),
}

impl From<ConfigError> for FileError {
    fn from(e: ConfigError) -> Self {
        FileError::Config(e)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Config(e) => e.fmt(f),
            FileError::NotFor { field, kind } => {
                write!(f, "invalid `{field}`: not a setting of kind `{kind}`")
            }
            FileError::Both(a, b) => write!(f, "invalid `{a}`: give `{a}` or `{b}`, not both"),
        }
    }
}

/// A configuration's file form.
trait FileForm: Sized {
    type Target;
    /// The settings of a configuration.
    fn of(target: &Self::Target) -> Self;
    /// The configuration, validated by its builder.
    fn build(self) -> Result<Self::Target, FileError>;
}

/// Serialises `$target` as its file form `$file`, deserialises through it.
macro_rules! via_file {
    ($target:ty, $file:ty) => {
        impl Serialize for $target {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$file as FileForm>::of(self).serialize(s)
            }
        }
        impl<'de> Deserialize<'de> for $target {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$file as Deserialize<'de>>::deserialize(d)?
                    .build()
                    .map_err(de::Error::custom)
            }
        }
    };
}

/// A default file form: the settings of a default configuration.
macro_rules! default_of {
    ($file:ty, $default:expr) => {
        impl Default for $file {
            fn default() -> Self {
                <$file as FileForm>::of(&$default)
            }
        }
    };
}

const fn nanos(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// Parts per million as a ratio (`500_000` -> `0.5`).
fn ppm_ratio(ppm: u64) -> f64 {
    ppm as f64 / 1_000_000.0
}

/// A ratio setting read as `f64` for a builder taking `f32` (a NaN stays
/// NaN, a huge value becomes infinite: both refused by the builder).
#[allow(clippy::cast_possible_truncation)]
fn narrow(x: f64) -> f32 {
    x as f32
}

/// A required setting, or [`Problem::Missing`] naming it.
fn need<T>(value: Option<T>, field: &'static str) -> Result<T, FileError> {
    value.ok_or(FileError::Config(ConfigError::new(field, Problem::Missing)))
}

/// A setting given for a kind it does not belong to.
fn not_for<T>(value: &Option<T>, field: &'static str, kind: &'static str) -> Result<(), FileError> {
    match value {
        Some(_) => Err(FileError::NotFor { field, kind }),
        None => Ok(()),
    }
}

/// A ratio, or `"off"` for `None`.
mod ratio_or_off {
    use core::fmt;

    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    #[allow(clippy::ref_option)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_f64(*x),
            None => s.serialize_str("off"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<f64>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a ratio in (0, 1] or "off""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "off" {
                    Ok(None)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            #[allow(clippy::cast_precision_loss)] // a ratio: the builder judges it
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Some(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A count, or `"unlimited"` for `None`.
mod count_or_unlimited {
    use core::fmt;

    use serde::Serializer;
    use serde::de::{self, Deserializer, Visitor};

    #[allow(clippy::ref_option)] // serde's `with` signature
    pub(super) fn serialize<S: Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_u32(*x),
            None => s.serialize_str("unlimited"),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Option<u32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a number of attempts or "unlimited""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "unlimited" {
                    Ok(None)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(Some)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u32::try_from(v)
                    .map(Some)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

// ------------------------------------------------------------------- breaker

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of circuit breaker settings")]
struct BreakerFile {
    #[serde(with = "ratio_or_off")]
    failure_rate_threshold: Option<f64>,
    slow_call_rate_threshold: f64,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    slow_call_duration: Option<Duration>,
    minimum_calls: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    consecutive_failures: Option<u32>,
    #[serde(with = "duration")]
    open_wait: Duration,
    open_wait_multiplier: u32,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    open_wait_max: Option<Duration>,
    half_open_probes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    success_threshold: Option<u32>,
    half_open_rule: HalfOpenRule,
    #[serde(with = "duration")]
    probe_lease: Duration,
}

impl FileForm for BreakerFile {
    type Target = BreakerConfig;

    fn of(c: &BreakerConfig) -> Self {
        BreakerFile {
            failure_rate_threshold: c.failure_rate_ppm.map(|p| ppm_ratio(p.into())),
            slow_call_rate_threshold: ppm_ratio(c.slow_call_rate_ppm.into()),
            slow_call_duration: c.slow_call_nanos.map(nanos),
            minimum_calls: c.minimum_calls,
            consecutive_failures: c.consecutive_failures,
            open_wait: nanos(c.open_wait_nanos),
            open_wait_multiplier: c.open_wait_multiplier,
            // left out when it is what it defaults to: `open_wait`
            open_wait_max: (c.open_wait_max_nanos != c.open_wait_nanos)
                .then_some(nanos(c.open_wait_max_nanos)),
            half_open_probes: c.half_open_probes,
            // left out when it is what it defaults to: every probe
            success_threshold: (c.half_open_rule == HalfOpenRule::SuccessThreshold
                && c.success_threshold != c.half_open_probes)
                .then_some(c.success_threshold),
            half_open_rule: c.half_open_rule,
            probe_lease: nanos(c.probe_lease_nanos),
        }
    }

    fn build(self) -> Result<BreakerConfig, FileError> {
        let mut b = BreakerConfig::builder()
            .slow_call_rate_threshold(narrow(self.slow_call_rate_threshold))
            .minimum_calls(self.minimum_calls)
            .open_wait(self.open_wait)
            .open_wait_backoff(
                self.open_wait_multiplier,
                self.open_wait_max.unwrap_or(self.open_wait),
            )
            .half_open_probes(self.half_open_probes)
            .probe_lease(self.probe_lease);
        b = match self.failure_rate_threshold {
            Some(r) => b.failure_rate_threshold(narrow(r)),
            None => b.no_failure_rate(),
        };
        if let Some(d) = self.slow_call_duration {
            b = b.slow_call_duration(d);
        }
        if let Some(n) = self.consecutive_failures {
            b = b.consecutive_failures(n);
        }
        if let Some(n) = self.success_threshold {
            b = b.success_threshold(n);
        }
        Ok(b.half_open_rule(self.half_open_rule).build()?)
    }
}

default_of!(BreakerFile, BreakerConfig::DEFAULT);
via_file!(BreakerConfig, BreakerFile);

// ------------------------------------------------------------------ failfast

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of fail fast settings")]
struct FailFastFile {
    consecutive_failures: u32,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    probe_interval: Option<Duration>,
    #[serde(with = "duration")]
    expected_duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    learn_expected_duration: Option<u32>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    max_expected_duration: Option<Duration>,
    #[serde(with = "duration")]
    safety_margin: Duration,
}

impl FileForm for FailFastFile {
    type Target = FailFastConfig;

    fn of(c: &FailFastConfig) -> Self {
        FailFastFile {
            consecutive_failures: c.consecutive_failures,
            probe_interval: c.probe_interval_nanos.map(nanos),
            expected_duration: nanos(c.expected_nanos),
            learn_expected_duration: c.learn_smoothing,
            // `u64::MAX` is "no maximum"
            max_expected_duration: (c.max_expected_nanos != u64::MAX)
                .then_some(nanos(c.max_expected_nanos)),
            safety_margin: nanos(c.margin_nanos),
        }
    }

    fn build(self) -> Result<FailFastConfig, FileError> {
        let mut b = FailFastConfig::builder()
            .consecutive_failures(self.consecutive_failures)
            .expected_duration(self.expected_duration)
            .safety_margin(self.safety_margin);
        if let Some(d) = self.probe_interval {
            b = b.probe_interval(d);
        }
        if let Some(n) = self.learn_expected_duration {
            b = b.learn_expected_duration(n);
        }
        if let Some(d) = self.max_expected_duration {
            b = b.max_expected_duration(d);
        }
        Ok(b.build()?)
    }
}

default_of!(FailFastFile, FailFastConfig::DEFAULT);
via_file!(FailFastConfig, FailFastFile);

// ------------------------------------------------------------------ bulkhead

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of bulkhead settings")]
struct BulkheadFile {
    max_concurrent: u32,
    #[serde(with = "duration")]
    max_wait: Duration,
}

impl FileForm for BulkheadFile {
    type Target = BulkheadConfig;

    fn of(c: &BulkheadConfig) -> Self {
        BulkheadFile {
            max_concurrent: c.max_concurrent,
            max_wait: nanos(c.max_wait_nanos),
        }
    }

    fn build(self) -> Result<BulkheadConfig, FileError> {
        Ok(BulkheadConfig::builder()
            .max_concurrent(self.max_concurrent)
            .max_wait(self.max_wait)
            .build()?)
    }
}

default_of!(BulkheadFile, BulkheadConfig::DEFAULT);
via_file!(BulkheadConfig, BulkheadFile);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of fixed limit settings")]
struct FixedLimitFile {
    limit: u32,
}

impl FileForm for FixedLimitFile {
    type Target = FixedLimit;

    fn of(c: &FixedLimit) -> Self {
        FixedLimitFile { limit: c.limit() }
    }

    fn build(self) -> Result<FixedLimit, FileError> {
        if self.limit == 0 {
            return Err(ConfigError::new("limit", Problem::Zero).into());
        }
        Ok(FixedLimit::new(self.limit))
    }
}

via_file!(FixedLimit, FixedLimitFile);

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of AIMD limit settings")]
struct AimdFile {
    initial_limit: u32,
    min_limit: u32,
    max_limit: u32,
    backoff_ratio: f64,
    #[serde(with = "duration")]
    timeout: Duration,
}

impl FileForm for AimdFile {
    type Target = Aimd;

    fn of(c: &Aimd) -> Self {
        AimdFile {
            initial_limit: c.limit,
            min_limit: c.min,
            max_limit: c.max,
            backoff_ratio: ppm_ratio(c.backoff_ppm.into()),
            timeout: nanos(c.timeout_nanos),
        }
    }

    fn build(self) -> Result<Aimd, FileError> {
        Ok(Aimd::builder()
            .initial_limit(self.initial_limit)
            .min_limit(self.min_limit)
            .max_limit(self.max_limit)
            .backoff_ratio(narrow(self.backoff_ratio))
            .timeout(self.timeout)
            .build()?)
    }
}

default_of!(AimdFile, Aimd::DEFAULT);
via_file!(Aimd, AimdFile);

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of Vegas limit settings")]
struct VegasFile {
    initial_limit: u32,
    min_limit: u32,
    max_limit: u32,
    alpha: f64,
    beta: f64,
    smoothing: f64,
    probe_multiplier: u32,
}

impl FileForm for VegasFile {
    type Target = Vegas;

    fn of(c: &Vegas) -> Self {
        VegasFile {
            initial_limit: c.limit(),
            min_limit: c.min,
            max_limit: c.max,
            alpha: c.alpha,
            beta: c.beta,
            smoothing: c.smoothing,
            probe_multiplier: c.probe_multiplier,
        }
    }

    fn build(self) -> Result<Vegas, FileError> {
        Ok(Vegas::builder()
            .initial_limit(self.initial_limit)
            .min_limit(self.min_limit)
            .max_limit(self.max_limit)
            .alpha(narrow(self.alpha))
            .beta(narrow(self.beta))
            .smoothing(narrow(self.smoothing))
            .probe_multiplier(self.probe_multiplier)
            .build()?)
    }
}

default_of!(VegasFile, Vegas::DEFAULT);
via_file!(Vegas, VegasFile);

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of Gradient2 limit settings")]
struct Gradient2File {
    initial_limit: u32,
    min_limit: u32,
    max_limit: u32,
    rtt_tolerance: f64,
    smoothing: f64,
    queue_size: u32,
    long_window: u32,
}

impl FileForm for Gradient2File {
    type Target = Gradient2;

    fn of(c: &Gradient2) -> Self {
        Gradient2File {
            initial_limit: c.limit(),
            min_limit: c.min,
            max_limit: c.max,
            rtt_tolerance: c.tolerance,
            smoothing: c.smoothing,
            queue_size: c.queue_size,
            long_window: c.long_window,
        }
    }

    fn build(self) -> Result<Gradient2, FileError> {
        Ok(Gradient2::builder()
            .initial_limit(self.initial_limit)
            .min_limit(self.min_limit)
            .max_limit(self.max_limit)
            .rtt_tolerance(narrow(self.rtt_tolerance))
            .smoothing(narrow(self.smoothing))
            .queue_size(self.queue_size)
            .long_window(self.long_window)
            .build()?)
    }
}

default_of!(Gradient2File, Gradient2::DEFAULT);
via_file!(Gradient2, Gradient2File);

// ---------------------------------------------------------------------- rate

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of rate limit settings (`rate`, `per`, `burst`)")]
struct QuotaFile {
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    period: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<u32>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    per: Option<Duration>,
    burst: u32,
}

impl Default for QuotaFile {
    fn default() -> Self {
        QuotaFile {
            period: None,
            rate: None,
            per: None,
            burst: 1,
        }
    }
}

impl FileForm for QuotaFile {
    type Target = Quota;

    fn of(q: &Quota) -> Self {
        QuotaFile {
            period: Some(q.period()),
            rate: None,
            per: None,
            burst: q.burst(),
        }
    }

    fn build(self) -> Result<Quota, FileError> {
        let b = Quota::builder().burst(self.burst);
        let b = match (self.period, self.rate, self.per) {
            (Some(_), Some(_), _) => return Err(FileError::Both("period", "rate")),
            (Some(_), None, Some(_)) => return Err(FileError::Both("period", "per")),
            (Some(p), None, None) => b.period(p),
            (None, Some(n), per) => b.per(n, per.unwrap_or(Duration::from_secs(1))),
            (None, None, _) => b,
        };
        Ok(b.build()?)
    }
}

via_file!(Quota, QuotaFile);

#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of token bucket settings")]
struct TokenBucketFile {
    capacity: Option<u32>,
    refill: Option<u32>,
    #[serde(with = "option_duration")]
    period: Option<Duration>,
}

impl FileForm for TokenBucketFile {
    type Target = TokenBucket;

    #[allow(clippy::cast_possible_truncation)] // built from u32s
    fn of(c: &TokenBucket) -> Self {
        TokenBucketFile {
            capacity: Some(c.capacity as u32),
            refill: Some(c.refill as u32),
            period: Some(c.period()),
        }
    }

    fn build(self) -> Result<TokenBucket, FileError> {
        let mut b = TokenBucket::builder();
        if let Some(n) = self.capacity {
            b = b.capacity(n);
        }
        if let Some(n) = self.refill {
            b = b.refill(n);
        }
        if let Some(p) = self.period {
            b = b.period(p);
        }
        Ok(b.build()?)
    }
}

via_file!(TokenBucket, TokenBucketFile);

/// A fixed or sliding window's settings.
#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of rate window settings")]
struct WindowFile {
    limit: Option<u32>,
    #[serde(with = "option_duration")]
    window: Option<Duration>,
}

impl FileForm for WindowFile {
    type Target = FixedWindow;

    #[allow(clippy::cast_possible_truncation)] // built from a u32
    fn of(c: &FixedWindow) -> Self {
        WindowFile {
            limit: Some(c.limit as u32),
            window: Some(nanos(c.window_nanos)),
        }
    }

    fn build(self) -> Result<FixedWindow, FileError> {
        let mut b = FixedWindow::builder();
        if let Some(n) = self.limit {
            b = b.limit(n);
        }
        if let Some(w) = self.window {
            b = b.window(w);
        }
        Ok(b.build()?)
    }
}

via_file!(FixedWindow, WindowFile);

impl<const B: usize> Serialize for SlidingWindow<B> {
    #[allow(clippy::cast_possible_truncation)] // B <= u32::MAX, checked at build; limit built from a u32
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WindowFile {
            limit: Some(self.limit as u32),
            window: Some(self.counts.bucket_duration().saturating_mul(B as u32)),
        }
        .serialize(s)
    }
}

impl<'de, const B: usize> Deserialize<'de> for SlidingWindow<B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = WindowFile::deserialize(d)?;
        let mut b = SlidingWindow::<B>::builder();
        if let Some(n) = f.limit {
            b = b.limit(n);
        }
        if let Some(w) = f.window {
            b = b.window(w);
        }
        b.build().map_err(de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of keyed rate limit settings")]
struct KeyedFile {
    quota: Quota,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    when_full: WhenFull,
}

impl<K, const N: usize> Serialize for KeyedGcra<K, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        KeyedFile {
            quota: self.quota,
            seed: self.seed,
            when_full: self.when_full,
        }
        .serialize(s)
    }
}

impl<'de, K: Eq + core::hash::Hash + Clone, const N: usize> Deserialize<'de> for KeyedGcra<K, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = KeyedFile::deserialize(d)?;
        Ok(KeyedGcra::new(f.quota, f.seed).when_full(f.when_full))
    }
}

// --------------------------------------------------------------------- retry

/// The compile-time checked default retry configuration.
const RETRY_DEFAULT: RetryConfig = crate::checked(RetryConfig::builder().build());

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of retry settings")]
struct RetryFile {
    #[serde(with = "count_or_unlimited")]
    max_attempts: Option<u32>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    max_elapsed: Option<Duration>,
    backoff: BackoffKind,
    jitter: Jitter,
    retry_after: RetryAfter,
    #[serde(with = "duration")]
    min_remaining: Duration,
}

impl FileForm for RetryFile {
    type Target = RetryConfig;

    fn of(c: &RetryConfig) -> Self {
        RetryFile {
            max_attempts: c.max_attempts(),
            max_elapsed: c.max_elapsed(),
            backoff: c.backoff(),
            jitter: c.jitter(),
            retry_after: c.retry_after,
            min_remaining: c.min_remaining,
        }
    }

    fn build(self) -> Result<RetryConfig, FileError> {
        let mut b = RetryConfig::builder()
            .backoff(self.backoff)
            .jitter(self.jitter)
            .retry_after(self.retry_after)
            .min_remaining(self.min_remaining);
        b = match self.max_attempts {
            Some(n) => b.max_attempts(n),
            None => b.unlimited_attempts(),
        };
        if let Some(d) = self.max_elapsed {
            b = b.max_elapsed(d);
        }
        Ok(b.build()?)
    }
}

default_of!(RetryFile, RETRY_DEFAULT);
via_file!(RetryConfig, RetryFile);

/// The kinds of backoff, by their file names.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum BackoffName {
    Constant,
    Intervals,
    Linear,
    Exponential,
    Fibonacci,
    DecorrelatedJitter,
    SoftExponential,
}

impl BackoffName {
    const fn as_str(self) -> &'static str {
        match self {
            BackoffName::Constant => "constant",
            BackoffName::Intervals => "intervals",
            BackoffName::Linear => "linear",
            BackoffName::Exponential => "exponential",
            BackoffName::Fibonacci => "fibonacci",
            BackoffName::DecorrelatedJitter => "decorrelated_jitter",
            BackoffName::SoftExponential => "soft_exponential",
        }
    }
}

/// A `&'static` list of durations: written as a list of duration strings;
/// read (with `alloc`) into a list allocated once and leaked.
#[derive(Clone, Copy)]
struct Intervals(&'static [Duration]);

impl Serialize for Intervals {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for d in self.0 {
            seq.serialize_element(&DurationText(*d))?;
        }
        seq.end()
    }
}

/// A duration as an element of a list, in the duration grammar.
struct DurationText(Duration);

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&Text(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        duration::deserialize(d).map(DurationText)
    }
}

impl<'de> Deserialize<'de> for Intervals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[cfg(feature = "alloc")]
        {
            let list = alloc::vec::Vec::<DurationText>::deserialize(d)?;
            let list: alloc::vec::Vec<Duration> = list.into_iter().map(|d| d.0).collect();
            Ok(Intervals(alloc::boxed::Box::leak(list.into_boxed_slice())))
        }
        #[cfg(not(feature = "alloc"))]
        {
            let _ = d;
            Err(de::Error::custom(
                "invalid `backoff.intervals`: reading a list needs failsafe-core's `alloc` feature",
            ))
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of backoff settings (`kind`, ...)")]
struct BackoffFile {
    kind: BackoffName,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    intervals: Option<Intervals>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    initial: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    step: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    multiplier: Option<f64>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    factor: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    base: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    median_first: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    max: Option<Duration>,
}

impl BackoffFile {
    const fn kind(kind: BackoffName) -> Self {
        BackoffFile {
            kind,
            delay: None,
            intervals: None,
            initial: None,
            step: None,
            multiplier: None,
            factor: None,
            base: None,
            median_first: None,
            max: None,
        }
    }

    /// Refuses a setting of another kind than `self.kind`.
    fn only(&self, allowed: &[&str]) -> Result<(), FileError> {
        let kind = self.kind.as_str();
        let check = |value_set: bool, field: &'static str| {
            if value_set && !allowed.contains(&field) {
                Err(FileError::NotFor { field, kind })
            } else {
                Ok(())
            }
        };
        check(self.delay.is_some(), "backoff.delay")?;
        check(self.intervals.is_some(), "backoff.intervals")?;
        check(self.initial.is_some(), "backoff.initial")?;
        check(self.step.is_some(), "backoff.step")?;
        check(self.multiplier.is_some(), "backoff.multiplier")?;
        check(self.factor.is_some(), "backoff.factor")?;
        check(self.base.is_some(), "backoff.base")?;
        check(self.median_first.is_some(), "backoff.median_first")?;
        check(self.max.is_some(), "backoff.max")
    }
}

impl FileForm for BackoffFile {
    type Target = BackoffKind;

    fn of(k: &BackoffKind) -> Self {
        match *k {
            BackoffKind::Constant(d) => BackoffFile {
                delay: Some(d),
                ..BackoffFile::kind(BackoffName::Constant)
            },
            BackoffKind::Intervals(list) => BackoffFile {
                intervals: Some(Intervals(list)),
                ..BackoffFile::kind(BackoffName::Intervals)
            },
            BackoffKind::Linear { initial, step, max } => BackoffFile {
                initial: Some(initial),
                step: Some(step),
                max: Some(max),
                ..BackoffFile::kind(BackoffName::Linear)
            },
            BackoffKind::Exponential {
                initial,
                multiplier,
                max,
            } => BackoffFile {
                initial: Some(initial),
                multiplier: Some(multiplier),
                max: Some(max),
                ..BackoffFile::kind(BackoffName::Exponential)
            },
            BackoffKind::Fibonacci {
                initial,
                factor,
                max,
            } => BackoffFile {
                initial: Some(initial),
                factor: Some(factor),
                max: Some(max),
                ..BackoffFile::kind(BackoffName::Fibonacci)
            },
            BackoffKind::DecorrelatedJitter { base, max } => BackoffFile {
                base: Some(base),
                max: Some(max),
                ..BackoffFile::kind(BackoffName::DecorrelatedJitter)
            },
            #[cfg(feature = "soft-exponential")]
            BackoffKind::SoftExponential { median_first, max } => BackoffFile {
                median_first: Some(median_first),
                max: Some(max),
                ..BackoffFile::kind(BackoffName::SoftExponential)
            },
        }
    }

    fn build(self) -> Result<BackoffKind, FileError> {
        let kind = match self.kind {
            BackoffName::Constant => {
                self.only(&["backoff.delay"])?;
                BackoffKind::Constant(need(self.delay, "backoff.delay")?)
            }
            BackoffName::Intervals => {
                self.only(&["backoff.intervals"])?;
                BackoffKind::Intervals(need(self.intervals, "backoff.intervals")?.0)
            }
            BackoffName::Linear => {
                self.only(&["backoff.initial", "backoff.step", "backoff.max"])?;
                BackoffKind::Linear {
                    initial: need(self.initial, "backoff.initial")?,
                    step: need(self.step, "backoff.step")?,
                    max: need(self.max, "backoff.max")?,
                }
            }
            BackoffName::Exponential => {
                self.only(&["backoff.initial", "backoff.multiplier", "backoff.max"])?;
                BackoffKind::Exponential {
                    initial: need(self.initial, "backoff.initial")?,
                    multiplier: need(self.multiplier, "backoff.multiplier")?,
                    max: need(self.max, "backoff.max")?,
                }
            }
            BackoffName::Fibonacci => {
                self.only(&["backoff.initial", "backoff.factor", "backoff.max"])?;
                BackoffKind::Fibonacci {
                    initial: need(self.initial, "backoff.initial")?,
                    factor: need(self.factor, "backoff.factor")?,
                    max: need(self.max, "backoff.max")?,
                }
            }
            BackoffName::DecorrelatedJitter => {
                self.only(&["backoff.base", "backoff.max"])?;
                BackoffKind::DecorrelatedJitter {
                    base: need(self.base, "backoff.base")?,
                    max: need(self.max, "backoff.max")?,
                }
            }
            #[cfg(feature = "soft-exponential")]
            BackoffName::SoftExponential => {
                self.only(&["backoff.median_first", "backoff.max"])?;
                BackoffKind::SoftExponential {
                    median_first: need(self.median_first, "backoff.median_first")?,
                    max: need(self.max, "backoff.max")?,
                }
            }
            #[cfg(not(feature = "soft-exponential"))]
            BackoffName::SoftExponential => {
                return Err(FileError::NotFor {
                    field: "backoff.kind",
                    kind: "soft_exponential (needs failsafe-core's `soft-exponential` feature)",
                });
            }
        };
        kind.validate()?;
        Ok(kind)
    }
}

via_file!(BackoffKind, BackoffFile);

impl Serialize for Jitter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Jitter::None => s.serialize_str("none"),
            Jitter::Full => s.serialize_str("full"),
            Jitter::Equal => s.serialize_str("equal"),
            Jitter::Proportional(r) => s.serialize_f64(r),
        }
    }
}

impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl V {
            fn ratio<E: de::Error>(r: f64) -> Result<Jitter, E> {
                let j = Jitter::Proportional(r);
                j.validate().map_err(E::custom)?;
                Ok(j)
            }
        }
        impl Visitor<'_> for V {
            type Value = Jitter;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""none", "full", "equal" or a proportion in [0, 1]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Jitter, E> {
                match v {
                    "none" => Ok(Jitter::None),
                    "full" => Ok(Jitter::Full),
                    "equal" => Ok(Jitter::Equal),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Jitter, E> {
                V::ratio(v)
            }
            #[allow(clippy::cast_precision_loss)] // judged as a ratio
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Jitter, E> {
                V::ratio(v as f64)
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Jitter, E> {
                V::ratio(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RetryAfterName {
    Ignore,
    Clamp,
    Trust,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of retry-after settings")]
struct RetryAfterFile {
    kind: RetryAfterName,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    max_extra: Option<Duration>,
    #[serde(
        default,
        with = "option_duration",
        skip_serializing_if = "Option::is_none"
    )]
    max: Option<Duration>,
}

impl FileForm for RetryAfterFile {
    type Target = RetryAfter;

    fn of(r: &RetryAfter) -> Self {
        let (kind, max_extra, max) = match *r {
            RetryAfter::Ignore => (RetryAfterName::Ignore, None, None),
            RetryAfter::Clamp { max_extra } => (RetryAfterName::Clamp, Some(max_extra), None),
            RetryAfter::Trust { max } => (RetryAfterName::Trust, None, Some(max)),
        };
        RetryAfterFile {
            kind,
            max_extra,
            max,
        }
    }

    fn build(self) -> Result<RetryAfter, FileError> {
        match self.kind {
            RetryAfterName::Ignore => {
                not_for(&self.max_extra, "retry_after.max_extra", "ignore")?;
                not_for(&self.max, "retry_after.max", "ignore")?;
                Ok(RetryAfter::Ignore)
            }
            RetryAfterName::Clamp => {
                not_for(&self.max, "retry_after.max", "clamp")?;
                Ok(RetryAfter::Clamp {
                    max_extra: need(self.max_extra, "retry_after.max_extra")?,
                })
            }
            RetryAfterName::Trust => {
                not_for(&self.max_extra, "retry_after.max_extra", "trust")?;
                Ok(RetryAfter::Trust {
                    max: need(self.max, "retry_after.max")?,
                })
            }
        }
    }
}

via_file!(RetryAfter, RetryAfterFile);

// ------------------------------------------------------------------- budgets

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of ratio budget settings")]
struct RatioBudgetFile {
    #[serde(with = "duration")]
    ttl: Duration,
    ratio: f64,
    min_per_sec: u32,
}

impl Default for RatioBudgetFile {
    /// tower's `TpsBudget` defaults, as [`RatioBudget::builder`].
    fn default() -> Self {
        RatioBudgetFile {
            ttl: Duration::from_secs(10),
            ratio: 0.2,
            min_per_sec: 10,
        }
    }
}

impl<const B: usize> Serialize for RatioBudget<B> {
    #[allow(clippy::cast_possible_truncation)] // B <= u32::MAX, checked at build
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RatioBudgetFile {
            ttl: self.counts.bucket_duration().saturating_mul(B as u32),
            ratio: ppm_ratio(self.ratio_ppm),
            min_per_sec: self.min_per_sec,
        }
        .serialize(s)
    }
}

impl<'de, const B: usize> Deserialize<'de> for RatioBudget<B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = RatioBudgetFile::deserialize(d)?;
        RatioBudget::<B>::builder()
            .ttl(f.ttl)
            .ratio(f.ratio)
            .min_per_sec(f.min_per_sec)
            .build()
            .map_err(de::Error::custom)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of token quota settings")]
struct TokenQuotaFile {
    capacity: u32,
    error_cost: u32,
    timeout_cost: u32,
    throttle_cost: u32,
    first_try_refund: u32,
}

impl FileForm for TokenQuotaFile {
    type Target = TokenQuota;

    fn of(q: &TokenQuota) -> Self {
        TokenQuotaFile {
            capacity: q.capacity,
            error_cost: q.error_cost,
            timeout_cost: q.timeout_cost,
            throttle_cost: q.throttle_cost,
            first_try_refund: q.first_try_refund,
        }
    }

    fn build(self) -> Result<TokenQuota, FileError> {
        Ok(TokenQuota::builder()
            .capacity(self.capacity)
            .error_cost(self.error_cost)
            .timeout_cost(self.timeout_cost)
            .throttle_cost(self.throttle_cost)
            .first_try_refund(self.first_try_refund)
            .build()?)
    }
}

default_of!(TokenQuotaFile, TokenQuota::AWS_STANDARD);
via_file!(TokenQuota, TokenQuotaFile);

#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of gRPC throttle settings")]
struct GrpcThrottleFile {
    max_tokens: Option<u32>,
    token_ratio: Option<f64>,
}

impl FileForm for GrpcThrottleFile {
    type Target = GrpcThrottle;

    fn of(t: &GrpcThrottle) -> Self {
        GrpcThrottleFile {
            max_tokens: Some(t.max_milli / 1000),
            token_ratio: Some(f64::from(t.ratio_milli) / 1000.0),
        }
    }

    fn build(self) -> Result<GrpcThrottle, FileError> {
        let mut b = GrpcThrottle::builder();
        if let Some(n) = self.max_tokens {
            b = b.max_tokens(n);
        }
        if let Some(r) = self.token_ratio {
            b = b.token_ratio(r);
        }
        Ok(b.build()?)
    }
}

via_file!(GrpcThrottle, GrpcThrottleFile);

// ------------------------------------------------------- timeout and fallback

#[derive(Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of timeout settings")]
struct TimeoutFile {
    #[serde(with = "option_duration")]
    timeout: Option<Duration>,
    mode: TimeoutMode,
}

impl FileForm for TimeoutFile {
    type Target = TimeoutConfig;

    fn of(c: &TimeoutConfig) -> Self {
        TimeoutFile {
            timeout: Some(c.timeout()),
            mode: c.timeout_mode(),
        }
    }

    fn build(self) -> Result<TimeoutConfig, FileError> {
        Ok(TimeoutConfig::new(need(self.timeout, "timeout")?)?.mode(self.mode))
    }
}

via_file!(TimeoutConfig, TimeoutFile);

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of fallback settings")]
struct FallbackFile {
    on_failed: bool,
    on_rejected: bool,
    on_timed_out: bool,
    on_gave_up: bool,
}

impl FileForm for FallbackFile {
    type Target = FallbackPolicy;

    fn of(p: &FallbackPolicy) -> Self {
        FallbackFile {
            on_failed: p.failed,
            on_rejected: p.rejected,
            on_timed_out: p.timed_out,
            on_gave_up: p.gave_up,
        }
    }

    fn build(self) -> Result<FallbackPolicy, FileError> {
        Ok(FallbackPolicy::NONE
            .on_failed(self.on_failed)
            .on_rejected(self.on_rejected)
            .on_timed_out(self.on_timed_out)
            .on_gave_up(self.on_gave_up))
    }
}

default_of!(FallbackFile, FallbackPolicy::ALL);
via_file!(FallbackPolicy, FallbackFile);

// --------------------------------------------------------------------- hedge

/// A hedge delay: a duration string, or `"parallel"`, `"on_failure"`,
/// `"quantile"`.
mod hedge_delay {
    use core::fmt;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::{Error as _, Serializer};

    use super::super::duration::{Text, parse};
    use crate::hedge::HedgeDelay;

    pub(super) fn serialize<S: Serializer>(d: &HedgeDelay, s: S) -> Result<S::Ok, S::Error> {
        match *d {
            HedgeDelay::Fixed(d) => s.collect_str(&Text(d)),
            HedgeDelay::Parallel => s.serialize_str("parallel"),
            HedgeDelay::OnFailure => s.serialize_str("on_failure"),
            HedgeDelay::Quantile => s.serialize_str("quantile"),
            HedgeDelay::Function(_) => Err(S::Error::custom(
                "a hedge delay given as a function cannot be serialised",
            )),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HedgeDelay, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HedgeDelay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a duration such as "50ms", or "parallel", "on_failure", "quantile""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HedgeDelay, E> {
                match v {
                    "parallel" => Ok(HedgeDelay::Parallel),
                    "on_failure" => Ok(HedgeDelay::OnFailure),
                    "quantile" => Ok(HedgeDelay::Quantile),
                    _ => parse(v)
                        .map(HedgeDelay::Fixed)
                        .map_err(|e| E::custom(format_args!("invalid `delay` {v:?}: {e}"))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of hedge settings")]
struct HedgeFile {
    max_attempts: u32,
    #[serde(with = "hedge_delay")]
    delay: HedgeDelay,
}

impl FileForm for HedgeFile {
    type Target = HedgeConfig;

    fn of(c: &HedgeConfig) -> Self {
        HedgeFile {
            max_attempts: c.max_attempts(),
            delay: c.delay(),
        }
    }

    fn build(self) -> Result<HedgeConfig, FileError> {
        Ok(HedgeConfig::builder()
            .max_attempts(self.max_attempts)
            .delay(self.delay)
            .build()?)
    }
}

default_of!(HedgeFile, HedgeConfig::DEFAULT);
via_file!(HedgeConfig, HedgeFile);

// --------------------------------------------------------------------- cache

#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of cache settings")]
struct CacheFile {
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    time_to_live: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    time_to_idle: Option<Duration>,
    #[serde(with = "duration")]
    max_stale: Duration,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    refresh_ahead: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    negative_ttl: Option<Duration>,
}

impl FileForm for CacheFile {
    type Target = CacheConfig;

    fn of(c: &CacheConfig) -> Self {
        CacheFile {
            time_to_live: c.time_to_live(),
            time_to_idle: c.time_to_idle(),
            max_stale: c.max_stale(),
            refresh_ahead: c.refresh_ahead(),
            negative_ttl: c.negative_ttl(),
        }
    }

    fn build(self) -> Result<CacheConfig, FileError> {
        let mut b = CacheConfig::builder().max_stale(self.max_stale);
        if let Some(d) = self.time_to_live {
            b = b.time_to_live(d);
        }
        if let Some(d) = self.time_to_idle {
            b = b.time_to_idle(d);
        }
        if let Some(d) = self.refresh_ahead {
            b = b.refresh_ahead(d);
        }
        if let Some(d) = self.negative_ttl {
            b = b.negative_ttl(d);
        }
        Ok(b.build()?)
    }
}

default_of!(CacheFile, CacheConfig::DEFAULT);
via_file!(CacheConfig, CacheFile);

// --------------------------------------------------------------------- chaos

/// How a chaos schedule's kind is spelled.
#[derive(Serialize, Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "snake_case")]
enum ScheduleKind {
    #[default]
    Always,
    Between,
    Periodic,
    Ramp,
}

/// A chaos schedule: `{ kind = "always" }`, `{ kind = "between", from =
/// "60s", until = "3m" }`, `{ kind = "periodic", period, active, offset }`,
/// `{ kind = "ramp", from, full_at }` (instants as durations since the
/// clock's epoch; `offset` defaults to zero).
#[derive(Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of schedule settings (`kind`, ...)")]
struct ScheduleFile {
    kind: ScheduleKind,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    from: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    until: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    period: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    active: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    offset: Option<Duration>,
    #[serde(with = "option_duration", skip_serializing_if = "Option::is_none")]
    full_at: Option<Duration>,
}

impl ScheduleFile {
    fn of(s: &Schedule) -> Self {
        let at = |i: Instant| Some(nanos(i.as_nanos()));
        let mut f = ScheduleFile::default();
        match *s {
            Schedule::Always => {}
            Schedule::Between { from, until } => {
                f.kind = ScheduleKind::Between;
                (f.from, f.until) = (at(from), at(until));
            }
            Schedule::Periodic {
                period,
                active,
                offset,
            } => {
                f.kind = ScheduleKind::Periodic;
                (f.period, f.active, f.offset) = (Some(period), Some(active), Some(offset));
            }
            Schedule::Ramp { from, full_at } => {
                f.kind = ScheduleKind::Ramp;
                (f.from, f.full_at) = (at(from), at(full_at));
            }
        }
        f
    }

    /// The schedule, naming a key missing for its kind or given for another.
    fn schedule(self) -> Result<Schedule, FileError> {
        let (kind, keys) = match self.kind {
            ScheduleKind::Always => ("always", [false; 6]),
            ScheduleKind::Between => ("between", [true, true, false, false, false, false]),
            ScheduleKind::Periodic => ("periodic", [false, false, true, true, true, false]),
            ScheduleKind::Ramp => ("ramp", [true, false, false, false, false, true]),
        };
        let given = [
            self.from.is_some(),
            self.until.is_some(),
            self.period.is_some(),
            self.active.is_some(),
            self.offset.is_some(),
            self.full_at.is_some(),
        ];
        let names = ["from", "until", "period", "active", "offset", "full_at"];
        for i in 0..names.len() {
            if given[i] && !keys[i] {
                return Err(FileError::NotFor {
                    field: names[i],
                    kind,
                });
            }
        }
        Ok(match self.kind {
            ScheduleKind::Always => Schedule::Always,
            ScheduleKind::Between => Schedule::Between {
                from: since_epoch(need(self.from, "from")?),
                until: since_epoch(need(self.until, "until")?),
            },
            ScheduleKind::Periodic => Schedule::Periodic {
                period: need(self.period, "period")?,
                active: need(self.active, "active")?,
                offset: self.offset.unwrap_or_default(),
            },
            ScheduleKind::Ramp => Schedule::Ramp {
                from: since_epoch(need(self.from, "from")?),
                full_at: since_epoch(need(self.full_at, "full_at")?),
            },
        })
    }
}

/// A rate as a ratio of calls (`0.05`), read to parts per million; a value
/// outside `[0, 1]` (or NaN) becomes one the builder refuses.
fn ratio_rate(x: f64) -> Rate {
    if (0.0..=1.0).contains(&x) {
        // `x * 1e6` is within `[0, 1e6]`: the cast cannot truncate
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppm = (x * 1_000_000.0 + 0.5) as u32;
        Rate::per_million(ppm)
    } else {
        Rate::per_million(u32::MAX)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of fault settings (`rate`, `schedule`)")]
struct FaultFile {
    rate: f64,
    #[serde(default)]
    schedule: ScheduleFile,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a table of latency fault settings (`rate`, `min`, `max`, `schedule`)")]
struct LatencyFile {
    rate: f64,
    #[serde(with = "duration")]
    min: Duration,
    #[serde(with = "duration")]
    max: Duration,
    #[serde(default)]
    schedule: ScheduleFile,
}

/// Chaos injection: `error`, `outcome` and `hang` each `{ rate, schedule }`,
/// `latency` `{ rate, min, max, schedule }`; each left out is off; rates are
/// ratios of calls (`0.05`).
#[derive(Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
#[serde(expecting = "a table of chaos settings")]
struct ChaosFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<FaultFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<FaultFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hang: Option<FaultFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency: Option<LatencyFile>,
}

impl FileForm for ChaosFile {
    type Target = ChaosConfig;

    fn of(c: &ChaosConfig) -> Self {
        let fault = |r: FaultRule| {
            (r.rate != Rate::NEVER).then(|| FaultFile {
                rate: ppm_ratio(r.rate.as_per_million().into()),
                schedule: ScheduleFile::of(&r.schedule),
            })
        };
        let l: LatencyRule = c.latency();
        ChaosFile {
            error: fault(c.error()),
            outcome: fault(c.outcome()),
            hang: fault(c.hang()),
            latency: (l.rate != Rate::NEVER).then(|| LatencyFile {
                rate: ppm_ratio(l.rate.as_per_million().into()),
                min: l.min,
                max: l.max,
                schedule: ScheduleFile::of(&l.schedule),
            }),
        }
    }

    fn build(self) -> Result<ChaosConfig, FileError> {
        let mut b = ChaosConfig::builder();
        if let Some(f) = self.error {
            b = b.error(ratio_rate(f.rate), f.schedule.schedule()?);
        }
        if let Some(f) = self.outcome {
            b = b.outcome(ratio_rate(f.rate), f.schedule.schedule()?);
        }
        if let Some(f) = self.hang {
            b = b.hang(ratio_rate(f.rate), f.schedule.schedule()?);
        }
        if let Some(l) = self.latency {
            let schedule = l.schedule.schedule()?;
            b = b.latency(ratio_rate(l.rate), l.min, l.max, schedule);
        }
        Ok(b.build()?)
    }
}

via_file!(ChaosConfig, ChaosFile);

// -------------------------------------------------------------------- toggle

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of flag window settings")]
struct WindowFileForm {
    #[serde(with = "duration")]
    start: Duration,
    #[serde(with = "duration")]
    end: Duration,
}

/// An instant as a duration since the clock's epoch (saturating).
fn since_epoch(d: Duration) -> Instant {
    Instant::from_nanos(crate::time::duration_nanos(d))
}

impl FileForm for WindowFileForm {
    type Target = Window;

    fn of(w: &Window) -> Self {
        WindowFileForm {
            start: nanos(w.start().as_nanos()),
            end: nanos(w.end().as_nanos()),
        }
    }

    fn build(self) -> Result<Window, FileError> {
        Ok(Window::new(since_epoch(self.start), since_epoch(self.end))?)
    }
}

via_file!(Window, WindowFileForm);

/// A flag's settings as written (the name and windows borrowed).
#[derive(Serialize)]
struct FlagSpecOut {
    name: &'static str,
    enabled: bool,
    rollout: u16,
    windows: &'static [Window],
}

impl Serialize for FlagSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FlagSpecOut {
            name: self.name(),
            enabled: self.is_enabled(),
            rollout: self.basis_points(),
            windows: self.schedule(),
        }
        .serialize(s)
    }
}

impl<const N: usize> Serialize for ToggleConfig<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ToggleConfig", 2)?;
        st.serialize_field("seed", &self.seed())?;
        st.serialize_field("flags", &self.specs[..])?;
        st.end()
    }
}

#[cfg(feature = "alloc")]
mod read_toggle {
    use alloc::boxed::Box;
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde::Deserialize;
    use serde::de::{self, Deserializer};

    use crate::toggle::{FlagSpec, MAX_BASIS_POINTS, ToggleConfig, Window};

    const fn enabled() -> bool {
        true
    }

    const fn rollout() -> u16 {
        MAX_BASIS_POINTS
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a table of flag settings")]
    struct FlagSpecIn {
        name: String,
        #[serde(default = "enabled")]
        enabled: bool,
        #[serde(default = "rollout")]
        rollout: u16,
        #[serde(default)]
        windows: Vec<Window>,
    }

    impl<'de> Deserialize<'de> for FlagSpec {
        /// Reads a flag; its name and windows are allocated once and leaked
        /// (a `FlagSpec` holds `'static` references).
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let f = FlagSpecIn::deserialize(d)?;
            let name: &'static str = Box::leak(f.name.into_boxed_str());
            let windows: &'static [Window] = Box::leak(f.windows.into_boxed_slice());
            Ok(FlagSpec::new(name)
                .enabled(f.enabled)
                .rollout(f.rollout)
                .windows(windows))
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, expecting = "a table of feature toggle settings")]
    struct ToggleIn {
        #[serde(default)]
        seed: u64,
        flags: Vec<FlagSpec>,
    }

    impl<'de, const N: usize> Deserialize<'de> for ToggleConfig<N> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let t = ToggleIn::deserialize(d)?;
            let len = t.flags.len();
            let specs: [FlagSpec; N] = t.flags.try_into().map_err(|_| {
                de::Error::invalid_length(len, &"exactly as many flags as the table holds")
            })?;
            ToggleConfig::new(t.seed, specs).map_err(de::Error::custom)
        }
    }
}
