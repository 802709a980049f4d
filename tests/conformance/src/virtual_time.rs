//! A virtual-time runtime: a clock that moves only when told and timers
//! that fire in order as it moves, on any executor. The binding the suite
//! runs on without a real runtime (and the simulator's clock).

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use failsafe_core::Instant;
use failsafe_driver::{BlockingRuntime, Clock, Park, Runtime};

#[derive(Debug, Default)]
struct State {
    now: Instant,
    timers: Vec<(Instant, Waker)>,
}

/// A virtual clock and its timers; clones share them.
#[derive(Clone, Debug, Default)]
pub struct VirtualTime(Arc<Mutex<State>>);

impl VirtualTime {
    /// A clock at zero with no timers.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the clock forward by `by`, stopping at each timer due on the
    /// way (in order) to wake it and let the woken tasks run.
    pub async fn advance(&self, by: Duration) {
        let target = self.state().now.saturating_add(by);
        loop {
            let due = {
                let mut state = self.state();
                let next = state.timers.iter().map(|(at, _)| *at).min();
                match next {
                    Some(at) if at <= target => {
                        state.now = state.now.max(at);
                        let now = state.now;
                        let (due, rest) = state.timers.drain(..).partition(|(at, _)| *at <= now);
                        state.timers = rest;
                        due
                    }
                    _ => {
                        state.now = state.now.max(target);
                        Vec::new()
                    }
                }
            };
            if due.is_empty() {
                futures_lite::future::yield_now().await;
                return;
            }
            for (_, waker) in due {
                waker.wake();
            }
            futures_lite::future::yield_now().await;
        }
    }
}

impl Clock for VirtualTime {
    fn now(&self) -> Instant {
        self.state().now
    }
}

/// A sleep on a [`VirtualTime`].
#[derive(Debug)]
pub struct VirtualSleep {
    time: VirtualTime,
    at: Instant,
}

impl Future for VirtualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.time.state();
        if state.now >= self.at {
            return Poll::Ready(());
        }
        state.timers.push((self.at, cx.waker().clone()));
        Poll::Pending
    }
}

impl Runtime for VirtualTime {
    type Sleep = VirtualSleep;

    fn sleep_until(&self, at: Instant) -> VirtualSleep {
        VirtualSleep {
            time: self.clone(),
            at,
        }
    }
}

impl crate::Binding for VirtualTime {
    type Rt = VirtualTime;

    fn rt(&self) -> VirtualTime {
        self.clone()
    }

    async fn advance(&self, by: Duration) {
        VirtualTime::advance(self, by).await;
    }
}

/// A thread parking on virtual time jumps it to the instant it parks
/// until (a wait with no end returns at once: a spurious wake-up, which
/// every parking caller tolerates).
impl Park for VirtualTime {
    fn park_until(&self, deadline: Option<Instant>) {
        if let Some(at) = deadline {
            let mut state = self.state();
            state.now = state.now.max(at);
        }
    }
}

/// Blocking on virtual time jumps it.
impl BlockingRuntime for VirtualTime {
    fn block_until(&self, at: Instant) {
        self.park_until(Some(at));
    }
}

impl crate::BlockingBinding for VirtualTime {
    type Rt = VirtualTime;

    fn rt(&self) -> VirtualTime {
        self.clone()
    }

    fn advance(&self, by: Duration) {
        let mut state = self.state();
        state.now = state.now.saturating_add(by);
    }
}
