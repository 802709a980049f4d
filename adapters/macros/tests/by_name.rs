//! Decorated functions whose handle is looked up by name in a registry:
//! a breaker registered as `payments` opens through a decorated `async fn`
//! (tokio's paused clock: virtual time, never a real sleep), and an
//! operator's `force_open` through the registry is seen by decorated `fn`s
//! on threads; a name not registered, or registered with another type,
//! panics at the call naming the function and why, and is looked up again
//! at the next call.

use std::panic::catch_unwind;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_driver::registry::{self, Change, Registry};
use failsafe_tokio::{
    BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, RejectReason, State, policy,
};
use tokio::time::advance;

const OPEN_WAIT: Duration = Duration::from_secs(60);

fn breaker_config(failures: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .half_open_probes(1)
        .build()
        .unwrap()
}

#[derive(Debug, PartialEq)]
struct Down;

static RUNS: AtomicU32 = AtomicU32::new(0);

#[policy(name = "payments", handle = CircuitBreakerPolicy<NoWindow>)]
async fn charge(cents: u64) -> Result<u64, Error<Down>> {
    RUNS.fetch_add(1, Ordering::Relaxed);
    if cents == 0 {
        return Err(Down);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(cents)
}

#[tokio::test(start_paused = true)]
async fn a_breaker_registered_by_name_opens_through_a_decorated_async_fn() {
    let breaker = CircuitBreakerPolicy::new(breaker_config(2), NoWindow);
    registry::global()
        .register("payments", breaker.clone())
        .unwrap();

    assert_eq!(charge(100).await, Ok(100));
    assert_eq!(charge(0).await, Err(Error::Inner(Down)));
    assert_eq!(charge(0).await, Err(Error::Inner(Down)));
    // the service's own handle and the registry's view see it open
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(
        registry::global().get("payments").unwrap().state["state"],
        "open"
    );
    let runs = RUNS.load(Ordering::Relaxed);
    let rejected = charge(100).await.unwrap_err();
    assert_eq!(
        rejected.rejected().unwrap().reason,
        RejectReason::BreakerOpen
    );
    assert_eq!(RUNS.load(Ordering::Relaxed), runs, "the body did not run");

    // after the open wait, one probe closes it again
    advance(OPEN_WAIT).await;
    assert_eq!(charge(7).await, Ok(7));
    assert_eq!(breaker.state(), State::Closed);

    // an operator forces it open by name: the decorated fn is rejected
    registry::global()
        .apply("payments", Change::ForceOpen)
        .unwrap();
    let forced = charge(100).await.unwrap_err();
    assert_eq!(
        forced.rejected().unwrap().reason,
        RejectReason::BreakerForcedOpen
    );
    registry::global().apply("payments", Change::Reset).unwrap();
    assert_eq!(charge(8).await, Ok(8));
}

mod blocking {
    use super::*;
    use failsafe_thread::CircuitBreakerPolicy;

    #[policy(name = "inventory", handle = CircuitBreakerPolicy<NoWindow>)]
    pub(crate) fn reserve(item: u32) -> Result<u32, Error<Down>> {
        Ok(item)
    }

    /// Its own registry, named by an expression.
    pub(crate) static OPS: LazyLock<Registry> = LazyLock::new(|| Registry::new(4));

    #[policy(name = "ledger", handle = CircuitBreakerPolicy<NoWindow>, registry = OPS)]
    pub(crate) fn post(cents: u64) -> Result<u64, Error<Down>> {
        Ok(cents)
    }

    #[policy("ghost", handle = CircuitBreakerPolicy<NoWindow>)]
    pub(crate) fn haunt() -> Result<(), Error<Down>> {
        Ok(())
    }

    #[policy(name = "catalog", handle = failsafe_thread::BulkheadPolicy)]
    pub(crate) fn wrong_type() -> Result<(), Error<Down>> {
        Ok(())
    }
}

#[test]
fn an_operators_force_open_through_the_registry_is_seen_by_a_decorated_fn() {
    let breaker = failsafe_thread::CircuitBreakerPolicy::new(breaker_config(5), NoWindow);
    registry::global()
        .register("inventory", breaker.clone())
        .unwrap();
    // the calls run on other threads: one handle per call site, shared
    let calls = |n: u32| {
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..n)
                .map(|i| s.spawn(move || blocking::reserve(i)))
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Vec<_>>()
        })
    };
    assert!(calls(4).iter().all(Result::is_ok));

    registry::global()
        .apply("inventory", Change::ForceOpen)
        .unwrap();
    assert_eq!(breaker.state(), State::ForcedOpen);
    for result in calls(4) {
        assert_eq!(
            result.unwrap_err().rejected().unwrap().reason,
            RejectReason::BreakerForcedOpen
        );
    }
    registry::global()
        .apply("inventory", Change::Reset)
        .unwrap();
    assert_eq!(blocking::reserve(9), Ok(9));
}

