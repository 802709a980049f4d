//! The bulkhead's lock-free slot word: what a shared handle
//! ([`Shared`](crate::sync::Shared)) uses to admit calls and take slots back
//! with one compare-and-swap each, without the lock, while the bulkhead
//! allows it ([`Admission::slot_gate`](crate::admission::Admission::slot_gate):
//! a fixed limit, a silent observer, nobody queued).
//!
//! One 64-bit word:
//!
//! ```text
//!  63     62 ........ 40   39 ........ 20   19 ......... 0
//!  OPEN   admitted (23)    limit (20)       in_flight (20)
//! ```
//!
//! The lock holder *closes* the word (swaps in 0) before it runs any
//! operation on the machine and hands the machine what the word counted
//! (calls admitted, slots taken now); it *opens* it again after, if the
//! machine allows. While the word is closed every admission and exit takes
//! the lock, so the machine alone decides whenever anyone is queued: a
//! call admitted on the word never overtakes a waiter (FIFO), and every
//! exit that could owe a waiter a slot reaches the machine (no lost
//! wake-up). The word alone decides an admission (no second read), so an
//! admission can never be checked against a stale limit.
//!
//! Where the crate has no lock-free gate (no native 64-bit atomics: the
//! thumb targets; `cfg(failsafe_no_gate)`) the word is nothing at all and
//! every call takes the lock, as before.

/// The word's layout; see the module docs.
#[cfg(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate)))]
mod layout {
    /// Admissions and exits may use the word.
    pub(super) const OPEN: u64 = 1 << 63;
    /// Width of the limit and in-flight fields.
    pub(super) const BITS: u32 = 20;
    /// Largest limit or in-flight count the word holds.
    pub(super) const FIELD: u64 = (1 << BITS) - 1;
    /// Shift of the admitted count.
    pub(super) const ADMITTED_SHIFT: u32 = 2 * BITS;
    /// Largest admitted count (23 bits): once reached, admissions take the
    /// lock, which hands the count over and starts it again.
    pub(super) const ADMITTED_MAX: u64 = (1 << 23) - 1;
}

/// The slot word of a shared bulkhead (see the module docs).
#[cfg(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate)))]
#[derive(Debug)]
pub(crate) struct SlotWord(crate::atomic::AtomicU64);

#[cfg(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate)))]
impl SlotWord {
    /// A closed word. `const` (except under loom).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        SlotWord(crate::atomic::AtomicU64::new(0))
    }

    /// A closed word (loom build).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        SlotWord(crate::atomic::AtomicU64::new(0))
    }

    /// Takes a slot if the word is open and one is free: the slots taken,
    /// this one included. `None`: take the lock.
    #[inline(always)]
    pub(crate) fn admit(&self) -> Option<u32> {
        use crate::atomic::Ordering;
        use layout::*;
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            let in_flight = word & FIELD;
            if word & OPEN == 0
                || in_flight >= (word >> BITS) & FIELD
                || (word >> ADMITTED_SHIFT) & ADMITTED_MAX == ADMITTED_MAX
            {
                return None;
            }
            // One more admitted, one more taken: no field overflows (checked
            // above). Acquire: the slot's last holder's work happened before;
            // release: the time the caller noted before (the clock
            // contract) reaches the lock holder that closes the word.
            match self.0.compare_exchange_weak(
                word,
                word + (1 << ADMITTED_SHIFT) + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                // `in_flight < limit <= FIELD`: fits.
                Ok(_) => return Some(in_flight as u32 + 1),
                Err(now) => word = now,
            }
        }
    }

    /// Gives a slot back if the word is open. `false`: take the lock.
    #[inline(always)]
    pub(crate) fn exit(&self) -> bool {
        use crate::atomic::Ordering;
        use layout::*;
        let mut word = self.0.load(Ordering::Relaxed);
        loop {
            if word & OPEN == 0 || word & FIELD == 0 {
                return false;
            }
            // Release: the holder's work, and the time it noted, happen
            // before the slot's next admission and the word's closing.
            match self
                .0
                .compare_exchange_weak(word, word - 1, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }

    /// Under the lock: closes the word. `Some((admitted, in_flight))` if it
    /// was open: the calls it admitted since it was opened and the slots
    /// taken now.
    #[inline]
    pub(crate) fn close(&self) -> Option<(u32, u32)> {
        use crate::atomic::Ordering;
        use layout::*;
        if self.0.load(Ordering::Relaxed) == 0 {
            // Closed already: only the lock holder opens it.
            return None;
        }
        let word = self.0.swap(0, Ordering::AcqRel);
        if word & OPEN == 0 {
            return None;
        }
        // Both fields fit in 23 bits.
        let admitted = ((word >> ADMITTED_SHIFT) & ADMITTED_MAX) as u32;
        Some((admitted, (word & FIELD) as u32))
    }

    /// Under the lock, the word closed: opens it with `limit` and
    /// `in_flight` (the machine's), unless either is too large for the
    /// word (then it stays closed and calls take the lock).
    #[inline]
    pub(crate) fn open(&self, limit: u32, in_flight: u32) {
        use crate::atomic::Ordering;
        use layout::*;
        let (limit, in_flight) = (u64::from(limit), u64::from(in_flight));
        if limit > FIELD || in_flight > FIELD {
            return;
        }
        self.0
            .store(OPEN | (limit << BITS) | in_flight, Ordering::Release);
    }
}

/// No slot word: every call takes the lock (see the module docs).
#[cfg(not(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate))))]
#[derive(Debug)]
pub(crate) struct SlotWord;

#[cfg(not(all(any(loom, target_has_atomic = "64"), not(failsafe_no_gate))))]
impl SlotWord {
    /// No word.
    pub(crate) const fn new() -> Self {
        SlotWord
    }
    /// Always the lock.
    #[inline(always)]
    pub(crate) fn admit(&self) -> Option<u32> {
        None
    }
    /// Always the lock.
    #[inline(always)]
    pub(crate) fn exit(&self) -> bool {
        false
    }
    /// Never open.
    #[inline(always)]
    pub(crate) fn close(&self) -> Option<(u32, u32)> {
        None
    }
    /// Stays shut.
    #[inline(always)]
    pub(crate) fn open(&self, _limit: u32, _in_flight: u32) {}
}
