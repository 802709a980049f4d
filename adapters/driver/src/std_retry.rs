//! The cloneable retry handle the std adapters bind: a policy, a budget
//! shared by every clone, jitter seeds and an event hook. The loop itself is
//! [`retry`](crate::retry()) / [`retry_blocking`](crate::retry_blocking) over the core's `RetryPlan`.

extern crate std;

use std::boxed::Box;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::vec::Vec;

use failsafe_core::event::SharedObserver;
use failsafe_core::retry::{
    BudgetHandle, NoBudget, RetryBudget, RetryConfig, RetryEvent, RetryPlan,
};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer};

use crate::retry::retry_blocking_limited;
use crate::retry_alone::retry_limited;
use crate::{
    Attempt, BlockingRuntime, CallRng, Classify, Clock, DefaultClassifier, Hook, RetryContext,
    RetryError, Runtime, StdClock, StdLock,
};

/// The golden-ratio increment of SplitMix64: consecutive seeds from the
/// counter are SplitMix64's state sequence, and [`Xorshift64::new`] applies
/// its output function, so every call gets a well-spread, distinct seed.
const SEED_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// One call's jitter generator, seeded from the policy's shared counter
/// only when the call first draws from it: a call whose first attempt
/// succeeds (or that never sleeps a jittered backoff) takes no atomic step
/// on the counter. With a [`seed`](RetryPolicy::seed)ed policy the draws
/// stay deterministic: the n-th call that draws gets the n-th seed.
#[derive(Debug)]
pub struct SeedOnDraw<'a> {
    seeds: &'a AtomicU64,
    rng: Option<Xorshift64>,
}

impl<'a> SeedOnDraw<'a> {
    /// A generator that takes its seed from `seeds` (stepping it by
    /// SplitMix64's golden-ratio increment) at its first draw.
    ///
    /// ```
    /// use core::sync::atomic::AtomicU64;
    /// use failsafe_core::rng::{Rng, Xorshift64};
    /// use failsafe_driver::SeedOnDraw;
    ///
    /// let seeds = AtomicU64::new(7);
    /// let unused = SeedOnDraw::new(&seeds);
    /// drop(unused); // never drew: the counter did not move
    /// let mut lazy = SeedOnDraw::new(&seeds);
    /// assert_eq!(lazy.next_u64(), Xorshift64::new(7).next_u64());
    /// ```
    #[inline]
    pub const fn new(seeds: &'a AtomicU64) -> Self {
        SeedOnDraw { seeds, rng: None }
    }
}

impl Rng for SeedOnDraw<'_> {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        let seeds = self.seeds;
        self.rng
            .get_or_insert_with(|| Xorshift64::new(seeds.fetch_add(SEED_STEP, Ordering::Relaxed)))
            .next_u64()
    }
}

/// Runtime `R` with its sleep kept on the heap, created only when a retry
/// sleeps: a call's future then holds a pointer where it would hold the
/// runtime's timer (tokio's `Sleep` is over 100 bytes), so a call whose
/// first attempt succeeds builds, moves and drops a smaller future and
/// never allocates. [`RetryPolicy`]'s calls and the tower retry layer run
/// on it; a retry that sleeps allocates once per call (the timer is reset,
/// not replaced, for later sleeps).
///
/// ```
/// use failsafe_driver::{BoxedSleep, Clock, StdClock};
///
/// let rt = BoxedSleep(StdClock);
/// let _ = rt.now();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxedSleep<R>(pub R);

impl<R: Clock> Clock for BoxedSleep<R> {
    #[inline]
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl<R: Runtime> Runtime for BoxedSleep<R> {
    type Sleep = core::pin::Pin<std::boxed::Box<R::Sleep>>;

    #[inline]
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        std::boxed::Box::pin(self.0.sleep_until(deadline))
    }

    #[inline]
    fn reset_sleep(&self, sleep: core::pin::Pin<&mut Self::Sleep>, deadline: Instant) {
        self.0
            .reset_sleep(core::pin::Pin::into_inner(sleep).as_mut(), deadline);
    }

    #[inline]
    fn poll_budget(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.0.poll_budget(cx)
    }
}

/// A retry budget shared by every handle that holds a clone: the calls of
/// all of them spend and refill the same tokens or ratio.
///
/// ```
/// use failsafe_core::retry::TokenQuota;
/// use failsafe_driver::SharedBudget;
///
/// let budget = SharedBudget::new(TokenQuota::AWS_STANDARD);
/// let clone = budget.clone();
/// assert_eq!(clone.with(|quota| quota.tokens()), 500);
/// ```
pub struct SharedBudget<B>(Arc<StdLock<B>>);

impl<B> SharedBudget<B> {
    /// Shares `budget`.
    pub fn new(budget: B) -> Self {
        SharedBudget(Arc::new(StdLock::new(budget)))
    }

    /// Runs `f` on the budget under its lock (to read `tokens()`, say).
    pub fn with<R>(&self, f: impl FnOnce(&mut B) -> R) -> R {
        self.0.with(f)
    }

    /// Do `self` and `other` share one budget?
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<B> Lock<B> for SharedBudget<B> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut B) -> R) -> R {
        self.0.with(f)
    }
}

impl<B> core::ops::Deref for SharedBudget<B> {
    type Target = StdLock<B>;

    fn deref(&self) -> &StdLock<B> {
        &self.0
    }
}

impl<B> Clone for SharedBudget<B> {
    fn clone(&self) -> Self {
        SharedBudget(Arc::clone(&self.0))
    }
}

impl<B: fmt::Debug> fmt::Debug for SharedBudget<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedBudget").field(&self.0).finish()
    }
}

