//! The strided iteration engine every elementwise kernel runs on.
//!
//! A [`Plan`] merges the dims of K operands that are jointly contiguous and drops size-1 dims;
//! [`Plan::run`] then walks any flat range of positions with a tight inner loop over the last dim.
//! Large outputs are split into ranges and filled on all cores (rayon).

#[cfg(target_arch = "x86_64")]
use super::simd;
use crate::array::{AlignedVec, Array, Element, View, alloc, numel};
use smallvec::SmallVec;
use std::mem::MaybeUninit;

/// Outputs with at least this many elements are filled in parallel by callers on the pool's own
/// threads (the jit's steps); callers outside the pool split by work instead (NOTE: [par-work]).
pub const PAR_MIN: usize = 1 << 15;

/// One thread's time per element of a kernel, in picoseconds: an estimate, which decides
/// whether a call made from outside the pool splits its work over the threads (NOTE:
/// [par-work]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cost(pub(crate) u32);

impl Cost {
    /// A loop bound by its memory traffic, `bytes` read and written per element: about 10 ps a
    /// byte on one core (an f64 add, 24 bytes an element, took 0.24 ns an element; an f32
    /// multiply by a scalar, 8 bytes, 0.09 ns).
    pub(crate) const fn traffic(bytes: usize) -> Cost {
        Cost(10 * bytes as u32)
    }
}

/// The estimated one-thread time from which a call made from outside the pool splits its work
/// (NOTE: [par-work]).
pub(crate) const PAR_WORK_PS: u64 = 12_000_000;

/// Where a kernel's work splits over the pool's threads (NOTE: [par-work]): from `pool` units
/// of work (elements, multiply-adds) when called on one of the pool's threads, from an
/// estimated one-thread time of `work_ps` picoseconds when called from outside it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Threshold {
    pub(crate) pool: usize,
    pub(crate) work_ps: u64,
}

/// The threshold of elementwise ops and reductions: [`PAR_MIN`] elements, [`PAR_WORK_PS`].
const ELEMENTWISE: Threshold = Threshold {
    pool: PAR_MIN,
    work_ps: PAR_WORK_PS,
};

/// Whether a kernel of `n` elements at `cost` each splits its work over the pool's threads.
///
/// NOTE: [par-work] A parallel iterator called from outside the pool hands its work to a worker
/// and sleeps on a latch until it is done; the second worker is woken in turn and joins late.
/// On two threads (AMD Zen 4, medians of single calls of eager ops on f64 and f32 vectors from
/// the main thread, one thread against two) that cost 6–8 µs over a perfect split, whatever the
/// op. At the former single threshold of 2¹⁵ elements an f32 add took 3.6 µs on one thread
/// and 9.3 µs on two, while an f64 exp took 19.3 and 15.5 µs; and a `pow` of two f64 tensors
/// (libm's, 10 ns an element) took 42 µs on one thread at 4096 elements, too few to split.
/// Two threads paid from about 12 µs of one thread's time (an f64 add of 2¹⁶ elements: 16.4
/// against 14.8 µs, of 49152: 12.6 against 13.3; an f32 exp of 2¹⁶: 14.2 against 13.0, of
/// 49152: 10.7 against 11.4). So a call from outside the pool splits when its estimated
/// one-thread time reaches 12 µs ([`PAR_WORK_PS`]), from a cost per element ([`Cost`]): memory
/// traffic for plain arithmetic and copies, the measured time of each vectorized math kernel
/// (`prims::unary::vector_cost`), libm's for the scalar binary ops (`prims::binary`), what
/// reductions measured (`reduce::parallel`). Matrix products estimate theirs per route and
/// split from a longer time, 20 µs for the GEMMs, whose threads each pack their own operand
/// panels; on the pool's threads from 2¹⁸ multiply-adds ([`Threshold`], `matmul::GEMM_SPLIT`).
/// The estimates come from one machine and are coarse: where an op runs at half that speed
/// (AVX2 against AVX-512) it splits at half the size that would pay, still a gain. Calls on
/// the pool's threads (the jit's steps, whose workers are kept awake, NOTE: [keep-awake])
/// split from [`PAR_MIN`] elements as before. The split changes no result: every element is
/// computed alone, a reduction's order is fixed by the shape (NOTE: [reduce-order]), and a
/// product's blocks each sum over the whole depth in the same order.
pub(crate) fn split(n: usize, cost: Cost) -> bool {
    split_by(n, cost, ELEMENTWISE)
}

