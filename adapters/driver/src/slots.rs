//! Where a [`PlanRun`](crate::PlanRun) keeps the attempts in flight, pinned
//! in place: [`One`] for plans that run one attempt at a time (retry,
//! timeout, fallback, the pipeline), [`Four`] for a hedge's up to four.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Attempts in flight, each an `F` numbered by its plan.
///
/// Not bounded by `F: Future` (only [`poll_ended`](Self::poll_ended) is):
/// a pipeline names its slots through a generic associated type, and a
/// bound there would keep rustc from proving a pipeline call `Send` when
/// its error type holds a lifetime (rust-lang/rust#90696).
pub trait Slots<F>: Default {
    /// Slots holding `future` as attempt `number` (before being pinned).
    fn with_one(number: u32, future: F) -> Self;
    /// Runs `future` as attempt `number`; gives it back if every slot is
    /// taken.
    ///
    /// # Errors
    ///
    /// The future, when no slot is free.
    fn start(self: Pin<&mut Self>, number: u32, future: F) -> Result<(), F>;
    /// Drops attempt `number`, if it is in flight.
    fn cancel(self: Pin<&mut Self>, number: u32);
    /// Drops every attempt.
    fn clear(self: Pin<&mut Self>);
    /// `true` when nothing is in flight.
    fn is_empty(&self) -> bool;
    /// Polls every attempt in flight: the first that ended, with its
    /// number (its slot is then free).
    fn poll_ended(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u32, F::Output)>
    where
        F: Future;
}

pin_project_lite::pin_project! {
    /// One attempt at a time.
    #[derive(Debug)]
    pub struct One<F> {
        #[pin]
        slot: Option<F>,
        number: u32,
    }
}

impl<F> Default for One<F> {
    fn default() -> Self {
        One {
            slot: None,
            number: 0,
        }
    }
}

impl<F> Slots<F> for One<F> {
    fn with_one(number: u32, future: F) -> Self {
        One {
            slot: Some(future),
            number,
        }
    }

    #[inline]
    fn start(self: Pin<&mut Self>, number: u32, future: F) -> Result<(), F> {
        let mut this = self.project();
        if this.slot.is_some() {
            return Err(future);
        }
        this.slot.set(Some(future));
        *this.number = number;
        Ok(())
    }

    fn cancel(self: Pin<&mut Self>, number: u32) {
        let mut this = self.project();
        if *this.number == number {
            this.slot.set(None);
        }
    }

    fn clear(self: Pin<&mut Self>) {
        self.project().slot.set(None);
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.slot.is_none()
    }

    #[inline]
    fn poll_ended(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u32, F::Output)>
    where
        F: Future,
    {
        let mut this = self.project();
        let Some(future) = this.slot.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let output = core::task::ready!(future.poll(cx));
        this.slot.set(None);
        Poll::Ready((*this.number, output))
    }
}

pin_project_lite::pin_project! {
    /// Up to four attempts at once (a hedge's).
    #[derive(Debug)]
    pub struct Four<F> {
        #[pin]
        a: One<F>,
        #[pin]
        b: One<F>,
        #[pin]
        c: One<F>,
        #[pin]
        d: One<F>,
    }
}

impl<F> Default for Four<F> {
    fn default() -> Self {
        Four {
            a: One::default(),
            b: One::default(),
            c: One::default(),
            d: One::default(),
        }
    }
}

impl<F> Slots<F> for Four<F> {
    fn with_one(number: u32, future: F) -> Self {
        Four {
            a: One::with_one(number, future),
            ..Four::default()
        }
    }

    fn start(self: Pin<&mut Self>, number: u32, future: F) -> Result<(), F> {
        let this = self.project();
        let future = match this.a.start(number, future) {
            Ok(()) => return Ok(()),
            Err(future) => future,
        };
        let future = match this.b.start(number, future) {
            Ok(()) => return Ok(()),
            Err(future) => future,
        };
        let future = match this.c.start(number, future) {
            Ok(()) => return Ok(()),
            Err(future) => future,
        };
        this.d.start(number, future)
    }

    fn cancel(self: Pin<&mut Self>, number: u32) {
        let this = self.project();
        this.a.cancel(number);
        this.b.cancel(number);
        this.c.cancel(number);
        this.d.cancel(number);
    }

    fn clear(self: Pin<&mut Self>) {
        let this = self.project();
        this.a.clear();
        this.b.clear();
        this.c.clear();
        this.d.clear();
    }

    fn is_empty(&self) -> bool {
        self.a.is_empty() && self.b.is_empty() && self.c.is_empty() && self.d.is_empty()
    }

    fn poll_ended(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(u32, F::Output)>
    where
        F: Future,
    {
        let this = self.project();
        if let Poll::Ready(ended) = this.a.poll_ended(cx) {
            return Poll::Ready(ended);
        }
        if let Poll::Ready(ended) = this.b.poll_ended(cx) {
            return Poll::Ready(ended);
        }
        if let Poll::Ready(ended) = this.c.poll_ended(cx) {
            return Poll::Ready(ended);
        }
        this.d.poll_ended(cx)
    }
}
