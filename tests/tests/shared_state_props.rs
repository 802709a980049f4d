//! Properties of the shared-state store contract (`failsafe_core::rate::shared`):
//! N simulated instances against an in-memory store, in virtual time.
//!
//! - the stored GCRA decides exactly as the local `Gcra`, also when the
//!   store drops a key at its expiry;
//! - the instances together never exceed `shared_bound` in any window,
//!   and with leasing never exceed `leased_bound`;
//! - a rejection's `retry_at` is exact;
//! - the breaker record's merge is a join (commutative, associative,
//!   idempotent) and rounds never go back in the store;
//! - half-open probes across instances never exceed the quota in a round.

use core::time::Duration;
use std::collections::BTreeMap;

use failsafe_core::Instant;
use failsafe_core::rate::shared::{
    BreakerRecord, Lease, SharedStatus, gcra_step, leased_bound, shared_bound,
};
use failsafe_core::rate::{Gcra, Quota};
use proptest::prelude::*;

fn quota() -> impl Strategy<Value = Quota> {
    (1u64..500, 1u32..20).prop_map(|(period_ms, burst)| {
        Quota::with_period(Duration::from_millis(period_ms))
            .unwrap()
            .with_burst(burst)
            .unwrap()
    })
}

/// Requests: (gap in ms since the previous one, which instance, permits asked).
fn requests(instances: usize) -> impl Strategy<Value = Vec<(u64, usize, u32)>> {
    prop::collection::vec((0u64..700, 0..instances, 1u32..4), 1..300)
}

/// An in-memory store of one GCRA key with expiry: what Redis does with
/// `PEXPIRE`.
#[derive(Default)]
struct Store {
    tat: Option<(Instant, Instant)>, // (tat, expires_at)
}

impl Store {
    /// The key vanishes at its expiry.
    fn expire(&mut self, now: Instant) {
        if matches!(self.tat, Some((_, exp)) if now >= exp) {
            self.tat = None;
        }
    }

    fn step(&mut self, now: Instant, n: u32, quota: Quota) -> Result<(), failsafe_core::Rejected> {
        self.expire(now);
        let step = gcra_step(self.tat.map(|(t, _)| t), now, n, quota)?;
        self.tat = Some((step.tat, step.expires_at));
        Ok(())
    }
}

