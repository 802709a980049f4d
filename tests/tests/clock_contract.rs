//! The crate's clock contract, checked once for every machine: a `now`
//! earlier than one already seen means "no time passed".
//!
//! One property, written once ([`replay`]): any trace of operations in which
//! some `now` values step back must get exactly the answers (decisions,
//! `retry_at`, states, deadlines, metrics) of the same trace with each
//! stepped-back `now` replaced by the latest one seen. A machine joins the
//! check by implementing [`Machine`] (what it is asked, what it answers) and
//! adding one `proptest!` line; the harness does the rest.
//!
//! The same machines also check the other half of the `retry_at` rule
//! ([`earliest`]): a rejection's `Some(t)` is the earliest instant.

use core::fmt::Debug;
use core::task::Poll;
use core::time::Duration;

use failsafe_core::breaker::{
    BreakerConfig, BreakerPermit, CircuitBreaker, CountWindow, NoWindow, State as BreakerState,
    TimeWindow, Window,
};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit, Ticket};
use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastPermit};
use failsafe_core::plan::{Action, Judged, Plan, PlanEvent};
use failsafe_core::rate::retry_after::Backpressure;
use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, Reservation, SlidingWindow, TokenBucket,
};
use failsafe_core::retry::{
    BackoffKind, GrpcThrottle, Jitter, RatioBudget, Retry, RetryBudget, RetryConfig, TokenQuota,
    Verdict,
};
use failsafe_core::retry::{NoBudget, RetryPlan};
use failsafe_core::rng::Xorshift64;
use failsafe_core::sync::{CsLock, SharedBreaker, SharedBulkhead, SharedFailFast};
use failsafe_core::timeout::{
    ATTEMPT_TIMED_OUT, AttemptTimeout, Deadline, Timeout, TimeoutConfig, TimeoutMode,
};
use failsafe_core::{Instant, Outcome};
use proptest::prelude::*;

/// A machine under the clock contract: `apply` performs one operation at
/// `now` and returns everything observable about it.
trait Machine {
    /// What the machine can be asked.
    type Op: Debug + Clone;
    /// Everything observable after one operation.
    type Answer: Debug + PartialEq;
    /// Performs `op` at `now`.
    fn apply(&mut self, now: Instant, op: &Self::Op) -> Self::Answer;
    /// Whether `op` at `now` tells the machine the time (`latest` is the
    /// latest it has been told). Queries (`available`) and give-backs take
    /// no `now` to remember, and a shared handle's lock-free paths never
    /// reach the machine: they do not move the latest time seen.
    fn observes(&self, now: Instant, latest: Instant, op: &Self::Op) -> bool {
        let _ = (now, latest, op);
        true
    }
}

/// The one check: `raw` sees the trace's times, `clamped` sees each time
/// raised to the latest seen; every answer must match.
fn replay<M: Machine>(make: impl Fn() -> M, trace: &[(i64, M::Op)]) -> Result<(), TestCaseError> {
    let (mut raw, mut clamped) = (make(), make());
    let (mut t, mut latest) = (5_000i64, 0u64);
    for (i, (step, op)) in trace.iter().enumerate() {
        t = (t + step).max(0);
        let now = t as u64 * 1_000_000;
        let seen = latest.max(now);
        if raw.observes(Instant::from_nanos(now), Instant::from_nanos(latest), op) {
            latest = seen;
        }
        let a = raw.apply(Instant::from_nanos(now), op);
        let b = clamped.apply(Instant::from_nanos(seen), op);
        prop_assert_eq!(
            a,
            b,
            "step {}: {:?} at {} ms, latest seen {} ms",
            i,
            op,
            now / 1_000_000,
            latest / 1_000_000
        );
    }
    Ok(())
}

/// The other half of the `retry_at` rule, for every machine whose requests
/// are rejected with one: a `Some(t)` (other than never) is the earliest
/// instant. Replaying the trace up to a rejected request and asking again at
/// `t - 1 ns` is still refused; asking at `t` is admitted. `decision` reads
/// a request's answer; `again` is the request asked again: the same, but
/// for what `retry_at` does not speak of (a reservation's maximum wait: its
/// `retry_at` is when the permits could start, so it is asked again as a
/// plain acquire; a caller's deadline, which only ever shrinks).
fn earliest<M: Machine>(
    make: impl Fn() -> M,
    trace: &[(i64, M::Op)],
    decision: impl Fn(&M::Answer) -> Option<Result<(), failsafe_core::Rejected>>,
    again: impl Fn(&M::Op) -> M::Op,
) -> Result<(), TestCaseError> {
    let mut times = Vec::with_capacity(trace.len());
    let (mut t, mut latest) = (5_000i64, 0u64);
    let mut machine = make();
    for (i, (step, op)) in trace.iter().enumerate() {
        t = (t + step).max(0);
        latest = latest.max(t as u64 * 1_000_000);
        times.push(latest);
        let answer = machine.apply(Instant::from_nanos(latest), op);
        let Some(Err(rejected)) = decision(&answer) else {
            continue;
        };
        let Some(at) = rejected.retry_at.filter(|_| !rejected.is_never()) else {
            continue;
        };
        prop_assert!(
            at.as_nanos() > latest,
            "step {}: retry_at {:?} is not ahead",
            i,
            at
        );
        for (asked, admitted) in [(at.as_nanos() - 1, false), (at.as_nanos(), true)] {
            let mut machine_again = make();
            for ((_, op), &time) in trace[..i].iter().zip(&times) {
                machine_again.apply(Instant::from_nanos(time), op);
            }
            let answer = machine_again.apply(Instant::from_nanos(asked), &again(op));
            let got = decision(&answer);
            prop_assert_eq!(
                matches!(got, Some(Ok(()))),
                admitted,
                "step {}: {:?} rejected with retry_at {:?}; asked again at {} ns: {:?}",
                i,
                op,
                at,
                asked,
                got
            );
        }
    }
    Ok(())
}

/// Steps of -2 s ..= +3 s: about two in five go back in time.
fn trace<O: Debug + Clone>(op: impl Strategy<Value = O>) -> impl Strategy<Value = Vec<(i64, O)>> {
    prop::collection::vec((-2_000i64..=3_000, op), 1..80)
}

fn quota(period_ms: u64, burst: u32) -> Quota {
    Quota::with_period(Duration::from_millis(period_ms))
        .unwrap()
        .with_burst(burst)
        .unwrap()
}

// ---------------------------------------------------------------- rate --

#[derive(Clone, Debug)]
enum RateOp {
    Acquire(u32),
    Reserve(u32, u64),
    Cancel(usize),
    Available,
}

fn rate_op() -> impl Strategy<Value = RateOp> {
    prop_oneof![
        (1u32..4).prop_map(RateOp::Acquire),
        (1u32..4, 0u64..3_000).prop_map(|(n, w)| RateOp::Reserve(n, w)),
        (0usize..4).prop_map(RateOp::Cancel),
        Just(RateOp::Available),
    ]
}

/// Answers of a limiter: a decision (with `retry_at`), a start, a give-back
/// or a count.
#[derive(Debug, PartialEq)]
enum RateAnswer {
    Decision(Result<(), failsafe_core::Rejected>),
    Start(Result<Instant, failsafe_core::Rejected>),
    GivenBack(bool),
    Available(u32),
}

/// What the two GCRAs offer, `&mut` or `&self` alike.
trait Booking {
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected>;
    fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        wait: Duration,
    ) -> Result<Reservation, failsafe_core::Rejected>;
    fn cancel(&mut self, r: Reservation) -> bool;
    fn available(&self, now: Instant) -> u32;
}

impl Booking for Gcra {
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected> {
        Gcra::acquire(self, now, n)
    }
    fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        wait: Duration,
    ) -> Result<Reservation, failsafe_core::Rejected> {
        Gcra::reserve(self, now, n, wait)
    }
    fn cancel(&mut self, r: Reservation) -> bool {
        Gcra::cancel(self, r)
    }
    fn available(&self, now: Instant) -> u32 {
        Gcra::available(self, now)
    }
}

