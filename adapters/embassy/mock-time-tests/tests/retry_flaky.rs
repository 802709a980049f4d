//! A flaky operation fails twice, then succeeds: three attempts, at t=0,
//! t=100ms and t=300ms (exponential backoff: 100 ms, then 200 ms, no
//! jitter). The call ends exactly when the backoff delays add up, in
//! virtual time, and the observer sees every step at its instant.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{
    Attempt, BackoffKind, FailureKind, FnObserver, Instant, Jitter, NoBudget, RetryConfig,
    RetryEvent, RetryPolicy,
};

static EVENTS: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
static ATTEMPTS: Mutex<Vec<(u32, Instant)>> = Mutex::new(Vec::new());

fn log(event: RetryEvent) {
    EVENTS.lock().unwrap().push(event);
}

const CONFIG: RetryConfig = failsafe_embassy::checked(
    RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Exponential {
            initial: millis(100),
            multiplier: 2.0,
            max: millis(10_000),
        })
        .jitter(Jitter::None)
        .build(),
);

static SENSOR: RetryPolicy<NoBudget, FnObserver<fn(RetryEvent)>> =
    RetryPolicy::new(&CONFIG, 1).with_observer(FnObserver(log as fn(RetryEvent)));

/// Fails the first two times it is asked.
async fn flaky(attempt: Attempt) -> Result<&'static str, &'static str> {
    ATTEMPTS.lock().unwrap().push((attempt.number, now()));
    if attempt.number < 3 {
        Err("crc mismatch")
    } else {
        Ok("21.5 C")
    }
}

fn attempts() -> Vec<(u32, Instant)> {
    ATTEMPTS.lock().unwrap().clone()
}

#[test]
fn a_flaky_operation_succeeds_at_the_third_attempt_after_exactly_the_backoff() {
    let mut call = pin!(SENSOR.call(flaky));

    // t=0: the first attempt fails; the call sleeps until t=100ms.
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts(), [(1, ms(0))]);

    // Not a microsecond early.
    advance_to(just_before(ms(100)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts().len(), 1);

    // t=100ms: the second attempt fails; the delay doubles, to t=300ms.
    advance_to(ms(100));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts(), [(1, ms(0)), (2, ms(100))]);

    advance_to(just_before(ms(300)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts().len(), 2);

    // t=300ms = 100 + 200: the third attempt succeeds, and the call is over.
    advance_to(ms(300));
    assert_eq!(run_until_idle(call.as_mut()), Poll::Ready(Ok("21.5 C")));
    assert_eq!(attempts(), [(1, ms(0)), (2, ms(100)), (3, ms(300))]);

    let failed = |attempt, at| RetryEvent::AttemptFailed {
        attempt,
        at,
        kind: FailureKind::Error,
        took: millis(0),
    };
    let scheduled = |attempt, retry_at, delay| RetryEvent::RetryScheduled {
        attempt,
        retry_at,
        delay,
    };
    assert_eq!(
        *EVENTS.lock().unwrap(),
        [
            failed(1, ms(0)),
            scheduled(2, ms(100), millis(100)),
            failed(2, ms(100)),
            scheduled(3, ms(300), millis(200)),
            RetryEvent::Succeeded {
                attempts: 3,
                at: ms(300),
                took: millis(0),
                elapsed: millis(300),
            },
        ]
    );
}
