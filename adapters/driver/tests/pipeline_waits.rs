//! What a pipeline's waits owe its caller: a wait for admission (a
//! bulkhead's queue) ends at the attempt's timeout, the call's timeout or
//! the pipeline's `max_wait`, async and blocking; a hedge beside running
//! attempts never waits for admission, so it cannot hold them up; a call
//! whose operation can make no further attempt answers with the last
//! result, at once (no backoff waited for an attempt never to be made). And a panicking cache leader or half-open probe loses nothing.
//! (Each but the last two failed before its fix; a helper's review found
//! them.) Virtual time throughout: a discrete event simulation (`Sim`)
//! whose clock jumps to the earliest instant any pending sleep waits for,
//! so no test sleeps in real time.

use std::cell::Cell;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::bulkhead::BulkheadConfig;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_driver::{BlockingRuntime, BulkheadPolicy, Clock, Error, Park, Pipeline, Runtime};

/// Virtual time: a pending sleep records its instant; the driver loop then
/// jumps the clock to the earliest one recorded.
#[derive(Debug, Default)]
struct Sim {
    now: Cell<Instant>,
    next: Cell<Option<Instant>>,
}

impl Sim {
    fn want(&self, at: Instant) {
        let next = self.next.get().map_or(at, |n| n.min(at));
        self.next.set(Some(next));
    }
}

impl Clock for &Sim {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

struct SimSleep<'a>(&'a Sim, Instant);

impl Future for SimSleep<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0.now.get() >= self.1 {
            return Poll::Ready(());
        }
        self.0.want(self.1);
        Poll::Pending
    }
}

impl<'a> Runtime for &'a Sim {
    type Sleep = SimSleep<'a>;
    fn sleep_until(&self, at: Instant) -> SimSleep<'a> {
        SimSleep(self, at)
    }
}

/// A blocked thread's wait jumps the clock (nobody else runs meanwhile).
impl Park for &Sim {
    fn park_until(&self, deadline: Option<Instant>) {
        match deadline {
            Some(at) => self.now.set(self.now.get().max(at)),
            None => panic!("parked without a deadline: would hang"),
        }
    }
}

impl BlockingRuntime for &Sim {
    fn block_until(&self, at: Instant) {
        self.now.set(self.now.get().max(at));
    }
}

/// Runs `fut` to its end in virtual time.
fn run<F: Future>(sim: &Sim, fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        sim.next.set(None);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        match sim.next.get() {
            Some(at) => sim.now.set(sim.now.get().max(at)),
            None => panic!("pending with nothing to wait for at {:?}", sim.now.get()),
        }
    }
    panic!("no end in 10 000 steps");
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// One slot, a queue whose wait lasts 10 s.
fn one_slot(sim: &Sim) -> BulkheadPolicy<4, failsafe_core::bulkhead::FixedLimit, &Sim> {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    BulkheadPolicy::with_runtime(config, sim)
}

// ---------------------------------------------------------------------
// Pipeline: the documented bounds on waiting for admission
// ---------------------------------------------------------------------

/// `Pipeline::timeout`: "no attempt runs past it"; `attempt_timeout`:
/// "Bounds each attempt (waiting for admission included)". An attempt
/// queued in a bulkhead is cut at either (it once waited out the
/// bulkhead's own 10 s).
#[test]
fn the_call_timeout_ends_a_wait_in_a_bulkhead_queue() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .timeout(Duration::from_millis(100));
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    let ended = sim.now.get();
    drop(held);
    assert!(
        ended <= ms(100),
        "the call's 100 ms deadline should end it; it ended at {ended:?} with {r:?}"
    );
    assert!(matches!(r.unwrap_err().error, Error::Timeout(_)));
    assert_eq!(pool.in_flight(), 0);
    assert_eq!(pool.queued(), 0);
}

#[test]
fn the_attempt_timeout_ends_a_wait_in_a_bulkhead_queue() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    let ended = sim.now.get();
    drop(held);
    assert!(
        ended <= ms(100),
        "the 100 ms attempt timeout should cut the wait; it ended at {ended:?} with {r:?}"
    );
}

