//! A retry in a `static` on an async free function: the body runs once per
//! attempt and borrows its arguments each time; the future stays `Send`.
#![deny(warnings)]

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use failsafe_tokio::{BackoffKind, Jitter, RetryConfig, RetryError, RetryPolicy, policy};

static RETRY: LazyLock<RetryPolicy> = LazyLock::new(|| {
    let config = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(std::time::Duration::ZERO))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    RetryPolicy::new(config)
});
static CALLS: AtomicU32 = AtomicU32::new(0);

#[policy(retry = RETRY)]
async fn lookup(name: String, fail_first: u32) -> Result<usize, RetryError<String>> {
    if CALLS.fetch_add(1, Ordering::Relaxed) < fail_first {
        return Err(format!("{name}: not yet"));
    }
    Ok(name.len())
}

fn is_send<T: Send>(value: T) -> T {
    value
}

fn main() {
    // the futures stay `Send`: `tokio::spawn` takes them
    drop(is_send(lookup("spawned".into(), 0)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(runtime.block_on(lookup("abcd".into(), 2)), Ok(4));
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
}
