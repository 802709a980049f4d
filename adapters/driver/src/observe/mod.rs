//! Seeing what every pattern decides: bridges from the machines' events to
//! `tracing` (`TracingObserver`, feature `tracing`) and to the `metrics`
//! facade (`MetricsObserver`, feature `metrics`), and the chaos policy's
//! events described like every other pattern's
//! ([`Describe`]).
//!
//! Both observers take the policy's name and serve every pattern (any
//! event that can [`Describe`] itself);
//! attach them to a std handle with `observe` (several may listen):
//!
//! ```ignore
//! let breaker = CircuitBreakerPolicy::new(config, CountWindow::<100>::new())
//!     .observe(TracingObserver::new("payments"))
//!     .observe(MetricsObserver::new("payments"));
//! ```
//!
//! On a `static` firmware policy, a tuple of observers fans out without
//! allocation (`(DefmtObserver, my_counter)`), and
//! [`Named`](failsafe_core::event::Named) gives the events a name.
//!
//! ## OpenTelemetry
//!
//! The Rust ecosystem reaches OpenTelemetry through these two facades
//! rather than by instrumenting libraries against the `opentelemetry` API
//! directly: traces and logs through `tracing` with the
//! `tracing-opentelemetry` layer (each failsafe event becomes an event on
//! the current span, its fields as attributes), metrics through the
//! `metrics` facade with an OpenTelemetry-backed recorder (or a Prometheus
//! exporter that an OpenTelemetry collector scrapes). A service already
//! set up for OpenTelemetry needs nothing failsafe-specific: install the
//! bridge, attach `TracingObserver` and `MetricsObserver`. See
//! `adapters/driver/METRICS.md`.

use failsafe_core::event::{Describe, Fields};

use crate::chaos::{ChaosEvent, Fault};

#[cfg(feature = "metrics")]
mod metrics_observer;
#[cfg(feature = "tracing")]
mod tracing_observer;

#[cfg(feature = "metrics")]
pub use metrics_observer::MetricsObserver;
#[cfg(feature = "tracing")]
pub use tracing_observer::TracingObserver;

/// Kind `injected`; `reason` the fault (`error`, `outcome`, `hang`, or
/// `latency` for added latency alone), `delay` the latency added.
impl Describe for ChaosEvent {
    const PATTERN: &'static str = "chaos";

    fn describe(&self) -> Fields {
        let mut f = Fields::new(Self::PATTERN, "injected");
        f.at = Some(self.at);
        f.reason = Some(match self.injection.fault {
            Some(Fault::Error) => "error",
            Some(Fault::Outcome) => "outcome",
            Some(Fault::Hang) => "hang",
            None => "latency",
        });
        if !self.injection.delay.is_zero() {
            f.delay = Some(self.injection.delay);
        }
        f
    }
}
