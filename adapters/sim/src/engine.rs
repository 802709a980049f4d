//! The virtual-time engine: a discrete-event loop that jumps from one
//! instant to the next thing due (an arrival, an attempt's end, a timer, a
//! machine's own deadline), never sleeping, and drives the real core
//! machines: each client call is a core [`RetryPlan`] (`Plan::poll_action`
//! / `Plan::on_event`), each attempt enters the pipeline's admission
//! machines ([`Guards`]) and reaches the [`Dependency`].
//!
//! Every random draw comes from generators seeded from one seed: the
//! arrivals, the dependency and the jitter each have their own stream, so
//! two pipelines run with the same seed see the same traffic.

use core::marker::PhantomData;
use core::time::Duration;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use failsafe_core::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
use failsafe_core::retry::{FailureKind, NoBudget, RetryBudget, RetryConfig, RetryPlan, Verdict};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, Rejected};
use failsafe_driver::CallRng;

use crate::dependency::{Dependency, Pending, Reply};
use crate::gaps::Gaps;
use crate::metrics::{CallEnd, Recorder};
use crate::pipeline::{AnyBudget, Built, CellLock, Guards, Permits};

/// How long after the end of the traffic (`duration`) the engine keeps
/// going by default for calls still in flight (retries, slow answers);
/// calls still open then are counted as unfinished (hung).
pub const DRAIN: Duration = Duration::from_secs(60);

/// Events carried out at one instant before the engine says time has
/// stopped ([`Engine::stalled`]): about a million (16 rounds of 65,536),
/// far more than any traffic brings at once, and a tenth of a second of
/// real time, plus [`EVENTS_PER_CALL`] for each call in flight there (two
/// million clients answered at one instant are traffic, not a stall). A
/// retry with no delay against a dependency that answers at once never
/// lets virtual time pass; the run stops there instead of running for
/// ever.
const STALL_ROUNDS: u32 = 16;
const ROUND: u64 = 1 << 16;
/// Events one call in flight may bring at one instant, in the allowance
/// of [`STALL_ROUNDS`]: its attempt's end, a timeout, a backoff's end and
/// the next attempt's admission, with room to spare.
pub(crate) const EVENTS_PER_CALL: u64 = 8;
/// Attempts one call may see refused at one instant before time counts as
/// stopped (the same million, met inside one step of the loop).
const STALL_REFUSALS: u32 = 1 << 20;

/// Watches whether virtual time moves: looked at once a round of events.
#[derive(Clone, Copy, Debug)]
struct StallWatch {
    at: Instant,
    rounds: u32,
    /// Rounds allowed at `at`: [`STALL_ROUNDS`] and the allowance of the
    /// most calls seen in flight there.
    limit: u64,
}

impl StallWatch {
    const fn new(now: Instant) -> StallWatch {
        StallWatch {
            at: now,
            rounds: 0,
            limit: STALL_ROUNDS as u64,
        }
    }

    /// A round ended at `now` with `in_flight` calls: whether time has
    /// stood still for [`STALL_ROUNDS`] rounds and those calls'
    /// allowance.
    fn stalled(&mut self, now: Instant, in_flight: u64) -> bool {
        if now == self.at {
            self.rounds += 1;
        } else {
            *self = StallWatch::new(now);
        }
        let allowance = in_flight.saturating_mul(EVENTS_PER_CALL).div_ceil(ROUND);
        self.limit = self.limit.max(u64::from(STALL_ROUNDS) + allowance);
        u64::from(self.rounds) >= self.limit
    }
}

/// Each call's plan: the core retry plan, its config lent by an `Rc` (a
/// plan then holds a pointer rather than a copy of the config: building
/// one per call copies half as much), spending a budget `G`.
/// Its jitter generator seeds at its first draw (most calls never draw):
/// the driver's [`CallRng`].
type Plan1<G> = RetryPlan<Rc<CellLock<G>>, G, CallRng, (), Rc<RetryConfig>>;

