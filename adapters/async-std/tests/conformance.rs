//! The conformance suite under smol's and async-std's executors, on the
//! suite's virtual clock: `async_io::Timer` only runs on real time, so the
//! scenarios' clock and timers are `VirtualTime`'s, and what runs here is
//! the driver's one path woken by these executors. `AsyncIoClock` itself
//! (its epoch, its timer and its in-place reset) is tested in `breaker.rs`.

use std::future::Future;

use failsafe_conformance::{VirtualTime, conformance_suite};

fn run<F: Future<Output = ()>>(scenario: impl FnOnce(VirtualTime) -> F) {
    smol::block_on(scenario(VirtualTime::new()));
}

conformance_suite!(run);

mod on_async_std {
    use super::*;

    fn run<F: Future<Output = ()>>(scenario: impl FnOnce(VirtualTime) -> F) {
        async_std::task::block_on(scenario(VirtualTime::new()));
    }

    conformance_suite!(run);
}
