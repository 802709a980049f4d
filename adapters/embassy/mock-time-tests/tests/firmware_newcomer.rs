//! A firmware newcomer's probes (a fresh helper's review, 2026-12-01; all pass): `static` handles on
//! embassy's mock time driver. Every scenario takes `CLOCK` (the mock
//! clock is process-wide) and works on instants relative to the clock's
//! reading when it starts, so the scenarios may run in any order.

mod common;

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;
use core::time::Duration;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard};

use common::{advance_to, hang, just_before, millis, now, run_until_idle};
use embassy_time::Timer;
use failsafe_embassy::driver::toggle_machine::Window;
use failsafe_embassy::{
    Attempt, BackoffKind, BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy,
    Deadline, EmbassyClock, EmbassyPolicy, Error, FailFastConfig, FailFastPolicy, Flag, FlagSpec,
    FlagTable, Instant, Jitter, NoWindow, Pipeline, Quota, RateLimiterPolicy, RejectReason,
    RetryConfig, State, TimeoutConfig, Toggle, ToggleConfig, WakeAt, bulkhead, checked,
    circuit_breaker, fail_fast, pipeline, rate_limiter,
};

static CLOCK: Mutex<()> = Mutex::new(());

fn clock() -> MutexGuard<'static, ()> {
    CLOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn after(ms: u64) -> Instant {
    now().saturating_add(millis(ms))
}

fn in_flight<const Q: usize>(pool: &BulkheadPolicy<Q>) -> (u32, usize) {
    pool.shared().with(|b| (b.in_flight(), b.queued()))
}

// ---------------------------------------------------------------- bulkhead

/// A queued call granted the slot by a release, then dropped before it is
/// polled again (its task cancelled by a `select`): the slot goes back.
#[test]
fn bulkhead_a_granted_waiter_dropped_before_its_poll_gives_the_slot_back() {
    let _c = clock();
    static POOL: BulkheadPolicy<4> = bulkhead(checked(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(1))
            .build(),
    ));
    let held = POOL.try_acquire().unwrap();
    {
        let mut waiter = pin!(POOL.call(|| async { Ok::<_, ()>(()) }));
        assert!(run_until_idle(waiter.as_mut()).is_pending());
        assert_eq!(in_flight(&POOL), (1, 1));
        drop(held); // grants the slot to the waiter
        // dropped here, never polled again
    }
    assert_eq!(in_flight(&POOL), (0, 0), "the granted slot leaked");
    assert!(POOL.try_acquire().is_ok());
}

/// A panicking operation (the closure itself, and its future) never keeps
/// a bulkhead slot: `call`, `call_blocking`, and a pipeline.
#[test]
fn bulkhead_a_panicking_closure_never_leaks_a_slot() {
    let _c = clock();
    static POOL: BulkheadPolicy<2> =
        bulkhead(checked(BulkheadConfig::builder().max_concurrent(1).build()));
    static LINE: Pipeline<&BulkheadPolicy<2>> = pipeline(&POOL);

    // the closure panics before making its future
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut call =
            pin!(POOL.call(|| -> core::future::Ready<Result<(), ()>> { panic!("boom") }));
        let _ = run_until_idle(call.as_mut());
    }));
    assert!(r.is_err());
    assert_eq!(in_flight(&POOL), (0, 0), "call: closure panic");

    // the future panics when polled
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut call = pin!(POOL.call(|| async { panic!("boom") as Result<(), ()> }));
        let _ = run_until_idle(call.as_mut());
    }));
    assert!(r.is_err());
    assert_eq!(in_flight(&POOL), (0, 0), "call: future panic");

    // call_blocking (an interrupt handler)
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = POOL.call_blocking(|| -> Result<(), ()> { panic!("boom") });
    }));
    assert!(r.is_err());
    assert_eq!(in_flight(&POOL), (0, 0), "call_blocking");

    // a pipeline attempt
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut call = pin!(LINE.call(|_| async { panic!("boom") as Result<(), ()> }));
        let _ = run_until_idle(call.as_mut());
    }));
    assert!(r.is_err());
    assert_eq!(in_flight(&POOL), (0, 0), "pipeline");
    let m = POOL.shared().metrics();
    assert_eq!(m.in_flight, 0);
}

// ---------------------------------------------------------------- pipeline