/// Whether `n` units of work at `cost` each split over the pool's threads, by `threshold`
/// (NOTE: [par-work]).
pub(crate) fn split_by(n: usize, cost: Cost, threshold: Threshold) -> bool {
    // below both thresholds, no lookup of the pool: most calls are small (a Hessian of three
    // variables took 3% longer with the lookups first)
    if n < threshold.pool && work(n, cost) < threshold.work_ps {
        return false;
    }
    rayon::current_num_threads() > 1
        && split_on(n, cost, threshold, rayon::current_thread_index().is_some())
}

/// The estimated one-thread time of `n` elements at `cost`, in picoseconds.
fn work(n: usize, cost: Cost) -> u64 {
    (n as u64).saturating_mul(cost.0 as u64)
}

/// [`split_by`] on a pool of more than one thread, called from one of its threads (`in_pool`)
/// or from outside it.
fn split_on(n: usize, cost: Cost, threshold: Threshold, in_pool: bool) -> bool {
    if in_pool {
        n >= threshold.pool
    } else {
        work(n, cost) >= threshold.work_ps
    }
}

/// The fewest elements of a piece of split work: 4096, or fewer for costly elements (an eighth
/// of [`PAR_WORK_PS`] each, at least 64). On two threads a split of at least [`PAR_MIN`]
/// elements is cut in pieces of an eighth, 4096 or more, as before; on more threads a costly
/// op's pieces can now be shorter than 4096, in the pool too (not measured: no machine of more
/// than two cores was lent).
fn min_piece(cost: Cost) -> usize {
    (PAR_WORK_PS / 8 / cost.0.max(1) as u64).clamp(64, 4096) as usize
}

type Dims = SmallVec<[usize; 6]>;
type Strd = SmallVec<[isize; 6]>;

/// A walk over `shape` reading K operands through their strides.
pub struct Plan<const K: usize> {
    shape: Dims,
    strides: [Strd; K],
}

impl<const K: usize> Plan<K> {
    /// Merge jointly contiguous dims and drop size-1 dims.
    pub fn new(shape: &[usize], strides: [&[isize]; K]) -> Self {
        let mut sh: Dims = SmallVec::new();
        let mut st: [Strd; K] = std::array::from_fn(|_| SmallVec::new());
        for d in 0..shape.len() {
            if shape[d] == 1 {
                continue;
            }
            if let Some(&prev) = sh.last() {
                let last = sh.len() - 1;
                // merge (prev, shape[d]) if for all operands stride[prev] == stride[d] * shape[d]
                if (0..K).all(|k| st[k][last] == strides[k][d] * shape[d] as isize) {
                    sh[last] = prev * shape[d];
                    for k in 0..K {
                        st[k][last] = strides[k][d];
                    }
                    continue;
                }
            }
            sh.push(shape[d]);
            for k in 0..K {
                st[k].push(strides[k][d]);
            }
        }
        Plan {
            shape: sh,
            strides: st,
        }
    }

    /// The strides of the innermost (merged) dim, one per operand (0 for a 0-d walk).
    pub fn inner(&self) -> [isize; K] {
        std::array::from_fn(|k| self.strides[k].last().copied().unwrap_or(0))
    }

    /// The K element offsets of position `start`, and how many positions from it on lie in its
    /// row along the innermost dim (at least 1).
    pub fn row_at(&self, offsets: [usize; K], start: usize) -> ([usize; K], usize) {
        let mut at = offsets.map(|o| o as isize);
        let mut rem = start;
        for d in (0..self.shape.len()).rev() {
            let i = (rem % self.shape[d]) as isize;
            rem /= self.shape[d];
            for (a, st) in at.iter_mut().zip(&self.strides) {
                *a += i * st[d];
            }
        }
        let n = self.shape.last().copied().unwrap_or(1);
        (at.map(|o| o as usize), n - start % n)
    }

    /// Call `f` with the K element offsets of positions `start..start+count` (row-major order).
    #[inline]
    pub fn run(
        &self,
        offsets: [usize; K],
        start: usize,
        count: usize,
        mut f: impl FnMut([usize; K]),
    ) {
        let inner = self.inner();
        self.rows(offsets, start, count, |o, len| {
            for t in 0..len {
                f(std::array::from_fn(|k| {
                    (o[k] as isize + t as isize * inner[k]) as usize
                }));
            }
        });
    }

