//! A pipeline in a `static` around blocking functions, with the attempt
//! bound in the body (its deadline handed down) or not bound at all.
#![deny(warnings)]

use std::sync::LazyLock;

use failsafe_thread::{
    Attempt, BreakerConfig, CircuitBreakerPolicy, Deadline, NoWindow, Pipeline, PipelineError,
    RetryConfig, StdClock, policy,
};

type Guarded = Pipeline<CircuitBreakerPolicy<NoWindow>, StdClock>;

static UPLINK: LazyLock<Guarded> = LazyLock::new(|| {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    Pipeline::with_admission(StdClock, breaker)
        .retry(RetryConfig::builder().max_attempts(2).build().unwrap())
});

fn send(frame: &[u8], deadline: Deadline) -> Result<usize, &'static str> {
    let _ = deadline;
    Ok(frame.len())
}

#[policy(pipeline = UPLINK, attempt = attempt)]
fn uplink(frame: &[u8]) -> Result<(usize, u32), PipelineError<&'static str>> {
    let Attempt { number, deadline } = attempt;
    Ok((send(frame, deadline)?, number))
}

#[policy(pipeline = UPLINK)]
fn ping() -> Result<(), PipelineError<&'static str>> {
    Ok(())
}

fn main() {
    assert_eq!(uplink(b"abc"), Ok((3, 1)));
    assert_eq!(ping(), Ok(()));
}
