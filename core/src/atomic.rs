//! The one 64-bit atomic the shared machines use ([`AtomicGcra`]'s state,
//! and, where 64-bit atomics are native, the lock-free gate words of
//! [`SharedBreaker`] and [`SharedFailFast`]: without them the gate would be
//! critical sections too, so those targets have none, see
//! [`Shared`](crate::sync::Shared)), chosen per target so that it is always
//! safe to share with interrupt handlers:
//!
//! | target | implementation |
//! |---|---|
//! | native 64-bit atomics (`target_has_atomic = "64"`: x86_64, aarch64, armv7-a, ...) | `core::sync::atomic::AtomicU64`, lock-free |
//! | no 64-bit atomics (thumbv6m, thumbv7m, thumbv7em, riscv32, ...) | a `u64` in a [`critical_section::Mutex`]: every operation masks interrupts (or takes the platform's critical section) for a few instructions |
//! | `cfg(loom)` | loom's model-checked `AtomicU64` |
//!
//! Never a spin lock: an interrupt handler that preempts thread mode in the
//! middle of an operation cannot find the value locked, because thread mode
//! holds it only with interrupts masked. (The `portable-atomic` fallback
//! this replaces spun on a global lock table without masking interrupts: an
//! interrupt preempting the holder spun forever.)
//!
//! Only the operations the crate uses are provided (`new`, `load`, `store`,
//! `fetch_add`, `compare_exchange`, `compare_exchange_weak`; the native and
//! loom atomics also `swap`, used by the gate).
//!
//! [`AtomicU32`] (the feature toggle's flag words) follows the same rule one
//! size down: `core`'s where the target has 32-bit compare-and-swap
//! (thumbv7m/thumbv7em included, so a flag read there is one `ldr`), the
//! critical-section cell where it has none (thumbv6m), loom's under loom.
//!
//! [`AtomicGcra`]: crate::rate::AtomicGcra
//! [`SharedBreaker`]: crate::sync::SharedBreaker
//! [`SharedFailFast`]: crate::sync::SharedFailFast

#[cfg(not(any(target_has_atomic = "32", feature = "critical-section", loom)))]
compile_error!(
    "failsafe-core: this target has no atomic compare-and-swap at all (e.g. thumbv6m-none-eabi: \
     Cortex-M0/M0+, RP2040, STM32G0), so every shared type (AtomicGcra, SharedBreaker, \
     SharedFailFast, CsLock) runs in a critical section. Enable the `critical-section` feature \
     (failsafe-core = { features = [\"critical-section\"] }, or the `critical-section` feature of \
     failsafe-embassy) and link one critical-section implementation, e.g. cortex-m = { features = \
     [\"critical-section-single-core\"] } on a single-core chip, or your HAL's (rp2040-hal, \
     embassy-rp, ...)."
);

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::{AtomicU64, Ordering};

#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use self::cs::AtomicU64;
#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use core::sync::atomic::Ordering;

#[cfg(all(not(loom), not(target_has_atomic = "32")))]
pub(crate) use self::cs::AtomicU32;
#[cfg(all(not(loom), target_has_atomic = "32"))]
pub(crate) use core::sync::atomic::AtomicU32;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;

/// The critical-section atomics; compiled on every target by `cargo test`
/// (see the tests below), used where the native ones are missing.
#[cfg_attr(target_has_atomic = "64", allow(dead_code))]
mod cs {
    use core::cell::Cell;
    use core::sync::atomic::Ordering;

    use critical_section::Mutex;

    /// A value behind a critical section, with the atomic methods the crate
    /// uses. The orderings are accepted and ignored: a critical section
    /// orders everything (it is a compiler fence on a single core;
    /// multi-core implementations add the hardware barriers).
    pub(crate) struct CsAtomic<T>(Mutex<Cell<T>>);

    /// The `u64` where 64-bit atomics are missing.
    pub(crate) type AtomicU64 = CsAtomic<u64>;
    /// The `u32` where 32-bit compare-and-swap is missing (the flag words).
    #[cfg_attr(target_has_atomic = "32", allow(dead_code))]
    pub(crate) type AtomicU32 = CsAtomic<u32>;

    // Not every method is used on every target.
    #[cfg_attr(target_has_atomic = "32", allow(dead_code))]
    impl<T: Copy + PartialEq> CsAtomic<T> {
        pub(crate) const fn new(value: T) -> Self {
            CsAtomic(Mutex::new(Cell::new(value)))
        }

        #[inline]
        pub(crate) fn load(&self, _: Ordering) -> T {
            critical_section::with(|cs| self.0.borrow(cs).get())
        }

        #[inline]
        pub(crate) fn store(&self, value: T, _: Ordering) {
            critical_section::with(|cs| self.0.borrow(cs).set(value))
        }

        #[inline]
        pub(crate) fn compare_exchange(
            &self,
            current: T,
            new: T,
            success: Ordering,
            failure: Ordering,
        ) -> Result<T, T> {
            self.compare_exchange_weak(current, new, success, failure)
        }

        /// Never fails spuriously.
        #[inline]
        pub(crate) fn compare_exchange_weak(
            &self,
            current: T,
            new: T,
            _: Ordering,
            _: Ordering,
        ) -> Result<T, T> {
            critical_section::with(|cs| {
                let cell = self.0.borrow(cs);
                let old = cell.get();
                if old == current {
                    cell.set(new);
                    Ok(old)
                } else {
                    Err(old)
                }
            })
        }
    }

    impl AtomicU64 {
        /// Wrapping add; returns the previous value.
        #[inline]
        pub(crate) fn fetch_add(&self, value: u64, _: Ordering) -> u64 {
            critical_section::with(|cs| {
                let cell = self.0.borrow(cs);
                let old = cell.get();
                cell.set(old.wrapping_add(value));
                old
            })
        }
    }

    impl<T: Copy + PartialEq + core::fmt::Debug> core::fmt::Debug for CsAtomic<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            core::fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
        }
    }

    #[cfg(test)]
    mod tests {
        extern crate std;

        use super::{AtomicU32, AtomicU64};
        use core::sync::atomic::Ordering::Relaxed;

        #[test]
        fn u32_behaves_like_core_atomic_u32() {
            static A: AtomicU32 = AtomicU32::new(7);
            assert_eq!(A.load(Relaxed), 7);
            assert_eq!(A.compare_exchange_weak(5, 9, Relaxed, Relaxed), Err(7));
            assert_eq!(A.compare_exchange_weak(7, 9, Relaxed, Relaxed), Ok(7));
            assert_eq!(A.load(Relaxed), 9);
            assert_eq!(std::format!("{A:?}"), "9");
        }

        #[test]
        fn behaves_like_core_atomic_u64() {
            static A: AtomicU64 = AtomicU64::new(7);
            assert_eq!(A.load(Relaxed), 7);
            A.store(u64::MAX, Relaxed);
            assert_eq!(A.fetch_add(2, Relaxed), u64::MAX); // wraps, like core's
            assert_eq!(A.load(Relaxed), 1);
            assert_eq!(A.compare_exchange_weak(5, 9, Relaxed, Relaxed), Err(1));
            assert_eq!(A.load(Relaxed), 1);
            assert_eq!(A.compare_exchange_weak(1, 9, Relaxed, Relaxed), Ok(1));
            assert_eq!(A.load(Relaxed), 9);
            assert_eq!(std::format!("{A:?}"), "9");
            assert_eq!(A.compare_exchange(9, 3, Relaxed, Relaxed), Ok(9));
            assert_eq!(A.compare_exchange(9, 4, Relaxed, Relaxed), Err(3));
        }
    }
}
