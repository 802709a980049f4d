//! What a breaker counts for its metrics, chosen by type.

/// Where a breaker keeps the running counts behind
/// [`BreakerMetrics`](super::BreakerMetrics)' `rejected`, `times_opened`
/// and `stale_outcomes`: [`Counters`] (the default) counts them;
/// [`NoCounters`] keeps nothing, so a firmware breaker saves their 24 bytes
/// of RAM, and those three metrics read 0. Chosen by type
/// ([`CircuitBreaker::with_counters`](super::CircuitBreaker::with_counters)),
/// so a breaker without counters carries no code for them either.
/// Implemented by these two types only.
pub trait BreakerCounters: sealed::Sealed {
    /// Does it count? A shared handle's lock-free gate counts its own
    /// rejections only if so.
    const COUNTS: bool;
    /// A call was rejected.
    fn on_rejected(&mut self);
    /// The breaker opened.
    fn on_opened(&mut self);
    /// An outcome arrived for a permit of an earlier state.
    fn on_stale_outcome(&mut self);
    /// Calls rejected (0 if not counted).
    fn rejected(&self) -> u64;
    /// Times opened (0 if not counted).
    fn times_opened(&self) -> u64;
    /// Stale outcomes (0 if not counted).
    fn stale_outcomes(&self) -> u64;
    /// Back to zero.
    fn clear(&mut self);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Counters {}
    impl Sealed for super::NoCounters {}
}

/// The default: rejections, opens and stale outcomes counted since creation
/// (or the last reset), each a saturating `u64`.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoWindow};
/// use failsafe_core::Instant;
/// let mut b = CircuitBreaker::new(BreakerConfig::DEFAULT, NoWindow);
/// b.open(Instant::ZERO);
/// assert!(b.acquire(Instant::ZERO).is_err());
/// let m = b.metrics(Instant::ZERO);
/// assert_eq!((m.times_opened, m.rejected), (1, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    rejected: u64,
    times_opened: u64,
    stale_outcomes: u64,
}

impl Counters {
    /// All zero.
    pub const fn new() -> Self {
        Counters {
            rejected: 0,
            times_opened: 0,
            stale_outcomes: 0,
        }
    }
}

impl BreakerCounters for Counters {
    const COUNTS: bool = true;
    #[inline]
    fn on_rejected(&mut self) {
        self.rejected = self.rejected.saturating_add(1);
    }
    #[inline]
    fn on_opened(&mut self) {
        self.times_opened = self.times_opened.saturating_add(1);
    }
    #[inline]
    fn on_stale_outcome(&mut self) {
        self.stale_outcomes = self.stale_outcomes.saturating_add(1);
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
    fn times_opened(&self) -> u64 {
        self.times_opened
    }
    fn stale_outcomes(&self) -> u64 {
        self.stale_outcomes
    }
    fn clear(&mut self) {
        *self = Counters::new();
    }
}

/// No counts kept: zero-sized, for firmware. The breaker decides exactly as
/// with [`Counters`]; its metrics' `rejected`, `times_opened` and
/// `stale_outcomes` read 0 (an [`Observer`](crate::Observer) still sees
/// every rejection, open and stale outcome as an event).
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, NoCounters, NoWindow};
/// use failsafe_core::Instant;
/// let mut b = CircuitBreaker::with_counters(BreakerConfig::DEFAULT, NoWindow, (), NoCounters);
/// b.open(Instant::ZERO);
/// assert!(b.acquire(Instant::ZERO).is_err());
/// let m = b.metrics(Instant::ZERO);
/// assert_eq!((m.times_opened, m.rejected), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoCounters;

impl BreakerCounters for NoCounters {
    const COUNTS: bool = false;
    #[inline(always)]
    fn on_rejected(&mut self) {}
    #[inline(always)]
    fn on_opened(&mut self) {}
    #[inline(always)]
    fn on_stale_outcome(&mut self) {}
    fn rejected(&self) -> u64 {
        0
    }
    fn times_opened(&self) -> u64 {
        0
    }
    fn stale_outcomes(&self) -> u64 {
        0
    }
    fn clear(&mut self) {}
}
