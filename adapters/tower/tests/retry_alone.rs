//! The tower retry future whose first attempt runs alone
//! (`PlanParts::alone` / `FirstAttemptAlone`) answers as a plan made up
//! front would, and `TokioClock::to_core` on `StdClock`'s arithmetic. A
//! fresh helper's review wrote these (2026-12-01); all passed.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use failsafe_core::Instant;
use failsafe_core::retry::{
    BackoffKind, FailureKind, GiveUp, Jitter, NoBudget, RetryConfig, RetryEvent, Verdict,
};
use failsafe_core::timeout::Deadline;
use failsafe_driver::{Clock, RetryError, StdClock};
use failsafe_tokio::TokioClock;
use failsafe_tower::RetryLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

type RetryPolicy<B = NoBudget> = failsafe_driver::RetryPolicy<B, TokioClock>;

fn constant(attempts: u32, ms: u64) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(Duration::from_millis(ms)))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// Fails the first `failures` calls, then answers; counts calls.
#[derive(Clone)]
struct Flaky {
    failures: u32,
    calls: Arc<AtomicU32>,
}

impl Flaky {
    fn new(failures: u32) -> Self {
        Flaky {
            failures,
            calls: Arc::default(),
        }
    }
    fn calls(&self) -> u32 {
        self.calls.swap(0, Ordering::SeqCst)
    }
}

impl Service<u32> for Flaky {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, id: u32) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n < self.failures {
            Err("flaky")
        } else {
            Ok(id)
        })
    }
}

/// `set_max_attempts` on a clone kept by the caller reaches every later
/// call of the layer's services, whose first attempt runs alone.
#[tokio::test(start_paused = true)]
async fn the_alone_path_sees_set_max_attempts_at_run_time() {
    let policy = RetryPolicy::new(constant(3, 10));
    let handle = policy.clone();
    let flaky = Flaky::new(u32::MAX);
    let mut svc = RetryLayer::new(policy).layer(flaky.clone());
    let run = async |svc: &mut failsafe_tower::RetryService<Flaky, NoBudget, TokioClock>| {
        let call = svc.ready().await.unwrap().call(1);
        assert!(format!("{call:?}").contains("first_attempt_alone: true"));
        call.await
    };
    for (limit, attempts) in [(Some(5), 5), (Some(1), 1), (None, 3)] {
        handle.set_max_attempts(limit).unwrap();
        let e = run(&mut svc).await.unwrap_err();
        assert_eq!(
            (e.reason, e.attempts, flaky.calls()),
            (GiveUp::Attempts, attempts, attempts),
            "{limit:?}"
        );
    }
    // unlimited: a service failing 7 times answers at the 8th attempt
    handle.set_unlimited_attempts();
    let mut svc = RetryLayer::new(handle.clone()).layer(Flaky::new(7));
    assert_eq!(run(&mut svc).await, Ok(1));
}

/// A limit changed after the call's future was made is not seen by it (as
/// the docs say), on the alone path too.
#[tokio::test(start_paused = true)]
async fn the_alone_path_keeps_the_limit_in_force_when_the_call_was_made() {
    let policy = RetryPolicy::new(constant(4, 10));
    let handle = policy.clone();
    let flaky = Flaky::new(u32::MAX);
    let mut svc = RetryLayer::new(policy).layer(flaky.clone());
    let call = svc.ready().await.unwrap().call(1);
    handle.set_max_attempts(Some(1)).unwrap();
    let e = call.await.unwrap_err();
    assert_eq!((e.attempts, flaky.calls()), (4, 4));
}

/// A server's retry-after hint on a first attempt run alone is honoured
/// (clamped by the config's rule), as under a plan made up front.
#[tokio::test(start_paused = true)]
async fn the_alone_path_honours_a_retry_after_hint() {
    let answers = Arc::new(Mutex::new(vec![Ok(200u16), Ok(503)]));
    let next = Arc::clone(&answers);
    let scripted = service_fn(move |_: u32| {
        let a = next.lock().unwrap().pop().unwrap_or(Ok(200));
        async move { a }
    });
    let hinted = |r: &Result<u16, ()>| match r {
        Ok(503) => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(Duration::from_millis(300)),
        },
        Ok(_) => Verdict::Success,
        Err(()) => Verdict::DoNotRetry,
    };
    let clock = TokioClock::new();
    let svc = RetryLayer::new(RetryPolicy::with_runtime(constant(3, 10), clock))
        .with_classifier(hinted)
        .layer(scripted);
    let start = clock.now();
    assert_eq!(svc.oneshot(1).await, Ok(200));
    assert_eq!(
        clock.now().saturating_duration_since(start),
        Duration::from_millis(300)
    );
}

