//! The f64 tanh of the AVX-512 and AVX2 copies: the operations of [`super::tanh`] in the same
//! order, in two passes over each run of 512 elements (NOTE: [tanh-passes]).
//
// NOTE: [tanh-eight] A loop over one vector of tanh at a time (LLVM's vectorization of the
// scalar function) runs at the latency of its chain, not at the rate the core issues its
// instructions: the split of 2a, the polynomial, the scaling, the division and its correction
// depend on each other, about 70 cycles for some 45 instructions, and the core keeps too few
// vectors in flight to cover it. Written out for eight independent vectors (the first halves
// of all eight, then the second halves), the same instructions overlapped. AMD Zen 5, one
// thread, 4096 f64 in L1, best of 3000 calls, a scratch program in one run: one vector at a
// time 4.50 ns a vector of 8, two at a time 4.11, four 3.97, eight 3.58; with 2a split in one
// multiply-add instead of two (NOTE: [tanh-quotient]) 3.36 for eight; the quotient with
// min(e, 2) above e = 2 cost nothing measurable. In the library, 10⁶ f64 (`Tensor::tanh`,
// one thread, minima of 2000 calls, builds alternated three times): 548–554 → 460–473 µs;
// four and six vectors at a time 509–525 and 477–495 µs. XLA's f64 tanh (jax.jit, one
// thread, 10⁶ elements) took 406 µs there, a rational function of 6.5 ulp (measured against
// mpmath) evaluated by two chains of multiply-adds and one division. The AVX2 copy, four
// vectors of 4 at a time, measured under `FUNCTORCH_CPU_CAPABILITY=avx2` on the same
// machine, 10⁶ f64, one thread, two rounds: 1133–1157 µs before NOTE: [tanh-quotient],
// 1406–1426 with it one vector at a time (the quotient's selects sit on the chain), 1128–1138
// four at a time.
//
// NOTE: [tanh-passes] Eight vectors at a time still ran at about 15 cycles a vector (3.7 ns
// in L1, AMD Zen 5), for some 35 floating-point operations that the core's four pipes could
// issue in 9–11: `perf` put the samples on the polynomial's last multiplies and the stores,
// the chains waiting with too many of their operations queued. Split in two, each chain is
// half as long and the core keeps more vectors of each in flight: the first pass writes
// e = e^(2|x|) − 1 of up to 512 elements into `out` (4 KiB, in L1), the second reads it back
// with x (which `out`, an exclusive borrow beside x's shared one, cannot overlap) and writes
// tanh over it, each a plain loop of one vector a step. Same operations, same bits.
// `Tensor::tanh` of f64, one thread, minima of 1000 calls (4096 elements: 50000), the build
// before and this one alternated three times, µs (with the polynomial of NOTE: [tanh-poly]):
// 10⁶ elements 461–488 → 419–426, 4096 elements 2.01–2.09 → 1.88–1.90; under
// `FUNCTORCH_CPU_CAPABILITY=avx2` (vectors of 4, where four at a time had filled the sixteen
// registers) 10⁶ 1105–1133 → 966–981, 4096 4.63–4.70 → 4.08–4.12. Passes of 64, 128, 256,
// 512 and 1024 elements, one build (10⁶, two rounds): 463–468, 444–456, 426–441, 425–437,
// 426–430 µs. XLA's (jax.jit of `jnp.tanh`, 10⁶ f64, `taskset -c 1`, three runs in turn
// with ours): 400–407 µs at best, 411–413 the median, against ours 422–426 and 441–445.
//
// The bits are those of [`super::tanh`] in every lane (`tanh_slices_of_every_length_give_the_
// scalar_bits`): each step below is the scalar one's operation (a fused multiply-add for each
// `mul_add`, the comparisons' selects as `vminpd`, `vmaxpd` and masked operations with the
// scalar's NaN cases).

use super::{HALF_LN2, MAGIC, TANH_Q, TWICE_LOG2E};
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// The elements a pass takes (NOTE: [tanh-passes]).
const PASS: usize = 512;

/// `out[i] = tanh(x[i])` over f64, with the bits of [`super::tanh`] (NOTE: [tanh-passes]).
/// Elements past the shorter of the two slices are left alone.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512DQ.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn tanh64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
    let n = x.len().min(out.len());
    let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f64>());
    let whole = n / 8 * 8;
    let mut i = 0;
    while i < whole {
        // NOTE: [tanh-passes] e = e^(2|x|) − 1 of a pass into `out`, then tanh from it
        let end = whole.min(i + PASS);
        for j in (i..end).step_by(8) {
            // SAFETY: j + 8 ≤ whole ≤ n, the length of both slices; MaybeUninit<f64> has
            // f64's layout
            unsafe {
                let e = expm1_twice(clamped(_mm512_loadu_pd(src.add(j))));
                _mm512_storeu_pd(dst.add(j), e);
            }
        }
        for j in (i..end).step_by(8) {
            // SAFETY: as above, `out[j..j + 8]` written by the loop above
            unsafe {
                let e = _mm512_loadu_pd(dst.add(j));
                let y = with_sign(tanh_of_expm1(e), _mm512_loadu_pd(src.add(j)));
                _mm512_storeu_pd(dst.add(j), y);
            }
        }
        i = end;
    }
    // the last partial vector masked
    let rest = whole..n;
    lanes!(&x[rest.clone()], &mut out[rest], |v, _k| {
        with_sign(tanh_of_expm1(expm1_twice(clamped(v))), v)
    });
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
    // `super::tanh_q` (NOTE: [tanh-poly])
    let p01 = _mm512_fmadd_pd(c(1), r, c(0));
    let p23 = _mm512_fmadd_pd(c(3), r, c(2));
    let p45 = _mm512_fmadd_pd(c(5), r, c(4));
    let p67 = _mm512_fmadd_pd(c(7), r, c(6));
    let p89 = _mm512_fmadd_pd(c(9), r, c(8));
    let p03 = _mm512_fmadd_pd(p23, r2, p01);
    let p69 = _mm512_fmadd_pd(p89, r2, p67);
    let p49 = _mm512_fmadd_pd(p69, r2, p45);
    let q = _mm512_fmadd_pd(p49, _mm512_mul_pd(r2, r2), p03);
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

