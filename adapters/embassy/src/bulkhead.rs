//! A bulkhead that lives in a `static` and waits on embassy-time.

use core::future::Future;

use failsafe_core::bulkhead::{
    BulkheadConfig, BulkheadEvent, BulkheadMetrics, FixedLimit, LimitAlgorithm,
};
use failsafe_core::sync::{CsLock, Lock, SharedBulkhead};
use failsafe_core::{Instant, Observer, Rejected};
use failsafe_driver::bulkhead as driver;
use failsafe_driver::{AcquireSlot, BulkheadGuard, Classify, Clock, DefaultClassifier, Error};

use crate::EmbassyClock;

/// The core's bulkhead state machine (a queue of `Q` waiters, observer
/// `O`, limit algorithm `A`), which a [`Bulkhead`] shares.
pub type BulkheadMachine<const Q: usize, O = (), A = FixedLimit> =
    failsafe_core::bulkhead::Bulkhead<Q, O, A>;

/// A bulkhead for embassy firmware: at most `limit` calls at once (to a
/// bus, a modem, a pool of buffers), and a FIFO queue of up to `Q` tasks,
/// each waiting at most `max_wait` for a slot. `const`-constructible so it
/// lives in a `static`, shared by every task through lock `L` (a
/// `critical-section` [`CsLock`] by default, or a
/// [`MutexLock`](crate::MutexLock) over the raw mutex you pick), waiting on
/// embassy-time.
///
/// A waiting task is woken when a slot is granted to it, and by an
/// embassy timer when its wait runs out (exactly at `max_wait`, never
/// before). A call whose future is dropped gives its slot back as
/// cancelled; a waiter dropped while queued gives up its place (handing on
/// a slot already granted to it): nothing leaks. The lock is never held
/// across an `.await`, and tasks are woken after it is released.
///
/// ## Quick start
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{Bulkhead, BulkheadConfig, Error, RejectReason};
///
/// // Checked at compile time: a bad value is a build error naming the field.
/// const CONFIG: BulkheadConfig = BulkheadConfig::builder()
///     .max_concurrent(2)                  // two transfers on the SPI bus at once ...
///     .max_wait(Duration::from_millis(50)) // ... others queue for up to 50 ms
///     .build_or_panic();
///
/// /// Up to 4 tasks may queue; a fifth is turned away at once.
/// static SPI: Bulkhead<4> = Bulkhead::new(CONFIG);
///
/// #[derive(Debug, PartialEq)]
/// struct SpiError;
///
/// async fn transfer(byte: u8) -> Result<u8, SpiError> {
///     Ok(byte ^ 0xFF) // talk to the hardware here
/// }
///
/// async fn exchange(byte: u8) -> Option<u8> {
///     match SPI.call(|| transfer(byte)).await {
///         Ok(reply) => Some(reply),
///         Err(Error::Rejected(rejected)) => {
///             // the bus stayed busy for 50 ms, or too many tasks queued: shed the work
///             let _ = rejected.reason == RejectReason::BulkheadWaitExpired;
///             None
///         }
///         Err(_spi_error) => None,
///     }
/// }
/// # assert_eq!(futures_lite::future::block_on(exchange(0x0F)), Some(0xF0));
/// # assert_eq!(SPI.in_flight(), 0);
/// ```
///
/// Or hold a slot across several steps with [`acquire`](Self::acquire):
/// the guard gives it back when finished or dropped.
#[derive(Debug)]
pub struct Bulkhead<const Q: usize, O = (), A = FixedLimit, L = CsLock<BulkheadMachine<Q, O, A>>> {
    shared: SharedBulkhead<Q, O, L, A>,
}

impl<const Q: usize> Bulkhead<Q> {
    /// A bulkhead with `config` (a fixed limit of `max_concurrent`) behind
    /// a [`CsLock`], with no observer. `const`.
    ///
    /// ```
    /// use failsafe_embassy::{Bulkhead, BulkheadConfig};
    /// static POOL: Bulkhead<8> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(POOL.limit(), 25);
    /// ```
    pub const fn new(config: BulkheadConfig) -> Self {
        Self::from_lock(CsLock::new(BulkheadMachine::new(config)))
    }
}

impl<const Q: usize, O: Observer<BulkheadEvent>> Bulkhead<Q, O> {
    /// A fixed-limit bulkhead behind a [`CsLock`] that reports its events to
    /// `observer` (inside the lock: keep it short, do not call back into
    /// the bulkhead). `const`: in a `static`, use a const-constructible
    /// observer such as `FnObserver(handler as fn(BulkheadEvent))`.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use failsafe_embassy::{Bulkhead, BulkheadConfig, BulkheadEvent, FnObserver};
    ///
    /// static REJECTED: AtomicU32 = AtomicU32::new(0);
    /// fn on_event(event: BulkheadEvent) {
    ///     if let BulkheadEvent::Rejected { .. } = event {
    ///         REJECTED.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    /// const ONE: BulkheadConfig = BulkheadConfig::builder().max_concurrent(1).build_or_panic();
    /// static POOL: Bulkhead<1, FnObserver<fn(BulkheadEvent)>> =
    ///     Bulkhead::with_observer(ONE, FnObserver(on_event as fn(BulkheadEvent)));
    ///
    /// let _held = POOL.try_acquire().unwrap();
    /// assert!(POOL.try_acquire().is_err());
    /// assert_eq!(REJECTED.load(Ordering::Relaxed), 1);
    /// ```
    pub const fn with_observer(config: BulkheadConfig, observer: O) -> Self {
        Self::from_lock(CsLock::new(BulkheadMachine::with_observer(
            config, observer,
        )))
    }
}

