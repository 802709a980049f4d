//! `RetryPolicy` on embassy-time's real `std` driver.
//!
//! No test waits on real time: backoffs are zero (a timer set for "now"
//! fires at once), a deadline is one that has already passed, and jitter is
//! read from the first scheduled retry, after which the call is dropped.

use core::future::Future;
use core::pin::pin;
use core::time::Duration;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use failsafe_embassy::{
    Attempt, BackoffKind, Clock, CsLock, Deadline, DefaultClassifier, EmbassyClock, FnObserver,
    GiveUp, Jitter, Lock, NoBudget, RetryConfig, RetryError, RetryEvent, RetryPolicy, TokenQuota,
    Verdict,
};
use futures_lite::future::{block_on, poll_once};

/// `n` attempts, no wait between them.
const fn at_once(n: u32) -> RetryConfig {
    failsafe_embassy::checked(
        RetryConfig::builder()
            .max_attempts(n)
            .backoff(BackoffKind::Constant(Duration::ZERO))
            .jitter(Jitter::None)
            .build(),
    )
}

/// Fails until attempt `ok_at`.
async fn fails_until(ok_at: u32, attempt: Attempt) -> Result<u32, &'static str> {
    if attempt.number < ok_at {
        Err("busy")
    } else {
        Ok(attempt.number)
    }
}

#[test]
fn a_flaky_operation_is_retried_until_it_succeeds() {
    static EVENTS: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
    fn log(event: RetryEvent) {
        EVENTS.lock().unwrap().push(event);
    }
    static RETRY: RetryPolicy<NoBudget, FnObserver<fn(RetryEvent)>> =
        RetryPolicy::new(&at_once(5), 1).with_observer(FnObserver(log as fn(RetryEvent)));

    let calls = AtomicU32::new(0);
    let result = block_on(RETRY.call(|attempt| {
        calls.fetch_add(1, Ordering::Relaxed);
        fails_until(3, attempt)
    }));
    assert_eq!(result, Ok(3));
    assert_eq!(calls.load(Ordering::Relaxed), 3);

    let events = EVENTS.lock().unwrap();
    let kinds: Vec<_> = events
        .iter()
        .map(|e| match e {
            RetryEvent::AttemptFailed { attempt, .. } => ("failed", *attempt),
            RetryEvent::RetryScheduled { attempt, .. } => ("scheduled", *attempt),
            RetryEvent::Succeeded { attempts, .. } => ("succeeded", *attempts),
            RetryEvent::GaveUp { attempts, .. } => ("gave up", *attempts),
            _ => ("other", 0),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("failed", 1),
            ("scheduled", 2),
            ("failed", 2),
            ("scheduled", 3),
            ("succeeded", 3)
        ]
    );
}

#[test]
fn attempts_run_out_and_the_last_error_is_kept() {
    static RETRY: RetryPolicy = RetryPolicy::new(&at_once(4), 1);
    let result =
        block_on(RETRY.call(|attempt: Attempt| async move { Err::<(), _>(attempt.number * 10) }));
    assert_eq!(
        result,
        Err(RetryError {
            reason: GiveUp::Attempts,
            attempts: 4,
            last: Some(40),
        })
    );
}

#[derive(Debug, PartialEq)]
enum Reply {
    Status(u16),
}

#[derive(Debug, PartialEq)]
enum LinkError {
    Dropped,
    BadRequest,
    Shutdown,
}

/// 503 retries like an error; a bad request never will; shutdown aborts.
fn classify(r: &Result<Reply, LinkError>) -> Verdict {
    match r {
        Ok(Reply::Status(503)) | Err(LinkError::Dropped) => Verdict::retry(),
        Ok(_) => Verdict::Success,
        Err(LinkError::BadRequest) => Verdict::DoNotRetry,
        Err(LinkError::Shutdown) => Verdict::Abort,
    }
}

