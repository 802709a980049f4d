//! Configurations in TOML files (failsafe-core's `serde` feature) and drawn
//! from raw bytes (its `arbitrary` feature):
//!
//! - every configuration type round-trips through TOML (a chosen value, its
//!   default where it has one, and arbitrary ones);
//! - each refuses one invalid value with an error naming the field **and**
//!   carrying the file line of its table;
//! - configurations drawn from random bytes are all valid (built by their
//!   builders) and survive the round trip unchanged.

use std::fmt::Debug;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use failsafe_core::arbitrary::Timeline;
use failsafe_core::breaker::{BreakerConfig, HalfOpenRule};
use failsafe_core::bulkhead::{Aimd, BulkheadConfig, FixedLimit, Gradient2, LimitAlgorithm, Vegas};
use failsafe_core::cache::CacheConfig;
use failsafe_core::chaos::{ChaosConfig, Rate, Schedule};
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::fallback::FallbackPolicy;
use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
use failsafe_core::rate::{FixedWindow, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull};
use failsafe_core::retry::{
    BackoffKind, GrpcThrottle, Jitter, RatioBudget, RetryAfter, RetryConfig, TokenQuota,
};
use failsafe_core::timeout::{TimeoutConfig, TimeoutMode};
use failsafe_core::toggle::{FlagSpec, ToggleConfig, Window};
use failsafe_core::{Instant, Outcome};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configuration as one table of a file, as a user's file holds it.
#[derive(Serialize, Deserialize)]
struct Doc<T> {
    config: T,
}

fn to_toml<T: Serialize>(config: &T) -> String {
    toml::to_string(&Doc { config }).expect("serialises")
}

fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, toml::de::Error> {
    toml::from_str::<Doc<T>>(text).map(|d| d.config)
}

/// Writes `config` to TOML and reads it back: equal.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(config: &T) {
    let text = to_toml(config);
    let back: T = from_toml(&text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"));
    assert_eq!(&back, config, "in:\n{text}");
}

