//! The same scenarios through the driver's real async `Pipeline`
//! (`failsafe_driver::Pipeline::call`), on a virtual-time runtime and a
//! one-thread executor of its own: every client call is a task, every
//! sleep a timer; when no task can run the clock jumps to the next timer
//! or arrival. Slower than [`engine`](crate::engine) (a future per call,
//! wakers, a lock per admission) and used to check it: both run the same
//! machines, so they must tell the same story.
//!
//! Results are judged by the same rule as the engine's ([`classify`]):
//! a 429's `Retry-After` is the retry's hint.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Wake;

use failsafe_core::admission::{Call, Entry, NoWait};
use failsafe_core::classify::Classify;
use failsafe_core::retry::RetryConfig;
use failsafe_core::retry::Verdict;
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::{Shared, SharedAdmission};
use failsafe_core::timeout::Deadline;
use failsafe_core::timeout::TimeoutConfig;
use failsafe_core::{Instant, Outcome, RejectReason, Rejected, TimeSource};
use failsafe_driver::{Clock, Error, Pipeline, Runtime};

use crate::dependency::{Dependency, Reply};
use crate::engine::{EVENTS_PER_CALL, classify};
use crate::metrics::{CallEnd, Recorder};
use crate::pipeline::CellLock;
use crate::run::{RunError, RunReport, bucket_of, summarize};
use crate::spec::{PipelineSpec, ScenarioSpec};

struct Timer {
    at: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct TimeState {
    now: Instant,
    timers: BinaryHeap<Reverse<Timer>>,
    seq: u64,
    /// Sleeps found already over, and attempts entered, since the clock
    /// last moved.
    steps_at_now: u64,
    /// The most calls open since the clock last moved: each may take
    /// [`EVENTS_PER_CALL`] steps at one instant beyond [`STALL_STEPS`].
    calls_at_now: u64,
    /// Time stopped: more than [`STALL_STEPS`] steps at one instant (a
    /// retry with no delay against a dependency answering at once, or
    /// against a machine that keeps refusing, spins inside one task's
    /// poll, where the executor never gets a turn); from then on every
    /// sleep stays pending, every attempt is refused for good, and the run
    /// ends.
    stalled: bool,
}

impl TimeState {
    /// One more step at this instant: whether time has stopped.
    fn step(&mut self) -> bool {
        self.steps_at_now += 1;
        let allowed = STALL_STEPS.saturating_add(self.calls_at_now.saturating_mul(EVENTS_PER_CALL));
        self.stalled |= self.steps_at_now > allowed;
        self.stalled
    }
}

/// Steps at one instant before time counts as stopped (about a million;
/// far more than any traffic brings at once), plus [`EVENTS_PER_CALL`]
/// for each call open there (the engine's rule).
const STALL_STEPS: u64 = 1 << 20;

/// A virtual clock and its timers, for the driver (`Clock` + `Runtime`).
#[derive(Clone, Default)]
pub struct VirtualRuntime(Rc<RefCell<TimeState>>);

impl core::fmt::Debug for VirtualRuntime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtualRuntime")
            .field("now", &self.0.borrow().now)
            .finish_non_exhaustive()
    }
}

impl VirtualRuntime {
    /// `calls` are open at this instant.
    fn note_calls(&self, calls: u64) {
        let mut s = self.0.borrow_mut();
        s.calls_at_now = s.calls_at_now.max(calls);
    }

    fn next_timer(&self) -> Option<Instant> {
        self.0.borrow().timers.peek().map(|t| t.0.at)
    }

    /// Where time stopped, if it did (see [`TimeState::stalled`]).
    fn stalled(&self) -> Option<Instant> {
        let s = self.0.borrow();
        s.stalled.then_some(s.now)
    }

    /// Moves the clock to `now` and wakes every timer due.
    fn jump(&self, now: Instant) {
        let mut due = Vec::new();
        {
            let mut s = self.0.borrow_mut();
            if now > s.now {
                s.now = now;
                s.steps_at_now = 0;
                s.calls_at_now = 0;
            }
            while s.timers.peek().is_some_and(|t| t.0.at <= s.now) {
                if let Some(Reverse(t)) = s.timers.pop() {
                    due.push(t.waker);
                }
            }
        }
        for waker in due {
            waker.wake();
        }
    }
}

impl Clock for VirtualRuntime {
    fn now(&self) -> Instant {
        self.0.borrow().now
    }
}

/// A sleep on a [`VirtualRuntime`].
#[derive(Debug)]
pub struct VirtualSleep {
    time: VirtualRuntime,
    at: Instant,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.time.0.borrow_mut();
        if s.stalled {
            return Poll::Pending; // time stopped: the run is ending
        }
        if s.now >= self.at {
            if s.step() {
                return Poll::Pending;
            }
            return Poll::Ready(());
        }
        s.seq += 1;
        let seq = s.seq;
        s.timers.push(Reverse(Timer {
            at: self.at,
            seq,
            waker: cx.waker().clone(),
        }));
        Poll::Pending
    }
}

impl Runtime for VirtualRuntime {
    type Sleep = VirtualSleep;

