//! Running a call through a fail fast: admission under the caller's
//! deadline, the result judged by a health classifier, and a guard that
//! returns the permit exactly once.

use core::future::Future;

use failsafe_core::failfast::{FailFast, FailFastEvent, FailFastPermit};
use failsafe_core::sync::{Lock, SharedFailFast};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome, Rejected, TimeSource};

use crate::{Classify, Clock, DefaultClassifier, Error, SharedPolicy};

/// What a call's result says about the dependency, as a fail fast counts it.
///
/// The first four are the call's [`Outcome`]; [`Unhealthy`](Self::Unhealthy)
/// is the predicate of the Python Failsafe ("open when the result says so"):
/// the call is counted as a failure and the fail fast opens at once,
/// whatever the streak.
///
/// ```
/// use failsafe_core::Outcome;
/// use failsafe_driver::Health;
///
/// assert_eq!(Health::from(Outcome::Timeout), Health::Timeout);
/// assert_eq!(Health::Unhealthy.outcome(), Outcome::Failure);
/// assert_eq!(Health::from(Outcome::Cancelled).outcome(), Outcome::Ignored);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Health {
    /// The call succeeded: ends the streak of failures (and, for a probe,
    /// closes an open fail fast).
    Success,
    /// The call failed: extends the streak; the configured number in a row opens.
    Failure,
    /// The call ran out of time: counted as a failure.
    Timeout,
    /// The result says nothing about the dependency (a `404`, say): counted
    /// neither way.
    Ignored,
    /// The result says the dependency is down (a "maintenance" reply, a
    /// refused connection): counted as a failure, and the fail fast opens
    /// now ([`OpenCause::Unhealthy`](failsafe_core::failfast::OpenCause::Unhealthy)).
    Unhealthy,
}

impl Health {
    /// The outcome recorded for the call: [`Unhealthy`](Self::Unhealthy) is
    /// a [`Outcome::Failure`].
    pub const fn outcome(self) -> Outcome {
        match self {
            Health::Success => Outcome::Success,
            Health::Failure | Health::Unhealthy => Outcome::Failure,
            Health::Timeout => Outcome::Timeout,
            Health::Ignored => Outcome::Ignored,
        }
    }
}

impl From<Outcome> for Health {
    /// The same outcome; [`Outcome::Cancelled`] (which a fail fast does not
    /// count either) becomes [`Health::Ignored`].
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => Health::Success,
            Outcome::Failure => Health::Failure,
            Outcome::Timeout => Health::Timeout,
            Outcome::Cancelled | Outcome::Ignored => Health::Ignored,
            other if other.is_failure() => Health::Failure,
            other if other.counts() => Health::Success,
            _ => Health::Ignored,
        }
    }
}

/// Turns a call's result into a [`Health`] verdict for a fail fast.
///
/// Any `Fn(&Result<T, E>) -> Health` is one; [`DefaultClassifier`] counts
/// `Err` as a failure; [`UnhealthyWhen`] adds a predicate that opens the
/// fail fast at once; [`ByOutcome`] adapts an outcome [`Classify`]er.
///
/// ```
/// use failsafe_driver::{ClassifyHealth, DefaultClassifier, Health};
///
/// let by_status = |r: &Result<u16, ()>| match r {
///     Ok(503) => Health::Unhealthy, // "down for maintenance": stop calling now
///     Ok(code) if *code >= 500 => Health::Failure,
///     Ok(_) => Health::Success,
///     Err(()) => Health::Failure,
/// };
/// assert_eq!(by_status.health(&Ok(503)), Health::Unhealthy);
/// assert_eq!(DefaultClassifier.health(&Err::<u16, ()>(())), Health::Failure);
/// ```
pub trait ClassifyHealth<T, E> {
    /// The verdict `result` stands for.
    fn health(&self, result: &Result<T, E>) -> Health;
}

impl<T, E> ClassifyHealth<T, E> for DefaultClassifier {
    #[inline]
    fn health(&self, result: &Result<T, E>) -> Health {
        match result {
            Ok(_) => Health::Success,
            Err(_) => Health::Failure,
        }
    }
}

impl<T, E, F: Fn(&Result<T, E>) -> Health> ClassifyHealth<T, E> for F {
    #[inline]
    fn health(&self, result: &Result<T, E>) -> Health {
        self(result)
    }
}

