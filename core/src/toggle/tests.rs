//! Timelines in virtual time.

extern crate std;

use std::sync::Mutex;
use std::vec::Vec;

use super::*;
use crate::admission::{Admission, Call, Entry};
use crate::{FnObserver, Instant, Outcome, Problem, RejectReason, checked};

const fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

const PROMO: &[Window] = &[
    checked(Window::new(ms(100), ms(200))),
    checked(Window::new(ms(300), ms(400))),
];

const CONFIG: ToggleConfig<3> = checked(ToggleConfig::new(
    0xfeed,
    [
        FlagSpec::new("plain"),
        FlagSpec::new("half").rollout(5_000),
        FlagSpec::new("promo").windows(PROMO),
    ],
));

static TABLE: FlagTable<3, 2> = FlagTable::new(CONFIG);

#[test]
fn a_static_table_decides_by_its_rules() {
    let plain = TABLE.flag("plain").unwrap();
    assert_eq!(
        TABLE.decide(ms(0), plain, &()),
        Decision {
            path: Path::Enabled,
            reason: Reason::InRollout
        }
    );
    let d = TABLE.decide(ms(0), Flag::at(7), &());
    assert_eq!((d.path, d.reason), (Path::Disabled, Reason::UnknownFlag));
}

#[test]
fn windows_are_exact_at_their_boundaries_and_reported_once() {
    let log = Mutex::new(Vec::new());
    let table: FlagTable<3, 0, _> = FlagTable::with_observer(
        CONFIG,
        FnObserver(|e| {
            if let ToggleEvent::Scheduled { .. } = e {
                log.lock().unwrap().push(e)
            }
        }),
    );
    let promo = table.flag("promo").unwrap();
    let at = |t: Instant| table.decide(t, promo, &()).is_enabled();
    // t=0..100ms: before the first window, which opens at 100 ms
    let d = table.decide(ms(0), promo, &());
    assert_eq!(
        d.reason,
        Reason::OutsideWindow {
            next_start: Some(ms(100))
        }
    );
    assert!(!at(Instant::from_nanos(99_999_999)));
    assert!(at(ms(100)));
    assert!(at(Instant::from_nanos(199_999_999)));
    assert!(!at(ms(200)));
    assert_eq!(
        table.decide(ms(250), promo, &()).reason,
        Reason::OutsideWindow {
            next_start: Some(ms(300))
        }
    );
    assert!(at(ms(300)));
    assert!(!at(ms(400)));
    assert_eq!(
        table.decide(ms(500), promo, &()).reason,
        Reason::OutsideWindow { next_start: None }
    );
    // decisions saw t=500ms: a timer firing late reports every boundary
    // passed at once, in order
    assert_eq!(table.next_deadline(), Some(ms(100)));
    table.on_deadline(ms(100));
    assert_eq!(log.lock().unwrap().len(), 4);
    assert_eq!(table.next_deadline(), None);
    log.lock().unwrap().clear();
    // the driver's timer on a fresh table: next_deadline / on_deadline
    // walk the boundaries one by one
    let table: FlagTable<3, 0, _> = FlagTable::with_observer(
        CONFIG,
        FnObserver(|e| {
            if let ToggleEvent::Scheduled { .. } = e {
                log.lock().unwrap().push(e)
            }
        }),
    );
    let mut woken = Vec::new();
    while let Some(t) = table.next_deadline() {
        woken.push(t);
        table.on_deadline(t);
        table.on_deadline(t); // spurious: no-op
    }
    assert_eq!(woken, [ms(100), ms(200), ms(300), ms(400)]);
    let log = log.lock().unwrap();
    let flips: Vec<_> = log
        .iter()
        .map(|e| match e {
            ToggleEvent::Scheduled { at, in_window, .. } => (*at, *in_window),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        flips,
        [
            (ms(100), true),
            (ms(200), false),
            (ms(300), true),
            (ms(400), false)
        ]
    );
}

#[test]
fn a_clock_stepping_back_does_not_close_a_window() {
    let table: FlagTable<3> = FlagTable::new(CONFIG);
    let promo = table.flag("promo").unwrap();
    assert!(table.decide(ms(150), promo, &()).is_enabled());
    // the clock steps back to before the window: no time passed
    assert!(table.decide(ms(50), promo, &()).is_enabled());
    assert_eq!(table.latest_seen(), ms(150));
    // and on_deadline with an older time reports nothing new
    table.on_deadline(ms(150));
    table.on_deadline(ms(20));
    assert_eq!(table.next_deadline(), Some(ms(200)));
}

#[test]
fn flags_without_windows_never_read_the_clock() {
    let table: FlagTable<3, 2> = FlagTable::new(CONFIG);
    let mut reads = 0;
    for name in ["plain", "half"] {
        let f = table.flag(name).unwrap();
        let _ = table.decide(
            || {
                reads += 1;
                ms(1)
            },
            f,
            "k",
        );
    }
    assert_eq!(reads, 0);
    let promo = table.flag("promo").unwrap();
    let d = table.decide(
        || {
            reads += 1;
            ms(150)
        },
        promo,
        &(),
    );
    assert!(d.is_enabled());
    assert_eq!(reads, 1);
}

#[test]
fn precedence_kill_off_deny_allow_window_rollout() {
    let table: FlagTable<3, 2> = FlagTable::new(CONFIG);
    let promo = table.flag("promo").unwrap();
    let t = ms(0); // outside the window
    assert!(matches!(
        table.decide(t, promo, "ann").reason,
        Reason::OutsideWindow { .. }
    ));
    table.allow(t, promo, "ann").unwrap();
    assert_eq!(table.decide(t, promo, "ann").reason, Reason::Allowed);
    table.deny(t, promo, "ann").unwrap();
    assert_eq!(table.decide(t, promo, "ann").reason, Reason::Denied);
    table.set_enabled(t, promo, false);
    assert_eq!(table.decide(t, promo, "ann").reason, Reason::Off);
    let killed = table.decide_with_kill(t, promo, "ann", &|| true);
    assert_eq!(killed.reason, Reason::Killed);
    // back on, deny lifted: allowed again
    table.set_enabled(t, promo, true);
    assert!(table.forget(t, promo, "ann"));
    assert!(matches!(
        table.decide(t, promo, "ann").reason,
        Reason::OutsideWindow { .. }
    ));
    // lists are full at K = 2, and a full list is an error, not a panic
    table.allow(t, promo, "a").unwrap();
    table.allow(t, promo, "b").unwrap();
    table.allow(t, promo, "a").unwrap(); // already there
    assert_eq!(
        table.allow(t, promo, "c"),
        Err(ListFull {
            list: List::Allow,
            capacity: 2
        })
    );
    assert_eq!(table.state(promo).unwrap().allowed, 2);
}

#[test]
fn rollout_is_stable_and_grows_by_adding_keys() {
    let table: FlagTable<3> = FlagTable::new(CONFIG);
    let half = table.flag("half").unwrap();
    let on = |t: &FlagTable<3>| -> Vec<u32> {
        (0..2_000u32)
            .filter(|k| t.decide(ms(0), half, k).is_enabled())
            .collect()
    };
    let at_half = on(&table);
    assert!((900..1_100).contains(&at_half.len()), "{}", at_half.len());
    assert_eq!(at_half, on(&table));
    assert_eq!(table.set_rollout(ms(1), half, 7_500), Ok(5_000));
    let at_three_quarters = on(&table);
    assert!(at_half.iter().all(|k| at_three_quarters.contains(k)));
    table.set_rollout(ms(2), half, 0).unwrap();
    assert!(on(&table).is_empty());
    table.set_rollout(ms(3), half, 10_000).unwrap();
    assert_eq!(on(&table).len(), 2_000);
    let e = table.set_rollout(ms(4), half, 10_001).unwrap_err();
    assert_eq!((e.field, e.problem), ("rollout", Problem::TooLarge));
    assert_eq!(table.state(half).unwrap().basis_points, 10_000);
}

#[test]
fn events_say_what_flipped_and_which_path_ran() {
    let log = Mutex::new(Vec::new());
    let table: FlagTable<3, 1, _> =
        FlagTable::with_observer(CONFIG, FnObserver(|e| log.lock().unwrap().push(e)));
    let plain = table.flag("plain").unwrap();
    table.set_enabled(ms(5), plain, false);
    table.set_enabled(ms(6), plain, false); // no change
    let _ = table.decide(ms(7), plain, &());
    table.set_rollout(ms(8), plain, 10).unwrap();
    table.deny(ms(9), plain, "x").unwrap();
    let log = log.into_inner().unwrap();
    assert_eq!(
        log,
        [
            ToggleEvent::Switched {
                at: ms(5),
                flag: plain,
                name: "plain",
                enabled: false
            },
            ToggleEvent::Decided {
                flag: plain,
                name: "plain",
                decision: Decision {
                    path: Path::Disabled,
                    reason: Reason::Off
                }
            },
            ToggleEvent::RolloutChanged {
                at: ms(8),
                flag: plain,
                name: "plain",
                from: 10_000,
                to: 10
            },
            ToggleEvent::ListChanged {
                at: ms(9),
                flag: plain,
                name: "plain",
                list: List::Deny,
                added: true
            },
        ]
    );
}

#[test]
fn the_gate_rejects_with_feature_disabled_and_retry_at_the_next_window() {
    let table: FlagTable<3> = FlagTable::new(CONFIG);
    let promo = table.flag("promo").unwrap();
    let mut gate = FeatureGate::<_, _, ()>::new(&table, promo, ());
    let Entry::Rejected(r) = gate.enter(&Call::at(ms(50)), None) else {
        panic!()
    };
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::FeatureDisabled, Some(ms(100)))
    );
    // the retry_at rule: still refused a nanosecond before, admitted at it
    assert!(matches!(
        gate.enter(&Call::at(Instant::from_nanos(99_999_999)), None),
        Entry::Rejected(_)
    ));
    let Entry::Admitted(p) = gate.enter(&Call::at(ms(100)), None) else {
        panic!()
    };
    gate.exit(ms(110), p, Outcome::Success);
    assert_eq!(Admission::next_deadline(&gate), Some(ms(100)));
    Admission::on_deadline(&mut gate, ms(100));
    assert_eq!(Admission::next_deadline(&gate), Some(ms(200)));
    // killed: no retry_at
    let mut killed = FeatureGate::<_, _, ()>::new(&table, promo, || true);
    let Entry::Rejected(r) = killed.enter(&Call::at(ms(150)), None) else {
        panic!()
    };
    assert_eq!(r.retry_at, None);
}

