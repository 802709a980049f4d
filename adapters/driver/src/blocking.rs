//! What blocking code needs from a runtime, and [`execute_blocking`]: a
//! plan's attempts run on the calling thread, with
//! [`PlanRun`](crate::PlanRun)'s decisions. Retry and timeout (and the
//! pipeline's blocking calls) run through it; the std hedge drives
//! `PlanRun` itself.

use core::task::Waker;

use failsafe_core::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutEvent};
use failsafe_core::{Instant, Observer};

use crate::{Clock, Error, Judge};

/// A clock that can block the calling thread until a time: what the
/// blocking retry loop sleeps on. The blocking counterpart of
/// [`Runtime`](crate::Runtime).
///
/// The std clock blocks with `std::thread::sleep`; a test clock advances
/// itself instead, so blocking timelines run without sleeping:
///
/// ```
/// use core::cell::Cell;
/// use failsafe_core::Instant;
/// use failsafe_driver::{BlockingRuntime, Clock};
///
/// struct Manual(Cell<Instant>);
/// impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
/// impl BlockingRuntime for Manual {
///     fn block_until(&self, deadline: Instant) { self.0.set(self.0.get().max(deadline)) }
/// }
/// let clock = Manual(Cell::new(Instant::ZERO));
/// clock.block_until(Instant::from_secs(3));
/// assert_eq!(clock.now(), Instant::from_secs(3));
/// ```
pub trait BlockingRuntime: Clock {
    /// Blocks the calling thread until `deadline` (returns at once if it
    /// has passed).
    fn block_until(&self, deadline: Instant);

    /// A waker that ends the calling thread's
    /// [`block_until_woken`](Self::block_until_woken) early: what a
    /// blocking cache follower registers so that its leader wakes it.
    /// `None` (the default) if this runtime cannot be woken (no threads to
    /// unpark, as on a `no_std` target, or a virtual clock): the follower
    /// then re-checks the store on the timer. The std runtimes return one
    /// that unparks the thread ([`thread_waker`](crate::thread_waker)).
    fn thread_waker(&self) -> Option<Waker> {
        None
    }

    /// Blocks the calling thread until `deadline`, or until a waker from
    /// [`thread_waker`](Self::thread_waker) made on this thread is woken;
    /// may return early (the caller looks again). The default is
    /// [`block_until`](Self::block_until); the std runtimes park the
    /// thread ([`Park::park_until`](crate::Park::park_until)).
    fn block_until_woken(&self, deadline: Instant) {
        self.block_until(deadline);
    }
}

impl<C: BlockingRuntime + ?Sized> BlockingRuntime for &C {
    #[inline]
    fn block_until(&self, deadline: Instant) {
        (**self).block_until(deadline)
    }

    #[inline]
    fn thread_waker(&self) -> Option<Waker> {
        (**self).thread_waker()
    }

    #[inline]
    fn block_until_woken(&self, deadline: Instant) {
        (**self).block_until_woken(deadline)
    }
}

/// [`execute`](crate::execute) for blocking code: each attempt runs to its
/// end on the calling thread (it cannot be dropped, so a plan that would
/// cancel it judges its late result instead), and waits block on
/// `runtime`. `op` gets the attempt and the instant it starts.
///
/// The decisions are [`PlanRun`](crate::PlanRun)'s: an attempt ends at the
/// instant its judge says, or else at the clock's reading; a fired timer at
/// its own instant. Attempts on threads of their own (the std hedge) run on
/// `PlanRun` itself; attempts run here need no futures, so this is a plain
/// loop (a first attempt that succeeds costs a few nanoseconds).
pub fn execute_blocking<R, P, J, F, O>(
    runtime: &R,
    now: Instant,
    plan: P,
    judge: J,
    op: F,
) -> (Finish, Option<O>)
where
    R: BlockingRuntime + ?Sized,
    P: Plan,
    J: Judge<O>,
    F: FnMut(Attempt, Instant) -> O,
{
    execute_blocking_from(runtime, now, plan, judge, op, None)
}

/// [`execute_blocking`] going on from `last`, the result of a first
/// attempt that ran before the plan was made (the plan has started it and
/// heard how it ended at `now`), if any.
pub(crate) fn execute_blocking_from<R, P, J, F, O>(
    runtime: &R,
    now: Instant,
    mut plan: P,
    mut judge: J,
    mut op: F,
    last: Option<O>,
) -> (Finish, Option<O>)
where
    R: BlockingRuntime + ?Sized,
    P: Plan,
    J: Judge<O>,
    F: FnMut(Attempt, Instant) -> O,
{
    let (mut now, mut started) = (now, u32::from(last.is_some()));
    let mut last = last;
    loop {
        let (attempt, output) = match plan.poll_action(now) {
            Action::Start(attempt) => {
                started = started.saturating_add(1);
                (attempt.number, op(attempt, now))
            }
            Action::Wait(Some(at)) => {
                runtime.block_until(at);
                now = now.max(at);
                plan.on_event(now, PlanEvent::Timer);
                continue;
            }
            // Nothing to wait for (a plan outside the contract): answer
            // with what there is rather than hang.
            Action::Wait(None) => {
                let finish = Finish::Answer {
                    attempts: started,
                    gave_up: None,
                };
                return (finish, last);
            }
            // An attempt run here has ended before the plan decides.
            Action::Cancel(_) => continue,
            Action::Finish(finish) => return (finish, last),
        };
        now = judge.ended_at(&output).unwrap_or_else(|| runtime.now());
        let judged = judge.judge(now, &output);
        last = Some(output);
        plan.on_event(now, PlanEvent::Ended { attempt, judged });
    }
}

