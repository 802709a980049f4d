//! `&self` methods with the handle in a field, generics with where
//! clauses, lifetimes, `impl Trait` arguments, borrowed results.
#![deny(warnings)]

use std::fmt::Display;

use failsafe_tokio::{BreakerConfig, CircuitBreakerPolicy, CountWindow, Error, policy};

#[derive(Debug, PartialEq)]
struct Empty;

struct Catalog {
    breaker: CircuitBreakerPolicy,
    items: Vec<String>,
}

impl Catalog {
    #[policy(self.breaker)]
    async fn first<'a>(&'a self, prefix: &'a str) -> Result<&'a str, Error<Empty>> {
        let found = self.items.iter().find(|i| i.starts_with(prefix));
        found.map(String::as_str).ok_or(Empty)
    }

    #[policy(self.breaker)]
    async fn label<T>(&self, value: T, unit: impl Display) -> Result<String, Error<Empty>>
    where
        T: Display + Send,
    {
        Ok(format!("{value} {unit}"))
    }

    #[policy(self.breaker)]
    fn count(&self) -> Result<usize, Error<Empty>> {
        Ok(self.items.len())
    }
}

fn is_send<T: Send>(value: T) -> T {
    value
}

fn main() {
    let catalog = Catalog {
        breaker: CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, CountWindow::new()),
        items: vec!["apple".into(), "pear".into()],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert_eq!(is_send(catalog.first("pe")).await, Ok("pear"));
        assert_eq!(catalog.first("x").await, Err(Error::Inner(Empty)));
        assert_eq!(catalog.label(3, "kg").await.unwrap(), "3 kg");
    });
    assert_eq!(catalog.count(), Ok(2));
}
