//! Rate limiting on async-io runtimes. Timelines run the driver's handle on
//! an injected virtual runtime whose sleeps jump its clock and complete at
//! once; the smoke tests use the real `AsyncIoClock` only where nothing
//! has to wait. Nothing sleeps.

use std::time::Duration;

use failsafe_async_std::{
    Clock, Error, Guard, Instant, KeyedRateLimiterPolicy, Policy, Quota, RateLimiterPolicy,
    RejectReason, Rejected, Reservation, Shared, StdLock, StdShared, Throttle, TokenBucket,
};
use failsafe_driver as driver;

#[path = "../../thread/tests/support/mod.rs"]
mod support;
use support::{TestClock as Virtual, ms};

type Limiter = driver::RateLimiterPolicy<Virtual>;

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

/// The instant an admitted caller's permits start.
fn start<H, C>(guard: Result<Guard<H, C>, Rejected>) -> Result<Instant, Rejected>
where
    H: failsafe_core::sync::SharedAdmission<Permit = Reservation>,
    C: Clock,
{
    guard.map(|g| g.permit().map(Reservation::start).unwrap())
}

#[test]
fn waiters_are_admitted_exactly_at_their_booked_instants() {
    let rt = Virtual::default();
    let limiter =
        Limiter::with_runtime(quota(5, 2), rt.clone()).with_max_wait(Duration::from_secs(1));
    let starts: Vec<_> = (0..5)
        .map(|_| start(smol::block_on(limiter.acquire())).unwrap())
        .collect();
    assert_eq!(starts, [0, 0, 200, 400, 600].map(ms));
    // one sleep per booked start, to exactly that instant
    assert_eq!(rt.waits(), [200, 400, 600].map(ms));
    // the next is 200 ms away: beyond a 100 ms wait, rejected without sleeping
    let hurried = limiter.clone().with_max_wait(Duration::from_millis(100));
    let r = start(smol::block_on(hurried.acquire())).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(800)))
    );
    assert_eq!(rt.now(), ms(600));
}

#[test]
fn call_runs_the_operation_when_admitted_and_rejects_with_retry_at() {
    let rt = Virtual::default();
    let limiter = Limiter::with_runtime(quota(1, 1), rt.clone()).with_max_wait(Duration::ZERO);
    let clock = rt.clone();
    assert_eq!(
        smol::block_on(limiter.call(|| async { Ok::<_, ()>(clock.now()) })),
        Ok(ms(0))
    );
    let r = smol::block_on(limiter.call(|| async { Ok::<_, ()>(clock.now()) })).unwrap_err();
    assert_eq!(r.rejected().unwrap().retry_at, Some(ms(1_000)));
    assert_eq!(
        smol::block_on(
            limiter
                .clone()
                .with_max_wait(Duration::from_secs(1))
                .call(|| async { Err::<(), _>("down") })
        ),
        Err(Error::Inner("down"))
    );
    assert_eq!(rt.now(), ms(1_000));
}

#[test]
fn a_quota_change_reaches_every_clone() {
    let rt = Virtual::default();
    let a = Limiter::with_runtime(quota(1, 1), rt.clone());
    let b = a.clone();
    assert_eq!(start(a.try_acquire()), Ok(ms(0)));
    b.set_quota(quota(100, 100));
    assert_eq!(a.quota(), quota(100, 100));
    // the booked second is kept: at 0 ms all of it is still booked
    assert_eq!(a.available(), 0);
    rt.set(ms(600));
    assert_eq!(b.available(), 60);
}

/// Any limiter behind a std lock, as a policy on `rt`.
fn throttle<L>(limiter: L, rt: &Virtual) -> Policy<StdShared<Throttle<L>>, Virtual> {
    Policy::new_shared(
        StdShared::new(Shared::new(StdLock::new(Throttle::new(limiter)))),
        rt.clone(),
    )
}

