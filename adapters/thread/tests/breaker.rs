//! Blocking calls on std threads. Timelines run on a test clock the test
//! moves by hand; nothing sleeps.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_thread::{
    BreakerConfig, BreakerEvent, CircuitBreakerPolicy, Clock, CountWindow, Error, Instant,
    NoWindow, Outcome, RejectReason, State, StdClock,
};

mod support;
use support::TestClock;

type TestBreaker = failsafe_driver::CircuitBreakerPolicy<NoWindow, TestClock>;

fn breaker(failures: u32, open_wait: Duration) -> (TestBreaker, TestClock) {
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(failures)
        .open_wait(open_wait)
        .open_wait_backoff(2, open_wait * 4)
        .build()
        .unwrap();
    let clock = TestClock::default();
    (
        TestBreaker::with_runtime(config, NoWindow, clock.clone()),
        clock,
    )
}

fn ok(b: &TestBreaker) -> Result<u32, Error<&'static str>> {
    b.call_blocking(|| Ok(7))
}

fn fail(b: &TestBreaker) -> Result<u32, Error<&'static str>> {
    b.call_blocking(|| Err("down"))
}

#[test]
fn state_timeline_on_a_test_clock() {
    let (b, clock) = breaker(2, Duration::from_secs(10));

    // t=0 fail, t=1s fail: open until t=11s
    assert_eq!(fail(&b), Err(Error::Inner("down")));
    clock.advance(Duration::from_secs(1));
    assert_eq!(fail(&b), Err(Error::Inner("down")));
    assert_eq!(b.state(), State::Open);

    // t=5s: rejected without running, told to come back at t=11s
    clock.advance(Duration::from_secs(4));
    let mut ran = false;
    let r = b.call_blocking(|| {
        ran = true;
        Ok::<_, ()>(())
    });
    assert!(!ran);
    let rejected = r.unwrap_err().rejected().copied().unwrap();
    assert_eq!(rejected.reason, RejectReason::BreakerOpen);
    assert_eq!(rejected.retry_at, Some(Instant::from_secs(11)));

    // t=11s: half-open; the probe fails: open again, twice as long (until t=31s)
    clock.advance(Duration::from_secs(6));
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(fail(&b), Err(Error::Inner("down")));
    assert_eq!(b.metrics().open_until, Some(Instant::from_secs(31)));

    // t=31s: half-open again; a successful probe closes
    clock.advance(Duration::from_secs(20));
    assert_eq!(ok(&b), Ok(7));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().times_opened, 2);
}

#[test]
fn classifier_decides_what_counts() {
    let (b, _clock) = breaker(2, Duration::from_secs(10));
    let by_status = |r: &Result<u16, ()>| match r {
        Ok(404) => Outcome::Ignored,
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(()) => Outcome::Failure,
    };
    assert_eq!(b.call_blocking_with(&by_status, || Ok(503)), Ok(503));
    assert_eq!(b.call_blocking_with(&by_status, || Ok(404)), Ok(404));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.call_blocking_with(&by_status, || Ok(502)), Ok(502));
    assert_eq!(b.state(), State::Open);
}

#[test]
fn panicking_closure_releases_its_permit() {
    let (b, clock) = breaker(1, Duration::from_secs(10));

    // closed: a panic is not a failure
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Closed);

    // half-open: the panicking probe gives its slot back
    b.open();
    clock.advance(Duration::from_secs(10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call_blocking(|| -> Result<(), ()> { panic!("boom") })
    }));
    assert!(r.is_err());
    let m = b.metrics();
    assert_eq!((m.state, m.probes_in_flight), (State::HalfOpen, 0));
    assert_eq!(ok(&b), Ok(7));
    assert_eq!(b.state(), State::Closed);
}

/// The state, and how many transitions led to it, in one word.
fn stamp(transitions: u64, state: State) -> u64 {
    transitions << 8 | state as u64
}

