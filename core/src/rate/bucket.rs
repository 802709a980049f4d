//! The token bucket: a capacity refilled by a fixed amount every period.

use core::time::Duration;

use super::{insufficient, rate_limited};
use crate::time::{Monotonic, duration_nanos};
use crate::{ConfigError, Instant, Problem, Rejected};

/// A bucket of `capacity` tokens, refilled with `refill` tokens every
/// `period` (in whole steps, unlike [`Gcra`](super::Gcra)'s continuous
/// refill). Starts full.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::TokenBucket;
/// use failsafe_core::Instant;
///
/// // 10 tokens, 5 more every second
/// let mut b = TokenBucket::new(10, 5, Duration::from_secs(1)).unwrap();
/// assert!(b.acquire(Instant::ZERO, 10).is_ok());
/// let r = b.acquire(Instant::from_millis(400), 3).unwrap_err();
/// assert_eq!(r.retry_at, Some(Instant::from_secs(1)));
/// assert!(b.acquire(Instant::from_secs(1), 5).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenBucket {
    pub(crate) capacity: u64,
    pub(crate) refill: u64,
    period_nanos: u64,
    tokens: u64,
    /// The last refill step taken, in periods since the epoch.
    step: u64,
    clock: Monotonic,
}

/// Builds a [`TokenBucket`], naming each field; from
/// [`TokenBucket::builder`]. Every field is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenBucketBuilder {
    capacity: Option<u32>,
    refill: Option<u32>,
    period: Option<Duration>,
}

impl TokenBucketBuilder {
    /// Tokens when full (and at the start).
    pub const fn capacity(mut self, tokens: u32) -> Self {
        self.capacity = Some(tokens);
        self
    }

    /// Tokens added every `period`.
    pub const fn refill(mut self, tokens: u32) -> Self {
        self.refill = Some(tokens);
        self
    }

    /// Time between refills.
    pub const fn period(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// Checks the fields and returns a full bucket.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] `capacity`, `refill` or `period` (in that order),
    /// `Missing`, if it was never set; then as [`TokenBucket::new`]: the
    /// same fields, `Zero`, if it is zero.
    pub const fn build(self) -> Result<TokenBucket, ConfigError> {
        match (self.capacity, self.refill, self.period) {
            (Some(capacity), Some(refill), Some(period)) => {
                TokenBucket::new(capacity, refill, period)
            }
            (None, _, _) => Err(ConfigError::new("capacity", Problem::Missing)),
            (_, None, _) => Err(ConfigError::new("refill", Problem::Missing)),
            (_, _, None) => Err(ConfigError::new("period", Problem::Missing)),
        }
    }
}

impl TokenBucket {
    /// The latest `now` seen (the clock contract's floor).
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
    /// A builder naming each field (all three required). `const`:
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::checked;
    /// use failsafe_core::rate::TokenBucket;
    ///
    /// // 10 tokens, 5 more every second
    /// const BUCKET: TokenBucket = checked(
    ///     TokenBucket::builder()
    ///         .capacity(10)
    ///         .refill(5)
    ///         .period(Duration::from_secs(1))
    ///         .build(),
    /// );
    /// assert_eq!(Ok(BUCKET), TokenBucket::new(10, 5, Duration::from_secs(1)));
    /// assert_eq!(TokenBucket::builder().capacity(10).build().unwrap_err().field, "refill");
    /// ```
    pub const fn builder() -> TokenBucketBuilder {
        TokenBucketBuilder {
            capacity: None,
            refill: None,
            period: None,
        }
    }

    /// A full bucket. `capacity`, `refill` and `period` must be non-zero.
    /// The same as [`builder`](Self::builder), which names them.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::TokenBucket;
    /// assert_eq!(TokenBucket::new(0, 1, Duration::from_secs(1)).unwrap_err().field, "capacity");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `capacity`, `refill` or `period` (checked in that
    ///   order), `Zero`, if it is zero.
    pub const fn new(
        capacity: u32,
        refill: u32,
        period: Duration,
    ) -> Result<TokenBucket, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", Problem::Zero));
        }
        if refill == 0 {
            return Err(ConfigError::new("refill", Problem::Zero));
        }
        let period_nanos = duration_nanos(period);
        if period_nanos == 0 {
            return Err(ConfigError::new("period", Problem::Zero));
        }
        Ok(TokenBucket {
            capacity: capacity as u64,
            refill: refill as u64,
            period_nanos,
            tokens: capacity as u64,
            step: 0,
            clock: Monotonic::new(),
        })
    }

    fn refill_to(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        let step = now.as_nanos() / self.period_nanos;
        if step > self.step {
            let added = (step - self.step).saturating_mul(self.refill);
            self.tokens = self.tokens.saturating_add(added).min(self.capacity);
            self.step = step;
        }
    }

    /// Takes `n` tokens at `now`, or says when enough will have been refilled.
    /// Refills land at whole multiples of `period` counted from
    /// `Instant::ZERO`, that instant included: `retry_at` is such an instant,
    /// and a request at exactly it gets the tokens. Exactly `capacity` tokens
    /// can be taken at once; more never can.
    ///
    /// # Errors
    ///
    /// - [`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity),
    ///   [`Rejected::never`], if `n` exceeds `capacity`.
    /// - [`RateLimited`](crate::RejectReason::RateLimited), `retry_at` the
    ///   refill instant that brings enough tokens (saturating at
    ///   `Instant::MAX`, never), if too few tokens are left.
    pub fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        let n = n as u64;
        // Refilled first: even a request that can never be granted hands
        // in a `now`, which counts as seen (the clock contract).
        self.refill_to(now);
        if n > self.capacity {
            return Err(insufficient());
        }
        if self.tokens >= n {
            self.tokens -= n;
            return Ok(());
        }
        let steps = (n - self.tokens).div_ceil(self.refill);
        let at = self
            .step
            .saturating_add(steps)
            .saturating_mul(self.period_nanos);
        Err(rate_limited(Instant::from_nanos(at)))
    }

    /// Tokens available at `now`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::rate::TokenBucket;
    /// # use failsafe_core::Instant;
    /// let mut b = TokenBucket::new(4, 1, Duration::from_secs(1)).unwrap();
    /// b.acquire(Instant::ZERO, 4).unwrap();
    /// assert_eq!(b.available(Instant::from_millis(2_500)), 2);
    /// ```
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill_to(now);
        self.tokens as u32
    }

    /// Changes capacity and refill at run time; tokens above the new capacity are dropped.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `capacity` or `refill` (checked in that order),
    ///   `Zero`, if it is zero; the bucket is then left unchanged.
    pub fn set_rate(&mut self, capacity: u32, refill: u32) -> Result<(), ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", Problem::Zero));
        }
        if refill == 0 {
            return Err(ConfigError::new("refill", Problem::Zero));
        }
        self.capacity = capacity as u64;
        self.refill = refill as u64;
        self.tokens = self.tokens.min(self.capacity);
        Ok(())
    }

    /// The fill level in `[0, 1]` at `now` (1 = full), for utilization-based retry-after.
    pub fn fill(&mut self, now: Instant) -> f64 {
        self.refill_to(now);
        self.tokens as f64 / self.capacity as f64
    }

    /// The refill period.
    pub const fn period(&self) -> Duration {
        Duration::from_nanos(self.period_nanos)
    }
}
