//! Fuzzes the bulkhead: an arbitrary `BulkheadConfig` (any `max_concurrent`
//! and `max_wait`, invalid ones included) with a fixed limit or an adaptive
//! one (`Aimd`, `Vegas`, `Gradient2` from arbitrary builder settings, NaN,
//! infinities and inverted bounds included), a queue of four places, and a
//! timeline of `try_acquire`, `poll_acquire` on six tickets (each with its
//! own waker), `cancel`, `release` of any held permit with any outcome,
//! `on_deadline`, `set_limit` and `change_config`, with `now` free to stall, step back, sit
//! near `u64::MAX` or land on `next_deadline()`; plus raw samples fed to a
//! copy of the limit algorithm (any rtt, in-flight count and drop).
//!
//! Besides "never panics, never overflows" (cargo-fuzz builds with debug
//! assertions and overflow checks), every step checks:
//!
//! - an invalid configuration or algorithm is an `Err` naming the first bad
//!   field in the builder's order, a valid one is accepted;
//! - nobody is admitted beyond the limit in force: every `Acquired` event
//!   has `in_flight <= limit`, a permit handed out at once carries
//!   `in_flight <= limit()`;
//! - FIFO: a waiter leaves the queue (granted or expired, which owes it a
//!   wake-up, or told of its expiry on its own poll) only when it is the
//!   first still waiting; a woken ticket's next poll is `Ready`, never
//!   `Pending`; a ticket still waiting never polls `Ready(Ok)`; nobody is
//!   admitted at once while someone waits; no slot sits free while someone
//!   waits (work-conserving);
//! - slots: `in_flight` is the held permits plus grants not yet collected,
//!   `in_flight == acquired - released`, `queued()` never exceeds the queue;
//!   after releasing every permit and cancelling every ticket nothing is in
//!   flight or queued (no slot leaks);
//! - limits: the algorithm's limit stays within the `[min, max]` asked for
//!   (compared with the input, not read back from the algorithm), the
//!   bulkhead's is that clamped to `[1, max_concurrent]`, every
//!   `LimitChanged` says so, `set_limit` returns the limit in force;
//! - deadlines: `next_deadline()` only while someone waits, never
//!   `Instant::MAX`; `on_deadline` earlier than it changes nothing, at or
//!   after it expires the first waiter;
//! - a `SharedBulkhead` (a `CsLock`; it wakes its waiters itself, outside
//!   the lock) fed the same calls with its own tickets and wakers decides
//!   exactly as the bare machine, reports the same metrics, and wakes the
//!   same waiters in the same order;
//! - the clock contract: a bulkhead fed `max(now, latest)` for every call
//!   (its own tickets, wakers and permits) decides, wakes and counts exactly
//!   as this one.
#![no_main]

use core::task::{Poll, Waker};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::task::Wake;

use arbitrary::Arbitrary;
use failsafe_core::bulkhead::{
    Aimd, Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadPermit, FixedLimit, Gradient2,
    LimitAlgorithm, Ticket, Vegas,
};
use failsafe_core::sync::{CsLock, SharedBulkhead};
use failsafe_core::{ConfigError, Instant, Observer, Outcome, RejectReason};
use libfuzzer_sys::fuzz_target;

/// Places in the wait queue.
const Q: usize = 4;
/// Tickets the harness juggles (more than the queue holds).
const TICKETS: usize = 6;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dur {
    Zero,
    Nanos(u16),
    Millis(u16),
    Secs(u32),
    Raw(u64),
    Max,
}

