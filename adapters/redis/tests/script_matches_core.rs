//! The server-side scripts decide exactly as the core's store contract
//! (`failsafe_core::rate::shared`), over random sequences against a real
//! Redis with injected times (and the server's own clock).

mod common;

use std::time::Duration;

use common::{RedisServer, XorShift};
use failsafe_core::breaker::{BreakerConfig, NoWindow};
use failsafe_core::rate::Quota;
use failsafe_core::rate::shared::{BreakerRecord, gcra_step};
use failsafe_core::{Instant, RejectReason};
use failsafe_redis::{RedisBreaker, RedisRateLimiter, Store, StoreConfig};
use redis::AsyncCommands;

const EPOCH_2026_US: u64 = 1_780_000_000_000_000;

fn store(server: &RedisServer) -> Store {
    Store::connect(
        &server.url(),
        StoreConfig::new().call_timeout(Duration::from_secs(5)),
    )
    .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_gcra_script_decides_exactly_as_gcra_step() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server);
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut granted, mut refused) = (0, 0);
    for case in 0..60 {
        // periods of whole but uneven microseconds (100 ms to 5 s: the keys'
        // real-time expiry stays far beyond the test's own pace)
        let period_us = rng.range(100_000, 5_000_000);
        let burst = rng.range(1, 20) as u32;
        let quota = Quota::with_period(Duration::from_micros(period_us))
            .unwrap()
            .with_burst(burst)
            .unwrap();
        let limiter = RedisRateLimiter::builder(store.clone(), &format!("gcra-{case}"), quota)
            .expiry_slack(Duration::ZERO) // the exact time to live, checked below
            .build()
            .unwrap();
        let mut now_us = EPOCH_2026_US + rng.range(0, 1 << 40);
        for _ in 0..50 {
            // forward by up to three periods. (Not back: a key's expiry
            // counts from the latest `now`, so an injected clock stepping
            // back may find the key gone before its tat, as the crate's
            // notes on clock skew say; then GET and the script could
            // disagree within this test's two round trips.)
            now_us += rng.range(0, period_us * 3);
            let n = rng.range(0, u64::from(burst) + 2) as u32;
            let stored: Option<u64> = conn.get(limiter.key()).await.unwrap();
            let now = Instant::from_micros(now_us);
            let expected = gcra_step(stored.map(Instant::from_micros), now, n, quota);
            let reply = limiter.step(Some(now), n).await.unwrap();
            assert_eq!(reply.now, now);
            assert_eq!(
                reply.decision,
                expected.map(|s| s.tat),
                "case {case}: stored {stored:?}, now {now_us}, n {n}, {quota:?}"
            );
            match expected {
                Ok(step) => {
                    granted += 1;
                    // the key expires when it stops mattering (rounded up to a
                    // millisecond; one kept 1 ms, e.g. after `n = 0`, may be gone already)
                    let ttl_ms = step.ttl(now).as_micros().div_ceil(1_000).max(1) as i64;
                    let after: Option<u64> = conn.get(limiter.key()).await.unwrap();
                    assert!(
                        after == Some(step.tat.as_nanos() / 1_000)
                            || (ttl_ms <= 1 && after.is_none()),
                        "stored {after:?}, expected {step:?}"
                    );
                    let pttl: i64 = redis::cmd("PTTL")
                        .arg(limiter.key())
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    assert!(
                        pttl <= ttl_ms && (pttl > 0 || ttl_ms <= 1),
                        "pttl {pttl} ms, expected up to {ttl_ms}"
                    );
                }
                Err(r) => {
                    refused += 1;
                    let after: Option<u64> = conn.get(limiter.key()).await.unwrap();
                    // a refusal stores nothing (the key may only have expired meanwhile)
                    assert!(
                        after == stored || after.is_none(),
                        "{after:?} after {stored:?}"
                    );
                    if r.reason == RejectReason::RateInsufficientCapacity {
                        assert!(n > burst);
                    }
                }
            }
        }
    }
    assert!(
        granted > 300 && refused > 300,
        "{granted} granted, {refused} refused"
    );

    // the server's own clock: the decision is the core's at the reply's `now`
    let quota = Quota::per_second(5).unwrap().with_burst(3).unwrap();
    let limiter = RedisRateLimiter::builder(store.clone(), "gcra-server-time", quota)
        .build()
        .unwrap();
    for _ in 0..20 {
        let stored: Option<u64> = conn.get(limiter.key()).await.unwrap();
        let reply = limiter.step(None, 1).await.unwrap();
        let expected = gcra_step(stored.map(Instant::from_micros), reply.now, 1, quota);
        assert_eq!(reply.decision, expected.map(|s| s.tat));
        assert!(reply.now > Instant::from_micros(EPOCH_2026_US - 400 * 86_400_000_000));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_breaker_script_applies_the_record_operations_exactly() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = store(&server);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    for case in 0..8 {
        let probes = rng.range(1, 4) as u32;
        let threshold = rng.range(1, u64::from(probes) + 1) as u32;
        let wait = Duration::from_micros(rng.range(1_000, 2_000_000));
        let lease = Duration::from_micros(rng.range(1_000, 1_000_000));
        let config = BreakerConfig::builder()
            .no_failure_rate()
            .consecutive_failures(3)
            .open_wait(wait)
            .half_open_probes(probes)
            .success_threshold(threshold)
            .build()
            .unwrap();
        let breaker =
            RedisBreaker::builder(store.clone(), &format!("breaker-{case}"), config, NoWindow)
                .probe_lease(lease)
                .build()
                .unwrap();
        let mut model = BreakerRecord::CLOSED;
        let mut older = BreakerRecord::CLOSED;
        let mut now = Instant::from_micros(EPOCH_2026_US + rng.range(0, 1 << 30));
        for step in 0..200 {
            now = now.saturating_add(Duration::from_micros(
                rng.range(0, 2 * wait.as_micros() as u64 / 3),
            ));
            let (expected, verdict, got) = match rng.range(0, 10) {
                0..=1 => {
                    // a trip from an instance that saw the current record or an older one
                    let seen = if rng.range(0, 2) == 0 { model } else { older };
                    let args = [
                        seen.round(),
                        u64::from(seen.is_open()),
                        seen.open_until().as_nanos() / 1_000,
                        u64::from(seen.probes()),
                        u64::from(seen.successes()),
                        seen.last_probe().as_nanos() / 1_000,
                    ];
                    let got = breaker.script("trip", Some(now), &args).await.unwrap();
                    (model.trip(seen, now, wait), None, got)
                }
                2..=6 => {
                    let (next, probe) = model.take_probe(now, probes, lease, wait);
                    let verdict = match probe {
                        Ok(_) => 1,
                        Err(r) if r.reason == RejectReason::BreakerOpen => 2,
                        Err(_) => 3,
                    };
                    let got = breaker.script("probe", Some(now), &[]).await.unwrap();
                    (next, Some(verdict), got)
                }
                7..=8 => {
                    let round = model.round().saturating_sub(rng.range(0, 2));
                    let success = rng.range(0, 3) > 0;
                    let got = breaker
                        .script("settle", Some(now), &[round, u64::from(success)])
                        .await
                        .unwrap();
                    (
                        model.settle(round, success, now, threshold, wait),
                        None,
                        got,
                    )
                }
                _ => {
                    let got = breaker.script("close", Some(now), &[]).await.unwrap();
                    (model.close(), None, got)
                }
            };
            assert_eq!(got.1, expected, "case {case} step {step}: {model:?}");
            if let Some(v) = verdict {
                assert_eq!(got.0, v, "case {case} step {step}: probe verdict");
            }
            older = model;
            model = expected;
        }
        assert!(
            model.round() > 1,
            "case {case}: the sequence went through rounds"
        );
    }
}
