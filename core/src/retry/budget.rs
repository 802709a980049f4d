//! Retry budgets shared across calls: they cap how much extra load retries
//! may add, so a struggling dependency is not finished off by its clients.
//! An exhausted budget makes a call give up at once; it never blocks.

use core::time::Duration;

use crate::sliding::SlidingCounts;
use crate::time::Monotonic;
use crate::{ConfigError, Instant, Problem};

/// What kind of failure an attempt ended with; budgets may price them differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FailureKind {
    /// An ordinary error.
    Error,
    /// The attempt timed out.
    Timeout,
    /// The dependency said it is overloaded (HTTP 429/503, gRPC RESOURCE_EXHAUSTED).
    Throttled,
}

/// A budget for retries, fed by every call that uses it.
pub trait RetryBudget {
    /// A call's first attempt is about to start.
    fn on_call(&mut self, now: Instant);
    /// An attempt succeeded; `retried_after` is the failure it retried, if it was a retry.
    fn on_success(&mut self, now: Instant, retried_after: Option<FailureKind>);
    /// An attempt failed.
    fn on_failure(&mut self, now: Instant, kind: FailureKind);
    /// May one more retry be made after a failure of `kind`? Takes its cost if so.
    fn try_retry(&mut self, now: Instant, kind: FailureKind) -> bool;

    /// Whether this budget reads the `now` it is handed. A budget that
    /// does not ([`NoBudget`]) lets a retry plan start its first attempt,
    /// and end it with a success, without reading the clock. Yes by
    /// default.
    ///
    /// ```
    /// use failsafe_core::retry::{NoBudget, RatioBudget, RetryBudget};
    /// assert!(!NoBudget::uses_time());
    /// assert!(RatioBudget::<10>::uses_time());
    /// ```
    #[inline(always)]
    fn uses_time() -> bool
    where
        Self: Sized,
    {
        true
    }

    /// Whether this budget keeps no state and grants every retry (what
    /// [`NoBudget`] is): a retry plan then never locks it, not even to
    /// count a call. No by default.
    ///
    /// ```
    /// use failsafe_core::retry::{NoBudget, RatioBudget, RetryBudget};
    /// assert!(NoBudget::is_unlimited());
    /// assert!(!RatioBudget::<10>::is_unlimited());
    /// ```
    #[inline(always)]
    fn is_unlimited() -> bool
    where
        Self: Sized,
    {
        false
    }
}

impl<B: RetryBudget + ?Sized> RetryBudget for &mut B {
    fn on_call(&mut self, now: Instant) {
        (**self).on_call(now)
    }
    fn on_success(&mut self, now: Instant, retried_after: Option<FailureKind>) {
        (**self).on_success(now, retried_after)
    }
    fn on_failure(&mut self, now: Instant, kind: FailureKind) {
        (**self).on_failure(now, kind)
    }
    fn try_retry(&mut self, now: Instant, kind: FailureKind) -> bool {
        (**self).try_retry(now, kind)
    }
}

/// No budget: every retry the policy allows is made.
///
/// ```
/// use failsafe_core::retry::{FailureKind, NoBudget, RetryBudget};
/// assert!(NoBudget.try_retry(failsafe_core::Instant::ZERO, FailureKind::Error));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoBudget;

impl RetryBudget for NoBudget {
    fn on_call(&mut self, _now: Instant) {}
    fn on_success(&mut self, _now: Instant, _retried_after: Option<FailureKind>) {}
    fn on_failure(&mut self, _now: Instant, _kind: FailureKind) {}
    fn try_retry(&mut self, _now: Instant, _kind: FailureKind) -> bool {
        true
    }
    #[inline(always)]
    fn uses_time() -> bool {
        false
    }
    #[inline(always)]
    fn is_unlimited() -> bool {
        true
    }
}

