//! A pipeline as the simulator runs it: the real core machines (circuit
//! breaker, fail fast, rate limiter, bulkhead) entered in the driver's
//! order, all or nothing, plus the per-call retry and timeouts
//! ([`PipelineSpec`] describes one; [`Guards`] holds its machines).
//!
//! The order is the driver's (`failsafe_driver::Pipeline`): retry outside,
//! then the admissions **breaker / fail fast → rate limiter → bulkhead**,
//! then the attempt timeout, then the dependency.

use core::time::Duration;
use std::cell::RefCell;
use std::rc::Rc;

use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerPermit, CircuitBreaker, CountWindow, NoWindow, Sample,
    State, TimeWindow, Totals, Window,
};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadPermit};
use failsafe_core::failfast::{FailFast, FailFastConfig, FailFastEvent, FailFastPermit};
use failsafe_core::rate::{Gcra, Quota, Reservation, Throttle};
use failsafe_core::retry::{
    FailureKind, NoBudget, RatioBudget, RetryBudget, RetryConfig, TokenQuota,
};
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{ConfigError, Instant, Observer, Outcome, Rejected, TimeSource};

use crate::spec::{BudgetSpec, PipelineSpec, TIME_WINDOW_BUCKETS, WindowSpec};

/// A state change of an admission machine, for the report and the plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// When the change became due.
    pub at: Instant,
    /// Which machine: `"breaker"` or `"fail fast"`.
    pub machine: &'static str,
    /// The state left.
    pub from: &'static str,
    /// The state entered.
    pub to: &'static str,
}

/// Keeps the state changes of the machines it observes.
#[derive(Clone, Debug, Default)]
pub struct TransitionLog(Rc<RefCell<Vec<Transition>>>);

impl TransitionLog {
    /// Every change so far, in order.
    pub fn snapshot(&self) -> Vec<Transition> {
        self.0.borrow().clone()
    }

    fn push(&self, t: Transition) {
        self.0.borrow_mut().push(t);
    }
}

impl Observer<BreakerEvent> for TransitionLog {
    #[inline]
    fn on_event(&mut self, event: BreakerEvent) {
        if let BreakerEvent::StateChanged { from, to, at } = event {
            self.push(Transition {
                at,
                machine: "breaker",
                from: from.as_str(),
                to: to.as_str(),
            });
        }
    }
}

impl Observer<FailFastEvent> for TransitionLog {
    #[inline]
    fn on_event(&mut self, event: FailFastEvent) {
        let (at, from, to) = match event {
            FailFastEvent::Opened { at, .. } => (at, "closed", "open"),
            FailFastEvent::Closed { at, .. } => (at, "open", "closed"),
            _ => return,
        };
        self.push(Transition {
            at,
            machine: "fail fast",
            from,
            to,
        });
    }
}

/// The breaker's window, chosen at run time from a spec.
#[derive(Debug)]
pub enum AnyWindow {
    /// The last 100 calls (resilience4j's default count window).
    Count(CountWindow<100>),
    /// The calls of the last `window`, in [`TIME_WINDOW_BUCKETS`] buckets.
    Time(TimeWindow<TIME_WINDOW_BUCKETS>),
    /// None: consecutive failures only.
    None(NoWindow),
}

macro_rules! each_window {
    ($self:expr, $w:ident => $e:expr) => {
        match $self {
            AnyWindow::Count($w) => $e,
            AnyWindow::Time($w) => $e,
            AnyWindow::None($w) => $e,
        }
    };
}

impl Window for AnyWindow {
    #[inline]
    fn record(&mut self, now: Instant, sample: Sample) {
        each_window!(self, w => w.record(now, sample))
    }
    #[inline]
    fn totals(&mut self, now: Instant) -> Totals {
        each_window!(self, w => w.totals(now))
    }
    fn clear(&mut self) {
        each_window!(self, w => w.clear())
    }
    fn capacity(&self) -> Option<u32> {
        each_window!(self, w => w.capacity())
    }
    #[inline]
    fn needs_time(&self) -> bool {
        each_window!(self, w => w.needs_time())
    }
    #[inline]
    fn record_successes(&mut self, now: Instant, n: u32) {
        each_window!(self, w => w.record_successes(now, n))
    }
    fn success_only_dilutes(&self) -> bool {
        each_window!(self, w => w.success_only_dilutes())
    }
}

