//! The rate limiter policies on tokio's paused clock: every timeline runs
//! in virtual time (`start_paused`: the runtime jumps to the next timer
//! when idle), never sleeping for real.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_core::sync::SharedAdmission;
use failsafe_tokio::{
    Clock, Error, FixedWindow, Guard, Instant, KeyedRateLimiterPolicy, Policy, Quota,
    RateLimiterPolicy, RejectReason, Rejected, Reservation, Shared, StdLock, StdShared, Throttle,
    TokenBucket, TokioClock,
};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

/// The instant a granted booking starts.
fn start<S, R>(granted: Result<Guard<&S, &R>, Rejected>) -> Result<Instant, Rejected>
where
    S: SharedAdmission<Permit = Reservation>,
    R: Clock,
{
    granted.map(|guard| guard.permit().expect("held").start())
}

/// `n` permits, waiting up to the policy's `max_wait`: the instant they start.
async fn acquire<S>(policy: &Policy<S, TokioClock>, n: u32) -> Result<Instant, Rejected>
where
    S: SharedAdmission<Key = (), Permit = Reservation> + Clone,
{
    let policy = policy.clone().with_weight(n);
    start(policy.acquire().await)
}

/// `n` permits now or never.
fn try_acquire<S>(policy: &Policy<S, TokioClock>, n: u32) -> Result<Instant, Rejected>
where
    S: SharedAdmission<Key = (), Permit = Reservation> + Clone,
{
    let policy = policy.clone().with_weight(n);
    start(policy.try_acquire())
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_admitted_exactly_at_the_promised_instant() {
    let limiter = RateLimiterPolicy::new(quota(10, 1)).with_max_wait(Duration::from_secs(1));
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(0)));
    // the next permit is booked for 100 ms, and the waiter wakes exactly then
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(100)));
    assert_eq!(TokioClock.now(), ms(100));
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(200)));
    assert_eq!(TokioClock.now(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_booking_order_each_at_its_own_instant() {
    let limiter = RateLimiterPolicy::new(quota(4, 2)).with_max_wait(Duration::from_secs(2));
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                let start = acquire(&limiter, 1).await.unwrap();
                (start, TokioClock.now())
            })
        })
        .collect();
    let mut admitted = Vec::new();
    for t in tasks {
        admitted.push(t.await.unwrap());
    }
    // burst of 2 at once, then one every 250 ms, each woken exactly at its start
    let expected = [0, 0, 250, 500, 750, 1_000].map(ms);
    assert_eq!(admitted.iter().map(|a| a.0).collect::<Vec<_>>(), expected);
    assert!(admitted.iter().all(|(start, woke)| start == woke));
    assert_eq!(TokioClock.now(), ms(1_000));
}

#[tokio::test(start_paused = true)]
async fn try_acquire_never_waits() {
    let limiter = RateLimiterPolicy::new(quota(2, 2));
    assert_eq!(try_acquire(&limiter, 2), Ok(ms(0)));
    let r = try_acquire(&limiter, 1).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(500)))
    );
    assert_eq!(TokioClock.now(), ms(0), "no time passed");
    // a rejected try books nothing: at 500 ms the permit is there
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(try_acquire(&limiter, 1), Ok(ms(500)));
    // more than the burst is never possible, and says so
    let r = try_acquire(&limiter, 3).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateInsufficientCapacity, Some(Instant::MAX))
    );
    assert!(r.is_never());
}

#[tokio::test(start_paused = true)]
async fn a_wait_beyond_max_wait_is_rejected_at_once() {
    let limiter = RateLimiterPolicy::new(quota(1, 1)).with_max_wait(Duration::from_millis(999));
    acquire(&limiter, 1).await.unwrap();
    let r = acquire(&limiter, 1).await.unwrap_err();
    assert_eq!(r.retry_at, Some(ms(1_000)));
    assert_eq!(TokioClock.now(), ms(0), "a rejection does not wait");
    let r = limiter.call(|| async { Ok::<_, ()>("sent") }).await;
    assert_eq!(r.unwrap_err().rejected().unwrap().retry_at, Some(ms(1_000)));
    // a longer wait for one call
    assert_eq!(
        acquire(&limiter.clone().with_max_wait(Duration::from_secs(1)), 1).await,
        Ok(ms(1_000))
    );
}

