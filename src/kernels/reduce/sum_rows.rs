//! Sums of contiguous rows of 9 elements or more, one after the other, each read in order, in
//! AVX-512 or AVX2 vectors written out (NOTE: [sum-rows]).
//!
//! NOTE: [sum-rows] Rows shorter than a run (under 512 f64, 2048 f32) were folded by the
//! generic code one at a time: [`super::fold_row`] through the walk's odometer, its runs'
//! dispatch and the pairwise stack it does not need, the 32 lanes in 16 vectors of two (where
//! the trip count is known only at run time, LLVM vectorized the lanes two at a time), and for
//! f32 each group's sums stored and loaded back (the `black_box` of NOTE: [f32-groups]). Row
//! sums of 16 to 1000 elements ran at 0.5–0.9 of torch on one core. Here the same additions in
//! the same order (so the same bits, tested against the generic fold for every kind of row)
//! are written in four 8-lane vectors (one AVX-512 register or two AVX2 ones each: [`Wide`]), a
//! row at a time from a plain loop over the rows. One
//! change of order that is not one: a group of f32 rows starts from its first row, not from
//! zeros plus it. The two differ only where a lane's sum in the group is a zero of the other
//! sign (`0 + (−0) = +0`), and that sum is then added into an f64 lane that is never −0 (it
//! starts at +0, and in round-to-nearest only `(−0) + (−0)` is −0), where either zero leaves
//! it as it is.
//!
//! f32 rows are summed in AVX2 vectors on either ISA: on AMD Zen 4 the AVX2 form of these loops
//! was faster than the AVX-512 one for f32 at every length tried (rows of 16: 114 against 169
//! µs, of 32: 91 against 124, of 512: 42 against 48; medians of three rounds in one process
//! each, the copies chosen by `FUNCTORCH_CPU_CAPABILITY`), and level or mixed for f64 (rows of
//! 32: 86 against 93–101, of 100: 95 against 84), which keep the copy's width. Not measured on
//! an Intel CPU, whose AVX-512 units are 512 bits wide. AMD Zen 4, one thread, 10⁶ elements
//! a call, medians of 1000 calls, three rounds alternated with the build before and with torch
//! (ours before → after, torch; under the AVX2 cap, the plain loop over the rows → the AVX2
//! kernels, torch's AVX2 route):
//!
//! | rows of | f64 | torch | f32 | torch | AVX2 cap: f64 | torch | f32 | torch |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|
//! | 16 | 258 → 94 µs | 237 | 524 → 114 µs | 275 | 169 → 93 | 238 | 204 → 114 | 275 |
//! | 32 | 154 → 93 | 140 | 172 → 91 | 149 | 126 → 86 | 140 | 168 → 91 | 148 |
//! | 64 | 134 → 84 | 98 | 168 → 83 | 86 | 121 → 83 | 99 | 175 → 82 | 86 |
//! | 100 | 140 → 84 | 101 | 134 → 73 | 72 | 118 → 95 | 101 | 134 → 73 | 72 |
//! | 128 | 122 → 82 | 89 | 99 → 55 | 57 | 103 → 82 | 89 | 105 → 55 | 57 |
//! | 256 | 106 → 82 | 90 | 65 → 43 | 46 | 95 → 81 | 90 | 66 → 43 | 46 |
//!
//! (The f32 figures of rows of 16 also count the f32 sums' f64 buffer going back to the pool,
//! `prims::reduce::sum_typed`.)
//!
//! Rows of a run or more read in order (not in quarters, NOTE: [streams]) take the same
//! kernels run by run, the parts' lanes combined in the pairwise stack's order
//! ([`long_row`]). The same machine and rounds, 10⁶ elements a call (before → after, torch):
//! f64 rows of 600 118–124 → 102 µs (87), of 1000 98–106 → 90 (86), of 2000 95 → 89 (86), of
//! 3000 to 10⁴ 90–92 → 86 (85–86); f32 rows of 3000 57 → 51 (44), of 5000 and 10⁴ level (48–51,
//! torch 44). Left: a part costs more than its reads (f64 rows of 513 take 110 µs where rows of
//! 511 take 84; f32 rows of 2048 49 where rows of 2047 take 43), not found: keeping the last
//! part in registers instead of pushing and popping it changed nothing. No closures in these
//! kernels (NOTE: [isa-copies]): an AVX2 `widen` written with `<[_; 2]>::map` left `try_map`
//! and `_mm256_cvtps_pd` as calls, compiled outside the ISA's copy, in one build (f32 rows of
//! 2048: 172 µs). Other folds (maxima, minima, the integer ones) and the baseline ISA keep the
//! generic code, in a plain loop over the rows where they lie one after the other.