    /// Walk positions `start..start+count` row by row: `f(offsets, len)` for each run of `len`
    /// positions along the innermost dim (strides [`inner`](Plan::inner)) starting at `offsets`.
    #[inline]
    pub fn rows(
        &self,
        offsets: [usize; K],
        start: usize,
        count: usize,
        mut f: impl FnMut([usize; K], usize),
    ) {
        if count == 0 {
            return;
        }
        let nd = self.shape.len();
        if nd == 0 {
            f(offsets, 1);
            return;
        }
        let last = nd - 1;
        let mut idx: Dims = SmallVec::from_elem(0, nd);
        let mut rem = start;
        for d in (0..nd).rev() {
            idx[d] = rem % self.shape[d];
            rem /= self.shape[d];
        }
        let mut row: [isize; K] = std::array::from_fn(|k| {
            offsets[k] as isize
                + (0..last)
                    .map(|d| idx[d] as isize * self.strides[k][d])
                    .sum::<isize>()
        });
        let inner = self.inner();
        let n_last = self.shape[last];
        let mut j = idx[last];
        let mut remaining = count;
        loop {
            let m = (n_last - j).min(remaining);
            f(
                std::array::from_fn(|k| (row[k] + j as isize * inner[k]) as usize),
                m,
            );
            remaining -= m;
            if remaining == 0 {
                return;
            }
            j = 0;
            let mut d = last;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                for (r, s) in row.iter_mut().zip(&self.strides) {
                    *r += s[d];
                }
                if idx[d] < self.shape[d] {
                    break;
                }
                for (r, s) in row.iter_mut().zip(&self.strides) {
                    *r -= s[d] * self.shape[d] as isize;
                }
                idx[d] = 0;
            }
        }
    }
}

/// A vector of `n` elements written by `write(chunk_start, chunk)` over disjoint chunks that
/// cover it, in parallel when the work is large ([`split`], at `cost` an element). The vector
/// comes from the buffer pool and is never zero-filled: every element is written exactly once.
pub(crate) fn build<U: Element>(
    n: usize,
    cost: Cost,
    write: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync + Send,
) -> AlignedVec<U> {
    build_in(n, pieces(n, cost), write)
}

/// The pieces [`build`] splits `n` elements of `cost` into: `None` to write them whole.
fn pieces(n: usize, cost: Cost) -> Option<usize> {
    split(n, cost).then(|| {
        n.div_ceil(rayon::current_num_threads() * 4)
            .max(min_piece(cost))
    })
}

/// [`build`] in pieces of `piece` elements over the pool's threads, or whole on this thread.
fn build_in<U: Element>(
    n: usize,
    piece: Option<usize>,
    write: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync + Send,
) -> AlignedVec<U> {
    let mut out: AlignedVec<U> = alloc(n);
    write_in(&mut out.spare_capacity_mut()[..n], piece, write);
    // SAFETY: `write_in` initialized every element of 0..n.
    unsafe { out.set_len(n) };
    out
}

/// Write all of `dst` by `write(chunk_start, chunk)`, in pieces of `piece` elements over the
/// pool's threads, or whole on this thread.
fn write_in<U: Send>(
    dst: &mut [MaybeUninit<U>],
    piece: Option<usize>,
    write: impl Fn(usize, &mut [MaybeUninit<U>]) + Sync + Send,
) {
    match piece {
        Some(len) => super::pieces::for_each_chunk_mut(dst, len, |c, d| write(c * len, d)),
        None => write(0, dst),
    }
}

#[inline(always)]
fn map_chunk<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    for (o, &i) in out.iter_mut().zip(x) {
        o.write(f(i));
    }
}

#[inline(always)]
fn zip_chunk<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        o.write(f(x, y));
    }
}

// The same loops compiled for AVX2 + FMA: the baseline x86-64 target has only SSE2, so without
// these the branch-free math kernels (kernels::math) and every contiguous elementwise loop would
// run two f64 lanes wide at best.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn map_chunk_avx2<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    map_chunk(x, out, f)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_chunk_avx2<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    zip_chunk(a, b, out, f)
}

/// `out[t] = f(x[t])`, in the AVX2 + FMA copy of the loop when the CPU has it.
#[inline(always)]
fn map_run<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], f: &impl Fn(T) -> U) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the features were detected
        return unsafe { map_chunk_avx2(x, out, f) };
    }
    map_chunk(x, out, f)
}

/// `out[t] = f(a[t], b[t])`, in the AVX2 + FMA copy of the loop when the CPU has it.
#[inline(always)]
fn zip_run<A: Copy, B: Copy, U>(
    a: &[A],
    b: &[B],
    out: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: the features were detected
        return unsafe { zip_chunk_avx2(a, b, out, f) };
    }
    zip_chunk(a, b, out, f)
}