/// One call's handle on its policy's [`SharedBudget`], owned by the call
/// (for futures that must be `'static`): a clone of the shared budget, or
/// none at all when the budget keeps no state
/// ([`RetryBudget::is_unlimited`], what [`NoBudget`] is), so that a call
/// without a budget steps no reference count, neither when it is made nor
/// when it is dropped. A handle holding none counts nothing and grants
/// every retry ([`BudgetHandle`]).
///
/// ```
/// use failsafe_core::retry::{BudgetHandle, NoBudget, TokenQuota};
/// use failsafe_driver::{CallBudget, SharedBudget};
///
/// let quota = SharedBudget::new(TokenQuota::AWS_STANDARD);
/// let call = CallBudget::of(&quota);
/// assert_eq!(call.with_budget(|q: &mut TokenQuota| q.tokens()), Some(500));
/// let none = CallBudget::of(&SharedBudget::new(NoBudget));
/// assert_eq!(none.with_budget(|_: &mut NoBudget| ()), None);
/// ```
pub struct CallBudget<B>(Option<SharedBudget<B>>);

impl<B: RetryBudget> CallBudget<B> {
    /// A call's handle on `shared`: a clone, unless the budget keeps no
    /// state.
    #[inline]
    pub fn of(shared: &SharedBudget<B>) -> Self {
        if B::is_unlimited() {
            CallBudget(None)
        } else {
            CallBudget(Some(shared.clone()))
        }
    }
}

impl<B> BudgetHandle<B> for CallBudget<B> {
    #[inline]
    fn with_budget<R>(&self, f: impl FnOnce(&mut B) -> R) -> Option<R> {
        self.0.as_ref().map(|shared| shared.with(f))
    }
}

impl<B> Clone for CallBudget<B> {
    fn clone(&self) -> Self {
        CallBudget(self.0.clone())
    }
}

impl<B: fmt::Debug> fmt::Debug for CallBudget<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CallBudget").field(&self.0).finish()
    }
}

/// A cloneable retry policy for std code on clock or runtime `C`: the
/// config, a budget `B` shared by every clone, a source of jitter seeds and
/// an optional event hook. The tokio, async-std and thread adapters are this
/// handle bound to their clocks.
///
/// Each call runs its own [`Retry`](failsafe_core::retry::Retry) machine
/// (through the driver's [`retry`](crate::retry()) loop) with its own jitter generator,
/// seeded from a counter the clones share when the call first needs a
/// jittered delay ([`SeedOnDraw`]; a call whose first attempt succeeds
/// takes no seed): give the policy a [`seed`](Self::seed) and the jitter
/// of the n-th call that retries is the same on every run; by default the
/// counter starts from a per-process random value. The plans a driver
/// takes one by one ([`plan`](Self::plan), [`unstarted_plan`](Self::unstarted_plan):
/// the tower layer) draw instead from this handle's own stream of seeds,
/// one per plan whether it retries or not, with no atomic step: each clone
/// gets a stream of its own when it is cloned, so a seeded policy repeats
/// its jitter when its clones are made in the same order.
///
/// The budget is locked only while an attempt's result is decided, never
/// across an attempt or a sleep. The hook runs under that lock: keep it
/// short and do not call back into the policy from it.
///
/// The config is kept for the process's life, one copy per distinct value
/// a policy is made with (136 bytes each; a policy made again with the
/// same config shares that copy), up to [`KEPT_CONFIGS`] distinct values,
/// so that a call's future refers to it instead of carrying a copy:
/// copying it into every future cost a tower retry call whose first
/// attempt succeeds more than the rest of the call. Past that many (a
/// policy made per tenant or per request, each with its own config), a
/// policy shares its config with its calls instead ([`RetryConfigRef`]),
/// freed with the last of them: the memory kept stays bounded.
pub struct RetryPolicy<B, C> {
    config: RetryConfigRef,
    budget: SharedBudget<B>,
    live: Arc<Live>,
    hook: Hook<RetryEvent>,
    clock: BoxedSleep<C>,
    stream: Stream,
}

/// One call's [`RetryPlan`] as a [`RetryPolicy`] makes it: its own budget
/// handle, jitter and hook, the policy's config by reference.
pub type RetryCallPlan<B> = RetryPlan<CallBudget<B>, B, CallRng, Hook<RetryEvent>, RetryConfigRef>;

/// How many distinct retry configs the process keeps for its life (136
/// bytes each, about 136 KiB in all); a policy made with another one past
/// that shares it with its calls instead (see [`RetryPolicy`]).
pub const KEPT_CONFIGS: usize = 1024;

/// A [`RetryPolicy`]'s config as the policy and its calls' plans hold it:
/// a reference to the copy the process keeps (one word, nothing to drop),
/// or, past [`KEPT_CONFIGS`] distinct configs, an `Arc` shared by the
/// policy and its calls. Derefs to the [`RetryConfig`].
#[derive(Clone)]
pub struct RetryConfigRef(ConfigHeld);

#[derive(Clone)]
enum ConfigHeld {
    Kept(&'static RetryConfig),
    Shared(Arc<RetryConfig>),
}

impl RetryConfigRef {
    /// `config`: the copy kept for an equal config if one was, else a new
    /// one kept while fewer than [`KEPT_CONFIGS`] are, else shared.
    /// Policies are made rarely (a registry reload makes one per changed
    /// entry), so the search is a scan of at most [`KEPT_CONFIGS`] entries.
    ///
    /// ```
    /// use failsafe_core::retry::RetryConfig;
    /// use failsafe_driver::RetryConfigRef;
    ///
    /// let config = RetryConfig::builder().max_attempts(4).build().unwrap();
    /// let (a, b) = (RetryConfigRef::new(config), RetryConfigRef::new(config));
    /// assert_eq!(*a, config);
    /// assert!(core::ptr::eq(&*a, &*b), "one copy for equal configs");
    /// ```
    pub fn new(config: RetryConfig) -> Self {
        static KEPT: Mutex<Vec<&'static RetryConfig>> = Mutex::new(Vec::new());
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&same) = kept.iter().find(|&&known| *known == config) {
            return RetryConfigRef(ConfigHeld::Kept(same));
        }
        if kept.len() >= KEPT_CONFIGS {
            return RetryConfigRef(ConfigHeld::Shared(Arc::new(config)));
        }
        let new: &'static RetryConfig = Box::leak(Box::new(config));
        kept.push(new);
        RetryConfigRef(ConfigHeld::Kept(new))
    }
}

