//! The cache on any runtime: [`SharedCache`], one handle over a lock around
//! a [`CacheStore`] (the core's [`Cache`](failsafe_core::cache::Cache), in
//! a [`WithWaiters`] to have followers woken; on std `QuickStore`), with
//! `get_or_load` and `get_or_load_blocking`. Every decision is the core's
//! [`GetOrLoad`] (its docs say what a call gets); this handle reads the
//! clock, holds the lock around each decision (never across the loader, an
//! `.await` or a wake-up), runs the loader, waits (woken by the leader, or
//! re-checking every `recheck`, each re-check a lookup) and wakes. The
//! async and blocking calls run one loop.

use core::fmt;
use core::future::{Future, Ready, ready};
use core::ops::Deref;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use failsafe_core::cache::{CacheStep, GetOrLoad};
use failsafe_core::sync::Lock;
use failsafe_core::{ConfigError, Instant, Problem};

use crate::{BlockingRuntime, Clock, Runtime};

pub use failsafe_core::cache::{CacheError, CacheStore, Cached, LoadWaiters, WithWaiters};

/// The default lease of a leader's load mark: 30 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The default interval at which followers the leader cannot wake (no
/// registry, or a full one) re-check the store: 10 ms.
pub const DEFAULT_RECHECK: Duration = Duration::from_millis(10);

/// A cache store `S` behind a lock `L` (a `CsLock` or an embassy mutex
/// wrapper in a `static`, a `StdLock` on std) with a runtime `R`:
/// `get_or_load` with miss coalescing, stale-on-error, refresh-ahead and
/// negative caching, as the [module docs](self) say.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::cache::{Cache, CacheConfig};
/// use failsafe_core::sync::CsLock;
/// use failsafe_core::Instant;
/// use failsafe_driver::{BlockingRuntime, Cached, Clock, SharedCache};
/// # use core::cell::Cell;
/// # struct Manual(Cell<Instant>);
/// # impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
/// # impl BlockingRuntime for Manual { fn block_until(&self, t: Instant) { self.0.set(self.0.get().max(t)) } }
///
/// let config = CacheConfig::builder().time_to_live(Duration::from_secs(60)).build().unwrap();
/// let store: Cache<u32, &str, 64> = Cache::new(config, 0x5eed);
/// let cache = SharedCache::new(CsLock::new(store), Manual(Cell::new(Instant::ZERO)));
///
/// let first = cache.get_or_load_blocking(7, || Ok::<_, ()>("seven"));
/// assert_eq!(first, Ok(Cached::Loaded("seven")));
/// let again = cache.get_or_load_blocking(7, || -> Result<_, ()> { unreachable!() });
/// assert_eq!(again, Ok(Cached::Fresh("seven")));
/// ```
pub struct SharedCache<S, L, R> {
    lock: L,
    runtime: R,
    lease: Duration,
    recheck: Duration,
    _store: core::marker::PhantomData<fn() -> S>,
}

impl<S, L, R: fmt::Debug> fmt::Debug for SharedCache<S, L, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("runtime", &self.runtime)
            .field("lease", &self.lease)
            .field("recheck", &self.recheck)
            .finish_non_exhaustive()
    }
}

/// What [`SharedCache::begin`] found: the answer at once, or a load or a
/// wait left to run.
#[must_use]
pub enum Begin<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    /// A fresh value (or a fresh one whose refresh another caller is
    /// running): nothing to load.
    Done(Cached<S::Value>),
    /// A recent load of the key failed (negative caching): the answer is
    /// [`CacheError::Negative`] until `until`.
    Negative {
        /// When the recorded failure stops being served.
        until: Instant,
    },
    /// A load to lead (the key's load mark is held) or a leader to wait
    /// for: finish it with [`Pending::run`].
    Pending(Pending<S, L, R, C>),
}

impl<S, L, R, C> fmt::Debug for Begin<S, L, R, C>
where
    S: CacheStore,
    S::Value: fmt::Debug,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Begin::Done(cached) => f.debug_tuple("Done").field(cached).finish(),
            Begin::Negative { until } => f.debug_struct("Negative").field("until", until).finish(),
            Begin::Pending(pending) => f.debug_tuple("Pending").field(pending).finish(),
        }
    }
}

