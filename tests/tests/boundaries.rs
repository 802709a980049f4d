//! Every threshold of every machine, tested at its exact boundary value and
//! one unit (one call, one nanosecond, one permit) either side. Each test
//! names the side the boundary falls on, as the field's doc comment says;
//! where resilience4j (or another anchor) defines the boundary, we follow it.
//!
//! Organised by machine: breaker, fail fast, rate limiters, bulkhead, retry,
//! timeout.

use core::time::Duration;

use failsafe_core::{Instant, Outcome, RejectReason};

const fn ns(n: u64) -> Instant {
    Instant::from_nanos(n)
}

const fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

mod breaker {
    use super::*;
    use failsafe_core::breaker::{
        BreakerConfig, CircuitBreaker, CountWindow, NoWindow, State, Window,
    };

    /// Acquire at `start` (ns), report `outcome` after `took` ns.
    fn call<W: Window>(b: &mut CircuitBreaker<W>, start: u64, took: u64, outcome: Outcome) {
        let p = b.acquire(ns(start)).expect("admitted");
        b.record(ns(start + took), p, outcome);
    }

    fn slow_config() -> BreakerConfig {
        BreakerConfig::builder()
            .slow_call_duration(Duration::from_secs(1))
            .slow_call_rate_threshold(0.5)
            .minimum_calls(4)
            .build()
            .unwrap()
    }

