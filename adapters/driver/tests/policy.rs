//! The one path (`Policy`, `Admit`, `Guard`, `admit_blocking`) over each
//! admission machine, in virtual time: a sleep or a park jumps the clock,
//! so every instant asserted is exact.

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_driver::{
    BulkheadPolicy, CircuitBreakerPolicy, Clock, Error, FailFastPolicy, KeyedRateLimiterPolicy,
    Park, RateLimiterPolicy, Runtime,
};

/// Virtual time: sleeps jump the clock, unless `frozen` (then a sleep
/// completes only once the test has moved the clock past it).
#[derive(Debug, Default)]
struct Virtual(Cell<Instant>, Cell<bool>);

impl Virtual {
    fn now(&self) -> Instant {
        self.0.get()
    }
}

impl Clock for &Virtual {
    fn now(&self) -> Instant {
        self.0.get()
    }
}

/// A sleep that jumps the clock to its deadline when polled.
struct Jump<'a>(&'a Virtual, Instant);

impl Future for Jump<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.1.get() && self.0.now() < self.1 {
            return Poll::Pending;
        }
        self.0.0.set(self.0.0.get().max(self.1));
        Poll::Ready(())
    }
}

impl<'a> Runtime for &'a Virtual {
    type Sleep = Jump<'a>;
    fn sleep_until(&self, at: Instant) -> Jump<'a> {
        Jump(self, at)
    }
}

impl Park for &Virtual {
    fn park_until(&self, deadline: Option<Instant>) {
        if let Some(at) = deadline {
            self.0.set(self.0.get().max(at));
        }
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn block_on<F: Future>(f: F) -> F::Output {
    futures_lite::future::block_on(f)
}

#[test]
fn a_breaker_policy_opens_and_rejects_until_its_wait_ends() {
    let clock = Virtual::default();
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, &clock);
    for _ in 0..2 {
        let r = block_on(breaker.call(|| async { Err::<(), _>("down") }));
        assert_eq!(r, Err(Error::Inner("down")));
    }
    assert_eq!(breaker.state(), State::Open);
    clock.0.set(ms(10));
    let mut ran = false;
    let r = block_on(breaker.call(|| async {
        ran = true;
        Ok::<_, ()>(())
    }));
    let rejected = *r.unwrap_err().rejected().unwrap();
    assert!(!ran, "a rejected call never runs");
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::BreakerOpen, Some(ms(1_000)))
    );
    clock.0.set(ms(1_000));
    assert_eq!(breaker.state(), State::HalfOpen, "due at retry_at");
    assert_eq!(
        breaker.call_blocking(|| Ok::<_, ()>(7)),
        Ok(7),
        "the probe runs and closes it"
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[test]
fn a_dropped_guard_is_a_cancelled_call_and_a_finished_one_counts() {
    let clock = Virtual::default();
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, &clock);
    drop(breaker.try_acquire().unwrap());
    assert_eq!(breaker.state(), State::Closed, "cancelled: not a failure");
    breaker.try_acquire().unwrap().finish(Outcome::Failure);
    assert_eq!(breaker.state(), State::Open);
}

#[test]
fn a_bulkhead_waiter_is_woken_by_the_release_and_collects_the_slot() {
    let clock = Virtual::default();
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let pool: BulkheadPolicy<1, _, &Virtual> = BulkheadPolicy::with_runtime(config, &clock);
    let held = pool.try_acquire().unwrap();
    assert_eq!(
        pool.try_acquire().unwrap_err().reason,
        RejectReason::BulkheadFull
    );
    clock.1.set(true);
    let mut waiter = pin!(pool.acquire());
    let woken = std::sync::Arc::new(Flag::default());
    let waker = Waker::from(std::sync::Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(waiter.as_mut().poll(&mut cx).is_pending(), "queued");
    assert_eq!(pool.queued(), 1);
    clock.0.set(ms(40));
    held.finish(Outcome::Success);
    assert!(
        woken.0.load(std::sync::atomic::Ordering::SeqCst),
        "the release woke the waiter"
    );
    let Poll::Ready(Ok(guard)) = waiter.as_mut().poll(&mut cx) else {
        panic!("the granted slot is collected");
    };
    assert_eq!(pool.in_flight(), 1);
    drop(guard);
    assert_eq!(pool.in_flight(), 0);
}

#[derive(Default)]
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_blocking_bulkhead_waiter_gives_up_exactly_at_max_wait_and_leaks_nothing() {
    let clock = Virtual::default();
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let pool: BulkheadPolicy<1, _, &Virtual> = BulkheadPolicy::with_runtime(config, &clock);
    let held = pool.try_acquire().unwrap();
    let r = pool.acquire_blocking().unwrap_err();
    assert_eq!(
        (r.reason, clock.now()),
        (RejectReason::BulkheadWaitExpired, ms(100))
    );
    assert_eq!(pool.queued(), 0);
    drop(held);
    assert_eq!(pool.in_flight(), 0);
}

#[test]
fn a_rate_limited_caller_waits_exactly_until_its_booking_or_is_told_when() {
    let clock = Virtual::default();
    let limiter: RateLimiterPolicy<&Virtual> =
        RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), &clock);
    assert_eq!(block_on(limiter.call(|| async { Ok::<_, ()>(1) })), Ok(1));
    assert_eq!(block_on(limiter.call(|| async { Ok::<_, ()>(2) })), Ok(2));
    assert_eq!(
        clock.now(),
        ms(100),
        "the second call started at its booking"
    );
    let refuse = limiter.clone().with_max_wait(Duration::ZERO);
    let r = refuse.try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(200)))
    );
    assert_eq!(limiter.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    assert_eq!(clock.now(), ms(200));
}

