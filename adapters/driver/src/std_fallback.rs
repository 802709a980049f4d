//! The fallback handle the std adapters bind: which reasons fall back, an
//! event hook and a clock, plus ordered chains of alternatives. The decision
//! itself is [`fallback`] / [`fallback_blocking`].

extern crate std;

use std::fmt;
use std::future::{Future, IntoFuture};

use failsafe_core::Observer;
use failsafe_core::fallback::{FallbackEvent, FallbackPolicy, FallbackReason};

use crate::fallback::falls_back;
use crate::{Clock, FallbackCause, Hook, fallback, fallback_blocking};

/// Reports a fallback's events with the alternative's place in its chain.
#[derive(Clone, Debug)]
struct Indexed {
    hook: Hook<FallbackEvent>,
    index: u32,
}

impl Observer<FallbackEvent> for Indexed {
    fn on_event(&mut self, event: FallbackEvent) {
        let event = match event {
            FallbackEvent::FellBack { reason, at, .. } => FallbackEvent::FellBack {
                reason,
                index: self.index,
                at,
            },
            other => other,
        };
        self.hook.on_event(event)
    }
}

/// A cloneable fallback for std code on clock `C`: which reasons fall back
/// ([`FallbackPolicy`], all of them by default), an optional event hook, and
/// the clock that stamps the events. The tokio, async-std and thread
/// adapters are this handle bound to their clocks.
///
/// The primary's error must say why it failed ([`FallbackCause`]): the
/// driver's [`Error`](crate::Error) (a rejection, a timeout, an inner
/// error) and [`RetryError`](crate::RetryError) (retries gave up) do; wrap a
/// plain error as `Error::Inner`.
#[derive(Clone, Debug)]
pub struct Fallback<C> {
    policy: FallbackPolicy,
    hook: Hook<FallbackEvent>,
    clock: C,
}

impl<C: Clock + Default> Fallback<C> {
    /// Falls back for every reason, on the default clock.
    pub fn new() -> Self {
        Self::with_runtime(C::default())
    }
}

impl<C: Clock + Default> Default for Fallback<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> Fallback<C> {
    /// Falls back for every reason; events are stamped by `clock`.
    pub fn with_runtime(clock: C) -> Self {
        Fallback {
            policy: FallbackPolicy::ALL,
            hook: Hook::none(),
            clock,
        }
    }

    /// Falls back only for the reasons `policy` accepts.
    pub fn policy(mut self, policy: FallbackPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends every [`FallbackEvent`] to `f`, after the listeners already
    /// added (each `on_event` adds one: several listeners hear every event).
    pub fn on_event(mut self, f: impl Fn(FallbackEvent) + Send + Sync + 'static) -> Self {
        self.hook.add(f);
        self
    }

    /// Adds an observer of every [`FallbackEvent`] (a `TracingObserver`, a
    /// `MetricsObserver`), as [`on_event`](Self::on_event) and as the
    /// admission handles' `observe`.
    #[must_use]
    pub fn observe(
        mut self,
        o: impl failsafe_core::event::SharedObserver<FallbackEvent> + Send + Sync + 'static,
    ) -> Self {
        self.hook.add_observer(o);
        self
    }

    /// The reasons that fall back.
    pub fn fallback_policy(&self) -> FallbackPolicy {
        self.policy
    }

    /// The runtime (clock) this handle reads, as the admission handles'
    /// `runtime()`.
    pub fn runtime(&self) -> &C {
        &self.clock
    }

    /// This handle's hook, its events carrying alternative number `index`.
    fn indexed(&self, index: u32) -> Indexed {
        let hook = self.hook.clone();
        Indexed { hook, index }
    }

    /// The one decision, for drivers that run the alternative themselves (a
    /// tower service's future): the reason to fall back for `error`, if the
    /// policy accepts it, reported as alternative number `index` of a chain.
    pub fn reason_for<X: FallbackCause>(&self, error: &X, index: u32) -> Option<FallbackReason> {
        let mut observer = self.indexed(index);
        falls_back(&self.clock, self.policy, &mut observer, |_| true, error)
    }

    /// Awaits `primary`; if it fails for a reason the policy accepts, runs
    /// `alternative(reason, error)` instead. The alternative may return a
    /// value, compute one from the error, or run another operation.
    ///
    /// # Errors
    ///
    /// `primary`'s error when the policy (or `when`) does not fall back for
    /// it; otherwise whatever the alternative returns.
    pub async fn call<P, A, AFut, T, X>(&self, primary: P, alternative: A) -> Result<T, X>
    where
        P: Future<Output = Result<T, X>>,
        X: FallbackCause,
        A: FnOnce(FallbackReason, X) -> AFut,
        AFut: Future<Output = Result<T, X>>,
    {
        self.call_when(|_| true, primary, alternative).await
    }

    /// [`call`](Self::call), falling back only for errors `when` accepts too.
    ///
    /// # Errors
    ///
    /// `primary`'s error when the policy (or `when`) does not fall back for
    /// it; otherwise whatever the alternative returns.
    pub async fn call_when<W, P, A, AFut, T, X>(
        &self,
        when: W,
        primary: P,
        alternative: A,
    ) -> Result<T, X>
    where
        W: FnOnce(&X) -> bool,
        P: Future<Output = Result<T, X>>,
        X: FallbackCause,
        A: FnOnce(FallbackReason, X) -> AFut,
        AFut: Future<Output = Result<T, X>>,
    {
        let observer = self.indexed(0);
        fallback(
            &self.clock,
            self.policy,
            observer,
            when,
            primary,
            alternative,
        )
        .await
    }

    /// An ordered chain: `primary`, then each [`or_else`](FallbackChain::or_else)
    /// alternative in turn while the previous one fails for a reason the
    /// policy accepts. Await the chain to run it; events carry each
    /// alternative's index (0 for the first).
    pub fn chain<P>(&self, primary: P) -> FallbackChain<'_, C, P> {
        FallbackChain {
            handle: self,
            future: primary,
            next: 0,
        }
    }

