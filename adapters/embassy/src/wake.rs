//! [`WakeAt`]: every instant failsafe hands a firmware, as the
//! `embassy_time::Instant` that `Timer::at` takes.

use failsafe_driver::sync::SharedAdmission;
use failsafe_driver::timeout_machine::Deadline;
use failsafe_driver::{Error, Instant, PipelineError, Policy, Rejected, RetryError};

use crate::EmbassyClock;

/// When to come back, as an [`embassy_time::Instant`] for `Timer::at`, with
/// no conversion at the call site: a [`Rejected`]'s (or an
/// [`Error::Rejected`]'s) `retry_at`, a firmware policy's
/// `next_deadline()`, a [`Deadline`], a core [`Instant`]. `None` when there
/// is no instant to wait for: the machine cannot say (a probe out), nothing
/// is pending, or never (a request larger than a limiter's burst,
/// [`Deadline::NEVER`], [`Instant::MAX`]). Rounded up to the next tick
/// ([`EmbassyClock::to_embassy`]): a timer never fires before the machine
/// would admit.
///
/// ```
/// use core::time::Duration;
/// use embassy_time::Timer;
/// use failsafe_embassy::{BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, WakeAt, checked, circuit_breaker};
///
/// const CONFIG: BreakerConfig = checked(BreakerConfig::builder().consecutive_failures(1).build());
/// static SENSOR: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&CONFIG, NoWindow);
///
/// # futures_lite::future::block_on(async {
/// let _ = SENSOR.call(|| async { Err::<u16, _>("bus fault") }).await; // opens it
/// match SENSOR.call(|| async { Ok::<u16, &str>(421) }).await {
///     Err(Error::Rejected(rejected)) => {
///         let at = rejected.wake_at().expect("an open breaker says when");
///         assert_eq!(SENSOR.wake_at(), Some(at)); // the same instant: it half-opens then
///         # if false {
///         Timer::at(at).await;
///         # }
///     }
///     other => panic!("{other:?}"),
/// }
/// # });
/// ```
pub trait WakeAt {
    /// The instant to pass to `Timer::at`, or `None` if there is none.
    fn wake_at(&self) -> Option<embassy_time::Instant>;
}

/// The core instant; `None` for [`Instant::MAX`] (never).
impl WakeAt for Instant {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        if *self == Instant::MAX {
            None
        } else {
            Some(EmbassyClock::to_embassy(*self))
        }
    }
}

/// The rejection's `retry_at` ([`EmbassyClock::retry_at`]).
impl WakeAt for Rejected {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        EmbassyClock::retry_at(self)
    }
}

/// The rejection's `retry_at`; `None` for a timeout or the call's own error.
impl<E> WakeAt for Error<E> {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.rejected().and_then(WakeAt::wake_at)
    }
}

/// The last attempt's rejection's `retry_at` (a pipeline whose breaker or
/// limiter turned the call away); `None` otherwise.
impl<E> WakeAt for PipelineError<E> {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.rejected().and_then(WakeAt::wake_at)
    }
}

/// The last attempt's error's instant, if it has one (a retry around a
/// policy's `call`, whose error is an [`Error`]).
impl<E: WakeAt> WakeAt for RetryError<E> {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.last.as_ref().and_then(WakeAt::wake_at)
    }
}

/// The deadline's instant; `None` for [`Deadline::NEVER`].
impl WakeAt for Deadline {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.instant().wake_at()
    }
}

/// The policy's `next_deadline()`: when its machine changes on its own
/// (an open breaker half-opens, a waiter's wait ends).
impl<S: SharedAdmission, A> WakeAt for Policy<S, EmbassyClock, A> {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.next_deadline().and_then(|at| at.wake_at())
    }
}
