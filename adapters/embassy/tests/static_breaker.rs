//! A breaker in a `static`, on embassy-time's real `std` driver.
//!
//! No test waits on real time. Where a scenario needs the open wait to be
//! over, it hands the breaker the instant the wait ends (`on_deadline` with
//! an instant computed from the breaker's own deadline): the core then reads
//! the real clock, which is behind, as "no time passed".

use core::time::Duration;
use std::sync::atomic::{AtomicBool, Ordering};

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use failsafe_embassy::{
    BreakerConfig, CircuitBreaker, CircuitBreakerPolicy, Clock, CountWindow, Counters, CsKind,
    CsLock, EmbassyClock, EmbassyMutex, EmbassyPolicy, Error, MutexLock, NoCounters, NoWindow,
    Outcome, Policy, RejectReason, Shared, State, WakeAt, circuit_breaker, from_lock,
};
use futures_lite::future::{self, block_on};

const OPEN_WAIT: Duration = Duration::from_secs(60);

fn now() -> failsafe_embassy::Instant {
    EmbassyClock.now()
}

/// Trips after `n` failures in a row; one probe; 60 s open.
const fn trip_after(n: u32) -> BreakerConfig {
    failsafe_embassy::checked(
        BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(n)
            .open_wait(OPEN_WAIT)
            .build(),
    )
}

async fn failing() -> Result<(), &'static str> {
    Err("nack")
}

async fn working() -> Result<(), &'static str> {
    Ok(())
}

#[test]
fn a_static_breaker_trips_after_failures_and_rejects_with_retry_at() {
    // Counting (its metrics are read below): `circuit_breaker` keeps no counts.
    static BREAKER: CircuitBreakerPolicy<CountWindow<8>, (), CsKind, &BreakerConfig, Counters> =
        from_lock(CsLock::new(CircuitBreaker::new(
            &trip_after(3),
            CountWindow::new(),
        )));

    block_on(async {
        for _ in 0..2 {
            assert_eq!(BREAKER.call(failing).await, Err(Error::Inner("nack")));
        }
        assert_eq!(BREAKER.shared().state(), State::Closed);

        let before = EmbassyClock.now();
        assert_eq!(BREAKER.call(failing).await, Err(Error::Inner("nack")));
        let after = EmbassyClock.now();
        assert_eq!(BREAKER.shared().state(), State::Open);

        // The operation is not run while the breaker is open.
        let ran = AtomicBool::new(false);
        let result = BREAKER
            .call(|| async {
                ran.store(true, Ordering::Relaxed);
                Ok::<_, &str>(())
            })
            .await;
        assert!(!ran.load(Ordering::Relaxed), "an open breaker ran the call");
        let rejected = *result.unwrap_err().rejected().expect("a rejection");
        assert_eq!(rejected.reason, RejectReason::BreakerOpen);

        // retry_at is the third failure's instant plus the open wait.
        let retry_at = rejected.retry_at.expect("an open breaker says when");
        assert!(before + OPEN_WAIT <= retry_at && retry_at <= after + OPEN_WAIT);
        let wait = rejected.retry_after(EmbassyClock.now()).unwrap();
        assert!(wait <= OPEN_WAIT && wait > OPEN_WAIT - Duration::from_secs(10));

        // A supervisor sleeping until the next deadline wakes exactly then.
        assert_eq!(BREAKER.next_deadline(), Some(retry_at));
        assert_eq!(
            EmbassyClock::retry_at(&rejected),
            Some(EmbassyClock::to_embassy(retry_at))
        );
        // The same instant for Timer::at, from the rejection, the error and
        // the policy, with no conversion at the call site.
        let at = Some(EmbassyClock::to_embassy(retry_at));
        assert_eq!(rejected.wake_at(), at);
        assert_eq!(Error::<()>::Rejected(rejected).wake_at(), at);
        assert_eq!(BREAKER.wake_at(), at);
        let m = BREAKER.shared().metrics(now());
        assert_eq!((m.times_opened, m.rejected), (1, 1));
        assert_eq!(m.open_until, Some(retry_at));
    });
}

#[test]
fn a_dropped_future_releases_its_half_open_probe() {
    static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&trip_after(1), NoWindow);

    block_on(async {
        assert!(BREAKER.call(failing).await.is_err());
        let reopen = BREAKER.shared().next_deadline().expect("open until");
        BREAKER.shared().on_deadline(reopen); // the 60 s wait is over
        assert_eq!(BREAKER.shared().state(), State::HalfOpen);

        // The probe is admitted, then its operation never finishes.
        let mut probe = Box::pin(BREAKER.call(future::pending::<Result<(), &str>>));
        assert!(future::poll_once(probe.as_mut()).await.is_none());
        assert_eq!(BREAKER.shared().metrics(now()).probes_in_flight, 1);
        let full = BREAKER.call(working).await.unwrap_err();
        assert_eq!(
            full.rejected().unwrap().reason,
            RejectReason::BreakerHalfOpenFull
        );

        // The caller gives up (a select, a timeout): the slot comes back at
        // once, without waiting for the probe's lease, and nothing is counted.
        drop(probe);
        let m = BREAKER.shared().metrics(now());
        assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
        assert_eq!(m.stale_outcomes, 0);

        // So the next call is the probe, and its success closes the breaker.
        assert_eq!(BREAKER.call(working).await, Ok(()));
        assert_eq!(BREAKER.shared().state(), State::Closed);
    });
}

