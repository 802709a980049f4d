//! failsafe-tokio as a newcomer uses it from the README and the crate docs
//! (a fresh helper's review, 2026-12-01; every probe passed). Paused time
//! only; nothing sleeps for real.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_tokio::{
    BackoffKind, BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy, Clock,
    CountWindow, Deadline, Error, FailFastConfig, FailFastPolicy, Fallback, FallbackReason, GiveUp,
    Instant, NoWindow, Pipeline, Quota, RateLimiterPolicy, RejectReason, RetryConfig, RetryPolicy,
    State, TimeoutConfig, TimeoutPolicy, TokioClock,
};
use tokio::time::advance;

fn breaker(failures: u32, open_wait: Duration) -> CircuitBreakerPolicy<NoWindow> {
    CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(failures)
            .open_wait(open_wait)
            .build()
            .unwrap(),
        NoWindow,
    )
}

// ---------------------------------------------------------------- README

async fn fetch(deadline: Deadline) -> Result<String, std::io::Error> {
    let _ = deadline;
    Ok("fresh".into())
}

/// The README's first tokio example, verbatim but for `main`.
#[tokio::test(start_paused = true)]
async fn readme_pipeline_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::<100>::new());
    let limiter = RateLimiterPolicy::new(Quota::per_second(100)?);
    let bulkhead: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    let pipeline = Pipeline::new(TokioClock)
        .admit(breaker)
        .admit(limiter)
        .admit(bulkhead)
        .retry(RetryConfig::builder().max_attempts(3).build()?)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(500))?)
        .timeout(Duration::from_secs(2));

    let body = match pipeline.call(|attempt| fetch(attempt.deadline)).await {
        Ok(body) => body,
        Err(e) => match pipeline.falls_back(&e) {
            Some(FallbackReason::Rejected(r)) => format!("busy, retry in {:?}", r.retry_at),
            Some(_) => "cached".into(),
            None => return Err(e.into()),
        },
    };
    assert_eq!(body, "fresh");
    Ok(())
}

// ---------------------------------------------------------------- config errors

#[test]
fn bad_configs_name_their_field() {
    let e = BreakerConfig::builder()
        .failure_rate_threshold(1.5)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "failure_rate_threshold");
    let e = BulkheadConfig::builder()
        .max_concurrent(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "max_concurrent");
    let e = RetryConfig::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(e.field, "max_attempts");
    let e = TimeoutConfig::new(Duration::ZERO).unwrap_err();
    assert_eq!(e.field, "timeout");
    let e = Quota::per_second(0).unwrap_err();
    assert_eq!(e.field, "rate");
    let e = Quota::per_second(10).unwrap().with_burst(0).unwrap_err();
    assert_eq!(e.field, "burst");
    let e = BreakerConfig::builder()
        .minimum_calls(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "minimum_calls");
    let e = BreakerConfig::builder()
        .half_open_probes(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "half_open_probes");
    let e = FailFastConfig::builder()
        .consecutive_failures(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "consecutive_failures");
}

// ---------------------------------------------------------------- breaker

