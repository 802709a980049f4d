//! [`Control`]: what the registry asks of a named policy; [`Kind`] and
//! [`Staged`].

extern crate std;

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::string::String;

use failsafe_core::Instant;
use serde::Serialize;
use serde_json::Value;

use super::change::Change;
use super::error::ChangeError;

/// What a registered policy is: the pattern, as the admin routes name it
/// (`"circuit_breaker"`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// A circuit breaker ([`CircuitBreakerPolicy`](crate::CircuitBreakerPolicy)).
    CircuitBreaker,
    /// A fail fast ([`FailFastPolicy`](crate::FailFastPolicy)).
    FailFast,
    /// A bulkhead ([`BulkheadPolicy`](crate::BulkheadPolicy)).
    Bulkhead,
    /// A [`RetryPolicy`](crate::RetryPolicy).
    Retry,
    /// A rate limiter ([`RateLimiterPolicy`](crate::RateLimiterPolicy)).
    RateLimiter,
    /// A keyed rate limiter ([`KeyedRateLimiterPolicy`](crate::KeyedRateLimiterPolicy)).
    KeyedRateLimiter,
    /// A table of feature flags ([`FeatureFlags`](super::FeatureFlags)).
    FeatureToggle,
    /// Chaos injection ([`ChaosSwitch`](super::ChaosSwitch)).
    Chaos,
    /// A pipeline: named stages registered on their own
    /// ([`Registry::register_pipeline`](super::Registry::register_pipeline)).
    Pipeline,
}

impl Kind {
    /// The kind's name, e.g. `"circuit_breaker"`.
    ///
    /// ```
    /// use failsafe_driver::registry::Kind;
    /// assert_eq!(Kind::KeyedRateLimiter.as_str(), "keyed_rate_limiter");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::CircuitBreaker => "circuit_breaker",
            Kind::FailFast => "fail_fast",
            Kind::Bulkhead => "bulkhead",
            Kind::Retry => "retry",
            Kind::RateLimiter => "rate_limiter",
            Kind::KeyedRateLimiter => "keyed_rate_limiter",
            Kind::FeatureToggle => "feature_toggle",
            Kind::Chaos => "chaos",
            Kind::Pipeline => "pipeline",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change checked and ready to apply: nothing has changed yet. Running
/// it applies the change (it cannot fail: every check came before) and
/// returns the instant it took effect, on the policy's clock.
///
/// A reload prepares a `Staged` for every policy in the file before it
/// runs any, so one invalid value changes nothing.
#[must_use = "a staged change does nothing until it is run"]
pub struct Staged<'a> {
    apply: Option<Box<dyn FnOnce() -> Applied + Send + 'a>>,
}

/// When a change ran, and what it still has on its way.
type Applied = (Instant, Option<Settling>);

/// What a change that runs elsewhere still has on its way once it is run
/// (a call to a shared store, say): it resolves to `Ok` once the change
/// took, or to why it did not (the store did not answer). Whoever runs
/// the change may await it ([`Registry::apply_settled`](super::Registry::apply_settled))
/// or drop it: the change goes on without it.
pub type Settling = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

impl<'a> Staged<'a> {
    /// A change that `apply` makes.
    ///
    /// ```
    /// use failsafe_core::Instant;
    /// use failsafe_driver::registry::Staged;
    /// let staged = Staged::new(|| Instant::from_millis(5));
    /// assert_eq!(staged.run(), Some(Instant::from_millis(5)));
    /// ```
    pub fn new(apply: impl FnOnce() -> Instant + Send + 'a) -> Self {
        Staged {
            apply: Some(Box::new(move || (apply(), None))),
        }
    }

