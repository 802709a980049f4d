//! Thread mode and the SysTick exception hammer the same `static` rate
//! limiter, circuit breaker, fail fast and bulkhead for 20,000 interrupts,
//! then every count is checked exactly.
//!
//! What it proves: the shared types are interrupt-safe on this core. Before
//! the fix, the 64-bit atomics of `AtomicGcra` and of the breaker's and fail
//! fast's fast paths fell back (on thumbv7m, no 64-bit CAS) to a global spin
//! lock that did not mask interrupts: SysTick preempting thread mode while it
//! held that lock spun forever, and this scenario hung (QEMU never exited).
//!
//! Time is virtual: the handler advances a clock by 1 ms per interrupt, so
//! the final clock, and with it every quota, is known in advance, whatever
//! QEMU's speed or where the interrupts land.

use core::time::Duration;

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use cortex_m_semihosting::hprintln;
use failsafe_core::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker, CountWindow, State};
use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
use failsafe_core::failfast::{FailFast, FailFastConfig};
use failsafe_core::rate::{AtomicGcra, Quota};
use failsafe_core::sync::{CsLock, Lock, SharedBreaker, SharedBulkhead, SharedFailFast};
use failsafe_core::timeout::Deadline;
use failsafe_core::{FnObserver, Instant, Outcome};

use crate::Checks;

/// SysTick interrupts that advance the virtual clock; later ones do nothing.
const TICKS: u64 = 20_000;
/// Every `PERIOD`-th tick (t = 64, 128, ...) the handler reports three
/// failures in a row (opening the breaker) and the fail fast unhealthy; at
/// t = 32, 96, ... it reports the fail fast healthy again.
const PERIOD: u64 = 64;
/// SysTick reload: the interrupt period in core clock cycles.
const RELOAD: u32 = 1_000;

/// 2,000 per second (one per 0.5 ms), bursts of 4: each 1 ms tick frees
/// exactly 2 permits.
const QUOTA: Quota = failsafe_core::checked(match Quota::per_second(2_000) {
    Ok(q) => q.with_burst(4),
    Err(e) => Err(e),
});
const BURST: u64 = 4;
const PERMITS_PER_TICK: u64 = 2;
/// The handler leaves up to this many permits for thread mode; with
/// `PERMITS_PER_TICK` more each tick that never passes `BURST`, so no
/// capacity is ever lost to a full bucket.
const LEFT_FOR_THREAD: u32 = 2;

/// Three failures in a row open the breaker for 5 ms; one probe closes it.
const BREAKER_CONFIG: BreakerConfig = failsafe_core::checked(
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_millis(5))
        .half_open_probes(1)
        .success_threshold(1)
        .build(),
);
/// One call at a time, no queue.
const POOL_CONFIG: BulkheadConfig =
    failsafe_core::checked(BulkheadConfig::builder().max_concurrent(1).build());

type Observer = FnObserver<fn(BreakerEvent)>;
type Machine = CircuitBreaker<CountWindow<8>, Observer>;

static CLOCK: CsLock<u64> = CsLock::new(0);
static LIMITER: AtomicGcra = AtomicGcra::new(QUOTA);
static BREAKER: SharedBreaker<CountWindow<8>, Observer, CsLock<Machine>> =
    SharedBreaker::new(CsLock::new(CircuitBreaker::with_observer(
        BREAKER_CONFIG,
        CountWindow::new(),
        FnObserver(on_breaker_event as fn(BreakerEvent)),
    )));
static FAIL_FAST: SharedFailFast<(), CsLock<FailFast>> =
    SharedFailFast::new(CsLock::new(FailFast::new(FailFastConfig::DEFAULT)));
static POOL: SharedBulkhead<1, (), CsLock<Bulkhead<1>>> =
    SharedBulkhead::new(CsLock::new(Bulkhead::new(POOL_CONFIG)));

