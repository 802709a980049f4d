//! Blocking rate limiting on an injected clock whose `block_until` moves it
//! forward (and logs the instant): every wait passes in virtual time,
//! nothing sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_thread::{
    BlockingRuntime, Clock, Error, FixedWindow, Instant, KeyedGcra, KeyedRateLimiter, Quota,
    RateLimiter, RejectReason, SlidingWindow, StdLock, WhenFull,
};

/// A clock the blocking waits (and the test) move forward; clones share it.
#[derive(Clone, Debug, Default)]
struct TestClock {
    now: Arc<AtomicU64>,
    blocks: Arc<Mutex<Vec<Instant>>>,
}

impl TestClock {
    fn set(&self, at: Instant) {
        self.now.fetch_max(at.as_nanos(), Ordering::SeqCst);
    }

    fn blocks(&self) -> Vec<Instant> {
        self.blocks.lock().unwrap().clone()
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.load(Ordering::SeqCst))
    }
}

impl BlockingRuntime for TestClock {
    fn block_until(&self, at: Instant) {
        self.blocks.lock().unwrap().push(at);
        self.set(at);
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
fn a_blocked_caller_is_released_exactly_at_its_booked_instant() {
    let clock = TestClock::default();
    let limiter =
        RateLimiter::with_clock(quota(10, 2), clock.clone()).with_max_wait(Duration::from_secs(1));
    let starts: Vec<_> = (0..5).map(|_| limiter.acquire(1).unwrap()).collect();
    assert_eq!(starts, [0, 0, 100, 200, 300].map(ms));
    assert_eq!(
        clock.blocks(),
        [100, 200, 300].map(ms),
        "blocked exactly until each start"
    );
    assert_eq!(clock.now(), ms(300));
}

#[test]
fn try_acquire_never_blocks() {
    let clock = TestClock::default();
    let limiter = RateLimiter::with_clock(quota(1, 1), clock.clone());
    assert_eq!(limiter.try_acquire(1), Ok(ms(0)));
    let r = limiter.try_acquire(1).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );
    assert!(clock.blocks().is_empty());
    assert_eq!(clock.now(), ms(0));
}

#[test]
fn a_wait_beyond_max_wait_is_rejected_without_blocking() {
    let clock = TestClock::default();
    let limiter = RateLimiter::with_clock(quota(2, 1), clock.clone())
        .with_max_wait(Duration::from_millis(400));
    limiter.acquire(1).unwrap();
    let r = limiter.acquire(1).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(500)));
    let calls = std::cell::Cell::new(0);
    let r = limiter.call(|| {
        calls.set(1);
        Ok::<_, ()>(())
    });
    assert_eq!(r.unwrap_err().rejected().unwrap().retry_at, Some(ms(500)));
    assert_eq!(calls.get(), 0, "the operation never ran");
    assert!(clock.blocks().is_empty());
    // one call may wait longer
    assert_eq!(
        limiter.acquire_within(1, Duration::from_millis(500)),
        Ok(ms(500))
    );
    assert_eq!(
        limiter.call_weighted(1, || Err::<(), _>("disk full")),
        Err(Error::Rejected(limiter.try_acquire(1).unwrap_err()))
    );
}

#[test]
fn call_runs_on_this_thread_at_its_admission_and_keeps_the_error() {
    let clock = TestClock::default();
    let limiter =
        RateLimiter::with_clock(quota(4, 1), clock.clone()).with_max_wait(Duration::from_secs(1));
    assert_eq!(limiter.call(|| Ok::<_, ()>(clock.now())), Ok(ms(0)));
    assert_eq!(limiter.call(|| Ok::<_, ()>(clock.now())), Ok(ms(250)));
    assert_eq!(
        limiter.call(|| Err::<(), _>("nope")),
        Err(Error::Inner("nope"))
    );
    assert_eq!(clock.now(), ms(500));
}

#[test]
fn a_quota_change_at_run_time_reaches_every_clone() {
    let clock = TestClock::default();
    let limiter =
        RateLimiter::with_clock(quota(1, 1), clock.clone()).with_max_wait(Duration::from_secs(10));
    let clone = limiter.clone();
    assert_eq!(limiter.acquire(1), Ok(ms(0)));
    clone.set_quota(quota(10, 1));
    // the second booked under the old quota stands; 10/s applies from there
    assert_eq!(limiter.acquire(1), Ok(ms(1_000)));
    assert_eq!(clone.acquire(1), Ok(ms(1_100)));
    assert_eq!(limiter.quota(), quota(10, 1));
}

#[test]
fn threads_sharing_one_limiter_never_exceed_burst_plus_rate_times_elapsed() {
    let clock = TestClock::default();
    let limiter = RateLimiter::with_clock(quota(100, 10), clock.clone())
        .with_max_wait(Duration::from_millis(50));
    let end = ms(2_000);
    let admitted: Vec<Instant> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while limiter.clock().now() < end {
                        match limiter.acquire(1) {
                            Ok(start) => mine.push(start),
                            // wait (in virtual time) until the limiter said
                            Err(r) => limiter.clock().block_until(r.retry_at.unwrap()),
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

#[test]
fn non_booking_limiters_block_until_their_retry_at() {
    let clock = TestClock::default();
    let window = StdLock::new(FixedWindow::new(2, Duration::from_secs(1)).unwrap());
    let limiter =
        RateLimiter::from_limiter(window, clock.clone()).with_max_wait(Duration::from_secs(1));
    clock.set(ms(600));
    assert_eq!(limiter.acquire(2), Ok(ms(600)));
    assert_eq!(limiter.acquire(1), Ok(ms(1_000)));
    assert_eq!(clock.blocks(), [ms(1_000)]);

    let sliding = StdLock::new(SlidingWindow::<10>::new(2, Duration::from_secs(1)).unwrap());
    let limiter = RateLimiter::from_limiter(sliding, clock.clone()).with_max_wait(Duration::ZERO);
    assert!(limiter.try_acquire(2).is_ok());
    let r = limiter.acquire(1).unwrap_err();
    assert_eq!(
        r.retry_at,
        Some(ms(2_000)),
        "the window slides past 1 s at 2 s"
    );
}

#[test]
fn keyed_limits_are_isolated_per_key() {
    let clock = TestClock::default();
    let table = KeyedGcra::<u16, 32>::new(quota(2, 1), 0x5eed).when_full(WhenFull::RejectNewKeys);
    let per_device =
        KeyedRateLimiter::from_table(table, clock.clone()).with_max_wait(Duration::from_secs(1));
    assert_eq!(per_device.try_acquire(&1, 1), Ok(ms(0)));
    assert_eq!(
        per_device.try_acquire(&1, 1).unwrap_err().retry_at,
        Some(ms(500))
    );
    assert_eq!(
        per_device.try_acquire(&2, 1),
        Ok(ms(0)),
        "device 2 is not limited by 1"
    );
    // device 1 blocks until its own next permit
    assert_eq!(per_device.acquire(&1, 1), Ok(ms(500)));
    assert_eq!(
        per_device.call(&2, || Ok::<_, ()>(clock.now())),
        Ok(ms(500))
    );
    assert_eq!(
        per_device
            .acquire_within(&1, 1, Duration::ZERO)
            .unwrap_err()
            .retry_at,
        Some(ms(1_000))
    );
    assert_eq!(per_device.len(), 2);
    let clone = per_device.clone();
    clone.set_quota(quota(1, 1));
    assert_eq!(per_device.available(&3), 1);
    let default: KeyedRateLimiter<u8> = KeyedRateLimiter::new(quota(1, 1));
    assert!(default.is_empty());
}