#[test]
fn a_classifier_decides_what_retries() {
    static RETRY: RetryPolicy = RetryPolicy::new(&at_once(3), 1);
    let run = |replies: [Result<Reply, LinkError>; 3]| {
        let replies = Mutex::new(replies.into_iter());
        let calls = AtomicU32::new(0);
        let result = block_on(RETRY.call_within(Deadline::NEVER, &classify, |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            let next = replies.lock().unwrap().next().unwrap();
            async move { next }
        }));
        (result, calls.load(Ordering::Relaxed))
    };
    use LinkError::*;
    use Reply::Status;

    // A dropped link, then a 503, then a 200.
    let (r, calls) = run([Err(Dropped), Ok(Status(503)), Ok(Status(200))]);
    assert_eq!((r, calls), (Ok(Status(200)), 3));

    // A bad request is not retried: one call, and the error comes back.
    let (r, calls) = run([Err(BadRequest), Ok(Status(200)), Ok(Status(200))]);
    assert_eq!(calls, 1);
    let e = r.unwrap_err();
    assert_eq!((e.reason, e.last), (GiveUp::NotRetryable, Some(BadRequest)));

    // Shutdown aborts after the first retry.
    let (r, calls) = run([Err(Dropped), Err(Shutdown), Ok(Status(200))]);
    assert_eq!(calls, 2);
    let e = r.unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUp::Aborted, 2));

    // 503 three times: attempts run out, and the last reply is still the
    // answer (a value the classifier wanted retried beats no value).
    let (r, calls) = run([Ok(Status(503)), Ok(Status(503)), Ok(Status(503))]);
    assert_eq!((r, calls), (Ok(Status(503)), 3));
}

#[test]
fn a_static_budget_is_shared_by_calls_and_policies() {
    /// Two retries' worth: a retry costs 5 (10 after a timeout) of 10.
    static BUDGET: CsLock<TokenQuota> =
        CsLock::new(failsafe_embassy::checked(TokenQuota::new(10, 5, 10, 5, 1)));
    static READ: RetryPolicy<CsLock<TokenQuota>> =
        RetryPolicy::new(&at_once(2), 1).with_budget(&BUDGET);
    static WRITE: RetryPolicy<CsLock<TokenQuota>> =
        RetryPolicy::new(&at_once(2), 2).with_budget(&BUDGET);

    let failing = |_: Attempt| async { Err::<(), _>("nack") };
    for policy in [&READ, &WRITE] {
        let e = block_on(policy.call(failing)).unwrap_err();
        assert_eq!((e.reason, e.attempts), (GiveUp::Attempts, 2));
    }
    assert_eq!(BUDGET.with(|q| q.tokens()), 0);
    for policy in [&READ, &WRITE] {
        let e = block_on(policy.call(failing)).unwrap_err();
        assert_eq!((e.reason, e.attempts), (GiveUp::Budget, 1));
    }
    // A success after a retry refunds the retry's cost.
    BUDGET.with(|q| *q = failsafe_embassy::checked(TokenQuota::new(10, 5, 10, 5, 1)));
    assert_eq!(block_on(READ.call(|a| fails_until(2, a))), Ok(2));
    assert_eq!(BUDGET.with(|q| q.tokens()), 10);
}

#[test]
fn a_deadline_that_has_passed_runs_nothing() {
    static RETRY: RetryPolicy = RetryPolicy::new(&at_once(3), 1);
    let ran = AtomicU32::new(0);
    let spent = Deadline::at(EmbassyClock.now());
    let result = block_on(RETRY.call_within(spent, &DefaultClassifier, |_| {
        ran.fetch_add(1, Ordering::Relaxed);
        async { Ok::<_, ()>(()) }
    }));
    assert_eq!(
        result,
        Err(RetryError {
            reason: GiveUp::Deadline,
            attempts: 0,
            last: None
        })
    );
    assert_eq!(ran.load(Ordering::Relaxed), 0);
}

#[test]
fn each_attempt_gets_its_number_and_the_callers_deadline() {
    static RETRY: RetryPolicy = RetryPolicy::new(&at_once(3), 1);
    let far = Deadline::after(EmbassyClock.now(), Duration::from_secs(3_600));
    let seen = Mutex::new(Vec::new());
    let result = block_on(RETRY.call_within(far, &DefaultClassifier, |attempt| {
        seen.lock().unwrap().push(attempt);
        fails_until(3, attempt)
    }));
    assert_eq!(result, Ok(3));
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen,
        (1..=3)
            .map(|number| Attempt {
                number,
                deadline: far
            })
            .collect::<Vec<_>>()
    );
}

