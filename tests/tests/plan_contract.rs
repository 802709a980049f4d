//! The plan contract, checked once for every per-call plan (retry, timeout,
//! fallback): whatever the attempts answer and however the clock moves
//! (stepping back included), a plan
//!
//! - never asks to wait with no attempt in flight and no instant (a driver
//!   would hang);
//! - starts attempts numbered 1, 2, 3, ..., one at a time (a hedge: up to
//!   its attempt limit at once);
//! - finishes with nothing in flight (what runs is cancelled first);
//! - cancels only the attempt in flight;
//! - never starts an attempt before an instant it said to wait for;
//! - once finished, keeps answering the same finish, whatever it is told;
//! - never panics.
//!
//! A plan joins by adding one `proptest!` case that builds it; the driver
//! model ([`drive`]) does the rest, as the driver's executor would.

use core::time::Duration;

use failsafe_core::fallback::{FallbackPlan, FallbackPolicy, FallbackReason};
use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgePlan, LatencyQuantile};
use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
use failsafe_core::retry::{
    BackoffKind, FailureKind, Jitter, NoBudget, RetryConfig, RetryPlan, TokenQuota, Verdict,
};
use failsafe_core::rng::Xorshift64;
use failsafe_core::sync::CsLock;
use failsafe_core::timeout::{AttemptTimeout, Deadline, Timeout, TimeoutConfig, TimeoutMode};
use failsafe_core::{FnObserver, Instant};
use failsafe_core::{RejectReason, Rejected};
use proptest::prelude::*;

/// What the world does at one step: time moves by `dt_ms` (possibly
/// backwards), then, if the plan waits, either the attempt in flight ends
/// with `judged` or the timer fires.
#[derive(Clone, Debug)]
struct Step {
    dt_ms: i64,
    end_attempt: bool,
    judged: Judged,
}

fn judged() -> impl Strategy<Value = Judged> {
    let verdict = prop_oneof![
        Just(Verdict::Success),
        Just(Verdict::retry()),
        (0u64..500).prop_map(|ms| Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(Duration::from_millis(ms)),
        }),
        Just(Verdict::Retry {
            kind: FailureKind::Timeout,
            retry_after: None
        }),
        Just(Verdict::DoNotRetry),
        Just(Verdict::Abort),
    ];
    let cause = prop_oneof![
        Just(None),
        Just(Some(FallbackReason::Failed)),
        Just(Some(FallbackReason::TimedOut)),
        Just(Some(FallbackReason::Rejected(Rejected::new(
            RejectReason::BreakerOpen,
            None
        )))),
    ];
    (verdict, cause).prop_map(|(verdict, cause)| Judged { verdict, cause })
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step =
        (-50i64..400, any::<bool>(), judged()).prop_map(|(dt_ms, end_attempt, judged)| Step {
            dt_ms,
            end_attempt,
            judged,
        });
    prop::collection::vec(step, 1..60)
}

