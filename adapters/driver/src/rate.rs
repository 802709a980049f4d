//! Rate limiting through `&self`: the limiter traits every adapter shares,
//! and the one acquire loop, awaited ([`acquire`]), blocked on
//! ([`acquire_blocking`]) or driven by hand ([`Acquisition`]).
//!
//! The core's limiters decide; this module waits. [`SharedLimiter`] is what
//! the loop needs from a limiter: take `n` permits now, or book them for a
//! start within a maximum wait. It is implemented for the lock-free
//! [`AtomicGcra`], and for the `&mut` limiters ([`Limiter`]: [`Gcra`],
//! [`TokenBucket`], [`FixedWindow`], [`SlidingWindow`]) behind a lock
//! ([`CsLock`] here, `StdLock` with the `std` feature, any other
//! [`Lock`] through [`LockedLimiter`]). Keyed limiters ([`KeyedGcra`])
//! take the key too ([`SharedKeyedLimiter`]); [`WithKey`] pins one key so
//! the same loop serves them.
//!
//! ## Waiting, and what a dropped wait costs
//!
//! A GCRA **books** time: [`reserve`](SharedLimiter::reserve) returns the
//! instant the permits may start and moves the limiter past them at once, so
//! waiters are served in the order they asked, each at the instant it was
//! promised. The loop then sleeps until that instant. **If the waiting
//! future is dropped after its permits were booked, the booking is given
//! back** ([`SharedLimiter::cancel`]) when it is still the latest one: the
//! limiter returns to the state it had before the booking, so the rate can
//! never be exceeded. When later callers booked after it, they hold the
//! instants after it, and giving the time back could let a newcomer in
//! ahead of them beyond the rate: then the permits stay spent (treated as
//! used at their start instant) and that capacity is lost until time
//! passes it, never gained. A blocking waiter cannot give up mid-wait.
//! (In a crowd of waiters most give-ups are of this second kind; winning
//! that capacity back needs either moving the later waiters up one slot
//! each and giving back the last, or a bounded table of holes in the
//! limiter: neither fits the one-word lock-free GCRA, and neither is done.)
//!
//! The token bucket, the windows and the keyed GCRA cannot book ahead: their
//! `reserve` grants now or not at all. For them the loop sleeps until the
//! rejection's `retry_at` and asks again, until the maximum wait is over.
//! Nothing is held while it sleeps (dropping it costs nothing), but waiters
//! are not queued: under contention one may lose the permit it woke for and
//! sleep again.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::rate::{AtomicGcra, Quota};
//! use failsafe_core::Instant;
//! use failsafe_driver::{rate, Clock, Runtime};
//! use std::{cell::Cell, future::Ready};
//!
//! /// A virtual runtime: sleeping jumps the clock.
//! struct Virtual(Cell<Instant>);
//! impl Clock for Virtual { fn now(&self) -> Instant { self.0.get() } }
//! impl Runtime for Virtual {
//!     type Sleep = Ready<()>;
//!     fn sleep_until(&self, at: Instant) -> Ready<()> { self.0.set(self.0.get().max(at)); std::future::ready(()) }
//! }
//!
//! let rt = Virtual(Cell::new(Instant::ZERO));
//! let limiter = AtomicGcra::new(Quota::per_second(10).unwrap()); // one every 100 ms
//! let wait = Duration::from_millis(250);
//! futures_lite::future::block_on(async {
//!     assert_eq!(rate::acquire(&rt, &limiter, 1, wait).await, Ok(Instant::ZERO));
//!     assert_eq!(rate::acquire(&rt, &limiter, 1, wait).await, Ok(Instant::from_millis(100)));
//!     assert_eq!(rt.now(), Instant::from_millis(100)); // it slept exactly until then
//!     // never waits: the next permit is due at 200 ms
//!     let r = rate::try_acquire(&rt, &limiter, 1).unwrap_err();
//!     assert_eq!(r.retry_at, Some(Instant::from_millis(200)));
//! });
//! ```

use core::future::Future;
use core::hash::Hash;
use core::time::Duration;

use failsafe_core::rate::{
    AtomicGcra, FixedWindow, Gcra, KeyedGcra, Reservation, SlidingWindow, TokenBucket,
};
use failsafe_core::sync::{CsLock, Lock};
use failsafe_core::{Instant, Rejected};

use crate::{BlockingRuntime, Clock, Error, Runtime};

/// How long the adapters' limiter handles wait for permits in `acquire` and
/// `call` unless told otherwise: 5 seconds (resilience4j's default
/// `timeoutDuration`). `try_acquire` never waits.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);

/// A rate limiter used through `&mut self`: the core's [`Gcra`],
/// [`TokenBucket`], [`FixedWindow`] and [`SlidingWindow`]. Behind a lock it
/// becomes a [`SharedLimiter`].
pub trait Limiter {
    /// Takes `n` permits at `now`, or says when they could be taken.
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected>;

