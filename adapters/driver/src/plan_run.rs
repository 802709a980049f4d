//! The one plan executor: carries out what a core [`Plan`] decides (start an
//! attempt, wait for it or for an instant, cancel it, finish) on any
//! [`Runtime`], as a nameable value ([`PlanRun`], for hand-written futures
//! such as a tower service's) and as a future ([`execute`]); blocking code
//! has its twin, [`execute_blocking`](crate::execute_blocking). Retry,
//! timeout and hedge, on every binding and in tower, run through it.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::Instant;
use failsafe_core::plan::{Action, Attempt, Finish, Judged, Plan, PlanEvent};
use failsafe_core::retry::{GiveUp, Verdict};

use crate::Runtime;
use crate::slots::{One, Slots};

/// What a [`PlanRun`] needs from its caller next; `R` is an attempt's
/// result.
#[derive(Debug)]
pub enum Step<R> {
    /// Make the future of this attempt and hand it to [`PlanRun::start`].
    Start(Attempt),
    /// The call is over: how, and the result it refers to (the attempt that
    /// ended last; none if the attempt was dropped or none ran).
    Finish(Finish, Option<R>),
}

pin_project_lite::pin_project! {
    /// One call under a plan `P`: the attempts in flight (futures `F`, in
    /// slots `S`: [`One`] by default, [`Four`](crate::slots::Four) for a
    /// hedge) and one timer (`Z`, the runtime's sleep), all pinned in
    /// place: no allocation. Drive it with [`poll_step`](Self::poll_step);
    /// when it asks, [`start`](Self::start) the attempt's future.
    ///
    /// Dropping it drops the attempts in flight.
    pub struct PlanRun<P, F, Z, S = One<F>>
    where
        F: Future,
    {
        plan: P,
        now: Instant,
        started: u32,
        #[pin]
        slots: S,
        #[pin]
        timer: Option<Z>,
        timer_at: Option<Instant>,
        last: Option<F::Output>,
    }
}

