//! Properties of retries and budgets over arbitrary configurations.

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::retry::{
    BackoffKind, Decision, FailureKind, GiveUp, Jitter, NoBudget, RatioBudget, Retry, RetryAfter,
    RetryBudget, RetryConfig, TokenQuota, Verdict,
};
use failsafe_core::rng::Xorshift64;
use proptest::prelude::*;

fn dur(max_ms: u64) -> impl Strategy<Value = Duration> {
    (0..=max_ms * 1_000_000).prop_map(Duration::from_nanos)
}

static INTERVALS: [Duration; 3] = [
    Duration::from_millis(7),
    Duration::from_millis(70),
    Duration::from_millis(700),
];

fn backoff() -> impl Strategy<Value = BackoffKind> {
    prop_oneof![
        dur(10_000).prop_map(BackoffKind::Constant),
        Just(BackoffKind::Intervals(&INTERVALS)),
        (dur(1_000), dur(1_000), dur(60_000)).prop_map(|(initial, step, max)| {
            BackoffKind::Linear {
                initial,
                step,
                max: max.max(initial),
            }
        }),
        (dur(1_000), 1.0f64..10.0, dur(60_000)).prop_map(|(initial, multiplier, max)| {
            BackoffKind::Exponential {
                initial,
                multiplier,
                max: max.max(initial),
            }
        }),
        (dur(1_000), dur(1_000), dur(60_000)).prop_map(|(initial, factor, max)| {
            BackoffKind::Fibonacci {
                initial,
                factor,
                max: max.max(initial),
            }
        }),
        (1u64..1_000_000_000, dur(60_000)).prop_map(|(base, max)| {
            BackoffKind::DecorrelatedJitter {
                base: Duration::from_nanos(base),
                max: max.max(Duration::from_nanos(base)),
            }
        }),
        (1u64..1_000_000_000, dur(60_000)).prop_map(|(m, max)| BackoffKind::SoftExponential {
            median_first: Duration::from_nanos(m),
            max: max.max(Duration::from_nanos(m))
        }),
    ]
}

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        (0.0f64..=1.0).prop_map(Jitter::Proportional)
    ]
}

