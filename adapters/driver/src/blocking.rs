//! What blocking code needs from a runtime, and the one plan executor
//! ([`PlanRun`]) driven from a blocking thread (`drive`):
//! [`execute_blocking`] runs each attempt on the calling thread, the std
//! hedge each on a thread of its own. Retry, timeout and hedge (and the
//! pipeline's blocking calls) run through it.

use core::cell::Cell;
use core::future::Future;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};

use failsafe_core::plan::{Attempt, Finish, Judged, Plan};
use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutEvent};
use failsafe_core::{Instant, Observer};

use crate::slots::{One, Slots};
use crate::{Clock, Error, Judge, PlanRun, Runtime, Step};

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

/// How a thread driving the one executor ([`PlanRun`]) waits: it blocks
/// until an instant (its attempts run on it), or parks until an instant or
/// until an attempt's thread unparks it.
pub(crate) trait Wait {
    /// The time.
    fn now(&self) -> Instant;
    /// Waits until `at` (`None`: until woken); `true` if `at` has come.
    fn wait(&self, at: Option<Instant>) -> bool;
}

/// Attempts run on the calling thread: it waits only for an instant, and
/// blocks until it (every attempt has ended when the run waits).
struct Blocks<'r, R: ?Sized>(&'r R);

impl<R: BlockingRuntime + ?Sized> Wait for Blocks<'_, R> {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn wait(&self, at: Option<Instant>) -> bool {
        at.inspect(|at| self.0.block_until(*at)).is_some()
    }
}

/// The calling thread as the runtime of the one executor (its wait, and
/// whether the run's timer waited), and that runtime's sleep until an
/// instant: ready once the wait says the instant has come.
struct Until<'w, W: ?Sized>(&'w W, &'w Cell<bool>, Instant);

impl<W: Wait + ?Sized> Clock for Until<'_, W> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl<'w, W: Wait + ?Sized> Runtime for Until<'w, W> {
    type Sleep = Self;

    fn sleep_until(&self, at: Instant) -> Self {
        Until(self.0, self.1, at)
    }
}

impl<W: Wait + ?Sized> Future for Until<'_, W> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.1.set(true);
        match self.0.wait(Some(self.2)) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

/// The one executor ([`PlanRun`]) driven from the calling thread: runs one
/// call under `plan` from `now`; `start` makes each attempt's future at
/// the instant it starts (ready at once for an attempt run here, completed
/// by another thread for one run there), and `wait` waits while nothing is
/// ready. Returns how the plan finished and the output of the attempt that
/// ended last.
pub(crate) fn drive<W, P, F, S, J>(
    wait: &W,
    now: Instant,
    plan: P,
    judge: &mut J,
    mut start: impl FnMut(Attempt, Instant) -> F,
) -> (Finish, Option<F::Output>)
where
    W: Wait + ?Sized,
    P: Plan,
    F: Future,
    S: Slots<F>,
    J: Judge<F::Output>,
{
    let waited = Cell::new(false);
    let runtime = Until(wait, &waited, now); // as a runtime: its instant unused
    let mut run = pin!(PlanRun::<P, F, Until<'_, W>, S>::new(plan, now));
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        waited.set(false);
        match run.as_mut().poll_step(&mut cx, &runtime, judge) {
            Poll::Ready(Step::Start(attempt)) => {
                let future = start(attempt, run.now());
                run.as_mut().start(attempt, future);
            }
            Poll::Ready(Step::Finish(finish, last)) => return (finish, last),
            // Attempts run elsewhere and no timer is set: wait to be woken.
            Poll::Pending if !waited.get() => _ = wait.wait(None),
            Poll::Pending => {}
        }
    }
}

/// Judges an attempt run on the calling thread when it returns: at the
/// instant it says, or else the clock's reading.
struct Here<'r, R: ?Sized, J>(&'r R, J);

impl<R: Clock + ?Sized, O, J: Judge<O>> Judge<O> for Here<'_, R, J> {
    fn judge(&mut self, now: Instant, output: &O) -> Judged {
        self.1.judge(now, output)
    }

    fn ended_at(&self, output: &O) -> Option<Instant> {
        Some(self.1.ended_at(output).unwrap_or_else(|| self.0.now()))
    }
}

/// [`execute`](crate::execute) for blocking code: each attempt runs to its
/// end on the calling thread (it cannot be dropped, so a plan that would
/// cancel it judges its late result instead), and waits block on
/// `runtime`. `op` gets the attempt and the instant it starts. The same
/// executor ([`PlanRun`]), driven from the calling thread.
pub fn execute_blocking<R, P, J, F, O>(
    runtime: &R,
    now: Instant,
    plan: P,
    judge: J,
    mut op: F,
) -> (Finish, Option<O>)
where
    R: BlockingRuntime + ?Sized,
    P: Plan,
    J: Judge<O>,
    F: FnMut(Attempt, Instant) -> O,
{
    let start = |attempt, now| core::future::ready(op(attempt, now));
    let judge = &mut Here(runtime, judge);
    drive::<_, _, _, One<_>, _>(&Blocks(runtime), now, plan, judge, start)
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
