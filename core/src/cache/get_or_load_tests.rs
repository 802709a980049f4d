//! `GetOrLoad` timelines in virtual time: the decisions the driver only
//! executes (moved here from the driver's scenarios).

use core::task::Waker;
use core::time::Duration;

use super::*;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// ttl 10 s, stale for 5 s, refresh within 2 s of expiry; failures cached
/// for `negative_ms` (0: not cached).
fn store(negative_ms: u64) -> Cache<u8, u32, 8> {
    let mut b = CacheConfig::builder()
        .time_to_live(Duration::from_secs(10))
        .max_stale(Duration::from_secs(5))
        .refresh_ahead(Duration::from_secs(2));
    if negative_ms > 0 {
        b = b.negative_ttl(Duration::from_millis(negative_ms));
    }
    Cache::new(b.build().unwrap(), 1)
}

const LEASE: Duration = Duration::from_secs(30);

fn call() -> GetOrLoad<u8, u32> {
    GetOrLoad::new(1, LEASE)
}

type Answer = Result<Cached<u32>, CacheError<&'static str>>;

fn ok(v: u32) -> Result<u32, &'static str> {
    Ok(v)
}

#[test]
fn one_leader_the_others_follow_and_read_its_value() {
    let mut s = store(0);
    let (mut a, mut b, mut c) = (call(), call(), call());
    assert_eq!(a.look(&mut s, at(0), None).0, CacheStep::Load);
    let wait = CacheStep::Wait {
        until: at(30_000),
        registered: false,
    };
    assert_eq!(b.look(&mut s, at(10), None).0, wait);
    assert_eq!(c.look(&mut s, at(20), None).0, wait);
    let (answer, owed) = a.finish(&mut s, at(100), ok(7), |_| true);
    assert_eq!((answer, owed.is_none()), (Ok(Cached::Loaded(7)), true));
    // followers read the leader's value as loaded; a new caller as fresh
    assert_eq!(
        b.look(&mut s, at(100), None).0,
        CacheStep::Done(Cached::Loaded(7))
    );
    assert_eq!(
        c.look(&mut s, at(110), None).0,
        CacheStep::Done(Cached::Loaded(7))
    );
    assert_eq!(
        call().look(&mut s, at(120), None).0,
        CacheStep::Done(Cached::Fresh(7))
    );
}

#[test]
fn a_failed_reload_serves_the_stale_value_with_its_age_at_the_answer() {
    let mut s = store(0);
    s.insert(1, 7, at(0));
    // t=12s: expired 2 s ago; the load fails at t=12.5s: age 2.5 s
    let mut a = call();
    assert_eq!(a.look(&mut s, at(12_000), None).0, CacheStep::Load);
    let (answer, _): (Answer, _) = a.finish(&mut s, at(12_500), Err("down"), |_| true);
    let age = Duration::from_millis(2_500);
    assert_eq!(answer, Ok(Cached::Stale { value: 7, age }));
    // an error the caller does not accept for stale: the error
    let mut b = call();
    assert_eq!(b.look(&mut s, at(13_000), None).0, CacheStep::Load);
    let (answer, _): (Answer, _) = b.finish(&mut s, at(13_000), Err("bad request"), |_| false);
    assert_eq!(answer, Err(CacheError::Load("bad request")));
    // the stale window closes while loading: the error
    let mut c = call();
    assert_eq!(c.look(&mut s, at(14_000), None).0, CacheStep::Load);
    let (answer, _): (Answer, _) = c.finish(&mut s, at(15_000), Err("down"), |_| true);
    assert_eq!(answer, Err(CacheError::Load("down")));
}

#[test]
fn followers_of_a_failed_leader_get_the_stale_value_without_loading() {
    let mut s = store(0);
    s.insert(1, 7, at(0));
    let (mut a, mut b) = (call(), call());
    assert_eq!(a.look(&mut s, at(11_000), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(11_000), None).0,
        CacheStep::Wait { .. }
    ));
    let _ = a.finish(&mut s, at(11_200), Err::<u32, _>("down"), |_| true);
    let stale = Cached::Stale {
        value: 7,
        age: Duration::from_millis(1_200),
    };
    assert_eq!(b.look(&mut s, at(11_200), None).0, CacheStep::Done(stale));
    assert_eq!(s.load_mark(&1), None, "the follower's mark ended at once");
}