#[tokio::test(start_paused = true)]
async fn breaker_retry_at_is_when_a_probe_is_admitted() {
    let b = breaker(1, Duration::from_secs(10));
    let _ = b.call(|| async { Err::<(), _>("down") }).await;
    assert_eq!(b.state(), State::Open);
    let r = *b
        .call(|| async { Ok::<_, ()>(1) })
        .await
        .unwrap_err()
        .rejected()
        .unwrap();
    assert_eq!(r.reason, RejectReason::BreakerOpen);
    let at = r.retry_at.unwrap();
    assert_eq!(at, Instant::from_secs(10));
    tokio::time::sleep_until(
        tokio::time::Instant::now() + r.retry_after(TokioClock.now()).unwrap(),
    )
    .await;
    assert_eq!(b.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn breaker_dropped_probe_returns_the_probe() {
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    advance(Duration::from_secs(10)).await;
    {
        let fut = b.call(std::future::pending::<Result<(), ()>>);
        let _ = tokio::time::timeout(Duration::from_millis(5), fut).await;
    }
    // the probe went back as Cancelled: another probe is admitted
    assert_eq!(b.call(|| async { Ok::<_, ()>(2) }).await, Ok(2));
}

#[tokio::test(start_paused = true)]
async fn breaker_panicking_closure_returns_the_probe() {
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    advance(Duration::from_secs(10)).await;
    let b2 = b.clone();
    let task = tokio::spawn(async move {
        b2.call(|| -> std::future::Ready<Result<(), ()>> { panic!("boom") })
            .await
    });
    assert!(task.await.is_err());
    assert_eq!(b.call(|| async { Ok::<_, ()>(2) }).await, Ok(2));
    assert_eq!(b.metrics().probes_in_flight, 0);
}

// ---------------------------------------------------------------- bulkhead

#[tokio::test(start_paused = true)]
async fn bulkhead_panicking_closure_returns_slot() {
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let bh2 = bh.clone();
    let task = tokio::spawn(async move {
        bh2.call(|| async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        })
        .await
    });
    assert!(task.await.is_err());
    assert_eq!(bh.in_flight(), 0);
    assert!(bh.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn bulkhead_dropped_waiter_leaves_queue() {
    let bh: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let slot = bh.try_acquire().unwrap();
    {
        let waiter = bh.acquire();
        let r = tokio::time::timeout(Duration::from_millis(10), waiter).await;
        assert!(r.is_err());
    }
    assert_eq!(bh.queued(), 0);
    drop(slot);
    assert_eq!(bh.in_flight(), 0);
    assert!(bh.try_acquire().is_ok());
}

// ---------------------------------------------------------------- rate limiter

#[tokio::test(start_paused = true)]
async fn limiter_retry_at_is_earliest_admission() {
    let limiter =
        RateLimiterPolicy::new(Quota::per_second(10).unwrap()).with_max_wait(Duration::ZERO);
    let _a = limiter.try_acquire().unwrap();
    let r = limiter.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    let at = r.retry_at.unwrap();
    assert_eq!(at, Instant::from_millis(100));
    advance(Duration::from_millis(99)).await;
    assert!(limiter.try_acquire().is_err());
    advance(Duration::from_millis(1)).await;
    assert!(limiter.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn limiter_waits_for_its_turn_then_dropped_waiter_gives_back() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(10).unwrap());
    let _a = limiter.try_acquire().unwrap();
    {
        let w = limiter.acquire();
        let r = tokio::time::timeout(Duration::from_millis(50), w).await;
        assert!(r.is_err(), "still waiting for its turn at 100 ms");
    }
    // booking given back: at 100 ms a caller is admitted
    advance(Duration::from_millis(50)).await;
    assert!(limiter.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn limiter_call_too_long_wait_rejected_with_retry_at() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap())
        .with_max_wait(Duration::from_millis(100));
    assert_eq!(limiter.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    let e = limiter.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
    let r = e.rejected().unwrap();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(r.retry_at, Some(Instant::from_secs(1)));
}

// ---------------------------------------------------------------- retry / timeout / fallback

#[tokio::test(start_paused = true)]
async fn retry_gives_up_after_attempts_with_last_error() {
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(100)))
            .jitter(failsafe_tokio::Jitter::None)
            .build()
            .unwrap(),
    );
    let n = AtomicU32::new(0);
    let start = TokioClock.now();
    let e = retry
        .call(|_| async {
            n.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("down")
        })
        .await
        .unwrap_err();
    assert_eq!(n.load(Ordering::SeqCst), 3);
    assert_eq!(e.reason, GiveUp::Attempts);
    assert_eq!(e.attempts, 3);
    assert_eq!(e.last, Some("down"));
    assert_eq!(
        TokioClock.now().saturating_duration_since(start),
        Duration::from_millis(200)
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_cuts_and_says_timeout() {
    let t = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let e = t
        .call(|_deadline| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<(), ()>(())
        })
        .await
        .unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(TokioClock.now(), Instant::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn fallback_sees_reason() {
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    let fb = Fallback::new();
    let seen = std::sync::Mutex::new(None);
    let v = fb
        .call(b.call(|| async { Ok::<u32, ()>(1) }), |reason, _e| {
            *seen.lock().unwrap() = Some(reason);
            async { Ok(0) }
        })
        .await;
    assert_eq!(v, Ok::<u32, Error<()>>(0));
    assert!(matches!(
        *seen.lock().unwrap(),
        Some(FallbackReason::Rejected(_))
    ));
}

// ---------------------------------------------------------------- pipeline

#[tokio::test(start_paused = true)]
async fn pipeline_dropped_call_returns_bulkhead_slot() {
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let pipeline = Pipeline::new(TokioClock).admit(bh.clone());
    {
        let fut = pipeline.call(|_| std::future::pending::<Result<(), ()>>());
        let _ = tokio::time::timeout(Duration::from_millis(5), fut).await;
    }
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn pipeline_panicking_op_returns_permits() {
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    advance(Duration::from_secs(10)).await; // half-open: one probe
    let pipeline = Arc::new(Pipeline::new(TokioClock).admit(b.clone()).admit(bh.clone()));
    let p2 = Arc::clone(&pipeline);
    let task = tokio::spawn(async move {
        p2.call(|_| async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        })
        .await
    });
    assert!(task.await.is_err());
    assert_eq!(bh.in_flight(), 0);
    assert_eq!(pipeline.call(|_| async { Ok::<_, ()>(3) }).await, Ok(3));
}

#[tokio::test(start_paused = true)]
async fn pipeline_all_or_nothing_limiter_rejects_no_bulkhead_slot() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap());
    let pipeline = Pipeline::new(TokioClock)
        .admit(limiter.clone())
        .admit(bh.clone())
        .max_wait(Duration::ZERO);
    assert_eq!(pipeline.call(|_| async { Ok::<_, ()>(1) }).await, Ok(1));
    let e = pipeline
        .call(|_| async { Ok::<_, ()>(1) })
        .await
        .unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
    assert_eq!(e.rejected().unwrap().retry_at, Some(Instant::from_secs(1)));
    assert_eq!(bh.in_flight(), 0);
    assert_eq!(bh.metrics().acquired, 1);
}

#[tokio::test(start_paused = true)]
async fn pipeline_breaker_rejects_spends_no_rate_permit() {
    let b = breaker(1, Duration::from_secs(10));
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap().with_burst(1).unwrap());
    let pipeline = Pipeline::new(TokioClock)
        .admit(b.clone())
        .admit(limiter.clone())
        .max_wait(Duration::ZERO);
    b.open();
    let e = pipeline
        .call(|_| async { Ok::<_, ()>(1) })
        .await
        .unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
    assert_eq!(
        e.retry_after(TokioClock.now()),
        Some(Duration::from_secs(10))
    );
    assert!(
        limiter.try_acquire().is_ok(),
        "the rate permit was not spent"
    );
}

#[tokio::test(start_paused = true)]
async fn pipeline_max_wait_zero_full_bulkhead_rejects_at_once() {
    let bh: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let pipeline = Pipeline::new(TokioClock)
        .admit(bh.clone())
        .max_wait(Duration::ZERO);
    let _slot = bh.try_acquire().unwrap();
    let e = pipeline
        .call(|_| async { Ok::<_, ()>(1) })
        .await
        .unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::BulkheadFull);
    assert_eq!(TokioClock.now(), Instant::ZERO, "no wait");
    assert_eq!(bh.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn pipeline_retry_waits_for_breaker_retry_at() {
    // breaker opens for 1 s after one failure; retry backoff 10 ms; the
    // retry should take the rejection's retry_at as its hint and succeed.
    let b = breaker(1, Duration::from_secs(1));
    let n = AtomicU32::new(0);
    let pipeline = Pipeline::new(TokioClock).admit(b.clone()).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .build()
            .unwrap(),
    );
    let r = pipeline
        .call(|_| {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move { if k == 0 { Err("down") } else { Ok(k) } }
        })
        .await;
    assert_eq!(r, Ok(1));
    assert_eq!(TokioClock.now(), Instant::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn pipeline_attempt_timeout_retries_and_overall_timeout_stops() {
    let n = AtomicU32::new(0);
    let pipeline = Pipeline::new(TokioClock)
        .retry(
            RetryConfig::builder()
                .max_attempts(10)
                .backoff(BackoffKind::Constant(Duration::ZERO))
                .build()
                .unwrap(),
        )
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(300)).unwrap())
        .timeout(Duration::from_secs(1));
    let e = pipeline
        .call(|_| {
            n.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok::<(), ()>(())
            }
        })
        .await
        .unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(n.load(Ordering::SeqCst), 4);
    assert_eq!(TokioClock.now(), Instant::from_secs(1));
    assert_eq!(e.fallback_reason(), FallbackReason::TimedOut);
}

