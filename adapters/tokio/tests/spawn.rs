//! Every call future can be spawned on tokio whatever the operation's error
//! type, including errors that hold a lifetime (`&'static str`,
//! `Box<dyn Error + Send + Sync>`): the pipeline's future once named its
//! attempt's `T` and `E` through trait bounds, and rustc could not prove
//! such a future `Send` inside the spawned task (rust-lang/rust#90696). These
//! tests fail to compile if a call's type regresses so.

use std::sync::Arc;
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
use failsafe_core::retry::RetryConfig;
use failsafe_tokio::{
    Chaos, ChaosConfig, ChaosPolicy, CircuitBreakerPolicy, Idempotent, Pipeline, Rate, RetryPolicy,
    Schedule, TokioClock,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn two_attempts() -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(2)
        .backoff(failsafe_core::retry::BackoffKind::Constant(
            Duration::from_millis(1),
        ))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_call_with_a_static_str_error_can_be_spawned() {
    let pipeline = Arc::new(Pipeline::new(TokioClock).retry(two_attempts()));
    let task = tokio::spawn(async move {
        pipeline
            .call(|_| async { Err::<u32, &'static str>("down") })
            .await
    });
    let error = task.await.unwrap().unwrap_err();
    assert_eq!((error.inner(), error.attempts), (Some(&"down"), 2));
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_call_with_a_boxed_error_can_be_spawned() {
    let pipeline = Arc::new(Pipeline::new(TokioClock).retry(two_attempts()));
    let task = tokio::spawn(async move {
        pipeline
            .call(|_| async { Err::<u32, BoxError>("down".into()) })
            .await
            .map_err(|e| e.to_string())
    });
    assert!(task.await.unwrap().unwrap_err().contains("down"));
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_with_chaos_and_a_breaker_can_be_spawned() {
    let always = ChaosConfig::builder()
        .error(Rate::ALWAYS, Schedule::Always)
        .build()
        .unwrap();
    let chaos = ChaosPolicy::new(Chaos::new(always), || "injected", || Ok(503));
    let breaker = CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, TokioClock);
    let pipeline = Arc::new(Pipeline::new(TokioClock).admit(breaker).chaos(chaos));
    let task = tokio::spawn(async move {
        pipeline
            .call(|_| async { Ok::<u16, &'static str>(200) })
            .await
    });
    assert_eq!(task.await.unwrap().unwrap_err().inner(), Some(&"injected"));
}

#[tokio::test(start_paused = true)]
async fn a_hedged_pipeline_call_can_be_spawned() {
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    let pipeline = Arc::new(Pipeline::new(TokioClock));
    let task = tokio::spawn(async move {
        let read = Idempotent(|attempt: failsafe_tokio::Attempt| async move {
            Ok::<u32, &'static str>(attempt.number)
        });
        pipeline.call_hedged(hedge, (), read).await
    });
    assert_eq!(task.await.unwrap(), Ok(1));
}

#[tokio::test(start_paused = true)]
async fn the_handles_calls_with_a_static_str_error_can_be_spawned() {
    let retry: RetryPolicy = RetryPolicy::with_runtime(two_attempts(), TokioClock);
    let breaker = CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, TokioClock);
    let task = tokio::spawn(async move {
        let retried = retry
            .call(|_| async { Err::<u32, &'static str>("down") })
            .await;
        let admitted = breaker
            .call(|| async { Err::<u32, &'static str>("down") })
            .await;
        (retried.is_err(), admitted.is_err())
    });
    assert_eq!(task.await.unwrap(), (true, true));
}

#[tokio::test(start_paused = true)]
async fn the_hedge_and_timeout_functions_with_a_static_str_error_can_be_spawned() {
    use failsafe_core::retry::NoBudget;
    use failsafe_core::timeout::{Deadline, TimeoutConfig};
    use failsafe_driver::{DefaultClassifier, HedgeContext, hedge, timeout};

    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    let task = tokio::spawn(async move {
        let ctx = HedgeContext {
            config,
            deadline: Deadline::NEVER,
            budget: &NoBudget,
            latencies: (),
            observer: (),
        };
        let read = Idempotent(|_| async { Err::<u32, &'static str>("down") });
        let hedged = hedge(&TokioClock, ctx, &DefaultClassifier, read).await;
        let bounded = timeout(
            &TokioClock,
            TimeoutConfig::new(Duration::from_secs(1)).unwrap(),
            Deadline::NEVER,
            (),
            |_| async { Err::<u32, _>(failsafe_tokio::Error::Inner("down")) },
        )
        .await;
        (hedged.is_err(), bounded.is_err())
    });
    assert_eq!(task.await.unwrap(), (true, true));
}
