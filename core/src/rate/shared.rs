//! Shared state: the store contract for a rate limit and a circuit breaker
//! shared by many instances of a service (issue 14).
//!
//! Ten instances with a local limit of 100/s send 1,000/s; each instance's
//! breaker learns on its own that a dependency is down. This module states,
//! in the core's pure terms, what a shared store (Redis, in
//! `failsafe-redis`) applies atomically to one key, so the decision stays
//! the one the local machines make and can be tested without a store:
//!
//! - **GCRA**: [`gcra_step`] is the decision of [`Gcra`](super::Gcra) and
//!   [`AtomicGcra`](super::AtomicGcra), applied to a stored theoretical
//!   arrival time; [`GcraStep::expires_at`] is when the stored value stops
//!   mattering, so an idle key can vanish from the store;
//!   [`shared_bound`] is what every instance together admits over a window.
//! - **Leasing**: [`Lease`] holds a batch of permits taken from the shared
//!   budget in one store call, so most calls make none; [`leased_bound`]
//!   is how far the global rate can then be exceeded.
//! - **Breaker**: [`BreakerRecord`] is the shared state of a breaker (or a
//!   fail fast): the round, open or closed, open until when, and the
//!   round's half-open probes. Its operations ([`trip`](BreakerRecord::trip),
//!   [`take_probe`](BreakerRecord::take_probe),
//!   [`settle`](BreakerRecord::settle)) are what the store applies; an
//!   instance folds every record it reads into its own with
//!   [`merge`](BreakerRecord::merge), and asks
//!   [`status`](BreakerRecord::status) before each call.
//!
//! # The sharing delay
//!
//! Every store operation returns the stored record, so the instance that
//! publishes a trip knows at once. The others learn it when they next read
//! the record: an instance that reads it at most every `poll` (and each
//! read takes at most `rtt`, the store call's timeout) rejects within
//! [`sharing_delay`]`(poll, rtt) = poll + rtt` of the trip being stored.
//! In that delay it may admit calls its own (closed) breaker admits; the
//! half-open probes are never affected by the delay, since they are taken
//! from the store itself ([`take_probe`](BreakerRecord::take_probe)).
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::rate::shared::{BreakerRecord, SharedStatus, gcra_step};
//! use failsafe_core::rate::Quota;
//! use failsafe_core::Instant;
//!
//! // the limiter: the store keeps the returned tat until it expires
//! let quota = Quota::per_second(10).unwrap();
//! let step = gcra_step(None, Instant::ZERO, 1, quota).unwrap();
//! assert_eq!(step.tat, Instant::from_millis(100));
//! assert!(gcra_step(Some(step.tat), Instant::from_millis(50), 1, quota).is_err());
//!
//! // the breaker: one instance trips, every instance reading the record rejects
//! let wait = Duration::from_secs(30);
//! let stored = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::from_secs(1), wait);
//! let mut seen = BreakerRecord::CLOSED;
//! seen = seen.merge(stored);
//! assert_eq!(seen.status(Instant::from_secs(2)), SharedStatus::Open { until: Instant::from_secs(31) });
//! ```

use core::time::Duration;

use super::gcra::decide;
use super::{Quota, insufficient};
use crate::time::duration_nanos;
use crate::{Instant, RejectReason, Rejected};

/// What the store keeps after a granted [`gcra_step`]: the new theoretical
/// arrival time and when the key may be dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GcraStep {
    /// The new theoretical arrival time to store.
    pub tat: Instant,
    /// From this instant on, the stored `tat` decides exactly as no key at
    /// all ([`gcra_step`] with `None`): the store may drop the key then.
    /// It is `tat` itself: once `now >= tat`, `max(tat, now) = now`.
    pub expires_at: Instant,
}

impl GcraStep {
    /// How long the store keeps the key after `now` (the `PEXPIRE`
    /// argument): `expires_at - now`, zero if already past.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::{Quota, shared::gcra_step};
    /// # use failsafe_core::Instant;
    /// let step = gcra_step(None, Instant::from_secs(5), 2, Quota::per_second(4).unwrap().with_burst(2).unwrap()).unwrap();
    /// assert_eq!(step.ttl(Instant::from_secs(5)), Duration::from_millis(500));
    /// ```
    pub const fn ttl(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }
}