/// An `Err` the classifier calls a success, and an abort, answer alike on
/// the alone path and under a plan made up front (a far deadline).
#[tokio::test(start_paused = true)]
async fn alone_and_planned_agree_on_odd_verdicts() {
    #[derive(Clone, Copy, Debug)]
    struct By;
    impl failsafe_tower::RequestDeadline<(u32, Deadline)> for By {
        fn deadline(&self, r: &(u32, Deadline)) -> Deadline {
            r.1
        }
        fn set_deadline(&self, r: &mut (u32, Deadline), d: Deadline) {
            r.1 = d;
        }
    }
    let clock = TokioClock::new();
    let far = Deadline::after(clock.now(), Duration::from_secs(3600));
    for (answer, verdict) in [
        (Err(404u16), Verdict::Success),
        (Err(500), Verdict::Abort),
        (Err(400), Verdict::DoNotRetry),
        (Ok(200), Verdict::Success),
    ] {
        let mut seen = Vec::new();
        for deadline in [Deadline::NEVER, far] {
            let calls = Arc::new(AtomicU32::new(0));
            let c = Arc::clone(&calls);
            let svc = service_fn(move |_: (u32, Deadline)| {
                c.fetch_add(1, Ordering::SeqCst);
                async move { answer }
            });
            let classify = move |_: &Result<u16, u16>| verdict;
            let svc = RetryLayer::new(RetryPolicy::with_runtime(constant(3, 10), clock))
                .with_classifier(classify)
                .with_request_deadline(By)
                .layer(svc);
            let r: Result<u16, RetryError<u16>> = svc.oneshot((1, deadline)).await;
            seen.push((r, calls.load(Ordering::SeqCst)));
        }
        assert_eq!(seen[0], seen[1], "{answer:?} judged {verdict:?}");
    }
}

/// Events: a listener turns the alone path off, and hears every attempt.
#[tokio::test(start_paused = true)]
async fn a_listener_hears_every_attempt() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let policy = RetryPolicy::new(constant(3, 10)).on_event(move |e| log.lock().unwrap().push(e));
    let mut svc = RetryLayer::new(policy).layer(Flaky::new(u32::MAX));
    let call = svc.ready().await.unwrap().call(1);
    assert!(format!("{call:?}").contains("first_attempt_alone: false"));
    let _ = call.await;
    let events = events.lock().unwrap();
    let failed = events
        .iter()
        .filter(|e| matches!(e, RetryEvent::AttemptFailed { .. }))
        .count();
    let gave_up = events
        .iter()
        .filter(|e| matches!(e, RetryEvent::GaveUp { .. }))
        .count();
    assert_eq!((failed, gave_up), (3, 1), "{events:?}");
}

/// A future polled again after its answer (alone path) neither panics
/// nor calls the service again.
#[tokio::test(start_paused = true)]
async fn the_alone_future_polled_after_its_answer_stays_pending() {
    let flaky = Flaky::new(0);
    let mut svc = RetryLayer::new(RetryPolicy::new(constant(3, 10))).layer(flaky.clone());
    let mut call = std::pin::pin!(svc.ready().await.unwrap().call(5));
    assert_eq!(call.as_mut().await, Ok(5));
    let again = futures_lite::future::poll_once(call.as_mut()).await;
    assert!(again.is_none());
    assert_eq!(flaky.calls(), 1);
}

/// The alone path's future is `Send` (spawned on a multi-thread runtime).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_future_spawns_on_a_multi_thread_runtime() {
    let svc = RetryLayer::new(RetryPolicy::new(constant(2, 1))).layer(Flaky::new(1));
    let answer = tokio::spawn(svc.oneshot(3)).await.unwrap();
    assert_eq!(answer, Ok(3));
}

// ------------------------------------------------------------ TokioClock

/// Off paused time, TokioClock reads StdClock's timeline, and `to_core`
/// is StdClock's conversion (QuantaClock's epoch is StdClock's: the three
/// agree).
#[tokio::test(flavor = "current_thread")]
async fn tokio_clock_reads_std_clocks_timeline_on_real_time() {
    let (s1, t, s2) = (StdClock.now(), TokioClock.now(), StdClock.now());
    assert!(s1 <= t && t <= s2, "{s1:?} {t:?} {s2:?}");
    let at = tokio::time::Instant::now();
    assert_eq!(TokioClock.to_core(at), StdClock::to_core(at.into_std()));
    // before the epoch: zero; far ahead: saturates, no panic
    let epoch = TokioClock.epoch();
    assert_eq!(TokioClock.to_core(epoch), Instant::ZERO);
    if let Some(before) = epoch.checked_sub(Duration::from_secs(1)) {
        assert_eq!(TokioClock.to_core(before), Instant::ZERO);
    }
    for far in [
        Duration::from_secs(86_400 * 365 * 100),
        Duration::from_nanos(u64::MAX),
        Duration::from_secs(u64::MAX / 1_000_000_000 + 1),
    ] {
        if let Some(at) = epoch.checked_add(far) {
            let core = TokioClock.to_core(at);
            let exact = u64::try_from(far.as_nanos()).unwrap_or(u64::MAX);
            assert_eq!(core, Instant::from_nanos(exact), "{far:?}");
        }
    }
    // round trips
    for ns in [0, 1, 999_999_999, 1_000_000_000, u64::MAX / 2, u64::MAX] {
        let core = Instant::from_nanos(ns);
        assert_eq!(TokioClock.to_core(TokioClock.to_tokio(core)), core, "{ns}");
    }
}

/// In paused time (`test-util`), the runtime's own epoch still applies.
#[tokio::test(start_paused = true)]
async fn tokio_clock_in_paused_time_counts_from_the_runtimes_epoch() {
    let clock = TokioClock::new();
    let start = clock.now();
    assert!(start < Instant::from_secs(1), "{start:?}");
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(clock.now(), start + Duration::from_millis(1500));
    assert_eq!(clock.to_core(clock.epoch()), Instant::ZERO);
    let at = clock.to_tokio(Instant::from_secs(7));
    assert_eq!(clock.to_core(at), Instant::from_secs(7));
}
