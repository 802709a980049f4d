//! Exponential inter-arrival gaps (Poisson traffic) for the engine: a gap
//! at `rate` calls per second is `-ln(u) / rate` seconds for a uniform `u`
//! in (0, 1], in whole nanoseconds (rounded down).
//!
//! The gaps are exactly those of computing `-u.ln()` (the platform's
//! `ln`) for every draw, but most of them without calling it: a cheap
//! logarithm ([`neg_ln_approx`], a division and a few multiplications,
//! good to about 1e-15 relative) gives the gap to within far less than a nanosecond, so
//! its whole nanoseconds are those of the exact computation unless it
//! falls within that error of a whole nanosecond; then (never in 600,000
//! test draws at 1,000 calls/s, one in ten at one call an hour) the gap
//! is worked out the old way.

use failsafe_core::rng::{Rng, Xorshift64};

/// Gaps drawn ahead at once.
const GAPS: usize = 64;

/// Draws [`GAPS`] gaps at a time from the arrivals' own stream: the same
/// gaps as drawing each when it is needed, with the logarithms off the
/// loop's path.
pub(crate) struct Gaps {
    rng: Xorshift64,
    /// The uniform `u` in (0, 1] of each gap drawn.
    uniform: [f64; GAPS],
    /// The gaps at `rate`, in nanoseconds.
    nanos: [u64; GAPS],
    rate: f64,
    /// The next gap to hand out (`GAPS`: none left).
    next: usize,
}

impl Gaps {
    pub(crate) fn new(rng: Xorshift64) -> Gaps {
        Gaps {
            rng,
            uniform: [0.0; GAPS],
            nanos: [0; GAPS],
            rate: 0.0,
            next: GAPS,
        }
    }

    /// The next gap at `rate` calls per second, in nanoseconds.
    #[inline]
    pub(crate) fn next(&mut self, rate: f64) -> u64 {
        if self.next == GAPS {
            self.draw(rate);
        } else if self.rate.to_bits() != rate.to_bits() {
            self.rate = rate;
            let next = self.next;
            gaps_at(&self.uniform[next..], rate, &mut self.nanos[next..]);
        }
        let gap = self.nanos[self.next];
        self.next += 1;
        gap
    }

    #[inline(never)]
    fn draw(&mut self, rate: f64) {
        self.rate = rate;
        for u in &mut self.uniform {
            *u = 1.0 - self.rng.next_f64(); // (0, 1]
        }
        gaps_at(&self.uniform, rate, &mut self.nanos);
        self.next = 0;
    }
}

/// The gap at `rate` for each uniform, in nanoseconds: [`gap_nanos`] of
/// `-u.ln()`, the same to the nanosecond.
fn gaps_at(uniform: &[f64], rate: f64, nanos: &mut [u64]) {
    // Nanoseconds per unit of -ln(u); only the estimates use it.
    let scale = 1e9 / rate;
    let mut sure = [false; GAPS];
    let mut all_sure = true;
    // No branch: the compiler works on two gaps at a time.
    for ((n, ok), &u) in nanos.iter_mut().zip(&mut sure).zip(uniform) {
        let (floor, is_sure) = sure_floor(neg_ln_approx(u) * scale);
        *n = floor;
        *ok = is_sure;
        all_sure &= is_sure;
    }
    if !all_sure {
        for ((n, &ok), &u) in nanos.iter_mut().zip(&sure).zip(uniform) {
            if !ok {
                *n = gap_nanos(-u.ln(), rate);
            }
        }
    }
}

/// `-ln(u) / rate` seconds, in nanoseconds (rounded down): the gap's
/// definition.
#[inline]
pub(crate) fn gap_nanos(neg_ln: f64, rate: f64) -> u64 {
    let secs = neg_ln / rate;
    let nanos = secs * 1e9;
    // `nanos as u64` (rounding towards zero, saturating, NaN to 0); below
    // 2^63 the same as the conversion to a signed integer, one instruction.
    if nanos < 9.2e18 {
        nanos as i64 as u64
    } else {
        nanos as u64
    }
}

/// The whole part of `x`, and whether every value within `x * 2^-46` of
/// `x` has that same one (no when `x` is not a finite value in [0, 2^52)).
///
/// The estimate `x` is within `x * 2^-48` of the exact computation's
/// value: the cheap logarithm is within 2^-49 of the platform's `ln`
/// relative (measured 1.1e-15, checked by a test), plus a few roundings
/// of 2^-53 each on either side (the platform's `ln` itself, the division
/// by the rate and the multiplication by 1e9, or by their quotient). So
/// when every value within four times that has one whole part, it is the
/// exact computation's. (Adding or taking the margin rounds by at most
/// half a unit in the last place of `x`, 2^-53 of it: well within the
/// factor of four.)
///
/// Without a branch or a conversion instruction, so that a loop of it
/// runs on vectors: below 2^52, `(x + 2^52) - 2^52` is `x` rounded to a
/// whole number, and the bits of `f + 2^52` for a whole `f` are those of
/// 2^52 plus `f`.
#[inline]
fn sure_floor(x: f64) -> (u64, bool) {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    // Also false for NaN.
    let in_range = (0.0..TWO_52).contains(&x);
    let x = if in_range { x } else { 0.0 };
    let nearest = (x + TWO_52) - TWO_52;
    let floor = if nearest > x { nearest - 1.0 } else { nearest };
    let margin = x * (1.0 / 70_368_744_177_664.0); // 2^-46
    let sure = in_range & (x - margin >= floor) & (x + margin < floor + 1.0);
    let whole = (floor + TWO_52).to_bits() - TWO_52.to_bits();
    (whole, sure)
}

