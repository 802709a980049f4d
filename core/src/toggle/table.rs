//! The lock-free flag table.

use super::config::{MAX_BASIS_POINTS, ToggleConfig, Window};
use super::hash::{BUCKETS, key_hash};
use super::{
    Decision, Flag, KillSwitch, List, ListFull, Path, Reason, ToggleEvent, ToggleKey,
    ToggleObserver,
};
use crate::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::time::TimeSource;
use crate::{ConfigError, Instant, Problem};

/// Flag word: the rollout in basis points (0..=10 000).
const BASIS: u32 = 0x3FFF;
/// Flag word: switched on.
const ON: u32 = 1 << 14;
/// Flag word: a key was ever put on a list (until then decisions skip them).
const LISTED: u32 = 1 << 15;

const fn word(enabled: bool, basis_points: u16) -> u32 {
    (if enabled { ON } else { 0 }) | basis_points as u32
}

/// A flag's run-time state ([`FlagTable::state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct FlagState {
    /// The operator switch.
    pub enabled: bool,
    /// The rollout in basis points.
    pub basis_points: u16,
    /// Keys on the allow list.
    pub allowed: usize,
    /// Keys on the deny list.
    pub denied: usize,
}

/// `N` feature flags with allow and deny lists of `K` keys each, shared
/// without a lock and reporting to observer `O` (see the [module
/// docs](super) for the rules, the hash and a timeline).
///
/// Every method takes `&self` and never blocks: reads are atomic loads,
/// flips compare-and-swap loops, so a task, a thread and an interrupt
/// handler may use the same `static` table. Memory: one `u32` per flag,
/// `2 * K` `u64` list entries per flag, two `u64` for time; the
/// configuration is `const` (flash on a firmware).
#[derive(Debug)]
pub struct FlagTable<const N: usize, const K: usize = 0, O = ()> {
    config: ToggleConfig<N>,
    observer: O,
    words: [AtomicU32; N],
    allow: [[AtomicU64; K]; N],
    deny: [[AtomicU64; K]; N],
    /// The latest `now` seen by a decision on a windowed flag or by
    /// `on_deadline` (the clock contract's floor), in nanoseconds.
    latest: AtomicU64,
    /// Window boundaries up to here have been reported (`on_deadline`).
    reported: AtomicU64,
}

