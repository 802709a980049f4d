//! What a run records: counters, a latency histogram and a time series.

use core::time::Duration;

use failsafe_core::Instant;
use hdrhistogram::Histogram;

use crate::pipeline::Transition;

/// How a client call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// An answer from the dependency.
    Succeeded,
    /// The dependency's error (after any retries).
    Failed,
    /// The last attempt was rejected by an admission machine (breaker,
    /// fail fast, rate limiter, bulkhead): it never reached the dependency.
    Rejected,
    /// The call or its last attempt timed out.
    TimedOut,
}

/// One point of the time series: what happened in `[start, start + width)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Client calls that arrived.
    pub offered: u64,
    /// Attempts that reached the dependency.
    pub reached: u64,
    /// Client calls that ended with success.
    pub succeeded: u64,
    /// Client calls that ended otherwise.
    pub unsucceeded: u64,
    /// Of those, rejected fast.
    pub rejected: u64,
    /// Sum of the latencies of the calls that ended, in microseconds.
    pub latency_sum_us: u64,
    /// Longest latency of a call that ended, in microseconds.
    pub latency_max_us: u64,
    /// Calls queued at the dependency's server, at the end of the bucket.
    pub queued: u64,
}

/// Everything one run of a scenario with a pipeline records.
#[derive(Debug)]
pub struct Recorder {
    /// Client calls offered.
    pub offered: u64,
    /// Ended with success.
    pub succeeded: u64,
    /// Ended with the dependency's error.
    pub failed: u64,
    /// Ended rejected by an admission machine.
    pub rejected: u64,
    /// Ended timed out.
    pub timed_out: u64,
    /// Attempts that reached the dependency.
    pub reached: u64,
    /// Attempts rejected by an admission machine (a call may have many).
    pub attempts_rejected: u64,
    /// Latency of every call that ended, in microseconds.
    pub latency: Histogram<u64>,
    /// The time series.
    pub series: Vec<Bucket>,
    /// Width of one bucket, in nanoseconds.
    pub bucket_nanos: u64,
    /// When the last call ended.
    pub last_end: Instant,
    /// State changes of the breaker and fail fast.
    pub transitions: Vec<Transition>,
    /// The last bucket looked up: `(index, start, end)` in nanoseconds
    /// (time mostly moves forward: no division on the way).
    cached: (usize, u64, u64),
}

impl Recorder {
    /// A recorder for a run of `duration` in buckets of `bucket`.
    pub fn new(duration: Duration, bucket: Duration) -> Recorder {
        let bucket_nanos = (bucket.as_nanos() as u64).max(1);
        let n = (duration.as_nanos() as u64).div_ceil(bucket_nanos) as usize;
        Recorder {
            offered: 0,
            succeeded: 0,
            failed: 0,
            rejected: 0,
            timed_out: 0,
            reached: 0,
            attempts_rejected: 0,
            // 1 µs to 1 hour, 3 significant digits; grows past that. A
            // call that ended at the instant it arrived (a rejection
            // without a wait) took 0 µs, and is recorded so.
            latency: {
                let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("valid histogram bounds");
                h.auto(true);
                h
            },
            series: vec![Bucket::default(); n.max(1)],
            bucket_nanos,
            last_end: Instant::ZERO,
            transitions: Vec::new(),
            cached: (0, 0, bucket_nanos),
        }
    }

    /// The bucket of `at` (the last one for instants past the end).
    #[inline]
    pub fn bucket(&mut self, at: Instant) -> &mut Bucket {
        let t = at.as_nanos();
        let (mut i, start, end) = self.cached;
        if t < start || t >= end {
            let k = t / self.bucket_nanos;
            let start = k.saturating_mul(self.bucket_nanos);
            i = (k as usize).min(self.series.len() - 1);
            self.cached = (i, start, start.saturating_add(self.bucket_nanos));
        }
        &mut self.series[i]
    }

    /// A call that arrived at `arrived` ended at `now` so.
    #[inline(always)]
    pub fn end(&mut self, arrived: Instant, now: Instant, end: CallEnd) {
        let us = self.end_but_histogram(arrived, now, end);
        let _ = self.latency.record(us);
    }

    /// What [`end`](Recorder::end) records but the latency histogram;
    /// the latency in microseconds, for [`record_latencies`](Recorder::record_latencies).
    #[inline(always)]
    pub(crate) fn end_but_histogram(
        &mut self,
        arrived: Instant,
        now: Instant,
        end: CallEnd,
    ) -> u64 {
        // `now.saturating_duration_since(arrived).as_micros()`, without
        // the `Duration`.
        let us = now.as_nanos().saturating_sub(arrived.as_nanos()) / 1_000;
        self.last_end = self.last_end.max(now);
        match end {
            CallEnd::Succeeded => self.succeeded += 1,
            CallEnd::Failed => self.failed += 1,
            CallEnd::Rejected => self.rejected += 1,
            CallEnd::TimedOut => self.timed_out += 1,
        }
        let b = self.bucket(now);
        if end == CallEnd::Succeeded {
            b.succeeded += 1;
        } else {
            b.unsucceeded += 1;
            if end == CallEnd::Rejected {
                b.rejected += 1;
            }
        }
        b.latency_sum_us += us;
        b.latency_max_us = b.latency_max_us.max(us);
        us
    }

    /// Puts latencies (microseconds) in the histogram as
    /// [`end`](Recorder::end) does, in order.
    #[inline(never)]
    pub(crate) fn record_latencies(&mut self, us: &[u64]) {
        for &us in us {
            let _ = self.latency.record(us);
        }
    }
}
