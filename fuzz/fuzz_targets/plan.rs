//! Fuzzes the per-call plan contract for every plan (retry, timeout,
//! fallback, hedge, and a retry or hedge under an attempt timeout) with arbitrary configurations and an arbitrary world:
//! time that moves, stalls or steps back, attempts that end in any order
//! with any judgement, timers that fire. At every action it checks what a
//! driver relies on (the same rules as `tests/tests/plan_contract.rs`):
//!
//! - it never asks to wait with nothing in flight and no instant;
//! - attempts are numbered 1, 2, 3, ... and never exceed what may run at
//!   once (one; a hedge's attempt limit);
//! - it cancels only an attempt in flight and finishes with none;
//! - it never starts an attempt before an instant it said to wait for;
//! - once finished, it answers the same finish whatever it is told;
//! - it never panics or overflows.
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use failsafe_core::Instant;
use failsafe_core::fallback::{FallbackPlan, FallbackPolicy, FallbackReason};
use failsafe_core::hedge::{HedgeConfig, HedgeDelay, HedgePlan, LatencyQuantile};
use failsafe_core::plan::{Action, Finish, Judged, Plan, PlanEvent};
use failsafe_core::retry::{
    BackoffKind, FailureKind, Jitter, RetryConfig, RetryPlan, TokenQuota, Verdict,
};
use failsafe_core::rng::Xorshift64;
use failsafe_core::sync::CsLock;
use failsafe_core::timeout::{AttemptTimeout, Deadline, Timeout, TimeoutConfig, TimeoutMode};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Kind {
    Retry {
        attempts: u8,
        delay_ms: u16,
        jitter: bool,
        seed: u64,
    },
    Timeout {
        ms: u16,
        soft: bool,
    },
    Fallback {
        alternatives: u8,
        on_failed: bool,
    },
    Hedge {
        attempts: u8,
        delay: u8,
        delay_ms: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Step {
    dt_ms: i16,
    end: Option<bool>, // Some(oldest?) ends an attempt; None fires the timer
    verdict: u8,
    hint_ms: u16,
    cause: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    deadline_ms: Option<u16>,
    /// The retry's or hedge's attempts under an `AttemptTimeout` (`Some`):
    /// none (`None` inside), or this many ms, soft or cancelling.
    per_try: Option<Option<(u16, bool)>>,
    steps: Vec<Step>,
}

/// `plan` alone, or under the input's attempt timeout.
fn drive_timed(
    plan: impl Plan,
    per_try: Option<Option<(u16, bool)>>,
    in_flight: usize,
    steps: &[Step],
) {
    let Some(per_try) = per_try else {
        return drive(plan, in_flight, steps);
    };
    let config = per_try.and_then(|(ms, soft)| {
        let mode = if soft {
            TimeoutMode::Soft
        } else {
            TimeoutMode::Cancel
        };
        TimeoutConfig::new(Duration::from_millis(u64::from(ms)))
            .ok()
            .map(|c| c.mode(mode))
    });
    // More attempts at once than it times: those run uncut.
    let timed: AttemptTimeout<_> = AttemptTimeout::new(plan, config);
    drive(timed, in_flight, steps);
}

fn judged(step: &Step) -> Judged {
    let verdict = match step.verdict % 6 {
        0 => Verdict::Success,
        1 => Verdict::retry(),
        2 => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(Duration::from_millis(u64::from(step.hint_ms))),
        },
        3 => Verdict::Retry {
            kind: FailureKind::Timeout,
            retry_after: None,
        },
        4 => Verdict::DoNotRetry,
        _ => Verdict::Abort,
    };
    let cause = match step.cause % 4 {
        0 => None,
        1 => Some(FallbackReason::Failed),
        2 => Some(FallbackReason::TimedOut),
        _ => Some(FallbackReason::GaveUp(
            failsafe_core::retry::GiveUp::Attempts,
        )),
    };
    Judged { verdict, cause }
}

fn drive(mut plan: impl Plan, in_flight: usize, steps: &[Step]) {
    let mut clock: u64 = 10_000;
    let mut latest = Instant::ZERO;
    let mut running: Vec<u32> = Vec::new();
    let (mut started, mut not_before, mut finished) = (0u32, None::<Instant>, None::<Finish>);
    for step in steps.iter().take(200) {
        clock = clock.saturating_add_signed(i64::from(step.dt_ms));
        let now = Instant::from_millis(clock);
        latest = latest.max(now);
        for _ in 0..40 {
            match plan.poll_action(now) {
                Action::Start(a) => {
                    assert!(finished.is_none(), "started after finishing");
                    assert!(running.len() < in_flight, "too many in flight");
                    assert_eq!(a.number, started + 1, "out of order");
                    if let Some(at) = not_before {
                        assert!(latest >= at, "started before {at:?}");
                    }
                    started = a.number;
                    running.push(a.number);
                    not_before = None;
                }
                Action::Cancel(n) => {
                    assert!(running.contains(&n), "cancelled {n}, not in flight");
                    running.retain(|&r| r != n);
                }
                Action::Finish(f) => {
                    assert!(running.is_empty(), "finished with attempts in flight");
                    if let Some(before) = finished {
                        assert_eq!(before, f, "the finish changed");
                    }
                    finished = Some(f);
                    break;
                }
                Action::Wait(at) => {
                    assert!(!running.is_empty() || at.is_some(), "waits for nothing");
                    if running.is_empty() {
                        not_before = at;
                    }
                    match (step.end, at) {
                        (Some(oldest), _) if !running.is_empty() => {
                            let n = if oldest {
                                running.remove(0)
                            } else {
                                running.pop().unwrap()
                            };
                            plan.on_event(
                                now,
                                PlanEvent::Ended {
                                    attempt: n,
                                    judged: judged(step),
                                },
                            );
                        }
                        (_, Some(at)) => {
                            let fired = now.max(at);
                            latest = latest.max(fired);
                            plan.on_event(fired, PlanEvent::Timer);
                        }
                        (_, None) => {
                            let n = running.remove(0);
                            plan.on_event(
                                now,
                                PlanEvent::Ended {
                                    attempt: n,
                                    judged: judged(step),
                                },
                            );
                        }
                    }
                    break;
                }
            }
        }
        if let Some(f) = finished {
            plan.on_event(now, PlanEvent::Timer);
            plan.on_event(
                now,
                PlanEvent::Ended {
                    attempt: started,
                    judged: judged(step),
                },
            );
            assert_eq!(plan.poll_action(now), Action::Finish(f));
        }
    }
}

fuzz_target!(|input: Input| {
    let now = Instant::from_millis(10_000);
    let deadline = input.deadline_ms.map_or(Deadline::NEVER, |ms| {
        Deadline::at(now.saturating_add(Duration::from_millis(u64::from(ms))))
    });
    match input.kind {
        Kind::Retry {
            attempts,
            delay_ms,
            jitter,
            seed,
        } => {
            let Ok(config) = RetryConfig::builder()
                .max_attempts(u32::from(attempts % 8))
                .backoff(BackoffKind::Constant(Duration::from_millis(u64::from(
                    delay_ms,
                ))))
                .jitter(if jitter { Jitter::Full } else { Jitter::None })
                .build()
            else {
                return; // zero attempts: rejected by the builder, as it should be
            };
            let quota = CsLock::new(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
            let plan = RetryPlan::new(config, deadline, &quota, Xorshift64::new(seed), (), now);
            drive_timed(plan, input.per_try, 1, &input.steps);
        }
        Kind::Timeout { ms, soft } => {
            let Ok(config) = TimeoutConfig::new(Duration::from_millis(u64::from(ms))) else {
                return;
            };
            let mode = if soft {
                TimeoutMode::Soft
            } else {
                TimeoutMode::Cancel
            };
            drive(
                Timeout::start(config.mode(mode), now, deadline),
                1,
                &input.steps,
            );
        }
        Kind::Fallback {
            alternatives,
            on_failed,
        } => {
            let policy = FallbackPolicy::ALL.on_failed(on_failed);
            let plan = FallbackPlan::new(policy, u32::from(alternatives % 5), deadline, ());
            drive(plan, 1, &input.steps);
        }
        Kind::Hedge {
            attempts,
            delay,
            delay_ms,
        } => {
            let delay = match delay % 4 {
                0 => HedgeDelay::Fixed(Duration::from_millis(u64::from(delay_ms))),
                1 => HedgeDelay::Parallel,
                2 => HedgeDelay::OnFailure,
                _ => HedgeDelay::Quantile,
            };
            let attempts = u32::from(attempts % 20);
            let Ok(config) = HedgeConfig::builder()
                .max_attempts(attempts)
                .delay(delay)
                .build()
            else {
                return;
            };
            let quota = CsLock::new(TokenQuota::new(20, 5, 10, 5, 0).unwrap());
            let latencies = CsLock::new(LatencyQuantile::new(
                9_500,
                Duration::from_millis(30),
                2,
                Duration::from_millis(100),
            ));
            let plan = HedgePlan::new(config, deadline, &quota, &latencies, (), now);
            drive_timed(plan, input.per_try, attempts as usize, &input.steps);
        }
    }
});