impl<const N: usize, const K: usize> FlagTable<N, K, ()> {
    /// A table with no observer, each flag as its spec says, lists empty.
    /// `const`, so it can be a `static`.
    ///
    /// ```
    /// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// use failsafe_core::checked;
    /// static FLAGS: FlagTable<1, 8> = FlagTable::new(checked(ToggleConfig::new(0, [FlagSpec::new("a")])));
    /// assert!(FLAGS.flag("a").is_some());
    /// ```
    #[cfg(not(loom))]
    pub const fn new(config: ToggleConfig<N>) -> Self {
        Self::with_observer(config, ())
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(config: ToggleConfig<N>) -> Self {
        Self::with_observer(config, ())
    }
}

impl<const N: usize, const K: usize, O> FlagTable<N, K, O> {
    /// A table reporting every event to `observer`.
    ///
    /// ```
    /// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, ToggleEvent};
    /// use failsafe_core::{FnObserver, Instant};
    /// let table: FlagTable<1, 0, _> = FlagTable::with_observer(
    ///     ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap(),
    ///     FnObserver(|e: ToggleEvent| eprintln!("{e:?}")),
    /// );
    /// table.set_enabled(Instant::ZERO, table.flag("a").unwrap(), false); // logged
    /// ```
    #[cfg(not(loom))]
    pub const fn with_observer(config: ToggleConfig<N>, observer: O) -> Self {
        let mut words = [const { AtomicU32::new(0) }; N];
        let mut i = 0;
        while i < N {
            let spec = &config.specs[i];
            words[i] = AtomicU32::new(word(spec.is_enabled(), spec.basis_points()));
            i += 1;
        }
        FlagTable {
            config,
            observer,
            words,
            allow: [const { [const { AtomicU64::new(0) }; K] }; N],
            deny: [const { [const { AtomicU64::new(0) }; K] }; N],
            latest: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        }
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn with_observer(config: ToggleConfig<N>, observer: O) -> Self {
        FlagTable {
            config,
            observer,
            words: core::array::from_fn(|i| {
                let spec = &config.specs[i];
                AtomicU32::new(word(spec.is_enabled(), spec.basis_points()))
            }),
            allow: core::array::from_fn(|_| core::array::from_fn(|_| AtomicU64::new(0))),
            deny: core::array::from_fn(|_| core::array::from_fn(|_| AtomicU64::new(0))),
            latest: AtomicU64::new(0),
            reported: AtomicU64::new(0),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(3, [FlagSpec::new("a")]).unwrap());
    /// assert_eq!(t.config().seed(), 3);
    /// ```
    pub const fn config(&self) -> &ToggleConfig<N> {
        &self.config
    }

    /// The flag named `name`: look it up once, keep the handle.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// assert!(t.flag("a").is_some() && t.flag("x").is_none());
    /// ```
    pub const fn flag(&self, name: &str) -> Option<Flag> {
        self.config.flag(name)
    }

    /// The latest time a decision on a windowed flag or
    /// [`on_deadline`](Self::on_deadline) has seen.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// t.on_deadline(Instant::from_secs(5));
    /// assert_eq!(t.latest_seen(), Instant::from_secs(5));
    /// ```
    pub fn latest_seen(&self) -> Instant {
        Instant::from_nanos(self.latest.load(Ordering::Relaxed))
    }

    /// `max(now, latest seen)`, remembered.
    fn observe(&self, now: Instant) -> Instant {
        let now = now.as_nanos();
        let mut seen = self.latest.load(Ordering::Relaxed);
        while now > seen {
            match self
                .latest
                .compare_exchange_weak(seen, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Instant::from_nanos(now),
                Err(actual) => seen = actual,
            }
        }
        Instant::from_nanos(seen)
    }

    fn name(&self, flag: Flag) -> &'static str {
        self.config.spec(flag).map_or("", |s| s.name())
    }

    /// The operator switch and rollout of `flag` (`None` for a flag not in
    /// this table), and how many keys its lists hold.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1, 2> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").rollout(10)]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// t.deny(Instant::ZERO, a, "bob").unwrap();
    /// let s = t.state(a).unwrap();
    /// assert_eq!((s.enabled, s.basis_points, s.allowed, s.denied), (true, 10, 0, 1));
    /// ```
    pub fn state(&self, flag: Flag) -> Option<FlagState> {
        let w = self.words.get(flag.index())?.load(Ordering::Acquire);
        let count = |list: &[AtomicU64; K]| {
            list.iter()
                .filter(|e| e.load(Ordering::Relaxed) != 0)
                .count()
        };
        Some(FlagState {
            enabled: w & ON != 0,
            basis_points: (w & BASIS) as u16,
            allowed: count(&self.allow[flag.index()]),
            denied: count(&self.deny[flag.index()]),
        })
    }

    /// Whether `flag`'s operator switch is on (one atomic load; `false`
    /// for a flag not in this table). Not a decision: the kill switch,
    /// lists, windows and rollout are not consulted.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").enabled(false)]).unwrap());
    /// assert!(!t.is_switched_on(t.flag("a").unwrap()));
    /// ```
    #[inline]
    pub fn is_switched_on(&self, flag: Flag) -> bool {
        self.words
            .get(flag.index())
            .is_some_and(|w| w.load(Ordering::Relaxed) & ON != 0)
    }
}

impl<const N: usize, const K: usize, O: ToggleObserver> FlagTable<N, K, O> {
    /// Decides for `key` at `now`, with no kill switch: see
    /// [`decide_with_kill`](Self::decide_with_kill).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").rollout(5_000)]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// let first = t.decide(Instant::ZERO, a, "user-1");
    /// assert_eq!(first, t.decide(Instant::from_secs(9), a, "user-1")); // stable per key
    /// ```
    #[inline]
    pub fn decide<Q: ToggleKey + ?Sized>(
        &self,
        now: impl TimeSource,
        flag: Flag,
        key: &Q,
    ) -> Decision {
        self.decide_with_kill(now, flag, key, &())
    }

    /// Decides which path a call with `key` takes at `now`, by the rules of
    /// the [module docs](super#how-a-decision-is-made), and reports it
    /// ([`ToggleEvent::Decided`]). `kill` is asked first.
    ///
    /// Reads the time (`now` may be a closure) only for a flag with
    /// windows, after the switch and lists allowed it; a `now` before the
    /// latest seen reads as the latest. Hashes the key only for a flag
    /// whose lists were ever used or whose rollout is strictly between 0
    /// and 100 %.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Path, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// let d = t.decide_with_kill(Instant::ZERO, a, &(), &|| true);
    /// assert_eq!((d.path, d.reason), (Path::Disabled, Reason::Killed));
    /// ```
    #[inline]
    pub fn decide_with_kill<Q: ToggleKey + ?Sized>(
        &self,
        now: impl TimeSource,
        flag: Flag,
        key: &Q,
        kill: &impl KillSwitch,
    ) -> Decision {
        let decision = self.rules(now, flag, key, kill);
        self.observer.on_event(ToggleEvent::Decided {
            flag,
            name: self.name(flag),
            decision,
        });
        decision
    }

