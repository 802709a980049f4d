//! Properties of the core's `get_or_load` decisions
//! (`failsafe_core::cache::GetOrLoad` over a `WithWaiters<Cache>`), for any
//! configuration, lease and interleaving of up to 6 calls over 2 keys,
//! played as a driver would (a follower registers its waker; every waker a
//! decision hands back is woken, and the rest taken from the store):
//!
//! - **one leader**: a call is told to load only when no other call of the
//!   key holds a live load mark (one started less than the lease ago and
//!   not yet finished or abandoned);
//! - **a follower waits for a live leader**: every `Wait` names the mark of
//!   a call still loading the key, ending after `now`;
//! - **no lost wake-up**: once a leader's mark ends (its result stored, its
//!   failure recorded, its load abandoned), every follower that registered
//!   for the key has been woken;
//! - **answers**: a fresh, loaded or stale answer from a look is the key's
//!   latest stored value; a stale one is less than `max_stale` past its
//!   expiry; a negative one only with negative caching on, until within
//!   `negative_ttl` of now.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Wake, Waker};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::cache::{
    Cache, CacheConfig, CacheError, CacheStep, CacheStore, Cached, GetOrLoad, WithWaiters,
};
use proptest::prelude::*;

const SLOTS: usize = 6;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A new call of key (0 or 1) in a free slot, and its first look.
    Start(usize, u8),
    /// A waiting call looks again.
    Look(usize),
    /// A loading call's loader returns: Ok (a new value) or Err.
    Finish(usize, bool),
    /// A loading call is dropped.
    Abandon(usize),
    /// Time passes, in 100 ms steps.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SLOTS, 0u8..2).prop_map(|(s, k)| Op::Start(s, k)),
        3 => (0..SLOTS).prop_map(Op::Look),
        2 => (0..SLOTS, any::<bool>()).prop_map(|(s, ok)| Op::Finish(s, ok)),
        1 => (0..SLOTS).prop_map(Op::Abandon),
        2 => (0u64..30).prop_map(Op::Advance),
    ]
}

fn ms100(n: u64) -> Duration {
    Duration::from_millis(n * 100)
}

