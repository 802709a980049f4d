//! Fuzzes the store contract for shared state (`failsafe_core::rate::shared`,
//! what `failsafe-redis` applies atomically on the server): a store holding
//! one GCRA key and one breaker record, up to four instances each with its
//! own lease and its own (possibly stale) copy of the record, fed a timeline
//! of store decisions, leased takes, trips, probes, settlements, reads and
//! manual closes, at instants that stall, jump, sit near `u64::MAX` or land
//! on the last `retry_at`.
//!
//! Besides "never panics, never overflows", every step checks:
//!
//! - `gcra_step` on the stored value decides exactly as one local `Gcra`
//!   fed the same calls (granted or not, `retry_at`), the key's expiry is
//!   its `tat` and its `ttl` never reaches past it; a key dropped at its
//!   expiry decides exactly as the kept one;
//! - over every span of grant instants, the permits granted from the store
//!   stay within `shared_bound`, and the permits spent by instances from
//!   their leases (plus those granted directly) within `leased_bound`;
//!   a lease refilled is spent at once (its `ttl` is at least 1 ms);
//! - a lease never hands out more than it was refilled with, nor after it
//!   expired;
//! - the breaker record: `merge` is commutative, idempotent and never moves
//!   the round back; the store's round never decreases; probes granted in
//!   one round never exceed the probe quota in total across instances; an
//!   open status rejects with `retry_at` after `now`; a settlement for a
//!   stale round changes nothing.
#![no_main]

use core::time::Duration;

use arbitrary::Arbitrary;
use failsafe_core::Instant;
use failsafe_core::rate::shared::{
    BreakerRecord, Lease, SharedStatus, check_batch, gcra_step, leased_bound, shared_bound,
};
use failsafe_core::rate::{Gcra, Quota};
use libfuzzer_sys::fuzz_target;