/// The dependency's stream: `Xorshift64`'s draws, under a type of the
/// engine's own (one per budget type `G`) so that the dependency's and the
/// chaos machine's code it runs is compiled for each engine alone (a copy
/// the compiler inlines into that engine's loop), not shared with the
/// driver engine's or the other budget's engine.
struct DepRng<G>(Xorshift64, PhantomData<fn() -> G>);

impl<G> Rng for DepRng<G> {
    #[inline(always)]
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// How the last attempt of a call went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    None,
    Reply(Reply),
    Rejected,
    TimedOut,
}

/// The first attempt, as a plan hands it out when the call has no
/// deadline.
const FIRST: Attempt = Attempt {
    number: 1,
    deadline: Deadline::NEVER,
};

struct Slot<G> {
    plan: Plan1<G>,
    /// The call's first attempt runs without its plan: a call whose first
    /// attempt needs nothing of the plan
    /// ([`RetryConfig::first_attempt_alone`], the rule the driver's
    /// handles follow) makes it as the plan would, and the plan takes
    /// over only if it does not succeed ([`Slot::plan_in`]).
    alone: bool,
    /// The seed of the call's jitter generator, until its plan takes it.
    seed: u64,
    id: u64,
    arrived: Instant,
    /// The sequence number from which this slot's events are current:
    /// an event scheduled before it (for an attempt, a timer or a call
    /// that is over) is stale.
    epoch: u64,
    attempt: u32,
    /// The permits of the attempt in flight (none between attempts).
    permits: Permits,
    /// An attempt is in flight.
    held: bool,
    pending: Pending,
    last: Last,
}

/// How a call ends, from what its plan said and how its last attempt
/// went.
fn call_end(finish: Finish, last: Last) -> CallEnd {
    match (finish, last) {
        (Finish::TimedOut(_), _) | (_, Last::TimedOut) => CallEnd::TimedOut,
        (_, Last::Rejected) => CallEnd::Rejected,
        (_, Last::Reply(Reply::Ok)) => CallEnd::Succeeded,
        (Finish::GaveUp { .. }, Last::None) => CallEnd::TimedOut,
        _ => CallEnd::Failed,
    }
}

impl<G: RetryBudget> Slot<G> {
    /// The call's plan takes over from a first attempt that ran without
    /// it: started at the call's arrival and handed that attempt, as if
    /// it had led the call from the start (the same events follow).
    #[inline]
    fn plan_in(&mut self) {
        if self.alone {
            self.alone = false;
            self.plan
                .restart(Deadline::NEVER, CallRng::new(self.seed), self.arrived);
            let first = self.plan.poll_action(self.arrived);
            debug_assert_eq!(first, Action::Start(FIRST));
        }
    }
}

/// Where the sequence number starts in an event's payload: 22 bits of
/// slot (4 million calls in flight at once) and 2 of kind below it.
const SEQ_SHIFT: u32 = 24;
const SLOT_MASK: u64 = (1 << SEQ_SHIFT) - 1;
/// Calls in flight at most (4,194,304; a call arriving when that many are
/// in flight never starts and counts as hung).
pub const MAX_SLOTS: usize = 1 << (SEQ_SHIFT - 2);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    End = 0,
    Timeout = 1,
    Timer = 2,
}

/// `now` plus `nanos`, saturating.
#[inline]
fn after(now: Instant, nanos: u64) -> Instant {
    Instant::from_nanos(now.as_nanos().saturating_add(nanos))
}

/// Traffic: open (Poisson arrivals at a rate) or closed (clients each
/// making one call at time zero).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Traffic {
    /// Calls per second, Poisson arrivals, for `duration`.
    Open {
        /// Calls per second.
        rate: f64,
    },
    /// `n` calls at time zero.
    Closed {
        /// Clients.
        n: u32,
    },
}

