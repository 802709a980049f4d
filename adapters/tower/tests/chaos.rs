//! The chaos layer in a tower `ServiceBuilder` over a `service_fn`: on
//! tokio's paused clock, each request gets exactly what a twin core
//! machine on the same seeds decides (the injected error, the chosen
//! outcome, the inner answer, each after the added latency; a hang cut by
//! a timeout layer outside), and only the calls with no fault reach the
//! inner service; on smol's reactor (async-io) the same layer injects and
//! is switched off at run time. Events reach the policy's observer. In
//! front of a real axum server on loopback, the answers are the twin's
//! decisions too.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use failsafe_async_std::AsyncIoClock;
use failsafe_core::FnObserver;
use failsafe_core::rng::Seeds;
use failsafe_core::timeout::{Deadline, TimeoutConfig};
use failsafe_driver::chaos::{Chaos, ChaosConfig, ChaosEvent, ChaosPolicy, Fault, Rate, Schedule};
use failsafe_driver::{Clock, Error, TimeoutPolicy};
use failsafe_tokio::TokioClock;
use failsafe_tower::{ChaosLayer, TimeoutLayer};
use tower::{ServiceBuilder, ServiceExt, service_fn};

fn mixed() -> ChaosConfig {
    let (min, max) = (Duration::from_millis(10), Duration::from_millis(10));
    ChaosConfig::builder()
        .error(Rate::percent(20), Schedule::Always)
        .outcome(Rate::percent(20), Schedule::Always)
        .hang(Rate::percent(20), Schedule::Always)
        .latency(Rate::percent(50), min, max, Schedule::Always)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_chaos_layer_injects_what_the_core_decides_on_tokio() {
    let clock = TokioClock::new();
    let events = Arc::new(Mutex::new(Vec::<ChaosEvent>::new()));
    let seen = Arc::clone(&events);
    let observer = FnObserver(move |e| seen.lock().unwrap().push(e));
    let policy = ChaosPolicy::new(Chaos::new(mixed()), || "injected", || Ok(503))
        .seed(9)
        .observe(observer);
    let timeout = TimeoutConfig::new(Duration::from_secs(1)).unwrap();
    let reached = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&reached);
    let svc = ServiceBuilder::new()
        .layer(TimeoutLayer::new(TimeoutPolicy::with_runtime(
            timeout, clock,
        )))
        .layer(ChaosLayer::new(policy, clock))
        .service(service_fn(move |()| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<u16, &str>(200) }
        }));
    let (twin, seeds) = (Chaos::new(mixed()), Seeds::new(9));
    let (mut passed, mut injected) = (0u32, 0usize);
    for _ in 0..50 {
        let start = clock.now();
        let decided = twin.decide(start, &mut seeds.next());
        let (want, took) = match decided.fault {
            None => (Ok(200), decided.delay),
            Some(Fault::Error) => (Err(Error::Inner("injected")), decided.delay),
            Some(Fault::Outcome) => (Ok(503), decided.delay),
            Some(Fault::Hang) => {
                let cut = Deadline::at(start + Duration::from_secs(1));
                (Err(Error::Timeout(cut)), Duration::from_secs(1))
            }
        };
        passed += u32::from(decided.fault.is_none());
        injected += usize::from(!decided.is_pass());
        assert_eq!(svc.clone().oneshot(()).await, want);
        assert_eq!(clock.now() - start, took);
    }
    assert_eq!(
        reached.load(Ordering::SeqCst),
        passed,
        "faults never reach the service"
    );
    assert_eq!(
        events.lock().unwrap().len(),
        injected,
        "one event per injection"
    );
    assert!(passed > 0 && passed < 50);
}

#[test]
fn the_chaos_layer_injects_and_switches_off_on_async_io() {
    async_io::block_on(async {
        let config = ChaosConfig::builder().error(Rate::ALWAYS, Schedule::Always);
        let chaos = Arc::new(Chaos::new(config.build().unwrap()));
        let policy = ChaosPolicy::new(Arc::clone(&chaos), || "injected", || Ok(503));
        let reached = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&reached);
        let svc = ServiceBuilder::new()
            .layer(ChaosLayer::new(policy, AsyncIoClock))
            .service(service_fn(move |n: u32| {
                counter.fetch_add(1, Ordering::SeqCst);
                async move { Ok::<u32, &str>(n) }
            }));
        assert_eq!(svc.clone().oneshot(1).await, Err("injected"));
        assert_eq!(reached.load(Ordering::SeqCst), 0);
        chaos.set_enabled(false);
        assert_eq!(svc.oneshot(2).await, Ok(2));
        assert_eq!(reached.load(Ordering::SeqCst), 1);
    });
}

/// In front of a real server: an axum app on loopback behind the chaos
/// layer answers each request, in order, as a twin core machine on the same
/// seeds decides (a chosen outcome, 503, in place of the handler's 200),
/// and only the requests with no fault reach the handler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_of_a_real_server_the_chaos_layer_answers_what_the_core_decides() {
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};

    let config = ChaosConfig::builder()
        .outcome(Rate::percent(30), Schedule::Always)
        .build()
        .unwrap();
    let outage = || {
        Ok::<Response, std::convert::Infallible>(StatusCode::SERVICE_UNAVAILABLE.into_response())
    };
    let policy = ChaosPolicy::new(
        Chaos::new(config),
        || unreachable!("no error faults"),
        outage,
    )
    .seed(21);
    let reached = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&reached);
    let handler = move || async move {
        counter.fetch_add(1, Ordering::SeqCst);
        "ok"
    };
    let app = axum::Router::new()
        .route("/", axum::routing::get(handler))
        .layer(ChaosLayer::new(policy, TokioClock::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(axum::serve(listener, app).into_future());
    let client = reqwest::Client::new();
    let (twin, seeds) = (Chaos::new(config), Seeds::new(21));
    let mut passed = 0;
    for request in 0..60 {
        let decided = twin.decide(TokioClock::new().now(), &mut seeds.next());
        let want = match decided.fault {
            None => 200,
            Some(Fault::Outcome) => 503,
            Some(other) => unreachable!("{other:?} is not configured"),
        };
        passed += u32::from(decided.fault.is_none());
        let status = client.get(&url).send().await.unwrap().status().as_u16();
        assert_eq!(status, want, "request {request}");
    }
    assert_eq!(reached.load(Ordering::SeqCst), passed);
    assert!(passed > 20 && passed < 60, "{passed} of 60 passed");
    server.abort();
}
