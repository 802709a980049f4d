//! The store's seeded hasher.

use core::hash::Hasher;

/// A seeded word-at-a-time multiply-rotate hash with a SplitMix64 finaliser.
///
/// Fast on integer keys (one multiply per word), well spread for bucket
/// and ghost indices, and keyed by a caller-provided seed so keys chosen
/// without the seed cannot be aimed at one bucket. Not a cryptographic
/// PRF: where keys come from untrusted clients, pass a random seed and keep
/// the store small enough that a long chain is cheap.
pub(super) struct SeededHasher(u64);

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl SeededHasher {
    #[inline]
    pub(super) const fn new(seed: u64) -> Self {
        SeededHasher(seed ^ 0x243f_6a88_85a3_08d3)
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(MUL).rotate_left(29);
    }
}

impl Hasher for SeededHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        // The length tag keeps "ab" + "" apart from "a" + "b".
        self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.mix(n.into());
    }
    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.mix(n.into());
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.mix(n.into());
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}
