//! Timelines: each test reads as "at t=.. this happens, then ..".

extern crate std;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Wake;
use std::vec::Vec;

use core::task::{Poll, Waker};
use core::time::Duration;

use super::*;
use crate::{FnObserver, Instant, Outcome, RejectReason};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn config(max_concurrent: u32, max_wait_ms: u64) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(max_concurrent)
        .max_wait(Duration::from_millis(max_wait_ms))
        .build()
        .unwrap()
}

/// A waker that counts how often it was woken.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<Counter>) {
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    (Waker::from(counter.clone()), counter)
}

fn woken(c: &Counter) -> usize {
    c.0.load(Ordering::SeqCst)
}

/// Polls and expects a permit.
fn granted<const Q: usize, O: crate::Observer<BulkheadEvent>, A: LimitAlgorithm>(
    b: &mut Bulkhead<Q, O, A>,
    t: u64,
    ticket: &mut Ticket,
) -> BulkheadPermit {
    match b.poll_acquire(ms(t), ticket, None) {
        Poll::Ready(Ok(p)) => p,
        other => panic!("expected a permit at t={t}, got {other:?}"),
    }
}

/// Queues a new ticket and expects it to wait.
fn queue<const Q: usize, O: crate::Observer<BulkheadEvent>, A: LimitAlgorithm>(
    b: &mut Bulkhead<Q, O, A>,
    t: u64,
    waker: Option<&Waker>,
) -> Ticket {
    let mut ticket = Ticket::new();
    assert!(b.poll_acquire(ms(t), &mut ticket, waker).is_pending());
    assert!(ticket.is_queued());
    ticket
}

fn drain<const Q: usize, O: crate::Observer<BulkheadEvent>, A: LimitAlgorithm>(
    b: &mut Bulkhead<Q, O, A>,
) -> usize {
    let mut n = 0;
    while let Some(w) = b.pop_waker() {
        w.wake();
        n += 1;
    }
    n
}

#[test]
fn the_limit_is_respected_and_a_released_slot_is_free_again() {
    let mut b: Bulkhead<1> = Bulkhead::new(config(2, 0));
    // at t=0 two calls take both slots; the third is turned away
    let p1 = b.try_acquire(ms(0)).unwrap();
    let p2 = b.try_acquire(ms(0)).unwrap();
    let r = b.try_acquire(ms(1)).unwrap_err();
    assert_eq!((r.reason, r.retry_at), (RejectReason::BulkheadFull, None));
    // poll_acquire with no wait allowed rejects the same way instead of queueing
    let mut ticket = Ticket::new();
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(1), &mut ticket, None) else {
        panic!("expected a rejection")
    };
    assert_eq!(r.reason, RejectReason::BulkheadFull);
    assert!(!ticket.is_queued());
    // at t=5 one comes back: one more fits, not two
    b.release(ms(5), p1, Outcome::Success);
    let p3 = b.try_acquire(ms(6)).unwrap();
    assert!(b.try_acquire(ms(6)).is_err());
    b.release(ms(7), p2, Outcome::Failure);
    b.release(ms(8), p3, Outcome::Timeout);
    let m = b.metrics();
    assert_eq!(
        (m.in_flight, m.acquired, m.released, m.rejected),
        (0, 3, 3, 3)
    );
}

#[test]
fn waiters_get_slots_in_the_order_they_queued_and_newcomers_never_overtake() {
    let mut b: Bulkhead<4> = Bulkhead::new(config(1, 1_000));
    let p = b.try_acquire(ms(0)).unwrap();
    // at t=1, 2, 3 callers A, B, C queue
    let mut a = queue(&mut b, 1, None);
    let mut bb = queue(&mut b, 2, None);
    let mut c = queue(&mut b, 3, None);
    assert_eq!(b.queued(), 3);
    // B and C poll again: still waiting
    assert!(b.poll_acquire(ms(4), &mut c, None).is_pending());
    assert!(b.poll_acquire(ms(4), &mut bb, None).is_pending());
    // at t=10 the slot comes back and goes to A, though A has not polled yet
    b.release(ms(10), p, Outcome::Success);
    assert_eq!((b.in_flight(), b.queued()), (1, 2));
    // a newcomer cannot take it, nor jump the queue
    assert_eq!(
        b.try_acquire(ms(11)).unwrap_err().reason,
        RejectReason::BulkheadFull
    );
    let mut d = queue(&mut b, 11, None);
    assert!(b.poll_acquire(ms(12), &mut c, None).is_pending());
    let pa = granted(&mut b, 12, &mut a);
    assert!(!a.is_queued());
    // then B, C, D, one release at a time
    b.release(ms(20), pa, Outcome::Success);
    assert!(b.poll_acquire(ms(20), &mut c, None).is_pending());
    let pb = granted(&mut b, 21, &mut bb);
    b.release(ms(30), pb, Outcome::Success);
    assert!(b.poll_acquire(ms(30), &mut d, None).is_pending());
    let pc = granted(&mut b, 31, &mut c);
    b.release(ms(40), pc, Outcome::Success);
    let pd = granted(&mut b, 41, &mut d);
    b.release(ms(50), pd, Outcome::Success);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
}

