//! Sums, maxima and minima of contiguous rows of 9 elements or more, one after the other, each
//! read in order, in AVX-512 or AVX2 vectors written out (NOTE: [sum-rows], NOTE: [pick-rows]).
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
//! f32 rows are summed in AVX2 vectors where 512-bit operations run as two halves (AMD Zen 4,
//! NOTE: [halved-512]), in AVX-512 vectors elsewhere. On AMD Zen 4 the AVX2 form of these loops
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
//! On AMD Zen 5, whose units are 512 bits wide, the AVX-512 form is the faster for f32: one
//! thread, 10⁶ elements a call in the caches, medians of 300 calls, the two forms alternated
//! three times in one build (AVX2 → AVX-512, torch's `sum(1)` in the same minutes):
//!
//! | rows of | 16 | 32 | 48 | 64 | 100 | 128 | 256 | 1000 | 4096 |
//! |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
//! | f32 | 87–91 → 75–78 µs (192–199) | 72–76 → 53–56 (110–111) | 90–94 → 56–60 (77–79) | 65–69 → 47–50 (64) | 55–59 → 46–48 (52–53) | 41–44 → 39–42 (44–45) | 37–40 → 34–40 (41) | 38–41 → 32–40 (40–41) | 39–49 → 32–39 (40–41) |
//!
//! Rows of 200 were the exception (38–41 → 41–46 µs, torch 42), not looked into: every other
//! one starts 32 bytes into a cache line, where each 64-byte load crosses into the next line
//! and no 32-byte load does.
//! From main memory (10⁷ elements, the `kernels` example, five rounds alternated) rows of 64,
//! of 100 and of 10⁴ read level either way.
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
//! 2048: 172 µs). Maxima and minima take the same kernels (NOTE: [pick-rows]); other folds
//! (the integer ones) and the baseline ISA keep the generic code, in a plain loop over the rows
//! where they lie one after the other.
//!
//! NOTE: [pick-rows] Maxima and minima of rows (`amax`, and the shift of `softmax`,
//! `log_softmax` and `logsumexp`) had kept the generic fold, where LLVM compiled the part after
//! a row's whole runs (all of a row shorter than a run) one element at a time (`vmovss`,
//! `vinsertps`, a compare, a compare-unordered and a blend per element): rows of 64 f64 read
//! at 15 GB/s, 3.5–5× slower than torch for rows of 64 to 1000. The kernels here are the sums'
//! ([`RowFold`]: the same lanes, parts and pairwise order) with [`super::Pick`]'s step in
//! vectors: `max(v, a)` is `v > a ? v : a`, which keeps `a` where either is NaN, and a NaN `v`
//! is blended in after (compare-unordered), so each lane gives the bits of the generic step,
//! ties of ±0 (the earlier kept) and NaN payloads (the later wins) included, tested against
//! the generic fold on rows of such values. The first elements of a part are loaded as they
//! are (a step into −∞ gives the element itself, or −∞ where they are equal: 195 → 159 µs for
//! rows of 16 f64). f64 rows in the copy's vectors, f32 rows in AVX2's, as for the sums. AMD
//! Zen 4, one thread, 10⁶ elements a call, medians of 300 calls (the build before → this one,
//! torch's `amax(1)` in the same minutes):
//!
//! | rows of | 16 | 64 | 100 | 256 | 1000 | 10⁴ |
//! |---|---:|---:|---:|---:|---:|---:|
//! | f64 | 390 → 160 µs (365) | 543 → 101 (108) | 492 → 138 (152) | 351 → 86 (96) | 172 → 107 (109) | 123 → 90 (86) |
//! | f32 | 417 → 109 (1090) | 495 → 60 (90) | 460 → 73 (122) | 340 → 47 (60) | 307 → 42 (68) | 82 → 47 (48) |
//!
//! `logsumexp` of those rows (its maximum, then the sum of the exponentials shifted): f32 rows of
//! 64 982 → 548 µs (torch 1164), f64 1634 → 1206 (2155); `softmax` f32 rows of 64 1134 → 702
//! (torch 723).
//!
//! NOTE: [short-streams] From main memory, rows shorter than a run read one after the other ran
//! at half the rate of the same bytes in long rows: f64 row sums of 80 MB on one thread (AMD
//! Zen 4) took 4.9–5.6 ms in rows of 64, 4.0–4.3 in rows of 128, 3.0–3.3 in rows of 100 and
//! 200, against 1.9 ms in rows of 10⁴ and torch's 2.1–2.9 ms; in the L2 and L3 caches they were
//! level with torch. The loop is not what costs: a plain loop over the same buffer ran 2× as
//! fast only in some builds, and slowing each row down by a chain of 16 multiply-adds through
//! the stack (a scratch build) made the rows of 64 twice as fast (2.4–2.6 ms). Loads issued
//! faster than the hardware prefetcher streams the rows wait on memory instead. Read four at a
//! time, row `i` of each quarter of the rows (four streams, each at a quarter of the rate), they
//! take 2.1–2.7 ms (rows of 64), 1.8–2.0 (100, 128, 200). Where the quarters are read at all
//! (an input of 16 MiB or more, NOTE: [streams]), whether short rows are read so is measured
//! like the other quarters (NOTE: [streams-measured]), rows of up to [`LANES`] and longer ones
//! apart (rows of 16 about level: 2.5–3.0 against 2.4–2.8 ms). Each row is folded by the same
//! code either way, so the bits do not change. The quarters' loop has functions of its own
//! ([`rows_in_avx512`], [`rows_in_avx2`]): in one function with the loop in order, rows of
//! 16 f64 in the L2 cache took 105 µs against 95. AMD Zen 4, 10⁷ elements a call, medians of
//! 40 calls, the build before and this one alternated twice beside torch (before → after,
//! torch):
//!
//! | rows of | 64 | 100 | 128 | 200 |
//! |---|---:|---:|---:|---:|
//! | f64 sums, one thread | 4.93–5.43 → 2.06–2.69 ms (2.49–2.92) | 2.99–3.03 → 1.83–1.88 (2.94–3.24) | 3.96–3.97 → 1.82–2.04 (2.69–2.90) | 3.04–3.11 → 1.91–2.03 (2.87–3.19) |
//! | f64 sums, two threads | 2.30–2.69 → 1.56–1.75 (1.83–2.17) | 1.73–1.80 → 1.58–1.72 (1.95–2.16) | 1.93–2.29 → 1.70–2.02 (1.71–1.86) | 1.73–1.85 → 1.56–2.20 (1.90–1.92) |
//! | f64 maxima, one thread | 2.11–2.17 → 1.90–1.98 (2.53–2.82) | 2.16–2.23 → 1.79–1.96 (2.80–3.08) | 1.97–2.17 → 1.83–1.93 (2.42–2.68) | 2.06–2.11 → 1.83–2.03 (2.75–2.92) |
//! | f32 sums, one thread | 1.14–1.18 → 1.21–1.22 (1.19–1.30) | 1.08–1.20 → 1.01 (1.12–1.48) | 0.96–1.10 → 0.88–0.93 (1.08–1.13) | 0.94–0.97 → 0.68–0.71 (0.96–1.13) |

