use std::sync::LazyLock;

use failsafe_tokio::{RetryConfig, RetryError, RetryPolicy, policy};

static RETRY: LazyLock<RetryPolicy> =
    LazyLock::new(|| RetryPolicy::new(RetryConfig::builder().build().unwrap()));

fn consume(body: String) -> Result<usize, ()> {
    Ok(body.len())
}

// Each attempt runs the body again: it cannot give its argument away.
#[policy(retry = RETRY)]
async fn post(body: String) -> Result<usize, RetryError<()>> {
    consume(body)
}

fn main() {}
