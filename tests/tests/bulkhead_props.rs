//! Properties of the bulkhead that users rely on, over arbitrary
//! configurations and sequences of acquire / queue / poll / cancel / release /
//! deadline / limit changes / configuration changes (`change_config`: a new
//! `max_concurrent` and `max_wait` with calls in flight and waiters queued),
//! with time stepping forwards and backwards:
//!
//! - a call is admitted only while the slots taken stay within the limit in
//!   force at that moment;
//! - no slot ever leaks: once every permit is released and every ticket
//!   cancelled, nothing is in flight and nobody is queued;
//! - waiters are served first come, first served, and a newcomer never
//!   overtakes a waiter;
//! - a slot is never idle while somebody waits;
//! - adaptive limits stay within their bounds whatever the samples;
//! - the shared handle ([`SharedBulkhead`], whose fixed-limit fast path
//!   admits and releases on a lock-free slot word) answers every call
//!   exactly as the machine alone does, wakes the same waiters, and reports
//!   the same metrics, for every algorithm.

use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

use failsafe_core::bulkhead::{
    Aimd, Bulkhead, BulkheadConfig, BulkheadEvent, BulkheadPermit, FixedLimit, Gradient2,
    LimitAlgorithm, Ticket, Vegas,
};
use failsafe_core::sync::{CsLock, SharedBulkhead};
use failsafe_core::{Instant, Observer, Outcome, RejectReason};
use proptest::prelude::*;

const Q: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    /// Move the clock by this many ms (negative: the clock steps back).
    Tick(i64),
    TryAcquire,
    /// A new caller polls with its own waker (it may be admitted, queued or rejected).
    Enqueue,
    /// The caller of ticket `i` (mod len) polls again.
    Poll(usize),
    /// The caller of ticket `i` gives up.
    Cancel(usize),
    /// Permit `i` comes back.
    Release(usize, Outcome),
    Deadline,
    SetLimit(u32),
    /// The static limit change: a new configuration at run time.
    ChangeConfig(BulkheadConfig),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        2 => Just(Outcome::Failure),
        2 => Just(Outcome::Timeout),
        1 => Just(Outcome::Cancelled),
        1 => Just(Outcome::Ignored),
        1 => Just(Outcome::Unhealthy),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (-300i64..600).prop_map(Op::Tick),
        5 => Just(Op::TryAcquire),
        8 => Just(Op::Enqueue),
        6 => any::<usize>().prop_map(Op::Poll),
        3 => any::<usize>().prop_map(Op::Cancel),
        8 => (any::<usize>(), outcome()).prop_map(|(i, o)| Op::Release(i, o)),
        3 => Just(Op::Deadline),
        2 => (0u32..10).prop_map(Op::SetLimit),
        2 => config().prop_map(Op::ChangeConfig),
    ]
}

fn config() -> impl Strategy<Value = BulkheadConfig> {
    (1u32..7, prop_oneof![1 => Just(0u64), 4 => 1u64..800]).prop_map(|(max, wait)| {
        BulkheadConfig::builder()
            .max_concurrent(max)
            .max_wait(Duration::from_millis(wait))
            .build()
            .unwrap()
    })
}

/// Checks every admission against the limit in force as it happens.
#[derive(Default)]
struct Admissions {
    over_limit: Option<(u32, u32)>,
}

impl Observer<BulkheadEvent> for Admissions {
    fn on_event(&mut self, event: BulkheadEvent) {
        if let BulkheadEvent::Acquired {
            in_flight, limit, ..
        } = event
            && in_flight > limit
        {
            self.over_limit.get_or_insert((in_flight, limit));
        }
    }
}

/// A waker that logs the sequence number of its ticket.
struct Logged {
    seq: u64,
    log: Arc<Mutex<Vec<u64>>>,
}

impl Wake for Logged {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.seq);
    }
}

struct Waiting {
    ticket: Ticket,
    seq: u64,
    waker: Waker,
    /// Woken: it was granted a slot or its wait ran out; its next poll is `Ready`.
    woken: bool,
}

