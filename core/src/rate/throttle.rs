//! Rate limiters on the [admission contract](crate::admission).

use core::task::Waker;
use core::time::Duration;

use super::{AtomicGcra, FixedWindow, Gcra, KeyedGcra, Reservation, SlidingWindow, TokenBucket};
use crate::admission::{Admission, Call, Entry};
use crate::event::SharedObserver;
use crate::sync::SharedAdmission;
use crate::time::duration_nanos;
use crate::{Instant, Observer, Outcome, Rejected, TimeSource};

use super::RateEvent;

/// A rate-limiting algorithm as [`Throttle`] drives it: book `n` permits
/// (now, or within `max_wait`), and give a booking back.
pub trait Limiter {
    /// The key of a keyed limiter (`()` otherwise).
    type Key: ?Sized;

    /// Books `n` permits for `key` at the earliest instant no later than
    /// `now + max_wait` ([`Reservation::start`]: `now` when granted at
    /// once).
    ///
    /// # Errors
    ///
    /// The limiter's rejection (`RateLimited` with `retry_at`, or
    /// `RateInsufficientCapacity` when `n` can never be granted) when the
    /// permits cannot start within `max_wait`.
    fn reserve(
        &mut self,
        key: &Self::Key,
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected>;

    /// The latest `now` the limiter has seen: a call's earlier `now` reads
    /// as it (the clock contract). The default, zero, for a limiter that
    /// keeps no time.
    fn latest_seen(&self) -> Instant {
        Instant::ZERO
    }

    /// Gives a booking back, if no later booking depends on it; `true` if
    /// its permits are free again. The default keeps every booking.
    fn cancel(&mut self, reservation: Reservation) -> bool {
        let _ = reservation;
        false
    }

    /// Permits `key` could take at `now`, if the limiter can tell without
    /// changing (reported to observers, e.g. as a gauge): `None` by
    /// default.
    fn permits_available(&self, key: &Self::Key, now: Instant) -> Option<u32> {
        let _ = (key, now);
        None
    }

    /// Whether [`reserve`](Limiter::reserve) books permits ahead (a GCRA):
    /// a booked call waits for its start. A limiter that cannot book
    /// (`false`, the default: buckets, windows, keyed) rejects with
    /// `retry_at`, and [`Throttle`] has a caller that may wait that long
    /// ask again then.
    const BOOKS: bool = false;
}

impl Limiter for Gcra {
    type Key = ();
    const BOOKS: bool = true;

    fn latest_seen(&self) -> Instant {
        Self::latest_seen(self)
    }

    #[inline]
    fn reserve(
        &mut self,
        _: &(),
        now: Instant,
        n: u32,
        max_wait: Duration,
    ) -> Result<Reservation, Rejected> {
        Gcra::reserve(self, now, n, max_wait)
    }

    #[inline]
    fn cancel(&mut self, reservation: Reservation) -> bool {
        Gcra::cancel(self, reservation)
    }

    fn permits_available(&self, _: &(), now: Instant) -> Option<u32> {
        Some(Gcra::available(self, now))
    }
}

/// Limiters that grant now or never: a call waits for nothing.
macro_rules! grant_now {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<$($generics)*> Limiter for $ty {
            type Key = ();

            fn latest_seen(&self) -> Instant {
                <$ty>::latest_seen(self)
            }

            #[inline]
            fn reserve(&mut self, _: &(), now: Instant, n: u32, _: Duration) -> Result<Reservation, Rejected> {
                self.acquire(now, n).map(|()| Reservation::granted(now))
            }
        }
    )*};
}

grant_now!([] TokenBucket, [] FixedWindow, [const B: usize] SlidingWindow<B>);

impl<K: Eq + core::hash::Hash + Clone, const N: usize> Limiter for KeyedGcra<K, N> {
    type Key = K;

    fn latest_seen(&self) -> Instant {
        Self::latest_seen(self)
    }

