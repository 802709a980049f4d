//! The retry, timeout and fallback tower layers, alone and stacked in the
//! default order, on tokio's paused clock (`TokioClock` as the runtime).

use std::future::pending;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};
use failsafe_core::retry::{
    BackoffKind, GiveUp, Jitter, NoBudget, RetryConfig, TokenQuota, Verdict,
};
use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutEvent, TimeoutMode};
use failsafe_driver::{Clock, Error, RetryError, RetryOnFailsafeError};
use failsafe_tokio::TokioClock;
use failsafe_tower::{FallbackLayer, FallbackRequest, RequestDeadline, RetryLayer, TimeoutLayer};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

type RetryPolicy<B = NoBudget> = failsafe_driver::RetryPolicy<B, TokioClock>;
type TimeoutPolicy = failsafe_driver::TimeoutPolicy<TokioClock>;
type Fallback = failsafe_driver::Fallback<TokioClock>;

/// A request that carries its deadline.
#[derive(Clone, Debug, PartialEq)]
struct Call {
    id: u32,
    deadline: Deadline,
}

impl Call {
    fn new(id: u32) -> Self {
        Call {
            id,
            deadline: Deadline::NEVER,
        }
    }
}

/// Reads and writes [`Call::deadline`].
#[derive(Clone, Copy, Debug)]
struct InCall;

impl RequestDeadline<Call> for InCall {
    fn deadline(&self, call: &Call) -> Deadline {
        call.deadline
    }
    fn set_deadline(&self, call: &mut Call, deadline: Deadline) {
        call.deadline = deadline;
    }
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn constant(attempts: u32, ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn timeout_ms(ms: u64) -> TimeoutConfig {
    TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
}

/// Fails the first `failures` calls, then answers with the call's id;
/// counts calls and `poll_ready`s.
#[derive(Clone)]
struct Flaky {
    failures: u32,
    calls: Arc<AtomicU32>,
    readies: Arc<AtomicU32>,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Flaky {
            failures,
            calls: Arc::default(),
            readies: Arc::default(),
        }
    }
}

impl Service<Call> for Flaky {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.readies.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: Call) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n < self.failures {
            Err("flaky")
        } else {
            Ok(call.id)
        })
    }
}

#[tokio::test(start_paused = true)]
async fn retry_layer_resends_a_clone_of_the_request_after_the_backoff() {
    let flaky = Flaky::new(2);
    let svc = RetryLayer::new(RetryPolicy::new(constant(5, 100))).layer(flaky.clone());
    let started = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(Call::new(42)).await, Ok(42));
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);
    // oneshot readies the service once; the retry readies it before each resend
    assert_eq!(flaky.readies.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_layer_gives_up_with_the_reason_and_the_last_error() {
    let svc = RetryLayer::new(RetryPolicy::new(constant(3, 10))).layer(Flaky::new(u32::MAX));
    assert_eq!(
        svc.oneshot(Call::new(1)).await,
        Err(RetryError {
            reason: GiveUp::Attempts,
            attempts: 3,
            last: Some("flaky")
        })
    );
}

#[tokio::test(start_paused = true)]
async fn retry_layer_services_share_one_budget() {
    // 5 tokens, a retry costs 5: one retry for all services of the layer
    let layer = RetryLayer::new(
        RetryPolicy::new(constant(10, 10)).budget(TokenQuota::new(5, 5, 5, 5, 0).unwrap()),
    );
    let a = layer.layer(Flaky::new(u32::MAX));
    let b = layer.layer(Flaky::new(u32::MAX));
    let ea = a.oneshot(Call::new(1)).await.unwrap_err();
    assert_eq!((ea.reason, ea.attempts), (GiveUp::Budget, 2));
    let eb = b.oneshot(Call::new(1)).await.unwrap_err();
    assert_eq!((eb.reason, eb.attempts), (GiveUp::Budget, 1));
}

#[tokio::test(start_paused = true)]
async fn retry_layer_classifier_retries_an_ok_503_and_honours_the_request_deadline() {
    let clock = TokioClock::new();
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let always_503 = service_fn(move |_: Call| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<u16, ()>(503) }
    });
    let by_status = |r: &Result<u16, ()>| match r {
        Ok(503) => Verdict::retry(),
        Ok(_) => Verdict::Success,
        Err(()) => Verdict::DoNotRetry,
    };
    let svc = RetryLayer::new(RetryPolicy::with_runtime(constant(10, 100), clock))
        .with_classifier(by_status)
        .with_request_deadline(InCall)
        .layer(always_503);
    let call = Call {
        id: 1,
        deadline: Deadline::after(clock.now(), Duration::from_millis(250)),
    };
    // attempts at 0, 100, 200; a retry at 300 would be past the deadline:
    // the last response is still the best answer there is
    assert_eq!(svc.oneshot(call).await, Ok(503));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(clock.now(), Instant::from_millis(200));
}