/// One run: a pipeline's machines against a dependency under some traffic.
///
/// `G` is the retry budget's type: [`AnyBudget`] chooses one at run time;
/// [`NoBudget`] ([`Engine::unbudgeted`]) is for a pipeline without one, whose
/// calls then never lock or consult a budget (about 3% fewer instructions
/// per call).
pub struct Engine<G = AnyBudget> {
    guards: Guards,
    retry: Rc<RetryConfig>,
    /// Every call runs its first attempt without its plan
    /// ([`Slot::alone`]).
    first_alone: bool,
    budget: Rc<CellLock<G>>,
    attempt_timeout: Option<Duration>,
    timeout: Option<Duration>,
    dependency: Dependency,
    slots: Vec<Slot<G>>,
    free: Vec<u32>,
    events: Events,
    arrivals: Gaps,
    dep_rng: DepRng<G>,
    jitter_seeds: Xorshift64,
    /// What the run recorded.
    pub recorder: Recorder,
    in_flight_calls: u64,
    now: Instant,
    handled_deadline: Option<Instant>,
    log: Log,
    /// Latencies (microseconds) of the calls ended since the recorder's
    /// histogram last took them: [`ENDED`] go in at once, off the loop's
    /// path, and every public method leaves none behind.
    ended_us: [u64; ENDED],
    ended: usize,
    /// When virtual time stopped, if it did ([`Engine::stalled`]).
    stalled: Option<Instant>,
}

/// Latencies put in the histogram at once.
const ENDED: usize = 256;

/// What happened, as [`Engine::log`] keeps it. Calls are numbered from 1
/// in the order they arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimEvent {
    /// A client call arrived.
    CallStarted {
        /// When.
        at: Instant,
        /// Its number.
        call: u64,
    },
    /// An attempt was admitted and reached the dependency.
    AttemptStarted {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
        /// The attempt (1 for the first).
        attempt: u32,
    },
    /// An admission machine rejected an attempt.
    AttemptRejected {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
        /// The attempt.
        attempt: u32,
        /// Why (which machine) and when to come back.
        rejected: Rejected,
    },
    /// The dependency answered an attempt.
    AttemptEnded {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
        /// The attempt.
        attempt: u32,
        /// The answer.
        reply: Reply,
    },
    /// An attempt timed out (its answer, if any comes, is dropped).
    AttemptTimedOut {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
        /// The attempt.
        attempt: u32,
    },
    /// A retry's backoff ended.
    BackoffEnded {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
    },
    /// A client call ended.
    CallEnded {
        /// When.
        at: Instant,
        /// The call.
        call: u64,
        /// How.
        end: CallEnd,
        /// What the plan said.
        finish: Finish,
    },
}

/// The events to come: the instant (nanoseconds) in the high 64 bits of
/// a key, then a sequence number (40 bits), the slot (22 bits) and the
/// kind (2 bits): events at one instant run in the order they were
/// scheduled. (A field of its own, apart from the slots, so that a slot
/// stays borrowed while its events are scheduled.)
struct Events {
    heap: BinaryHeap<Reverse<u128>>,
    /// The next sequence number.
    seq: u64,
}

impl Events {
    #[inline]
    fn push(&mut self, at: Instant, kind: Kind, slot: u32) {
        let seq = self.seq;
        self.seq += 1;
        let payload = (seq << SEQ_SHIFT) | (u64::from(slot) << 2) | kind as u64;
        let key = (u128::from(at.as_nanos()) << 64) | u128::from(payload);
        self.heap.push(Reverse(key));
    }
}

/// The log of events, if one is kept.
struct Log(Option<Vec<SimEvent>>);

impl Log {
    #[inline]
    fn note(&mut self, event: SimEvent) {
        if let Some(log) = self.0.as_mut() {
            log.push(event);
        }
    }
}

impl<G> core::fmt::Debug for Engine<G> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("calls_in_flight", &self.in_flight_calls)
            .field("events", &self.events.heap.len())
            .finish_non_exhaustive()
    }
}

/// The verdict on a dependency's reply (what a classifier would say).
pub fn classify(reply: Reply) -> Verdict {
    match reply {
        Reply::Ok => Verdict::Success,
        Reply::Error | Reply::Outcome | Reply::Conflict => Verdict::retry(),
        Reply::Overloaded => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: None,
        },
        Reply::Throttled(hint) => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(hint),
        },
    }
}

impl Engine<AnyBudget> {
    /// A run of `built` against `dependency`, seeded by `seed`, recording
    /// into `recorder`.
    pub fn new(built: Built, dependency: Dependency, seed: u64, recorder: Recorder) -> Engine {
        let budget = built.budget.clone();
        Engine::with_budget(built, budget, dependency, seed, recorder)
    }
}

