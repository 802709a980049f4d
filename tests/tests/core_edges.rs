//! The core's pure machines against their own docs (rate limiters, breaker
//! windows, fail fast, toggle, cache), at their edges. A fresh helper's
//! review wrote these (2026-12-01); four failed before their fixes: a fail
//! fast probe it had replaced gave a turn back on cancel (a second probe in
//! the interval), and the sliding counts behind every time window cut a
//! window not a multiple of its buckets short (`window % B` ns; buckets
//! now round up). [`sliding_counts_keep_every_sample_the_whole_window`]
//! checks the last for every machine on those counts.

use core::time::Duration;

use failsafe_core::breaker::{
    BreakerConfig, CircuitBreaker, CountWindow, HalfOpenRule, Sample, State as BState, TimeWindow,
    Window,
};
use failsafe_core::failfast::{FailFast, FailFastConfig, State as FState};
use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, SlidingWindow, TokenBucket, WhenFull,
};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, RejectReason};
use proptest::prelude::*;

fn secs(n: u64) -> Instant {
    Instant::from_secs(n)
}

// ---------------------------------------------------------------------------
// Fail fast
// ---------------------------------------------------------------------------

/// Docs (failfast/mod.rs): "With a probe interval configured it admits one
/// health probe per interval". A probe that stayed silent past the next
/// probe instant is replaced by the next probe; if that *replaced* probe
/// later reports `Cancelled`/`Ignored`, it "gives its turn back" although
/// the turn is no longer its own: a third probe is admitted at once while
/// the current one is still out, within the same interval.
#[test]
fn a_replaced_probe_that_cancels_frees_no_second_probe_in_the_interval() {
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    ff.open(secs(0));
    // t=10s: probe A (the next probe is due at t=20s)
    let a = ff.acquire(secs(10), Deadline::NEVER).unwrap();
    assert!(a.is_probe());
    // t=20s: A never reported; probe B replaces it (next due at t=30s)
    let b = ff.acquire(secs(20), Deadline::NEVER).unwrap();
    assert!(b.is_probe());
    // while B is out, calls are rejected
    assert!(ff.acquire(secs(21), Deadline::NEVER).is_err());
    // t=21s: the replaced probe A is finally dropped (cancelled)
    ff.record(secs(21), a, Outcome::Cancelled);
    // B is still out and its interval runs to t=30s: one probe per interval
    let third = ff.acquire(secs(21), Deadline::NEVER);
    assert!(
        third.is_err(),
        "a second probe admitted at t=21s while probe B (t=20s) is still out: {third:?}"
    );
    let _ = b;
}

/// The same with the replaced probe ignored.
#[test]
fn failfast_current_probe_cancel_gives_its_turn_back() {
    let config = FailFastConfig::builder()
        .probe_interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut ff = FailFast::new(config);
    ff.open(secs(0));
    let a = ff.acquire(secs(10), Deadline::NEVER).unwrap();
    ff.record(secs(11), a, Outcome::Cancelled);
    assert!(ff.acquire(secs(11), Deadline::NEVER).unwrap().is_probe());
    assert_eq!(ff.state(), FState::Open);
}

// ---------------------------------------------------------------------------
// GCRA
// ---------------------------------------------------------------------------

