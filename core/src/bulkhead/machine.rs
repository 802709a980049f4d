//! The bulkhead's state machine.

use core::task::{Poll, Waker};
use core::time::Duration;

use heapless::Deque;

use crate::time::{LazyTime, Monotonic, TimeSource};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected};

use super::{
    BulkheadConfig, BulkheadEvent, BulkheadMetrics, BulkheadPermit, FixedLimit, LimitAlgorithm,
    Ticket,
};

/// One place in the wait queue.
#[derive(Debug)]
struct Waiter {
    id: u64,
    enqueued_at: Instant,
    /// When the caller's own bounds end its wait (its deadline, the
    /// `max_wait` it asked for; [`Instant::MAX`]: none), if before the
    /// bulkhead's `max_wait` does.
    gives_up_at: Instant,
    /// The waker of the latest poll; taken when a wake-up is owed.
    waker: Option<Waker>,
    /// Once a slot is granted: the slots taken at that moment, this one
    /// included. `None` while waiting.
    granted: Option<u32>,
}

/// A bulkhead with a wait queue of `Q` places, reporting to observer `O`,
/// its limit set by algorithm `A` ([`FixedLimit`] unless adaptive).
///
/// Pure and clock-injected: every call takes `now` (an [`Instant`], or a
/// closure read only if the decision needs the time), nothing reads a clock,
/// sleeps or allocates. An earlier `now` than one already seen counts as no
/// time passed.
///
/// Invariants: a call is admitted only while fewer than `limit` slots are
/// taken; nobody overtakes a queued waiter (slots go to waiters in the order
/// they queued, and a newcomer is admitted at once only when nobody waits);
/// every slot comes back exactly once, through [`release`](Self::release)
/// of its permit or [`cancel`](Self::cancel) of a ticket it was granted to.
///
/// `Q` must be at least 1 (a compile-time check); for a bulkhead that never
/// queues, keep `max_wait` at zero and `Q` at 1.
///
/// ```compile_fail
/// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// let b: Bulkhead<0> = Bulkhead::new(BulkheadConfig::DEFAULT); // error: Q >= 1
/// ```
///
/// `Q` defaults to 64 (the std handles' default), so a plain `Bulkhead`
/// names it:
///
/// ```
/// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// let b: Bulkhead = Bulkhead::new(BulkheadConfig::DEFAULT);
/// # let _ = b;
/// ```
#[derive(Debug)]
pub struct Bulkhead<const Q: usize = 64, O = (), A = FixedLimit> {
    config: BulkheadConfig,
    algorithm: A,
    observer: O,
    clock: Monotonic,
    in_flight: u32,
    /// Granted waiters (not yet collected) first, then waiting ones in FIFO order.
    queue: Deque<Waiter, Q>,
    /// Entries of `queue` not granted a slot.
    waiting: usize,
    /// Wakers owed a wake-up, for the adapter to drain.
    owed: Deque<Waker, Q>,
    next_id: u64,
    acquired: u64,
    rejected: u64,
    expired: u64,
    cancelled: u64,
    released: u64,
}

impl<const Q: usize> Bulkhead<Q, (), FixedLimit> {
    /// A bulkhead with a fixed limit of `config.max_concurrent()` and no
    /// observer. `const`, so it can live in a `static`.
    ///
    /// ```
    /// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let bulkhead: Bulkhead<8> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(bulkhead.limit(), 25);
    /// ```
    pub const fn new(config: BulkheadConfig) -> Self {
        Self::with_parts(config, FixedLimit::new(config.max_concurrent), ())
    }
}

impl<const Q: usize, O: Observer<BulkheadEvent>> Bulkhead<Q, O, FixedLimit> {
    /// A fixed-limit bulkhead that reports every event to `observer`.
    ///
    /// ```
    /// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, BulkheadEvent};
    /// use failsafe_core::{FnObserver, Instant, Outcome};
    /// let mut log = Vec::new();
    /// let mut b: Bulkhead<1, _> =
    ///     Bulkhead::with_observer(BulkheadConfig::DEFAULT, FnObserver(|e| log.push(e)));
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// b.release(Instant::from_millis(1), p, Outcome::Success);
    /// drop(b);
    /// assert!(matches!(log[0], BulkheadEvent::Acquired { in_flight: 1, .. }));
    /// assert!(matches!(log[1], BulkheadEvent::Released { in_flight: 0, .. }));
    /// ```
    pub const fn with_observer(config: BulkheadConfig, observer: O) -> Self {
        Self::with_parts(config, FixedLimit::new(config.max_concurrent), observer)
    }
}

