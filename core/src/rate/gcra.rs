//! GCRA: the theoretical arrival time of the next permit is the whole state.

use core::time::Duration;

use crate::atomic::{AtomicU64, Ordering};

use super::{Quota, insufficient, rate_limited};
use crate::time::{Monotonic, duration_nanos};
use crate::{Instant, RejectReason, Rejected};

/// The one GCRA decision, shared by [`Gcra`], [`AtomicGcra`] and
/// [`KeyedGcra`](super::KeyedGcra): given the theoretical arrival time
/// `tat`, may `n` permits start at `now`? Returns the new `tat`, or when
/// they could.
#[inline]
pub(crate) fn decide(tat: u64, now: u64, n: u32, quota: Quota) -> Result<u64, Rejected> {
    if n > quota.burst {
        return Err(insufficient());
    }
    let new_tat = next_tat(tat, now, n, quota)?;
    let allowed_from = new_tat.saturating_sub(quota.tolerance_nanos());
    if allowed_from <= now {
        Ok(new_tat)
    } else {
        Err(rate_limited(Instant::from_nanos(allowed_from)))
    }
}

/// `max(tat, now) + period * n`, or a refusal (retry at `Instant::MAX`, as
/// the windows say for a slot past the end of time) if that passes the end
/// of time: saturating there would let every later call through.
#[inline]
fn next_tat(tat: u64, now: u64, n: u32, quota: Quota) -> Result<u64, Rejected> {
    quota
        .period_nanos
        .checked_mul(n as u64)
        .and_then(|cost| tat.max(now).checked_add(cost))
        .ok_or(Rejected::never(RejectReason::RateLimited)) // past the end of time
}

/// Like [`decide`], but a wait of up to `max_wait` is booked instead of
/// refused: returns the new `tat` and the instant the permits may start.
/// Never is one representation: `n` over the burst is [`insufficient`].
#[inline]
pub(crate) fn reserve(
    tat: u64,
    now: u64,
    n: u32,
    quota: Quota,
    max_wait: u64,
) -> Result<(u64, u64), Rejected> {
    if n > quota.burst {
        return Err(insufficient());
    }
    let new_tat = next_tat(tat, now, n, quota)?;
    let start = new_tat.saturating_sub(quota.tolerance_nanos()).max(now);
    if start - now <= max_wait {
        Ok((new_tat, start))
    } else {
        Err(rate_limited(Instant::from_nanos(start)))
    }
}

/// A GCRA rate limiter used through `&mut self`: the theoretical arrival
/// time of the next permit (one `u64`) plus the latest `now` seen.
///
/// Time is never read. A `now` earlier than one already seen by
/// [`acquire`](Self::acquire) or [`reserve`](Self::reserve) counts as that
/// latest `now` ("no time passed", the crate's clock contract); the queries
/// [`check`](Self::check) and [`available`](Self::available) answer for the
/// later of their `now` and the latest seen, without moving it.
///
/// Boundaries: a request is admitted when its permits fit exactly
/// (`n == burst` on a rested limiter is admitted; `n > burst` never is, see
/// [`Rejected::is_never`]); a retry at exactly `retry_at` is admitted.
///
/// The end of the clock: the state is the instant the booked time runs to,
/// so `n` permits whose booking would run past [`Instant::MAX`] (a `now`
/// within `period * n` of it) are refused as never
/// ([`Rejected::never`]), and [`available`](Self::available) counts only
/// the permits that can still be booked. (Saturating there instead would
/// admit every later request; the band is the last `period * burst` of a
/// 584-year range.)
///
/// ```
/// use failsafe_core::rate::{Gcra, Quota};
/// use failsafe_core::Instant;
/// let mut g = Gcra::new(Quota::per_second(10).unwrap());
/// assert!(g.acquire(Instant::ZERO, 1).is_ok());
/// assert_eq!(g.acquire(Instant::ZERO, 1).unwrap_err().retry_at, Some(Instant::from_millis(100)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gcra {
    quota: Quota,
    tat: u64,
    /// The latest `now` seen by a call that changes the state.
    clock: Monotonic,
}

impl Gcra {
    /// The latest `now` seen (the clock contract's floor).
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
    /// A limiter with a full burst available. `const`.
    pub const fn new(quota: Quota) -> Gcra {
        Gcra {
            quota,
            tat: 0,
            clock: Monotonic::new(),
        }
    }

