//! The f64 tanh of the AVX-512 copy: the operations of [`super::tanh`] in the same order, on
//! eight vectors at a time. NOTE: [tanh-eight]
//
// NOTE: [tanh-eight] A loop over one vector of tanh at a time (LLVM's vectorization of the
// scalar function) runs at the latency of its chain, not at the rate the core issues its
// instructions: the split of 2a, the polynomial, the scaling, the division and its correction
// depend on each other, about 70 cycles for some 45 instructions, and the core keeps too few
// vectors in flight to cover it. Written out for eight independent vectors (the first halves
// of all eight, then the second halves), the same instructions overlap. AMD Zen 5, one thread,
// 4096 f64 in L1, best of 3000 calls, a scratch program in one run: one vector at a time 4.50
// ns a vector of 8, two at a time 4.11, four 3.97, eight 3.58; with 2a split in one
// multiply-add instead of two (NOTE: [tanh-quotient]) 3.36 for eight; the quotient with
// min(e, 2) above e = 2 cost nothing measurable. In the library, 10⁶ f64 (`Tensor::tanh`,
// one thread, minima of 2000 calls, builds alternated three times): 548–554 → 460–473 µs;
// four and six vectors at a time 509–525 and 477–495 µs. XLA's f64 tanh (jax.jit, one
// thread, 10⁶ elements) took 406 µs there, a rational function of 6.5 ulp (measured against
// mpmath) evaluated by two chains of multiply-adds and one division.
//
// The bits are those of [`super::tanh`] in every lane (`tanh_slices_of_every_length_give_the_
// scalar_bits`): each step below is the scalar one's operation (a fused multiply-add for each
// `mul_add`, the comparisons' selects as `vminpd`, `vmaxpd` and masked operations with the
// scalar's NaN cases).

use super::{HALF_LN2, MAGIC, TANH_Q, TWICE_LOG2E};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// The vectors a loop step takes at once (NOTE: [tanh-eight]).
const WAYS: usize = 8;

/// `out[i] = tanh(x[i])` over f64, with the bits of [`super::tanh`] (NOTE: [tanh-eight]).
/// Elements past the shorter of the two slices are left alone.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn tanh64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    let n = x.len().min(out.len());
    let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f64>());
    let mut i = 0;
    while i + 8 * WAYS <= n {
        let mut v = [_mm512_setzero_pd(); WAYS];
        let mut e = [_mm512_setzero_pd(); WAYS];
        for j in 0..WAYS {
            // SAFETY: i + 8j + 8 ≤ n, the length of both slices here
            v[j] = unsafe { _mm512_loadu_pd(src.add(i + 8 * j)) };
            e[j] = expm1_twice(clamped(v[j]));
        }
        for j in 0..WAYS {
            let y = with_sign(tanh_of_expm1(e[j]), v[j]);
            // SAFETY: as above; MaybeUninit<f64> has f64's layout
            unsafe { _mm512_storeu_pd(dst.add(i + 8 * j), y) };
        }
        i += 8 * WAYS;
    }
    while i < n {
        let k: u8 = if n - i >= 8 {
            0xff
        } else {
            (1u8 << (n - i)) - 1
        };
        // SAFETY: the masked load and store touch only the lanes of `k`, elements i..n
        unsafe {
            let v = _mm512_maskz_loadu_pd(k, src.add(i));
            let y = with_sign(tanh_of_expm1(expm1_twice(clamped(v))), v);
            _mm512_mask_storeu_pd(dst.add(i), k, y);
        }
        i += 8;
    }
}

/// |x| clamped to 20, NaN kept (`if a > 20 { 20 } else { a }`: `vminpd` returns its second
/// operand for NaN).
#[inline]
#[target_feature(enable = "avx512f")]
fn clamped(x: __m512d) -> __m512d {
    _mm512_min_pd(_mm512_set1_pd(20.0), _mm512_abs_pd(x))
}

/// `super::expm1_twice`, lane by lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn expm1_twice(a: __m512d) -> __m512d {
    let magic = _mm512_set1_pd(MAGIC);
    let kb = _mm512_fmadd_pd(a, _mm512_set1_pd(TWICE_LOG2E), magic);
    let k = _mm512_sub_pd(kb, magic);
    let r = _mm512_fnmadd_pd(k, _mm512_set1_pd(HALF_LN2), a);
    let c = |i: usize| _mm512_set1_pd(TANH_Q[i]);
    let r2 = _mm512_mul_pd(r, r);
    let r4 = _mm512_mul_pd(r2, r2);
    let p01 = _mm512_fmadd_pd(c(1), r, c(0));
    let p23 = _mm512_fmadd_pd(c(3), r, c(2));
    let p45 = _mm512_fmadd_pd(c(5), r, c(4));
    let p67 = _mm512_fmadd_pd(c(7), r, c(6));
    let p89 = _mm512_fmadd_pd(c(9), r, c(8));
    let p03 = _mm512_fmadd_pd(p23, r2, p01);
    let p47 = _mm512_fmadd_pd(p67, r2, p45);
    let p07 = _mm512_fmadd_pd(p47, r4, p03);
    let q = _mm512_fmadd_pd(p89, _mm512_mul_pd(r4, r4), p07);
    let p = _mm512_fmadd_pd(r2, q, _mm512_add_pd(r, r));
    // 2ᵏ: k added to the exponent field of 1 (`add_exponent`)
    let one = _mm512_set1_pd(1.0);
    let s = _mm512_castsi512_pd(_mm512_add_epi64(
        _mm512_castpd_si512(one),
        _mm512_slli_epi64::<52>(_mm512_castpd_si512(kb)),
    ));
    _mm512_fmadd_pd(s, p, _mm512_sub_pd(s, one))
}

/// `super::tanh_of_expm1`, lane by lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn tanh_of_expm1(e: __m512d) -> __m512d {
    let (one, two, half) = (
        _mm512_set1_pd(1.0),
        _mm512_set1_pd(2.0),
        _mm512_set1_pd(0.5),
    );
    let big = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(e, two);
    // `if big { 2 } else { e }` and `if big { e } else { 2 }`, NaN as there
    let lo = _mm512_min_pd(two, e);
    let hi = _mm512_max_pd(e, two);
    let d = _mm512_add_pd(e, two);
    let q = _mm512_div_pd(lo, d);
    let dd = _mm512_sub_pd(lo, _mm512_sub_pd(d, hi));
    let t = _mm512_fnmadd_pd(q, dd, _mm512_fnmadd_pd(q, d, lo));
    let h = _mm512_mask_mul_pd(_mm512_fnmadd_pd(q, half, half), big, q, half);
    let m = _mm512_fmadd_pd(t, h, q);
    _mm512_mask_sub_pd(m, big, one, m)
}

/// `y.copysign(x)` lane by lane.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn with_sign(y: __m512d, x: __m512d) -> __m512d {
    let sign = _mm512_set1_pd(-0.0);
    _mm512_or_pd(_mm512_andnot_pd(sign, y), _mm512_and_pd(sign, x))
}
