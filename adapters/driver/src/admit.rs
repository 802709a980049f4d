//! The one path from a call to any admission machine: [`Admit`] (async),
//! [`Guard`] (hands the permit back exactly once), [`call`].
//!
//! Every pattern that decides whether a call may start (circuit breaker,
//! fail fast, bulkhead, rate limiters) reaches every runtime through these
//! few items, written once against [`SharedAdmission`]: a pattern is its
//! core machine plus its contract implementation, nothing here.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use failsafe_core::admission::{Call, Entry};
use failsafe_core::sync::SharedAdmission;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, Rejected};

use crate::{Classify, Clock, Error, Runtime};

type Permit<H> = <H as SharedAdmission>::Permit;
type Wait<H> = <H as SharedAdmission>::Wait;

/// What a call asks of an admission machine besides the time: its deadline
/// (fail fast rejects a call that cannot finish in time; a limiter never
/// books past it; a bulkhead's queue gives the call up at it), its weight
/// (permits a rate limiter takes) and whether and how long it may wait (a
/// bulkhead's queue, a limiter's booking).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    /// The caller's deadline ([`Deadline::NEVER`] by default).
    pub deadline: Deadline,
    /// Permits asked for (1 by default).
    pub weight: u32,
    /// How long the call may wait for admission: a rate limiter's permits,
    /// a bulkhead's queue (`None`, the default: the machine's own
    /// `max_wait`; zero: no wait at all, as `try_acquire`). A bulkhead's
    /// queue keeps the call no longer than its own `max_wait` either.
    pub max_wait: Option<core::time::Duration>,
}

impl Ask {
    /// No deadline, weight 1, may wait.
    pub const DEFAULT: Ask = Ask {
        deadline: Deadline::NEVER,
        weight: 1,
        max_wait: None,
    };

    /// `call` (at a known `now`, or reading a clock lazily) with this ask
    /// and `key`.
    pub fn apply<'a, K: ?Sized>(self, call: Call<'a, ()>, key: &'a K) -> Call<'a, K> {
        call.with_deadline(self.deadline)
            .with_weight(self.weight)
            .with_max_wait(self.max_wait)
            .with_key(key)
    }
}

impl Default for Ask {
    fn default() -> Self {
        Ask::DEFAULT
    }
}

/// An admitted call's permit: handed back exactly once, with the call's
/// outcome ([`finish`](Guard::finish)) or, if the guard is dropped (the
/// call's future dropped, its closure panicked), as
/// [`Outcome::Cancelled`].
#[must_use = "dropping the guard at once records the call as cancelled"]
pub struct Guard<H, C>
where
    H: SharedAdmission,
    C: Clock,
{
    handle: H,
    clock: C,
    permit: Option<Permit<H>>,
}

impl<H, C> Guard<H, C>
where
    H: SharedAdmission,
    C: Clock,
{
    /// A guard over a permit already taken from `handle`'s machine.
    pub const fn new(handle: H, clock: C, permit: Permit<H>) -> Self {
        Guard {
            handle,
            clock,
            permit: Some(permit),
        }
    }

    /// The permit (a breaker permit says in which state it was issued).
    pub fn permit(&self) -> Option<&Permit<H>> {
        self.permit.as_ref()
    }

    /// Hands the permit back with how the call ended.
    #[inline(always)]
    pub fn finish(mut self, outcome: Outcome) {
        self.hand_back(outcome);
    }

    /// Hands the permit back with how the call ended, at `now` (a time the
    /// caller already read, shared with other layers).
    #[inline]
    pub fn finish_at(mut self, now: Instant, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            self.handle.exit(now, permit, outcome);
        }
    }

    /// [`finish`](Self::finish) where the guard lies (a future's field):
    /// the permit is handed back now, and the emptied guard's drop does
    /// nothing. A second call does nothing.
    ///
    /// ```
    /// use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
    /// use failsafe_core::sync::{CsLock, Shared};
    /// use failsafe_core::{Instant, Outcome};
    /// use failsafe_driver::{Clock, Guard};
    ///
    /// struct Zero;
    /// impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    ///
    /// let shared: Shared<Bulkhead<1>, CsLock<Bulkhead<1>>> =
    ///     Shared::new(CsLock::new(Bulkhead::new(BulkheadConfig::DEFAULT)));
    /// let permit = shared.try_acquire(Instant::ZERO).unwrap();
    /// let mut guard = Guard::new(&shared, Zero, permit);
    /// guard.finish_in_place(Outcome::Success);
    /// guard.finish_in_place(Outcome::Failure); // nothing left to hand back
    /// drop(guard); // nor here
    /// let m = shared.metrics();
    /// assert_eq!((m.in_flight, m.released, m.cancelled), (0, 1, 0));
    /// ```
    #[inline(always)]
    pub fn finish_in_place(&mut self, outcome: Outcome) {
        self.hand_back(outcome);
    }

    /// Hands back a permit whose call never started: nothing is counted
    /// (a rate limiter's booking is given back if it can be).
    pub fn abandon(mut self) {
        if let Some(permit) = self.permit.take() {
            self.handle.abandon(self.clock.now(), permit);
        }
    }

    #[inline(always)]
    fn hand_back(&mut self, outcome: Outcome) {
        if let Some(permit) = self.permit.take() {
            let clock = &self.clock;
            self.handle.exit(|| clock.now(), permit, outcome);
        }
    }
}

