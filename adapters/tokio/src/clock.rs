//! tokio's clock, timer and cooperative budget as a failsafe [`Runtime`].

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use failsafe_driver::Instant;
use failsafe_driver::{BlockingRuntime, Clock, Park, Runtime, StdClock};

/// How far ahead "never" lies when a core instant does not fit a tokio one
/// (tokio caps its timers far below this anyway).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// tokio's clock, timer ([`tokio::time::Sleep`], reset in place) and
/// cooperative budget: the [`Runtime`] of every tokio handle.
///
/// **One epoch.** Every `TokioClock` reads the same time: core instants
/// count from one process-wide epoch, [`StdClock::epoch`], so a deadline or
/// a `retry_at` from any handle means the same instant to every other
/// handle, runtime and thread, and to [`StdClock`].
///
/// **Paused time.** A paused runtime (`start_paused`, `tokio::time::pause`)
/// and `tokio::time::advance` move this clock. tokio's paused clock belongs
/// to one runtime and starts at the real time it was built, so no single
/// epoch makes every test start at zero. With this crate's `test-util`
/// feature (next to tokio's, in `[dev-dependencies]`), a runtime whose time
/// is paused when failsafe first meets it gets its own epoch: its time then.
/// That is the first `TokioClock::new()` or `default()` in it (each
/// handle's `new` makes one) or the first read, so a test that builds its
/// handles first starts at [`Instant::ZERO`]. Limits:
///
/// - with the feature, every read looks the runtime up (for tests);
///   without it, a paused test reads the real time since the process epoch
///   plus what it advanced;
/// - a thread judges a runtime when it first meets it: paused if its time
///   stands still while real time passes. One on real time keeps the
///   process epoch even if paused later; one judged paused keeps its own
///   even if resumed. Every verdict (and paused runtimes' epochs) is kept for the process's
///   life;
/// - two paused runtimes have unrelated timelines: a handle shared by both
///   sees two.
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Clock, Instant, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = TokioClock.now();
/// tokio::time::advance(Duration::from_secs(5)).await;
/// assert_eq!(TokioClock.now(), start + Duration::from_secs(5));
/// # }
/// ```
///
/// **Budget.** A rejection spends one unit of the task's tokio budget
/// ([`Runtime::poll_budget`]), so a task retrying rejected calls in a loop
/// yields once the budget is spent instead of starving its worker.
/// [`Park`] and [`BlockingRuntime`] block a thread for the real time left,
/// for the `*_blocking` verbs off the runtime's workers (`spawn_blocking`,
/// a plain thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokioClock;

impl TokioClock {
    /// The clock (in a paused runtime, under `test-util`, this fixes the
    /// runtime's epoch if nothing did before).
    pub fn new() -> Self {
        #[cfg(feature = "test-util")]
        let _ = paused::epoch();
        TokioClock
    }

    /// The tokio instant that core [`Instant::ZERO`] stands for here: the
    /// process epoch, or a paused runtime's own (see above).
    pub fn epoch(&self) -> tokio::time::Instant {
        #[cfg(feature = "test-util")]
        if let Some(epoch) = paused::epoch() {
            return epoch;
        }
        tokio::time::Instant::from_std(StdClock::epoch())
    }

    /// Converts a tokio instant to a core one (an instant before the epoch
    /// becomes [`Instant::ZERO`]).
    pub fn to_core(&self, at: tokio::time::Instant) -> Instant {
        #[cfg(feature = "test-util")]
        if let Some(epoch) = paused::epoch() {
            let since = at.saturating_duration_since(epoch).as_nanos();
            return Instant::from_nanos(u64::try_from(since).unwrap_or(u64::MAX));
        }
        // Every read goes through here: `StdClock`'s conversion, in `u64`.
        StdClock::to_core(at.into_std())
    }

