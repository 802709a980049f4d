//! failsafe adapter for embassy (work in progress).