use super::{FAR_BYTES, LANES, STREAMS, TILE_AHEAD, prefetch_ahead, run_len};
use std::arch::x86_64::*;
use std::marker::PhantomData;

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

/// Eight f64 or f32 lanes of maxima or minima in the registers of one vector ISA (NOTE:
/// [pick-rows]). Every method that takes or gives `V` is `unsafe`: the CPU has the ISA's
/// features.
pub(super) trait PickWide: Copy {
    /// The element, and a lane's accumulator.
    type E: Copy + PartialOrd;
    /// Eight lanes.
    type V: Copy;
    /// The empty accumulator: −∞ for a maximum, +∞ for a minimum.
    fn empty(max: bool) -> Self::E;
    /// Eight lanes of `t`.
    unsafe fn splat(t: Self::E) -> Self::V;
    /// The 8 elements from `p`, which may be read for 8.
    unsafe fn load(p: *const Self::E) -> Self::V;
    /// Lane by lane [`super::Pick`]'s step: `v` where it is NaN or beyond `a` (above it for a
    /// maximum, `MAX`, below it for a minimum), else `a`.
    unsafe fn pick<const MAX: bool>(a: Self::V, v: Self::V) -> Self::V;
    /// `a` with lane 0 replaced by that of `b`.
    unsafe fn first_of(a: Self::V, b: Self::V) -> Self::V;
    /// The 8 lanes picked pairwise: `pick(a[j], a[j + w])` for `w` = 4, 2, 1.
    unsafe fn halves<const MAX: bool>(a: Self::V) -> Self::E;
}

/// [`PickWide::pick`] of two f64 lanes (SSE2): `_mm_max_pd(v, a)` is `v > a ? v : a`, which
/// keeps `a` where either is NaN, so a NaN `v` is blended in after.
#[inline(always)]
unsafe fn pick_pd<const MAX: bool>(a: __m128d, v: __m128d) -> __m128d {
    // SAFETY: register operations only, in SSE2 and SSE4.1 (the caller's ISA has both)
    unsafe {
        let m = if MAX {
            _mm_max_pd(v, a)
        } else {
            _mm_min_pd(v, a)
        };
        _mm_blendv_pd(m, v, _mm_cmpunord_pd(v, v))
    }
}

