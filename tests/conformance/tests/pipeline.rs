//! The pipeline's promises, in virtual time: one clock reading when the
//! call starts and one when each attempt ends, shared by every layer; admission
//! all or nothing (a rate-limited call holds no bulkhead slot, in either
//! order); the fallback sees each true reason; the blocking twin keeps the
//! same timeline.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use failsafe_conformance::VirtualTime;
use failsafe_core::breaker::{BreakerConfig, CountWindow, NoWindow};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::fallback::FallbackReason;
use failsafe_core::rate::Quota;
use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, RetryConfig};
use failsafe_core::timeout::{TimeoutConfig, TimeoutMode};
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::{
    BlockingRuntime, BulkheadPolicy, CircuitBreakerPolicy, Clock, Error, Park, Pipeline,
    RateLimiterPolicy, Runtime,
};
use futures_lite::future::{block_on, or, zip};

/// Virtual time that counts its clock reads.
#[derive(Clone, Debug, Default)]
struct Counted {
    time: VirtualTime,
    reads: std::rc::Rc<Cell<u32>>,
}

impl Clock for Counted {
    fn now(&self) -> Instant {
        self.reads.set(self.reads.get() + 1);
        self.time.now()
    }
}

impl Runtime for Counted {
    type Sleep = <VirtualTime as Runtime>::Sleep;
    fn sleep_until(&self, at: Instant) -> Self::Sleep {
        self.time.sleep_until(at)
    }
}

impl Park for Counted {
    fn park_until(&self, deadline: Option<Instant>) {
        self.time.park_until(deadline)
    }
}

impl BlockingRuntime for Counted {
    fn block_until(&self, at: Instant) {
        self.time.block_until(at)
    }
}

fn retry(attempts: u32, delay_ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(delay_ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn pool(slots: u32) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(slots)
        .max_wait(Duration::ZERO)
        .build()
        .unwrap()
}

/// Runs `call` while virtual time moves in 10 ms steps for `span`.
fn drive<T>(time: &VirtualTime, span: Duration, call: impl Future<Output = T>) -> T {
    let steps = async {
        let n = span.as_millis() / 10;
        for _ in 0..n {
            time.advance(Duration::from_millis(10)).await;
        }
    };
    block_on(zip(call, steps)).0
}

#[test]
fn one_clock_reading_per_attempt_shared_by_every_layer() {
    let rt = Counted::default();
    let breaker = CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, rt.clone());
    // Bursts of 10: no attempt here waits for a permit.
    let quota = Quota::per_second(1_000).unwrap().with_burst(10).unwrap();
    let limiter = RateLimiterPolicy::with_runtime(quota, rt.clone());
    let bulkhead: BulkheadPolicy<4, FixedLimit, Counted> =
        BulkheadPolicy::with_runtime(pool(4), rt.clone());
    let pipeline = Pipeline::new(rt.clone())
        .admit(&breaker)
        .admit(&limiter)
        .admit(&bulkhead)
        .retry(retry(3, 100))
        .attempt_timeout(TimeoutConfig::new(Duration::from_secs(1)).unwrap())
        .timeout(Duration::from_secs(10));

    // One attempt: read at the start, read at the end; nothing else reads.
    let r = block_on(pipeline.call(|_| async { Ok::<_, ()>(7) }));
    assert_eq!(r, Ok(7));
    assert_eq!(
        rt.reads.get(),
        2,
        "one reading at the start, one at the end"
    );

    // Three attempts, two backoff sleeps: one reading at the start, one at
    // each attempt's end (a fired timer gives its own instant).
    rt.reads.set(0);
    let r = drive(
        &rt.time,
        Duration::from_secs(1),
        pipeline.call(|a| async move {
            if a.number < 3 {
                Err("flaky")
            } else {
                Ok(a.number)
            }
        }),
    );
    assert_eq!(r, Ok(3));
    assert_eq!(rt.reads.get(), 4, "one reading per attempt, and the start");

    // The blocking twin reads the same way.
    rt.reads.set(0);
    let r = pipeline.call_blocking(|a| {
        if a.number < 3 {
            Err("flaky")
        } else {
            Ok(a.number)
        }
    });
    assert_eq!(r, Ok(3));
    assert_eq!(
        rt.reads.get(),
        4,
        "one reading per blocking attempt, and the start"
    );
}