/// `Pipeline::max_wait`: "Each attempt waits at most `max_wait` for
/// admission: a rate limiter's permits, a bulkhead's queue".
#[test]
fn max_wait_ends_a_wait_in_a_bulkhead_queue() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .max_wait(Duration::from_millis(50));
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    let ended = sim.now.get();
    drop(held);
    assert!(
        ended <= ms(50),
        "max_wait(50 ms) should bound the queue wait; it ended at {ended:?} with {r:?}"
    );
}

/// The blocking twin: the thread stays parked for the bulkhead's 10 s.
#[test]
fn the_call_timeout_ends_a_blocking_wait_in_a_bulkhead_queue() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .timeout(Duration::from_millis(100));
    let r = pipeline.call_blocking(|_| Ok::<_, ()>(()));
    let ended = sim.now.get();
    drop(held);
    assert!(
        ended <= ms(100),
        "the call's 100 ms deadline should end it; it ended at {ended:?} with {r:?}"
    );
    assert!(matches!(r.unwrap_err().error, Error::Timeout(_)));
    assert_eq!(pool.in_flight(), 0);
    assert_eq!(pool.queued(), 0);
}

/// A hedge beside a running attempt never waits for its admission, even
/// under a `max_wait`: while
/// a call waits for admission, its running attempts are not polled, so
/// attempt 1, which answers at 50 ms, was once not seen (nor its permits
/// handed back) until the hedge's rate-limiter booking came due at 1 s.
/// "The first success wins": it answers at 50 ms.
#[test]
fn a_hedge_does_not_wait_for_admission_and_hold_up_the_running_attempts() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_core::rate::Quota;
    use failsafe_driver::{Idempotent, RateLimiterPolicy};
    let sim = Sim::default();
    let limiter: RateLimiterPolicy<&Sim> =
        RateLimiterPolicy::with_runtime(Quota::with_period(Duration::from_secs(1)).unwrap(), &sim);
    let pipeline = Pipeline::new(&sim)
        .admit(&limiter)
        .max_wait(Duration::from_secs(5));
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    let sim_ref = &sim;
    let op = Idempotent(move |attempt: failsafe_driver::Attempt| async move {
        let done = if attempt.number == 1 {
            ms(50)
        } else {
            ms(5_000)
        };
        SimSleep(sim_ref, done).await;
        Ok::<_, ()>(attempt.number)
    });
    let r = run(&sim, pipeline.call_hedged(hedge, (), op));
    let ended = sim.now.get();
    assert_eq!(r, Ok(1));
    assert_eq!(ended, ms(50), "attempt 1 answered at 50 ms");
}

// ---------------------------------------------------------------------
// execute: an operation that can make no further attempt
// ---------------------------------------------------------------------

/// `Execute::poll`: when `Attempts::make` answers `None` (the operation
/// cannot be sent again), the call answers with the result of the attempt
/// that did run (and ended last); it once answered with none. The
/// `Step::Finish` contract says the result is "the attempt that ended
/// last; none if the attempt was dropped or none ran", and the pipeline's
/// twin (`Pipeline::call_attempts`) keeps it (`take_last`).
#[test]
fn execute_answers_with_the_last_result_when_no_further_attempt_can_be_made() {
    use failsafe_core::plan::Judged;
    use failsafe_core::retry::{BackoffKind, Jitter, NoBudget, RetryConfig, RetryPlan};
    use failsafe_core::rng::Xorshift64;
    use failsafe_core::timeout::Deadline;
    use failsafe_driver::{Once, RetryError, execute};
    let sim = Sim::default();
    let config = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let plan = RetryPlan::new(
        config,
        Deadline::NEVER,
        &NoBudget,
        Xorshift64::new(1),
        (),
        ms(0),
    );
    let judge = |_, r: &Result<(), &str>| match r {
        Ok(_) => Judged::SUCCESS,
        Err(_) => Judged::verdict(failsafe_core::retry::Verdict::retry()),
    };
    // A request body that can be sent once only.
    let once = Once(Some(|_| async { Err::<(), _>("connection reset") }));
    let r = run(
        &sim,
        execute(&&sim, ms(0), plan, judge, once, RetryError::from_finish),
    );
    let error = r.unwrap_err();
    assert_eq!(error.attempts, 1);
    assert_eq!(
        error.last,
        Some("connection reset"),
        "the one attempt's error is the answer's last error"
    );
    // Answered at once: no backoff waited for an attempt that could never
    // be made (a review found it waited the 10 ms first).
    assert_eq!(sim.now.get(), ms(0), "no backoff waited");
    assert_eq!(error.reason, failsafe_core::retry::GiveUp::NotRetryable);
}

