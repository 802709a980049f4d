//! Sharing a machine between tasks, threads or interrupt handlers.
//!
//! The machines take `&mut self`; a [`Lock`] turns that into `&self`. The core
//! ships [`CsLock`] (a `critical-section` mutex, for firmware); the std
//! adapters supply one over `std::sync::Mutex`. [`SharedBreaker`] adds a
//! lock-free fast path: while the breaker is open, a call is rejected after
//! one atomic load, without touching the lock.
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
//! | core | the atomic words (`AtomicGcra`, the breaker's and fail fast's fast paths) | what you provide |
//! |---|---|---|
//! | 64-bit atomics (x86_64, aarch64, Cortex-A, ...) | lock-free | nothing (a critical-section implementation only for [`CsLock`]) |
//! | thumbv7m, thumbv7em (Cortex-M3/M4/M7: 32-bit CAS, no 64-bit) | a few instructions with interrupts masked | a critical-section implementation, e.g. cortex-m's `critical-section-single-core` feature, or your HAL's |
//! | thumbv6m (Cortex-M0/M0+, RP2040, STM32G0: no CAS) | a few instructions with interrupts masked | the same, plus this crate's `critical-section` feature (the build stops with a `compile_error!` without it) |
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

use crate::atomic::{AtomicU64, Ordering};

use crate::breaker::{
    BreakerEvent, BreakerMetrics, BreakerPermit, CircuitBreaker, PermitKind, State, Window,
};
use crate::time::{LazyTime, TimeSource};
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

impl<T> Lock<T> for CsLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        critical_section::with(|cs| f(&mut self.inner.borrow_ref_mut(cs)))
    }
}

/// `rejecting_until` stored as nanoseconds; zero means "not rejecting".
const NOT_REJECTING: u64 = 0;

/// The lock-free "rejecting until" gate shared by the shared machines: the
/// machine's own `rejecting_until()` published under the lock, checked with
/// one atomic load; `Instant::MAX` means "until further notice".
#[derive(Debug)]
struct RejectGate {
    until: AtomicU64,
    rejections: AtomicU64,
    /// The machine's latest time seen, published under the lock: the
    /// lock-free paths read it to honour the clock contract.
    latest: AtomicU64,
}

impl RejectGate {
    #[cfg(not(loom))]
    const fn new() -> Self {
        RejectGate {
            until: AtomicU64::new(NOT_REJECTING),
            rejections: AtomicU64::new(0),
            latest: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        RejectGate {
            until: AtomicU64::new(NOT_REJECTING),
            rejections: AtomicU64::new(0),
            latest: AtomicU64::new(0),
        }
    }

    /// Rejects for `reason` if the gate is closed at `time`; reads the time
    /// only if the gate is closed at all.
    #[inline]
    fn check<T: TimeSource>(
        &self,
        time: &mut LazyTime<T>,
        reason: RejectReason,
    ) -> Result<(), Rejected> {
        let until = self.until.load(Ordering::Acquire);
        if until != NOT_REJECTING && time.raw().as_nanos() < until {
            self.rejections.fetch_add(1, Ordering::Relaxed);
            let retry_at = (until != u64::MAX).then(|| Instant::from_nanos(until));
            return Err(Rejected::new(reason, retry_at));
        }
        Ok(())
    }

    /// Publishes the machine's answer; call under the machine's lock so
    /// stores happen in transition order.
    ///
    /// `latest` is the latest time the machine has seen: a gate that closed
    /// before it is not published, so a caller whose clock steps back is
    /// sent to the machine (which reads its time as `latest`) instead of
    /// being rejected by the gate (the clock contract).
    #[inline]
    fn publish(&self, until: Option<Instant>, latest: Instant) {
        let latest = latest.as_nanos();
        if self.latest.load(Ordering::Relaxed) < latest {
            self.latest.store(latest, Ordering::Relaxed);
        }
        let until = until
            .filter(|until| until.as_nanos() > latest)
            .map_or(NOT_REJECTING, Instant::as_nanos);
        if self.until.load(Ordering::Relaxed) != until {
            self.until.store(until, Ordering::Release);
        }
    }

    fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }

