//! A retry wrapped around each pattern (issue 7, item 7): every reason the
//! library rejects or times out with has its documented retry verdict
//! ([`Verdict::for_rejection`]), and the retry honours it. Virtual time: a
//! sleep jumps the clock, so the instants asserted are exact.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, NoBudget, RetryAfter, RetryConfig};
use failsafe_core::rng::Xorshift64;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, RejectReason, Rejected};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, Error, FailFastPolicy, RateLimiterPolicy,
    RetryContext, RetryOnFailsafeError, StdLock, retry_blocking,
};

/// The clock every handle and the retry share; sleeping jumps it.
#[derive(Debug, Default)]
struct Virtual(Cell<Instant>);

impl Clock for &Virtual {
    fn now(&self) -> Instant {
        self.0.get()
    }
}

impl failsafe_driver::BlockingRuntime for &Virtual {
    fn block_until(&self, at: Instant) {
        self.0.set(self.0.get().max(at));
    }
}

/// Parking jumps the clock too (the bulkhead's blocking wait).
impl failsafe_driver::Park for &Virtual {
    fn park_until(&self, deadline: Option<Instant>) {
        if let Some(at) = deadline {
            self.0.set(self.0.get().max(at));
        }
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Four attempts, 100 ms constant backoff, no jitter, hints trusted up to a
/// minute: a retry that honours `retry_at` waits exactly until it.
fn config(retry_after: RetryAfter) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .retry_after(retry_after)
        .build()
        .unwrap()
}

const TRUST: RetryAfter = RetryAfter::Trust {
    max: Duration::from_secs(60),
};

/// Runs `op` under the retry on `clock`; returns the result and the instant
/// of each attempt.
fn run<T>(
    clock: &Virtual,
    config: RetryConfig,
    deadline: Deadline,
    mut op: impl FnMut() -> Result<T, Error<&'static str>>,
) -> (
    Result<T, failsafe_driver::RetryError<Error<&'static str>>>,
    Vec<Instant>,
) {
    let attempts = RefCell::new(Vec::new());
    let ctx = RetryContext {
        config,
        deadline,
        budget: &StdLock::new(NoBudget),
        rng: Xorshift64::new(7),
        observer: (),
    };
    let result = retry_blocking(&clock, ctx, &RetryOnFailsafeError, |_| {
        attempts.borrow_mut().push(clock.0.get());
        op()
    });
    (result, attempts.into_inner())
}

/// A breaker on `clock` that opened at t=0 (one failure), for `open_wait`.
fn opened_at_zero(
    clock: &Virtual,
    open_wait: Duration,
) -> CircuitBreakerPolicy<NoWindow, &Virtual> {
    let breaker = CircuitBreakerPolicy::with_runtime(
        BreakerConfig::builder()
            .consecutive_failures(1)
            .open_wait(open_wait)
            .build()
            .unwrap(),
        NoWindow,
        clock,
    );
    let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    breaker
}

#[test]
fn a_retry_around_an_open_breaker_waits_for_its_retry_at() {
    let clock = Virtual::default();
    // the dependency fails once, at t=0, and the breaker opens until 30 s
    let breaker = opened_at_zero(&clock, Duration::from_secs(30));
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        breaker.call_blocking(|| Ok::<_, &'static str>("up"))
    });
    assert_eq!(result, Ok("up"));
    // not four attempts burnt in microseconds: the second is the probe at 30 s
    assert_eq!(attempts, vec![ms(0), ms(30_000)]);
}

#[test]
fn a_clamped_hint_still_never_retries_before_the_backoff_nor_after_the_cap() {
    // AWS's rule: the hint clamped to [computed, computed + 5 s]
    let clock = Virtual::default();
    let breaker = opened_at_zero(&clock, Duration::from_secs(30));
    let clamp = RetryAfter::Clamp {
        max_extra: Duration::from_secs(5),
    };
    let (result, attempts) = run(&clock, config(clamp), Deadline::NEVER, || {
        breaker.call_blocking(|| Ok::<_, &'static str>("up"))
    });
    // each wait is 100 ms + 5 s: the breaker is still open at 5.1, 10.2, 15.3 s
    assert_eq!(attempts, vec![ms(0), ms(5_100), ms(10_200), ms(15_300)]);
    let gave_up = result.unwrap_err();
    assert_eq!(gave_up.reason, GiveUp::Attempts);
}

#[test]
fn a_retry_around_a_rate_limiter_retries_exactly_when_a_permit_is_due() {
    let clock = Virtual::default();
    // one permit per 250 ms, burst 1; no waiting inside the limiter
    let limiter: RateLimiterPolicy<&Virtual> = RateLimiterPolicy::with_runtime(
        Quota::with_period(Duration::from_millis(250)).unwrap(),
        &clock,
    )
    .with_max_wait(Duration::ZERO);
    limiter.try_acquire().unwrap().finish(Outcome::Success);
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        limiter.call_blocking(|| Ok::<_, &'static str>(1))
    });
    assert_eq!(result, Ok(1));
    assert_eq!(attempts, vec![ms(0), ms(250)]);
}

