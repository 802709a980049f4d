//! The timeout handle on tokio's paused clock, alone and composed with
//! retries: every deadline here passes in virtual time.

use std::future::pending;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_tokio::{
    BackoffKind, Clock, Deadline, Error, Instant, Jitter, RetryConfig, RetryOnFailsafeError,
    RetryPolicy, TimeoutConfig, TimeoutEvent, TimeoutMode, TimeoutPolicy, TokioClock,
};
use tokio::time::sleep;

/// Sets its flag when dropped: proves a future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn config(ms: u64) -> TimeoutConfig {
    TimeoutConfig::new(Duration::from_millis(ms)).unwrap()
}

type Events = Arc<Mutex<Vec<TimeoutEvent>>>;

fn recording(policy: TimeoutPolicy) -> (TimeoutPolicy, Events) {
    let events = Events::default();
    let sink = Arc::clone(&events);
    (
        policy.on_event(move |e| sink.lock().unwrap().push(e)),
        events,
    )
}

#[tokio::test(start_paused = true)]
async fn a_timeout_drops_a_hanging_future_and_returns_the_deadline() {
    let (t, events) = recording(TimeoutPolicy::new(config(1_000)));
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let result = t
        .call(|deadline| async move {
            assert_eq!(deadline, Deadline::at(Instant::from_secs(1)));
            let _guard = DropFlag(flag);
            pending::<Result<(), &str>>().await
        })
        .await;
    let deadline = Deadline::at(Instant::from_secs(1));
    assert_eq!(result, Err(Error::Timeout(deadline)));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the hanging future was dropped"
    );
    assert_eq!(TokioClock.now(), Instant::from_secs(1));
    assert_eq!(
        *events.lock().unwrap(),
        [TimeoutEvent::Expired {
            deadline,
            at: Instant::from_secs(1),
            mode: TimeoutMode::Cancel
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn work_that_finishes_in_time_keeps_its_result_and_reports_nothing() {
    let (t, events) = recording(TimeoutPolicy::new(config(1_000)));
    let result = t
        .call(|_| async {
            sleep(Duration::from_millis(999)).await;
            Err::<(), _>("refused")
        })
        .await;
    assert_eq!(result, Err(Error::Inner("refused")));
    assert!(events.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_soft_timeout_lets_the_work_finish_and_reports_the_overrun() {
    let soft = config(1_000).mode(TimeoutMode::Soft);
    let (t, events) = recording(TimeoutPolicy::new(soft));
    let result = t
        .call(|_| async {
            sleep(Duration::from_secs(2)).await;
            Ok::<_, ()>("slow but complete")
        })
        .await;
    assert_eq!(result, Ok("slow but complete"));
    assert_eq!(
        *events.lock().unwrap(),
        [TimeoutEvent::Expired {
            deadline: Deadline::at(Instant::from_secs(1)),
            at: Instant::from_secs(2),
            mode: TimeoutMode::Soft
        }]
    );
}

#[tokio::test(start_paused = true)]
async fn an_earlier_parent_deadline_binds() {
    let t = TimeoutPolicy::new(config(1_000));
    let parent = Deadline::after(TokioClock.now(), Duration::from_millis(300));
    let result = t
        .call_with_deadline(parent, |deadline| async move {
            assert_eq!(deadline, parent);
            pending::<Result<(), ()>>().await
        })
        .await;
    assert_eq!(result, Err(Error::Timeout(parent)));
    assert_eq!(TokioClock.now(), Instant::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeouts_inside_a_retry_never_outlive_the_overall_one() {
    let overall = TimeoutPolicy::new(config(1_000));
    let per_attempt = TimeoutPolicy::new(config(300));
    let retry = RetryPolicy::new(
        RetryConfig::builder()
            .max_attempts(5)
            .backoff(BackoffKind::Constant(Duration::from_millis(100)))
            .jitter(Jitter::None)
            .build()
            .unwrap(),
    );
    // (attempt, the attempt's deadline, the per-attempt deadline it handed down)
    let seen = Arc::new(Mutex::new(Vec::new()));

    let result = overall
        .call(|deadline| {
            let (retry, per_attempt, seen) = (&retry, &per_attempt, &seen);
            async move {
                retry
                    .call_with_deadline(&RetryOnFailsafeError, deadline, |attempt| async move {
                        per_attempt
                            .call_with_deadline(attempt.deadline, |inner| {
                                seen.lock().unwrap().push((
                                    attempt.number,
                                    attempt.deadline,
                                    inner,
                                ));
                                async move {
                                    if attempt.number < 3 {
                                        pending::<()>().await; // hangs: cut by the per-attempt timeout
                                    }
                                    sleep(Duration::from_millis(50)).await;
                                    Ok::<_, &str>(attempt.number)
                                }
                            })
                            .await
                    })
                    .await
            }
        })
        .await;

    assert_eq!(result, Ok(3));
    let outer = Deadline::at(Instant::from_millis(1_000));
    let ms = |t| Deadline::at(Instant::from_millis(t));
    // t=0: until 300; t=400: until 700; t=800: 800+300 is past the overall 1000
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (1, outer, ms(300)),
            (2, outer, ms(700)),
            (3, outer, ms(1_000))
        ]
    );
    assert!(seen.lock().unwrap().iter().all(|(_, o, inner)| inner <= o));
    assert_eq!(TokioClock.now(), Instant::from_millis(850));
}

/// A pipeline's attempt timeout: in cancel mode a slow attempt is cut at
/// its deadline and retried; in soft mode it only gets the deadline to
/// hand down and answers late, while the call's own timeout still cuts it.
#[tokio::test(start_paused = true)]
async fn a_pipeline_attempt_timeout_cuts_unless_soft() {
    use failsafe_tokio::{Pipeline, PipelineError};
    let retry = RetryConfig::builder()
        .max_attempts(2)
        .backoff(BackoffKind::Constant(Duration::from_millis(10)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    // Each attempt takes 150 ms; the attempt timeout is 100 ms.
    let run = |mode: TimeoutMode, overall: Option<u64>| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut pipeline = Pipeline::new(TokioClock)
            .retry(retry)
            .attempt_timeout(config(100).mode(mode));
        if let Some(ms) = overall {
            pipeline = pipeline.timeout(Duration::from_millis(ms));
        }
        let record = seen.clone();
        async move {
            let start = TokioClock.now();
            let result: Result<u32, PipelineError<&str>> = pipeline
                .call(|attempt| {
                    let record = record.clone();
                    async move {
                        let since = |d: Deadline| d.instant().as_nanos() - start.as_nanos();
                        record
                            .lock()
                            .unwrap()
                            .push((attempt.number, since(attempt.deadline)));
                        sleep(Duration::from_millis(150)).await;
                        Ok(attempt.number)
                    }
                })
                .await;
            let elapsed = TokioClock.now().as_nanos() - start.as_nanos();
            let seen = seen.lock().unwrap().clone();
            // An error must be a timeout: its deadline, ms after the start.
            let result = result.map_err(|e| match e.error {
                Error::Timeout(d) => Ok((d.instant().as_nanos() - start.as_nanos()) / 1_000_000),
                other => Err(other.to_string()),
            });
            (result, seen, elapsed / 1_000_000)
        }
    };
    let ms = |t: u64| t * 1_000_000;
    // Cut at 100 ms, retried after 10 ms, cut again at 210: gave up.
    let (result, seen, elapsed) = run(TimeoutMode::Cancel, None).await;
    assert_eq!(result, Err(Ok(210)), "the last attempt was cut at 210 ms");
    assert_eq!(seen, [(1, ms(100)), (2, ms(210))]);
    assert_eq!(elapsed, 210);
    // Soft: the first attempt answers at 150 ms with its deadline of 100.
    let (result, seen, elapsed) = run(TimeoutMode::Soft, None).await;
    assert_eq!(result, Ok(1));
    assert_eq!(seen, [(1, ms(100))]);
    assert_eq!(elapsed, 150);
    // Soft under a 120 ms call timeout: the call's deadline cuts it.
    let (result, seen, elapsed) = run(TimeoutMode::Soft, Some(120)).await;
    assert_eq!(result, Err(Ok(120)), "the call's deadline cut it");
    assert_eq!(seen, [(1, ms(100))]);
    assert_eq!(elapsed, 120);
}
