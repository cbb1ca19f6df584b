//! Sums of contiguous rows of 9 elements to a run, one after the other, in AVX-512 vectors
//! written out (NOTE: [sum-rows]).
//!
//! NOTE: [sum-rows] Rows shorter than a run (under 512 f64, 2048 f32) were folded by the
//! generic code one at a time: [`super::fold_row`] through the walk's odometer, its runs'
//! dispatch and the pairwise stack it does not need, the 32 lanes in 16 vectors of two (where
//! the trip count is known only at run time, LLVM vectorized the lanes two at a time), and for
//! f32 each group's sums stored and loaded back (the `black_box` of NOTE: [f32-groups]). Row
//! sums of 16 to 1000 elements ran at 0.5–0.9 of torch on one core. Here the same additions in
//! the same order (so the same bits, tested against the generic fold for every kind of row)
//! are written in four 8-lane vectors, a row at a time from a plain loop over the rows. One
//! change of order that is not one: a group of f32 rows starts from its first row, not from
//! zeros plus it. The two differ only where a lane's sum in the group is a zero of the other
//! sign (`0 + (−0) = +0`), and that sum is then added into an f64 lane that is never −0 (it
//! starts at +0, and in round-to-nearest only `(−0) + (−0)` is −0), where either zero leaves
//! it as it is. AMD Zen 4, one thread, 10⁶ elements a call, medians of 1000 calls, three
//! rounds alternated with the build before and with torch (ours before → after, torch):
//!
//! | rows of | f64 | torch | f32 | torch |
//! |---|---:|---:|---:|---:|
//! | 16 | 258 → 94 µs | 237 | 524 → 168 µs | 275 |
//! | 32 | 154 → 101 | 140 | 172 → 124 | 149 |
//! | 64 | 134 → 84 | 98 | 168 → 92 | 86 |
//! | 100 | 140 → 84 | 101 | 134 → 78 | 72 |
//! | 128 | 122 → 84 | 89 | 99 → 56 | 57 |
//! | 256 | 106 → 83 | 90 | 65 → 44 | 46 |
//!
//! (The f32 figures of rows of 16 also count the f32 sums' f64 buffer going back to the pool,
//! `prims::reduce::sum_typed`.) Other folds (maxima, minima, the integer ones), other ISAs and
//! rows of a run or more keep the generic code, in a plain loop over the rows where they lie
//! one after the other.

use super::{LANES, run_len};
use std::arch::x86_64::*;

/// An element of a sum folded here: f32 or f64, read 8 at a time as f64.
pub(super) trait Lane: Copy {
    /// The 8 elements from `p`, as f64.
    ///
    /// # Safety
    /// The CPU has AVX-512F, and `p` may be read for 8 elements.
    unsafe fn load8(p: *const Self) -> __m512d;
    /// The element as f64.
    fn wide(self) -> f64;
}

impl Lane for f64 {
    #[inline(always)]
    unsafe fn load8(p: *const f64) -> __m512d {
        // SAFETY: as the caller promises
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
}

impl Lane for f32 {
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> __m512d {
        // SAFETY: as the caller promises
        unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
}

/// The sums of the rows of `len` elements of `x` (`9 ≤ len < run_len::<T>()`, `x` whole rows),
/// into `out`, with the bits of [`super::fold_row`] (NOTE: [sum-rows]).
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512VL.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn sum_rows<T: Lane>(x: &[T], len: usize, out: &mut [f64]) {
    assert!(
        (9..run_len::<T>()).contains(&len) && x.len() == out.len() * len,
        "internal error: rows of 9 elements to a run, whole"
    );
    // SAFETY (all calls): the CPU has what this function is compiled for (the caller
    // promises), and every row is inside `x` (asserted above)
    if len <= LANES {
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { short_row(row) };
        }
    } else if size_of::<T>() == 4 {
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { collapse(grouped_tail(row)) };
        }
    } else {
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { collapse(tail(row)) };
        }
    }
}

/// [`super::fold_short`] of a row of 9 to 32 elements: its whole eights into 8 lanes, the lanes
/// combined pairwise, then the rest in order.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ.
#[inline(always)]
unsafe fn short_row<T: Lane>(row: &[T]) -> f64 {
    let (eights, rest) = row.as_chunks::<8>();
    // SAFETY: each load reads one of the row's whole eights; the CPU has AVX-512 (the
    // caller promises)
    unsafe {
        let mut acc = _mm512_add_pd(_mm512_setzero_pd(), T::load8(eights[0].as_ptr()));
        for e in &eights[1..] {
            acc = _mm512_add_pd(acc, T::load8(e.as_ptr()));
        }
        let a = halves(acc);
        rest.iter().fold(a, |a, &v| a + v.wide())
    }
}

