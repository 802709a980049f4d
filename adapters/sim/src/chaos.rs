//! Fault injection for the modelled dependencies: the core's chaos machine
//! ([`failsafe_core::chaos`]), re-exported so the simulator's
//! dependencies and a user's tests use the same one.

pub use failsafe_core::chaos::*;
