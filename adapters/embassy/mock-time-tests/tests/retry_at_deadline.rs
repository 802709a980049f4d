//! A caller that sleeps until a rejection's `retry_at` (the quick start's
//! pattern) wakes exactly when the breaker will admit it, in virtual time.
//!
//! One scenario per file: the mock clock is process-wide.

use core::time::Duration;
use std::pin::pin;

use embassy_time::{MockDriver, Timer};
use failsafe_embassy::{
    BreakerConfig, CircuitBreakerPolicy, Clock, EmbassyClock, Error, Instant, NoWindow, Runtime,
    circuit_breaker,
};
use futures_lite::future::{block_on, poll_once};

static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(
    &failsafe_embassy::checked(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_millis(250))
            .build(),
    ),
    NoWindow,
);

/// Calls until a call runs, sleeping until `retry_at` after each rejection;
/// returns how many rejections it saw.
async fn call_when_allowed() -> u32 {
    let mut rejections = 0;
    loop {
        match BREAKER.call(|| async { Ok::<_, ()>(()) }).await {
            Err(Error::Rejected(r)) => {
                rejections += 1;
                Timer::at(EmbassyClock::retry_at(&r).unwrap()).await;
            }
            _ => return rejections,
        }
    }
}

#[test]
fn a_caller_sleeping_until_retry_at_is_admitted_on_time() {
    let driver = MockDriver::get();

    // The clock reads whole microseconds of the mock driver's time.
    driver.advance(embassy_time::Duration::from_micros(7));
    assert_eq!(EmbassyClock.now(), Instant::from_micros(7));

    // A deadline between two microseconds is rounded up, never down.
    let mut sleep = EmbassyClock.sleep_until(Instant::from_nanos(8_500));
    assert!(block_on(poll_once(&mut sleep)).is_none());
    driver.advance(embassy_time::Duration::from_micros(1)); // t=8µs < 8.5µs
    assert!(block_on(poll_once(&mut sleep)).is_none());
    driver.advance(embassy_time::Duration::from_micros(1)); // t=9µs
    assert_eq!(block_on(poll_once(&mut sleep)), Some(()));

    // t=9µs: one failure opens the breaker until t=250.009ms.
    assert!(block_on(BREAKER.call(|| async { Err::<(), _>(()) })).is_err());
    let mut caller = pin!(call_when_allowed());
    assert!(
        block_on(poll_once(caller.as_mut())).is_none(),
        "rejected, asleep"
    );

    driver.advance(embassy_time::Duration::from_micros(250_000 - 1));
    assert!(
        block_on(poll_once(caller.as_mut())).is_none(),
        "still asleep 1µs early"
    );

    driver.advance(embassy_time::Duration::from_micros(1));
    assert_eq!(
        block_on(poll_once(caller.as_mut())),
        Some(1),
        "admitted at retry_at"
    );
    assert_eq!(EmbassyClock.now(), Instant::from_micros(250_009));
}