#[test]
fn a_full_queue_is_an_error_value() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(1, 100));
    let p = b.try_acquire(ms(0)).unwrap();
    let mut first = queue(&mut b, 1, None);
    let mut second = queue(&mut b, 2, None);
    let mut third = Ticket::new();
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(3), &mut third, None) else {
        panic!("expected the queue to be full")
    };
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BulkheadQueueFull, None)
    );
    assert!(!third.is_queued());
    // a slot granted but not yet collected still holds its place in the queue
    b.release(ms(4), p, Outcome::Success);
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(5), &mut third, None) else {
        panic!("expected the queue to be full")
    };
    assert_eq!(r.reason, RejectReason::BulkheadQueueFull);
    let p1 = granted(&mut b, 6, &mut first);
    assert!(b.poll_acquire(ms(7), &mut third, None).is_pending());
    b.release(ms(8), p1, Outcome::Success);
    let p2 = granted(&mut b, 9, &mut second);
    b.release(ms(10), p2, Outcome::Success);
    let p3 = granted(&mut b, 11, &mut third);
    b.release(ms(12), p3, Outcome::Success);
    assert_eq!(b.metrics().rejected, 2);
}

#[test]
fn a_wait_expires_at_max_wait_through_on_deadline_and_the_waiter_is_woken() {
    let mut b: Bulkhead<4> = Bulkhead::new(config(1, 100));
    let p = b.try_acquire(ms(0)).unwrap();
    let (w1, c1) = counting_waker();
    let (w2, c2) = counting_waker();
    // A queues at t=10, B at t=50: their waits end at t=110 and t=150
    let mut a = queue(&mut b, 10, Some(&w1));
    let mut bb = queue(&mut b, 50, Some(&w2));
    assert_eq!(b.next_deadline(), Some(ms(110)));
    // a spurious deadline changes nothing
    b.on_deadline(ms(109));
    assert_eq!((b.queued(), drain(&mut b)), (2, 0));
    // at t=110 A's wait runs out: it is woken and its next poll says so
    b.on_deadline(ms(110));
    assert_eq!(b.queued(), 1);
    assert_eq!(drain(&mut b), 1);
    assert_eq!((woken(&c1), woken(&c2)), (1, 0));
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(111), &mut a, None) else {
        panic!("expected expiry")
    };
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BulkheadWaitExpired, None)
    );
    assert!(!a.is_queued());
    assert_eq!(b.next_deadline(), Some(ms(150)));
    // B is granted a slot at t=120, before its wait ends
    b.release(ms(120), p, Outcome::Success);
    assert_eq!(drain(&mut b), 1);
    assert_eq!(woken(&c2), 1);
    assert_eq!(b.next_deadline(), None);
    // ... and may collect it even after t=150: the grant came in time
    let pb = granted(&mut b, 200, &mut bb);
    b.release(ms(210), pb, Outcome::Success);
    let m = b.metrics();
    assert_eq!((m.expired, m.in_flight, m.queued), (1, 0, 0));
}

