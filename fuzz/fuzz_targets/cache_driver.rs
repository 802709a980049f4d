//! Fuzzes the driver's cache (`SharedCache::get_or_load`) with miss
//! coalescing: up to 8 calls over 3 keys, each a future polled by hand (a
//! recording waker per call) in the order the fuzzer picks, on a virtual
//! clock whose timers fire only when the fuzzer moves it. Loaders succeed,
//! fail, or are dropped mid-flight (their call dropped), when the fuzzer
//! says. Three stores, one per input: the core `Cache` in a `WithWaiters`
//! registry with room for every call (followers are woken), in one with
//! room for 2 (the rest re-check on the timer), and the bare core `Cache`
//! (no registry: every follower re-checks on the timer); and every input
//! again on the std `QuickStore` (the core's `Entry` records in a
//! `quick_cache`, its own unbounded registry: followers are woken). Every
//! decision is the core's `GetOrLoad`; the driver only executes them.
//!
//! Checks, besides "never panics, never overflows":
//!
//! - coalescing: a loader for a key never starts while another loader of
//!   the key runs that started less than the lease ago;
//! - no lost wake-up: once the fuzzer's steps are done, every loader is
//!   made to succeed and only the calls that were woken (or never polled)
//!   are polled, with the clock standing still: with room for every
//!   follower every call must end; otherwise every call ends within a few
//!   re-check intervals;
//! - no value is served past its expiry plus `max_stale` (values are
//!   unique, so each answer is traced to the instant it was stored); a
//!   fresh or loaded one only before its expiry; a stale one says its age
//!   exactly;
//! - a stale answer only after a failure: the call's own loader failed, or
//!   since the call began a load of the key failed, was dropped or outran
//!   its lease.
#![no_main]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Wake;

use arbitrary::Arbitrary;
use failsafe_core::Instant;
use failsafe_core::cache::{Cache, CacheConfig};
use failsafe_core::sync::CsLock;
use failsafe_driver::cache::WithWaiters;
use failsafe_driver::{CacheError, CacheStore, Cached, Clock, QuickStore, Runtime, SharedCache};
use libfuzzer_sys::fuzz_target;

const SLOTS: usize = 8;
const KEYS: u8 = 3;

#[derive(Arbitrary, Debug)]
struct Input {
    ttl_ms: u16,
    max_stale_ms: u16,
    negative_ms: Option<u16>,
    refresh_ms: Option<u16>,
    lease_ms: u16,
    recheck_ms: u16,
    store: StoreKind,
    steps: Vec<Op>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum StoreKind {
    /// `WithWaiters` with room for every call: every follower is woken.
    Waking,
    /// `WithWaiters` with room for 2: the others re-check on the timer.
    Cramped,
    /// The bare core `Cache`: every follower re-checks on the timer.
    Bare,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    /// A new call of a key in an empty slot (not yet polled).
    Start(u8, u8),
    /// Polls a slot's call (woken or not: a spurious poll is allowed).
    Poll(u8),
    /// Polls every call that was woken.
    PollWoken,
    /// Ends a slot's running loader: Ok or Err.
    Finish(u8, bool),
    /// Drops a slot's call (and its loader, if it leads).
    Drop(u8),
    /// Moves the clock forward, firing the timers due.
    Advance(u16),
}

// ---- the virtual runtime ----

#[derive(Default)]
struct Time {
    now: Cell<Instant>,
    timers: RefCell<Vec<(Instant, Waker)>>,
}

#[derive(Clone, Default)]
struct Rt(Rc<Time>);

impl Clock for Rt {
    fn now(&self) -> Instant {
        self.0.now.get()
    }
}

struct Sleep {
    time: Rc<Time>,
    at: Instant,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.time.now.get() >= self.at {
            return Poll::Ready(());
        }
        self.time
            .timers
            .borrow_mut()
            .push((self.at, cx.waker().clone()));
        Poll::Pending
    }
}

