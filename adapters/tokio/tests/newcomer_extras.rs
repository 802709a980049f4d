//! failsafe-tokio as a newcomer reaches the extras the README lists for
//! it: the driver's cache (`SharedCache`, `Pipeline::call_cached`),
//! hedging (`call_hedged`, `call_hedged_blocking`), the feature toggle
//! (`Toggle`) and, with the `macros` feature, the `#[policy(..)]`
//! decorator. Paused tokio time; only `call_hedged_blocking` (a plain
//! thread) waits for real, a few ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// The cache from the binding alone (a review found it reachable only
// through failsafe-core and failsafe-driver).
use failsafe_tokio::driver::cache::WithWaiters;
use failsafe_tokio::{
    BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy, Clock, Error, FlagSpec,
    FlagTable, HedgeConfig, HedgeDelay, Idempotent, Instant, NoWindow, Pipeline, RejectReason,
    State, StdLock, TimeoutConfig, Toggle, ToggleConfig, TokioClock,
};
use failsafe_tokio::{Cache, CacheConfig, CacheError, Cached, SharedCache};
use tokio::time::{advance, sleep};

type Store = WithWaiters<Cache<u32, u64, 16>, 8>;
type TokioCache = SharedCache<Store, StdLock<Store>, TokioClock>;

fn cache(config: CacheConfig) -> Arc<TokioCache> {
    Arc::new(SharedCache::new(
        StdLock::new(WithWaiters::new(Cache::new(config, 0x5eed))),
        TokioClock,
    ))
}

fn ttl(secs: u64) -> CacheConfig {
    CacheConfig::builder()
        .time_to_live(Duration::from_secs(secs))
        .build()
        .unwrap()
}

fn breaker(failures: u32) -> CircuitBreakerPolicy<NoWindow> {
    CircuitBreakerPolicy::new(
        BreakerConfig::builder()
            .consecutive_failures(failures)
            .open_wait(Duration::from_secs(60))
            .build()
            .unwrap(),
        NoWindow,
    )
}

fn bulkhead(limit: u32) -> BulkheadPolicy {
    BulkheadPolicy::new(
        BulkheadConfig::builder()
            .max_concurrent(limit)
            .build()
            .unwrap(),
    )
}

// ------------------------------------------------------------------ cache

#[tokio::test(start_paused = true)]
async fn cache_hit_miss_and_ttl_on_tokio_time() {
    let c = cache(ttl(10));
    let loads = AtomicU32::new(0);
    let load = || async {
        loads.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(42)
    };
    assert_eq!(c.get_or_load(1, load).await, Ok(Cached::Loaded(42)));
    assert_eq!(c.get_or_load(1, load).await, Ok(Cached::Fresh(42)));
    advance(Duration::from_secs(10)).await; // fresh strictly before expiry
    assert_eq!(c.get_or_load(1, load).await, Ok(Cached::Loaded(42)));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

/// A task asking the cache for a key.
type Asking = tokio::task::JoinHandle<Result<Cached<u64>, CacheError<&'static str>>>;

/// `n` tasks asking for `key` at once, each loader it runs counted in the
/// returned counter, taking `ms` of virtual time and answering `answer`.
fn concurrent_loads(
    c: &Arc<TokioCache>,
    n: usize,
    key: u32,
    ms: u64,
    answer: Result<u64, &'static str>,
) -> (Vec<Asking>, Arc<AtomicU32>) {
    let loads = Arc::new(AtomicU32::new(0));
    let tasks = (0..n)
        .map(|_| {
            let (c, loads) = (Arc::clone(c), Arc::clone(&loads));
            tokio::spawn(async move {
                c.get_or_load(key, || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(ms)).await;
                    answer
                })
                .await
            })
        })
        .collect();
    (tasks, loads)
}

#[tokio::test(start_paused = true)]
async fn cache_coalesces_concurrent_misses() {
    let c = cache(ttl(60));
    let (tasks, loads) = concurrent_loads(&c, 5, 7, 50, Ok(70));
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(Cached::Loaded(70)));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // followers were woken by the leader, not by the 10 ms re-check
    assert_eq!(TokioClock.now(), Instant::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn cache_stale_on_error_within_max_stale() {
    let c = cache(
        CacheConfig::builder()
            .time_to_live(Duration::from_secs(1))
            .max_stale(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, &str>(5) }).await,
        Ok(Cached::Loaded(5))
    );
    advance(Duration::from_secs(3)).await;
    let r = c.get_or_load(1, || async { Err::<u64, _>("down") }).await;
    assert_eq!(
        r,
        Ok(Cached::Stale {
            value: 5,
            age: Duration::from_secs(2)
        })
    );
    advance(Duration::from_secs(10)).await; // 12 s past expiry: gone
    let r = c.get_or_load(1, || async { Err::<u64, _>("down") }).await;
    assert_eq!(r, Err(CacheError::Load("down")));
}

