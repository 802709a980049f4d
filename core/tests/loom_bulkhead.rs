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