impl Booking for AtomicGcra {
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected> {
        AtomicGcra::acquire(self, now, n)
    }
    fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        wait: Duration,
    ) -> Result<Reservation, failsafe_core::Rejected> {
        AtomicGcra::reserve(self, now, n, wait)
    }
    fn cancel(&mut self, r: Reservation) -> bool {
        AtomicGcra::cancel(self, r)
    }
    fn available(&self, now: Instant) -> u32 {
        AtomicGcra::available(self, now)
    }
}

/// A GCRA and the reservations it handed out.
struct Booked<L>(L, Vec<Reservation>);

impl<L: Booking> Machine for Booked<L> {
    type Op = RateOp;
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, op: &RateOp) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) => RateAnswer::Decision(self.0.acquire(now, n)),
            RateOp::Reserve(n, w) => {
                RateAnswer::Start(self.0.reserve(now, n, Duration::from_millis(w)).map(|r| {
                    let start = r.start();
                    self.1.push(r);
                    start
                }))
            }
            RateOp::Cancel(i) if !self.1.is_empty() => {
                let r = self.1.remove(i % self.1.len());
                RateAnswer::GivenBack(self.0.cancel(r))
            }
            RateOp::Cancel(_) => RateAnswer::GivenBack(false),
            RateOp::Available => RateAnswer::Available(self.0.available(now)),
        }
    }
    fn observes(&self, _: Instant, _: Instant, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

/// The limiters that only take and count: token bucket and windows.
trait Taking {
    fn take(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected>;
    /// Permits left, where the limiter can tell.
    fn left(&mut self, now: Instant) -> Option<u32>;
}

impl Taking for TokenBucket {
    fn take(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected> {
        self.acquire(now, n)
    }
    fn left(&mut self, now: Instant) -> Option<u32> {
        Some(self.available(now))
    }
}

impl Taking for FixedWindow {
    fn take(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected> {
        self.acquire(now, n)
    }
    fn left(&mut self, _: Instant) -> Option<u32> {
        None
    }
}

impl Taking for SlidingWindow<4> {
    fn take(&mut self, now: Instant, n: u32) -> Result<(), failsafe_core::Rejected> {
        self.acquire(now, n)
    }
    fn left(&mut self, _: Instant) -> Option<u32> {
        None
    }
}

struct Counting<L>(L);

impl<L: Taking> Machine for Counting<L> {
    type Op = RateOp;
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, op: &RateOp) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) | RateOp::Reserve(n, _) => RateAnswer::Decision(self.0.take(now, n)),
            RateOp::Cancel(_) => RateAnswer::GivenBack(false),
            RateOp::Available => self
                .0
                .left(now)
                .map_or(RateAnswer::GivenBack(false), RateAnswer::Available),
        }
    }
    fn observes(&self, _: Instant, _: Instant, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

/// One GCRA per key.
struct Keyed(KeyedGcra<u8, 4>);

impl Machine for Keyed {
    type Op = (u8, RateOp);
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, (key, op): &(u8, RateOp)) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) | RateOp::Reserve(n, _) => {
                RateAnswer::Decision(self.0.acquire(key, now, n))
            }
            RateOp::Cancel(_) => RateAnswer::GivenBack(false),
            RateOp::Available => RateAnswer::Available(self.0.available(key, now)),
        }
    }
    fn observes(&self, _: Instant, _: Instant, (_, op): &(u8, RateOp)) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

// ------------------------------------------------------------- breaker --

#[derive(Clone, Debug)]
enum CallOp {
    /// Ask to start a call.
    Acquire,
    /// Report the outcome of the i-th call still out.
    Record(usize, u8),
    /// The driver comes back at its deadline.
    OnDeadline,
}

fn call_op() -> impl Strategy<Value = CallOp> {
    prop_oneof![
        3 => Just(CallOp::Acquire),
        3 => (0usize..4, 0u8..4).prop_map(|(i, o)| CallOp::Record(i, o)),
        1 => Just(CallOp::OnDeadline),
    ]
}

fn outcome(o: u8) -> Outcome {
    match o {
        0 => Outcome::Success,
        1 => Outcome::Failure,
        2 => Outcome::Timeout,
        _ => Outcome::Cancelled,
    }
}

fn breaker_config() -> BreakerConfig {
    BreakerConfig::builder()
        .minimum_calls(2)
        .failure_rate_threshold(0.5)
        .slow_call_duration(Duration::from_millis(1_500))
        .slow_call_rate_threshold(0.5)
        .open_wait(Duration::from_secs(4))
        .open_wait_backoff(2, Duration::from_secs(20))
        .half_open_probes(2)
        .probe_lease(Duration::from_secs(6))
        .build()
        .unwrap()
}

/// What a breaker shows after each operation.
#[derive(Debug, PartialEq)]
struct BreakerAnswer {
    admitted: Option<Result<(), failsafe_core::Rejected>>,
    state: BreakerState,
    next_deadline: Option<Instant>,
    rejecting_until: Option<Instant>,
}

/// A circuit breaker as the property drives it: the machine itself, or
/// the shared handle around it.
trait BreakerHandle {
    fn acquire(&mut self, now: Instant) -> Result<BreakerPermit, failsafe_core::Rejected>;
    fn record(&mut self, now: Instant, permit: BreakerPermit, outcome: Outcome);
    fn on_deadline(&mut self, now: Instant);
    fn answer(&mut self, admitted: Option<Result<(), failsafe_core::Rejected>>) -> BreakerAnswer;
    /// A shared handle: it admits a closed breaker's calls with one atomic
    /// load and rejects an open one's from its gate, never handing the
    /// machine those calls' time (documented on `SharedBreaker`), so they do
    /// not move the latest time seen.
    const SHARED: bool;
}

impl<W: Window> BreakerHandle for CircuitBreaker<W> {
    fn acquire(&mut self, now: Instant) -> Result<BreakerPermit, failsafe_core::Rejected> {
        CircuitBreaker::acquire(self, now)
    }
    fn record(&mut self, now: Instant, permit: BreakerPermit, outcome: Outcome) {
        CircuitBreaker::record(self, now, permit, outcome)
    }
    fn on_deadline(&mut self, now: Instant) {
        CircuitBreaker::on_deadline(self, now)
    }
    fn answer(&mut self, admitted: Option<Result<(), failsafe_core::Rejected>>) -> BreakerAnswer {
        BreakerAnswer {
            admitted,
            state: self.state(),
            next_deadline: self.next_deadline(),
            rejecting_until: self.rejecting_until(),
        }
    }
    const SHARED: bool = false;
}

type SharedB<W> = SharedBreaker<W, (), CsLock<CircuitBreaker<W>>>;

impl<W: Window> BreakerHandle for SharedB<W> {
    fn acquire(&mut self, now: Instant) -> Result<BreakerPermit, failsafe_core::Rejected> {
        SharedBreaker::acquire(self, now)
    }
    fn record(&mut self, now: Instant, permit: BreakerPermit, outcome: Outcome) {
        SharedBreaker::record(self, now, permit, outcome)
    }
    fn on_deadline(&mut self, now: Instant) {
        self.with(|b| b.on_deadline(now))
    }
    fn answer(&mut self, admitted: Option<Result<(), failsafe_core::Rejected>>) -> BreakerAnswer {
        self.with(|b| b.answer(admitted))
    }
    const SHARED: bool = true;
}

/// A breaker, the permits it handed out, and its answer to the last call.
struct BreakerM<B>(B, Vec<BreakerPermit>, Option<BreakerAnswer>);

impl<B: BreakerHandle> BreakerM<B> {
    fn new(breaker: B) -> Self {
        BreakerM(breaker, Vec::new(), None)
    }
}

