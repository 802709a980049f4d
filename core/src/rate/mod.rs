//! Rate limiting: how many calls may start per unit of time.
//!
//! Every algorithm answers the same question with the same values: "yes",
//! or "not until T" ([`Rejected`] with `retry_at`), for `n` permits at a time.
//!
//! - [`Gcra`]: the generic cell rate algorithm, its whole state one `u64`;
//!   [`AtomicGcra`] is the same decision in one atomic word, lock-free from
//!   `&self` (on cores without 64-bit atomics, Cortex-M0/M3/M4/M7, each step
//!   masks interrupts for a few instructions instead: interrupt-safe, see
//!   [`sync`](crate::sync#interrupt-handlers));
//! - [`TokenBucket`]: a capacity refilled by an amount every period;
//! - [`FixedWindow`] and [`SlidingWindow`]: counts per window of time;
//! - [`KeyedGcra`]: one GCRA per key in a fixed-capacity table that evicts
//!   idle keys first, so many keys cannot grow it;
//! - [`retry_after`]: the Python Failsafe's strategies for the `Retry-After`
//!   a client is told: fixed, utilization, backpressure.
//!
//! ```
//! use failsafe_core::rate::{Gcra, Quota};
//! use failsafe_core::Instant;
//!
//! // 2 per second, bursts of up to 4
//! let quota = Quota::per_second(2).unwrap().with_burst(4).unwrap();
//! let mut limiter = Gcra::new(quota);
//! for _ in 0..4 {
//!     assert!(limiter.acquire(Instant::ZERO, 1).is_ok());
//! }
//! let rejected = limiter.acquire(Instant::ZERO, 1).unwrap_err();
//! assert_eq!(rejected.retry_at, Some(Instant::from_millis(500)));
//! assert!(limiter.acquire(Instant::from_millis(500), 1).is_ok()); // exactly when it said
//! ```

mod bucket;
mod gcra;
mod keyed;
pub mod retry_after;
pub mod shared;
#[cfg(test)]
mod tests;
mod throttle;
mod window;

pub use bucket::{TokenBucket, TokenBucketBuilder};
pub use gcra::{AtomicGcra, Gcra, Reservation};
pub use keyed::{KeyedGcra, WhenFull};
pub use throttle::{Limiter, Throttle};
pub use window::{FixedWindow, SlidingWindow, WindowBuilder};

use core::time::Duration;

use crate::time::duration_nanos;

/// What a rate limiter ([`Throttle`]) reports to its observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RateEvent {
    /// A call got its permits (at once, or when its booked turn came).
    Acquired {
        /// When.
        at: Instant,
        /// Permits taken.
        permits: u32,
        /// Permits left to take now, if the limiter can tell
        /// ([`Limiter::permits_available`]).
        available: Option<u32>,
    },
    /// A call was turned away.
    Rejected {
        /// When.
        at: Instant,
        /// Why, and when to retry.
        rejected: Rejected,
        /// Permits left to take now, if the limiter can tell.
        available: Option<u32>,
    },
    /// An admitted call's permits came back unused: another machine in its
    /// chain turned the call away (admission is all or nothing), or it was
    /// dropped before it started. Permits already overtaken by a later
    /// booking stay spent, and report nothing.
    Returned {
        /// When.
        at: Instant,
        /// Permits left to take now, if the limiter can tell.
        available: Option<u32>,
    },
}
use crate::{ConfigError, Instant, Problem, RejectReason, Rejected};

/// A rate: one permit every `period`, with up to `burst` at once after a
/// quiet spell. Over any span of time `w`, a limiter with this quota admits
/// at most `burst + w / period` permits.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::Quota;
/// let q = Quota::per_minute(60).unwrap();
/// assert_eq!(q.period(), Duration::from_secs(1));
/// assert_eq!(Quota::per_second(0).unwrap_err().field, "rate");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Quota {
    period_nanos: u64,
    burst: u32,
}

impl Quota {
    /// A builder naming the rate and the burst, in one `const` expression
    /// (no `match` between `per_second` and `with_burst`):
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::checked;
    /// use failsafe_core::rate::Quota;
    ///
    /// // 100 permits a second, bursts of 5
    /// const RADIO: Quota = checked(Quota::builder().per_second(100).burst(5).build());
    /// assert_eq!((RADIO.period(), RADIO.burst()), (Duration::from_millis(10), 5));
    /// assert_eq!(Quota::builder().per_second(100).burst(5).build(), Quota::per_second(100).unwrap().with_burst(5));
    /// assert_eq!(Quota::builder().burst(5).build().unwrap_err().field, "rate"); // no rate given
    /// ```
    pub const fn builder() -> QuotaBuilder {
        QuotaBuilder {
            rate: Rate::Unset,
            burst: 1,
        }
    }

