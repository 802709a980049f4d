//! The conformance suite on tokio: `TokioClock`'s own clock, timer and
//! wake-ups, in a paused current-thread runtime (`tokio::time::advance`
//! moves the time the scenarios assert, exactly).

use std::future::Future;
use std::time::Duration;

use failsafe_conformance::{Binding, conformance_suite};
use failsafe_tokio::TokioClock;

/// tokio with paused time.
struct PausedTokio;

impl Binding for PausedTokio {
    type Rt = TokioClock;

    fn rt(&self) -> TokioClock {
        TokioClock::new()
    }

    fn advance(&self, by: Duration) -> impl Future<Output = ()> {
        tokio::time::advance(by)
    }
}

fn run<F: Future<Output = ()>>(scenario: impl FnOnce(PausedTokio) -> F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(scenario(PausedTokio));
}

conformance_suite!(run);
