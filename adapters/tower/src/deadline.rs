//! How a tower request carries its deadline from layer to layer.

use failsafe_core::timeout::Deadline;

/// Reads (and, for propagation, writes) the [`Deadline`] a request carries,
/// so the [`TimeoutLayer`](crate::TimeoutLayer) and
/// [`RetryLayer`](crate::RetryLayer) respect the caller's remaining time and
/// hand their own deadline down to the layers inside them.
///
/// It is a strategy object rather than a trait on the request, so it works
/// for request types you do not own (an `http::Request` keeps it in its
/// extensions). Any `Fn(&Req) -> Deadline` reads deadlines without writing
/// them; [`NoDeadline`] does neither.
///
/// A deadline is an instant on a clock: build the policies of layers that
/// hand deadlines to one another on one clock
/// (`RetryPolicy::with_clock(.., clock)`, `TimeoutPolicy::with_clock(.., clock)`),
/// since clocks with different epochs disagree.
///
/// ```
/// use failsafe_core::timeout::Deadline;
/// use failsafe_tower::RequestDeadline;
///
/// #[derive(Clone)]
/// struct Query { sql: &'static str, deadline: Deadline }
///
/// /// The deadline travels in the request itself.
/// #[derive(Clone, Copy)]
/// struct InQuery;
/// impl RequestDeadline<Query> for InQuery {
///     fn deadline(&self, q: &Query) -> Deadline { q.deadline }
///     fn set_deadline(&self, q: &mut Query, deadline: Deadline) { q.deadline = deadline }
/// }
/// # let _ = Query { sql: "", deadline: Deadline::NEVER }.sql;
/// ```
pub trait RequestDeadline<Req> {
    /// The deadline `request` carries ([`Deadline::NEVER`] for none).
    fn deadline(&self, request: &Req) -> Deadline;

    /// Stores `deadline` in `request` for the layers and services inside.
    /// The default does nothing.
    fn set_deadline(&self, request: &mut Req, deadline: Deadline) {
        let _ = (request, deadline);
    }
}

/// Requests carry no deadline: the layer's own configuration decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoDeadline;

impl<Req> RequestDeadline<Req> for NoDeadline {
    #[inline]
    fn deadline(&self, _request: &Req) -> Deadline {
        Deadline::NEVER
    }
}

impl<Req, F: Fn(&Req) -> Deadline> RequestDeadline<Req> for F {
    #[inline]
    fn deadline(&self, request: &Req) -> Deadline {
        self(request)
    }
}
