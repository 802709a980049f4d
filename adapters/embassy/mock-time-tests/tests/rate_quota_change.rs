//! A quota changed at run time: a waiter booked under the old quota (1 per
//! second) keeps its instant; the booked time runs out, then the new rate
//! (10 per second) spaces the next permits 100 ms apart; a wider burst
//! after a quiet spell admits several at once.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;

use common::{advance_to, granted, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{EmbassyPolicy, Quota, RateLimiterPolicy, rate_limiter};

static UPLINK: RateLimiterPolicy = rate_limiter(
    failsafe_embassy::checked(Quota::per_second(1)),
    millis(5_000),
);

const FAST: Quota = failsafe_embassy::checked(Quota::per_second(10));
const FAST_BURSTY: Quota = failsafe_embassy::checked(FAST.with_burst(5));

#[test]
fn a_quota_change_keeps_what_was_booked_and_applies_from_there() {
    assert_eq!(granted(UPLINK.try_acquire()), Ok(ms(0)));
    let mut booked = pin!(UPLINK.acquire());
    assert!(run_until_idle(booked.as_mut()).is_pending()); // booked for 1 s

    UPLINK.shared().limiter().set_quota(FAST);
    assert_eq!(UPLINK.shared().limiter().quota(), FAST);

    advance_to(just_before(ms(1_000)));
    assert!(run_until_idle(booked.as_mut()).is_pending());
    advance_to(ms(1_000));
    assert_eq!(
        run_until_idle(booked.as_mut()).map(granted),
        Poll::Ready(Ok(ms(1_000)))
    );

    // the second booked under the old quota runs to 2 s; 100 ms apart after it
    let mut next = pin!(UPLINK.acquire());
    let mut after = pin!(UPLINK.acquire());
    assert!(run_until_idle(next.as_mut()).is_pending());
    assert!(run_until_idle(after.as_mut()).is_pending());
    advance_to(ms(2_000));
    assert_eq!(
        run_until_idle(next.as_mut()).map(granted),
        Poll::Ready(Ok(ms(2_000)))
    );
    assert!(run_until_idle(after.as_mut()).is_pending());
    advance_to(ms(2_100));
    assert_eq!(
        run_until_idle(after.as_mut()).map(granted),
        Poll::Ready(Ok(ms(2_100)))
    );

    // a wider burst: after a quiet second, five at once
    UPLINK.shared().limiter().set_quota(FAST_BURSTY);
    advance_to(ms(3_100));
    assert_eq!(UPLINK.shared().limiter().available(now()), 5);
    let five = UPLINK.by_ref().with_weight(5);
    let mut batch = pin!(five.acquire());
    assert_eq!(
        run_until_idle(batch.as_mut()).map(granted),
        Poll::Ready(Ok(ms(3_100)))
    );
}
