//! Waiting for a bulkhead slot, once for every adapter: the async wait
//! ([`acquire`], a named future), the hand-driven wait ([`SlotWait`], for
//! futures written by hand such as a tower service's `poll_ready`), the
//! guard that gives a slot back exactly once ([`BulkheadGuard`]) and the
//! call wrapper ([`call`]). With the `std` feature: the blocking wait
//! ([`acquire_blocking`], [`call_blocking`]) that parks the thread.
//!
//! The core's [`SharedBulkhead`] decides; this module waits. A waiter polls
//! [`SharedBulkhead::poll_acquire`] with its task's waker: a slot coming
//! back (a release, a cancel, a higher limit) wakes it. So that a wait
//! that nobody ends still ends at its `max_wait`, the waiter also sleeps on
//! the runtime's timer until the instant its wait could run out at the
//! earliest ([`BulkheadPolicy::recheck_at`]) and polls again then.
//!
//! **Nothing leaks.** A waiting future that is dropped cancels its place in
//! the queue (and hands on a slot already granted to it); a guard that is
//! dropped, or a call whose future is dropped or whose closure panics,
//! gives its slot back as [`Outcome::Cancelled`].
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
//! use failsafe_core::sync::{CsLock, SharedBulkhead};
//! use failsafe_core::{Instant, Outcome, RejectReason};
//! use failsafe_driver::{bulkhead, Clock, Runtime};
//! use std::{cell::Cell, future::Ready};
//!
//! /// A virtual runtime: sleeping jumps the clock.
//! struct Virtual(Cell<Instant>);
//! impl Clock for Virtual { fn now(&self) -> Instant { self.0.get() } }
//! impl Runtime for Virtual {
//!     type Sleep = Ready<()>;
//!     fn sleep_until(&self, at: Instant) -> Ready<()> { self.0.set(self.0.get().max(at)); std::future::ready(()) }
//! }
//!
//! const CONFIG: BulkheadConfig = BulkheadConfig::builder()
//!     .max_concurrent(1)
//!     .max_wait(Duration::from_millis(100))
//!     .build_or_panic();
//! let pool: SharedBulkhead<4, (), CsLock<Bulkhead<4>>> = SharedBulkhead::new(CsLock::new(Bulkhead::new(CONFIG)));
//! let rt = Virtual(Cell::new(Instant::ZERO));
//!
//! futures_lite::future::block_on(async {
//!     let held = bulkhead::acquire(&pool, &rt).await.unwrap(); // the only slot
//!     // nobody releases it: the second caller's wait ends at exactly t=100 ms
//!     let late = bulkhead::acquire(&pool, &rt).await.unwrap_err();
//!     assert_eq!(late.reason, RejectReason::BulkheadWaitExpired);
//!     assert_eq!(rt.now(), Instant::from_millis(100));
//!     held.finish(Outcome::Success);
//!     // a call takes the slot, runs, gives it back
//!     let r = bulkhead::call(&rt, &pool, &failsafe_driver::DefaultClassifier, || async { Ok::<_, ()>(7) }).await;
//!     assert_eq!(r, Ok(7));
//! });
//! assert_eq!(pool.metrics().in_flight, 0);
//! ```

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use failsafe_core::bulkhead::{
    Bulkhead as Machine, BulkheadEvent, BulkheadPermit, LimitAlgorithm, Ticket,
};
use failsafe_core::sync::{Lock, SharedBulkhead};
use failsafe_core::{Instant, Observer, Outcome, Rejected, TimeSource};

use crate::{Classify, Clock, Error, Runtime, SharedPolicy};

#[cfg(feature = "std")]
pub use crate::std_bulkhead::{Park, acquire_blocking, call_blocking};