impl Dur {
    fn get(self) -> Duration {
        match self {
            Dur::Zero => Duration::ZERO,
            Dur::Nanos(n) => Duration::from_nanos(n.into()),
            Dur::Millis(ms) => Duration::from_millis(ms.into()),
            Dur::Secs(s) => Duration::from_secs(s.into()),
            Dur::Raw(n) => Duration::from_nanos(n),
            Dur::Max => Duration::MAX,
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A limit: small ones most of the time, any `u32` now and then.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Limit {
    Small(u8),
    Any(u32),
}

impl Limit {
    fn get(self) -> u32 {
        match self {
            Limit::Small(n) => u32::from(n % 12),
            Limit::Any(n) => n,
        }
    }
}

/// A float setting: a friendly percentage or any `f32` at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Float {
    Percent(u16),
    Raw(f32),
}

impl Float {
    fn get(self) -> f32 {
        match self {
            Float::Percent(p) => f32::from(p) / 100.0,
            Float::Raw(r) => r,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Limits {
    min: Limit,
    initial: Limit,
    max: Limit,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AlgoIn {
    Fixed,
    Aimd {
        limits: Limits,
        backoff_ratio: Float,
        timeout: Dur,
    },
    Vegas {
        limits: Limits,
        alpha: Float,
        beta: Float,
        smoothing: Float,
        probe_multiplier: u8,
    },
    Gradient2 {
        limits: Limits,
        rtt_tolerance: Float,
        smoothing: Float,
        queue_size: u8,
        long_window: u16,
    },
}

/// The core's reading of an `f32` setting (six decimals kept).
fn decimal(x: f32) -> f64 {
    let x = f64::from(x);
    if x > 0.0 && x < 1.0e9 {
        let rounded = (x * 1.0e6 + 0.5) as u64 as f64 / 1.0e6;
        if rounded > 0.0 { rounded } else { x }
    } else {
        x
    }
}

fn limits_problem(l: Limits) -> Option<&'static str> {
    let (min, initial, max) = (l.min.get(), l.initial.get(), l.max.get());
    if min == 0 {
        Some("min_limit")
    } else if max < min {
        Some("max_limit")
    } else if initial < min || initial > max {
        Some("initial_limit")
    } else {
        None
    }
}

fn ratio_bad(r: f32) -> bool {
    r.is_nan() || r <= 0.0 || r > 1.0
}

/// The first field the builder must name, in its order of checks.
fn algo_problem(a: AlgoIn) -> Option<&'static str> {
    match a {
        AlgoIn::Fixed => None,
        AlgoIn::Aimd {
            limits,
            backoff_ratio,
            timeout,
        } => limits_problem(limits)
            .or_else(|| ratio_bad(backoff_ratio.get()).then_some("backoff_ratio"))
            .or_else(|| (nanos(timeout.get()) == 0).then_some("timeout")),
        AlgoIn::Vegas {
            limits,
            alpha,
            beta,
            smoothing,
            probe_multiplier,
        } => {
            let (alpha, beta) = (alpha.get(), beta.get());
            limits_problem(limits)
                .or_else(|| {
                    (alpha.is_nan() || alpha <= 0.0 || alpha.is_infinite()).then_some("alpha")
                })
                .or_else(|| {
                    (beta.is_nan() || decimal(beta) < decimal(alpha) || beta.is_infinite())
                        .then_some("beta")
                })
                .or_else(|| ratio_bad(smoothing.get()).then_some("smoothing"))
                .or_else(|| (probe_multiplier == 0).then_some("probe_multiplier"))
        }
        AlgoIn::Gradient2 {
            limits,
            rtt_tolerance,
            smoothing,
            queue_size,
            long_window,
        } => {
            let t = rtt_tolerance.get();
            limits_problem(limits)
                .or_else(|| (t.is_nan() || t < 1.0 || t.is_infinite()).then_some("rtt_tolerance"))
                .or_else(|| ratio_bad(smoothing.get()).then_some("smoothing"))
                .or_else(|| (queue_size == 0).then_some("queue_size"))
                .or_else(|| (long_window == 0).then_some("long_window"))
        }
    }
}

/// The next `now`, relative to the latest one (so time can step back).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Time {
    Same,
    LaterNanos(u8),
    LaterMicros(u32),
    LaterMillis(u16),
    EarlierMicros(u32),
    At(u64),
    NearMax(u16),
    Max,
    /// `next_deadline()` (or the same time), as a well-behaved driver wakes.
    Deadline,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum OutcomeIn {
    Success,
    Failure,
    Timeout,
    Cancelled,
    Ignored,
    Unhealthy,
}

impl OutcomeIn {
    fn get(self) -> Outcome {
        match self {
            OutcomeIn::Success => Outcome::Success,
            OutcomeIn::Failure => Outcome::Failure,
            OutcomeIn::Timeout => Outcome::Timeout,
            OutcomeIn::Cancelled => Outcome::Cancelled,
            OutcomeIn::Ignored => Outcome::Ignored,
            OutcomeIn::Unhealthy => Outcome::Unhealthy,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Event {
    TryAcquire(Time),
    Poll(Time, u8),
    Cancel(Time, u8),
    Release(Time, u8, OutcomeIn),
    OnDeadline(Time),
    SetLimit(Time, Limit),
    /// A raw sample to a copy of the algorithm.
    Sample(Dur, Limit, bool),
    /// The static limit change: a new `max_concurrent` and `max_wait`
    /// (an invalid configuration is skipped).
    ChangeConfig(Time, Limit, Dur),
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_concurrent: Limit,
    max_wait: Dur,
    algorithm: AlgoIn,
    events: Vec<Event>,
}

/// Records the bulkhead's events.
#[derive(Debug, Default)]
struct Tally(Vec<BulkheadEvent>);

impl Observer<BulkheadEvent> for Tally {
    fn on_event(&mut self, event: BulkheadEvent) {
        self.0.push(event);
    }
}

/// A waker that logs which ticket it belongs to, in wake-up order.
struct Log {
    ticket: usize,
    woken: Arc<Mutex<Vec<usize>>>,
}

impl Wake for Log {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.lock().unwrap().push(self.ticket);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Idle,
    /// Queued, believed waiting (not woken yet).
    Waiting,
    /// Woken: granted or expired; its next poll says which.
    Woken,
}

/// The same bulkhead shared through `&self` (a `CsLock`), which wakes its
/// waiters itself, outside the lock: fed the same calls, with its own
/// tickets and wakers.
type Twin<A> = SharedBulkhead<Q, (), CsLock<Bulkhead<Q, (), A>>, A>;

struct Harness<A> {
    bulkhead: Bulkhead<Q, Tally, A>,
    /// The clock contract: the same bulkhead fed `max(now, latest)` for
    /// every call, with its own tickets, wakers and permits, decides, wakes
    /// and counts exactly as this one.
    clamped: Bulkhead<Q, (), A>,
    clamped_tickets: Vec<Ticket>,
    clamped_wakers: Vec<Waker>,
    clamped_woken: Arc<Mutex<Vec<usize>>>,
    clamped_permits: Vec<BulkheadPermit>,
    /// The latest `now` handed out.
    latest: u64,
    twin: Twin<A>,
    twin_tickets: Vec<Ticket>,
    twin_wakers: Vec<Waker>,
    twin_woken: Arc<Mutex<Vec<usize>>>,
    /// The twin's permits, in the same order as `permits`.
    twin_permits: Vec<BulkheadPermit>,
    algo: A,
    min: u32,
    max: u32,
    max_concurrent: u32,
    max_wait: u64,
    cursor: u64,
    tickets: Vec<(Ticket, Place)>,
    wakers: Vec<Waker>,
    woken: Arc<Mutex<Vec<usize>>>,
    /// Believed-waiting tickets in queue order.
    queue: Vec<usize>,
    permits: Vec<BulkheadPermit>,
    events_seen: usize,
}

impl<A: LimitAlgorithm + Clone> Harness<A> {
    fn time(&mut self, t: Time) -> u64 {
        let base = self.cursor;
        let now = match t {
            Time::Same => base,
            Time::LaterNanos(n) => base.saturating_add(n.into()),
            Time::LaterMicros(us) => base.saturating_add(u64::from(us) * 1_000),
            Time::LaterMillis(ms) => base.saturating_add(u64::from(ms) * 1_000_000),
            Time::EarlierMicros(us) => base.saturating_sub(u64::from(us) * 1_000),
            Time::At(n) => n,
            Time::NearMax(back) => u64::MAX - u64::from(back),
            Time::Max => u64::MAX,
            Time::Deadline => self
                .bulkhead
                .next_deadline()
                .map_or(base, Instant::as_nanos),
        };
        self.cursor = now;
        now
    }

    /// `max(now, latest seen)`, what the clamped twin is fed. The bulkhead
    /// reads its time lazily: `try_acquire`, `poll_acquire` and
    /// `on_deadline` always read it (`seen`), `cancel`, `release` and
    /// `set_limit` only when they need it, so their `now` is not counted as
    /// seen (a fixed-limit `set_limit` near the end of time, then a
    /// `try_acquire` stepped back, issues its permit at the stepped-back
    /// `now`: by design, the time was never read).
    fn eff(&self, now: u64) -> Instant {
        Instant::from_nanos(now.max(self.latest))
    }

    /// Notes a `now` the bulkhead reads for sure; returns `eff(now)`.
    fn seen(&mut self, now: u64) -> Instant {
        self.latest = self.latest.max(now);
        self.eff(now)
    }

    /// The limit the bulkhead must be in force with.
    fn expected_limit(&self) -> u32 {
        let l = self.bulkhead.algorithm().limit();
        assert!(
            l >= self.min && l <= self.max,
            "algorithm limit {l} outside [{}, {}]",
            self.min,
            self.max
        );
        l.clamp(1, self.max_concurrent)
    }

    /// After every call: drain the owed wakers (as an adapter must), check
    /// FIFO on the wake-ups, the events and the slot accounting.
    fn settle(&mut self) {
        self.wakeups(None);
        self.check();
    }

    /// Drains and checks the wake-ups owed by the last call. `quiet` is the
    /// polling ticket if the call expired it: it leaves the queue at its
    /// place in line without a wake-up.
    fn wakeups(&mut self, mut quiet: Option<usize>) {
        while let Some(w) = self.bulkhead.pop_waker() {
            w.wake();
        }
        let woken: Vec<usize> = std::mem::take(&mut *self.woken.lock().unwrap());
        let twin_woken: Vec<usize> = std::mem::take(&mut *self.twin_woken.lock().unwrap());
        assert_eq!(twin_woken, woken, "SharedBulkhead woke other waiters");
        while let Some(w) = self.clamped.pop_waker() {
            w.wake();
        }
        let clamped_woken: Vec<usize> = std::mem::take(&mut *self.clamped_woken.lock().unwrap());
        assert_eq!(
            clamped_woken, woken,
            "clock contract: the bulkhead fed the latest now woke other waiters"
        );
        for t in woken {
            if quiet.is_some() && self.queue.first() == quiet.as_ref() {
                self.queue.remove(0);
                quiet = None;
            }
            assert_eq!(
                self.queue.first(),
                Some(&t),
                "ticket {t} woken out of order; queue {:?}",
                self.queue
            );
            self.queue.remove(0);
            self.tickets[t].1 = Place::Woken;
        }
        if let Some(q) = quiet {
            // Expired in this call, behind every waiter woken before it.
            assert_eq!(
                self.queue.first(),
                Some(&q),
                "ticket {q} expired out of order; queue {:?}",
                self.queue
            );
            self.queue.remove(0);
        }
    }

    /// The events, limits and slot accounting after a call.
    fn check(&mut self) {
        assert_eq!(
            self.twin.metrics(),
            self.bulkhead.metrics(),
            "SharedBulkhead went its own way"
        );
        assert_eq!(
            (
                self.clamped.metrics(),
                self.clamped.next_deadline(),
                self.clamped.limit()
            ),
            (
                self.bulkhead.metrics(),
                self.bulkhead.next_deadline(),
                self.bulkhead.limit()
            ),
            "clock contract: the bulkhead fed the latest now went its own way"
        );
        let limit = self.expected_limit();
        assert_eq!(self.bulkhead.limit(), limit);
        let events = &self.bulkhead.observer().0[self.events_seen..];
        for e in events {
            match *e {
                BulkheadEvent::Acquired {
                    in_flight, limit, ..
                } => {
                    assert!(in_flight <= limit, "admitted as {in_flight} of {limit}");
                    assert!(limit >= 1 && limit <= self.max_concurrent);
                }
                BulkheadEvent::LimitChanged { from, to } => {
                    assert_ne!(from, to);
                    assert!(to >= 1 && to <= self.max_concurrent);
                }
                BulkheadEvent::Queued { queued, .. } => assert!(queued <= Q),
                _ => {}
            }
        }
        self.events_seen = self.bulkhead.observer().0.len();
        let m = self.bulkhead.metrics();
        assert_eq!(m.in_flight, self.bulkhead.in_flight());
        assert_eq!(
            u64::from(m.in_flight),
            m.acquired - m.released,
            "in_flight is not acquired - released: {m:?}"
        );
        let held = self.permits.len() as u32;
        let woken = self
            .tickets
            .iter()
            .filter(|(_, p)| *p == Place::Woken)
            .count() as u32;
        assert!(
            m.in_flight >= held && m.in_flight <= held + woken,
            "{} in flight, {held} permits held, {woken} woken tickets",
            m.in_flight
        );
        assert!(m.queued <= Q);
        assert_eq!(
            m.queued,
            self.queue.len(),
            "the bulkhead's waiters are not the ones never woken: {:?}",
            self.queue
        );
        // Work-conserving: no slot sits free while someone waits for one.
        if m.queued > 0 {
            assert!(
                m.in_flight >= limit,
                "{} waiting with {} of {limit} slots taken",
                m.queued,
                m.in_flight
            );
        }
        if let Some(d) = self.bulkhead.next_deadline() {
            assert!(m.queued > 0, "a deadline with nobody waiting");
            assert_ne!(d, Instant::MAX);
        }
    }

    fn admitted_at_once(&self, permit: &BulkheadPermit, queued_before: usize) {
        assert!(
            permit.in_flight() <= self.bulkhead.limit(),
            "permit {} of limit {}",
            permit.in_flight(),
            self.bulkhead.limit()
        );
        assert_eq!(
            queued_before, 0,
            "admitted at once past {queued_before} waiters"
        );
    }

    fn try_acquire(&mut self, t: Time) {
        let raw = self.time(t);
        let eff = self.seen(raw);
        let now = Instant::from_nanos(raw);
        let result = self.bulkhead.try_acquire(now);
        let twin = self.twin.try_acquire(now);
        assert_eq!(result, twin, "SharedBulkhead decided otherwise");
        let clamped = self.clamped.try_acquire(eff);
        assert_eq!(
            result, clamped,
            "clock contract: try_acquire({now}) decided otherwise than at the latest now"
        );
        if let Ok(q) = clamped {
            self.clamped_permits.push(q);
        }
        if let Ok(q) = twin {
            self.twin_permits.push(q);
        }
        match result {
            Ok(p) => {
                self.admitted_at_once(&p, self.bulkhead.queued());
                self.permits.push(p);
                // Waiters may have expired in the call: they were woken in order.
                self.settle();
            }
            Err(r) => {
                assert_eq!((r.reason, r.retry_at), (RejectReason::BulkheadFull, None));
                self.settle();
            }
        }
    }

    fn poll(&mut self, t: Time, i: u8) {
        let i = usize::from(i) % TICKETS;
        let raw = self.time(t);
        let eff = self.seen(raw);
        let now = Instant::from_nanos(raw);
        let waker = self.wakers[i].clone();
        let place = self.tickets[i].1;
        let result = self
            .bulkhead
            .poll_acquire(now, &mut self.tickets[i].0, Some(&waker));
        let twin_waker = self.twin_wakers[i].clone();
        let twin = self
            .twin
            .poll_acquire(now, &mut self.twin_tickets[i], Some(&twin_waker));
        assert_eq!(result, twin, "SharedBulkhead decided otherwise");
        if let Poll::Ready(Ok(q)) = twin {
            self.twin_permits.push(q);
        }
        let clamped_waker = self.clamped_wakers[i].clone();
        let clamped =
            self.clamped
                .poll_acquire(eff, &mut self.clamped_tickets[i], Some(&clamped_waker));
        assert_eq!(
            result, clamped,
            "clock contract: poll_acquire({now}) decided otherwise than at the latest now"
        );
        if let Poll::Ready(Ok(q)) = clamped {
            self.clamped_permits.push(q);
        }
        // Others may be granted or expire in the call: wake-ups first.
        let quiet = matches!(
            (place, &result),
            (Place::Waiting, Poll::Ready(Err(r))) if r.reason == RejectReason::BulkheadWaitExpired
        );
        self.wakeups(quiet.then_some(i));
        match (place, result) {
            (Place::Idle, Poll::Ready(Ok(p))) => {
                self.admitted_at_once(&p, self.bulkhead.queued());
                self.permits.push(p);
            }
            (Place::Idle, Poll::Ready(Err(r))) => {
                let expected = if self.max_wait == 0 {
                    RejectReason::BulkheadFull
                } else {
                    RejectReason::BulkheadQueueFull
                };
                assert_eq!((r.reason, r.retry_at), (expected, None));
            }
            (Place::Idle, Poll::Pending) => {
                assert!(self.max_wait > 0, "queued with no wait allowed");
                assert!(self.tickets[i].0.is_queued());
                self.queue.push(i);
                self.tickets[i].1 = Place::Waiting;
            }
            (Place::Waiting, Poll::Ready(Ok(_))) => {
                panic!(
                    "ticket {i} granted without being woken (queue {:?})",
                    self.queue
                )
            }
            (Place::Waiting, Poll::Ready(Err(r))) => {
                // Its own expiry is not woken (checked in line above).
                assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
                self.tickets[i].1 = Place::Idle;
            }
            (Place::Waiting, Poll::Pending) => {}
            (Place::Woken, Poll::Ready(Ok(p))) => {
                assert!(p.in_flight() >= 1);
                self.permits.push(p);
                self.tickets[i].1 = Place::Idle;
            }
            (Place::Woken, Poll::Ready(Err(r))) => {
                assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
                self.tickets[i].1 = Place::Idle;
            }
            (Place::Woken, Poll::Pending) => panic!("woken ticket {i} still pending"),
        }
        if self.tickets[i].1 == Place::Idle {
            assert!(!self.tickets[i].0.is_queued());
        }
        self.check();
    }

    fn cancel(&mut self, t: Time, i: u8) {
        let i = usize::from(i) % TICKETS;
        let raw = self.time(t);
        let now = Instant::from_nanos(raw);
        // Cancelling a queued ticket notes the time (the clock contract),
        // even when it expires nobody else.
        let queued = self.tickets[i].0.is_queued();
        self.bulkhead.cancel(now, &mut self.tickets[i].0);
        self.twin.cancel(now, &mut self.twin_tickets[i]);
        let eff = if queued { self.seen(raw) } else { self.eff(raw) };
        self.clamped.cancel(eff, &mut self.clamped_tickets[i]);
        assert!(!self.tickets[i].0.is_queued());
        if self.tickets[i].1 == Place::Waiting {
            self.queue.retain(|&q| q != i);
        }
        self.tickets[i].1 = Place::Idle;
        self.settle();
    }

    fn release(&mut self, t: Time, i: u8, outcome: Outcome) {
        if self.permits.is_empty() {
            return;
        }
        let i = usize::from(i) % self.permits.len();
        let raw = self.time(t);
        let now = Instant::from_nanos(raw);
        let p = self.permits.swap_remove(i);
        self.bulkhead.release(now, p, outcome);
        let q = self.twin_permits.swap_remove(i);
        self.twin.release(now, q, outcome);
        let c = self.clamped_permits.swap_remove(i);
        self.clamped.release(self.eff(raw), c, outcome);
        self.settle();
    }

    fn on_deadline(&mut self, t: Time) {
        let now = self.time(t);
        let deadline = self.bulkhead.next_deadline();
        let queued = self.bulkhead.queued();
        self.bulkhead.on_deadline(Instant::from_nanos(now));
        self.twin.on_deadline(Instant::from_nanos(now));
        let eff = self.seen(now);
        self.clamped.on_deadline(eff);
        self.settle();
        match deadline {
            // The time the machine goes by is the latest it has seen (a
            // cancel of an unknown ticket notes a later time without
            // expiring anyone), not the raw `now`.
            Some(d) if eff >= d => {
                assert!(
                    self.bulkhead.queued() < queued,
                    "on_deadline at {d} expired nobody"
                );
            }
            _ => assert_eq!(
                self.bulkhead.queued(),
                queued,
                "a spurious on_deadline changed the queue"
            ),
        }
    }

    fn set_limit(&mut self, t: Time, limit: u32) {
        let raw = self.time(t);
        let now = Instant::from_nanos(raw);
        let got = self.bulkhead.set_limit(now, limit);
        assert_eq!(self.twin.with(|b| b.set_limit(now, limit)), got);
        assert_eq!(self.clamped.set_limit(self.eff(raw), limit), got);
        self.settle();
        assert_eq!(got, self.bulkhead.limit());
        if !A::ADAPTIVE {
            assert_eq!(got, limit.clamp(1, self.max_concurrent));
        }
    }

    /// `change_config` keeps every permit and waiter: the limit is the new
    /// `max_concurrent` (fixed) or the algorithm's clamped to it; waiters
    /// past the new `max_wait` expire in queue order, free slots go to the
    /// rest in queue order (both checked by `settle`).
    fn change_config(&mut self, t: Time, max_concurrent: u32, max_wait: Duration) {
        let Ok(config) = BulkheadConfig::builder()
            .max_concurrent(max_concurrent)
            .max_wait(max_wait)
            .build()
        else {
            return;
        };
        let raw = self.time(t);
        let now = Instant::from_nanos(raw);
        let got = self.bulkhead.change_config(now, config);
        assert_eq!(self.twin.with(|b| b.change_config(now, config)), got);
        let eff = self.seen(raw);
        assert_eq!(self.clamped.change_config(eff, config), got);
        self.max_concurrent = config.max_concurrent();
        self.max_wait = nanos(config.max_wait());
        if !A::ADAPTIVE {
            // A fixed limit's range is [1, max_concurrent]; the copy fed
            // raw samples follows it.
            self.max = config.max_concurrent();
            let _ = self.algo.set_limit(config.max_concurrent());
        }
        self.settle();
        assert_eq!(*self.bulkhead.config(), config);
        assert_eq!(got, self.bulkhead.limit());
        if !A::ADAPTIVE {
            assert_eq!(got, config.max_concurrent());
        }
    }

    fn sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) {
        let l = self.algo.on_sample(Instant::ZERO, rtt, in_flight, dropped);
        assert_eq!(l, self.algo.limit());
        assert!(
            l >= self.min && l <= self.max,
            "sample moved the limit to {l}, outside [{}, {}]",
            self.min,
            self.max
        );
    }

    /// Releases every permit, cancels every ticket: nothing may stay taken.
    fn drain(&mut self) {
        let now = Instant::from_nanos(self.cursor);
        while let Some(p) = self.permits.pop() {
            self.bulkhead.release(now, p, Outcome::Success);
            if let Some(q) = self.twin_permits.pop() {
                self.twin.release(now, q, Outcome::Success);
            }
            if let Some(c) = self.clamped_permits.pop() {
                self.clamped
                    .release(self.eff(self.cursor), c, Outcome::Success);
            }
            self.settle();
        }
        for i in 0..TICKETS {
            self.bulkhead.cancel(now, &mut self.tickets[i].0);
            self.twin.cancel(now, &mut self.twin_tickets[i]);
            let eff = self.eff(self.cursor);
            self.clamped.cancel(eff, &mut self.clamped_tickets[i]);
            if self.tickets[i].1 == Place::Waiting {
                self.queue.retain(|&q| q != i);
            }
            self.tickets[i].1 = Place::Idle;
            self.settle();
        }
        let m = self.bulkhead.metrics();
        assert_eq!((m.in_flight, m.queued), (0, 0), "slots leaked: {m:?}");
        assert_eq!(m.acquired, m.released);
        assert_eq!(self.bulkhead.next_deadline(), None);
    }
}

fn run<A: LimitAlgorithm + Clone>(
    config: BulkheadConfig,
    algo: A,
    min: u32,
    max: u32,
    events: &[Event],
) {
    let woken = Arc::new(Mutex::new(Vec::new()));
    let wakers = (0..TICKETS)
        .map(|ticket| {
            Waker::from(Arc::new(Log {
                ticket,
                woken: Arc::clone(&woken),
            }))
        })
        .collect();
    let twin_woken = Arc::new(Mutex::new(Vec::new()));
    let twin_wakers = (0..TICKETS)
        .map(|ticket| {
            Waker::from(Arc::new(Log {
                ticket,
                woken: Arc::clone(&twin_woken),
            }))
        })
        .collect();
    let clamped_woken = Arc::new(Mutex::new(Vec::new()));
    let clamped_wakers = (0..TICKETS)
        .map(|ticket| {
            Waker::from(Arc::new(Log {
                ticket,
                woken: Arc::clone(&clamped_woken),
            }))
        })
        .collect();
    let mut h = Harness {
        clamped: Bulkhead::with_parts(config, algo.clone(), ()),
        clamped_tickets: (0..TICKETS).map(|_| Ticket::new()).collect(),
        clamped_wakers,
        clamped_woken,
        clamped_permits: Vec::new(),
        latest: 0,
        bulkhead: Bulkhead::with_parts(config, algo.clone(), Tally::default()),
        twin: SharedBulkhead::new(CsLock::new(Bulkhead::with_parts(config, algo.clone(), ()))),
        twin_tickets: (0..TICKETS).map(|_| Ticket::new()).collect(),
        twin_wakers,
        twin_woken,
        twin_permits: Vec::new(),
        algo,
        min,
        max,
        max_concurrent: config.max_concurrent(),
        max_wait: nanos(config.max_wait()),
        cursor: 0,
        tickets: (0..TICKETS).map(|_| (Ticket::new(), Place::Idle)).collect(),
        wakers,
        woken,
        queue: Vec::new(),
        permits: Vec::new(),
        events_seen: 0,
    };
    h.settle();
    for &event in events {
        match event {
            Event::TryAcquire(t) => h.try_acquire(t),
            Event::Poll(t, i) => h.poll(t, i),
            Event::Cancel(t, i) => h.cancel(t, i),
            Event::Release(t, i, o) => h.release(t, i, o.get()),
            Event::OnDeadline(t) => h.on_deadline(t),
            Event::SetLimit(t, l) => h.set_limit(t, l.get()),
            Event::Sample(rtt, in_flight, dropped) => h.sample(rtt.get(), in_flight.get(), dropped),
            Event::ChangeConfig(t, l, w) => h.change_config(t, l.get(), w.get()),
        }
    }
    h.drain();
}

fn check_built<T>(
    what: &str,
    built: Result<T, ConfigError>,
    problem: Option<&'static str>,
) -> Option<T> {
    match (built, problem) {
        (Ok(t), None) => Some(t),
        (Err(e), Some(field)) => {
            assert_eq!(e.field, field, "{what}");
            assert!(e.to_string().contains(field));
            None
        }
        (Ok(_), Some(field)) => panic!("{what} accepted with a bad `{field}`"),
        (Err(e), None) => panic!("{what} rejected a valid setting: {e}"),
    }
}

fuzz_target!(|input: Input| {
    let max_concurrent = input.max_concurrent.get();
    let built = BulkheadConfig::builder()
        .max_concurrent(max_concurrent)
        .max_wait(input.max_wait.get())
        .build();
    let Some(config) = check_built(
        "BulkheadConfig",
        built,
        (max_concurrent == 0).then_some("max_concurrent"),
    ) else {
        return;
    };
    assert_eq!(nanos(config.max_wait()), nanos(input.max_wait.get()));
    let problem = algo_problem(input.algorithm);
    match input.algorithm {
        AlgoIn::Fixed => run(
            config,
            FixedLimit::new(max_concurrent),
            1,
            max_concurrent,
            &input.events,
        ),
        AlgoIn::Aimd {
            limits,
            backoff_ratio,
            timeout,
        } => {
            let built = Aimd::builder()
                .min_limit(limits.min.get())
                .initial_limit(limits.initial.get())
                .max_limit(limits.max.get())
                .backoff_ratio(backoff_ratio.get())
                .timeout(timeout.get())
                .build();
            if let Some(a) = check_built("Aimd", built, problem) {
                assert_eq!(a.limit(), limits.initial.get());
                // The bounds the caller asked for, not read back from the
                // algorithm (a builder that shifts them would pass that).
                let (min, max) = (limits.min.get(), limits.max.get());
                assert_eq!(
                    (a.min_limit(), a.max_limit()),
                    (min, max),
                    "the algorithm's [min, max] is not the one asked for"
                );
                run(config, a, min, max, &input.events);
            }
        }
        AlgoIn::Vegas {
            limits,
            alpha,
            beta,
            smoothing,
            probe_multiplier,
        } => {
            let built = Vegas::builder()
                .min_limit(limits.min.get())
                .initial_limit(limits.initial.get())
                .max_limit(limits.max.get())
                .alpha(alpha.get())
                .beta(beta.get())
                .smoothing(smoothing.get())
                .probe_multiplier(probe_multiplier.into())
                .build();
            if let Some(v) = check_built("Vegas", built, problem) {
                assert_eq!(v.limit(), limits.initial.get());
                // The bounds the caller asked for, not read back from the
                // algorithm (a builder that shifts them would pass that).
                let (min, max) = (limits.min.get(), limits.max.get());
                assert_eq!(
                    (v.min_limit(), v.max_limit()),
                    (min, max),
                    "the algorithm's [min, max] is not the one asked for"
                );
                run(config, v, min, max, &input.events);
            }
        }
        AlgoIn::Gradient2 {
            limits,
            rtt_tolerance,
            smoothing,
            queue_size,
            long_window,
        } => {
            let built = Gradient2::builder()
                .min_limit(limits.min.get())
                .initial_limit(limits.initial.get())
                .max_limit(limits.max.get())
                .rtt_tolerance(rtt_tolerance.get())
                .smoothing(smoothing.get())
                .queue_size(queue_size.into())
                .long_window(long_window.into())
                .build();
            if let Some(g) = check_built("Gradient2", built, problem) {
                assert_eq!(g.limit(), limits.initial.get());
                // The bounds the caller asked for, not read back from the
                // algorithm (a builder that shifts them would pass that).
                let (min, max) = (limits.min.get(), limits.max.get());
                assert_eq!(
                    (g.min_limit(), g.max_limit()),
                    (min, max),
                    "the algorithm's [min, max] is not the one asked for"
                );
                run(config, g, min, max, &input.events);
            }
        }
    }
});
