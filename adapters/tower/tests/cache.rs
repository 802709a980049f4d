//! The cache layer on tokio's paused clock (virtual time: timers jump,
//! nothing sleeps): a hit never reaches the inner service (nor its
//! readiness); misses of one key together call it once; a failed load
//! serves a stale response, marked with its age; a failure is cached for
//! `negative_ttl`; uncacheable requests pass through untouched; followers
//! are woken at their leader's end (over a store with a registry; over
//! the bare core `Cache` they re-check on the timer); a dropped leader
//! (polled or not) does not hold its followers up, and ends only its own
//! load mark.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use failsafe_core::cache::{Cache, CacheConfig};
use failsafe_driver::cache::WithWaiters;
use failsafe_driver::{CacheError, Cached, Clock, SharedCache, StdLock};
use failsafe_tokio::TokioClock;
use failsafe_tower::CacheLayer;
use tower::{Layer, Service, ServiceExt, service_fn};

type Core = Cache<u32, u32, 16>;
/// The core store with room for 16 waiting followers: woken by their
/// leader.
type Store = WithWaiters<Core, 16>;
type Shared = SharedCache<Store, StdLock<Store>, TokioClock>;
/// The bare core store: its followers re-check on the timer.
type Polled = SharedCache<Core, StdLock<Core>, TokioClock>;

fn cache(config: CacheConfig) -> Arc<Shared> {
    Arc::new(SharedCache::new(
        StdLock::new(WithWaiters::new(Cache::new(config, 0x5eed))),
        TokioClock::new(),
    ))
}

fn polled(config: CacheConfig) -> Arc<Polled> {
    Arc::new(SharedCache::new(
        StdLock::new(Cache::new(config, 0x5eed)),
        TokioClock::new(),
    ))
}

fn ttl(secs: u64) -> CacheConfig {
    CacheConfig::builder()
        .time_to_live(Duration::from_secs(secs))
        .build()
        .unwrap()
}

/// Every key is cacheable.
fn every(n: &u32) -> Option<u32> {
    Some(*n)
}

/// An inner service that counts its calls, answers `n * 10` after
/// `delay`, and fails with "down" while `down` is set.
#[allow(clippy::type_complexity)]
fn counted(
    delay: Duration,
) -> (
    Arc<AtomicU32>,
    Arc<AtomicBool>,
    impl Service<u32, Response = u32, Error = &'static str, Future: Send> + Clone + Send + 'static,
) {
    let calls = Arc::new(AtomicU32::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let (c, d) = (Arc::clone(&calls), Arc::clone(&down));
    let svc = service_fn(move |n: u32| {
        c.fetch_add(1, Ordering::SeqCst);
        let down = d.load(Ordering::SeqCst);
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if down { Err("down") } else { Ok(n * 10) }
        }
    });
    (calls, down, svc)
}

