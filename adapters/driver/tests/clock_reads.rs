//! The std handle reads the clock only when a decision needs the time.

use std::cell::Cell;

use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, CountWindow};
use failsafe_driver::{CircuitBreakerPolicy, Clock, Park};

#[derive(Debug, Default)]
struct CountingClock(Cell<u32>);

impl Clock for CountingClock {
    fn now(&self) -> Instant {
        self.0.set(self.0.get() + 1);
        Instant::from_millis(u64::from(self.0.get()))
    }
}

/// Blocking calls park on it (never, here: a breaker never queues).
impl Park for CountingClock {}

#[test]
fn a_closed_breaker_with_a_count_window_never_reads_the_clock() {
    let breaker: CircuitBreakerPolicy<CountWindow<10>, CountingClock> =
        CircuitBreakerPolicy::with_runtime(
            BreakerConfig::DEFAULT,
            CountWindow::new(),
            CountingClock::default(),
        );
    for _ in 0..100 {
        breaker.call_blocking(|| Ok::<_, ()>(())).unwrap();
    }
    assert_eq!(breaker.runtime().0.get(), 0);
}

#[test]
fn slow_call_detection_and_an_open_breaker_read_it_once_per_decision() {
    use std::time::Duration;
    let config = BreakerConfig::builder()
        .slow_call_duration(Duration::from_secs(1))
        .consecutive_failures(1)
        .build()
        .unwrap();
    let breaker: CircuitBreakerPolicy<CountWindow<10>, CountingClock> =
        CircuitBreakerPolicy::with_runtime(config, CountWindow::new(), CountingClock::default());
    breaker.call_blocking(|| Ok::<_, ()>(())).unwrap();
    assert_eq!(
        breaker.runtime().0.get(),
        2,
        "start and end, to measure the call"
    );
    let _ = breaker.call_blocking(|| Err::<(), _>(()));
    assert_eq!(
        breaker.runtime().0.get(),
        4,
        "the trip reuses the end time it read"
    );
    assert!(breaker.call_blocking(|| Ok::<_, ()>(())).is_err());
    assert_eq!(
        breaker.runtime().0.get(),
        5,
        "an open breaker reads once to compare with retry_at"
    );
}

/// Blocking retries sleep on it: a sleep jumps the count past its end.
impl failsafe_driver::BlockingRuntime for CountingClock {
    fn block_until(&self, at: Instant) {
        let at = u32::try_from(at.as_millis()).unwrap_or(u32::MAX);
        self.0.set(self.0.get().max(at));
    }
}

#[test]
fn a_retry_whose_first_attempt_succeeds_never_reads_the_clock() {
    use failsafe_core::retry::{BackoffKind, Jitter, RetryConfig};
    use failsafe_driver::RetryPolicy;
    use std::time::Duration;
    let config = RetryConfig::builder()
        .max_attempts(3)
        .backoff(BackoffKind::Constant(Duration::from_millis(100)))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let retry = RetryPolicy::with_runtime(config, CountingClock::default());
    for _ in 0..10 {
        retry.call_blocking(|_| Ok::<_, ()>(())).unwrap();
    }
    assert_eq!(retry.runtime().0.get(), 0);
    // a failure reads it where a decision needs the time: at each failed
    // attempt's end, to start the backoff
    let answer = retry.call_blocking(|a| {
        if a.number < 3 {
            Err(a.number)
        } else {
            Ok(a.number)
        }
    });
    assert_eq!(answer, Ok(3));
    assert_eq!(
        retry.runtime().0.get(),
        100 + 1 + 100 + 1 + 1,
        "two backoffs jumped, three reads"
    );
}
