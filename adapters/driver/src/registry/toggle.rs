//! [`FeatureFlags`]: a flag table in the registry.

extern crate std;

use std::string::String;
use std::vec::Vec;

use failsafe_core::toggle::{Flag, FlagTable, List, MAX_BASIS_POINTS, ToggleObserver, Window};
use serde::Deserialize;
use serde_json::{Value, json};

use super::change::parse;
use super::{Change, ChangeError, Control, Kind, Staged, to_json};
use crate::Clock;

/// A lock-free [`FlagTable`] and the clock its changes are dated by, to
/// register: every flag of the table under one name. Flip a flag
/// (`set_enabled`), change its rollout (`set_rollout`), put keys on its
/// lists (`allow`, `deny`, `forget`), or reload the table's
/// [`ToggleConfig`](failsafe_core::toggle::ToggleConfig) (each flag's
/// `enabled` and `rollout`; the seed, the flags and their schedules are
/// fixed when the table is built). Changes reach the table's observer as
/// its own events (`Switched`, `RolloutChanged`, `ListChanged`).
///
/// ```
/// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
/// use failsafe_core::checked;
/// use failsafe_driver::registry::{Change, FeatureFlags, Registry};
/// use failsafe_driver::StdClock;
///
/// static FLAGS: FlagTable<2, 4> = FlagTable::new(checked(ToggleConfig::new(
///     7,
///     [FlagSpec::new("new-checkout").rollout(0), FlagSpec::new("dark-mode")],
/// )));
/// let registry = Registry::default();
/// registry.register("flags", FeatureFlags::new(StdClock, &FLAGS)).unwrap();
/// registry.apply("flags", Change::SetRollout { flag: "new-checkout".into(), rollout: 2_500 }).unwrap();
/// assert_eq!(FLAGS.state(FLAGS.flag("new-checkout").unwrap()).unwrap().basis_points, 2_500);
/// ```
pub struct FeatureFlags<C, const N: usize, const K: usize = 0, O: 'static = ()> {
    clock: C,
    table: &'static FlagTable<N, K, O>,
}

impl<C, const N: usize, const K: usize, O> FeatureFlags<C, N, K, O> {
    /// `table`'s flags, changes dated by `clock`.
    pub const fn new(clock: C, table: &'static FlagTable<N, K, O>) -> Self {
        FeatureFlags { clock, table }
    }

    /// The table.
    pub const fn table(&self) -> &'static FlagTable<N, K, O> {
        self.table
    }
}

impl<C, const N: usize, const K: usize, O> core::fmt::Debug for FeatureFlags<C, N, K, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FeatureFlags")
            .field("flags", &N)
            .field("list_capacity", &K)
            .finish_non_exhaustive()
    }
}

/// A flag as in a [`ToggleConfig`](failsafe_core::toggle::ToggleConfig)
/// table, read without leaking its name (the core's reader allocates
/// `'static` names, fine once at start, not at every reload).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of flag settings")]
struct FlagIn {
    name: String,
    #[serde(default = "on")]
    enabled: bool,
    #[serde(default = "full")]
    rollout: u16,
    #[serde(default)]
    windows: Vec<Window>,
}

const fn on() -> bool {
    true
}