fn config() -> impl Strategy<Value = CacheConfig> {
    (
        1u64..60,
        prop::option::of(1u64..60),
        0u64..40,
        prop::option::of(1u64..60),
        prop::option::of(1u64..30),
    )
        .prop_filter_map("invalid", |(ttl, tti, stale, refresh, negative)| {
            let mut b = CacheConfig::builder()
                .time_to_live(ms100(ttl))
                .max_stale(ms100(stale));
            if let Some(t) = tti {
                b = b.time_to_idle(ms100(t));
            }
            if let Some(r) = refresh {
                b = b.refresh_ahead(ms100(r));
            }
            if let Some(n) = negative {
                b = b.negative_ttl(ms100(n));
            }
            b.build().ok()
        })
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

enum State {
    Free,
    /// Following the mark that ends at `until`; `woken` is its waker's flag.
    Waiting {
        until: Instant,
        woken: Arc<Flag>,
    },
    /// Leading: its mark ends at `until`.
    Loading {
        until: Instant,
    },
}

struct Slot {
    call: Option<GetOrLoad<u8, u32>>,
    state: State,
    /// The call's waker (one per slot: a follower looking again replaces
    /// its registration rather than adding one).
    flag: Arc<Flag>,
}

type Store = WithWaiters<Cache<u8, u32, 16>, 8>;

fn wake_all(store: &mut Store, key: u8, first: Option<Waker>) {
    let mut next = first;
    while let Some(w) = next {
        w.wake();
        next = store.take_waiter(&key);
    }
}

fn run(config: CacheConfig, lease: Duration, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut store: Store = WithWaiters::new(Cache::new(config, 3));
    let mut slots: Vec<Slot> = (0..SLOTS)
        .map(|_| Slot {
            call: None,
            state: State::Free,
            flag: Arc::new(Flag(AtomicBool::new(false))),
        })
        .collect();
    let mut now = Instant::from_secs(1);
    let mut latest: [Option<u32>; 2] = [None, None];
    let mut next_value = 0u32;
    for &op in ops {
        // The marks of calls still loading each key: (slot, until).
        let live = |slots: &[Slot], key: u8, except: usize| -> Vec<Instant> {
            slots
                .iter()
                .enumerate()
                .filter(|(i, s)| *i != except && s.call.as_ref().is_some_and(|c| *c.key() == key))
                .filter_map(|(_, s)| match s.state {
                    State::Loading { until } => Some(until),
                    _ => None,
                })
                .collect()
        };
        let (slot, look) = match op {
            Op::Advance(n) => {
                now = now.saturating_add(ms100(n));
                continue;
            }
            Op::Start(i, key) if slots[i].call.is_none() => {
                slots[i].call = Some(GetOrLoad::new(key, lease));
                (i, true)
            }
            Op::Look(i) if matches!(slots[i].state, State::Waiting { .. }) => (i, true),
            Op::Finish(i, ok) if matches!(slots[i].state, State::Loading { .. }) => {
                let mut call = slots[i].call.take().expect("a loading call");
                let key = *call.key();
                let result = if ok {
                    next_value += 1;
                    Ok(next_value)
                } else {
                    Err("down")
                };
                let (answer, owed) = call.finish(&mut store, now, result, |_| true);
                wake_all(&mut store, key, owed);
                slots[i].state = State::Free;
                match answer {
                    Ok(Cached::Loaded(v)) => {
                        prop_assert!(ok);
                        latest[key as usize] = Some(v);
                    }
                    Ok(Cached::Stale { age, .. }) => {
                        prop_assert!(!ok);
                        prop_assert!(age < config.max_stale(), "{age:?}");
                    }
                    Ok(Cached::Fresh(v)) => {
                        prop_assert!(!ok, "a failed refresh keeps the fresh value");
                        prop_assert_eq!(Some(v), latest[key as usize]);
                    }
                    Err(e) => prop_assert_eq!(e, CacheError::Load("down")),
                }
                (i, false)
            }
            Op::Abandon(i) if matches!(slots[i].state, State::Loading { .. }) => {
                let mut call = slots[i].call.take().expect("a loading call");
                let key = *call.key();
                let owed = call.abandon(&mut store);
                wake_all(&mut store, key, owed);
                slots[i].state = State::Free;
                (i, false)
            }
            _ => continue,
        };
        if look {
            let mut call = slots[slot].call.take().expect("a call");
            let key = *call.key();
            let flag = slots[slot].flag.clone();
            flag.0.store(false, Ordering::SeqCst);
            let waker = Waker::from(flag.clone());
            let (step, owed) = call.look(&mut store, now, Some(&waker));
            wake_all(&mut store, key, owed);
            match step {
                CacheStep::Load => {
                    if let State::Waiting { .. } = slots[slot].state {
                        store.remove_waiter(&key, &waker);
                    }
                    let others = live(&slots, key, slot);
                    prop_assert!(
                        others.iter().all(|&until| until <= now),
                        "a second leader beside a live mark: {others:?} at {now}"
                    );
                    slots[slot].state = State::Loading {
                        until: now.saturating_add(lease),
                    };
                    slots[slot].call = Some(call);
                }
                CacheStep::Wait { until, registered } => {
                    prop_assert!(registered, "room for every follower");
                    prop_assert!(until > now);
                    prop_assert!(
                        live(&slots, key, slot).contains(&until),
                        "waits for no live leader: {until}"
                    );
                    slots[slot].state = State::Waiting { until, woken: flag };
                    slots[slot].call = Some(call);
                }
                CacheStep::Done(cached) => {
                    prop_assert_eq!(Some(*cached.value()), latest[key as usize]);
                    if let Cached::Stale { age, .. } = cached {
                        prop_assert!(age < config.max_stale());
                    }
                    if let State::Waiting { .. } = slots[slot].state {
                        store.remove_waiter(&key, &waker);
                    }
                    slots[slot].state = State::Free;
                }
                CacheStep::Negative { until } => {
                    let negative = config.negative_ttl();
                    prop_assert!(negative.is_some());
                    prop_assert!(until > now && until <= now.saturating_add(negative.unwrap()));
                    if let State::Waiting { .. } = slots[slot].state {
                        store.remove_waiter(&key, &waker);
                    }
                    slots[slot].state = State::Free;
                }
            }
        }
        // No lost wake-up: a follower whose leader ended has been woken.
        for s in &slots {
            if let (Some(call), State::Waiting { until, woken }) = (&s.call, &s.state) {
                let leader_live = live(&slots, *call.key(), usize::MAX).contains(until);
                prop_assert!(
                    leader_live || *until <= now || woken.0.load(Ordering::SeqCst),
                    "a follower of an ended leader was not woken"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn get_or_load_coalesces_wakes_and_answers_right(
        c in config(),
        lease in 1u64..40,
        ops in prop::collection::vec(op(), 1..150),
    ) {
        run(c, ms100(lease), &ops)?;
    }
}
