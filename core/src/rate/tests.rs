//! Rate limiter timelines.

extern crate std;
use std::vec::Vec;

use core::time::Duration;

use super::*;
use crate::RejectReason;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

#[test]
fn gcra_admits_a_burst_then_one_per_period_exactly_when_promised() {
    let quota = Quota::per_second(10).unwrap().with_burst(3).unwrap();
    let mut g = Gcra::new(quota);
    for _ in 0..3 {
        g.acquire(ms(0), 1).unwrap();
    }
    let r = g.acquire(ms(0), 1).unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(100)))
    );
    assert!(g.acquire(ms(99), 1).is_err());
    g.acquire(ms(100), 1).unwrap();
    assert_eq!(g.acquire(ms(150), 1).unwrap_err().retry_at, Some(ms(200)));
    // after a quiet second the full burst is back, never more
    assert_eq!(g.available(ms(10_000)), 3);
}

#[test]
fn gcra_takes_n_permits_at_once() {
    let mut g = Gcra::new(Quota::per_second(10).unwrap().with_burst(10).unwrap());
    g.acquire(ms(0), 7).unwrap();
    assert_eq!(g.acquire(ms(0), 4).unwrap_err().retry_at, Some(ms(100)));
    g.acquire(ms(0), 3).unwrap();
    assert_eq!(
        g.acquire(ms(0), 11).unwrap_err().reason,
        RejectReason::RateInsufficientCapacity
    );
}

#[test]
fn gcra_reserve_books_future_permits_up_to_the_maximum_wait() {
    let mut g = Gcra::new(Quota::per_second(2).unwrap());
    let start = |r: Result<Reservation, Rejected>| r.map(|r| r.start());
    assert_eq!(start(g.reserve(ms(0), 1, Duration::ZERO)), Ok(ms(0)));
    assert_eq!(
        start(g.reserve(ms(0), 1, Duration::from_secs(1))),
        Ok(ms(500))
    );
    assert_eq!(
        start(g.reserve(ms(0), 1, Duration::from_secs(1))),
        Ok(ms(1_000))
    );
    let r = g.reserve(ms(0), 1, Duration::from_secs(1)).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(1_500)));
    // a refused reservation books nothing
    assert_eq!(
        start(g.reserve(ms(1_000), 1, Duration::from_secs(1))),
        Ok(ms(1_500))
    );
}

/// Issue 7, item 3: quota 1/s, burst 2; one permit at t = 10 s; then the
/// clock reads 9.9 s. As at 10 s, one permit is left: `available` is 1, one
/// `acquire` succeeds and a second is refused (retry at 11 s).
#[test]
fn gcra_clock_stepping_back_counts_as_no_time_passed() {
    let quota = Quota::per_second(1).unwrap().with_burst(2).unwrap();
    let mut g = Gcra::new(quota);
    let a = AtomicGcra::new(quota);
    g.acquire(ms(10_000), 1).unwrap();
    a.acquire(ms(10_000), 1).unwrap();
    assert_eq!(g.available(ms(9_900)), 1);
    assert_eq!(a.available(ms(9_900)), 1);
    assert_eq!(g.check(ms(9_900), 1), Ok(()));
    assert_eq!(g.acquire(ms(9_900), 1), Ok(()));
    assert_eq!(a.acquire(ms(9_900), 1), Ok(()));
    let expected = Err(Rejected::new(RejectReason::RateLimited, Some(ms(11_000))));
    assert_eq!(g.acquire(ms(9_900), 1), expected);
    assert_eq!(a.acquire(ms(9_900), 1), expected);
    // reserve clamps too: the next slot after the two taken at "10 s" is 11 s
    assert_eq!(
        g.reserve(ms(9_000), 1, Duration::from_secs(1))
            .map(|r| r.start()),
        Ok(ms(11_000))
    );
    assert_eq!(
        a.reserve(ms(9_000), 1, Duration::from_secs(1))
            .map(|r| r.start()),
        Ok(ms(11_000))
    );
}

/// "Never" has one representation: `n` above the burst, and a start past
/// the end of time, are `Rejected::never`.
#[test]
fn gcra_never_is_retry_at_max() {
    let mut g = Gcra::new(Quota::per_second(1).unwrap().with_burst(2).unwrap());
    let r = g.acquire(ms(0), 3).unwrap_err();
    assert!(r.is_never(), "{r:?}");
    assert_eq!(r.reason, RejectReason::RateInsufficientCapacity);
    let r = g.acquire(Instant::MAX, 1).unwrap_err();
    assert_eq!(r, Rejected::never(RejectReason::RateLimited));
}