    /// Takes `n` permits that may start within `max_wait` of `now`, and
    /// returns the instant they may start.
    ///
    /// The default cannot book ahead: it grants at `now` or rejects (a
    /// waiter sleeps until `retry_at` and asks again). [`Gcra`] books the
    /// future start instead.
    fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        let _ = max_wait;
        self.acquire(now, n).map(|()| Reservation::granted(now))
    }

    /// Gives back the permits of a reservation whose waiter gave up; returns
    /// whether they were given back. The default (a limiter that cannot
    /// book) has nothing to give back; [`Gcra`] gives back the latest
    /// booking ([`Gcra::cancel`]).
    fn cancel(&mut self, reservation: Reservation) -> bool {
        let _ = reservation;
        false
    }
}

impl Limiter for Gcra {
    #[inline]
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        Gcra::acquire(self, now, n)
    }

    #[inline]
    fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        Gcra::reserve(self, now, n, max_wait)
    }

    #[inline]
    fn cancel(&mut self, reservation: Reservation) -> bool {
        Gcra::cancel(self, reservation)
    }
}

impl Limiter for TokenBucket {
    #[inline]
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        TokenBucket::acquire(self, now, n)
    }
}

impl Limiter for FixedWindow {
    #[inline]
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        FixedWindow::acquire(self, now, n)
    }
}

impl<const B: usize> Limiter for SlidingWindow<B> {
    #[inline]
    fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        SlidingWindow::acquire(self, now, n)
    }
}

/// A rate limiter used through `&self`: what [`acquire`], [`try_acquire`]
/// and the adapters' handles need.
///
/// Implemented for the lock-free [`AtomicGcra`], for any [`Limiter`] behind
/// a [`CsLock`] (or `StdLock`, or any [`Lock`] through [`LockedLimiter`]),
/// and for references (and `Arc`s, with `std`) to them.
///
/// ```
/// use failsafe_core::rate::{Quota, TokenBucket};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::SharedLimiter;
/// use core::time::Duration;
///
/// let bucket = CsLock::new(TokenBucket::new(2, 1, Duration::from_secs(1)).unwrap());
/// assert!(SharedLimiter::acquire(&bucket, Instant::ZERO, 2).is_ok());
/// // a bucket cannot book ahead: reserve grants now or says when
/// let r = bucket.reserve(Instant::ZERO, 1, Duration::from_secs(5)).unwrap_err();
/// assert_eq!(r.retry_at, Some(Instant::from_secs(1)));
/// ```
pub trait SharedLimiter {
    /// Takes `n` permits at `now`, or says when they could be taken.
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected>;

    /// Takes `n` permits that may start within `max_wait` of `now`, and
    /// returns the instant they may start (see [`Limiter::reserve`]).
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected>;

    /// Gives back a reservation whose waiter gave up (see
    /// [`Limiter::cancel`]); returns whether it was given back. The default
    /// gives nothing back.
    fn cancel(&self, reservation: Reservation) -> bool {
        let _ = reservation;
        false
    }
}

impl<L: SharedLimiter + ?Sized> SharedLimiter for &L {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        (**self).acquire(now, n)
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        (**self).reserve(now, n, max_wait)
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        (**self).cancel(reservation)
    }
}

impl SharedLimiter for AtomicGcra {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        AtomicGcra::acquire(self, now, n)
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        AtomicGcra::reserve(self, now, n, max_wait)
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        AtomicGcra::cancel(self, reservation)
    }
}

impl<T: Limiter> SharedLimiter for CsLock<T> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.with(|l| l.acquire(now, n))
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        self.with(|l| l.reserve(now, n, max_wait))
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        self.with(|l| l.cancel(reservation))
    }
}

/// A keyed rate limiter used through `&mut self`: one limit per key
/// ([`KeyedGcra`]). Behind a lock it becomes a [`SharedKeyedLimiter`].
pub trait KeyedLimiter<K> {
    /// Takes `n` permits for `key` at `now`, or says when they could be taken.
    fn acquire(&mut self, key: &K, now: Instant, n: u32) -> Result<(), Rejected>;

    /// [`Limiter::reserve`] for `key`. The default (and [`KeyedGcra`])
    /// cannot book ahead: it grants at `now` or rejects.
    fn reserve(
        &mut self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        let _ = max_wait;
        self.acquire(key, now, n)
            .map(|()| Reservation::granted(now))
    }
}

impl<K: Eq + Hash + Clone, const N: usize> KeyedLimiter<K> for KeyedGcra<K, N> {
    #[inline]
    fn acquire(&mut self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        KeyedGcra::acquire(self, key, now, n)
    }
}

