//! The rate limit layers (the admission layer over a rate limiter) on
//! tokio's paused clock: rejections carry
//! `retry_at` and never call the inner service; the waiting mode sleeps in
//! `poll_ready` on a registered timer and sends each request exactly when
//! its permit is due. Every wait is bounded by a `tokio::time::timeout`, so
//! a `Pending` without a registered waker fails the test instead of
//! hanging it.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use failsafe_core::rate::Quota;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::{Clock, Error, KeyedRateLimiterPolicy, RateLimiterPolicy};
use failsafe_tokio::TokioClock;
use failsafe_tower::{AdmissionLayer, KeyedRateLimitLayer, RateLimitLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

type RateLimiter = RateLimiterPolicy<TokioClock>;

/// The layer over `limiter`, rejecting at once over the rate.
fn rejecting(limiter: &RateLimiter) -> RateLimitLayer<TokioClock> {
    RateLimitLayer::from_policy(limiter).with_max_wait(Duration::ZERO)
}

/// The layer over `limiter`, waiting up to `max_wait` in `poll_ready`.
fn waiting(limiter: &RateLimiter, max_wait: Duration) -> RateLimitLayer<TokioClock> {
    RateLimitLayer::from_policy(limiter).with_max_wait(max_wait)
}

/// Spends one permit now (the guard's drop counts nothing back).
fn spend(limiter: &RateLimiter) {
    drop(limiter.try_acquire().expect("a permit"));
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota::per_second(per_second)
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

/// An inner service answering with the (virtual) instant it was called at,
/// counting its calls.
fn stamp(
    clock: TokioClock,
    calls: &Arc<AtomicU32>,
) -> impl Service<u32, Response = (u32, Instant), Error = &'static str, Future: Send>
+ Clone
+ Send
+ use<> {
    let calls = Arc::clone(calls);
    service_fn(move |n: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Ok((n, clock.now())) }
    })
}

/// Fails the test (in virtual time) if `f` does not finish within an hour.
async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(3_600), f)
        .await
        .expect("woken: never pending without a registered waker")
}

#[tokio::test(start_paused = true)]
async fn over_the_limit_is_rejected_at_once_with_retry_at_and_never_reaches_the_inner_service() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(5, 2));
    let clock = *limiter.runtime();
    let svc = rejecting(&limiter).layer(stamp(clock, &calls));

    assert_eq!(svc.clone().oneshot(1).await, Ok((1, ms(0))));
    assert_eq!(svc.clone().oneshot(2).await, Ok((2, ms(0))));
    let err = svc.clone().oneshot(3).await.unwrap_err();
    let rejected = err.rejected().expect("a rejection");
    assert_eq!(rejected.reason, RejectReason::RateLimited);
    assert_eq!(rejected.retry_at, Some(ms(200)));
    assert_eq!(
        rejected.retry_after(clock.now()),
        Some(Duration::from_millis(200))
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the inner service was not called"
    );
    assert_eq!(clock.now(), ms(0), "nothing waited");

    // at retry_at the request goes through
    tokio::time::advance(Duration::from_millis(200)).await;
    assert_eq!(svc.oneshot(4).await, Ok((4, ms(200))));
}

#[tokio::test(start_paused = true)]
async fn the_inner_error_is_kept() {
    let svc = rejecting(&RateLimiter::new(quota(1, 1)))
        .layer(service_fn(|_: ()| async { Err::<(), _>("boom") }));
    assert_eq!(svc.oneshot(()).await, Err(Error::Inner("boom")));
}

#[tokio::test(start_paused = true)]
async fn the_waiting_mode_sends_each_request_exactly_when_its_permit_is_due() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(10, 1));
    let clock = *limiter.runtime();
    let svc = waiting(&limiter, Duration::from_secs(1)).layer(stamp(clock, &calls));
    for (n, expected) in [(0, 0), (1, 100), (2, 200), (3, 300)] {
        let reply = bounded(svc.clone().oneshot(n)).await;
        assert_eq!(reply, Ok((n, ms(expected))));
    }
}

