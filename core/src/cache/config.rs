//! Validated cache configuration.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Problem};

/// How long entries stay fresh and what the cache does around expiry,
/// validated. Build one with [`CacheConfig::builder`]; the builder is
/// `const`, so a firmware cache's configuration is checked at compile time.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::CacheConfig;
///
/// const CONFIG: CacheConfig = failsafe_core::checked(CacheConfig::builder()
///     .time_to_live(Duration::from_secs(60))
///     .max_stale(Duration::from_secs(300))
///     .build());
/// assert_eq!(CONFIG.time_to_live(), Some(Duration::from_secs(60)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CacheConfig {
    /// Nanoseconds; `u64::MAX`: no TTL.
    pub(crate) ttl: u64,
    /// Nanoseconds; `u64::MAX`: no time-to-idle.
    pub(crate) tti: u64,
    /// Nanoseconds; 0: stale-on-error off.
    pub(crate) max_stale: u64,
    /// Nanoseconds; 0: refresh-ahead off.
    pub(crate) refresh_ahead: u64,
    /// Nanoseconds; 0: failures are not cached.
    pub(crate) negative_ttl: u64,
}

impl CacheConfig {
    /// The defaults: entries never expire, nothing stale is served, no
    /// refresh-ahead, no negative caching (see [`CacheConfigBuilder`]).
    pub const DEFAULT: CacheConfig = crate::checked(CacheConfig::builder().build());

    /// A builder holding the defaults.
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert_eq!(CacheConfig::builder().build(), Ok(CacheConfig::DEFAULT));
    /// ```
    pub const fn builder() -> CacheConfigBuilder {
        CacheConfigBuilder {
            time_to_live: None,
            time_to_idle: None,
            max_stale: Duration::ZERO,
            refresh_ahead: None,
            negative_ttl: None,
        }
    }

    /// The cache-wide time-to-live (`None`: entries never expire by age).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert_eq!(CacheConfig::DEFAULT.time_to_live(), None);
    /// ```
    pub const fn time_to_live(&self) -> Option<Duration> {
        optional(self.ttl)
    }

    /// The time-to-idle (`None`: entries never expire for lack of use).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert_eq!(CacheConfig::DEFAULT.time_to_idle(), None);
    /// ```
    pub const fn time_to_idle(&self) -> Option<Duration> {
        optional(self.tti)
    }

    /// How long past its expiry an entry may still be served when the loader
    /// fails (zero: stale-on-error is off).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert!(CacheConfig::DEFAULT.max_stale().is_zero());
    /// ```
    pub const fn max_stale(&self) -> Duration {
        Duration::from_nanos(self.max_stale)
    }

    /// How long before its time-to-live ends an entry asks for a refresh
    /// (`None`: refresh-ahead is off).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert_eq!(CacheConfig::DEFAULT.refresh_ahead(), None);
    /// ```
    pub const fn refresh_ahead(&self) -> Option<Duration> {
        if self.refresh_ahead == 0 {
            None
        } else {
            Some(Duration::from_nanos(self.refresh_ahead))
        }
    }

