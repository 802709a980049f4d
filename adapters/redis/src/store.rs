//! The connection, its guard (timeout + breaker), the scripts and the events.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::{ConfigError, Instant};
use failsafe_tokio::{
    CircuitBreakerPolicy, Clock, Error, TimeoutConfig, TimeoutPolicy, TokioClock,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};

/// The largest time value the scripts handle exactly (µs): Lua numbers are
/// doubles, exact to 2^53; half of that leaves room for `now + wait`.
pub(crate) const LUA_MAX_US: u64 = 1 << 52;

/// Why a limiter or breaker could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// A configuration value the core refuses (names the field).
    Config(ConfigError),
    /// A time the store keeps in whole microseconds is not one (names the
    /// field, e.g. `period`: a quota of 3 per second is 333,333.33 µs).
    NotWholeMicros(&'static str),
    /// A time past what the Lua script handles exactly (2^52 µs, about
    /// 142 years; names the field).
    TooLargeForLua(&'static str),
    /// The name holds `{` or `}` (it becomes the keys' hash tag).
    BadName,
    /// The Redis client refused the URL.
    Redis(RedisError),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(e) => write!(f, "{e}"),
            SetupError::NotWholeMicros(field) => {
                write!(f, "{field}: must be whole microseconds (the store's unit)")
            }
            SetupError::TooLargeForLua(field) => {
                write!(
                    f,
                    "{field}: over 2^52 microseconds (what the script handles exactly)"
                )
            }
            SetupError::BadName => f.write_str("name: must not contain '{' or '}'"),
            SetupError::Redis(e) => write!(f, "redis: {e}"),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Redis(e) => Some(e),
            SetupError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Config(e)
    }
}

/// `d` in whole microseconds within the script's range, or the error
/// naming `field`.
pub(crate) fn whole_micros(d: Duration, field: &'static str) -> Result<u64, SetupError> {
    if !d.subsec_nanos().is_multiple_of(1_000) {
        return Err(SetupError::NotWholeMicros(field));
    }
    match u64::try_from(d.as_micros()) {
        Ok(us) if us <= LUA_MAX_US => Ok(us),
        _ => Err(SetupError::TooLargeForLua(field)),
    }
}

/// What a limiter or breaker does with a call when the store cannot
/// answer (timed out, failed, or its breaker is open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStoreError {
    /// Decide locally: a limiter admits by its local limit (a
    /// [`Quota`](failsafe_core::rate::Quota) given to its builder, e.g. the
    /// global one divided by the number of instances); a breaker by the
    /// instance's own breaker alone.
    FailOpen,
    /// Reject the call: `RateLimited` (limiter) or `BreakerOpen` (breaker),
    /// `retry_at` unknown (`None`).
    FailClosed,
}

/// Why a store call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFailure {
    /// It did not answer within [`StoreConfig::call_timeout`] (or the
    /// client's own response timeout, a backstop behind it, ran out).
    Timeout,
    /// The store's own breaker is open: not tried.
    BreakerOpen,
    /// No connection: refused, dropped, or another I/O error (Redis down
    /// or unreachable).
    Connection,
    /// Redis answered, with an error (the script failed, e.g. out of
    /// memory, or a `BUSY` server) or a reply that is not what the script
    /// returns.
    Script,
}

impl StoreFailure {
    /// The reason for a client error: [`Timeout`](Self::Timeout),
    /// [`Connection`](Self::Connection) (refused, dropped, I/O) or
    /// [`Script`](Self::Script) (an error reply).
    fn of(e: &RedisError) -> StoreFailure {
        if e.is_timeout() {
            StoreFailure::Timeout
        } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
            StoreFailure::Connection
        } else {
            StoreFailure::Script
        }
    }

    /// The reason's name: `"timeout"`, `"breaker_open"`, `"connection"`,
    /// `"script"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreFailure::Timeout => "timeout",
            StoreFailure::BreakerOpen => "breaker_open",
            StoreFailure::Connection => "connection",
            StoreFailure::Script => "script",
        }
    }
}

/// A failed store call.
#[derive(Debug)]
pub struct StoreError {
    /// Why.
    pub failure: StoreFailure,
    /// The client's error, if Redis or the connection gave one.
    pub source: Option<RedisError>,
}