/// A bulkhead used through `&self`: what the waits, the guard and the call
/// wrappers need. Implemented for the core's [`SharedBulkhead`] (behind any
/// [`Lock`]), and for references (and, with `std`, `Arc`s) to it, so a
/// guard can borrow a `static` bulkhead or own a handle to a shared one.
///
/// Every method that takes `now` takes a [`TimeSource`]: an [`Instant`], or
/// a closure the bulkhead reads only if the decision needs the time.
pub trait BulkheadPolicy {
    /// Takes a slot now, or rejects ([`BulkheadFull`](failsafe_core::RejectReason::BulkheadFull)):
    /// never queues, never overtakes a waiter.
    fn try_acquire(&self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected>;

    /// The one poll for blocking and async waiters: see
    /// [`Bulkhead::poll_acquire`](failsafe_core::bulkhead::Bulkhead::poll_acquire).
    /// A waiter granted a slot, or whose wait ran out, has `waker` woken.
    fn poll_acquire(
        &self,
        now: impl TimeSource,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
    ) -> Poll<Result<BulkheadPermit, Rejected>>;

    /// Gives up `ticket`'s place (handing on a slot already granted to it);
    /// a no-op for an idle ticket.
    fn cancel(&self, now: impl TimeSource, ticket: &mut Ticket);

    /// Gives the slot of `permit` back; the call ended with `outcome`.
    fn release(&self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome);

    /// The latest instant a waiter that queued at `queued_at` should poll
    /// again even if it was not woken: the earliest instant its own wait
    /// could run out (the later of the first waiter's deadline and
    /// `queued_at + max_wait`; never after its real deadline). `None`: only
    /// a wake-up can change its answer (nobody waits with an end).
    fn recheck_at(&self, queued_at: Instant) -> Option<Instant>;
}

impl<B: BulkheadPolicy + ?Sized> BulkheadPolicy for &B {
    #[inline]
    fn try_acquire(&self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected> {
        (**self).try_acquire(now)
    }

    #[inline]
    fn poll_acquire(
        &self,
        now: impl TimeSource,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
    ) -> Poll<Result<BulkheadPermit, Rejected>> {
        (**self).poll_acquire(now, ticket, waker)
    }

    #[inline]
    fn cancel(&self, now: impl TimeSource, ticket: &mut Ticket) {
        (**self).cancel(now, ticket)
    }

    #[inline]
    fn release(&self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        (**self).release(now, permit, outcome)
    }

    #[inline]
    fn recheck_at(&self, queued_at: Instant) -> Option<Instant> {
        (**self).recheck_at(queued_at)
    }
}

impl<const Q: usize, O, L, A> BulkheadPolicy for SharedBulkhead<Q, O, L, A>
where
    O: Observer<BulkheadEvent>,
    A: LimitAlgorithm,
    L: Lock<Machine<Q, O, A>>,
{
    #[inline]
    fn try_acquire(&self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected> {
        SharedBulkhead::try_acquire(self, now)
    }

    #[inline]
    fn poll_acquire(
        &self,
        now: impl TimeSource,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
    ) -> Poll<Result<BulkheadPermit, Rejected>> {
        SharedBulkhead::poll_acquire(self, now, ticket, waker)
    }

    #[inline]
    fn cancel(&self, now: impl TimeSource, ticket: &mut Ticket) {
        SharedBulkhead::cancel(self, now, ticket)
    }

    #[inline]
    fn release(&self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        SharedBulkhead::release(self, now, permit, outcome)
    }

    fn recheck_at(&self, queued_at: Instant) -> Option<Instant> {
        self.with(|b| {
            let own = queued_at.saturating_add(b.config().max_wait());
            b.next_deadline().map(|first| first.max(own))
        })
    }
}

/// A bulkhead is also a plain admission policy: `acquire` is
/// [`try_acquire`](SharedBulkhead::try_acquire) (never waits) and `record`
/// is [`release`](SharedBulkhead::release), so the breaker's
/// [`call`](crate::call) and [`PermitGuard`](crate::PermitGuard) serve a
/// bulkhead that never queues.
impl<const Q: usize, O, L, A> SharedPolicy for SharedBulkhead<Q, O, L, A>
where
    O: Observer<BulkheadEvent>,
    A: LimitAlgorithm,
    L: Lock<Machine<Q, O, A>>,
{
    type Permit = BulkheadPermit;

    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected> {
        SharedBulkhead::try_acquire(self, now)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        SharedBulkhead::release(self, now, permit, outcome)
    }
}

/// A runtime borrowed is still a runtime (a test's virtual clock, say).
impl<R: Runtime + ?Sized> Runtime for &R {
    type Sleep = R::Sleep;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> R::Sleep {
        (**self).sleep_until(deadline)
    }

    #[inline]
    fn reset_sleep(&self, sleep: core::pin::Pin<&mut R::Sleep>, deadline: Instant) {
        (**self).reset_sleep(sleep, deadline)
    }

    #[inline]
    fn poll_budget(&self, cx: &mut core::task::Context<'_>) -> core::task::Poll<()> {
        (**self).poll_budget(cx)
    }
}

/// A bulkhead slot that is given back exactly once: through
/// [`finish`](Self::finish) with the call's outcome, or on drop as
/// [`Outcome::Cancelled`] (a dropped future, a panicking closure), so a
/// slot never leaks.
///
/// `B` is the bulkhead (a reference, or an `Arc` for a guard that must be
/// `'static`); `C` the clock read when the slot comes back (only if the
/// bulkhead needs the time: an adaptive limit's sample, or a waiter to hand
/// the slot to).
///
/// ```
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::{Instant, Outcome};
/// use failsafe_driver::{bulkhead, Clock};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let pool: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
///     SharedBulkhead::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
/// let guard = bulkhead::try_acquire(&pool, Frozen).unwrap();
/// assert_eq!(pool.metrics().in_flight, 1);
/// drop(guard); // given back as cancelled
/// assert_eq!(pool.metrics().in_flight, 0);
/// let guard = bulkhead::try_acquire(&pool, Frozen).unwrap();
/// guard.finish(Outcome::Success);
/// ```
#[must_use = "dropping the guard at once gives the slot back as cancelled"]
pub struct BulkheadGuard<B: BulkheadPolicy, C: Clock> {
    bulkhead: B,
    clock: C,
    permit: Option<BulkheadPermit>,
}

impl<B: BulkheadPolicy, C: Clock> BulkheadGuard<B, C> {
    /// Wraps a permit taken from `bulkhead`, so it is given back exactly
    /// once (on [`finish`](Self::finish) or drop).
    pub fn new(bulkhead: B, clock: C, permit: BulkheadPermit) -> Self {
        BulkheadGuard {
            bulkhead,
            clock,
            permit: Some(permit),
        }
    }

    /// The permit held; `None` only while the guard is being dropped.
    pub fn permit(&self) -> Option<&BulkheadPermit> {
        self.permit.as_ref()
    }

    /// The bulkhead the slot belongs to.
    pub fn bulkhead(&self) -> &B {
        &self.bulkhead
    }

    /// Gives the slot back now; the call ended with `outcome` (an adaptive
    /// limit learns from it).
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.give_back(outcome);
    }

    #[inline]
    fn give_back(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            let clock = &self.clock;
            self.bulkhead.release(|| clock.now(), permit, outcome);
        }
    }
}

impl<B: BulkheadPolicy, C: Clock> Drop for BulkheadGuard<B, C> {
    fn drop(&mut self) {
        self.give_back(Outcome::Cancelled);
    }
}

impl<B: BulkheadPolicy, C: Clock> fmt::Debug for BulkheadGuard<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadGuard")
            .field("permit", &self.permit)
            .finish_non_exhaustive()
    }
}

