//! Fuzzes the feature toggle: an arbitrary `ToggleConfig` of three flags
//! (names from a small set, empty and duplicate ones included; any rollout,
//! over 10 000 included; runs of windows from a pool, in order or not,
//! overlapping or touching, up to the end of the clock's range),
//! then a timeline of decisions (any flag handle, in the table or not, any
//! key, a kill switch open or closed), switch flips, rollout changes (bad
//! ones included), list edits and `on_deadline`, with `now` free to stall,
//! step back or sit near `u64::MAX`.
//!
//! Besides "never panics, never overflows", every step checks:
//!
//! - an invalid configuration is an `Err` naming the first bad field in
//!   the order of `ToggleConfig::new`, a valid one is accepted;
//! - every decision is the one a reference model gives by the documented
//!   rule order (unknown flag, kill, off, deny, allow, window at the
//!   monotone time, rollout by `bucket`), and a window's `next_start` is
//!   the next window's start when the key is in the rollout;
//! - lists never hold more than `K` keys, a full list is `ListFull`, and
//!   `forget` says whether the key was listed;
//! - a bad rollout is a `ConfigError` naming `rollout` and changes nothing;
//! - `on_deadline` reports each window boundary at most once, in time
//!   order, never one later than the latest time seen, and
//!   `next_deadline()` is the earliest boundary not yet reported.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use failsafe_core::toggle::{
    Flag, FlagSpec, FlagTable, List, ListFull, Reason, ToggleConfig, ToggleEvent, Window, bucket,
};
use failsafe_core::{ConfigError, FnObserver, Instant, Problem, checked};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = ["a", "b", "", "long-flag-name"];
const K: usize = 2;

#[derive(Arbitrary, Debug, Clone)]
struct SpecIn {
    name: u8,
    enabled: bool,
    rollout: u16,
    windows_from: u8,
    windows_len: u8,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    Later(u16),
    Earlier(u16),
    At(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Decide { flag: u8, key: u8, kill: bool },
    Switch { flag: u8, on: bool },
    Rollout { flag: u8, bp: u16 },
    Allow { flag: u8, key: u8 },
    Deny { flag: u8, key: u8 },
    Forget { flag: u8, key: u8 },
    OnDeadline,
}

#[derive(Arbitrary, Debug)]
struct Input {
    seed: u64,
    specs: [SpecIn; 3],
    ops: Vec<(Time, Op)>,
}

const fn w(start_ms: u64, end_ms: u64) -> Window {
    checked(Window::new(Instant::from_millis(start_ms), Instant::from_millis(end_ms)))
}

/// The windows a spec picks a run from: increasing runs, touching and
/// overlapping neighbours, a step back, and windows at the end of the
/// clock's range. (A pool, since a spec holds `&'static` windows and
/// leaking per input would trip the leak sanitizer.)
static POOL: [Window; 12] = [
    w(10, 20),
    w(30, 40),
    w(40, 50),   // touches the previous one
    w(45, 60),   // overlaps it
    w(100, 200),
    w(5, 8),     // steps back
    w(300, 301),
    w(302, 400),
    w(1_000, 5_000),
    w(60_000, 60_001),
    checked(Window::new(Instant::from_nanos(u64::MAX - 5_000), Instant::from_nanos(u64::MAX - 1))),
    checked(Window::new(Instant::from_nanos(u64::MAX - 1), Instant::MAX)),
];

fn windows(from: u8, len: u8) -> &'static [Window] {
    let from = usize::from(from) % POOL.len();
    let to = (from + usize::from(len) % 5).min(POOL.len());
    &POOL[from..to]
}

fn expected_error(specs: &[FlagSpec; 3]) -> Option<ConfigError> {
    for (i, s) in specs.iter().enumerate() {
        if s.name().is_empty() {
            return Some(ConfigError::new("name", Problem::Zero));
        }
        if specs[..i].iter().any(|o| o.name() == s.name()) {
            return Some(ConfigError::new("name", Problem::Duplicate));
        }
        if s.basis_points() > 10_000 {
            return Some(ConfigError::new("rollout", Problem::TooLarge));
        }
        if s.schedule().windows(2).any(|w| w[1].start() <= w[0].end()) {
            return Some(ConfigError::new("windows", Problem::Unordered));
        }
    }
    None
}

#[derive(Default, Clone)]
struct Model {
    on: bool,
    bp: u16,
    allow: BTreeSet<u8>,
    deny: BTreeSet<u8>,
}

