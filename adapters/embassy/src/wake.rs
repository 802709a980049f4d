//! [`WakeAt`]: every instant failsafe hands a firmware, as the
//! `embassy_time::Instant` that `Timer::at` takes.

use failsafe_driver::ComeBack;

use crate::EmbassyClock;

/// The driver's [`ComeBack`] instant (a rejection's `retry_at`, a policy's
/// `next_deadline()`, a deadline; `None` if there is none or never) as an
/// [`embassy_time::Instant`] for `Timer::at`, rounded up
/// ([`EmbassyClock::to_embassy`]): a timer never fires before the machine
/// would admit.
///
/// ```
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
///         // embassy_time::Timer::at(at).await;
///     }
///     other => panic!("{other:?}"),
/// }
/// # });
/// ```
pub trait WakeAt {
    /// The instant to pass to `Timer::at`, or `None` if there is none.
    fn wake_at(&self) -> Option<embassy_time::Instant>;
}

impl<T: ComeBack + ?Sized> WakeAt for T {
    #[inline]
    fn wake_at(&self) -> Option<embassy_time::Instant> {
        self.come_back_at().map(EmbassyClock::to_embassy)
    }
}