#[tokio::test(start_paused = true)]
async fn hits_do_not_reach_the_inner_service_until_the_ttl_ends() {
    let (calls, _, inner) = counted(Duration::ZERO);
    let shared = cache(ttl(30));
    let svc = CacheLayer::new(Arc::clone(&shared), every).layer(inner);

    assert_eq!(svc.clone().oneshot(1).await, Ok(Cached::Loaded(10)));
    for _ in 0..5 {
        assert_eq!(svc.clone().oneshot(1).await, Ok(Cached::Fresh(10)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "five hits, one call");
    // Another key is its own entry.
    assert_eq!(svc.clone().oneshot(2).await, Ok(Cached::Loaded(20)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // t=30s: the entry expired: loaded again.
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(svc.clone().oneshot(1).await, Ok(Cached::Loaded(10)));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let metrics = shared.with(|s| s.metrics());
    assert_eq!((metrics.hits, metrics.misses), (5, 3));
}

/// An inner service that is never ready.
#[derive(Clone)]
struct NeverReady;

impl Service<u32> for NeverReady {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Pending
    }

    fn call(&mut self, _: u32) -> Self::Future {
        unreachable!("never ready, never called")
    }
}

#[tokio::test(start_paused = true)]
async fn a_hit_answers_while_the_inner_service_is_not_ready() {
    let shared = cache(ttl(30));
    shared.with(|s| s.insert(1, 10, TokioClock.now()));
    let mut svc = CacheLayer::new(shared, every).layer(NeverReady);
    // The layer is ready without asking the inner service...
    let ready = svc.ready().await.unwrap();
    // ...and a hit never waits for it.
    assert_eq!(ready.call(1).await, Ok(Cached::Fresh(10)));
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_for_one_key_call_the_inner_service_once() {
    // 105 ms: off the 10 ms re-check grid, so a re-check could not hit
    // the leader's end by chance.
    let (calls, _, inner) = counted(Duration::from_millis(105));
    let svc = CacheLayer::new(cache(ttl(30)), every).layer(inner);
    let started = tokio::time::Instant::now();

    let requests: Vec<_> = (0..8)
        .map(|_| tokio::spawn(svc.clone().oneshot(7)))
        .collect();
    let other = tokio::spawn(svc.clone().oneshot(8));
    for request in requests {
        // The leader loaded it; each follower got the value it stored.
        assert_eq!(request.await.unwrap(), Ok(Cached::Loaded(70)));
    }
    assert_eq!(other.await.unwrap(), Ok(Cached::Loaded(80)));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per key");
    // Woken by their leader: they finished at its end, not a re-check later.
    assert_eq!(started.elapsed(), Duration::from_millis(105));
    assert_eq!(svc.oneshot(7).await, Ok(Cached::Fresh(70)));
}

#[tokio::test(start_paused = true)]
async fn over_the_bare_core_cache_followers_re_check_on_the_timer() {
    let (calls, _, inner) = counted(Duration::from_millis(100));
    let svc = CacheLayer::new(polled(ttl(30)), every).layer(inner);
    let started = tokio::time::Instant::now();

    let requests: Vec<_> = (0..4)
        .map(|_| tokio::spawn(svc.clone().oneshot(7)))
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), Ok(Cached::Loaded(70)));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // No registry: the followers saw the result within one re-check
    // (10 ms) of the load.
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(started.elapsed() <= Duration::from_millis(110));
}

#[tokio::test(start_paused = true)]
async fn a_failed_load_serves_the_stale_response_marked_with_its_age() {
    let (calls, down, inner) = counted(Duration::ZERO);
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(10))
        .max_stale(Duration::from_secs(60))
        .build()
        .unwrap();
    let svc = CacheLayer::new(cache(config), every).layer(inner);

    assert_eq!(svc.clone().oneshot(3).await, Ok(Cached::Loaded(30)));
    // t=15s: expired 5 s ago; the dependency is down.
    tokio::time::advance(Duration::from_secs(15)).await;
    down.store(true, Ordering::SeqCst);
    let answer = svc.clone().oneshot(3).await.unwrap();
    assert_eq!(
        answer,
        Cached::Stale {
            value: 30,
            age: Duration::from_secs(5)
        }
    );
    assert_eq!(answer.stale_age(), Some(Duration::from_secs(5)));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the load was tried");
    // Back up: the next request loads a fresh response.
    down.store(false, Ordering::SeqCst);
    assert_eq!(svc.clone().oneshot(3).await, Ok(Cached::Loaded(30)));
    // t=85s: past the stale window (10 s + 60 s): the error comes through.
    tokio::time::advance(Duration::from_secs(70)).await;
    down.store(true, Ordering::SeqCst);
    assert_eq!(svc.oneshot(3).await, Err(CacheError::Load("down")));
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_cached_for_the_negative_ttl() {
    let (calls, down, inner) = counted(Duration::ZERO);
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(30))
        .negative_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let svc = CacheLayer::new(cache(config), every).layer(inner);
    down.store(true, Ordering::SeqCst);

    let failed_at = TokioClock.now();
    assert_eq!(svc.clone().oneshot(4).await, Err(CacheError::Load("down")));
    // Within 5 s: the recorded failure answers; the inner service is not called.
    tokio::time::advance(Duration::from_secs(4)).await;
    let until = failed_at + Duration::from_secs(5);
    assert_eq!(
        svc.clone().oneshot(4).await,
        Err(CacheError::Negative { until })
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // t=5s: the failure is forgotten; loaded again.
    tokio::time::advance(Duration::from_secs(1)).await;
    down.store(false, Ordering::SeqCst);
    assert_eq!(svc.oneshot(4).await, Ok(Cached::Loaded(40)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn uncacheable_requests_pass_through() {
    let (calls, down, inner) = counted(Duration::ZERO);
    let shared = cache(ttl(30));
    // Odd requests are not cacheable.
    let svc = CacheLayer::new(Arc::clone(&shared), |n: &u32| {
        n.is_multiple_of(2).then_some(*n)
    })
    .layer(inner);

    assert_eq!(svc.clone().oneshot(5).await, Ok(Cached::Loaded(50)));
    assert_eq!(svc.clone().oneshot(5).await, Ok(Cached::Loaded(50)));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "each one called");
    down.store(true, Ordering::SeqCst);
    assert_eq!(svc.oneshot(5).await, Err(CacheError::Load("down")));
    let (len, metrics) = shared.with(|s| (s.len(), s.metrics()));
    assert_eq!(len, 0, "nothing stored");
    assert_eq!(metrics.misses + metrics.hits, 0, "nothing looked up");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_does_not_wedge_its_followers() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = Arc::clone(&calls);
    // The first call hangs (an hour); later ones answer at once.
    let inner = service_fn(move |n: u32| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                tokio::time::sleep(Duration::from_secs(3_600)).await;
            }
            Ok::<_, &'static str>(n * 10)
        }
    });
    // A lease of 30 s (the default): the follower must not wait it out.
    let svc = CacheLayer::new(cache(ttl(30)), every).layer(inner);

    let leader = tokio::spawn(svc.clone().oneshot(9));
    tokio::task::yield_now().await; // the leader takes the key's load mark
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let follower = tokio::spawn(svc.clone().oneshot(9));
    tokio::time::sleep(Duration::from_millis(55)).await; // off the re-check grid
    assert!(!follower.is_finished(), "it follows the hung leader");
    let dropped_at = tokio::time::Instant::now();
    leader.abort(); // drops the leader's future, and its load mark
    assert!(leader.await.unwrap_err().is_cancelled());

    assert_eq!(follower.await.unwrap(), Ok(Cached::Loaded(90)));
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the follower led a load");
    // Woken by the dropped leader's end: at once, not the 30 s lease (nor
    // a 10 ms re-check).
    assert_eq!(dropped_at.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_before_its_first_poll_ends_its_load_mark() {
    let (calls, _, inner) = counted(Duration::ZERO);
    let mut svc = CacheLayer::new(cache(ttl(30)), every).layer(inner);
    // `call` takes the key's load mark; the future is dropped unpolled.
    let unpolled = svc.ready().await.unwrap().call(6);
    drop(unpolled);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let started = tokio::time::Instant::now();
    assert_eq!(svc.oneshot(6).await, Ok(Cached::Loaded(60)));
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "no wait for a lost leader"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hit_is_answered_in_call() {
    let (_, _, inner) = counted(Duration::ZERO);
    let mut svc = CacheLayer::new(cache(ttl(30)), every).layer(inner);
    assert_eq!(svc.clone().oneshot(2).await, Ok(Cached::Loaded(20)));
    let hit = svc.ready().await.unwrap().call(2);
    assert_eq!(
        futures_lite::future::poll_once(hit).await,
        Some(Ok(Cached::Fresh(20))),
        "ready at its first poll"
    );
}

#[tokio::test(start_paused = true)]
async fn one_request_refreshes_ahead_of_expiry_while_the_others_hit() {
    let (calls, _, inner) = counted(Duration::ZERO);
    let config = CacheConfig::builder()
        .time_to_live(Duration::from_secs(10))
        .refresh_ahead(Duration::from_secs(2))
        .build()
        .unwrap();
    let svc = CacheLayer::new(cache(config), every).layer(inner);
    assert_eq!(svc.clone().oneshot(1).await, Ok(Cached::Loaded(10)));
    // t=9s: within 2 s of expiry: this request reloads it...
    tokio::time::advance(Duration::from_secs(9)).await;
    assert_eq!(svc.clone().oneshot(1).await, Ok(Cached::Loaded(10)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // ...so at t=12s (past the first value's expiry) it is still fresh.
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(svc.oneshot(1).await, Ok(Cached::Fresh(10)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn an_unpolled_leader_dropped_wakes_a_follower_that_registered() {
    let (calls, _, inner) = counted(Duration::ZERO);
    let shared = cache(ttl(30));
    let mut svc = CacheLayer::new(Arc::clone(&shared), every).layer(inner);
    // The leader's `call` takes the mark; the follower's `call` finds it.
    let leader = svc.ready().await.unwrap().call(5);
    let mut follower = std::pin::pin!(svc.ready().await.unwrap().call(5));
    // First poll: the follower registers its waker with the leader.
    let woken = Arc::new(Flag(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    assert!(follower.as_mut().poll(&mut cx).is_pending());
    assert_eq!(shared.with(|s| s.waiters().len()), 1);
    drop(leader); // never polled: its `Pending` ends the mark, wakes it
    assert!(
        woken.0.load(Ordering::SeqCst),
        "woken by the dropped leader"
    );
    assert_eq!(follower.await, Ok(Cached::Loaded(50)));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the follower loaded");
    assert_eq!(shared.with(|s| s.waiters().len()), 0, "no slot left behind");
}

#[tokio::test(start_paused = true)]
async fn a_follower_whose_leader_ended_before_its_first_poll_answers_at_once() {
    let (calls, _, inner) = counted(Duration::ZERO);
    let mut svc = CacheLayer::new(cache(ttl(30)), every).layer(inner);
    let leader = svc.ready().await.unwrap().call(3);
    let follower = svc.ready().await.unwrap().call(3);
    assert_eq!(leader.await, Ok(Cached::Loaded(30)));
    // It followed that leader (from `call`): its value, as loaded.
    assert_eq!(
        futures_lite::future::poll_once(follower).await,
        Some(Ok(Cached::Loaded(30)))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leader_dropped_past_its_lease_ends_only_its_own_mark() {
    let (calls, _, inner) = counted(Duration::from_secs(1));
    let shared = Arc::new(
        SharedCache::new(
            StdLock::new(WithWaiters::<Core, 16>::new(Cache::new(ttl(30), 0x5eed))),
            TokioClock::new(),
        )
        .timing(Duration::from_secs(2), Duration::from_millis(10))
        .unwrap(),
    );
    let mut svc = CacheLayer::new(Arc::clone(&shared), every).layer(inner);
    let t0 = TokioClock.now();
    let stale_leader = svc.ready().await.unwrap().call(8); // mark until t0+2s
    tokio::time::advance(Duration::from_secs(3)).await;
    // Its lease lapsed: a second caller leads under a mark of its own.
    let leader = tokio::spawn(svc.clone().oneshot(8));
    tokio::task::yield_now().await;
    let own = t0 + Duration::from_secs(5);
    assert_eq!(shared.with(|s| s.load_mark(&8)), Some(own));
    drop(stale_leader); // not its mark: ends nothing
    assert_eq!(shared.with(|s| s.load_mark(&8)), Some(own));
    // A third caller follows the second, and is woken at its end.
    let follower = tokio::spawn(svc.clone().oneshot(8));
    assert_eq!(leader.await.unwrap(), Ok(Cached::Loaded(80)));
    assert_eq!(follower.await.unwrap(), Ok(Cached::Loaded(80)));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one load, no duplicate");
    assert_eq!(TokioClock.now(), t0 + Duration::from_secs(4));
}
