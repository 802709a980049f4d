//! One flat description of any pattern's event, for observers that log or
//! count every pattern the same way (`tracing`, `metrics`, a test).

use core::time::Duration;

use crate::breaker::BreakerEvent;
use crate::bulkhead::BulkheadEvent;
use crate::cache::{CacheEvent, RemovalCause};
use crate::failfast::{FailFastEvent, State as FailFastState};
use crate::fallback::{FallbackEvent, FallbackReason};
use crate::hedge::HedgeEvent;
use crate::rate::RateEvent;
use crate::retry::{FailureKind, GiveUp, RetryEvent};
use crate::timeout::{TimeoutEvent, TimeoutMode};
use crate::toggle::{Reason, ToggleEvent};
use crate::{Instant, Outcome, RejectReason, Rejected};

/// An event's fields, flat and typed: what a `tracing` event or a metric
/// needs, with no allocation. Fields an event does not have are `None`.
///
/// Names: `pattern` and `kind` are `snake_case` constants (the table in
/// [`Describe`]); `reason`, `outcome`, `from` and `to` are `snake_case`
/// codes as well (a [`RejectReason`] reads as in
/// [`reject_reason_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fields {
    /// The pattern: `circuit_breaker`, `fail_fast`, `bulkhead`,
    /// `rate_limiter`, `retry`, `timeout`, `fallback`, `hedge`,
    /// `feature_toggle`, `cache` (and `chaos` in the driver).
    pub pattern: &'static str,
    /// What happened (`state_changed`, `rejected`, ...).
    pub kind: &'static str,
    /// When, if the event says.
    pub at: Option<Instant>,
    /// Why: a rejection's reason, a retry's give-up, an opening's cause.
    pub reason: Option<&'static str>,
    /// The attempt (1 = the first call), for retries and hedges; attempts
    /// made, for a retry that ended.
    pub attempt: Option<u32>,
    /// A delay: until a retry, until a rejected call may come back, how
    /// long a caller queued, an entry's age.
    pub delay: Option<Duration>,
    /// How long one attempt ran (a retry's attempt, a winning hedge).
    pub took: Option<Duration>,
    /// How long a whole call ran (a retry that ended: every attempt and
    /// the waits between them).
    pub elapsed: Option<Duration>,
    /// The state before a transition.
    pub from: Option<&'static str>,
    /// The state after a transition (or a toggle's path).
    pub to: Option<&'static str>,
    /// How many calls the event stands for: 1 for one decision, `n` for
    /// rejections counted on a lock-free path and reported together.
    pub count: u64,
    /// A call's outcome.
    pub outcome: Option<&'static str>,
    /// Calls holding a bulkhead slot.
    pub in_flight: Option<u32>,
    /// A bulkhead's limit.
    pub limit: Option<u32>,
    /// Callers queued.
    pub queued: Option<u32>,
    /// Permits a rate limiter could grant now.
    pub available: Option<u32>,
    /// The flag's name (feature toggles).
    pub flag: Option<&'static str>,
}

impl Fields {
    /// The fields of a `kind` event of `pattern`, with nothing else set
    /// and a count of 1.
    ///
    /// ```
    /// # use failsafe_core::event::Fields;
    /// let f = Fields::new("retry", "succeeded");
    /// assert_eq!((f.pattern, f.kind, f.count, f.attempt), ("retry", "succeeded", 1, None));
    /// ```
    pub const fn new(pattern: &'static str, kind: &'static str) -> Self {
        Fields {
            pattern,
            kind,
            at: None,
            reason: None,
            attempt: None,
            delay: None,
            took: None,
            elapsed: None,
            from: None,
            to: None,
            count: 1,
            outcome: None,
            in_flight: None,
            limit: None,
            queued: None,
            available: None,
            flag: None,
        }
    }

    /// Sets `at`.
    const fn at(mut self, at: Instant) -> Self {
        self.at = Some(at);
        self
    }