/// [`pick_pd`] of four f64 lanes (AVX).
#[inline(always)]
unsafe fn pick_pd4<const MAX: bool>(a: __m256d, v: __m256d) -> __m256d {
    // SAFETY: register operations only (the caller's ISA has AVX)
    unsafe {
        let m = if MAX {
            _mm256_max_pd(v, a)
        } else {
            _mm256_min_pd(v, a)
        };
        _mm256_blendv_pd(m, v, _mm256_cmp_pd::<_CMP_UNORD_Q>(v, v))
    }
}

/// [`pick_pd`] of four f32 lanes (SSE4.1).
#[inline(always)]
unsafe fn pick_ps<const MAX: bool>(a: __m128, v: __m128) -> __m128 {
    // SAFETY: register operations only (the caller's ISA has SSE4.1)
    unsafe {
        let m = if MAX {
            _mm_max_ps(v, a)
        } else {
            _mm_min_ps(v, a)
        };
        _mm_blendv_ps(m, v, _mm_cmpunord_ps(v, v))
    }
}

/// Two f64 lanes of `z` picked: `pick(z[0], z[1])`.
#[inline(always)]
unsafe fn pick_pair<const MAX: bool>(z: __m128d) -> f64 {
    // SAFETY: register operations only (SSE2)
    unsafe { _mm_cvtsd_f64(pick_pd::<MAX>(z, _mm_unpackhi_pd(z, z))) }
}

/// Eight f64 lanes in one AVX-512 register.
#[derive(Clone, Copy)]
struct PickAvx512;