impl<B: BreakerHandle> Machine for BreakerM<B> {
    type Op = CallOp;
    type Answer = BreakerAnswer;
    fn apply(&mut self, now: Instant, op: &CallOp) -> BreakerAnswer {
        let admitted = match *op {
            CallOp::Acquire => Some(self.0.acquire(now).map(|p| self.1.push(p))),
            CallOp::Record(i, o) if !self.1.is_empty() => {
                let p = self.1.remove(i % self.1.len());
                self.0.record(now, p, outcome(o));
                None
            }
            CallOp::Record(..) => None,
            CallOp::OnDeadline => {
                self.0.on_deadline(now);
                None
            }
        };
        let answer = self.0.answer(admitted);
        self.2 = Some(self.0.answer(None));
        answer
    }
    fn observes(&self, now: Instant, latest: Instant, op: &CallOp) -> bool {
        match (op, &self.2) {
            // the first call reaches the machine: nothing is published yet
            (CallOp::Acquire, None) => true,
            (CallOp::Acquire, Some(last)) => {
                let admits_freely = matches!(
                    last.state,
                    BreakerState::Closed | BreakerState::MetricsOnly | BreakerState::Disabled
                );
                let lock_free = admits_freely || gate_rejects(last.rejecting_until, now, latest);
                !(B::SHARED && lock_free)
            }
            (CallOp::Record(..), _) => !self.1.is_empty(),
            (CallOp::OnDeadline, _) => true,
        }
    }
}

/// Whether a shared handle's lock-free gate turns a call at `now` away
/// without the machine: it publishes the machine's `rejecting_until` while
/// that lies past the latest time the machine saw.
fn gate_rejects(rejecting_until: Option<Instant>, now: Instant, latest: Instant) -> bool {
    rejecting_until.is_some_and(|until| until > latest && now < until)
}

// ----------------------------------------------------------- fail fast --

#[derive(Clone, Debug)]
enum FailFastOp {
    /// Ask to start a call whose deadline is this far ahead (`None`: no deadline).
    Acquire(Option<u64>),
    Record(usize, u8),
    OnDeadline,
    Unhealthy,
}

fn failfast_op() -> impl Strategy<Value = FailFastOp> {
    prop_oneof![
        3 => prop::option::of(0u64..3_000).prop_map(FailFastOp::Acquire),
        3 => (0usize..4, 0u8..4).prop_map(|(i, o)| FailFastOp::Record(i, o)),
        1 => Just(FailFastOp::OnDeadline),
        1 => Just(FailFastOp::Unhealthy),
    ]
}

fn failfast_config() -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(2)
        .probe_interval(Duration::from_secs(3))
        .learn_expected_duration(4)
        .safety_margin(Duration::from_millis(50))
        .build()
        .unwrap()
}

#[derive(Debug, PartialEq)]
struct FailFastAnswer {
    admitted: Option<Result<bool, failsafe_core::Rejected>>,
    state: failsafe_core::failfast::State,
    next_deadline: Option<Instant>,
    rejecting_until: Option<Instant>,
    min_remaining: Duration,
}

/// The deadline `ahead` ms after the latest time the machine was told:
/// deadlines are absolute, so the raw and the clamped machine get the
/// same one (computed from the clamped time).
fn deadline(latest: Instant, ahead: Option<u64>) -> Deadline {
    ahead.map_or(Deadline::NEVER, |ms| {
        Deadline::at(latest + Duration::from_millis(ms))
    })
}

/// A fail fast as the property drives it: the machine itself, or the
/// shared handle around it.
trait FailFastPolicy {
    /// Whether open rejections may come from a lock-free gate.
    const GATED: bool;
    fn acquire(
        &mut self,
        now: Instant,
        deadline: Deadline,
    ) -> Result<FailFastPermit, failsafe_core::Rejected>;
    fn record(&mut self, now: Instant, permit: FailFastPermit, outcome: Outcome);
    fn with<R>(&mut self, f: impl FnOnce(&mut FailFast) -> R) -> R;
}

impl FailFastPolicy for FailFast {
    const GATED: bool = false;
    fn acquire(
        &mut self,
        now: Instant,
        deadline: Deadline,
    ) -> Result<FailFastPermit, failsafe_core::Rejected> {
        FailFast::acquire(self, now, deadline)
    }
    fn record(&mut self, now: Instant, permit: FailFastPermit, outcome: Outcome) {
        FailFast::record(self, now, permit, outcome)
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut FailFast) -> R) -> R {
        f(self)
    }
}

impl FailFastPolicy for SharedFailFast<(), CsLock<FailFast>> {
    const GATED: bool = true;
    fn acquire(
        &mut self,
        now: Instant,
        deadline: Deadline,
    ) -> Result<FailFastPermit, failsafe_core::Rejected> {
        SharedFailFast::acquire(self, now, deadline)
    }
    fn record(&mut self, now: Instant, permit: FailFastPermit, outcome: Outcome) {
        SharedFailFast::record(self, now, permit, outcome)
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut FailFast) -> R) -> R {
        SharedFailFast::with(self, f)
    }
}

/// A fail fast, its permits out, the latest time the property handed it
/// (for deadlines) and its `rejecting_until` after the last call.
struct FailFastM<F>(F, Vec<FailFastPermit>, Instant, Option<Instant>);

impl<F: FailFastPolicy> FailFastM<F> {
    fn new(handle: F) -> Self {
        FailFastM(handle, Vec::new(), Instant::ZERO, None)
    }
}

impl<F: FailFastPolicy> Machine for FailFastM<F> {
    type Op = FailFastOp;
    type Answer = FailFastAnswer;
    fn apply(&mut self, now: Instant, op: &FailFastOp) -> FailFastAnswer {
        self.2 = self.2.max(now);
        let admitted = match *op {
            FailFastOp::Acquire(ahead) => {
                Some(self.0.acquire(now, deadline(self.2, ahead)).map(|p| {
                    let probe = p.is_probe();
                    self.1.push(p);
                    probe
                }))
            }
            FailFastOp::Record(i, o) if !self.1.is_empty() => {
                let p = self.1.remove(i % self.1.len());
                self.0.record(now, p, outcome(o));
                None
            }
            FailFastOp::Record(..) => None,
            FailFastOp::OnDeadline => {
                self.0.with(|f| f.on_deadline(now));
                None
            }
            FailFastOp::Unhealthy => {
                self.0.with(|f| f.report_unhealthy(now));
                None
            }
        };
        let answer = self.0.with(|f| FailFastAnswer {
            admitted,
            state: f.state(),
            next_deadline: f.next_deadline(),
            rejecting_until: f.rejecting_until(),
            min_remaining: f.min_remaining(),
        });
        self.3 = answer.rejecting_until;
        answer
    }
    fn observes(&self, now: Instant, latest: Instant, op: &FailFastOp) -> bool {
        match op {
            FailFastOp::Acquire(_) => !(F::GATED && gate_rejects(self.3, now, latest)),
            FailFastOp::Record(..) => !self.1.is_empty(),
            _ => true,
        }
    }
}

// ------------------------------------------------------------ bulkhead --

#[derive(Clone, Debug)]
enum BulkheadOp {
    TryAcquire,
    /// Poll the i-th waiting ticket (a new one if i is past the end).
    Poll(usize),
    Cancel(usize),
    Release(usize, u8),
    OnDeadline,
    /// The static limit change: `max_concurrent` 1 to 3, `max_wait` in ms.
    ChangeConfig(u32, u64),
}

fn bulkhead_op() -> impl Strategy<Value = BulkheadOp> {
    prop_oneof![
        2 => Just(BulkheadOp::TryAcquire),
        3 => (0usize..6).prop_map(BulkheadOp::Poll),
        1 => (0usize..4).prop_map(BulkheadOp::Cancel),
        3 => (0usize..4, 0u8..4).prop_map(|(i, o)| BulkheadOp::Release(i, o)),
        1 => Just(BulkheadOp::OnDeadline),
        1 => (1u32..4, 0u64..4_000).prop_map(|(m, w)| BulkheadOp::ChangeConfig(m, w)),
    ]
}