impl Runtime for Rt {
    type Sleep = Sleep;
    fn sleep_until(&self, at: Instant) -> Sleep {
        Sleep {
            time: self.0.clone(),
            at,
        }
    }
}

impl Rt {
    fn advance(&self, by: Duration) {
        let now = self.0.now.get().saturating_add(by);
        self.0.now.set(now);
        let due: Vec<Waker> = {
            let mut timers = self.0.timers.borrow_mut();
            let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(at, _)| *at <= now);
            *timers = rest;
            due.into_iter().map(|(_, w)| w).collect()
        };
        for w in due {
            w.wake();
        }
    }
}

// ---- recording wakers and loaders ----

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A loader's state, shared with the harness.
#[derive(Default)]
struct LoaderCtl {
    started: Option<Instant>,
    outcome: Option<Result<u32, u8>>,
    waker: Option<Waker>,
    done: bool,
}

/// What the harness knows of all loaders.
#[derive(Default)]
struct World {
    /// Per key: running loaders' start instants, by loader id.
    running: HashMap<u8, Vec<(u64, Instant)>>,
    /// Per key: loads that ended without a value (failed, dropped) or
    /// outran their lease.
    lapses: HashMap<u8, u64>,
    /// Every value ever loaded: its key and when it was stored.
    stored: HashMap<u32, (u8, Instant)>,
    next_value: u32,
    next_loader: u64,
    lease: Duration,
}

struct LoadFuture {
    ctl: Rc<RefCell<LoaderCtl>>,
    world: Rc<RefCell<World>>,
    rt: Rt,
    key: u8,
    id: u64,
}