#[test]
fn a_value_that_expired_while_its_follower_waited_is_reloaded_not_served_stale() {
    let mut s = store(0);
    let (mut a, mut b) = (call(), call());
    assert_eq!(a.look(&mut s, at(0), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(0), None).0,
        CacheStep::Wait { .. }
    ));
    let _ = a.finish(&mut s, at(100), ok(7), |_| true);
    // the follower looks only at t=10.5s: the value (fresh until t=10.1s)
    // was stored and has expired since: nothing failed, so it loads
    assert_eq!(b.look(&mut s, at(10_500), None).0, CacheStep::Load);
}

#[test]
fn followers_of_a_failed_leader_get_the_cached_failure_or_load_in_turn() {
    // negative caching on: the followers get the recorded failure
    let mut s = store(5_000);
    let (mut a, mut b) = (call(), call());
    assert_eq!(a.look(&mut s, at(0), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(0), None).0,
        CacheStep::Wait { .. }
    ));
    let (answer, _): (Answer, _) = a.finish(&mut s, at(100), Err("down"), |_| true);
    assert_eq!(answer, Err(CacheError::Load("down")));
    let until = at(5_100);
    assert_eq!(
        b.look(&mut s, at(100), None).0,
        CacheStep::Negative { until }
    );
    // negative caching off: one follower leads next, the other follows it
    let mut s = store(0);
    let (mut a, mut b, mut c) = (call(), call(), call());
    assert_eq!(a.look(&mut s, at(0), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(0), None).0,
        CacheStep::Wait { .. }
    ));
    assert!(matches!(
        c.look(&mut s, at(0), None).0,
        CacheStep::Wait { .. }
    ));
    let _ = a.finish(&mut s, at(100), Err::<u32, _>("down"), |_| true);
    assert_eq!(b.look(&mut s, at(100), None).0, CacheStep::Load);
    let wait = CacheStep::Wait {
        until: at(30_100),
        registered: false,
    };
    assert_eq!(c.look(&mut s, at(100), None).0, wait);
}

#[test]
fn refresh_ahead_one_caller_reloads_and_a_failed_refresh_says_what_is_held() {
    let mut s = store(0);
    s.insert(1, 7, at(0));
    // t=8.5s: within 2 s of expiry: the first caller is told, the next is not
    let (mut told, mut other) = (call(), call());
    assert_eq!(told.look(&mut s, at(8_500), None).0, CacheStep::Load);
    assert_eq!(
        other.look(&mut s, at(8_500), None).0,
        CacheStep::Done(Cached::Fresh(7))
    );
    // the refresh fails while the value is still fresh: the fresh value
    let (answer, _): (Answer, _) = told.finish(&mut s, at(9_000), Err("down"), |_| true);
    assert_eq!(answer, Ok(Cached::Fresh(7)));
    // a refresh that outlives the value and fails: stale (if allowed), or the error
    let mut s = store(0);
    s.insert(1, 7, at(0));
    let mut told = call();
    assert_eq!(told.look(&mut s, at(8_500), None).0, CacheStep::Load);
    let (answer, _): (Answer, _) = told.finish(&mut s, at(11_000), Err("down"), |_| true);
    let age = Duration::from_secs(1);
    assert_eq!(answer, Ok(Cached::Stale { value: 7, age }));
    let mut s = store(0);
    s.insert(1, 7, at(0));
    let mut told = call();
    assert_eq!(told.look(&mut s, at(8_500), None).0, CacheStep::Load);
    let (answer, _): (Answer, _) = told.finish(&mut s, at(11_000), Err("down"), |_| false);
    assert_eq!(answer, Err(CacheError::Load("down")));
    // a successful refresh: the new value, loaded
    let mut s = store(0);
    s.insert(1, 7, at(0));
    let mut told = call();
    assert_eq!(told.look(&mut s, at(8_500), None).0, CacheStep::Load);
    assert_eq!(
        told.finish(&mut s, at(8_600), ok(8), |_| true).0,
        Ok(Cached::Loaded(8))
    );
}