    /// A change that `apply` starts and that takes effect elsewhere: it
    /// returns the instant it started and the [`Settling`] that says when
    /// (and whether) the change took. The change must go on without the
    /// `Settling` being polled (spawn the work; the `Settling` only waits
    /// for it): [`run`](Self::run) drops it.
    ///
    /// ```
    /// use failsafe_core::Instant;
    /// use failsafe_driver::registry::Staged;
    /// let staged = Staged::settling(|| {
    ///     let took = async { Err::<(), _>("the store did not answer".to_string()) };
    ///     (Instant::from_millis(5), Box::pin(took))
    /// });
    /// let (at, settling) = staged.run_settling().unwrap();
    /// assert_eq!(at, Instant::from_millis(5));
    /// assert!(settling.is_some());
    /// ```
    pub fn settling(apply: impl FnOnce() -> (Instant, Settling) + Send + 'a) -> Self {
        Staged {
            apply: Some(Box::new(move || {
                let (at, settling) = apply();
                (at, Some(settling))
            })),
        }
    }

    /// Nothing to change (a configuration equal to the one in force): no
    /// event is reported for it.
    ///
    /// ```
    /// use failsafe_driver::registry::Staged;
    /// assert!(Staged::unchanged().is_unchanged());
    /// ```
    pub const fn unchanged() -> Self {
        Staged { apply: None }
    }

    /// `true` for [`unchanged`](Self::unchanged).
    pub const fn is_unchanged(&self) -> bool {
        self.apply.is_none()
    }

    /// Applies the change; `None` if there was nothing to change. A change
    /// that takes effect elsewhere ([`settling`](Self::settling)) goes on
    /// there unawaited.
    pub fn run(self) -> Option<Instant> {
        self.run_settling().map(|(at, _)| at)
    }

    /// Applies the change and hands back what it still has on its way, if
    /// anything ([`settling`](Self::settling)); `None` if there was nothing
    /// to change.
    pub fn run_settling(self) -> Option<(Instant, Option<Settling>)> {
        self.apply.map(|apply| apply())
    }
}

/// An operator action on a std handle's machine, staged: `act(machine,
/// now)` under the machine's lock at the handle's now when run.
pub(crate) fn act<M, R>(
    policy: &crate::Policy<crate::StdShared<M>, R>,
    act: fn(&mut M, Instant),
) -> Staged<'_>
where
    M: failsafe_core::admission::Admission + Send,
    R: crate::Clock + Sync,
{
    Staged::new(move || {
        policy.with(|m, now| {
            act(m, now);
            now
        })
    })
}

impl fmt::Debug for Staged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged")
            .field("unchanged", &self.is_unchanged())
            .finish()
    }
}

/// A policy the [`Registry`](super::Registry) can list and change: the
/// std handles of every admission pattern implement it
/// ([`CircuitBreakerPolicy`](crate::CircuitBreakerPolicy),
/// [`FailFastPolicy`](crate::FailFastPolicy),
/// [`BulkheadPolicy`](crate::BulkheadPolicy),
/// [`RateLimiterPolicy`](crate::RateLimiterPolicy),
/// [`KeyedRateLimiterPolicy`](crate::KeyedRateLimiterPolicy)), and so do
/// [`FeatureFlags`](super::FeatureFlags) and
/// [`ChaosSwitch`](super::ChaosSwitch); implement it for a policy of your
/// own.
///
/// Every change keeps the policy's state (calls in flight keep their
/// permits, counts and queues stay): a change is an operator's action on a
/// live policy, not a new one.
pub trait Control: Send + Sync + 'static {
    /// The pattern.
    fn kind(&self) -> Kind;

    /// The configuration in force, in the serde form of the core's
    /// configuration types (the form a reload file uses for it).
    fn config(&self) -> Value;

    /// The live state (the pattern's metrics snapshot), as JSON.
    fn state(&self) -> Value;

    /// Checks `change` and returns what applies it, changing nothing yet.
    ///
    /// # Errors
    ///
    /// [`ChangeError::Unsupported`] for an action this pattern does not
    /// take; [`ChangeError::Invalid`], naming the field, for a value it
    /// refuses.
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError>;
}
