//! A flag table's validated configuration.

use super::Flag;
use super::hash::flag_prefix;
use crate::{ConfigError, Instant, Problem};

/// A rollout of 100 %: every key (10 000 basis points).
pub const MAX_BASIS_POINTS: u16 = 10_000;

/// A scheduled window `[start, end)`: the flag is on from `start` (included)
/// until `end` (excluded), on the clock of the `now` passed to decisions.
///
/// ```
/// use failsafe_core::toggle::Window;
/// use failsafe_core::{Instant, Problem};
/// let w = Window::new(Instant::from_secs(10), Instant::from_secs(20)).unwrap();
/// assert!(w.contains(Instant::from_secs(10)) && !w.contains(Instant::from_secs(20)));
/// let e = Window::new(Instant::from_secs(20), Instant::from_secs(20)).unwrap_err();
/// assert_eq!((e.field, e.problem), ("end", Problem::BelowMinimum));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    /// The window `[start, end)`.
    ///
    /// # Errors
    ///
    /// `end` ([`Problem::BelowMinimum`]) if `end <= start` (an empty window).
    ///
    /// ```
    /// # use failsafe_core::toggle::Window;
    /// # use failsafe_core::Instant;
    /// assert!(Window::new(Instant::ZERO, Instant::MAX).is_ok());
    /// ```
    pub const fn new(start: Instant, end: Instant) -> Result<Window, ConfigError> {
        if end.as_nanos() <= start.as_nanos() {
            return Err(ConfigError::new("end", Problem::BelowMinimum));
        }
        Ok(Window { start, end })
    }

    /// Its start (the first instant inside).
    ///
    /// ```
    /// # use failsafe_core::toggle::Window;
    /// # use failsafe_core::Instant;
    /// let w = Window::new(Instant::from_secs(1), Instant::from_secs(2)).unwrap();
    /// assert_eq!(w.start(), Instant::from_secs(1));
    /// ```
    pub const fn start(&self) -> Instant {
        self.start
    }

    /// Its end (the first instant outside).
    ///
    /// ```
    /// # use failsafe_core::toggle::Window;
    /// # use failsafe_core::Instant;
    /// let w = Window::new(Instant::from_secs(1), Instant::from_secs(2)).unwrap();
    /// assert_eq!(w.end(), Instant::from_secs(2));
    /// ```
    pub const fn end(&self) -> Instant {
        self.end
    }

    /// Whether `now` is inside: `start <= now < end`.
    ///
    /// ```
    /// # use failsafe_core::toggle::Window;
    /// # use failsafe_core::Instant;
    /// let w = Window::new(Instant::from_secs(1), Instant::from_secs(2)).unwrap();
    /// assert!(!w.contains(Instant::from_nanos(999_999_999)));
    /// ```
    pub const fn contains(&self, now: Instant) -> bool {
        self.start.as_nanos() <= now.as_nanos() && now.as_nanos() < self.end.as_nanos()
    }
}

/// One flag's initial settings: name, switch, rollout, windows. A `const`
/// builder; [`ToggleConfig::new`] validates.
///
/// ```
/// use failsafe_core::toggle::FlagSpec;
/// let spec = FlagSpec::new("dark-mode").enabled(false).rollout(500);
/// assert_eq!((spec.name(), spec.is_enabled(), spec.basis_points()), ("dark-mode", false, 500));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlagSpec {
    name: &'static str,
    enabled: bool,
    basis_points: u16,
    windows: &'static [Window],
}

impl FlagSpec {
    /// A flag named `name`: switched on, rolled out to every key, no windows.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, MAX_BASIS_POINTS};
    /// let spec = FlagSpec::new("f");
    /// assert!(spec.is_enabled());
    /// assert_eq!(spec.basis_points(), MAX_BASIS_POINTS);
    /// assert!(spec.schedule().is_empty());
    /// ```
    pub const fn new(name: &'static str) -> FlagSpec {
        FlagSpec {
            name,
            enabled: true,
            basis_points: MAX_BASIS_POINTS,
            windows: &[],
        }
    }

    /// Switched on (`true`, the default) or off at start.
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert!(!FlagSpec::new("f").enabled(false).is_enabled());
    /// ```
    #[must_use]
    pub const fn enabled(mut self, enabled: bool) -> FlagSpec {
        self.enabled = enabled;
        self
    }

    /// The rollout at start, in basis points (1/100 of a percent:
    /// `2_500` = 25 %, `10_000` = every key, the default).
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert_eq!(FlagSpec::new("f").rollout(1).basis_points(), 1);
    /// ```
    #[must_use]
    pub const fn rollout(mut self, basis_points: u16) -> FlagSpec {
        self.basis_points = basis_points;
        self
    }

    /// Windows in which the flag may be on, in increasing order, not
    /// overlapping or touching (merge `[a, b)` and `[b, c)` into `[a, c)`).
    /// Empty (the default): no schedule.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, Window};
    /// # use failsafe_core::{Instant, checked};
    /// const W: &[Window] = &[checked(Window::new(Instant::ZERO, Instant::from_secs(1)))];
    /// assert_eq!(FlagSpec::new("f").windows(W).schedule().len(), 1);
    /// ```
    #[must_use]
    pub const fn windows(mut self, windows: &'static [Window]) -> FlagSpec {
        self.windows = windows;
        self
    }

