//! Rate limiting on async-io runtimes. Timelines run the driver's handle on
//! an injected virtual runtime whose sleeps jump its clock and complete at
//! once; the smoke tests use the real `AsyncIoClock` only where nothing
//! has to wait. Nothing sleeps.

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_async_std::{
    Clock, Error, Instant, KeyedRateLimiter, Quota, RateLimiter, RejectReason, Runtime, StdLock,
    TokenBucket,
};
use failsafe_driver as driver;

/// A virtual runtime: `sleep_until` jumps the clock to the instant and
/// completes at once, logging it. Clones share the clock and the log.
#[derive(Clone, Debug, Default)]
struct Virtual {
    now: Arc<AtomicU64>,
    sleeps: Arc<Mutex<Vec<Instant>>>,
}

impl Clock for Virtual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.load(Ordering::SeqCst))
    }
}

impl Runtime for Virtual {
    type Sleep = Ready<()>;
    fn sleep_until(&self, at: Instant) -> Ready<()> {
        self.sleeps.lock().unwrap().push(at);
        self.now.fetch_max(at.as_nanos(), Ordering::SeqCst);
        ready(())
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

#[test]
fn waiters_are_admitted_exactly_at_their_booked_instants() {
    let rt = Virtual::default();
    let limiter = driver::RateLimiter::with_clock(quota(5, 2), rt.clone())
        .with_max_wait(Duration::from_secs(1));
    let starts: Vec<_> = (0..5)
        .map(|_| smol::block_on(limiter.acquire(1)).unwrap())
        .collect();
    assert_eq!(starts, [0, 0, 200, 400, 600].map(ms));
    // one sleep per booked start, to exactly that instant
    assert_eq!(*rt.sleeps.lock().unwrap(), [200, 400, 600].map(ms));
    // the next is 200 ms away: beyond a 100 ms wait, rejected without sleeping
    let r = smol::block_on(limiter.acquire_within(1, Duration::from_millis(100))).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(800)))
    );
    assert_eq!(rt.now(), ms(600));
}

#[test]
fn call_runs_the_operation_when_admitted_and_rejects_with_retry_at() {
    let rt = Virtual::default();
    let limiter =
        driver::RateLimiter::with_clock(quota(1, 1), rt.clone()).with_max_wait(Duration::ZERO);
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
    let a = driver::RateLimiter::with_clock(quota(1, 1), rt.clone());
    let b = a.clone();
    assert_eq!(a.try_acquire(1), Ok(ms(0)));
    b.set_quota(quota(100, 100));
    assert_eq!(a.quota(), quota(100, 100));
    // the booked second is kept: at 0 ms all of it is still booked
    assert_eq!(a.available(), 0);
    rt.now.store(ms(600).as_nanos(), Ordering::SeqCst);
    assert_eq!(b.available(), 60);
}

#[test]
fn a_token_bucket_waiter_sleeps_until_the_refill() {
    let rt = Virtual::default();
    let bucket = StdLock::new(TokenBucket::new(3, 3, Duration::from_secs(1)).unwrap());
    let limiter = driver::RateLimiter::from_limiter(bucket, rt.clone());
    assert_eq!(smol::block_on(limiter.acquire(3)), Ok(ms(0)));
    assert_eq!(smol::block_on(limiter.acquire(1)), Ok(ms(1_000)));
    assert_eq!(*rt.sleeps.lock().unwrap(), [ms(1_000)]);
}

#[test]
fn keyed_limits_are_isolated_per_key_on_a_virtual_clock() {
    let rt = Virtual::default();
    let per_key: driver::KeyedRateLimiter<&str, 16, Virtual> =
        driver::KeyedRateLimiter::with_clock(quota(4, 1), rt.clone())
            .with_max_wait(Duration::from_secs(1));
    assert_eq!(per_key.try_acquire(&"a", 1), Ok(ms(0)));
    assert_eq!(per_key.try_acquire(&"b", 1), Ok(ms(0)));
    assert_eq!(
        per_key.try_acquire(&"a", 1).unwrap_err().retry_at,
        Some(ms(250))
    );
    assert_eq!(smol::block_on(per_key.acquire(&"a", 1)), Ok(ms(250)));
    assert_eq!(
        smol::block_on(per_key.call(&"b", || async { Ok::<_, ()>(()) })),
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
    let limiter: RateLimiter = RateLimiter::new(hourly(3));
    // three at once from the burst: no timer is needed
    for _ in 0..3 {
        smol::block_on(limiter.acquire_within(1, Duration::ZERO)).unwrap();
    }
    let r = limiter.try_acquire(1).unwrap_err();
    assert!(r.retry_at.is_some());
    // a call that may not wait is rejected at once under async-std's executor
    let no_wait = limiter.clone().with_max_wait(Duration::ZERO);
    let r = async_std::task::block_on(no_wait.call(|| async { Ok::<_, ()>(()) }));
    assert!(matches!(r, Err(Error::Rejected(_))));

    let keyed: KeyedRateLimiter<u8, 8> = KeyedRateLimiter::new(hourly(1));
    assert!(keyed.try_acquire(&1, 1).is_ok());
    assert!(keyed.try_acquire(&1, 1).is_err());
    assert!(async_std::task::block_on(keyed.acquire_within(&2, 1, Duration::ZERO)).is_ok());
}