/// A predicate over the result that opens the fail fast at once when it
/// returns `true` ([`Health::Unhealthy`]); otherwise `Ok` is a success and
/// `Err` a failure.
///
/// ```
/// use failsafe_driver::{ClassifyHealth, Health, UnhealthyWhen};
///
/// #[derive(Debug)]
/// enum DbError { Syntax, ConnectionRefused }
/// let refused = UnhealthyWhen(|r: &Result<u32, DbError>| matches!(r, Err(DbError::ConnectionRefused)));
/// assert_eq!(refused.health(&Err(DbError::ConnectionRefused)), Health::Unhealthy);
/// assert_eq!(refused.health(&Err(DbError::Syntax)), Health::Failure);
/// assert_eq!(refused.health(&Ok(1)), Health::Success);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnhealthyWhen<P>(pub P);

impl<T, E, P: Fn(&Result<T, E>) -> bool> ClassifyHealth<T, E> for UnhealthyWhen<P> {
    #[inline]
    fn health(&self, result: &Result<T, E>) -> Health {
        if (self.0)(result) {
            Health::Unhealthy
        } else {
            DefaultClassifier.health(result)
        }
    }
}

/// Adapts an outcome [`Classify`]er (such as a breaker's) to a fail fast:
/// its [`Outcome`] becomes the [`Health`] verdict, never `Unhealthy`.
///
/// ```
/// use failsafe_core::Outcome;
/// use failsafe_driver::{ByOutcome, ClassifyHealth, Health};
///
/// let not_found_is_fine = |r: &Result<(), u16>| match r {
///     Err(404) => Outcome::Ignored,
///     Err(_) => Outcome::Failure,
///     Ok(()) => Outcome::Success,
/// };
/// assert_eq!(ByOutcome(not_found_is_fine).health(&Err(404)), Health::Ignored);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByOutcome<K>(pub K);

impl<T, E, K: Classify<T, E>> ClassifyHealth<T, E> for ByOutcome<K> {
    #[inline]
    fn health(&self, result: &Result<T, E>) -> Health {
        self.0.classify(result).into()
    }
}

/// A fail fast usable from `&self`: admission under a deadline, and the
/// verdict on the call. Implemented by the core's
/// [`SharedFailFast`] and by references (and, with the `std` feature,
/// `Arc`s) to implementors, so a guard can borrow or own its fail fast.
pub trait FailFastPolicy {
    /// The admission token.
    type Permit;

    /// May a call with `deadline` start at `now`? ([`Deadline::NEVER`] for
    /// a caller without one; `now` may be a closure, read only if the
    /// decision needs the time.)
    fn acquire(&self, now: impl TimeSource, deadline: Deadline) -> Result<Self::Permit, Rejected>;

    /// How the call admitted by `permit` ended at `now`.
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome);

    /// The call admitted by `permit` ended at `now` with a result that says
    /// the dependency is down: record a failure and open, both at once. An
    /// outcome for a permit issued before the last open or close is stale:
    /// it neither counts nor opens.
    fn record_unhealthy(&self, now: Instant, permit: Self::Permit);
}

