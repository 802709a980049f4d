//! The registry's [`Control`] for the Redis limiter ([`RedisAdmission`]) and
//! breaker ([`RedisBreaker`]) (feature `registry`): list, change and reload
//! them like any other policy.
//!
//! A registry is one process's: a change made through it applies to this
//! instance. What lives in the store (the shared breaker record) changes
//! for every instance; what each instance keeps (a limiter's quota, a
//! breaker's own configuration) changes on this one only: change it on
//! every instance (e.g. reload the same file everywhere).

use failsafe_core::breaker::{BreakerConfig, Window};
use failsafe_core::rate::Quota;
use failsafe_driver::registry::{Change, ChangeError, Control, Kind, Settling, Staged};
use failsafe_tokio::{Clock, TokioClock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::admission::RedisAdmission;
use crate::breaker::RedisBreaker;
use crate::limiter::lock;
use crate::store::{OnStoreError, SetupError, Store, whole_micros};

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

/// Reads a `T` from `value` as every registry control does, the error
/// naming the field.
fn parse<T: DeserializeOwned>(value: &Value) -> Result<T, ChangeError> {
    failsafe_driver::registry::parse_config(value)
}

fn setup(e: SetupError) -> ChangeError {
    match e {
        SetupError::Config(e) => e.into(),
        SetupError::NotWholeMicros(field) => {
            ChangeError::invalid(field, "must be whole microseconds (the store's unit)")
        }
        SetupError::TooLargeForLua(field) => ChangeError::invalid(
            field,
            "over 2^52 microseconds (what the script handles exactly)",
        ),
        other => ChangeError::Invalid {
            field: None,
            message: other.to_string(),
        },
    }
}

fn store_json(store: &Store, on_error: OnStoreError) -> Value {
    json!({
        "available": store.is_available(),
        "call_timeout_ns": u64::try_from(store.call_timeout().as_nanos()).unwrap_or(u64::MAX),
        "on_store_error": match on_error {
            OnStoreError::FailOpen => "fail_open",
            OnStoreError::FailClosed => "fail_closed",
        },
    })
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Control for RedisAdmission {
    fn kind(&self) -> Kind {
        Kind::RateLimiter
    }

    /// The global [`Quota`] in force on this instance.
    fn config(&self) -> Value {
        to_json(&self.limiter().quota())
    }

    /// The quota, the last decision the store made for this instance (the
    /// shared key's arrival time, in store time: µs since 1970), the lease
    /// left, the fail-open limit and the store's health.
    fn state(&self) -> Value {
        let l = self.limiter();
        let q = l.quota();
        let last = (*lock(&l.last)).map(|r| {
            json!({
                "admitted": r.decision.is_ok(),
                "tat_us": r.decision.ok().map(|t| t.as_nanos() / 1_000),
                "store_now_us": r.now.as_nanos() / 1_000,
            })
        });
        json!({
            "key": l.key(),
            "burst": q.burst(),
            "period_ns": nanos(q.period()),
            "shared": last,
            "leased": l.leased(),
            "local_quota": to_json(&l.local_quota()),
            "store": store_json(l.store(), l.on_store_error()),
            "now_ns": TokioClock.now().as_nanos(),
        })
    }

    /// `set_quota` or `configure` (a [`Quota`] table): this instance's
    /// global quota from its next store call on, the stored arrival time
    /// kept ([`RedisRateLimiter::set_quota`](crate::RedisRateLimiter::set_quota)).
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let quota = match change {
            Change::SetQuota { quota } => *quota,
            Change::Configure { config } => parse::<Quota>(config)?,
            other => return Err(ChangeError::unsupported(other.action())),
        };
        if quota == self.limiter().quota() {
            return Ok(Staged::unchanged());
        }
        // checked now (the same checks as `set_quota`): nothing changes on error
        self.limiter().check(quota).map_err(setup)?;
        Ok(Staged::new(move || {
            let _ = self.limiter().set_quota(quota);
            TokioClock.now()
        }))
    }
}

impl<W> Control for RedisBreaker<W>
where
    W: Window + Send + 'static,
{
    fn kind(&self) -> Kind {
        Kind::CircuitBreaker
    }

    /// The instance's own breaker's [`BreakerConfig`] (its open wait,
    /// probes and success threshold are the shared round's too).
    fn config(&self) -> Value {
        to_json(lock(&self.inner.local).config())
    }

    /// `state`: what a call gets now ([`RedisBreaker::state`]);
    /// `local_state`: the instance's own breaker; `shared`: the record as
    /// last read (open until on the local clock, ns); the store's health.
    fn state(&self) -> Value {
        let record = self.record_seen();
        let now = TokioClock.now();
        let left = record
            .open_until()
            .saturating_duration_since(self.store().now());
        json!({
            "state": self.state().as_str(),
            "local_state": self.local_state().as_str(),
            "shared": {
                "round": record.round(),
                "open": record.is_open(),
                "open_until_ns": record.is_open().then(|| now.saturating_add(left).as_nanos()),
                "probes": record.probes(),
                "successes": record.successes(),
            },
            "store": store_json(self.store(), self.inner.on_error),
            "now_ns": now.as_nanos(),
        })
    }

    /// On the shared record, for every instance: `open` (a new round, its
    /// open wait), `force_open` (open until `close`/`reset`), `close`;
    /// `reset` closes it and resets this instance's own breaker too. These
    /// run as a store call on the store's runtime: the record (and every
    /// instance, within [`delay`](RedisBreaker::delay)) changes once the
    /// call is in; a store that cannot answer leaves it as it was
    /// ([`StoreEvent::Unavailable`](crate::StoreEvent::Unavailable) says
    /// so). [`Registry::apply_settled`](failsafe_driver::registry::Registry::apply_settled)
    /// (the admin routes) waits for the store's answer and reports a
    /// store that did not answer as
    /// [`RegistryError::NotApplied`](failsafe_driver::registry::RegistryError::NotApplied);
    /// [`Registry::apply`](failsafe_driver::registry::Registry::apply)
    /// answers at once, the call still on its way. `configure` (a [`BreakerConfig`] table): this instance's own
    /// breaker and the open wait, probes and threshold it sends with its
    /// store calls (`open_wait` must be whole microseconds).
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let op = match change {
            Change::Open => "open",
            Change::ForceOpen => "force_open",
            Change::Close => "close",
            Change::Reset => "reset",
            Change::Configure { config } => {
                let config: BreakerConfig = parse(config)?;
                if config == *lock(&self.inner.local).config() {
                    return Ok(Staged::unchanged());
                }
                let open_wait = whole_micros(config.open_wait(), "open_wait").map_err(setup)?;
                return Ok(Staged::new(move || {
                    let now = TokioClock.now();
                    let _ = lock(&self.inner.local).set_config(now, config);
                    let mut args = lock(&self.inner.args);
                    args[0] = open_wait;
                    args[1] = u64::from(config.half_open_probes());
                    args[3] = u64::from(config.success_threshold());
                    now
                }));
            }
            other => return Err(ChangeError::unsupported(other.action())),
        };
        let breaker = self.clone();
        Ok(Staged::settling(move || {
            // A task of its own: the change goes on whether or not its
            // caller waits for the store's answer.
            let call = self.store().inner.runtime.spawn(async move {
                match op {
                    "open" => breaker.open().await,
                    "force_open" => breaker.force_open().await,
                    "close" => breaker.close().await,
                    _ => breaker.reset().await,
                }
            });
            let took = async move {
                match call.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("the store call did not finish: {e}")),
                }
            };
            (TokioClock.now(), Box::pin(took) as Settling)
        }))
    }
}
