//! Shared circuit breaker state: one instance trips, every instance rejects.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use failsafe_core::breaker::{BreakerConfig, BreakerPermit, CircuitBreaker, State, Window};
use failsafe_core::rate::shared::{BreakerRecord, SharedStatus, sharing_delay};
use failsafe_core::{Instant, Outcome, RejectReason, Rejected};
use failsafe_tokio::{Clock, Error, TokioClock};

use crate::store::{
    LUA_MAX_US, OnStoreError, SetupError, Store, StoreError, StoreEvent, now_arg, whole_micros,
};

/// The open wait of a forced-open record (µs): what the scripts handle.
const FORCED_WAIT_US: u64 = LUA_MAX_US;

/// A permit from a [`RedisBreaker`]: hand it back with
/// [`RedisBreaker::record`].
#[derive(Debug)]
#[must_use = "hand the permit back with `record`, or the call is never counted"]
pub enum SharedPermit {
    /// The shared record is closed (or the store unavailable, failing
    /// open): the instance's own breaker admitted the call and counts it.
    Local(BreakerPermit),
    /// A half-open probe of `round`, granted by the store (at most the
    /// quota of probes per round across every instance).
    Probe {
        /// The round the probe belongs to.
        round: u64,
    },
}

/// A circuit breaker whose open state is shared by every instance using
/// the same name on the same Redis (the hash `{name}:breaker`, a
/// [`BreakerRecord`]).
///
/// Each instance keeps its own breaker (`W`, e.g. a
/// [`CountWindow`](failsafe_core::breaker::CountWindow)) for the calls it
/// sees while the shared record is closed. When it trips, it publishes the
/// trip ([`BreakerRecord::trip`]; concurrent trips make one round) and
/// starts counting afresh. While the record is open every instance
/// rejects (`BreakerOpen`, `retry_at` the open wait's end on the local
/// [`TokioClock`]);
/// once the wait is over, calls are probes granted by the store, at most
/// `half_open_probes` per round across every instance; their reports
/// close the round (`success_threshold` successes) or open the next
/// (one failure, or a probe silent past its lease).
///
/// **Sharing delay**: an instance reads the record when its copy is older
/// than `poll` (and after every store call it makes), so it rejects within
/// [`sharing_delay`]`(poll, call_timeout)` of a trip being stored
/// ([`delay`](Self::delay)).
///
/// While the store is unavailable: fail open, the instance's own breaker
/// alone decides (it stays open if it tripped and could not publish);
/// fail closed, every call is rejected (`BreakerOpen`, `retry_at: None`).
///
/// Cheap to clone: clones share the breaker (register one with the
/// registry, feature `registry`, and call through another).
pub struct RedisBreaker<W> {
    pub(crate) inner: Arc<Inner<W>>,
}

impl<W> Clone for RedisBreaker<W> {
    fn clone(&self) -> Self {
        RedisBreaker {
            inner: self.inner.clone(),
        }
    }
}

pub(crate) struct Inner<W> {
    pub(crate) store: Store,
    name: Arc<str>,
    key: String,
    /// open wait, probes, lease, threshold, retention (µs / counts)
    pub(crate) args: Mutex<[u64; 5]>,
    pub(crate) poll: Duration,
    pub(crate) on_error: OnStoreError,
    pub(crate) local: Mutex<CircuitBreaker<W>>,
    view: Mutex<View>,
}

#[derive(Clone, Copy)]
struct View {
    record: BreakerRecord,
    /// When it was last read (local clock); `None`: never.
    read_at: Option<Instant>,
}

impl<W> fmt::Debug for RedisBreaker<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBreaker")
            .field("key", &self.inner.key)
            .field("poll", &self.inner.poll)
            .field("on_error", &self.inner.on_error)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisBreaker`]: from [`RedisBreaker::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisBreakerBuilder<W> {
    store: Store,
    name: String,
    config: BreakerConfig,
    window: W,
    poll: Duration,
    probe_lease: Duration,
    retention: Duration,
    on_error: OnStoreError,
}

