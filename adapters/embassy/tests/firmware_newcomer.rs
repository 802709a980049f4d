//! A firmware newcomer's probes (a fresh helper's review, 2026-12-01; all
//! pass), on the host with embassy-time's std driver
//! (never waited on): the core machines driven by hand with injected
//! instants near the end of the clock, the `retry_at` rule on each, the
//! embassy clock conversions at the end of their range, and configuration
//! errors naming the field.

use core::time::Duration;

use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::{FixedWindow, Gcra, Quota, SlidingWindow, TokenBucket};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, Rejected};
use failsafe_embassy::{EmbassyClock, WakeAt};

const fn before_end(nanos: u64) -> Instant {
    Instant::from_nanos(u64::MAX - nanos)
}

/// The one `retry_at` rule: `Some(t)`, `t < MAX`, is the earliest instant
/// the request is admitted (refused at `t - 1 ns`, admitted at `t`);
/// `Some(MAX)` is never (refused even at `MAX`).
fn check_rule<M: Clone>(
    what: &str,
    machine: &M,
    rejected: Rejected,
    mut ask: impl FnMut(&mut M, Instant) -> Result<(), Rejected>,
) {
    match rejected.retry_at {
        None => {}
        Some(Instant::MAX) => {
            let mut m = machine.clone();
            assert!(
                ask(&mut m, Instant::MAX).is_err(),
                "{what}: retry_at says never, yet admitted at Instant::MAX"
            );
        }
        Some(t) => {
            let mut early = machine.clone();
            let before = Instant::from_nanos(t.as_nanos() - 1);
            assert!(
                ask(&mut early, before).is_err(),
                "{what}: admitted 1 ns before retry_at {t}"
            );
            let mut on_time = machine.clone();
            assert!(
                ask(&mut on_time, t).is_ok(),
                "{what}: refused at its retry_at {t}"
            );
        }
    }
}

#[test]
fn gcra_near_the_end_of_the_clock_keeps_the_retry_at_rule() {
    let quota = failsafe_core::checked(Quota::per_second(10));
    for gap in [
        0,
        1,
        50_000_000,
        99_999_999,
        100_000_000,
        100_000_001,
        250_000_000,
    ] {
        let now = before_end(gap);
        let mut g = Gcra::new(quota);
        // documented: a booking within one period of the end is never
        let Ok(()) = g.acquire(now, 1) else {
            assert!(g.acquire(now, 1).unwrap_err().is_never());
            continue;
        };
        let r = g.acquire(now, 1).unwrap_err();
        check_rule(&format!("gcra, {gap} ns before the end"), &g, r, |m, t| {
            m.acquire(t, 1)
        });
    }
}

#[test]
fn token_bucket_near_the_end_of_the_clock_keeps_the_retry_at_rule() {
    let bucket = failsafe_core::checked(
        TokenBucket::builder()
            .capacity(1)
            .refill(1)
            .period(Duration::from_millis(100))
            .build(),
    );
    for gap in [
        0,
        1,
        50_000_000,
        99_999_999,
        100_000_000,
        100_000_001,
        250_000_000,
    ] {
        let now = before_end(gap);
        let mut b = bucket;
        b.acquire(now, 1).unwrap();
        let r = b.acquire(now, 1).unwrap_err();
        check_rule(
            &format!("token bucket, {gap} ns before the end"),
            &b,
            r,
            |m, t| m.acquire(t, 1),
        );
    }
}

#[test]
fn fixed_window_near_the_end_of_the_clock_keeps_the_retry_at_rule() {
    let window = failsafe_core::checked(FixedWindow::new(1, Duration::from_millis(100)));
    for gap in [
        0,
        1,
        50_000_000,
        99_999_999,
        100_000_000,
        100_000_001,
        250_000_000,
    ] {
        let now = before_end(gap);
        let mut w = window;
        w.acquire(now, 1).unwrap();
        let r = w.acquire(now, 1).unwrap_err();
        check_rule(
            &format!("fixed window, {gap} ns before the end"),
            &w,
            r,
            |m, t| m.acquire(t, 1),
        );
    }
}