    /// Issue 7, item 5, the exact failing input: two successful calls of
    /// exactly 1 s and two of 10 ms, slow-call duration 1 s, count window 4,
    /// minimum 4, slow rate 50%: nothing is slow, the breaker stays closed.
    #[test]
    fn a_call_of_exactly_the_slow_call_duration_is_not_slow() {
        let mut b = CircuitBreaker::new(slow_config(), CountWindow::<4>::new());
        call(&mut b, 0, SEC, Outcome::Success);
        call(&mut b, 2 * SEC, SEC, Outcome::Success);
        call(&mut b, 4 * SEC, 10 * MS, Outcome::Success);
        call(&mut b, 5 * SEC, 10 * MS, Outcome::Success);
        let m = b.metrics(ns(6 * SEC));
        assert_eq!((m.calls, m.slow_calls), (4, 0));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_call_one_nanosecond_longer_is_slow() {
        let mut b = CircuitBreaker::new(slow_config(), CountWindow::<4>::new());
        call(&mut b, 0, SEC + 1, Outcome::Success);
        call(&mut b, 2 * SEC, SEC + 1, Outcome::Success);
        call(&mut b, 4 * SEC, 10 * MS, Outcome::Success);
        assert_eq!(b.state(), State::Closed, "3 calls: below minimum_calls");
        call(&mut b, 5 * SEC, 10 * MS, Outcome::Success);
        // 2 of 4 slow = 50% = the threshold: opens
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn one_nanosecond_shorter_is_not_slow_either() {
        let mut b = CircuitBreaker::new(slow_config(), CountWindow::<4>::new());
        for i in 0..4 {
            call(&mut b, i * 2 * SEC, SEC - 1, Outcome::Success);
        }
        assert_eq!(b.metrics(ns(8 * SEC)).slow_calls, 0);
        assert!(!slow_config().is_slow(Duration::from_nanos(SEC - 1)));
        assert!(!slow_config().is_slow(Duration::from_secs(1)));
        assert!(slow_config().is_slow(Duration::from_nanos(SEC + 1)));
    }

    fn rate(threshold: f32, minimum: u32) -> BreakerConfig {
        BreakerConfig::builder()
            .failure_rate_threshold(threshold)
            .minimum_calls(minimum)
            .build()
            .unwrap()
    }

    /// Feeds `outcomes` (true = failure) one per ms; returns the state.
    fn feed<W: Window>(b: &mut CircuitBreaker<W>, failures: &[bool]) -> State {
        for (i, &f) in failures.iter().enumerate() {
            let o = if f {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            call(b, i as u64 * MS, 0, o);
        }
        b.state()
    }

    #[test]
    fn a_failure_rate_equal_to_the_threshold_opens() {
        // window of 4, threshold 50%: 2 of 4 opens, 1 of 4 does not
        let mut b = CircuitBreaker::new(rate(0.5, 4), CountWindow::<4>::new());
        assert_eq!(feed(&mut b, &[false, true, false, true]), State::Open);
        let mut b = CircuitBreaker::new(rate(0.5, 4), CountWindow::<4>::new());
        assert_eq!(feed(&mut b, &[false, true, false, false]), State::Closed);
        // threshold 25% and 1 of 4: equal, opens; threshold 26%: below, stays closed
        let mut b = CircuitBreaker::new(rate(0.25, 4), CountWindow::<4>::new());
        assert_eq!(feed(&mut b, &[false, false, false, true]), State::Open);
        let mut b = CircuitBreaker::new(rate(0.26, 4), CountWindow::<4>::new());
        assert_eq!(feed(&mut b, &[false, false, false, true]), State::Closed);
    }

    #[test]
    fn exactly_minimum_calls_are_judged() {
        // minimum 4, every call failing: the 3rd does not open, the 4th does
        let mut b = CircuitBreaker::new(rate(0.5, 4), CountWindow::<10>::new());
        assert_eq!(feed(&mut b, &[true, true, true]), State::Closed);
        call(&mut b, 10 * MS, 0, Outcome::Failure);
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn the_nth_consecutive_failure_opens() {
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(3)
            .build()
            .unwrap();
        let mut b = CircuitBreaker::new(config, NoWindow);
        assert_eq!(feed(&mut b, &[true, true]), State::Closed);
        call(&mut b, 10 * MS, 0, Outcome::Failure);
        assert_eq!(b.state(), State::Open);
    }

    fn probes(n: u32, successes: u32) -> BreakerConfig {
        BreakerConfig::builder()
            .consecutive_failures(1)
            .open_wait(Duration::from_secs(1))
            .half_open_probes(n)
            .success_threshold(successes)
            .probe_lease(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    #[test]
    fn the_open_wait_ends_at_exactly_its_instant() {
        let mut b = CircuitBreaker::new(probes(1, 1), NoWindow);
        b.open(ms(0));
        let r = b.acquire(ns(SEC - 1)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerOpen, Some(ms(1_000)))
        );
        assert!(b.acquire(ms(1_000)).unwrap().is_probe());
    }

    #[test]
    fn the_half_open_quota_admits_exactly_n_probes() {
        let mut b = CircuitBreaker::new(probes(3, 3), NoWindow);
        b.open(ms(0));
        let held: Vec<_> = (0..3).map(|_| b.acquire(ms(1_000)).unwrap()).collect();
        let r = b.acquire(ms(1_000)).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BreakerHalfOpenFull, None)
        );
        for p in held {
            b.record(ms(1_001), p, Outcome::Success);
        }
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn the_kth_successful_probe_closes() {
        // 3 probes, 2 needed: after 1 success still half-open, the 2nd closes
        let mut b = CircuitBreaker::new(probes(3, 2), NoWindow);
        b.open(ms(0));
        let (p1, p2) = (b.acquire(ms(1_000)).unwrap(), b.acquire(ms(1_000)).unwrap());
        b.record(ms(1_001), p1, Outcome::Success);
        assert_eq!(b.state(), State::HalfOpen);
        b.record(ms(1_002), p2, Outcome::Success);
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_time_window_drops_a_call_at_exactly_its_bucket_start_plus_the_window() {
        use failsafe_core::breaker::{Sample, TimeWindow};
        // 10 s in 10 buckets: a call at 0.5 s sits in the bucket [0, 1 s)
        let mut w = TimeWindow::<10>::new(Duration::from_secs(10)).unwrap();
        w.record(
            ms(500),
            Sample {
                failed: true,
                slow: false,
            },
        );
        assert_eq!(w.totals(ns(10 * SEC - 1)).calls, 1);
        assert_eq!(w.totals(ms(10_000)).calls, 0);
    }

    #[test]
    fn a_probe_lease_ends_at_exactly_its_instant() {
        // probe admitted at 1 s with a 5 s lease: a report 1 ns before 6 s counts
        let mut b = CircuitBreaker::new(probes(1, 1), NoWindow);
        b.open(ms(0));
        let p = b.acquire(ms(1_000)).unwrap();
        b.record(ns(6 * SEC - 1), p, Outcome::Success);
        assert_eq!(b.state(), State::Closed);
        // ... at exactly 6 s the lease has ended: the probe failed, its report is stale
        let mut b = CircuitBreaker::new(probes(1, 1), NoWindow);
        b.open(ms(0));
        let p = b.acquire(ms(1_000)).unwrap();
        b.record(ms(6_000), p, Outcome::Success);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.metrics(ms(6_000)).stale_outcomes, 1);
        assert_eq!(
            b.next_deadline(),
            Some(ms(7_000)),
            "reopened from the lease's end"
        );
    }
}

mod fail_fast {
    use super::*;
    use failsafe_core::failfast::{FailFast, FailFastConfig, State};
    use failsafe_core::timeout::Deadline;

    fn config() -> FailFastConfig {
        FailFastConfig::builder()
            .consecutive_failures(3)
            .expected_duration(Duration::from_millis(40))
            .safety_margin(Duration::from_millis(10))
            .build()
            .unwrap()
    }

    #[test]
    fn the_nth_consecutive_failure_opens() {
        let mut ff = FailFast::new(config());
        for t in 0..2 {
            let p = ff.acquire(ms(t), Deadline::NEVER).unwrap();
            ff.record(ms(t), p, Outcome::Failure);
        }
        assert_eq!(ff.state(), State::Closed);
        let p = ff.acquire(ms(2), Deadline::NEVER).unwrap();
        ff.record(ms(2), p, Outcome::Failure);
        assert_eq!(ff.state(), State::Open);
    }

    #[test]
    fn a_remaining_time_of_exactly_expected_plus_margin_is_admitted() {
        let mut ff = FailFast::new(config());
        let now = ms(1_000);
        // 40 ms + 10 ms = 50 ms needed
        let exact = Deadline::at(ns(1_000 * MS + 50 * MS));
        let short = Deadline::at(ns(1_000 * MS + 50 * MS - 1));
        let r = ff.acquire(now, short).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::DeadlineTooShort, None)
        );
        let p = ff.acquire(now, exact).expect("exactly enough time");
        ff.record(now, p, Outcome::Success);
        let p = ff
            .acquire(now, Deadline::at(ns(1_000 * MS + 50 * MS + 1)))
            .unwrap();
        ff.record(now, p, Outcome::Success);
    }

    #[test]
    fn a_call_at_exactly_the_probe_instant_is_the_probe() {
        let config = FailFastConfig::builder()
            .consecutive_failures(1)
            .probe_interval(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut ff = FailFast::new(config);
        let p = ff.acquire(ms(0), Deadline::NEVER).unwrap();
        ff.record(ms(0), p, Outcome::Failure);
        let r = ff.acquire(ns(10 * SEC - 1), Deadline::NEVER).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::FailFastOpen, Some(ms(10_000)))
        );
        let p = ff.acquire(ms(10_000), Deadline::NEVER).expect("the probe");
        ff.record(ms(10_001), p, Outcome::Success);
        assert_eq!(ff.state(), State::Closed);
    }

    #[test]
    fn a_deadline_exactly_at_now_is_rejected_even_with_nothing_expected() {
        let mut ff = FailFast::new(FailFastConfig::DEFAULT);
        let now = ms(1_000);
        let r = ff.acquire(now, Deadline::at(now)).unwrap_err();
        assert_eq!(r.reason, RejectReason::DeadlineTooShort);
        let p = ff
            .acquire(now, Deadline::at(ns(1_000 * MS + 1)))
            .expect("1 ns left");
        ff.record(now, p, Outcome::Success);
    }
}

mod rate {
    use super::*;
    use failsafe_core::rate::{FixedWindow, Gcra, Quota, TokenBucket};

