//! Hedging for blocking code: [`hedge_blocking`] runs the core's
//! `HedgePlan` with each attempt on a thread of its own, through the one
//! blocking executor ([`run_blocking`] over [`Threads`]), so a caller on a
//! plain thread gets the async [`hedge`](crate::hedge)'s decisions. A
//! dropped attempt's thread is abandoned (it runs on, its result
//! discarded); a panicking attempt is a failed one. See [`hedge_blocking`]
//! and [`Pipeline::call_hedged_blocking`](crate::Pipeline::call_hedged_blocking).

extern crate std;

use std::boxed::Box;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::vec::Vec;

use core::marker::PhantomData;

use failsafe_core::hedge::{HedgeEvent, Latencies};
use failsafe_core::plan::{Attempt, Finish, Judged, Plan};
use failsafe_core::retry::{RetryBudget, Verdict};
use failsafe_core::sync::Lock;
use failsafe_core::{Instant, Observer};

use crate::blocking::{BlockingAttempts, Ended, Waited, run_blocking};
use crate::hedge::SLOTS;
use crate::{Classify, HedgeContext, Idempotent, Park, RetryError};

/// The work of one attempt, run on its own thread.
pub(crate) type Job<O> = Box<dyn FnOnce() -> O + Send + 'static>;

/// An attempt started: what is held meanwhile and the work for its
/// thread; or its output at once (refused).
pub(crate) type Launch<H, O> = Result<(H, Job<O>), O>;

/// How a plan's attempts start, end and are abandoned when each runs on a
/// thread of its own ([`execute_on_threads`]). Every method runs on the
/// calling thread.
pub(crate) trait ThreadAttempts {
    /// What the calling thread holds while an attempt runs (its permits).
    type Held;
    /// What an attempt's thread returns.
    type Output: Send + 'static;

    /// Starts `attempt` at `now`: the work to run on a thread and what is
    /// held meanwhile, or the attempt's output at once (refused before it
    /// ran: a rejection).
    fn start(&mut self, attempt: Attempt, now: Instant) -> Launch<Self::Held, Self::Output>;

    /// The attempt ended at `now` with `output` (`None`: it panicked, or
    /// its thread could not be spawned): hand back what was held, if
    /// anything, and judge it.
    fn ended(
        &mut self,
        held: Option<Self::Held>,
        now: Instant,
        output: Option<&Self::Output>,
    ) -> Judged;

    /// The plan dropped the attempt at `now`: its thread runs on, its
    /// result will be discarded; hand back what was held.
    fn abandoned(&mut self, held: Self::Held, now: Instant);
}

/// A failed attempt with no result of its own (it panicked, or its thread
/// could not start): a failure not to retry.
const NO_RESULT: Judged = Judged::verdict(Verdict::DoNotRetry);

/// Why an attempt has no output: its panic's payload, or the reason its
/// thread could not start.
pub(crate) type NoOutput = Box<dyn core::any::Any + Send + 'static>;

/// How a call on threads ended.
pub(crate) struct OnThreads<O> {
    /// How the plan finished.
    pub(crate) finish: Finish,
    /// The output of the last attempt that returned one.
    pub(crate) last: Option<O>,
    /// Why the last attempt without an output had none (its panic).
    pub(crate) panic: Option<NoOutput>,
}

/// Runs one call under `plan` with every attempt on a thread of its own
/// (at most as many at once as the plan keeps in flight), waiting on
/// `runtime` ([`Park::park_until`]: an attempt's thread unparks the caller
/// when it ends): the one blocking executor ([`run_blocking`]) over
/// [`Threads`]. An attempt's end is the clock's reading when the caller
/// learns of it.
pub(crate) fn execute_on_threads<R, P, W>(
    runtime: &R,
    now: Instant,
    plan: P,
    work: W,
) -> OnThreads<W::Output>
where
    R: Park + ?Sized,
    P: Plan,
    W: ThreadAttempts,
{
    let (sender, results) = mpsc::channel();
    let mut threads = Threads {
        runtime,
        work,
        sender,
        results,
        caller: thread::current(),
        running: Vec::with_capacity(SLOTS as usize),
        panic: None,
    };
    let (finish, last) = run_blocking(now, plan, &mut threads);
    let panic = threads.panic;
    OnThreads {
        finish,
        last,
        panic,
    }
}

/// What an attempt's thread sends back: its number and its output, or
/// its panic.
type Sent<O> = (u32, Result<O, NoOutput>);

/// Attempts each on a thread of its own, for [`run_blocking`].
struct Threads<'r, R: ?Sized, W: ThreadAttempts> {
    runtime: &'r R,
    work: W,
    sender: mpsc::Sender<Sent<W::Output>>,
    results: mpsc::Receiver<Sent<W::Output>>,
    caller: thread::Thread,
    running: Vec<(u32, W::Held)>,
    panic: Option<NoOutput>,
}

