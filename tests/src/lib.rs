//! Cross-crate scenarios, property tests and the virtual-time simulator.
//!
//! [`sim`] drives a circuit breaker against a modelled dependency in virtual
//! time, jumping straight to the next event or to the breaker's
//! `next_deadline()`, so hours of traffic run in milliseconds.

pub mod sim;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