    #[inline]
    fn reserve(
        &mut self,
        key: &K,
        now: Instant,
        n: u32,
        _: Duration,
    ) -> Result<Reservation, Rejected> {
        self.acquire(key, now, n)
            .map(|()| Reservation::granted(now))
    }

    fn permits_available(&self, key: &K, now: Instant) -> Option<u32> {
        Some(KeyedGcra::available(self, key, now))
    }
}

/// A rate limiter as an admission machine: the limiter plus how long a
/// caller may wait for its turn (resilience4j's `timeoutDuration`; zero by
/// default: a call over the rate is rejected at once with `retry_at`).
///
/// A call asks for [`Call::weight`] permits; it never books past its
/// deadline, waits at most its own [`Call::max_wait`] if it gives one, and a
/// call that may not wait ([`Call::no_wait`]) is never booked. A booked call is [`Entry::Pending`] until its start; a waiter
/// that gives up hands its booking back when nobody booked after it. With a
/// limiter that cannot book (buckets, windows, keyed: [`Limiter::BOOKS`]
/// `false`) a call whose `retry_at` falls within its wait is
/// [`Entry::Pending`] until that `retry_at`, then asks again (and waits
/// again if another caller took the permits first), until its wait ends.
///
/// ```
/// use core::time::Duration;
/// use failsafe_core::admission::{Admission, Call, Entry};
/// use failsafe_core::rate::{Gcra, Quota, Throttle};
/// use failsafe_core::Instant;
///
/// let quota = Quota::per_second(10).unwrap(); // one permit every 100 ms, burst 1
/// let mut limiter = Throttle::new(Gcra::new(quota)).max_wait(Duration::from_millis(150));
/// let Entry::Admitted(_) = limiter.enter(&Call::at(Instant::ZERO), None) else { panic!() };
/// let Entry::Pending { recheck_at, .. } = limiter.enter(&Call::at(Instant::ZERO), None) else { panic!() };
/// assert_eq!(recheck_at, Some(Instant::from_millis(100)));
/// ```
///
/// Its observer `O` (none, `()`, by default: [`observe`](Throttle::observe))
/// hears every call admitted and every call rejected ([`RateEvent`]): an
/// [`Observer`] behind a lock, a [`SharedObserver`] on the lock-free
/// `Throttle<AtomicGcra>`.
#[derive(Debug)]
pub struct Throttle<L, O = ()> {
    limiter: L,
    max_wait: Duration,
    observer: O,
}

impl<L> Throttle<L> {
    /// `limiter` rejecting every call over the rate at once.
    pub const fn new(limiter: L) -> Self {
        Throttle {
            limiter,
            max_wait: Duration::ZERO,
            observer: (),
        }
    }
}

impl<L, O> Throttle<L, O> {
    /// The same limiter reporting to `observer`.
    ///
    /// ```
    /// use failsafe_core::admission::{Admission, Call};
    /// use failsafe_core::rate::{Gcra, Quota, RateEvent, Throttle};
    /// use failsafe_core::{FnObserver, Instant};
    /// let mut rejected = 0;
    /// let mut t = Throttle::new(Gcra::new(Quota::per_second(1).unwrap()))
    ///     .observe(FnObserver(|e| if let RateEvent::Rejected { .. } = e { rejected += 1 }));
    /// let _ = t.enter(&Call::at(Instant::ZERO), None);
    /// let _ = t.enter(&Call::at(Instant::ZERO), None);
    /// drop(t);
    /// assert_eq!(rejected, 1);
    /// ```
    pub fn observe<O2>(self, observer: O2) -> Throttle<L, O2> {
        Throttle {
            limiter: self.limiter,
            max_wait: self.max_wait,
            observer,
        }
    }

    /// The observer.
    pub const fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, mutably.
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    /// The same, letting a caller wait up to `max_wait` for its permits.
    #[must_use]
    pub const fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How long a caller may wait for its permits.
    pub const fn max_wait_of(&self) -> Duration {
        self.max_wait
    }

    /// Sets how long a caller may wait (at run time).
    pub fn set_max_wait(&mut self, max_wait: Duration) {
        self.max_wait = max_wait;
    }

