//! # failsafe-conformance
//!
//! The scenarios every runtime binding must pass, written once against the
//! driver's generic path ([`failsafe_driver::Policy`] over a binding's
//! [`Runtime`]) and run by each binding's test suite with
//! [`conformance_suite!`]: tokio with paused time, async-io on a virtual
//! clock, embassy with its mock time driver.
//!
//! A binding provides its runtime and a way to move virtual time
//! ([`Binding`]); the scenarios only sleep on the binding's own timers, so
//! each one proves the binding's clock, timer and wake-ups, not a mock.
//! Every instant asserted is exact.

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::cache::{Cache, CacheConfig};
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::fallback::FallbackReason;
use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
use failsafe_core::plan::Attempt;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, NoBudget, RetryConfig};
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_driver::cache::WithWaiters;
use failsafe_driver::{
    BulkheadPolicy, CacheError, Cached, CircuitBreakerPolicy, Clock, DefaultClassifier, Error,
    FailFastPolicy, HedgeContext, Idempotent, Pipeline, RateLimiterPolicy, RetryPolicy, Runtime,
    SharedCache, StdLock, hedge, timeout,
};
use futures_lite::future::zip;

pub mod blocking;
mod chaos;
mod virtual_time;

pub use chaos::chaos_injects_exactly_as_the_core_decides;

pub use blocking::BlockingBinding;
pub use virtual_time::{VirtualSleep, VirtualTime};

/// What a runtime binding gives the suite.
pub trait Binding {
    /// The binding's runtime (clock and timer).
    type Rt: Runtime + Clone;

    /// The runtime.
    fn rt(&self) -> Self::Rt;

    /// Moves virtual time forward by `by`, firing the timers due.
    fn advance(&self, by: Duration) -> impl Future<Output = ()>;
}

fn since(start: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(start)
}

/// A breaker opens after its failures, rejects with `retry_at` at the end
/// of its open wait, and a probe at that instant closes it.
pub async fn breaker_rejects_until_its_wait_ends<B: Binding>(b: B) {
    let rt = b.rt();
    let config = BreakerConfig::builder()
        .consecutive_failures(2)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, rt.clone());
    for _ in 0..2 {
        let r = breaker.call(|| async { Err::<(), _>("down") }).await;
        assert_eq!(r, Err(Error::Inner("down")));
    }
    let opened = rt.now();
    b.advance(Duration::from_millis(400)).await;
    let r = breaker
        .call(|| async { Ok::<_, ()>(()) })
        .await
        .unwrap_err();
    let rejected = *r.rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(
        rejected.retry_at.map(|at| since(opened, at)),
        Some(Duration::from_secs(1))
    );
    b.advance(Duration::from_millis(600)).await;
    assert_eq!(breaker.call(|| async { Ok::<_, ()>(7) }).await, Ok(7));
    assert_eq!(breaker.state(), State::Closed);
}

fn one_slot(max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

/// A bulkhead waiter sleeps on the binding's timer and is woken by the
/// release, which hands it the slot.
pub async fn bulkhead_waiter_is_woken_by_the_release<B: Binding>(b: B) {
    let rt = b.rt();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(one_slot(Duration::from_secs(1)), rt.clone());
    let held = pool.try_acquire().unwrap();
    let start = rt.now();
    let (waited, ()) = zip(pool.acquire(), async {
        b.advance(Duration::from_millis(250)).await;
        held.finish(Outcome::Success);
    })
    .await;
    let guard = waited.expect("the release handed the slot on");
    assert_eq!(since(start, rt.now()), Duration::from_millis(250));
    assert_eq!((pool.in_flight(), pool.queued()), (1, 0));
    drop(guard);
    assert_eq!(pool.in_flight(), 0);
}

/// A bulkhead wait nobody ends ends exactly at `max_wait`, on the
/// binding's timer, and leaks nothing.
pub async fn bulkhead_wait_expires_at_max_wait<B: Binding>(b: B) {
    let rt = b.rt();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(one_slot(Duration::from_millis(300)), rt.clone());
    let held = pool.try_acquire().unwrap();
    let start = rt.now();
    let (waited, ()) = zip(pool.acquire(), b.advance(Duration::from_millis(500))).await;
    let r = waited.unwrap_err();
    assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    assert!(since(start, rt.now()) >= Duration::from_millis(300));
    assert_eq!(pool.queued(), 0);
    drop(held);
    assert_eq!(pool.in_flight(), 0);
}

/// A dropped waiter gives its place up: the queue is empty and the slot
/// goes to nobody.
pub async fn a_dropped_waiter_leaks_nothing<B: Binding>(b: B) {
    let rt = b.rt();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(one_slot(Duration::from_secs(1)), rt.clone());
    let held = pool.try_acquire().unwrap();
    {
        let waiter = core::pin::pin!(pool.acquire());
        // Polled once (queued), then dropped.
        let polled = futures_lite::future::poll_once(waiter).await;
        assert!(polled.is_none());
    }
    assert_eq!(pool.queued(), 0);
    drop(held);
    assert_eq!(pool.in_flight(), 0);
    b.advance(Duration::from_millis(1)).await;
    assert!(pool.try_acquire().is_ok());
}

/// A rate-limited caller waits on the binding's timer until its booking,
/// exactly; one that may not wait is told when.
pub async fn rate_limited_caller_waits_for_its_booking<B: Binding>(b: B) {
    let rt = b.rt();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), rt.clone());
    let start = rt.now();
    assert_eq!(limiter.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    let (second, ()) = zip(
        limiter.call(|| async { Ok::<_, ()>(2) }),
        b.advance(Duration::from_millis(150)),
    )
    .await;
    assert_eq!(second, Ok(2));
    let r = limiter
        .clone()
        .with_max_wait(Duration::ZERO)
        .try_acquire()
        .unwrap_err();
    assert_eq!(r.reason, RejectReason::RateLimited);
    assert_eq!(
        r.retry_at.map(|at| since(start, at)),
        Some(Duration::from_millis(200))
    );
}