    /// `n` permits per second, burst 1: calls are spaced `1/n` s apart,
    /// and a second call at the same instant is turned away. (governor's
    /// `Quota::per_second(n)` allows bursts of `n`; for that, add
    /// [`with_burst(n)`](Self::with_burst).)
    ///
    /// ```
    /// use failsafe_core::rate::{Gcra, Limiter, Quota};
    /// use failsafe_core::Instant;
    /// let mut spaced = Gcra::new(Quota::per_second(10).unwrap());
    /// assert!(spaced.acquire(Instant::ZERO, 1).is_ok());
    /// assert!(spaced.acquire(Instant::ZERO, 1).is_err()); // burst 1
    /// let mut bursty = Gcra::new(Quota::per_second(10).unwrap().with_burst(10).unwrap());
    /// assert!((0..10).all(|_| bursty.acquire(Instant::ZERO, 1).is_ok()));
    /// ```
    ///
    /// # Errors
    ///
    /// As [`per`](Self::per) over one second.
    pub const fn per_second(n: u32) -> Result<Quota, ConfigError> {
        Quota::per(n, Duration::from_secs(1))
    }

    /// `n` permits per minute, burst 1 (see [`per_second`](Self::per_second)).
    ///
    /// # Errors
    ///
    /// As [`per`](Self::per) over one minute.
    pub const fn per_minute(n: u32) -> Result<Quota, ConfigError> {
        Quota::per(n, Duration::from_secs(60))
    }

    /// `n` permits per `span`, burst 1.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::Quota;
    /// assert_eq!(Quota::per(10, Duration::from_secs(1)).unwrap().period(), Duration::from_millis(100));
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `rate`, `Zero`, if `n` is zero; `per`, `Zero`, if
    ///   `span` is (the file form's key for it).
    /// - `rate`, `TooLarge`, if `span / n` is under 1 ns (`span` shorter
    ///   than `n` nanoseconds): the period is whole nanoseconds.
    /// - `rate`, `BelowMinimum`, if `span / n` is over [`Quota::MAX_SPAN`]
    ///   (one permit in about 146 years).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::{rate::Quota, Problem};
    /// let e = Quota::per(1_000, Duration::from_nanos(999)).unwrap_err();
    /// assert_eq!((e.field, e.problem), ("rate", Problem::TooLarge));
    /// let e = Quota::per(10, Duration::ZERO).unwrap_err();
    /// assert_eq!((e.field, e.problem), ("per", Problem::Zero));
    /// let e = Quota::per(2, Duration::MAX).unwrap_err(); // one in ~292 billion years
    /// assert_eq!((e.field, e.problem), ("rate", Problem::BelowMinimum));
    /// ```
    pub const fn per(n: u32, span: Duration) -> Result<Quota, ConfigError> {
        if n == 0 {
            return Err(ConfigError::new("rate", Problem::Zero));
        }
        if span.is_zero() {
            return Err(ConfigError::new("per", Problem::Zero));
        }
        // In u128: a span past `u64` nanoseconds must not saturate before
        // the division (it would give a faster rate than asked).
        let period_nanos = span.as_nanos() / n as u128;
        if period_nanos == 0 {
            return Err(ConfigError::new("rate", Problem::TooLarge));
        }
        if period_nanos > MAX_SPAN_NANOS as u128 {
            return Err(ConfigError::new("rate", Problem::BelowMinimum));
        }
        Quota::with_period(Duration::from_nanos(period_nanos as u64))
    }

    /// The longest span a quota may stand for, its period times its burst:
    /// 2^62 ns, about 146 years. `Instant`s count `u64` nanoseconds; the
    /// bound leaves any instant of a clock's first 292 years room for two
    /// whole spans (a burst taken, then the booking of the permit after
    /// it), where a longer span would overflow the booked time and refuse
    /// calls for ever.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::{rate::Quota, Problem};
    /// let e = Quota::with_period(Duration::MAX).unwrap_err();
    /// assert_eq!((e.field, e.problem), ("period", Problem::TooLarge));
    /// let a_century = Quota::with_period(Duration::from_secs(100 * 365 * 86_400)).unwrap();
    /// assert_eq!(a_century.with_burst(2).unwrap_err().field, "burst"); // 200 years
    /// ```
    pub const MAX_SPAN: Duration = Duration::from_nanos(MAX_SPAN_NANOS);