impl PickWide for PickAvx512 {
    type E = f64;
    type V = __m512d;
    fn empty(max: bool) -> f64 {
        if max {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }
    }
    // SAFETY (every method): the CPU has AVX-512F and AVX-512DQ (the trait's promise); the
    // loads read what their callers promise may be read
    #[inline(always)]
    unsafe fn splat(t: f64) -> __m512d {
        unsafe { _mm512_set1_pd(t) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m512d {
        unsafe { _mm512_loadu_pd(p) }
    }
    #[inline(always)]
    unsafe fn pick<const MAX: bool>(a: __m512d, v: __m512d) -> __m512d {
        unsafe {
            let m = if MAX {
                _mm512_max_pd(v, a)
            } else {
                _mm512_min_pd(v, a)
            };
            _mm512_mask_blend_pd(_mm512_cmp_pd_mask::<_CMP_UNORD_Q>(v, v), m, v)
        }
    }
    #[inline(always)]
    unsafe fn first_of(a: __m512d, b: __m512d) -> __m512d {
        unsafe { _mm512_mask_blend_pd(1, a, b) }
    }
    #[inline(always)]
    unsafe fn halves<const MAX: bool>(a: __m512d) -> f64 {
        unsafe {
            let y = pick_pd4::<MAX>(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd::<1>(a));
            let z = pick_pd::<MAX>(_mm256_castpd256_pd128(y), _mm256_extractf128_pd::<1>(y));
            pick_pair::<MAX>(z)
        }
    }
}

/// Eight f64 lanes in two AVX2 registers, lanes 0..4 and 4..8.
#[derive(Clone, Copy)]
pub(super) struct PickAvx2;

impl PickWide for PickAvx2 {
    type E = f64;
    type V = [__m256d; 2];
    fn empty(max: bool) -> f64 {
        PickAvx512::empty(max)
    }
    // SAFETY (every method): the CPU has AVX2 (the trait's promise); the loads read what their
    // callers promise may be read
    #[inline(always)]
    unsafe fn splat(t: f64) -> [__m256d; 2] {
        unsafe { [_mm256_set1_pd(t); 2] }
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> [__m256d; 2] {
        unsafe { [_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4))] }
    }
    #[inline(always)]
    unsafe fn pick<const MAX: bool>(a: [__m256d; 2], v: [__m256d; 2]) -> [__m256d; 2] {
        unsafe { [pick_pd4::<MAX>(a[0], v[0]), pick_pd4::<MAX>(a[1], v[1])] }
    }
    #[inline(always)]
    unsafe fn first_of(a: [__m256d; 2], b: [__m256d; 2]) -> [__m256d; 2] {
        unsafe { [_mm256_blend_pd::<1>(a[0], b[0]), a[1]] }
    }
    #[inline(always)]
    unsafe fn halves<const MAX: bool>(a: [__m256d; 2]) -> f64 {
        unsafe {
            let y = pick_pd4::<MAX>(a[0], a[1]);
            let z = pick_pd::<MAX>(_mm256_castpd256_pd128(y), _mm256_extractf128_pd::<1>(y));
            pick_pair::<MAX>(z)
        }
    }
}

/// Eight f32 lanes in one AVX2 register.
#[derive(Clone, Copy)]
pub(super) struct PickAvx2F32;

impl PickWide for PickAvx2F32 {
    type E = f32;
    type V = __m256;
    fn empty(max: bool) -> f32 {
        if max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        }
    }
    // SAFETY (every method): the CPU has AVX2 (the trait's promise); the loads read what their
    // callers promise may be read
    #[inline(always)]
    unsafe fn splat(t: f32) -> __m256 {
        unsafe { _mm256_set1_ps(t) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn pick<const MAX: bool>(a: __m256, v: __m256) -> __m256 {
        unsafe {
            let m = if MAX {
                _mm256_max_ps(v, a)
            } else {
                _mm256_min_ps(v, a)
            };
            _mm256_blendv_ps(m, v, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v))
        }
    }
    #[inline(always)]
    unsafe fn first_of(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_blend_ps::<1>(a, b) }
    }
    #[inline(always)]
    unsafe fn halves<const MAX: bool>(a: __m256) -> f32 {
        unsafe {
            // lanes j and j + 4, then j and j + 2 (`movehl`: lanes 2, 3 under 0, 1), then 0
            // and 1 (`movehdup`: lane 1 under 0)
            let z = pick_ps::<MAX>(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
            let w = pick_ps::<MAX>(z, _mm_movehl_ps(z, z));
            _mm_cvtss_f32(pick_ps::<MAX>(w, _mm_movehdup_ps(w)))
        }
    }
}

/// A fold of rows written out here: eight lanes of accumulators in one ISA's registers (`V`),
/// and what [`super::fold_row`] does with them for the [`super::Fold`] this stands for (a sum
/// or a maximum or minimum). Every method that takes or gives `V` is `unsafe`: the CPU has the
/// ISA's features.
pub(super) trait RowFold: Copy {
    /// The element.
    type E: Copy;
    /// A lane's accumulator.
    type A: Copy;
    /// Eight lanes.
    type V: Copy;
    /// Eight empty accumulators ([`super::Fold::init`]).
    unsafe fn init() -> Self::V;
    /// The 8 elements from `p` stepped into `a` lane by lane ([`super::Fold::step`]); `p` may
    /// be read for 8.
    unsafe fn step8(a: Self::V, p: *const Self::E) -> Self::V;
    /// [`RowFold::step8`] into empty accumulators.
    #[inline(always)]
    unsafe fn first8(p: *const Self::E) -> Self::V {
        // SAFETY: as the caller promises
        unsafe { Self::step8(Self::init(), p) }
    }
    /// Lane by lane [`super::Fold::combine`], `a` the earlier.
    unsafe fn combine(a: Self::V, b: Self::V) -> Self::V;
    /// `a` with `t` combined into lane 0 (`t` the later).
    unsafe fn combine_first(a: Self::V, t: Self::A) -> Self::V;
    /// The 8 lanes combined pairwise: `a[j] ∘ a[j + w]` for `w` = 4, 2, 1.
    unsafe fn halves(a: Self::V) -> Self::A;
    /// The empty accumulator.
    fn init1() -> Self::A;
    /// `a` with one more element.
    fn step1(a: Self::A, v: Self::E) -> Self::A;
    /// The lanes of a run, or of a row's part after its whole runs, as [`super::fold_run`]
    /// and [`super::fold_tail`] take them.
    ///
    /// # Safety
    /// The CPU has the ISA's features.
    #[inline(always)]
    unsafe fn part(part: &[Self::E]) -> [Self::V; 4] {
        // SAFETY: as the caller promises
        unsafe { tail::<Self>(part) }
    }
}

/// The sum of f32 or f64 elements in f64 lanes of `W` ([`super::SumF64`], NOTE: [sum-rows]).
#[derive(Clone, Copy)]
struct Sum<W, T>(PhantomData<(W, T)>);

impl<W: Wide, T: Lane> RowFold for Sum<W, T> {
    type E = T;
    type A = f64;
    type V = W::D;
    // SAFETY (every method): the CPU has `W`'s features (the trait's promise); `step8` reads
    // what its caller promises may be read
    #[inline(always)]
    unsafe fn init() -> W::D {
        unsafe { W::zero() }
    }
    #[inline(always)]
    unsafe fn step8(a: W::D, p: *const T) -> W::D {
        unsafe { W::add(a, T::load8::<W>(p)) }
    }
    #[inline(always)]
    unsafe fn combine(a: W::D, b: W::D) -> W::D {
        unsafe { W::add(a, b) }
    }
    #[inline(always)]
    unsafe fn combine_first(a: W::D, t: f64) -> W::D {
        unsafe { W::add_first(a, t) }
    }
    #[inline(always)]
    unsafe fn halves(a: W::D) -> f64 {
        unsafe { W::halves(a) }
    }
    #[inline(always)]
    fn init1() -> f64 {
        0.0
    }
    #[inline(always)]
    fn step1(a: f64, v: T) -> f64 {
        a + v.wide()
    }
    #[inline(always)]
    unsafe fn part(part: &[T]) -> [W::D; 4] {
        // SAFETY: the CPU has `W`'s features (the caller promises)
        unsafe {
            if size_of::<T>() == 4 {
                grouped_tail::<W, T>(part)
            } else {
                tail::<Self>(part)
            }
        }
    }
}

/// The maximum (`MAX`) or minimum in lanes of `P` ([`super::Pick`], NOTE: [pick-rows]).
#[derive(Clone, Copy)]
struct Picked<P, const MAX: bool>(PhantomData<P>);

impl<P: PickWide, const MAX: bool> RowFold for Picked<P, MAX> {
    type E = P::E;
    type A = P::E;
    type V = P::V;
    // SAFETY (every method): the CPU has `P`'s features (the trait's promise); `step8` reads
    // what its caller promises may be read
    #[inline(always)]
    unsafe fn init() -> P::V {
        unsafe { P::splat(P::empty(MAX)) }
    }
    #[inline(always)]
    unsafe fn step8(a: P::V, p: *const P::E) -> P::V {
        unsafe { P::pick::<MAX>(a, P::load(p)) }
    }
    /// The elements as they are: an element stepped into an empty accumulator (−∞ for a
    /// maximum) is itself, or that accumulator where they are equal (−∞ both).
    #[inline(always)]
    unsafe fn first8(p: *const P::E) -> P::V {
        unsafe { P::load(p) }
    }
    #[inline(always)]
    unsafe fn combine(a: P::V, b: P::V) -> P::V {
        unsafe { P::pick::<MAX>(a, b) }
    }
    #[inline(always)]
    unsafe fn combine_first(a: P::V, t: P::E) -> P::V {
        unsafe { P::first_of(a, P::pick::<MAX>(a, P::splat(t))) }
    }
    #[inline(always)]
    unsafe fn halves(a: P::V) -> P::E {
        unsafe { P::halves::<MAX>(a) }
    }
    #[inline(always)]
    fn init1() -> P::E {
        P::empty(MAX)
    }
    /// As [`super::Pick`]'s step.
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn step1(a: P::E, v: P::E) -> P::E {
        let beyond = if MAX { v > a } else { v < a };
        if beyond | (v != v) { v } else { a }
    }
}

/// The sums of the rows of `len` elements of `x` (`len ≥ 9`, `x` whole rows), into `out`, with
/// the bits of [`super::fold_row`] reading each row in order, in AVX-512 (NOTE: [sum-rows]).
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512VL.
pub(super) unsafe fn sum_rows_avx512<T: Lane>(
    x: &[T],
    len: usize,
    out: &mut [f64],
    quarters: bool,
) {
    // SAFETY: the CPU has AVX-512 (the caller promises)
    unsafe { rows_avx512::<Sum<Avx512, T>>(x, len, out, quarters) }
}

/// [`sum_rows_avx512`] in AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA.
pub(super) unsafe fn sum_rows_avx2<T: Lane>(x: &[T], len: usize, out: &mut [f64], quarters: bool) {
    // SAFETY: the CPU has AVX2 (the caller promises)
    unsafe { rows_avx2::<Sum<Avx2, T>>(x, len, out, quarters) }
}

/// The maxima (`MAX`) or minima of the rows of `len` f64 of `x` (`len ≥ 9`, `x` whole rows),
/// into `out`, with the bits of [`super::fold_row`] reading each row in order, in AVX-512
/// (NOTE: [pick-rows]).
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512VL.
pub(super) unsafe fn pick_rows_avx512<const MAX: bool>(
    x: &[f64],
    len: usize,
    out: &mut [f64],
    quarters: bool,
) {
    // SAFETY: the CPU has AVX-512 (the caller promises)
    unsafe { rows_avx512::<Picked<PickAvx512, MAX>>(x, len, out, quarters) }
}

/// An element whose maxima and minima of rows are folded here in AVX2: f64 or f32.
pub(super) trait PickLane: Copy {
    /// Its eight lanes in AVX2.
    type Avx2: PickWide<E = Self>;
}
impl PickLane for f64 {
    type Avx2 = PickAvx2;
}
impl PickLane for f32 {
    type Avx2 = PickAvx2F32;
}

/// [`pick_rows_avx512`] of f64 or f32, in AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA.
pub(super) unsafe fn pick_rows_avx2<T: PickLane, const MAX: bool>(
    x: &[T],
    len: usize,
    out: &mut [T],
    quarters: bool,
) {
    // SAFETY: the CPU has AVX2 (the caller promises)
    unsafe { rows_avx2::<Picked<T::Avx2, MAX>>(x, len, out, quarters) }
}

/// [`rows`] in the AVX-512 copy.
///
/// # Safety
/// The CPU has AVX-512F, AVX-512DQ and AVX-512VL, and `R`'s vectors are AVX-512's or AVX2's.
#[inline(always)]
unsafe fn rows_avx512<R: RowFold>(x: &[R::E], len: usize, out: &mut [R::A], quarters: bool) {
    // SAFETY: the CPU has AVX-512 (the caller promises)
    unsafe {
        if quarters {
            rows_in_avx512::<R, true>(x, len, out)
        } else {
            rows_in_avx512::<R, false>(x, len, out)
        }
    }
}

/// [`rows`] in the AVX-512 copy, four at a time from the quarters if `QUARTERS` (NOTE:
/// [short-streams]): the two ways are two functions, so that the loop in order compiles as it
/// did before the quarters (rows of 16 f64 in the L2 cache took 10% longer in one function
/// with both).
///
/// # Safety
/// As [`rows_avx512`].
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn rows_in_avx512<R: RowFold, const QUARTERS: bool>(
    x: &[R::E],
    len: usize,
    out: &mut [R::A],
) {
    // SAFETY: the CPU has AVX-512 (the caller promises)
    unsafe { rows::<R>(x, len, out, QUARTERS) }
}

/// [`rows`] in the AVX2 copy.
///
/// # Safety
/// The CPU has AVX2 and FMA, and `R`'s vectors are AVX2's.
#[inline(always)]
unsafe fn rows_avx2<R: RowFold>(x: &[R::E], len: usize, out: &mut [R::A], quarters: bool) {
    // SAFETY: the CPU has AVX2 (the caller promises)
    unsafe {
        if quarters {
            rows_in_avx2::<R, true>(x, len, out)
        } else {
            rows_in_avx2::<R, false>(x, len, out)
        }
    }
}

/// [`rows_in_avx512`] in the AVX2 copy.
///
/// # Safety
/// As [`rows_avx2`].
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_in_avx2<R: RowFold, const QUARTERS: bool>(x: &[R::E], len: usize, out: &mut [R::A]) {
    // SAFETY: the CPU has AVX2 (the caller promises)
    unsafe { rows::<R>(x, len, out, QUARTERS) }
}

/// The rows of `len` elements of `x` (`len ≥ 9`, `x` whole rows) folded by `R` into `out`,
/// with the bits of [`super::fold_row`]: one after the other, or four at a time from the four
/// quarters of the rows if `quarters` (NOTE: [short-streams]).
///
/// # Safety
/// The CPU has the features of `R`'s ISA.
#[inline(always)]
unsafe fn rows<R: RowFold>(x: &[R::E], len: usize, out: &mut [R::A], quarters: bool) {
    assert!(
        len >= 9 && x.len() == out.len() * len,
        "internal error: rows of 9 elements or more, whole"
    );
    // SAFETY (all calls): the CPU has `R`'s features (the caller promises), and the rows are
    // `x`'s (asserted above); each length its own loop, the test out of it
    unsafe {
        if len <= LANES {
            rows_of::<R, SHORT>(x, len, out, quarters)
        } else if len >= run_len::<R::E>() {
            rows_of::<R, LONG>(x, len, out, quarters)
        } else {
            rows_of::<R, PART>(x, len, out, quarters)
        }
    }
}

/// Rows of 9 to [`LANES`] elements ([`short_row`]).
const SHORT: u8 = 0;
/// Rows of [`LANES`] elements to a run ([`RowFold::part`]).
const PART: u8 = 1;
/// Rows of a run or more ([`long_row`]).
const LONG: u8 = 2;

/// [`rows`] of rows of the length `KIND` says.
///
/// NOTE: [rows-ahead] Rows shorter than a run read from main memory (an input of
/// [`FAR_BYTES`] or more) each first fetch their lines [`TILE_AHEAD`] bytes on, as the narrow
/// column tiles do (NOTE: [tiles-ahead]), in order or from the quarters. AMD Zen 5, one
/// thread, the `kernels` example, the two ways alternated three times: row sums of 156250 × 64
/// f64 2.34–2.58 → 1.68–1.80 ms (torch 2.0), 10⁵ × 100 f32 0.88–1.13 → 0.66–0.68 ms (torch
/// 1.0), 10⁵ × 100 f64 1.91–2.15 → 1.76–1.84 ms, maxima of 156250 × 64 f64 1.99–3.13 →
/// 1.76–2.19 ms; a scratch program, 10⁷ elements, best of 30 calls in three alternations: f64
/// rows of 12 2.13–2.82 → 1.56–1.73 ms, of 16 2.04–2.53 → 1.65–1.87, of 32 1.85–3.31 →
/// 1.63–1.83; f32 rows of 16 1.46–1.48 → 1.15–1.30, of 32 1.07–1.34 → 0.81–0.98, of 64
/// 1.05–1.11 → 0.72–0.76. Rows of a run or more are left as they were: fetched at each row's
/// start, a row of 10⁴ would send a burst of a thousand prefetches, and in the scratch program
/// rows of 512–2048 (prefetched that way) read within the noise of the machine's memory either
/// way.
///
/// # Safety
/// The CPU has the features of `R`'s ISA; `x` is `out.len()` rows of `len` elements, of the
/// length `KIND` says.
#[inline(always)]
unsafe fn rows_of<R: RowFold, const KIND: u8>(
    x: &[R::E],
    len: usize,
    out: &mut [R::A],
    quarters: bool,
) {
    let mut stack = Vec::new();
    // NOTE: [rows-ahead]
    let far = KIND != LONG && size_of_val(x) >= FAR_BYTES;
    if !quarters && far {
        for (p, r) in out.iter_mut().zip(x.chunks_exact(len)) {
            prefetch_ahead::<TILE_AHEAD, _>(r);
            // SAFETY: the CPU has `R`'s features, and the row is one of `x`'s (the caller
            // promises)
            *p = unsafe { row::<R, KIND>(r, &mut stack) };
        }
        return;
    }
    if !quarters {
        for (p, r) in out.iter_mut().zip(x.chunks_exact(len)) {
            // SAFETY: the CPU has `R`'s features, and the row is one of `x`'s (the caller
            // promises)
            *p = unsafe { row::<R, KIND>(r, &mut stack) };
        }
        return;
    }
    // NOTE: [short-streams] row `i` of each quarter, then row `i + 1` of each; the rows left
    // over (under four) after them, in order
    let q = out.len() / STREAMS;
    for i in 0..q {
        for s in 0..STREAMS {
            let r = s * q + i;
            if far {
                prefetch_ahead::<TILE_AHEAD, _>(&x[r * len..(r + 1) * len]);
            }
            // SAFETY: the CPU has `R`'s features, and the row is one of `x`'s (the caller
            // promises)
            out[r] = unsafe { row::<R, KIND>(&x[r * len..(r + 1) * len], &mut stack) };
        }
    }
    for (p, r) in out[STREAMS * q..]
        .iter_mut()
        .zip(x[STREAMS * q * len..].chunks_exact(len))
    {
        // SAFETY: as above
        *p = unsafe { row::<R, KIND>(r, &mut stack) };
    }
}

/// [`super::fold_row`] of one row of the length `KIND` says; `stack` is scratch.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn row<R: RowFold, const KIND: u8>(row: &[R::E], stack: &mut Vec<[R::V; 4]>) -> R::A {
    // SAFETY (all calls): the CPU has `R`'s features (the caller promises)
    unsafe {
        match KIND {
            SHORT => short_row::<R>(row),
            LONG => collapse::<R>(long_row::<R>(row, stack)),
            _ => collapse::<R>(R::part(row)),
        }
    }
}