    #[test]
    fn a_request_of_exactly_the_burst_is_granted_one_more_never_is() {
        let quota = Quota::per_second(1).unwrap().with_burst(5).unwrap();
        let mut g = Gcra::new(quota);
        let r = g.acquire(ms(0), 6).unwrap_err();
        assert_eq!(r.reason, RejectReason::RateInsufficientCapacity);
        assert!(g.acquire(ms(0), 5).is_ok());
        let r = g.acquire(ms(0), 1).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::RateLimited, Some(ms(1_000)))
        );
    }

    #[test]
    fn a_retry_at_exactly_retry_at_is_granted() {
        let mut g = Gcra::new(Quota::per_second(10).unwrap());
        g.acquire(ms(0), 1).unwrap();
        let at = g.acquire(ms(0), 1).unwrap_err().retry_at.unwrap();
        assert_eq!(at, ms(100));
        assert!(g.acquire(ns(100 * MS - 1), 1).is_err());
        assert!(g.acquire(at, 1).is_ok());

        let mut b = TokenBucket::new(2, 1, Duration::from_secs(1)).unwrap();
        b.acquire(ms(0), 2).unwrap();
        let at = b.acquire(ms(0), 1).unwrap_err().retry_at.unwrap();
        assert_eq!(at, ms(1_000));
        assert!(b.acquire(ns(SEC - 1), 1).is_err());
        assert!(b.acquire(at, 1).is_ok());

        let mut w = FixedWindow::new(2, Duration::from_secs(1)).unwrap();
        w.acquire(ms(0), 2).unwrap();
        let at = w.acquire(ms(0), 1).unwrap_err().retry_at.unwrap();
        assert_eq!(at, ms(1_000));
        assert!(w.acquire(ns(SEC - 1), 1).is_err());
        assert!(w.acquire(at, 1).is_ok());
    }

    #[test]
    fn a_token_bucket_and_a_window_grant_exactly_their_capacity() {
        let mut b = TokenBucket::new(3, 1, Duration::from_secs(1)).unwrap();
        assert_eq!(
            b.acquire(ms(0), 4).unwrap_err().reason,
            RejectReason::RateInsufficientCapacity
        );
        assert!(b.acquire(ms(0), 3).is_ok());
        let mut w = FixedWindow::new(3, Duration::from_secs(1)).unwrap();
        assert_eq!(
            w.acquire(ms(0), 4).unwrap_err().reason,
            RejectReason::RateInsufficientCapacity
        );
        assert!(w.acquire(ms(0), 3).is_ok());
    }

    #[test]
    fn a_reservation_waiting_exactly_max_wait_is_booked() {
        // 10/s: after one permit at 0 the next may start at 100 ms
        let wait = |max_wait: u64| {
            let mut g = Gcra::new(Quota::per_second(10).unwrap());
            g.acquire(ms(0), 1).unwrap();
            g.reserve(ms(0), 1, Duration::from_nanos(max_wait))
                .map(|r| r.start())
        };
        assert_eq!(wait(100 * MS), Ok(ms(100)));
        assert_eq!(wait(100 * MS + 1), Ok(ms(100)));
        let r = wait(100 * MS - 1).unwrap_err();
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::RateLimited, Some(ms(100)))
        );
    }
}