    #[inline]
    fn rules<Q: ToggleKey + ?Sized>(
        &self,
        mut now: impl TimeSource,
        flag: Flag,
        key: &Q,
        kill: &impl KillSwitch,
    ) -> Decision {
        let i = flag.index();
        let (Some(word), Some(spec)) = (self.words.get(i), self.config.specs.get(i)) else {
            return disabled(Reason::UnknownFlag);
        };
        if kill.is_open() {
            return disabled(Reason::Killed);
        }
        let w = word.load(Ordering::Acquire);
        if w & ON == 0 {
            return disabled(Reason::Off);
        }
        let basis = (w & BASIS) as u16;
        let mut hash = None;
        if K > 0 && w & LISTED != 0 {
            let h = key_hash(self.config.prefixes[i], key);
            hash = Some(h);
            let fp = fingerprint(h);
            if contains(&self.deny[i], fp) {
                return disabled(Reason::Denied);
            }
            if contains(&self.allow[i], fp) {
                return enabled(Reason::Allowed);
            }
        }
        let in_rollout = |hash: Option<u64>| match basis {
            0 => false,
            MAX_BASIS_POINTS.. => true,
            _ => {
                let h = hash.unwrap_or_else(|| key_hash(self.config.prefixes[i], key));
                h % BUCKETS < u64::from(basis)
            }
        };
        let windows = spec.schedule();
        if !windows.is_empty() {
            let at = self.observe(now.read());
            if !windows.iter().any(|w| w.contains(at)) {
                let next_start = windows
                    .iter()
                    .map(Window::start)
                    .find(|&s| s > at)
                    .filter(|_| in_rollout(hash));
                return disabled(Reason::OutsideWindow { next_start });
            }
        }
        if in_rollout(hash) {
            enabled(Reason::InRollout)
        } else {
            disabled(Reason::NotInRollout)
        }
    }

    /// Switches `flag` on or off at `now` (an operator's or a control
    /// plane's flip; lock-free, from any context). Returns the previous
    /// position (`None` for a flag not in this table) and reports a change
    /// ([`ToggleEvent::Switched`]).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// assert_eq!(t.set_enabled(Instant::ZERO, a, false), Some(true));
    /// assert_eq!(t.decide(Instant::ZERO, a, &()).reason, Reason::Off);
    /// ```
    pub fn set_enabled(&self, now: Instant, flag: Flag, enabled: bool) -> Option<bool> {
        let before = self.update(flag, |w| if enabled { w | ON } else { w & !ON })?;
        let was = before & ON != 0;
        if was != enabled {
            self.observer.on_event(ToggleEvent::Switched {
                at: now,
                flag,
                name: self.name(flag),
                enabled,
            });
        }
        Some(was)
    }

    /// Sets `flag`'s rollout to `basis_points` (0..=10 000) at `now`.
    /// Raising it only adds keys; lowering it only removes keys. Returns
    /// the previous rollout and reports a change
    /// ([`ToggleEvent::RolloutChanged`]).
    ///
    /// # Errors
    ///
    /// `rollout` ([`Problem::TooLarge`]) above 10 000 (nothing changes);
    /// `flag` ([`Problem::TooLarge`]) for a flag not in this table.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::{Instant, Problem};
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").rollout(0)]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// assert_eq!(t.set_rollout(Instant::ZERO, a, 1_000), Ok(0));
    /// assert_eq!(t.set_rollout(Instant::ZERO, a, 10_001).unwrap_err().field, "rollout");
    /// ```
    pub fn set_rollout(
        &self,
        now: Instant,
        flag: Flag,
        basis_points: u16,
    ) -> Result<u16, ConfigError> {
        if basis_points > MAX_BASIS_POINTS {
            return Err(ConfigError::new("rollout", Problem::TooLarge));
        }
        let before = self
            .update(flag, |w| (w & !BASIS) | u32::from(basis_points))
            .ok_or(ConfigError::new("flag", Problem::TooLarge))?;
        let from = (before & BASIS) as u16;
        if from != basis_points {
            self.observer.on_event(ToggleEvent::RolloutChanged {
                at: now,
                flag,
                name: self.name(flag),
                from,
                to: basis_points,
            });
        }
        Ok(from)
    }