/// The retry budget, chosen at run time from a spec.
#[derive(Debug)]
pub enum AnyBudget {
    /// No budget: every retry the policy allows is made.
    None(NoBudget),
    /// tower's `TpsBudget` shape: retries at most a ratio of calls.
    Ratio(RatioBudget<10>),
    /// AWS SDKs' token quota (retry quota).
    Tokens(TokenQuota),
}

macro_rules! each_budget {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            AnyBudget::None($b) => $e,
            AnyBudget::Ratio($b) => $e,
            AnyBudget::Tokens($b) => $e,
        }
    };
}

impl RetryBudget for AnyBudget {
    #[inline]
    fn on_call(&mut self, now: Instant) {
        each_budget!(self, b => b.on_call(now))
    }
    #[inline]
    fn on_success(&mut self, now: Instant, retried_after: Option<FailureKind>) {
        each_budget!(self, b => b.on_success(now, retried_after))
    }
    #[inline]
    fn on_failure(&mut self, now: Instant, kind: FailureKind) {
        each_budget!(self, b => b.on_failure(now, kind))
    }
    #[inline]
    fn try_retry(&mut self, now: Instant, kind: FailureKind) -> bool {
        each_budget!(self, b => b.try_retry(now, kind))
    }
}

/// A budget shared by every call of one simulated client: one thread, so a
/// `RefCell` is the lock.
#[derive(Debug)]
pub struct CellLock<T>(RefCell<T>);

impl<T> CellLock<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        CellLock(RefCell::new(value))
    }
}

impl<T> Lock<T> for CellLock<T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

/// The permits one attempt holds, one per machine that admitted it.
#[derive(Debug, Default)]
pub struct Permits {
    breaker: Option<BreakerPermit>,
    fail_fast: Option<FailFastPermit>,
    limiter: Option<Reservation>,
    bulkhead: Option<BulkheadPermit>,
}

/// The time of an entry or exit, as the breaker reads it: an `Instant`'s
/// reading under a type of the simulator's own, so that the breaker's
/// `acquire` and `record` the event engine runs are compiled for it alone
/// (inlined into its loop) rather than shared with the driver engine,
/// which runs the same breaker type.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl TimeSource for Clock {
    #[inline(always)]
    fn read(&mut self) -> Instant {
        self.0
    }

    #[inline(always)]
    fn known(&self) -> Option<Instant> {
        Some(self.0)
    }
}

/// The admission machines of one pipeline, entered in the driver's order.
#[derive(Debug)]
pub struct Guards {
    /// The circuit breaker, if any.
    pub breaker: Option<CircuitBreaker<AnyWindow, TransitionLog>>,
    /// Fail fast, if any.
    pub fail_fast: Option<FailFast<TransitionLog>>,
    /// The rate limiter (a GCRA), if any.
    pub limiter: Option<Throttle<Gcra>>,
    /// The bulkhead, if any (calls never queue in the simulator: a full
    /// bulkhead rejects).
    pub bulkhead: Option<Bulkhead<1>>,
    /// Where the breaker and fail fast report their state changes.
    pub log: TransitionLog,
}

macro_rules! enter {
    ($machine:expr, $call:expr, $permits:ident . $slot:ident, $guards:expr) => {
        if let Some(m) = $machine.as_mut() {
            match m.enter($call, None) {
                Entry::Admitted(p) => $permits.$slot = Some(p),
                Entry::Rejected(r) => {
                    $guards.abandon($call.now(), $permits);
                    return Err(r);
                }
                Entry::Pending { wait, .. } => {
                    // A no-wait call never waits; give the place back.
                    Admission::cancel(m, $call.now(), wait);
                    $guards.abandon($call.now(), $permits);
                    return Err(Rejected::new(
                        failsafe_core::RejectReason::BulkheadFull,
                        None,
                    ));
                }
            }
        }
    };
}

impl Permits {
    /// Whether any machine's permit is held.
    pub fn is_held(&self) -> bool {
        self.breaker.is_some()
            || self.fail_fast.is_some()
            || self.limiter.is_some()
            || self.bulkhead.is_some()
    }
}

impl Guards {
    /// Asks every machine, in order, to admit an attempt at `now` under
    /// `deadline`: all or nothing (a machine's rejection hands back the
    /// permits already given, uncounted).
    ///
    /// # Errors
    ///
    /// The first machine's rejection.
    #[inline]
    pub fn enter(&mut self, now: Instant, deadline: Deadline) -> Result<Permits, Rejected> {
        let mut permits = Permits::default();
        self.enter_into(now, deadline, &mut permits)?;
        Ok(permits)
    }

