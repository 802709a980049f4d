extern crate std;
use std::vec::Vec;

use core::cell::RefCell;
use core::time::Duration;

use super::*;
use crate::FnObserver;
use crate::plan::Judged;
use crate::retry::{NoBudget, TokenQuota};
use crate::sync::CsLock;

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn config(attempts: u32, delay: HedgeDelay) -> HedgeConfig {
    HedgeConfig::builder()
        .max_attempts(attempts)
        .delay(delay)
        .build()
        .unwrap()
}

fn started(action: Action) -> u32 {
    match action {
        Action::Start(a) => a.number,
        other => panic!("expected a start, got {other:?}"),
    }
}

fn failed() -> Judged {
    Judged::verdict(Verdict::retry())
}

#[test]
fn a_fast_first_answer_launches_no_hedge() {
    let events = RefCell::new(Vec::new());
    let observer = FnObserver(|e| events.borrow_mut().push(e));
    let fixed = config(3, HedgeDelay::Fixed(Duration::from_millis(50)));
    let mut plan = HedgePlan::new(fixed, Deadline::NEVER, &NoBudget, (), observer, ms(0));
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    plan.on_event(
        ms(20),
        PlanEvent::Ended {
            attempt: 1,
            judged: Judged::SUCCESS,
        },
    );
    let won = Finish::Answer {
        attempts: 1,
        gave_up: None,
    };
    assert_eq!(plan.poll_action(ms(20)), Action::Finish(won));
    assert_eq!(
        plan.poll_action(ms(90)),
        Action::Finish(won),
        "no hedge after the answer"
    );
    assert_eq!(events.borrow().len(), 2, "launched 1, won by 1");
}

#[test]
fn parallel_launches_every_attempt_at_once_and_cancels_the_losers() {
    let mut plan = HedgePlan::new(
        config(3, HedgeDelay::Parallel),
        Deadline::NEVER,
        &NoBudget,
        (),
        (),
        ms(0),
    );
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    assert_eq!(started(plan.poll_action(ms(0))), 2);
    assert_eq!(started(plan.poll_action(ms(0))), 3);
    assert_eq!(plan.poll_action(ms(0)), Action::Wait(None));
    plan.on_event(
        ms(5),
        PlanEvent::Ended {
            attempt: 2,
            judged: Judged::SUCCESS,
        },
    );
    assert_eq!(plan.poll_action(ms(5)), Action::Cancel(1));
    assert_eq!(plan.poll_action(ms(5)), Action::Cancel(3));
    assert!(matches!(plan.poll_action(ms(5)), Action::Finish(_)));
}

#[test]
fn on_failure_hedges_only_after_a_failure_and_then_at_once() {
    let mut plan = HedgePlan::new(
        config(2, HedgeDelay::OnFailure),
        Deadline::NEVER,
        &NoBudget,
        (),
        (),
        ms(0),
    );
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    assert_eq!(
        plan.poll_action(ms(500)),
        Action::Wait(None),
        "slow is not failed"
    );
    plan.on_event(
        ms(600),
        PlanEvent::Ended {
            attempt: 1,
            judged: failed(),
        },
    );
    assert_eq!(started(plan.poll_action(ms(600))), 2);
}

#[test]
fn when_every_attempt_fails_the_last_failure_is_the_answer() {
    let fixed = config(2, HedgeDelay::Fixed(Duration::from_millis(10)));
    let mut plan = HedgePlan::new(fixed, Deadline::NEVER, &NoBudget, (), (), ms(0));
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    plan.on_event(ms(10), PlanEvent::Timer);
    assert_eq!(started(plan.poll_action(ms(10))), 2);
    plan.on_event(
        ms(12),
        PlanEvent::Ended {
            attempt: 1,
            judged: failed(),
        },
    );
    assert_eq!(
        plan.poll_action(ms(12)),
        Action::Wait(None),
        "the hedge is still in flight"
    );
    plan.on_event(
        ms(15),
        PlanEvent::Ended {
            attempt: 2,
            judged: failed(),
        },
    );
    let gave_up = Finish::Answer {
        attempts: 2,
        gave_up: Some(GiveUp::Attempts),
    };
    assert_eq!(plan.poll_action(ms(15)), Action::Finish(gave_up));
}

