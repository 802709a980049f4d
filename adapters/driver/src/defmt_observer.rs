//! Every pattern's events to defmt.

use failsafe_core::Observer;
use failsafe_core::breaker::{BreakerEvent, State};
use failsafe_core::bulkhead::BulkheadEvent;
use failsafe_core::event::NamedEvent;
use failsafe_core::failfast::FailFastEvent;
use failsafe_core::fallback::FallbackEvent;
use failsafe_core::hedge::HedgeEvent;
use failsafe_core::rate::RateEvent;
use failsafe_core::retry::RetryEvent;
use failsafe_core::timeout::TimeoutEvent;
use failsafe_core::toggle::ToggleEvent;

use crate::chaos::ChaosEvent;

/// An [`Observer`] logging every pattern's events with defmt, on any
/// firmware: zero-sized and `const`, for a `static` policy
/// (`CircuitBreaker::with_observer(CONFIG, window, DefmtObserver)`).
///
/// Levels: openings, expired probes, retries given up and timeouts at
/// `warn`; other state changes, due probes, success after retries,
/// fallbacks, a hedge's budget running out, toggle changes and injected
/// chaos faults at `info`; the rest (rejections, lock-free rejections,
/// calls admitted and released, every retry attempt, hedges launched and
/// won, toggle decisions, injected latency alone) at `debug`. Each line starts with the pattern; behind
/// [`Named`](failsafe_core::event::Named) (`Named::new("uplink",
/// DefmtObserver)`) with the policy's name too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefmtObserver;

/// A defmt level.
#[derive(Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
}

/// An event DefmtObserver logs: its pattern and level.
trait Logged: defmt::Format {
    const PATTERN: &'static str;
    fn level(&self) -> Level;
}

impl Logged for BreakerEvent {
    const PATTERN: &'static str = "breaker";
    fn level(&self) -> Level {
        match self {
            BreakerEvent::StateChanged {
                to: State::Open | State::ForcedOpen,
                ..
            }
            | BreakerEvent::ProbesExpired { .. } => Level::Warn,
            BreakerEvent::StateChanged { .. } => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Logged for FailFastEvent {
    const PATTERN: &'static str = "fail fast";
    fn level(&self) -> Level {
        match self {
            FailFastEvent::Opened { .. } => Level::Warn,
            FailFastEvent::Closed { .. } | FailFastEvent::ProbeDue { .. } => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Logged for BulkheadEvent {
    const PATTERN: &'static str = "bulkhead";
    fn level(&self) -> Level {
        match self {
            BulkheadEvent::LimitChanged { .. } => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Logged for RateEvent {
    const PATTERN: &'static str = "rate limiter";
    fn level(&self) -> Level {
        Level::Debug
    }
}

impl Logged for RetryEvent {
    const PATTERN: &'static str = "retry";
    fn level(&self) -> Level {
        match self {
            RetryEvent::GaveUp { .. } => Level::Warn,
            RetryEvent::Succeeded { attempts, .. } if *attempts > 1 => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Logged for TimeoutEvent {
    const PATTERN: &'static str = "timeout";
    fn level(&self) -> Level {
        Level::Warn
    }
}

impl Logged for FallbackEvent {
    const PATTERN: &'static str = "fallback";
    fn level(&self) -> Level {
        Level::Info
    }
}

impl Logged for HedgeEvent {
    const PATTERN: &'static str = "hedge";
    fn level(&self) -> Level {
        match self {
            HedgeEvent::BudgetExhausted { .. } => Level::Info,
            _ => Level::Debug,
        }
    }
}

impl Logged for ToggleEvent {
    const PATTERN: &'static str = "toggle";
    fn level(&self) -> Level {
        match self {
            ToggleEvent::Decided { .. } => Level::Debug,
            _ => Level::Info,
        }
    }
}

impl Logged for ChaosEvent {
    const PATTERN: &'static str = "chaos";
    fn level(&self) -> Level {
        // A fault changes the call's outcome; latency alone only slows it.
        match self.injection.fault {
            Some(_) => Level::Info,
            None => Level::Debug,
        }
    }
}

impl<E: Logged> Observer<E> for DefmtObserver {
    fn on_event(&mut self, event: E) {
        match event.level() {
            Level::Warn => defmt::warn!("{=str}: {}", E::PATTERN, event),
            Level::Info => defmt::info!("{=str}: {}", E::PATTERN, event),
            Level::Debug => defmt::debug!("{=str}: {}", E::PATTERN, event),
        }
    }
}

/// A named policy's events: the same levels, with its name.
impl<E: Logged> Observer<NamedEvent<E>> for DefmtObserver {
    fn on_event(&mut self, named: NamedEvent<E>) {
        let (name, event) = (named.name, named.event);
        match event.level() {
            Level::Warn => defmt::warn!("{=str} {=str}: {}", E::PATTERN, name, event),
            Level::Info => defmt::info!("{=str} {=str}: {}", E::PATTERN, name, event),
            Level::Debug => defmt::debug!("{=str} {=str}: {}", E::PATTERN, name, event),
        }
    }
}

// Every pattern's events reach defmt, named or not (checked when the
// `defmt` feature compiles, on any target); the cache's `CacheEvent`
// borrows its keys and values, of the user's types, and is not logged.
const _: () = {
    const fn logs<E>()
    where
        DefmtObserver: Observer<E> + Observer<NamedEvent<E>>,
    {
    }
    logs::<BreakerEvent>();
    logs::<FailFastEvent>();
    logs::<BulkheadEvent>();
    logs::<RateEvent>();
    logs::<RetryEvent>();
    logs::<TimeoutEvent>();
    logs::<FallbackEvent>();
    logs::<HedgeEvent>();
    logs::<ToggleEvent>();
    logs::<ChaosEvent>();
};