    /// [`call`](Self::call) for blocking code.
    ///
    /// # Errors
    ///
    /// `primary`'s error when the policy (or `when`) does not fall back for
    /// it; otherwise whatever the alternative returns.
    pub fn call_blocking<P, A, T, X>(&self, primary: P, alternative: A) -> Result<T, X>
    where
        P: FnOnce() -> Result<T, X>,
        X: FallbackCause,
        A: FnOnce(FallbackReason, X) -> Result<T, X>,
    {
        self.chain_blocking(primary).or_else(alternative).finish()
    }

    /// [`chain`](Self::chain) for blocking code: runs `primary` now; each
    /// [`or_else`](BlockingChain::or_else) runs its alternative at once if
    /// everything before it failed for a reason the policy accepts.
    pub fn chain_blocking<P, T, X>(&self, primary: P) -> BlockingChain<'_, C, T, X>
    where
        P: FnOnce() -> Result<T, X>,
    {
        BlockingChain {
            handle: self,
            result: primary(),
            next: 0,
        }
    }
}

/// An ordered chain of alternatives, built by [`Fallback::chain`]; `.await`
/// it to run it. Each [`or_else`](Self::or_else) wraps the chain so far:
/// no boxing, one future type per chain.
#[must_use = "a fallback chain does nothing until awaited"]
pub struct FallbackChain<'a, C, P> {
    handle: &'a Fallback<C>,
    future: P,
    next: u32,
}

impl<'a, C: Clock, P> FallbackChain<'a, C, P> {
    /// Adds the next alternative: it runs if everything before it failed
    /// for a reason the policy accepts, and gets that reason and error.
    pub fn or_else<A, AFut, T, X>(
        self,
        alternative: A,
    ) -> FallbackChain<'a, C, impl Future<Output = Result<T, X>>>
    where
        P: Future<Output = Result<T, X>>,
        X: FallbackCause,
        A: FnOnce(FallbackReason, X) -> AFut,
        AFut: Future<Output = Result<T, X>>,
    {
        let FallbackChain {
            handle,
            future,
            next,
        } = self;
        let observer = handle.indexed(next);
        FallbackChain {
            handle,
            future: fallback(
                &handle.clock,
                handle.policy,
                observer,
                |_: &X| true,
                future,
                alternative,
            ),
            next: next.saturating_add(1),
        }
    }
}

impl<C, P: Future> IntoFuture for FallbackChain<'_, C, P> {
    type Output = P::Output;
    type IntoFuture = P;

    fn into_future(self) -> P {
        self.future
    }
}

impl<C, P> fmt::Debug for FallbackChain<'_, C, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackChain")
            .field("alternatives", &self.next)
            .finish_non_exhaustive()
    }
}

