//! The circuit breaker on the [admission contract](crate::admission).

use core::borrow::Borrow;
use core::task::Waker;

use super::{
    BreakerConfig, BreakerCounters, BreakerEvent, BreakerPermit, CircuitBreaker, PermitKind, State,
    Window,
};
use crate::admission::{Admission, Call, Entry, Gate, NoWait};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected, TimeSource};

/// Token bits of an admission that is not counted (a disabled breaker): the
/// tag of an uncounted permit.
const UNCOUNTED: u64 = (PermitKind::Uncounted as u64) << 32;

impl<W: Window, O: Observer<BreakerEvent>, C: Borrow<BreakerConfig>, K: BreakerCounters> Admission
    for CircuitBreaker<W, O, C, K>
{
    type Key = ();
    const GATED: bool = true;
    const COUNTS_GATE_REJECTIONS: bool = K::COUNTS;
    type Permit = BreakerPermit;
    type Wait = NoWait;

    #[inline]
    fn enter(&mut self, call: &Call<'_>, _waker: Option<&Waker>) -> Entry<BreakerPermit, NoWait> {
        self.acquire(call).into()
    }

    fn resume(
        &mut self,
        _: &Call<'_>,
        wait: NoWait,
        _: Option<&Waker>,
    ) -> Entry<BreakerPermit, NoWait> {
        match wait {}
    }

    fn cancel(&mut self, _: Instant, wait: NoWait) {
        match wait {}
    }

    #[inline]
    fn exit(&mut self, now: impl TimeSource, permit: BreakerPermit, outcome: Outcome) {
        self.record(now, permit, outcome);
    }

    fn next_deadline(&self) -> Option<Instant> {
        CircuitBreaker::next_deadline(self)
    }

    fn on_deadline(&mut self, now: Instant) {
        CircuitBreaker::on_deadline(self, now);
    }

    #[inline]
    fn gate(&self) -> Gate {
        if let Some((epoch, counted, timed)) = self.free_admission() {
            let token = u64::from(epoch) | if counted { 0 } else { UNCOUNTED };
            return Gate::Admit { token, timed };
        }
        match (self.state(), self.rejecting_until()) {
            (State::ForcedOpen, _) => Gate::Reject {
                until: None,
                reason: RejectReason::BreakerForcedOpen,
            },
            (_, Some(until)) => Gate::Reject {
                until: Some(until),
                reason: RejectReason::BreakerOpen,
            },
            (_, None) => Gate::Lock,
        }
    }

    #[inline]
    fn gate_permit(token: u64, issued_at: Instant) -> Option<BreakerPermit> {
        // The token is the tag of a counted (or, disabled, uncounted) permit.
        Some(BreakerPermit::from_tag(issued_at, token))
    }

    #[inline]
    fn gate_exit_credit(&mut self) -> u32 {
        self.success_credit()
    }

    #[inline]
    fn gate_exit(permit: &BreakerPermit, outcome: Outcome) -> Option<u64> {
        // A counted success of the gate's epoch (a disabled breaker's
        // token carries `UNCOUNTED`, so it never matches).
        (permit.kind() == PermitKind::Counted && outcome == Outcome::Success)
            .then_some(permit.tag())
    }

    fn absorb_gate_exits(&mut self, n: u32, latest: Instant) {
        self.absorb_successes(n, latest);
    }

    #[inline]
    fn reports_gate_rejections(&self) -> bool {
        !self.observer().is_silent()
    }

    fn absorb_gate_rejections(&mut self, count: u64, rejected: Rejected) {
        let at = CircuitBreaker::latest_seen(self);
        self.observer_mut()
            .on_event(BreakerEvent::LockFreeRejections {
                count,
                at,
                rejected,
            });
    }

    fn latest_seen(&self) -> Instant {
        CircuitBreaker::latest_seen(self)
    }
}