impl<H, C> Drop for Guard<H, C>
where
    H: SharedAdmission,
    C: Clock,
{
    fn drop(&mut self) {
        self.hand_back(Outcome::Cancelled);
    }
}

impl<H, C> fmt::Debug for Guard<H, C>
where
    H: SharedAdmission,
    C: Clock,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("held", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}

/// Asks `handle`'s machine once, now (the clock read only if the machine
/// needs the time: up front for one that always does,
/// [`SharedAdmission::READS_NOW`], lazily otherwise), registering `waker`
/// if the call has to wait: the fast
/// path of a caller that builds an [`Admit`] only for a call that waits
/// ([`Admit::waiting`]).
#[inline(always)]
pub fn enter<H, C>(
    handle: &H,
    clock: &C,
    ask: Ask,
    key: &H::Key,
    waker: Option<&core::task::Waker>,
) -> Entry<H::Permit, H::Wait>
where
    H: SharedAdmission,
    C: Clock,
{
    if H::READS_NOW {
        // The machine reads the time anyway: read it here, inlined, rather
        // than through the lazy call's indirect closure.
        return handle.enter(&ask.apply(Call::at(clock.now()), key), waker);
    }
    let read = || clock.now();
    handle.enter(&ask.apply(Call::lazy(&read), key), waker)
}

/// Takes a permit without waiting: admitted, or rejected (a bulkhead with
/// no free slot, a limiter over its rate) at once. Reads the clock only if
/// the machine needs the time.
///
/// # Errors
///
/// The machine's [`Rejected`], with its `retry_at`.
#[inline]
pub fn try_acquire<H, C>(handle: H, clock: C, ask: Ask) -> Result<Guard<H, C>, Rejected>
where
    H: SharedAdmission<Key = ()>,
    C: Clock,
{
    try_acquire_keyed(handle, clock, ask, &())
}

/// [`try_acquire`] for a keyed machine (a keyed rate limiter).
///
/// # Errors
///
/// The machine's [`Rejected`], with its `retry_at`.
#[inline(always)]
pub fn try_acquire_keyed<H, C, K>(
    handle: H,
    clock: C,
    ask: Ask,
    key: &K,
) -> Result<Guard<H, C>, Rejected>
where
    H: SharedAdmission<Key = K>,
    C: Clock,
    K: ?Sized,
{
    let no_wait = Ask {
        max_wait: Some(core::time::Duration::ZERO),
        ..ask
    };
    match enter(&handle, &clock, no_wait, key, None) {
        Entry::Admitted(permit) => Ok(Guard::new(handle, clock, permit)),
        Entry::Rejected(rejected) => Err(rejected),
        Entry::Pending { wait, .. } => {
            // No machine of this crate queues a call that may not wait; one
            // that does is told to give the place up, and the call is
            // rejected as a full bulkhead is (`retry_at` unknown).
            handle.cancel(clock.now(), wait);
            Err(Rejected::new(
                failsafe_core::RejectReason::BulkheadFull,
                None,
            ))
        }
    }
}

pin_project_lite::pin_project! {
    /// Waits for admission on a runtime's clock and timer: resolves to a
    /// [`Guard`] or the machine's rejection. While the machine says
    /// pending, it sleeps until the machine's `recheck_at` (or until woken
    /// by the machine: a bulkhead granting it a slot) and asks again.
    ///
    /// Dropping it while it waits gives its place up ([`SharedAdmission::cancel`]):
    /// nothing leaks.
    #[must_use = "futures do nothing unless polled"]
    pub struct Admit<H, R, Q = ()>
    where
        H: SharedAdmission,
        R: Runtime,
    {
        handle: Option<H>,
        runtime: Option<R>,
        key: Q,
        ask: Ask,
        wait: Option<Wait<H>>,
        #[pin]
        timer: Option<R::Sleep>,
        timer_at: Option<Instant>,
        fired: Instant,
        // Decided, the task yielding to its budget first: the answer the
        // next poll gives without asking the machine again.
        rejected: Option<Rejected>,
    }

    impl<H, R, Q> PinnedDrop for Admit<H, R, Q>
    where
        H: SharedAdmission,
        R: Runtime,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let (Some(wait), Some(handle), Some(runtime)) =
                (this.wait.take(), this.handle.as_ref(), this.runtime.as_ref())
            {
                handle.cancel(runtime.now(), wait);
            }
        }
    }
}

