//! The std retry handles' calls ([`RetryPolicy::call`](crate::RetryPolicy::call)
//! and its kin): a first attempt runs alone when nothing needs the plan for
//! it ([`RetryConfig::first_attempt_alone`]), and the plan is made only if
//! that attempt does not succeed. The generic [`retry`](crate::retry())
//! keeps to one path (under the plan from the start), so that a firmware
//! compiles one.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use failsafe_core::Instant;
use failsafe_core::plan::{Attempt, Finish, Judged};
use failsafe_core::retry::{RetryBudget, RetryConfig, Verdict};
use failsafe_core::timeout::Deadline;

use crate::retry::{Planned, planned};
use crate::std_retry::{LentHook, SeedOnDraw, SharedBudget, StdContext};
use crate::{Classify, Judge, RetryError, Runtime, execute_resumed};

/// [`retry`] for the std handles (their call's context, [`StdContext`]),
/// with the attempt limit set at run time, if any (`None`: the config's),
/// and a first attempt run alone when nothing needs the plan for it
/// ([`RetryConfig::first_attempt_alone`]): the plan is made only if that
/// attempt does not succeed.
#[inline]
pub(crate) fn retry_limited<R, B, K, F, Fut, T, E>(
    runtime: &R,
    ctx: StdContext<'_, B>,
    max_attempts: Option<Option<u32>>,
    classify: &K,
    op: F,
) -> impl Future<Output = Result<T, RetryError<E>>>
where
    R: Runtime,
    B: RetryBudget,
    K: Classify<T, E> + ?Sized,
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let timeless = !classify.verdict_uses_time();
    let judge = move |now, result: &Result<T, E>| Judged::verdict(classify.verdict_at(now, result));
    let answer = RetryError::from_finish;
    let alone = ctx
        .config
        .first_attempt_alone::<B, _>(ctx.deadline, &ctx.observer, timeless);
    if alone {
        // Nothing needs the plan for the first attempt: it runs alone, and
        // the plan is made only if it did not succeed.
        let rest = Rest {
            runtime,
            ctx,
            max_attempts,
            judge,
            op,
            answer: Some(answer),
        };
        return RetryCall {
            state: CallState::Alone {
                attempt: None,
                rest: Some(rest),
            },
        };
    }
    RetryCall {
        state: CallState::Run {
            run: planned(runtime, ctx, max_attempts, timeless, judge, op, answer),
        },
    }
}

/// A std handle's call under its plan.
type StdPlanned<'r, 'a, R, B, J, F, Fut, M> = Planned<
    'r,
    'a,
    R,
    SharedBudget<B>,
    B,
    SeedOnDraw<'a>,
    LentHook<'a>,
    &'a RetryConfig,
    J,
    F,
    Fut,
    M,
>;

/// What a call whose first attempt runs alone keeps aside for after it:
/// what its plan is made from (`ctx`, the attempt limit set at run time).
struct Rest<'r, R, X, J, F, M> {
    runtime: &'r R,
    ctx: X,
    max_attempts: Option<Option<u32>>,
    judge: J,
    op: F,
    /// Taken when the call answers.
    answer: Option<M>,
}

pin_project_lite::pin_project! {
    #[project = CallStateProj]
    enum CallState<Fut, X, Run> {
        // The first attempt, made at the first poll, with the plan aside.
        Alone { #[pin] attempt: Option<Fut>, rest: Option<X> },
        // The plan executed (from the start, or after a first attempt alone
        // that did not succeed).
        Run { #[pin] run: Run },
    }
}

pin_project_lite::pin_project! {
    /// A retried call ([`retry`]): its first attempt alone while nothing
    /// needs the plan, else (or after it) the plan executed. Polled again
    /// after it answered, it stays pending (as [`Execute`](crate::Execute)),
    /// so no panic path is linked.
    struct RetryCall<Fut, X, Run> {
        #[pin]
        state: CallState<Fut, X, Run>,
    }
}

impl<'r, 'a, R, B, J, F, Fut, M, Out> Future
    for RetryCall<
        Fut,
        Rest<'r, R, StdContext<'a, B>, J, F, M>,
        StdPlanned<'r, 'a, R, B, J, F, Fut, M>,
    >
where
    R: Runtime,
    B: RetryBudget,
    J: Judge<Fut::Output>,
    F: FnMut(Attempt) -> Fut,
    Fut: Future,
    M: FnOnce(Finish, Option<Fut::Output>) -> Out,
{
    type Output = Out;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        let mut state = self.project().state;
        let run = match state.as_mut().project() {
            CallStateProj::Run { run } => return run.poll(cx),
            CallStateProj::Alone { mut attempt, rest } => {
                let Some(aside) = rest.as_mut() else {
                    return Poll::Pending;
                };
                if aside.answer.is_none() {
                    // Answered from the first attempt: it may not be polled again.
                    return Poll::Pending;
                }
                if attempt.as_mut().as_pin_mut().is_none() {
                    attempt.set(Some((aside.op)(Attempt {
                        number: 1,
                        deadline: Deadline::NEVER,
                    })));
                }
                let Some(future) = attempt.as_mut().as_pin_mut() else {
                    return Poll::Pending;
                };
                let result = ready!(future.poll(cx));
                // Dropped as soon as it is over (as a plan's slot does): it
                // can never be polled again, and the compiler sees it.
                attempt.set(None);
                // Judged without the time, as `first_attempt_alone` requires.
                let judged = aside.judge.judge(Instant::ZERO, &result);
                if judged.verdict == Verdict::Success {
                    // The rest is dropped in place, not moved out: a
                    // success copies nothing.
                    let Some(answer) = aside.answer.take() else {
                        return Poll::Pending;
                    };
                    let answered = Finish::Answer {
                        attempts: 1,
                        gave_up: None,
                    };
                    return Poll::Ready(answer(answered, Some(result)));
                }
                let Some(aside) = rest.take() else {
                    return Poll::Pending;
                };
                let now = aside
                    .judge
                    .ended_at(&result)
                    .unwrap_or_else(|| aside.runtime.now());
                let Rest {
                    runtime,
                    ctx,
                    max_attempts,
                    judge,
                    op,
                    answer,
                } = aside;
                // Judged without the time, as running alone required.
                let mut plan = ctx.call_plan(max_attempts, true);
                plan.first_attempt_ended(now, judged);
                let Some(answer) = answer else {
                    return Poll::Pending;
                };
                execute_resumed(runtime, now, plan, judge, op, result, answer)
            }
        };
        state.set(CallState::Run { run });
        match state.project() {
            CallStateProj::Run { run } => run.poll(cx),
            _ => Poll::Pending,
        }
    }
}
