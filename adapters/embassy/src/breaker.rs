//! A circuit breaker that lives in a `static` and reads embassy-time.

use core::future::Future;

use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_core::breaker::{BreakerConfig, BreakerEvent, BreakerMetrics, State, Window};
use failsafe_core::sync::{CsLock, Lock, SharedBreaker};
use failsafe_core::{Observer, Outcome, Rejected, TimeSource};
use failsafe_driver::{Classify, Clock, Error, PermitGuard, SharedPolicy};

use crate::{EmbassyClock, MutexLock};

/// The core's state machine, which a [`CircuitBreaker`] shares.
pub type Machine<W, O = ()> = failsafe_core::breaker::CircuitBreaker<W, O>;

/// A circuit breaker for embassy firmware: `const`-constructible so it lives
/// in a `static`, shared by every task and interrupt handler through lock `L`
/// (a `critical-section` [`CsLock`] by default, or a [`MutexLock`] over the
/// embassy-sync raw mutex you pick), reading embassy-time's clock.
///
/// `W` is the window ([`CountWindow`](failsafe_core::breaker::CountWindow),
/// [`TimeWindow`](failsafe_core::breaker::TimeWindow) or
/// [`NoWindow`](failsafe_core::breaker::NoWindow)) and `O` an
/// [`Observer`] of [`BreakerEvent`]s (`()` for none).
///
/// While the breaker is open a call is rejected after one atomic load,
/// without taking the lock; the lock is never held across an `.await`.
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{BreakerConfig, CountWindow, State};
/// use failsafe_embassy::CircuitBreaker;
///
/// const CONFIG: BreakerConfig = BreakerConfig::builder()
///     .consecutive_failures(3)
///     .open_wait(Duration::from_secs(5))
///     .build_or_panic(); // a bad value is a compile error
///
/// static MODEM: CircuitBreaker<CountWindow<16>> = CircuitBreaker::new(CONFIG, CountWindow::new());
///
/// assert_eq!(MODEM.state(), State::Closed);
/// ```
#[derive(Debug)]
pub struct CircuitBreaker<W, O = (), L = CsLock<Machine<W, O>>> {
    shared: SharedBreaker<W, O, L>,
}

