//! The bulkhead on tokio's clock: the driver's handle bound to
//! [`TokioClock`].

use failsafe_core::bulkhead::FixedLimit;

use crate::TokioClock;

/// A cloneable, `Send + Sync` bulkhead on tokio's clock: at most `limit`
/// calls at once, and a FIFO queue of up to `Q` callers (64 by default),
/// each waiting at most `max_wait` for a slot. Clones share one bulkhead.
///
/// This is the driver's [`Bulkhead`](failsafe_driver::Bulkhead) handle
/// bound to [`TokioClock`]; see it for every method:
///
/// - [`Bulkhead::new(config)`](failsafe_driver::Bulkhead::new), or
///   [`Bulkhead::adaptive(config, algorithm)`](failsafe_driver::Bulkhead::adaptive)
///   for a limit that follows the dependency's latency ([`Aimd`](crate::Aimd),
///   [`Vegas`](crate::Vegas), [`Gradient2`](crate::Gradient2));
/// - [`call(|| async { .. })`](failsafe_driver::Bulkhead::call) and
///   [`call_with(&classifier, ..)`](failsafe_driver::Bulkhead::call_with):
///   wait for a slot, run, give it back; a caller turned away gets
///   [`Error::Rejected`](crate::Error::Rejected);
/// - [`acquire().await`](failsafe_driver::Bulkhead::acquire): an owned
///   guard holding a slot; [`try_acquire()`](failsafe_driver::Bulkhead::try_acquire)
///   never waits;
/// - [`set_limit`](failsafe_driver::Bulkhead::set_limit),
///   [`metrics`](failsafe_driver::Bulkhead::metrics),
///   [`on_event`](failsafe_driver::Bulkhead::on_event).
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_tokio::{Bulkhead, BulkheadConfig, Clock, Error, RejectReason};
///
/// async fn render(page: u32) -> Result<String, std::io::Error> {
///     tokio::time::sleep(Duration::from_millis(30)).await; // CPU-heavy work, say
///     Ok(format!("page {page}"))
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 4 renders at once; up to 64 more queue, each for at most 50 ms
/// let config = BulkheadConfig::builder()
///     .max_concurrent(4)
///     .max_wait(Duration::from_millis(50))
///     .build()?;
/// let renders: Bulkhead = Bulkhead::new(config);
///
/// let tasks: Vec<_> = (0..10)
///     .map(|page| {
///         let renders = renders.clone(); // clones share one bulkhead
///         tokio::spawn(async move { renders.call(|| render(page)).await })
///     })
///     .collect();
/// let mut turned_away = 0;
/// for task in tasks {
///     match task.await? {
///         Ok(html) => assert!(html.starts_with("page")),
///         // waited 50 ms without a slot: not rendered (shed the load, answer 503)
///         Err(Error::Rejected(r)) => {
///             assert_eq!(r.reason, RejectReason::BulkheadWaitExpired);
///             turned_away += 1;
///         }
///         Err(Error::Inner(io_error)) => return Err(io_error.into()),
///         Err(other) => return Err(other.into()),
///     }
/// }
/// // 4 ran at once, 4 more after 30 ms; the last 2 would have had to wait 60 ms
/// assert_eq!(turned_away, 2);
/// assert_eq!(renders.metrics().in_flight, 0);
///
/// // or hold a slot by hand: the guard gives it back when dropped
/// let slot = renders.acquire().await?;
/// assert_eq!(renders.in_flight(), 1);
/// drop(slot);
/// # Ok(())
/// # }
/// ```
///
/// A call whose future is dropped (a `select!` that took another branch,
/// a timeout) or whose operation panics gives its slot back as
/// `Cancelled`; a waiter dropped while queued gives up its place (and
/// hands on a slot already granted to it): nothing leaks. As a tower
/// layer, see [`BulkheadLayer`](crate::BulkheadLayer).
pub type Bulkhead<const Q: usize = 64, A = FixedLimit> =
    failsafe_driver::Bulkhead<Q, A, TokioClock>;