/// Fail fast rejects a call whose deadline is too short, and an unhealthy
/// outcome opens it at once.
pub async fn fail_fast_judges_deadlines_and_health<B: Binding>(b: B) {
    let rt = b.rt();
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(100))
        .consecutive_failures(5)
        .build()
        .unwrap();
    let ff = FailFastPolicy::with_runtime(config, rt.clone());
    let hurried = ff
        .clone()
        .with_deadline(Deadline::at(rt.now() + Duration::from_millis(50)));
    let r = hurried
        .call(|| async { Ok::<_, ()>(()) })
        .await
        .unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    b.advance(Duration::from_millis(1)).await;
    ff.try_acquire().unwrap().finish(Outcome::Unhealthy);
    let r = ff.call(|| async { Ok::<_, ()>(()) }).await.unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::FailFastOpen);
}

/// Sets its flag when dropped.
struct DropFlag<'a>(&'a AtomicBool);

impl Drop for DropFlag<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A timeout ends a call that overruns exactly at its deadline, on the
/// binding's timer, hands the deadline down, and drops the work.
pub async fn timeout_cancels_at_the_deadline<B: Binding>(b: B) {
    let rt = b.rt();
    let config = TimeoutConfig::new(Duration::from_millis(200)).unwrap();
    let start = rt.now();
    let dropped = AtomicBool::new(false);
    let slow = timeout(&rt, config, Deadline::NEVER, (), |deadline| {
        assert_eq!(since(start, deadline.instant()), Duration::from_millis(200));
        let (rt, flag) = (rt.clone(), DropFlag(&dropped));
        async move {
            let _flag = flag;
            rt.sleep_until(deadline.instant() + Duration::from_secs(5))
                .await;
            Ok::<_, Error<()>>(())
        }
    });
    let (r, ()) = zip(slow, b.advance(Duration::from_secs(1))).await;
    let Err(Error::Timeout(deadline)) = r else {
        panic!("expected a timeout, got {r:?}");
    };
    assert_eq!(since(start, deadline.instant()), Duration::from_millis(200));
    assert!(dropped.load(Ordering::SeqCst), "the work was dropped");
}

/// Retries sleep on the binding's timer until the backoff's instants, and
/// the call ends with the first success.
pub async fn retries_start_at_the_backoff_instants<B: Binding>(b: B) {
    let rt = b.rt();
    let config = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let policy = RetryPolicy::with_runtime(config, rt.clone());
    let start = rt.now();
    let starts = RefCell::new(Vec::new());
    let flaky = policy.call(|attempt| {
        starts.borrow_mut().push(since(start, rt.now()));
        async move {
            match attempt.number {
                3 => Ok(attempt.number),
                _ => Err("flaky"),
            }
        }
    });
    // Time moves in steps no longer than the backoff, so each retry is
    // seen at its own instant whatever a binding's advance does at once.
    let steps = async {
        for _ in 0..10 {
            b.advance(Duration::from_millis(100)).await;
        }
    };
    let (r, ()) = zip(flaky, steps).await;
    assert_eq!(r, Ok(3));
    let ms = Duration::from_millis;
    assert_eq!(*starts.borrow(), [ms(0), ms(100), ms(200)]);
}