    fn reset_rejections(&self) {
        self.rejections.store(0, Ordering::Relaxed);
    }
}

/// What a shared breaker's gate holds while forced open.
const FORCED_OPEN: u64 = u64::MAX;
/// ... and while open with a wait that ends past the end of the clock.
const OPEN_NEVER: u64 = u64::MAX - 1;

/// The admission word: the machine admits without looking (closed,
/// metrics-only, disabled). The low 32 bits hold the epoch.
const FREE: u64 = 1 << 63;
/// ... and the permit counts nowhere (disabled).
const UNCOUNTED: u64 = 1 << 62;
/// ... and the permit needs its start time (slow-call detection).
const TIMED: u64 = 1 << 61;

/// A circuit breaker usable from `&self`: the machine behind lock `L`, plus
/// two atomic words published under the lock, so the common paths skip it:
/// a closed breaker admits with one atomic load (the permit carries the
/// epoch it saw, so a transition racing it is handled like any late
/// outcome), and an open breaker rejects with one atomic load.
///
/// Rejections on the fast path are counted in [`metrics`](Self::metrics) but
/// emit no [`BreakerEvent::Rejected`]: the observer lives behind the lock.
/// They carry exactly the machine's `retry_at` (see the [breaker
/// docs](crate::breaker#what-a-rejections-retry_at-says)): the open wait's end,
/// `None` when forced open or when every half-open probe is out.
///
/// The clock contract holds as for [`CircuitBreaker`], with one reading: a
/// call admitted on the lock-free path (a closed breaker) or rejected by
/// the lock-free gate (an open one) does not hand the machine its time, so
/// it does not move the latest time seen; a timed call's start is read no
/// earlier than that latest time, and the gate is only published while it
/// closes after it (a caller whose clock stepped back behind it is sent to
/// the machine).
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
/// use failsafe_core::sync::{CsLock, SharedBreaker};
/// use failsafe_core::{Instant, Outcome};
///
/// static BREAKER: SharedBreaker<CountWindow<20>, (), CsLock<CircuitBreaker<CountWindow<20>>>> =
///     SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new())));
///
/// let permit = BREAKER.acquire(Instant::ZERO).unwrap();
/// BREAKER.record(Instant::from_millis(2), permit, Outcome::Success);
/// ```
#[derive(Debug)]
pub struct SharedBreaker<W, O, L> {
    lock: L,
    admission: AtomicU64,
    gate: RejectGate,
    _machine: PhantomData<fn() -> CircuitBreaker<W, O>>,
}