impl<W: Window> RedisBreakerBuilder<W> {
    /// How often an instance reads the shared record at most (default
    /// 100 ms): the sharing delay's main term.
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// A probe silent this long after it was granted has failed, once
    /// every probe of the round is out (default 30 s, the core breaker's).
    pub fn probe_lease(mut self, lease: Duration) -> Self {
        self.probe_lease = lease;
        self
    }

    /// How long a record is kept after it stops mattering (default 1 h):
    /// a closed record then vanishes from the server.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Fail open (the default): while the store is unavailable the
    /// instance's own breaker alone decides.
    pub fn fail_open(mut self) -> Self {
        self.on_error = OnStoreError::FailOpen;
        self
    }

    /// Fail closed: while the store is unavailable every call is rejected.
    pub fn fail_closed(mut self) -> Self {
        self.on_error = OnStoreError::FailClosed;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`SetupError::NotWholeMicros`] or [`SetupError::TooLargeForLua`]
    /// naming `open_wait`, `probe_lease` or `retention`;
    /// [`SetupError::BadName`] for a name with `{` or `}`.
    pub fn build(self) -> Result<RedisBreaker<W>, SetupError> {
        if self.name.contains(['{', '}']) {
            return Err(SetupError::BadName);
        }
        let args = [
            whole_micros(self.config.open_wait(), "open_wait")?,
            u64::from(self.config.half_open_probes()),
            whole_micros(self.probe_lease, "probe_lease")?,
            u64::from(self.config.success_threshold()),
            whole_micros(self.retention, "retention")?,
        ];
        Ok(RedisBreaker {
            inner: Arc::new(Inner {
                key: format!("{{{}}}:breaker", self.name),
                name: self.name.into(),
                store: self.store,
                args: Mutex::new(args),
                poll: self.poll,
                on_error: self.on_error,
                local: Mutex::new(CircuitBreaker::new(self.config, self.window)),
                view: Mutex::new(View {
                    record: BreakerRecord::CLOSED,
                    read_at: None,
                }),
            }),
        })
    }
}

/// What a call's end must still tell the store
/// ([`RedisBreaker::record_local`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Report {
    /// The instance's breaker tripped: the `trip` script's arguments (the
    /// record as seen).
    Trip([u64; 6]),
    /// A probe's report: round, 1 success / 0 failure.
    Settle([u64; 2]),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn record_of(reply: &[i64]) -> Option<(i64, BreakerRecord)> {
    let at = |us: i64| Instant::from_micros(us.max(0) as u64);
    match *reply {
        [verdict, r, o, u, p, s, l, _now] => Some((
            verdict,
            BreakerRecord::from_parts(
                r.max(0) as u64,
                o == 1,
                at(u),
                p.max(0) as u32,
                s.max(0) as u32,
                at(l),
            ),
        )),
        _ => None,
    }
}

impl<W: Window> RedisBreaker<W> {
    /// A breaker named `name` (its record is `{name}:breaker`): `config`
    /// and `window` for the instance's own breaker, and the shared round's
    /// open wait, probes and success threshold.
    pub fn builder(
        store: Store,
        name: &str,
        config: BreakerConfig,
        window: W,
    ) -> RedisBreakerBuilder<W> {
        RedisBreakerBuilder {
            store,
            name: name.to_owned(),
            config,
            window,
            poll: Duration::from_millis(100),
            probe_lease: Duration::from_secs(30),
            retention: Duration::from_secs(3_600),
            on_error: OnStoreError::FailOpen,
        }
    }

    /// How long after a trip is stored this instance rejects at the
    /// latest: [`sharing_delay`]`(poll, call_timeout)`, the store's
    /// [`call_timeout`](Store::call_timeout) bounding the read.
    pub fn delay(&self) -> Duration {
        sharing_delay(self.inner.poll, self.inner.store.call_timeout())
    }