struct Harness<A: LimitAlgorithm> {
    b: Bulkhead<Q, Admissions, A>,
    held: Vec<BulkheadPermit>,
    waiting: Vec<Waiting>,
    log: Arc<Mutex<Vec<u64>>>,
    next_seq: u64,
    /// The last ticket resolved (granted or expired): resolutions follow queue order.
    last_resolved: Option<u64>,
}

impl<A: LimitAlgorithm> Harness<A> {
    fn new(config: BulkheadConfig, algorithm: A) -> Self {
        Harness {
            b: Bulkhead::with_parts(config, algorithm, Admissions::default()),
            held: Vec::new(),
            waiting: Vec::new(),
            log: Arc::new(Mutex::new(Vec::new())),
            next_seq: 0,
            last_resolved: None,
        }
    }

    fn resolved(&mut self, seq: u64) -> Result<(), TestCaseError> {
        prop_assert!(
            self.last_resolved.is_none_or(|last| seq > last),
            "ticket {seq} resolved after ticket {:?}: not FIFO",
            self.last_resolved
        );
        self.last_resolved = Some(seq);
        Ok(())
    }

    /// Wakes what the bulkhead owes, as an adapter does after every call,
    /// and notes which tickets were resolved (plus `quiet`, a ticket that
    /// learnt its fate from its own poll). Within one call tickets are
    /// resolved in queue order (expired ones first, then granted ones), so
    /// the call's resolutions, sorted, must all come after earlier calls'.
    fn drain(&mut self, quiet: Option<u64>) -> Result<(), TestCaseError> {
        while let Some(w) = self.b.pop_waker() {
            w.wake();
        }
        let woken: Vec<u64> = std::mem::take(&mut *self.log.lock().unwrap());
        let mut all: Vec<u64> = woken.iter().copied().chain(quiet).collect();
        all.sort_unstable();
        for seq in all {
            self.resolved(seq)?;
        }
        for seq in woken {
            let w = self.waiting.iter_mut().find(|w| w.seq == seq);
            let w = w.expect("only queued tickets are woken");
            prop_assert!(!w.woken, "ticket {seq} woken twice");
            w.woken = true;
        }
        Ok(())
    }

    fn unresolved(&self) -> usize {
        self.waiting.iter().filter(|w| !w.woken).count()
    }

