//! Model-checks the lock-free GCRA: concurrent callers never take more
//! permits than the quota allows, whatever the interleaving.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p failsafe-core --test loom_gcra --release`
#![cfg(loom)]

use failsafe_core::Instant;
use failsafe_core::rate::{AtomicGcra, Quota};
use loom::sync::Arc;
use loom::thread;

#[test]
fn concurrent_callers_share_exactly_the_burst() {
    loom::model(|| {
        let quota = Quota::per_second(1).unwrap().with_burst(2).unwrap();
        let limiter = Arc::new(AtomicGcra::new(quota));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let l = limiter.clone();
                thread::spawn(move || l.acquire(Instant::ZERO, 1).is_ok())
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|ok| *ok)
            .count();
        assert_eq!(
            admitted, 2,
            "a burst of 2 admits exactly 2 of 3 simultaneous callers"
        );
    });
}

#[test]
fn a_reservation_races_an_acquire() {
    loom::model(|| {
        let quota = Quota::per_second(1).unwrap();
        let limiter = Arc::new(AtomicGcra::new(quota));
        let l = limiter.clone();
        let reserver = thread::spawn(move || {
            l.reserve(Instant::ZERO, 1, core::time::Duration::from_secs(5))
                .unwrap()
                .start()
        });
        let acquired = limiter.acquire(Instant::ZERO, 1).is_ok();
        let start = reserver.join().unwrap();
        // One of them got t=0; the reservation otherwise waits exactly one period.
        if acquired {
            assert_eq!(start, Instant::from_secs(1));
        } else {
            assert_eq!(start, Instant::ZERO);
        }
        assert_eq!(limiter.available(Instant::ZERO), 0);
    });
}

/// A waiter gives its booking back while another books: the give-back
/// succeeds exactly when no booking came after it, and then nothing is
/// double-booked (the other waiter holds the first free slot).
#[test]
fn a_cancel_races_a_reservation() {
    loom::model(|| {
        let quota = Quota::per_second(1).unwrap();
        let limiter = Arc::new(AtomicGcra::new(quota));
        limiter.acquire(Instant::ZERO, 1).unwrap(); // next slot: 1 s
        let wait = core::time::Duration::from_secs(5);
        let l = limiter.clone();
        let quitter = thread::spawn(move || {
            let r = l.reserve(Instant::ZERO, 1, wait).unwrap();
            let start = r.start();
            (start, l.cancel(r))
        });
        let other = limiter.reserve(Instant::ZERO, 1, wait).unwrap().start();
        let (quit_start, given_back) = quitter.join().unwrap();
        if given_back {
            assert_eq!(
                other,
                Instant::from_secs(1),
                "the kept booking has the first slot"
            );
        } else {
            assert_eq!(
                (quit_start, other),
                (Instant::from_secs(1), Instant::from_secs(2))
            );
        }
        let kept = if given_back { 1 } else { 2 };
        let next = limiter.reserve(Instant::ZERO, 1, wait * 2).unwrap().start();
        assert_eq!(
            next,
            Instant::from_secs(1 + kept),
            "no slot lost, none doubled"
        );
    });
}

/// The handle's path: `SharedAdmission::enter` on `Throttle<AtomicGcra>`
/// notes the latest time and decides with one compare-and-swap. Callers
/// that may not wait share exactly the burst, and the one turned away is
/// told the exact instant a permit frees up.
#[test]
fn callers_through_the_contract_share_exactly_the_burst() {
    use failsafe_core::admission::{Call, Entry};
    use failsafe_core::rate::Throttle;
    use failsafe_core::sync::SharedAdmission;

    loom::model(|| {
        let quota = Quota::per_second(1).unwrap().with_burst(2).unwrap();
        let limiter = Arc::new(Throttle::new(AtomicGcra::new(quota)));
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let l = limiter.clone();
                thread::spawn(
                    move || match l.enter(&Call::at(Instant::ZERO).no_wait(), None) {
                        Entry::Admitted(_) => None,
                        Entry::Rejected(r) => Some(r.retry_at),
                        Entry::Pending { .. } => panic!("a call that may not wait never waits"),
                    },
                )
            })
            .collect();
        let rejected: Vec<_> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(rejected, [Some(Instant::from_secs(1))]);
    });
}

/// A caller whose clock reads earlier than the latest time the limiter has
/// seen races one at that latest time, on a limiter that has rested (the
/// case where the clock contract decides: booked from its own earlier
/// time, the stepped-back caller would leave the current one room too).
/// Whichever order the clock contract and the compare-and-swap interleave
/// in, exactly one is admitted: a stepped-back `now` never finds more room
/// than the latest would.
#[test]
fn a_stepped_back_caller_races_a_current_one() {
    use failsafe_core::admission::{Call, Entry};
    use failsafe_core::rate::Throttle;
    use failsafe_core::sync::SharedAdmission;

    loom::model(|| {
        let quota = Quota::per_second(1).unwrap();
        let limiter = Arc::new(Throttle::new(AtomicGcra::new(quota)));
        // Seen at 10 s, nothing booked: two permits at once never fit a
        // burst of 1, so this call is refused and the limiter stays rested.
        let heavy = Call::at(Instant::from_secs(10)).with_weight(2).no_wait();
        assert!(matches!(limiter.enter(&heavy, None), Entry::Rejected(_)));
        let l = limiter.clone();
        let current = thread::spawn(move || {
            matches!(
                l.enter(&Call::at(Instant::from_secs(10)).no_wait(), None),
                Entry::Admitted(_)
            )
        });
        let behind = matches!(
            limiter.enter(&Call::at(Instant::from_secs(5)).no_wait(), None),
            Entry::Admitted(_)
        );
        let current = current.join().unwrap();
        assert!(current ^ behind, "exactly one of the two is admitted");
        assert_eq!(limiter.limiter().available(Instant::from_secs(10)), 0);
    });
}
