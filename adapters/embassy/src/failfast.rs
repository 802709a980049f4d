//! A fail fast that lives in a `static` and reads embassy-time.

use core::future::Future;
use core::time::Duration;

use embassy_sync::blocking_mutex::raw::RawMutex;
use failsafe_core::failfast::{
    FailFastConfig, FailFastEvent, FailFastMetrics, FailFastPermit, State as FailFastState,
};
use failsafe_core::sync::{CsLock, Lock, SharedFailFast};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome, Rejected, TimeSource};
use failsafe_driver::{
    ClassifyHealth, Clock, DefaultClassifier, Error, FailFastGuard, FailFastPolicy, SharedPolicy,
    fail_fast, fail_fast_blocking,
};

use crate::{EmbassyClock, MutexLock};

/// The core's fail-fast state machine, which a [`FailFast`] shares.
pub type FailFastMachine<O = ()> = failsafe_core::failfast::FailFast<O>;

/// A fail fast for embassy firmware: stop talking to a peripheral or a
/// peer known to be down. `const`-constructible so it lives in a `static`,
/// shared by every task and interrupt handler through lock `L` (a
/// `critical-section` [`CsLock`] by default, or a [`MutexLock`] over the
/// embassy-sync raw mutex you pick), reading embassy-time's clock.
///
/// It opens after the configured number of failures in a row, when a
/// result is judged [`Health::Unhealthy`](failsafe_driver::Health::Unhealthy),
/// or by hand, and stays open until [`report_healthy`](Self::report_healthy)
/// or [`close`](Self::close) (or a successful probe, with a
/// [`probe_interval`](failsafe_core::failfast::FailFastConfigBuilder::probe_interval)).
/// While open a call is rejected after one atomic load, without taking the
/// lock, and the operation is never started; the lock is never held across
/// an `.await`. With [`call_with_deadline`](Self::call_with_deadline) a
/// call the caller's [`Deadline`] cannot cover is refused too.
///
/// ## Quick start: fail fast
///
/// ```
/// use core::time::Duration;
/// use failsafe_embassy::{Error, FailFast, FailFastConfig, FailFastState, Health};
///
/// // Checked at compile time: a bad value is a build error naming the field.
/// const CONFIG: FailFastConfig = FailFastConfig::builder()
///     .consecutive_failures(3)
///     .expected_duration(Duration::from_millis(20)) // a modem round trip
///     .build_or_panic();
///
/// static MODEM: FailFast = FailFast::new(CONFIG);
///
/// #[derive(Debug, PartialEq)]
/// enum AtError { Timeout, NoCarrier, Busy }
///
/// async fn send_at(cmd: &str) -> Result<&'static str, AtError> {
///     if cmd.is_empty() { Err(AtError::NoCarrier) } else { Ok("OK") } // talk to the UART here
/// }
///
/// /// NO CARRIER means the link is gone: stop at once; BUSY says nothing.
/// fn judge(r: &Result<&'static str, AtError>) -> Health {
///     match r {
///         Ok(_) => Health::Success,
///         Err(AtError::Timeout) => Health::Timeout,
///         Err(AtError::NoCarrier) => Health::Unhealthy,
///         Err(AtError::Busy) => Health::Ignored,
///     }
/// }
///
/// async fn ping() -> bool {
///     match MODEM.call_with(&judge, || send_at("AT")).await {
///         Ok(_) => true,
///         // open: the UART was not touched; a supervisor reports when the link is back
///         Err(Error::Rejected(_)) => false,
///         Err(_at_error) => false,
///     }
/// }
/// # futures_lite::future::block_on(async {
/// assert!(ping().await);
/// let _ = MODEM.call_with(&judge, || send_at("")).await; // NO CARRIER
/// assert_eq!(MODEM.state(), FailFastState::Open);
/// assert!(!ping().await);
/// MODEM.report_healthy(); // e.g. after the modem registered again
/// assert!(ping().await);
/// # });
/// ```
#[derive(Debug)]
pub struct FailFast<O = (), L = CsLock<FailFastMachine<O>>> {
    shared: SharedFailFast<O, L>,
}