mod bulkhead {
    use super::*;
    use core::task::{Poll, Waker};
    use failsafe_core::bulkhead::{Bulkhead, BulkheadConfig, Ticket};

    fn config() -> BulkheadConfig {
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_millis(100))
            .build()
            .unwrap()
    }

    #[test]
    fn a_wait_of_exactly_max_wait_has_expired() {
        let mut b: Bulkhead<2> = Bulkhead::new(config());
        let held = b.try_acquire(ms(0)).unwrap();
        let mut ticket = Ticket::new();
        assert!(
            b.poll_acquire(ms(10), &mut ticket, Some(Waker::noop()))
                .is_pending()
        );
        assert_eq!(b.next_deadline(), Some(ms(110)));
        // 1 ns before: still waiting
        assert!(
            b.poll_acquire(ns(110 * MS - 1), &mut ticket, None)
                .is_pending()
        );
        // a slot freed at exactly 110 ms comes too late: the wait expired first
        b.release(ms(110), held, Outcome::Success);
        let Poll::Ready(Err(r)) = b.poll_acquire(ms(110), &mut ticket, None) else {
            panic!("the wait has expired")
        };
        assert_eq!(
            (r.reason, r.retry_at),
            (RejectReason::BulkheadWaitExpired, None)
        );
        assert_eq!(b.in_flight(), 0, "the freed slot went back to the pool");
    }

    #[test]
    fn a_slot_freed_one_nanosecond_before_max_wait_is_granted() {
        let mut b: Bulkhead<2> = Bulkhead::new(config());
        let held = b.try_acquire(ms(0)).unwrap();
        let mut ticket = Ticket::new();
        assert!(
            b.poll_acquire(ms(10), &mut ticket, Some(Waker::noop()))
                .is_pending()
        );
        b.release(ns(110 * MS - 1), held, Outcome::Success);
        let Poll::Ready(Ok(p)) = b.poll_acquire(ms(110), &mut ticket, None) else {
            panic!("granted before the wait expired")
        };
        b.release(ms(111), p, Outcome::Success);
    }

    #[test]
    fn a_queue_exactly_full_rejects_the_next_waiter() {
        // Q = 2 places: the 2nd waiter queues, the 3rd is turned away
        let mut b: Bulkhead<2> = Bulkhead::new(config());
        let _held = b.try_acquire(ms(0)).unwrap();
        let mut tickets = [Ticket::new(), Ticket::new(), Ticket::new()];
        assert!(b.poll_acquire(ms(1), &mut tickets[0], None).is_pending());
        assert!(b.poll_acquire(ms(1), &mut tickets[1], None).is_pending());
        assert_eq!(b.queued(), 2);
        let Poll::Ready(Err(r)) = b.poll_acquire(ms(1), &mut tickets[2], None) else {
            panic!("the queue is full")
        };
        assert_eq!(r.reason, RejectReason::BulkheadQueueFull);
    }

    #[test]
    fn exactly_max_concurrent_calls_are_admitted() {
        let config = BulkheadConfig::builder().max_concurrent(2).build().unwrap();
        let mut b: Bulkhead<1> = Bulkhead::new(config);
        let _a = b.try_acquire(ms(0)).unwrap();
        let _b = b.try_acquire(ms(0)).unwrap();
        let r = b.try_acquire(ms(0)).unwrap_err();
        assert_eq!(r.reason, RejectReason::BulkheadFull);
    }
}

