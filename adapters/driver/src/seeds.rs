//! Where each call's random generator comes from: a stream of seeds for the
//! handles that are built in `const` (the pipeline, chaos), and a generator
//! that seeds at its first draw ([`CallRng`]).

#[cfg(feature = "std")]
extern crate std;

use failsafe_core::rng::{Rng, Seeds, Xorshift64};

/// A stream of per-call generators: from the seed given (the same draws
/// in every process, for tests and reproducible runs) or, by default, from
/// a fixed start that, with the `std` feature, each process mixes with a
/// random value of its own, so that a fleet of processes does not jitter
/// its retries (or inject chaos) in step. Without `std` (firmware) the
/// default stream is the fixed start's: give each device its own seed.
#[derive(Debug)]
pub(crate) struct CallSeeds {
    seeds: Seeds,
    given: bool,
}

impl CallSeeds {
    /// The default stream, from `start`.
    pub(crate) const fn by_default(start: u64) -> Self {
        CallSeeds {
            seeds: Seeds::new(start),
            given: false,
        }
    }

    /// The stream of `seed`, the same in every process.
    pub(crate) const fn given(seed: u64) -> Self {
        CallSeeds {
            seeds: Seeds::new(seed),
            given: true,
        }
    }

    /// One call's generator.
    pub(crate) fn next(&self) -> Xorshift64 {
        let mut rng = self.seeds.next();
        if self.given {
            return rng;
        }
        Xorshift64::new(rng.next_u64() ^ process_seed())
    }
}

/// One call's jitter generator, owning its seed and seeded from it at its
/// first draw: what a [`RetryPolicy::plan`](crate::RetryPolicy::plan) hands a call whose future must
/// own everything (a tower service's). The seed comes from the handle's own
/// stream, without an atomic step, and a call that never draws (its first
/// attempt succeeds, or its backoff has no jitter) never seeds.
///
/// ```
/// use failsafe_core::rng::{Rng, Xorshift64};
/// use failsafe_driver::CallRng;
///
/// let (mut lazy, mut eager) = (CallRng::new(7), Xorshift64::new(7));
/// for _ in 0..3 {
///     assert_eq!(lazy.next_u64(), eager.next_u64());
/// }
/// ```
#[derive(Clone, Debug)]
pub struct CallRng(Seeded);

/// The seed until the first draw, then the generator: one of the two (16
/// bytes, where both side by side took 24).
#[derive(Clone, Debug)]
enum Seeded {
    Seed(u64),
    Drawing(Xorshift64),
}

impl CallRng {
    /// A generator seeded with `seed` ([`Xorshift64::new`]) when it first
    /// draws.
    #[inline]
    pub const fn new(seed: u64) -> Self {
        CallRng(Seeded::Seed(seed))
    }
}

impl Rng for CallRng {
    #[inline]
    fn next_u64(&mut self) -> u64 {
        match &mut self.0 {
            Seeded::Drawing(rng) => rng.next_u64(),
            Seeded::Seed(seed) => {
                let mut rng = Xorshift64::new(*seed);
                let drawn = rng.next_u64();
                self.0 = Seeded::Drawing(rng);
                drawn
            }
        }
    }
}

/// This process's random value (std's random hash keys), drawn once.
#[cfg(feature = "std")]
fn process_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(crate::random_seed)
}

/// Without std, no source of randomness: the default stream stays fixed.
#[cfg(not(feature = "std"))]
const fn process_seed() -> u64 {
    0
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn draws(seeds: &CallSeeds) -> [u64; 3] {
        [0; 3].map(|_| seeds.next().next_u64())
    }

    #[test]
    fn a_given_seed_draws_alike_everywhere_and_the_default_draws_this_process_own() {
        // A given seed: the same draws from two streams (and so in any
        // process), each call's generator that of the core's `Seeds`.
        let core = Seeds::new(7);
        let given = draws(&CallSeeds::given(7));
        assert_eq!(given, draws(&CallSeeds::given(7)));
        assert_eq!(given, [0; 3].map(|_| core.next().next_u64()));
        // The default: the fixed start mixed with this process's random
        // value, the same for every stream in the process.
        let by_default = draws(&CallSeeds::by_default(7));
        assert_eq!(by_default, draws(&CallSeeds::by_default(7)));
        assert_ne!(by_default, given, "the process's value is mixed in");
    }

    #[test]
    fn a_call_rng_draws_as_the_generator_of_its_seed_and_takes_two_words() {
        let mut lazy = CallRng::new(11);
        let mut eager = Xorshift64::new(11);
        for _ in 0..5 {
            assert_eq!(lazy.next_u64(), eager.next_u64());
        }
        assert_eq!(core::mem::size_of::<CallRng>(), 16);
    }
}