    /// Sets `reason`.
    const fn reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// A rejection at `at`: its reason and the delay until `retry_at`.
    fn rejected(self, at: Instant, rejected: Rejected) -> Self {
        let mut f = self.at(at).reason(reject_reason_code(rejected.reason));
        f.delay = match rejected.retry_at {
            Some(t) if !rejected.is_never() => Some(t.saturating_duration_since(at)),
            _ => None,
        };
        f
    }

    /// `true` for a rejection (`kind` is `rejected`): `count` calls were
    /// turned away.
    ///
    /// ```
    /// # use failsafe_core::event::Fields;
    /// assert!(!Fields::new("bulkhead", "acquired").is_rejection());
    /// ```
    pub fn is_rejection(&self) -> bool {
        matches!(self.kind.as_bytes(), b"rejected")
    }
}

/// An event that can describe itself as [`Fields`]: every pattern's event
/// type implements it, so one observer serves them all.
///
/// | pattern | kinds |
/// |---|---|
/// | `circuit_breaker` | `state_changed`, `rejected`, `probes_expired`, `stale_outcome` |
/// | `fail_fast` | `opened`, `closed`, `probe_due`, `rejected`, `stale_outcome` |
/// | `bulkhead` | `acquired`, `queued`, `rejected`, `wait_expired`, `cancelled`, `released`, `limit_changed` |
/// | `rate_limiter` | `acquired`, `rejected`, `returned` |
/// | `retry` | `attempt_failed`, `retry_scheduled`, `gave_up`, `succeeded` |
/// | `timeout` | `expired` |
/// | `fallback` | `fell_back` |
/// | `hedge` | `launched`, `won`, `budget_exhausted` |
/// | `feature_toggle` | `switched`, `rollout_changed`, `list_changed`, `scheduled`, `decided` |
/// | `cache` | `hit`, `miss`, `stale`, `negative_hit`, `refresh_ahead`, `removed` |
///
/// ```
/// use failsafe_core::event::Describe;
/// use failsafe_core::breaker::{BreakerEvent, State};
/// use failsafe_core::Instant;
/// let e = BreakerEvent::StateChanged { from: State::Closed, to: State::Open, at: Instant::from_secs(1) };
/// let f = e.describe();
/// assert_eq!((f.pattern, f.kind, f.from, f.to), ("circuit_breaker", "state_changed", Some("closed"), Some("open")));
/// ```
pub trait Describe {
    /// The pattern's name (`Fields::pattern`).
    const PATTERN: &'static str;

    /// The event's fields.
    fn describe(&self) -> Fields;
}

/// A [`RejectReason`] as a `snake_case` code, stable for logs and metric
/// labels.
///
/// ```
/// # use failsafe_core::{RejectReason, event::reject_reason_code};
/// assert_eq!(reject_reason_code(RejectReason::BreakerOpen), "breaker_open");
/// ```
pub const fn reject_reason_code(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::BreakerOpen => "breaker_open",
        RejectReason::BreakerHalfOpenFull => "breaker_half_open_full",
        RejectReason::BreakerForcedOpen => "breaker_forced_open",
        RejectReason::RateLimited => "rate_limited",
        RejectReason::RateInsufficientCapacity => "rate_insufficient_capacity",
        RejectReason::BulkheadFull => "bulkhead_full",
        RejectReason::BulkheadQueueFull => "bulkhead_queue_full",
        RejectReason::BulkheadWaitExpired => "bulkhead_wait_expired",
        RejectReason::FailFastOpen => "fail_fast_open",
        RejectReason::DeadlineTooShort => "deadline_too_short",
        RejectReason::FeatureDisabled => "feature_disabled",
    }
}

/// An [`Outcome`] as a `snake_case` code.
///
/// ```
/// # use failsafe_core::{Outcome, event::outcome_code};
/// assert_eq!(outcome_code(Outcome::Timeout), "timeout");
/// ```
pub const fn outcome_code(outcome: Outcome) -> &'static str {
    outcome.as_str()
}