/// Every pattern in one call: a pipeline of breaker, rate limiter and
/// bulkhead (in that order), a retry, an attempt timeout and an overall
/// timeout. The first attempt hangs and is cut at its 200 ms deadline, the
/// second fails, the third succeeds; each retry waits 100 ms on the
/// binding's timer, and every permit is back when the call ends. Then a
/// call to a dependency that stays down ends in the fallback, told that the
/// retries gave up.
pub async fn pipeline_runs_every_pattern_in_one_call<B: Binding>(b: B) {
    let rt = b.rt();
    let breaker_config = BreakerConfig::builder()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, rt.clone());
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(100).unwrap(), rt.clone());
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(one_slot(Duration::ZERO), rt.clone());
    let retry = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let pipeline = Pipeline::new(rt.clone())
        .admit(&breaker)
        .admit(&limiter)
        .admit(&pool)
        .retry(retry)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(200)).unwrap())
        .timeout(Duration::from_secs(2));
    let start = rt.now();
    let starts = RefCell::new(Vec::new());
    let call = pipeline.call(|attempt| {
        starts.borrow_mut().push(since(start, rt.now()));
        let rt = rt.clone();
        async move {
            match attempt.number {
                1 => {
                    rt.sleep_until(attempt.deadline.instant() + Duration::from_secs(1))
                        .await;
                    Ok(1)
                }
                2 => Err("flaky"),
                n => Ok(n),
            }
        }
    });
    let steps = async {
        for _ in 0..20 {
            b.advance(Duration::from_millis(50)).await;
        }
    };
    let (r, ()) = zip(call, steps).await;
    assert_eq!(r, Ok(3));
    let ms = Duration::from_millis;
    assert_eq!(*starts.borrow(), [ms(0), ms(300), ms(400)]);
    assert_eq!(pool.in_flight(), 0, "every bulkhead slot is back");
    assert_eq!(breaker.state(), State::Closed);

    // A dependency that stays down: three failures open the breaker, the
    // fourth attempt is refused, the retries give up, and the fallback
    // answers, told the true reason.
    let seen = RefCell::new(None);
    let answered = pipeline.call_or_else(
        |_| async { Err::<u32, _>("down") },
        |reason, e| {
            *seen.borrow_mut() = Some((reason, e.attempts));
            async { Ok(0) }
        },
    );
    let steps = async {
        for _ in 0..10 {
            b.advance(ms(50)).await;
        }
    };
    let (r, ()) = zip(answered, steps).await;
    assert_eq!(r, Ok(0));
    let gave_up = FallbackReason::GaveUp(GiveUp::Attempts);
    assert_eq!(*seen.borrow(), Some((gave_up, 4)));
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(pool.in_flight(), 0, "and no slot is held");
}

/// A hedge: the first attempt hangs; 50 ms later, on the binding's timer,
/// a second starts and answers at 60 ms; it wins and the first is
/// dropped.
pub async fn hedge_wins_and_drops_the_slow_attempt<B: Binding>(b: B) {
    let rt = b.rt();
    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let ctx = HedgeContext {
        config,
        deadline: Deadline::NEVER,
        budget: &NoBudget,
        latencies: (),
        observer: (),
    };
    let start = rt.now();
    let dropped = AtomicBool::new(false);
    let read = Idempotent(|attempt: Attempt| {
        let (rt, flag) = (rt.clone(), DropFlag(&dropped));
        async move {
            let _flag = flag;
            let wait = if attempt.number == 1 { 3_600_000 } else { 10 };
            rt.sleep_until(rt.now() + Duration::from_millis(wait)).await;
            Ok::<_, ()>((attempt.number, rt.now()))
        }
    });
    let call = hedge(&rt, ctx, &DefaultClassifier, read);
    let steps = async {
        for _ in 0..10 {
            b.advance(Duration::from_millis(10)).await;
        }
    };
    let (r, ()) = zip(call, steps).await;
    let (winner, at) = r.unwrap();
    assert_eq!((winner, since(start, at)), (2, Duration::from_millis(60)));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the slow attempt was dropped"
    );
}

/// A hedge in a pipeline: each attempt is admitted through the chain (a
/// bulkhead of two slots here); the slow first attempt is overtaken at
/// 60 ms by the hedge launched at 50 ms, dropped, and its slot handed back.
pub async fn pipeline_hedges_through_its_admissions<B: Binding>(b: B) {
    let rt = b.rt();
    let slots = BulkheadConfig::builder().max_concurrent(2).build().unwrap();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(slots, rt.clone());
    let pipeline = Pipeline::new(rt.clone()).admit(&pool);
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let start = rt.now();
    let dropped = AtomicBool::new(false);
    let in_flight = RefCell::new(Vec::new());
    let read = Idempotent(|attempt: Attempt| {
        in_flight.borrow_mut().push(pool.in_flight());
        let (rt, flag) = (rt.clone(), DropFlag(&dropped));
        async move {
            let _flag = flag;
            let wait = if attempt.number == 1 { 3_600_000 } else { 10 };
            rt.sleep_until(rt.now() + Duration::from_millis(wait)).await;
            Ok::<_, ()>((attempt.number, rt.now()))
        }
    });
    let call = pipeline.call_hedged(hedge, (), read);
    let steps = async {
        for _ in 0..10 {
            b.advance(Duration::from_millis(10)).await;
        }
    };
    let (r, ()) = zip(call, steps).await;
    let (winner, at) = r.unwrap();
    assert_eq!((winner, since(start, at)), (2, Duration::from_millis(60)));
    assert_eq!(
        *in_flight.borrow(),
        [1, 2],
        "each attempt held its own slot"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the slow attempt was dropped"
    );
    assert_eq!(pool.in_flight(), 0, "and its slot handed back");
}

