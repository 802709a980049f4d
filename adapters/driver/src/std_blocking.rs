//! Blocking callers: [`admit_blocking`] parks the thread while the machine
//! says pending, and [`Policy`]'s `*_blocking` verbs.

extern crate std;

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::thread::Thread;

use failsafe_core::Rejected;
use failsafe_core::admission::{Call, Entry};
use failsafe_core::sync::SharedAdmission;

use crate::admit::{Ask, Guard};
use failsafe_core::Instant;

use crate::{Classify, Clock, DefaultClassifier, Error, Policy, StdClock};

/// A clock a blocked thread can wait on for a bulkhead slot: parked until
/// woken (a slot was granted to it) or until a deadline on this clock.
///
/// The default parks with `std::thread::park_timeout` for the time left
/// until `deadline` by [`now`](Clock::now), and with `std::thread::park`
/// without one: right for [`StdClock`] and any clock that follows real
/// time. A test clock that only moves when the test says so overrides it
/// with `std::thread::park()` and lets the test end waits with the
/// machine's `on_deadline` after moving the clock: no test then depends on
/// real time passing.
///
/// Returning early (spuriously) is harmless: the waiter polls again.
///
/// ```
/// use failsafe_core::Instant;
/// use failsafe_driver::{Clock, Park};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// /// A test clock: the test moves it and ends waits itself.
/// struct Manual(AtomicU64);
/// impl Clock for Manual { fn now(&self) -> Instant { Instant::from_nanos(self.0.load(Ordering::SeqCst)) } }
/// impl Park for Manual {
///     fn park_until(&self, _deadline: Option<Instant>) { std::thread::park() }
/// }
/// # let _ = Manual(AtomicU64::new(0)).now();
/// ```
pub trait Park: Clock {
    /// Parks the calling thread until it is unparked, or until `deadline`
    /// (never, for `None`) has passed on this clock. May return early.
    fn park_until(&self, deadline: Option<Instant>) {
        match deadline {
            None => std::thread::park(),
            Some(at) => {
                let left = at.saturating_duration_since(self.now());
                if !left.is_zero() {
                    std::thread::park_timeout(left);
                }
            }
        }
    }
}

impl<C: Park + ?Sized> Park for &C {
    #[inline]
    fn park_until(&self, deadline: Option<Instant>) {
        (**self).park_until(deadline)
    }
}

/// Parks for the real time left until the deadline.
impl Park for StdClock {}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the calling thread: what the std runtimes'
/// [`BlockingRuntime::thread_waker`](crate::BlockingRuntime::thread_waker)
/// returns (one allocation, made once per wait).
///
/// ```
/// let waker = failsafe_driver::thread_waker();
/// waker.wake(); // the next park of this thread returns at once
/// std::thread::park();
/// ```
pub fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unpark(std::thread::current())))
}

/// Waits for admission on the calling thread: at once if the machine
/// admits or rejects; otherwise parks the thread ([`Park::park_until`])
/// until the machine's `recheck_at` or until the machine wakes it (a
/// bulkhead granting it a slot unparks it), and asks again.
///
/// The uncontended path allocates nothing; a thread that has to wait makes
/// one waker for the whole wait.
///
/// # Errors
///
/// The machine's [`Rejected`], with its `retry_at`.
#[inline(always)]
pub fn admit_blocking<H, C, K>(
    handle: H,
    clock: C,
    ask: Ask,
    key: &K,
) -> Result<Guard<H, C>, Rejected>
where
    H: SharedAdmission<Key = K>,
    C: Park,
    K: ?Sized,
{
    // The first answer inline (the uncontended call), the wait out of line.
    match crate::enter(&handle, &clock, ask, key, None) {
        Entry::Admitted(permit) => Ok(Guard::new(handle, clock, permit)),
        Entry::Rejected(rejected) => Err(rejected),
        Entry::Pending { wait, recheck_at } => {
            wait_blocking(handle, clock, ask, key, wait, recheck_at)
        }
    }
}

/// The rest of [`admit_blocking`] once the machine said pending: registers
/// a waker, then parks until `recheck_at` or a wake-up and asks again.
#[inline(never)]
pub(crate) fn wait_blocking<H, C, K>(
    handle: H,
    clock: C,
    ask: Ask,
    key: &K,
    wait: H::Wait,
    recheck_at: Option<Instant>,
) -> Result<Guard<H, C>, Rejected>
where
    H: SharedAdmission<Key = K>,
    C: Park,
    K: ?Sized,
{
    let mut entry: Entry<H::Permit, H::Wait> = Entry::Pending { wait, recheck_at };
    let mut waker: Option<Waker> = None;
    loop {
        match entry {
            Entry::Admitted(permit) => return Ok(Guard::new(handle, clock, permit)),
            Entry::Rejected(rejected) => return Err(rejected),
            Entry::Pending { wait, recheck_at } => {
                if waker.is_some() {
                    clock.park_until(recheck_at);
                }
                // The first time round, only registers the waker.
                let waker = waker.get_or_insert_with(thread_waker);
                let call = ask.apply(Call::at(clock.now()), key);
                entry = handle.resume(&call, wait, Some(waker));
            }
        }
    }
}