/// Map a contiguous slice to a fresh vector, in parallel when the work is large (at `cost` an
/// element), vectorized for the CPU.
#[inline]
fn map_slice<T: Copy + Sync, U: Element>(
    x: &[T],
    cost: Cost,
    f: impl Fn(T) -> U + Sync + Send,
) -> AlignedVec<U> {
    build(x.len(), cost, |start, dst| {
        map_run(&x[start..start + dst.len()], dst, &f)
    })
}

/// Zip two contiguous slices of equal length into a fresh vector, in parallel when the work is
/// large (at `cost` an element).
#[inline]
fn zip_slices<A: Copy + Sync, B: Copy + Sync, U: Element>(
    a: &[A],
    b: &[B],
    cost: Cost,
    f: impl Fn(A, B) -> U + Sync + Send,
) -> AlignedVec<U> {
    build(a.len(), cost, |start, dst| {
        let r = start..start + dst.len();
        zip_run(&a[r.clone()], &b[r], dst, &f)
    })
}

/// Fill a fresh contiguous vector row by row: `row(dst, offsets, inner_strides)` writes the
/// `dst.len()` positions of one run along the innermost dim. Row kernels test the inner strides
/// and use plain slice loops (which vectorize) for contiguous and broadcast rows.
fn fill_rows<U: Element, const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
    offsets: [usize; K],
    cost: Cost,
    row: impl Fn(&mut [MaybeUninit<U>], [usize; K], [isize; K]) + Sync + Send,
) -> AlignedVec<U> {
    let n = numel(shape);
    let mut out: AlignedVec<U> = alloc(n);
    fill_rows_into(
        &mut out.spare_capacity_mut()[..n],
        shape,
        strides,
        offsets,
        cost,
        row,
    );
    // SAFETY: `fill_rows_into` initialized every element of 0..n.
    unsafe { out.set_len(n) };
    out
}

/// [`fill_rows`] into `dst` (of `shape`'s size), every element written.
fn fill_rows_into<U: Element, const K: usize>(
    dst: &mut [MaybeUninit<U>],
    shape: &[usize],
    strides: [&[isize]; K],
    offsets: [usize; K],
    cost: Cost,
    row: impl Fn(&mut [MaybeUninit<U>], [usize; K], [isize; K]) + Sync + Send,
) {
    let plan = Plan::new(shape, strides);
    let inner = plan.inner();
    write_in(dst, pieces(dst.len(), cost), |start, dst| {
        let mut at = 0;
        plan.rows(offsets, start, dst.len(), |o, len| {
            row(&mut dst[at..at + len], o, inner);
            at += len;
        });
    })
}

#[inline(always)]
fn at(base: usize, t: usize, stride: isize) -> usize {
    (base as isize + t as isize * stride) as usize
}

/// Elementwise map of one operand to a fresh contiguous vector: `f` is plain arithmetic (the
/// split is decided by memory traffic, NOTE: [par-work]).
pub fn map1<T: Element, U: Element>(
    x: View<'_, T>,
    f: impl Fn(T) -> U + Sync + Send,
) -> AlignedVec<U> {
    let n = x.numel();
    let mut out: AlignedVec<U> = alloc(n);
    map1_into(x, f, &mut out.spare_capacity_mut()[..n]);
    // SAFETY: `map1_into` initialized every element of 0..n.
    unsafe { out.set_len(n) };
    out
}

/// [`map1`] into `dst` (of `x`'s size), every element written.
fn map1_into<T: Element, U: Element>(
    x: View<'_, T>,
    f: impl Fn(T) -> U + Sync + Send,
    dst: &mut [MaybeUninit<U>],
) {
    let cost = Cost::traffic(size_of::<T>() + size_of::<U>());
    if let Some(s) = x.contiguous() {
        return write_in(dst, pieces(s.len(), cost), |start, d| {
            map_run(&s[start..start + d.len()], d, &f)
        });
    }
    let d = x.data;
    fill_rows_into(
        dst,
        x.shape,
        [x.strides],
        [x.offset],
        cost,
        |dst, [i], [si]| {
            if si == 1 {
                map_run(&d[i..i + dst.len()], dst, &f);
            } else {
                for (t, o) in dst.iter_mut().enumerate() {
                    o.write(f(d[at(i, t, si)]));
                }
            }
        },
    )
}

/// Elementwise map of two operands already broadcast to the same shape: `f` is plain
/// arithmetic (the split is decided by memory traffic, NOTE: [par-work]).
pub fn map2<A: Element, B: Element, U: Element>(
    a: View<'_, A>,
    b: View<'_, B>,
    f: impl Fn(A, B) -> U + Sync + Send,
) -> AlignedVec<U> {
    let cost = Cost::traffic(size_of::<A>() + size_of::<B>() + size_of::<U>());
    map2_at(a, b, cost, f)
}