/// A first attempt that runs before its plan is made (no deadline, no
/// budget, nobody listening) and one run under the plan from the start (a
/// deadline far away) retry alike: the same jittered delays from the same
/// seed, the same attempts, the same answer.
#[tokio::test(start_paused = true)]
async fn a_first_attempt_run_alone_retries_as_one_run_under_its_plan() {
    let jittered = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Exponential {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_secs(10),
        })
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let clock = TokioClock::new();
    let mut runs = Vec::new();
    for deadline in [
        Deadline::NEVER,
        Deadline::after(clock.now(), Duration::from_secs(3600)),
    ] {
        let flaky = Flaky::new(3);
        let policy = RetryPolicy::with_runtime(jittered, clock).seed(7);
        let mut svc = RetryLayer::new(policy)
            .with_request_deadline(InCall)
            .layer(flaky.clone());
        let started = clock.now();
        let call = svc.ready().await.unwrap().call(Call { id: 9, deadline });
        let alone = format!("{call:?}").contains("first_attempt_alone: true");
        let answer = call.await;
        let took = clock.now().saturating_duration_since(started);
        runs.push((alone, answer, took, flaky.calls.load(Ordering::SeqCst)));
    }
    // the first ran alone, the second under its plan
    assert!(runs[0].0 && !runs[1].0);
    runs[1].0 = true;
    assert_eq!(runs[0].1, Ok(9));
    assert_eq!(runs[0].3, 4);
    assert!(
        runs[0].2 > Duration::ZERO,
        "three jittered backoffs: {:?}",
        runs[0].2
    );
    assert_eq!(runs[0], runs[1]);
}

