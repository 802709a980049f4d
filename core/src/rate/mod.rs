//! Rate limiting: GCRA, token bucket, fixed and sliding windows, keyed limiters (work in progress).