/// A clock that never blocks: a timeout's plan never waits here (its one
/// attempt has ended before it decides).
struct NoWait<'c, C: ?Sized>(&'c C);

impl<C: Clock + ?Sized> Clock for NoWait<'_, C> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl<C: Clock + ?Sized> BlockingRuntime for NoWait<'_, C> {
    fn block_until(&self, _: Instant) {}
}

/// [`timeout`](crate::timeout) for blocking work, which cannot be
/// interrupted: `op` gets the deadline (`now + timeout`, or `parent` if
/// earlier) to bound its own waits with (a socket's read timeout, a
/// channel's `recv_timeout`), and the result is judged when it returns
/// ([`execute_blocking`] under the core's [`Timeout`] plan).
///
/// - [`TimeoutMode::Cancel`](failsafe_core::timeout::TimeoutMode::Cancel): a result that arrives after the deadline is
///   discarded and [`Error::Timeout`] returned (the caller's budget is
///   spent; a late answer is treated as none, as Failsafe for Java does
///   for synchronous calls). If the deadline has already passed, `op` is
///   not run at all.
/// - [`TimeoutMode::Soft`](failsafe_core::timeout::TimeoutMode::Soft): the result is returned as it is; the overrun is
///   only reported to `observer`.
///
/// # Errors
///
/// [`Error::Timeout`] with the deadline as above; `op`'s own errors as
/// it returns them.
///
/// ```
/// use core::{cell::Cell, time::Duration};
/// use failsafe_core::timeout::{Deadline, TimeoutConfig};
/// use failsafe_core::Instant;
/// use failsafe_driver::{timeout_blocking, Clock, Error};
///
/// struct Manual(Cell<Instant>);
/// impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
///
/// let clock = Manual(Cell::new(Instant::ZERO));
/// let config = TimeoutConfig::new(Duration::from_millis(100)).unwrap();
/// let slow = timeout_blocking(&clock, config, Deadline::NEVER, (), |deadline| {
///     assert_eq!(deadline, Deadline::at(Instant::from_millis(100)));
///     clock.0.set(Instant::from_millis(250)); // the work took 250 ms
///     Ok::<_, Error<()>>("late")
/// });
/// assert_eq!(slow, Err(Error::Timeout(Deadline::at(Instant::from_millis(100)))));
/// ```
pub fn timeout_blocking<C, O, F, T, E>(
    clock: &C,
    config: TimeoutConfig,
    parent: Deadline,
    observer: O,
    op: F,
) -> Result<T, Error<E>>
where
    C: Clock + ?Sized,
    O: Observer<TimeoutEvent>,
    F: FnOnce(Deadline) -> Result<T, Error<E>>,
{
    let now = clock.now();
    let plan = Timeout::start_observed(config, now, parent, observer);
    let mut op = Some(op);
    // The plan starts one attempt at most: a second would find no `op`.
    let once = |attempt: Attempt, _| op.take().map(|op| op(attempt.deadline));
    let judge =
        |_, r: &Option<Result<T, Error<E>>>| r.as_ref().map_or(Judged::SUCCESS, Judged::of_result);
    let (finish, result) = execute_blocking(&NoWait(clock), now, plan, judge, once);
    Error::from_finish(finish, result.flatten())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use core::cell::Cell;
    use core::time::Duration;

    use failsafe_core::FnObserver;
    use failsafe_core::timeout::TimeoutMode;

    use super::*;

    struct Manual(Cell<Instant>);
    impl Clock for Manual {
        fn now(&self) -> Instant {
            self.0.get()
        }
    }

    fn config(ms: u64) -> TimeoutConfig {
        TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
    }

    #[test]
    fn an_early_result_is_returned_and_the_parent_deadline_binds() {
        let clock = Manual(Cell::new(Instant::from_millis(10)));
        let parent = Deadline::at(Instant::from_millis(60));
        let r = timeout_blocking(&clock, config(100), parent, (), |deadline| {
            assert_eq!(deadline, parent, "the earlier deadline is handed down");
            clock.0.set(Instant::from_millis(59));
            Err::<(), _>(Error::Inner("down"))
        });
        assert_eq!(r, Err(Error::Inner("down")));
    }

    #[test]
    fn an_expired_parent_means_the_work_never_runs() {
        let clock = Manual(Cell::new(Instant::from_millis(100)));
        let parent = Deadline::at(Instant::from_millis(50));
        let mut ran = false;
        let r = timeout_blocking(&clock, config(100), parent, (), |_| {
            ran = true;
            Ok::<_, Error<()>>(())
        });
        assert_eq!(r, Err(Error::Timeout(parent)));
        assert!(!ran);
    }

    #[test]
    fn a_soft_timeout_keeps_the_late_result_and_reports_it() {
        let clock = Manual(Cell::new(Instant::ZERO));
        let mut events = Vec::new();
        let soft = config(100).mode(TimeoutMode::Soft);
        let r = timeout_blocking(
            &clock,
            soft,
            Deadline::NEVER,
            FnObserver(|e| events.push(e)),
            |_| {
                clock.0.set(Instant::from_millis(130));
                Ok::<_, Error<()>>(7)
            },
        );
        assert_eq!(r, Ok(7));
        assert_eq!(
            events,
            [TimeoutEvent::Expired {
                deadline: Deadline::at(Instant::from_millis(100)),
                at: Instant::from_millis(130),
                mode: TimeoutMode::Soft,
            }]
        );
    }
}