impl<P: FailFastPolicy + ?Sized> FailFastPolicy for &P {
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

impl<O, L> FailFastPolicy for SharedFailFast<O, L>
where
    O: Observer<FailFastEvent>,
    L: Lock<FailFast<O>>,
{
    type Permit = FailFastPermit;

    #[inline]
    fn acquire(
        &self,
        now: impl TimeSource,
        deadline: Deadline,
    ) -> Result<FailFastPermit, Rejected> {
        SharedFailFast::acquire(self, now, deadline)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        SharedFailFast::record(self, now, permit, outcome)
    }

    fn record_unhealthy(&self, now: Instant, permit: FailFastPermit) {
        self.with(|ff| record_unhealthy(ff, now, permit))
    }
}

/// Records a failure for `permit` and, unless it was stale, opens as
/// unhealthy: one step under the caller's lock.
pub(crate) fn record_unhealthy<O: Observer<FailFastEvent>>(
    ff: &mut FailFast<O>,
    now: Instant,
    permit: FailFastPermit,
) {
    // The core counts a stale outcome without saying so to the caller:
    // read the count around `record` (both under one lock).
    let stale = ff.metrics().stale_outcomes;
    ff.record(now, permit, Outcome::Failure);
    if ff.metrics().stale_outcomes == stale {
        ff.report_unhealthy(now);
    }
}

/// A shared fail fast is also a plain [`SharedPolicy`], admitting callers
/// without a deadline ([`Deadline::NEVER`]), so the generic
/// [`call`](crate::call) and [`PermitGuard`](crate::PermitGuard) serve it too.
impl<O, L> SharedPolicy for SharedFailFast<O, L>
where
    O: Observer<FailFastEvent>,
    L: Lock<FailFast<O>>,
{
    type Permit = FailFastPermit;

    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<FailFastPermit, Rejected> {
        SharedFailFast::acquire(self, now, Deadline::NEVER)
    }

    #[inline]
    fn record(&self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        SharedFailFast::record(self, now, permit, outcome)
    }
}

/// A fail-fast permit that reports back exactly once: through
/// [`finish`](Self::finish) with the call's [`Health`], or on drop as
/// [`Outcome::Cancelled`] (a dropped future, a panicking closure), which
/// leaves the streak of failures as it was. A cancelled probe neither
/// closes nor counts; the next probe is admitted one interval after it
/// started.
#[derive(Debug)]
#[must_use = "dropping the guard at once records the call as cancelled"]
pub struct FailFastGuard<P: FailFastPolicy, C: Clock> {
    policy: P,
    clock: C,
    permit: Option<P::Permit>,
}

impl<P: FailFastPolicy, C: Clock> FailFastGuard<P, C> {
    /// Asks `policy` to admit a call with `deadline` at `clock.now()` (the
    /// clock is read only if the decision needs the time).
    ///
    /// ```
    /// use failsafe_core::failfast::{FailFast, FailFastConfig};
    /// use failsafe_core::sync::{CsLock, SharedFailFast};
    /// use failsafe_core::timeout::Deadline;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{Clock, FailFastGuard, Health};
    ///
    /// struct Frozen;
    /// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
    ///
    /// let ff = SharedFailFast::new(CsLock::new(FailFast::new(FailFastConfig::DEFAULT)));
    /// let guard = FailFastGuard::acquire(&ff, Frozen, Deadline::NEVER).unwrap();
    /// // ... the reply says the service is in maintenance ...
    /// guard.finish(Health::Unhealthy);
    /// assert!(FailFastGuard::acquire(&ff, Frozen, Deadline::NEVER).is_err());
    /// ```
    #[inline]
    pub fn acquire(policy: P, clock: C, deadline: Deadline) -> Result<Self, Rejected> {
        let permit = policy.acquire(|| clock.now(), deadline)?;
        Ok(FailFastGuard {
            policy,
            clock,
            permit: Some(permit),
        })
    }

    /// [`acquire`](Self::acquire) at an instant the caller already read.
    pub fn acquire_at(
        policy: P,
        clock: C,
        now: Instant,
        deadline: Deadline,
    ) -> Result<Self, Rejected> {
        let permit = policy.acquire(now, deadline)?;
        Ok(FailFastGuard {
            policy,
            clock,
            permit: Some(permit),
        })
    }

    /// The permit held (e.g. to ask a core permit `is_probe()`); `None` only
    /// after it was reported.
    pub fn permit(&self) -> Option<&P::Permit> {
        self.permit.as_ref()
    }

    /// Reports the call's verdict now and consumes the guard.
    #[inline]
    pub fn finish(mut self, health: Health) {
        if let Some(permit) = self.permit.take() {
            let clock = &self.clock;
            match health {
                Health::Unhealthy => self.policy.record_unhealthy(clock.now(), permit),
                other => self.policy.record(|| clock.now(), permit, other.outcome()),
            }
        }
    }
}

impl<P: FailFastPolicy, C: Clock> Drop for FailFastGuard<P, C> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            let clock = &self.clock;
            self.policy
                .record(|| clock.now(), permit, Outcome::Cancelled);
        }
    }
}