    fn step(&mut self, op: Op, now: Instant) -> Result<(), TestCaseError> {
        let mut admitted_newcomer = false;
        match op {
            Op::Tick(_) => {}
            Op::TryAcquire => {
                let limit = self.b.limit();
                match self.b.try_acquire(now) {
                    Ok(p) => {
                        prop_assert!(self.b.in_flight() <= limit);
                        self.held.push(p);
                        admitted_newcomer = true;
                    }
                    Err(r) => prop_assert_eq!(r.reason, RejectReason::BulkheadFull),
                }
            }
            Op::Enqueue => {
                let seq = self.next_seq;
                self.next_seq += 1;
                let waker = Waker::from(Arc::new(Logged {
                    seq,
                    log: self.log.clone(),
                }));
                let mut ticket = Ticket::new();
                match self.b.poll_acquire(now, &mut ticket, Some(&waker)) {
                    Poll::Ready(Ok(p)) => {
                        self.held.push(p);
                        admitted_newcomer = true;
                    }
                    Poll::Ready(Err(r)) => {
                        prop_assert!(matches!(
                            r.reason,
                            RejectReason::BulkheadFull | RejectReason::BulkheadQueueFull
                        ));
                        prop_assert!(!ticket.is_queued());
                    }
                    Poll::Pending => self.waiting.push(Waiting {
                        ticket,
                        seq,
                        waker,
                        woken: false,
                    }),
                }
            }
            Op::Poll(i) if !self.waiting.is_empty() => {
                let i = i % self.waiting.len();
                let mut w = self.waiting.swap_remove(i);
                let result = self.b.poll_acquire(now, &mut w.ticket, Some(&w.waker));
                let mut quiet = None;
                match result {
                    Poll::Ready(Ok(p)) => {
                        prop_assert!(w.woken, "a granted ticket is always woken first");
                        self.held.push(p);
                    }
                    Poll::Ready(Err(r)) => {
                        prop_assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
                        if !w.woken {
                            quiet = Some(w.seq); // expired during its own poll
                        }
                    }
                    Poll::Pending => {
                        prop_assert!(!w.woken, "a woken ticket must be ready");
                        self.waiting.push(w);
                    }
                }
                self.drain(quiet)?;
                return self.check(false);
            }
            Op::Cancel(i) if !self.waiting.is_empty() => {
                let i = i % self.waiting.len();
                let mut w = self.waiting.swap_remove(i);
                self.b.cancel(now, &mut w.ticket);
                prop_assert!(!w.ticket.is_queued());
            }
            Op::Release(i, outcome) if !self.held.is_empty() => {
                let i = i % self.held.len();
                let p = self.held.swap_remove(i);
                self.b.release(now, p, outcome);
            }
            Op::Poll(_) | Op::Cancel(_) | Op::Release(..) => {}
            Op::Deadline => {
                self.b.on_deadline(now);
                if let Some(d) = self.b.next_deadline() {
                    prop_assert!(d > now, "deadline {d} left due after on_deadline({now})");
                }
            }
            Op::SetLimit(n) => {
                let limit = self.b.set_limit(now, n);
                prop_assert!(limit >= 1 && limit <= self.b.config().max_concurrent());
                prop_assert_eq!(limit, self.b.limit());
            }
            Op::ChangeConfig(config) => {
                let limit = self.b.change_config(now, config);
                prop_assert_eq!(*self.b.config(), config);
                prop_assert!(limit >= 1 && limit <= config.max_concurrent());
                prop_assert_eq!(limit, self.b.limit());
                if !A::ADAPTIVE {
                    prop_assert_eq!(
                        limit,
                        config.max_concurrent(),
                        "a fixed limit follows the config"
                    );
                }
            }
        }
        self.drain(None)?;
        self.check(admitted_newcomer)
    }

    fn check(&self, admitted_newcomer: bool) -> Result<(), TestCaseError> {
        let b = &self.b;
        let m = b.metrics();
        prop_assert_eq!(b.observer().over_limit, None, "admitted over the limit");
        prop_assert!(m.limit >= 1 && m.limit <= b.config().max_concurrent());
        prop_assert_eq!(
            m.in_flight as u64,
            m.acquired - m.released,
            "slots taken != taken - given back"
        );
        // Every held permit is counted; the rest are slots granted to woken tickets.
        let held = self.held.len() as u32;
        prop_assert!(m.in_flight >= held);
        let woken = self.waiting.iter().filter(|w| w.woken).count() as u32;
        prop_assert!(m.in_flight - held <= woken, "a slot is held by nobody");
        prop_assert!(m.queued <= self.unresolved() && m.queued <= Q);
        // Work-conserving: nobody waits while a slot is free.
        if m.queued > 0 {
            prop_assert!(m.in_flight >= m.limit, "a slot idles while someone waits");
        }
        // A newcomer admitted at once overtook nobody.
        if admitted_newcomer {
            prop_assert_eq!(self.unresolved(), 0, "a newcomer overtook a waiter");
        }
        Ok(())
    }

    /// Releases every permit and cancels every ticket: nothing may remain.
    fn finish(mut self, now: Instant) -> Result<(), TestCaseError> {
        for p in std::mem::take(&mut self.held) {
            self.b.release(now, p, Outcome::Success);
        }
        for mut w in std::mem::take(&mut self.waiting) {
            self.b.cancel(now, &mut w.ticket);
        }
        while self.b.pop_waker().is_some() {}
        let m = self.b.metrics();
        prop_assert_eq!((m.in_flight, m.queued), (0, 0), "a slot leaked");
        prop_assert_eq!(self.b.next_deadline(), None);
        Ok(())
    }
}