impl<H, R> Admit<H, R, ()>
where
    H: SharedAdmission<Key = ()>,
    R: Runtime,
{
    /// Waits for admission to `handle`'s machine with `ask`.
    pub const fn new(handle: H, runtime: R, ask: Ask) -> Self {
        Admit::keyed(handle, runtime, ask, ())
    }
}

impl<H, R, Q> Admit<H, R, Q>
where
    H: SharedAdmission,
    R: Runtime,
{
    /// Waits for admission of a call keyed by `key` (a keyed rate limiter).
    pub const fn keyed(handle: H, runtime: R, ask: Ask, key: Q) -> Self {
        Admit {
            handle: Some(handle),
            runtime: Some(runtime),
            key,
            ask,
            wait: None,
            timer: None,
            timer_at: None,
            fired: Instant::ZERO,
            rejected: None,
        }
    }

    /// Takes over a call the machine already made wait ([`enter`] answered
    /// [`Entry::Pending`]): the first poll asks the machine again with the
    /// caller's waker, then waits as [`Admit`] does. Dropped, it gives the
    /// place up.
    pub const fn waiting(handle: H, runtime: R, ask: Ask, key: Q, wait: Wait<H>) -> Self {
        Admit {
            handle: Some(handle),
            runtime: Some(runtime),
            key,
            ask,
            wait: Some(wait),
            timer: None,
            timer_at: None,
            fired: Instant::ZERO,
            rejected: None,
        }
    }

    /// `true` while the call waits in the machine.
    pub const fn is_waiting(&self) -> bool {
        self.wait.is_some()
    }
}

impl<H, R, Q> fmt::Debug for Admit<H, R, Q>
where
    H: SharedAdmission,
    R: Runtime,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admit")
            .field("ask", &self.ask)
            .field("waiting", &self.wait.is_some())
            .field("timer_at", &self.timer_at)
            .finish_non_exhaustive()
    }
}

impl<H, R, Q> Future for Admit<H, R, Q>
where
    H: SharedAdmission,
    R: Runtime,
    Q: core::borrow::Borrow<H::Key>,
{
    type Output = Result<Guard<H, R>, Rejected>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let (Some(rejected), Some(runtime)) = (*this.rejected, this.runtime.as_ref()) {
            // Rejected at the last poll, which yielded: answer it now
            // (asking again would count a second rejection, or queue an
            // expired wait again).
            if runtime.poll_budget(cx).is_pending() {
                return Poll::Pending;
            }
            *this.rejected = None;
            this.handle.take();
            return Poll::Ready(Err(rejected));
        }
        loop {
            let (Some(handle), Some(runtime)) = (this.handle.as_ref(), this.runtime.as_ref())
            else {
                return Poll::Pending; // polled after completion
            };
            // After the timer fired for `at`, the time is at least `at`
            // (a clock coarser than its timer cannot spin us).
            let fired = *this.fired;
            let read = || runtime.now().max(fired);
            let key = (*this.key).borrow();
            let call = if H::READS_NOW {
                this.ask.apply(Call::at(read()), key)
            } else {
                this.ask.apply(Call::lazy(&read), key)
            };
            let entry = match this.wait.take() {
                None => handle.enter(&call, Some(cx.waker())),
                Some(wait) => handle.resume(&call, wait, Some(cx.waker())),
            };
            let recheck_at = match entry {
                Entry::Admitted(permit) => {
                    this.timer.set(None);
                    let (Some(handle), Some(runtime)) = (this.handle.take(), this.runtime.take())
                    else {
                        return Poll::Pending;
                    };
                    return Poll::Ready(Ok(Guard::new(handle, runtime, permit)));
                }
                Entry::Rejected(rejected) => {
                    this.timer.set(None);
                    // A loop of rejected calls yields when the runtime's
                    // cooperative budget is spent; the rejection is kept
                    // for the next poll.
                    if runtime.poll_budget(cx).is_pending() {
                        *this.rejected = Some(rejected);
                        return Poll::Pending;
                    }
                    this.handle.take();
                    return Poll::Ready(Err(rejected));
                }
                Entry::Pending { wait, recheck_at } => {
                    *this.wait = Some(wait);
                    recheck_at
                }
            };
            let Some(at) = recheck_at else {
                // Only the machine's wake-up can end this wait.
                this.timer.set(None);
                *this.timer_at = None;
                return Poll::Pending;
            };
            if *this.timer_at != Some(at) || this.timer.is_none() {
                match this.timer.as_mut().as_pin_mut() {
                    Some(timer) => runtime.reset_sleep(timer, at),
                    None => this.timer.set(Some(runtime.sleep_until(at))),
                }
                *this.timer_at = Some(at);
            }
            let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            match timer.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => {
                    this.timer.set(None);
                    *this.timer_at = None;
                    *this.fired = (*this.fired).max(at);
                }
            }
        }
    }
}

