//! Properties of the feature toggle a user relies on:
//!
//! - rollout: the same key gets the same answer (twice, and from a second
//!   table with the same seed); raising the percentage only adds keys; the
//!   share of keys in a rollout is close to the percentage; the bucket is
//!   the documented hash;
//! - precedence: after any sequence of list edits, switch flips and kill
//!   switch states, every decision is the one the documented rule order
//!   gives (kill, off, deny, allow, window, rollout), with lists that never
//!   hold more than `K` keys and a full list an error;
//! - windows: a decision is enabled exactly when some window contains the
//!   (monotone) time, at every boundary and one nanosecond before it;
//!   `next_deadline` / `on_deadline` visit every boundary in order, once.
//!
//! The clock stepping back is checked with every other machine in
//! `clock_contract.rs`.

use std::collections::BTreeSet;
use std::sync::Mutex;

use failsafe_core::toggle::{
    Flag, FlagSpec, FlagTable, List, ListFull, Path, Reason, ToggleConfig, ToggleEvent, Window,
    bucket,
};
use failsafe_core::{FnObserver, Instant};
use proptest::prelude::*;

fn one_flag(seed: u64, spec: FlagSpec) -> ToggleConfig<1> {
    ToggleConfig::new(seed, [spec]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn rollout_is_stable_and_monotone_in_the_percentage(
        seed in any::<u64>(),
        name in "[a-z][a-z0-9-]{0,12}",
        keys in prop::collection::vec(any::<u64>(), 1..200),
        mut bps in prop::collection::vec(0u16..=10_000, 2..6),
    ) {
        bps.sort_unstable();
        let leaked: &'static str = Box::leak(name.clone().into_boxed_str());
        let table: FlagTable<1> = FlagTable::new(one_flag(seed, FlagSpec::new(leaked).rollout(bps[0])));
        let twin: FlagTable<1> = FlagTable::new(one_flag(seed, FlagSpec::new(leaked)));
        let f = Flag::at(0);
        let mut previous: Option<BTreeSet<u64>> = None;
        for &bp in &bps {
            table.set_rollout(Instant::ZERO, f, bp).unwrap();
            twin.set_rollout(Instant::ZERO, f, bp).unwrap();
            let on: BTreeSet<u64> = keys.iter().copied().filter(|k| {
                let d = table.decide(Instant::ZERO, f, k);
                // stable: again, and from another table with the same seed
                assert_eq!(d, table.decide(Instant::from_secs(1), f, k));
                assert_eq!(d, twin.decide(Instant::ZERO, f, k));
                // the documented rule
                assert_eq!(d.is_enabled(), bucket(seed, &name, k) < bp);
                d.is_enabled()
            }).collect();
            if let Some(before) = &previous {
                prop_assert!(before.is_subset(&on), "raising the rollout to {} removed keys", bp);
            }
            previous = Some(on);
        }
    }

    #[test]
    fn the_share_of_keys_follows_the_percentage(seed in any::<u64>(), bp in 0u16..=10_000) {
        // 20 000 consecutive keys: the binomial's standard deviation is at
        // most 71 keys; allow 6 of them (~430).
        let table: FlagTable<1> = FlagTable::new(one_flag(seed, FlagSpec::new("share").rollout(bp)));
        let on = (0..20_000u32).filter(|k| table.decide(Instant::ZERO, Flag::at(0), k).is_enabled()).count();
        let expected = 20_000 * usize::from(bp) / 10_000;
        prop_assert!(on.abs_diff(expected) <= 430, "{} of 20000 at {} bp", on, bp);
    }
}

#[derive(Clone, Debug)]
enum ListOp {
    Allow(u8),
    Deny(u8),
    Forget(u8),
    Switch(bool),
    Kill(bool),
    Rollout(u16),
}

fn list_op() -> impl Strategy<Value = ListOp> {
    prop_oneof![
        3 => (0u8..10).prop_map(ListOp::Allow),
        3 => (0u8..10).prop_map(ListOp::Deny),
        2 => (0u8..10).prop_map(ListOp::Forget),
        1 => any::<bool>().prop_map(ListOp::Switch),
        1 => any::<bool>().prop_map(ListOp::Kill),
        1 => (0u16..=10_000).prop_map(ListOp::Rollout),
    ]
}

const K: usize = 3;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn deny_beats_allow_and_the_switches_beat_both(ops in prop::collection::vec(list_op(), 1..60)) {
        let table: FlagTable<1, K> = FlagTable::new(one_flag(9, FlagSpec::new("f")));
        let f = Flag::at(0);
        let t = Instant::ZERO;
        let (mut allow, mut deny) = (BTreeSet::new(), BTreeSet::new());
        let (mut on, mut killed, mut bp) = (true, false, 10_000u16);
        for op in &ops {
            match *op {
                ListOp::Allow(k) | ListOp::Deny(k) => {
                    let (set, list) = match op {
                        ListOp::Allow(_) => (&mut allow, List::Allow),
                        _ => (&mut deny, List::Deny),
                    };
                    let r = if list == List::Allow { table.allow(t, f, &k) } else { table.deny(t, f, &k) };
                    if set.contains(&k) || set.len() < K {
                        prop_assert_eq!(r, Ok(()));
                        set.insert(k);
                    } else {
                        prop_assert_eq!(r, Err(ListFull { list, capacity: K }));
                    }
                }
                ListOp::Forget(k) => {
                    let was = allow.remove(&k) | deny.remove(&k);
                    prop_assert_eq!(table.forget(t, f, &k), was);
                }
                ListOp::Switch(s) => { table.set_enabled(t, f, s); on = s; }
                ListOp::Kill(k) => killed = k,
                ListOp::Rollout(b) => { table.set_rollout(t, f, b).unwrap(); bp = b; }
            }
            let state = table.state(f).unwrap();
            prop_assert_eq!((state.allowed, state.denied), (allow.len(), deny.len()));
            for k in 0u8..10 {
                let d = table.decide_with_kill(t, f, &k, &|| killed);
                let want = if killed {
                    Reason::Killed
                } else if !on {
                    Reason::Off
                } else if deny.contains(&k) {
                    Reason::Denied
                } else if allow.contains(&k) {
                    Reason::Allowed
                } else if bucket(9, "f", &k) < bp {
                    Reason::InRollout
                } else {
                    Reason::NotInRollout
                };
                prop_assert_eq!(d.reason, want, "key {}", k);
                let enabled = matches!(want, Reason::Allowed | Reason::InRollout);
                prop_assert_eq!(d.path == Path::Enabled, enabled);
            }
        }
    }
}