fn run<A: LimitAlgorithm>(
    config: BulkheadConfig,
    algorithm: A,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut h = Harness::new(config, algorithm);
    let mut raw_now: i64 = 0;
    for op in ops {
        if let Op::Tick(d) = op {
            raw_now += d;
        }
        let now = Instant::from_millis(raw_now.max(0) as u64);
        h.step(op, now)?;
    }
    h.finish(Instant::from_millis(raw_now.max(0) as u64))
}

/// Drives a [`SharedBulkhead`] and a bare [`Bulkhead`] (the model) in
/// lockstep: every answer, every permit, every waiter woken and the
/// metrics after every step must match (so every promise checked on the
/// machine above holds for the shared handle too, its lock-free slot word
/// included).
fn run_shared<A: LimitAlgorithm + Clone>(
    config: BulkheadConfig,
    algorithm: A,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let mut model: Bulkhead<Q, (), A> = Bulkhead::adaptive(config, algorithm.clone());
    let shared: SharedBulkhead<Q, (), CsLock<Bulkhead<Q, (), A>>, A> =
        SharedBulkhead::new(CsLock::new(Bulkhead::adaptive(config, algorithm)));
    let (model_log, shared_log) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let mut held: Vec<(BulkheadPermit, BulkheadPermit)> = Vec::new();
    let mut waiting: Vec<(Ticket, Ticket, Waker, Waker)> = Vec::new();
    let (mut raw_now, mut seq) = (0i64, 0u64);
    let finish = ops.len();
    for (step, op) in ops.into_iter().map(Some).chain([None]).enumerate() {
        if let Some(Op::Tick(d)) = op {
            raw_now += d;
        }
        let now = Instant::from_millis(raw_now.max(0) as u64);
        let Some(op) = op else {
            prop_assert_eq!(step, finish);
            // Everything comes back: nothing may remain.
            for (a, b) in std::mem::take(&mut held) {
                model.release(now, a, Outcome::Success);
                shared.release(now, b, Outcome::Success);
            }
            for (mut a, mut b, ..) in std::mem::take(&mut waiting) {
                model.cancel(now, &mut a);
                shared.cancel(now, &mut b);
            }
            while model.pop_waker().is_some() {}
            let m = shared.metrics();
            prop_assert_eq!(m, model.metrics());
            prop_assert_eq!((m.in_flight, m.queued), (0, 0), "a slot leaked");
            break;
        };
        match op {
            Op::Tick(_) => {}
            Op::TryAcquire => {
                let a = model.try_acquire(now);
                let b = shared.try_acquire(now);
                prop_assert_eq!(&a, &b);
                if let (Ok(a), Ok(b)) = (a, b) {
                    held.push((a, b));
                }
            }
            Op::Enqueue => {
                seq += 1;
                let wa = Waker::from(Arc::new(Logged {
                    seq,
                    log: model_log.clone(),
                }));
                let wb = Waker::from(Arc::new(Logged {
                    seq,
                    log: shared_log.clone(),
                }));
                let (mut ta, mut tb) = (Ticket::new(), Ticket::new());
                let a = model.poll_acquire(now, &mut ta, Some(&wa));
                let b = shared.poll_acquire(now, &mut tb, Some(&wb));
                prop_assert_eq!(&a, &b);
                match (a, b) {
                    (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) => held.push((a, b)),
                    (Poll::Pending, Poll::Pending) => waiting.push((ta, tb, wa, wb)),
                    _ => {}
                }
            }
            Op::Poll(i) if !waiting.is_empty() => {
                let i = i % waiting.len();
                let (ta, tb, wa, wb) = &mut waiting[i];
                let a = model.poll_acquire(now, ta, Some(wa));
                let b = shared.poll_acquire(now, tb, Some(wb));
                prop_assert_eq!(&a, &b);
                if a.is_ready() {
                    waiting.swap_remove(i);
                }
                if let (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) = (a, b) {
                    held.push((a, b));
                }
            }
            Op::Cancel(i) if !waiting.is_empty() => {
                let (mut ta, mut tb, ..) = waiting.swap_remove(i % waiting.len());
                model.cancel(now, &mut ta);
                shared.cancel(now, &mut tb);
            }
            Op::Release(i, outcome) if !held.is_empty() => {
                let (a, b) = held.swap_remove(i % held.len());
                model.release(now, a, outcome);
                shared.release(now, b, outcome);
            }
            Op::Poll(_) | Op::Cancel(_) | Op::Release(..) => {}
            Op::Deadline => {
                model.on_deadline(now);
                shared.on_deadline(now);
            }
            Op::SetLimit(n) => {
                prop_assert_eq!(
                    model.set_limit(now, n),
                    shared.with(|b| b.set_limit(now, n))
                );
            }
            Op::ChangeConfig(config) => {
                prop_assert_eq!(
                    model.change_config(now, config),
                    shared.with(|b| b.change_config(now, config))
                );
            }
        }
        // The adapter's part for the model: wake what it owes (the shared
        // handle wakes them itself).
        while let Some(w) = model.pop_waker() {
            w.wake();
        }
        let woken_model = std::mem::take(&mut *model_log.lock().unwrap());
        let woken_shared = std::mem::take(&mut *shared_log.lock().unwrap());
        prop_assert_eq!(woken_model, woken_shared, "different waiters woken");
        let m = shared.metrics();
        prop_assert_eq!(m, model.metrics());
        prop_assert_eq!(shared.next_deadline(), model.next_deadline());
        prop_assert_eq!(m.in_flight as u64, m.acquired - m.released);
    }
    Ok(())
}