#[tokio::test(start_paused = true)]
async fn pipeline_attempt_deadline_is_handed_down() {
    let pipeline = Pipeline::new(TokioClock)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(300)).unwrap())
        .timeout(Duration::from_secs(1));
    let d = pipeline
        .call(|a| async move { Ok::<_, ()>(a.deadline) })
        .await
        .unwrap();
    assert_eq!(d, Deadline::at(Instant::from_millis(300)));
}

#[tokio::test(start_paused = true)]
async fn pipeline_timed_out_attempt_counts_in_breaker() {
    let b = breaker(2, Duration::from_secs(10));
    let pipeline = Pipeline::new(TokioClock)
        .admit(b.clone())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    for _ in 0..2 {
        let e = pipeline
            .call(|_| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok::<(), ()>(())
            })
            .await
            .unwrap_err();
        assert!(e.is_timeout());
    }
    assert_eq!(
        b.state(),
        State::Open,
        "two timeouts in a row open the breaker"
    );
}

#[tokio::test(start_paused = true)]
async fn pipeline_without_retry_has_no_gave_up() {
    let pipeline = Pipeline::new(TokioClock);
    let e = pipeline
        .call(|_| async { Err::<(), _>("x") })
        .await
        .unwrap_err();
    assert_eq!(e.gave_up, None);
    assert_eq!(e.attempts, 1);
    assert_eq!(e.inner(), Some(&"x"));
    assert_eq!(e.fallback_reason(), FallbackReason::Failed);
}

