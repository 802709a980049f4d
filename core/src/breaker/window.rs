//! Where a breaker keeps its recent calls: fixed-capacity sliding windows.
//!
//! A window only counts; the breaker decides. Capacity is in the type, so a
//! window never allocates and a zero capacity fails to compile.

use core::time::Duration;

use crate::sliding::SlidingCounts;
use crate::{ConfigError, Instant};

/// One finished call as a window sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sample {
    /// The call failed or timed out.
    pub failed: bool,
    /// The call took strictly longer than the slow-call duration.
    pub slow: bool,
}

/// What a window holds right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals {
    /// Calls in the window.
    pub calls: u64,
    /// Of those, failed calls.
    pub failures: u64,
    /// Of those, slow calls.
    pub slow: u64,
}

/// A sliding record of recent calls.
///
/// Implemented by [`CountWindow`], [`TimeWindow`] and [`NoWindow`]; implement it
/// yourself for another policy (e.g. an exponentially decaying average).
pub trait Window {
    /// Adds one finished call at `now` (never earlier than a previous `now`).
    fn record(&mut self, now: Instant, sample: Sample);
    /// The calls still inside the window at `now`.
    fn totals(&mut self, now: Instant) -> Totals;
    /// Forgets everything.
    fn clear(&mut self);
    /// The most calls the window can ever hold, if bounded; the breaker
    /// lowers its `minimum_calls` to this so a small window can still trip.
    fn capacity(&self) -> Option<u32>;
    /// Does `now` matter to this window? Count windows ignore it, so the
    /// breaker need not read the clock for them.
    fn needs_time(&self) -> bool {
        true
    }
    /// Records `n` successful calls that were not slow at `now`: exactly
    /// what `n` calls of [`record`](Window::record) with
    /// `Sample::default()` do (the default makes those calls; a window may
    /// do it at once).
    fn record_successes(&mut self, now: Instant, n: u32) {
        for _ in 0..n {
            self.record(now, Sample::default());
        }
    }
    /// Does a success only dilute? `true` promises that recording a
    /// success raises the calls counted by at most one (never past
    /// [`capacity`](Window::capacity)) and never raises the failures or
    /// slow calls counted, whatever `now`: a closed breaker can then count
    /// successes without its lock until one could trip it. The default,
    /// `false`, makes no promise.
    fn success_only_dilutes(&self) -> bool {
        false
    }
}

/// No window at all: for breakers that trip on consecutive failures only.
///
/// ```
/// use failsafe_core::breaker::{NoWindow, Sample, Window};
/// use failsafe_core::Instant;
/// let mut w = NoWindow;
/// w.record(Instant::ZERO, Sample { failed: true, slow: false });
/// assert_eq!(w.totals(Instant::ZERO).calls, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoWindow;

impl Window for NoWindow {
    #[inline]
    fn record(&mut self, _now: Instant, _sample: Sample) {}
    #[inline]
    fn totals(&mut self, _now: Instant) -> Totals {
        Totals::default()
    }
    #[inline]
    fn clear(&mut self) {}
    #[inline]
    fn capacity(&self) -> Option<u32> {
        Some(0)
    }
    #[inline]
    fn needs_time(&self) -> bool {
        false
    }
    #[inline]
    fn record_successes(&mut self, _now: Instant, _n: u32) {}
    #[inline]
    fn success_only_dilutes(&self) -> bool {
        true
    }
}