impl Engine<NoBudget> {
    /// [`Engine::new`] for a pipeline without a retry budget
    /// (`AnyBudget::None`): the same run, event for event, with calls that
    /// never consult a budget. `None` if `built` has one.
    pub fn unbudgeted(
        built: Built,
        dependency: Dependency,
        seed: u64,
        recorder: Recorder,
    ) -> Option<Engine<NoBudget>> {
        if built.has_budget() {
            return None;
        }
        let budget = Rc::new(CellLock::new(NoBudget));
        Some(Engine::with_budget(
            built, budget, dependency, seed, recorder,
        ))
    }
}

impl<G: RetryBudget> Engine<G> {
    /// A run of `built`, its calls spending `budget` (in place of
    /// `built`'s), against `dependency`, seeded by `seed`, recording into
    /// `recorder`.
    fn with_budget(
        built: Built,
        budget: Rc<CellLock<G>>,
        dependency: Dependency,
        seed: u64,
        recorder: Recorder,
    ) -> Engine<G> {
        let mut seeds = Xorshift64::new(seed);
        // The simulator judges a reply without the time (`classify`).
        let first_alone = built.timeout.is_none()
            && built
                .retry
                .first_attempt_alone::<G, ()>(Deadline::NEVER, &(), true);
        Engine {
            first_alone,
            guards: built.guards,
            retry: Rc::new(built.retry),
            budget,
            attempt_timeout: built.attempt_timeout,
            timeout: built.timeout,
            dependency,
            slots: Vec::new(),
            free: Vec::new(),
            events: Events {
                heap: BinaryHeap::new(),
                seq: 0,
            },
            arrivals: Gaps::new(Xorshift64::new(seeds.next_u64())),
            dep_rng: DepRng(Xorshift64::new(seeds.next_u64()), PhantomData),
            jitter_seeds: Xorshift64::new(seeds.next_u64()),
            recorder,
            in_flight_calls: 0,
            now: Instant::ZERO,
            handled_deadline: None,
            log: Log(None),
            ended_us: [0; ENDED],
            ended: 0,
            stalled: None,
        }
    }

    /// The dependency (to script it).
    pub fn dependency_mut(&mut self) -> &mut Dependency {
        &mut self.dependency
    }

    /// The admission machines (to read their state).
    pub fn guards(&self) -> &Guards {
        &self.guards
    }

    /// Client calls started and not yet ended.
    pub fn calls_in_flight(&self) -> u64 {
        self.in_flight_calls
    }

    /// The instant virtual time stopped at, if it did: about a million
    /// events came due there one after another (a retry with no delay
    /// against a dependency that answers at once, say), so the engine
    /// stopped rather than run for ever. [`run`](Self::run) and
    /// [`advance_to`](Self::advance_to) do nothing more once it has.
    pub fn stalled(&self) -> Option<Instant> {
        self.stalled
    }

    /// Runs `traffic` for `duration`, then lets calls in flight go on for
    /// at most `drain`, and stops as soon as none is left (a machine's own
    /// deadline after the last call is not fired); `progress` is told the
    /// simulated instant now and then.
    pub fn run(
        &mut self,
        traffic: Traffic,
        duration: Duration,
        drain: Duration,
        progress: &mut dyn FnMut(Instant),
    ) {
        if self.stalled.is_some() {
            return; // time already stopped: nothing more runs
        }
        let end = self.now.saturating_add(duration);
        let stop = end.saturating_add(drain);
        let mut next_arrival = match traffic {
            Traffic::Open { rate } if rate > 0.0 => Some(after(self.now, self.arrivals.next(rate))),
            Traffic::Open { .. } => None,
            Traffic::Closed { n } => {
                for _ in 0..n {
                    self.arrive_unflushed(self.now);
                }
                None
            }
        };
        let mut steps = 0u64;
        let mut watch = StallWatch::new(self.now);
        loop {
            let arrival = next_arrival.filter(|&a| a < end);
            if arrival.is_none() && self.in_flight_calls == 0 {
                // The traffic is over and every call has ended: what is
                // left (a machine's own deadline, events of calls gone)
                // would change a machine's state with no call to see it,
                // after the last one (the driver's engine stops here too).
                break;
            }
            let due = self.next_due().filter(|&t| t <= stop);
            steps += 1;
            if steps & (ROUND - 1) == 0 {
                progress(self.now);
                if watch.stalled(self.now, self.in_flight_calls) {
                    self.stalled = Some(self.now);
                }
                if self.stalled.is_some() {
                    break;
                }
            }
            match (due, arrival) {
                // Events and deadlines first at a tie, then arrivals.
                (Some(t), a) if a.is_none_or(|a| t <= a) => self.fire(t),
                (_, Some(a)) => {
                    self.now = a;
                    self.arrive_unflushed(a);
                    if let Traffic::Open { rate } = traffic {
                        next_arrival = Some(after(a, self.arrivals.next(rate)));
                    }
                }
                _ => break,
            }
        }
        self.flush();
        self.recorder.transitions = self.guards.log.snapshot();
    }

