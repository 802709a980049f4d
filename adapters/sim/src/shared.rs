//! Many instances sharing one rate limit (issue 14): local-only, a shared
//! store key, or leased batches, in virtual time.
//!
//! A scenario with `shared = { instances = N, .. }` splits its traffic
//! between `N` client instances that send to one upstream (its
//! `throttle` quota answers the rest 429). Each pipeline has a
//! `rate_limit` (the global quota) and says how the instances share it
//! (`limit_sharing`):
//!
//! - **local**: each instance its own [`Gcra`] at the whole quota, no
//!   store: together they send up to `N` times the quota;
//! - **shared**: every call is one
//!   [`gcra_step`] on one store key, a round trip of `store_rtt` before the
//!   call proceeds (the store applies it half-way, at its own clock, the
//!   virtual time): every window stays within [`shared_bound`];
//! - **leased**: an instance spends permits of a [`Lease`] and, when it
//!   holds none, asks the store for a batch of `batch` (one round trip per
//!   batch; calls arriving meanwhile wait for it); a refused batch is
//!   not asked for again before the store's `retry_at` (calls are
//!   rejected locally until then): every window stays within
//!   [`leased_bound`].
//!
//! The store is modelled as `failsafe-redis` applies the contract: one
//! atomic `gcra_step` per request on one key, every instance on the
//! store's one clock. Round trips are all `store_rtt` long, so the store
//! applies requests in the order they were sent. Calls never queue in
//! the limiter (a refused call is rejected) and are never retried here.
//!
//! [`shared_bound`]: failsafe_core::rate::shared::shared_bound
//! [`leased_bound`]: failsafe_core::rate::shared::leased_bound

use core::cmp::Reverse;
use core::time::Duration;
use std::collections::{BinaryHeap, VecDeque};

use failsafe_core::Instant;
use failsafe_core::rate::shared::{Lease, gcra_step, leased_bound, shared_bound};
use failsafe_core::rate::{Gcra, Quota};
use failsafe_core::rng::{Rng, Xorshift64};

use crate::metrics::{CallEnd, Recorder};
use crate::run::{RunError, RunReport, bucket_of, summarize};
use crate::spec::{PipelineSpec, ScenarioSpec, SharingSpec};

/// The store's round trip when a scenario does not say (`store_rtt`).
pub const STORE_RTT: Duration = Duration::from_millis(1);
/// The window of the worst-window count when a scenario does not say.
pub const WINDOW: Duration = Duration::from_secs(1);
/// A lease's validity when a pipeline does not say (`ttl`).
pub const LEASE_TTL: Duration = Duration::from_secs(1);

/// What a run of a `shared` scenario adds to its [`RunReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharedStats {
    /// Client instances.
    pub instances: u32,
    /// How they shared the limit.
    pub sharing: SharingSpec,
    /// The window length of `worst_window`, `limit` and `bound`.
    pub window: Duration,
    /// The most calls sent upstream (admitted by the limiter) in any
    /// closed window of length `window`.
    pub worst_window: u64,
    /// What one limiter of the global quota admits at most over such a
    /// window: `shared_bound(quota, window)`.
    pub limit: u64,
    /// The documented bound of this sharing: `shared_bound` for shared,
    /// `leased_bound(quota, window, instances, batch)` for leased; for
    /// local-only (which has none) the same as `limit`.
    pub bound: u64,
    /// Calls the upstream answered 429 (its `throttle`).
    pub throttled: u64,
    /// Requests to the store (round trips).
    pub round_trips: u64,
    /// Calls decided by the limiter (admitted or rejected).
    pub decided: u64,
    /// Sum of the time from each call's arrival to its limiter's decision.
    pub added_latency_sum: Duration,
    /// The longest of those.
    pub added_latency_max: Duration,
}

impl SharedStats {
    /// Store round trips per call offered.
    pub fn round_trips_per_call(&self) -> f64 {
        if self.decided == 0 {
            0.0
        } else {
            self.round_trips as f64 / self.decided as f64
        }
    }

