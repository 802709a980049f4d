//! Tests of `failsafe-embassy` on embassy-time's mock driver: the breaker's
//! whole life (closed, open, half-open, closed; a probe that never reports)
//! in virtual time, with `MockDriver::get().advance(d)`.
//!
//! The tests live in `tests/`, one scenario per file: each file is its own
//! binary, so each scenario owns the process-wide mock clock and its static
//! breaker. Run them on their own with
//! `cargo test -p failsafe-embassy-mock-tests`.
#![no_std]