    /// Takes `n` permits at `now`, or says when they could be taken.
    /// `n` above the burst can never be granted
    /// ([`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity));
    /// `n` = 0 takes nothing and is granted unless permits booked ahead
    /// ([`reserve`](Self::reserve)) run past the burst's tolerance.
    ///
    /// ```
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::{Instant, RejectReason};
    /// let mut g = Gcra::new(Quota::per_second(1).unwrap().with_burst(5).unwrap());
    /// assert!(g.acquire(Instant::ZERO, 5).is_ok());
    /// assert_eq!(g.acquire(Instant::ZERO, 6).unwrap_err().reason, RejectReason::RateInsufficientCapacity);
    /// assert!(g.acquire(Instant::ZERO, 1).is_err());
    /// assert!(g.acquire(Instant::ZERO, 0).is_ok(), "nothing asked, nothing refused");
    /// // a permit booked ahead for a waiting caller holds the tolerance: even 0 waits
    /// assert!(g.reserve(Instant::ZERO, 1, core::time::Duration::from_secs(10)).is_ok());
    /// assert!(g.acquire(Instant::ZERO, 0).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RateLimited`](crate::RejectReason::RateLimited) with `retry_at`
    ///   the earliest instant the `n` permits can be taken;
    /// - [`Rejected::never`]: `n` over the burst
    ///   ([`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity)),
    ///   or a booking that would run past [`Instant::MAX`] (`RateLimited`).
    #[inline]
    pub fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        let now = self.clock.observe(now).as_nanos();
        self.tat = decide(self.tat, now, n, self.quota)?;
        Ok(())
    }

    /// Books `n` permits, waiting up to `max_wait`: returns the
    /// [`Reservation`] (its [`start`](Reservation::start) is now, or later),
    /// or a rejection if that is too far. A wait of exactly `max_wait` is
    /// booked; one 1 ns longer is refused.
    ///
    /// A caller that gives up before the start hands the reservation to
    /// [`cancel`](Self::cancel).
    ///
    /// # Errors
    ///
    /// [`RateLimited`](crate::RejectReason::RateLimited) with the earliest
    /// start if it lies more than `max_wait` ahead;
    /// [`Rejected::never`] for `n` over the burst or a start past the end of
    /// time.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(10).unwrap());
    /// assert_eq!(g.reserve(Instant::ZERO, 1, Duration::ZERO).unwrap().start(), Instant::ZERO);
    /// let r = g.reserve(Instant::ZERO, 1, Duration::from_secs(1)).unwrap();
    /// assert_eq!(r.start(), Instant::from_millis(100));
    /// assert!(g.reserve(Instant::ZERO, 1, Duration::from_millis(150)).is_err()); // would start at 200 ms
    /// ```
    pub fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        let now = self.clock.observe(now).as_nanos();
        let (tat, start) = reserve(self.tat, now, n, self.quota, duration_nanos(max_wait))?;
        let reservation = Reservation::booked(start, self.tat, tat);
        self.tat = tat;
        Ok(reservation)
    }

    /// Gives back the permits of a reservation whose caller gave up (a
    /// dropped waiter). Returns whether they were given back.
    ///
    /// They are when no later booking or admission was made since (the
    /// reservation is the latest): the state returns to what it was before
    /// the booking, so the rate can never be exceeded. Otherwise later
    /// callers already hold the instants after it, and giving the time back
    /// could let a new caller in before them beyond the rate: the permits
    /// stay booked and that capacity is lost until time passes their start.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(10).unwrap());
    /// g.acquire(Instant::ZERO, 1).unwrap();
    /// let r = g.reserve(Instant::ZERO, 1, Duration::from_secs(1)).unwrap(); // starts at 100 ms
    /// assert!(g.cancel(r)); // the waiter was dropped: the slot is free again
    /// assert_eq!(g.reserve(Instant::ZERO, 1, Duration::from_secs(1)).unwrap().start(), Instant::from_millis(100));
    /// ```
    pub fn cancel(&mut self, reservation: Reservation) -> bool {
        if reservation.returnable() && self.tat == reservation.booked_tat {
            self.tat = reservation.prior_tat;
            true
        } else {
            false
        }
    }

    /// Would `n` permits be granted at `now`? Changes nothing.
    ///
    /// # Errors
    ///
    /// The rejection [`acquire`](Self::acquire) would return.
    pub fn check(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        let now = now.max(self.clock.latest()).as_nanos();
        decide(self.tat, now, n, self.quota).map(|_| ())
    }

    /// Changes the quota at run time, keeping the state: the time already
    /// booked (the next permit's due time) stays booked; the new rate and
    /// burst apply from there on.
    ///
    /// ```
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(1).unwrap());
    /// g.acquire(Instant::ZERO, 1).unwrap(); // booked until t=1s
    /// g.set_quota(Quota::per_second(100).unwrap().with_burst(100).unwrap());
    /// // half of the booked second is left at t=0.5s: 50 of the new burst of 100 are free
    /// assert_eq!(g.available(Instant::from_millis(500)), 50);
    /// ```
    pub fn set_quota(&mut self, quota: Quota) {
        self.quota = quota;
    }

    /// The quota in force.
    pub const fn quota(&self) -> Quota {
        self.quota
    }

    /// Permits available at `now` (0 to burst).
    ///
    /// ```
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(1).unwrap().with_burst(3).unwrap());
    /// g.acquire(Instant::ZERO, 2).unwrap();
    /// assert_eq!(g.available(Instant::ZERO), 1);
    /// assert_eq!(g.available(Instant::from_secs(2)), 3);
    /// ```
    pub fn available(&self, now: Instant) -> u32 {
        available(
            self.tat,
            now.max(self.clock.latest()).as_nanos(),
            self.quota,
        )
    }

    /// The raw state (nanoseconds), e.g. to persist or share it.
    pub const fn tat(&self) -> u64 {
        self.tat
    }
}

