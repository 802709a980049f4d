//! GCRA: the theoretical arrival time of the next permit is the whole state.

use core::time::Duration;

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use portable_atomic::{AtomicU64, Ordering};

use super::{Quota, insufficient, rate_limited};
use crate::time::duration_nanos;
use crate::{Instant, Rejected};

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
        .ok_or(rate_limited(Instant::MAX)) // "not before the end of time"
}

/// Like [`decide`], but a wait of up to `max_wait` is booked instead of
/// refused: returns the new `tat` and the instant the permits may start.
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

/// A GCRA rate limiter used through `&mut self`: one `u64` of state.
///
/// Time is never read; a `now` earlier than one already seen simply finds
/// less capacity (the state is "the next permit's time", so stepping back
/// can only make the limiter stricter, never looser).
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
}

impl Gcra {
    /// A limiter with a full burst available. `const`.
    pub const fn new(quota: Quota) -> Gcra {
        Gcra { quota, tat: 0 }
    }

    /// Takes `n` permits at `now`, or says when they could be taken.
    /// `n` above the burst can never be granted
    /// ([`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity)).
    ///
    /// ```
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::{Instant, RejectReason};
    /// let mut g = Gcra::new(Quota::per_second(1).unwrap().with_burst(5).unwrap());
    /// assert!(g.acquire(Instant::ZERO, 5).is_ok());
    /// assert_eq!(g.acquire(Instant::ZERO, 6).unwrap_err().reason, RejectReason::RateInsufficientCapacity);
    /// ```
    #[inline]
    pub fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        self.tat = decide(self.tat, now.as_nanos(), n, self.quota)?;
        Ok(())
    }

    /// Books `n` permits, waiting up to `max_wait`: returns the instant they
    /// may start (now, or later), or a rejection if that is too far. A wait
    /// of exactly `max_wait` is booked; one 1 ns longer is refused.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{Gcra, Quota};
    /// # use failsafe_core::Instant;
    /// let mut g = Gcra::new(Quota::per_second(10).unwrap());
    /// assert_eq!(g.reserve(Instant::ZERO, 1, Duration::ZERO), Ok(Instant::ZERO));
    /// assert_eq!(g.reserve(Instant::ZERO, 1, Duration::from_secs(1)), Ok(Instant::from_millis(100)));
    /// assert!(g.reserve(Instant::ZERO, 1, Duration::from_millis(150)).is_err()); // would start at 200 ms
    /// ```
    pub fn reserve(
        &mut self,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Instant, Rejected> {
        let (tat, start) = reserve(
            self.tat,
            now.as_nanos(),
            n,
            self.quota,
            duration_nanos(max_wait),
        )?;
        self.tat = tat;
        Ok(Instant::from_nanos(start))
    }

    /// Would `n` permits be granted at `now`? Changes nothing.
    pub fn check(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        decide(self.tat, now.as_nanos(), n, self.quota).map(|_| ())
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
        available(self.tat, now.as_nanos(), self.quota)
    }

    /// The raw state (nanoseconds), e.g. to persist or share it.
    pub const fn tat(&self) -> u64 {
        self.tat
    }
}

pub(crate) fn available(tat: u64, now: u64, quota: Quota) -> u32 {
    let used = tat.saturating_sub(now).div_ceil(quota.period_nanos);
    (quota.burst as u64).saturating_sub(used) as u32
}

/// A GCRA limiter shared through `&self` without a lock: the state is one
/// `AtomicU64`, updated by a compare-and-swap around the same pure decision
/// as [`Gcra`]. On cores without 64-bit CAS (thumbv6m) enable the core's
/// `critical-section` feature. `const`-constructible, so it fits a `static`.
///
/// ```
/// use failsafe_core::rate::{AtomicGcra, Quota};
/// use failsafe_core::Instant;
///
/// static LIMIT: AtomicGcra = AtomicGcra::new(Quota::or_panic(Quota::per_second(100)));
/// assert!(LIMIT.acquire(Instant::ZERO, 1).is_ok());
/// assert!(LIMIT.acquire(Instant::ZERO, 1).is_err());
/// ```
#[derive(Debug)]
pub struct AtomicGcra {
    tat: AtomicU64,
    period_nanos: AtomicU64,
    burst: AtomicU64,
}

impl AtomicGcra {
    /// A limiter with a full burst available.
    #[cfg(not(loom))]
    pub const fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            tat: AtomicU64::new(0),
            period_nanos: AtomicU64::new(quota.period_nanos),
            burst: AtomicU64::new(quota.burst as u64),
        }
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(quota: Quota) -> AtomicGcra {
        AtomicGcra {
            tat: AtomicU64::new(0),
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

    /// [`Gcra::acquire`] from `&self`, lock-free.
    #[inline]
    pub fn acquire(&self, now: Instant, n: u32) -> Result<(), Rejected> {
        let quota = self.quota();
        let now = now.as_nanos();
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
    pub fn reserve(&self, now: Instant, n: u32, max_wait: Duration) -> Result<Instant, Rejected> {
        let quota = self.quota();
        let (now, max_wait) = (now.as_nanos(), duration_nanos(max_wait));
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let (new_tat, start) = reserve(tat, now, n, quota, max_wait)?;
            match self
                .tat
                .compare_exchange_weak(tat, new_tat, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Ok(Instant::from_nanos(start)),
                Err(current) => tat = current,
            }
        }
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
        available(
            self.tat.load(Ordering::Relaxed),
            now.as_nanos(),
            self.quota(),
        )
    }
}