impl<P, F, Z, S> PlanRun<P, F, Z, S>
where
    P: Plan,
    F: Future,
    Z: Future<Output = ()>,
    S: Slots<F>,
{
    /// A call under `plan`, starting at `now`.
    #[inline]
    pub fn new(plan: P, now: Instant) -> Self {
        PlanRun {
            plan,
            now,
            started: 0,
            slots: S::default(),
            timer: None,
            timer_at: None,
            last: None,
        }
    }

    /// A call under `plan` starting at `now`, its first attempt started
    /// before the run is pinned if the plan's first action is to start
    /// one: `first` makes its future at once (a tower service sends its
    /// request inside `call`, as tower expects). `None` from `first` makes
    /// no attempt; the run then finishes with no result.
    ///
    /// Built as one value, not made and then changed: a run changed after
    /// it was made is copied whole on its way out (a `memcpy` of the plan,
    /// the attempt and the timer per call).
    #[inline]
    pub fn started(mut plan: P, now: Instant, first: impl FnOnce(Attempt) -> Option<F>) -> Self {
        let (slots, started) = match plan.poll_action(now) {
            Action::Start(attempt) => match first(attempt) {
                Some(future) => (S::with_one(attempt.number, future), 1),
                None => (S::default(), 1),
            },
            _ => (S::default(), 0),
        };
        PlanRun {
            plan,
            now,
            started,
            slots,
            timer: None,
            timer_at: None,
            last: None,
        }
    }

    /// A call whose first attempt ran before its plan was made (a retry's
    /// first attempt, run alone while nothing needs the plan): the
    /// plan has started it and heard how it ended at `now`, and `last` is
    /// its result. The run goes on from the plan's next action.
    #[inline]
    pub fn resumed(plan: P, now: Instant, last: F::Output) -> Self {
        PlanRun {
            plan,
            now,
            started: 1,
            slots: S::default(),
            timer: None,
            timer_at: None,
            last: Some(last),
        }
    }

    /// Runs `future` as the attempt the last [`Step::Start`] asked for.
    ///
    /// With every slot taken (a plan starting more attempts than its slots
    /// hold), the future is dropped unstarted and the plan told at once
    /// that the attempt ended as a failure not to retry... as if refused:
    /// a plan keeps to its slots, so this does not happen with the plans
    /// and slots shipped together.
    pub fn start(self: Pin<&mut Self>, attempt: Attempt, future: F) {
        let this = self.project();
        *this.started = this.started.saturating_add(1);
        if this.slots.start(attempt.number, future).is_err() {
            let judged = Judged::verdict(failsafe_core::retry::Verdict::DoNotRetry);
            let ended = PlanEvent::Ended {
                attempt: attempt.number,
                judged,
            };
            this.plan.on_event(*this.now, ended);
        }
    }

    /// Whether no attempt is in flight (a hedge started now runs alone, so
    /// it may wait for admission as a first attempt does).
    pub fn idle(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drives the plan: polls the attempt in flight and the timer, reports
    /// what happened, and returns when an attempt must start or the call is
    /// over. `judge` turns an attempt's result into the plan's [`Judged`]
    /// at the instant it ended.
    pub fn poll_step<R>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        runtime: &R,
        judge: &mut impl Judge<F::Output>,
    ) -> Poll<Step<F::Output>>
    where
        R: Runtime<Sleep = Z>,
    {
        let mut this = self.project();
        loop {
            let wake_at = match this.plan.poll_action(*this.now) {
                Action::Start(attempt) => return Poll::Ready(Step::Start(attempt)),
                Action::Cancel(number) => {
                    this.slots.as_mut().cancel(number);
                    continue;
                }
                Action::Finish(finish) => {
                    this.slots.as_mut().clear();
                    this.timer.set(None);
                    return Poll::Ready(Step::Finish(finish, this.last.take()));
                }
                Action::Wait(at) => at,
            };
            // The attempts first: a result ready together with the timer wins.
            if let Poll::Ready((attempt, result)) = this.slots.as_mut().poll_ended(cx) {
                let judged = if let Some(end) = judge.ended_at(&result) {
                    *this.now = end;
                    judge.judge(end, &result)
                } else if this.plan.needs_end_time() {
                    *this.now = runtime.now();
                    judge.judge(*this.now, &result)
                } else {
                    // Judged at the last reading; the plan says whether
                    // what follows needs a fresh one (a retry's backoff).
                    let judged = judge.judge(*this.now, &result);
                    if this.plan.needs_time_after(&judged) {
                        *this.now = runtime.now();
                    }
                    judged
                };
                *this.last = Some(result);
                this.plan
                    .on_event(*this.now, PlanEvent::Ended { attempt, judged });
                continue;
            }
            let Some(at) = wake_at else {
                if this.slots.is_empty() {
                    // Nothing to wait for (a plan outside the contract):
                    // answer with what there is rather than hang.
                    let finish = Finish::Answer {
                        attempts: *this.started,
                        gave_up: None,
                    };
                    return Poll::Ready(Step::Finish(finish, this.last.take()));
                }
                return Poll::Pending;
            };
            match this.timer.as_mut().as_pin_mut() {
                Some(timer) if *this.timer_at != Some(at) => runtime.reset_sleep(timer, at),
                Some(_) => {}
                None => this.timer.set(Some(runtime.sleep_until(at))),
            }
            *this.timer_at = Some(at);
            let Some(timer) = this.timer.as_mut().as_pin_mut() else {
                return Poll::Pending;
            };
            if timer.poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.timer.set(None);
            *this.timer_at = None;
            // The timer fired for `at`: that is the time, with no reading
            // of the clock (runtime timers fire at or after their instant;
            // their lateness is not charged to what starts now). The next
            // attempt's decisions share it: one reading per attempt, at
            // its end.
            *this.now = (*this.now).max(at);
            this.plan.on_event(*this.now, PlanEvent::Timer);
        }
    }
}

impl<P, F: Future, Z, S> PlanRun<P, F, Z, S> {
    /// The plan, e.g. to read its deadline or attempts.
    pub fn plan(&self) -> &P {
        &self.plan
    }

    /// The result of the attempt that ended last, taken (for a driver that
    /// ends the call itself: no further attempt can be made).
    pub fn take_last(self: Pin<&mut Self>) -> Option<F::Output> {
        self.project().last.take()
    }

    /// The time of the last step: when an attempt the run asks to start
    /// starts, to decide everything about it with one reading.
    pub fn now(&self) -> Instant {
        self.now
    }
}

impl<P, F, Z, S> core::fmt::Debug for PlanRun<P, F, Z, S>
where
    P: core::fmt::Debug,
    F: Future,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PlanRun")
            .field("plan", &self.plan)
            .field("started", &self.started)
            .field("timer_at", &self.timer_at)
            .finish_non_exhaustive()
    }
}

