//! A real `redis-server` for the tests: started on a free loopback port
//! (`--save '' --appendonly no`: nothing on disk), ready once it answers
//! `PING`, killed on drop. Under CI (`CI=true`) a server that cannot start
//! fails the test; elsewhere the test is skipped with the reason printed.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn free_port() -> u16 {
    // bind port 0 for a port the kernel knows to be free, then let it go
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

fn spawn(port: u16) -> Result<Child, String> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run redis-server: {e}"))?;
    // a readiness wait on an external process, not a timing assertion
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ping(port) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("redis-server exited: {status}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "redis-server on port {port} did not answer PING within 10 s"
    ))
}

impl RedisServer {
    /// A server on a free port, or `None` (reason printed) outside CI.
    ///
    /// # Panics
    ///
    /// Under CI, if it cannot start.
    pub fn start() -> Option<RedisServer> {
        let port = free_port();
        match spawn(port) {
            Ok(child) => Some(RedisServer {
                child: Some(child),
                port,
            }),
            Err(reason) if under_ci() => panic!("CI=true and no Redis: {reason}"),
            Err(reason) => {
                // straight to stderr, past the test harness's capture: a skip must be seen
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: {reason} (install redis-server; under CI=true this fails)"
                );
                None
            }
        }
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (its data is gone: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn(self.port).expect("redis-server restarts on its port"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A small deterministic generator for the random sequences.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// In `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// Every window [t, t + w] over a sorted log of (time ns, permits) holds at
/// most `bound(w)`; returns the largest excess of the count over
/// `base(w)` seen (the measured overshoot; 0 if none).
pub fn check_windows(
    log: &[(u64, u32)],
    bound: impl Fn(Duration) -> u64,
    base: impl Fn(Duration) -> u64,
) -> u64 {
    let mut worst = 0;
    for (i, &(start, _)) in log.iter().enumerate() {
        let mut total = 0u64;
        for &(t, n) in &log[i..] {
            total += u64::from(n);
            let span = Duration::from_nanos(t - start);
            assert!(
                total <= bound(span),
                "{total} permits in {span:?} > {}",
                bound(span)
            );
            worst = worst.max(total.saturating_sub(base(span)));
        }
    }
    worst
}

/// Waits for `done` to say yes, reading again after each no, however slow
/// the machine: a count of reads would fail a slow run, and no bound at
/// all would hang a broken one, so the bound is a generous deadline.
pub async fn until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let wait = async {
        while !done().await {
            tokio::task::yield_now().await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .is_err()
    {
        panic!("{what} within 60 s");
    }
}