/// The store both cache scenarios (async and blocking) run on: a
/// time-to-live of 1 s, stale answers for 5 s more, failures cached 2 s;
/// 16 entries, followers woken through a registry of 8.
pub(crate) fn cache_store() -> WithWaiters<Cache<u32, u32, 16>, 8> {
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(1))
        .max_stale(Duration::from_secs(5))
        .negative_ttl(Duration::from_secs(2))
        .build()
        .unwrap();
    WithWaiters::new(Cache::new(config, 7))
}

/// The cache on the binding's timer: three callers miss key 1 together,
/// one loader runs (100 ms, on the binding's timer) and the two followers
/// are woken by its end, at that very instant; a hit is fresh; past the
/// time-to-live a failing load serves the stale value with its exact age;
/// a failure with no value is cached (negative) and spares the loader.
pub async fn cache_coalesces_and_serves_stale_and_negative<B: Binding>(b: B) {
    let rt = b.rt();
    let store = cache_store();
    // A re-check so rare that a follower left to poll would show.
    let cache = SharedCache::new(StdLock::new(store), rt.clone())
        .timing(Duration::from_secs(30), Duration::from_secs(10))
        .unwrap();
    let start = rt.now();
    let loads = Cell::new(0);
    let load = || {
        let rt = rt.clone();
        let loads = &loads;
        move || async move {
            loads.set(loads.get() + 1);
            rt.sleep_until(rt.now() + Duration::from_millis(100)).await;
            Ok::<u32, &'static str>(7)
        }
    };
    let call = || async {
        let r = cache.get_or_load(1, load()).await;
        (r, since(start, rt.now()))
    };
    let (((a, b2), c), ()) = zip(
        zip(zip(call(), call()), call()),
        b.advance(Duration::from_millis(100)),
    )
    .await;
    assert_eq!(loads.get(), 1, "three misses, one load");
    for (r, at) in [a, b2, c] {
        assert_eq!(r, Ok(Cached::Loaded(7)));
        assert_eq!(at, Duration::from_millis(100), "woken at the leader's end");
    }
    let hit = cache.get_or_load(1, load()).await;
    assert_eq!(hit, Ok(Cached::Fresh(7)));
    assert_eq!(loads.get(), 1);

    // Expired at 1.1 s; at 1.5 s a failing load serves it, 400 ms stale.
    b.advance(Duration::from_millis(1400)).await;
    let down = || async { Err::<u32, _>("down") };
    let stale = cache.get_or_load(1, down).await;
    assert_eq!(
        stale,
        Ok(Cached::Stale {
            value: 7,
            age: Duration::from_millis(400)
        })
    );
    // No value for key 2: the error, then the cached failure for 2 s.
    assert_eq!(
        cache.get_or_load(2, down).await,
        Err(CacheError::Load("down"))
    );
    let until = rt.now() + Duration::from_secs(2);
    let spared = cache
        .get_or_load(2, || async {
            unreachable!("a cached failure spares the loader")
        })
        .await;
    assert_eq!(
        spared,
        Err::<Cached<u32>, CacheError<&str>>(CacheError::Negative { until })
    );
}

/// Expands to one `#[test]` per scenario, each run by `$run`: a function
/// taking a scenario (`FnOnce(Binding) -> impl Future<Output = ()>`) that
/// builds the binding and drives the future to completion on its executor.
#[macro_export]
macro_rules! conformance_suite {
    ($run:path) => {
        $crate::conformance_suite!(@tests $run,
            breaker_rejects_until_its_wait_ends,
            bulkhead_waiter_is_woken_by_the_release,
            bulkhead_wait_expires_at_max_wait,
            a_dropped_waiter_leaks_nothing,
            rate_limited_caller_waits_for_its_booking,
            fail_fast_judges_deadlines_and_health,
            timeout_cancels_at_the_deadline,
            retries_start_at_the_backoff_instants,
            pipeline_runs_every_pattern_in_one_call,
            hedge_wins_and_drops_the_slow_attempt,
            pipeline_hedges_through_its_admissions,
            cache_coalesces_and_serves_stale_and_negative,
            chaos_injects_exactly_as_the_core_decides,
        );
    };
    (@tests $run:path, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $run(|binding| $crate::$name(binding));
            }
        )*
    };
}