/// Judges an attempt's result for its plan: any
/// `FnMut(Instant, &Output) -> Judged` (the instant the attempt ended, its
/// result).
pub trait Judge<O> {
    /// The judgement of `output`, which ended at `now`.
    fn judge(&mut self, now: Instant, output: &O) -> Judged;

    /// When the attempt ended, if its output says (an attempt that read
    /// the clock itself, to hand its permits back): the executor then
    /// reads no clock of its own. `None` by default.
    fn ended_at(&self, output: &O) -> Option<Instant> {
        let _ = output;
        None
    }
}

impl<O, F: FnMut(Instant, &O) -> Judged> Judge<O> for F {
    #[inline]
    fn judge(&mut self, now: Instant, output: &O) -> Judged {
        self(now, output)
    }
}

/// Makes the future of each attempt a plan starts: any
/// `FnMut(Attempt) -> Fut`, or [`Once`] for an operation that can run only
/// once.
pub trait Attempts<Fut> {
    /// The future of `attempt`, or `None` if no more can be made.
    fn make(&mut self, attempt: Attempt) -> Option<Fut>;

    /// `true` once [`make`](Self::make) can make no further attempt (an
    /// operation that runs once, a request that cannot be sent again): a
    /// failed attempt is then judged not to retry, so the plan neither
    /// waits out a backoff nor has an admission asked for an attempt that
    /// would never start. `false` by default.
    fn exhausted(&self) -> bool {
        false
    }
}

/// A judge whose retries are turned into "do not retry" once the
/// operation can make no further attempt ([`Attempts::exhausted`]).
pub(crate) struct LastIf<'j, J> {
    pub(crate) judge: &'j mut J,
    pub(crate) last: bool,
}

impl<O, J: Judge<O>> Judge<O> for LastIf<'_, J> {
    #[inline]
    fn judge(&mut self, now: Instant, output: &O) -> Judged {
        let mut judged = self.judge.judge(now, output);
        if self.last && matches!(judged.verdict, Verdict::Retry { .. }) {
            judged.verdict = Verdict::DoNotRetry;
        }
        judged
    }

    #[inline]
    fn ended_at(&self, output: &O) -> Option<Instant> {
        self.judge.ended_at(output)
    }
}

impl<F: FnMut(Attempt) -> Fut, Fut> Attempts<Fut> for F {
    #[inline]
    fn make(&mut self, attempt: Attempt) -> Option<Fut> {
        Some(self(attempt))
    }
}

/// An operation that runs once (a timeout's): the first attempt only.
#[derive(Debug)]
pub struct Once<F>(pub Option<F>);

impl<F: FnOnce(Attempt) -> Fut, Fut> Attempts<Fut> for Once<F> {
    #[inline]
    fn make(&mut self, attempt: Attempt) -> Option<Fut> {
        self.0.take().map(|op| op(attempt))
    }

    #[inline]
    fn exhausted(&self) -> bool {
        self.0.is_none()
    }
}

/// Runs one call under `plan` on `runtime`, starting at `now` (the reading
/// the plan was made with): `attempts` makes each attempt's
/// future, `judge` judges each result, and `answer` turns how the call
/// finished (and the result that goes with it) into the call's output. The
/// returned future is a named type holding the plan, the attempt in flight
/// and the timer in place (no allocation, nothing stored twice). Like any
/// future it does nothing until polled: the first attempt starts at the
/// first poll. Dropping it drops the attempt in flight.
#[inline]
pub fn execute<'r, R, P, J, A, Fut, M, Out>(
    runtime: &'r R,
    now: Instant,
    plan: P,
    judge: J,
    attempts: A,
    answer: M,
) -> Execute<'r, R, P, J, A, Fut, M>
where
    R: Runtime,
    P: Plan,
    Fut: Future,
    J: Judge<Fut::Output>,
    A: Attempts<Fut>,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
{
    execute_in(runtime, now, plan, judge, attempts, answer)
}

