//! What the scenarios share: moving the mock clock to an instant, and
//! polling a future until it is idle (waiting on a timer that has not
//! fired) or done.
//!
//! A module, not a test file: each scenario (`tests/*.rs`) includes it.
#![allow(dead_code)] // each scenario uses some of it

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::Arc;
use std::task::Wake;

use embassy_time::MockDriver;
use failsafe_embassy::{
    Clock, EmbassyClock, Guard, Instant, Rejected, Reservation, SharedAdmission,
};

/// The mock clock, as the adapter reads it.
pub(crate) fn now() -> Instant {
    EmbassyClock.now()
}

/// Moves the mock clock forward to `at` (whole microseconds), firing every
/// timer due by then. Never backwards.
pub(crate) fn advance_to(at: Instant) {
    let now = now();
    assert!(at >= now, "cannot go back from {now:?} to {at:?}");
    let step = at.saturating_duration_since(now);
    assert_eq!(step.subsec_nanos() % 1_000, 0, "whole microseconds only");
    MockDriver::get().advance(embassy_time::Duration::from_micros(step.as_micros() as u64));
    assert_eq!(self::now(), at);
}

/// `at` minus one microsecond: the last instant before `at` the clock can read.
pub(crate) fn just_before(at: Instant) -> Instant {
    Instant::from_nanos(at.as_nanos() - 1_000)
}

/// When a rate limiter granted the permits of an admitted call (its
/// booking's start), or its rejection.
pub(crate) fn granted<H, C>(r: Result<Guard<H, C>, Rejected>) -> Result<Instant, Rejected>
where
    H: SharedAdmission<Permit = Reservation>,
    C: Clock,
{
    r.map(|guard| guard.permit().map_or(Instant::MAX, Reservation::start))
}

pub(crate) const fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

pub(crate) const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Polls `fut` until it is done, or pending without having been woken
/// meanwhile (asleep on a timer in the future: only `advance_to` can move
/// it on). A timer already due wakes its task at once on the mock driver,
/// so everything that can happen at the current instant happens here.
pub(crate) fn run_until_idle<F: Future + ?Sized>(mut fut: Pin<&mut F>) -> Poll<F::Output> {
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    for _ in 0..10_000 {
        flag.0.store(false, Ordering::SeqCst);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Poll::Ready(out);
        }
        if !flag.0.load(Ordering::SeqCst) {
            return Poll::Pending;
        }
    }
    panic!("the future kept waking itself without making progress");
}

/// An operation that never finishes, counting how often it was dropped
/// (cancelled).
pub(crate) async fn hang<T>(drops: &AtomicU32) -> T {
    struct OnDrop<'a>(&'a AtomicU32);
    impl Drop for OnDrop<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let _guard = OnDrop(drops);
    core::future::pending().await
}
