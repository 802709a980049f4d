//! The whole call gets 2 s, each attempt 400 ms, retries come 500 ms after
//! a failure, and a retry needs at least 400 ms left. The device never
//! answers: attempts time out at t=400ms and t=1.3s, and then the loop gives
//! up at once with `GiveUp::Deadline` (a retry at t=1.8s could not finish by
//! t=2s) instead of sleeping into the deadline.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, hang, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{
    BackoffKind, Deadline, Error, GiveUp, Instant, Jitter, RetryConfig, RetryError,
    RetryOnFailsafeError, RetryPolicy, TimeoutConfig, with_timeout,
};

const PER_ATTEMPT: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(millis(400)));
const OVERALL: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(millis(2_000)));

static RADIO: RetryPolicy = RetryPolicy::new(
    &failsafe_embassy::checked(
        RetryConfig::builder()
            .unlimited_attempts()
            .backoff(BackoffKind::Constant(millis(500)))
            .jitter(Jitter::None)
            .min_remaining(millis(400))
            .build(),
    ),
    1,
);

static CANCELLED: AtomicU32 = AtomicU32::new(0);
/// (attempt, when it started, the call's deadline, the attempt's deadline)
static SEEN: Mutex<Vec<(u32, Instant, Deadline, Deadline)>> = Mutex::new(Vec::new());

fn seen() -> Vec<(u32, Instant, Deadline, Deadline)> {
    SEEN.lock().unwrap().clone()
}

type Outcome = Result<(), Error<RetryError<Error<&'static str>>>>;

#[test]
fn a_deadline_cuts_the_retry_loop_short() {
    advance_to(ms(1_000)); // start the call at t=1s: everything below is +1 s
    let at = |t: u64| ms(1_000 + t);
    let call_deadline = Deadline::at(at(2_000));

    let mut call = pin!(with_timeout(OVERALL, Deadline::NEVER, |deadline| {
        RADIO.call_within(deadline, &RetryOnFailsafeError, |attempt| {
            with_timeout(PER_ATTEMPT, attempt.deadline, move |attempt_deadline| {
                SEEN.lock().unwrap().push((
                    attempt.number,
                    now(),
                    attempt.deadline,
                    attempt_deadline,
                ));
                hang::<Result<(), &str>>(&CANCELLED)
            })
        })
    }));
    let poll = |call: core::pin::Pin<&mut _>| -> Poll<Outcome> { run_until_idle(call) };

    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(
        seen(),
        [(1, at(0), call_deadline, Deadline::at(at(400)))],
        "the first attempt gets 400 ms of the call's 2 s"
    );

    advance_to(just_before(at(400)));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(CANCELLED.load(Ordering::SeqCst), 0);

    // t=400ms: the attempt is cancelled; 900 + 400 <= 2000, so a retry at 900.
    advance_to(at(400));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(CANCELLED.load(Ordering::SeqCst), 1);
    advance_to(just_before(at(900)));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(seen().len(), 1);

    advance_to(at(900));
    assert!(poll(call.as_mut()).is_pending());
    assert_eq!(
        seen()[1],
        (2, at(900), call_deadline, Deadline::at(at(1_300)))
    );

    advance_to(just_before(at(1_300)));
    assert!(poll(call.as_mut()).is_pending());

    // t=1.3s: the second attempt times out. A third at 1.8s would have less
    // than 400 ms left before 2 s: the loop gives up now, 700 ms before the
    // overall timeout would have fired.
    advance_to(at(1_300));
    assert_eq!(
        poll(call.as_mut()),
        Poll::Ready(Err(Error::Inner(RetryError {
            reason: GiveUp::Deadline,
            attempts: 2,
            last: Some(Error::Timeout(Deadline::at(at(1_300)))),
        })))
    );
    assert_eq!(CANCELLED.load(Ordering::SeqCst), 2);
    assert_eq!(seen().len(), 2);
    assert_eq!(now(), at(1_300));
}
