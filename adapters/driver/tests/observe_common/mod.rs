//! Every event kind of every pattern, sent to an observer, with the
//! (pattern, kind) names documented in `failsafe_core::event::Describe`.
#![allow(dead_code)]

use std::time::Duration;

use failsafe_core::breaker::{BreakerEvent, State};
use failsafe_core::bulkhead::BulkheadEvent;
use failsafe_core::cache::{CacheEvent, RemovalCause};
use failsafe_core::event::SharedObserver;
use failsafe_core::failfast::{CloseCause, FailFastEvent, OpenCause};
use failsafe_core::fallback::{FallbackEvent, FallbackReason};
use failsafe_core::hedge::HedgeEvent;
use failsafe_core::rate::RateEvent;
use failsafe_core::retry::{FailureKind, GiveUp, RetryEvent};
use failsafe_core::timeout::{Deadline, TimeoutEvent, TimeoutMode};
use failsafe_core::toggle::{Decision, Flag, List, Path, Reason, ToggleEvent};
use failsafe_core::{Instant, Outcome, RejectReason, Rejected};
use failsafe_driver::chaos::{ChaosEvent, Fault, Injection};

/// The documented names, in the order [`send_all`] sends them.
pub(crate) const DOCUMENTED: &[(&str, &str)] = &[
    ("circuit_breaker", "state_changed"),
    ("circuit_breaker", "rejected"),
    ("circuit_breaker", "rejected"),
    ("circuit_breaker", "probes_expired"),
    ("circuit_breaker", "stale_outcome"),
    ("fail_fast", "opened"),
    ("fail_fast", "closed"),
    ("fail_fast", "probe_due"),
    ("fail_fast", "rejected"),
    ("fail_fast", "rejected"),
    ("fail_fast", "stale_outcome"),
    ("bulkhead", "acquired"),
    ("bulkhead", "queued"),
    ("bulkhead", "rejected"),
    ("bulkhead", "wait_expired"),
    ("bulkhead", "cancelled"),
    ("bulkhead", "released"),
    ("bulkhead", "limit_changed"),
    ("rate_limiter", "acquired"),
    ("rate_limiter", "rejected"),
    ("rate_limiter", "returned"),
    ("retry", "attempt_failed"),
    ("retry", "retry_scheduled"),
    ("retry", "gave_up"),
    ("retry", "succeeded"),
    ("timeout", "expired"),
    ("fallback", "fell_back"),
    ("hedge", "launched"),
    ("hedge", "won"),
    ("hedge", "budget_exhausted"),
    ("feature_toggle", "switched"),
    ("feature_toggle", "rollout_changed"),
    ("feature_toggle", "list_changed"),
    ("feature_toggle", "scheduled"),
    ("feature_toggle", "decided"),
    ("cache", "hit"),
    ("cache", "miss"),
    ("cache", "stale"),
    ("cache", "negative_hit"),
    ("cache", "refresh_ahead"),
    ("cache", "removed"),
    ("chaos", "injected"),
];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Sends one event of every kind of every pattern to `o`.
pub(crate) fn send_all<O>(o: &O)
where
    O: SharedObserver<BreakerEvent>
        + SharedObserver<FailFastEvent>
        + SharedObserver<BulkheadEvent>
        + SharedObserver<RateEvent>
        + SharedObserver<RetryEvent>
        + SharedObserver<TimeoutEvent>
        + SharedObserver<FallbackEvent>
        + SharedObserver<HedgeEvent>
        + SharedObserver<ToggleEvent>
        + for<'a> SharedObserver<CacheEvent<'a, u32, u32>>
        + SharedObserver<ChaosEvent>,
{
    let open = Rejected::new(RejectReason::BreakerOpen, Some(t(5_000)));
    for e in [
        BreakerEvent::StateChanged {
            from: State::Closed,
            to: State::Open,
            at: t(1),
        },
        BreakerEvent::Rejected {
            at: t(2),
            rejected: open,
        },
        BreakerEvent::LockFreeRejections {
            count: 7,
            at: t(3),
            rejected: open,
        },
        BreakerEvent::ProbesExpired { at: t(4), count: 2 },
        BreakerEvent::StaleOutcome {
            at: t(5),
            outcome: Outcome::Failure,
        },
    ] {
        o.on_event(e);
    }
    let ff_open = Rejected::new(RejectReason::FailFastOpen, None);
    for e in [
        FailFastEvent::Opened {
            at: t(1),
            cause: OpenCause::ConsecutiveFailures,
        },
        FailFastEvent::Closed {
            at: t(2),
            cause: CloseCause::Healthy,
        },
        FailFastEvent::ProbeDue { at: t(3) },
        FailFastEvent::Rejected {
            at: t(4),
            rejected: ff_open,
        },
        FailFastEvent::LockFreeRejections {
            count: 3,
            at: t(5),
            rejected: ff_open,
        },
        FailFastEvent::StaleOutcome {
            at: t(6),
            outcome: Outcome::Success,
        },
    ] {
        o.on_event(e);
    }
    for e in [
        BulkheadEvent::Acquired {
            in_flight: 2,
            limit: 10,
            waited: Duration::from_millis(3),
        },
        BulkheadEvent::Queued {
            at: t(1),
            queued: 1,
        },
        BulkheadEvent::Rejected {
            at: t(2),
            rejected: Rejected::new(RejectReason::BulkheadFull, None),
        },
        BulkheadEvent::WaitExpired { at: t(3) },
        BulkheadEvent::Cancelled { granted: false },
        BulkheadEvent::Released {
            outcome: Outcome::Success,
            in_flight: 1,
        },
        BulkheadEvent::LimitChanged { from: 10, to: 12 },
    ] {
        o.on_event(e);
    }
    for e in [
        RateEvent::Acquired {
            at: t(1),
            permits: 1,
            available: Some(4),
        },
        RateEvent::Rejected {
            at: t(2),
            rejected: Rejected::new(RejectReason::RateLimited, Some(t(100))),
            available: Some(0),
        },
        RateEvent::Returned {
            at: t(3),
            available: Some(1),
        },
    ] {
        o.on_event(e);
    }
    for e in [
        RetryEvent::AttemptFailed {
            attempt: 1,
            at: t(10),
            kind: FailureKind::Timeout,
            took: Duration::from_millis(10),
        },
        RetryEvent::RetryScheduled {
            attempt: 2,
            retry_at: t(110),
            delay: Duration::from_millis(100),
        },
        RetryEvent::GaveUp {
            reason: GiveUp::Attempts,
            at: t(300),
            attempts: 3,
            elapsed: Duration::from_millis(300),
        },
        RetryEvent::Succeeded {
            attempts: 2,
            at: t(120),
            took: Duration::from_millis(10),
            elapsed: Duration::from_millis(120),
        },
    ] {
        o.on_event(e);
    }
    o.on_event(TimeoutEvent::Expired {
        deadline: Deadline::at(t(50)),
        at: t(50),
        mode: TimeoutMode::Cancel,
    });
    o.on_event(FallbackEvent::FellBack {
        reason: FallbackReason::GaveUp(GiveUp::Attempts),
        index: 0,
        at: t(60),
    });
    for e in [
        HedgeEvent::Launched {
            attempt: 2,
            at: t(1),
        },
        HedgeEvent::Won {
            attempt: 2,
            at: t(5),
            latency: Duration::from_millis(4),
        },
        HedgeEvent::BudgetExhausted { at: t(6) },
    ] {
        o.on_event(e);
    }
    let flag = Flag::at(0);
    for e in [
        ToggleEvent::Switched {
            at: t(1),
            flag,
            name: "new_checkout",
            enabled: true,
        },
        ToggleEvent::RolloutChanged {
            at: t(2),
            flag,
            name: "new_checkout",
            from: 0,
            to: 500,
        },
        ToggleEvent::ListChanged {
            at: t(3),
            flag,
            name: "new_checkout",
            list: List::Allow,
            added: true,
        },
        ToggleEvent::Scheduled {
            at: t(4),
            flag,
            name: "new_checkout",
            in_window: true,
        },
        ToggleEvent::Decided {
            flag,
            name: "new_checkout",
            decision: Decision {
                path: Path::Enabled,
                reason: Reason::InRollout,
            },
        },
    ] {
        o.on_event(e);
    }
    let (key, value) = (7u32, 8u32);
    for e in [
        CacheEvent::Hit { key: &key },
        CacheEvent::Miss { key: &key },
        CacheEvent::Stale {
            key: &key,
            age: Duration::from_secs(2),
        },
        CacheEvent::NegativeHit { key: &key },
        CacheEvent::RefreshAhead { key: &key },
        CacheEvent::Removed {
            key: &key,
            value: Some(&value),
            cause: RemovalCause::Expired,
        },
    ] {
        SharedObserver::<CacheEvent<'_, u32, u32>>::on_event(o, e);
    }
    o.on_event(ChaosEvent {
        at: t(1),
        injection: Injection {
            delay: Duration::from_millis(50),
            fault: Some(Fault::Error),
        },
    });
}