mod retry {
    use super::*;
    use failsafe_core::retry::{
        BackoffKind, Decision, GiveUp, Jitter, NoBudget, Retry, RetryConfig, Verdict,
    };
    use failsafe_core::rng::Xorshift64;

    /// A constant 1 s backoff without jitter.
    fn builder() -> failsafe_core::retry::RetryConfigBuilder {
        RetryConfig::builder()
            .backoff(BackoffKind::Constant(Duration::from_secs(1)))
            .jitter(Jitter::None)
    }

    /// Fails the first attempt (started at 0) at `fail_at`: the retry is due 1 s later.
    fn after_one_failure(mut r: Retry, fail_at: Instant) -> Decision {
        r.start_attempt(ms(0), &mut NoBudget).unwrap();
        r.on_result(
            fail_at,
            Verdict::retry(),
            &mut Xorshift64::new(1),
            &mut NoBudget,
        )
    }

    #[test]
    fn a_retry_starting_exactly_at_max_elapsed_is_made() {
        let config = builder()
            .max_elapsed(Duration::from_secs(3))
            .build()
            .unwrap();
        // retry due at 3 s = exactly max_elapsed after the start: made
        let d = after_one_failure(Retry::new(config, ms(0)), ms(2_000));
        assert_eq!(
            d,
            Decision::RetryAt {
                at: ms(3_000),
                delay: Duration::from_secs(1)
            }
        );
        // due 1 ns later: gives up
        let d = after_one_failure(Retry::new(config, ms(0)), ns(2 * SEC + 1));
        assert_eq!(d, Decision::GiveUp(GiveUp::Elapsed));
    }