/// The last `N` calls (resilience4j's count-based window), as bits.
///
/// `N` is the number of calls, as in resilience4j's `slidingWindowSize`;
/// it defaults to 100, resilience4j's default. Each call takes two bits (it
/// failed; it was slow) in `WORDS` 32-bit words per kind, and three `u32`
/// keep the position and the running sums, so every operation is O(1) with
/// no rescan. `WORDS` defaults to 4 (up to 128 calls): a window of up to
/// 128 calls needs nothing more, and RAM is `8 * WORDS + 12` bytes (44 B
/// for 100 or 128 calls, against one byte per call before). A larger window
/// says how many words it needs, `WORDS = ceil(N / 32)`; a smaller one may
/// say so to save RAM (`CountWindow<20, 1>`: 20 B). Too few words, `N ==
/// 0` or `N >= 2^31` fails to compile. (Stable Rust cannot size an array by
/// `N / 32`, hence the second parameter: `N` stays the number of calls, so
/// `CountWindow<100>` means what it meant, and no existing size changes
/// meaning silently.)
///
/// ```
/// use failsafe_core::breaker::{CountWindow, Sample, Window};
/// use failsafe_core::Instant;
/// let mut w = CountWindow::<3>::new();
/// for failed in [true, false, true, true] {
///     w.record(Instant::ZERO, Sample { failed, slow: false });
/// }
/// // only the last three are kept: false, true, true
/// let t = w.totals(Instant::ZERO);
/// assert_eq!((t.calls, t.failures), (3, 2));
/// ```
///
/// A plain `CountWindow` is resilience4j's 100 calls; a firmware window
/// names its words:
///
/// ```
/// use failsafe_core::breaker::CountWindow;
/// let w: CountWindow = CountWindow::new();
/// assert_eq!(core::mem::size_of_val(&w), 44);
/// let big = CountWindow::<1000, 32>::new(); // ceil(1000 / 32) = 32 words
/// let small = CountWindow::<20, 1>::new();
/// assert_eq!(core::mem::size_of_val(&small), 20);
/// # let _ = big;
/// ```
///
/// A breaker without slow-call detection (no
/// [`slow_call_duration`](super::BreakerConfigBuilder::slow_call_duration))
/// needs no slow bits: `SLOW_WORDS = 0` keeps none, `4 * WORDS + 12` bytes
/// (28 B for 128 calls, as firmware wants). Such a window counts no call
/// as slow, so under a config that does detect slow calls its slow-call
/// rate never trips: keep the default (`SLOW_WORDS = WORDS`) there.
///
/// ```
/// use failsafe_core::breaker::{CountWindow, Sample, Window};
/// use failsafe_core::Instant;
/// let mut w = CountWindow::<128, 4, 0>::new();
/// assert_eq!(core::mem::size_of_val(&w), 28);
/// w.record(Instant::ZERO, Sample { failed: true, slow: true });
/// let t = w.totals(Instant::ZERO);
/// assert_eq!((t.calls, t.failures, t.slow), (1, 1, 0));
/// ```
///
/// ```compile_fail
/// // 200 calls need ceil(200 / 32) = 7 words, not the default 4
/// let w = failsafe_core::breaker::CountWindow::<200>::new();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CountWindow<
    const N: usize = 100,
    const WORDS: usize = 4,
    const SLOW_WORDS: usize = WORDS,
> {
    /// Bit `i % 32` of word `i / 32`: call slot `i` failed.
    failed: [u32; WORDS],
    /// Bit `i % 32` of word `i / 32`: call slot `i` was slow (none kept
    /// when `SLOW_WORDS` is 0).
    slow: [u32; SLOW_WORDS],
    /// While filling, the calls held (`0..N`, also the next slot); once
    /// full, `N +` the next slot (the oldest call, overwritten next).
    pos: u32,
    failures: u32,
    slow_calls: u32,
}

impl<const N: usize, const WORDS: usize, const SLOW_WORDS: usize>
    CountWindow<N, WORDS, SLOW_WORDS>
{
    /// An empty window of `N` calls. `N == 0`, `N >= 2^31`, `WORDS <
    /// ceil(N / 32)` or a `SLOW_WORDS` neither 0 nor at least `ceil(N / 32)`
    /// fails to compile.
    ///
    /// ```
    /// # use failsafe_core::breaker::CountWindow;
    /// static W: CountWindow<10> = CountWindow::new(); // const: fits in a static
    /// ```
    pub const fn new() -> Self {
        const {
            assert!(
                N > 0 && N <= (u32::MAX / 2) as usize,
                "CountWindow<N, WORDS> needs 1..2^31 calls"
            );
            assert!(
                WORDS >= N.div_ceil(32),
                "CountWindow<N, WORDS>: WORDS 32-bit words hold 32 * WORDS calls; pass WORDS = ceil(N / 32), e.g. CountWindow<200, 7>"
            );
            assert!(
                SLOW_WORDS == 0 || SLOW_WORDS >= N.div_ceil(32),
                "CountWindow<N, WORDS, SLOW_WORDS>: SLOW_WORDS is 0 (no slow bits) or at least ceil(N / 32)"
            );
        };
        CountWindow {
            failed: [0; WORDS],
            slow: [0; SLOW_WORDS],
            pos: 0,
            failures: 0,
            slow_calls: 0,
        }
    }

    /// The slot the next call goes to, and whether the window is full.
    #[inline]
    const fn cursor(&self) -> (u32, bool) {
        let n = N as u32;
        if self.pos < n {
            (self.pos, false)
        } else {
            (self.pos - n, true)
        }
    }
}