#[test]
fn a_rate_limited_call_holds_no_bulkhead_slot_in_either_order() {
    let time = VirtualTime::new();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(1).unwrap(), time.clone());
    let bulkhead: BulkheadPolicy<4, FixedLimit, VirtualTime> =
        BulkheadPolicy::with_runtime(pool(1), time.clone());
    // No waiting for a permit: a limiter that cannot admit at once rejects.
    let limiter_first = Pipeline::new(time.clone())
        .admit(&limiter)
        .admit(&bulkhead)
        .max_wait(Duration::ZERO);
    let bulkhead_first = Pipeline::new(time.clone())
        .admit(&bulkhead)
        .admit(&limiter)
        .max_wait(Duration::ZERO);

    let held = RefCell::new(Vec::new());
    let op = |_| {
        held.borrow_mut().push(bulkhead.in_flight());
        async { Ok::<_, ()>(()) }
    };
    // The first call spends the one permit of this second.
    assert_eq!(block_on(limiter_first.call(op)), Ok(()));
    for _ in 0..3 {
        let e = block_on(limiter_first.call(|_| async { Ok::<_, ()>(()) })).unwrap_err();
        assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
        assert_eq!(bulkhead.in_flight(), 0, "a rejected call holds no slot");
        let e = block_on(bulkhead_first.call(|_| async { Ok::<_, ()>(()) })).unwrap_err();
        assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
        assert_eq!(bulkhead.in_flight(), 0, "its slot was handed back");
    }
    // The slot was free all along: the next second's call gets it.
    block_on(time.advance(Duration::from_secs(1)));
    assert_eq!(block_on(bulkhead_first.call(op)), Ok(()));
    assert_eq!(*held.borrow(), [1, 1], "admitted calls held the one slot");
    assert_eq!(bulkhead.in_flight(), 0);
}

/// A rate limiter waits for its permits in a pipeline as it does alone (the
/// std handle's default wait is the machine's own), on futures and on
/// threads; a pipeline told not to wait is rejected at once instead.
#[test]
fn a_pipeline_waits_for_a_rate_limiters_permit_as_the_handle_does() {
    let time = VirtualTime::new();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), time.clone());
    let pipeline = Pipeline::new(time.clone()).admit(&limiter);
    let start = time.now();
    let ended = RefCell::new(Vec::new());
    let op = |_| {
        ended.borrow_mut().push(time.now() - start);
        async { Ok::<_, ()>(()) }
    };
    // Alone and in the pipeline: the second permit comes 100 ms later.
    assert!(block_on(limiter.call(|| async { Ok::<_, ()>(()) })).is_ok());
    let two = async {
        let first = pipeline.call(op).await;
        let second = pipeline.call(op).await;
        (first, second)
    };
    assert_eq!(
        drive(&time, Duration::from_millis(300), two),
        (Ok(()), Ok(()))
    );
    assert_eq!(
        *ended.borrow(),
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
    // On threads: the blocking call parks until its permit (the first
    // finds one due at once, the second waits 100 ms for its own).
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, ()>(())), Ok(()));
    let before = time.now();
    assert_eq!(pipeline.call_blocking(|_| Ok::<_, ()>(())), Ok(()));
    assert_eq!(time.now() - before, Duration::from_millis(100));
    // Told not to wait, the pipeline is rejected at once.
    let at_once = Pipeline::new(time.clone())
        .admit(&limiter)
        .max_wait(Duration::ZERO);
    let e = block_on(at_once.call(|_| async { Ok::<_, ()>(()) })).unwrap_err();
    assert_eq!(e.rejected().unwrap().reason, RejectReason::RateLimited);
}