/// The GCRA decision on a stored arrival time: may `n` permits start at
/// `now`, given the key's stored theoretical arrival time (`None`: no key,
/// the same as a rested limiter)? The exact decision of
/// [`Gcra::acquire`](super::Gcra::acquire): `tat' = max(tat, now) + period
/// * n`, granted when `tat' - period * burst <= now` (governor's rule, with
/// `tau = period * (burst - 1)` and the permit's own period added).
///
/// The store applies it atomically to one key (a server-side script), so
/// every instance sharing the key shares one limit: over any window of
/// length `w`, all of them together are granted at most
/// [`shared_bound`]`(quota, w)` permits.
///
/// Time is the caller's: the store's clock (one clock for every instance:
/// no skew) or each instance's (then an instance whose clock runs `s`
/// ahead of the others is granted up to `s / period` permits more, once,
/// and the others as many fewer; a clock behind is the reverse). No clock
/// is remembered here: a store that wants "time never goes back" passes
/// `max(now, stored tat - tolerance)` itself, which changes nothing (the
/// decision depends on `now` only through `max(tat, now)` and the
/// comparison).
///
/// ```
/// use failsafe_core::rate::{Quota, shared::gcra_step};
/// use failsafe_core::{Instant, RejectReason};
///
/// let quota = Quota::per_second(2).unwrap().with_burst(2).unwrap();
/// let a = gcra_step(None, Instant::ZERO, 2, quota).unwrap(); // the burst
/// assert_eq!(a.tat, Instant::from_secs(1));
/// let r = gcra_step(Some(a.tat), Instant::ZERO, 1, quota).unwrap_err();
/// assert_eq!(r.retry_at, Some(Instant::from_millis(500)));
/// assert!(gcra_step(Some(a.tat), Instant::from_millis(500), 1, quota).is_ok());
/// assert_eq!(gcra_step(None, Instant::ZERO, 3, quota).unwrap_err().reason, RejectReason::RateInsufficientCapacity);
/// ```
///
/// # Errors
///
/// As [`Gcra::acquire`](super::Gcra::acquire): `RateLimited` with
/// `retry_at` the exact instant the `n` permits would be granted (the
/// stored value is then unchanged); [`Rejected::never`] for `n` over the
/// burst (`RateInsufficientCapacity`) or a booking past [`Instant::MAX`].
#[inline]
pub fn gcra_step(
    stored_tat: Option<Instant>,
    now: Instant,
    n: u32,
    quota: Quota,
) -> Result<GcraStep, Rejected> {
    let tat = stored_tat.map_or(0, Instant::as_nanos);
    let new_tat = Instant::from_nanos(decide(tat, now.as_nanos(), n, quota)?);
    Ok(GcraStep {
        tat: new_tat,
        expires_at: new_tat,
    })
}

/// The most permits instances sharing one GCRA key are granted, all
/// together, over any closed window of length `window`:
/// `burst + floor(window / period)` (a rested key grants its burst at the
/// window's start, then one permit per period). Saturates at `u64::MAX`.
///
/// ```
/// # use core::time::Duration;
/// # use failsafe_core::rate::{Quota, shared::shared_bound};
/// let quota = Quota::per_second(100).unwrap().with_burst(10).unwrap();
/// assert_eq!(shared_bound(quota, Duration::from_secs(1)), 110);
/// ```
pub const fn shared_bound(quota: Quota, window: Duration) -> u64 {
    (quota.burst as u64).saturating_add(duration_nanos(window) / quota.period_nanos)
}

