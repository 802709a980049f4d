//! The bulkhead for blocking code: a thin wrapper over the driver's shared
//! handle whose `acquire` and `call` park the calling thread.

use core::fmt;
use core::ops::Deref;

use failsafe_core::Rejected;
use failsafe_core::bulkhead::{BulkheadConfig, BulkheadEvent, FixedLimit, LimitAlgorithm};
use failsafe_driver as driver;
use failsafe_driver::{Classify, Clock, Error, OwnedBulkheadGuard, Park, StdClock};

/// A cloneable, `Send + Sync` bulkhead for blocking code: at most `limit`
/// calls at once across every thread, and a FIFO queue of up to `Q` threads
/// (64 by default), each waiting at most `max_wait` for a slot. Clones
/// share one bulkhead.
///
/// [`call`](Self::call) and [`acquire`](Self::acquire) block: a thread that
/// finds every slot taken parks until a slot is granted to it (the thread
/// giving it back unparks it) or its wait runs out. Every other method
/// ([`try_acquire`](driver::Bulkhead::try_acquire),
/// [`set_limit`](driver::Bulkhead::set_limit),
/// [`metrics`](driver::Bulkhead::metrics), ...) is the driver's shared
/// [`Bulkhead`](driver::Bulkhead) handle's, through `Deref`. `C` is the
/// clock, [`StdClock`] unless a test injects one with
/// [`with_clock`](Self::with_clock) (see [`Park`] for a clock that only
/// moves by hand).
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_thread::{Bulkhead, BulkheadConfig, Error};
///
/// fn query(id: u32) -> Result<u32, std::io::Error> {
///     Ok(id * 2) // a database with a pool of 4 connections, say
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 4 queries at once; other threads wait up to 2 s for a slot
/// let config = BulkheadConfig::builder()
///     .max_concurrent(4)
///     .max_wait(Duration::from_secs(2))
///     .build()?;
/// let db: Bulkhead = Bulkhead::new(config);
///
/// std::thread::scope(|s| {
///     let workers: Vec<_> = (0..16).map(|id| s.spawn({ let db = &db; move || db.call(|| query(id)) })).collect();
///     for worker in workers {
///         match worker.join().unwrap() {
///             Ok(rows) => assert_eq!(rows % 2, 0),
///             // waited 2 s without a slot (or the queue was full): not run
///             Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
///             Err(Error::Inner(io_error)) => eprintln!("{io_error}"),
///             Err(other) => eprintln!("{other}"),
///         }
///     }
/// });
/// assert_eq!(db.in_flight(), 0);
///
/// // or hold a slot by hand: the guard gives it back when dropped
/// let slot = db.acquire()?;
/// assert_eq!(db.in_flight(), 1);
/// drop(slot);
/// # Ok(())
/// # }
/// ```
///
/// A panic inside the closure gives the slot back (as `Cancelled`) while
/// it unwinds, then keeps unwinding.
pub struct Bulkhead<const Q: usize = 64, A = FixedLimit, C = StdClock>(driver::Bulkhead<Q, A, C>);

impl<const Q: usize> Bulkhead<Q, FixedLimit, StdClock> {
    /// A bulkhead with `config` (a fixed limit of `max_concurrent`), on the
    /// std clock.
    ///
    /// ```
    /// use failsafe_thread::{Bulkhead, BulkheadConfig};
    /// let b: Bulkhead = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// assert_eq!(b.limit(), 25);
    /// ```
    pub fn new(config: BulkheadConfig) -> Self {
        Bulkhead(driver::Bulkhead::new(config))
    }
}

impl<const Q: usize, A: LimitAlgorithm> Bulkhead<Q, A, StdClock> {
    /// A bulkhead whose limit `algorithm` sets, clamped to
    /// `[1, config.max_concurrent()]`, on the std clock.
    ///
    /// ```
    /// use failsafe_thread::{Aimd, Bulkhead, BulkheadConfig};
    /// let config = BulkheadConfig::builder().max_concurrent(200).build().unwrap();
    /// let b: Bulkhead<64, Aimd> = Bulkhead::adaptive(config, Aimd::DEFAULT);
    /// assert_eq!(b.limit(), 20);
    /// ```
    pub fn adaptive(config: BulkheadConfig, algorithm: A) -> Self {
        Bulkhead(driver::Bulkhead::adaptive(config, algorithm))
    }
}

