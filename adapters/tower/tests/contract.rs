//! What every layer's service and future owe their caller, whatever the
//! layer: a future polled again after its answer stays pending (it neither
//! panics nor polls a finished inner future again); a rejection decided
//! while the task's cooperative budget is spent is decided once; a retry
//! is not sent past its request's deadline; the longest durations and
//! deadlines never panic. A new layer adds its future to these checks.

use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::cache::{Cache, CacheConfig};
use failsafe_core::fallback::FallbackPolicy;
use failsafe_driver::cache::WithWaiters;
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Error, Pipeline, SharedCache, StdLock,
};
use failsafe_tokio::TokioClock;
use failsafe_tower::{
    BulkheadLayer, CacheLayer, ChaosLayer, CircuitBreakerLayer, FallbackLayer, FallbackRequest,
    PipelineLayer,
};
use tower::{Layer, Service, ServiceExt, service_fn};

type Breaker = CircuitBreakerPolicy<NoWindow, TokioClock>;
type Bulkhead = BulkheadPolicy<4, failsafe_core::bulkhead::FixedLimit, TokioClock>;

fn breaker() -> Breaker {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    CircuitBreakerPolicy::new(config, NoWindow)
}

fn bulkhead(limit: u32, max_wait: Duration) -> Bulkhead {
    BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(max_wait)
            .build()
            .unwrap(),
    )
}

/// A future that answers `value` at every poll: it can be polled after it
/// answered, so a panic on a second poll is the wrapper's own.
#[derive(Clone, Debug)]
struct Always<T>(T);

impl<T: Clone + Unpin> Future for Always<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        Poll::Ready(self.0.clone())
    }
}

/// A service whose every future is an [`Always`].
#[derive(Clone, Debug)]
struct AlwaysSvc<A, B>(Result<A, B>);

impl<A: Clone + Unpin, B: Clone + Unpin> Service<u32> for AlwaysSvc<A, B> {
    type Response = A;
    type Error = B;
    type Future = Always<Result<A, B>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), B>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u32) -> Self::Future {
        Always(self.0.clone())
    }
}

/// Polls `fut` until it answers, then polls it once more; `Err` with the
/// panic message if that second poll panicked.
async fn poll_after_ready<F: Future>(fut: F) -> Result<(), String> {
    let mut fut = pin!(fut);
    poll_fn(|cx| fut.as_mut().poll(cx).map(|_| ())).await;
    let cx = &mut Context::from_waker(Waker::noop());
    match catch_unwind(AssertUnwindSafe(|| {
        let _ = fut.as_mut().poll(cx);
    })) {
        Ok(()) => Ok(()),
        Err(panic) => Err(panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default()),
    }
}

// ---- poll after Ready ----

