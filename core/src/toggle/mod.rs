//! Feature toggle: a fixed table of flags, read and flipped without a lock
//! (from any task or interrupt handler), each deciding per call between an
//! enabled and a disabled path.
//!
//! A [`FlagTable`] holds `N` flags (capacity in the type, no allocation,
//! `const fn new` for a `static`). Each flag has, from its [`FlagSpec`]:
//!
//! - an operator **switch** (on/off), flipped at run time with
//!   [`FlagTable::set_enabled`];
//! - a **percentage rollout** in basis points (0..=10 000, 100 % by
//!   default), changed at run time with [`FlagTable::set_rollout`]: a key is
//!   in the rollout when `bucket(seed, flag, key) < basis_points`, where
//!   [`bucket`] is a documented, stable hash below 10 000; the same key gets
//!   the same answer on every call, process and platform, and raising the
//!   percentage only adds keys (property-tested);
//! - per-key **allow and deny lists** of `K` entries each (capacity in the
//!   type), edited at run time with [`FlagTable::allow`],
//!   [`FlagTable::deny`] and [`FlagTable::forget`];
//! - **scheduled windows** `[start, end)` on the clock of `now`
//!   ([`Window`]): the flag is on only inside one (if any are given);
//!   [`FlagTable::next_deadline`] / [`FlagTable::on_deadline`] report each
//!   boundary as it passes;
//! - a **kill switch** passed per decision ([`KillSwitch`]: a closure or
//!   any type saying "the guard is open"), so the feature follows a
//!   circuit breaker's or fail fast's state.
//!
//! # How a decision is made
//!
//! [`FlagTable::decide`] answers [`Path::Enabled`] or [`Path::Disabled`]
//! with the [`Reason`]; the first rule that applies wins:
//!
//! | # | rule | path | reason |
//! |---|---|---|---|
//! | 1 | the kill switch is open | disabled | [`Reason::Killed`] |
//! | 2 | the flag is switched off | disabled | [`Reason::Off`] |
//! | 3 | the key is on the deny list | disabled | [`Reason::Denied`] |
//! | 4 | the key is on the allow list | enabled | [`Reason::Allowed`] |
//! | 5 | windows are given and `now` is in none | disabled | [`Reason::OutsideWindow`] |
//! | 6 | `bucket(seed, flag, key) < basis_points` | enabled | [`Reason::InRollout`] |
//! | 7 | otherwise | disabled | [`Reason::NotInRollout`] |
//!
//! So deny beats allow (a key on both lists is disabled), the operator's
//! off switch and the kill switch beat every list, and an allowed key (a
//! tester) sees the feature before its window opens and whatever the
//! rollout. (LaunchDarkly orders "flag off" before individual targets the
//! same way.)
//!
//! # The hash
//!
//! `bucket(seed, flag, key) = fmix64(fnv1a64(seed ‖ name ‖ 0xFF ‖ key)) % 10_000`:
//!
//! - `seed` as 8 little-endian bytes (injected with
//!   [`ToggleConfig::new`]: change it to reshuffle every rollout);
//! - `name` the flag's name as UTF-8 (which never contains `0xFF`, so the
//!   separator keeps `("ab", "c")` and `("a", "bc")` apart); hashing the
//!   name rather than the index keeps a key's bucket when flags are added
//!   or reordered, and gives each flag its own order of keys;
//! - `key` the bytes of [`ToggleKey::write_key`]: a string's UTF-8, a byte
//!   slice as is, integers as little-endian bytes (`usize`/`isize` as 8);
//! - `fnv1a64` is FNV-1a, 64 bits (offset basis `0xcbf29ce484222325`,
//!   prime `0x100000001b3`, Fowler/Noll/Vo); `fmix64` is MurmurHash3's
//!   64-bit finalizer (Appleby), which spreads FNV's weak low bits. The
//!   modulo bias is below `10_000 / 2^64`.
//!
//! The same 64-bit value (0 read as 1) is the key's fingerprint on the
//! flag's allow and deny lists: two different keys share a fingerprint
//! with probability about `2^-64` per pair. The hash is not keyed against
//! an adversary choosing keys; it needs none, a key only ever picks its own
//! bucket.
//!
//! # Sharing and time
//!
//! Every method takes `&self`. A flag's switch and rollout are one
//! 32-bit atomic word (one load per read; compare-and-swap to flip, through
//! the crate's atomic shim: a critical section on thumbv6m with the
//! `critical-section` feature); list entries and the latest time seen are
//! 64-bit atomics. A `now` earlier than the latest seen reads as the latest
//! (the clock contract): a schedule never flips back because a clock
//! stepped back. Flags without windows never read the time.
//!
//! Window instants are on the clock of `now` (an [`Instant`] since the
//! adapter's epoch): to schedule at a calendar time, use an adapter whose
//! epoch is the UNIX epoch, or convert when building the config.
//!
//! # A timeline
//!
//! ```
//! use failsafe_core::toggle::{FlagSpec, FlagTable, Path, Reason, ToggleConfig, Window};
//! use failsafe_core::{Instant, checked};
//!
//! const LAUNCH: &[Window] = &[checked(Window::new(Instant::from_secs(60), Instant::from_secs(120)))];
//! const CONFIG: ToggleConfig<2> = checked(ToggleConfig::new(
//!     0x5eed,
//!     [FlagSpec::new("new-ui").rollout(2_500), FlagSpec::new("promo").windows(LAUNCH)],
//! ));
//! static FLAGS: FlagTable<2, 4> = FlagTable::new(CONFIG);
//!
//! let ui = FLAGS.flag("new-ui").unwrap(); // look the name up once
//! let promo = FLAGS.flag("promo").unwrap();
//! let t = Instant::from_secs(1);
//! // 25 % of users see the new UI, always the same ones
//! let on = (0..10_000u32).filter(|user| FLAGS.decide(t, ui, user).is_enabled()).count();
//! assert!((2_300..2_700).contains(&on));
//! // a tester sees it whatever the rollout
//! FLAGS.allow(t, ui, "tester").unwrap();
//! assert_eq!(FLAGS.decide(t, ui, "tester").reason, Reason::Allowed);
//! // the promo runs from t=60s to t=120s, exactly
//! assert_eq!(FLAGS.next_deadline(), Some(Instant::from_secs(60)));
//! assert!(FLAGS.decide(Instant::from_nanos(59_999_999_999), promo, &()).path == Path::Disabled);
//! assert!(FLAGS.decide(Instant::from_secs(60), promo, &()).is_enabled());
//! assert!(!FLAGS.decide(Instant::from_secs(120), promo, &()).is_enabled());
//! // an operator switches the new UI off for everyone, testers included
//! FLAGS.set_enabled(t, ui, false);
//! assert_eq!(FLAGS.decide(t, ui, "tester").reason, Reason::Off);
//! ```