    /// Puts `key` on `flag`'s allow list: enabled whatever the schedule and
    /// rollout, unless switched off, killed or also denied. Adding a key
    /// already there changes nothing.
    ///
    /// # Errors
    ///
    /// [`ListFull`] when all `K` entries hold other keys (or the flag is
    /// not in this table: capacity 0).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1, 1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").rollout(0)]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// t.allow(Instant::ZERO, a, &42u64).unwrap();
    /// assert_eq!(t.decide(Instant::ZERO, a, &42u64).reason, Reason::Allowed);
    /// assert!(t.allow(Instant::ZERO, a, &43u64).is_err()); // one entry only
    /// ```
    pub fn allow<Q: ToggleKey + ?Sized>(
        &self,
        now: Instant,
        flag: Flag,
        key: &Q,
    ) -> Result<(), ListFull> {
        self.list(now, flag, key, List::Allow)
    }

    /// Puts `key` on `flag`'s deny list: disabled whatever else applies
    /// (except that a kill switch or the off switch says why first).
    ///
    /// # Errors
    ///
    /// [`ListFull`] as for [`allow`](Self::allow).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1, 4> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// t.allow(Instant::ZERO, a, "eve").unwrap();
    /// t.deny(Instant::ZERO, a, "eve").unwrap();
    /// assert_eq!(t.decide(Instant::ZERO, a, "eve").reason, Reason::Denied); // deny wins
    /// ```
    pub fn deny<Q: ToggleKey + ?Sized>(
        &self,
        now: Instant,
        flag: Flag,
        key: &Q,
    ) -> Result<(), ListFull> {
        self.list(now, flag, key, List::Deny)
    }

    /// Whether `key` is on `flag`'s `list` (adding it again changes
    /// nothing, even on a full list).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, List, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1, 1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// t.allow(Instant::ZERO, a, "eve").unwrap();
    /// assert!(t.is_listed(a, "eve", List::Allow));
    /// assert!(!t.is_listed(a, "eve", List::Deny));
    /// assert!(!t.is_listed(a, "bob", List::Allow));
    /// ```
    pub fn is_listed<Q: ToggleKey + ?Sized>(&self, flag: Flag, key: &Q, list: List) -> bool {
        let i = flag.index();
        if i >= N {
            return false;
        }
        let entries = match list {
            List::Allow => &self.allow[i],
            List::Deny => &self.deny[i],
        };
        contains(entries, fingerprint(key_hash(self.config.prefixes[i], key)))
    }

    /// Takes `key` off both of `flag`'s lists; returns whether it was on one.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// let t: FlagTable<1, 4> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let a = t.flag("a").unwrap();
    /// t.deny(Instant::ZERO, a, "eve").unwrap();
    /// assert!(t.forget(Instant::ZERO, a, "eve"));
    /// assert!(!t.forget(Instant::ZERO, a, "eve"));
    /// assert_eq!(t.decide(Instant::ZERO, a, "eve").reason, Reason::InRollout);
    /// ```
    pub fn forget<Q: ToggleKey + ?Sized>(&self, now: Instant, flag: Flag, key: &Q) -> bool {
        let i = flag.index();
        if i >= N {
            return false;
        }
        let fp = fingerprint(key_hash(self.config.prefixes[i], key));
        let mut any = false;
        for (list, entries) in [(List::Allow, &self.allow[i]), (List::Deny, &self.deny[i])] {
            let mut removed = false;
            for e in entries {
                // Every copy (two racing adds may have left two).
                removed |= e
                    .compare_exchange(fp, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok();
            }
            if removed {
                self.observer.on_event(ToggleEvent::ListChanged {
                    at: now,
                    flag,
                    name: self.name(flag),
                    list,
                    added: false,
                });
            }
            any |= removed;
        }
        any
    }

    fn list<Q: ToggleKey + ?Sized>(
        &self,
        now: Instant,
        flag: Flag,
        key: &Q,
        list: List,
    ) -> Result<(), ListFull> {
        let i = flag.index();
        let full = ListFull { list, capacity: K };
        if i >= N {
            return Err(ListFull { list, capacity: 0 });
        }
        let entries = match list {
            List::Allow => &self.allow[i],
            List::Deny => &self.deny[i],
        };
        let fp = fingerprint(key_hash(self.config.prefixes[i], key));
        if contains(entries, fp) {
            return Ok(());
        }
        for e in entries {
            if e.compare_exchange(0, fp, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                // Decisions start looking at the lists (and never stop).
                self.update(flag, |w| w | LISTED);
                self.observer.on_event(ToggleEvent::ListChanged {
                    at: now,
                    flag,
                    name: self.name(flag),
                    list,
                    added: true,
                });
                return Ok(());
            }
        }
        Err(full)
    }

    /// Applies `f` to `flag`'s word; returns the word before.
    fn update(&self, flag: Flag, f: impl Fn(u32) -> u32) -> Option<u32> {
        let word = self.words.get(flag.index())?;
        let mut current = word.load(Ordering::Relaxed);
        loop {
            match word.compare_exchange_weak(
                current,
                f(current),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(before) => return Some(before),
                Err(actual) => current = actual,
            }
        }
    }

    /// The next window boundary not yet reported by
    /// [`on_deadline`](Self::on_deadline), over every flag: when a driver
    /// should come back to report a scheduled flip. Decisions never need
    /// it (they read the windows at their own `now`, exact at the
    /// boundary).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, Window};
    /// # use failsafe_core::{Instant, checked};
    /// const W: &[Window] = &[checked(Window::new(Instant::from_secs(5), Instant::from_secs(9)))];
    /// let t: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a").windows(W)]).unwrap());
    /// assert_eq!(t.next_deadline(), Some(Instant::from_secs(5)));
    /// t.on_deadline(Instant::from_secs(5));
    /// assert_eq!(t.next_deadline(), Some(Instant::from_secs(9)));
    /// t.on_deadline(Instant::from_secs(9));
    /// assert_eq!(t.next_deadline(), None);
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        let reported = Instant::from_nanos(self.reported.load(Ordering::Acquire));
        self.config
            .specs
            .iter()
            .filter_map(|spec| boundaries(spec.schedule()).find(|&(b, _)| b > reported))
            .map(|(b, _)| b)
            .min()
    }

