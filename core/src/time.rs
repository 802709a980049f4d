//! Time as the core sees it: an [`Instant`] handed in by the caller.
//!
//! The core never reads a clock. Adapters pick an epoch (process start, runtime
//! start, boot) and pass nanoseconds since it. All arithmetic saturates, so an
//! overflowing duration or an instant near `u64::MAX` never panics.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time: nanoseconds since an epoch chosen by the adapter.
///
/// `u64` nanoseconds cover 584 years, so saturation is a guard, not a limit
/// anyone meets in practice.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::Instant;
///
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t.as_nanos(), 1_500_000_000);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
/// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX); // saturates
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The last representable instant; used as "never".
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_nanos(7).as_nanos(), 7);
    /// ```
    pub const fn from_nanos(nanos: u64) -> Instant {
        Instant(nanos)
    }

    /// An instant `micros` microseconds after the epoch (saturating).
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_micros(3).as_nanos(), 3_000);
    /// assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
    /// ```
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros.saturating_mul(1_000))
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_millis(2).as_nanos(), 2_000_000);
    /// ```
    pub const fn from_millis(millis: u64) -> Instant {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// An instant `secs` seconds after the epoch (saturating).
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_secs(1), Instant::from_millis(1_000));
    /// ```
    pub const fn from_secs(secs: u64) -> Instant {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_secs(1).as_nanos(), 1_000_000_000);
    /// ```
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the epoch.
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_micros(2_500).as_millis(), 2);
    /// ```
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// `self + d`, clamped to [`Instant::MAX`].
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::ZERO.saturating_add(Duration::MAX), Instant::MAX);
    /// ```
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_nanos(d)))
    }

    /// `self + d`, or `None` if it would pass [`Instant::MAX`].
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    /// assert_eq!(Instant::ZERO.checked_add(Duration::from_nanos(1)), Some(Instant::from_nanos(1)));
    /// ```
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        let nanos = d.as_nanos();
        if nanos > u64::MAX as u128 {
            return None;
        }
        match self.0.checked_add(nanos as u64) {
            Some(n) => Some(Instant(n)),
            None => None,
        }
    }

    /// `self - d`, clamped to [`Instant::ZERO`].
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_millis(5).saturating_sub(Duration::from_secs(1)), Instant::ZERO);
    /// ```
    pub const fn saturating_sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(duration_nanos(d)))
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later (a clock that stepped back).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use failsafe_core::Instant;
    /// let (a, b) = (Instant::from_millis(10), Instant::from_millis(25));
    /// assert_eq!(b.saturating_duration_since(a), Duration::from_millis(15));
    /// assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    /// ```
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The later of two instants.
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_secs(1).max(Instant::from_secs(2)), Instant::from_secs(2));
    /// ```
    pub const fn max(self, other: Instant) -> Instant {
        if self.0 >= other.0 { self } else { other }
    }

    /// The earlier of two instants.
    ///
    /// ```
    /// # use failsafe_core::Instant;
    /// assert_eq!(Instant::from_secs(1).min(Instant::from_secs(2)), Instant::from_secs(1));
    /// ```
    pub const fn min(self, other: Instant) -> Instant {
        if self.0 <= other.0 { self } else { other }
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating addition.
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    /// Saturating subtraction.
    fn sub(self, d: Duration) -> Instant {
        self.saturating_sub(d)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: a later `rhs` gives [`Duration::ZERO`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Display for Instant {
    /// Seconds with millisecond precision, e.g. `t=60.020s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0 / 1_000_000;
        write!(f, "t={}.{:03}s", millis / 1_000, millis % 1_000)
    }
}

/// A [`Duration`] as whole nanoseconds, clamped to `u64::MAX`.
///
/// ```
/// # use core::time::Duration;
/// use failsafe_core::time::duration_nanos;
/// assert_eq!(duration_nanos(Duration::from_micros(2)), 2_000);
/// assert_eq!(duration_nanos(Duration::MAX), u64::MAX);
/// ```
pub const fn duration_nanos(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

/// Remembers the latest instant seen, so a clock that steps backwards reads as
/// "no time passed" rather than as travel into the past.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Monotonic {
    latest: PackedInstant,
}

impl Monotonic {
    /// Starts at the epoch.
    ///
    /// ```
    /// # use failsafe_core::time::Monotonic;
    /// let m = Monotonic::new();
    /// assert_eq!(m.latest().as_nanos(), 0);
    /// ```
    pub const fn new() -> Monotonic {
        Monotonic {
            latest: PackedInstant::new(Instant::ZERO),
        }
    }

    /// Returns `max(now, latest seen)` and remembers it.
    ///
    /// ```
    /// # use failsafe_core::{Instant, time::Monotonic};
    /// let mut m = Monotonic::new();
    /// assert_eq!(m.observe(Instant::from_millis(10)), Instant::from_millis(10));
    /// assert_eq!(m.observe(Instant::from_millis(4)), Instant::from_millis(10)); // stepped back
    /// ```
    pub fn observe(&mut self, now: Instant) -> Instant {
        let latest = self.latest.get().max(now);
        self.latest.set(latest);
        latest
    }

    /// The latest instant seen so far.
    ///
    /// ```
    /// # use failsafe_core::{Instant, time::Monotonic};
    /// let mut m = Monotonic::new();
    /// m.observe(Instant::from_secs(3));
    /// assert_eq!(m.latest(), Instant::from_secs(3));
    /// ```
    pub const fn latest(&self) -> Instant {
        self.latest.get()
    }
}

/// An [`Instant`] kept as two `u32` halves, so it aligns to 4 bytes: a
/// `u64` aligns to 8 on 32-bit targets too (thumbv7em, riscv32), and a
/// machine mixing it with `u32`s pays padding there, as does the `RefCell`
/// flag of the lock around it. Read and written whole, under `&mut` or a
/// lock (never shared between threads unlocked), so a value is never torn.
/// On a 64-bit host the compiler merges the halves into one load or store.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PackedInstant {
    /// Bits 0 to 31 of the nanoseconds.
    low: u32,
    /// Bits 32 to 63.
    high: u32,
}

impl PackedInstant {
    /// `at`, packed.
    #[inline(always)]
    pub(crate) const fn new(at: Instant) -> Self {
        let n = at.as_nanos();
        PackedInstant {
            low: n as u32,
            high: (n >> 32) as u32,
        }
    }

    /// The instant.
    #[inline(always)]
    pub(crate) const fn get(self) -> Instant {
        Instant::from_nanos(self.low as u64 | (self.high as u64) << 32)
    }

    /// Replaces the instant.
    #[inline(always)]
    pub(crate) fn set(&mut self, at: Instant) {
        *self = Self::new(at);
    }
}

impl fmt::Debug for PackedInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PackedInstant {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{}", self.get())
    }
}

