//! The per-call plan contract: retry, timeout and fallback (later hedge and
//! cache) decide *what happens next in one call*; a driver only carries the
//! decisions out.
//!
//! A [`Plan`] is a state machine for one call. The driver asks it for an
//! [`Action`] with [`Plan::poll_action`] and does what it says:
//!
//! - [`Action::Start`]: start attempt `number` with its deadline, then ask
//!   again;
//! - [`Action::Wait`]: wait for the attempt in flight to end and, if an
//!   instant is given, no later than it; report what happened with
//!   [`Plan::on_event`] ([`PlanEvent::Ended`] or [`PlanEvent::Timer`]) and
//!   ask again;
//! - [`Action::Cancel`]: drop that attempt (its result will never come);
//!   ask again;
//! - [`Action::Finish`]: the call is over; [`Finish`] says what it returns.
//!
//! The driver judges each attempt's result (a classifier turns it into a
//! [`Verdict`], and, for a fallback, the reason it failed) and hands the
//! judgement in; the plan never sees the value. Every decision is here,
//! testable with plain instants:
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
//! use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig};
//! use failsafe_core::Instant;
//!
//! let config = TimeoutConfig::new(Duration::from_millis(100)).unwrap();
//! let mut plan = Timeout::start(config, Instant::ZERO, Deadline::NEVER);
//! let deadline = Deadline::at(Instant::from_millis(100));
//! assert_eq!(plan.poll_action(Instant::ZERO), Action::Start(Attempt { number: 1, deadline }));
//! // the attempt is running: wait for it, no later than the deadline
//! assert_eq!(plan.poll_action(Instant::ZERO), Action::Wait(Some(Instant::from_millis(100))));
//! // the timer fires first: the attempt is dropped and the call times out
//! plan.on_event(Instant::from_millis(100), PlanEvent::Timer);
//! assert_eq!(plan.poll_action(Instant::from_millis(100)), Action::Cancel(1));
//! assert_eq!(plan.poll_action(Instant::from_millis(100)), Action::Finish(Finish::TimedOut(deadline)));
//! # let _ = Judged::SUCCESS;
//! ```
//!
//! The contract every plan keeps (checked for every plan by
//! `tests/tests/plan_contract.rs`): it never asks to wait with no attempt in
//! flight and no instant; it starts attempts with increasing numbers; after
//! [`Action::Finish`] it keeps answering the same finish; a clock that steps
//! back never makes it panic or start an attempt early.
//!
//! Reading the clock costs more than most decisions, so a plan says when it
//! needs the time: at its first action ([`Plan::needs_start_time`]), when an
//! attempt ends ([`Plan::needs_end_time`]) and, if not then, once the
//! attempt is judged ([`Plan::needs_time_after`]). A driver may hand it its
//! last reading (or [`Instant::ZERO`] before any) where it says no; a plan
//! driven so decides as one given a fresh reading every time (checked for
//! the retry plan by the same file).

use crate::fallback::FallbackReason;
use crate::retry::{GiveUp, Verdict};
use crate::timeout::Deadline;
use crate::{Instant, Outcome};

/// The attempt a plan asks its driver to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attempt {
    /// 1 for the first attempt of the call.
    pub number: u32,
    /// The deadline the attempt runs under, to hand down to inner calls.
    pub deadline: Deadline,
}

/// What a plan asks its driver to do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Start this attempt now.
    Start(Attempt),
    /// Wait until the attempt in flight ends, or until the instant (if any)
    /// passes, whichever comes first; then report it with
    /// [`Plan::on_event`].
    Wait(Option<Instant>),
    /// Drop the attempt with this number: its result is no longer wanted.
    Cancel(u32),
    /// The call is over.
    Finish(Finish),
}

/// How a call ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Finish {
    /// Answer with the result of the attempt that ended last, as it is: its
    /// value, or its error. `gave_up` says why no further attempt is made
    /// when the plan retries (none for plans that never retry).
    Answer {
        /// Attempts started in this call.
        attempts: u32,
        /// Why the plan stopped retrying, if it retries at all.
        gave_up: Option<GiveUp>,
    },
    /// No attempt may start, and none is in flight: the retries gave up
    /// before starting another (the deadline passed, the call was already
    /// over). The last attempt's error, if any, goes with it.
    GaveUp {
        /// Why.
        reason: GiveUp,
        /// Attempts started in this call.
        attempts: u32,
    },
    /// The deadline passed before an answer: the attempt in flight (if any)
    /// was dropped, or its late result is discarded.
    TimedOut(Deadline),
}

/// A driver's judgement of one attempt's result, handed to the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Judged {
    /// What the classifier made of it (success, retry, do not retry,
    /// abort), with a retry-after hint if the result carried one.
    pub verdict: Verdict,
    /// For a fallback: why the attempt failed, if the caller's predicate
    /// accepts falling back for it (`None` for a success, or when the
    /// predicate declines).
    pub cause: Option<FallbackReason>,
}

