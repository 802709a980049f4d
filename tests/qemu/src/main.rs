//! A circuit-breaker timeline on an emulated Cortex-M3, with failsafe-core
//! only: the breaker lives in a `static`, shared through a critical-section
//! lock, with no heap and no clock (every instant is handed in). Then
//! [`stress`]: thread mode and the SysTick exception hammer one static rate
//! limiter, breaker, fail fast and bulkhead, and every count is checked.
//!
//! Built for thumbv7m-none-eabi (Cortex-M3: no 64-bit atomics) and
//! thumbv6m-none-eabi (Cortex-M0: no atomic CAS at all; QEMU's Cortex-M3 runs
//! its code unchanged).
//!
//! It prints the timeline over semihosting, checks each expectation, and
//! ends QEMU with `EXIT_SUCCESS` only if all of them held (`EXIT_FAILURE`
//! otherwise, or on a panic).
//!
//! Run it with `cargo run --release` from this directory.
#![no_std]
#![no_main]

mod stress;

use core::panic::PanicInfo;
use core::time::Duration;

use cortex_m as _; // the single-core critical-section implementation
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use failsafe_core::breaker::{BreakerConfig, BreakerEvent, CircuitBreaker, CountWindow, State};
use failsafe_core::sync::{CsLock, Lock, SharedBreaker};
use failsafe_core::{FnObserver, Instant, Outcome, RejectReason};

/// Three failures in a row open the breaker for one second; one probe.
const CONFIG: BreakerConfig = failsafe_core::checked(
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(1))
        .build(),
);

type Observer = FnObserver<fn(BreakerEvent)>;
type Machine = CircuitBreaker<CountWindow<8>, Observer>;

static BREAKER: SharedBreaker<CountWindow<8>, Observer, CsLock<Machine>> =
    SharedBreaker::new(CsLock::new(CircuitBreaker::with_observer(
        CONFIG,
        CountWindow::new(),
        FnObserver(on_event as fn(BreakerEvent)),
    )));

/// The state changes the observer saw: (from, to, at).
struct Transitions {
    seen: [Option<(State, State, Instant)>; 8],
    len: usize,
}

static TRANSITIONS: CsLock<Transitions> = CsLock::new(Transitions {
    seen: [None; 8],
    len: 0,
});

/// Runs inside the breaker's critical section: short, and never calls back.
fn on_event(event: BreakerEvent) {
    if let BreakerEvent::StateChanged { from, to, at } = event {
        hprintln!("    event: {} -> {} at {}", from, to, at);
        TRANSITIONS.with(|t| {
            if let Some(slot) = t.seen.get_mut(t.len) {
                *slot = Some((from, to, at));
                t.len += 1;
            }
        });
    }
}

/// Counts the expectations that did not hold.
struct Checks {
    failed: u32,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool) {
        hprintln!("  [{}] {}", if ok { "ok" } else { "FAIL" }, what);
        if !ok {
            self.failed += 1;
        }
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// One call at `at` that ends with `outcome` (reported at the same instant).
fn call(at: Instant, outcome: Outcome) -> bool {
    match BREAKER.acquire(at) {
        Ok(permit) => {
            BREAKER.record(at, permit, outcome);
            true
        }
        Err(_) => false,
    }
}

#[entry]
fn main() -> ! {
    let mut c = Checks { failed: 0 };
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        panic!("the core peripherals are taken once, here");
    };
    hprintln!("failsafe-core circuit breaker on a Cortex-M3 (QEMU)");

    hprintln!("t=0.000s .. t=0.020s: three failures in a row");
    for t in [0, 10, 20] {
        c.check("the call is admitted", call(ms(t), Outcome::Failure));
    }
    c.check("the breaker is open", BREAKER.state() == State::Open);

    hprintln!("t=0.500s: a call while open");
    match BREAKER.acquire(ms(500)) {
        Ok(permit) => {
            BREAKER.record(ms(500), permit, Outcome::Cancelled);
            c.check("the call is rejected", false);
        }
        Err(rejected) => {
            hprintln!("    rejected: {}", rejected);
            c.check("the call is rejected", true);
            c.check(
                "because the breaker is open",
                rejected.reason == RejectReason::BreakerOpen,
            );
            c.check(
                "retry_at is t=1.020s (t=0.020s + 1 s)",
                rejected.retry_at == Some(ms(1_020)),
            );
            c.check(
                "retry_after is 520 ms",
                rejected.retry_after(ms(500)) == Some(Duration::from_millis(520)),
            );
        }
    }
    c.check(
        "next_deadline is t=1.020s",
        BREAKER.next_deadline() == Some(ms(1_020)),
    );

    hprintln!("t=1.019s: one millisecond early");
    c.check("still rejected", BREAKER.acquire(ms(1_019)).is_err());

    hprintln!("t=1.020s: the wait is over, one probe");
    match BREAKER.acquire(ms(1_020)) {
        Ok(probe) => {
            c.check("the probe is admitted", probe.is_probe());
            c.check(
                "the breaker is half-open",
                BREAKER.state() == State::HalfOpen,
            );
            let second = BREAKER.acquire(ms(1_021));
            c.check(
                "a second caller is rejected: one probe only",
                matches!(second, Err(r) if r.reason == RejectReason::BreakerHalfOpenFull),
            );
            hprintln!("t=1.030s: the probe succeeds");
            BREAKER.record(ms(1_030), probe, Outcome::Success);
            c.check("the breaker is closed", BREAKER.state() == State::Closed);
        }
        Err(rejected) => {
            hprintln!("    rejected: {}", rejected);
            c.check("the probe is admitted", false);
        }
    }

    hprintln!("t=1.040s: calls flow again");
    c.check("a call is admitted", call(ms(1_040), Outcome::Success));
    let m = BREAKER.metrics(ms(1_040));
    c.check("opened once", m.times_opened == 1);
    c.check("three rejections counted", m.rejected == 3);

    let expected = [
        (State::Closed, State::Open, ms(20)),
        (State::Open, State::HalfOpen, ms(1_020)),
        (State::HalfOpen, State::Closed, ms(1_030)),
    ];
    let transitions_match = TRANSITIONS.with(|t| {
        t.len == expected.len()
            && t.seen
                .iter()
                .zip(expected)
                .all(|(seen, want)| *seen == Some(want))
    });
    c.check(
        "the observer saw closed -> open -> half-open -> closed, on time",
        transitions_match,
    );

    stress::run(&mut c, peripherals.SYST);

    if c.failed == 0 {
        hprintln!("all expectations held");
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("{} expectation(s) failed", c.failed);
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::nop();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::nop();
    }
}
