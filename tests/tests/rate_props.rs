//! Properties of the rate limiters users rely on: never more than
//! `burst + rate * window` in any window, and admitted exactly when promised.

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::rate::{
    AtomicGcra, Gcra, KeyedGcra, Quota, Reservation, SlidingWindow, TokenBucket, WhenFull,
};
use proptest::prelude::*;

fn quota() -> impl Strategy<Value = Quota> {
    (1u64..2_000, 1u32..20).prop_map(|(period_ms, burst)| {
        Quota::with_period(Duration::from_millis(period_ms))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    })
}

/// Requests: (gap in ms since the previous one, permits asked).
fn requests() -> impl Strategy<Value = Vec<(u64, u32)>> {
    prop::collection::vec((0u64..1_500, 1u32..4), 1..300)
}

/// Every window [t, t + w] over the admitted (time, n) log holds at most
/// `burst + w / period` permits.
fn assert_gcra_bound(log: &[(u64, u32)], quota: Quota) -> Result<(), TestCaseError> {
    let period = quota.period().as_nanos() as u64;
    for (i, &(start, _)) in log.iter().enumerate() {
        let mut total = 0u64;
        for &(t, n) in &log[i..] {
            total += u64::from(n);
            let span = t - start;
            let bound = u64::from(quota.burst()) + span / period;
            prop_assert!(total <= bound, "{total} permits in {span} ns > {bound}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn gcra_never_exceeds_burst_plus_rate_and_keeps_its_promises(quota in quota(), reqs in requests()) {
        let mut g = Gcra::new(quota);
        let mut t = 0u64;
        let mut log = Vec::new();
        for (gap, n) in reqs {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            match g.acquire(now, n) {
                Ok(()) => log.push((t, n)),
                Err(r) => {
                    // "never" is exactly a request over the burst (times here stay far from the end of time)
                    prop_assert_eq!(r.is_never(), n > quota.burst(), "{:?}", r);
                    let at = r.retry_at.expect("a GCRA always knows when");
                    if !r.is_never() {
                        prop_assert!(at > now);
                        // exactly when promised: not a nanosecond earlier, and at it
                        prop_assert!(g.check(Instant::from_nanos(at.as_nanos() - 1), n).is_err());
                        prop_assert!(g.check(at, n).is_ok());
                    }
                }
            }
        }
        assert_gcra_bound(&log, quota)?;
    }

    #[test]
    fn atomic_gcra_decides_like_gcra(quota in quota(), reqs in requests()) {
        let (mut plain, shared) = (Gcra::new(quota), AtomicGcra::new(quota));
        let mut t = 0u64;
        for (gap, n) in reqs {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            prop_assert_eq!(plain.acquire(now, n), shared.acquire(now, n));
        }
    }

    #[test]
    fn reservations_never_exceed_the_rate_either(quota in quota(), reqs in requests(), wait_ms in 0u64..5_000) {
        let mut g = Gcra::new(quota);
        let mut t = 0u64;
        let mut log = Vec::new();
        for (gap, n) in reqs {
            t += gap * 1_000_000;
            if let Ok(r) = g.reserve(Instant::from_nanos(t), n, Duration::from_millis(wait_ms)) {
                let start = r.start();
                prop_assert!(start.as_nanos() >= t && start.as_nanos() - t <= wait_ms * 1_000_000);
                log.push((start.as_nanos(), n));
            }
        }
        log.sort();
        assert_gcra_bound(&log, quota)?;
    }

    /// Waiters that give up (a dropped future) hand their booking back: the
    /// latest booking always comes back (no capacity leaks), an earlier one
    /// never does (no permit is double-booked), and the permits actually
    /// used never exceed `burst + rate * window`. `Gcra` and `AtomicGcra`
    /// agree on every answer.
    #[test]
    fn cancelled_bookings_come_back_when_latest_and_never_exceed_the_rate(
        quota in quota(),
        ops in prop::collection::vec((0u64..1_500, 1u32..4, 0u8..4, 0usize..8), 1..300),
    ) {
        let (mut plain, shared) = (Gcra::new(quota), AtomicGcra::new(quota));
        let wait = Duration::from_secs(5);
        // bookings still waiting: (id, start, n, plain's, shared's)
        let mut waiting: Vec<(u64, u64, u32, Reservation, Reservation)> = Vec::new();
        // ids of the admissions and bookings that moved the state, not given back
        let mut stack: Vec<u64> = Vec::new();
        let mut log = Vec::new(); // permits used: (start, n)
        let (mut t, mut next_id) = (0u64, 0u64);
        for (gap, n, action, pick) in ops {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            // a waiter whose start came is served
            waiting.retain(|(_, start, n, _, _)| {
                let due = *start <= t;
                if due { log.push((*start, *n)); }
                !due
            });
            match action {
                0 => {
                    let (a, b) = (plain.acquire(now, n), shared.acquire(now, n));
                    prop_assert_eq!(a, b);
                    if a.is_ok() {
                        log.push((t, n));
                        stack.push(next_id);
                        next_id += 1;
                    }
                }
                1 | 2 => match (plain.reserve(now, n, wait), shared.reserve(now, n, wait)) {
                    (Ok(a), Ok(b)) => {
                        prop_assert_eq!(a.start(), b.start());
                        stack.push(next_id);
                        let start = a.start().as_nanos();
                        if start > t {
                            waiting.push((next_id, start, n, a, b));
                        } else {
                            log.push((start, n));
                        }
                        next_id += 1;
                    }
                    (Err(a), Err(b)) => prop_assert_eq!(a, b),
                    (a, b) => prop_assert!(false, "Gcra {:?} but AtomicGcra {:?}", a, b),
                },
                _ => {
                    if waiting.is_empty() { continue; }
                    let (id, start, n, a, b) = waiting.remove(pick % waiting.len());
                    let latest = stack.last() == Some(&id);
                    let (given_a, given_b) = (plain.cancel(a), shared.cancel(b));
                    prop_assert_eq!(given_a, latest, "Gcra gave back {} (latest: {})", given_a, latest);
                    prop_assert_eq!(given_b, latest, "AtomicGcra gave back {} (latest: {})", given_b, latest);
                    if latest {
                        stack.pop();
                    } else {
                        log.push((start, n)); // spent: used at its start
                    }
                }
            }
        }
        log.extend(waiting.iter().map(|(_, start, n, _, _)| (*start, *n)));
        log.sort();
        assert_gcra_bound(&log, quota)?;
    }

    #[test]
    fn token_bucket_never_exceeds_capacity_plus_refills(
        capacity in 1u32..20, refill in 1u32..5, period_ms in 1u64..1_000, reqs in requests(),
    ) {
        let period = period_ms * 1_000_000;
        let mut b = TokenBucket::new(capacity, refill, Duration::from_nanos(period)).unwrap();
        let mut t = 0u64;
        let mut log: Vec<(u64, u32)> = Vec::new();
        for (gap, n) in reqs {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            match b.acquire(now, n) {
                Ok(()) => log.push((t, n)),
                Err(r) => if let Some(at) = r.retry_at {
                    prop_assert!(at > now);
                }
            }
        }
        for (i, &(start, _)) in log.iter().enumerate() {
            let mut total = 0u64;
            for &(t, n) in &log[i..] {
                total += u64::from(n);
                // refills happen on period boundaries: at most one per boundary crossed
                let refills = t / period - start / period;
                prop_assert!(total <= u64::from(capacity) + refills * u64::from(refill));
            }
        }
    }

    #[test]
    fn sliding_window_never_exceeds_its_limit_within_b_buckets(limit in 1u32..10, reqs in requests()) {
        const B: u64 = 5;
        let window = 1_000u64; // ms, in 5 buckets of 200 ms
        let mut w = SlidingWindow::<5>::new(limit, Duration::from_millis(window)).unwrap();
        let mut t = 0u64;
        let mut log: Vec<(u64, u32)> = Vec::new();
        for (gap, n) in reqs {
            t += gap;
            let now = Instant::from_millis(t);
            match w.acquire(now, n.min(limit)) {
                Ok(()) => log.push((t, n.min(limit))),
                Err(r) => if let Some(at) = r.retry_at {
                    prop_assert!(at > now);
                    prop_assert!(w.clone().acquire(at, n.min(limit)).is_ok(), "admitted at the promised instant");
                }
            }
        }
        let bucket = window / B;
        for &(t, _) in &log {
            let head = t / bucket;
            let in_window: u64 = log.iter().filter(|(s, _)| *s <= t && s / bucket + B > head).map(|(_, n)| u64::from(*n)).sum();
            prop_assert!(in_window <= u64::from(limit));
        }
    }

    #[test]
    fn keyed_rejecting_new_keys_never_exceeds_any_keys_quota(
        quota in quota(),
        reqs in prop::collection::vec((0u64..500, 0u8..12), 1..300),
    ) {
        let mut table = KeyedGcra::<u8, 4>::new(quota, 99).when_full(WhenFull::RejectNewKeys);
        let mut t = 0u64;
        let mut logs: Vec<Vec<(u64, u32)>> = vec![Vec::new(); 12];
        for (gap, key) in reqs {
            t += gap * 1_000_000;
            if table.acquire(&key, Instant::from_nanos(t), 1).is_ok() {
                logs[key as usize].push((t, 1));
            }
            prop_assert!(table.len() <= 4);
        }
        for log in &logs {
            assert_gcra_bound(log, quota)?;
        }
    }
}

/// A period anywhere from 1 ns to past what `u64` nanoseconds hold, more
/// often short: its bits drawn first, then its value within them.
fn any_period() -> impl Strategy<Value = Duration> {
    (0u32..=70, any::<u64>()).prop_map(|(bits, raw)| match bits {
        0..=63 => Duration::from_nanos((raw >> (63 - bits)).max(1)),
        // Past u64 nanoseconds: up to `Duration::MAX`.
        _ => Duration::new(raw, 999_999_999),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Whatever quota the builder accepts, every GCRA machine (plain,
    /// atomic, keyed) admits a full burst at once when fresh, at any
    /// instant of its clock's first 292 years, and then promises a finite
    /// `retry_at`: no accepted quota refuses calls for ever (a quota whose
    /// span overflowed the clock once did). What it refuses names the field.
    #[test]
    fn an_accepted_quota_admits_a_fresh_burst_and_never_refuses_for_ever(
        period in any_period(),
        burst in prop_oneof![1u32..100, any::<u32>().prop_map(|b| b.max(1))],
        now in 0u64..(1 << 63),
        n in 1u32..1_000,
    ) {
        // `n` permits per `period`: the rate asked, to the nanosecond, or
        // refused; never a faster one.
        match Quota::per(n, period) {
            Ok(per) => prop_assert_eq!(per.period().as_nanos(), period.as_nanos() / u128::from(n)),
            Err(e) => prop_assert!(e.field == "rate", "{e}"),
        }
        let quota = match Quota::builder().period(period).burst(burst).build() {
            Ok(quota) => quota,
            Err(e) => {
                prop_assert!(["period", "burst"].contains(&e.field), "{e}");
                let span = period.as_nanos().saturating_mul(u128::from(burst));
                prop_assert!(span > Quota::MAX_SPAN.as_nanos(), "refused {period:?} x {burst}: {e}");
                return Ok(());
            }
        };
        let now = Instant::from_nanos(now);
        let mut gcra = Gcra::new(quota);
        prop_assert!(gcra.acquire(now, burst).is_ok());
        let atomic = AtomicGcra::new(quota);
        prop_assert!(atomic.acquire(now, burst).is_ok());
        let mut keyed = KeyedGcra::<u8, 4>::new(quota, 7);
        prop_assert!(keyed.acquire(&1, now, burst).is_ok());
        for refused in [gcra.acquire(now, 1), atomic.acquire(now, 1), keyed.acquire(&1, now, 1)] {
            let retry_at = refused.expect_err("the burst is spent").retry_at;
            prop_assert!(retry_at.is_some_and(|at| at > now && at < Instant::MAX), "{retry_at:?}");
        }
    }
}