#[test]
fn a_retry_around_a_full_bulkhead_retries_on_the_backoff() {
    let clock = Virtual::default();
    let bulkhead: BulkheadPolicy<4, FixedLimit, &Virtual> = BulkheadPolicy::with_runtime(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::ZERO)
            .build()
            .unwrap(),
        &clock,
    );
    let mut held = Some(bulkhead.try_acquire().unwrap()); // another call holds the one slot
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        let r = bulkhead.call_blocking(|| Ok::<_, &'static str>("in"));
        if let Err(Error::Rejected(rejected)) = &r {
            // full: when a slot frees is unknown
            assert_eq!(
                (rejected.reason, rejected.retry_at),
                (RejectReason::BulkheadFull, None)
            );
            held = None; // the other call ends meanwhile
        }
        r
    });
    assert!(held.is_none());
    assert_eq!(result, Ok("in"));
    assert_eq!(attempts, vec![ms(0), ms(100)], "one backoff, then admitted");
}

#[test]
fn a_retry_around_a_fail_fast_open_until_healthy_retries_on_the_backoff() {
    let clock = Virtual::default();
    let fail_fast = FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, &clock);
    fail_fast.report_unhealthy();
    let mut calls = 0;
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        calls += 1;
        if calls == 3 {
            fail_fast.report_healthy(); // a health check says it is back
        }
        fail_fast.call_blocking(|| Ok::<_, &'static str>("up"))
    });
    assert_eq!(result, Ok("up"));
    assert_eq!(attempts, vec![ms(0), ms(100), ms(200)]);
}

#[test]
fn a_retry_around_a_fail_fast_whose_probe_is_out_retries_on_the_backoff() {
    let clock = Virtual::default();
    let config_ff = FailFastConfig::builder()
        .probe_interval(Duration::from_secs(10))
        .build()
        .unwrap();
    let fail_fast = FailFastPolicy::with_runtime(config_ff, &clock);
    fail_fast.open(); // at 0; the next probe is due at 10 s
    clock.0.set(ms(10_000));
    let mut probe = Some(fail_fast.try_acquire().unwrap()); // the probe, out
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        let r = fail_fast.call_blocking(|| Ok::<_, &'static str>("up"));
        if let Err(Error::Rejected(rejected)) = &r {
            // not the next probe at 20 s: the probe out may close it sooner
            assert_eq!(rejected.retry_at, None);
            if let Some(p) = probe.take() {
                p.finish(Outcome::Success); // ... and it does
            }
        }
        r
    });
    assert_eq!(result, Ok("up"));
    assert_eq!(attempts, vec![ms(10_000), ms(10_100)]);
}

#[test]
fn a_retry_around_a_half_open_breaker_with_its_probe_out_retries_on_the_backoff() {
    let clock = Virtual::default();
    let breaker = opened_at_zero(&clock, Duration::from_secs(1)); // open until 1 s
    clock.0.set(ms(1_000));
    let mut probe = Some(breaker.try_acquire().unwrap()); // half-open: the probe, out
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        let r = breaker.call_blocking(|| Ok::<_, &'static str>("up"));
        if let Err(Error::Rejected(rejected)) = &r {
            assert_eq!(
                (rejected.reason, rejected.retry_at),
                (RejectReason::BreakerHalfOpenFull, None)
            );
            if let Some(p) = probe.take() {
                p.finish(Outcome::Success); // the probe reports: closed
            }
        }
        r
    });
    assert_eq!(result, Ok("up"));
    assert_eq!(attempts, vec![ms(1_000), ms(1_100)]);
}