    /// The mean time a call waited for its limiter's decision.
    pub fn added_latency_mean(&self) -> Duration {
        if self.decided == 0 {
            Duration::ZERO
        } else {
            let nanos = self.added_latency_sum.as_nanos() / u128::from(self.decided);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        }
    }

    /// The worst window over the global limit (`worst_window / limit`).
    pub fn over_limit(&self) -> f64 {
        if self.limit == 0 {
            0.0
        } else {
            self.worst_window as f64 / self.limit as f64
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The next call of an instance arrives.
    Arrival { instance: u32 },
    /// The store's answer to one call's request (shared).
    Decision {
        instance: u32,
        arrived: Instant,
        granted: bool,
    },
    /// The store's answer to a lease request: `Ok(())` granted the batch,
    /// `Err(retry_at)` refused it.
    LeaseReply {
        instance: u32,
        granted: Result<(), Instant>,
    },
    /// The upstream answers a call.
    Answer { arrived: Instant, ok: bool },
}

struct Instance {
    rng: Xorshift64,
    local: Gcra,
    lease: Lease,
    waiting: VecDeque<Instant>,
    in_flight: bool,
    refused_until: Instant,
}

struct Sim {
    quota: Quota,
    sharing: SharingSpec,
    rtt: Duration,
    instances: Vec<Instance>,
    /// The store's key: its theoretical arrival time, if any.
    stored: Option<Instant>,
    upstream: Option<Gcra>,
    latency: Duration,
    jitter_nanos: u64,
    dep_rng: Xorshift64,
    heap: BinaryHeap<Reverse<(Instant, u64, Event)>>,
    seq: u64,
    rec: Recorder,
    sent: Vec<Instant>,
    stats: SharedStats,
}

impl Sim {
    fn at(&mut self, t: Instant, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, e)));
    }

    fn decided(&mut self, arrived: Instant, now: Instant) {
        let waited = now.saturating_duration_since(arrived);
        self.stats.decided += 1;
        self.stats.added_latency_sum = self.stats.added_latency_sum.saturating_add(waited);
        self.stats.added_latency_max = self.stats.added_latency_max.max(waited);
    }

    fn reject(&mut self, arrived: Instant, now: Instant) {
        self.decided(arrived, now);
        self.rec.end(arrived, now, CallEnd::Rejected);
    }

    /// The call goes upstream at `now`.
    fn send(&mut self, arrived: Instant, now: Instant) {
        self.decided(arrived, now);
        self.sent.push(now);
        self.rec.reached += 1;
        self.rec.bucket(now).reached += 1;
        let ok = self
            .upstream
            .as_mut()
            .is_none_or(|g| g.acquire(now, 1).is_ok());
        let extra = if self.jitter_nanos == 0 {
            0
        } else {
            self.dep_rng.below(self.jitter_nanos + 1)
        };
        let end = now
            .saturating_add(self.latency)
            .saturating_add(Duration::from_nanos(extra));
        self.at(end, Event::Answer { arrived, ok });
    }

    /// One store request of `n` permits sent at `now`: the store applies it
    /// at `now + rtt / 2`.
    fn store(&mut self, now: Instant, n: u32) -> Result<(), Instant> {
        self.stats.round_trips += 1;
        let at = now.saturating_add(self.rtt / 2);
        match gcra_step(self.stored, at, n, self.quota) {
            Ok(step) => {
                self.stored = Some(step.tat);
                Ok(())
            }
            Err(r) => Err(r.retry_at.unwrap_or(Instant::MAX)),
        }
    }

    fn lease_request(&mut self, i: usize, now: Instant, batch: u32) {
        self.instances[i].in_flight = true;
        let granted = self.store(now, batch);
        self.at(
            now.saturating_add(self.rtt),
            Event::LeaseReply {
                instance: i as u32,
                granted,
            },
        );
    }

    fn arrive(&mut self, i: usize, now: Instant) {
        self.rec.offered += 1;
        self.rec.bucket(now).offered += 1;
        match self.sharing {
            SharingSpec::Local {} => {
                if self.instances[i].local.acquire(now, 1).is_ok() {
                    self.send(now, now);
                } else {
                    self.reject(now, now);
                }
            }
            SharingSpec::Shared {} => {
                let granted = self.store(now, 1).is_ok();
                self.at(
                    now.saturating_add(self.rtt),
                    Event::Decision {
                        instance: i as u32,
                        arrived: now,
                        granted,
                    },
                );
            }
            SharingSpec::Leased { batch, .. } => {
                let inst = &mut self.instances[i];
                if inst.in_flight {
                    inst.waiting.push_back(now);
                } else if inst.lease.take(now) {
                    self.send(now, now);
                } else if now < inst.refused_until {
                    self.reject(now, now);
                } else {
                    inst.waiting.push_back(now);
                    self.lease_request(i, now, batch);
                }
            }
        }
    }

    fn lease_reply(&mut self, i: usize, now: Instant, granted: Result<(), Instant>) {
        let SharingSpec::Leased { batch, ttl } = self.sharing else {
            return;
        };
        self.instances[i].in_flight = false;
        match granted {
            Ok(()) => {
                self.instances[i]
                    .lease
                    .refill(batch, now, ttl.unwrap_or(LEASE_TTL));
                while let Some(&arrived) = self.instances[i].waiting.front() {
                    if !self.instances[i].lease.take(now) {
                        break;
                    }
                    self.instances[i].waiting.pop_front();
                    self.send(arrived, now);
                }
                if !self.instances[i].waiting.is_empty() {
                    self.lease_request(i, now, batch);
                }
            }
            Err(retry_at) => {
                self.instances[i].refused_until = retry_at;
                while let Some(arrived) = self.instances[i].waiting.pop_front() {
                    self.reject(arrived, now);
                }
            }
        }
    }
}

