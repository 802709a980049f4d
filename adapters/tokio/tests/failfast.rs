//! The fail fast policy on tokio's paused clock: every timeline runs in
//! virtual time (`start_paused` + `advance`), never sleeping for real.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_tokio::{
    Classify, Clock, CloseCause, Deadline, DefaultClassifier, Error, FailFastConfig, FailFastEvent,
    FailFastPolicy, FailFastState, Instant, OpenCause, Outcome, RejectReason, TokioClock,
};
use tokio::time::{advance, sleep};

fn config(failures: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(failures)
        .build()
        .unwrap()
}

/// An operation that counts its calls and answers `result`.
async fn counted<T>(calls: &AtomicU32, result: Result<T, &'static str>) -> Result<T, &'static str> {
    calls.fetch_add(1, Ordering::SeqCst);
    result
}

fn reason<T: std::fmt::Debug, E: std::fmt::Debug>(r: Result<T, Error<E>>) -> RejectReason {
    r.unwrap_err().rejected().expect("a rejection").reason
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_failures_and_stops_calling_the_operation() {
    let ff = FailFastPolicy::new(config(3));
    let calls = AtomicU32::new(0);
    for n in 1..=3 {
        assert_eq!(ff.state(), FailFastState::Closed, "before failure {n}");
        let r = ff.call(|| counted::<()>(&calls, Err("reset"))).await;
        assert_eq!(r, Err(Error::Inner("reset")));
    }
    assert_eq!(ff.state(), FailFastState::Open);
    for _ in 0..10 {
        let r = ff.call(|| counted(&calls, Ok(1))).await;
        let rejected = *r.unwrap_err().rejected().unwrap();
        // no probe interval: nothing to wait for, recovery must be signalled
        assert_eq!(
            (rejected.reason, rejected.retry_at),
            (RejectReason::FailFastOpen, None)
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an open fail fast called the operation"
    );
    let m = ff.metrics();
    assert_eq!((m.times_opened, m.rejected_open), (1, 10));
    assert_eq!(m.open_cause, Some(OpenCause::ConsecutiveFailures));
}

#[tokio::test(start_paused = true)]
async fn a_success_ends_the_streak() {
    let ff = FailFastPolicy::new(config(2));
    let calls = AtomicU32::new(0);
    let _ = ff.call(|| counted::<()>(&calls, Err("x"))).await;
    let _ = ff.call(|| counted(&calls, Ok(()))).await;
    let _ = ff.call(|| counted::<()>(&calls, Err("x"))).await;
    assert_eq!(ff.state(), FailFastState::Closed);
    assert_eq!(ff.metrics().consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn stays_open_until_reported_healthy() {
    let ff = FailFastPolicy::new(config(1));
    let _ = ff.call(|| async { Err::<(), _>("down") }).await;
    // a day of virtual time changes nothing: no probe interval, no way back alone
    advance(Duration::from_secs(86_400)).await;
    ff.on_deadline();
    assert_eq!(ff.state(), FailFastState::Open);
    assert_eq!(ff.next_deadline(), None);
    assert_eq!(
        reason(ff.call(|| async { Ok::<_, ()>(()) }).await),
        RejectReason::FailFastOpen
    );
    ff.report_healthy();
    assert_eq!(ff.state(), FailFastState::Closed);
    assert_eq!(ff.call(|| async { Ok::<_, ()>(9) }).await, Ok(9));
}

#[tokio::test(start_paused = true)]
async fn manual_open_and_close_and_unhealthy_reports() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let ff = FailFastPolicy::new(config(5)).on_event(move |e| {
        if matches!(
            e,
            FailFastEvent::Opened { .. } | FailFastEvent::Closed { .. }
        ) {
            log.lock().unwrap().push(e);
        }
    });
    let calls = AtomicU32::new(0);
    advance(Duration::from_secs(1)).await;
    ff.open();
    assert_eq!(
        reason(ff.call(|| counted(&calls, Ok(()))).await),
        RejectReason::FailFastOpen
    );
    advance(Duration::from_secs(1)).await;
    ff.close();
    assert_eq!(ff.call(|| counted(&calls, Ok(2))).await, Ok(2));
    advance(Duration::from_secs(1)).await;
    ff.report_unhealthy(); // an external health check
    assert!(ff.call(|| counted(&calls, Ok(3))).await.is_err());
    advance(Duration::from_secs(1)).await;
    ff.report_healthy();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let at = Instant::from_secs;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            FailFastEvent::Opened {
                at: at(1),
                cause: OpenCause::Manual
            },
            FailFastEvent::Closed {
                at: at(2),
                cause: CloseCause::Manual
            },
            FailFastEvent::Opened {
                at: at(3),
                cause: OpenCause::Unhealthy
            },
            FailFastEvent::Closed {
                at: at(4),
                cause: CloseCause::Healthy
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_predicate_over_the_result_opens_at_once() {
    #[derive(Debug, PartialEq)]
    enum HttpError {
        NotFound,
        Maintenance,
    }
    let ff = FailFastPolicy::new(config(100));
    let maintenance = |r: &Result<(), HttpError>| match r {
        Err(HttpError::Maintenance) => Outcome::Unhealthy,
        other => DefaultClassifier.classify(other),
    };
    let r = ff
        .call_with(&maintenance, || async { Err(HttpError::NotFound) })
        .await;
    assert_eq!(r, Err(Error::Inner(HttpError::NotFound)));
    assert_eq!(
        (ff.state(), ff.metrics().consecutive_failures),
        (FailFastState::Closed, 1)
    );
    let r = ff
        .call_with(&maintenance, || async { Err(HttpError::Maintenance) })
        .await;
    assert_eq!(
        r,
        Err(Error::Inner(HttpError::Maintenance)),
        "the caller gets the result as is"
    );
    let m = ff.metrics();
    assert_eq!(
        (m.state, m.open_cause),
        (FailFastState::Open, Some(OpenCause::Unhealthy))
    );

    // An `Ok` can say so too (a 503 "down for maintenance" reply).
    let ff = FailFastPolicy::new(config(100));
    let by_status = |r: &Result<u16, ()>| match r {
        Ok(503) => Outcome::Unhealthy,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };
    assert_eq!(
        ff.call_with(&by_status, || async { Ok(503) }).await,
        Ok(503)
    );
    assert_eq!(ff.state(), FailFastState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_too_short_for_the_configured_duration_is_rejected() {
    let config = FailFastConfig::builder()
        .expected_duration(Duration::from_millis(100))
        .safety_margin(Duration::from_millis(20))
        .build()
        .unwrap();
    let ff = FailFastPolicy::new(config);
    assert_eq!(ff.min_remaining(), Duration::from_millis(120));
    let calls = AtomicU32::new(0);
    advance(Duration::from_secs(5)).await;
    let now = TokioClock.now();
    let short = Deadline::after(now, Duration::from_millis(119));
    let r = ff
        .clone()
        .with_deadline(short)
        .call(|| counted(&calls, Ok(())))
        .await;
    let rejected = *r.unwrap_err().rejected().unwrap();
    // waiting cannot help a deadline: no retry_at
    assert_eq!(
        (rejected.reason, rejected.retry_at),
        (RejectReason::DeadlineTooShort, None)
    );
    let expired = Deadline::at(Instant::from_secs(4));
    let r = ff
        .clone()
        .with_deadline(expired)
        .call(|| counted(&calls, Ok(())))
        .await;
    assert_eq!(reason(r), RejectReason::DeadlineTooShort);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let enough = Deadline::after(now, Duration::from_millis(120));
    let r = ff
        .clone()
        .with_deadline(enough)
        .call(|| counted(&calls, Ok(7)))
        .await;
    assert_eq!(r, Ok(7));
    let m = ff.metrics();
    assert_eq!((m.rejected_deadline, m.state), (2, FailFastState::Closed));
    assert_eq!(
        m.consecutive_failures, 0,
        "a deadline rejection is no failure"
    );
}

#[tokio::test(start_paused = true)]
async fn the_expected_duration_is_learned_from_successful_calls() {
    let config = FailFastConfig::builder()
        .learn_expected_duration(1) // the latest success alone
        .build()
        .unwrap();
    let ff = FailFastPolicy::new(config);
    let slow = |ms: u64| async move {
        sleep(Duration::from_millis(ms)).await; // virtual time: jumps at once
        Ok::<_, ()>(ms)
    };
    assert_eq!(ff.call(|| slow(250)).await, Ok(250));
    assert_eq!(ff.metrics().expected_duration, Duration::from_millis(250));

    let now = TokioClock.now();
    let tight = Deadline::after(now, Duration::from_millis(200));
    let r = ff.clone().with_deadline(tight).call(|| slow(1)).await;
    assert_eq!(reason(r), RejectReason::DeadlineTooShort);
    let roomy = Deadline::after(now, Duration::from_millis(300));
    assert_eq!(
        ff.clone().with_deadline(roomy).call(|| slow(50)).await,
        Ok(50)
    );
    // the faster call taught it: 200 ms is enough now
    let tight = Deadline::after(TokioClock.now(), Duration::from_millis(200));
    assert_eq!(
        ff.clone().with_deadline(tight).call(|| slow(50)).await,
        Ok(50)
    );
    assert_eq!(ff.metrics().learned_samples, 3);
}

#[tokio::test(start_paused = true)]
async fn a_probe_interval_admits_one_probe_per_interval() {
    const INTERVAL: Duration = Duration::from_secs(10);
    let config = FailFastConfig::builder()
        .consecutive_failures(1)
        .probe_interval(INTERVAL)
        .build()
        .unwrap();
    let due = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&due);
    let ff = FailFastPolicy::new(config).on_event(move |e| {
        if let FailFastEvent::ProbeDue { at } = e {
            log.lock().unwrap().push(at);
        }
    });
    let calls = Arc::new(AtomicU32::new(0));
    let _ = ff.call(|| counted::<()>(&calls, Err("down"))).await;
    assert_eq!(ff.next_deadline(), Some(Instant::from_secs(10)));

    advance(INTERVAL - Duration::from_millis(1)).await;
    let r = ff.call(|| counted(&calls, Ok(()))).await;
    assert_eq!(
        r.unwrap_err().rejected().unwrap().retry_at,
        Some(Instant::from_secs(10))
    );

    // At t=10 s a supervisor hears the probe is due ...
    advance(Duration::from_millis(1)).await;
    ff.on_deadline();
    assert_eq!(*due.lock().unwrap(), [Instant::from_secs(10)]);
    assert_eq!(ff.next_deadline(), None);
    // ... and of two concurrent callers, only the first is the probe.
    let probe = tokio::spawn({
        let (ff, calls) = (ff.clone(), Arc::clone(&calls));
        async move {
            ff.call(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                sleep(Duration::from_secs(1)).await;
                Err::<(), _>("still down")
            })
            .await
        }
    });
    tokio::task::yield_now().await; // the probe starts and sleeps
    let second = ff.call(|| counted(&calls, Ok(()))).await;
    // the probe is out: its success may close it before 20 s
    assert_eq!(second.unwrap_err().rejected().unwrap().retry_at, None);
    assert_eq!(probe.await.unwrap(), Err(Error::Inner("still down")));
    assert_eq!(
        ff.state(),
        FailFastState::Open,
        "a failed probe keeps it open"
    );

    // The next probe, one interval after the last one started, succeeds and closes.
    advance(Duration::from_secs(9)).await;
    assert_eq!(ff.call(|| counted(&calls, Ok(5))).await, Ok(5));
    assert_eq!(ff.state(), FailFastState::Closed);
    let m = ff.metrics();
    assert_eq!((m.probes_admitted, calls.load(Ordering::SeqCst)), (2, 3));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_is_cancelled_and_leaves_the_streak_alone() {
    let ff = FailFastPolicy::new(config(2));
    let _ = ff.call(|| async { Err::<(), _>("x") }).await;
    assert_eq!(ff.metrics().consecutive_failures, 1);
    // a caller gives up on a hung call after 1 s: its future is dropped
    let hung = ff.call(|| async {
        sleep(Duration::from_secs(3_600)).await;
        Err::<(), _>("x")
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(1), hung)
            .await
            .is_err()
    );
    let m = ff.metrics();
    assert_eq!(
        (m.state, m.consecutive_failures),
        (FailFastState::Closed, 1)
    );
    // the streak went on from 1: one more failure opens it
    let _ = ff.call(|| async { Err::<(), _>("x") }).await;
    assert_eq!(ff.state(), FailFastState::Open);
}

#[tokio::test(start_paused = true)]
async fn an_owned_guard_reports_a_verdict_or_cancels_on_drop() {
    let ff = FailFastPolicy::new(config(1));
    drop(ff.try_acquire().unwrap());
    assert_eq!(ff.state(), FailFastState::Closed);
    ff.try_acquire().unwrap().finish(Outcome::Failure);
    assert_eq!(ff.state(), FailFastState::Open);
    assert!(ff.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn many_tasks_against_one_open_fail_fast_never_call_the_operation() {
    let ff = FailFastPolicy::new(config(1));
    ff.open();
    let calls = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (ff, calls) = (ff.clone(), Arc::clone(&calls));
            tokio::spawn(async move {
                ff.call(|| async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, ()>(())
                })
                .await
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(reason(task.await.unwrap()), RejectReason::FailFastOpen);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(ff.metrics().rejected_open, 200);
}

#[test]
fn runtimes_on_several_threads_share_one_open_fail_fast() {
    // no runtime needed to build it: the clock then reads std time
    let ff = FailFastPolicy::new(config(1));
    ff.report_unhealthy();
    let calls = Arc::new(AtomicU32::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (ff, calls) = (ff.clone(), Arc::clone(&calls));
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..50)
                        .map(|_| {
                            let (ff, calls) = (ff.clone(), Arc::clone(&calls));
                            tokio::spawn(async move {
                                ff.call(|| async {
                                    calls.fetch_add(1, Ordering::SeqCst);
                                    Ok::<_, ()>(())
                                })
                                .await
                            })
                        })
                        .collect();
                    for task in tasks {
                        assert!(task.await.unwrap().unwrap_err().is_rejected());
                    }
                });
            });
        }
    });
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(ff.metrics().rejected_open, 200);
}