    /// How long a recorded failure is served as a failure (`None`: failures
    /// are not cached).
    ///
    /// ```
    /// # use failsafe_core::cache::CacheConfig;
    /// assert_eq!(CacheConfig::DEFAULT.negative_ttl(), None);
    /// ```
    pub const fn negative_ttl(&self) -> Option<Duration> {
        if self.negative_ttl == 0 {
            None
        } else {
            Some(Duration::from_nanos(self.negative_ttl))
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::DEFAULT
    }
}

const fn optional(nanos: u64) -> Option<Duration> {
    if nanos == u64::MAX {
        None
    } else {
        Some(Duration::from_nanos(nanos))
    }
}

/// Builds a [`CacheConfig`]. Every setting is optional:
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`time_to_live`](Self::time_to_live) | none | an entry is fresh for this long after its insertion (moka's `time_to_live`); an entry's own TTL ([`Cache::insert_with_ttl`](super::Cache::insert_with_ttl)) overrides it |
/// | [`time_to_idle`](Self::time_to_idle) | none | an entry also expires this long after its last hit (moka's `time_to_idle`) |
/// | [`max_stale`](Self::max_stale) | zero (off) | an expired value may be served for less than this long past its expiry **if the loader fails** (HTTP's `stale-if-error`, RFC 5861) |
/// | [`refresh_ahead`](Self::refresh_ahead) | none | once a hit lands within this margin of the entry's time-to-live, one caller is told to refresh it and waits for the refresh, while the others are answered from the cache (Coherence's refresh-ahead; Caffeine's `refreshAfterWrite` answers that caller with the old value too and refreshes in the background, which needs a task of its own) |
/// | [`negative_ttl`](Self::negative_ttl) | none | a failed load recorded with [`Cache::insert_failure`](super::Cache::insert_failure) is served as a failure for this long |
///
/// Boundaries: an entry is fresh strictly before its expiry (`now <
/// expiry`), stale while `expiry <= now < expiry + max_stale`, and gone
/// from `expiry + max_stale` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a builder does nothing until `build()`"]
pub struct CacheConfigBuilder {
    time_to_live: Option<Duration>,
    time_to_idle: Option<Duration>,
    max_stale: Duration,
    refresh_ahead: Option<Duration>,
    negative_ttl: Option<Duration>,
}

impl CacheConfigBuilder {
    /// Entries are fresh for `ttl` after their insertion.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let c = CacheConfig::builder().time_to_live(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(c.time_to_live(), Some(Duration::from_secs(5)));
    /// ```
    pub const fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Entries expire `tti` after their last hit (or insertion).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let c = CacheConfig::builder().time_to_idle(Duration::from_secs(5)).build().unwrap();
    /// assert_eq!(c.time_to_idle(), Some(Duration::from_secs(5)));
    /// ```
    pub const fn time_to_idle(mut self, tti: Duration) -> Self {
        self.time_to_idle = Some(tti);
        self
    }

    /// Serve an expired value for less than `max_stale` past its expiry when
    /// the loader fails (zero turns it off).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let c = CacheConfig::builder().max_stale(Duration::from_secs(60)).build().unwrap();
    /// assert_eq!(c.max_stale(), Duration::from_secs(60));
    /// ```
    pub const fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Tell one caller to refresh an entry once a hit lands within `margin`
    /// of its time-to-live.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let c = CacheConfig::builder()
    ///     .time_to_live(Duration::from_secs(60))
    ///     .refresh_ahead(Duration::from_secs(10))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(c.refresh_ahead(), Some(Duration::from_secs(10)));
    /// ```
    pub const fn refresh_ahead(mut self, margin: Duration) -> Self {
        self.refresh_ahead = Some(margin);
        self
    }

    /// Cache failures recorded with [`Cache::insert_failure`](super::Cache::insert_failure)
    /// for `ttl`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let c = CacheConfig::builder().negative_ttl(Duration::from_secs(1)).build().unwrap();
    /// assert_eq!(c.negative_ttl(), Some(Duration::from_secs(1)));
    /// ```
    pub const fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// Validates the settings.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::cache::CacheConfig;
    /// let err = CacheConfig::builder().time_to_live(Duration::ZERO).build().unwrap_err();
    /// assert_eq!(err.field, "time_to_live");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad field, in this order:
    /// - `time_to_live`, `time_to_idle`, `negative_ttl`:
    ///   [`Problem::Zero`] if set to zero;
    /// - `refresh_ahead`: [`Problem::Zero`] if zero,
    ///   [`Problem::NothingEnabled`] without a `time_to_live` (it counts
    ///   back from the TTL), [`Problem::TooLarge`] if not shorter than the
    ///   `time_to_live` (every hit would refresh).
    pub const fn build(self) -> Result<CacheConfig, ConfigError> {
        let ttl = match self.time_to_live {
            Some(d) if d.is_zero() => return Err(ConfigError::new("time_to_live", Problem::Zero)),
            Some(d) => duration_nanos(d),
            None => u64::MAX,
        };
        let tti = match self.time_to_idle {
            Some(d) if d.is_zero() => return Err(ConfigError::new("time_to_idle", Problem::Zero)),
            Some(d) => duration_nanos(d),
            None => u64::MAX,
        };
        let negative_ttl = match self.negative_ttl {
            Some(d) if d.is_zero() => return Err(ConfigError::new("negative_ttl", Problem::Zero)),
            Some(d) => duration_nanos(d),
            None => 0,
        };
        let refresh_ahead = match self.refresh_ahead {
            Some(d) if d.is_zero() => {
                return Err(ConfigError::new("refresh_ahead", Problem::Zero));
            }
            Some(_) if self.time_to_live.is_none() => {
                return Err(ConfigError::new("refresh_ahead", Problem::NothingEnabled));
            }
            Some(d) if duration_nanos(d) >= ttl => {
                return Err(ConfigError::new("refresh_ahead", Problem::TooLarge));
            }
            Some(d) => duration_nanos(d),
            None => 0,
        };
        Ok(CacheConfig {
            ttl,
            tti,
            max_stale: duration_nanos(self.max_stale),
            refresh_ahead,
            negative_ttl,
        })
    }
}
