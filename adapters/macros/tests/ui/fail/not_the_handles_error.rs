use std::sync::LazyLock;

use failsafe_thread::{BreakerConfig, NoWindow};
use failsafe_thread::{CircuitBreakerPolicy, Error, Pipeline, RetryConfig, StdClock, policy};

static UPLINK: LazyLock<Pipeline<CircuitBreakerPolicy<NoWindow>, StdClock>> = LazyLock::new(|| {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    Pipeline::with_admission(StdClock, breaker).retry(RetryConfig::builder().build().unwrap())
});

// A pipeline's error is `PipelineError<E>`, not `Error<E>`.
#[policy(pipeline = UPLINK)]
fn send(frame: &[u8]) -> Result<usize, Error<&'static str>> {
    Ok(frame.len())
}

fn main() {}
