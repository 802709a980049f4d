//! The conformance suite on embassy's own clock and timers: `EmbassyClock`
//! as the runtime, embassy-time's mock driver as virtual time. Each
//! scenario sleeps on real `embassy_time::Timer`s, fired by `advance`.
//!
//! The mock clock is process-wide: the scenarios of this binary take turns
//! (a lock), and each measures time from its own start.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use embassy_time::MockDriver;
use failsafe_conformance::{Binding, conformance_suite};
use failsafe_embassy::EmbassyClock;

struct MockTime;

impl Binding for MockTime {
    type Rt = EmbassyClock;

    fn rt(&self) -> EmbassyClock {
        EmbassyClock
    }

    /// Moves the mock clock (whole microseconds), which wakes the tasks of
    /// the timers due, then lets them run before the caller goes on.
    async fn advance(&self, by: Duration) {
        MockDriver::get().advance(embassy_time::Duration::from_micros(by.as_micros() as u64));
        futures_lite::future::yield_now().await;
    }
}

static TURN: Mutex<()> = Mutex::new(());

fn run<F: Future<Output = ()>>(scenario: impl FnOnce(MockTime) -> F) {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    futures_lite::future::block_on(scenario(MockTime));
}

conformance_suite!(run);
