//! `TokioClock` as a runtime: one epoch for every handle, paused tests
//! starting at zero, tokio's resettable timer, and the cooperative budget a
//! loop of rejected calls spends.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_core::sync::SharedAdmission;
use failsafe_tokio::{
    BreakerConfig, CircuitBreakerPolicy, Clock, Deadline, FailFastConfig, FailFastPolicy, Instant,
    NoWindow, Policy, Quota, RateLimiterPolicy, RejectReason, Runtime, StdClock, TimeoutConfig,
    TimeoutPolicy, TokioClock,
};
use tokio::time::advance;

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_paused_test_starts_at_zero_and_handles_made_apart_agree() {
    assert_eq!(TokioClock.now(), Instant::ZERO);
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::new(config, NoWindow);
    advance(Duration::from_millis(1_500)).await;
    assert_eq!(TokioClock::new().now(), Instant::from_millis(1_500));

    // the breaker's retry_at, read against a clock made later, means 60 s from its opening
    breaker.open();
    advance(Duration::from_secs(1)).await;
    let rejected = breaker.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_at, Some(Instant::from_millis(61_500)));
    assert_eq!(
        rejected.retry_after(TokioClock.now()),
        Some(Duration::from_secs(59))
    );

    // a deadline from a timeout made now binds a fail fast made before it
    let ff = FailFastPolicy::new(
        FailFastConfig::builder()
            .expected_duration(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let timeout = TimeoutPolicy::new(TimeoutConfig::new(Duration::from_millis(50)).unwrap());
    let r = timeout
        .call(|deadline| {
            assert_eq!(deadline, Deadline::at(Instant::from_millis(2_550)));
            let hurried = ff.clone().with_deadline(deadline);
            async move { hurried.call(|| async { Ok::<_, ()>(()) }).await }
        })
        .await;
    let r = r.unwrap_err().flatten();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
}

#[test]
fn each_paused_runtime_starts_at_zero_whatever_ran_before() {
    let first = paused_runtime().block_on(async {
        let clock = TokioClock::new();
        advance(Duration::from_secs(3_600)).await;
        clock.now()
    });
    assert_eq!(first, Instant::from_secs(3_600));
    // a second paused runtime on the same thread, and one on another thread
    let second = paused_runtime().block_on(async { TokioClock::new().now() });
    assert_eq!(second, Instant::ZERO);
    let elsewhere = std::thread::spawn(|| paused_runtime().block_on(async { TokioClock.now() }));
    assert_eq!(elsewhere.join().unwrap(), Instant::ZERO);
}

#[test]
fn real_time_shares_the_process_epoch_with_std_clock_in_and_out_of_runtimes() {
    let process = tokio::time::Instant::from_std(StdClock::epoch());
    assert_eq!(TokioClock.epoch(), process, "outside any runtime");
    for _ in 0..2 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(TokioClock.epoch(), process, "a runtime on real time");
            let (before, tokio_now, after) = (StdClock.now(), TokioClock.now(), StdClock.now());
            assert!(before <= tokio_now && tokio_now <= after);
        });
    }
}

#[tokio::test(start_paused = true)]
async fn sleep_until_follows_paused_time_and_never_means_never() {
    let mut cx = Context::from_waker(Waker::noop());

    let mut soon = pin!(TokioClock.sleep_until(Instant::from_secs(2)));
    assert!(soon.as_mut().poll(&mut cx).is_pending());
    advance(Duration::from_secs(2)).await;
    assert_eq!(soon.as_mut().poll(&mut cx), Poll::Ready(()));

    // a passed deadline is ready at once
    let mut past = pin!(TokioClock.sleep_until(Instant::ZERO));
    assert_eq!(past.as_mut().poll(&mut cx), Poll::Ready(()));

    // Instant::MAX ("never") neither panics nor fires
    let mut never = pin!(TokioClock.sleep_until(Instant::MAX));
    assert!(never.as_mut().poll(&mut cx).is_pending());
    advance(Duration::from_secs(86_400 * 365)).await;
    assert!(never.as_mut().poll(&mut cx).is_pending());
}

#[tokio::test(start_paused = true)]
async fn reset_sleep_moves_a_pending_timer_earlier_and_later() {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sleep = pin!(TokioClock.sleep_until(Instant::from_secs(10)));
    assert!(sleep.as_mut().poll(&mut cx).is_pending());

    TokioClock.reset_sleep(sleep.as_mut(), Instant::from_secs(1));
    advance(Duration::from_secs(1)).await;
    assert_eq!(
        sleep.as_mut().poll(&mut cx),
        Poll::Ready(()),
        "moved earlier"
    );

    TokioClock.reset_sleep(sleep.as_mut(), Instant::from_secs(3));
    advance(Duration::from_millis(1_999)).await;
    assert!(sleep.as_mut().poll(&mut cx).is_pending(), "moved later");
    advance(Duration::from_millis(1)).await;
    assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
}

/// Retries rejected calls in a loop on this task until another task of the
/// same current-thread runtime has run: it can only run if the loop yields.
async fn a_rejected_loop_lets_another_task_run<S>(
    policy: &Policy<S, TokioClock>,
    reason: RejectReason,
) where
    S: SharedAdmission<Key = ()>,
{
    let other_ran = Arc::new(AtomicBool::new(false));
    tokio::spawn({
        let other_ran = Arc::clone(&other_ran);
        async move { other_ran.store(true, Ordering::SeqCst) }
    });
    let mut rejections = 0;
    while !other_ran.load(Ordering::SeqCst) {
        let r = policy.call(|| async { Ok::<_, ()>(()) }).await;
        assert_eq!(r.unwrap_err().rejected().unwrap().reason, reason);
        rejections += 1;
        // tokio's budget is 128 a poll; without it this loop never yields
        assert!(rejections <= 1_000, "the loop of rejections never yielded");
    }
    assert!(
        rejections > 1,
        "a rejection does not yield before the budget is spent"
    );
}

#[tokio::test(start_paused = true)]
async fn loops_of_rejected_calls_yield_to_other_tasks() {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    breaker.force_open();
    a_rejected_loop_lets_another_task_run(&breaker, RejectReason::BreakerForcedOpen).await;

    let ff = FailFastPolicy::new(FailFastConfig::DEFAULT);
    ff.open();
    a_rejected_loop_lets_another_task_run(&ff, RejectReason::FailFastOpen).await;

    let limiter =
        RateLimiterPolicy::new(Quota::per_second(1).unwrap()).with_max_wait(Duration::ZERO);
    drop(limiter.try_acquire().unwrap());
    a_rejected_loop_lets_another_task_run(&limiter, RejectReason::RateLimited).await;
}