impl<R: Park + ?Sized, W: ThreadAttempts> Threads<'_, R, W> {
    fn take(&mut self, number: u32) -> Option<W::Held> {
        let index = self.running.iter().position(|(n, _)| *n == number)?;
        Some(self.running.swap_remove(index).1)
    }
}

impl<R: Park + ?Sized, W: ThreadAttempts> BlockingAttempts for Threads<'_, R, W> {
    type Output = W::Output;

    fn start(&mut self, attempt: Attempt, now: Instant) -> Option<Ended<W::Output>> {
        let number = attempt.number;
        let (held, job) = match self.work.start(attempt, now) {
            Ok(launch) => launch,
            Err(refused) => {
                let judged = self.work.ended(None, now, Some(&refused));
                return Some((number, now, judged, Some(refused)));
            }
        };
        let (sender, caller) = (self.sender.clone(), self.caller.clone());
        let spawned = thread::Builder::new()
            .name(std::format!("failsafe-hedge-{number}"))
            .spawn(move || {
                // A panic is the attempt's failure, not the caller's.
                let output = catch_unwind(AssertUnwindSafe(job));
                // The caller may be gone (the attempt was abandoned).
                let _ = sender.send((number, output));
                caller.unpark();
            });
        match spawned {
            // Detached: an abandoned attempt runs on unjoined.
            Ok(_detached) => {
                self.running.push((number, held));
                None
            }
            Err(error) => {
                let judged = self.work.ended(Some(held), now, None);
                self.panic = Some(Box::new(error));
                Some((number, now, judged, None))
            }
        }
    }

    fn wait(&mut self, at: Option<Instant>) -> Waited<W::Output> {
        while let Ok((number, output)) = self.results.try_recv() {
            // A result nobody waits for (an abandoned attempt's) is
            // discarded unjudged.
            let Some(held) = self.take(number) else {
                continue;
            };
            let now = self.runtime.now();
            let judged = self.work.ended(Some(held), now, output.as_ref().ok());
            let output = output.map_err(|panic| self.panic = Some(panic)).ok();
            return Waited::Ended((number, now, judged, output));
        }
        if at.is_some_and(|at| self.runtime.now() >= at) {
            return Waited::Timer;
        }
        if self.running.is_empty() && at.is_none() {
            return Waited::Idle;
        }
        self.runtime.park_until(at);
        Waited::Again
    }

    fn abandon(&mut self, number: Option<u32>, now: Instant) {
        // A plan cancels its attempts before it finishes; anything left
        // when it does is abandoned all the same.
        match number {
            Some(number) => self
                .take(number)
                .into_iter()
                .for_each(|held| self.work.abandoned(held, now)),
            None => self
                .running
                .drain(..)
                .for_each(|(_, held)| self.work.abandoned(held, now)),
        }
    }
}

/// The attempts of [`hedge_blocking`]: the operation shared by every
/// attempt's thread, judged by the caller's classifier.
struct Plain<'k, K: ?Sized, F, T, E> {
    classify: &'k K,
    op: Arc<F>,
    result: PhantomData<fn() -> (T, E)>,
}

impl<K, F, T, E> ThreadAttempts for Plain<'_, K, F, T, E>
where
    K: Classify<T, E> + ?Sized,
    F: Fn(Attempt) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Held = ();
    type Output = Result<T, E>;

    fn start(&mut self, attempt: Attempt, _: Instant) -> Launch<(), Result<T, E>> {
        let op = Arc::clone(&self.op);
        Ok(((), Box::new(move || op(attempt))))
    }

    fn ended(&mut self, _: Option<()>, now: Instant, output: Option<&Result<T, E>>) -> Judged {
        match output {
            Some(result) => Judged::verdict(self.classify.verdict_at(now, result)),
            None => NO_RESULT,
        }
    }

    fn abandoned(&mut self, _: (), _: Instant) {}
}