impl<W, O, L> SharedBreaker<W, O, L>
where
    W: Window,
    O: Observer<BreakerEvent>,
    L: Lock<CircuitBreaker<W, O>>,
{
    /// Shares the breaker inside `lock`, which must be closed (fresh). `const`.
    ///
    /// For a breaker that is not fresh use [`from_lock`](Self::from_lock).
    #[cfg(not(loom))]
    pub const fn new(lock: L) -> Self {
        SharedBreaker {
            lock,
            // 0: ask the machine; the first locked call publishes the real word.
            admission: AtomicU64::new(0),
            gate: RejectGate::new(),
            _machine: PhantomData,
        }
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(lock: L) -> Self {
        SharedBreaker {
            lock,
            // 0: ask the machine; the first locked call publishes the real word.
            admission: AtomicU64::new(0),
            gate: RejectGate::new(),
            _machine: PhantomData,
        }
    }

    /// Shares the breaker inside `lock`, whatever state it is in.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::Instant;
    /// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// b.force_open(Instant::ZERO);
    /// let shared = SharedBreaker::from_lock(CsLock::new(b));
    /// assert!(shared.acquire(Instant::from_secs(1)).is_err());
    /// ```
    pub fn from_lock(lock: L) -> Self {
        let shared = Self::new(lock);
        shared.with(|_| ());
        shared
    }

    /// [`CircuitBreaker::acquire`] from `&self`. While the breaker is open
    /// this is one atomic load: no lock is taken.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::{Instant, RejectReason};
    /// let shared = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
    /// shared.with(|b| b.open(Instant::ZERO));
    /// let r = shared.acquire(Instant::from_secs(1)).unwrap_err();
    /// assert_eq!((r.reason, r.retry_at), (RejectReason::BreakerOpen, Some(Instant::from_secs(30))));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`CircuitBreaker::acquire`], with the same reason and `retry_at`
    /// whether the lock-free gate or the machine rejects.
    #[inline]
    pub fn acquire(&self, now: impl TimeSource) -> Result<BreakerPermit, Rejected> {
        let mut time = LazyTime::unclamped(now);
        let word = self.admission.load(Ordering::Acquire);
        if word & FREE != 0 {
            let kind = if word & UNCOUNTED != 0 {
                PermitKind::Uncounted
            } else {
                PermitKind::Counted
            };
            let issued_at = if word & TIMED != 0 {
                // The clock contract: a start before the latest time the
                // machine has seen reads as that time.
                time.raw().max(Instant::from_nanos(
                    self.gate.latest.load(Ordering::Relaxed),
                ))
            } else {
                Instant::ZERO
            };
            return Ok(BreakerPermit::new(issued_at, word as u32, kind));
        }
        // The gate holds `FORCED_OPEN` when forced open ("until an operator
        // says otherwise": `retry_at` None), `OPEN_NEVER` for an open wait
        // that never ends (`retry_at` never), else the open wait's end (the
        // exact instant a probe is admitted): the machine's own answers.
        let until = self.gate.until.load(Ordering::Relaxed);
        let reason = if until == FORCED_OPEN {
            RejectReason::BreakerForcedOpen
        } else {
            RejectReason::BreakerOpen
        };
        self.gate.check(&mut time, reason).map_err(|r| {
            if r.retry_at == Some(Instant::from_nanos(OPEN_NEVER)) {
                Rejected::never(r.reason)
            } else {
                r
            }
        })?;
        self.with(|b| b.acquire(time))
    }

    /// [`CircuitBreaker::record`] from `&self`.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::{Instant, Outcome};
    /// let config = BreakerConfig::builder().consecutive_failures(1).build().unwrap();
    /// let shared = SharedBreaker::new(CsLock::new(CircuitBreaker::new(config, NoWindow)));
    /// let p = shared.acquire(Instant::ZERO).unwrap();
    /// shared.record(Instant::ZERO, p, Outcome::Failure);
    /// assert_eq!(shared.state(), State::Open);
    /// ```
    #[inline]
    pub fn record(&self, now: impl TimeSource, permit: BreakerPermit, outcome: Outcome) {
        self.with(|b| b.record(now, permit, outcome))
    }

    /// Runs `f` on the machine under the lock (manual open/close, config,
    /// observer), then republishes the fast-path state.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::Instant;
    /// let shared = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
    /// shared.with(|b| b.force_open(Instant::ZERO));
    /// assert_eq!(shared.state(), State::ForcedOpen);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut CircuitBreaker<W, O>) -> R) -> R {
        self.lock.with(|b| {
            let r = f(b);
            // Published under the lock, so stores happen in transition order.
            // The machine never opens until `MAX - 1 ns` (it rounds that up
            // to `MAX`, "never"), so `OPEN_NEVER` cannot be a real wait's end.
            let until = match (b.state(), b.rejecting_until()) {
                (State::Open, Some(Instant::MAX)) => Some(Instant::from_nanos(OPEN_NEVER)),
                (_, until) => until,
            };
            self.gate.publish(until, b.latest_seen());
            let admission = match b.free_admission() {
                Some((epoch, counted, timed)) => {
                    FREE | if counted { 0 } else { UNCOUNTED }
                        | if timed { TIMED } else { 0 }
                        | epoch as u64
                }
                None => 0,
            };
            if self.admission.load(Ordering::Relaxed) != admission {
                self.admission.store(admission, Ordering::Release);
            }
            r
        })
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.with(|b| b.state())
    }

    /// [`CircuitBreaker::next_deadline`] from `&self`.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.with(|b| b.next_deadline())
    }

    /// [`CircuitBreaker::on_deadline`] from `&self`.
    pub fn on_deadline(&self, now: Instant) {
        self.with(|b| b.on_deadline(now))
    }

    /// [`CircuitBreaker::reset`], also zeroing the fast-path rejection count.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow, State};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::Instant;
    /// let shared = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
    /// shared.with(|b| b.force_open(Instant::ZERO));
    /// let _ = shared.acquire(Instant::ZERO);
    /// shared.reset(Instant::ZERO);
    /// assert_eq!((shared.state(), shared.metrics(Instant::ZERO).rejected), (State::Closed, 0));
    /// ```
    pub fn reset(&self, now: Instant) {
        self.with(|b| {
            b.reset(now);
            self.gate.reset_rejections();
        })
    }

    /// [`CircuitBreaker::metrics`], with fast-path rejections added in.
    ///
    /// ```
    /// # use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// # use failsafe_core::sync::{CsLock, SharedBreaker};
    /// # use failsafe_core::Instant;
    /// let shared = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
    /// shared.with(|b| b.force_open(Instant::ZERO));
    /// for _ in 0..3 { let _ = shared.acquire(Instant::ZERO); }
    /// assert_eq!(shared.metrics(Instant::ZERO).rejected, 3);
    /// ```
    pub fn metrics(&self, now: Instant) -> BreakerMetrics {
        let mut m = self.with(|b| b.metrics(now));
        m.rejected = m.rejected.saturating_add(self.gate.rejections());
        m
    }
}