#[test]
fn a_window_with_a_key_outside_the_rollout_has_no_retry_at() {
    const W: &[Window] = &[checked(Window::new(ms(10), ms(20)))];
    let table: FlagTable<1> = FlagTable::new(checked(ToggleConfig::new(
        0,
        [FlagSpec::new("w").windows(W).rollout(0)],
    )));
    let w = table.flag("w").unwrap();
    assert_eq!(
        table.decide(ms(0), w, "k").reason,
        Reason::OutsideWindow { next_start: None }
    );
    assert_eq!(table.decide(ms(15), w, "k").reason, Reason::NotInRollout);
}

#[test]
fn bad_configs_name_their_field() {
    let w = |a, b| Window::new(ms(a), ms(b)).unwrap();
    let bad: &[(Result<ToggleConfig<1>, crate::ConfigError>, &str, Problem)] = &[
        (
            ToggleConfig::new(0, [FlagSpec::new("")]),
            "name",
            Problem::Zero,
        ),
        (
            ToggleConfig::new(0, [FlagSpec::new("a").rollout(u16::MAX)]),
            "rollout",
            Problem::TooLarge,
        ),
    ];
    for (r, field, problem) in bad {
        let e = r.unwrap_err();
        assert_eq!((e.field, e.problem), (*field, *problem));
    }
    let touching: &'static [Window] = std::vec![w(0, 10), w(10, 20)].leak();
    let e = ToggleConfig::new(0, [FlagSpec::new("a").windows(touching)]).unwrap_err();
    assert_eq!((e.field, e.problem), ("windows", Problem::Unordered));
    let reversed: &'static [Window] = std::vec![w(30, 40), w(0, 10)].leak();
    let e = ToggleConfig::new(0, [FlagSpec::new("a").windows(reversed)]).unwrap_err();
    assert_eq!((e.field, e.problem), ("windows", Problem::Unordered));
    assert!(Window::new(ms(1), ms(1)).is_err());
    assert!(Window::new(ms(2), ms(1)).is_err());
}

#[test]
fn flips_from_many_threads_are_never_lost() {
    let table: FlagTable<1> = FlagTable::new(checked(ToggleConfig::new(0, [FlagSpec::new("a")])));
    let a = table.flag("a").unwrap();
    std::thread::scope(|s| {
        for i in 0..4u16 {
            let table = &table;
            s.spawn(move || {
                for n in 0..1_000u16 {
                    if i % 2 == 0 {
                        table.set_enabled(ms(0), a, n % 2 == 0);
                    } else {
                        table.set_rollout(ms(0), a, (n + i) % 10_001).unwrap();
                    }
                }
            });
        }
    });
    // the last write of each kind stuck: switched off (n = 999 is odd) and
    // a rollout that is one of the two rollout writers' last values
    let s = table.state(a).unwrap();
    assert!(!s.enabled);
    assert!(
        [1_000, 1_002].contains(&s.basis_points),
        "{}",
        s.basis_points
    );
}