#[test]
fn a_registry_named_by_an_expression() {
    let breaker = failsafe_thread::CircuitBreakerPolicy::new(breaker_config(5), NoWindow);
    blocking::OPS.register("ledger", breaker).unwrap();
    assert_eq!(blocking::post(12), Ok(12));
    blocking::OPS.apply("ledger", Change::ForceOpen).unwrap();
    assert!(blocking::post(12).unwrap_err().is_rejected());
    assert!(
        registry::global().get("ledger").is_none(),
        "not in the global registry"
    );
}

#[test]
fn a_name_not_registered_panics_naming_it_then_is_looked_up_again() {
    let panic = catch_unwind(blocking::haunt).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "`#[policy]` on `haunt`: cannot take the handle \"ghost\" from the registry: no policy named `ghost`"
    );
    // registered since: the next call finds it
    let breaker = failsafe_thread::CircuitBreakerPolicy::new(breaker_config(5), NoWindow);
    registry::global().register("ghost", breaker).unwrap();
    assert_eq!(blocking::haunt(), Ok(()));
}

#[test]
fn a_name_registered_with_another_type_panics_naming_both() {
    let breaker = failsafe_thread::CircuitBreakerPolicy::new(breaker_config(5), NoWindow);
    registry::global().register("catalog", breaker).unwrap();
    let panic = catch_unwind(blocking::wrong_type).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("`#[policy]` on `wrong_type`: cannot take the handle \"catalog\" from the registry: `catalog` is a circuit_breaker, not a `failsafe_driver::"),
        "{message}"
    );
}

type Uplink = failsafe_thread::Pipeline<
    failsafe_thread::CircuitBreakerPolicy<NoWindow>,
    failsafe_thread::StdClock,
>;

#[policy(pipeline = "uplink", handle = std::sync::Arc<Uplink>, attempt = attempt)]
fn send(frame: &[u8]) -> Result<(usize, u32), failsafe_thread::PipelineError<Down>> {
    if frame.is_empty() {
        return Err(Down);
    }
    Ok((frame.len(), attempt.number))
}

#[test]
fn a_pipeline_registered_with_its_handle_is_called_by_name() {
    let breaker = failsafe_thread::CircuitBreakerPolicy::new(breaker_config(5), NoWindow);
    registry::global()
        .register("uplink.breaker", breaker.clone())
        .unwrap();
    let retry = failsafe_thread::RetryConfig::builder()
        .max_attempts(2)
        .backoff(failsafe_thread::BackoffKind::Constant(Duration::ZERO))
        .build()
        .unwrap();
    let uplink = Uplink::with_admission(failsafe_thread::StdClock, breaker).retry(retry);
    registry::global()
        .register_pipeline_handle("uplink", &["uplink.breaker"], std::sync::Arc::new(uplink))
        .unwrap();
    assert_eq!(send(b"frame"), Ok((5, 1)));
    assert!(send(b"").is_err());
    registry::global()
        .apply("uplink.breaker", Change::ForceOpen)
        .unwrap();
    assert!(send(b"frame").is_err());
    assert_eq!(
        registry::global().get("uplink").unwrap().state["uplink.breaker"]["state"]["state"],
        "forced-open"
    );
}