/// What one [`SlotWait::poll`] decided.
#[must_use = "a granted guard gives its slot back when dropped"]
pub enum SlotStep<B: BulkheadPolicy, C: Clock> {
    /// A slot is held: run the call, then [`finish`](BulkheadGuard::finish).
    Granted(BulkheadGuard<B, C>),
    /// No slot: every slot taken and no wait allowed, the queue full, or
    /// the wait ran out.
    Rejected(Rejected),
    /// Queued. The waker passed to the poll will be woken when a slot is
    /// granted; poll again then, and at `recheck_at` at the latest (when
    /// the wait may have run out) if it is `Some`.
    Pending {
        /// When to poll again even without a wake-up.
        recheck_at: Option<Instant>,
    },
}

impl<B: BulkheadPolicy, C: Clock> fmt::Debug for SlotStep<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotStep::Granted(guard) => f.debug_tuple("Granted").field(guard).finish(),
            SlotStep::Rejected(r) => f.debug_tuple("Rejected").field(r).finish(),
            SlotStep::Pending { recheck_at } => f
                .debug_struct("Pending")
                .field("recheck_at", recheck_at)
                .finish(),
        }
    }
}

/// One wait for a bulkhead slot, driven by hand: the loop of [`acquire`]
/// and [`acquire_blocking`] as steps, for futures that must be written by
/// hand (a tower service's `poll_ready`).
///
/// [`poll`](Self::poll) with the task's waker (or `None` from a thread that
/// polls again later); on [`SlotStep::Pending`] wait for the wake-up or
/// until `recheck_at`, then poll again. Dropping the wait (or
/// [`cancel`](Self::cancel)) gives up its place in the queue, handing on a
/// slot already granted to it. After `Granted` or `Rejected` the wait is
/// idle; polling it again starts a new wait.
///
/// ```
/// use core::task::Waker;
/// use core::time::Duration;
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::{Instant, Outcome};
/// use failsafe_driver::{Clock, SlotStep, SlotWait};
///
/// #[derive(Clone, Copy)]
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_secs(1)).build().unwrap();
/// let pool: SharedBulkhead<2, (), CsLock<Bulkhead<2>>> = SharedBulkhead::new(CsLock::new(Bulkhead::new(config)));
///
/// let mut first = SlotWait::new(&pool, Frozen);
/// let SlotStep::Granted(held) = first.poll(None) else { panic!() };
/// let mut second = SlotWait::new(&pool, Frozen);
/// let SlotStep::Pending { recheck_at } = second.poll(Some(Waker::noop())) else { panic!() };
/// assert_eq!(recheck_at, Some(Instant::from_secs(1))); // its wait ends then
/// held.finish(Outcome::Success); // the slot goes to the second waiter ...
/// let SlotStep::Granted(next) = second.poll(None) else { panic!() }; // ... which collects it
/// next.finish(Outcome::Success);
/// ```
pub struct SlotWait<B: BulkheadPolicy, C: Clock> {
    bulkhead: B,
    clock: C,
    ticket: Ticket,
    /// When the current wait queued (for [`BulkheadPolicy::recheck_at`]).
    queued_at: Option<Instant>,
    /// A timer fired at this instant: the time is at least this.
    not_before: Instant,
}

