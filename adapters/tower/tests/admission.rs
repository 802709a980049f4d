//! The admission layer on tokio's paused clock, for the circuit breaker,
//! fail fast and bulkhead: requests go through the machine, the decision
//! is taken in `poll_ready` before the inner service is polled, rejections
//! come back at once without calling the inner service, and a permit is
//! handed back exactly once (with the outcome, or as cancelled).

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::failfast::{FailFastConfig, OpenCause, State as FailFastState};
use failsafe_core::rate::Quota;
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, Error, FailFastPolicy, RateLimiterPolicy,
    TimeoutPolicy,
};
use failsafe_tokio::TokioClock;
use failsafe_tower::{
    AdmissionLayer, BulkheadLayer, CircuitBreakerLayer, FailFastLayer, RequestDeadline,
    TimeoutLayer,
};
use tokio::time::advance;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const OPEN_WAIT: Duration = Duration::from_secs(10);

type Breaker = CircuitBreakerPolicy<NoWindow, TokioClock>;
type FailFast = FailFastPolicy<TokioClock>;
type Bulkhead = BulkheadPolicy<4, failsafe_core::bulkhead::FixedLimit, TokioClock>;

fn breaker(failures: u32) -> Breaker {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .build()
        .unwrap();
    CircuitBreakerPolicy::new(config, NoWindow)
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

#[derive(Default)]
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountWakes {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Polls a future once with a no-op waker.
fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

// ---- circuit breaker ----

#[tokio::test(start_paused = true)]
async fn breaker_layer_trips_rejects_without_calling_and_recovers() {
    let calls = Arc::new(AtomicU32::new(0));
    let b = breaker(2);
    let svc = CircuitBreakerLayer::from_policy(&b).layer(echo(&calls));

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
async fn breaker_layer_classifier_counts_ok_503_as_failure() {
    let b = breaker(2);
    let ok_with_status = service_fn(|code: u16| async move { Ok::<u16, Infallible>(code) });
    let svc = CircuitBreakerLayer::from_policy(&b)
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
    let mut svc = CircuitBreakerLayer::from_policy(&b).layer(hang);
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

/// A service whose readiness the test controls, counting its readiness
/// polls and its calls.
#[derive(Clone, Debug)]
struct Gate {
    ready: Result<bool, &'static str>,
    polled: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
}

impl Gate {
    fn new(ready: Result<bool, &'static str>) -> Self {
        Gate {
            ready,
            polled: Arc::default(),
            calls: Arc::default(),
        }
    }
}

impl Service<()> for Gate {
    type Response = ();
    type Error = &'static str;
    type Future = std::future::Ready<Result<(), &'static str>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.polled.fetch_add(1, Ordering::SeqCst);
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
async fn poll_ready_asks_the_machine_first_then_the_inner_service() {
    let b = breaker(1);
    let cx = &mut Context::from_waker(Waker::noop());
    let layer = CircuitBreakerLayer::from_policy(&b);

    // admitted: the inner service's readiness is the answer
    let mut pending = layer.layer(Gate::new(Ok(false)));
    assert!(pending.poll_ready(cx).is_pending());
    let mut broken = layer.layer(Gate::new(Err("overloaded")));
    assert_eq!(
        broken.poll_ready(cx),
        Poll::Ready(Err(Error::Inner("overloaded")))
    );
    // readiness errors are not calls: nothing was counted, nothing tripped
    let m = b.metrics();
    assert_eq!((m.state, m.consecutive_failures), (State::Closed, 0));
    drop(pending);

    let gate = Gate::new(Ok(true));
    let mut ready = layer.layer(gate.clone());
    assert_eq!(ready.poll_ready(cx), Poll::Ready(Ok(())));
    assert_eq!(ready.call(()).await, Ok(()));
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);

    // rejected: the inner service is not even polled, and the rejection
    // comes from the response future, ready at once
    b.force_open();
    let never_ready = Gate::new(Ok(false));
    let mut svc = layer.layer(never_ready.clone());
    assert_eq!(svc.poll_ready(cx), Poll::Ready(Ok(())));
    assert_eq!(never_ready.polled.load(Ordering::SeqCst), 0);
    let r = poll_once(svc.call(())).expect("ready at once");
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BreakerForcedOpen
    );
    assert_eq!(never_ready.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn services_from_one_layer_share_the_breaker() {
    let calls = Arc::new(AtomicU32::new(0));
    let b = breaker(1);
    let layer = CircuitBreakerLayer::from_policy(&b);
    let a = layer.layer(echo(&calls));
    let c = layer.clone().layer(echo(&calls));
    assert!(a.oneshot(500).await.is_err());
    assert!(matches!(c.oneshot(200).await, Err(Error::Rejected(_))));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn response_futures_and_services_are_send_for_send_parts() {
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let inner = service_fn(|code: u16| async move { Ok::<u16, String>(code) });
    let mut svc = CircuitBreakerLayer::from_policy(&breaker(1)).layer(inner);
    let fut = svc.call(200); // no poll_ready: decided at once
    send(&fut);
    send(&svc);
    assert_eq!(rt.block_on(fut), Ok(200));
    let mut ff = FailFastLayer::from_policy(&FailFast::new(ff_config(1)))
        .with_request_deadline(|_: &()| Deadline::NEVER)
        .layer(service_fn(|(): ()| async { Ok::<_, ()>(()) }));
    let fut = ff.call(());
    send(&fut);
    send(&ff);
    assert_eq!(rt.block_on(fut), Ok(()));
}

// ---- fail fast ----

fn ff_config(failures: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(failures)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn fail_fast_layer_rejects_at_once_without_calling_the_inner_service() {
    let ff = FailFast::new(ff_config(2));
    let calls = Arc::new(AtomicU32::new(0));
    let svc = FailFastLayer::from_policy(&ff).layer(echo(&calls));
    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    for _ in 0..2 {
        assert_eq!(
            svc.clone().oneshot(500).await,
            Err(Error::Inner("status 500".to_string()))
        );
    }
    assert_eq!(ff.state(), FailFastState::Open);
    assert_eq!(
        ff.metrics().open_cause,
        Some(OpenCause::ConsecutiveFailures)
    );
    // the rejection is ready on the first poll: no inner call, no waiting
    let mut svc2 = svc.clone();
    let fut = svc2.ready().await.unwrap().call(200);
    let r = poll_once(fut).expect("ready at once");
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::FailFastOpen
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    ff.report_healthy();
    assert_eq!(svc.oneshot(201).await, Ok(201));
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
async fn fail_fast_layer_rejects_a_request_whose_deadline_cannot_cover_the_call() {
    let clock = TokioClock::new();
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(80))
        .build()
        .unwrap();
    let ff = FailFast::with_runtime(config, clock);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let calls = Arc::clone(&calls);
        move |_: Req| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, &str>("done") }
        }
    });
    let svc = FailFastLayer::from_policy(&ff)
        .with_request_deadline(InReq)
        .layer(inner.clone());
    let now = clock.now();
    let tight = Req {
        deadline: Deadline::after(now, Duration::from_millis(79)),
    };
    let r = svc.clone().oneshot(tight).await.unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    let roomy = Req {
        deadline: Deadline::after(now, Duration::from_millis(80)),
    };
    assert_eq!(svc.clone().oneshot(roomy).await, Ok("done"));

    // Inside a timeout layer that writes its deadline into the request: a
    // 50 ms timeout can never fit an 80 ms call, so nothing is called.
    let timeout = TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_millis(50)).unwrap(),
        clock,
    );
    let stacked = TimeoutLayer::new(timeout)
        .with_request_deadline(InReq)
        .layer(
            FailFastLayer::from_policy(&ff)
                .with_request_deadline(InReq)
                .layer(inner),
        );
    let r = stacked
        .oneshot(Req {
            deadline: Deadline::NEVER,
        })
        .await;
    let r = r.map_err(Error::flatten).unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(ff.metrics().rejected_deadline, 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_fail_fast_layer_future_is_cancelled() {
    let ff = FailFast::new(ff_config(1));
    let mut svc = FailFastLayer::from_policy(&ff).layer(service_fn(|(): ()| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
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

// ---- bulkhead ----

fn bulkhead(limit: u32, max_wait: Duration) -> Bulkhead {
    BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(max_wait)
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn bulkhead_poll_ready_waits_until_a_slot_frees_then_dropping_the_response_releases() {
    let bulkhead = bulkhead(1, Duration::from_secs(60));
    let inner = service_fn(|n: u32| async move {
        std::future::pending::<()>().await; // never answers: only dropping ends it
        Ok::<_, ()>(n)
    });
    let layer = BulkheadLayer::from_policy(&bulkhead);
    let mut first = layer.layer(inner);
    let mut second = first.clone();

    // the first service takes the only slot; its response future holds it
    first.ready().await.unwrap();
    let response = first.call(1);
    assert_eq!(bulkhead.in_flight(), 1);

    // the second waits in poll_ready, woken when the slot comes back
    let wakes = Arc::new(CountWakes::default());
    let waker = Waker::from(wakes.clone());
    let cx = &mut Context::from_waker(&waker);
    assert!(Service::<u32>::poll_ready(&mut second, cx).is_pending());
    assert!(Service::<u32>::poll_ready(&mut second, cx).is_pending());
    assert_eq!(bulkhead.queued(), 1);
    assert_eq!(wakes.count(), 0);

    drop(response); // the first call is abandoned: its slot goes to the waiter
    assert_eq!(wakes.count(), 1, "the waiting service was woken");
    assert!(matches!(
        Service::<u32>::poll_ready(&mut second, cx),
        Poll::Ready(Ok(()))
    ));
    let response = second.call(2);
    assert_eq!(bulkhead.in_flight(), 1);
    drop(response);
    let m = bulkhead.metrics();
    assert_eq!(
        (m.in_flight, m.queued, m.acquired, m.released),
        (0, 0, 2, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn bulkhead_rejections_come_from_the_response_future() {
    let bulkhead = bulkhead(1, Duration::from_millis(40));
    let called = Arc::new(AtomicU32::new(0));
    let inner = {
        let called = called.clone();
        service_fn(move |n: u32| {
            called.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, ()>(n) }
        })
    };
    let mut svc = BulkheadLayer::from_policy(&bulkhead).layer(inner);
    let held = bulkhead.try_acquire().unwrap();
    let start = bulkhead.runtime().now();
    // poll_ready waits 40 ms on its timer, then is ready with a rejection
    svc.ready().await.unwrap();
    assert_eq!(bulkhead.runtime().now(), start + Duration::from_millis(40));
    let r = svc.call(7).await.unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    assert_eq!(
        called.load(Ordering::SeqCst),
        0,
        "the inner service was not called"
    );
    held.finish(Outcome::Success);
    // the service is still usable
    assert_eq!(svc.ready().await.unwrap().call(8).await, Ok(8));
    assert_eq!(called.load(Ordering::SeqCst), 1);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_service_dropped_while_waiting_or_holding_gives_up_its_slot() {
    let bulkhead = bulkhead(1, Duration::from_secs(60));
    let layer = BulkheadLayer::from_policy(&bulkhead);
    let svc = layer.layer(service_fn(|n: u32| async move { Ok::<_, ()>(n) }));

    let mut holding = svc.clone();
    holding.ready().await.unwrap(); // holds the slot for a call that never comes
    let mut waiting = svc.clone();
    let cx = &mut Context::from_waker(Waker::noop());
    assert!(Service::<u32>::poll_ready(&mut waiting, cx).is_pending());
    assert_eq!((bulkhead.in_flight(), bulkhead.queued()), (1, 1));

    drop(holding); // its slot goes to the waiting service ...
    assert_eq!((bulkhead.in_flight(), bulkhead.queued()), (1, 0));
    drop(waiting); // ... which is dropped before using it
    assert_eq!(bulkhead.in_flight(), 0);
    assert_eq!(svc.oneshot(3).await, Ok(3));
}

/// Issue 9: a rate-limit layer in front of a bulkhead layer took the
/// bulkhead's slot for 258 of 260 rejected requests. A rejected request
/// now never reaches the layers inside.
#[tokio::test(start_paused = true)]
async fn a_request_rejected_outside_never_takes_a_slot_inside() {
    let limiter: RateLimiterPolicy<TokioClock> =
        RateLimiterPolicy::new(Quota::per_second(1).unwrap().with_burst(2).unwrap());
    let bulkhead = bulkhead(1, Duration::from_secs(60));
    let calls = Arc::new(AtomicU32::new(0));
    let svc = ServiceBuilder::new()
        .map_err(Error::flatten)
        .layer(AdmissionLayer::from_policy(&limiter).with_max_wait(Duration::ZERO))
        .layer(BulkheadLayer::from_policy(&bulkhead))
        .service(echo(&calls));
    let mut outcomes = Vec::new();
    for _ in 0..260 {
        outcomes.push(svc.clone().oneshot(200).await.map_err(|e| e.is_rejected()));
    }
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 2);
    assert_eq!(outcomes.iter().filter(|r| *r == &Err(true)).count(), 258);
    let m = bulkhead.metrics();
    assert_eq!((m.acquired, m.released, m.in_flight), (2, 2, 0));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_layer_hands_each_slot_back_with_the_classified_outcome() {
    let bulkhead = bulkhead(2, Duration::ZERO);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    // every Ok(503) is reported as a failure, the caller still gets it
    let svc = BulkheadLayer::from_policy(&bulkhead)
        .with_classifier(move |r: &Result<u16, ()>| {
            let outcome = match r {
                Ok(503) | Err(()) => Outcome::Failure,
                Ok(_) => Outcome::Success,
            };
            log.lock().unwrap().push(outcome);
            outcome
        })
        .layer(service_fn(|code: u16| async move { Ok::<_, ()>(code) }));
    assert_eq!(svc.clone().oneshot(503).await, Ok(503));
    assert_eq!(svc.oneshot(200).await, Ok(200));
    assert_eq!(*seen.lock().unwrap(), [Outcome::Failure, Outcome::Success]);
    assert_eq!(bulkhead.metrics().released, 2);
}
