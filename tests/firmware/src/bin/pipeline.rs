//! The pipeline on a firmware: a radio uplink behind one `static` pipeline
//! (a circuit breaker and a GCRA limiter, a retry with exponential backoff
//! and full jitter, an attempt timeout), as a firmware engineer would write
//! it, under QEMU with the SysTick time driver.
//!
//! The radio answers every frame, except that attempt 3 never answers (the
//! attempt timeout cuts it and the retry sends again) and attempts 20 to 39
//! fail (the breaker opens, the pipeline rejects without touching the
//! radio, a probe after the open wait closes it again once the radio is
//! back). The task prints a line for every call that did not succeed at its
//! first attempt, then the checks. Built and run by `.ci/firmware.sh`.
#![no_std]
#![no_main]

#[path = "../harness.rs"]
mod harness;
#[path = "../time_driver.rs"]
mod time_driver;

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use cortex_m_semihosting::hprintln;
use embassy_executor::Spawner;
use embassy_time::{Instant, Timer};
use failsafe_embassy::{
    Attempt, BackoffKind, BreakerConfig, CircuitBreakerPolicy, Jitter, NoWindow, Pipeline, Quota,
    RateLimiterPolicy, RetryConfig, State, TimeoutConfig, WakeAt, checked, circuit_breaker,
    pipeline, rate_limiter,
};

/// Opens after 5 failures in a row; a probe after 300 ms.
const RADIO_BREAKER: BreakerConfig = checked(
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(5)
        .open_wait(Duration::from_millis(300))
        .build(),
);
static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&RADIO_BREAKER, NoWindow);
/// 50 frames a second, bursts of 5; a frame waits up to 100 ms for its turn.
static AIRTIME: RateLimiterPolicy = rate_limiter(
    checked(Quota::builder().per_second(50).burst(5).build()),
    Duration::from_millis(100),
);
/// 3 attempts, 20 ms doubling, full jitter; 100 ms per attempt.
static UPLINK: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &RateLimiterPolicy)> =
    pipeline((&BREAKER, &AIRTIME))
        .retry(checked(
            RetryConfig::builder()
                .max_attempts(3)
                .backoff(BackoffKind::Exponential {
                    initial: Duration::from_millis(20),
                    multiplier: 2.0,
                    max: Duration::from_millis(200),
                })
                .jitter(Jitter::Full)
                .build(),
        ))
        .attempt_timeout(checked(TimeoutConfig::new(Duration::from_millis(100))));

/// Frames to send, one every 25 ms.
const FRAMES: u32 = 60;

/// Attempts that reached the radio.
static RADIO_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
/// The attempt that never answers.
const HANGS: u32 = 3;
/// The attempts the radio fails.
const FAILS: core::ops::Range<u32> = 20..40;

/// The radio driver: fails `FAILS`, never answers `HANGS`.
async fn radio_send(frame: u32, attempt: Attempt) -> Result<(), u32> {
    let _ = attempt.deadline; // a real driver hands it to the radio
    let n = RADIO_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    if n == HANGS {
        core::future::pending::<()>().await;
    }
    if FAILS.contains(&n) {
        Err(frame)
    } else {
        Ok(())
    }
}

/// What the task saw.
#[derive(Default)]
struct Seen {
    ok: u32,
    ok_after_retry: u32,
    rejected: u32,
    failed: u32,
    timed_out_attempts: u32,
}

#[embassy_executor::task]
async fn uplink() {
    let start = Instant::now();
    let mut seen = Seen::default();
    for frame in 0..FRAMES {
        let before = RADIO_ATTEMPTS.load(Ordering::Relaxed);
        let result = UPLINK.call(|attempt| radio_send(frame, attempt)).await;
        let attempts = RADIO_ATTEMPTS.load(Ordering::Relaxed) - before;
        let t = start.elapsed().as_millis();
        match result {
            Ok(()) if attempts == 1 => seen.ok += 1,
            Ok(()) => {
                seen.ok += 1;
                seen.ok_after_retry += 1;
                hprintln!(
                    "{:>5} ms frame {}: sent after {} attempts",
                    t,
                    frame,
                    attempts
                );
                if before <= HANGS && HANGS < before + attempts {
                    seen.timed_out_attempts += 1;
                }
            }
            Err(e) if e.rejected().is_some() => {
                seen.rejected += 1;
                hprintln!(
                    "{:>5} ms frame {}: rejected ({} attempts reached the radio), breaker {:?}",
                    t,
                    frame,
                    attempts,
                    BREAKER.shared().with(|b| b.state())
                );
                // the open breaker says when a probe is admitted
                if let Some(at) = e.wake_at() {
                    Timer::at(at).await;
                }
            }
            Err(_) => {
                seen.failed += 1;
                hprintln!(
                    "{:>5} ms frame {}: failed after {} attempts",
                    t,
                    frame,
                    attempts
                );
            }
        }
        Timer::after_millis(25).await;
    }
    let state = BREAKER.shared().with(|b| b.state());
    let sent = seen.ok + seen.rejected + seen.failed;
    hprintln!(
        "pipeline: {} frames, {} sent ({} after a retry), {} rejected, {} failed; {} radio attempts; breaker {:?}",
        FRAMES,
        seen.ok,
        seen.ok_after_retry,
        seen.rejected,
        seen.failed,
        RADIO_ATTEMPTS.load(Ordering::Relaxed),
        state
    );
    let mut ok = harness::check(sent == FRAMES, "pipeline: every frame has one answer");
    ok &= harness::check(
        seen.timed_out_attempts == 1,
        "pipeline: the attempt that never answered was cut by the attempt timeout and retried",
    );
    ok &= harness::check(
        seen.rejected >= 1,
        "pipeline: the failing radio opened the breaker, which rejected frames without touching it",
    );
    ok &= harness::check(
        state == State::Closed && seen.ok >= FRAMES / 2,
        "pipeline: a probe closed the breaker once the radio was back",
    );
    harness::finish(ok);
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    if !harness::start_clock() {
        return;
    }
    let Ok(task) = uplink() else {
        harness::fail("the task could not be spawned");
        return;
    };
    spawner.spawn(task);
}