fuzz_target!(|input: Input| {
    let specs: [FlagSpec; 3] = std::array::from_fn(|i| {
        let s = &input.specs[i];
        let ws = windows(s.windows_from, s.windows_len);
        FlagSpec::new(NAMES[usize::from(s.name) % NAMES.len()])
            .enabled(s.enabled)
            .rollout(s.rollout % 10_050)
            .windows(ws)
    });
    let config = ToggleConfig::new(input.seed, specs);
    match (config, expected_error(&specs)) {
        (Err(e), Some(want)) => {
            assert_eq!(e, want);
            return;
        }
        (Ok(_), None) => {}
        (got, want) => panic!("config {got:?}, expected error {want:?}"),
    }
    let config = config.unwrap();
    let reported = RefCell::new(Vec::<(Instant, u16, bool)>::new());
    let table: FlagTable<3, K, _> = FlagTable::with_observer(
        config,
        FnObserver(|e| {
            if let ToggleEvent::Scheduled { at, flag, in_window, .. } = e {
                reported.borrow_mut().push((at, flag.index() as u16, in_window));
            }
        }),
    );
    let mut model: Vec<Model> = specs
        .iter()
        .map(|s| Model { on: s.is_enabled(), bp: s.basis_points(), ..Model::default() })
        .collect();
    let (mut now, mut latest) = (0u64, 0u64);
    let mut boundaries_reported = 0u64; // the model's "reported up to"
    for &(time, op) in input.ops.iter().take(300) {
        now = match time {
            Time::Same => now,
            Time::Later(ms) => now.saturating_add(u64::from(ms) * 1_000_000),
            Time::Earlier(ms) => now.saturating_sub(u64::from(ms) * 1_000_000),
            Time::At(t) => t,
        };
        let t = Instant::from_nanos(now);
        match op {
            Op::Decide { flag, key, kill } => {
                let f = Flag::at(u16::from(flag % 4));
                let d = table.decide_with_kill(t, f, &key, &|| kill);
                let want = match model.get(f.index()) {
                    None => Reason::UnknownFlag,
                    Some(_) if kill => Reason::Killed,
                    Some(m) if !m.on => Reason::Off,
                    Some(m) if m.deny.contains(&key) => Reason::Denied,
                    Some(m) if m.allow.contains(&key) => Reason::Allowed,
                    Some(m) => {
                        let spec = &specs[f.index()];
                        let in_rollout = bucket(input.seed, spec.name(), &key) < m.bp;
                        let ws = spec.schedule();
                        if ws.is_empty() {
                            if in_rollout { Reason::InRollout } else { Reason::NotInRollout }
                        } else {
                            latest = latest.max(now);
                            let at = Instant::from_nanos(latest);
                            if ws.iter().any(|w| w.contains(at)) {
                                if in_rollout { Reason::InRollout } else { Reason::NotInRollout }
                            } else {
                                let next_start =
                                    ws.iter().map(|w| w.start()).find(|&s| s > at).filter(|_| in_rollout);
                                Reason::OutsideWindow { next_start }
                            }
                        }
                    }
                };
                assert_eq!(d.reason, want, "{op:?} at {now}");
                assert_eq!(
                    d.is_enabled(),
                    matches!(want, Reason::Allowed | Reason::InRollout)
                );
            }
            Op::Switch { flag, on } => {
                let f = Flag::at(u16::from(flag % 4));
                let before = table.set_enabled(t, f, on);
                assert_eq!(before, model.get(f.index()).map(|m| m.on));
                if let Some(m) = model.get_mut(f.index()) {
                    m.on = on;
                }
            }
            Op::Rollout { flag, bp } => {
                let f = Flag::at(u16::from(flag % 4));
                let bp = bp % 10_100;
                let r = table.set_rollout(t, f, bp);
                match model.get_mut(f.index()) {
                    Some(_) if bp > 10_000 => assert_eq!(r.unwrap_err().field, "rollout"),
                    Some(m) => {
                        assert_eq!(r, Ok(m.bp));
                        m.bp = bp;
                    }
                    None => assert!(r.is_err()),
                }
            }
            Op::Allow { flag, key } | Op::Deny { flag, key } => {
                let f = Flag::at(u16::from(flag % 4));
                let list = if matches!(op, Op::Allow { .. }) { List::Allow } else { List::Deny };
                let r = match list {
                    List::Allow => table.allow(t, f, &key),
                    List::Deny => table.deny(t, f, &key),
                };
                match model.get_mut(f.index()) {
                    None => assert!(r.is_err()),
                    Some(m) => {
                        let set = if list == List::Allow { &mut m.allow } else { &mut m.deny };
                        if set.contains(&key) || set.len() < K {
                            assert_eq!(r, Ok(()));
                            set.insert(key);
                        } else {
                            assert_eq!(r, Err(ListFull { list, capacity: K }));
                        }
                    }
                }
            }
            Op::Forget { flag, key } => {
                let f = Flag::at(u16::from(flag % 4));
                let was = model
                    .get_mut(f.index())
                    .is_some_and(|m| m.allow.remove(&key) | m.deny.remove(&key));
                assert_eq!(table.forget(t, f, &key), was);
            }
            Op::OnDeadline => {
                latest = latest.max(now);
                let before = reported.borrow().len();
                table.on_deadline(t);
                let mut want = Vec::new();
                if latest > boundaries_reported {
                    for (i, s) in specs.iter().enumerate() {
                        for w in s.schedule() {
                            for (b, open) in [(w.start(), true), (w.end(), false)] {
                                if b.as_nanos() > boundaries_reported && b.as_nanos() <= latest {
                                    want.push((b, i as u16, open));
                                }
                            }
                        }
                    }
                    boundaries_reported = latest;
                }
                assert_eq!(reported.borrow()[before..], want[..]);
            }
        }
        for (i, m) in model.iter().enumerate() {
            let s = table.state(Flag::at(i as u16)).unwrap();
            assert_eq!((s.enabled, s.basis_points), (m.on, m.bp));
            assert_eq!((s.allowed, s.denied), (m.allow.len(), m.deny.len()));
        }
        let next = specs
            .iter()
            .flat_map(|s| s.schedule().iter().flat_map(|w| [w.start(), w.end()]))
            .filter(|b| b.as_nanos() > boundaries_reported)
            .min();
        assert_eq!(table.next_deadline(), next);
        assert_eq!(table.latest_seen(), Instant::from_nanos(latest));
    }
});