fn aimd() -> impl Strategy<Value = Aimd> {
    (1u32..4, 0u32..6, 0u32..4, 0.05f32..=1.0, 1u64..400).prop_map(
        |(min, span, up, backoff, timeout)| {
            Aimd::builder()
                .min_limit(min)
                .initial_limit(min + up.min(span))
                .max_limit(min + span)
                .backoff_ratio(backoff)
                .timeout(Duration::from_millis(timeout))
                .build()
                .unwrap()
        },
    )
}

fn vegas() -> impl Strategy<Value = Vegas> {
    (
        1u32..4,
        0u32..6,
        0u32..4,
        0.1f32..10.0,
        0.0f32..10.0,
        0.01f32..=1.0,
        1u32..40,
    )
        .prop_map(|(min, span, up, alpha, extra, smoothing, probe)| {
            Vegas::builder()
                .min_limit(min)
                .initial_limit(min + up.min(span))
                .max_limit(min + span)
                .alpha(alpha)
                .beta(alpha + extra)
                .smoothing(smoothing)
                .probe_multiplier(probe)
                .build()
                .unwrap()
        })
}

fn gradient2() -> impl Strategy<Value = Gradient2> {
    (
        1u32..4,
        0u32..6,
        0u32..4,
        1.0f32..4.0,
        0.01f32..=1.0,
        1u32..8,
        1u32..700,
    )
        .prop_map(|(min, span, up, tolerance, smoothing, queue, window)| {
            Gradient2::builder()
                .min_limit(min)
                .initial_limit(min + up.min(span))
                .max_limit(min + span)
                .rtt_tolerance(tolerance)
                .smoothing(smoothing)
                .queue_size(queue)
                .long_window(window)
                .build()
                .unwrap()
        })
}

/// Feeds samples (rtt in ns up to u64::MAX, any in-flight count, drops) and
/// hand-set limits; the limit must stay within `[min, max]` throughout.
fn bounded<A: LimitAlgorithm>(
    mut a: A,
    min: u32,
    max: u32,
    samples: Vec<(u64, u32, bool, Option<u32>)>,
) -> Result<(), TestCaseError> {
    prop_assert!((min..=max).contains(&a.limit()));
    for (i, (rtt, in_flight, dropped, set)) in samples.into_iter().enumerate() {
        let now = Instant::from_millis(i as u64);
        let l = a.on_sample(now, Duration::from_nanos(rtt), in_flight, dropped);
        prop_assert!((min..=max).contains(&l), "{} outside [{}, {}]", l, min, max);
        prop_assert_eq!(l, a.limit());
        if let Some(n) = set {
            let l = a.set_limit(n);
            prop_assert!((min..=max).contains(&l));
            prop_assert_eq!(l, a.limit());
        }
    }
    Ok(())
}

