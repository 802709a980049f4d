//! The global rate limit: the core's GCRA applied by Redis to one key, with
//! optional leasing.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use failsafe_core::rate::shared::{Lease, check_batch};
use failsafe_core::rate::{AtomicGcra, Quota};
use failsafe_core::{ConfigError, Instant, Problem, RejectReason, Rejected};
use failsafe_tokio::{Clock, TokioClock};

use crate::store::{
    LUA_MAX_US, OnStoreError, SetupError, Store, StoreError, StoreEvent, now_arg, past_lua_range,
    whole_micros,
};

/// How a permit was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Admitted {
    /// By the store, in this call's round trip.
    Shared,
    /// From the instance's lease: no store call.
    Leased,
    /// By the local limit, the store being unavailable (fail open).
    Local,
}

/// One run of the GCRA script: the decision and the time it was made at,
/// both in **store time** (µs since 1970 as an [`Instant`], the server's
/// `TIME` or the instant injected), unlike [`RedisRateLimiter::acquire`]'s
/// answers, which are on the caller's clock. [`retry_after`](Self::retry_after)
/// turns a rejection into a duration, which holds on any clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepReply {
    /// The new stored arrival time, or the rejection: what
    /// [`gcra_step`](failsafe_core::rate::shared::gcra_step) answers for
    /// the same stored value, `now` and permits.
    pub decision: Result<Instant, Rejected>,
    /// The `now` the script decided at (the server's `TIME`, or the one
    /// injected), whole microseconds.
    pub now: Instant,
}

impl StepReply {
    /// How long after [`now`](Self::now) the rejected permits would be
    /// granted (`None` if admitted, or never: `n` over the burst).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.decision {
            Err(r) if !r.is_never() => r.retry_after(self.now),
            _ => None,
        }
    }
}