#[test]
fn hammering_threads_never_exceed_the_probe_quota_and_return_every_permit() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 10_000;
    const PROBES: u32 = 3;
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_millis(5))
        .half_open_probes(PROBES)
        .success_threshold(2)
        .probe_lease(Duration::from_millis(2))
        .build()
        .unwrap();
    let clock = TestClock::default();

    // Every transition bumps the stamp, under the breaker's lock. A call whose
    // stamp is the same just before `call` and inside the closure was admitted
    // in that state: a half-open stamp identifies the probe and its round.
    let current = Arc::new(AtomicU64::new(stamp(0, State::Closed)));
    let opened = Arc::new(AtomicU64::new(0));
    let b = TestBreaker::with_runtime(config, NoWindow, clock.clone()).on_event({
        let (current, opened) = (Arc::clone(&current), Arc::clone(&opened));
        move |e| {
            if let BreakerEvent::StateChanged { to, .. } = e {
                let n = (current.load(Ordering::SeqCst) >> 8) + 1;
                current.store(stamp(n, to), Ordering::SeqCst);
                if to == State::Open {
                    opened.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    });

    #[derive(Default)]
    struct Round {
        admitted: u32,
        running: u32,
        max_running: u32,
    }
    let rounds: Mutex<HashMap<u64, Round>> = Mutex::new(HashMap::new());
    let rejected = AtomicU64::new(0);

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (b, clock, current, rounds, rejected) = (&b, &clock, &current, &rounds, &rejected);
            s.spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                for i in 0..CALLS {
                    clock.advance(Duration::from_micros(50));
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let failed = rng % 10 < 4;
                    let before = current.load(Ordering::SeqCst);
                    let r = b.call_blocking(|| {
                        let probe_round = (current.load(Ordering::SeqCst) == before
                            && before & 0xff == State::HalfOpen as u64)
                            .then_some(before >> 8);
                        if let Some(round) = probe_round {
                            let mut rounds = rounds.lock().unwrap();
                            let r = rounds.entry(round).or_default();
                            r.admitted += 1;
                            r.running += 1;
                            r.max_running = r.max_running.max(r.running);
                        }
                        if i % 8 == 0 {
                            std::thread::yield_now();
                        }
                        for _ in 0..64 {
                            std::hint::spin_loop();
                        }
                        if let Some(round) = probe_round {
                            rounds.lock().unwrap().get_mut(&round).unwrap().running -= 1;
                        }
                        if failed { Err(i) } else { Ok(i) }
                    });
                    if let Err(Error::Rejected(_)) = r {
                        rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });

    let rounds = rounds.into_inner().unwrap();
    assert!(!rounds.is_empty(), "no half-open probe was observed");
    for (round, r) in &rounds {
        assert!(
            r.admitted <= PROBES && r.max_running <= PROBES,
            "round {round}: {} probes admitted, {} at once",
            r.admitted,
            r.max_running
        );
        assert_eq!(r.running, 0);
    }

    // every permit came back, and the counters agree with what callers saw
    let m = b.metrics();
    assert_eq!(m.probes_in_flight, 0);
    assert_eq!(m.rejected, rejected.load(Ordering::Relaxed));
    assert_eq!(m.times_opened, opened.load(Ordering::SeqCst));
    assert!(m.times_opened > 0);

    eprintln!(
        "{} half-open rounds observed, {} probes, {} opens, {} rejections",
        rounds.len(),
        rounds.values().map(|r| r.admitted).sum::<u32>(),
        m.times_opened,
        m.rejected
    );

    // and it still works: after any wait, two successful probes close it
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        assert_eq!(b.call_blocking(|| Ok::<_, ()>(1)), Ok(1));
    }
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn handle_is_send_sync_and_shared_by_clones() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<CircuitBreakerPolicy>();
    send_sync::<TestBreaker>();

    let config = BreakerConfig::builder()
        .consecutive_failures(4)
        .build()
        .unwrap();
    let b = CircuitBreakerPolicy::new(config, CountWindow::<100>::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || b.call_blocking(|| Err::<(), _>("down")))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Err(Error::Inner("down")));
    }
    // four failures from four threads tripped the one shared breaker
    assert_eq!(b.state(), State::Open);
    let r = b.call_blocking(|| Ok::<_, ()>(()));
    let retry_at = r.unwrap_err().rejected().unwrap().retry_at.unwrap();
    assert!(retry_at > StdClock.now());
}