    fn sleep_until(&self, at: Instant) -> VirtualSleep {
        VirtualSleep {
            time: self.clone(),
            at,
        }
    }
}

/// The first admission of every run's chain: admits every attempt and
/// counts it as a step of the instant ([`TimeState::step`]); once time has
/// stopped it refuses for good ([`Rejected::never`]), which ends the call's
/// retries, so a task spinning on refusals gives the executor back its turn.
struct Watch(VirtualRuntime);

impl SharedAdmission for Watch {
    type Key = ();
    type Permit = ();
    type Wait = NoWait;
    const NEEDS_EXIT: bool = false;

    fn enter(&self, _: &Call<'_>, _: Option<&Waker>) -> Entry<(), NoWait> {
        if self.0.0.borrow_mut().step() {
            return Entry::Rejected(Rejected::never(RejectReason::RateInsufficientCapacity));
        }
        Entry::Admitted(())
    }

    fn resume(&self, _: &Call<'_>, wait: NoWait, _: Option<&Waker>) -> Entry<(), NoWait> {
        match wait {}
    }

    fn cancel(&self, _: Instant, wait: NoWait) {
        match wait {}
    }

    fn exit(&self, _: impl TimeSource, (): (), _: Outcome) {}

    fn abandon(&self, _: Instant, (): ()) {}

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _: Instant) {}
}

/// An admission machine that may be absent: admits everything when it is.
#[derive(Debug)]
pub struct Maybe<S>(pub Option<S>);

impl<S: SharedAdmission<Key = ()>> SharedAdmission for Maybe<S> {
    type Key = ();
    type Permit = Option<S::Permit>;
    type Wait = S::Wait;