/// What the breaker's observer saw (it runs inside the breaker's lock).
#[derive(Clone, Copy)]
struct Seen {
    opened: u64,
    stale: u64,
}

static SEEN: CsLock<Seen> = CsLock::new(Seen {
    opened: 0,
    stale: 0,
});

fn on_breaker_event(event: BreakerEvent) {
    match event {
        BreakerEvent::StateChanged {
            to: State::Open, ..
        } => SEEN.with(|s| s.opened += 1),
        BreakerEvent::StaleOutcome { .. } => SEEN.with(|s| s.stale += 1),
        _ => {}
    }
}

/// Attempts, and how each ended.
#[derive(Clone, Copy)]
struct Tally {
    attempts: u64,
    admitted: u64,
    rejected: u64,
}

impl Tally {
    const ZERO: Tally = Tally {
        attempts: 0,
        admitted: 0,
        rejected: 0,
    };

    /// Counts one attempt; returns `admitted`.
    fn count(&mut self, admitted: bool) -> bool {
        self.attempts += 1;
        if admitted {
            self.admitted += 1;
        } else {
            self.rejected += 1;
        }
        admitted
    }

    fn add(&mut self, other: &Tally) {
        self.attempts += other.attempts;
        self.admitted += other.admitted;
        self.rejected += other.rejected;
    }

    /// Every attempt ended exactly one way.
    fn balanced(&self) -> bool {
        self.admitted + self.rejected == self.attempts
    }
}

/// One context's counts. `*_returned`: permits handed back (each exactly
/// once: a permit is moved into `record`/`release`).
#[derive(Clone, Copy)]
struct Counts {
    rate: Tally,
    breaker: Tally,
    breaker_returned: u64,
    /// Breaker openings caused by this context's failures (state just
    /// before the failing `record` was not open, just after it was).
    breaker_opened: u64,
    fail_fast: Tally,
    fail_fast_returned: u64,
    pool: Tally,
    pool_returned: u64,
}

impl Counts {
    const ZERO: Counts = Counts {
        rate: Tally::ZERO,
        breaker: Tally::ZERO,
        breaker_returned: 0,
        breaker_opened: 0,
        fail_fast: Tally::ZERO,
        fail_fast_returned: 0,
        pool: Tally::ZERO,
        pool_returned: 0,
    };

    fn add(&mut self, other: &Counts) {
        self.rate.add(&other.rate);
        self.breaker.add(&other.breaker);
        self.breaker_returned += other.breaker_returned;
        self.breaker_opened += other.breaker_opened;
        self.fail_fast.add(&other.fail_fast);
        self.fail_fast_returned += other.fail_fast_returned;
        self.pool.add(&other.pool);
        self.pool_returned += other.pool_returned;
    }
}

/// The handler's counts (it keeps none of its own between interrupts).
static HANDLER: CsLock<Counts> = CsLock::new(Counts::ZERO);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// The clock only the handler advances.
fn clock() -> u64 {
    CLOCK.with(|t| *t)
}

