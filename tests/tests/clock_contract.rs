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
    BreakerConfig, CircuitBreaker, CountWindow, NoWindow, TimeWindow, Window,
};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit, Ticket};
use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastPermit};
use failsafe_core::rate::retry_after::Backpressure;
use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Quota, Reservation, SlidingWindow, TokenBucket,
};
use failsafe_core::retry::{
    BackoffKind, GrpcThrottle, Jitter, RatioBudget, Retry, RetryBudget, RetryConfig, TokenQuota,
    Verdict,
};
use failsafe_core::rng::Xorshift64;
use failsafe_core::sync::{CsLock, SharedBreaker, SharedBulkhead, SharedFailFast};
use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutMode};
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
    /// Whether `op` tells the machine the time. Queries (`available`) and
    /// give-backs read or take no `now` to remember: they do not move the
    /// latest time seen.
    fn observes(&self, op: &Self::Op) -> bool {
        let _ = op;
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
        if raw.observes(op) {
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

struct GcraM(Gcra, Vec<Reservation>);

impl Machine for GcraM {
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
    fn observes(&self, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

struct AtomicGcraM(AtomicGcra, Vec<Reservation>);

impl Machine for AtomicGcraM {
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
    fn observes(&self, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

/// The limiters that only take and count: token bucket, windows, keyed.
struct Counting<L>(L);

impl Machine for Counting<TokenBucket> {
    type Op = RateOp;
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, op: &RateOp) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) | RateOp::Reserve(n, _) => {
                RateAnswer::Decision(self.0.acquire(now, n))
            }
            RateOp::Cancel(_) => RateAnswer::GivenBack(false),
            RateOp::Available => RateAnswer::Available(self.0.available(now)),
        }
    }
    fn observes(&self, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

impl Machine for Counting<FixedWindow> {
    type Op = RateOp;
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, op: &RateOp) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) | RateOp::Reserve(n, _) => {
                RateAnswer::Decision(self.0.acquire(now, n))
            }
            _ => RateAnswer::GivenBack(false),
        }
    }
    fn observes(&self, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

impl Machine for Counting<SlidingWindow<4>> {
    type Op = RateOp;
    type Answer = RateAnswer;
    fn apply(&mut self, now: Instant, op: &RateOp) -> RateAnswer {
        match *op {
            RateOp::Acquire(n) | RateOp::Reserve(n, _) => {
                RateAnswer::Decision(self.0.acquire(now, n))
            }
            _ => RateAnswer::GivenBack(false),
        }
    }
    fn observes(&self, op: &RateOp) -> bool {
        matches!(op, RateOp::Acquire(_) | RateOp::Reserve(..))
    }
}

impl Machine for Counting<KeyedGcra<u8, 4>> {
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
    fn observes(&self, (_, op): &(u8, RateOp)) -> bool {
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
    state: failsafe_core::breaker::State,
    next_deadline: Option<Instant>,
    rejecting_until: Option<Instant>,
}

struct BreakerM<W>(
    CircuitBreaker<W>,
    Vec<failsafe_core::breaker::BreakerPermit>,
);

impl<W: Window> Machine for BreakerM<W> {
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
        BreakerAnswer {
            admitted,
            state: self.0.state(),
            next_deadline: self.0.next_deadline(),
            rejecting_until: self.0.rejecting_until(),
        }
    }
    fn observes(&self, op: &CallOp) -> bool {
        !matches!(op, CallOp::Record(..)) || !self.1.is_empty()
    }
}

type SharedB<W> = SharedBreaker<W, (), CsLock<CircuitBreaker<W>>>;

/// The shared breaker, and whether its next admission takes the lock-free
/// path: a closed breaker admits with one atomic load and never hands the
/// machine that call's time (documented on `SharedBreaker`), so such an
/// admission does not move the latest time seen.
struct SharedBreakerM<W>(SharedB<W>, Vec<failsafe_core::breaker::BreakerPermit>, bool);

impl<W: Window> Machine for SharedBreakerM<W> {
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
                self.0.with(|b| b.on_deadline(now));
                None
            }
        };
        let answer = self.0.with(|b| BreakerAnswer {
            admitted,
            state: b.state(),
            next_deadline: b.next_deadline(),
            rejecting_until: b.rejecting_until(),
        });
        // the word published under the lock after every call above
        self.2 = matches!(
            answer.state,
            failsafe_core::breaker::State::Closed
                | failsafe_core::breaker::State::MetricsOnly
                | failsafe_core::breaker::State::Disabled
        );
        answer
    }
    fn observes(&self, op: &CallOp) -> bool {
        match op {
            CallOp::Acquire => !self.2,
            CallOp::Record(..) => !self.1.is_empty(),
            CallOp::OnDeadline => true,
        }
    }
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

