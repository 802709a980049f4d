//! The three patterns in `static`s, configs checked at compile time:
//! shared by the firmware and the no-panic proof (`src/bin/no_panic.rs`).
use core::time::Duration;

use failsafe_embassy::{
    BackoffKind, BreakerConfig, CircuitBreakerPolicy, CountWindow, CsKind, Jitter, NoBudget, Quota,
    RateLimiterPolicy, RetryConfig, RetryPolicy, checked, circuit_breaker, const_config,
    rate_limiter,
};

const_config! {
    /// Opens after 5 failures in a row (or half of the last 128 calls once
    /// 20 were seen), for 50 ms; one probe. A zero-sized type naming the
    /// `const`: no RAM, and the compiler folds it into the breaker's code.
    pub(crate) SensorConfig: BreakerConfig = checked(
        BreakerConfig::builder()
            .failure_rate_threshold(0.5)
            .minimum_calls(20)
            .consecutive_failures(5)
            .open_wait(Duration::from_millis(50))
            .half_open_probes(1)
            .success_threshold(1)
            .build(),
    );
}
/// 64 B of RAM with its lock: the 128 calls as failure bits (no slow-call
/// bits: the config detects none), no metrics counters (`NoCounters`,
/// `circuit_breaker`'s default), the config a zero-sized type.
pub(crate) static SENSOR: CircuitBreakerPolicy<CountWindow<128, 4, 0>, (), CsKind, SensorConfig> =
    circuit_breaker(SensorConfig, CountWindow::new());

const_config! {
    /// 4 attempts, 10 ms doubling up to 100 ms, full jitter: a zero-sized
    /// type naming the `const`, so the compiler keeps only the exponential
    /// shape's and full jitter's code.
    pub(crate) GpsConfig: RetryConfig = checked(
        RetryConfig::builder()
            .max_attempts(4)
            .backoff(BackoffKind::Exponential {
                initial: Duration::from_millis(10),
                multiplier: 2.0,
                max: Duration::from_millis(100),
            })
            .jitter(Jitter::Full)
            .build(),
    );
}
pub(crate) static GPS: RetryPolicy<NoBudget, (), GpsConfig> = RetryPolicy::new(GpsConfig, 0x5EED);

/// 100 packets a second, bursts of 5; a sender waits up to 1 s.
const RADIO_QUOTA: Quota = checked(Quota::builder().per_second(100).burst(5).build());
pub(crate) static RADIO: RateLimiterPolicy = rate_limiter(RADIO_QUOTA, Duration::from_secs(1));