/// The bound of [`shared_bound`] when `instances` instances each lease
/// batches of `batch` permits ([`Lease`]): a permit is spent after it was
/// leased, and each instance carries at most `batch - 1` leased permits
/// into a window (it leases only when it holds none, and spends one at
/// once), so over any window of length `window` at most
/// `shared_bound(quota, window) + instances * (batch - 1)` permits are
/// spent. With `batch = 1` the bound is the shared one. Saturates.
///
/// The overshoot is the `instances * (batch - 1)` term: choose `batch` so
/// that it stays small beside the burst (e.g. a burst of 100 over 4
/// instances leasing 5 overshoots by at most 16 in any window).
///
/// ```
/// # use core::time::Duration;
/// # use failsafe_core::rate::{Quota, shared::leased_bound};
/// let quota = Quota::per_second(100).unwrap().with_burst(100).unwrap();
/// assert_eq!(leased_bound(quota, Duration::from_secs(1), 4, 5), 216);
/// assert_eq!(leased_bound(quota, Duration::from_secs(1), 4, 1), 200);
/// ```
pub const fn leased_bound(quota: Quota, window: Duration, instances: u32, batch: u32) -> u64 {
    shared_bound(quota, window)
        .saturating_add((instances as u64).saturating_mul(batch.saturating_sub(1) as u64))
}

/// Permits leased in one batch from a shared budget (a store's GCRA key)
/// and spent locally, one store call per batch instead of per call.
///
/// [`take`](Self::take) spends one; when it returns `false` the holder
/// leases the next batch ([`refill`](Self::refill)) with
/// [`gcra_step`]`(.., batch, ..)`. A lease is valid until its `expires_at`
/// (leased permits unspent then are dropped: permits saved during a quiet
/// spell cannot all arrive later at once). See [`leased_bound`] for the
/// overshoot.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::shared::Lease;
/// use failsafe_core::Instant;
///
/// let mut lease = Lease::EMPTY;
/// assert!(!lease.take(Instant::ZERO)); // nothing leased: go to the store
/// lease.refill(3, Instant::ZERO, Duration::from_secs(1));
/// assert!(lease.take(Instant::ZERO) && lease.take(Instant::ZERO) && lease.take(Instant::ZERO));
/// assert!(!lease.take(Instant::ZERO));
/// lease.refill(3, Instant::ZERO, Duration::from_secs(1));
/// assert!(!lease.take(Instant::from_secs(1))); // expired at exactly 1 s
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Lease {
    remaining: u32,
    expires_at: Instant,
}

impl Lease {
    /// No permits held.
    pub const EMPTY: Lease = Lease {
        remaining: 0,
        expires_at: Instant::ZERO,
    };

    /// Spends one leased permit at `now`: `false` if none is left or the
    /// lease expired (at exactly `expires_at` it has).
    pub fn take(&mut self, now: Instant) -> bool {
        if now >= self.expires_at {
            self.remaining = 0;
        }
        if self.remaining == 0 {
            return false;
        }
        self.remaining -= 1;
        true
    }

    /// Holds `permits` more leased at `now`, valid for `ttl` (replacing
    /// what was left: call it when [`take`](Self::take) said `false`).
    pub fn refill(&mut self, permits: u32, now: Instant, ttl: Duration) {
        self.remaining = permits;
        self.expires_at = now.saturating_add(ttl);
    }

    /// Permits left at `now`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::Lease;
    /// # use failsafe_core::Instant;
    /// let mut lease = Lease::EMPTY;
    /// lease.refill(4, Instant::ZERO, Duration::from_secs(1));
    /// assert_eq!((lease.remaining(Instant::ZERO), lease.remaining(Instant::from_secs(1))), (4, 0));
    /// ```
    pub fn remaining(&self, now: Instant) -> u32 {
        if now >= self.expires_at {
            0
        } else {
            self.remaining
        }
    }
}

/// How long after a trip is stored every instance rejects: `poll + rtt`,
/// for instances that read the shared record at least every `poll` (a
/// read older than `poll` is refreshed before the call is decided) with
/// store calls that take at most `rtt` (their timeout). Saturates.
///
/// ```
/// # use core::time::Duration;
/// # use failsafe_core::rate::shared::sharing_delay;
/// assert_eq!(sharing_delay(Duration::from_millis(100), Duration::from_millis(50)), Duration::from_millis(150));
/// ```
pub const fn sharing_delay(poll: Duration, rtt: Duration) -> Duration {
    poll.saturating_add(rtt)
}

