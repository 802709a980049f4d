//! Bulkhead: bounded concurrency with a bounded FIFO wait queue, and adaptive concurrency limits (work in progress).