/// [`execute`] with the attempts in flight kept in slots `S` (a hedge's
/// [`Four`](crate::slots::Four)).
#[inline]
pub fn execute_in<'r, R, P, J, A, Fut, M, Out, S>(
    runtime: &'r R,
    now: Instant,
    plan: P,
    judge: J,
    attempts: A,
    answer: M,
) -> Execute<'r, R, P, J, A, Fut, M, S>
where
    R: Runtime,
    P: Plan,
    Fut: Future,
    J: Judge<Fut::Output>,
    A: Attempts<Fut>,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
    S: Slots<Fut>,
{
    // Built where it is returned: a struct literal as the return value is
    // written straight into the caller's slot, where starting the first
    // attempt here (mutating a local, then returning it) made the compiler
    // copy the whole future (200 B for a std retry) on its way out. The
    // first poll starts the first attempt.
    Execute {
        runtime,
        judge,
        attempts,
        answer: Some(answer),
        run: PlanRun::new(plan, now),
    }
}

/// [`execute`] for a call whose first attempt ran before its plan was
/// made ([`PlanRun::resumed`]): the plan has started it and heard how it
/// ended at `now`, and `last` is its result.
#[inline]
pub fn execute_resumed<'r, R, P, J, A, Fut, M, Out>(
    runtime: &'r R,
    now: Instant,
    plan: P,
    judge: J,
    attempts: A,
    last: Fut::Output,
    answer: M,
) -> Execute<'r, R, P, J, A, Fut, M>
where
    R: Runtime,
    P: Plan,
    Fut: Future,
    J: Judge<Fut::Output>,
    A: Attempts<Fut>,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
{
    Execute {
        runtime,
        judge,
        attempts,
        answer: Some(answer),
        run: PlanRun::resumed(plan, now, last),
    }
}

pin_project_lite::pin_project! {
    /// The future [`execute`] returns.
    #[must_use = "futures do nothing unless polled"]
    pub struct Execute<'r, R, P, J, A, Fut, M, S = One<Fut>>
    where
        R: Runtime,
        Fut: Future,
    {
        runtime: &'r R,
        judge: J,
        attempts: A,
        answer: Option<M>,
        #[pin]
        run: PlanRun<P, Fut, R::Sleep, S>,
    }
}

impl<R, P, J, A, Fut, M, Out, S> Future for Execute<'_, R, P, J, A, Fut, M, S>
where
    R: Runtime,
    P: Plan,
    Fut: Future,
    J: Judge<Fut::Output>,
    A: Attempts<Fut>,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
    S: Slots<Fut>,
{
    type Output = Out;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let mut this = self.project();
        loop {
            let mut judge = LastIf {
                judge: &mut *this.judge,
                last: this.attempts.exhausted(),
            };
            let step = this.run.as_mut().poll_step(cx, *this.runtime, &mut judge);
            let (finish, result) = match ready!(step) {
                Step::Start(attempt) => match this.attempts.make(attempt) {
                    Some(future) => {
                        this.run.as_mut().start(attempt, future);
                        continue;
                    }
                    // No more attempts can be made (a request sent only
                    // once): answer with the last result, not to be retried.
                    None => {
                        let attempts = attempt.number.saturating_sub(1);
                        let finish = Finish::Answer {
                            attempts,
                            gave_up: Some(GiveUp::NotRetryable),
                        };
                        (finish, this.run.as_mut().take_last())
                    }
                },
                Step::Finish(finish, result) => (finish, result),
            };
            // Polled again after it answered (a misuse the `Future` contract
            // leaves open): it stays pending rather than panic, so firmware
            // links no panic path from here.
            let Some(answer) = this.answer.take() else {
                return Poll::Pending;
            };
            return Poll::Ready(answer(finish, result));
        }
    }
}