/// Where a machine gets `now` from: an [`Instant`] the caller already read,
/// or a closure it calls only if the decision needs the time.
///
/// Reading a clock costs more than most decisions (`Instant::now()` is
/// ~25 ns, a closed breaker's bookkeeping a few), so machines read lazily: a
/// closed circuit breaker without slow-call detection or a time window
/// never asks. The machine calls the closure at most once per operation;
/// the core itself still never reads a clock.
///
/// ```
/// use failsafe_core::breaker::{BreakerConfig, CircuitBreaker, CountWindow};
/// use failsafe_core::{Instant, Outcome};
///
/// let mut breaker = CircuitBreaker::new(BreakerConfig::DEFAULT, CountWindow::<10>::new());
/// let mut reads = 0;
/// let permit = breaker.acquire(|| { reads += 1; Instant::from_millis(5) }).unwrap();
/// breaker.record(|| { reads += 1; Instant::from_millis(6) }, permit, Outcome::Success);
/// assert_eq!(reads, 0); // closed, count window, no slow-call detection: time was never needed
/// ```
pub trait TimeSource {
    /// The current time. Called at most once per machine operation.
    fn read(&mut self) -> Instant;

    /// The time if it is already known at no cost (an [`Instant`]), so the
    /// machine can note it even when the decision does not need it.
    fn known(&self) -> Option<Instant> {
        None
    }
}

impl TimeSource for Instant {
    #[inline]
    fn read(&mut self) -> Instant {
        *self
    }

    #[inline]
    fn known(&self) -> Option<Instant> {
        Some(*self)
    }
}

impl<F: FnMut() -> Instant> TimeSource for F {
    #[inline]
    fn read(&mut self) -> Instant {
        self()
    }
}

/// A [`TimeSource`] read at most once, then remembered.
#[derive(Debug)]
pub(crate) struct LazyTime<T> {
    source: T,
    value: Option<Instant>,
}

impl<T: TimeSource> LazyTime<T> {
    /// A lazy time; a time known for free is noted in `clock` at once, so a
    /// clock stepping back is caught even where the decision ignores time.
    #[inline]
    pub(crate) fn new(source: T, clock: &mut Monotonic) -> Self {
        let value = source.known().map(|t| clock.observe(t));
        LazyTime { source, value }
    }

    /// The time, read now if not yet read, clamped by `clock`.
    #[inline]
    pub(crate) fn get(&mut self, clock: &mut Monotonic) -> Instant {
        match self.value {
            Some(t) => clock.observe(t),
            None => {
                let t = clock.observe(self.source.read());
                self.value = Some(t);
                t
            }
        }
    }

    /// The raw time, unclamped (for checks outside a machine).
    #[inline]
    pub(crate) fn raw(&mut self) -> Instant {
        match self.value {
            Some(t) => t,
            None => {
                let t = self.source.read();
                self.value = Some(t);
                t
            }
        }
    }
}

impl<T: TimeSource> TimeSource for LazyTime<T> {
    #[inline]
    fn read(&mut self) -> Instant {
        self.raw()
    }

    #[inline]
    fn known(&self) -> Option<Instant> {
        self.value
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;

    use super::{Instant, PackedInstant};

    #[test]
    fn a_packed_instant_is_the_instant_at_4_byte_alignment() {
        assert_eq!(core::mem::size_of::<PackedInstant>(), 8);
        assert_eq!(core::mem::align_of::<PackedInstant>(), 4);
        for n in [
            0,
            1,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            0x1234_5678_9abc_def0,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let at = Instant::from_nanos(n);
            let mut p = PackedInstant::new(at);
            assert_eq!(p.get(), at, "{n:#x}");
            p.set(Instant::from_nanos(!n));
            assert_eq!(p.get(), Instant::from_nanos(!n), "{n:#x}");
            assert_eq!(format!("{:?}", PackedInstant::new(at)), format!("{at:?}"));
        }
        assert_eq!(PackedInstant::default().get(), Instant::ZERO);
        assert_eq!(PackedInstant::new(Instant::MAX).get(), Instant::MAX);
    }
}