/// What a [`BreakerRecord`] says about a call at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SharedStatus {
    /// Calls flow: each instance's own breaker counts them.
    Closed,
    /// Calls are rejected until `until` ([`Instant::MAX`]: until a round
    /// is settled by hand, fail fast's "open until told otherwise").
    Open {
        /// When the round's probes may start.
        until: Instant,
    },
    /// The open wait is over: calls are probes of this round, each taken
    /// from the store ([`BreakerRecord::take_probe`]).
    HalfOpen {
        /// The round being probed.
        round: u64,
    },
}

/// The shared state of a circuit breaker (or a fail fast) kept in a
/// store: the round, open or closed, open until when, and the round's
/// half-open probes.
///
/// # Rounds
///
/// A **round** is one open spell. Round 0 is the closed breaker nobody has
/// tripped. A trip moves a closed record of round `r` to open of round
/// `r + 1` ([`trip`](Self::trip)); its probes then either close that round
/// (same round, closed: [`settle`](Self::settle) with enough successes) or
/// fail it (round `r + 2`, open again). So within one round, closed comes
/// after open, and a newer round comes after both.
///
/// # Merge
///
/// [`merge`](Self::merge) keeps the later of two records in that order:
/// by round, then closed over open, then the later `open_until`, then the
/// larger probe counts. It is commutative, associative and idempotent (a
/// join), so instances may fold records in any order, any number of times,
/// and agree once they have seen the same ones (`tests/tests/shared_state_props.rs`).
///
/// # What the store applies
///
/// | operation | when | rule |
/// |---|---|---|
/// | [`trip`](Self::trip) | an instance's own breaker trips | if the record (merged with what the instance had seen) is open, nothing (concurrent trips are one round; the open wait is not extended); else open a new round until `now + open_wait` |
/// | [`take_probe`](Self::take_probe) | a call in [`HalfOpen`](SharedStatus::HalfOpen) | a probe is granted while fewer than `probes` were taken this round: at most `probes` in total across every instance. A round whose probes were all taken and whose last was granted `lease` ago or more has failed (a lost probe counts as failed): it opens again |
/// | [`settle`](Self::settle) | a probe reports | for the current round only (a report of an older round changes nothing): a failure opens the next round; the `threshold`-th success closes the round |
///
/// A fail fast uses the same record with `open_wait = Duration::MAX`
/// (open until [`Instant::MAX`], so never half-open) and
/// [`close`](Self::close) when recovery is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BreakerRecord {
    round: u64,
    open: bool,
    until: Instant,
    probes: u32,
    successes: u32,
    last_probe: Instant,
}

impl Default for BreakerRecord {
    fn default() -> Self {
        BreakerRecord::CLOSED
    }
}

impl BreakerRecord {
    /// Closed, round 0: what an absent key reads as.
    pub const CLOSED: BreakerRecord = BreakerRecord {
        round: 0,
        open: false,
        until: Instant::ZERO,
        probes: 0,
        successes: 0,
        last_probe: Instant::ZERO,
    };

    /// A record from its stored fields (a store's encoding). A closed
    /// record keeps none of the open fields: they are read as zero.
    ///
    /// ```
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::Instant;
    /// let r = BreakerRecord::from_parts(3, true, Instant::from_secs(9), 1, 0, Instant::from_secs(9));
    /// assert_eq!((r.round(), r.is_open(), r.open_until(), r.probes(), r.successes()), (3, true, Instant::from_secs(9), 1, 0));
    /// assert_eq!(BreakerRecord::from_parts(3, false, Instant::from_secs(9), 1, 1, Instant::ZERO).open_until(), Instant::ZERO);
    /// ```
    pub const fn from_parts(
        round: u64,
        open: bool,
        until: Instant,
        probes: u32,
        successes: u32,
        last_probe: Instant,
    ) -> BreakerRecord {
        if open {
            BreakerRecord {
                round,
                open,
                until,
                probes,
                successes,
                last_probe,
            }
        } else {
            BreakerRecord::closed(round)
        }
    }