/// No budget needs no lock: `&NoBudget` can stand wherever a shared budget is expected.
impl Lock<crate::retry::NoBudget> for crate::retry::NoBudget {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut crate::retry::NoBudget) -> R) -> R {
        f(&mut crate::retry::NoBudget)
    }
}

/// A [`FailFast`](crate::failfast::FailFast) usable from `&self`: the machine
/// behind lock `L`, plus the same lock-free gate as [`SharedBreaker`], so an
/// open fail fast rejects with one atomic load (deadline checks and closed
/// admissions take the lock).
///
/// Rejections on the fast path are counted in [`metrics`](Self::metrics)
/// (`rejected_open`) but emit no event: the observer lives behind the lock.
///
/// The clock contract holds as for the machine, with one reading: a call
/// rejected by the lock-free gate does not hand the machine its time. The
/// gate is only published while it closes after the latest time the
/// machine saw, so a caller whose clock steps back behind that time is sent
/// to the machine, never turned away by the gate.
///
/// ```
/// use failsafe_core::failfast::{FailFast, FailFastConfig};
/// use failsafe_core::sync::{CsLock, SharedFailFast};
/// use failsafe_core::timeout::Deadline;
/// use failsafe_core::{Instant, Outcome, RejectReason};
///
/// static DOWNSTREAM: SharedFailFast<(), CsLock<FailFast>> =
///     SharedFailFast::new(CsLock::new(FailFast::new(FailFastConfig::DEFAULT)));
///
/// DOWNSTREAM.with(|ff| ff.report_unhealthy(Instant::ZERO));
/// let r = DOWNSTREAM.acquire(Instant::from_secs(1), Deadline::NEVER).unwrap_err();
/// assert_eq!(r.reason, RejectReason::FailFastOpen);
/// assert_eq!(DOWNSTREAM.metrics().rejected_open, 1);
/// ```
#[derive(Debug)]
pub struct SharedFailFast<O, L> {
    lock: L,
    gate: RejectGate,
    _machine: PhantomData<fn() -> crate::failfast::FailFast<O>>,
}

