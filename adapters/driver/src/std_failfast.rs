//! The cloneable fail-fast handle the std adapters (tokio, async-std,
//! thread) bind to their clocks.

extern crate std;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use core::time::Duration;

use failsafe_core::failfast::{
    FailFast as Machine, FailFastConfig, FailFastEvent, FailFastMetrics, State,
};
use failsafe_core::sync::SharedFailFast;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, Rejected, TimeSource};

use crate::{
    ClassifyHealth, Clock, DefaultClassifier, Error, FailFastGuard, FailFastPolicy, Hook, StdLock,
    fail_fast, fail_fast_blocking,
};

impl<P: FailFastPolicy + ?Sized> FailFastPolicy for Arc<P> {
    type Permit = P::Permit;

    #[inline]
    fn acquire(&self, now: impl TimeSource, deadline: Deadline) -> Result<Self::Permit, Rejected> {
        (**self).acquire(now, deadline)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        (**self).record(now, permit, outcome)
    }

    #[inline]
    fn record_unhealthy(&self, now: Instant, permit: Self::Permit) {
        (**self).record_unhealthy(now, permit)
    }
}

/// The machine inside a [`FailFast`] handle.
pub type SharedStdFailFast =
    SharedFailFast<Hook<FailFastEvent>, StdLock<Machine<Hook<FailFastEvent>>>>;

/// A cloneable, `Send + Sync` fail fast for std code, reading clock `C`.
/// Clones share one fail fast. The tokio, async-std and thread adapters are
/// this handle with their own clock.
///
/// It opens after the configured number of failures in a row, when a
/// result is judged [`Health::Unhealthy`](crate::Health::Unhealthy), or by
/// hand ([`open`](Self::open), [`report_unhealthy`](Self::report_unhealthy));
/// it stays open until [`report_healthy`](Self::report_healthy) or
/// [`close`](Self::close) (or a successful probe, if a probe interval is
/// configured). While it is open a call is rejected after one atomic load,
/// without taking the lock, and the operation is never called.
///
/// With a caller's [`Deadline`] ([`call_with_deadline`](Self::call_with_deadline)),
/// a call is also rejected when the time left cannot cover the expected
/// call duration (configured, or learned from successful calls) plus the
/// safety margin.
///
/// ```
/// use std::time::Duration;
/// use failsafe_core::failfast::{FailFastConfig, State};
/// use failsafe_core::timeout::Deadline;
/// use failsafe_core::RejectReason;
/// use failsafe_driver::{Clock, DefaultClassifier, FailFast, StdClock};
///
/// let config = FailFastConfig::builder()
///     .consecutive_failures(3)
///     .expected_duration(Duration::from_millis(300))
///     .build()
///     .unwrap();
/// let ff: FailFast<StdClock> = FailFast::new(config);
/// for _ in 0..3 {
///     let _ = ff.call_blocking(|| Err::<(), _>("connection reset"));
/// }
/// assert_eq!(ff.state(), State::Open); // and it stays open ...
/// let r = ff.call_blocking(|| Ok::<_, ()>("not called"));
/// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::FailFastOpen);
/// ff.report_healthy(); // ... until a health check says otherwise
///
/// // 50 ms left cannot cover a 300 ms call
/// let deadline = Deadline::after(ff.clock().now(), Duration::from_millis(50));
/// let r = ff.call_blocking_with_deadline(deadline, &DefaultClassifier, || Ok::<_, ()>(()));
/// assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
/// ```
pub struct FailFast<C> {
    shared: Arc<SharedStdFailFast>,
    clock: C,
}

impl<C: Clone> Clone for FailFast<C> {
    fn clone(&self) -> Self {
        FailFast {
            shared: Arc::clone(&self.shared),
            clock: self.clock.clone(),
        }
    }
}

impl<C: fmt::Debug> fmt::Debug for FailFast<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailFast")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Default> FailFast<C> {
    /// A closed fail fast with `config`, on the default clock.
    pub fn new(config: FailFastConfig) -> Self {
        Self::with_clock(config, C::default())
    }
}

impl<C: Clock> FailFast<C> {
    /// A closed fail fast with `config` reading `clock` (a test clock, say).
    pub fn with_clock(config: FailFastConfig, clock: C) -> Self {
        let machine = Machine::with_observer(config, Hook::none());
        FailFast {
            shared: Arc::new(SharedFailFast::new(StdLock::new(machine))),
            clock,
        }
    }

