//! Retry, budget and timeout overhead, failsafe next to its peers in one report.
//!
//! Groups (single thread):
//!
//! - `retry/backoff`: what one call pays to get its delays: a fresh per-call
//!   state plus three delays, exponential from 1 s doubling up to 60 s (backon's
//!   defaults), with and without jitter; the core's [`Retry`] machine next to
//!   `backon`'s `ExponentialBuilder`.
//! - `retry/budget`: one deposit (a call) and one withdrawal (a retry) on a
//!   shared retry budget: the core's [`RatioBudget`], bare and behind a std
//!   mutex with a real clock read, next to tower's `TpsBudget`; the AWS-style
//!   [`TokenQuota`] and gRPC's [`GrpcThrottle`] for reference.
//! - `retry/tokio`: what the async wrappers add around an operation that is
//!   ready at once: the bare future, `failsafe_driver::timeout`,
//!   `failsafe_driver::retry` and retry-around-timeout on tokio's clock
//!   ([`TokioClock`]), next to `tokio::time::timeout` and backon's `retry`;
//!   plus, for scale, a tokio clock read and a tokio `Sleep` created.
//!
//! See `benches/README.md` for how to run it and how to read the figures.

use std::cell::Cell;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use failsafe_core::Instant;
use failsafe_core::retry::{
    BackoffKind, Decision, FailureKind, GrpcThrottle, Jitter, NoBudget, RatioBudget, Retry,
    RetryBudget, RetryConfig, TokenQuota, Verdict,
};
use failsafe_core::rng::Xorshift64;
use failsafe_core::sync::Lock;
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_driver::{
    Clock, DefaultClassifier, Error, RetryContext, RetryPolicy, Runtime, StdClock, StdLock, retry,
    timeout,
};
use failsafe_tokio::TokioClock;
use tower::retry::budget::{Budget, TpsBudget};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// backon's `ExponentialBuilder` defaults as a core policy: 1 s doubling up
/// to 60 s; four attempts, so three retries (backon's `max_times(3)`).
fn exponential(jitter: Jitter) -> RetryConfig {
    RetryConfig::builder()
        .max_attempts(4)
        .backoff(BackoffKind::Exponential {
            initial: SECOND,
            multiplier: 2.0,
            max: MINUTE,
        })
        .jitter(jitter)
        .build()
        .unwrap()
}