/// Issue 7, item 9: a dropped waiter's booking comes back when it is the
/// latest one; a booking with later ones behind it stays (the rate is never
/// exceeded).
#[test]
fn gcra_cancel_gives_back_the_latest_booking_only() {
    let quota = Quota::per_second(10).unwrap(); // one per 100 ms, burst 1
    let mut g = Gcra::new(quota);
    g.acquire(ms(0), 1).unwrap();
    let r1 = g.reserve(ms(0), 1, Duration::from_secs(1)).unwrap();
    let r2 = g.reserve(ms(0), 1, Duration::from_secs(1)).unwrap();
    assert_eq!((r1.start(), r2.start()), (ms(100), ms(200)));
    assert!(!g.cancel(r1)); // r2 holds 200 ms: giving back 100 ms would double-book
    assert_eq!(g.tat(), ms(300).as_nanos());
    assert!(g.cancel(r2)); // the latest: state as before it
    assert_eq!(g.tat(), ms(200).as_nanos());
    let r3 = g.reserve(ms(50), 1, Duration::from_secs(1)).unwrap();
    assert_eq!(r3.start(), ms(200));
    g.acquire(ms(250), 1).unwrap_err(); // 300 ms is next: r3 still counts
    // any later booking makes it non-returnable
    let mut g = Gcra::new(quota);
    let r = g.reserve(ms(0), 1, Duration::ZERO).unwrap();
    let _later = g.reserve(ms(0), 1, Duration::from_secs(1)).unwrap();
    assert!(!g.cancel(r));
    // a grant with nothing booked gives nothing back
    assert!(!g.cancel(Reservation::granted(ms(0))));
}

#[test]
fn gcra_quota_change_keeps_what_was_taken() {
    let mut g = Gcra::new(Quota::per_second(1).unwrap().with_burst(2).unwrap());
    g.acquire(ms(0), 2).unwrap(); // the next permit is due at t=1s
    g.set_quota(Quota::per_second(10).unwrap().with_burst(2).unwrap());
    // the backlog (2 s of the old rate) is kept; the new, faster rate applies to new permits
    let r = g.acquire(ms(0), 1).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(1_900)));
}

#[test]
fn a_clock_stepping_back_never_loosens_a_gcra() {
    let mut g = Gcra::new(Quota::per_second(1).unwrap());
    g.acquire(ms(5_000), 1).unwrap();
    assert_eq!(
        g.acquire(ms(1_000), 1).unwrap_err().retry_at,
        Some(ms(6_000))
    );
}

#[test]
fn atomic_gcra_matches_gcra() {
    let quota = Quota::per_second(5).unwrap().with_burst(2).unwrap();
    let (mut plain, shared) = (Gcra::new(quota), AtomicGcra::new(quota));
    for t in [0, 0, 0, 100, 200, 250, 400, 1_000, 1_000, 1_000, 5_000] {
        assert_eq!(plain.acquire(ms(t), 1), shared.acquire(ms(t), 1), "t={t}");
    }
    assert_eq!(
        plain.reserve(ms(5_000), 2, Duration::from_secs(1)),
        shared.reserve(ms(5_000), 2, Duration::from_secs(1))
    );
    shared.set_quota(Quota::per_second(100).unwrap());
    assert_eq!(shared.quota().period(), Duration::from_millis(10));
}

#[test]
fn token_bucket_refills_in_steps() {
    let mut b = TokenBucket::new(5, 2, Duration::from_secs(1)).unwrap();
    b.acquire(ms(0), 5).unwrap();
    assert_eq!(b.acquire(ms(999), 1).unwrap_err().retry_at, Some(ms(1_000)));
    assert_eq!(
        b.acquire(ms(999), 3).unwrap_err().retry_at,
        Some(ms(2_000)),
        "two refills of 2"
    );
    b.acquire(ms(1_000), 2).unwrap();
    assert_eq!(b.available(ms(60_000)), 5, "never above capacity");
    assert_eq!(
        b.acquire(ms(60_000), 6).unwrap_err().reason,
        RejectReason::RateInsufficientCapacity
    );
}

#[test]
fn fixed_window_resets_each_window() {
    let mut w = FixedWindow::new(3, Duration::from_secs(1)).unwrap();
    w.acquire(ms(990), 3).unwrap();
    assert_eq!(w.acquire(ms(995), 1).unwrap_err().retry_at, Some(ms(1_000)));
    w.acquire(ms(1_000), 3).unwrap(); // the known weakness: 6 within 10 ms
}

#[test]
fn sliding_window_has_no_boundary_burst() {
    let mut w = SlidingWindow::<10>::new(3, Duration::from_secs(1)).unwrap();
    w.acquire(ms(990), 3).unwrap();
    // unlike the fixed window, the next second does not start fresh
    assert_eq!(
        w.acquire(ms(1_000), 1).unwrap_err().retry_at,
        Some(ms(1_900))
    );
    w.acquire(ms(1_900), 3).unwrap();
}