    /// The shared record as this instance last saw it.
    pub fn record_seen(&self) -> BreakerRecord {
        lock(&self.inner.view).record
    }

    /// The instance's own breaker's state alone: what it counts while the
    /// shared record is closed. After this instance's trip is published it
    /// is `Closed` again (it counts afresh) while the shared record is
    /// open: for what a call gets, see [`state`](Self::state).
    pub fn local_state(&self) -> State {
        lock(&self.inner.local).state()
    }

    /// What a call would get now, as far as this instance knows (the
    /// shared record as last read, merged with the instance's own
    /// breaker): `Open` while the shared record is open (`ForcedOpen` if
    /// an operator forced it, [`force_open`](Self::force_open)),
    /// `HalfOpen` once its wait is over, and the instance's own state while
    /// it is closed. The record is read again by the next
    /// [`acquire`](Self::acquire) when older than `poll`, or by
    /// [`refresh`](Self::refresh).
    pub fn state(&self) -> State {
        let record = lock(&self.inner.view).record;
        let now = self.inner.store.now();
        match record.status(now) {
            SharedStatus::Open { until }
                if until.saturating_duration_since(now).as_micros()
                    > u128::from(FORCED_WAIT_US / 2) =>
            {
                State::ForcedOpen
            }
            SharedStatus::Open { .. } => State::Open,
            SharedStatus::HalfOpen { .. } => State::HalfOpen,
            SharedStatus::Closed => self.local_state(),
        }
    }

    /// The breaker's name (its record is `{name}:breaker`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// A store-time instant (the record's open wait's end) on the local
    /// [`TokioClock`]: the local now plus what is left of the wait by the
    /// store's clock ([`Store::now`]), saturating.
    fn local_at(&self, at: Instant) -> Instant {
        let left = at.saturating_duration_since(self.inner.store.now());
        TokioClock.now().saturating_add(left)
    }

    /// The store it shares the record on.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Folds a record read from the store into the view; a newer round
    /// restarts the instance's own counting.
    fn fold(&self, record: BreakerRecord) -> BreakerRecord {
        let now = TokioClock.now();
        let mut view = lock(&self.inner.view);
        let merged = view.record.merge(record);
        if merged.round() > view.record.round() {
            lock(&self.inner.local).reset(now);
        }
        view.record = merged;
        view.read_at = Some(now);
        merged
    }

    async fn run(&self, op: &str, extra: &[u64]) -> Result<(i64, BreakerRecord), StoreError> {
        let (verdict, record) = self.script(op, None, extra).await?;
        Ok((verdict, self.fold(record)))
    }

    /// One run of the breaker script, `op` one of `read`, `trip` (`extra`:
    /// the seen record's round, open, until µs, probes, successes, last
    /// probe µs), `probe`, `settle` (`extra`: round, 1 success / 0
    /// failure), `close`, `open` (`extra`: 1 forced, 0 the open wait); at `now` (`None`: the server's clock). Returns
    /// the verdict (`probe`: 1 granted, 2 open, 3 every probe out) and the
    /// stored record, without folding it into this instance's view: what
    /// the tests compare with [`BreakerRecord`]'s operations.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer.
    pub async fn script(
        &self,
        op: &str,
        now: Option<Instant>,
        extra: &[u64],
    ) -> Result<(i64, BreakerRecord), StoreError> {
        let mut args = vec![op.to_owned(), now_arg(now)];
        let mut own = *lock(&self.inner.args);
        if op == "open" && extra.first() == Some(&1) {
            own[0] = FORCED_WAIT_US; // an operator's force open: "for ever"
        }
        args.extend(own.iter().map(u64::to_string));
        args.extend(extra.iter().map(u64::to_string));
        let reply = self
            .inner
            .store
            .breaker(&self.inner.key, &args, now.is_none())
            .await?;
        record_of(&reply).ok_or_else(StoreError::malformed)
    }

