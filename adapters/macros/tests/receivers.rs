//! `#[policy(self.field)]` keeps a method's receiver, sync or async: an async
//! `&mut self` method once failed to build (E0505: its closure moved `self`
//! while `self.breaker` was borrowed for the call; a review found it).

use failsafe_tokio::{BreakerConfig, CircuitBreakerPolicy, Error, NoWindow, policy};

struct Client {
    breaker: CircuitBreakerPolicy<NoWindow>,
    calls: u32,
}

impl Client {
    #[policy(self.breaker)]
    fn count_sync(&mut self) -> Result<u32, Error<()>> {
        self.calls += 1;
        Ok(self.calls)
    }

    #[policy(self.breaker)]
    async fn count(&mut self) -> Result<u32, Error<()>> {
        self.calls += 1;
        Ok(self.calls)
    }
}

#[tokio::test(start_paused = true)]
async fn an_async_mut_self_method_keeps_its_receiver() {
    let mut client = Client {
        breaker: CircuitBreakerPolicy::new(BreakerConfig::DEFAULT, NoWindow),
        calls: 0,
    };
    assert_eq!(client.count_sync(), Ok(1));
    assert_eq!(client.count().await, Ok(2));
}