/// Runs the async operation `f` through fail fast `policy` under the
/// caller's `deadline`: if the fail fast is open, or the deadline cannot
/// cover the expected duration of the call, returns [`Error::Rejected`]
/// without calling `f`; otherwise awaits `f`, judges its result with
/// `classify` and records the verdict. Dropping the returned future
/// mid-call, or a panic inside the operation, records
/// [`Outcome::Cancelled`].
///
/// The fail fast only admits: it does not cut a call short at the deadline
/// (put a [`timeout`](crate::timeout) inside it for that). The caller always
/// gets the operation's own result back.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::failfast::{FailFast, FailFastConfig};
/// use failsafe_core::sync::{CsLock, SharedFailFast};
/// use failsafe_core::timeout::Deadline;
/// use failsafe_core::{Instant, RejectReason};
/// use failsafe_driver::{fail_fast, Clock, DefaultClassifier};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let config = FailFastConfig::builder().expected_duration(Duration::from_millis(200)).build().unwrap();
/// let ff = SharedFailFast::new(CsLock::new(FailFast::new(config)));
/// futures_lite::future::block_on(async {
///     let ok = fail_fast(&ff, Frozen, Deadline::NEVER, &DefaultClassifier, || async { Ok::<_, ()>(1) }).await;
///     assert_eq!(ok, Ok(1));
///     // 100 ms left cannot cover a 200 ms call: not even started
///     let short = Deadline::at(Instant::from_millis(100));
///     let r = fail_fast(&ff, Frozen, short, &DefaultClassifier, || async { Ok::<_, ()>(2) }).await;
///     assert_eq!(r.unwrap_err().rejected().unwrap().reason, RejectReason::DeadlineTooShort);
/// });
/// ```
pub async fn fail_fast<P, C, K, F, Fut, T, E>(
    policy: P,
    clock: C,
    deadline: Deadline,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    P: FailFastPolicy,
    C: Clock,
    K: ClassifyHealth<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let guard = FailFastGuard::acquire(policy, clock, deadline)?;
    let result = f().await;
    guard.finish(classify.health(&result));
    result.map_err(Error::Inner)
}