    /// Carries out everything due at or before `until` (attempts ending,
    /// timeouts, backoffs, the machines' own deadlines), in order, and
    /// moves the clock to `until`.
    pub fn advance_to(&mut self, until: Instant) {
        let (mut steps, mut watch) = (0u64, StallWatch::new(self.now));
        while self.stalled.is_none()
            && let Some(t) = self.next_due().filter(|&t| t <= until)
        {
            self.fire(t);
            steps += 1;
            if steps & (ROUND - 1) == 0 && watch.stalled(self.now, self.in_flight_calls) {
                self.stalled = Some(self.now);
            }
        }
        if self.stalled.is_none() {
            self.now = self.now.max(until);
        }
        self.flush();
        self.recorder.transitions = self.guards.log.snapshot();
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The next instant something is due (an event or a machine's
    /// deadline), if any.
    pub fn next_due(&mut self) -> Option<Instant> {
        let event_at = self
            .events
            .heap
            .peek()
            .map(|e| Instant::from_nanos((e.0 >> 64) as u64));
        let deadline = self
            .guards
            .next_deadline()
            .filter(|&d| Some(d) != self.handled_deadline);
        match (event_at, deadline) {
            (Some(e), Some(d)) => Some(e.min(d)),
            (e, d) => e.or(d),
        }
    }

    /// Carries out the earliest thing due, at `now`.
    #[inline]
    fn fire(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.events.heap.peek().map(|e| (e.0 >> 64) as u64) == Some(now.as_nanos()) {
            if let Some(Reverse(key)) = self.events.heap.pop() {
                self.on_event(now, key as u64);
            }
        } else {
            self.handled_deadline = Some(now);
            self.guards.on_deadline(now);
        }
    }

    /// Every event so far, if the engine keeps a log ([`Engine::keep_log`]).
    pub fn log(&self) -> &[SimEvent] {
        self.log.0.as_deref().unwrap_or(&[])
    }

    /// Keeps a log of every event from now on ([`Engine::log`]).
    pub fn keep_log(&mut self) {
        self.log.0.get_or_insert_with(Vec::new);
    }

    /// A client call arrives at `now`.
    pub fn arrive(&mut self, now: Instant) {
        self.arrive_unflushed(now);
        self.flush();
    }

    /// Puts the latencies of the calls ended since in the recorder's
    /// histogram.
    #[inline]
    fn flush(&mut self) {
        if self.ended > 0 {
            self.recorder.record_latencies(&self.ended_us[..self.ended]);
            self.ended = 0;
        }
    }

    /// [`Engine::arrive`], leaving the latencies of the calls it ends for
    /// the next [`Engine::flush`].
    #[inline]
    fn arrive_unflushed(&mut self, now: Instant) {
        self.recorder.offered += 1;
        let id = self.recorder.offered;
        self.recorder.bucket(now).offered += 1;
        self.log.note(SimEvent::CallStarted { at: now, call: id });
        self.in_flight_calls += 1;
        let deadline = self
            .timeout
            .map_or(Deadline::NEVER, |t| Deadline::after(now, t));
        if self.free.is_empty() && self.slots.len() >= MAX_SLOTS {
            // More calls in flight than an event can name: this one never
            // starts and is counted as hung.
            return;
        }
        let seed = self.jitter_seeds.next_u64();
        let first_alone = self.first_alone;
        let slot = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                if !first_alone {
                    // the slot's plan starts over, keeping its config and budget handles
                    s.plan.restart(deadline, CallRng::new(seed), now);
                }
                s.alone = first_alone;
                s.seed = seed;
                s.id = id;
                s.arrived = now;
                s.epoch = self.events.seq;
                s.attempt = 0;
                s.held = false;
                s.last = Last::None;
                i
            }
            None => {
                self.slots.push(Slot {
                    plan: RetryPlan::new(
                        self.retry.clone(),
                        deadline,
                        self.budget.clone(),
                        CallRng::new(seed),
                        (),
                        now,
                    ),
                    alone: first_alone,
                    seed,
                    id,
                    arrived: now,
                    epoch: self.events.seq,
                    attempt: 0,
                    permits: Permits::default(),
                    held: false,
                    pending: Pending::Fixed(Reply::Ok),
                    last: Last::None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        if first_alone {
            // What a plan would say first, without asking it.
            match self.start_attempt(slot, now, FIRST) {
                Ok(()) => {}
                Err(rejected) => {
                    self.refuse(slot, now, FIRST, rejected);
                    // As the plan's loop would go on: not once time stopped.
                    if self.stalled.is_none() {
                        self.drive(slot, now, 1);
                    }
                }
            }
        } else {
            self.drive(slot, now, 0);
        }
    }

    #[inline]
    fn on_event(&mut self, now: Instant, payload: u64) {
        let seq = payload >> SEQ_SHIFT;
        let slot = ((payload & SLOT_MASK) >> 2) as u32;
        let kind = payload & 3;
        let s = &mut self.slots[slot as usize];
        if seq < s.epoch {
            return; // a stale event: the attempt or timer it was for is gone
        }
        if kind == Kind::Timer as u64 {
            // Only a plan sets timers.
            s.plan.on_event(now, PlanEvent::Timer);
            let call = s.id;
            self.log.note(SimEvent::BackoffEnded { at: now, call });
            self.drive(slot, now, 0);
            return;
        }
        if !s.held {
            return; // the attempt already ended (its timeout or its answer)
        }
        s.held = false;
        let attempt = s.attempt;
        let call = s.id;
        let (verdict, last) = if kind == Kind::End as u64 {
            let reply = self.dependency.finish(now, s.pending);
            self.log.note(SimEvent::AttemptEnded {
                at: now,
                call,
                attempt,
                reply,
            });
            (classify(reply), Last::Reply(reply))
        } else {
            self.log.note(SimEvent::AttemptTimedOut {
                at: now,
                call,
                attempt,
            });
            let verdict = Verdict::Retry {
                kind: FailureKind::Timeout,
                retry_after: None,
            };
            (verdict, Last::TimedOut)
        };
        s.last = last;
        let judged = Judged::verdict(verdict);
        self.guards.exit_held(now, &mut s.permits, judged.outcome());
        if s.alone && matches!(verdict, Verdict::Success) {
            // What the plan would answer, without it.
            let answer = Finish::Answer {
                attempts: 1,
                gave_up: None,
            };
            self.finish_call(slot, now, answer, CallEnd::Succeeded);
        } else {
            s.plan_in();
            s.plan.on_event(now, PlanEvent::Ended { attempt, judged });
            self.drive(slot, now, 0);
        }
    }

    /// Carries out what the call's plan says until it waits or finishes;
    /// `refused` attempts were turned away at `now` already.
    #[inline]
    fn drive(&mut self, slot: u32, now: Instant, mut refused: u32) {
        // Attempts turned away in this one step (all at `now`): a retry
        // with no delay against a machine that keeps refusing (a full
        // bulkhead that never queues, a forced-open breaker) never leaves
        // this loop, so time stops here too ([`Engine::stalled`]).
        loop {
            let s = &mut self.slots[slot as usize];
            match s.plan.poll_action(now) {
                Action::Start(attempt) => match self.start_attempt(slot, now, attempt) {
                    Ok(()) => return,
                    Err(rejected) => {
                        self.refuse(slot, now, attempt, rejected);
                        refused += 1;
                        if refused >= STALL_REFUSALS || self.stalled.is_some() {
                            self.stalled.get_or_insert(now);
                            return;
                        }
                    }
                },
                Action::Wait(Some(at)) => {
                    s.epoch = self.events.seq;
                    self.events.push(at, Kind::Timer, slot);
                    return;
                }
                Action::Wait(None) => return,
                Action::Cancel(_) => {
                    // A retry plan never cancels; were it to, the attempt's
                    // permits go back as cancelled.
                    if s.held {
                        s.held = false;
                        self.guards
                            .exit_held(now, &mut s.permits, Outcome::Cancelled);
                    }
                }
                Action::Finish(finish) => {
                    let end = call_end(finish, s.last);
                    self.finish_call(slot, now, finish, end);
                    return;
                }
            }
        }
    }

    /// Starts `attempt` of the call in `slot` if the admission machines
    /// let it: it reaches the dependency and its end (and timeout) are
    /// scheduled.
    ///
    /// # Errors
    /// The machine that turned it away, and when to come back.
    #[inline]
    fn start_attempt(&mut self, slot: u32, now: Instant, attempt: Attempt) -> Result<(), Rejected> {
        let s = &mut self.slots[slot as usize];
        s.attempt = attempt.number;
        s.epoch = self.events.seq;
        self.guards
            .enter_into(now, attempt.deadline, &mut s.permits)?;
        s.held = true;
        let call = s.id;
        self.log.note(SimEvent::AttemptStarted {
            at: now,
            call,
            attempt: attempt.number,
        });
        self.recorder.reached += 1;
        let queued = self.dependency.queued() as u64;
        let b = self.recorder.bucket(now);
        b.reached += 1;
        b.queued = b.queued.max(queued);
        let (ends, pending) = self.dependency.start(now, &mut self.dep_rng);
        s.pending = pending;
        if let Some(at) = ends {
            self.events.push(at, Kind::End, slot);
        }
        let limit = match self.attempt_timeout {
            Some(t) => attempt.deadline.min(Deadline::after(now, t)),
            None => attempt.deadline,
        };
        if !limit.is_never() {
            self.events.push(limit.instant(), Kind::Timeout, slot);
        }
        Ok(())
    }

    /// `attempt` was turned away: the call's plan hears it (taking over
    /// if the attempt ran without it).
    #[inline]
    fn refuse(&mut self, slot: u32, now: Instant, attempt: Attempt, rejected: Rejected) {
        let s = &mut self.slots[slot as usize];
        let call = s.id;
        self.log.note(SimEvent::AttemptRejected {
            at: now,
            call,
            attempt: attempt.number,
            rejected,
        });
        self.recorder.attempts_rejected += 1;
        s.last = Last::Rejected;
        let judged = Judged::verdict(Verdict::for_rejection(&rejected, now));
        s.plan_in();
        s.plan.on_event(
            now,
            PlanEvent::Ended {
                attempt: attempt.number,
                judged,
            },
        );
    }

    /// The call in `slot` ends at `now` as its plan said (`finish`), so
    /// (`end`, [`call_end`]): its slot is free again and its latency
    /// recorded.
    #[inline]
    fn finish_call(&mut self, slot: u32, now: Instant, finish: Finish, end: CallEnd) {
        let s = &mut self.slots[slot as usize];
        let (arrived, call) = (s.arrived, s.id);
        s.epoch = u64::MAX; // every event left for it is stale
        if s.held {
            s.held = false;
            self.guards
                .exit_held(now, &mut s.permits, Outcome::Cancelled);
        }
        self.free.push(slot);
        self.in_flight_calls -= 1;
        let us = self.recorder.end_but_histogram(arrived, now, end);
        self.ended_us[self.ended] = us;
        self.ended += 1;
        if self.ended == ENDED {
            self.flush();
        }
        self.log.note(SimEvent::CallEnded {
            at: now,
            call,
            end,
            finish,
        });
    }
}
