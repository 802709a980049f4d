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
use failsafe_embassy::driver::admission::{Call, Entry};
use failsafe_embassy::{
    Clock, CsLock, EmbassyClock, EmbassyPolicy, Error, FixedWindow, Instant, KeyedGcra,
    KeyedRateLimiterPolicy, LockedPolicy, MutexLock, Quota, RateLimiterPolicy, RejectReason,
    SharedAdmission, Throttle, TokenBucket, WhenFull, from_lock, keyed_rate_limiter, rate_limiter,
};
use futures_lite::future::block_on;

const HOUR: Duration = Duration::from_secs(3_600);
/// How long a caller waits unless a test says otherwise.
const FIVE_SECONDS: Duration = Duration::from_secs(5);

fn now() -> Instant {
    EmbassyClock.now()
}

/// One permit an hour, `burst` at once.
const fn hourly(burst: u32) -> Quota {
    failsafe_embassy::checked(failsafe_embassy::checked(Quota::per(1, HOUR)).with_burst(burst))
}

#[test]
fn a_static_limiter_admits_its_burst_then_rejects_with_retry_at() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(3), Duration::ZERO);
    for _ in 0..3 {
        assert!(
            block_on(LIMIT.acquire()).is_ok(),
            "the burst needs no timer"
        );
    }
    let before = EmbassyClock.now();
    let r = LIMIT.try_acquire().unwrap_err();
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
    assert_eq!(LIMIT.shared().limiter().available(now()), 0);
}

#[test]
fn more_than_the_burst_is_rejected_for_good() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(2), FIVE_SECONDS);
    let r = LIMIT.by_ref().with_weight(3).try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (
            RejectReason::RateInsufficientCapacity,
            Some(failsafe_core::Instant::MAX)
        )
    );
    assert!(r.is_never());
    let three_within_the_hour = LIMIT.by_ref().with_weight(3).with_max_wait(HOUR);
    let r = block_on(three_within_the_hour.acquire()).unwrap_err();
    assert_eq!(r.reason, RejectReason::RateInsufficientCapacity);
}

#[test]
fn a_wait_beyond_max_wait_is_rejected_at_once() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(1), Duration::from_secs(59));
    assert_eq!(LIMIT.shared().max_wait_of(), Duration::from_secs(59));
    drop(block_on(LIMIT.acquire()).unwrap());
    // the next permit is an hour away: rejected at once, no timer involved
    let r = block_on(LIMIT.acquire()).unwrap_err();
    assert!(r.retry_at.unwrap() > EmbassyClock.now() + Duration::from_secs(59));
}

#[test]
fn a_dropped_waiter_gives_its_booked_permit_back() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(1), Duration::from_secs(7_200));
    drop(LIMIT.try_acquire().unwrap());
    let first_next = LIMIT.try_acquire().unwrap_err().retry_at.unwrap();
    {
        // books the permit an hour from now, then sleeps: dropped here
        let mut wait = pin!(LIMIT.acquire());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
    }
    // the dropped booking was the latest: the next permit is due as before
    let r = LIMIT.try_acquire().unwrap_err();
    assert_eq!(r.retry_at, Some(first_next), "the booked hour came back");
}

#[test]
fn set_quota_reaches_a_static_at_run_time() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(1), FIVE_SECONDS);
    assert_eq!(LIMIT.shared().limiter().quota(), hourly(1));
    LIMIT.shared().limiter().set_quota(hourly(4));
    // nothing was taken yet: the wider burst is there at once
    for _ in 0..4 {
        assert!(LIMIT.try_acquire().is_ok());
    }
    assert!(LIMIT.try_acquire().is_err());
}

#[test]
fn any_shared_limiter_fits_a_static() {
    const BUCKET_OF_2: TokenBucket = failsafe_embassy::checked(TokenBucket::new(2, 1, HOUR));
    static BUCKET: LockedPolicy<Throttle<TokenBucket>> = from_lock(CsLock::new(
        Throttle::new(BUCKET_OF_2).max_wait(FIVE_SECONDS),
    ));
    type Window = Throttle<FixedWindow>;
    static WINDOW: LockedPolicy<Window, MutexLock<CriticalSectionRawMutex, Window>> =
        from_lock(MutexLock::new(Throttle::new(failsafe_embassy::checked(
            FixedWindow::new(1, HOUR),
        ))));
    assert!(BUCKET.by_ref().with_weight(2).try_acquire().is_ok());
    assert!(BUCKET.try_acquire().is_err());
    assert!(block_on(WINDOW.call(|| async { Ok::<_, ()>(1) })).is_ok());
    assert!(block_on(WINDOW.call(|| async { Ok::<_, ()>(2) })).is_err());
    // and the shared machine speaks the admission contract to anything else
    let call = Call::at(Instant::ZERO).no_wait();
    assert!(matches!(
        BUCKET.shared().enter(&call, None),
        Entry::Rejected(_)
    ));
}

#[test]
fn keyed_statics_limit_each_key_alone() {
    static PER_NODE: KeyedRateLimiterPolicy<u8, 4> =
        keyed_rate_limiter(hourly(1), 0x5EED, Duration::ZERO);
    type Table = Throttle<KeyedGcra<u8, 2>>;
    static STRICT: KeyedRateLimiterPolicy<u8, 2, MutexLock<CriticalSectionRawMutex, Table>> =
        from_lock(MutexLock::new(
            Throttle::new(KeyedGcra::new(hourly(1), 1).when_full(WhenFull::RejectNewKeys))
                .max_wait(FIVE_SECONDS),
        ));
    let table = |f: fn(&KeyedGcra<u8, 4>, Instant) -> usize| {
        PER_NODE.shared().with(|t| f(t.limiter(), now()))
    };
    assert_eq!(table(|t, _| t.len()), 0);
    assert!(PER_NODE.try_acquire_keyed(&1).is_ok());
    assert!(PER_NODE.try_acquire_keyed(&1).is_err());
    assert!(
        block_on(PER_NODE.acquire_keyed(&2)).is_ok(),
        "node 2 has its own permit"
    );
    assert!(block_on(PER_NODE.call_keyed(&2, || async { Ok::<_, ()>(()) })).is_err());
    assert_eq!(
        (
            table(|t, _| t.len()),
            table(|t, now| t.available(&1, now) as usize),
            table(|t, now| t.available(&3, now) as usize)
        ),
        (2, 0, 1)
    );
    PER_NODE
        .shared()
        .with(|t| t.limiter_mut().set_quota(hourly(2)));
    // nobody is idle within the hour
    PER_NODE
        .shared()
        .with(|t| t.limiter_mut().forget_idle(now()));
    assert_eq!(table(|t, _| t.len()), 2);

    // a full table that rejects newcomers says when a slot frees
    assert!(STRICT.try_acquire_keyed(&1).is_ok());
    assert!(STRICT.try_acquire_keyed(&2).is_ok());
    let r = STRICT.try_acquire_keyed(&3).unwrap_err();
    assert!(r.retry_at.is_some());
    assert!(matches!(
        block_on(STRICT.by_ref().with_max_wait(Duration::ZERO).acquire_keyed(&3)),
        Err(rejected) if rejected.reason == RejectReason::RateLimited
    ));
}

#[test]
fn a_ready_poll_is_granted_without_a_timer() {
    static LIMIT: RateLimiterPolicy = rate_limiter(hourly(2), FIVE_SECONDS);
    let two = LIMIT.by_ref().with_weight(2);
    let mut wait = pin!(two.acquire());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(wait.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
}
