//! Window counters: at most `limit` permits per window of time.

use core::marker::PhantomData;
use core::time::Duration;

use super::{insufficient, rate_limited};
use crate::sliding::SlidingCounts;
use crate::time::{Monotonic, duration_nanos};
use crate::{ConfigError, Instant, Problem, Rejected};

/// Builds a [`FixedWindow`] or a [`SlidingWindow`] (`W`), naming the limit
/// and the window; from [`FixedWindow::builder`] or
/// [`SlidingWindow::builder`]. Both fields are required.
#[must_use = "a builder does nothing until `build` is called"]
pub struct WindowBuilder<W> {
    limit: Option<u32>,
    window: Option<Duration>,
    kind: PhantomData<fn() -> W>,
}

impl<W> WindowBuilder<W> {
    const fn new() -> Self {
        WindowBuilder {
            limit: None,
            window: None,
            kind: PhantomData,
        }
    }

    /// Permits per window.
    pub const fn limit(mut self, permits: u32) -> Self {
        self.limit = Some(permits);
        self
    }

    /// The window's length.
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Both fields, or the first one never set (`Missing`).
    const fn fields(&self) -> Result<(u32, Duration), ConfigError> {
        match (self.limit, self.window) {
            (Some(limit), Some(window)) => Ok((limit, window)),
            (None, _) => Err(ConfigError::new("limit", Problem::Missing)),
            (_, None) => Err(ConfigError::new("window", Problem::Missing)),
        }
    }
}

impl WindowBuilder<FixedWindow> {
    /// Checks the fields and returns the counter.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] `limit`, then `window`, `Missing`, if it was never
    /// set; then as [`FixedWindow::new`]: `limit`, then `window`, `Zero`.
    pub const fn build(self) -> Result<FixedWindow, ConfigError> {
        match self.fields() {
            Ok((limit, window)) => FixedWindow::new(limit, window),
            Err(e) => Err(e),
        }
    }
}

impl<const B: usize> WindowBuilder<SlidingWindow<B>> {
    /// Checks the fields and returns the counter.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] `limit`, then `window`, `Missing`, if it was never
    /// set; then as [`SlidingWindow::new`]: `limit` zero, then `window`
    /// shorter than `B` nanoseconds.
    pub const fn build(self) -> Result<SlidingWindow<B>, ConfigError> {
        match self.fields() {
            Ok((limit, window)) => SlidingWindow::new(limit, window),
            Err(e) => Err(e),
        }
    }
}

impl<W> Clone for WindowBuilder<W> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<W> Copy for WindowBuilder<W> {}

impl<W> core::fmt::Debug for WindowBuilder<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WindowBuilder")
            .field("limit", &self.limit)
            .field("window", &self.window)
            .finish()
    }
}

/// At most `limit` permits per fixed window (`[k*w, (k+1)*w)`). Simple and
/// cheap, but a burst at the end of one window and the start of the next
/// can admit up to `2 * limit` within `w`; [`SlidingWindow`] does not.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::FixedWindow;
/// use failsafe_core::Instant;
/// let mut w = FixedWindow::new(2, Duration::from_secs(1)).unwrap();
/// assert!(w.acquire(Instant::from_millis(100), 2).is_ok());
/// assert_eq!(w.acquire(Instant::from_millis(900), 1).unwrap_err().retry_at, Some(Instant::from_secs(1)));
/// assert!(w.acquire(Instant::from_secs(1), 1).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FixedWindow {
    pub(crate) limit: u64,
    pub(crate) window_nanos: u64,
    index: u64,
    count: u64,
    clock: Monotonic,
}

impl FixedWindow {
    /// The latest `now` seen (the clock contract's floor).
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
    /// A builder naming the limit and the window (both required), shared
    /// with [`SlidingWindow::builder`]. `const`:
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::checked;
    /// use failsafe_core::rate::FixedWindow;
    ///
    /// const WINDOW: FixedWindow = checked(FixedWindow::builder().limit(2).window(Duration::from_secs(1)).build());
    /// assert_eq!(Ok(WINDOW), FixedWindow::new(2, Duration::from_secs(1)));
    /// assert_eq!(FixedWindow::builder().limit(2).build().unwrap_err().field, "window");
    /// ```
    pub const fn builder() -> WindowBuilder<FixedWindow> {
        WindowBuilder::new()
    }

