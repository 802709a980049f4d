//! How machines report what they decide without knowing who listens.
//!
//! Each machine is generic over an [`Observer`] of its event type, `()` by
//! default, which compiles to nothing. Adapters bridge events to `tracing`,
//! `metrics` or `defmt` by supplying their own observer.
//!
//! Several observers listen through a tuple (`(a, b)` is an observer);
//! [`Named`] gives a policy's events its name; every event type can
//! [`Describe`] itself as flat [`Fields`], so one observer serves every
//! pattern. Lock-free paths (a shared rate limiter) report to a
//! [`SharedObserver`], which takes `&self`.

mod describe;

pub use describe::{Describe, Fields, outcome_code, reject_reason_code};

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
    /// A machine may ask once, when a call starts, and rely on the answer
    /// for the call's life: an observer that starts listening during a
    /// call may hear that call's events with the times it skipped read as
    /// the clock's zero (a shared switch that is turned on, say, hears the
    /// calls that start after it exactly).
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

/// Fan-out impls of [`Observer`] and [`SharedObserver`] for a tuple: every
/// observer sees every event, each but the last a clone (skipped while it
/// is silent), the last the event itself; the tuple is silent only if
/// every one is. No allocation, so it works in a `static` on firmware.
macro_rules! fan_out {
    ($(#[$doc:meta])* $($first:ident . $i:tt),+ ; $last:ident . $l:tt) => {
        $(#[$doc])*
        impl<E: Clone, $($first: Observer<E>,)+ $last: Observer<E>> Observer<E>
            for ($($first,)+ $last)
        {
            fan_out!(@methods (&mut self) self; $($i),+ ; $l);
        }

        /// Fan-out for shared observers (as the [`Observer`] impl).
        impl<E: Clone, $($first: SharedObserver<E>,)+ $last: SharedObserver<E>> SharedObserver<E>
            for ($($first,)+ $last)
        {
            fan_out!(@methods (&self) self; $($i),+ ; $l);
        }
    };
    // The two impls' methods, differing only in the receiver (`self` is
    // handed in with it: a macro's own `self` is not the caller's).
    (@methods ($($receiver:tt)+) $me:tt; $($i:tt),+ ; $l:tt) => {
        #[inline]
        fn on_event($($receiver)+, event: E) {
            $(if !$me.$i.is_silent() {
                $me.$i.on_event(event.clone());
            })+
            $me.$l.on_event(event);
        }

        #[inline]
        fn is_silent(&self) -> bool {
            $(self.$i.is_silent() &&)+ self.$l.is_silent()
        }
    };
}

fan_out!(
    /// Fan-out: a pair of observers both see every event (the first a
    /// clone). Silent only if both are. Nest tuples, or use the 3- and
    /// 4-tuples, for more; no allocation, so it works in a `static` on
    /// firmware.
    ///
    /// ```
    /// use failsafe_core::{FnObserver, Observer};
    /// let (mut a, mut b) = (0, 0);
    /// let mut both = (FnObserver(|e: u32| a += e), FnObserver(|e: u32| b += 2 * e));
    /// both.on_event(1);
    /// drop(both);
    /// assert_eq!((a, b), (1, 2));
    /// assert!(Observer::<u32>::is_silent(&((), ())));
    /// ```
    A.0; B.1
);
fan_out!(
    /// Fan-out to three observers (see the pair's impl).
    A.0, B.1; C.2
);
fan_out!(
    /// Fan-out to four observers (see the pair's impl).
    A.0, B.1, C.2; D.3
);

/// An event with the name of the policy that decided it (see [`Named`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NamedEvent<E> {
    /// The policy's name.
    pub name: &'static str,
    /// What it decided.
    pub event: E,
}

/// Gives a policy a name: every event reaches `observer` as a
/// [`NamedEvent`]. Zero-cost for a silent observer, `const`, allocation-free.
///
/// ```
/// use failsafe_core::event::{Named, NamedEvent};
/// use failsafe_core::{FnObserver, Observer};
/// let mut last = None;
/// let mut obs = Named::new("payments", FnObserver(|e: NamedEvent<u32>| last = Some((e.name, e.event))));
/// obs.on_event(7);
/// drop(obs);
/// assert_eq!(last, Some(("payments", 7)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Named<O> {
    name: &'static str,
    observer: O,
}