const fn full() -> u16 {
    MAX_BASIS_POINTS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of feature toggle settings")]
struct TableIn {
    #[serde(default)]
    seed: u64,
    flags: Vec<FlagIn>,
}

impl<C, const N: usize, const K: usize, O> FeatureFlags<C, N, K, O> {
    fn flag(&self, name: &str) -> Result<Flag, ChangeError> {
        self.table
            .flag(name)
            .ok_or_else(|| ChangeError::invalid("flag", std::format!("no flag named `{name}`")))
    }
}

impl<C, const N: usize, const K: usize, O> Control for FeatureFlags<C, N, K, O>
where
    C: Clock + Send + Sync + 'static,
    O: ToggleObserver + Send + Sync + 'static,
{
    fn kind(&self) -> Kind {
        Kind::FeatureToggle
    }

    /// The table's [`ToggleConfig`](failsafe_core::toggle::ToggleConfig)
    /// (`seed`, `flags`), each flag's `enabled` and `rollout` as in force
    /// (set at run time or as built): sent back as `configure`, it changes
    /// nothing. The allow and deny lists are in the state.
    fn config(&self) -> Value {
        let mut config = to_json(self.table.config());
        if let Some(Value::Array(flags)) = config.get_mut("flags") {
            for (i, flag) in flags.iter_mut().enumerate() {
                let live = u16::try_from(i)
                    .ok()
                    .and_then(|i| self.table.state(Flag::at(i)));
                if let (Some(live), Value::Object(flag)) = (live, flag) {
                    flag.insert("enabled".into(), Value::Bool(live.enabled));
                    flag.insert("rollout".into(), Value::from(live.basis_points));
                }
            }
        }
        config
    }

    /// Each flag's switch, rollout and list sizes.
    fn state(&self) -> Value {
        let flags: Vec<Value> = (0..N)
            .filter_map(|i| {
                let flag = Flag::at(u16::try_from(i).ok()?);
                let spec = self.table.config().spec(flag)?;
                let s = self.table.state(flag)?;
                Some(json!({
                    "name": spec.name(),
                    "enabled": s.enabled,
                    "rollout": s.basis_points,
                    "allowed": s.allowed,
                    "denied": s.denied,
                }))
            })
            .collect();
        json!({ "flags": flags })
    }

    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let table = self.table;
        Ok(match change {
            Change::SetEnabled { flag, enabled } => {
                let (flag, enabled) = (self.flag(flag)?, *enabled);
                Staged::new(move || {
                    let now = self.clock.now();
                    let _ = table.set_enabled(now, flag, enabled);
                    now
                })
            }
            Change::SetRollout { flag, rollout } => {
                let (flag, rollout) = (self.flag(flag)?, *rollout);
                if rollout > MAX_BASIS_POINTS {
                    return Err(ChangeError::invalid(
                        "rollout",
                        "must be at most 10000 basis points",
                    ));
                }
                Staged::new(move || {
                    let now = self.clock.now();
                    let _ = table.set_rollout(now, flag, rollout);
                    now
                })
            }
            Change::Allow { flag, key } | Change::Deny { flag, key } => {
                let flag = self.flag(flag)?;
                let allow = matches!(change, Change::Allow { .. });
                // A full list is known only by trying: check first (an
                // entry of this key, or a free one), then add.
                let s = table
                    .state(flag)
                    .map_or(0, |s| if allow { s.allowed } else { s.denied });
                let list = if allow { List::Allow } else { List::Deny };
                if s >= K && !table.is_listed(flag, key.as_str(), list) {
                    return Err(ChangeError::invalid(
                        "key",
                        std::format!(
                            "the {} list is full ({K} keys)",
                            if allow { "allow" } else { "deny" }
                        ),
                    ));
                }
                let key = key.clone();
                Staged::new(move || {
                    let now = self.clock.now();
                    let _ = if allow {
                        table.allow(now, flag, key.as_str())
                    } else {
                        table.deny(now, flag, key.as_str())
                    };
                    now
                })
            }
            Change::Forget { flag, key } => {
                let flag = self.flag(flag)?;
                let key = key.clone();
                Staged::new(move || {
                    let now = self.clock.now();
                    let _ = table.forget(now, flag, key.as_str());
                    now
                })
            }
            Change::Configure { config } => self.configure(config)?,
            other => return Err(ChangeError::unsupported(other.action())),
        })
    }
}

impl<C, const N: usize, const K: usize, O> FeatureFlags<C, N, K, O>
where
    C: Clock + Send + Sync + 'static,
    O: ToggleObserver + Send + Sync + 'static,
{
    /// Each flag's `enabled` and `rollout` from a `ToggleConfig` table;
    /// the rest must be as built.
    fn configure(&self, config: &Value) -> Result<Staged<'_>, ChangeError> {
        let new: TableIn = parse(config)?;
        let built = self.table.config();
        if new.seed != built.seed() {
            return Err(ChangeError::fixed("seed"));
        }
        if new.flags.len() != N {
            return Err(ChangeError::invalid(
                "flags",
                std::format!(
                    "the table holds {N} flags; the set of flags is fixed when it is built"
                ),
            ));
        }
        let mut settings = Vec::with_capacity(N);
        for (i, f) in new.flags.iter().enumerate() {
            let at = std::format!("flags[{i}]");
            let flag = self.flag(&f.name).map_err(|e| e.within(&at))?;
            if settings.iter().any(|&(g, _, _)| g == flag) {
                return Err(ChangeError::invalid("name", "the same flag twice").within(&at));
            }
            if f.rollout > MAX_BASIS_POINTS {
                return Err(
                    ChangeError::invalid("rollout", "must be at most 10000 basis points")
                        .within(&at),
                );
            }
            let spec = built.spec(flag).map(|s| s.schedule()).unwrap_or_default();
            if f.windows.as_slice() != spec {
                return Err(ChangeError::fixed("windows").within(&at));
            }
            settings.push((flag, f.enabled, f.rollout));
        }
        let unchanged = settings.iter().all(|&(flag, enabled, rollout)| {
            self.table
                .state(flag)
                .is_some_and(|s| s.enabled == enabled && s.basis_points == rollout)
        });
        if unchanged {
            return Ok(Staged::unchanged());
        }
        let table = self.table;
        Ok(Staged::new(move || {
            let now = self.clock.now();
            for (flag, enabled, rollout) in settings {
                let _ = table.set_enabled(now, flag, enabled);
                let _ = table.set_rollout(now, flag, rollout);
            }
            now
        }))
    }
}