#[tokio::test(start_paused = true)]
async fn call_runs_the_operation_at_its_admission_and_keeps_its_error() {
    let limiter = RateLimiterPolicy::new(quota(10, 1)).with_max_wait(Duration::from_secs(1));
    assert_eq!(
        limiter.call(|| async { Err::<(), _>("refused") }).await,
        Err(Error::Inner("refused"))
    );
    let at = limiter
        .call(|| async { Ok::<_, ()>(TokioClock.now()) })
        .await;
    assert_eq!(at, Ok(ms(100)));
    let at = limiter
        .clone()
        .with_weight(1)
        .call(|| async { Ok::<_, ()>(TokioClock.now()) })
        .await;
    assert_eq!(at, Ok(ms(200)));
}

/// The property the limiter promises: among admissions sorted by start,
/// any `k` of them span at least `(k - burst) * period`.
fn assert_within_quota(starts: &[Instant], burst: u64, period: Duration) {
    for i in 0..starts.len() {
        for j in i..starts.len() {
            let admitted = (j - i + 1) as u64;
            let span = starts[j].saturating_duration_since(starts[i]);
            let allowed = burst + (span.as_nanos() / period.as_nanos()) as u64;
            assert!(
                admitted <= allowed,
                "{admitted} admitted in {span:?} (from {} to {}), at most {allowed} allowed",
                starts[i],
                starts[j]
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_hundred_tasks_never_exceed_burst_plus_rate_times_elapsed() {
    const BURST: u32 = 5;
    const RATE: u32 = 20; // one every 50 ms
    let end = ms(10_000);
    let limiter =
        RateLimiterPolicy::new(quota(RATE, BURST)).with_max_wait(Duration::from_millis(250));
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let mut rejections = 0;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (limiter, admitted) = (limiter.clone(), Arc::clone(&admitted));
            tokio::spawn(async move {
                let mut rejected = 0;
                while TokioClock.now() < end {
                    match acquire(&limiter, 1).await {
                        Ok(start) => {
                            assert_eq!(TokioClock.now(), start, "admitted exactly on time");
                            admitted.lock().unwrap().push(start);
                        }
                        Err(r) => {
                            rejected += 1;
                            let at = r.retry_at.expect("a rate limit says when");
                            assert!(at > TokioClock.now() + Duration::from_millis(250));
                            tokio::time::sleep_until(TokioClock.to_tokio(at)).await;
                        }
                    }
                }
                rejected
            })
        })
        .collect();
    for t in tasks {
        rejections += t.await.unwrap();
    }
    let mut starts = admitted.lock().unwrap().clone();
    starts.sort();
    assert_within_quota(&starts, u64::from(BURST), Duration::from_millis(50));
    // and the limiter was kept busy: the full quota was used
    let by_end = starts.iter().filter(|s| **s <= end).count() as u64;
    let bound = u64::from(BURST) + 10 * u64::from(RATE);
    assert!(
        (bound - 5..=bound).contains(&by_end),
        "{by_end} admitted by 10 s, bound {bound}"
    );
    assert!(rejections > 0, "100 tasks on 20/s must meet rejections");
    assert!(TokioClock.now() >= end);
}

#[tokio::test(start_paused = true)]
async fn a_quota_change_keeps_what_was_booked_and_applies_from_there() {
    let limiter = RateLimiterPolicy::new(quota(1, 1)).with_max_wait(Duration::from_secs(5));
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(0)));
    // a waiter books the permit at 1 s under the old quota
    let early = {
        let limiter = limiter.clone();
        tokio::spawn(async move { acquire(&limiter, 1).await })
    };
    tokio::task::yield_now().await;
    limiter.set_quota(quota(10, 1));
    assert_eq!(limiter.quota().period(), Duration::from_millis(100));
    assert_eq!(early.await.unwrap(), Ok(ms(1_000)), "the booking stands");
    // the old quota's booked time runs to 2 s; the new rate applies after it
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(2_000)));
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(2_100)));
    assert_eq!(TokioClock.now(), ms(2_100));
    // a wider burst at run time: after a quiet spell, 5 at once
    limiter.set_quota(quota(10, 5));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(limiter.available(), 5);
    assert_eq!(try_acquire(&limiter, 5), Ok(ms(3_100)));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_gives_its_booked_permit_back() {
    let limiter = RateLimiterPolicy::new(quota(10, 1)).with_max_wait(Duration::from_secs(1));
    acquire(&limiter, 1).await.unwrap();
    // gives up after 50 ms, while waiting for its booked start at 100 ms
    let gave_up = tokio::time::timeout(Duration::from_millis(50), acquire(&limiter, 1)).await;
    assert!(gave_up.is_err());
    tokio::time::advance(Duration::from_millis(50)).await;
    // the dropped waiter's 100 ms permit came back: a newcomer has it, and
    // the rate still holds (the next is 200 ms)
    assert_eq!(try_acquire(&limiter, 1), Ok(ms(100)));
    let r = try_acquire(&limiter, 1).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(200)));
}

