//! The retry handle on tokio's paused clock: backoff sleeps complete as soon
//! as the runtime is idle (the paused clock jumps to the next timer), so
//! every timeline here is virtual and exact; nothing sleeps for real.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_tokio::{
    Attempt, BackoffKind, Clock, Deadline, FailureKind, GiveUp, Instant, Jitter, RatioBudget,
    RetryAfter, RetryConfig, RetryError, RetryEvent, RetryPolicy, TokenQuota, TokioClock, Verdict,
};
use tokio::time::{sleep, timeout};

fn constant(attempts: u32, delay: Duration) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(delay))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn take<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

#[tokio::test(start_paused = true)]
async fn a_flaky_operation_fails_twice_then_succeeds_after_exactly_the_backoff() {
    let config = RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Exponential {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_secs(10),
        })
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let events = log();
    let sink = Arc::clone(&events);
    let retry = RetryPolicy::new(config).on_event(move |e| sink.lock().unwrap().push(e));
    let starts = log();
    let started = tokio::time::Instant::now();

    let result = retry
        .call(|attempt| {
            starts
                .lock()
                .unwrap()
                .push((attempt.number, TokioClock.now()));
            async move {
                sleep(Duration::from_millis(10)).await; // each attempt takes 10 ms
                if attempt.number < 3 {
                    Err("flaky")
                } else {
                    Ok(attempt.number)
                }
            }
        })
        .await;

    assert_eq!(result, Ok(3));
    // 3 attempts of 10 ms, backoffs of 100 ms and 200 ms
    assert_eq!(started.elapsed(), Duration::from_millis(330));
    assert_eq!(
        take(&starts),
        [
            (1, Instant::ZERO),
            (2, Instant::from_millis(110)),
            (3, Instant::from_millis(320))
        ]
    );
    let delays: Vec<_> = take(&events)
        .into_iter()
        .filter_map(|e| match e {
            RetryEvent::RetryScheduled { delay, .. } => Some(delay),
            _ => None,
        })
        .collect();
    assert_eq!(
        delays,
        [Duration::from_millis(100), Duration::from_millis(200)]
    );
    assert_eq!(
        take(&events).last(),
        Some(&RetryEvent::Succeeded {
            attempts: 3,
            at: Instant::from_millis(330),
            took: Duration::from_millis(10),
            elapsed: Duration::from_millis(330),
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_hint_is_honoured_and_clamped() {
    let config = RetryConfig::builder()
        .max_attempts(5)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .retry_after(RetryAfter::Clamp {
            max_extra: Duration::from_secs(5),
        })
        .build()
        .unwrap();
    let retry: RetryPolicy = RetryPolicy::new(config);
    // the server asks for 2 s, then for 60 s (clamped to 100 ms + 5 s)
    let hints = [Duration::from_secs(2), Duration::from_secs(60)];
    let classify = |r: &Result<u32, Duration>| match r {
        Ok(_) => Verdict::Success,
        Err(hint) => Verdict::Retry {
            kind: FailureKind::Throttled,
            retry_after: Some(*hint),
        },
    };
    let started = tokio::time::Instant::now();
    let result = retry
        .call_with(&classify, |attempt| async move {
            match hints.get(attempt.number as usize - 1) {
                Some(hint) => Err(*hint),
                None => Ok(attempt.number),
            }
        })
        .await;
    assert_eq!(result, Ok(3));
    assert_eq!(started.elapsed(), Duration::from_millis(2_000 + 5_100));
}

#[tokio::test(start_paused = true)]
async fn a_deadline_cuts_the_loop_short_and_no_attempt_starts_after_it() {
    let retry = RetryPolicy::new(constant(10, Duration::from_millis(100)));
    let deadline = Deadline::after(TokioClock.now(), Duration::from_millis(250));
    let seen: Log<(Attempt, Instant)> = log();
    let result = retry
        .call_with_deadline(&failsafe_tokio::DefaultClassifier, deadline, |attempt| {
            seen.lock().unwrap().push((attempt, TokioClock.now()));
            async {
                sleep(Duration::from_millis(60)).await;
                Err::<(), _>("down")
            }
        })
        .await;
    // t=0..60 fails, t=160..220 fails; the next retry (t=320) is past the deadline
    assert_eq!(
        result,
        Err(RetryError {
            reason: GiveUp::Deadline,
            attempts: 2,
            last: Some("down")
        })
    );
    assert_eq!(
        TokioClock.now(),
        Instant::from_millis(220),
        "gave up without sleeping"
    );
    let seen = take(&seen);
    assert_eq!(
        seen.iter().map(|(_, at)| *at).collect::<Vec<_>>(),
        [Instant::ZERO, Instant::from_millis(160)]
    );
    assert!(
        seen.iter()
            .all(|(a, at)| a.deadline == deadline && !deadline.is_expired(*at))
    );
}

#[tokio::test(start_paused = true)]
async fn clones_share_one_budget_until_it_is_exhausted() {
    // 10 tokens, a retry after an error costs 5: two retries for everyone
    let a = RetryPolicy::new(constant(10, Duration::from_millis(10)))
        .budget(TokenQuota::new(10, 5, 10, 5, 0).unwrap());
    let b = a.clone();
    let calls = AtomicU32::new(0);
    let fail = |_: Attempt| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    };

    let (ra, rb) = tokio::join!(a.call(fail), b.call(fail));
    let (ea, eb) = (ra.unwrap_err(), rb.unwrap_err());
    assert_eq!((ea.reason, eb.reason), (GiveUp::Budget, GiveUp::Budget));
    // two first attempts plus the two retries the shared budget paid for
    assert_eq!(ea.attempts + eb.attempts, 4);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(a.shared().with(|q| q.tokens()), 0);

    // a fresh clone is still bound by the spent budget: no retry at all
    let e = a.clone().call(fail).await.unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUp::Budget, 1));
}

