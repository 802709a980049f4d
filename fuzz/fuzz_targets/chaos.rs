//! Fuzzes chaos injection: arbitrary builder inputs (any rates, over a
//! million included; any schedules, empty, reversed, zero-period and
//! longer-than-period ones included; any latency bounds), then a timeline
//! of decisions at arbitrary instants (stalling, stepping back, near
//! `u64::MAX`) with the switch flipped on and off, and calls through the
//! driver's blocking `ChaosPolicy::run_blocking` on a manual clock under
//! arbitrary deadlines.
//!
//! Besides "never panics, never overflows", every step checks:
//!
//! - an invalid configuration is an `Err` naming one of the builder's
//!   fields, a valid one keeps the fault rates' sum within a million;
//! - a decision never injects a fault whose rate in effect at `now` is
//!   zero, always injects the one whose rate is 100 %, never adds latency
//!   when the latency rule is off at `now`, and never more than `max` nor
//!   less than `min` scaled by the schedule's intensity;
//! - the same configuration, instant and seed decide the same (a twin);
//! - switched off, it passes and draws nothing from the generator;
//! - the driver carries out exactly the decision: the clock moves to
//!   `now + delay`, or to the deadline for a hang or a latency reaching it,
//!   and the answer is the injected error, the chosen outcome or the call's.
#![no_main]

use core::cell::Cell;
use core::time::Duration;

use arbitrary::Arbitrary;
use failsafe_core::chaos::{Chaos, ChaosConfig, Fault, Injection, PER_MILLION, Rate, Schedule};
use failsafe_core::rng::{Rng, Seeds, Xorshift64};
use failsafe_core::timeout::Deadline;
use failsafe_core::Instant;
use failsafe_driver::chaos::ChaosPolicy;
use failsafe_driver::{BlockingRuntime, Clock};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Millis(u16),
    Nanos(u64),
    Raw { secs: u64, nanos: u32 },
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Millis(ms) => Duration::from_millis(ms.into()),
            Dur::Nanos(n) => Duration::from_nanos(n),
            Dur::Raw { secs, nanos } => Duration::new(secs, nanos % 1_000_000_000),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum RateIn {
    Never,
    Always,
    Percent(u8),
    Ppm(u32),
}

