//! The modelled dependency: a service time, faults from the chaos machine,
//! and what chaos cannot express: a server of limited capacity, a
//! throttling upstream (the core's GCRA answering 429 with `Retry-After`),
//! and optimistic concurrency between clients.

use core::time::Duration;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use failsafe_core::Instant;
use failsafe_core::rate::Gcra;
use failsafe_core::rng::Rng;
use failsafe_core::time::duration_nanos;

use crate::chaos::{Chaos, ChaosConfig, Fault};
use crate::spec::DependencySpec;

/// How the dependency answered one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Success.
    Ok,
    /// An error (a 500, or an injected error).
    Error,
    /// The injected outcome: a 503 returned as a value.
    Outcome,
    /// Queue full: 503 at once.
    Overloaded,
    /// 429 with the `Retry-After` it carries.
    Throttled(Duration),
    /// Another client committed while this attempt ran.
    Conflict,
}

/// An attempt in flight at the dependency: how it will be answered when
/// it ends.
#[derive(Clone, Copy, Debug)]
pub enum Pending {
    /// Known at the start.
    Fixed(Reply),
    /// Decided when it ends: it conflicts if a commit landed after
    /// `started`.
    Commit {
        /// When it read.
        started: Instant,
    },
}

/// How long an immediate refusal (429, queue full) takes.
const REFUSAL: Duration = Duration::from_millis(1);

/// A server of limited capacity: `workers` in parallel, a FIFO queue.
///
/// Workers that have never served, or are free again, are a count
/// (`idle`): the heap holds only workers busy at the last admission, so
/// memory follows the calls being served, not the workers configured
/// (any `u32` of them).
#[derive(Debug)]
struct Server {
    /// Workers free from any instant on.
    idle: u32,
    /// When each other worker is next free (min-heap).
    free_at: BinaryHeap<Reverse<Instant>>,
    /// Start instants of the calls queued (non-decreasing).
    queued: VecDeque<Instant>,
    queue_cap: usize,
}

impl Server {
    fn new(workers: u32, queue: u32) -> Server {
        Server {
            idle: workers.max(1),
            free_at: BinaryHeap::new(),
            queued: VecDeque::new(),
            queue_cap: queue as usize,
        }
    }

    /// When a call of `service` arriving at `now` ends, or `None` if the
    /// queue is full. The call goes to the worker free first (an idle
    /// one, or one free by `now`, starts it at once: which one does not
    /// matter, since either is free for every later call too).
    fn admit(&mut self, now: Instant, service: Duration) -> Option<Instant> {
        while self.queued.front().is_some_and(|&s| s <= now) {
            self.queued.pop_front();
        }
        let start = match self.free_at.peek().copied() {
            Some(Reverse(free)) if free <= now => {
                self.free_at.pop();
                now
            }
            _ if self.idle > 0 => {
                self.idle -= 1;
                now
            }
            Some(Reverse(free)) => {
                if self.queued.len() >= self.queue_cap {
                    return None;
                }
                self.queued.push_back(free);
                self.free_at.pop();
                free
            }
            // At least one worker, idle or in the heap.
            None => now,
        };
        let end = start.saturating_add(service);
        self.free_at.push(Reverse(end));
        Some(end)
    }

    fn queued(&self) -> usize {
        self.queued.len()
    }
}

/// One scripted answer: after `latency` (`None`: never, a hang), `reply`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// How long the attempt takes; `None` never answers.
    pub latency: Option<Duration>,
    /// The answer.
    pub reply: Reply,
}

impl Scripted {
    /// A success after `latency`.
    pub const fn ok(latency: Duration) -> Scripted {
        Scripted {
            latency: Some(latency),
            reply: Reply::Ok,
        }
    }

    /// An error after `latency`.
    pub const fn error(latency: Duration) -> Scripted {
        Scripted {
            latency: Some(latency),
            reply: Reply::Error,
        }
    }

    /// A 429 after `latency` saying to retry after `retry_after`.
    pub const fn throttled(latency: Duration, retry_after: Duration) -> Scripted {
        Scripted {
            latency: Some(latency),
            reply: Reply::Throttled(retry_after),
        }
    }

    /// No answer, ever.
    pub const fn hang() -> Scripted {
        Scripted {
            latency: None,
            reply: Reply::Error,
        }
    }
}

#[derive(Debug)]
struct Script {
    next: VecDeque<Scripted>,
    otherwise: Scripted,
}

/// The dependency of one run.
#[derive(Debug)]
pub struct Dependency {
    script: Option<Script>,
    latency: Duration,
    /// `latency` in nanoseconds (saturated).
    latency_nanos: u64,
    jitter_nanos: u64,
    chaos: Chaos,
    server: Option<Server>,
    throttle: Option<Gcra>,
    contention: bool,
    last_commit: Option<Instant>,
}