    /// `limit` permits per `window`, both non-zero. The same as
    /// [`builder`](Self::builder), which names them.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `limit` or `window` (checked in that order), `Zero`,
    ///   if it is zero.
    pub const fn new(limit: u32, window: Duration) -> Result<FixedWindow, ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new("limit", Problem::Zero));
        }
        let window_nanos = duration_nanos(window);
        if window_nanos == 0 {
            return Err(ConfigError::new("window", Problem::Zero));
        }
        Ok(FixedWindow {
            limit: limit as u64,
            window_nanos,
            index: 0,
            count: 0,
            clock: Monotonic::new(),
        })
    }

    /// Takes `n` permits at `now`, or says when the next window opens (a
    /// window `[k * window, (k + 1) * window)` includes its start: `retry_at`
    /// is that start, and a request at exactly it is counted in the new window).
    ///
    /// # Errors
    ///
    /// - [`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity),
    ///   [`Rejected::never`], if `n` exceeds `limit`.
    /// - [`RateLimited`](crate::RejectReason::RateLimited), `retry_at` the
    ///   start of the next window (saturating at `Instant::MAX`, never), if
    ///   this window cannot take `n` more.
    pub fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        let n = n as u64;
        // Observed first: even a request that can never be granted hands in
        // a `now`, which counts as seen (the clock contract).
        let index = self.clock.observe(now).as_nanos() / self.window_nanos;
        if n > self.limit {
            return Err(insufficient());
        }
        if index != self.index {
            self.index = index;
            self.count = 0;
        }
        if self.count + n <= self.limit {
            self.count += n;
            return Ok(());
        }
        Err(rate_limited(Instant::from_nanos(
            index.saturating_add(1).saturating_mul(self.window_nanos),
        )))
    }

    /// Changes the limit at run time, keeping this window's count.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `limit`, `Zero`, if `limit` is zero; the limit is then
    ///   left unchanged.
    pub fn set_limit(&mut self, limit: u32) -> Result<(), ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new("limit", Problem::Zero));
        }
        self.limit = limit as u64;
        Ok(())
    }
}

/// At most `limit` permits in the last `window`, counted in `B` buckets of
/// `⌈window / B⌉` ns (a `window` not a multiple of `B` ns is kept up to
/// `B - 1` ns longer, never shorter): any span covering `B` consecutive
/// buckets (at least `window - window / B` long) holds at most `limit`
/// permits.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::rate::SlidingWindow;
/// use failsafe_core::Instant;
/// let mut w = SlidingWindow::<10>::new(3, Duration::from_secs(1)).unwrap();
/// assert!(w.acquire(Instant::from_millis(0), 1).is_ok());
/// assert!(w.acquire(Instant::from_millis(500), 2).is_ok());
/// // full until the bucket of t=0 slides out at t=1s
/// assert_eq!(w.acquire(Instant::from_millis(900), 1).unwrap_err().retry_at, Some(Instant::from_secs(1)));
/// assert!(w.acquire(Instant::from_secs(1), 1).is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlidingWindow<const B: usize> {
    pub(crate) limit: u64,
    pub(crate) counts: SlidingCounts<B, 1>,
    clock: Monotonic,
}

impl<const B: usize> SlidingWindow<B> {
    /// The latest `now` seen (the clock contract's floor).
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
    /// A builder naming the limit and the window (both required). `const`:
    ///
    /// ```
    /// use core::time::Duration;
    /// use failsafe_core::checked;
    /// use failsafe_core::rate::SlidingWindow;
    ///
    /// const WINDOW: SlidingWindow<10> =
    ///     checked(SlidingWindow::builder().limit(100).window(Duration::from_secs(1)).build());
    /// assert_eq!(Ok(WINDOW), SlidingWindow::new(100, Duration::from_secs(1)));
    /// ```
    pub const fn builder() -> WindowBuilder<SlidingWindow<B>> {
        WindowBuilder::new()
    }

    /// `limit` permits per `window` (which must be at least `B` nanoseconds).
    /// The same as [`builder`](Self::builder), which names them.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `limit`, `Zero`, if `limit` is zero; then `window`,
    ///   `Zero`, if it is shorter than `B` nanoseconds.
    pub const fn new(limit: u32, window: Duration) -> Result<Self, ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new("limit", Problem::Zero));
        }
        match SlidingCounts::new("window", window) {
            Ok(counts) => Ok(SlidingWindow {
                limit: limit as u64,
                counts,
                clock: Monotonic::new(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Takes `n` permits at `now`, or says when enough will have slid out.
    ///
    /// # Errors
    ///
    /// - [`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity),
    ///   [`Rejected::never`], if `n` exceeds `limit`.
    /// - [`RateLimited`](crate::RejectReason::RateLimited), `retry_at` the end
    ///   of the bucket whose expiry frees enough permits (saturating at
    ///   `Instant::MAX`, never), if the window cannot take `n` more.
    pub fn acquire(&mut self, now: Instant, n: u32) -> Result<(), Rejected> {
        let n = n as u64;
        let now = self.clock.observe(now); // seen even when never granted
        if n > self.limit {
            return Err(insufficient());
        }
        let [used] = self.counts.sums(now);
        if used + n <= self.limit {
            self.counts.add(now, [n as u32]);
            return Ok(());
        }
        match self.counts.release_time(now, 0, used + n - self.limit) {
            Some(at) => Err(rate_limited(at)),
            None => Err(insufficient()), // unreachable: n <= limit, so the window holds enough
        }
    }

    /// Permits used in the window at `now`.
    pub fn used(&mut self, now: Instant) -> u64 {
        let now = self.clock.observe(now);
        self.counts.sums(now)[0]
    }

    /// Changes the limit at run time, keeping the window's counts.
    ///
    /// # Errors
    ///
    /// - [`ConfigError`] `limit`, `Zero`, if `limit` is zero; the limit is then
    ///   left unchanged.
    pub fn set_limit(&mut self, limit: u32) -> Result<(), ConfigError> {
        if limit == 0 {
            return Err(ConfigError::new("limit", Problem::Zero));
        }
        self.limit = limit as u64;
        Ok(())
    }
}