impl RateIn {
    fn get(self) -> Rate {
        match self {
            RateIn::Never => Rate::NEVER,
            RateIn::Always => Rate::ALWAYS,
            RateIn::Percent(p) => Rate::percent(p.into()),
            RateIn::Ppm(ppm) => Rate::per_million(ppm),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ScheduleIn {
    Always,
    Between(u64, u64),
    Periodic(Dur, Dur, Dur),
    Ramp(u64, u64),
}

impl ScheduleIn {
    fn get(self) -> Schedule {
        match self {
            ScheduleIn::Always => Schedule::Always,
            ScheduleIn::Between(from, until) => Schedule::Between {
                from: Instant::from_nanos(from),
                until: Instant::from_nanos(until),
            },
            ScheduleIn::Periodic(period, active, offset) => Schedule::Periodic {
                period: period.get(),
                active: active.get(),
                offset: offset.get(),
            },
            ScheduleIn::Ramp(from, full_at) => Schedule::Ramp {
                from: Instant::from_nanos(from),
                full_at: Instant::from_nanos(full_at),
            },
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    Later(u32),
    Earlier(u32),
    At(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Decide,
    Switch(bool),
    RunBlocking { deadline: Option<u32>, fails: bool },
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    faults: [(RateIn, ScheduleIn); 3],
    latency: (RateIn, Dur, Dur, ScheduleIn),
    ops: Vec<(Time, Op)>,
}

const FIELDS: [&str; 9] = [
    "error.rate",
    "outcome.rate",
    "hang.rate",
    "latency.rate",
    "latency.max",
    "error.schedule",
    "outcome.schedule",
    "hang.schedule",
    "latency.schedule",
];

/// A manual clock that jumps to the instant it is asked to block until.
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

/// A generator taken from `Seeds` at its first draw, as the policy's.
struct FirstDraw<'a>(&'a Seeds, Option<Xorshift64>);

impl Rng for FirstDraw<'_> {
    fn next_u64(&mut self) -> u64 {
        let seeds = self.0;
        self.1.get_or_insert_with(|| seeds.next()).next_u64()
    }
}

/// A rate scaled by an intensity, as the machine computes it.
fn in_effect(rate: Rate, intensity: u32) -> u64 {
    u64::from(rate.as_per_million()) * u64::from(intensity) / u64::from(PER_MILLION)
}

fn nanos(d: Duration) -> u128 {
    d.as_nanos().min(u128::from(u64::MAX))
}

/// What a valid configuration may inject at `now`.
fn check(config: &ChaosConfig, now: Instant, injection: Injection) {
    let faults = [
        (config.error(), Fault::Error),
        (config.outcome(), Fault::Outcome),
        (config.hang(), Fault::Hang),
    ];
    for (rule, fault) in faults {
        let rate = in_effect(rule.rate, rule.schedule.intensity(now));
        if rate == 0 {
            assert_ne!(injection.fault, Some(fault), "a fault off at {now:?} was injected");
        }
        if rate >= u64::from(PER_MILLION) {
            assert_eq!(injection.fault, Some(fault), "a certain fault was not injected");
        }
    }
    let latency = config.latency();
    let intensity = latency.schedule.intensity(now);
    if intensity == 0 || latency.rate == Rate::NEVER {
        assert_eq!(injection.delay, Duration::ZERO, "latency added while off");
    }
    let delay = injection.delay.as_nanos();
    assert!(delay <= nanos(latency.max), "more latency than max");
    if latency.rate == Rate::ALWAYS {
        let floor = nanos(latency.min) * u128::from(intensity) / u128::from(PER_MILLION);
        assert!(delay >= floor, "less latency than min at this intensity");
    }
}

fuzz_target!(|input: Input| {
    let [(er, es), (or, os), (hr, hs)] = input.faults;
    let (lr, lmin, lmax, ls) = input.latency;
    let built = ChaosConfig::builder()
        .error(er.get(), es.get())
        .outcome(or.get(), os.get())
        .hang(hr.get(), hs.get())
        .latency(lr.get(), lmin.get(), lmax.get(), ls.get())
        .build();
    let config = match built {
        Ok(config) => config,
        Err(e) => {
            assert!(FIELDS.contains(&e.field), "unknown field {}", e.field);
            return;
        }
    };
    let sum = [config.error(), config.outcome(), config.hang()]
        .iter()
        .map(|r| u64::from(r.rate.as_per_million()))
        .sum::<u64>();
    assert!(sum <= u64::from(PER_MILLION));

    let (chaos, twin) = (Chaos::new(config), Chaos::new(config));
    let policy = ChaosPolicy::new(&chaos, || "injected", || Ok(503u16)).seed(input.seed);
    let twin_seeds = Seeds::new(input.seed);
    let mut rng = Xorshift64::new(input.seed);
    let mut now = Instant::ZERO;
    let clock = Manual(Cell::new(now));
    for (time, op) in input.ops.into_iter().take(256) {
        now = match time {
            Time::Same => now,
            Time::Later(ns) => now + Duration::from_nanos(ns.into()),
            Time::Earlier(ns) => now - Duration::from_nanos(ns.into()),
            Time::At(ns) => Instant::from_nanos(ns),
        };
        match op {
            Op::Switch(on) => chaos.set_enabled(on),
            Op::Decide => {
                let before = rng;
                let injection = chaos.decide(now, &mut rng);
                if chaos.is_enabled() {
                    check(&config, now, injection);
                    let mut again = before;
                    assert_eq!(twin.decide(now, &mut again), injection, "not deterministic");
                } else {
                    assert_eq!(injection, Injection::PASS);
                    let (mut a, mut b) = (before, rng);
                    assert_eq!(a.next_u64(), b.next_u64(), "drew while off");
                }
            }
            Op::RunBlocking { deadline, fails } => {
                clock.0.set(now);
                let deadline = match deadline {
                    Some(ns) => Deadline::at(now + Duration::from_nanos(ns.into())),
                    None => Deadline::NEVER,
                };
                // The policy takes a generator from its stream at a call's
                // first draw only.
                let decided = if chaos.is_enabled() {
                    twin.decide(now, &mut FirstDraw(&twin_seeds, None))
                } else {
                    Injection::PASS
                };
                let called = Cell::new(false);
                let answer = policy.run_blocking(&clock, deadline, || {
                    called.set(true);
                    if fails { Err("own") } else { Ok(200) }
                });
                let wake = now + decided.delay;
                let late = !decided.delay.is_zero()
                    && !deadline.is_never()
                    && wake >= deadline.instant();
                let hang = decided.fault == Some(Fault::Hang) || late;
                let (want, at) = match decided.fault {
                    _ if hang => (Err("injected"), deadline.instant().max(now)),
                    Some(Fault::Error) => (Err("injected"), wake),
                    Some(_) => (Ok(503), wake),
                    None if fails => (Err("own"), wake),
                    None => (Ok(200), wake),
                };
                assert_eq!(answer, want);
                assert_eq!(clock.now(), at);
                assert_eq!(called.get(), !hang && decided.fault.is_none());
            }
        }
    }
});
