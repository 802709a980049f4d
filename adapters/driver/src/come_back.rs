//! [`ComeBack`]: the one instant every rejection, error, deadline and
//! policy hands a caller to wait for, whatever the runtime's timer.

use failsafe_core::sync::SharedAdmission;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Rejected};

use crate::{Error, PipelineError, Policy, RetryError};

/// When to come back, as a core [`Instant`] for the runtime's timer (each
/// binding converts it: embassy's `WakeAt`, `TokioClock::to_tokio`): a
/// [`Rejected`]'s `retry_at`, an [`Error`]'s or [`PipelineError`]'s
/// rejection's, a [`RetryError`]'s last error's, a [`Deadline`], a
/// [`Policy`]'s `next_deadline()` (when its machine changes on its own: an
/// open breaker half-opens). `None` when there is nothing to wait for: the
/// machine cannot say (a probe out), nothing is pending, not a rejection
/// (a timeout, the call's own error), or never ([`Instant::MAX`]: a
/// request larger than a limiter's burst, [`Deadline::NEVER`]).
///
/// ```
/// use failsafe_driver::{ComeBack, Error, Instant, RejectReason, Rejected};
///
/// let open = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_secs(5)));
/// assert_eq!(Error::<()>::Rejected(open).come_back_at(), Some(Instant::from_secs(5)));
/// assert_eq!(Rejected::never(RejectReason::RateInsufficientCapacity).come_back_at(), None);
/// assert_eq!(Error::Inner("down").come_back_at(), None);
/// ```
pub trait ComeBack {
    /// The instant to wait for, or `None` if there is none.
    fn come_back_at(&self) -> Option<Instant>;
}

impl ComeBack for Instant {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        (*self != Instant::MAX).then_some(*self)
    }
}

impl ComeBack for Rejected {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.retry_at.and_then(|at| at.come_back_at())
    }
}

impl<E> ComeBack for Error<E> {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.rejected().and_then(ComeBack::come_back_at)
    }
}

impl<E> ComeBack for PipelineError<E> {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.rejected().and_then(ComeBack::come_back_at)
    }
}

impl<E: ComeBack> ComeBack for RetryError<E> {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.last.as_ref().and_then(ComeBack::come_back_at)
    }
}

impl ComeBack for Deadline {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.instant().come_back_at()
    }
}

impl<S: SharedAdmission, R, A: crate::Asks> ComeBack for Policy<S, R, A> {
    #[inline]
    fn come_back_at(&self) -> Option<Instant> {
        self.shared()
            .next_deadline()
            .and_then(|at| at.come_back_at())
    }
}
