//! failsafe adapter for thread (work in progress).
