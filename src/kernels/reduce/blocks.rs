//! Column sums of f32 tiles of 33 to 128 columns, a subtree of eight groups of rows at a time,
//! in AVX-512 vectors written out (NOTE: [window-blocks-512]).
//!
//! NOTE: [window-blocks-512] The generic subtree of eight groups through a window
//! ([`super::block_in_window`], NOTE: [window-blocks]) read 96 f32 columns of 10⁶ elements in
//! the caches in 47–51 µs (AMD Zen 5, one thread), where torch read them in 42–45 and a bare
//! loop of the same loads, joins, conversions and combines in 35–36. `perf` put 70–80% of its
//! time in the block's loop, in the L2 as in the L3 (1024 rows: 4.1–4.2 µs against 1.8–1.9
//! for the bare loop). What the bare loops showed (one thread, 96 columns, L2 / L3): storing
//! each pair's sums to the stack before combining them, as the generic block does (after a
//! `memset` of the four pairs), 2.0 → 3.0 / 36 → 40.5 µs; the rows' starts read from an array
//! (`at`), 36 → 38.6 in the L3. Here the block is written out: each group's f32 sums joined in
//! vectors, converted and stepped into f64 vectors, the pair's second group stepped straight
//! into the first's sums, the pairs combined as the tree combines them, in registers where
//! they fit, then one masked store of the block's sums; the rows are taken as the first and
//! the distance between them (the caller's rows lie along the innermost dim), the first and
//! last checked against the data once, so the loads need no checks of their own. The same
//! operations in the same order as the generic block, so the same bits (tests:
//! `the_block_sums_kernel_gives_the_bits_of_the_generic_block`, and through the dispatch
//! `narrow_columns_in_windows_give_the_bits_of_gathered_columns`). Column sums of 10⁶ f32, one
//! thread, medians of 300 calls, the builds alternated three times, before → after (torch in
//! the same minutes): 72 columns 50–61 → 43–47 µs (57–61), 96 46–51 → 42–45 (42–45), 100
//! 51–57 → 44–47 (77–84), 128 43–47 → 43–45 (45–49); 1024 rows of 96 (in the L2) 4.1–4.2 →
//! 3.3. Tried on the way: the helpers as functions with features of their own (LLVM kept
//! `pair` a call, its sums returned through memory: level with the generic block), each row
//! sliced with its own bounds check (level: LLVM kept the groups in order and the row starts
//! went through vector registers), the two groups of a pair read side by side (1024 rows 3.3
//! → 2.9 µs in the L2, but 100 columns 45 → 53 in the L3). The rest of the gap to the bare
//! loop is the block itself (88% of the time, `perf`): the bare loop's groups were
//! interleaved by LLVM, whose order this one's (one basic block, in order) does not get. From
//! main memory (10⁷ elements) the two builds could not be told apart: the machine's memory was
//! in a slow window (the same build read 1.0–2.8 ms from one round to the next), so reductions
//! that read from main memory ([`super::FAR_BYTES`]) keep the generic block, measured there
//! (NOTE: [window-blocks]).
//!
//! The narrow tiles of 33 to 64 f32 columns take it too, through windows of 48 and 64 columns
//! (`super::narrow_block_written_out`), in place of the generic blocks in windows of 64 (NOTE:
//! [narrow-tiles]), which read 64 columns of every row however narrow the tile. Column sums in
//! the caches, one thread, medians of 300 calls (2000 in the L2), the build before and this
//! one alternated three times (µs; torch's `sum(0)` in the same minutes): 10⁶ elements (the
//! L3) 33 columns 88–89 → 51–59 (61), 40 68–73 → 46 (57), 48 57–59 → 45–53 (58), 56 61–62 →
//! 45–46 (65), 64 51–59 → 42–49 (44); 2¹⁷ elements (the L2) 33 columns 9.5–10.6 → 4.6–5.4
//! (5.9), 40 7.4–7.9 → 3.6–3.7 (5.4), 48 5.8–5.9 → 3.4–3.6 (5.6), 56 6.0–6.3 → 3.7–3.8 (6.2),
//! 64 5.3–5.7 → 3.4–3.8 (5.6).

use super::{BLOCK, GROUP};
use std::arch::x86_64::*;

/// The f64 sums of a tile's columns, a vector of 8 columns each: the first and second halves
/// of each window's 16-lane vector of f32.
#[derive(Clone, Copy)]
struct Sums<const V: usize> {
    low: [__m512d; V],
    high: [__m512d; V],
}