/// A pipeline attempt holding a half-open breaker's only probe while it
/// waits in a bulkhead's queue, dropped: the probe and the place go back.
#[test]
fn pipeline_dropped_while_queued_gives_back_the_probe_and_the_place() {
    let _c = clock();
    static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(
        &checked(
            BreakerConfig::builder()
                .consecutive_failures(1)
                .open_wait(Duration::from_millis(100))
                .half_open_probes(1)
                .success_threshold(1)
                .build(),
        ),
        NoWindow,
    );
    static POOL: BulkheadPolicy<4> = bulkhead(checked(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(10))
            .build(),
    ));
    static LINE: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &BulkheadPolicy<4>)> =
        pipeline((&BREAKER, &POOL));

    let _ = futures_lite::future::block_on(BREAKER.call(|| async { Err::<(), _>("down") }));
    assert_eq!(BREAKER.shared().state(), State::Open);
    advance_to(after(100));
    let slot = POOL.try_acquire().unwrap();
    {
        let mut call = pin!(LINE.call(|_| async { Ok::<_, ()>(()) }));
        assert!(run_until_idle(call.as_mut()).is_pending());
        assert_eq!(in_flight(&POOL), (1, 1), "queued in the pool");
        assert_eq!(BREAKER.shared().state(), State::HalfOpen);
        // the probe is out: another call is refused
        assert_eq!(
            BREAKER.try_acquire().map(drop).unwrap_err().reason,
            RejectReason::BreakerHalfOpenFull
        );
    }
    assert_eq!(in_flight(&POOL), (1, 0), "the place went back");
    let probe = BREAKER.try_acquire();
    assert!(probe.is_ok(), "the probe went back: {probe:?}");
    drop(probe);
    drop(slot);
}

/// The overall timeout cuts a hanging call at exactly `start + overall`
/// (not a microsecond early), as `Error::Timeout`, and drops the operation.
#[test]
fn pipeline_overall_timeout_cuts_exactly() {
    let _c = clock();
    static LINE: Pipeline<()> = pipeline(()).timeout(Duration::from_millis(200));
    static DROPS: AtomicU32 = AtomicU32::new(0);
    let start = now();
    let mut call = pin!(LINE.call(|_| hang::<Result<(), ()>>(&DROPS)));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(just_before(start.saturating_add(millis(200))));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(start.saturating_add(millis(200)));
    let Poll::Ready(Err(e)) = run_until_idle(call.as_mut()) else {
        panic!("not cut at its deadline");
    };
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}

