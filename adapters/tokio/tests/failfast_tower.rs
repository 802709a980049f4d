//! The fail fast tower layer on tokio's paused clock (moved from
//! `failfast.rs`: the layer and the earlier `FailFast` handle it takes are
//! moving to `failsafe-tower`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_tokio::{
    Clock, Deadline, Error, FailFast, FailFastConfig, FailFastLayer, FailFastState, OpenCause,
    RejectReason, RequestDeadline, TimeoutConfig, TimeoutLayer, TimeoutPolicy, TokioClock,
    UnhealthyWhen,
};
use tokio::time::sleep;
use tower::{Layer, Service, ServiceExt, service_fn};

fn config(failures: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(failures)
        .build()
        .unwrap()
}

fn reason<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<T, Error<E>>) -> RejectReason {
    r.unwrap_err().rejected().expect("a rejection").reason
}

fn counting_service(
    calls: &Arc<AtomicU32>,
) -> impl Service<u16, Response = u16, Error = &'static str> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |status: u16| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if status < 500 {
                Ok(status)
            } else {
                Err("server error")
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_layer_rejects_at_once_without_calling_the_inner_service() {
    let ff = FailFast::new(config(2));
    let calls = Arc::new(AtomicU32::new(0));
    let svc = FailFastLayer::new(ff.clone()).layer(counting_service(&calls));
    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    for _ in 0..2 {
        assert_eq!(
            svc.clone().oneshot(500).await,
            Err(Error::Inner("server error"))
        );
    }
    assert_eq!(ff.state(), FailFastState::Open);
    // the rejection is ready on the first poll: no inner call, no waiting
    let mut svc2 = svc.clone();
    let fut = svc2.ready().await.unwrap().call(200);
    let r = futures_poll_once(fut);
    assert_eq!(
        reason(r.expect("ready at once")),
        RejectReason::FailFastOpen
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    ff.report_healthy();
    assert_eq!(svc.oneshot(201).await, Ok(201));
}

/// Polls a future once with a no-op waker.
fn futures_poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_judges_results_with_its_classifier() {
    let ff = FailFast::new(config(10));
    let calls = Arc::new(AtomicU32::new(0));
    let svc = FailFastLayer::new(ff.clone())
        .with_classifier(UnhealthyWhen(|r: &Result<u16, &str>| r == &Ok(503)))
        .layer(service_fn({
            let calls = Arc::clone(&calls);
            move |status: u16| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<_, &str>(status) }
            }
        }));
    assert_eq!(svc.clone().oneshot(503).await, Ok(503));
    assert_eq!(ff.metrics().open_cause, Some(OpenCause::Unhealthy));
    assert!(svc.oneshot(200).await.unwrap_err().is_rejected());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[derive(Clone, Debug)]
struct Req {
    deadline: Deadline,
}

/// The deadline travels in the request.
#[derive(Clone, Copy)]
struct InReq;
impl RequestDeadline<Req> for InReq {
    fn deadline(&self, r: &Req) -> Deadline {
        r.deadline
    }
    fn set_deadline(&self, r: &mut Req, deadline: Deadline) {
        r.deadline = deadline
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_rejects_a_request_whose_deadline_cannot_cover_the_call() {
    let clock = TokioClock::new();
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(80))
        .build()
        .unwrap();
    let ff = FailFast::with_clock(config, clock);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let calls = Arc::clone(&calls);
        move |_: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, &str>("done") }
        }
    });
    let svc = FailFastLayer::new(ff.clone())
        .with_request_deadline(InReq)
        .layer(inner.clone());
    let now = clock.now();
    let tight = Req {
        deadline: Deadline::after(now, Duration::from_millis(79)),
    };
    assert_eq!(
        reason(svc.clone().oneshot(tight).await),
        RejectReason::DeadlineTooShort
    );
    let roomy = Req {
        deadline: Deadline::after(now, Duration::from_millis(80)),
    };
    assert_eq!(svc.clone().oneshot(roomy).await, Ok("done"));

    // Inside a timeout layer that writes its deadline into the request: a
    // 50 ms timeout can never fit an 80 ms call, so nothing is called.
    let timeout = TimeoutPolicy::with_clock(
        TimeoutConfig::new(Duration::from_millis(50)).unwrap(),
        clock,
    );
    let stacked = TimeoutLayer::new(timeout)
        .with_request_deadline(InReq)
        .layer(
            FailFastLayer::new(ff.clone())
                .with_request_deadline(InReq)
                .layer(inner),
        );
    let r = stacked
        .oneshot(Req {
            deadline: Deadline::NEVER,
        })
        .await;
    let r = r.map_err(Error::flatten);
    assert_eq!(reason(r), RejectReason::DeadlineTooShort);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ff.metrics().rejected_deadline, 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_layer_future_is_cancelled() {
    let ff = FailFast::new(config(1));
    let mut svc = FailFastLayer::new(ff.clone()).layer(service_fn(|(): ()| async {
        sleep(Duration::from_secs(60)).await;
        Err::<(), _>("late")
    }));
    let fut = svc.ready().await.unwrap().call(());
    assert!(
        tokio::time::timeout(Duration::from_secs(1), fut)
            .await
            .is_err()
    );
    assert_eq!(
        ff.state(),
        FailFastState::Closed,
        "a cancelled call is no failure"
    );
    assert_eq!(ff.metrics().consecutive_failures, 0);
}

#[test]
fn the_layer_future_is_send() {
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut svc = FailFastLayer::new(FailFast::new(config(1)))
            .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
        let fut = svc.call(());
        send(&fut);
        assert_eq!(fut.await, Ok(()));
    });
}