/// Permits booked by a [`Gcra`] or [`AtomicGcra`] `reserve`: when they may
/// start, and what the limiter needs to take them back if the caller gives
/// up first ([`Gcra::cancel`], [`AtomicGcra::cancel`]).
///
/// Not `Clone`: a reservation is given back at most once. Dropping it keeps
/// the booking (the permits count as used).
///
/// ```
/// # use core::time::Duration;
/// use failsafe_core::rate::{Gcra, Quota, Reservation};
/// use failsafe_core::Instant;
/// let mut g = Gcra::new(Quota::per_second(2).unwrap());
/// let r: Reservation = g.reserve(Instant::ZERO, 1, Duration::ZERO).unwrap();
/// assert_eq!(r.start(), Instant::ZERO);
/// ```
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a reservation says when the permits may start; drop it only once they are used"]
pub struct Reservation {
    start: u64,
    prior_tat: u64,
    booked_tat: u64,
}

impl Reservation {
    fn booked(start: u64, prior_tat: u64, booked_tat: u64) -> Reservation {
        Reservation {
            start,
            prior_tat,
            booked_tat,
        }
    }

    /// A grant at `start` with nothing to give back: what a limiter that
    /// cannot book ahead (token bucket, windows, keyed) returns.
    ///
    /// ```
    /// # use failsafe_core::rate::Reservation;
    /// # use failsafe_core::Instant;
    /// assert_eq!(Reservation::granted(Instant::from_millis(3)).start(), Instant::from_millis(3));
    /// ```
    pub const fn granted(start: Instant) -> Reservation {
        Reservation {
            start: start.as_nanos(),
            prior_tat: 0,
            booked_tat: 0,
        }
    }

    /// When the permits may start: the `now` of the request, or a later
    /// booked instant to wait for.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(1).unwrap());
    /// g.acquire(Instant::ZERO, 1).unwrap();
    /// let r = g.reserve(Instant::ZERO, 1, Duration::from_secs(5)).unwrap();
    /// assert_eq!(r.start(), Instant::from_secs(1));
    /// ```
    pub const fn start(&self) -> Instant {
        Instant::from_nanos(self.start)
    }

    /// Whether a limiter could take these permits back at all.
    const fn returnable(&self) -> bool {
        self.booked_tat != self.prior_tat
    }
}

pub(crate) fn available(tat: u64, now: u64, quota: Quota) -> u32 {
    let used = tat.saturating_sub(now).div_ceil(quota.period_nanos);
    // Only the permits whose booking ends before the end of the clock.
    let bookable = (u64::MAX - tat.max(now)) / quota.period_nanos;
    (quota.burst as u64).saturating_sub(used).min(bookable) as u32
}

/// A GCRA limiter shared through `&self` without a lock: the state is one
/// `AtomicU64`, updated by a compare-and-swap around the same pure decision
/// as [`Gcra`]. Safe to share with interrupt handlers on every core: where
/// 64-bit atomics are missing (thumbv6m, thumbv7m, thumbv7em) each step runs
/// in a critical section instead, so link a critical-section implementation
/// (and on thumbv6m enable the core's `critical-section` feature); see
/// [`sync`](crate::sync#interrupt-handlers). `const`-constructible, so it
/// fits a `static`.
///
/// ```
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::Instant;
///
/// static LIMIT: AtomicGcra = AtomicGcra::new(failsafe_core::checked(Quota::per_second(100)));
/// assert!(LIMIT.acquire(Instant::ZERO, 1).is_ok());
/// assert!(LIMIT.acquire(Instant::ZERO, 1).is_err());
/// ```
#[derive(Debug)]
pub struct AtomicGcra {
    tat: AtomicU64,
    /// The latest `now` seen by `acquire` / `reserve` (nanoseconds).
    latest: AtomicU64,
    period_nanos: AtomicU64,
    burst: AtomicU64,
}