impl<const Q: usize, A: LimitAlgorithm> Bulkhead<Q, (), A> {
    /// A bulkhead whose limit is set by `algorithm`, clamped to
    /// `[1, config.max_concurrent()]`: raise `max_concurrent` to the
    /// algorithm's maximum (the default of 25 would cap [`Aimd`](super::Aimd)'s 200).
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::bulkhead::{Aimd, Bulkhead, BulkheadConfig};
    /// use failsafe_core::{Instant, Outcome};
    ///
    /// let config = BulkheadConfig::builder().max_concurrent(200).build().unwrap();
    /// let mut b: Bulkhead<1, (), Aimd> = Bulkhead::adaptive(config, Aimd::DEFAULT);
    /// assert_eq!(b.limit(), 20);
    /// let permits: Vec<_> = (0..20).map(|_| b.try_acquire(Instant::ZERO).unwrap()).collect();
    /// for p in permits {
    ///     b.release(Instant::from_millis(5), p, Outcome::Success);
    /// }
    /// // the 11 calls admitted with at least half the limit in flight grew it by one each
    /// assert_eq!(b.limit(), 31);
    /// ```
    pub const fn adaptive(config: BulkheadConfig, algorithm: A) -> Self {
        Self::with_parts(config, algorithm, ())
    }
}

impl<const Q: usize, O: Observer<BulkheadEvent>, A: LimitAlgorithm> Bulkhead<Q, O, A> {
    /// A bulkhead from all its parts: configuration, limit algorithm, observer.
    ///
    /// ```
    /// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Vegas};
    /// let b: Bulkhead<16, (), Vegas> = Bulkhead::with_parts(BulkheadConfig::DEFAULT, Vegas::DEFAULT, ());
    /// assert_eq!(b.limit(), 20);
    /// ```
    pub const fn with_parts(config: BulkheadConfig, algorithm: A, observer: O) -> Self {
        const {
            assert!(
                Q > 0,
                "a bulkhead's queue needs Q >= 1; to never queue, keep max_wait at zero"
            )
        };
        Bulkhead {
            config,
            algorithm,
            observer,
            clock: Monotonic::new(),
            in_flight: 0,
            queue: Deque::new(),
            waiting: 0,
            owed: Deque::new(),
            next_id: 1,
            acquired: 0,
            rejected: 0,
            expired: 0,
            cancelled: 0,
            released: 0,
        }
    }

