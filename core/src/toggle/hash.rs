//! The rollout hash (see the [module docs](super#the-hash)).

/// FNV-1a's 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a's 64-bit prime.
const FNV_PRIME: u64 = 0x0100_0000_01b3;
/// Separates a flag's name from the key (never a byte of UTF-8).
pub(super) const SEPARATOR: u8 = 0xFF;
/// Buckets per flag: basis points.
pub(super) const BUCKETS: u64 = 10_000;

/// FNV-1a over `bytes`, from `state`.
#[inline]
pub(super) const fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    state
}

/// MurmurHash3's 64-bit finalizer.
#[inline]
pub(super) const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The hash state after `seed ‖ name ‖ 0xFF`: computed once per flag.
pub(super) const fn flag_prefix(seed: u64, name: &str) -> u64 {
    let state = fnv1a(FNV_OFFSET, &seed.to_le_bytes());
    let state = fnv1a(state, name.as_bytes());
    fnv1a(state, &[SEPARATOR])
}

/// Feeds a key's bytes into the rollout hash ([`ToggleKey::write_key`]).
#[derive(Clone, Copy, Debug)]
pub struct KeyHasher {
    state: u64,
}

impl KeyHasher {
    /// Appends `bytes` to the key.
    ///
    /// ```
    /// use failsafe_core::toggle::{ToggleKey, KeyHasher};
    /// struct User { id: u32 }
    /// impl ToggleKey for User {
    ///     fn write_key(&self, h: &mut KeyHasher) { h.write(&self.id.to_le_bytes()) }
    /// }
    /// // the same bucket as the id itself
    /// assert_eq!(failsafe_core::toggle::bucket(1, "f", &User { id: 7 }),
    ///            failsafe_core::toggle::bucket(1, "f", &7u32));
    /// ```
    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        self.state = fnv1a(self.state, bytes);
    }
}

/// A key a flag decides on: a user, a tenant, a device id. Its bytes go
/// into the rollout hash; implement it for your own key type by writing a
/// stable byte form (never an address, never `core::hash::Hash`, whose
/// output may change between Rust versions).
///
/// Provided: `str` (UTF-8), `[u8]` and `[u8; N]` (as is), the integers
/// (little-endian; `usize`/`isize` as 8 bytes, so 32- and 64-bit targets
/// agree), `()` (no bytes: every call shares one bucket, so a rollout is
/// all or nothing per flag), and references to any of them.
pub trait ToggleKey {
    /// Writes the key's bytes.
    fn write_key(&self, hasher: &mut KeyHasher);
}

impl ToggleKey for str {
    #[inline]
    fn write_key(&self, hasher: &mut KeyHasher) {
        hasher.write(self.as_bytes());
    }
}

impl ToggleKey for [u8] {
    #[inline]
    fn write_key(&self, hasher: &mut KeyHasher) {
        hasher.write(self);
    }
}

impl<const L: usize> ToggleKey for [u8; L] {
    #[inline]
    fn write_key(&self, hasher: &mut KeyHasher) {
        hasher.write(self);
    }
}

impl ToggleKey for () {
    #[inline]
    fn write_key(&self, _hasher: &mut KeyHasher) {}
}

impl<T: ToggleKey + ?Sized> ToggleKey for &T {
    #[inline]
    fn write_key(&self, hasher: &mut KeyHasher) {
        (**self).write_key(hasher);
    }
}

macro_rules! int_key {
    ($($t:ty => $as:ty),*) => {$(
        impl ToggleKey for $t {
            #[inline]
            fn write_key(&self, hasher: &mut KeyHasher) {
                hasher.write(&(*self as $as).to_le_bytes());
            }
        }
    )*};
}

int_key!(u8 => u8, u16 => u16, u32 => u32, u64 => u64, u128 => u128, usize => u64,
         i8 => i8, i16 => i16, i32 => i32, i64 => i64, i128 => i128, isize => i64);

/// The full 64-bit hash of `key` under a flag's prefix.
#[inline]
pub(super) fn key_hash<K: ToggleKey + ?Sized>(prefix: u64, key: &K) -> u64 {
    let mut hasher = KeyHasher { state: prefix };
    key.write_key(&mut hasher);
    fmix64(hasher.state)
}

/// A key's bucket for a flag, `0..10_000`: the key is in the flag's
/// rollout when `bucket < basis_points`. The formula is in the [module
/// docs](super#the-hash); it is stable (the same on every platform and
/// release: a change would be a breaking one).
///
/// ```
/// use failsafe_core::toggle::bucket;
/// let b = bucket(42, "checkout-v2", "user-17");
/// assert!(b < 10_000);
/// assert_eq!(b, bucket(42, "checkout-v2", "user-17")); // stable
/// assert_eq!(bucket(0, "f", &7u64), bucket(0, "f", &7u64.to_le_bytes()));
/// ```
pub fn bucket<K: ToggleKey + ?Sized>(seed: u64, flag: &str, key: &K) -> u16 {
    (key_hash(flag_prefix(seed, flag), key) % BUCKETS) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_vectors() {
        // Test vectors of the FNV reference (Noll): "" and "a", "foobar".
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn fmix64_of_zero_is_zero_and_it_mixes() {
        assert_eq!(fmix64(0), 0);
        assert_ne!(fmix64(1), 1);
    }

    #[test]
    fn buckets_are_pinned() {
        // A change here changes which users see every rolled-out feature.
        let pinned = [
            bucket(0, "f", "a"),
            bucket(1, "f", "a"),
            bucket(0, "g", "a"),
            bucket(0, "f", &7u64),
        ];
        let again = [
            fmix64(fnv1a(flag_prefix(0, "f"), b"a")) % BUCKETS,
            fmix64(fnv1a(flag_prefix(1, "f"), b"a")) % BUCKETS,
            fmix64(fnv1a(flag_prefix(0, "g"), b"a")) % BUCKETS,
            fmix64(fnv1a(flag_prefix(0, "f"), &7u64.to_le_bytes())) % BUCKETS,
        ];
        for (b, a) in pinned.iter().zip(again) {
            assert_eq!(u64::from(*b), a);
        }
        // Computed independently (a 10-line Python FNV-1a + fmix64).
        assert_eq!(pinned, [2231, 7374, 4403, 4353]);
        assert_eq!(bucket(42, "checkout-v2", "user-17"), 5728);
        // the name/key separator keeps ("ab","c") and ("a","bc") apart
        assert_ne!(
            key_hash(flag_prefix(0, "ab"), "c"),
            key_hash(flag_prefix(0, "a"), "bc")
        );
    }
}
