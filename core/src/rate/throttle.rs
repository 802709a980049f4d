//! Rate limiters on the [admission contract](crate::admission).

use core::task::Waker;
use core::time::Duration;

use super::{AtomicGcra, FixedWindow, Gcra, KeyedGcra, Reservation, SlidingWindow, TokenBucket};
use crate::admission::{Admission, Call, Entry};
use crate::sync::SharedAdmission;
use crate::{Instant, Outcome, Rejected, TimeSource};

/// A rate-limiting algorithm as [`Throttle`] drives it: book `n` permits
/// (now, or within `max_wait`), and give a booking back.
pub trait Limiter {
    /// The key of a keyed limiter (`()` otherwise).
    type Key: ?Sized;

    /// Books `n` permits for `key` at the earliest instant no later than
    /// `now + max_wait` ([`Reservation::start`]: `now` when granted at
    /// once).
    ///
    /// # Errors
    ///
    /// The limiter's rejection (`RateLimited` with `retry_at`, or
    /// `RateInsufficientCapacity` when `n` can never be granted) when the
    /// permits cannot start within `max_wait`.
    fn reserve(
        &mut self,
        key: &Self::Key,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected>;

    /// Gives a booking back, if no later booking depends on it; `true` if
    /// its permits are free again. The default keeps every booking.
    fn cancel(&mut self, reservation: Reservation) -> bool {
        let _ = reservation;
        false
    }
}

impl Limiter for Gcra {
    type Key = ();

    #[inline]
    fn reserve(
        &mut self,
        _: &(),
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

/// Limiters that grant now or never: a call waits for nothing.
macro_rules! grant_now {
    ($($ty:ty),*) => {$(
        impl Limiter for $ty {
            type Key = ();

            #[inline]
            fn reserve(&mut self, _: &(), now: Instant, n: u32, _: Duration) -> Result<Reservation, Rejected> {
                self.acquire(now, n).map(|()| Reservation::granted(now))
            }
        }
    )*};
}

grant_now!(TokenBucket, FixedWindow);

impl<const B: usize> Limiter for SlidingWindow<B> {
    type Key = ();

    #[inline]
    fn reserve(
        &mut self,
        _: &(),
        now: Instant,
        n: u32,
        _: Duration,
    ) -> Result<Reservation, Rejected> {
        self.acquire(now, n).map(|()| Reservation::granted(now))
    }
}

impl<K: Eq + core::hash::Hash + Clone, const N: usize> Limiter for KeyedGcra<K, N> {
    type Key = K;

    #[inline]
    fn reserve(
        &mut self,
        key: &K,
        now: Instant,
        n: u32,
        _: Duration,
    ) -> Result<Reservation, Rejected> {
        self.acquire(key, now, n)
            .map(|()| Reservation::granted(now))
    }
}

/// A rate limiter as an admission machine: the limiter plus how long a
/// caller may wait for its turn (resilience4j's `timeoutDuration`; zero by
/// default: a call over the rate is rejected at once with `retry_at`).
///
/// A call asks for [`Call::weight`] permits; it never books past its
/// deadline, waits at most its own [`Call::max_wait`] if it gives one, and a
/// call that may not wait ([`Call::no_wait`]) is never booked. A booked call is [`Entry::Pending`] until its start; a waiter
/// that gives up hands its booking back when nobody booked after it.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::admission::{Admission, Call, Entry};
/// use failsafe_core::rate::{Gcra, Quota, Throttle};
/// use failsafe_core::Instant;
///
/// let quota = Quota::per_second(10).unwrap(); // one permit every 100 ms, burst 1
/// let mut limiter = Throttle::new(Gcra::new(quota)).max_wait(Duration::from_millis(150));
/// let Entry::Admitted(_) = limiter.enter(&Call::at(Instant::ZERO), None) else { panic!() };
/// let Entry::Pending { recheck_at, .. } = limiter.enter(&Call::at(Instant::ZERO), None) else { panic!() };
/// assert_eq!(recheck_at, Some(Instant::from_millis(100)));
/// ```
#[derive(Debug)]
pub struct Throttle<L> {
    limiter: L,
    max_wait: Duration,
}

impl<L> Throttle<L> {
    /// `limiter` rejecting every call over the rate at once.
    pub const fn new(limiter: L) -> Self {
        Throttle {
            limiter,
            max_wait: Duration::ZERO,
        }
    }

    /// The same, letting a caller wait up to `max_wait` for its permits.
    #[must_use]
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long a caller may wait for its permits.
    pub const fn max_wait_of(&self) -> Duration {
        self.max_wait
    }

    /// Sets how long a caller may wait (at run time).
    pub fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    /// The limiter.
    pub const fn limiter(&self) -> &L {
        &self.limiter
    }

    /// The limiter, to change its quota or read its state.
    pub fn limiter_mut(&mut self) -> &mut L {
        &mut self.limiter
    }

    /// How long `call` may wait: zero if it may not, never past its deadline.
    fn wait_for<K: ?Sized>(&self, call: &Call<'_, K>, now: Instant) -> Duration {
        let max_wait = call.max_wait().unwrap_or(self.max_wait);
        if max_wait.is_zero() {
            return Duration::ZERO;
        }
        max_wait.min(call.deadline().remaining(now))
    }
}

/// The entry for a booking made at `now`.
fn booked(booking: Result<Reservation, Rejected>, now: Instant) -> Entry<Reservation, Reservation> {
    match booking {
        Ok(r) if r.start() <= now => Entry::Admitted(r),
        Ok(r) => Entry::Pending {
            recheck_at: Some(r.start()),
            wait: r,
        },
        Err(rejected) => Entry::Rejected(rejected),
    }
}

impl<L: Limiter> Admission for Throttle<L> {
    type Key = L::Key;
    type Permit = Reservation;
    type Wait = Reservation;

    #[inline]
    fn enter(
        &mut self,
        call: &Call<'_, L::Key>,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        let now = call.now();
        let max_wait = self.wait_for(call, now);
        booked(
            self.limiter
                .reserve(call.key(), now, call.weight(), max_wait),
            now,
        )
    }

    fn resume(
        &mut self,
        call: &Call<'_, L::Key>,
        wait: Reservation,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        booked(Ok(wait), call.now())
    }

    fn cancel(&mut self, _: Instant, wait: Reservation) {
        let _ = self.limiter.cancel(wait);
    }

    /// Permits are spent once the call starts: nothing to hand back.
    #[inline]
    fn exit(&mut self, _: impl TimeSource, _: Reservation, _: Outcome) {}

    fn abandon(&mut self, _: Instant, permit: Reservation) {
        let _ = self.limiter.cancel(permit);
    }
}

/// The lock-free limiter: the same decisions as `Throttle<Gcra>` behind a
/// lock, with one CAS and no lock.
impl SharedAdmission for Throttle<AtomicGcra> {
    type Key = ();
    type Permit = Reservation;
    type Wait = Reservation;

    #[inline]
    fn enter(&self, call: &Call<'_>, _: Option<&Waker>) -> Entry<Reservation, Reservation> {
        let now = call.now();
        let max_wait = self.wait_for(call, now);
        booked(self.limiter.reserve(now, call.weight(), max_wait), now)
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: Reservation,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        booked(Ok(wait), call.now())
    }

    fn cancel(&self, _: Instant, wait: Reservation) {
        let _ = self.limiter.cancel(wait);
    }

    #[inline]
    fn exit(&self, _: impl TimeSource, _: Reservation, _: Outcome) {}

    fn abandon(&self, _: Instant, permit: Reservation) {
        let _ = self.limiter.cancel(permit);
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _: Instant) {}
}