#[derive(Debug, PartialEq)]
struct BulkheadAnswer {
    admitted: Option<Poll<Result<(), failsafe_core::Rejected>>>,
    next_deadline: Option<Instant>,
    available: u32,
    limit: u32,
}

/// A bulkhead as the property drives it: the machine itself, or the
/// shared handle around it.
trait BulkheadPolicy {
    fn try_acquire(&mut self, now: Instant) -> Result<BulkheadPermit, failsafe_core::Rejected>;
    fn poll_acquire(
        &mut self,
        now: Instant,
        ticket: &mut Ticket,
    ) -> Poll<Result<BulkheadPermit, failsafe_core::Rejected>>;
    fn cancel(&mut self, now: Instant, ticket: &mut Ticket);
    fn release(&mut self, now: Instant, permit: BulkheadPermit, outcome: Outcome);
    fn with<R>(&mut self, f: impl FnOnce(&mut Bulkhead<4>) -> R) -> R;
}

impl BulkheadPolicy for Bulkhead<4> {
    fn try_acquire(&mut self, now: Instant) -> Result<BulkheadPermit, failsafe_core::Rejected> {
        Bulkhead::try_acquire(self, now)
    }
    fn poll_acquire(
        &mut self,
        now: Instant,
        ticket: &mut Ticket,
    ) -> Poll<Result<BulkheadPermit, failsafe_core::Rejected>> {
        Bulkhead::poll_acquire(self, now, ticket, None)
    }
    fn cancel(&mut self, now: Instant, ticket: &mut Ticket) {
        Bulkhead::cancel(self, now, ticket)
    }
    fn release(&mut self, now: Instant, permit: BulkheadPermit, outcome: Outcome) {
        Bulkhead::release(self, now, permit, outcome)
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut Bulkhead<4>) -> R) -> R {
        f(self)
    }
}

type SharedBh = SharedBulkhead<4, (), CsLock<Bulkhead<4>>>;

impl BulkheadPolicy for SharedBh {
    fn try_acquire(&mut self, now: Instant) -> Result<BulkheadPermit, failsafe_core::Rejected> {
        SharedBulkhead::try_acquire(self, now)
    }
    fn poll_acquire(
        &mut self,
        now: Instant,
        ticket: &mut Ticket,
    ) -> Poll<Result<BulkheadPermit, failsafe_core::Rejected>> {
        SharedBulkhead::poll_acquire(self, now, ticket, None)
    }
    fn cancel(&mut self, now: Instant, ticket: &mut Ticket) {
        SharedBulkhead::cancel(self, now, ticket)
    }
    fn release(&mut self, now: Instant, permit: BulkheadPermit, outcome: Outcome) {
        SharedBulkhead::release(self, now, permit, outcome)
    }
    fn with<R>(&mut self, f: impl FnOnce(&mut Bulkhead<4>) -> R) -> R {
        SharedBulkhead::with(self, f)
    }
}

/// A bulkhead, the permits it granted and the tickets still waiting.
struct BulkheadM<B>(B, Vec<BulkheadPermit>, Vec<Ticket>);

impl<B: BulkheadPolicy> Machine for BulkheadM<B> {
    type Op = BulkheadOp;
    type Answer = BulkheadAnswer;
    fn apply(&mut self, now: Instant, op: &BulkheadOp) -> BulkheadAnswer {
        let admitted = match *op {
            BulkheadOp::TryAcquire => {
                Some(Poll::Ready(self.0.try_acquire(now).map(|p| self.1.push(p))))
            }
            BulkheadOp::Poll(i) => {
                let i = if i < self.2.len() {
                    i
                } else {
                    self.2.push(Ticket::new());
                    self.2.len() - 1
                };
                let r = self.0.poll_acquire(now, &mut self.2[i]);
                if r.is_ready() {
                    self.2.remove(i);
                }
                Some(r.map(|r| r.map(|p| self.1.push(p))))
            }
            BulkheadOp::Cancel(i) if !self.2.is_empty() => {
                let mut t = self.2.remove(i % self.2.len());
                self.0.cancel(now, &mut t);
                None
            }
            BulkheadOp::Release(i, o) if !self.1.is_empty() => {
                let p = self.1.remove(i % self.1.len());
                self.0.release(now, p, outcome(o));
                None
            }
            BulkheadOp::OnDeadline => {
                self.0.with(|b| b.on_deadline(now));
                None
            }
            BulkheadOp::ChangeConfig(max, wait) => {
                let config = BulkheadConfig::builder()
                    .max_concurrent(max)
                    .max_wait(Duration::from_millis(wait))
                    .build()
                    .unwrap();
                self.0.with(|b| b.change_config(now, config));
                None
            }
            _ => None,
        };
        self.0.with(|b| BulkheadAnswer {
            admitted,
            next_deadline: b.next_deadline(),
            available: b.available(),
            limit: b.limit(),
        })
    }
    fn observes(&self, _: Instant, _: Instant, op: &BulkheadOp) -> bool {
        match op {
            BulkheadOp::Cancel(_) => !self.2.is_empty(),
            BulkheadOp::Release(..) => !self.1.is_empty(),
            _ => true,
        }
    }
}

fn bulkhead_config() -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(2)
        .max_wait(Duration::from_millis(2_500))
        .build()
        .unwrap()
}

// --------------------------------------------------- retry and timeout --

#[derive(Clone, Debug)]
enum RetryOp {
    Start,
    /// The attempt ended: 0 success, 1 error, 2 timeout, 3 throttled with a
    /// hint of this many ms, 4 do not retry.
    Result(u8, u64),
}

fn retry_op() -> impl Strategy<Value = RetryOp> {
    prop_oneof![
        Just(RetryOp::Start),
        (0u8..5, 0u64..4_000).prop_map(|(v, h)| RetryOp::Result(v, h)),
    ]
}

fn verdict(v: u8, hint_ms: u64) -> Verdict {
    use failsafe_core::retry::FailureKind;
    match v {
        0 => Verdict::Success,
        1 => Verdict::retry(),
        2 => Verdict::Retry {
            kind: FailureKind::Timeout,
            retry_after: None,
        },
        3 => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(Duration::from_millis(hint_ms)),
        },
        _ => Verdict::DoNotRetry,
    }
}

#[derive(Debug, PartialEq)]
enum RetryAnswer {
    Started(Result<u32, failsafe_core::retry::GiveUp>),
    Decided(failsafe_core::retry::Decision),
}

/// One call's retry machine, sharing a budget `G` across the trace.
struct RetryM<G> {
    retry: Retry,
    budget: G,
    rng: Xorshift64,
    next_deadline: Option<Instant>,
}

impl<G: RetryBudget> Machine for RetryM<G> {
    type Op = RetryOp;
    type Answer = (RetryAnswer, Option<Instant>);
    fn apply(&mut self, now: Instant, op: &RetryOp) -> Self::Answer {
        let answer = match *op {
            RetryOp::Start => RetryAnswer::Started(self.retry.start_attempt(now, &mut self.budget)),
            RetryOp::Result(v, h) => RetryAnswer::Decided(self.retry.on_result(
                now,
                verdict(v, h),
                &mut self.rng,
                &mut self.budget,
            )),
        };
        self.next_deadline = self.retry.next_deadline();
        (answer, self.next_deadline)
    }
}