/// The AVX2 copy of [`tanh64`]: the same two passes in vectors of 4 lanes, the rest of the
/// slice by [`super::tanh`] (NOTE: [tanh-passes]).
pub(super) mod avx2 {
    use super::super::{HALF_LN2, MAGIC, TANH_Q, TWICE_LOG2E};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    /// `out[i] = tanh(x[i])` over f64, with the bits of [`super::super::tanh`]. Elements
    /// past the shorter of the two slices are left alone.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(in crate::kernels::math) unsafe fn tanh64(x: &[f64], out: &mut [MaybeUninit<f64>]) {
        let n = x.len().min(out.len());
        let (src, dst) = (x.as_ptr(), out.as_mut_ptr().cast::<f64>());
        let whole = n / 4 * 4;
        let mut i = 0;
        while i < whole {
            // NOTE: [tanh-passes]
            let end = whole.min(i + super::PASS);
            for j in (i..end).step_by(4) {
                // SAFETY: j + 4 ≤ whole ≤ n, the length of both slices; MaybeUninit<f64> has
                // f64's layout
                unsafe {
                    let e = expm1_twice(clamped(_mm256_loadu_pd(src.add(j))));
                    _mm256_storeu_pd(dst.add(j), e);
                }
            }
            for j in (i..end).step_by(4) {
                // SAFETY: as above, `out[j..j + 4]` written by the loop above
                unsafe {
                    let e = _mm256_loadu_pd(dst.add(j));
                    let y = with_sign(tanh_of_expm1(e), _mm256_loadu_pd(src.add(j)));
                    _mm256_storeu_pd(dst.add(j), y);
                }
            }
            i = end;
        }
        for (o, &v) in out[i..n].iter_mut().zip(&x[i..n]) {
            o.write(super::super::tanh(v));
        }
    }

    /// |x| clamped to 20, NaN kept (`vminpd` returns its second operand for NaN).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn clamped(x: __m256d) -> __m256d {
        let abs = _mm256_andnot_pd(_mm256_set1_pd(-0.0), x);
        _mm256_min_pd(_mm256_set1_pd(20.0), abs)
    }

    /// `super::super::expm1_twice`, lane by lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn expm1_twice(a: __m256d) -> __m256d {
        let magic = _mm256_set1_pd(MAGIC);
        let kb = _mm256_fmadd_pd(a, _mm256_set1_pd(TWICE_LOG2E), magic);
        let k = _mm256_sub_pd(kb, magic);
        let r = _mm256_fnmadd_pd(k, _mm256_set1_pd(HALF_LN2), a);
        let c = |i: usize| _mm256_set1_pd(TANH_Q[i]);
        let r2 = _mm256_mul_pd(r, r);
        // `super::super::tanh_q` (NOTE: [tanh-poly])
        let p01 = _mm256_fmadd_pd(c(1), r, c(0));
        let p23 = _mm256_fmadd_pd(c(3), r, c(2));
        let p45 = _mm256_fmadd_pd(c(5), r, c(4));
        let p67 = _mm256_fmadd_pd(c(7), r, c(6));
        let p89 = _mm256_fmadd_pd(c(9), r, c(8));
        let p03 = _mm256_fmadd_pd(p23, r2, p01);
        let p69 = _mm256_fmadd_pd(p89, r2, p67);
        let p49 = _mm256_fmadd_pd(p69, r2, p45);
        let q = _mm256_fmadd_pd(p49, _mm256_mul_pd(r2, r2), p03);
        let p = _mm256_fmadd_pd(r2, q, _mm256_add_pd(r, r));
        let one = _mm256_set1_pd(1.0);
        let s = _mm256_castsi256_pd(_mm256_add_epi64(
            _mm256_castpd_si256(one),
            _mm256_slli_epi64::<52>(_mm256_castpd_si256(kb)),
        ));
        _mm256_fmadd_pd(s, p, _mm256_sub_pd(s, one))
    }

    /// `super::super::tanh_of_expm1`, lane by lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tanh_of_expm1(e: __m256d) -> __m256d {
        let (one, two, half) = (
            _mm256_set1_pd(1.0),
            _mm256_set1_pd(2.0),
            _mm256_set1_pd(0.5),
        );
        let big = _mm256_cmp_pd::<_CMP_GT_OQ>(e, two);
        let lo = _mm256_min_pd(two, e);
        let hi = _mm256_max_pd(e, two);
        let d = _mm256_add_pd(e, two);
        let q = _mm256_div_pd(lo, d);
        let dd = _mm256_sub_pd(lo, _mm256_sub_pd(d, hi));
        let t = _mm256_fnmadd_pd(q, dd, _mm256_fnmadd_pd(q, d, lo));
        let h = _mm256_blendv_pd(_mm256_fnmadd_pd(q, half, half), _mm256_mul_pd(q, half), big);
        let m = _mm256_fmadd_pd(t, h, q);
        _mm256_blendv_pd(m, _mm256_sub_pd(one, m), big)
    }

    /// `y.copysign(x)` lane by lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn with_sign(y: __m256d, x: __m256d) -> __m256d {
        let sign = _mm256_set1_pd(-0.0);
        _mm256_or_pd(_mm256_andnot_pd(sign, y), _mm256_and_pd(sign, x))
    }
}
