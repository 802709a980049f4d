//! Virtual time for the binding tests (shared by `failsafe-thread` and
//! `failsafe-async-std`, which include this file): a clock the test moves
//! by hand; clones share it. A thread that parks or blocks on it, or a
//! task that sleeps on it, jumps it forward to the instant it waits for
//! (logged), so no timeline ever sleeps.
#![allow(dead_code)] // each test file uses part of it

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_driver::{BlockingRuntime, Clock, Park, Runtime};

#[derive(Clone, Debug, Default)]
pub(crate) struct TestClock {
    now: Arc<AtomicU64>,
    waits: Arc<Mutex<Vec<Instant>>>,
}

impl TestClock {
    pub(crate) fn advance(&self, d: Duration) {
        self.now.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Moves the clock to `at` (never back).
    pub(crate) fn set(&self, at: Instant) {
        self.now.fetch_max(at.as_nanos(), Ordering::SeqCst);
    }

    /// Every instant a caller parked, blocked or slept until, in order.
    pub(crate) fn waits(&self) -> Vec<Instant> {
        self.waits.lock().unwrap().clone()
    }

    fn wait_until(&self, at: Instant) {
        self.waits.lock().unwrap().push(at);
        self.set(at);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.now.load(Ordering::SeqCst))
    }
}

impl Park for TestClock {
    fn park_until(&self, deadline: Option<Instant>) {
        let at = deadline.expect("a virtual-time wait has an end");
        self.wait_until(at);
    }
}

impl BlockingRuntime for TestClock {
    fn block_until(&self, at: Instant) {
        self.wait_until(at);
    }
}

impl Runtime for TestClock {
    type Sleep = Ready<()>;
    fn sleep_until(&self, at: Instant) -> Ready<()> {
        self.wait_until(at);
        ready(())
    }
}

pub(crate) fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}