#[tokio::test(start_paused = true)]
async fn admission_response_future_polled_after_ready_does_not_panic() {
    let b = breaker();
    let mut svc = CircuitBreakerLayer::from_policy(&b).layer(AlwaysSvc(Ok::<u32, ()>(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
    // the rejected path too
    b.force_open();
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn fallback_future_polled_after_ready_does_not_panic() {
    // The policy refuses every reason: the primary's error is the answer.
    let fallback =
        failsafe_driver::Fallback::with_runtime(TokioClock::new()).policy(FallbackPolicy::NONE);
    let alternative =
        service_fn(|_: FallbackRequest<u32, Error<&'static str>>| async { Ok::<u32, _>(0) });
    let mut svc = FallbackLayer::new(fallback, alternative)
        .layer(AlwaysSvc(Err::<u32, _>(Error::Inner("down"))));
    let fut = svc.ready().await.unwrap().call(7);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn pipeline_future_polled_after_ready_does_not_panic() {
    let pipeline = Pipeline::new(TokioClock);
    let mut svc = PipelineLayer::new(pipeline).layer(AlwaysSvc(Ok::<u32, &'static str>(1)));
    let fut = svc.ready().await.unwrap().call(7u32);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn cache_load_future_polled_after_ready_does_not_panic() {
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(30))
        .build()
        .unwrap();
    let store: WithWaiters<Cache<u32, u32, 16>, 4> = WithWaiters::new(Cache::new(config, 1));
    let cache = SharedCache::new(StdLock::new(store), TokioClock);
    let mut svc =
        CacheLayer::new(cache, |id: &u32| Some(*id)).layer(AlwaysSvc(Ok::<u32, String>(5)));
    // a miss: the load's future
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

/// An inner service answering with `std::future::Ready`, which (as an
/// `async fn`'s future) panics if polled after it answered.
fn ready_svc(
    answer: Result<u32, Error<&'static str>>,
) -> impl Service<
    u32,
    Response = u32,
    Error = Error<&'static str>,
    Future = std::future::Ready<Result<u32, Error<&'static str>>>,
> + Clone {
    service_fn(move |_: u32| std::future::ready(answer))
}

#[tokio::test(start_paused = true)]
async fn chaos_future_does_not_poll_its_finished_call_again() {
    let latency = Duration::from_millis(10);
    let config = ChaosConfig::builder()
        .latency(Rate::ALWAYS, latency, latency, Schedule::Always)
        .build()
        .unwrap();
    let policy = ChaosPolicy::new(Chaos::new(config), || Error::Inner("x"), || Ok(503)).seed(1);
    let mut svc = ChaosLayer::new(policy, TokioClock).layer(ready_svc(Ok(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn fallback_future_does_not_poll_a_finished_primary_or_alternative_again() {
    let alternative = service_fn(|_: FallbackRequest<u32, Error<&'static str>>| {
        std::future::ready(Ok::<u32, Error<&'static str>>(0))
    });
    let layer = FallbackLayer::new(
        failsafe_driver::Fallback::with_runtime(TokioClock),
        alternative,
    );
    // the primary answered
    let mut svc = layer.clone().layer(ready_svc(Ok(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()), "primary path");
    // the alternative answered
    let mut svc = layer.layer(ready_svc(Err(Error::Inner("down"))));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()), "alternative path");
}

#[tokio::test(start_paused = true)]
async fn cache_pass_through_future_does_not_poll_its_finished_call_again() {
    let store: WithWaiters<Cache<u32, u32, 16>, 4> =
        WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 1));
    let cache = SharedCache::new(StdLock::new(store), TokioClock);
    // nothing is cacheable: every request passes through
    let mut svc = CacheLayer::new(cache, |_: &u32| None).layer(ready_svc(Ok(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()));
}

// ---- a rejection decided twice when the coop budget is spent ----

/// Spends the task's whole tokio coop budget (as 128 earlier polls of
/// tokio resources in this task would have).
fn exhaust_budget(cx: &mut Context<'_>) {
    for _ in 0..10_000 {
        match tokio::task::coop::poll_proceed(cx) {
            Poll::Ready(progress) => progress.made_progress(),
            Poll::Pending => return,
        }
    }
    panic!("no coop budget in this context");
}

/// Polls `svc` ready once with the task's budget spent (it must yield),
/// then gives the task a fresh budget.
async fn poll_ready_on_a_spent_budget<S: Service<u32>>(svc: &mut S) {
    let yielded = poll_fn(|cx| {
        exhaust_budget(cx);
        Poll::Ready(svc.poll_ready(cx).is_pending())
    })
    .await;
    assert!(yielded, "a rejection on a spent budget yields");
    tokio::task::yield_now().await;
}

#[tokio::test(start_paused = true)]
async fn a_rejection_met_with_a_spent_budget_is_counted_once() {
    let b = breaker();
    b.force_open();
    let mut svc = CircuitBreakerLayer::from_policy(&b).layer(ready_svc(Ok(1)));
    let before = b.metrics().rejected;
    // the budget is spent when the request is rejected: poll_ready yields
    poll_ready_on_a_spent_budget(&mut svc).await;
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert_eq!(
        b.metrics().rejected - before,
        1,
        "one request, one rejection (the machine was asked twice)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_wait_that_expired_with_a_spent_budget_is_not_queued_again() {
    let bh = bulkhead(1, Duration::from_millis(40));
    let held = bh.try_acquire().unwrap();
    let mut svc = BulkheadLayer::from_policy(&bh).layer(ready_svc(Ok(1)));
    let cx = &mut Context::from_waker(Waker::noop());
    assert!(Service::<u32>::poll_ready(&mut svc, cx).is_pending());
    assert_eq!(bh.queued(), 1);
    tokio::time::advance(Duration::from_millis(40)).await; // the wait expires
    poll_ready_on_a_spent_budget(&mut svc).await;
    let again = Service::<u32>::poll_ready(&mut svc, cx);
    let m = bh.metrics();
    assert_eq!(
        (again.is_ready(), m.queued, m.expired),
        (true, 0, 1),
        "the expired request answers its expiry, not a second wait in the queue"
    );
    drop(held);
}

// ---- the plan futures are quiet after their answer ----

/// Timeout, retry (alone and planned) and hedge futures neither panic nor
/// poll a finished attempt again.
#[tokio::test(start_paused = true)]
async fn plan_futures_polled_after_ready_stay_quiet() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_core::retry::RetryConfig;
    use failsafe_core::timeout::{Deadline, TimeoutConfig};
    use failsafe_driver::{RetryPolicy, TimeoutPolicy};
    use failsafe_tower::{HedgeLayer, RetryLayer, TimeoutLayer};

    let timeout = TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_secs(1)).unwrap(),
        TokioClock,
    );
    let mut svc = TimeoutLayer::new(timeout).layer(ready_svc(Ok(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()), "timeout");

    let config = RetryConfig::builder().max_attempts(2).build().unwrap();
    let policy = RetryPolicy::with_runtime(config, TokioClock);
    for answer in [Ok(1), Err(Error::Inner("down"))] {
        let mut alone = RetryLayer::new(policy.clone()).layer(ready_svc(answer));
        let fut = alone.ready().await.unwrap().call(1);
        assert_eq!(
            poll_after_ready(fut).await,
            Ok(()),
            "retry alone {answer:?}"
        );
        let far = Deadline::at(failsafe_core::Instant::from_secs(3_600));
        let mut planned = RetryLayer::new(policy.clone())
            .with_request_deadline(move |_: &u32| far)
            .layer(ready_svc(answer));
        let fut = planned.ready().await.unwrap().call(1);
        assert_eq!(
            poll_after_ready(fut).await,
            Ok(()),
            "retry planned {answer:?}"
        );
    }

    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(20)))
        .build()
        .unwrap();
    let mut svc = HedgeLayer::idempotent(config, TokioClock).layer(ready_svc(Ok(1)));
    let fut = svc.ready().await.unwrap().call(1);
    assert_eq!(poll_after_ready(fut).await, Ok(()), "hedge");
}

// ---- overflowing durations ----

/// The longest durations and deadlines the configs accept reach the
/// layers without a panic, and no slot is left held.
#[tokio::test(start_paused = true)]
async fn the_longest_durations_do_not_panic() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_core::rate::Quota;
    use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
    use failsafe_core::timeout::{Deadline, TimeoutConfig};
    use failsafe_driver::{RateLimiterPolicy, RetryPolicy, TimeoutPolicy};
    use failsafe_tower::{HedgeLayer, RateLimitLayer, RetryLayer, TimeoutLayer};
    let max = Duration::MAX;
    let end = Deadline::at(failsafe_core::Instant::MAX);

    if let Ok(config) = TimeoutConfig::new(max) {
        let timeout = TimeoutPolicy::with_runtime(config, TokioClock);
        let svc = TimeoutLayer::new(timeout)
            .with_parent(end)
            .layer(ready_svc(Ok(1)));
        assert_eq!(svc.oneshot(1).await, Ok(1));
    }
    let limiter: RateLimiterPolicy<TokioClock> =
        RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    drop(limiter.try_acquire().unwrap());
    let svc = RateLimitLayer::from_policy(&limiter.clone().with_deadline(end))
        .with_max_wait(max)
        .layer(ready_svc(Ok(1)));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), svc.oneshot(1))
            .await
            .is_ok()
    );
    let bh = bulkhead(1, max);
    let held = bh.try_acquire().unwrap();
    let mut svc = BulkheadLayer::from_policy(&bh).layer(ready_svc(Ok(1)));
    assert!(
        tokio::time::timeout(Duration::from_secs(5), svc.ready())
            .await
            .is_err(),
        "waits"
    );
    drop(held);
    assert_eq!(bh.in_flight(), 1, "the waiter got the slot");
    drop(svc);
    assert_eq!(bh.in_flight(), 0);

    if let Ok(config) = RetryConfig::builder()
        .max_attempts(2)
        .backoff(BackoffKind::Constant(max))
        .jitter(Jitter::None)
        .max_elapsed(max)
        .build()
    {
        let svc = RetryLayer::new(RetryPolicy::with_runtime(config, TokioClock))
            .with_request_deadline(move |_: &u32| end)
            .layer(ready_svc(Err(Error::Inner("down"))));
        let _ = tokio::time::timeout(Duration::from_secs(5), svc.oneshot(1)).await;
    }
    if let Ok(config) = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(max))
        .build()
    {
        let svc = HedgeLayer::idempotent(config, TokioClock)
            .with_request_deadline(move |_: &u32| end)
            .layer(ready_svc(Ok(1)));
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), svc.oneshot(1))
                .await
                .unwrap(),
            Ok(1)
        );
    }
}