#[tokio::test(start_paused = true)]
async fn cache_negative_ttl_answers_without_loading() {
    let c = cache(
        CacheConfig::builder()
            .negative_ttl(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let loads = AtomicU32::new(0);
    let fail = || async {
        loads.fetch_add(1, Ordering::SeqCst);
        Err::<u64, _>("down")
    };
    assert_eq!(c.get_or_load(2, fail).await, Err(CacheError::Load("down")));
    let r = c.get_or_load(2, fail).await;
    assert_eq!(
        r,
        Err(CacheError::Negative {
            until: Instant::from_secs(5)
        })
    );
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    advance(Duration::from_secs(5)).await;
    assert_eq!(c.get_or_load(2, fail).await, Err(CacheError::Load("down")));
    assert_eq!(loads.load(Ordering::SeqCst), 2);
}

/// README: "a failed load is shared with the waiters only through
/// `negative_ttl` or `max_stale`, else each loads in turn".
#[tokio::test(start_paused = true)]
async fn cache_failed_leader_followers_each_load_in_turn() {
    let c = cache(ttl(60));
    let (tasks, loads) = concurrent_loads(&c, 3, 3, 10, Err("down"));
    for t in tasks {
        assert_eq!(t.await.unwrap(), Err(CacheError::Load("down")));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 3);
    assert_eq!(TokioClock.now(), Instant::from_millis(30)); // in turn
}

/// "Dropped while loading, the future ends its mark and wakes its
/// followers": a follower does not wait out the 30 s lease.
#[tokio::test(start_paused = true)]
async fn cache_dropped_leader_hands_the_load_to_a_follower_at_once() {
    let c = cache(ttl(60));
    let leader = {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            c.get_or_load(9, || async {
                sleep(Duration::from_secs(3_600)).await;
                Ok::<_, ()>(1)
            })
            .await
        })
    };
    tokio::task::yield_now().await; // the leader holds the mark
    let follower = {
        let c = Arc::clone(&c);
        tokio::spawn(async move { c.get_or_load(9, || async { Ok::<_, ()>(2) }).await })
    };
    sleep(Duration::from_millis(5)).await;
    leader.abort();
    assert_eq!(follower.await.unwrap(), Ok(Cached::Loaded(2)));
    assert_eq!(TokioClock.now(), Instant::from_millis(5));
}

/// A loader that panics inside a spawned task drops the call's future:
/// its mark ends and the next caller loads at once.
#[tokio::test(start_paused = true)]
async fn cache_panicking_loader_ends_its_mark() {
    let c = cache(ttl(60));
    let panicked = {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            c.get_or_load(4, || async {
                sleep(Duration::from_millis(1)).await;
                if true {
                    panic!("loader bug");
                }
                Ok::<u64, ()>(0)
            })
            .await
        })
    };
    assert!(panicked.await.unwrap_err().is_panic());
    assert_eq!(
        c.get_or_load(4, || async { Ok::<_, ()>(4) }).await,
        Ok(Cached::Loaded(4))
    );
    assert_eq!(TokioClock.now(), Instant::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn call_cached_answers_a_hit_even_with_the_breaker_open() {
    let c = cache(ttl(60));
    let b = breaker(1);
    let pipeline = Pipeline::new(TokioClock).admit(&b);
    let r = pipeline
        .call_cached(&c, 1, |_| async { Ok::<_, &str>(11) })
        .await;
    assert_eq!(r, Ok(Cached::Loaded(11)));
    b.force_open();
    let r = pipeline
        .call_cached(&c, 1, |_| async { Ok::<_, &str>(12) })
        .await;
    assert_eq!(r, Ok(Cached::Fresh(11)));
    // a miss goes through the pipeline: rejected
    let r = pipeline
        .call_cached(&c, 2, |_| async { Ok::<_, &str>(22) })
        .await;
    match r {
        Err(CacheError::Load(e)) => {
            assert_eq!(
                e.rejected().unwrap().reason,
                RejectReason::BreakerForcedOpen
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn call_cached_serves_stale_when_the_pipeline_rejects() {
    let c = cache(
        CacheConfig::builder()
            .time_to_live(Duration::from_secs(1))
            .max_stale(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let b = breaker(1);
    let pipeline = Pipeline::new(TokioClock).admit(&b);
    let _ = pipeline
        .call_cached(&c, 1, |_| async { Ok::<_, &str>(1) })
        .await;
    advance(Duration::from_secs(2)).await;
    b.force_open();
    let r = pipeline
        .call_cached(&c, 1, |_| async { Ok::<_, &str>(2) })
        .await;
    assert_eq!(
        r,
        Ok(Cached::Stale {
            value: 1,
            age: Duration::from_secs(1)
        })
    );
}

#[tokio::test(start_paused = true)]
async fn cache_refresh_ahead_one_caller_refreshes_the_others_are_answered() {
    let c = cache(
        CacheConfig::builder()
            .time_to_live(Duration::from_secs(10))
            .refresh_ahead(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(1) }).await,
        Ok(Cached::Loaded(1))
    );
    advance(Duration::from_secs(9)).await;
    let refresher = {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            c.get_or_load(1, || async {
                sleep(Duration::from_millis(100)).await;
                Ok::<_, ()>(2)
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    // another caller meanwhile is answered from the cache at once
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(3) }).await,
        Ok(Cached::Fresh(1))
    );
    assert_eq!(refresher.await.unwrap(), Ok(Cached::Loaded(2)));
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(4) }).await,
        Ok(Cached::Fresh(2))
    );
}

#[tokio::test(start_paused = true)]
async fn cache_time_to_idle_and_eviction() {
    let c = cache(
        CacheConfig::builder()
            .time_to_idle(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(1) }).await,
        Ok(Cached::Loaded(1))
    );
    advance(Duration::from_secs(4)).await;
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(9) }).await,
        Ok(Cached::Fresh(1))
    );
    advance(Duration::from_secs(4)).await; // 4 s after the last hit: still fresh
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(9) }).await,
        Ok(Cached::Fresh(1))
    );
    advance(Duration::from_secs(5)).await;
    assert_eq!(
        c.get_or_load(1, || async { Ok::<_, ()>(2) }).await,
        Ok(Cached::Loaded(2))
    );
    // a 16-entry store fed 200 keys never grows and never panics
    for k in 10..210u32 {
        let v = c
            .get_or_load(k, || async move { Ok::<_, ()>(u64::from(k)) })
            .await
            .unwrap();
        assert_eq!(*v.value(), u64::from(k));
    }
}

