//! A firmware's `static` pipeline, on embassy's mock time: a breaker and a
//! radio limiter in one chain, three attempts 100 ms apart, each cut at
//! 50 ms. The first attempt hangs and is dropped at its deadline, the
//! second fails and opens the breaker, the third is rejected by the open
//! breaker without running: one error says so, with the retries' reason
//! and the breaker's `retry_at`. No allocation anywhere.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;
use core::time::Duration;
use std::sync::Mutex;
use std::sync::atomic::AtomicU32;

use common::{advance_to, hang, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{
    Attempt, BackoffKind, BreakerConfig, CircuitBreakerPolicy, Error, GiveUp, Instant, Jitter,
    NoWindow, Pipeline, Quota, RateLimiterPolicy, RejectReason, RetryConfig, State, TimeoutConfig,
    checked, circuit_breaker, pipeline, rate_limiter,
};

static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(
    &checked(
        BreakerConfig::builder()
            .consecutive_failures(2)
            .open_wait(millis(1_000))
            .build(),
    ),
    NoWindow,
);
static RADIO: RateLimiterPolicy = rate_limiter(checked(Quota::per_second(1_000)), Duration::ZERO);
static UPLINK: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &RateLimiterPolicy)> =
    pipeline((&BREAKER, &RADIO))
        .retry(checked(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(BackoffKind::Constant(millis(100)))
                .jitter(Jitter::None)
                .build(),
        ))
        .attempt_timeout(checked(TimeoutConfig::new(millis(50))));

static STARTS: Mutex<Vec<(u32, Instant)>> = Mutex::new(Vec::new());
static DROPPED: AtomicU32 = AtomicU32::new(0);

async fn send(attempt: Attempt) -> Result<(), &'static str> {
    STARTS.lock().unwrap().push((attempt.number, now()));
    match attempt.number {
        1 => hang(&DROPPED).await,
        _ => Err("nack"),
    }
}

#[test]
fn a_static_pipeline_times_out_retries_and_stops_at_the_open_breaker() {
    let mut call = pin!(UPLINK.call(send));

    // t=0: the first attempt hangs; cut at exactly 50 ms.
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(just_before(ms(50)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(DROPPED.load(std::sync::atomic::Ordering::SeqCst), 0);
    advance_to(ms(50));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(
        DROPPED.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "dropped at its deadline"
    );

    // t=150ms: the second attempt fails: two failures open the breaker.
    advance_to(ms(150));
    assert!(run_until_idle(call.as_mut()).is_pending());
    assert_eq!(BREAKER.shared().state(), State::Open);

    // t=250ms: the third attempt is rejected without running.
    advance_to(ms(250));
    let Poll::Ready(Err(e)) = run_until_idle(call.as_mut()) else {
        panic!("the call should be over");
    };
    assert_eq!(*STARTS.lock().unwrap(), [(1, ms(0)), (2, ms(150))]);
    assert_eq!((e.attempts, e.gave_up), (3, Some(GiveUp::Attempts)));
    let Error::Rejected(rejected) = e.error else {
        panic!("expected the breaker's rejection, got {e:?}");
    };
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(ms(1_150)));
}