#[test]
fn the_retry_budget_bounds_hedges_too() {
    // 10 tokens, a timeout-priced withdrawal costs 10: one hedge in all.
    let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
    let events = RefCell::new(Vec::new());
    let fixed = config(3, HedgeDelay::Fixed(Duration::from_millis(10)));
    let observer = FnObserver(|e| events.borrow_mut().push(e));
    let mut plan = HedgePlan::new(fixed, Deadline::NEVER, &quota, (), observer, ms(0));
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    assert_eq!(started(plan.poll_action(ms(10))), 2);
    assert_eq!(
        plan.poll_action(ms(20)),
        Action::Wait(None),
        "the budget refused the third"
    );
    assert!(
        events
            .borrow()
            .contains(&HedgeEvent::BudgetExhausted { at: ms(20) })
    );
}

#[test]
fn no_hedge_starts_at_or_after_the_deadline() {
    let fixed = config(3, HedgeDelay::Fixed(Duration::from_millis(50)));
    let deadline = Deadline::at(ms(50));
    let mut plan = HedgePlan::new(fixed, deadline, &NoBudget, (), (), ms(0));
    assert_eq!(started(plan.poll_action(ms(0))), 1);
    assert_eq!(plan.poll_action(ms(50)), Action::Wait(None));
}

#[test]
fn the_quantile_delay_follows_recent_winners() {
    let ms_ = Duration::from_millis;
    let latencies = CsLock::new(LatencyQuantile::new(9_000, ms_(100), 1, ms_(1_000)));
    let quantile = config(2, HedgeDelay::Quantile);
    // Calls whose first attempt wins after 20 ms teach the tracker.
    for call in 0..50u64 {
        let t0 = ms(call * 30);
        let mut plan = HedgePlan::new(quantile, Deadline::NEVER, &NoBudget, &latencies, (), t0);
        assert_eq!(started(plan.poll_action(t0)), 1);
        let end = t0.saturating_add(ms_(20));
        plan.on_event(
            end,
            PlanEvent::Ended {
                attempt: 1,
                judged: Judged::SUCCESS,
            },
        );
    }
    latencies.with(|q| q.refresh(ms(5_000)));
    let t0 = ms(6_000);
    let mut plan = HedgePlan::new(quantile, Deadline::NEVER, &NoBudget, &latencies, (), t0);
    assert_eq!(started(plan.poll_action(t0)), 1);
    let Action::Wait(Some(at)) = plan.poll_action(t0) else {
        panic!("a hedge is due");
    };
    let delay = at.saturating_duration_since(t0);
    assert!(
        delay >= ms_(20) && delay <= ms_(25),
        "p90 of 20 ms calls: {delay:?}"
    );
}

#[test]
fn a_clock_stepping_back_never_launches_early() {
    let fixed = config(2, HedgeDelay::Fixed(Duration::from_millis(50)));
    let mut plan = HedgePlan::new(fixed, Deadline::NEVER, &NoBudget, (), (), ms(100));
    assert_eq!(started(plan.poll_action(ms(100))), 1);
    assert_eq!(plan.poll_action(ms(40)), Action::Wait(Some(ms(150))));
    assert_eq!(started(plan.poll_action(ms(150))), 2);
}

#[test]
fn the_config_rejects_zero_and_too_many_attempts() {
    assert_eq!(
        HedgeConfig::builder()
            .max_attempts(0)
            .build()
            .unwrap_err()
            .field,
        "max_attempts"
    );
    assert!(
        HedgeConfig::builder()
            .max_attempts(MAX_ATTEMPTS + 1)
            .build()
            .is_err()
    );
    assert!(
        HedgeConfig::builder()
            .max_attempts(MAX_ATTEMPTS)
            .build()
            .is_ok()
    );
}
