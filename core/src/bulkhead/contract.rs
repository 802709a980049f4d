//! The bulkhead on the [admission contract](crate::admission).

use core::task::{Poll, Waker};

use super::{Bulkhead, BulkheadEvent, BulkheadPermit, LimitAlgorithm, Ticket};
use crate::admission::{Admission, Call, Entry};
use crate::{Instant, Observer, Outcome, RejectReason, Rejected, TimeSource};

/// A call's place in a bulkhead's queue.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QueuedCall {
    ticket: Ticket,
    queued_at: Instant,
    /// When the call's own bounds end its wait, if before the bulkhead's
    /// `max_wait` does: its deadline, or its own `max_wait` from
    /// `queued_at` ([`Instant::MAX`]: none).
    gives_up_at: Instant,
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
                let own = wait.queued_at.saturating_add(self.config().max_wait());
                let recheck_at = self.next_deadline().map(|first| first.max(own));
                let recheck_at = match recheck_at {
                    Some(at) if at <= wait.gives_up_at => Some(at),
                    _ if wait.gives_up_at < Instant::MAX => Some(wait.gives_up_at),
                    other => other,
                };
                Entry::Pending { wait, recheck_at }
            }
        }
    }
}

/// When a call's own bounds end its wait in the queue, if they do: its
/// deadline, or its own `max_wait` counted from `queued_at`.
fn gives_up_at(call: &Call<'_>, queued_at: Instant) -> Instant {
    let by_wait = call
        .max_wait()
        .map_or(Instant::MAX, |wait| queued_at.saturating_add(wait));
    by_wait.min(call.deadline().instant())
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
    /// queued call is also given up at its own bounds, if sooner: asked
    /// again ([`resume`](Admission::resume)) at or after its deadline it
    /// is rejected [`RejectReason::DeadlineTooShort`], after the
    /// `max_wait` it asked for [`RejectReason::BulkheadWaitExpired`] (its
    /// place goes, counted as cancelled); `recheck_at` is never later.
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
        let (queued_at, gives_up_at) = match poll {
            Poll::Pending => {
                let queued_at = call.now().max(self.latest_seen());
                (queued_at, gives_up_at(call, queued_at))
            }
            Poll::Ready(_) => (Instant::ZERO, Instant::MAX),
        };
        let wait = QueuedCall {
            ticket,
            queued_at,
            gives_up_at,
        };
        self.entry(poll, wait)
    }

    fn resume(
        &mut self,
        call: &Call<'_>,
        mut wait: QueuedCall,
        waker: Option<&Waker>,
    ) -> Entry<BulkheadPermit, QueuedCall> {
        let poll = self.poll_acquire(call, &mut wait.ticket, waker);
        if poll.is_pending() && wait.gives_up_at < Instant::MAX && call.now() >= wait.gives_up_at {
            // The call's own deadline or `max_wait` has come before a slot:
            // its place goes, as an expired wait's does.
            let now = call.now();
            Bulkhead::cancel(self, now, &mut wait.ticket);
            let reason = if call.deadline().is_expired(now) {
                RejectReason::DeadlineTooShort
            } else {
                RejectReason::BulkheadWaitExpired
            };
            return Entry::Rejected(Rejected::new(reason, None));
        }
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