/// [`super::fold_runs`] of a row of a run or more read in order: each run's lanes, and the
/// tail's, combined in the pairwise tree of the binary counter over them ([`super::push_lanes`],
/// [`super::flush_lanes`]); `stack` is scratch.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn long_row<R: RowFold>(row: &[R::E], stack: &mut Vec<[R::V; 4]>) -> [R::V; 4] {
    stack.clear();
    let runs = row.chunks_exact(run_len::<R::E>());
    let rest = runs.remainder();
    let mut parts = runs.chain((!rest.is_empty()).then_some(rest));
    // SAFETY (each call): the CPU has `R`'s features (the caller promises)
    let mut top = unsafe { R::part(parts.next().expect("a run at least")) };
    // part `i` pushed when part `i + 1` is there; the last one stays in registers, and the
    // flush combines the stack into it from the top, as pushing it and then flushing would
    for (i, part) in parts.enumerate() {
        let mut acc = top;
        let mut k = i;
        while k & 1 == 1 {
            let s = stack.pop().expect("one entry per 1 bit");
            acc = unsafe { combine4::<R>(s, acc) };
            k >>= 1;
        }
        stack.push(acc);
        top = unsafe { R::part(part) };
    }
    while let Some(s) = stack.pop() {
        top = unsafe { combine4::<R>(s, top) };
    }
    top
}

