//! Three tasks ask a static GCRA limiter (10 per second, burst 1) for a
//! permit at t=0: the first starts at once, the others are booked for
//! t=100ms and t=200ms and each is admitted exactly then, not a
//! microsecond early, in the order they asked. A fourth, asking for more
//! than it would wait for, is rejected at once with `retry_at`.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;

use common::{advance_to, granted, just_before, millis, ms, now, run_until_idle};
use failsafe_embassy::{Quota, RateLimiterPolicy, RejectReason, rate_limiter};

static RADIO: RateLimiterPolicy = rate_limiter(
    failsafe_embassy::checked(Quota::per_second(10)),
    millis(250),
);

#[test]
fn waiters_are_admitted_exactly_at_their_booked_instants() {
    let mut first = pin!(RADIO.acquire());
    let mut second = pin!(RADIO.acquire());
    let mut third = pin!(RADIO.acquire());

    // t=0: the first goes at once; the second and third book 100 and 200 ms.
    assert_eq!(
        run_until_idle(first.as_mut()).map(granted),
        Poll::Ready(Ok(ms(0)))
    );
    assert!(run_until_idle(second.as_mut()).is_pending());
    assert!(run_until_idle(third.as_mut()).is_pending());

    // The next free permit is at 300 ms: beyond a 250 ms wait, rejected
    // without waiting, and the rejection booked nothing.
    let mut late = pin!(RADIO.acquire());
    let Poll::Ready(Err(rejected)) = run_until_idle(late.as_mut()) else {
        panic!("rejected at once");
    };
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::RateLimited, Some(ms(300)))
    );

    advance_to(just_before(ms(100)));
    assert!(
        run_until_idle(second.as_mut()).is_pending(),
        "not a microsecond early"
    );
    advance_to(ms(100));
    assert_eq!(
        run_until_idle(second.as_mut()).map(granted),
        Poll::Ready(Ok(ms(100)))
    );
    assert!(run_until_idle(third.as_mut()).is_pending());

    advance_to(just_before(ms(200)));
    assert!(run_until_idle(third.as_mut()).is_pending());
    advance_to(ms(200));
    assert_eq!(
        run_until_idle(third.as_mut()).map(granted),
        Poll::Ready(Ok(ms(200)))
    );
    assert_eq!(now(), ms(200));

    // try_acquire never waits: the permit at 300 ms is still free for whoever asks then
    assert_eq!(RADIO.try_acquire().unwrap_err().retry_at, Some(ms(300)));
    advance_to(ms(300));
    assert_eq!(granted(RADIO.try_acquire()), Ok(ms(300)));
}