    /// Closes the shared round by hand (an operator, a fail fast's
    /// recovery report): [`BreakerRecord::close`] in the store.
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer.
    pub async fn close(&self) -> Result<BreakerRecord, StoreError> {
        self.run("close", &[]).await.map(|(_, r)| r)
    }

    /// Opens a new shared round by hand (an operator): every instance
    /// rejects for the open wait, then probes as after a trip. Not one of
    /// [`BreakerRecord`]'s operations: the script's `open` (a new round,
    /// open from now, whatever the record held).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer.
    pub async fn open(&self) -> Result<BreakerRecord, StoreError> {
        self.run("open", &[0]).await.map(|(_, r)| r)
    }

    /// Forces the shared record open (an operator): a new round whose open
    /// wait is 2^52 µs (about 142 years), so every instance rejects until
    /// [`close`](Self::close) (or the registry's `close`, `reset`).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer.
    pub async fn force_open(&self) -> Result<BreakerRecord, StoreError> {
        self.run("open", &[1]).await.map(|(_, r)| r)
    }

    /// Closes the shared record and resets the instance's own breaker
    /// (closed, counts zeroed).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer (the instance's own
    /// breaker is reset all the same).
    pub async fn reset(&self) -> Result<BreakerRecord, StoreError> {
        lock(&self.inner.local).reset(TokioClock.now());
        self.close().await
    }

    fn without(&self) {
        self.inner.store.emit(StoreEvent::DecidedWithout {
            name: self.inner.name.clone(),
            mode: self.inner.on_error,
        });
    }

    /// Reads the shared record now (what [`acquire`](Self::acquire) does
    /// when its copy is older than `poll`).
    ///
    /// # Errors
    ///
    /// [`StoreError`] if the store did not answer.
    pub async fn refresh(&self) -> Result<BreakerRecord, StoreError> {
        self.run("read", &[]).await.map(|(_, r)| r)
    }

    /// May a call start? Reads the shared record first if this instance's
    /// copy is older than `poll`.
    ///
    /// # Errors
    ///
    /// `BreakerOpen` while the shared record is open (`retry_at` its end,
    /// **on the local clock**, [`TokioClock`], like every policy's) or the
    /// instance's own breaker is;
    /// `BreakerHalfOpenFull` while every probe of the round is out; fail
    /// closed and the store unavailable: `BreakerOpen`, `retry_at: None`.
    pub async fn acquire(&self) -> Result<SharedPermit, Rejected> {
        let local_now = TokioClock.now();
        let stale = lock(&self.inner.view)
            .read_at
            .is_none_or(|t| local_now.saturating_duration_since(t) >= self.inner.poll);
        if stale && self.refresh().await.is_err() {
            return self.acquire_without(local_now);
        }
        let record = lock(&self.inner.view).record;
        match record.status(self.inner.store.now()) {
            SharedStatus::Closed => self.acquire_local(local_now),
            SharedStatus::Open { until } => Err(Rejected::new(
                RejectReason::BreakerOpen,
                Some(self.local_at(until)),
            )),
            SharedStatus::HalfOpen { .. } => match self.run("probe", &[]).await {
                Ok((1, record)) if record.is_open() => Ok(SharedPermit::Probe {
                    round: record.round(),
                }),
                Ok((1, _)) => self.acquire_local(local_now), // closed meanwhile
                Ok((3, _)) => Err(Rejected::new(RejectReason::BreakerHalfOpenFull, None)),
                Ok((_, record)) => Err(Rejected::new(
                    RejectReason::BreakerOpen,
                    Some(self.local_at(record.open_until())),
                )),
                Err(_) => self.acquire_without(local_now),
            },
        }
    }

    fn acquire_local(&self, now: Instant) -> Result<SharedPermit, Rejected> {
        lock(&self.inner.local)
            .acquire(now)
            .map(SharedPermit::Local)
    }

