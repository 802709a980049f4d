//! The admin routes on loopback: a real TCP listener on port 0, requests
//! written by hand (HTTP/1.1, `Connection: close`), JSON read back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use failsafe_core::breaker::{BreakerConfig, CountWindow, State};
use failsafe_core::bulkhead::{BulkheadConfig, FixedLimit};
use failsafe_core::rate::Quota;
use failsafe_core::{Instant, RejectReason};
use failsafe_driver::registry::{
    Change, ChangeError, Control, Kind, Registry, Settling, Staged, admin,
};
use failsafe_driver::{BulkheadPolicy, CircuitBreakerPolicy, Clock, RateLimiterPolicy};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug, Default)]
struct Manual(Arc<AtomicU64>);

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

type Breaker = CircuitBreakerPolicy<CountWindow<10>, Manual>;
type Pool = BulkheadPolicy<4, FixedLimit, Manual>;

/// A policy whose changes run elsewhere (as a Redis breaker's `open` is a
/// store call): a change takes once that other place answers, if it is up.
#[derive(Clone, Default)]
struct Remote {
    open: Arc<std::sync::atomic::AtomicBool>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Control for Remote {
    fn kind(&self) -> Kind {
        Kind::CircuitBreaker
    }
    fn config(&self) -> Value {
        json!({})
    }
    fn state(&self) -> Value {
        json!({ "open": self.open.load(Ordering::SeqCst) })
    }
    fn prepare(&self, change: &Change) -> Result<Staged<'_>, ChangeError> {
        let open = match change {
            Change::Open => true,
            Change::Close => false,
            other => return Err(ChangeError::unsupported(other.action())),
        };
        let remote = self.clone();
        Ok(Staged::settling(move || {
            let took = async move {
                tokio::task::yield_now().await; // the answer comes later
                if remote.down.load(Ordering::SeqCst) {
                    return Err("the store did not answer".to_string());
                }
                remote.open.store(open, Ordering::SeqCst);
                Ok(())
            };
            (Instant::ZERO, Box::pin(took) as Settling)
        }))
    }
}

struct Service {
    addr: std::net::SocketAddr,
    remote: Remote,
    breaker: Breaker,
    pool: Pool,
    limiter: RateLimiterPolicy<Manual>,
    events: Arc<Mutex<Vec<String>>>,
}

/// The service's policies in a registry, its admin routes nested under
/// `/admin` and served on 127.0.0.1, port 0.
async fn serve() -> Service {
    let clock = Manual::default();
    let breaker = Breaker::with_runtime(BreakerConfig::DEFAULT, CountWindow::new(), clock.clone());
    let pool = Pool::with_runtime(
        BulkheadConfig::builder().max_concurrent(3).build().unwrap(),
        clock.clone(),
    );
    let limiter = RateLimiterPolicy::with_runtime(Quota::per_second(10).unwrap(), clock.clone());
    let registry = Arc::new(Registry::new(8));
    registry.register("payments", breaker.clone()).unwrap();
    registry.register("db", pool.clone()).unwrap();
    registry.register("search", limiter.clone()).unwrap();
    let remote = Remote::default();
    registry.register("shared", remote.clone()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    registry.on_change(move |e| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", e.name, e.change.action()))
    });
    let app = axum::Router::new().nest("/admin", admin::router(registry));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Service {
        addr,
        remote,
        breaker,
        pool,
        limiter,
        events,
    }
}

/// One request on a fresh connection: the status and the JSON body.
async fn request(svc: &Service, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(svc.addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, serde_json::from_str(&body).unwrap())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[tokio::test]
async fn lists_and_reads_the_policies() {
    let svc = serve().await;
    let (status, all) = request(&svc, "GET", "/admin/policies", "").await;
    assert_eq!(status, 200);
    let names: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("db", "bulkhead"),
            ("payments", "circuit_breaker"),
            ("search", "rate_limiter"),
            ("shared", "circuit_breaker")
        ]
    );
    let (status, db) = request(&svc, "GET", "/admin/policies/db", "").await;
    assert_eq!(status, 200);
    assert_eq!(db["config"], json!({"max_concurrent": 3, "max_wait": "0s"}));
    assert_eq!(db["state"]["limit"], 3);
    let (status, missing) = request(&svc, "GET", "/admin/policies/nobody", "").await;
    assert_eq!(status, 404);
    assert_eq!(missing["error"], "no policy named `nobody`");
}