#[tokio::test(start_paused = true)]
async fn failfast_deadline_too_short() {
    let ff = FailFastPolicy::new(
        FailFastConfig::builder()
            .expected_duration(Duration::from_millis(50))
            .build()
            .unwrap(),
    );
    let hurried = ff
        .clone()
        .with_deadline(Deadline::after(TokioClock.now(), Duration::from_millis(10)));
    let e = hurried.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
}

// ---------------------------------------------------------------- batch 2

#[tokio::test(start_paused = true)]
async fn pipeline_dropped_while_waiting_for_limiter_returns_breaker_probe() {
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    advance(Duration::from_secs(10)).await; // half-open: 1 probe by default?
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let _spent = limiter.try_acquire().unwrap();
    let pipeline = Pipeline::new(TokioClock)
        .admit(b.clone())
        .admit(limiter.clone());
    {
        let fut = pipeline.call(|_| async { Ok::<_, ()>(1) });
        let r = tokio::time::timeout(Duration::from_millis(100), fut).await;
        assert!(r.is_err(), "waiting for its rate permit at 1 s");
    }
    assert_eq!(b.metrics().probes_in_flight, 0, "probe handed back");
    assert_eq!(b.state(), State::HalfOpen);
    advance(Duration::from_secs(1)).await;
    assert_eq!(pipeline.call(|_| async { Ok::<_, ()>(2) }).await, Ok(2));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn pipeline_attempt_timeout_cuts_bulkhead_queue_wait_as_timeout() {
    let bh: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let _slot = bh.try_acquire().unwrap();
    let pipeline = Pipeline::new(TokioClock)
        .admit(bh.clone())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let e = pipeline
        .call(|_| async { Ok::<_, ()>(1) })
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(TokioClock.now(), Instant::from_millis(100));
    assert_eq!(bh.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_wait_expired_reason() {
    let bh: BulkheadPolicy = BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_millis(50))
            .build()
            .unwrap(),
    );
    let _slot = bh.try_acquire().unwrap();
    let e = bh.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
    assert_eq!(
        e.rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    assert_eq!(TokioClock.now(), Instant::from_millis(50));
    assert_eq!(bh.queued(), 0);
}

#[tokio::test(start_paused = true)]
async fn limiter_weight_over_burst_is_never() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(10).unwrap().with_burst(2).unwrap())
        .with_weight(3);
    let r = limiter.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::RateInsufficientCapacity);
    assert!(r.is_never());
    let e = limiter.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
    assert!(e.rejected().unwrap().is_never());
}