#[test]
fn keyed_limits_each_key_and_reuses_idle_slots() {
    let quota = Quota::per_second(1).unwrap();
    let mut t = KeyedGcra::<u32, 4>::new(quota, 42);
    for key in 0..4 {
        t.acquire(&key, ms(0), 1).unwrap();
    }
    assert!(t.acquire(&0, ms(0), 1).is_err());
    assert_eq!(t.len(), 4);
    // a fifth key at t=0 finds no idle slot: the default evicts the least loaded
    t.acquire(&99, ms(0), 1).unwrap();
    assert_eq!(t.len(), 4, "the table never grows");
    // one second later every old key is idle: thousands of new keys reuse slots
    for key in 1_000..3_000 {
        t.acquire(&key, ms(1_000 + key as u64), 1).unwrap();
    }
    assert_eq!(t.len(), 4);
}

#[test]
fn keyed_reject_new_keys_never_exceeds_a_quota() {
    let quota = Quota::per_second(1).unwrap();
    let mut t = KeyedGcra::<u32, 2>::new(quota, 7).when_full(WhenFull::RejectNewKeys);
    t.acquire(&1, ms(0), 1).unwrap();
    t.acquire(&2, ms(0), 1).unwrap();
    let r = t.acquire(&3, ms(500), 1).unwrap_err();
    assert_eq!(r.retry_at, Some(ms(1_000)));
    // key 1 was not evicted: still limited
    assert!(t.acquire(&1, ms(500), 1).is_err());
}

#[test]
fn retry_after_strategies() {
    let r = Rejected::new(RejectReason::RateLimited, Some(ms(300)));
    assert_eq!(retry_after::fixed(&r, ms(100)), Duration::from_millis(200));
    assert_eq!(
        retry_after::utilization(Duration::from_millis(200), 0.0, Duration::from_secs(5)),
        Duration::from_millis(200)
    );
    assert_eq!(
        retry_after::utilization(Duration::ZERO, f64::NAN, Duration::from_secs(5)),
        Duration::from_secs(5)
    );
    let mut bp = retry_after::Backpressure::<4>::new(
        Duration::from_millis(100),
        Duration::from_secs(4),
        Duration::from_secs(1),
        Duration::from_secs(9),
    )
    .unwrap();
    let mut rng = crate::rng::Xorshift64::new(3);
    let calm: Vec<Duration> = (0..20).map(|_| bp.retry_after(ms(0), &mut rng)).collect();
    assert!(
        calm.iter()
            .all(|d| *d >= Duration::from_millis(800) && *d <= Duration::from_millis(1_200))
    );
}

#[test]
fn invalid_quotas_name_their_field() {
    assert_eq!(Quota::per_second(0).unwrap_err().field, "rate");
    assert_eq!(
        Quota::with_period(Duration::ZERO).unwrap_err().field,
        "period"
    );
    assert_eq!(
        Quota::per_second(1)
            .unwrap()
            .with_burst(0)
            .unwrap_err()
            .field,
        "burst"
    );
    // a rate finer than 1 ns per permit: the rate is what was asked for
    let e = Quota::per(2_000_000_000, Duration::from_nanos(1)).unwrap_err();
    assert_eq!((e.field, e.problem), ("rate", crate::Problem::TooLarge));
    assert_eq!(
        FixedWindow::new(0, Duration::from_secs(1))
            .unwrap_err()
            .field,
        "limit"
    );
    assert_eq!(
        SlidingWindow::<4>::new(1, Duration::from_nanos(3))
            .unwrap_err()
            .field,
        "window"
    );
}

/// At the end of the clock `available` and `acquire` agree: a permit whose
/// booking would run past `Instant::MAX` is neither counted nor granted.
#[test]
fn gcra_available_agrees_with_acquire_at_the_end_of_the_clock() {
    let quota = Quota::per_second(1).unwrap().with_burst(2).unwrap();
    for now in [
        Instant::MAX,
        Instant::from_nanos(u64::MAX - 500_000_000), // half a period before the end
        Instant::from_nanos(u64::MAX - 1_500_000_000),
        Instant::from_nanos(u64::MAX - 2_000_000_000),
    ] {
        let mut g = Gcra::new(quota);
        let promised = g.available(now);
        let mut granted = 0;
        while g.acquire(now, 1).is_ok() {
            granted += 1;
        }
        assert_eq!(promised, granted, "at {now:?}");
    }
}

