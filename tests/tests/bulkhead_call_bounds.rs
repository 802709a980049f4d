//! A bulkhead queue under a call's own bounds (its deadline): a stale clock
//! reading is the latest seen, a slot freed past a waiter's bound goes to the
//! next live waiter, a call past its deadline takes no place (a second
//! review found each; `wait_bounds.rs` checks them for every machine).
#![allow(clippy::unwrap_used, clippy::panic, missing_docs)]

use core::time::Duration;

use failsafe_core::admission::{Admission, Call, Entry};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::timeout::Deadline;
use failsafe_core::{Instant, Outcome, RejectReason};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn one_slot() -> Bulkhead<4> {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    Bulkhead::new(config)
}

/// The clock contract ("a `now` earlier than the latest time the machine
/// has seen reads as that latest time"): resumed with a stale reading
/// after the machine saw t=100, a call whose deadline was t=50 is past it.
/// `resume` compares the raw `call.now()` (40) with the bound instead.
#[test]
fn resume_reads_a_stale_now_as_the_latest_seen() {
    let mut b = one_slot();
    let p = b.try_acquire(ms(0)).unwrap();
    let call = Call::at(ms(0)).with_deadline(Deadline::at(ms(50)));
    let Entry::Pending { wait, .. } = b.enter(&call, None) else {
        panic!("queued")
    };
    // Another caller tells the machine the time is 100.
    assert!(b.try_acquire(ms(100)).is_err());
    // A stale reading (read before the lock, on another thread).
    let stale = Call::at(ms(40)).with_deadline(Deadline::at(ms(50)));
    match b.resume(&stale, wait, None) {
        Entry::Rejected(r) => assert_eq!(r.reason, RejectReason::DeadlineTooShort),
        Entry::Pending { recheck_at, .. } => {
            panic!(
                "still queued at (latest) t=100, past its deadline t=50; recheck_at {recheck_at:?}"
            )
        }
        Entry::Admitted(_) => panic!("admitted"),
    }
    b.release(ms(101), p, Outcome::Success);
}

/// FIFO with per-call bounds: W1 (deadline t=50) queued ahead of W2 (no
/// deadline). A slot comes back at t=60, before W1's driver asked again:
/// the slot is granted to W1, past its bound, and resumed at t=60 W1 is
/// *admitted* ("asked again at or after its deadline it is rejected
/// DeadlineTooShort"), while W2, alive, keeps waiting.
#[test]
fn a_slot_freed_after_a_waiters_own_bound_goes_to_the_next_live_waiter() {
    let mut b = one_slot();
    let p = b.try_acquire(ms(0)).unwrap();
    let w1_call = Call::at(ms(0)).with_deadline(Deadline::at(ms(50)));
    let Entry::Pending { wait: w1, .. } = b.enter(&w1_call, None) else {
        panic!("W1 queued")
    };
    let w2_call = Call::at(ms(0));
    let Entry::Pending { wait: w2, .. } = b.enter(&w2_call, None) else {
        panic!("W2 queued")
    };
    b.release(ms(60), p, Outcome::Success);
    let w1_again = Call::at(ms(60)).with_deadline(Deadline::at(ms(50)));
    let w1_answer = b.resume(&w1_again, w1, None);
    let w2_answer = b.resume(&Call::at(ms(60)), w2, None);
    let w1_rejected =
        matches!(&w1_answer, Entry::Rejected(r) if r.reason == RejectReason::DeadlineTooShort);
    let w2_admitted = matches!(&w2_answer, Entry::Admitted(_));
    assert!(
        w1_rejected && w2_admitted,
        "W1 (past its deadline) {w1_answer:?}; W2 (alive) {w2_answer:?}"
    );
}

/// `enter` with a deadline already passed on a full bulkhead takes a
/// place in the queue (a `Queued` event, `queued` 1) that only a later
/// `resume` gives up; a rate limiter refuses such a call at once. With a
/// queue of one, a live caller behind it is refused BulkheadQueueFull.
#[test]
fn a_call_past_its_deadline_does_not_take_a_queue_place() {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut b: Bulkhead<1> = Bulkhead::new(config);
    let p = b.try_acquire(ms(0)).unwrap();
    let late = Call::at(ms(100)).with_deadline(Deadline::at(ms(50)));
    let entry = b.enter(&late, None);
    let queued = b.queued();
    let live = b.enter(&Call::at(ms(100)), None);
    assert!(
        matches!(entry, Entry::Rejected(r) if r.reason == RejectReason::DeadlineTooShort)
            && queued == 0
            && matches!(live, Entry::Pending { .. }),
        "a call past its deadline: {entry:?} (queued {queued}); a live call behind it: {live:?}"
    );
    b.release(ms(101), p, Outcome::Success);
}
