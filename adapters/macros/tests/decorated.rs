//! Decorated functions at run time: a breaker opening through a decorated
//! `async fn` and a retry retrying one, on tokio's paused clock (virtual
//! time, never a real sleep); the same through plain `fn`s on threads.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failsafe_tokio::{
    BackoffKind, BreakerConfig, CircuitBreakerPolicy, Clock, Error, GiveUp, Jitter, NoWindow,
    Pipeline, PipelineError, RejectReason, RetryConfig, RetryError, RetryPolicy, State, TokioClock,
    policy,
};
use tokio::time::advance;

const OPEN_WAIT: Duration = Duration::from_secs(60);

fn breaker_config(failures: u32) -> BreakerConfig {
    BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(OPEN_WAIT)
        .half_open_probes(1)
        .build()
        .unwrap()
}

fn retry_config(attempts: u32, delay: Duration) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(attempts)
        .backoff(BackoffKind::Constant(delay))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

#[derive(Debug, PartialEq)]
struct Down;

static PAYMENTS: LazyLock<CircuitBreakerPolicy<NoWindow>> =
    LazyLock::new(|| CircuitBreakerPolicy::new(breaker_config(2), NoWindow));
static RUNS: AtomicU32 = AtomicU32::new(0);

/// The body runs only when the breaker admits it; `return` and `?` leave
/// the body with its own error, which the breaker counts.
// (`Ok(ok?)` shows `?` on the body's own error; clippy sees it needless)
#[allow(clippy::needless_question_mark)]
#[policy(PAYMENTS)]
async fn charge(cents: u64) -> Result<u64, Error<Down>> {
    RUNS.fetch_add(1, Ordering::Relaxed);
    if cents == 0 {
        return Err(Down);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let ok: Result<u64, Down> = Ok(cents);
    Ok(ok?)
}

/// A body that diverges (a `todo!` stub, a `panic!`) compiles without a
/// warning from the expansion (a review saw "unreachable expression ...
/// originates in the attribute macro `policy`").
#[deny(unreachable_code)]
#[policy(PAYMENTS)]
#[allow(dead_code, clippy::todo)]
async fn not_written_yet(cents: u64) -> Result<u64, Error<Down>> {
    todo!("charge {cents}")
}

static RETRY_ONCE: LazyLock<RetryPolicy> =
    LazyLock::new(|| RetryPolicy::new(retry_config(1, Duration::ZERO)));

#[deny(unreachable_code)]
#[policy(retry = RETRY_ONCE)]
#[allow(dead_code)]
async fn not_written_either() -> Result<u64, RetryError<Down>> {
    panic!("not yet")
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opens_through_a_decorated_async_fn() {
    assert_eq!(charge(100).await, Ok(100));
    assert_eq!(charge(0).await, Err(Error::Inner(Down)));
    assert_eq!(charge(0).await, Err(Error::Inner(Down)));
    assert_eq!(PAYMENTS.state(), State::Open);
    let opened = TokioClock.now();

    // open: rejected with the instant to come back, and the body never runs
    let runs = RUNS.load(Ordering::Relaxed);
    let rejected = *charge(100).await.unwrap_err().rejected().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(opened.saturating_add(OPEN_WAIT)));
    assert_eq!(RUNS.load(Ordering::Relaxed), runs);

    // after the open wait, one probe succeeds and closes it
    advance(OPEN_WAIT).await;
    assert_eq!(PAYMENTS.state(), State::HalfOpen);
    assert_eq!(charge(100).await, Ok(100));
    assert_eq!(PAYMENTS.state(), State::Closed);
    assert_eq!(RUNS.load(Ordering::Relaxed), runs + 1);
}

/// A client whose methods are decorated with handles it holds.
struct Client {
    retry: RetryPolicy,
    pipeline: Pipeline<CircuitBreakerPolicy<NoWindow>, TokioClock>,
    failures_left: AtomicU32,
    attempts: AtomicU32,
}

impl Client {
    fn new(failures: u32) -> Client {
        let breaker = CircuitBreakerPolicy::new(breaker_config(3), NoWindow);
        Client {
            retry: RetryPolicy::new(retry_config(3, Duration::from_millis(100))),
            pipeline: Pipeline::with_admission(TokioClock, breaker)
                .retry(retry_config(4, Duration::from_millis(100))),
            failures_left: AtomicU32::new(failures),
            attempts: AtomicU32::new(0),
        }
    }

    /// Fails while `failures_left` lasts; records each attempt's number.
    async fn attempt(&self, number: u32) -> Result<u32, Down> {
        self.attempts.store(number, Ordering::Relaxed);
        let left = self.failures_left.load(Ordering::Relaxed);
        if left > 0 {
            self.failures_left.store(left - 1, Ordering::Relaxed);
            return Err(Down);
        }
        Ok(number)
    }

    #[policy(retry = self.retry, attempt = attempt)]
    async fn fetch(&self, key: &str) -> Result<String, RetryError<Down>> {
        let number = self.attempt(attempt.number).await?;
        Ok(format!("{key}@{number}"))
    }

    #[policy(pipeline = self.pipeline, attempt = attempt)]
    async fn guarded<T: From<u32>>(&self) -> Result<T, PipelineError<Down>> {
        Ok(T::from(self.attempt(attempt.number).await?))
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_retries_a_decorated_method() {
    let client = Client::new(2);
    let start = TokioClock.now();
    assert_eq!(client.fetch("k").await.unwrap(), "k@3");
    // two failures, two constant 100 ms waits on the paused clock
    assert_eq!(
        TokioClock.now(),
        start.saturating_add(Duration::from_millis(200))
    );

    let client = Client::new(5);
    let e = client.fetch("k").await.unwrap_err();
    assert_eq!(client.attempts.load(Ordering::Relaxed), 3);
    assert_eq!(
        (e.reason, e.attempts, e.last),
        (GiveUp::Attempts, 3, Some(Down))
    );
}

#[tokio::test(start_paused = true)]
async fn a_pipeline_retries_then_its_breaker_opens() {
    let client = Client::new(1);
    assert_eq!(client.guarded::<u64>().await, Ok(2));

    // three failures open the breaker; the pipeline's next attempt is rejected
    let client = Client::new(10);
    let e = client.guarded::<u32>().await.unwrap_err();
    assert_eq!(
        e.rejected().map(|r| r.reason),
        Some(RejectReason::BreakerOpen)
    );
    assert_eq!(client.attempts.load(Ordering::Relaxed), 3);
    assert_eq!(
        (e.attempts, e.gave_up),
        (4, Some(GiveUp::Attempts)),
        "{e:?}"
    );
}

mod blocking {
    use std::num::ParseIntError;
    use std::str::FromStr;
    use std::sync::LazyLock;
    use std::time::Duration;

    use failsafe_thread::{
        CircuitBreakerPolicy, Error, NoWindow, RejectReason, RetryError, RetryPolicy, State, policy,
    };

    static PARSER: LazyLock<CircuitBreakerPolicy<NoWindow>> =
        LazyLock::new(|| CircuitBreakerPolicy::new(super::breaker_config(3), NoWindow));

    /// A generic function: the body's error is `T::Err`.
    #[policy(PARSER)]
    fn parse<T: FromStr>(text: &str) -> Result<T, Error<T::Err>> {
        text.trim().parse::<T>()
    }

    #[test]
    fn a_breaker_opens_through_a_decorated_fn_called_from_threads() {
        assert_eq!(parse::<u8>(" 7 "), Ok(7));
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| assert!(matches!(parse::<u8>("x"), Err(Error::Inner(_)))));
            }
        });
        assert_eq!(PARSER.state(), State::Open);
        let e: Error<ParseIntError> = parse::<u32>("1").unwrap_err();
        assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
    }

    /// A blocking retry with no delay between attempts (no sleeping).
    struct Reader {
        retry: RetryPolicy,
        reads: u32,
    }

    impl Reader {
        /// `&mut self`: a blocking body may mutate, attempt after attempt.
        #[policy(retry = self.retry)]
        fn read(&mut self, fail: u32) -> Result<u32, RetryError<&'static str>> {
            self.reads += 1;
            if self.reads <= fail {
                return Err("short read");
            }
            Ok(self.reads)
        }
    }

    #[test]
    fn a_retry_retries_a_decorated_fn_on_the_thread() {
        let config = super::retry_config(3, Duration::ZERO);
        let mut reader = Reader {
            retry: RetryPolicy::new(config),
            reads: 0,
        };
        assert_eq!(reader.read(2), Ok(3));
        reader.reads = 0;
        assert!(reader.read(5).is_err());
        assert_eq!(reader.reads, 3);
    }
}