/// A keyed rate limiter used through `&self`: a [`KeyedLimiter`] behind a
/// lock, or a reference to one. [`WithKey`] turns it into a
/// [`SharedLimiter`] for one key.
///
/// ```
/// use failsafe_core::rate::{KeyedGcra, Quota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::SharedKeyedLimiter;
///
/// let per_node = CsLock::new(KeyedGcra::<u8, 16>::new(Quota::per_second(1).unwrap(), 7));
/// assert!(per_node.acquire(&1, Instant::ZERO, 1).is_ok());
/// assert!(per_node.acquire(&1, Instant::ZERO, 1).is_err()); // node 1 is limited ...
/// assert!(per_node.acquire(&2, Instant::ZERO, 1).is_ok()); // ... node 2 is not
/// ```
pub trait SharedKeyedLimiter<K> {
    /// Takes `n` permits for `key` at `now`, or says when they could be taken.
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected>;

    /// [`SharedLimiter::reserve`] for `key`.
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected>;
}

impl<K, L: SharedKeyedLimiter<K> + ?Sized> SharedKeyedLimiter<K> for &L {
    #[inline]
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        (**self).acquire(key, now, n)
    }

    #[inline]
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        (**self).reserve(key, now, n, max_wait)
    }
}

impl<K, T: KeyedLimiter<K>> SharedKeyedLimiter<K> for CsLock<T> {
    #[inline]
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        self.with(|l| l.acquire(key, now, n))
    }

    #[inline]
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        self.with(|l| l.reserve(key, now, n, max_wait))
    }
}

/// Any [`Lock`] `L` around a limiter `T`, as a [`SharedLimiter`] (or a
/// [`SharedKeyedLimiter`] if `T` is keyed). [`CsLock`] and `StdLock` need no
/// wrapper; this one serves every other lock (an embassy-sync mutex, a
/// spin lock, ...).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::FixedWindow;
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{LockedLimiter, SharedLimiter};
///
/// let window = LockedLimiter::new(CsLock::new(FixedWindow::new(1, Duration::from_secs(1)).unwrap()));
/// assert!(window.acquire(Instant::ZERO, 1).is_ok());
/// assert_eq!(window.acquire(Instant::ZERO, 1).unwrap_err().retry_at, Some(Instant::from_secs(1)));
/// ```
#[derive(Debug, Default)]
pub struct LockedLimiter<L, T> {
    lock: L,
    _limiter: core::marker::PhantomData<fn(&mut T)>,
}

impl<L, T> LockedLimiter<L, T> {
    /// Wraps `lock`, which holds the limiter. `const`.
    pub const fn new(lock: L) -> Self {
        LockedLimiter {
            lock,
            _limiter: core::marker::PhantomData,
        }
    }

    /// The lock (to reconfigure the limiter under it).
    pub const fn lock(&self) -> &L {
        &self.lock
    }

    /// Unwraps the lock.
    pub fn into_lock(self) -> L {
        self.lock
    }
}

impl<L: Lock<T>, T: Limiter> SharedLimiter for LockedLimiter<L, T> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.lock.with(|l| l.acquire(now, n))
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        self.lock.with(|l| l.reserve(now, n, max_wait))
    }

    #[inline]
    fn cancel(&self, reservation: Reservation) -> bool {
        self.lock.with(|l| l.cancel(reservation))
    }
}

impl<K, L: Lock<T>, T: KeyedLimiter<K>> SharedKeyedLimiter<K> for LockedLimiter<L, T> {
    #[inline]
    fn acquire(&self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        self.lock.with(|l| l.acquire(key, now, n))
    }

    #[inline]
    fn reserve(
        &self,
        key: &K,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        self.lock.with(|l| l.reserve(key, now, n, max_wait))
    }
}

/// A keyed limiter seen through one key: a [`SharedLimiter`], so
/// [`acquire`], [`try_acquire`] and [`call`] serve keyed limiters too.
///
/// ```
/// use failsafe_core::rate::{KeyedGcra, Quota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{SharedLimiter, WithKey};
///
/// let per_user = CsLock::new(KeyedGcra::<&str, 8>::new(Quota::per_second(1).unwrap(), 1));
/// let alice = WithKey::new(&per_user, &"alice");
/// assert!(alice.acquire(Instant::ZERO, 1).is_ok());
/// assert!(alice.acquire(Instant::ZERO, 1).is_err());
/// assert!(WithKey::new(&per_user, &"bob").acquire(Instant::ZERO, 1).is_ok());
/// ```
#[derive(Debug)]
pub struct WithKey<'a, L: ?Sized, K> {
    limiter: &'a L,
    key: &'a K,
}

impl<'a, L: ?Sized, K> WithKey<'a, L, K> {
    /// `limiter`, as seen by `key`.
    pub const fn new(limiter: &'a L, key: &'a K) -> Self {
        WithKey { limiter, key }
    }