#[test]
fn a_waiter_polling_after_its_deadline_learns_it_expired_even_without_on_deadline() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(1, 100));
    let p = b.try_acquire(ms(0)).unwrap();
    let (w, c) = counting_waker();
    let mut a = queue(&mut b, 0, Some(&w));
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(100), &mut a, Some(&w)) else {
        panic!("expected expiry")
    };
    assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    // the waiter is being polled right now: no wake-up is owed to it
    assert_eq!((drain(&mut b), woken(&c)), (0, 0));
    // a release after the deadline never grants to a waiter that expired meanwhile
    let mut late = queue(&mut b, 150, None);
    b.release(ms(400), p, Outcome::Success);
    assert_eq!(b.in_flight(), 0);
    let Poll::Ready(Err(r)) = b.poll_acquire(ms(401), &mut late, None) else {
        panic!("expected expiry")
    };
    assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    assert_eq!(b.metrics().expired, 2);
}

#[test]
fn cancelling_a_queued_waiter_frees_its_place() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(1, 1_000));
    let p = b.try_acquire(ms(0)).unwrap();
    let mut a = queue(&mut b, 1, None);
    let mut bb = queue(&mut b, 2, None);
    // at t=3 A's future is dropped
    b.cancel(ms(3), &mut a);
    assert!(!a.is_queued());
    assert_eq!((b.queued(), b.in_flight()), (1, 1));
    b.cancel(ms(3), &mut a); // a second cancel is a no-op
    // the slot coming back goes to B
    b.release(ms(10), p, Outcome::Success);
    let pb = granted(&mut b, 11, &mut bb);
    b.release(ms(12), pb, Outcome::Success);
    let m = b.metrics();
    assert_eq!((m.cancelled, m.in_flight, m.queued), (1, 0, 0));
}

#[test]
fn cancelling_a_granted_waiter_hands_its_slot_on() {
    let mut b: Bulkhead<4> = Bulkhead::new(config(1, 1_000));
    let p = b.try_acquire(ms(0)).unwrap();
    let (wa, ca) = counting_waker();
    let (wb, cb) = counting_waker();
    let mut a = queue(&mut b, 1, Some(&wa));
    let mut bb = queue(&mut b, 2, Some(&wb));
    // at t=10 the slot is granted to A, who is woken ...
    b.release(ms(10), p, Outcome::Success);
    assert_eq!(drain(&mut b), 1);
    assert_eq!((woken(&ca), woken(&cb)), (1, 0));
    // ... but A's owner is gone before it polls: the slot goes on to B
    b.cancel(ms(11), &mut a);
    assert_eq!((b.in_flight(), b.queued()), (1, 0));
    assert_eq!(drain(&mut b), 1);
    assert_eq!(woken(&cb), 1);
    // B's owner is gone too: the slot comes back to the pool
    b.cancel(ms(12), &mut bb);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
    let p = b.try_acquire(ms(13)).unwrap();
    b.release(ms(14), p, Outcome::Success);
    let m = b.metrics();
    // acquired counts the two grants; released counts the slots they gave back
    assert_eq!((m.acquired, m.released, m.cancelled), (4, 4, 2));
}

