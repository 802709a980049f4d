//! Every pattern's events to defmt.

use failsafe_core::Observer;
use failsafe_core::breaker::{BreakerEvent, State};
use failsafe_core::failfast::FailFastEvent;
use failsafe_core::fallback::FallbackEvent;
use failsafe_core::retry::RetryEvent;
use failsafe_core::timeout::TimeoutEvent;

/// An [`Observer`] that logs events with defmt. Zero-sized, `Copy` and
/// `const`, so it fits a `static` breaker or retry policy:
///
/// - breaker: state changes at `info` (opening at `warn`), expired probes at
///   `warn`, rejections and stale outcomes at `debug`;
/// - fail fast: opening at `warn`, closing and a due probe at `info`,
///   the rest at `debug`;
/// - retry: failed attempts and scheduled retries at `debug`, giving up at
///   `warn`, success after retries at `info`;
/// - timeout: an expired deadline at `warn`;
/// - fallback: a fallback taken at `info`.
///
/// ```ignore
/// // Only for a defmt target (the `defmt` feature does not link on the host).
/// static BREAKER: CircuitBreakerPolicy<CountWindow<16>, DefmtObserver> =
///     from_lock(CsLock::new(CircuitBreaker::with_observer(CONFIG, CountWindow::new(), DefmtObserver)));
/// static RETRY: RetryPolicy<CsLock<TokenQuota>, DefmtObserver> =
///     RetryPolicy::new(RETRY_CONFIG, SEED).with_budget(&BUDGET).with_observer(DefmtObserver);
/// ```
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

impl Observer<RetryEvent> for DefmtObserver {
    fn on_event(&mut self, event: RetryEvent) {
        match event {
            RetryEvent::AttemptFailed { attempt, at, kind } => {
                defmt::debug!("retry: attempt {} failed ({}) at {}", attempt, kind, at)
            }
            RetryEvent::RetryScheduled {
                attempt, retry_at, ..
            } => defmt::debug!("retry: attempt {} at {}", attempt, retry_at),
            RetryEvent::GaveUp {
                reason,
                at,
                attempts,
            } => defmt::warn!(
                "retry: gave up after {} attempt(s) at {}: {}",
                attempts,
                at,
                reason
            ),
            RetryEvent::Succeeded { attempts, at } if attempts > 1 => {
                defmt::info!("retry: succeeded at attempt {} at {}", attempts, at)
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
