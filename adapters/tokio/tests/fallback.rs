//! The fallback handle on tokio: chains, and falling back for each reason
//! the other patterns produce (an open breaker, exhausted retries, a
//! timeout), in virtual time.

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_tokio::{
    BackoffKind, BreakerConfig, CircuitBreakerPolicy, Error, Fallback, FallbackEvent,
    FallbackPolicy, FallbackReason, GiveUp, Jitter, NoWindow, RejectReason, RetryConfig,
    RetryPolicy, TimeoutConfig, TimeoutPolicy,
};

type Seen = Arc<Mutex<Vec<(FallbackReason, u32)>>>;

fn recording() -> (Fallback, Seen) {
    let seen = Seen::default();
    let sink = Arc::clone(&seen);
    let fallback = Fallback::new().on_event(move |e| {
        if let FallbackEvent::FellBack { reason, index, .. } = e {
            sink.lock().unwrap().push((reason, index));
        }
    });
    (fallback, seen)
}

#[tokio::test(start_paused = true)]
async fn a_chain_runs_alternatives_in_order_until_one_succeeds() {
    let (fallback, seen) = recording();
    let reasons = Mutex::new(Vec::new());
    let result = fallback
        .chain(async { Err::<&str, _>(Error::Inner("primary down")) })
        .or_else(|reason, error| {
            reasons.lock().unwrap().push((reason, error));
            async { Err(Error::Inner("replica down")) }
        })
        .or_else(|reason, error| {
            reasons.lock().unwrap().push((reason, error));
            async { Ok("from cache") }
        })
        .or_else(|_, _| async { panic!("not reached: the cache answered") })
        .await;
    assert_eq!(result, Ok("from cache"));
    assert_eq!(
        *reasons.lock().unwrap(),
        [
            (FallbackReason::Failed, Error::Inner("primary down")),
            (FallbackReason::Failed, Error::Inner("replica down"))
        ]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [(FallbackReason::Failed, 0), (FallbackReason::Failed, 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_falls_back_without_calling_the_primary() {
    let (fallback, seen) = recording();
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    breaker.open(); // tripped, as if by failures
    let called = AtomicBool::new(false);
    let result = fallback
        .call(
            breaker.call(|| async {
                called.store(true, Ordering::SeqCst);
                Ok::<_, &str>("fresh")
            }),
            |reason, error| async move {
                let FallbackReason::Rejected(rejected) = reason else {
                    panic!("expected a rejection, got {reason:?}");
                };
                assert_eq!(rejected.reason, RejectReason::BreakerOpen);
                assert!(error.is_rejected());
                Ok("stale")
            },
        )
        .await;
    assert_eq!(result, Ok("stale"));
    assert!(!called.load(Ordering::SeqCst));
    assert!(matches!(
        seen.lock().unwrap()[..],
        [(FallbackReason::Rejected(_), 0)]
    ));
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fall_back_with_the_reason_and_the_last_error() {
    let (fallback, seen) = recording();
    let retry: RetryPolicy = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    let result = fallback
        .call(
            retry.call(|_| async { Err::<u32, _>("down") }),
            |reason, gave_up| async move {
                assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
                assert_eq!((gave_up.attempts, gave_up.last), (3, Some("down")));
                Ok(0)
            },
        )
        .await;
    assert_eq!(result, Ok(0));
    assert_eq!(
        *seen.lock().unwrap(),
        [(FallbackReason::GaveUp(GiveUp::Attempts), 0)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_falls_back_and_a_policy_can_refuse_other_reasons() {
    let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let only_timeouts = Fallback::new().policy(FallbackPolicy::NONE.on_timed_out(true));

    let slow = timeout.call(|_| pending::<Result<u32, &str>>());
    let result = only_timeouts
        .call(slow, |reason, _| async move {
            assert_eq!(reason, FallbackReason::TimedOut);
            Ok(1)
        })
        .await;
    assert_eq!(result, Ok(1));

    // a plain failure is not a reason this policy accepts: passed through
    let failing = timeout.call(|_| async { Err::<u32, _>("bad request") });
    let result = only_timeouts
        .call(failing, |_, _| async { panic!("must not fall back") })
        .await;
    assert_eq!(result, Err(Error::Inner("bad request")));
}

#[tokio::test(start_paused = true)]
async fn run_when_falls_back_only_for_errors_the_predicate_accepts() {
    let fallback = Fallback::new();
    let not_found = |e: &Error<u16>| matches!(e, Error::Inner(404));
    let r = fallback
        .call_when(
            not_found,
            async { Err::<&str, _>(Error::Inner(404)) },
            |_, _| async { Ok("default") },
        )
        .await;
    assert_eq!(r, Ok("default"));
    let r = fallback
        .call_when(
            not_found,
            async { Err::<&str, _>(Error::Inner(500)) },
            |_, _| async { Ok("default") },
        )
        .await;
    assert_eq!(r, Err(Error::Inner(500)));
}
