//! What blocking code needs from a runtime, and the one blocking plan
//! executor: [`execute_blocking`] runs each attempt on the calling thread,
//! the std hedge each on a thread of its own, through one loop
//! ([`run_blocking`] over [`BlockingAttempts`]). Retry, timeout and hedge
//! (and the pipeline's blocking calls) run through it.

use core::marker::PhantomData;
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

/// An attempt that has ended: its number, when, its judgement and its
/// output (none if it panicked or never started).
pub(crate) type Ended<O> = (u32, Instant, Judged, Option<O>);

/// What a wait for attempts running elsewhere, or for an instant, gave.
#[cfg_attr(
    not(feature = "std"),
    expect(dead_code, reason = "only attempts on threads (std) end elsewhere")
)]
pub(crate) enum Waited<O> {
    /// An attempt ended.
    Ended(Ended<O>),
    /// The instant has come.
    Timer,
    /// Nothing runs and no instant is awaited: the call is answered.
    Idle,
    /// Woken early: look again.
    Again,
}

/// Where a blocking call's attempts run, for [`run_blocking`]: on the
/// calling thread ([`execute_blocking`]) or each on a thread of its own
/// (the std hedge). Every method runs on the calling thread.
pub(crate) trait BlockingAttempts {
    /// An attempt's output.
    type Output;
    /// Starts `attempt` at `now`: its end if it has ended already (run
    /// here, or refused), `None` if it runs elsewhere.
    fn start(&mut self, attempt: Attempt, now: Instant) -> Option<Ended<Self::Output>>;
    /// Waits until `at` (never, for `None`) or until an attempt ends.
    fn wait(&mut self, at: Option<Instant>) -> Waited<Self::Output>;
    /// The plan dropped attempt `number` (every one left: `None`) at `now`;
    /// one running elsewhere runs on, its result discarded.
    fn abandon(&mut self, number: Option<u32>, now: Instant) {
        let _ = (number, now);
    }
}

/// The one blocking plan executor: runs one call under `plan` from `now`,
/// its attempts where `work` runs them, and returns how the plan finished
/// with the output of the last attempt that returned one. Decisions follow
/// the async executor's: an attempt that has ended is reported before a
/// timer due at the same time, a fired timer at its own instant.
pub(crate) fn run_blocking<P, W>(
    now: Instant,
    mut plan: P,
    work: &mut W,
) -> (Finish, Option<W::Output>)
where
    P: Plan,
    W: BlockingAttempts + ?Sized,
{
    let (mut now, mut last, mut started) = (now, None, 0u32);
    loop {
        let (attempt, at, judged, output) = match plan.poll_action(now) {
            Action::Start(attempt) => {
                started = started.saturating_add(1);
                match work.start(attempt, now) {
                    Some(ended) => ended,
                    None => continue,
                }
            }
            Action::Wait(at) => match work.wait(at) {
                Waited::Ended(ended) => ended,
                Waited::Timer => {
                    now = at.map_or(now, |at| now.max(at));
                    plan.on_event(now, PlanEvent::Timer);
                    continue;
                }
                Waited::Again => continue,
                // Nothing to wait for (a plan outside the contract):
                // answer with what there is rather than hang.
                Waited::Idle => {
                    return (
                        Finish::Answer {
                            attempts: started,
                            gave_up: None,
                        },
                        last,
                    );
                }
            },
            Action::Cancel(number) => {
                work.abandon(Some(number), now);
                continue;
            }
            Action::Finish(finish) => {
                work.abandon(None, now);
                return (finish, last);
            }
        };
        now = at;
        last = output.or(last);
        plan.on_event(now, PlanEvent::Ended { attempt, judged });
    }
}

/// Attempts run to their end on the calling thread, one at a time; waits
/// block on the runtime.
struct Inline<'r, R: ?Sized, J, F, O>(&'r R, J, F, PhantomData<fn() -> O>);

impl<R, J, F, O> BlockingAttempts for Inline<'_, R, J, F, O>
where
    R: BlockingRuntime + ?Sized,
    J: Judge<O>,
    F: FnMut(Attempt, Instant) -> O,
{
    type Output = O;

    fn start(&mut self, attempt: Attempt, now: Instant) -> Option<Ended<O>> {
        let output = (self.2)(attempt, now);
        let at = self.1.ended_at(&output).unwrap_or_else(|| self.0.now());
        let judged = self.1.judge(at, &output);
        Some((attempt.number, at, judged, Some(output)))
    }

    fn wait(&mut self, at: Option<Instant>) -> Waited<O> {
        match at {
            Some(at) => {
                self.0.block_until(at);
                Waited::Timer
            }
            None => Waited::Idle,
        }
    }
}

/// [`execute`](crate::execute) for blocking code: each attempt runs to its
/// end on the calling thread (it cannot be dropped, so a plan that would
/// cancel it judges its late result instead), and waits block on
/// `runtime`. `op` gets the attempt and the instant it starts.
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
    run_blocking(now, plan, &mut Inline(runtime, judge, op, PhantomData))
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