    fn enter(&self, call: &Call<'_>, waker: Option<&Waker>) -> Entry<Self::Permit, S::Wait> {
        match &self.0 {
            None => Entry::Admitted(None),
            Some(s) => match s.enter(call, waker) {
                Entry::Admitted(p) => Entry::Admitted(Some(p)),
                Entry::Rejected(r) => Entry::Rejected(r),
                Entry::Pending { wait, recheck_at } => Entry::Pending { wait, recheck_at },
            },
        }
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: S::Wait,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, S::Wait> {
        match &self.0 {
            // No machine never hands out a wait.
            None => Entry::Admitted(None),
            Some(s) => match s.resume(call, wait, waker) {
                Entry::Admitted(p) => Entry::Admitted(Some(p)),
                Entry::Rejected(r) => Entry::Rejected(r),
                Entry::Pending { wait, recheck_at } => Entry::Pending { wait, recheck_at },
            },
        }
    }

    fn cancel(&self, now: Instant, wait: S::Wait) {
        if let Some(s) = &self.0 {
            s.cancel(now, wait);
        }
    }

    fn exit(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        if let (Some(s), Some(p)) = (&self.0, permit) {
            s.exit(now, p, outcome);
        }
    }

    fn abandon(&self, now: Instant, permit: Self::Permit) {
        if let (Some(s), Some(p)) = (&self.0, permit) {
            s.abandon(now, p);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.0.as_ref().and_then(SharedAdmission::next_deadline)
    }

    fn on_deadline(&self, now: Instant) {
        if let Some(s) = &self.0 {
            s.on_deadline(now);
        }
    }
}

/// Judges a dependency's reply as the engine does ([`classify`]).
#[derive(Clone, Copy, Debug)]
pub struct ByReply;

impl Classify<(), Reply> for ByReply {
    fn classify(&self, result: &Result<(), Reply>) -> Outcome {
        match result {
            Ok(()) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }

    fn verdict(&self, result: &Result<(), Reply>) -> Verdict {
        match result {
            Ok(()) => Verdict::Success,
            Err(reply) => classify(*reply),
        }
    }
}

struct TaskWaker {
    id: usize,
    ready: Arc<Mutex<Vec<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.id);
    }
}

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

fn shared<M>(machine: Option<M>) -> Maybe<Shared<M, CellLock<M>>> {
    Maybe(machine.map(|m| Shared::new(CellLock::new(m))))
}

/// Runs `scenario` with `pipeline` through the driver's `Pipeline` (a
/// scenario of instances sharing a limit runs
/// [`run_shared`](crate::shared::run_shared) instead: no pipeline).
///
/// # Errors
///
/// A value of the pipeline or the dependency the core rejects.
pub fn run_driver(
    scenario: &ScenarioSpec,
    pipeline: &PipelineSpec,
    seed: u64,
) -> Result<RunReport, RunError> {
    // Instances sharing a limit have a model of their own, no pipeline.
    if scenario.shared.is_some() {
        return crate::shared::run_shared(scenario, pipeline, seed, &mut |_| {});
    }
    let built = pipeline.build().map_err(RunError::Pipeline)?;
    let dependency = Dependency::new(&scenario.dependency);
    let duration = scenario.duration;
    let drain = scenario.drain.unwrap_or(crate::engine::DRAIN);
    let bucket = bucket_of(scenario);
    let recorder = RefCell::new(Recorder::new(duration.saturating_add(drain), bucket));
    let rt = VirtualRuntime::default();
    let watch = Watch(rt.clone());
    let log = built.guards.log.clone();
    let (breaker, fail_fast) = (shared(built.guards.breaker), shared(built.guards.fail_fast));
    let (limiter, bulkhead) = (shared(built.guards.limiter), shared(built.guards.bulkhead));
    let mut p = Pipeline::new(rt.clone())
        .admit(&watch)
        .admit(&breaker)
        .admit(&fail_fast)
        .admit(&limiter)
        .admit(&bulkhead)
        .seed(seed)
        .retry_budget(&*built.budget);
    let retry: RetryConfig = built.retry;
    if pipeline.retry.is_some() {
        p = p.retry(retry);
    }
    if let Some(t) = built.attempt_timeout
        && let Ok(config) = TimeoutConfig::new(t)
    {
        p = p.attempt_timeout(config);
    }
    if let Some(t) = built.timeout {
        p = p.timeout(t);
    }
    let dependency = RefCell::new(dependency);
    let mut seeds = Xorshift64::new(seed);
    let mut arrivals = Xorshift64::new(seeds.next_u64());
    let dep_rng = RefCell::new(Xorshift64::new(seeds.next_u64()));
    let ready = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut open = 0u64;
    let (p, rt_ref, dep, rec, dep_rng) = (&p, &rt, &dependency, &recorder, &dep_rng);
    let make_task = || {
        let now = rt_ref.now();
        {
            let mut r = rec.borrow_mut();
            r.offered += 1;
            r.bucket(now).offered += 1;
        }
        Box::pin(async move {
            let result = p
                .call_with(&ByReply, Deadline::NEVER, |_attempt| {
                    let now = rt_ref.now();
                    {
                        let queued = dep.borrow().queued() as u64;
                        let mut r = rec.borrow_mut();
                        r.reached += 1;
                        let b = r.bucket(now);
                        b.reached += 1;
                        b.queued = b.queued.max(queued);
                    }
                    let (ends, pending) = dep.borrow_mut().start(now, &mut *dep_rng.borrow_mut());
                    async move {
                        match ends {
                            Some(at) => rt_ref.sleep_until(at).await,
                            None => core::future::pending::<()>().await,
                        }
                        match dep.borrow_mut().finish(rt_ref.now(), pending) {
                            Reply::Ok => Ok(()),
                            other => Err(other),
                        }
                    }
                })
                .await;
            let end = match result {
                Ok(()) => CallEnd::Succeeded,
                Err(e) => match e.error {
                    Error::Rejected(_) => CallEnd::Rejected,
                    Error::Timeout(_) => CallEnd::TimedOut,
                    _ => CallEnd::Failed,
                },
            };
            rec.borrow_mut().end(now, rt_ref.now(), end);
        }) as Task<'_>
    };
    let spawn = |tasks: &mut Vec<_>, task| {
        let id = tasks.len();
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            ready: ready.clone(),
        }));
        tasks.push(Some((task, waker)));
        ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id);
    };
    let gap = |rng: &mut Xorshift64| {
        let u = 1.0 - rng.next_f64();
        Duration::from_nanos((-u.ln() / scenario.rate_per_sec * 1e9) as u64)
    };
    let end = Instant::ZERO.saturating_add(duration);
    let stop = end.saturating_add(drain);
    let mut next_arrival = match scenario.clients {
        Some(n) => {
            for _ in 0..n {
                spawn(&mut tasks, make_task());
                open += 1;
            }
            None
        }
        None if scenario.rate_per_sec > 0.0 => {
            Some(Instant::ZERO.saturating_add(gap(&mut arrivals)))
        }
        None => None,
    };
    loop {
        rt.note_calls(open);
        // Run every task that can run.
        loop {
            let woken: Vec<usize> =
                std::mem::take(&mut *ready.lock().unwrap_or_else(PoisonError::into_inner));
            if woken.is_empty() {
                break;
            }
            for id in woken {
                let Some(Some((task, waker))) = tasks.get_mut(id) else {
                    continue;
                };
                let waker = waker.clone();
                if task
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_ready()
                {
                    tasks[id] = None;
                    open -= 1;
                }
            }
        }
        if rt.stalled().is_some() {
            break;
        }
        let arrival = next_arrival.filter(|&a| a < end);
        if arrival.is_none() && open == 0 {
            break; // the traffic is over and every call has ended
        }
        let timer = rt.next_timer().filter(|&t| t <= stop);
        match (timer, arrival) {
            (Some(t), a) if a.is_none_or(|a| t <= a) => rt.jump(t),
            (_, Some(a)) => {
                rt.jump(a);
                spawn(&mut tasks, make_task());
                open += 1;
                next_arrival = Some(a.saturating_add(gap(&mut arrivals)));
            }
            _ => break,
        }
    }
    if let Some(at) = rt.stalled() {
        return Err(RunError::stalled(scenario, pipeline, at));
    }
    let mut recorder = std::mem::replace(
        &mut *recorder.borrow_mut(),
        Recorder::new(Duration::ZERO, bucket),
    );
    recorder.transitions = log.snapshot();
    Ok(summarize(
        scenario, pipeline, recorder, open, duration, bucket,
    ))
}