#[tokio::test(start_paused = true)]
async fn poll_ready_registers_the_timer_and_is_woken_when_the_permit_is_due() {
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(10, 1));
    let clock = *limiter.runtime();
    spend(&limiter); // the next permit is due at 100 ms
    let mut svc = waiting(&limiter, Duration::from_secs(1)).layer(stamp(clock, &calls));

    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&count));
    let mut cx = Context::from_waker(&waker);
    assert!(svc.poll_ready(&mut cx).is_pending());
    assert!(
        svc.poll_ready(&mut cx).is_pending(),
        "polled again: still booked, not rebooked"
    );
    tokio::time::advance(Duration::from_millis(99)).await;
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "not a millisecond early");
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(
        count.0.load(Ordering::SeqCst) >= 1,
        "the timer woke the task"
    );
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    assert_eq!(svc.call(7).await, Ok((7, ms(100))));
    // one booking only: the permit after it is due at 200 ms
    let r = rejecting(&limiter)
        .layer(stamp(clock, &calls))
        .oneshot(8)
        .await
        .unwrap_err();
    assert_eq!(r.rejected().unwrap().retry_at, Some(ms(200)));
}

#[tokio::test(start_paused = true)]
async fn the_waiting_mode_rejects_at_once_what_it_cannot_have_within_the_wait() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(1, 1));
    let clock = *limiter.runtime();
    let svc = waiting(&limiter, Duration::from_millis(500)).layer(stamp(clock, &calls));
    assert_eq!(bounded(svc.clone().oneshot(1)).await, Ok((1, ms(0))));
    let err = bounded(svc.clone().oneshot(2)).await.unwrap_err();
    assert_eq!(err.rejected().unwrap().retry_at, Some(ms(1_000)));
    assert_eq!(clock.now(), ms(0), "no wait for what cannot come in time");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // half a second later the permit is within the wait
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(bounded(svc.oneshot(3)).await, Ok((3, ms(1_000))));
}

#[tokio::test(start_paused = true)]
async fn many_clients_through_the_waiting_layer_are_spaced_by_the_period() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(20, 1)); // one every 50 ms
    let clock = *limiter.runtime();
    let svc = waiting(&limiter, Duration::from_secs(10)).layer(stamp(clock, &calls));
    let clients: Vec<_> = (0..40)
        .map(|n| tokio::spawn(bounded(svc.clone().oneshot(n))))
        .collect();
    let mut sent = Vec::new();
    for c in clients {
        sent.push(c.await.unwrap().unwrap().1);
    }
    sent.sort();
    let expected: Vec<_> = (0..40).map(|i| ms(50 * i)).collect();
    assert_eq!(
        sent, expected,
        "one request per 50 ms slot, none early, no slot lost"
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_dropped_while_waiting_gives_its_booked_permit_back() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(10, 1));
    let clock = *limiter.runtime();
    spend(&limiter);
    {
        let mut svc = waiting(&limiter, Duration::from_secs(1)).layer(stamp(clock, &calls));
        let mut ready = pin!(poll_fn(|cx| svc.poll_ready(cx)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(ready.as_mut().poll(&mut cx).is_pending()); // booked 100 ms
    }
    tokio::time::advance(Duration::from_millis(100)).await;
    assert!(limiter.try_acquire().is_ok(), "the booking came back");
    let r = limiter.try_acquire().unwrap_err();
    assert_eq!(r.retry_at, Some(ms(200)), "and no more than it");
}

#[tokio::test(start_paused = true)]
async fn a_service_ready_but_dropped_before_its_call_gives_the_permit_back() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(10, 1));
    let clock = *limiter.runtime();
    spend(&limiter);
    {
        let mut svc = waiting(&limiter, Duration::from_secs(1)).layer(stamp(clock, &calls));
        // ready at 100 ms (its booked start), then never called
        poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        assert_eq!(clock.now(), ms(100));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(limiter.try_acquire().is_ok(), "the unused permit came back");
    assert_eq!(clock.now(), ms(100));
    let r = limiter.try_acquire().unwrap_err();
    assert_eq!(r.retry_at, Some(ms(200)), "and no more than it");
}

#[tokio::test(start_paused = true)]
async fn the_keyed_layer_limits_each_key_alone() {
    let calls = Arc::new(AtomicU32::new(0));
    let per_user: KeyedRateLimiterPolicy<u32, 64, TokioClock> =
        KeyedRateLimiterPolicy::new(quota(2, 1));
    let clock = *per_user.runtime();
    // the key is the request's value modulo 10: requests 1, 11, 21 are one user
    let layer: KeyedRateLimitLayer<TokioClock, u32, 64, _> =
        AdmissionLayer::from_policy(&per_user).keyed(|n: &u32| n % 10);
    let svc = layer.layer(stamp(clock, &calls));
    assert_eq!(svc.clone().oneshot(1).await, Ok((1, ms(0))));
    let err = svc.clone().oneshot(11).await.unwrap_err();
    let rejected = err.rejected().unwrap();
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::RateLimited, Some(ms(500)))
    );
    assert_eq!(
        svc.clone().oneshot(2).await,
        Ok((2, ms(0))),
        "another user is not limited"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(svc.oneshot(21).await, Ok((21, ms(500))));
}