    fn acquire_without(&self, now: Instant) -> Result<SharedPermit, Rejected> {
        self.without();
        match self.inner.on_error {
            OnStoreError::FailOpen => self.acquire_local(now),
            OnStoreError::FailClosed => Err(Rejected::new(RejectReason::BreakerOpen, None)),
        }
    }

    /// How the call ended. A local call is counted by the instance's own
    /// breaker; if that trips, the trip is published (and the instance
    /// counts afresh once it is stored). A probe's report settles the
    /// round in the store (a cancelled or ignored probe reports nothing:
    /// its lease decides).
    pub async fn record(&self, permit: SharedPermit, outcome: Outcome) {
        if let Some(report) = self.record_local(permit, outcome) {
            self.publish(report).await;
        }
    }

    /// Whether a call may start without a store call: `Some` when this
    /// instance's copy of the record is fresh (younger than `poll`) and
    /// closed (the instance's own breaker decides) or open (rejected);
    /// `None` when [`acquire`](Self::acquire) would call the store (a
    /// stale copy, a half-open round's probe).
    pub(crate) fn try_acquire_now(&self) -> Option<Result<SharedPermit, Rejected>> {
        let local_now = TokioClock.now();
        let view = *lock(&self.inner.view);
        let fresh = view
            .read_at
            .is_some_and(|t| local_now.saturating_duration_since(t) < self.inner.poll);
        if !fresh {
            return None;
        }
        match view.record.status(self.inner.store.now()) {
            SharedStatus::Closed => Some(self.acquire_local(local_now)),
            SharedStatus::Open { until } => Some(Err(Rejected::new(
                RejectReason::BreakerOpen,
                Some(self.local_at(until)),
            ))),
            SharedStatus::HalfOpen { .. } => None,
        }
    }

    /// The part of [`record`](Self::record) made without the store: counts
    /// a local call; returns what must still be published (a trip, a
    /// probe's report), if anything.
    pub(crate) fn record_local(&self, permit: SharedPermit, outcome: Outcome) -> Option<Report> {
        match permit {
            SharedPermit::Local(permit) => {
                let now = TokioClock.now();
                let tripped = {
                    let mut local = lock(&self.inner.local);
                    local.record(now, permit, outcome);
                    local.state() == State::Open
                };
                if !tripped {
                    return None;
                }
                let seen = lock(&self.inner.view).record;
                Some(Report::Trip([
                    seen.round(),
                    u64::from(seen.is_open()),
                    seen.open_until().as_nanos() / 1_000,
                    u64::from(seen.probes()),
                    u64::from(seen.successes()),
                    seen.last_probe().as_nanos() / 1_000,
                ]))
            }
            SharedPermit::Probe { round } => match outcome {
                Outcome::Success => Some(Report::Settle([round, 1])),
                Outcome::Cancelled | Outcome::Ignored => None,
                _ => Some(Report::Settle([round, 0])),
            },
        }
    }

    /// Publishes what [`record_local`](Self::record_local) returned.
    pub(crate) async fn publish(&self, report: Report) {
        match report {
            Report::Trip(seen) => {
                if self.run("trip", &seen).await.is_ok() {
                    // the shared record holds the round now
                    lock(&self.inner.local).reset(TokioClock.now());
                } else {
                    self.without();
                }
            }
            Report::Settle(settle) => {
                if self.run("settle", &settle).await.is_err() {
                    self.without();
                }
            }
        }
    }

    /// Runs `f` if admitted and records its result (`Ok` a success, `Err`
    /// a failure).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the call was not admitted, [`Error::Inner`]
    /// with its own error.
    pub async fn call<T, E, Fut>(&self, f: impl FnOnce() -> Fut) -> Result<T, Error<E>>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.acquire().await?;
        let result = f().await;
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        self.record(permit, outcome).await;
        result.map_err(Error::Inner)
    }
}
