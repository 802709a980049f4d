//! An embassy firmware on an emulated Cortex-M: three tasks on
//! embassy-executor, time from SysTick ([`time_driver`]), and failsafe's
//! patterns in `static`s, as a firmware engineer would write them:
//!
//! - **sensor**: 400 reads, one per millisecond, through a circuit breaker
//!   with a 128-call window; the bus fails for reads 100 to 199, so the
//!   breaker opens, rejects without touching the bus, probes and closes;
//! - **gps**: 10 fixes through a retry (exponential backoff with full
//!   jitter); each fix fails twice before it succeeds;
//! - **radio**: 50 packets through a GCRA limiter (100 per second, bursts
//!   of 5), waiting for each permit.
//!
//! It prints a summary over semihosting, checks each expectation and ends
//! QEMU with `EXIT_SUCCESS` only if all of them held. Without the `failsafe`
//! feature the same tasks call the same operations unprotected: the
//! baseline `.ci/firmware.sh` subtracts to find what failsafe adds.
//!
//! Run it with `cargo run --release` from this directory (Cortex-M4F on
//! QEMU's MPS2 AN386; `--target thumbv7m-none-eabi` or `thumbv6m-none-eabi`
//! for the LM3S6965's Cortex-M3).
#![no_std]
#![no_main]

mod harness;
mod time_driver;

use core::cell::Cell;

use cortex_m_semihosting::hprintln;
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_time::{Duration, Instant, Timer};

/// Reads the bus answers with a fault (a loose connector).
const BUS_FAULTS: core::ops::Range<u32> = 100..200;
const SENSOR_READS: u32 = 400;
const FIXES: u32 = 10;
/// Attempts that fail before each fix succeeds.
const GPS_FAILURES_PER_FIX: u32 = 2;
const PACKETS: u32 = 50;

/// What each task saw, for the summary.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    sensor_ok: u32,
    sensor_failed: u32,
    #[cfg_attr(not(feature = "failsafe"), allow(dead_code))]
    sensor_rejected: u32,
    #[cfg_attr(not(feature = "failsafe"), allow(dead_code))]
    sensor_closed_again_at: Option<u64>,
    gps_fixes: u32,
    gps_attempts: u32,
    radio_sent: u32,
    radio_ms: u64,
    done: u8,
}

static SUMMARY: Mutex<Cell<Summary>> = Mutex::new(Cell::new(Summary {
    sensor_ok: 0,
    sensor_failed: 0,
    sensor_rejected: 0,
    sensor_closed_again_at: None,
    gps_fixes: 0,
    gps_attempts: 0,
    radio_sent: 0,
    radio_ms: 0,
    done: 0,
}));

fn update(f: impl FnOnce(&mut Summary)) {
    critical_section::with(|cs| {
        let cell = SUMMARY.borrow(cs);
        let mut s = cell.get();
        f(&mut s);
        cell.set(s);
    });
}

/// The sensor's bus.
#[derive(Debug)]
struct BusFault;

async fn read_sensor(n: u32) -> Result<u16, BusFault> {
    if BUS_FAULTS.contains(&n) {
        Err(BusFault)
    } else {
        Ok(421)
    }
}

/// One GPS attempt: fails `GPS_FAILURES_PER_FIX` times per fix.
async fn gps_attempt(tries: &Cell<u32>) -> Result<(i32, i32), BusFault> {
    tries.set(tries.get() + 1);
    update(|s| s.gps_attempts += 1);
    if tries.get() <= GPS_FAILURES_PER_FIX {
        Err(BusFault)
    } else {
        Ok((52_520, 13_405))
    }
}

async fn send_packet() {}

#[cfg(feature = "failsafe")]
mod protected;