#[test]
fn a_token_bucket_rejects_with_its_refill_instant() {
    let rt = Virtual::default();
    let bucket = throttle(TokenBucket::new(3, 3, Duration::from_secs(1)).unwrap(), &rt);
    assert_eq!(
        start(bucket.clone().with_weight(3).try_acquire()),
        Ok(ms(0))
    );
    let r = bucket.try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );
}

/// Today's `Throttle` makes a limiter that cannot book ahead (token
/// bucket, windows, keyed GCRA) reject at once even when the caller may
/// wait: the retired driver handles slept until `retry_at` and asked
/// again. Un-ignore once the core's `Throttle` waits for them.
#[test]
fn a_non_booking_waiter_sleeps_until_its_retry_at() {
    let rt = Virtual::default();
    let bucket = throttle(TokenBucket::new(3, 3, Duration::from_secs(1)).unwrap(), &rt)
        .with_max_wait(Duration::from_secs(5));
    let three = bucket.clone().with_weight(3);
    assert_eq!(start(smol::block_on(three.acquire())), Ok(ms(0)));
    assert_eq!(start(smol::block_on(bucket.acquire())), Ok(ms(1_000)));
    assert_eq!(rt.waits(), [ms(1_000)]);

    let rt = Virtual::default();
    let per_key: driver::KeyedRateLimiterPolicy<&str, 16, Virtual> =
        driver::KeyedRateLimiterPolicy::with_runtime(quota(4, 1), rt.clone())
            .with_max_wait(Duration::from_secs(1));
    assert!(per_key.try_acquire_keyed(&"a").is_ok());
    assert_eq!(
        start(smol::block_on(per_key.acquire_keyed("a"))),
        Ok(ms(250))
    );
    assert_eq!(rt.waits(), [ms(250)]);
}

#[test]
fn keyed_limits_are_isolated_per_key_on_a_virtual_clock() {
    let rt = Virtual::default();
    let per_key: driver::KeyedRateLimiterPolicy<&str, 16, Virtual> =
        driver::KeyedRateLimiterPolicy::with_runtime(quota(4, 1), rt.clone())
            .with_max_wait(Duration::from_secs(1));
    assert_eq!(start(per_key.try_acquire_keyed(&"a")), Ok(ms(0)));
    assert_eq!(start(per_key.try_acquire_keyed(&"b")), Ok(ms(0)));
    assert_eq!(
        per_key.try_acquire_keyed(&"a").unwrap_err().retry_at,
        Some(ms(250))
    );
    rt.set(ms(250));
    assert_eq!(
        start(smol::block_on(per_key.acquire_keyed("a"))),
        Ok(ms(250))
    );
    assert_eq!(
        smol::block_on(per_key.call_keyed(&"b", || async { Ok::<_, ()>(()) })),
        Ok(())
    );
}

#[test]
fn the_real_clock_handles_admit_a_burst_without_waiting() {
    // one permit an hour: none is refilled while the test runs
    let hourly = |burst| {
        Quota::per(1, Duration::from_secs(3_600))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    };
    let limiter = RateLimiterPolicy::new(hourly(3));
    // three at once from the burst: no timer is needed
    let no_wait = limiter.clone().with_max_wait(Duration::ZERO);
    for _ in 0..3 {
        drop(smol::block_on(no_wait.acquire()).unwrap());
    }
    let r = limiter.try_acquire().unwrap_err();
    assert!(r.retry_at.is_some());
    // a call that may not wait is rejected at once under async-std's executor
    let r = async_std::task::block_on(no_wait.call(|| async { Ok::<_, ()>(()) }));
    assert!(matches!(r, Err(Error::Rejected(_))));

    let keyed: KeyedRateLimiterPolicy<u8, 8> = KeyedRateLimiterPolicy::new(hourly(1));
    assert!(keyed.try_acquire_keyed(&1).is_ok());
    assert!(keyed.try_acquire_keyed(&1).is_err());
    let keyed = keyed.with_max_wait(Duration::ZERO);
    assert!(async_std::task::block_on(keyed.acquire_keyed(2)).is_ok());
}
