use std::sync::LazyLock;

use failsafe_thread::{BreakerConfig, CircuitBreakerPolicy, CountWindow, policy};

static BREAKER: LazyLock<CircuitBreakerPolicy> =
    LazyLock::new(|| CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new()));

// No return type: nowhere to put a rejection.
#[policy(BREAKER)]
fn notify(user: u32) {
    let _ = user;
}

// A `Result` whose error cannot carry the breaker's.
#[policy(BREAKER)]
fn name(user: u32) -> Result<String, String> {
    Ok(user.to_string())
}

// A one-argument alias cannot either.
#[policy(BREAKER)]
fn read(path: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(path)
}

fn main() {}