/// The largest delay a shape's base delay can reach (its cap), and the
/// largest any jitter can add.
fn ceiling(backoff: BackoffKind, jitter: Jitter) -> Duration {
    let cap = match backoff {
        BackoffKind::Constant(d) => d,
        BackoffKind::Intervals(list) => *list.iter().max().unwrap(),
        BackoffKind::Linear { max, .. }
        | BackoffKind::Exponential { max, .. }
        | BackoffKind::Fibonacci { max, .. }
        | BackoffKind::DecorrelatedJitter { max, .. }
        | BackoffKind::SoftExponential { max, .. } => max,
        _ => unreachable!(),
    };
    match jitter {
        Jitter::Proportional(r) => {
            cap.saturating_add(Duration::from_nanos((cap.as_nanos() as f64 * r) as u64))
        }
        _ => cap,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Attempts never exceed the limit, no retry starts past max_elapsed or
    /// at/after the deadline, and every delay lies within its documented bounds.
    #[test]
    fn limits_and_bounds_hold_for_any_config(
        backoff in backoff(),
        jitter in jitter(),
        max_attempts in prop::option::of(1u32..20),
        max_elapsed in prop::option::of(1u64..120_000),
        deadline in prop::option::of(1u64..120_000),
        hints in prop::collection::vec(prop::option::of(0u64..20_000), 40),
        attempt_ms in 0u64..500,
        seed in any::<u64>(),
    ) {
        let mut builder = RetryConfig::builder().backoff(backoff).jitter(jitter).retry_after(RetryAfter::Clamp { max_extra: Duration::from_secs(5) });
        builder = match max_attempts { Some(n) => builder.max_attempts(n), None => builder.unlimited_attempts() };
        if let Some(ms) = max_elapsed { builder = builder.max_elapsed(Duration::from_millis(ms)); }
        let config = builder.build().unwrap();
        let start = Instant::from_secs(1);
        let mut r = Retry::new(config, start);
        if let Some(ms) = deadline { r = r.with_deadline(start + Duration::from_millis(ms)); }
        let mut rng = Xorshift64::new(seed);
        let mut now = start;
        for hint in hints.iter().copied() {
            let attempt = match r.start_attempt(now, &mut NoBudget) {
                Ok(n) => n,
                Err(reason) => { prop_assert_eq!(reason, GiveUp::Deadline); break; }
            };
            if let Some(max) = max_attempts { prop_assert!(attempt <= max); }
            now = now + Duration::from_millis(attempt_ms);
            let verdict = Verdict::Retry { kind: FailureKind::Error, retry_after: hint.map(Duration::from_millis) };
            match r.on_result(now, verdict, &mut rng, &mut NoBudget) {
                Decision::RetryAt { at, delay } => {
                    prop_assert_eq!(at, now + delay);
                    let limit = ceiling(backoff, jitter) + Duration::from_secs(5);
                    prop_assert!(delay <= limit, "{delay:?} > {limit:?}");
                    if let Some(ms) = max_elapsed { prop_assert!(at - start <= Duration::from_millis(ms)); }
                    if let Some(ms) = deadline { prop_assert!(at < start + Duration::from_millis(ms)); }
                    if let Some(max) = max_attempts { prop_assert!(attempt < max); }
                    now = at;
                }
                Decision::GiveUp(_) => break,
                Decision::Done => prop_assert!(false, "no success was reported"),
            }
        }
    }

    /// Whenever a ratio budget grants a retry, the retries in its window
    /// (this one included) do not exceed `ratio * calls + floor` counted over
    /// the same buckets. (Later, calls may slide out before the retries they
    /// paid for; the bound is on what is granted.) And it grants whenever
    /// the bound leaves room: it is not stingier than promised.
    #[test]
    fn ratio_budget_never_exceeds_its_ratio(
        ratio in 0.0f64..1.0,
        floor_per_sec in 0u32..5,
        events in prop::collection::vec((0u64..700, any::<bool>()), 1..400),
    ) {
        const B: u64 = 10;
        let bucket_ms = 1_000; // a 10 s window in 10 buckets
        let mut budget = RatioBudget::<10>::new(Duration::from_secs(10), ratio, floor_per_sec).unwrap();
        let mut t = 0u64;
        let mut calls: Vec<u64> = Vec::new();
        let mut retries: Vec<u64> = Vec::new();
        for (gap, is_call) in events {
            t += gap;
            let now = Instant::from_millis(t);
            if is_call {
                budget.on_call(now);
                calls.push(t);
                continue;
            }
            let head = t / bucket_ms;
            let live = |v: &Vec<u64>| v.iter().filter(|at| *at / bucket_ms + B > head).count() as u64;
            let allowed = (live(&calls) as f64 * ratio).floor() as u64 + u64::from(floor_per_sec) * 10;
            let room = allowed.saturating_sub(live(&retries));
            let granted = budget.try_retry(now, FailureKind::Error);
            if granted {
                retries.push(t);
                prop_assert!(live(&retries) <= allowed, "{} retries > {allowed}", live(&retries));
            } else {
                // The budget keeps the ratio in parts per million, rounded down:
                // it may refuse one retry the exact ratio would allow.
                prop_assert!(room <= 1, "refused with room for {room} retries");
            }
        }
    }

    /// A token quota never goes negative or above capacity, whatever happens.
    #[test]
    fn token_quota_stays_within_capacity(ops in prop::collection::vec((0u8..4, 0u8..3), 1..500)) {
        let mut q = TokenQuota::AWS_STANDARD;
        let kinds = [FailureKind::Error, FailureKind::Timeout, FailureKind::Throttled];
        for (op, k) in ops {
            let kind = kinds[k as usize];
            let before = q.tokens();
            match op {
                0 => { let ok = q.try_retry(Instant::ZERO, kind); prop_assert!(ok || q.tokens() == before); }
                1 => q.on_success(Instant::ZERO, None),
                2 => q.on_success(Instant::ZERO, Some(kind)),
                _ => q.on_failure(Instant::ZERO, kind),
            }
            prop_assert!(q.tokens() <= 500);
        }
    }
}
