//! The breaker inside a real embassy task, on embassy-executor's std
//! platform. The task runs the scenario and reports over a channel; nothing
//! waits on a timer.

use core::time::Duration;
use std::sync::mpsc;

use embassy_executor::Executor;
use failsafe_embassy::{BreakerConfig, CircuitBreaker, CountWindow, Error, RejectReason, State};

static BREAKER: CircuitBreaker<CountWindow<4>> = CircuitBreaker::new(
    BreakerConfig::builder()
        .failure_rate_threshold(0.5)
        .minimum_calls(4)
        .open_wait(Duration::from_secs(30))
        .build_or_panic(),
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
        state: BREAKER.state(),
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
