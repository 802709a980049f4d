//! Sharing a machine between tasks, threads or interrupt handlers.
//!
//! The machines take `&mut self`; a [`Lock`] turns that into `&self`. The core
//! ships [`CsLock`] (a `critical-section` mutex, for firmware); the std
//! adapters supply one over `std::sync::Mutex`. [`SharedBreaker`] adds a
//! lock-free fast path where the target has native 64-bit atomics: while
//! the breaker is open, a call is rejected after one atomic load, without
//! touching the lock. Where it has none (Cortex-M, riscv32) those words
//! would be critical sections themselves, so there is no fast path and no
//! words: every call takes the lock (with [`CsLock`], one critical
//! section), and the answers are the same (see [`Shared`]).
//!
//! ## Interrupt handlers
//!
//! These types may live in a `static` used from thread mode (or tasks) and
//! interrupt handlers at once, on every core, provided the lock is [`CsLock`]
//! (or another lock that masks the interrupts sharing it):
//! [`SharedBreaker`], [`SharedFailFast`], [`SharedBulkhead`], [`CsLock`] and
//! [`AtomicGcra`](crate::rate::AtomicGcra). No operation can spin on a lock
//! an interrupt handler preempted.
//!
//! | core | the atomic words (`AtomicGcra`; the breaker's and fail fast's fast paths where they exist) | what you provide |
//! |---|---|---|
//! | 64-bit atomics (x86_64, aarch64, Cortex-A, ...) | lock-free | nothing (a critical-section implementation only for [`CsLock`]) |
//! | thumbv7m, thumbv7em (Cortex-M3/M4/M7: 32-bit CAS, no 64-bit) | a few instructions with interrupts masked (`AtomicGcra`); [`Shared`] has no gate words | a critical-section implementation, e.g. cortex-m's `critical-section-single-core` feature, or your HAL's |
//! | thumbv6m (Cortex-M0/M0+, RP2040, STM32G0: no CAS) | the same | the same, plus this crate's `critical-section` feature (the build stops with a `compile_error!` without it) |
//!
//! [`CsLock`] always takes a critical section: every machine behind it needs
//! a critical-section implementation linked on every core (on the host,
//! `critical-section`'s `std` feature). A missing one shows up as a link
//! error naming `_critical_section_1_0_acquire`.
//!
//! Locks that do not mask interrupts (a `std::sync::Mutex`, embassy-sync's
//! `ThreadModeRawMutex` or `NoopRawMutex`) must not be shared with an
//! interrupt handler.

use core::cell::RefCell;
use core::marker::PhantomData;

use crate::atomic::Ordering;

use core::task::Waker;

use crate::admission::{Admission, Call, Entry, Gate};
use crate::breaker::{
    BreakerConfig, BreakerEvent, BreakerMetrics, BreakerPermit, CircuitBreaker, State, Window,
};
use crate::time::TimeSource;
use crate::{Instant, Observer, Outcome, RejectReason, Rejected};

/// Exclusive access to a `T` from a shared reference.
///
/// Implementations must not hold the lock across an `.await` (they cannot:
/// `with` takes a synchronous closure).
pub trait Lock<T> {
    /// Runs `f` with exclusive access to the value.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
}

/// A lock built on `critical-section`: interrupts (or the platform's
/// equivalent) are masked while `f` runs. `const`-constructible, so it fits
/// in a `static` on firmware.
///
/// ```
/// use failsafe_core::sync::{CsLock, Lock};
/// static COUNTER: CsLock<u32> = CsLock::new(0);
/// COUNTER.with(|n| *n += 1);
/// assert_eq!(COUNTER.with(|n| *n), 1);
/// ```
#[derive(Debug)]
pub struct CsLock<T> {
    inner: critical_section::Mutex<RefCell<T>>,
}

impl<T> CsLock<T> {
    /// Wraps `value`.
    ///
    /// ```
    /// # use failsafe_core::sync::CsLock;
    /// let lock = CsLock::new([0u8; 4]);
    /// # let _ = lock;
    /// ```
    pub const fn new(value: T) -> Self {
        CsLock {
            inner: critical_section::Mutex::new(RefCell::new(value)),
        }
    }
}

impl<T, L: Lock<T> + ?Sized> Lock<T> for &L {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        (**self).with(f)
    }
}

impl<T> Lock<T> for CsLock<T> {
    /// Runs `f` in a critical section. `f` must not take this lock again
    /// (say, an observer calling back into the same handle): such a call
    /// never returns, as re-locking a `std` mutex may deadlock, rather than
    /// panic, so firmware links no panic path from here.
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        critical_section::with(|cs| {
            let cell = self.inner.borrow(cs);
            loop {
                if let Ok(mut inner) = cell.try_borrow_mut() {
                    return f(&mut inner);
                }
                core::hint::spin_loop();
            }
        })
    }
}