    /// The key.
    pub const fn key(&self) -> &'a K {
        self.key
    }
}

impl<L: ?Sized, K> Clone for WithKey<'_, L, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<L: ?Sized, K> Copy for WithKey<'_, L, K> {}

impl<L: SharedKeyedLimiter<K> + ?Sized, K> SharedLimiter for WithKey<'_, L, K> {
    #[inline]
    fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.limiter.acquire(self.key, now, n)
    }

    #[inline]
    fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Reservation, Rejected> {
        self.limiter.reserve(self.key, now, n, max_wait)
    }
}

/// One acquisition of `n` permits, waiting until at most a deadline: the
/// loop of [`acquire`] and [`acquire_blocking`] as steps, for futures that
/// must be written by hand (a tower service's `poll_ready`).
///
/// Call [`step`](Self::step) with the current time; on
/// [`AcquireStep::RetryAt`] sleep until then and step again.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::{Quota, Reservation, TokenBucket};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{AcquireStep, Acquisition};
///
/// let bucket = CsLock::new(TokenBucket::new(1, 1, Duration::from_secs(1)).unwrap());
/// let first = Acquisition::new(Instant::ZERO, 1, Duration::ZERO);
/// assert_eq!(first.step(&bucket, Instant::ZERO), AcquireStep::Granted(Reservation::granted(Instant::ZERO)));
///
/// let second = Acquisition::new(Instant::ZERO, 1, Duration::from_secs(2));
/// assert_eq!(second.step(&bucket, Instant::ZERO), AcquireStep::RetryAt(Instant::from_secs(1)));
/// assert_eq!(second.step(&bucket, Instant::from_secs(1)), AcquireStep::Granted(Reservation::granted(Instant::from_secs(1))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Acquisition {
    n: u32,
    deadline: Instant,
}

/// What an [`Acquisition`] step decided.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AcquireStep {
    /// The permits are taken and the call may start now
    /// ([`Reservation::start`]). A caller that then gives up before making
    /// the call may hand it to [`SharedLimiter::cancel`] (a GCRA gives the
    /// permits back if nothing was booked after them).
    Granted(Reservation),
    /// The permits are booked for a later start: sleep until
    /// [`Reservation::start`]. A waiter that gives up first hands the
    /// reservation to [`SharedLimiter::cancel`], so the time comes back.
    Booked(Reservation),
    /// Nothing is taken; the limiter may grant at this instant (before the
    /// deadline): sleep until then and step again.
    RetryAt(Instant),
    /// Not within the wait allowed (or never: more permits than the limiter
    /// holds). Carries the limiter's `retry_at`.
    Rejected(Rejected),
}

impl Acquisition {
    /// `n` permits asked for at `now`, starting within `max_wait` of it.
    pub const fn new(now: Instant, n: u32, max_wait: Duration) -> Self {
        Acquisition {
            n,
            deadline: now.saturating_add(max_wait),
        }
    }

    /// The permits asked for.
    pub const fn permits(&self) -> u32 {
        self.n
    }

    /// The latest instant the permits may start.
    pub const fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Asks `limiter` at `now`.
    pub fn step<L: SharedLimiter + ?Sized>(&self, limiter: &L, now: Instant) -> AcquireStep {
        let max_wait = self.deadline.saturating_duration_since(now);
        match limiter.reserve(now, self.n, max_wait) {
            Ok(reservation) if reservation.start() > now => AcquireStep::Booked(reservation),
            Ok(reservation) => AcquireStep::Granted(reservation),
            Err(rejected) => match rejected.retry_at {
                // A limiter that cannot book says when to ask again; "never"
                // is never waited for, however long the caller may wait.
                Some(at) if at > now && at <= self.deadline && !rejected.is_never() => {
                    AcquireStep::RetryAt(at)
                }
                _ => AcquireStep::Rejected(rejected),
            },
        }
    }
}