impl FailFast {
    /// A closed fail fast behind a [`CsLock`], with no observer. `const`.
    ///
    /// ```
    /// use failsafe_embassy::{FailFast, FailFastConfig, FailFastState};
    /// static LINK: FailFast = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(LINK.state(), FailFastState::Closed);
    /// ```
    pub const fn new(config: FailFastConfig) -> Self {
        Self::from_lock(CsLock::new(FailFastMachine::new(config)))
    }
}

impl<O: Observer<FailFastEvent>> FailFast<O> {
    /// A closed fail fast behind a [`CsLock`] that reports its events to
    /// `observer`. `const`: in a `static`, use a const-constructible observer
    /// such as `FnObserver(handler as fn(FailFastEvent))` (or, with the
    /// `defmt` feature, `DefmtObserver`). The observer runs inside the lock:
    /// keep it short and do not call back into the fail fast.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicU32, Ordering};
    /// use failsafe_embassy::{FailFast, FailFastConfig, FailFastEvent, FnObserver};
    ///
    /// static OPENS: AtomicU32 = AtomicU32::new(0);
    /// fn on_event(event: FailFastEvent) {
    ///     if let FailFastEvent::Opened { .. } = event {
    ///         OPENS.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// }
    /// static LINK: FailFast<FnObserver<fn(FailFastEvent)>> =
    ///     FailFast::with_observer(FailFastConfig::DEFAULT, FnObserver(on_event as fn(FailFastEvent)));
    ///
    /// LINK.report_unhealthy();
    /// assert_eq!(OPENS.load(Ordering::Relaxed), 1);
    /// ```
    pub const fn with_observer(config: FailFastConfig, observer: O) -> Self {
        Self::from_lock(CsLock::new(FailFastMachine::with_observer(
            config, observer,
        )))
    }
}

impl<M: RawMutex> FailFast<(), MutexLock<M, FailFastMachine>> {
    /// A closed fail fast behind a [`MutexLock`] over raw mutex `M`, with no
    /// observer. `const`. With `NoopRawMutex` it is not `Sync`: keep it out
    /// of `static`s.
    ///
    /// ```
    /// use embassy_sync::blocking_mutex::raw::NoopRawMutex;
    /// use failsafe_embassy::{FailFast, FailFastConfig, FailFastMachine, MutexLock};
    ///
    /// let local: FailFast<(), MutexLock<NoopRawMutex, FailFastMachine>> =
    ///     FailFast::with_mutex(FailFastConfig::DEFAULT);
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(local.call(|| async { Ok::<_, ()>(1) }).await, Ok(1));
    /// # });
    /// ```
    pub const fn with_mutex(config: FailFastConfig) -> Self {
        Self::from_lock(MutexLock::new(FailFastMachine::new(config)))
    }
}

