//! Chaos injection on any runtime: the core's [`Chaos`] machine decides
//! (see [`failsafe_core::chaos`], whose items this module re-exports), a
//! [`ChaosPolicy`] carries it out around a call.
//!
//! A policy bundles the machine (a `Chaos`, `&Chaos` or `Arc<Chaos>`: any
//! [`Borrow<Chaos>`]), the caller's way to make the injected error
//! (`Fn() -> E`) and the chosen outcome (`Fn() -> Result<T, E>`: an `Ok`
//! 503, say), a random stream (one generator per call that draws, from the
//! core's [`Seeds`](failsafe_core::rng::Seeds), each process's own by
//! default with `std`; [`seed`](ChaosPolicy::seed) fixes it for a
//! reproducible run)
//! and an observer of what it injects ([`ChaosEvent`]). For each call it:
//!
//! 1. decides at `now`, once (switched off: reads no clock, draws nothing);
//! 2. sleeps the added latency on the runtime's timer ([`run`](ChaosPolicy::run))
//!    or blocks the thread ([`run_blocking`](ChaosPolicy::run_blocking));
//!    a latency reaching past the call's deadline is a hang: the call could
//!    not answer in time;
//! 3. answers with the error or the outcome without calling, or hangs,
//!    or calls.
//!
//! A hang never answers: an async call waits until the caller's timeout
//! (or cancellation) cuts it, with no timer of its own; a blocking call
//! blocks until its deadline (for ever without one) and then returns the
//! injected error, which a blocking timeout discards as late.
//!
//! In a [`Pipeline`](crate::Pipeline) ([`chaos`](crate::Pipeline::chaos))
//! the policy is the innermost stage, inside the attempt timeout and after
//! the admissions: breakers, retries and timeouts see an injected fault as
//! the dependency's own.

use core::borrow::Borrow;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

pub use failsafe_core::chaos::*;
use failsafe_core::rng::{Rng, Xorshift64};

use crate::seeds::CallSeeds;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer};

use crate::{BlockingRuntime, Clock, Runtime};

/// What a [`ChaosPolicy`] reports when it injects something into a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChaosEvent {
    /// When the call started.
    pub at: Instant,
    /// What was injected (never [`Injection::PASS`]).
    pub injection: Injection,
}

/// A chaos machine `C` with the caller's injected error `ME`, chosen outcome
/// `MO`, random stream and observer `N`. See the [module docs](self).
///
/// ```
/// use core::time::Duration;
/// use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
/// use failsafe_driver::{BlockingRuntime, Clock, Instant};
/// use failsafe_core::timeout::Deadline;
/// # use core::cell::Cell;
/// # struct Manual(Cell<Instant>);
/// # impl Clock for Manual { fn now(&self) -> Instant { self.0.get() } }
/// # impl BlockingRuntime for Manual { fn block_until(&self, at: Instant) { self.0.set(self.0.get().max(at)) } }
///
/// let config = ChaosConfig::builder()
///     .error(Rate::ALWAYS, Schedule::Between { from: Instant::from_secs(10), until: Instant::from_secs(20) })
///     .latency(Rate::ALWAYS, Duration::from_millis(50), Duration::from_millis(50), Schedule::Always)
///     .build()
///     .unwrap();
/// let policy = ChaosPolicy::new(Chaos::new(config), || "injected", || Ok(503)).seed(7);
/// let clock = Manual(Cell::new(Instant::ZERO));
/// assert_eq!(policy.run_blocking(&clock, Deadline::NEVER, || Ok(200)), Ok(200));
/// assert_eq!(clock.now(), Instant::from_millis(50), "50 ms added");
/// clock.0.set(Instant::from_secs(15));
/// assert_eq!(policy.run_blocking(&clock, Deadline::NEVER, || Ok(200)), Err("injected"));
/// policy.chaos().set_enabled(false);
/// assert_eq!(policy.run_blocking(&clock, Deadline::NEVER, || Ok(200)), Ok(200));
/// ```
#[derive(Debug)]
pub struct ChaosPolicy<C, ME, MO, N = ()> {
    chaos: C,
    make_error: ME,
    make_outcome: MO,
    seeds: CallSeeds,
    observer: N,
}