#[tokio::test(start_paused = true)]
async fn limiter_never_books_past_deadline() {
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let _a = limiter.try_acquire().unwrap();
    let hurried = limiter.clone().with_deadline(Deadline::after(
        TokioClock.now(),
        Duration::from_millis(500),
    ));
    let e = hurried.call(|| async { Ok::<_, ()>(1) }).await.unwrap_err();
    assert_eq!(
        TokioClock.now(),
        Instant::ZERO,
        "rejected at once, not after waiting"
    );
    let r = e.rejected().unwrap();
    assert_eq!(r.retry_at, Some(Instant::from_secs(1)), "{r:?}");
    // and its booking was not kept: at 1 s a caller is admitted
    advance(Duration::from_secs(1)).await;
    assert!(limiter.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn pipeline_call_or_else_and_fallback_on() {
    use failsafe_tokio::FallbackPolicy;
    let b = breaker(1, Duration::from_secs(10));
    b.open();
    let pipeline = Pipeline::new(TokioClock).admit(b.clone());
    let v = pipeline
        .call_or_else(
            |_| async { Ok::<u32, ()>(1) },
            |reason, _e| async move {
                assert!(matches!(reason, FallbackReason::Rejected(_)));
                Ok(9)
            },
        )
        .await;
    assert_eq!(v, Ok(9));
    let only_failed = Pipeline::new(TokioClock)
        .admit(b.clone())
        .fallback_on(FallbackPolicy::NONE.on_failed(true));
    let v = only_failed
        .call_or_else(|_| async { Ok::<u32, ()>(1) }, |_, _| async { Ok(9) })
        .await;
    assert!(
        v.unwrap_err().rejected().is_some(),
        "a rejection does not fall back under FAILED only"
    );
}

#[tokio::test(start_paused = true)]
async fn pipeline_error_display_and_source() {
    let pipeline = Pipeline::new(TokioClock).retry(
        RetryConfig::builder()
            .max_attempts(2)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let e = pipeline
        .call(|_| async { Err::<(), _>(std::io::Error::other("reset")) })
        .await
        .unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("reset") && shown.contains("2 attempt"),
        "{shown}"
    );
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(e.gave_up, Some(GiveUp::Attempts));
    assert_eq!(
        e.fallback_reason(),
        FallbackReason::GaveUp(GiveUp::Attempts)
    );
}

#[tokio::test(start_paused = true)]
async fn retry_on_failsafe_error_waits_for_breaker_retry_at() {
    use failsafe_tokio::RetryOnFailsafeError;
    let b = breaker(1, Duration::from_secs(2));
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(failsafe_tokio::Jitter::None)
            .build()
            .unwrap(),
    );
    let n = AtomicU32::new(0);
    let r = retry
        .call_with(&RetryOnFailsafeError, |_| async {
            b.call(|| async {
                let k = n.fetch_add(1, Ordering::SeqCst);
                if k == 0 { Err("down") } else { Ok(k) }
            })
            .await
        })
        .await;
    assert_eq!(r.ok(), Some(1));
    assert_eq!(TokioClock.now(), Instant::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn timeout_soft_mode_lets_work_finish() {
    use failsafe_tokio::TimeoutMode;
    let cfg = TimeoutConfig::new(Duration::from_millis(100))
        .unwrap()
        .mode(TimeoutMode::Soft);
    let t = TimeoutPolicy::new(cfg);
    let r = t
        .call(|_| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, ()>(5)
        })
        .await;
    assert_eq!(r, Ok(5));
    assert_eq!(TokioClock.now(), Instant::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn overall_timeout_while_probe_running_returns_probe_as_timeout() {
    let b = CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(10))
            .build()
            .unwrap(),
        NoWindow,
    );
    b.open();
    advance(Duration::from_secs(10)).await;
    let pipeline = Pipeline::new(TokioClock)
        .admit(b.clone())
        .timeout(Duration::from_millis(100));
    let e = pipeline
        .call(|_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<(), ()>(())
        })
        .await
        .unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(b.metrics().probes_in_flight, 0);
    assert_eq!(
        b.state(),
        State::Open,
        "a timed-out probe counts as a failure"
    );
}

#[tokio::test(start_paused = true)]
async fn pipeline_hedged_first_success_wins() {
    use failsafe_tokio::{HedgeConfig, Idempotent};
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(4).build().unwrap());
    let pipeline = Pipeline::new(TokioClock).admit(bh.clone());
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(failsafe_tokio::HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let r = pipeline
        .call_hedged(
            hedge,
            (),
            Idempotent(|a: failsafe_tokio::Attempt| async move {
                if a.number == 1 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, ()>(1)
                } else {
                    Ok(2)
                }
            }),
        )
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(TokioClock.now(), Instant::from_millis(50));
    assert_eq!(bh.in_flight(), 0);
}

