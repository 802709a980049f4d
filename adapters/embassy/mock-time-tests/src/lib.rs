//! Tests of `failsafe-embassy` on embassy-time's mock driver, in virtual
//! time with `MockDriver::get().advance(d)`:
//!
//! - the circuit breaker's whole life (closed, open, half-open, closed; a
//!   probe that never reports; a caller sleeping until `retry_at`);
//! - retries: a flaky operation and its exact backoff, a retry-after hint,
//!   a deadline that cuts the loop short, a static budget spent across
//!   calls, a dropped call that stops retrying;
//! - a timeout cancelling a hanging operation at its deadline;
//! - a chain of fallbacks;
//! - the conformance suite (`failsafe-conformance`) on `EmbassyClock`;
//! - rate limiters: exact booked instants, a quota changed at run time, a
//!   dropped wait, a keyed limiter's waiter;
//! - a bulkhead's waits and a fail fast's timeline.
//!
//! The tests live in `tests/`, one scenario per file: each file is its own
//! binary, so each scenario owns the process-wide mock clock and its
//! statics. `tests/common` holds what they share (moving the clock, polling
//! a call until it sleeps). Run them on their own with
//! `cargo test -p failsafe-embassy-mock-tests`.
#![no_std]
