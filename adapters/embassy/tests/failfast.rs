//! A fail fast in a `static`, on embassy-time's real `std` driver.
//!
//! No test waits on real time or depends on how much of it passed: open
//! fail fasts do not recover by time, deadlines are far shorter than the
//! configured durations, and the one timeline that needs time to pass (a
//! probe interval) hands the core explicit instants. Timelines on the mock
//! clock live in `mock-time-tests/tests/failfast_timeline.rs`.

use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use failsafe_embassy::SharedAdmission;
use failsafe_embassy::driver::admission::{Call, Entry};
use failsafe_embassy::{
    Clock, CloseCause, CsLock, Deadline, EmbassyClock, EmbassyPolicy, Error, FailFast,
    FailFastConfig, FailFastEvent, FailFastPolicy, FailFastState, FnObserver, MutexLock, OpenCause,
    Outcome, RejectReason, fail_fast, from_lock,
};
use futures_lite::future::{block_on, poll_once};

const fn failures(n: u32) -> FailFastConfig {
    failsafe_embassy::checked(FailFastConfig::builder().consecutive_failures(n).build())
}

fn now() -> failsafe_embassy::Instant {
    EmbassyClock.now()
}

fn reason<T: core::fmt::Debug, E: core::fmt::Debug>(r: Result<T, Error<E>>) -> RejectReason {
    r.unwrap_err().rejected().expect("a rejection").reason
}

#[test]
fn a_static_fail_fast_opens_after_failures_and_stays_open_until_healthy() {
    static SENSOR: FailFastPolicy = fail_fast(failures(3));
    static CALLS: AtomicU32 = AtomicU32::new(0);
    async fn read(ok: bool) -> Result<u16, &'static str> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        if ok { Ok(421) } else { Err("nack") }
    }
    block_on(async {
        for _ in 0..3 {
            assert_eq!(SENSOR.call(|| read(false)).await, Err(Error::Inner("nack")));
        }
        assert_eq!(SENSOR.shared().with(|ff| ff.state()), FailFastState::Open);
        for _ in 0..5 {
            let r = SENSOR.call(|| read(true)).await;
            let rejected = *r.unwrap_err().rejected().unwrap();
            assert_eq!(
                (rejected.reason, rejected.retry_at),
                (RejectReason::FailFastOpen, None)
            );
        }
        assert_eq!(
            CALLS.load(Ordering::SeqCst),
            3,
            "an open fail fast read the sensor"
        );
        assert_eq!(
            SENSOR.next_deadline(),
            None,
            "nothing happens by time alone"
        );
        SENSOR.on_deadline();
        assert_eq!(SENSOR.shared().with(|ff| ff.state()), FailFastState::Open);

        SENSOR.shared().with(|ff| ff.report_healthy(now()));
        assert_eq!(SENSOR.call(|| read(true)).await, Ok(421));
        let m = SENSOR.shared().metrics();
        assert_eq!((m.times_opened, m.rejected_open), (1, 5));
    });
}

#[test]
fn manual_switches_and_reports_reach_a_static_observer() {
    static EVENTS: std::sync::Mutex<Vec<FailFastEvent>> = std::sync::Mutex::new(Vec::new());
    fn log(event: FailFastEvent) {
        if matches!(
            event,
            FailFastEvent::Opened { .. } | FailFastEvent::Closed { .. }
        ) {
            EVENTS.lock().unwrap().push(event);
        }
    }
    static LINK: FailFastPolicy<FnObserver<fn(FailFastEvent)>> = from_lock(CsLock::new(
        FailFast::with_observer(failures(5), FnObserver(log as fn(FailFastEvent))),
    ));

    LINK.shared().with(|ff| ff.open(now()));
    assert_eq!(
        reason(LINK.call_blocking(|| Ok::<_, ()>(()))),
        RejectReason::FailFastOpen
    );
    LINK.shared().with(|ff| ff.close(now()));
    assert_eq!(LINK.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    LINK.shared().with(|ff| ff.report_unhealthy(now()));
    LINK.shared().with(|ff| ff.report_healthy(now()));
    let causes: Vec<_> = EVENTS
        .lock()
        .unwrap()
        .iter()
        .map(|e| match *e {
            FailFastEvent::Opened { cause, .. } => Ok(cause),
            FailFastEvent::Closed { cause, .. } => Err(cause),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        causes,
        [
            Ok(OpenCause::Manual),
            Err(CloseCause::Manual),
            Ok(OpenCause::Unhealthy),
            Err(CloseCause::Healthy),
        ]
    );
}

#[test]
fn a_predicate_over_the_result_opens_at_once() {
    static MODEM: FailFastPolicy = fail_fast(failures(100));
    // NO CARRIER says the link is gone: unhealthy, open now.
    let no_carrier = |r: &Result<(), &str>| match r {
        Err("NO CARRIER") => Outcome::Unhealthy,
        Err(_) => Outcome::Failure,
        Ok(()) => Outcome::Success,
    };
    block_on(async {
        let r = MODEM.call_with(&no_carrier, || async { Err("BUSY") }).await;
        assert_eq!(r, Err(Error::Inner("BUSY")));
        assert_eq!(MODEM.shared().with(|ff| ff.state()), FailFastState::Closed);
        let r = MODEM
            .call_with(&no_carrier, || async { Err("NO CARRIER") })
            .await;
        assert_eq!(r, Err(Error::Inner("NO CARRIER")));
        let m = MODEM.shared().metrics();
        assert_eq!(m.open_cause, Some(OpenCause::Unhealthy));
        let r = MODEM.call_with(&no_carrier, || async { Ok(()) }).await;
        assert_eq!(reason(r), RejectReason::FailFastOpen);
    });
}

#[test]
fn a_deadline_that_cannot_cover_the_call_is_rejected_without_calling() {
    // An hour-long erase never fits a minute, however slow this test runs.
    static FLASH: FailFastPolicy = fail_fast(failsafe_embassy::checked(
        FailFastConfig::builder()
            .expected_duration(Duration::from_secs(3_600))
            .build(),
    ));
    let calls = AtomicU32::new(0);
    let erase = || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, ()>(()) }
    };
    block_on(async {
        let minute = Deadline::after(EmbassyClock.now(), Duration::from_secs(60));
        let within_a_minute = FLASH.by_ref().with_deadline(minute);
        let r = within_a_minute.call(erase).await;
        assert_eq!(reason(r), RejectReason::DeadlineTooShort);
        let r = within_a_minute.call_blocking(|| Ok::<_, ()>(()));
        assert_eq!(reason(r), RejectReason::DeadlineTooShort);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // no deadline: admitted
        assert_eq!(FLASH.call(erase).await, Ok(()));
        let min_remaining = FLASH.shared().with(|ff| ff.min_remaining());
        assert_eq!(min_remaining, Duration::from_secs(3_600));
        assert_eq!(FLASH.shared().metrics().rejected_deadline, 2);
    });
}

