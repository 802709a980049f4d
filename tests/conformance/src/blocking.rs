//! The blocking half of the suite: the same scenarios through the verbs
//! threads use (`call_blocking`, `acquire_blocking`), parking on a
//! [`Park`] clock. A virtual parking clock jumps to the instant a thread
//! parks until, so every instant asserted is exact and nothing sleeps.

use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::cache::LoadMark;
use failsafe_core::failfast::FailFastConfig;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
use failsafe_core::timeout::Deadline;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_driver::{
    BlockingRuntime, BulkheadPolicy, CacheError, CacheStore, Cached, CircuitBreakerPolicy, Clock,
    Error, FailFastPolicy, Park, Pipeline, RateLimiterPolicy, SharedCache, StdLock,
};

pub use crate::chaos::chaos_injects_exactly_as_the_core_decides_blocking;

/// What a blocking binding gives the suite.
pub trait BlockingBinding {
    /// The binding's clock; parking on it waits (virtually or for real).
    type Rt: Park + BlockingRuntime + Clone;

    /// The clock.
    fn rt(&self) -> Self::Rt;

    /// Moves time forward by `by`.
    fn advance(&self, by: Duration);
}

fn since(start: Instant, now: Instant) -> Duration {
    now.saturating_duration_since(start)
}

/// A breaker opens, rejects a blocking caller with `retry_at`, and a probe
/// at that instant closes it.
pub fn breaker_rejects_blocking_callers_until_its_wait_ends<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, rt.clone());
    let opened = rt.now();
    assert_eq!(
        breaker.call_blocking(|| Err::<(), _>("down")),
        Err(Error::Inner("down"))
    );
    b.advance(Duration::from_millis(300));
    let r = breaker.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    let rejected = *r.rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(
        rejected.retry_at.map(|at| since(opened, at)),
        Some(Duration::from_secs(1))
    );
    b.advance(Duration::from_millis(700));
    assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    assert_eq!(breaker.state(), State::Closed);
}

/// A blocked bulkhead caller parks until its `max_wait` and gives up then,
/// exactly, leaving nothing queued.
pub fn bulkhead_blocking_wait_expires_at_max_wait<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(config, rt.clone());
    let held = pool.try_acquire().unwrap();
    let start = rt.now();
    let r = pool.acquire_blocking().unwrap_err();
    assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    assert_eq!(since(start, rt.now()), Duration::from_millis(300));
    assert_eq!((pool.queued(), pool.in_flight()), (0, 1));
    held.finish(Outcome::Success);
    assert_eq!(pool.in_flight(), 0);
}

/// A rate-limited blocking caller parks until its booking, exactly.
pub fn rate_limited_blocking_caller_parks_until_its_booking<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), rt.clone());
    let start = rt.now();
    assert_eq!(limiter.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    assert_eq!(limiter.call_blocking(|| Ok::<_, ()>(2)), Ok(2));
    assert_eq!(since(start, rt.now()), Duration::from_millis(100));
    let r = limiter
        .clone()
        .with_max_wait(Duration::ZERO)
        .try_acquire()
        .unwrap_err();
    assert_eq!(
        r.retry_at.map(|at| since(start, at)),
        Some(Duration::from_millis(200))
    );
}

/// Fail fast refuses a blocking call whose deadline is too short and opens
/// at once on an unhealthy outcome.
pub fn fail_fast_judges_blocking_calls<B: BlockingBinding>(b: B) {
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
    let r = hurried.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    b.advance(Duration::from_millis(1));
    ff.acquire_blocking().unwrap().finish(Outcome::Unhealthy);
    let r = ff.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(r.rejected().unwrap().reason, RejectReason::FailFastOpen);
}