    /// The limiter.
    pub const fn limiter(&self) -> &L {
        &self.limiter
    }

    /// The limiter, to change its quota or read its state.
    pub fn limiter_mut(&mut self) -> &mut L {
        &mut self.limiter
    }

    /// How long `call` may wait: zero if it may not, never past its deadline.
    fn wait_for<K: ?Sized>(&self, call: &Call<'_, K>, now: Instant) -> Duration {
        Duration::from_nanos(self.wait_nanos(call, now.as_nanos()))
    }

    /// [`wait_for`](Self::wait_for) in nanoseconds (saturating), at `now`
    /// in nanoseconds: no `Duration` built from the deadline.
    #[inline]
    fn wait_nanos<K: ?Sized>(&self, call: &Call<'_, K>, now: u64) -> u64 {
        let max_wait = call.max_wait().unwrap_or(self.max_wait);
        if max_wait.is_zero() {
            return 0;
        }
        let left = call.deadline().instant().as_nanos().saturating_sub(now);
        duration_nanos(max_wait).min(left)
    }
}

/// The entry for a request to `L` at `now` by a call that may wait until
/// `until`: a limiter that cannot book has the call ask again at its
/// `retry_at` when that falls within the wait (the wait's end is kept in
/// the pending [`Reservation`]'s start).
fn asked<L: Limiter>(
    booking: Result<Reservation, Rejected>,
    now: Instant,
    until: Instant,
) -> Entry<Reservation, Reservation> {
    match booking {
        Err(rejected) if !L::BOOKS => match rejected.retry_at {
            Some(at) if at > now && at <= until && !rejected.is_never() => Entry::Pending {
                wait: Reservation::granted(until),
                recheck_at: Some(at),
            },
            _ => Entry::Rejected(rejected),
        },
        booking => booked(booking, now, until.saturating_duration_since(now)),
    }
}

/// The entry for a booking made at `now` by a call that may wait
/// `max_wait`. A booking made with no wait allowed starts at once even if
/// its start reads later than `now`: the limiter went by the latest time it
/// had seen (the clock contract), and `now` was earlier.
#[inline(always)]
fn booked(
    booking: Result<Reservation, Rejected>,
    now: Instant,
    max_wait: Duration,
) -> Entry<Reservation, Reservation> {
    match booking {
        Ok(r) if r.start() <= now || max_wait.is_zero() => Entry::Admitted(r),
        Ok(r) => Entry::Pending {
            recheck_at: Some(r.start()),
            wait: r,
        },
        Err(rejected) => Entry::Rejected(rejected),
    }
}

/// What a rate limiter's observer hears of `entry`: admitted or
/// rejected (nothing while a call waits for its turn). By value, so that
/// a caller's entry can stay in registers.
#[inline(always)]
fn decision_of(entry: &Entry<Reservation, Reservation>) -> Option<Result<(), Rejected>> {
    match entry {
        Entry::Admitted(_) => Some(Ok(())),
        Entry::Rejected(rejected) => Some(Err(*rejected)),
        Entry::Pending { .. } => None,
    }
}

/// The event of `decision`, a request for `permits` at `now` leaving
/// `available` permits.
fn event_of(
    decision: Result<(), Rejected>,
    now: Instant,
    permits: u32,
    available: Option<u32>,
) -> RateEvent {
    match decision {
        Ok(()) => RateEvent::Acquired {
            at: now,
            permits,
            available,
        },
        Err(rejected) => RateEvent::Rejected {
            at: now,
            rejected,
            available,
        },
    }
}

impl<L: Limiter, O: Observer<RateEvent>> Throttle<L, O> {
    /// Tells a listening observer about `entry` (the check is inlined: a
    /// silent observer costs nothing, not even a call).
    #[inline(always)]
    fn report(
        &mut self,
        entry: Entry<Reservation, Reservation>,
        call: &Call<'_, L::Key>,
        now: Instant,
    ) -> Entry<Reservation, Reservation> {
        if !self.observer.is_silent() {
            self.report_to_observer(&entry, call, now);
        }
        entry
    }

