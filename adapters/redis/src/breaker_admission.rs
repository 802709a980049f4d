//! A [`RedisBreaker`] as an admission machine: in a `Pipeline`, a `Policy`
//! or a tower layer like any other (issue 14).

use std::fmt;
use std::task::Waker;
use std::time::Duration;

use failsafe_core::admission::{Call, Entry};
use failsafe_core::breaker::Window;
use failsafe_core::sync::SharedAdmission;
use failsafe_core::{Instant, Outcome, TimeSource};

use crate::admission::StoreWait;
use crate::breaker::{RedisBreaker, SharedPermit};

/// A [`RedisBreaker`] behind the driver's admission contract
/// ([`SharedAdmission`]), from [`RedisBreaker::into_admission`]:
/// `Pipeline::new(TokioClock).admit(breaker.into_admission())`, or
/// `Policy::new_shared(admission, TokioClock)` for the handle verbs and
/// `failsafe-tower`'s `AdmissionLayer`.
///
/// - **No store call when [`RedisBreaker::acquire`] would make none**:
///   while this instance's copy of the shared record is younger than
///   `poll` and closed, the instance's own breaker decides at once; open,
///   the call is rejected at once (`BreakerOpen`, `retry_at` the open
///   wait's end on the local [`TokioClock`](failsafe_tokio::TokioClock)).
/// - **Otherwise** (a stale copy, a half-open round's probe) `acquire`
///   runs on a task of the runtime the admission was made in and the call
///   waits for it ([`Entry::Pending`]: woken when the decision is in).
/// - **`exit`** counts a local call at once; a trip to publish or a
///   probe's report to settle is sent from a task (the call does not wait
///   for it).
/// - **`abandon`** (a later machine rejected the call) and a probe ended
///   `Cancelled` or `Ignored` report nothing to the store: a probe
///   abandoned so holds its half-open slot at most for the probe lease
///   ([`RedisBreakerBuilder::probe_lease`](crate::RedisBreakerBuilder::probe_lease)),
///   after which it counts as failed, like any silent probe. A local
///   permit abandoned is handed back uncounted.
/// - **`cancel`** (the call given up while its decision is out): a permit
///   granted after that is abandoned the same way when it comes in.
///
/// The sharing delay is [`RedisBreaker::delay`]: another instance's trip
/// is seen by this one's calls within it.
pub struct RedisBreakerAdmission<W> {
    breaker: RedisBreaker<W>,
    runtime: tokio::runtime::Handle,
}

impl<W> Clone for RedisBreakerAdmission<W> {
    fn clone(&self) -> Self {
        RedisBreakerAdmission {
            breaker: self.breaker.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

impl<W> fmt::Debug for RedisBreakerAdmission<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBreakerAdmission")
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}

impl<W: Window + Send + 'static> RedisBreaker<W> {
    /// This breaker as an admission machine ([`RedisBreakerAdmission`]);
    /// it shares its state with this handle's clones (call
    /// [`state`](Self::state), [`force_open`](Self::force_open) or
    /// register it through a clone kept beside).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (its store calls run on that runtime).
    pub fn into_admission(self) -> RedisBreakerAdmission<W> {
        RedisBreakerAdmission {
            breaker: self,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl<W: Window + Send + 'static> RedisBreakerAdmission<W> {
    /// The breaker.
    pub fn breaker(&self) -> &RedisBreaker<W> {
        &self.breaker
    }

    /// How long an async caller waits for the task's wake-up before it
    /// looks again by itself: twice the store call's timeout.
    fn backstop(&self) -> Duration {
        self.breaker.store().call_timeout().saturating_mul(2)
    }

    /// Hands back a permit whose call never started: a local one
    /// uncounted, a probe to its lease.
    fn release(breaker: &RedisBreaker<W>, permit: SharedPermit) {
        // `Cancelled` is never counted and never publishes
        let _ = breaker.record_local(permit, Outcome::Cancelled);
    }
}

impl<W: Window + Send + 'static> SharedAdmission for RedisBreakerAdmission<W> {
    type Key = ();
    type Permit = SharedPermit;
    type Wait = StoreWait<SharedPermit>;

    fn enter(&self, call: &Call<'_>, waker: Option<&Waker>) -> Entry<SharedPermit, Self::Wait> {
        match self.breaker.try_acquire_now() {
            Some(Ok(permit)) => return Entry::Admitted(permit),
            Some(Err(rejected)) => return Entry::Rejected(rejected),
            None => {}
        }
        let (breaker, released) = (self.breaker.clone(), self.breaker.clone());
        let wait = StoreWait::spawn(
            &self.runtime,
            waker,
            async move { breaker.acquire().await },
            move |permit| Self::release(&released, permit),
        );
        wait.answer(call.now(), self.backstop(), waker)
    }

    fn resume(
        &self,
        call: &Call<'_>,
        wait: Self::Wait,
        waker: Option<&Waker>,
    ) -> Entry<SharedPermit, Self::Wait> {
        wait.answer(call.now(), self.backstop(), waker)
    }

    fn cancel(&self, _now: Instant, wait: Self::Wait) {
        if let Some(permit) = wait.give_up() {
            Self::release(&self.breaker, permit);
        }
    }

    fn exit(&self, _now: impl TimeSource, permit: SharedPermit, outcome: Outcome) {
        if let Some(report) = self.breaker.record_local(permit, outcome) {
            let breaker = self.breaker.clone();
            self.runtime
                .spawn(async move { breaker.publish(report).await });
        }
    }

    fn abandon(&self, _now: Instant, permit: SharedPermit) {
        Self::release(&self.breaker, permit);
    }

    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    fn on_deadline(&self, _now: Instant) {}
}
