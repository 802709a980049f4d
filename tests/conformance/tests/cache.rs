//! The cache on the driver and in the pipeline, in virtual time, for both
//! stores (the core's fixed `Cache` and the std `QuickStore`): concurrent
//! misses load once and every waiter gets the result; stale-on-error serves
//! and says so (followers of a failed leader too); negative caching spares
//! the loader; refresh-ahead loads once while the others keep the fresh
//! value; a dropped leader does not wedge its followers, a lost one holds
//! them only until its lease; the pipeline's hit answers before any
//! admission and its rejection serves the stale value.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use failsafe_conformance::VirtualTime;
use failsafe_core::Instant;
use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::cache::{Cache, CacheConfig, LoadMark};
use failsafe_driver::cache::WithWaiters;
use failsafe_driver::{
    CacheError, CacheStore, Cached, CircuitBreakerPolicy, Clock, Error, Pipeline, QuickStore,
    Runtime, SharedCache, StdLock,
};
use futures_lite::future::{block_on, poll_fn, poll_once, zip};

type Core = Cache<u32, u32, 64>;
type Quick = QuickStore<u32, u32>;
type Handle<S> = SharedCache<S, StdLock<S>, VirtualTime>;

fn config(ttl_s: u64, max_stale_s: u64, negative_s: u64, refresh_ms: u64) -> CacheConfig {
    let mut b = CacheConfig::builder()
        .time_to_live(Duration::from_secs(ttl_s))
        .max_stale(Duration::from_secs(max_stale_s));
    if negative_s > 0 {
        b = b.negative_ttl(Duration::from_secs(negative_s));
    }
    if refresh_ms > 0 {
        b = b.refresh_ahead(Duration::from_millis(refresh_ms));
    }
    b.build().unwrap()
}

fn core(config: CacheConfig, time: &VirtualTime) -> Handle<Core> {
    SharedCache::new(StdLock::new(Cache::new(config, 0x5eed)), time.clone())
}

/// The core store with room for 8 waiting followers (woken, not polling).
type Waiting = WithWaiters<Core, 8>;
/// ... and with room for only 2 (the rest re-check on the timer).
type Cramped = WithWaiters<Core, 2>;

fn waiting(config: CacheConfig, time: &VirtualTime) -> Handle<Waiting> {
    SharedCache::new(
        StdLock::new(WithWaiters::new(Cache::new(config, 0x5eed))),
        time.clone(),
    )
}

fn cramped(config: CacheConfig, time: &VirtualTime) -> Handle<Cramped> {
    SharedCache::new(
        StdLock::new(WithWaiters::new(Cache::new(config, 0x5eed))),
        time.clone(),
    )
}

fn quick(config: CacheConfig, time: &VirtualTime) -> Handle<Quick> {
    SharedCache::new(
        StdLock::new(QuickStore::new(10_000, config).unwrap()),
        time.clone(),
    )
}

