use std::sync::LazyLock;

use failsafe_thread::{BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, policy};

static BREAKER: LazyLock<CircuitBreakerPolicy> =
    LazyLock::new(|| CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new()));

#[derive(Debug)]
struct AppError;

// The body's error is `AppError`: an `io::Error` does not convert into it.
#[policy(BREAKER)]
fn load(path: &str) -> Result<Vec<u8>, Error<AppError>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes)
}

// Nor is a plain value the body's `Result<T, AppError>`.
#[policy(BREAKER)]
fn size(path: &str) -> Result<usize, Error<AppError>> {
    path.len()
}

fn main() {}
