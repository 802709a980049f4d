//! The shared form of a core machine's verbs, and the guard that makes sure
//! every permit comes back exactly once.

use failsafe_core::breaker::{BreakerEvent, BreakerPermit, CircuitBreaker, Window};
use failsafe_core::sync::{Lock, SharedBreaker};
use failsafe_core::{Instant, Observer, Outcome, Rejected, TimeSource};

use crate::Clock;

/// A machine usable from `&self`: `acquire` a permit, `record` its outcome.
/// Implemented by the core's shared machines and by references and `Arc`s to
/// them, so a guard can borrow or own its policy.
pub trait SharedPolicy {
    /// The admission token.
    type Permit;
    /// May a call start at `now`? (`now` may be a closure: the machine reads
    /// it only if the decision needs the time.)
    fn acquire(&self, now: impl TimeSource) -> Result<Self::Permit, Rejected>;
    /// How the call admitted by `permit` ended at `now`.
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome);
}

impl<P: SharedPolicy + ?Sized> SharedPolicy for &P {
    type Permit = P::Permit;
    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<Self::Permit, Rejected> {
        (**self).acquire(now)
    }
    #[inline]
    fn record(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        (**self).record(now, permit, outcome)
    }
}

impl<W, O, L> SharedPolicy for SharedBreaker<W, O, L>
where
    W: Window,
    O: Observer<BreakerEvent>,
    L: Lock<CircuitBreaker<W, O>>,
{
    type Permit = BreakerPermit;
    #[inline]
    fn acquire(&self, now: impl TimeSource) -> Result<BreakerPermit, Rejected> {
        SharedBreaker::acquire(self, now)
    }
    #[inline]
    fn record(&self, now: impl TimeSource, permit: BreakerPermit, outcome: Outcome) {
        SharedBreaker::record(self, now, permit, outcome)
    }
}

/// A permit that reports back exactly once: through
/// [`finish`](Self::finish), or on drop as [`Outcome::Cancelled`] (a dropped
/// future, a panicking closure), so no capacity ever leaks.
#[derive(Debug)]
#[must_use = "dropping the guard at once records the call as cancelled"]
pub struct PermitGuard<P: SharedPolicy, C: Clock> {
    policy: P,
    clock: C,
    permit: Option<P::Permit>,
}

impl<P: SharedPolicy, C: Clock> PermitGuard<P, C> {
    /// Acquires a permit from `policy` at `clock.now()`.
    ///
    /// ```
    /// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
    /// use failsafe_core::sync::{CsLock, SharedBreaker};
    /// use failsafe_core::{Instant, Outcome};
    /// use failsafe_driver::{Clock, PermitGuard};
    ///
    /// struct Frozen;
    /// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
    ///
    /// let breaker = SharedBreaker::new(CsLock::new(CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow)));
    /// let guard = PermitGuard::acquire(&breaker, Frozen).unwrap();
    /// guard.finish(Outcome::Success);
    /// ```
    #[inline]
    pub fn acquire(policy: P, clock: C) -> Result<Self, Rejected> {
        // The clock is read only if the machine needs the time.
        let permit = policy.acquire(|| clock.now())?;
        Ok(PermitGuard {
            policy,
            clock,
            permit: Some(permit),
        })
    }

    /// Acquires a permit at an instant the caller already read.
    pub fn acquire_at(policy: P, clock: C, now: Instant) -> Result<Self, Rejected> {
        let permit = policy.acquire(now)?;
        Ok(PermitGuard {
            policy,
            clock,
            permit: Some(permit),
        })
    }

    /// The permit held (e.g. to ask a breaker permit `is_probe()`); `None`
    /// only after it was reported.
    pub fn permit(&self) -> Option<&P::Permit> {
        self.permit.as_ref()
    }

    /// Records `outcome` now and consumes the guard.
    #[inline]
    pub fn finish(mut self, outcome: Outcome) {
        self.report(outcome);
    }

    #[inline]
    fn report(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            let clock = &self.clock;
            self.policy.record(|| clock.now(), permit, outcome);
        }
    }
}

impl<P: SharedPolicy, C: Clock> Drop for PermitGuard<P, C> {
    fn drop(&mut self) {
        self.report(Outcome::Cancelled);
    }
}
