//! Fallback: which failures are answered with an alternative.
//!
//! The alternatives themselves (a value, a function of the error, another
//! operation, a chain) live in the adapters; the core says which reasons
//! qualify, so every adapter decides the same way.

use core::fmt;

use crate::retry::GiveUp;
use crate::{Instant, Rejected};

/// Why the primary path did not produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FallbackReason {
    /// The operation ran and failed.
    Failed,
    /// Another pattern rejected the call (open breaker, ...).
    Rejected(Rejected),
    /// The operation timed out.
    TimedOut,
    /// Retries gave up.
    GaveUp(GiveUp),
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FallbackReason::Failed => f.write_str("the operation failed"),
            FallbackReason::Rejected(r) => write!(f, "rejected: {r}"),
            FallbackReason::TimedOut => f.write_str("timed out"),
            FallbackReason::GaveUp(g) => write!(f, "retries gave up: {g}"),
        }
    }
}

/// Which reasons fall back. All of them by default.
///
/// ```
/// use failsafe_core::fallback::{FallbackPolicy, FallbackReason};
/// let only_rejections = FallbackPolicy::NONE.on_rejected(true);
/// assert!(!only_rejections.applies(FallbackReason::Failed));
/// assert!(FallbackPolicy::ALL.applies(FallbackReason::TimedOut));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FallbackPolicy {
    failed: bool,
    rejected: bool,
    timed_out: bool,
    gave_up: bool,
}

impl FallbackPolicy {
    /// Fall back for every reason.
    pub const ALL: FallbackPolicy = FallbackPolicy {
        failed: true,
        rejected: true,
        timed_out: true,
        gave_up: true,
    };
    /// Fall back for nothing (start here and enable reasons one by one).
    pub const NONE: FallbackPolicy = FallbackPolicy {
        failed: false,
        rejected: false,
        timed_out: false,
        gave_up: false,
    };

    /// Whether a failed operation falls back.
    pub const fn on_failed(mut self, yes: bool) -> Self {
        self.failed = yes;
        self
    }
    /// Whether a rejection falls back.
    pub const fn on_rejected(mut self, yes: bool) -> Self {
        self.rejected = yes;
        self
    }
    /// Whether a timeout falls back.
    pub const fn on_timed_out(mut self, yes: bool) -> Self {
        self.timed_out = yes;
        self
    }
    /// Whether exhausted retries fall back.
    pub const fn on_gave_up(mut self, yes: bool) -> Self {
        self.gave_up = yes;
        self
    }

    /// Does `reason` fall back under this policy?
    pub const fn applies(&self, reason: FallbackReason) -> bool {
        match reason {
            FallbackReason::Failed => self.failed,
            FallbackReason::Rejected(_) => self.rejected,
            FallbackReason::TimedOut => self.timed_out,
            FallbackReason::GaveUp(_) => self.gave_up,
        }
    }
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        FallbackPolicy::ALL
    }
}

/// What a fallback reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FallbackEvent {
    /// Alternative number `index` (0 = the first) was used for `reason`.
    FellBack {
        /// Why.
        reason: FallbackReason,
        /// Which alternative.
        index: u32,
        /// When.
        at: Instant,
    },
}
