//! Bulkhead: at most `limit` calls in flight at once, a bounded FIFO queue of
//! callers waiting for a slot, and optionally a limit that adapts to the
//! dependency's latency ([`Aimd`], [`Vegas`], [`Gradient2`]).
//!
//! ```text
//!   try_acquire / poll_acquire ──▶ slot free and nobody queued? ──yes──▶ permit
//!                                        │ no
//!                        max_wait > 0 and room in the queue? ──no──▶ BulkheadFull / BulkheadQueueFull
//!                                        │ yes
//!                                    queued (FIFO) ──max_wait passed──▶ BulkheadWaitExpired
//!                                        │            ──the call's own deadline or max_wait
//!                                        │              passed (admission contract)──▶ expired too
//!                                        │ a slot came back (release, cancel, a higher limit)
//!                                    granted: the slot is reserved, the waiter is woken,
//!                                    its next poll_acquire returns the permit
//! ```
//!
//! A timeline (two slots, a queue of two, a 100 ms wait):
//!
//! ```
//! use core::task::{Poll, Waker};
//! use core::time::Duration;
//! use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
//! use failsafe_core::{Instant, Outcome, RejectReason};
//!
//! let config = BulkheadConfig::builder()
//!     .max_concurrent(2)
//!     .max_wait(Duration::from_millis(100))
//!     .build()
//!     .unwrap();
//! let mut bulkhead: Bulkhead<2> = Bulkhead::new(config);
//! let t = Instant::from_millis;
//! // at t=0 two calls take both slots
//! let a = bulkhead.try_acquire(t(0)).unwrap();
//! let b = bulkhead.try_acquire(t(0)).unwrap();
//! // at t=10 a third caller queues; try_acquire never queues
//! let mut ticket = Ticket::new();
//! assert!(bulkhead.poll_acquire(t(10), &mut ticket, Some(Waker::noop())).is_pending());
//! assert_eq!(bulkhead.try_acquire(t(10)).unwrap_err().reason, RejectReason::BulkheadFull);
//! assert_eq!(bulkhead.next_deadline(), Some(t(110))); // its wait ends at t=110
//! // at t=50 a slot comes back and goes to the waiter, who is owed a wake-up
//! bulkhead.release(t(50), a, Outcome::Success);
//! let waker = bulkhead.pop_waker().expect("the waiter's waker");
//! waker.wake(); // outside any lock the adapter holds
//! let Poll::Ready(Ok(c)) = bulkhead.poll_acquire(t(51), &mut ticket, None) else { panic!() };
//! bulkhead.release(t(60), b, Outcome::Success);
//! bulkhead.release(t(70), c, Outcome::Success);
//! assert_eq!(bulkhead.in_flight(), 0);
//! ```
//!
//! ## One poll for blocking and async callers
//!
//! [`Bulkhead::poll_acquire`] serves both (the embassy-sync way): an async
//! caller passes its task's waker and returns `Pending`; a blocking caller
//! passes `None` and polls again after sleeping (until
//! [`next_deadline`](Bulkhead::next_deadline) at the latest). The caller's
//! place in the queue is its [`Ticket`]; a caller that gives up (a dropped
//! future) must [`cancel`](Bulkhead::cancel) it, which also hands on a slot
//! already granted to it. Through the [admission contract](crate::admission)
//! a call's own deadline and `max_wait` bound its wait too: it is never
//! granted a slot past them, and a freed slot goes to the next live waiter.
//!
//! ## Waking: owed wakers, drained by the adapter
//!
//! The bulkhead never wakes a task inside its own calls. A waiter that was
//! granted a slot or whose wait expired is *owed* a wake-up: its waker moves
//! to an internal list of capacity `Q`, which the adapter drains with
//! [`pop_waker`](Bulkhead::pop_waker) after **every** call that takes `now`
//! (any of them can grant or expire waiters), and wakes outside its lock
//! (tokio style). Firmware that wakes inside its critical section (embassy
//! style) calls [`wake_pending`](Bulkhead::wake_pending) instead. Should the
//! list ever be full (an adapter that never drains), the bulkhead wakes the
//! waker in place rather than lose it.
//!
//! ## Shared use: the lock-free slot word
//!
//! Behind a [`Shared`](crate::sync::Shared) handle
//! ([`SharedBulkhead`](crate::sync::SharedBulkhead), the driver's std
//! handle and tower layer), a bulkhead with a fixed limit, a silent
//! observer ([`Observer::is_silent`](crate::Observer::is_silent)) and
//! nobody queued admits and takes slots back **without the lock**: one
//! compare-and-swap each on a word holding the limit and the slots taken
//! (as a semaphore does; see `slots.rs`). The lock closes the word before
//! every locked operation (and hands the bulkhead what the word counted) and
//! opens it again only if the bulkhead allows, so a full bulkhead queues
//! its waiter under the lock, and while anyone waits every call and every
//! release takes the lock: nobody overtakes a waiter, and a released slot
//! always reaches the machine that owes it to a waiter. An adaptive limit,
//! or an observer that listens, takes the lock on every call, as before.
//! A permit taken on the word starts at the latest time the handle knew
//! ([`BulkheadPermit::issued_at`]). The answers, permits, wake-ups and
//! metrics are exactly the bare machine's (`bulkhead_props`, the
//! bulkhead fuzz target and `loom_bulkhead` check it). Targets without
//! native 64-bit atomics (thumbv6m/v7m/v7em) have no word: every call
//! takes the lock there.
//!
//! ## Adaptive limits
//!
//! [`Bulkhead::adaptive`] takes a [`LimitAlgorithm`] and feeds it one sample
//! per [`release`](Bulkhead::release): `rtt = now - permit.issued_at()`,
//! the in-flight count when the call was admitted, and `dropped` for
//! [`Outcome::Failure`] and [`Outcome::Timeout`] (overload shows as errors
//! and timeouts, and their rtt is no measure of the dependency's speed).
//! [`Outcome::Cancelled`] and [`Outcome::Ignored`] take no sample: the call
//! was cut short or says nothing about the dependency. The limit in force is
//! the algorithm's, clamped to `[1, max_concurrent]`.

