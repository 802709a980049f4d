//! A request through the tower layers can be spawned on tokio whatever the
//! inner service's error type, including errors that hold a lifetime
//! (`&'static str`, tower's `BoxError`), as hyper and axum spawn them (see
//! `failsafe-tokio`'s `tests/spawn.rs` for rust-lang/rust#90696). These
//! tests fail to compile if a layer's future regresses so.

use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::retry::{BackoffKind, RetryConfig};
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::{CircuitBreakerPolicy, Pipeline, RetryPolicy, TimeoutPolicy};
use failsafe_tokio::TokioClock;
use failsafe_tower::{CircuitBreakerLayer, PipelineLayer, RetryLayer, TimeoutLayer};
use tower::{BoxError, Layer, ServiceBuilder, ServiceExt, service_fn};

fn two_attempts() -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(2)
        .backoff(BackoffKind::Constant(Duration::from_millis(1)))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_request_through_retry_breaker_and_timeout_layers_can_be_spawned() {
    let breaker = CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, TokioClock);
    let timeout = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
    let svc = ServiceBuilder::new()
        .layer(RetryLayer::new(RetryPolicy::with_runtime(
            two_attempts(),
            TokioClock,
        )))
        .layer(CircuitBreakerLayer::from_policy(&breaker))
        .layer(TimeoutLayer::new(TimeoutPolicy::with_runtime(
            timeout, TokioClock,
        )))
        .service(service_fn(|_: u32| async {
            Err::<u32, &'static str>("down")
        }));
    let task = tokio::spawn(svc.oneshot(7));
    let error = task.await.unwrap().unwrap_err();
    assert_eq!(error.attempts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_request_through_a_pipeline_layer_with_a_boxed_error_can_be_spawned() {
    let pipeline = Pipeline::new(TokioClock).retry(two_attempts());
    let svc = PipelineLayer::new(pipeline).layer(service_fn(|_: u32| async {
        Err::<u32, BoxError>("down".into())
    }));
    let task = tokio::spawn(async move { svc.oneshot(7).await.map_err(|e| e.to_string()) });
    assert!(task.await.unwrap().unwrap_err().contains("down"));
}

#[tokio::test]
async fn a_buffered_pipeline_service_can_be_called_from_a_spawned_task() {
    use tower::buffer::Buffer;
    let pipeline = Pipeline::new(TokioClock).retry(two_attempts());
    let inner = service_fn(|n: u32| async move {
        if n == 0 {
            Err(std::io::Error::other("zero"))
        } else {
            Ok(n * 2)
        }
    });
    let svc = Buffer::new(PipelineLayer::new(pipeline).layer(inner), 64);
    let task = tokio::spawn({
        let svc = svc.clone();
        async move { svc.oneshot(4u32).await.map_err(|e| e.to_string()) }
    });
    assert_eq!(task.await.unwrap(), Ok(8));
}

#[tokio::test(start_paused = true)]
async fn a_request_through_a_feature_gate_holding_its_table_in_an_arc_can_be_spawned() {
    use std::sync::Arc;

    use failsafe_core::RejectReason;
    use failsafe_core::sync::Shared;
    use failsafe_core::toggle::{FeatureGate, FlagSpec, FlagTable, ToggleConfig};
    use failsafe_driver::{Clock, Policy, StdLock};
    use failsafe_tower::AdmissionLayer;

    type Gate = FeatureGate<Arc<FlagTable<1, 4>>, (), u32>;
    let config = ToggleConfig::new(7, [FlagSpec::new("beta").rollout(0)]).unwrap();
    let flags = Arc::new(FlagTable::new(config));
    let beta = flags.flag("beta").unwrap();
    flags.allow(TokioClock.now(), beta, &1).unwrap();
    let gate: Gate = FeatureGate::new(Arc::clone(&flags), beta, ());
    let policy = Policy::new_shared(Arc::new(Shared::new(StdLock::new(gate))), TokioClock);
    let svc = AdmissionLayer::from_policy(&policy)
        .keyed(|user: &u32| *user)
        .layer(service_fn(|user: u32| async move {
            Ok::<_, &'static str>(user)
        }));
    let allowed = tokio::spawn({
        let svc = svc.clone();
        async move { svc.oneshot(1).await.map_err(|e| e.to_string()) }
    });
    assert_eq!(allowed.await.unwrap(), Ok(1));
    let refused = tokio::spawn(async move {
        let err = svc.oneshot(2).await.unwrap_err();
        err.rejected().map(|r| r.reason)
    });
    assert_eq!(refused.await.unwrap(), Some(RejectReason::FeatureDisabled));
}