#[exception]
fn SysTick() {
    let Some(t) = CLOCK.with(|t| {
        (*t < TICKS).then(|| {
            *t += 1;
            *t
        })
    }) else {
        return;
    };
    let now = ms(t);
    let mut c = Counts::ZERO;

    // At least 2 permits are free now (see LEFT_FOR_THREAD): take one, then
    // any beyond the ones left for thread mode.
    c.rate.count(LIMITER.acquire(now, 1).is_ok());
    while LIMITER.available(now) > LEFT_FOR_THREAD {
        c.rate.count(LIMITER.acquire(now, 1).is_ok());
    }

    let failing = t % PERIOD == 0;
    for _ in 0..if failing { 3 } else { 1 } {
        if let Ok(permit) = c.breaker.count_result(BREAKER.acquire(now)) {
            let outcome = if failing {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            let before = BREAKER.state();
            BREAKER.record(now, permit, outcome);
            c.breaker_returned += 1;
            if before != State::Open && BREAKER.state() == State::Open {
                c.breaker_opened += 1;
            }
        }
    }

    if failing {
        FAIL_FAST.with(|ff| ff.report_unhealthy(now));
    } else if t % PERIOD == PERIOD / 2 {
        FAIL_FAST.with(|ff| ff.report_healthy(now));
    }
    if let Ok(permit) = c
        .fail_fast
        .count_result(FAIL_FAST.acquire(now, Deadline::NEVER))
    {
        FAIL_FAST.record(now, permit, Outcome::Success);
        c.fail_fast_returned += 1;
    }

    if let Ok(permit) = c.pool.count_result(POOL.try_acquire(now)) {
        POOL.release(now, permit, Outcome::Success);
        c.pool_returned += 1;
    }

    HANDLER.with(|h| h.add(&c));
}

impl Tally {
    fn count_result<T, E>(&mut self, result: Result<T, E>) -> Result<T, E> {
        self.count(result.is_ok());
        result
    }
}

/// Runs the scenario; adds its expectations to `c`.
pub(crate) fn run(c: &mut Checks, mut syst: SYST) {
    hprintln!(
        "SysTick and thread mode share one static AtomicGcra, SharedBreaker, SharedFailFast, SharedBulkhead ({} interrupts)",
        TICKS
    );
    let mut th = Counts::ZERO;
    // Take the initial burst at t = 0, before the first interrupt: a full
    // bucket left while time passes would lose capacity, and the total below
    // would depend on when the first interrupt came.
    while th.rate.count(LIMITER.acquire(ms(0), 1).is_ok()) {}

    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();

    let mut loops: u64 = 0;
    loop {
        let t = clock();
        if t >= TICKS {
            break;
        }
        loops += 1;
        let now = ms(t);
        th.rate.count(LIMITER.acquire(now, 1).is_ok());
        // Hold every permit across the other calls, so interrupts land while
        // they are out (and the breaker may move on under them).
        let breaker = th.breaker.count_result(BREAKER.acquire(now));
        let fail_fast = th
            .fail_fast
            .count_result(FAIL_FAST.acquire(now, Deadline::NEVER));
        let pool = th.pool.count_result(POOL.try_acquire(now));
        let _ = LIMITER.available(now);
        let later = ms(clock());
        if let Ok(permit) = breaker {
            BREAKER.record(later, permit, Outcome::Success);
            th.breaker_returned += 1;
        }
        if let Ok(permit) = fail_fast {
            FAIL_FAST.record(later, permit, Outcome::Success);
            th.fail_fast_returned += 1;
        }
        if let Ok(permit) = pool {
            POOL.release(later, permit, Outcome::Success);
            th.pool_returned += 1;
        }
    }
    syst.disable_interrupt();
    syst.disable_counter();

    // Take whatever the last tick left, at the final instant.
    let end = ms(clock());
    while th.rate.count(LIMITER.acquire(end, 1).is_ok()) {}

    let h = HANDLER.with(|h| *h);
    let mut all = h;
    all.add(&th);
    hprintln!(
        "  clock {} ms, thread-mode loop ran {} times",
        clock(),
        loops
    );
    hprintln!(
        "  rate:      handler {}/{} admitted, thread {}/{}",
        h.rate.admitted,
        h.rate.attempts,
        th.rate.admitted,
        th.rate.attempts
    );
    hprintln!(
        "  breaker:   handler {}/{} admitted, thread {}/{}",
        h.breaker.admitted,
        h.breaker.attempts,
        th.breaker.admitted,
        th.breaker.attempts
    );
    hprintln!(
        "  fail fast: handler {}/{} admitted, thread {}/{}",
        h.fail_fast.admitted,
        h.fail_fast.attempts,
        th.fail_fast.admitted,
        th.fail_fast.attempts
    );
    hprintln!(
        "  bulkhead:  handler {}/{} admitted, thread {}/{}",
        h.pool.admitted,
        h.pool.attempts,
        th.pool.admitted,
        th.pool.attempts
    );

    c.check("the virtual clock reached 20,000 ms", clock() == TICKS);
    c.check(
        "every attempt was admitted or rejected, once (each machine, each context)",
        [h, th]
            .iter()
            .all(|x| x.rate.balanced() && x.breaker.balanced())
            && [h, th]
                .iter()
                .all(|x| x.fail_fast.balanced() && x.pool.balanced()),
    );
    c.check(
        "every permit taken was handed back once",
        all.breaker_returned == all.breaker.admitted
            && all.fail_fast_returned == all.fail_fast.admitted
            && all.pool_returned == all.pool.admitted,
    );
    c.check(
        "the handler ran on every tick and found permits every time",
        h.rate.attempts >= TICKS && h.rate.rejected == 0 && h.breaker.attempts >= TICKS,
    );
    // The handler's own view is fixed: thread mode never changes a state.
    // Breaker: open at t = 64k, rejected at 64k+1 ..= 64k+4, the probe at
    // 64k+5 is the handler's; 3 calls at each of the 312 openings, 1 per
    // other tick: 20,000 + 2 x 312 = 20,624 calls, 4 x 312 = 1,248 refused.
    // Fail fast: open over t = 64k ..= 64k+31: 32 x 312 = 9,984 refused.
    c.check(
        "handler: breaker refused 1,248 of 20,624, fail fast 9,984 of 20,000",
        (h.breaker.attempts, h.breaker.rejected) == (20_624, 1_248)
            && (h.fail_fast.attempts, h.fail_fast.rejected) == (20_000, 9_984),
    );
    c.check(
        "thread mode was admitted too (the contexts really shared)",
        th.rate.admitted > BURST && th.breaker.admitted > 0 && th.pool.admitted > 0,
    );

    // GCRA: from empty, at most BURST + elapsed / period permits by the end,
    // and exactly that many when no capacity was ever lost:
    // 4 + 20,000 ms / 0.5 ms = 40,004.
    c.check(
        "rate: exactly 4 + 20,000 x 2 = 40,004 permits admitted in total",
        all.rate.admitted == BURST + TICKS * PERMITS_PER_TICK && all.rate.admitted == 40_004,
    );

    let bm = BREAKER.metrics(end);
    let seen = SEEN.with(|s| *s);
    hprintln!(
        "  breaker metrics: rejected {}, opened {}, stale outcomes {}",
        bm.rejected,
        bm.times_opened,
        bm.stale_outcomes
    );
    c.check(
        "breaker: metrics count every rejection both contexts saw",
        bm.rejected == all.breaker.rejected,
    );
    // Opened at t = 64, 128, ..., 19,968 (floor(20,000 / 64) = 312 times),
    // each time closed again by a probe 5 ms later.
    c.check(
        "breaker: opened 312 times, each by a failure the handler recorded",
        bm.times_opened == 312 && h.breaker_opened == 312 && seen.opened == 312,
    );
    c.check(
        "breaker: every stale outcome was reported once",
        bm.stale_outcomes == seen.stale,
    );
    c.check("breaker: closed at the end", bm.state == State::Closed);

    let fm = FAIL_FAST.metrics();
    hprintln!(
        "  fail fast metrics: rejected {}, opened {}",
        fm.rejected_open,
        fm.times_opened
    );
    c.check(
        "fail fast: metrics count every rejection both contexts saw",
        fm.rejected_open == all.fail_fast.rejected && fm.rejected_deadline == 0,
    );
    // Unhealthy at t = 64, ..., 19,968, healthy 32 ms later: 312 openings.
    c.check("fail fast: opened 312 times", fm.times_opened == 312);

    let pm = POOL.metrics();
    c.check(
        "bulkhead: metrics match both contexts' counts, nothing in flight",
        pm.acquired == all.pool.admitted
            && pm.rejected == all.pool.rejected
            && pm.released == all.pool.admitted
            && pm.in_flight == 0,
    );
}
