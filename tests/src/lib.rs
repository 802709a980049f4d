//! Cross-crate scenarios and property tests live in `tests/`.