/// [`map2`] for a function of `cost` an element (NOTE: [par-work]).
pub(crate) fn map2_at<A: Element, B: Element, U: Element>(
    a: View<'_, A>,
    b: View<'_, B>,
    cost: Cost,
    f: impl Fn(A, B) -> U + Sync + Send,
) -> AlignedVec<U> {
    debug_assert_eq!(a.shape, b.shape);
    if let (Some(sa), Some(sb)) = (a.contiguous(), b.contiguous()) {
        return zip_slices(sa, sb, cost, f);
    }
    // one side a broadcast scalar
    if let (Some(sa), true) = (a.contiguous(), b.strides.iter().all(|&s| s == 0)) {
        let vb = b.data[b.offset];
        return map_slice(sa, cost, |x| f(x, vb));
    }
    if let (true, Some(sb)) = (a.strides.iter().all(|&s| s == 0), b.contiguous()) {
        let va = a.data[a.offset];
        return map_slice(sb, cost, |y| f(va, y));
    }
    let (da, db) = (a.data, b.data);
    if a.numel() >= SHORT_ROWS_MIN
        && let Some(out) = zip_short_rows(&a, &b, cost, &f)
    {
        return out;
    }
    fill_rows(
        a.shape,
        [a.strides, b.strides],
        [a.offset, b.offset],
        cost,
        |dst, [i, j], [si, sj]| match (si, sj) {
            (1, 1) => zip_run(&da[i..i + dst.len()], &db[j..j + dst.len()], dst, &f),
            (1, 0) => {
                let y = db[j];
                map_run(&da[i..i + dst.len()], dst, &|x| f(x, y));
            }
            (0, 1) => {
                let x = da[i];
                map_run(&db[j..j + dst.len()], dst, &|y| f(x, y));
            }
            _ => {
                for (t, o) in dst.iter_mut().enumerate() {
                    o.write(f(da[at(i, t, si)], db[at(j, t, sj)]));
                }
            }
        },
    )
}

/// The longest rows [`zip_short_rows`] takes.
const SHORT_ROW: usize = 256;

/// The fewest elements [`map2_at`] tries [`zip_short_rows`] on: under them the walk's plan,
/// built a second time, would cost more than the rows' calls it saves (NOTE: [short-zip-rows]).
const SHORT_ROWS_MIN: usize = 512;

/// How a row of a [`zip_short_rows`] operand is read: along the row (`Row`), or one element for
/// the whole row (`Each`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Along {
    Row,
    Each,
}

/// One operand of [`zip_short_rows`]: where its row `r` starts (`start + r * outer`), and how it
/// is read along the row.
#[derive(Clone, Copy)]
struct RowsOf {
    start: usize,
    outer: isize,
    along: Along,
}

impl RowsOf {
    /// The first element of row `r`.
    #[inline(always)]
    fn at(self, r: usize) -> usize {
        (self.start as isize + r as isize * self.outer) as usize
    }
}