impl<C, ME, MO> ChaosPolicy<C, ME, MO> {
    /// Injects as `chaos` decides: `make_error` makes the injected error,
    /// `make_outcome` the chosen outcome. Its random stream is, by default
    /// and with the `std` feature, each process's own
    /// ([`seed`](Self::seed) fixes it).
    pub const fn new(chaos: C, make_error: ME, make_outcome: MO) -> Self {
        ChaosPolicy {
            chaos,
            make_error,
            make_outcome,
            seeds: CallSeeds::by_default(0xC4A0_5EED),
            observer: (),
        }
    }
}

impl<C, ME, MO, N> ChaosPolicy<C, ME, MO, N> {
    /// Seeds the random stream: calls made in the same order draw the same
    /// injections, in every process.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seeds = CallSeeds::given(seed);
        self
    }

    /// Reports each injection (a [`ChaosEvent`]) to `observer`, cloned per
    /// call.
    pub fn observe<N2: Observer<ChaosEvent> + Clone>(
        self,
        observer: N2,
    ) -> ChaosPolicy<C, ME, MO, N2> {
        ChaosPolicy {
            chaos: self.chaos,
            make_error: self.make_error,
            make_outcome: self.make_outcome,
            seeds: self.seeds,
            observer,
        }
    }
}

impl<C: Borrow<Chaos>, ME, MO, N: Observer<ChaosEvent> + Clone> ChaosPolicy<C, ME, MO, N> {
    /// The machine (to switch it off and on: [`Chaos::set_enabled`]).
    pub fn chaos(&self) -> &Chaos {
        self.chaos.borrow()
    }

    /// What to inject into a call starting at `now`, from a fresh generator
    /// of the policy's stream; reported to the observer unless nothing.
    /// A call that draws nothing (switched off, or every rate in effect
    /// 0 or 100 %) takes no generator from the stream.
    pub fn decide(&self, now: Instant) -> Injection {
        let injection = self.chaos().decide(now, &mut FirstDraw(&self.seeds, None));
        if !injection.is_pass() {
            let event = ChaosEvent { at: now, injection };
            self.observer.clone().on_event(event);
        }
        injection
    }

    /// The injection decided at `now` for a call under `deadline`, as a
    /// future: `op` is made only if the call is to be made; `None` if `op`
    /// makes none.
    /// Switched off, it reads no clock.
    fn start<Fut, Z, T, E>(
        &self,
        clock: &(impl Clock + ?Sized),
        deadline: Deadline,
        sleep: impl FnOnce(Instant) -> Z,
        op: impl FnOnce() -> Option<Fut>,
    ) -> Option<Started<Fut, Z, Result<T, E>>>
    where
        ME: Fn() -> E,
        MO: Fn() -> Result<T, E>,
    {
        if !self.chaos().is_enabled() {
            return Some((None, Some(op()?), None));
        }
        let now = clock.now();
        let Injection { delay, fault } = self.decide(now);
        let wake = now + delay;
        // A latency that cannot end before the deadline: the call would not
        // answer in time (no latency: the call is the caller's own business).
        let late = !delay.is_zero() && !deadline.is_never() && wake >= deadline.instant();
        let hang = fault == Some(Fault::Hang) || late;
        let (op, answer) = match fault {
            _ if hang => (None, None),
            Some(Fault::Error) => (None, Some(Err((self.make_error)()))),
            Some(_) => (None, Some((self.make_outcome)())),
            None => (Some(op()?), None),
        };
        let delay = (!hang && !delay.is_zero()).then(|| sleep(wake));
        Some((delay, op, answer))
    }