/// A retry around a limiter that rejects (max wait zero) comes back at the
/// limiter's `retry_at`, not earlier, and is admitted there.
#[test]
fn pipeline_retry_waits_for_the_limiter_retry_at() {
    let _c = clock();
    static RADIO: RateLimiterPolicy = rate_limiter(checked(Quota::per_second(10)), Duration::ZERO);
    static LINE: Pipeline<&RateLimiterPolicy> = pipeline(&RADIO).retry(checked(
        RetryConfig::builder()
            .max_attempts(2)
            .backoff(BackoffKind::Constant(Duration::from_millis(1)))
            .jitter(Jitter::None)
            .build(),
    ));
    static STARTS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
    // spend the burst
    let first = RADIO.try_acquire();
    let t0 = now();
    let spent = first.is_ok();
    drop(first);
    assert!(spent);
    let rejected = RADIO.try_acquire().map(drop).unwrap_err();
    let at = rejected.retry_at.expect("a limiter says when");
    assert!(at > t0);
    let mut call = pin!(LINE.call(|_| {
        STARTS.lock().unwrap().push(now());
        async { Ok::<_, ()>(()) }
    }));
    assert!(
        run_until_idle(call.as_mut()).is_pending(),
        "waits for retry_at"
    );
    advance_to(just_before(at));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(at);
    assert_eq!(run_until_idle(call.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(*STARTS.lock().unwrap(), [at]);
}

// ---------------------------------------------------------------- limiter

/// `rejected.wake_at()` handed to `Timer::at` fires exactly when the limiter
/// admits; one microsecond earlier it still refuses.
#[test]
fn limiter_wake_at_is_exactly_when_it_admits() {
    let _c = clock();
    static RADIO: RateLimiterPolicy = rate_limiter(checked(Quota::per_second(3)), Duration::ZERO);
    drop(RADIO.try_acquire().unwrap());
    let rejected = RADIO.try_acquire().map(drop).unwrap_err();
    assert_eq!(rejected.reason, RejectReason::RateLimited);
    let wake = rejected.wake_at().expect("says when");
    assert_eq!(Some(wake), EmbassyClock::retry_at(&rejected));
    let core_at = EmbassyClock::to_core(wake);
    assert!(core_at >= rejected.retry_at.unwrap());
    let mut timer = pin!(Timer::at(wake));
    assert!(run_until_idle(timer.as_mut()).is_pending());
    advance_to(just_before(core_at));
    assert!(run_until_idle(timer.as_mut()).is_pending());
    assert!(RADIO.try_acquire().is_err(), "1 µs early");
    advance_to(core_at);
    assert!(run_until_idle(timer.as_mut()).is_ready());
    assert!(RADIO.try_acquire().is_ok(), "admitted when the timer fires");
}

/// A weight larger than the burst is "never": `wake_at()` says `None`.
#[test]
fn limiter_weight_beyond_burst_is_never() {
    let _c = clock();
    static RADIO: RateLimiterPolicy = rate_limiter(
        checked(Quota::builder().per_second(10).burst(2).build()),
        Duration::ZERO,
    );
    let r = RADIO
        .by_ref()
        .with_weight(3)
        .try_acquire()
        .map(drop)
        .unwrap_err();
    assert!(r.is_never(), "{r:?}");
    assert_eq!(r.wake_at(), None);
}

// ---------------------------------------------------------------- fail fast

/// A fail fast in a `static` rejects a call whose deadline is shorter than
/// its expected duration, without running it.
#[test]
fn fail_fast_rejects_a_too_short_deadline() {
    let _c = clock();
    static FF: FailFastPolicy = fail_fast(checked(
        FailFastConfig::builder()
            .consecutive_failures(2)
            .expected_duration(Duration::from_millis(100))
            .build(),
    ));
    let deadline = Deadline::at(after(50));
    let short = FF.by_ref().with_deadline(deadline);
    let mut call = pin!(short.call(|| async { Ok::<_, ()>(1) }));
    match run_until_idle(call.as_mut()) {
        Poll::Ready(Err(Error::Rejected(r))) => {
            assert_eq!(r.reason, RejectReason::DeadlineTooShort)
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- toggle

const PROMO_WINDOW: &[Window] = &[checked(Window::new(
    Instant::from_secs(500),
    Instant::from_secs(600),
))];
static FLAGS: FlagTable<1, 2> = FlagTable::new(checked(ToggleConfig::new(
    7,
    [FlagSpec::new("promo").windows(PROMO_WINDOW)],
)));
static PROMO: Toggle<'static, EmbassyClock, 1, 2> = Toggle::new(EmbassyClock, &FLAGS, Flag::at(0));

/// A scheduled flag in a `static`, on embassy's clock: off before its
/// window, on from its start exactly (woken by `Timer::at` of
/// `next_deadline()`), off from its end.
#[test]
fn toggle_window_on_the_mock_clock() {
    let _c = clock();
    if now() >= Instant::from_secs(499) {
        return; // another scenario ran the clock past the window
    }
    assert_eq!(
        futures_lite::future::block_on(PROMO.call(&(), || async { 1 }, || async { 0 })),
        0
    );
    let next = FLAGS.next_deadline().expect("the window's start");
    assert_eq!(next, Instant::from_secs(500));
    let mut timer = pin!(Timer::at(next.wake_at().unwrap()));
    advance_to(just_before(next));
    assert!(run_until_idle(timer.as_mut()).is_pending());
    assert_eq!(PROMO.call_blocking(&(), || 1, || 0), 0);
    advance_to(next);
    assert!(run_until_idle(timer.as_mut()).is_ready());
    assert_eq!(PROMO.call_blocking(&(), || 1, || 0), 1);
    advance_to(Instant::from_secs(600));
    assert_eq!(PROMO.call_blocking(&(), || 1, || 0), 0);
}

// ---------------------------------------------------------------- retry + attempt timeout

/// An attempt timeout in a `static` pipeline also bounds the wait for
/// admission: an attempt queued in a full bulkhead is cut at its deadline
/// and reported as a timeout (not as a bulkhead rejection).
#[test]
fn pipeline_attempt_timeout_bounds_the_queue_wait() {
    let _c = clock();
    static POOL: BulkheadPolicy<2> = bulkhead(checked(
        BulkheadConfig::builder()
            .max_concurrent(1)
            .max_wait(Duration::from_secs(10))
            .build(),
    ));
    static LINE: Pipeline<&BulkheadPolicy<2>> =
        pipeline(&POOL).attempt_timeout(checked(TimeoutConfig::new(Duration::from_millis(50))));
    let slot = POOL.try_acquire().unwrap();
    let start = now();
    let mut call = pin!(LINE.call(|_: Attempt| async { Ok::<_, ()>(()) }));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(just_before(start.saturating_add(millis(50))));
    assert!(run_until_idle(call.as_mut()).is_pending());
    advance_to(start.saturating_add(millis(50)));
    let Poll::Ready(Err(e)) = run_until_idle(call.as_mut()) else {
        panic!("not cut at the attempt deadline");
    };
    assert!(e.is_timeout(), "{e:?}");
    assert_eq!(in_flight(&POOL), (1, 0));
    drop(slot);
}

/// A pipeline call holding a half-open breaker's probe while it waits for
/// a limiter's booking, dropped: the probe goes back and so does the
/// booking (nobody booked after it), so the next permit is on time.
#[test]
fn pipeline_dropped_while_booked_gives_back_the_probe_and_the_booking() {
    let _c = clock();
    static BREAKER: CircuitBreakerPolicy<NoWindow> = circuit_breaker(
        &checked(
            BreakerConfig::builder()
                .consecutive_failures(1)
                .open_wait(Duration::from_millis(100))
                .half_open_probes(1)
                .success_threshold(1)
                .build(),
        ),
        NoWindow,
    );
    static RADIO: RateLimiterPolicy =
        rate_limiter(checked(Quota::per_second(10)), Duration::from_secs(1));
    static LINE: Pipeline<(&CircuitBreakerPolicy<NoWindow>, &RateLimiterPolicy)> =
        pipeline((&BREAKER, &RADIO));

    let _ = futures_lite::future::block_on(BREAKER.call(|| async { Err::<(), _>("down") }));
    advance_to(after(100));
    drop(RADIO.try_acquire().unwrap()); // the burst is spent: next permit in 100 ms
    let t0 = now();
    {
        let mut call = pin!(LINE.call(|_| async { Ok::<_, ()>(()) }));
        assert!(
            run_until_idle(call.as_mut()).is_pending(),
            "waits for its booking"
        );
        assert_eq!(
            BREAKER.try_acquire().map(drop).unwrap_err().reason,
            RejectReason::BreakerHalfOpenFull
        );
    }
    let probe = BREAKER.try_acquire();
    assert!(probe.is_ok(), "the probe went back: {probe:?}");
    drop(probe);
    advance_to(t0.saturating_add(millis(100)));
    assert!(RADIO.try_acquire().is_ok(), "the booking went back");
}

// ---------------------------------------------------------------- pipeline parts

/// A `static` pipeline can take a retry budget and a retry observer
/// (`Pipeline::from_parts`, `const`): a budget with room for one retry
/// lets one through, then the call gives up on the budget, and the
/// observer saw it all.
#[test]
fn a_static_pipeline_takes_a_retry_budget_and_an_observer() {
    use failsafe_embassy::{CsLock, FnObserver, GiveUp, RetryEvent, TokenQuota};

    let _c = clock();
    // room for one retry: capacity 5, a failed attempt's retry costs 5
    static BUDGET: CsLock<TokenQuota> = CsLock::new(checked(TokenQuota::new(5, 5, 5, 5, 0)));
    static EVENTS: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
    fn note(e: RetryEvent) {
        EVENTS.lock().unwrap().push(e);
    }
    // the budget's lock and machine, then the retry observer
    type Line = Pipeline<(), &'static CsLock<TokenQuota>, TokenQuota, Noted>;
    type Noted = FnObserver<fn(RetryEvent)>;
    static LINE: Line = Line::from_parts(
        EmbassyClock,
        (),
        &BUDGET,
        FnObserver(note as fn(RetryEvent)),
        (),
        (),
    )
    .retry(checked(
        RetryConfig::builder()
            .max_attempts(5)
            .backoff(BackoffKind::Constant(Duration::from_millis(1)))
            .jitter(Jitter::None)
            .build(),
    ));
    static ATTEMPTS: AtomicU32 = AtomicU32::new(0);
    let mut call = pin!(LINE.call(|_| {
        ATTEMPTS.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    }));
    assert!(run_until_idle(call.as_mut()).is_pending(), "backs off once");
    advance_to(after(1));
    let Poll::Ready(Err(e)) = run_until_idle(call.as_mut()) else {
        panic!("the budget did not end the call");
    };
    assert_eq!(e.inner(), Some(&"down"));
    assert_eq!(ATTEMPTS.load(Ordering::SeqCst), 2, "one retry, as budgeted");
    let events = EVENTS.lock().unwrap();
    assert!(
        matches!(
            events.last(),
            Some(RetryEvent::GaveUp {
                reason: GiveUp::Budget,
                attempts: 2,
                ..
            })
        ),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, RetryEvent::RetryScheduled { .. }))
            .count(),
        1
    );
}
