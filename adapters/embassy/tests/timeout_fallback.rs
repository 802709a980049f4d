//! `with_timeout` and `fallback` on embassy-time's real `std` driver.
//!
//! No test waits on real time: an operation either finishes at once, or
//! runs under a deadline that has already passed (its timer fires at once),
//! or under one an hour away that it never gets near.

use core::future::Future;
use core::time::Duration;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use failsafe_embassy::driver;
use failsafe_embassy::{
    BackoffKind, Clock, Deadline, EmbassyClock, Error, FallbackEvent, FallbackPolicy,
    FallbackReason, FnObserver, GiveUp, Jitter, RejectReason, Rejected, RetryConfig, RetryError,
    RetryPolicy, TimeoutConfig, TimeoutEvent, TimeoutMode, with_timeout,
};
use futures_lite::future::block_on;

/// Any failure falls back: the driver's fallback on embassy's clock, for
/// every reason, with no observer.
async fn fallback<P, A, AFut, T, X>(primary: P, alternative: A) -> Result<T, X>
where
    P: Future<Output = Result<T, X>>,
    X: driver::FallbackCause,
    A: FnOnce(FallbackReason, X) -> AFut,
    AFut: Future<Output = Result<T, X>>,
{
    let always = |_: &X| true;
    driver::fallback(
        &EmbassyClock,
        FallbackPolicy::ALL,
        (),
        always,
        primary,
        alternative,
    )
    .await
}

const HOUR: Duration = Duration::from_secs(3_600);
const AN_HOUR: TimeoutConfig = failsafe_embassy::checked(TimeoutConfig::new(HOUR));

#[test]
fn a_quick_operation_keeps_its_result_and_gets_the_deadline() {
    let before = EmbassyClock.now();
    let handed = Mutex::new(None);
    let r = block_on(with_timeout(AN_HOUR, Deadline::NEVER, |deadline| {
        *handed.lock().unwrap() = Some(deadline);
        async { Ok::<_, &str>(5) }
    }));
    let after = EmbassyClock.now();
    assert_eq!(r, Ok(5));
    let deadline = handed.into_inner().unwrap().expect("op was called");
    assert!(Deadline::after(before, HOUR) <= deadline && deadline <= Deadline::after(after, HOUR));

    let r = block_on(with_timeout(AN_HOUR, Deadline::NEVER, |_| async {
        Err::<u8, _>("nack")
    }));
    assert_eq!(r, Err(Error::Inner("nack")));
}

#[test]
fn an_inner_timeout_never_outlives_its_parent() {
    let parent = Deadline::after(EmbassyClock.now(), Duration::from_secs(60));
    let r = block_on(with_timeout(AN_HOUR, parent, |deadline| async move {
        Ok::<_, ()>(deadline)
    }));
    assert_eq!(r, Ok(parent));
}

#[test]
fn a_spent_deadline_never_starts_the_operation() {
    // As for blocking work: an attempt whose deadline has passed is not
    // started at all (the caller's budget is spent).
    let started = AtomicBool::new(false);
    let spent = Deadline::at(EmbassyClock.now());
    let r = block_on(with_timeout(AN_HOUR, spent, |_| {
        started.store(true, Ordering::SeqCst);
        core::future::pending::<Result<(), ()>>()
    }));
    assert_eq!(r, Err(Error::Timeout(spent)));
    assert!(
        !started.load(Ordering::SeqCst),
        "the operation never started"
    );
}