/// Drives `plan` through `steps` as the executor would, checking the
/// contract at every action. `in_flight` is how many attempts the plan may
/// run at once (1, except a hedge's).
fn drive<P: Plan>(mut plan: P, steps: &[Step], in_flight: usize) -> Result<(), TestCaseError> {
    let mut clock: u64 = 1_000; // ms; steps may move it back
    let mut latest_given = Instant::ZERO;
    let mut running: Vec<u32> = Vec::new();
    let mut started = 0u32;
    let mut not_before: Option<Instant> = None;
    let mut finished: Option<Finish> = None;
    for step in steps {
        clock = clock.saturating_add_signed(step.dt_ms);
        let now = Instant::from_millis(clock);
        latest_given = latest_given.max(now);
        // Carry out actions until the plan waits (or has finished).
        for _ in 0..40 {
            match plan.poll_action(now) {
                Action::Start(attempt) => {
                    prop_assert!(finished.is_none(), "started after finishing");
                    prop_assert!(running.len() < in_flight, "too many attempts in flight");
                    prop_assert_eq!(attempt.number, started + 1, "attempts out of order");
                    if let Some(at) = not_before {
                        prop_assert!(latest_given >= at, "started before {:?}", at);
                    }
                    started = attempt.number;
                    running.push(attempt.number);
                    not_before = None;
                }
                Action::Cancel(number) => {
                    prop_assert!(running.contains(&number), "cancelled what is not in flight");
                    running.retain(|&n| n != number);
                }
                Action::Finish(finish) => {
                    if let Some(before) = finished {
                        prop_assert_eq!(before, finish, "the finish changed");
                    }
                    prop_assert!(running.is_empty(), "finished with attempts in flight");
                    finished = Some(finish);
                    break;
                }
                Action::Wait(at) => {
                    prop_assert!(finished.is_none(), "waiting after finishing");
                    prop_assert!(
                        !running.is_empty() || at.is_some(),
                        "waits for nothing: a driver would hang"
                    );
                    if running.is_empty() {
                        not_before = at;
                    }
                    let ends = !running.is_empty() && (step.end_attempt || at.is_none());
                    if ends {
                        // The oldest or the newest attempt ends.
                        let attempt = if step.dt_ms % 2 == 0 {
                            running.remove(0)
                        } else {
                            running.pop().unwrap_or_default()
                        };
                        let judged = step.judged;
                        plan.on_event(now, PlanEvent::Ended { attempt, judged });
                    } else if let Some(at) = at {
                        // The executor hands a fired timer its own instant.
                        let fired = now.max(at);
                        latest_given = latest_given.max(fired);
                        plan.on_event(fired, PlanEvent::Timer);
                    }
                    break;
                }
            }
        }
        if let Some(finish) = finished {
            // Whatever it is told afterwards, the answer stays.
            plan.on_event(now, PlanEvent::Timer);
            let judged = step.judged;
            plan.on_event(
                now,
                PlanEvent::Ended {
                    attempt: started,
                    judged,
                },
            );
            prop_assert_eq!(plan.poll_action(now), Action::Finish(finish));
        }
    }
    Ok(())
}

fn retry_config(attempts: u32, delay_ms: u64, jitter: bool) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Exponential {
            initial: Duration::from_millis(delay_ms),
            multiplier: 2.0,
            max: Duration::from_secs(1),
        })
        .jitter(if jitter { Jitter::Full } else { Jitter::None })
        .build()
        .unwrap()
}

fn deadline(ms: Option<u64>) -> Deadline {
    ms.map_or(Deadline::NEVER, |ms| Deadline::at(Instant::from_millis(ms)))
}