impl<O> Named<O> {
    /// `observer`, told that every event comes from the policy `name`.
    ///
    /// ```
    /// # use failsafe_core::event::Named;
    /// let named = Named::new("db", ());
    /// assert_eq!(named.name(), "db");
    /// ```
    pub const fn new(name: &'static str, observer: O) -> Self {
        Named { name, observer }
    }

    /// The policy's name.
    ///
    /// ```
    /// # use failsafe_core::event::Named;
    /// assert_eq!(Named::new("db", ()).name(), "db");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The observer.
    ///
    /// ```
    /// # use failsafe_core::event::Named;
    /// let mut named = Named::new("db", 0u8);
    /// *named.observer_mut() += 1;
    /// assert_eq!(*named.observer_mut(), 1);
    /// ```
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }
}

impl<E, O: Observer<NamedEvent<E>>> Observer<E> for Named<O> {
    #[inline]
    fn on_event(&mut self, event: E) {
        self.observer.on_event(NamedEvent {
            name: self.name,
            event,
        })
    }

    #[inline]
    fn is_silent(&self) -> bool {
        self.observer.is_silent()
    }
}

/// An observer called through a shared reference, from several threads or
/// interrupt handlers at once: what lock-free machines (a shared
/// [`Throttle<AtomicGcra>`](crate::rate::Throttle)) report to. `()` is the
/// silent one; [`FnObserver`] over an `Fn` is one.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use failsafe_core::event::SharedObserver;
/// use failsafe_core::FnObserver;
/// let seen = AtomicU32::new(0);
/// let obs = FnObserver(|e: u32| { seen.fetch_add(e, Ordering::Relaxed); });
/// obs.on_event(2);
/// SharedObserver::on_event(&obs, 3);
/// assert_eq!(seen.load(Ordering::Relaxed), 5);
/// // tuples fan out, as observers' do; silent only if every one is
/// let twice = AtomicU32::new(0);
/// let three = (obs, FnObserver(|e: u32| { twice.fetch_add(2 * e, Ordering::Relaxed); }), ());
/// SharedObserver::on_event(&three, 1);
/// assert_eq!((seen.load(Ordering::Relaxed), twice.load(Ordering::Relaxed)), (6, 2));
/// assert!(SharedObserver::<u32>::is_silent(&((), (), ())));
/// assert!(!SharedObserver::<u32>::is_silent(&three));
/// ```
pub trait SharedObserver<E> {
    /// Called once per event.
    fn on_event(&self, event: E);

    /// Whether this observer ignores every event (see
    /// [`Observer::is_silent`]). No by default; `()` says yes.
    #[inline(always)]
    fn is_silent(&self) -> bool {
        false
    }
}

/// The silent shared observer.
impl<E> SharedObserver<E> for () {
    #[inline(always)]
    fn on_event(&self, _event: E) {}

    #[inline(always)]
    fn is_silent(&self) -> bool {
        true
    }
}

/// A closure as a shared observer.
impl<E, F: Fn(E)> SharedObserver<E> for FnObserver<F> {
    #[inline]
    fn on_event(&self, event: E) {
        (self.0)(event)
    }
}

/// A named shared observer.
impl<E, O: SharedObserver<NamedEvent<E>>> SharedObserver<E> for Named<O> {
    #[inline]
    fn on_event(&self, event: E) {
        self.observer.on_event(NamedEvent {
            name: self.name,
            event,
        })
    }

    #[inline]
    fn is_silent(&self) -> bool {
        self.observer.is_silent()
    }
}