/// The rest of a [`SharedCache::begin`]: a load this caller leads (it
/// holds the key's load mark; dropped unrun, it ends the mark if the mark
/// is still its own, and wakes the followers) or a leader it waits for.
/// Keeps the cache as the caller held it (`C`).
#[must_use = "a pending load does nothing unless run"]
pub struct Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    cache: C,
    /// Leading (holding the mark) or following.
    call: GetOrLoad<S::Key, S::Value>,
}

impl<S, L, R, C> fmt::Debug for Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("leads", &self.call.is_leading())
            .finish_non_exhaustive()
    }
}

impl<S, L, R, C> Pending<S, L, R, C>
where
    S: CacheStore,
    S::Key: Clone,
    S::Value: Clone,
    L: Lock<S>,
    R: Runtime,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    /// Finishes what [`SharedCache::begin`] started, as
    /// [`get_or_load`](SharedCache::get_or_load) would from there: leads
    /// the load with `loader`, or waits for the leader on the cache's
    /// runtime and looks again (and may lead a load itself).
    ///
    /// # Errors
    ///
    /// As [`get_or_load`](SharedCache::get_or_load).
    pub async fn run<F, Fut, E>(mut self, loader: F) -> Result<Cached<S::Value>, CacheError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        // `begin` looked without a waker: a follower looks again at once
        // with the task's (no sleep, so no instant is read here).
        let first = match self.call.is_leading() {
            true => CacheStep::Load,
            false => CacheStep::Wait {
                until: Instant::ZERO,
                registered: false,
            },
        };
        let cache = &*self.cache;
        let (task, first) = (Task(&cache.runtime), (Instant::ZERO, first));
        cache
            .run(task, &mut self.call, first, loader, |_| true)
            .await
    }
}

impl<S, L, R, C> Drop for Pending<S, L, R, C>
where
    S: CacheStore,
    L: Lock<S>,
    C: Deref<Target = SharedCache<S, L, R>>,
{
    fn drop(&mut self) {
        // Unrun (from `run` on, its guard ends the mark).
        abandon(&self.cache.lock, &mut self.call);
    }
}

/// How a call waits for its leader, the one loop ([`SharedCache::run`])
/// serving both: a task on its runtime's timer, registering the task's
/// waker (`TASK`); or a thread blocking in `wait`, registering its own.
trait Wait {
    const TASK: bool;
    type Sleep: Future<Output = ()>;
    fn now(&self) -> Instant;
    fn thread_waker(&self) -> Option<Waker> {
        None
    }
    /// Until `at`, or a wake-up (`woken`: one is registered).
    fn wait(&self, at: Instant, woken: bool) -> Self::Sleep;
}

struct Task<'a, R>(&'a R);

impl<R: Runtime> Wait for Task<'_, R> {
    const TASK: bool = true;
    type Sleep = R::Sleep;
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn wait(&self, at: Instant, _: bool) -> R::Sleep {
        self.0.sleep_until(at)
    }
}

struct Thread<'a, R>(&'a R);

impl<R: BlockingRuntime> Wait for Thread<'_, R> {
    const TASK: bool = false;
    type Sleep = Ready<()>;
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn thread_waker(&self) -> Option<Waker> {
        self.0.thread_waker()
    }
    fn wait(&self, at: Instant, woken: bool) -> Ready<()> {
        match woken {
            true => self.0.block_until_woken(at),
            false => self.0.block_until(at),
        }
        ready(())
    }
}

/// Wakes `first` and every other follower registered for `key`, taking
/// them one at a time (the lock is never held while waking).
fn wake<S: CacheStore, L: Lock<S>>(lock: &L, key: &S::Key, first: Option<Waker>) {
    let mut next = first;
    while let Some(waker) = next {
        waker.wake();
        next = lock.with(|s| s.take_waiter(key));
    }
}

