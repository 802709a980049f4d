//! failsafe adapter for tokio (work in progress).
