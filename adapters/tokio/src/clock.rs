//! tokio's clock, timer and cooperative budget as a failsafe [`Runtime`].

use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use failsafe_core::Instant;
use failsafe_driver::{Clock, Park, Runtime, StdClock};

/// How far ahead "never" lies when a core instant does not fit a tokio one
/// (tokio caps its timers far below this anyway).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// tokio's clock ([`tokio::time::Instant`]), timer ([`tokio::time::Sleep`])
/// and cooperative budget: the [`Runtime`] every tokio handle runs on.
///
/// ## One epoch for the process
///
/// `TokioClock` is a unit struct: every one reads the same time. Core
/// instants count from one process-wide epoch, [`StdClock::epoch`] (the
/// first time any std or tokio clock was read), so a deadline or a
/// `retry_at` from one handle means the same instant to every other handle,
/// on every runtime and thread, and to [`StdClock`]; no clock has to be
/// threaded through the handles.
///
/// ## Paused time
///
/// A paused runtime (`#[tokio::test(start_paused = true)]`,
/// `tokio::time::pause()`) and `tokio::time::advance` move this clock, so a
/// test runs minutes of virtual time at once. tokio's paused clock belongs
/// to one runtime and starts at the real time that runtime was built, so
/// one process-wide epoch cannot make every test start at zero. With this
/// crate's **`test-util`** feature (enable it next to tokio's `test-util`
/// in `[dev-dependencies]`), a runtime whose clock is paused when failsafe
/// first meets it gets its own epoch: its tokio time at that moment. That
/// moment is the first `TokioClock::new()` or `default()` inside the
/// runtime (every handle's `new` makes one) or the first read, so a test
/// that builds its handles first reads [`Instant::ZERO`] at its start, and
/// every handle in it agrees.
///
/// Its limits, exactly:
///
/// - the feature costs every read a lookup of the current runtime (tests
///   only); without it, a paused test reads the real time since the
///   process epoch plus the time it advanced;
/// - a runtime is judged once per thread, when failsafe first meets it
///   there: paused (its tokio time stood still while real time passed) or
///   not. One running in real time keeps the process epoch, even if it is
///   paused later (its instants then stay on the process timeline); one
///   judged paused keeps its own epoch even if it resumes;
/// - instants of a paused runtime mean nothing to another runtime (tokio's
///   paused clocks are not related): a handle shared by two paused
///   runtimes sees two timelines, as it did before;
/// - the epochs of paused runtimes are kept for the life of the process.
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
/// ## The cooperative budget
///
/// A rejection ([`Runtime::poll_budget`]) spends one unit of the task's
/// tokio budget, as a tokio channel receive does: a task that retries
/// rejected calls in a loop yields once its budget is spent, instead of
/// starving the other tasks of its worker.
///
/// ## Blocking callers
///
/// [`Park`] parks the calling thread for the real time left: for the
/// `*_blocking` verbs from a thread that is not a runtime worker
/// (`spawn_blocking`, a plain thread sharing the handle).
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Instant, TokioClock};
    /// let later = TokioClock.epoch() + Duration::from_millis(1_500);
    /// assert_eq!(TokioClock.to_core(later), Instant::from_millis(1_500));
    /// ```
    pub fn to_core(&self, at: tokio::time::Instant) -> Instant {
        let since = at.saturating_duration_since(self.epoch()).as_nanos();
        Instant::from_nanos(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// Converts a core instant (a rejection's `retry_at`, say) to a tokio
    /// one, e.g. to sleep until it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use failsafe_tokio::{Instant, TokioClock};
    /// let at = TokioClock.to_tokio(Instant::from_secs(2));
    /// assert_eq!(at, TokioClock.epoch() + Duration::from_secs(2));
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

/// Paused runtimes' own epochs (`test-util`).
#[cfg(feature = "test-util")]
mod paused {
    use std::cell::Cell;
    use std::sync::{Mutex, PoisonError};

    use tokio::runtime::{Handle, Id};
    use tokio::time::Instant;

    /// The epoch of every runtime judged paused.
    static PAUSED: Mutex<Vec<(Id, Instant)>> = Mutex::new(Vec::new());

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
        let mut paused = PAUSED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&(_, epoch)) = paused.iter().find(|(known, _)| *known == id) {
            return Some(epoch);
        }
        let before = Instant::now();
        let real = std::time::Instant::now();
        while std::time::Instant::now() == real {
            core::hint::spin_loop();
        }
        if Instant::now() != before {
            return None;
        }
        paused.push((id, before));
        Some(before)
    }
}