mod adaptive;
mod config;
mod contract;
mod machine;
pub(crate) mod slots;

pub use adaptive::{
    Aimd, AimdBuilder, FixedLimit, Gradient2, Gradient2Builder, LimitAlgorithm, Vegas, VegasBuilder,
};
pub use config::{BulkheadConfig, BulkheadConfigBuilder};
pub use contract::QueuedCall;
pub use machine::Bulkhead;

use core::time::Duration;

use crate::{Instant, Outcome, Rejected};

/// What a bulkhead reports to its [`Observer`](crate::Observer).
///
/// Events that can happen without the bulkhead reading the clock (a call
/// admitted or released by a fixed bulkhead with nobody queued, a limit set
/// by hand) carry no timestamp; an observer that needs one takes its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BulkheadEvent {
    /// A call took a slot: at once (`waited` zero), or handed over to a
    /// queued waiter after `waited`.
    Acquired {
        /// Slots taken, this one included.
        in_flight: u32,
        /// The limit in force.
        limit: u32,
        /// How long the caller had queued.
        waited: Duration,
    },
    /// A caller joined the wait queue.
    Queued {
        /// When.
        at: Instant,
        /// Waiters now queued, this one included.
        queued: usize,
    },
    /// A caller was turned away at once (every slot taken and no wait
    /// allowed, or the queue full).
    Rejected {
        /// When.
        at: Instant,
        /// Why.
        rejected: Rejected,
    },
    /// A waiter waited `max_wait` without getting a slot.
    WaitExpired {
        /// When its wait ran out.
        at: Instant,
    },
    /// A waiter gave up its place ([`Bulkhead::cancel`]).
    Cancelled {
        /// A slot had already been granted to it (and went on to the next
        /// waiter, or back to the pool).
        granted: bool,
    },
    /// A call gave its slot back.
    Released {
        /// How it ended.
        outcome: Outcome,
        /// Slots still taken.
        in_flight: u32,
    },
    /// The limit changed (an adaptive algorithm's sample, or by hand).
    LimitChanged {
        /// The old limit.
        from: u32,
        /// The new limit.
        to: u32,
    },
}

/// A snapshot of a bulkhead, for dashboards and health checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct BulkheadMetrics {
    /// Slots taken: calls running, plus slots granted to waiters that have
    /// not collected them yet.
    pub in_flight: u32,
    /// The limit in force.
    pub limit: u32,
    /// Waiters queued for a slot (not yet granted one).
    pub queued: usize,
    /// Slots taken since creation.
    pub acquired: u64,
    /// Callers turned away at once (full, or queue full).
    pub rejected: u64,
    /// Waiters whose wait ran out.
    pub expired: u64,
    /// Waiters that gave up their place.
    pub cancelled: u64,
    /// Slots given back: by [`Bulkhead::release`], or by
    /// [`Bulkhead::cancel`] of a ticket that had been granted one (so
    /// `in_flight == acquired - released`).
    pub released: u64,
}