#[test]
fn cancel_after_the_permit_was_collected_is_a_no_op() {
    let mut b: Bulkhead<1> = Bulkhead::new(config(1, 1_000));
    let p = b.try_acquire(ms(0)).unwrap();
    let mut a = queue(&mut b, 1, None);
    b.release(ms(2), p, Outcome::Success);
    let pa = granted(&mut b, 3, &mut a);
    b.cancel(ms(4), &mut a); // the adapter's Drop runs after success
    assert_eq!(b.in_flight(), 1);
    b.release(ms(5), pa, Outcome::Success);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn every_slot_comes_back_exactly_once() {
    let mut b: Bulkhead<1> = Bulkhead::new(config(3, 0));
    for round in 0..10u64 {
        let permits: Vec<_> = (0..3).map(|_| b.try_acquire(ms(round)).unwrap()).collect();
        assert!(b.try_acquire(ms(round)).is_err());
        for p in permits {
            b.release(ms(round), p, Outcome::Cancelled); // `p` is moved: no second release
        }
        assert_eq!(b.in_flight(), 0);
    }
    let m = b.metrics();
    assert_eq!((m.acquired, m.released), (30, 30));
}

#[test]
fn a_limit_lowered_below_in_flight_admits_nobody_until_it_drains() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(4, 1_000));
    let mut permits: Vec<_> = (0..4).map(|_| b.try_acquire(ms(0)).unwrap()).collect();
    // at t=1 an operator lowers the limit to 2 while 4 run
    assert_eq!(b.set_limit(ms(1), 2), 2);
    assert_eq!((b.in_flight(), b.available()), (4, 0));
    let mut w = queue(&mut b, 2, None);
    // two releases leave 2 in flight: still full
    b.release(ms(3), permits.pop().unwrap(), Outcome::Success);
    b.release(ms(4), permits.pop().unwrap(), Outcome::Success);
    assert_eq!((b.in_flight(), b.queued()), (2, 1));
    assert!(b.poll_acquire(ms(5), &mut w, None).is_pending());
    // the third release lets the waiter in
    b.release(ms(6), permits.pop().unwrap(), Outcome::Success);
    let pw = granted(&mut b, 7, &mut w);
    assert!(b.try_acquire(ms(7)).is_err());
    // raising the limit again admits at once
    assert_eq!(b.set_limit(ms(8), 3), 3);
    let p = b.try_acquire(ms(8)).unwrap();
    for p in [p, pw, permits.pop().unwrap()] {
        b.release(ms(9), p, Outcome::Success);
    }
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn raising_the_limit_grants_slots_to_as_many_waiters_as_fit() {
    let mut b: Bulkhead<4> = Bulkhead::new(config(10, 1_000));
    b.set_limit(ms(0), 1);
    let p = b.try_acquire(ms(0)).unwrap();
    let wakers: Vec<_> = (0..3).map(|_| counting_waker()).collect();
    let mut tickets: Vec<_> = wakers
        .iter()
        .enumerate()
        .map(|(i, (w, _))| queue(&mut b, 1 + i as u64, Some(w)))
        .collect();
    // at t=10 the limit goes to 3: two waiters get slots, the third waits
    assert_eq!(b.set_limit(ms(10), 3), 3);
    assert_eq!((b.in_flight(), b.queued()), (3, 1));
    assert_eq!(drain(&mut b), 2);
    let counts: Vec<_> = wakers.iter().map(|(_, c)| woken(c)).collect();
    assert_eq!(counts, [1, 1, 0]);
    let mut held = std::vec![p];
    held.push(granted(&mut b, 11, &mut tickets[0]));
    held.push(granted(&mut b, 11, &mut tickets[1]));
    assert!(b.poll_acquire(ms(11), &mut tickets[2], None).is_pending());
    for p in held {
        b.release(ms(12), p, Outcome::Success);
    }
    let last = granted(&mut b, 13, &mut tickets[2]);
    b.release(ms(14), last, Outcome::Success);
    assert_eq!((b.in_flight(), b.queued()), (0, 0));
}

#[test]
fn a_clock_going_backwards_is_no_time_passed() {
    let mut b: Bulkhead<4> = Bulkhead::new(config(1, 100));
    let p = b.try_acquire(ms(1_000)).unwrap();
    // A queues at t=1000; B "at t=500" (the clock stepped back) queues at t=1000 too
    let mut a = queue(&mut b, 1_000, None);
    let mut bb = queue(&mut b, 500, None);
    assert_eq!(b.next_deadline(), Some(ms(1_100)));
    // deadlines and polls from the past expire nothing
    b.on_deadline(ms(0));
    assert!(b.poll_acquire(ms(10), &mut a, None).is_pending());
    assert_eq!(b.queued(), 2);
    // at t=1100 both waits end together
    b.on_deadline(ms(1_100));
    assert_eq!(b.queued(), 0);
    for t in [&mut a, &mut bb] {
        let Poll::Ready(Err(r)) = b.poll_acquire(ms(20), t, None) else {
            panic!("expected expiry")
        };
        assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
    }
    // a release stamped before the acquire is a call of zero length, not a panic
    b.release(ms(0), p, Outcome::Success);
    assert_eq!(b.in_flight(), 0);
}

#[test]
fn a_waiter_polling_again_keeps_or_replaces_its_waker() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(1, 1_000));
    let p = b.try_acquire(ms(0)).unwrap();
    let (w1, c1) = counting_waker();
    let (w2, c2) = counting_waker();
    let mut a = queue(&mut b, 1, Some(&w1));
    // the task moved to another executor: its new waker replaces the old one
    assert!(b.poll_acquire(ms(2), &mut a, Some(&w2)).is_pending());
    b.release(ms(3), p, Outcome::Success);
    assert_eq!(drain(&mut b), 1);
    assert_eq!((woken(&c1), woken(&c2)), (0, 1));
    let pa = granted(&mut b, 4, &mut a);
    b.release(ms(5), pa, Outcome::Success);
}

