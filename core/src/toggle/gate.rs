//! One flag on the [admission contract](crate::admission): gate a call on it.

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;
use core::task::Waker;

use super::{Flag, FlagTable, KillSwitch, Reason, ToggleKey, ToggleObserver};
use crate::admission::{Admission, Call, Entry, NoWait};
use crate::{Instant, Outcome, RejectReason, Rejected, TimeSource};

/// The permit of a call a [`FeatureGate`] admitted (the flag was enabled
/// for it). Holds nothing: a flag has no capacity to give back.
#[must_use = "hand the permit back with `exit`"]
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FeaturePermit {
    _private: (),
}

/// One flag of a [`FlagTable`] as an [`Admission`] machine: a call whose
/// key the flag enables is admitted, any other is rejected with
/// [`RejectReason::FeatureDisabled`]. For "this call needs the feature" in
/// a stack of admissions (a pipeline whose fallback runs the disabled
/// path). To choose between two operations, ask
/// [`FlagTable::decide`] (or the driver's `Toggle`) instead.
///
/// `retry_at` is the start of the flag's next window when only the
/// schedule stands in the way ([`Reason::OutsideWindow`]); otherwise
/// `None` (an operator, a list or the kill switch must change first).
///
/// The gate holds its table through `T`: a `&FlagTable` (a `static` one on
/// firmware) or an `Arc<FlagTable>`. Shared behind a lock and called from
/// a task spawned on tokio (a tower admission layer's request), hold it in
/// an `Arc`: a borrowed table's lifetime, named twice in the lock's type,
/// is one rustc cannot prove `Send` inside the spawned task
/// ("implementation of `Lock` is not general enough", rust-lang/rust#90696).
/// Retries do not retry it (see
/// [`Verdict::for_rejection`](crate::retry::Verdict::for_rejection)).
///
/// ```
/// use failsafe_core::admission::{Admission, Call, Entry};
/// use failsafe_core::toggle::{FeatureGate, FlagSpec, FlagTable, ToggleConfig};
/// use failsafe_core::{Instant, Outcome, RejectReason};
///
/// static FLAGS: FlagTable<1, 2> =
///     FlagTable::new(failsafe_core::checked(ToggleConfig::new(0, [FlagSpec::new("beta").rollout(0)])));
/// let beta = FLAGS.flag("beta").unwrap();
/// FLAGS.allow(Instant::ZERO, beta, "ana").unwrap();
/// let mut gate = FeatureGate::<_, _, str>::new(&FLAGS, beta, ());
/// let call = Call::at(Instant::ZERO).with_key("ana");
/// let Entry::Admitted(permit) = gate.enter(&call, None) else { panic!() };
/// gate.exit(Instant::ZERO, permit, Outcome::Success);
/// let Entry::Rejected(r) = gate.enter(&Call::at(Instant::ZERO).with_key("bo"), None) else { panic!() };
/// assert_eq!((r.reason, r.retry_at), (RejectReason::FeatureDisabled, None));
/// ```
pub struct FeatureGate<T, Ks, Q: ?Sized> {
    table: T,
    flag: Flag,
    kill: Ks,
    key: PhantomData<fn(&Q)>,
}

impl<T, Ks, Q: ?Sized> FeatureGate<T, Ks, Q> {
    /// Gates calls on `flag` of `table` (a `&FlagTable` or an
    /// `Arc<FlagTable>`), killed while `kill` is open (`()` for no kill
    /// switch). `Q` is the type of the calls' keys.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FeatureGate, FlagSpec, FlagTable, ToggleConfig};
    /// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let gate = FeatureGate::<_, _, ()>::new(&table, table.flag("a").unwrap(), ());
    /// assert_eq!(gate.flag(), table.flag("a").unwrap());
    /// ```
    pub const fn new(table: T, flag: Flag, kill: Ks) -> Self {
        FeatureGate {
            table,
            flag,
            kill,
            key: PhantomData,
        }
    }

    /// The flag gated on.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FeatureGate, Flag, FlagSpec, FlagTable, ToggleConfig};
    /// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// assert_eq!(FeatureGate::<_, _, ()>::new(&table, Flag::at(0), ()).flag(), Flag::at(0));
    /// ```
    pub const fn flag(&self) -> Flag {
        self.flag
    }
}

impl<T, Ks, Q: ?Sized> fmt::Debug for FeatureGate<T, Ks, Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureGate")
            .field("flag", &self.flag)
            .finish_non_exhaustive()
    }
}

impl<T, const N: usize, const K: usize, O, Ks, Q> Admission for FeatureGate<T, Ks, Q>
where
    T: Deref<Target = FlagTable<N, K, O>>,
    O: ToggleObserver,
    Ks: KillSwitch,
    Q: ToggleKey + ?Sized,
{
    type Key = Q;
    type Permit = FeaturePermit;
    type Wait = NoWait;

    #[inline]
    fn enter(
        &mut self,
        call: &Call<'_, Q>,
        _waker: Option<&Waker>,
    ) -> Entry<FeaturePermit, NoWait> {
        let decision = self
            .table
            .decide_with_kill(call, self.flag, call.key(), &self.kill);
        if decision.is_enabled() {
            return Entry::Admitted(FeaturePermit { _private: () });
        }
        let retry_at = match decision.reason {
            Reason::OutsideWindow { next_start } => next_start,
            _ => None,
        };
        Entry::Rejected(Rejected::new(RejectReason::FeatureDisabled, retry_at))
    }

    fn resume(
        &mut self,
        _: &Call<'_, Q>,
        wait: NoWait,
        _: Option<&Waker>,
    ) -> Entry<FeaturePermit, NoWait> {
        match wait {}
    }

    fn cancel(&mut self, _: Instant, wait: NoWait) {
        match wait {}
    }

    #[inline]
    fn exit(&mut self, _now: impl TimeSource, _permit: FeaturePermit, _outcome: Outcome) {}

    fn next_deadline(&self) -> Option<Instant> {
        self.table.next_deadline()
    }

    fn on_deadline(&mut self, now: Instant) {
        self.table.on_deadline(now);
    }

    fn latest_seen(&self) -> Instant {
        self.table.latest_seen()
    }
}
