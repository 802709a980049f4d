//! A retry budget in a `static` is shared by every call (and every policy
//! pointing at it): a first call spends it, a second call gives up with
//! `GiveUp::Budget` after its first failure, without sleeping, and a
//! success only puts a little back.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;

use common::{advance_to, just_before, millis, ms, run_until_idle};
use failsafe_embassy::{
    BackoffKind, CsLock, GiveUp, Jitter, Lock, RetryConfig, RetryError, RetryPolicy, TokenQuota,
};

/// 10 tokens; a retry after an error costs 5; a first-try success adds 1.
static BUS_BUDGET: CsLock<TokenQuota> =
    CsLock::new(failsafe_embassy::checked(TokenQuota::new(10, 5, 10, 5, 1)));

const CONFIG: RetryConfig = failsafe_embassy::checked(
    RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(millis(10)))
        .jitter(Jitter::None)
        .build(),
);

/// Two operations on the same I2C bus, one budget.
static READ: RetryPolicy<CsLock<TokenQuota>> =
    RetryPolicy::new(&CONFIG, 1).with_budget(&BUS_BUDGET);
static WRITE: RetryPolicy<CsLock<TokenQuota>> =
    RetryPolicy::new(&CONFIG, 2).with_budget(&BUS_BUDGET);

fn tokens() -> u32 {
    BUS_BUDGET.with(|quota| quota.tokens())
}

async fn nack(_: failsafe_embassy::Attempt) -> Result<u8, &'static str> {
    Err("nack")
}

#[test]
fn a_static_budget_is_exhausted_across_two_calls() {
    assert_eq!(tokens(), 10);

    // Call 1: fails at t=0 (retry: 10 -> 5 tokens), t=10ms (5 -> 0), t=20ms
    // (the third attempt was the last anyway).
    let mut first = pin!(READ.call(nack));
    assert!(run_until_idle(first.as_mut()).is_pending());
    assert_eq!(tokens(), 5);
    advance_to(just_before(ms(10)));
    assert!(run_until_idle(first.as_mut()).is_pending());
    advance_to(ms(10));
    assert!(run_until_idle(first.as_mut()).is_pending());
    assert_eq!(tokens(), 0);
    advance_to(ms(20));
    assert_eq!(
        run_until_idle(first.as_mut()),
        Poll::Ready(Err(RetryError {
            reason: GiveUp::Attempts,
            attempts: 3,
            last: Some("nack"),
        }))
    );

    // Call 2, on another policy with the same budget: its first failure
    // finds the budget empty and gives up at once, at t=20ms.
    let mut second = pin!(WRITE.call(nack));
    assert_eq!(
        run_until_idle(second.as_mut()),
        Poll::Ready(Err(RetryError {
            reason: GiveUp::Budget,
            attempts: 1,
            last: Some("nack"),
        }))
    );
    assert_eq!(common::now(), ms(20), "no time spent waiting");

    // A first-try success refunds 1 token: not enough for a retry yet.
    let mut third = pin!(READ.call(|_| async { Ok::<_, &str>(7) }));
    assert_eq!(run_until_idle(third.as_mut()), Poll::Ready(Ok(7)));
    assert_eq!(tokens(), 1);
    let mut fourth = pin!(READ.call(nack));
    assert_eq!(
        run_until_idle(fourth.as_mut()),
        Poll::Ready(Err(RetryError {
            reason: GiveUp::Budget,
            attempts: 1,
            last: Some("nack"),
        }))
    );
}
