//! A deterministic discrete-event simulator for a breaker in front of a
//! modelled dependency.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use failsafe_core::breaker::{
    BreakerConfig, BreakerEvent, BreakerPermit, CircuitBreaker, State, Window,
};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::{Instant, Observer, Outcome};

/// How the dependency answers a call started at a given time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Health {
    /// Answers successfully after the latency.
    Up,
    /// Fails after the latency.
    Down,
    /// Fails with this probability (drawn from the seeded RNG).
    Flaky(f64),
    /// Never answers: the caller's permit is never returned (a lost probe).
    Hangs,
}

/// A traffic pattern against a dependency whose health changes over time.
#[derive(Debug)]
pub struct Scenario<H: Fn(Instant) -> Health> {
    /// Time between arrivals.
    pub every: Duration,
    /// How long the dependency takes to answer.
    pub latency: Duration,
    /// The dependency's health at the moment a call starts.
    pub health: H,
    /// How long to simulate.
    pub length: Duration,
    /// RNG seed for flaky failures.
    pub seed: u64,
}

/// What happened.
#[derive(Debug, Default)]
pub struct Report {
    /// Calls admitted by the breaker.
    pub admitted: u64,
    /// Calls rejected by the breaker.
    pub rejected: u64,
    /// Admitted calls that started while the dependency was not `Up`.
    pub admitted_while_unhealthy: u64,
    /// Every event the breaker emitted, in order.
    pub events: Vec<BreakerEvent>,
    /// Times the simulator woke up only for the breaker's `next_deadline()`.
    pub deadline_wakeups: u64,
    /// The state at the end.
    pub final_state: Option<State>,
}

impl Report {
    /// The state transitions, as `(at, from, to)`.
    pub fn transitions(&self) -> Vec<(Instant, State, State)> {
        self.events
            .iter()
            .filter_map(|e| match *e {
                BreakerEvent::StateChanged { from, to, at } => Some((at, from, to)),
                _ => None,
            })
            .collect()
    }
}

#[derive(Default)]
struct Log(Vec<BreakerEvent>);

impl Observer<BreakerEvent> for Log {
    fn on_event(&mut self, event: BreakerEvent) {
        self.0.push(event);
    }
}

/// Runs `scenario` against a breaker with `config` and `window`.
pub fn run<W: Window, H: Fn(Instant) -> Health>(
    config: BreakerConfig,
    window: W,
    scenario: &Scenario<H>,
) -> Report {
    let mut breaker = CircuitBreaker::with_observer(config, window, Log::default());
    let mut rng = Xorshift64::new(scenario.seed);
    let mut report = Report::default();
    // (completion time, sequence, permit slot, outcome)
    let mut completions: BinaryHeap<Reverse<(Instant, u64, usize, bool)>> = BinaryHeap::new();
    let mut in_flight: Vec<Option<BreakerPermit>> = Vec::new();
    let end = Instant::ZERO.saturating_add(scenario.length);
    let mut next_arrival = Instant::ZERO;
    let mut seq = 0u64;

    loop {
        let next_completion = completions.peek().map(|Reverse((t, ..))| *t);
        let deadline = breaker.next_deadline();
        // Jump to the earliest thing that can happen.
        let now = [Some(next_arrival), next_completion, deadline]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        if now > end {
            break;
        }
        if next_completion == Some(now) {
            let Reverse((_, _, slot, failed)) = completions.pop().unwrap();
            let permit = in_flight[slot].take().unwrap();
            breaker.record(
                now,
                permit,
                if failed {
                    Outcome::Failure
                } else {
                    Outcome::Success
                },
            );
        } else if next_arrival == now {
            next_arrival = now.saturating_add(scenario.every);
            match breaker.acquire(now) {
                Ok(permit) => {
                    report.admitted += 1;
                    let health = (scenario.health)(now);
                    if health != Health::Up {
                        report.admitted_while_unhealthy += 1;
                    }
                    let failed = match health {
                        Health::Up => false,
                        Health::Down => true,
                        Health::Flaky(p) => rng.next_f64() < p,
                        Health::Hangs => {
                            // The permit is lost for good: only its lease can free the slot.
                            drop(permit);
                            continue;
                        }
                    };
                    in_flight.push(Some(permit));
                    seq += 1;
                    completions.push(Reverse((
                        now.saturating_add(scenario.latency),
                        seq,
                        in_flight.len() - 1,
                        failed,
                    )));
                }
                Err(_) => report.rejected += 1,
            }
        } else {
            report.deadline_wakeups += 1;
            breaker.on_deadline(now);
        }
    }
    report.final_state = Some(breaker.state());
    report.events = std::mem::take(&mut breaker.observer_mut().0);
    report
}
