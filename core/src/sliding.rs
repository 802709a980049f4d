//! Counters over a sliding window of time, in fixed buckets: the one
//! mechanism behind the breaker's time window and the retry ratio budget.

use core::time::Duration;

use crate::time::duration_nanos;
use crate::{ConfigError, Instant, Problem};

/// `K` counters summed over the last `B` buckets of `⌈window / B⌉` each.
///
/// Buckets are whole nanoseconds, rounded up: `window` not a multiple of
/// `B` ns is kept up to `B - 1` ns longer, never shorter (so a limiter
/// over it never admits more than its limit in `window`). The window
/// slides one bucket at a time, so it covers between `window - window / B`
/// and `B × ⌈window / B⌉` of history. Running sums and lazy
/// expiry keep every operation O(1) amortised; a clock that steps back
/// counts into the newest bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SlidingCounts<const B: usize, const K: usize> {
    bucket_nanos: u64,
    buckets: [[u32; K]; B],
    /// Index (in bucket units since the epoch) of the newest bucket.
    head: u64,
    sums: [u64; K],
}

impl<const B: usize, const K: usize> SlidingCounts<B, K> {
    /// Empty counters over `window`; `field` names the window in the error.
    pub(crate) const fn new(field: &'static str, window: Duration) -> Result<Self, ConfigError> {
        const {
            assert!(
                B > 0 && B <= u32::MAX as usize,
                "a sliding window needs 1..=u32::MAX buckets"
            )
        };
        let nanos = duration_nanos(window);
        // A bucket is at least a nanosecond: the window at least `B` ns.
        if nanos < B as u64 {
            return Err(ConfigError::new(field, Problem::Zero));
        }
        let bucket_nanos = nanos.div_ceil(B as u64);
        Ok(SlidingCounts {
            bucket_nanos,
            buckets: [[0; K]; B],
            head: 0,
            sums: [0; K],
        })
    }

    pub(crate) const fn bucket_duration(&self) -> Duration {
        Duration::from_nanos(self.bucket_nanos)
    }

    /// Moves the head to the bucket holding `now`, expiring what slid out.
    fn slide(&mut self, now: Instant) {
        let index = now.as_nanos() / self.bucket_nanos;
        if index <= self.head {
            return; // same bucket, or a clock that stepped back
        }
        let steps = index - self.head;
        if steps >= B as u64 {
            self.clear();
        } else {
            for k in 1..=steps {
                let slot = ((self.head + k) % B as u64) as usize;
                let old = core::mem::replace(&mut self.buckets[slot], [0; K]);
                for (sum, old) in self.sums.iter_mut().zip(old) {
                    *sum -= old as u64;
                }
            }
        }
        self.head = index;
    }

    /// Adds `deltas` at `now`. A bucket whose first counter would pass
    /// `u32::MAX` drops the sample rather than overflow.
    pub(crate) fn add(&mut self, now: Instant, deltas: [u32; K]) {
        self.slide(now);
        let bucket = &mut self.buckets[(self.head % B as u64) as usize];
        if bucket
            .iter()
            .zip(deltas)
            .any(|(c, d)| c.checked_add(d).is_none())
        {
            return;
        }
        for ((count, sum), d) in bucket.iter_mut().zip(self.sums.iter_mut()).zip(deltas) {
            *count += d;
            *sum += d as u64;
        }
    }

    /// The sums over the window at `now`.
    pub(crate) fn sums(&mut self, now: Instant) -> [u64; K] {
        self.slide(now);
        self.sums
    }

    /// When at least `need` of counter `k` will have slid out of the window
    /// (the end of the bucket that frees the last of them), or `None` if the
    /// window does not hold that many.
    pub(crate) fn release_time(&mut self, now: Instant, k: usize, need: u64) -> Option<Instant> {
        self.slide(now);
        let mut freed = 0u64;
        let oldest = self.head.saturating_sub(B as u64 - 1);
        for index in oldest..=self.head {
            freed += self.buckets[(index % B as u64) as usize][k] as u64;
            if freed >= need {
                let expiry = index
                    .saturating_add(B as u64)
                    .saturating_mul(self.bucket_nanos);
                return Some(Instant::from_nanos(expiry));
            }
        }
        None
    }

    pub(crate) fn clear(&mut self) {
        self.buckets = [[0; K]; B];
        self.sums = [0; K];
    }
}