#[test]
fn the_fallback_sees_each_true_reason() {
    let time = VirtualTime::new();

    // Failed: no retry, the operation's error.
    let plain = Pipeline::new(time.clone());
    let e = block_on(plain.call(|_| async { Err::<(), _>("boom") })).unwrap_err();
    assert_eq!(plain.falls_back(&e), Some(FallbackReason::Failed));

    // Rejected: an open breaker.
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, time.clone());
    let guarded = Pipeline::new(time.clone()).admit(&breaker);
    let _ = block_on(guarded.call(|_| async { Err::<(), _>("down") }));
    let e = block_on(guarded.call(|_| async { Ok::<_, &str>(()) })).unwrap_err();
    assert!(matches!(
        guarded.falls_back(&e),
        Some(FallbackReason::Rejected(r)) if r.reason == RejectReason::BreakerOpen
    ));

    // Timed out: the attempt's deadline.
    let bounded = Pipeline::new(time.clone())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let hang = |_| {
        let time = time.clone();
        async move {
            time.sleep_until(Instant::MAX).await;
            Ok::<_, &str>(())
        }
    };
    let e = drive(&time, Duration::from_millis(200), bounded.call(hang)).unwrap_err();
    assert_eq!(bounded.falls_back(&e), Some(FallbackReason::TimedOut));

    // Gave up: retries exhausted; the last error is kept.
    let retried = Pipeline::new(time.clone()).retry(retry(2, 10));
    let flaky = |_| async { Err::<u32, _>("flaky") };
    let e = drive(&time, Duration::from_millis(100), retried.call(flaky)).unwrap_err();
    let gave_up = FallbackReason::GaveUp(GiveUp::Attempts);
    assert_eq!(retried.falls_back(&e), Some(gave_up));
    assert_eq!((e.attempts, e.inner()), (2, Some(&"flaky")));

    // call_or_else hands the alternative that same reason and error.
    let seen = Cell::new(None);
    let answered = retried.call_or_else(flaky, |reason, e| {
        seen.set(Some((reason, e.attempts)));
        async { Ok(42) }
    });
    assert_eq!(drive(&time, Duration::from_millis(100), answered), Ok(42));
    assert_eq!(seen.get(), Some((gave_up, 2)));
}

#[test]
fn an_attempt_timeout_cuts_a_hung_call_and_hands_its_slot_back() {
    let time = VirtualTime::new();
    let bulkhead: BulkheadPolicy<4, FixedLimit, VirtualTime> =
        BulkheadPolicy::with_runtime(pool(1), time.clone());
    let pipeline = Pipeline::new(time.clone())
        .admit(&bulkhead)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(50)).unwrap());
    let start = time.now();
    let hang = |_| {
        let time = time.clone();
        async move {
            time.sleep_until(Instant::MAX).await;
            Ok::<_, ()>(())
        }
    };
    let e = drive(&time, Duration::from_millis(100), pipeline.call(hang)).unwrap_err();
    let Error::Timeout(deadline) = e.error else {
        panic!("expected a timeout, got {e:?}");
    };
    assert_eq!(deadline.instant(), start + Duration::from_millis(50));
    assert_eq!(bulkhead.in_flight(), 0);
}