    const fn closed(round: u64) -> BreakerRecord {
        BreakerRecord {
            round,
            ..BreakerRecord::CLOSED
        }
    }

    const fn opened(round: u64, until: Instant) -> BreakerRecord {
        BreakerRecord {
            round,
            open: true,
            until,
            probes: 0,
            successes: 0,
            last_probe: Instant::ZERO,
        }
    }

    /// The round (0: never tripped).
    pub const fn round(&self) -> u64 {
        self.round
    }

    /// Whether the round is open (rejecting, or half-open once
    /// [`open_until`](Self::open_until) has passed).
    pub const fn is_open(&self) -> bool {
        self.open
    }

    /// When an open round's probes may start ([`Instant::ZERO`] if closed).
    pub const fn open_until(&self) -> Instant {
        self.until
    }

    /// Probes granted in this round, across every instance.
    pub const fn probes(&self) -> u32 {
        self.probes
    }

    /// Probes of this round that reported a success.
    pub const fn successes(&self) -> u32 {
        self.successes
    }

    /// When the round's latest probe was granted ([`Instant::ZERO`] if none).
    pub const fn last_probe(&self) -> Instant {
        self.last_probe
    }

    /// The order [`merge`](Self::merge) keeps the later of: round, closed
    /// over open, open until.
    const fn rank(&self) -> (u64, bool, Instant) {
        (self.round, !self.open, self.until)
    }

