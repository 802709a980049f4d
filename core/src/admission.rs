//! The admission contract: one shape for every machine that decides whether
//! a call may start (circuit breaker, fail fast, bulkhead, rate limiters).
//!
//! A call is described once, by a [`Call`]: the time (read lazily, at most
//! once, and only if a decision needs it), the caller's [`Deadline`], a
//! weight (permits asked for) and an optional key. The machine answers with
//! an [`Entry`]:
//!
//! - [`Entry::Admitted`]: the call may start; hand the permit back with
//!   [`Admission::exit`] and the call's [`Outcome`];
//! - [`Entry::Rejected`]: it may not; the [`Rejected`] says why and when to
//!   come back (`retry_at`);
//! - [`Entry::Pending`]: it waits (a bulkhead's queue, a rate limiter's
//!   booking); poll again with [`Admission::resume`] when `recheck_at`
//!   passes or the waker given is woken, or give the place up with
//!   [`Admission::cancel`].
//!
//! One poll with an `Option<&Waker>` serves async callers (a waker) and
//! blocking callers (none: they park until `recheck_at` or until woken by
//! other means) alike. Drivers never compute a decision: every instant they
//! sleep until comes from the machine.
//!
//! ```
//! use failsafe_core::admission::{Admission, Call, Entry};
//! use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
//! use failsafe_core::{Instant, Outcome};
//!
//! let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
//! let mut breaker = CircuitBreaker::new(config, NoWindow);
//! let call = Call::at(Instant::from_millis(0));
//! let Entry::Admitted(permit) = breaker.enter(&call, None) else { unreachable!() };
//! breaker.exit(Instant::from_millis(5), permit, Outcome::Failure);
//! let later = Call::at(Instant::from_millis(10));
//! assert!(matches!(breaker.enter(&later, None), Entry::Rejected(r) if r.retry_at.is_some()));
//! ```

use core::cell::Cell;
use core::fmt;
use core::task::Waker;
use core::time::Duration;

use crate::timeout::Deadline;
use crate::{Instant, Outcome, RejectReason, Rejected, TimeSource};

/// One call as every admission machine sees it: built once per attempt, so
/// a stack of machines shares one `now`.
///
/// The time is either known ([`Call::at`]) or read from a clock the first
/// time a machine needs it ([`Call::lazy`]) and then remembered: a closed
/// breaker with a count window decides without ever reading the clock.
pub struct Call<'a, K: ?Sized = ()> {
    clock: Option<&'a dyn Fn() -> Instant>,
    now: Cell<Option<Instant>>,
    deadline: Deadline,
    weight: u32,
    max_wait: Option<Duration>,
    key: &'a K,
}

impl Call<'static, ()> {
    /// A call at a known instant, no deadline, weight 1, no key.
    ///
    /// ```
    /// use failsafe_core::admission::Call;
    /// use failsafe_core::Instant;
    ///
    /// let call = Call::at(Instant::from_millis(7));
    /// assert_eq!(call.now(), Instant::from_millis(7));
    /// assert_eq!(call.weight(), 1);
    /// ```
    pub const fn at(now: Instant) -> Self {
        Call {
            clock: None,
            now: Cell::new(Some(now)),
            deadline: Deadline::NEVER,
            weight: 1,
            max_wait: None,
            key: &(),
        }
    }
}

impl<'a> Call<'a, ()> {
    /// A call whose time is read from `clock` at most once, when a machine
    /// first needs it.
    ///
    /// ```
    /// use core::cell::Cell;
    /// use failsafe_core::admission::Call;
    /// use failsafe_core::Instant;
    ///
    /// let reads = Cell::new(0);
    /// let clock = || { reads.set(reads.get() + 1); Instant::from_millis(3) };
    /// let call = Call::lazy(&clock);
    /// assert_eq!(reads.get(), 0);
    /// assert_eq!(call.now(), Instant::from_millis(3));
    /// assert_eq!(call.now(), Instant::from_millis(3));
    /// assert_eq!(reads.get(), 1);
    /// ```
    pub fn lazy(clock: &'a dyn Fn() -> Instant) -> Self {
        Call {
            clock: Some(clock),
            now: Cell::new(None),
            deadline: Deadline::NEVER,
            weight: 1,
            max_wait: None,
            key: &(),
        }
    }
}

