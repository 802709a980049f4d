//! Timeouts and deadlines: how long a call (or one attempt) may take, and
//! the remaining budget handed down to inner calls.
//!
//! One machine serves both layers of Failsafe for Java's composition rule:
//! a per-attempt timeout inside a retry and an overall timeout outside it
//! are two [`Timeout`]s from two [`TimeoutConfig`]s, the inner one started
//! with the outer one's [`Deadline`] so it never outlives its caller.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig};
//! use failsafe_core::Instant;
//!
//! let overall = TimeoutConfig::new(Duration::from_secs(2)).unwrap();
//! let per_attempt = TimeoutConfig::new(Duration::from_millis(800)).unwrap();
//! let call = Timeout::start(overall, Instant::ZERO, Deadline::NEVER);
//! // the third attempt starts at t=1.5s: it gets 500 ms, not 800
//! let attempt = Timeout::start(per_attempt, Instant::from_millis(1_500), call.deadline());
//! assert_eq!(attempt.deadline().remaining(Instant::from_millis(1_500)), Duration::from_millis(500));
//! ```

use core::fmt;
use core::time::Duration;

use crate::plan::{Action, Attempt, Finish, Plan, PlanEvent};
use crate::{ConfigError, Instant, Observer, Outcome, Problem};

mod attempt;
pub use attempt::{ATTEMPT_TIMED_OUT, AttemptTimeout};

/// The instant by which work must be finished. `Copy`, ordered: the earlier
/// of two deadlines is the one that binds.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::timeout::Deadline;
/// use failsafe_core::Instant;
///
/// let d = Deadline::after(Instant::from_secs(10), Duration::from_secs(5));
/// assert_eq!(d.remaining(Instant::from_secs(12)), Duration::from_secs(3));
/// assert!(d.is_expired(Instant::from_secs(15)));
/// assert_eq!(d.min(Deadline::NEVER), d);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deadline(Instant);

impl Deadline {
    /// No deadline at all.
    pub const NEVER: Deadline = Deadline(Instant::MAX);

    /// A deadline at `at`.
    pub const fn at(at: Instant) -> Deadline {
        Deadline(at)
    }

    /// A deadline `timeout` after `now` (saturating: an enormous timeout is [`NEVER`](Self::NEVER)).
    pub const fn after(now: Instant, timeout: Duration) -> Deadline {
        Deadline(now.saturating_add(timeout))
    }

    /// The instant.
    pub const fn instant(self) -> Instant {
        self.0
    }

    /// `true` for [`NEVER`](Self::NEVER).
    pub const fn is_never(self) -> bool {
        self.0.as_nanos() == u64::MAX
    }

    /// Time left at `now` (zero once expired).
    pub const fn remaining(self, now: Instant) -> Duration {
        self.0.saturating_duration_since(now)
    }

    /// Has the deadline passed at `now`? At exactly the deadline's instant it
    /// has (no time is left: [`remaining`](Self::remaining) is zero).
    pub const fn is_expired(self, now: Instant) -> bool {
        now.as_nanos() >= self.0.as_nanos()
    }

    /// The earlier of two deadlines.
    pub const fn min(self, other: Deadline) -> Deadline {
        Deadline(self.0.min(other.0))
    }

    /// A deadline for an inner call: `timeout` from `now`, but never past this one.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::{timeout::Deadline, Instant};
    /// let caller = Deadline::at(Instant::from_secs(3));
    /// assert_eq!(caller.child(Instant::from_secs(1), Duration::from_secs(10)), caller);
    /// ```
    pub const fn child(self, now: Instant, timeout: Duration) -> Deadline {
        self.min(Deadline::after(now, timeout))
    }
}

impl fmt::Display for Deadline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_never() {
            f.write_str("never")
        } else {
            write!(f, "deadline {}", self.0)
        }
    }
}

/// What happens when the time is up.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimeoutMode {
    /// Cancel the work (adapters drop the future) and report a timeout.
    #[default]
    Cancel,
    /// Let the work finish; only record that it overran (an event, and a
    /// [`Finished::late`] flag a breaker's slow-call rate can use).
    Soft,
}

/// A validated timeout: a duration and a mode.
///
/// ```
/// # use core::time::Duration;
/// use failsafe_core::timeout::{TimeoutConfig, TimeoutMode};
/// assert_eq!(TimeoutConfig::new(Duration::ZERO).unwrap_err().field, "timeout");
/// let soft = TimeoutConfig::new(Duration::from_secs(1)).unwrap().mode(TimeoutMode::Soft);
/// assert_eq!(soft.timeout_mode(), TimeoutMode::Soft);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeoutConfig {
    timeout_nanos: u64,
    mode: TimeoutMode,
}