#[test]
fn owed_wakers_never_get_lost_even_if_the_adapter_does_not_drain() {
    let mut b: Bulkhead<1> = Bulkhead::new(config(1, 10));
    let p = b.try_acquire(ms(0)).unwrap();
    let (w1, c1) = counting_waker();
    let (w2, c2) = counting_waker();
    let mut a = queue(&mut b, 0, Some(&w1));
    b.on_deadline(ms(10)); // A expires: its wake-up is owed (list of capacity 1 now full)
    let mut bb = queue(&mut b, 10, Some(&w2));
    b.on_deadline(ms(20)); // B expires: nowhere to keep it, so it is woken at once
    assert_eq!((woken(&c1), woken(&c2)), (0, 1));
    assert_eq!(b.wake_pending(), 1);
    assert_eq!(woken(&c1), 1);
    for t in [&mut a, &mut bb] {
        assert!(matches!(
            b.poll_acquire(ms(21), t, None),
            Poll::Ready(Err(_))
        ));
    }
    b.release(ms(22), p, Outcome::Success);
}

#[test]
fn a_wait_without_end_has_no_deadline() {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::MAX)
        .build()
        .unwrap();
    let mut b: Bulkhead<1> = Bulkhead::new(config);
    let p = b.try_acquire(ms(0)).unwrap();
    let mut a = queue(&mut b, 1, None);
    assert_eq!(b.next_deadline(), None);
    b.on_deadline(Instant::MAX);
    assert!(b.poll_acquire(Instant::MAX, &mut a, None).is_pending());
    b.release(Instant::MAX, p, Outcome::Success);
    let pa = granted(&mut b, 5, &mut a);
    b.release(Instant::MAX, pa, Outcome::Success);
}

#[test]
fn a_fixed_bulkhead_with_nobody_queued_never_reads_the_clock() {
    let mut b: Bulkhead<2> = Bulkhead::new(config(2, 0));
    let mut reads = 0;
    let p = b
        .try_acquire(|| {
            reads += 1;
            ms(1)
        })
        .unwrap();
    b.release(
        || {
            reads += 1;
            ms(2)
        },
        p,
        Outcome::Success,
    );
    assert_eq!(reads, 0);
    // a rejection reads it once, for its event
    let (p1, p2) = (b.try_acquire(ms(3)).unwrap(), b.try_acquire(ms(3)).unwrap());
    assert!(
        b.try_acquire(|| {
            reads += 1;
            ms(4)
        })
        .is_err()
    );
    assert_eq!(reads, 1);
    b.release(ms(5), p1, Outcome::Success);
    b.release(ms(5), p2, Outcome::Success);
}

#[test]
fn events_tell_the_story() {
    let mut log = Vec::new();
    let mut b: Bulkhead<1, _> = Bulkhead::with_observer(config(1, 50), FnObserver(|e| log.push(e)));
    let p = b.try_acquire(ms(0)).unwrap();
    let mut a = queue(&mut b, 10, None);
    let mut full = Ticket::new();
    let _ = b.poll_acquire(ms(11), &mut full, None);
    b.release(ms(20), p, Outcome::Success);
    let pa = granted(&mut b, 21, &mut a);
    b.set_limit(ms(22), 1);
    b.release(ms(30), pa, Outcome::Timeout);
    // at t=40 a call runs; at t=41 another queues and its wait ends at t=91
    let p = b.try_acquire(ms(40)).unwrap();
    let mut late = queue(&mut b, 41, None);
    b.on_deadline(ms(91));
    b.cancel(ms(92), &mut late); // already expired: nothing to cancel
    // at t=93 one more queues and gives up at t=94
    let mut quitter = queue(&mut b, 93, None);
    b.cancel(ms(94), &mut quitter);
    b.release(ms(95), p, Outcome::Ignored);
    drop(b);
    use BulkheadEvent::*;
    let queue_full = crate::Rejected::new(RejectReason::BulkheadQueueFull, None);
    assert_eq!(
        log,
        [
            Acquired {
                in_flight: 1,
                limit: 1,
                waited: Duration::ZERO
            },
            Queued {
                at: ms(10),
                queued: 1
            },
            Rejected {
                at: ms(11),
                rejected: queue_full
            },
            Released {
                outcome: Outcome::Success,
                in_flight: 0
            },
            Acquired {
                in_flight: 1,
                limit: 1,
                waited: Duration::from_millis(10)
            },
            Released {
                outcome: Outcome::Timeout,
                in_flight: 0
            },
            Acquired {
                in_flight: 1,
                limit: 1,
                waited: Duration::ZERO
            },
            Queued {
                at: ms(41),
                queued: 1
            },
            WaitExpired { at: ms(91) },
            Queued {
                at: ms(93),
                queued: 1
            },
            Cancelled { granted: false },
            Released {
                outcome: Outcome::Ignored,
                in_flight: 0
            },
        ]
    );
}