/// Retries may be at most `ratio` of the calls of the last `ttl`, plus a
/// floor of `min_per_sec` retries per second so a quiet client can still
/// retry (tower's `TpsBudget` idea: 10 s, 20%, 10/s by default).
///
/// Counted in `B` buckets of `ttl / B`: over every window of `B` buckets,
/// `retries <= ratio * calls + min_per_sec * ttl`.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::retry::{FailureKind, RatioBudget, RetryBudget};
/// use failsafe_core::Instant;
///
/// let mut budget = RatioBudget::<10>::new(Duration::from_secs(10), 0.2, 0).unwrap();
/// for _ in 0..10 { budget.on_call(Instant::ZERO); }
/// assert!(budget.try_retry(Instant::ZERO, FailureKind::Error));
/// assert!(budget.try_retry(Instant::ZERO, FailureKind::Error));
/// assert!(!budget.try_retry(Instant::ZERO, FailureKind::Error)); // 20% of 10 calls
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RatioBudget<const B: usize> {
    /// calls, retries
    pub(crate) counts: SlidingCounts<B, 2>,
    pub(crate) ratio_ppm: u64,
    pub(crate) floor: u64,
    /// The `min_per_sec` it was built with (the floor is `min_per_sec * ttl`).
    pub(crate) min_per_sec: u32,
    clock: Monotonic,
}

impl<const B: usize> RatioBudget<B> {
    /// A builder naming each field, holding tower's `TpsBudget` defaults
    /// (`ttl` 10 s, `ratio` 0.2, `min_per_sec` 10). `const`, for a budget
    /// in a `static`:
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::retry::RatioBudget;
    /// use failsafe_core::{checked, Instant};
    ///
    /// const BUDGET: RatioBudget<10> = checked(
    ///     RatioBudget::builder()
    ///         .ttl(Duration::from_secs(10))
    ///         .ratio(0.2)
    ///         .min_per_sec(1)
    ///         .build(),
    /// );
    /// let mut budget = BUDGET;
    /// assert_eq!(budget.remaining(Instant::ZERO), 10); // the floor: 1/s over 10 s
    /// assert_eq!(RatioBudget::<10>::builder().build(), RatioBudget::new(Duration::from_secs(10), 0.2, 10));
    /// ```
    pub const fn builder() -> RatioBudgetBuilder<B> {
        RatioBudgetBuilder {
            ttl: Duration::from_secs(10),
            ratio: 0.2,
            min_per_sec: 10,
        }
    }

    /// A budget over `ttl` allowing `ratio` (in `[0, 1000]`, 0.2 = 20%) retries
    /// per call plus `min_per_sec` retries per second. The same as
    /// [`builder`](Self::builder) with the three fields set.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::RatioBudget;
    /// assert_eq!(RatioBudget::<10>::new(Duration::ZERO, 0.2, 10).unwrap_err().field, "ttl");
    /// assert_eq!(RatioBudget::<10>::new(Duration::from_secs(1), -1.0, 10).unwrap_err().field, "ratio");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `ratio`, `BelowMinimum` if it is NaN or negative,
    ///   `TooLarge` if above 1000; then `ttl`, `Zero`, if it is shorter
    ///   than `B` nanoseconds.
    pub const fn new(ttl: Duration, ratio: f64, min_per_sec: u32) -> Result<Self, ConfigError> {
        if ratio.is_nan() || ratio < 0.0 {
            return Err(ConfigError::new("ratio", Problem::BelowMinimum));
        }
        if ratio > 1000.0 {
            return Err(ConfigError::new("ratio", Problem::TooLarge));
        }
        let counts = match SlidingCounts::new("ttl", ttl) {
            Ok(c) => c,
            Err(e) => return Err(e),
        };
        Ok(RatioBudget {
            counts,
            ratio_ppm: (ratio * 1_000_000.0 + 0.5) as u64,
            floor: (min_per_sec as f64 * ttl.as_secs_f64()) as u64,
            min_per_sec,
            clock: Monotonic::new(),
        })
    }