/// One call through the core machine: three failures, three delays. Returns
/// the sum of the delays so nothing is optimised away.
#[inline(always)]
fn three_core_delays(config: RetryConfig, seed: u64) -> Duration {
    let mut rng = Xorshift64::new(seed);
    let mut now = Instant::ZERO;
    let mut retry = Retry::new(config, now);
    let mut total = Duration::ZERO;
    for _ in 0..3 {
        retry.start_attempt(now, &mut NoBudget).unwrap();
        match retry.on_result(now, Verdict::retry(), &mut rng, &mut NoBudget) {
            Decision::RetryAt { at, delay } => {
                now = at;
                total += delay;
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
    total
}

/// One call's backon backoff: build it, take three delays.
#[inline(always)]
fn three_backon_delays(builder: &ExponentialBuilder) -> Duration {
    let mut backoff = builder.build();
    let mut total = Duration::ZERO;
    for _ in 0..3 {
        total += backoff.next().unwrap();
    }
    total
}

fn backoff(c: &mut Criterion) {
    // Sanity first: the sequences are what the rows claim.
    let full = three_core_delays(exponential(Jitter::Full), 7);
    assert!(full <= Duration::from_secs(7), "full jitter: {full:?}");
    assert_eq!(
        three_core_delays(exponential(Jitter::None), 7),
        Duration::from_secs(7)
    );
    let plain = ExponentialBuilder::default();
    assert_eq!(three_backon_delays(&plain), Duration::from_secs(7));
    let jittered = ExponentialBuilder::default()
        .with_jitter()
        .with_jitter_seed(7);
    let j = three_backon_delays(&jittered);
    assert!(j >= Duration::from_secs(7) && j <= Duration::from_secs(14));

    let mut g = c.benchmark_group("retry/backoff");

    g.bench_function(
        "failsafe-core Retry: new + 3 retries, exponential, full jitter (Xorshift64 seeded)",
        |b| {
            let config = exponential(Jitter::Full);
            let mut seed = 0u64;
            b.iter(|| {
                seed += 1;
                three_core_delays(black_box(config), seed)
            });
        },
    );

    g.bench_function(
        "failsafe-core Retry: new + 3 retries, exponential, no jitter",
        |b| {
            let config = exponential(Jitter::None);
            b.iter(|| three_core_delays(black_box(config), 1));
        },
    );

    g.bench_function(
        "backon 1.6 ExponentialBuilder: build + 3 delays, jitter, seeded",
        |b| {
            let mut seed = 0u64;
            b.iter(|| {
                seed += 1;
                let builder = black_box(ExponentialBuilder::default())
                    .with_jitter()
                    .with_jitter_seed(seed);
                three_backon_delays(&builder)
            });
        },
    );

    g.bench_function(
        "backon 1.6 ExponentialBuilder: build + 3 delays, jitter, default seed",
        |b| {
            let builder = ExponentialBuilder::default().with_jitter();
            let builder = black_box(&builder);
            b.iter(|| three_backon_delays(builder));
        },
    );

    g.bench_function(
        "backon 1.6 ExponentialBuilder: build + 3 delays, no jitter",
        |b| {
            let builder = ExponentialBuilder::default();
            let builder = black_box(&builder);
            b.iter(|| three_backon_delays(builder));
        },
    );

    g.finish();
}

/// A cheap, strictly increasing `now`: 100 ns per step, about the pace of
/// the real-clock rows, so windows rotate about as often.
struct Ticker(u64);

impl Ticker {
    #[inline(always)]
    fn tick(&mut self) -> Instant {
        self.0 += 100;
        Instant::from_nanos(self.0)
    }
}

fn budget(c: &mut Criterion) {
    const TTL: Duration = Duration::from_secs(10);
    let kind = FailureKind::Error;
    let mut g = c.benchmark_group("retry/budget");

    // Deposits alone (tower's defaults: 10 s, 10/s floor, 20%).
    g.bench_function("failsafe-core RatioBudget<10> &mut: on_call", |b| {
        let mut budget = RatioBudget::<10>::new(TTL, 0.2, 10).unwrap();
        let mut t = Ticker(0);
        b.iter(|| budget.on_call(black_box(t.tick())));
    });

    g.bench_function("tower 0.5 TpsBudget: deposit", |b| {
        let budget = TpsBudget::new(TTL, 10, 0.2);
        let budget = black_box(&budget);
        b.iter(|| budget.deposit());
    });

    // A deposit and a granted withdrawal per iteration: at a 100% ratio the
    // balance stays put, so every withdrawal is granted (asserted).
    g.bench_function(
        "failsafe-core RatioBudget<10> &mut: on_call + try_retry",
        |b| {
            let mut budget = RatioBudget::<10>::new(TTL, 1.0, 10).unwrap();
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                budget.on_call(now);
                assert!(budget.try_retry(now, black_box(kind)));
            });
        },
    );

    g.bench_function(
        "failsafe-core RatioBudget<10> in StdLock + StdClock::now: on_call + try_retry",
        |b| {
            let budget = StdLock::new(RatioBudget::<10>::new(TTL, 1.0, 10).unwrap());
            let budget = black_box(&budget);
            b.iter(|| {
                let now = StdClock.now();
                budget.with(|budget| {
                    budget.on_call(now);
                    assert!(budget.try_retry(now, black_box(kind)));
                });
            });
        },
    );

    g.bench_function("tower 0.5 TpsBudget: deposit + withdraw", |b| {
        let budget = TpsBudget::new(TTL, 10, 1.0);
        let budget = black_box(&budget);
        b.iter(|| {
            budget.deposit();
            assert!(budget.withdraw());
        });
    });

    g.bench_function(
        "failsafe-core TokenQuota &mut: try_retry + on_success (refund)",
        |b| {
            let mut quota = TokenQuota::AWS_STANDARD;
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                assert!(quota.try_retry(now, black_box(kind)));
                quota.on_success(now, Some(kind));
            });
        },
    );

    g.bench_function(
        "failsafe-core GrpcThrottle &mut: on_failure + try_retry + on_success",
        |b| {
            let mut throttle = GrpcThrottle::new(100, 1.0).unwrap();
            let mut t = Ticker(0);
            b.iter(|| {
                let now = black_box(t.tick());
                throttle.on_failure(now, black_box(kind));
                assert!(throttle.try_retry(now, kind));
                throttle.on_success(now, Some(kind));
            });
        },
    );

    g.finish();
}

/// A [`Runtime`] that reads no clock (a counter) and never sleeps: the
/// driver's wrappers minus the cost of `Instant::now()`.
struct CounterRuntime(Cell<u64>);