struct FailFastM(FailFast, Vec<FailFastPermit>, Instant);

impl Machine for FailFastM {
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
                self.0.on_deadline(now);
                None
            }
            FailFastOp::Unhealthy => {
                self.0.report_unhealthy(now);
                None
            }
        };
        FailFastAnswer {
            admitted,
            state: self.0.state(),
            next_deadline: self.0.next_deadline(),
            rejecting_until: self.0.rejecting_until(),
            min_remaining: self.0.min_remaining(),
        }
    }
    fn observes(&self, op: &FailFastOp) -> bool {
        !matches!(op, FailFastOp::Record(..)) || !self.1.is_empty()
    }
}

struct SharedFailFastM(
    SharedFailFast<(), CsLock<FailFast>>,
    Vec<FailFastPermit>,
    Instant,
);

impl Machine for SharedFailFastM {
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
        self.0.with(|f| FailFastAnswer {
            admitted,
            state: f.state(),
            next_deadline: f.next_deadline(),
            rejecting_until: f.rejecting_until(),
            min_remaining: f.min_remaining(),
        })
    }
    fn observes(&self, op: &FailFastOp) -> bool {
        !matches!(op, FailFastOp::Record(..)) || !self.1.is_empty()
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
}

fn bulkhead_op() -> impl Strategy<Value = BulkheadOp> {
    prop_oneof![
        2 => Just(BulkheadOp::TryAcquire),
        3 => (0usize..6).prop_map(BulkheadOp::Poll),
        1 => (0usize..4).prop_map(BulkheadOp::Cancel),
        3 => (0usize..4, 0u8..4).prop_map(|(i, o)| BulkheadOp::Release(i, o)),
        1 => Just(BulkheadOp::OnDeadline),
    ]
}

#[derive(Debug, PartialEq)]
struct BulkheadAnswer {
    admitted: Option<Poll<Result<(), failsafe_core::Rejected>>>,
    next_deadline: Option<Instant>,
    available: u32,
    limit: u32,
}

struct BulkheadM(Bulkhead<4>, Vec<BulkheadPermit>, Vec<Ticket>);

impl BulkheadM {
    fn settle(
        &mut self,
        r: Poll<Result<BulkheadPermit, failsafe_core::Rejected>>,
    ) -> Poll<Result<(), failsafe_core::Rejected>> {
        r.map(|r| r.map(|p| self.1.push(p)))
    }
}

impl Machine for BulkheadM {
    type Op = BulkheadOp;
    type Answer = BulkheadAnswer;
    fn apply(&mut self, now: Instant, op: &BulkheadOp) -> BulkheadAnswer {
        let admitted = match *op {
            BulkheadOp::TryAcquire => {
                let r = self.0.try_acquire(now);
                Some(self.settle(Poll::Ready(r)))
            }
            BulkheadOp::Poll(i) => {
                let i = if i < self.2.len() {
                    i
                } else {
                    self.2.push(Ticket::new());
                    self.2.len() - 1
                };
                let r = self.0.poll_acquire(now, &mut self.2[i], None);
                if r.is_ready() {
                    self.2.remove(i);
                }
                Some(self.settle(r))
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
                self.0.on_deadline(now);
                None
            }
            _ => None,
        };
        BulkheadAnswer {
            admitted,
            next_deadline: self.0.next_deadline(),
            available: self.0.available(),
            limit: self.0.limit(),
        }
    }
    fn observes(&self, op: &BulkheadOp) -> bool {
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

type SharedBh = SharedBulkhead<4, (), CsLock<Bulkhead<4>>>;

struct SharedBulkheadM(SharedBh, Vec<BulkheadPermit>, Vec<Ticket>);

impl Machine for SharedBulkheadM {
    type Op = BulkheadOp;
    type Answer = BulkheadAnswer;
    fn apply(&mut self, now: Instant, op: &BulkheadOp) -> BulkheadAnswer {
        let admitted = match *op {
            BulkheadOp::TryAcquire => {
                let r = self.0.try_acquire(now);
                Some(Poll::Ready(r.map(|p| self.1.push(p))))
            }
            BulkheadOp::Poll(i) => {
                let i = if i < self.2.len() {
                    i
                } else {
                    self.2.push(Ticket::new());
                    self.2.len() - 1
                };
                let r = self.0.poll_acquire(now, &mut self.2[i], None);
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
            _ => None,
        };
        self.0.with(|b| BulkheadAnswer {
            admitted,
            next_deadline: b.next_deadline(),
            available: b.available(),
            limit: b.limit(),
        })
    }
    fn observes(&self, op: &BulkheadOp) -> bool {
        match op {
            BulkheadOp::Cancel(_) => !self.2.is_empty(),
            BulkheadOp::Release(..) => !self.1.is_empty(),
            _ => true,
        }
    }
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

// -------------------------------------------------------- the checks --

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn gcra(t in trace(rate_op())) {
        replay(|| GcraM(Gcra::new(quota(700, 3)), Vec::new()), &t)?;
    }

    #[test]
    fn atomic_gcra(t in trace(rate_op())) {
        replay(|| AtomicGcraM(AtomicGcra::new(quota(700, 3)), Vec::new()), &t)?;
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
        replay(|| Counting(KeyedGcra::<u8, 4>::new(quota(900, 2), 9)), &t)?;
    }

    #[test]
    fn breaker_count_window(t in trace(call_op())) {
        replay(|| BreakerM(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new()), Vec::new()), &t)?;
    }

    #[test]
    fn breaker_time_window(t in trace(call_op())) {
        replay(|| BreakerM(CircuitBreaker::new(breaker_config(), TimeWindow::<4>::new(Duration::from_secs(8)).unwrap()), Vec::new()), &t)?;
    }

    #[test]
    fn breaker_consecutive_failures(t in trace(call_op())) {
        let config = BreakerConfig::builder().consecutive_failures(2).open_wait(Duration::from_secs(3)).build().unwrap();
        replay(|| BreakerM(CircuitBreaker::new(config, NoWindow), Vec::new()), &t)?;
    }

    #[test]
    fn shared_breaker(t in trace(call_op())) {
        replay(|| SharedBreakerM(SharedBreaker::new(CsLock::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new()))), Vec::new(), false), &t)?;
    }