/// Ends a leader's mark (if still its own) and wakes its followers.
fn abandon<S: CacheStore, L: Lock<S>>(lock: &L, call: &mut GetOrLoad<S::Key, S::Value>) {
    if call.is_leading() {
        let owed = lock.with(|s| call.abandon(s));
        wake::<S, L>(lock, call.key(), owed);
    }
}

/// A call in progress: on drop (answered, or its future dropped, or its
/// blocking loader panicking) it removes its follower registration and, if
/// it still leads, ends its mark and wakes its followers.
struct Guard<'a, S: CacheStore, L: Lock<S>> {
    lock: &'a L,
    call: &'a mut GetOrLoad<S::Key, S::Value>,
    waker: Option<Waker>,
}

impl<S: CacheStore, L: Lock<S>> Guard<'_, S, L> {
    fn unfollow(&mut self) {
        if let Some(waker) = self.waker.take() {
            self.lock.with(|s| s.remove_waiter(self.call.key(), &waker));
        }
    }
}

impl<S: CacheStore, L: Lock<S>> Drop for Guard<'_, S, L> {
    fn drop(&mut self) {
        self.unfollow();
        abandon(self.lock, self.call);
    }
}

impl<S, L, R> SharedCache<S, L, R> {
    /// A handle over `lock` (holding the store) on `runtime`, with the
    /// default lease (30 s) and re-check interval (10 ms). `const`, so a
    /// firmware keeps one in a `static`.
    pub const fn new(lock: L, runtime: R) -> Self {
        SharedCache {
            lock,
            runtime,
            lease: DEFAULT_LEASE,
            recheck: DEFAULT_RECHECK,
            _store: core::marker::PhantomData,
        }
    }

    /// Sets how long a leader's load mark lasts (`lease`: a loader that
    /// runs longer loses it and a follower may load too) and how often a
    /// follower the leader cannot wake re-checks the store for its result
    /// (`recheck`).
    ///
    /// # Errors
    ///
    /// [`Problem::Zero`] naming `lease` or `recheck` if it is zero (a zero
    /// re-check would spin).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_driver::SharedCache;
    /// let cache = SharedCache::<(), (), ()>::new((), ());
    /// assert!(cache.timing(Duration::from_secs(5), Duration::from_millis(1)).is_ok());
    /// let cache = SharedCache::<(), (), ()>::new((), ());
    /// assert_eq!(cache.timing(Duration::from_secs(5), Duration::ZERO).unwrap_err().field, "recheck");
    /// ```
    pub fn timing(mut self, lease: Duration, recheck: Duration) -> Result<Self, ConfigError> {
        if lease.is_zero() {
            return Err(ConfigError::new("lease", Problem::Zero));
        }
        if recheck.is_zero() {
            return Err(ConfigError::new("recheck", Problem::Zero));
        }
        self.lease = lease;
        self.recheck = recheck;
        Ok(self)
    }

    /// The lock around the store (for operator actions: remove,
    /// invalidate, metrics).
    pub const fn lock(&self) -> &L {
        &self.lock
    }

    /// The runtime.
    pub const fn runtime(&self) -> &R {
        &self.runtime
    }
}

