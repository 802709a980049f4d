//! Model-checks the shared bulkhead: concurrent acquire, wait, cancel and
//! release never exceed the limit and never leak a slot.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p failsafe-core --test loom_bulkhead --release`
#![cfg(loom)]

use core::task::Poll;
use core::time::Duration;

use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};
use failsafe_core::sync::{Lock, SharedBulkhead};
use failsafe_core::{Instant, Outcome};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

struct LoomLock<T>(Mutex<T>);

impl<T> Lock<T> for LoomLock<T> {
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

type Shared = SharedBulkhead<2, (), LoomLock<Bulkhead<2>>>;

fn shared() -> Arc<Shared> {
    let config = BulkheadConfig::builder()
        .max_concurrent(1)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    Arc::new(SharedBulkhead::new(LoomLock(Mutex::new(Bulkhead::new(
        config,
    )))))
}

/// Two callers, one slot, both willing to wait: both run, never together,
/// and the slot comes back.
#[test]
fn two_waiters_share_one_slot_without_overlap_or_leak() {
    loom::model(|| {
        let b = shared();
        let running = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (b, running) = (b.clone(), running.clone());
                thread::spawn(move || {
                    let mut ticket = Ticket::new();
                    let permit = loop {
                        match b.poll_acquire(Instant::ZERO, &mut ticket, None) {
                            Poll::Ready(result) => break result.unwrap(),
                            Poll::Pending => thread::yield_now(),
                        }
                    };
                    assert_eq!(
                        running.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two callers inside a bulkhead of 1"
                    );
                    running.fetch_sub(1, Ordering::SeqCst);
                    b.release(Instant::ZERO, permit, Outcome::Success);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let m = b.metrics();
        assert_eq!((m.in_flight, m.queued), (0, 0));
    });
}

/// A queued waiter is cancelled (its future dropped) while the holder
/// releases: whichever comes first, the slot is not lost.
#[test]
fn a_cancel_racing_a_release_never_leaks_the_slot() {
    loom::model(|| {
        let b = shared();
        let holder = b.try_acquire(Instant::ZERO).unwrap();
        let mut ticket = Ticket::new();
        assert!(
            b.poll_acquire(Instant::ZERO, &mut ticket, None)
                .is_pending()
        );
        let releaser = {
            let b = b.clone();
            thread::spawn(move || b.release(Instant::ZERO, holder, Outcome::Success))
        };
        b.cancel(Instant::ZERO, &mut ticket);
        releaser.join().unwrap();
        let m = b.metrics();
        assert_eq!((m.in_flight, m.queued), (0, 0));
        let again = b.try_acquire(Instant::ZERO).expect("the slot came back");
        b.release(Instant::ZERO, again, Outcome::Success);
    });
}

// ------------------------------------------- the lock-free slot word --
//
// A fixed bulkhead with a silent observer and nobody queued admits and
// takes slots back on its slot word, without the lock; the lock closes the
// word while anyone waits. These race the lock-free path against the
// locked one.

/// A waker that notifies a loom `Notify` (a lost wake-up deadlocks the model).
struct NotifyWaker(Arc<loom::sync::Notify>);

impl std::task::Wake for NotifyWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// A lock-free release racing a caller that queues: either the caller is
/// admitted at once (the release came first), or it queues and the release,
/// finding the word closed, takes the lock, grants it the slot and wakes it.
#[test]
fn a_lock_free_release_racing_a_waiter_never_loses_the_wake_up() {
    loom::model(|| {
        let b = shared();
        // The first call opens the word; the second takes the slot on it.
        let _ = b.metrics();
        let holder = b.try_acquire(Instant::ZERO).unwrap();
        let releaser = {
            let b = b.clone();
            thread::spawn(move || b.release(Instant::ZERO, holder, Outcome::Success))
        };
        let notify = Arc::new(loom::sync::Notify::new());
        let waker = std::task::Waker::from(std::sync::Arc::new(NotifyWaker(notify.clone())));
        let mut ticket = Ticket::new();
        // loom's `Notify` may wake spuriously: poll again until ready. A
        // lost wake-up leaves this thread waiting for ever: loom reports
        // the deadlock.
        let permit = loop {
            match b.poll_acquire(Instant::ZERO, &mut ticket, Some(&waker)) {
                Poll::Ready(r) => break r.unwrap(),
                Poll::Pending => notify.wait(),
            }
        };
        releaser.join().unwrap();
        b.release(Instant::ZERO, permit, Outcome::Success);
        let m = b.metrics();
        assert_eq!((m.in_flight, m.queued), (0, 0));
        assert_eq!((m.acquired, m.released), (2, 2));
    });
}

/// A caller takes and gives back the one slot on the word while another
/// runs a locked operation (which closes and reopens the word) and then
/// takes and gives back the slot itself: never two inside, no slot lost,
/// every admission and release counted.
#[test]
fn lock_free_admissions_racing_locked_operations_never_over_admit() {
    loom::model(|| {
        let b = shared();
        let _ = b.metrics();
        let running = Arc::new(AtomicUsize::new(0));
        let admitted = Arc::new(AtomicUsize::new(0));
        let call = |b: &Shared, running: &AtomicUsize, admitted: &AtomicUsize| {
            if let Ok(permit) = b.try_acquire(Instant::ZERO) {
                admitted.fetch_add(1, Ordering::SeqCst);
                assert_eq!(
                    running.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two callers inside a bulkhead of 1"
                );
                running.fetch_sub(1, Ordering::SeqCst);
                b.release(Instant::ZERO, permit, Outcome::Success);
            }
        };
        let caller = {
            let (b, running, admitted) = (b.clone(), running.clone(), admitted.clone());
            thread::spawn(move || call(&b, &running, &admitted))
        };
        assert!(b.metrics().in_flight <= 1);
        call(&b, &running, &admitted);
        caller.join().unwrap();
        let m = b.metrics();
        let admitted = admitted.load(Ordering::SeqCst) as u64;
        assert!(admitted >= 1, "a free slot was refused to both");
        assert_eq!(
            (m.in_flight, m.acquired, m.released),
            (0, admitted, admitted)
        );
    });
}

/// FIFO against the word: with a waiter queued, a release (locked, the word
/// closed) hands the slot to the waiter, and a newcomer racing it is
/// turned away whichever comes first.
#[test]
fn a_newcomer_never_overtakes_a_queued_waiter() {
    loom::model(|| {
        let b = shared();
        let _ = b.metrics();
        let holder = b.try_acquire(Instant::ZERO).unwrap();
        let mut ticket = Ticket::new();
        assert!(
            b.poll_acquire(Instant::ZERO, &mut ticket, None)
                .is_pending()
        );
        let releaser = {
            let b = b.clone();
            thread::spawn(move || b.release(Instant::ZERO, holder, Outcome::Success))
        };
        assert!(
            b.try_acquire(Instant::ZERO).is_err(),
            "a newcomer overtook the waiter"
        );
        releaser.join().unwrap();
        let Poll::Ready(Ok(permit)) = b.poll_acquire(Instant::ZERO, &mut ticket, None) else {
            panic!("the waiter was not granted the released slot")
        };
        b.release(Instant::ZERO, permit, Outcome::Success);
        let m = b.metrics();
        assert_eq!((m.in_flight, m.queued), (0, 0));
    });
}
