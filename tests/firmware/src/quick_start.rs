//! A sensor behind a circuit breaker, its reports behind a rate limiter:
//! spawn `sensor()` from `main`. `read_sensor` and `send_report` are your
//! drivers.
use core::time::Duration;

use embassy_time::Timer;
use failsafe_embassy::{
    BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, Quota, RateLimiterPolicy, WakeAt,
    checked, circuit_breaker, rate_limiter,
};

use crate::bus::{read_sensor, send_report};

/// Opens when half of the last 20 reads failed (once 10 were seen); a
/// probe after 50 ms. `checked`: a bad value fails the build, naming the
/// field.
const SENSOR_CONFIG: BreakerConfig = checked(
    BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(10)
        .open_wait(Duration::from_millis(50))
        .build(),
);
/// `CountWindow<20, 1>`: the last 20 calls as bits in one 32-call word.
pub(crate) static SENSOR: CircuitBreakerPolicy<CountWindow<20, 1>> =
    circuit_breaker(&SENSOR_CONFIG, CountWindow::new());

/// 10 reports a second, bursts of 2; a report waits up to 1 s for its turn.
const UPLINK_QUOTA: Quota = checked(Quota::builder().per_second(10).burst(2).build());
pub(crate) static UPLINK: RateLimiterPolicy = rate_limiter(UPLINK_QUOTA, Duration::from_secs(1));

#[embassy_executor::task]
pub(crate) async fn sensor() {
    loop {
        match SENSOR.call(read_sensor).await {
            Ok(value) => {
                let _ = UPLINK.call(|| send_report(value)).await;
            }
            Err(Error::Rejected(rejected)) => {
                // Open: the bus was not touched. Sleep until a probe is admitted.
                if let Some(at) = rejected.wake_at() {
                    Timer::at(at).await;
                }
            }
            Err(_bus_fault) => {} // counted as a failure
        }
        Timer::after_millis(10).await;
    }
}