// ---------------------------------------------------------------------
// Kept as guards: a cache leader whose
// loader panics lets its follower load.
// ---------------------------------------------------------------------

#[test]
fn a_panicking_async_cache_leader_lets_its_follower_load() {
    use failsafe_core::cache::{Cache, CacheConfig, WithWaiters};
    use failsafe_driver::{Cached, SharedCache, StdLock};
    let sim = Sim::default();
    let store: WithWaiters<Cache<u8, u32, 8>, 4> =
        WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 1));
    let cache = SharedCache::new(StdLock::new(store), &sim);
    let mut cx = Context::from_waker(Waker::noop());
    let mut leader = Box::pin(cache.get_or_load(1, || async {
        SimSleep(&sim, ms(5)).await;
        panic!("loader panics");
        #[allow(unreachable_code)]
        Ok::<u32, ()>(0)
    }));
    assert!(leader.as_mut().poll(&mut cx).is_pending(), "leads, loading");
    let mut follower = Box::pin(cache.get_or_load(1, || async { Ok::<u32, ()>(7) }));
    assert!(follower.as_mut().poll(&mut cx).is_pending(), "follows");
    sim.now.set(ms(5));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = leader.as_mut().poll(&mut cx);
    }));
    std::panic::set_hook(hook);
    assert!(panicked.is_err());
    drop(leader);
    let r = run(&sim, follower);
    assert_eq!(r, Ok(Cached::Loaded(7)));
    assert!(sim.now.get() < ms(1_000), "not after the 30 s lease");
}

/// Regression (passes today): a half-open breaker's probe whose closure
/// panics in `call_blocking` is not lost: the next call probes.
#[test]
fn a_panicking_probe_does_not_lose_the_half_open_probe() {
    use failsafe_core::breaker::{BreakerConfig, NoWindow, State};
    use failsafe_driver::CircuitBreakerPolicy;
    let sim = Sim::default();
    let config = BreakerConfig::builder()
        .consecutive_failures(1)
        .open_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let breaker = CircuitBreakerPolicy::with_runtime(config, NoWindow, &sim);
    let _ = breaker.call_blocking(|| Err::<(), _>("down"));
    sim.now.set(ms(1_000));
    assert_eq!(breaker.state(), State::HalfOpen);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        breaker.call_blocking(|| -> Result<(), ()> { panic!("probe panics") })
    }));
    std::panic::set_hook(hook);
    assert!(panicked.is_err());
    assert_eq!(
        breaker.call_blocking(|| Ok::<_, ()>(1)),
        Ok(1),
        "the next call probes"
    );
    assert_eq!(breaker.state(), State::Closed);
}

// ---------------------------------------------------------------------
// A wait cut at a deadline is a timeout, retried as one (a second review)
// ---------------------------------------------------------------------

fn three_tries() -> failsafe_core::retry::RetryConfig {
    use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
    RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// Control: an attempt cut at its attempt timeout while *running* is
/// retried as a timeout (ATTEMPT_TIMED_OUT): three attempts.
#[test]
fn control_a_running_attempt_cut_at_its_attempt_timeout_is_retried() {
    let sim = Sim::default();
    let pipeline = Pipeline::new(&sim)
        .retry(three_tries())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let s = &sim;
    let r = run(
        &sim,
        pipeline.call(move |_| async move {
            let at = s.now.get() + Duration::from_secs(1);
            SimSleep(s, at).await;
            Ok::<_, ()>(())
        }),
    );
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)));
    assert_eq!(e.attempts, 3);
}

/// "Bounds each attempt (waiting for admission included): an attempt
/// still running at now + timeout is cut and retried as a timeout." A wait
/// in a bulkhead's queue cut at the attempt timeout is answered as a
/// timeout, but judged DoNotRetry (judged: None, not a Rejected): the
/// retries stop after one attempt.
#[test]
fn a_queue_wait_cut_at_the_attempt_timeout_is_retried_as_a_timeout() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .retry(three_tries())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    drop(held);
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)), "{:?}", e.error);
    assert_eq!(
        (e.attempts, e.gave_up),
        (3, Some(failsafe_core::retry::GiveUp::Attempts)),
        "retried as a timeout is"
    );
}

