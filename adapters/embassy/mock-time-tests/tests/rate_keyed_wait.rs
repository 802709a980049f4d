//! A keyed limiter in a static (one GCRA per CAN node, 2 per second each):
//! node 1's second request waits for node 1's own next permit, exactly at
//! its `retry_at`, while node 2 is served at once all along. A keyed
//! limiter cannot book ahead: the waiter sleeps until `retry_at` and asks
//! again, and a waiter that loses the permit to a `try_acquire` at that
//! instant sleeps again until the next one.
//!
//! One scenario per file: the mock clock is process-wide.

mod common;

use core::pin::pin;
use core::task::Poll;

use common::{advance_to, granted, just_before, millis, ms, run_until_idle};
use failsafe_embassy::{KeyedRateLimiterPolicy, Quota, keyed_rate_limiter};

static PER_NODE: KeyedRateLimiterPolicy<u8, 16> = keyed_rate_limiter(
    failsafe_embassy::checked(Quota::per_second(2)),
    0xC0FFEE,
    millis(2_000),
);

#[test]
fn each_key_waits_for_its_own_permit() {
    assert_eq!(granted(PER_NODE.try_acquire_keyed(&1)), Ok(ms(0)));
    let mut waiting = pin!(PER_NODE.acquire_keyed(&1));
    assert!(run_until_idle(waiting.as_mut()).is_pending());

    // node 2 is not held up by node 1
    assert_eq!(granted(PER_NODE.try_acquire_keyed(&2)), Ok(ms(0)));

    advance_to(just_before(ms(500)));
    assert!(
        run_until_idle(waiting.as_mut()).is_pending(),
        "not a microsecond early"
    );
    assert_eq!(
        granted(PER_NODE.try_acquire_keyed(&3)),
        Ok(just_before(ms(500))),
        "node 3 neither"
    );
    advance_to(ms(500));
    assert_eq!(
        run_until_idle(waiting.as_mut()).map(granted),
        Poll::Ready(Ok(ms(500)))
    );

    // a waiter that loses the race at its retry_at sleeps until the next permit
    let mut loser = pin!(PER_NODE.acquire_keyed(&1));
    assert!(run_until_idle(loser.as_mut()).is_pending()); // next at 1 s
    advance_to(ms(1_000));
    assert_eq!(granted(PER_NODE.try_acquire_keyed(&1)), Ok(ms(1_000))); // taken first
    assert!(run_until_idle(loser.as_mut()).is_pending()); // asks again at 1.5 s
    advance_to(ms(1_500));
    assert_eq!(
        run_until_idle(loser.as_mut()).map(granted),
        Poll::Ready(Ok(ms(1_500)))
    );
    assert_eq!(PER_NODE.shared().with(|t| t.limiter().len()), 3);
}