proptest! {
    #[test]
    fn retry_keeps_the_plan_contract(
        attempts in 1u32..6,
        delay_ms in 0u64..300,
        jitter in any::<bool>(),
        until in proptest::option::of(0u64..5_000),
        seed in any::<u64>(),
        steps in steps(),
    ) {
        let plan = RetryPlan::new(
            retry_config(attempts, delay_ms, jitter),
            deadline(until),
            &NoBudget,
            Xorshift64::new(seed),
            (),
            Instant::from_millis(1_000),
        );
        drive(plan, &steps, 1)?;
    }

    #[test]
    fn an_unstarted_retry_keeps_the_plan_contract(
        attempts in 1u32..6,
        delay_ms in 0u64..300,
        until in proptest::option::of(0u64..5_000),
        seed in any::<u64>(),
        steps in steps(),
    ) {
        let config = retry_config(attempts, delay_ms, true);
        let plan = RetryPlan::unstarted(config, deadline(until), &NoBudget, Xorshift64::new(seed), ());
        drive(plan.judged_without_time(), &steps, 1)?;
    }

    #[test]
    fn retry_with_a_shared_budget_keeps_the_plan_contract(
        attempts in 1u32..6,
        seed in any::<u64>(),
        steps in steps(),
    ) {
        let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
        let plan = RetryPlan::new(
            retry_config(attempts, 10, false),
            Deadline::NEVER,
            &quota,
            Xorshift64::new(seed),
            (),
            Instant::from_millis(1_000),
        );
        drive(plan, &steps, 1)?;
    }

    #[test]
    fn timeout_keeps_the_plan_contract(
        timeout_ms in 1u64..2_000,
        soft in any::<bool>(),
        parent in proptest::option::of(0u64..3_000),
        steps in steps(),
    ) {
        let mode = if soft { TimeoutMode::Soft } else { TimeoutMode::Cancel };
        let config = TimeoutConfig::new(Duration::from_millis(timeout_ms)).unwrap().mode(mode);
        let plan = Timeout::start(config, Instant::from_millis(1_000), deadline(parent));
        drive(plan, &steps, 1)?;
    }

    #[test]
    fn hedge_keeps_the_plan_contract(
        attempts in 1u32..6,
        delay in prop_oneof![
            (0u64..300).prop_map(|ms| HedgeDelay::Fixed(Duration::from_millis(ms))),
            Just(HedgeDelay::Parallel),
            Just(HedgeDelay::OnFailure),
            Just(HedgeDelay::Quantile),
        ],
        until in proptest::option::of(0u64..5_000),
        steps in steps(),
    ) {
        let config = HedgeConfig::builder().max_attempts(attempts).delay(delay).build().unwrap();
        let quota = CsLock::new(TokenQuota::new(20, 5, 10, 5, 0).unwrap());
        let latencies = CsLock::new(LatencyQuantile::new(9_500, Duration::from_millis(30), 3, Duration::from_millis(200)));
        let plan = HedgePlan::new(config, deadline(until), &quota, &latencies, (), Instant::from_millis(1_000));
        drive(plan, &steps, attempts as usize)?;
    }

    #[test]
    fn attempt_timeout_keeps_the_plan_contract(
        attempts in 1u32..6,
        per_try in proptest::option::of((1u64..500, any::<bool>())),
        hedged in any::<bool>(),
        until in proptest::option::of(0u64..5_000),
        seed in any::<u64>(),
        steps in steps(),
    ) {
        let per_try = per_try.map(|(ms, soft)| {
            let mode = if soft { TimeoutMode::Soft } else { TimeoutMode::Cancel };
            TimeoutConfig::new(Duration::from_millis(ms)).unwrap().mode(mode)
        });
        let t0 = Instant::from_millis(1_000);
        if hedged {
            let config = HedgeConfig::builder().max_attempts(attempts).delay(HedgeDelay::Fixed(Duration::from_millis(50))).build().unwrap();
            let latencies = CsLock::new(LatencyQuantile::new(9_500, Duration::from_millis(30), 3, Duration::from_millis(200)));
            let hedge = HedgePlan::new(config, deadline(until), &NoBudget, &latencies, (), t0);
            let plan: AttemptTimeout<_> = AttemptTimeout::new(hedge, per_try);
            drive(plan, &steps, attempts as usize)?;
        } else {
            let retry = RetryPlan::new(retry_config(attempts, 20, false), deadline(until), &NoBudget, Xorshift64::new(seed), (), t0);
            let plan: AttemptTimeout<_> = AttemptTimeout::new(retry, per_try);
            drive(plan, &steps, 1)?;
        }
    }

    #[test]
    fn fallback_keeps_the_plan_contract(
        alternatives in 0u32..4,
        on_failed in any::<bool>(),
        steps in steps(),
    ) {
        let policy = FallbackPolicy::ALL.on_failed(on_failed);
        let plan = FallbackPlan::new(policy, alternatives, Deadline::NEVER, ());
        drive(plan, &steps, 1)?;
    }
}

/// The timeout plan's own promise on top of the contract: in cancel mode a
/// call never answers after its deadline; it times out.
#[test]
fn a_cancelling_timeout_never_answers_late() {
    let config = TimeoutConfig::new(Duration::from_millis(100)).unwrap();
    let mut plan = Timeout::start(config, Instant::ZERO, Deadline::NEVER);
    assert!(matches!(plan.poll_action(Instant::ZERO), Action::Start(_)));
    let late = Instant::from_millis(150);
    plan.on_event(
        late,
        PlanEvent::Ended {
            attempt: 1,
            judged: Judged::SUCCESS,
        },
    );
    assert_eq!(
        plan.poll_action(late),
        Action::Finish(Finish::TimedOut(Deadline::at(Instant::from_millis(100))))
    );
}

/// One plan driven as the driver's executor drives it, reading the clock
/// only where the plan asks ([`Plan::needs_start_time`],
/// [`Plan::needs_end_time`], [`Plan::needs_time_after`]) when `lazy`, and
/// at every start and every end otherwise. Returns every action it was
/// given, in order.
fn run_reading_time<P: Plan>(mut plan: P, steps: &[Step], lazy: bool) -> Vec<Action> {
    let mut clock: u64 = 1_000;
    // The executor's `now`: its last reading (or a fired timer's instant).
    let mut now = if !lazy || plan.needs_start_time() {
        Instant::from_millis(clock)
    } else {
        Instant::ZERO
    };
    let mut actions = Vec::new();
    let mut running: Option<u32> = None;
    for step in steps {
        // A clock that never steps back (a lazy plan never saw the start
        // to floor a backward step on: it may report an earlier instant).
        clock = clock.saturating_add(step.dt_ms.unsigned_abs());
        let reading = Instant::from_millis(clock);
        for _ in 0..40 {
            let action = plan.poll_action(now);
            actions.push(action);
            match action {
                Action::Start(attempt) => running = Some(attempt.number),
                Action::Cancel(_) => running = None,
                Action::Finish(_) => return actions,
                Action::Wait(at) => {
                    match running {
                        Some(attempt) if step.end_attempt || at.is_none() => {
                            running = None;
                            let judged = step.judged;
                            if !lazy || plan.needs_end_time() || plan.needs_time_after(&judged) {
                                now = reading;
                            }
                            plan.on_event(now, PlanEvent::Ended { attempt, judged });
                        }
                        _ => {
                            if let Some(at) = at {
                                now = now.max(at);
                                plan.on_event(now, PlanEvent::Timer);
                            }
                        }
                    }
                    break;
                }
            }
        }
    }
    actions
}