#[test]
fn a_learned_duration_and_one_probe_per_interval_on_explicit_instants() {
    // The core treats an instant behind one it has seen as "no time
    // passed", so this timeline runs ahead of the real clock on the
    // admission contract, at explicit instants.
    static PEER: FailFastPolicy = fail_fast(failsafe_embassy::checked(
        FailFastConfig::builder()
            .consecutive_failures(1)
            .probe_interval(Duration::from_secs(10))
            .learn_expected_duration(1)
            .build(),
    ));
    let t0 = EmbassyClock.now() + Duration::from_secs(1_000);
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    // The admission contract at an explicit instant.
    let enter = |ms: u64, deadline: Deadline| match PEER
        .shared()
        .enter(&Call::at(at(ms)).with_deadline(deadline), None)
    {
        Entry::Admitted(permit) => Ok(permit),
        Entry::Rejected(rejected) => Err(rejected),
        Entry::Pending { wait, .. } => match wait {},
    };
    let exit = |ms: u64, permit, outcome| PEER.shared().exit(at(ms), permit, outcome);
    let p = enter(0, Deadline::NEVER).unwrap();
    exit(250, p, Outcome::Success);
    let min_remaining = PEER.shared().with(|ff| ff.min_remaining());
    assert_eq!(min_remaining, Duration::from_millis(250));
    let tight = Deadline::at(at(1_249));
    assert_eq!(
        enter(1_000, tight).unwrap_err().reason,
        RejectReason::DeadlineTooShort
    );

    let p = enter(2_000, Deadline::NEVER).unwrap();
    exit(2_000, p, Outcome::Failure);
    assert_eq!(PEER.shared().with(|ff| ff.state()), FailFastState::Open);
    let r = enter(11_999, Deadline::NEVER).unwrap_err();
    assert_eq!(r.retry_at, Some(at(12_000)));
    let probe = enter(12_000, Deadline::NEVER).unwrap();
    assert!(probe.is_probe());
    let r = enter(12_001, Deadline::NEVER).unwrap_err();
    assert_eq!(
        r.reason,
        RejectReason::FailFastOpen,
        "one probe per interval"
    );
    assert_eq!(r.retry_at, None, "the probe is out: it may close it sooner");
    exit(12_100, probe, Outcome::Success);
    assert_eq!(PEER.shared().with(|ff| ff.state()), FailFastState::Closed);
    assert_eq!(PEER.shared().metrics().probes_admitted, 1);
}

#[test]
fn a_dropped_call_is_cancelled_and_leaves_the_streak_alone() {
    // The spelling before lock kinds (the full lock type) names the same type.
    static BUS: FailFastPolicy<(), MutexLock<CriticalSectionRawMutex, FailFast>> =
        from_lock(MutexLock::new(FailFast::new(failures(2))));
    block_on(async {
        let _ = BUS.call(|| async { Err::<(), _>("nack") }).await;
        {
            let mut hung = pin!(BUS.call(core::future::pending::<Result<(), &str>>));
            assert!(poll_once(hung.as_mut()).await.is_none());
        } // dropped mid-call
        let m = BUS.shared().metrics();
        assert_eq!(
            (m.state, m.consecutive_failures),
            (FailFastState::Closed, 1)
        );
        let _ = BUS.call(|| async { Err::<(), _>("nack") }).await;
        assert_eq!(BUS.shared().with(|ff| ff.state()), FailFastState::Open);
    });
}

#[test]
fn a_guard_serves_a_static_fail_fast() {
    static DMA: FailFastPolicy = fail_fast(failures(1));
    let guard = DMA.try_acquire().unwrap();
    drop(guard); // cancelled: counts neither way
    assert_eq!(DMA.shared().with(|ff| ff.state()), FailFastState::Closed);
    block_on(async {
        assert_eq!(DMA.call(|| async { Ok::<_, ()>(5) }).await, Ok(5));
    });
    DMA.try_acquire().unwrap().finish(Outcome::Timeout);
    let m = DMA.shared().metrics();
    assert_eq!(m.open_cause, Some(OpenCause::ConsecutiveFailures));
    block_on(async {
        let r = DMA.call(|| async { Ok::<_, ()>(5) }).await;
        assert_eq!(reason(r), RejectReason::FailFastOpen);
    });
}
