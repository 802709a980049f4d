//! A randomized model check of the driver's bulkhead waits: thousands of
//! seeded runs of random steps (new waiters, polls, dropped waiters, calls
//! finishing or abandoned, time jumping, the limit moved by hand) against
//! one shared bulkhead, checking after every step that
//!
//! - calls running never exceed the limit (nor slots taken, unless the
//!   limit was just lowered), and the counts add up (`in_flight ==
//!   acquired - released`);
//! - slots go to waiters in the order they queued;
//! - a waiter granted a slot was woken for it (no lost wake-up);
//! - a waiter is never told its wait ran out before its deadline, and
//!   never waits past it: at its timer it has an answer;
//! - when everything is dropped, nothing is left: no slot, no waiter.
//!
//! Time is virtual: timers complete when the test has moved the clock
//! past them, so nothing sleeps.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::rng::{Rng, Xorshift64};
use failsafe_core::sync::{CsLock, SharedBulkhead};
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_driver::{Admit, Ask, Clock, Runtime};

type Pool = SharedBulkhead<8, (), CsLock<Bulkhead<8>>>;

#[derive(Default)]
struct Virtual {
    now: Cell<Instant>,
}

impl Clock for Virtual {
    fn now(&self) -> Instant {
        self.now.get()
    }
}

/// Completes once the clock reads `at`; the test polls again after moving it.
struct Timer<'a> {
    rt: &'a Virtual,
    at: Instant,
    armed: &'a RefCell<Option<Instant>>,
}

impl Future for Timer<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.rt.now() >= self.at {
            Poll::Ready(())
        } else {
            *self.armed.borrow_mut() = Some(self.at);
            Poll::Pending
        }
    }
}

/// The runtime one waiter sees: the shared clock, and a note of the timer
/// it armed last.
#[derive(Clone, Copy)]
struct View<'a> {
    rt: &'a Virtual,
    armed: &'a RefCell<Option<Instant>>,
}

impl Clock for View<'_> {
    fn now(&self) -> Instant {
        self.rt.now()
    }
}

impl<'a> Runtime for View<'a> {
    type Sleep = Timer<'a>;
    fn sleep_until(&self, at: Instant) -> Timer<'a> {
        Timer {
            rt: self.rt,
            at,
            armed: self.armed,
        }
    }
}

#[derive(Default)]
struct Wakes(AtomicUsize);

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

struct Waiter<'a> {
    id: u64,
    future: Pin<Box<Admit<&'a Pool, View<'a>>>>,
    wakes: Arc<Wakes>,
    seen: usize,
    armed: &'a RefCell<Option<Instant>>,
    /// When it asked (its deadline is `asked + max_wait`).
    asked: Instant,
    /// Its place in the order of queueing, once it got `Pending`.
    queued: Option<u64>,
}

type Guard<'a> = failsafe_driver::Guard<&'a Pool, View<'a>>;

struct Model<'a> {
    pool: &'a Pool,
    rt: &'a Virtual,
    max_wait: Duration,
    waiters: Vec<Waiter<'a>>,
    running: Vec<Guard<'a>>,
    /// Waiters queued so far.
    queued: u64,
    /// Slots collected by waiters that had queued.
    handed_over: u64,
    next_id: u64,
    lowered: bool,
}

impl<'a> Model<'a> {
    /// Polls waiter `i`; `true` if it still waits (otherwise it is gone).
    fn poll(&mut self, i: usize) -> bool {
        let w = &mut self.waiters[i];
        let waker = Waker::from(w.wakes.clone());
        let before = w.wakes.0.load(Ordering::SeqCst);
        let r = w.future.as_mut().poll(&mut Context::from_waker(&waker));
        let now = self.rt.now();
        let deadline = w.asked.saturating_add(self.max_wait);
        match r {
            Poll::Pending => {
                assert!(
                    now < deadline,
                    "waiter {} still waits at its deadline",
                    w.id
                );
                if w.queued.is_none() {
                    w.queued = Some(self.queued);
                    self.queued += 1;
                }
                w.seen = before;
                true
            }
            Poll::Ready(Ok(guard)) => {
                if let Some(place) = w.queued {
                    assert!(before > w.seen, "waiter {} granted without a wake-up", w.id);
                    // FIFO: whoever queued earlier and is still here was
                    // granted a slot first, or its wait ran out, and was
                    // woken for it when this one was granted.
                    for v in &self.waiters {
                        if v.queued.is_some_and(|p| p < place) {
                            let woken = v.wakes.0.load(Ordering::SeqCst) > v.seen;
                            assert!(
                                woken,
                                "waiter {} overtook waiter {}",
                                self.waiters[i].id, v.id
                            );
                        }
                    }
                }
                if self.waiters[i].queued.is_some() {
                    self.handed_over += 1;
                }
                self.waiters.swap_remove(i);
                self.running.push(guard);
                false
            }
            Poll::Ready(Err(r)) => {
                if r.reason == RejectReason::BulkheadWaitExpired {
                    assert!(now >= deadline, "waiter {} expired early", w.id);
                }
                self.waiters.swap_remove(i);
                false
            }
        }
    }