    /// Sends every [`FailFastEvent`] to `f` (replacing any previous hook).
    /// `f` runs under the lock: keep it short and do not call back into the
    /// fail fast. Rejections on the lock-free path while open are counted
    /// in [`metrics`](Self::metrics) but not sent.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use failsafe_core::failfast::{FailFastConfig, FailFastEvent, OpenCause};
    /// use failsafe_driver::{FailFast, StdClock};
    ///
    /// let opened = Arc::new(Mutex::new(Vec::new()));
    /// let log = Arc::clone(&opened);
    /// let ff: FailFast<StdClock> = FailFast::new(FailFastConfig::DEFAULT).on_event(move |e| {
    ///     if let FailFastEvent::Opened { cause, .. } = e {
    ///         log.lock().unwrap().push(cause);
    ///     }
    /// });
    /// ff.open();
    /// assert_eq!(*opened.lock().unwrap(), [OpenCause::Manual]);
    /// ```
    pub fn on_event(self, f: impl Fn(FailFastEvent) + Send + Sync + 'static) -> Self {
        self.shared.with(|ff| *ff.observer_mut() = Hook::new(f));
        self
    }

    /// Runs `f` through the fail fast, with no deadline; `Err` counts as a
    /// failure. A rejection returns [`Error::Rejected`] without calling `f`.
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        fail_fast(
            &*self.shared,
            &self.clock,
            Deadline::NEVER,
            &DefaultClassifier,
            f,
        )
        .await
    }

    /// Runs `f` through the fail fast, with no deadline; `classify` judges
    /// each result ([`Health::Unhealthy`](crate::Health::Unhealthy) opens at
    /// once). The caller gets `f`'s result as is.
    pub async fn call_with<K, F, Fut, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        fail_fast(&*self.shared, &self.clock, Deadline::NEVER, classify, f).await
    }

    /// Runs `f` through the fail fast for a caller who must be done by
    /// `deadline` (an instant on this handle's clock): rejected at once if
    /// the fail fast is open or the time left cannot cover the expected
    /// duration plus margin ([`min_remaining`](Self::min_remaining)).
    /// `classify` judges the result.
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
        fail_fast(&*self.shared, &self.clock, deadline, classify, f).await
    }

    /// Runs blocking `f` through the fail fast, with no deadline; `Err`
    /// counts as a failure.
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        fail_fast_blocking(
            &*self.shared,
            &self.clock,
            Deadline::NEVER,
            &DefaultClassifier,
            f,
        )
    }

    /// Runs blocking `f` through the fail fast, with no deadline; `classify`
    /// judges each result.
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        K: ClassifyHealth<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        fail_fast_blocking(&*self.shared, &self.clock, Deadline::NEVER, classify, f)
    }

    /// Runs blocking `f` through the fail fast under the caller's
    /// `deadline`; `classify` judges the result.
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
        fail_fast_blocking(&*self.shared, &self.clock, deadline, classify, f)
    }

    /// A permit guard under `deadline` that owns a handle to this fail fast
    /// (for futures that must be `'static`, such as a tower service's).
    /// Report with [`FailFastGuard::finish`]; dropping it records
    /// `Cancelled`.
    pub fn acquire(
        &self,
        deadline: Deadline,
    ) -> Result<FailFastGuard<Arc<SharedStdFailFast>, C>, Rejected>
    where
        C: Clone,
    {
        FailFastGuard::acquire(Arc::clone(&self.shared), self.clock.clone(), deadline)
    }

    /// A health check says the dependency is back: closes now (and ends any
    /// streak of failures).
    pub fn report_healthy(&self) {
        let now = self.clock.now();
        self.shared.with(|ff| ff.report_healthy(now))
    }

    /// A health check (or a predicate of your own) says the dependency is
    /// down: opens now. Already open: nothing changes.
    pub fn report_unhealthy(&self) {
        let now = self.clock.now();
        self.shared.with(|ff| ff.report_unhealthy(now))
    }

    /// Opens now by hand (an operator's switch). Already open: nothing changes.
    pub fn open(&self) {
        let now = self.clock.now();
        self.shared.with(|ff| ff.open(now))
    }

    /// Closes now by hand (and ends any streak of failures).
    pub fn close(&self) {
        let now = self.clock.now();
        self.shared.with(|ff| ff.close(now))
    }

    /// Closes and zeroes every counter, forgetting learned durations.
    pub fn reset(&self) {
        self.shared.reset(self.clock.now())
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.with(|ff| ff.state())
    }

    /// A snapshot of the state and counters (rejections on the lock-free
    /// path included).
    pub fn metrics(&self) -> FailFastMetrics {
        self.shared.metrics()
    }

    /// The least time a deadline must leave for a call to be admitted now:
    /// the expected duration (configured or learned) plus the safety margin.
    pub fn min_remaining(&self) -> Duration {
        self.shared.with(|ff| ff.min_remaining())
    }

    /// While open with a probe interval: when the next probe is due (until
    /// [`on_deadline`](Self::on_deadline) has reported it). A supervisor can
    /// sleep until then and start an active health check.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.shared.with(|ff| ff.next_deadline())
    }

    /// Notices now whatever became due (a probe:
    /// [`FailFastEvent::ProbeDue`], once per interval). Spurious calls are
    /// no-ops.
    pub fn on_deadline(&self) {
        let now = self.clock.now();
        self.shared.with(|ff| ff.on_deadline(now))
    }

    /// The clock this handle reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The shared machine, for anything the handle does not wrap.
    pub fn shared(&self) -> &Arc<SharedStdFailFast> {
        &self.shared
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::vec::Vec;

    use failsafe_core::RejectReason;
    use failsafe_core::failfast::{CloseCause, OpenCause};

    use super::*;
    use crate::{Health, UnhealthyWhen};

    /// A clock the test moves; clones share it.
    #[derive(Clone, Debug, Default)]
    struct Manual(Arc<AtomicU64>);
    impl Manual {
        fn set_ms(&self, ms: u64) {
            self.0.store(ms, Ordering::SeqCst)
        }
    }
    impl Clock for Manual {
        fn now(&self) -> Instant {
            Instant::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    fn config(n: u32) -> FailFastConfig {
        FailFastConfig::builder()
            .consecutive_failures(n)
            .build()
            .unwrap()
    }

    #[test]
    fn opens_after_n_failures_stops_calling_and_waits_for_health() {
        let ff = FailFast::with_clock(config(2), Manual::default());
        for _ in 0..2 {
            assert_eq!(ff.call_blocking(|| Err::<(), _>(1)), Err(Error::Inner(1)));
        }
        let mut called = false;
        ff.clock().set_ms(3_600_000);
        let r = ff.call_blocking(|| {
            called = true;
            Ok::<_, ()>(())
        });
        assert!(!called);
        let r = r.unwrap_err();
        assert_eq!(
            (r.rejected().unwrap().reason, r.rejected().unwrap().retry_at),
            (RejectReason::FailFastOpen, None)
        );
        ff.report_healthy();
        assert_eq!(ff.call_blocking(|| Ok::<_, ()>(5)), Ok(5));
        assert_eq!(ff.metrics().rejected_open, 1);
    }

    #[test]
    fn the_hook_hears_opens_and_closes_and_clones_share_one_machine() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let ff = FailFast::with_clock(config(5), Manual::default())
            .on_event(move |e| log.lock().unwrap().push(e));
        let clone = ff.clone();
        let refused = UnhealthyWhen(|r: &Result<(), &str>| *r == Err("refused"));
        ff.clock().set_ms(10);
        assert!(
            clone
                .call_blocking_with(&refused, || Err("refused"))
                .is_err()
        );
        assert_eq!(ff.state(), State::Open);
        ff.clock().set_ms(20);
        ff.close();
        assert_eq!(
            *seen.lock().unwrap(),
            [
                FailFastEvent::Opened {
                    at: Instant::from_millis(10),
                    cause: OpenCause::Unhealthy,
                },
                FailFastEvent::Closed {
                    at: Instant::from_millis(20),
                    cause: CloseCause::Manual,
                },
            ]
        );
    }

    #[test]
    fn an_owned_guard_reports_its_verdict() {
        let ff = FailFast::with_clock(config(5), Manual::default());
        let guard = ff.acquire(Deadline::NEVER).unwrap();
        guard.finish(Health::Unhealthy);
        assert_eq!(ff.metrics().open_cause, Some(OpenCause::Unhealthy));
        assert!(ff.acquire(Deadline::NEVER).is_err());
    }
}