fn quota_strategy() -> impl Strategy<Value = Quota> {
    (1u64..5_000_000_000, 1u32..50).prop_filter_map("span", |(p, b)| {
        Quota::with_period(Duration::from_nanos(p))
            .ok()?
            .with_burst(b)
            .ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A rejection's `retry_at` is exact: granted then, refused 1 ns before
    /// (Quota::with_burst docs), from any state, near the end of the clock too.
    #[test]
    fn gcra_retry_at_is_exact(
        quota in quota_strategy(),
        base in prop_oneof![Just(0u64), Just(u64::MAX - (1u64 << 63)), 0u64..(1u64 << 62)],
        steps in prop::collection::vec((0u64..3_000_000_000, 0u32..60), 1..40),
    ) {
        let mut g = Gcra::new(quota);
        let mut now = base;
        for (dt, n) in steps {
            now = now.saturating_add(dt);
            let t = Instant::from_nanos(now);
            let before = g;
            match g.acquire(t, n) {
                Ok(()) => {
                    prop_assert!(n <= quota.burst());
                }
                Err(r) if r.is_never() => {}
                Err(r) => {
                    let at = r.retry_at.unwrap();
                    prop_assert!(at > t);
                    let mut later = before;
                    prop_assert!(later.acquire(at, n).is_ok(), "refused at retry_at {at:?}");
                    let mut early = before;
                    prop_assert!(early.acquire(Instant::from_nanos(at.as_nanos() - 1), n).is_err());
                    // available agrees with acquire
                    prop_assert!(before.available(t) < n);
                }
            }
        }
    }

    /// AtomicGcra and Gcra agree, and `available` agrees with `acquire`.
    #[test]
    fn atomic_gcra_and_available_agree(
        quota in quota_strategy(),
        steps in prop::collection::vec((0u64..2_000_000_000, 0u32..60, any::<bool>()), 1..60),
    ) {
        let mut g = Gcra::new(quota);
        let a = AtomicGcra::new(quota);
        let mut now = 0u64;
        for (dt, n, back) in steps {
            if back { now = now.saturating_sub(dt) } else { now += dt }
            let t = Instant::from_nanos(now);
            let avail = g.available(t);
            let r1 = g.acquire(t, n);
            let r2 = a.acquire(t, n);
            prop_assert_eq!(r1, r2);
            if n <= quota.burst() {
                prop_assert_eq!(r1.is_ok(), avail >= n, "available {} n {}", avail, n);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Keyed GCRA
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A keyed limiter decides for each key exactly as a Gcra of its own,
    /// as long as no key with debt is evicted (table large enough), and a
    /// rejection's `retry_at` admits the key then.
    #[test]
    fn keyed_matches_per_key_gcra(
        quota in quota_strategy(),
        seed in any::<u64>(),
        steps in prop::collection::vec((0u64..2_000_000_000, 0u8..4, 0u32..60), 1..80),
    ) {
        let mut keyed = KeyedGcra::<u8, 64>::new(quota, seed);
        let mut singles = [Gcra::new(quota); 4];
        let mut now = 0u64;
        for (dt, key, n) in steps {
            now += dt;
            let t = Instant::from_nanos(now);
            let before = keyed.clone();
            let r = keyed.acquire(&key, t, n);
            prop_assert_eq!(r, singles[key as usize].acquire(t, n));
            if let Err(rej) = r && !rej.is_never() {
                let at = rej.retry_at.unwrap();
                let mut again = before;
                prop_assert!(again.acquire(&key, at, n).is_ok());
            }
        }
    }

    /// RejectNewKeys: a new key refused for a full neighbourhood is admitted
    /// at its `retry_at` (a slot has gone idle by then).
    #[test]
    fn keyed_reject_new_keys_retry_at_admits(
        seed in any::<u64>(),
        period_ms in 1u64..1_000,
        burst in 1u32..5,
        n in 1u32..5,
    ) {
        let quota = Quota::with_period(Duration::from_millis(period_ms)).unwrap().with_burst(burst).unwrap();
        let n = n.min(burst);
        let mut t = KeyedGcra::<u32, 4>::new(quota, seed).when_full(WhenFull::RejectNewKeys);
        for k in 0..4u32 {
            t.acquire(&k, Instant::ZERO, burst).unwrap();
        }
        let r = t.acquire(&99, Instant::ZERO, n).unwrap_err();
        let at = r.retry_at.unwrap();
        prop_assert!(t.acquire(&99, at, n).is_ok());
    }
}

// ---------------------------------------------------------------------------
// Token bucket, windows
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn token_bucket_retry_at_is_exact(
        capacity in 1u32..20, refill in 1u32..20, period in 1u64..5_000_000_000,
        steps in prop::collection::vec((0u64..3_000_000_000, 0u32..25), 1..40),
    ) {
        let mut b = TokenBucket::new(capacity, refill, Duration::from_nanos(period)).unwrap();
        let mut now = 0u64;
        for (dt, n) in steps {
            now += dt;
            let t = Instant::from_nanos(now);
            let before = b;
            if let Err(r) = b.acquire(t, n) && !r.is_never() {
                let at = r.retry_at.unwrap();
                prop_assert!(at > t);
                let mut again = before;
                prop_assert!(again.acquire(at, n).is_ok());
                let mut early = before;
                prop_assert!(early.acquire(Instant::from_nanos(at.as_nanos() - 1), n).is_err());
            }
        }
    }

    #[test]
    fn sliding_window_retry_at_admits_and_is_not_early(
        limit in 1u32..20, window in 10u64..5_000_000_000,
        steps in prop::collection::vec((0u64..1_000_000_000, 0u32..25), 1..60),
    ) {
        let mut w = SlidingWindow::<7>::new(limit, Duration::from_nanos(window)).unwrap();
        let mut now = 0u64;
        for (dt, n) in steps {
            now += dt;
            let t = Instant::from_nanos(now);
            let before = w;
            if let Err(r) = w.acquire(t, n) && !r.is_never() {
                let at = r.retry_at.unwrap();
                prop_assert!(at > t);
                let mut again = before;
                prop_assert!(again.acquire(at, n).is_ok());
                let mut early = before;
                prop_assert!(early.acquire(Instant::from_nanos(at.as_nanos() - 1), n).is_err());
            }
        }
    }

    #[test]
    fn fixed_window_retry_at_is_exact(
        limit in 1u32..20, window in 1u64..5_000_000_000,
        steps in prop::collection::vec((0u64..1_000_000_000, 0u32..25), 1..60),
    ) {
        let mut w = FixedWindow::new(limit, Duration::from_nanos(window)).unwrap();
        let mut now = 0u64;
        for (dt, n) in steps {
            now += dt;
            let t = Instant::from_nanos(now);
            let before = w;
            if let Err(r) = w.acquire(t, n) && !r.is_never() {
                let at = r.retry_at.unwrap();
                let mut again = before;
                prop_assert!(again.acquire(at, n).is_ok());
                let mut early = before;
                prop_assert!(early.acquire(Instant::from_nanos(at.as_nanos() - 1), n).is_err());
            }
        }
    }
}

/// Extreme inputs never panic.
#[test]
fn rate_limiters_at_the_end_of_the_clock_do_not_panic() {
    let near = [u64::MAX, u64::MAX - 1, u64::MAX - 1_000_000_000];
    for &n in &near {
        let t = Instant::from_nanos(n);
        let mut b = TokenBucket::new(u32::MAX, u32::MAX, Duration::MAX).unwrap();
        let _ = b.acquire(t, u32::MAX);
        let _ = b.acquire(t, 1);
        let mut f = FixedWindow::new(u32::MAX, Duration::MAX).unwrap();
        let _ = f.acquire(t, u32::MAX);
        let _ = f.acquire(t, u32::MAX);
        let mut s = SlidingWindow::<3>::new(u32::MAX, Duration::MAX).unwrap();
        let _ = s.acquire(t, u32::MAX);
        let _ = s.acquire(t, 1);
        let q = Quota::with_period(Duration::from_nanos(1))
            .unwrap()
            .with_burst(u32::MAX)
            .unwrap();
        let mut g = Gcra::new(q);
        let _ = g.acquire(t, u32::MAX);
        let _ = g.available(t);
        let _ = g.reserve(t, 5, Duration::MAX);
        let mut k = KeyedGcra::<u8, 2>::new(q, 1).when_full(WhenFull::RejectNewKeys);
        for key in 0..5 {
            let _ = k.acquire(&key, t, u32::MAX);
        }
    }
}

// ---------------------------------------------------------------------------
// Breaker
// ---------------------------------------------------------------------------

/// A time window over a span not divisible by B: calls recorded at the
/// very start of a bucket are gone at exactly start + window.
#[test]
fn time_window_boundary() {
    let mut w = TimeWindow::<4>::new(Duration::from_secs(4)).unwrap();
    w.record(
        secs(1),
        Sample {
            failed: true,
            slow: false,
        },
    );
    assert_eq!(w.totals(Instant::from_nanos(4_999_999_999)).calls, 1);
    assert_eq!(w.totals(secs(5)).calls, 0);
}

#[test]
fn half_open_admits_exactly_the_configured_probes_across_expiry_and_cancel() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .half_open_probes(3)
        .success_threshold(1)
        .open_wait(Duration::from_secs(1))
        .probe_lease(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    b.open(secs(0));
    let p1 = b.acquire(secs(1)).unwrap();
    let p2 = b.acquire(secs(1)).unwrap();
    let p3 = b.acquire(secs(1)).unwrap();
    assert!(b.acquire(secs(1)).is_err());
    b.record(secs(1), p1, Outcome::Failure);
    b.record(secs(1), p2, Outcome::Failure);
    assert_eq!(b.state(), BState::HalfOpen);
    assert!(b.acquire(secs(1)).is_err());
    let _ = p3;
    // lease expiry: p3 fails, 3 failures > 3 - 1: reopens
    b.on_deadline(secs(2));
    assert_eq!(b.state(), BState::Open);
}

#[test]
fn rate_rule_round_judged_once_all_reported() {
    let config = BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .half_open_probes(2)
        .half_open_rule(HalfOpenRule::RateThresholds)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    b.open(secs(0));
    let p1 = b.acquire(secs(1)).unwrap();
    let p2 = b.acquire(secs(1)).unwrap();
    b.record(secs(1), p1, Outcome::Success);
    assert_eq!(b.state(), BState::HalfOpen);
    b.record(secs(1), p2, Outcome::Failure); // 1 of 2 = 50% >= 50%: reopens
    assert_eq!(b.state(), BState::Open);
    assert_eq!(
        b.acquire(secs(1)).unwrap_err().reason,
        RejectReason::BreakerOpen
    );
}

#[test]
fn open_wait_backoff_saturates_without_panic() {
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .open_wait_backoff(u32::MAX, Duration::MAX)
        .probe_lease(Duration::MAX)
        .build()
        .unwrap();
    let mut b = CircuitBreaker::new(config, CountWindow::<10>::new());
    b.open(Instant::from_nanos(u64::MAX - 10));
    let _ = b.acquire(Instant::MAX);
    assert_eq!(config.open_wait_for(300), Duration::from_nanos(u64::MAX));
    let _ = w_unused();
}

fn w_unused() -> impl Window {
    CountWindow::<1, 1>::new()
}

// ---------------------------------------------------------------------------
// Sliding counts: a window not divisible by its bucket count
// ---------------------------------------------------------------------------

/// TimeWindow docs: "a call recorded in the bucket starting at `s` is
/// counted up to `s + window` exclusive". With `window % B != 0` the
/// buckets are `floor(window / B)` long and the window is truncated to
/// `B * floor(window / B)`: a call at t=0 in a 1 s window of 3 buckets is
/// gone 1 ns early, at 999_999_999 ns.
#[test]
fn a_time_window_not_divisible_by_b_keeps_calls_the_whole_window() {
    let mut w = TimeWindow::<3>::new(Duration::from_secs(1)).unwrap();
    w.record(
        Instant::ZERO,
        Sample {
            failed: true,
            slow: false,
        },
    );
    assert_eq!(
        w.totals(Instant::from_nanos(999_999_999)).calls,
        1,
        "a call at t=0 must still count at t = window - 1 ns"
    );
}

/// SlidingWindow docs: "any span covering `B` consecutive buckets (at least
/// `window - window / B` long) holds at most `limit` permits". With a
/// window of 19 ns in 10 buckets the buckets are 1 ns, so `B` buckets
/// span 10 ns, not at least 18: two permits of a limit-1 window are
/// admitted 10 ns apart, inside the 19 ns window (nearly twice the rate).
#[test]
fn a_sliding_window_not_divisible_by_b_admits_at_most_limit_per_window() {
    let mut w = SlidingWindow::<10>::new(1, Duration::from_nanos(19)).unwrap();
    assert!(w.acquire(Instant::ZERO, 1).is_ok());
    let second = w.acquire(Instant::from_nanos(10), 1);
    assert!(
        second.is_err(),
        "limit 1 per 19 ns, yet a second permit 10 ns after the first: {second:?}"
    );
}

/// The realistic size of the same truncation: a limit-1-per-second window
/// of 3 buckets admits a second permit at 999_999_999 ns.
#[test]
fn a_sliding_window_of_one_second_in_three_buckets_is_not_short() {
    let mut w = SlidingWindow::<3>::new(1, Duration::from_secs(1)).unwrap();
    assert!(w.acquire(Instant::ZERO, 1).is_ok());
    assert!(
        w.acquire(Instant::from_nanos(999_999_999), 1).is_err(),
        "two permits within one second of a 1-per-second window"
    );
}

proptest! {
    /// Every machine counting over `SlidingCounts` keeps a sample for its
    /// whole window, whatever the window and its bucket count: the breaker's
    /// time window still counts a call `window - 1` ns after its bucket
    /// began, and a limit-1 sliding window still refuses then (the cut
    /// short window failed both, by up to `window % 7` ns).
    #[test]
    fn sliding_counts_keep_every_sample_the_whole_window(
        window in 7u64..5_000_000_000_000,
        at in 0u64..1_000_000_000_000,
    ) {
        // The window slides a bucket at a time: a sample counts from the
        // start of its bucket (`⌈window / 7⌉` ns long) for the whole window.
        let began = at - at % window.div_ceil(7);
        let window = Duration::from_nanos(window);
        let mut calls = TimeWindow::<7>::new(window).unwrap();
        let mut permits = SlidingWindow::<7>::new(1, window).unwrap();
        let start = Instant::from_nanos(at);
        calls.record(start, Sample { failed: true, slow: false });
        prop_assert!(permits.acquire(start, 1).is_ok());
        let last = Instant::from_nanos(began) + window - Duration::from_nanos(1);
        prop_assert_eq!(calls.totals(last).calls, 1);
        let refused = permits.acquire(last, 1);
        prop_assert!(refused.is_err());
        // and `retry_at` is not before the window has passed
        let retry_at = refused.unwrap_err().retry_at.unwrap();
        prop_assert!(retry_at > last);
        prop_assert!(permits.acquire(retry_at, 1).is_ok());
    }
}

// ---------------------------------------------------------------------------
// Cache and toggle: extreme inputs
// ---------------------------------------------------------------------------

#[test]
fn cache_extreme_times_do_not_panic_and_keep_boundaries() {
    use failsafe_core::cache::{Cache, CacheConfig, Lookup};
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(10))
        .time_to_idle(Duration::MAX)
        .max_stale(Duration::MAX)
        .refresh_ahead(Duration::from_secs(2))
        .negative_ttl(Duration::MAX)
        .build()
        .unwrap();
    let mut c: Cache<u8, u8, 2> = Cache::new(config, 1);
    let late = Instant::from_nanos(u64::MAX - 1);
    c.insert(1, 1, late);
    let _ = c.lookup(&1, Instant::MAX);
    assert!(c.insert_failure(2, late));
    let _ = c.lookup(&2, Instant::MAX);
    let _ = c.begin_load(3, Instant::MAX, Instant::MAX);
    let _ = c.purge_expired(Instant::MAX);
    // an ordinary timeline: fresh strictly before ttl, stale from it
    let mut c: Cache<u8, u8, 2> = Cache::new(config, 1);
    c.insert(1, 1, secs(0));
    assert!(matches!(
        c.lookup(&1, Instant::from_nanos(9_999_999_999)),
        Lookup::Fresh { .. }
    ));
    assert!(matches!(c.lookup(&1, secs(10)), Lookup::Stale { .. }));
}

#[test]
fn toggle_window_boundaries_are_exact() {
    use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, Window};
    static W: [Window; 1] = [match Window::new(Instant::from_nanos(5), Instant::MAX) {
        Ok(w) => w,
        Err(_) => panic!(),
    }];
    let t: FlagTable<1> =
        FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").windows(&W)]).unwrap());
    let a = t.flag("a").unwrap();
    assert!(!t.decide(Instant::from_nanos(4), a, &()).is_enabled());
    assert!(t.decide(Instant::from_nanos(5), a, &()).is_enabled());
    assert!(
        t.decide(Instant::from_nanos(u64::MAX - 1), a, &())
            .is_enabled()
    );
    // the clock stepping back does not flip it back
    assert!(t.decide(Instant::from_nanos(1), a, &()).is_enabled());
    t.on_deadline(Instant::MAX);
    assert_eq!(t.next_deadline(), None);
}

// ---------------------------------------------------------------------------
// The end of the clock, on every admission machine
// ---------------------------------------------------------------------------

/// A wait that saturates at `Instant::MAX` never ends (breaker docs: "`Some(
/// Instant::MAX)` (never) if the wait ends past the end of the clock"). Fail
/// fast once admitted a probe at `Instant::MAX` when its interval saturated
/// there. The rule, over the admission contract: nothing is due at
/// `Instant::MAX`, and a rejection that says "never" (`retry_at` of
/// `Instant::MAX`), or "unknown" while nothing is due, still holds at the
/// last instant when no call has ended meanwhile.
fn the_end_of_the_clock_never_comes<M: failsafe_core::admission::Admission<Key = ()>>(
    m: &mut M,
    at: Instant,
) -> Result<(), TestCaseError> {
    use failsafe_core::admission::{Call, Entry};
    prop_assert_ne!(
        m.next_deadline(),
        Some(Instant::MAX),
        "due at the end of the clock"
    );
    let never = match m.enter(&Call::at(at), None) {
        Entry::Rejected(r) => match r.retry_at {
            Some(Instant::MAX) => true,
            None => m.next_deadline().is_none(),
            Some(_) => false,
        },
        Entry::Admitted(_) | Entry::Pending { .. } => false,
    };
    if never {
        let last = m.enter(&Call::at(Instant::MAX), None);
        prop_assert!(
            matches!(last, Entry::Rejected(_)),
            "rejected for good at {at:?}, admitted at the end of the clock"
        );
    }
    Ok(())
}

fn near_end() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..u64::MAX,
        (0u64..1_000_000).prop_map(|back| u64::MAX - back)
    ]
}