/// Takes `n` permits from `limiter`, waiting up to `max_wait` on
/// `runtime`'s timer: returns the instant they were granted (the call may
/// start), or the rejection if they cannot be had within `max_wait`
/// (its `retry_at` says when they could). `Duration::ZERO` never waits.
///
/// A GCRA books the start instant and this sleeps until exactly then.
/// Dropping the future while it sleeps gives the booking back when no later
/// caller booked after it ([`SharedLimiter::cancel`]; see the
/// [module docs](self)).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::{Instant, RejectReason};
/// use failsafe_driver::{rate, Clock, Runtime};
/// use std::{cell::Cell, future::Ready};
///
/// struct Virtual(Cell<Instant>);
/// impl Clock for Virtual { fn now(&self) -> Instant { self.0.get() } }
/// impl Runtime for Virtual {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, at: Instant) -> Ready<()> { self.0.set(self.0.get().max(at)); std::future::ready(()) }
/// }
///
/// let rt = Virtual(Cell::new(Instant::ZERO));
/// let limiter = AtomicGcra::new(Quota::per_second(2).unwrap().with_burst(2).unwrap());
/// futures_lite::future::block_on(async {
///     // 2 at once, then one each 500 ms
///     assert_eq!(rate::acquire(&rt, &limiter, 2, Duration::ZERO).await, Ok(Instant::ZERO));
///     let late = rate::acquire(&rt, &limiter, 1, Duration::from_millis(400)).await.unwrap_err();
///     assert_eq!((late.reason, late.retry_at), (RejectReason::RateLimited, Some(Instant::from_millis(500))));
///     assert_eq!(rt.now(), Instant::ZERO); // a rejection does not wait
///     assert_eq!(rate::acquire(&rt, &limiter, 1, Duration::from_secs(1)).await, Ok(Instant::from_millis(500)));
/// });
/// ```
pub async fn acquire<R, L>(
    runtime: &R,
    limiter: &L,
    n: u32,
    max_wait: Duration,
) -> Result<Instant, Rejected>
where
    R: Runtime + ?Sized,
    L: SharedLimiter + ?Sized,
{
    let mut now = runtime.now();
    let acquisition = Acquisition::new(now, n, max_wait);
    loop {
        match acquisition.step(limiter, now) {
            AcquireStep::Granted(reservation) => return Ok(reservation.start()),
            AcquireStep::Booked(reservation) => {
                let start = reservation.start();
                // Dropped while asleep: the guard gives the booking back.
                let booking = BookingGuard::new(limiter, reservation);
                runtime.sleep_until(start).await;
                booking.keep();
                return Ok(start);
            }
            AcquireStep::RetryAt(at) => {
                runtime.sleep_until(at).await;
                // The runtime wakes at `at` or later; `max` only guards a
                // runtime that wakes early from asking again too soon.
                now = runtime.now().max(at);
            }
            AcquireStep::Rejected(rejected) => return Err(rejected),
        }
    }
}

/// [`acquire`] for blocking code: blocks the thread
/// ([`BlockingRuntime::block_until`]) instead of awaiting a timer. A
/// booked GCRA start is waited for in full; nothing can cancel it.
///
/// ```
/// use core::{cell::Cell, time::Duration};
/// use failsafe_core::rate::{Gcra, Quota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{rate, BlockingRuntime, Clock};
///
/// /// A test clock: blocking jumps it forward.
/// struct Manual(Cell<Instant>);
/// impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
/// impl BlockingRuntime for Manual { fn block_until(&self, at: Instant) { self.0.set(self.0.get().max(at)) } }
///
/// let clock = Manual(Cell::new(Instant::ZERO));
/// let limiter = CsLock::new(Gcra::new(Quota::per_second(4).unwrap()));
/// let wait = Duration::from_secs(1);
/// assert_eq!(rate::acquire_blocking(&clock, &limiter, 1, wait), Ok(Instant::ZERO));
/// assert_eq!(rate::acquire_blocking(&clock, &limiter, 1, wait), Ok(Instant::from_millis(250)));
/// assert_eq!(clock.now(), Instant::from_millis(250));
/// ```
pub fn acquire_blocking<R, L>(
    runtime: &R,
    limiter: &L,
    n: u32,
    max_wait: Duration,
) -> Result<Instant, Rejected>
where
    R: BlockingRuntime + ?Sized,
    L: SharedLimiter + ?Sized,
{
    let mut now = runtime.now();
    let acquisition = Acquisition::new(now, n, max_wait);
    loop {
        match acquisition.step(limiter, now) {
            AcquireStep::Granted(reservation) => return Ok(reservation.start()),
            AcquireStep::Booked(reservation) => {
                // A blocked thread cannot give up: the booking is used.
                let start = reservation.start();
                runtime.block_until(start);
                return Ok(start);
            }
            AcquireStep::RetryAt(at) => {
                runtime.block_until(at);
                now = runtime.now().max(at);
            }
            AcquireStep::Rejected(rejected) => return Err(rejected),
        }
    }
}

/// Permits taken for a call that has not started yet (a waiter asleep until
/// its booked start, a tower service between `poll_ready` and `call`): given
/// back to limiter `R` ([`SharedLimiter::cancel`]) if dropped, kept (used)
/// once [`keep`](Self::keep) is called.
///
/// Dropping it needs no `R: SharedLimiter` bound (the cancel is captured when
/// it is made), so a service type holding one stays free of that bound.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::Instant;
/// use failsafe_driver::{BookingGuard, SharedLimiter};
///
/// let limiter = AtomicGcra::new(Quota::per_second(1).unwrap());
/// let r = SharedLimiter::reserve(&limiter, Instant::ZERO, 1, Duration::ZERO).unwrap();
/// drop(BookingGuard::new(&limiter, r)); // the call never came: given back
/// let r = SharedLimiter::reserve(&limiter, Instant::ZERO, 1, Duration::ZERO).unwrap();
/// BookingGuard::new(&limiter, r).keep(); // used
/// assert!(limiter.acquire(Instant::ZERO, 1).is_err());
/// ```
pub struct BookingGuard<R> {
    limiter: R,
    reservation: Option<Reservation>,
    cancel: fn(&R, Reservation) -> bool,
}

