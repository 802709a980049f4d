//! Eviction policies: which slot makes room when the store is full.
//!
//! A policy only sees slot numbers (`0..N`), the key's hash and, when it
//! must choose a victim, whether a candidate is already dead (past its
//! expiry and any stale window): a dead candidate is always taken first.
//! Every policy keeps its order in intrusive doubly linked lists over fixed
//! arrays: O(1) per operation, no allocation, 8 bytes of links per slot.

/// "No slot".
const NIL: u32 = u32::MAX;

/// What a policy learns about an eviction candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The entry is past its expiry and its stale window: it has no value to
    /// offer and should go first.
    pub dead: bool,
    /// The key's hash (what S3-FIFO's ghost queue remembers).
    pub hash: u64,
}

/// Decides the order in which a fixed set of slots is evicted.
///
/// The store calls [`inserted`](Self::inserted) when a slot takes a new key,
/// [`accessed`](Self::accessed) on a hit or an update,
/// [`removed`](Self::removed) when a slot is emptied for any reason other
/// than [`evict`](Self::evict) (explicit removal, expiry), and `evict` only
/// when every one of the `CAPACITY` slots holds an entry; `evict` returns
/// one of them and forgets it. [`S3Fifo`], [`Sieve`] and [`Lru`] implement
/// it; a policy must have the store's capacity (checked at compile time).
pub trait EvictionPolicy {
    /// How many slots the policy orders.
    const CAPACITY: usize;
    /// The policy with no slot in use (so a cache can be built in a `const`).
    const EMPTY: Self;
    /// `slot` now holds a new key whose hash is `hash`.
    fn inserted(&mut self, slot: u32, hash: u64);
    /// `slot`'s entry was hit or updated.
    fn accessed(&mut self, slot: u32);
    /// `slot` was emptied by the store.
    fn removed(&mut self, slot: u32);
    /// Chooses and forgets a victim among the (all occupied) slots; `look`
    /// describes a candidate.
    fn evict(&mut self, look: impl FnMut(u32) -> Candidate) -> u32;
    /// Forgets every slot.
    fn clear(&mut self);
}

/// Doubly linked lists over `N` slots: `next` points toward the tail (the
/// oldest entry), `prev` toward the head (the newest).
#[derive(Clone, Debug)]
struct Links<const N: usize> {
    prev: [u32; N],
    next: [u32; N],
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
    len: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

impl<const N: usize> Links<N> {
    const EMPTY: Self = Links {
        prev: [NIL; N],
        next: [NIL; N],
    };

    fn push_head(&mut self, list: &mut List, i: u32) {
        let s = i as usize;
        self.prev[s] = NIL;
        self.next[s] = list.head;
        if list.head == NIL {
            list.tail = i;
        } else {
            self.prev[list.head as usize] = i;
        }
        list.head = i;
        list.len += 1;
    }

    fn unlink(&mut self, list: &mut List, i: u32) {
        let s = i as usize;
        let (p, n) = (self.prev[s], self.next[s]);
        if p == NIL {
            list.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            list.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.prev[s] = NIL;
        self.next[s] = NIL;
        list.len -= 1;
    }
}

/// S3-FIFO (Yang et al., "FIFO queues are all you need for cache
/// eviction", SOSP 2023): a small FIFO (10% of the slots) that new keys
/// enter, a main FIFO for keys that proved themselves, and a ghost queue
/// remembering keys recently evicted from the small FIFO. Scan-resistant:
/// a key seen once leaves through the small FIFO without disturbing the
/// main one.
///
/// - A hit raises the key's frequency (capped at 3); no list moves, so a hit
///   is a byte write.
/// - A new key goes to the small FIFO, or straight to the main one if its
///   hash is in the ghost.
/// - To evict, while the small FIFO holds at least its share (`max(1,
///   N / 10)`), its oldest key moves to the main FIFO if it was hit since it
///   came in, or is evicted (its hash joins the ghost); otherwise the main
///   FIFO's oldest key is reinserted with its frequency lowered by one if it
///   was hit, or evicted.
/// - The ghost is a direct-mapped table of `N` 32-bit fingerprints: an
///   approximation of the paper's FIFO of `N` hashes (a newer hash
///   overwrites an older one in its bucket) that costs O(1) per operation.
///
/// ```
/// use failsafe_core::cache::{Cache, CacheConfig, S3Fifo};
/// use failsafe_core::Instant;
///
/// let mut cache: Cache<u32, u32, 4, S3Fifo<4>> = Cache::new(CacheConfig::DEFAULT, 1);
/// let t = Instant::ZERO;
/// cache.insert(1, 10, t);
/// assert_eq!(cache.get(&1, t), Some(&10)); // key 1 proved itself
/// for k in 100..120 {
///     cache.insert(k, 0, t); // a scan of keys seen once
/// }
/// assert_eq!(cache.get(&1, t), Some(&10)); // ... did not push key 1 out
/// ```
#[derive(Clone, Debug)]
pub struct S3Fifo<const N: usize> {
    links: Links<N>,
    small: List,
    main: List,
    /// Bits 0-1: frequency (0..=3); bit 7: in the main FIFO.
    meta: [u8; N],
    ghost: [u32; N],
}

const IN_MAIN: u8 = 0x80;
const FREQ: u8 = 0x03;

impl<const N: usize> S3Fifo<N> {
    /// The small FIFO's share of the slots: 10% (the paper's choice), at least one.
    const SMALL: u32 = if N / 10 == 0 { 1 } else { (N / 10) as u32 };

