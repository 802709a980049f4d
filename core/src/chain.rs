//! A chain of admission machines is itself one: `(A, B)` admits a call
//! when `A` and then `B` admit it, with the same [`Call`] (one `now`, one
//! deadline), and nests: `((A, B), C)` is a chain of three.
//!
//! - **Order**: `A` decides first. A call `A` rejects never reaches `B`.
//! - **All or nothing**: when `B` rejects, the permit `A` already gave is
//!   handed back with [`abandon`](SharedAdmission::abandon) (not counted as
//!   an outcome: a breaker sees no call, a limiter's booking is returned
//!   where it can be), so a rejected call holds no capacity anywhere.
//! - **Waiting**: a call may wait in `A` (a limiter's booking) and then in
//!   `B` (a bulkhead's queue); while it waits in `B` it holds `A`'s permit.
//!   Cancelling the wait gives back everything it holds.
//! - **Exit** is in reverse order (`B`, then `A`), with one reading of the
//!   time shared by both.
//! - `()` is the empty chain: it admits every call and holds nothing.
//!
//! ```
//! use core::time::Duration;
//! use failsafe_core::admission::{Call, Entry};
//! use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig};
//! use failsafe_core::rate::{Gcra, Quota, Throttle};
//! use failsafe_core::sync::{CsLock, Shared, SharedAdmission};
//! use failsafe_core::{Instant, RejectReason};
//!
//! let quota = Quota::per_second(1).unwrap();
//! let limiter = Shared::new(CsLock::new(Throttle::new(Gcra::new(quota))));
//! let config = BulkheadConfig::builder().max_concurrent(1).build().unwrap();
//! let pool = Shared::new(CsLock::new(Bulkhead::<4>::new(config)));
//! let chain = (&limiter, &pool);
//!
//! let call = Call::at(Instant::ZERO).no_wait();
//! let Entry::Admitted(held) = chain.enter(&call, None) else { panic!() };
//! // the limiter admits the second call, the full bulkhead rejects it:
//! // the limiter's permit is handed back, and the pool still holds one.
//! let second = Call::at(Instant::from_secs(1)).no_wait();
//! let Entry::Rejected(r) = chain.enter(&second, None) else { panic!() };
//! assert_eq!(r.reason, RejectReason::BulkheadFull);
//! # let _ = held;
//! ```

use core::task::Waker;

use crate::admission::{Call, Entry};
use crate::sync::SharedAdmission;
use crate::{Instant, Outcome, TimeSource};

/// Where a call waits in a chain `(A, B)`.
#[derive(Debug)]
pub enum ChainWait<PA, WA, WB> {
    /// In `A`.
    First(WA),
    /// In `B`, holding `A`'s permit.
    Second(PA, WB),
}

impl<A, B> SharedAdmission for (A, B)
where
    A: SharedAdmission,
    B: SharedAdmission<Key = A::Key>,
{
    type Key = A::Key;
    type Permit = (A::Permit, B::Permit);
    type Wait = ChainWait<A::Permit, A::Wait, B::Wait>;

    #[inline]
    fn enter(
        &self,
        call: &Call<'_, A::Key>,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait> {
        match self.0.enter(call, waker) {
            Entry::Admitted(first) => then(self, call, first, waker),
            Entry::Rejected(rejected) => Entry::Rejected(rejected),
            Entry::Pending { wait, recheck_at } => Entry::Pending {
                wait: ChainWait::First(wait),
                recheck_at,
            },
        }
    }

    fn resume(
        &self,
        call: &Call<'_, A::Key>,
        wait: Self::Wait,
        waker: Option<&Waker>,
    ) -> Entry<Self::Permit, Self::Wait> {
        match wait {
            ChainWait::First(wait) => match self.0.resume(call, wait, waker) {
                Entry::Admitted(first) => then(self, call, first, waker),
                Entry::Rejected(rejected) => Entry::Rejected(rejected),
                Entry::Pending { wait, recheck_at } => Entry::Pending {
                    wait: ChainWait::First(wait),
                    recheck_at,
                },
            },
            ChainWait::Second(first, wait) => {
                let entry = self.1.resume(call, wait, waker);
                settle(self, call, first, entry)
            }
        }
    }

    fn cancel(&self, now: Instant, wait: Self::Wait) {
        match wait {
            ChainWait::First(wait) => self.0.cancel(now, wait),
            ChainWait::Second(first, wait) => {
                self.1.cancel(now, wait);
                self.0.abandon(now, first);
            }
        }
    }

    #[inline]
    fn exit(&self, now: impl TimeSource, permit: Self::Permit, outcome: Outcome) {
        let (first, second) = permit;
        match now.known() {
            Some(now) => {
                self.1.exit(now, second, outcome);
                self.0.exit(now, first, outcome);
            }
            None => {
                // One reading for both, taken only if one of them needs it.
                let (mut source, mut read) = (now, None);
                let mut once = || *read.get_or_insert_with(|| source.read());
                self.1.exit(&mut once, second, outcome);
                self.0.exit(&mut once, first, outcome);
            }
        }
    }

    fn abandon(&self, now: Instant, permit: Self::Permit) {
        self.1.abandon(now, permit.1);
        self.0.abandon(now, permit.0);
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.0.next_deadline(), self.1.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&self, now: Instant) {
        self.0.on_deadline(now);
        self.1.on_deadline(now);
    }
}

type ChainEntry<A, B> = Entry<
    (
        <A as SharedAdmission>::Permit,
        <B as SharedAdmission>::Permit,
    ),
    <(A, B) as SharedAdmission>::Wait,
>;

/// `A` admitted with `first`: ask `B`.
#[inline]
fn then<A, B>(
    chain: &(A, B),
    call: &Call<'_, A::Key>,
    first: A::Permit,
    waker: Option<&Waker>,
) -> ChainEntry<A, B>
where
    A: SharedAdmission,
    B: SharedAdmission<Key = A::Key>,
{
    let entry = chain.1.enter(call, waker);
    settle(chain, call, first, entry)
}

/// `B` answered while `A`'s permit is held.
#[inline]
fn settle<A, B>(
    chain: &(A, B),
    call: &Call<'_, A::Key>,
    first: A::Permit,
    entry: Entry<B::Permit, B::Wait>,
) -> ChainEntry<A, B>
where
    A: SharedAdmission,
    B: SharedAdmission<Key = A::Key>,
{
    match entry {
        Entry::Admitted(second) => Entry::Admitted((first, second)),
        Entry::Rejected(rejected) => {
            chain.0.abandon(call.now(), first);
            Entry::Rejected(rejected)
        }
        Entry::Pending { wait, recheck_at } => Entry::Pending {
            wait: ChainWait::Second(first, wait),
            recheck_at,
        },
    }
}

/// The empty chain: admits every call, holds nothing, waits for nothing.
impl SharedAdmission for () {
    type Key = ();
    type Permit = ();
    type Wait = core::convert::Infallible;

    #[inline]
    fn enter(&self, _: &Call<'_, ()>, _: Option<&Waker>) -> Entry<(), Self::Wait> {
        Entry::Admitted(())
    }

    fn resume(
        &self,
        _: &Call<'_, ()>,
        wait: Self::Wait,
        _: Option<&Waker>,
    ) -> Entry<(), Self::Wait> {
        match wait {}
    }

    fn cancel(&self, _: Instant, wait: Self::Wait) {
        match wait {}
    }

    #[inline]
    fn exit(&self, _: impl TimeSource, _: (), _: Outcome) {}

    fn abandon(&self, _: Instant, _: ()) {}

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _: Instant) {}
}
