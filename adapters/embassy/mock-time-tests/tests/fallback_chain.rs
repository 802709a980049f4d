//! A chain of fallbacks in virtual time: the sensor fails at once, the
//! backup sensor hangs until its timeout at t=200ms, and the last good
//! value answers; the observer sees each step at its instant.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, hang, just_before, millis, ms, run_until_idle};
use failsafe_embassy::driver::fallback;
use failsafe_embassy::{
    Deadline, EmbassyClock, Error, FallbackEvent, FallbackPolicy, FallbackReason, FnObserver,
    TimeoutConfig, with_timeout,
};

const SENSOR_TIMEOUT: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(millis(200)));

static EVENTS: Mutex<Vec<FallbackEvent>> = Mutex::new(Vec::new());
static CALLED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
static BACKUP_CANCELLED: AtomicU32 = AtomicU32::new(0);

fn log(event: FallbackEvent) {
    EVENTS.lock().unwrap().push(event);
}

type Log = FnObserver<fn(FallbackEvent)>;
const LOG: Log = FnObserver(log as fn(FallbackEvent));

async fn sensor() -> Result<i16, &'static str> {
    CALLED.lock().unwrap().push("sensor");
    Err("nack")
}

async fn backup_sensor() -> Result<i16, &'static str> {
    CALLED.lock().unwrap().push("backup");
    hang(&BACKUP_CANCELLED).await
}

async fn last_good(reason: FallbackReason) -> Result<i16, Error<&'static str>> {
    assert_eq!(reason, FallbackReason::TimedOut);
    CALLED.lock().unwrap().push("last good");
    Ok(215)
}

fn fell_back(reason: FallbackReason, at: failsafe_embassy::Instant) -> FallbackEvent {
    FallbackEvent::FellBack {
        reason,
        index: 0,
        at,
    }
}

#[test]
fn primary_fails_first_alternative_times_out_second_answers() {
    advance_to(ms(50));
    let always = |_: &Error<&str>| true;
    // With an observer: the driver's fallback on embassy's clock.
    let mut reading = pin!(fallback(
        &EmbassyClock,
        FallbackPolicy::ALL,
        LOG,
        always,
        with_timeout(SENSOR_TIMEOUT, Deadline::NEVER, |_| sensor()),
        |reason, error| {
            assert_eq!(
                (reason, error),
                (FallbackReason::Failed, Error::Inner("nack"))
            );
            fallback(
                &EmbassyClock,
                FallbackPolicy::ALL,
                LOG,
                always,
                with_timeout(SENSOR_TIMEOUT, Deadline::NEVER, |_| backup_sensor()),
                |reason, _| last_good(reason),
            )
        },
    ));

    // t=50ms: the sensor fails at once, the backup starts and hangs.
    assert!(run_until_idle(reading.as_mut()).is_pending());
    assert_eq!(*CALLED.lock().unwrap(), ["sensor", "backup"]);
    assert_eq!(
        *EVENTS.lock().unwrap(),
        [fell_back(FallbackReason::Failed, ms(50))]
    );

    advance_to(just_before(ms(250)));
    assert!(run_until_idle(reading.as_mut()).is_pending());
    assert_eq!(BACKUP_CANCELLED.load(Ordering::SeqCst), 0);

    // t=250ms: the backup's 200 ms are up: it is dropped, the last good
    // value answers.
    advance_to(ms(250));
    assert_eq!(run_until_idle(reading.as_mut()), Poll::Ready(Ok(215)));
    assert_eq!(BACKUP_CANCELLED.load(Ordering::SeqCst), 1);
    assert_eq!(*CALLED.lock().unwrap(), ["sensor", "backup", "last good"]);
    assert_eq!(
        *EVENTS.lock().unwrap(),
        [
            fell_back(FallbackReason::Failed, ms(50)),
            fell_back(FallbackReason::TimedOut, ms(250)),
        ]
    );
}
