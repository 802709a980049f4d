//! A feature flag as a tower admission layer, on tokio's paused clock: the
//! flag's `FeatureGate` behind the keyed admission layer lets a request
//! reach the inner service only if the flag is on for its key; any other
//! is rejected with `FeatureDisabled` without calling it, and flips made at
//! run time (the allow list, the rollout, the kill of the whole flag) take
//! effect on the next request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use failsafe_core::sync::Shared;
use failsafe_core::toggle::{FeatureGate, FlagSpec, FlagTable, ToggleConfig};
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::{Clock, Policy, StdLock};
use failsafe_tokio::TokioClock;
use failsafe_tower::AdmissionLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

/// One flag, "beta", off for everyone but its allow list at first.
static FLAGS: FlagTable<1, 4> = FlagTable::new(failsafe_core::checked(ToggleConfig::new(
    7,
    [FlagSpec::new("beta").rollout(0)],
)));

type Gate = FeatureGate<&'static FlagTable<1, 4>, (), u32>;

/// A service that echoes the user id and counts its calls.
fn echo(calls: &Arc<AtomicU32>) -> impl Service<u32, Response = u32, Error = String> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |user: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, String>(user) }
    })
}

#[tokio::test(start_paused = true)]
async fn only_the_users_the_flag_enables_reach_the_service() {
    let beta = FLAGS.flag("beta").expect("the flag exists");
    let gate: &'static Shared<Gate, StdLock<Gate>> = Box::leak(Box::new(Shared::new(
        StdLock::new(FeatureGate::new(&FLAGS, beta, ())),
    )));
    let clock = TokioClock;
    let policy = Policy::new_shared(gate, clock);
    let calls = Arc::new(AtomicU32::new(0));
    let svc = AdmissionLayer::from_policy(&policy)
        .keyed(|user: &u32| *user)
        .layer(echo(&calls));
    let now = || -> Instant { clock.now() };

    FLAGS.allow(now(), beta, &1).expect("room on the list");
    assert_eq!(
        svc.clone().oneshot(1).await,
        Ok(1),
        "an allowed user passes"
    );
    let err = svc.clone().oneshot(2).await.unwrap_err();
    let rejected = err.rejected().expect("a rejection, not an inner error");
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::FeatureDisabled, None),
        "no window to wait for: an operator must act"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the rejected user never reached the service"
    );

    // Rolled out to everyone: user 2 passes on the next request.
    FLAGS
        .set_rollout(now(), beta, 10_000)
        .expect("a valid rollout");
    assert_eq!(svc.clone().oneshot(2).await, Ok(2));

    // Switched off for all (the kill of the whole flag): even the allowed
    // user is turned away, and the service is not called.
    FLAGS.set_enabled(now(), beta, false);
    for user in [1, 2] {
        let err = svc.clone().oneshot(user).await.unwrap_err();
        assert_eq!(
            err.rejected().map(|r| r.reason),
            Some(RejectReason::FeatureDisabled)
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