#[test]
fn sliding_window_near_the_end_of_the_clock_keeps_the_retry_at_rule() {
    let window: SlidingWindow<4> =
        failsafe_core::checked(SlidingWindow::new(1, Duration::from_millis(100)));
    for gap in [
        0,
        1,
        50_000_000,
        99_999_999,
        100_000_000,
        100_000_001,
        250_000_000,
    ] {
        let now = before_end(gap);
        let mut w = window;
        w.acquire(now, 1).unwrap();
        let r = w.acquire(now, 1).unwrap_err();
        check_rule(
            &format!("sliding window, {gap} ns before the end"),
            &w,
            r,
            |m, t| m.acquire(t, 1),
        );
    }
}

/// A bulkhead waiter queued near the end of the clock with a max wait that
/// ends past it: it is not expired before the end of the clock.
#[test]
fn bulkhead_wait_past_the_end_of_the_clock_is_not_expired_early() {
    let config = failsafe_core::checked(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(1))
            .build(),
    );
    let now = before_end(500_000_000);
    let mut b: Bulkhead<2> = Bulkhead::new(config);
    let held = b.try_acquire(now).unwrap();
    let mut ticket = failsafe_core::bulkhead::Ticket::default();
    let first = b.poll_acquire(now, &mut ticket, None);
    assert!(first.is_pending(), "{first:?}");
    let later = before_end(1);
    let again = b.poll_acquire(later, &mut ticket, None);
    assert!(again.is_pending(), "expired before its max wait: {again:?}");
    b.release(later, held, Outcome::Success);
    let granted = b.poll_acquire(later, &mut ticket, None);
    assert!(granted.is_ready(), "{granted:?}");
}

// ---------------------------------------------------------------- the embassy clock

/// `to_embassy` rounds up and `to_core` of it is never earlier, up to the
/// end of the core clock; `Instant::MAX` (never) is embassy's `MAX`, which
/// `wake_at()` never returns.
#[test]
fn embassy_clock_conversions_at_the_end_of_the_range() {
    for nanos in [0, 1, 999, 1_000, 1_001, u64::MAX - 1_000, u64::MAX - 1] {
        let at = Instant::from_nanos(nanos);
        let e = EmbassyClock::to_embassy(at);
        assert!(EmbassyClock::to_core(e) >= at, "{nanos}");
        assert_ne!(
            e,
            embassy_time::Instant::MAX,
            "{nanos}: a real instant became never"
        );
    }
    assert_eq!(
        EmbassyClock::to_embassy(Instant::MAX),
        embassy_time::Instant::MAX
    );
    assert_eq!(Instant::MAX.wake_at(), None);
    assert_eq!(Deadline::NEVER.wake_at(), None);
    // an embassy instant past the core clock's range saturates to its end
    let far = embassy_time::Instant::MAX;
    assert_eq!(EmbassyClock::to_core(far), Instant::MAX);
}

// ---------------------------------------------------------------- configuration errors

/// `checked` on an `Err` at run time panics naming the field (in a
/// `const` it is a build error naming it).
#[test]
fn checked_names_the_field() {
    let r = std::panic::catch_unwind(|| {
        failsafe_embassy::checked(
            failsafe_embassy::BreakerConfig::builder()
                .failure_rate_threshold(1.5)
                .build(),
        )
    });
    let msg = r.unwrap_err();
    let msg = msg
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| msg.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(msg.contains("failure_rate_threshold"), "{msg}");
}

/// The errors name the setter a firmware engineer called.
#[test]
fn config_errors_name_the_setter() {
    use failsafe_embassy::{BreakerConfig, RetryConfig, TimeoutConfig, TokenQuota};
    let e = BreakerConfig::builder()
        .consecutive_failures(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "consecutive_failures");
    let e = BreakerConfig::builder()
        .half_open_probes(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "half_open_probes");
    let e = RetryConfig::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(e.field, "max_attempts");
    let e = TimeoutConfig::new(Duration::ZERO).unwrap_err();
    assert_eq!(e.field, "timeout");
    let e = TokenQuota::builder().capacity(0).build().unwrap_err();
    assert_eq!(e.field, "capacity");
    let e = BulkheadConfig::builder()
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "max_concurrent");
    let e = Quota::builder()
        .per_second(10)
        .burst(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "burst");
    let e = FailFastConfig::builder()
        .consecutive_failures(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "consecutive_failures");
}