impl Future for LoadFuture {
    type Output = Result<u32, u8>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<u32, u8>> {
        let mut ctl = self.ctl.borrow_mut();
        match ctl.outcome {
            Some(outcome) => {
                ctl.done = true;
                drop(ctl);
                self.end(outcome.is_err());
                if let Ok(v) = outcome {
                    // Stored at this instant (the driver stores it in the
                    // same poll).
                    self.world
                        .borrow_mut()
                        .stored
                        .insert(v, (self.key, self.rt.now()));
                }
                Poll::Ready(outcome)
            }
            None => {
                ctl.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl LoadFuture {
    fn end(&self, lapsed: bool) {
        let mut world = self.world.borrow_mut();
        let lease = world.lease;
        let now = self.rt.now();
        let running = world.running.entry(self.key).or_default();
        let mut overran = false;
        running.retain(|(id, started)| {
            if *id == self.id {
                overran = now.saturating_duration_since(*started) >= lease;
                false
            } else {
                true
            }
        });
        if lapsed || overran {
            *world.lapses.entry(self.key).or_default() += 1;
        }

    }
}

impl Drop for LoadFuture {
    fn drop(&mut self) {
        if !self.ctl.borrow().done {
            self.end(true);
        }
    }
}

type Answer = Result<Cached<u32>, CacheError<u8>>;

struct Call<'a> {
    key: u8,
    fut: Pin<Box<dyn Future<Output = Answer> + 'a>>,
    flag: Arc<Flag>,
    polled: bool,
    ctl: Rc<RefCell<LoaderCtl>>,
    began: Instant,
    lapses_at_start: u64,
}

struct Harness<'a, S: CacheStore<Key = u8, Value = u32>> {
    cache: &'a SharedCache<S, CsLock<S>, Rt>,
    rt: Rt,
    world: Rc<RefCell<World>>,
    config: CacheConfig,
    slots: [Option<Call<'a>>; SLOTS],
}

impl<'a, S: CacheStore<Key = u8, Value = u32>> Harness<'a, S> {
    fn start(&mut self, slot: usize, key: u8) {
        if self.slots[slot].is_some() {
            return;
        }
        let ctl = Rc::new(RefCell::new(LoaderCtl::default()));
        let (world, rt, c) = (self.world.clone(), self.rt.clone(), ctl.clone());
        let loader = move || {
            let id = {
                let mut w = world.borrow_mut();
                let now = rt.now();
                let lease = w.lease;
                let running = w.running.entry(key).or_default();
                for (_, started) in running.iter() {
                    assert!(
                        now.saturating_duration_since(*started) >= lease,
                        "a second loader of key {key} at {now} while one started at {started} runs within its lease"
                    );
                }
                w.next_loader += 1;
                let id = w.next_loader;
                if std::env::var_os("CACHE_DRIVER_TRACE").is_some() {
                    eprintln!("  loader {id} of key {key} starts at {now}");
                }
                w.running.entry(key).or_default().push((id, now));
                id
            };
            c.borrow_mut().started = Some(rt.now());
            LoadFuture {
                ctl: c,
                world,
                rt,
                key,
                id,
            }
        };
        let fut: Pin<Box<dyn Future<Output = Answer> + 'a>> =
            Box::pin(self.cache.get_or_load(key, loader));
        let lapses_at_start = self.lapses(key);
        self.slots[slot] = Some(Call {
            key,
            fut,
            flag: Arc::new(Flag(AtomicBool::new(false))),
            polled: false,
            ctl,
            began: self.rt.now(),
            lapses_at_start,
        });
    }

    fn lapses(&self, key: u8) -> u64 {
        self.world.borrow().lapses.get(&key).copied().unwrap_or(0)
    }

    fn poll(&mut self, slot: usize) {
        let Some(call) = self.slots[slot].as_mut() else {
            return;
        };
        call.polled = true;
        call.flag.0.store(false, Ordering::SeqCst);
        let waker = Waker::from(call.flag.clone());
        let mut cx = Context::from_waker(&waker);
        if let Poll::Ready(answer) = call.fut.as_mut().poll(&mut cx) {
            let call = self.slots[slot].take().unwrap();
            if std::env::var_os("CACHE_DRIVER_TRACE").is_some() {
                eprintln!("  slot {slot} (key {}) answers {answer:?}", call.key);
            }
            self.check(&call, answer);
        }
    }

    fn check(&self, call: &Call<'_>, answer: Answer) {
        let now = self.rt.now();
        let ttl = self.config.time_to_live().unwrap_or(Duration::MAX);
        let max_stale = self.config.max_stale();
        let world = self.world.borrow();
        let stored_at = |v: &u32| {
            let (k, at) = *world.stored.get(v).expect("an answer is a loaded value");
            assert_eq!(k, call.key, "a value of another key");
            at
        };
        match answer {
            Ok(Cached::Fresh(v)) | Ok(Cached::Loaded(v)) => {
                let expiry = stored_at(&v).saturating_add(ttl);
                assert!(now < expiry, "fresh value {v} served at {now}, expired at {expiry}");
            }
            Ok(Cached::Stale { value, age }) => {
                let expiry = stored_at(&value).saturating_add(ttl);
                assert!(now >= expiry, "a stale answer before expiry");
                assert_eq!(age, now.saturating_duration_since(expiry), "stale age");
                assert!(age < max_stale, "stale value served {age:?} past expiry");
                let own_failure = matches!(call.ctl.borrow().outcome, Some(Err(_)));
                let running_overran = world.running.get(&call.key).is_some_and(|r| {
                    r.iter()
                        .any(|(_, s)| now.saturating_duration_since(*s) >= world.lease)
                });
                let lapses = world.lapses.get(&call.key).copied().unwrap_or(0);
                assert!(
                    own_failure || running_overran || lapses > call.lapses_at_start,
                    "a stale answer with no failure (call began at {})",
                    call.began
                );
            }
            Err(CacheError::Load(_)) => {
                assert!(
                    matches!(call.ctl.borrow().outcome, Some(Err(_))),
                    "a load error without this call's loader failing"
                );
            }
            Err(CacheError::Negative { until }) => {
                assert!(self.config.negative_ttl().is_some(), "negative without negative_ttl");
                assert!(until > now, "a negative answer past its end");
            }
        }
    }

    fn finish(&mut self, slot: usize, ok: bool) {
        let Some(call) = self.slots[slot].as_ref() else {
            return;
        };
        let mut ctl = call.ctl.borrow_mut();
        if ctl.started.is_none() || ctl.outcome.is_some() {
            return;
        }
        ctl.outcome = Some(if ok {
            let mut w = self.world.borrow_mut();
            w.next_value += 1;
            Ok(w.next_value)
        } else {
            Err(1)
        });
        if let Some(w) = ctl.waker.take() {
            w.wake();
        }
    }

    fn poll_woken(&mut self) -> bool {
        let mut any = false;
        for slot in 0..SLOTS {
            let due = self.slots[slot]
                .as_ref()
                .is_some_and(|c| !c.polled || c.flag.0.load(Ordering::SeqCst));
            if due {
                any = true;
                self.poll(slot);
            }
        }
        any
    }

    fn pending(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Every loader succeeds; only woken calls are polled.
    fn settle(&mut self, waking: bool, recheck: Duration) {
        for _ in 0..(SLOTS * 8) {
            for slot in 0..SLOTS {
                self.finish(slot, true);
            }
            if !self.poll_woken() {
                if self.pending() == 0 {
                    return;
                }
                assert!(
                    !waking,
                    "{} calls left pending, never woken, though every leader ended",
                    self.pending()
                );
                self.rt.advance(recheck);
            }
        }
        assert_eq!(self.pending(), 0, "calls still pending after the settle");
    }
}

fn ms(n: u16) -> Duration {
    Duration::from_millis(n.into())
}

fn run<S: CacheStore<Key = u8, Value = u32>>(
    input: &Input,
    config: CacheConfig,
    waking: bool,
    store: S,
) {
    let rt = Rt::default();
    let lease = ms(input.lease_ms.max(1));
    let recheck = ms(input.recheck_ms.max(1));
    let cache = SharedCache::new(CsLock::new(store), rt.clone())
        .timing(lease, recheck)
        .unwrap();
    let world = Rc::new(RefCell::new(World {
        lease,
        ..World::default()
    }));
    let mut h = Harness {
        cache: &cache,
        rt: rt.clone(),
        world,
        config,
        slots: Default::default(),
    };
    let trace = std::env::var_os("CACHE_DRIVER_TRACE").is_some();
    for op in input.steps.iter().take(256) {
        if trace {
            eprintln!("t={} {op:?}", rt.now());
        }
        match *op {
            Op::Start(slot, key) => h.start(usize::from(slot) % SLOTS, key % KEYS),
            Op::Poll(slot) => h.poll(usize::from(slot) % SLOTS),
            Op::PollWoken => {
                h.poll_woken();
            }
            Op::Finish(slot, ok) => h.finish(usize::from(slot) % SLOTS, ok),
            Op::Drop(slot) => h.slots[usize::from(slot) % SLOTS] = None,
            Op::Advance(by) => rt.advance(ms(by)),
        }
    }
    h.settle(waking, recheck);
    drop(h);
    // Every load mark is gone and nothing waits: a new call leads at once.
    for key in 0..KEYS {
        cache.with(|s| s.end_load(&key));
    }
}

fuzz_target!(|input: Input| {
    let mut b = CacheConfig::builder()
        .time_to_live(ms(input.ttl_ms.max(1)))
        .max_stale(ms(input.max_stale_ms));
    if let Some(n) = input.negative_ms {
        b = b.negative_ttl(ms(n.max(1)));
    }
    if let Some(r) = input.refresh_ms
        && r < input.ttl_ms.max(1)
    {
        b = b.refresh_ahead(ms(r.max(1)));
    }
    let Ok(config) = b.build() else {
        return;
    };
    let store: Cache<u8, u32, 16> = Cache::new(config, 7);
    match input.store {
        StoreKind::Waking => run(&input, config, true, WithWaiters::<_, SLOTS>::new(store)),
        StoreKind::Cramped => run(&input, config, false, WithWaiters::<_, 2>::new(store)),
        StoreKind::Bare => run(&input, config, false, store),
    }
    run(&input, config, true, QuickStore::new(64, config).unwrap());
});
