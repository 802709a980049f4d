//! Dropping a retrying future stops it: dropped while asleep between
//! attempts, or in the middle of an attempt (which is dropped too), nothing
//! runs again however far the clock moves; the next call starts afresh.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;
use std::sync::Mutex;

use common::{advance_to, hang, millis, ms, now, run_until_idle};
use failsafe_embassy::{
    Attempt, BackoffKind, FailureKind, FnObserver, Instant, Jitter, NoBudget, RetryConfig,
    RetryEvent, RetryPolicy,
};

static EVENTS: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
static ATTEMPTS: Mutex<Vec<(u32, Instant)>> = Mutex::new(Vec::new());
static CANCELLED: AtomicU32 = AtomicU32::new(0);

fn log(event: RetryEvent) {
    EVENTS.lock().unwrap().push(event);
}

static UPLINK: RetryPolicy<NoBudget, FnObserver<fn(RetryEvent)>> = RetryPolicy::new(
    &failsafe_embassy::checked(
        RetryConfig::builder()
            .unlimited_attempts()
            .backoff(BackoffKind::Constant(millis(1_000)))
            .jitter(Jitter::None)
            .build(),
    ),
    1,
)
.with_observer(FnObserver(log as fn(RetryEvent)));

/// Fails the first attempt; hangs in the second; succeeds from the third.
async fn upload(attempt: Attempt) -> Result<u8, &'static str> {
    ATTEMPTS.lock().unwrap().push((attempt.number, now()));
    match attempt.number {
        1 => Err("no carrier"),
        2 => hang(&CANCELLED).await,
        _ => Ok(1),
    }
}

fn attempts() -> Vec<(u32, Instant)> {
    ATTEMPTS.lock().unwrap().clone()
}

fn take_events() -> Vec<RetryEvent> {
    std::mem::take(&mut *EVENTS.lock().unwrap())
}

#[test]
fn a_dropped_retrying_future_stops_retrying() {
    // Dropped while asleep: attempt 1 failed at t=0, the retry was due at 1s.
    {
        let mut call = pin!(UPLINK.call(upload));
        assert!(run_until_idle(call.as_mut()).is_pending());
        assert_eq!(attempts(), [(1, ms(0))]);
    }
    advance_to(ms(10_000));
    assert_eq!(attempts(), [(1, ms(0))], "no attempt after the drop");
    assert_eq!(
        take_events(),
        [
            RetryEvent::AttemptFailed {
                attempt: 1,
                at: ms(0),
                kind: FailureKind::Error,
                took: millis(0),
            },
            RetryEvent::RetryScheduled {
                attempt: 2,
                retry_at: ms(1_000),
                delay: millis(1_000)
            },
        ]
    );

    // Dropped during an attempt: the attempt's future is dropped with it.
    {
        let mut call = pin!(UPLINK.call(upload));
        assert!(run_until_idle(call.as_mut()).is_pending());
        advance_to(ms(11_000));
        assert!(run_until_idle(call.as_mut()).is_pending());
        assert_eq!(attempts()[1..], [(1, ms(10_000)), (2, ms(11_000))]);
        assert_eq!(CANCELLED.load(Ordering::SeqCst), 0);
    }
    assert_eq!(CANCELLED.load(Ordering::SeqCst), 1);
    advance_to(ms(100_000));
    assert_eq!(attempts().len(), 3, "no attempt after the drop");
    assert_eq!(
        take_events().len(),
        2,
        "attempt 1 failed, attempt 2 scheduled"
    );

    // The policy itself is untouched: a new call counts from 1 again.
    let mut call =
        pin!(UPLINK.call(|attempt: Attempt| async move { Ok::<_, &str>(attempt.number) }));
    assert_eq!(run_until_idle(call.as_mut()), Poll::Ready(Ok(1)));
}