    #[inline(never)]
    fn report_to_observer(
        &mut self,
        entry: &Entry<Reservation, Reservation>,
        call: &Call<'_, L::Key>,
        now: Instant,
    ) {
        if let Some(decision) = decision_of(entry) {
            let available = self.limiter.permits_available(call.key(), now);
            let event = event_of(decision, now, call.weight(), available);
            self.observer.on_event(event);
        }
    }
}

impl<O: SharedObserver<RateEvent>> Throttle<AtomicGcra, O> {
    /// As [`report`](Throttle::report), for the lock-free limiter.
    #[inline(always)]
    fn report_shared(
        &self,
        entry: Entry<Reservation, Reservation>,
        now: Instant,
        permits: u32,
    ) -> Entry<Reservation, Reservation> {
        if !self.observer.is_silent() {
            // The decision by value, not the entry by reference: a
            // reference would keep the entry in memory on the common,
            // silent path too.
            if let Some(decision) = decision_of(&entry) {
                self.report_shared_to_observer(decision, now, permits);
            }
        }
        entry
    }

    #[inline(never)]
    fn report_shared_to_observer(
        &self,
        decision: Result<(), Rejected>,
        now: Instant,
        permits: u32,
    ) {
        let available = Some(self.limiter.available(now));
        self.observer
            .on_event(event_of(decision, now, permits, available));
    }
}

impl<L: Limiter, O: Observer<RateEvent>> Admission for Throttle<L, O> {
    type Key = L::Key;
    type Permit = Reservation;
    type Wait = Reservation;
    const READS_NOW: bool = true;
    /// A booking is spent when admitted: `exit` changes nothing.
    const NEEDS_EXIT: bool = false;

    #[inline]
    fn enter(
        &mut self,
        call: &Call<'_, L::Key>,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        // The clock contract: a `now` before the latest seen reads as it.
        let now = call.now().max(self.limiter.latest_seen());
        let max_wait = self.wait_for(call, now);
        let booking = self
            .limiter
            .reserve(call.key(), now, call.weight(), max_wait);
        let entry = asked::<L>(booking, now, now.saturating_add(max_wait));
        self.report(entry, call, now)
    }

    fn resume(
        &mut self,
        call: &Call<'_, L::Key>,
        wait: Reservation,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        let now = call.now().max(self.limiter.latest_seen());
        if L::BOOKS {
            let entry = booked(Ok(wait), now, Duration::MAX);
            return self.report(entry, call, now);
        }
        // Not booked: ask again, waiting at most until the wait's end.
        let until = wait.start();
        let max_wait = until.saturating_duration_since(now);
        let booking = self
            .limiter
            .reserve(call.key(), now, call.weight(), max_wait);
        let entry = asked::<L>(booking, now, until);
        self.report(entry, call, now)
    }

    fn cancel(&mut self, _: Instant, wait: Reservation) {
        let _ = self.limiter.cancel(wait);
    }

    /// Permits are spent once the call starts: nothing to hand back.
    #[inline]
    fn exit(&mut self, _: impl TimeSource, _: Reservation, _: Outcome) {}

    fn abandon(&mut self, now: Instant, permit: Reservation) {
        // `abandon` is not told the call's key: the permits left are not
        // known here.
        if self.limiter.cancel(permit) && !self.observer.is_silent() {
            let returned = RateEvent::Returned {
                at: now,
                available: None,
            };
            self.observer.on_event(returned);
        }
    }

    /// The limiter's: what its decisions took as now at the latest.
    fn latest_seen(&self) -> Instant {
        self.limiter.latest_seen()
    }
}

/// The lock-free limiter: the same decisions as `Throttle<Gcra>` behind a
/// lock, with one CAS and no lock.
impl<O: SharedObserver<RateEvent>> SharedAdmission for Throttle<AtomicGcra, O> {
    type Key = ();
    type Permit = Reservation;
    type Wait = Reservation;
    /// A booking is spent when admitted: `exit` changes nothing.
    const NEEDS_EXIT: bool = false;