/// The delay of the first retry a call schedules: the call is polled once
/// (its first attempt fails and the retry is scheduled) and then dropped.
fn first_delay<L, O>(policy: &RetryPolicy<'_, L, O>, log: &Mutex<Vec<RetryEvent>>) -> Duration
where
    L: Lock<NoBudget>,
    O: failsafe_embassy::Observer<RetryEvent> + Clone,
{
    let call = pin!(policy.call(|_| async { Err::<(), _>("lost") }));
    assert!(
        block_on(poll_once(call)).is_none(),
        "asleep until the retry"
    );
    match log.lock().unwrap().pop() {
        Some(RetryEvent::RetryScheduled { delay, .. }) => delay,
        other => panic!("expected a scheduled retry, got {other:?}"),
    }
}

#[test]
fn jitter_is_reproducible_from_the_seed_and_differs_between_calls() {
    const ONE_HOUR: Duration = Duration::from_secs(3_600);
    const FULL_JITTER: RetryConfig = failsafe_embassy::checked(
        RetryConfig::builder()
            .backoff(BackoffKind::Constant(ONE_HOUR))
            .jitter(Jitter::Full)
            .build(),
    );
    type Log = FnObserver<fn(RetryEvent)>;
    static A_LOG: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
    static B_LOG: Mutex<Vec<RetryEvent>> = Mutex::new(Vec::new());
    fn log_a(e: RetryEvent) {
        A_LOG.lock().unwrap().push(e);
    }
    fn log_b(e: RetryEvent) {
        B_LOG.lock().unwrap().push(e);
    }
    static A: RetryPolicy<NoBudget, Log> =
        RetryPolicy::new(&FULL_JITTER, 0xF00D).with_observer(FnObserver(log_a as fn(RetryEvent)));
    static B: RetryPolicy<NoBudget, Log> =
        RetryPolicy::new(&FULL_JITTER, 0xF00D).with_observer(FnObserver(log_b as fn(RetryEvent)));

    let a: Vec<Duration> = (0..4).map(|_| first_delay(&A, &A_LOG)).collect();
    let b: Vec<Duration> = (0..4).map(|_| first_delay(&B, &B_LOG)).collect();
    assert_eq!(a, b, "the same seed gives the same delays");
    assert!(
        a.iter().all(|d| *d <= ONE_HOUR),
        "full jitter: within [0, 1h]"
    );
    for (i, d) in a.iter().enumerate() {
        assert!(!a[i + 1..].contains(d), "calls draw fresh jitter: {a:?}");
    }

    // Another seed, another sequence; back to the first seed, the same again.
    B.reseed(0xBEEF);
    let other: Vec<Duration> = (0..4).map(|_| first_delay(&B, &B_LOG)).collect();
    assert_ne!(other, a);
    B.reseed(0xF00D);
    let again: Vec<Duration> = (0..4).map(|_| first_delay(&B, &B_LOG)).collect();
    assert_eq!(again, a);
}

#[test]
fn the_policy_is_const_and_shares_from_a_static() {
    fn assert_sync<T: Sync>(_: &T) {}
    static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
    static RETRY: RetryPolicy<CsLock<TokenQuota>> =
        RetryPolicy::new(&at_once(3), 1).with_budget(&BUDGET);
    assert_sync(&RETRY);
    assert_eq!(RETRY.config(), at_once(3));
    assert!(format!("{RETRY:?}").starts_with("RetryPolicy { config: RetryConfig"));
    // From several threads at once: every call gets its answer.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..25 {
                    assert_eq!(block_on(RETRY.call(|a| fails_until(2, a))), Ok(2));
                }
            });
        }
    });
    assert_eq!(BUDGET.with(|q| q.tokens()), 500, "every retry refunded");
}

#[test]
#[should_panic(expected = "max_attempts")]
fn config_or_panic_names_the_bad_field() {
    let _ = failsafe_embassy::checked(RetryConfig::builder().max_attempts(0).build());
}

/// The futures borrow only the policy: they can be stored and polled later.
#[test]
fn a_call_is_an_ordinary_future() {
    static RETRY: RetryPolicy = RetryPolicy::new(&at_once(2), 1);
    type Call = std::pin::Pin<Box<dyn Future<Output = Result<u32, RetryError<&'static str>>>>>;
    fn boxed() -> Call {
        Box::pin(RETRY.call(|a| fails_until(2, a)))
    }
    assert_eq!(block_on(boxed()), Ok(2));
}

/// Calls can be spawned where futures must be `Send` (an interrupt
/// executor's `SendSpawner`), as long as the operation is.
#[test]
fn calls_are_send_when_their_operations_are() {
    fn assert_send<T: Send>(_: T) {}
    static BUDGET: CsLock<TokenQuota> = CsLock::new(TokenQuota::AWS_STANDARD);
    static RETRY: RetryPolicy<CsLock<TokenQuota>> =
        RetryPolicy::new(&at_once(3), 1).with_budget(&BUDGET);
    assert_send(RETRY.call(|a| fails_until(2, a)));
    assert_send(RETRY.call_within(Deadline::NEVER, &DefaultClassifier, |a| fails_until(2, a)));
    assert_send(failsafe_embassy::with_timeout(
        failsafe_embassy::checked(failsafe_embassy::TimeoutConfig::new(Duration::from_secs(1))),
        Deadline::NEVER,
        |_| async { Ok::<_, ()>(()) },
    ));
}
