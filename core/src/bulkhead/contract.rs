//! The bulkhead on the [admission contract](crate::admission).

use core::task::{Poll, Waker};

use super::{Bulkhead, BulkheadEvent, BulkheadPermit, LimitAlgorithm, Ticket};
use crate::admission::{Admission, Call, Entry};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected, TimeSource};

/// A call's place in a bulkhead's queue (its bounds are kept in the
/// queue, found by this ticket).
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueuedCall {
    ticket: Ticket,
}

impl<const Q: usize, O, A> Bulkhead<Q, O, A>
where
    O: Observer<BulkheadEvent>,
    A: LimitAlgorithm,
{
    fn entry(
        &self,
        poll: Poll<Result<BulkheadPermit, crate::Rejected>>,
        wait: QueuedCall,
    ) -> Entry<BulkheadPermit, QueuedCall> {
        match poll {
            Poll::Ready(Ok(permit)) => Entry::Admitted(permit),
            Poll::Ready(Err(rejected)) => Entry::Rejected(rejected),
            Poll::Pending => {
                // Nobody may end its wait: it still ends at its own
                // `max_wait`, never before the queue's earliest expiry;
                // or sooner, where the call's own bounds end it.
                let own = self.queued_until(&wait.ticket);
                let recheck_at = match (self.next_deadline(), own) {
                    (Some(first), Some(own)) => Some(first.max(own)),
                    (first, _) => first,
                };
                Entry::Pending { wait, recheck_at }
            }
        }
    }
}

impl<const Q: usize, O, A> Admission for Bulkhead<Q, O, A>
where
    O: Observer<BulkheadEvent>,
    A: LimitAlgorithm,
{
    type Key = ();
    type Permit = BulkheadPermit;
    type Wait = QueuedCall;

    /// Admits while a slot is free; otherwise queues the call (FIFO, up to
    /// `max_wait`) unless the call may not wait or the queue is full. A
    /// queued call's wait also ends at its own bounds, if sooner (its
    /// deadline, the `max_wait` it asks for): it is never granted a slot
    /// then, its place goes as at the bulkhead's `max_wait` (counted as
    /// expired; asked again, [`RejectReason::DeadlineTooShort`] past its
    /// deadline, else [`RejectReason::BulkheadWaitExpired`]), and
    /// `recheck_at` is never later. A call that would queue with its
    /// bounds already come is refused at once
    /// ([`RejectReason::DeadlineTooShort`]).
    #[inline]
    fn enter(
        &mut self,
        call: &Call<'_>,
        waker: Option<&Waker>,
    ) -> Entry<BulkheadPermit, QueuedCall> {
        if !call.may_wait() {
            return self.try_acquire(call).into();
        }
        let mut ticket = Ticket::new();
        // Its own bounds from the time of the call (read only for a call
        // with a `max_wait` of its own: an admission may not need the time).
        let gives_up_at = match call.max_wait() {
            Some(wait) => call.now().max(self.latest_seen()).saturating_add(wait),
            None => Instant::MAX,
        }
        .min(call.deadline().instant());
        let poll = self.poll_acquire_until(call, &mut ticket, waker, gives_up_at);
        self.entry(poll, QueuedCall { ticket })
    }

    fn resume(
        &mut self,
        call: &Call<'_>,
        mut wait: QueuedCall,
        waker: Option<&Waker>,
    ) -> Entry<BulkheadPermit, QueuedCall> {
        // The queue keeps the call's own bounds: past them, its place has
        // gone as at its `max_wait`; past its deadline, that is why.
        let poll = match self.poll_acquire(call, &mut wait.ticket, waker) {
            Poll::Ready(Err(r))
                if r.reason == RejectReason::BulkheadWaitExpired
                    && call
                        .deadline()
                        .is_expired(call.now().max(self.latest_seen())) =>
            {
                Poll::Ready(Err(Rejected::new(RejectReason::DeadlineTooShort, None)))
            }
            other => other,
        };
        self.entry(poll, wait)
    }

    fn cancel(&mut self, now: Instant, mut wait: QueuedCall) {
        Bulkhead::cancel(self, now, &mut wait.ticket);
    }

    #[inline]
    fn exit(&mut self, now: impl TimeSource, permit: BulkheadPermit, outcome: Outcome) {
        self.release(now, permit, outcome);
    }

    fn next_deadline(&self) -> Option<Instant> {
        Bulkhead::next_deadline(self)
    }

    fn on_deadline(&mut self, now: Instant) {
        Bulkhead::on_deadline(self, now);
    }

    fn latest_seen(&self) -> Instant {
        Bulkhead::latest_seen(self)
    }

    const SLOTTED: bool = true;

    #[inline]
    fn slot_gate(&mut self) -> Option<(u32, u32)> {
        Bulkhead::slot_gate(self)
    }

    #[inline(always)]
    fn slot_permit(in_flight: u32, issued_at: Instant) -> Option<BulkheadPermit> {
        Some(BulkheadPermit {
            issued_at,
            in_flight,
        })
    }

    fn absorb_slots(&mut self, admitted: u32, in_flight: u32, latest: Instant) {
        Bulkhead::absorb_slots(self, admitted, in_flight, latest);
    }

    fn take_waker(&mut self) -> Option<Waker> {
        self.pop_waker()
    }
}