    /// [`enter`](Self::enter), keeping the permits in `permits` (which
    /// holds none), where they stay until [`exit_held`](Self::exit_held).
    ///
    /// # Errors
    ///
    /// The first machine's rejection (`permits` then holds none).
    // Always inlined: each engine (one per budget type) keeps its own copy
    // in its loop.
    #[inline(always)]
    pub fn enter_into(
        &mut self,
        now: Instant,
        deadline: Deadline,
        permits: &mut Permits,
    ) -> Result<(), Rejected> {
        let call = Call::at(now).with_deadline(deadline).no_wait();
        // The breaker's `enter` is its `acquire` at the call's time: read
        // through `Clock`, so that this copy of it is the engine's own.
        if let Some(m) = self.breaker.as_mut() {
            match m.acquire(Clock(now)) {
                Ok(p) => permits.breaker = Some(p),
                Err(r) => {
                    self.abandon(now, permits);
                    return Err(r);
                }
            }
        }
        enter!(self.fail_fast, &call, permits.fail_fast, self);
        enter!(self.limiter, &call, permits.limiter, self);
        enter!(self.bulkhead, &call, permits.bulkhead, self);
        Ok(())
    }

    /// Hands an attempt's permits back with how it ended, in reverse order.
    #[inline]
    pub fn exit(&mut self, now: Instant, mut permits: Permits, outcome: Outcome) {
        self.exit_held(now, &mut permits, outcome);
    }

    /// Hands back the permits held in `permits` with how the attempt
    /// ended, in reverse order; `permits` then holds none.
    #[inline]
    pub fn exit_held(&mut self, now: Instant, permits: &mut Permits, outcome: Outcome) {
        if let (Some(m), Some(p)) = (self.bulkhead.as_mut(), permits.bulkhead.take()) {
            m.exit(now, p, outcome);
        }
        if let (Some(m), Some(p)) = (self.limiter.as_mut(), permits.limiter.take()) {
            m.exit(now, p, outcome);
        }
        if let (Some(m), Some(p)) = (self.fail_fast.as_mut(), permits.fail_fast.take()) {
            m.exit(now, p, outcome);
        }
        if let (Some(m), Some(p)) = (self.breaker.as_mut(), permits.breaker.take()) {
            m.exit(Clock(now), p, outcome);
        }
    }

    fn abandon(&mut self, now: Instant, permits: &mut Permits) {
        if let (Some(m), Some(p)) = (self.bulkhead.as_mut(), permits.bulkhead.take()) {
            m.abandon(now, p);
        }
        if let (Some(m), Some(p)) = (self.limiter.as_mut(), permits.limiter.take()) {
            m.abandon(now, p);
        }
        if let (Some(m), Some(p)) = (self.fail_fast.as_mut(), permits.fail_fast.take()) {
            m.abandon(now, p);
        }
        if let (Some(m), Some(p)) = (self.breaker.as_mut(), permits.breaker.take()) {
            m.abandon(now, p);
        }
    }

    /// The earliest instant a machine changes by itself.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        let b = self.breaker.as_ref().and_then(|m| m.next_deadline());
        let f = self.fail_fast.as_ref().and_then(Admission::next_deadline);
        match (b, f) {
            (Some(b), Some(f)) => Some(b.min(f)),
            (b, f) => b.or(f),
        }
    }

    /// Applies what is due at `now`.
    pub fn on_deadline(&mut self, now: Instant) {
        if let Some(m) = self.breaker.as_mut() {
            m.on_deadline(now);
        }
        if let Some(m) = self.fail_fast.as_mut() {
            Admission::on_deadline(m, now);
        }
    }

    /// The breaker's state (closed if there is none).
    pub fn breaker_state(&self) -> State {
        self.breaker.as_ref().map_or(State::Closed, |b| b.state())
    }
}

/// A pipeline's machines and per-call policy, built from a [`PipelineSpec`].
#[derive(Debug)]
pub struct Built {
    /// The admission machines.
    pub guards: Guards,
    /// The retry policy (one attempt if the spec has no retry).
    pub retry: RetryConfig,
    /// The retry budget shared by every call.
    pub budget: Rc<CellLock<AnyBudget>>,
    /// Each attempt's timeout.
    pub attempt_timeout: Option<Duration>,
    /// The whole call's timeout (the retries' deadline).
    pub timeout: Option<Duration>,
}

/// One attempt, no retry.
const ONE_ATTEMPT: RetryConfig =
    failsafe_core::checked(RetryConfig::builder().max_attempts(1).build());