impl<O, L> FailFast<O, L>
where
    O: Observer<FailFastEvent>,
    L: Lock<FailFastMachine<O>>,
{
    /// Shares the machine inside `lock`, whatever the lock and whatever
    /// the machine's state (the first locked call publishes the lock-free
    /// gate). `const`.
    pub const fn from_lock(lock: L) -> Self {
        FailFast {
            shared: SharedFailFast::new(lock),
        }
    }

    /// Runs `f` through the fail fast, with no deadline: `Ok` counts as a
    /// success, `Err` as a failure. If it rejects, `f` is not called and the
    /// error is [`Error::Rejected`]. Dropping the returned future mid-call
    /// records the call as cancelled: nothing is counted.
    ///
    /// ```
    /// use failsafe_embassy::{Error, FailFast, FailFastConfig, RejectReason};
    ///
    /// static BUS: FailFast = FailFast::new(FailFastConfig::builder().consecutive_failures(1).build_or_panic());
    /// # futures_lite::future::block_on(async {
    /// assert_eq!(BUS.call(|| async { Err::<(), _>("nack") }).await, Err(Error::Inner("nack")));
    /// let r = BUS.call(|| async { Ok::<_, &str>(()) }).await;
    /// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::FailFastOpen);
    /// # });
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        fail_fast(
            &self.shared,
            EmbassyClock,
            Deadline::NEVER,
            &DefaultClassifier,
            f,
        )
        .await
    }

    /// [`call`](Self::call) with a classifier judging each result: any
    /// `Fn(&Result<T, E>) -> Health`, an
    /// [`UnhealthyWhen`](failsafe_driver::UnhealthyWhen) predicate or a
    /// [`ByOutcome`](failsafe_driver::ByOutcome) outcome classifier.
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        fail_fast(&self.shared, EmbassyClock, Deadline::NEVER, classify, f).await
    }

    /// Runs `f` for a caller who must be done by `deadline` (a core instant
    /// from [`EmbassyClock`], or a [`with_timeout`](crate::with_timeout)
    /// deadline): rejected at once when open, or when the time left cannot
    /// cover the expected duration plus margin ([`min_remaining`](Self::min_remaining)).
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_embassy::{Clock, Deadline, DefaultClassifier, EmbassyClock, FailFast, FailFastConfig, RejectReason};
    ///
    /// static FLASH: FailFast = FailFast::new(
    ///     FailFastConfig::builder().expected_duration(Duration::from_millis(40)).build_or_panic(),
    /// );
    /// # futures_lite::future::block_on(async {
    /// // an erase takes 40 ms; 10 ms left is not enough to start one
    /// let deadline = Deadline::after(EmbassyClock.now(), Duration::from_millis(10));
    /// let r = FLASH.call_with_deadline(deadline, &DefaultClassifier, || async { Ok::<_, ()>(()) }).await;
    /// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
    /// # });
    /// ```
    pub async fn call_with_deadline<K, F, Fut, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        f: F,
    ) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        fail_fast(&self.shared, EmbassyClock, deadline, classify, f).await
    }

    /// [`call`](Self::call) for blocking code (an interrupt handler, a
    /// busy-wait driver): runs `f` on the spot.
    ///
    /// ```
    /// use failsafe_embassy::{FailFast, FailFastConfig};
    /// static BUS: FailFast = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(BUS.call_blocking(|| Ok::<_, ()>(3)), Ok(3));
    /// ```
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        fail_fast_blocking(
            &self.shared,
            EmbassyClock,
            Deadline::NEVER,
            &DefaultClassifier,
            f,
        )
    }

    /// [`call_blocking`](Self::call_blocking) with `classify` judging the
    /// result.
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        fail_fast_blocking(&self.shared, EmbassyClock, Deadline::NEVER, classify, f)
    }

    /// [`call_blocking`](Self::call_blocking) under `deadline`, with
    /// `classify` judging the result.
    pub fn call_blocking_with_deadline<K, F, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        f: F,
    ) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        fail_fast_blocking(&self.shared, EmbassyClock, deadline, classify, f)
    }

    /// Asks for a permit now under `deadline`, for calls that do not fit a
    /// closure (a DMA transfer finished by an interrupt). Report with
    /// [`FailFastGuard::finish`]; dropping the guard records the call as
    /// cancelled.
    ///
    /// ```
    /// use failsafe_embassy::{Deadline, FailFast, FailFastConfig, FailFastState, Health};
    /// static DMA: FailFast = FailFast::new(FailFastConfig::DEFAULT);
    /// let guard = DMA.acquire(Deadline::NEVER).unwrap();
    /// // ... start the transfer; its interrupt reports a bus fault ...
    /// guard.finish(Health::Unhealthy);
    /// assert_eq!(DMA.state(), FailFastState::Open);
    /// ```
    pub fn acquire(
        &self,
        deadline: Deadline,
    ) -> Result<FailFastGuard<&SharedFailFast<O, L>, EmbassyClock>, Rejected> {
        FailFastGuard::acquire(&self.shared, EmbassyClock, deadline)
    }

    /// A health check says the peer is back: closes now (and ends any
    /// streak of failures).
    pub fn report_healthy(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|ff| ff.report_healthy(now))
    }

    /// A health check (or a predicate of your own) says the peer is down:
    /// opens now. Already open: nothing changes.
    pub fn report_unhealthy(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|ff| ff.report_unhealthy(now))
    }

    /// Opens now by hand. Already open: nothing changes.
    pub fn open(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|ff| ff.open(now))
    }

    /// Closes now by hand (and ends any streak of failures).
    pub fn close(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|ff| ff.close(now))
    }

    /// Closes and zeroes every counter, forgetting learned durations.
    pub fn reset(&self) {
        self.shared.reset(EmbassyClock.now())
    }

    /// The current state.
    pub fn state(&self) -> FailFastState {
        self.shared.with(|ff| ff.state())
    }

    /// A snapshot of the state and counters.
    pub fn metrics(&self) -> FailFastMetrics {
        self.shared.metrics()
    }

    /// The least time a deadline must leave for a call to be admitted now:
    /// the expected duration (configured or learned) plus the safety margin.
    pub fn min_remaining(&self) -> Duration {
        self.shared.with(|ff| ff.min_remaining())
    }

    /// While open with a probe interval: when the next probe is due, as an
    /// embassy instant to pass to `Timer::at` (until
    /// [`on_deadline`](Self::on_deadline) has reported it); `None`
    /// otherwise. A supervisor task can sleep until then and start an
    /// active health check:
    ///
    /// ```no_run
    /// # use failsafe_embassy::{FailFast, FailFastConfig};
    /// # static LINK: FailFast = FailFast::new(FailFastConfig::DEFAULT);
    /// # async fn link_is_up() -> bool { true }
    /// # async fn supervise() {
    /// use embassy_time::{Duration, Timer};
    /// loop {
    ///     match LINK.next_deadline() {
    ///         Some(at) => Timer::at(at).await,
    ///         None => Timer::after(Duration::from_secs(1)).await,
    ///     }
    ///     LINK.on_deadline();
    ///     if link_is_up().await {
    ///         LINK.report_healthy();
    ///     }
    /// }
    /// # }
    /// ```
    pub fn next_deadline(&self) -> Option<embassy_time::Instant> {
        self.shared
            .with(|ff| ff.next_deadline())
            .map(EmbassyClock::to_embassy)
    }

    /// Notices now whatever became due (a probe,
    /// [`FailFastEvent::ProbeDue`], once per interval). Spurious calls are
    /// no-ops.
    pub fn on_deadline(&self) {
        let now = EmbassyClock.now();
        self.shared.with(|ff| ff.on_deadline(now))
    }

    /// Runs `f` on the machine under the lock (the observer, a reset at a
    /// given instant, ...), then republishes the lock-free gate. Take
    /// instants from [`EmbassyClock`].
    pub fn with<R>(&self, f: impl FnOnce(&mut FailFastMachine<O>) -> R) -> R {
        self.shared.with(f)
    }

    /// The core's shared fail fast underneath, whose methods take explicit
    /// instants (for tests and for code that already read the clock).
    pub fn shared(&self) -> &SharedFailFast<O, L> {
        &self.shared
    }
}

