//! Several instances on one real Redis: threads and separate processes
//! sharing one key stay within the shared bound; leasing stays within the
//! leasing bound (and the overshoot is measured); Redis stopped mid-run and
//! started again (fail open / fail closed as documented, events, the limit
//! holds after recovery); breaker sharing and half-open probes across
//! instances.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RedisServer, check_windows};
use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::rate::Quota;
use failsafe_core::rate::shared::{leased_bound, shared_bound};
use failsafe_core::{Instant, Outcome, RejectReason};
use failsafe_redis::{
    Admitted, OnStoreError, RedisBreaker, RedisRateLimiter, SharedPermit, Store, StoreConfig,
    StoreEvent,
};
use failsafe_tokio::{Clock, TokioClock};

const CHILD_ENV: &str = "FAILSAFE_REDIS_TEST_CHILD_URL";
const CHILD_PREFIX: &str = "granted-at-ns ";

fn store(url: &str) -> Store {
    Store::connect(url, StoreConfig::new().call_timeout(Duration::from_secs(2))).unwrap()
}

/// `calls` decisions at the server's time; the instants (ns) of those granted.
async fn hammer(limiter: &RedisRateLimiter, calls: usize) -> Vec<(u64, u32)> {
    let mut log = Vec::new();
    for _ in 0..calls {
        let reply = limiter.step(None, 1).await.expect("the store answers");
        if reply.decision.is_ok() {
            log.push((reply.now.as_nanos(), 1));
        }
    }
    log
}

fn shared_quota() -> Quota {
    Quota::per_second(200).unwrap().with_burst(10).unwrap()
}

/// Not a test of its own: the body of the child processes of
/// `separate_processes_share_one_key` (does nothing unless spawned by it).
#[tokio::test(flavor = "current_thread")]
async fn child_instance() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let limiter = RedisRateLimiter::builder(store(&url), "processes", shared_quota())
        .build()
        .unwrap();
    // the child's report to its parent, one line per permit
    let mut out = std::io::stdout().lock();
    for (t, _) in hammer(&limiter, 600).await {
        writeln!(out, "{CHILD_PREFIX}{t}").unwrap();
    }
}

#[test]
fn threads_share_one_key_within_the_shared_bound() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let logs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                // each thread an instance: its own runtime, connection and limiter
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let limiter = RedisRateLimiter::builder(store(&url), "threads", shared_quota())
                        .build()
                        .unwrap();
                    hammer(&limiter, 500).await
                })
            })
        })
        .collect();
    let mut log: Vec<(u64, u32)> = logs.into_iter().flat_map(|h| h.join().unwrap()).collect();
    log.sort_unstable();
    assert!(log.len() > 10, "{} granted", log.len());
    let overshoot = check_windows(
        &log,
        |w| shared_bound(shared_quota(), w),
        |w| shared_bound(shared_quota(), w),
    );
    assert_eq!(overshoot, 0);
    eprintln!(
        "4 threads, 2000 decisions: {} granted, within burst + w / period in every window",
        log.len()
    );
}

#[test]
fn separate_processes_share_one_key_within_the_shared_bound() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "child_instance",
                    "--exact",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(CHILD_ENV, server.url())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("the test binary runs as a child")
        })
        .collect();
    // this process is a third instance
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut log = rt.block_on(async {
        let limiter = RedisRateLimiter::builder(store(&server.url()), "processes", shared_quota())
            .build()
            .unwrap();
        hammer(&limiter, 600).await
    });
    let mut from_children = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a child instance failed");
        let text = String::from_utf8(out.stdout).unwrap();
        for line in text.lines().filter_map(|l| l.strip_prefix(CHILD_PREFIX)) {
            log.push((line.trim().parse().unwrap(), 1));
            from_children += 1;
        }
    }
    assert!(from_children > 0, "the children were granted permits too");
    log.sort_unstable();
    check_windows(
        &log,
        |w| shared_bound(shared_quota(), w),
        |w| shared_bound(shared_quota(), w),
    );
    eprintln!(
        "3 processes: {} granted ({from_children} in the children), within the shared bound",
        log.len()
    );
}

