//! Blocking rate limiting on an injected clock whose `park_until` moves it
//! forward (and logs the instant): every wait passes in virtual time,
//! nothing sleeps.

use std::sync::Arc;
use std::time::Duration;

use failsafe_driver as driver;
use failsafe_thread::{
    Clock, Error, FixedWindow, Guard, Instant, KeyedGcra, KeyedRateLimiterPolicy, Policy, Quota,
    RejectReason, Rejected, Reservation, Shared, SlidingWindow, StdLock, StdShared, Throttle,
    TokenBucket, WhenFull,
};

mod support;
use support::{TestClock, ms};

type Limiter = driver::RateLimiterPolicy<TestClock>;

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

fn limiter(quota: Quota, clock: &TestClock) -> Limiter {
    Limiter::with_runtime(quota, clock.clone())
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
fn a_blocked_caller_is_released_exactly_at_its_booked_instant() {
    let clock = TestClock::default();
    let limiter = limiter(quota(10, 2), &clock).with_max_wait(Duration::from_secs(1));
    let starts: Vec<_> = (0..5)
        .map(|_| start(limiter.acquire_blocking()).unwrap())
        .collect();
    assert_eq!(starts, [0, 0, 100, 200, 300].map(ms));
    assert_eq!(
        clock.waits(),
        [100, 200, 300].map(ms),
        "parked exactly until each start"
    );
    assert_eq!(clock.now(), ms(300));
}

#[test]
fn try_acquire_never_blocks() {
    let clock = TestClock::default();
    let limiter = limiter(quota(1, 1), &clock);
    assert_eq!(start(limiter.try_acquire()), Ok(ms(0)));
    let r = limiter.try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );
    assert!(clock.waits().is_empty());
    assert_eq!(clock.now(), ms(0));
}

#[test]
fn a_wait_beyond_max_wait_is_rejected_without_blocking() {
    let clock = TestClock::default();
    let limiter = limiter(quota(2, 1), &clock).with_max_wait(Duration::from_millis(400));
    start(limiter.acquire_blocking()).unwrap();
    let r = limiter.acquire_blocking().unwrap_err();
    assert_eq!(r.retry_at, Some(ms(500)));
    let calls = std::cell::Cell::new(0);
    let r = limiter.call_blocking(|| {
        calls.set(1);
        Ok::<_, ()>(())
    });
    assert_eq!(r.unwrap_err().rejected().unwrap().retry_at, Some(ms(500)));
    assert_eq!(calls.get(), 0, "the operation never ran");
    assert!(clock.waits().is_empty());
    // one call may wait longer
    let patient = limiter.clone().with_max_wait(Duration::from_millis(500));
    assert_eq!(start(patient.acquire_blocking()), Ok(ms(500)));
    assert_eq!(
        limiter
            .clone()
            .with_weight(1)
            .call_blocking(|| Err::<(), _>("disk full")),
        Err(Error::Rejected(limiter.try_acquire().unwrap_err()))
    );
}

#[test]
fn call_runs_on_this_thread_at_its_admission_and_keeps_the_error() {
    let clock = TestClock::default();
    let limiter = limiter(quota(4, 1), &clock).with_max_wait(Duration::from_secs(1));
    assert_eq!(
        limiter.call_blocking(|| Ok::<_, ()>(clock.now())),
        Ok(ms(0))
    );
    assert_eq!(
        limiter.call_blocking(|| Ok::<_, ()>(clock.now())),
        Ok(ms(250))
    );
    assert_eq!(
        limiter.call_blocking(|| Err::<(), _>("nope")),
        Err(Error::Inner("nope"))
    );
    assert_eq!(clock.now(), ms(500));
}

#[test]
fn a_weighted_call_takes_its_permits_at_once() {
    let clock = TestClock::default();
    let limiter = limiter(quota(10, 5), &clock).with_max_wait(Duration::from_secs(1));
    let three = limiter.clone().with_weight(3);
    assert_eq!(start(three.acquire_blocking()), Ok(ms(0)));
    assert_eq!(limiter.available(), 2);
    // three more: the burst has two, the third comes 100 ms later
    assert_eq!(
        three.call_blocking(|| Ok::<_, ()>(clock.now())),
        Ok(ms(100))
    );
}

#[test]
fn a_quota_change_at_run_time_reaches_every_clone() {
    let clock = TestClock::default();
    let limiter = limiter(quota(1, 1), &clock).with_max_wait(Duration::from_secs(10));
    let clone = limiter.clone();
    assert_eq!(start(limiter.acquire_blocking()), Ok(ms(0)));
    clone.set_quota(quota(10, 1));
    // the second booked under the old quota stands; 10/s applies from there
    assert_eq!(start(limiter.acquire_blocking()), Ok(ms(1_000)));
    assert_eq!(start(clone.acquire_blocking()), Ok(ms(1_100)));
    assert_eq!(limiter.quota(), quota(10, 1));
}