/// Runs `f` if `handle`'s machine admits the call (waiting as the machine
/// says), then hands the permit back with the outcome `classify` gives the
/// result. The inner error stays typed ([`Error::Inner`]); a rejection is
/// [`Error::Rejected`] and `f` never runs. A dropped future or a panic in
/// `f` hands the permit back as [`Outcome::Cancelled`].
///
/// The returned [`Calling`] is written by hand rather than as an `async fn`,
/// whose state machine carries a "resumed after completion" panic: firmware
/// links no panic path from here.
///
/// # Errors
///
/// [`Error::Rejected`] with the machine's rejection, or [`Error::Inner`]
/// with `f`'s error.
pub const fn call<H, R, K, F, Fut, T, E>(
    handle: H,
    runtime: R,
    ask: Ask,
    classify: &K,
    f: F,
) -> Calling<'_, H, R, K, F, Fut>
where
    H: SharedAdmission<Key = ()>,
    R: Runtime,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    Calling {
        parts: Some((handle, runtime)),
        ask,
        classify,
        f: Some(f),
        rejected: None,
        admit: None,
        running: None,
        guard: None,
    }
}

pin_project_lite::pin_project! {
    /// The future [`call`] returns: admission (at once, or waiting in an
    /// [`Admit`]), then the call itself under a [`Guard`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Calling<'k, H, R, K: ?Sized, F, Fut>
    where
        H: SharedAdmission,
        R: Runtime,
    {
        // The handle and runtime until a guard or an `Admit` takes them.
        parts: Option<(H, R)>,
        ask: Ask,
        classify: &'k K,
        f: Option<F>,
        // A rejection answered once the runtime's budget allows.
        rejected: Option<Rejected>,
        #[pin]
        admit: Option<Admit<H, R>>,
        // Declared before the guard: dropped mid-call, the call stops
        // before its permit goes back (as `Cancelled`).
        #[pin]
        running: Option<Fut>,
        guard: Option<Guard<H, R>>,
    }
}

impl<H, R, K, F, Fut, T, E> Future for Calling<'_, H, R, K, F, Fut>
where
    H: SharedAdmission<Key = ()>,
    R: Runtime,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Output = Result<T, Error<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            if let Some(running) = this.running.as_mut().as_pin_mut() {
                let result = core::task::ready!(running.poll(cx));
                this.running.set(None);
                if let Some(guard) = this.guard.take() {
                    guard.finish(this.classify.classify(&result));
                }
                return Poll::Ready(result.map_err(Error::Inner));
            }
            if let Some(rejected) = *this.rejected {
                // A loop of rejected calls yields to the runtime's budget.
                if let Some((_, runtime)) = this.parts.as_ref() {
                    core::task::ready!(runtime.poll_budget(cx));
                }
                *this.rejected = None;
                *this.parts = None;
                return Poll::Ready(Err(Error::Rejected(rejected)));
            }
            let guard = if let Some(admit) = this.admit.as_mut().as_pin_mut() {
                let admitted = core::task::ready!(admit.poll(cx));
                this.admit.set(None);
                match admitted {
                    Ok(guard) => guard,
                    Err(rejected) => return Poll::Ready(Err(Error::Rejected(rejected))),
                }
            } else {
                // The first poll, or (a misuse) one after the answer: then
                // there is nothing left and it stays pending.
                let Some((handle, runtime)) = this.parts.take() else {
                    return Poll::Pending;
                };
                // The fast path: one decision; an `Admit` only for a call that waits.
                match enter(&handle, &runtime, *this.ask, &(), None) {
                    Entry::Admitted(permit) => Guard::new(handle, runtime, permit),
                    Entry::Rejected(rejected) => {
                        *this.rejected = Some(rejected);
                        *this.parts = Some((handle, runtime));
                        continue;
                    }
                    Entry::Pending { wait, .. } => {
                        let admit = Admit::waiting(handle, runtime, *this.ask, (), wait);
                        this.admit.set(Some(admit));
                        continue;
                    }
                }
            };
            let Some(f) = this.f.take() else {
                return Poll::Pending;
            };
            *this.guard = Some(guard);
            this.running.set(Some(f()));
        }
    }
}

impl<H, R, K: ?Sized, F, Fut> fmt::Debug for Calling<'_, H, R, K, F, Fut>
where
    H: SharedAdmission,
    R: Runtime,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calling")
            .field("ask", &self.ask)
            .field("waiting", &self.admit.is_some())
            .field("running", &self.running.is_some())
            .finish_non_exhaustive()
    }
}