/// Each builder is its positional constructor with named fields: the same
/// value or the same error (field and problem) over a grid with zeros and
/// extremes.
#[test]
fn builders_give_what_the_positional_constructors_give() {
    let counts = [0, 1, 2, 7, 1_000, u32::MAX];
    let spans = [
        Duration::ZERO,
        Duration::from_nanos(1),
        Duration::from_nanos(9),
        Duration::from_millis(250),
        Duration::from_secs(1),
        Duration::MAX,
    ];
    for &a in &counts {
        for &b in &counts {
            for &span in &spans {
                assert_eq!(
                    Quota::builder().per(a, span).burst(b).build(),
                    Quota::per(a, span).and_then(|q| q.with_burst(b)),
                );
                assert_eq!(
                    Quota::builder().period(span).burst(b).build(),
                    Quota::with_period(span).and_then(|q| q.with_burst(b)),
                );
                assert_eq!(
                    TokenBucket::builder()
                        .capacity(a)
                        .refill(b)
                        .period(span)
                        .build(),
                    TokenBucket::new(a, b, span),
                );
            }
        }
        for &span in &spans {
            assert_eq!(
                FixedWindow::builder().limit(a).window(span).build(),
                FixedWindow::new(a, span),
            );
            assert_eq!(
                SlidingWindow::<10>::builder().limit(a).window(span).build(),
                SlidingWindow::<10>::new(a, span),
            );
        }
        assert_eq!(Quota::builder().per_second(a).build(), Quota::per_second(a));
        assert_eq!(Quota::builder().per_minute(a).build(), Quota::per_minute(a));
    }
    // What an unset required field says: its name, `Missing`, in field
    // order, before any value is checked.
    let missing = |e: ConfigError| (e.field, e.problem);
    assert_eq!(
        missing(Quota::builder().burst(2).build().unwrap_err()),
        ("rate", Problem::Missing)
    );
    assert_eq!(
        missing(TokenBucket::builder().build().unwrap_err()),
        ("capacity", Problem::Missing)
    );
    assert_eq!(
        missing(
            TokenBucket::builder()
                .capacity(0)
                .refill(1)
                .build()
                .unwrap_err()
        ),
        ("period", Problem::Missing)
    );
    assert_eq!(
        missing(
            TokenBucket::builder()
                .capacity(0)
                .refill(1)
                .period(Duration::from_secs(1))
                .build()
                .unwrap_err()
        ),
        ("capacity", Problem::Zero)
    );
    assert_eq!(
        missing(FixedWindow::builder().build().unwrap_err()),
        ("limit", Problem::Missing)
    );
    assert_eq!(
        missing(SlidingWindow::<10>::builder().limit(3).build().unwrap_err()),
        ("window", Problem::Missing)
    );
}

/// The lock-free handle's path (`SharedAdmission::enter` on
/// `Throttle<AtomicGcra>`) answers every call exactly as the machine behind
/// a lock (`Admission::enter` on `Throttle<Gcra>`): admitted, booked (the
/// same start), or rejected (the same reason and `retry_at`), over a long
/// seeded run of calls with time going on, standing still and stepping
/// back, weights up to past the burst, no wait, the limiter's own wait, a
/// caller's wait and deadlines.
#[test]
fn the_lock_free_throttle_decides_as_the_locked_one() {
    use crate::admission::{Admission, Call, Entry};
    use crate::sync::SharedAdmission;
    use crate::timeout::Deadline;

    let quota = Quota::per_second(10).unwrap().with_burst(3).unwrap();
    let wait = Duration::from_millis(250);
    let mut locked = Throttle::new(Gcra::new(quota)).max_wait(wait);
    let free = Throttle::new(AtomicGcra::new(quota)).max_wait(wait);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut t = 0u64;
    let (mut admitted, mut pending, mut rejected) = (0, 0, 0);
    for i in 0..20_000 {
        t = match next(8) {
            0 => t.saturating_sub(next(200)), // the clock steps back
            1 | 2 => t,                       // no time passed
            _ => t + next(400),
        };
        let now = ms(t);
        // Mostly one or two permits, now and then more than the burst.
        let weight = if next(16) == 0 { 4 } else { 1 + next(2) as u32 };
        let call = Call::at(now).with_weight(weight);
        let call = match next(4) {
            0 => call.no_wait(),
            1 => call.with_max_wait(Some(Duration::from_millis(next(400)))),
            2 => call.with_deadline(Deadline::at(ms(t + next(300)))),
            _ => call,
        };
        let (a, b) = (locked.enter(&call, None), free.enter(&call, None));
        match &a {
            Entry::Admitted(_) => admitted += 1,
            Entry::Pending { .. } => pending += 1,
            Entry::Rejected(_) => rejected += 1,
        }
        assert_eq!(a, b, "call {i} at {t} ms: {call:?}");
    }
    // The run visits every answer.
    assert!(
        admitted > 1_000 && pending > 1_000 && rejected > 1_000,
        "{admitted} admitted, {pending} booked, {rejected} rejected"
    );
}