/// [`hedge`](crate::hedge) for blocking code: runs `op` on a thread,
/// starts another attempt on another thread whenever the plan says (a slow
/// attempt, a failure), and returns the first success; the losers are
/// abandoned. The calling thread waits on `runtime`
/// ([`Park::park_until`]; each attempt's thread unparks it when it ends).
///
/// - **Threads.** One thread per attempt, at most four attempts in all (a
///   config asking for more runs with four, as the async hedge does):
///   `std::thread::spawn`, no pool. `op` is shared by the attempts'
///   threads, so it is `Fn + Send + Sync + 'static`.
/// - **Losers are abandoned, not cancelled.** A thread cannot be
///   interrupted: a losing attempt runs to its end and its result is
///   discarded (the plan counts it as cancelled). Give `op` the attempt's
///   deadline to bound its own waits (a socket's read timeout).
/// - **Panics.** A panicking attempt is a failed attempt (a failure not to
///   retry, so the next attempt is due at once); the panic never leaves
///   the library. The error's `last` is the last failure an attempt
///   returned (`None` if every attempt panicked).
/// - **Budget.** Hedges spend `ctx.budget` on the calling thread, as the
///   async hedge does; an abandoned attempt holds none of it.
///
/// # Errors
///
/// When every attempt fails: [`RetryError`] with the reason (`Attempts`,
/// `Budget` or `Deadline`) and the last failure.
///
/// ```
/// use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
/// use failsafe_core::retry::NoBudget;
/// use failsafe_core::timeout::Deadline;
/// use failsafe_driver::{hedge_blocking, DefaultClassifier, HedgeContext, Idempotent, StdClock};
///
/// let config = HedgeConfig::builder().max_attempts(2).delay(HedgeDelay::Parallel).build().unwrap();
/// let ctx = HedgeContext { config, deadline: Deadline::NEVER, budget: &NoBudget, latencies: (), observer: () };
/// // Both replicas are asked at once; the first fails, the second answers.
/// let read = Idempotent(|attempt: failsafe_driver::Attempt| {
///     if attempt.number == 1 { Err("replica down") } else { Ok(attempt.number) }
/// });
/// assert_eq!(hedge_blocking(&StdClock, ctx, &DefaultClassifier, read), Ok(2));
/// ```
pub fn hedge_blocking<R, L, G, Q, O, K, F, T, E>(
    runtime: &R,
    ctx: HedgeContext<'_, L, Q, O>,
    classify: &K,
    op: Idempotent<F>,
) -> Result<T, RetryError<E>>
where
    R: Park + ?Sized,
    L: Lock<G> + ?Sized,
    G: RetryBudget,
    Q: Latencies,
    O: Observer<HedgeEvent>,
    K: Classify<T, E> + ?Sized,
    F: Fn(Attempt) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let now = runtime.now();
    let work = Plain {
        classify,
        op: Arc::new(op.0),
        result: PhantomData,
    };
    let ended = execute_on_threads(runtime, now, ctx.plan(now), work);
    RetryError::from_finish(ended.finish, ended.last)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, channel};

    use failsafe_core::FnObserver;
    use failsafe_core::hedge::{HedgeConfig, HedgeDelay};
    use failsafe_core::retry::{GiveUp, NoBudget, TokenQuota};
    use failsafe_core::timeout::Deadline;

    use super::*;
    use crate::{DefaultClassifier, StdClock, StdLock};

    fn config(attempts: u32, delay: HedgeDelay) -> HedgeConfig {
        HedgeConfig::builder()
            .max_attempts(attempts)
            .delay(delay)
            .build()
            .unwrap()
    }

    fn ctx<L: ?Sized, O>(
        config: HedgeConfig,
        budget: &L,
        observer: O,
    ) -> HedgeContext<'_, L, (), O> {
        HedgeContext {
            config,
            deadline: Deadline::NEVER,
            budget,
            latencies: (),
            observer,
        }
    }

    /// Silences the default panic message of the attempts meant to panic.
    fn quiet_panics() {
        static QUIET: std::sync::Once = std::sync::Once::new();
        QUIET.call_once(|| {
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let on_hedge = thread::current()
                    .name()
                    .is_some_and(|name| name.starts_with("failsafe-hedge-"));
                if !on_hedge {
                    default(info);
                }
            }));
        });
    }

    #[test]
    fn a_panicking_attempt_is_a_failure_and_the_next_one_wins() {
        quiet_panics();
        let read = Idempotent(|attempt: Attempt| {
            assert!(attempt.number != 1, "replica 1 panics");
            Ok::<_, ()>(attempt.number)
        });
        let ctx = ctx(config(3, HedgeDelay::OnFailure), &NoBudget, ());
        assert_eq!(
            hedge_blocking(&StdClock, ctx, &DefaultClassifier, read),
            Ok(2)
        );
    }

    #[test]
    fn when_every_attempt_panics_the_error_says_so_with_no_last_error() {
        quiet_panics();
        let read = Idempotent(|_: Attempt| -> Result<(), ()> { panic!("always") });
        let ctx = ctx(config(2, HedgeDelay::Parallel), &NoBudget, ());
        let error = hedge_blocking(&StdClock, ctx, &DefaultClassifier, read).unwrap_err();
        let expected = RetryError {
            reason: GiveUp::Attempts,
            attempts: 2,
            last: None,
        };
        assert_eq!(error, expected);
    }

    /// The loser is still blocked when the call returns: the caller did
    /// not wait for it. Released afterwards, it ends, and its result goes
    /// nowhere.
    #[test]
    fn the_winner_returns_while_the_loser_still_runs_abandoned() {
        let (release, gate) = channel::<()>();
        let gate = Mutex::new(Some(gate));
        let (ended, loser_done) = channel::<u32>();
        let ended = Mutex::new(ended);
        let read = Idempotent(move |attempt: Attempt| {
            if attempt.number == 1 {
                let gate: Receiver<()> = gate.lock().unwrap().take().unwrap();
                let _ = gate.recv(); // hangs until the test releases it
                ended.lock().unwrap().send(1).unwrap();
                return Ok::<_, ()>(1);
            }
            Ok(attempt.number)
        });
        let events = Mutex::new(Vec::new());
        let observer = FnObserver(|e| events.lock().unwrap().push(e));
        let ctx = ctx(config(2, HedgeDelay::Parallel), &NoBudget, observer);
        assert_eq!(
            hedge_blocking(&StdClock, ctx, &DefaultClassifier, read),
            Ok(2)
        );
        let events = events.into_inner().unwrap();
        assert!(matches!(
            events.last(),
            Some(HedgeEvent::Won { attempt: 2, .. })
        ));
        assert!(loser_done.try_recv().is_err(), "the loser is still running");
        release.send(()).unwrap();
        assert_eq!(loser_done.recv(), Ok(1), "and ends once released");
    }

    /// A hedge the budget refuses is not started, and a won call refunds
    /// what the first attempt's success earns: the same accounting as the
    /// async hedge.
    #[test]
    fn the_budget_is_spent_on_the_calling_thread_and_nothing_leaks() {
        // 10 tokens, a hedge (priced as a timeout) costs 10, a success gives 5 back
        let quota = StdLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
        let events = Mutex::new(Vec::new());
        let observer = FnObserver(|e| events.lock().unwrap().push(e));
        let read = Idempotent(|attempt: Attempt| {
            if attempt.number < 3 {
                Err(attempt.number)
            } else {
                Ok(attempt.number)
            }
        });
        let ctx = ctx(config(3, HedgeDelay::OnFailure), &quota, observer);
        let error = hedge_blocking(&StdClock, ctx, &DefaultClassifier, read).unwrap_err();
        assert_eq!(
            (error.reason, error.attempts, error.last),
            (GiveUp::Budget, 2, Some(2))
        );
        let events = events.into_inner().unwrap();
        assert!(matches!(
            events.last(),
            Some(HedgeEvent::BudgetExhausted { .. })
        ));
        assert_eq!(quota.with(|q| q.tokens()), 0);
    }

    fn four_slots() -> crate::BulkheadPolicy<4> {
        let config = failsafe_core::bulkhead::BulkheadConfig::builder()
            .max_concurrent(4)
            .build()
            .unwrap();
        crate::BulkheadPolicy::new(config)
    }

    #[test]
    fn a_pipeline_attempt_that_panics_hands_its_slot_back_and_the_next_one_wins() {
        quiet_panics();
        let pool = four_slots();
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&events);
        let observer = FnObserver(move |e| seen.lock().unwrap().push(e));
        let pipeline = crate::Pipeline::new(StdClock)
            .admit(&pool)
            .observe_hedges(observer);
        let read = Idempotent(|attempt: Attempt| {
            assert!(attempt.number != 1, "replica 1 panics");
            Ok::<_, ()>(attempt.number)
        });
        let r = pipeline.call_hedged_blocking(config(3, HedgeDelay::OnFailure), (), read);
        assert_eq!(r, Ok(2));
        assert_eq!(pool.in_flight(), 0);
        let events = events.lock().unwrap();
        assert!(matches!(
            events[..],
            [
                HedgeEvent::Launched { attempt: 1, .. },
                HedgeEvent::Launched { attempt: 2, .. },
                HedgeEvent::Won { attempt: 2, .. }
            ]
        ));
    }

    /// With no attempt returning anything, the attempts' panic is the only
    /// answer: it reaches the caller, and every slot is back first.
    #[test]
    fn a_pipeline_call_whose_every_attempt_panics_resumes_the_panic_with_no_slot_held() {
        quiet_panics();
        let pool = four_slots();
        let pipeline = crate::Pipeline::new(StdClock).admit(&pool);
        let read = Idempotent(|_: Attempt| -> Result<(), ()> { panic!("always") });
        let call = AssertUnwindSafe(|| {
            pipeline.call_hedged_blocking(config(2, HedgeDelay::Parallel), (), read)
        });
        let panic = catch_unwind(call).unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"always"));
        assert_eq!(pool.in_flight(), 0);
    }
}