impl core::ops::Deref for RetryConfigRef {
    type Target = RetryConfig;

    #[inline]
    fn deref(&self) -> &RetryConfig {
        match &self.0 {
            ConfigHeld::Kept(config) => config,
            ConfigHeld::Shared(config) => config,
        }
    }
}

impl core::borrow::Borrow<RetryConfig> for RetryConfigRef {
    #[inline]
    fn borrow(&self) -> &RetryConfig {
        self
    }
}

impl fmt::Debug for RetryConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        RetryConfig::fmt(self, f)
    }
}

/// The live attempt limit's "none" ([`RetryPolicy::set_unlimited_attempts`]):
/// above every `u32` limit.
const UNLIMITED: u64 = u64::MAX;

/// What the clones of one policy share besides the budget: the jitter
/// seeds, and the attempt limit set at run time.
#[derive(Debug)]
struct Live {
    seeds: AtomicU64,
    /// The attempt limit set at run time ([`RetryPolicy::set_max_attempts`],
    /// [`RetryPolicy::set_unlimited_attempts`]): `0` for the config's,
    /// [`UNLIMITED`] for none, else the limit.
    max_attempts: AtomicU64,
    /// The seed the policy was made with, from which each handle's own
    /// [`Stream`] is derived.
    root: u64,
    /// Handles made so far (the first and its clones): numbers their streams.
    handles: AtomicU64,
}

impl Live {
    fn new(seed: u64) -> Arc<Self> {
        Arc::new(Live {
            seeds: AtomicU64::new(seed),
            max_attempts: AtomicU64::new(0),
            root: seed,
            handles: AtomicU64::new(0),
        })
    }
}

/// An odd constant other than [`SEED_STEP`] (SplitMix64's first
/// multiplier): it places each handle's stream away from the shared
/// counter's seeds.
const STREAM_SALT: u64 = 0xBF58_476D_1CE4_E5B9;

/// One handle's own jitter seeds, for the calls that take them through
/// `&mut` ([`RetryPolicy::plan`], a tower service's `call`): the n-th such
/// call of the handle gets `base + n * SEED_STEP`, no atomic step. `base`
/// is drawn from the policy's seed and the handle's number (the first
/// handle 0, each clone the next), so a seeded policy gives the same seeds
/// on every run whose handles are made in the same order, and two handles'
/// streams start at unrelated points.
#[derive(Clone, Copy, Debug)]
struct Stream {
    base: u64,
    calls: u64,
}

impl Stream {
    /// The stream of the next handle of `live`.
    fn next_of(live: &Live) -> Stream {
        let handle = live.handles.fetch_add(1, Ordering::Relaxed);
        let mut spread =
            Xorshift64::new((live.root ^ STREAM_SALT).wrapping_add(handle.wrapping_mul(SEED_STEP)));
        Stream {
            base: spread.next_u64(),
            calls: 0,
        }
    }

    /// The next call's seed.
    #[inline]
    fn next_seed(&mut self) -> u64 {
        let n = self.calls;
        self.calls = n.wrapping_add(1);
        self.base.wrapping_add(n.wrapping_mul(SEED_STEP))
    }
}

impl<B, C: Clone> Clone for RetryPolicy<B, C> {
    fn clone(&self) -> Self {
        RetryPolicy {
            config: self.config.clone(),
            budget: self.budget.clone(),
            live: Arc::clone(&self.live),
            hook: self.hook.clone(),
            clock: self.clock.clone(),
            stream: Stream::next_of(&self.live),
        }
    }
}

impl<B, C: fmt::Debug> fmt::Debug for RetryPolicy<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("config", &self.config)
            .field("hook", &self.hook)
            .field("clock", &self.clock.0)
            .finish_non_exhaustive()
    }
}

impl<C: Clock + Default> RetryPolicy<NoBudget, C> {
    /// A policy with `config` and no budget, on the default clock.
    pub fn new(config: RetryConfig) -> Self {
        Self::with_runtime(config, C::default())
    }
}

impl<C: Clock> RetryPolicy<NoBudget, C> {
    /// A policy with `config` and no budget, reading `clock`.
    pub fn with_runtime(config: RetryConfig, clock: C) -> Self {
        let live = Live::new(crate::random_seed());
        RetryPolicy {
            config: RetryConfigRef::new(config),
            budget: SharedBudget::new(NoBudget),
            stream: Stream::next_of(&live),
            live,
            hook: Hook::none(),
            clock: BoxedSleep(clock),
        }
    }
}

impl<B, C> RetryPolicy<B, C> {
    /// The same policy spending `budget`, a fresh one shared by this
    /// handle's clones from now on (clone the handle after this call).
    pub fn budget<B2: RetryBudget>(self, budget: B2) -> RetryPolicy<B2, C> {
        self.shared_budget(SharedBudget::new(budget))
    }

    /// The same policy spending an existing shared budget, e.g. one budget
    /// for the policies of several endpoints of one dependency.
    pub fn shared_budget<B2>(self, budget: SharedBudget<B2>) -> RetryPolicy<B2, C> {
        RetryPolicy {
            config: self.config,
            budget,
            live: self.live,
            hook: self.hook,
            clock: self.clock,
            stream: self.stream,
        }
    }

    /// Seeds the jitter: the n-th call of this handle and its later clones
    /// draws the same delays on every run (for tests and replays); the
    /// n-th [`plan`](Self::plan) of each handle too, when the handles are
    /// cloned in the same order.
    pub fn seed(mut self, seed: u64) -> Self {
        let live = Live::new(seed);
        let max = self.live.max_attempts.load(Ordering::Relaxed);
        live.max_attempts.store(max, Ordering::Relaxed);
        self.stream = Stream::next_of(&live);
        self.live = live;
        self
    }

    /// Sends every [`RetryEvent`] to `f`, after the listeners already
    /// added (each `on_event` adds one: several listeners hear every event).
    pub fn on_event(mut self, f: impl Fn(RetryEvent) + Send + Sync + 'static) -> Self {
        self.hook.add(f);
        self
    }