    /// The flag's name.
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert_eq!(FlagSpec::new("f").name(), "f");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Switched on at start.
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert!(FlagSpec::new("f").is_enabled());
    /// ```
    pub const fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The rollout at start, in basis points.
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert_eq!(FlagSpec::new("f").basis_points(), 10_000);
    /// ```
    pub const fn basis_points(&self) -> u16 {
        self.basis_points
    }

    /// The windows (empty: no schedule).
    ///
    /// ```
    /// # use failsafe_core::toggle::FlagSpec;
    /// assert!(FlagSpec::new("f").schedule().is_empty());
    /// ```
    pub const fn schedule(&self) -> &'static [Window] {
        self.windows
    }
}

/// The validated configuration of a table of `N` flags: the hashing seed
/// and each flag's [`FlagSpec`]. `Copy` and `const`, so a firmware table is
/// checked at compile time (with [`checked`](crate::checked)).
///
/// ```
/// use failsafe_core::toggle::{FlagSpec, ToggleConfig};
/// use failsafe_core::checked;
/// const FLAGS: ToggleConfig<2> =
///     checked(ToggleConfig::new(7, [FlagSpec::new("a"), FlagSpec::new("b").rollout(100)]));
/// const B: failsafe_core::toggle::Flag = FLAGS.flag("b").unwrap();
/// assert_eq!(B.index(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ToggleConfig<const N: usize> {
    seed: u64,
    pub(crate) specs: [FlagSpec; N],
    /// Each flag's hash state after `seed ‖ name ‖ 0xFF`.
    pub(super) prefixes: [u64; N],
}

impl<const N: usize> ToggleConfig<N> {
    /// Validates `specs` and precomputes each flag's hash prefix. `seed`
    /// is the rollout hash's seed ([module docs](super#the-hash)): the
    /// same seed keeps every key's bucket across restarts and machines.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field of the first bad spec:
    ///
    /// - `name`: [`Problem::Zero`] if empty, [`Problem::Duplicate`] if two
    ///   flags share it;
    /// - `rollout`: [`Problem::TooLarge`] above 10 000 basis points;
    /// - `windows`: [`Problem::Unordered`] unless each window starts after
    ///   the previous one ends;
    /// - `flags`: [`Problem::TooLarge`] for more than 65 536 flags.
    ///
    /// ```
    /// use failsafe_core::toggle::{FlagSpec, ToggleConfig};
    /// use failsafe_core::Problem;
    /// let e = ToggleConfig::new(0, [FlagSpec::new("a").rollout(10_001)]).unwrap_err();
    /// assert_eq!((e.field, e.problem), ("rollout", Problem::TooLarge));
    /// let e = ToggleConfig::new(0, [FlagSpec::new("a"), FlagSpec::new("a")]).unwrap_err();
    /// assert_eq!((e.field, e.problem), ("name", Problem::Duplicate));
    /// ```
    pub const fn new(seed: u64, specs: [FlagSpec; N]) -> Result<ToggleConfig<N>, ConfigError> {
        if N > u16::MAX as usize + 1 {
            return Err(ConfigError::new("flags", Problem::TooLarge));
        }
        let mut prefixes = [0u64; N];
        let mut i = 0;
        while i < N {
            let spec = &specs[i];
            if spec.name.is_empty() {
                return Err(ConfigError::new("name", Problem::Zero));
            }
            let mut j = 0;
            while j < i {
                if str_eq(specs[j].name, spec.name) {
                    return Err(ConfigError::new("name", Problem::Duplicate));
                }
                j += 1;
            }
            if spec.basis_points > MAX_BASIS_POINTS {
                return Err(ConfigError::new("rollout", Problem::TooLarge));
            }
            let mut w = 1;
            while w < spec.windows.len() {
                if spec.windows[w].start.as_nanos() <= spec.windows[w - 1].end.as_nanos() {
                    return Err(ConfigError::new("windows", Problem::Unordered));
                }
                w += 1;
            }
            prefixes[i] = flag_prefix(seed, spec.name);
            i += 1;
        }
        Ok(ToggleConfig {
            seed,
            specs,
            prefixes,
        })
    }

    /// The flag named `name`, if any: look it up once and keep the handle
    /// (a `const` lookup works too).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, ToggleConfig};
    /// let config = ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap();
    /// assert_eq!(config.flag("a").map(|f| f.index()), Some(0));
    /// assert_eq!(config.flag("b"), None);
    /// ```
    pub const fn flag(&self, name: &str) -> Option<Flag> {
        let mut i = 0;
        while i < N {
            if str_eq(self.specs[i].name, name) {
                return Some(Flag(i as u16));
            }
            i += 1;
        }
        None
    }

    /// The spec of `flag`.
    ///
    /// ```
    /// # use failsafe_core::toggle::{Flag, FlagSpec, ToggleConfig};
    /// let config = ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap();
    /// assert_eq!(config.spec(Flag::at(0)).map(|s| s.name()), Some("a"));
    /// assert!(config.spec(Flag::at(1)).is_none());
    /// ```
    pub const fn spec(&self, flag: Flag) -> Option<&FlagSpec> {
        if flag.index() < N {
            Some(&self.specs[flag.index()])
        } else {
            None
        }
    }

    /// The hashing seed.
    ///
    /// ```
    /// # use failsafe_core::toggle::ToggleConfig;
    /// assert_eq!(ToggleConfig::<0>::new(9, []).unwrap().seed(), 9);
    /// ```
    pub const fn seed(&self) -> u64 {
        self.seed
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