/// A rate limit shared by every instance using the same name on the same
/// Redis: the core's GCRA ([`gcra_step`](failsafe_core::rate::shared::gcra_step)),
/// applied by a server-side script to the key `{name}:tat`, one round
/// trip per decision, or one per `batch` permits with leasing
/// ([`RedisRateLimiterBuilder::lease`]).
///
/// **Bound**: over any window of length `w`, every instance together is
/// granted at most
/// [`shared_bound`](failsafe_core::rate::shared::shared_bound)`(quota, w)`
/// permits (`burst + w / period`); with `N` instances leasing batches of
/// `k`, at most
/// [`leased_bound`](failsafe_core::rate::shared::leased_bound)`(quota, w, N, k)`
/// (`+ N * (k - 1)`). While the store is unavailable a fail-open instance
/// adds what its local limit grants.
///
/// ```no_run
/// use failsafe_core::rate::Quota;
/// use failsafe_redis::{RedisRateLimiter, Store, StoreConfig};
/// use failsafe_tokio::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Store::connect("redis://127.0.0.1:6379/", StoreConfig::new())?;
/// // 100 a second across every instance, bursts of 20; leases of 5;
/// // 25 a second per instance while Redis is away
/// let limiter = RedisRateLimiter::builder(store, "upstream-api", Quota::per_second(100)?.with_burst(20)?)
///     .lease(5, std::time::Duration::from_millis(200))
///     .fail_open(Quota::per_second(25)?)
///     .build()?;
/// match limiter.acquire(1).await {
///     Ok(_) => { /* call the upstream */ }
///     // `retry_at` is on the local clock (`TokioClock`), like every policy's
///     Err(rejected) => eprintln!("retry in {:?}", rejected.retry_after(TokioClock.now())),
/// }
/// # Ok(())
/// # }
/// ```
pub struct RedisRateLimiter {
    store: Store,
    name: Arc<str>,
    key: String,
    /// The global quota and its period in µs (changed by
    /// [`set_quota`](RedisRateLimiter::set_quota)).
    quota: Mutex<(Quota, u64)>,
    batch: u32,
    lease_ttl: Duration,
    expiry_slack_ms: u64,
    lease: tokio::sync::Mutex<Lease>,
    on_error: OnStoreError,
    local: AtomicGcra,
    /// The last decision the store made for this instance (store time).
    pub(crate) last: Mutex<Option<StepReply>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The quota's period in whole µs, checked as the store keeps it; and
/// `batch` within its burst.
fn check_quota(quota: Quota, batch: u32) -> Result<u64, SetupError> {
    let period_us = whole_micros(quota.period(), "period")?;
    let tolerance = quota
        .period()
        .checked_mul(quota.burst())
        .ok_or(SetupError::TooLargeForLua("burst"))?;
    whole_micros(tolerance, "burst")?;
    if check_batch(batch, quota).is_err() {
        return Err(ConfigError::new("lease.batch", Problem::TooLarge).into());
    }
    Ok(period_us)
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("key", &self.key)
            .field("quota", &self.quota())
            .field("batch", &self.batch)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisRateLimiter`]: from [`RedisRateLimiter::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisRateLimiterBuilder {
    store: Store,
    name: String,
    quota: Quota,
    batch: u32,
    lease_ttl: Duration,
    expiry_slack: Duration,
    on_error: OnStoreError,
    local: Option<Quota>,
}

impl RedisRateLimiterBuilder {
    /// Lease `batch` permits per store call (default 1: no leasing), each
    /// batch valid for `ttl` (permits unspent then are dropped). The
    /// overshoot over the shared bound is at most `instances * (batch - 1)`
    /// in any window ([`leased_bound`](failsafe_core::rate::shared::leased_bound)).
    /// Only single-permit calls use the lease. A call that finds the lease
    /// empty asks the store for a whole batch: if the shared budget cannot
    /// grant `batch` permits now, the call is rejected with the instant the
    /// batch would be (the long-run rate is the same; at the limit permits
    /// come in batches).
    pub fn lease(mut self, batch: u32, ttl: Duration) -> Self {
        self.batch = batch;
        self.lease_ttl = ttl;
        self
    }

    /// How much longer than it matters a key is kept (default 1 s). The
    /// key's value stops mattering at its arrival time by the clock of the
    /// call that stored it; with the server's clock that is exact, but with
    /// injected clocks an instance whose clock is behind (or a call
    /// delayed between reading its clock and reaching the server) may still
    /// need it: give the largest such skew here, or that instance finds up
    /// to its skew's worth of permits more. Rounded up to whole
    /// milliseconds.
    pub fn expiry_slack(mut self, slack: Duration) -> Self {
        self.expiry_slack = slack;
        self
    }

    /// Fail open: while the store is unavailable, admit by `local` (this
    /// instance's own GCRA).
    pub fn fail_open(mut self, local: Quota) -> Self {
        self.on_error = OnStoreError::FailOpen;
        self.local = Some(local);
        self
    }

    /// Fail closed (the default): while the store is unavailable, reject
    /// (`RateLimited`, `retry_at` unknown).
    pub fn fail_closed(mut self) -> Self {
        self.on_error = OnStoreError::FailClosed;
        self.local = None;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// - [`SetupError::NotWholeMicros`] `period` if the quota's period is
    ///   not whole microseconds; [`SetupError::TooLargeForLua`] `burst` if
    ///   `period * burst` is over 2^52 µs;
    /// - [`SetupError::Config`] `lease.batch`, `Zero` or `TooLarge` for a
    ///   batch of zero or over the burst; `lease.ttl`, `Zero` (both set by
    ///   [`lease`](Self::lease));
    /// - [`SetupError::BadName`] for a name with `{` or `}`.
    pub fn build(self) -> Result<RedisRateLimiter, SetupError> {
        if self.name.contains(['{', '}']) {
            return Err(SetupError::BadName);
        }
        if self.batch == 0 {
            return Err(ConfigError::new("lease.batch", Problem::Zero).into());
        }
        let period_us = check_quota(self.quota, self.batch)?;
        if self.lease_ttl.is_zero() {
            return Err(ConfigError::new("lease.ttl", Problem::Zero).into());
        }
        Ok(RedisRateLimiter {
            key: format!("{{{}}}:tat", self.name),
            name: self.name.into(),
            store: self.store,
            quota: Mutex::new((self.quota, period_us)),
            batch: self.batch,
            lease_ttl: self.lease_ttl,
            expiry_slack_ms: u64::try_from(self.expiry_slack.as_micros().div_ceil(1_000))
                .unwrap_or(u64::MAX)
                .min(LUA_MAX_US / 1_000),
            lease: tokio::sync::Mutex::new(Lease::EMPTY),
            on_error: self.on_error,
            local: AtomicGcra::new(self.local.unwrap_or(self.quota)),
            last: Mutex::new(None),
        })
    }
}

impl RedisRateLimiter {
    /// A limiter named `name` (its key is `{name}:tat`) with the global
    /// `quota`, no leasing, failing closed.
    pub fn builder(store: Store, name: &str, quota: Quota) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            store,
            name: name.to_owned(),
            quota,
            batch: 1,
            lease_ttl: Duration::from_secs(1),
            expiry_slack: Duration::from_secs(1),
            on_error: OnStoreError::FailClosed,
            local: None,
        }
    }

    /// The store it decides on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The key (`{name}:tat`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The global quota.
    pub fn quota(&self) -> Quota {
        lock(&self.quota).0
    }

    /// This instance's global quota from its next store call on (the
    /// registry's `set_quota`). The stored arrival time stays: permits
    /// taken stay taken. Other instances keep theirs until they change it
    /// too (each call sends its own quota to the script): change it on
    /// every instance.
    ///
    /// # Errors
    ///
    /// As [`build`](RedisRateLimiterBuilder::build): `period` not whole
    /// microseconds, `burst` over 2^52 µs, `lease.batch` over the new
    /// burst; nothing changes then.
    pub fn set_quota(&self, quota: Quota) -> Result<(), SetupError> {
        let period_us = check_quota(quota, self.batch)?;
        *lock(&self.quota) = (quota, period_us);
        Ok(())
    }

    /// The checks of [`set_quota`](Self::set_quota), changing nothing.
    #[cfg(feature = "registry")]
    pub(crate) fn check(&self, quota: Quota) -> Result<(), SetupError> {
        check_quota(quota, self.batch).map(|_| ())
    }

    /// The fail-open limit (the quota given to
    /// [`fail_open`](RedisRateLimiterBuilder::fail_open); the global one
    /// when failing closed).
    pub fn local_quota(&self) -> Quota {
        self.local.quota()
    }

    /// Leased permits left now (0 without leasing, or while another call
    /// holds the lease).
    pub fn leased(&self) -> u32 {
        match self.lease.try_lock() {
            Ok(lease) => lease.remaining(self.store.now()),
            Err(_) => 0,
        }
    }

    /// What this instance does while the store is unavailable.
    pub fn on_store_error(&self) -> OnStoreError {
        self.on_error
    }

    /// The limiter's name (its key is `{name}:tat`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes `n` permits at the server's time.
    ///
    /// # Errors
    ///
    /// The store's rejection, `RateLimited` with the exact `retry_at` **on
    /// the local clock** ([`TokioClock`]: the store's wait added to the
    /// local now, so it compares with every other policy's); for `n` over
    /// the burst, `RateInsufficientCapacity` with `retry_at` never,
    /// `Instant::MAX`. While the store is unavailable, the local limit's
    /// (fail open, on [`TokioClock`] too) or `RateLimited` with
    /// `retry_at: None` (fail closed).
    pub async fn acquire(&self, n: u32) -> Result<Admitted, Rejected> {
        self.acquire_inner(None, n).await
    }

    /// Takes `n` permits at an injected `now` (whole microseconds are
    /// used; see the crate's notes on clock skew).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire), every `retry_at` on the injected
    /// clock (the caller's: the one `now` is on).
    pub async fn acquire_at(&self, now: Instant, n: u32) -> Result<Admitted, Rejected> {
        self.acquire_inner(Some(now), n).await
    }

    async fn acquire_inner(&self, now: Option<Instant>, n: u32) -> Result<Admitted, Rejected> {
        if self.batch > 1 && n == 1 {
            let mut lease = self.lease.lock().await;
            if lease.take(now.unwrap_or_else(|| self.store.now())) {
                return Ok(Admitted::Leased);
            }
            return match self.step(now, self.batch).await {
                Ok(reply) => {
                    self.to_caller(now, reply)?;
                    lease.refill(self.batch, reply.now, self.lease_ttl);
                    let _ = lease.take(reply.now);
                    Ok(Admitted::Shared)
                }
                Err(_) => self.without(now, n),
            };
        }
        match self.step(now, n).await {
            Ok(reply) => self.to_caller(now, reply).map(|()| Admitted::Shared),
            Err(_) => self.without(now, n),
        }
    }

    /// The store's decision on the caller's clock: with an injected `now`
    /// it is the caller's already; with the server's, the wait the store
    /// computed (`retry_at - now`, both store time) is added to the local
    /// [`TokioClock`]'s now, saturating.
    fn to_caller(&self, injected: Option<Instant>, reply: StepReply) -> Result<(), Rejected> {
        match reply.decision {
            Ok(_) => Ok(()),
            Err(r) if injected.is_some() || r.is_never() => Err(r),
            Err(mut r) => {
                if let Some(wait) = reply.retry_after() {
                    r.retry_at = Some(TokioClock.now().saturating_add(wait));
                }
                Err(r)
            }
        }
    }

    /// Takes one leased permit without waiting, if this limiter leases,
    /// `n` is 1, and the lease holds one now.
    pub(crate) fn try_take_leased(&self, n: u32) -> bool {
        if self.batch <= 1 || n != 1 {
            return false;
        }
        match self.lease.try_lock() {
            Ok(mut lease) => lease.take(self.store.now()),
            Err(_) => false,
        }
    }

    /// The decision while the store cannot answer.
    fn without(&self, now: Option<Instant>, n: u32) -> Result<Admitted, Rejected> {
        self.store.emit(StoreEvent::DecidedWithout {
            name: self.name.clone(),
            mode: self.on_error,
        });
        match self.on_error {
            OnStoreError::FailOpen => {
                // the caller's clock: the injected one, or the local one
                let now = now.unwrap_or_else(|| TokioClock.now());
                self.local.acquire(now, n).map(|()| Admitted::Local)
            }
            OnStoreError::FailClosed => Err(Rejected::new(RejectReason::RateLimited, None)),
        }
    }

    /// One run of the script for `n` permits at `now` (`None`: the
    /// server's clock), no leasing, no fallback: what the tests compare
    /// with [`gcra_step`](failsafe_core::rate::shared::gcra_step).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer (timeout, its breaker
    /// open, a Redis error).
    pub async fn step(&self, now: Option<Instant>, n: u32) -> Result<StepReply, StoreError> {
        if let (true, Some(now)) = (past_lua_range(now), now) {
            // Past the script's exact range (2^52 µs, the year 2112 in
            // store time) the doubles would round the booking away: never,
            // as the core answers at the end of its own range.
            let decision = Err(Rejected::never(RejectReason::RateLimited));
            return Ok(StepReply { decision, now });
        }
        let (quota, period_us) = *lock(&self.quota);
        let args = [
            period_us.to_string(),
            quota.burst().to_string(),
            n.to_string(),
            now_arg(now),
            self.expiry_slack_ms.to_string(),
        ];
        let reply = self.store.gcra(&self.key, &args, now.is_none()).await?;
        let at = |us: i64| Instant::from_micros(us.max(0) as u64);
        let (code, value, now) = match reply.as_slice() {
            [code, value, now] => (*code, *value, at(*now)),
            _ => return Err(StoreError::malformed()),
        };
        let decision = match code {
            1 => Ok(at(value)),
            0 => Err(Rejected::new(RejectReason::RateLimited, Some(at(value)))),
            _ => Err(Rejected::never(RejectReason::RateInsufficientCapacity)),
        };
        let reply = StepReply { decision, now };
        *lock(&self.last) = Some(reply);
        Ok(reply)
    }
}