/// [`super::fold_tail`] of a row of f64 (33 to 511 elements): element `k` into lane `k % 32`
/// (four vectors of 8 lanes), the last partial row's whole eights into lanes 0..24 and the rest
/// in order into lane 24.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn tail<T: Lane>(row: &[T]) -> [__m512d; 4] {
    let (rows, _) = row.as_chunks::<LANES>();
    // SAFETY: each load reads 8 elements of one of the row's whole rows of LANES; the CPU has
    // AVX-512 (the caller promises)
    unsafe {
        let mut acc = [_mm512_setzero_pd(); 4];
        for r in rows {
            for (q, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_pd(*a, T::load8(r.as_ptr().add(8 * q)));
            }
        }
        partial(acc, &row[rows.len() * LANES..])
    }
}

/// [`super::fold_tail`] of a row of f32 (33 to 2047 elements): its whole rows of 32 in groups
/// of up to 8, summed lane by lane in f32 in order, each group's sums added into the f64 lanes;
/// then the last partial row as [`tail`] takes it (NOTE: [f32-groups]).
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ.
#[inline(always)]
unsafe fn grouped_tail<T: Lane>(row: &[T]) -> [__m512d; 4] {
    debug_assert_eq!(size_of::<T>(), 4);
    let (rows, _) = row.as_chunks::<LANES>();
    // SAFETY: `T` is f32 (its size is 4, and `Lane` is f32 or f64); each load reads 16
    // elements of one of the row's whole rows of LANES; the CPU has AVX-512 (the caller
    // promises)
    unsafe {
        let mut acc = [_mm512_setzero_pd(); 4];
        for group in rows.chunks(8) {
            // the group's first row as it is, not added to zeros: see NOTE: [sum-rows]
            let p = group[0].as_ptr().cast::<f32>();
            let (mut lo, mut hi) = (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)));
            for r in &group[1..] {
                let p = r.as_ptr().cast::<f32>();
                lo = _mm512_add_ps(lo, _mm512_loadu_ps(p));
                hi = _mm512_add_ps(hi, _mm512_loadu_ps(p.add(16)));
            }
            for (k, q) in [lo, hi].into_iter().enumerate() {
                let (a, b) = (
                    _mm512_castps512_ps256(q),
                    _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(q))),
                );
                acc[2 * k] = _mm512_add_pd(acc[2 * k], _mm512_cvtps_pd(a));
                acc[2 * k + 1] = _mm512_add_pd(acc[2 * k + 1], _mm512_cvtps_pd(b));
            }
        }
        partial(acc, &row[rows.len() * LANES..])
    }
}

/// The last partial row (`rest`, under [`LANES`] elements) stepped into `acc` as
/// [`super::step_partial`] steps it: whole eights into lanes 0..8, 8..16, 16..24, the rest in
/// order, combined into lane 24.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn partial<T: Lane>(mut acc: [__m512d; 4], rest: &[T]) -> [__m512d; 4] {
    let (eights, left) = rest.as_chunks::<8>();
    // SAFETY: each load reads one of `rest`'s whole eights; the CPU has AVX-512 (the caller
    // promises)
    unsafe {
        for (a, e) in acc.iter_mut().zip(eights) {
            *a = _mm512_add_pd(*a, T::load8(e.as_ptr()));
        }
        if !left.is_empty() {
            let t = left.iter().fold(0.0, |a, &v| a + v.wide());
            acc[3] = _mm512_mask_add_pd(acc[3], 1, acc[3], _mm512_set1_pd(t));
        }
    }
    acc
}

/// [`super::collapse`] of 32 lanes in four vectors: `a[j] + a[j + w]` for `w` = 16, 8, 4, 2, 1.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ.
#[inline(always)]
unsafe fn collapse(a: [__m512d; 4]) -> f64 {
    // SAFETY: register operations only; the CPU has AVX-512 (the caller promises)
    unsafe {
        let a = _mm512_add_pd(_mm512_add_pd(a[0], a[2]), _mm512_add_pd(a[1], a[3]));
        halves(a)
    }
}

/// 8 lanes combined pairwise: `a[j] + a[j + w]` for `w` = 4, 2, 1.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512DQ.
#[inline(always)]
unsafe fn halves(a: __m512d) -> f64 {
    // SAFETY: register operations only; the CPU has AVX-512 (the caller promises)
    unsafe {
        let y = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd::<1>(a));
        let z = _mm_add_pd(_mm256_castpd256_pd128(y), _mm256_extractf128_pd::<1>(y));
        _mm_cvtsd_f64(_mm_add_sd(z, _mm_unpackhi_pd(z, z)))
    }
}