impl<R: SharedLimiter> BookingGuard<R> {
    /// Guards `reservation`, taken from `limiter`.
    pub fn new(limiter: R, reservation: Reservation) -> Self {
        BookingGuard {
            limiter,
            reservation: Some(reservation),
            cancel: <R as SharedLimiter>::cancel,
        }
    }
}

impl<R> BookingGuard<R> {
    /// The call starts: the permits are used, nothing is given back.
    pub fn keep(mut self) {
        self.reservation = None;
    }
}

impl<R> Drop for BookingGuard<R> {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            (self.cancel)(&self.limiter, reservation);
        }
    }
}

impl<R> core::fmt::Debug for BookingGuard<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BookingGuard")
            .field("reservation", &self.reservation)
            .finish_non_exhaustive()
    }
}

/// Takes `n` permits now or returns the rejection (with `retry_at`): never
/// waits, never books ahead. Returns the instant read from `clock`.
///
/// ```
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::Instant;
/// use failsafe_driver::{rate, Clock};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
///
/// let limiter = AtomicGcra::new(Quota::per_second(1).unwrap());
/// assert_eq!(rate::try_acquire(&Frozen, &limiter, 1), Ok(Instant::ZERO));
/// assert_eq!(rate::try_acquire(&Frozen, &limiter, 1).unwrap_err().retry_at, Some(Instant::from_secs(1)));
/// ```
pub fn try_acquire<C, L>(clock: &C, limiter: &L, n: u32) -> Result<Instant, Rejected>
where
    C: Clock + ?Sized,
    L: SharedLimiter + ?Sized,
{
    let now = clock.now();
    limiter.acquire(now, n).map(|()| now)
}

/// Runs `f` once `n` permits are granted ([`acquire`], waiting up to
/// `max_wait`); if they are not, `f` is not called and the error is
/// [`Error::Rejected`] with the limiter's `retry_at`.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::Instant;
/// use failsafe_driver::{rate, Clock, Error, Runtime};
/// use std::future::Ready;
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Frozen {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { std::future::ready(()) }
/// }
///
/// let limiter = AtomicGcra::new(Quota::per_second(1).unwrap());
/// futures_lite::future::block_on(async {
///     let ok = rate::call(&Frozen, &limiter, 1, Duration::ZERO, || async { Ok::<_, ()>(7) }).await;
///     assert_eq!(ok, Ok(7));
///     let limited = rate::call(&Frozen, &limiter, 1, Duration::ZERO, || async { Ok::<_, ()>(8) }).await;
///     assert_eq!(limited.unwrap_err().rejected().unwrap().retry_at, Some(Instant::from_secs(1)));
/// });
/// ```
pub async fn call<R, L, F, Fut, T, E>(
    runtime: &R,
    limiter: &L,
    n: u32,
    max_wait: Duration,
    f: F,
) -> Result<T, Error<E>>
where
    R: Runtime + ?Sized,
    L: SharedLimiter + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    acquire(runtime, limiter, n, max_wait).await?;
    f().await.map_err(Error::Inner)
}

