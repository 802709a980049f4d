//! Rate limiters in `static`s on embassy-time's real `std` driver.
//!
//! No test waits on real time: quotas are slow enough (one permit an hour)
//! that nothing refills while a test runs, a wait that would be needed is
//! either beyond `max_wait` (rejected at once) or polled once and dropped,
//! and exact instants are computed from the rejection the limiter gave.
//! The timelines in virtual time live in `mock-time-tests`.

use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::future::Future;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use failsafe_embassy::{
    Clock, CsLock, EmbassyClock, Error, FixedWindow, Instant, KeyedGcra, KeyedRateLimiter,
    MutexLock, Quota, RateLimiter, RejectReason, SharedLimiter, TokenBucket, WhenFull,
    config_or_panic,
};
use futures_lite::future::block_on;

const HOUR: Duration = Duration::from_secs(3_600);

/// One permit an hour, `burst` at once.
const fn hourly(burst: u32) -> Quota {
    Quota::or_panic(Quota::or_panic(Quota::per(1, HOUR)).with_burst(burst))
}

#[test]
fn a_static_limiter_admits_its_burst_then_rejects_with_retry_at() {
    static LIMIT: RateLimiter = RateLimiter::new(hourly(3)).with_max_wait(Duration::ZERO);
    for _ in 0..3 {
        assert!(
            block_on(LIMIT.acquire(1)).is_ok(),
            "the burst needs no timer"
        );
    }
    let before = EmbassyClock.now();
    let r = LIMIT.try_acquire(1).unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    let retry_at = r.retry_at.unwrap();
    // a third of the hourly quota was taken at once: the next permit is an
    // hour after the first
    assert!(retry_at > before + HOUR - Duration::from_secs(60));
    // a call is not run, and says when
    let ran = std::cell::Cell::new(false);
    let r = block_on(LIMIT.call(|| async {
        ran.set(true);
        Ok::<_, ()>(())
    }));
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert!(!ran.get());
    assert_eq!(LIMIT.available(), 0);
}

#[test]
fn more_than_the_burst_is_rejected_for_good() {
    static LIMIT: RateLimiter = RateLimiter::new(hourly(2));
    let r = LIMIT.try_acquire(3).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (
            RejectReason::RateInsufficientCapacity,
            Some(failsafe_core::Instant::MAX)
        )
    );
    assert!(r.is_never());
    let r = block_on(LIMIT.acquire_within(3, HOUR)).unwrap_err();
    assert_eq!(r.reason, RejectReason::RateInsufficientCapacity);
}

#[test]
fn a_wait_beyond_max_wait_is_rejected_at_once() {
    static LIMIT: RateLimiter = RateLimiter::new(hourly(1)).with_max_wait(Duration::from_secs(59));
    assert_eq!(LIMIT.max_wait(), Duration::from_secs(59));
    block_on(LIMIT.acquire(1)).unwrap();
    // the next permit is an hour away: rejected at once, no timer involved
    let r = block_on(LIMIT.acquire(1)).unwrap_err();
    assert!(r.retry_at.unwrap() > EmbassyClock.now() + Duration::from_secs(59));
}

#[test]
fn a_dropped_waiter_gives_its_booked_permit_back() {
    static LIMIT: RateLimiter =
        RateLimiter::new(hourly(1)).with_max_wait(Duration::from_secs(7_200));
    LIMIT.try_acquire(1).unwrap();
    let first_next = LIMIT.try_acquire(1).unwrap_err().retry_at.unwrap();
    {
        // books the permit an hour from now, then sleeps: dropped here
        let mut wait = pin!(LIMIT.acquire(1));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
    }
    // the dropped booking was the latest: the next permit is due as before
    let r = LIMIT.try_acquire(1).unwrap_err();
    assert_eq!(r.retry_at, Some(first_next), "the booked hour came back");
}

#[test]
fn set_quota_reaches_a_static_at_run_time() {
    static LIMIT: RateLimiter = RateLimiter::new(hourly(1));
    assert_eq!(LIMIT.quota(), hourly(1));
    LIMIT.set_quota(hourly(4));
    // nothing was taken yet: the wider burst is there at once
    for _ in 0..4 {
        LIMIT.try_acquire(1).unwrap();
    }
    assert!(LIMIT.try_acquire(1).is_err());
}

#[test]
fn any_shared_limiter_fits_a_static() {
    static BUCKET: RateLimiter<CsLock<TokenBucket>> =
        RateLimiter::from_limiter(CsLock::new(config_or_panic(TokenBucket::new(2, 1, HOUR))));
    static WINDOW: RateLimiter<MutexLock<CriticalSectionRawMutex, FixedWindow>> =
        RateLimiter::from_limiter(MutexLock::new(config_or_panic(FixedWindow::new(1, HOUR))))
            .with_max_wait(Duration::ZERO);
    assert!(BUCKET.try_acquire(2).is_ok());
    assert!(BUCKET.try_acquire(1).is_err());
    assert!(block_on(WINDOW.call(|| async { Ok::<_, ()>(1) })).is_ok());
    assert!(block_on(WINDOW.call(|| async { Ok::<_, ()>(2) })).is_err());
    // and the static is itself a shared limiter, for the driver's functions
    assert!(SharedLimiter::acquire(&BUCKET, Instant::ZERO, 1).is_err());
}

#[test]
fn keyed_statics_limit_each_key_alone() {
    static PER_NODE: KeyedRateLimiter<u8, 4> =
        KeyedRateLimiter::new(hourly(1), 0x5EED).with_max_wait(Duration::ZERO);
    type Table = MutexLock<CriticalSectionRawMutex, KeyedGcra<u8, 2>>;
    static STRICT: KeyedRateLimiter<u8, 2, Table> = KeyedRateLimiter::from_lock(MutexLock::new(
        KeyedGcra::new(hourly(1), 1).when_full(WhenFull::RejectNewKeys),
    ));
    assert!(PER_NODE.is_empty());
    assert!(PER_NODE.try_acquire(&1, 1).is_ok());
    assert!(PER_NODE.try_acquire(&1, 1).is_err());
    assert!(
        block_on(PER_NODE.acquire(&2, 1)).is_ok(),
        "node 2 has its own permit"
    );
    assert!(block_on(PER_NODE.call(&2, || async { Ok::<_, ()>(()) })).is_err());
    assert_eq!(
        (
            PER_NODE.len(),
            PER_NODE.available(&1),
            PER_NODE.available(&3)
        ),
        (2, 0, 1)
    );
    PER_NODE.set_quota(hourly(2));
    PER_NODE.forget_idle(); // nobody is idle within the hour
    assert_eq!(PER_NODE.with(|t| t.len()), 2);

    // a full table that rejects newcomers says when a slot frees
    assert!(STRICT.try_acquire(&1, 1).is_ok());
    assert!(STRICT.try_acquire(&2, 1).is_ok());
    let r = STRICT.try_acquire(&3, 1).unwrap_err();
    assert!(r.retry_at.is_some());
    assert!(matches!(
        block_on(STRICT.acquire_within(&3, 1, Duration::ZERO)),
        Err(rejected) if rejected.reason == RejectReason::RateLimited
    ));
}

#[test]
fn a_ready_poll_is_granted_without_a_timer() {
    static LIMIT: RateLimiter = RateLimiter::new(hourly(2));
    let mut wait = pin!(LIMIT.acquire(2));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(wait.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
}