/// The classifier's word on a first attempt run alone: an `Ok(503)` is
/// retried, an error not to retry ends the call at once, a success answers.
#[tokio::test(start_paused = true)]
async fn a_first_attempt_run_alone_is_judged_by_the_classifier() {
    let answers = Arc::new(Mutex::new(vec![Ok(200), Ok(503), Err(()), Ok(503)]));
    let next = Arc::clone(&answers);
    let scripted = service_fn(move |_: Call| {
        let answer = next.lock().unwrap().pop().unwrap_or(Ok(200));
        async move { answer }
    });
    let by_status = |r: &Result<u16, ()>| match r {
        Ok(503) => Verdict::retry(),
        Ok(_) => Verdict::Success,
        Err(()) => Verdict::DoNotRetry,
    };
    let svc = RetryLayer::new(RetryPolicy::new(constant(5, 10)))
        .with_classifier(by_status)
        .layer(scripted);
    // 503, then an error not to retry: given up after two attempts
    let gave_up = svc.clone().oneshot(Call::new(1)).await.unwrap_err();
    assert_eq!(
        (gave_up.reason, gave_up.attempts, gave_up.last),
        (GiveUp::NotRetryable, 2, Some(()))
    );
    // 503, then 200
    assert_eq!(svc.clone().oneshot(Call::new(2)).await, Ok(200));
    // an error not to retry at once: one attempt, its error
    answers.lock().unwrap().push(Err(()));
    let at_once = svc.clone().oneshot(Call::new(3)).await.unwrap_err();
    assert_eq!(
        (at_once.reason, at_once.attempts, at_once.last),
        (GiveUp::NotRetryable, 1, Some(()))
    );
    // a success at once
    assert_eq!(svc.oneshot(Call::new(4)).await, Ok(200));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_retry_layer_future_stops_retrying() {
    let flaky = Flaky::new(u32::MAX);
    let svc = RetryLayer::new(RetryPolicy::new(constant(100, 100))).layer(flaky.clone());
    let running = svc.oneshot(Call::new(1));
    assert!(
        tokio::time::timeout(Duration::from_millis(150), running)
            .await
            .is_err()
    );
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(flaky.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn timeout_layer_drops_a_hanging_call_and_hands_the_earlier_deadline_down() {
    let clock = TokioClock::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let hanging = service_fn(move |call: Call| {
        log.lock().unwrap().push(call.deadline);
        let guard = DropFlag(Arc::clone(&flag));
        async move {
            let _guard = guard;
            pending::<Result<u32, ()>>().await
        }
    });
    let svc = TimeoutLayer::new(TimeoutPolicy::with_runtime(timeout_ms(1_000), clock))
        .with_parent(Deadline::after(clock.now(), Duration::from_secs(10)))
        .with_request_deadline(InCall)
        .layer(hanging);

    // the layer's own 1 s binds
    let r = svc.clone().oneshot(Call::new(1)).await;
    let one_second = Deadline::at(Instant::from_secs(1));
    assert_eq!(r, Err(Error::Timeout(one_second)));
    assert!(dropped.swap(false, Ordering::SeqCst));

    // the request's 300 ms binds (at t=1s), and the inner service is told
    let early = Deadline::after(clock.now(), Duration::from_millis(300));
    let r = svc
        .oneshot(Call {
            id: 2,
            deadline: early,
        })
        .await;
    assert_eq!(r, Err(Error::Timeout(early)));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(*seen.lock().unwrap(), [one_second, early]);
    assert_eq!(clock.now(), Instant::from_millis(1_300));
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_layer_returns_the_late_response_and_reports_it() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let policy = TimeoutPolicy::new(timeout_ms(100).mode(TimeoutMode::Soft))
        .on_event(move |e| sink.lock().unwrap().push(e));
    let slow = service_fn(|_: ()| async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        Ok::<_, ()>("late")
    });
    let svc = TimeoutLayer::new(policy).layer(slow);
    assert_eq!(svc.oneshot(()).await, Ok("late"));
    assert!(matches!(
        events.lock().unwrap()[..],
        [TimeoutEvent::Expired {
            mode: TimeoutMode::Soft,
            ..
        }]
    ));
}

#[tokio::test(start_paused = true)]
async fn stacked_timeout_retry_timeout_layers_bound_each_attempt_by_the_overall_deadline() {
    let clock = TokioClock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let attempts = Arc::new(AtomicU32::new(0));
    let service = service_fn(move |call: Call| {
        log.lock().unwrap().push((clock.now(), call.deadline));
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < 2 {
                pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, &str>(call.id)
        }
    });
    let svc = ServiceBuilder::new()
        .layer(
            TimeoutLayer::new(TimeoutPolicy::with_runtime(timeout_ms(1_000), clock))
                .with_request_deadline(InCall),
        )
        .layer(
            RetryLayer::new(RetryPolicy::with_runtime(constant(5, 100), clock))
                .with_classifier(RetryOnFailsafeError)
                .with_request_deadline(InCall),
        )
        .layer(
            TimeoutLayer::new(TimeoutPolicy::with_runtime(timeout_ms(300), clock))
                .with_request_deadline(InCall),
        )
        .service(service);

    assert_eq!(svc.oneshot(Call::new(9)).await, Ok(9));
    let at = Instant::from_millis;
    let by = |ms| Deadline::at(Instant::from_millis(ms));
    // per attempt: 300 ms, but never past the overall deadline at 1000
    assert_eq!(
        *seen.lock().unwrap(),
        [(at(0), by(300)), (at(400), by(700)), (at(800), by(1_000))]
    );
    assert_eq!(clock.now(), at(850));
}

type Failure = Error<&'static str>;

#[tokio::test(start_paused = true)]
async fn fallback_layers_form_a_chain_and_see_the_request_and_the_reason() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let fallback = Fallback::new().on_event(move |e| {
        if let FallbackEvent::FellBack { reason, index, .. } = e {
            sink.lock().unwrap().push((reason, index));
        }
    });
    let primary =
        service_fn(|_: u32| async { Err::<String, Failure>(Error::Inner("primary down")) });
    let replica = service_fn(|f: FallbackRequest<u32, Failure>| async move {
        assert_eq!(f.error, Error::Inner("primary down"));
        assert_eq!(f.reason, FallbackReason::Failed);
        Err::<String, _>(Error::Inner("replica down"))
    });
    let cache = service_fn(|f: FallbackRequest<u32, Failure>| async move {
        assert_eq!(f.error, Error::Inner("replica down"));
        Ok::<_, Failure>(format!("cached #{}", f.request))
    });
    let svc = ServiceBuilder::new()
        .layer(FallbackLayer::new(fallback.clone(), cache).with_index(1))
        .layer(FallbackLayer::new(fallback, replica))
        .service(primary);
    assert_eq!(svc.oneshot(7).await, Ok("cached #7".to_string()));
    assert_eq!(
        *events.lock().unwrap(),
        [(FallbackReason::Failed, 0), (FallbackReason::Failed, 1)]
    );
}

#[tokio::test(start_paused = true)]
async fn fallback_layer_leaves_successes_and_refused_reasons_alone() {
    let called = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&called);
    let alternative = service_fn(move |_: FallbackRequest<u32, Failure>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<u32, Failure>(0) }
    });
    let only_timeouts = Fallback::new().policy(FallbackPolicy::NONE.on_timed_out(true));
    let layer = FallbackLayer::new(only_timeouts, alternative);

    let ok = layer.layer(service_fn(|n: u32| async move { Ok::<_, Failure>(n) }));
    assert_eq!(ok.oneshot(5).await, Ok(5));
    let failing = layer.layer(service_fn(|_: u32| async {
        Err::<u32, _>(Error::Inner("bad"))
    }));
    assert_eq!(failing.oneshot(5).await, Err(Error::Inner("bad")));
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn fallback_layer_over_a_retry_layer_sees_the_give_up() {
    type GaveUp = RetryError<&'static str>;
    let alternative = service_fn(|f: FallbackRequest<Call, GaveUp>| async move {
        assert_eq!(f.reason, FallbackReason::GaveUp(GiveUp::Attempts));
        assert_eq!((f.error.attempts, f.error.last), (2, Some("flaky")));
        Ok::<u32, GaveUp>(f.request.id + 1000)
    });
    let svc = ServiceBuilder::new()
        .layer(FallbackLayer::new(Fallback::new(), alternative))
        .layer(RetryLayer::new(RetryPolicy::new(constant(2, 10))))
        .service(Flaky::new(u32::MAX));
    assert_eq!(svc.oneshot(Call::new(1)).await, Ok(1001));
}