#[test]
fn config_errors_name_the_field() {
    let e = BulkheadConfig::builder().max_concurrent(0).build();
    assert_eq!(e.unwrap_err().field, "max_concurrent");
    assert_eq!(BulkheadConfig::default().max_concurrent(), 25);
    assert_eq!(BulkheadConfig::default().max_wait(), Duration::ZERO);
}

// ---------------------------------------------------------------- adaptive

const T0: Instant = Instant::ZERO;

fn d(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Feeds `n` samples of `rtt` with the limit fully used; returns the limits seen.
fn feed<A: LimitAlgorithm>(a: &mut A, n: usize, rtt: u64, dropped: bool) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let in_flight = a.limit();
            a.on_sample(T0, d(rtt), in_flight, dropped)
        })
        .collect()
}

fn non_increasing(v: &[u32]) -> bool {
    v.windows(2).all(|w| w[1] <= w[0])
}

fn non_decreasing(v: &[u32]) -> bool {
    v.windows(2).all(|w| w[1] >= w[0])
}

#[test]
fn aimd_grows_by_one_while_used_and_backs_off_on_drops_and_timeouts() {
    let mut aimd = Aimd::DEFAULT;
    // healthy and fully used: +1 per sample, up to 200 and no further
    let seen = feed(&mut aimd, 300, 10, false);
    assert_eq!(&seen[..3], [21, 22, 23]);
    assert!(non_decreasing(&seen));
    assert_eq!(aimd.limit(), 200);
    // a drop: x0.9
    assert_eq!(aimd.on_sample(T0, d(10), 200, true), 180);
    // a call over the 5 s timeout counts as a drop
    assert_eq!(aimd.on_sample(T0, Duration::from_secs(6), 180, false), 162);
    // drops all the way down stop at the minimum of 20
    let seen = feed(&mut aimd, 50, 10, true);
    assert!(non_increasing(&seen));
    assert_eq!(aimd.limit(), 20);
    // barely used (in_flight * 2 < limit): no growth
    assert_eq!(aimd.on_sample(T0, d(10), 9, false), 20);
    assert_eq!(aimd.on_sample(T0, d(10), 10, false), 21);
}

#[test]
fn aimd_set_limit_is_clamped_and_carries_on_from_there() {
    let mut aimd = Aimd::builder()
        .min_limit(2)
        .initial_limit(4)
        .max_limit(8)
        .build()
        .unwrap();
    assert_eq!(aimd.set_limit(100), 8);
    assert_eq!(aimd.set_limit(0), 2);
    assert_eq!(aimd.on_sample(T0, d(1), 2, false), 3);
}

#[test]
fn vegas_grows_with_steady_latency_and_shrinks_as_it_rises_or_calls_drop() {
    let mut vegas = Vegas::builder().max_limit(100).build().unwrap();
    // steady 10 ms: no queue, the limit climbs to its maximum
    let seen = feed(&mut vegas, 200, 10, false);
    assert!(non_decreasing(&seen));
    assert_eq!(vegas.limit(), 100);
    // latency doubles and stays there: the queue estimate (L/2) is over beta, it shrinks
    let seen = feed(&mut vegas, 20, 20, false);
    assert!(non_increasing(&seen));
    assert!(vegas.limit() < 70, "{seen:?}");
    // drops shrink it by log10(L) each, down to the minimum of 1 and no further
    let seen = feed(&mut vegas, 200, 10, true);
    assert!(non_increasing(&seen));
    assert_eq!(vegas.limit(), 1);
    // from 1 it can grow again (alpha and steps are at least 1)
    assert_eq!(vegas.on_sample(T0, d(10), 1, false), 2);
}