impl<const Q: usize, A: LimitAlgorithm> Bulkhead<Q, (), A> {
    /// A bulkhead behind a [`CsLock`] whose limit `algorithm` sets, clamped
    /// to `[1, config.max_concurrent()]` (raise `max_concurrent` to the
    /// algorithm's maximum). `const`.
    ///
    /// ```
    /// use failsafe_embassy::{Aimd, Bulkhead, BulkheadConfig};
    /// const CONFIG: BulkheadConfig = BulkheadConfig::builder().max_concurrent(200).build_or_panic();
    /// static POOL: Bulkhead<8, (), Aimd> = Bulkhead::adaptive(CONFIG, Aimd::DEFAULT);
    /// assert_eq!(POOL.limit(), 20);
    /// ```
    pub const fn adaptive(config: BulkheadConfig, algorithm: A) -> Self {
        Self::from_lock(CsLock::new(BulkheadMachine::adaptive(config, algorithm)))
    }
}

impl<const Q: usize, O, A, L> Bulkhead<Q, O, A, L>
where
    O: Observer<BulkheadEvent>,
    A: LimitAlgorithm,
    L: Lock<BulkheadMachine<Q, O, A>>,
{
    /// Shares the machine inside `lock`, whatever the lock. `const`.
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    /// use failsafe_embassy::{Bulkhead, BulkheadConfig, BulkheadMachine, FixedLimit, MutexLock};
    ///
    /// type Machine = BulkheadMachine<4>;
    /// static POOL: Bulkhead<4, (), FixedLimit, MutexLock<CriticalSectionRawMutex, Machine>> =
    ///     Bulkhead::from_lock(MutexLock::new(Machine::new(BulkheadConfig::DEFAULT)));
    /// # let _ = &POOL;
    /// ```
    pub const fn from_lock(lock: L) -> Self {
        Bulkhead {
            shared: SharedBulkhead::new(lock),
        }
    }

    /// Waits for a slot: at once if one is free and nobody is queued,
    /// otherwise queued (FIFO) until a slot is granted or `max_wait` runs
    /// out on an embassy timer. Resolves to a guard that gives the slot
    /// back when [`finish`](BulkheadGuard::finish)ed or dropped, or to the
    /// rejection (no wait allowed, queue full, wait ran out). Dropping the
    /// future while it waits gives up its place.
    ///
    /// ```
    /// use failsafe_embassy::{Bulkhead, BulkheadConfig, Outcome};
    /// static POOL: Bulkhead<4> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// # futures_lite::future::block_on(async {
    /// let slot = POOL.acquire().await.unwrap();
    /// // ... several steps that must not overlap with too many others ...
    /// slot.finish(Outcome::Success);
    /// # });
    /// ```
    pub fn acquire(&self) -> AcquireSlot<&SharedBulkhead<Q, O, L, A>, EmbassyClock> {
        driver::acquire(&self.shared, EmbassyClock)
    }

    /// Takes a slot now, or returns the rejection: never waits, never
    /// overtakes a queued task. Usable from an interrupt handler.
    pub fn try_acquire(
        &self,
    ) -> Result<BulkheadGuard<&SharedBulkhead<Q, O, L, A>, EmbassyClock>, Rejected> {
        driver::try_acquire(&self.shared, EmbassyClock)
    }

    /// Runs `f` in a slot, waiting for one (FIFO, up to `max_wait`): `Ok`
    /// counts as a success, `Err` as a failure (for an adaptive limit). A
    /// task turned away gets [`Error::Rejected`] and `f` is not called.
    /// Dropping the future mid-call gives the slot back as cancelled.
    ///
    /// ```
    /// use failsafe_embassy::{Bulkhead, BulkheadConfig};
    /// static POOL: Bulkhead<4> = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(POOL.call(|| async { Ok::<_, ()>(3) }).await, Ok(3));
    /// # });
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        driver::call(EmbassyClock, &self.shared, &DefaultClassifier, f).await
    }

    /// [`call`](Self::call) with a classifier deciding what an adaptive
    /// limit learns from each result. The caller gets the operation's own
    /// result.
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        driver::call(EmbassyClock, &self.shared, classify, f).await
    }

    /// Sets the limit by hand, clamped to `[1, max_concurrent]`; returns
    /// the limit in force. Raising it grants slots to waiting tasks at once.
    pub fn set_limit(&self, limit: u32) -> u32 {
        self.shared
            .with(|b| b.set_limit(|| EmbassyClock.now(), limit))
    }

    /// The limit in force.
    pub fn limit(&self) -> u32 {
        self.shared.with(|b| b.limit())
    }

    /// Slots taken (calls running, and slots granted to tasks not yet
    /// running).
    pub fn in_flight(&self) -> u32 {
        self.shared.with(|b| b.in_flight())
    }

    /// Tasks queued for a slot.
    pub fn queued(&self) -> usize {
        self.shared.with(|b| b.queued())
    }

    /// A snapshot of the counts.
    pub fn metrics(&self) -> BulkheadMetrics {
        self.shared.metrics()
    }

    /// When the first queued task's wait runs out (`None` with nobody
    /// waiting).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.shared.next_deadline()
    }

    /// The shared machine, for anything this type does not wrap
    /// ([`SharedBulkhead::with`]).
    pub const fn shared(&self) -> &SharedBulkhead<Q, O, L, A> {
        &self.shared
    }
}