impl Judged {
    /// A success, with no fallback cause.
    pub const SUCCESS: Judged = Judged {
        verdict: Verdict::Success,
        cause: None,
    };

    /// A judgement with a verdict and no fallback cause.
    ///
    /// ```
    /// use failsafe_core::plan::Judged;
    /// use failsafe_core::retry::Verdict;
    /// assert_eq!(Judged::verdict(Verdict::Success), Judged::SUCCESS);
    /// ```
    pub const fn verdict(verdict: Verdict) -> Judged {
        Judged {
            verdict,
            cause: None,
        }
    }

    /// A result judged only by whether it is `Ok` (success) or `Err` (a
    /// failure not to retry): what a timeout needs.
    ///
    /// ```
    /// use failsafe_core::plan::Judged;
    /// use failsafe_core::Outcome;
    /// assert_eq!(Judged::of_result(&Ok::<_, ()>(1)), Judged::SUCCESS);
    /// assert_eq!(Judged::of_result(&Err::<(), _>("down")).outcome(), Outcome::Failure);
    /// ```
    pub const fn of_result<T, E>(result: &Result<T, E>) -> Judged {
        Judged::verdict(match result {
            Ok(_) => Verdict::Success,
            Err(_) => Verdict::DoNotRetry,
        })
    }

    /// The outcome a breaker or a timeout would record for it: a success
    /// for [`Verdict::Success`], a failure otherwise.
    ///
    /// ```
    /// use failsafe_core::plan::Judged;
    /// use failsafe_core::retry::Verdict;
    /// use failsafe_core::Outcome;
    /// assert_eq!(Judged::SUCCESS.outcome(), Outcome::Success);
    /// assert_eq!(Judged::verdict(Verdict::retry()).outcome(), Outcome::Failure);
    /// ```
    pub const fn outcome(&self) -> Outcome {
        match self.verdict {
            Verdict::Success => Outcome::Success,
            _ => Outcome::Failure,
        }
    }
}

/// What happened while a driver waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PlanEvent {
    /// The attempt with this number ended, judged so.
    Ended {
        /// The attempt's number.
        attempt: u32,
        /// Its judgement.
        judged: Judged,
    },
    /// The instant of the last [`Action::Wait`] passed.
    Timer,
}

/// A per-call plan: see the [module docs](self).
pub trait Plan {
    /// What the driver should do now, at `now`.
    fn poll_action(&mut self, now: Instant) -> Action;

    /// Something the driver was waiting for happened at `now`.
    fn on_event(&mut self, now: Instant, event: PlanEvent);

    /// Whether an attempt that ends before the plan's timer fires must be
    /// reported with a fresh reading of the clock. A plan that only needs
    /// its timer to tell late from in time (a cancelling timeout) says no,
    /// and an async driver reports the end at the last instant it read,
    /// saving a clock read per call. Blocking drivers, which have no timer
    /// racing the attempt, always read the clock. Yes by default.
    fn needs_end_time(&self) -> bool {
        true
    }

    /// When [`needs_end_time`](Self::needs_end_time) says no: whether an
    /// attempt that ended, judged so, must still be reported with a fresh
    /// reading of the clock. A driver that saved the reading judges the
    /// result at the last instant it read, asks this, and reads the clock
    /// only if told to (a retry whose first attempt succeeds needs no time;
    /// one that failed needs it to place its backoff). No by default.
    fn needs_time_after(&self, judged: &Judged) -> bool {
        let _ = judged;
        false
    }

    /// Whether the plan's first [`poll_action`](Self::poll_action) needs
    /// the time. A plan that says no (a retry with no deadline, no
    /// `max_elapsed` and a budget that reads no time) may be asked with
    /// any instant no later than the call's start, [`Instant::ZERO`] when
    /// the driver has read none: it uses that instant for nothing anyone
    /// sees, and reads the time it needs later from what it is handed.
    /// Yes by default.
    fn needs_start_time(&self) -> bool {
        true
    }
}

impl<P: Plan + ?Sized> Plan for &mut P {
    #[inline]
    fn poll_action(&mut self, now: Instant) -> Action {
        (**self).poll_action(now)
    }

    #[inline]
    fn on_event(&mut self, now: Instant, event: PlanEvent) {
        (**self).on_event(now, event)
    }

    #[inline]
    fn needs_end_time(&self) -> bool {
        (**self).needs_end_time()
    }

    #[inline]
    fn needs_time_after(&self, judged: &Judged) -> bool {
        (**self).needs_time_after(judged)
    }

    #[inline]
    fn needs_start_time(&self) -> bool {
        (**self).needs_start_time()
    }
}
