//! Attributes, visibility and docs stay on the function; the handle may be
//! any expression (a call here).
#![deny(warnings)]
#![deny(missing_docs)]

//! A crate.

use std::sync::LazyLock;

use failsafe_thread::{BulkheadConfig, BulkheadPolicy, Error, policy};

mod handles {
    use super::*;

    static SLOTS: LazyLock<BulkheadPolicy> =
        LazyLock::new(|| BulkheadPolicy::new(BulkheadConfig::DEFAULT));

    pub(crate) fn slots() -> &'static BulkheadPolicy {
        &SLOTS
    }
}

/// Renders within a bulkhead slot.
#[must_use = "the page or why it was not rendered"]
#[inline]
#[policy(handles::slots())]
pub fn render(page: u32) -> Result<String, Error<std::convert::Infallible>> {
    Ok(format!("page {page}"))
}

fn main() {
    assert_eq!(render(2).unwrap(), "page 2");
}