/// Every window [t, t + w] over the log of (time ns, permits) holds at most `bound(w)`.
fn assert_windows(
    log: &[(u64, u32)],
    bound: impl Fn(Duration) -> u64,
) -> Result<(), TestCaseError> {
    for (i, &(start, _)) in log.iter().enumerate() {
        let mut total = 0u64;
        for &(t, n) in &log[i..] {
            total += u64::from(n);
            let span = Duration::from_nanos(t - start);
            let bound = bound(span);
            prop_assert!(total <= bound, "{total} permits in {span:?} > {bound}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The store's step with expiry decides exactly as one local `Gcra`, and
    /// every rejection's `retry_at` is exact.
    #[test]
    fn stored_gcra_decides_like_the_local_one(quota in quota(), reqs in requests(1)) {
        let (mut local, mut store) = (Gcra::new(quota), Store::default());
        let mut t = 0u64;
        for (gap, _, n) in reqs {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            store.expire(now);
            let before = store.tat;
            let shared = store.step(now, n, quota);
            prop_assert_eq!(local.acquire(now, n), shared);
            if let Err(r) = shared {
                prop_assert_eq!(store.tat, before); // a refusal stores nothing
                let at = r.retry_at.unwrap();
                if !r.is_never() {
                    let tat = before.map(|(t, _)| t);
                    prop_assert!(gcra_step(tat, Instant::from_nanos(at.as_nanos() - 1), n, quota).is_err());
                    prop_assert!(gcra_step(tat, at, n, quota).is_ok());
                }
            }
        }
    }

    /// Once `now` reaches `expires_at`, the stored value decides as no key.
    #[test]
    fn an_expired_key_decides_as_none(quota in quota(), tat_ms in 0u64..10_000, after in 0u64..10_000, n in 1u32..25) {
        let tat = Instant::from_millis(tat_ms);
        let now = Instant::from_millis(tat_ms + after);
        prop_assert_eq!(gcra_step(Some(tat), now, n, quota), gcra_step(None, now, n, quota));
    }

    /// N instances sharing one key (which instance asks makes no difference
    /// to the store): over any window the admitted total stays within
    /// `shared_bound`, also across the key's expiry.
    #[test]
    fn instances_sharing_a_key_stay_within_the_shared_bound(quota in quota(), reqs in requests(8)) {
        let mut store = Store::default();
        let mut t = 0u64;
        let mut log = Vec::new();
        for (gap, _, n) in reqs {
            t += gap * 1_000_000;
            if store.step(Instant::from_nanos(t), n, quota).is_ok() {
                log.push((t, n));
            }
        }
        assert_windows(&log, |w| shared_bound(quota, w))?;
    }

    /// N instances leasing batches of `batch` permits: what they spend over any
    /// window stays within `leased_bound`, and leasing never admits a call the
    /// shared budget has not paid for (total spent <= total leased).
    #[test]
    fn leasing_instances_stay_within_the_leased_bound(
        quota in quota(), instances in 1usize..6, batch_pick in 1u32..20, ttl_ms in 1u64..5_000,
        reqs in requests(6),
    ) {
        let batch = batch_pick.min(quota.burst());
        let ttl = Duration::from_millis(ttl_ms);
        let mut store = Store::default();
        let mut leases = vec![Lease::EMPTY; instances];
        let (mut t, mut spent, mut leased) = (0u64, Vec::new(), 0u64);
        for (gap, who, _) in reqs {
            t += gap * 1_000_000;
            let now = Instant::from_nanos(t);
            let lease = &mut leases[who % instances];
            if lease.take(now) {
                spent.push((t, 1));
            } else if store.step(now, batch, quota).is_ok() {
                leased += u64::from(batch);
                lease.refill(batch, now, ttl);
                prop_assert!(lease.take(now));
                spent.push((t, 1));
            }
        }
        prop_assert!(spent.len() as u64 <= leased);
        assert_windows(&spent, |w| leased_bound(quota, w, instances as u32, batch))?;
    }
}

fn record() -> impl Strategy<Value = BreakerRecord> {
    (0u64..4, any::<bool>(), 0u64..5, 0u32..3, 0u32..3, 0u64..5).prop_map(
        |(round, open, until, probes, successes, last)| {
            BreakerRecord::from_parts(
                round,
                open,
                Instant::from_secs(until),
                probes,
                successes,
                Instant::from_secs(last),
            )
        },
    )
}

/// What an instance of the breaker simulation does next.
#[derive(Clone, Debug)]
enum Act {
    /// Its own breaker tripped.
    Trip,
    /// A call: a probe if the record says half-open.
    Call,
    /// One of its probes reports.
    Report(bool),
    /// It reads the record (a poll).
    Poll,
}

fn acts() -> impl Strategy<Value = Vec<(u64, usize, Act)>> {
    let act = prop_oneof![
        1 => Just(Act::Trip),
        4 => Just(Act::Call),
        2 => any::<bool>().prop_map(Act::Report),
        2 => Just(Act::Poll),
    ];
    prop::collection::vec((0u64..400, 0usize..5, act), 1..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_a_join(a in record(), b in record(), c in record()) {
        prop_assert_eq!(a.merge(b), b.merge(a));
        prop_assert_eq!(a.merge(b).merge(c), a.merge(b.merge(c)));
        prop_assert_eq!(a.merge(a), a);
        // the merge is one of the two records' ranks: rounds never go back
        prop_assert!(a.merge(b).round() == a.round().max(b.round()));
    }

    /// Trips are idempotent, and folding records in any order gives the same view.
    #[test]
    fn trips_are_idempotent_and_views_converge(a in record(), seen in record(), now in 0u64..10, reads in prop::collection::vec(record(), 0..6)) {
        let wait = Duration::from_secs(3);
        let once = a.trip(seen, Instant::from_secs(now), wait);
        prop_assert_eq!(once.trip(seen, Instant::from_secs(now + 1), wait), once);
        prop_assert!(once.is_open() && once.round() >= a.round().max(seen.round()));
        let forward = reads.iter().fold(BreakerRecord::CLOSED, |v, r| v.merge(*r));
        let backward = reads.iter().rev().fold(BreakerRecord::CLOSED, |v, r| v.merge(*r));
        prop_assert_eq!(forward, backward);
    }

    /// Five instances against one stored record: the store's rounds only go
    /// up, no instance ever views an older record than it had, and in every
    /// round at most `probes` probes are granted across all instances.
    #[test]
    fn half_open_probes_across_instances_never_exceed_the_quota(
        probes in 1u32..4, threshold_pick in 1u32..4, acts in acts(),
    ) {
        let threshold = threshold_pick.min(probes);
        let (wait, lease) = (Duration::from_millis(500), Duration::from_millis(300));
        let mut stored = BreakerRecord::CLOSED;
        let mut views = [BreakerRecord::CLOSED; 5];
        let mut out: [Vec<u64>; 5] = Default::default(); // each instance's probes not yet reported
        let mut granted: BTreeMap<u64, u32> = BTreeMap::new();
        let mut t = 0u64;
        for (gap, who, act) in acts {
            t += gap;
            let now = Instant::from_millis(t);
            let before = stored;
            match act {
                Act::Trip => {
                    if views[who].status(now) == SharedStatus::Closed {
                        stored = stored.trip(views[who], now, wait);
                    }
                }
                Act::Call => {
                    if let SharedStatus::HalfOpen { .. } = views[who].status(now) {
                        let (next, probe) = stored.take_probe(now, probes, lease, wait);
                        stored = next;
                        if let (Ok(round), true) = (probe, stored.is_open()) {
                            *granted.entry(round).or_default() += 1;
                            out[who].push(round);
                        }
                    }
                }
                Act::Report(success) => {
                    if let Some(round) = out[who].pop() {
                        stored = stored.settle(round, success, now, threshold, wait);
                    }
                }
                Act::Poll => {}
            }
            // the store answers every operation with its record; the instance folds it in
            let view = views[who].merge(stored);
            prop_assert!(view.merge(views[who]) == view);
            views[who] = view;
            prop_assert!(stored.round() >= before.round(), "{before:?} -> {stored:?}");
            for (round, n) in &granted {
                prop_assert!(*n <= probes, "round {round}: {n} probes > {probes}");
            }
        }
    }
}