    fn ghost_at(hash: u64) -> (usize, u32) {
        let bucket = ((hash as u128 * N as u128) >> 64) as usize;
        (bucket, (hash as u32) | 1)
    }
}

impl<const N: usize> EvictionPolicy for S3Fifo<N> {
    const CAPACITY: usize = N;
    const EMPTY: Self = S3Fifo {
        links: Links::EMPTY,
        small: List::EMPTY,
        main: List::EMPTY,
        meta: [0; N],
        ghost: [0; N],
    };

    fn inserted(&mut self, slot: u32, hash: u64) {
        let (bucket, fp) = Self::ghost_at(hash);
        if self.ghost[bucket] == fp {
            self.ghost[bucket] = 0;
            self.meta[slot as usize] = IN_MAIN;
            self.links.push_head(&mut self.main, slot);
        } else {
            self.meta[slot as usize] = 0;
            self.links.push_head(&mut self.small, slot);
        }
    }

    #[inline]
    fn accessed(&mut self, slot: u32) {
        let m = &mut self.meta[slot as usize];
        if *m & FREQ < 3 {
            *m += 1;
        }
    }

    fn removed(&mut self, slot: u32) {
        if self.meta[slot as usize] & IN_MAIN != 0 {
            self.links.unlink(&mut self.main, slot);
        } else {
            self.links.unlink(&mut self.small, slot);
        }
        self.meta[slot as usize] = 0;
    }

    fn evict(&mut self, mut look: impl FnMut(u32) -> Candidate) -> u32 {
        // Terminates: each turn evicts, moves a key from small to main
        // (at most N times) or lowers a main key's frequency (at most 3N times).
        loop {
            if self.small.len >= Self::SMALL || self.main.len == 0 {
                let t = self.small.tail;
                let c = look(t);
                self.links.unlink(&mut self.small, t);
                let s = t as usize;
                if c.dead {
                    self.meta[s] = 0;
                    return t;
                }
                if self.meta[s] & FREQ > 0 {
                    self.meta[s] = IN_MAIN;
                    self.links.push_head(&mut self.main, t);
                    continue;
                }
                let (bucket, fp) = Self::ghost_at(c.hash);
                self.ghost[bucket] = fp;
                self.meta[s] = 0;
                return t;
            }
            let t = self.main.tail;
            let c = look(t);
            let s = t as usize;
            self.links.unlink(&mut self.main, t);
            if !c.dead && self.meta[s] & FREQ > 0 {
                self.meta[s] -= 1;
                self.links.push_head(&mut self.main, t);
                continue;
            }
            self.meta[s] = 0;
            return t;
        }
    }