/// [`map2_at`] of operands that walk as rows of at most [`SHORT_ROW`] elements, each operand
/// along the row or broadcast over it (a row minus its maximum, a row over its sum, a bias
/// added to every row), where neither is a contiguous whole or a scalar; `None` for any other
/// walk.
///
/// NOTE: [short-zip-rows] Such rows went through [`fill_rows`] one at a time: the walk's
/// odometer, the row kernel's match on the strides, and a call of the AVX2 loop per row whose
/// trip count is known only at run time (for rows of 16 f32, LLVM's four-wide epilogue four
/// times). About 70% of `softmax`'s time over rows of 16 f32 was its two broadcast ops, 10 ns
/// a row each. Here the rows of a piece are walked in one AVX2 function, each in whole eights (a
/// fixed trip count of 8, one or two vectors) and then its rest, with the same `f` on the same
/// elements, so the same bits. AMD Zen 4, one thread, 10⁶ elements, medians of 300 calls, the
/// same binary with and without this path, two rounds: f32 `m + bias` over rows of 16, 64, 100,
/// 256: 552–567 → 136, 163 → 89, 143 → 103, 92 → 83 µs (torch 1553, 107, 115, 1491); f32
/// `m * col` 584–618 → 117, 148–150 → 83, 128 → 90–91, 91 → 84 µs (torch 120, 125, 156,
/// 135); f64 rows of 16 507–529 → 201–245 µs, longer ones level (196–250, bound by their 24 MB
/// of traffic; torch 317–443). `softmax` f32 over rows of 16 1686–1724 → 781–791 µs (torch
/// 1274), of 64 703–708 → 580–598 (torch 723); f64 rows of 16 2310–2363 → 1700–1972. Walks
/// of fewer than [`SHORT_ROWS_MIN`] elements keep [`fill_rows`], and this function is not
/// inlined into [`map2_at`]: `small_hessian_x1000` (ops of 3 to 9 elements) had run 4% slower
/// with it inlined and tried on every walk, 1–2% (within the noise) since, and the same with
/// it switched off.
#[inline(never)]
fn zip_short_rows<A: Element, B: Element, U: Element>(
    a: &View<'_, A>,
    b: &View<'_, B>,
    cost: Cost,
    f: &(impl Fn(A, B) -> U + Sync + Send),
) -> Option<AlignedVec<U>> {
    let plan = Plan::new(a.shape, [a.strides, b.strides]);
    let [len, rows] = match plan.shape[..] {
        [rows, len] if len <= SHORT_ROW => [len, rows],
        _ => return None,
    };
    let operand = |k: usize, start: usize| {
        let along = match plan.strides[k][1] {
            1 => Along::Row,
            0 => Along::Each,
            _ => return None,
        };
        Some(RowsOf {
            start,
            outer: plan.strides[k][0],
            along,
        })
    };
    let (oa, ob) = (operand(0, a.offset)?, operand(1, b.offset)?);
    if oa.along == Along::Each && ob.along == Along::Each {
        return None;
    }
    let n = rows * len;
    // pieces of whole rows
    let piece = pieces(n, cost).map(|p| p.next_multiple_of(len));
    let (da, db) = (a.data, b.data);
    let mut out: AlignedVec<U> = alloc(n);
    write_in(&mut out.spare_capacity_mut()[..n], piece, |start, dst| {
        let first = start / len;
        #[cfg(target_arch = "x86_64")]
        if simd() {
            // SAFETY: the features were detected
            return unsafe { zip_rows_avx2(da, db, [oa, ob], first, len, dst, f) };
        }
        zip_rows(da, db, [oa, ob], first, len, dst, f)
    });
    // SAFETY: `write_in` initialized every element of 0..n.
    unsafe { out.set_len(n) };
    Some(out)
}

/// [`zip_rows`] in the AVX2 + FMA copy.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn zip_rows_avx2<A: Copy, B: Copy, U>(
    da: &[A],
    db: &[B],
    ops: [RowsOf; 2],
    first: usize,
    len: usize,
    dst: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    zip_rows(da, db, ops, first, len, dst, f)
}

/// Rows `first..` of the operands, `len` elements each, zipped by `f` into `dst` (whole rows),
/// as [`zip_short_rows`] walks them.
#[inline(always)]
fn zip_rows<A: Copy, B: Copy, U>(
    da: &[A],
    db: &[B],
    [oa, ob]: [RowsOf; 2],
    first: usize,
    len: usize,
    dst: &mut [MaybeUninit<U>],
    f: &impl Fn(A, B) -> U,
) {
    // each row's starts by adding the outer strides, not multiplying by the row's index (f32
    // rows of 16 plus a bias: 134–135 → 113–119 µs on one thread of AMD Zen 4, alternated
    // eight times; torch 128)
    let rows = dst.chunks_exact_mut(len);
    let (mut ia, mut ib) = (oa.at(first) as isize, ob.at(first) as isize);
    match (oa.along, ob.along) {
        (Along::Row, Along::Each) => {
            for o in rows {
                let y = db[ib as usize];
                zip_eights(&da[ia as usize..][..len], o, |x| f(x, y));
                (ia, ib) = (ia + oa.outer, ib + ob.outer);
            }
        }
        (Along::Each, Along::Row) => {
            for o in rows {
                let x = da[ia as usize];
                zip_eights(&db[ib as usize..][..len], o, |y| f(x, y));
                (ia, ib) = (ia + oa.outer, ib + ob.outer);
            }
        }
        (Along::Each, Along::Each) => {
            unreachable!("internal error: zip_short_rows leaves walks with no row to fill_rows")
        }
        (Along::Row, Along::Row) => {
            for o in rows {
                let (x, y) = (&da[ia as usize..][..len], &db[ib as usize..][..len]);
                (ia, ib) = (ia + oa.outer, ib + ob.outer);
                let (xe, xr) = x.as_chunks::<8>();
                let (ye, yr) = y.as_chunks::<8>();
                let (oe, or) = o.as_chunks_mut::<8>();
                for ((o, x), y) in oe.iter_mut().zip(xe).zip(ye) {
                    for j in 0..8 {
                        o[j].write(f(x[j], y[j]));
                    }
                }
                for ((o, &x), &y) in or.iter_mut().zip(xr).zip(yr) {
                    o.write(f(x, y));
                }
            }
        }
    }
}