    /// Runs the call `op` makes under the injection decided now, on
    /// `runtime`'s timer. `deadline` is the call's: a latency reaching it
    /// becomes a hang, which the caller's timeout cuts.
    ///
    /// ```
    /// use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Rate, Schedule};
    /// use failsafe_driver::{Clock, Instant, Runtime};
    /// use failsafe_core::timeout::Deadline;
    /// # use core::future::{ready, Ready};
    /// # struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// # impl Runtime for Zero { type Sleep = Ready<()>; fn sleep_until(&self, _: Instant) -> Ready<()> { ready(()) } }
    ///
    /// let config = ChaosConfig::builder().outcome(Rate::ALWAYS, Schedule::Always).build().unwrap();
    /// let policy = ChaosPolicy::new(Chaos::new(config), || "down", || Ok(503));
    /// let call = policy.run(&Zero, Deadline::NEVER, || async { Ok(200) });
    /// assert_eq!(futures_lite::future::block_on(call), Ok(503));
    /// ```
    pub fn run<R, Fut, T, E>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Fut,
    ) -> ChaosFuture<Fut, R::Sleep>
    where
        R: Runtime + ?Sized,
        Fut: Future<Output = Result<T, E>>,
        ME: Fn() -> E,
        MO: Fn() -> Result<T, E>,
    {
        let sleep = |at| runtime.sleep_until(at);
        self.start(runtime, deadline, sleep, || Some(op()))
            .map_or(ChaosFuture::pass(None), ChaosFuture::from_started)
    }

    /// [`run`](Self::run) for blocking code: the latency blocks the thread
    /// on `runtime`; a hang blocks it until `deadline` (for ever if there
    /// is none) and returns the injected error.
    ///
    /// # Errors
    ///
    /// The injected error, an outcome's error, or `op`'s.
    pub fn run_blocking<R, T, E>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        R: BlockingRuntime + ?Sized,
        ME: Fn() -> E,
        MO: Fn() -> Result<T, E>,
    {
        let mut blocked = None;
        let call = self.start(runtime, deadline, |at| blocked = Some(at), || Some(()));
        let Some((_, call, answer)) = call else {
            return op(); // unreachable: the operation always makes its call
        };
        if let Some(at) = blocked {
            runtime.block_until(at);
        }
        match (answer, call) {
            (Some(answer), _) => answer,
            (None, Some(())) => op(),
            (None, None) => {
                runtime.block_until(deadline.instant());
                Err((self.make_error)())
            }
        }
    }
}

/// One call's generator, taken from the policy's stream at its first draw.
struct FirstDraw<'a>(&'a CallSeeds, Option<Xorshift64>);

impl Rng for FirstDraw<'_> {
    fn next_u64(&mut self) -> u64 {
        let seeds = self.0;
        self.1.get_or_insert_with(|| seeds.next()).next_u64()
    }
}

pin_project_lite::pin_project! {
    /// A call under an injection: the added latency on the runtime's timer
    /// `Z`, then the injected answer, a hang (never ready, never woken), or
    /// the call `Fut`. Made by [`ChaosPolicy::run`].
    #[must_use = "futures do nothing unless polled"]
    //
    // Generic over the call's future alone (its answer is `Fut::Output`),
    // not over the answer's `T` and `E`: a future whose type names them
    // through a bound could not be proved `Send` by rustc when `E` holds a
    // lifetime (`&'static str`): rust-lang/rust#90696.
    pub struct ChaosFuture<Fut, Z>
    where
        Fut: Future,
    {
        #[pin]
        delay: Option<Z>,
        #[pin]
        op: Option<Fut>,
        answer: Option<Fut::Output>,
    }
}

/// An injection decided: the latency's timer, the call (if it is made)
/// and the injected answer (if any).
type Started<Fut, Z, A> = (Option<Z>, Option<Fut>, Option<A>);

impl<Fut: Future, Z> ChaosFuture<Fut, Z> {
    /// The call, with nothing injected (`None`: a hang).
    const fn pass(op: Option<Fut>) -> Self {
        ChaosFuture {
            delay: None,
            op,
            answer: None,
        }
    }

    /// The future of an injection decided.
    fn from_started((delay, op, answer): Started<Fut, Z, Fut::Output>) -> Self {
        ChaosFuture { delay, op, answer }
    }
}

