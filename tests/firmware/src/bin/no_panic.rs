//! The link-time proof that failsafe's firmware paths cannot panic: the
//! firmware's breaker, retry and limiter calls (`../protected.rs`), and a
//! bulkhead's, a fail fast's and a pipeline's (a breaker, a limiter, a
//! retry and an attempt timeout; declared here: the size figures stay the
//! firmware's), driven
//! by a busy-polling executor and a time driver with no panic path of their
//! own, linked with `panic-never`, whose panic handler refers to a symbol
//! that does not exist. The link succeeds only if the optimiser removed
//! every panicking branch, so building this binary (`cargo build --release
//! --bin failsafe-no-panic`, in `.ci/firmware.sh`) is the proof; it is
//! never run. Inputs come through `black_box`, so no branch is decided at
//! compile time by values the firmware would not have.
#![no_std]
#![no_main]

#[path = "../protected.rs"]
mod protected;

use core::future::Future;
use core::hint::black_box;
use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll, Waker};

use cortex_m as _; // the single-core critical-section implementation
use cortex_m_rt::entry;
use failsafe_embassy::{
    BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy, Error, FailFastConfig,
    FailFastPolicy, NoWindow, Pipeline, Quota, RateLimiterPolicy, RetryConfig, State,
    TimeoutConfig, bulkhead, checked, circuit_breaker, fail_fast, pipeline, rate_limiter,
};
use panic_never as _;

/// Two calls at once, two more queued for up to 5 ms.
static POOL: BulkheadPolicy<2> = bulkhead(checked(
    BulkheadConfig::builder()
        .max_concurrent(2)
        .max_wait(core::time::Duration::from_millis(5))
        .build(),
));

const LINK_BREAKER: BreakerConfig = checked(
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(2)
        .open_wait(core::time::Duration::from_millis(10))
        .build(),
);
static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&LINK_BREAKER, NoWindow);
static AIRTIME: RateLimiterPolicy = rate_limiter(
    checked(Quota::builder().per_second(50).burst(5).build()),
    core::time::Duration::from_millis(5),
);
/// Every admission of the pipeline's chain, a retry and an attempt timeout.
static UPLINK: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &RateLimiterPolicy)> =
    pipeline((&BREAKER, &AIRTIME))
        .retry(checked(RetryConfig::builder().max_attempts(3).build()))
        .attempt_timeout(checked(TimeoutConfig::new(
            core::time::Duration::from_millis(20),
        )));

/// Opens after 3 failures in a row; learns how long a call takes.
static LINK: FailFastPolicy = fail_fast(checked(
    FailFastConfig::builder().consecutive_failures(3).build(),
));

/// Time that moves on at every look, so every timer ends; a waker is woken
/// at once, so the executor below just polls again.
struct Ticking(AtomicU32);

impl embassy_time_driver::Driver for Ticking {
    fn now(&self) -> u64 {
        u64::from(self.0.fetch_add(1, Ordering::Relaxed))
    }

    fn schedule_wake(&self, _at: u64, waker: &Waker) {
        waker.wake_by_ref();
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: Ticking = Ticking(AtomicU32::new(0)));

/// Polls `future` until it is ready.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// An operation's future with no panic path of its own (an `async fn`'s
/// state machine and `core::future::Ready` both have one, for a poll after
/// completion): the proof is about failsafe's.
fn fallible(fail: bool) -> impl Future<Output = Result<u16, ()>> {
    let answer = if fail { Err(()) } else { Ok(421) };
    core::future::poll_fn(move |_| Poll::Ready(answer))
}

#[entry]
fn main() -> ! {
    loop {
        let sensor = block_on(protected::SENSOR.call(|| fallible(black_box(false))));
        let open = protected::SENSOR.shared().with(|b| b.state()) != State::Closed;
        let fix = block_on(protected::GPS.call(|_attempt| fallible(black_box(true))));
        let sent = block_on(protected::RADIO.acquire()).is_ok();
        let pooled = block_on(POOL.call(|| fallible(black_box(false)))).is_ok();
        let linked = block_on(LINK.call(|| fallible(black_box(true)))).is_ok();
        let uplinked = block_on(UPLINK.call(|_attempt| fallible(black_box(true)))).is_ok();
        black_box((
            matches!(sensor, Err(Error::Rejected(_))),
            open,
            fix.is_ok(),
            sent,
            pooled,
            linked,
            uplinked,
        ));
    }
}
