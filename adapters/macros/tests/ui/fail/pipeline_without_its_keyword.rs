use std::sync::LazyLock;

use failsafe_thread::{BreakerConfig, NoWindow};
use failsafe_thread::{
    CircuitBreakerPolicy, Pipeline, PipelineError, RetryConfig, StdClock, policy,
};

static UPLINK: LazyLock<Pipeline<CircuitBreakerPolicy<NoWindow>, StdClock>> = LazyLock::new(|| {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    Pipeline::with_admission(StdClock, breaker).retry(RetryConfig::builder().build().unwrap())
});

// A pipeline runs the body once per attempt: `#[policy(pipeline = UPLINK)]`.
#[policy(UPLINK)]
fn send(frame: &[u8]) -> Result<usize, PipelineError<&'static str>> {
    Ok(frame.len())
}

fn main() {}