/// Lane by lane [`RowFold::combine`] of 32 lanes, `a` the earlier.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn combine4<R: RowFold>(a: [R::V; 4], b: [R::V; 4]) -> [R::V; 4] {
    // SAFETY: register operations only; the CPU has `R`'s features (the caller promises)
    // (no closures here: NOTE: [isa-copies])
    unsafe {
        [
            R::combine(a[0], b[0]),
            R::combine(a[1], b[1]),
            R::combine(a[2], b[2]),
            R::combine(a[3], b[3]),
        ]
    }
}

/// [`super::fold_short`] of a row of 9 to 32 elements: its whole eights into 8 lanes, the lanes
/// combined pairwise, then the rest in order.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn short_row<R: RowFold>(row: &[R::E]) -> R::A {
    let (eights, rest) = row.as_chunks::<8>();
    // SAFETY: each load reads one of the row's whole eights; the CPU has `R`'s features (the
    // caller promises)
    unsafe {
        let mut acc = R::first8(eights[0].as_ptr());
        for e in &eights[1..] {
            acc = R::step8(acc, e.as_ptr());
        }
        let mut a = R::halves(acc);
        for &v in rest {
            a = R::step1(a, v);
        }
        a
    }
}

/// [`super::fold_tail`] of a row (33 elements to a run's, or a whole run as
/// [`super::fold_run`] takes it) where each element is stepped in (f64 sums, maxima, minima):
/// element `k` into lane `k % 32` (four vectors of 8 lanes), the last partial row's whole
/// eights into lanes 0..24 and the rest in order into lane 24.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn tail<R: RowFold>(row: &[R::E]) -> [R::V; 4] {
    let (rows, _) = row.as_chunks::<LANES>();
    // SAFETY: each load reads 8 elements of one of the row's whole rows of LANES; the CPU has
    // `R`'s features (the caller promises)
    unsafe {
        let mut acc = match rows.first() {
            // (no closures here: NOTE: [isa-copies])
            Some(r) => {
                let p = r.as_ptr();
                [
                    R::first8(p),
                    R::first8(p.add(8)),
                    R::first8(p.add(16)),
                    R::first8(p.add(24)),
                ]
            }
            None => [R::init(); 4],
        };
        for r in rows.iter().skip(1) {
            for (q, a) in acc.iter_mut().enumerate() {
                *a = R::step8(*a, r.as_ptr().add(8 * q));
            }
        }
        partial::<R>(acc, &row[rows.len() * LANES..])
    }
}