use super::{LANES, run_len};
use std::arch::x86_64::*;

/// Eight f64 lanes and sixteen f32 lanes in the registers of one vector ISA, the operations the
/// sums need. Every method is `unsafe`: the CPU has the ISA's features.
pub(super) trait Wide: Copy {
    /// Eight f64 lanes.
    type D: Copy;
    /// Sixteen f32 lanes.
    type S: Copy;
    /// Eight zeros.
    unsafe fn zero() -> Self::D;
    /// Lane by lane `a + b`.
    unsafe fn add(a: Self::D, b: Self::D) -> Self::D;
    /// The 8 f64 from `p`, which may be read for 8.
    unsafe fn load_f64(p: *const f64) -> Self::D;
    /// The 8 f32 from `p` as f64; `p` may be read for 8.
    unsafe fn load_f32(p: *const f32) -> Self::D;
    /// The 16 f32 from `p`, which may be read for 16.
    unsafe fn load16(p: *const f32) -> Self::S;
    /// Lane by lane `a + b`, in f32.
    unsafe fn add16(a: Self::S, b: Self::S) -> Self::S;
    /// Lanes 0..8 and 8..16 of `s` as f64.
    unsafe fn widen(s: Self::S) -> [Self::D; 2];
    /// `a` with `t` added into lane 0.
    unsafe fn add_first(a: Self::D, t: f64) -> Self::D;
    /// The 8 lanes combined pairwise: `a[j] + a[j + w]` for `w` = 4, 2, 1.
    unsafe fn halves(a: Self::D) -> f64;
}

/// AVX-512 (F, DQ): eight f64 lanes in one register.
#[derive(Clone, Copy)]
struct Avx512;

impl Wide for Avx512 {
    type D = __m512d;
    type S = __m512;
    // SAFETY (every method): the CPU has AVX-512F and AVX-512DQ (the trait's promise); the
    // loads read what their callers promise may be read
    #[inline(always)]
    unsafe fn zero() -> __m512d {
        unsafe { _mm512_setzero_pd() }
    }
    #[inline(always)]
    unsafe fn add(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_add_pd(a, b) }
    }
    #[inline(always)]
    unsafe fn load_f64(p: *const f64) -> __m512d {
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn load_f32(p: *const f32) -> __m512d {
        unsafe { _mm512_cvtps_pd(_mm256_loadu_ps(p)) }
    }
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn add16(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn widen(s: __m512) -> [__m512d; 2] {
        unsafe {
            let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(s)));
            [
                _mm512_cvtps_pd(_mm512_castps512_ps256(s)),
                _mm512_cvtps_pd(hi),
            ]
        }
    }
    #[inline(always)]
    unsafe fn add_first(a: __m512d, t: f64) -> __m512d {
        unsafe { _mm512_mask_add_pd(a, 1, a, _mm512_set1_pd(t)) }
    }
    #[inline(always)]
    unsafe fn halves(a: __m512d) -> f64 {
        unsafe {
            let y = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd::<1>(a));
            let z = _mm_add_pd(_mm256_castpd256_pd128(y), _mm256_extractf128_pd::<1>(y));
            _mm_cvtsd_f64(_mm_add_sd(z, _mm_unpackhi_pd(z, z)))
        }
    }
}

/// AVX2: eight f64 lanes in two registers, lanes 0..4 and 4..8.
#[derive(Clone, Copy)]
struct Avx2;

