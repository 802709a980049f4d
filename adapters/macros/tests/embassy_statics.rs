//! Decorated `async fn`s over firmware `static`s (a breaker, a retry and a
//! pipeline built in `const`), on embassy-time's real `std` driver. No test
//! waits on real time: the retries' backoff is zero (a timer set for "now"
//! fires at once) and the breaker's open wait is never waited out.

use core::time::Duration;
use std::sync::atomic::{AtomicU32, Ordering};

use failsafe_embassy::{
    Attempt, BackoffKind, BreakerConfig, CircuitBreakerPolicy, Error, Jitter, NoBudget, NoWindow,
    Pipeline, PipelineError, RejectReason, RetryConfig, RetryError, RetryPolicy, checked,
    circuit_breaker, pipeline,
};
use failsafe_macros::policy;
use futures_lite::future::block_on;

/// Trips after `n` failures in a row; 60 s open.
const fn trip_after(n: u32) -> BreakerConfig {
    checked(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(n)
            .open_wait(Duration::from_secs(60))
            .build(),
    )
}

/// `n` attempts, no wait between them.
const fn at_once(n: u32) -> RetryConfig {
    checked(
        RetryConfig::builder()
            .max_attempts(n)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .jitter(Jitter::None)
            .build(),
    )
}

static RADIO: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&trip_after(2), NoWindow);
static GPS: RetryPolicy<NoBudget> = RetryPolicy::new(&at_once(3), 0x5EED);
static UPLINK_BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&trip_after(3), NoWindow);
static UPLINK: Pipeline<&CircuitBreakerPolicy<NoWindow>> =
    pipeline(&UPLINK_BREAKER).retry(at_once(2));

static NACKS: AtomicU32 = AtomicU32::new(0);

#[policy(RADIO)]
async fn transmit(frame: &[u8]) -> Result<usize, Error<&'static str>> {
    if frame.is_empty() {
        return Err("nack");
    }
    Ok(frame.len())
}

#[policy(retry = GPS, attempt = attempt)]
async fn fix(ok_at: u32) -> Result<u32, RetryError<&'static str>> {
    if attempt.number < ok_at {
        return Err("no fix");
    }
    Ok(attempt.number)
}

#[policy(pipeline = UPLINK, attempt = attempt)]
async fn uplink(frame: &[u8]) -> Result<u32, PipelineError<&'static str>> {
    let Attempt { number, .. } = attempt;
    if frame.is_empty() {
        NACKS.fetch_add(1, Ordering::Relaxed);
        return Err("nack");
    }
    Ok(number)
}

#[test]
fn a_static_breaker_opens_through_a_decorated_fn() {
    block_on(async {
        assert_eq!(transmit(b"hi").await, Ok(2));
        assert_eq!(transmit(b"").await, Err(Error::Inner("nack")));
        assert_eq!(transmit(b"").await, Err(Error::Inner("nack")));
        let rejected = *transmit(b"hi").await.unwrap_err().rejected().unwrap();
        assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    });
}

#[test]
fn a_static_retry_and_pipeline_retry_a_decorated_fn() {
    block_on(async {
        assert_eq!(fix(3).await, Ok(3));
        let gave_up = fix(9).await.unwrap_err();
        assert_eq!((gave_up.attempts, gave_up.last), (3, Some("no fix")));

        assert_eq!(uplink(b"frame").await, Ok(1));
        // two attempts fail, then a third call's first failure opens the breaker
        let e = uplink(b"").await.unwrap_err();
        assert_eq!((e.attempts, e.into_inner()), (2, Some("nack")));
        let e = uplink(b"").await.unwrap_err();
        assert_eq!(
            e.rejected().map(|r| r.reason),
            Some(RejectReason::BreakerOpen)
        );
        assert_eq!(NACKS.load(Ordering::Relaxed), 3);
    });
}