mod config;
mod gate;
mod hash;
mod table;

pub use config::{FlagSpec, MAX_BASIS_POINTS, ToggleConfig, Window};
pub use gate::{FeatureGate, FeaturePermit};
pub use hash::{KeyHasher, ToggleKey, bucket};
pub use table::{FlagState, FlagTable};

use core::fmt;

use crate::Instant;

/// A flag of a table: its index, found once by name
/// ([`FlagTable::flag`], [`ToggleConfig::flag`]).
///
/// A handle from another table with fewer flags is not an error: every
/// decision on it is [`Reason::UnknownFlag`] (disabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flag(u16);

impl Flag {
    /// The flag at `index` in its table's order (the order of the specs).
    ///
    /// ```
    /// use failsafe_core::toggle::Flag;
    /// assert_eq!(Flag::at(3).index(), 3);
    /// ```
    pub const fn at(index: u16) -> Flag {
        Flag(index)
    }

    /// Its index in the table.
    ///
    /// ```
    /// use failsafe_core::toggle::Flag;
    /// assert_eq!(Flag::at(0).index(), 0);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Which operation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Path {
    /// The feature's operation.
    Enabled,
    /// The operation without the feature (the old path, a fallback).
    Disabled,
}

impl Path {
    /// `"enabled"` or `"disabled"`.
    ///
    /// ```
    /// # use failsafe_core::toggle::Path;
    /// assert_eq!(Path::Disabled.as_str(), "disabled");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Path::Enabled => "enabled",
            Path::Disabled => "disabled",
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a decision went the way it did (the rule that applied, in the
/// order of the [module docs](self#how-a-decision-is-made)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reason {
    /// The flag handle is not in this table (disabled).
    UnknownFlag,
    /// The kill switch is open (disabled).
    Killed,
    /// The flag is switched off (disabled).
    Off,
    /// The key is on the deny list (disabled).
    Denied,
    /// The key is on the allow list (enabled).
    Allowed,
    /// `now` is in none of the flag's windows (disabled).
    OutsideWindow {
        /// The start of the next window, if this key will be enabled then
        /// (in the rollout as it stands; an operator, a list or the kill
        /// switch may still change it): the earliest instant worth asking
        /// again. `None`: no window is left, or the key is not in the
        /// rollout.
        next_start: Option<Instant>,
    },
    /// The key's bucket is below the rollout (enabled).
    InRollout,
    /// The key's bucket is at or above the rollout (disabled).
    NotInRollout,
}

/// A decision: the path to run and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Decision {
    /// The path to run.
    pub path: Path,
    /// The rule that chose it.
    pub reason: Reason,
}

impl Decision {
    /// Whether the path is [`Path::Enabled`].
    ///
    /// ```
    /// # use failsafe_core::toggle::{Decision, Path, Reason};
    /// assert!(Decision { path: Path::Enabled, reason: Reason::InRollout }.is_enabled());
    /// ```
    pub const fn is_enabled(&self) -> bool {
        matches!(self.path, Path::Enabled)
    }
}

/// Which per-key list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum List {
    /// Keys always enabled (unless switched off, killed or denied).
    Allow,
    /// Keys always disabled.
    Deny,
}