impl TimeoutConfig {
    /// A cancelling timeout of `timeout` (must be non-zero). Boundary: a
    /// call started at `t` that finishes at exactly `t + timeout` has timed
    /// out ([`Timeout::finish`] flags it late), as its [`Deadline`] has passed
    /// at its own instant; 1 ns earlier it is in time. No anchor defines this
    /// instant; it follows [`Deadline::is_expired`].
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `timeout`, `Zero`, if `timeout` is zero.
    pub const fn new(timeout: Duration) -> Result<TimeoutConfig, ConfigError> {
        let nanos = crate::time::duration_nanos(timeout);
        if nanos == 0 {
            return Err(ConfigError::new("timeout", Problem::Zero));
        }
        Ok(TimeoutConfig {
            timeout_nanos: nanos,
            mode: TimeoutMode::Cancel,
        })
    }

    /// The same timeout with another mode.
    pub const fn mode(mut self, mode: TimeoutMode) -> TimeoutConfig {
        self.mode = mode;
        self
    }

    /// The duration.
    pub const fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_nanos)
    }

    /// The mode.
    pub const fn timeout_mode(&self) -> TimeoutMode {
        self.mode
    }
}

/// What a [`Timeout`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimeoutEvent {
    /// The deadline passed while the work was running.
    Expired {
        /// The deadline.
        deadline: Deadline,
        /// When it was noticed.
        at: Instant,
        /// Cancel or soft.
        mode: TimeoutMode,
    },
}

/// How a timed call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Finished {
    /// The outcome to report further (a soft timeout keeps the work's own).
    pub outcome: Outcome,
    /// The work finished after the deadline.
    pub late: bool,
}

/// One timed piece of work: started with a config and the caller's deadline.
///
/// It is also the timeout's [`Plan`]: one attempt under the deadline; in
/// [`TimeoutMode::Cancel`] the attempt is dropped when the deadline passes
/// (or its late result discarded, for blocking work that cannot be
/// dropped), and the call ends with [`Finish::TimedOut`]; in
/// [`TimeoutMode::Soft`] the attempt always runs to its end and the overrun
/// is only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout<O = ()> {
    deadline: Deadline,
    mode: TimeoutMode,
    expired: bool,
    phase: Phase,
    observer: O,
}

/// Where a timed call is, as a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Running,
    /// The deadline passed with the attempt in flight: drop it, then finish.
    Cancelling,
    Done(Finish),
}

impl Timeout<()> {
    /// Starts timing at `now`; the deadline is `now + timeout`, or the
    /// caller's `parent` deadline if that is earlier.
    pub const fn start(config: TimeoutConfig, now: Instant, parent: Deadline) -> Timeout<()> {
        Timeout::start_observed(config, now, parent, ())
    }
}

impl<O: Observer<TimeoutEvent>> Timeout<O> {
    /// [`start`](Timeout::start) reporting to `observer`.
    pub const fn start_observed(
        config: TimeoutConfig,
        now: Instant,
        parent: Deadline,
        observer: O,
    ) -> Self {
        Timeout {
            deadline: parent.child(now, Duration::from_nanos(config.timeout_nanos)),
            mode: config.mode,
            expired: false,
            phase: Phase::Idle,
            observer,
        }
    }

    /// The deadline to hand down to inner calls and to sleep until.
    pub const fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// When the driver must come back: the deadline, until it expired.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::{timeout::{Deadline, Timeout, TimeoutConfig}, Instant};
    /// let mut t = Timeout::start(TimeoutConfig::new(Duration::from_secs(1)).unwrap(), Instant::ZERO, Deadline::NEVER);
    /// assert_eq!(t.next_deadline(), Some(Instant::from_secs(1)));
    /// assert!(!t.on_deadline(Instant::from_millis(999)));
    /// assert!(t.on_deadline(Instant::from_secs(1)));
    /// assert_eq!(t.next_deadline(), None);
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        (!self.expired && !self.deadline.is_never()).then_some(self.deadline.instant())
    }

    /// Checks the deadline at `now`; `true` once it has passed (the adapter
    /// then cancels in [`TimeoutMode::Cancel`]). Reports the expiry once.
    #[inline]
    pub fn on_deadline(&mut self, now: Instant) -> bool {
        if !self.expired && self.deadline.is_expired(now) {
            self.expire(now);
        }
        self.expired
    }

    /// The deadline passed: reported once. Out of line, so the check
    /// above inlines into every call (most never expire).
    #[cold]
    fn expire(&mut self, now: Instant) {
        self.expired = true;
        self.observer.on_event(TimeoutEvent::Expired {
            deadline: self.deadline,
            at: now,
            mode: self.mode,
        });
    }

    /// The work finished at `now` with `outcome`. A cancelling timeout that
    /// expired turns it into [`Outcome::Timeout`]; a soft one keeps it and
    /// flags it late.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::{timeout::{Deadline, Timeout, TimeoutConfig, TimeoutMode}, Instant, Outcome};
    /// let soft = TimeoutConfig::new(Duration::from_secs(1)).unwrap().mode(TimeoutMode::Soft);
    /// let mut t = Timeout::start(soft, Instant::ZERO, Deadline::NEVER);
    /// let f = t.finish(Instant::from_secs(2), Outcome::Success);
    /// assert_eq!((f.outcome, f.late), (Outcome::Success, true));
    /// ```
    pub fn finish(&mut self, now: Instant, outcome: Outcome) -> Finished {
        let late = self.on_deadline(now);
        let outcome = match (late, self.mode) {
            (true, TimeoutMode::Cancel) => Outcome::Timeout,
            _ => outcome,
        };
        Finished { outcome, late }
    }
}