impl<W: Window> CircuitBreaker<W> {
    /// A closed breaker behind a [`CsLock`], with no observer. `const`.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow};
    /// use failsafe_embassy::CircuitBreaker;
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(
    ///     BreakerConfig::builder().no_failure_rate().consecutive_failures(5).build_or_panic(),
    ///     NoWindow,
    /// );
    /// # let _ = &BREAKER;
    /// ```
    pub const fn new(config: BreakerConfig, window: W) -> Self {
        Self::from_lock(CsLock::new(Machine::new(config, window)))
    }
}

impl<W: Window, O: Observer<BreakerEvent>> CircuitBreaker<W, O> {
    /// A closed breaker behind a [`CsLock`] that reports its events to
    /// `observer`. `const`: in a `static`, use a const-constructible observer
    /// such as `FnObserver(handler as fn(BreakerEvent))` (or, with the
    /// `defmt` feature, `DefmtObserver`).
    ///
    /// The observer runs inside the lock (with interrupts masked for a
    /// [`CsLock`]): keep it short and do not call back into the breaker.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use failsafe_embassy::{BreakerConfig, BreakerEvent, NoWindow};
    /// use failsafe_embassy::FnObserver;
    /// use failsafe_embassy::CircuitBreaker;
    ///
    /// static CHANGES: AtomicU32 = AtomicU32::new(0);
    /// fn on_event(event: BreakerEvent) {
    ///     if let BreakerEvent::StateChanged { .. } = event {
    ///         CHANGES.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    ///
    /// static BREAKER: CircuitBreaker<NoWindow, FnObserver<fn(BreakerEvent)>> =
    ///     CircuitBreaker::with_observer(BreakerConfig::DEFAULT, NoWindow, FnObserver(on_event as fn(BreakerEvent)));
    ///
    /// BREAKER.open();
    /// assert_eq!(CHANGES.load(Ordering::Relaxed), 1);
    /// ```
    pub const fn with_observer(config: BreakerConfig, window: W, observer: O) -> Self {
        Self::from_lock(CsLock::new(Machine::with_observer(
            config, window, observer,
        )))
    }
}

impl<M: RawMutex, W: Window> CircuitBreaker<W, (), MutexLock<M, Machine<W>>> {
    /// A closed breaker behind a [`MutexLock`] over raw mutex `M`, with no
    /// observer. `const`. With `NoopRawMutex` (one executor, no interrupts)
    /// the breaker is not `Sync`: keep it out of `static`s. For an observer,
    /// use [`from_lock`](Self::from_lock).
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    /// use failsafe_embassy::{BreakerConfig, CountWindow};
    /// use failsafe_embassy::{CircuitBreaker, MutexLock, Machine};
    ///
    /// type Local = CircuitBreaker<CountWindow<8>, (), MutexLock<NoopRawMutex, Machine<CountWindow<8>>>>;
    /// let breaker: Local = CircuitBreaker::with_mutex(BreakerConfig::DEFAULT, CountWindow::new());
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(breaker.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    /// # });
    /// ```
    pub const fn with_mutex(config: BreakerConfig, window: W) -> Self {
        Self::from_lock(MutexLock::new(Machine::new(config, window)))
    }
}

impl<W, O, L> CircuitBreaker<W, O, L>
where
    W: Window,
    O: Observer<BreakerEvent>,
    L: Lock<Machine<W, O>>,
{
    /// Shares the machine inside `lock`, whatever the lock. `const`. The
    /// machine should be fresh (closed); a machine in another state is
    /// handled correctly, but rejects through the lock until its first call.
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    /// use failsafe_embassy::{BreakerConfig, BreakerEvent, NoWindow};
    /// use failsafe_embassy::FnObserver;
    /// use failsafe_embassy::{CircuitBreaker, Machine, MutexLock};
    ///
    /// fn log(_event: BreakerEvent) {}
    /// type Obs = FnObserver<fn(BreakerEvent)>;
    /// static BREAKER: CircuitBreaker<NoWindow, Obs, MutexLock<CriticalSectionRawMutex, Machine<NoWindow, Obs>>> =
    ///     CircuitBreaker::from_lock(MutexLock::new(Machine::with_observer(
    ///         BreakerConfig::DEFAULT,
    ///         NoWindow,
    ///         FnObserver(log as fn(BreakerEvent)),
    ///     )));
    /// # let _ = &BREAKER;
    /// ```
    pub const fn from_lock(lock: L) -> Self {
        CircuitBreaker {
            shared: SharedBreaker::new(lock),
        }
    }

    /// Runs `f` through the breaker: `Ok` counts as a success, `Err` as a
    /// failure. If the breaker rejects, `f` is not called and the error is
    /// [`Error::Rejected`], whose `retry_at` says when to try again
    /// ([`EmbassyClock::to_embassy`] turns it into a `Timer::at` instant).
    ///
    /// Dropping the returned future mid-call (a `select` that chose another
    /// branch, a `with_timeout` that fired) records the call as cancelled:
    /// a half-open probe slot is handed back at once, nothing is counted.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow};
    /// use failsafe_embassy::{CircuitBreaker, Error};
    ///
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(
    ///     BreakerConfig::builder().no_failure_rate().consecutive_failures(1).build_or_panic(),
    ///     NoWindow,
    /// );
    /// # futures_lite::future::block_on(async {
    /// let first = BREAKER.call(|| async { Err::<(), _>("i2c nack") }).await;
    /// assert_eq!(first, Err(Error::Inner("i2c nack")));
    /// let second = BREAKER.call(|| async { Ok::<_, &str>(()) }).await;
    /// assert!(second.unwrap_err().rejected().unwrap().retry_at.is_some());
    /// # });
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        crate::call(&self.shared, f).await
    }

    /// [`call`](Self::call) with a classifier deciding what the breaker
    /// counts: any `Fn(&Result<T, E>) -> Outcome` or a [`Classify`]
    /// implementation. The caller always gets the operation's own result.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow, State};
    /// use failsafe_embassy::Outcome;
    /// use failsafe_embassy::CircuitBreaker;
    ///
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(
    ///     BreakerConfig::builder().no_failure_rate().consecutive_failures(1).build_or_panic(),
    ///     NoWindow,
    /// );
    /// // A sensor that answers "not ready yet" is not failing.
    /// let not_ready_is_fine = |r: &Result<u16, &str>| match r {
    ///     Err("not ready") => Outcome::Ignored,
    ///     Err(_) => Outcome::Failure,
    ///     Ok(_) => Outcome::Success,
    /// };
    /// # futures_lite::future::block_on(async {
    /// let _ = BREAKER.call_with(&not_ready_is_fine, || async { Err("not ready") }).await;
    /// assert_eq!(BREAKER.state(), State::Closed);
    /// # });
    /// ```
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        crate::call_with(&self.shared, classify, f).await
    }

    /// [`call`](Self::call) for blocking code (an interrupt handler, a
    /// busy-wait driver): runs `f` on the spot.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow};
    /// use failsafe_embassy::CircuitBreaker;
    ///
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// assert_eq!(BREAKER.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    /// ```
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        failsafe_driver::call_blocking(
            &self.shared,
            EmbassyClock,
            &failsafe_driver::DefaultClassifier,
            f,
        )
    }