/// Runs every future to the end on one thread, polling all on each wake.
async fn join_all<T>(futures: Vec<Pin<Box<dyn Future<Output = T> + '_>>>) -> Vec<T> {
    let mut slots: Vec<_> = futures.into_iter().map(|f| (f, None)).collect();
    poll_fn(|cx| {
        for (f, out) in &mut slots {
            if out.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *out = Some(v);
            }
        }
        if slots.iter().all(|(_, out)| out.is_some()) {
            Poll::Ready(slots.iter_mut().filter_map(|(_, out)| out.take()).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Runs `calls` while virtual time moves in 1 ms steps for `span`.
fn drive<T>(time: &VirtualTime, span: Duration, calls: impl Future<Output = T>) -> T {
    let steps = async {
        for _ in 0..span.as_millis() {
            time.advance(Duration::from_millis(1)).await;
        }
    };
    block_on(zip(calls, steps)).0
}

/// A loader taking `ms` of virtual time, counting its calls.
fn slow<'a>(
    time: &'a VirtualTime,
    calls: &'a Cell<u32>,
    ms: u64,
    result: Result<u32, &'static str>,
) -> impl FnOnce() -> Pin<Box<dyn Future<Output = Result<u32, &'static str>> + 'a>> + 'a {
    move || {
        calls.set(calls.get() + 1);
        Box::pin(async move {
            let end = time.now() + Duration::from_millis(ms);
            time.sleep_until(end).await;
            result
        })
    }
}

type Answer = (Result<Cached<u32>, CacheError<&'static str>>, Instant);

/// `n` callers of key 1 at once, each answer with the instant it came.
fn together<S>(
    cache: &Handle<S>,
    time: &VirtualTime,
    loads: &Cell<u32>,
    n: usize,
    ms: u64,
    result: Result<u32, &'static str>,
) -> Vec<Answer>
where
    S: CacheStore<Key = u32, Value = u32>,
{
    let calls: Vec<Pin<Box<dyn Future<Output = Answer> + '_>>> = (0..n)
        .map(|_| {
            let f: Pin<Box<dyn Future<Output = Answer> + '_>> = Box::pin(async {
                let r = cache.get_or_load(1, slow(time, loads, ms, result)).await;
                (r, time.now())
            });
            f
        })
        .collect();
    drive(
        time,
        Duration::from_millis((ms + 50) * n as u64),
        join_all(calls),
    )
}

fn coalesces<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    let cache = make(config(60, 0, 0, 0), &time);
    let loads = Cell::new(0);
    let answers = together(&cache, &time, &loads, 8, 100, Ok(7));
    assert_eq!(
        loads.get(),
        1,
        "eight concurrent misses run the loader once"
    );
    assert_eq!(answers.len(), 8);
    for (r, at) in &answers {
        assert_eq!(
            *r,
            Ok(Cached::Loaded(7)),
            "every waiter gets the leader's result"
        );
        // the leader answers at 100 ms; followers re-check every 10 ms
        assert!(
            *at >= Instant::from_millis(100) && *at <= Instant::from_millis(110),
            "{at}"
        );
    }
    // then a hit, no load
    let hit = block_on(cache.get_or_load(1, slow(&time, &loads, 100, Ok(8))));
    assert_eq!(hit, Ok(Cached::Fresh(7)));
    assert_eq!(loads.get(), 1);
}

#[test]
fn concurrent_misses_load_once_core() {
    coalesces(core);
}

#[test]
fn concurrent_misses_load_once_quick() {
    coalesces(quick);
}

#[test]
fn concurrent_misses_load_once_waiting() {
    coalesces(waiting);
}

#[test]
fn concurrent_misses_load_once_cramped() {
    coalesces(cramped);
}

