//! The bulkhead on the [admission contract](crate::admission).

use core::task::{Poll, Waker};

use super::{Bulkhead, BulkheadEvent, BulkheadPermit, LimitAlgorithm, Ticket};
use crate::admission::{Admission, Call, Entry};
use crate::{Instant, Observer, Outcome, TimeSource};

/// A call's place in a bulkhead's queue.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueuedCall {
    ticket: Ticket,
    queued_at: Instant,
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
                // `max_wait`, never before the queue's earliest expiry.
                let own = wait.queued_at.saturating_add(self.config().max_wait());
                let recheck_at = self.next_deadline().map(|first| first.max(own));
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
    /// `max_wait`) unless the call may not wait or the queue is full.
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
        let poll = self.poll_acquire(call, &mut ticket, waker);
        // Read only for a call that waits (an admission may not need the time).
        let queued_at = match poll {
            Poll::Pending => call.now().max(self.latest_seen()),
            Poll::Ready(_) => Instant::ZERO,
        };
        self.entry(poll, QueuedCall { ticket, queued_at })
    }

    fn resume(
        &mut self,
        call: &Call<'_>,
        mut wait: QueuedCall,
        waker: Option<&Waker>,
    ) -> Entry<BulkheadPermit, QueuedCall> {
        let poll = self.poll_acquire(call, &mut wait.ticket, waker);
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