#[test]
fn threads_sharing_one_limiter_never_exceed_burst_plus_rate_times_elapsed() {
    let clock = TestClock::default();
    let limiter = limiter(quota(100, 10), &clock).with_max_wait(Duration::from_millis(50));
    let end = ms(2_000);
    let admitted: Vec<Instant> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let (limiter, clock) = (limiter.clone(), &clock);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while clock.now() < end {
                        match start(limiter.acquire_blocking()) {
                            Ok(start) => mine.push(start),
                            // wait (in virtual time) until the limiter said
                            Err(r) => clock.set(r.retry_at.unwrap()),
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut starts = admitted;
    starts.sort();
    // any k admissions span at least (k - burst) periods of 10 ms
    for i in 0..starts.len() {
        for j in i..starts.len() {
            let span = starts[j].saturating_duration_since(starts[i]).as_millis() as usize;
            let admitted = j - i + 1;
            assert!(
                admitted <= 10 + span / 10,
                "{admitted} admitted between {} and {}",
                starts[i],
                starts[j]
            );
        }
    }
    assert!(
        starts.len() >= 200,
        "the limiter was kept busy: {}",
        starts.len()
    );
}

/// Any limiter behind a std lock, as a policy on `clock`.
fn throttle<L>(limiter: L, clock: &TestClock) -> Policy<StdShared<Throttle<L>>, TestClock> {
    Policy::new_shared(
        Arc::new(Shared::new(StdLock::new(Throttle::new(limiter)))),
        clock.clone(),
    )
}

#[test]
fn non_booking_limiters_reject_with_the_instant_they_free_up() {
    let clock = TestClock::default();
    let window = throttle(FixedWindow::new(2, Duration::from_secs(1)).unwrap(), &clock);
    clock.set(ms(600));
    assert_eq!(
        start(window.clone().with_weight(2).try_acquire()),
        Ok(ms(600))
    );
    let r = window.try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );

    clock.set(ms(1_000));
    let sliding = throttle(
        SlidingWindow::<10>::new(2, Duration::from_secs(1)).unwrap(),
        &clock,
    )
    .with_max_wait(Duration::ZERO);
    assert!(sliding.clone().with_weight(2).try_acquire().is_ok());
    let r = sliding.acquire_blocking().unwrap_err();
    assert_eq!(
        r.retry_at,
        Some(ms(2_000)),
        "the window slides past 1 s at 2 s"
    );
    assert!(clock.waits().is_empty(), "a rejection never parks");
}

/// Today's `Throttle` makes a limiter that cannot book ahead (windows,
/// token bucket, keyed GCRA) reject at once even when the caller may wait:
/// the retired driver handles parked such a caller until `retry_at` and
/// asked again. Un-ignore once the core's `Throttle` waits for them.
#[test]
fn non_booking_limiters_block_until_their_retry_at() {
    let clock = TestClock::default();
    let window = throttle(FixedWindow::new(2, Duration::from_secs(1)).unwrap(), &clock)
        .with_max_wait(Duration::from_secs(1));
    clock.set(ms(600));
    let two = window.clone().with_weight(2);
    assert_eq!(start(two.acquire_blocking()), Ok(ms(600)));
    assert_eq!(start(window.acquire_blocking()), Ok(ms(1_000)));
    assert_eq!(clock.waits(), [ms(1_000)]);

    let clock = TestClock::default();
    let bucket = throttle(
        TokenBucket::new(3, 3, Duration::from_secs(1)).unwrap(),
        &clock,
    )
    .with_max_wait(Duration::from_secs(5));
    let three = bucket.clone().with_weight(3);
    assert_eq!(start(three.acquire_blocking()), Ok(ms(0)));
    assert_eq!(start(bucket.acquire_blocking()), Ok(ms(1_000)));
    assert_eq!(clock.waits(), [ms(1_000)]);

    let clock = TestClock::default();
    let table = KeyedGcra::<u16, 32>::new(quota(2, 1), 0x5eed);
    let per_device = driver::KeyedRateLimiterPolicy::from_table(table, clock.clone())
        .with_max_wait(Duration::from_secs(1));
    assert!(per_device.try_acquire_keyed(&1).is_ok());
    // device 1 blocks until its own next permit
    let (shared, runtime, ask) = (per_device.shared(), per_device.runtime(), per_device.ask());
    assert_eq!(
        start(driver::admit_blocking(shared, runtime, ask, &1)),
        Ok(ms(500))
    );
    assert_eq!(clock.waits(), [ms(500)]);
}

#[test]
fn keyed_limits_are_isolated_per_key() {
    let clock = TestClock::default();
    let table = KeyedGcra::<u16, 32>::new(quota(2, 1), 0x5eed).when_full(WhenFull::RejectNewKeys);
    let per_device = driver::KeyedRateLimiterPolicy::from_table(table, clock.clone())
        .with_max_wait(Duration::from_secs(1));
    assert_eq!(start(per_device.try_acquire_keyed(&1)), Ok(ms(0)));
    assert_eq!(
        per_device.try_acquire_keyed(&1).unwrap_err().retry_at,
        Some(ms(500))
    );
    assert_eq!(
        start(per_device.try_acquire_keyed(&2)),
        Ok(ms(0)),
        "device 2 is not limited by 1"
    );
    clock.set(ms(500));
    assert_eq!(start(per_device.try_acquire_keyed(&1)), Ok(ms(500)));
    assert_eq!(
        per_device.call_blocking_keyed(&2, || Ok::<_, ()>(clock.now())),
        Ok(ms(500))
    );
    assert_eq!(
        per_device
            .clone()
            .with_max_wait(Duration::ZERO)
            .try_acquire_keyed(&1)
            .unwrap_err()
            .retry_at,
        Some(ms(1_000))
    );
    assert_eq!(per_device.len(), 2);
    let clone = per_device.clone();
    clone.set_quota(quota(1, 1));
    assert_eq!(per_device.available(&3), 1);
    let default: KeyedRateLimiterPolicy<u8> = KeyedRateLimiterPolicy::new(quota(1, 1));
    assert!(default.is_empty());
}