/// Leasing: `instances` instances each leasing batches of `batch`, in
/// virtual time injected as 10x the real elapsed time (so keys never
/// expire before their time); returns the spent log and the overshoot.
async fn leasing_run(
    url: &str,
    name: &str,
    instances: u32,
    batch: u32,
    quota: Quota,
) -> (Vec<(u64, u32)>, u64) {
    let base = Instant::from_micros(1_780_000_000_000_000);
    let start = std::time::Instant::now();
    let virtual_now = move || base.saturating_add(start.elapsed() * 10);
    let tasks: Vec<_> = (0..instances)
        .map(|_| {
            let url = url.to_owned();
            let name = name.to_owned();
            tokio::spawn(async move {
                let limiter = RedisRateLimiter::builder(store(&url), &name, quota)
                    .lease(batch, Duration::from_millis(100))
                    // a task may be delayed between reading the virtual clock
                    // and reaching Redis: keep keys long enough for any delay
                    .expiry_slack(Duration::from_secs(60))
                    .build()
                    .unwrap();
                let mut log = Vec::new();
                for _ in 0..1_500 {
                    // Round to whole microseconds, the store's unit
                    let now = Instant::from_micros(virtual_now().as_nanos() / 1_000);
                    if limiter.acquire_at(now, 1).await.is_ok() {
                        log.push((now.as_nanos(), 1));
                    }
                }
                log
            })
        })
        .collect();
    let mut log = Vec::new();
    for t in tasks {
        log.extend(t.await.unwrap());
    }
    log.sort_unstable();
    let overshoot = check_windows(
        &log,
        |w| leased_bound(quota, w, instances, batch),
        |w| shared_bound(quota, w),
    );
    (log, overshoot)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leasing_stays_within_the_leasing_bound_and_the_overshoot_is_measured() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let quota = Quota::per_second(200).unwrap().with_burst(10).unwrap();
    let (instances, batch) = (4, 5);
    let (plain, plain_over) = leasing_run(&server.url(), "lease-1", instances, 1, quota).await;
    let (leased, leased_over) =
        leasing_run(&server.url(), "lease-5", instances, batch, quota).await;
    assert_eq!(plain_over, 0, "batches of 1 are the shared limiter");
    assert!(leased_over <= u64::from(instances * (batch - 1)));
    assert!(plain.len() > 20 && leased.len() > 20);
    eprintln!(
        "leasing, {instances} instances: batch 1 spent {} (overshoot {plain_over}); batch {batch} spent {} \
         (largest overshoot over burst + w / period in any window: {leased_over}, bound {})",
        plain.len(),
        leased.len(),
        instances * (batch - 1)
    );
}