    /// Reports every window boundary in `(last reported, now]`, in each
    /// flag's order ([`ToggleEvent::Scheduled`]), `now` being raised to the
    /// latest time seen (by any decision too). A `now` at or before the last
    /// one reported does nothing (spurious calls are no-ops); two callers
    /// racing report each boundary once.
    ///
    /// ```
    /// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig, ToggleEvent, Window};
    /// use failsafe_core::{FnObserver, Instant, checked};
    /// use std::sync::Mutex;
    /// const W: &[Window] = &[checked(Window::new(Instant::from_secs(5), Instant::from_secs(9)))];
    /// let seen = Mutex::new(Vec::new());
    /// let t: FlagTable<1, 0, _> = FlagTable::with_observer(
    ///     ToggleConfig::new(0, [FlagSpec::new("a").windows(W)]).unwrap(),
    ///     FnObserver(|e| if let ToggleEvent::Scheduled { at, in_window, .. } = e { seen.lock().unwrap().push((at, in_window)) }),
    /// );
    /// t.on_deadline(Instant::from_secs(10)); // late: both boundaries at once
    /// assert_eq!(*seen.lock().unwrap(), [(Instant::from_secs(5), true), (Instant::from_secs(9), false)]);
    /// ```
    pub fn on_deadline(&self, now: Instant) {
        // The clock contract: a stepped-back `now` reads as the latest seen
        // (by a decision, too), so the same boundaries are reported.
        let now = self.observe(now);
        let mut reported = self.reported.load(Ordering::Acquire);
        loop {
            if now.as_nanos() <= reported {
                return;
            }
            match self.reported.compare_exchange_weak(
                reported,
                now.as_nanos(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => reported = actual,
            }
        }
        let from = Instant::from_nanos(reported);
        for (i, spec) in self.config.specs.iter().enumerate() {
            for (at, in_window) in boundaries(spec.schedule()) {
                if at > now {
                    break;
                }
                if at > from {
                    self.observer.on_event(ToggleEvent::Scheduled {
                        at,
                        flag: Flag(i as u16),
                        name: spec.name(),
                        in_window,
                    });
                }
            }
        }
    }
}

/// A flag's window boundaries in order: `(instant, window opens)`.
fn boundaries(windows: &[Window]) -> impl Iterator<Item = (Instant, bool)> + '_ {
    windows
        .iter()
        .flat_map(|w| [(w.start(), true), (w.end(), false)])
}

/// A key's list entry: its hash, with 0 (an empty entry) read as 1.
#[inline]
fn fingerprint(hash: u64) -> u64 {
    hash.max(1)
}

#[inline]
fn contains<const K: usize>(entries: &[AtomicU64; K], fp: u64) -> bool {
    entries.iter().any(|e| e.load(Ordering::Acquire) == fp)
}

#[inline]
const fn enabled(reason: Reason) -> Decision {
    Decision {
        path: Path::Enabled,
        reason,
    }
}

#[inline]
const fn disabled(reason: Reason) -> Decision {
    Decision {
        path: Path::Disabled,
        reason,
    }
}