#[test]
fn vegas_forgets_the_no_load_rtt_at_each_probe() {
    let mut vegas = Vegas::builder()
        .initial_limit(2)
        .max_limit(2)
        .probe_multiplier(1)
        .build()
        .unwrap();
    vegas.on_sample(T0, d(5), 2, false);
    assert_eq!(vegas.rtt_noload(), Some(d(5)));
    // the baseline moved to 50 ms for good; the second sample is a probe (1 x L = 2)
    vegas.on_sample(T0, d(50), 2, false);
    assert_eq!(vegas.rtt_noload(), Some(d(50)));
}

#[test]
fn gradient2_grows_with_steady_latency_and_shrinks_as_it_rises_or_calls_drop() {
    let mut g = Gradient2::builder().initial_limit(100).build().unwrap();
    // steady 10 ms: gradient 1, +0.8 per sample up to 200
    let seen = feed(&mut g, 400, 10, false);
    assert!(non_decreasing(&seen));
    assert_eq!(g.limit(), 200);
    // latency jumps 4x: the limit falls, towards L * 0.5 + 4 as the jump persists
    let seen = feed(&mut g, 10, 40, false);
    assert!(non_increasing(&seen));
    assert!(g.limit() < 150, "{seen:?}");
    // latency within 1.5x of the long average is steady: it grows again
    let mut g = Gradient2::builder().initial_limit(50).build().unwrap();
    feed(&mut g, 10, 10, false);
    let before = g.limit();
    feed(&mut g, 10, 14, false);
    assert!(g.limit() > before);
    // drops count as gradient 0.5 and shrink it to the minimum of 20
    let seen = feed(&mut g, 100, 10, true);
    assert!(non_increasing(&seen));
    assert_eq!(g.limit(), 20);
}

#[test]
fn gradient2_does_not_grow_while_barely_used() {
    let mut g = Gradient2::builder().initial_limit(100).build().unwrap();
    for _ in 0..100 {
        g.on_sample(T0, d(10), 10, false);
    }
    assert_eq!(g.limit(), 100);
}

#[test]
fn algorithms_hold_their_bounds_on_extreme_samples() {
    let rtts = [
        Duration::ZERO,
        Duration::from_nanos(1),
        d(10),
        Duration::from_secs(3_600),
        Duration::MAX,
    ];
    let mut aimd = Aimd::builder()
        .min_limit(3)
        .initial_limit(5)
        .max_limit(9)
        .build()
        .unwrap();
    let mut vegas = Vegas::builder()
        .min_limit(3)
        .initial_limit(5)
        .max_limit(9)
        .build()
        .unwrap();
    let mut g2 = Gradient2::builder()
        .min_limit(3)
        .initial_limit(5)
        .max_limit(9)
        .build()
        .unwrap();
    for (i, rtt) in rtts.iter().cycle().take(500).enumerate() {
        let dropped = i % 7 == 0;
        let in_flight = [0, 1, 9, u32::MAX][i % 4];
        for limit in [
            aimd.on_sample(T0, *rtt, in_flight, dropped),
            vegas.on_sample(T0, *rtt, in_flight, dropped),
            g2.on_sample(T0, *rtt, in_flight, dropped),
        ] {
            assert!((3..=9).contains(&limit), "{limit} after {rtt:?}");
        }
    }
}

