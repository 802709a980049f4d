//! Feature toggle verbs: run the enabled or the disabled operation as a
//! flag of a [`FlagTable`] decides, async or blocking.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use failsafe_core::toggle::{
    Decision, Flag, FlagTable, KillSwitch, Path, ToggleKey, ToggleObserver,
};
use pin_project_lite::pin_project;

use crate::Clock;

/// One flag of a lock-free [`FlagTable`] with a clock and a kill switch:
/// `call(key, enabled, disabled)` runs one of the two operations, as the
/// flag decides for `key` (see the [core's rules](failsafe_core::toggle)).
///
/// The handle is a reference and a few words: `Copy` when its clock and
/// kill switch are, cheap to build per call. The clock is read only for a
/// flag with windows (one reading per decision); events go to the table's
/// observer.
///
/// ```
/// use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
/// use failsafe_core::{Instant, checked};
/// use failsafe_driver::{Clock, Toggle};
///
/// struct Zero;
/// impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
///
/// static FLAGS: FlagTable<1, 4> =
///     FlagTable::new(checked(ToggleConfig::new(7, [FlagSpec::new("fast-path").rollout(0)])));
///
/// let toggle = Toggle::named(Zero, &FLAGS, "fast-path").unwrap();
/// FLAGS.allow(Instant::ZERO, toggle.flag(), "vip").unwrap();
/// let run = |user: &str| {
///     toggle.call_blocking(user, || "new", || "old")
/// };
/// assert_eq!((run("vip"), run("anyone")), ("new", "old"));
/// let answer = futures_lite::future::block_on(toggle.call("vip", || async { 1 }, || async { 0 }));
/// assert_eq!(answer, 1);
/// ```
#[derive(Clone, Copy)]
pub struct Toggle<'t, C, const N: usize, const K: usize = 0, O = (), Ks = ()> {
    clock: C,
    table: &'t FlagTable<N, K, O>,
    flag: Flag,
    kill: Ks,
}

impl<C, const N: usize, const K: usize, O, Ks> fmt::Debug for Toggle<'_, C, N, K, O, Ks> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toggle")
            .field("flag", &self.flag)
            .finish_non_exhaustive()
    }
}

impl<'t, C, const N: usize, const K: usize, O> Toggle<'t, C, N, K, O, ()> {
    /// `flag` of `table`, on `clock`, with no kill switch.
    ///
    /// ```
    /// # use failsafe_core::toggle::{Flag, FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// # use failsafe_driver::{Clock, Toggle};
    /// # struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let toggle = Toggle::new(Zero, &table, Flag::at(0));
    /// assert!(toggle.decide(&()).is_enabled());
    /// ```
    pub const fn new(clock: C, table: &'t FlagTable<N, K, O>, flag: Flag) -> Self {
        Toggle {
            clock,
            table,
            flag,
            kill: (),
        }
    }

    /// The flag named `name` of `table` (`None` if there is none).
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// # use failsafe_driver::{Clock, Toggle};
    /// # struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// assert!(Toggle::named(Zero, &table, "b").is_none());
    /// ```
    pub fn named(clock: C, table: &'t FlagTable<N, K, O>, name: &str) -> Option<Self> {
        Some(Self::new(clock, table, table.flag(name)?))
    }
}

impl<'t, C, const N: usize, const K: usize, O, Ks> Toggle<'t, C, N, K, O, Ks> {
    /// The same toggle, disabled while `kill` is open: e.g.
    /// `|| breaker.state() == State::Open` to turn a feature off while the
    /// dependency it needs is failing.
    ///
    /// ```
    /// # use failsafe_core::toggle::{FlagSpec, FlagTable, Reason, ToggleConfig};
    /// # use failsafe_core::Instant;
    /// # use failsafe_driver::{Clock, Toggle};
    /// # struct Zero;
    /// # impl Clock for Zero { fn now(&self) -> Instant { Instant::ZERO } }
    /// let table: FlagTable<1> = FlagTable::new(ToggleConfig::new(0, [FlagSpec::new("a")]).unwrap());
    /// let toggle = Toggle::named(Zero, &table, "a").unwrap().kill_switch(|| true);
    /// assert_eq!(toggle.decide(&()).reason, Reason::Killed);
    /// ```
    pub fn kill_switch<S: KillSwitch>(self, kill: S) -> Toggle<'t, C, N, K, O, S> {
        Toggle {
            clock: self.clock,
            table: self.table,
            flag: self.flag,
            kill,
        }
    }

    /// The flag.
    pub const fn flag(&self) -> Flag {
        self.flag
    }

    /// The table.
    pub const fn table(&self) -> &'t FlagTable<N, K, O> {
        self.table
    }
}

