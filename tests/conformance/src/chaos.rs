//! Chaos injection on every binding, async and blocking: a seeded policy in
//! a pipeline injects exactly what a twin core machine on the same seeds
//! decides (errors, chosen outcomes, latency on the binding's timer, hangs
//! cut by the attempt timeout), a breaker in front sees injected errors as
//! the dependency's, switched off at run time every call passes through
//! untouched, and a latency reaching the attempt's deadline is a timeout
//! at that deadline, the call never made.

use core::cell::Cell;
use core::time::Duration;

use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::rng::Seeds;
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosPolicy, Fault, Rate, Schedule};
use failsafe_driver::{CircuitBreakerPolicy, Clock, Error, Pipeline};
use futures_lite::future::zip;

use crate::{Binding, BlockingBinding, since};

const SEED: u64 = 42;
const CALLS: usize = 60;
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// Every fault at 20 %, 40 ms added to half the calls.
fn mixed() -> ChaosConfig {
    let ms40 = Duration::from_millis(40);
    ChaosConfig::builder()
        .error(Rate::percent(20), Schedule::Always)
        .outcome(Rate::percent(20), Schedule::Always)
        .hang(Rate::percent(20), Schedule::Always)
        .latency(Rate::percent(50), ms40, ms40, Schedule::Always)
        .build()
        .unwrap()
}

/// What a call starting at `start` must answer, and when, per the twin's
/// decision; counts each kind in `seen` (pass, error, outcome, hang, delayed).
fn expected(
    twin: &Chaos,
    seeds: &Seeds,
    start: Instant,
    seen: &mut [u32; 5],
) -> (Result<u16, Error<&'static str>>, Duration) {
    let injection = twin.decide(start, &mut seeds.next());
    seen[4] += u32::from(!injection.delay.is_zero());
    let (kind, answer, took) = match injection.fault {
        None => (0, Ok(200), injection.delay),
        Some(Fault::Error) => (1, Err(Error::Inner("injected")), injection.delay),
        Some(Fault::Outcome) => (2, Ok(503), injection.delay),
        Some(Fault::Hang) => {
            let deadline = Deadline::at(start + ATTEMPT_TIMEOUT);
            (3, Err(Error::Timeout(deadline)), ATTEMPT_TIMEOUT)
        }
    };
    seen[kind] += 1;
    (answer, took)
}

fn down() -> Chaos {
    let always = ChaosConfig::builder().error(Rate::ALWAYS, Schedule::Always);
    Chaos::new(always.build().unwrap())
}

/// 40 ms added to every call.
fn slow() -> Chaos {
    let ms40 = Duration::from_millis(40);
    let slow = ChaosConfig::builder().latency(Rate::ALWAYS, ms40, ms40, Schedule::Always);
    Chaos::new(slow.build().unwrap())
}

/// A 30 ms attempt timeout: shorter than the added latency.
fn short() -> TimeoutConfig {
    TimeoutConfig::new(Duration::from_millis(30)).unwrap()
}