#[test]
fn call_with_counts_what_the_classifier_says_and_returns_the_result() {
    static BREAKER: CircuitBreakerPolicy<CountWindow<8>> =
        circuit_breaker(&trip_after(2), CountWindow::new());
    let status = |r: &Result<u16, ()>| match r {
        Ok(code) if *code >= 500 => Outcome::Failure,
        Ok(404) => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };

    block_on(async {
        for _ in 0..5 {
            assert_eq!(
                BREAKER.call_with(&status, || async { Ok(404) }).await,
                Ok(404)
            );
        }
        assert_eq!(
            BREAKER.shared().metrics(now()).calls,
            0,
            "ignored calls are not counted"
        );

        for _ in 0..2 {
            // Counted as a failure, but the caller still gets its Ok(503).
            assert_eq!(
                BREAKER.call_with(&status, || async { Ok(503) }).await,
                Ok(503)
            );
        }
        assert_eq!(BREAKER.shared().state(), State::Open);
    });
}

#[test]
fn a_blocking_call_and_a_manual_guard_share_the_same_breaker() {
    static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&trip_after(2), NoWindow);

    assert_eq!(
        BREAKER.call_blocking(|| Err::<(), _>("bus")),
        Err(Error::Inner("bus"))
    );
    let guard = BREAKER.try_acquire().expect("closed");
    guard.finish(Outcome::Failure);
    assert_eq!(BREAKER.shared().state(), State::Open);
    let rejected = BREAKER.try_acquire().unwrap_err();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert!(BREAKER.call_blocking(|| Ok::<_, ()>(())).is_err());
}

#[test]
fn operator_controls_take_effect_at_once() {
    static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(&trip_after(5), NoWindow);

    BREAKER.shared().with(|b| b.force_open(now()));
    let r = BREAKER.try_acquire().unwrap_err();
    assert_eq!(
        (r.reason, r.retry_at),
        (RejectReason::BreakerForcedOpen, None)
    );
    BREAKER.shared().with(|b| b.close(now()));
    assert_eq!(BREAKER.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    BREAKER.shared().with(|b| b.open(now()));
    assert_eq!(BREAKER.shared().state(), State::Open);
    BREAKER.on_deadline(); // not due yet: a no-op
    assert_eq!(BREAKER.shared().state(), State::Open);
}

#[test]
fn a_raw_mutex_breaker_works_in_a_static_and_on_one_executor() {
    // The lock kind names the raw mutex, not the machine again.
    static SHARED: CircuitBreakerPolicy<NoWindow, (), EmbassyMutex<CriticalSectionRawMutex>> =
        from_lock(MutexLock::new(CircuitBreaker::with_counters(
            &trip_after(1),
            NoWindow,
            (),
            NoCounters,
        )));

    // NoopRawMutex: not Sync, so it lives in the task, shared by reference;
    // its config is still a `const` in flash.
    const TRIP_AFTER_1: BreakerConfig = trip_after(1);
    let local: CircuitBreakerPolicy<NoWindow, (), EmbassyMutex<NoopRawMutex>> =
        from_lock(MutexLock::new(CircuitBreaker::with_counters(
            &TRIP_AFTER_1,
            NoWindow,
            (),
            NoCounters,
        )));

    block_on(async {
        for breaker_calls in [
            [SHARED.call(failing).await, SHARED.call(working).await],
            [local.call(failing).await, local.call(working).await],
        ] {
            assert_eq!(breaker_calls[0], Err(Error::Inner("nack")));
            let second = breaker_calls[1].unwrap_err();
            assert_eq!(second.rejected().unwrap().reason, RejectReason::BreakerOpen);
        }
    });
    let states = (SHARED.shared().state(), local.shared().state());
    assert_eq!(states, (State::Open, State::Open));
}

#[test]
fn any_shared_machine_runs_through_the_generic_policy() {
    // A core machine shared by hand (a `static` of its own, perhaps from
    // another crate) runs through the same path, borrowed.
    type Machine = CircuitBreaker<NoWindow>;
    static RAW: Shared<Machine, CsLock<Machine>> =
        Shared::new(CsLock::new(CircuitBreaker::new(trip_after(1), NoWindow)));
    let breaker = Policy::new_shared(&RAW, EmbassyClock);
    let ignore_all = |_: &Result<(), &str>| Outcome::Ignored;

    block_on(async {
        let r = breaker.call_with(&ignore_all, failing).await;
        assert_eq!(r, Err(Error::Inner("nack")));
        assert_eq!(RAW.state(), State::Closed);
        let r = breaker.call(failing).await;
        assert_eq!(r, Err(Error::Inner("nack")));
        assert_eq!(RAW.state(), State::Open);
    });
}