    /// Asks for a permit now, for calls that do not fit a closure. Report
    /// the outcome with [`PermitGuard::finish`]; dropping the guard records
    /// the call as cancelled.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, CountWindow};
    /// use failsafe_embassy::Outcome;
    /// use failsafe_embassy::CircuitBreaker;
    ///
    /// static BREAKER: CircuitBreaker<CountWindow<8>> = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::new());
    /// let guard = BREAKER.acquire().unwrap();
    /// // ... start a DMA transfer, wait for its interrupt ...
    /// guard.finish(Outcome::Success);
    /// assert_eq!(BREAKER.metrics().calls, 1);
    /// ```
    pub fn acquire(&self) -> Result<PermitGuard<&SharedBreaker<W, O, L>, EmbassyClock>, Rejected> {
        PermitGuard::acquire(&self.shared, EmbassyClock)
    }

    /// The current state, as of the last call or deadline (see
    /// [`on_deadline`](Self::on_deadline)).
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// A snapshot of the state and the window now.
    pub fn metrics(&self) -> BreakerMetrics {
        self.shared.metrics(EmbassyClock.now())
    }

    /// When the breaker changes state on its own even if no call comes
    /// (the end of the open wait, a probe's lease), as an embassy instant
    /// to pass to `Timer::at`; `None` if nothing is scheduled. Changes after
    /// every call.
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow};
    /// use failsafe_embassy::CircuitBreaker;
    ///
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// assert_eq!(BREAKER.next_deadline(), None);
    /// BREAKER.open();
    /// assert!(BREAKER.next_deadline().is_some()); // 30 s from now
    /// ```
    pub fn next_deadline(&self) -> Option<embassy_time::Instant> {
        self.shared.next_deadline().map(EmbassyClock::to_embassy)
    }

    /// Applies whatever became due by now (open to half-open, expired probe
    /// leases), so events fire on time rather than at the next call.
    /// Spurious calls are no-ops. A supervisor task might run:
    ///
    /// ```no_run
    /// # use failsafe_embassy::{BreakerConfig, NoWindow};
    /// # use failsafe_embassy::CircuitBreaker;
    /// # static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// # async fn supervise() {
    /// use embassy_time::{Duration, Timer};
    /// loop {
    ///     match BREAKER.next_deadline() {
    ///         Some(at) => Timer::at(at).await,
    ///         None => Timer::after(Duration::from_secs(1)).await,
    ///     }
    ///     BREAKER.on_deadline();
    /// }
    /// # }
    /// ```
    pub fn on_deadline(&self) {
        self.shared.on_deadline(EmbassyClock.now())
    }

    /// Opens now, as if the failure threshold had been reached.
    pub fn open(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|b| b.open(now))
    }

    /// Closes now, forgetting the window and the open backoff.
    pub fn close(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|b| b.close(now))
    }

    /// Operator state: reject every call until [`close`](Self::close).
    pub fn force_open(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|b| b.force_open(now))
    }

    /// Runs `f` on the machine under the lock (reset, disable, the
    /// observer, ...), then republishes the lock-free fast path. Take
    /// instants from [`EmbassyClock`].
    ///
    /// ```
    /// use failsafe_embassy::{BreakerConfig, NoWindow, State};
    /// use failsafe_embassy::Clock;
    /// use failsafe_embassy::{CircuitBreaker, EmbassyClock};
    ///
    /// static BREAKER: CircuitBreaker<NoWindow> = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
    /// BREAKER.with(|b| b.disable(EmbassyClock.now()));
    /// assert_eq!(BREAKER.state(), State::Disabled);
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(&mut Machine<W, O>) -> R) -> R {
        self.shared.with(f)
    }

    /// The core's shared breaker underneath, whose methods take explicit
    /// instants (for tests and for code that already read the clock).
    pub fn shared(&self) -> &SharedBreaker<W, O, L> {
        &self.shared
    }
}

impl<W, O, L> SharedPolicy for CircuitBreaker<W, O, L>
where
    W: Window,
    O: Observer<BreakerEvent>,
    L: Lock<Machine<W, O>>,
{
    type Permit = failsafe_core::breaker::BreakerPermit;

    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<Self::Permit, Rejected> {
        self.shared.acquire(now)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        self.shared.record(now, permit, outcome)
    }
}