/// `out[t] = g(x[t])` in whole eights (a fixed trip count: one or two vectors), then the rest.
#[inline(always)]
fn zip_eights<T: Copy, U>(x: &[T], out: &mut [MaybeUninit<U>], g: impl Fn(T) -> U) {
    let (xe, xr) = x.as_chunks::<8>();
    let (oe, or) = out.as_chunks_mut::<8>();
    for (o, x) in oe.iter_mut().zip(xe) {
        for j in 0..8 {
            o[j].write(g(x[j]));
        }
    }
    for (o, &x) in or.iter_mut().zip(xr) {
        o.write(g(x));
    }
}

/// Elementwise map of three operands already broadcast to the same shape: `f` is plain
/// arithmetic (the split is decided by memory traffic, NOTE: [par-work]).
pub fn map3<A: Element, B: Element, C: Element, U: Element>(
    a: View<'_, A>,
    b: View<'_, B>,
    c: View<'_, C>,
    f: impl Fn(A, B, C) -> U + Sync + Send,
) -> AlignedVec<U> {
    let (da, db, dc) = (a.data, b.data, c.data);
    fill_rows(
        a.shape,
        [a.strides, b.strides, c.strides],
        [a.offset, b.offset, c.offset],
        Cost::traffic(size_of::<A>() + size_of::<B>() + size_of::<C>() + size_of::<U>()),
        |dst, [i, j, k], [si, sj, sk]| {
            if (si, sj, sk) == (1, 1, 1) {
                for (((o, &x), &y), &z) in dst.iter_mut().zip(&da[i..]).zip(&db[j..]).zip(&dc[k..])
                {
                    o.write(f(x, y, z));
                }
            } else {
                for (t, o) in dst.iter_mut().enumerate() {
                    o.write(f(da[at(i, t, si)], db[at(j, t, sj)], dc[at(k, t, sk)]));
                }
            }
        },
    )
}

/// The elements of a view in row-major order.
pub fn collect<T: Element>(x: View<'_, T>) -> AlignedVec<T> {
    map1(x, |v| v)
}

// The array layer describes layouts and never loops over elements; the two copies it offers
// are written here, with the kernels they use.
impl Array {
    /// The elements in row-major order.
    pub fn to_vec<T: Element>(&self) -> Option<Vec<T>> {
        let x = self.view::<T>()?;
        let n = x.numel();
        // a plain `Vec` for the caller, written as `collect` writes a tensor buffer (which
        // would be copied into one again: NOTE: [aligned])
        let mut out = crate::array::pool::reserve_vec::<T>(n);
        map1_into(x, |v| v, &mut out.spare_capacity_mut()[..n]);
        // SAFETY: `map1_into` initialized every element of 0..n.
        unsafe { out.set_len(n) };
        Some(out)
    }
    /// This array, or a contiguous copy of it.
    pub fn contiguous(&self) -> Array {
        if self.is_contiguous() && self.offset == 0 && self.buf.data.len() == self.numel() {
            return self.clone();
        }
        copy_contiguous(self)
    }
}

