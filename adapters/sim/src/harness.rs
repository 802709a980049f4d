//! The public test harness: drive your own pipeline through scripted
//! answers and jumps in virtual time, and read back every event.
//!
//! The pipeline runs on the same engine as the scenarios: the real core
//! machines, the real retry plan. Nothing sleeps; `advance` jumps.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::breaker::{BreakerConfig, State};
//! use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
//! use failsafe_core::Instant;
//! use failsafe_sim::dependency::Scripted;
//! use failsafe_sim::engine::SimEvent;
//! use failsafe_sim::harness::Harness;
//! use failsafe_sim::metrics::CallEnd;
//! use failsafe_sim::pipeline::Built;
//!
//! let ms = Duration::from_millis;
//! // your pipeline, from the core's own configs
//! let retry = RetryConfig::builder()
//!     .max_attempts(2)
//!     .backoff(BackoffKind::Constant(ms(100)))
//!     .jitter(Jitter::None)
//!     .build()
//!     .unwrap();
//! let breaker = BreakerConfig::builder()
//!     .no_failure_rate()
//!     .consecutive_failures(2)
//!     .open_wait(Duration::from_secs(10))
//!     .build()
//!     .unwrap();
//! let pipeline = Built::unprotected().with_retry(retry).with_breaker(breaker);
//! let mut h = Harness::new(pipeline, 7);
//! // the dependency fails twice (5 ms each), then answers in 20 ms
//! h.script([Scripted::error(ms(5)), Scripted::error(ms(5))]);
//! h.otherwise(Scripted::ok(ms(20)));
//!
//! let first = h.call(); // fails at 5 ms, retried at 105 ms, fails at 110 ms: the breaker opens
//! h.advance(Duration::from_secs(1));
//! assert_eq!(h.breaker_state(), State::Open);
//! assert_eq!(h.end_of(first), Some(CallEnd::Failed));
//!
//! let second = h.call(); // rejected fast by the open breaker, twice
//! h.advance(Duration::from_secs(20));
//! assert_eq!(h.end_of(second), Some(CallEnd::Rejected));
//!
//! let third = h.call(); // after the open wait: a probe, which succeeds
//! h.run_until_idle();
//! assert_eq!(h.end_of(third), Some(CallEnd::Succeeded));
//! assert_eq!(h.breaker_state(), State::Closed);
//!
//! // every event, in order
//! assert!(h.events().contains(&SimEvent::AttemptStarted {
//!     at: Instant::from_millis(105), call: first, attempt: 2,
//! }));
//! let changes: Vec<(&str, &str)> = h.transitions().iter().map(|t| (t.from, t.to)).collect();
//! assert_eq!(changes, [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]);
//! ```

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::breaker::State;

use crate::dependency::{Dependency, Scripted};
use crate::engine::{Engine, SimEvent};
use crate::metrics::{CallEnd, Recorder};
use crate::pipeline::{Built, Transition};

/// How far [`Harness::run_until_idle`] goes at most.
const IDLE_LIMIT: Duration = Duration::from_secs(24 * 3_600);

/// A pipeline against a scripted dependency, in virtual time.
#[derive(Debug)]
pub struct Harness {
    engine: Engine,
}

impl Harness {
    /// `pipeline` against a dependency answering successes at once until
    /// scripted otherwise; `seed` drives the jitter.
    pub fn new(pipeline: Built, seed: u64) -> Harness {
        // One bucket per second over a day: the series is there, unused.
        let recorder = Recorder::new(IDLE_LIMIT, Duration::from_secs(60));
        let dependency = Dependency::scripted(Scripted::ok(Duration::ZERO));
        let mut engine = Engine::new(pipeline, dependency, seed, recorder);
        engine.keep_log();
        Harness { engine }
    }

    /// The next attempts reaching the dependency are answered so, in order.
    pub fn script(&mut self, replies: impl IntoIterator<Item = Scripted>) -> &mut Self {
        self.engine.dependency_mut().push_script(replies);
        self
    }

    /// Attempts beyond the script are answered so.
    pub fn otherwise(&mut self, reply: Scripted) -> &mut Self {
        self.engine.dependency_mut().set_otherwise(reply);
        self
    }

    /// A client call, now; its number (from 1).
    pub fn call(&mut self) -> u64 {
        let now = self.engine.now();
        self.engine.arrive(now);
        self.engine.recorder.offered
    }

    /// Jumps `by` ahead, carrying out everything due on the way.
    pub fn advance(&mut self, by: Duration) {
        let until = self.engine.now().saturating_add(by);
        self.engine.advance_to(until);
    }

    /// Carries on until nothing is due (at most a day of virtual time),
    /// or until time stops ([`stalled`](Self::stalled)).
    pub fn run_until_idle(&mut self) {
        let limit = self.engine.now().saturating_add(IDLE_LIMIT);
        while self.engine.stalled().is_none()
            && let Some(t) = self.engine.next_due().filter(|&t| t <= limit)
        {
            self.engine.advance_to(t);
        }
    }

    /// The instant virtual time stopped at, if it did: about a million
    /// events came due there one after another (a retry with no delay
    /// against a scripted answer that takes no time never lets time pass),
    /// so [`advance`](Self::advance) and [`run_until_idle`](Self::run_until_idle)
    /// stopped there rather than run for ever, and do nothing more.
    pub fn stalled(&self) -> Option<Instant> {
        self.engine.stalled()
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        self.engine.now()
    }

    /// Every event so far, in order.
    pub fn events(&self) -> &[SimEvent] {
        self.engine.log()
    }

    /// How call `call` ended, if it has.
    pub fn end_of(&self, call: u64) -> Option<CallEnd> {
        self.events().iter().find_map(|e| match *e {
            SimEvent::CallEnded { call: c, end, .. } if c == call => Some(end),
            _ => None,
        })
    }

    /// The breaker's and fail fast's state changes so far.
    pub fn transitions(&self) -> &[Transition] {
        &self.engine.recorder.transitions
    }

    /// The breaker's state now (closed if the pipeline has none).
    pub fn breaker_state(&self) -> State {
        self.engine.guards().breaker_state()
    }

    /// The counters and latencies recorded so far.
    pub fn recorder(&self) -> &Recorder {
        &self.engine.recorder
    }
}
