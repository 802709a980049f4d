//! A listener that panics misses its event and nothing else: every std
//! handle calls its listeners through one `Hook`, which catches the panic,
//! so the machine never unwinds in the middle of a decision. Before, a
//! bulkhead whose listener panicked on `acquired` lost the slot it was
//! handing out for good (every later call was rejected as full). One check
//! for every handle that takes listeners.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_driver as driver;
use failsafe_thread::{
    BackoffKind, BreakerConfig, BulkheadConfig, Error, FailFastConfig, Jitter, NoWindow, Quota,
    RetryConfig, TimeoutConfig,
};

mod support;
use support::TestClock;

/// How many events each handle's listener heard.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<(&'static str, Arc<AtomicU32>)>>);

impl Heard {
    fn of(&self, handle: &'static str) -> Arc<AtomicU32> {
        let count = Arc::new(AtomicU32::new(0));
        self.0.lock().unwrap().push((handle, Arc::clone(&count)));
        count
    }
}

/// A listener that panics on every event, and how many it heard.
fn panicking<E>(heard: &Arc<AtomicU32>) -> impl Fn(E) + Send + Sync + 'static {
    let heard = Arc::clone(heard);
    move |_| {
        heard.fetch_add(1, Ordering::SeqCst);
        panic!("a listener's bug");
    }
}

/// A bulkhead of one slot that never queues.
fn one_slot(
    clock: &TestClock,
) -> driver::BulkheadPolicy<4, failsafe_core::bulkhead::FixedLimit, TestClock> {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap();
    driver::BulkheadPolicy::with_runtime(config, clock.clone())
}

#[test]
fn a_panicking_listener_leaks_nothing_and_breaks_no_call_on_any_handle() {
    // The panics are the test's own: keep them out of its output.
    std::panic::set_hook(Box::new(|_| {}));
    let clock = TestClock::default();
    let heard = Heard::default();

    let bulkhead = one_slot(&clock).on_event(panicking(&heard.of("bulkhead")));
    for n in 0..3 {
        assert_eq!(bulkhead.call_blocking(|| Ok::<_, ()>(n)), Ok(n));
    }
    assert_eq!(bulkhead.in_flight(), 0, "the slot came back each time");

    let breaker =
        driver::CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, clock.clone())
            .on_event(panicking(&heard.of("breaker")));
    breaker.force_open();
    let rejected = breaker.call_blocking(|| Ok::<_, ()>(1));
    assert!(matches!(rejected, Err(Error::Rejected(_))));
    breaker.reset();
    assert_eq!(breaker.call_blocking(|| Ok::<_, ()>(1)), Ok(1));

    let fail_fast = driver::FailFastPolicy::with_runtime(FailFastConfig::DEFAULT, clock.clone())
        .on_event(panicking(&heard.of("fail_fast")));
    fail_fast.report_unhealthy(); // opens: an event
    assert!(matches!(
        fail_fast.call_blocking(|| Ok::<_, ()>(1)),
        Err(Error::Rejected(_))
    ));
    fail_fast.report_healthy(); // closes
    assert_eq!(fail_fast.call_blocking(|| Ok::<_, ()>(1)), Ok(1));

    let limiter =
        driver::RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), clock.clone())
            .on_event(panicking(&heard.of("limiter")));
    assert!(limiter.try_acquire().is_ok());
    assert!(limiter.try_acquire().is_err(), "the permit was spent, once");

    let retry = driver::RetryPolicy::with_runtime(
        RetryConfig::builder()
            .max_attempts(2)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
        clock.clone(),
    )
    .on_event(panicking(&heard.of("retry")));
    let failed_once = AtomicU32::new(0);
    let answer = retry.call_blocking(|_| match failed_once.fetch_add(1, Ordering::SeqCst) {
        0 => Err("flaky"),
        n => Ok(n),
    });
    assert_eq!(answer, Ok(1), "retried once, then answered");

    let timeout = driver::TimeoutPolicy::with_runtime(
        TimeoutConfig::new(Duration::from_millis(5)).unwrap(),
        clock.clone(),
    )
    .on_event(panicking(&heard.of("timeout")));
    let late = timeout.call_blocking(|_| {
        clock.advance(Duration::from_millis(10));
        Ok::<_, ()>(1)
    });
    assert!(matches!(late, Err(Error::Timeout(_))));

    let fallback =
        driver::Fallback::with_runtime(clock.clone()).on_event(panicking(&heard.of("fallback")));
    let answered = fallback.call_blocking(
        || Err::<u32, Error<&str>>(Error::Inner("down")),
        |_, _| Ok(7),
    );
    assert_eq!(answered, Ok(7));

    let keyed: driver::KeyedRateLimiterPolicy<u32, 8, TestClock> =
        driver::KeyedRateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), clock.clone())
            .on_event(panicking(&heard.of("keyed limiter")));
    assert!(keyed.try_acquire_keyed(&1).is_ok());
    assert!(
        keyed.try_acquire_keyed(&1).is_err(),
        "the key's permit was spent, once"
    );

    let _ = std::panic::take_hook();
    // Every handle's listener was called (and panicked).
    for (handle, count) in heard.0.lock().unwrap().iter() {
        assert!(
            count.load(Ordering::SeqCst) > 0,
            "{handle}'s listener never heard"
        );
    }
}

/// A pipeline's observer (`observe_retries`) runs inside the call that
/// reports to it, not under a shared machine's lock (where a handle's
/// listeners run, and are caught): its panic reaches that call's caller,
/// as a panicking operation's would, and the pipeline serves the next call.
#[test]
fn a_panicking_pipeline_observer_unwinds_its_call() {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let clock = TestClock::default();
    let bulkhead = one_slot(&clock);
    let retries = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::ZERO))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let pipeline = driver::Pipeline::new(clock.clone())
        .admit(&bulkhead)
        .retry(retries)
        .observe_retries(driver::FnObserver(|e: failsafe_core::retry::RetryEvent| {
            if !matches!(e, failsafe_core::retry::RetryEvent::Succeeded { .. }) {
                panic!("an observer's bug")
            }
        }));
    let call = catch_unwind(AssertUnwindSafe(|| {
        pipeline.call_blocking(|_| Err::<u32, _>("down"))
    }));
    let panic = call.expect_err("the observer's panic reached the caller");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"an observer's bug"));
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, &str>(7)), Ok(7));
    assert_eq!(bulkhead.in_flight(), 0);
}
