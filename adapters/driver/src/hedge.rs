//! Hedging an operation through the core's [`HedgePlan`]: the plan says
//! when the next attempt starts; up to four run at once, pinned in place
//! ([`Four`]); the first success wins and the others are dropped.

use core::future::Future;

use failsafe_core::hedge::{HedgeConfig, HedgeEvent, HedgePlan, Latencies};
use failsafe_core::plan::{Attempt, Judged};
use failsafe_core::retry::RetryBudget;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer};

use crate::slots::Four;
use crate::{Classify, RetryError, Runtime, execute_in};

/// Attempts a hedge runs at once here ([`Four`]).
pub(crate) const SLOTS: u32 = 4;

/// An operation the caller says is safe to run more than once at the same
/// time (a read, an idempotent write): the only kind a hedge runs.
#[derive(Clone, Copy, Debug)]
pub struct Idempotent<F>(pub F);

/// What a hedge needs besides the operation: the policy, the caller's
/// deadline, a (shared) budget, the latency source for
/// [`HedgeDelay::Quantile`](failsafe_core::hedge::HedgeDelay::Quantile)
/// (`()` for none) and an observer.
#[derive(Debug)]
pub struct HedgeContext<'a, L: ?Sized, Q, O> {
    /// The policy (at most four attempts run at once here).
    pub config: HedgeConfig,
    /// No hedge starts at or after it; every attempt is handed it.
    pub deadline: Deadline,
    /// The budget hedges spend (the retries' own, to bound both).
    pub budget: &'a L,
    /// Where the quantile delay comes from and winners' latencies go.
    pub latencies: Q,
    /// Receives [`HedgeEvent`]s.
    pub observer: O,
}

impl<'a, L: ?Sized, Q: Latencies, O: Observer<HedgeEvent>> HedgeContext<'a, L, Q, O> {
    /// The call's [`HedgePlan`], starting at `now`, at most four attempts
    /// in all (the executors hold four).
    pub fn plan<G>(self, now: Instant) -> HedgePlan<&'a L, G, Q, O>
    where
        L: Lock<G>,
        G: RetryBudget,
    {
        let config = self.config.at_most(SLOTS);
        HedgePlan::new(
            config,
            self.deadline,
            self.budget,
            self.latencies,
            self.observer,
            now,
        )
    }
}

/// Runs `op`, starting another attempt whenever the plan says (a slow
/// first attempt, a failure), and answers with the first success; the
/// losers are dropped. When every attempt fails, the error says so with
/// the last failure ([`RetryError`], its reason `Attempts`, `Budget` or
/// `Deadline`). At most four attempts in all: the executor holds four
/// (a config asking for more is run with four).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
/// use failsafe_core::retry::NoBudget;
/// use failsafe_core::{timeout::Deadline, Instant};
/// use failsafe_driver::{hedge, Clock, DefaultClassifier, HedgeContext, Idempotent, Runtime};
/// use std::{cell::Cell, future::Ready};
///
/// struct Frozen; // a clock at zero whose timers fire at once
/// impl Clock for Frozen { fn now(&self) -> Instant { Instant::ZERO } }
/// impl Runtime for Frozen {
///     type Sleep = Ready<()>;
///     fn sleep_until(&self, _: Instant) -> Ready<()> { std::future::ready(()) }
/// }
///
/// let config = HedgeConfig::builder().max_attempts(2).delay(HedgeDelay::Parallel).build().unwrap();
/// let ctx = HedgeContext { config, deadline: Deadline::NEVER, budget: &NoBudget, latencies: (), observer: () };
/// // The first attempt never answers; the second wins.
/// let read = Idempotent(|attempt: failsafe_driver::Attempt| async move {
///     if attempt.number == 1 { std::future::pending::<()>().await }
///     Ok::<_, ()>(attempt.number)
/// });
/// let won = futures_lite::future::block_on(hedge(&Frozen, ctx, &DefaultClassifier, read));
/// assert_eq!(won, Ok(2));
/// ```
pub fn hedge<R, L, G, Q, O, K, F, Fut, T, E>(
    runtime: &R,
    ctx: HedgeContext<'_, L, Q, O>,
    classify: &K,
    op: Idempotent<F>,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    R: Runtime,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    Q: Latencies,
    O: Observer<HedgeEvent>,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let now = runtime.now();
    let judge = |now, result: &Result<T, E>| Judged::verdict(classify.verdict_at(now, result));
    execute_in::<_, _, _, _, _, _, _, Four<Fut>>(
        runtime,
        now,
        ctx.plan(now),
        judge,
        op.0,
        RetryError::from_finish,
    )
}