impl Built {
    /// No protection: one attempt, no admission machine, no timeout. Add
    /// patterns with the `with_` methods, from the core's own configs.
    pub fn unprotected() -> Built {
        Built {
            guards: Guards {
                breaker: None,
                fail_fast: None,
                limiter: None,
                bulkhead: None,
                log: TransitionLog::default(),
            },
            retry: ONE_ATTEMPT,
            budget: Rc::new(CellLock::new(AnyBudget::None(NoBudget))),
            attempt_timeout: None,
            timeout: None,
        }
    }

    /// With a circuit breaker over the last 100 calls.
    #[must_use]
    pub fn with_breaker(mut self, config: BreakerConfig) -> Built {
        self.guards.breaker = Some(CircuitBreaker::with_observer(
            config,
            AnyWindow::Count(CountWindow::new()),
            self.guards.log.clone(),
        ));
        self
    }

    /// With fail fast.
    #[must_use]
    pub fn with_fail_fast(mut self, config: FailFastConfig) -> Built {
        self.guards.fail_fast = Some(FailFast::with_observer(config, self.guards.log.clone()));
        self
    }

    /// With a GCRA rate limiter.
    #[must_use]
    pub fn with_rate_limit(mut self, quota: Quota) -> Built {
        self.guards.limiter = Some(Throttle::new(Gcra::new(quota)));
        self
    }

    /// With a bulkhead (a full one rejects: calls never queue here).
    #[must_use]
    pub fn with_bulkhead(mut self, config: BulkheadConfig) -> Built {
        self.guards.bulkhead = Some(Bulkhead::new(config));
        self
    }

    /// With retries.
    #[must_use]
    pub fn with_retry(mut self, config: RetryConfig) -> Built {
        self.retry = config;
        self
    }

    /// Does a retry budget limit the retries (anything but
    /// `AnyBudget::None`)?
    pub fn has_budget(&self) -> bool {
        self.budget.with(|b| !matches!(b, AnyBudget::None(_)))
    }

    /// With a retry budget.
    #[must_use]
    pub fn with_budget(mut self, budget: AnyBudget) -> Built {
        self.budget = Rc::new(CellLock::new(budget));
        self
    }

    /// With a timeout on each attempt.
    #[must_use]
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Built {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// With a timeout on the whole call (the retries' deadline).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Built {
        self.timeout = Some(timeout);
        self
    }
}

/// A spec's value the core rejected, with the spec's path to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// Where: `pipeline "NAME" breaker.open_wait`.
    pub path: String,
    /// The core's error.
    pub error: ConfigError,
}

impl core::fmt::Display for SpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.path, self.error)
    }
}

impl std::error::Error for SpecError {}

fn at(path: &str, name: &str) -> impl Fn(ConfigError) -> SpecError {
    let path = format!("pipeline \"{name}\" {path}");
    move |error| SpecError {
        path: path.clone(),
        error,
    }
}

fn window(spec: WindowSpec) -> Result<AnyWindow, ConfigError> {
    Ok(match spec {
        WindowSpec::Count {} => AnyWindow::Count(CountWindow::new()),
        WindowSpec::Time { window } => AnyWindow::Time(TimeWindow::new(window)?),
        WindowSpec::None {} => AnyWindow::None(NoWindow),
    })
}

impl PipelineSpec {
    /// Builds the machines and policy a spec describes (its core configs
    /// were validated when the file was read).
    ///
    /// # Errors
    ///
    /// A breaker window the core rejects, with its path in the spec.
    pub fn build(&self) -> Result<Built, SpecError> {
        let mut built = Built::unprotected();
        if let Some(config) = self.breaker {
            let window = window(self.breaker_window.unwrap_or_default())
                .map_err(at("breaker_window", &self.name))?;
            built.guards.breaker = Some(CircuitBreaker::with_observer(
                config,
                window,
                built.guards.log.clone(),
            ));
        }
        if let Some(config) = self.fail_fast {
            built = built.with_fail_fast(config);
        }
        if let Some(quota) = self.rate_limit {
            built = built.with_rate_limit(quota);
        }
        if let Some(config) = self.bulkhead {
            built = built.with_bulkhead(config);
        }
        if let Some(config) = self.retry {
            built = built.with_retry(config);
        }
        built = built.with_budget(match self.budget {
            None => AnyBudget::None(NoBudget),
            Some(BudgetSpec::Ratio(b)) => AnyBudget::Ratio(b),
            Some(BudgetSpec::Tokens(q)) => AnyBudget::Tokens(q),
        });
        built.attempt_timeout = self.attempt_timeout;
        built.timeout = self.timeout;
        Ok(built)
    }
}