#[test]
fn layer_futures_and_services_are_send_for_send_parts() {
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut retry =
        RetryLayer::new(RetryPolicy::new(constant(2, 1)).budget(TokenQuota::AWS_STANDARD))
            .layer(Flaky::new(0));
    send(&retry);
    send(&retry.call(Call::new(1)));
    let mut timeout = TimeoutLayer::new(TimeoutPolicy::new(timeout_ms(10))).layer(Flaky::new(0));
    send(&timeout);
    send(&timeout.call(Call::new(1)));
    let alternative = service_fn(
        |f: FallbackRequest<Call, RetryError<&'static str>>| async move {
            Ok::<u32, RetryError<&'static str>>(f.request.id)
        },
    );
    let mut fallback = FallbackLayer::new(Fallback::new(), alternative).layer(retry);
    send(&fallback);
    send(&fallback.call(Call::new(1)));
}

/// Fails its first call, then reports itself broken from `poll_ready`.
#[derive(Clone, Debug, Default)]
struct BreaksAfterOneCall {
    calls: Arc<AtomicU32>,
}

impl Service<Call> for BreaksAfterOneCall {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(if self.calls.load(Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            Err("broken")
        })
    }

    fn call(&mut self, _: Call) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err("flaky"))
    }
}

#[tokio::test(start_paused = true)]
async fn retry_layer_stops_when_the_service_cannot_become_ready() {
    let inner = BreaksAfterOneCall::default();
    let mut svc = RetryLayer::new(RetryPolicy::new(constant(5, 10))).layer(inner.clone());
    let e = svc
        .ready()
        .await
        .unwrap()
        .call(Call::new(1))
        .await
        .unwrap_err();
    // the retry found the service broken: no second call, the readiness error
    assert_eq!(
        e,
        RetryError {
            reason: GiveUp::NotRetryable,
            attempts: 2,
            last: Some("broken")
        }
    );
    assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    // and the service's own poll_ready reports it without any attempt
    let e = svc.ready().await.unwrap_err();
    assert_eq!(
        (e.reason, e.attempts, e.last),
        (GiveUp::NotRetryable, 0, Some("broken"))
    );
}