impl<O, L> SharedFailFast<O, L>
where
    O: Observer<crate::failfast::FailFastEvent>,
    L: Lock<crate::failfast::FailFast<O>>,
{
    /// Shares the fail fast inside `lock` (in any state: the first locked
    /// call publishes the gate). `const`.
    #[cfg(not(loom))]
    pub const fn new(lock: L) -> Self {
        SharedFailFast {
            lock,
            gate: RejectGate::new(),
            _machine: PhantomData,
        }
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(lock: L) -> Self {
        SharedFailFast {
            lock,
            gate: RejectGate::new(),
            _machine: PhantomData,
        }
    }

    /// [`FailFast::acquire`](crate::failfast::FailFast::acquire) from `&self`;
    /// one atomic load while open.
    ///
    /// ```
    /// # use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// # use failsafe_core::sync::{CsLock, SharedFailFast};
    /// # use failsafe_core::timeout::Deadline;
    /// # use failsafe_core::{Instant, Outcome};
    /// let shared = SharedFailFast::new(CsLock::new(FailFast::new(FailFastConfig::DEFAULT)));
    /// let permit = shared.acquire(Instant::ZERO, Deadline::NEVER).unwrap();
    /// shared.record(Instant::from_millis(5), permit, Outcome::Success);
    /// ```
    ///
    /// # Errors
    ///
    /// As [`FailFast::acquire`](crate::failfast::FailFast::acquire), with the
    /// same reason and `retry_at` whether the lock-free gate or the machine
    /// rejects.
    #[inline]
    pub fn acquire(
        &self,
        now: impl TimeSource,
        deadline: crate::timeout::Deadline,
    ) -> Result<crate::failfast::FailFastPermit, Rejected> {
        let mut time = LazyTime::unclamped(now);
        self.gate.check(&mut time, RejectReason::FailFastOpen)?;
        self.with(|ff| ff.acquire(time, deadline))
    }

    /// [`FailFast::record`](crate::failfast::FailFast::record) from `&self`.
    #[inline]
    pub fn record(
        &self,
        now: impl TimeSource,
        permit: crate::failfast::FailFastPermit,
        outcome: Outcome,
    ) {
        self.with(|ff| ff.record(now, permit, outcome))
    }

    /// Runs `f` on the machine under the lock (health reports, manual
    /// open/close), then republishes the gate.
    pub fn with<R>(&self, f: impl FnOnce(&mut crate::failfast::FailFast<O>) -> R) -> R {
        self.lock.with(|ff| {
            let r = f(ff);
            self.gate.publish(ff.rejecting_until(), ff.latest_seen());
            r
        })
    }

    /// [`FailFast::reset`](crate::failfast::FailFast::reset), also zeroing the
    /// fast-path rejection count.
    pub fn reset(&self, now: Instant) {
        self.with(|ff| {
            ff.reset(now);
            self.gate.reset_rejections();
        })
    }

    /// The machine's metrics, with fast-path rejections added to `rejected_open`.
    pub fn metrics(&self) -> crate::failfast::FailFastMetrics {
        let mut m = self.with(|ff| ff.metrics());
        m.rejected_open = m.rejected_open.saturating_add(self.gate.rejections());
        m
    }
}

/// A [`Bulkhead`](crate::bulkhead::Bulkhead) usable from `&self`: the
/// machine behind lock `L`. Waiters the machine grants or expires are woken
/// after the lock is released, never under it.
///
/// ```
/// use core::task::Poll;
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::{Instant, Outcome};
///
/// const CONFIG: BulkheadConfig = BulkheadConfig::builder()
///     .max_concurrent(1)
///     .max_wait(core::time::Duration::from_secs(1))
///     .build_or_panic();
/// static POOL: SharedBulkhead<4, (), CsLock<Bulkhead<4>>> = SharedBulkhead::new(CsLock::new(Bulkhead::new(CONFIG)));
///
/// let first = POOL.try_acquire(Instant::ZERO).unwrap();
/// let mut ticket = Ticket::new();
/// assert!(POOL.poll_acquire(Instant::ZERO, &mut ticket, None).is_pending()); // queued
/// POOL.release(Instant::from_millis(5), first, Outcome::Success);
/// let Poll::Ready(Ok(second)) = POOL.poll_acquire(Instant::from_millis(6), &mut ticket, None) else { panic!() };
/// POOL.release(Instant::from_millis(9), second, Outcome::Success);
/// ```
#[derive(Debug)]
pub struct SharedBulkhead<const Q: usize, O, L, A = crate::bulkhead::FixedLimit> {
    lock: L,
    _machine: PhantomData<fn() -> crate::bulkhead::Bulkhead<Q, O, A>>,
}

impl<const Q: usize, O, L, A> SharedBulkhead<Q, O, L, A>
where
    O: Observer<crate::bulkhead::BulkheadEvent>,
    A: crate::bulkhead::LimitAlgorithm,
    L: Lock<crate::bulkhead::Bulkhead<Q, O, A>>,
{
    /// Shares the bulkhead inside `lock`. `const`.
    pub const fn new(lock: L) -> Self {
        SharedBulkhead {
            lock,
            _machine: PhantomData,
        }
    }

    /// Runs `f` on the machine under the lock, then wakes (outside the lock)
    /// every waiter `f` granted a slot or expired.
    pub fn with<R>(&self, f: impl FnOnce(&mut crate::bulkhead::Bulkhead<Q, O, A>) -> R) -> R {
        // Most calls owe no wake-up: the waker list is built (and moved out
        // of the lock) only when there is one.
        let mut owed: Option<heapless::Vec<core::task::Waker, Q>> = None;
        let r = self.lock.with(|b| {
            let r = f(b);
            if let Some(first) = b.pop_waker() {
                let mut list = heapless::Vec::new();
                let mut next = Some(first);
                while let Some(waker) = next {
                    if let Err(waker) = list.push(waker) {
                        waker.wake(); // cannot happen: at most Q waiters are queued
                    }
                    next = b.pop_waker();
                }
                owed = Some(list);
            }
            r
        });
        if let Some(list) = &owed {
            for waker in list {
                waker.wake_by_ref();
            }
        }
        r
    }

    /// [`Bulkhead::try_acquire`](crate::bulkhead::Bulkhead::try_acquire) from `&self`: never waits.
    ///
    /// # Errors
    ///
    /// As [`Bulkhead::try_acquire`](crate::bulkhead::Bulkhead::try_acquire):
    /// [`RejectReason::BulkheadFull`], `retry_at: None`.
    #[inline]
    pub fn try_acquire(
        &self,
        now: impl TimeSource,
    ) -> Result<crate::bulkhead::BulkheadPermit, Rejected> {
        self.with(|b| b.try_acquire(now))
    }

    /// [`Bulkhead::poll_acquire`](crate::bulkhead::Bulkhead::poll_acquire)
    /// from `&self`: one function for blocking (`waker: None`, poll again
    /// later) and async callers.
    ///
    /// # Errors
    ///
    /// `Ready(Err)` as
    /// [`Bulkhead::poll_acquire`](crate::bulkhead::Bulkhead::poll_acquire):
    /// `BulkheadFull`, `BulkheadQueueFull` or `BulkheadWaitExpired`, always
    /// with `retry_at: None`.
    #[inline]
    pub fn poll_acquire(
        &self,
        now: impl TimeSource,
        ticket: &mut crate::bulkhead::Ticket,
        waker: Option<&core::task::Waker>,
    ) -> core::task::Poll<Result<crate::bulkhead::BulkheadPermit, Rejected>> {
        self.with(|b| b.poll_acquire(now, ticket, waker))
    }

    /// [`Bulkhead::cancel`](crate::bulkhead::Bulkhead::cancel) from `&self`
    /// (call it from a waiting future's `Drop`).
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
        self.with(|b| b.release(now, permit, outcome))
    }

    /// [`Bulkhead::on_deadline`](crate::bulkhead::Bulkhead::on_deadline) from `&self`.
    pub fn on_deadline(&self, now: Instant) {
        self.with(|b| b.on_deadline(now))
    }

    /// [`Bulkhead::next_deadline`](crate::bulkhead::Bulkhead::next_deadline) from `&self`.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.with(|b| b.next_deadline())
    }

    /// [`Bulkhead::metrics`](crate::bulkhead::Bulkhead::metrics) from `&self`.
    pub fn metrics(&self) -> crate::bulkhead::BulkheadMetrics {
        self.with(|b| b.metrics())
    }
}