const fn breaker_state(state: crate::breaker::State) -> &'static str {
    use crate::breaker::State;
    match state {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
        State::MetricsOnly => "metrics_only",
    }
}

const fn give_up_code(g: GiveUp) -> &'static str {
    match g {
        GiveUp::Attempts => "attempts",
        GiveUp::Elapsed => "elapsed",
        GiveUp::Deadline => "deadline",
        GiveUp::Budget => "budget",
        GiveUp::Aborted => "aborted",
        GiveUp::NotRetryable => "not_retryable",
    }
}

const fn failure_kind_code(k: FailureKind) -> &'static str {
    match k {
        FailureKind::Error => "error",
        FailureKind::Timeout => "timeout",
        FailureKind::Throttled => "throttled",
    }
}

impl Describe for BreakerEvent {
    const PATTERN: &'static str = "circuit_breaker";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match *self {
            BreakerEvent::StateChanged { from, to, at } => {
                let mut e = f("state_changed").at(at);
                e.from = Some(breaker_state(from));
                e.to = Some(breaker_state(to));
                e
            }
            BreakerEvent::Rejected { at, rejected } => f("rejected").rejected(at, rejected),
            BreakerEvent::LockFreeRejections {
                count,
                at,
                rejected,
            } => {
                let mut e = f("rejected").rejected(at, rejected);
                e.count = count;
                e
            }
            BreakerEvent::ProbesExpired { at, count } => {
                let mut e = f("probes_expired").at(at);
                e.count = u64::from(count);
                e
            }
            BreakerEvent::StaleOutcome { at, outcome } => {
                let mut e = f("stale_outcome").at(at);
                e.outcome = Some(outcome_code(outcome));
                e
            }
        }
    }
}

impl Describe for FailFastEvent {
    const PATTERN: &'static str = "fail_fast";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        let transition = |mut e: Fields, from: FailFastState, to: FailFastState| {
            e.from = Some(from.as_str());
            e.to = Some(to.as_str());
            e
        };
        match *self {
            FailFastEvent::Opened { at, cause } => transition(
                f("opened").at(at).reason(open_cause(cause)),
                FailFastState::Closed,
                FailFastState::Open,
            ),
            FailFastEvent::Closed { at, cause } => transition(
                f("closed").at(at).reason(close_cause(cause)),
                FailFastState::Open,
                FailFastState::Closed,
            ),
            FailFastEvent::ProbeDue { at } => f("probe_due").at(at),
            FailFastEvent::Rejected { at, rejected } => f("rejected").rejected(at, rejected),
            FailFastEvent::LockFreeRejections {
                count,
                at,
                rejected,
            } => {
                let mut e = f("rejected").rejected(at, rejected);
                e.count = count;
                e
            }
            FailFastEvent::StaleOutcome { at, outcome } => {
                let mut e = f("stale_outcome").at(at);
                e.outcome = Some(outcome_code(outcome));
                e
            }
        }
    }
}

const fn open_cause(c: crate::failfast::OpenCause) -> &'static str {
    use crate::failfast::OpenCause;
    match c {
        OpenCause::ConsecutiveFailures => "consecutive_failures",
        OpenCause::Unhealthy => "unhealthy",
        OpenCause::Manual => "manual",
    }
}

const fn close_cause(c: crate::failfast::CloseCause) -> &'static str {
    use crate::failfast::CloseCause;
    match c {
        CloseCause::Healthy => "healthy",
        CloseCause::Manual => "manual",
        CloseCause::ProbeSucceeded => "probe_succeeded",
    }
}