/// A call dropped while its attempt runs hands the attempt's permits back
/// as a timeout only past the deadline the attempt is cut at: past a soft
/// attempt deadline (handed down, cutting nothing) it is cancelled, and the
/// breaker in front counts nothing; in cancel mode the attempt was cut
/// there, a timeout the breaker counts as a failure.
#[test]
fn a_call_dropped_past_a_soft_attempt_deadline_is_cancelled() {
    let counted = |mode: TimeoutMode| {
        let time = VirtualTime::new();
        let breaker = CircuitBreakerPolicy::with_runtime(
            BreakerConfig::DEFAULT,
            CountWindow::<100>::new(),
            time.clone(),
        );
        let per_try = TimeoutConfig::new(Duration::from_millis(50)).unwrap();
        let pipeline = Pipeline::new(time.clone())
            .admit(&breaker)
            .attempt_timeout(per_try.mode(mode));
        let hang = |_| {
            let time = time.clone();
            async move {
                time.sleep_until(Instant::MAX).await;
                Ok::<_, ()>(())
            }
        };
        let until = time.now() + Duration::from_millis(100);
        let call = async {
            let _ = pipeline.call(hang).await;
        };
        // The call is dropped at 100 ms if it has not ended by then.
        let dropped = or(call, time.sleep_until(until));
        drive(&time, Duration::from_millis(120), dropped);
        let metrics = breaker.metrics();
        (metrics.calls, metrics.failures)
    };
    assert_eq!(counted(TimeoutMode::Soft), (0, 0), "cancelled: not counted");
    assert_eq!(
        counted(TimeoutMode::Cancel),
        (1, 1),
        "cut at 50 ms: a timeout"
    );
}

/// A hedge started beside a running attempt does not wait for a rate
/// limiter's permit (waiting, the call would not see the running attempt
/// end): the hedge at 50 ms finds no permit and is turned away at once, and
/// the first attempt's answer at 60 ms is the call's, then. The first
/// attempt itself may wait, as any call does.
#[test]
fn a_hedge_does_not_wait_for_admission_beside_a_running_attempt() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_driver::Idempotent;

    let time = VirtualTime::new();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), time.clone());
    let pipeline = Pipeline::new(time.clone()).admit(&limiter);
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(50)))
        .build()
        .unwrap();
    let start = time.now();
    let read = Idempotent(|attempt: failsafe_driver::Attempt| {
        let time = time.clone();
        async move {
            time.sleep_until(time.now() + Duration::from_millis(60))
                .await;
            Ok::<_, ()>(attempt.number)
        }
    });
    let call = async {
        let answer = pipeline.call_hedged(hedge, (), read).await;
        (answer, time.now() - start)
    };
    let (answer, took) = drive(&time, Duration::from_millis(300), call);
    assert_eq!(answer, Ok(1));
    assert_eq!(
        took,
        Duration::from_millis(60),
        "the first attempt's end, seen at once"
    );
}

#[test]
fn a_hedged_call_waits_for_the_shared_latency_quantile() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay, LatencyQuantile};
    use failsafe_core::sync::Lock;
    use failsafe_driver::{Idempotent, StdLock};

    let time = VirtualTime::new();
    let pipeline = Pipeline::new(time.clone());
    // Calls to this dependency took 40 ms; the p95 is refreshed once a second.
    let ms = Duration::from_millis;
    let latencies = StdLock::new(LatencyQuantile::new(9_500, ms(500), 10, ms(1_000)));
    latencies.with(|q| {
        for i in 0..50 {
            q.record(Instant::from_millis(i), ms(40));
        }
        q.refresh(Instant::from_millis(1_000));
    });
    block_on(time.advance(ms(2_000)));
    let config = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Quantile)
        .build()
        .unwrap();
    let start = time.now();
    let launched = RefCell::new(Vec::new());
    let read = Idempotent(|attempt: failsafe_driver::Attempt| {
        launched
            .borrow_mut()
            .push(time.now().saturating_duration_since(start));
        let time = time.clone();
        async move {
            if attempt.number == 1 {
                time.sleep_until(Instant::MAX).await; // the slow replica
            }
            Ok::<_, ()>(attempt.number)
        }
    });
    let r = drive(
        &time,
        ms(100),
        pipeline.call_hedged(config, &latencies, read),
    );
    assert_eq!(r, Ok(2));
    let hedge_at = launched.borrow()[1];
    // The bucket holding 40 ms reports its upper bound (within 25 %).
    assert!(
        hedge_at >= ms(40) && hedge_at <= ms(50),
        "hedged at {hedge_at:?}"
    );
}