proptest! {
    /// A retry plan that starts with its first attempt and is judged
    /// without the time, driven reading the clock only where it asks,
    /// decides exactly as one driven reading it at every start and end
    /// (the same actions, the same events): with and without a deadline,
    /// a budget that reads time, an observer, `max_elapsed`. On a clock
    /// that never steps back: after a backward step the lazy plan, which
    /// never saw the start to floor it on, may report an earlier instant.
    #[test]
    fn a_retry_reading_time_lazily_decides_as_one_reading_it_always(
        attempts in 1u32..6,
        delay_ms in 0u64..300,
        jitter in any::<bool>(),
        until in proptest::option::of(0u64..5_000),
        elapsed_ms in proptest::option::of(1u64..2_000),
        budget in any::<bool>(),
        observed in any::<bool>(),
        seed in any::<u64>(),
        per_try in proptest::option::of(proptest::option::of((1u64..500, any::<bool>()))),
        steps in steps(),
    ) {
        // `per_try`: the retry alone, or under an attempt timeout (none,
        // cancelling or soft), which must ask for the time as it does.
        let per_try = per_try.map(|t| t.map(|(ms, soft)| {
            let mode = if soft { TimeoutMode::Soft } else { TimeoutMode::Cancel };
            TimeoutConfig::new(Duration::from_millis(ms)).unwrap().mode(mode)
        }));
        let mut config = RetryConfig::builder()
            .max_attempts(attempts)
            .backoff(BackoffKind::Exponential {
                initial: Duration::from_millis(delay_ms),
                multiplier: 2.0,
                max: Duration::from_secs(1),
            })
            .jitter(if jitter { Jitter::Full } else { Jitter::None });
        if let Some(ms) = elapsed_ms {
            config = config.max_elapsed(Duration::from_millis(ms));
        }
        let config = config.build().unwrap();
        let run = |lazy: bool| {
            let events = std::cell::RefCell::new(Vec::new());
            let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
            let rng = Xorshift64::new(seed);
            let t0 = Instant::from_millis(1_000);
            // One plan per budget and observer, made eagerly or lazily.
            macro_rules! go {
                ($budget:expr, $observer:expr) => {
                    match (lazy, per_try) {
                        (true, None) => {
                            let plan = RetryPlan::unstarted(config, deadline(until), $budget, rng, $observer);
                            run_reading_time(plan.judged_without_time(), &steps, true)
                        }
                        (true, Some(per_try)) => {
                            let plan = RetryPlan::unstarted(config, deadline(until), $budget, rng, $observer);
                            let plan: AttemptTimeout<_> = AttemptTimeout::new(plan.judged_without_time(), per_try);
                            run_reading_time(plan, &steps, true)
                        }
                        (false, None) => {
                            let plan = RetryPlan::new(config, deadline(until), $budget, rng, $observer, t0);
                            run_reading_time(plan, &steps, false)
                        }
                        (false, Some(per_try)) => {
                            let plan = RetryPlan::new(config, deadline(until), $budget, rng, $observer, t0);
                            let plan: AttemptTimeout<_> = AttemptTimeout::new(plan, per_try);
                            run_reading_time(plan, &steps, false)
                        }
                    }
                };
            }
            let record = || FnObserver(|e| events.borrow_mut().push(e));
            let actions = match (budget, observed) {
                (true, true) => go!(&quota, record()),
                (true, false) => go!(&quota, ()),
                (false, true) => go!(&NoBudget, record()),
                (false, false) => go!(&NoBudget, ()),
            };
            (actions, events.into_inner())
        };
        prop_assert_eq!(run(false), run(true));
    }
}