#[tokio::test(start_paused = true)]
async fn a_service_ready_at_once_but_dropped_before_its_call_gives_the_permit_back() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(1, 1));
    let clock = *limiter.runtime();
    {
        let mut svc = waiting(&limiter, Duration::from_secs(1)).layer(stamp(clock, &calls));
        poll_fn(|cx| svc.poll_ready(cx)).await.unwrap(); // the permit, at once
        assert_eq!(clock.now(), ms(0));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(limiter.try_acquire().is_ok(), "the unused permit came back");
    assert_eq!(clock.now(), ms(0));
}

#[tokio::test(start_paused = true)]
async fn a_layer_built_from_the_policy_waits_up_to_the_policys_max_wait() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(1, 1)); // its max wait: 5 s
    let clock = *limiter.runtime();
    let svc = RateLimitLayer::from_policy(&limiter).layer(stamp(clock, &calls));
    assert_eq!(bounded(svc.clone().oneshot(1)).await, Ok((1, ms(0))));
    assert_eq!(bounded(svc.clone().oneshot(2)).await, Ok((2, ms(1_000))));
    let weighted = RateLimitLayer::from_policy(&limiter.clone().with_weight(6));
    let err = bounded(weighted.layer(stamp(clock, &calls)).oneshot(3))
        .await
        .unwrap_err();
    // six permits never fit a burst of one: rejected at once, for ever
    let rejected = err.rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::RateInsufficientCapacity);
    assert!(rejected.is_never());
    assert_eq!(clock.now(), ms(1_000));
}

#[tokio::test(start_paused = true)]
async fn a_layer_deciding_in_call_waits_in_its_future_within_the_requests_deadline() {
    let calls = Arc::new(AtomicU32::new(0));
    let limiter = RateLimiter::new(quota(10, 1));
    let clock = *limiter.runtime();
    spend(&limiter); // the next permit is due at 100 ms
    let svc = waiting(&limiter, Duration::from_secs(1))
        .with_request_deadline(|n: &u32| Deadline::at(ms(u64::from(*n))))
        .layer(stamp(clock, &calls));
    // a deadline at 50 ms cannot wait for the permit due at 100 ms
    let err = bounded(svc.clone().oneshot(50)).await.unwrap_err();
    assert_eq!(err.rejected().unwrap().reason, RejectReason::RateLimited);
    assert_eq!(clock.now(), ms(0));
    // a deadline at 500 ms waits in the response future, then runs
    let mut svc = svc;
    let future = svc.ready().await.unwrap().call(500);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "called in `call`");
    assert_eq!(bounded(future).await, Ok((500, ms(100))));
    assert_eq!(clock.now(), ms(100));
}

/// An inner service that is never ready: its readiness fails.
struct Down;

impl Service<u32> for Down {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        Poll::Ready(Err("down"))
    }

    fn call(&mut self, n: u32) -> Self::Future {
        std::future::ready(Ok(n))
    }
}

/// The layer keeps a rate limiter's permit bare (its exit does nothing, so
/// no handle is cloned per request): an inner readiness error still gives
/// it back, and a served request still spends it.
#[tokio::test(start_paused = true)]
async fn an_inner_readiness_error_gives_the_permit_back() {
    let limiter = RateLimiter::new(quota(1, 1));
    let mut svc = rejecting(&limiter).layer(Down);
    let ready = poll_fn(|cx| svc.poll_ready(cx)).await;
    assert!(matches!(ready, Err(Error::Inner("down"))));
    drop(svc);
    assert!(limiter.try_acquire().is_ok(), "the unused permit came back");
    assert!(limiter.try_acquire().is_err(), "and no more than it");

    let calls = Arc::new(AtomicU32::new(0));
    let other = RateLimiter::new(quota(1, 1));
    let svc = rejecting(&other).layer(stamp(*other.runtime(), &calls));
    assert_eq!(svc.clone().oneshot(1).await, Ok((1, ms(0))));
    assert!(other.try_acquire().is_err(), "the served request spent it");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