fn windows() -> impl Strategy<Value = Vec<Window>> {
    // Up to 5 windows from increasing gaps and lengths (ns), near 0 and
    // near the end of the clock's range.
    (
        any::<bool>(),
        prop::collection::vec((1u64..1_000, 1u64..1_000), 0..5),
    )
        .prop_map(|(high, parts)| {
            let mut at = if high { u64::MAX - 10_000 } else { 0 };
            let mut out = Vec::new();
            for (gap, len) in parts {
                let start = at + gap;
                let end = start + len;
                out.push(
                    Window::new(Instant::from_nanos(start), Instant::from_nanos(end)).unwrap(),
                );
                at = end;
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn windows_are_exact_at_their_boundaries(ws in windows()) {
        let ws: &'static [Window] = Box::leak(ws.into_boxed_slice());
        let table: FlagTable<1> = FlagTable::new(one_flag(0, FlagSpec::new("w").windows(ws)));
        let f = Flag::at(0);
        // every boundary and the nanosecond before, in increasing time
        let mut times: Vec<u64> = ws.iter().flat_map(|w| {
            let (s, e) = (w.start().as_nanos(), w.end().as_nanos());
            [s - 1, s, e - 1, e]
        }).collect();
        times.sort_unstable();
        for t in times {
            let now = Instant::from_nanos(t);
            let inside = ws.iter().any(|w| w.contains(now));
            let d = table.decide(now, f, &());
            prop_assert_eq!(d.is_enabled(), inside, "at {} ns", t);
            if !inside {
                let next = ws.iter().map(|w| w.start()).find(|&s| s > now);
                prop_assert_eq!(d.reason, Reason::OutsideWindow { next_start: next });
            }
        }
        // the driver's loop: every boundary once, in order, as events
        let log = Mutex::new(Vec::new());
        let table: FlagTable<1, 0, _> = FlagTable::with_observer(
            one_flag(0, FlagSpec::new("w").windows(ws)),
            FnObserver(|e| if let ToggleEvent::Scheduled { at, in_window, .. } = e { log.lock().unwrap().push((at, in_window)) }),
        );
        while let Some(at) = table.next_deadline() {
            table.on_deadline(at);
        }
        let want: Vec<_> = ws.iter().flat_map(|w| [(w.start(), true), (w.end(), false)]).collect();
        prop_assert_eq!(log.into_inner().unwrap(), want);
    }
}
