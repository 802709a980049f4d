//! Handles looked up by name: in the process-wide registry or one named
//! by an expression, on `fn`s, `async fn`s and methods.
#![deny(warnings)]

use std::sync::LazyLock;

use failsafe_driver::registry::{self, Registry};
use failsafe_thread::{BreakerConfig, BulkheadConfig, BulkheadPolicy, CircuitBreakerPolicy, Error, NoWindow, policy};

static OPS: LazyLock<Registry> = LazyLock::new(|| Registry::new(4));

#[policy(name = "payments", handle = CircuitBreakerPolicy<NoWindow>)]
fn charge(cents: u64) -> Result<u64, Error<&'static str>> {
    if cents == 0 {
        return Err("zero");
    }
    Ok(cents)
}

#[policy("refunds", handle = failsafe_tokio::CircuitBreakerPolicy<NoWindow>)]
async fn refund(cents: u64) -> Result<u64, Error<&'static str>> {
    Ok(cents)
}

struct Db;

impl Db {
    #[policy(name = "db", handle = BulkheadPolicy, registry = OPS)]
    fn query(&self, sql: &str) -> Result<usize, Error<std::io::Error>> {
        Ok(sql.len())
    }
}

fn main() {
    let breaker = CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    registry::global().register("payments", breaker).unwrap();
    let refunds = failsafe_tokio::CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow);
    registry::global().register("refunds", refunds).unwrap();
    let pool: BulkheadPolicy = BulkheadPolicy::new(BulkheadConfig::DEFAULT);
    OPS.register("db", pool).unwrap();
    assert_eq!(charge(5), Ok(5));
    assert_eq!(charge(0), Err(Error::Inner("zero")));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    assert_eq!(runtime.block_on(refund(3)), Ok(3));
    assert_eq!(Db.query("select 1").unwrap(), 8);
}