/// [`fail_fast`] for blocking code: runs `f` on this thread. A panic in `f`
/// records [`Outcome::Cancelled`] as it unwinds, then continues unwinding.
///
/// ```
/// use failsafe_core::failfast::{FailFast, FailFastConfig, State};
/// use failsafe_core::sync::{CsLock, SharedFailFast};
/// use failsafe_core::timeout::Deadline;
/// use failsafe_core::Instant;
/// use failsafe_driver::{fail_fast_blocking, Clock, Error, UnhealthyWhen};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let ff = SharedFailFast::new(CsLock::new(FailFast::new(FailFastConfig::DEFAULT)));
/// let refused = UnhealthyWhen(|r: &Result<(), &str>| *r == Err("refused"));
/// let r = fail_fast_blocking(&ff, Frozen, Deadline::NEVER, &refused, || Err("refused"));
/// assert_eq!(r, Err(Error::Inner("refused")));
/// assert_eq!(ff.with(|ff| ff.state()), State::Open); // one result was enough
/// ```
pub fn fail_fast_blocking<P, C, K, F, T, E>(
    policy: P,
    clock: C,
    deadline: Deadline,
    classify: &K,
    f: F,
) -> Result<T, Error<E>>
where
    P: FailFastPolicy,
    C: Clock,
    K: ClassifyHealth<T, E> + ?Sized,
    F: FnOnce() -> Result<T, E>,
{
    let guard = FailFastGuard::acquire(policy, clock, deadline)?;
    let result = f();
    guard.finish(classify.health(&result));
    result.map_err(Error::Inner)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::cell::Cell;
    use core::time::Duration;
    use std::vec::Vec;

    use failsafe_core::failfast::{CloseCause, FailFastConfig, OpenCause, State};
    use failsafe_core::sync::CsLock;
    use failsafe_core::{FnObserver, RejectReason};

    use super::*;

    struct Manual(Cell<Instant>);
    impl Clock for Manual {
        fn now(&self) -> Instant {
            self.0.get()
        }
    }

    type Shared = SharedFailFast<(), CsLock<FailFast>>;

    fn shared(config: FailFastConfig) -> Shared {
        SharedFailFast::new(CsLock::new(FailFast::new(config)))
    }

    #[test]
    fn an_unhealthy_verdict_opens_at_once_and_a_stale_one_does_not() {
        let clock = Manual(Cell::new(Instant::from_millis(5)));
        let ff = shared(FailFastConfig::DEFAULT);
        let early = FailFastGuard::acquire(&ff, &clock, Deadline::NEVER).unwrap();
        let guard = FailFastGuard::acquire(&ff, &clock, Deadline::NEVER).unwrap();
        guard.finish(Health::Unhealthy);
        let m = ff.metrics();
        assert_eq!(
            (m.state, m.open_cause),
            (State::Open, Some(OpenCause::Unhealthy))
        );
        assert_eq!(m.open_since, Some(Instant::from_millis(5)));
        // a health check brings it back; the call admitted before the open
        // then reports "unhealthy": stale, it neither counts nor reopens
        ff.with(|ff| ff.report_healthy(Instant::from_millis(6)));
        early.finish(Health::Unhealthy);
        let m = ff.metrics();
        assert_eq!(
            (m.state, m.stale_outcomes, m.times_opened),
            (State::Closed, 1, 1)
        );
    }

    #[test]
    fn a_dropped_guard_is_cancelled_and_leaves_the_streak_alone() {
        let clock = Manual(Cell::new(Instant::ZERO));
        let ff = shared(
            FailFastConfig::builder()
                .consecutive_failures(2)
                .build()
                .unwrap(),
        );
        FailFastGuard::acquire(&ff, &clock, Deadline::NEVER)
            .unwrap()
            .finish(Health::Failure);
        drop(FailFastGuard::acquire(&ff, &clock, Deadline::NEVER).unwrap());
        assert_eq!(ff.metrics().consecutive_failures, 1);
        FailFastGuard::acquire(&ff, &clock, Deadline::NEVER)
            .unwrap()
            .finish(Health::Timeout);
        assert_eq!(ff.metrics().state, State::Open);
    }

    #[test]
    fn a_probe_is_admitted_once_per_interval_and_its_success_closes() {
        let mut events = Vec::new();
        let config = FailFastConfig::builder()
            .probe_interval(Duration::from_secs(10))
            .build()
            .unwrap();
        {
            let ff = SharedFailFast::new(CsLock::new(FailFast::with_observer(
                config,
                FnObserver(|e| events.push(e)),
            )));
            let clock = Manual(Cell::new(Instant::ZERO));
            ff.with(|ff| ff.open(Instant::ZERO));
            clock.0.set(Instant::from_secs(10));
            let probe = FailFastGuard::acquire(&ff, &clock, Deadline::NEVER).unwrap();
            assert!(probe.permit().unwrap().is_probe());
            let Err(second) = FailFastGuard::acquire(&ff, &clock, Deadline::NEVER) else {
                panic!("a second probe in one interval");
            };
            // the probe is out: its success may close it before the next
            // probe instant (20 s), so the earliest retry is unknown
            assert_eq!(
                (second.reason, second.retry_at),
                (RejectReason::FailFastOpen, None)
            );
            probe.finish(Health::Success);
            assert_eq!(ff.with(|ff| ff.state()), State::Closed);
        }
        assert!(events.contains(&FailFastEvent::Closed {
            at: Instant::from_secs(10),
            cause: CloseCause::ProbeSucceeded,
        }));
    }

    #[test]
    fn the_generic_call_serves_a_fail_fast_without_a_deadline() {
        let ff = shared(
            FailFastConfig::builder()
                .consecutive_failures(1)
                .build()
                .unwrap(),
        );
        let clock = Manual(Cell::new(Instant::ZERO));
        let r = crate::call_blocking(&ff, &clock, &DefaultClassifier, || Err::<(), _>("x"));
        assert_eq!(r, Err(Error::Inner("x")));
        let r = crate::call_blocking(&ff, &clock, &DefaultClassifier, || Ok::<_, ()>(()));
        assert_eq!(
            r.unwrap_err().rejected().unwrap().reason,
            RejectReason::FailFastOpen
        );
    }

    #[test]
    fn health_mirrors_outcomes() {
        for o in [
            Outcome::Success,
            Outcome::Failure,
            Outcome::Timeout,
            Outcome::Ignored,
        ] {
            assert_eq!(Health::from(o).outcome(), o);
        }
        let k = ByOutcome(|r: &Result<(), ()>| {
            if r.is_ok() {
                Outcome::Success
            } else {
                Outcome::Timeout
            }
        });
        assert_eq!(k.health(&Err(())), Health::Timeout);
    }
}
