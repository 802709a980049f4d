//! The bulkhead on async-io: the driver's handle bound to [`AsyncIoClock`].

use failsafe_core::bulkhead::FixedLimit;

use crate::AsyncIoClock;

/// A cloneable, `Send + Sync` bulkhead for smol and async-std: at most
/// `limit` calls at once, and a FIFO queue of up to `Q` callers (64 by
/// default), each waiting at most `max_wait` for a slot (on an
/// `async_io::Timer`). Clones share one bulkhead.
///
/// This is the driver's [`Bulkhead`](failsafe_driver::Bulkhead) handle
/// bound to [`AsyncIoClock`]; see it for every method:
/// [`new(config)`](failsafe_driver::Bulkhead::new),
/// [`adaptive(config, algorithm)`](failsafe_driver::Bulkhead::adaptive),
/// [`call(|| async { .. })`](failsafe_driver::Bulkhead::call),
/// [`call_with`](failsafe_driver::Bulkhead::call_with),
/// [`acquire().await`](failsafe_driver::Bulkhead::acquire),
/// [`try_acquire()`](failsafe_driver::Bulkhead::try_acquire) (never waits),
/// [`set_limit`](failsafe_driver::Bulkhead::set_limit),
/// [`metrics`](failsafe_driver::Bulkhead::metrics) and
/// [`on_event`](failsafe_driver::Bulkhead::on_event).
///
/// ## Quick start
///
/// ```
/// use std::time::Duration;
/// use failsafe_async_std::{Bulkhead, BulkheadConfig, Error};
///
/// async fn resize(image: u32) -> Result<u32, std::io::Error> {
///     Ok(image) // memory-hungry work: only a few at once
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // 2 at once; others queue for up to a second
/// let config = BulkheadConfig::builder()
///     .max_concurrent(2)
///     .max_wait(Duration::from_secs(1))
///     .build()?;
/// let resizer: Bulkhead = Bulkhead::new(config);
///
/// smol::block_on(async {
///     let jobs: Vec<_> = (0..8)
///         .map(|image| {
///             let resizer = resizer.clone(); // clones share one bulkhead
///             smol::spawn(async move { resizer.call(|| resize(image)).await })
///         })
///         .collect();
///     for job in jobs {
///         match job.await {
///             Ok(_) => {}
///             // no slot within a second (or the queue was full): not run
///             Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
///             Err(other) => eprintln!("{other}"),
///         }
///     }
/// });
/// assert_eq!(resizer.in_flight(), 0);
/// # Ok(())
/// # }
/// ```
///
/// Dropping a call's future gives its slot back (as `Cancelled`); a
/// waiter dropped while queued gives up its place: nothing leaks. To test
/// timelines, build the driver's generic
/// [`failsafe_driver::Bulkhead::with_clock`] with a runtime the test moves.
pub type Bulkhead<const Q: usize = 64, A = FixedLimit> =
    failsafe_driver::Bulkhead<Q, A, AsyncIoClock>;