impl<B: BulkheadPolicy, C: Clock> SlotWait<B, C> {
    /// A wait for a slot of `bulkhead`, reading `clock`. Nothing happens
    /// until the first [`poll`](Self::poll).
    pub const fn new(bulkhead: B, clock: C) -> Self {
        SlotWait {
            bulkhead,
            clock,
            ticket: Ticket::new(),
            queued_at: None,
            not_before: Instant::ZERO,
        }
    }

    /// Asks for a slot: takes one at once if one is free and nobody is
    /// queued, queues otherwise (or rejects: no wait allowed, queue full),
    /// and once queued reports the slot granted or the wait run out.
    /// `waker` (if any) is woken when a slot is granted or the wait runs
    /// out; the latest waker passed is the one woken.
    pub fn poll(&mut self, waker: Option<&Waker>) -> SlotStep<B, C>
    where
        B: Clone,
        C: Clone,
    {
        let mut read = None;
        let (clock, not_before) = (&self.clock, self.not_before);
        let time = || *read.insert(clock.now().max(not_before));
        match self.bulkhead.poll_acquire(time, &mut self.ticket, waker) {
            Poll::Ready(Ok(permit)) => {
                self.queued_at = None;
                let guard = BulkheadGuard::new(self.bulkhead.clone(), self.clock.clone(), permit);
                SlotStep::Granted(guard)
            }
            Poll::Ready(Err(rejected)) => {
                self.queued_at = None;
                SlotStep::Rejected(rejected)
            }
            Poll::Pending => {
                // Pending means the bulkhead read the time: `read` is set.
                let now = match read {
                    Some(now) => now,
                    None => self.clock.now(),
                };
                let queued_at = *self.queued_at.get_or_insert(now);
                SlotStep::Pending {
                    recheck_at: self.bulkhead.recheck_at(queued_at),
                }
            }
        }
    }