/// The blocking twin of the above.
#[test]
fn a_blocking_queue_wait_cut_at_the_attempt_timeout_is_retried_as_a_timeout() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .retry(three_tries())
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(100)).unwrap());
    let r = pipeline.call_blocking(|_| Ok::<_, ()>(()));
    drop(held);
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)), "{:?}", e.error);
    assert_eq!(e.attempts, 3, "retried as a timeout is");
}

/// A call whose overall deadline ends its wait in the queue: the retries
/// stopped for the deadline (GiveUp::Deadline), not NotRetryable.
#[test]
fn a_call_timeout_in_a_queue_gives_up_for_the_deadline() {
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .retry(three_tries())
        .timeout(Duration::from_millis(100));
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    drop(held);
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)), "{:?}", e.error);
    assert_eq!(e.gave_up, Some(failsafe_core::retry::GiveUp::Deadline));
}

/// Soft attempt timeout: "the attempt only gets that deadline to hand
/// down and runs on". Its queue wait is now given up at the handed-down
/// deadline and answered as a *rejection* DeadlineTooShort (the cut is
/// the call's deadline, not yet passed), which is not retried.
#[test]
fn a_soft_attempt_timeout_does_not_turn_a_queue_wait_into_a_rejection() {
    use failsafe_core::timeout::TimeoutMode;
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .retry(three_tries())
        .attempt_timeout(
            TimeoutConfig::new(Duration::from_millis(100))
                .unwrap()
                .mode(TimeoutMode::Soft),
        );
    let r = run(&sim, pipeline.call(|_| async { Ok::<_, ()>(()) }));
    let ended = sim.now.get();
    drop(held);
    let e = r.unwrap_err();
    assert!(
        !matches!(&e.error, Error::Rejected(r) if r.reason == failsafe_core::RejectReason::DeadlineTooShort),
        "ended at {ended:?} with a DeadlineTooShort rejection after {} attempt(s)",
        e.attempts
    );
}

/// The blocking hedge: attempt 1 waits in the queue (parks) and the
/// call's deadline ends the wait. The async hedge answers Error::Timeout;
/// the blocking one answers the bulkhead's DeadlineTooShort rejection.
#[test]
fn a_blocking_hedge_whose_queue_wait_is_cut_at_the_deadline_times_out() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_driver::Idempotent;
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .timeout(Duration::from_millis(100));
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    let r = pipeline.call_hedged_blocking(hedge, (), Idempotent(|_| Ok::<_, ()>(1)));
    drop(held);
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)), "{:?}", e.error);
}

/// The async hedge, as a control for the above.
#[test]
fn control_an_async_hedge_whose_queue_wait_is_cut_at_the_deadline_times_out() {
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_driver::Idempotent;
    let sim = Sim::default();
    let pool = one_slot(&sim);
    let held = pool.try_acquire().unwrap();
    let pipeline = Pipeline::new(&sim)
        .admit(&pool)
        .timeout(Duration::from_millis(100));
    let hedge = HedgeConfig::builder()
        .max_attempts(2)
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    let r = run(
        &sim,
        pipeline.call_hedged(hedge, (), Idempotent(|_| async { Ok::<_, ()>(1) })),
    );
    drop(held);
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)), "{:?}", e.error);
}

/// Control: a running attempt cut at the call's deadline gives up for
/// the deadline.
#[test]
fn control_a_running_attempt_cut_at_the_call_deadline_gives_up_for_it() {
    let sim = Sim::default();
    let pipeline = Pipeline::new(&sim)
        .retry(three_tries())
        .timeout(Duration::from_millis(100));
    let s = &sim;
    let r = run(
        &sim,
        pipeline.call(move |_| async move {
            let at = s.now.get() + Duration::from_secs(1);
            SimSleep(s, at).await;
            Ok::<_, ()>(())
        }),
    );
    let e = r.unwrap_err();
    assert!(matches!(e.error, Error::Timeout(_)));
    assert_eq!(e.gave_up, Some(failsafe_core::retry::GiveUp::Deadline));
}