proptest! {
    #[test]
    fn nothing_is_due_at_the_end_of_the_clock(
        opened in near_end(),
        asked in near_end(),
        wait in near_end(),
    ) {
        let (opened, wait) = (Instant::from_nanos(opened), Duration::from_nanos(wait.max(1)));
        let asked = Instant::from_nanos(asked).max(opened);

        let config = BreakerConfig::builder()
            .consecutive_failures(1)
            .open_wait(wait)
            .build()
            .unwrap();
        let mut breaker = CircuitBreaker::new(config, failsafe_core::breaker::NoWindow);
        breaker.force_open(opened);
        the_end_of_the_clock_never_comes(&mut breaker, asked)?;
        let mut breaker = CircuitBreaker::new(config, failsafe_core::breaker::NoWindow);
        let permit = breaker.acquire(opened).unwrap();
        breaker.record(opened, permit, Outcome::Failure);
        the_end_of_the_clock_never_comes(&mut breaker, asked)?;

        let config = FailFastConfig::builder().probe_interval(wait).build().unwrap();
        let mut ff = FailFast::new(config);
        ff.open(opened);
        the_end_of_the_clock_never_comes(&mut ff, asked)?;

        // (a period over 2^62 ns is refused: `Quota::with_period` docs)
        if let Ok(quota) = Quota::with_period(wait) {
            let mut throttle = failsafe_core::rate::Throttle::new(Gcra::new(quota));
            the_end_of_the_clock_never_comes(&mut throttle, opened)?;
            the_end_of_the_clock_never_comes(&mut throttle, asked)?;
        }
    }
}
