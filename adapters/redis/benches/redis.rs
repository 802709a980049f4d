//! Decisions per second against a local Redis (a `redis-server` started on
//! a free loopback port for the run, as the tests do), in one run:
//!
//! - `failsafe-redis GCRA`: one `EVALSHA` of the GCRA script per decision;
//! - `failsafe-redis GCRA, leased k=10`: one per 10 decisions, the rest
//!   from the instance's lease;
//! - `the GCRA script alone (raw EVALSHA)`: the same script with no
//!   timeout, breaker or reply parsing (what the server's side costs);
//! - `INCR+EXPIRE fixed window`: the plain baseline, `INCR` and `EXPIRE`
//!   pipelined in one round trip (a counter per one-second window).
//!
//! Each from 1 task, and from 4 tasks sharing the instance (one
//! multiplexed connection) on a 2-worker tokio runtime. Criterion reports
//! time per decision and decisions per second (`Throughput::Elements`).
//!
//! `cargo bench -p failsafe-redis --bench redis`

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failsafe_core::rate::Quota;
use failsafe_redis::{RedisRateLimiter, Store, StoreConfig};
use redis::aio::MultiplexedConnection;

/// One decision of each kind.
#[derive(Clone)]
enum Kind {
    Gcra(Arc<RedisRateLimiter>),
    /// The same script by `EVALSHA` with no timeout, breaker or reply
    /// parsing: what the server's script costs on its own.
    Script(MultiplexedConnection, Arc<redis::Script>),
    Fixed(MultiplexedConnection),
}

impl Kind {
    async fn decide(&self) {
        match self {
            Kind::Gcra(limiter) => {
                let _ = black_box(limiter.acquire(1).await);
            }
            Kind::Script(conn, script) => {
                let mut conn = conn.clone();
                let reply: Vec<i64> = script
                    .key("{bench-raw}:tat")
                    .arg(1)
                    .arg(1_000)
                    .arg(1)
                    .arg("")
                    .arg(1_000)
                    .invoke_async(&mut conn)
                    .await
                    .expect("EVALSHA");
                black_box(reply);
            }
            Kind::Fixed(conn) => {
                let mut conn = conn.clone();
                let window = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs(); // one key per second
                let key = format!("{{fixed}}:{window}");
                let (count, _): (u64, bool) = redis::pipe()
                    .incr(&key, 1)
                    .expire(&key, 1)
                    .query_async(&mut conn)
                    .await
                    .expect("INCR + EXPIRE");
                black_box(count);
            }
        }
    }
}

/// `iters` decisions spread over `tasks` tasks; the wall time they took.
async fn run(kind: &Kind, tasks: u64, iters: u64) -> Duration {
    let start = StdInstant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let kind = kind.clone();
            let share = iters / tasks + u64::from(i < iters % tasks);
            tokio::spawn(async move {
                for _ in 0..share {
                    kind.decide().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let Some(server) = common::RedisServer::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (gcra, leased, raw, fixed) = rt.block_on(async {
        let store = Store::connect(
            &server.url(),
            StoreConfig::new().call_timeout(Duration::from_secs(1)),
        )
        .unwrap();
        // a quota the bench never exhausts (1 per µs, bursts of 1000): every
        // decision is a grant, as on a healthy service
        let quota = Quota::with_period(Duration::from_micros(1))
            .unwrap()
            .with_burst(1_000)
            .unwrap();
        let gcra = RedisRateLimiter::builder(store.clone(), "bench", quota)
            .build()
            .unwrap();
        let leased = RedisRateLimiter::builder(store, "bench-leased", quota)
            .lease(10, Duration::from_millis(100))
            .build()
            .unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        let fixed = client.get_multiplexed_async_connection().await.unwrap();
        let script = Arc::new(redis::Script::new(include_str!("../src/lua/gcra.lua")));
        (
            Kind::Gcra(Arc::new(gcra)),
            Kind::Gcra(Arc::new(leased)),
            Kind::Script(fixed.clone(), script),
            Kind::Fixed(fixed),
        )
    });
    let mut group = c.benchmark_group("redis/decision");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .throughput(Throughput::Elements(1));
    for tasks in [1, 4] {
        for (name, kind) in [
            ("failsafe-redis GCRA", &gcra),
            ("failsafe-redis GCRA, leased k=10", &leased),
            ("the GCRA script alone (raw EVALSHA)", &raw),
            ("INCR+EXPIRE fixed window", &fixed),
        ] {
            group.bench_function(
                format!("{name}, {tasks} task{}", if tasks == 1 { "" } else { "s" }),
                |b| {
                    b.to_async(&rt).iter_custom(|iters| run(kind, tasks, iters));
                },
            );
        }
    }
    group.finish();
    drop(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
