//! The timeout handle the std adapters bind: a config, an event hook and a
//! clock. The race itself is [`timeout`] / [`timeout_blocking`].

extern crate std;

use std::future::Future;

use failsafe_core::Instant;
use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutEvent};

use crate::{Clock, Error, Hook, Runtime, timeout, timeout_blocking};

/// A cloneable timeout for std code on clock or runtime `C`: the config and
/// an optional event hook. The tokio, async-std and thread adapters are this
/// handle bound to their clocks.
///
/// Each call gets the deadline `now + timeout` to hand down to inner calls;
/// [`call_with_deadline`](Self::call_with_deadline) takes the caller's
/// `parent` deadline too, and gives the earlier: a per-attempt timeout
/// inside a retry never outlives the overall one outside it.
#[derive(Clone, Debug)]
pub struct TimeoutPolicy<C> {
    config: TimeoutConfig,
    hook: Hook<TimeoutEvent>,
    clock: C,
}

impl<C: Clock + Default> TimeoutPolicy<C> {
    /// A timeout with `config` on the default clock.
    pub fn new(config: TimeoutConfig) -> Self {
        Self::with_runtime(config, C::default())
    }
}

impl<C: Clock> TimeoutPolicy<C> {
    /// A timeout with `config` reading `clock`.
    pub fn with_runtime(config: TimeoutConfig, clock: C) -> Self {
        TimeoutPolicy {
            config,
            hook: Hook::none(),
            clock,
        }
    }

    /// Sends every [`TimeoutEvent`] to `f`, after the listeners already
    /// added (each `on_event` adds one: several listeners hear every event).
    pub fn on_event(mut self, f: impl Fn(TimeoutEvent) + Send + Sync + 'static) -> Self {
        self.hook.add(f);
        self
    }

    /// Adds an observer of every [`TimeoutEvent`] (a `TracingObserver`, a
    /// `MetricsObserver`), as [`on_event`](Self::on_event) and as the
    /// admission handles' `observe`.
    #[must_use]
    pub fn observe(
        mut self,
        o: impl failsafe_core::event::SharedObserver<TimeoutEvent> + Send + Sync + 'static,
    ) -> Self {
        self.hook.add_observer(o);
        self
    }

    /// The config.
    pub fn config(&self) -> TimeoutConfig {
        self.config
    }

    /// The runtime (clock) this handle reads, as the admission handles'
    /// `runtime()`.
    pub fn runtime(&self) -> &C {
        &self.clock
    }

    /// One call's timeout plan, started at `now` under the caller's
    /// `parent` deadline and reporting to this handle's hook: for futures
    /// that run it over [`PlanRun`](crate::PlanRun) (a tower service's).
    pub fn plan(&self, parent: Deadline, now: Instant) -> Timeout<Hook<TimeoutEvent>> {
        Timeout::start_observed(self.config, now, parent, self.hook.clone())
    }

    /// Runs blocking `op` with the deadline to bound its own waits by; see
    /// [`timeout_blocking`] (a late result is [`Error::Timeout`] in cancel
    /// mode, because a thread cannot be interrupted).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] past the deadline in cancel mode; `op`'s error as
    /// [`Error::Inner`].
    pub fn call_blocking<F, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, E>,
    {
        self.call_blocking_with_deadline(Deadline::NEVER, op)
    }

    /// [`call_blocking`](Self::call_blocking) inside a caller's `parent`
    /// deadline: `op`'s deadline is the earlier of the two.
    ///
    /// # Errors
    ///
    /// As [`call_blocking`](Self::call_blocking).
    pub fn call_blocking_with_deadline<F, T, E>(
        &self,
        parent: Deadline,
        op: F,
    ) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Result<T, E>,
    {
        timeout_blocking(
            &self.clock,
            self.config,
            parent,
            self.hook.clone(),
            |deadline| op(deadline).map_err(Error::Inner),
        )
    }
}

impl<C: Runtime> TimeoutPolicy<C> {
    /// Runs `op` with a deadline: `op` gets it to hand down; in cancel mode
    /// its future is dropped when it passes and [`Error::Timeout`] is
    /// returned, in soft mode it finishes and the hook hears of the overrun.
    ///
    /// An operation that itself returns [`Error`] (a breaker call inside the
    /// timeout) comes back as `Error<Error<E>>`: [`Error::flatten`] it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] past the deadline in cancel mode; `op`'s error as
    /// [`Error::Inner`].
    pub async fn call<F, Fut, T, E>(&self, op: F) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with_deadline(Deadline::NEVER, op).await
    }

    /// [`call`](Self::call) inside a caller's `parent` deadline: `op`'s
    /// deadline is the earlier of the two.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_with_deadline<F, Fut, T, E>(
        &self,
        parent: Deadline,
        op: F,
    ) -> Result<T, Error<E>>
    where
        F: FnOnce(Deadline) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        timeout(
            &self.clock,
            self.config,
            parent,
            self.hook.clone(),
            |deadline| {
                let work = op(deadline);
                async move { work.await.map_err(Error::Inner) }
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::vec::Vec;

    use core::cell::Cell;
    use core::time::Duration;

    use failsafe_core::Instant;
    use failsafe_core::timeout::TimeoutMode;

    use super::*;

    #[derive(Debug, Default)]
    struct Manual(Cell<u64>);
    impl Clock for Manual {
        fn now(&self) -> Instant {
            Instant::from_millis(self.0.get())
        }
    }

    #[test]
    fn blocking_run_wraps_errors_and_reports_a_soft_overrun_to_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let config = TimeoutConfig::new(Duration::from_millis(10))
            .unwrap()
            .mode(TimeoutMode::Soft);
        let second = Arc::new(Mutex::new(0));
        let count = Arc::clone(&second);
        let t = TimeoutPolicy::with_runtime(config, Manual::default())
            .on_event(move |e| log.lock().unwrap().push(e))
            .on_event(move |_| *count.lock().unwrap() += 1);
        assert_eq!(
            t.call_blocking(|_| Err::<(), _>("down")),
            Err(Error::Inner("down"))
        );
        assert!(seen.lock().unwrap().is_empty());
        let late = t.call_blocking(|d| {
            t.runtime().0.set(20);
            Ok::<_, ()>(d)
        });
        assert_eq!(late, Ok(Deadline::at(Instant::from_millis(10))));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(*second.lock().unwrap(), 1, "a second listener hears it too");
    }

    #[test]
    fn the_plan_hands_down_the_earlier_deadline() {
        let t = TimeoutPolicy::with_runtime(
            TimeoutConfig::new(Duration::from_millis(100)).unwrap(),
            Manual(Cell::new(50)),
        );
        assert_eq!(
            t.plan(Deadline::NEVER, t.runtime().now()).deadline(),
            Deadline::at(Instant::from_millis(150))
        );
        let parent = Deadline::at(Instant::from_millis(70));
        assert_eq!(t.plan(parent, t.runtime().now()).deadline(), parent);
    }
}