impl<'a, K: ?Sized> Call<'a, K> {
    /// The same call with a key (a keyed rate limiter's key).
    pub fn with_key<'b, J: ?Sized>(self, key: &'b J) -> Call<'b, J>
    where
        'a: 'b,
    {
        Call {
            clock: self.clock,
            now: self.now,
            deadline: self.deadline,
            weight: self.weight,
            max_wait: self.max_wait,
            key,
        }
    }

    /// The same call with the caller's deadline (fail fast rejects a call
    /// that cannot finish before it; a limiter never books past it).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same call asking for `weight` permits at once (rate limiters;
    /// other machines admit one call whatever its weight). A weight of 0
    /// takes no permit: a limiter admits it even while it rejects weighted
    /// calls (as governor's `check_n(0)` does), unless permits booked ahead
    /// for waiting callers run past its tolerance; then it waits or is
    /// refused like any call.
    #[must_use]
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// The same call, refusing to wait: a machine that would queue or book
    /// it rejects it instead (`try_acquire`).
    #[must_use]
    pub fn no_wait(mut self) -> Self {
        self.max_wait = Some(Duration::ZERO);
        self
    }

    /// The same call, willing to wait at most `max_wait` (from now) for
    /// admission: a rate limiter's permits (instead of the limiter's own
    /// `max_wait`), a bulkhead's queue (which keeps the call no longer than
    /// its own `max_wait` either); zero: no wait at all.
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Option<Duration>) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The call's time: known, or read now from the clock (once).
    #[inline]
    pub fn now(&self) -> Instant {
        if let Some(now) = self.now.get() {
            return now;
        }
        let now = self.clock.map_or(Instant::ZERO, |clock| clock());
        self.now.set(Some(now));
        now
    }

    /// The time if it is already known, without reading the clock.
    #[inline]
    pub fn known_now(&self) -> Option<Instant> {
        self.now.get()
    }

    /// Sets the call's time (a driver polling again at a later instant).
    pub fn set_now(&self, now: Instant) {
        self.now.set(Some(now));
    }

    /// The caller's deadline ([`Deadline::NEVER`] if none).
    pub const fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Permits asked for (1 unless set).
    pub const fn weight(&self) -> u32 {
        self.weight
    }

    /// Whether the caller accepts to wait (`false` for `try_acquire`).
    pub const fn may_wait(&self) -> bool {
        !matches!(self.max_wait, Some(Duration::ZERO))
    }

    /// How long the caller accepts to wait, if it says (`None`: as long as
    /// the machine's own `max_wait`).
    pub const fn max_wait(&self) -> Option<Duration> {
        self.max_wait
    }

    /// The call's key.
    pub const fn key(&self) -> &K {
        self.key
    }
}

impl<K: ?Sized + fmt::Debug> fmt::Debug for Call<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("now", &self.now.get())
            .field("deadline", &self.deadline)
            .field("weight", &self.weight)
            .field("max_wait", &self.max_wait)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<K: ?Sized> TimeSource for &Call<'_, K> {
    #[inline]
    fn read(&mut self) -> Instant {
        self.now()
    }

    #[inline]
    fn known(&self) -> Option<Instant> {
        self.known_now()
    }
}

/// A machine's answer to a call ([`Admission::enter`], [`Admission::resume`]).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an admitted permit must be handed back with `exit`, a pending wait resumed or cancelled"]
pub enum Entry<P, W> {
    /// The call may start; give the permit back with [`Admission::exit`].
    Admitted(P),
    /// The call may not start.
    Rejected(Rejected),
    /// The call waits in the machine.
    Pending {
        /// Its place: resume or cancel with it.
        wait: W,
        /// Poll again at this instant at the latest; `None`: only a wake-up
        /// (of the waker handed in) can change the answer.
        recheck_at: Option<Instant>,
    },
}

impl<P, W> From<Result<P, Rejected>> for Entry<P, W> {
    /// A decision that never waits: admitted or rejected.
    #[inline]
    fn from(decision: Result<P, Rejected>) -> Self {
        match decision {
            Ok(permit) => Entry::Admitted(permit),
            Err(rejected) => Entry::Rejected(rejected),
        }
    }
}

/// What a shared handle may decide without taking its lock, as published by
/// the machine after every locked operation ([`Admission::gate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Every call takes the lock.
    Lock,
    /// Every call is admitted with a permit built from `token` by
    /// [`Admission::gate_permit`] (at most 34 bits); `timed`: the permit
    /// needs the call's time.
    Admit {
        /// The machine's token (a breaker's state epoch).
        token: u64,
        /// Whether the permit records its start time.
        timed: bool,
    },
    /// Every call before `until` is rejected for `reason`.
    Reject {
        /// Rejecting until this instant (`Some(Instant::MAX)`: never
        /// again admits by itself); `None`: until an operator or a health
        /// report says otherwise (`retry_at` unknown).
        until: Option<Instant>,
        /// Why.
        reason: RejectReason,
    },
}