/// A blocking chain of alternatives, built by [`Fallback::chain_blocking`]:
/// each step has already run; [`finish`](Self::finish) gives the result.
#[must_use = "call `finish` for the chain's result"]
pub struct BlockingChain<'a, C, T, X> {
    handle: &'a Fallback<C>,
    result: Result<T, X>,
    next: u32,
}

impl<C: Clock, T, X: FallbackCause> BlockingChain<'_, C, T, X> {
    /// Runs `alternative(reason, error)` now if the chain so far failed for
    /// a reason the policy accepts.
    pub fn or_else<A>(self, alternative: A) -> Self
    where
        A: FnOnce(FallbackReason, X) -> Result<T, X>,
    {
        let BlockingChain {
            handle,
            result,
            next,
        } = self;
        let observer = handle.indexed(next);
        BlockingChain {
            handle,
            result: fallback_blocking(
                &handle.clock,
                handle.policy,
                observer,
                |_| true,
                || result,
                alternative,
            ),
            next: next.saturating_add(1),
        }
    }

    /// The chain's result.
    ///
    /// # Errors
    ///
    /// The last alternative's error (or `primary`'s, if none ran) when no
    /// alternative succeeded.
    pub fn finish(self) -> Result<T, X> {
        self.result
    }
}

impl<C, T, X> fmt::Debug for BlockingChain<'_, C, T, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingChain")
            .field("ok", &self.result.is_ok())
            .field("alternatives", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::vec::Vec;

    use failsafe_core::retry::GiveUp;
    use failsafe_core::{Instant, RejectReason, Rejected};

    use super::*;
    use crate::{Error, RetryError};

    #[derive(Clone, Copy, Debug, Default)]
    struct Zero;
    impl Clock for Zero {
        fn now(&self) -> Instant {
            Instant::ZERO
        }
    }

    type Log = Arc<Mutex<Vec<(FallbackReason, u32)>>>;

    fn logged() -> (Fallback<Zero>, Log) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let f = Fallback::new().on_event(move |e| {
            if let FallbackEvent::FellBack { reason, index, .. } = e {
                log.lock().unwrap().push((reason, index));
            }
        });
        (f, seen)
    }

    #[test]
    fn an_async_chain_tries_alternatives_in_order_with_their_reasons() {
        let (f, seen) = logged();
        let open = Rejected::new(RejectReason::BreakerOpen, None);
        let chain = f
            .chain(async move { Err::<&str, _>(Error::<&str>::Rejected(open)) })
            .or_else(|reason, _| async move {
                assert_eq!(reason, FallbackReason::Rejected(open));
                Err(Error::Inner("replica down"))
            })
            .or_else(|reason, e| async move {
                assert_eq!(
                    (reason, e),
                    (FallbackReason::Failed, Error::Inner("replica down"))
                );
                Ok("cache")
            })
            .or_else(|_, _| async { unreachable!("an earlier alternative succeeded") });
        assert_eq!(
            futures_lite::future::block_on(chain.into_future()),
            Ok("cache")
        );
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (FallbackReason::Rejected(open), 0),
                (FallbackReason::Failed, 1)
            ]
        );
    }

    #[test]
    fn a_policy_that_does_not_accept_the_reason_passes_the_error_through() {
        let f: Fallback<Zero> = Fallback::new().policy(FallbackPolicy::NONE.on_rejected(true));
        let r = f.call_blocking(|| Err::<(), _>(Error::Inner("down")), |_, _| Ok(()));
        assert_eq!(r, Err(Error::Inner("down")));
        assert_eq!(
            f.reason_for(
                &Error::<()>::Timeout(failsafe_core::timeout::Deadline::NEVER),
                0
            ),
            None
        );
    }

    #[test]
    fn a_blocking_chain_falls_back_on_exhausted_retries() {
        let (f, seen) = logged();
        let gave_up = RetryError {
            reason: GiveUp::Attempts,
            attempts: 3,
            last: Some("down"),
        };
        let r = f
            .chain_blocking(|| Err::<u32, _>(gave_up))
            .or_else(|reason, e| {
                assert_eq!(e.attempts, 3);
                assert_eq!(reason, FallbackReason::GaveUp(GiveUp::Attempts));
                Ok(0)
            })
            .finish();
        assert_eq!(r, Ok(0));
        assert_eq!(
            *seen.lock().unwrap(),
            [(FallbackReason::GaveUp(GiveUp::Attempts), 0)]
        );
    }
}
