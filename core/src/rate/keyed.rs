//! One GCRA per key in a fixed-capacity table: bounded memory whatever the
//! number of keys.

use core::hash::{Hash, Hasher};

use super::gcra::{available, decide};
use super::{Quota, rate_limited};
use crate::{Instant, Rejected};

/// How many slots a key may live in: its home slot and the next ones.
const NEIGHBOURHOOD: usize = 8;

/// What happens when a new key's neighbourhood of the table is full and no
/// key in it is idle.
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WhenFull {
    /// Evict the key with the least debt (its next permit is soonest). The
    /// evicted key starts afresh if it returns: the one way a key may exceed
    /// its quota, so size the table for the keys active at once.
    #[default]
    EvictLeastLoaded,
    /// Refuse the new key until a slot goes idle: never exceeds any quota,
    /// but a flood of new keys can lock newcomers out (`retry_at` says when
    /// a slot frees).
    RejectNewKeys,
}

/// One [`Gcra`](super::Gcra) state per key, in a table of `N` slots that
/// never grows.
///
/// Keys live near their hash (a seeded FNV-1a, so an attacker cannot aim
/// collisions without the seed). When a new key finds its neighbourhood
/// full, an **idle** key goes first: one whose permits have all recovered,
/// so forgetting it loses nothing; otherwise [`WhenFull`] decides.
///
/// ```
/// use failsafe_core::rate::{KeyedGcra, Quota};
/// use failsafe_core::Instant;
///
/// let mut per_client = KeyedGcra::<u32, 64>::new(Quota::per_second(1).unwrap(), 0x5eed);
/// assert!(per_client.acquire(&7, Instant::ZERO, 1).is_ok());
/// assert!(per_client.acquire(&7, Instant::ZERO, 1).is_err()); // client 7 is limited ...
/// assert!(per_client.acquire(&8, Instant::ZERO, 1).is_ok()); // ... client 8 is not
/// ```
#[derive(Clone, Debug)]
pub struct KeyedGcra<K, const N: usize> {
    pub(crate) quota: Quota,
    pub(crate) seed: u64,
    pub(crate) when_full: WhenFull,
    slots: [Option<(K, u64)>; N],
    /// The latest `now` seen: idleness is judged against it, so a clock that
    /// steps back cannot make a forgotten key start afresh too early.
    clock: crate::time::Monotonic,
}

impl<K: Eq + Hash + Clone, const N: usize> KeyedGcra<K, N> {
    /// The latest `now` seen (the clock contract's floor).
    pub(crate) const fn latest_seen(&self) -> Instant {
        self.clock.latest()
    }
    /// An empty table with `quota` for every key; `seed` keys the hash
    /// (pass a random value where keys come from untrusted clients).
    pub const fn new(quota: Quota, seed: u64) -> Self {
        const { assert!(N > 0, "a keyed limiter needs at least one slot") };
        KeyedGcra {
            quota,
            seed,
            when_full: WhenFull::EvictLeastLoaded,
            slots: [const { None }; N],
            clock: crate::time::Monotonic::new(),
        }
    }

    /// The same table with another policy for a full neighbourhood.
    pub const fn when_full(mut self, policy: WhenFull) -> Self {
        self.when_full = policy;
        self
    }

