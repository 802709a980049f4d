use core::time::Duration;

use super::*;
use crate::Problem;
use crate::rng::Xorshift64;

const MS: fn(u64) -> Instant = Instant::from_millis;

fn count(chaos: &Chaos, now: Instant, n: u32) -> [u32; 4] {
    let mut rng = Xorshift64::new(42);
    let mut seen = [0; 4];
    for _ in 0..n {
        let i = chaos.decide(now, &mut rng);
        match i.fault {
            None => seen[0] += 1,
            Some(Fault::Error) => seen[1] += 1,
            Some(Fault::Outcome) => seen[2] += 1,
            Some(Fault::Hang) => seen[3] += 1,
        }
    }
    seen
}

#[test]
fn faults_split_one_draw_by_their_rates() {
    let config = ChaosConfig::builder()
        .error(Rate::percent(20), Schedule::Always)
        .outcome(Rate::percent(30), Schedule::Always)
        .hang(Rate::percent(10), Schedule::Always)
        .build()
        .unwrap();
    let seen = count(&Chaos::new(config), MS(0), 100_000);
    // within 1 % of 100 000 draws (about 5 standard deviations)
    for (got, want) in seen.iter().zip([40_000, 20_000, 30_000, 10_000]) {
        assert!(got.abs_diff(want) < 1_000, "{seen:?}");
    }
}

#[test]
fn full_rates_draw_nothing_and_zero_rates_never_inject() {
    let config = ChaosConfig::builder()
        .hang(Rate::ALWAYS, Schedule::Always)
        .build()
        .unwrap();
    let chaos = Chaos::new(config);
    let mut rng = Xorshift64::new(9);
    let before = rng;
    assert_eq!(chaos.decide(MS(1), &mut rng).fault, Some(Fault::Hang));
    assert_eq!(rng, before, "a certain fault draws nothing");
    let none = Chaos::new(ChaosConfig::NONE);
    assert_eq!(count(&none, MS(0), 1_000), [1_000, 0, 0, 0]);
}

#[test]
fn schedules_bound_the_faults() {
    let config = ChaosConfig::builder()
        .error(
            Rate::ALWAYS,
            Schedule::Between {
                from: MS(100),
                until: MS(200),
            },
        )
        .build()
        .unwrap();
    let chaos = Chaos::new(config);
    let mut rng = Xorshift64::new(1);
    for (t, fault) in [
        (99, None),
        (100, Some(Fault::Error)),
        (199, Some(Fault::Error)),
        (200, None),
    ] {
        assert_eq!(chaos.decide(MS(t), &mut rng).fault, fault, "at {t} ms");
    }
}

#[test]
fn latency_is_uniform_within_bounds_and_scaled_by_intensity() {
    let (min, max) = (Duration::from_millis(10), Duration::from_millis(20));
    let ramp = Schedule::Ramp {
        from: MS(0),
        full_at: MS(1_000),
    };
    let config = ChaosConfig::builder()
        .latency(Rate::ALWAYS, min, max, ramp)
        .build()
        .unwrap();
    let chaos = Chaos::new(config);
    let mut rng = Xorshift64::new(5);
    for _ in 0..1_000 {
        let full = chaos.decide(MS(1_000), &mut rng).delay;
        assert!(full >= min && full <= max, "{full:?}");
        let half = chaos.decide(MS(500), &mut rng).delay;
        assert!(half >= min / 2 && half <= max / 2, "{half:?}");
    }
    assert_eq!(chaos.decide(MS(0), &mut rng).delay, Duration::ZERO);
}

#[test]
fn switched_off_it_passes_without_drawing() {
    let config = ChaosConfig::builder()
        .error(Rate::percent(50), Schedule::Always)
        .build()
        .unwrap();
    let chaos = Chaos::new(config);
    chaos.set_enabled(false);
    let mut rng = Xorshift64::new(2);
    let before = rng;
    assert_eq!(chaos.decide(MS(0), &mut rng), Injection::PASS);
    assert_eq!(rng, before);
    chaos.set_enabled(true);
    assert!(count(&chaos, MS(0), 100)[1] > 0);
}

#[test]
fn invalid_configs_name_their_field() {
    let cases = [
        (
            ChaosConfig::builder().error(Rate::per_million(1_000_001), Schedule::Always),
            "error.rate",
            Problem::FractionOutOfRange,
        ),
        (
            ChaosConfig::builder()
                .error(Rate::percent(50), Schedule::Always)
                .outcome(Rate::percent(51), Schedule::Always),
            "outcome.rate",
            Problem::TooLarge,
        ),
        (
            ChaosConfig::builder().hang(
                Rate::ALWAYS,
                Schedule::Between {
                    from: MS(5),
                    until: MS(5),
                },
            ),
            "hang.schedule",
            Problem::Unordered,
        ),
        (
            ChaosConfig::builder().latency(
                Rate::ALWAYS,
                Duration::from_millis(2),
                Duration::from_millis(1),
                Schedule::Always,
            ),
            "latency.max",
            Problem::BelowMinimum,
        ),
        (
            ChaosConfig::builder().outcome(
                Rate::ALWAYS,
                Schedule::Periodic {
                    period: Duration::from_secs(1),
                    active: Duration::from_secs(2),
                    offset: Duration::ZERO,
                },
            ),
            "outcome.schedule",
            Problem::TooLarge,
        ),
        (
            ChaosConfig::builder().latency(
                Rate::ALWAYS,
                Duration::ZERO,
                Duration::ZERO,
                Schedule::Periodic {
                    period: Duration::ZERO,
                    active: Duration::ZERO,
                    offset: Duration::ZERO,
                },
            ),
            "latency.schedule",
            Problem::Zero,
        ),
    ];
    for (builder, field, problem) in cases {
        assert_eq!(
            builder.build(),
            Err(crate::ConfigError::new(field, problem))
        );
    }
}

#[test]
fn rates_that_never_change_decide_and_draw_as_a_schedule_always_on_does() {
    // `Always` schedules take the precomputed path; a `Between` covering
    // every instant tested reads the schedule at each call: the same
    // decisions from the same draws.
    let on = Schedule::Between {
        from: Instant::ZERO,
        until: Instant::MAX,
    };
    let build = |s: Schedule| {
        ChaosConfig::builder()
            .error(Rate::percent(3), s)
            .outcome(Rate::per_million(1), s)
            .hang(Rate::percent(2), Schedule::Always)
            .latency(
                Rate::percent(40),
                Duration::from_millis(1),
                Duration::from_millis(9),
                s,
            )
            .build()
            .unwrap()
    };
    let (steady, scheduled) = (Chaos::new(build(Schedule::Always)), Chaos::new(build(on)));
    let (mut a, mut b) = (Xorshift64::new(9), Xorshift64::new(9));
    for i in 0..10_000 {
        let now = MS(i);
        assert_eq!(steady.decide(now, &mut a), scheduled.decide(now, &mut b));
    }
    assert_eq!(a.next_u64(), b.next_u64());
}