impl<const N: usize, const WORDS: usize, const SLOW_WORDS: usize> Default
    for CountWindow<N, WORDS, SLOW_WORDS>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const WORDS: usize, const SLOW_WORDS: usize> Window
    for CountWindow<N, WORDS, SLOW_WORDS>
{
    #[inline]
    fn record(&mut self, _now: Instant, sample: Sample) {
        let n = N as u32;
        let (next, full) = self.cursor();
        let word = (next / 32) as usize;
        let bit = 1u32 << (next % 32);
        // `next < N <= 32 * WORDS` always holds; `get_mut` says so without a
        // panic path (firmware links none from here).
        let Some(failed) = self.failed.get_mut(word) else {
            return;
        };
        // A slot not yet filled holds no call, whatever its bits.
        let old_failed = full && *failed & bit != 0;
        *failed = (*failed & !bit) | (sample.failed as u32 * bit);
        // One update per counter: `+ new - old` never underflows since `old` was counted.
        self.failures = self.failures + sample.failed as u32 - old_failed as u32;
        // No slow bits (`SLOW_WORDS == 0`): no call is slow.
        if let Some(slow) = self.slow.get_mut(word) {
            let old_slow = full && *slow & bit != 0;
            *slow = (*slow & !bit) | (sample.slow as u32 * bit);
            self.slow_calls = self.slow_calls + sample.slow as u32 - old_slow as u32;
        }
        self.pos = if full || next + 1 == n {
            n + if next + 1 == n { 0 } else { next + 1 }
        } else {
            next + 1
        };
    }

    #[inline]
    fn totals(&mut self, _now: Instant) -> Totals {
        let (next, full) = self.cursor();
        Totals {
            calls: if full { N as u64 } else { next as u64 },
            failures: self.failures as u64,
            slow: self.slow_calls as u64,
        }
    }

    fn clear(&mut self) {
        *self = Self::new();
    }

    fn capacity(&self) -> Option<u32> {
        Some(N as u32)
    }

    #[inline]
    fn needs_time(&self) -> bool {
        false
    }

    fn record_successes(&mut self, now: Instant, n: u32) {
        if n as usize >= N {
            // Every slot is overwritten by a success.
            let (next, _) = self.cursor();
            let next = ((next as u64 + n as u64 % N as u64) % N as u64) as u32;
            *self = Self::new();
            self.pos = N as u32 + next;
        } else {
            for _ in 0..n {
                self.record(now, Sample::default());
            }
        }
    }

    #[inline]
    fn success_only_dilutes(&self) -> bool {
        true
    }
}

/// The calls of the last `window` of time, in `B` buckets of `⌈window / B⌉`
/// ns each (resilience4j's time-based window; a `window` not a multiple of
/// `B` ns is kept up to `B - 1` ns longer, never shorter).
///
/// The window slides one bucket at a time, so it covers between
/// `window - window / B` and `window` of history (`B × ⌈window / B⌉`).
/// Boundary: a call recorded in the bucket starting at `s` is counted up
/// to `s + B × ⌈window / B⌉` exclusive (`s + window` when `B` divides it);
/// at exactly that instant it has slid out (as in the example below). Running sums and lazy expiry
/// keep every operation O(1) amortised.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::breaker::{Sample, TimeWindow, Window};
/// use failsafe_core::Instant;
/// let mut w = TimeWindow::<10>::new(Duration::from_secs(10)).unwrap();
/// w.record(Instant::from_secs(0), Sample { failed: true, slow: false });
/// w.record(Instant::from_secs(5), Sample { failed: false, slow: false });
/// assert_eq!(w.totals(Instant::from_secs(9)).calls, 2);
/// assert_eq!(w.totals(Instant::from_secs(10)).calls, 1); // second 0 slid out
/// assert_eq!(w.totals(Instant::from_secs(60)).calls, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeWindow<const B: usize> {
    /// calls, failures, slow calls
    counts: SlidingCounts<B, 3>,
}

impl<const B: usize> TimeWindow<B> {
    /// A window over `window`, split in `B` buckets. `B == 0` fails to compile;
    /// a window shorter than `B` nanoseconds is a [`ConfigError`] on `window`.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::TimeWindow;
    /// assert!(TimeWindow::<10>::new(Duration::from_secs(1)).is_ok());
    /// assert_eq!(TimeWindow::<10>::new(Duration::ZERO).unwrap_err().field, "window");
    /// ```
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `window`, `Zero`, if `window` is shorter than `B`
    ///   nanoseconds.
    pub const fn new(window: Duration) -> Result<Self, ConfigError> {
        match SlidingCounts::new("window", window) {
            Ok(counts) => Ok(TimeWindow { counts }),
            Err(e) => Err(e),
        }
    }

    /// The time one bucket covers.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::breaker::TimeWindow;
    /// let w = TimeWindow::<4>::new(Duration::from_secs(2)).unwrap();
    /// assert_eq!(w.bucket_duration(), Duration::from_millis(500));
    /// ```
    pub const fn bucket_duration(&self) -> Duration {
        self.counts.bucket_duration()
    }
}

impl<const B: usize> Window for TimeWindow<B> {
    fn record(&mut self, now: Instant, sample: Sample) {
        self.counts
            .add(now, [1, sample.failed as u32, sample.slow as u32]);
    }

    fn totals(&mut self, now: Instant) -> Totals {
        let [calls, failures, slow] = self.counts.sums(now);
        Totals {
            calls,
            failures,
            slow,
        }
    }

    fn clear(&mut self) {
        self.counts.clear();
    }

    fn capacity(&self) -> Option<u32> {
        None
    }
}