#[test]
fn algorithm_configs_name_the_field() {
    let field = |e: Result<(), crate::ConfigError>| e.unwrap_err().field;
    assert_eq!(
        field(Aimd::builder().min_limit(0).build().map(drop)),
        "min_limit"
    );
    assert_eq!(
        field(Aimd::builder().max_limit(1).build().map(drop)),
        "max_limit"
    );
    assert_eq!(
        field(Aimd::builder().initial_limit(500).build().map(drop)),
        "initial_limit"
    );
    assert_eq!(
        field(Aimd::builder().backoff_ratio(0.0).build().map(drop)),
        "backoff_ratio"
    );
    assert_eq!(
        field(Aimd::builder().backoff_ratio(f32::NAN).build().map(drop)),
        "backoff_ratio"
    );
    assert_eq!(
        field(Aimd::builder().timeout(Duration::ZERO).build().map(drop)),
        "timeout"
    );
    assert_eq!(
        field(Vegas::builder().alpha(-1.0).build().map(drop)),
        "alpha"
    );
    assert_eq!(
        field(Vegas::builder().alpha(f32::INFINITY).build().map(drop)),
        "alpha"
    );
    assert_eq!(
        field(Vegas::builder().beta(f32::NAN).build().map(drop)),
        "beta"
    );
    assert_eq!(
        field(Vegas::builder().beta(f32::INFINITY).build().map(drop)),
        "beta"
    );
    assert_eq!(
        field(
            Gradient2::builder()
                .rtt_tolerance(f32::NAN)
                .build()
                .map(drop)
        ),
        "rtt_tolerance"
    );
    assert_eq!(
        field(Gradient2::builder().smoothing(-0.1).build().map(drop)),
        "smoothing"
    );
    assert_eq!(
        field(Gradient2::builder().min_limit(30).build().map(drop)),
        "initial_limit"
    );
}

#[test]
fn an_adaptive_bulkhead_shrinks_on_failures_and_cancelled_calls_take_no_sample() {
    let mut log = Vec::new();
    let config = BulkheadConfig::builder()
        .max_concurrent(200)
        .build()
        .unwrap();
    let aimd = Aimd::builder()
        .min_limit(1)
        .initial_limit(10)
        .build()
        .unwrap();
    let mut b: Bulkhead<1, _, Aimd> =
        Bulkhead::with_parts(config, aimd, FnObserver(|e| log.push(e)));
    // at t=0 ten calls fill the limit; at t=100 they all time out
    let permits: Vec<_> = (0..10).map(|_| b.try_acquire(ms(0)).unwrap()).collect();
    for p in permits {
        b.release(ms(100), p, Outcome::Timeout);
    }
    let limit = b.limit();
    assert!((1..10).contains(&limit), "{limit}");
    // cancelled and ignored calls say nothing about the dependency
    let p = b.try_acquire(ms(200)).unwrap();
    b.release(ms(300), p, Outcome::Cancelled);
    let p = b.try_acquire(ms(200)).unwrap();
    b.release(ms(300), p, Outcome::Ignored);
    assert_eq!(b.limit(), limit);
    drop(b);
    let changes = log
        .iter()
        .filter(|e| matches!(e, BulkheadEvent::LimitChanged { .. }))
        .count();
    assert!(changes >= 1);
    assert!(log.contains(&BulkheadEvent::LimitChanged { from: 10, to: 9 }));
}

#[test]
fn max_concurrent_caps_an_adaptive_limit_and_a_rising_limit_grants_waiters() {
    let config = BulkheadConfig::builder()
        .max_concurrent(3)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let aimd = Aimd::builder()
        .min_limit(1)
        .initial_limit(2)
        .max_limit(100)
        .build()
        .unwrap();
    let mut b: Bulkhead<4, (), Aimd> = Bulkhead::adaptive(config, aimd);
    let p1 = b.try_acquire(ms(0)).unwrap();
    let p2 = b.try_acquire(ms(0)).unwrap();
    let (w1, c1) = counting_waker();
    let (w2, c2) = counting_waker();
    let mut a = queue(&mut b, 1, Some(&w1));
    let mut bb = queue(&mut b, 1, Some(&w2));
    // p2 ran with the limit fully used and healthy: the limit rises to 3, and
    // its own slot came back too, so both waiters are granted one
    b.release(ms(10), p2, Outcome::Success);
    assert_eq!(b.limit(), 3);
    assert_eq!((b.in_flight(), b.queued()), (3, 0));
    assert_eq!(drain(&mut b), 2);
    assert_eq!((woken(&c1), woken(&c2)), (1, 1));
    // the algorithm goes on rising, the bulkhead stays at max_concurrent
    let pa = granted(&mut b, 11, &mut a);
    let pb = granted(&mut b, 11, &mut bb);
    for p in [p1, pa, pb] {
        b.release(ms(12), p, Outcome::Success);
    }
    assert!(b.algorithm().limit() > 3);
    assert_eq!(b.limit(), 3);
    assert_eq!(b.in_flight(), 0);
}