    /// Retries still allowed at `now`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::RatioBudget;
    /// # use failsafe_core::Instant;
    /// let mut b = RatioBudget::<10>::new(Duration::from_secs(10), 0.2, 10).unwrap();
    /// assert_eq!(b.remaining(Instant::ZERO), 100); // the floor: 10/s over 10 s
    /// ```
    pub fn remaining(&mut self, now: Instant) -> u64 {
        let now = self.clock.observe(now);
        let [calls, retries] = self.counts.sums(now);
        // u128 and saturation: a huge ttl or floor must not overflow.
        let by_ratio = u128::from(calls) * u128::from(self.ratio_ppm) / 1_000_000;
        let allowed = u64::try_from(by_ratio)
            .unwrap_or(u64::MAX)
            .saturating_add(self.floor);
        allowed.saturating_sub(retries)
    }
}

/// Builds a [`RatioBudget`], naming each field; from
/// [`RatioBudget::builder`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RatioBudgetBuilder<const B: usize> {
    ttl: Duration,
    ratio: f64,
    min_per_sec: u32,
}

impl<const B: usize> RatioBudgetBuilder<B> {
    /// The span the calls and retries are counted over (at least `B`
    /// nanoseconds). Default 10 s.
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Retries allowed per call, in `[0, 1000]` (0.2 = 20%). Default 0.2.
    pub const fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries per second allowed whatever the calls (a quiet client may
    /// still retry). Default 10.
    pub const fn min_per_sec(mut self, min_per_sec: u32) -> Self {
        self.min_per_sec = min_per_sec;
        self
    }

    /// Checks the fields and returns the budget.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::retry::RatioBudget;
    /// let e = RatioBudget::<10>::builder().ratio(f64::NAN).build().unwrap_err();
    /// assert_eq!(e.field, "ratio");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`RatioBudget::new`]: `ratio`, then `ttl`.
    pub const fn build(self) -> Result<RatioBudget<B>, ConfigError> {
        RatioBudget::new(self.ttl, self.ratio, self.min_per_sec)
    }
}

impl<const B: usize> RetryBudget for RatioBudget<B> {
    fn on_call(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        self.counts.add(now, [1, 0]);
    }
    fn on_success(&mut self, _now: Instant, _retried_after: Option<FailureKind>) {}
    fn on_failure(&mut self, _now: Instant, _kind: FailureKind) {}
    fn try_retry(&mut self, now: Instant, _kind: FailureKind) -> bool {
        if self.remaining(now) == 0 {
            return false;
        }
        let now = self.clock.latest();
        self.counts.add(now, [0, 1]);
        true
    }
}

/// A token bucket of retry permission (AWS SDK "standard" retry quota):
/// a retry costs tokens (more for timeouts), a successful retry refunds its
/// cost, a success at the first attempt adds a little back.
///
/// ```
/// use failsafe_core::retry::{FailureKind, RetryBudget, TokenQuota};
/// use failsafe_core::Instant;
///
/// let mut quota = TokenQuota::AWS_STANDARD;
/// let t = Instant::ZERO;
/// assert!(quota.try_retry(t, FailureKind::Timeout)); // 500 - 10
/// assert_eq!(quota.tokens(), 490);
/// quota.on_success(t, Some(FailureKind::Timeout)); // refunded
/// assert_eq!(quota.tokens(), 500);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenQuota {
    pub(crate) capacity: u32,
    tokens: u32,
    pub(crate) error_cost: u32,
    pub(crate) timeout_cost: u32,
    pub(crate) throttle_cost: u32,
    pub(crate) first_try_refund: u32,
}