impl Dependency {
    /// The dependency a spec describes (its core configs were validated
    /// when the file was read).
    pub fn new(spec: &DependencySpec) -> Dependency {
        Dependency {
            script: None,
            latency: spec.latency,
            latency_nanos: duration_nanos(spec.latency),
            jitter_nanos: u64::try_from(spec.latency_jitter.as_nanos()).unwrap_or(u64::MAX),
            chaos: Chaos::new(spec.chaos.unwrap_or(ChaosConfig::NONE)),
            server: spec.capacity.map(|c| Server::new(c.workers, c.queue)),
            throttle: spec.throttle.map(Gcra::new),
            contention: spec.contention,
            last_commit: None,
        }
    }

    /// A dependency answering attempts as scripted, in order, then
    /// `otherwise` once the script runs out.
    pub fn scripted(otherwise: Scripted) -> Dependency {
        Dependency {
            script: Some(Script {
                next: VecDeque::new(),
                otherwise,
            }),
            latency: Duration::ZERO,
            latency_nanos: 0,
            jitter_nanos: 0,
            chaos: Chaos::new(ChaosConfig::NONE),
            server: None,
            throttle: None,
            contention: false,
            last_commit: None,
        }
    }

    /// Appends to the script (a scripted dependency; otherwise it becomes
    /// one answering successes at once once these run out).
    pub fn push_script(&mut self, replies: impl IntoIterator<Item = Scripted>) {
        let script = self.script.get_or_insert_with(|| Script {
            next: VecDeque::new(),
            otherwise: Scripted::ok(Duration::ZERO),
        });
        script.next.extend(replies);
    }

    /// What a scripted dependency answers once its script runs out.
    pub fn set_otherwise(&mut self, otherwise: Scripted) {
        if let Some(script) = self.script.as_mut() {
            script.otherwise = otherwise;
        }
    }

    /// An attempt reaches the dependency at `now`: when it ends (`None`:
    /// never, a hang) and how it will be answered.
    #[inline(always)]
    pub fn start(&mut self, now: Instant, rng: &mut impl Rng) -> (Option<Instant>, Pending) {
        if let Some(script) = self.script.as_mut() {
            let s = script.next.pop_front().unwrap_or(script.otherwise);
            return (
                s.latency.map(|l| now.saturating_add(l)),
                Pending::Fixed(s.reply),
            );
        }
        if let Some(gcra) = self.throttle.as_mut()
            && let Err(rejected) = gcra.acquire(now, 1)
        {
            let hint = rejected.retry_after(now).unwrap_or(Duration::ZERO);
            return (
                Some(now.saturating_add(REFUSAL)),
                Pending::Fixed(Reply::Throttled(hint)),
            );
        }
        let injection = self.chaos.decide(now, rng);
        let jitter = if self.jitter_nanos > 0 {
            rng.below(self.jitter_nanos + 1)
        } else {
            0
        };
        let reply = match injection.fault {
            Some(Fault::Hang) => return (None, Pending::Fixed(Reply::Error)),
            Some(Fault::Error) => Reply::Error,
            Some(Fault::Outcome) => Reply::Outcome,
            None => Reply::Ok,
        };
        let end = match self.server.as_mut() {
            Some(server) => {
                let service =
                    self.latency.saturating_add(injection.delay) + Duration::from_nanos(jitter);
                match server.admit(now, service) {
                    Some(end) => end,
                    None => {
                        return (
                            Some(now.saturating_add(REFUSAL)),
                            Pending::Fixed(Reply::Overloaded),
                        );
                    }
                }
            }
            // `now + (latency + delay + jitter)`, saturating, in whole
            // nanoseconds rather than `Duration`s (the same instant).
            None => Instant::from_nanos(
                now.as_nanos()
                    .saturating_add(self.latency_nanos)
                    .saturating_add(duration_nanos(injection.delay))
                    .saturating_add(jitter),
            ),
        };
        let pending = if self.contention && reply == Reply::Ok {
            Pending::Commit { started: now }
        } else {
            Pending::Fixed(reply)
        };
        (Some(end), pending)
    }

    /// The attempt ends at `now`: its answer.
    #[inline]
    pub fn finish(&mut self, now: Instant, pending: Pending) -> Reply {
        match pending {
            Pending::Fixed(reply) => reply,
            Pending::Commit { started } => {
                if self.last_commit.is_some_and(|c| c > started) {
                    Reply::Conflict
                } else {
                    self.last_commit = Some(now);
                    Reply::Ok
                }
            }
        }
    }

