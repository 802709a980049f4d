//! The circuit breaker policy on tokio's paused clock: every timeline here
//! runs in virtual time (`start_paused` + `advance`), never sleeping for real.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_tokio::{
    BreakerConfig, BreakerEvent, CircuitBreakerPolicy, Clock, Error, Instant, NoWindow, Outcome,
    RejectReason, Runtime, State, TokioClock,
};

type CircuitBreaker = CircuitBreakerPolicy<NoWindow>;
use tokio::time::advance;

const OPEN_WAIT: Duration = Duration::from_secs(60);

/// Opens after `failures` failures in a row; `probes` probes per half-open round.
fn config(failures: u32, probes: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .half_open_probes(probes)
        .build()
        .unwrap()
}

async fn fail(b: &CircuitBreaker) -> Result<(), Error<&'static str>> {
    b.call(|| async { Err("down") }).await
}

async fn succeed(b: &CircuitBreaker) -> Result<u32, Error<&'static str>> {
    b.call(|| async { Ok(7) }).await
}

/// A breaker that is half-open at the current (virtual) time.
async fn half_open(probes: u32) -> CircuitBreaker {
    let b = CircuitBreakerPolicy::new(config(1, probes), NoWindow);
    b.open();
    advance(OPEN_WAIT).await;
    assert_eq!(b.state(), State::HalfOpen);
    b
}

#[tokio::test(start_paused = true)]
async fn closed_open_half_open_closed_timeline() {
    let b = CircuitBreakerPolicy::new(config(3, 1), NoWindow);

    // t=0, 10, 20ms: three failures in a row; the caller sees each error
    for i in 0..3 {
        assert_eq!(b.state(), State::Closed, "still closed before failure {i}");
        assert_eq!(fail(&b).await, Err(Error::Inner("down")));
        if i < 2 {
            advance(Duration::from_millis(10)).await;
        }
    }
    // at t=20ms the breaker is open until t=60.020s
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.metrics().open_until, Some(Instant::from_millis(60_020)));

    // at t=30.020s calls are rejected and told when to come back
    advance(Duration::from_secs(30)).await;
    let rejected = *succeed(&b).await.unwrap_err().rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(Instant::from_millis(60_020)));
    assert_eq!(
        rejected.retry_after(TokioClock.now()),
        Some(Duration::from_secs(30))
    );

    // one millisecond before retry_at: still open
    advance(Duration::from_millis(29_999)).await;
    assert!(matches!(succeed(&b).await, Err(Error::Rejected(_))));
    assert_eq!(b.state(), State::Open);

    // at retry_at: half-open, and a successful probe closes it
    advance(Duration::from_millis(1)).await;
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(succeed(&b).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().times_opened, 1);
}

#[tokio::test(start_paused = true)]
async fn sleeping_until_retry_at_gets_the_probe_through() {
    let b = CircuitBreakerPolicy::new(config(1, 1), NoWindow);
    assert!(fail(&b).await.is_err());
    let retry_at = succeed(&b).await.unwrap_err().rejected().unwrap().retry_at;
    assert_eq!(retry_at, Some(Instant::from_secs(60)));

    // any clock's sleep_until reaches the breaker's retry_at: paused time jumps to it
    TokioClock.sleep_until(retry_at.unwrap()).await;
    assert_eq!(TokioClock.now(), Instant::from_secs(60));
    assert_eq!(succeed(&b).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn rejection_while_open_does_not_call_the_operation() {
    let b = CircuitBreakerPolicy::new(config(1, 1), NoWindow);
    b.open();
    let closure_called = AtomicBool::new(false);
    let future_polled = Arc::new(AtomicBool::new(false));
    let r: Result<(), Error<()>> = b
        .call(|| {
            closure_called.store(true, Ordering::SeqCst);
            let polled = Arc::clone(&future_polled);
            async move {
                polled.store(true, Ordering::SeqCst);
                Ok(())
            }
        })
        .await;
    let rejected = r.unwrap_err().rejected().copied().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(Instant::ZERO + OPEN_WAIT));
    assert!(!closure_called.load(Ordering::SeqCst));
    assert!(!future_polled.load(Ordering::SeqCst));
    assert_eq!(b.metrics().rejected, 1);

    // forced open: rejected with no retry_at
    b.force_open();
    let r: Result<(), Error<()>> = b.call(|| async { Ok(()) }).await;
    let rejected = r.unwrap_err().rejected().copied().unwrap();
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::BreakerForcedOpen, None)
    );
}