impl Clock for CounterRuntime {
    #[inline(always)]
    fn now(&self) -> Instant {
        let t = self.0.get() + 1;
        self.0.set(t);
        Instant::from_nanos(t)
    }
}

impl Runtime for CounterRuntime {
    type Sleep = Ready<()>;
    fn sleep_until(&self, _deadline: Instant) -> Ready<()> {
        ready(())
    }
}

/// tower's retry policy for the size print, as `tower/layers` has it: up
/// to 3 attempts on an error.
#[derive(Clone, Copy)]
struct TowerAttempts(u32);

impl<E> tower::retry::Policy<u32, u32, E> for TowerAttempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u32, result: &mut Result<u32, E>) -> Option<Self::Future> {
        match result {
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, req: &u32) -> Option<u32> {
        Some(*req)
    }
}

/// The protected operation: ready at once, always succeeds.
#[inline(always)]
async fn op() -> Result<u32, ()> {
    Ok(black_box(1))
}

/// The same for a timeout, whose operation returns the driver's `Error`.
#[inline(always)]
async fn op_timed() -> Result<u32, Error<()>> {
    Ok(black_box(1))
}

fn ctx(config: RetryConfig) -> RetryContext<'static, NoBudget, Xorshift64, ()> {
    RetryContext {
        config,
        deadline: Deadline::NEVER,
        budget: &NoBudget,
        rng: Xorshift64::new(1),
        observer: (),
    }
}

/// [`ctx`] lending the config, as backon's row lends its builder.
fn ctx_ref(config: &RetryConfig) -> RetryContext<'static, NoBudget, Xorshift64, (), &RetryConfig> {
    RetryContext {
        config,
        deadline: Deadline::NEVER,
        budget: &NoBudget,
        rng: Xorshift64::new(1),
        observer: (),
    }
}

