//! `?` converts into the body's error with `From`; `return` (also as the
//! last statement) leaves the body; a shadowed `Result` and a fully
//! qualified error type change nothing.
#![deny(warnings)]

use std::sync::LazyLock;

use failsafe_thread::{FailFastConfig, FailFastPolicy, policy};

#[derive(Debug)]
enum AppError {
    Parse,
    Empty,
}

impl From<std::num::ParseIntError> for AppError {
    fn from(_: std::num::ParseIntError) -> Self {
        AppError::Parse
    }
}

#[allow(dead_code)]
type Result<T> = std::result::Result<T, AppError>;

static DB: LazyLock<FailFastPolicy> =
    LazyLock::new(|| FailFastPolicy::new(FailFastConfig::builder().build().unwrap()));

#[policy(DB)]
fn total(text: &str) -> std::result::Result<u32, failsafe_thread::Error<AppError>> {
    if text.is_empty() {
        return Err(AppError::Empty);
    }
    let mut sum = 0;
    for part in text.split(',') {
        sum += part.trim().parse::<u32>()?;
    }
    return Ok(sum);
}

fn main() {
    assert_eq!(total("1, 2, 3").unwrap(), 6);
    assert!(matches!(
        total(""),
        Err(failsafe_thread::Error::Inner(AppError::Empty))
    ));
    assert!(matches!(
        total("x"),
        Err(failsafe_thread::Error::Inner(AppError::Parse))
    ));
}