#[test]
fn a_lapsed_leader_neither_ends_nor_fails_the_newer_mark_and_its_value_keeps_it() {
    let lease = Duration::from_secs(1);
    let mut s = store(5_000);
    let (mut old, mut new) = (GetOrLoad::new(1, lease), GetOrLoad::new(1, lease));
    assert_eq!(old.look(&mut s, at(0), None).0, CacheStep::Load);
    // t=1.5s: the old lease lapsed; a second caller leads until t=2.5s
    assert_eq!(new.look(&mut s, at(1_500), None).0, CacheStep::Load);
    // the old one fails: records nothing (no negative answer), ends nothing
    let _ = old
        .clone()
        .finish(&mut s, at(1_600), Err::<u32, _>("down"), |_| true);
    assert_eq!(s.load_mark(&1), Some(at(2_500)));
    assert_eq!(s.lookup(&1, at(1_600)), Lookup::Missing);
    // abandoned, it ends nothing either
    assert!(old.clone().abandon(&mut s).is_none());
    assert_eq!(s.load_mark(&1), Some(at(2_500)));
    // succeeding, its value is stored and the newer mark put back
    assert_eq!(
        old.finish(&mut s, at(1_700), ok(7), |_| true).0,
        Ok(Cached::Loaded(7))
    );
    assert_eq!(s.load_mark(&1), Some(at(2_500)));
    assert_eq!(
        new.finish(&mut s, at(1_800), ok(8), |_| true).0,
        Ok(Cached::Loaded(8))
    );
    assert_eq!(s.load_mark(&1), None);
}

#[test]
fn a_follower_that_looked_without_a_waker_registers_one_while_its_leader_holds() {
    let mut s: WithWaiters<Cache<u8, u32, 8>, 2> = WithWaiters::new(store(0));
    let (mut a, mut b) = (call(), call());
    assert_eq!(a.look(&mut s, at(0), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(0), None).0,
        CacheStep::Wait {
            registered: false,
            ..
        }
    ));
    let misses = s.metrics().misses;
    let registered = CacheStep::Wait {
        until: at(30_000),
        registered: true,
    };
    assert_eq!(b.look(&mut s, at(5), Some(Waker::noop())).0, registered);
    assert_eq!(s.metrics().misses, misses, "registered without a lookup");
    assert_eq!(s.waiters().len(), 1);
    // the leader's end hands the waker back to be woken
    assert!(a.finish(&mut s, at(10), ok(7), |_| true).1.is_some());
    // a leader gone before the registration: the follower looks up instead
    let (mut a, mut b) = (GetOrLoad::new(2, LEASE), GetOrLoad::new(2, LEASE));
    assert_eq!(a.look(&mut s, at(20), None).0, CacheStep::Load);
    assert!(matches!(
        b.look(&mut s, at(20), None).0,
        CacheStep::Wait { .. }
    ));
    let _ = a.finish(&mut s, at(30), ok(9), |_| true);
    let step = b.look(&mut s, at(30), Some(Waker::noop())).0;
    assert_eq!(step, CacheStep::Done(Cached::Loaded(9)));
}

#[test]
fn a_clock_stepping_back_is_no_time_passed_for_the_whole_call() {
    let mut s = store(0);
    let (mut a, mut b) = (call(), call());
    assert_eq!(a.look(&mut s, at(5_000), None).0, CacheStep::Load);
    // the next reading is earlier: the lease still counts from t=5s
    let wait = CacheStep::Wait {
        until: at(35_000),
        registered: false,
    };
    assert_eq!(b.look(&mut s, at(1_000), None).0, wait);
    let _ = a.finish(&mut s, at(2_000), ok(7), |_| true);
    // stored at t=5s: fresh until t=15s (refresh-ahead from t=13s)
    let fresh = CacheStep::Done(Cached::Fresh(7));
    assert_eq!(call().look(&mut s, at(12_999), None).0, fresh);
    assert_eq!(s.get(&1, at(14_999)), Some(&7));
}

#[test]
fn a_call_that_does_not_lead_stores_nothing() {
    let mut s = store(0);
    let mut a = call();
    assert_eq!(
        a.finish(&mut s, at(0), ok(7), |_| true).0,
        Ok(Cached::Loaded(7))
    );
    assert!(a.abandon(&mut s).is_none());
    assert!(s.is_empty());
}
