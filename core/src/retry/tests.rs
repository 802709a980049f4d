//! Retry timelines: exact delays for each backoff, bounds for each jitter,
//! every give-up reason, the budgets.

extern crate std;
use std::vec::Vec;

use core::time::Duration;

use super::*;
use crate::rng::Xorshift64;
use crate::{FnObserver, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The delays a config produces for `n` consecutive failures (no time spent in attempts).
fn delays(config: RetryConfig, n: usize, seed: u64) -> Vec<Duration> {
    let mut rng = Xorshift64::new(seed);
    let mut r = Retry::new(config, Instant::ZERO);
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    for _ in 0..n {
        r.start_attempt(now, &mut NoBudget).unwrap();
        match r.on_result(now, Verdict::retry(), &mut rng, &mut NoBudget) {
            Decision::RetryAt { at, delay } => {
                out.push(delay);
                now = at;
            }
            other => panic!("{other:?}"),
        }
    }
    out
}

fn plain(backoff: BackoffKind) -> RetryConfig {
    RetryConfig::builder()
        .unlimited_attempts()
        .backoff(backoff)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[test]
fn constant_linear_exponential_fibonacci_and_intervals_are_exact() {
    assert_eq!(
        delays(plain(BackoffKind::Constant(ms(50))), 3, 1),
        [ms(50); 3]
    );
    static LIST: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(30)];
    assert_eq!(
        delays(plain(BackoffKind::Intervals(&LIST)), 5, 1),
        [ms(10), ms(30), ms(10), ms(30), ms(10)]
    );
    let linear = BackoffKind::Linear {
        initial: ms(100),
        step: ms(50),
        max: ms(220),
    };
    assert_eq!(
        delays(plain(linear), 5, 1),
        [ms(100), ms(150), ms(200), ms(220), ms(220)]
    );
    let exp = BackoffKind::Exponential {
        initial: ms(100),
        multiplier: 2.0,
        max: ms(1_000),
    };
    assert_eq!(
        delays(plain(exp), 6, 1),
        [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
    );
    let exp = BackoffKind::Exponential {
        initial: ms(100),
        multiplier: 1.5,
        max: ms(1_000),
    };
    assert_eq!(delays(plain(exp), 3, 1), [ms(100), ms(150), ms(225)]);
    let fib = BackoffKind::Fibonacci {
        initial: ms(10),
        factor: Duration::ZERO,
        max: ms(75),
    };
    assert_eq!(
        delays(plain(fib), 7, 1),
        [ms(10), ms(10), ms(20), ms(30), ms(50), ms(75), ms(75)]
    );
}

#[test]
fn decorrelated_jitter_stays_between_base_and_three_times_the_previous() {
    let config = plain(BackoffKind::DecorrelatedJitter {
        base: ms(100),
        max: ms(5_000),
    });
    let seq = delays(config, 50, 42);
    let mut previous = ms(100);
    for d in &seq {
        assert!(
            *d >= ms(100) && *d <= (previous * 3).min(ms(5_000)),
            "{d:?} after {previous:?}"
        );
        previous = *d;
    }
    assert_eq!(seq, delays(config, 50, 42), "deterministic for a seed");
    assert_ne!(seq, delays(config, 50, 43), "and random across seeds");
}

#[cfg(feature = "soft-exponential")]
#[test]
fn soft_exponential_grows_smoothly_and_respects_its_cap() {
    let config = plain(BackoffKind::SoftExponential {
        median_first: ms(100),
        max: ms(60_000),
    });
    // Over many seeds the first delay's median sits near `median_first`.
    let mut firsts: Vec<Duration> = (0..401).map(|seed| delays(config, 1, seed)[0]).collect();
    firsts.sort();
    let median = firsts[200];
    assert!(
        median > ms(70) && median < ms(140),
        "median first delay {median:?}"
    );
    // Later delays grow roughly exponentially, and the cap holds.
    let seq = delays(config, 30, 5);
    assert!(seq[8] > seq[2] * 8, "{seq:?}");
    assert!(seq.iter().all(|d| *d <= ms(60_000)));
    assert_eq!(*seq.last().unwrap(), ms(60_000));
}

#[test]
fn every_jitter_stays_within_its_bounds_and_is_seeded() {
    let base = ms(1_000);
    let cases = [
        (Jitter::None, ms(1_000), ms(1_000)),
        (Jitter::Full, ms(0), ms(1_000)),
        (Jitter::Equal, ms(500), ms(1_000)),
        (Jitter::Proportional(0.25), ms(750), ms(1_250)),
    ];
    for (jitter, low, high) in cases {
        let config = RetryConfig::builder()
            .unlimited_attempts()
            .backoff(BackoffKind::Constant(base))
            .jitter(jitter)
            .build()
            .unwrap();
        let seq = delays(config, 200, 7);
        assert!(seq.iter().all(|d| *d >= low && *d <= high), "{jitter:?}");
        assert_eq!(seq, delays(config, 200, 7));
        if jitter != Jitter::None {
            let spread = seq
                .iter()
                .max()
                .unwrap()
                .saturating_sub(*seq.iter().min().unwrap());
            assert!(
                spread > (high - low) / 2,
                "{jitter:?} barely varies: {spread:?}"
            );
        }
    }
}

#[test]
fn a_flaky_operation_succeeds_on_the_third_attempt() {
    let mut events = Vec::new();
    let config = plain(BackoffKind::Constant(ms(100)));
    let mut r = Retry::new(config, Instant::ZERO).observed(FnObserver(|e| events.push(e)));
    let mut rng = Xorshift64::new(1);
    let t = Instant::from_millis;
    assert_eq!(r.start_attempt(t(0), &mut NoBudget), Ok(1));
    assert_eq!(
        r.on_result(t(10), Verdict::retry(), &mut rng, &mut NoBudget),
        Decision::RetryAt {
            at: t(110),
            delay: ms(100)
        }
    );
    assert_eq!(r.next_deadline(), Some(t(110)));
    assert_eq!(r.start_attempt(t(110), &mut NoBudget), Ok(2));
    assert_eq!(r.next_deadline(), None);
    assert_eq!(
        r.on_result(t(120), Verdict::retry(), &mut rng, &mut NoBudget),
        Decision::RetryAt {
            at: t(220),
            delay: ms(100)
        }
    );
    assert_eq!(r.start_attempt(t(220), &mut NoBudget), Ok(3));
    assert_eq!(
        r.on_result(t(230), Verdict::Success, &mut rng, &mut NoBudget),
        Decision::Done
    );
    assert_eq!(events.len(), 5);
    assert_eq!(
        events[4],
        RetryEvent::Succeeded {
            attempts: 3,
            at: t(230),
            took: ms(10),
            elapsed: ms(230),
        }
    );
    assert!(matches!(
        events[2],
        RetryEvent::AttemptFailed { attempt: 2, took, .. } if took == ms(10)
    ));
    assert_eq!(
        events[1],
        RetryEvent::RetryScheduled {
            attempt: 2,
            retry_at: t(110),
            delay: ms(100)
        }
    );
}

/// Runs failures until the machine gives up; returns (reason, attempts).
fn give_up(mut r: Retry, verdict: Verdict, budget: &mut impl RetryBudget) -> (GiveUp, u32) {
    let mut rng = Xorshift64::new(3);
    let mut now = r.started();
    loop {
        match r.start_attempt(now, budget) {
            Ok(_) => {}
            Err(reason) => return (reason, r.attempts()),
        }
        now = now + ms(1);
        match r.on_result(now, verdict, &mut rng, budget) {
            Decision::RetryAt { at, .. } => now = at,
            Decision::GiveUp(reason) => return (reason, r.attempts()),
            Decision::Done => unreachable!(),
        }
    }
}

#[test]
fn every_give_up_reason() {
    let base = RetryConfig::builder()
        .backoff(BackoffKind::Constant(ms(100)))
        .jitter(Jitter::None);
    let t0 = Instant::from_secs(1);
    // attempts
    let r = Retry::new(base.max_attempts(4).build().unwrap(), t0);
    assert_eq!(
        give_up(r, Verdict::retry(), &mut NoBudget),
        (GiveUp::Attempts, 4)
    );
    // elapsed: retries start at +101, +202, +303; +404 would pass 350
    let r = Retry::new(
        base.unlimited_attempts()
            .max_elapsed(ms(350))
            .build()
            .unwrap(),
        t0,
    );
    assert_eq!(
        give_up(r, Verdict::retry(), &mut NoBudget),
        (GiveUp::Elapsed, 4)
    );
    // deadline: a retry at +303 would start at the deadline itself: not scheduled
    let r = Retry::new(base.unlimited_attempts().build().unwrap(), t0).with_deadline(t0 + ms(303));
    assert_eq!(
        give_up(r, Verdict::retry(), &mut NoBudget),
        (GiveUp::Deadline, 3)
    );
    // min_remaining: each retry must leave 150 ms before the deadline at +500:
    // +303 leaves 197 ms (attempt 4 runs), +404 would leave 96 ms
    let r = Retry::new(
        base.unlimited_attempts()
            .min_remaining(ms(150))
            .build()
            .unwrap(),
        t0,
    )
    .with_deadline(t0 + ms(500));
    assert_eq!(
        give_up(r, Verdict::retry(), &mut NoBudget),
        (GiveUp::Deadline, 4)
    );
    // non-retryable and abort stop at once
    let r = Retry::new(base.build().unwrap(), t0);
    assert_eq!(
        give_up(r, Verdict::DoNotRetry, &mut NoBudget),
        (GiveUp::NotRetryable, 1)
    );
    let r = Retry::new(base.build().unwrap(), t0);
    assert_eq!(
        give_up(r, Verdict::Abort, &mut NoBudget),
        (GiveUp::Aborted, 1)
    );
    // budget
    let mut quota = TokenQuota::new(12, 5, 10, 5, 1).unwrap();
    let r = Retry::new(base.unlimited_attempts().build().unwrap(), t0);
    assert_eq!(
        give_up(r, Verdict::retry(), &mut quota),
        (GiveUp::Budget, 3)
    );
    assert_eq!(quota.tokens(), 2);
    // a deadline already past refuses even the first attempt
    let mut r = Retry::new(base.build().unwrap(), t0).with_deadline(t0);
    assert_eq!(r.start_attempt(t0, &mut NoBudget), Err(GiveUp::Deadline));
}

#[test]
fn retry_after_hints_are_clamped_trusted_or_ignored() {
    let hinted = |policy: RetryAfter, hint: Duration| {
        let config = RetryConfig::builder()
            .backoff(BackoffKind::Constant(ms(100)))
            .jitter(Jitter::None)
            .retry_after(policy)
            .build()
            .unwrap();
        let mut r = Retry::new(config, Instant::ZERO);
        r.start_attempt(Instant::ZERO, &mut NoBudget).unwrap();
        let verdict = Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(hint),
        };
        match r.on_result(
            Instant::ZERO,
            verdict,
            &mut Xorshift64::new(1),
            &mut NoBudget,
        ) {
            Decision::RetryAt { delay, .. } => delay,
            other => panic!("{other:?}"),
        }
    };
    let clamp = RetryAfter::Clamp {
        max_extra: Duration::from_secs(5),
    };
    assert_eq!(
        hinted(clamp, ms(2_000)),
        ms(2_000),
        "within [100 ms, 5.1 s]"
    );
    assert_eq!(
        hinted(clamp, ms(60_000)),
        ms(5_100),
        "capped at computed + 5 s"
    );
    assert_eq!(
        hinted(clamp, ms(10)),
        ms(100),
        "never earlier than computed"
    );
    assert_eq!(
        hinted(RetryAfter::Trust { max: ms(30_000) }, ms(10)),
        ms(10)
    );
    assert_eq!(
        hinted(RetryAfter::Trust { max: ms(30_000) }, ms(60_000)),
        ms(30_000)
    );
    assert_eq!(hinted(RetryAfter::Ignore, ms(60_000)), ms(100));
}

#[test]
fn a_clock_stepping_back_never_shortens_or_breaks_anything() {
    let config = plain(BackoffKind::Constant(ms(100)));
    let mut r = Retry::new(config, Instant::from_secs(10));
    let mut rng = Xorshift64::new(1);
    r.start_attempt(Instant::from_secs(10), &mut NoBudget)
        .unwrap();
    // the result arrives "before" the attempt started
    let d = r.on_result(
        Instant::from_secs(1),
        Verdict::retry(),
        &mut rng,
        &mut NoBudget,
    );
    assert_eq!(
        d,
        Decision::RetryAt {
            at: Instant::from_secs(10) + ms(100),
            delay: ms(100)
        }
    );
}

#[test]
fn ratio_budget_allows_its_ratio_plus_floor_and_forgets_old_calls() {
    let mut b = RatioBudget::<10>::new(Duration::from_secs(10), 0.2, 1).unwrap();
    let t = Instant::from_secs;
    for _ in 0..50 {
        b.on_call(t(0));
    }
    // 20% of 50 = 10, plus a floor of 1/s over 10 s = 10
    let allowed = (0..100)
        .take_while(|_| b.try_retry(t(1), FailureKind::Error))
        .count();
    assert_eq!(allowed, 20);
    // ten seconds later the calls and the retries have slid out: only the floor
    assert_eq!(b.remaining(t(11)), 10);
}

#[test]
fn token_quota_costs_and_refunds() {
    let mut q = TokenQuota::AWS_2026;
    let t = Instant::ZERO;
    assert!(q.try_retry(t, FailureKind::Error));
    assert_eq!(q.tokens(), 486);
    assert!(q.try_retry(t, FailureKind::Throttled));
    assert_eq!(q.tokens(), 481);
    q.on_success(t, None);
    assert_eq!(q.tokens(), 482);
    for _ in 0..100 {
        q.on_success(t, None);
    }
    assert_eq!(q.tokens(), 500, "never above capacity");
    while q.try_retry(t, FailureKind::Error) {}
    assert_eq!(q.tokens(), 500 % 14);
}

#[test]
fn grpc_throttle_follows_proposal_a6() {
    let mut th = GrpcThrottle::new(100, 0.5).unwrap();
    let t = Instant::ZERO;
    for _ in 0..49 {
        th.on_failure(t, FailureKind::Error);
    }
    assert!(th.try_retry(t, FailureKind::Error), "51 > 50");
    th.on_failure(t, FailureKind::Error);
    assert!(
        !th.try_retry(t, FailureKind::Error),
        "50 is not more than half"
    );
    th.on_success(t, None);
    assert_eq!(th.tokens_milli(), 50_500);
    assert!(th.try_retry(t, FailureKind::Error));
    for _ in 0..1_000 {
        th.on_failure(t, FailureKind::Error);
    }
    assert_eq!(th.tokens_milli(), 0, "never below zero");
}

/// Each rejection's message says the range the value must be in: a jitter
/// ratio may be zero (a fraction in `[0, 1]`, not a ratio in `(0, 1]`), an
/// infinite multiplier is too large (not below its minimum), a budget's
/// ratio runs to 1000.
#[test]
fn a_rejected_retry_value_says_its_own_range() {
    use std::string::ToString;
    let message = |e: ConfigError| e.to_string();
    let jitter = RetryConfig::builder()
        .jitter(Jitter::Proportional(1.5))
        .build()
        .unwrap_err();
    assert_eq!(
        message(jitter),
        "invalid `jitter`: must be a fraction in [0, 1]"
    );
    assert!(
        RetryConfig::builder()
            .jitter(Jitter::Proportional(0.0))
            .build()
            .is_ok()
    );
    let infinite = RetryConfig::builder()
        .backoff(BackoffKind::Exponential {
            initial: ms(10),
            multiplier: f64::INFINITY,
            max: ms(50),
        })
        .build()
        .unwrap_err();
    assert_eq!(
        message(infinite),
        "invalid `backoff.multiplier`: is too large"
    );
    let budget = |ratio| RatioBudget::<10>::new(Duration::from_secs(10), ratio, 1).unwrap_err();
    assert_eq!(message(budget(1000.5)), "invalid `ratio`: is too large");
    assert_eq!(
        message(budget(-1.0)),
        "invalid `ratio`: must not be below its minimum"
    );
}

#[test]
fn invalid_retry_configs_name_their_field() {
    let cases = [
        (
            RetryConfig::builder().max_attempts(0).build(),
            "max_attempts",
        ),
        (
            RetryConfig::builder().max_elapsed(Duration::ZERO).build(),
            "max_elapsed",
        ),
        (
            RetryConfig::builder()
                .backoff(BackoffKind::Intervals(&[]))
                .build(),
            "backoff.intervals",
        ),
        (
            RetryConfig::builder()
                .backoff(BackoffKind::Linear {
                    initial: ms(10),
                    step: ms(1),
                    max: ms(5),
                })
                .build(),
            "backoff.max",
        ),
        (
            RetryConfig::builder()
                .backoff(BackoffKind::Exponential {
                    initial: ms(10),
                    multiplier: f64::NAN,
                    max: ms(50),
                })
                .build(),
            "backoff.multiplier",
        ),
        (
            RetryConfig::builder()
                .backoff(BackoffKind::DecorrelatedJitter {
                    base: ms(0),
                    max: ms(50),
                })
                .build(),
            "backoff.base",
        ),
        (
            RetryConfig::builder()
                .jitter(Jitter::Proportional(-0.1))
                .build(),
            "jitter",
        ),
    ];
    for (result, field) in cases {
        assert_eq!(result.map_err(|e| e.field), Err(field));
    }
}

#[test]
fn huge_retry_counts_and_durations_never_overflow() {
    let mut rng = Xorshift64::new(1);
    let shapes = [
        BackoffKind::Constant(Duration::MAX),
        BackoffKind::Linear {
            initial: Duration::MAX,
            step: Duration::MAX,
            max: Duration::MAX,
        },
        BackoffKind::Exponential {
            initial: ms(1),
            multiplier: 1e300,
            max: Duration::MAX,
        },
        BackoffKind::Fibonacci {
            initial: Duration::MAX,
            factor: Duration::MAX,
            max: Duration::MAX,
        },
        BackoffKind::DecorrelatedJitter {
            base: Duration::MAX,
            max: Duration::MAX,
        },
        #[cfg(feature = "soft-exponential")]
        BackoffKind::SoftExponential {
            median_first: Duration::MAX,
            max: Duration::MAX,
        },
    ];
    for shape in shapes {
        let mut state = shape.start();
        for retry in [1, 2, 1_000, u32::MAX] {
            let d = state.delay(retry, &mut rng);
            assert!(d <= Duration::from_nanos(u64::MAX));
            let _ = Jitter::Proportional(1.0).apply(d, &mut rng);
            let _ = Jitter::Equal.apply(d, &mut rng);
            let _ = Jitter::Full.apply(d, &mut rng);
        }
    }
}

// ------------------------------------------- issue 7, items 2 and 4: floats and Python parity

/// An `Rng` that always draws the same word: `below(b)` is then `0` for
/// `Fixed(0)` and `b - 1` for `Fixed(u64::MAX)`, the two ends of a jitter.
struct Fixed(u64);

impl crate::rng::Rng for Fixed {
    fn next_u64(&mut self) -> u64 {
        self.0
    }
}

const fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

/// The delays of `kind` for retries `1..=n`, on one state, no jitter.
fn shape(kind: BackoffKind, n: u32) -> Vec<Duration> {
    let mut state = kind.start();
    let mut rng = Xorshift64::new(1);
    (1..=n).map(|retry| state.delay(retry, &mut rng)).collect()
}

#[cfg(feature = "soft-exponential")]
#[test]
fn soft_exponential_stays_at_its_cap_once_two_to_the_t_overflows() {
    // Issue 7 item 2: retry 1025 draws t in [1024, 1025), where 2^t overflows
    // f64 to +inf; retry 1026 used to compute inf - inf = NaN, clamped to 0.
    // The true growth there is above 2^1022 * (2^(2^-43) - 1) * 1 s / 1.4,
    // far above 30 s, so both delays (and every later one) are the cap.
    let kind = BackoffKind::SoftExponential {
        median_first: ms(1_000),
        max: ms(30_000),
    };
    for seed in [0, 1, 2, 7, 42, 1_000, u64::MAX] {
        let mut state = kind.start();
        let mut rng = Xorshift64::new(seed);
        let all: Vec<Duration> = (1..=1_100).map(|n| state.delay(n, &mut rng)).collect();
        assert_eq!(all[1_024], ms(30_000), "retry 1025, seed {seed}");
        assert_eq!(all[1_025], ms(30_000), "retry 1026, seed {seed}");
        assert!(all[1_024..].iter().all(|d| *d == ms(30_000)), "seed {seed}");
        assert!(all.iter().all(|d| *d <= ms(30_000)), "seed {seed}");
    }
    // The same through a Retry, as an unlimited retry loop sees it.
    let seq = delays(plain(kind), 1_030, 3);
    assert_eq!(&seq[1_024..], [ms(30_000); 6]);
}

#[cfg(feature = "soft-exponential")]
#[test]
fn soft_exponential_called_out_of_order_starts_afresh_within_its_cap() {
    // Retry 2000 (t >= 1999: +inf, the cap), then retry 1 on the same state:
    // t in [0, 1) gives 2^t * tanh(sqrt(4t)) < 2, so the delay is below
    // 2 / 1.4 * 1 s = 1.43 s, not a negative growth clamped to zero or a NaN.
    let mut state = BackoffKind::SoftExponential {
        median_first: ms(1_000),
        max: ms(30_000),
    }
    .start();
    let mut rng = Xorshift64::new(5);
    assert_eq!(state.delay(2_000, &mut rng), ms(30_000));
    let first = state.delay(1, &mut rng);
    assert!(first > Duration::ZERO && first < ms(1_429), "{first:?}");
    assert_eq!(state.delay(u32::MAX, &mut rng), ms(30_000));
}

#[test]
fn python_constant_backoff() {
    // Python: const(delay_secs=0.25): 250 ms every time.
    assert_eq!(shape(BackoffKind::Constant(ms(250)), 5), [ms(250); 5]);
}

#[test]
fn python_interval_backoff_cycles_its_list() {
    // Python: interval(delay_secs=[0.1, 0.5, 2]): the list, then again from
    // its start: 100, 500, 2000, 100, 500, 2000, 100 ms.
    static LIST: [Duration; 3] = [
        Duration::from_millis(100),
        Duration::from_millis(500),
        Duration::from_millis(2_000),
    ];
    assert_eq!(
        shape(BackoffKind::Intervals(&LIST), 7),
        [
            ms(100),
            ms(500),
            ms(2_000),
            ms(100),
            ms(500),
            ms(2_000),
            ms(100)
        ]
    );
}

#[test]
fn python_linear_backoff() {
    // Python: linear(min_delay_secs=0.1, additive_secs=0.25, max_delay_secs=1):
    // 100 + 250 (n - 1): 100, 350, 600, 850, 1100 > 1000 so 1000, then 1000.
    let kind = BackoffKind::Linear {
        initial: ms(100),
        step: ms(250),
        max: ms(1_000),
    };
    assert_eq!(
        shape(kind, 6),
        [ms(100), ms(350), ms(600), ms(850), ms(1_000), ms(1_000)]
    );
    // No max (None in Python): 1 s + 1 s * (2^32 - 2) at retry u32::MAX =
    // 4_294_967_295 s, which fits u64 nanoseconds (4.29e18 < 1.8e19).
    let mut state = BackoffKind::Linear {
        initial: ms(1_000),
        step: ms(1_000),
        max: Duration::MAX,
    }
    .start();
    assert_eq!(
        state.delay(u32::MAX, &mut Xorshift64::new(1)),
        Duration::from_secs(4_294_967_295)
    );
}

#[test]
fn python_exponential_backoff() {
    // Python: expo(min_delay_secs=0.05, base=3, max_delay_secs=2):
    // 50 * 3^(n - 1): 50, 150, 450, 1350, 4050 > 2000 so 2000, then 2000.
    let kind = BackoffKind::Exponential {
        initial: ms(50),
        multiplier: 3.0,
        max: ms(2_000),
    };
    assert_eq!(
        shape(kind, 6),
        [ms(50), ms(150), ms(450), ms(1_350), ms(2_000), ms(2_000)]
    );
    // A fractional base: expo(min=0.1, base=1.5): 100, 150, 225, 337.5 ms.
    let kind = BackoffKind::Exponential {
        initial: ms(100),
        multiplier: 1.5,
        max: Duration::MAX,
    };
    assert_eq!(
        shape(kind, 4),
        [ms(100), ms(150), ms(225), Duration::from_micros(337_500)]
    );
}

#[test]
fn python_fibonacci_backoff() {
    // Issue 7 item 4. Python: fibo(min_delay_secs=0.05, factor_secs=0.02,
    // max_delay_secs=1): 50, 50 + 20 = 70, 50 + 70 = 120, 70 + 120 = 190,
    // 120 + 190 = 310, 190 + 310 = 500, 310 + 500 = 810, 500 + 810 = 1310 >
    // 1000 so 1000, 810 + 1310 = 2120 > 1000 so 1000.
    let kind = BackoffKind::Fibonacci {
        initial: ms(50),
        factor: ms(20),
        max: ms(1_000),
    };
    assert_eq!(
        shape(kind, 9),
        [
            ms(50),
            ms(70),
            ms(120),
            ms(190),
            ms(310),
            ms(500),
            ms(810),
            ms(1_000),
            ms(1_000)
        ]
    );
    // min 0, factor 10 ms: 0, 10, 0 + 10 = 10, 10 + 10 = 20, 10 + 20 = 30, 50.
    let kind = BackoffKind::Fibonacci {
        initial: Duration::ZERO,
        factor: ms(10),
        max: Duration::MAX,
    };
    assert_eq!(
        shape(kind, 6),
        [ms(0), ms(10), ms(10), ms(20), ms(30), ms(50)]
    );
    // factor 0 is the classic unit * (1, 1, 2, 3, 5, 8).
    let kind = BackoffKind::Fibonacci {
        initial: ms(3),
        factor: Duration::ZERO,
        max: Duration::MAX,
    };
    assert_eq!(shape(kind, 6), [ms(3), ms(3), ms(6), ms(9), ms(15), ms(24)]);
}

#[test]
fn deterministic_backoffs_saturate_at_their_overflow_points_and_at_u32_max() {
    let at = |kind: BackoffKind, retry: u32| kind.start().delay(retry, &mut Xorshift64::new(1));
    // Fibonacci 1 ns, 1 ns: term n is F(n + 1) ns (1, 2, 3, 5, ...). F(93) =
    // 12_200_160_415_121_876_738 is the largest Fibonacci number below 2^64,
    // F(94) = 19_740_274_219_868_223_167 is above it: retry 92 is exact,
    // retry 93 and every later one saturate at u64::MAX ns.
    let fib = BackoffKind::Fibonacci {
        initial: ns(1),
        factor: ns(1),
        max: Duration::MAX,
    };
    assert_eq!(at(fib, 92), ns(12_200_160_415_121_876_738));
    assert_eq!(at(fib, 93), ns(u64::MAX));
    assert_eq!(at(fib, u32::MAX), ns(u64::MAX));
    // Exponential 1 ns x2: retry 64 is 2^63 ns, retry 65 would be 2^64 ns.
    let exp = BackoffKind::Exponential {
        initial: ns(1),
        multiplier: 2.0,
        max: Duration::MAX,
    };
    assert_eq!(at(exp, 64), ns(1 << 63));
    assert_eq!(at(exp, 65), ns(u64::MAX));
    assert_eq!(at(exp, u32::MAX), ns(u64::MAX));
    // A multiplier a hair above 1 at retry u32::MAX: (1 + 1e-9)^(2^32 - 2) =
    // e^((2^32 - 2) * 1e-9) = e^4.294967 = e^4 * e^0.294967 = 54.598 * 1.3431
    // = 73.33, computed at once (the old loop took 4 billion steps): 1 s
    // becomes 73.33 s.
    let slow = BackoffKind::Exponential {
        initial: ms(1_000),
        multiplier: 1.0 + 1e-9,
        max: Duration::MAX,
    };
    let d = at(slow, u32::MAX);
    assert!(d > ms(73_300) && d < ms(73_360), "{d:?}");
    // All-zero shapes stay zero at once (they used to loop 4 billion times).
    let zero_fib = BackoffKind::Fibonacci {
        initial: Duration::ZERO,
        factor: Duration::ZERO,
        max: ms(1),
    };
    assert_eq!(at(zero_fib, u32::MAX), Duration::ZERO);
    let zero_exp = BackoffKind::Exponential {
        initial: Duration::ZERO,
        multiplier: 2.0,
        max: ms(1),
    };
    assert_eq!(at(zero_exp, u32::MAX), Duration::ZERO);
    // Linear 1 ns steps of u64::MAX / 2 ns: retry 3 is 1 + 2 * (2^63 - 1) =
    // 2^64 - 1 = u64::MAX exactly; retry 4 saturates there.
    let lin = BackoffKind::Linear {
        initial: ns(1),
        step: ns(u64::MAX / 2),
        max: Duration::MAX,
    };
    assert_eq!(at(lin, 3), ns(u64::MAX));
    assert_eq!(at(lin, u32::MAX), ns(u64::MAX));
    // Intervals at u32::MAX: index (2^32 - 2) % 3; 2^32 = 4^16 = 1 (mod 3), so
    // the index is (1 - 2) mod 3 = 2: the third entry.
    static LIST: [Duration; 3] = [ns(1), ns(2), ns(3)];
    assert_eq!(at(BackoffKind::Intervals(&LIST), u32::MAX), ns(3));
}

#[test]
fn jitter_ends_are_exact() {
    let (low, high) = (&mut Fixed(0), &mut Fixed(u64::MAX));
    let d = ns(1_001);
    assert_eq!(Jitter::Full.apply(d, low), ns(0));
    assert_eq!(Jitter::Full.apply(d, high), ns(1_001));
    // 1001 / 2 = 500 (rounded down).
    assert_eq!(Jitter::Equal.apply(d, low), ns(500));
    assert_eq!(Jitter::Equal.apply(d, high), ns(1_001));
    // floor(1000 * 0.25) = 250: [750, 1250].
    let p = Jitter::Proportional(0.25);
    assert_eq!(p.apply(ns(1_000), low), ns(750));
    assert_eq!(p.apply(ns(1_000), high), ns(1_250));
    // r = 1 - 2^-53 on n = 2^64 - 1: n * r = n - (2048 - 2^-53), so
    // floor(n * r) = n - 2048 and the low end is 2048 ns >= n * (1 - r) =
    // 2047.99...; an f64 product (2^64 - 2^11) put it at 2047, below the bound.
    let r = 1.0 - f64::EPSILON / 2.0;
    let p = Jitter::Proportional(r);
    assert_eq!(p.apply(ns(u64::MAX), low), ns(2_048));
    assert_eq!(p.apply(ns(u64::MAX), high), ns(u64::MAX));
    // An unvalidated ratio is clamped into [0, 1]: NaN is none, 3 is 1.
    assert_eq!(Jitter::Proportional(f64::NAN).apply(d, high), d);
    assert_eq!(Jitter::Proportional(3.0).apply(d, low), ns(0));
    assert_eq!(Jitter::Proportional(-1.0).apply(d, low), d);
}

/// Each budget's builder is its positional constructor with named fields:
/// the same value or the same error over a grid with zeros and extremes.
#[test]
fn budget_builders_give_what_the_positional_constructors_give() {
    let counts = [0, 1, 5, 10, 500, 1_000, 1_001, u32::MAX];
    for &capacity in &counts {
        for &cost in &counts {
            for &refund in &[0, 1, u32::MAX] {
                let built = TokenQuota::builder()
                    .capacity(capacity)
                    .error_cost(cost)
                    .timeout_cost(cost / 2)
                    .throttle_cost(cost.saturating_mul(2))
                    .first_try_refund(refund)
                    .build();
                let positional =
                    TokenQuota::new(capacity, cost, cost / 2, cost.saturating_mul(2), refund);
                assert_eq!(built, positional);
            }
        }
    }
    let ratios = [f64::NAN, -1.0, 0.0, 0.001, 0.1, 0.2, 1.0, 1.5, 1000.0, 1e9];
    let ttls = [
        Duration::ZERO,
        Duration::from_nanos(9),
        Duration::from_nanos(10),
        Duration::from_secs(10),
        Duration::MAX,
    ];
    for &ratio in &ratios {
        for &max_tokens in &counts {
            assert_eq!(
                GrpcThrottle::builder()
                    .max_tokens(max_tokens)
                    .token_ratio(ratio)
                    .build(),
                GrpcThrottle::new(max_tokens, ratio),
            );
        }
        for &ttl in &ttls {
            for &floor in &[0, 10, u32::MAX] {
                assert_eq!(
                    RatioBudget::<10>::builder()
                        .ttl(ttl)
                        .ratio(ratio)
                        .min_per_sec(floor)
                        .build(),
                    RatioBudget::<10>::new(ttl, ratio, floor),
                );
            }
        }
    }
    assert_eq!(TokenQuota::builder().build(), Ok(TokenQuota::AWS_STANDARD));
    let missing = |e: ConfigError| (e.field, e.problem);
    assert_eq!(
        missing(GrpcThrottle::builder().build().unwrap_err()),
        ("max_tokens", Problem::Missing)
    );
    assert_eq!(
        missing(GrpcThrottle::builder().max_tokens(10).build().unwrap_err()),
        ("token_ratio", Problem::Missing)
    );
}

/// A plan over a `const_config!` type (the config read in place at each
/// delay) decides exactly as one over the same config by value, and as the
/// `Retry` machine with the config's own `BackoffState`: same instants, same
/// end, for every shape (decorrelated jitter remembers its previous delay).
#[test]
fn const_config_plans_decide_as_by_value_ones() {
    use crate::plan::{Action, Judged, Plan, PlanEvent};
    use crate::timeout::Deadline;

    const MS: Duration = Duration::from_millis(1);
    const INTERVALS: &[Duration] = &[Duration::from_millis(3), Duration::from_millis(7)];
    const fn config(backoff: BackoffKind, jitter: Jitter) -> RetryConfig {
        crate::checked(
            RetryConfig::builder()
                .max_attempts(6)
                .backoff(backoff)
                .jitter(jitter)
                .build(),
        )
    }
    crate::const_config!(Expo: RetryConfig = config(
        BackoffKind::Exponential { initial: Duration::from_millis(10), multiplier: 2.0, max: Duration::from_millis(100) },
        Jitter::Full,
    ));
    crate::const_config!(Decorrelated: RetryConfig = config(
        BackoffKind::DecorrelatedJitter { base: Duration::from_millis(5), max: Duration::from_millis(500) },
        Jitter::None,
    ));
    crate::const_config!(Cycled: RetryConfig = config(BackoffKind::Intervals(INTERVALS), Jitter::Equal));
    crate::const_config!(Linear: RetryConfig = config(
        BackoffKind::Linear { initial: MS, step: Duration::from_millis(4), max: Duration::from_millis(9) },
        Jitter::Proportional(0.25),
    ));

    /// The instants a plan sleeps until, failing every attempt.
    fn run<C: core::borrow::Borrow<RetryConfig>>(config: C, seed: u64) -> Vec<Action> {
        let mut now = Instant::ZERO;
        let mut plan = RetryPlan::new(
            config,
            Deadline::NEVER,
            &NoBudget,
            Xorshift64::new(seed),
            (),
            now,
        );
        let mut actions = Vec::new();
        for _ in 0..20 {
            let action = plan.poll_action(now);
            actions.push(action);
            match action {
                Action::Start(attempt) => plan.on_event(
                    now,
                    PlanEvent::Ended {
                        attempt: attempt.number,
                        judged: Judged::verdict(Verdict::retry()),
                    },
                ),
                Action::Wait(Some(at)) => {
                    now = at;
                    plan.on_event(now, PlanEvent::Timer);
                }
                _ => break,
            }
        }
        actions
    }
    /// The same, by the machine with its own `BackoffState`.
    fn machine(config: RetryConfig, seed: u64) -> Vec<Instant> {
        let (mut rng, mut now) = (Xorshift64::new(seed), Instant::ZERO);
        let mut retry = Retry::new(config, now);
        let mut at = Vec::new();
        while retry.start_attempt(now, &mut NoBudget).is_ok() {
            match retry.on_result(now, Verdict::retry(), &mut rng, &mut NoBudget) {
                Decision::RetryAt { at: t, .. } => {
                    at.push(t);
                    now = t;
                }
                _ => break,
            }
        }
        at
    }
    let by_ref: &RetryConfig = &Linear::CONFIG;
    for seed in 0..50 {
        for (by_type, by_value) in [
            (run(Expo, seed), run(Expo::CONFIG, seed)),
            (run(Decorrelated, seed), run(Decorrelated::CONFIG, seed)),
            (run(Cycled, seed), run(Cycled::CONFIG, seed)),
            (run(Linear, seed), run(by_ref, seed)),
        ] {
            assert_eq!(by_type, by_value, "seed {seed}");
        }
        for config in [
            Expo::CONFIG,
            Decorrelated::CONFIG,
            Cycled::CONFIG,
            Linear::CONFIG,
        ] {
            let waits: Vec<Instant> = run(config, seed)
                .into_iter()
                .filter_map(|a| match a {
                    Action::Wait(Some(at)) => Some(at),
                    _ => None,
                })
                .collect();
            assert_eq!(waits.len(), 5, "6 attempts, 5 waits");
            assert_eq!(waits, machine(config, seed), "seed {seed}");
        }
    }
}

/// A limit set for one call replaces the config's, whichever is larger, and
/// `None` lifts it; the config's `max_elapsed` and the backoff still apply.
#[test]
fn a_call_limit_replaces_the_configs_both_ways() {
    for config_limit in [1u32, 3, 7] {
        let config = RetryConfig::builder()
            .max_attempts(config_limit)
            .jitter(Jitter::None)
            .build()
            .unwrap();
        for limit in [Some(0), Some(1), Some(2), Some(5), Some(9), None] {
            let mut r = Retry::new(config, Instant::ZERO).with_max_attempts(limit);
            let mut rng = Xorshift64::new(1);
            let mut now = Instant::ZERO;
            let mut attempts = 0;
            let reason = loop {
                if let Err(reason) = r.start_attempt(now, &mut NoBudget) {
                    break reason;
                }
                attempts += 1;
                match r.on_result(now, Verdict::retry(), &mut rng, &mut NoBudget) {
                    Decision::RetryAt { at, .. } => now = at,
                    Decision::GiveUp(reason) => break reason,
                    other => panic!("unexpected {other:?}"),
                }
                if attempts == 20 {
                    break GiveUp::Attempts;
                }
            };
            let expected = limit.map_or(20, |l| l.max(1));
            assert_eq!(
                (attempts, reason),
                (expected, GiveUp::Attempts),
                "config {config_limit}, call limit {limit:?}"
            );
        }
    }
}

/// A plan started over with [`RetryPlan::restart`] decides exactly as the
/// plan [`RetryPlan::new`] makes with the same config, deadline, generator
/// and start, whatever the first call left behind (a call that gave up,
/// one that succeeded, one still sleeping, a run-time attempt limit,
/// results judged without the time).
#[test]
fn a_restarted_plan_decides_as_a_new_one() {
    use crate::plan::{Action, Judged, Plan, PlanEvent};
    use crate::timeout::Deadline;

    /// Drives `plan` from `now`: each attempt fails until `fail` of them
    /// did, then succeeds; at most `steps` actions.
    fn drive<P: Plan>(plan: &mut P, mut now: Instant, fail: u32, steps: usize) -> Vec<Action> {
        let mut actions = Vec::new();
        for _ in 0..steps {
            let action = plan.poll_action(now);
            actions.push(action);
            match action {
                Action::Start(attempt) => {
                    now = now.saturating_add(ms(3));
                    let verdict = if attempt.number <= fail {
                        Verdict::retry()
                    } else {
                        Verdict::Success
                    };
                    let judged = Judged::verdict(verdict);
                    plan.on_event(
                        now,
                        PlanEvent::Ended {
                            attempt: attempt.number,
                            judged,
                        },
                    );
                }
                Action::Wait(Some(at)) => {
                    now = at;
                    plan.on_event(now, PlanEvent::Timer);
                }
                _ => break,
            }
        }
        actions
    }

    let configs = [
        RetryConfig::builder().max_attempts(4).build().unwrap(),
        RetryConfig::builder()
            .max_attempts(6)
            .backoff(BackoffKind::DecorrelatedJitter {
                base: ms(5),
                max: ms(500),
            })
            .max_elapsed(ms(400))
            .build()
            .unwrap(),
        RetryConfig::builder()
            .unlimited_attempts()
            .backoff(BackoffKind::Constant(ms(20)))
            .jitter(Jitter::Equal)
            .build()
            .unwrap(),
    ];
    let t1 = Instant::from_secs(7);
    for config in configs {
        for deadline in [Deadline::NEVER, Deadline::at(t1.saturating_add(ms(90)))] {
            // first calls that end in every way, with a run-time limit
            for (fail, steps, limit) in [(0, 20, None), (2, 3, Some(2)), (10, 40, Some(9))] {
                let restarted = || {
                    let mut plan = RetryPlan::new(
                        config,
                        Deadline::at(Instant::from_secs(1)),
                        &NoBudget,
                        Xorshift64::new(3),
                        (),
                        Instant::ZERO,
                    )
                    .with_max_attempts(limit)
                    .judged_without_time();
                    drive(&mut plan, Instant::ZERO, fail, steps);
                    plan.restart(deadline, Xorshift64::new(11), t1);
                    plan
                };
                let fresh =
                    || RetryPlan::new(config, deadline, &NoBudget, Xorshift64::new(11), (), t1);
                assert_eq!(restarted().needs_end_time(), fresh().needs_end_time());
                for second_fail in [0, 1, 5] {
                    assert_eq!(
                        drive(&mut restarted(), t1, second_fail, 40),
                        drive(&mut fresh(), t1, second_fail, 40),
                        "{config:?} {deadline:?} after ({fail}, {steps}, {limit:?}), then {second_fail} failures"
                    );
                }
            }
        }
    }
}

/// A budget handle that holds no budget ([`BudgetHandle`] answering
/// `None`) counts nothing and grants every retry: its plan decides exactly
/// as one with [`NoBudget`], whatever the budget's type.
#[test]
fn a_handle_holding_no_budget_decides_as_no_budget() {
    use crate::plan::{Action, Judged, Plan, PlanEvent};
    use crate::timeout::Deadline;

    struct Empty;
    impl<G> BudgetHandle<G> for Empty {
        fn with_budget<R>(&self, _: impl FnOnce(&mut G) -> R) -> Option<R> {
            None
        }
    }

    /// Every attempt fails until the plan stops; the actions it took.
    fn drive<P: Plan>(mut plan: P) -> Vec<Action> {
        let mut now = Instant::ZERO;
        let mut actions = Vec::new();
        for _ in 0..40 {
            let action = plan.poll_action(now);
            actions.push(action);
            match action {
                Action::Start(attempt) => {
                    now = now.saturating_add(ms(1));
                    let judged = Judged::verdict(Verdict::retry());
                    let attempt = attempt.number;
                    plan.on_event(now, PlanEvent::Ended { attempt, judged });
                }
                Action::Wait(Some(at)) => {
                    now = at;
                    plan.on_event(now, PlanEvent::Timer);
                }
                _ => break,
            }
        }
        actions
    }

    let config = RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Constant(ms(10)))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let rng = || Xorshift64::new(5);
    let none = drive(RetryPlan::<_, NoBudget, _>::new(
        config,
        Deadline::NEVER,
        &NoBudget,
        rng(),
        (),
        Instant::ZERO,
    ));
    assert_eq!(none.len(), 10, "five attempts, four sleeps, the finish");
    let empty_unlimited = drive(RetryPlan::<_, NoBudget, _>::new(
        config,
        Deadline::NEVER,
        Empty,
        rng(),
        (),
        Instant::ZERO,
    ));
    // A budget type that would refuse the second retry, never reached.
    let empty_quota = drive(RetryPlan::<_, TokenQuota, _>::new(
        config,
        Deadline::NEVER,
        Empty,
        rng(),
        (),
        Instant::ZERO,
    ));
    assert_eq!(empty_unlimited, none);
    assert_eq!(empty_quota, none);
    // The same budget type, held: it refuses.
    let quota = crate::sync::CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
    let held = drive(RetryPlan::<_, TokenQuota, _>::new(
        config,
        Deadline::NEVER,
        &quota,
        rng(),
        (),
        Instant::ZERO,
    ));
    assert_ne!(held, none);
}