    /// Tells the wait that a timer set for `at` has fired: the next poll
    /// takes the time to be at least `at`, so a timer that fires a hair
    /// before the clock agrees (rounding) still ends the wait.
    pub fn timer_fired(&mut self, at: Instant) {
        self.not_before = self.not_before.max(at);
    }

    /// `true` while queued (waiting, or granted a slot not yet collected).
    pub const fn is_queued(&self) -> bool {
        self.ticket.is_queued()
    }

    /// Gives up the place in the queue now (as dropping the wait does); a
    /// slot already granted goes on to the next waiter. The wait is idle
    /// afterwards.
    pub fn cancel(&mut self) {
        if self.ticket.is_queued() {
            let clock = &self.clock;
            self.bulkhead.cancel(|| clock.now(), &mut self.ticket);
        }
        self.queued_at = None;
    }

    /// The bulkhead waited on.
    pub const fn bulkhead(&self) -> &B {
        &self.bulkhead
    }

    /// The clock read.
    pub const fn clock(&self) -> &C {
        &self.clock
    }
}

impl<B: BulkheadPolicy, C: Clock> Drop for SlotWait<B, C> {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<B: BulkheadPolicy, C: Clock> fmt::Debug for SlotWait<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotWait")
            .field("ticket", &self.ticket)
            .field("queued_at", &self.queued_at)
            .finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// The future of [`acquire`]: waits for a slot, woken when one is
    /// granted and by the runtime's timer when the wait may have run out.
    /// Resolves to a [`BulkheadGuard`], or to the rejection (no wait
    /// allowed, the queue full, or the wait ran out).
    ///
    /// Dropping it while it waits gives up its place in the queue (and
    /// hands on a slot already granted to it): nothing leaks.
    #[must_use = "futures do nothing unless polled"]
    pub struct AcquireSlot<B, R>
    where
        B: BulkheadPolicy,
        R: Runtime,
    {
        wait: SlotWait<B, R>,
        #[pin]
        sleep: Option<R::Sleep>,
        sleep_at: Option<Instant>,
    }
}

impl<B: BulkheadPolicy, R: Runtime> AcquireSlot<B, R> {
    /// A wait for a slot of `bulkhead`, on `runtime`'s clock and timer.
    pub const fn new(bulkhead: B, runtime: R) -> Self {
        AcquireSlot {
            wait: SlotWait::new(bulkhead, runtime),
            sleep: None,
            sleep_at: None,
        }
    }

    /// `true` while queued for a slot.
    pub const fn is_queued(&self) -> bool {
        self.wait.is_queued()
    }
}

impl<B: BulkheadPolicy, R: Runtime> fmt::Debug for AcquireSlot<B, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireSlot")
            .field("wait", &self.wait)
            .field("sleep_at", &self.sleep_at)
            .finish_non_exhaustive()
    }
}

