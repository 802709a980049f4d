//! A device that answers "busy, ask again in N" is asked again then: the
//! hint replaces the computed 100 ms delay, within the policy's limits
//! (the default clamp: no shorter than the computed delay, no more than
//! 5 s longer), in virtual time.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;
use core::time::Duration;
use std::sync::Mutex;

use common::{advance_to, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{
    Attempt, BackoffKind, Deadline, FailureKind, Instant, Jitter, RetryConfig, RetryPolicy, Verdict,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum ModemError {
    /// "+CME ERROR: busy", with the modem's own estimate.
    Busy { retry_in: Duration },
}

/// The modem's hint goes into the verdict; the modem being busy is
/// throttling, which budgets may price differently from an error.
fn honour_busy(result: &Result<u8, ModemError>) -> Verdict {
    match result {
        Ok(_) => Verdict::Success,
        Err(ModemError::Busy { retry_in }) => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(*retry_in),
        },
    }
}

static MODEM: RetryPolicy = RetryPolicy::new(
    &failsafe_embassy::checked(
        RetryConfig::builder()
            .max_attempts(4)
            .backoff(BackoffKind::Constant(millis(100)))
            .jitter(Jitter::None)
            .build(),
    ),
    1,
);

static ATTEMPTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

/// Busy for 2 s, then for 60 s, then for 10 ms; then it answers.
async fn send_sms(attempt: Attempt) -> Result<u8, ModemError> {
    ATTEMPTS.lock().unwrap().push(now());
    let busy = |ms| {
        Err(ModemError::Busy {
            retry_in: millis(ms),
        })
    };
    match attempt.number {
        1 => busy(2_000),
        2 => busy(60_000),
        3 => busy(10),
        _ => Ok(42),
    }
}

fn attempts() -> Vec<Instant> {
    ATTEMPTS.lock().unwrap().clone()
}

#[test]
fn a_retry_after_hint_is_honoured_within_the_clamp() {
    let mut call = pin!(MODEM.call_within(Deadline::NEVER, &honour_busy, send_sms));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts(), [ms(0)]);

    // "Busy for 2 s": asked again after 2 s, not after the 100 ms backoff.
    advance_to(ms(100));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(just_before(ms(2_000)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts().len(), 1);
    advance_to(ms(2_000));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts(), [ms(0), ms(2_000)]);

    // "Busy for 60 s" is clamped to 100 ms + 5 s: asked again at t=7.1s.
    advance_to(just_before(ms(7_100)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts().len(), 2);
    advance_to(ms(7_100));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts(), [ms(0), ms(2_000), ms(7_100)]);

    // "Busy for 10 ms" is no reason to come back sooner than 100 ms.
    advance_to(ms(7_110));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(just_before(ms(7_200)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(attempts().len(), 3);
    advance_to(ms(7_200));
    assert_eq!(run_until_idle(call.as_mut()), Poll::Ready(Ok(42)));
    assert_eq!(attempts(), [ms(0), ms(2_000), ms(7_100), ms(7_200)]);
}