impl TokenQuota {
    /// AWS standard mode: 500 tokens, a retry costs 5 (10 after a timeout),
    /// a success at the first attempt adds 1.
    pub const AWS_STANDARD: TokenQuota = crate::checked(TokenQuota::new(500, 5, 10, 5, 1));
    /// AWS's 2026 rules: a retry after a non-throttling error costs 14, after
    /// throttling 5.
    pub const AWS_2026: TokenQuota = crate::checked(TokenQuota::new(500, 14, 14, 5, 1));

    /// A builder naming each field, holding [`AWS_STANDARD`](Self::AWS_STANDARD)'s
    /// values (`capacity` 500, `error_cost` 5, `timeout_cost` 10,
    /// `throttle_cost` 5, `first_try_refund` 1). `const`, for a quota in a
    /// `static`:
    ///
    /// ```
    /// use failsafe_core::retry::{FailureKind, RetryBudget, TokenQuota};
    /// use failsafe_core::{checked, Instant};
    ///
    /// const QUOTA: TokenQuota = checked(
    ///     TokenQuota::builder()
    ///         .capacity(100)
    ///         .error_cost(5)
    ///         .timeout_cost(10)
    ///         .throttle_cost(5)
    ///         .first_try_refund(1)
    ///         .build(),
    /// );
    /// let mut quota = QUOTA;
    /// assert!(quota.try_retry(Instant::ZERO, FailureKind::Timeout));
    /// assert_eq!(quota.tokens(), 90);
    /// assert_eq!(TokenQuota::builder().build(), Ok(TokenQuota::AWS_STANDARD));
    /// ```
    pub const fn builder() -> TokenQuotaBuilder {
        TokenQuotaBuilder {
            capacity: 500,
            error_cost: 5,
            timeout_cost: 10,
            throttle_cost: 5,
            first_try_refund: 1,
        }
    }

    /// A full quota of `capacity` tokens with these costs, in this order
    /// (the same as [`builder`](Self::builder), which names them).
    ///
    /// ```
    /// # use failsafe_core::retry::TokenQuota;
    /// assert_eq!(TokenQuota::new(0, 5, 10, 5, 1).unwrap_err().field, "capacity");
    /// assert_eq!(TokenQuota::new(10, 11, 1, 1, 1).unwrap_err().field, "error_cost");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `capacity`, `Zero`, if `capacity` is zero; then
    ///   `error_cost`, `timeout_cost`, `throttle_cost` (in that order),
    ///   `TooLarge`, if it exceeds `capacity`.
    pub const fn new(
        capacity: u32,
        error_cost: u32,
        timeout_cost: u32,
        throttle_cost: u32,
        first_try_refund: u32,
    ) -> Result<Self, ConfigError> {
        if capacity == 0 {
            return Err(ConfigError::new("capacity", Problem::Zero));
        }
        if error_cost > capacity {
            return Err(ConfigError::new("error_cost", Problem::TooLarge));
        }
        if timeout_cost > capacity {
            return Err(ConfigError::new("timeout_cost", Problem::TooLarge));
        }
        if throttle_cost > capacity {
            return Err(ConfigError::new("throttle_cost", Problem::TooLarge));
        }
        Ok(TokenQuota {
            capacity,
            tokens: capacity,
            error_cost,
            timeout_cost,
            throttle_cost,
            first_try_refund,
        })
    }

    /// Tokens left.
    pub const fn tokens(&self) -> u32 {
        self.tokens
    }

    const fn cost(&self, kind: FailureKind) -> u32 {
        match kind {
            FailureKind::Error => self.error_cost,
            FailureKind::Timeout => self.timeout_cost,
            FailureKind::Throttled => self.throttle_cost,
        }
    }
}

/// Builds a [`TokenQuota`], naming each field; from [`TokenQuota::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenQuotaBuilder {
    capacity: u32,
    error_cost: u32,
    timeout_cost: u32,
    throttle_cost: u32,
    first_try_refund: u32,
}

impl TokenQuotaBuilder {
    /// Tokens when full (and at the start). Default 500.
    pub const fn capacity(mut self, tokens: u32) -> Self {
        self.capacity = tokens;
        self
    }