impl<B, R> Future for AcquireSlot<B, R>
where
    B: BulkheadPolicy + Clone,
    R: Runtime + Clone,
{
    type Output = Result<BulkheadGuard<B, R>, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let recheck_at = match this.wait.poll(Some(cx.waker())) {
                SlotStep::Granted(guard) => {
                    this.sleep.set(None);
                    return Poll::Ready(Ok(guard));
                }
                SlotStep::Rejected(rejected) => {
                    this.sleep.set(None);
                    return Poll::Ready(Err(rejected));
                }
                SlotStep::Pending { recheck_at } => recheck_at,
            };
            let Some(at) = recheck_at else {
                // Only a wake-up can end this wait.
                this.sleep.set(None);
                *this.sleep_at = None;
                return Poll::Pending;
            };
            if *this.sleep_at != Some(at) || this.sleep.is_none() {
                this.sleep.set(Some(this.wait.clock().sleep_until(at)));
                *this.sleep_at = Some(at);
            }
            let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
                return Poll::Pending; // unreachable: armed just above
            };
            match sleep.poll(cx) {
                // The timer holds the waker too: woken at `at` or by a grant.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    this.sleep.set(None);
                    *this.sleep_at = None;
                    this.wait.timer_fired(at);
                }
            }
        }
    }
}