#[tokio::test]
async fn changes_a_policy_keeping_its_state() {
    let svc = serve().await;
    let held = svc.pool.try_acquire().unwrap();
    let (status, db) = request(
        &svc,
        "POST",
        "/admin/policies/db",
        r#"{"action": "set_limit", "limit": 1}"#,
    )
    .await;
    assert_eq!(status, 200, "{db}");
    assert_eq!(
        (&db["state"]["limit"], &db["state"]["in_flight"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(svc.pool.limit(), 1);
    assert!(svc.pool.try_acquire().is_err()); // the call in flight keeps its slot
    drop(held);
    let (status, payments) = request(
        &svc,
        "POST",
        "/admin/policies/payments",
        r#"{"action": "force_open"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(payments["state"]["state"], "forced-open");
    assert_eq!(
        svc.breaker.try_acquire().unwrap_err().reason,
        RejectReason::BreakerForcedOpen
    );
    let (status, _) = request(
        &svc,
        "POST",
        "/admin/policies/search",
        r#"{"action": "set_quota", "quota": {"rate": 50, "burst": 5}}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(svc.limiter.quota().burst(), 5);
    assert_eq!(
        *svc.events.lock().unwrap(),
        ["db set_limit", "payments force_open", "search set_quota"]
    );
}

#[tokio::test]
async fn an_invalid_change_is_rejected_naming_the_field_and_changes_nothing() {
    let svc = serve().await;
    let before = request(&svc, "GET", "/admin/policies", "").await.1;
    let cases = [
        // (route, body, status, field)
        (
            "/admin/policies/db",
            r#"{"action": "set_limit", "limit": 0}"#,
            422,
            json!("limit"),
        ),
        (
            "/admin/policies/db",
            r#"{"action": "set_limit", "limit": "many"}"#,
            400,
            json!("limit"),
        ),
        (
            "/admin/policies/db",
            r#"{"action": "set_limits", "limit": 2}"#,
            400,
            json!("action"),
        ),
        (
            "/admin/policies/db",
            r#"{"action": "force_open"}"#,
            422,
            json!(null),
        ),
        (
            "/admin/policies/search",
            r#"{"action": "set_quota", "quota": {"rate": 5, "burst": 0}}"#,
            400,
            json!("quota.burst"),
        ),
        (
            "/admin/policies/payments",
            r#"{"action": "configure", "config": {"failure_rate_threshold": 2.0}}"#,
            422,
            json!("failure_rate_threshold"),
        ),
        ("/admin/policies/payments", "not json", 400, json!(null)),
        (
            "/admin/policies/nobody",
            r#"{"action": "reset"}"#,
            404,
            json!(null),
        ),
    ];
    for (route, body, status, field) in cases {
        let (got, answer) = request(&svc, "POST", route, body).await;
        assert_eq!(got, status, "{route} {body}: {answer}");
        assert_eq!(answer["field"], field, "{route} {body}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let after = request(&svc, "GET", "/admin/policies", "").await.1;
    assert_eq!(before, after, "a rejected change changed something");
    assert_eq!(svc.breaker.state(), State::Closed);
    assert!(svc.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn reloads_everything_or_nothing() {
    let svc = serve().await;
    let (status, answer) = request(
        &svc,
        "POST",
        "/admin/reload",
        "[db]\nmax_concurrent = 5\n\n[search]\nrate = 20\nburst = 4\n",
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"changed": ["db", "search"]}));
    assert_eq!(svc.pool.limit(), 5);
    let before = request(&svc, "GET", "/admin/policies", "").await.1;
    let (status, answer) = request(
        &svc,
        "POST",
        "/admin/reload",
        "[db]\nmax_concurrent = 7\n\n[payments]\nminimum_calls = 0\n",
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "minimum_calls");
    assert!(
        answer["error"].as_str().unwrap().contains("`payments`"),
        "{answer}"
    );
    assert_eq!(
        svc.pool.limit(),
        5,
        "the valid table was not applied either"
    );
    assert_eq!(request(&svc, "GET", "/admin/policies", "").await.1, before);
    let (status, answer) = request(&svc, "POST", "/admin/reload", "[db\n").await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn a_change_made_elsewhere_answers_once_it_took_or_503_if_it_did_not() {
    let svc = serve().await;
    let (status, body) = request(
        &svc,
        "POST",
        "/admin/policies/shared",
        r#"{"action": "open"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"]["open"], true, "the view shows the change");
    svc.remote.down.store(true, Ordering::SeqCst);
    let (status, body) = request(
        &svc,
        "POST",
        "/admin/policies/shared",
        r#"{"action": "close"}"#,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["error"],
        "circuit_breaker `shared`: the change did not take: the store did not answer"
    );
    assert_eq!(body["field"], Value::Null);
    assert!(svc.remote.open.load(Ordering::SeqCst));
    // heard when made, as every change
    assert_eq!(*svc.events.lock().unwrap(), ["shared open", "shared close"]);
}