#[tokio::test(start_paused = true)]
async fn a_ratio_budget_lets_retries_be_a_fraction_of_calls() {
    // 20% of calls, no floor
    let retry = RetryPolicy::new(constant(2, Duration::from_millis(1)))
        .budget(RatioBudget::<10>::new(Duration::from_secs(10), 0.2, 0).unwrap());
    let mut retried = 0;
    for _ in 0..10 {
        let e = retry
            .call(|_| async { Err::<(), _>(FailureKind::Error) })
            .await
            .unwrap_err();
        if e.attempts == 2 {
            retried += 1;
        } else {
            assert_eq!(e.reason, GiveUp::Budget);
        }
    }
    assert_eq!(retried, 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_retrying_future_makes_no_further_attempt() {
    let retry: RetryPolicy = RetryPolicy::new(constant(100, Duration::from_millis(100)));
    let calls = AtomicU32::new(0);
    let running = retry.call(|_| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("down") }
    });
    // attempts at t=0 and t=100; dropped at t=150 while waiting for t=200
    assert!(timeout(Duration::from_millis(150), running).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    sleep(Duration::from_secs(60)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn seeded_full_jitter_repeats_and_stays_within_the_backoff() {
    let config = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Constant(Duration::from_secs(1)))
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let elapsed = |seed| async move {
        let retry: RetryPolicy = RetryPolicy::new(config).seed(seed);
        let started = tokio::time::Instant::now();
        let _ = retry.call(|_| async { Err::<(), _>(()) }).await;
        started.elapsed()
    };
    let (first, again, other) = (elapsed(9).await, elapsed(9).await, elapsed(10).await);
    assert_eq!(first, again, "same seed, same delays");
    assert_ne!(first, other, "another seed, other delays");
    // 3 delays of at most 1 s each (tokio's timer rounds up to the millisecond)
    assert!(first <= Duration::from_millis(3_003), "{first:?}");
}

#[tokio::test(start_paused = true)]
async fn handle_futures_are_send_so_they_can_be_spawned() {
    let retry =
        RetryPolicy::new(constant(3, Duration::from_millis(10))).budget(TokenQuota::AWS_STANDARD);
    let task = tokio::spawn({
        let retry = retry.clone();
        async move { retry.call(|_| async { Err::<(), _>("down") }).await }
    });
    assert_eq!(task.await.unwrap().unwrap_err().attempts, 3);
    // the spawned call's two retries were paid from the budget this handle shares
    assert_eq!(retry.shared().with(|q| q.tokens()), 500 - 2 * 5);
}

#[tokio::test(start_paused = true)]
async fn a_blocking_caller_off_the_workers_retries_on_the_same_policy() {
    let retry = RetryPolicy::new(constant(3, Duration::ZERO)).budget(TokenQuota::AWS_STANDARD);
    let calls = Arc::new(AtomicU32::new(0));
    let e = tokio::task::spawn_blocking({
        let (retry, calls) = (retry.clone(), Arc::clone(&calls));
        move || {
            retry.call_blocking(|_| {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("down")
            })
        }
    })
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUp::Attempts, 3));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // its two retries were paid from the budget this handle shares
    assert_eq!(retry.shared().with(|q| q.tokens()), 500 - 2 * 5);
}