/// `ln 2` in two parts, the high one with its 32 low bits zero so that an
/// exponent times it is exact (fdlibm's `e_log.c`, `ln2_hi` and `ln2_lo`).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// `-ln(u)` for `u` in (0, 1], to within about 1e-15 of it relative:
/// `u = 2^e * m` with `m` in [√2/2, √2], `ln(m) = 2 atanh(s)` with
/// `s = (m - 1) / (m + 1)` (|s| ≤ 0.1716, `s^2` ≤ 0.0295) by its series
/// to `s^17` (the terms left out are below `s * 0.0295^9 / 19 / (1 -
/// 0.0295)`, 9e-16 of `s`), and `e * ln 2` in two parts (the reduction of
/// fdlibm's `e_log.c`, with the plain series instead of its polynomial
/// fit). `m - 1` is exact (Sterbenz), and adding `e * ln 2` cancels by a
/// factor of three at most (`u` in [√2/4, √2/2): `ln m - ln 2` with `|ln
/// m|` at most `ln 2 / 2`).
#[inline]
fn neg_ln_approx(u: f64) -> f64 {
    let bits = u.to_bits();
    let e = ((bits >> 52) & 0x7FF) as i64 - 1023;
    let m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52)); // [1, 2)
    let big = m > core::f64::consts::SQRT_2;
    let (m, e) = if big { (m * 0.5, e + 1) } else { (m, e) };
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let p = 1.0 / 3.0
        + z * (1.0 / 5.0
            + z * (1.0 / 7.0
                + z * (1.0 / 9.0
                    + z * (1.0 / 11.0 + z * (1.0 / 13.0 + z * (1.0 / 15.0 + z * (1.0 / 17.0)))))));
    let two_s = s + s;
    let ln_m = two_s + two_s * (z * p);
    let e = e as f64;
    -(e * LN2_HI + (e * LN2_LO + ln_m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uniforms as the engine draws them, and the hard ones: near 1,
    /// near powers of two and √2, the smallest.
    fn uniforms(n: usize) -> impl Iterator<Item = f64> {
        let mut rng = Xorshift64::new(11);
        let drawn = (0..n).map(move |_| 1.0 - rng.next_f64());
        let near_one = (0..100_000u64).map(|k| 1.0 - k as f64 / (1u64 << 53) as f64);
        let edges = (1..54).flat_map(|p| {
            let x = 1.0 / (1u64 << p) as f64;
            let r = x * core::f64::consts::SQRT_2;
            (-50i64..50).flat_map(move |d| {
                [
                    f64::from_bits((x.to_bits() as i64 + d) as u64),
                    f64::from_bits((r.to_bits() as i64 + d) as u64),
                ]
            })
        });
        drawn
            .chain(near_one)
            .chain(edges.filter(|u| *u > 0.0 && *u <= 1.0))
            .chain([1.0, 1.0 / (1u64 << 53) as f64])
    }

    /// The cheap logarithm is within 2^-49 of the platform's, relative.
    #[test]
    fn the_cheap_logarithm_is_close() {
        let mut worst = 0.0f64;
        for u in uniforms(2_000_000) {
            let (exact, approx) = (-u.ln(), neg_ln_approx(u));
            if exact == 0.0 {
                assert_eq!(approx, 0.0);
                continue;
            }
            worst = worst.max(((approx - exact) / exact).abs());
        }
        assert!(
            worst < 1.0 / (1u64 << 49) as f64,
            "worst relative error {worst:e}"
        );
    }

    /// Every gap is the one of the exact computation, at rates from one
    /// call an hour to a billion a second.
    #[test]
    fn the_same_gaps_as_the_exact_computation() {
        let all: Vec<f64> = uniforms(500_000).collect();
        let mut out = vec![0; all.len()];
        for rate in [1.0 / 3600.0, 0.37, 1.0, 100.0, 1000.0, 1234.5, 1e6, 1e9] {
            for (chunk, out) in all.chunks(GAPS).zip(out.chunks_mut(GAPS)) {
                gaps_at(chunk, rate, out);
            }
            for (&u, &n) in all.iter().zip(&out) {
                assert_eq!(n, gap_nanos(-u.ln(), rate), "u = {u:e}, rate {rate}");
            }
        }
    }

    /// The whole part, sure only away from a whole number and in range.
    #[test]
    fn whole_parts() {
        assert_eq!(sure_floor(0.0), (0, true));
        assert_eq!(sure_floor(-0.0), (0, true));
        assert_eq!(sure_floor(2.5), (2, true));
        assert_eq!(sure_floor(1_000_000.75), (1_000_000, true));
        assert!(!sure_floor(3.0).1);
        assert!(!sure_floor(2.999_999_999_999_999_6).1);
        assert!(!sure_floor((1u64 << 51) as f64 + 0.5).1);
        for bad in [f64::NAN, -1.0, f64::INFINITY, (1u64 << 52) as f64] {
            assert!(!sure_floor(bad).1, "{bad}");
        }
    }

    /// Drawn ahead, and at a rate that changes between draws: the gaps of
    /// drawing each when needed.
    #[test]
    fn drawing_ahead_draws_the_same() {
        let mut gaps = Gaps::new(Xorshift64::new(5));
        let mut rng = Xorshift64::new(5);
        for i in 0..10_000 {
            let rate = if i % 300 < 150 { 1000.0 } else { 20.0 };
            let u = 1.0 - rng.next_f64();
            let want = gap_nanos(-u.ln(), rate);
            assert_eq!(gaps.next(rate), want);
        }
    }
}