impl<O, L> FailFastPolicy for FailFast<O, L>
where
    O: Observer<FailFastEvent>,
    L: Lock<FailFastMachine<O>>,
{
    type Permit = FailFastPermit;

    #[inline]
    fn acquire(
        &self,
        now: impl TimeSource,
        deadline: Deadline,
    ) -> Result<FailFastPermit, Rejected> {
        self.shared.acquire(now, deadline)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        self.shared.record(now, permit, outcome)
    }

    #[inline]
    fn record_unhealthy(&self, now: Instant, permit: FailFastPermit) {
        FailFastPolicy::record_unhealthy(&self.shared, now, permit)
    }
}

/// Admits callers without a deadline, so the crate's generic
/// [`call`](crate::call) serves a fail fast too.
impl<O, L> SharedPolicy for FailFast<O, L>
where
    O: Observer<FailFastEvent>,
    L: Lock<FailFastMachine<O>>,
{
    type Permit = FailFastPermit;

    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<FailFastPermit, Rejected> {
        self.shared.acquire(now, Deadline::NEVER)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        self.shared.record(now, permit, outcome)
    }
}

/// Fail-fast events to defmt: opening at `warn`, closing and a due probe at
/// `info`, rejections and stale outcomes at `debug`.
#[cfg(feature = "defmt")]
impl Observer<FailFastEvent> for crate::DefmtObserver {
    fn on_event(&mut self, event: FailFastEvent) {
        match event {
            FailFastEvent::Opened { .. } => defmt::warn!("fail fast: {}", event),
            FailFastEvent::Closed { .. } | FailFastEvent::ProbeDue { .. } => {
                defmt::info!("fail fast: {}", event)
            }
            _ => defmt::debug!("fail fast: {}", event),
        }
    }
}