// ---------------------------------------------------------------- batch 3

/// The README's chaos example, verbatim but for `main`.
#[tokio::test(start_paused = true)]
async fn readme_chaos_example_runs() -> Result<(), Box<dyn std::error::Error>> {
    use failsafe_tokio::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
    let down = ChaosConfig::builder()
        .error(Rate::ALWAYS, Schedule::Always)
        .build()?;
    let chaos = Arc::new(Chaos::new(down));
    let policy = ChaosPolicy::new(Arc::clone(&chaos), || "injected outage", || Ok(503)).seed(7);
    let breaker_config = BreakerConfig::builder()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(30))
        .build()?;
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, TokioClock);
    let pipeline = Pipeline::new(TokioClock).admit(breaker).chaos(policy);

    let call = || pipeline.call(|_| async { Ok::<u16, &str>(200) });
    for _ in 0..3 {
        assert_eq!(call().await.unwrap_err().inner(), Some(&"injected outage"));
    }
    let rejected = call().await.unwrap_err();
    assert_eq!(
        rejected.rejected().map(|r| r.reason),
        Some(RejectReason::BreakerOpen)
    );
    chaos.set_enabled(false);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn pipeline_caller_deadline_already_passed_is_a_timeout_without_calling() {
    use failsafe_tokio::DefaultClassifier;
    let _ = TokioClock::new(); // fix the paused runtime's epoch now
    advance(Duration::from_secs(1)).await;
    let pipeline = Pipeline::new(TokioClock);
    let called = AtomicU32::new(0);
    let e = pipeline
        .call_with(
            &DefaultClassifier,
            Deadline::at(Instant::from_millis(500)),
            |_| {
                called.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, ()>(1) }
            },
        )
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(called.load(Ordering::SeqCst), 0);
    assert_eq!(e.attempts, 0);
}

#[tokio::test(start_paused = true)]
async fn keyed_limiter_per_key_and_retry_at() {
    use failsafe_tokio::KeyedRateLimiterPolicy;
    let per_ip: KeyedRateLimiterPolicy<u32> =
        KeyedRateLimiterPolicy::new(Quota::per_second(2).unwrap().with_burst(1).unwrap());
    assert!(per_ip.try_acquire_keyed(&1).is_ok());
    let r = per_ip.try_acquire_keyed(&1).unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(r.retry_at, Some(Instant::from_millis(500)));
    assert!(per_ip.try_acquire_keyed(&2).is_ok());
    assert_eq!(
        per_ip.call_keyed(&3, || async { Ok::<_, ()>(3) }).await,
        Ok(3)
    );
}