    fn clear(&mut self) {
        *self = Self::EMPTY;
    }
}

/// SIEVE (Zhang et al., "SIEVE is simpler than LRU", NSDI 2024): one FIFO
/// and a hand. A hit sets the key's visited bit; to evict, the hand walks
/// from the oldest key toward the newest, clearing visited bits, and evicts
/// the first key not visited (wrapping around), then stays where it stopped.
///
/// ```
/// use failsafe_core::cache::{Cache, CacheConfig, Sieve};
/// use failsafe_core::Instant;
///
/// let mut cache: Cache<u32, u32, 2, Sieve<2>> = Cache::new(CacheConfig::DEFAULT, 1);
/// let t = Instant::ZERO;
/// cache.insert(1, 10, t);
/// cache.insert(2, 20, t);
/// assert!(cache.get(&1, t).is_some()); // 1 visited
/// cache.insert(3, 30, t); // the hand passes 1 and evicts 2
/// assert_eq!(cache.get(&1, t), Some(&10));
/// assert_eq!(cache.get(&2, t), None);
/// ```
#[derive(Clone, Debug)]
pub struct Sieve<const N: usize> {
    links: Links<N>,
    list: List,
    visited: [bool; N],
    hand: u32,
}

impl<const N: usize> EvictionPolicy for Sieve<N> {
    const CAPACITY: usize = N;
    const EMPTY: Self = Sieve {
        links: Links::EMPTY,
        list: List::EMPTY,
        visited: [false; N],
        hand: NIL,
    };

    fn inserted(&mut self, slot: u32, _hash: u64) {
        self.visited[slot as usize] = false;
        self.links.push_head(&mut self.list, slot);
    }

    #[inline]
    fn accessed(&mut self, slot: u32) {
        self.visited[slot as usize] = true;
    }

    fn removed(&mut self, slot: u32) {
        if self.hand == slot {
            self.hand = self.links.prev[slot as usize];
        }
        self.links.unlink(&mut self.list, slot);
        self.visited[slot as usize] = false;
    }

    fn evict(&mut self, mut look: impl FnMut(u32) -> Candidate) -> u32 {
        let mut h = if self.hand == NIL {
            self.list.tail
        } else {
            self.hand
        };
        // Terminates: one lap clears every visited bit.
        loop {
            let s = h as usize;
            if !self.visited[s] || look(h).dead {
                self.hand = self.links.prev[s];
                self.links.unlink(&mut self.list, h);
                self.visited[s] = false;
                return h;
            }
            self.visited[s] = false;
            h = self.links.prev[s];
            if h == NIL {
                h = self.list.tail;
            }
        }
    }

    fn clear(&mut self) {
        *self = Self::EMPTY;
    }
}

/// Least recently used, for comparison: a hit moves the key to the front,
/// the key at the back is evicted (dead or not). Not scan-resistant: one
/// pass over more keys than slots flushes the cache.
///
/// ```
/// use failsafe_core::cache::{Cache, CacheConfig, Lru};
/// use failsafe_core::Instant;
///
/// let mut cache: Cache<u32, u32, 2, Lru<2>> = Cache::new(CacheConfig::DEFAULT, 1);
/// let t = Instant::ZERO;
/// cache.insert(1, 10, t);
/// cache.insert(2, 20, t);
/// assert!(cache.get(&1, t).is_some()); // 2 is now the least recently used
/// cache.insert(3, 30, t);
/// assert_eq!(cache.get(&2, t), None);
/// ```
#[derive(Clone, Debug)]
pub struct Lru<const N: usize> {
    links: Links<N>,
    list: List,
}

impl<const N: usize> EvictionPolicy for Lru<N> {
    const CAPACITY: usize = N;
    const EMPTY: Self = Lru {
        links: Links::EMPTY,
        list: List::EMPTY,
    };

    fn inserted(&mut self, slot: u32, _hash: u64) {
        self.links.push_head(&mut self.list, slot);
    }

    #[inline]
    fn accessed(&mut self, slot: u32) {
        if self.list.head != slot {
            self.links.unlink(&mut self.list, slot);
            self.links.push_head(&mut self.list, slot);
        }
    }

    fn removed(&mut self, slot: u32) {
        self.links.unlink(&mut self.list, slot);
    }

    fn evict(&mut self, _look: impl FnMut(u32) -> Candidate) -> u32 {
        let t = self.list.tail;
        self.links.unlink(&mut self.list, t);
        t
    }

    fn clear(&mut self) {
        *self = Self::EMPTY;
    }
}