    /// Adds an observer of every [`RetryEvent`] (a `TracingObserver`, a
    /// `MetricsObserver`), as [`on_event`](Self::on_event) and as the
    /// admission handles' `observe`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use failsafe_core::retry::{RetryConfig, RetryEvent};
    /// use failsafe_driver::{FnObserver, RetryPolicy, StdClock};
    ///
    /// let gave_up = Arc::new(AtomicU32::new(0));
    /// let count = Arc::clone(&gave_up);
    /// let policy = RetryPolicy::<_, StdClock>::new(RetryConfig::builder().max_attempts(1).build().unwrap())
    ///     .observe(FnObserver(move |e: RetryEvent| {
    ///         if matches!(e, RetryEvent::GaveUp { .. }) {
    ///             count.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }));
    /// assert!(policy.call_blocking(|_| Err::<(), _>("down")).is_err());
    /// assert_eq!(gave_up.load(Ordering::Relaxed), 1);
    /// ```
    #[must_use]
    pub fn observe(
        mut self,
        o: impl failsafe_core::event::SharedObserver<RetryEvent> + Send + Sync + 'static,
    ) -> Self {
        self.hook.add_observer(o);
        self
    }

    /// The policy as built (an attempt limit set at run time is
    /// [`max_attempts`](Self::max_attempts)).
    pub fn config(&self) -> RetryConfig {
        *self.config
    }

    /// The attempt limit in force for the next call: the one set at run
    /// time ([`set_max_attempts`](Self::set_max_attempts)) if any, else the
    /// config's (`None`: no limit).
    pub fn max_attempts(&self) -> Option<u32> {
        self.live_max_attempts()
            .unwrap_or_else(|| self.config.max_attempts())
    }

    /// Sets the attempt limit of every later call of this handle and of
    /// the clones sharing it (a call keeps the limit in force when its
    /// future was made); the config is untouched. `None` goes back to the
    /// config's.
    ///
    /// ```
    /// use failsafe_core::retry::RetryConfig;
    /// use failsafe_driver::{RetryPolicy, StdClock};
    ///
    /// let config = RetryConfig::builder().max_attempts(3).build().unwrap();
    /// let policy = RetryPolicy::<_, StdClock>::new(config);
    /// let clone = policy.clone();
    /// policy.set_max_attempts(Some(5)).unwrap();
    /// assert_eq!(clone.max_attempts(), Some(5));
    /// policy.set_max_attempts(None).unwrap();
    /// assert_eq!(clone.max_attempts(), Some(3));
    /// assert_eq!(policy.set_max_attempts(Some(0)).unwrap_err().field, "max_attempts");
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](failsafe_core::ConfigError) naming `max_attempts`
    /// for a limit of zero (nothing changes).
    pub fn set_max_attempts(&self, max: Option<u32>) -> Result<(), failsafe_core::ConfigError> {
        if max == Some(0) {
            return Err(failsafe_core::ConfigError::new(
                "max_attempts",
                failsafe_core::Problem::Zero,
            ));
        }
        self.set_live_max_attempts(max.map(Some));
        Ok(())
    }

    /// Every later call of this handle and of the clones sharing it
    /// retries with no attempt limit (`RetryConfig::builder().unlimited_attempts()`:
    /// bound it by `max_elapsed`, a deadline or a budget), until
    /// [`set_max_attempts`](Self::set_max_attempts) says otherwise.
    ///
    /// ```
    /// use failsafe_core::retry::RetryConfig;
    /// use failsafe_driver::{RetryPolicy, StdClock};
    ///
    /// let config = RetryConfig::builder().max_attempts(3).build().unwrap();
    /// let policy = RetryPolicy::<_, StdClock>::new(config);
    /// policy.set_unlimited_attempts();
    /// assert_eq!(policy.max_attempts(), None);
    /// policy.set_max_attempts(None).unwrap(); // back to the config's
    /// assert_eq!(policy.max_attempts(), Some(3));
    /// ```
    pub fn set_unlimited_attempts(&self) {
        self.set_live_max_attempts(Some(None));
    }

    /// Sets the limit [`live_max_attempts`](Self::live_max_attempts)
    /// reads back: `None` the config's, `Some(None)` unlimited, else that
    /// limit (not zero: callers check it). The one place that encodes it.
    pub(crate) fn set_live_max_attempts(&self, live: Option<Option<u32>>) {
        let raw = match live {
            None => 0,
            Some(None) => UNLIMITED,
            Some(Some(max)) => u64::from(max),
        };
        self.live.max_attempts.store(raw, Ordering::Relaxed);
    }

    /// The attempt limit set at run time, read once per call: `None` if
    /// the config's stands (the call's plan is left as built), else the
    /// limit (`Some(None)`: unlimited).
    #[inline]
    pub(crate) fn live_max_attempts(&self) -> Option<Option<u32>> {
        match self.live.max_attempts.load(Ordering::Relaxed) {
            0 => None,
            UNLIMITED => Some(None),
            max => Some(Some(u32::try_from(max).unwrap_or(u32::MAX))),
        }
    }

    /// The budget shared by this handle's clones.
    pub fn shared(&self) -> &SharedBudget<B> {
        &self.budget
    }

    /// The runtime (clock) this handle reads, as the admission handles'
    /// `runtime()`.
    pub fn runtime(&self) -> &C {
        &self.clock.0
    }

    /// A fresh jitter generator for one call.
    #[inline]
    pub fn rng(&self) -> Xorshift64 {
        Xorshift64::new(self.live.seeds.fetch_add(SEED_STEP, Ordering::Relaxed))
    }

    /// One call's [`RetryPlan`], owning what it needs: for futures that
    /// must be `'static` or nameable (a tower service's, over
    /// [`PlanRun`](crate::PlanRun)). `now` is when the call starts.
    ///
    /// It takes `&mut self` so that it costs no atomic step: the call's
    /// jitter seed is the next of this handle's own stream (each clone has
    /// one; a [`CallRng`] seeds at its first draw), and the budget handle
    /// is a [`CallBudget`] (no `Arc` clone for a budget that keeps no
    /// state). The hook is cloned (an `Arc` clone only if it has
    /// listeners).
    ///
    /// ```
    /// use failsafe_core::plan::{Action, Plan};
    /// use failsafe_core::retry::RetryConfig;
    /// use failsafe_core::timeout::Deadline;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{RetryPolicy, StdClock};
    ///
    /// let mut policy = RetryPolicy::<_, StdClock>::new(RetryConfig::builder().build().unwrap());
    /// let mut plan = policy.plan(Deadline::NEVER, Instant::ZERO);
    /// assert!(matches!(plan.poll_action(Instant::ZERO), Action::Start(_)));
    /// ```
    #[inline]
    pub fn plan(&mut self, deadline: Deadline, now: Instant) -> RetryCallPlan<B>
    where
        B: RetryBudget,
    {
        let max_attempts = self.max_attempts();
        RetryPlan::new(
            self.config.clone(),
            deadline,
            CallBudget::of(&self.budget),
            CallRng::new(self.stream.next_seed()),
            self.hook.clone(),
            now,
        )
        .with_max_attempts(max_attempts)
    }

    /// [`plan`](Self::plan) for a call that starts when its first attempt
    /// does ([`RetryPlan::unstarted`]): a driver reads the clock for it
    /// only if the plan [needs the time](failsafe_core::plan::Plan::needs_start_time).
    #[inline]
    pub fn unstarted_plan(&mut self, deadline: Deadline) -> RetryCallPlan<B>
    where
        B: RetryBudget,
    {
        self.plan_parts(deadline).unstarted()
    }

    /// What one call's plan is made from, taken now (the config, the
    /// call's budget handle, jitter seed, hook and the attempt limit in
    /// force), so that a driver may make the plan later, or never
    /// ([`PlanParts::alone`]).
    #[inline]
    pub fn plan_parts(&mut self, deadline: Deadline) -> PlanParts<B>
    where
        B: RetryBudget,
    {
        PlanParts {
            config: self.config.clone(),
            deadline,
            budget: CallBudget::of(&self.budget),
            seed: self.stream.next_seed(),
            hook: self.hook.clone(),
            max_attempts: self.max_attempts(),
        }
    }

    #[inline]
    fn context(&self, deadline: Deadline) -> StdContext<'_, B> {
        // Lent, not copied: the call's future borrows the handle anyway, and
        // a 136-byte config copied into every call's future costs more than
        // the first attempt's decisions. The jitter seed is drawn only if a
        // backoff is jittered, so a first-try success takes no atomic step.
        RetryContext {
            config: &self.config,
            deadline,
            budget: &self.budget,
            rng: SeedOnDraw::new(&self.live.seeds),
            observer: LentHook(&self.hook),
        }
    }
}

