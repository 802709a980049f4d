//! # failsafe-redis
//!
//! Failsafe across many instances of a service, on the Redis they already
//! run (issue 14): a **global rate limit** ([`RedisRateLimiter`], the
//! core's GCRA applied by the server to one key, with optional leasing of
//! small batches so most calls make no network call) and **shared circuit
//! breaker state** ([`RedisBreaker`]: one instance trips, every instance
//! rejects; half-open probes limited in total across instances).
//!
//! The decisions are the core's
//! ([`failsafe_core::rate::shared`]): a server-side Lua script mirrors
//! [`gcra_step`](failsafe_core::rate::shared::gcra_step) and the
//! [`BreakerRecord`](failsafe_core::rate::shared::BreakerRecord)
//! operations, and the tests check the script decides exactly as the core
//! against a real server.
//!
//! ## One round trip per decision
//!
//! Each decision is one `EVALSHA` of a script loaded once per server
//! ([`redis::Script`]: loaded again on `NOSCRIPT`, e.g. after a restart),
//! on one [`ConnectionManager`](redis::aio::ConnectionManager) (multiplexed,
//! reconnecting by itself).
//!
//! ## Time
//!
//! Times in the store are **whole microseconds since the Unix epoch**: Lua
//! numbers are doubles, exact up to 2^53 (about 285 years of microseconds;
//! nanoseconds since 1970 would not fit). By default the script reads the
//! server's clock (`TIME`): one clock for every instance, so clock skew
//! between instances plays no part. An instant can be injected instead
//! ([`RedisRateLimiter::acquire_at`]); then an instance whose clock runs
//! `s` ahead of the others takes up to `s / period` permits early, once
//! (the others find as many fewer), and a key's expiry (`PEXPIRE`,
//! counted by the server from the call) may drop a value an instance
//! whose clock is behind would still have seen: it then finds up to its
//! skew's worth of permits more, unless the limiter's
//! [`expiry_slack`](RedisRateLimiterBuilder::expiry_slack) (default 1 s)
//! covers the skew.
//!
//! Store time stays inside: every answer is on the **caller's clock**,
//! like every other policy's. A rejection's `retry_at` from
//! [`RedisRateLimiter::acquire`], [`RedisBreaker::acquire`] and
//! [`RedisAdmission`] is on the local [`TokioClock`](failsafe_tokio::TokioClock)
//! (the wait the store computed, `retry_at - now` in store time, added to
//! the local now, saturating); from [`RedisRateLimiter::acquire_at`] it is
//! on the injected clock. Only the low-level [`StepReply`] and the
//! [`BreakerRecord`](failsafe_core::rate::shared::BreakerRecord)s
//! ([`RedisBreaker::script`], [`RedisBreaker::record_seen`]) are in store
//! time (µs since 1970, compare with [`Store::now`]).
//!
//! Quotas must therefore be whole microseconds per permit, and
//! `period * burst` and the breaker's waits at most 2^52 µs
//! ([`SetupError`]).
//!
//! ## Keys
//!
//! A limiter named `n` keeps `{n}:tat`, a breaker `{n}:breaker`: the
//! `{..}` hash tag puts every key of one name in one Redis Cluster slot.
//! Keys expire (`PEXPIRE`) when they stop mattering, so idle names vanish
//! from the server.
//!
//! ## When Redis is slow or gone
//!
//! Every store call runs inside its own timeout and its own circuit
//! breaker ([`StoreConfig`]; the driver's `TimeoutPolicy` and
//! `CircuitBreakerPolicy`), so no call hangs and a dead server costs no
//! more than a rejected breaker call. What the call then gets is chosen
//! per limiter or breaker ([`OnStoreError`]): **fail open** (a local
//! limit, or the instance's own breaker alone) or **fail closed**
//! (rejected). [`StoreEvent`]s say when the store became unavailable,
//! each decision taken without it, and when it recovered (by itself: the
//! connection manager reconnects, the store breaker probes);
//! [`StoreFailure`] says why a call failed (timeout, no connection, an
//! error reply, the store breaker open).
//!
//! ## Registry (feature `registry`)
//!
//! [`RedisAdmission`] and [`RedisBreaker`] implement the driver's
//! `registry::Control`: register them by name, list their configuration
//! and live state (the shared record, the instance's own state, the
//! store's health), change them (a breaker's `open`, `force_open`,
//! `close`, `reset` act on the shared record, for every instance; a
//! limiter's `set_quota` and a breaker's `configure` on this instance)
//! and reload them from a file.

mod admission;
mod breaker;
mod breaker_admission;
mod limiter;
#[cfg(feature = "registry")]
mod registry;
mod store;

pub use admission::{RedisAdmission, StoreWait};
pub use breaker::{RedisBreaker, RedisBreakerBuilder, SharedPermit};
pub use breaker_admission::RedisBreakerAdmission;
pub use limiter::{Admitted, RedisRateLimiter, RedisRateLimiterBuilder, StepReply};
pub use store::{
    OnStoreError, SetupError, Store, StoreConfig, StoreError, StoreEvent, StoreFailure,
};

pub use failsafe_core::Instant;