impl Wide for Avx2 {
    type D = [__m256d; 2];
    type S = [__m256; 2];
    // SAFETY (every method): the CPU has AVX2 (the trait's promise); the loads read what
    // their callers promise may be read
    #[inline(always)]
    unsafe fn zero() -> [__m256d; 2] {
        unsafe { [_mm256_setzero_pd(); 2] }
    }
    #[inline(always)]
    unsafe fn add(a: [__m256d; 2], b: [__m256d; 2]) -> [__m256d; 2] {
        unsafe { [_mm256_add_pd(a[0], b[0]), _mm256_add_pd(a[1], b[1])] }
    }
    #[inline(always)]
    unsafe fn load_f64(p: *const f64) -> [__m256d; 2] {
        unsafe { [_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4))] }
    }
    #[inline(always)]
    unsafe fn load_f32(p: *const f32) -> [__m256d; 2] {
        unsafe {
            [
                _mm256_cvtps_pd(_mm_loadu_ps(p)),
                _mm256_cvtps_pd(_mm_loadu_ps(p.add(4))),
            ]
        }
    }
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> [__m256; 2] {
        unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] }
    }
    #[inline(always)]
    unsafe fn add16(a: [__m256; 2], b: [__m256; 2]) -> [__m256; 2] {
        unsafe { [_mm256_add_ps(a[0], b[0]), _mm256_add_ps(a[1], b[1])] }
    }
    #[inline(always)]
    unsafe fn widen(s: [__m256; 2]) -> [[__m256d; 2]; 2] {
        // (no closures here: NOTE: [isa-copies])
        unsafe {
            [
                [
                    _mm256_cvtps_pd(_mm256_castps256_ps128(s[0])),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(s[0])),
                ],
                [
                    _mm256_cvtps_pd(_mm256_castps256_ps128(s[1])),
                    _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(s[1])),
                ],
            ]
        }
    }
    #[inline(always)]
    unsafe fn add_first(a: [__m256d; 2], t: f64) -> [__m256d; 2] {
        unsafe {
            let sum = _mm256_add_pd(a[0], _mm256_set1_pd(t));
            [_mm256_blend_pd::<1>(a[0], sum), a[1]]
        }
    }
    #[inline(always)]
    unsafe fn halves(a: [__m256d; 2]) -> f64 {
        unsafe {
            let y = _mm256_add_pd(a[0], a[1]);
            let z = _mm_add_pd(_mm256_castpd256_pd128(y), _mm256_extractf128_pd::<1>(y));
            _mm_cvtsd_f64(_mm_add_sd(z, _mm_unpackhi_pd(z, z)))
        }
    }
}

/// An element of a sum folded here: f32 or f64, read 8 at a time as f64.
pub(super) trait Lane: Copy {
    /// The 8 elements from `p`, as f64.
    ///
    /// # Safety
    /// The CPU has `V`'s features, and `p` may be read for 8 elements.
    unsafe fn load8<V: Wide>(p: *const Self) -> V::D;
    /// The element as f64.
    fn wide(self) -> f64;
}

impl Lane for f64 {
    #[inline(always)]
    unsafe fn load8<V: Wide>(p: *const f64) -> V::D {
        // SAFETY: as the caller promises
        unsafe { V::load_f64(p) }
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self
    }
}

impl Lane for f32 {
    #[inline(always)]
    unsafe fn load8<V: Wide>(p: *const f32) -> V::D {
        // SAFETY: as the caller promises
        unsafe { V::load_f32(p) }
    }
    #[inline(always)]
    fn wide(self) -> f64 {
        self as f64
    }
}

/// The sums of the rows of `len` elements of `x` (`len ≥ 9`, `x` whole rows), into `out`, with
/// the bits of [`super::fold_row`] reading each row in order, in AVX-512 (NOTE: [sum-rows]).
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512VL.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn sum_rows_avx512<T: Lane>(x: &[T], len: usize, out: &mut [f64]) {
    // SAFETY: the CPU has AVX-512 (the caller promises)
    unsafe { sum_rows::<Avx512, T>(x, len, out) }
}