/// One slot of a bulkhead. Hand it back with [`Bulkhead::release`] exactly
/// once; it is not `Clone`, so it cannot be returned twice. Adapters wrap it
/// in a guard that releases with [`Outcome::Cancelled`] on drop.
///
/// Hand it back to the bulkhead that gave it: a permit does not know its
/// bulkhead, and one released into another frees a slot there that was
/// never taken (that one admits a call too many) while its own stays taken
/// for good. The adapters' guards keep each permit with its machine.
///
/// ```compile_fail
/// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// # use failsafe_core::{Instant, Outcome};
/// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
/// let permit = b.try_acquire(Instant::ZERO).unwrap();
/// b.release(Instant::ZERO, permit.clone(), Outcome::Success); // no `clone`: a slot comes back once
/// ```
#[must_use = "a permit must be returned with `release`, or its slot is lost"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BulkheadPermit {
    issued_at: Instant,
    in_flight: u32,
}

impl BulkheadPermit {
    /// When the call started, where the bulkhead needed to know (an adaptive
    /// limit, or the permit came from the queue). Otherwise the bulkhead does
    /// not read the clock to admit a call, and this is an earlier instant it
    /// had seen (possibly the epoch).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Aimd, Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1, (), Aimd> = Bulkhead::adaptive(BulkheadConfig::DEFAULT, Aimd::DEFAULT);
    /// let p = b.try_acquire(Instant::from_millis(5)).unwrap();
    /// assert_eq!(p.issued_at(), Instant::from_millis(5));
    /// # b.release(Instant::from_millis(6), p, Outcome::Success);
    /// ```
    pub const fn issued_at(&self) -> Instant {
        self.issued_at
    }

    /// Slots taken when this one was, itself included (what an adaptive
    /// algorithm is told about the load the call ran under).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// # use failsafe_core::{Instant, Outcome};
    /// let mut b: Bulkhead<1> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let p1 = b.try_acquire(Instant::ZERO).unwrap();
    /// let p2 = b.try_acquire(Instant::ZERO).unwrap();
    /// assert_eq!((p1.in_flight(), p2.in_flight()), (1, 2));
    /// # b.release(Instant::ZERO, p1, Outcome::Success);
    /// # b.release(Instant::ZERO, p2, Outcome::Success);
    /// ```
    pub const fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// A caller's place in a bulkhead's wait queue, kept across
/// [`Bulkhead::poll_acquire`] calls (in a future's state, or on a blocking
/// caller's stack). A fresh ticket, or one whose acquisition finished, is
/// idle and may be used again.
///
/// A ticket still queued when its owner gives up must be passed to
/// [`Bulkhead::cancel`] (adapters do it from `Drop`): otherwise a slot
/// granted to it is never collected. Use a ticket only with the bulkhead
/// that queued it.
#[derive(Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ticket {
    /// The queue entry's id; 0 = idle.
    id: u64,
}

impl Ticket {
    /// An idle ticket. `const`.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::Ticket;
    /// assert!(!Ticket::new().is_queued());
    /// ```
    pub const fn new() -> Ticket {
        Ticket { id: 0 }
    }

    /// `true` while the ticket holds a place in a queue (waiting, or granted
    /// a slot not yet collected).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
    /// # use failsafe_core::Instant;
    /// let config = BulkheadConfig::builder().max_concurrent(1).max_wait(Duration::from_secs(1)).build().unwrap();
    /// let mut b: Bulkhead<4> = Bulkhead::new(config);
    /// let p = b.try_acquire(Instant::ZERO).unwrap();
    /// let mut ticket = Ticket::new();
    /// let _ = b.poll_acquire(Instant::ZERO, &mut ticket, None);
    /// assert!(ticket.is_queued());
    /// b.cancel(Instant::ZERO, &mut ticket);
    /// assert!(!ticket.is_queued());
    /// # b.release(Instant::ZERO, p, failsafe_core::Outcome::Success);
    /// ```
    pub const fn is_queued(&self) -> bool {
        self.id != 0
    }
}

#[cfg(test)]
mod tests;
