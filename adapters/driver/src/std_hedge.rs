//! Hedging for blocking code: [`hedge_blocking`] runs the core's
//! `HedgePlan` with each attempt on a thread of its own, through the
//! async executor, [`PlanRun`], driven from the calling thread
//! ([`OnThreads`], each attempt an [`OnThread`] future), so a caller on a plain thread gets the async
//! [`hedge`](crate::hedge)'s decisions. A dropped attempt's thread is
//! abandoned (it runs on, its result discarded); a panicking attempt is a
//! failed one. See [`hedge_blocking`] and
//! [`Pipeline::call_hedged_blocking`](crate::Pipeline::call_hedged_blocking).

extern crate std;

use std::boxed::Box;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::task::{Context, Poll, Waker};
use std::thread;

use failsafe_core::hedge::{HedgeEvent, Latencies};
use failsafe_core::plan::{Attempt, Finish, Judged, Plan};
use failsafe_core::retry::{RetryBudget, Verdict};
use failsafe_core::sync::{Lock, SharedAdmission};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Observer, Outcome, Rejected};

use crate::pipeline::hand_back;
use crate::slots::Four;
use crate::{
    Classify, Clock, Guard, HedgeContext, Idempotent, Judge, Park, PlanRun, RetryError, Runtime,
    Step,
};

/// The attempts of a call on threads ([`hedge_blocking`],
/// [`Pipeline::call_hedged_blocking`](crate::Pipeline::call_hedged_blocking)):
/// each admitted through `admission` on the calling thread, which holds
/// its permits, then run on a thread of its own, and judged by `classify`
/// when the caller learns that it ended.
pub(crate) struct OnThreads<'c, A, R: ?Sized, K: ?Sized, F> {
    pub(crate) admission: &'c A,
    pub(crate) runtime: &'c R,
    pub(crate) classify: &'c K,
    pub(crate) op: Arc<F>,
    /// When an attempt handed a deadline is cut (past it, an abandoned
    /// attempt's permits go back as a timeout).
    pub(crate) cut: &'c dyn Fn(Deadline) -> Deadline,
    /// What an attempt asks of the admissions; `true`: no other attempt
    /// is in flight.
    pub(crate) ask: &'c dyn Fn(Attempt, bool) -> crate::Ask,
}

/// What an attempt on a thread gives: the operation's result, or the
/// rejection that kept it from running.
pub(crate) type Output<T, E> = Result<Result<T, E>, Rejected>;

/// Why an attempt has no output: its panic's payload, or the reason its
/// thread could not start.
pub(crate) type NoOutput = Box<dyn core::any::Any + Send + 'static>;

/// What an attempt's thread sends back: its output, or its panic.
type Sent<O> = Result<O, NoOutput>;

/// The output of the last attempt that returned one, and the last panic.
type Returned<O> = (Cell<Option<O>>, Cell<Option<NoOutput>>);