/// With a registry (a `WithWaiters` store, or `QuickStore`'s own) every
/// follower is woken by the leader's end: it answers at that instant, not
/// at its next re-check, and looks at the store no more than it must.
fn woken<S: CacheStore<Key = u32, Value = u32>>(make: fn(CacheConfig, &VirtualTime) -> Handle<S>) {
    let time = VirtualTime::new();
    // A re-check so rare that a polling follower would show.
    let cache = make(config(60, 0, 0, 0), &time)
        .timing(Duration::from_secs(30), Duration::from_secs(5))
        .unwrap();
    let loads = Cell::new(0);
    let answers = together(&cache, &time, &loads, 8, 100, Ok(7));
    assert_eq!(loads.get(), 1);
    for (r, at) in &answers {
        assert_eq!(*r, Ok(Cached::Loaded(7)));
        assert_eq!(*at, Instant::from_millis(100), "woken by the leader");
    }
    // A failed leader wakes its followers too (negative caching answers them).
    let cache = make(config(60, 0, 10, 0), &time)
        .timing(Duration::from_secs(30), Duration::from_secs(5))
        .unwrap();
    let start = time.now();
    let answers = together(&cache, &time, &loads, 4, 100, Err("down"));
    assert_eq!(loads.get(), 2);
    for (r, at) in &answers {
        assert!(r.is_err(), "{r:?}");
        assert_eq!(*at, start + Duration::from_millis(100));
    }
    // A dropped leader wakes them at the drop.
    let cache = make(config(60, 0, 0, 0), &time)
        .timing(Duration::from_secs(30), Duration::from_secs(5))
        .unwrap();
    let start = time.now();
    let never = || std::future::pending::<Result<u32, &'static str>>();
    let mut leader = Box::pin(cache.get_or_load(1, never));
    assert!(block_on(poll_once(&mut leader)).is_none());
    let mut follower = Box::pin(async {
        let r = cache
            .get_or_load(1, || async { Ok::<_, &'static str>(9) })
            .await;
        (r, time.now())
    });
    assert!(block_on(poll_once(&mut follower)).is_none());
    block_on(time.advance(Duration::from_millis(50)));
    drop(leader);
    let (r, at) = drive(&time, Duration::from_millis(100), follower);
    assert_eq!(r, Ok(Cached::Loaded(9)));
    assert_eq!(at, start + Duration::from_millis(50), "woken at the drop");
}

#[test]
fn followers_are_woken_by_their_leader_waiting() {
    woken(waiting);
}

#[test]
fn followers_are_woken_by_their_leader_quick() {
    woken(quick);
}

fn stale_on_error<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    // fresh 1 s, stale for 60 s after
    let cache = make(config(1, 60, 0, 0), &time);
    let loads = Cell::new(0);
    assert_eq!(
        block_on(cache.get_or_load(1, slow(&time, &loads, 0, Ok(7)))),
        Ok(Cached::Loaded(7))
    );
    block_on(time.advance(Duration::from_secs(5)));
    // t=5s: expired 4 s ago; three callers, the loader fails after 100 ms:
    // one load, and all three get the stale value, saying how stale
    let answers = together(&cache, &time, &loads, 3, 100, Err("down"));
    assert_eq!(loads.get(), 2);
    let leader = Duration::from_millis(4_100);
    for (r, _) in &answers {
        let Ok(Cached::Stale { value: 7, age }) = r else {
            panic!("{r:?}")
        };
        assert!(*age >= Duration::from_secs(4) && *age <= leader, "{age:?}");
    }
    assert!(
        answers
            .iter()
            .any(|(r, _)| r.as_ref().ok().and_then(Cached::stale_age) == Some(leader))
    );
    // past the stale window: the error, typed
    block_on(time.advance(Duration::from_secs(60)));
    let gone = block_on(cache.get_or_load(1, slow(&time, &loads, 0, Err("down"))));
    assert_eq!(gone, Err(CacheError::Load("down")));
}

#[test]
fn stale_on_error_serves_and_says_so_core() {
    stale_on_error(core);
}

#[test]
fn stale_on_error_serves_and_says_so_quick() {
    stale_on_error(quick);
}

fn negative<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    let cache = make(config(60, 0, 5, 0), &time);
    let loads = Cell::new(0);
    // four callers miss, the leader fails at 100 ms: one load; the leader
    // gets its error, the followers the cached failure
    let answers = together(&cache, &time, &loads, 4, 100, Err("down"));
    assert_eq!(loads.get(), 1);
    let until = Instant::from_millis(5_100);
    let failed = answers
        .iter()
        .filter(|(r, _)| *r == Err(CacheError::Load("down")))
        .count();
    let negative = answers
        .iter()
        .filter(|(r, _)| *r == Err(CacheError::Negative { until }))
        .count();
    assert_eq!((failed, negative), (1, 3));
    // within the negative TTL: no load
    block_on(time.advance(Duration::from_secs(1)));
    assert_eq!(
        block_on(cache.get_or_load(1, slow(&time, &loads, 0, Ok(1)))),
        Err(CacheError::Negative { until })
    );
    assert_eq!(loads.get(), 1);
    // after it: loads again
    block_on(time.advance(Duration::from_secs(5)));
    assert_eq!(
        block_on(cache.get_or_load(1, slow(&time, &loads, 0, Ok(1)))),
        Ok(Cached::Loaded(1))
    );
    assert_eq!(loads.get(), 2);
}

#[test]
fn negative_caching_spares_the_loader_core() {
    negative(core);
}

#[test]
fn negative_caching_spares_the_loader_quick() {
    negative(quick);
}

