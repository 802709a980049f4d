//! The bulkhead on real threads, without a single sleep: threads
//! rendezvous through channels and the bulkhead's own counts, and the one
//! wait that must run out does so on a clock the test moves by hand.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use failsafe_thread::{
    Aimd, BulkheadConfig, BulkheadPolicy, Clock, Error, FixedLimit, Instant, Outcome, Park,
    RejectReason,
};

fn config(limit: u32, max_wait: Duration) -> BulkheadConfig {
    BulkheadConfig::builder()
        .max_concurrent(limit)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

/// Spins (yielding, never sleeping) until `f` holds.
fn wait_until(mut f: impl FnMut() -> bool) {
    while !f() {
        std::thread::yield_now();
    }
}

/// A clock only the test moves; a parked waiter waits for a wake-up (a
/// slot, or `on_deadline` after the test moved the clock).
#[derive(Clone, Default)]
struct Manual(Arc<AtomicU64>);

impl Manual {
    fn set(&self, at: Instant) {
        self.0.store(at.as_nanos(), Ordering::SeqCst);
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

impl Park for Manual {
    fn park_until(&self, _deadline: Option<Instant>) {
        std::thread::park();
    }
}

#[test]
fn twelve_threads_never_run_more_than_the_limit() {
    // StdClock: every wait here is ended by a release, never by time.
    let bulkhead: BulkheadPolicy<16> = BulkheadPolicy::new(config(3, Duration::from_secs(3600)));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go = Arc::new(Mutex::new(go_rx));
    let workers: Vec<_> = (0..12)
        .map(|i| {
            let (b, running, peak, go) =
                (bulkhead.clone(), running.clone(), peak.clone(), go.clone());
            std::thread::spawn(move || {
                b.call_blocking(|| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    go.lock().unwrap().recv().unwrap(); // hold the slot until told
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ()>(i)
                })
            })
        })
        .collect();
    wait_until(|| bulkhead.in_flight() == 3 && bulkhead.queued() == 9);
    wait_until(|| running.load(Ordering::SeqCst) == 3);
    assert_eq!(
        bulkhead.in_flight(),
        3,
        "nine threads parked, three running"
    );
    for _ in 0..12 {
        go_tx.send(()).unwrap();
    }
    let mut done: Vec<_> = workers
        .into_iter()
        .map(|w| w.join().unwrap().unwrap())
        .collect();
    done.sort_unstable();
    assert_eq!(done, (0..12).collect::<Vec<_>>());
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let m = bulkhead.metrics();
    assert_eq!(
        (m.in_flight, m.queued, m.acquired, m.released),
        (0, 0, 12, 12)
    );
}

#[test]
fn parked_threads_get_slots_in_the_order_they_queued() {
    let bulkhead: BulkheadPolicy<16> = BulkheadPolicy::new(config(1, Duration::from_secs(3600)));
    let held = bulkhead.acquire_blocking().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for i in 0..6 {
        let (b, order) = (bulkhead.clone(), order.clone());
        workers.push(std::thread::spawn(move || {
            b.call_blocking(|| {
                order.lock().unwrap().push(i);
                Ok::<_, ()>(())
            })
        }));
        wait_until(|| bulkhead.queued() == i + 1); // thread i queues before i + 1 starts
    }
    held.finish(Outcome::Success);
    for w in workers {
        w.join().unwrap().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), (0..6).collect::<Vec<_>>());
    assert_eq!(bulkhead.in_flight(), 0);
}

#[test]
fn a_full_queue_rejects_at_once() {
    let bulkhead: BulkheadPolicy<2> = BulkheadPolicy::new(config(1, Duration::from_secs(3600)));
    let held = bulkhead.acquire_blocking().unwrap();
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let b = bulkhead.clone();
            std::thread::spawn(move || b.call_blocking(|| Ok::<_, ()>(())))
        })
        .collect();
    wait_until(|| bulkhead.queued() == 2);
    let r = bulkhead.call_blocking(|| Ok::<_, ()>(())).unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadQueueFull
    );
    held.finish(Outcome::Success);
    for w in waiters {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    let m = bulkhead.metrics();
    assert_eq!((m.rejected, m.acquired, m.released), (1, 3, 3));
}

