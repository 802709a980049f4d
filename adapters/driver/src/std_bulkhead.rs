//! The bulkhead for std code: the blocking wait (the thread parks until a
//! slot is granted or its wait may have run out), and the cloneable
//! [`Bulkhead`] handle the tokio, async-std and thread adapters bind.

extern crate std;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::Thread;

use core::time::Duration;

use failsafe_core::bulkhead::{
    Bulkhead as Machine, BulkheadConfig, BulkheadEvent, BulkheadMetrics, BulkheadPermit,
    FixedLimit, LimitAlgorithm, Ticket,
};
use failsafe_core::sync::SharedBulkhead;
use failsafe_core::{Instant, Outcome, Rejected, TimeSource};

use crate::bulkhead::{
    self as driver, AcquireSlot, BulkheadGuard, BulkheadPolicy, SlotStep, SlotWait,
};
use crate::{Classify, Clock, DefaultClassifier, Error, Hook, Runtime, StdClock, StdLock};

/// A clock a blocked thread can wait on for a bulkhead slot: parked until
/// woken (a slot was granted to it) or until a deadline on this clock.
///
/// The default parks with `std::thread::park_timeout` for the time left
/// until `deadline` by [`now`](Clock::now), and with `std::thread::park`
/// without one: right for [`StdClock`] and any clock that follows real
/// time. A test clock that only moves when the test says so overrides it
/// with `std::thread::park()` and lets the test end waits with
/// [`Bulkhead::on_deadline`] after moving the clock: no test then depends
/// on real time passing.
///
/// Returning early (spuriously) is harmless: the waiter polls again.
///
/// ```
/// use failsafe_core::Instant;
/// use failsafe_driver::{Clock, bulkhead::Park};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// A test clock: the test moves it and ends waits itself.
/// struct Manual(AtomicU64);
/// impl Clock for Manual { fn now(&self) -> Instant { Instant::from_nanos(self.0.load(Ordering::SeqCst)) } }
/// impl Park for Manual {
///     fn park_until(&self, _deadline: Option<Instant>) { std::thread::park() }
/// }
/// # let _ = Manual(AtomicU64::new(0)).now();
/// ```
pub trait Park: Clock {
    /// Parks the calling thread until it is unparked, or until `deadline`
    /// (never, for `None`) has passed on this clock. May return early.
    fn park_until(&self, deadline: Option<Instant>) {
        match deadline {
            None => std::thread::park(),
            Some(at) => {
                let left = at.saturating_duration_since(self.now());
                if !left.is_zero() {
                    std::thread::park_timeout(left);
                }
            }
        }
    }
}

impl<C: Park + ?Sized> Park for &C {
    #[inline]
    fn park_until(&self, deadline: Option<Instant>) {
        (**self).park_until(deadline)
    }
}

/// Parks for the real time left until the deadline.
impl Park for StdClock {}

