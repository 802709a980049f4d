//! Fail fast for blocking code: a thin wrapper over the driver's shared
//! handle whose `call` is the blocking one.

use core::fmt;
use core::ops::Deref;

use failsafe_core::failfast::{FailFastConfig, FailFastEvent};
use failsafe_core::timeout::Deadline;
use failsafe_driver as driver;
use failsafe_driver::{ClassifyHealth, Clock, Error, StdClock};

/// A cloneable, `Send + Sync` fail fast for blocking code: clones share one
/// fail fast, across threads too.
///
/// It opens after the configured number of failures in a row, when a result
/// is judged [`Health::Unhealthy`](crate::Health::Unhealthy), or by hand
/// ([`open`](driver::FailFast::open),
/// [`report_unhealthy`](driver::FailFast::report_unhealthy)), and stays
/// open until [`report_healthy`](driver::FailFast::report_healthy) or
/// [`close`](driver::FailFast::close) (or a successful probe, with a probe
/// interval). While open, every call is rejected at once with one atomic
/// load and the closure is never run.
///
/// [`call`](Self::call), [`call_with`](Self::call_with) and
/// [`call_with_deadline`](Self::call_with_deadline) run the closure on the
/// calling thread. Every other method is the driver's shared
/// [`FailFast`](driver::FailFast) handle's, through `Deref`. `C` is the
/// clock, [`StdClock`] unless a test injects one with
/// [`with_clock`](Self::with_clock).
///
/// ## Quick start: fail fast
///
/// ```
/// use std::time::Duration;
/// use failsafe_thread::{
///     Clock, Deadline, DefaultClassifier, Error, FailFast, FailFastConfig, FailFastState,
///     RejectReason,
/// };
///
/// fn read_register() -> Result<u16, std::io::Error> {
///     Err(std::io::Error::other("bus stuck"))
/// }
///
/// # fn main() {
/// let config = FailFastConfig::builder()
///     .consecutive_failures(3)
///     .expected_duration(Duration::from_millis(250))
///     .build()
///     .unwrap();
/// let bus = FailFast::new(config);
///
/// std::thread::scope(|s| {
///     for _ in 0..3 {
///         s.spawn(|| bus.call(read_register)); // three failures in a row ...
///     }
/// });
/// assert_eq!(bus.state(), FailFastState::Open); // ... open it
/// match bus.call(read_register) {
///     Err(Error::Rejected(r)) => assert_eq!(r.reason, RejectReason::FailFastOpen),
///     other => panic!("the bus was touched: {other:?}"),
/// }
/// bus.report_healthy(); // the bus was reset
///
/// // a caller with 100 ms left cannot fit a 250 ms read: not even started
/// let deadline = Deadline::after(bus.clock().now(), Duration::from_millis(100));
/// let r = bus.call_with_deadline(deadline, &DefaultClassifier, read_register);
/// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
/// # }
/// ```
///
/// A panic inside the closure records the call as `Cancelled` while it
/// unwinds (the streak of failures is left as it was), then keeps unwinding.
pub struct FailFast<C = StdClock>(driver::FailFast<C>);

impl FailFast<StdClock> {
    /// A closed fail fast with `config`, on the std clock.
    ///
    /// ```
    /// use failsafe_thread::{FailFast, FailFastConfig, FailFastState};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// assert_eq!(ff.state(), FailFastState::Closed);
    /// ```
    pub fn new(config: FailFastConfig) -> Self {
        FailFast(driver::FailFast::new(config))
    }
}

impl<C: Clock> FailFast<C> {
    /// A closed fail fast with `config` reading `clock` (a test clock, say).
    pub fn with_clock(config: FailFastConfig, clock: C) -> Self {
        FailFast(driver::FailFast::with_clock(config, clock))
    }

    /// Sends every [`FailFastEvent`] to `f` (replacing any previous hook).
    /// `f` runs under the lock: keep it short and do not call back into the
    /// fail fast.
    pub fn on_event(self, f: impl Fn(FailFastEvent) + Send + Sync + 'static) -> Self {
        FailFast(self.0.on_event(f))
    }

    /// Runs `f` on this thread through the fail fast, with no deadline;
    /// `Err` counts as a failure. A rejection returns [`Error::Rejected`]
    /// without calling `f`.
    ///
    /// ```
    /// use failsafe_thread::{Error, FailFast, FailFastConfig};
    /// let ff = FailFast::new(FailFastConfig::builder().consecutive_failures(1).build().unwrap());
    /// assert_eq!(ff.call(|| Err::<(), _>("down")), Err(Error::Inner("down")));
    /// assert!(ff.call(|| Ok::<_, &str>(1)).unwrap_err().is_rejected());
    /// ```
    pub fn call<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking(f)
    }

    /// Runs `f` on this thread through the fail fast, with no deadline;
    /// `classify` judges the result
    /// ([`Health::Unhealthy`](crate::Health::Unhealthy) opens at once). The
    /// caller gets `f`'s result as is.
    ///
    /// ```
    /// use failsafe_thread::{FailFast, FailFastConfig, FailFastState, UnhealthyWhen};
    /// let ff = FailFast::new(FailFastConfig::DEFAULT);
    /// let refused = UnhealthyWhen(|r: &Result<(), std::io::ErrorKind>| {
    ///     r == &Err(std::io::ErrorKind::ConnectionRefused)
    /// });
    /// let _ = ff.call_with(&refused, || Err(std::io::ErrorKind::ConnectionRefused));
    /// assert_eq!(ff.state(), FailFastState::Open);
    /// ```
    pub fn call_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking_with(classify, f)
    }

    /// Runs `f` on this thread for a caller who must be done by `deadline`
    /// (an instant on this handle's clock): rejected at once when open, or
    /// when the time left cannot cover the expected duration plus margin.
    /// Use [`DefaultClassifier`](crate::DefaultClassifier) to count `Err` as
    /// a failure.
    pub fn call_with_deadline<K, F, T, E>(
        &self,
        deadline: Deadline,
        classify: &K,
        f: F,
    ) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        self.0.call_blocking_with_deadline(deadline, classify, f)
    }

    /// The shared handle (also reachable through `Deref`), e.g. to hand the
    /// same fail fast to async code.
    pub fn as_fail_fast(&self) -> &driver::FailFast<C> {
        &self.0
    }

    /// Unwraps the shared handle.
    pub fn into_fail_fast(self) -> driver::FailFast<C> {
        self.0
    }
}

impl<C> Deref for FailFast<C> {
    type Target = driver::FailFast<C>;

    fn deref(&self) -> &driver::FailFast<C> {
        &self.0
    }
}

impl<C> From<driver::FailFast<C>> for FailFast<C> {
    fn from(fail_fast: driver::FailFast<C>) -> Self {
        FailFast(fail_fast)
    }
}

impl<C: Clone> Clone for FailFast<C> {
    fn clone(&self) -> Self {
        FailFast(self.0.clone())
    }
}

impl<C: fmt::Debug> fmt::Debug for FailFast<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FailFast").field(&self.0).finish()
    }
}