/// A contiguous copy of any array.
fn copy_contiguous(a: &Array) -> Array {
    super::with_dtype!(a.dtype(), T => Array::from_vec(collect(a.v::<T>()), &a.shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NOTE: [par-work]: from outside the pool by estimated work, on its threads by size.
    #[test]
    fn split_by_work_outside_the_pool() {
        // an f64 add (24 bytes an element) splits from 50000 elements (12 µs at 240 ps)
        let add = Cost::traffic(24);
        assert!(!split_on(49_999, add, ELEMENTWISE, false));
        assert!(split_on(50_000, add, ELEMENTWISE, false));
        // a 10 ns element splits from 1200 elements
        assert!(!split_on(1199, Cost(10_000), ELEMENTWISE, false));
        assert!(split_on(1200, Cost(10_000), ELEMENTWISE, false));
        // the estimate saturates (a size no allocation can reach is still a size)
        assert!(split_on(usize::MAX, Cost(u32::MAX), ELEMENTWISE, false));
        // on the pool's threads: from PAR_MIN elements, whatever they cost
        assert!(split_on(PAR_MIN, Cost(1), ELEMENTWISE, true));
        assert!(!split_on(PAR_MIN - 1, Cost(10_000), ELEMENTWISE, true));
        // pieces: 4096 elements for cheap ones, an eighth of the work for costly ones
        assert_eq!(min_piece(add), 4096);
        assert_eq!(min_piece(Cost(10_000)), 150);
        assert_eq!(min_piece(Cost(u32::MAX)), 64);
        // a pool of one thread never splits
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert!(!one.install(|| split(1 << 24, Cost(10_000))));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        assert!(two.install(|| split(PAR_MIN, Cost(1))));
    }

    /// Pieces as short as a costly op's (64 elements, or 625 when 5000 are split in eight)
    /// write every element once, in its place.
    #[test]
    fn short_pieces_cover_the_output() {
        let x: Vec<f64> = (0..5000).map(|i| i as f64).collect();
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for piece in [None, Some(64), Some(625), Some(4096)] {
            let y: AlignedVec<f64> = two.install(|| {
                build_in(x.len(), piece, |start, dst| {
                    map_chunk(&x[start..start + dst.len()], dst, &|v| 2.0 * v + 1.0)
                })
            });
            assert_eq!(y.len(), x.len());
            assert!(y.iter().zip(&x).all(|(&y, &x)| y == 2.0 * x + 1.0));
        }
    }

    #[test]
    fn plan_walks_any_range() {
        // a 3x4 transposed view of a 4x3 buffer
        let data: Vec<f64> = (0..12).map(|v| v as f64).collect();
        let v = View {
            data: &data,
            shape: &[3, 4],
            strides: &[1, 3],
            offset: 0,
        };
        let all = collect(v);
        assert_eq!(all, vec![0., 3., 6., 9., 1., 4., 7., 10., 2., 5., 8., 11.]);
        let plan = Plan::new(&[3, 4], [&[1, 3]]);
        let mut part = vec![];
        plan.run([0], 5, 5, |[o]| part.push(data[o]));
        assert_eq!(part, vec![4., 7., 10., 2., 5.]);
    }

    #[test]
    fn short_rows_zip_as_each_element_alone() {
        // NOTE: [short-zip-rows]: rows of 1 to 40 and about SHORT_ROW, each operand along the
        // row or broadcast over it, rows apart, reversed or repeated (outer strides of 0 and
        // below 0), against the element-by-element reference; on one thread and on a pool of
        // two (pieces of whole rows)
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let data: Vec<f64> = (0..300_000).map(|i| (i as f64 * 0.37).sin()).collect();
        let f = |x: f64, y: f64| x * 3.0 - y;
        for len in (1..=40).chain([SHORT_ROW - 1, SHORT_ROW, SHORT_ROW + 1]) {
            for rows in [3, 70_000 / len] {
                let shape = [rows, len];
                let apart = (len + 3) as isize;
                // (offset, strides) of each kind of operand
                let kinds: [(usize, [isize; 2]); 5] = [
                    (0, [apart, 1]),                                 // rows apart
                    (5, [0, 1]),                                     // one row for all
                    (7, [1, 0]),                                     // one element a row
                    (((rows - 1) * 2) + 9, [-2, 0]),                 // one element a row, reversed
                    ((rows - 1) * apart as usize + 11, [-apart, 1]), // rows reversed
                ];
                for (oa, sa) in kinds {
                    for (ob, sb) in kinds {
                        let (va, vb) = (
                            View {
                                data: &data,
                                shape: &shape,
                                strides: &sa,
                                offset: oa,
                            },
                            View {
                                data: &data,
                                shape: &shape,
                                strides: &sb,
                                offset: ob,
                            },
                        );
                        let want: Vec<f64> = (0..rows * len)
                            .map(|i| {
                                let (r, t) = ((i / len) as isize, (i % len) as isize);
                                let at = |o: usize, s: [isize; 2]| {
                                    data[(o as isize + r * s[0] + t * s[1]) as usize]
                                };
                                f(at(oa, sa), at(ob, sb))
                            })
                            .collect();
                        let what = format!("rows {rows} of {len}, {sa:?} {sb:?}");
                        // the loop itself, wherever the walk has rows (so that the test
                        // holds whatever map2_at chooses)
                        let direct = zip_short_rows(&va, &vb, Cost::traffic(24), &f);
                        let rows_here = len > 1 && len <= SHORT_ROW && (sa[1], sb[1]) != (0, 0);
                        assert_eq!(direct.is_some(), rows_here, "{what}");
                        if let Some(d) = direct {
                            assert_eq!(&d[..], &want[..], "direct: {what}");
                        }
                        let got = map2_at(va, vb, Cost::traffic(24), f);
                        assert_eq!(&got[..], &want[..], "{what}");
                        let on_pool = pool.install(|| map2_at(va, vb, Cost(1_000_000), f));
                        assert_eq!(&on_pool[..], &want[..], "pool: {what}");
                    }
                }
            }
        }
    }
}