impl<C, const N: usize, const K: usize, O, Ks> Toggle<'_, C, N, K, O, Ks>
where
    C: Clock,
    O: ToggleObserver,
    Ks: KillSwitch,
{
    /// Which path a call with `key` takes now, and why.
    pub fn decide<Q: ToggleKey + ?Sized>(&self, key: &Q) -> Decision {
        self.table
            .decide_with_kill(|| self.clock.now(), self.flag, key, &self.kill)
    }

    /// Runs `enabled()` if the flag is enabled for `key`, `disabled()`
    /// otherwise. The decision is made here, once; the future returned
    /// ([`ToggleCall`]) is the chosen operation's and holds neither the key
    /// nor the handle.
    pub fn call<Q, E, FE, D, FD>(&self, key: &Q, enabled: E, disabled: D) -> ToggleCall<FE, FD>
    where
        Q: ToggleKey + ?Sized,
        E: FnOnce() -> FE,
        FE: Future,
        D: FnOnce() -> FD,
        FD: Future<Output = FE::Output>,
    {
        let decision = self.decide(key);
        let fut = match decision.path {
            Path::Enabled => Either::Enabled { fut: enabled() },
            Path::Disabled => Either::Disabled { fut: disabled() },
        };
        ToggleCall { decision, fut }
    }

    /// The blocking twin of [`call`](Self::call): runs one of the closures
    /// on this thread and returns its result.
    pub fn call_blocking<Q, T>(
        &self,
        key: &Q,
        enabled: impl FnOnce() -> T,
        disabled: impl FnOnce() -> T,
    ) -> T
    where
        Q: ToggleKey + ?Sized,
    {
        match self.decide(key).path {
            Path::Enabled => enabled(),
            Path::Disabled => disabled(),
        }
    }
}

pin_project! {
    /// The operation a [`Toggle::call`] chose, as a future.
    #[derive(Debug)]
    pub struct ToggleCall<A, B> {
        decision: Decision,
        #[pin]
        fut: Either<A, B>,
    }
}

pin_project! {
    #[project = EitherProj]
    #[derive(Debug)]
    enum Either<A, B> {
        Enabled { #[pin] fut: A },
        Disabled { #[pin] fut: B },
    }
}

impl<A, B> ToggleCall<A, B> {
    /// The decision that chose the operation.
    pub fn decision(&self) -> Decision {
        self.decision
    }
}

impl<A: Future, B: Future<Output = A::Output>> Future for ToggleCall<A, B> {
    type Output = A::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        match self.project().fut.project() {
            EitherProj::Enabled { fut } => fut.poll(cx),
            EitherProj::Disabled { fut } => fut.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::cell::Cell;
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};

    use failsafe_core::toggle::{FlagSpec, FlagTable, Path, Reason, ToggleConfig, Window};
    use failsafe_core::{Instant, checked};

    use super::Toggle;
    use crate::Clock;

    struct Manual(Cell<u64>);
    impl Clock for Manual {
        fn now(&self) -> Instant {
            Instant::from_millis(self.0.get())
        }
    }

    const W: &[Window] = &[checked(Window::new(
        Instant::from_millis(10),
        Instant::from_millis(20),
    ))];
    static FLAGS: FlagTable<2, 2> = FlagTable::new(checked(ToggleConfig::new(
        1,
        [FlagSpec::new("sched").windows(W), FlagSpec::new("plain")],
    )));

    fn ready<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("pending"),
        }
    }

    #[test]
    fn a_timeline_through_a_window_async_and_blocking() {
        let clock = Manual(Cell::new(0));
        let toggle = Toggle::named(&clock, &FLAGS, "sched").unwrap();
        let run = || ready(toggle.call(&(), || async { "on" }, || async { "off" }));
        assert_eq!(run(), "off");
        clock.0.set(10);
        assert_eq!(run(), "on");
        assert_eq!(toggle.call_blocking(&(), || 1, || 0), 1);
        clock.0.set(20);
        assert_eq!(run(), "off");
        let fut = toggle.call(&(), || async { 1 }, || async { 0 });
        assert_eq!(fut.decision().path, Path::Disabled);
        assert_eq!(ready(fut), 0);
    }

    #[test]
    fn the_kill_switch_follows_a_guard() {
        let open = Cell::new(false);
        let clock = Manual(Cell::new(0));
        let toggle = Toggle::named(&clock, &FLAGS, "plain")
            .unwrap()
            .kill_switch(|| open.get());
        assert_eq!(toggle.call_blocking("k", || 1, || 0), 1);
        open.set(true);
        assert_eq!(toggle.decide("k").reason, Reason::Killed);
        assert_eq!(ready(toggle.call("k", || async { 1 }, || async { 0 })), 0);
    }

    #[test]
    fn a_flag_without_windows_never_reads_the_clock() {
        struct Forbidden;
        impl Clock for Forbidden {
            fn now(&self) -> Instant {
                panic!("read the clock")
            }
        }
        let toggle = Toggle::named(Forbidden, &FLAGS, "plain").unwrap();
        assert_eq!(toggle.call_blocking(&7u64, || 1, || 0), 1);
    }
}