impl Describe for BulkheadEvent {
    const PATTERN: &'static str = "bulkhead";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match *self {
            BulkheadEvent::Acquired {
                in_flight,
                limit,
                waited,
            } => {
                let mut e = f("acquired");
                e.in_flight = Some(in_flight);
                e.limit = Some(limit);
                e.delay = Some(waited);
                e
            }
            BulkheadEvent::Queued { at, queued } => {
                let mut e = f("queued").at(at);
                e.queued = Some(u32::try_from(queued).unwrap_or(u32::MAX));
                e
            }
            BulkheadEvent::Rejected { at, rejected } => f("rejected").rejected(at, rejected),
            BulkheadEvent::WaitExpired { at } => f("wait_expired")
                .at(at)
                .reason(reject_reason_code(RejectReason::BulkheadWaitExpired)),
            BulkheadEvent::Cancelled { granted } => {
                let mut e = f("cancelled");
                e.to = Some(if granted { "granted" } else { "queued" });
                e
            }
            BulkheadEvent::Released { outcome, in_flight } => {
                let mut e = f("released");
                e.outcome = Some(outcome_code(outcome));
                e.in_flight = Some(in_flight);
                e
            }
            BulkheadEvent::LimitChanged { from: _, to } => {
                let mut e = f("limit_changed");
                e.limit = Some(to);
                e
            }
        }
    }
}

impl Describe for RateEvent {
    const PATTERN: &'static str = "rate_limiter";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match *self {
            RateEvent::Acquired {
                at,
                permits,
                available,
            } => {
                let mut e = f("acquired").at(at);
                e.count = u64::from(permits);
                e.available = available;
                e
            }
            RateEvent::Rejected {
                at,
                rejected,
                available,
            } => {
                let mut e = f("rejected").rejected(at, rejected);
                e.available = available;
                e
            }
            RateEvent::Returned { at, available } => {
                let mut e = f("returned").at(at);
                e.available = available;
                e
            }
        }
    }
}

impl Describe for RetryEvent {
    const PATTERN: &'static str = "retry";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match *self {
            RetryEvent::AttemptFailed {
                attempt,
                at,
                kind,
                took,
            } => {
                let mut e = f("attempt_failed").at(at).reason(failure_kind_code(kind));
                e.attempt = Some(attempt);
                e.took = Some(took);
                e
            }
            RetryEvent::RetryScheduled {
                attempt,
                retry_at,
                delay,
            } => {
                let mut e = f("retry_scheduled");
                e.at = Some(retry_at.saturating_sub(delay));
                e.attempt = Some(attempt);
                e.delay = Some(delay);
                e
            }
            RetryEvent::GaveUp {
                reason,
                at,
                attempts,
                elapsed,
            } => {
                let mut e = f("gave_up").at(at).reason(give_up_code(reason));
                e.attempt = Some(attempts);
                e.elapsed = Some(elapsed);
                e
            }
            RetryEvent::Succeeded {
                attempts,
                at,
                took,
                elapsed,
            } => {
                let mut e = f("succeeded").at(at);
                e.attempt = Some(attempts);
                e.took = Some(took);
                e.elapsed = Some(elapsed);
                e
            }
        }
    }
}

impl Describe for TimeoutEvent {
    const PATTERN: &'static str = "timeout";

    fn describe(&self) -> Fields {
        match *self {
            TimeoutEvent::Expired { at, mode, .. } => Fields::new(Self::PATTERN, "expired")
                .at(at)
                .reason(match mode {
                    TimeoutMode::Cancel => "cancel",
                    TimeoutMode::Soft => "soft",
                }),
        }
    }
}

impl Describe for FallbackEvent {
    const PATTERN: &'static str = "fallback";

    fn describe(&self) -> Fields {
        match *self {
            FallbackEvent::FellBack { reason, index, at } => {
                let mut e = Fields::new(Self::PATTERN, "fell_back").at(at);
                e.reason = Some(match reason {
                    FallbackReason::Failed => "failed",
                    FallbackReason::Rejected(r) => reject_reason_code(r.reason),
                    FallbackReason::TimedOut => "timed_out",
                    FallbackReason::GaveUp(g) => give_up_code(g),
                });
                e.attempt = Some(index.saturating_add(1));
                e
            }
        }
    }
}