impl StoreError {
    /// A reply that is not what the script returns.
    pub(crate) fn malformed() -> StoreError {
        StoreError {
            failure: StoreFailure::Script,
            source: None,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.failure, &self.source) {
            (_, Some(e)) => write!(f, "store call failed: {e}"),
            (StoreFailure::Timeout, None) => f.write_str("store call timed out"),
            (StoreFailure::BreakerOpen, None) => f.write_str("store breaker is open"),
            (StoreFailure::Connection, None) => f.write_str("store connection failed"),
            (StoreFailure::Script, None) => f.write_str("store reply malformed"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// What the store reports to its observer ([`StoreConfig::on_event`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEvent {
    /// The first failed call after a success (or the start): from now on
    /// calls are decided by each limiter's or breaker's [`OnStoreError`].
    Unavailable {
        /// Why the call failed: timed out, no connection, an error reply,
        /// or the store breaker open.
        failure: StoreFailure,
    },
    /// A call was decided without the store, as `mode` says.
    DecidedWithout {
        /// What the limiter or breaker is named.
        name: Arc<str>,
        /// Fail open (decided locally) or fail closed (rejected).
        mode: OnStoreError,
    },
    /// The first successful call after failures: shared decisions again.
    Recovered,
}

/// How the store is called: each call's timeout, the store breaker, the
/// observer.
#[derive(Clone)]
pub struct StoreConfig {
    call_timeout: Duration,
    breaker: BreakerConfig,
    observer: Option<Arc<dyn Fn(StoreEvent) + Send + Sync>>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("call_timeout", &self.call_timeout)
            .field("breaker", &self.breaker)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::new()
    }
}

impl StoreConfig {
    /// Each call times out after 100 ms; the store breaker opens after 3
    /// failures in a row and probes again after 500 ms (one probe).
    pub fn new() -> StoreConfig {
        StoreConfig {
            call_timeout: Duration::from_millis(100),
            breaker: failsafe_core::checked(
                BreakerConfig::builder()
                    .no_failure_rate()
                    .consecutive_failures(3)
                    .open_wait(Duration::from_millis(500))
                    .build(),
            ),
            observer: None,
        }
    }

    /// Each store call's timeout (default 100 ms); a call that takes longer
    /// is dropped and counts as a failure of the store breaker.
    pub fn call_timeout(mut self, timeout: Duration) -> StoreConfig {
        self.call_timeout = timeout;
        self
    }

    /// The store breaker's configuration (default: 3 failures in a row,
    /// 500 ms open, one probe).
    pub fn breaker(mut self, config: BreakerConfig) -> StoreConfig {
        self.breaker = config;
        self
    }

    /// Hears every [`StoreEvent`].
    pub fn on_event(mut self, f: impl Fn(StoreEvent) + Send + Sync + 'static) -> StoreConfig {
        self.observer = Some(Arc::new(f));
        self
    }
}

/// One Redis server (or cluster node) as the shared store: the connection,
/// the scripts, the guard every call goes through. Cheap to clone (shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    conn: ConnectionManager,
    guard: CircuitBreakerPolicy<NoWindow>,
    timeout: TimeoutPolicy,
    gcra: Script,
    breaker: Script,
    /// Store time (µs since 1970) minus the local clock (µs), from the last reply.
    offset_us: AtomicI64,
    call_timeout: Duration,
    /// The runtime the store was made in: registry changes (synchronous)
    /// run their store calls on it.
    #[cfg_attr(not(feature = "registry"), allow(dead_code))]
    pub(crate) runtime: tokio::runtime::Handle,
    available: AtomicBool,
    observer: Option<Arc<dyn Fn(StoreEvent) + Send + Sync>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("available", &self.inner.available.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn local_us() -> i64 {
    (TokioClock.now().as_nanos() / 1_000) as i64
}

impl Store {
    /// A store on the Redis at `url` (`redis://127.0.0.1:6379/`). Connects
    /// lazily: Redis may be down at the start (calls then fail and are
    /// decided as each limiter's [`OnStoreError`] says, until it is up).
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    ///
    /// [`SetupError::Redis`] if the URL is refused; [`SetupError::Config`]
    /// naming `call_timeout` for a zero [`StoreConfig::call_timeout`].
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn connect(url: &str, config: StoreConfig) -> Result<Store, SetupError> {
        let client = redis::Client::open(url).map_err(SetupError::Redis)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.call_timeout))
            // a backstop: the call's own timeout (the driver's) comes first
            .set_response_timeout(Some(config.call_timeout.saturating_mul(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = client
            .get_connection_manager_lazy(manager)
            .map_err(SetupError::Redis)?;
        // the error names the setter the user called, not the driver's field
        let timeout = TimeoutPolicy::new(
            TimeoutConfig::new(config.call_timeout)
                .map_err(|e| ConfigError::new("call_timeout", e.problem))?,
        );
        // until the first reply, the local system clock stands for the server's
        let system_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        Ok(Store {
            inner: Arc::new(Inner {
                conn,
                guard: CircuitBreakerPolicy::new(config.breaker, NoWindow),
                timeout,
                gcra: Script::new(include_str!("lua/gcra.lua")),
                breaker: Script::new(include_str!("lua/breaker.lua")),
                offset_us: AtomicI64::new(system_us - local_us()),
                call_timeout: config.call_timeout,
                runtime: tokio::runtime::Handle::current(),
                available: AtomicBool::new(true),
                observer: config.observer,
            }),
        })
    }

    /// The store's time now, as this instance estimates it: the local
    /// clock plus the offset seen in the last reply (each reply carries
    /// the server's `TIME`). The time base of every `retry_at` and record
    /// the store returns (µs since the Unix epoch, as an [`Instant`]).
    pub fn now(&self) -> Instant {
        let us = local_us() + self.inner.offset_us.load(Ordering::Relaxed);
        Instant::from_micros(us.max(0) as u64)
    }

    /// A store-time instant (a `retry_at`, an open wait's end) on the
    /// local [`TokioClock`]: `at` minus the offset seen in the last reply.
    pub fn to_local(&self, at: Instant) -> Instant {
        let offset = self.inner.offset_us.load(Ordering::Relaxed);
        let us = (at.as_nanos() / 1_000) as i64 - offset;
        Instant::from_micros(us.max(0) as u64)
    }

    /// Each store call's timeout ([`StoreConfig::call_timeout`]).
    pub fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }

    /// Whether the last store call succeeded.
    pub fn is_available(&self) -> bool {
        self.inner.available.load(Ordering::Relaxed)
    }

    /// Tells the listener; its panic is caught (the panic hook still
    /// reports it), so a decision in flight (a probe Redis granted) goes on.
    pub(crate) fn emit(&self, event: StoreEvent) {
        if let Some(f) = &self.inner.observer {
            let heard = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(event)));
            drop(heard);
        }
    }

    /// Runs the GCRA script on `key` (ARGV as the script says; the
    /// server's clock unless a `now` was injected).
    pub(crate) async fn gcra(
        &self,
        key: &str,
        args: &[String],
        server_clock: bool,
    ) -> Result<Vec<i64>, StoreError> {
        self.eval(&self.inner.gcra, key, args, server_clock).await
    }

    /// Runs the breaker script on `key` (ARGV as the script says; the
    /// server's clock unless a `now` was injected).
    pub(crate) async fn breaker(
        &self,
        key: &str,
        args: &[String],
        server_clock: bool,
    ) -> Result<Vec<i64>, StoreError> {
        self.eval(&self.inner.breaker, key, args, server_clock)
            .await
    }

    /// One `EVALSHA` (the script loaded again on `NOSCRIPT`) inside the
    /// store's timeout and breaker. The reply's last element is the time
    /// the script decided at (µs): the server's own `TIME` when
    /// `server_clock` (the call injected no `now`), which then updates
    /// [`now`](Self::now)'s offset; an injected instant never does.
    async fn eval(
        &self,
        script: &Script,
        key: &str,
        args: &[String],
        server_clock: bool,
    ) -> Result<Vec<i64>, StoreError> {
        let inner = &*self.inner;
        let result = inner
            .guard
            .call(|| {
                inner.timeout.call(|_| {
                    let mut conn = inner.conn.clone();
                    let mut invocation = script.prepare_invoke();
                    invocation.key(key);
                    for arg in args {
                        invocation.arg(arg);
                    }
                    async move { invocation.invoke_async::<Vec<i64>>(&mut conn).await }
                })
            })
            .await
            .map_err(Error::flatten);
        match result {
            Ok(reply) => {
                if let (true, Some(&server_us)) = (server_clock, reply.last()) {
                    inner
                        .offset_us
                        .store(server_us - local_us(), Ordering::Relaxed);
                }
                if !inner.available.swap(true, Ordering::Relaxed) {
                    self.emit(StoreEvent::Recovered);
                }
                Ok(reply)
            }
            Err(e) => {
                let error = match e {
                    Error::Rejected(_) => StoreError {
                        failure: StoreFailure::BreakerOpen,
                        source: None,
                    },
                    Error::Timeout(_) => StoreError {
                        failure: StoreFailure::Timeout,
                        source: None,
                    },
                    // the client's own response timeout (a backstop behind
                    // ours) included
                    Error::Inner(e) => StoreError {
                        failure: StoreFailure::of(&e),
                        source: Some(e),
                    },
                    _ => StoreError {
                        failure: StoreFailure::Connection,
                        source: None,
                    },
                };
                if inner.available.swap(false, Ordering::Relaxed) {
                    self.emit(StoreEvent::Unavailable {
                        failure: error.failure,
                    });
                }
                Err(error)
            }
        }
    }
}

/// Whether an injected `now` lies past the scripts' exact range (2^52 µs,
/// [`LUA_MAX_US`]: Lua's doubles count whole µs exactly below 2^53).
pub(crate) fn past_lua_range(now: Option<Instant>) -> bool {
    now.is_some_and(|t| t.as_nanos() / 1_000 > LUA_MAX_US)
}

/// The script's `now` argument: `''` (the server's clock) or whole µs,
/// at most [`LUA_MAX_US`] (the breaker's record ops stand still there; the
/// limiter refuses past it first: [`past_lua_range`]).
pub(crate) fn now_arg(now: Option<Instant>) -> String {
    now.map_or_else(String::new, |t| {
        (t.as_nanos() / 1_000).min(LUA_MAX_US).to_string()
    })
}