/// [`sum_rows_avx512`] in AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn sum_rows_avx2<T: Lane>(x: &[T], len: usize, out: &mut [f64]) {
    // SAFETY: the CPU has AVX2 (the caller promises)
    unsafe { sum_rows::<Avx2, T>(x, len, out) }
}

/// [`sum_rows_avx512`] in the vectors of `V`.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn sum_rows<V: Wide, T: Lane>(x: &[T], len: usize, out: &mut [f64]) {
    assert!(
        len >= 9 && x.len() == out.len() * len,
        "internal error: rows of 9 elements or more, whole"
    );
    // SAFETY (all calls): the CPU has `V`'s features (the caller promises), and every row is
    // inside `x` (asserted above)
    if len <= LANES {
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { short_row::<V, T>(row) };
        }
    } else if len >= run_len::<T>() {
        let mut stack = Vec::with_capacity(64);
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { collapse::<V>(long_row::<V, T>(row, &mut stack)) };
        }
    } else {
        for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *p = unsafe { collapse::<V>(lanes::<V, T>(row)) };
        }
    }
}

/// [`super::fold_runs`] of a row of a run or more read in order: each run's lanes, and the
/// tail's, combined in the pairwise tree of the binary counter over them ([`super::push_lanes`],
/// [`super::flush_lanes`]); `stack` is scratch.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn long_row<V: Wide, T: Lane>(row: &[T], stack: &mut Vec<[V::D; 4]>) -> [V::D; 4] {
    stack.clear();
    let runs = row.chunks_exact(run_len::<T>());
    let rest = runs.remainder();
    let mut parts = runs.chain((!rest.is_empty()).then_some(rest));
    // SAFETY (each call): the CPU has `V`'s features (the caller promises)
    let mut top = unsafe { lanes::<V, T>(parts.next().expect("a run at least")) };
    // part `i` pushed when part `i + 1` is there; the last one stays in registers, and the
    // flush adds the stack into it from the top, as pushing it and then flushing would
    for (i, part) in parts.enumerate() {
        let mut acc = top;
        let mut k = i;
        while k & 1 == 1 {
            let s = stack.pop().expect("one entry per 1 bit");
            acc = unsafe { add4::<V>(s, acc) };
            k >>= 1;
        }
        stack.push(acc);
        top = unsafe { lanes::<V, T>(part) };
    }
    while let Some(s) = stack.pop() {
        top = unsafe { add4::<V>(s, top) };
    }
    top
}

/// Lane by lane `a + b` of 32 lanes.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn add4<V: Wide>(a: [V::D; 4], b: [V::D; 4]) -> [V::D; 4] {
    // SAFETY: register operations only; the CPU has `V`'s features (the caller promises)
    // (no closures here: NOTE: [isa-copies])
    unsafe {
        [
            V::add(a[0], b[0]),
            V::add(a[1], b[1]),
            V::add(a[2], b[2]),
            V::add(a[3], b[3]),
        ]
    }
}

/// The lanes of a run, or of a row's part after its whole runs: [`grouped_tail`] for f32,
/// [`tail`] for f64 ([`super::fold_run`] and [`super::fold_tail`] take them so).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn lanes<V: Wide, T: Lane>(part: &[T]) -> [V::D; 4] {
    // SAFETY: the CPU has `V`'s features (the caller promises)
    unsafe {
        if size_of::<T>() == 4 {
            grouped_tail::<V, T>(part)
        } else {
            tail::<V, T>(part)
        }
    }
}

/// [`super::fold_short`] of a row of 9 to 32 elements: its whole eights into 8 lanes, the lanes
/// combined pairwise, then the rest in order.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn short_row<V: Wide, T: Lane>(row: &[T]) -> f64 {
    let (eights, rest) = row.as_chunks::<8>();
    // SAFETY: each load reads one of the row's whole eights; the CPU has `V`'s features (the
    // caller promises)
    unsafe {
        let mut acc = V::add(V::zero(), T::load8::<V>(eights[0].as_ptr()));
        for e in &eights[1..] {
            acc = V::add(acc, T::load8::<V>(e.as_ptr()));
        }
        let mut a = V::halves(acc);
        for &v in rest {
            a += v.wide();
        }
        a
    }
}