fn retry_config() -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(6)
        .max_elapsed(Duration::from_secs(20))
        .backoff(BackoffKind::Constant(Duration::from_millis(700)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn retry_machine<G: RetryBudget>(budget: G) -> RetryM<G> {
    RetryM {
        retry: Retry::new(retry_config(), Instant::from_secs(5))
            .with_deadline(Instant::from_secs(40)),
        budget,
        rng: Xorshift64::new(3),
        next_deadline: None,
    }
}

#[derive(Clone, Debug)]
enum TimeoutOp {
    OnDeadline,
    Finish(u8),
}

fn timeout_op() -> impl Strategy<Value = TimeoutOp> {
    prop_oneof![
        Just(TimeoutOp::OnDeadline),
        (0u8..3).prop_map(TimeoutOp::Finish),
    ]
}

struct TimeoutM(Timeout);

impl Machine for TimeoutM {
    type Op = TimeoutOp;
    type Answer = (Option<bool>, Option<(Outcome, bool)>, Option<Instant>);
    fn apply(&mut self, now: Instant, op: &TimeoutOp) -> Self::Answer {
        match *op {
            TimeoutOp::OnDeadline => (Some(self.0.on_deadline(now)), None, self.0.next_deadline()),
            TimeoutOp::Finish(o) => {
                let f = self.0.finish(now, outcome(o));
                (None, Some((f.outcome, f.late)), self.0.next_deadline())
            }
        }
    }
}

fn timeout_machine(mode: TimeoutMode) -> TimeoutM {
    let config = TimeoutConfig::new(Duration::from_secs(9))
        .unwrap()
        .mode(mode);
    TimeoutM(Timeout::start(
        config,
        Instant::from_secs(5),
        Deadline::NEVER,
    ))
}

// ------------------------------------------------ retry-after strategy --

struct BackpressureM(Backpressure<4>, Xorshift64);

impl Machine for BackpressureM {
    type Op = Option<u64>;
    type Answer = (u64, Duration);
    fn apply(&mut self, now: Instant, op: &Option<u64>) -> Self::Answer {
        if let Some(latency) = op {
            self.0.record(now, Duration::from_millis(*latency));
        }
        let pressure = self.0.pressure(now);
        (pressure.to_bits(), self.0.retry_after(now, &mut self.1))
    }
}

// ------------------------------------------------------------ plans --

#[derive(Clone, Debug)]
enum PlanOp {
    Poll,
    End(u8),
    Timer,
}

fn plan_op() -> impl Strategy<Value = PlanOp> {
    prop_oneof![
        2 => Just(PlanOp::Poll),
        1 => (0u8..3).prop_map(PlanOp::End),
        1 => Just(PlanOp::Timer),
    ]
}

/// A per-call plan, and the attempt it started last (the one an `End`
/// ends): asked what to do, told an attempt ended (a success, a failure,
/// a timeout) or a timer fired.
struct PlanM<P>(P, u32);

impl<P: Plan> Machine for PlanM<P> {
    type Op = PlanOp;
    type Answer = Option<Action>;
    fn apply(&mut self, now: Instant, op: &PlanOp) -> Option<Action> {
        match *op {
            PlanOp::Poll => {
                let action = self.0.poll_action(now);
                if let Action::Start(attempt) = action {
                    self.1 = attempt.number;
                }
                Some(action)
            }
            PlanOp::End(j) => {
                let judged = match j {
                    0 => Judged::SUCCESS,
                    1 => Judged::verdict(Verdict::retry()),
                    _ => ATTEMPT_TIMED_OUT,
                };
                let attempt = self.1;
                self.0.on_event(now, PlanEvent::Ended { attempt, judged });
                None
            }
            PlanOp::Timer => {
                self.0.on_event(now, PlanEvent::Timer);
                None
            }
        }
    }
}

fn retry_plan() -> RetryPlan<&'static NoBudget, NoBudget, Xorshift64> {
    let config = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Constant(Duration::from_millis(1_500)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let deadline = Deadline::at(Instant::from_secs(30));
    RetryPlan::new(
        config,
        deadline,
        &NoBudget,
        Xorshift64::new(3),
        (),
        Instant::from_secs(5),
    )
}

fn per_try(mode: TimeoutMode) -> Option<TimeoutConfig> {
    Some(
        TimeoutConfig::new(Duration::from_millis(2_500))
            .unwrap()
            .mode(mode),
    )
}

// -------------------------------------------------------- the checks --

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn gcra(t in trace(rate_op())) {
        replay(|| Booked(Gcra::new(quota(700, 3)), Vec::new()), &t)?;
    }

    #[test]
    fn retry_plan_alone(t in trace(plan_op())) {
        replay(|| PlanM(retry_plan(), 0), &t)?;
    }

    #[test]
    fn attempt_timeout_over_a_retry(t in trace(plan_op())) {
        replay(|| PlanM(AttemptTimeout::<_>::new(retry_plan(), per_try(TimeoutMode::Cancel)), 0), &t)?;
        replay(|| PlanM(AttemptTimeout::<_>::new(retry_plan(), per_try(TimeoutMode::Soft)), 0), &t)?;
        replay(|| PlanM(AttemptTimeout::<_>::new(retry_plan(), None), 0), &t)?;
    }

    #[test]
    fn atomic_gcra(t in trace(rate_op())) {
        replay(|| Booked(AtomicGcra::new(quota(700, 3)), Vec::new()), &t)?;
    }

    #[test]
    fn token_bucket(t in trace(rate_op())) {
        replay(|| Counting(TokenBucket::new(4, 1, Duration::from_millis(600)).unwrap()), &t)?;
    }

    #[test]
    fn fixed_window(t in trace(rate_op())) {
        replay(|| Counting(FixedWindow::new(4, Duration::from_millis(2_000)).unwrap()), &t)?;
    }

    #[test]
    fn sliding_window(t in trace(rate_op())) {
        replay(|| Counting(SlidingWindow::<4>::new(5, Duration::from_millis(3_000)).unwrap()), &t)?;
    }

    #[test]
    fn keyed_gcra(t in trace((0u8..6, rate_op()))) {
        replay(|| Keyed(KeyedGcra::<u8, 4>::new(quota(900, 2), 9)), &t)?;
    }

    #[test]
    fn breaker_count_window(t in trace(call_op())) {
        replay(|| BreakerM::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new())), &t)?;
    }

    #[test]
    fn breaker_time_window(t in trace(call_op())) {
        replay(|| BreakerM::new(CircuitBreaker::new(breaker_config(), TimeWindow::<4>::new(Duration::from_secs(8)).unwrap())), &t)?;
    }

    #[test]
    fn breaker_consecutive_failures(t in trace(call_op())) {
        let config = BreakerConfig::builder().consecutive_failures(2).open_wait(Duration::from_secs(3)).build().unwrap();
        replay(|| BreakerM::new(CircuitBreaker::new(config, NoWindow)), &t)?;
    }

    #[test]
    fn shared_breaker(t in trace(call_op())) {
        replay(|| BreakerM::new(SharedBreaker::new(CsLock::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new())))), &t)?;
    }

    #[test]
    fn fail_fast(t in trace(failfast_op())) {
        replay(|| FailFastM::new(FailFast::new(failfast_config())), &t)?;
    }

    #[test]
    fn shared_fail_fast(t in trace(failfast_op())) {
        replay(|| FailFastM::new(SharedFailFast::new(CsLock::new(FailFast::new(failfast_config())))), &t)?;
    }

    #[test]
    fn bulkhead(t in trace(bulkhead_op())) {
        replay(|| BulkheadM(Bulkhead::<4>::new(bulkhead_config()), Vec::new(), Vec::new()), &t)?;
    }

    #[test]
    fn shared_bulkhead(t in trace(bulkhead_op())) {
        replay(|| BulkheadM(SharedBh::new(CsLock::new(Bulkhead::new(bulkhead_config()))), Vec::new(), Vec::new()), &t)?;
    }

    #[test]
    fn retry_with_a_ratio_budget(t in trace(retry_op())) {
        replay(|| retry_machine(RatioBudget::<4>::new(Duration::from_secs(10), 0.5, 1).unwrap()), &t)?;
    }

    #[test]
    fn retry_with_a_token_quota(t in trace(retry_op())) {
        replay(|| retry_machine(TokenQuota::new(20, 5, 10, 5, 1).unwrap()), &t)?;
    }

    #[test]
    fn retry_with_a_grpc_throttle(t in trace(retry_op())) {
        replay(|| retry_machine(GrpcThrottle::new(10, 0.5).unwrap()), &t)?;
    }

    #[test]
    fn timeout_cancel(t in trace(timeout_op())) {
        replay(|| timeout_machine(TimeoutMode::Cancel), &t)?;
    }

    #[test]
    fn timeout_soft(t in trace(timeout_op())) {
        replay(|| timeout_machine(TimeoutMode::Soft), &t)?;
    }

    #[test]
    fn backpressure_retry_after(t in trace(prop::option::of(0u64..3_000))) {
        replay(|| BackpressureM(
            Backpressure::new(Duration::from_millis(500), Duration::from_secs(6), Duration::from_millis(100), Duration::from_secs(2)).unwrap(),
            Xorshift64::new(5),
        ), &t)?;
    }
}