/// What one call's [`RetryPlan`] is made from ([`RetryPolicy::plan_parts`]):
/// a driver holding these instead of the plan makes the plan only when
/// it is needed.
pub struct PlanParts<B> {
    config: RetryConfigRef,
    deadline: Deadline,
    budget: CallBudget<B>,
    seed: u64,
    hook: Hook<RetryEvent>,
    max_attempts: Option<u32>,
}

impl<B: RetryBudget> PlanParts<B> {
    /// What is left of the parts if the call's first attempt may run
    /// before its plan is made, the plan made only if that attempt does
    /// not succeed, else the parts back: the call has no deadline, the
    /// config no `max_elapsed`, the budget keeps no state
    /// ([`RetryBudget::is_unlimited`]), nobody listens, and results are
    /// judged without the time (`timeless_judge`: the classifier's
    /// [`verdict_uses_time`](crate::Classify::verdict_uses_time) says no).
    /// Then the plan would read no clock for the first attempt
    /// ([`needs_start_time`](failsafe_core::plan::Plan::needs_start_time)
    /// and [`needs_end_time`](failsafe_core::plan::Plan::needs_end_time)
    /// say no), count nothing when it starts, and, told it succeeded,
    /// answer with it (`Finish::Answer { attempts: 1, gave_up: None }`)
    /// having done nothing else.
    ///
    /// # Errors
    ///
    /// The parts, unchanged, when the first attempt needs the plan.
    ///
    /// ```
    /// use failsafe_core::plan::Plan;
    /// use failsafe_core::retry::{RetryConfig, TokenQuota};
    /// use failsafe_core::timeout::Deadline;
    /// use failsafe_core::Instant;
    /// use failsafe_driver::{RetryPolicy, StdClock};
    ///
    /// let config = RetryConfig::builder().build().unwrap();
    /// let mut policy = RetryPolicy::<_, StdClock>::new(config);
    /// let alone = policy.plan_parts(Deadline::NEVER).alone(true).unwrap();
    /// assert!(!alone.unstarted().needs_start_time());
    /// // with a deadline, the plan hands it to the first attempt
    /// let bounded = policy.plan_parts(Deadline::at(Instant::from_secs(1)));
    /// let bounded = bounded.alone(true).unwrap_err();
    /// assert!(bounded.unstarted().needs_start_time());
    /// // a budget counts every call when its first attempt starts
    /// let mut budgeted = policy.budget(TokenQuota::AWS_STANDARD);
    /// assert!(budgeted.plan_parts(Deadline::NEVER).alone(true).is_err());
    /// ```
    #[inline]
    pub fn alone(self, timeless_judge: bool) -> Result<FirstAttemptAlone<B>, Self> {
        if !self
            .config
            .first_attempt_alone::<B, _>(self.deadline, &self.hook, timeless_judge)
        {
            return Err(self);
        }
        Ok(FirstAttemptAlone {
            config: self.config,
            seed: self.seed,
            max_attempts: self.max_attempts,
            _budget: PhantomData,
        })
    }

