//! Breaker events to defmt.

use failsafe_core::Observer;
use failsafe_core::breaker::{BreakerEvent, State};

/// An [`Observer`] that logs breaker events with defmt: state changes at
/// `info` (opening at `warn`), expired probes at `warn`, rejections and
/// stale outcomes at `debug`. Zero-sized and `const`, so it fits a `static`
/// breaker:
///
/// ```ignore
/// // Only for a defmt target (the `defmt` feature does not link on the host).
/// static BREAKER: CircuitBreaker<CountWindow<16>, DefmtObserver> =
///     CircuitBreaker::with_observer(CONFIG, CountWindow::new(), DefmtObserver);
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
