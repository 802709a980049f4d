//! failsafe adapter for async-std (work in progress).
