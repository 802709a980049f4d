//! `EmbassyClock` against embassy-time's real `std` driver (1 MHz ticks).

use failsafe_embassy::{Clock, EmbassyClock, Instant};

#[test]
fn now_reads_embassy_time_in_microseconds() {
    let a = EmbassyClock::to_core(embassy_time::Instant::now());
    let b = EmbassyClock.now();
    let c = EmbassyClock::to_core(embassy_time::Instant::now());
    assert!(a <= b && b <= c);
    assert_eq!(b.as_nanos() % 1_000, 0, "whole microseconds");
}

#[test]
fn reading_rounds_down_and_deadlines_round_up() {
    let tick_ns = 1_000_000_000 / embassy_time::TICK_HZ;
    for ns in [0, 1, 999, 1_000, 1_001, 1_500, 60_000_000_001, u64::MAX / 2] {
        let deadline = Instant::from_nanos(ns);
        let timer_at = EmbassyClock::to_embassy(deadline);
        let woken_at = EmbassyClock::to_core(timer_at);
        // A timer set for the deadline never wakes before the clock reads it ...
        assert!(woken_at >= deadline, "{ns} ns woke at {woken_at:?}");
        // ... and not later than the next microsecond and tick.
        assert!(woken_at.as_nanos() < ns + 1_000 + tick_ns, "{ns} ns");
        // One tick earlier, the clock still reads before the deadline (when the
        // deadline is not already on a tick).
        if timer_at.as_ticks() > 0 {
            let earlier = embassy_time::Instant::from_ticks(timer_at.as_ticks() - 1);
            assert!(EmbassyClock::to_core(earlier) < deadline, "{ns} ns");
        }
    }
}

#[test]
fn conversions_saturate_instead_of_overflowing() {
    assert_eq!(
        EmbassyClock::to_embassy(Instant::MAX),
        embassy_time::Instant::MAX
    );
    assert_eq!(
        EmbassyClock::to_core(embassy_time::Instant::MAX),
        Instant::MAX
    );
}

#[test]
fn retry_at_is_a_timer_instant_only_when_the_machine_knows_one() {
    use failsafe_embassy::{RejectReason, Rejected};
    let open = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_nanos(1_500)));
    // rounded up, like every deadline: a sleeper never wakes early
    assert_eq!(
        EmbassyClock::retry_at(&open),
        Some(embassy_time::Instant::from_micros(2))
    );
    let unknown = Rejected::new(RejectReason::BreakerHalfOpenFull, None);
    assert_eq!(EmbassyClock::retry_at(&unknown), None);
    let never = Rejected::never(RejectReason::RateInsufficientCapacity);
    assert_eq!(EmbassyClock::retry_at(&never), None, "never is no instant");
}

#[test]
fn wake_at_gives_every_deadline_as_a_timer_instant() {
    use failsafe_embassy::{Deadline, Error, RejectReason, Rejected, WakeAt};
    let open = Rejected::new(RejectReason::BreakerOpen, Some(Instant::from_nanos(1_500)));
    let two_us = Some(embassy_time::Instant::from_micros(2));
    // rounded up, as EmbassyClock::retry_at
    assert_eq!(open.wake_at(), two_us);
    assert_eq!(Error::<()>::Rejected(open).wake_at(), two_us);
    assert_eq!(Instant::from_nanos(1_500).wake_at(), two_us);
    assert_eq!(Deadline::at(Instant::from_nanos(1_500)).wake_at(), two_us);
    // no instant: unknown, never, or not a rejection
    let unknown = Rejected::new(RejectReason::BreakerHalfOpenFull, None);
    assert_eq!(unknown.wake_at(), None);
    let never = Rejected::never(RejectReason::RateInsufficientCapacity);
    assert_eq!(never.wake_at(), None);
    assert_eq!(Instant::MAX.wake_at(), None);
    assert_eq!(Deadline::NEVER.wake_at(), None);
    assert_eq!(Error::<()>::Inner(()).wake_at(), None);
    assert_eq!(
        Error::<()>::Timeout(Deadline::at(Instant::from_secs(1))).wake_at(),
        None
    );
    // a pipeline's error and a retry's error around a policy: its rejection's
    let piped = failsafe_embassy::driver::PipelineError::<()> {
        error: Error::Rejected(open),
        attempts: 1,
        gave_up: None,
        answered_at: None,
    };
    assert_eq!(piped.wake_at(), two_us);
    let retried = failsafe_embassy::RetryError {
        reason: failsafe_embassy::GiveUp::Attempts,
        attempts: 3,
        last: Some(Error::<()>::Rejected(open)),
    };
    assert_eq!(retried.wake_at(), two_us);
    let no_last = failsafe_embassy::RetryError::<Error<()>> {
        reason: failsafe_embassy::GiveUp::Attempts,
        attempts: 0,
        last: None,
    };
    assert_eq!(no_last.wake_at(), None);
}
