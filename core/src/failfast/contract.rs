//! Fail fast on the [admission contract](crate::admission).

use core::task::Waker;

use super::{FailFast, FailFastEvent, FailFastPermit};
use crate::admission::{Admission, Call, Entry, Gate, NoWait};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected, TimeSource};

impl<O: Observer<FailFastEvent>> Admission for FailFast<O> {
    type Key = ();
    const GATED: bool = true;
    type Permit = FailFastPermit;
    type Wait = NoWait;

    /// Admits unless open or unless the call's deadline is too short
    /// ([`FailFast::acquire`]).
    #[inline]
    fn enter(&mut self, call: &Call<'_>, _waker: Option<&Waker>) -> Entry<FailFastPermit, NoWait> {
        self.acquire(call, call.deadline()).into()
    }

    fn resume(
        &mut self,
        _: &Call<'_>,
        wait: NoWait,
        _: Option<&Waker>,
    ) -> Entry<FailFastPermit, NoWait> {
        match wait {}
    }

    fn cancel(&mut self, _: Instant, wait: NoWait) {
        match wait {}
    }

    #[inline]
    fn exit(&mut self, now: impl TimeSource, permit: FailFastPermit, outcome: Outcome) {
        self.record(now, permit, outcome);
    }

    fn next_deadline(&self) -> Option<Instant> {
        FailFast::next_deadline(self)
    }

    fn on_deadline(&mut self, now: Instant) {
        FailFast::on_deadline(self, now);
    }

    #[inline]
    fn gate(&self) -> Gate {
        match self.rejecting_until() {
            // Open until a health report or an operator closes it: unknown.
            Some(Instant::MAX) => Gate::Reject {
                until: None,
                reason: RejectReason::FailFastOpen,
            },
            Some(until) => Gate::Reject {
                until: Some(until),
                reason: RejectReason::FailFastOpen,
            },
            None => Gate::Lock,
        }
    }

    #[inline]
    fn reports_gate_rejections(&self) -> bool {
        !self.observer().is_silent()
    }

    fn absorb_gate_rejections(&mut self, count: u64, rejected: Rejected) {
        let at = FailFast::latest_seen(self);
        self.observer_mut()
            .on_event(FailFastEvent::LockFreeRejections {
                count,
                at,
                rejected,
            });
    }

    fn latest_seen(&self) -> Instant {
        FailFast::latest_seen(self)
    }
}