/// Issue 7, item 9's load: 64 tasks each wait for a permit of a 10,000/s
/// limiter, half of them giving up after 1..10 ms. Giving bookings back on
/// drop must never let more through than `burst + rate * elapsed`: here
/// 1 + 10,000 over 1 s of virtual time. (Only the latest booking can come
/// back, so most give-ups in this crowd still cost their slot: see the
/// rate module docs.)
#[tokio::test(start_paused = true)]
async fn waiters_giving_up_never_push_admissions_over_the_rate() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(10_000).unwrap())
        .with_max_wait(Duration::from_millis(20));
    let admitted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let end = ms(1_000);
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let (limiter, admitted) = (limiter.clone(), admitted.clone());
        tasks.push(tokio::spawn(async move {
            let mut round = 0u64;
            while TokioClock.now() < end {
                round += 1;
                let patience = if (task + round).is_multiple_of(2) {
                    Duration::from_millis(1 + (task * 7 + round * 3) % 10)
                } else {
                    Duration::from_secs(1)
                };
                match tokio::time::timeout(patience, acquire(&limiter, 1)).await {
                    Ok(Ok(at)) if at <= end => {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(Ok(_)) => {}
                    // over its wait: try again at once; gave up: try again
                    Ok(Err(_)) | Err(_) => tokio::task::yield_now().await,
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let admitted = admitted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        admitted <= 10_001,
        "{admitted} admitted in 1 s: over burst + rate"
    );
}

/// A policy over any limiter behind a lock (a window, a token bucket).
fn over<L>(limiter: L, max_wait: Duration) -> Policy<StdShared<Throttle<L>>, TokioClock>
where
    L: failsafe_core::rate::Limiter<Key = ()>,
{
    let shared = Arc::new(Shared::new(StdLock::new(Throttle::new(limiter))));
    Policy::new_shared(shared, TokioClock).with_max_wait(max_wait)
}

#[tokio::test(start_paused = true)]
async fn any_limiter_fits_the_policy_and_says_when_to_come_back() {
    let window = FixedWindow::new(3, Duration::from_secs(1)).unwrap();
    let limiter = over(window, Duration::from_secs(2));
    assert_eq!(acquire(&limiter, 3).await, Ok(ms(0)));
    let r = try_acquire(&limiter, 1).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(1_000)));

    let bucket = TokenBucket::new(2, 1, Duration::from_millis(300)).unwrap();
    let limiter = over(bucket, Duration::from_secs(1));
    assert_eq!(try_acquire(&limiter, 2), Ok(ms(1_000)));
    // one token every 300 ms, on the bucket's own steps (1.2 s, 1.5 s)
    assert_eq!(
        try_acquire(&limiter, 2).unwrap_err().retry_at,
        Some(ms(1_500))
    );
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(acquire(&limiter, 2).await, Ok(ms(1_500)));
}

/// The earlier handle's behaviour, which the admission contract does not
/// have yet: a limiter that cannot book ahead makes a waiter sleep until
/// its `retry_at` (within `max_wait`) and ask again; `Throttle` rejects it.
#[tokio::test(start_paused = true)]
async fn a_waiter_on_a_limiter_that_cannot_book_sleeps_until_retry_at() {
    let window = FixedWindow::new(3, Duration::from_secs(1)).unwrap();
    let limiter = over(window, Duration::from_secs(2));
    assert_eq!(acquire(&limiter, 3).await, Ok(ms(0)));
    // the window cannot book: the waiter sleeps to the next window and asks again
    assert_eq!(acquire(&limiter, 1).await, Ok(ms(1_000)));
    assert_eq!(TokioClock.now(), ms(1_000));

    let bucket = TokenBucket::new(2, 1, Duration::from_millis(300)).unwrap();
    let limiter = over(bucket, Duration::from_secs(1));
    assert_eq!(try_acquire(&limiter, 2), Ok(ms(1_000)));
    assert_eq!(acquire(&limiter, 2).await, Ok(ms(1_500)));
}

const ALICE: u32 = 1;
const BOB: u32 = 2;

#[tokio::test(start_paused = true)]
async fn keyed_limits_are_isolated_per_key() {
    let per_client: KeyedRateLimiterPolicy<u32, 64> =
        KeyedRateLimiterPolicy::new(quota(2, 1)).with_max_wait(Duration::from_secs(1));
    assert_eq!(start(per_client.try_acquire_keyed(&ALICE)), Ok(ms(0)));
    let r = per_client.try_acquire_keyed(&ALICE).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(500)));
    // bob is untouched by alice's limit
    assert_eq!(start(per_client.try_acquire_keyed(&BOB)), Ok(ms(0)));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(start(per_client.acquire_keyed(&ALICE).await), Ok(ms(500)));
    assert_eq!(
        per_client
            .call_keyed(&BOB, || async { Ok::<_, ()>(TokioClock.now()) })
            .await,
        Ok(ms(500))
    );
    // many more keys than slots: the table never grows past its 64 slots
    for key in 100..1_100 {
        let _ = per_client.try_acquire_keyed(&key);
    }
    assert!(per_client.len() <= 64);
    per_client.set_quota(quota(1, 1));
    assert_eq!(per_client.available(&3), 1);
}