    /// The latest time seen (the clock contract's "latest").
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }

    /// May a call start at `now`? Never queues: with every slot taken, or
    /// anyone queued (nobody overtakes a waiter), it is rejected with
    /// [`RejectReason::BulkheadFull`] (no `retry_at`: when a slot comes back
    /// is not known). The permit must come back through
    /// [`release`](Self::release).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome, RejectReason};
    /// let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
    /// let mut b: Bulkhead<1> = Bulkhead::new(config);
    /// let permit = b.try_acquire(Instant::ZERO).unwrap();
    /// let rejected = b.try_acquire(Instant::from_millis(1)).unwrap_err();
    /// assert_eq!((rejected.reason, rejected.retry_at), (RejectReason::BulkheadFull, None));
    /// b.release(Instant::from_millis(2), permit, Outcome::Success);
    /// assert!(b.try_acquire(Instant::from_millis(3)).is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RejectReason::BulkheadFull`], `retry_at: None`, if every slot is
    ///   taken or anyone is queued.
    #[inline]
    pub fn try_acquire(&mut self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected> {
        let mut time = LazyTime::new(now, &mut self.clock);
        if self.waiting > 0 {
            let now = time.get(&mut self.clock);
            self.expire(now, 0);
        }
        if let Some(permit) = self.admit(&mut time) {
            return Ok(permit);
        }
        let now = time.get(&mut self.clock);
        Err(self.reject(now, RejectReason::BulkheadFull))
    }

    /// The shared verb of every machine: the same as
    /// [`try_acquire`](Self::try_acquire) (never queues).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let permit = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::from_millis(1), permit, Outcome::Success);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    #[inline]
    pub fn acquire(&mut self, now: impl TimeSource) -> Result<BulkheadPermit, Rejected> {
        self.try_acquire(now)
    }

    /// Acquires a slot, waiting in the queue if need be: the one poll for
    /// blocking and async callers.
    ///
    /// - With an idle `ticket`: admitted at once (`Ready(Ok)`) if a slot is
    ///   free and nobody is queued; otherwise queued at the back
    ///   (`Pending`, the ticket now holds the place), or rejected
    ///   (`Ready(Err)`) with [`RejectReason::BulkheadFull`] when
    ///   `max_wait` is zero, [`RejectReason::BulkheadQueueFull`] when all `Q`
    ///   places are taken (waiters, and granted slots not yet collected).
    /// - With a queued `ticket`: `Ready(Ok)` once a slot was granted to it,
    ///   `Ready(Err)` with [`RejectReason::BulkheadWaitExpired`] once its
    ///   `max_wait` has passed, `Pending` meanwhile.
    ///
    /// `waker` (cloned, only if it would not wake the same task as the one
    /// stored) is owed a wake-up when the waiter is granted a slot or
    /// expires: see [`pop_waker`](Self::pop_waker). A blocking caller passes
    /// `None` and polls again after sleeping, at the latest at
    /// [`next_deadline`](Self::next_deadline). When `Ready` is returned the
    /// ticket is idle again.
    ///
    /// ```
    /// # use core::task::{Poll, Waker};
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome, RejectReason};
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_millis(10)).build().unwrap();
    /// let mut b: Bulkhead<1> = Bulkhead::new(config);
    /// let (mut first, mut second, mut third) = (Ticket::new(), Ticket::new(), Ticket::new());
    /// let Poll::Ready(Ok(p)) = b.poll_acquire(Instant::ZERO, &mut first, None) else { panic!() };
    /// assert!(b.poll_acquire(Instant::ZERO, &mut second, Some(Waker::noop())).is_pending());
    /// let Poll::Ready(Err(full)) = b.poll_acquire(Instant::ZERO, &mut third, None) else { panic!() };
    /// assert_eq!(full.reason, RejectReason::BulkheadQueueFull);
    /// // at t=10 the second caller's wait runs out
    /// let Poll::Ready(Err(expired)) = b.poll_acquire(Instant::from_millis(10), &mut second, None) else { panic!() };
    /// assert_eq!(expired.reason, RejectReason::BulkheadWaitExpired);
    /// # b.release(Instant::from_millis(11), p, Outcome::Success);
    /// ```
    ///
    /// # Errors
    ///
    /// `Ready(Err)`, always with `retry_at: None`:
    /// - idle ticket: [`RejectReason::BulkheadFull`] if no slot is free (or
    ///   anyone is queued) and `max_wait` is zero;
    ///   [`RejectReason::BulkheadQueueFull`] if all `Q` places are taken;
    /// - queued ticket: [`RejectReason::BulkheadWaitExpired`] once its
    ///   `max_wait` has passed (also for a ticket no longer in the queue).
    pub fn poll_acquire(
        &mut self,
        now: impl TimeSource,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
    ) -> Poll<Result<BulkheadPermit, Rejected>> {
        self.poll_acquire_until(now, ticket, waker, Instant::MAX)
    }

    /// [`poll_acquire`](Self::poll_acquire) for a caller whose own bounds
    /// (its deadline, the `max_wait` it asked for) end its wait at
    /// `gives_up_at` if before the bulkhead's `max_wait`: it is never
    /// granted a slot at or after that instant, and expires there as at its
    /// `max_wait` ([`RejectReason::BulkheadWaitExpired`]); a caller that
    /// would queue with `gives_up_at` already come is refused at once
    /// ([`RejectReason::DeadlineTooShort`]). The admission contract's
    /// `enter` passes the call's bounds.
    pub(crate) fn poll_acquire_until(
        &mut self,
        now: impl TimeSource,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
        gives_up_at: Instant,
    ) -> Poll<Result<BulkheadPermit, Rejected>> {
        let mut time = LazyTime::new(now, &mut self.clock);
        if ticket.id == 0 {
            return self.poll_new(&mut time, ticket, waker, gives_up_at);
        }
        let now = time.get(&mut self.clock);
        let id = ticket.id;
        self.expire(now, id);
        let Some(i) = self.position(id) else {
            // Not in the queue: its wait ran out (here or in an earlier call).
            ticket.id = 0;
            return Poll::Ready(Err(Rejected::new(RejectReason::BulkheadWaitExpired, None)));
        };
        let granted = match self.queue.get_mut(i) {
            Some(entry) => match entry.granted {
                Some(in_flight) => Some(in_flight),
                None => {
                    store_waker(&mut entry.waker, waker);
                    None
                }
            },
            None => None,
        };
        match granted {
            Some(in_flight) => {
                let _ = self.remove_at(i);
                ticket.id = 0;
                Poll::Ready(Ok(BulkheadPermit {
                    issued_at: now,
                    in_flight,
                }))
            }
            None => Poll::Pending,
        }
    }

    /// Gives up a ticket's place in the queue (a dropped future, a caller
    /// that stopped waiting); the ticket is idle afterwards. If a slot had
    /// already been granted to it, the slot goes on to the next waiter (or
    /// back to the pool), so nothing leaks. A no-op for an idle ticket, or
    /// one whose wait already ran out, so adapters may call it
    /// unconditionally from `Drop`. Reads the clock only to hand a slot on.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use core::task::Waker;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_secs(1)).build().unwrap();
    /// let mut b: Bulkhead<2> = Bulkhead::new(config);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// let mut ticket = Ticket::new();
    /// assert!(b.poll_acquire(Instant::ZERO, &mut ticket, Some(Waker::noop())).is_pending());
    /// b.release(Instant::from_millis(5), p, Outcome::Success); // the slot is granted to the ticket...
    /// assert_eq!(b.in_flight(), 1);
    /// b.cancel(Instant::from_millis(6), &mut ticket); // ...whose owner has gone: the slot comes back
    /// assert_eq!(b.in_flight(), 0);
    /// ```
    pub fn cancel(&mut self, now: impl TimeSource, ticket: &mut Ticket) {
        let id = core::mem::take(&mut ticket.id);
        if id == 0 {
            return;
        }
        // The clock contract: a time handed in counts as seen, whatever
        // the cancel then does (a later `now` that steps back reads as it).
        let now = LazyTime::new(now, &mut self.clock).get(&mut self.clock);
        let Some(i) = self.position(id) else {
            return;
        };
        let Some(entry) = self.remove_at(i) else {
            return;
        };
        self.cancelled = self.cancelled.saturating_add(1);
        let granted = entry.granted.is_some();
        self.observer.on_event(BulkheadEvent::Cancelled { granted });
        if granted {
            self.in_flight = self.in_flight.saturating_sub(1);
            self.released = self.released.saturating_add(1);
            if self.waiting > 0 {
                self.expire(now, 0);
                self.grant(now);
            }
        } else {
            self.waiting = self.waiting.saturating_sub(1);
        }
    }

    /// Gives back the slot of `permit`, whose call ended at `now` with
    /// `outcome`, and grants it to the first waiter (owing that waiter a
    /// wake-up: drain [`pop_waker`](Self::pop_waker) afterwards).
    ///
    /// An adaptive algorithm gets a sample first: `rtt = now -
    /// permit.issued_at()`, `dropped` for [`Outcome::Failure`] and
    /// [`Outcome::Timeout`]; cancelled and ignored calls take no sample.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let permit = b.try_acquire(Instant::ZERO).unwrap();
    /// assert_eq!(b.in_flight(), 1);
    /// b.release(Instant::from_millis(3), permit, Outcome::Failure);
    /// assert_eq!(b.in_flight(), 0);
    /// ```
    #[inline]
    pub fn release(&mut self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        let mut time = LazyTime::new(now, &mut self.clock);
        self.in_flight = self.in_flight.saturating_sub(1);
        self.released = self.released.saturating_add(1);
        self.observer.on_event(BulkheadEvent::Released {
            outcome,
            in_flight: self.in_flight,
        });
        if A::ADAPTIVE && outcome.counts() {
            let now = time.get(&mut self.clock);
            let from = self.limit();
            let rtt = now.saturating_duration_since(permit.issued_at);
            let _ = self
                .algorithm
                .on_sample(now, rtt, permit.in_flight, outcome.is_failure());
            self.limit_changed(from);
        }
        if self.waiting > 0 {
            let now = time.get(&mut self.clock);
            self.expire(now, 0);
            self.grant(now);
        }
    }

    /// The shared verb of every machine: the same as [`release`](Self::release).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let permit = b.acquire(Instant::ZERO).unwrap();
    /// b.record(Instant::from_millis(1), permit, Outcome::Cancelled);
    /// assert_eq!(b.in_flight(), 0);
    /// ```
    #[inline]
    pub fn record(&mut self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        self.release(now, permit, outcome)
    }

    /// Sets the limit by hand, clamped to `[1, max_concurrent]` (and to an
    /// adaptive algorithm's bounds; the algorithm carries on from there).
    /// Returns the limit in force. Lowering it below the slots taken admits
    /// nobody until enough come back; raising it grants slots to waiters.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::Instant;
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(b.set_limit(Instant::ZERO, 10), 10);
    /// assert_eq!(b.set_limit(Instant::ZERO, 0), 1);
    /// assert_eq!(b.set_limit(Instant::ZERO, 1_000), 25); // max_concurrent is the ceiling
    /// ```
    pub fn set_limit(&mut self, now: impl TimeSource, limit: u32) -> u32 {
        let from = self.limit();
        let _ = self
            .algorithm
            .set_limit(clamp_u32(limit, 1, self.config.max_concurrent));
        let to = self.limit_changed(from);
        if to > from && self.waiting > 0 {
            let mut time = LazyTime::new(now, &mut self.clock);
            let now = time.get(&mut self.clock);
            self.expire(now, 0);
            self.grant(now);
        }
        to
    }

    /// Replaces the configuration at `now` (resilience4j's
    /// `Bulkhead::changeConfig`): the static limit change. Returns the limit
    /// in force afterwards.
    ///
    /// - A fixed limit becomes the new `max_concurrent`, whatever
    ///   [`set_limit`](Self::set_limit) set before; an adaptive one keeps its
    ///   algorithm's limit, clamped to the new `max_concurrent`.
    /// - Calls holding a slot keep it and give it back as usual: lowering
    ///   the limit below the slots taken admits nobody until enough come
    ///   back ([`in_flight`](Self::in_flight) may exceed the limit until
    ///   then); raising it grants the free slots to waiters at once, in the
    ///   order they queued.
    /// - Waiters keep their place; each one's wait ends `max_wait` (the new
    ///   one) after it queued: a shorter `max_wait` expires at `now` those
    ///   who have waited longer (each is owed a wake-up and sees
    ///   [`RejectReason::BulkheadWaitExpired`]).
    ///
    /// Reports [`BulkheadEvent::LimitChanged`] if the limit moved.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome};
    /// let two = BulkheadConfig::builder().max_concurrent(2).max_wait(Duration::from_secs(1)).build().unwrap();
    /// let mut b: Bulkhead<4> = Bulkhead::new(two);
    /// let (p1, p2) = (b.try_acquire(Instant::ZERO).unwrap(), b.try_acquire(Instant::ZERO).unwrap());
    /// let mut ticket = Ticket::new();
    /// assert!(b.poll_acquire(Instant::ZERO, &mut ticket, None).is_pending());
    /// // three slots: the waiter gets the new one at once
    /// let three = BulkheadConfig::builder().max_concurrent(3).max_wait(Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(b.change_config(Instant::from_millis(1), three), 3);
    /// assert_eq!((b.in_flight(), b.queued()), (3, 0));
    /// // one slot: the three calls out keep theirs
    /// let one = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
    /// assert_eq!(b.change_config(Instant::from_millis(2), one), 1);
    /// assert_eq!(b.in_flight(), 3);
    /// # let core::task::Poll::Ready(Ok(p3)) = b.poll_acquire(Instant::from_millis(3), &mut ticket, None) else { panic!() };
    /// for p in [p1, p2, p3] {
    ///     b.release(Instant::from_millis(4), p, Outcome::Success);
    /// }
    /// assert_eq!(b.in_flight(), 0);
    /// ```
    pub fn change_config(&mut self, now: impl TimeSource, config: BulkheadConfig) -> u32 {
        let mut time = LazyTime::new(now, &mut self.clock);
        let now = time.get(&mut self.clock);
        let from = self.limit();
        self.config = config;
        if !A::ADAPTIVE {
            let _ = self.algorithm.set_limit(config.max_concurrent);
        }
        let to = self.limit_changed(from);
        if self.waiting > 0 {
            self.expire(now, 0);
            self.grant(now);
        }
        to
    }

    /// When the driver must call [`on_deadline`](Self::on_deadline) even if
    /// nothing else happens: the end of the first waiter's `max_wait`.
    /// `None` with nobody waiting (or waits without end). A soft deadline:
    /// calling earlier is harmless. Changes after every call.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_millis(30)).build().unwrap();
    /// let mut b: Bulkhead<4> = Bulkhead::new(config);
    /// assert_eq!(b.next_deadline(), None);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// let mut ticket = Ticket::new();
    /// let _ = b.poll_acquire(Instant::from_millis(5), &mut ticket, None);
    /// assert_eq!(b.next_deadline(), Some(Instant::from_millis(35)));
    /// # b.release(Instant::from_millis(6), p, Outcome::Success);
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        // The first waiter's, unless a later one's own bounds come first.
        let deadline = self
            .queue
            .iter()
            .filter(|w| w.granted.is_none())
            .map(|w| self.wait_ends_at(w))
            .min()?;
        (deadline != Instant::MAX).then_some(deadline)
    }

    /// Expires every waiter whose `max_wait` ended by `now`: each is owed a
    /// wake-up ([`pop_waker`](Self::pop_waker)) and its next
    /// [`poll_acquire`](Self::poll_acquire) returns
    /// [`RejectReason::BulkheadWaitExpired`]. Spurious calls are no-ops.
    ///
    /// ```
    /// # use core::task::{Poll, Waker};
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome, RejectReason};
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_millis(30)).build().unwrap();
    /// let mut b: Bulkhead<4> = Bulkhead::new(config);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// let mut ticket = Ticket::new();
    /// let _ = b.poll_acquire(Instant::ZERO, &mut ticket, Some(Waker::noop()));
    /// b.on_deadline(Instant::from_millis(29));
    /// assert_eq!(b.queued(), 1);
    /// b.on_deadline(Instant::from_millis(30));
    /// assert_eq!(b.queued(), 0);
    /// assert!(b.pop_waker().is_some()); // wake it so it sees the rejection
    /// let Poll::Ready(Err(r)) = b.poll_acquire(Instant::from_millis(31), &mut ticket, None) else { panic!() };
    /// assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    /// # b.release(Instant::from_millis(32), p, Outcome::Success);
    /// ```
    pub fn on_deadline(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.expire(now, 0);
    }

    /// The next waker owed a wake-up (its waiter was granted a slot, or its
    /// wait expired), oldest first. Drain it after every call that takes
    /// `now`, and wake outside your lock.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use core::task::Waker;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_secs(1)).build().unwrap();
    /// let mut b: Bulkhead<2> = Bulkhead::new(config);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// let mut ticket = Ticket::new();
    /// let _ = b.poll_acquire(Instant::ZERO, &mut ticket, Some(Waker::noop()));
    /// assert!(b.pop_waker().is_none()); // nothing owed yet
    /// b.release(Instant::from_millis(1), p, Outcome::Success);
    /// let mut woken = Vec::new();
    /// while let Some(w) = b.pop_waker() { woken.push(w) }
    /// woken.into_iter().for_each(Waker::wake); // after the lock is released
    /// # b.cancel(Instant::from_millis(2), &mut ticket);
    /// ```
    pub fn pop_waker(&mut self) -> Option<Waker> {
        self.owed.pop_front()
    }

    /// Wakes every owed waker in place and returns how many: for firmware
    /// that wakes inside its critical section (as embassy-sync does).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let mut b: Bulkhead<2> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(b.wake_pending(), 0);
    /// ```
    pub fn wake_pending(&mut self) -> usize {
        let mut n = 0;
        while let Some(w) = self.owed.pop_front() {
            w.wake();
            n += 1;
        }
        n
    }

    /// The limit in force: the algorithm's, clamped to `[1, max_concurrent]`.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let config = BulkheadConfig::builder().max_concurrent(3).build().unwrap();
    /// assert_eq!(Bulkhead::<1>::new(config).limit(), 3);
    /// ```
    #[inline]
    pub fn limit(&self) -> u32 {
        clamp_u32(self.algorithm.limit(), 1, self.config.max_concurrent)
    }

    /// Slots taken: calls running plus slots granted to waiters that have not
    /// collected them yet. May exceed [`limit`](Self::limit) right after the
    /// limit was lowered.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// assert_eq!(b.in_flight(), 1);
    /// # b.release(Instant::ZERO, p, Outcome::Success);
    /// ```
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Free slots: `limit - in_flight`, or zero.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// assert_eq!(b.available(), 24);
    /// # b.release(Instant::ZERO, p, Outcome::Success);
    /// ```
    pub fn available(&self) -> u32 {
        self.limit().saturating_sub(self.in_flight)
    }

    /// Waiters queued for a slot (not yet granted one), as of the last call.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b: Bulkhead<4> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(b.queued(), 0);
    /// ```
    pub const fn queued(&self) -> usize {
        self.waiting
    }

    /// A snapshot of the counts, as of the last call (no time passes).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
    /// let mut b: Bulkhead<1> = Bulkhead::new(config);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// assert!(b.try_acquire(Instant::ZERO).is_err());
    /// b.release(Instant::ZERO, p, Outcome::Success);
    /// let m = b.metrics();
    /// assert_eq!((m.acquired, m.rejected, m.released, m.in_flight), (1, 1, 1, 0));
    /// ```
    pub fn metrics(&self) -> BulkheadMetrics {
        BulkheadMetrics {
            in_flight: self.in_flight,
            limit: self.limit(),
            queued: self.waiting,
            acquired: self.acquired,
            rejected: self.rejected,
            expired: self.expired,
            cancelled: self.cancelled,
            released: self.released,
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(*b.config(), BulkheadConfig::DEFAULT);
    /// ```
    pub const fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    /// The limit algorithm, e.g. to read its state.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Vegas};
    /// let b: Bulkhead<1, (), Vegas> = Bulkhead::adaptive(BulkheadConfig::DEFAULT, Vegas::DEFAULT);
    /// assert_eq!(b.algorithm().rtt_noload(), None);
    /// ```
    pub const fn algorithm(&self) -> &A {
        &self.algorithm
    }

    /// The observer, e.g. to read what it collected.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let () = *b.observer();
    /// ```
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, mutably.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let () = *b.observer_mut();
    /// ```
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    // ------------------------------------------------------------ internals

    /// An idle ticket's poll: admit, queue or reject.
    fn poll_new<T: TimeSource>(
        &mut self,
        time: &mut LazyTime<T>,
        ticket: &mut Ticket,
        waker: Option<&Waker>,
        gives_up_at: Instant,
    ) -> Poll<Result<BulkheadPermit, Rejected>> {
        if self.waiting > 0 {
            let now = time.get(&mut self.clock);
            self.expire(now, 0);
        }
        if let Some(permit) = self.admit(time) {
            return Poll::Ready(Ok(permit));
        }
        let now = time.get(&mut self.clock);
        if self.config.max_wait_nanos == 0 {
            return Poll::Ready(Err(self.reject(now, RejectReason::BulkheadFull)));
        }
        if gives_up_at != Instant::MAX && now >= gives_up_at {
            // Its own bounds have come: no place taken from a live caller
            // (`Instant::MAX`: none, even at the end of time).
            return Poll::Ready(Err(self.reject(now, RejectReason::DeadlineTooShort)));
        }
        let id = self.next_id;
        let waiter = Waiter {
            id,
            enqueued_at: now,
            gives_up_at,
            waker: waker.cloned(),
            granted: None,
        };
        if self.queue.push_back(waiter).is_err() {
            return Poll::Ready(Err(self.reject(now, RejectReason::BulkheadQueueFull)));
        }
        // u64 ids never wrap in practice; 0 stays reserved for "idle" if they do.
        self.next_id = match self.next_id.wrapping_add(1) {
            0 => 1,
            n => n,
        };
        self.waiting += 1;
        ticket.id = id;
        self.observer.on_event(BulkheadEvent::Queued {
            at: now,
            queued: self.waiting,
        });
        Poll::Pending
    }

    /// Whether a shared handle may admit and take back slots without the
    /// lock (see [`Admission::slot_gate`](crate::admission::Admission::slot_gate)):
    /// `(limit, in_flight)` while the limit is fixed, the observer silent
    /// (events are not emitted lock-free) and nobody is queued.
    #[inline]
    pub(super) fn slot_gate(&self) -> Option<(u32, u32)> {
        if A::ADAPTIVE || !self.observer.is_silent() || !self.queue.is_empty() {
            return None;
        }
        Some((self.limit(), self.in_flight))
    }

    /// Hands the machine what a shared handle's slot word counted:
    /// `admitted` calls admitted, `in_flight` slots taken now (the others
    /// came back through exits), none later than `latest`.
    pub(super) fn absorb_slots(&mut self, admitted: u32, in_flight: u32, latest: Instant) {
        self.clock.observe(latest);
        let released = self
            .in_flight
            .saturating_add(admitted)
            .saturating_sub(in_flight);
        self.in_flight = in_flight;
        self.acquired = self.acquired.saturating_add(u64::from(admitted));
        self.released = self.released.saturating_add(u64::from(released));
    }

    /// Takes a slot if one is free and nobody waits.
    #[inline]
    fn admit<T: TimeSource>(&mut self, time: &mut LazyTime<T>) -> Option<BulkheadPermit> {
        let limit = self.limit();
        if self.waiting > 0 || self.in_flight >= limit {
            return None;
        }
        self.in_flight += 1; // < limit <= u32::MAX: no overflow
        self.acquired = self.acquired.saturating_add(1);
        // The start time matters only to an adaptive limit (rtt samples).
        let issued_at = if A::ADAPTIVE {
            time.get(&mut self.clock)
        } else {
            self.clock.latest()
        };
        self.observer.on_event(BulkheadEvent::Acquired {
            in_flight: self.in_flight,
            limit,
            waited: Duration::ZERO,
        });
        Some(BulkheadPermit {
            issued_at,
            in_flight: self.in_flight,
        })
    }

    fn reject(&mut self, now: Instant, reason: RejectReason) -> Rejected {
        let rejected = Rejected::new(reason, None);
        self.rejected = self.rejected.saturating_add(1);
        self.observer
            .on_event(BulkheadEvent::Rejected { at: now, rejected });
        rejected
    }

    /// Removes waiters whose wait ended by `now`, owing each a wake-up
    /// (except `quiet`, the one polling right now). A caller's own bounds
    /// may end a later waiter's wait first: every waiter is looked at.
    fn expire(&mut self, now: Instant, quiet: u64) {
        while self.waiting > 0 {
            let due = self.queue.iter().enumerate().find_map(|(i, w)| {
                let deadline = self.wait_ends_at(w);
                let due = w.granted.is_none() && deadline != Instant::MAX && now >= deadline;
                due.then_some((i, deadline))
            });
            let Some((i, deadline)) = due else {
                return;
            };
            let Some(waiter) = self.remove_at(i) else {
                return;
            };
            self.waiting -= 1;
            self.expired = self.expired.saturating_add(1);
            self.observer
                .on_event(BulkheadEvent::WaitExpired { at: deadline });
            if waiter.id != quiet
                && let Some(waker) = waiter.waker
            {
                self.owe(waker);
            }
        }
    }

    /// Grants free slots to waiters, first come first served.
    fn grant(&mut self, now: Instant) {
        let limit = self.limit();
        while self.waiting > 0 && self.in_flight < limit {
            let Some(i) = self.first_waiting() else {
                return;
            };
            let in_flight = self.in_flight + 1;
            let Some(entry) = self.queue.get_mut(i) else {
                return;
            };
            entry.granted = Some(in_flight);
            let waited = now.saturating_duration_since(entry.enqueued_at);
            let waker = entry.waker.take();
            self.in_flight = in_flight;
            self.waiting -= 1;
            self.acquired = self.acquired.saturating_add(1);
            self.observer.on_event(BulkheadEvent::Acquired {
                in_flight,
                limit,
                waited,
            });
            if let Some(waker) = waker {
                self.owe(waker);
            }
        }
    }

    /// Emits `LimitChanged` if the limit moved from `from`; returns the limit.
    fn limit_changed(&mut self, from: u32) -> u32 {
        let to = self.limit();
        if to != from {
            self.observer
                .on_event(BulkheadEvent::LimitChanged { from, to });
        }
        to
    }

    /// Queues a wake-up for the adapter; wakes in place rather than lose it
    /// if the adapter has let `Q` of them pile up.
    fn owe(&mut self, waker: Waker) {
        if let Err(waker) = self.owed.push_back(waker) {
            waker.wake();
        }
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.queue.iter().position(|w| w.id == id)
    }

    /// Granted entries come first, so this is the oldest waiter.
    fn first_waiting(&self) -> Option<usize> {
        if self.waiting == 0 {
            return None;
        }
        self.queue.iter().position(|w| w.granted.is_none())
    }

    /// When a waiter's wait ends: the bulkhead's `max_wait` after it
    /// queued, or its own bounds if sooner.
    fn wait_ends_at(&self, w: &Waiter) -> Instant {
        w.enqueued_at
            .saturating_add(Duration::from_nanos(self.config.max_wait_nanos))
            .min(w.gives_up_at)
    }

    /// When the wait of the call holding `ticket` ends ([`Self::wait_ends_at`]),
    /// if it is still queued.
    pub(super) fn queued_until(&self, ticket: &Ticket) -> Option<Instant> {
        let id = ticket.id;
        let waiter = self.queue.iter().find(|w| w.id == id && id != 0)?;
        Some(self.wait_ends_at(waiter))
    }

    /// Removes entry `i`, keeping the others in order: one turn of the
    /// queue, each entry popped and pushed back but the one taken. (Not
    /// `swap`s towards the front: their bounds checks stay in the code, a
    /// panic path a firmware linked with `panic-never` cannot have.)
    fn remove_at(&mut self, i: usize) -> Option<Waiter> {
        let mut taken = None;
        for j in 0..self.queue.len() {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            if j == i {
                taken = Some(waiter);
            } else {
                // Room: an entry was just popped.
                let _ = self.queue.push_back(waiter);
            }
        }
        taken
    }
}

/// Keeps the stored waker if it wakes the same task, else stores a clone.
fn store_waker(slot: &mut Option<Waker>, waker: Option<&Waker>) {
    match (slot.as_ref(), waker) {
        (Some(old), Some(new)) if old.will_wake(new) => {}
        (_, new) => *slot = new.cloned(),
    }
}

const fn clamp_u32(x: u32, lo: u32, hi: u32) -> u32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}
