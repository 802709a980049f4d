//! # failsafe-async-std
//!
//! The [failsafe](failsafe_core) circuit breaker for runtimes built on
//! [`async-io`](async_io): **smol**, and async-std.
//!
//! > **async-std is discontinued upstream** (advisory
//! > [RUSTSEC-2025-0052](https://rustsec.org/advisories/RUSTSEC-2025-0052.html));
//! > its authors point to smol. This crate does not depend on async-std at
//! > all: it reads the std clock and sleeps on `async_io::Timer`, which both
//! > runtimes drive, so **smol users can use this crate directly**, and
//! > async-std code keeps working while it migrates.
//!
//! This crate only binds [`failsafe_driver`] to async-io: the state machine is
//! [`failsafe_core`]'s, the call wrapper and the permit guard are the
//! driver's.
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use failsafe_async_std::{BreakerConfig, CircuitBreaker, CountWindow, Error};
//!
//! async fn fetch(id: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("item {id}"))
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = BreakerConfig::builder()
//!     .failure_rate_threshold(0.5)
//!     .minimum_calls(10)
//!     .open_wait(Duration::from_secs(30))
//!     .build()?;
//! // one breaker per dependency; clones share it
//! let breaker: CircuitBreaker = CircuitBreaker::new(config, CountWindow::new());
//!
//! smol::block_on(async {
//!     match breaker.call(|| fetch(7)).await {
//!         Ok(item) => assert_eq!(item, "item 7"),
//!         // not called: the breaker is open; retry at `rejected.retry_at`
//!         Err(Error::Rejected(rejected)) => eprintln!("{rejected}"),
//!         Err(Error::Inner(io_error)) => eprintln!("fetch failed: {io_error}"),
//!         Err(other) => eprintln!("{other}"),
//!     }
//! });
//! # Ok(())
//! # }
//! ```
//!
//! `breaker.call_with(&classifier, || ..)` decides per result what counts as
//! a failure (see [`Classify`]). Dropping the call's future, or a panic
//! inside it, returns the permit as `Cancelled`, so a half-open breaker's
//! probe slot is never lost.
//!
//! ## Time
//!
//! [`AsyncIoClock`] is the driver's [`StdClock`] (one process-wide epoch)
//! plus sleeping on [`async_io::Timer::at`]. There is no virtual time here:
//! to test timelines, build the handle with [`Breaker::with_clock`] and a
//! clock of your own that the test moves forward.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use failsafe_core::breaker::{
    BreakerConfig, BreakerConfigBuilder, BreakerEvent, BreakerMetrics, CountWindow, NoWindow,
    State, TimeWindow, Window,
};
pub use failsafe_core::{ConfigError, Instant, Outcome, Problem, RejectReason, Rejected};
pub use failsafe_driver::{
    Breaker, Classify, Clock, DefaultClassifier, Error, PermitGuard, Runtime, SharedStdBreaker,
    StdClock,
};

/// The std clock ([`StdClock`]: one process-wide epoch, so every handle
/// agrees on `now`) with sleeps on [`async_io::Timer`], which smol and
/// async-std both drive.
///
/// ```
/// use failsafe_async_std::{AsyncIoClock, Clock, Instant, Runtime};
///
/// let clock = AsyncIoClock;
/// let start = clock.now();
/// // a deadline that has passed completes at once
/// smol::block_on(clock.sleep_until(Instant::ZERO));
/// assert!(clock.now() >= start);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsyncIoClock;

impl Clock for AsyncIoClock {
    #[inline]
    fn now(&self) -> Instant {
        StdClock.now()
    }
}

impl Runtime for AsyncIoClock {
    type Sleep = Sleep;

    /// [`async_io::Timer::at`] the std instant `deadline` stands for.
    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(async_io::Timer::at(StdClock::to_std(deadline)))
    }
}

/// The future returned by [`AsyncIoClock::sleep_until`]: completes at the
/// deadline, at once if it has passed.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// A cloneable, `Send + Sync` circuit breaker for smol and async-std: clones
/// share one breaker.
///
/// This is the driver's [`Breaker`] handle bound to [`AsyncIoClock`]; see it
/// for every method: [`CircuitBreaker::new(config, window)`](Breaker::new),
/// [`call`](Breaker::call), [`call_with`](Breaker::call_with),
/// [`acquire`](Breaker::acquire), [`state`](Breaker::state),
/// [`metrics`](Breaker::metrics), [`on_event`](Breaker::on_event) and the
/// operator switches ([`open`](Breaker::open), [`close`](Breaker::close),
/// [`force_open`](Breaker::force_open), ...).
///
/// `new` takes the window type from its argument; a `CountWindow::new()`
/// needs its size spelled out, as `CountWindow::<100>::new()` or with
/// `let breaker: CircuitBreaker = ..`.
pub type CircuitBreaker<W = CountWindow<100>> = Breaker<W, AsyncIoClock>;