/// Waits for a slot of `bulkhead` on `runtime`'s clock and timer: at once
/// if one is free and nobody is queued, otherwise queued (FIFO) until a slot
/// is granted or `max_wait` runs out. Returns the [`AcquireSlot`] future;
/// its guard gives the slot back exactly once.
///
/// A wait ends exactly at its deadline even if nobody releases a slot: the
/// future sleeps on the runtime's timer until then.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::{Instant, Outcome};
/// use failsafe_driver::{bulkhead, Clock, Runtime};
/// use std::future::Ready;
///
/// #[derive(Clone, Copy)]
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Frozen {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { std::future::ready(()) }
/// }
///
/// let pool: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
///     SharedBulkhead::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
/// let guard = futures_lite::future::block_on(bulkhead::acquire(&pool, Frozen)).unwrap();
/// guard.finish(Outcome::Success);
/// ```
pub const fn acquire<B, R>(bulkhead: B, runtime: R) -> AcquireSlot<B, R>
where
    B: BulkheadPolicy + Clone,
    R: Runtime + Clone,
{
    AcquireSlot::new(bulkhead, runtime)
}

/// Takes a slot now, or returns the rejection
/// ([`BulkheadFull`](failsafe_core::RejectReason::BulkheadFull)): never
/// waits, never queues, never overtakes a waiter.
///
/// ```
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::{Instant, RejectReason};
/// use failsafe_driver::{bulkhead, Clock};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
/// let pool: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> = SharedBulkhead::new(CsLock::new(Bulkhead::new(config)));
/// let _held = bulkhead::try_acquire(&pool, Frozen).unwrap();
/// let r = bulkhead::try_acquire(&pool, Frozen).unwrap_err();
/// assert_eq!(r.reason, RejectReason::BulkheadFull);
/// ```
pub fn try_acquire<B, C>(bulkhead: B, clock: C) -> Result<BulkheadGuard<B, C>, Rejected>
where
    B: BulkheadPolicy,
    C: Clock,
{
    let permit = bulkhead.try_acquire(|| clock.now())?;
    Ok(BulkheadGuard::new(bulkhead, clock, permit))
}

/// Runs the async operation `f` in a slot of `bulkhead`: waits for the
/// slot ([`acquire`]; a rejection returns [`Error::Rejected`] without
/// calling `f`), awaits the operation, gives the slot back with the
/// classified outcome (an adaptive limit learns from it). Dropping the
/// future, or a panic inside the operation, gives the slot back as
/// [`Outcome::Cancelled`]. The caller gets the operation's own result.
///
/// ```
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::Instant;
/// use failsafe_driver::{bulkhead, Clock, DefaultClassifier, Runtime};
/// use std::future::Ready;
///
/// #[derive(Clone, Copy)]
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Frozen {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { std::future::ready(()) }
/// }
///
/// static POOL: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
///     SharedBulkhead::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
/// let r = futures_lite::future::block_on(bulkhead::call(Frozen, &POOL, &DefaultClassifier, || async {
///     Err::<(), _>("down")
/// }));
/// assert_eq!(r.unwrap_err().into_inner(), Some("down"));
/// assert_eq!(POOL.metrics().released, 1);
/// ```
pub async fn call<R, B, K, F, Fut, T, E>(
    runtime: R,
    bulkhead: B,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    R: Runtime + Clone,
    B: BulkheadPolicy + Clone,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let guard = acquire(bulkhead, runtime).await?;
    let result = f().await;
    guard.finish(classify.classify(&result));
    result.map_err(Error::Inner)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::vec::Vec;

    use core::cell::{Cell, RefCell};
    use core::pin::pin;
    use core::time::Duration;

    use failsafe_core::RejectReason;
    use failsafe_core::bulkhead::BulkheadConfig;
    use failsafe_core::sync::CsLock;

    use super::*;

    type Pool<const Q: usize> = SharedBulkhead<Q, (), CsLock<Machine<Q>>>;

    fn pool<const Q: usize>(limit: u32, max_wait: Duration) -> Pool<Q> {
        let config = BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(max_wait)
            .build()
            .unwrap();
        SharedBulkhead::new(CsLock::new(Machine::new(config)))
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// A virtual runtime whose timers complete only once the test moves
    /// the clock past them; it logs every timer armed.
    #[derive(Default)]
    struct Virtual {
        now: Cell<Instant>,
        timers: RefCell<Vec<Instant>>,
    }

    impl Clock for Virtual {
        fn now(&self) -> Instant {
            self.now.get()
        }
    }

    struct Timer<'a> {
        rt: &'a Virtual,
        at: Instant,
    }

    impl Future for Timer<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            if self.rt.now() >= self.at {
                Poll::Ready(())
            } else {
                Poll::Pending // the test re-polls after moving the clock
            }
        }
    }

    impl<'a> Runtime for &'a Virtual {
        type Sleep = Timer<'a>;
        fn sleep_until(&self, at: Instant) -> Timer<'a> {
            self.timers.borrow_mut().push(at);
            Timer { rt: self, at }
        }
    }

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_once<F: Future>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
        fut.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_wait_nobody_ends_expires_exactly_at_its_deadline() {
        let rt = Virtual::default();
        let pool: Pool<4> = pool(1, Duration::from_millis(100));
        let held = try_acquire(&pool, &rt).unwrap();
        rt.now.set(ms(10));
        let mut wait = pin!(acquire(&pool, &rt));
        assert!(poll_once(wait.as_mut(), Waker::noop()).is_pending());
        assert_eq!(*rt.timers.borrow(), [ms(110)]);
        rt.now.set(Instant::from_nanos(ms(110).as_nanos() - 1));
        assert!(poll_once(wait.as_mut(), Waker::noop()).is_pending());
        assert_eq!(rt.timers.borrow().len(), 1, "the same timer, not a new one");
        rt.now.set(ms(110));
        match poll_once(wait.as_mut(), Waker::noop()) {
            Poll::Ready(Err(r)) => assert_eq!(r.reason, RejectReason::BulkheadWaitExpired),
            other => panic!("{other:?}"),
        }
        drop(held);
        let m = pool.metrics();
        assert_eq!((m.in_flight, m.expired, m.queued), (0, 1, 0));
    }

    #[test]
    fn a_release_wakes_the_waiter_which_collects_the_slot() {
        let rt = Virtual::default();
        let pool: Pool<4> = pool(1, Duration::from_secs(1));
        let held = try_acquire(&pool, &rt).unwrap();
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut wait = pin!(acquire(&pool, &rt));
        assert!(poll_once(wait.as_mut(), &waker).is_pending());
        rt.now.set(ms(5));
        held.finish(Outcome::Success);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken by the release");
        let Poll::Ready(Ok(guard)) = poll_once(wait.as_mut(), &waker) else {
            panic!("the granted slot is collected")
        };
        assert_eq!(guard.permit().unwrap().in_flight(), 1);
        guard.finish(Outcome::Success);
        assert_eq!(pool.metrics().in_flight, 0);
    }

    #[test]
    fn dropping_a_waiting_or_granted_future_leaks_nothing() {
        let rt = Virtual::default();
        let pool: Pool<4> = pool(1, Duration::from_secs(1));
        let held = try_acquire(&pool, &rt).unwrap();
        {
            let mut wait = pin!(acquire(&pool, &rt));
            assert!(poll_once(wait.as_mut(), Waker::noop()).is_pending());
            assert_eq!(pool.metrics().queued, 1);
        }
        assert_eq!(pool.metrics().queued, 0, "dropped while waiting: cancelled");
        {
            let mut wait = pin!(acquire(&pool, &rt));
            assert!(poll_once(wait.as_mut(), Waker::noop()).is_pending());
            drop(held); // the slot is granted to the waiter ...
            assert_eq!(pool.metrics().in_flight, 1);
        } // ... which is dropped before collecting it
        let m = pool.metrics();
        assert_eq!((m.in_flight, m.queued, m.cancelled), (0, 0, 2));
        assert_eq!(m.acquired, m.released);
    }

    #[test]
    fn waiters_behind_the_first_sleep_until_their_own_deadline() {
        let rt = Virtual::default();
        let pool: Pool<4> = pool(1, Duration::from_millis(100));
        let _held = try_acquire(&pool, &rt).unwrap();
        let mut first = pin!(acquire(&pool, &rt));
        assert!(poll_once(first.as_mut(), Waker::noop()).is_pending());
        rt.now.set(ms(30));
        let mut second = pin!(acquire(&pool, &rt));
        assert!(poll_once(second.as_mut(), Waker::noop()).is_pending());
        // not the first waiter's deadline (t=100): its own
        assert_eq!(*rt.timers.borrow(), [ms(100), ms(130)]);
    }

    #[test]
    fn no_wait_allowed_or_a_full_queue_rejects_at_once() {
        let rt = Virtual::default();
        let never: Pool<1> = pool(1, Duration::ZERO);
        let _held = try_acquire(&never, &rt).unwrap();
        let r = futures_lite::future::block_on(acquire(&never, &rt)).unwrap_err();
        assert_eq!(r.reason, RejectReason::BulkheadFull);

        let small: Pool<1> = pool(1, Duration::from_secs(1));
        let _held = try_acquire(&small, &rt).unwrap();
        let mut queued = pin!(acquire(&small, &rt));
        assert!(poll_once(queued.as_mut(), Waker::noop()).is_pending());
        let r = futures_lite::future::block_on(acquire(&small, &rt)).unwrap_err();
        assert_eq!(r.reason, RejectReason::BulkheadQueueFull);
        assert!(rt.timers.borrow().len() == 1, "a rejection arms no timer");
    }

    #[test]
    fn call_gives_the_slot_back_with_the_classified_outcome() {
        let rt = Virtual::default();
        let pool: Pool<1> = pool(2, Duration::ZERO);
        let r =
            futures_lite::future::block_on(call(&rt, &pool, &crate::DefaultClassifier, || async {
                assert_eq!(pool.metrics().in_flight, 1);
                Err::<(), _>("down")
            }));
        assert_eq!(r, Err(Error::Inner("down")));
        let m = pool.metrics();
        assert_eq!((m.in_flight, m.acquired, m.released), (0, 1, 1));
    }

    #[test]
    fn a_bulkhead_is_a_shared_policy_that_never_waits() {
        let rt = Virtual::default();
        let pool: Pool<1> = pool(1, Duration::from_secs(1));
        let guard = crate::PermitGuard::acquire(&pool, &rt).unwrap();
        assert!(crate::PermitGuard::acquire(&pool, &rt).is_err());
        guard.finish(Outcome::Success);
        assert_eq!(pool.metrics().in_flight, 0);
    }
}