impl<R: Runtime, P: core::fmt::Debug, J, A, Fut: Future, M, S> core::fmt::Debug
    for Execute<'_, R, P, J, A, Fut, M, S>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Execute")
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use core::cell::{Cell, RefCell};
    use core::time::Duration;

    use failsafe_core::FnObserver;
    use failsafe_core::retry::{
        BackoffKind, FailureKind, GiveUp, Jitter, NoBudget, RetryConfig, RetryEvent, TokenQuota,
        Verdict,
    };
    use failsafe_core::rng::Xorshift64;
    use failsafe_core::sync::CsLock;
    use failsafe_core::timeout::Deadline;

    use super::*;
    use crate::{
        BlockingRuntime, Clock, DefaultClassifier, RetryContext, RetryError, execute_blocking,
        retry_blocking,
    };

    /// Blocking jumps the clock.
    struct Manual(Cell<Instant>);
    impl Clock for Manual {
        fn now(&self) -> Instant {
            self.0.get()
        }
    }
    impl BlockingRuntime for Manual {
        fn block_until(&self, at: Instant) {
            self.0.set(self.0.get().max(at));
        }
    }

    fn config(attempts: u32, delay_ms: u64) -> RetryConfig {
        RetryConfig::builder()
            .max_attempts(attempts)
            .backoff(BackoffKind::Constant(Duration::from_millis(delay_ms)))
            .jitter(Jitter::None)
            .build()
            .unwrap()
    }

    fn ctx<L: ?Sized, O>(
        config: RetryConfig,
        deadline: Deadline,
        budget: &L,
        observer: O,
    ) -> RetryContext<'_, L, Xorshift64, O> {
        let rng = Xorshift64::new(1);
        RetryContext {
            config,
            deadline,
            budget,
            rng,
            observer,
        }
    }

    #[test]
    fn fails_twice_then_succeeds_at_the_backoff_instants() {
        let clock = Manual(Cell::new(Instant::ZERO));
        let events = RefCell::new(Vec::new());
        let observer = FnObserver(|e| events.borrow_mut().push(e));
        let mut starts = Vec::new();
        let context = ctx(config(5, 100), Deadline::NEVER, &NoBudget, observer);
        let done = retry_blocking(&clock, context, &DefaultClassifier, |attempt| {
            starts.push((attempt.number, clock.now()));
            if attempt.number < 3 {
                Err("flaky")
            } else {
                Ok(attempt.number)
            }
        });
        assert_eq!(done, Ok(3));
        let ms = Instant::from_millis;
        assert_eq!(starts, [(1, ms(0)), (2, ms(100)), (3, ms(200))]);
        assert!(matches!(
            events.borrow().last(),
            Some(RetryEvent::Succeeded { attempts: 3, .. })
        ));
    }

    #[test]
    fn a_passed_deadline_stops_before_the_attempt_with_the_last_error() {
        let clock = Manual(Cell::new(Instant::ZERO));
        let deadline = Deadline::at(Instant::from_millis(150));
        let context = ctx(config(5, 100), deadline, &NoBudget, ());
        let error = retry_blocking(&clock, context, &DefaultClassifier, |attempt| {
            assert_eq!(attempt.deadline, deadline);
            clock.0.set(Instant::from_millis(150)); // the attempt overran
            Err::<(), _>("first")
        })
        .unwrap_err();
        let expected = RetryError {
            reason: GiveUp::Deadline,
            attempts: 1,
            last: Some("first"),
        };
        assert_eq!(error, expected);
    }

    #[test]
    fn two_calls_share_one_budget_through_a_lock() {
        // 10 tokens, a retry costs 5: two retries in all, across calls
        let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
        let clock = Manual(Cell::new(Instant::ZERO));
        let call = || {
            let context = ctx(config(10, 1), Deadline::NEVER, &quota, ());
            retry_blocking(&clock, context, &DefaultClassifier, |_| {
                Err::<(), _>(FailureKind::Error)
            })
            .unwrap_err()
        };
        let first = call();
        assert_eq!((first.reason, first.attempts), (GiveUp::Budget, 3));
        let second = call();
        assert_eq!((second.reason, second.attempts), (GiveUp::Budget, 1));
    }

    #[test]
    fn a_value_classified_for_retry_is_returned_when_retries_give_up() {
        let clock = Manual(Cell::new(Instant::ZERO));
        let retry_503 = |r: &Result<u16, ()>| {
            if r == &Ok(503) {
                Verdict::retry()
            } else {
                Verdict::Success
            }
        };
        let context = ctx(config(2, 1), Deadline::NEVER, &NoBudget, ());
        let done = retry_blocking(&clock, context, &retry_503, |_| Ok(503));
        assert_eq!(done, Ok(503));
    }

    /// A plan that breaks the contract (waits for nothing) is answered,
    /// not hung on.
    #[test]
    fn a_plan_waiting_for_nothing_is_finished_not_hung() {
        struct Idle;
        impl Plan for Idle {
            fn poll_action(&mut self, _: Instant) -> Action {
                Action::Wait(None)
            }
            fn on_event(&mut self, _: Instant, _: PlanEvent) {}
        }
        let clock = Manual(Cell::new(Instant::ZERO));
        let judge = |_, _: &Result<(), ()>| Judged::SUCCESS;
        let (finish, result) = execute_blocking(&clock, Instant::ZERO, Idle, judge, |_, _| Ok(()));
        let nothing = Finish::Answer {
            attempts: 0,
            gave_up: None,
        };
        assert_eq!((finish, result), (nothing, None));
    }
}
