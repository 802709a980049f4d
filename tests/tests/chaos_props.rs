//! Properties of the chaos machine a user relies on:
//!
//! - any configuration the builder accepts decides at any instant without
//!   panicking, and never injects outside what it says: no fault whose rate
//!   in effect is zero, no latency above `max` (or below `min` scaled by the
//!   schedule's intensity) and none when the latency rule is off;
//! - the same configuration, instant and seed give the same injection;
//! - switched off, it passes every call and draws nothing;
//! - schedules: `Between` and `Periodic` are fully on or fully off, on
//!   exactly where documented, at every boundary and one nanosecond before.

use core::time::Duration;

use failsafe_core::Instant;
use failsafe_core::chaos::{Chaos, ChaosConfig, Fault, Injection, Rate, Schedule};
use failsafe_core::rng::Xorshift64;
use proptest::prelude::*;

fn schedule() -> impl Strategy<Value = Schedule> {
    prop_oneof![
        Just(Schedule::Always),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Schedule::Between {
            from: Instant::from_nanos(a.min(b)),
            until: Instant::from_nanos(a.max(b)),
        }),
        (1u64..1 << 40, any::<u64>(), 0u64..1 << 42).prop_map(|(period, active, offset)| {
            Schedule::Periodic {
                period: Duration::from_nanos(period),
                active: Duration::from_nanos(active % period + 1),
                offset: Duration::from_nanos(offset),
            }
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Schedule::Ramp {
            from: Instant::from_nanos(a.min(b)),
            full_at: Instant::from_nanos(a.max(b)),
        }),
    ]
}

fn rate() -> impl Strategy<Value = Rate> {
    prop_oneof![
        Just(Rate::NEVER),
        Just(Rate::ALWAYS),
        (0u32..=1_000_000).prop_map(Rate::per_million),
    ]
}

prop_compose! {
    /// Any configuration: about half of them invalid, which the builder
    /// must reject with a field rather than accept.
    fn config()(
        rates in (rate(), rate(), rate(), rate()),
        schedules in (schedule(), schedule(), schedule(), schedule()),
        latency in (any::<u64>(), any::<u64>()),
    ) -> Result<ChaosConfig, failsafe_core::ConfigError> {
        ChaosConfig::builder()
            .error(rates.0, schedules.0)
            .outcome(rates.1, schedules.1)
            .hang(rates.2, schedules.2)
            .latency(rates.3, Duration::from_nanos(latency.0.min(latency.1)), Duration::from_nanos(latency.0.max(latency.1)), schedules.3)
            .build()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn injections_stay_within_the_configuration(
        config in config(),
        times in prop::collection::vec(any::<u64>(), 1..64),
        seed in any::<u64>(),
    ) {
        let Ok(config) = config else {
            // a rejected configuration names one of the builder's fields
            let field = config.unwrap_err().field;
            prop_assert!(field.ends_with(".rate") || field.ends_with(".schedule") || field == "latency.max");
            return Ok(());
        };
        let chaos = Chaos::new(config);
        let mut rng = Xorshift64::new(seed);
        for t in times {
            let now = Instant::from_nanos(t);
            let mut twin = rng;
            let injection = chaos.decide(now, &mut rng);
            prop_assert_eq!(injection, chaos.decide(now, &mut twin), "deterministic");
            let rule_of = |f: Fault| match f {
                Fault::Error => config.error(),
                Fault::Outcome => config.outcome(),
                Fault::Hang => config.hang(),
            };
            if let Some(fault) = injection.fault {
                let rule = rule_of(fault);
                prop_assert!(rule.rate > Rate::NEVER && rule.schedule.intensity(now) > 0);
            }
            let latency = config.latency();
            prop_assert!(injection.delay <= latency.max);
            let intensity = latency.schedule.intensity(now) as u128;
            if latency.rate == Rate::NEVER || intensity == 0 {
                prop_assert_eq!(injection.delay, Duration::ZERO);
            } else if latency.rate == Rate::ALWAYS {
                let floor = latency.min.as_nanos() * intensity / 1_000_000;
                prop_assert!(injection.delay.as_nanos() >= floor);
            }
        }
        chaos.set_enabled(false);
        let before = rng;
        prop_assert_eq!(chaos.decide(Instant::from_nanos(seed), &mut rng), Injection::PASS);
        prop_assert_eq!(rng, before);
    }

    #[test]
    fn on_off_schedules_switch_exactly_at_their_boundaries(
        from in 0u64..1 << 50,
        length in 1u64..1 << 40,
        period in 1u64..1 << 30,
        active in any::<u64>(),
        cycles in 0u64..1_000,
    ) {
        let between = Schedule::Between {
            from: Instant::from_nanos(from),
            until: Instant::from_nanos(from + length),
        };
        for (t, on) in [(from.saturating_sub(1), from == 0), (from, true), (from + length - 1, true), (from + length, false)] {
            prop_assert_eq!(between.intensity(Instant::from_nanos(t)) == 1_000_000, on, "between at {}", t);
        }
        let active = active % period + 1;
        let periodic = Schedule::Periodic {
            period: Duration::from_nanos(period),
            active: Duration::from_nanos(active),
            offset: Duration::from_nanos(from),
        };
        let start = from + cycles * period;
        prop_assert_eq!(periodic.intensity(Instant::from_nanos(start)), 1_000_000);
        prop_assert_eq!(periodic.intensity(Instant::from_nanos(start + active - 1)), 1_000_000);
        prop_assert_eq!(periodic.intensity(Instant::from_nanos(start + active)), if active == period { 1_000_000 } else { 0 });
        if from > 0 {
            prop_assert_eq!(periodic.intensity(Instant::from_nanos(from - 1)), 0);
        }
    }
}
