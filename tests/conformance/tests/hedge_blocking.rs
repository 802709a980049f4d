//! The blocking hedge makes the async hedge's decisions: the same
//! `HedgePlan` timelines run through `hedge` (futures on virtual time) and
//! `hedge_blocking` (one thread per attempt on a lockstep virtual clock),
//! and every launch, winner, latency, budget refusal, answer and token
//! left must match. Nothing sleeps: the lockstep clock moves only when the
//! caller waits and every attempt thread is blocked on it.
//!
//! No timeline here has an attempt ending at the very instant a hedge is
//! due: the async executor takes the result first, while on threads such a
//! tie goes to whichever the OS runs first (in real time it never matters).

use std::cell::RefCell;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use failsafe_conformance::VirtualTime;
use failsafe_core::breaker::{BreakerConfig, CountWindow};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgeEvent};
use failsafe_core::retry::{NoBudget, TokenQuota};
use failsafe_core::sync::Lock;
use failsafe_core::timeout::{Deadline, TimeoutConfig, TimeoutMode};
use failsafe_core::{FnObserver, Instant, Outcome};
use failsafe_driver::{
    Attempt, BlockingRuntime, BulkheadPolicy, CircuitBreakerPolicy, Classify, Clock,
    DefaultClassifier, HedgeContext, Idempotent, Park, Pipeline, PipelineError, RetryError,
    Runtime, StdLock, hedge, hedge_blocking,
};
use futures_lite::future::{block_on, zip};

/// Virtual time for threads, in lockstep: it moves only when the caller
/// parks and every attempt thread still running is blocked on it, and then
/// to the earliest instant anyone waits for. Which attempts are running is
/// told by the test: launched (the hedge's `Launched` event) until the
/// caller has judged its result (the classifier runs).
#[derive(Clone, Default)]
struct Lockstep(Arc<(Mutex<Steps>, Condvar)>);

#[derive(Default)]
struct Steps {
    now: Instant,
    /// Attempts launched and not yet judged by the caller.
    running: usize,
    /// The instants attempt threads are blocked until.
    asleep: Vec<Instant>,
    caller: Option<Thread>,
    released: bool,
}

impl Lockstep {
    fn steps(&self) -> MutexGuard<'_, Steps> {
        self.0.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn launched(&self) {
        self.steps().running += 1;
    }

    fn judged(&self) {
        let mut steps = self.steps();
        steps.running = steps.running.saturating_sub(1);
    }

    /// Lets every thread still blocked on the clock go (the abandoned
    /// losers, once the call is over).
    fn release(&self) {
        self.steps().released = true;
        self.0.1.notify_all();
    }
}

impl Clock for Lockstep {
    fn now(&self) -> Instant {
        self.steps().now
    }
}