// ---- a retry sent past the request's deadline ----

/// The retry layer's plan asks for a retry before the request's deadline,
/// but the service only becomes ready after it: the retry must not be
/// sent then ("no retry or hedge starts at or after it").
#[tokio::test(start_paused = true)]
async fn a_retry_waiting_for_readiness_is_not_sent_past_the_requests_deadline() {
    use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, RetryConfig};
    use failsafe_core::timeout::Deadline;
    use failsafe_driver::{Clock, RetryPolicy};
    use failsafe_tower::RetryLayer;

    let clock = TokioClock::new();
    let bh = bulkhead(1, Duration::from_secs(60));
    let calls = Arc::new(AtomicU32::new(0));
    let sent_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, at) = (Arc::clone(&calls), Arc::clone(&sent_at));
    let failing = service_fn(move |_: u32| {
        c.fetch_add(1, Ordering::SeqCst);
        at.lock().unwrap().push(clock.now());
        std::future::ready(Err::<u32, _>("down"))
    });
    let config = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let deadline = Deadline::after(clock.now(), Duration::from_millis(100));
    let svc = RetryLayer::new(RetryPolicy::with_runtime(config, clock))
        .with_request_deadline(move |_: &u32| deadline)
        .layer(BulkheadLayer::from_policy(&bh).layer(failing));
    let call = tokio::spawn(svc.oneshot(1));
    tokio::time::sleep(Duration::from_millis(5)).await; // attempt 1 failed at 0
    // the bulkhead fills up: the retry due at 10 ms waits for a slot
    let held = bh.try_acquire().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(held); // a slot at 1 s, long past the 100 ms deadline
    let r = call.await.unwrap().unwrap_err();
    // the call gives up at its deadline with the last error, as the plan
    // does for a retry due after it; the slot taken for it goes back
    assert_eq!(
        (r.reason, r.attempts, r.last),
        (GiveUp::Deadline, 1, Some(Error::Inner("down")))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(bh.in_flight(), 0);
    let sent = sent_at.lock().unwrap().clone();
    assert!(
        sent.iter().all(|t| *t < deadline.instant()),
        "attempts sent at {sent:?}, the deadline at {:?}",
        deadline.instant()
    );
}
