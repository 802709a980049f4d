//! Recent latencies in a fixed-size histogram, and the quantile a hedge
//! waits for, recomputed once per period (never per request).

use core::time::Duration;

use crate::Instant;
use crate::time::Monotonic;

/// Buckets: 32 octaves of microseconds (1 µs to about 71 min), each split
/// in 4 equal parts, so a bucket's upper bound is at most 25 % above any
/// latency it holds (the first quarter of an octave: 1.25).
const OCTAVES: usize = 32;
const SUB: usize = 4;
const BUCKETS: usize = OCTAVES * SUB;

/// The bucket of a latency of `us` microseconds.
const fn bucket(us: u64) -> usize {
    if us < 2 {
        return 0;
    }
    let octave = 63 - us.leading_zeros() as usize; // floor(log2(us)) >= 1
    // The two bits below the leading one pick the quarter of the octave.
    let quarter = if octave >= 2 {
        ((us >> (octave - 2)) & 0b11) as usize
    } else {
        ((us << (2 - octave)) & 0b11) as usize
    };
    let index = octave * SUB + quarter;
    if index < BUCKETS { index } else { BUCKETS - 1 }
}

/// The upper bound of bucket `index`, in microseconds: what a quantile in
/// it reports (never below the latencies it holds).
const fn upper_us(index: usize) -> u64 {
    let (octave, quarter) = (index / SUB, (index % SUB) as u64);
    let base = 1u64 << octave;
    // base * (1 + (quarter + 1) / 4), rounded up
    base + (base * (quarter + 1)).div_ceil(SUB as u64)
}

/// The latency a hedge waits for before launching its next attempt: a
/// quantile (say p95, in basis points: 9_500) of the latencies recorded
/// since the last refresh, recomputed once per `period`. Until `warm_up`
/// latencies were seen, the fixed `initial` delay is used.
///
/// One per dependency, shared by every call to it (behind a lock, as a
/// retry budget is). Recording is one bucket increment; the quantile is
/// read, not computed, per request (tower's hedge computes it per request).
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::hedge::LatencyQuantile;
/// use failsafe_core::Instant;
///
/// let ms = Duration::from_millis;
/// let mut p90 = LatencyQuantile::new(9_000, ms(100), 10, Duration::from_secs(1));
/// assert_eq!(p90.delay(), ms(100)); // not warmed up: the initial delay
/// for i in 1..=100 {
///     p90.record(Instant::from_millis(i), ms(i)); // latencies 1..=100 ms
/// }
/// p90.refresh(Instant::from_secs(1)); // once per period
/// let d = p90.delay();
/// assert!(d >= ms(90) && d <= ms(113), "{d:?}"); // p90, within its bucket (25 %)
/// ```
#[derive(Clone, Debug)]
pub struct LatencyQuantile {
    counts: [u32; BUCKETS],
    seen: u32,
    quantile_bp: u16,
    warm_up: u32,
    period: Duration,
    next_refresh: Option<Instant>,
    current: Duration,
    clock: Monotonic,
}

impl LatencyQuantile {
    /// A tracker of the `quantile_bp` quantile (basis points, clamped to
    /// 1..=10_000), starting from `initial` until `warm_up` latencies have
    /// been recorded in a period, refreshed every `period`. `const`.
    pub const fn new(quantile_bp: u16, initial: Duration, warm_up: u32, period: Duration) -> Self {
        let quantile_bp = if quantile_bp == 0 {
            1
        } else if quantile_bp > 10_000 {
            10_000
        } else {
            quantile_bp
        };
        LatencyQuantile {
            counts: [0; BUCKETS],
            seen: 0,
            quantile_bp,
            warm_up,
            period,
            next_refresh: None,
            current: initial,
            clock: Monotonic::new(),
        }
    }

    /// The delay to wait now: the last computed quantile, or `initial`.
    pub const fn delay(&self) -> Duration {
        self.current
    }

    /// Records a latency observed at `now`, refreshing the quantile first
    /// if its period is over.
    pub fn record(&mut self, now: Instant, latency: Duration) {
        self.refresh(now);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let slot = &mut self.counts[bucket(us)];
        *slot = slot.saturating_add(1);
        self.seen = self.seen.saturating_add(1);
    }

    /// Recomputes the quantile if its period is over at `now` (and starts
    /// a new period): at most once per period, whatever the traffic.
    pub fn refresh(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        let due = *self
            .next_refresh
            .get_or_insert(now.saturating_add(self.period));
        if now < due {
            return;
        }
        if self.seen >= self.warm_up && self.seen > 0 {
            // The first bucket whose cumulative count reaches q of them.
            let wanted = (u64::from(self.seen) * u64::from(self.quantile_bp)).div_ceil(10_000);
            let mut cumulative = 0u64;
            for (index, &count) in self.counts.iter().enumerate() {
                cumulative += u64::from(count);
                if cumulative >= wanted.max(1) {
                    self.current = Duration::from_micros(upper_us(index));
                    break;
                }
            }
        }
        self.counts = [0; BUCKETS];
        self.seen = 0;
        self.next_refresh = Some(now.saturating_add(self.period));
    }

    /// When the current period ends (a refresh is due).
    pub const fn next_deadline(&self) -> Option<Instant> {
        self.next_refresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_latency_lands_in_a_bucket_whose_bound_covers_it_within_25_percent() {
        let mut us = 1u64;
        while us < (1 << 40) {
            for probe in [us, us + 1, us + us / 3, us * 2 - 1] {
                let index = bucket(probe);
                let bound = upper_us(index);
                if index < BUCKETS - 1 {
                    assert!(
                        bound >= probe,
                        "{probe} us in bucket {index} bounded by {bound}"
                    );
                    // A quarter of an octave: within 25 % (and 1 us near zero).
                    assert!(bound * 100 <= probe * 125 + 100, "{probe} -> {bound}");
                }
            }
            us *= 2;
        }
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn the_quantile_changes_only_at_the_period_boundary() {
        let ms = Duration::from_millis;
        let mut q = LatencyQuantile::new(5_000, ms(7), 1, ms(100));
        q.record(Instant::ZERO, ms(40));
        q.record(Instant::from_millis(50), ms(40));
        assert_eq!(q.delay(), ms(7), "mid-period: unchanged");
        q.record(Instant::from_millis(100), ms(1)); // the period is over first
        let d = q.delay();
        assert!(d >= ms(40) && d <= ms(50), "{d:?}");
        // A clock stepping back does not refresh early.
        q.refresh(Instant::from_millis(60));
        assert_eq!(q.delay(), d);
    }

    #[test]
    fn without_enough_samples_the_initial_delay_stays() {
        let ms = Duration::from_millis;
        let mut q = LatencyQuantile::new(9_500, ms(30), 50, ms(10));
        for i in 0..20 {
            q.record(Instant::from_millis(i), ms(500));
        }
        q.refresh(Instant::from_secs(1));
        assert_eq!(q.delay(), ms(30));
    }
}
