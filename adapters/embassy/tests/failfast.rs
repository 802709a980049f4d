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
use failsafe_embassy::{
    Clock, CloseCause, Deadline, DefaultClassifier, EmbassyClock, Error, FailFast, FailFastConfig,
    FailFastEvent, FailFastMachine, FailFastState, FnObserver, Health, MutexLock, OpenCause,
    RejectReason, UnhealthyWhen,
};
use futures_lite::future::{block_on, poll_once};

const fn failures(n: u32) -> FailFastConfig {
    FailFastConfig::builder()
        .consecutive_failures(n)
        .build_or_panic()
}

fn reason<T: core::fmt::Debug, E: core::fmt::Debug>(r: Result<T, Error<E>>) -> RejectReason {
    r.unwrap_err().rejected().expect("a rejection").reason
}

#[test]
fn a_static_fail_fast_opens_after_failures_and_stays_open_until_healthy() {
    static SENSOR: FailFast = FailFast::new(failures(3));
    static CALLS: AtomicU32 = AtomicU32::new(0);
    async fn read(ok: bool) -> Result<u16, &'static str> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        if ok { Ok(421) } else { Err("nack") }
    }
    block_on(async {
        for _ in 0..3 {
            assert_eq!(SENSOR.call(|| read(false)).await, Err(Error::Inner("nack")));
        }
        assert_eq!(SENSOR.state(), FailFastState::Open);
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
        assert_eq!(SENSOR.state(), FailFastState::Open);

        SENSOR.report_healthy();
        assert_eq!(SENSOR.call(|| read(true)).await, Ok(421));
        let m = SENSOR.metrics();
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
    static LINK: FailFast<FnObserver<fn(FailFastEvent)>> =
        FailFast::with_observer(failures(5), FnObserver(log as fn(FailFastEvent)));

    LINK.open();
    assert_eq!(
        reason(LINK.call_blocking(|| Ok::<_, ()>(()))),
        RejectReason::FailFastOpen
    );
    LINK.close();
    assert_eq!(LINK.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    LINK.report_unhealthy();
    LINK.report_healthy();
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
    static MODEM: FailFast = FailFast::new(failures(100));
    let no_carrier = UnhealthyWhen(|r: &Result<(), &str>| *r == Err("NO CARRIER"));
    block_on(async {
        let r = MODEM.call_with(&no_carrier, || async { Err("BUSY") }).await;
        assert_eq!(r, Err(Error::Inner("BUSY")));
        assert_eq!(MODEM.state(), FailFastState::Closed);
        let r = MODEM
            .call_with(&no_carrier, || async { Err("NO CARRIER") })
            .await;
        assert_eq!(r, Err(Error::Inner("NO CARRIER")));
        assert_eq!(MODEM.metrics().open_cause, Some(OpenCause::Unhealthy));
    });
}

#[test]
fn a_deadline_that_cannot_cover_the_call_is_rejected_without_calling() {
    // An hour-long erase never fits a minute, however slow this test runs.
    static FLASH: FailFast = FailFast::new(
        FailFastConfig::builder()
            .expected_duration(Duration::from_secs(3_600))
            .build_or_panic(),
    );
    let calls = AtomicU32::new(0);
    let erase = || {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, ()>(()) }
    };
    block_on(async {
        let minute = Deadline::after(EmbassyClock.now(), Duration::from_secs(60));
        let r = FLASH
            .call_with_deadline(minute, &DefaultClassifier, erase)
            .await;
        assert_eq!(reason(r), RejectReason::DeadlineTooShort);
        let r = FLASH.call_blocking_with_deadline(minute, &DefaultClassifier, || Ok::<_, ()>(()));
        assert_eq!(reason(r), RejectReason::DeadlineTooShort);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        // no deadline: admitted
        assert_eq!(FLASH.call(erase).await, Ok(()));
        assert_eq!(FLASH.min_remaining(), Duration::from_secs(3_600));
        assert_eq!(FLASH.metrics().rejected_deadline, 2);
    });
}

#[test]
fn a_learned_duration_and_one_probe_per_interval_on_explicit_instants() {
    // The core treats an instant behind one it has seen as "no time
    // passed", so this timeline runs ahead of the real clock on the
    // shared machine's explicit-instant API.
    static PEER: FailFast = FailFast::new(
        FailFastConfig::builder()
            .consecutive_failures(1)
            .probe_interval(Duration::from_secs(10))
            .learn_expected_duration(1)
            .build_or_panic(),
    );
    let t0 = EmbassyClock.now() + Duration::from_secs(1_000);
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let shared = PEER.shared();
    let p = shared.acquire(at(0), Deadline::NEVER).unwrap();
    shared.record(at(250), p, failsafe_embassy::Outcome::Success);
    assert_eq!(PEER.min_remaining(), Duration::from_millis(250));
    let tight = Deadline::at(at(1_249));
    assert_eq!(
        shared.acquire(at(1_000), tight).unwrap_err().reason,
        RejectReason::DeadlineTooShort
    );

    let p = shared.acquire(at(2_000), Deadline::NEVER).unwrap();
    shared.record(at(2_000), p, failsafe_embassy::Outcome::Failure);
    assert_eq!(PEER.state(), FailFastState::Open);
    let r = shared.acquire(at(11_999), Deadline::NEVER).unwrap_err();
    assert_eq!(r.retry_at, Some(at(12_000)));
    let probe = shared.acquire(at(12_000), Deadline::NEVER).unwrap();
    assert!(probe.is_probe());
    let r = shared.acquire(at(12_001), Deadline::NEVER).unwrap_err();
    assert_eq!(
        r.reason,
        RejectReason::FailFastOpen,
        "one probe per interval"
    );
    assert_eq!(r.retry_at, None, "the probe is out: it may close it sooner");
    shared.record(at(12_100), probe, failsafe_embassy::Outcome::Success);
    assert_eq!(PEER.state(), FailFastState::Closed);
    assert_eq!(PEER.metrics().probes_admitted, 1);
}

#[test]
fn a_dropped_call_is_cancelled_and_leaves_the_streak_alone() {
    static BUS: FailFast<(), MutexLock<CriticalSectionRawMutex, FailFastMachine>> =
        FailFast::from_lock(MutexLock::new(FailFastMachine::new(failures(2))));
    block_on(async {
        let _ = BUS.call(|| async { Err::<(), _>("nack") }).await;
        {
            let mut hung = pin!(BUS.call(core::future::pending::<Result<(), &str>>));
            assert!(poll_once(hung.as_mut()).await.is_none());
        } // dropped mid-call
        let m = BUS.metrics();
        assert_eq!(
            (m.state, m.consecutive_failures),
            (FailFastState::Closed, 1)
        );
        let _ = BUS.call(|| async { Err::<(), _>("nack") }).await;
        assert_eq!(BUS.state(), FailFastState::Open);
    });
}

#[test]
fn a_guard_and_the_generic_call_serve_a_static_fail_fast() {
    static DMA: FailFast = FailFast::new(failures(1));
    let guard = DMA.acquire(Deadline::NEVER).unwrap();
    drop(guard); // cancelled: counts neither way
    assert_eq!(DMA.state(), FailFastState::Closed);
    block_on(async {
        assert_eq!(
            failsafe_embassy::call(&DMA, || async { Ok::<_, ()>(5) }).await,
            Ok(5)
        );
    });
    DMA.acquire(Deadline::NEVER)
        .unwrap()
        .finish(Health::Timeout);
    assert_eq!(
        DMA.metrics().open_cause,
        Some(OpenCause::ConsecutiveFailures)
    );
    block_on(async {
        let r = failsafe_embassy::call(&DMA, || async { Ok::<_, ()>(5) }).await;
        assert_eq!(reason(r), RejectReason::FailFastOpen);
    });
}
