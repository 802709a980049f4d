//! Validated bulkhead configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

/// How a bulkhead admits calls, validated. Build one with
/// [`BulkheadConfig::builder`]; the builder is `const`, so a firmware
/// bulkhead's configuration is checked at compile time.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::bulkhead::BulkheadConfig;
///
/// const CONFIG: BulkheadConfig = failsafe_core::checked(BulkheadConfig::builder()
///     .max_concurrent(4)
///     .max_wait(Duration::from_millis(50))
///     .build()); // a bad value here is a compile error naming the field
/// assert_eq!(CONFIG.max_concurrent(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BulkheadConfig {
    pub(crate) max_concurrent: u32,
    pub(crate) max_wait_nanos: u64,
}

impl BulkheadConfig {
    /// The defaults: 25 concurrent calls (resilience4j's default), no waiting
    /// (Failsafe for Java's default).
    pub const DEFAULT: BulkheadConfig = crate::checked(BulkheadConfig::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// assert_eq!(BulkheadConfig::builder().build(), Ok(BulkheadConfig::default()));
    /// ```
    pub const fn builder() -> BulkheadConfigBuilder {
        BulkheadConfigBuilder {
            max_concurrent: 25,
            max_wait: Duration::ZERO,
        }
    }

    /// The most calls ever in flight at once: a fixed bulkhead's limit, and
    /// the ceiling over any limit set by hand or by an adaptive algorithm.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// assert_eq!(BulkheadConfig::DEFAULT.max_concurrent(), 25);
    /// ```
    pub const fn max_concurrent(&self) -> u32 {
        self.max_concurrent
    }

    /// How long a caller may wait in the queue for a slot (zero: never wait).
    ///
    /// ```
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// assert!(BulkheadConfig::DEFAULT.max_wait().is_zero());
    /// ```
    pub const fn max_wait(&self) -> Duration {
        Duration::from_nanos(self.max_wait_nanos)
    }
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Builds a [`BulkheadConfig`]; every setter is `const`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `max_concurrent` | 25 | calls in flight at once (the ceiling for an adaptive limit) |
/// | `max_wait` | zero | how long a caller may queue for a slot; zero never queues |
///
/// The queue's capacity is not a setting: it is the bulkhead's type
/// parameter `Q`, so its memory is fixed at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct BulkheadConfigBuilder {
    max_concurrent: u32,
    max_wait: Duration,
}

impl BulkheadConfigBuilder {
    /// At most this many calls in flight at once (at least 1). With an
    /// adaptive algorithm this is a hard ceiling over whatever it computes:
    /// raise it to the algorithm's maximum to let the algorithm roam.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// let c = BulkheadConfig::builder().max_concurrent(200).build().unwrap();
    /// assert_eq!(c.max_concurrent(), 200);
    /// ```
    ///
    /// Boundary: exactly `calls` calls may be in flight at once; the next one
    /// waits or is rejected.
    pub const fn max_concurrent(mut self, calls: u32) -> Self {
        self.max_concurrent = calls;
        self
    }

    /// A caller finding every slot taken may wait this long in the queue
    /// (FIFO) before it is rejected with
    /// [`BulkheadWaitExpired`](crate::RejectReason::BulkheadWaitExpired).
    /// [`Duration::ZERO`] never waits; [`Duration::MAX`] waits forever.
    ///
    /// Boundaries: a waiter queued at `t` has expired at exactly
    /// `t + max_wait` (a slot freed at that same instant does not go to it;
    /// one freed 1 ns earlier does). The queue of a `Bulkhead<Q>` holds
    /// exactly `Q` callers: the `Q`-th queues, the next is rejected with
    /// [`BulkheadQueueFull`](crate::RejectReason::BulkheadQueueFull).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// let c = BulkheadConfig::builder().max_wait(Duration::from_millis(20)).build().unwrap();
    /// assert_eq!(c.max_wait(), Duration::from_millis(20));
    /// ```
    pub const fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Checks every field and returns the configuration, or the first error.
    ///
    /// ```
    /// # use failsafe_core::bulkhead::BulkheadConfig;
    /// let e = BulkheadConfig::builder().max_concurrent(0).build();
    /// assert_eq!(e.unwrap_err().to_string(), "invalid `max_concurrent`: must be greater than zero");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `max_concurrent`, `Zero`, if `max_concurrent` is
    ///   zero (the only check).
    pub const fn build(self) -> Result<BulkheadConfig, ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::new("max_concurrent", Problem::Zero));
        }
        Ok(BulkheadConfig {
            max_concurrent: self.max_concurrent,
            max_wait_nanos: duration_nanos(self.max_wait),
        })
    }
}
