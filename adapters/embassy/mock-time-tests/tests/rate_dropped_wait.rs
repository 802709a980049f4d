//! What a dropped wait costs. A GCRA books the start when the wait begins:
//! a waiter dropped before its instant (a `select` that took another
//! branch) gives its booking back when no later caller booked after it, so
//! the next caller is served at that instant. A token bucket cannot book:
//! its waiter only sleeps until `retry_at`, and dropping it costs nothing.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;

use common::{advance_to, granted, millis, ms, run_until_idle};
use failsafe_embassy::{
    CsLock, LockedPolicy, Quota, RateLimiterPolicy, Throttle, TokenBucket, from_lock, rate_limiter,
};

static GCRA: RateLimiterPolicy = rate_limiter(
    failsafe_embassy::checked(Quota::per_second(10)),
    millis(1_000),
);

static BUCKET: LockedPolicy<Throttle<TokenBucket>> = from_lock(CsLock::new(
    Throttle::new(failsafe_embassy::checked(TokenBucket::new(
        1,
        1,
        millis(100),
    )))
    .max_wait(millis(1_000)),
));

#[test]
fn a_dropped_gcra_wait_gives_its_booking_back_and_a_bucket_wait_costs_nothing() {
    assert_eq!(granted(GCRA.try_acquire()), Ok(ms(0)));
    {
        let mut gave_up = pin!(GCRA.acquire());
        assert!(run_until_idle(gave_up.as_mut()).is_pending()); // booked 100 ms
    } // dropped at t=0
    advance_to(ms(100));
    assert_eq!(
        granted(GCRA.try_acquire()),
        Ok(ms(100)),
        "the booking came back"
    );
    assert_eq!(GCRA.try_acquire().unwrap_err().retry_at, Some(ms(200)));

    assert_eq!(granted(BUCKET.try_acquire()), Ok(ms(100)));
    {
        let mut gave_up = pin!(BUCKET.acquire());
        assert!(run_until_idle(gave_up.as_mut()).is_pending()); // asks again at 200 ms
    }
    advance_to(ms(200));
    assert_eq!(
        granted(BUCKET.try_acquire()),
        Ok(ms(200)),
        "nothing was held for the dropped waiter"
    );
    let mut waiting = pin!(BUCKET.acquire());
    assert!(run_until_idle(waiting.as_mut()).is_pending());
    advance_to(ms(300));
    assert_eq!(
        run_until_idle(waiting.as_mut()).map(granted),
        Poll::Ready(Ok(ms(300)))
    );
}
