//! How machines report what they decide without knowing who listens.
//!
//! Each machine is generic over an [`Observer`] of its event type, `()` by
//! default, which compiles to nothing. Adapters bridge events to `tracing`,
//! `metrics` or `defmt` by supplying their own observer.

/// Receives a machine's events, synchronously, as they happen.
///
/// An observer runs inside the machine's call (and so inside any lock the
/// adapter holds): keep it short, and do not call back into the machine.
///
/// ```
/// use failsafe_core::Observer;
/// struct Count(u32);
/// impl<E> Observer<E> for Count {
///     fn on_event(&mut self, _event: E) { self.0 += 1; }
/// }
/// let mut c = Count(0);
/// c.on_event("anything");
/// assert_eq!(c.0, 1);
/// ```
pub trait Observer<E> {
    /// Called once per event.
    fn on_event(&mut self, event: E);

    /// Whether this observer ignores every event, so a machine may skip
    /// work done only to report (a retry plan then reads no clock for a
    /// first attempt that succeeds). No by default; `()` says yes.
    ///
    /// ```
    /// use failsafe_core::{FnObserver, Observer};
    /// assert!(Observer::<u32>::is_silent(&()));
    /// assert!(!Observer::<u32>::is_silent(&FnObserver(|_: u32| {})));
    /// ```
    #[inline(always)]
    fn is_silent(&self) -> bool {
        false
    }
}

/// The silent observer.
impl<E> Observer<E> for () {
    #[inline(always)]
    fn on_event(&mut self, _event: E) {}

    #[inline(always)]
    fn is_silent(&self) -> bool {
        true
    }
}

/// Lend an observer to a short-lived machine (e.g. one call's retries).
impl<E, O: Observer<E> + ?Sized> Observer<E> for &mut O {
    #[inline]
    fn on_event(&mut self, event: E) {
        (**self).on_event(event)
    }

    #[inline]
    fn is_silent(&self) -> bool {
        (**self).is_silent()
    }
}

/// An observer made from a closure.
///
/// ```
/// use failsafe_core::{FnObserver, Observer};
/// let mut seen = 0;
/// let mut obs = FnObserver(|e: u32| seen += e);
/// obs.on_event(2);
/// obs.on_event(3);
/// drop(obs);
/// assert_eq!(seen, 5);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FnObserver<F>(pub F);

impl<E, F: FnMut(E)> Observer<E> for FnObserver<F> {
    #[inline]
    fn on_event(&mut self, event: E) {
        (self.0)(event)
    }
}