impl Describe for HedgeEvent {
    const PATTERN: &'static str = "hedge";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match *self {
            HedgeEvent::Launched { attempt, at } => {
                let mut e = f("launched").at(at);
                e.attempt = Some(attempt);
                e
            }
            HedgeEvent::Won {
                attempt,
                at,
                latency,
            } => {
                let mut e = f("won").at(at);
                e.attempt = Some(attempt);
                e.took = Some(latency);
                e
            }
            HedgeEvent::BudgetExhausted { at } => f("budget_exhausted").at(at),
        }
    }
}

const fn toggle_reason(r: Reason) -> &'static str {
    match r {
        Reason::UnknownFlag => "unknown_flag",
        Reason::Killed => "killed",
        Reason::Off => "off",
        Reason::Denied => "denied",
        Reason::Allowed => "allowed",
        Reason::OutsideWindow { .. } => "outside_window",
        Reason::InRollout => "in_rollout",
        Reason::NotInRollout => "not_in_rollout",
    }
}

const fn enabled(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

impl Describe for ToggleEvent {
    const PATTERN: &'static str = "feature_toggle";

    fn describe(&self) -> Fields {
        let f = |kind, name| {
            let mut e = Fields::new(Self::PATTERN, kind);
            e.flag = Some(name);
            e
        };
        match *self {
            ToggleEvent::Switched {
                at,
                name,
                enabled: on,
                ..
            } => {
                let mut e = f("switched", name).at(at);
                e.from = Some(enabled(!on));
                e.to = Some(enabled(on));
                e
            }
            ToggleEvent::RolloutChanged { at, name, .. } => f("rollout_changed", name).at(at),
            ToggleEvent::ListChanged {
                at,
                name,
                list,
                added,
                ..
            } => {
                let mut e = f("list_changed", name).at(at);
                e.reason = Some(match (list, added) {
                    (crate::toggle::List::Allow, true) => "allow_added",
                    (crate::toggle::List::Allow, false) => "allow_removed",
                    (crate::toggle::List::Deny, true) => "deny_added",
                    (crate::toggle::List::Deny, false) => "deny_removed",
                });
                e
            }
            ToggleEvent::Scheduled {
                at,
                name,
                in_window,
                ..
            } => {
                let mut e = f("scheduled", name).at(at);
                e.to = Some(if in_window {
                    "in_window"
                } else {
                    "outside_window"
                });
                e
            }
            ToggleEvent::Decided { name, decision, .. } => {
                let mut e = f("decided", name).reason(toggle_reason(decision.reason));
                e.to = Some(decision.path.as_str());
                e
            }
        }
    }
}

impl<K, V> Describe for CacheEvent<'_, K, V> {
    const PATTERN: &'static str = "cache";

    fn describe(&self) -> Fields {
        let f = |kind| Fields::new(Self::PATTERN, kind);
        match self {
            CacheEvent::Hit { .. } => f("hit"),
            CacheEvent::Miss { .. } => f("miss"),
            CacheEvent::Stale { age, .. } => {
                let mut e = f("stale");
                e.delay = Some(*age);
                e
            }
            CacheEvent::NegativeHit { .. } => f("negative_hit"),
            CacheEvent::RefreshAhead { .. } => f("refresh_ahead"),
            CacheEvent::Removed { cause, .. } => f("removed").reason(match cause {
                RemovalCause::Evicted => "evicted",
                RemovalCause::Expired => "expired",
                RemovalCause::Explicit => "explicit",
                RemovalCause::Invalidated => "invalidated",
            }),
        }
    }
}

impl<E: Describe> Describe for super::NamedEvent<E> {
    const PATTERN: &'static str = E::PATTERN;

    fn describe(&self) -> Fields {
        self.event.describe()
    }
}

impl<E: Describe> Describe for &E {
    const PATTERN: &'static str = E::PATTERN;

    fn describe(&self) -> Fields {
        (**self).describe()
    }
}