impl<O: Observer<TimeoutEvent>> Plan for Timeout<O> {
    /// Starts the one attempt (or times out at once if the deadline has
    /// already passed, in cancel mode), then waits for it no later than the
    /// deadline (in cancel mode).
    fn poll_action(&mut self, now: Instant) -> Action {
        match self.phase {
            Phase::Idle => {
                if self.mode == TimeoutMode::Cancel && self.on_deadline(now) {
                    return self.done(Finish::TimedOut(self.deadline));
                }
                self.phase = Phase::Running;
                Action::Start(Attempt {
                    number: 1,
                    deadline: self.deadline,
                })
            }
            Phase::Running => Action::Wait(match self.mode {
                TimeoutMode::Cancel => self.next_deadline(),
                TimeoutMode::Soft => None,
            }),
            Phase::Cancelling => {
                self.phase = Phase::Done(Finish::TimedOut(self.deadline));
                Action::Cancel(1)
            }
            Phase::Done(finish) => Action::Finish(finish),
        }
    }

    /// A timer at or past the deadline times the attempt out (cancel mode);
    /// an attempt that ends is answered as it is, unless it ended late in
    /// cancel mode.
    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        if self.phase != Phase::Running {
            return;
        }
        match event {
            PlanEvent::Timer => {
                if self.mode == TimeoutMode::Cancel && self.on_deadline(now) {
                    self.phase = Phase::Cancelling;
                }
            }
            PlanEvent::Ended { judged, .. } => {
                let finished = self.finish(now, judged.outcome());
                let late = finished.late && self.mode == TimeoutMode::Cancel;
                self.phase = Phase::Done(if late {
                    Finish::TimedOut(self.deadline)
                } else {
                    Finish::Answer {
                        attempts: 1,
                        gave_up: None,
                    }
                });
            }
        }
    }

    /// Not for a cancelling timeout: its timer tells late from in time.
    fn needs_end_time(&self) -> bool {
        !self.races_its_timer()
    }
}

impl<O> Timeout<O> {
    /// A cancelling timeout with a deadline races its timer: an attempt
    /// that ends before the timer fired is in time, whatever the clock
    /// says. A soft one reports the overrun, so it needs the time.
    fn races_its_timer(&self) -> bool {
        self.mode == TimeoutMode::Cancel && !self.deadline.is_never()
    }

    fn done(&mut self, finish: Finish) -> Action {
        self.phase = Phase::Done(finish);
        Action::Finish(finish)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::FnObserver;

    fn config(ms: u64) -> TimeoutConfig {
        TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
    }

    #[test]
    fn a_cancelling_timeout_turns_a_late_result_into_a_timeout_and_reports_once() {
        let mut events = Vec::new();
        let mut t = Timeout::start_observed(
            config(100),
            Instant::ZERO,
            Deadline::NEVER,
            FnObserver(|e| events.push(e)),
        );
        assert_eq!(t.next_deadline(), Some(Instant::from_millis(100)));
        assert!(!t.on_deadline(Instant::from_millis(99)));
        assert!(t.on_deadline(Instant::from_millis(100)));
        assert!(t.on_deadline(Instant::from_millis(150)));
        let f = t.finish(Instant::from_millis(150), Outcome::Success);
        assert_eq!(
            f,
            Finished {
                outcome: Outcome::Timeout,
                late: true
            }
        );
        assert_eq!(
            events,
            [TimeoutEvent::Expired {
                deadline: Deadline::at(Instant::from_millis(100)),
                at: Instant::from_millis(100),
                mode: TimeoutMode::Cancel,
            }]
        );
    }

    #[test]
    fn an_early_result_keeps_its_outcome() {
        let mut t = Timeout::start(config(100), Instant::ZERO, Deadline::NEVER);
        assert_eq!(
            t.finish(Instant::from_millis(99), Outcome::Failure),
            Finished {
                outcome: Outcome::Failure,
                late: false
            }
        );
    }

    #[test]
    fn an_inner_timeout_never_outlives_its_caller() {
        let caller = Deadline::at(Instant::from_millis(250));
        let inner = Timeout::start(config(1_000), Instant::from_millis(200), caller);
        assert_eq!(inner.deadline(), caller);
        let inner = Timeout::start(config(10), Instant::from_millis(200), caller);
        assert_eq!(inner.deadline(), Deadline::at(Instant::from_millis(210)));
        // a caller whose deadline already passed gives the inner call nothing
        let late = Timeout::start(config(10), Instant::from_millis(300), caller);
        assert_eq!(
            late.deadline().remaining(Instant::from_millis(300)),
            Duration::ZERO
        );
    }

    #[test]
    fn huge_timeouts_saturate_to_never() {
        let t = Timeout::start(
            TimeoutConfig::new(Duration::MAX).unwrap(),
            Instant::from_secs(1),
            Deadline::NEVER,
        );
        assert!(t.deadline().is_never());
        assert_eq!(t.next_deadline(), None, "nothing to wake up for");
    }
}