/// A call whose first attempt runs before its plan is made (no deadline,
/// no budget, nobody listening) and one under its plan from the start (a
/// deadline an hour away) retry alike: the same jittered delays from the
/// same seed, the same attempts at the same instants, the same answer.
#[tokio::test(start_paused = true)]
async fn a_first_attempt_run_alone_retries_as_a_call_under_its_plan() {
    let jittered = RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Exponential {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_secs(10),
        })
        .jitter(Jitter::Full)
        .build()
        .unwrap();
    let mut runs = Vec::new();
    for far in [false, true] {
        let retry = RetryPolicy::new(jittered).seed(7);
        let starts = log();
        let op = |attempt: Attempt| {
            starts.lock().unwrap().push(TokioClock.now());
            async move {
                sleep(Duration::from_millis(10)).await;
                if attempt.number < 4 {
                    Err(attempt.number)
                } else {
                    Ok(attempt.number)
                }
            }
        };
        let t0 = TokioClock.now();
        let answer = if far {
            let deadline = Deadline::after(t0, Duration::from_secs(3600));
            retry
                .call_with_deadline(&failsafe_tokio::DefaultClassifier, deadline, op)
                .await
        } else {
            retry.call(op).await
        };
        let offsets: Vec<_> = take(&starts)
            .iter()
            .map(|&t| t.saturating_duration_since(t0))
            .collect();
        runs.push((answer, offsets));
    }
    assert_eq!(runs[0].0, Ok(4));
    assert_eq!(runs[0].1.len(), 4);
    assert!(
        runs[0].1[3] > Duration::from_millis(30),
        "jittered backoffs: {:?}",
        runs[0].1
    );
    assert_eq!(runs[0], runs[1]);
}

/// The classifier's word on a first attempt run alone: an error not to
/// retry ends the call at once, with that attempt's error.
#[tokio::test(start_paused = true)]
async fn a_first_attempt_run_alone_that_must_not_retry_ends_the_call() {
    let retry = RetryPolicy::new(constant(5, Duration::from_millis(10)));
    let calls = AtomicU32::new(0);
    let by_code = |r: &Result<u32, u32>| match r {
        Ok(_) => Verdict::Success,
        Err(404) => Verdict::DoNotRetry,
        Err(_) => Verdict::retry(),
    };
    let e = retry
        .call_with(&by_code, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, u32>(404) }
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.reason, e.attempts, e.last),
        (GiveUp::NotRetryable, 1, Some(404))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Polled again after it answered, a retry's future stays pending (it
/// neither panics nor runs the operation again), whether its first attempt
/// ran alone or under the plan; and it is `Unpin` when its operation is.
#[tokio::test(start_paused = true)]
async fn a_retry_future_polled_after_its_answer_stays_pending() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    fn unpin<T: Unpin>(t: T) -> T {
        t
    }
    let retry = RetryPolicy::new(constant(3, Duration::from_millis(10)));
    let calls = AtomicU32::new(0);
    let op = |_: Attempt| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<u32, u32>(7))
    };
    let mut cx = Context::from_waker(Waker::noop());
    let far = Deadline::after(TokioClock.now(), Duration::from_secs(3600));
    let mut alone = unpin(retry.call(op));
    assert_eq!(
        std::pin::Pin::new(&mut alone).poll(&mut cx),
        Poll::Ready(Ok(7))
    );
    assert_eq!(std::pin::Pin::new(&mut alone).poll(&mut cx), Poll::Pending);
    let mut planned = unpin(retry.call_with_deadline(&failsafe_tokio::DefaultClassifier, far, op));
    assert_eq!(
        std::pin::Pin::new(&mut planned).poll(&mut cx),
        Poll::Ready(Ok(7))
    );
    assert_eq!(
        std::pin::Pin::new(&mut planned).poll(&mut cx),
        Poll::Pending
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// `max_elapsed` counts from when the call's future is made, as a
/// deadline does (`tokio::time::timeout`'s), not from its first poll.
#[tokio::test(start_paused = true)]
async fn max_elapsed_counts_from_when_the_call_is_made() {
    let config = RetryConfig::builder()
        .max_attempts(50)
        .max_elapsed(Duration::from_millis(100))
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let retry = RetryPolicy::new(config);
    let call = retry.call(|_| async { Err::<(), u16>(500) });
    sleep(Duration::from_millis(150)).await;
    let e = call.await.unwrap_err();
    assert_eq!((e.reason, e.attempts), (GiveUp::Elapsed, 1));
}