/// An attempt thread taking virtual time: blocks until the clock reaches
/// `at` (the caller moves it).
impl BlockingRuntime for Lockstep {
    fn block_until(&self, at: Instant) {
        let mut steps = self.steps();
        if steps.now >= at {
            return;
        }
        steps.asleep.push(at);
        if let Some(caller) = &steps.caller {
            caller.unpark(); // it may be waiting for this thread to settle
        }
        while steps.now < at && !steps.released {
            steps = self.0.1.wait(steps).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The caller waiting: once every running attempt is blocked, time jumps
/// to the earliest instant anyone waits for, waking the threads due;
/// until then it parks (an attempt blocking or ending unparks it).
impl Park for Lockstep {
    fn park_until(&self, deadline: Option<Instant>) {
        let mut steps = self.steps();
        steps.caller = Some(thread::current());
        if steps.asleep.len() >= steps.running {
            let earliest = steps.asleep.iter().copied().chain(deadline).min();
            if let Some(next) = earliest {
                steps.now = steps.now.max(next);
                let now = steps.now;
                steps.asleep.retain(|at| *at > now);
                self.0.1.notify_all();
            }
            return;
        }
        drop(steps);
        thread::park();
    }
}

/// Judges like the default classifier, and tells the lockstep clock the
/// attempt is no longer running.
struct Judging(Lockstep);

impl Classify<u32, u32> for Judging {
    fn classify(&self, result: &Result<u32, u32>) -> Outcome {
        self.0.judged();
        DefaultClassifier.classify(result)
    }
}

/// One timeline: how each attempt goes (how long it takes, and whether it
/// answers or fails), under a hedge config, a deadline and a budget.
#[derive(Clone, Copy, Debug)]
struct Timeline {
    config: HedgeConfig,
    deadline_ms: Option<u64>,
    quota: Option<TokenQuota>,
    /// Attempt n: (milliseconds it takes, answers?).
    attempts: [(u64, bool); 4],
}

/// What a run decided.
#[derive(Debug, PartialEq, Eq)]
struct Decided {
    result: Result<u32, RetryError<u32>>,
    events: Vec<HedgeEvent>,
    tokens: Option<u32>,
}

fn answer(timeline: &Timeline, attempt: u32) -> (Duration, Result<u32, u32>) {
    let (ms, ok) = timeline.attempts[(attempt - 1) as usize];
    let result = if ok { Ok(attempt) } else { Err(attempt) };
    (Duration::from_millis(ms), result)
}

fn deadline(timeline: &Timeline) -> Deadline {
    timeline
        .deadline_ms
        .map_or(Deadline::NEVER, |ms| Deadline::at(Instant::from_millis(ms)))
}

fn run_async(timeline: Timeline) -> Decided {
    let time = VirtualTime::new();
    let quota = timeline.quota.map(StdLock::new);
    let events = RefCell::new(Vec::new());
    let observer = FnObserver(|e| events.borrow_mut().push(e));
    let read = Idempotent(|attempt: Attempt| {
        let time = time.clone();
        let (took, result) = answer(&timeline, attempt.number);
        async move {
            time.sleep_until(time.now() + took).await;
            result
        }
    });
    let result = {
        let steps = async {
            for _ in 0..200 {
                time.advance(Duration::from_millis(5)).await;
            }
        };
        match &quota {
            Some(quota) => {
                let ctx = context(timeline, quota, observer);
                block_on(zip(hedge(&time, ctx, &DefaultClassifier, read), steps)).0
            }
            None => {
                let ctx = context(timeline, &NoBudget, observer);
                block_on(zip(hedge(&time, ctx, &DefaultClassifier, read), steps)).0
            }
        }
    };
    Decided {
        result,
        events: events.into_inner(),
        tokens: quota.map(|q| q.with(|q| q.tokens())),
    }
}

fn context<L: ?Sized, O>(
    timeline: Timeline,
    budget: &L,
    observer: O,
) -> HedgeContext<'_, L, (), O> {
    HedgeContext {
        config: timeline.config,
        deadline: deadline(&timeline),
        budget,
        latencies: (),
        observer,
    }
}

fn run_blocking(timeline: Timeline) -> Decided {
    let clock = Lockstep::default();
    let quota = timeline.quota.map(StdLock::new);
    let events = RefCell::new(Vec::new());
    let observer = FnObserver(|e| {
        if let HedgeEvent::Launched { .. } = e {
            clock.launched();
        }
        events.borrow_mut().push(e);
    });
    let (ended, threads_done) = channel::<u32>();
    let ended = Mutex::new(ended);
    let on_thread = clock.clone();
    let read = Idempotent(move |attempt: Attempt| {
        let (took, result) = answer(&timeline, attempt.number);
        on_thread.block_until(on_thread.now() + took);
        let ended: Sender<u32> = ended.lock().unwrap().clone();
        ended.send(attempt.number).unwrap();
        result
    });
    let judging = Judging(clock.clone());
    let result = match &quota {
        Some(quota) => hedge_blocking(&clock, context(timeline, quota, observer), &judging, read),
        None => hedge_blocking(
            &clock,
            context(timeline, &NoBudget, observer),
            &judging,
            read,
        ),
    };
    let events = events.into_inner();
    // Every attempt's thread ends, the abandoned ones once released.
    clock.release();
    let launched = events
        .iter()
        .filter(|e| matches!(e, HedgeEvent::Launched { .. }))
        .count();
    for _ in 0..launched {
        threads_done.recv().expect("every attempt thread ends");
    }
    Decided {
        result,
        events,
        tokens: quota.map(|q| q.with(|q| q.tokens())),
    }
}

fn config(attempts: u32, delay: HedgeDelay) -> HedgeConfig {
    HedgeConfig::builder()
        .max_attempts(attempts)
        .delay(delay)
        .build()
        .unwrap()
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn launched(attempt: u32, ms: u64) -> HedgeEvent {
    HedgeEvent::Launched {
        attempt,
        at: at(ms),
    }
}

fn won(attempt: u32, ms: u64, latency: u64) -> HedgeEvent {
    HedgeEvent::Won {
        attempt,
        at: at(ms),
        latency: Duration::from_millis(latency),
    }
}

/// Runs `timeline` both ways, checks they decided alike, and returns it.
fn same_decisions(timeline: Timeline) -> Decided {
    let on_futures = run_async(timeline);
    let on_threads = run_blocking(timeline);
    assert_eq!(on_threads, on_futures, "{timeline:?}");
    on_threads
}

fn timeline(config: HedgeConfig, attempts: [(u64, bool); 4]) -> Timeline {
    Timeline {
        config,
        deadline_ms: None,
        quota: None,
        attempts,
    }
}

const NEVER_RUN: (u64, bool) = (1, true);

#[test]
fn a_slow_first_attempt_is_overtaken_by_the_hedge() {
    let t = timeline(
        config(3, HedgeDelay::Fixed(ms(50))),
        [(200, true), (30, true), (10, true), NEVER_RUN],
    );
    let decided = same_decisions(t);
    assert_eq!(decided.result, Ok(2));
    assert_eq!(
        decided.events,
        [launched(1, 0), launched(2, 50), won(2, 80, 30)]
    );
}

#[test]
fn a_failure_launches_the_next_at_once_and_the_delay_runs_from_there() {
    let t = timeline(
        config(3, HedgeDelay::Fixed(ms(50))),
        [(20, false), (100, true), (10, true), NEVER_RUN],
    );
    let decided = same_decisions(t);
    assert_eq!(decided.result, Ok(3));
    let expected = [
        launched(1, 0),
        launched(2, 20),
        launched(3, 70),
        won(3, 80, 10),
    ];
    assert_eq!(decided.events, expected);
}

#[test]
fn on_failure_hedges_chain_failures_up_to_the_fourth_attempt() {
    let t = timeline(
        config(4, HedgeDelay::OnFailure),
        [(10, false), (25, false), (5, false), (7, true)],
    );
    let decided = same_decisions(t);
    assert_eq!(decided.result, Ok(4));
    let expected = [
        launched(1, 0),
        launched(2, 10),
        launched(3, 35),
        launched(4, 40),
        won(4, 47, 7),
    ];
    assert_eq!(decided.events, expected);
}

#[test]
fn parallel_attempts_that_all_fail_answer_with_the_last_failure() {
    let t = timeline(
        config(3, HedgeDelay::Parallel),
        [(30, false), (10, false), (20, false), NEVER_RUN],
    );
    let decided = same_decisions(t);
    let error = decided.result.unwrap_err();
    assert_eq!((error.attempts, error.last), (3, Some(1)));
}

#[test]
fn a_budget_that_refuses_the_second_hedge_leaves_the_same_tokens() {
    // 10 tokens; a hedge is priced as a timeout: 10
    let mut t = timeline(
        config(4, HedgeDelay::Fixed(ms(40))),
        [(500, true), (500, true), NEVER_RUN, NEVER_RUN],
    );
    t.quota = Some(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
    let decided = same_decisions(t);
    assert_eq!(decided.result, Ok(1));
    let expected = [
        launched(1, 0),
        launched(2, 40),
        HedgeEvent::BudgetExhausted { at: at(80) },
        won(1, 500, 500),
    ];
    assert_eq!(decided.events, expected);
    assert_eq!(decided.tokens, Some(0));
}

#[test]
fn function_delays_and_the_deadline_decide_alike() {
    fn stepped(n: u32) -> Duration {
        Duration::from_millis(15 * u64::from(n))
    }
    let t = timeline(
        config(3, HedgeDelay::Function(stepped)),
        [(100, true), (100, true), (12, true), NEVER_RUN],
    );
    let decided = same_decisions(t);
    let expected = [
        launched(1, 0),
        launched(2, 30),
        launched(3, 75),
        won(3, 87, 12),
    ];
    assert_eq!(decided.events, expected);

    // No hedge starts at or after the deadline: the first attempt answers.
    let mut t = timeline(
        config(3, HedgeDelay::Fixed(ms(50))),
        [(100, true), NEVER_RUN, NEVER_RUN, NEVER_RUN],
    );
    t.deadline_ms = Some(45);
    let decided = same_decisions(t);
    assert_eq!(decided.events, [launched(1, 0), won(1, 100, 100)]);
}

/// What a hedged pipeline call decided, and the bulkhead slots each
/// attempt saw taken when it started.
#[derive(Debug, PartialEq, Eq)]
struct PipelineDecided {
    result: Result<u32, PipelineError<u32>>,
    events: Vec<HedgeEvent>,
    slots_at_start: Vec<u32>,
    /// What the breaker in front counted: calls and failures (an abandoned
    /// loser counts as a failure only if it was cut: a timeout).
    breaker: (u64, u64),
}

fn two_slots() -> BulkheadConfig {
    BulkheadConfig::builder().max_concurrent(2).build().unwrap()
}

fn breaker<R: Clock>(runtime: R) -> CircuitBreakerPolicy<CountWindow<100>, R> {
    CircuitBreakerPolicy::with_runtime(BreakerConfig::default(), CountWindow::new(), runtime)
}

fn breaker_counts<R: Clock>(breaker: &CircuitBreakerPolicy<CountWindow<100>, R>) -> (u64, u64) {
    let metrics = breaker.metrics();
    (metrics.calls, metrics.failures)
}

fn pipeline_async(timeline: Timeline, attempt_timeout: Option<TimeoutConfig>) -> PipelineDecided {
    let time = VirtualTime::new();
    let pool: BulkheadPolicy<4, FixedLimit, VirtualTime> =
        BulkheadPolicy::with_runtime(two_slots(), time.clone());
    let breaker = breaker(time.clone());
    let events = RefCell::new(Vec::new());
    let observer = FnObserver(|e| events.borrow_mut().push(e));
    let mut pipeline = Pipeline::new(time.clone())
        .admit(&breaker)
        .admit(&pool)
        .observe_hedges(observer);
    if let Some(config) = attempt_timeout {
        pipeline = pipeline.attempt_timeout(config);
    }
    let slots = RefCell::new(Vec::new());
    let read = Idempotent(|attempt: Attempt| {
        slots.borrow_mut().push(pool.in_flight());
        let time = time.clone();
        let (took, result) = answer(&timeline, attempt.number);
        async move {
            time.sleep_until(time.now() + took).await;
            result
        }
    });
    let steps = async {
        for _ in 0..200 {
            time.advance(Duration::from_millis(5)).await;
        }
    };
    let call = pipeline.call_hedged(timeline.config, (), read);
    let result = block_on(zip(call, steps)).0;
    assert_eq!(pool.in_flight(), 0, "every slot handed back");
    PipelineDecided {
        result,
        events: events.into_inner(),
        slots_at_start: slots.into_inner(),
        breaker: breaker_counts(&breaker),
    }
}

fn pipeline_blocking(
    timeline: Timeline,
    attempt_timeout: Option<TimeoutConfig>,
) -> PipelineDecided {
    let clock = Lockstep::default();
    let pool: BulkheadPolicy<4, FixedLimit, Lockstep> =
        BulkheadPolicy::with_runtime(two_slots(), clock.clone());
    let breaker = breaker(clock.clone());
    let events = Arc::new(Mutex::new(Vec::new()));
    let (seen, counted) = (Arc::clone(&events), clock.clone());
    // The winner is the only attempt judged here (losers are abandoned):
    // its `Won` tells the lockstep clock it is no longer running.
    let observer = FnObserver(move |e| {
        match e {
            HedgeEvent::Launched { .. } => counted.launched(),
            HedgeEvent::Won { .. } => counted.judged(),
            _ => {}
        }
        seen.lock().unwrap().push(e);
    });
    let mut pipeline = Pipeline::new(clock.clone())
        .admit(&breaker)
        .admit(&pool)
        .observe_hedges(observer);
    if let Some(config) = attempt_timeout {
        pipeline = pipeline.attempt_timeout(config);
    }
    let slots = Arc::new(Mutex::new(Vec::new()));
    let (ended, threads_done) = channel::<u32>();
    let ended = Mutex::new(ended);
    let (on_thread, pool_seen, slots_seen) = (clock.clone(), pool.clone(), Arc::clone(&slots));
    let read = Idempotent(move |attempt: Attempt| {
        slots_seen.lock().unwrap().push(pool_seen.in_flight());
        let (took, result) = answer(&timeline, attempt.number);
        on_thread.block_until(on_thread.now() + took);
        let ended: Sender<u32> = ended.lock().unwrap().clone();
        ended.send(attempt.number).unwrap();
        result
    });
    let result = pipeline.call_hedged_blocking(timeline.config, (), read);
    assert_eq!(
        pool.in_flight(),
        0,
        "every slot handed back, the abandoned ones too"
    );
    clock.release();
    let events = events.lock().unwrap().clone();
    let launched = events
        .iter()
        .filter(|e| matches!(e, HedgeEvent::Launched { .. }))
        .count();
    for _ in 0..launched {
        threads_done.recv().expect("every attempt thread ends");
    }
    let slots_at_start = slots.lock().unwrap().clone();
    PipelineDecided {
        result,
        events,
        slots_at_start,
        breaker: breaker_counts(&breaker),
    }
}

/// Hedge events reach the pipeline's hedge observer, async and blocking
/// alike: the slow first attempt is overtaken by the hedge, each attempt
/// holding its own bulkhead slot, and the abandoned loser's slot is back.
#[test]
fn a_hedged_pipeline_call_reports_its_events_and_decides_alike_on_threads() {
    let t = timeline(
        config(2, HedgeDelay::Fixed(ms(50))),
        [(200, true), (10, true), NEVER_RUN, NEVER_RUN],
    );
    let on_futures = pipeline_async(t, None);
    let on_threads = pipeline_blocking(t, None);
    assert_eq!(on_threads, on_futures);
    assert_eq!(on_threads.result, Ok(2));
    assert_eq!(
        on_threads.events,
        [launched(1, 0), launched(2, 50), won(2, 60, 10)]
    );
    assert_eq!(on_threads.slots_at_start, [1, 2]);
    assert_eq!(on_threads.breaker, (1, 0), "the loser was not counted");
}

/// An attempt cut at its attempt timeout is a failure to the hedge (the
/// next attempt starts at once) and its slot goes back then, though its
/// thread runs on.
#[test]
fn an_attempt_cut_at_its_timeout_is_abandoned_and_hedged_at_once() {
    let t = timeline(
        config(2, HedgeDelay::Fixed(ms(50))),
        [(200, true), (10, true), NEVER_RUN, NEVER_RUN],
    );
    let on_futures = pipeline_async(t, Some(per_try(30)));
    let on_threads = pipeline_blocking(t, Some(per_try(30)));
    assert_eq!(on_threads, on_futures);
    assert_eq!(on_threads.result, Ok(2));
    assert_eq!(
        on_threads.events,
        [launched(1, 0), launched(2, 30), won(2, 40, 10)]
    );
    assert_eq!(
        on_threads.slots_at_start,
        [1, 1],
        "the cut attempt's slot was back"
    );
    assert_eq!(on_threads.breaker, (2, 1), "the cut attempt timed out");
}

/// A soft attempt timeout only hands its deadline down: the first attempt
/// runs past it uncut, the hedge overtakes it at 50 ms, and the abandoned
/// loser's permits go back as cancelled, not as a timeout (the breaker
/// counts the winner alone), on futures and on threads alike.
#[test]
fn a_loser_past_its_soft_deadline_is_cancelled_not_timed_out() {
    let t = timeline(
        config(2, HedgeDelay::Fixed(ms(50))),
        [(200, true), (10, true), NEVER_RUN, NEVER_RUN],
    );
    let soft = per_try(30).mode(TimeoutMode::Soft);
    let on_futures = pipeline_async(t, Some(soft));
    let on_threads = pipeline_blocking(t, Some(soft));
    assert_eq!(on_threads, on_futures);
    assert_eq!(on_threads.result, Ok(2));
    assert_eq!(
        on_threads.events,
        [launched(1, 0), launched(2, 50), won(2, 60, 10)]
    );
    assert_eq!(on_threads.breaker, (1, 0), "the loser was not counted");
}

fn per_try(ms: u64) -> TimeoutConfig {
    TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
}

/// The blocking hedge keeps the async hedge's admission rule (`pipeline.rs`,
/// `a_hedge_does_not_wait_for_admission_beside_a_running_attempt`): a hedge
/// started beside a running attempt does not wait for a rate limiter's
/// permit. The hedge due at 50 ms finds none (the next is at 100 ms) and is
/// turned away at once; the first attempt's answer at 60 ms is the call's,
/// then. Were the caller to wait for the permit, nothing would move the
/// lockstep clock again: the watchdog turns that hang into a failure.
#[test]
fn a_blocking_hedge_does_not_wait_for_admission_beside_a_running_attempt() {
    use failsafe_core::rate::{Quota, RateEvent};
    use failsafe_driver::RateLimiterPolicy;

    let clock = Lockstep::default();
    // A hedge the limiter turns away never runs: no longer counted as
    // running once refused (its `Launched` came first).
    let refused = clock.clone();
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), clock.clone())
        .on_event(move |e| {
            if matches!(e, RateEvent::Rejected { .. }) {
                refused.judged();
            }
        });
    // Leaked: the pipeline borrows it, and the call runs on a thread of its
    // own (the watchdog's) that may outlive this test if the rule breaks.
    let limiter: &'static _ = Box::leak(Box::new(limiter));
    let counted = clock.clone();
    let observer = FnObserver(move |e| match e {
        HedgeEvent::Launched { .. } => counted.launched(),
        HedgeEvent::Won { .. } => counted.judged(),
        _ => {}
    });
    let pipeline = Pipeline::new(clock.clone())
        .admit(limiter)
        .observe_hedges(observer);
    let on_thread = clock.clone();
    let read = Idempotent(move |attempt: Attempt| {
        on_thread.block_until(on_thread.now() + ms(60));
        Ok::<u32, u32>(attempt.number)
    });
    let (done, answered) = channel();
    let on_caller = clock.clone();
    thread::spawn(move || {
        let start = on_caller.now();
        let result = pipeline.call_hedged_blocking(config(2, HedgeDelay::Fixed(ms(50))), (), read);
        let _ = done.send((result, on_caller.now() - start));
    });
    let answer = answered.recv_timeout(Duration::from_secs(30));
    clock.release();
    let (result, took) = answer.expect("the call answers without waiting for the permit");
    assert_eq!(result, Ok(1));
    assert_eq!(took, ms(60), "the first attempt's end, seen at once");
}