/// [`super::fold_tail`] of a row of f32 summed (33 to 2047 elements, or a whole run as
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
        partial::<Sum<V, T>>(acc, &row[rows.len() * LANES..])
    }
}

/// The last partial row (`rest`, under [`LANES`] elements) stepped into `acc` as
/// [`super::step_partial`] steps it: whole eights into lanes 0..8, 8..16, 16..24, the rest in
/// order, combined into lane 24.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn partial<R: RowFold>(mut acc: [R::V; 4], rest: &[R::E]) -> [R::V; 4] {
    let (eights, left) = rest.as_chunks::<8>();
    // SAFETY: each load reads one of `rest`'s whole eights; the CPU has `R`'s features (the
    // caller promises)
    unsafe {
        for (a, e) in acc.iter_mut().zip(eights) {
            *a = R::step8(*a, e.as_ptr());
        }
        if !left.is_empty() {
            let mut t = R::init1();
            for &v in left {
                t = R::step1(t, v);
            }
            acc[3] = R::combine_first(acc[3], t);
        }
    }
    acc
}

/// [`super::collapse`] of 32 lanes in four vectors: `a[j] ∘ a[j + w]` for `w` = 16, 8, 4, 2,
/// 1.
///
/// # Safety
/// The CPU has `R`'s features.
#[inline(always)]
unsafe fn collapse<R: RowFold>(a: [R::V; 4]) -> R::A {
    // SAFETY: register operations only; the CPU has `R`'s features (the caller promises)
    unsafe { R::halves(R::combine(R::combine(a[0], a[2]), R::combine(a[1], a[3]))) }
}