#[embassy_executor::task]
async fn sensor() {
    for n in 0..SENSOR_READS {
        #[cfg(feature = "failsafe")]
        {
            use failsafe_embassy::{Error, State};
            let was_open = protected::SENSOR.shared().with(|b| b.state()) != State::Closed;
            match protected::SENSOR.call(|| read_sensor(n)).await {
                Ok(_) => update(|s| s.sensor_ok += 1),
                Err(Error::Rejected(_)) => update(|s| s.sensor_rejected += 1),
                Err(_) => update(|s| s.sensor_failed += 1),
            }
            if was_open && protected::SENSOR.shared().with(|b| b.state()) == State::Closed {
                let at = Instant::now().as_millis();
                update(|s| s.sensor_closed_again_at = Some(at));
            }
        }
        #[cfg(not(feature = "failsafe"))]
        match read_sensor(n).await {
            Ok(_) => update(|s| s.sensor_ok += 1),
            Err(_) => update(|s| s.sensor_failed += 1),
        }
        Timer::after(Duration::from_millis(1)).await;
    }
    update(|s| s.done += 1);
}

#[embassy_executor::task]
async fn gps() {
    for _ in 0..FIXES {
        let tries = Cell::new(0);
        #[cfg(feature = "failsafe")]
        let fix = protected::GPS
            .call(|_attempt| gps_attempt(&tries))
            .await
            .is_ok();
        #[cfg(not(feature = "failsafe"))]
        let fix = gps_attempt(&tries).await.is_ok();
        if fix {
            update(|s| s.gps_fixes += 1);
        }
    }
    update(|s| s.done += 1);
}

#[embassy_executor::task]
async fn radio() {
    let start = Instant::now();
    for _ in 0..PACKETS {
        #[cfg(feature = "failsafe")]
        if protected::RADIO.acquire().await.is_err() {
            continue;
        }
        send_packet().await;
        update(|s| s.radio_sent += 1);
    }
    let ms = start.elapsed().as_millis();
    update(|s| {
        s.radio_ms = ms;
        s.done += 1;
    });
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    if !harness::start_clock() {
        return;
    }
    let (Ok(sensor), Ok(gps), Ok(radio)) = (sensor(), gps(), radio()) else {
        harness::fail("a task could not be spawned");
        return;
    };
    spawner.spawn(sensor);
    spawner.spawn(gps);
    spawner.spawn(radio);
    loop {
        Timer::after(Duration::from_millis(10)).await;
        if critical_section::with(|cs| SUMMARY.borrow(cs).get().done) == 3 {
            break;
        }
    }
    let s = critical_section::with(|cs| SUMMARY.borrow(cs).get());
    hprintln!("{:?}", s);
    let mut ok = true;
    let faults = BUS_FAULTS.end - BUS_FAULTS.start;
    #[cfg(feature = "failsafe")]
    {
        ok &= harness::check(
            s.sensor_rejected > faults / 2,
            "sensor: the open breaker turned most faulty reads away without touching the bus",
        );
        ok &= harness::check(
            s.sensor_failed >= 5 && s.sensor_failed < faults / 2,
            "sensor: it saw enough failures to open, and few after",
        );
        ok &= harness::check(
            s.sensor_ok + s.sensor_failed + s.sensor_rejected == SENSOR_READS,
            "sensor: every read is counted once",
        );
        ok &= harness::check(
            s.sensor_closed_again_at.is_some(),
            "sensor: a probe closed the breaker once the bus recovered",
        );
        ok &= harness::check(
            s.gps_fixes == FIXES && s.gps_attempts == FIXES * (GPS_FAILURES_PER_FIX + 1),
            "gps: every fix succeeded on its third attempt",
        );
        ok &= harness::check(
            s.radio_sent == PACKETS && s.radio_ms >= u64::from((PACKETS - 5) * 10) - 10,
            "radio: every packet sent, no faster than 100 a second after the burst of 5",
        );
        hprintln!(
            "breaker128_ram={} retry_ram={} limiter_ram={}",
            core::mem::size_of_val(&protected::SENSOR),
            core::mem::size_of_val(&protected::GPS),
            core::mem::size_of_val(&protected::RADIO),
        );
    }
    #[cfg(not(feature = "failsafe"))]
    {
        ok &= harness::check(
            s.sensor_failed == faults,
            "baseline: every faulty read reached the bus",
        );
        ok &= harness::check(s.radio_sent == PACKETS, "baseline: every packet sent");
    }
    harness::finish(ok);
}
