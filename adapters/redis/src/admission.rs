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

/// A call waiting for the store's decision ([`Entry::Pending`]).
#[derive(Debug)]
pub struct StoreWait {
    slot: Arc<Mutex<Slot>>,
}

#[derive(Debug, Default)]
struct Slot {
    decision: Option<Result<Admitted, Rejected>>,
    waker: Option<Waker>,
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

    /// How soon a waiting caller looks again without a wake-up: at once
    /// for blocking callers (no waker: they poll every millisecond), or
    /// after twice the store call's timeout (a backstop: the task wakes
    /// them when the decision is in).
    fn recheck(&self, now: Instant, waker: Option<&Waker>) -> Option<Instant> {
        let after = match waker {
            Some(_) => self.limiter.store().call_timeout().saturating_mul(2),
            None => Duration::from_millis(1),
        };
        Some(now.saturating_add(after))
    }

    fn answer(
        &self,
        call: &Call<'_>,
        wait: StoreWait,
        waker: Option<&Waker>,
    ) -> Entry<Admitted, StoreWait> {
        let mut slot = wait
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match slot.decision.take() {
            Some(Ok(how)) => Entry::Admitted(how),
            // `acquire` answers on the local clock already
            Some(Err(rejected)) => Entry::Rejected(rejected),
            None => {
                slot.waker = waker.cloned();
                drop(slot);
                let recheck_at = self.recheck(call.now(), waker);
                Entry::Pending { wait, recheck_at }
            }
        }
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
        let slot = Arc::new(Mutex::new(Slot {
            waker: waker.cloned(),
            ..Slot::default()
        }));
        let (limiter, shared) = (self.limiter.clone(), slot.clone());
        self.runtime.spawn(async move {
            let decision = limiter.acquire(n).await;
            let waker = {
                let mut slot = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                slot.decision = Some(decision);
                slot.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        self.answer(call, StoreWait { slot }, waker)
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: StoreWait,
        waker: Option<&Waker>,
    ) -> Entry<Admitted, StoreWait> {
        self.answer(call, wait, waker)
    }

    fn cancel(&self, _now: Instant, _wait: StoreWait) {}

    fn exit(&self, _now: impl TimeSource, _permit: Admitted, _outcome: Outcome) {}

    fn abandon(&self, _now: Instant, _permit: Admitted) {}

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _now: Instant) {}
}
