//! The breaker, retries and timeouts inside real embassy tasks, on
//! embassy-executor's std platform. Each task runs its scenario and reports
//! over a channel; nothing waits on a timer that is not already due.

use core::time::Duration;
use std::sync::mpsc;

use embassy_executor::Executor;
use failsafe_embassy::{
    BackoffKind, BreakerConfig, CircuitBreakerPolicy, Clock, CountWindow, Deadline, EmbassyClock,
    Error, Jitter, RejectReason, RetryConfig, RetryPolicy, State, TimeoutConfig, circuit_breaker,
    with_timeout,
};

static BREAKER: CircuitBreakerPolicy<CountWindow<4>> = circuit_breaker(
    &failsafe_embassy::checked(
        BreakerConfig::builder()
            .failure_rate_threshold(0.5)
            .minimum_calls(4)
            .open_wait(Duration::from_secs(30))
            .build(),
    ),
    CountWindow::new(),
);

#[derive(Debug, PartialEq)]
struct Report {
    results: Vec<Result<u8, Error<u8>>>,
    state: State,
}

async fn device(step: u8) -> Result<u8, u8> {
    if step.is_multiple_of(2) {
        Ok(step)
    } else {
        Err(step)
    }
}

#[embassy_executor::task]
async fn firmware(report: mpsc::Sender<Report>) {
    let mut results = Vec::new();
    for step in 0..5 {
        results.push(BREAKER.call(|| device(step)).await);
    }
    let _ = report.send(Report {
        results,
        state: BREAKER.shared().state(),
    });
}

#[test]
fn a_task_trips_the_static_breaker_on_the_embassy_executor() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(move |spawner| spawner.spawn(firmware(tx).unwrap()));
    });
    let report = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the task finished");

    // Two of the first four calls failed (50 % of 4): the fifth is rejected.
    assert_eq!(
        &report.results[..4],
        &[Ok(0), Err(Error::Inner(1)), Ok(2), Err(Error::Inner(3))]
    );
    match report.results[4] {
        Err(Error::Rejected(r)) => assert_eq!(r.reason, RejectReason::BreakerOpen),
        ref other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(report.state, State::Open);
}

static RETRY: RetryPolicy = RetryPolicy::new(
    &failsafe_embassy::checked(
        RetryConfig::builder()
            .max_attempts(5)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .jitter(Jitter::None)
            .build(),
    ),
    1,
);

/// What the retrying task saw: the retried call (attempts on failure) and
/// the timed-out one.
type RetryReport = (Result<u32, u32>, Result<(), Error<()>>);

#[embassy_executor::task]
async fn retrying_firmware(report: mpsc::Sender<RetryReport>) {
    // Retries sleep on embassy timers (due at once here) inside the task.
    let retried = RETRY
        .call(|attempt| async move {
            if attempt.number < 4 {
                Err(attempt.number)
            } else {
                Ok(attempt.number)
            }
        })
        .await
        .map_err(|e| e.attempts);
    // A timeout whose deadline has passed cancels a hung operation.
    let spent = Deadline::at(EmbassyClock.now());
    let timed_out = with_timeout(
        failsafe_embassy::checked(TimeoutConfig::new(Duration::from_secs(3_600))),
        spent,
        |_| core::future::pending::<Result<(), ()>>(),
    )
    .await;
    let _ = report.send((retried, timed_out));
}

#[test]
fn a_task_retries_and_times_out_on_embassy_timers() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run(move |spawner| spawner.spawn(retrying_firmware(tx).unwrap()));
    });
    let (retried, timed_out) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the task finished");
    assert_eq!(retried, Ok(4));
    assert!(timed_out.unwrap_err().is_timeout());
}
