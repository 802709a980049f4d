//! Fail fast: stop calling a dependency known to be down (work in progress).