#[test]
fn a_soft_timeout_lets_the_work_finish_and_reports_the_overrun() {
    static EVENTS: Mutex<Vec<TimeoutEvent>> = Mutex::new(Vec::new());
    fn log(event: TimeoutEvent) {
        EVENTS.lock().unwrap().push(event);
    }
    let soft = AN_HOUR.mode(TimeoutMode::Soft);
    let spent = Deadline::at(EmbassyClock.now());
    // With an observer: the driver's timeout on embassy's clock.
    let r = block_on(driver::timeout(
        &EmbassyClock,
        soft,
        spent,
        FnObserver(log as fn(TimeoutEvent)),
        |_| async { Ok::<_, Error<()>>("late, but here") },
    ));
    assert_eq!(r, Ok("late, but here"));
    let events = EVENTS.lock().unwrap();
    assert!(
        matches!(
            events[..],
            [TimeoutEvent::Expired { deadline, mode: TimeoutMode::Soft, .. }] if deadline == spent
        ),
        "{events:?}"
    );
}

#[test]
fn a_failure_falls_back_to_a_value() {
    let r = block_on(fallback(
        async { Err::<u16, _>(Error::Inner("nack")) },
        |reason, error| async move {
            assert_eq!(
                (reason, error),
                (FallbackReason::Failed, Error::Inner("nack"))
            );
            Ok(0)
        },
    ));
    assert_eq!(r, Ok(0));

    // Success never runs the alternative.
    let r = block_on(fallback(
        async { Ok::<u16, Error<&str>>(7) },
        |_, _| async { unreachable!("the primary succeeded") },
    ));
    assert_eq!(r, Ok(7));
}

#[test]
fn the_policy_and_the_predicate_choose_what_falls_back() {
    static EVENTS: Mutex<Vec<FallbackEvent>> = Mutex::new(Vec::new());
    fn log(event: FallbackEvent) {
        EVENTS.lock().unwrap().push(event);
    }
    let log = FnObserver(log as fn(FallbackEvent));
    let open = Error::<&str>::Rejected(Rejected::new(RejectReason::BreakerOpen, None));
    let timeouts_only = FallbackPolicy::NONE.on_timed_out(true);
    let any = |_: &Error<&str>| true;

    // Not a reason the policy accepts: the error comes back as it was.
    let r = block_on(driver::fallback(
        &EmbassyClock,
        timeouts_only,
        log,
        any,
        async { Err::<u8, _>(open) },
        |_, _| async { Ok(1) },
    ));
    assert_eq!(r, Err(open));

    // A reason it accepts, but the predicate says no.
    let spent = Deadline::at(EmbassyClock.now());
    let timed_out = Error::<&str>::Timeout(spent);
    let r = block_on(driver::fallback(
        &EmbassyClock,
        timeouts_only,
        log,
        |e: &Error<&str>| !e.is_timeout(),
        async { Err::<u8, _>(timed_out) },
        |_, _| async { Ok(1) },
    ));
    assert_eq!(r, Err(timed_out));
    assert!(EVENTS.lock().unwrap().is_empty());

    // Both agree: the alternative answers, and the observer hears of it.
    let before = EmbassyClock.now();
    let r = block_on(driver::fallback(
        &EmbassyClock,
        timeouts_only,
        log,
        any,
        async { Err::<u8, _>(timed_out) },
        |_, _| async { Ok(1) },
    ));
    assert_eq!(r, Ok(1));
    match EVENTS.lock().unwrap()[..] {
        [
            FallbackEvent::FellBack {
                reason: FallbackReason::TimedOut,
                index: 0,
                at,
            },
        ] => assert!(at >= before),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn retries_that_give_up_fall_back_with_their_reason() {
    static RETRY: RetryPolicy = RetryPolicy::new(
        &failsafe_embassy::checked(
            RetryConfig::builder()
                .max_attempts(2)
                .backoff(BackoffKind::Constant(Duration::ZERO))
                .jitter(Jitter::None)
                .build(),
        ),
        1,
    );
    let r = block_on(fallback(
        RETRY.call(|_| async { Err::<u8, _>("nack") }),
        |reason, error: RetryError<&str>| async move {
            assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
            assert_eq!((error.attempts, error.last), (2, Some("nack")));
            Ok(0)
        },
    ));
    assert_eq!(r, Ok(0));
}
