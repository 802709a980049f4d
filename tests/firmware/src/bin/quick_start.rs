//! The README's firmware quick start (`../quick_start.rs`, shown verbatim
//! in the README; `.ci/firmware.sh` checks they match) as a whole firmware:
//! a bus whose reads 20 to 39 fail, the SysTick time driver, and a `main`
//! that spawns the quick start's task, lets it run for 50 bus reads (about
//! 3 s of embassy time) and checks what the bus saw. Built and run under QEMU by
//! `.ci/firmware.sh` (thumbv7em), so the README's text is proved to compile
//! and work for thumb.
#![no_std]
#![no_main]

#[path = "../harness.rs"]
mod harness;
#[path = "../quick_start.rs"]
mod quick_start;
#[path = "../time_driver.rs"]
mod time_driver;

use cortex_m_semihosting::hprintln;
use embassy_executor::Spawner;
use embassy_time::{Duration, Instant, Timer};
use failsafe_embassy::{Clock, EmbassyClock, State};

/// Bus reads to wait for (at most 10 s of embassy time).
const READS: u32 = 50;

/// The quick start's drivers: a sensor bus with a loose connector for reads
/// 20 to 39, and a radio.
mod bus {
    use core::sync::atomic::{AtomicU32, Ordering};

    /// Reads that reached the bus.
    pub(crate) static READS: AtomicU32 = AtomicU32::new(0);
    /// Reports sent.
    pub(crate) static REPORTS: AtomicU32 = AtomicU32::new(0);
    /// The reads answered with a fault.
    pub(crate) const FAULTS: core::ops::Range<u32> = 20..40;

    /// The bus answered with a fault.
    #[derive(Debug)]
    pub(crate) struct BusFault;

    pub(crate) async fn read_sensor() -> Result<u16, BusFault> {
        let n = READS.fetch_add(1, Ordering::Relaxed);
        if FAULTS.contains(&n) {
            Err(BusFault)
        } else {
            Ok(421)
        }
    }

    pub(crate) async fn send_report(_value: u16) -> Result<(), BusFault> {
        REPORTS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    use core::sync::atomic::Ordering;
    if !harness::start_clock() {
        return;
    }
    let Ok(sensor) = quick_start::sensor() else {
        harness::fail("the task could not be spawned");
        return;
    };
    spawner.spawn(sensor);
    // The first 20 reports go at the limiter's 10 a second, then the faults
    // open the breaker and its probes meet them 50 ms apart: about 3 s.
    let give_up = Instant::now() + Duration::from_secs(10);
    while bus::READS.load(Ordering::Relaxed) < READS && Instant::now() < give_up {
        Timer::after_millis(100).await;
    }

    let reads = bus::READS.load(Ordering::Relaxed);
    let reports = bus::REPORTS.load(Ordering::Relaxed);
    // The breaker keeps no counts (embassy's default): its window tells.
    // Had it never opened, its last 20 calls would hold the faults of reads
    // 30 to 39; a failure-free window means it changed state since (every
    // change starts the window afresh): opened, then closed by a probe.
    let m = quick_start::SENSOR.shared().metrics(EmbassyClock.now());
    hprintln!(
        "quick start: {} bus reads, {} reports, breaker {:?}, its window {} calls, {} failed",
        reads,
        reports,
        m.state,
        m.calls,
        m.failures
    );
    let mut ok = harness::check(
        m.failures == 0 && m.calls < 20 && m.state == State::Closed,
        "quick start: the faults opened the breaker, and a probe closed it",
    );
    ok &= harness::check(
        // the last good read's report may still wait for the limiter
        reads >= READS && (reads - reports).abs_diff(bus::FAULTS.end - bus::FAULTS.start) <= 1,
        "quick start: every good read was reported through the limiter",
    );
    harness::finish(ok);
}