#[tokio::test(start_paused = true)]
async fn retry_dropped_during_backoff_and_panicking_op() {
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::from_secs(1)))
            .jitter(failsafe_tokio::Jitter::None)
            .build()
            .unwrap(),
    );
    let n = AtomicU32::new(0);
    let r = tokio::time::timeout(
        Duration::from_millis(500),
        retry.call(|_| async {
            n.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("x")
        }),
    )
    .await;
    assert!(r.is_err());
    assert_eq!(n.load(Ordering::SeqCst), 1);
    let r2 = retry.clone();
    let task = tokio::spawn(async move {
        r2.call(|_| async {
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        })
        .await
    });
    assert!(task.await.unwrap_err().is_panic());
}

#[tokio::test(start_paused = true)]
async fn breaker_half_open_probe_quota_and_drop() {
    let b = CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(1))
            .half_open_probes(2)
            .build()
            .unwrap(),
        NoWindow,
    );
    b.open();
    advance(Duration::from_secs(1)).await;
    let g1 = b.try_acquire().unwrap();
    let g2 = b.try_acquire().unwrap();
    let r = b.try_acquire().unwrap_err();
    assert_eq!(r.reason, RejectReason::BreakerHalfOpenFull);
    assert_eq!(r.retry_at, None, "unknown: a probe may report any moment");
    drop(g1); // cancelled: the probe goes back
    let g3 = b.try_acquire().expect("a cancelled probe frees its place");
    g2.finish(failsafe_tokio::Outcome::Success);
    g3.finish(failsafe_tokio::Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn bulkhead_set_limit_lower_keeps_in_flight() {
    let bh: BulkheadPolicy =
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(2).build().unwrap());
    let a = bh.try_acquire().unwrap();
    let b2 = bh.try_acquire().unwrap();
    assert_eq!(bh.set_limit(1), 1);
    assert_eq!(bh.in_flight(), 2);
    drop(a);
    assert!(bh.try_acquire().is_err(), "still 1 in flight at limit 1");
    drop(b2);
    assert!(bh.try_acquire().is_ok());
    assert_eq!(bh.set_limit(0), 1, "clamped, as documented");
}

#[tokio::test(start_paused = true)]
async fn fallback_policy_filters_reasons() {
    use failsafe_tokio::FallbackPolicy;
    let fb = Fallback::new().policy(FallbackPolicy::NONE.on_timed_out(true));
    let r = fb
        .call(
            async { Err::<u32, Error<&str>>(Error::Inner("x")) },
            |_, _| async { Ok(0) },
        )
        .await;
    assert_eq!(r, Err(Error::Inner("x")));
    let r = fb
        .call(
            async { Err::<u32, Error<&str>>(Error::Timeout(Deadline::NEVER)) },
            |_, _| async { Ok(0) },
        )
        .await;
    assert_eq!(r, Ok(0));
}

/// Same as above with an operation that takes time: it should be cut at
/// once (the deadline has passed), not run to completion.
#[tokio::test(start_paused = true)]
async fn pipeline_caller_deadline_already_passed_slow_op() {
    use failsafe_tokio::DefaultClassifier;
    let _ = TokioClock::new();
    advance(Duration::from_secs(1)).await;
    let pipeline = Pipeline::new(TokioClock).retry(
        RetryConfig::builder()
            .max_attempts(3)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .build()
            .unwrap(),
    );
    let called = AtomicU32::new(0);
    let r = pipeline
        .call_with(
            &DefaultClassifier,
            Deadline::at(Instant::from_millis(500)),
            |_| {
                called.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, ()>(1)
                }
            },
        )
        .await;
    assert_eq!(
        TokioClock.now(),
        Instant::from_secs(1),
        "not run for a second past its deadline"
    );
    assert!(r.unwrap_err().is_timeout());
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

/// TimeoutPolicy with a parent deadline already passed: no call at all.
#[tokio::test(start_paused = true)]
async fn timeout_policy_passed_parent_deadline_does_not_call() {
    let _ = TokioClock::new();
    advance(Duration::from_secs(1)).await;
    let t = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_secs(5)).unwrap());
    let called = AtomicU32::new(0);
    let r = t
        .call_with_deadline(Deadline::at(Instant::from_millis(500)), |_| {
            called.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, ()>(1) }
        })
        .await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert_eq!(called.load(Ordering::SeqCst), 0);
}