    /// Tokens a retry after an ordinary error takes. Default 5.
    pub const fn error_cost(mut self, tokens: u32) -> Self {
        self.error_cost = tokens;
        self
    }

    /// Tokens a retry after a timeout takes. Default 10.
    pub const fn timeout_cost(mut self, tokens: u32) -> Self {
        self.timeout_cost = tokens;
        self
    }

    /// Tokens a retry after a throttling answer (429, 503) takes. Default 5.
    pub const fn throttle_cost(mut self, tokens: u32) -> Self {
        self.throttle_cost = tokens;
        self
    }

    /// Tokens a success at the first attempt gives back. Default 1.
    pub const fn first_try_refund(mut self, tokens: u32) -> Self {
        self.first_try_refund = tokens;
        self
    }

    /// Checks the fields and returns a full quota.
    ///
    /// ```
    /// # use failsafe_core::retry::TokenQuota;
    /// let e = TokenQuota::builder().capacity(10).timeout_cost(11).build().unwrap_err();
    /// assert_eq!(e.field, "timeout_cost");
    /// ```
    ///
    /// # Errors
    ///
    /// As [`TokenQuota::new`]: `capacity` zero; then `error_cost`,
    /// `timeout_cost`, `throttle_cost` above `capacity`.
    pub const fn build(self) -> Result<TokenQuota, ConfigError> {
        TokenQuota::new(
            self.capacity,
            self.error_cost,
            self.timeout_cost,
            self.throttle_cost,
            self.first_try_refund,
        )
    }
}

impl RetryBudget for TokenQuota {
    fn on_call(&mut self, _now: Instant) {}
    fn on_success(&mut self, _now: Instant, retried_after: Option<FailureKind>) {
        let refund = match retried_after {
            Some(kind) => self.cost(kind),
            None => self.first_try_refund,
        };
        self.tokens = self.tokens.saturating_add(refund).min(self.capacity);
    }
    fn on_failure(&mut self, _now: Instant, _kind: FailureKind) {}
    fn try_retry(&mut self, _now: Instant, kind: FailureKind) -> bool {
        let cost = self.cost(kind);
        if self.tokens < cost {
            return false;
        }
        self.tokens -= cost;
        true
    }
}

/// gRPC's retry throttling (proposal A6): tokens start at `max_tokens`; a
/// failure takes 1, a success gives back `token_ratio`; retries are allowed
/// only while more than half the tokens remain. Kept in thousandths, so
/// ratios like 0.1 are exact.
///
/// ```
/// use failsafe_core::retry::{FailureKind, GrpcThrottle, RetryBudget};
/// use failsafe_core::Instant;
///
/// let mut t = GrpcThrottle::new(10, 0.1).unwrap();
/// for _ in 0..5 { t.on_failure(Instant::ZERO, FailureKind::Error); }
/// assert!(!t.try_retry(Instant::ZERO, FailureKind::Error)); // 5 of 10: not more than half
/// t.on_success(Instant::ZERO, None);
/// assert!(t.try_retry(Instant::ZERO, FailureKind::Error)); // 5.1 > 5
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GrpcThrottle {
    pub(crate) max_milli: u32,
    tokens_milli: u32,
    pub(crate) ratio_milli: u32,
}

impl GrpcThrottle {
    /// A builder naming each field. gRPC's service config has no defaults
    /// for these: both must be set (an unset `max_tokens` is an error
    /// naming it, an unset `token_ratio` too). `const`:
    ///
    /// ```
    /// use failsafe_core::checked;
    /// use failsafe_core::retry::GrpcThrottle;
    ///
    /// const THROTTLE: GrpcThrottle = checked(GrpcThrottle::builder().max_tokens(10).token_ratio(0.1).build());
    /// assert_eq!(THROTTLE.tokens_milli(), 10_000);
    /// assert_eq!(GrpcThrottle::builder().max_tokens(10).build().unwrap_err().field, "token_ratio");
    /// ```
    pub const fn builder() -> GrpcThrottleBuilder {
        GrpcThrottleBuilder {
            max_tokens: None,
            token_ratio: None,
        }
    }