    #[test]
    fn a_retry_due_exactly_at_the_deadline_is_not_made() {
        let config = builder().build().unwrap();
        // retry due at 3 s, deadline at 3 s: it would start at the deadline
        let d = after_one_failure(
            Retry::new(config, ms(0)).with_deadline(ms(3_000)),
            ms(2_000),
        );
        assert_eq!(d, Decision::GiveUp(GiveUp::Deadline));
        // deadline 1 ns later: made
        let d = after_one_failure(
            Retry::new(config, ms(0)).with_deadline(ns(3 * SEC + 1)),
            ms(2_000),
        );
        assert!(matches!(d, Decision::RetryAt { .. }));
    }

    #[test]
    fn a_retry_leaving_exactly_min_remaining_is_made() {
        let config = builder()
            .min_remaining(Duration::from_millis(500))
            .build()
            .unwrap();
        let retry = |deadline: Instant| {
            after_one_failure(Retry::new(config, ms(0)).with_deadline(deadline), ms(2_000))
        };
        // due at 3 s: a deadline at 3.5 s leaves exactly 500 ms
        assert!(matches!(retry(ms(3_500)), Decision::RetryAt { .. }));
        assert_eq!(
            retry(ns(3_500 * MS - 1)),
            Decision::GiveUp(GiveUp::Deadline)
        );
    }

    #[test]
    fn starting_exactly_at_the_deadline_gives_up() {
        let config = builder().build().unwrap();
        let mut r = Retry::new(config, ms(0)).with_deadline(ms(1_000));
        assert_eq!(
            r.start_attempt(ms(1_000), &mut NoBudget),
            Err(GiveUp::Deadline)
        );
        let mut r = Retry::new(config, ms(0)).with_deadline(ms(1_000));
        assert_eq!(r.start_attempt(ns(SEC - 1), &mut NoBudget), Ok(1));
    }

    #[test]
    fn exactly_max_attempts_are_made() {
        let config = builder().max_attempts(2).build().unwrap();
        let mut r = Retry::new(config, ms(0));
        let mut rng = Xorshift64::new(1);
        assert_eq!(r.start_attempt(ms(0), &mut NoBudget), Ok(1));
        let d = r.on_result(ms(0), Verdict::retry(), &mut rng, &mut NoBudget);
        assert!(
            matches!(d, Decision::RetryAt { .. }),
            "attempt 2 of 2 is allowed"
        );
        assert_eq!(r.start_attempt(ms(1_000), &mut NoBudget), Ok(2));
        let d = r.on_result(ms(1_000), Verdict::retry(), &mut rng, &mut NoBudget);
        assert_eq!(d, Decision::GiveUp(GiveUp::Attempts), "no attempt 3");
    }
}

mod timeout {
    use super::*;
    use failsafe_core::timeout::{Deadline, Timeout, TimeoutConfig, TimeoutMode};

    #[test]
    fn a_call_ending_exactly_at_its_deadline_has_timed_out() {
        let config = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
        let mut t = Timeout::start(config, ms(0), Deadline::NEVER);
        let f = t.finish(ns(SEC - 1), Outcome::Success);
        assert_eq!((f.outcome, f.late), (Outcome::Success, false));
        let mut t = Timeout::start(config, ms(0), Deadline::NEVER);
        let f = t.finish(ms(1_000), Outcome::Success);
        assert_eq!((f.outcome, f.late), (Outcome::Timeout, true));
        // soft: keeps the outcome, flags it late
        let mut t = Timeout::start(config.mode(TimeoutMode::Soft), ms(0), Deadline::NEVER);
        let f = t.finish(ms(1_000), Outcome::Success);
        assert_eq!((f.outcome, f.late), (Outcome::Success, true));
    }

    #[test]
    fn a_deadline_has_passed_at_exactly_its_instant() {
        let d = Deadline::at(ms(1_000));
        assert!(!d.is_expired(ns(SEC - 1)));
        assert!(d.is_expired(ms(1_000)));
        assert_eq!(d.remaining(ns(SEC - 1)), Duration::from_nanos(1));
        assert_eq!(d.remaining(ms(1_000)), Duration::ZERO);
    }
}