impl<S, L, R> SharedCache<S, L, R>
where
    S: CacheStore,
    S::Key: Clone,
    S::Value: Clone,
    L: Lock<S>,
{
    /// Runs `f` on the store, under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut S) -> T) -> T {
        self.lock.with(f)
    }

    /// The key's value: fresh, loaded by `loader` (once for all who miss
    /// together), or stale when the load fails (see [`GetOrLoad`]). Dropped
    /// while loading, the future ends its mark and wakes its followers.
    ///
    /// # Errors
    ///
    /// [`CacheError::Load`] with the loader's error when no value is within
    /// its stale window; [`CacheError::Negative`] while a recent failure of
    /// the key is cached.
    pub async fn get_or_load<F, Fut, E>(
        &self,
        key: S::Key,
        loader: F,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        R: Runtime,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        self.load_on(&self.runtime, key, loader, |_| true).await
    }

    /// [`get_or_load`](Self::get_or_load) for blocking code: a follower
    /// registers the runtime's [`thread_waker`](BlockingRuntime::thread_waker)
    /// and blocks on `block_until_woken` (with none, or no room, on
    /// `block_until` between re-checks). A panicking loader ends its mark.
    ///
    /// # Errors
    ///
    /// As [`get_or_load`](Self::get_or_load).
    pub fn get_or_load_blocking<F, E>(
        &self,
        key: S::Key,
        loader: F,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        R: BlockingRuntime,
        F: FnOnce() -> Result<S::Value, E>,
    {
        self.load_blocking_on(&self.runtime, key, loader, |_| true)
    }

    /// [`get_or_load`](Self::get_or_load) in two halves, for a caller that
    /// must answer a hit without an `.await` or an allocation (a tower
    /// service's `call`): `begin` reads the clock and takes the first look
    /// at the store, under one lock, exactly as `get_or_load` does; a fresh
    /// value or a recorded failure is the answer at once ([`Begin::Done`],
    /// [`Begin::Negative`]), anything else is a [`Pending`] load or wait
    /// that [`Pending::run`] finishes. Only the pending half keeps a clone
    /// of `this` (an `Arc`, a `&'static`, any `&SharedCache`).
    /// A leading `Pending` dropped unrun ends its mark, as a dropped
    /// `get_or_load` does; a following one registers its task's waker at
    /// `run`'s first poll (`begin` has none).
    ///
    /// ```
    /// use failsafe_core::cache::{Cache, CacheConfig};
    /// use failsafe_core::sync::CsLock;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{Begin, Cached, Clock, Runtime, SharedCache};
    /// # use core::future::Ready;
    /// # #[derive(Debug)] struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// # impl Runtime for Zero { type Sleep = Ready<()>; fn sleep_until(&self, _: Instant) -> Ready<()> { core::future::ready(()) } }
    ///
    /// let store: Cache<&str, u32, 16> = Cache::new(CacheConfig::DEFAULT, 1);
    /// let cache = SharedCache::new(CsLock::new(store), Zero);
    /// let handle = &cache; // or an `Arc<SharedCache<..>>`
    /// let Begin::Pending(load) = SharedCache::begin(&handle, "price") else { unreachable!() };
    /// let loaded = futures_lite::future::block_on(load.run(|| async { Ok::<_, ()>(42) }));
    /// assert_eq!(loaded, Ok(Cached::Loaded(42)));
    /// assert!(matches!(SharedCache::begin(&handle, "price"), Begin::Done(Cached::Fresh(42))));
    /// ```
    pub fn begin<C>(this: &C, key: S::Key) -> Begin<S, L, R, C>
    where
        C: Deref<Target = Self> + Clone,
        R: Clock,
    {
        let mut call = GetOrLoad::new(key, this.lease);
        match this.first_look::<core::convert::Infallible>(&this.runtime, &mut call) {
            Err(Ok(cached)) => Begin::Done(cached),
            Err(Err(CacheError::Negative { until })) => Begin::Negative { until },
            Err(Err(CacheError::Load(never))) => match never {},
            Ok(_) => Begin::Pending(Pending {
                cache: this.clone(),
                call,
            }),
        }
    }

    /// `get_or_load` on `rt`'s clock and timer, serving a stale value
    /// after a failure only if `serve_stale` accepts the error.
    pub(crate) async fn load_on<RT, F, Fut, E>(
        &self,
        rt: &RT,
        key: S::Key,
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        RT: Runtime,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        let mut call = GetOrLoad::new(key, self.lease);
        match self.first_look(rt, &mut call) {
            Err(answer) => answer,
            Ok(first) => {
                self.run(Task(rt), &mut call, first, loader, serve_stale)
                    .await
            }
        }
    }

    /// The blocking `load_on`: the same loop, its waits blocking the
    /// thread, so it ends at its first poll.
    pub(crate) fn load_blocking_on<RT, F, E>(
        &self,
        rt: &RT,
        key: S::Key,
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        RT: BlockingRuntime,
        F: FnOnce() -> Result<S::Value, E>,
    {
        let mut call = GetOrLoad::new(key, self.lease);
        let first = match self.first_look(rt, &mut call) {
            Err(answer) => return answer,
            Ok(first) => first,
        };
        let load = || ready(loader());
        let run = pin!(self.run(Thread(rt), &mut call, first, load, serve_stale));
        match run.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(answer) => answer,
            Poll::Pending => unreachable!("a blocking call's waits and loader never pend"),
        }
    }

    /// A call's first look, without a waker: the answer (a hit answers
    /// here, with no future polled), or the step to run from and its instant.
    #[allow(clippy::type_complexity)]
    fn first_look<E>(
        &self,
        clock: &impl Clock,
        call: &mut GetOrLoad<S::Key, S::Value>,
    ) -> Result<(Instant, CacheStep<S::Value>), Result<Cached<S::Value>, CacheError<E>>> {
        let now = clock.now();
        let (step, owed) = self.lock.with(|s| call.look(s, now, None));
        wake::<S, L>(&self.lock, call.key(), owed);
        match step {
            CacheStep::Done(cached) => Err(Ok(cached)),
            CacheStep::Negative { until } => Err(Err(CacheError::Negative { until })),
            step => Ok((now, step)),
        }
    }

    /// The one loop of a call from its `first` step: answer, wait and
    /// look again, or lead the load and store its result. A step from a
    /// look without a waker that follows looks again at once with one (the
    /// task's, or the thread's if the runtime has one).
    async fn run<W, F, Fut, E>(
        &self,
        w: W,
        call: &mut GetOrLoad<S::Key, S::Value>,
        first: (Instant, CacheStep<S::Value>),
        loader: F,
        serve_stale: impl FnOnce(&E) -> bool,
    ) -> Result<Cached<S::Value>, CacheError<E>>
    where
        W: Wait,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<S::Value, E>>,
    {
        let mut g = Guard {
            lock: &self.lock,
            call,
            waker: None,
        };
        let ((mut now, mut step), mut waker) = (first, None);
        // The thread's waker, asked for once, when the call first follows.
        let (mut thread, mut asked) = (None, false);
        loop {
            match step {
                CacheStep::Done(cached) => return Ok(cached),
                CacheStep::Negative { until } => return Err(CacheError::Negative { until }),
                CacheStep::Wait { until, registered } => {
                    if registered {
                        g.waker = waker;
                    }
                    // The first wait comes from a look without a waker: look
                    // again at once with one (the task's, the thread's).
                    let again = !registered && !core::mem::replace(&mut asked, true) && {
                        thread = w.thread_waker();
                        W::TASK || thread.is_some()
                    };
                    if !again {
                        let recheck = now.saturating_add(self.recheck);
                        let at = until.min(if registered { until } else { recheck });
                        // Any wake-up (the timer's, or a leader's) means
                        // "look again"; an early one is harmless.
                        let mut sleep = pin!(w.wait(at, registered));
                        let mut polled = false;
                        core::future::poll_fn(|cx| match core::mem::replace(&mut polled, true) {
                            true => Poll::Ready(()),
                            false => sleep.as_mut().poll(cx),
                        })
                        .await;
                    }
                }
                CacheStep::Load => {
                    g.unfollow();
                    let result = loader().await;
                    let now = w.now();
                    let (answer, owed) = self
                        .lock
                        .with(|s| g.call.finish(s, now, result, serve_stale));
                    wake::<S, L>(&self.lock, g.call.key(), owed);
                    return answer;
                }
            }
            now = w.now();
            let (next, owed, registered) = core::future::poll_fn(|cx| {
                let waker = if W::TASK {
                    Some(cx.waker())
                } else {
                    thread.as_ref()
                };
                let (step, owed) = self.lock.with(|s| g.call.look(s, now, waker));
                let registered = matches!(
                    step,
                    CacheStep::Wait {
                        registered: true,
                        ..
                    }
                );
                Poll::Ready((step, owed, waker.filter(|_| registered).cloned()))
            })
            .await;
            wake::<S, L>(&self.lock, g.call.key(), owed);
            (step, waker) = (next, registered);
        }
    }
}