#[tokio::test(start_paused = true)]
async fn cache_begin_pending_dropped_unrun_ends_the_mark() {
    use failsafe_tokio::driver::Begin;
    let c = cache(ttl(60));
    let Begin::Pending(load) = SharedCache::begin(&c, 3) else {
        panic!("a miss")
    };
    drop(load);
    // no wait for the 30 s lease
    assert_eq!(
        c.get_or_load(3, || async { Ok::<_, ()>(3) }).await,
        Ok(Cached::Loaded(3))
    );
    assert_eq!(TokioClock.now(), Instant::ZERO);
}

/// README: a failed load is shared with the waiters through `max_stale`:
/// the followers get the stale value without loading themselves.
#[tokio::test(start_paused = true)]
async fn cache_failed_leader_shares_stale_with_followers() {
    let c = cache(
        CacheConfig::builder()
            .time_to_live(Duration::from_secs(1))
            .max_stale(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let _ = c.get_or_load(3, || async { Ok::<_, &str>(30) }).await;
    advance(Duration::from_secs(2)).await;
    let (tasks, loads) = concurrent_loads(&c, 3, 3, 10, Err("down"));
    for t in tasks {
        let v = t.await.unwrap().unwrap();
        assert!(matches!(v, Cached::Stale { value: 30, .. }), "{v:?}");
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

/// ... and through `negative_ttl`: the followers get the recorded failure.
#[tokio::test(start_paused = true)]
async fn cache_failed_leader_shares_negative_with_followers() {
    let c = cache(
        CacheConfig::builder()
            .negative_ttl(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let (tasks, loads) = concurrent_loads(&c, 3, 3, 10, Err("down"));
    let mut negatives = 0;
    for t in tasks {
        match t.await.unwrap() {
            Err(CacheError::Load("down")) => {}
            Err(CacheError::Negative { .. }) => negatives += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(negatives, 2);
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(TokioClock.now(), Instant::from_millis(10));
}

/// A leader that outlives its lease loses its mark: a follower loads too
/// ("a loader that runs longer loses it and a follower may load too").
#[tokio::test(start_paused = true)]
async fn cache_lease_lapse_lets_a_follower_load() {
    let c: Arc<TokioCache> = Arc::new(
        SharedCache::new(
            StdLock::new(WithWaiters::new(Cache::new(ttl(60), 1))),
            TokioClock,
        )
        .timing(Duration::from_millis(5), Duration::from_millis(1))
        .unwrap(),
    );
    let spawn_load = |value: u64, took: u64| {
        let c = Arc::clone(&c);
        tokio::spawn(async move {
            let r = c
                .get_or_load(1, || async move {
                    sleep(Duration::from_millis(took)).await;
                    Ok::<_, ()>(value)
                })
                .await;
            (r, TokioClock.now())
        })
    };
    let a = spawn_load(1, 20);
    sleep(Duration::from_millis(1)).await;
    let b = spawn_load(2, 30);
    sleep(Duration::from_millis(9)).await;
    let late = spawn_load(3, 0);
    let (a, b, late) = (a.await.unwrap(), b.await.unwrap(), late.await.unwrap());
    assert_eq!(a, (Ok(Cached::Loaded(1)), Instant::from_millis(20)));
    // b took over the lapsed mark at 5 ms and loaded until 35 ms
    assert_eq!(b, (Ok(Cached::Loaded(2)), Instant::from_millis(35)));
    // the latest load is what the cache keeps
    let now = c.get_or_load(1, || async { Ok::<_, ()>(9) }).await;
    assert_eq!(now, Ok(Cached::Fresh(2)));
    // b's own mark lapsed at 10 ms: the late caller loaded at once
    assert_eq!(late, (Ok(Cached::Loaded(3)), Instant::from_millis(10)));
}

#[test]
fn cache_config_errors_name_their_fields() {
    let e = CacheConfig::builder()
        .time_to_live(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "time_to_live");
    let e = CacheConfig::builder()
        .refresh_ahead(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "refresh_ahead");
    let e = CacheConfig::builder()
        .time_to_live(Duration::from_secs(1))
        .refresh_ahead(Duration::from_secs(1))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "refresh_ahead");
    let e = (*cache(ttl(1))).clone_timing_probe(Duration::ZERO, Duration::from_millis(1));
    assert_eq!(e, Some("lease"));
}

trait TimingProbe {
    fn clone_timing_probe(&self, lease: Duration, recheck: Duration) -> Option<&'static str>;
}

impl TimingProbe for TokioCache {
    fn clone_timing_probe(&self, lease: Duration, recheck: Duration) -> Option<&'static str> {
        let fresh: TokioCache = SharedCache::new(
            StdLock::new(WithWaiters::new(Cache::new(CacheConfig::DEFAULT, 1))),
            TokioClock,
        );
        fresh.timing(lease, recheck).err().map(|e| e.field)
    }
}

// ------------------------------------------------------------------ hedge

fn hedge(attempts: u32, delay: HedgeDelay) -> HedgeConfig {
    HedgeConfig::builder()
        .max_attempts(attempts)
        .delay(delay)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn call_hedged_loser_hands_its_slot_back_at_once() {
    let bh = bulkhead(2);
    let pipeline = Pipeline::new(TokioClock).admit(&bh);
    let r = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::Fixed(Duration::from_millis(10))),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| async move {
                let took = if a.number == 1 { 1_000 } else { 5 };
                sleep(Duration::from_millis(took)).await;
                Ok::<_, ()>(a.number)
            }),
        )
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(TokioClock.now(), Instant::from_millis(15));
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn call_hedged_dropped_returns_every_slot() {
    let bh = bulkhead(4);
    let pipeline = Pipeline::new(TokioClock).admit(&bh);
    let call = pipeline.call_hedged(
        hedge(3, HedgeDelay::Fixed(Duration::from_millis(10))),
        (),
        Idempotent(|_| async {
            sleep(Duration::from_secs(10)).await;
            Ok::<_, ()>(())
        }),
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(25), call)
            .await
            .is_err()
    );
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn call_hedged_on_failure_starts_the_next_only_after_a_failure() {
    let started = AtomicU32::new(0);
    let pipeline = Pipeline::new(TokioClock);
    let r = pipeline
        .call_hedged(
            hedge(3, HedgeDelay::OnFailure),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| {
                started.fetch_add(1, Ordering::SeqCst);
                async move {
                    sleep(Duration::from_millis(10)).await;
                    if a.number < 3 {
                        Err("down")
                    } else {
                        Ok(a.number)
                    }
                }
            }),
        )
        .await;
    assert_eq!(r, Ok(3));
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(TokioClock.now(), Instant::from_millis(30));
}

/// A hedge sits where the retry is (README): when every attempt fails the
/// error says why it stopped (`GiveUp::Attempts`, as `hedge`'s own
/// `RetryError` does), so `falls_back` sees `GaveUp`, not `Failed`.
#[tokio::test(start_paused = true)]
async fn call_hedged_every_attempt_fails_says_why() {
    let pipeline = Pipeline::new(TokioClock);
    let e = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::Parallel),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| async move { Err::<(), _>(a.number) }),
        )
        .await
        .unwrap_err();
    assert_eq!(e.attempts, 2);
    assert!(matches!(e.error, Error::Inner(_)), "{e:?}");
    assert_eq!(e.gave_up, Some(failsafe_tokio::GiveUp::Attempts), "{e:?}");
    assert_eq!(
        pipeline.falls_back(&e),
        Some(failsafe_tokio::FallbackReason::GaveUp(
            failsafe_tokio::GiveUp::Attempts
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn call_hedged_with_attempt_timeout_cuts_slow_attempts() {
    let bh = bulkhead(4);
    let pipeline = Pipeline::new(TokioClock)
        .admit(&bh)
        .attempt_timeout(TimeoutConfig::new(Duration::from_millis(20)).unwrap());
    let e = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::Fixed(Duration::from_millis(5))),
            (),
            Idempotent(|_| async {
                sleep(Duration::from_secs(1)).await;
                Ok::<_, ()>(())
            }),
        )
        .await
        .unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(
        TokioClock.now() <= Instant::from_millis(25),
        "{:?}",
        TokioClock.now()
    );
    assert_eq!(bh.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn call_hedged_huge_fixed_delay_does_not_panic() {
    let pipeline = Pipeline::new(TokioClock);
    let r = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::Fixed(Duration::MAX)),
            (),
            Idempotent(|_| async { Ok::<_, ()>(1) }),
        )
        .await;
    assert_eq!(r, Ok(1));
}

/// "up to four attempts in all (the call holds four: a config asking for
/// more runs four)": a hedge of 6 on failure makes 4 attempts, as its docs
/// say (a review found the docs said "at once").
#[tokio::test(start_paused = true)]
async fn call_hedged_makes_at_most_four_attempts_in_all() {
    let started = AtomicU32::new(0);
    let pipeline = Pipeline::new(TokioClock);
    let e = pipeline
        .call_hedged(
            hedge(6, HedgeDelay::OnFailure),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| {
                started.fetch_add(1, Ordering::SeqCst);
                async move { Err::<(), _>(a.number) }
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(started.load(Ordering::SeqCst), 4);
    assert_eq!(e.attempts, 4);
    assert_eq!(e.gave_up, Some(failsafe_tokio::GiveUp::Attempts));
}

/// `latencies = ()`: "the quantile delay is then zero: all attempts at once".
#[tokio::test(start_paused = true)]
async fn call_hedged_quantile_without_latencies_starts_all_at_once() {
    let started = AtomicU32::new(0);
    let pipeline = Pipeline::new(TokioClock);
    let r = pipeline
        .call_hedged(
            hedge(3, HedgeDelay::Quantile),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| {
                started.fetch_add(1, Ordering::SeqCst);
                async move {
                    sleep(Duration::from_millis(10 * u64::from(a.number))).await;
                    Ok::<_, ()>(a.number)
                }
            }),
        )
        .await;
    assert_eq!(r, Ok(1));
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(TokioClock.now(), Instant::from_millis(10));
}

/// A shared `LatencyQuantile` behind a `StdLock`, as the docs say.
#[tokio::test(start_paused = true)]
async fn call_hedged_with_a_shared_latency_quantile() {
    use failsafe_tokio::LatencyQuantile;
    let p50 = StdLock::new(LatencyQuantile::new(
        5_000,
        Duration::from_millis(20),
        5,
        Duration::from_secs(1),
    ));
    let pipeline = Pipeline::new(TokioClock);
    for _ in 0..3 {
        let r = pipeline
            .call_hedged(
                hedge(2, HedgeDelay::Quantile),
                &p50,
                Idempotent(|a: failsafe_tokio::Attempt| async move {
                    sleep(Duration::from_millis(5)).await;
                    Ok::<_, ()>(a.number)
                }),
            )
            .await;
        assert_eq!(r, Ok(1)); // 5 ms beats the 20 ms initial delay
    }
}

/// Huge durations on tokio's timer: no overflow panic anywhere.
#[tokio::test(start_paused = true)]
async fn huge_durations_on_the_tokio_timer_do_not_panic() {
    use failsafe_tokio::{Quota, RateLimiterPolicy, TimeoutPolicy};
    let bh = bulkhead(1);
    let pipeline = Pipeline::new(TokioClock)
        .admit(&bh)
        .attempt_timeout(TimeoutConfig::new(Duration::MAX).unwrap())
        .timeout(Duration::MAX);
    assert_eq!(pipeline.call(|_| async { Ok::<_, ()>(1) }).await, Ok(1));
    let t = TimeoutPolicy::new(TimeoutConfig::new(Duration::MAX).unwrap());
    assert_eq!(t.call(|_| async { Ok::<_, ()>(2) }).await, Ok(2));
    let limiter =
        RateLimiterPolicy::new(Quota::per_second(1_000).unwrap()).with_max_wait(Duration::MAX);
    assert_eq!(limiter.call(|| async { Ok::<_, ()>(3) }).await, Ok(3));
    assert_eq!(limiter.call(|| async { Ok::<_, ()>(4) }).await, Ok(4));
}

/// A hedge on failure runs alone (its predecessor ended), so it waits for
/// a rate limiter's permit as a first attempt does, instead of being
/// refused at once (a review's friction); a hedge beside an attempt still
/// running never waits.
#[tokio::test(start_paused = true)]
async fn a_hedge_that_runs_alone_waits_for_admission_one_beside_another_does_not() {
    use failsafe_tokio::{Quota, RateLimiterPolicy};
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let pipeline = Pipeline::new(TokioClock).admit(&limiter);
    let start = TokioClock.now();
    let starts = std::sync::Mutex::new(Vec::new());
    let r = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::OnFailure),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| {
                starts.lock().unwrap().push(TokioClock.now());
                async move {
                    if a.number == 1 {
                        Err("down")
                    } else {
                        Ok(a.number)
                    }
                }
            }),
        )
        .await;
    assert_eq!(r, Ok(2));
    assert_eq!(
        *starts.lock().unwrap(),
        [start, start + Duration::from_secs(1)],
        "the hedge waited for the next permit"
    );

    // Beside a running attempt: refused at once, the first attempt answers.
    let limiter = RateLimiterPolicy::new(Quota::per_second(1).unwrap());
    let pipeline = Pipeline::new(TokioClock).admit(&limiter);
    let begun = AtomicU32::new(0);
    let r = pipeline
        .call_hedged(
            hedge(2, HedgeDelay::Parallel),
            (),
            Idempotent(|a: failsafe_tokio::Attempt| {
                begun.fetch_add(1, Ordering::SeqCst);
                async move {
                    sleep(Duration::from_millis(10)).await;
                    Ok::<_, ()>(a.number)
                }
            }),
        )
        .await;
    assert_eq!(r, Ok(1));
    assert_eq!(
        begun.load(Ordering::SeqCst),
        1,
        "the parallel hedge was refused, not queued"
    );
}

#[test]
fn hedge_config_errors_name_their_field() {
    let e = HedgeConfig::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(e.field, "max_attempts");
    let e = HedgeConfig::builder().max_attempts(17).build().unwrap_err();
    assert_eq!(e.field, "max_attempts");
}

/// `call_hedged_blocking` on the tokio crate's pipeline, from a plain
/// thread (no runtime), as the README's hedge row says.
#[test]
fn call_hedged_blocking_from_a_plain_thread_on_tokio_clock() {
    let bh = bulkhead(4);
    let pipeline = Pipeline::new(TokioClock).admit(&bh);
    let r = pipeline.call_hedged_blocking(
        hedge(2, HedgeDelay::Fixed(Duration::from_millis(2))),
        (),
        Idempotent(|a: failsafe_tokio::Attempt| {
            if a.number == 1 {
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok::<_, ()>(a.number)
        }),
    );
    assert_eq!(r, Ok(2));
    assert_eq!(bh.in_flight(), 0);
}

/// Its docs: "A panicking attempt is a failed attempt (its permits go
/// back as a failure)" and the panic only leaves when no attempt returned.
#[test]
fn call_hedged_blocking_panicking_attempt_is_a_failure() {
    let bh = bulkhead(4);
    let pipeline = Pipeline::new(TokioClock).admit(&bh);
    let r = pipeline.call_hedged_blocking(
        hedge(2, HedgeDelay::OnFailure),
        (),
        Idempotent(|a: failsafe_tokio::Attempt| {
            if a.number == 1 {
                panic!("attempt bug");
            }
            Ok::<_, ()>(a.number)
        }),
    );
    assert_eq!(r, Ok(2));
    assert_eq!(bh.in_flight(), 0);
}

// ------------------------------------------------------------------ toggle

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

#[tokio::test(start_paused = true)]
async fn toggle_rollout_lists_and_async_call_on_tokio() {
    let table: &FlagTable<1, 4> = leak(FlagTable::new(
        ToggleConfig::new(7, [FlagSpec::new("new-checkout").rollout(0)]).unwrap(),
    ));
    let toggle = Toggle::named(TokioClock, table, "new-checkout").unwrap();
    table
        .allow(TokioClock.now(), toggle.flag(), "tester")
        .unwrap();
    let run = |user: &'static str| toggle.call(user, || async { "new" }, || async { "old" });
    assert_eq!(run("tester").await, "new");
    assert_eq!(run("anyone").await, "old");
    table
        .set_rollout(TokioClock.now(), toggle.flag(), 10_000)
        .unwrap();
    assert_eq!(run("anyone").await, "new");
    assert_eq!(toggle.call_blocking("anyone", || 1, || 0), 1);
}

#[tokio::test(start_paused = true)]
async fn toggle_window_follows_tokio_paused_time() {
    use failsafe_tokio::driver::toggle_machine::Window;
    let windows: &'static [Window] =
        leak([Window::new(Instant::from_secs(1), Instant::from_secs(2)).unwrap()]);
    let table: &FlagTable<1> = leak(FlagTable::new(
        ToggleConfig::new(1, [FlagSpec::new("promo").windows(windows)]).unwrap(),
    ));
    let toggle = Toggle::named(TokioClock, table, "promo").unwrap();
    let _ = TokioClock.now(); // the runtime's epoch: zero
    assert!(!toggle.decide(&()).is_enabled());
    advance(Duration::from_secs(1)).await;
    assert!(toggle.decide(&()).is_enabled());
    advance(Duration::from_secs(1)).await;
    assert!(!toggle.decide(&()).is_enabled());
}

#[tokio::test(start_paused = true)]
async fn toggle_kill_switch_follows_a_breaker() {
    let table: &FlagTable<1> = leak(FlagTable::new(
        ToggleConfig::new(1, [FlagSpec::new("recs")]).unwrap(),
    ));
    let b = breaker(1);
    let toggle = Toggle::named(TokioClock, table, "recs")
        .unwrap()
        .kill_switch(|| b.state() == State::Open);
    assert_eq!(toggle.call(&(), || async { 1 }, || async { 0 }).await, 1);
    let _ = b.call(|| async { Err::<(), _>("down") }).await;
    assert_eq!(toggle.call(&(), || async { 1 }, || async { 0 }).await, 0);
}

#[test]
fn toggle_config_errors_name_their_fields() {
    let e = ToggleConfig::new(1, [FlagSpec::new("a"), FlagSpec::new("a")]).unwrap_err();
    assert_eq!(e.field, "name");
    let e = ToggleConfig::new(1, [FlagSpec::new("a").rollout(10_001)]).unwrap_err();
    assert_eq!(e.field, "rollout");
    let e = ToggleConfig::new(1, [FlagSpec::new("")]).unwrap_err();
    assert_eq!(e.field, "name");
}

// --------------------------------------------------------------- decorator

#[cfg(feature = "macros")]
mod decorator {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use failsafe_tokio::{
        BackoffKind, BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy,
        CountWindow, Error, Jitter, NoWindow, Pipeline, PipelineError, RejectReason, RetryConfig,
        RetryError, RetryPolicy, State, TokioClock, policy,
    };
    use tokio::time::sleep;

    #[derive(Debug, PartialEq)]
    struct Declined;

    static PAYMENTS: LazyLock<CircuitBreakerPolicy<NoWindow>> = LazyLock::new(|| {
        CircuitBreakerPolicy::new(
            BreakerConfig::builder()
                .consecutive_failures(2)
                .build()
                .unwrap(),
            NoWindow,
        )
    });

    #[policy(PAYMENTS)]
    async fn charge(cents: u64) -> Result<u64, Error<Declined>> {
        if cents > 1_000 {
            return Err(Declined);
        }
        let checked: Result<u64, Declined> = Ok(cents);
        let cents = checked?;
        Ok(cents)
    }

    #[tokio::test(start_paused = true)]
    async fn readme_breaker_form_on_async_fn() {
        assert_eq!(charge(5).await, Ok(5));
        assert_eq!(charge(5_000).await, Err(Error::Inner(Declined)));
        assert_eq!(charge(5_000).await, Err(Error::Inner(Declined)));
        assert_eq!(PAYMENTS.state(), State::Open);
        let e = charge(5).await.unwrap_err();
        assert_eq!(e.rejected().unwrap().reason, RejectReason::BreakerOpen);
    }

    static DB: LazyLock<BulkheadPolicy> = LazyLock::new(|| {
        BulkheadPolicy::new(BulkheadConfig::builder().max_concurrent(1).build().unwrap())
    });

    #[policy(DB)]
    async fn slow_query(ms: u64) -> Result<u64, Error<()>> {
        sleep(Duration::from_millis(ms)).await;
        Ok(ms)
    }

    #[policy(DB)]
    async fn buggy_query() -> Result<u64, Error<()>> {
        sleep(Duration::from_millis(1)).await;
        if DB.limit() > 0 {
            panic!("bug in the body");
        }
        Ok(0)
    }

    /// A decorated `async fn` is spawnable (its future is `Send`), and a
    /// dropped or panicking call hands its slot back.
    #[tokio::test(start_paused = true)]
    async fn decorated_future_is_send_and_gives_its_slot_back() {
        let t = tokio::spawn(slow_query(5));
        assert_eq!(t.await.unwrap(), Ok(5));
        assert!(
            tokio::time::timeout(Duration::from_millis(1), slow_query(100))
                .await
                .is_err()
        );
        assert_eq!(DB.in_flight(), 0);
        assert!(tokio::spawn(buggy_query()).await.unwrap_err().is_panic());
        assert_eq!(DB.in_flight(), 0);
        assert_eq!(slow_query(1).await, Ok(1));
    }

    struct Client {
        pipeline: Pipeline<((), CircuitBreakerPolicy), TokioClock>,
        retry: RetryPolicy,
        calls: AtomicU32,
    }

    impl Client {
        fn new() -> Self {
            let config = RetryConfig::builder()
                .max_attempts(3)
                .backoff(BackoffKind::Constant(Duration::from_millis(10)))
                .jitter(Jitter::None)
                .build()
                .unwrap();
            // README: `.retry(..)`, `.attempt_timeout(..)`, `.timeout(..)` keep the type
            let pipeline = Pipeline::new(TokioClock)
                .admit(CircuitBreakerPolicy::new(
                    BreakerConfig::DEFAULT,
                    CountWindow::new(),
                ))
                .retry(config)
                .attempt_timeout(
                    failsafe_tokio::TimeoutConfig::new(Duration::from_millis(500)).unwrap(),
                )
                .timeout(Duration::from_secs(2));
            Client {
                pipeline,
                retry: RetryPolicy::new(config),
                calls: AtomicU32::new(0),
            }
        }

        #[policy(pipeline = self.pipeline, attempt = attempt)]
        async fn fetch(&self, id: u32) -> Result<String, PipelineError<std::io::Error>> {
            assert!(!attempt.deadline.is_never());
            if self.calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(std::io::Error::other("flaky"))?;
            }
            Ok(format!("{id}@{}", attempt.number))
        }

        #[policy(retry = self.retry)]
        fn read(&self, path: &std::path::Path) -> Result<Vec<u8>, RetryError<std::io::Error>> {
            std::fs::read(path)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn readme_client_forms_run() {
        let client = Client::new();
        assert_eq!(client.fetch(7).await.unwrap(), "7@3");
        let e = client
            .read(std::path::Path::new("/nonexistent/failsafe"))
            .unwrap_err();
        assert_eq!(e.attempts, 3);
        assert_eq!(e.last.unwrap().kind(), std::io::ErrorKind::NotFound);
    }

    struct Counter {
        breaker: CircuitBreakerPolicy<NoWindow>,
        hits: u32,
    }

    impl Counter {
        /// A `&mut self` method: the handle is one field, the body mutates another.
        #[policy(self.breaker)]
        async fn bump(&mut self, by: u32) -> Result<u32, Error<()>> {
            self.hits += by;
            Ok(self.hits)
        }

        #[policy(self.breaker)]
        fn bump_blocking(&mut self, by: u32) -> Result<u32, Error<()>> {
            self.hits += by;
            Ok(self.hits)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn mut_self_methods_decorate() {
        let mut c = Counter {
            breaker: CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow),
            hits: 0,
        };
        assert_eq!(c.bump(2).await, Ok(2));
        assert_eq!(c.bump_blocking(3), Ok(5));
    }

    #[policy(PAYMENTS_GENERIC)]
    async fn generic<T: Clone + Send + Sync>(value: &T, fail: bool) -> Result<T, Error<String>> {
        if fail {
            return Err(String::from("no"));
        }
        Ok(value.clone())
    }

    static PAYMENTS_GENERIC: LazyLock<CircuitBreakerPolicy<NoWindow>> =
        LazyLock::new(|| CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow));

    #[tokio::test(start_paused = true)]
    async fn generic_async_fn_decorates() {
        assert_eq!(generic(&"x", false).await, Ok("x"));
        assert_eq!(
            generic(&1u8, true).await,
            Err(Error::Inner(String::from("no")))
        );
    }

    #[derive(Debug)]
    struct Request {
        body: String,
    }

    static MAILER: LazyLock<BulkheadPolicy> =
        LazyLock::new(|| BulkheadPolicy::new(BulkheadConfig::DEFAULT));

    /// A policy runs the body once: the body may consume its arguments.
    #[policy(MAILER)]
    async fn send(
        request: Request,
        (a, b): (u32, u32),
        tag: impl AsRef<str> + Send,
    ) -> Result<usize, Error<String>> {
        let body = request.body; // moved out
        let n: usize = body.len() + (a + b) as usize + tag.as_ref().len();
        let parsed: u32 = "12"
            .parse()
            .map_err(|e: std::num::ParseIntError| e.to_string())?;
        Ok(n + parsed as usize)
    }

    #[tokio::test(start_paused = true)]
    async fn policy_body_consumes_arguments_and_converts_with_question_mark() {
        let r = send(Request { body: "abc".into() }, (1, 2), "xy").await;
        assert_eq!(r, Ok(3 + 3 + 2 + 12));
    }

    /// A service keeps its client in an `Arc` and calls the decorated
    /// method from spawned tasks (an axum handler does): the future must be `Send`.
    #[tokio::test(start_paused = true)]
    async fn decorated_pipeline_method_is_spawnable() {
        let client = std::sync::Arc::new(Client::new());
        let task = {
            let client = std::sync::Arc::clone(&client);
            tokio::spawn(async move { client.fetch(1).await.map_err(|e| e.attempts) })
        };
        assert_eq!(task.await.unwrap(), Ok(String::from("1@3")));
    }

    static PARSER: LazyLock<CircuitBreakerPolicy<NoWindow>> =
        LazyLock::new(|| CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow));

    /// The body returns a borrow of an argument, and `T` is inferred from the
    /// declared return type (`s.parse()?`).
    #[policy(PARSER)]
    async fn first_word<'a>(line: &'a str) -> Result<&'a str, Error<std::num::ParseIntError>> {
        let _n: u32 = line.len().to_string().parse()?;
        Ok(line.split(' ').next().unwrap_or(""))
    }

    #[policy(PARSER)]
    async fn parse(s: &str) -> Result<u32, Error<std::num::ParseIntError>> {
        let n = s.trim().parse()?;
        Ok(n)
    }

    #[policy(PARSER)]
    fn parse_blocking(s: &str) -> Result<u32, Error<std::num::ParseIntError>> {
        let n = s.trim().parse()?;
        Ok(n)
    }

    #[tokio::test(start_paused = true)]
    async fn borrowed_results_and_inferred_ok_types() {
        assert_eq!(first_word("hello world").await, Ok("hello"));
        assert_eq!(parse(" 42 ").await, Ok(42));
        assert!(matches!(parse("x").await, Err(Error::Inner(_))));
        assert_eq!(parse_blocking("7"), Ok(7));
    }
}
