//! A [`RedisRateLimiter`] as an admission machine: in a `Pipeline`, a
//! `Policy` or a tower layer like any other.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use failsafe_core::admission::{Call, Entry};
use failsafe_core::sync::SharedAdmission;
use failsafe_core::{Instant, Outcome, Rejected, TimeSource};

use crate::limiter::{Admitted, RedisRateLimiter};

/// A [`RedisRateLimiter`] behind the driver's admission contract
/// ([`SharedAdmission`]), from [`RedisRateLimiter::into_admission`]:
/// `Pipeline::new(TokioClock).admit(limiter.into_admission())`, or
/// `Policy::new_shared(admission, TokioClock)` for the handle verbs and
/// `failsafe-tower`'s `AdmissionLayer`.
///
/// A call the instance's lease covers is admitted at once; otherwise the
/// store decision runs on a task of the runtime the admission was made in
/// and the call waits for it ([`Entry::Pending`]: woken when it is in).
/// The call's weight is the permits asked for. A rejection's `retry_at` is
/// on the local [`TokioClock`](failsafe_tokio::TokioClock), as
/// [`RedisRateLimiter::acquire`] answers: run the pipeline on it. A call
/// given up while waiting drops the decision (a permit
/// the store granted then is lost: capacity is lost, never gained).
/// Outcomes are not counted.
#[derive(Clone)]
pub struct RedisAdmission {
    limiter: Arc<RedisRateLimiter>,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RedisAdmission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdmission")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

/// A call waiting for the store's decision ([`Entry::Pending`]): `T` the
/// permit the decision grants ([`Admitted`] for [`RedisAdmission`],
/// [`SharedPermit`](crate::SharedPermit) for
/// [`RedisBreakerAdmission`](crate::RedisBreakerAdmission)).
///
/// The decision runs on a task; the slot it answers in is shared by the
/// call and the task. A call given up first ([`SharedAdmission::cancel`])
/// leaves the slot marked so, and the task hands a permit granted then to
/// the machine's release (the breaker counts it as never started).
#[derive(Debug)]
pub struct StoreWait<T = Admitted> {
    slot: Arc<Mutex<Slot<T>>>,
}

#[derive(Debug)]
struct Slot<T> {
    decision: Option<Result<T, Rejected>>,
    waker: Option<Waker>,
    cancelled: bool,
}

fn lock_slot<T>(slot: &Mutex<Slot<T>>) -> std::sync::MutexGuard<'_, Slot<T>> {
    slot.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T: Send + 'static> StoreWait<T> {
    /// Runs `decide` on `runtime`; its answer goes to the slot (and wakes
    /// the waiting call), or to `release` if the call was given up.
    pub(crate) fn spawn<F, R>(
        runtime: &tokio::runtime::Handle,
        waker: Option<&Waker>,
        decide: F,
        release: R,
    ) -> Self
    where
        F: Future<Output = Result<T, Rejected>> + Send + 'static,
        R: FnOnce(T) + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            decision: None,
            waker: waker.cloned(),
            cancelled: false,
        }));
        let shared = slot.clone();
        runtime.spawn(async move {
            let decision = decide.await;
            let mut slot = lock_slot(&shared);
            if slot.cancelled {
                drop(slot);
                if let Ok(permit) = decision {
                    release(permit);
                }
                return;
            }
            slot.decision = Some(decision);
            let waker = slot.waker.take();
            drop(slot);
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        StoreWait { slot }
    }
}

impl<T> StoreWait<T> {
    /// The decision if it is in; otherwise `Pending` again, looking again
    /// after `backstop` (async callers: the task wakes them sooner) or
    /// every millisecond (blocking callers, no waker).
    pub(crate) fn answer(
        self,
        now: Instant,
        backstop: Duration,
        waker: Option<&Waker>,
    ) -> Entry<T, Self> {
        let mut slot = lock_slot(&self.slot);
        match slot.decision.take() {
            Some(Ok(permit)) => Entry::Admitted(permit),
            Some(Err(rejected)) => Entry::Rejected(rejected),
            None => {
                slot.waker = waker.cloned();
                drop(slot);
                let after = match waker {
                    Some(_) => backstop,
                    None => Duration::from_millis(1),
                };
                Entry::Pending {
                    wait: self,
                    recheck_at: Some(now.saturating_add(after)),
                }
            }
        }
    }

    /// Gives the call up: the permit if the decision granted one already
    /// (the caller releases it), else the task releases what it gets.
    pub(crate) fn give_up(self) -> Option<T> {
        let mut slot = lock_slot(&self.slot);
        slot.cancelled = true;
        slot.waker = None;
        match slot.decision.take() {
            Some(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

impl RedisRateLimiter {
    /// This limiter as an admission machine ([`RedisAdmission`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (its store decisions run on that runtime).
    pub fn into_admission(self) -> RedisAdmission {
        RedisAdmission {
            limiter: Arc::new(self),
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl RedisAdmission {
    /// The limiter.
    pub fn limiter(&self) -> &RedisRateLimiter {
        &self.limiter
    }

    /// How long an async caller waits for the task's wake-up before it
    /// looks again by itself: twice the store call's timeout.
    fn backstop(&self) -> Duration {
        self.limiter.store().call_timeout().saturating_mul(2)
    }
}

impl SharedAdmission for RedisAdmission {
    type Key = ();
    type Permit = Admitted;
    type Wait = StoreWait;

    fn enter(&self, call: &Call<'_>, waker: Option<&Waker>) -> Entry<Admitted, StoreWait> {
        let n = call.weight();
        if self.limiter.try_take_leased(n) {
            return Entry::Admitted(Admitted::Leased);
        }
        let limiter = self.limiter.clone();
        let wait = StoreWait::spawn(
            &self.runtime,
            waker,
            async move { limiter.acquire(n).await },
            // a permit granted after the call was given up is lost
            drop,
        );
        wait.answer(call.now(), self.backstop(), waker)
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: StoreWait,
        waker: Option<&Waker>,
    ) -> Entry<Admitted, StoreWait> {
        wait.answer(call.now(), self.backstop(), waker)
    }

    fn cancel(&self, _now: Instant, wait: StoreWait) {
        // a permit granted already is lost (capacity lost, never gained)
        let _ = wait.give_up();
    }

    fn exit(&self, _now: impl TimeSource, _permit: Admitted, _outcome: Outcome) {}

    fn abandon(&self, _now: Instant, _permit: Admitted) {}

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _now: Instant) {}
}