fn wrappers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let clock = rt.block_on(async { TokioClock::new() });
    let counter = CounterRuntime(Cell::new(0));
    let config = RetryConfig::builder().build().unwrap();
    let per_attempt = TimeoutConfig::new(SECOND).unwrap();

    // Sanity: every wrapper really runs the operation and returns its value.
    rt.block_on(async {
        assert_eq!(
            retry(&clock, ctx(config), &DefaultClassifier, |_| op()).await,
            Ok(1)
        );
        assert_eq!(
            timeout(&clock, per_attempt, Deadline::NEVER, (), |_| op_timed()).await,
            Ok(1)
        );
        assert_eq!(tokio::time::timeout(SECOND, op()).await, Ok(Ok(1)));
        assert_eq!(op.retry(ExponentialBuilder::default()).await, Ok(1));
    });

    // Memory: what one call's future holds, side by side (printed, not asserted).
    {
        let ours = retry(&clock, ctx(config), &DefaultClassifier, |_| op());
        let lent = retry(&clock, ctx_ref(&config), &DefaultClassifier, |_| op());
        let policy = RetryPolicy::with_runtime(config, clock);
        let handle = policy.call(|_| op());
        let backon = op.retry(ExponentialBuilder::default());
        let tower_free = op();
        eprintln!(
            "future sizes: failsafe-driver retry(op) {} B (config lent: {} B), RetryPolicy::call {} B, backon op.retry {} B, bare op {} B",
            std::mem::size_of_val(&ours),
            std::mem::size_of_val(&lent),
            std::mem::size_of_val(&handle),
            std::mem::size_of_val(&backon),
            std::mem::size_of_val(&tower_free),
        );
    }

    // The tower retry layers' futures (what `tower/layers` moves per request).
    {
        use tower::{Layer, Service, ServiceExt};
        let inner = tower::service_fn(|n: u32| ready(Ok::<_, ()>(n)));
        let policy = failsafe_tokio::RetryPolicy::new(
            RetryConfig::builder().max_attempts(3).build().unwrap(),
        );
        let mut ours = failsafe_tower::RetryLayer::new(policy).layer(inner);
        let mut theirs = tower::retry::RetryLayer::new(TowerAttempts(3)).layer(inner);
        rt.block_on(async {
            let ours_call = ours.ready().await.unwrap().call(1);
            let theirs_call = theirs.ready().await.unwrap().call(1);
            eprintln!(
                "future sizes: failsafe-tower RetryLayer call {} B, tower 0.5 Retry call {} B",
                std::mem::size_of_val(&ours_call),
                std::mem::size_of_val(&theirs_call),
            );
        });
    }

    let mut g = c.benchmark_group("retry/tokio");

    g.bench_function("bare op().await", |b| b.to_async(&rt).iter(op));

    g.bench_function("tokio::time::timeout(1 s, op)", |b| {
        b.to_async(&rt)
            .iter(|| tokio::time::timeout(black_box(SECOND), op()));
    });

    g.bench_function("failsafe-driver timeout(op), TokioClock", |b| {
        b.to_async(&rt).iter(|| {
            timeout(&clock, black_box(per_attempt), Deadline::NEVER, (), |_| {
                op_timed()
            })
        });
    });

    g.bench_function("failsafe-driver timeout(op), counter clock", |b| {
        b.to_async(&rt).iter(|| {
            timeout(
                &counter,
                black_box(per_attempt),
                Deadline::NEVER,
                (),
                |_| op_timed(),
            )
        });
    });

    g.bench_function("failsafe-driver retry(op), TokioClock", |b| {
        b.to_async(&rt)
            .iter(|| retry(&clock, ctx(black_box(config)), &DefaultClassifier, |_| op()));
    });

    g.bench_function("failsafe-driver retry(op), &config, TokioClock", |b| {
        let config = black_box(&config);
        b.to_async(&rt)
            .iter(|| retry(&clock, ctx_ref(config), &DefaultClassifier, |_| op()));
    });

    g.bench_function("failsafe-driver RetryPolicy::call(op), TokioClock", |b| {
        let policy = RetryPolicy::with_runtime(config, clock);
        b.to_async(&rt).iter(|| policy.call(|_| op()));
    });

    g.bench_function("failsafe-driver retry(op), counter clock", |b| {
        b.to_async(&rt).iter(|| {
            retry(&counter, ctx(black_box(config)), &DefaultClassifier, |_| {
                op()
            })
        });
    });

    g.bench_function("failsafe-driver retry(timeout(op)), TokioClock", |b| {
        b.to_async(&rt).iter(|| {
            retry(
                &clock,
                ctx(black_box(config)),
                &DefaultClassifier,
                |attempt| timeout(&clock, per_attempt, attempt.deadline, (), |_| op_timed()),
            )
        });
    });

    g.bench_function(
        "failsafe-driver RetryPolicy::call(timeout(op)), TokioClock",
        |b| {
            let policy = RetryPolicy::with_runtime(config, clock);
            b.to_async(&rt).iter(|| {
                policy.call(|attempt| {
                    timeout(&clock, per_attempt, attempt.deadline, (), |_| op_timed())
                })
            });
        },
    );

    g.bench_function(
        "failsafe-driver RetryPolicy::call(timeout(op)), QuantaRuntime(TokioClock)",
        |b| {
            let tsc = failsafe_driver::QuantaRuntime(clock);
            let policy = RetryPolicy::with_runtime(config, tsc);
            b.to_async(&rt).iter(|| {
                policy.call(|attempt| {
                    timeout(&tsc, per_attempt, attempt.deadline, (), |_| op_timed())
                })
            });
        },
    );

    g.bench_function(
        "failsafe-driver timeout(op), QuantaRuntime(TokioClock)",
        |b| {
            let tsc = failsafe_driver::QuantaRuntime(clock);
            b.to_async(&rt).iter(|| {
                timeout(&tsc, black_box(per_attempt), Deadline::NEVER, (), |_| {
                    op_timed()
                })
            });
        },
    );

    g.bench_function("backon 1.6 op.retry(ExponentialBuilder)", |b| {
        let builder = ExponentialBuilder::default();
        let builder = black_box(&builder);
        b.to_async(&rt).iter(|| op.retry(builder));
    });

    g.bench_function("backon 1.6 retry(tokio::time::timeout(op))", |b| {
        let builder = ExponentialBuilder::default();
        let builder = black_box(&builder);
        b.to_async(&rt)
            .iter(|| (|| tokio::time::timeout(SECOND, op())).retry(builder));
    });

    // For scale: what the wrappers' two costs outside the core are.
    g.bench_function("for scale: tokio::time::Instant::now()", |b| {
        b.iter(tokio::time::Instant::now)
    });

    g.bench_function(
        "for scale: tokio::time::sleep_until, created and dropped",
        |b| {
            let _runtime = rt.enter();
            let at = tokio::time::Instant::now() + SECOND;
            b.iter(|| tokio::time::sleep_until(black_box(at)));
        },
    );

    g.finish();
}

fn config() -> Criterion {
    // Modest so the whole suite (four files) stays under 5 minutes on a
    // 2-core machine: this file takes about 80 s.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(2500))
        .sample_size(50)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = backoff, budget, wrappers
}
criterion_main!(benches);