fn failed_leader_without_negative<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    let cache = make(config(60, 0, 0, 0), &time);
    let loads = Cell::new(0);
    // no stale value, no negative caching: the followers load, one at a time
    let answers = together(&cache, &time, &loads, 3, 100, Err("down"));
    assert_eq!(loads.get(), 3);
    assert!(
        answers
            .iter()
            .all(|(r, _)| *r == Err(CacheError::Load("down")))
    );
    let mut ends: Vec<_> = answers.iter().map(|(_, at)| at.as_millis()).collect();
    ends.sort_unstable();
    assert_eq!(ends[0], 100);
    assert!(
        ends[1] >= 200 && ends[2] >= ends[1] + 100,
        "{ends:?}: loads overlap"
    );
}

#[test]
fn failed_leader_without_negative_caching_followers_load_in_turn_core() {
    failed_leader_without_negative(core);
}

#[test]
fn failed_leader_without_negative_caching_followers_load_in_turn_quick() {
    failed_leader_without_negative(quick);
}

fn refresh_ahead<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    // fresh 10 s, refresh within the last 2 s
    let cache = make(config(10, 0, 0, 2_000), &time);
    let loads = Cell::new(0);
    assert_eq!(
        block_on(cache.get_or_load(1, slow(&time, &loads, 0, Ok(1)))),
        Ok(Cached::Loaded(1))
    );
    block_on(time.advance(Duration::from_millis(8_500)));
    let answers = together(&cache, &time, &loads, 3, 100, Ok(2));
    assert_eq!(loads.get(), 2, "one refresh");
    let mut got: Vec<_> = answers.iter().map(|(r, at)| (*r, at.as_millis())).collect();
    got.sort_by_key(|(_, at)| *at);
    // the two not told answer at once with the fresh value; the told one refreshes
    assert_eq!(
        got,
        [
            (Ok(Cached::Fresh(1)), 8_500),
            (Ok(Cached::Fresh(1)), 8_500),
            (Ok(Cached::Loaded(2)), 8_600)
        ]
    );
    assert_eq!(
        block_on(cache.get_or_load(1, slow(&time, &loads, 0, Ok(3)))),
        Ok(Cached::Fresh(2))
    );
}

#[test]
fn refresh_ahead_loads_once_core() {
    refresh_ahead(core);
}

#[test]
fn refresh_ahead_loads_once_quick() {
    refresh_ahead(quick);
}

fn dropped_leader<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    let cache = make(config(60, 0, 0, 0), &time);
    let never = || std::future::pending::<Result<u32, &'static str>>();
    let mut leader = Box::pin(cache.get_or_load(1, never));
    assert!(block_on(poll_once(&mut leader)).is_none());
    let mut follower = Box::pin(async {
        let r = cache
            .get_or_load(1, || async { Ok::<_, &'static str>(9) })
            .await;
        (r, time.now())
    });
    assert!(block_on(poll_once(&mut follower)).is_none());
    block_on(time.advance(Duration::from_millis(50)));
    drop(leader); // cancelled at t=50ms: its mark ends now, not at its 30 s lease
    let (r, at) = drive(&time, Duration::from_millis(100), follower);
    assert_eq!(r, Ok(Cached::Loaded(9)));
    assert!(
        at <= Instant::from_millis(60),
        "the follower leads at its next re-check: {at}"
    );
}

#[test]
fn a_dropped_leader_does_not_wedge_followers_core() {
    dropped_leader(core);
}

#[test]
fn a_dropped_leader_does_not_wedge_followers_quick() {
    dropped_leader(quick);
}

fn lost_leader_blocking<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
) {
    let time = VirtualTime::new();
    let cache = make(config(60, 0, 0, 0), &time);
    let cache = cache
        .timing(Duration::from_secs(2), Duration::from_millis(100))
        .unwrap();
    // a leader that took the mark and vanished without ending it
    let lease = Instant::from_secs(2);
    assert_eq!(
        cache.with(|s| s.begin_load(1, Instant::ZERO, lease)),
        LoadMark::Leader
    );
    let r = cache.get_or_load_blocking(1, || Ok::<_, ()>(5));
    assert_eq!(r, Ok(Cached::Loaded(5)));
    assert_eq!(
        time.now(),
        lease,
        "the follower blocked until the lease ended, then led"
    );
    // a panicking blocking loader ends its mark
    let other = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cache.get_or_load_blocking(2, || -> Result<u32, ()> { panic!("loader") })
    }));
    assert!(other.is_err());
    let at = time.now();
    assert_eq!(
        cache.get_or_load_blocking(2, || Ok::<_, ()>(6)),
        Ok(Cached::Loaded(6))
    );
    assert_eq!(time.now(), at, "no wait: the mark was ended");
}