    fn check(&self) {
        let m = self.pool.metrics();
        assert_eq!(u64::from(m.in_flight), m.acquired - m.released);
        assert!(self.running.len() as u32 <= m.in_flight);
        if !self.lowered {
            assert!(
                m.in_flight <= m.limit,
                "{} slots taken, limit {}",
                m.in_flight,
                m.limit
            );
        }
    }
}

fn run(
    seed: u64,
    arms: &[RefCell<Option<Instant>>],
) -> (failsafe_core::bulkhead::BulkheadMetrics, u64) {
    let mut rng = Xorshift64::new(seed);
    let limit = 1 + (rng.next_u64() % 4) as u32;
    let max_wait = Duration::from_millis(rng.next_u64() % 60);
    let config = BulkheadConfig::builder()
        .max_concurrent(limit + 2)
        .max_wait(max_wait)
        .build()
        .unwrap();
    let mut machine = Bulkhead::new(config);
    machine.set_limit(Instant::ZERO, limit);
    let pool: Pool = SharedBulkhead::new(CsLock::new(machine));
    let rt = Virtual::default();
    let mut model = Model {
        pool: &pool,
        rt: &rt,
        max_wait,
        waiters: Vec::new(),
        running: Vec::new(),
        queued: 0,
        handed_over: 0,
        next_id: 0,
        lowered: false,
    };
    let mut arms_used = 0;
    for _ in 0..120 {
        match rng.next_u64() % 9 {
            0 | 1 if arms_used < arms.len() => {
                let armed = &arms[arms_used];
                arms_used += 1;
                let view = View { rt: &rt, armed };
                model.waiters.push(Waiter {
                    id: model.next_id,
                    future: Box::pin(Admit::new(&pool, view, Ask::DEFAULT)),
                    wakes: Arc::default(),
                    seen: 0,
                    armed,
                    asked: rt.now(),
                    queued: None,
                });
                model.next_id += 1;
                let i = model.waiters.len() - 1;
                model.poll(i);
            }
            2 | 3 if !model.waiters.is_empty() => {
                let i = (rng.next_u64() % model.waiters.len() as u64) as usize;
                model.poll(i);
            }
            4 if !model.waiters.is_empty() => {
                let i = (rng.next_u64() % model.waiters.len() as u64) as usize;
                model.waiters.swap_remove(i); // gives up: cancels
            }
            5 | 6 if !model.running.is_empty() => {
                let i = (rng.next_u64() % model.running.len() as u64) as usize;
                let guard = model.running.swap_remove(i);
                match rng.next_u64() % 3 {
                    0 => drop(guard),
                    1 => guard.finish(Outcome::Success),
                    _ => guard.finish(Outcome::Failure),
                }
            }
            7 => {
                let step = Duration::from_millis(rng.next_u64() % 30);
                rt.now.set(rt.now().saturating_add(step));
                // every waiter whose timer is due, or that was woken, polls
                let mut i = 0;
                while i < model.waiters.len() {
                    let w = &model.waiters[i];
                    let due = w.armed.borrow().is_some_and(|at| rt.now() >= at);
                    let woken = w.wakes.0.load(Ordering::SeqCst) > w.seen;
                    if (due || woken) && !model.poll(i) {
                        continue; // swap_remove'd: look at index i again
                    }
                    i += 1;
                }
            }
            8 => {
                let to = 1 + (rng.next_u64() % (limit as u64 + 2)) as u32;
                let from = pool.with(|b| b.limit());
                model.lowered |= to < from;
                let now = rt.now();
                pool.with(|b| b.set_limit(now, to));
            }
            _ => {}
        }
        model.check();
    }
    // Every waiter has an answer by its timer: jump time past every wait.
    rt.now.set(rt.now().saturating_add(max_wait));
    while !model.waiters.is_empty() {
        let before = model.waiters.len();
        model.poll(0);
        assert!(
            model.waiters.len() < before,
            "a waiter still waits past its deadline"
        );
    }
    model.running.clear();
    model.check();
    let m = pool.metrics();
    assert_eq!(
        (m.in_flight, m.queued),
        (0, 0),
        "seed {seed}: something leaked"
    );
    (m, model.handed_over)
}

#[test]
fn random_timelines_keep_the_limit_the_order_and_every_slot() {
    let arms: Vec<RefCell<Option<Instant>>> = (0..200).map(|_| RefCell::new(None)).collect();
    let (mut handed_over, mut rejected, mut expired, mut cancelled) = (0, 0, 0, 0);
    for seed in 1..=2_000u64 {
        for a in &arms {
            *a.borrow_mut() = None;
        }
        let (m, handed) = run(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), &arms);
        handed_over += handed;
        rejected += m.rejected;
        expired += m.expired;
        cancelled += m.cancelled;
    }
    // the timelines went through every path
    eprintln!(
        "handed over {handed_over}, rejected {rejected}, expired {expired}, cancelled {cancelled}"
    );
    assert!(handed_over > 1_000 && rejected > 100 && expired > 1_000 && cancelled > 1_000);
}