    /// Converts a core instant (a rejection's `retry_at`, say) to a tokio
    /// one, e.g. to sleep until it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Instant, TokioClock};
    /// let at = TokioClock.to_tokio(Instant::from_secs(2));
    /// assert_eq!(at, TokioClock.epoch() + Duration::from_secs(2));
    /// assert_eq!(TokioClock.to_core(at), Instant::from_secs(2));
    /// ```
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        let epoch = self.epoch();
        let since = Duration::from_nanos(at.as_nanos());
        epoch
            .checked_add(since)
            .or_else(|| epoch.checked_add(FAR_FUTURE))
            .unwrap_or(epoch)
    }
}

impl Default for TokioClock {
    /// Same as [`TokioClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    #[inline]
    fn now(&self) -> Instant {
        self.to_core(tokio::time::Instant::now())
    }
}

impl Runtime for TokioClock {
    type Sleep = tokio::time::Sleep;

    /// [`tokio::time::sleep_until`] the tokio instant `deadline` stands for.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(self.to_tokio(deadline))
    }

    /// [`Sleep::reset`](tokio::time::Sleep::reset): the same timer entry,
    /// moved.
    fn reset_sleep(&self, sleep: Pin<&mut Self::Sleep>, deadline: Instant) {
        sleep.reset(self.to_tokio(deadline));
    }

    /// Spends one unit of the task's budget ([`tokio::task::coop::poll_proceed`]);
    /// `Pending` (the task is woken to go on) once it is spent.
    fn poll_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        ready!(tokio::task::coop::poll_proceed(cx)).made_progress();
        Poll::Ready(())
    }
}

/// Parks the thread for the real time left (never on a runtime worker).
impl Park for TokioClock {}

/// Sleeps the thread for the real time left (never on a runtime worker).
impl BlockingRuntime for TokioClock {
    fn block_until(&self, deadline: Instant) {
        std::thread::sleep(deadline.saturating_duration_since(self.now()));
    }
    /// A waker that unparks this thread (a blocking cache follower's).
    fn thread_waker(&self) -> Option<std::task::Waker> {
        Some(failsafe_driver::thread_waker())
    }

    /// Parks the thread until woken or for the real time left.
    fn block_until_woken(&self, deadline: Instant) {
        self.park_until(Some(deadline));
    }
}

/// Paused runtimes' own epochs (`test-util`).
#[cfg(feature = "test-util")]
mod paused {
    use std::cell::Cell;
    use std::sync::{Mutex, PoisonError};

    use tokio::runtime::{Handle, Id};
    use tokio::time::Instant;

    /// Every runtime judged, and its epoch if judged paused (`None`: the
    /// process epoch, kept even if it is paused later).
    static JUDGED: Mutex<Vec<(Id, Option<Instant>)>> = Mutex::new(Vec::new());

    std::thread_local! {
        /// The runtime this thread last met and its epoch (`None`: the
        /// process epoch).
        static LAST: Cell<Option<(Id, Option<Instant>)>> = const { Cell::new(None) };
    }

    /// The current runtime's own epoch, if it is a paused one.
    pub(super) fn epoch() -> Option<Instant> {
        let id = Handle::try_current().ok()?.id();
        match LAST.get() {
            Some((last, epoch)) if last == id => epoch,
            _ => {
                let epoch = judge(id);
                LAST.set(Some((id, epoch)));
                epoch
            }
        }
    }

    /// A runtime met for the first time on this thread: paused if its time
    /// stands still while real time passes (a paused clock moves only when
    /// the runtime advances it, never during this synchronous check).
    fn judge(id: Id) -> Option<Instant> {
        let mut judged = JUDGED.lock().unwrap_or_else(PoisonError::into_inner);
        // Judged once per process: a runtime on real time keeps the process
        // epoch even if a thread meets it again after it was paused.
        if let Some(&(_, epoch)) = judged.iter().find(|(known, _)| *known == id) {
            return epoch;
        }
        let before = Instant::now();
        let real = std::time::Instant::now();
        while std::time::Instant::now() == real {
            core::hint::spin_loop();
        }
        let epoch = (Instant::now() == before).then_some(before);
        judged.push((id, epoch));
        epoch
    }
}
