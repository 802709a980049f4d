//! Every pattern's events to defmt.

use failsafe_core::Observer;
use failsafe_core::breaker::{BreakerEvent, State};
use failsafe_core::bulkhead::BulkheadEvent;
use failsafe_core::failfast::FailFastEvent;
use failsafe_core::fallback::FallbackEvent;
use failsafe_core::retry::RetryEvent;
use failsafe_core::timeout::TimeoutEvent;

/// An [`Observer`] logging every pattern's events with defmt, on any
/// firmware: zero-sized and `const`, for a `static` policy
/// (`CircuitBreaker::with_observer(CONFIG, window, DefmtObserver)`). Openings, expired
/// probes, retries given up and timeouts at `warn`; other state changes,
/// due probes, success after retries and fallbacks at `info`; the rest at
/// `debug`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefmtObserver;

impl Observer<BreakerEvent> for DefmtObserver {
    fn on_event(&mut self, event: BreakerEvent) {
        match event {
            BreakerEvent::StateChanged {
                to: State::Open | State::ForcedOpen,
                ..
            }
            | BreakerEvent::ProbesExpired { .. } => defmt::warn!("breaker: {}", event),
            BreakerEvent::StateChanged { .. } => defmt::info!("breaker: {}", event),
            _ => defmt::debug!("breaker: {}", event),
        }
    }
}

impl Observer<FailFastEvent> for DefmtObserver {
    fn on_event(&mut self, event: FailFastEvent) {
        match event {
            FailFastEvent::Opened { .. } => defmt::warn!("fail fast: {}", event),
            FailFastEvent::Closed { .. } | FailFastEvent::ProbeDue { .. } => {
                defmt::info!("fail fast: {}", event)
            }
            _ => defmt::debug!("fail fast: {}", event),
        }
    }
}

impl Observer<BulkheadEvent> for DefmtObserver {
    fn on_event(&mut self, event: BulkheadEvent) {
        defmt::debug!("bulkhead: {}", event)
    }
}

impl Observer<RetryEvent> for DefmtObserver {
    fn on_event(&mut self, event: RetryEvent) {
        match event {
            RetryEvent::GaveUp { .. } => defmt::warn!("retry: {}", event),
            RetryEvent::Succeeded { attempts, .. } if attempts > 1 => {
                defmt::info!("retry: {}", event)
            }
            RetryEvent::AttemptFailed { .. } | RetryEvent::RetryScheduled { .. } => {
                defmt::debug!("retry: {}", event)
            }
            _ => {}
        }
    }
}

impl Observer<TimeoutEvent> for DefmtObserver {
    fn on_event(&mut self, event: TimeoutEvent) {
        defmt::warn!("timeout: {}", event)
    }
}

impl Observer<FallbackEvent> for DefmtObserver {
    fn on_event(&mut self, event: FallbackEvent) {
        defmt::info!("fallback: {}", event)
    }
}