fn as_acquire(op: &RateOp) -> RateOp {
    match *op {
        RateOp::Reserve(n, _) => RateOp::Acquire(n),
        ref other => other.clone(),
    }
}

fn without_deadline(op: &FailFastOp) -> FailFastOp {
    match op {
        FailFastOp::Acquire(_) => FailFastOp::Acquire(None),
        other => other.clone(),
    }
}

fn rate_decision(a: &RateAnswer) -> Option<Result<(), failsafe_core::Rejected>> {
    match a {
        RateAnswer::Decision(r) => Some(*r),
        RateAnswer::Start(r) => Some(r.map(|_| ())),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn earliest_gcra(t in trace(rate_op())) {
        earliest(|| Booked(Gcra::new(quota(700, 3)), Vec::new()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_atomic_gcra(t in trace(rate_op())) {
        earliest(|| Booked(AtomicGcra::new(quota(700, 3)), Vec::new()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_token_bucket(t in trace(rate_op())) {
        earliest(|| Counting(TokenBucket::new(4, 1, Duration::from_millis(600)).unwrap()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_fixed_window(t in trace(rate_op())) {
        earliest(|| Counting(FixedWindow::new(4, Duration::from_millis(2_000)).unwrap()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_sliding_window(t in trace(rate_op())) {
        earliest(|| Counting(SlidingWindow::<4>::new(5, Duration::from_millis(3_000)).unwrap()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_keyed_gcra(t in trace((0u8..6, rate_op()))) {
        earliest(|| Keyed(KeyedGcra::<u8, 4>::new(quota(900, 2), 9)), &t, rate_decision, |(k, op)| (*k, as_acquire(op)))?;
    }

    #[test]
    fn earliest_breaker(t in trace(call_op())) {
        earliest(|| BreakerM::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new())), &t, |a| a.admitted, Clone::clone)?;
    }

    #[test]
    fn earliest_shared_breaker(t in trace(call_op())) {
        earliest(|| BreakerM::new(SharedBreaker::new(CsLock::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new())))), &t, |a| a.admitted, Clone::clone)?;
    }

    #[test]
    fn earliest_fail_fast(t in trace(failfast_op())) {
        earliest(|| FailFastM::new(FailFast::new(failfast_config())), &t, |a| a.admitted.map(|r| r.map(drop)), without_deadline)?;
    }

    #[test]
    fn earliest_shared_fail_fast(t in trace(failfast_op())) {
        earliest(|| FailFastM::new(SharedFailFast::new(CsLock::new(FailFast::new(failfast_config())))), &t, |a| a.admitted.map(|r| r.map(drop)), without_deadline)?;
    }
}

/// Issue 7, item 3's exact input, as a reminder of what the property
/// guards: quota 1/s, burst 2; a permit at t = 10 s; the clock then reads
/// 9.9 s. One permit is left, as at 10 s.
#[test]
fn the_reported_gcra_trace() {
    let quota = quota(1_000, 2);
    let mut g = Gcra::new(quota);
    g.acquire(Instant::from_secs(10), 1).unwrap();
    assert_eq!(g.available(Instant::from_millis(9_900)), 1);
    assert!(g.acquire(Instant::from_millis(9_900), 1).is_ok());
    assert!(g.acquire(Instant::from_millis(9_900), 1).is_err());
}

// ---- The same contract through the admission contract ----
//
// Every machine reached through `Admission` / `SharedAdmission` (what every
// driver, binding and tower layer uses) answers a raw `now` as it answers
// the latest time it has seen: the adapters of the contract (a `Throttle`
// reading a booking's start against `now`, the shared gate) keep the
// clock contract too. One machine covers every admission machine.

use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::rate::Throttle;
use failsafe_core::sync::SharedAdmission;

#[derive(Clone, Debug)]
enum AdmitOp {
    /// A call that may wait (`true`) or not.
    Enter(bool),
    /// The i-th permit out comes back with an outcome.
    Exit(usize, u8),
    /// The i-th waiter asks again.
    Resume(usize),
    /// The i-th waiter gives up.
    Cancel(usize),
    OnDeadline,
}

fn admit_op() -> impl Strategy<Value = AdmitOp> {
    prop_oneof![
        4 => any::<bool>().prop_map(AdmitOp::Enter),
        3 => (0usize..4, 0u8..5).prop_map(|(i, o)| AdmitOp::Exit(i, o)),
        1 => (0usize..4).prop_map(AdmitOp::Resume),
        1 => (0usize..4).prop_map(AdmitOp::Cancel),
        1 => Just(AdmitOp::OnDeadline),
    ]
}

#[derive(Debug, PartialEq)]
enum AdmitAnswer {
    Admitted,
    Rejected(failsafe_core::Rejected),
    Pending(Option<Instant>),
    Done,
}

/// Either contract, `&mut` or `&self`.
trait Contract {
    type Permit;
    type Wait;
    fn enter(&mut self, call: &Call<'_>) -> Entry<Self::Permit, Self::Wait>;
    fn resume(&mut self, call: &Call<'_>, wait: Self::Wait) -> Entry<Self::Permit, Self::Wait>;
    fn cancel(&mut self, now: Instant, wait: Self::Wait);
    fn exit(&mut self, now: Instant, permit: Self::Permit, outcome: Outcome);
    fn on_deadline(&mut self, now: Instant);
}

/// A machine through `Admission`.
struct Owned<M>(M);

impl<M: Admission<Key = ()>> Contract for Owned<M> {
    type Permit = M::Permit;
    type Wait = M::Wait;
    fn enter(&mut self, call: &Call<'_>) -> Entry<M::Permit, M::Wait> {
        self.0.enter(call, None)
    }
    fn resume(&mut self, call: &Call<'_>, wait: M::Wait) -> Entry<M::Permit, M::Wait> {
        self.0.resume(call, wait, None)
    }
    fn cancel(&mut self, now: Instant, wait: M::Wait) {
        self.0.cancel(now, wait)
    }
    fn exit(&mut self, now: Instant, permit: M::Permit, outcome: Outcome) {
        self.0.exit(now, permit, outcome)
    }
    fn on_deadline(&mut self, now: Instant) {
        self.0.on_deadline(now)
    }
}

/// A machine through `SharedAdmission` (the lock-free gates included).
struct ByRef<S>(S);

impl<S: SharedAdmission<Key = ()>> Contract for ByRef<S> {
    type Permit = S::Permit;
    type Wait = S::Wait;
    fn enter(&mut self, call: &Call<'_>) -> Entry<S::Permit, S::Wait> {
        self.0.enter(call, None)
    }
    fn resume(&mut self, call: &Call<'_>, wait: S::Wait) -> Entry<S::Permit, S::Wait> {
        self.0.resume(call, wait, None)
    }
    fn cancel(&mut self, now: Instant, wait: S::Wait) {
        self.0.cancel(now, wait)
    }
    fn exit(&mut self, now: Instant, permit: S::Permit, outcome: Outcome) {
        self.0.exit(now, permit, outcome)
    }
    fn on_deadline(&mut self, now: Instant) {
        self.0.on_deadline(now)
    }
}

/// A contract, the permits and waits it handed out, and which ops hand
/// the machine its time (a limiter's exit, cancel and deadline read none).
struct Admitting<C: Contract>(C, Vec<C::Permit>, Vec<C::Wait>, fn(&AdmitOp) -> bool);

impl<C: Contract> Admitting<C> {
    fn answer(&mut self, entry: Entry<C::Permit, C::Wait>) -> AdmitAnswer {
        match entry {
            Entry::Admitted(p) => {
                self.1.push(p);
                AdmitAnswer::Admitted
            }
            Entry::Rejected(r) => AdmitAnswer::Rejected(r),
            Entry::Pending { wait, recheck_at } => {
                self.2.push(wait);
                AdmitAnswer::Pending(recheck_at)
            }
        }
    }
}

impl<C: Contract> Machine for Admitting<C> {
    type Op = AdmitOp;
    type Answer = AdmitAnswer;
    fn apply(&mut self, now: Instant, op: &AdmitOp) -> AdmitAnswer {
        let call = Call::at(now);
        match *op {
            AdmitOp::Enter(wait) => {
                let call = if wait { call } else { call.no_wait() };
                let entry = self.0.enter(&call);
                self.answer(entry)
            }
            AdmitOp::Exit(i, o) if !self.1.is_empty() => {
                let p = self.1.remove(i % self.1.len());
                self.0.exit(now, p, outcome(o % 4));
                AdmitAnswer::Done
            }
            AdmitOp::Resume(i) if !self.2.is_empty() => {
                let w = self.2.remove(i % self.2.len());
                let entry = self.0.resume(&call, w);
                self.answer(entry)
            }
            AdmitOp::Cancel(i) if !self.2.is_empty() => {
                let w = self.2.remove(i % self.2.len());
                self.0.cancel(now, w);
                AdmitAnswer::Done
            }
            AdmitOp::OnDeadline => {
                self.0.on_deadline(now);
                AdmitAnswer::Done
            }
            _ => AdmitAnswer::Done,
        }
    }
    fn observes(&self, _: Instant, _: Instant, op: &AdmitOp) -> bool {
        let held = match op {
            AdmitOp::Exit(..) => !self.1.is_empty(),
            AdmitOp::Resume(_) | AdmitOp::Cancel(_) => !self.2.is_empty(),
            _ => true,
        };
        held && (self.3)(op)
    }
}

/// Every op hands the machine its time (breaker, fail fast, bulkhead).
fn every_op(_: &AdmitOp) -> bool {
    true
}

/// A limiter reads the time only to decide (enter; a limiter that cannot
/// book asks again on resume).
fn decisions(op: &AdmitOp) -> bool {
    matches!(op, AdmitOp::Enter(_) | AdmitOp::Resume(_))
}

/// A booking limiter decides on enter only: resuming checks its booking.
fn bookings(op: &AdmitOp) -> bool {
    matches!(op, AdmitOp::Enter(_))
}

fn admitting<C: Contract>(contract: C, observes: fn(&AdmitOp) -> bool) -> Admitting<C> {
    Admitting(contract, Vec::new(), Vec::new(), observes)
}

fn waiting<L>(limiter: L) -> Throttle<L> {
    Throttle::new(limiter).max_wait(Duration::from_millis(1_500))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn contract_breaker(t in trace(admit_op())) {
        replay(|| admitting(Owned(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new())), every_op), &t)?;
    }

    #[test]
    fn contract_failfast(t in trace(admit_op())) {
        replay(|| admitting(Owned(FailFast::new(failfast_config())), every_op), &t)?;
    }

    #[test]
    fn contract_bulkhead(t in trace(admit_op())) {
        replay(|| admitting(Owned(Bulkhead::<4>::new(bulkhead_config())), every_op), &t)?;
    }

    #[test]
    fn contract_gcra(t in trace(admit_op())) {
        replay(|| admitting(Owned(waiting(Gcra::new(quota(700, 3)))), bookings), &t)?;
    }

    #[test]
    fn contract_atomic_gcra(t in trace(admit_op())) {
        replay(|| admitting(ByRef(waiting(AtomicGcra::new(quota(700, 3)))), bookings), &t)?;
    }

    #[test]
    fn contract_limiters_that_cannot_book(t in trace(admit_op())) {
        replay(|| admitting(Owned(waiting(TokenBucket::new(4, 1, Duration::from_millis(600)).unwrap())), decisions), &t)?;
        replay(|| admitting(Owned(waiting(FixedWindow::new(4, Duration::from_millis(2_000)).unwrap())), decisions), &t)?;
        replay(|| admitting(Owned(waiting(SlidingWindow::<4>::new(5, Duration::from_millis(3_000)).unwrap())), decisions), &t)?;
    }
}

// --------------------------------------------------------------- cache --

#[derive(Clone, Debug)]
enum CacheOp {
    Insert(u32),
    Failure,
    Lookup,
    Get,
    Remove,
    /// A load mark held for this many ms after `now`.
    Begin(u64),
    End,
    Purge,
}

fn cache_op() -> impl Strategy<Value = CacheOp> {
    prop_oneof![
        3 => any::<u32>().prop_map(CacheOp::Insert),
        1 => Just(CacheOp::Failure),
        4 => Just(CacheOp::Lookup),
        2 => Just(CacheOp::Get),
        1 => Just(CacheOp::Remove),
        1 => (0u64..3_000).prop_map(CacheOp::Begin),
        1 => Just(CacheOp::End),
        1 => Just(CacheOp::Purge),
    ]
}

/// A 4-slot cache over 6 keys (so evictions happen) with every time-based
/// decision on: TTL, time-to-idle, stale-on-error, refresh-ahead, negative
/// caching, load marks. Answers are compared with their metrics.
struct CacheM<P: failsafe_core::cache::EvictionPolicy>(failsafe_core::cache::Cache<u8, u32, 4, P>);

fn cache_config() -> failsafe_core::cache::CacheConfig {
    failsafe_core::cache::CacheConfig::builder()
        .time_to_live(Duration::from_secs(4))
        .time_to_idle(Duration::from_secs(3))
        .max_stale(Duration::from_secs(2))
        .refresh_ahead(Duration::from_secs(1))
        .negative_ttl(Duration::from_millis(1_500))
        .build()
        .unwrap()
}

impl<P: failsafe_core::cache::EvictionPolicy> Machine for CacheM<P> {
    type Op = (u8, CacheOp);
    type Answer = (String, failsafe_core::cache::CacheMetrics);
    fn apply(&mut self, now: Instant, (key, op): &(u8, CacheOp)) -> Self::Answer {
        let c = &mut self.0;
        let answer = match *op {
            CacheOp::Insert(v) => format!("{:?}", c.insert(*key, v, now)),
            CacheOp::Failure => format!("{:?}", c.insert_failure(*key, now)),
            CacheOp::Lookup => format!("{:?}", c.lookup(key, now)),
            CacheOp::Get => format!("{:?}", c.get(key, now)),
            CacheOp::Remove => format!("{:?}", c.remove(key)),
            // the lease's end is an absolute instant: the same in both runs
            CacheOp::Begin(ms) => format!(
                "{:?}",
                c.begin_load(*key, now, Instant::from_millis(5_000 + ms))
            ),
            CacheOp::End => {
                c.end_load(key);
                String::new()
            }
            CacheOp::Purge => format!("{:?}", c.purge_expired(now)),
        };
        (answer, c.metrics())
    }
    fn observes(&self, _: Instant, _: Instant, (_, op): &(u8, CacheOp)) -> bool {
        !matches!(op, CacheOp::Remove | CacheOp::End)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn cache_s3fifo(t in trace((0u8..6, cache_op()))) {
        replay(|| CacheM(failsafe_core::cache::Cache::<u8, u32, 4>::new(cache_config(), 5)), &t)?;
    }

    #[test]
    fn cache_sieve(t in trace((0u8..6, cache_op()))) {
        replay(|| CacheM(failsafe_core::cache::Cache::<u8, u32, 4, failsafe_core::cache::Sieve<4>>::new(cache_config(), 5)), &t)?;
    }

    #[test]
    fn cache_lru(t in trace((0u8..6, cache_op()))) {
        replay(|| CacheM(failsafe_core::cache::Cache::<u8, u32, 4, failsafe_core::cache::Lru<4>>::new(cache_config(), 5)), &t)?;
    }
}

/// `get_or_load`'s decisions: three calls over two keys of a 4-slot cache
/// (every time-based decision on), each looking, finishing its load (Ok
/// with a new value, or Err) or abandoning it; a call that answered starts
/// over. The lease and every age are read through the store's clock.
struct GetOrLoadM {
    store: failsafe_core::cache::Cache<u8, u32, 4>,
    calls: [Option<failsafe_core::cache::GetOrLoad<u8, u32>>; 3],
    values: u32,
}

#[derive(Clone, Debug)]
enum GetOrLoadOp {
    Look,
    Finish(bool),
    Abandon,
}

fn get_or_load_op() -> impl Strategy<Value = (usize, GetOrLoadOp)> {
    (
        0usize..3,
        prop_oneof![
            3 => Just(GetOrLoadOp::Look),
            2 => any::<bool>().prop_map(GetOrLoadOp::Finish),
            1 => Just(GetOrLoadOp::Abandon),
        ],
    )
}

impl Machine for GetOrLoadM {
    type Op = (usize, GetOrLoadOp);
    type Answer = (String, failsafe_core::cache::CacheMetrics);
    fn apply(&mut self, now: Instant, (i, op): &(usize, GetOrLoadOp)) -> Self::Answer {
        use failsafe_core::cache::{CacheStep, GetOrLoad};
        let lease = Duration::from_millis(2_500);
        let call = self.calls[*i].get_or_insert_with(|| GetOrLoad::new(*i as u8 % 2, lease));
        let leading = call.is_leading();
        let answer = match op {
            GetOrLoadOp::Look if !leading => {
                let (step, owed) = call.look(&mut self.store, now, None);
                if matches!(step, CacheStep::Done(_) | CacheStep::Negative { .. }) {
                    self.calls[*i] = None;
                }
                format!("{step:?} {}", owed.is_some())
            }
            GetOrLoadOp::Finish(ok) if leading => {
                self.values += 1;
                let result = if *ok { Ok(self.values) } else { Err("down") };
                let (answer, owed) = call.finish(&mut self.store, now, result, |_| true);
                self.calls[*i] = None;
                format!("{answer:?} {}", owed.is_some())
            }
            GetOrLoadOp::Abandon if leading => {
                let owed = call.abandon(&mut self.store);
                self.calls[*i] = None;
                format!("{}", owed.is_some())
            }
            _ => String::new(),
        };
        (answer, self.store.metrics())
    }
    fn observes(&self, _: Instant, _: Instant, (i, op): &(usize, GetOrLoadOp)) -> bool {
        let leading = self.calls[*i].as_ref().is_some_and(|c| c.is_leading());
        match op {
            GetOrLoadOp::Look => !leading,
            GetOrLoadOp::Finish(_) => leading,
            GetOrLoadOp::Abandon => false,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn cache_get_or_load(t in trace(get_or_load_op())) {
        replay(|| GetOrLoadM { store: failsafe_core::cache::Cache::new(cache_config(), 5), calls: [None, None, None], values: 0 }, &t)?;
    }
}

// -------------------------------------------------------------- toggle --

mod toggle {
    use super::*;
    use failsafe_core::admission::{Admission, Call, Entry};
    use failsafe_core::toggle::{FeatureGate, Flag, FlagSpec, FlagTable, ToggleConfig, Window};
    use failsafe_core::{Rejected, checked};

    const fn s(n: u64) -> Instant {
        Instant::from_secs(n)
    }

    /// Windows inside the traces' reach (they start at 5 s and wander).
    const WINDOWS: &[Window] = &[
        checked(Window::new(s(6), s(8))),
        checked(Window::new(s(12), s(15))),
        checked(Window::new(s(30), s(31))),
    ];
    const CONFIG: ToggleConfig<2> = checked(ToggleConfig::new(
        3,
        [
            FlagSpec::new("sched").windows(WINDOWS).rollout(6_000),
            FlagSpec::new("plain"),
        ],
    ));

    #[derive(Clone, Debug)]
    pub(super) enum ToggleOp {
        /// A call with key `k` gated on the scheduled (0) or plain (1) flag.
        Enter {
            flag: u16,
            key: u8,
        },
        OnDeadline,
        /// The scheduled flag's rollout.
        Rollout(u16),
        /// The plain flag's lists (never time-dependent).
        Allow(u8),
        Forget(u8),
    }

    pub(super) fn toggle_op() -> impl Strategy<Value = ToggleOp> {
        prop_oneof![
            4 => (0u16..2, 0u8..8).prop_map(|(flag, key)| ToggleOp::Enter { flag, key }),
            2 => Just(ToggleOp::OnDeadline),
            1 => (0u16..=10_000).prop_map(ToggleOp::Rollout),
            1 => (0u8..8).prop_map(ToggleOp::Allow),
            1 => (0u8..8).prop_map(ToggleOp::Forget),
        ]
    }

    pub(super) struct Toggles(pub(super) FlagTable<2, 2>);

    pub(super) type ToggleAnswer = (Option<Result<(), Rejected>>, Option<Instant>);

    impl Machine for Toggles {
        type Op = ToggleOp;
        type Answer = ToggleAnswer;

        fn apply(&mut self, now: Instant, op: &ToggleOp) -> ToggleAnswer {
            let t = &self.0;
            let decision = match *op {
                ToggleOp::Enter { flag, key } => {
                    let mut gate = FeatureGate::<_, _, u8>::new(t, Flag::at(flag), ());
                    Some(match gate.enter(&Call::at(now).with_key(&key), None) {
                        Entry::Admitted(p) => {
                            gate.exit(now, p, Outcome::Success);
                            Ok(())
                        }
                        Entry::Rejected(r) => Err(r),
                        Entry::Pending { wait, .. } => match wait {},
                    })
                }
                ToggleOp::OnDeadline => {
                    t.on_deadline(now);
                    None
                }
                ToggleOp::Rollout(bp) => {
                    t.set_rollout(now, Flag::at(0), bp).unwrap();
                    None
                }
                ToggleOp::Allow(k) => {
                    let _ = t.allow(now, Flag::at(1), &k);
                    None
                }
                ToggleOp::Forget(k) => {
                    t.forget(now, Flag::at(1), &k);
                    None
                }
            };
            (decision, t.next_deadline())
        }

        /// Only the scheduled flag's decisions and `on_deadline` read the
        /// time (the plain flag and the operator's edits never do).
        fn observes(&self, _: Instant, _: Instant, op: &ToggleOp) -> bool {
            matches!(op, ToggleOp::Enter { flag: 0, .. } | ToggleOp::OnDeadline)
        }
    }

    pub(super) fn make() -> Toggles {
        Toggles(FlagTable::new(CONFIG))
    }

    pub(super) fn decision(a: &ToggleAnswer) -> Option<Result<(), Rejected>> {
        a.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn feature_toggle(t in trace(toggle::toggle_op())) {
        replay(toggle::make, &t)?;
    }

    #[test]
    fn earliest_feature_toggle(t in trace(toggle::toggle_op())) {
        earliest(toggle::make, &t, toggle::decision, Clone::clone)?;
    }
}