#[test]
fn a_parked_wait_ends_exactly_at_its_deadline() {
    let clock = Manual::default();
    clock.set(Instant::from_millis(1_000));
    let bulkhead: failsafe_driver::BulkheadPolicy<4, FixedLimit, Manual> =
        failsafe_driver::BulkheadPolicy::with_runtime(
            config(1, Duration::from_millis(300)),
            clock.clone(),
        );
    let _held = bulkhead.acquire_blocking().unwrap();
    let (tx, rx) = mpsc::channel();
    let waiter = {
        let b = bulkhead.clone();
        std::thread::spawn(move || {
            let r = b.call_blocking(|| Ok::<_, ()>(()));
            tx.send(b.runtime().now()).unwrap();
            r
        })
    };
    wait_until(|| bulkhead.queued() == 1);
    assert_eq!(bulkhead.next_deadline(), Some(Instant::from_millis(1_300)));

    clock.set(Instant::from_nanos(
        Instant::from_millis(1_300).as_nanos() - 1,
    ));
    bulkhead.on_deadline();
    assert_eq!(
        bulkhead.queued(),
        1,
        "1 ns before the deadline it still waits"
    );
    assert!(rx.try_recv().is_err());

    clock.set(Instant::from_millis(1_300));
    bulkhead.on_deadline(); // ends the wait and unparks the thread
    let r = waiter.join().unwrap().unwrap_err();
    assert_eq!(
        r.rejected().unwrap().reason,
        RejectReason::BulkheadWaitExpired
    );
    assert_eq!(rx.recv().unwrap(), Instant::from_millis(1_300));
    let m = bulkhead.metrics();
    assert_eq!((m.expired, m.queued, m.in_flight), (1, 0, 1));
}

#[test]
fn a_panic_inside_a_call_gives_the_slot_back() {
    let bulkhead: BulkheadPolicy<1> = BulkheadPolicy::new(config(1, Duration::ZERO));
    let r = catch_unwind(AssertUnwindSafe(|| {
        bulkhead.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    let m = bulkhead.metrics();
    assert_eq!((m.in_flight, m.acquired, m.released), (0, 1, 1));
    assert_eq!(bulkhead.call_blocking(|| Ok::<_, ()>(5)), Ok(5));
}

#[test]
fn a_rejected_call_never_runs_and_inner_errors_keep_their_type() {
    let bulkhead: BulkheadPolicy<1> = BulkheadPolicy::new(config(1, Duration::ZERO));
    assert_eq!(
        bulkhead.call_blocking(|| Err::<(), _>("down")),
        Err(Error::Inner("down"))
    );
    let held = bulkhead.try_acquire().unwrap();
    let mut ran = false;
    let r = bulkhead.call_blocking(|| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert_eq!(
        r.unwrap_err().rejected().unwrap().reason,
        RejectReason::BulkheadFull
    );
    assert!(!ran);
    drop(held);
    assert_eq!(bulkhead.in_flight(), 0);
}

#[test]
fn the_default_limit_and_an_adaptive_one() {
    let fixed: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    assert_eq!(fixed.limit(), 25);
    let config = BulkheadConfig::builder()
        .max_concurrent(200)
        .build()
        .unwrap();
    let adaptive: BulkheadPolicy<64, Aimd> = BulkheadPolicy::adaptive(config, Aimd::DEFAULT);
    assert_eq!(adaptive.limit(), 20, "AIMD starts at its initial limit");
    let slot = adaptive.acquire_blocking().unwrap();
    slot.finish(Outcome::Success);
    assert_eq!(adaptive.in_flight(), 0);
}

/// `set_limit` moves the limit under the configured `max_concurrent` (asking
/// more gives the ceiling); `change_config` moves the ceiling itself, as the
/// registry does, and a raised limit admits at once.
#[test]
fn set_limit_stays_under_max_concurrent_and_change_config_raises_it() {
    let bulkhead: BulkheadPolicy = BulkheadPolicy::new(config(1, Duration::ZERO));
    let held = bulkhead.try_acquire().unwrap();
    assert_eq!(bulkhead.set_limit(2), 1, "max_concurrent is the ceiling");
    assert!(bulkhead.try_acquire().is_err());
    assert_eq!(bulkhead.change_config(config(2, Duration::ZERO)), 2);
    let second = bulkhead.try_acquire().expect("the raised limit admits");
    drop((held, second));
    assert_eq!(bulkhead.in_flight(), 0);
}