/// An admission machine: decides whether each call may start, is told how
/// it ended.
///
/// [`Key`](Admission::Key) is the key type of keyed machines (`()` for
/// every other machine).
///
/// **Clock contract.** A `now` earlier than the latest time the machine has
/// seen reads as that latest time.
pub trait Admission {
    /// The key a call carries (`()` for machines that are not keyed).
    type Key: ?Sized;
    /// Handed out with an admission, handed back with its outcome.
    type Permit;
    /// A call's place while it waits ([`Entry::Pending`]).
    type Wait;

    /// Decides on a new call.
    fn enter(
        &mut self,
        call: &Call<'_, Self::Key>,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait>;

    /// Decides again on a waiting call (at `recheck_at`, or once woken).
    fn resume(
        &mut self,
        call: &Call<'_, Self::Key>,
        wait: Self::Wait,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait>;

    /// Gives a waiting call's place up (its future dropped, its caller gone).
    fn cancel(&mut self, now: Instant, wait: Self::Wait);

    /// Hands an admitted call's permit back with how the call ended.
    fn exit(&mut self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome);

    /// Hands back a permit whose call never started (a later machine in a
    /// stack rejected it): nothing is counted. Defaults to
    /// [`exit`](Admission::exit) with [`Outcome::Cancelled`]; a rate
    /// limiter gives its booking back.
    fn abandon(&mut self, now: Instant, permit: Self::Permit) {
        self.exit(now, permit, Outcome::Cancelled);
    }

    /// The earliest instant at which the machine changes by itself (an open
    /// wait ends, a probe lease or a queued wait runs out).
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Applies what is due at `now` (see [`next_deadline`](Admission::next_deadline)).
    fn on_deadline(&mut self, _now: Instant) {}

    /// Whether every [`enter`](Admission::enter) reads the call's time
    /// ([`Call::now`]): `true` for a rate limiter, whose decision is the
    /// time. A shared handle passes it on
    /// ([`SharedAdmission::READS_NOW`](crate::sync::SharedAdmission::READS_NOW)),
    /// so callers read their clock up front instead of lazily. `false` by
    /// default.
    const READS_NOW: bool = false;

    /// Whether [`exit`](Admission::exit) can change anything: `false`
    /// promises it changes nothing, whatever the permit and the outcome (a
    /// rate limiter: permits are spent when admitted). A shared handle
    /// then hands a permit back without taking the lock
    /// ([`SharedAdmission::NEEDS_EXIT`](crate::sync::SharedAdmission::NEEDS_EXIT)).
    /// `true` by default.
    const NEEDS_EXIT: bool = true;

    /// Whether the machine publishes a [`gate`](Admission::gate) worth
    /// reading: `false` (the default) spares a shared handle the atomic
    /// words on every call (a bulkhead, a limiter behind a lock).
    const GATED: bool = false;

    /// Whether a shared handle counts the calls its gate rejects without the
    /// lock ([`Shared::gate_rejections`](crate::sync::Shared::gate_rejections)):
    /// `true` (the default); a breaker that keeps no counts
    /// ([`NoCounters`](crate::breaker::NoCounters)) says `false`, so the
    /// gate's rejections cost no atomic add.
    const COUNTS_GATE_REJECTIONS: bool = true;

    /// What a shared handle may decide without the lock until the next
    /// locked operation. The default, [`Gate::Lock`], always asks.
    fn gate(&self) -> Gate {
        Gate::Lock
    }

    /// The permit for a call admitted by [`Gate::Admit`] with `token`,
    /// started at `issued_at` (`Instant::ZERO` unless the gate is timed).
    /// `None` (the default): the machine never publishes `Admit`.
    fn gate_permit(_token: u64, _issued_at: Instant) -> Option<Self::Permit> {
        None
    }

    /// How many exits a shared handle may count without the lock while the
    /// gate admits ([`Gate::Admit`]): exits that [`gate_exit`](Admission::gate_exit)
    /// accepts and that cannot change the machine's state or gate, however
    /// many of them (up to this credit) come in a row (a closed breaker's
    /// successes that cannot trip it). They reach the machine in one
    /// [`absorb_gate_exits`](Admission::absorb_gate_exits) before its next
    /// locked operation. Asked after every locked operation that leaves the
    /// gate admitting; the default, 0, sends every exit through the lock.
    fn gate_exit_credit(&mut self) -> u32 {
        0
    }

    /// Whether an exit of `permit` with `outcome` may be counted on the
    /// gate's credit, and if so the gate token it needs (the exit is
    /// counted only while the gate admits with that token): `None` (the
    /// default) takes the lock.
    fn gate_exit(_permit: &Self::Permit, _outcome: Outcome) -> Option<u64> {
        None
    }

    /// Applies `n` exits counted on the gate's credit, each as
    /// [`exit`](Admission::exit) with a permit and outcome
    /// [`gate_exit`](Admission::gate_exit) accepted would have, after
    /// noting `latest` (no earlier than any time those exits were given;
    /// the clock contract). Called under the lock, before any other
    /// operation, with `n` at most the credit last granted. The default
    /// does nothing (it is never called for a machine that grants no
    /// credit).
    fn absorb_gate_exits(&mut self, _n: u32, _latest: Instant) {}

    /// Whether the machine wants the calls a shared handle's gate rejects
    /// without the lock reported ([`absorb_gate_rejections`](Admission::absorb_gate_rejections)):
    /// `false` by default; a machine whose observer listens says `true`.
    /// Asked under the lock after every locked operation that leaves the
    /// gate rejecting.
    fn reports_gate_rejections(&self) -> bool {
        false
    }

    /// `count` calls the gate rejected without the lock, each with
    /// `rejected`, since the last report: called under the lock, before any
    /// other operation (after [`absorb_gate_exits`](Admission::absorb_gate_exits)),
    /// when the gate counted any (machines that
    /// [count them](Admission::COUNTS_GATE_REJECTIONS) or
    /// [want them reported](Admission::reports_gate_rejections)). The
    /// machine's state is the one the gate published. The default does
    /// nothing.
    fn absorb_gate_rejections(&mut self, _count: u64, _rejected: Rejected) {}
    /// Whether the machine counts slots (a bulkhead): a shared handle then
    /// keeps a lock-free *slot word* (the limit and the slots taken) that
    /// admits and takes back slots with one compare-and-swap each while
    /// the machine's [`slot_gate`](Admission::slot_gate) allows. `false`
    /// (the default): no slot word. A machine is `GATED` or `SLOTTED`,
    /// not both.
    const SLOTTED: bool = false;

    /// Asked under the lock after every operation of a `SLOTTED` machine:
    /// `Some((limit, in_flight))` lets a shared handle admit calls while
    /// `in_flight < limit` and take back slots without the lock until its
    /// next locked operation, which hands them to
    /// [`absorb_slots`](Admission::absorb_slots) first. Only a machine for
    /// which such an admission or exit is exactly what
    /// [`enter`](Admission::enter) or [`exit`](Admission::exit) would do
    /// says `Some` (a bulkhead with a fixed limit, a silent observer and
    /// nobody queued). `None` (the default): every call takes the lock.
    fn slot_gate(&mut self) -> Option<(u32, u32)> {
        None
    }

    /// The permit of a call admitted on the slot word, the `in_flight`-th
    /// slot taken (itself included), started at `issued_at` (the latest
    /// time the handle knew). `None` (the default): never slotted.
    fn slot_permit(_in_flight: u32, _issued_at: Instant) -> Option<Self::Permit> {
        None
    }

    /// Applies what the slot word counted since the last locked operation:
    /// `admitted` calls admitted, `in_flight` slots taken now (the rest of
    /// the difference came back through exits), after
    /// noting `latest` (no earlier than any time those calls were given;
    /// the clock contract). Called under the lock before any other
    /// operation; the default does nothing (never called for a machine
    /// that is not `SLOTTED`).
    fn absorb_slots(&mut self, _admitted: u32, _in_flight: u32, _latest: Instant) {}

    /// The latest time the machine has seen (the clock contract's floor).
    fn latest_seen(&self) -> Instant {
        Instant::ZERO
    }

    /// A waker the machine owes a wake-up (a waiter granted a slot); shared
    /// handles wake it after releasing their lock.
    fn take_waker(&mut self) -> Option<Waker> {
        None
    }
}

/// `Wait` of machines that never make a call wait.
pub type NoWait = core::convert::Infallible;