/// Admits a call asking `ask` of `handle`'s machine at `now` (a time the
/// caller already read), parking the thread while it waits
/// ([`admit_blocking`] with the caller's reading).
pub(crate) fn admit_at<H, C>(
    handle: H,
    clock: C,
    now: Instant,
    ask: Ask,
) -> Result<Guard<H, C>, Rejected>
where
    H: SharedAdmission<Key = ()>,
    C: Park,
{
    match handle.enter(&ask.apply(Call::at(now), &()), None) {
        Entry::Admitted(permit) => Ok(Guard::new(handle, clock, permit)),
        Entry::Rejected(rejected) => Err(rejected),
        Entry::Pending { wait, recheck_at } => {
            wait_blocking(handle, clock, ask, &(), wait, recheck_at)
        }
    }
}

impl<S: SharedAdmission, R: Park> Policy<S, R> {
    /// Waits for admission on the calling thread (see [`admit_blocking`]).
    ///
    /// # Errors
    ///
    /// The machine's [`Rejected`], with its `retry_at`.
    pub fn acquire_blocking(&self) -> Result<Guard<&S, &R>, Rejected>
    where
        S: SharedAdmission<Key = ()>,
    {
        admit_blocking(self.shared(), self.runtime(), self.ask(), &())
    }

    /// [`acquire_blocking`](Self::acquire_blocking) for a keyed machine.
    ///
    /// # Errors
    ///
    /// The machine's [`Rejected`], with its `retry_at`.
    pub fn acquire_blocking_keyed(&self, key: &S::Key) -> Result<Guard<&S, &R>, Rejected> {
        admit_blocking(self.shared(), self.runtime(), self.ask(), key)
    }

    /// Runs `f` on this thread once admitted; an `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    #[inline]
    pub fn call_blocking<F, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        S: SharedAdmission<Key = ()>,
        F: FnOnce() -> Result<T, E>,
    {
        self.call_blocking_with(&DefaultClassifier, f)
    }

    /// [`call_blocking`](Self::call_blocking) with a classifier.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    #[inline]
    pub fn call_blocking_with<K, F, T, E>(&self, classify: &K, f: F) -> Result<T, Error<E>>
    where
        S: SharedAdmission<Key = ()>,
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        self.call_blocking_keyed_with(&(), classify, f)
    }

    /// [`call_blocking`](Self::call_blocking) for a keyed machine.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] (and `f` never runs), or [`Error::Inner`].
    pub fn call_blocking_keyed<F, T, E>(&self, key: &S::Key, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        self.call_blocking_keyed_with(key, &DefaultClassifier, f)
    }

    #[inline]
    fn call_blocking_keyed_with<K, F, T, E>(
        &self,
        key: &S::Key,
        classify: &K,
        f: F,
    ) -> Result<T, Error<E>>
    where
        K: Classify<T, E> + ?Sized,
        F: FnOnce() -> Result<T, E>,
    {
        // `admit_blocking` spelled out: the uncontended admission runs `f`
        // on its own branch, so its permit never meets the waiting path's
        // in memory.
        let (shared, runtime) = (self.shared(), self.runtime());
        match crate::enter(&shared, &runtime, self.ask(), key, None) {
            Entry::Admitted(permit) => {
                run_guarded(Guard::new(shared, runtime, permit), classify, f)
            }
            Entry::Rejected(rejected) => Err(Error::Rejected(rejected)),
            Entry::Pending { wait, recheck_at } => {
                let guard = wait_blocking(shared, runtime, self.ask(), key, wait, recheck_at)?;
                run_guarded(guard, classify, f)
            }
        }
    }
}

/// Runs `f` under `guard` and hands the permit back with its outcome.
#[inline(always)]
fn run_guarded<H, C, K, F, T, E>(guard: Guard<H, C>, classify: &K, f: F) -> Result<T, Error<E>>
where
    H: SharedAdmission,
    C: Clock,
    K: Classify<T, E> + ?Sized,
    F: FnOnce() -> Result<T, E>,
{
    let result = f();
    guard.finish(classify.classify(&result));
    result.map_err(Error::Inner)
}