/// Runs `f` with a generous hang detector: no store call may hang (each has
/// its timeout); this only turns a hang into a failure instead of a stuck test.
async fn no_hang<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("a call hung")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_run_fails_open_or_closed_and_recovers() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = StoreConfig::new()
        .call_timeout(Duration::from_millis(200))
        .on_event(move |e| seen.lock().unwrap().push(e));
    let store = Store::connect(&server.url(), config).unwrap();
    let quota = Quota::per_second(50).unwrap().with_burst(5).unwrap();
    let open = RedisRateLimiter::builder(store.clone(), "fault-open", quota)
        .fail_open(Quota::per_second(10).unwrap().with_burst(2).unwrap())
        .build()
        .unwrap();
    let closed = RedisRateLimiter::builder(store.clone(), "fault-closed", quota)
        .build()
        .unwrap();
    let breaker_config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let breaker_open =
        RedisBreaker::builder(store.clone(), "fault-breaker", breaker_config, NoWindow)
            .poll(Duration::ZERO)
            .build()
            .unwrap();
    let breaker_closed =
        RedisBreaker::builder(store.clone(), "fault-breaker", breaker_config, NoWindow)
            .poll(Duration::ZERO)
            .fail_closed()
            .build()
            .unwrap();

    assert_eq!(no_hang(open.acquire(1)).await, Ok(Admitted::Shared));
    assert_eq!(no_hang(closed.acquire(1)).await, Ok(Admitted::Shared));
    assert!(matches!(
        no_hang(breaker_open.acquire()).await,
        Ok(SharedPermit::Local(_))
    ));

    server.stop();
    let mut local = 0;
    for _ in 0..20 {
        // fail open: the local limit decides (2 at once, then 10 a second)
        match no_hang(open.acquire(1)).await {
            Ok(how) => {
                assert_eq!(how, Admitted::Local);
                local += 1;
            }
            Err(r) => assert_eq!(r.reason, RejectReason::RateLimited),
        }
        // fail closed: rejected, when unknown
        let r = no_hang(closed.acquire(1)).await.unwrap_err();
        assert_eq!((r.reason, r.retry_at), (RejectReason::RateLimited, None));
        // the breaker: its own breaker alone, or rejected
        let permit = no_hang(breaker_open.acquire())
            .await
            .expect("fail open: the local breaker admits");
        assert!(matches!(permit, SharedPermit::Local(_)));
        no_hang(breaker_open.record(permit, Outcome::Success)).await;
        let r = no_hang(breaker_closed.acquire()).await.unwrap_err();
        assert_eq!((r.reason, r.retry_at), (RejectReason::BreakerOpen, None));
    }
    assert!(local >= 2, "the local limit admitted its burst");
    {
        let events = events.lock().unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StoreEvent::Unavailable { .. })),
            "{events:?}"
        );
        for mode in [OnStoreError::FailOpen, OnStoreError::FailClosed] {
            assert!(
                events
                    .iter()
                    .any(|e| matches!(e, StoreEvent::DecidedWithout { mode: m, .. } if *m == mode))
            );
        }
        assert!(!events.iter().any(|e| matches!(e, StoreEvent::Recovered)));
    }

    // Redis returns (empty: scripts are loaded again on NOSCRIPT)
    server.restart();
    let mut recovered = false;
    for _ in 0..300 {
        if matches!(no_hang(open.acquire(1)).await, Ok(Admitted::Shared)) {
            recovered = true;
            break;
        }
        // waiting for the reconnection and the store breaker's probe
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recovered, "shared decisions again after Redis came back");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, StoreEvent::Recovered))
    );
    // the global limit holds again
    let log = hammer(&closed, 300).await;
    check_windows(&log, |w| shared_bound(quota, w), |w| shared_bound(quota, w));
    assert!(matches!(
        no_hang(breaker_closed.acquire()).await,
        Ok(SharedPermit::Local(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_trips_the_others_reject_and_probes_stay_within_the_quota() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = BreakerConfig::builder()
        .no_failure_rate()
        .consecutive_failures(3)
        .open_wait(Duration::from_secs(60))
        .half_open_probes(2)
        .success_threshold(2)
        .build()
        .unwrap();
    let instance = |poll: Duration| {
        RedisBreaker::builder(store(&server.url()), "sharing", config, NoWindow)
            .poll(poll)
            .build()
            .unwrap()
    };
    let a = instance(Duration::ZERO);
    let others: Vec<_> = (0..3).map(|_| instance(Duration::ZERO)).collect();
    let late = instance(Duration::from_secs(3_600)); // reads the record once an hour
    assert!(matches!(late.acquire().await, Ok(SharedPermit::Local(_))));

    for _ in 0..3 {
        let r: Result<(), _> = a.call(|| async { Err::<(), _>("down") }).await;
        assert!(r.is_err());
    }
    let record = a.record_seen();
    assert!(record.is_open() && record.round() == 1, "{record:?}");
    // every instance that reads the record rejects: poll 0, so on its next call
    // (the documented delay is poll + the store call's time)
    for b in &others {
        assert_eq!(b.delay(), Duration::from_secs(2)); // poll 0 + the store call's 2 s timeout
        // `retry_at` is the open wait's end moved to the local clock: the
        // wait left by the store's clock added to the local now (within the
        // slack of the store-clock offset moving with each reply's RTT)
        let (t0, s0) = (TokioClock.now(), b.store().now());
        let r = b.acquire().await.unwrap_err();
        let (t1, s1) = (TokioClock.now(), b.store().now());
        assert_eq!(r.reason, RejectReason::BreakerOpen);
        let at = r.retry_at.unwrap();
        let slack = Duration::from_millis(100);
        let until = record.open_until();
        let low = t0.saturating_add(until.saturating_duration_since(s1));
        let high = t1
            .saturating_add(until.saturating_duration_since(s0))
            .saturating_add(slack);
        assert!(
            at.saturating_add(slack) >= low && at <= high,
            "{at:?} not in {low:?}..{high:?}"
        );
    }
    // one whose copy is younger than its poll may still admit (within its delay) ...
    assert!(matches!(late.acquire().await, Ok(SharedPermit::Local(_))));
    // ... and rejects as soon as it reads the record
    late.refresh().await.unwrap();
    assert_eq!(
        late.acquire().await.unwrap_err().reason,
        RejectReason::BreakerOpen
    );

    // half-open (injected time past the open wait): 4 instances x 10 tasks race for probes
    let half_open = record.open_until();
    let instances: Vec<_> = (0..4).map(|_| Arc::new(instance(Duration::ZERO))).collect();
    let races: Vec<_> = instances
        .iter()
        .flat_map(|b| {
            (0..10).map(move |_| {
                let b = b.clone();
                tokio::spawn(
                    async move { b.script("probe", Some(half_open), &[]).await.unwrap().0 },
                )
            })
        })
        .collect();
    let mut granted = 0;
    for race in races {
        if race.await.unwrap() == 1 {
            granted += 1;
        }
    }
    assert_eq!(
        granted, 2,
        "exactly the quota of probes across every instance"
    );
    // two successes close the round for everyone
    for _ in 0..2 {
        instances[0]
            .script("settle", Some(half_open), &[1, 1])
            .await
            .unwrap();
    }
    for b in &others {
        assert!(matches!(b.acquire().await, Ok(SharedPermit::Local(_))));
        assert!(!b.record_seen().is_open());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_times_out_each_call_and_recovers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = StoreConfig::new()
        .call_timeout(Duration::from_millis(100))
        .on_event(move |e| seen.lock().unwrap().push(e));
    let store = Store::connect(&server.url(), config).unwrap();
    let quota = Quota::per_second(1_000).unwrap().with_burst(100).unwrap();
    let limiter = RedisRateLimiter::builder(store.clone(), "slow", quota)
        .fail_open(Quota::per_second(1_000).unwrap().with_burst(100).unwrap())
        .build()
        .unwrap();
    assert_eq!(no_hang(limiter.acquire(1)).await, Ok(Admitted::Shared));

    // Redis stops answering for 1.5 s (connections stay open): slow, not gone
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    // the first call times out (its own timeout), the next are refused by the
    // store breaker without a round trip; fail open decides every one
    for _ in 0..5 {
        assert_eq!(no_hang(limiter.acquire(1)).await, Ok(Admitted::Local));
    }
    {
        let events = events.lock().unwrap();
        assert!(
            events.contains(&StoreEvent::Unavailable {
                failure: failsafe_redis::StoreFailure::Timeout
            }),
            "{events:?}"
        );
    }
    let mut recovered = false;
    for _ in 0..300 {
        if matches!(no_hang(limiter.acquire(1)).await, Ok(Admitted::Shared)) {
            recovered = true;
            break;
        }
        // waiting for the pause to end and the store breaker's probe
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(recovered);
    assert!(events.lock().unwrap().contains(&StoreEvent::Recovered));
}