/// For types without `PartialEq` (a hedge holds a fn pointer, a keyed
/// limiter its table): written, read, written again: the same text.
fn round_trip_text<T: Serialize + DeserializeOwned>(config: &T) {
    let text = to_toml(config);
    let back: T = from_toml(&text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"));
    assert_eq!(to_toml(&back), text);
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn every_configuration_round_trips_through_toml() {
    let breaker = BreakerConfig::builder()
        .failure_rate_threshold(0.25)
        .slow_call_duration(ms(800))
        .slow_call_rate_threshold(0.75)
        .minimum_calls(20)
        .consecutive_failures(7)
        .open_wait(Duration::from_secs(5))
        .open_wait_backoff(2, Duration::from_secs(60))
        .half_open_probes(4)
        .success_threshold(3)
        .probe_lease(Duration::from_secs(10))
        .build()
        .unwrap();
    round_trip(&breaker);
    round_trip(&BreakerConfig::DEFAULT);
    round_trip(
        &BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(3)
            .build()
            .unwrap(),
    );
    round_trip(
        &BreakerConfig::builder()
            .half_open_probes(10)
            .half_open_rule(HalfOpenRule::RateThresholds)
            .build()
            .unwrap(),
    );

    round_trip(&FailFastConfig::DEFAULT);
    round_trip(
        &FailFastConfig::builder()
            .consecutive_failures(3)
            .probe_interval(Duration::from_secs(2))
            .expected_duration(ms(40))
            .learn_expected_duration(16)
            .max_expected_duration(ms(400))
            .safety_margin(ms(5))
            .build()
            .unwrap(),
    );

    round_trip(&BulkheadConfig::DEFAULT);
    round_trip(
        &BulkheadConfig::builder()
            .max_concurrent(3)
            .max_wait(ms(250))
            .build()
            .unwrap(),
    );
    round_trip(&FixedLimit::new(12));
    round_trip(&Aimd::DEFAULT);
    round_trip(
        &Aimd::builder()
            .min_limit(2)
            .initial_limit(8)
            .max_limit(64)
            .backoff_ratio(0.75)
            .build()
            .unwrap(),
    );
    round_trip(&Vegas::DEFAULT);
    round_trip(
        &Vegas::builder()
            .alpha(2.5)
            .beta(7.0)
            .smoothing(0.3)
            .build()
            .unwrap(),
    );
    round_trip(&Gradient2::DEFAULT);
    round_trip(
        &Gradient2::builder()
            .rtt_tolerance(2.0)
            .queue_size(8)
            .build()
            .unwrap(),
    );

    round_trip(&Quota::per_second(100).unwrap().with_burst(10).unwrap());
    round_trip(&TokenBucket::new(10, 2, ms(100)).unwrap());
    round_trip(&FixedWindow::new(100, Duration::from_secs(60)).unwrap());
    round_trip(&SlidingWindow::<10>::new(100, Duration::from_secs(60)).unwrap());
    round_trip_text(
        &KeyedGcra::<u32, 64>::new(Quota::per_minute(30).unwrap(), 7)
            .when_full(WhenFull::RejectNewKeys),
    );

    let retry = RetryConfig::builder()
        .max_attempts(5)
        .max_elapsed(Duration::from_secs(30))
        .backoff(BackoffKind::Fibonacci {
            initial: ms(10),
            factor: ms(20),
            max: Duration::from_secs(2),
        })
        .jitter(Jitter::Proportional(0.1))
        .retry_after(RetryAfter::Trust {
            max: Duration::from_secs(60),
        })
        .min_remaining(ms(50))
        .build()
        .unwrap();
    round_trip(&retry);
    round_trip(&RetryConfig::builder().build().unwrap());
    round_trip(
        &RetryConfig::builder()
            .unlimited_attempts()
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    static INTERVALS: [Duration; 3] = [ms(10), ms(100), Duration::from_secs(1)];
    for backoff in [
        BackoffKind::Constant(ms(300)),
        BackoffKind::Intervals(&INTERVALS),
        BackoffKind::Linear {
            initial: ms(100),
            step: ms(50),
            max: Duration::from_secs(1),
        },
        BackoffKind::Exponential {
            initial: ms(100),
            multiplier: 1.5,
            max: Duration::from_secs(10),
        },
        BackoffKind::DecorrelatedJitter {
            base: ms(100),
            max: Duration::from_secs(20),
        },
        BackoffKind::SoftExponential {
            median_first: ms(200),
            max: Duration::from_secs(30),
        },
    ] {
        round_trip(&backoff);
    }
    for jitter in [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Proportional(0.25),
    ] {
        round_trip(&jitter);
    }
    for policy in [
        RetryAfter::Ignore,
        RetryAfter::Clamp {
            max_extra: Duration::from_secs(5),
        },
        RetryAfter::Trust {
            max: Duration::from_secs(120),
        },
    ] {
        round_trip(&policy);
    }
    round_trip(&RatioBudget::<10>::new(Duration::from_secs(10), 0.2, 10).unwrap());
    round_trip(&RatioBudget::<10>::new(Duration::from_secs(60), 0.57, 3).unwrap());
    round_trip(&TokenQuota::AWS_STANDARD);
    round_trip(&TokenQuota::AWS_2026);
    round_trip(&GrpcThrottle::new(100, 0.1).unwrap());

    round_trip(
        &TimeoutConfig::new(ms(1500))
            .unwrap()
            .mode(TimeoutMode::Soft),
    );
    round_trip(&FallbackPolicy::ALL);
    round_trip(&FallbackPolicy::NONE.on_failed(true).on_gave_up(true));
    round_trip_text(&HedgeConfig::DEFAULT);
    for delay in [
        HedgeDelay::Fixed(ms(50)),
        HedgeDelay::Parallel,
        HedgeDelay::OnFailure,
        HedgeDelay::Quantile,
    ] {
        round_trip_text(
            &HedgeConfig::builder()
                .max_attempts(3)
                .delay(delay)
                .build()
                .unwrap(),
        );
    }
    round_trip(&CacheConfig::DEFAULT);
    round_trip(
        &CacheConfig::builder()
            .time_to_live(Duration::from_secs(300))
            .time_to_idle(Duration::from_secs(60))
            .max_stale(Duration::from_secs(30))
            .refresh_ahead(Duration::from_secs(10))
            .negative_ttl(Duration::from_secs(5))
            .build()
            .unwrap(),
    );

    static WINDOWS: [Window; 1] = [failsafe_core::checked(Window::new(
        Instant::from_secs(3_600),
        Instant::from_secs(7_200),
    ))];
    let toggle = ToggleConfig::new(
        42,
        [
            FlagSpec::new("new-checkout").rollout(2_500),
            FlagSpec::new("night-batch")
                .enabled(false)
                .windows(&WINDOWS),
        ],
    )
    .unwrap();
    round_trip(&toggle);

    for outcome in [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Timeout,
        Outcome::Unhealthy,
        Outcome::Cancelled,
        Outcome::Ignored,
    ] {
        round_trip(&outcome);
    }
}

#[test]
fn chaos_configurations_round_trip() {
    let config = ChaosConfig::builder()
        .error(
            Rate::percent(50),
            Schedule::Between {
                from: Instant::from_secs(60),
                until: Instant::from_secs(180),
            },
        )
        .outcome(
            Rate::per_million(25_000),
            Schedule::Periodic {
                period: Duration::from_secs(20),
                active: Duration::from_secs(5),
                offset: Duration::from_secs(10),
            },
        )
        .latency(
            Rate::ALWAYS,
            ms(10),
            ms(2_000),
            Schedule::Ramp {
                from: Instant::ZERO,
                full_at: Instant::from_secs(300),
            },
        )
        .build()
        .unwrap();
    round_trip(&config);
    round_trip(&ChaosConfig::NONE);
    let text = "[config]\nerror = { rate = 0.05 }\nhang = { rate = 0.01, schedule = { kind = \"periodic\", period = \"1m\", active = \"10s\" } }\n";
    let read: ChaosConfig = from_toml(text).unwrap();
    assert_eq!(read.error().rate, Rate::percent(5));
    assert_eq!(
        read.hang().schedule,
        Schedule::Periodic {
            period: Duration::from_secs(60),
            active: Duration::from_secs(10),
            offset: Duration::ZERO
        }
    );
}

#[test]
fn a_file_reads_as_the_documented_form() {
    let text = r#"
        [breaker]
        failure_rate_threshold = "off"
        consecutive_failures = 5
        open_wait = "1m30s"

        [retry]
        max_attempts = "unlimited"
        max_elapsed = "10s"
        jitter = "equal"
        backoff = { kind = "exponential", initial = "100ms", multiplier = 2, max = "5s" }
        retry_after = { kind = "clamp", max_extra = "2s" }

        [limit]
        rate = 600
        per = "1m"
        burst = 20

        [hedge]
        delay = "quantile"
    "#;
    #[derive(Deserialize)]
    struct Service {
        breaker: BreakerConfig,
        retry: RetryConfig,
        limit: Quota,
        hedge: HedgeConfig,
    }
    let s: Service = toml::from_str(text).unwrap();
    assert_eq!(s.breaker.open_wait(), Duration::from_secs(90));
    assert_eq!(s.retry.max_attempts(), None);
    assert_eq!(s.retry.max_elapsed(), Some(Duration::from_secs(10)));
    assert_eq!(s.retry.jitter(), Jitter::Equal);
    assert_eq!(
        s.retry.backoff(),
        BackoffKind::Exponential {
            initial: ms(100),
            multiplier: 2.0,
            max: Duration::from_secs(5)
        }
    );
    assert_eq!(
        s.limit,
        Quota::per_minute(600).unwrap().with_burst(20).unwrap()
    );
    assert!(matches!(s.hedge.delay(), HedgeDelay::Quantile));
    // what it would be from the builder
    assert_eq!(
        s.breaker,
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(5)
            .open_wait(Duration::from_secs(90))
            .build()
            .unwrap()
    );
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// `body` under a `[config]` table on line 4 of a file: the error names
/// `field` and carries line 4, the table's (in its message and its span).
fn rejects<T: DeserializeOwned>(body: &str, field: &str) -> String {
    rejects_at::<T>(body, field, 4)
}

/// As [`rejects`], the error raised in a nested value (an inline table, a
/// kind word) on `line`: toml points at that value.
fn rejects_at<T: DeserializeOwned>(body: &str, field: &str, line: usize) -> String {
    let text = format!("# a service\ntitle = \"checkout\"\n\n[config]\n{body}\n");
    let Err(e) = from_toml::<T>(&text) else {
        panic!("accepted: {text}");
    };
    let message = e.to_string();
    assert!(
        message.contains(&format!("invalid `{field}`")),
        "the field `{field}` is not named in: {message}"
    );
    let span = e.span().expect("the error has a span");
    assert_eq!(
        line_of(&text, span.start),
        line,
        "span {span:?} in: {message}"
    );
    assert!(
        message.contains(&format!("line {line}")),
        "no line in: {message}"
    );
    message
}

#[test]
fn each_configuration_rejects_a_bad_value_naming_the_field_and_the_line() {
    let message = rejects::<BreakerConfig>(
        "open_wait = \"5s\"\nfailure_rate_threshold = 1.5",
        "failure_rate_threshold",
    );
    eprintln!("{message}"); // what a user sees (shown with --nocapture)
    rejects::<FailFastConfig>("consecutive_failures = 0", "consecutive_failures");
    rejects::<BulkheadConfig>("max_concurrent = 0", "max_concurrent");
    rejects::<FixedLimit>("limit = 0", "limit");
    rejects::<Aimd>("min_limit = 10\nmax_limit = 5", "max_limit");
    rejects::<Vegas>("alpha = 5\nbeta = 2", "beta");
    rejects::<Gradient2>("rtt_tolerance = 0.5", "rtt_tolerance");
    rejects::<Quota>("burst = 4", "rate");
    rejects::<Quota>("period = \"10ms\"\nrate = 5", "period");
    rejects::<TokenBucket>("capacity = 10\nrefill = 0\nperiod = \"1s\"", "refill");
    rejects::<FixedWindow>("limit = 10\nwindow = \"0s\"", "window");
    rejects::<SlidingWindow<10>>("limit = 10\nwindow = \"5ns\"", "window");
    rejects_at::<KeyedGcra<u32, 8>>("seed = 1\nquota = { period = \"0s\" }", "period", 6);
    rejects::<RetryConfig>("max_attempts = 0", "max_attempts");
    rejects_at::<RetryConfig>(
        "backoff = { kind = \"linear\", initial = \"1s\", step = \"1s\", max = \"10ms\" }",
        "backoff.max",
        5,
    );
    rejects_at::<RetryConfig>(
        "backoff = { kind = \"constant\", delay = \"1s\", step = \"1s\" }",
        "backoff.step",
        5,
    );
    rejects::<BackoffKind>(
        "kind = \"exponential\"\ninitial = \"1s\"\nmax = \"2s\"",
        "backoff.multiplier",
    );
    rejects_at::<RetryConfig>("jitter = 1.5", "jitter", 5);
    rejects_at::<RetryConfig>("retry_after = { kind = \"trust\" }", "retry_after.max", 5);
    rejects::<RetryAfter>("kind = \"ignore\"\nmax = \"1s\"", "retry_after.max");
    rejects::<RatioBudget<10>>("ratio = -1.0", "ratio");
    rejects::<TokenQuota>("capacity = 10\nerror_cost = 11", "error_cost");
    rejects::<GrpcThrottle>("max_tokens = 10\ntoken_ratio = 2.0", "token_ratio");
    rejects::<TimeoutConfig>("mode = \"soft\"", "timeout");
    rejects::<TimeoutConfig>("timeout = \"0s\"", "timeout");
    rejects::<HedgeConfig>("max_attempts = 0", "max_attempts");
    rejects::<CacheConfig>("refresh_ahead = \"1s\"", "refresh_ahead");
    rejects::<Window>("start = \"2h\"\nend = \"1h\"", "end");
    rejects::<ChaosConfig>("error = { rate = 0.6 }\nhang = { rate = 0.5 }", "hang.rate");
    rejects::<ChaosConfig>(
        "latency = { rate = 1.0, min = \"2s\", max = \"1s\" }",
        "latency.max",
    );
    rejects::<ChaosConfig>(
        "error = { rate = 1.0, schedule = { kind = \"between\", from = \"5s\" } }",
        "until",
    );
    rejects::<ChaosConfig>("error = { rate = 1.5 }", "error.rate");
    rejects::<ToggleConfig<1>>(
        "seed = 3\nflags = [{ name = \"beta\", rollout = 20000 }]",
        "rollout",
    );
    // a fallback policy has no invalid value, only a misspelt key
    let e = from_toml::<FallbackPolicy>("[config]\non_faild = true\n").unwrap_err();
    assert!(e.to_string().contains("unknown field `on_faild`"), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn a_toml_error_message_as_a_user_sees_it() {
    let text = "[retry]\nmax_attempts = 3\nbackoff = { kind = \"exponential\", initial = \"1s\", multiplier = 0.5, max = \"10s\" }\n";
    #[derive(Debug, Deserialize)]
    struct Service {
        #[allow(dead_code)]
        retry: RetryConfig,
    }
    let e = toml::from_str::<Service>(text).unwrap_err();
    eprintln!("{e}");
    assert!(e.to_string().contains("invalid `backoff.multiplier`"));
    assert!(e.to_string().contains("line 3"));
}

/// Draws `T` from `bytes`: always valid (drawn through its builder).
fn draw<'a, T: Arbitrary<'a>>(u: &mut Unstructured<'a>) -> T {
    T::arbitrary(u).expect("an arbitrary configuration is always valid")
}

#[test]
fn arbitrary_configurations_are_valid_and_round_trip() {
    // a fixed-seed xorshift: reproducible "random" bytes
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut bytes = vec![0u8; 4096];
    for case in 0..300 {
        for b in &mut bytes {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        // some cases run short of bytes: the smallest values, still valid
        let len = if case % 10 == 0 {
            case % 64
        } else {
            bytes.len()
        };
        let mut u = Unstructured::new(&bytes[..len]);
        round_trip(&draw::<BreakerConfig>(&mut u));
        round_trip(&draw::<FailFastConfig>(&mut u));
        round_trip(&draw::<BulkheadConfig>(&mut u));
        round_trip(&draw::<FixedLimit>(&mut u));
        round_trip(&draw::<Aimd>(&mut u));
        round_trip(&draw::<Vegas>(&mut u));
        round_trip(&draw::<Gradient2>(&mut u));
        round_trip(&draw::<Quota>(&mut u));
        round_trip(&draw::<TokenBucket>(&mut u));
        round_trip(&draw::<FixedWindow>(&mut u));
        round_trip(&draw::<SlidingWindow<7>>(&mut u));
        round_trip(&draw::<RetryConfig>(&mut u));
        round_trip(&draw::<RatioBudget<10>>(&mut u));
        round_trip(&draw::<TokenQuota>(&mut u));
        round_trip(&draw::<GrpcThrottle>(&mut u));
        round_trip(&draw::<TimeoutConfig>(&mut u));
        round_trip(&draw::<FallbackPolicy>(&mut u));
        round_trip_text(&draw::<HedgeConfig>(&mut u));
        round_trip(&draw::<CacheConfig>(&mut u));
        let timeline: Timeline = draw(&mut u);
        assert!(timeline.steps.len() <= Timeline::MAX_LEN);
        let _ = draw::<Outcome>(&mut u);
        // and a drawn limit starts inside its bounds
        let aimd: Aimd = draw(&mut u);
        assert!((aimd.min_limit()..=aimd.max_limit()).contains(&aimd.limit()));
    }
}

#[test]
fn durations_read_and_write_in_the_documented_grammar() {
    use failsafe_core::serde_support::duration::{ParseDurationError, Text, parse};
    assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
    assert_eq!(
        parse("1h 2m 3s 4ms 5us 6ns"),
        Ok(Duration::new(3_723, 4_005_006))
    );
    assert_eq!(parse("1.25 min"), Ok(Duration::from_secs(75)));
    assert_eq!(parse("7µs"), Ok(Duration::from_micros(7)));
    assert_eq!(parse("0.0000000015s"), Ok(Duration::from_nanos(1))); // below 1 ns: truncated
    assert_eq!(parse("  "), Err(ParseDurationError::Empty));
    assert_eq!(parse("ms"), Err(ParseDurationError::Number));
    assert_eq!(parse("-5s"), Err(ParseDurationError::Negative));
    assert_eq!(parse("1s -5ms"), Err(ParseDurationError::Negative));
    assert_eq!(parse("-"), Err(ParseDurationError::Number));
    assert_eq!(parse("1s-"), Err(ParseDurationError::Unit));
    assert_eq!(parse("1.s"), Err(ParseDurationError::Number));
    assert_eq!(parse("5"), Err(ParseDurationError::Unit));
    assert_eq!(parse("5 weeks"), Err(ParseDurationError::Unit));
    assert_eq!(
        parse("18446744073709551616s"),
        Err(ParseDurationError::Overflow)
    );
    assert_eq!(
        parse("99999999999999999999999999999999999999999d"),
        Err(ParseDurationError::Overflow)
    );
    // the written form reads back exactly, up to Duration::MAX
    for d in [
        Duration::ZERO,
        Duration::from_nanos(1),
        ms(1_500),
        Duration::from_secs(3_600 * 30),
        Duration::MAX,
    ] {
        assert_eq!(parse(&Text(d).to_string()), Ok(d), "{}", Text(d));
    }
    // in a file: the error names the value and the line
    let e = from_toml::<BulkheadConfig>("[config]\nmax_concurrent = 4\nmax_wait = \"3 parsecs\"\n")
        .unwrap_err();
    assert!(
        e.to_string().contains("invalid duration \"3 parsecs\""),
        "{e}"
    );
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn a_hedge_delay_given_as_a_function_cannot_be_written() {
    let config = HedgeConfig::builder()
        .delay(HedgeDelay::Function(|n| {
            Duration::from_millis(10 * u64::from(n))
        }))
        .build()
        .unwrap();
    let e = toml::to_string(&Doc { config }).unwrap_err();
    assert!(e.to_string().contains("cannot be serialised"), "{e}");
}

#[test]
fn without_a_default_the_missing_setting_is_named() {
    let e = from_toml::<Quota>("[config]\nburst = 3\n").unwrap_err();
    assert!(e.to_string().contains("invalid `rate`: must be set"), "{e}");
    let e = from_toml::<TokenBucket>("[config]\ncapacity = 3\n").unwrap_err();
    assert!(
        e.to_string().contains("invalid `refill`: must be set"),
        "{e}"
    );
    let e = from_toml::<TimeoutConfig>("[config]\n").unwrap_err();
    assert!(
        e.to_string().contains("invalid `timeout`: must be set"),
        "{e}"
    );
}