fn samples() -> impl Strategy<Value = Vec<(u64, u32, bool, Option<u32>)>> {
    let rtt = prop_oneof![
        2 => 0u64..100_000_000,
        1 => Just(0u64),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ];
    let in_flight = prop_oneof![3 => 0u32..300, 1 => any::<u32>()];
    prop::collection::vec(
        (
            rtt,
            in_flight,
            any::<bool>(),
            prop::option::weighted(0.05, any::<u32>()),
        ),
        0..400,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fixed_bulkhead_keeps_its_promises(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        run(config, FixedLimit::new(config.max_concurrent()), ops)?;
    }

    #[test]
    fn aimd_bulkhead_keeps_its_promises(config in config(), aimd in aimd(), ops in prop::collection::vec(op(), 1..300)) {
        run(config, aimd, ops)?;
    }

    #[test]
    fn vegas_bulkhead_keeps_its_promises(config in config(), vegas in vegas(), ops in prop::collection::vec(op(), 1..300)) {
        run(config, vegas, ops)?;
    }

    #[test]
    fn gradient2_bulkhead_keeps_its_promises(config in config(), g in gradient2(), ops in prop::collection::vec(op(), 1..300)) {
        run(config, g, ops)?;
    }

    #[test]
    fn shared_fixed_bulkhead_answers_as_the_machine(config in config(), ops in prop::collection::vec(op(), 1..300)) {
        run_shared(config, FixedLimit::new(config.max_concurrent()), ops)?;
    }

    #[test]
    fn shared_aimd_bulkhead_answers_as_the_machine(config in config(), aimd in aimd(), ops in prop::collection::vec(op(), 1..300)) {
        run_shared(config, aimd, ops)?;
    }

    #[test]
    fn shared_vegas_bulkhead_answers_as_the_machine(config in config(), vegas in vegas(), ops in prop::collection::vec(op(), 1..300)) {
        run_shared(config, vegas, ops)?;
    }

    #[test]
    fn shared_gradient2_bulkhead_answers_as_the_machine(config in config(), g in gradient2(), ops in prop::collection::vec(op(), 1..300)) {
        run_shared(config, g, ops)?;
    }

    /// Feeding a clock that steps backwards gives exactly the decisions of
    /// feeding the same clock clamped to its running maximum.
    #[test]
    fn time_going_backwards_is_no_time_passed(config in config(), ops in prop::collection::vec(op(), 1..200)) {
        let mut raw: Bulkhead<Q, (), Aimd> = Bulkhead::adaptive(config, Aimd::DEFAULT);
        let mut clamped: Bulkhead<Q, (), Aimd> = Bulkhead::adaptive(config, Aimd::DEFAULT);
        let (mut raw_held, mut clamped_held) = (Vec::new(), Vec::new());
        let (mut raw_tickets, mut clamped_tickets) = (Vec::new(), Vec::new());
        let (mut t, mut max) = (0i64, 0i64);
        for op in ops {
            if let Op::Tick(d) = op {
                t += d;
                max = max.max(t);
            }
            let (r_now, c_now) = (Instant::from_millis(t.max(0) as u64), Instant::from_millis(max.max(0) as u64));
            match op {
                Op::TryAcquire | Op::Enqueue => {
                    let (mut rt, mut ct) = (Ticket::new(), Ticket::new());
                    let a = raw.poll_acquire(r_now, &mut rt, None);
                    let b = clamped.poll_acquire(c_now, &mut ct, None);
                    prop_assert_eq!(&a, &b);
                    if let (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) = (a, b) {
                        raw_held.push(a);
                        clamped_held.push(b);
                    } else if rt.is_queued() {
                        raw_tickets.push(rt);
                        clamped_tickets.push(ct);
                    }
                }
                Op::Poll(i) if !raw_tickets.is_empty() => {
                    let i = i % raw_tickets.len();
                    let a = raw.poll_acquire(r_now, &mut raw_tickets[i], None);
                    let b = clamped.poll_acquire(c_now, &mut clamped_tickets[i], None);
                    prop_assert_eq!(&a, &b);
                    if a.is_ready() {
                        raw_tickets.swap_remove(i);
                        clamped_tickets.swap_remove(i);
                    }
                    if let (Poll::Ready(Ok(a)), Poll::Ready(Ok(b))) = (a, b) {
                        raw_held.push(a);
                        clamped_held.push(b);
                    }
                }
                Op::Cancel(i) if !raw_tickets.is_empty() => {
                    let i = i % raw_tickets.len();
                    raw.cancel(r_now, &mut raw_tickets.swap_remove(i));
                    clamped.cancel(c_now, &mut clamped_tickets.swap_remove(i));
                }
                Op::Release(i, outcome) if !raw_held.is_empty() => {
                    let i = i % raw_held.len();
                    raw.release(r_now, raw_held.swap_remove(i), outcome);
                    clamped.release(c_now, clamped_held.swap_remove(i), outcome);
                }
                // a tick shows the new time to both (as a driver's timer would)
                Op::Deadline | Op::Tick(_) => {
                    raw.on_deadline(r_now);
                    clamped.on_deadline(c_now);
                }
                Op::SetLimit(n) => {
                    prop_assert_eq!(raw.set_limit(r_now, n), clamped.set_limit(c_now, n));
                }
                _ => {}
            }
            prop_assert_eq!(raw.metrics(), clamped.metrics());
            prop_assert_eq!(raw.next_deadline(), clamped.next_deadline());
        }
    }

    #[test]
    fn aimd_limit_stays_within_bounds(min in 1u32..50, span in 0u32..300, backoff in 0.0001f32..=1.0, samples in samples()) {
        let a = Aimd::builder().min_limit(min).initial_limit(min).max_limit(min + span).backoff_ratio(backoff).build().unwrap();
        bounded(a, min, min + span, samples)?;
    }

    #[test]
    fn vegas_limit_stays_within_bounds(
        min in 1u32..50,
        span in 0u32..2_000,
        alpha in 0.0001f32..100.0,
        extra in 0.0f32..100.0,
        smoothing in 0.0001f32..=1.0,
        probe in 1u32..100,
        samples in samples(),
    ) {
        let v = Vegas::builder()
            .min_limit(min)
            .initial_limit(min + span / 2)
            .max_limit(min + span)
            .alpha(alpha)
            .beta(alpha + extra)
            .smoothing(smoothing)
            .probe_multiplier(probe)
            .build()
            .unwrap();
        bounded(v, min, min + span, samples)?;
    }

    #[test]
    fn gradient2_limit_stays_within_bounds(
        min in 1u32..50,
        span in 0u32..2_000,
        tolerance in 1.0f32..100.0,
        smoothing in 0.0001f32..=1.0,
        queue in 1u32..1_000,
        window in 1u32..10_000,
        samples in samples(),
    ) {
        let g = Gradient2::builder()
            .min_limit(min)
            .initial_limit(min + span / 2)
            .max_limit(min + span)
            .rtt_tolerance(tolerance)
            .smoothing(smoothing)
            .queue_size(queue)
            .long_window(window)
            .build()
            .unwrap();
        bounded(g, min, min + span, samples)?;
    }

    /// Extreme limits (up to u32::MAX) never overflow.
    #[test]
    fn extreme_limits_never_overflow(samples in samples()) {
        let aimd = Aimd::builder().min_limit(u32::MAX - 1).initial_limit(u32::MAX - 1).max_limit(u32::MAX).build().unwrap();
        bounded(aimd, u32::MAX - 1, u32::MAX, samples.clone())?;
        let vegas = Vegas::builder().min_limit(1).initial_limit(u32::MAX).max_limit(u32::MAX).build().unwrap();
        bounded(vegas, 1, u32::MAX, samples.clone())?;
        let g = Gradient2::builder().min_limit(1).initial_limit(u32::MAX).max_limit(u32::MAX).build().unwrap();
        bounded(g, 1, u32::MAX, samples)?;
    }
}