const INSTANCES: usize = 4;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Step {
    /// Time moves on by this many ns (or jumps near the end of time).
    Wait(u32),
    NearEnd(u16),
    /// A call decided by the store for `n` permits.
    Decide {
        n: u8,
    },
    /// An instance spends a leased permit, refilling its lease from the
    /// store when it is empty.
    Leased {
        instance: u8,
    },
    /// An instance trips the shared breaker (after reading the store).
    Trip {
        instance: u8,
    },
    /// An instance asks for a probe.
    Probe {
        instance: u8,
    },
    /// An instance settles a probe of the round it holds.
    Settle {
        instance: u8,
        success: bool,
    },
    /// An instance reads the record and folds it into its own.
    Read {
        instance: u8,
    },
    /// An operator closes the breaker by hand.
    Close,
    /// Merge laws on two instances' copies.
    Merge {
        a: u8,
        b: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    per_second: u16,
    burst: u8,
    batch: u8,
    probes: u8,
    threshold: u8,
    open_wait_ms: u16,
    lease_ms: u16,
    steps: Vec<Step>,
}

struct Instance {
    lease: Lease,
    record: BreakerRecord,
    /// The round of a probe this instance holds, if any.
    probing: Option<u64>,
}

fuzz_target!(|input: Input| {
    let Ok(quota) = Quota::per_second(u32::from(input.per_second).max(1))
        .and_then(|q| q.with_burst(u32::from(input.burst).max(1)))
    else {
        return;
    };
    let batch = u32::from(input.batch).max(1).min(quota.burst());
    assert!(check_batch(batch, quota).is_ok());
    assert!(check_batch(quota.burst() + 1, quota).is_err());
    let probes = u32::from(input.probes).clamp(1, 8);
    let threshold = u32::from(input.threshold).clamp(1, 8);
    // A breaker's configuration refuses a zero open wait.
    let open_wait = Duration::from_millis(u64::from(input.open_wait_ms).max(1));
    let lease_ttl = Duration::from_millis(u64::from(input.lease_ms).max(1));

    let mut now = Instant::ZERO;
    let mut stored: Option<(Instant, Instant)> = None; // (tat, expires_at)
    let mut local = Gcra::new(quota);
    // Grants from the store: (instant, permits) and permits spent per instant.
    let mut granted: Vec<(u64, u64)> = Vec::new();
    let mut spent: Vec<(u64, u64)> = Vec::new();
    let mut record = BreakerRecord::CLOSED;
    let mut probes_in_round: Vec<(u64, u32)> = Vec::new();
    let mut instances: Vec<Instance> = (0..INSTANCES)
        .map(|_| Instance {
            lease: Lease::EMPTY,
            record: BreakerRecord::CLOSED,
            probing: None,
        })
        .collect();

    let mut store_decide =
        |now: Instant, n: u32, stored: &mut Option<(Instant, Instant)>, local: &mut Gcra| -> bool {
            // A key past its expiry may be dropped: it must decide the same.
            let kept = stored.map(|(tat, _)| tat);
            let dropped = stored.and_then(|(tat, exp)| (now < exp).then_some(tat));
            let a = gcra_step(kept, now, n, quota);
            let b = gcra_step(dropped, now, n, quota);
            assert_eq!(a, b, "a key dropped at its expiry decides differently");
            let l = local.acquire(now, n);
            assert_eq!(a.is_ok(), l.is_ok(), "store and local GCRA disagree");
            match a {
                Ok(step) => {
                    assert_eq!(step.expires_at, step.tat);
                    assert!(now.saturating_add(step.ttl(now)) <= step.expires_at.max(now));
                    *stored = Some((step.tat, step.expires_at));
                    true
                }
                Err(e) => {
                    assert_eq!(Some(e), l.err(), "store and local GCRA reject differently");
                    if let Some(at) = e.retry_at {
                        // Past the end of time the answer is "never".
                        assert!(at > now || e.is_never(), "retry_at not after now");
                    }
                    false
                }
            }
        };

    for step in input.steps.iter().take(512) {
        match *step {
            Step::Wait(ns) => now = now.saturating_add(Duration::from_nanos(u64::from(ns))),
            Step::NearEnd(back) => {
                let end = Instant::MAX.as_nanos() - u64::from(back);
                now = now.max(Instant::from_nanos(end));
            }
            Step::Decide { n } => {
                let n = u32::from(n % 4).max(1);
                if store_decide(now, n, &mut stored, &mut local) {
                    granted.push((now.as_nanos(), u64::from(n)));
                    spent.push((now.as_nanos(), u64::from(n)));
                }
            }
            Step::Leased { instance } => {
                let i = &mut instances[usize::from(instance) % INSTANCES];
                let before = i.lease.remaining(now);
                if i.lease.take(now) {
                    assert_eq!(i.lease.remaining(now), before - 1);
                    spent.push((now.as_nanos(), 1));
                } else {
                    assert_eq!(before, 0, "a lease with permits left refused one");
                    if store_decide(now, batch, &mut stored, &mut local) {
                        granted.push((now.as_nanos(), u64::from(batch)));
                        i.lease.refill(batch, now, lease_ttl);
                        if i.lease.take(now) {
                            spent.push((now.as_nanos(), 1));
                        } else {
                            // Only a lease that ends at the end of time is born expired.
                            assert_eq!(now.saturating_add(lease_ttl), Instant::MAX);
                        }
                    }
                }
            }
            Step::Trip { instance } => {
                let i = &mut instances[usize::from(instance) % INSTANCES];
                let before = record;
                record = record.trip(i.record, now, open_wait);
                assert!(record.round() >= before.round());
                assert!(record.is_open());
                i.record = i.record.merge(record);
            }
            Step::Probe { instance } => {
                let i = &mut instances[usize::from(instance) % INSTANCES];
                let before = record;
                let (next, answer) = record.take_probe(now, probes, lease_ttl, open_wait);
                assert!(next.round() >= before.round());
                record = next;
                match answer {
                    Ok(round) if before.is_open() => {
                        let entry = match probes_in_round.iter_mut().find(|(r, _)| *r == round) {
                            Some(e) => e,
                            None => {
                                probes_in_round.push((round, 0));
                                probes_in_round.last_mut().unwrap()
                            }
                        };
                        entry.1 += 1;
                        assert!(entry.1 <= probes, "more probes than the quota in one round");
                        i.probing = Some(round);
                    }
                    Ok(_) => assert!(!before.is_open()),
                    Err(e) => {
                        if let Some(at) = e.retry_at {
                            // (saturated at the end of time)
                            assert!(
                                at > now || at == Instant::MAX,
                                "an open record's retry_at is not after now"
                            );
                        }
                    }
                }
                i.record = i.record.merge(record);
            }
            Step::Settle { instance, success } => {
                let i = &mut instances[usize::from(instance) % INSTANCES];
                if let Some(round) = i.probing.take() {
                    let before = record;
                    record = record.settle(round, success, now, threshold, open_wait);
                    assert!(record.round() >= before.round());
                    if !before.is_open() || before.round() != round {
                        assert_eq!(record, before, "a stale settlement changed the record");
                    }
                }
            }
            Step::Read { instance } => {
                let i = &mut instances[usize::from(instance) % INSTANCES];
                let before = i.record;
                i.record = i.record.merge(record);
                assert!(i.record.round() >= before.round());
                if let SharedStatus::Open { until } = i.record.status(now) {
                    assert!(until > now, "an open status at or past its end");
                    assert!(i.record.rejection(now).is_some());
                }
            }
            Step::Close => {
                let before = record;
                record = record.close();
                assert_eq!(record.round(), before.round());
                assert_eq!(record.status(now), SharedStatus::Closed);
            }
            Step::Merge { a, b } => {
                let x = instances[usize::from(a) % INSTANCES].record;
                let y = instances[usize::from(b) % INSTANCES].record;
                assert_eq!(x.merge(y), y.merge(x), "merge is not commutative");
                assert_eq!(x.merge(x), x, "merge is not idempotent");
                assert!(x.merge(y).round() >= x.round().max(y.round()));
            }
        }
    }

    // Every span [a, b] of grant instants: store grants within the shared
    // bound; permits spent (leased or direct) within the leased bound.
    let near_end = |t: u64| t > Instant::MAX.as_nanos() / 2;
    for (xs, bound) in [(&granted, 0u32), (&spent, 1u32)] {
        for (i, &(a, _)) in xs.iter().enumerate() {
            let mut total = 0u64;
            for &(b, n) in &xs[i..] {
                total += n;
                if near_end(b) {
                    continue; // windows across the end of time are not meaningful
                }
                let window = Duration::from_nanos(b - a);
                let limit = if bound == 0 {
                    shared_bound(quota, window)
                } else {
                    // Spent in [a, b]: granted in [a, b], plus at most
                    // `batch - 1` carried in by each instance.
                    leased_bound(quota, window, INSTANCES as u32, batch)
                };
                assert!(
                    total <= limit,
                    "{total} permits in a window bounded by {limit}"
                );
            }
        }
    }
});