impl<B: BulkheadPolicy + ?Sized> BulkheadPolicy for Arc<B> {
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
    ) -> core::task::Poll<Result<BulkheadPermit, Rejected>> {
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

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// [`acquire`](crate::bulkhead::acquire) for blocking code: takes a slot
/// at once if one is free and nobody is queued; otherwise queues and parks
/// the thread ([`Park::park_until`]) until a slot is granted to it (the
/// release unparks it) or its wait may have run out. Returns the guard, or
/// the rejection (no wait allowed, queue full, wait ran out).
///
/// The uncontended path allocates nothing; a thread that has to wait makes
/// one waker for the whole wait.
///
/// ```
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_core::Outcome;
/// use failsafe_driver::{bulkhead, StdClock};
///
/// let pool: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
///     SharedBulkhead::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
/// let guard = bulkhead::acquire_blocking(&pool, StdClock).unwrap();
/// guard.finish(Outcome::Success);
/// ```
pub fn acquire_blocking<B, C>(bulkhead: B, clock: C) -> Result<BulkheadGuard<B, C>, Rejected>
where
    B: BulkheadPolicy + Clone,
    C: Park + Clone,
{
    let mut wait = SlotWait::new(bulkhead, clock);
    let mut waker: Option<Waker> = None;
    loop {
        match wait.poll(waker.as_ref()) {
            SlotStep::Granted(guard) => return Ok(guard),
            SlotStep::Rejected(rejected) => return Err(rejected),
            SlotStep::Pending { recheck_at } => match &waker {
                // Queued without a waker: register one and ask again (a
                // slot granted meanwhile is collected by that poll).
                None => waker = Some(Waker::from(Arc::new(Unpark(std::thread::current())))),
                Some(_) => wait.clock().park_until(recheck_at),
            },
        }
    }
}

/// [`call`](crate::bulkhead::call) for blocking code: waits for a slot
/// ([`acquire_blocking`]), runs `f` on this thread, gives the slot back
/// with the classified outcome. A panic in `f` gives the slot back as
/// [`Outcome::Cancelled`] while it unwinds.
///
/// ```
/// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
/// use failsafe_core::sync::{CsLock, SharedBulkhead};
/// use failsafe_driver::{bulkhead, DefaultClassifier, StdClock};
///
/// let pool: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
///     SharedBulkhead::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
/// let r = bulkhead::call_blocking(StdClock, &pool, &DefaultClassifier, || Ok::<_, ()>(3));
/// assert_eq!(r, Ok(3));
/// ```
pub fn call_blocking<C, B, K, F, T, E>(
    clock: C,
    bulkhead: B,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    C: Park + Clone,
    B: BulkheadPolicy + Clone,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Result<T, E>,
{
    let guard = acquire_blocking(bulkhead, clock)?;
    let result = f();
    guard.finish(classify.classify(&result));
    result.map_err(Error::Inner)
}

/// The machine inside a [`Bulkhead`] handle: a core bulkhead with a queue
/// of `Q` waiters and limit algorithm `A`, behind a [`StdLock`], reporting
/// to a [`Hook`].
pub type SharedStdBulkhead<const Q: usize, A = FixedLimit> =
    SharedBulkhead<Q, Hook<BulkheadEvent>, StdLock<Machine<Q, Hook<BulkheadEvent>, A>>, A>;

/// A [`BulkheadGuard`] that owns a handle to its bulkhead (it is `'static`),
/// as [`Bulkhead::acquire`], [`Bulkhead::try_acquire`] and
/// [`Bulkhead::acquire_blocking`] return.
pub type OwnedBulkheadGuard<const Q: usize, A, C> = BulkheadGuard<Arc<SharedStdBulkhead<Q, A>>, C>;

/// A cloneable, `Send + Sync` bulkhead for std code, reading clock `C`:
/// at most `limit` calls at once, and a FIFO queue of up to `Q` callers
/// waiting at most `max_wait` for a slot. Clones share one bulkhead. The
/// tokio, async-std and thread adapters are this handle bound to their
/// clocks.
///
/// - [`call(|| async { .. })`](Self::call) waits for a slot, runs the
///   operation, gives the slot back (as `Cancelled` if the future is
///   dropped or the operation panics); a caller turned away gets
///   [`Error::Rejected`];
/// - [`acquire().await`](Self::acquire) returns a guard to hold the slot
///   by hand, [`try_acquire()`](Self::try_acquire) never waits;
/// - `_blocking` variants for threads ([`Park`] clocks);
/// - [`set_limit`](Self::set_limit), [`metrics`](Self::metrics),
///   [`on_event`](Self::on_event).
///
/// `A` is the limit: [`FixedLimit`] (`max_concurrent` from the
/// configuration), or an adaptive algorithm
/// ([`Aimd`](failsafe_core::bulkhead::Aimd),
/// [`Vegas`](failsafe_core::bulkhead::Vegas),
/// [`Gradient2`](failsafe_core::bulkhead::Gradient2)) through
/// [`adaptive`](Self::adaptive).
pub struct Bulkhead<const Q: usize, A, C> {
    shared: Arc<SharedStdBulkhead<Q, A>>,
    clock: C,
}

impl<const Q: usize, A, C: Clone> Clone for Bulkhead<Q, A, C> {
    fn clone(&self) -> Self {
        Bulkhead {
            shared: Arc::clone(&self.shared),
            clock: self.clock.clone(),
        }
    }
}

impl<const Q: usize, A, C: fmt::Debug> fmt::Debug for Bulkhead<Q, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("queue", &Q)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<const Q: usize, C: Clock + Default> Bulkhead<Q, FixedLimit, C> {
    /// A bulkhead with `config` (a fixed limit of `max_concurrent`), on the
    /// default clock.
    pub fn new(config: BulkheadConfig) -> Self {
        Self::with_clock(config, C::default())
    }
}

impl<const Q: usize, C: Clock> Bulkhead<Q, FixedLimit, C> {
    /// A bulkhead with `config` (a fixed limit of `max_concurrent`),
    /// reading `clock` (a test clock, say).
    pub fn with_clock(config: BulkheadConfig, clock: C) -> Self {
        Self::from_machine(Machine::with_observer(config, Hook::none()), clock)
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Clock + Default> Bulkhead<Q, A, C> {
    /// A bulkhead whose limit `algorithm` sets, clamped to
    /// `[1, config.max_concurrent()]` (raise `max_concurrent` to the
    /// algorithm's maximum), on the default clock.
    pub fn adaptive(config: BulkheadConfig, algorithm: A) -> Self {
        Self::adaptive_with_clock(config, algorithm, C::default())
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Clock> Bulkhead<Q, A, C> {
    /// [`adaptive`](Self::adaptive), reading `clock`.
    pub fn adaptive_with_clock(config: BulkheadConfig, algorithm: A, clock: C) -> Self {
        Self::from_machine(Machine::with_parts(config, algorithm, Hook::none()), clock)
    }

    fn from_machine(machine: Machine<Q, Hook<BulkheadEvent>, A>, clock: C) -> Self {
        Bulkhead {
            shared: Arc::new(SharedBulkhead::new(StdLock::new(machine))),
            clock,
        }
    }

    /// Sends every [`BulkheadEvent`] to `f` (replacing any previous hook),
    /// for every clone. `f` runs under the bulkhead's lock: keep it short
    /// and do not call back into the bulkhead.
    pub fn on_event(self, f: impl Fn(BulkheadEvent) + Send + Sync + 'static) -> Self {
        self.shared.with(|b| *b.observer_mut() = Hook::new(f));
        self
    }

    /// Takes a slot now, or returns the rejection: never waits, never
    /// overtakes a queued caller. The guard owns a handle to the bulkhead.
    pub fn try_acquire(&self) -> Result<OwnedBulkheadGuard<Q, A, C>, Rejected>
    where
        C: Clone,
    {
        driver::try_acquire(Arc::clone(&self.shared), self.clock.clone())
    }

    /// Sets the limit by hand, clamped to `[1, max_concurrent]` (an
    /// adaptive algorithm carries on from there); returns the limit in
    /// force. Raising it grants slots to waiters at once; lowering it
    /// admits nobody until enough slots come back.
    pub fn set_limit(&self, limit: u32) -> u32 {
        let clock = &self.clock;
        self.shared.with(|b| b.set_limit(|| clock.now(), limit))
    }

    /// The limit in force.
    pub fn limit(&self) -> u32 {
        self.shared.with(|b| b.limit())
    }

    /// Slots taken (calls running, and slots granted to waiters not yet
    /// running).
    pub fn in_flight(&self) -> u32 {
        self.shared.with(|b| b.in_flight())
    }

    /// Callers queued for a slot.
    pub fn queued(&self) -> usize {
        self.shared.with(|b| b.queued())
    }

    /// A snapshot of the counts.
    pub fn metrics(&self) -> BulkheadMetrics {
        self.shared.metrics()
    }

    /// The configuration.
    pub fn config(&self) -> BulkheadConfig {
        self.shared.with(|b| *b.config())
    }

    /// How long a caller may queue for a slot.
    pub fn max_wait(&self) -> Duration {
        self.config().max_wait()
    }

    /// When the first queued caller's wait runs out (`None` with nobody
    /// waiting). Waiters watch their own deadline; this is for dashboards
    /// and for tests that drive time by hand.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.shared.next_deadline()
    }

    /// Ends every wait that has run out by now, waking its caller. Waiters
    /// do this themselves on their timers; a test whose clock only moves by
    /// hand (and whose [`Park`] does not time out) calls it after moving
    /// the clock.
    pub fn on_deadline(&self) {
        self.shared.on_deadline(self.clock.now())
    }

    /// The clock this handle reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The shared machine, for anything the handle does not wrap
    /// ([`SharedBulkhead::with`]).
    pub fn shared(&self) -> &Arc<SharedStdBulkhead<Q, A>> {
        &self.shared
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Runtime + Clone> Bulkhead<Q, A, C> {
    /// Waits for a slot (FIFO, up to `max_wait`) on the runtime's timer.
    /// The future resolves to a guard that owns a handle to the bulkhead
    /// (so it is `'static`), or to the rejection. Dropping it while it
    /// waits gives up its place; nothing leaks.
    pub fn acquire(&self) -> AcquireSlot<Arc<SharedStdBulkhead<Q, A>>, C> {
        driver::acquire(Arc::clone(&self.shared), self.clock.clone())
    }

    /// Runs `f` in a slot, waiting for one (FIFO, up to `max_wait`); `Err`
    /// counts as a failure (for an adaptive limit). A caller turned away
    /// gets [`Error::Rejected`] and `f` is not called.
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        driver::call(self.clock.clone(), &*self.shared, &DefaultClassifier, f).await
    }

    /// [`call`](Self::call); `classify` decides what each result tells an
    /// adaptive limit.
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        driver::call(self.clock.clone(), &*self.shared, classify, f).await
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Park + Clone> Bulkhead<Q, A, C> {
    /// Waits for a slot (FIFO, up to `max_wait`), parking the thread.
    pub fn acquire_blocking(&self) -> Result<OwnedBulkheadGuard<Q, A, C>, Rejected> {
        driver::acquire_blocking(Arc::clone(&self.shared), self.clock.clone())
    }

    /// Runs blocking `f` in a slot, parking the thread until one is free
    /// (FIFO, up to `max_wait`); `Err` counts as a failure. A panic in `f`
    /// gives the slot back while it unwinds.
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        driver::call_blocking(self.clock.clone(), &*self.shared, &DefaultClassifier, f)
    }

    /// [`call_blocking`](Self::call_blocking); `classify` decides what each
    /// result tells an adaptive limit.
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        driver::call_blocking(self.clock.clone(), &*self.shared, classify, f)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::mpsc;
    use std::vec::Vec;

    use failsafe_core::RejectReason;

    use super::*;

    /// A clock only the test moves; a parked thread waits for a wake-up.
    #[derive(Clone, Default)]
    struct Manual(Arc<AtomicU64>);

    impl Clock for Manual {
        fn now(&self) -> Instant {
            Instant::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    impl Park for Manual {
        fn park_until(&self, _: Option<Instant>) {
            std::thread::park();
        }
    }

    fn config(limit: u32, wait: Duration) -> BulkheadConfig {
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .max_wait(wait)
            .build()
            .unwrap()
    }

    fn wait_until(mut f: impl FnMut() -> bool) {
        while !f() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_blocked_thread_is_unparked_by_a_release() {
        let b: Bulkhead<4, FixedLimit, Manual> =
            Bulkhead::with_clock(config(1, Duration::from_secs(60)), Manual::default());
        let held = b.try_acquire().unwrap();
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let b = b.clone();
            std::thread::spawn(move || {
                let r = b.call_blocking(|| Ok::<_, ()>(b.in_flight()));
                tx.send(()).unwrap();
                r
            })
        };
        wait_until(|| b.queued() == 1);
        assert!(rx.try_recv().is_err(), "still waiting");
        held.finish(Outcome::Success);
        assert_eq!(waiter.join().unwrap(), Ok(1));
        assert_eq!(b.in_flight(), 0);
    }

    #[test]
    fn a_wait_ends_when_the_test_moves_the_clock_past_it() {
        let clock = Manual::default();
        let b: Bulkhead<4, FixedLimit, Manual> =
            Bulkhead::with_clock(config(1, Duration::from_millis(50)), clock.clone());
        let _held = b.try_acquire().unwrap();
        let waiter = {
            let b = b.clone();
            std::thread::spawn(move || b.acquire_blocking().map(drop))
        };
        wait_until(|| b.queued() == 1);
        assert_eq!(b.next_deadline(), Some(Instant::from_millis(50)));
        clock
            .0
            .store(Instant::from_millis(49).as_nanos(), Ordering::SeqCst);
        b.on_deadline();
        assert_eq!(b.queued(), 1);
        clock
            .0
            .store(Instant::from_millis(50).as_nanos(), Ordering::SeqCst);
        b.on_deadline();
        let r = waiter.join().unwrap().unwrap_err();
        assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
        let m = b.metrics();
        assert_eq!((m.expired, m.queued, m.in_flight), (1, 0, 1));
    }

    #[test]
    fn events_reach_the_hook() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let b: Bulkhead<1, FixedLimit, Manual> =
            Bulkhead::with_clock(config(1, Duration::ZERO), Manual::default())
                .on_event(move |e| sink.lock().unwrap().push(e));
        let g = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        g.finish(Outcome::Success);
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 3);
        assert!(matches!(
            log[0],
            BulkheadEvent::Acquired { in_flight: 1, .. }
        ));
        assert!(matches!(log[1], BulkheadEvent::Rejected { .. }));
        assert!(matches!(
            log[2],
            BulkheadEvent::Released {
                outcome: Outcome::Success,
                in_flight: 0
            }
        ));
    }

    #[test]
    fn set_limit_grants_waiters_and_is_clamped() {
        let b: Bulkhead<4, FixedLimit, Manual> =
            Bulkhead::with_clock(config(3, Duration::from_secs(1)), Manual::default());
        assert_eq!(b.set_limit(1), 1);
        let _held = b.try_acquire().unwrap();
        let waiter = {
            let b = b.clone();
            std::thread::spawn(move || b.acquire_blocking().map(|g| g.finish(Outcome::Success)))
        };
        wait_until(|| b.queued() == 1);
        assert_eq!(b.set_limit(10), 3, "max_concurrent is the ceiling");
        assert_eq!(waiter.join().unwrap(), Ok(()));
    }
}