    /// The call's plan, unstarted ([`RetryPolicy::unstarted_plan`]).
    #[inline]
    pub fn unstarted(self) -> RetryCallPlan<B> {
        // One expression, the limit always set (the config's unless one
        // was set at run time): a plan moved through a branch is copied.
        RetryPlan::unstarted(
            self.config,
            self.deadline,
            self.budget,
            CallRng::new(self.seed),
            self.hook,
        )
        .with_max_attempts(self.max_attempts)
    }
}

impl<B> fmt::Debug for PlanParts<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanParts")
            .field("config", &self.config)
            .field("deadline", &self.deadline)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// What a call whose first attempt runs alone ([`PlanParts::alone`]) makes
/// its plan from, should that attempt not succeed: the config's reference
/// ([`RetryConfigRef`]), the jitter seed and the attempt limit (no
/// deadline, no budget handle, no hook: the call has none). Four words,
/// with nothing to drop unless the config is shared (past
/// [`KEPT_CONFIGS`]), so that the first attempt's future stays small.
pub struct FirstAttemptAlone<B> {
    config: RetryConfigRef,
    seed: u64,
    max_attempts: Option<u32>,
    _budget: PhantomData<fn() -> B>,
}

impl<B: RetryBudget> FirstAttemptAlone<B> {
    /// The call's plan, unstarted, as [`PlanParts::unstarted`] would have
    /// made it.
    #[inline]
    pub fn unstarted(self) -> RetryCallPlan<B> {
        RetryPlan::unstarted(
            self.config,
            Deadline::NEVER,
            CallBudget(None),
            CallRng::new(self.seed),
            Hook::none(),
        )
        .with_max_attempts(self.max_attempts)
    }
}

impl<B> fmt::Debug for FirstAttemptAlone<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FirstAttemptAlone")
            .field("config", &self.config)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The handle's hook, lent to a call rather than cloned into it: the
/// call's future borrows the handle anyway, and a reference is a word
/// with no drop to run (a clone is two words, dropped at the end).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LentHook<'a>(&'a Hook<RetryEvent>);

/// A std handle's call: its config lent, its budget shared, its jitter
/// seeded on the first draw, its hook lent.
pub(crate) type StdContext<'a, B> =
    RetryContext<'a, SharedBudget<B>, SeedOnDraw<'a>, LentHook<'a>, &'a RetryConfig>;

impl Observer<RetryEvent> for LentHook<'_> {
    #[inline]
    fn on_event(&mut self, event: RetryEvent) {
        SharedObserver::on_event(self.0, event);
    }

    #[inline]
    fn is_silent(&self) -> bool {
        SharedObserver::is_silent(self.0)
    }
}

impl<B: RetryBudget, C: Runtime> RetryPolicy<B, C> {
    /// Runs `op` until it returns `Ok` or the policy gives up, sleeping on
    /// the runtime between attempts; every `Err` is retried. `op` gets the
    /// [`Attempt`] (its number, and the deadline to hand down).
    ///
    /// Dropping the returned future stops retrying at once.
    #[inline]
    pub fn call<F, Fut, T, E>(&self, op: F) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry_limited(
            &self.clock,
            self.context(Deadline::NEVER),
            self.live_max_attempts(),
            &DefaultClassifier,
            op,
        )
    }

    /// [`call`](Self::call) with `classify` deciding which results retry,
    /// which abort, and what a retry-after hint says.
    #[inline]
    pub fn call_with<K, F, Fut, T, E>(
        &self,
        classify: &K,
        op: F,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry_limited(
            &self.clock,
            self.context(Deadline::NEVER),
            self.live_max_attempts(),
            classify,
            op,
        )
    }

    /// [`call_with`](Self::call_with) under the caller's `deadline`: no retry
    /// is scheduled to start at or after it, and every attempt is handed it.
    /// The classifier first, then the deadline, as in
    /// [`Pipeline::call_with`](crate::Pipeline::call_with).
    #[inline]
    pub fn call_with_deadline<K, F, Fut, T, E>(
        &self,
        classify: &K,
        deadline: Deadline,
        op: F,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        retry_limited(
            &self.clock,
            self.context(deadline),
            self.live_max_attempts(),
            classify,
            op,
        )
    }
}

impl<B: RetryBudget, C: BlockingRuntime> RetryPolicy<B, C> {
    /// Runs blocking `op` on this thread until it returns `Ok` or the
    /// policy gives up, blocking the thread between attempts
    /// ([`BlockingRuntime::block_until`]); every `Err` is retried.
    ///
    /// # Errors
    ///
    /// A [`RetryError`] when the policy gives up: why (attempts, time,
    /// budget, a result not to retry, the deadline), the attempts made and
    /// the last error.
    pub fn call_blocking<F, T, E>(&self, op: F) -> Result<T, RetryError<E>>
    where
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.call_blocking_with_deadline(&DefaultClassifier, Deadline::NEVER, op)
    }

    /// [`call_blocking`](Self::call_blocking) with `classify` deciding which
    /// results retry.
    ///
    /// # Errors
    ///
    /// A [`RetryError`] when the policy gives up: why (attempts, time,
    /// budget, a result not to retry, the deadline), the attempts made and
    /// the last error.
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, op: F) -> Result<T, RetryError<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.call_blocking_with_deadline(classify, Deadline::NEVER, op)
    }

    /// [`call_blocking_with`](Self::call_blocking_with) under the caller's
    /// `deadline`.
    ///
    /// # Errors
    ///
    /// As [`call_blocking`](Self::call_blocking); giving up at `deadline`
    /// is one of the reasons.
    pub fn call_blocking_with_deadline<K, F, T, E>(
        &self,
        classify: &K,
        deadline: Deadline,
        op: F,
    ) -> Result<T, RetryError<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        retry_blocking_limited(
            &self.clock.0,
            self.context(deadline),
            self.live_max_attempts(),
            classify,
            op,
        )
    }
}