impl<const Q: usize, C: Clock> Bulkhead<Q, FixedLimit, C> {
    /// A bulkhead with `config` reading `clock` (a test clock, say).
    pub fn with_clock(config: BulkheadConfig, clock: C) -> Self {
        Bulkhead(driver::Bulkhead::with_clock(config, clock))
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Clock> Bulkhead<Q, A, C> {
    /// [`adaptive`](Bulkhead::adaptive), reading `clock`.
    pub fn adaptive_with_clock(config: BulkheadConfig, algorithm: A, clock: C) -> Self {
        Bulkhead(driver::Bulkhead::adaptive_with_clock(
            config, algorithm, clock,
        ))
    }

    /// Sends every [`BulkheadEvent`] to `f` (replacing any previous hook).
    /// `f` runs under the bulkhead's lock: keep it short and do not call
    /// back into the bulkhead.
    pub fn on_event(self, f: impl Fn(BulkheadEvent) + Send + Sync + 'static) -> Self {
        Bulkhead(self.0.on_event(f))
    }

    /// The shared handle (also reachable through `Deref`), e.g. to hand the
    /// same bulkhead to async code.
    pub fn as_bulkhead(&self) -> &driver::Bulkhead<Q, A, C> {
        &self.0
    }

    /// Unwraps the shared handle.
    pub fn into_bulkhead(self) -> driver::Bulkhead<Q, A, C> {
        self.0
    }
}

impl<const Q: usize, A: LimitAlgorithm, C: Park + Clone> Bulkhead<Q, A, C> {
    /// Takes a slot, parking this thread until one is granted to it (FIFO,
    /// up to `max_wait`); the guard gives it back when finished or dropped.
    ///
    /// ```
    /// use failsafe_thread::{Bulkhead, BulkheadConfig, Outcome};
    /// let b: Bulkhead = Bulkhead::new(BulkheadConfig::DEFAULT);
    /// let slot = b.acquire().unwrap();
    /// slot.finish(Outcome::Success);
    /// ```
    pub fn acquire(&self) -> Result<OwnedBulkheadGuard<Q, A, C>, Rejected> {
        self.0.acquire_blocking()
    }

    /// Runs `f` on this thread in a slot, parking until one is free (FIFO,
    /// up to `max_wait`); `Err` counts as a failure (for an adaptive
    /// limit). A caller turned away gets [`Error::Rejected`] and `f` is not
    /// run.
    ///
    /// ```
    /// use failsafe_thread::{Bulkhead, BulkheadConfig, RejectReason};
    /// let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap(); // no waiting
    /// let b: Bulkhead = Bulkhead::new(config);
    /// let _held = b.acquire().unwrap();
    /// let r = b.call(|| Ok::<_, ()>(1)).unwrap_err();
    /// assert_eq!(r.rejected().unwrap().reason, RejectReason::BulkheadFull);
    /// ```
    pub fn call<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking(f)
    }

    /// [`call`](Self::call); `classify` decides what each result tells an
    /// adaptive limit. The caller gets `f`'s result as is.
    pub fn call_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking_with(classify, f)
    }
}

impl<const Q: usize, A, C> Deref for Bulkhead<Q, A, C> {
    type Target = driver::Bulkhead<Q, A, C>;

    fn deref(&self) -> &driver::Bulkhead<Q, A, C> {
        &self.0
    }
}

impl<const Q: usize, A, C> From<driver::Bulkhead<Q, A, C>> for Bulkhead<Q, A, C> {
    fn from(bulkhead: driver::Bulkhead<Q, A, C>) -> Self {
        Bulkhead(bulkhead)
    }
}

impl<const Q: usize, A, C: Clone> Clone for Bulkhead<Q, A, C> {
    fn clone(&self) -> Self {
        Bulkhead(self.0.clone())
    }
}

impl<const Q: usize, A, C: fmt::Debug> fmt::Debug for Bulkhead<Q, A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bulkhead").field(&self.0).finish()
    }
}