    fn home(&self, key: &K) -> usize {
        let mut h = Fnv(self.seed ^ 0xcbf2_9ce4_8422_2325);
        key.hash(&mut h);
        // SplitMix64 finaliser: spread FNV's low-entropy bits.
        let mut z = h.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % N as u64) as usize
    }

    /// Takes `n` permits for `key` at `now`, or says when they could be taken.
    ///
    /// ```
    /// # use failsafe_core::rate::{KeyedGcra, Quota, WhenFull};
    /// # use failsafe_core::Instant;
    /// let mut t = KeyedGcra::<u8, 1>::new(Quota::per_second(1).unwrap(), 1).when_full(WhenFull::RejectNewKeys);
    /// assert!(t.acquire(&1, Instant::ZERO, 1).is_ok());
    /// // the table is full and key 1 is not idle until t=1s: key 2 must wait
    /// assert_eq!(t.acquire(&2, Instant::ZERO, 1).unwrap_err().retry_at, Some(Instant::from_secs(1)));
    /// assert!(t.acquire(&2, Instant::from_secs(1), 1).is_ok()); // key 1 was idle: evicted
    /// ```
    ///
    /// # Errors
    ///
    /// - [`RateInsufficientCapacity`](crate::RejectReason::RateInsufficientCapacity),
    ///   [`Rejected::never`], if `n` exceeds the quota's burst.
    /// - [`RateLimited`](crate::RejectReason::RateLimited), `retry_at` the
    ///   earliest instant `key` can take `n` permits (a new key starts with a
    ///   full burst); `Instant::MAX` (never) if they would end past the end
    ///   of time.
    /// - With [`WhenFull::RejectNewKeys`], a new key whose neighbourhood is
    ///   full and holds no idle key:
    ///   [`RateLimited`](crate::RejectReason::RateLimited), `retry_at` the
    ///   instant the least loaded key there turns idle ([`Rejected::never`]
    ///   if the permits would then lie past the end of time).
    pub fn acquire(&mut self, key: &K, now: Instant, n: u32) -> Result<(), Rejected> {
        let now = self.clock.observe(now);
        let now_nanos = now.as_nanos();
        let home = self.home(key);
        let reach = NEIGHBOURHOOD.min(N);
        let mut empty: Option<usize> = None;
        let mut least: Option<(usize, u64)> = None; // the occupied slot whose next permit is soonest
        for i in 0..reach {
            let slot = (home + i) % N;
            match &mut self.slots[slot] {
                Some((k, tat)) if k == key => {
                    *tat = decide(*tat, now_nanos, n, self.quota)?;
                    return Ok(());
                }
                Some((_, tat)) => {
                    if least.is_none_or(|(_, best)| *tat < best) {
                        least = Some((slot, *tat));
                    }
                }
                None => {
                    empty = empty.or(Some(slot));
                }
            }
        }
        let new_tat = decide(0, now_nanos, n, self.quota)?;
        let slot = match (empty, least) {
            (Some(slot), _) => slot,
            // An idle key has recovered every permit: forgetting it loses nothing.
            (None, Some((slot, tat))) if tat <= now_nanos => slot,
            (None, Some((slot, tat))) => match self.when_full {
                WhenFull::EvictLeastLoaded => slot,
                WhenFull::RejectNewKeys => {
                    // A slot frees at `tat`; a new key is admitted then, unless
                    // even a fresh key could not be (past the end of time).
                    let retry = decide(0, tat, n, self.quota).err();
                    return Err(retry.unwrap_or(rate_limited(Instant::from_nanos(tat))));
                }
            },
            (None, None) => return Err(rate_limited(now)), // unreachable: reach >= 1
        };
        self.slots[slot] = Some((key.clone(), new_tat));
        Ok(())
    }

    /// Permits available to `key` at `now` (a key not in the table has a full burst).
    pub fn available(&self, key: &K, now: Instant) -> u32 {
        let home = self.home(key);
        for i in 0..NEIGHBOURHOOD.min(N) {
            if let Some((k, tat)) = &self.slots[(home + i) % N]
                && k == key
            {
                // The clock contract: a `now` before the latest seen reads as it.
                let now = now.max(self.clock.latest());
                return available(*tat, now.as_nanos(), self.quota);
            }
        }
        self.quota.burst()
    }

    /// Keys in the table (idle ones included).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// `true` if no key was ever seen (or all were forgotten).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every idle key at `now` (optional housekeeping: idle keys are
    /// also reused on demand).
    pub fn forget_idle(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|(_, tat)| *tat <= now.as_nanos()) {
                *slot = None;
            }
        }
    }

    /// Changes every key's quota at run time, keeping their states.
    pub fn set_quota(&mut self, quota: Quota) {
        self.quota = quota;
    }
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
