//! What the tower benches share: the ready inner service, tower's retry
//! policy, the timed loop of requests on one service, and their short
//! criterion settings.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;

use tower::{Service, ServiceExt, service_fn};

/// The protected service: ready at once, answers at once.
pub(crate) fn inner()
-> impl Service<u32, Response = u32, Error = Infallible, Future = Ready<Result<u32, Infallible>>> + Clone
{
    service_fn(|n: u32| ready(Ok::<_, Infallible>(n)))
}

/// tower's retry policy: up to 3 attempts on an error, none on success.
#[derive(Clone)]
pub(crate) struct Attempts(pub(crate) u32);

impl<E> tower::retry::Policy<u32, u32, E> for Attempts {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u32, result: &mut Result<u32, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => None,
            Err(_) if self.0 > 1 => {
                self.0 -= 1;
                Some(ready(()))
            }
            Err(_) => None,
        }
    }

    fn clone_request(&mut self, req: &u32) -> Option<u32> {
        Some(*req)
    }
}

pub(crate) async fn one_request<S>(svc: &mut S) -> S::Response
where
    S: Service<u32>,
    S::Error: std::fmt::Debug,
{
    let ready = svc.ready().await.unwrap();
    ready.call(black_box(1)).await.unwrap()
}

/// Times `iters` requests on one service made by `make` outside the timed
/// loop (a tower service is made once per connection).
pub(crate) fn requests<S>(
    b: &mut criterion::Bencher<'_>,
    rt: &tokio::runtime::Runtime,
    make: impl Fn() -> S,
) where
    S: Service<u32> + 'static,
    S::Error: std::fmt::Debug,
{
    b.to_async(rt).iter_custom(|iters| {
        let mut svc = make();
        async move {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                black_box(one_request(&mut svc).await);
            }
            start.elapsed()
        }
    });
}

/// The tower benches' criterion settings: 0.3 s warm-up, 1 s measured, 30
/// samples (each file stays around 15 s; see benches/README.md).
pub(crate) fn criterion_config() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(30)
}