/// A machine shared by reference: the one `&self` form of the
/// [admission contract](crate::admission), implemented by [`Shared`] (any
/// machine behind any [`Lock`]) and by the lock-free
/// [`Throttle<AtomicGcra>`](crate::rate::Throttle).
///
/// Drivers, guards and tower layers are written once against this trait.
pub trait SharedAdmission {
    /// See [`Admission::Key`].
    type Key: ?Sized;
    /// See [`Admission::Permit`].
    type Permit;
    /// See [`Admission::Wait`].
    type Wait;

    /// See [`Admission::enter`].
    fn enter(
        &self,
        call: &Call<'_, Self::Key>,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait>;

    /// See [`Admission::resume`].
    fn resume(
        &self,
        call: &Call<'_, Self::Key>,
        wait: Self::Wait,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait>;

    /// See [`Admission::cancel`].
    fn cancel(&self, now: Instant, wait: Self::Wait);

    /// See [`Admission::exit`].
    fn exit(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome);

    /// Does [`exit`](Self::exit) do anything? `false` promises that a
    /// permit whose call has started may simply be dropped: its exit would
    /// change nothing, whatever the outcome (a rate limiter spent its
    /// booking when it admitted). A caller may then skip keeping a handle
    /// to the machine for the exit: the tower layer saves an `Arc` clone
    /// and drop per request. `true` (the default) for every other machine.
    const NEEDS_EXIT: bool = true;

    /// Does every decision read the call's time? `true` promises that
    /// [`enter`](Self::enter) always asks [`Call::now`] (a rate limiter:
    /// the time is its whole input), so a caller may read its clock up
    /// front and hand a [`Call::at`] instead of a lazy one: the same single
    /// read, without the indirect call and the remembered-time cell of
    /// [`Call::lazy`]. `false` (the default): the machine may decide
    /// without the time (a closed breaker, a bulkhead), so callers stay
    /// lazy.
    const READS_NOW: bool = false;

    /// See [`Admission::abandon`].
    fn abandon(&self, now: Instant, permit: Self::Permit);

    /// See [`Admission::next_deadline`].
    fn next_deadline(&self) -> Option<Instant>;

    /// See [`Admission::on_deadline`].
    fn on_deadline(&self, now: Instant);
}

/// Forwards the contract through a pointer to a shared machine.
macro_rules! forward_shared_admission {
    ($(#[$attr:meta])* $ptr:ty) => {
        $(#[$attr])*
        impl<S: SharedAdmission + ?Sized> SharedAdmission for $ptr {
            type Key = S::Key;
            type Permit = S::Permit;
            type Wait = S::Wait;
            const NEEDS_EXIT: bool = S::NEEDS_EXIT;
            const READS_NOW: bool = S::READS_NOW;

            #[inline(always)]
            fn enter(&self, call: &Call<'_, S::Key>, waker: Option<&Waker>) -> Entry<S::Permit, S::Wait> {
                (**self).enter(call, waker)
            }

            #[inline]
            fn resume(
                &self,
                call: &Call<'_, S::Key>,
                wait: S::Wait,
                waker: Option<&Waker>,
            ) -> Entry<S::Permit, S::Wait> {
                (**self).resume(call, wait, waker)
            }

            #[inline]
            fn cancel(&self, now: Instant, wait: S::Wait) {
                (**self).cancel(now, wait)
            }

            #[inline]
            fn exit(&self, now: impl TimeSource, permit: S::Permit, outcome: Outcome) {
                (**self).exit(now, permit, outcome)
            }

            #[inline]
            fn abandon(&self, now: Instant, permit: S::Permit) {
                (**self).abandon(now, permit)
            }

            #[inline]
            fn next_deadline(&self) -> Option<Instant> {
                (**self).next_deadline()
            }

            #[inline]
            fn on_deadline(&self, now: Instant) {
                (**self).on_deadline(now)
            }
        }
    };
}

forward_shared_admission!(&S);
forward_shared_admission!(
    /// A machine shared through an `Arc`.
    #[cfg(feature = "alloc")]
    alloc::sync::Arc<S>
);

/// Does this target keep the lock-free gate? Only where 64-bit atomics are
/// native (and under loom): elsewhere (thumbv6m, thumbv7m, thumbv7em,
/// riscv32, ...) each of the gate's words would itself be a critical
/// section, so the gate would save no lock, only cost RAM (five words, 40
/// bytes) and flash, and every locked operation would pay for publishing
/// it. There every call takes the lock ([`CsLock`]: one critical section)
/// and the machine answers, exactly as the gate would have. `--cfg
/// failsafe_no_gate` drops the gate on any target (to test that path on a
/// host).
const GATE: bool = cfg!(all(
    any(loom, target_has_atomic = "64"),
    not(failsafe_no_gate)
));

/// One word of the gate.
#[cfg(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate)))]
type GateWord = crate::atomic::AtomicU64;
/// One word of the gate: none at all where there is no gate ([`GATE`]).
#[cfg(not(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate))))]
type GateWord = NoWord;

/// A gate word on a target without the gate: holds nothing, takes no
/// space; reads as "not admitting, not rejecting, no credit", so every
/// path falls through to the lock.
#[cfg(not(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate))))]
#[derive(Debug)]
struct NoWord;

#[cfg(not(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate))))]
impl NoWord {
    const fn new(_: u64) -> Self {
        NoWord
    }
    #[inline(always)]
    fn load(&self, _: Ordering) -> u64 {
        0
    }
    #[inline(always)]
    fn store(&self, _: u64, _: Ordering) {}
    #[inline(always)]
    fn swap(&self, _: u64, _: Ordering) -> u64 {
        0
    }
    #[inline(always)]
    fn fetch_add(&self, _: u64, _: Ordering) -> u64 {
        0
    }
    #[inline(always)]
    fn compare_exchange_weak(
        &self,
        current: u64,
        _: u64,
        _: Ordering,
        _: Ordering,
    ) -> Result<u64, u64> {
        Ok(current)
    }
}

/// Admission word bit: every call is admitted without the lock.
const FREE: u64 = 1 << 63;
/// Admission word bit: the free permit records the call's start time.
const TIMED: u64 = 1 << 62;
/// Admission word: exits the gate may still count without the lock
/// ([`Admission::gate_exit_credit`]), bits 34 to 61.
const CREDIT_SHIFT: u32 = 34;
/// One exit's worth of credit.
const CREDIT_ONE: u64 = 1 << CREDIT_SHIFT;
/// The most credit one publication grants (28 bits).
const MAX_CREDIT: u64 = (1 << 28) - 1;
/// Admission word: the credit bits.
const CREDIT: u64 = MAX_CREDIT << CREDIT_SHIFT;
/// Admission word: the machine's token (a breaker's epoch and permit kind),
/// bits 0 to 33.
const TOKEN: u64 = CREDIT_ONE - 1;
/// Admission word bit, while the gate rejects: the machine wants the
/// calls it rejects counted and reported ([`Admission::reports_gate_rejections`]).
const REPORT: u64 = 1 << 61;
/// Reject-until word: not rejecting.
const NOT_REJECTING: u64 = 0;
/// Reject-until word: rejecting with no known end (`retry_at` `None`).
const UNTIL_UNKNOWN: u64 = u64::MAX;
/// Reject-until word: rejecting for ever (`retry_at` "never").
const UNTIL_NEVER: u64 = u64::MAX - 1;

/// Any [`Admission`] machine behind any [`Lock`], used from `&self` (a
/// `static`, an `Arc`, several tasks, threads or interrupt handlers).
///
/// After every locked operation the machine's [`Gate`] is copied into two
/// atomic words, so a closed breaker admits and an open breaker or fail fast
/// rejects with one atomic load and no lock; rejections taken that way are
/// counted (and added to the machine's metrics by the pattern's
/// `metrics`). The admission word also carries the machine's
/// [exit credit](Admission::gate_exit_credit): that many exits the machine
/// says cannot change its state (a closed breaker's successes that cannot
/// trip it) are counted with one compare-and-swap on that word, and handed
/// to the machine ([`Admission::absorb_gate_exits`], with the latest time
/// any of them knew) at the start of the next locked operation, before it
/// runs: every locked operation sees every exit counted before it. A
/// [`SLOTTED`](Admission::SLOTTED) machine (a bulkhead) has a slot word
/// instead: calls take and give back slots on it with one
/// compare-and-swap each while the machine's
/// [`slot_gate`](Admission::slot_gate) allows (see
/// [the bulkhead's docs](crate::bulkhead#shared-use-the-lock-free-slot-word)).
/// Wakers a machine owes (a bulkhead granting a queued call a
/// slot) are woken after the lock is released.
///
/// The gate exists only where 64-bit atomics are native (x86_64, aarch64,
/// ...). On a target without them (thumbv6m/v7m/v7em, riscv32) each word
/// would be a critical section, no cheaper than [`CsLock`]'s, and would
/// cost 40 bytes of RAM per handle: there `Shared` is its lock alone, every
/// call takes the lock and the machine answers (the same answers, and
/// [`gate_rejections`](Self::gate_rejections) stays 0: the machine counts
/// every rejection itself).
///
/// ```
/// use failsafe_core::admission::{Call, Entry};
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
/// use failsafe_core::{Instant, Outcome};
///
/// const CONFIG: BreakerConfig = failsafe_core::checked(BreakerConfig::builder().consecutive_failures(1).build());
/// static BREAKER: Shared<CircuitBreaker<NoWindow>, CsLock<CircuitBreaker<NoWindow>>> =
///     Shared::new(CsLock::new(CircuitBreaker::new(CONFIG, NoWindow)));
///
/// let Entry::Admitted(permit) = BREAKER.enter(&Call::at(Instant::ZERO), None) else { panic!() };
/// BREAKER.exit(Instant::from_millis(1), permit, Outcome::Failure);
/// let Entry::Rejected(r) = BREAKER.enter(&Call::at(Instant::from_millis(2)), None) else { panic!() };
/// assert!(r.retry_at.is_some());
/// ```
#[derive(Debug)]
pub struct Shared<M, L> {
    lock: L,
    admit: GateWord,
    until: GateWord,
    latest: GateWord,
    rejections: GateWord,
    /// The gate's rejections already reported to the machine
    /// ([`Admission::absorb_gate_rejections`]; read and written only under
    /// the lock).
    reported: GateWord,
    /// The exit credit last published in `admit` (read and written only
    /// under the lock).
    credit: GateWord,
    /// A bulkhead's lock-free slot word ([`Admission::SLOTTED`]).
    slots: crate::bulkhead::slots::SlotWord,
    _machine: PhantomData<fn() -> M>,
}

impl<M, L> Shared<M, L> {
    /// Shares the machine held by `lock`. The first locked operation
    /// publishes the gate; until then every call takes the lock. `const`,
    /// so it fits in a `static`.
    #[cfg(not(loom))]
    pub const fn new(lock: L) -> Self {
        Shared {
            lock,
            admit: GateWord::new(0),
            until: GateWord::new(NOT_REJECTING),
            latest: GateWord::new(0),
            rejections: GateWord::new(0),
            reported: GateWord::new(0),
            credit: GateWord::new(0),
            slots: crate::bulkhead::slots::SlotWord::new(),
            _machine: PhantomData,
        }
    }

    /// Shares the machine held by `lock` (loom build).
    #[cfg(loom)]
    pub fn new(lock: L) -> Self {
        Shared {
            lock,
            admit: GateWord::new(0),
            until: GateWord::new(NOT_REJECTING),
            latest: GateWord::new(0),
            rejections: GateWord::new(0),
            reported: GateWord::new(0),
            credit: GateWord::new(0),
            slots: crate::bulkhead::slots::SlotWord::new(),
            _machine: PhantomData,
        }
    }

    /// Calls rejected by the lock-free gate (never seen by the machine);
    /// always 0 on a target without the gate (see [`Shared`]).
    pub fn gate_rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }
}

impl<M, L: Lock<M>> Shared<M, L> {
    /// Shares a machine that may not be fresh (already open, forced open):
    /// publishes its gate at once.
    pub fn from_lock(lock: L) -> Self
    where
        M: Admission,
    {
        let shared = Self::new(lock);
        shared.with(|_| ());
        shared
    }

    /// Runs `f` on the machine under the lock (after handing it the exits
    /// the gate counted), then publishes its gate and wakes, outside the
    /// lock, the wakers it owes.
    pub fn with<R>(&self, f: impl FnOnce(&mut M) -> R) -> R
    where
        M: Admission,
    {
        let (r, mut owed) = self.lock.with(|m| {
            if M::GATED && GATE {
                self.fold(m);
            }
            if M::SLOTTED && GATE {
                self.close_slots(m);
            }
            let r = f(m);
            if M::GATED && GATE {
                self.publish(m);
            }
            if M::SLOTTED && GATE {
                self.open_slots(m);
            }
            (r, m.take_waker())
        });
        // Most calls owe nobody (a breaker never does); a release owes one
        // waiter, a limit raised or a queue expired may owe several: each
        // is woken outside the lock.
        while let Some(waker) = owed {
            waker.wake();
            owed = self.lock.with(|m| m.take_waker());
        }
        r
    }

    /// See [`Admission::next_deadline`].
    pub fn next_deadline(&self) -> Option<Instant>
    where
        M: Admission,
    {
        self.with(|m| m.next_deadline())
    }

    /// See [`Admission::on_deadline`].
    pub fn on_deadline(&self, now: Instant)
    where
        M: Admission,
    {
        self.with(|m| m.on_deadline(now))
    }

    /// Under the lock: takes the credit back from the admission word and
    /// hands the machine the exits counted against it. The word's other
    /// bits change only under the lock, so they are known here; an exit
    /// that finds no credit after this takes the lock (and so comes after
    /// this operation).
    fn fold(&self, m: &mut M)
    where
        M: Admission,
    {
        self.fold_exits(m);
        self.fold_rejections(m);
    }

    /// Hands the machine the rejections the gate counted since the last
    /// report ([`Admission::absorb_gate_rejections`]), with the rejection
    /// the gate gave them (the machine has not changed since it published
    /// it: this runs first under the lock).
    #[inline]
    fn fold_rejections(&self, m: &mut M)
    where
        M: Admission,
    {
        let total = self.rejections.load(Ordering::Relaxed);
        let reported = self.reported.load(Ordering::Relaxed);
        if total == reported {
            return;
        }
        self.reported.store(total, Ordering::Relaxed);
        if let Gate::Reject { until, reason } = m.gate() {
            let rejected = match until {
                None => Rejected::new(reason, None),
                Some(Instant::MAX) => Rejected::never(reason),
                Some(t) => Rejected::new(reason, Some(t)),
            };
            m.absorb_gate_rejections(total.wrapping_sub(reported), rejected);
        }
    }

    /// Hands the machine the exits counted on the gate's credit.
    #[inline]
    fn fold_exits(&self, m: &mut M)
    where
        M: Admission,
    {
        let credit = self.credit.load(Ordering::Relaxed);
        if credit == 0 {
            return;
        }
        self.credit.store(0, Ordering::Relaxed);
        let word = self.admit.load(Ordering::Relaxed);
        let word = self.admit.swap(word & !CREDIT, Ordering::AcqRel);
        let used = credit - ((word & CREDIT) >> CREDIT_SHIFT);
        if used > 0 {
            // `used <= MAX_CREDIT < 2^28`: fits.
            let latest = Instant::from_nanos(self.latest.load(Ordering::Relaxed));
            m.absorb_gate_exits(used as u32, latest);
        }
    }

    /// Under the lock: closes the slot word and hands the machine what it
    /// counted (every later admission and exit takes the lock until
    /// [`open_slots`](Self::open_slots)).
    #[inline]
    fn close_slots(&self, m: &mut M)
    where
        M: Admission,
    {
        if let Some((admitted, in_flight)) = self.slots.close() {
            let latest = Instant::from_nanos(self.latest.load(Ordering::Relaxed));
            m.absorb_slots(admitted, in_flight, latest);
        }
    }

    /// Under the lock, after the operation: opens the slot word if the
    /// machine allows.
    #[inline]
    fn open_slots(&self, m: &mut M)
    where
        M: Admission,
    {
        if let Some((limit, in_flight)) = m.slot_gate() {
            // Permits admitted on the word start at the latest time known.
            self.note_latest(m.latest_seen().as_nanos());
            self.slots.open(limit, in_flight);
        }
    }

    /// A slot taken on the slot word, if it is open and one is free, for
    /// a call at `known` (if the caller knows its time; the permit starts
    /// at the latest time known).
    #[inline(always)]
    fn slot_admit(&self, known: Option<Instant>) -> Option<M::Permit>
    where
        M: Admission,
    {
        if !(M::SLOTTED && GATE) {
            return None;
        }
        // Noted first, as an exit's time (the clock contract).
        if let Some(t) = known {
            self.note_latest(t.as_nanos());
        }
        let in_flight = self.slots.admit()?;
        let issued_at = Instant::from_nanos(self.latest.load(Ordering::Relaxed));
        let permit = M::slot_permit(in_flight, issued_at);
        if permit.is_none() {
            // A machine that is SLOTTED builds every permit; should one not,
            // its slot goes back (or reaches the machine at the next fold).
            let _ = self.slots.exit();
        }
        permit
    }

    /// A slot given back on the slot word; `false`: take the lock.
    #[inline(always)]
    fn slot_exit(&self, now: &impl TimeSource) -> bool
    where
        M: Admission,
    {
        if !(M::SLOTTED && GATE) {
            return false;
        }
        // Noted before the exit is counted, so the close that hands the
        // exit over hands this time too (the clock contract).
        if let Some(t) = now.known() {
            self.note_latest(t.as_nanos());
        }
        self.slots.exit()
    }

    /// [`SharedAdmission::exit`] under the lock, out of line so that the
    /// lock-free path inlines small.
    #[inline(never)]
    fn exit_locked(&self, now: impl TimeSource, permit: M::Permit, outcome: Outcome)
    where
        M: Admission,
    {
        self.with(|m| m.exit(now, permit, outcome))
    }

    /// Raises the latest time seen to `t` (never lowers it: exits on the
    /// gate's credit note their times here as well as the machine).
    #[inline]
    fn note_latest(&self, t: u64) {
        let mut seen = self.latest.load(Ordering::Relaxed);
        while seen < t {
            match self
                .latest
                .compare_exchange_weak(seen, t, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }

    /// An exit counted on the gate's credit: the word still admits with
    /// `token` and has credit left. `false`: the exit must take the lock.
    #[inline]
    fn gate_exit(&self, token: u64) -> bool {
        let mut word = self.admit.load(Ordering::Relaxed);
        loop {
            if word & (FREE | TOKEN) != FREE | (token & TOKEN) || word & CREDIT == 0 {
                return false;
            }
            match self.admit.compare_exchange_weak(
                word,
                word - CREDIT_ONE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    fn publish(&self, m: &mut M)
    where
        M: Admission,
    {
        let latest = m.latest_seen().as_nanos();
        self.note_latest(latest);
        let mut credit = 0;
        let (admit, until) = match m.gate() {
            Gate::Lock => (0, NOT_REJECTING),
            Gate::Admit { token, timed } => {
                credit = u64::from(m.gate_exit_credit()).min(MAX_CREDIT);
                (
                    FREE | if timed { TIMED } else { 0 }
                        | (credit << CREDIT_SHIFT)
                        | (token & TOKEN),
                    NOT_REJECTING,
                )
            }
            Gate::Reject { until, reason } => {
                let until = match until {
                    None => UNTIL_UNKNOWN,
                    Some(Instant::MAX) => UNTIL_NEVER,
                    // An end the machine has already reached is no gate:
                    // the next call must reach the machine.
                    Some(until) if until.as_nanos() <= latest => NOT_REJECTING,
                    // An end the word cannot hold exactly (it would read as
                    // "never") is no gate either: the machine answers.
                    Some(until) if until.as_nanos() >= UNTIL_NEVER => NOT_REJECTING,
                    Some(until) => until.as_nanos(),
                };
                let report = if m.reports_gate_rejections() {
                    REPORT
                } else {
                    0
                };
                (u64::from(reason.code()) | report, until)
            }
        };
        // No exit can change the word now: `fold` took its credit.
        self.credit.store(credit, Ordering::Relaxed);
        // The admission word first, the end of the rejection last (release):
        // a reader that sees a rejection sees its reason.
        if self.admit.load(Ordering::Relaxed) != admit {
            self.admit.store(admit, Ordering::Release);
        }
        if self.until.load(Ordering::Relaxed) != until {
            self.until.store(until, Ordering::Release);
        }
    }

    /// The lock-free admission, if the gate admits every call.
    #[inline(always)]
    fn gate_admit(&self, call: &Call<'_, M::Key>) -> Option<M::Permit>
    where
        M: Admission,
    {
        let admit = self.admit.load(Ordering::Acquire);
        if admit & FREE == 0 {
            return None;
        }
        let issued_at = if admit & TIMED != 0 {
            // The clock contract: a start before the latest time the
            // machine has seen reads as that time.
            call.now()
                .max(Instant::from_nanos(self.latest.load(Ordering::Relaxed)))
        } else {
            Instant::ZERO
        };
        M::gate_permit(admit & TOKEN, issued_at)
    }

    /// The lock-free rejection, if the gate rejects this call.
    #[inline]
    fn gate_reject(&self, call: &Call<'_, M::Key>) -> Option<Rejected>
    where
        M: Admission,
    {
        let until = self.until.load(Ordering::Acquire);
        if until == NOT_REJECTING || call.now().as_nanos() >= until {
            return None;
        }
        let code = self.admit.load(Ordering::Relaxed);
        let reason = RejectReason::from_code(code as u8)?;
        if M::COUNTS_GATE_REJECTIONS || code & REPORT != 0 {
            self.rejections.fetch_add(1, Ordering::Relaxed);
        }
        Some(match until {
            UNTIL_UNKNOWN => Rejected::new(reason, None),
            UNTIL_NEVER => Rejected::never(reason),
            until => Rejected::new(reason, Some(Instant::from_nanos(until))),
        })
    }

    /// [`SharedAdmission::enter`] under the lock, out of line so that the
    /// lock-free paths inline small.
    #[inline(never)]
    fn enter_locked(
        &self,
        call: &Call<'_, M::Key>,
        waker: Option<&Waker>,
    ) -> Entry<M::Permit, M::Wait>
    where
        M: Admission,
    {
        self.with(|m| m.enter(call, waker))
    }
}

/// Runs `f` with a call whose time is read from `now` only if needed.
fn lazy_call<T: TimeSource, R>(
    now: T,
    deadline: crate::timeout::Deadline,
    f: impl FnOnce(&Call<'_>) -> R,
) -> R {
    if let Some(at) = now.known() {
        return f(&Call::at(at).with_deadline(deadline));
    }
    let source = core::cell::Cell::new(Some(now));
    let read = || match source.take() {
        Some(mut time) => {
            let at = time.read();
            source.set(Some(time));
            at
        }
        None => Instant::ZERO,
    };
    f(&Call::lazy(&read).with_deadline(deadline))
}

impl<M: Admission, L: Lock<M>> SharedAdmission for Shared<M, L> {
    type Key = M::Key;
    type Permit = M::Permit;
    type Wait = M::Wait;
    const READS_NOW: bool = M::READS_NOW;
    const NEEDS_EXIT: bool = M::NEEDS_EXIT;

    #[inline]
    fn enter(
        &self,
        call: &Call<'_, Self::Key>,
        waker: Option<&Waker>,
    ) -> Entry<M::Permit, M::Wait> {
        if M::GATED && GATE {
            // Each lock-free answer returns on its own branch: the permit
            // stays in registers (no `Option<Entry>` built in memory).
            if let Some(permit) = self.gate_admit(call) {
                return Entry::Admitted(permit);
            }
            if let Some(rejected) = self.gate_reject(call) {
                return Entry::Rejected(rejected);
            }
        }
        if let Some(permit) = self.slot_admit(call.known_now()) {
            return Entry::Admitted(permit);
        }
        match self.enter_locked(call, waker) {
            // Field by field: the locked answer comes back in memory, and
            // copied whole it would force the lock-free rejection above
            // into memory too, its parts then read back as one (a
            // store-forwarding stall on every rejection).
            Entry::Rejected(Rejected { reason, retry_at }) => {
                Entry::Rejected(Rejected::new(reason, retry_at))
            }
            entry => entry,
        }
    }

    #[inline]
    fn resume(
        &self,
        call: &Call<'_, Self::Key>,
        wait: M::Wait,
        waker: Option<&Waker>,
    ) -> Entry<M::Permit, M::Wait> {
        self.with(|m| m.resume(call, wait, waker))
    }

    #[inline]
    fn cancel(&self, now: Instant, wait: M::Wait) {
        self.with(|m| m.cancel(now, wait))
    }

    #[inline]
    fn exit(&self, now: impl TimeSource, permit: M::Permit, outcome: Outcome) {
        if !M::NEEDS_EXIT {
            return; // the machine's exit changes nothing: no lock taken
        }
        if M::GATED
            && GATE
            && let Some(token) = M::gate_exit(&permit, outcome)
        {
            // A time known at the exit is noted before the exit is counted,
            // so the fold that hands the exit over hands this time too (the
            // clock contract: later calls read no earlier time).
            if let Some(t) = now.known() {
                self.note_latest(t.as_nanos());
            }
            if self.gate_exit(token) {
                return;
            }
        }
        if self.slot_exit(&now) {
            return;
        }
        self.exit_locked(now, permit, outcome)
    }

    #[inline]
    fn abandon(&self, now: Instant, permit: M::Permit) {
        self.with(|m| m.abandon(now, permit))
    }

    fn next_deadline(&self) -> Option<Instant> {
        Shared::next_deadline(self)
    }

    fn on_deadline(&self, now: Instant) {
        Shared::on_deadline(self, now)
    }
}

impl Lock<crate::retry::NoBudget> for crate::retry::NoBudget {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut crate::retry::NoBudget) -> R) -> R {
        f(&mut crate::retry::NoBudget)
    }
}

/// A [`CircuitBreaker`] shared from `&self` ([`Shared`]); `C` is how the
/// breaker holds its configuration (by value by default, `&'static
/// BreakerConfig` to keep it in flash), `K` whether it keeps counts
/// ([`Counters`](crate::breaker::Counters) by default, or
/// [`NoCounters`](crate::breaker::NoCounters)).
pub type SharedBreaker<W, O, L, C = BreakerConfig, K = crate::breaker::Counters> =
    Shared<CircuitBreaker<W, O, C, K>, L>;

impl<W, O, L, C, K> Shared<CircuitBreaker<W, O, C, K>, L>
where
    W: Window,
    O: Observer<BreakerEvent>,
    C: core::borrow::Borrow<BreakerConfig>,
    K: crate::breaker::BreakerCounters,
    L: Lock<CircuitBreaker<W, O, C, K>>,
{
    /// [`CircuitBreaker::acquire`] from `&self` (an open breaker rejects,
    /// a closed one admits, without the lock).
    ///
    /// # Errors
    ///
    /// As [`CircuitBreaker::acquire`].
    #[inline]
    pub fn acquire(&self, now: impl TimeSource) -> Result<BreakerPermit, Rejected> {
        lazy_call(
            now,
            crate::timeout::Deadline::NEVER,
            |call| match SharedAdmission::enter(self, call, None) {
                Entry::Admitted(permit) => Ok(permit),
                Entry::Rejected(rejected) => Err(rejected),
                Entry::Pending { wait, .. } => match wait {},
            },
        )
    }

    /// [`CircuitBreaker::record`] from `&self`.
    #[inline]
    pub fn record(&self, now: impl TimeSource, permit: BreakerPermit, outcome: Outcome) {
        SharedAdmission::exit(self, now, permit, outcome)
    }

    /// The breaker's state.
    pub fn state(&self) -> State {
        self.with(|b| b.state())
    }

    /// [`CircuitBreaker::reset`] from `&self`; also zeroes the gate's
    /// rejection count.
    pub fn reset(&self, now: Instant) {
        self.with(|b| {
            b.reset(now);
            self.rejections.store(0, Ordering::Relaxed);
            self.reported.store(0, Ordering::Relaxed);
        })
    }

    /// [`CircuitBreaker::metrics`], with the gate's rejections added (none
    /// without counters).
    pub fn metrics(&self, now: Instant) -> BreakerMetrics {
        let mut m = self.with(|b| b.metrics(now));
        if K::COUNTS {
            m.rejected = m.rejected.saturating_add(self.gate_rejections());
        }
        m
    }
}

/// A [`FailFast`](crate::failfast::FailFast) shared from `&self` ([`Shared`]).
pub type SharedFailFast<O, L> = Shared<crate::failfast::FailFast<O>, L>;

impl<O, L> Shared<crate::failfast::FailFast<O>, L>
where
    O: Observer<crate::failfast::FailFastEvent>,
    L: Lock<crate::failfast::FailFast<O>>,
{
    /// [`FailFast::acquire`](crate::failfast::FailFast::acquire) from
    /// `&self` (an open fail fast rejects without the lock).
    ///
    /// # Errors
    ///
    /// As [`FailFast::acquire`](crate::failfast::FailFast::acquire).
    #[inline]
    pub fn acquire(
        &self,
        now: impl TimeSource,
        deadline: crate::timeout::Deadline,
    ) -> Result<crate::failfast::FailFastPermit, Rejected> {
        lazy_call(now, deadline, |call| {
            match SharedAdmission::enter(self, call, None) {
                Entry::Admitted(permit) => Ok(permit),
                Entry::Rejected(rejected) => Err(rejected),
                Entry::Pending { wait, .. } => match wait {},
            }
        })
    }

    /// [`FailFast::record`](crate::failfast::FailFast::record) from `&self`.
    #[inline]
    pub fn record(
        &self,
        now: impl TimeSource,
        permit: crate::failfast::FailFastPermit,
        outcome: Outcome,
    ) {
        SharedAdmission::exit(self, now, permit, outcome)
    }

    /// [`FailFast::reset`](crate::failfast::FailFast::reset) from `&self`;
    /// also zeroes the gate's rejection count.
    pub fn reset(&self, now: Instant) {
        self.with(|ff| {
            ff.reset(now);
            self.rejections.store(0, Ordering::Relaxed);
            self.reported.store(0, Ordering::Relaxed);
        })
    }

    /// [`FailFast::metrics`](crate::failfast::FailFast::metrics), with the
    /// gate's rejections added.
    pub fn metrics(&self) -> crate::failfast::FailFastMetrics {
        let mut m = self.with(|ff| ff.metrics());
        m.rejected_open = m.rejected_open.saturating_add(self.gate_rejections());
        m
    }
}

/// A [`Bulkhead`](crate::bulkhead::Bulkhead) shared from `&self` ([`Shared`]).
pub type SharedBulkhead<const Q: usize, O, L, A = crate::bulkhead::FixedLimit> =
    Shared<crate::bulkhead::Bulkhead<Q, O, A>, L>;

impl<const Q: usize, O, L, A> Shared<crate::bulkhead::Bulkhead<Q, O, A>, L>
where
    O: Observer<crate::bulkhead::BulkheadEvent>,
    A: crate::bulkhead::LimitAlgorithm,
    L: Lock<crate::bulkhead::Bulkhead<Q, O, A>>,
{
    /// [`Bulkhead::try_acquire`](crate::bulkhead::Bulkhead::try_acquire) from `&self`.
    ///
    /// # Errors
    ///
    /// As [`Bulkhead::try_acquire`](crate::bulkhead::Bulkhead::try_acquire).
    #[inline]
    pub fn try_acquire(
        &self,
        now: impl TimeSource,
    ) -> Result<crate::bulkhead::BulkheadPermit, Rejected> {
        if let Some(permit) = self.slot_admit(now.known()) {
            return Ok(permit);
        }
        self.with(|b| b.try_acquire(now))
    }

    /// [`Bulkhead::poll_acquire`](crate::bulkhead::Bulkhead::poll_acquire) from `&self`.
    #[inline]
    pub fn poll_acquire(
        &self,
        now: impl TimeSource,
        ticket: &mut crate::bulkhead::Ticket,
        waker: Option<&core::task::Waker>,
    ) -> core::task::Poll<Result<crate::bulkhead::BulkheadPermit, Rejected>> {
        if !ticket.is_queued()
            && let Some(permit) = self.slot_admit(now.known())
        {
            return core::task::Poll::Ready(Ok(permit));
        }
        self.with(|b| b.poll_acquire(now, ticket, waker))
    }

    /// [`Bulkhead::cancel`](crate::bulkhead::Bulkhead::cancel) from `&self`.
    #[inline]
    pub fn cancel(&self, now: impl TimeSource, ticket: &mut crate::bulkhead::Ticket) {
        self.with(|b| b.cancel(now, ticket))
    }

    /// [`Bulkhead::release`](crate::bulkhead::Bulkhead::release) from `&self`.
    #[inline]
    pub fn release(
        &self,
        now: impl TimeSource,
        permit: crate::bulkhead::BulkheadPermit,
        outcome: Outcome,
    ) {
        SharedAdmission::exit(self, now, permit, outcome)
    }

    /// [`Bulkhead::metrics`](crate::bulkhead::Bulkhead::metrics) from `&self`.
    pub fn metrics(&self) -> crate::bulkhead::BulkheadMetrics {
        self.with(|b| b.metrics())
    }
}