    /// The later of two records (see [the type's doc](Self#merge)): what
    /// an instance folds a record it read into its own with. Commutative,
    /// associative, idempotent.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::Instant;
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, Duration::from_secs(5));
    /// assert_eq!(open.merge(BreakerRecord::CLOSED), open); // round 1 beats round 0
    /// assert_eq!(BreakerRecord::CLOSED.merge(open), open);
    /// assert_eq!(open.merge(open), open);
    /// ```
    #[must_use]
    pub fn merge(self, other: BreakerRecord) -> BreakerRecord {
        use core::cmp::Ordering::{Equal, Greater, Less};
        match self.rank().cmp(&other.rank()) {
            Greater => self,
            Less => other,
            Equal => BreakerRecord {
                probes: self.probes.max(other.probes),
                successes: self.successes.max(other.successes),
                last_probe: self.last_probe.max(other.last_probe),
                ..self
            },
        }
    }

    /// What the record says about a call at `now`: closed, open until a
    /// later instant (at exactly `open_until` it is half-open), or
    /// half-open.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::{BreakerRecord, SharedStatus};
    /// # use failsafe_core::Instant;
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, Duration::from_secs(5));
    /// assert_eq!(open.status(Instant::from_millis(4_999)), SharedStatus::Open { until: Instant::from_secs(5) });
    /// assert_eq!(open.status(Instant::from_secs(5)), SharedStatus::HalfOpen { round: 1 });
    /// ```
    pub fn status(&self, now: Instant) -> SharedStatus {
        match (self.open, now < self.until) {
            (false, _) => SharedStatus::Closed,
            (true, true) => SharedStatus::Open { until: self.until },
            (true, false) => SharedStatus::HalfOpen { round: self.round },
        }
    }

    /// The rejection an open record gives a call at `now`, if any:
    /// `BreakerOpen` with `retry_at` the end of the open wait
    /// (`Instant::MAX` when open until told otherwise).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::Instant;
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, Duration::from_secs(5));
    /// assert_eq!(open.rejection(Instant::ZERO).unwrap().retry_at, Some(Instant::from_secs(5)));
    /// assert!(open.rejection(Instant::from_secs(5)).is_none()); // half-open: probes decide
    /// ```
    pub fn rejection(&self, now: Instant) -> Option<Rejected> {
        match self.status(now) {
            SharedStatus::Open { until } => {
                Some(Rejected::new(RejectReason::BreakerOpen, Some(until)))
            }
            _ => None,
        }
    }

    /// A trip published by an instance that had seen `seen` (the store
    /// applies it to its record `self`): if the record merged with `seen`
    /// is open, it is kept as it is (the trip joins the round already open,
    /// the open wait is not extended); otherwise a new round opens until
    /// `now + open_wait`. Merging `seen` in first keeps rounds increasing
    /// when the store lost its record (a restarted Redis reads as round 0).
    /// Idempotent: the same trip applied twice is one round.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::Instant;
    /// let wait = Duration::from_secs(5);
    /// let a = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, wait);
    /// let b = a.trip(BreakerRecord::CLOSED, Instant::from_secs(1), wait); // a second instance trips too
    /// assert_eq!((b.round(), b.open_until()), (1, Instant::from_secs(5)));
    /// // the store restarted empty; an instance that had seen round 1 closed trips: round 2
    /// assert_eq!(BreakerRecord::CLOSED.trip(a.close(), Instant::from_secs(9), wait).round(), 2);
    /// ```
    #[must_use]
    pub fn trip(self, seen: BreakerRecord, now: Instant, open_wait: Duration) -> BreakerRecord {
        let current = self.merge(seen);
        if current.open {
            current
        } else {
            BreakerRecord::opened(
                current.round.saturating_add(1),
                now.saturating_add(open_wait),
            )
        }
    }

    /// Asks the store for a half-open probe of the current round at `now`:
    /// the new record and the probe's round, or the rejection.
    ///
    /// - closed (the round closed since the caller read the record):
    ///   granted as an ordinary call, nothing counted;
    /// - open before `open_until`: `BreakerOpen` with `retry_at`;
    /// - half-open with fewer than `probes` granted: granted, counted;
    /// - every probe granted, the last less than `lease` ago:
    ///   `BreakerHalfOpenFull`, `retry_at` unknown (`None`);
    /// - every probe granted, the last `lease` ago or more (a probe never
    ///   reported): the round has failed, the next opens until
    ///   `now + open_wait` and the call is rejected `BreakerOpen`.
    ///
    /// So across every instance at most `probes` probes are granted in a
    /// round.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::{Instant, RejectReason};
    /// let (wait, lease) = (Duration::from_secs(5), Duration::from_secs(1));
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, wait);
    /// let at = Instant::from_secs(5);
    /// let (taken, granted) = open.take_probe(at, 1, lease, wait);
    /// assert_eq!(granted, Ok(1));
    /// let (_, again) = taken.take_probe(at, 1, lease, wait);
    /// assert_eq!(again.unwrap_err().reason, RejectReason::BreakerHalfOpenFull);
    /// let (lost, _) = taken.take_probe(Instant::from_secs(6), 1, lease, wait); // the probe never reported
    /// assert_eq!((lost.round(), lost.open_until()), (2, Instant::from_secs(11)));
    /// ```
    ///
    /// # Errors
    ///
    /// `BreakerOpen` (open, or the round just failed by a lost probe) or
    /// `BreakerHalfOpenFull` (every probe of the round is out), as above.
    pub fn take_probe(
        self,
        now: Instant,
        probes: u32,
        lease: Duration,
        open_wait: Duration,
    ) -> (BreakerRecord, Result<u64, Rejected>) {
        match self.status(now) {
            SharedStatus::Closed => (self, Ok(self.round)),
            SharedStatus::Open { until } => (
                self,
                Err(Rejected::new(RejectReason::BreakerOpen, Some(until))),
            ),
            SharedStatus::HalfOpen { round } => {
                if self.probes < probes {
                    let taken = BreakerRecord {
                        probes: self.probes + 1,
                        last_probe: now,
                        ..self
                    };
                    (taken, Ok(round))
                } else if now >= self.last_probe.saturating_add(lease) {
                    let next = BreakerRecord::opened(
                        round.saturating_add(1),
                        now.saturating_add(open_wait),
                    );
                    (
                        next,
                        Err(Rejected::new(RejectReason::BreakerOpen, Some(next.until))),
                    )
                } else {
                    (
                        self,
                        Err(Rejected::new(RejectReason::BreakerHalfOpenFull, None)),
                    )
                }
            }
        }
    }

    /// A probe of `round` reports at `now`: a failure opens the next round
    /// until `now + open_wait`; a success counts, and the `threshold`-th
    /// closes the round. A report for another round than the record's open
    /// one (stale, or the record is closed) changes nothing.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::{BreakerRecord, SharedStatus};
    /// # use failsafe_core::Instant;
    /// let wait = Duration::from_secs(5);
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, wait);
    /// let (probing, round) = open.take_probe(Instant::from_secs(5), 1, wait, wait);
    /// let closed = probing.settle(round.unwrap(), true, Instant::from_secs(6), 1, wait);
    /// assert_eq!((closed.status(Instant::from_secs(6)), closed.round()), (SharedStatus::Closed, 1));
    /// let reopened = probing.settle(1, false, Instant::from_secs(6), 1, wait);
    /// assert_eq!((reopened.round(), reopened.open_until()), (2, Instant::from_secs(11)));
    /// assert_eq!(reopened.settle(1, true, Instant::from_secs(7), 1, wait), reopened); // stale report
    /// ```
    #[must_use]
    pub fn settle(
        self,
        round: u64,
        success: bool,
        now: Instant,
        threshold: u32,
        open_wait: Duration,
    ) -> BreakerRecord {
        if !self.open || self.round != round {
            return self;
        }
        if !success {
            return BreakerRecord::opened(round.saturating_add(1), now.saturating_add(open_wait));
        }
        let successes = self.successes.saturating_add(1);
        if successes >= threshold {
            BreakerRecord::closed(round)
        } else {
            BreakerRecord { successes, ..self }
        }
    }

    /// Closes the record's round by hand (fail fast's recovery report, an
    /// operator): closed, same round. A closed record is unchanged.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::{BreakerRecord, SharedStatus};
    /// # use failsafe_core::Instant;
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, Duration::MAX);
    /// assert_eq!(open.status(Instant::from_secs(1_000_000)), SharedStatus::Open { until: Instant::MAX });
    /// assert_eq!(open.close().status(Instant::ZERO), SharedStatus::Closed);
    /// ```
    #[must_use]
    pub const fn close(self) -> BreakerRecord {
        BreakerRecord::closed(self.round)
    }

    /// Until when the store must keep this record (it may drop the key
    /// then: it reads back as [`CLOSED`](Self::CLOSED), and instances keep
    /// the round they had seen, see [`trip`](Self::trip)): `retention`
    /// after the later of the open wait's end and the latest probe's
    /// lease; `retention` after `now` for a closed record.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::shared::BreakerRecord;
    /// # use failsafe_core::Instant;
    /// let (wait, lease, keep) = (Duration::from_secs(5), Duration::from_secs(1), Duration::from_secs(60));
    /// let open = BreakerRecord::CLOSED.trip(BreakerRecord::CLOSED, Instant::ZERO, wait);
    /// assert_eq!(open.expires_at(Instant::ZERO, lease, keep), Instant::from_secs(65));
    /// assert_eq!(BreakerRecord::CLOSED.expires_at(Instant::ZERO, lease, keep), Instant::from_secs(60));
    /// ```
    pub fn expires_at(&self, now: Instant, lease: Duration, retention: Duration) -> Instant {
        let held = if self.open {
            self.until.max(self.last_probe.saturating_add(lease))
        } else {
            now
        };
        held.max(now).saturating_add(retention)
    }
}

/// The rejection for `n` permits a lease can never hold (over the burst):
/// what [`gcra_step`] says for a batch larger than the quota's burst.
///
/// ```
/// # use failsafe_core::rate::{Quota, shared::check_batch};
/// assert!(check_batch(5, Quota::per_second(10).unwrap().with_burst(5).unwrap()).is_ok());
/// assert!(check_batch(6, Quota::per_second(10).unwrap().with_burst(5).unwrap()).unwrap_err().is_never());
/// ```
///
/// # Errors
///
/// `RateInsufficientCapacity` ([`Rejected::never`]) if `batch` is zero or
/// over the quota's burst.
pub const fn check_batch(batch: u32, quota: Quota) -> Result<(), Rejected> {
    if batch == 0 || batch > quota.burst {
        Err(insufficient())
    } else {
        Ok(())
    }
}