impl<Fut, Z> Future for ChaosFuture<Fut, Z>
where
    Fut: Future,
    Z: Future<Output = ()>,
{
    type Output = Fut::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        let mut this = self.project();
        if let Some(delay) = this.delay.as_mut().as_pin_mut() {
            ready!(delay.poll(cx));
            this.delay.set(None);
        }
        if let Some(answer) = this.answer.take() {
            return Poll::Ready(answer);
        }
        let Some(op) = this.op.as_mut().as_pin_mut() else {
            // A hang (cut by the caller's timeout), or polled again after
            // its answer: pending.
            return Poll::Pending;
        };
        let answer = ready!(op.poll(cx));
        // Over: it may not be polled again.
        this.op.set(None);
        Poll::Ready(answer)
    }
}

/// The future an injection wraps around an attempt: `Fut` itself (`()`,
/// no injection), or a [`ChaosFuture`]. Apart from [`Inject`] and not
/// generic over the attempt's `T` and `E`, so that a pipeline call's type
/// names no bound on them: rustc could not otherwise prove the call `Send`
/// when `E` holds a lifetime (`&'static str`, `Box<dyn Error>`):
/// rust-lang/rust#90696.
pub trait Injects {
    /// An attempt's future, `Fut`, with the injection around it, on the
    /// runtime's timer `Z`.
    type Future<Fut: Future, Z: Future<Output = ()>>: Future<Output = Fut::Output>;
}

/// What a [`Pipeline`](crate::Pipeline) does to an attempt just before
/// calling: nothing (`()`, the default), or a [`ChaosPolicy`]'s injection.
pub trait Inject<T, E>: Injects {
    /// The attempt `op` makes (if it makes one) with the injection decided
    /// now, under `deadline`.
    fn around<R: Runtime, Fut: Future<Output = Result<T, E>>>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Option<Fut>,
    ) -> Option<Self::Future<Fut, R::Sleep>>;

    /// A blocking attempt under the injection decided now.
    ///
    /// # Errors
    ///
    /// The injected error when the injection is one; otherwise `op`'s.
    fn around_blocking<R: BlockingRuntime>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>;
}

impl Injects for () {
    type Future<Fut: Future, Z: Future<Output = ()>> = Fut;
}

impl<T, E> Inject<T, E> for () {
    #[inline(always)]
    fn around<R: Runtime, Fut: Future<Output = Result<T, E>>>(
        &self,
        _: &R,
        _: Deadline,
        op: impl FnOnce() -> Option<Fut>,
    ) -> Option<Fut> {
        op()
    }

    #[inline(always)]
    fn around_blocking<R: BlockingRuntime>(
        &self,
        _: &R,
        _: Deadline,
        op: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        op()
    }
}

impl<C, ME, MO, N> Injects for ChaosPolicy<C, ME, MO, N> {
    type Future<Fut: Future, Z: Future<Output = ()>> = ChaosFuture<Fut, Z>;
}

impl<C, ME, MO, N, T, E> Inject<T, E> for ChaosPolicy<C, ME, MO, N>
where
    C: Borrow<Chaos>,
    ME: Fn() -> E,
    MO: Fn() -> Result<T, E>,
    N: Observer<ChaosEvent> + Clone,
{
    fn around<R: Runtime, Fut: Future<Output = Result<T, E>>>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Option<Fut>,
    ) -> Option<ChaosFuture<Fut, R::Sleep>> {
        self.start(runtime, deadline, |at| runtime.sleep_until(at), op)
            .map(ChaosFuture::from_started)
    }

    fn around_blocking<R: BlockingRuntime>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.run_blocking(runtime, deadline, op)
    }
}

impl<I: Injects + ?Sized> Injects for &I {
    type Future<Fut: Future, Z: Future<Output = ()>> = I::Future<Fut, Z>;
}

impl<I: Inject<T, E>, T, E> Inject<T, E> for &I {
    fn around<R: Runtime, Fut: Future<Output = Result<T, E>>>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Option<Fut>,
    ) -> Option<Self::Future<Fut, R::Sleep>> {
        (**self).around(runtime, deadline, op)
    }

    fn around_blocking<R: BlockingRuntime>(
        &self,
        runtime: &R,
        deadline: Deadline,
        op: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        (**self).around_blocking(runtime, deadline, op)
    }
}