/// Exponential gap of a Poisson process of `rate` per second, in whole
/// nanoseconds (at least one).
fn gap(rng: &mut Xorshift64, rate: f64) -> Duration {
    let u = 1.0 - rng.next_f64(); // (0, 1]
    let nanos = -u.ln() / rate * 1e9;
    Duration::from_nanos(if nanos.is_finite() && nanos >= 1.0 {
        nanos as u64
    } else {
        1
    })
}

/// The most instants of `sorted` in any closed window `[t, t + window]`.
pub fn worst_window(sorted: &[Instant], window: Duration) -> u64 {
    let mut best = 0;
    let mut end = 0;
    for (start, &t) in sorted.iter().enumerate() {
        let last = t.saturating_add(window);
        while end < sorted.len() && sorted[end] <= last {
            end += 1;
        }
        best = best.max(end - start);
    }
    best as u64
}

/// Runs a `shared` scenario with one of its pipelines, seeded by `seed`:
/// every pipeline of the scenario sees the same arrivals. The run stops
/// at `duration + drain` (default [`DRAIN`](crate::engine::DRAIN)), as the
/// engine's do; calls still open then are hung.
///
/// # Errors
///
/// The scenario has no `shared`, or the pipeline no `rate_limit` or
/// `limit_sharing`, or more than [`MAX_INSTANCES`] instances (the file's
/// check says so first).
///
/// [`MAX_INSTANCES`]: crate::spec::MAX_INSTANCES
pub fn run_shared(
    scenario: &ScenarioSpec,
    pipeline: &PipelineSpec,
    seed: u64,
    progress: &mut dyn FnMut(Instant),
) -> Result<RunReport, RunError> {
    let missing = |what: &str| {
        RunError::Shared(format!(
            "scenario \"{}\" with pipeline \"{}\": {what}",
            scenario.name, pipeline.name
        ))
    };
    let spec = scenario.shared.ok_or_else(|| missing("no `shared`"))?;
    let quota = pipeline
        .rate_limit
        .ok_or_else(|| missing("no `rate_limit`"))?;
    let sharing = pipeline
        .limit_sharing
        .ok_or_else(|| missing("no `limit_sharing`"))?;
    if spec.instances > crate::spec::MAX_INSTANCES {
        return Err(missing(&format!(
            "`shared.instances` must be at most {}, not {}",
            crate::spec::MAX_INSTANCES,
            spec.instances
        )));
    }
    let n = spec.instances.max(1);
    let window = spec.window.unwrap_or(WINDOW);
    let duration = scenario.duration;
    let bucket = bucket_of(scenario);
    let drain = scenario.drain.unwrap_or(crate::engine::DRAIN);
    let dep = &scenario.dependency;
    let instances = (0..n)
        .map(|i| Instance {
            rng: Xorshift64::new(seed ^ u64::from(i + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)),
            local: Gcra::new(quota),
            lease: Lease::EMPTY,
            waiting: VecDeque::new(),
            in_flight: false,
            refused_until: Instant::ZERO,
        })
        .collect();
    let limit = shared_bound(quota, window);
    let bound = match sharing {
        SharingSpec::Leased { batch, .. } => leased_bound(quota, window, n, batch),
        _ => limit,
    };
    let mut sim = Sim {
        quota,
        sharing,
        rtt: spec.store_rtt.unwrap_or(STORE_RTT),
        instances,
        stored: None,
        upstream: dep.throttle.map(Gcra::new),
        latency: dep.latency,
        jitter_nanos: u64::try_from(dep.latency_jitter.as_nanos()).unwrap_or(u64::MAX),
        dep_rng: Xorshift64::new(seed ^ 0x5DEE_CE66_D1CE_4E5B),
        heap: BinaryHeap::new(),
        seq: 0,
        rec: Recorder::new(duration.saturating_add(drain), bucket),
        sent: Vec::new(),
        stats: SharedStats {
            instances: n,
            sharing,
            window,
            worst_window: 0,
            limit,
            bound,
            throttled: 0,
            round_trips: 0,
            decided: 0,
            added_latency_sum: Duration::ZERO,
            added_latency_max: Duration::ZERO,
        },
    };
    let per_instance = scenario.rate_per_sec / f64::from(n);
    let stop = Instant::ZERO.saturating_add(duration);
    for i in 0..n {
        let first =
            Instant::ZERO.saturating_add(gap(&mut sim.instances[i as usize].rng, per_instance));
        if first < stop {
            sim.at(first, Event::Arrival { instance: i });
        }
    }
    // As the engine does: calls still waiting for the store, a lease or
    // the upstream at `duration + drain` are hung.
    let until = stop.saturating_add(drain);
    let mut shown = Instant::ZERO;
    while let Some(Reverse((now, _, event))) = sim.heap.pop() {
        if now > until {
            break;
        }
        if now.saturating_duration_since(shown) >= Duration::from_secs(1) {
            shown = now;
            progress(now);
        }
        match event {
            Event::Arrival { instance } => {
                let i = instance as usize;
                sim.arrive(i, now);
                let next = now.saturating_add(gap(&mut sim.instances[i].rng, per_instance));
                if next < stop {
                    sim.at(next, Event::Arrival { instance });
                }
            }
            Event::Decision {
                arrived, granted, ..
            } => {
                if granted {
                    sim.send(arrived, now);
                } else {
                    sim.reject(arrived, now);
                }
            }
            Event::LeaseReply { instance, granted } => {
                sim.lease_reply(instance as usize, now, granted);
            }
            Event::Answer { arrived, ok } => {
                if ok {
                    sim.rec.end(arrived, now, CallEnd::Succeeded);
                } else {
                    sim.stats.throttled += 1;
                    sim.rec.end(arrived, now, CallEnd::Failed);
                }
            }
        }
    }
    sim.stats.worst_window = worst_window(&sim.sent, window);
    let r = &sim.rec;
    let hung = r.offered - (r.succeeded + r.failed + r.rejected + r.timed_out);
    let mut report = summarize(scenario, pipeline, sim.rec, hung, duration, bucket);
    report.shared = Some(sim.stats);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_window_counts_closed_windows() {
        let t = |ms| Instant::from_millis(ms);
        let sorted = [t(0), t(500), t(1000), t(1001), t(2500)];
        assert_eq!(worst_window(&sorted, Duration::from_secs(1)), 3);
        assert_eq!(worst_window(&[], Duration::from_secs(1)), 0);
    }
}
