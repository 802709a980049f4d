//! The suite on the virtual-time runtime, driven by futures-lite's executor.

use std::future::Future;

use failsafe_conformance::{VirtualTime, conformance_suite};

fn run<F: Future<Output = ()>>(scenario: impl FnOnce(VirtualTime) -> F) {
    futures_lite::future::block_on(scenario(VirtualTime::new()));
}

conformance_suite!(run);