#[tokio::test(start_paused = true)]
async fn classifier_counts_ok_503_as_failure_and_ignores_404() {
    let b = CircuitBreakerPolicy::new(config(2, 1), NoWindow);
    let by_status = |r: &Result<u16, ()>| match r {
        Ok(404) => Outcome::Ignored,
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };

    // the caller still gets Ok(503); the breaker counts a failure
    assert_eq!(b.call_with(&by_status, || async { Ok(503) }).await, Ok(503));
    assert_eq!(b.metrics().consecutive_failures, 1);
    // a 404 is neither: the failure streak is kept
    assert_eq!(b.call_with(&by_status, || async { Ok(404) }).await, Ok(404));
    assert_eq!(b.metrics().consecutive_failures, 1);
    assert_eq!(b.state(), State::Closed);
    // a second 503 in a row trips it
    assert_eq!(b.call_with(&by_status, || async { Ok(503) }).await, Ok(503));
    assert_eq!(b.state(), State::Open);

    // the default classifier would have counted all of them as successes
    let plain = CircuitBreakerPolicy::new(config(2, 1), NoWindow);
    for _ in 0..3 {
        assert_eq!(plain.call(|| async { Ok::<u16, ()>(503) }).await, Ok(503));
    }
    assert_eq!(plain.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn dropped_future_releases_the_half_open_probe() {
    let b = half_open(1).await;

    let (timed_out, second) = tokio::join!(
        // the probe never completes: the timeout drops it after one second
        tokio::time::timeout(
            Duration::from_secs(1),
            b.call(std::future::pending::<Result<u32, &str>>)
        ),
        async {
            tokio::task::yield_now().await;
            // meanwhile the only probe slot is taken
            succeed(&b).await
        },
    );
    assert!(timed_out.is_err(), "the probe should have timed out");
    let rejected = second.unwrap_err().rejected().copied().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerHalfOpenFull);

    // the dropped probe counted neither way and gave its slot back
    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
    assert_eq!(succeed(&b).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn select_dropping_a_pending_call_releases_the_probe() {
    let b = half_open(1).await;
    tokio::select! {
        _ = b.call(std::future::pending::<Result<u32, &str>>) => unreachable!("pending"),
        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
    }
    assert_eq!(b.metrics().probes_in_flight, 0);
    assert_eq!(succeed(&b).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn panicking_future_in_a_spawned_task_releases_its_permit() {
    let b = half_open(1).await;
    let task = tokio::spawn({
        let b = b.clone();
        async move {
            b.call(|| async {
                if b.state() == State::HalfOpen {
                    panic!("boom inside the probe");
                }
                Ok::<u32, ()>(1)
            })
            .await
        }
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());

    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
    assert_eq!(succeed(&b).await, Ok(7));
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn event_hook_sees_transitions_in_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let b = CircuitBreakerPolicy::new(config(1, 1), NoWindow).on_event({
        let log = Arc::clone(&log);
        move |e| log.lock().unwrap().push(e)
    });

    assert!(fail(&b).await.is_err()); // t=0: closed -> open
    advance(OPEN_WAIT).await;
    assert!(fail(&b).await.is_err()); // t=60s: open -> half-open, failed probe -> open
    advance(Duration::from_secs(1)).await;
    assert!(succeed(&b).await.is_err()); // t=61s: rejected (fast path, not an event)
    advance(OPEN_WAIT).await;
    assert_eq!(succeed(&b).await, Ok(7)); // t=121s: half-open (due at 120s), probe ok -> closed

    let transitions: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match *e {
            BreakerEvent::StateChanged { from, to, at } => Some((from, to, at)),
            _ => None,
        })
        .collect();
    use State::*;
    assert_eq!(
        transitions,
        [
            (Closed, Open, Instant::ZERO),
            (Open, HalfOpen, Instant::from_secs(60)),
            (HalfOpen, Open, Instant::from_secs(60)),
            (Open, HalfOpen, Instant::from_secs(120)),
            (HalfOpen, Closed, Instant::from_secs(121)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn many_tasks_against_one_half_open_breaker_run_exactly_the_probe_quota() {
    const TASKS: u32 = 200;
    const PROBES: u32 = 3;
    let b = half_open(PROBES).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let ran = Arc::new(AtomicU32::new(0));
    let settled = Arc::new(AtomicU32::new(0)); // rejected, or running its operation

    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (b, gate, ran, settled) = (
                b.clone(),
                Arc::clone(&gate),
                Arc::clone(&ran),
                Arc::clone(&settled),
            );
            tokio::spawn(async move {
                let r = b
                    .call(|| async {
                        ran.fetch_add(1, Ordering::SeqCst);
                        settled.fetch_add(1, Ordering::SeqCst);
                        // hold the probe until every task has tried
                        let _permit = gate.acquire().await.unwrap();
                        Ok::<(), ()>(())
                    })
                    .await;
                if r.is_err() {
                    settled.fetch_add(1, Ordering::SeqCst);
                }
                r
            })
        })
        .collect();

    while settled.load(Ordering::SeqCst) < TASKS {
        tokio::task::yield_now().await;
    }
    assert_eq!(ran.load(Ordering::SeqCst), PROBES);
    assert_eq!(b.metrics().probes_in_flight, PROBES);

    gate.add_permits(TASKS as usize);
    let (mut ok, mut full) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::Rejected(r)) if r.reason == RejectReason::BreakerHalfOpenFull => full += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((ok, full), (PROBES, TASKS - PROBES));
    assert_eq!(ran.load(Ordering::SeqCst), PROBES);
    assert_eq!(b.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_blocking_caller_off_the_workers_shares_the_breaker_and_its_clock() {
    let b = CircuitBreakerPolicy::new(config(1, 1), NoWindow);
    advance(Duration::from_secs(1)).await;
    let r = tokio::task::spawn_blocking({
        let b = b.clone();
        move || b.call_blocking(|| Err::<(), _>("down"))
    })
    .await
    .unwrap();
    assert_eq!(r, Err(Error::Inner("down")));
    assert_eq!(b.state(), State::Open);
    // opened on the blocking thread at 1 s of this runtime's paused time
    let rejected = *succeed(&b).await.unwrap_err().rejected().unwrap();
    assert_eq!(rejected.retry_at, Some(Instant::from_secs(1) + OPEN_WAIT));
}

#[test]
fn handles_and_call_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let b = CircuitBreakerPolicy::new(config(1, 1), NoWindow);
    send_sync(&b);
    send(&b.call(|| async { Ok::<(), ()>(()) }));
    send(&TokioClock.sleep_until(Instant::MAX));
}
