//! Injected randomness: the core never draws random numbers on its own.
//!
//! Anything that needs jitter takes a `&mut impl Rng`; tests pass a seeded
//! [`Xorshift64`] and get the same numbers every run.

/// A source of uniformly distributed 64-bit values.
///
/// ```
/// use failsafe_core::rng::{Rng, Xorshift64};
/// let mut rng = Xorshift64::new(42);
/// let x = rng.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// ```
pub trait Rng {
    /// The next uniformly distributed `u64`.
    fn next_u64(&mut self) -> u64;

    /// A uniform float in `[0, 1)` built from the top 53 bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform integer in `[0, bound)`; `0` when `bound` is `0`.
    ///
    /// Uses the multiply-shift reduction, whose bias is below `bound / 2^64`.
    fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }
}

/// Marsaglia's xorshift64*: tiny, fast, seeded; for jitter, not for secrets.
///
/// ```
/// use failsafe_core::rng::{Rng, Xorshift64};
/// let (mut a, mut b) = (Xorshift64::new(7), Xorshift64::new(7));
/// assert_eq!(a.next_u64(), b.next_u64()); // deterministic
/// assert!(a.below(10) < 10);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Xorshift64 {
    state: u64,
}

impl Xorshift64 {
    /// A generator from `seed`; a zero seed (a fixed point of xorshift) is replaced.
    ///
    /// ```
    /// # use failsafe_core::rng::{Rng, Xorshift64};
    /// assert_ne!(Xorshift64::new(0).next_u64(), 0);
    /// ```
    pub const fn new(seed: u64) -> Xorshift64 {
        // SplitMix64 finaliser spreads small seeds over all bits.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Xorshift64 {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }
}

impl Rng for Xorshift64 {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A shared source of per-call jitter generators: each [`next`](Self::next)
/// seeds a fresh [`Xorshift64`] from a counter stepped by SplitMix64's
/// golden-ratio increment, so concurrent calls draw different sequences.
/// One atomic add per call, no lock; `const`, so it can live in a `static`.
///
/// ```
/// use failsafe_core::rng::{Rng, Seeds};
/// static SEEDS: Seeds = Seeds::new(7);
/// let (mut a, mut b) = (SEEDS.next(), SEEDS.next());
/// assert_ne!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug)]
pub struct Seeds(crate::atomic::AtomicU64);

impl Seeds {
    /// The golden-ratio increment of SplitMix64.
    const STEP: u64 = 0x9E37_79B9_7F4A_7C15;

    /// Seeds starting from `seed`.
    #[cfg(not(loom))]
    pub const fn new(seed: u64) -> Seeds {
        Seeds(crate::atomic::AtomicU64::new(seed))
    }

    /// Under loom, atomics cannot be built in `const`.
    #[cfg(loom)]
    pub fn new(seed: u64) -> Seeds {
        Seeds(crate::atomic::AtomicU64::new(seed))
    }

    /// A generator for one call.
    pub fn next(&self) -> Xorshift64 {
        let seed = self
            .0
            .fetch_add(Self::STEP, crate::atomic::Ordering::Relaxed);
        Xorshift64::new(seed)
    }
}