impl AtomicGcra {
    /// The latest `now` seen by `acquire` / `reserve`.
    pub(crate) fn latest_seen(&self) -> Instant {
        Instant::from_nanos(self.latest.load(Ordering::Relaxed))
    }
    /// A limiter with a full burst available.
    #[cfg(not(loom))]
    pub const fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            tat: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            period_nanos: AtomicU64::new(quota.period_nanos),
            burst: AtomicU64::new(quota.burst as u64),
        }
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            tat: AtomicU64::new(0),
            latest: AtomicU64::new(0),
            period_nanos: AtomicU64::new(quota.period_nanos),
            burst: AtomicU64::new(quota.burst as u64),
        }
    }

    /// The quota in force.
    #[inline]
    pub fn quota(&self) -> Quota {
        Quota {
            period_nanos: self.period_nanos.load(Ordering::Relaxed),
            burst: self.burst.load(Ordering::Relaxed) as u32,
        }
    }

    /// `max(now, latest seen)`, remembered: the clock contract of
    /// [`Gcra`]. One load, and a plain store when time moved on (on the
    /// cache line the decision's compare-and-swap takes anyway), not a
    /// locked read-modify-write. The price: two callers storing at once may
    /// leave the earlier of their times as the latest, and a third caller
    /// whose clock reads between the two is then not raised to the later
    /// one. On a limiter that has rested it may book from its own time and
    /// leave a permit for a caller at the later time: one permit more than
    /// the contract allows, once per such three-way race (sequential
    /// callers and two racing ones keep it exactly: the loom model
    /// `a_stepped_back_caller_races_a_current_one`).
    #[inline(always)]
    pub(crate) fn observe(&self, now: Instant) -> u64 {
        let now = now.as_nanos();
        let seen = self.latest.load(Ordering::Relaxed);
        if now > seen {
            self.latest.store(now, Ordering::Relaxed);
            now
        } else {
            seen
        }
    }

    /// [`Gcra::acquire`] from `&self`, lock-free.
    ///
    /// # Errors
    ///
    /// As [`Gcra::acquire`].
    #[inline]
    pub fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        let quota = self.quota();
        let now = self.observe(now);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let new_tat = decide(tat, now, n, quota)?;
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }

    /// [`Gcra::reserve`] from `&self`, lock-free.
    ///
    /// # Errors
    ///
    /// As [`Gcra::reserve`].
    pub fn reserve(
        &self,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        self.reserve_observed(self.observe(now), n, duration_nanos(max_wait))
    }

    /// [`reserve`](Self::reserve) at a `now` already passed through
    /// [`observe`](Self::observe) (nanoseconds), waiting at most
    /// `max_wait` nanoseconds. With no wait allowed it is
    /// [`acquire`](Self::acquire)'s decision (a booking that starts later
    /// than `now` is a refusal either way), made without the booking's
    /// start arithmetic.
    #[inline(always)]
    pub(crate) fn reserve_observed(
        &self,
        now: u64,
        n: u32,
        max_wait: u64,
    ) -> Result<Reservation, Rejected> {
        let quota = self.quota();
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let (new_tat, start) = if max_wait == 0 {
                (decide(tat, now, n, quota)?, now)
            } else {
                reserve(tat, now, n, quota, max_wait)?
            };
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Reservation::booked(start, tat, new_tat)),
                Err(current) => tat = current,
            }
        }
    }

    /// [`Gcra::cancel`] from `&self`, lock-free: gives the permits back if
    /// the reservation is still the latest booking (one compare-and-swap).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{AtomicGcra, Quota};
    /// # use failsafe_core::Instant;
    /// let g = AtomicGcra::new(Quota::per_second(1).unwrap());
    /// g.acquire(Instant::ZERO, 1).unwrap();
    /// let first = g.reserve(Instant::ZERO, 1, Duration::from_secs(9)).unwrap(); // at 1 s
    /// let second = g.reserve(Instant::ZERO, 1, Duration::from_secs(9)).unwrap(); // at 2 s
    /// assert!(!g.cancel(first)); // a later booking holds the next second
    /// assert!(g.cancel(second));
    /// ```
    pub fn cancel(&self, reservation: Reservation) -> bool {
        reservation.returnable()
            && self
                .tat
                .compare_exchange(
                    reservation.booked_tat,
                    reservation.prior_tat,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Changes the quota at run time, keeping the state. A decision racing
    /// the change may see the new period with the old burst (or the reverse)
    /// once; it never sees a torn value of either.
    pub fn set_quota(&self, quota: Quota) {
        self.period_nanos
            .store(quota.period_nanos, Ordering::Relaxed);
        self.burst.store(quota.burst as u64, Ordering::Relaxed);
    }

    /// Permits available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        let now = now.as_nanos().max(self.latest.load(Ordering::Relaxed));
        available(self.tat.load(Ordering::Relaxed), now, self.quota())
    }
}
