//! Tests of failsafe-embassy on embassy-time's mock driver live in `tests/`.