/// Every pattern in one blocking call: breaker, rate limiter and bulkhead,
/// a retry 100 ms apart, a 200 ms attempt timeout. The first attempt takes
/// 300 ms (late: a timeout, its result discarded), the second fails, the
/// third succeeds; every permit is back at the end.
pub fn pipeline_runs_every_pattern_in_one_blocking_call<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let breaker_config = BreakerConfig::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config, NoWindow, rt.clone());
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(100).unwrap(), rt.clone());
    let slots = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
    let pool: BulkheadPolicy<4, FixedLimit, B::Rt> =
        BulkheadPolicy::with_runtime(slots, rt.clone());
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
    let mut starts = Vec::new();
    let r = pipeline.call_blocking(|attempt| {
        starts.push(since(start, rt.now()));
        match attempt.number {
            1 => {
                b.advance(Duration::from_millis(300)); // the work overruns
                Ok(1)
            }
            2 => Err("flaky"),
            n => Ok(n),
        }
    });
    assert_eq!(r, Ok(3));
    let ms = Duration::from_millis;
    assert_eq!(starts, [ms(0), ms(400), ms(500)]);
    assert_eq!(pool.in_flight(), 0);
    assert_eq!(breaker.state(), State::Closed);
}

/// The cache for blocking callers on the binding's clock: a miss loads
/// (100 ms), a hit is fresh; past the time-to-live a failing load serves
/// the stale value with its exact age; a failure with no value is cached
/// (negative) and spares the loader; a follower of a leader that vanished
/// with its mark blocks until the lease ends, then loads once itself.
pub fn cache_serves_blocking_callers<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let store = crate::cache_store();
    let cache = SharedCache::new(StdLock::new(store), rt.clone())
        .timing(Duration::from_secs(3), Duration::from_millis(10))
        .unwrap();
    let start = rt.now();
    let mut loads = 0;
    let loaded = cache.get_or_load_blocking(1, || {
        loads += 1;
        b.advance(Duration::from_millis(100));
        Ok::<u32, &str>(7)
    });
    assert_eq!(loaded, Ok(Cached::Loaded(7)));
    let hit = cache.get_or_load_blocking(1, || -> Result<u32, &str> { unreachable!() });
    assert_eq!(hit, Ok(Cached::Fresh(7)));
    assert_eq!(loads, 1);

    // Expired at 1.1 s; at 1.5 s a failing load serves it, 400 ms stale.
    b.advance(Duration::from_millis(1400));
    let stale = cache.get_or_load_blocking(1, || Err::<u32, _>("down"));
    assert_eq!(
        stale,
        Ok(Cached::Stale {
            value: 7,
            age: Duration::from_millis(400)
        })
    );
    assert_eq!(
        cache.get_or_load_blocking(2, || Err::<u32, _>("down")),
        Err(CacheError::Load("down"))
    );
    let until = rt.now() + Duration::from_secs(2);
    let spared = cache.get_or_load_blocking(2, || -> Result<u32, &str> { unreachable!() });
    assert_eq!(spared, Err(CacheError::Negative { until }));

    // A leader took key 3's mark (lease 3 s) and vanished: the follower
    // blocks until the lease ends, then leads the one load.
    let lease_end = rt.now() + Duration::from_secs(3);
    assert_eq!(
        cache.with(|s| s.begin_load(3, rt.now(), lease_end)),
        LoadMark::Leader
    );
    let r = cache.get_or_load_blocking(3, || Ok::<u32, &str>(9));
    assert_eq!(r, Ok(Cached::Loaded(9)));
    assert_eq!(rt.now(), lease_end);
    assert_eq!(since(start, rt.now()), Duration::from_millis(4500));
}

/// Expands to one `#[test]` per blocking scenario, each given the binding
/// `$make` builds.
#[macro_export]
macro_rules! blocking_suite {
    ($make:expr) => {
        $crate::blocking_suite!(@tests $make,
            breaker_rejects_blocking_callers_until_its_wait_ends,
            bulkhead_blocking_wait_expires_at_max_wait,
            rate_limited_blocking_caller_parks_until_its_booking,
            fail_fast_judges_blocking_calls,
            pipeline_runs_every_pattern_in_one_blocking_call,
            cache_serves_blocking_callers,
            chaos_injects_exactly_as_the_core_decides_blocking,
        );
    };
    (@tests $make:expr, $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::blocking::$name($make);
            }
        )*
    };
}