impl<A, R, K, F, T, E> OnThreads<'_, A, R, K, F>
where
    A: SharedAdmission<Key = ()>,
    R: Park + ?Sized,
    K: Classify<T, E> + ?Sized,
    F: Fn(Attempt) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    /// Runs one call under `plan` from `now` with every attempt on a
    /// thread of its own (at most four at once), the caller parked
    /// ([`Park::park_until`]) until an instant or until an attempt's thread
    /// unparks it: the one executor ([`PlanRun`]) driven from the calling
    /// thread, each attempt an [`OnThread`]. Returns how the plan finished, the output
    /// of the last attempt that returned one, and the last panic (of an
    /// attempt with no output).
    pub(crate) fn execute<P: Plan>(
        &self,
        now: Instant,
        plan: P,
    ) -> (Finish, Option<Output<T, E>>, Option<NoOutput>) {
        let returned = (Cell::new(None), Cell::new(None));
        let caller = thread::current();
        let start = |attempt: Attempt, now, alone| {
            let (held, output) = self.launch(&caller, attempt, now, alone);
            let (work, returned) = (self, &returned);
            OnThread {
                work,
                returned,
                held,
                output,
            }
        };
        let finish = {
            let waited = Cell::new(false);
            let runtime = Until(self.runtime, &waited, now); // as a runtime: its instant unused
            // The first attempt starts before the run is pinned, as the tower
            // layers' does (`execute` starts it at its first poll).
            let first =
                PlanRun::<_, _, _, Four<_>>::started(plan, now, |a| Some(start(a, now, true)));
            let mut run = pin!(first);
            let mut cx = Context::from_waker(Waker::noop());
            loop {
                waited.set(false);
                match run.as_mut().poll_step(&mut cx, &runtime, &mut Learned) {
                    Poll::Ready(Step::Start(attempt)) => {
                        let future = start(attempt, run.now(), run.idle());
                        run.as_mut().start(attempt, future);
                    }
                    Poll::Ready(Step::Finish(finish, _)) => break finish,
                    // The attempts run on their threads and no timer is
                    // set: park until one of them ends.
                    Poll::Pending if !waited.get() => self.runtime.park_until(None),
                    Poll::Pending => {}
                }
            }
        };
        (finish, returned.0.into_inner(), returned.1.into_inner())
    }

    /// Admits `attempt` at `now` (a wait parks the calling thread) and
    /// starts it on a thread of its own (or answers at once if refused, or
    /// if no thread can start): the permits held meanwhile, and where its
    /// output will come.
    #[expect(clippy::type_complexity, reason = "private: a pair of named parts")]
    fn launch(
        &self,
        caller: &thread::Thread,
        attempt: Attempt,
        now: Instant,
        alone: bool,
    ) -> (
        Option<(Guard<&A, &R>, Deadline)>,
        Receiver<Sent<Output<T, E>>>,
    ) {
        let (sender, output) = mpsc::channel();
        let deadline = attempt.deadline;
        let ask = (self.ask)(attempt, alone);
        let guard = match crate::std_blocking::admit_at(self.admission, self.runtime, now, ask) {
            Ok(guard) => guard,
            Err(rejected) => {
                let _ = sender.send(Ok(Err(rejected)));
                return (None, output);
            }
        };
        let (op, to_caller, caller) = (Arc::clone(&self.op), sender.clone(), caller.clone());
        let spawned = thread::Builder::new()
            .name(std::format!("failsafe-hedge-{}", attempt.number))
            .spawn(move || {
                // A panic is the attempt's failure, not the caller's.
                let output = catch_unwind(AssertUnwindSafe(|| Ok(op(attempt))));
                // The caller may be gone (the attempt was abandoned).
                let _ = to_caller.send(output);
                caller.unpark();
            });
        // Detached: an abandoned attempt runs on unjoined.
        if let Err(error) = spawned {
            let _ = sender.send(Err(Box::new(error)));
        }
        (Some((guard, (self.cut)(deadline))), output)
    }
}

/// The calling thread as the runtime of the one executor (and whether the
/// run's timer made it wait), and that runtime's sleep until an instant:
/// the caller parks until the instant or until an attempt's thread unparks
/// it.
struct Until<'w, R: ?Sized>(&'w R, &'w Cell<bool>, Instant);

impl<R: Park + ?Sized> Clock for Until<'_, R> {
    fn now(&self) -> Instant {
        self.0.now()
    }
}

impl<'w, R: Park + ?Sized> Runtime for Until<'w, R> {
    type Sleep = Self;

    fn sleep_until(&self, at: Instant) -> Self {
        Until(self.0, self.1, at)
    }
}

impl<R: Park + ?Sized> Future for Until<'_, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        self.1.set(true);
        if self.0.now() >= self.2 {
            return Poll::Ready(());
        }
        // Woken or not, look at the attempts first.
        self.0.park_until(Some(self.2));
        Poll::Pending
    }
}