    /// Calls waiting in the server's queue (0 without a capacity).
    pub fn queued(&self) -> usize {
        self.server.as_ref().map_or(0, Server::queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::CapacitySpec;
    use failsafe_core::rate::Quota;
    use failsafe_core::rng::Xorshift64;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_server_serves_its_workers_then_queues_then_refuses() {
        let spec = DependencySpec {
            latency: ms(100),
            capacity: Some(CapacitySpec {
                workers: 2,
                queue: 1,
            }),
            ..DependencySpec::default()
        };
        let mut d = Dependency::new(&spec);
        let mut rng = Xorshift64::new(1);
        let t0 = Instant::ZERO;
        let ends: Vec<_> = (0..4).map(|_| d.start(t0, &mut rng)).collect();
        // two workers at once, the third waits for the first free worker
        assert_eq!(ends[0].0, Some(t0 + ms(100)));
        assert_eq!(ends[1].0, Some(t0 + ms(100)));
        assert_eq!(ends[2].0, Some(t0 + ms(200)));
        assert_eq!(d.queued(), 1);
        // the queue is full: 503 at once
        assert_eq!(ends[3].0, Some(t0 + REFUSAL));
        assert!(matches!(ends[3].1, Pending::Fixed(Reply::Overloaded)));
        // queued work is done even if nobody waits for it any more
        let later = d.start(t0 + ms(150), &mut rng);
        assert_eq!(later.0, Some(t0 + ms(250)));
    }

    /// The server as it was: one heap entry per worker, every one of them
    /// from the start.
    fn reference_admit(
        free_at: &mut BinaryHeap<Reverse<Instant>>,
        queued: &mut VecDeque<Instant>,
        cap: usize,
        now: Instant,
        service: Duration,
    ) -> Option<Instant> {
        while queued.front().is_some_and(|&s| s <= now) {
            queued.pop_front();
        }
        let Reverse(free) = *free_at.peek()?;
        let start = free.max(now);
        if start > now {
            if queued.len() >= cap {
                return None;
            }
            queued.push_back(start);
        }
        free_at.pop();
        free_at.push(Reverse(start + service));
        Some(start + service)
    }

    /// Idle workers kept as a count serve every call as one heap entry
    /// per worker did (any free worker starts a call at once), with a heap
    /// no larger than the calls served at once.
    #[test]
    fn idle_workers_as_a_count_serve_as_a_heap_of_every_worker() {
        let mut rng = Xorshift64::new(7);
        for (workers, queue) in [(1, 0), (3, 2), (8, 5), (20, 50)] {
            let mut server = Server::new(workers, queue);
            let mut free_at: BinaryHeap<_> = (0..workers).map(|_| Reverse(Instant::ZERO)).collect();
            let mut queued = VecDeque::new();
            let mut now = Instant::ZERO;
            for _ in 0..20_000 {
                now = now + Duration::from_micros(rng.below(3_000));
                let service = Duration::from_micros(1 + rng.below(20_000));
                let expected =
                    reference_admit(&mut free_at, &mut queued, queue as usize, now, service);
                assert_eq!(server.admit(now, service), expected);
                assert_eq!(server.queued(), queued.len());
                assert!(server.free_at.len() + server.idle as usize <= workers as usize);
            }
        }
        // four billion workers: no memory until calls come
        let mut huge = Server::new(u32::MAX, 10);
        assert_eq!(
            huge.admit(Instant::ZERO, ms(10)),
            Some(Instant::ZERO + ms(10))
        );
        assert_eq!(huge.free_at.len(), 1);
    }

    #[test]
    fn a_throttling_upstream_answers_429_with_when_to_come_back() {
        let spec = DependencySpec {
            latency: ms(20),
            throttle: Some(Quota::per_second(10).unwrap()),
            ..DependencySpec::default()
        };
        let mut d = Dependency::new(&spec);
        let mut rng = Xorshift64::new(1);
        let first = d.start(Instant::ZERO, &mut rng);
        assert!(matches!(first.1, Pending::Fixed(Reply::Ok)));
        let second = d.start(Instant::from_millis(30), &mut rng);
        assert!(matches!(
            second.1,
            Pending::Fixed(Reply::Throttled(hint)) if hint == ms(70)
        ));
    }

    #[test]
    fn under_optimistic_concurrency_the_first_commit_wins() {
        let spec = DependencySpec {
            latency: ms(10),
            contention: true,
            ..DependencySpec::default()
        };
        let mut d = Dependency::new(&spec);
        let mut rng = Xorshift64::new(1);
        let (a, b) = (
            d.start(Instant::ZERO, &mut rng),
            d.start(Instant::from_millis(5), &mut rng),
        );
        assert_eq!(d.finish(Instant::from_millis(10), a.1), Reply::Ok);
        assert_eq!(d.finish(Instant::from_millis(15), b.1), Reply::Conflict);
        let c = d.start(Instant::from_millis(10), &mut rng);
        assert_eq!(d.finish(Instant::from_millis(20), c.1), Reply::Ok);
    }
}