/// [`super::fold_tail`] of a row of f64 (33 to 511 elements, or a whole run as
/// [`super::fold_run`] takes it): element `k` into lane `k % 32`
/// (four vectors of 8 lanes), the last partial row's whole eights into lanes 0..24 and the rest
/// in order into lane 24.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn tail<V: Wide, T: Lane>(row: &[T]) -> [V::D; 4] {
    let (rows, _) = row.as_chunks::<LANES>();
    // SAFETY: each load reads 8 elements of one of the row's whole rows of LANES; the CPU has
    // `V`'s features (the caller promises)
    unsafe {
        let mut acc = [V::zero(); 4];
        for r in rows {
            for (q, a) in acc.iter_mut().enumerate() {
                *a = V::add(*a, T::load8::<V>(r.as_ptr().add(8 * q)));
            }
        }
        partial::<V, T>(acc, &row[rows.len() * LANES..])
    }
}

/// [`super::fold_tail`] of a row of f32 (33 to 2047 elements, or a whole run as
/// [`super::fold_run`] takes it): its whole rows of 32 in groups
/// of up to 8, summed lane by lane in f32 in order, each group's sums added into the f64 lanes;
/// then the last partial row as [`tail`] takes it (NOTE: [f32-groups]).
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn grouped_tail<V: Wide, T: Lane>(row: &[T]) -> [V::D; 4] {
    debug_assert_eq!(size_of::<T>(), 4);
    let (rows, _) = row.as_chunks::<LANES>();
    // SAFETY: `T` is f32 (its size is 4, and `Lane` is f32 or f64); each load reads 16
    // elements of one of the row's whole rows of LANES; the CPU has `V`'s features (the caller
    // promises)
    unsafe {
        let mut acc = [V::zero(); 4];
        for group in rows.chunks(8) {
            // the group's first row as it is, not added to zeros: see NOTE: [sum-rows]
            let p = group[0].as_ptr().cast::<f32>();
            let (mut lo, mut hi) = (V::load16(p), V::load16(p.add(16)));
            for r in &group[1..] {
                let p = r.as_ptr().cast::<f32>();
                lo = V::add16(lo, V::load16(p));
                hi = V::add16(hi, V::load16(p.add(16)));
            }
            let [a, b] = V::widen(lo);
            let [c, d] = V::widen(hi);
            for (s, w) in acc.iter_mut().zip([a, b, c, d]) {
                *s = V::add(*s, w);
            }
        }
        partial::<V, T>(acc, &row[rows.len() * LANES..])
    }
}

/// The last partial row (`rest`, under [`LANES`] elements) stepped into `acc` as
/// [`super::step_partial`] steps it: whole eights into lanes 0..8, 8..16, 16..24, the rest in
/// order, combined into lane 24.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn partial<V: Wide, T: Lane>(mut acc: [V::D; 4], rest: &[T]) -> [V::D; 4] {
    let (eights, left) = rest.as_chunks::<8>();
    // SAFETY: each load reads one of `rest`'s whole eights; the CPU has `V`'s features (the
    // caller promises)
    unsafe {
        for (a, e) in acc.iter_mut().zip(eights) {
            *a = V::add(*a, T::load8::<V>(e.as_ptr()));
        }
        if !left.is_empty() {
            let mut t = 0.0;
            for &v in left {
                t += v.wide();
            }
            acc[3] = V::add_first(acc[3], t);
        }
    }
    acc
}

/// [`super::collapse`] of 32 lanes in four vectors: `a[j] + a[j + w]` for `w` = 16, 8, 4, 2, 1.
///
/// # Safety
/// The CPU has `V`'s features.
#[inline(always)]
unsafe fn collapse<V: Wide>(a: [V::D; 4]) -> f64 {
    // SAFETY: register operations only; the CPU has `V`'s features (the caller promises)
    unsafe { V::halves(V::add(V::add(a[0], a[2]), V::add(a[1], a[3]))) }
}