/// An attempt on a thread of its own, as a future of the one executor:
/// ready once its thread has sent its output, judged (and its permits
/// handed back) at the instant the caller learns of it. Dropped before,
/// it is abandoned: its thread runs on, its result discarded, its permits
/// handed back as a timeout if the deadline it is cut at has passed, as
/// cancelled otherwise.
struct OnThread<'c, A: SharedAdmission, R: Clock + ?Sized, K: ?Sized, F, O> {
    work: &'c OnThreads<'c, A, R, K, F>,
    returned: &'c Returned<O>,
    /// The permits and when the attempt is cut.
    held: Option<(Guard<&'c A, &'c R>, Deadline)>,
    output: Receiver<Sent<O>>,
}

// No field is pinned: the future only polls its channel.
impl<A: SharedAdmission, R: Clock + ?Sized, K: ?Sized, F, O> Unpin for OnThread<'_, A, R, K, F, O> {}

impl<A, R, K, F, T, E> Future for OnThread<'_, A, R, K, F, Output<T, E>>
where
    A: SharedAdmission,
    R: Clock + ?Sized,
    K: Classify<T, E> + ?Sized,
{
    type Output = (Instant, Judged);

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<(Instant, Judged)> {
        let this = self.get_mut();
        let output = match this.output.try_recv() {
            Ok(output) => output,
            Err(TryRecvError::Empty) => return Poll::Pending,
            // Its thread always sends before it ends.
            Err(TryRecvError::Disconnected) => Err(Box::new("no output") as NoOutput),
        };
        let now = this.work.runtime.now();
        let verdict = match &output {
            Ok(Err(rejected)) => Verdict::for_rejection(rejected, now),
            Ok(Ok(result)) => this.work.classify.verdict_at(now, result),
            // It panicked, or its thread could not start: a failure not to
            // retry.
            Err(_) => Verdict::DoNotRetry,
        };
        // The classifier is asked once: its verdict says the outcome.
        if let Some((guard, _)) = this.held.take() {
            let success = matches!(verdict, Verdict::Success);
            guard.finish_at(
                now,
                if success {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
            );
        }
        match output {
            Ok(output) => this.returned.0.set(Some(output)),
            Err(panic) => this.returned.1.set(Some(panic)),
        }
        Poll::Ready((now, Judged::verdict(verdict)))
    }
}

impl<A: SharedAdmission, R: Clock + ?Sized, K: ?Sized, F, O> Drop for OnThread<'_, A, R, K, F, O> {
    fn drop(&mut self) {
        if let Some((guard, deadline)) = self.held.take() {
            hand_back(guard, deadline, self.work.runtime.now());
        }
    }
}

/// Judges an [`OnThread`] attempt as it judged itself, when it did.
struct Learned;

impl Judge<(Instant, Judged)> for Learned {
    fn judge(&mut self, _: Instant, &(_, judged): &(Instant, Judged)) -> Judged {
        judged
    }

    fn ended_at(&self, &(at, _): &(Instant, Judged)) -> Option<Instant> {
        Some(at)
    }
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
    let work = OnThreads {
        admission: &(),
        runtime,
        classify,
        op: Arc::new(op.0),
        // No attempt timeout: an attempt is cut at the call's deadline,
        // which the plan hands it.
        cut: &|handed| handed,
        ask: &|attempt, _| crate::Ask {
            deadline: attempt.deadline,
            ..crate::Ask::DEFAULT
        },
    };
    let (finish, last, _) = work.execute(now, ctx.plan(now));
    RetryError::from_finish(finish, last.and_then(Result::ok))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, channel};
    use std::vec::Vec;

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

    /// A panic after a failure leaves the failure as the last error: the
    /// error's `last` is the last failure an attempt returned.
    #[test]
    fn a_panic_after_a_failure_keeps_the_failure_as_the_last_error() {
        quiet_panics();
        let read = Idempotent(|attempt: Attempt| -> Result<(), &str> {
            assert!(attempt.number != 2, "replica 2 panics");
            Err("replica 1 down")
        });
        let ctx = ctx(config(2, HedgeDelay::OnFailure), &NoBudget, ());
        let error = hedge_blocking(&StdClock, ctx, &DefaultClassifier, read).unwrap_err();
        assert_eq!(
            (error.reason, error.attempts, error.last),
            (GiveUp::Attempts, 2, Some("replica 1 down"))
        );
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