    /// `max_tokens` in `1..=1000`, `token_ratio` in `(0, 1]` (gRPC's limits).
    /// The same as [`builder`](Self::builder), which names them.
    ///
    /// ```
    /// # use failsafe_core::retry::GrpcThrottle;
    /// assert_eq!(GrpcThrottle::new(1001, 0.1).unwrap_err().field, "max_tokens");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `max_tokens`, `Zero` if it is zero or `TooLarge` if
    ///   above 1000; then `token_ratio`, `RatioOutOfRange`, if it is NaN or
    ///   outside `(0, 1]`.
    pub const fn new(max_tokens: u32, token_ratio: f64) -> Result<Self, ConfigError> {
        if max_tokens == 0 {
            return Err(ConfigError::new("max_tokens", Problem::Zero));
        }
        if max_tokens > 1000 {
            return Err(ConfigError::new("max_tokens", Problem::TooLarge));
        }
        if token_ratio.is_nan() || token_ratio <= 0.0 || token_ratio > 1.0 {
            return Err(ConfigError::new("token_ratio", Problem::RatioOutOfRange));
        }
        let ratio_milli = (token_ratio * 1000.0 + 0.5) as u32;
        let ratio_milli = if ratio_milli == 0 { 1 } else { ratio_milli };
        Ok(GrpcThrottle {
            max_milli: max_tokens * 1000,
            tokens_milli: max_tokens * 1000,
            ratio_milli,
        })
    }

    /// Tokens left, in thousandths.
    pub const fn tokens_milli(&self) -> u32 {
        self.tokens_milli
    }
}

/// Builds a [`GrpcThrottle`], naming each field; from
/// [`GrpcThrottle::builder`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct GrpcThrottleBuilder {
    max_tokens: Option<u32>,
    token_ratio: Option<f64>,
}

impl GrpcThrottleBuilder {
    /// Tokens when full, in `1..=1000` (gRPC's `maxTokens`). Required.
    pub const fn max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = Some(tokens);
        self
    }

    /// Tokens a success gives back, in `(0, 1]` (gRPC's `tokenRatio`),
    /// kept in thousandths. Required.
    pub const fn token_ratio(mut self, ratio: f64) -> Self {
        self.token_ratio = Some(ratio);
        self
    }

    /// Checks the fields and returns a full throttle.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] `max_tokens`, then `token_ratio`, `Missing`, if it
    /// was never set; then as [`GrpcThrottle::new`]: `max_tokens` zero or
    /// above 1000; then `token_ratio` NaN or outside `(0, 1]`.
    pub const fn build(self) -> Result<GrpcThrottle, ConfigError> {
        match (self.max_tokens, self.token_ratio) {
            (Some(tokens), Some(ratio)) => GrpcThrottle::new(tokens, ratio),
            (None, _) => Err(ConfigError::new("max_tokens", Problem::Missing)),
            (_, None) => Err(ConfigError::new("token_ratio", Problem::Missing)),
        }
    }
}

impl RetryBudget for GrpcThrottle {
    fn on_call(&mut self, _now: Instant) {}
    fn on_success(&mut self, _now: Instant, _retried_after: Option<FailureKind>) {
        self.tokens_milli = (self.tokens_milli + self.ratio_milli).min(self.max_milli);
    }
    fn on_failure(&mut self, _now: Instant, _kind: FailureKind) {
        self.tokens_milli = self.tokens_milli.saturating_sub(1000);
    }
    fn try_retry(&mut self, _now: Instant, _kind: FailureKind) -> bool {
        self.tokens_milli > self.max_milli / 2
    }
}