#[test]
fn a_rejection_without_retry_at_retries_on_the_backoff() {
    // every reason whose earliest instant is unknown (the real machines
    // above show where each arises), as an operation reports it
    for reason in [
        RejectReason::BulkheadFull,
        RejectReason::BulkheadQueueFull,
        RejectReason::BulkheadWaitExpired,
        RejectReason::BreakerHalfOpenFull,
        RejectReason::BreakerForcedOpen,
        RejectReason::FailFastOpen,
    ] {
        let clock = Virtual::default();
        let mut left = 2;
        let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
            if left == 0 {
                return Ok(());
            }
            left -= 1;
            Err(Error::Rejected(Rejected::new(reason, None)))
        });
        assert_eq!(result, Ok(()), "{reason:?}");
        assert_eq!(attempts, vec![ms(0), ms(100), ms(200)], "{reason:?}");
    }
}

#[test]
fn never_and_a_deadline_too_short_are_not_retried() {
    for rejected in [
        Rejected::never(RejectReason::RateInsufficientCapacity),
        Rejected::never(RejectReason::RateLimited),
        Rejected::new(RejectReason::DeadlineTooShort, None),
    ] {
        let clock = Virtual::default();
        let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
            Err::<(), _>(Error::Rejected(rejected))
        });
        let gave_up = result.unwrap_err();
        assert_eq!(gave_up.reason, GiveUp::NotRetryable, "{rejected:?}");
        assert_eq!(attempts, vec![ms(0)], "{rejected:?}");
    }
}

#[test]
fn a_hint_past_the_callers_deadline_ends_the_retry_at_once() {
    let clock = Virtual::default();
    let open_until = Rejected::new(RejectReason::BreakerOpen, Some(ms(30_000)));
    let (result, attempts) = run(&clock, config(TRUST), Deadline::at(ms(10_000)), || {
        Err::<(), _>(Error::Rejected(open_until))
    });
    assert_eq!(result.unwrap_err().reason, GiveUp::Deadline);
    assert_eq!(
        attempts,
        vec![ms(0)],
        "no attempt is wasted before the deadline"
    );
}

#[test]
fn a_timeout_is_retried_on_the_backoff_as_a_timeout() {
    let clock = Virtual::default();
    let mut left = 1;
    let (result, attempts) = run(&clock, config(TRUST), Deadline::NEVER, || {
        if left == 0 {
            return Ok(());
        }
        left -= 1;
        Err(Error::Timeout(Deadline::at(ms(0))))
    });
    assert_eq!(result, Ok(()));
    assert_eq!(attempts, vec![ms(0), ms(100)]);
}

/// A blocking pipeline cannot cut an attempt: one that returns after its
/// attempt deadline is judged a timeout and retried (its result dropped),
/// unless the attempt timeout is soft; the call's own deadline still binds
/// a soft one.
#[test]
fn a_blocking_pipeline_drops_late_results_unless_the_attempt_timeout_is_soft() {
    use failsafe_core::timeout::{TimeoutConfig, TimeoutMode};
    use failsafe_driver::Pipeline;
    let run = |mode: TimeoutMode, overall: Option<u64>| {
        let clock = Virtual::default();
        let retry = RetryConfig::builder()
            .max_attempts(2)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let per_try = TimeoutConfig::new(Duration::from_millis(100))
            .unwrap()
            .mode(mode);
        let mut pipeline = Pipeline::new(&clock).retry(retry).attempt_timeout(per_try);
        if let Some(ms) = overall {
            pipeline = pipeline.timeout(Duration::from_millis(ms));
        }
        let mut started = Vec::new();
        let result = pipeline.call_blocking(|attempt| {
            let now = clock.0.get();
            started.push((attempt.number, now));
            clock.0.set(ms(now.as_millis() + 150)); // 150 ms of work
            Ok::<_, &str>(attempt.number)
        });
        // An error must be a timeout: its deadline.
        let result = result.map_err(|e| match e.error {
            Error::Timeout(d) => Ok(d),
            other => Err(format!("{other:?}")),
        });
        (result, started, clock.0.get())
    };
    let (result, started, end) = run(TimeoutMode::Cancel, None);
    // The second attempt, started at 160 ms, ran past its 260 ms deadline.
    assert_eq!(result, Err(Ok(Deadline::at(ms(260)))));
    assert_eq!(started, [(1, ms(0)), (2, ms(160))]);
    assert_eq!(end, ms(310));
    let (result, started, _) = run(TimeoutMode::Soft, None);
    assert_eq!(result, Ok(1));
    assert_eq!(started, [(1, ms(0))]);
    let (result, started, _) = run(TimeoutMode::Soft, Some(120));
    assert_eq!(
        result,
        Err(Ok(Deadline::at(ms(120)))),
        "the call's deadline binds"
    );
    assert_eq!(started, [(1, ms(0))]);
}
