//! The tower layer: requests go through the breaker, rejections come back at
//! once, and the inner service is only called when a permit was granted.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe_tokio::{
    BreakerConfig, CircuitBreaker, CircuitBreakerLayer, CircuitBreakerService, Error, Instant,
    NoWindow, Outcome, RejectReason, State,
};
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt, service_fn};

const OPEN_WAIT: Duration = Duration::from_secs(10);

fn breaker(failures: u32) -> CircuitBreaker<NoWindow> {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .build()
        .unwrap();
    CircuitBreaker::new(config, NoWindow)
}

/// A service that fails for requests >= 500 and counts its calls.
fn echo(calls: &Arc<AtomicU32>) -> impl Service<u16, Response = u16, Error = String> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |code: u16| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            if code >= 500 {
                Err(format!("status {code}"))
            } else {
                Ok(code)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn layer_trips_rejects_without_calling_and_recovers() {
    let calls = Arc::new(AtomicU32::new(0));
    let b = breaker(2);
    let svc = CircuitBreakerLayer::new(b.clone()).layer(echo(&calls));

    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    assert_eq!(
        svc.clone().oneshot(500).await,
        Err(Error::Inner("status 500".to_string()))
    );
    assert_eq!(b.state(), State::Closed);
    advance(Duration::from_millis(5)).await;
    assert!(svc.clone().oneshot(502).await.is_err());
    assert_eq!(b.state(), State::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // open: rejected at once with retry_at, the inner service is not called
    let rejected = svc.clone().oneshot(200).await.unwrap_err();
    let rejected = rejected.rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(Instant::from_millis(5) + OPEN_WAIT));
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // after the wait one probe goes through, and its success closes
    advance(OPEN_WAIT).await;
    assert_eq!(svc.clone().oneshot(204).await, Ok(204));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn layer_classifier_counts_ok_503_as_failure() {
    let b = breaker(2);
    let ok_with_status = service_fn(|code: u16| async move { Ok::<u16, Infallible>(code) });
    let svc = CircuitBreakerLayer::new(b.clone())
        .with_classifier(|r: &Result<u16, Infallible>| match r {
            Ok(code) if *code >= 500 => Outcome::Failure,
            _ => Outcome::Success,
        })
        .layer(ok_with_status);

    // the caller gets the response unchanged; the breaker counts failures
    assert_eq!(svc.clone().oneshot(503).await, Ok(503));
    assert_eq!(svc.clone().oneshot(503).await, Ok(503));
    assert_eq!(b.state(), State::Open);
    assert!(matches!(
        svc.oneshot(200).await,
        Err(Error::Rejected(r)) if r.reason == RejectReason::BreakerOpen
    ));
}

#[tokio::test(start_paused = true)]
async fn dropped_response_future_releases_the_probe() {
    let b = breaker(1);
    let hang = service_fn(|()| std::future::pending::<Result<(), Infallible>>());
    let mut svc = CircuitBreakerService::new(hang, b.clone());
    b.open();
    advance(OPEN_WAIT).await;

    let probe = svc.ready().await.unwrap().call(());
    assert_eq!(b.metrics().probes_in_flight, 1);
    // the only probe slot is taken: the next request is turned away
    let second = svc.ready().await.unwrap().call(()).await;
    assert!(matches!(
        second,
        Err(Error::Rejected(r)) if r.reason == RejectReason::BreakerHalfOpenFull
    ));
    // a timeout drops the probe's future: its slot comes back
    assert!(
        tokio::time::timeout(Duration::from_secs(1), probe)
            .await
            .is_err()
    );
    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
    let third = svc.ready().await.unwrap().call(());
    assert_eq!(b.metrics().probes_in_flight, 1);
    drop(third);
    assert_eq!(b.metrics().probes_in_flight, 0);
}

/// A service whose readiness the test controls.
#[derive(Clone, Debug)]
struct Gate {
    ready: Result<bool, &'static str>,
    calls: Arc<AtomicU32>,
}

impl Service<()> for Gate {
    type Response = ();
    type Error = &'static str;
    type Future = std::future::Ready<Result<(), &'static str>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.ready {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(()))
    }
}

#[tokio::test(start_paused = true)]
async fn poll_ready_is_the_inner_services() {
    let b = breaker(1);
    let calls = Arc::new(AtomicU32::new(0));
    let noop = std::task::Waker::noop();
    let mut cx = Context::from_waker(noop);

    let mut pending = CircuitBreakerService::new(
        Gate {
            ready: Ok(false),
            calls: Arc::clone(&calls),
        },
        b.clone(),
    );
    assert!(pending.poll_ready(&mut cx).is_pending());

    let mut broken = CircuitBreakerService::new(
        Gate {
            ready: Err("overloaded"),
            calls: Arc::clone(&calls),
        },
        b.clone(),
    );
    assert_eq!(
        broken.poll_ready(&mut cx),
        Poll::Ready(Err(Error::Inner("overloaded")))
    );
    // readiness errors are not calls: nothing was counted, nothing tripped
    let m = b.metrics();
    assert_eq!((m.state, m.consecutive_failures), (State::Closed, 0));

    let mut ready = CircuitBreakerService::new(
        Gate {
            ready: Ok(true),
            calls: Arc::clone(&calls),
        },
        b.clone(),
    );
    assert_eq!(ready.poll_ready(&mut cx), Poll::Ready(Ok(())));
    assert_eq!(ready.call(()).await, Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn services_from_one_layer_share_the_breaker() {
    let calls = Arc::new(AtomicU32::new(0));
    let layer = CircuitBreakerLayer::new(breaker(1));
    let a = layer.layer(echo(&calls));
    let c = layer.clone().layer(echo(&calls));
    assert!(a.oneshot(500).await.is_err());
    assert!(matches!(c.oneshot(200).await, Err(Error::Rejected(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.breaker().state(), State::Open);
}

#[test]
fn response_future_is_send_for_send_inner_futures() {
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let inner = service_fn(|code: u16| async move { Ok::<u16, String>(code) });
    let mut svc = CircuitBreakerLayer::new(breaker(1)).layer(inner);
    let fut = svc.call(200);
    send(&fut);
    send(&svc);
    assert_eq!(rt.block_on(fut), Ok(200));
}