fn breaker_config() -> BreakerConfig {
    BreakerConfig::builder()
        .consecutive_failures(2)
        .open_wait(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A seeded chaos policy in a pipeline (attempt timeout 1 s) injects
/// exactly what a twin machine on the same seeds decides: the injected
/// error, the chosen outcome (an `Ok` 503) or the call's own answer, each
/// after the added latency on the binding's timer; a hang is cut by the
/// attempt timeout at 1 s. A breaker in front opens on injected errors.
/// Switched off at run time, calls pass through with no delay.
pub async fn chaos_injects_exactly_as_the_core_decides<B: Binding>(b: B) {
    let rt = b.rt();
    let chaos = Chaos::new(mixed());
    let policy = ChaosPolicy::new(&chaos, || "injected", || Ok(503)).seed(SEED);
    let timeout = TimeoutConfig::new(ATTEMPT_TIMEOUT).unwrap();
    let pipeline = Pipeline::new(rt.clone())
        .attempt_timeout(timeout)
        .chaos(&policy);
    let (twin, seeds, mut seen) = (Chaos::new(mixed()), Seeds::new(SEED), [0; 5]);
    for _ in 0..CALLS {
        let start = rt.now();
        let (answer, took) = expected(&twin, &seeds, start, &mut seen);
        let call = pipeline.call(|_| async { Ok::<u16, &str>(200) });
        let (r, ()) = zip(call, b.advance(took)).await;
        assert_eq!(r.map_err(|e| e.error), answer);
        assert_eq!(since(start, rt.now()), took);
    }
    assert!(seen.iter().all(|&n| n > 0), "every kind injected: {seen:?}");

    chaos.set_enabled(false);
    for _ in 0..10 {
        let start = rt.now();
        let r = pipeline.call(|_| async { Ok::<u16, &str>(200) }).await;
        assert_eq!((r, rt.now()), (Ok(200), start));
    }

    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config(), NoWindow, rt.clone());
    let down = down();
    let policy = ChaosPolicy::new(&down, || "injected", || Ok(503));
    let guarded = Pipeline::new(rt.clone()).admit(&breaker).chaos(policy);
    for _ in 0..2 {
        let r = guarded.call(|_| async { Ok::<u16, &str>(200) }).await;
        assert_eq!(r.unwrap_err().error, Error::Inner("injected"));
    }
    let r = guarded.call(|_| async { Ok::<u16, &str>(200) }).await;
    let rejected = r.unwrap_err().rejected().map(|r| r.reason);
    assert_eq!(rejected, Some(RejectReason::BreakerOpen));

    // A latency reaching the attempt's deadline: the call is never made and
    // is cut at the deadline.
    let slow = slow();
    let policy = ChaosPolicy::new(&slow, || "injected", || Ok(503));
    let bounded = Pipeline::new(rt.clone())
        .attempt_timeout(short())
        .chaos(policy);
    let (start, called) = (rt.now(), Cell::new(false));
    let call = bounded.call(|_| {
        called.set(true);
        async { Ok::<u16, &str>(200) }
    });
    let (r, ()) = zip(call, b.advance(short().timeout())).await;
    let cut = Deadline::at(start + short().timeout());
    assert_eq!(r.unwrap_err().error, Error::Timeout(cut));
    assert_eq!(
        (called.get(), since(start, rt.now())),
        (false, short().timeout())
    );
}

/// [`chaos_injects_exactly_as_the_core_decides`] for blocking callers:
/// the latency blocks the thread on the binding's clock, a hang blocks
/// until the attempt's deadline and the late answer is a timeout.
pub fn chaos_injects_exactly_as_the_core_decides_blocking<B: BlockingBinding>(b: B) {
    let rt = b.rt();
    let chaos = Chaos::new(mixed());
    let policy = ChaosPolicy::new(&chaos, || "injected", || Ok(503)).seed(SEED);
    let timeout = TimeoutConfig::new(ATTEMPT_TIMEOUT).unwrap();
    let pipeline = Pipeline::new(rt.clone())
        .attempt_timeout(timeout)
        .chaos(&policy);
    let (twin, seeds, mut seen) = (Chaos::new(mixed()), Seeds::new(SEED), [0; 5]);
    for _ in 0..CALLS {
        let start = rt.now();
        let (answer, took) = expected(&twin, &seeds, start, &mut seen);
        let r = pipeline.call_blocking(|_| Ok::<u16, &str>(200));
        assert_eq!(r.map_err(|e| e.error), answer);
        assert_eq!(since(start, rt.now()), took);
    }
    assert!(seen.iter().all(|&n| n > 0), "every kind injected: {seen:?}");

    chaos.set_enabled(false);
    for _ in 0..10 {
        let start = rt.now();
        let r = pipeline.call_blocking(|_| Ok::<u16, &str>(200));
        assert_eq!((r, rt.now()), (Ok(200), start));
    }

    let breaker = CircuitBreakerPolicy::with_runtime(breaker_config(), NoWindow, rt.clone());
    let down = down();
    let policy = ChaosPolicy::new(&down, || "injected", || Ok(503));
    let guarded = Pipeline::new(rt.clone()).admit(&breaker).chaos(policy);
    for _ in 0..2 {
        let r = guarded.call_blocking(|_| Ok::<u16, &str>(200));
        assert_eq!(r.unwrap_err().error, Error::Inner("injected"));
    }
    let r = guarded.call_blocking(|_| Ok::<u16, &str>(200));
    let rejected = r.unwrap_err().rejected().map(|r| r.reason);
    assert_eq!(rejected, Some(RejectReason::BreakerOpen));

    // A latency reaching the attempt's deadline: blocked until it, never
    // made, a timeout.
    let slow = slow();
    let policy = ChaosPolicy::new(&slow, || "injected", || Ok(503));
    let bounded = Pipeline::new(rt.clone())
        .attempt_timeout(short())
        .chaos(policy);
    let (start, mut called) = (rt.now(), false);
    let r = bounded.call_blocking(|_| {
        called = true;
        Ok::<u16, &str>(200)
    });
    let cut = Deadline::at(start + short().timeout());
    assert_eq!(r.unwrap_err().error, Error::Timeout(cut));
    assert_eq!((called, since(start, rt.now())), (false, short().timeout()));
}