    #[test]
    fn fail_fast(t in trace(failfast_op())) {
        replay(|| FailFastM(FailFast::new(failfast_config()), Vec::new(), Instant::ZERO), &t)?;
    }

    #[test]
    fn shared_fail_fast(t in trace(failfast_op())) {
        replay(|| SharedFailFastM(SharedFailFast::new(CsLock::new(FailFast::new(failfast_config()))), Vec::new(), Instant::ZERO), &t)?;
    }

    #[test]
    fn bulkhead(t in trace(bulkhead_op())) {
        replay(|| BulkheadM(Bulkhead::new(bulkhead_config()), Vec::new(), Vec::new()), &t)?;
    }

    #[test]
    fn shared_bulkhead(t in trace(bulkhead_op())) {
        replay(|| SharedBulkheadM(SharedBulkhead::new(CsLock::new(Bulkhead::new(bulkhead_config()))), Vec::new(), Vec::new()), &t)?;
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
        earliest(|| GcraM(Gcra::new(quota(700, 3)), Vec::new()), &t, rate_decision, as_acquire)?;
    }

    #[test]
    fn earliest_atomic_gcra(t in trace(rate_op())) {
        earliest(|| AtomicGcraM(AtomicGcra::new(quota(700, 3)), Vec::new()), &t, rate_decision, as_acquire)?;
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
        earliest(|| Counting(KeyedGcra::<u8, 4>::new(quota(900, 2), 9)), &t, rate_decision, |(k, op)| (*k, as_acquire(op)))?;
    }

    #[test]
    fn earliest_breaker(t in trace(call_op())) {
        earliest(|| BreakerM(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new()), Vec::new()), &t, |a| a.admitted, Clone::clone)?;
    }

    #[test]
    fn earliest_shared_breaker(t in trace(call_op())) {
        earliest(|| SharedBreakerM(SharedBreaker::new(CsLock::new(CircuitBreaker::new(breaker_config(), CountWindow::<4>::new()))), Vec::new(), false), &t, |a| a.admitted, Clone::clone)?;
    }

    #[test]
    fn earliest_fail_fast(t in trace(failfast_op())) {
        earliest(|| FailFastM(FailFast::new(failfast_config()), Vec::new(), Instant::ZERO), &t, |a| a.admitted.map(|r| r.map(drop)), without_deadline)?;
    }

    #[test]
    fn earliest_shared_fail_fast(t in trace(failfast_op())) {
        earliest(|| SharedFailFastM(SharedFailFast::new(CsLock::new(FailFast::new(failfast_config()))), Vec::new(), Instant::ZERO), &t, |a| a.admitted.map(|r| r.map(drop)), without_deadline)?;
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