    /// One permit every `period`, burst 1.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `period`, `Zero`, if `period` is zero.
    /// - `period`, `TooLarge`, if it is over [`Quota::MAX_SPAN`].
    pub const fn with_period(period: Duration) -> Result<Quota, ConfigError> {
        let period_nanos = duration_nanos(period);
        if period_nanos == 0 {
            return Err(ConfigError::new("period", Problem::Zero));
        }
        if period_nanos > MAX_SPAN_NANOS {
            return Err(ConfigError::new("period", Problem::TooLarge));
        }
        Ok(Quota {
            period_nanos,
            burst: 1,
        })
    }

    /// The same rate allowing `burst` permits at once. Boundary: a request
    /// for exactly `burst` permits can be granted (after a quiet spell);
    /// `burst + 1` never can
    /// ([`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity)).
    /// A rejection's `retry_at` is the exact instant the request is granted:
    /// 1 ns earlier it is still refused.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `burst`, `Zero`, if `burst` is zero.
    /// - `burst`, `TooLarge`, if `period * burst` is over
    ///   [`Quota::MAX_SPAN`].
    pub const fn with_burst(self, burst: u32) -> Result<Quota, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::new("burst", Problem::Zero));
        }
        match self.period_nanos.checked_mul(burst as u64) {
            Some(span) if span <= MAX_SPAN_NANOS => {}
            _ => return Err(ConfigError::new("burst", Problem::TooLarge)),
        }
        Ok(Quota {
            period_nanos: self.period_nanos,
            burst,
        })
    }

    /// Time between permits.
    pub const fn period(&self) -> Duration {
        Duration::from_nanos(self.period_nanos)
    }

    /// Permits allowed at once.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// The span a full burst stands for (`period * burst`), saturating.
    const fn tolerance_nanos(&self) -> u64 {
        self.period_nanos.saturating_mul(self.burst as u64)
    }
}

/// [`Quota::MAX_SPAN`] in nanoseconds.
const MAX_SPAN_NANOS: u64 = 1 << 62;

/// How a [`QuotaBuilder`] was given its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Rate {
    Unset,
    Per(u32, Duration),
    Period(Duration),
}

/// Builds a [`Quota`], naming the rate and the burst; from
/// [`Quota::builder`]. The rate is required (the last one given counts);
/// the burst defaults to 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct QuotaBuilder {
    rate: Rate,
    burst: u32,
}

impl QuotaBuilder {
    /// `n` permits per second ([`Quota::per_second`]).
    pub const fn per_second(self, n: u32) -> Self {
        self.per(n, Duration::from_secs(1))
    }

    /// `n` permits per minute ([`Quota::per_minute`]).
    pub const fn per_minute(self, n: u32) -> Self {
        self.per(n, Duration::from_secs(60))
    }

    /// `n` permits per `span` ([`Quota::per`]).
    pub const fn per(mut self, n: u32, span: Duration) -> Self {
        self.rate = Rate::Per(n, span);
        self
    }

    /// One permit every `period` ([`Quota::with_period`]).
    pub const fn period(mut self, period: Duration) -> Self {
        self.rate = Rate::Period(period);
        self
    }

    /// Up to `burst` permits at once after a quiet spell
    /// ([`Quota::with_burst`]). Default 1.
    pub const fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Checks the rate, then the burst, and returns the quota.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `rate`, `Missing`, if no rate was given; otherwise
    ///   as [`Quota::per`] (`rate` or `per`) or [`Quota::with_period`]
    ///   (`period`).
    /// - Then as [`Quota::with_burst`] (`burst`).
    pub const fn build(self) -> Result<Quota, ConfigError> {
        let quota = match self.rate {
            Rate::Unset => return Err(ConfigError::new("rate", Problem::Missing)),
            Rate::Per(n, span) => Quota::per(n, span),
            Rate::Period(period) => Quota::with_period(period),
        };
        match quota {
            Ok(quota) => quota.with_burst(self.burst),
            Err(e) => Err(e),
        }
    }
}

const fn rate_limited(retry_at: Instant) -> Rejected {
    Rejected::new(RejectReason::RateLimited, Some(retry_at))
}

/// More permits than the limiter can ever grant at once: never.
const fn insufficient() -> Rejected {
    Rejected::never(RejectReason::RateInsufficientCapacity)
}