/// The earlier keyed handle's behaviour, which the admission contract does
/// not have yet: a keyed waiter sleeps until its key's `retry_at` (within
/// `max_wait`) and asks again; `Throttle<KeyedGcra>` rejects it at once.
#[tokio::test(start_paused = true)]
async fn a_keyed_waiter_waits_exactly_for_its_own_next_permit() {
    let per_client: KeyedRateLimiterPolicy<u32, 64> =
        KeyedRateLimiterPolicy::new(quota(2, 1)).with_max_wait(Duration::from_secs(1));
    assert_eq!(start(per_client.try_acquire_keyed(&ALICE)), Ok(ms(0)));
    assert_eq!(start(per_client.acquire_keyed(&ALICE).await), Ok(ms(500)));
    assert_eq!(TokioClock.now(), ms(500));
}

/// Real time on several threads, with a quota so slow (one permit an
/// hour) that no permit is refilled while the test runs: exactly the burst
/// is admitted, whichever threads race for it.
#[test]
fn threads_share_one_lock_free_limiter() {
    let hourly = Quota::per(1, Duration::from_secs(3_600))
        .unwrap()
        .with_burst(10)
        .unwrap();
    let limiter = RateLimiterPolicy::new(hourly).with_max_wait(Duration::ZERO);
    let total: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..50).filter(|_| try_acquire(&limiter, 1).is_ok()).count()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(total, 10);
}