/// What a [`FlagTable`] reports to its [`ToggleObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ToggleEvent {
    /// The operator switch changed ([`FlagTable::set_enabled`]).
    Switched {
        /// When.
        at: Instant,
        /// Which flag.
        flag: Flag,
        /// Its name.
        name: &'static str,
        /// The new position.
        enabled: bool,
    },
    /// The rollout changed ([`FlagTable::set_rollout`]).
    RolloutChanged {
        /// When.
        at: Instant,
        /// Which flag.
        flag: Flag,
        /// Its name.
        name: &'static str,
        /// Basis points before.
        from: u16,
        /// Basis points now.
        to: u16,
    },
    /// A key joined or left a list ([`FlagTable::allow`],
    /// [`FlagTable::deny`], [`FlagTable::forget`]).
    ListChanged {
        /// When.
        at: Instant,
        /// Which flag.
        flag: Flag,
        /// Its name.
        name: &'static str,
        /// Which list.
        list: List,
        /// `true`: added; `false`: removed.
        added: bool,
    },
    /// A window boundary passed ([`FlagTable::on_deadline`]): the schedule
    /// flipped the flag at `at`.
    Scheduled {
        /// The boundary (a window's start or end).
        at: Instant,
        /// Which flag.
        flag: Flag,
        /// Its name.
        name: &'static str,
        /// `true`: a window opened; `false`: it closed.
        in_window: bool,
    },
    /// A decision was made: which path runs, and why.
    Decided {
        /// Which flag.
        flag: Flag,
        /// Its name (`""` for an unknown flag).
        name: &'static str,
        /// The decision.
        decision: Decision,
    },
}

/// Receives a [`FlagTable`]'s events. Unlike [`Observer`](crate::Observer)
/// it is called through `&self`: the table is shared without a lock, so its
/// observer is too (make it `Sync` for a `static`; count with atomics, send
/// to a channel, log).
///
/// `()` ignores everything and compiles to nothing;
/// [`FnObserver`](crate::FnObserver) wraps a `Fn(ToggleEvent)`.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, ToggleEvent};
/// use failsafe_core::{FnObserver, Instant};
///
/// let flips = AtomicU32::new(0);
/// let observer = FnObserver(|e| if let ToggleEvent::Switched { .. } = e { flips.fetch_add(1, Ordering::Relaxed); });
/// let table: FlagTable<1, 0, _> =
///     FlagTable::with_observer(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap(), observer);
/// let a = table.flag("a").unwrap();
/// table.set_enabled(Instant::ZERO, a, false);
/// table.set_enabled(Instant::ZERO, a, false); // no change, no event
/// assert_eq!(flips.load(Ordering::Relaxed), 1);
/// ```
pub trait ToggleObserver {
    /// Called once per event, inside the table's method.
    fn on_event(&self, event: ToggleEvent);
}

impl ToggleObserver for () {
    #[inline(always)]
    fn on_event(&self, _event: ToggleEvent) {}
}

impl<T: ToggleObserver + ?Sized> ToggleObserver for &T {
    #[inline]
    fn on_event(&self, event: ToggleEvent) {
        (**self).on_event(event)
    }
}

impl<F: Fn(ToggleEvent)> ToggleObserver for crate::FnObserver<F> {
    #[inline]
    fn on_event(&self, event: ToggleEvent) {
        (self.0)(event)
    }
}

/// Says whether the guard a feature follows is open: while it is, every
/// decision is [`Reason::Killed`] (disabled).
///
/// Implemented for `()` (never open) and for any `Fn() -> bool`, e.g.
/// `|| BREAKER.state() == State::Open` for a shared circuit breaker or
/// `|| FAIL_FAST.metrics().state == FailFastState::Open` for a fail fast.
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
/// use failsafe_core::Instant;
///
/// static OPEN: AtomicBool = AtomicBool::new(false);
/// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("f")]).unwrap());
/// let f = table.flag("f").unwrap();
/// let kill = || OPEN.load(Ordering::Relaxed);
/// assert!(table.decide_with_kill(Instant::ZERO, f, &(), &kill).is_enabled());
/// OPEN.store(true, Ordering::Relaxed);
/// assert_eq!(table.decide_with_kill(Instant::ZERO, f, &(), &kill).reason, Reason::Killed);
/// ```
pub trait KillSwitch {
    /// `true` while the feature must be off.
    fn is_open(&self) -> bool;
}

impl KillSwitch for () {
    #[inline(always)]
    fn is_open(&self) -> bool {
        false
    }
}

impl<F: Fn() -> bool> KillSwitch for F {
    #[inline]
    fn is_open(&self) -> bool {
        self()
    }
}

/// A list had no free entry: the key was not added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ListFull {
    /// The list.
    pub list: List,
    /// Its capacity (`K`).
    pub capacity: usize,
}

impl fmt::Display for ListFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = match self.list {
            List::Allow => "allow",
            List::Deny => "deny",
        };
        write!(f, "the {list} list is full ({} entries)", self.capacity)
    }
}

impl core::error::Error for ListFull {}

#[cfg(test)]
mod tests;