#[test]
fn a_dropped_rate_waiter_hands_its_booking_back() {
    let clock = Virtual::default();
    let limiter: RateLimiterPolicy<&Virtual> =
        RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), &clock);
    limiter.try_acquire().unwrap().finish(Outcome::Success);
    clock.1.set(true);
    {
        let mut waiter = pin!(limiter.acquire());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            waiter.as_mut().poll(&mut cx).is_pending(),
            "booked for 100 ms"
        );
        assert_eq!(limiter.available(), 0);
    }
    // The only booking, given back when its waiter was dropped: a caller
    // now would wait only for the permit the first call took.
    let r = limiter
        .clone()
        .with_max_wait(Duration::ZERO)
        .try_acquire()
        .unwrap_err();
    assert_eq!(r.retry_at, Some(ms(100)));
    clock.0.set(ms(100));
    assert_eq!(limiter.available(), 1);
    assert!(limiter.available() <= 1);
}

#[test]
fn fail_fast_rejects_a_call_whose_deadline_is_too_short() {
    let clock = Virtual::default();
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let ff: FailFastPolicy<&Virtual> = FailFastPolicy::with_runtime(config, &clock);
    let hurried = ff.clone().with_deadline(Deadline::at(ms(50)));
    let r = hurried.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    assert_eq!(ff.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    ff.report_unhealthy();
    assert_eq!(
        ff.try_acquire().unwrap_err().reason,
        RejectReason::FailFastOpen
    );
}

#[test]
fn a_keyed_limiter_limits_each_key_on_its_own() {
    let clock = Virtual::default();
    let limiter: KeyedRateLimiterPolicy<&str, 8, &Virtual> =
        KeyedRateLimiterPolicy::with_runtime(Quota::per_second(1).unwrap(), &clock);
    let limiter = limiter.with_max_wait(Duration::ZERO);
    assert!(limiter.try_acquire_keyed(&"a").is_ok());
    assert!(limiter.try_acquire_keyed(&"b").is_ok());
    let r = limiter.try_acquire_keyed(&"a").unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(1_000)))
    );
    assert_eq!(limiter.call_blocking_keyed(&"c", || Ok::<_, ()>(1)), Ok(1));
    assert_eq!(limiter.len(), 3);
}

#[test]
fn a_waiter_on_a_bucket_that_loses_the_race_waits_again_until_its_own_end() {
    use failsafe_core::rate::{Throttle, TokenBucket};
    use failsafe_core::sync::Shared;
    use failsafe_driver::{Policy, StdLock};
    use std::sync::Arc;

    let clock = Virtual::default();
    clock.1.set(true); // sleeps complete only once the test moves the clock
    // one token, one more every 100 ms; a caller waits up to 250 ms
    let bucket = TokenBucket::new(1, 1, Duration::from_millis(100)).unwrap();
    let machine = Throttle::new(bucket).max_wait(Duration::from_millis(250));
    let limiter = Policy::new_shared(Arc::new(Shared::new(StdLock::new(machine))), &clock);
    limiter.try_acquire().unwrap().finish(Outcome::Success);
    let mut waiter = pin!(limiter.acquire());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        waiter.as_mut().poll(&mut cx).is_pending(),
        "asks again at the refill, 100 ms"
    );
    clock.0.set(ms(100));
    // Another caller takes the refilled token first ...
    limiter.try_acquire().unwrap().finish(Outcome::Success);
    // ... so the waiter, asking again, waits for the next one at 200 ms.
    assert!(waiter.as_mut().poll(&mut cx).is_pending());
    clock.0.set(ms(200));
    assert!(matches!(waiter.as_mut().poll(&mut cx), Poll::Ready(Ok(_))));
    // A waiter whose wait would end before the next token is turned away
    // at once with when to come back.
    let r = limiter
        .clone()
        .with_max_wait(Duration::from_millis(50))
        .try_acquire()
        .unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::RateLimited, Some(ms(300)))
    );
}