/// The sums of [`BLOCK`] rows of `acc.len()` f32 columns (at most `16 V`), the rows starting
/// at `first` and `step` apart, into `acc`, as [`super::block_in_window`] sums them through a
/// window of `16 V` columns: the same bits (NOTE: [window-blocks-512]). Every row's window is
/// within `data` (else it panics).
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn sum_block_f32<const V: usize>(
    acc: &mut [f64],
    data: &[f32],
    first: usize,
    step: isize,
) {
    assert!(acc.len() <= 16 * V, "a tile wider than its window");
    // the first and last rows' windows within `data`, so every row's between them is: the
    // loads need no checks of their own (NOTE: [window-blocks-512])
    let last = (BLOCK as isize - 1)
        .checked_mul(step)
        .and_then(|d| (first as isize).checked_add(d));
    let end = data.len() as isize - 16 * V as isize;
    let within = |row: isize| (0..=end).contains(&row);
    assert!(
        isize::try_from(first).is_ok_and(within) && last.is_some_and(within),
        "a window past the data's end"
    );
    let rows = Rows {
        at: data.as_ptr().wrapping_add(first),
        step,
    };
    // SAFETY (each helper): the CPU has AVX-512F (this function's contract), and every row's
    // window is within `data` (checked above)
    let all = unsafe {
        let low = combined(pair::<V>(rows, 0), pair::<V>(rows, 2));
        let high = combined(pair::<V>(rows, 4), pair::<V>(rows, 6));
        combined(low, high)
    };
    let w = acc.len();
    for k in 0..V {
        for (half, v) in [all.low[k], all.high[k]].into_iter().enumerate() {
            let from = 16 * k + 8 * half;
            if from >= w {
                return;
            }
            let lanes = (w - from).min(8);
            let mask = ((1u16 << lanes) - 1) as __mmask8;
            // SAFETY: the lanes stored are `from..from + lanes`, within `acc` (`from < w`,
            // `lanes ≤ w − from`); the masked-off lanes are not written
            unsafe { _mm512_mask_storeu_pd(acc.as_mut_ptr().add(from), mask, v) };
        }
    }
}

/// The rows of a block: the first row's start, and the distance from each to the next.
#[derive(Clone, Copy)]
struct Rows {
    at: *const f32,
    step: isize,
}

/// The f32 sums of group `g` of the block's rows ([`GROUP`] rows from row `GROUP g`), 16 V
/// columns each, joined in row order.
///
/// # Safety
/// The CPU must have AVX-512F, and each of the block's rows be followed by 16 V f32 of its
/// data. (These helpers are inlined into [`sum_block_f32`], whose features they then share: as
/// functions of their own, with the features of their own, LLVM left `pair` a call whose sums
/// went back through memory.)
#[inline(always)]
unsafe fn joined<const V: usize>(rows: Rows, g: usize) -> [__m512; V] {
    // SAFETY: the CPU has AVX-512F, and each load reads the 16 f32 from 16 k (k < V) of one of
    // the block's rows (the caller's contract)
    unsafe {
        let mut t = [_mm512_setzero_ps(); V];
        for r in 0..GROUP {
            let row = rows.at.offset((GROUP * g + r) as isize * rows.step);
            for (k, t) in t.iter_mut().enumerate() {
                let v = _mm512_loadu_ps(row.add(16 * k));
                *t = if r == 0 { v } else { _mm512_add_ps(*t, v) };
            }
        }
        t
    }
}

/// The first 8 lanes of `t`, as f64, and the last 8.
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
unsafe fn halves(t: __m512) -> (__m512d, __m512d) {
    // SAFETY: the CPU has AVX-512F (the caller's contract)
    unsafe {
        let high = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(t));
        (
            _mm512_cvtps_pd(_mm512_castps512_ps256(t)),
            _mm512_cvtps_pd(_mm256_castpd_ps(high)),
        )
    }
}

/// Groups `g` and `g + 1` of the block's rows: each column's joined f32 sum of the first
/// stepped into an empty f64 sum (`0 + s`), then the second's stepped into another and
/// combined with it (`a + (0 + s)`), as the tree's first level combines them.
///
/// # Safety
/// As [`joined`].
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn pair<const V: usize>(rows: Rows, g: usize) -> Sums<V> {
    // SAFETY: as this function's (the caller's contract)
    unsafe {
        let zero = _mm512_setzero_pd();
        let t = joined::<V>(rows, g);
        let mut s = Sums {
            low: [zero; V],
            high: [zero; V],
        };
        for k in 0..V {
            let (low, high) = halves(t[k]);
            s.low[k] = _mm512_add_pd(zero, low);
            s.high[k] = _mm512_add_pd(zero, high);
        }
        let t = joined::<V>(rows, g + 1);
        for k in 0..V {
            let (low, high) = halves(t[k]);
            s.low[k] = _mm512_add_pd(s.low[k], _mm512_add_pd(zero, low));
            s.high[k] = _mm512_add_pd(s.high[k], _mm512_add_pd(zero, high));
        }
        s
    }
}

/// `a + b` column by column, `a` the earlier part.
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
unsafe fn combined<const V: usize>(mut a: Sums<V>, b: Sums<V>) -> Sums<V> {
    // SAFETY: the CPU has AVX-512F (the caller's contract)
    unsafe {
        for k in 0..V {
            a.low[k] = _mm512_add_pd(a.low[k], b.low[k]);
            a.high[k] = _mm512_add_pd(a.high[k], b.high[k]);
        }
    }
    a
}