    const READS_NOW: bool = true;

    /// Inlined into its caller: the entry then stays in registers (built
    /// in memory and copied back, its parts stalled the copy's load).
    #[inline(always)]
    fn enter(&self, call: &Call<'_>, _: Option<&Waker>) -> Entry<Reservation, Reservation> {
        // The clock contract, once: a `now` before the latest seen reads as
        // it (and a later one becomes the latest).
        let now = self.limiter.observe(call.now());
        let max_wait = self.wait_nanos(call, now);
        let booking = self.limiter.reserve_observed(now, call.weight(), max_wait);
        let now = Instant::from_nanos(now);
        let entry = booked(booking, now, Duration::from_nanos(max_wait));
        self.report_shared(entry, now, call.weight())
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: Reservation,
        _: Option<&Waker>,
    ) -> Entry<Reservation, Reservation> {
        let now = call.now().max(self.limiter.latest_seen());
        let entry = booked(Ok(wait), now, Duration::MAX);
        self.report_shared(entry, now, call.weight())
    }

    fn cancel(&self, _: Instant, wait: Reservation) {
        let _ = self.limiter.cancel(wait);
    }

    #[inline]
    fn exit(&self, _: impl TimeSource, _: Reservation, _: Outcome) {}

    fn abandon(&self, now: Instant, permit: Reservation) {
        if self.limiter.cancel(permit) && !self.observer.is_silent() {
            let available = Some(self.limiter.available(now));
            self.observer
                .on_event(RateEvent::Returned { at: now, available });
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _: Instant) {}
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::rate::{Quota, TokenBucket};
    use crate::{Instant, RejectReason};

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn start(entry: Entry<Reservation, Reservation>) -> Option<Instant> {
        match entry {
            Entry::Admitted(r) => Some(r.start()),
            _ => None,
        }
    }

    #[test]
    fn a_bucket_waiter_asks_again_at_retry_at_and_waits_again_if_beaten() {
        // One token, one more every 100 ms; callers wait up to 1 s.
        let bucket = TokenBucket::new(1, 1, Duration::from_millis(100)).unwrap();
        let mut t = Throttle::new(bucket).max_wait(Duration::from_secs(1));
        assert_eq!(start(t.enter(&Call::at(ms(0)), None)), Some(ms(0)));
        let Entry::Pending { wait, recheck_at } = t.enter(&Call::at(ms(0)), None) else {
            panic!("waits for the next token");
        };
        assert_eq!(recheck_at, Some(ms(100)));
        // Another caller, who may not wait, takes the token at 100 ms first.
        assert_eq!(
            start(t.enter(&Call::at(ms(100)).no_wait(), None)),
            Some(ms(100))
        );
        let Entry::Pending { wait, recheck_at } = t.resume(&Call::at(ms(100)), wait, None) else {
            panic!("beaten: waits again");
        };
        assert_eq!(recheck_at, Some(ms(200)));
        assert_eq!(
            start(t.resume(&Call::at(ms(200)), wait, None)),
            Some(ms(200))
        );
    }

    #[test]
    fn a_wait_that_cannot_end_in_time_is_rejected_with_retry_at() {
        let bucket = TokenBucket::new(1, 1, Duration::from_millis(100)).unwrap();
        let mut t = Throttle::new(bucket).max_wait(Duration::from_millis(150));
        assert!(start(t.enter(&Call::at(ms(0)), None)).is_some());
        let Entry::Pending { wait, .. } = t.enter(&Call::at(ms(0)), None) else {
            panic!("100 ms is within 150 ms");
        };
        assert!(start(t.enter(&Call::at(ms(100)).no_wait(), None)).is_some());
        // The next token, at 200 ms, is past the wait's end (150 ms).
        let Entry::Rejected(r) = t.resume(&Call::at(ms(100)), wait, None) else {
            panic!("rejected");
        };
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::RateLimited, Some(ms(200)))
        );
        // A caller that may not wait, or whose deadline is sooner, never waits.
        let Entry::Rejected(_) = t.enter(&Call::at(ms(100)).no_wait(), None) else {
            panic!("no wait");
        };
        let soon = crate::timeout::Deadline::at(ms(150));
        let Entry::Rejected(_) = t.enter(&Call::at(ms(100)).with_deadline(soon), None) else {
            panic!("the deadline comes first");
        };
    }

    #[test]
    fn a_keyed_waiter_waits_for_its_own_key() {
        let quota = Quota::per_second(2).unwrap(); // one each 500 ms
        let mut t =
            Throttle::new(KeyedGcra::<u8, 4>::new(quota, 7)).max_wait(Duration::from_secs(1));
        assert!(start(t.enter(&Call::at(ms(0)).with_key(&1), None)).is_some());
        let Entry::Pending { wait, recheck_at } = t.enter(&Call::at(ms(0)).with_key(&1), None)
        else {
            panic!("key 1 waits");
        };
        assert_eq!(recheck_at, Some(ms(500)));
        assert!(start(t.enter(&Call::at(ms(0)).with_key(&2), None)).is_some());
        assert_eq!(
            start(t.resume(&Call::at(ms(500)).with_key(&1), wait, None)),
            Some(ms(500))
        );
    }

    /// The kinds of rate events heard, in order (`a`cquired, `r`ejected,
    /// re`t`urned).
    #[derive(Default)]
    struct Heard(core::cell::RefCell<[u8; 8]>, core::cell::Cell<usize>);

    impl Heard {
        fn note(&self, e: RateEvent) {
            let kind = match e {
                RateEvent::Acquired { .. } => b'a',
                RateEvent::Rejected { .. } => b'r',
                RateEvent::Returned { .. } => b't',
            };
            self.0.borrow_mut()[self.1.get()] = kind;
            self.1.set(self.1.get() + 1);
        }

        fn kinds(&self) -> [u8; 8] {
            *self.0.borrow()
        }
    }

    impl SharedObserver<RateEvent> for &Heard {
        fn on_event(&self, e: RateEvent) {
            self.note(e)
        }
    }

    impl Observer<RateEvent> for &Heard {
        fn on_event(&mut self, e: RateEvent) {
            self.note(e)
        }
    }

    #[test]
    fn permits_handed_back_unused_are_reported_returned_and_overtaken_ones_are_not() {
        let quota = Quota::per_second(10).unwrap().with_burst(2).unwrap();
        let no_wait = || Call::at(ms(0)).no_wait();
        // Locked and lock-free alike: the latest booking comes back (and
        // is reported); one a later booking overtook stays spent (silent).
        let heard = Heard::default();
        let mut locked = Throttle::new(crate::rate::Gcra::new(quota)).observe(&heard);
        let Entry::Admitted(first) = locked.enter(&no_wait(), None) else {
            panic!("admitted")
        };
        let Entry::Admitted(second) = locked.enter(&no_wait(), None) else {
            panic!("admitted")
        };
        Admission::abandon(&mut locked, ms(0), first); // overtaken: spent
        Admission::abandon(&mut locked, ms(0), second); // the latest: back
        assert_eq!(&heard.kinds()[..3], b"aat");
        assert!(matches!(locked.enter(&no_wait(), None), Entry::Admitted(_)));

        let heard = Heard::default();
        let shared = Throttle::new(crate::rate::AtomicGcra::new(quota)).observe(&heard);
        let Entry::Admitted(first) = SharedAdmission::enter(&shared, &no_wait(), None) else {
            panic!("admitted")
        };
        let Entry::Admitted(second) = SharedAdmission::enter(&shared, &no_wait(), None) else {
            panic!("admitted")
        };
        SharedAdmission::abandon(&shared, ms(0), first);
        SharedAdmission::abandon(&shared, ms(0), second);
        assert_eq!(&heard.kinds()[..3], b"aat");
    }
}