/// Blocks with `std::thread::sleep` until the std instant `deadline`
/// stands for.
impl BlockingRuntime for StdClock {
    fn block_until(&self, deadline: Instant) {
        let wait = StdClock::to_std(deadline).saturating_duration_since(std::time::Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    fn thread_waker(&self) -> Option<std::task::Waker> {
        Some(crate::thread_waker())
    }

    fn block_until_woken(&self, deadline: Instant) {
        crate::Park::park_until(self, Some(deadline));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::vec::Vec;

    use core::cell::Cell;
    use core::time::Duration;

    use failsafe_core::retry::{BackoffKind, GiveUp, Jitter, TokenQuota};
    use failsafe_core::rng::Rng;

    use super::*;

    /// A clock whose blocking sleep jumps it forward.
    #[derive(Clone, Debug, Default)]
    struct Jump(Cell<u64>);
    impl Clock for Jump {
        fn now(&self) -> Instant {
            Instant::from_millis(self.0.get())
        }
    }
    impl BlockingRuntime for Jump {
        fn block_until(&self, at: Instant) {
            self.0.set(self.0.get().max(at.as_millis()));
        }
    }

    fn config(attempts: u32, backoff: BackoffKind, jitter: Jitter) -> RetryConfig {
        RetryConfig::builder()
            .max_attempts(attempts)
            .backoff(backoff)
            .jitter(jitter)
            .build()
            .unwrap()
    }

    /// The parts' answer is the plan's: the tower layer asks the parts
    /// (to make no plan), the async and blocking entries ask the plan.
    #[test]
    fn the_parts_and_the_plan_agree_on_a_first_attempt_alone() {
        let far = Deadline::at(Instant::from_secs(3600));
        let bounded = RetryConfig::builder()
            .max_elapsed(Duration::from_secs(1))
            .build()
            .unwrap();
        let plain = RetryConfig::builder().build().unwrap();
        let mut seen = [0u32; 2];
        for config in [plain, bounded] {
            for deadline in [Deadline::NEVER, far] {
                for listening in [false, true] {
                    for timeless in [false, true] {
                        let mut policy = RetryPolicy::with_runtime(config, Jump::default());
                        if listening {
                            policy = policy.on_event(|_| {});
                        }
                        let mut quota = policy.clone().budget(TokenQuota::AWS_STANDARD);
                        let (alone, plan) = match policy.plan_parts(deadline).alone(timeless) {
                            Ok(later) => (true, later.unstarted()),
                            Err(parts) => (false, parts.unstarted()),
                        };
                        let plan = if timeless {
                            plan.judged_without_time()
                        } else {
                            plan
                        };
                        assert_eq!(alone, plan.first_attempt_alone());
                        seen[usize::from(alone)] += 1;
                        let parts = quota.plan_parts(deadline).alone(timeless).unwrap_err();
                        assert!(
                            !parts
                                .unstarted()
                                .judged_without_time()
                                .first_attempt_alone()
                        );
                    }
                }
            }
        }
        assert_eq!(seen, [15, 1], "alone only with nothing needing the plan");
    }

    /// A plan made after a first attempt that ran alone keeps the attempt
    /// limit in force when the call began, set at run time or not.
    #[test]
    fn a_plan_made_after_the_first_attempt_keeps_the_calls_attempt_limit() {
        use failsafe_core::plan::{Action, Judged, Plan as _};
        use failsafe_core::retry::Verdict;
        let config = RetryConfig::builder()
            .max_attempts(5)
            .backoff(BackoffKind::Constant(Duration::from_millis(10)))
            .build()
            .unwrap();
        let mut policy = RetryPolicy::with_runtime(config, Jump::default());
        for (limit, retries) in [(None, true), (Some(1), false)] {
            policy.set_max_attempts(limit).unwrap();
            let later = policy.plan_parts(Deadline::NEVER).alone(true).unwrap();
            policy.set_max_attempts(None).unwrap();
            let mut plan = later.unstarted().judged_without_time();
            plan.first_attempt_ended(Instant::ZERO, Judged::verdict(Verdict::retry()));
            let action = plan.poll_action(Instant::ZERO);
            assert_eq!(
                matches!(action, Action::Wait(_)),
                retries,
                "{limit:?}: {action:?}"
            );
        }
    }

    #[test]
    fn blocking_run_sleeps_the_backoff_on_its_clock() {
        let p = RetryPolicy::with_runtime(
            config(
                3,
                BackoffKind::Constant(Duration::from_millis(40)),
                Jitter::None,
            ),
            Jump::default(),
        );
        let r = p.call_blocking(|a| {
            if a.number < 3 {
                Err(a.number)
            } else {
                Ok(a.number)
            }
        });
        assert_eq!(r, Ok(3));
        assert_eq!(p.runtime().now(), Instant::from_millis(80));
    }

    #[test]
    fn clones_share_the_budget_and_a_new_budget_is_not_shared_with_old_clones() {
        let p = RetryPolicy::with_runtime(
            config(
                5,
                BackoffKind::Constant(Duration::from_millis(1)),
                Jitter::None,
            ),
            Jump::default(),
        )
        .budget(TokenQuota::new(5, 5, 5, 5, 0).unwrap());
        let q = RetryPolicy {
            clock: BoxedSleep(Jump::default()),
            ..p.clone()
        };
        assert!(p.shared().ptr_eq(q.shared()));
        let e = p.call_blocking(|_| Err::<(), _>("down")).unwrap_err();
        assert_eq!((e.reason, e.attempts), (GiveUp::Budget, 2));
        let e = q.call_blocking(|_| Err::<(), _>("down")).unwrap_err();
        assert_eq!((e.reason, e.attempts), (GiveUp::Budget, 1));
    }

    #[test]
    fn a_seed_makes_jitter_repeat_and_calls_draw_different_streams() {
        let full = config(
            3,
            BackoffKind::Constant(Duration::from_secs(1)),
            Jitter::Full,
        );
        let delays = |p: &RetryPolicy<NoBudget, Jump>| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            let p = p.clone().on_event(move |e| {
                if let RetryEvent::RetryScheduled { delay, .. } = e {
                    log.lock().unwrap().push(delay);
                }
            });
            for _ in 0..3 {
                let _ = p.call_blocking(|_| Err::<(), _>(()));
            }
            seen.lock().unwrap().clone()
        };
        let a = RetryPolicy::with_runtime(full, Jump::default()).seed(42);
        let b = RetryPolicy::with_runtime(full, Jump::default()).seed(42);
        let (da, db) = (delays(&a), delays(&b));
        assert_eq!(da.len(), 6);
        assert_eq!(da, db, "same seed, same delays");
        assert_ne!(da[0..2], da[2..4], "each call draws its own stream");
        let mut r1 = RetryPolicy::<NoBudget, Jump>::with_runtime(full, Jump::default())
            .seed(7)
            .rng();
        let mut r2 = RetryPolicy::<NoBudget, Jump>::with_runtime(full, Jump::default())
            .seed(7)
            .rng();
        assert_eq!(r1.next_u64(), r2.next_u64());
    }

    #[test]
    fn a_first_try_success_draws_no_seed_and_a_retry_draws_the_next_one() {
        let full = config(
            3,
            BackoffKind::Constant(Duration::from_secs(1)),
            Jitter::Full,
        );
        let p = RetryPolicy::with_runtime(full, Jump::default()).seed(9);
        assert_eq!(p.call_blocking(|_| Ok::<_, ()>(1)), Ok(1));
        let fresh = RetryPolicy::<NoBudget, Jump>::with_runtime(full, Jump::default()).seed(9);
        assert_eq!(p.rng(), fresh.rng(), "the success took no seed");
        // A call that retries takes exactly one seed: afterwards both
        // counters (each stepped once by `rng()` above) meet again once
        // `fresh` steps once more.
        let first = Arc::new(Mutex::new(None));
        let log = Arc::clone(&first);
        let p = p.on_event(move |e| {
            if let RetryEvent::RetryScheduled { delay, .. } = e {
                log.lock().unwrap().get_or_insert(delay);
            }
        });
        let _ = p.call_blocking(|_| Err::<(), _>(()));
        let got = first.lock().unwrap().expect("a retry was scheduled");
        assert!(got <= Duration::from_secs(1));
        let _ = fresh.rng();
        assert_eq!(
            p.rng(),
            fresh.rng(),
            "the retrying call took exactly one seed"
        );
    }

    /// The seeds a handle's plans take come from its own stream: distinct
    /// for every call of every clone, the same on every run for a seeded
    /// policy whose handles are made in the same order, and away from the
    /// shared counter that `call`s draw from.
    #[test]
    fn plans_of_a_handle_and_of_its_clones_take_distinct_reproducible_seeds() {
        let config = config(
            3,
            BackoffKind::Constant(Duration::from_secs(1)),
            Jitter::Full,
        );
        let streams = |seed: u64| {
            let first = RetryPolicy::with_runtime(config, Jump::default()).seed(seed);
            let mut handles = std::vec![first.clone(), first.clone(), first];
            let mut seeds = Vec::new();
            for handle in &mut handles {
                for _ in 0..500 {
                    seeds.push(handle.stream.next_seed());
                }
            }
            let shared: Vec<u64> = (0..1_500)
                .map(|_| {
                    handles[0]
                        .live
                        .seeds
                        .fetch_add(SEED_STEP, Ordering::Relaxed)
                })
                .collect();
            (seeds, shared)
        };
        let (seeds, shared) = streams(42);
        let mut distinct = seeds.clone();
        distinct.extend(&shared);
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 3_000, "no seed given twice");
        assert_eq!(streams(42).0, seeds, "a seeded policy repeats its streams");
        assert_ne!(streams(43).0, seeds);
    }

    /// A plan owns its budget handle: none for a budget that keeps no
    /// state (no `Arc` to clone), a clone of the shared budget otherwise,
    /// counted at the first attempt as a call through the handle is.
    #[test]
    fn a_plan_holds_the_shared_budget_only_if_it_keeps_state() {
        use failsafe_core::plan::{Action, Judged, Plan, PlanEvent};
        use failsafe_core::retry::{BudgetHandle, Verdict};

        let config = config(
            5,
            BackoffKind::Constant(Duration::from_millis(1)),
            Jitter::None,
        );
        let mut none = RetryPolicy::with_runtime(config, Jump::default());
        let plan = none.plan(Deadline::NEVER, Instant::ZERO);
        assert_eq!(Arc::strong_count(&none.budget.0), 1, "no clone");
        drop(plan);
        let mut quota = none.budget(TokenQuota::new(5, 5, 5, 5, 0).unwrap());
        let mut plan = quota.plan(Deadline::NEVER, Instant::ZERO);
        assert_eq!(Arc::strong_count(&quota.budget.0), 2, "one clone");
        let mut now = Instant::ZERO;
        let mut attempts = 0;
        let gave_up = loop {
            match plan.poll_action(now) {
                Action::Start(attempt) => {
                    attempts = attempt.number;
                    let judged = Judged::verdict(Verdict::retry());
                    plan.on_event(
                        now,
                        PlanEvent::Ended {
                            attempt: attempts,
                            judged,
                        },
                    );
                }
                Action::Wait(Some(at)) => {
                    now = at;
                    plan.on_event(at, PlanEvent::Timer);
                }
                Action::Finish(finish) => break finish,
                other => panic!("{other:?}"),
            }
        };
        // the same budget spent through a blocking call: two attempts
        assert!(
            matches!(
                gave_up,
                failsafe_core::plan::Finish::Answer {
                    attempts: 2,
                    gave_up: Some(GiveUp::Budget)
                }
            ),
            "{gave_up:?}"
        );
        assert_eq!(attempts, 2);
        let handle = CallBudget::of(quota.shared());
        assert_eq!(handle.with_budget(|q: &mut TokenQuota| q.tokens()), Some(0));
    }

    #[test]
    fn std_clock_block_until_a_passed_instant_returns_at_once() {
        let before = std::time::Instant::now();
        StdClock.block_until(Instant::ZERO);
        assert!(before.elapsed() < Duration::from_secs(1));
    }
}