/// [`call`] for blocking code: [`acquire_blocking`], then `f` on this thread.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::{FixedWindow, Quota};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{rate, BlockingRuntime, Clock, Error};
///
/// struct Frozen;
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
/// impl BlockingRuntime for Frozen { fn block_until(&self, _: Instant) {} }
///
/// let window = CsLock::new(FixedWindow::new(1, Duration::from_secs(1)).unwrap());
/// assert_eq!(rate::call_blocking(&Frozen, &window, 1, Duration::ZERO, || Ok::<_, ()>(1)), Ok(1));
/// let r = rate::call_blocking(&Frozen, &window, 1, Duration::ZERO, || Ok::<_, ()>(2));
/// assert!(matches!(r, Err(Error::Rejected(_))));
/// ```
pub fn call_blocking<R, L, F, T, E>(
    runtime: &R,
    limiter: &L,
    n: u32,
    max_wait: Duration,
    f: F,
) -> Result<T, Error<E>>
where
    R: BlockingRuntime + ?Sized,
    L: SharedLimiter + ?Sized,
    F: FnOnce() -> Result<T, E>,
{
    acquire_blocking(runtime, limiter, n, max_wait)?;
    f().map_err(Error::Inner)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use core::cell::Cell;
    use core::future::Ready;

    use failsafe_core::RejectReason;
    use failsafe_core::rate::{Quota, WhenFull};
    use futures_lite::future::block_on;

    use super::*;

    /// A virtual runtime whose sleeps jump the clock and log the instant.
    #[derive(Default)]
    struct Virtual {
        now: Cell<Instant>,
        sleeps: core::cell::RefCell<Vec<Instant>>,
    }

    impl Clock for Virtual {
        fn now(&self) -> Instant {
            self.now.get()
        }
    }

    impl Runtime for Virtual {
        type Sleep = Ready<()>;
        fn sleep_until(&self, at: Instant) -> Ready<()> {
            self.sleeps.borrow_mut().push(at);
            self.now.set(self.now.get().max(at));
            core::future::ready(())
        }
    }

    impl BlockingRuntime for Virtual {
        fn block_until(&self, at: Instant) {
            self.sleeps.borrow_mut().push(at);
            self.now.set(self.now.get().max(at));
        }
    }

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn gcra_waiters_are_booked_in_order_and_admitted_exactly_when_promised() {
        let rt = Virtual::default();
        let limiter = AtomicGcra::new(Quota::per_second(10).unwrap().with_burst(2).unwrap());
        let wait = Duration::from_secs(1);
        let starts: Vec<_> = (0..5)
            .map(|_| block_on(acquire(&rt, &limiter, 1, wait)).unwrap())
            .collect();
        assert_eq!(starts, [ms(0), ms(0), ms(100), ms(200), ms(300)]);
        // one sleep per booked start, exactly to it; none for the burst
        assert_eq!(*rt.sleeps.borrow(), [ms(100), ms(200), ms(300)]);
    }

    #[test]
    fn a_booking_beyond_the_wait_is_rejected_without_sleeping_or_spending() {
        let rt = Virtual::default();
        let limiter = AtomicGcra::new(Quota::per_second(10).unwrap());
        assert_eq!(
            block_on(acquire(&rt, &limiter, 1, Duration::ZERO)),
            Ok(ms(0))
        );
        let r = block_on(acquire(&rt, &limiter, 1, Duration::from_millis(99))).unwrap_err();
        assert_eq!(r.retry_at, Some(ms(100)));
        assert!(rt.sleeps.borrow().is_empty());
        // the rejection booked nothing: the next permit is still due at 100 ms
        assert_eq!(
            block_on(acquire(&rt, &limiter, 1, Duration::from_millis(100))),
            Ok(ms(100))
        );
    }

    #[test]
    fn more_permits_than_the_burst_are_rejected_for_good() {
        let rt = Virtual::default();
        let limiter = AtomicGcra::new(Quota::per_second(10).unwrap().with_burst(3).unwrap());
        let r = block_on(acquire(&rt, &limiter, 4, Duration::MAX)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::RateInsufficientCapacity, Some(Instant::MAX))
        );
        assert!(r.is_never());
        assert_eq!(rt.now(), Instant::ZERO);
    }

    #[test]
    fn a_non_booking_limiter_is_asked_again_at_its_retry_at() {
        let rt = Virtual::default();
        let window = CsLock::new(FixedWindow::new(2, Duration::from_secs(1)).unwrap());
        rt.now.set(ms(300));
        assert_eq!(
            acquire_blocking(&rt, &window, 2, Duration::ZERO),
            Ok(ms(300))
        );
        // full until the next window opens at 1 s: 700 ms away
        let r = acquire_blocking(&rt, &window, 1, Duration::from_millis(699)).unwrap_err();
        assert_eq!(r.retry_at, Some(ms(1_000)));
        assert_eq!(rt.now(), ms(300), "a wait that cannot succeed is not slept");
        assert_eq!(
            acquire_blocking(&rt, &window, 1, Duration::from_millis(700)),
            Ok(ms(1_000))
        );
        assert_eq!(*rt.sleeps.borrow(), [ms(1_000)]);
    }

    #[test]
    fn a_waiter_that_loses_the_race_sleeps_again_until_its_deadline() {
        // A bucket of 1 token per second, contended: each time the waiter
        // wakes, someone else has taken the token first.
        struct Contended<'a> {
            bucket: &'a CsLock<TokenBucket>,
            steals_left: Cell<u32>,
        }
        impl SharedLimiter for Contended<'_> {
            fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
                SharedLimiter::acquire(self.bucket, now, n)
            }
            fn reserve(&self, now: Instant, n: u32, w: Duration) -> Result<Reservation, Rejected> {
                if self.steals_left.get() > 0 && now > Instant::ZERO {
                    self.steals_left.set(self.steals_left.get() - 1);
                    let _ = SharedLimiter::acquire(self.bucket, now, 1);
                }
                self.bucket.reserve(now, n, w)
            }
        }
        let bucket = CsLock::new(TokenBucket::new(1, 1, Duration::from_secs(1)).unwrap());
        let limiter = Contended {
            bucket: &bucket,
            steals_left: Cell::new(2),
        };
        let rt = Virtual::default();
        assert_eq!(try_acquire(&rt, &limiter, 1), Ok(Instant::ZERO));
        assert_eq!(
            block_on(acquire(&rt, &limiter, 1, Duration::from_secs(5))),
            Ok(Instant::from_secs(3))
        );
        let secs = |s| Instant::from_secs(s);
        assert_eq!(*rt.sleeps.borrow(), [secs(1), secs(2), secs(3)]);
        // and with a deadline it gives up at the last wake-up that fits
        let r = block_on(acquire(&rt, &limiter, 1, Duration::from_millis(500))).unwrap_err();
        assert_eq!(r.retry_at, Some(secs(4)));
    }

    #[test]
    fn keyed_limiters_wait_per_key() {
        let rt = Virtual::default();
        let table = CsLock::new(
            KeyedGcra::<u8, 4>::new(Quota::per_second(2).unwrap(), 9)
                .when_full(WhenFull::RejectNewKeys),
        );
        let (a, b) = (WithKey::new(&table, &1), WithKey::new(&table, &2));
        assert_eq!(try_acquire(&rt, &a, 1), Ok(ms(0)));
        assert_eq!(try_acquire(&rt, &b, 1), Ok(ms(0)));
        // key 1 waits for its own next permit, at 500 ms
        assert_eq!(
            block_on(acquire(&rt, &a, 1, Duration::from_secs(1))),
            Ok(ms(500))
        );
        assert_eq!(a.key(), &1);
    }

    #[test]
    fn call_runs_only_when_admitted_and_keeps_the_inner_error() {
        let rt = Virtual::default();
        let limiter = LockedLimiter::new(CsLock::new(Gcra::new(Quota::per_second(1).unwrap())));
        let ran = Cell::new(0);
        let r = call_blocking(&rt, &limiter, 1, Duration::ZERO, || {
            ran.set(ran.get() + 1);
            Err::<(), _>("down")
        });
        assert_eq!(r, Err(Error::Inner("down")));
        let r = block_on(call(&rt, &limiter, 1, Duration::ZERO, || async {
            ran.set(ran.get() + 1);
            Ok::<_, ()>(())
        }));
        assert_eq!(r.unwrap_err().rejected().unwrap().retry_at, Some(ms(1_000)));
        assert_eq!(ran.get(), 1);
        // waiting long enough, the call runs at 1 s
        let r = block_on(call(&rt, &limiter, 1, Duration::from_secs(1), || async {
            Ok::<_, ()>(rt.now())
        }));
        assert_eq!(r, Ok(ms(1_000)));
    }

    #[test]
    fn a_dropped_wait_gives_back_its_gcra_booking_when_latest() {
        use core::pin::pin;
        use core::task::{Context, Poll, Waker};

        /// A runtime whose sleeps never complete (the caller gives up).
        struct Never(Cell<Instant>);
        impl Clock for Never {
            fn now(&self) -> Instant {
                self.0.get()
            }
        }
        impl Runtime for Never {
            type Sleep = core::future::Pending<()>;
            fn sleep_until(&self, _: Instant) -> Self::Sleep {
                core::future::pending()
            }
        }
        let rt = Never(Cell::new(Instant::ZERO));
        let limiter = AtomicGcra::new(Quota::per_second(10).unwrap());
        limiter.acquire(Instant::ZERO, 1).unwrap();
        {
            let mut waiting = pin!(acquire(&rt, &limiter, 1, Duration::from_secs(1)));
            let mut cx = Context::from_waker(Waker::noop());
            assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Pending);
        } // dropped while sleeping until its booked start, 100 ms
        // the 100 ms slot came back: a newcomer takes it, and no more
        assert_eq!(limiter.acquire(ms(100), 1), Ok(()));
        let r = limiter.acquire(ms(100), 1).unwrap_err();
        assert_eq!(r.retry_at, Some(ms(200)));

        // two waiters booked 200 ms and 300 ms; the first is dropped: the
        // second holds the later slot, so the first's time stays spent
        let mut cx = Context::from_waker(Waker::noop());
        let mut second = std::boxed::Box::pin(acquire(&rt, &limiter, 1, Duration::from_secs(1)));
        {
            let mut first = pin!(acquire(&rt, &limiter, 1, Duration::from_secs(1)));
            assert_eq!(first.as_mut().poll(&mut cx), Poll::Pending);
            assert_eq!(second.as_mut().poll(&mut cx), Poll::Pending);
        }
        assert_eq!(
            limiter.acquire(ms(100), 1).unwrap_err().retry_at,
            Some(ms(400))
        );
        drop(second); // the latest: given back
        assert_eq!(
            limiter.acquire(ms(100), 1).unwrap_err().retry_at,
            Some(ms(300))
        );
    }
}