#[test]
fn a_lost_leader_holds_blocking_followers_only_until_its_lease_core() {
    lost_leader_blocking(core);
}

#[test]
fn a_lost_leader_holds_blocking_followers_only_until_its_lease_quick() {
    lost_leader_blocking(quick);
}

#[test]
fn pipeline_hit_answers_before_admission_and_a_rejection_serves_stale() {
    let time = VirtualTime::new();
    let cache = core(config(1, 60, 0, 0), &time);
    let breaker =
        CircuitBreakerPolicy::with_runtime(BreakerConfig::DEFAULT, NoWindow, time.clone());
    let pipeline = Pipeline::new(time.clone()).admit(&breaker);
    let ops = Cell::new(0);
    let op = |_| {
        ops.set(ops.get() + 1);
        async { Ok::<u32, &'static str>(40) }
    };
    assert_eq!(
        block_on(pipeline.call_cached(&cache, 1, op)),
        Ok(Cached::Loaded(40))
    );
    breaker.open();
    // a hit while the breaker is open: answered by the cache, no admission
    assert_eq!(
        block_on(pipeline.call_cached(&cache, 1, op)),
        Ok(Cached::Fresh(40))
    );
    // expired: the open breaker rejects; the stale value is served
    block_on(time.advance(Duration::from_secs(3)));
    let r = block_on(pipeline.call_cached(&cache, 1, op));
    assert_eq!(
        r,
        Ok(Cached::Stale {
            value: 40,
            age: Duration::from_secs(2)
        })
    );
    // no stale value: the rejection, typed
    let r = block_on(pipeline.call_cached(&cache, 2, op));
    assert!(
        matches!(r, Err(CacheError::Load(e)) if matches!(e.error, Error::Rejected(_))),
        "{r:?}"
    );
    assert_eq!(ops.get(), 1);
    // the blocking twin, closed again: a miss runs the operation once
    breaker.close();
    let r = pipeline.call_cached_blocking(&cache, 3, |_| Ok::<u32, &'static str>(3));
    assert_eq!(r, Ok(Cached::Loaded(3)));
}

#[test]
fn pipeline_concurrent_misses_run_the_pipeline_once() {
    let time = VirtualTime::new();
    let cache = quick(config(60, 0, 0, 0), &time);
    let pipeline = Pipeline::new(time.clone());
    let ops = Cell::new(0);
    let clock = &time;
    let op = |_| {
        ops.set(ops.get() + 1);
        let end = clock.now() + Duration::from_millis(30);
        async move {
            clock.sleep_until(end).await;
            Ok::<u32, &'static str>(11)
        }
    };
    let calls: Vec<Pin<Box<dyn Future<Output = _> + '_>>> = (0..5)
        .map(|_| {
            let f: Pin<Box<dyn Future<Output = _> + '_>> =
                Box::pin(pipeline.call_cached(&cache, 1, op));
            f
        })
        .collect();
    let answers = drive(&time, Duration::from_millis(100), join_all(calls));
    assert_eq!(ops.get(), 1);
    assert!(answers.iter().all(|r| *r == Ok(Cached::Loaded(11))));
}

/// A caller's future: its key and its answer.
type Keyed<'a> =
    Pin<Box<dyn Future<Output = (u32, Result<Cached<u32>, CacheError<&'static str>>)> + 'a>>;

/// Concurrent misses for one key run the loader once, for any mix of keys,
/// callers and loader latencies, on both stores: every caller gets its
/// key's value, loaded exactly once per key.
fn loads_once_per_key<S: CacheStore<Key = u32, Value = u32>>(
    make: fn(CacheConfig, &VirtualTime) -> Handle<S>,
    callers: &[(u32, u64)],
) -> Result<(), proptest::test_runner::TestCaseError> {
    let time = VirtualTime::new();
    let cache = make(config(600, 0, 0, 0), &time);
    let loads: [Cell<u32>; 4] = Default::default();
    let calls: Vec<Keyed<'_>> = callers
        .iter()
        .map(|&(key, ms)| {
            let (time, loads, cache) = (&time, &loads, &cache);
            let f: Pin<Box<dyn Future<Output = _> + '_>> = Box::pin(async move {
                let load = move || {
                    loads[key as usize].set(loads[key as usize].get() + 1);
                    let f: Pin<Box<dyn Future<Output = Result<u32, &'static str>> + '_>> =
                        Box::pin(async move {
                            time.sleep_until(time.now() + Duration::from_millis(ms))
                                .await;
                            Ok(key * 10)
                        });
                    f
                };
                (key, cache.get_or_load(key, load).await)
            });
            f
        })
        .collect();
    let answers = drive(&time, Duration::from_secs(2), join_all(calls));
    proptest::prop_assert_eq!(answers.len(), callers.len(), "every caller answered");
    for (key, answer) in answers {
        let value = answer.map(Cached::into_value);
        proptest::prop_assert_eq!(value, Ok(key * 10), "key {}", key);
    }
    for (key, count) in loads.iter().enumerate() {
        let asked = callers.iter().any(|&(k, _)| k as usize == key);
        proptest::prop_assert_eq!(count.get(), u32::from(asked), "loads of key {}", key);
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn concurrent_misses_load_once_per_key(
        callers in proptest::collection::vec((0u32..4, 1u64..200), 1..16)
    ) {
        loads_once_per_key(core, &callers)?;
        loads_once_per_key(quick, &callers)?;
    }
}

/// A clock that never moves unless told: a blocked follower parks its
/// thread (`block_until_woken`) and only its leader can wake it.
#[derive(Clone, Default)]
struct Parking(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Clock for Parking {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl failsafe_driver::BlockingRuntime for Parking {
    fn block_until(&self, at: Instant) {
        self.0
            .fetch_max(at.as_nanos(), std::sync::atomic::Ordering::SeqCst);
    }

    fn thread_waker(&self) -> Option<std::task::Waker> {
        Some(failsafe_driver::thread_waker())
    }

    fn block_until_woken(&self, _: Instant) {
        std::thread::park();
    }
}

#[test]
fn a_blocking_follower_is_woken_by_its_leader_on_another_thread() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::mpsc;

    let clock = Parking::default();
    let store: WithWaiters<Core, 4> = WithWaiters::new(Cache::new(config(60, 0, 0, 0), 1));
    let cache = SharedCache::new(StdLock::new(store), clock.clone());
    let (cache, loads) = (&cache, &AtomicU32::new(0));
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let leader = s.spawn(move || {
            cache.get_or_load_blocking(1, || {
                loads.fetch_add(1, Ordering::SeqCst);
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                Ok::<u32, ()>(7)
            })
        });
        started_rx.recv().unwrap(); // the leader holds the mark
        let follower = s.spawn(move || {
            cache.get_or_load_blocking(1, || {
                loads.fetch_add(1, Ordering::SeqCst);
                Ok::<u32, ()>(8)
            })
        });
        // The follower registers before it parks.
        while cache.with(|s| s.waiters().is_empty()) {
            std::thread::yield_now();
        }
        go_tx.send(()).unwrap();
        assert_eq!(leader.join().unwrap(), Ok(Cached::Loaded(7)));
        assert_eq!(follower.join().unwrap(), Ok(Cached::Loaded(7)));
    });
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(clock.now(), Instant::ZERO, "woken, not timed out");
    assert!(cache.with(|s| s.waiters().is_empty()));
}
