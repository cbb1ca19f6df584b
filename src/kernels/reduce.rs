//! Reductions over a set of dims, at the speed of memory.
//!
//! The dims are first put in the input's memory order and merged where jointly contiguous, so
//! that what is left is one of two contiguous shapes:
//!
//! - the innermost dim is reduced: each contiguous row is folded on its own ([`fold_row`]:
//!   runs of 512 elements (2048 of 4 bytes) into 32 interleaved accumulators, the runs combined
//!   pairwise; an input larger than the caches is read at four places side by side where that
//!   measured faster on the machine, NOTE: [streams], [streams-measured]);
//! - the innermost dim is kept: whole rows are accumulated into an output row, vectorized along
//!   the row ([`accumulate_rows`]: groups of 8 rows summed, the groups combined pairwise), so a
//!   column sum reads the matrix once in memory order.
//!
//! A mix of both (say dims 0 and 2 of a 3-d array) folds the inner rows first, then
//! accumulates the rows of the result. The hot loops run in the copy compiled for the widest
//! vector ISA of the CPU (NOTE: [isa-copies]).
//!
//! NOTE: [reduce-order] Every output element is computed in an order fixed by the shape and
//! the memory layout alone: work is split over threads only at boundaries that the pairwise
//! tree has anyway (independent rows or column tiles, or blocks of 2⁹ runs of one long row,
//! whose results are combined in the same tree the sequential fold builds), so a sum gives the
//! same bits on any number of threads, and in every ISA copy (no implicit FMA contraction).

use super::strided::{Cost, PAR_MIN, Plan, split};
use super::{Vectorized, math, with_isa};
use crate::array::{
    AlignedVec, Element, Float, Shape, View, alloc_filled, contiguous_strides, numel,
};
use crate::dtype::DType;
use smallvec::SmallVec;
use std::marker::PhantomData;

#[cfg(target_arch = "x86_64")]
mod blocks;
#[cfg(target_arch = "x86_64")]
mod every;
#[cfg(target_arch = "x86_64")]
mod rows;

/// The shape after reducing `dims` with keepdim (reduced dims become 1).
pub fn kept_shape(shape: &[usize], dims: &[usize]) -> Shape {
    shape
        .iter()
        .enumerate()
        .map(|(i, &s)| if dims.contains(&i) { 1 } else { s })
        .collect()
}

/// A reduction: how an element enters an accumulator and how two accumulators combine.
/// `init` is neutral for `combine`, and `combine` is associative up to rounding: the kernels
/// choose the order. `step` and `combine` must be total (no panic for any elements, no side
/// effects): narrow column tiles also fold the elements just past a row's end in registers and
/// drop those sums (NOTE: [narrow-tiles]). Implementations mark the three methods `#[inline(always)]` (NOTE:
/// [isa-copies]).
pub trait Fold: Copy + Send + Sync {
    /// The input element.
    type T: Element;
    /// The accumulator (and output) element.
    type A: Element;
    /// The empty accumulator.
    fn init(self) -> Self::A;
    /// `a` with one more element `v`.
    fn step(self, a: Self::A, v: Self::T) -> Self::A;
    /// Two accumulators of consecutive parts, `a` the earlier one.
    fn combine(self, a: Self::A, b: Self::A) -> Self::A;
    /// How many consecutive elements of one accumulator the runs of a contiguous row first
    /// join among themselves with [`Fold::join`], in the element type, before one
    /// [`Fold::step`] enters them (1: each element is stepped in); above 1, the elements of a
    /// column in a group of rows of a column tile are joined too. NOTE: [f32-groups]
    const GROUP: usize = 1;
    /// Two elements joined (`a` the earlier); called only where [`Fold::GROUP`] > 1, so a
    /// fold that sets `GROUP` defines it.
    #[inline(always)]
    fn join(self, _a: Self::T, _b: Self::T) -> Self::T {
        unreachable!("`Fold::join` runs only for a `GROUP` above 1, which defines it")
    }
    /// Which of the folds whose rows the kernels written out for AVX-512 and AVX2 may fold this
    /// is, if any (NOTE: [sum-rows], NOTE: [pick-rows]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const KIND: Kind = Kind::Other;
}

/// The folds that have kernels written out for rows ([`Fold::KIND`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub enum Kind {
    /// [`SumF64`].
    Sum,
    /// [`Pick`] of the maximum.
    Max,
    /// [`Pick`] of the minimum.
    Min,
    /// Any other.
    Other,
}

/// The sum of f64 or f32 elements, accumulated in f64 (a long f32 sum keeps f32 precision;
/// in the runs of a contiguous row, and in the groups of 8 rows of a column sum, f32 elements
/// enter in groups of 8 summed in f32, NOTE: [f32-groups]).
pub struct SumF64<T>(PhantomData<fn(T)>);

impl<T> SumF64<T> {
    /// The sum.
    pub fn new() -> Self {
        SumF64(PhantomData)
    }
}
impl<T> Default for SumF64<T> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T> Clone for SumF64<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SumF64<T> {}

impl<T: Float> Fold for SumF64<T> {
    type T = T;
    type A = f64;
    #[inline(always)]
    fn init(self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn step(self, a: f64, v: T) -> f64 {
        a + v.to_f64()
    }
    #[inline(always)]
    fn combine(self, a: f64, b: f64) -> f64 {
        a + b
    }
    const GROUP: usize = if size_of::<T>() == 4 { 8 } else { 1 };
    #[inline(always)]
    fn join(self, a: T, b: T) -> T {
        a + b
    }
    const KIND: Kind = Kind::Sum;
}

/// The maximum (`MAX`) or minimum of f64 or f32 elements; NaN wins, as in PyTorch.
pub struct Pick<T, const MAX: bool>(PhantomData<fn(T)>);

impl<T, const MAX: bool> Pick<T, MAX> {
    /// The maximum or minimum.
    pub fn new() -> Self {
        Pick(PhantomData)
    }
}
impl<T, const MAX: bool> Default for Pick<T, MAX> {
    fn default() -> Self {
        Self::new()
    }
}
impl<T, const MAX: bool> Clone for Pick<T, MAX> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const MAX: bool> Copy for Pick<T, MAX> {}

impl<T: Float, const MAX: bool> Fold for Pick<T, MAX> {
    type T = T;
    type A = T;
    #[inline(always)]
    fn init(self) -> T {
        T::from_f64(if MAX {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        })
    }
    /// `v` if it is NaN or beyond `a`: once an accumulator is NaN nothing replaces it (no
    /// comparison with NaN is true), and a NaN `v` always enters. Branch-free, so it
    /// vectorizes as compare, compare-unordered, or, blend.
    #[inline(always)]
    #[allow(clippy::eq_op)]
    fn step(self, a: T, v: T) -> T {
        let beyond = if MAX { v > a } else { v < a };
        if beyond | (v != v) { v } else { a }
    }
    #[inline(always)]
    fn combine(self, a: T, b: T) -> T {
        self.step(a, b)
    }
    const KIND: Kind = if MAX { Kind::Max } else { Kind::Min };
}

/// A reduction given by closures (the integer and bool reductions).
struct Closures<'a, T, A, F, G> {
    init: A,
    f: &'a F,
    c: &'a G,
    _t: PhantomData<fn(T)>,
}
impl<T, A: Copy, F, G> Clone for Closures<'_, T, A, F, G> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, A: Copy, F, G> Copy for Closures<'_, T, A, F, G> {}

impl<T: Element, A: Element, F, G> Fold for Closures<'_, T, A, F, G>
where
    F: Fn(A, T) -> A + Sync,
    G: Fn(A, A) -> A + Sync,
{
    type T = T;
    type A = A;
    #[inline(always)]
    fn init(self) -> A {
        self.init
    }
    #[inline(always)]
    fn step(self, a: A, v: T) -> A {
        (self.f)(a, v)
    }
    #[inline(always)]
    fn combine(self, a: A, b: A) -> A {
        (self.c)(a, b)
    }
}

/// `F` over its own partial results: how partial results of one output are reduced further.
#[derive(Clone, Copy)]
struct Combine<F>(F);

impl<F: Fold> Fold for Combine<F> {
    type T = F::A;
    type A = F::A;
    #[inline(always)]
    fn init(self) -> F::A {
        self.0.init()
    }
    #[inline(always)]
    fn step(self, a: F::A, v: F::A) -> F::A {
        self.0.combine(a, v)
    }
    #[inline(always)]
    fn combine(self, a: F::A, b: F::A) -> F::A {
        self.0.combine(a, b)
    }
}

/// Reduce `dims` of `x` with `f`, starting from `init`; the result has the keepdim shape.
/// `combine` joins two partial results (of consecutive parts, the earlier first).
pub fn reduce<T: Element, A: Element>(
    x: View<'_, T>,
    dims: &[usize],
    init: A,
    f: impl Fn(A, T) -> A + Sync + Send,
    combine: impl Fn(A, A) -> A + Sync + Send,
) -> AlignedVec<A> {
    let k = Closures {
        init,
        f: &f,
        c: &combine,
        _t: PhantomData,
    };
    reduce_with(x, dims, k)
}

/// Reduce `dims` of `x` with the reduction `f`; the result has the keepdim shape. Sums are at
/// least as accurate as pairwise summation, and independent of the number of threads (NOTE:
/// [reduce-order]).
pub fn reduce_with<F: Fold>(x: View<'_, F::T>, dims: &[usize], f: F) -> AlignedVec<F::A> {
    reduce_isa(x, dims, f, math::isa(), Streams::DEFAULT)
}

/// Elements per run: each of the [`LANES`] accumulators takes 16 of them in a row, as in
/// NumPy's pairwise summation (blocks of 128 into 8 accumulators). NOTE: [run-length]
const RUN: usize = 512;
/// Elements per run of elements of 4 bytes or fewer ([`run_len`]): 64 to an accumulator, which
/// an f32 sum takes as 8 sums of 8 in f32 (NOTE: [f32-groups]), added in f64.
const RUN_NARROW: usize = 4 * RUN;
/// Interleaved accumulators of a run (independent chains: 4 AVX-512 or 8 AVX2 f64 vectors).
const LANES: usize = 32;

/// The run length for elements of type `T`: [`RUN`], or [`RUN_NARROW`] for elements of 4
/// bytes or fewer. Fixed by the type, so the order of a sum stays fixed by the shape.
const fn run_len<T>() -> usize {
    if size_of::<T>() <= 4 { RUN_NARROW } else { RUN }
}

/// Elements per block of one long row folded on its own thread: 2⁹ runs, a complete subtree of
/// the pairwise tree (NOTE: [reduce-order]).
const fn block_len<T>() -> usize {
    run_len::<T>() << 9
}

/// The elements per block in which each of `rows` rows of `len` elements is folded on all
/// threads ([`fold_blocks`]), if the rows are split: rows of two [`block_len`]s or more in
/// blocks of that; and, where the rows are fewer than the threads and worth splitting
/// ([`parallel`]), shorter rows in blocks of the most runs, a power of two, that give each
/// thread two blocks.
///
/// NOTE: [short-blocks] Any power of two of runs is a complete subtree of a row's pairwise tree,
/// as 2⁹ runs are (NOTE: [reduce-order]), so blocks of any such size give the bits of the row
/// folded whole. With only blocks of 2⁹ runs, a row shorter than two (2¹⁹ f64, 2²⁰ f32) ran on
/// one thread: half of torch's speed on two. Sums of one row on two threads, Intel Xeon (2 MiB
/// L2 a core), medians of single calls, three rounds, before → after (torch): 3·10⁵ f64
/// 55–61 → 15–19 µs (19), 5·10⁵ f64 130–145 → 34–42 µs (64), 10⁶ f32 131–133 → 41–44 µs
/// (63), 2·10⁶ f32 275–286 → 118–130 µs (143). More than twice as fast where each thread's
/// half of a row stays in its core's L2 between calls.
fn row_blocks<T>(rows: usize, len: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    if threads < 2 {
        return None;
    }
    if len >= 2 * block_len::<T>() {
        return Some(block_len::<T>());
    }
    if rows >= threads || !parallel(rows * len) {
        return None;
    }
    let runs = (len / run_len::<T>() / (2 * threads)).max(1);
    Some(run_len::<T>() << runs.ilog2())
}

/// Rows summed in a row before the groups are combined pairwise, when whole rows accumulate.
/// NOTE: [paired-groups]
///
/// NOTE: [paired-groups] Where two whole groups of contiguous rows start a subtree of the
/// pairwise tree (an even group), one pass reads both (16 rows) and combines their sums as the
/// tree's first level would: the same operations in the same order, so the same bits, with
/// half the passes over the tile's stack. Column sums of 1000 × 10⁴ (Intel Xeon, Emerald
/// Rapids, one thread, builds alternated, medians of five rounds): f32 1.97 → 1.88 ms, f64
/// 3.97 → 3.88 ms.
const GROUP: usize = 8;
/// Tiles of at most this many columns accumulate their groups row by row (NOTE:
/// [narrow-tiles]).
///
/// NOTE: [narrow-tiles] A group of contiguous rows was accumulated column by column: an array
/// of the group's row slices built with `std::array::from_fn` and `map`, then each column's
/// sum over them. Those two calls' closures are compiled outside the ISA copy (`try_map`,
/// `try_from_fn` and their `call_mut` took 36% of the profile of a column sum of 1.25·10⁶ × 8
/// f32), and in a tile of 8 columns they are most of the work: from main memory that sum
/// took 10.6 ms against torch's 0.95. And from main memory the columns' loop reads the
/// group's 8 or 16 rows side by side, a vector from each in turn. Tiles of up to `NARROW`
/// columns now accumulate each row into the group's sums in turn, row by row (no array of
/// slices, each row one stream): each column takes the same steps from the same start in the
/// same order, so the bits are those of the columns' loop (tested against the gathered
/// columns, which keep it). Wider tiles keep the columns' loop: all tiles row by row (a
/// scratch build) read 10⁴ columns from memory 1.8× slower and 1000–10⁴ columns in the caches
/// 1.15–1.9× slower; and the array of slices built in plain loops instead lost LLVM's
/// vectorization across the columns (64 columns 9.1 → 15.4 ms). Column sums of 10⁷ elements
/// from memory (AMD Zen 4, medians of 20 calls, before → after (torch), one thread):
/// f64 8 columns 10.0 → 6.2 ms (6.5), 16 6.0 → 3.6 (2.5), 64 8.8 → 3.2 (7.8), 100 8.1 → 3.2
/// (9.8), 256 4.3 → 3.4 (8.2); f32 8 10.6 → 6.1 (0.99), 16 6.3 → 3.8 (2.0), 64 3.4 → 1.8
/// (2.2), 100 3.8 → 1.9 (2.7), 256 3.3 → 2.2 (2.6); 1000 and 10⁴ columns level; in the caches
/// (10⁶ elements) 8–128 columns 1.0–1.6× faster.
///
/// Tiles of up to [`CHUNK`] columns (64 of 4 bytes, [`window_cols`]) go further: a row of 8
/// f32 is too little work to pay for a
/// loop over its columns and the group's sums in memory (8 f32 columns still took 6.2 ms).
/// Each subtree of eight groups (`BLOCK`, 64 rows) is summed in registers, its rows read whole
/// through a window of 8, 16, 32 or 64 columns (the columns past the row's end read and
/// dropped), the eight groups combined as the tree combines them ([`block_in_chunks`]); the rows' starts
/// come from [`RowStarts`], which steps the innermost reduced dim without the odometer; the
/// groups and pairs after the last whole block are read a chunk of columns at a time
/// ([`group_in_chunks`]). The same steps and combines: the same bits. Column sums of 10⁷
/// elements from memory, one thread (AMD Zen 4, medians of 20 calls, before → after
/// (torch)): f32 3 columns 15.3 → 3.4 ms (3.2–4.0), 8 6.2 → 1.5–1.7 (0.9–1.5), 16 3.8 → 1.6
/// (2.3–4.1), 32 2.2 → 1.3 (1.0–1.7); f64 3 15.3 → 3.8 (8.1–9.8), 8 6.1 → 2.4–2.6 (6.9–7.9),
/// 16 3.6 → 2.2–2.6 (3.2–3.6); f64 17–28 columns 1.0–1.5× faster, 32 2.9–3.1 → 3.4–3.6 ms
/// (8.6–9.9), which row by row left 3.4 ms for 24; f32 40 and 48 columns (in windows of 64
/// since the f32 groups of NOTE: [f32-groups]) 2.2–2.4 → 1.5 ms. Wider tiles of up to 128 f64
/// or 256 f32 columns take each group through a window of each row (NOTE: [group-windows]).
const NARROW: usize = 512;
/// Columns per tile when whole rows accumulate: long enough pieces of each row for the
/// prefetcher (4–8 KiB), short enough that the tile's pairwise stack stays in L2; the
/// narrowest tile of contiguous rows, which take wider ones ([`tile_width`]).
const TILE: usize = 1024;
/// The most bytes of pairwise stack a tile of contiguous rows is widened to ([`tile_width`]).
const STACK_BYTES: usize = 256 << 10;

/// The levels of a tile's pairwise stack for `n_red` rows: one per bit of the number of
/// groups of [`GROUP`] rows, and the one being filled.
fn stack_levels(n_red: usize) -> usize {
    (usize::BITS - n_red.div_ceil(GROUP).leading_zeros()) as usize + 1
}

/// Columns per tile of rows of `cols` contiguous columns accumulated into `rows` output rows,
/// with `stack_col` bytes of pairwise stack a column, on `threads` threads: as many as keep
/// the stack within [`STACK_BYTES`], at least [`TILE`], and, on more than one thread, few
/// enough that each thread gets two tiles; a multiple of 64.
///
/// NOTE: [wide-tiles] Each tile reads a piece of every row, and the hardware prefetcher learns
/// each piece anew; pieces of 4 KiB (1024 f32) held column sums of 1000 × 10⁴ f32 to 0.78 of
/// torch. A bare loop of the same adds (Intel Xeon, Emerald Rapids, one thread, medians):
/// 1.58 ms in tiles of 1024 columns, 1.42 ms of 4096, 1.36 ms of the whole 10⁴. The tile's
/// stack (a row of the tile for each level of the pairwise tree) grows with it, so it stops
/// at [`STACK_BYTES`], a quarter of a 1 MiB L2 (4096 columns of f64 for up to 8 levels, 1000
/// rows). The results do not depend on the tile width: each column is summed on its own.
/// Column sums of 1000 × 10⁴ (builds alternated, medians of five rounds), one thread: f32
/// 1.86 → 1.64 ms, f64 3.51 → 3.43 ms; with NOTE: [paired-groups] on two threads: f32 0.92 →
/// 0.84 ms, f64 1.75 → 1.69 ms.
fn tile_width(cols: usize, rows: usize, stack_col: usize, threads: usize) -> usize {
    let mut w = STACK_BYTES / stack_col.max(1);
    if threads > 1 {
        w = w.min(cols.div_ceil((2 * threads).div_ceil(rows.max(1))));
    }
    (w.max(TILE) / 64 * 64).min(cols.max(1))
}

/// One dim of the walk: size, input stride, output stride (0 where reduced).
#[derive(Clone, Copy, Debug)]
struct Dim {
    n: usize,
    xs: isize,
    os: isize,
}

type Dims = SmallVec<[Dim; 6]>;

/// Merge neighbours `(a, b)` (a outer) that are jointly contiguous in input and output.
fn merge(dims: impl IntoIterator<Item = Dim>) -> Dims {
    let mut out: Dims = SmallVec::new();
    for d in dims {
        if d.n == 1 {
            continue;
        }
        if let Some(p) = out.last_mut()
            && p.xs == d.xs * d.n as isize
            && p.os == d.os * d.n as isize
        {
            p.n *= d.n;
            p.xs = d.xs;
            p.os = d.os;
            continue;
        }
        out.push(d);
    }
    if out.is_empty() {
        // one element
        out.push(Dim { n: 1, xs: 1, os: 1 });
    }
    out
}

/// The dims laid out contiguously in their order (the partial results of a first pass).
fn contiguous_walk(dims: &[Dim]) -> Dims {
    let mut acc = 1isize;
    let mut v: Dims = dims.iter().copied().collect();
    for d in v.iter_mut().rev() {
        d.xs = acc;
        acc *= d.n as isize;
    }
    merge(v)
}

/// Offsets of the positions of a row-major walk over `(size, stride)` dims.
struct Odometer {
    dims: SmallVec<[(usize, isize); 6]>,
    idx: SmallVec<[usize; 6]>,
    off: isize,
}

impl Odometer {
    /// Positioned at `start`.
    #[inline(always)]
    fn new(dims: impl IntoIterator<Item = (usize, isize)>, start: usize) -> Self {
        let dims: SmallVec<[(usize, isize); 6]> = dims.into_iter().collect();
        let mut idx: SmallVec<[usize; 6]> = SmallVec::from_elem(0, dims.len());
        let mut rem = start;
        let mut off = 0;
        for (i, &(n, s)) in dims.iter().enumerate().rev() {
            idx[i] = rem % n;
            rem /= n;
            off += idx[i] as isize * s;
        }
        Odometer { dims, idx, off }
    }
    #[inline(always)]
    fn advance(&mut self) {
        for (i, &(n, s)) in self.dims.iter().enumerate().rev() {
            self.idx[i] += 1;
            self.off += s;
            if self.idx[i] < n {
                return;
            }
            self.off -= s * n as isize;
            self.idx[i] = 0;
        }
    }
}

/// The starts of the rows of a reduced walk `red` from `base`, in order from row `first`: the
/// innermost dimension stepped here, an [`Odometer`] over the others once per wrap (NOTE:
/// [narrow-tiles]).
struct RowStarts {
    outer: Odometer,
    base: isize,
    /// The innermost dimension's length and stride, and the index in it.
    n: usize,
    s: isize,
    i: usize,
}

impl RowStarts {
    #[inline(always)]
    fn new(red: &[(usize, isize)], base: isize, first: usize) -> Self {
        let (n, s) = red.last().copied().unwrap_or((1, 0));
        let outer = Odometer::new(
            red[..red.len().saturating_sub(1)].iter().copied(),
            first / n.max(1),
        );
        RowStarts {
            outer,
            base,
            n,
            s,
            i: first % n.max(1),
        }
    }
    /// The next row's start.
    #[inline(always)]
    fn next(&mut self) -> usize {
        let at = self.base + self.outer.off + self.i as isize * self.s;
        self.i += 1;
        if self.i == self.n {
            self.i = 0;
            self.outer.advance();
        }
        at as usize
    }
    /// The first start of the next [`BLOCK`] rows and the distance between them, where they
    /// lie along the innermost dim and the `window` elements from each row's start are within
    /// the data's `len`; else `None`, nothing taken. (Up to the dim's last row:
    /// [`RowStarts::fill`] steps the others by [`RowStarts::next`] where its rows end there,
    /// with the same starts.) The dim then has [`BLOCK`] rows or more, so its stride is
    /// bounded by the data and the last start needs no checked arithmetic.
    #[inline(always)]
    fn block_within(&self, window: usize, len: usize) -> Option<(usize, isize)> {
        if self.i + BLOCK > self.n {
            return None;
        }
        let first = self.base + self.outer.off + self.i as isize * self.s;
        let last = first + (BLOCK as isize - 1) * self.s;
        let (lo, hi) = (first.min(last), first.max(last));
        (lo >= 0 && hi as usize + window <= len).then_some((first as usize, self.s))
    }
    /// The next rows that lie along the innermost dim, at most `rows` of them: the first's
    /// start, the distance between them and how many; nothing taken ([`RowStarts::skip`]
    /// takes them).
    #[inline(always)]
    fn run_along(&self, rows: usize) -> (isize, isize, usize) {
        let first = self.base + self.outer.off + self.i as isize * self.s;
        (first, self.s, rows.min(self.n - self.i))
    }
    /// Takes the next `rows` rows, all along the innermost dim (at most those
    /// [`RowStarts::run_along`] gives), as [`RowStarts::next`] would one by one.
    #[inline(always)]
    fn skip(&mut self, rows: usize) {
        debug_assert!(self.i + rows <= self.n, "rows past the innermost dim");
        self.i += rows;
        if self.i == self.n {
            self.i = 0;
            self.outer.advance();
        }
    }
    /// The next `at.len()` rows' starts, into `at`; the distance between them where it is the
    /// same for all (they lie along the innermost dim), else `None`.
    #[inline(always)]
    fn fill(&mut self, at: &mut [usize]) -> Option<isize> {
        if self.i + at.len() < self.n {
            let first = self.base + self.outer.off + self.i as isize * self.s;
            for (r, a) in at.iter_mut().enumerate() {
                *a = (first + r as isize * self.s) as usize;
            }
            self.i += at.len();
            Some(self.s)
        } else {
            for a in at {
                *a = self.next();
            }
            None
        }
    }
}

/// Whether a reduction reading `work` elements splits it over the threads (NOTE: [par-work]):
/// from outside the pool, from 120000 elements (an estimate of 100 ps an element). Row sums of
/// 256 on AMD Zen 4 took 0.14 ns an element on one core (f64 or f32); on two threads they
/// paid from about 2¹⁷ elements (f64, medians of single calls: 16.8–22.4 µs on two threads
/// against 19.5–19.7 on one at 2¹⁷, 21.8–22.4 against 28.2–29.3 at 196608, 9.4 against 4.6
/// at 2¹⁵).
fn parallel(work: usize) -> bool {
    split(work, Cost(100))
}

/// [`reduce_with`] in the copy for `isa` (the tests force each one).
fn reduce_isa<F: Fold>(
    x: View<'_, F::T>,
    dims: &[usize],
    f: F,
    isa: math::Isa,
    streams: Streams,
) -> AlignedVec<F::A> {
    let kept = kept_shape(x.shape, dims);
    let n_out = numel(&kept);
    let n_in = x.numel();
    if n_in == 0 {
        return alloc_filled(n_out, f.init());
    }
    let mut ostr = contiguous_strides(&kept);
    for &d in dims {
        ostr[d] = 0;
    }
    // memory order: by decreasing input stride, broadcast (stride-0) dims outermost
    let mut order: SmallVec<[Dim; 6]> = (0..x.shape.len())
        .map(|d| Dim {
            n: x.shape[d],
            xs: x.strides[d],
            os: ostr[d],
        })
        .collect();
    order.sort_by_key(|d| std::cmp::Reverse(if d.xs == 0 { isize::MAX } else { d.xs.abs() }));
    let walk = merge(order);
    let inner = *walk.last().expect("merge leaves one dim");
    if inner.xs != 1 && inner.os == 0 {
        // NOTE: [strided-gather]
        let shape: SmallVec<[usize; 6]> = walk.iter().map(|d| d.n).collect();
        let strides: SmallVec<[isize; 6]> = walk.iter().map(|d| d.xs).collect();
        // the bytes from the first element to the last (NOTE: [strided-direct])
        let span = walk
            .iter()
            .map(|d| (d.n - 1) * d.xs.unsigned_abs())
            .sum::<usize>()
            + 1;
        let gathered = Gathered {
            data: x.data,
            offset: x.offset,
            plan: Plan::new(&shape, [&strides[..]]),
            direct: size_of::<F::T>() == 4 || span * size_of::<F::T>() < streams.min_input,
        };
        let walk = merge(
            walk.iter()
                .zip(contiguous_strides(&shape))
                .map(|(d, xs)| Dim {
                    n: d.n,
                    xs,
                    os: d.os,
                }),
        );
        // the innermost dim reduced there too (a merge keeps it reduced)
        let (part, walk) = fold_gathered(f, &gathered, &walk, isa);
        return finish(Combine(f), part, walk, isa, streams);
    }
    let base = x.offset as isize;
    if inner.os == 0 {
        let (part, walk) = fold_inner(f, x.data, base, &walk, isa, streams);
        finish(Combine(f), part, walk, isa, streams)
    } else {
        // strided rows too (NOTE: [strided-gather])
        accumulate_rows(f, x.data, base, &walk, isa)
    }
}

// NOTE: [strided-gather] An input whose every dim is strided (a slice with a step, say
// `x[::2]`) has no contiguous row to fold. It used to be folded one element at a time into
// a running sum: a sum of 5·10⁶ f64 at stride 2 took 17 ms on one thread (AMD Zen 4; torch
// 3.0 ms) and lost every term under half an ulp of the total, against the pairwise bound of
// the contiguous paths. Now its elements are gathered in memory order and folded by the
// contiguous paths' own loops, so strided sums have the same error bound, the same bits as a
// contiguous copy, and an order still fixed by the shape and the layout (NOTE:
// [reduce-order]). Where the innermost dim is reduced ([`fold_gathered`]) they are gathered
// one run at a time ([`run_len`]: 4 KiB of f64, 8 KiB of f32) into a buffer that stays in
// the L1 cache, and each run is folded into the row's pairwise stack as it comes; rows shorter
// than a run are gathered a run's worth of whole rows at a time. Where the innermost dim is
// kept ([`accumulate_rows`]), each group of `GROUP` rows of a tile of columns is gathered
// before it is accumulated, so the scratch is that group, not a copy of the input.
//
// What it took, measured (one thread, medians; a scratch program for the gather loops, the
// library's builds alternated for the rest):
// - Tiles of 256 KiB, each gathered then folded, stopped the stream from memory while a tile
//   was folded: the sum above took 6.1–7.3 ms so. A scratch program reading the same 80 MB
//   read at the rate of a contiguous sum with tiles of 512 f64, at two thirds of it with tiles
//   of 2048 or more.
// - The gather loop matters as much. Strides 2, 3 and 4 are constants in their own loops
//   ([`every`]), which LLVM vectorizes with wide loads and shuffles: 0.2 ns an element
//   (f64, stride 2, in the L2 cache) against 0.4–0.6 for an index times a variable stride
//   or for AVX-512 gather instructions, and 1.1 for `step_by`. Other strides index. The
//   loop is compiled for the baseline instruction set ([`gather`] is not inlined into the
//   kernels): the AVX-512 copy read a large f64 input at stride 2 at 0.8 of its speed.
// - Together: the sum above 6.0–6.5 → 2.4–2.8 ms (torch 2.7–3.6), sums of rows of 4 at
//   stride 2 (10⁶ rows) 10–15 → 3.4–4.4 ms (torch 15–23), f32 rows of 500 at stride 3 (2000
//   rows) 0.95–1.25 → 0.31–0.43 ms (torch 0.18–0.35: in the L3 cache, the gather and then
//   the fold cost more than torch's one strided pass).
// - Column sums (1000 × 5000 f64 at stride 2, medians of single calls, six alternations)
//   gathered a group of tiles at a time, against all of the input gathered first: one thread
//   7.1–9.2 against 5.3–7.3 ms, two 4.4–5.6 against 4.9–7.6 ms (torch 10.9 and 5.7): slower
//   on one thread than one sequential pass, faster on two, and without a copy of the input.
//   Tiles of 256 and 512 columns were slower still on one thread (8–11 ms); 4096 level.

// NOTE: [strided-direct] In the AVX-512 copy, a run (or a row's tail) at a step of 2, 3 or 4
// that lies in one row of the input is not gathered: its rows of LANES elements are read
// straight from memory, each vector of 8 (f64) or 16 (f32) elements from `S` wide loads and one
// to three two-source permutes (`every.rs`), and folded by the same generic loops as a
// contiguous run ([`fold_run_from`], [`fold_tail_from`] over [`LaneRows`]), so the bits are
// the gathered ones. The gather stored every element to the L1 cache and read it back; f32
// rows took a shuffle per four elements. Runs across two rows of the plan, and the last whole
// row of the data (whose wide loads would read past its end), are still gathered.
//
// Measured (AMD Zen 4, medians of single calls; a bare loop first, then the library's builds
// 6fdf38f and this one against torch in one script, five rounds): f32 at stride 2, 40 MB,
// bare 1.5–2.4 ms gathered and folded, 1.18 read directly, 1.19–1.22 for a contiguous sum of
// the same 40 MB; f32 at stride 3, 12 MB (in the L3 cache), 267–303 against 181 µs (contiguous
// 186–198). But f64 from memory was slower read directly: at stride 2, 78 MB, 3.6–4.9 ms with
// 512-bit loads, 3.8–5.2 with 256-bit ones, against 3.0–4.4 gathered (in the L3 cache, 8 MB:
// 94–121 against 132–157 µs). So f64 inputs spanning `Streams::min_input` (16 MiB) or more
// are gathered as before; f32 ones are read directly at every size. In the library, one
// thread (two): `x[::2].sum()` of 5·10⁶ f32 2.16 → 1.44 ms (1.39 → 1.00; torch 1.73 and
// 0.94), rows of 500 f32 at stride 3 (2000 rows) 569 → 298 µs (237 → 157; torch 300 and 157),
// 10⁶ f32 at stride 4 688 → 290 µs (torch 310), rows of 5000 f64 at stride 2 (200 rows, 8 MB)
// 556 → 458 µs (226 → 180; torch 333 and 165); the f64 inputs of 40 MB and more level.

/// The elements of a strided input in memory order, gathered a range at a time (NOTE:
/// [strided-gather]).
struct Gathered<'a, T> {
    data: &'a [T],
    offset: usize,
    plan: Plan<1>,
    /// Whether runs may be read straight from memory (NOTE: [strided-direct]): elements of 4
    /// bytes, or an input that fits in the caches.
    direct: bool,
}

impl<T: Copy> Gathered<'_, T> {
    /// Append the elements at positions `start..start + count` of the memory order to `dst`.
    fn append(&self, start: usize, count: usize, dst: &mut Vec<T>) {
        let [step] = self.plan.inner();
        self.plan.rows([self.offset], start, count, |[o], n| {
            gather(self.data, o, step, n, dst)
        });
    }

    /// Whether [`Gathered::fold_direct`] may read these elements where it is asked to: in the
    /// copy for AVX-512, at a step of 2, 3 or 4, where that measured faster (NOTE:
    /// [strided-direct]).
    fn direct(&self, isa: math::Isa) -> bool {
        self.direct && isa == math::Isa::Avx512 && matches!(self.plan.inner(), [2..=4])
    }

    /// The accumulators of [`fold_run`] (`count` a whole run) or [`fold_tail`] of the `count`
    /// elements from position `start`, read straight from memory (NOTE:
    /// [strided-direct]): `None` unless [`Gathered::direct`], the elements lie in one row of
    /// the plan, and the CPU has AVX-512.
    #[inline(always)]
    fn fold_direct<F: Fold<T = T>>(
        &self,
        f: F,
        start: usize,
        count: usize,
        isa: math::Isa,
    ) -> Option<[F::A; LANES]>
    where
        T: Element,
    {
        if !self.direct(isa) {
            return None;
        }
        let ([o], left) = self.plan.row_at([self.offset], start);
        if left < count {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use every::Every;
            let x = &self.data[o..];
            // SAFETY (each arm): an `Every` exists only where the CPU has AVX-512
            // (`Every::new`), all that `fold_every` is compiled for
            match self.plan.inner() {
                [2] => Every::<_, 2>::new(x, count).map(|e| unsafe { fold_every(f, e) }),
                [3] => Every::<_, 3>::new(x, count).map(|e| unsafe { fold_every(f, e) }),
                [4] => Every::<_, 4>::new(x, count).map(|e| unsafe { fold_every(f, e) }),
                _ => None,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (f, o);
            None
        }
    }
}

/// [`fold_run_from`] (a whole run) or [`fold_tail_from`] of `x`, compiled for AVX-512, which
/// an [`every::Every`] exists only where the CPU has (NOTE: [strided-direct]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn fold_every<F: Fold, const S: usize>(f: F, x: every::Every<'_, F::T, S>) -> [F::A; LANES] {
    let n = x.len();
    if n == run_len::<F::T>() && n == RUN_NARROW {
        fold_run_from::<F, RUN_NARROW, _>(f, x)
    } else if n == run_len::<F::T>() && n == RUN {
        fold_run_from::<F, RUN, _>(f, x)
    } else {
        fold_tail_from(f, x)
    }
}

/// Append the `n` elements `data[o]`, `data[o + step]`, ... to `dst`. Not inlined into the
/// kernels: compiled for the baseline instruction set, which read large inputs faster than
/// AVX-512 did (NOTE: [strided-gather]).
#[inline(never)]
fn gather<T: Copy>(data: &[T], o: usize, step: isize, n: usize, dst: &mut Vec<T>) {
    if n == 0 {
        return;
    }
    // the elements as a slice from the lowest to the highest
    let span = (n - 1) * step.unsigned_abs();
    let lo = if step < 0 { o - span } else { o };
    let x = &data[lo..=lo + span];
    let s = step.unsigned_abs();
    match step {
        2 => every::<T, 2>(x, dst),
        3 => every::<T, 3>(x, dst),
        4 => every::<T, 4>(x, dst),
        0.. => dst.extend((0..n).map(|t| x[t * s])),
        _ => dst.extend((0..n).map(|t| x[span - t * s])),
    }
}

/// Append every `S`-th element of `x` (whose length is one more than a multiple of `S`) to
/// `dst`, from the first to the last: with the stride a constant, the loop is vectorized with
/// wide loads and shuffles (NOTE: [strided-gather]).
#[inline(always)]
fn every<T: Copy, const S: usize>(x: &[T], dst: &mut Vec<T>) {
    let (rows, last) = x.as_chunks::<S>();
    dst.extend(rows.iter().map(|r| r[0]));
    dst.extend_from_slice(last);
}

/// [`fold_inner`] for a strided input: `walk` is its merged memory order with contiguous
/// strides, the innermost dim reduced; its rows are gathered a run at a time and folded with
/// the bits of a contiguous copy (NOTE: [strided-gather]).
fn fold_gathered<F: Fold>(
    f: F,
    x: &Gathered<'_, F::T>,
    walk: &[Dim],
    isa: math::Isa,
) -> (AlignedVec<F::A>, Dims) {
    let (inner, outer) = walk.split_last().expect("merge leaves one dim");
    let len = inner.n;
    let rows: usize = outer.iter().map(|d| d.n).product();
    let mut part = alloc_filled(rows, f.init());
    let fold = |first: usize, out: &mut [F::A]| {
        with_isa(
            isa,
            FoldGatheredRows {
                f,
                x,
                first,
                len,
                out,
                isa,
            },
        )
    };
    // the split of fold_rows, with pieces of PAR_MIN elements at every size: the larger pieces
    // of NOTE: [row-pieces], tried here (AMD Zen 4, two threads, alternated three times), took
    // f32 rows of 10⁴ at a step of 2 from 200–225 to 169–203 µs and f64 from 201–208 to
    // 191–197, but f32 at a step of 3 from 363–403 to 374–452: not clear enough to take
    if let Some(size) = row_blocks::<F::T>(rows, len) {
        for (r, p) in part.iter_mut().enumerate() {
            *p = fold_blocks(f, len, size, |range| {
                with_isa(
                    isa,
                    FoldGatheredBlock {
                        f,
                        x,
                        start: r * len + range.start,
                        len: range.len(),
                        isa,
                    },
                )
            });
        }
    } else if parallel(rows * len) && rows > 1 {
        let most = rows.div_ceil(2 * rayon::current_num_threads());
        let per = (PAR_MIN / len).clamp(1, most);
        super::pieces::for_each_chunk_mut(&mut part, per, |t, out| fold(t * per, out));
    } else {
        fold(0, &mut part);
    }
    (part, contiguous_walk(outer))
}

/// Rows `first..` of a strided input (each `len` long), gathered and folded into `out` as
/// [`FoldRows`] folds contiguous rows (NOTE: [strided-gather]). NOTE: [isa-copies]
struct FoldGatheredRows<'a, F: Fold> {
    f: F,
    x: &'a Gathered<'a, F::T>,
    first: usize,
    len: usize,
    out: &'a mut [F::A],
    isa: math::Isa,
}

impl<F: Fold> Vectorized for FoldGatheredRows<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (f, x, len) = (self.f, self.x, self.len);
        let run = run_len::<F::T>();
        let mut buf = Vec::with_capacity(run);
        let mut stack = Runs::new(None);
        // rows of a run or less gathered together, unless read straight from memory one by one
        // (as long rows are, where `gathered_lanes` folds as `fold_row` does: beyond LANES)
        if len <= run && !(len > LANES && x.direct(self.isa)) {
            // whole rows, a run's worth at a time
            let per = run / len;
            for (g, out) in self.out.chunks_mut(per).enumerate() {
                buf.clear();
                x.append((self.first + g * per) * len, out.len() * len, &mut buf);
                for (p, row) in out.iter_mut().zip(buf.chunks_exact(len)) {
                    *p = fold_row(f, row, &mut stack);
                }
            }
        } else {
            for (i, p) in self.out.iter_mut().enumerate() {
                let start = (self.first + i) * len;
                *p = collapse(
                    f,
                    gathered_lanes(f, x, start, len, &mut buf, &mut stack.row, self.isa),
                );
            }
        }
    }
}

/// One block of a long strided row, gathered and folded into its accumulators. NOTE:
/// [isa-copies]
struct FoldGatheredBlock<'a, F: Fold> {
    f: F,
    x: &'a Gathered<'a, F::T>,
    start: usize,
    len: usize,
    isa: math::Isa,
}

impl<F: Fold> Vectorized for FoldGatheredBlock<'_, F> {
    type Out = [F::A; LANES];
    #[inline(always)]
    fn run(self) -> [F::A; LANES] {
        let mut buf = Vec::with_capacity(run_len::<F::T>());
        let mut stack = Vec::with_capacity(64);
        gathered_lanes(
            self.f, self.x, self.start, self.len, &mut buf, &mut stack, self.isa,
        )
    }
}

/// [`fold_lanes`] of the `len` elements from position `start` of a strided input (more than
/// [`LANES`]), each run read straight from memory where it can be in the copy for `isa`
/// (NOTE: [strided-direct]), else gathered into `buf` (NOTE: [strided-gather]).
#[inline(always)]
fn gathered_lanes<F: Fold>(
    f: F,
    x: &Gathered<'_, F::T>,
    start: usize,
    len: usize,
    buf: &mut Vec<F::T>,
    stack: &mut Vec<[F::A; LANES]>,
    isa: math::Isa,
) -> [F::A; LANES] {
    if run_len::<F::T>() == RUN_NARROW {
        gathered_runs::<F, RUN_NARROW>(f, x, start, len, buf, stack, isa)
    } else {
        gathered_runs::<F, RUN>(f, x, start, len, buf, stack, isa)
    }
}

/// [`gathered_lanes`] with runs of `R` elements: the runs and the tail of [`fold_runs`], in
/// its order, each gathered as it is folded.
#[inline(always)]
fn gathered_runs<F: Fold, const R: usize>(
    f: F,
    x: &Gathered<'_, F::T>,
    start: usize,
    len: usize,
    buf: &mut Vec<F::T>,
    stack: &mut Vec<[F::A; LANES]>,
    isa: math::Isa,
) -> [F::A; LANES] {
    stack.clear();
    let (runs, rest) = (len / R, len % R);
    if runs + usize::from(rest > 0) == 1 {
        // one part (a row of a run or less): what the stack would give back
        return gathered_part::<F, R>(f, x, start, len, buf, isa);
    }
    for j in 0..runs {
        let acc = gathered_part::<F, R>(f, x, start + j * R, R, buf, isa);
        push_lanes(f, stack, j as u64, acc);
    }
    if rest != 0 {
        let acc = gathered_part::<F, R>(f, x, start + runs * R, rest, buf, isa);
        push_lanes(f, stack, runs as u64, acc);
    }
    flush_lanes(f, stack)
}

/// The accumulators of one part of a strided row (`count` elements from position `start`: a
/// whole run of `R`, or fewer): read straight from memory where [`Gathered::fold_direct`]
/// can (NOTE: [strided-direct]), else gathered into `buf` and folded as [`fold_run`] or
/// [`fold_tail`] fold it (NOTE: [strided-gather]). (No closures: they would be compiled
/// outside the ISA copies, NOTE: [isa-copies].)
#[inline(always)]
fn gathered_part<F: Fold, const R: usize>(
    f: F,
    x: &Gathered<'_, F::T>,
    start: usize,
    count: usize,
    buf: &mut Vec<F::T>,
    isa: math::Isa,
) -> [F::A; LANES] {
    if let Some(acc) = x.fold_direct(f, start, count, isa) {
        return acc;
    }
    buf.clear();
    x.append(start, count, buf);
    match buf.as_chunks::<R>() {
        ([run], []) => fold_run(f, run),
        _ => fold_tail(f, buf),
    }
}

/// Reduce partial results laid out contiguously along `walk` until nothing reduced is left.
fn finish<X: Element, G: Fold<T = X, A = X>>(
    g: G,
    mut part: AlignedVec<X>,
    mut walk: Dims,
    isa: math::Isa,
    streams: Streams,
) -> AlignedVec<X> {
    loop {
        if walk.iter().all(|d| d.os != 0) {
            return place(part, &walk);
        }
        if walk.last().expect("merge leaves one dim").os != 0 {
            return accumulate_rows(g, &part, 0, &walk, isa);
        }
        (part, walk) = fold_inner(g, &part, 0, &walk, isa, streams);
    }
}

/// Results in walk order (kept dims only) put in output order.
fn place<A: Element>(buf: AlignedVec<A>, walk: &[Dim]) -> AlignedVec<A> {
    let mut acc = 1isize;
    let in_order = walk.iter().rev().all(|d| {
        let ok = d.os == acc;
        acc *= d.n as isize;
        ok
    });
    if in_order {
        return buf;
    }
    let mut out = alloc_filled(buf.len(), buf[0]);
    let mut o = Odometer::new(walk.iter().map(|d| (d.n, d.os)), 0);
    for &v in &buf {
        out[o.off as usize] = v;
        o.advance();
    }
    out
}

/// Fold each contiguous innermost row (reduced) of the walk: the partial results, laid out
/// along the outer dims, and their walk.
fn fold_inner<F: Fold>(
    f: F,
    data: &[F::T],
    base: isize,
    walk: &[Dim],
    isa: math::Isa,
    streams: Streams,
) -> (AlignedVec<F::A>, Dims) {
    let (inner, outer) = walk.split_last().expect("merge leaves one dim");
    let rows: usize = outer.iter().map(|d| d.n).product();
    let bytes = rows * inner.n * size_of::<F::T>();
    let Some(quarter) = streams.quarter(bytes) else {
        return fold_rows(f, data, base, walk, isa, None, streams.block);
    };
    let short = inner.n < run_len::<F::T>();
    if !streams.measured || (short && !rows_written_out::<F>(inner.n, isa)) {
        // (rows shorter than a run not folded by the kernels written out for them are read in
        // order either way: nothing to measure)
        return fold_rows(f, data, base, walk, isa, Some(quarter), streams.block);
    }
    // NOTE: [streams-measured]
    let reading = if inner.n <= LANES {
        Reading::ShortRows
    } else if short {
        Reading::PartRows
    } else if side_by_side::<F::T>(inner.n, quarter) {
        Reading::SideBySide
    } else {
        Reading::Quarters
    };
    let class = SizeClass::of(bytes, streams.min_input, reading);
    let (way, trial) = match class.choice() {
        Choice::Streams => (Way::Streams, None),
        Choice::InOrder => (Way::InOrder, None),
        Choice::Try(way) => (way, Some(std::time::Instant::now())),
    };
    let out = fold_rows(
        f,
        data,
        base,
        walk,
        isa,
        (way == Way::Streams).then_some(quarter),
        streams.block,
    );
    if let Some(start) = trial {
        class.record(way, start.elapsed().as_secs_f64() / bytes as f64);
    }
    out
}

/// Contiguous rows of more bytes than this in all are split over the threads in two pieces a
/// thread; fewer, in pieces of [`PAR_MIN`] elements (NOTE: [row-pieces]).
///
/// NOTE: [row-pieces] Pieces of `PAR_MIN` elements (three rows of 10⁴) were claimed in turn by
/// the threads, so each core read 120–240 KiB and then jumped past the other's piece: its
/// prefetcher started over at every piece, and where the rows sit in the L3 (an input of a
/// few MB to a few tens) that cost the stream. In two pieces a thread, each reads long runs of
/// rows. AMD Zen 4, two threads, medians of 300–400 calls, the builds alternated three or four
/// times: f32 250 × 10⁴ (10 MB) 70–82 → 62 µs (torch 58), 400 × 10⁴ 132–133 → 99–106 µs, 100 ×
/// 10⁴ 29 → 27 µs; f64 125 × 10⁴ 34.6–38.3 → 30.9–32.3 µs, 1000 × 1000 33.5–36.8 → 31.1–33.9,
/// 10⁴ × 100 73.1–73.8 → 71.1–71.4. But small inputs, whose calls take 15–20 µs, lose by it:
/// a worker that wakes late (NOTE: [caller-shares]) leaves a larger share to the caller, f64
/// 1000 × 250 (2 MB) 15.5–17.9 → 18.0–18.1 µs and f32 2000 × 100 15.3–20.2 → 16.1–17.9; so
/// inputs of up to 2 MiB keep the small pieces. The pieces never change a row's bits.
const FEW_PIECES_BYTES: usize = 2 << 20;

/// [`fold_inner`] with the quarters' fewest bytes chosen: `None` where rows are read from
/// start to end (NOTE: [streams]); `block` is [`Streams::block`].
fn fold_rows<F: Fold>(
    f: F,
    data: &[F::T],
    base: isize,
    walk: &[Dim],
    isa: math::Isa,
    quarter: Option<usize>,
    block: usize,
) -> (AlignedVec<F::A>, Dims) {
    let (inner, outer) = walk.split_last().expect("merge leaves one dim");
    let len = inner.n;
    let outer_xs: SmallVec<[(usize, isize); 6]> = outer.iter().map(|d| (d.n, d.xs)).collect();
    let rows: usize = outer.iter().map(|d| d.n).product();
    let mut part = alloc_filled(rows, f.init());
    if let Some(size) = row_blocks::<F::T>(rows, len) {
        // long rows, or fewer rows than threads: each split into blocks over the threads
        let mut o = Odometer::new(outer_xs.iter().copied(), 0);
        for p in part.iter_mut() {
            let at = (base + o.off) as usize;
            *p = fold_long(f, &data[at..at + len], size, isa, quarter);
            o.advance();
        }
    } else if parallel(rows * len) && rows > 1 {
        // NOTE: [row-pieces]; rows read side by side keep two pieces a thread at any size
        // (the tests' `Streams` read small inputs so): they need four rows at least to a piece
        // (NOTE: [streams])
        let most = rows.div_ceil(2 * rayon::current_num_threads());
        let per = if quarter.is_some() || rows * len * size_of::<F::T>() > FEW_PIECES_BYTES {
            most
        } else {
            (PAR_MIN / len).clamp(1, most)
        };
        super::pieces::for_each_chunk_mut(&mut part, per, |t, out| {
            let k = FoldRows {
                f,
                data,
                base,
                outer: &outer_xs,
                start: t * per,
                len,
                quarter,
                block,
                out,
                isa,
            };
            with_isa(isa, k)
        });
    } else {
        let k = FoldRows {
            f,
            data,
            base,
            outer: &outer_xs,
            start: 0,
            len,
            quarter,
            block,
            out: &mut part,
            isa,
        };
        with_isa(isa, k)
    }
    (part, contiguous_walk(outer))
}

/// Rows `start..` of the outer walk, each folded into `out`. NOTE: [isa-copies]
struct FoldRows<'a, F: Fold> {
    f: F,
    data: &'a [F::T],
    base: isize,
    outer: &'a [(usize, isize)],
    start: usize,
    len: usize,
    /// The fewest bytes of a quarter read side by side, if any are (NOTE: [streams]).
    quarter: Option<usize>,
    /// The bytes of a block of rows of a quarter read side by side ([`Streams::block`]).
    block: usize,
    out: &'a mut [F::A],
    /// The ISA of the copy this runs in ([`with_isa`]'s `want`).
    isa: math::Isa,
}

impl<F: Fold> Vectorized for FoldRows<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (f, len) = (self.f, self.len);
        let mut stack = Runs::new(self.quarter);
        // NOTE: [streams] rows of at least a run, too short to be read in quarters, in four
        // quarters of the rows side by side
        let q = if self.quarter.is_some_and(|b| side_by_side::<F::T>(len, b)) {
            self.out.len() / STREAMS
        } else {
            0
        };
        if q > 0 {
            // NOTE: [held-rows] each quarter's rows in blocks, all read before any is combined
            let mut o: [Odometer; STREAMS] = std::array::from_fn(|s| {
                Odometer::new(self.outer.iter().copied(), self.start + s * q)
            });
            let mut quarters = self.out[..STREAMS * q].chunks_mut(q);
            let mut outs: [&mut [F::A]; STREAMS] =
                std::array::from_fn(|_| quarters.next().expect("four quarters of q rows"));
            let per = block_rows::<F::T>(self.block, len, q);
            let mut i = 0;
            while i < q {
                let k = per.min(q - i);
                let rows = RowsSideBySide {
                    data: self.data,
                    base: self.base,
                    at: &mut o,
                    len,
                };
                let out = outs.each_mut().map(|o| &mut o[i..i + k]);
                if run_len::<F::T>() == RUN_NARROW {
                    fold_rows_side_by_side::<F, RUN_NARROW>(f, rows, &mut stack.quarters, out);
                } else {
                    fold_rows_side_by_side::<F, RUN>(f, rows, &mut stack.quarters, out);
                }
                i += k;
            }
        }
        let start = self.start + STREAMS * q;
        let out = &mut self.out[STREAMS * q..];
        if let [(_, xs)] = self.outer
            && *xs == len as isize
            && len > 0
        {
            // rows one after the other
            let at = (self.base + start as isize * *xs) as usize;
            let x = &self.data[at..at + out.len() * len];
            fold_packed_rows(f, x, len, out, self.isa, &mut stack);
            return;
        }
        let mut o = Odometer::new(self.outer.iter().copied(), start);
        for p in out.iter_mut() {
            let at = (self.base + o.off) as usize;
            *p = fold_row(f, &self.data[at..at + len], &mut stack);
            o.advance();
        }
    }
}

/// The rows of `len` elements (at least 1) one after the other in `x`, each folded into `out`
/// as [`fold_row`] folds it: rows of 8 or fewer across rows (NOTE: [tiny-rows]), sums, maxima
/// and minima of rows of 9 elements or more read in order by the AVX-512 or AVX2 kernels
/// written out where the copy for `isa` runs (NOTE: [sum-rows], NOTE: [pick-rows]), all others
/// one at a time.
#[inline(always)]
fn fold_packed_rows<F: Fold>(
    f: F,
    x: &[F::T],
    len: usize,
    out: &mut [F::A],
    isa: math::Isa,
    stack: &mut Runs<F::A>,
) {
    match len {
        1 => return fold_tiny::<F, 1>(f, x, out),
        2 => return fold_tiny::<F, 2>(f, x, out),
        3 => return fold_tiny::<F, 3>(f, x, out),
        4 => return fold_tiny::<F, 4>(f, x, out),
        5 => return fold_tiny::<F, 5>(f, x, out),
        6 => return fold_tiny::<F, 6>(f, x, out),
        7 => return fold_tiny::<F, 7>(f, x, out),
        8 => {
            // NOTE: [tiny-gathers]
            #[cfg(target_arch = "x86_64")]
            if size_of::<F::T>() == 8 && isa.min(math::isa()) == math::Isa::Avx512 {
                // SAFETY: the CPU has AVX-512 (`math::isa()` found it), so AVX2 and FMA
                return unsafe { tiny8_avx2(f, x, out) };
            }
            return fold_tiny::<F, 8>(f, x, out);
        }
        _ => {}
    }
    #[cfg(target_arch = "x86_64")]
    {
        // rows of a run or more only where they are read in order (NOTE: [streams]); shorter
        // ones four at a time from the quarters of the rows where quarters are read (NOTE:
        // [short-streams])
        let in_order = len / run_len::<F::T>() < quartered_runs::<F::T>(stack.quarter);
        let quarters = stack.quarter.is_some() && len < run_len::<F::T>();
        if in_order && rows_wide::<F>(x, len, out, isa, quarters) {
            return;
        }
    }
    let _ = isa;
    for (p, row) in out.iter_mut().zip(x.chunks_exact(len)) {
        *p = fold_row(f, row, stack);
    }
}

/// Whether rows of `len` elements folded by `F` in the copy for `isa` are folded by the kernels
/// written out for them ([`rows_wide`]): rows of 9 elements or more, sums of f64 or f32 into
/// f64 and maxima and minima of f64 or f32, in the AVX-512 or AVX2 copy.
fn rows_written_out<F: Fold>(len: usize, isa: math::Isa) -> bool {
    let (t, a) = (F::T::DTYPE, F::A::DTYPE);
    let types = match F::KIND {
        Kind::Sum => a == DType::F64 && (t == DType::F64 || t == DType::F32),
        Kind::Max | Kind::Min => a == t && (t == DType::F64 || t == DType::F32),
        Kind::Other => false,
    };
    // the copy `with_isa` runs: never above what the CPU has
    cfg!(target_arch = "x86_64") && types && len >= 9 && isa.min(math::isa()) != math::Isa::Plain
}

/// The rows of `len` elements (9 or more) of `x` folded into `out` by the kernels written out
/// for them, where `F` is a sum ([`rows::sum_rows_avx512`], [`rows::sum_rows_avx2`]) or a
/// maximum or minimum ([`rows::pick_rows_avx512`], [`rows::pick_rows_avx2`]) of f64 or f32 and
/// the copy for `isa` is AVX-512 or AVX2 (whether they ran, as [`rows_written_out`] says): f64
/// rows in the copy's vectors, f32 rows in AVX2's except sums where AVX-512's units are whole
/// (NOTE: [sum-rows], NOTE: [pick-rows], NOTE: [halved-512]); four
/// at a time from the quarters of the rows if `quarters` (NOTE: [short-streams]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rows_wide<F: Fold>(
    x: &[F::T],
    len: usize,
    out: &mut [F::A],
    isa: math::Isa,
    quarters: bool,
) -> bool {
    if !rows_written_out::<F>(len, isa) {
        return false;
    }
    let avx512 = isa.min(math::isa()) == math::Isa::Avx512;
    // SAFETY (each kernel): the CPU has the ISA (`math::isa()` found it, and every CPU with
    // AVX-512 has AVX2)
    if let (Some(x), Some(out)) = (as_type::<_, f64>(x), as_type_mut::<_, f64>(out)) {
        match (F::KIND, avx512) {
            (Kind::Sum, true) => unsafe { rows::sum_rows_avx512(x, len, out, quarters) },
            (Kind::Sum, false) => unsafe { rows::sum_rows_avx2(x, len, out, quarters) },
            (Kind::Max, true) => unsafe { rows::pick_rows_avx512::<true>(x, len, out, quarters) },
            (Kind::Max, false) => unsafe {
                rows::pick_rows_avx2::<f64, true>(x, len, out, quarters)
            },
            (Kind::Min, true) => unsafe { rows::pick_rows_avx512::<false>(x, len, out, quarters) },
            (Kind::Min, false) => unsafe {
                rows::pick_rows_avx2::<f64, false>(x, len, out, quarters)
            },
            (Kind::Other, _) => return false,
        }
        return true;
    }
    // NOTE: [sum-rows] f32 sums of rows in AVX-512 vectors where its units are 512 bits wide,
    // else in AVX2's (NOTE: [halved-512]); maxima and minima in AVX2's
    let Some(x) = as_type::<_, f32>(x) else {
        return false;
    };
    if let Some(out) = as_type_mut::<_, f64>(out) {
        if F::KIND != Kind::Sum {
            return false;
        }
        if avx512 && !math::halved_512() {
            unsafe { rows::sum_rows_avx512(x, len, out, quarters) };
        } else {
            unsafe { rows::sum_rows_avx2(x, len, out, quarters) };
        }
        return true;
    }
    let Some(out) = as_type_mut::<_, f32>(out) else {
        return false;
    };
    match F::KIND {
        Kind::Max => unsafe { rows::pick_rows_avx2::<f32, true>(x, len, out, quarters) },
        Kind::Min => unsafe { rows::pick_rows_avx2::<f32, false>(x, len, out, quarters) },
        Kind::Sum | Kind::Other => return false,
    }
    true
}

/// `x` as a slice of `V`, where `U` is `V`: their dtypes are the same (`Element` is sealed, and
/// each of its types has its own dtype).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn as_type<U: Element, V: Element>(x: &[U]) -> Option<&[V]> {
    // SAFETY: `U` and `V` are the same type (as above)
    if U::DTYPE == V::DTYPE {
        Some(unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<V>(), x.len()) })
    } else {
        None
    }
}

/// [`as_type`] of a mutable slice.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn as_type_mut<U: Element, V: Element>(x: &mut [U]) -> Option<&mut [V]> {
    // SAFETY: `U` and `V` are the same type (as in `as_type`)
    if U::DTYPE == V::DTYPE {
        Some(unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr().cast::<V>(), x.len()) })
    } else {
        None
    }
}

/// The rows of `N` elements of `x`, one after the other, each folded into `out` as
/// [`fold_row`] folds it.
///
/// NOTE: [tiny-rows] With the length a constant, the loop over the rows is vectorized across
/// rows (wide loads and shuffles), where one row at a time spent most of its time between rows
/// (the odometer, the slice, a short chain). Row sums on one core of AMD Zen 4, medians of
/// single calls, minima of two runs: 2·10⁵ rows of 3 f64 1.39–1.43 ms → 301–313 µs (torch
/// 3–4 ms in the same run), 10⁵ rows of 5 f64 764–788 → 181 µs, of 4 f32 635–658 → 69–79 µs,
/// of 8 f32 545–550 → 149–155 µs; of 8 f64 level (472–486 against 491–544 µs: LLVM gathers
/// there).
#[inline(always)]
fn fold_tiny<F: Fold, const N: usize>(f: F, x: &[F::T], out: &mut [F::A]) {
    for (p, row) in out.iter_mut().zip(x.as_chunks::<N>().0) {
        *p = fold_short(f, row);
    }
}

/// [`fold_tiny`] of rows of 8 elements of 8 bytes, compiled for AVX2 (called from the
/// AVX-512 copy).
///
/// NOTE: [tiny-gathers] In the AVX-512 copy LLVM vectorizes the rows of 8 f64 across rows with
/// gather instructions, element `k` of 8 rows at a time, where the AVX2 copy loads whole rows
/// and shuffles them. So rows of 8 elements of 8 bytes take the AVX2 copy's loop there; the
/// code is the same generic fold (no contraction into FMAs), so the bits are too. AMD Zen 4,
/// one thread, medians of 300 calls (20 from memory), the build before and this one alternated
/// twice (before → after, torch): row sums of 125 000 × 8 f64 (in the L3 cache) 436–441 →
/// 152–153 µs, of 1.25·10⁶ × 8 (from memory) 17.2–17.5 → 3.46–3.51 ms (torch 5.2–5.6); maxima
/// 1023–1034 → 181–182 µs and 22.1–22.5 → 3.72–3.82 ms (torch 8.3–8.6). Rows of 2 to 7 and f32
/// rows stay in the AVX-512 copy (within 10–20% of the AVX2 one either way).
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tiny8_avx2<F: Fold>(f: F, x: &[F::T], out: &mut [F::A]) {
    fold_tiny::<F, 8>(f, x, out)
}

/// One block of a long row, folded into its accumulators. NOTE: [isa-copies]
struct FoldBlock<'a, F: Fold> {
    f: F,
    x: &'a [F::T],
    quarter: Option<usize>,
}

impl<F: Fold> Vectorized for FoldBlock<'_, F> {
    type Out = [F::A; LANES];
    #[inline(always)]
    fn run(self) -> [F::A; LANES] {
        fold_lanes(self.f, self.x, &mut Runs::new(self.quarter))
    }
}

/// A long row folded in blocks of `size` elements on all threads, the blocks' accumulators
/// combined in the tree [`fold_row`] builds (NOTE: [reduce-order]).
fn fold_long<F: Fold>(
    f: F,
    x: &[F::T],
    size: usize,
    isa: math::Isa,
    quarter: Option<usize>,
) -> F::A {
    fold_blocks(f, x.len(), size, |range| {
        with_isa(
            isa,
            FoldBlock {
                f,
                x: &x[range],
                quarter,
            },
        )
    })
}

/// A row of `len` elements folded in blocks of `size` (a power of two of runs, [`row_blocks`])
/// on all threads, `block` folding the elements of one range into its accumulators, the
/// blocks' accumulators combined in the tree [`fold_row`] builds (NOTE: [reduce-order],
/// [short-blocks]).
fn fold_blocks<F: Fold>(
    f: F,
    len: usize,
    size: usize,
    block: impl Fn(std::ops::Range<usize>) -> [F::A; LANES] + Sync,
) -> F::A {
    let mut blocks = vec![[f.init(); LANES]; len.div_ceil(size)];
    super::pieces::for_each_chunk_mut(&mut blocks, 1, |i, out| {
        out[0] = block(i * size..((i + 1) * size).min(len));
    });
    let mut stack = Vec::with_capacity(64);
    for (i, b) in blocks.into_iter().enumerate() {
        push_lanes(f, &mut stack, i as u64, b);
    }
    collapse(f, flush_lanes(f, &mut stack))
}

/// Fold a contiguous row the way pairwise summation does, with the same error bound (O(log n)
/// roundings per element, not O(n)): runs of [`RUN`] elements into [`LANES`] interleaved
/// accumulators (16 elements each; runs of [`RUN_NARROW`], 64 each, for 4-byte elements), the
/// runs' accumulators combined lane by lane in a pairwise tree (a binary counter over the
/// runs, no recursion), and the lanes combined pairwise at the end. Rows up to [`LANES`] long
/// are folded in order.
///
/// NOTE: [run-length] The pairwise stack costs a store of the run's accumulators and, on
/// average, a load and an addition of another set per run. With runs of 128 f64 (4 to an
/// accumulator) that overhead made a sum of 10⁷ f64 read at 4/5 of a plain loop's rate (AMD
/// Zen 3, one thread, the same buffer alternated: 5.1–6.0 against 4.1–4.6 ms); runs of 512
/// read within a few percent of it. The error bound grows from 4 + log₂(n/128) to
/// 16 + log₂(n/512) roundings, NumPy's.
///
/// NOTE: [f32-groups] Converting every f32 element to f64 before its addition held f32 sums
/// to 4/5 of the rate of a loop that adds in f32 (AMD Zen 3, one thread, the same 10⁷
/// elements alternated, best of 100 calls: 2.4–2.9 against 1.9–2.2 ms), which is how torch
/// sums f32: each conversion takes 4 elements, so the loop issues twice the loads of one that
/// adds 8 at a time. So in a run, the 8 consecutive elements of an accumulator
/// (`Fold::GROUP`, a stride of [`LANES`] apart) are first summed in f32, in order, and their
/// sum enters the f64 accumulator. The group sums pass through `black_box`: without it LLVM
/// vectorized the group additions at the width of the conversions that read them (4 f32, as
/// many loads as before) and the change gained nothing; with it they run 8 wide (`vaddps` on
/// ymm in the AVX2 copy). The kernels example, the build before and after alternated (one
/// thread, best of two runs, three rounds): sum of 10⁷ f32 2.97–3.44 → 2.50–2.89 ms, row sums
/// of 1000 × 10⁴ 3.05–3.52 → 2.66–3.13 ms. Each element takes at most 7 roundings of 2⁻²⁴
/// relative to its group's partial sums before the f64 tree, fewer than the log₂ n of pairwise
/// summation in f32 for rows of 2⁸ or more; the run's order (and so the result) is still fixed
/// by the shape alone.
///
/// Column sums do the same since the groups of 8 rows of a column tile ([`AccumulateTile`])
/// are the leaves of its pairwise tree: each column's 8 elements of a group are summed in f32,
/// in order, before their sum enters the f64 tree ([`column_leaf`], [`leaf_row`],
/// `fold_chunk`), in every way a tile is read, so the bits do not depend on the way. Each
/// conversion and f64 addition costs as much as the f32 additions of a vector twice as wide
/// (512-bit operations run at half rate on AMD Zen 4): column sums of 10⁶ f32 in the caches
/// (one thread, medians of 200 calls, before → after (torch)) 16 columns 107 → 75 µs (83), 32
/// 94 → 65 (44), 256 102–113 → 82–96 (57), 1000 89 → 64 (59), 10⁴ 94 → 68 (62), with 40–64
/// columns in registers (NOTE: [narrow-tiles]) 133–204 → 63–75 (64 columns: 65); 100 columns
/// (row by row) 128 → 140–150 (133).
#[inline(always)]
fn fold_row<F: Fold>(f: F, x: &[F::T], stack: &mut Runs<F::A>) -> F::A {
    if x.len() <= LANES {
        return fold_short(f, x);
    }
    collapse(f, fold_lanes(f, x, stack))
}

/// A row of at most [`LANES`] elements: in order if it has 8 or fewer; else its whole eights
/// into 8 accumulators (element `k` into lane `k % 8`), combined pairwise, then the rest
/// (under 8) in order.
///
/// NOTE: [short-rows] A row of 9 to 32 elements was folded in order, one element after the
/// other: a chain of dependent additions as long as the row. Row sums on one core of AMD Zen 4
/// (medians of single calls, builds alternated, minima of two runs): 6·10⁴ rows of 16 f32
/// 766–843 → 348–361 µs, 3·10⁴ rows of 32 f32 625–652 → 299–312 µs.
#[inline(always)]
fn fold_short<F: Fold>(f: F, x: &[F::T]) -> F::A {
    if x.len() <= 8 {
        return x.iter().fold(f.init(), |a, &v| f.step(a, v));
    }
    let (eights, rest) = x.as_chunks::<8>();
    let mut a = f.init();
    if let Some((first, more)) = eights.split_first() {
        let mut acc = first.map(|v| f.step(f.init(), v));
        for e in more {
            for j in 0..8 {
                acc[j] = f.step(acc[j], e[j]);
            }
        }
        let q: [F::A; 4] = std::array::from_fn(|j| f.combine(acc[j], acc[j + 4]));
        a = f.combine(f.combine(q[0], q[2]), f.combine(q[1], q[3]));
    }
    rest.iter().fold(a, |a, &v| f.step(a, v))
}

/// [`fold_row`] before the lanes are combined.
#[inline(always)]
fn fold_lanes<F: Fold>(f: F, x: &[F::T], stack: &mut Runs<F::A>) -> [F::A; LANES] {
    if run_len::<F::T>() == RUN_NARROW {
        fold_runs::<F, RUN_NARROW>(f, x, stack)
    } else {
        fold_runs::<F, RUN>(f, x, stack)
    }
}

/// [`fold_lanes`] with runs of `R` elements.
#[inline(always)]
fn fold_runs<F: Fold, const R: usize>(f: F, x: &[F::T], runs_of: &mut Runs<F::A>) -> [F::A; LANES] {
    let stack = &mut runs_of.row;
    stack.clear();
    debug_assert_eq!(R, run_len::<F::T>(), "quarter_runs counts runs of run_len");
    let (runs, rest) = x.as_chunks::<R>();
    // NOTE: [short-rows] one part (a row of a run or less): what the stack would give back
    match (runs, rest.is_empty()) {
        ([], _) => return fold_tail(f, rest),
        ([run], true) => return fold_run(f, run),
        _ => {}
    }
    // NOTE: [streams] the whole runs in groups of `STREAMS` quarters read side by side, each
    // group a complete subtree of the pairwise tree, the largest that fits first (so each group
    // starts at a multiple of its size, and the binary counter in its units places it); the
    // runs after the last group one by one
    let mut i = 0;
    let fewest = quartered_runs::<F::T>(runs_of.quarter);
    while runs.len() - i >= fewest {
        let q = ((runs.len() - i) / STREAMS).min(MAX_QUARTER);
        let q = 1 << (usize::BITS - 1 - q.leading_zeros());
        let group = &runs[i..i + STREAMS * q];
        let x4 = std::array::from_fn(|s| group[s * q..(s + 1) * q].as_flattened());
        let [a, b, c, d] = fold_side_by_side::<F, R>(f, x4, &mut runs_of.quarters);
        let ab: [F::A; LANES] = std::array::from_fn(|j| f.combine(a[j], b[j]));
        let cd: [F::A; LANES] = std::array::from_fn(|j| f.combine(c[j], d[j]));
        let node = std::array::from_fn(|j| f.combine(ab[j], cd[j]));
        push_lanes(f, stack, (i / (STREAMS * q)) as u64, node);
        i += STREAMS * q;
    }
    for (j, run) in runs[i..].iter().enumerate() {
        push_lanes(f, stack, (i + j) as u64, fold_run(f, run));
    }
    if !rest.is_empty() {
        push_lanes(f, stack, runs.len() as u64, fold_tail(f, rest));
    }
    flush_lanes(f, stack)
}

/// The part of a row after its whole runs (all of a row shorter than a run), element `k` into
/// lane `k % LANES`, in order, but for the last partial row (NOTE: [short-rows]).
///
/// NOTE: [run-tail] It is taken as a run is, in whole rows of LANES (f32 in groups of up to
/// `F::GROUP` rows, NOTE: [f32-groups]), and only the last partial row apart
/// ([`step_partial`]). A
/// loop over `chunks(LANES)` with a variable trip count kept the accumulators on the stack and
/// stepped f32 elements in one at a time. Cache-resident rows, one thread, builds alternated
/// three times, best of 3000 calls: row sums of 100 × 1000 f32 17.4–20.6 → 9.2–14.3 µs,
/// 400 × 300 f32 30–34 → 24 µs, 100 × 1000 f64 15.8–18.1 → 13.7–16.3 µs.
#[inline(always)]
fn fold_tail<F: Fold>(f: F, rest: &[F::T]) -> [F::A; LANES] {
    fold_tail_from(f, rest)
}

/// [`fold_tail`] of the elements of `x`, wherever they come from (NOTE: [strided-direct]).
#[inline(always)]
fn fold_tail_from<F: Fold, X: LaneRows<F::T>>(f: F, x: X) -> [F::A; LANES] {
    let mut acc = [f.init(); LANES];
    let rows = x.len() / LANES;
    if F::GROUP > 1 {
        for first in (0..rows).step_by(F::GROUP) {
            step_group(f, &mut acc, x, first, F::GROUP.min(rows - first));
        }
    } else {
        for k in 0..rows {
            step_row(f, &mut acc, &x.row(k));
        }
    }
    step_partial(f, &mut acc, x, rows * LANES);
    acc
}

/// The elements of `x` from `first` on (fewer than [`LANES`]) stepped into `acc`.
///
/// NOTE: [short-rows] Their whole eights go into lanes 0..8, 8..16 and 16..24, as element `k`
/// into lane `k` of a whole row; the rest (under 8) is folded in order and combined into lane
/// 24. Lanes fixed by the code, not by the length, keep the accumulators in registers: a loop
/// stepping element `k` into lane `k` for a length known only at run time kept them in memory,
/// and the vector loads after the scalar stores waited on each other (row sums on one core of
/// AMD Zen 4, medians of single calls, with the fold of a row without whole runs no longer
/// pushed on the pairwise stack: 10⁴ rows of 100 f64 206 → 148 µs, 3·10⁴ rows of 33 f64 618
/// → 252 µs, 10⁴ rows of 100 f32 204 → 134 µs).
#[inline(always)]
fn step_partial<F: Fold, X: LaneRows<F::T>>(f: F, acc: &mut [F::A; LANES], x: X, first: usize) {
    let left = x.len() - first;
    debug_assert!(left < LANES);
    if left >= 8 {
        step_eight::<F, X, 0>(f, acc, x, first);
    }
    if left >= 16 {
        step_eight::<F, X, 8>(f, acc, x, first);
    }
    if left >= 24 {
        step_eight::<F, X, 16>(f, acc, x, first);
    }
    if !left.is_multiple_of(8) {
        let t = (first + left / 8 * 8..x.len()).fold(f.init(), |a, i| f.step(a, x.at(i)));
        acc[24] = f.combine(acc[24], t);
    }
}

/// Elements `first + J..first + J + 8` of `x` stepped into lanes `J..J + 8`.
#[inline(always)]
fn step_eight<F: Fold, X: LaneRows<F::T>, const J: usize>(
    f: F,
    acc: &mut [F::A; LANES],
    x: X,
    first: usize,
) {
    for (j, a) in acc[J..J + 8].iter_mut().enumerate() {
        *a = f.step(*a, x.at(first + J + j));
    }
}

/// How the runs of a row are folded: the fewest bytes of a quarter read side by side, if any
/// are (NOTE: [streams]), and the pairwise stacks, the row's and one for each quarter.
struct Runs<A> {
    quarter: Option<usize>,
    row: Vec<[A; LANES]>,
    quarters: Quarters<A>,
}

/// The accumulators of the quarters read side by side (NOTE: [streams]): each quarter's runs as
/// they are read, then its pairwise stack (NOTE: [held-runs]).
struct Quarters<A> {
    held: [Vec<[A; LANES]>; STREAMS],
    stacks: [Vec<[A; LANES]>; STREAMS],
}

impl<A> Runs<A> {
    fn new(quarter: Option<usize>) -> Self {
        Runs {
            quarter,
            row: Vec::with_capacity(64),
            // allocated only where quarters are read
            quarters: Quarters {
                held: std::array::from_fn(|_| Vec::new()),
                stacks: std::array::from_fn(|_| Vec::new()),
            },
        }
    }
}

/// NOTE: [streams] An array read from main memory in one sequential stream reached 12–14 GB/s
/// on one core of an AMD Zen 3 machine; the same loop reading four places of the array side by
/// side, a cache line or a few from each in turn, reached 18–20 GB/s (a scratch program, sums
/// of 10⁷ f64; prefetch instructions 0.5–8 KiB ahead of one stream gained nothing, and so did
/// four streams that each read 4 KiB before the next). So when the input is larger than the
/// caches ([`Streams`]):
///
/// - a row of at least four quarters of 64 KiB is folded in groups of four quarters, run `r`
///   of each quarter side by side, row of [`LANES`] by row (f32 group by group). Each quarter
///   is a power of two of runs at a multiple of its size, so it is a complete subtree of the
///   pairwise tree, and each run's accumulators take its elements in the same order as before;
/// - shorter rows of at least a run are folded four at a time, from the four quarters of the
///   rows (each quarter one long stream), their runs side by side in the same way, then
///   their tails (the elements after the last whole run) side by side too, a block of rows
///   of each quarter read before any is combined (NOTE: [held-rows]). Reading the tails
///   one row after another left a fifth of each f32 row of 10⁴ in one stream: row sums of
///   1000 × 10⁴ f32 took 0.96 against 0.87 ms on one thread, 0.53 against 0.44 ms on two (AMD
///   Zen 5, builds alternated six times, medians).
///
/// Either way the bits are those of rows read from start to end. Four sets of accumulators do
/// not fit the 16 AVX2 registers: in cache that costs more than the streams save (sums of
/// 5·10⁵ and 10⁶ f64 or f32, 4–8 MB, at 0.72–0.77× the speed of reading them in order), hence
/// the threshold, which a 16 MB input already passes on this machine (2·10⁶ f64 read at
/// 21 GB/s, 10⁶ at 50 GB/s). Rows of 8–16 KiB read in quarters, each a short stream, were
/// slower than in order (f32 row sums of 1000 × 10⁴ at 0.75× torch, against 0.94 now), hence
/// the 64 KiB. Measured with the `kernels` example, builds before and after alternated four
/// times, medians (two threads: wall time per call; one: CPU time): sum of 10⁷ f64 2.97 → 2.57
/// ms on two threads (one: within the noise, minima 4.84 → 4.38 ms), of 10⁷ f32 1.48 → 1.19 ms
/// (one: 3.13 → 2.58), maximum of 10⁷ f32 1.73 → 1.10 ms (3.75 → 2.31), row sums of
/// 1000 × 10⁴ f64 3.13 → 2.75 ms, f32 1.48 → 1.24 ms (3.05 → 2.73). On other machines the
/// quarters lose, so whether they are read is measured (NOTE: [streams-measured]).
const STREAMS: usize = 4;
/// When rows are read in quarters side by side (NOTE: [streams]).
#[derive(Clone, Copy, Debug)]
struct Streams {
    /// The input size, in bytes, from which they are.
    min_input: usize,
    /// The fewest bytes in a quarter of a row: a row shorter than four of them is read from
    /// start to end, and the rows side by side instead.
    min_quarter: usize,
    /// Whether the quarters are read side by side only where that measured faster on this
    /// machine (NOTE: [streams-measured]); otherwise wherever they can be.
    measured: bool,
    /// The bytes of each quarter's block of rows, where rows are read side by side: at least
    /// one row, all of them read before any is combined (NOTE: [held-rows]).
    block: usize,
}

impl Streams {
    /// Inputs larger than the caches, quarters of at least 64 KiB, the way chosen by
    /// measurement.
    const DEFAULT: Streams = Streams {
        min_input: 16 << 20,
        min_quarter: 64 << 10,
        measured: true,
        block: 512 << 10,
    };

    /// The fewest bytes of a quarter, for an input of `bytes`; `None` if it is read run by run.
    fn quarter(self, bytes: usize) -> Option<usize> {
        (bytes >= self.min_input).then_some(self.min_quarter)
    }
}
// NOTE: [streams-measured] Whether reading four quarters side by side pays depends on the
// machine. On the AMD Zen 3 machine it did (one sequential stream from memory at 12–14 GB/s,
// four at 18–20; NOTE: [streams]); on the AMD Zen 4 machine (32 MiB L3, AVX-512) it never
// did: a scratch program summing f64 vectors, the two ways alternated three times (medians of
// single calls), two threads: 24 MB 215–240 µs in order against 522–586 µs side by side, 48 MB
// 723–761 against 1299–1842, 80 MB 1763–1996 against 2023–2199, 320 MB 9978–10106 against
// 10729–10989; one thread 24 MB 444–506 against 571–682 µs, 320 MB 10.8–12.1 against
// 12.2–13.9 ms. The `kernels` example, two threads, medians of three: sum of 10⁷ f64 0.91×
// the time, maximum 0.79×, row sums of 1000 × 10⁴ f64 0.82×, f32 0.88×, sum of 10⁷ f32
// 0.88×. Both ways give the same bits, so the choice can be left to measurement without
// changing any result: for each size class of input (16–64 MB, 64–256 MB, larger), the
// first `TRIALS` reductions read each way, alternately, timing each in seconds per byte, and
// the way with the lower median is kept for the rest of the process. A class's trials cost
// nothing but the slower way's time in those calls. Rows read in quarters and rows read side
// by side choose apart (a class each): the two ways of reading differ, and a process that
// sums vectors and the rows of matrices of the same size had the rows read the way the first
// vectors' trials chose. Rows shorter than a run, where the kernels written out for them fold
// them, choose apart too: four at a time from the quarters of the rows, or one after the
// other (NOTE: [short-streams]); other rows shorter than a run take no trial (they are read
// in order either way).

/// The two ways a large input's rows can be read (NOTE: [streams-measured]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    InOrder = 0,
    Streams = 1,
}

/// What a reduction of a size class does (NOTE: [streams-measured]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// Read the rows in order: measured faster.
    InOrder,
    /// Read four quarters side by side: measured faster.
    Streams,
    /// Not decided yet: read this way, and record the time.
    Try(Way),
}

/// Reductions timed each way in a size class before one is chosen.
const TRIALS: usize = 5;

/// The seconds per byte of the trials of one size class, and the choice once made.
#[derive(Clone, Copy, Debug)]
struct Trials {
    seconds_per_byte: [[f64; TRIALS]; 2],
    done: [usize; 2],
    /// The trials handed out and not yet recorded, each way.
    pending: [usize; 2],
    chosen: Option<Way>,
}

impl Trials {
    const NEW: Trials = Trials {
        seconds_per_byte: [[0.0; TRIALS]; 2],
        done: [0; 2],
        pending: [0; 2],
        chosen: None,
    };

    /// The way to read next: the chosen one, or the way with fewer trials (in order first).
    fn next(&mut self) -> Choice {
        match self.chosen {
            Some(Way::InOrder) => Choice::InOrder,
            Some(Way::Streams) => Choice::Streams,
            None => {
                let count = |w: Way| self.done[w as usize] + self.pending[w as usize];
                let way = if count(Way::Streams) < count(Way::InOrder) {
                    Way::Streams
                } else {
                    Way::InOrder
                };
                self.pending[way as usize] += 1;
                Choice::Try(way)
            }
        }
    }

    /// Record a trial; once each way has `TRIALS`, choose the way with the lower median.
    fn record(&mut self, way: Way, seconds_per_byte: f64) {
        let w = way as usize;
        self.pending[w] = self.pending[w].saturating_sub(1);
        if self.chosen.is_some() || self.done[w] == TRIALS {
            return;
        }
        self.seconds_per_byte[w][self.done[w]] = seconds_per_byte;
        self.done[w] += 1;
        if self.done == [TRIALS; 2] {
            let median = |w: Way| {
                let mut t = self.seconds_per_byte[w as usize];
                t.sort_by(f64::total_cmp);
                t[TRIALS / 2]
            };
            self.chosen = Some(if median(Way::Streams) < median(Way::InOrder) {
                Way::Streams
            } else {
                Way::InOrder
            });
        }
    }
}

/// Size classes of input, each a factor of four from the streams' threshold up (the last
/// open-ended), for each of the four things the quarters can be ([`Reading`]); each chooses
/// its own way (NOTE: [streams-measured]).
const CLASSES: usize = 3;

/// What the quarters read side by side are (NOTE: [streams-measured]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// The four quarters of one row.
    Quarters = 0,
    /// The four quarters of the rows, rows of a run or more (NOTE: [streams]).
    SideBySide = 1,
    /// The four quarters of the rows, rows of 9 to [`LANES`] elements (NOTE:
    /// [short-streams]).
    ShortRows = 2,
    /// The four quarters of the rows, rows longer than [`LANES`] elements and shorter than a
    /// run (NOTE: [short-streams]).
    PartRows = 3,
}

/// The trials and choices of the size classes, for this process: those of rows read in
/// quarters first, then those of rows read side by side, then those of shorter rows (in the
/// order of [`Reading`]).
static TRIALS_BY_CLASS: std::sync::Mutex<[Trials; 4 * CLASSES]> =
    std::sync::Mutex::new([Trials::NEW; 4 * CLASSES]);

/// A size class of input (NOTE: [streams-measured]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SizeClass(usize);

impl SizeClass {
    /// The class of an input of `bytes`, at least `min_input`, whose quarters are read as
    /// `reading` says (NOTE: [streams]).
    fn of(bytes: usize, min_input: usize, reading: Reading) -> SizeClass {
        let ratio = bytes / min_input.max(1);
        let log4 = (usize::BITS - ratio.max(1).leading_zeros() - 1) as usize / 2;
        SizeClass(log4.min(CLASSES - 1) + reading as usize * CLASSES)
    }

    /// What the next reduction of this class does.
    fn choice(self) -> Choice {
        // a poisoned lock still holds valid counts (no update panics half-way)
        let mut t = TRIALS_BY_CLASS.lock().unwrap_or_else(|e| e.into_inner());
        t[self.0].next()
    }

    /// Record a trial of this class.
    fn record(self, way: Way, seconds_per_byte: f64) {
        let mut t = TRIALS_BY_CLASS.lock().unwrap_or_else(|e| e.into_inner());
        t[self.0].record(way, seconds_per_byte);
    }
}

/// Whether rows of `len` elements, where quarters of at least `quarter` bytes are read side by
/// side, are read four rows side by side (at least a run long, too short for four quarters of
/// their own), not each in quarters or in order (NOTE: [streams]).
fn side_by_side<T>(len: usize, quarter: usize) -> bool {
    len >= run_len::<T>() && len / run_len::<T>() < quartered_runs::<T>(Some(quarter))
}

/// The fewest whole runs that [`fold_runs`] reads in quarters side by side, where quarters of
/// at least `quarter` bytes are (`usize::MAX` where none are); a row of fewer is read in order
/// (NOTE: [streams]).
fn quartered_runs<T>(quarter: Option<usize>) -> usize {
    quarter.map_or(usize::MAX, |b| STREAMS.saturating_mul(quarter_runs::<T>(b)))
}

/// The fewest runs of a quarter of at least `bytes` bytes, a power of two (so that the powers of
/// two that [`fold_runs`] chooses never fall under it).
fn quarter_runs<T>(bytes: usize) -> usize {
    bytes
        .div_ceil(run_len::<T>() * size_of::<T>())
        .next_power_of_two()
}

/// The most runs in a quarter: 2⁷, so that a group is at most a block of a long row
/// ([`block_len`]).
const MAX_QUARTER: usize = 1 << 7;

/// One run's accumulators: element `k` into lane `k % LANES`, in order (f32 in groups, NOTE:
/// [f32-groups]).
#[inline(always)]
fn fold_run<F: Fold, const R: usize>(f: F, run: &[F::T; R]) -> [F::A; LANES] {
    fold_run_from::<F, R, _>(f, &run[..])
}

/// [`fold_run`] of the `R` elements of `x`, wherever they come from (NOTE: [strided-direct]).
#[inline(always)]
fn fold_run_from<F: Fold, const R: usize, X: LaneRows<F::T>>(f: F, x: X) -> [F::A; LANES] {
    debug_assert_eq!(x.len(), R);
    // a fixed trip count: the accumulators stay in registers
    let mut acc = [f.init(); LANES];
    if F::GROUP > 1 {
        // NOTE: [f32-groups]; whole groups: no element of the run is left out
        const { assert!((R / LANES).is_multiple_of(F::GROUP) && R.is_multiple_of(LANES)) };
        for g in 0..R / LANES / F::GROUP {
            step_group(f, &mut acc, x, g * F::GROUP, F::GROUP);
        }
    } else {
        for k in 0..R / LANES {
            step_row(f, &mut acc, &x.row(k));
        }
    }
    acc
}

/// Where the elements of a run or a tail are read from: rows of [`LANES`] elements, and single
/// elements after the last whole row. A contiguous slice (as rows), or every `S`-th element of
/// one read straight from memory ([`every::Every`], NOTE: [strided-direct]).
pub(super) trait LaneRows<T>: Copy {
    /// How many elements.
    fn len(self) -> usize;
    /// Elements `k * LANES..(k + 1) * LANES`, for `k < len / LANES`.
    fn row(self, k: usize) -> [T; LANES];
    /// Element `i < len`.
    fn at(self, i: usize) -> T;
}

impl<T: Copy> LaneRows<T> for &[T] {
    #[inline(always)]
    fn len(self) -> usize {
        <[T]>::len(self)
    }
    #[inline(always)]
    fn row(self, k: usize) -> [T; LANES] {
        self.as_chunks::<LANES>().0[k]
    }
    #[inline(always)]
    fn at(self, i: usize) -> T {
        self[i]
    }
}

/// Four slices of equal length, each folded as [`fold_runs`] folds a row run by run (its
/// accumulators before they are combined), their runs read side by side: run `r` of every
/// slice, row of [`LANES`] by row (f32 group by group), each slice's runs held, then combined
/// in its own pairwise stack, then the slices' tails, side by side too. NOTE: [streams]
///
/// NOTE: [held-runs] Each run's accumulators are stored as the run ends and pushed on the
/// pairwise stacks only after the last run: the same pushes in the same order, so the same
/// bits. Pushing them as each run ended put the stacks' loads, additions and branches between
/// the runs, all waiting on the run's last loads from memory, and the sum of 10⁷ f64 read at
/// 3/4 of the rate of the bare loop over the same quarters on one core of an AMD Zen 5 machine
/// (a scratch program, the same buffer: 2.41 against 1.80 ms per call). With the runs held,
/// the `kernels` example's two builds alternated eight times, medians: sum of 10⁷ f64 2.36 →
/// 2.03 ms on one thread, 1.72 → 1.60 ms on two; row sums of 1000 × 10⁴ f64 2.15 → 1.97 and
/// 1.84 → 1.56 ms; sum of 10⁷ f32 0.75 → 0.68 and 0.62 → 0.61 ms; maxima level (0.97–1.04).
#[inline(always)]
fn fold_side_by_side<F: Fold, const R: usize>(
    f: F,
    x: [&[F::T]; STREAMS],
    quarters: &mut Quarters<F::A>,
) -> [[F::A; LANES]; STREAMS] {
    debug_assert!(x.iter().all(|s| s.len() == x[0].len()));
    let Quarters { held, stacks } = quarters;
    let split = x.map(|s| s.as_chunks::<R>());
    let n_runs = split[0].0.len();
    for (h, s) in held.iter_mut().zip(stacks.iter_mut()) {
        // every slot is written before it is read: grown, never cleared
        if h.len() < n_runs {
            h.resize(n_runs, [f.init(); LANES]);
        }
        s.clear();
    }
    let [h0, h1, h2, h3] = held.each_mut().map(|h| &mut h[..n_runs]);
    for r in 0..n_runs {
        let [mut a0, mut a1, mut a2, mut a3] = [[f.init(); LANES]; STREAMS];
        // whole groups: no row of the run is left out (NOTE: [f32-groups])
        const { assert!((R / LANES).is_multiple_of(F::GROUP) && R.is_multiple_of(LANES)) };
        let rows = split.map(|(runs, _)| runs[r].as_chunks::<LANES>().0);
        step_side_by_side(f, [&mut a0, &mut a1, &mut a2, &mut a3], rows);
        // NOTE: [held-runs]
        (h0[r], h1[r], h2[r], h3[r]) = (a0, a1, a2, a3);
    }
    for (h, stack) in held.iter().zip(stacks.iter_mut()) {
        for (r, &a) in h[..n_runs].iter().enumerate() {
            push_lanes(f, stack, r as u64, a);
        }
    }
    let n_runs = n_runs as u64;
    let tails = (!split[0].1.is_empty()).then(|| fold_tails_side_by_side(f, split.map(|s| s.1)));
    std::array::from_fn(|s| {
        if let Some(tails) = &tails {
            push_lanes(f, &mut stacks[s], n_runs, tails[s]);
        }
        flush_lanes(f, &mut stacks[s])
    })
}

/// The next row of each of four quarters of a walk's rows, read side by side (NOTE:
/// [held-rows]).
struct RowsSideBySide<'a, 'o, T> {
    data: &'a [T],
    base: isize,
    /// Where each quarter's next row starts.
    at: &'o mut [Odometer; STREAMS],
    len: usize,
}

impl<'a, T> RowsSideBySide<'a, '_, T> {
    /// The four next rows, the odometers moved past them.
    #[inline(always)]
    fn next(&mut self) -> [&'a [T]; STREAMS] {
        std::array::from_fn(|s| {
            let at = (self.base + self.at[s].off) as usize;
            self.at[s].advance();
            &self.data[at..at + self.len]
        })
    }
}

/// How many rows of `len` elements of a quarter of `q` rows make a block of `bytes` (NOTE:
/// [held-rows]): at least one, at most `q`.
fn block_rows<T>(bytes: usize, len: usize, q: usize) -> usize {
    (bytes / (len * size_of::<T>()).max(1)).clamp(1, q.max(1))
}

/// The next `out[0].len()` rows of each of four quarters ([`RowsSideBySide`]), folded side
/// by side, each into its place of `out`: run `r` of the four rows in step, then their
/// tails, as [`fold_side_by_side`] folds one row of each; every run's and tail's
/// accumulators held, and combined row by row only after the block's last row is read
/// (NOTE: [held-rows]). Each row is combined as [`fold_runs`] combines it: its runs and then
/// its tail pushed on its own pairwise stack, so the bits are those of rows read in order.
///
/// NOTE: [held-rows] Four rows side by side, each folded and combined before the next four
/// were read (a call of [`fold_side_by_side`] for each), read from memory at half the rate
/// of the same rows read in order where a row is one run long: the loads of each quarter's
/// next row waited behind the stores and combinations of the last, which waited on its
/// loads from memory. Read in blocks, all the loads of a block first (as NOTE: [held-runs]
/// does for the runs of one row), they read at the rate of rows in order. A scratch test
/// timing the ways in turn in one process (AMD Zen 4, one thread, f32, 11 rounds of 25
/// calls, medians of the rounds, two runs): 4883 rows of 2048, in order 1123–1126 µs, a row
/// at a time 2005–2085, blocks of 512 KiB 1133–1137, blocks of 256 KiB 1160–1254, the same
/// bytes as one row in quarters 944–985; 1221 rows of 8192, in order 961–1007, a row at a
/// time 1140–1218, blocks 989–993; 1000 rows of 10⁴, in order 1089–1191, a row at a time
/// 1425–1644, blocks 1364–1770. Rows with a tail stay slower side by side than in order on
/// that machine, so there the trials of NOTE: [streams-measured] keep them in order. A block
/// of 512 KiB of each quarter (13 rows of 10⁴ f32, 64 of 2048) holds 256 bytes of
/// accumulators for each run (8 KiB of f32, 4 KiB of f64) and each tail: 1/32 of what it
/// reads for f32 rows of whole runs, 1/16 for f64, at most 1/8 (f64 rows one element longer
/// than a run), so at most 256 KiB for the four quarters, in the L2 cache.
#[inline(always)]
fn fold_rows_side_by_side<F: Fold, const R: usize>(
    f: F,
    mut rows: RowsSideBySide<'_, '_, F::T>,
    quarters: &mut Quarters<F::A>,
    out: [&mut [F::A]; STREAMS],
) {
    let k = out[0].len();
    debug_assert!(out.iter().all(|o| o.len() == k));
    let n_runs = rows.len / R;
    let tail = !rows.len.is_multiple_of(R);
    let parts = n_runs + usize::from(tail);
    let Quarters { held, stacks } = quarters;
    for h in held.iter_mut() {
        // every slot is written before it is read: grown, never cleared
        if h.len() < k * parts {
            h.resize(k * parts, [f.init(); LANES]);
        }
    }
    let [h0, h1, h2, h3] = held.each_mut().map(|h| &mut h[..k * parts]);
    for row in 0..k {
        let split = rows.next().map(|s| s.as_chunks::<R>());
        for r in 0..n_runs {
            let [mut a0, mut a1, mut a2, mut a3] = [[f.init(); LANES]; STREAMS];
            // whole groups: no row of the run is left out (NOTE: [f32-groups])
            const { assert!((R / LANES).is_multiple_of(F::GROUP) && R.is_multiple_of(LANES)) };
            let lane_rows = split.map(|(runs, _)| runs[r].as_chunks::<LANES>().0);
            step_side_by_side(f, [&mut a0, &mut a1, &mut a2, &mut a3], lane_rows);
            let at = row * parts + r;
            (h0[at], h1[at], h2[at], h3[at]) = (a0, a1, a2, a3);
        }
        if tail {
            let [t0, t1, t2, t3] = fold_tails_side_by_side(f, split.map(|s| s.1));
            let at = row * parts + n_runs;
            (h0[at], h1[at], h2[at], h3[at]) = (t0, t1, t2, t3);
        }
    }
    for ((h, stack), out) in held.iter().zip(stacks.iter_mut()).zip(out) {
        for (row, p) in out.iter_mut().enumerate() {
            stack.clear();
            for (j, &a) in h[row * parts..(row + 1) * parts].iter().enumerate() {
                push_lanes(f, stack, j as u64, a);
            }
            *p = collapse(f, flush_lanes(f, stack));
        }
    }
}

/// [`fold_tail`] of four slices of equal length, read side by side as their runs are (NOTE:
/// [streams]): each slice's accumulators take its elements in the same order as there.
#[inline(always)]
fn fold_tails_side_by_side<F: Fold>(f: F, rest: [&[F::T]; STREAMS]) -> [[F::A; LANES]; STREAMS] {
    let [mut a0, mut a1, mut a2, mut a3] = [[f.init(); LANES]; STREAMS];
    let split = rest.map(|r| r.as_chunks::<LANES>());
    step_side_by_side(
        f,
        [&mut a0, &mut a1, &mut a2, &mut a3],
        split.map(|(rows, _)| rows),
    );
    let mut acc = [a0, a1, a2, a3];
    for (a, r) in acc.iter_mut().zip(rest) {
        step_partial(f, a, r, r.len() / LANES * LANES);
    }
    acc
}

/// The whole rows of four slices (as many in each) stepped into four accumulator arrays, row
/// `k` of each in step (f32 group by group, the last group possibly partial, NOTE:
/// [f32-groups]): each array takes its slice's elements in the order [`fold_run`] and
/// [`fold_tail`] take them.
///
/// Four separate arrays, each stepped in its own loop over a fixed `LANES`, so that the
/// compiler keeps every index static and vectorizes each step (an array of arrays indexed by
/// the slice in a loop was stepped one scalar at a time for f32 maxima).
#[inline(always)]
fn step_side_by_side<F: Fold>(
    f: F,
    acc: [&mut [F::A; LANES]; STREAMS],
    rows: [&[[F::T; LANES]]; STREAMS],
) {
    let [a0, a1, a2, a3] = acc;
    debug_assert!(rows.iter().all(|r| r.len() == rows[0].len()));
    let n = rows[0].len();
    if F::GROUP > 1 {
        // whole groups of a fixed length (all of a run's rows), then the partial one
        let whole = n - n % F::GROUP;
        for g in (0..whole).step_by(F::GROUP) {
            // NOTE: [streams-ahead]
            for r in rows {
                prefetch_ahead::<AHEAD, _>(&r[g..g + F::GROUP]);
            }
            step_group(f, a0, rows[0].as_flattened(), g, F::GROUP);
            step_group(f, a1, rows[1].as_flattened(), g, F::GROUP);
            step_group(f, a2, rows[2].as_flattened(), g, F::GROUP);
            step_group(f, a3, rows[3].as_flattened(), g, F::GROUP);
        }
        if whole < n {
            step_group(f, a0, rows[0].as_flattened(), whole, n - whole);
            step_group(f, a1, rows[1].as_flattened(), whole, n - whole);
            step_group(f, a2, rows[2].as_flattened(), whole, n - whole);
            step_group(f, a3, rows[3].as_flattened(), whole, n - whole);
        }
    } else {
        // row `k` of each of the four slices, in step
        #[allow(clippy::needless_range_loop)]
        for k in 0..n {
            // NOTE: [streams-ahead]
            for r in rows {
                prefetch_ahead::<AHEAD, _>(&r[k..k + 1]);
            }
            step_row(f, a0, &rows[0][k]);
            step_row(f, a1, &rows[1][k]);
            step_row(f, a2, &rows[2][k]);
            step_row(f, a3, &rows[3][k]);
        }
    }
}

/// How far ahead of each quarter read side by side its lines are fetched, in bytes (NOTE:
/// [streams-ahead]).
///
/// NOTE: [streams-ahead] The four quarters read side by side (NOTE: [streams]) are each 64 KiB
/// to 512 KiB long (a power of two of runs, at most [`MAX_QUARTER`]), and each start is a new
/// stream the hardware prefetcher has to find again. Fetching every line 2 KiB ahead of each
/// quarter with a prefetch instruction (one per line, in the loop that reads it) keeps the
/// lines coming from the first. AMD Zen 5, one thread, the sum of 10⁷ f64 (80 MB) in a
/// scratch program timing the two in turn in one process (nine rounds of 20 calls, best and
/// median of each round), quarters read side by side: 1.76–1.93 → 1.67–1.87 ms at best,
/// 1.84–2.05 → 1.75–1.98 ms in median, every round faster (the machine's memory moved between
/// slow and fast windows during the runs; what the bare loops showed in a fast one: four
/// quarters of 512 KiB 1.52–1.54 ms, with the lines fetched 1 KiB ahead 1.38–1.42, as one
/// quarter of 20 MB reads, 1.32–1.37). On two threads the same 80 MB read within the noise
/// either way (0.74–0.86 ms at best). Rows of a run or more read in order take none (rows
/// shorter than a run do, NOTE: [rows-ahead]): the trials of NOTE: [streams-measured] still
/// choose between the two ways, by their times with it.
const AHEAD: usize = 2048;

/// Fetch the cache lines `B` bytes after those of `x` (a hint; NOTE: [streams-ahead],
/// [whole-width-blocks]).
#[inline(always)]
fn prefetch_ahead<const B: usize, T>(x: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let p = x.as_ptr().cast::<i8>().wrapping_add(B);
        let mut b = 0;
        while b < size_of_val(x) {
            // SAFETY: SSE is in every x86_64 CPU; a prefetch is a hint that reads nothing
            // the program sees and never faults, whatever the address
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(b)) };
            b += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// One row of `LANES` elements stepped into the accumulators, lane by lane.
#[inline(always)]
fn step_row<F: Fold>(f: F, acc: &mut [F::A; LANES], row: &[F::T; LANES]) {
    for j in 0..LANES {
        acc[j] = f.step(acc[j], row[j]);
    }
}

/// Rows `first..first + n` of `x` (a group: at most `F::GROUP` of them) joined lane by lane in the element type,
/// in order, and their sums stepped into `acc` (NOTE: [f32-groups]).
#[inline(always)]
fn step_group<F: Fold>(
    f: F,
    acc: &mut [F::A; LANES],
    x: impl LaneRows<F::T>,
    first: usize,
    n: usize,
) {
    let mut q = [F::T::default(); LANES];
    for k in first..first + n {
        let row = x.row(k);
        for j in 0..LANES {
            q[j] = f.join(q[j], row[j]);
        }
    }
    // the group sums at the f32 vector width (NOTE: [f32-groups])
    let q = std::hint::black_box(q);
    for j in 0..LANES {
        acc[j] = f.step(acc[j], q[j]);
    }
}

/// Push the accumulators of part number `i` on the pairwise stack: combined with the top
/// once for each trailing 1 bit of `i` (the subtrees it completes).
#[inline(always)]
fn push_lanes<F: Fold>(f: F, stack: &mut Vec<[F::A; LANES]>, i: u64, mut acc: [F::A; LANES]) {
    let mut k = i;
    while k & 1 == 1 {
        let s = stack.pop().expect("one entry per 1 bit");
        for j in 0..LANES {
            acc[j] = f.combine(s[j], acc[j]);
        }
        k >>= 1;
    }
    stack.push(acc);
}

/// Combine what is left on the stack, the latest (smallest) subtrees first.
#[inline(always)]
fn flush_lanes<F: Fold>(f: F, stack: &mut Vec<[F::A; LANES]>) -> [F::A; LANES] {
    let mut acc = stack.pop().unwrap_or([f.init(); LANES]);
    while let Some(s) = stack.pop() {
        for j in 0..LANES {
            acc[j] = f.combine(s[j], acc[j]);
        }
    }
    acc
}

/// The lanes combined pairwise.
#[inline(always)]
fn collapse<F: Fold>(f: F, mut a: [F::A; LANES]) -> F::A {
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for j in 0..w {
            a[j] = f.combine(a[j], a[j + w]);
        }
    }
    a[0]
}

/// Reduce the outer reduced dims of a walk whose innermost dim is kept: for each position of
/// the outer kept dims and each tile of columns, the rows are accumulated into the output
/// tile, vectorized along it ([`AccumulateTile`]; strided rows gathered first, NOTE:
/// [strided-gather]). The result in output order.
fn accumulate_rows<F: Fold>(
    f: F,
    data: &[F::T],
    base: isize,
    walk: &[Dim],
    isa: math::Isa,
) -> AlignedVec<F::A> {
    let (inner, outer) = walk.split_last().expect("merge leaves one dim");
    let cols = inner.n;
    let kept: SmallVec<[(usize, isize); 6]> = outer
        .iter()
        .filter(|d| d.os != 0)
        .map(|d| (d.n, d.xs))
        .collect();
    let red: SmallVec<[(usize, isize); 6]> = outer
        .iter()
        .filter(|d| d.os == 0)
        .map(|d| (d.n, d.xs))
        .collect();
    let n_kept: usize = kept.iter().map(|d| d.0).product();
    let n_red: usize = red.iter().map(|d| d.0).product();
    let mut buf = alloc_filled(n_kept * cols, f.init());
    let par = parallel(n_kept * cols * n_red);
    // NOTE: [tiles-ahead] the bytes this reduction reads, not its buffer's (a view may be a
    // small part of a large one)
    let far = n_kept * cols * n_red * size_of::<F::T>() >= FAR_BYTES;
    let width = if inner.xs == 1 {
        let threads = if par { rayon::current_num_threads() } else { 1 };
        tile_width(
            cols,
            n_kept,
            stack_levels(n_red) * size_of::<F::A>(),
            threads,
        )
    } else {
        TILE
    };
    let threads = rayon::current_num_threads();
    let tiles = n_kept * cols.div_ceil(width);
    // fewer tiles than threads: each tile's rows split (NOTE: [split-rows])
    let split = par && tiles < threads && n_red >= 4 * threads * BLOCK;
    let tile = |k: usize, t: usize, out: &mut [F::A]| {
        let first_col = (t * width) as isize * inner.xs;
        let at = base + Odometer::new(kept.iter().copied(), k).off + first_col;
        let k = AccumulateTile {
            f,
            data,
            base: at,
            step: inner.xs,
            red: &red,
            first: 0,
            n_red,
            out,
            isa,
            far,
        };
        if split {
            split_rows(k, isa, threads)
        } else {
            with_isa(isa, k)
        }
    };
    if par && !split {
        super::pieces::for_each_row_tile_mut(&mut buf, cols, width, tile);
    } else {
        for (k, row) in buf.chunks_mut(cols).enumerate() {
            for (t, out) in row.chunks_mut(width).enumerate() {
                tile(k, t, out);
            }
        }
    }
    let out_walk: Dims = outer
        .iter()
        .filter(|d| d.os != 0)
        .chain([inner])
        .copied()
        .collect();
    place(buf, &out_walk)
}

/// One tile of output columns: the rows of the reduced walk `red` (starting at `base`, each
/// `out.len()` elements `step` apart) accumulated into `out`, [`GROUP`] rows at a time, the
/// groups combined pairwise (a binary counter over the groups, as in [`fold_lanes`]): the
/// error bound of pairwise summation with a base case of 8. NOTE: [isa-copies]
struct AccumulateTile<'a, F: Fold> {
    f: F,
    data: &'a [F::T],
    base: isize,
    /// The stride between the columns of a row: 1, or a strided input's, whose rows are
    /// gathered first (NOTE: [strided-gather]).
    step: isize,
    red: &'a [(usize, isize)],
    /// The first of the walk's rows this tile accumulates (NOTE: [split-rows]), and how many.
    first: usize,
    n_red: usize,
    out: &'a mut [F::A],
    /// The copy this tile runs in, for the kernels it calls ([`GroupWindows`]).
    isa: math::Isa,
    /// Whether the reduction reads from main memory, so fetches its rows ahead (NOTE:
    /// [tiles-ahead]).
    far: bool,
}

/// A tile's rows accumulated on `threads` threads: in pieces of a power of two of groups, the
/// pieces' results combined as the tile's pairwise tree combines them. NOTE: [split-rows]
///
/// NOTE: [split-rows] A matrix of up to [`TILE`] columns is one tile, which one thread read
/// while the other waited: column sums of 10⁷ f32 in 64 columns took 2.1–2.4 ms on two threads
/// against torch's 1.8–2.1. The binary counter over a tile's groups builds the complete
/// subtrees of the binary digits of their number, largest first, and combines them from the
/// right (`A ⊕ (B ⊕ (C ⊕ …))`). A complete subtree of `s` groups (a power of two) is the
/// counter's result over those groups alone, and so is what is left after the last whole
/// subtree of `s`: so the tile's rows are cut into pieces of `s` groups and a rest, each
/// accumulated by [`AccumulateTile`] on its own, and the pieces' results run through the same
/// counter, the rest pushed on top before the final combines from the right. The same
/// operations in the same order as one thread: the same bits on any number of threads.
fn split_rows<F: Fold>(tile: AccumulateTile<'_, F>, isa: math::Isa, threads: usize) {
    let w = tile.out.len();
    let groups = tile.n_red.div_ceil(GROUP);
    // about four pieces a thread (a power of two of groups)
    let s = 1 << (groups / (4 * threads)).max(1).ilog2();
    let full = tile.n_red / (s * GROUP);
    let rest = tile.n_red > full * s * GROUP;
    let f = tile.f;
    let mut parts = alloc_filled((full + usize::from(rest)) * w, f.init());
    super::pieces::for_each_row_tile_mut(&mut parts, w, w, |p, _, out| {
        let first = p * s * GROUP;
        let piece = AccumulateTile {
            f,
            data: tile.data,
            base: tile.base,
            step: tile.step,
            red: tile.red,
            first: tile.first + first,
            n_red: (s * GROUP).min(tile.n_red - first),
            out,
            isa,
            far: tile.far,
        };
        with_isa(isa, piece)
    });
    // the pieces' counter, each result moved down to the top of the stack (its slot or below)
    let mut top = 0;
    for p in 0..full {
        parts.copy_within(p * w..(p + 1) * w, top * w);
        let mut k = p;
        while k & 1 == 1 {
            merge_top(f, &mut parts, top, w);
            top -= 1;
            k >>= 1;
        }
        top += 1;
    }
    if rest {
        parts.copy_within(full * w..(full + 1) * w, top * w);
        top += 1;
    }
    while top > 1 {
        merge_top(f, &mut parts, top - 1, w);
        top -= 1;
    }
    tile.out.copy_from_slice(&parts[..w]);
}

/// Slot `top` of a pairwise stack of slots of `w` combined into slot `top - 1`, the earlier.
#[inline(always)]
fn merge_top<F: Fold>(f: F, stack: &mut [F::A], top: usize, w: usize) {
    let (lo, hi) = stack.split_at_mut(top * w);
    for (a, &b) in lo[(top - 1) * w..].iter_mut().zip(&hi[..w]) {
        *a = f.combine(*a, b);
    }
}

impl<F: Fold> Vectorized for AccumulateTile<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (f, w) = (self.f, self.out.len());
        let groups = self.n_red.div_ceil(GROUP);
        // the pairwise stack: `top` tiles of partial results, then the one being filled
        let mut stack = alloc_filled(stack_levels(self.n_red) * w, f.init());
        let mut top = 0;
        let mut starts = RowStarts::new(self.red, self.base, self.first);
        let (data, step) = (self.data, self.step);
        // the strided rows of a group, gathered (NOTE: [strided-gather])
        let mut gathered = Vec::with_capacity(if step == 1 { 0 } else { GROUP * w });
        // narrow tiles in registers up to CHUNK columns, then row by row: the second group of
        // a pair (NOTE: [narrow-tiles])
        let narrow = w <= NARROW && step == 1;
        let windows = narrow && block_windows::<F::T>(w);
        // NOTE: [window-blocks-512] in the caches only: from main memory it was not measured
        // cleanly
        let written_out = written_out_blocks::<F>(self.isa) && !self.far;
        let mut second = alloc_filled(if narrow && !windows { w } else { 0 }, f.init());
        // a leaf's columns joined in the element type, for a fold that joins (NOTE:
        // [f32-groups])
        let mut joined = vec![F::T::default(); if F::GROUP > 1 { w } else { 0 }];
        let mut left = self.n_red;
        let mut g = 0u64;
        while g < groups as u64 {
            let slot = &mut stack[top * w..(top + 1) * w];
            let paired = g.is_multiple_of(2) && left >= 2 * GROUP && step == 1;
            // NOTE: [window-blocks] sums, and maxima in the caches
            let block_window = if narrow
                && !windows
                && (F::GROUP > 1 || !self.far)
                && g.is_multiple_of(8)
                && left >= BLOCK
            {
                block_group_window::<F::T>(w, &starts, data.len())
            } else {
                None
            };
            // the subtree of the pairwise tree this step fills: 2^level groups from g
            let level = if windows && g.is_multiple_of(8) && left >= BLOCK {
                // NOTE: [narrow-tiles] a subtree of eight groups in registers
                // NOTE: [blocks-merged], the run of whole blocks in a kernel of its own
                let (first, apart, along) = starts.run_along(left);
                let blocks = along / BLOCK;
                if merged_runs::<F::T>(w, self.far) && apart == w as isize && blocks > 0 {
                    let merged = MergedBlocks {
                        f,
                        stack: &mut stack,
                        top,
                        w,
                        data,
                        run: (g >> 3, usize::try_from(first).ok(), blocks),
                        far: self.far,
                    };
                    if let Some(t) = with_isa(self.isa, merged) {
                        starts.skip(blocks * BLOCK);
                        top = t;
                        left -= blocks * BLOCK;
                        g += 8 * blocks as u64;
                        continue;
                    }
                }
                let slot = &mut stack[top * w..(top + 1) * w];
                // NOTE: [window-blocks-512] f32 tiles of 33–64 columns in the caches
                if written_out && narrow_block_written_out::<F>(slot, data, &starts) {
                    starts.skip(BLOCK);
                } else {
                    let mut at = [0; BLOCK];
                    let apart = starts.fill(&mut at);
                    block_in_chunks(f, slot, data, &at, apart, self.far);
                }
                left -= BLOCK;
                3
            } else if let Some(window) = block_window {
                // NOTE: [window-blocks] a subtree of eight groups through group windows
                let mut at = [0; BLOCK];
                let _ = starts.fill(&mut at);
                let block = GroupWindows {
                    f,
                    acc: &mut *slot,
                    data,
                    at: &at,
                    window,
                    far: self.far,
                    written_out,
                };
                let done = with_isa(self.isa, block);
                debug_assert!(done, "every index of the windows' tables has its arm");
                left -= BLOCK;
                3
            } else if windows && left >= GROUP {
                // NOTE: [narrow-tiles] the group (or pair) a chunk of columns at a time
                let rows = if paired { 2 * GROUP } else { GROUP };
                let mut at = [0; 2 * GROUP];
                let _ = starts.fill(&mut at[..rows]);
                group_in_chunks(f, slot, data, &at, paired);
                left -= rows;
                u32::from(paired)
            } else if narrow && left >= GROUP {
                // NOTE: [narrow-tiles] the group (or pair) in a window of each row, or row by
                // row (NOTE: [group-windows])
                let rows = if paired { 2 * GROUP } else { GROUP };
                let mut at = [0; 2 * GROUP];
                let _ = starts.fill(&mut at[..rows]);
                let mut last = 0;
                for &a in &at[..rows] {
                    last = last.max(a);
                }
                let (g0, g1) = at[..rows].split_at(GROUP);
                let window = match group_window::<F::T>(w) {
                    Some(i) if last + group_windows::<F::T>()[i] <= data.len() => Some(i),
                    _ => None,
                };
                // a function of its own in the ISA copy (NOTE: [group-windows])
                let done = match window {
                    Some(window) => {
                        let groups = GroupWindows {
                            f,
                            acc: &mut *slot,
                            data,
                            at: &at[..rows],
                            window,
                            far: self.far,
                            written_out: false,
                        };
                        with_isa(self.isa, groups)
                    }
                    None => false,
                };
                if !done {
                    group_by_rows(f, slot, &mut joined, data, g0);
                    if paired {
                        group_by_rows(f, &mut second, &mut joined, data, g1);
                        for (s, &b) in slot.iter_mut().zip(second.iter()) {
                            *s = f.combine(*s, b);
                        }
                    }
                }
                left -= rows;
                u32::from(paired)
            } else if paired {
                // two whole groups in one pass, their sums combined as the tree's first level
                // combines them (NOTE: [paired-groups])
                let at: [usize; 2 * GROUP] = std::array::from_fn(|_| starts.next());
                let rows: [&[F::T]; 2 * GROUP] = at.map(|a| &data[a..a + w]);
                let pair = PairedColumns {
                    f,
                    acc: &mut *slot,
                    rows,
                };
                with_isa(self.isa, pair);
                left -= 2 * GROUP;
                1
            } else if left >= GROUP {
                let at: [usize; GROUP] = std::array::from_fn(|_| starts.next());
                let rows: [&[F::T]; GROUP] = if step == 1 {
                    at.map(|a| &data[a..a + w])
                } else {
                    gathered.clear();
                    for a in at {
                        gather(data, a, step, w, &mut gathered);
                    }
                    std::array::from_fn(|r| &gathered[r * w..(r + 1) * w])
                };
                for (j, s) in slot.iter_mut().enumerate() {
                    *s = column_leaf(f, &rows, j);
                }
                left -= GROUP;
                0
            } else {
                for k in 0..left {
                    let a = starts.next();
                    let row = if step == 1 {
                        &data[a..a + w]
                    } else {
                        gathered.clear();
                        gather(data, a, step, w, &mut gathered);
                        &gathered[..]
                    };
                    leaf_row(f, slot, &mut joined, k, row);
                }
                leaf_end(f, slot, &joined);
                left = 0;
                0
            };
            // the subtree's merges with the stack: one for each trailing one of its index
            let mut k = g >> level;
            while k & 1 == 1 {
                merge_top(f, &mut stack, top, w);
                top -= 1;
                k >>= 1;
            }
            top += 1;
            g += 1 << level;
        }
        while top > 1 {
            merge_top(f, &mut stack, top - 1, w);
            top -= 1;
        }
        self.out.copy_from_slice(&stack[..w]);
    }
}

/// The sums of a group of [`GROUP`] contiguous rows of `acc.len()` columns into `acc`, row by
/// row (NOTE: [narrow-tiles]), through `joined` for a fold that joins.
#[inline(always)]
fn group_by_rows<F: Fold>(
    f: F,
    acc: &mut [F::A],
    joined: &mut [F::T],
    data: &[F::T],
    at: &[usize],
) {
    let w = acc.len();
    for (k, &a) in at.iter().enumerate() {
        leaf_row(f, acc, joined, k, &data[a..a + w]);
    }
    leaf_end(f, acc, joined);
}

/// The windows of [`group_in_window`] for elements of 8 bytes: a tile's width rounded up to
/// one AVX-512 register up to seven registers, to two up to sixteen (NOTE: [group-windows]).
const GROUP_WINDOWS_8: [usize; 7] = [40, 48, 56, 80, 96, 112, 128];
/// The same for elements of 4 bytes or fewer, in registers of 16 lanes.
const GROUP_WINDOWS_4: [usize; 8] = [80, 96, 112, 128, 160, 192, 224, 256];

/// The windows of [`group_in_window`] for elements of type `T`.
fn group_windows<T>() -> &'static [usize] {
    if size_of::<T>() <= 4 {
        &GROUP_WINDOWS_4
    } else {
        &GROUP_WINDOWS_8
    }
}

/// The index in [`group_windows`] of the narrowest window that holds a tile of `w` columns of
/// type `T`, if any (NOTE: [group-windows]).
fn group_window<T>(w: usize) -> Option<usize> {
    group_windows::<T>().iter().position(|&c| c >= w)
}

/// The widest tile of elements of 4 bytes whose subtrees of eight groups are summed through
/// group windows (NOTE: [window-blocks]).
const BLOCK_WINDOWS_UP_TO: usize = 128;

/// The index in [`group_windows`] of the window through which the next [`BLOCK`] rows of a
/// tile of `w` columns of type `T` are summed as one subtree (NOTE: [window-blocks]), if the
/// elements are of 4 bytes, the tile at most [`BLOCK_WINDOWS_UP_TO`] columns wide, the rows
/// along the innermost reduced dim and every row's window within the `len` elements.
///
/// NOTE: [window-blocks] Tiles of 65 to 128 f32 columns took their group windows a group or a
/// pair at a time: each pair's sums stored in the stack's slot, then merged with the slots
/// below in loops over the tile's width, about one merge a pair, so for 96 columns some 36
/// stores of a vector for every 96 vectors read. Where the next eight groups (a subtree of the
/// pairwise tree, [`BLOCK`] rows) lie along the innermost dim and their windows are within the
/// data, they are now summed as one block through the window ([`block_in_window`], as the
/// tiles of up to 64 columns are), stored once and merged once. The same combines in the same
/// order: the same bits. Column sums of f32, AMD Zen 5, one thread, medians, the two builds
/// alternated three times, before → after: in the caches (10⁶ elements, 300 calls) 72 columns
/// 61–63 → 52 µs, 96 54–55 → 50–52, 128 51–52 → 46–47; from main memory (10⁷ elements, 20
/// calls) 72 0.93–0.95 → 0.91–0.95 ms, 96 1.10–1.22 → 0.85–0.87, 128 0.96–1.00 → 0.80–0.83.
/// Wider tiles (to 256 columns, windows of 160–256) read level in the caches and 200 columns
/// slower from memory (1.0–1.6 → 1.5–2.0 ms, a slow window of the machine's memory), so they
/// keep their groups. The maxima of f32 columns took blocks too: in the caches 72 columns
/// 73–74 → 57 µs, 96 63 → 56, 128 62 → 58–59, but from main memory 128 columns 1.10–1.22 →
/// 1.50–1.79 ms (four rounds; why was not found), so the folds that do not join take blocks
/// only below [`FAR_BYTES`].
fn block_group_window<T>(w: usize, starts: &RowStarts, len: usize) -> Option<usize> {
    if size_of::<T>() > 4 || w > BLOCK_WINDOWS_UP_TO {
        return None;
    }
    let i = group_window::<T>(w)?;
    starts.block_within(group_windows::<T>()[i], len)?;
    Some(i)
}

/// Two whole groups of rows of `acc.len()` columns column by column, their sums combined as
/// the tree's first level combines them, into `acc` (NOTE: [paired-groups]).
///
/// A kernel of its own, called from [`AccumulateTile`]'s ISA copy into another. Inlined
/// there, the loop's 16 row pointers shared the registers with the rest of the tile's code,
/// and with the arms of NOTE: [group-windows] added it reloaded more of them from the stack
/// each step: column sums of 10⁷ f64 in 1000 and 10⁴ columns took 1.9–2.0 ms from main memory
/// against 1.6–1.8 before (AMD Zen 5, one thread); level again as a kernel of its own.
struct PairedColumns<'a, F: Fold> {
    f: F,
    acc: &'a mut [F::A],
    rows: [&'a [F::T]; 2 * GROUP],
}

impl<F: Fold> Vectorized for PairedColumns<'_, F> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let (f, rows) = (self.f, &self.rows);
        for (j, s) in self.acc.iter_mut().enumerate() {
            let a = column_leaf(f, &rows[..GROUP], j);
            *s = f.combine(a, column_leaf(f, &rows[GROUP..], j));
        }
    }
}

/// A group of [`GROUP`] contiguous rows (starting at `at`), or a pair of groups (`at` twice as
/// long), summed into `acc` through the windows of index `window` in [`group_windows`]
/// ([`group_in_window`]), or for elements of 4 bytes a subtree of eight groups (`at` [`BLOCK`]
/// long, [`block_in_window`], NOTE: [window-blocks]; for sums of f32 where `written_out`, the
/// AVX-512 kernel `blocks::sum_block_f32`, NOTE: [window-blocks-512]); whether it was (every
/// index of the tables is).
///
/// A kernel of its own, called from [`AccumulateTile`]'s ISA copy into another, as
/// [`PairedColumns`] is. NOTE: [group-windows]
struct GroupWindows<'a, F: Fold> {
    f: F,
    acc: &'a mut [F::A],
    data: &'a [F::T],
    at: &'a [usize],
    window: usize,
    /// Whether to fetch the rows ahead (NOTE: [tiles-ahead]).
    far: bool,
    /// Whether f32 sums take their blocks in the AVX-512 kernel written out for them
    /// ([`written_out_blocks`], NOTE: [window-blocks-512]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    written_out: bool,
}

/// Whether the subtrees of eight groups of `F` through group windows in the copy for `isa`
/// take the kernel written out for them (`blocks::sum_block_f32`): sums of f32 into f64 where
/// the copy is AVX-512's and its units are 512 bits wide (NOTE: [window-blocks-512], NOTE:
/// [halved-512]).
fn written_out_blocks<F: Fold>(isa: math::Isa) -> bool {
    cfg!(target_arch = "x86_64")
        && F::KIND == Kind::Sum
        && F::T::DTYPE == DType::F32
        && F::A::DTYPE == DType::F64
        && isa.min(math::isa()) == math::Isa::Avx512
        && !math::halved_512()
}

/// The next [`BLOCK`] rows of a tile of 33 to 64 f32 columns summed into `acc` by the AVX-512
/// kernel written out for them (`blocks::sum_block_f32`, through a window of 48 or 64
/// columns), where they lie along the innermost dim and every row's window is within `data`;
/// whether they were (nothing taken from `starts`). Only where `written_out_blocks` holds for
/// `F` (NOTE: [window-blocks-512]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn narrow_block_written_out<F: Fold>(acc: &mut [F::A], data: &[F::T], starts: &RowStarts) -> bool {
    let w = acc.len();
    if !(33..=64).contains(&w) {
        return false;
    }
    let Some((first, step)) = starts.block_within(16 * w.div_ceil(16), data.len()) else {
        return false;
    };
    let (Some(data), Some(acc)) = (as_type::<_, f32>(data), as_type_mut::<_, f64>(acc)) else {
        return false;
    };
    // SAFETY: the caller's `written_out` holds only where the CPU has AVX-512
    // (`written_out_blocks`)
    unsafe {
        if w <= 48 {
            blocks::sum_block_f32::<3>(acc, data, first, step);
        } else {
            blocks::sum_block_f32::<4>(acc, data, first, step);
        }
    }
    true
}

/// [`narrow_block_written_out`] where there is no such kernel: never.
#[cfg(not(target_arch = "x86_64"))]
fn narrow_block_written_out<F: Fold>(_: &mut [F::A], _: &[F::T], _: &RowStarts) -> bool {
    false
}

/// The vectors of 16 f32 of a row's window in [`blocks::sum_block_f32`] for a window of `c`
/// columns: `c / 16`, kept within 5 to [`BLOCK_WINDOWS_UP_TO`] / 16 (the windows that take
/// blocks), so that every arm of [`GroupWindows`] instantiates one of four kernels; an arm runs
/// its kernel only where the kernel's window is its own (`16 · block_vectors(c) == c`).
#[cfg(target_arch = "x86_64")]
const fn block_vectors(c: usize) -> usize {
    let v = c / 16;
    if v < 5 {
        5
    } else if v > BLOCK_WINDOWS_UP_TO / 16 {
        BLOCK_WINDOWS_UP_TO / 16
    } else {
        v
    }
}

impl<F: Fold> Vectorized for GroupWindows<'_, F> {
    type Out = bool;
    #[inline(always)]
    fn run(self) -> bool {
        let (f, data) = (self.f, self.data);
        // NOTE: [tiles-ahead]
        if self.far {
            let w = self.acc.len();
            for &a in self.at {
                if let Some(row) = data.get(a..a + w) {
                    prefetch_ahead::<TILE_AHEAD, _>(row);
                }
            }
        }
        let (g0, g1) = self.at.split_at(GROUP);
        let paired = !g1.is_empty();
        // one arm for each window of the table
        macro_rules! windows {
            ($table:ident: $($i:literal),*) => {
                match self.window {
                    $($i => {
                        // NOTE: [window-blocks]
                        if size_of::<F::T>() <= 4
                            && let Ok(at) = <&[usize; BLOCK]>::try_from(self.at)
                        {
                            // NOTE: [window-blocks-512]
                            #[cfg(target_arch = "x86_64")]
                            if self.written_out
                                && 16 * block_vectors($table[$i]) == $table[$i]
                                && let (Some(data), Some(acc)) =
                                    (as_type::<_, f32>(data), as_type_mut::<_, f64>(self.acc))
                            {
                                // the rows are `step` apart (the caller's `RowStarts::along`)
                                let step = at[1].wrapping_sub(at[0]) as isize;
                                debug_assert!((0..BLOCK).all(|r| {
                                    at[r] == at[0].wrapping_add((r as isize * step) as usize)
                                }));
                                // SAFETY: `written_out` holds only where the CPU has AVX-512
                                // (`written_out_blocks`)
                                unsafe {
                                    blocks::sum_block_f32::<{ block_vectors($table[$i]) }>(
                                        acc, data, at[0], step,
                                    )
                                };
                                return true;
                            }
                            block_in_window::<F, { $table[$i] }>(f, self.acc, data, at);
                            return true;
                        }
                        group_in_window::<F, { $table[$i] }>(f, self.acc, data, g0, false);
                        if paired {
                            group_in_window::<F, { $table[$i] }>(f, self.acc, data, g1, true);
                        }
                        true
                    })*
                    _ => false,
                }
            };
        }
        if size_of::<F::T>() <= 4 {
            windows!(GROUP_WINDOWS_4: 0, 1, 2, 3, 4, 5, 6, 7)
        } else {
            windows!(GROUP_WINDOWS_8: 0, 1, 2, 3, 4, 5, 6)
        }
    }
}

/// The sums of a group of [`GROUP`] contiguous rows of `acc.len()` columns (at most `C`), the
/// rows starting at `at`, into `acc`, or combined into `acc` as the second group of a pair
/// (`second`), as the pairwise tree's first level combines them. Each row is read whole
/// through a window of `C` columns from its start (NOTE: [group-windows]); every `at[r] + C`
/// is within `data`.
///
/// NOTE: [group-windows] Tiles wider than the windows of eight groups (32 f64 or 64 f32
/// columns, NOTE: [narrow-tiles]) took their groups row by row: each row a loop over its
/// columns that loads, adds to and stores the group's sums in memory. At 64 f64 columns that
/// cost 11.7 ns a row in the caches (AMD Zen 5, one thread), half of torch's rate, and 0.64 of
/// it from main memory. Each group (and the second of a pair) is now summed through a window of
/// each row, in registers or on the stack, without a row's loop of run-time length; the
/// columns past the row's end are read and dropped, as the windows of eight groups drop theirs.
/// Those extra reads cost from main memory: windows of 64 or 128 columns took 40 f64 columns
/// 1.1–1.2× and 96 f32 columns 1.2–1.4× slower than row by row, so a window is the width
/// rounded up to one AVX-512 register (up to seven registers) or to two (up to sixteen): one
/// arm for each, for elements of 8 bytes 40–128 columns and of 4 bytes 80–256, wider tiles row
/// by row. f64 tiles of 57–64 columns fill the 64-column window of eight groups well enough
/// to take it, which was faster there than group windows (from memory 3.7 against 4.2–4.5 ms
/// at 64 columns). Where the last row's window would pass the data's end, the group is taken
/// row by row. Each column takes the same steps from the same start in the same order as row
/// by row: the same bits. Column sums of 10⁷ elements from memory (AMD Zen 5, one thread,
/// medians of 20 calls, two alternations, before → after (torch)): f64 40 columns 3.9–4.0 →
/// 3.7 ms (3.0–3.1), 56 4.7–5.1 → 3.9–4.2, 64 4.9–5.6 → 3.6–3.8 (3.2–3.5), 100 4.5–4.8 →
/// 4.2–4.3 (3.0–3.2), 128 4.4–4.7 → 4.0 (3.8–3.9); f32 72 2.4–2.6 → 1.8–2.3 (1.2), 96 2.1–2.7
/// → 2.1–2.2 (1.2), 128 2.4 → 2.1 (1.3–1.4), 256 2.2 → 1.8–2.0 (1.5). In the caches (10⁶
/// elements): f64 40 142–149 → 95 µs (95–102), 64 160–163 → 93–128 (79–81), 100 150–152 →
/// 117–123 (84–106), 128 115–120 → 95–97 (110–113); f32 72 113 → 71, 96 85–88 → 70–75, 128
/// 69–74 → 61–63 (39–49), 256 77–78 → 55–58 (57–59). From memory the f32 tiles of 72–256
/// columns stayed at 20–22 GB/s where torch reads 30–35, until each row fetched its lines
/// ahead (NOTE: [tiles-ahead]).
///
/// NOTE: [window-steps] A fold that joins (the f32 sums, NOTE: [f32-groups]) stepped its
/// joined window into an array of the window's accumulators, zeroed by a call to `memset` of
/// the whole window (640 B–2 KiB), in a loop bounded by the tile's width that left 1–32 of its
/// columns to a scalar loop (their bounds checked against `C`), and then copied them to `acc`
/// by a call to `memcpy`: most of a group's time past its loads, in the caches (`perf` of 96
/// f32 columns). Its columns are now stepped straight into `acc`, zipped with the joined
/// window. The folds that step every element (f64 sums, maxima) keep their array filled before
/// the fold writes it: without that, LLVM split the f64 window of 40 columns into a scalar,
/// four vectors one element off, a half and a quarter vector (`objdump`), 95 → 121–158 µs in
/// the caches. The same steps in the same order: the same bits. Column sums of f32, AMD Zen 5,
/// one thread, medians, the two builds alternated, before → after (torch): in the caches (10⁶
/// elements, 300 calls, twice) 72 columns 70–72 → 60 µs (45–60), 96 75–77 → 53–54 (36–40),
/// 128 71–72 → 48–50 (44–49), 200 61–63 → 50 (43–45), 256 60–62 → 44–45 (48–49); from main
/// memory (10⁷, 30 calls, three times) 72 1.02–1.24 → 0.95–0.99 ms (1.40), 96 1.55–1.80 →
/// 1.10–1.17 (1.41), 128 1.34–1.53 → 0.96–0.99 (1.46), 200 1.28–1.59 → 1.04–1.08 (1.50), 256
/// 1.34–1.46 → 1.04–1.11 (1.61). f64 level.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn group_in_window<F: Fold, const C: usize>(
    f: F,
    acc: &mut [F::A],
    data: &[F::T],
    at: &[usize],
    second: bool,
) {
    let w = acc.len();
    if F::GROUP > 1 {
        // a fold that joins steps in only the tile's columns of its joined window, straight
        // into `acc` (NOTE: [window-steps])
        let t = joined_chunk::<F, C>(f, data, at, 0);
        if second {
            for (s, &t) in acc.iter_mut().zip(&t) {
                *s = f.combine(*s, f.step(f.init(), t));
            }
        } else {
            for (s, &t) in acc.iter_mut().zip(&t) {
                *s = f.step(f.init(), t);
            }
        }
        return;
    }
    // the accumulators filled before the fold writes them (NOTE: [window-steps])
    #[allow(unused_assignments)]
    let mut a = [f.init(); C];
    a = fold_chunk::<F, C>(f, data, at, 0);
    if second {
        for c in 0..w {
            acc[c] = f.combine(acc[c], a[c]);
        }
    } else {
        acc.copy_from_slice(&a[..w]);
    }
}

/// Row `k` of a leaf of a column tile (a group of up to [`GROUP`] rows) into its accumulators
/// `acc`: stepped in, or for a fold that joins (`Fold::GROUP` > 1) joined into `joined` in the
/// element type, which [`leaf_end`] then steps in (NOTE: [f32-groups]).
#[inline(always)]
fn leaf_row<F: Fold>(f: F, acc: &mut [F::A], joined: &mut [F::T], k: usize, row: &[F::T]) {
    if F::GROUP > 1 {
        if k == 0 {
            joined.copy_from_slice(row);
        } else {
            for (t, &v) in joined.iter_mut().zip(row) {
                *t = f.join(*t, v);
            }
        }
        return;
    }
    if k == 0 {
        acc.fill(f.init());
    }
    for (s, &v) in acc.iter_mut().zip(row) {
        *s = f.step(*s, v);
    }
}

/// The end of a leaf of [`leaf_row`]'s rows: for a fold that joins, its joined elements
/// stepped into the empty accumulators.
#[inline(always)]
fn leaf_end<F: Fold>(f: F, acc: &mut [F::A], joined: &[F::T]) {
    if F::GROUP > 1 {
        for (s, &t) in acc.iter_mut().zip(joined) {
            *s = f.step(f.init(), t);
        }
    }
}

/// Column `j` of a leaf of a column tile, the rows `rows` in order: each stepped in, or for a
/// fold that joins, joined in the element type first (NOTE: [f32-groups]).
#[inline(always)]
fn column_leaf<F: Fold>(f: F, rows: &[&[F::T]], j: usize) -> F::A {
    if F::GROUP > 1 {
        let mut t = rows[0][j];
        for r in &rows[1..] {
            t = f.join(t, r[j]);
        }
        return f.step(f.init(), t);
    }
    let mut a = f.init();
    for r in rows {
        a = f.step(a, r[j]);
    }
    a
}

/// The sums of a group of [`GROUP`] contiguous rows of `acc.len()` columns into `acc` (the
/// rows starting at `at[..GROUP]`), or of a pair of groups (`at[..2 * GROUP]`) combined as the
/// pairwise tree's first level combines them: [`CHUNK`] columns at a time in registers, then
/// 8, then one (NOTE: [narrow-tiles]).
#[inline(always)]
fn group_in_chunks<F: Fold>(
    f: F,
    acc: &mut [F::A],
    data: &[F::T],
    at: &[usize; 2 * GROUP],
    paired: bool,
) {
    let w = acc.len();
    let mut j = 0;
    while j + CHUNK <= w {
        chunk_of_group::<F, CHUNK>(f, &mut acc[j..j + CHUNK], data, at, j, paired);
        j += CHUNK;
    }
    while j + 8 <= w {
        chunk_of_group::<F, 8>(f, &mut acc[j..j + 8], data, at, j, paired);
        j += 8;
    }
    while j < w {
        chunk_of_group::<F, 1>(f, &mut acc[j..j + 1], data, at, j, paired);
        j += 1;
    }
}

/// Rows of a subtree of eight groups of the pairwise tree, which [`block_in_chunks`] sums in
/// registers (NOTE: [narrow-tiles]).
const BLOCK: usize = 8 * GROUP;

/// The sums of [`BLOCK`] contiguous rows of `acc.len()` (at most [`window_cols`]) columns into
/// `acc` (the rows starting at `at`): eight groups of [`GROUP`] rows, combined as the pairwise
/// tree combines a subtree of eight groups, `((g0 g1)(g2 g3))((g4 g5)(g6 g7))` (NOTE:
/// [narrow-tiles]).
///
/// Each row is read whole, into accumulators in registers for a window of 8, 16, 32 or 64
/// columns from the row's start ([`block_in_window`]); the columns past the row's end are read (the next
/// row's first elements) and their sums dropped. Read a chunk of columns at a time instead, the
/// rows' cache lines are read out of order, and 16 f64 columns took twice as long from main
/// memory as row by row. Where a window would pass the data's end, the block is read a chunk of
/// columns at a time ([`group_in_chunks`]).
///
/// NOTE: [whole-width-blocks] Where the rows lie one window apart (`apart`: a tile as wide
/// as the whole matrix, 8, 16, 32 or 64 columns wide), the block is one slice of `BLOCK`
/// windows, read at offsets known when compiled. With the rows' starts each loaded from the
/// stack and each row's bounds checked, a pair of groups of 8 f32 columns took 16 registers
/// of starts and spilled some. Column sums of 10⁶ elements in the caches (AMD Zen 5, one
/// thread, medians of 300 calls, two alternations): f32 8 columns 73 → 51 µs (torch 41), 16
/// 57 → 46, 64 48–50 → 43–45; f64 8–32 level. From main memory the f64 tiles of 8 columns
/// read faster (3.2–3.3 → 2.5 ms for 10⁷ elements) and the f32 ones slower (1.1–1.2 → 1.5),
/// until each block fetched its lines ahead (NOTE: [tiles-ahead]).
#[inline(always)]
fn block_in_chunks<F: Fold>(
    f: F,
    acc: &mut [F::A],
    data: &[F::T],
    at: &[usize; BLOCK],
    apart: Option<isize>,
    far: bool,
) {
    let w = acc.len();
    let window = block_window(w);
    // NOTE: [whole-width-blocks]
    if apart == Some(window as isize) && at[0] + BLOCK * window <= data.len() {
        let rows = &data[at[0]..at[0] + BLOCK * window];
        // NOTE: [tiles-ahead]
        if far {
            prefetch_ahead::<TILE_AHEAD, _>(rows);
        }
        match window {
            8 => block_in_window::<F, 8>(f, acc, rows, const { &window_starts::<8>() }),
            16 => block_in_window::<F, 16>(f, acc, rows, const { &window_starts::<16>() }),
            32 => block_in_window::<F, 32>(f, acc, rows, const { &window_starts::<32>() }),
            _ => block_in_window::<F, WIDE_WINDOW>(
                f,
                acc,
                rows,
                const { &window_starts::<WIDE_WINDOW>() },
            ),
        }
        return;
    }
    let mut last = 0;
    for &a in at {
        last = last.max(a);
    }
    if last + window <= data.len() {
        match window {
            8 => block_in_window::<F, 8>(f, acc, data, at),
            16 => block_in_window::<F, 16>(f, acc, data, at),
            32 => block_in_window::<F, 32>(f, acc, data, at),
            _ => block_in_window::<F, WIDE_WINDOW>(f, acc, data, at),
        }
        return;
    }
    let mut pairs = [[f.init(); WIDE_WINDOW]; 4];
    for (p, rows) in pairs.iter_mut().zip(at.as_chunks::<{ 2 * GROUP }>().0) {
        group_in_chunks(f, &mut p[..w], data, rows, true);
    }
    for (c, a) in acc.iter_mut().enumerate() {
        let low = f.combine(pairs[0][c], pairs[1][c]);
        let high = f.combine(pairs[2][c], pairs[3][c]);
        *a = f.combine(low, high);
    }
}

/// The window of [`block_in_chunks`] for a tile of `w` columns: 8, 16, 32 or [`WIDE_WINDOW`].
#[inline(always)]
fn block_window(w: usize) -> usize {
    if w <= 8 {
        8
    } else if w <= 16 {
        16
    } else if w <= 32 {
        32
    } else {
        WIDE_WINDOW
    }
}

/// Blocks of a tile of 8, 16, 32 or 64 columns ([`merged_runs`]), as wide as the whole matrix
/// (NOTE: [whole-width-blocks]), each summed and merged into the pairwise stack in registers:
/// `stack` is the tile's stack of slots of `w` columns, `top` slots full; `run` is the first
/// block's index among the tile's blocks, its first row's start and the number of blocks, the
/// rows one after the other (NOTE: [merged-runs]). The stack's new `top`, or `None` (nothing
/// done) where the blocks are not such blocks within `data`.
///
/// NOTE: [blocks-merged] A block's sums went into the stack's slot through a copy of run-time
/// length (a call to `memcpy`, with a `vzeroupper` before it), and each merge with the slot
/// below combined a run-time number of columns (four lanes at a time for 8 or 16). For 8 f32
/// columns in the caches the two took a quarter of the time (`perf annotate`: `memcpy` 13%,
/// the merges' loads and stores 14%). Here the block's sums stay in registers through its
/// merges (the same combines in the same order as [`merge_top`]'s) and are stored once, as an
/// array of the tile's width; the rows are arrays too ([`rows_block_sum`]). Only for 8 and 16
/// columns, whose blocks (2–8 KiB) pay that cost most often for their bytes: with 32 and 64
/// columns too, in the two forms tried (the rows' starts in an array, the rows as arrays), f32
/// 32 and 64 columns and f64 32 from main memory read 10–25% slower in one build or the other
/// (`perf annotate` of one: the starts held in registers reloaded from the stack); once the
/// blocks were merged a run at a time, 32 columns and 64 of f64 paid in the caches (NOTE:
/// [merged-runs]). Column sums
/// of 10⁶ elements in the caches, AMD Zen 5, one thread, medians of 300 calls, the build
/// before and this one alternated three times (µs, torch's `sum(0)` in the same minutes): f32
/// 8 columns 50–53 → 44–46 (41), 16 level (45–49 → 43–46; 78); f64 8 81–82 → 84–87 (128), 16
/// 81 → 73–76 (73).
///
/// NOTE: [blocks-ahead] With the blocks faster, the f32 ones from main memory want their lines
/// fetched farther ahead than the [`TILE_AHEAD`] of NOTE: [tiles-ahead]. Column sums of 10⁷
/// elements from memory, AMD Zen 5, one thread, best of 30 calls, two rounds of every distance
/// (KiB: 4 / 8 / 12 / 16 / 24 / 32, ms), in a build with every window merged so: f32 8 columns
/// 0.85–0.91 / 0.73–0.79 / 0.72 / 0.62–0.65 / 0.65–0.68 / 0.76–0.77; f32 16 0.90–0.93 /
/// 0.78–0.81 / 0.77 / 0.73–0.82 / 0.76–0.94 / 0.86–0.98; f64 8 1.62–1.64 / 1.60–1.74 /
/// 1.59–1.72 / 1.65–1.67 / 1.67–1.69 / 1.68–1.74; f64 16 1.62–1.64 / 1.74–1.79 / 1.85 / 1.88 /
/// 1.99–2.04 / 2.02–2.12. So f32 blocks fetch [`BLOCK_AHEAD_F32`] ahead and f64 ones keep 4
/// KiB. (f32 32 columns measured best at 8 KiB and 64 at 12, 8–15% faster than at 4; they are
/// not merged here, and keep 4.) Why the f32 blocks want it farther was not found; the
/// distances are this machine's, not measured elsewhere. The build before and this one, best
/// of 30 calls, alternated three times (ms, torch's best in the same minutes): f32 8 columns
/// 0.91–0.95 → 0.74–0.76 (0.84), 16 0.97–1.01 → 0.74–0.83 (1.17); f64 8 1.86–1.88 → 1.58–1.60
/// (2.91), 16 1.74–1.80 → 1.59–1.64 (1.51); 32 and 64 columns level.
#[inline(always)]
fn whole_blocks_merged<F: Fold>(
    f: F,
    stack: &mut [F::A],
    top: usize,
    w: usize,
    data: &[F::T],
    run: (u64, Option<usize>, usize),
    far: bool,
) -> Option<usize> {
    let (index, first, blocks) = run;
    let first = first?;
    let rows = data.get(first..first.checked_add(blocks.checked_mul(BLOCK * w)?)?)?;
    match w {
        8 => blocks_merged::<F, 8>(f, stack, top, index, rows, far),
        16 => blocks_merged::<F, 16>(f, stack, top, index, rows, far),
        32 => blocks_merged::<F, 32>(f, stack, top, index, rows, far),
        64 => blocks_merged::<F, 64>(f, stack, top, index, rows, far),
        _ => None,
    }
}

/// [`whole_blocks_merged`] as a kernel of its own, called from [`AccumulateTile`]'s ISA copy
/// into another, as [`GroupWindows`] is. Inlined in the tile's, it moved the code of the
/// tile's other widths: column sums of 10⁶ elements in the caches, AMD Zen 5, one thread,
/// medians of 300 calls, the builds of 953e3ba, of the merge inlined and of this kernel
/// alternated three times (µs): f64 32 columns 73–75 / 83–87 / 76–79, f64 64 80–84 / 88–91 /
/// 85–91, f64 8 76–78 / 82–85 / 72–73; f32 32 columns 43–45 / 49–50 / 50–52 stayed slower
/// either way (cause not found). NOTE: [blocks-merged]
///
/// NOTE: [merged-runs] It takes the tile's whole run of blocks along the innermost dim at
/// once: `run` is the first block's index among the tile's blocks, its first row's start and
/// the number of blocks ([`RowStarts::run_along`]). Called once a block, the tile's loop
/// around it (the 64 rows' starts filled, the call's arguments stored, the width dispatched,
/// `vzeroupper`) took 17–20% of the time of 8 f32 columns in the caches (`perf`), a block
/// there being only 2 KiB. With that loop gone the blocks of 32 columns, and of 64 of f64, pay
/// in the caches too ([`merged_runs`]). Column sums, AMD Zen 5, one thread, medians of 300
/// calls (30 from memory), the build before, the runs of 8 and 16 columns, then with 32, then
/// with 64, alternated three times (µs; torch's `sum(0)` in the same minutes):
/// - 2¹⁷ f32 (the L2): 8 columns 5.6–6.1 → 4.3–4.5 → 3.0–3.1 (3.7), 16 4.5–4.9 → 3.8–4.2 →
///   3.1–3.4 (5.6), 32 5.2–5.9 → 3.5–3.9 (3.8);
/// - 10⁶ (the L3): f32 8 49–53 → 39–42 (41), 16 42–46 → 38–43 (78), 32 49–54 → 38–41 (41);
///   f64 16 74–79 → 63–70 (80), 32 81–87 → 67–78, 64 86–95 → 79–80; f32 64 44–49 → 47–49,
///   hence not f32; f64 8 75–81 → 79–84 in those builds, 76–78 → 68–69 in the one kept (three
///   more rounds; `perf` of a run: 64 loads added to eight sums a block, nothing else hot but
///   the merges);
/// - 10⁷ from memory (a slow window: 10–40% slower than the day before), ms: f64 8 2.01–2.37
///   → 1.70–1.94, 16 1.79–2.12 → 1.68–2.07; f32 32 0.93–0.95 → 1.04–1.15, hence 32 only in
///   the caches. f32 8 and 16 (six more rounds, 40 calls, each width twice a process): the
///   build before read 8 columns in 0.73–0.79 ms or 1.0–1.2 (the first of a process mostly
///   the slower), the runs 0.91–0.97 every time; 16 columns 0.75–0.94 against 0.86–0.95.
///   Worse than either, a run of one block a call for f32 from memory (the build before's
///   calls, tried): 1.27–1.40 and 1.17–1.25 ms, `perf` showing the loads of the block's last
///   groups waiting for their lines; why it differs from the build before, which makes the
///   same calls, was not found. So each f32 group fetches its own lines ahead just before it
///   is read, rather than the block's all at once: the `kernels` example's
///   `sum_cols_f32_1250000x8` (one thread, CPU time, four rounds alternated) 0.70–0.79 ms
///   before, 0.86–1.04 with the block's lines fetched at once, 0.82–0.85 a group at a time;
///   three more rounds in a noisier window 0.74–0.98 against 0.82–0.93, the distances of 8,
///   24 and 32 KiB no better. So f32 columns of 8 from memory stay up to 10% behind the build
///   before (level with torch's 0.81 ms), where f64 ones gained (1.91–2.27 → 1.68–1.91).
struct MergedBlocks<'a, F: Fold> {
    f: F,
    stack: &'a mut [F::A],
    top: usize,
    w: usize,
    data: &'a [F::T],
    run: (u64, Option<usize>, usize),
    far: bool,
}

impl<F: Fold> Vectorized for MergedBlocks<'_, F> {
    type Out = Option<usize>;
    #[inline(always)]
    fn run(self) -> Option<usize> {
        let MergedBlocks {
            f,
            stack,
            top,
            w,
            data,
            run,
            far,
        } = self;
        whole_blocks_merged(f, stack, top, w, data, run, far)
    }
}

/// Whether the whole blocks of a tile `w` columns wide are merged in registers (NOTE:
/// [merged-runs]): 8 and 16 columns; in the caches (not `far`) 32 too, and 64 of f64.
fn merged_runs<T>(w: usize, far: bool) -> bool {
    match w {
        8 | 16 => true,
        32 => !far,
        64 => !far && size_of::<T>() == 8,
        _ => false,
    }
}

/// How far ahead of a block of [`whole_blocks_merged`] of elements of 4 bytes its lines are
/// fetched, in bytes (NOTE: [blocks-ahead]).
const BLOCK_AHEAD_F32: usize = 16 << 10;

/// [`whole_blocks_merged`] of a tile `C` columns wide: each block's sums
/// ([`rows_block_sum`]), combined with the stack's slots for each trailing one of its index
/// (`index` for the first, each slot the earlier), then stored in the slot they end in; the
/// stack's new top (`None` if `rows` is not whole blocks of [`BLOCK`] rows of `C`, nothing
/// done).
#[inline(always)]
fn blocks_merged<F: Fold, const C: usize>(
    f: F,
    stack: &mut [F::A],
    mut top: usize,
    index: u64,
    rows: &[F::T],
    far: bool,
) -> Option<usize> {
    let (rows, rest) = rows.as_chunks::<C>();
    let (blocks, rest_rows) = rows.as_chunks::<BLOCK>();
    if !rest.is_empty() || !rest_rows.is_empty() {
        return None;
    }
    let slots = stack.as_chunks_mut::<C>().0;
    for (b, block) in blocks.iter().enumerate() {
        // NOTE: [blocks-ahead]
        let mut acc = if far && size_of::<F::T>() == 4 {
            rows_block_sum::<F, C, BLOCK_AHEAD_F32>(f, block)
        } else {
            if far {
                prefetch_ahead::<TILE_AHEAD, _>(block.as_flattened());
            }
            rows_block_sum::<F, C, 0>(f, block)
        };
        let mut k = index + b as u64;
        while k & 1 == 1 {
            top -= 1;
            acc = combine_chunks(f, slots[top], acc);
            k >>= 1;
        }
        slots[top] = acc;
        top += 1;
    }
    Some(top)
}

/// [`block_in_window`]'s sums of [`BLOCK`] rows of `C` as arrays, one after the other: the
/// same steps in the same order, so the same bits (NOTE: [blocks-merged]). Each group's lines
/// `AHEAD` bytes on are fetched before it is read, if `AHEAD` is not 0 (NOTE: [blocks-ahead]).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn rows_block_sum<F: Fold, const C: usize, const AHEAD: usize>(
    f: F,
    rows: &[[F::T; C]; BLOCK],
) -> [F::A; C] {
    // no closures here: they could be compiled outside the ISA copy (NOTE: [isa-copies])
    let groups = rows.as_chunks::<GROUP>().0;
    let mut sums = [[f.init(); C]; BLOCK / GROUP];
    for g in 0..BLOCK / GROUP {
        if AHEAD > 0 {
            prefetch_ahead::<AHEAD, _>(groups[g].as_flattened());
        }
        sums[g] = rows_group_sum(f, &groups[g]);
    }
    let mut pairs = [[f.init(); C]; 4];
    for p in 0..4 {
        pairs[p] = combine_chunks(f, sums[2 * p], sums[2 * p + 1]);
    }
    let low = combine_chunks(f, pairs[0], pairs[1]);
    let high = combine_chunks(f, pairs[2], pairs[3]);
    combine_chunks(f, low, high)
}

/// [`fold_chunk`] of a group of rows of `C` as arrays.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn rows_group_sum<F: Fold, const C: usize>(f: F, rows: &[[F::T; C]; GROUP]) -> [F::A; C] {
    let mut a = [f.init(); C];
    if F::GROUP > 1 {
        // joined in the element type first, as `joined_chunk` joins them
        let mut t = rows[0];
        for r in 1..GROUP {
            for c in 0..C {
                t[c] = f.join(t[c], rows[r][c]);
            }
        }
        for c in 0..C {
            a[c] = f.step(a[c], t[c]);
        }
        return a;
    }
    for r in 0..GROUP {
        for c in 0..C {
            a[c] = f.step(a[c], rows[r][c]);
        }
    }
    a
}

/// Inputs of at least this many bytes are taken to be read from main memory: there the
/// narrow column tiles fetch their rows ahead (NOTE: [tiles-ahead]). The size from which
/// rows are read in quarters side by side ([`Streams`]).
const FAR_BYTES: usize = Streams::DEFAULT.min_input;

/// How far ahead of each row of a narrow column tile its lines are fetched, in bytes.
///
/// NOTE: [tiles-ahead] The narrow column tiles (NOTE: [narrow-tiles], [group-windows]) read
/// their rows in order, one group of eight after another, yet from main memory they read at
/// 20–35 GB/s where a bare loop over one stream reads 45–60 (why the hardware prefetcher
/// alone falls behind them was not found). Where the input is read from
/// memory (a reduction of [`FAR_BYTES`] or more), each block of eight groups in a window ([`block_in_chunks`]) and each
/// row of a group in a window ([`GroupWindows`]) first fetches its lines `TILE_AHEAD` bytes on
/// (one prefetch instruction a line). Column sums of 10⁷ elements from memory, AMD Zen 5, one
/// thread, the two ways alternated in one process (three rounds of 20–30 calls, best of each
/// round), without → with: f32 8 columns 1.29–1.36 → 0.88–0.91 ms, 72 2.09–2.10 → 0.97–0.99,
/// 96 2.64–2.80 → 1.28–1.39, 128 2.14–2.15 → 1.23–1.28, 256 1.63–1.67 → 1.32–1.37; f64 8
/// 2.40–2.44 → 1.87–1.90, 40 3.87–3.92 → 1.81–1.87, 64 3.53–3.75 → 2.65–2.91, 100 3.24–3.27 →
/// 2.21–2.27, 128 2.46–2.54 → 2.15–2.19. On two threads f32 72 columns 0.99–1.01 → 0.52–0.54
/// ms, f64 40 1.82–1.99 → 0.90–0.95. Of the distances tried for the blocks of 8–64 columns
/// (2, 3, 4 and 6 KiB, the block itself from its start, the next block, the one after),
/// 4 KiB was within 10% of the best at every width; without any, 20–45% slower. In the caches
/// (10⁶ elements, 4–8 MB) the prefetches cost 5–20% (f32 16 columns 45 → 55 µs), hence only
/// from `FAR_BYTES`. The wide tiles (NOTE: [wide-tiles]) take none: the next lines of a row
/// there belong to the next tile, read long after.
const TILE_AHEAD: usize = 4096;

/// The starts of [`BLOCK`] rows `C` apart from 0 (NOTE: [whole-width-blocks]).
const fn window_starts<const C: usize>() -> [usize; BLOCK] {
    let mut at = [0; BLOCK];
    let mut r = 0;
    while r < BLOCK {
        at[r] = r * C;
        r += 1;
    }
    at
}

/// [`block_in_chunks`] through a window of `C` columns of each row, `C` at least `acc.len()`
/// and every `at[r] + C` within `data`.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn block_in_window<F: Fold, const C: usize>(
    f: F,
    acc: &mut [F::A],
    data: &[F::T],
    at: &[usize; BLOCK],
) {
    // no closures here: they could be compiled outside the ISA copy (NOTE: [isa-copies])
    let mut pairs = [[f.init(); C]; 4];
    for (p, rows) in pairs.iter_mut().zip(at.as_chunks::<{ 2 * GROUP }>().0) {
        let a = fold_chunk::<F, C>(f, data, &rows[..GROUP], 0);
        let b = fold_chunk::<F, C>(f, data, &rows[GROUP..], 0);
        *p = combine_chunks(f, a, b);
    }
    let low = combine_chunks(f, pairs[0], pairs[1]);
    let high = combine_chunks(f, pairs[2], pairs[3]);
    let all = combine_chunks(f, low, high);
    acc.copy_from_slice(&all[..acc.len()]);
}

/// `C` columns from `j` of the rows starting at `at`, folded in order.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn fold_chunk<F: Fold, const C: usize>(f: F, data: &[F::T], at: &[usize], j: usize) -> [F::A; C] {
    let mut a = [f.init(); C];
    if F::GROUP > 1 {
        let t = joined_chunk::<F, C>(f, data, at, j);
        for c in 0..C {
            a[c] = f.step(a[c], t[c]);
        }
        return a;
    }
    for &s in at {
        let row = &data[s + j..s + j + C];
        for c in 0..C {
            a[c] = f.step(a[c], row[c]);
        }
    }
    a
}

/// `C` columns from `j` of the rows starting at `at`, joined in order in the element type, for
/// a fold that joins (NOTE: [f32-groups]).
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn joined_chunk<F: Fold, const C: usize>(f: F, data: &[F::T], at: &[usize], j: usize) -> [F::T; C] {
    let mut t = [F::T::default(); C];
    t.copy_from_slice(&data[at[0] + j..at[0] + j + C]);
    for &s in &at[1..] {
        let row = &data[s + j..s + j + C];
        for c in 0..C {
            t[c] = f.join(t[c], row[c]);
        }
    }
    t
}

/// Two chunks' accumulators combined column by column, `a` the earlier.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn combine_chunks<F: Fold, const C: usize>(f: F, mut a: [F::A; C], b: [F::A; C]) -> [F::A; C] {
    for c in 0..C {
        a[c] = f.combine(a[c], b[c]);
    }
    a
}

/// The widest tile summed in registers, and the widest chunk of columns of
/// [`group_in_chunks`]: 32 accumulators (four AVX-512 registers of f64). NOTE: [narrow-tiles]
const CHUNK: usize = 32;

/// The widest window of [`block_in_chunks`], for elements of 4 bytes: 64 columns, four
/// AVX-512 registers of f32 (NOTE: [narrow-tiles]).
const WIDE_WINDOW: usize = 64;

/// Whether a tile of `w` columns of type `T` takes its subtrees of eight groups in windows
/// ([`block_in_chunks`]): up to [`window_cols`] columns, and elements of 8 bytes from 57 to
/// [`WIDE_WINDOW`] columns, which fill seven eighths of that window (NOTE: [group-windows]).
fn block_windows<T>(w: usize) -> bool {
    w <= window_cols::<T>() || (size_of::<T>() > 4 && 8 * w > 7 * WIDE_WINDOW && w <= WIDE_WINDOW)
}

/// The widest tile of elements of type `T` summed in registers: [`WIDE_WINDOW`] columns of 4
/// bytes, [`CHUNK`] of 8 (NOTE: [narrow-tiles]).
const fn window_cols<T>() -> usize {
    if size_of::<T>() <= 4 {
        WIDE_WINDOW
    } else {
        CHUNK
    }
}

/// `C` columns from `j` of [`group_in_chunks`]' group or pair, into `acc` (`C` long).
#[inline(always)]
fn chunk_of_group<F: Fold, const C: usize>(
    f: F,
    acc: &mut [F::A],
    data: &[F::T],
    at: &[usize; 2 * GROUP],
    j: usize,
    paired: bool,
) {
    let a = fold_chunk::<F, C>(f, data, &at[..GROUP], j);
    if paired {
        let b = fold_chunk::<F, C>(f, data, &at[GROUP..], j);
        acc.copy_from_slice(&combine_chunks(f, a, b));
    } else {
        acc.copy_from_slice(&a);
    }
}

/// Index of the maximum (`greater = true`) or minimum along `dim`; the first one on ties, NaN
/// counting as the extreme (as in PyTorch). The result has the keepdim shape.
pub fn arg_extreme<T: Element>(x: View<'_, T>, dim: usize, greater: bool) -> Vec<i64> {
    let kept = kept_shape(x.shape, &[dim]);
    let n = x.shape[dim];
    let sd = x.strides[dim];
    let mut ostr = contiguous_strides(&kept);
    ostr[dim] = 0;
    let mut shape = x.shape.to_vec();
    shape[dim] = 1;
    let out_n = numel(&kept);
    let mut out = vec![0i64; out_n];
    let plan = Plan::new(&shape, [x.strides, &contiguous_strides(&kept)]);
    let data = x.data;
    plan.run([x.offset, 0], 0, out_n, |[i, o]| {
        let mut best = data[i];
        let mut bi = 0usize;
        for k in 1..n {
            let v = data[(i as isize + k as isize * sd) as usize];
            #[allow(clippy::eq_op)]
            let v_nan = v != v;
            #[allow(clippy::eq_op)]
            let b_nan = best != best;
            if !b_nan && (v_nan || if greater { v > best } else { v < best }) {
                best = v;
                bi = k;
            }
        }
        out[o] = bi as i64;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::Array;
    use math::Isa;

    /// Every row read from start to end.
    const NEVER: Streams = Streams {
        min_input: usize::MAX,
        min_quarter: usize::MAX,
        measured: false,
        block: usize::MAX,
    };
    /// Every row of four runs or more read in quarters, all other rows of a run or more side
    /// by side (NOTE: [streams]), a row to a block (NOTE: [held-rows]).
    const ALWAYS: Streams = Streams {
        min_input: 0,
        min_quarter: 1,
        measured: false,
        block: 1,
    };

    #[test]
    fn strided_sums_are_as_accurate_as_pairwise_summation() {
        // NOTE: [strided-gather]: every other element, each row 1 then tiny terms (a running
        // sum keeps none of them); the elements skipped are large
        let (rows, len) = (8, 1 << 17);
        let mut data = vec![5.0f64; 2 * rows * len];
        for r in 0..rows {
            data[2 * r * len] = 1.0;
            for i in 1..len {
                data[2 * (r * len + i)] = 1e-17;
            }
        }
        let want = 1.0 + (len - 1) as f64 * 1e-17;
        let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
            // the rows (dims 0 and 1 both strided), and all of it as one strided vector
            let rows_view = View {
                data: &data,
                shape: &[rows, len],
                strides: &[2 * len as isize, 2],
                offset: 0,
            };
            let got = reduce_isa(rows_view, &[1], SumF64::<f64>::new(), isa, NEVER);
            assert_eq!(got.len(), rows);
            for g in got {
                assert!((g - want).abs() <= 1e-15, "{isa:?}: {g:e} against {want:e}");
            }
            let all = View {
                data: &data,
                shape: &[rows * len],
                strides: &[2],
                offset: 0,
            };
            let got = reduce_isa(all, &[0], SumF64::<f64>::new(), isa, NEVER)[0];
            let want_all = rows as f64 * want;
            assert!((got - want_all).abs() <= 1e-14, "{isa:?}: {got:e}");
            // f32 elements, summed in f64 (1e-17 is a normal f32)
            let v32 = View {
                data: &d32,
                shape: &[rows, len],
                strides: &[2 * len as isize, 2],
                offset: 0,
            };
            let got = reduce_isa(v32, &[1], SumF64::<f32>::new(), isa, NEVER);
            let want32 = 1.0 + (len - 1) as f64 * (1e-17f32 as f64);
            for g in got {
                assert!(
                    (g - want32).abs() <= 1e-15,
                    "{isa:?} f32: {g:e} against {want32:e}"
                );
            }
        }
        // a layout whose memory order is not the logical one (the dims swapped): the sums of
        // a contiguous copy up to rounding (where the orders agree, the bits are checked by
        // strided_rows_give_the_bits_of_a_contiguous_copy)
        let vals = values(2 * rows * len, 7);
        let cases: [(Vec<usize>, Vec<isize>, Vec<usize>); 2] = [
            (vec![rows, len / 2], vec![2, 2 * rows as isize], vec![0, 1]),
            (vec![rows, len / 2], vec![2, 2 * rows as isize], vec![0]),
        ];
        for (shape, strides, dims) in &cases {
            let strided = View {
                data: &vals,
                shape,
                strides,
                offset: 0,
            };
            let copy = crate::kernels::strided::collect(strided);
            let dense = View {
                data: &copy,
                shape,
                strides: &contiguous_strides(shape),
                offset: 0,
            };
            for isa in [Isa::Plain, Isa::Avx512] {
                let a = reduce_isa(strided, dims, SumF64::<f64>::new(), isa, NEVER);
                let b = reduce_isa(dense, dims, SumF64::<f64>::new(), isa, NEVER);
                assert_eq!(a.len(), b.len());
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() <= 1e-9, "{shape:?} {strides:?} {dims:?}");
                }
            }
        }
    }

    #[test]
    fn strided_rows_give_the_bits_of_a_contiguous_copy() {
        // NOTE: [strided-gather]: every stride the gather treats apart (2, 3, 4 as constants,
        // others, reversed, broadcast), rows shorter than LANES, than a run (f64 and f32),
        // longer than a run with a rest, and rows of several blocks, f64 and f32; the columns
        // of the same inputs (gathered in tiles), and all dims. NOTE: [strided-direct]: strides
        // 2, 3 and 4 read straight from memory in the AVX-512 copy (f64 only where the input is
        // smaller than `min_input`, so both ways with NEVER and ALWAYS), rows that end at the
        // end of the data (their last wide loads would run past it: gathered instead), and
        // rows of the plan shorter than a run (runs across two rows: gathered)
        fn check<T: Float>(vals: &[T], shape: &[usize], strides: &[isize], offset: usize) {
            let strided = View {
                data: vals,
                shape,
                strides,
                offset,
            };
            let copy = crate::kernels::strided::collect(strided);
            let dense = View {
                data: &copy,
                shape,
                strides: &contiguous_strides(shape),
                offset: 0,
            };
            // rows, columns (the innermost dim kept) and all dims where there are two dims
            let all: Vec<usize> = (0..shape.len()).collect();
            let sets = [vec![shape.len() - 1], vec![0], all];
            for dims in sets.iter().take(if shape.len() > 1 { 3 } else { 1 }) {
                for (isa, st) in [
                    (Isa::Plain, NEVER),
                    (Isa::Avx2, NEVER),
                    (Isa::Avx512, NEVER),
                    (Isa::Avx512, ALWAYS),
                ] {
                    let a = reduce_isa(strided, dims, SumF64::<T>::new(), isa, st);
                    let b = reduce_isa(dense, dims, SumF64::<T>::new(), isa, NEVER);
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "{shape:?} {strides:?} {dims:?} {isa:?}");
                    let a = reduce_isa(strided, dims, Pick::<T, true>::new(), isa, st);
                    let b = reduce_isa(dense, dims, Pick::<T, true>::new(), isa, NEVER);
                    assert_eq!(a, b, "max: {shape:?} {strides:?} {dims:?} {isa:?}");
                }
            }
        }
        let vals = values(1 << 21, 11);
        let v32: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
        let long = 2 * block_len::<f64>() + 1000;
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool of two threads");
        for step in [2isize, 3, 4, 5, 9] {
            let s = step as usize;
            for len in [7, 100, RUN, 1500, 3 * RUN_NARROW + 5] {
                // NOTE: [narrow-tiles]: the columns of the contiguous copy of up to NARROW
                // columns row by row (a pair of groups, a group and 3 rows), the gathered ones
                // column by column
                let rows = (vals.len() / (s * len)).min(27);
                let st = [(s * len) as isize, step];
                check(&vals, &[rows, len], &st, 0);
                check(&v32, &[rows, len], &st, 0);
            }
            if s * long < vals.len() {
                check(&vals, &[long], &[step], 0);
                // in blocks on the threads wherever this runs (fold_gathered splits a long row
                // only where there are two or more)
                two.install(|| check(&vals, &[long], &[step], 0));
            }
            // a row shorter than two blocks, in shorter blocks on two threads (NOTE:
            // [short-blocks]), f64 and f32
            two.install(|| {
                check(&vals, &[200_001], &[step], 0);
                check(&v32, &[200_001], &[step], 0);
            });
            // the last element the last of the data, rows of LANES and more (NOTE:
            // [strided-direct])
            for len in [LANES + 1, 1500, RUN_NARROW + 40] {
                let span = (len - 1) * s + 1;
                check(&vals, &[len], &[step], vals.len() - span);
                check(&v32, &[len], &[step], v32.len() - span);
                check(
                    &vals,
                    &[3, len],
                    &[span as isize, step],
                    vals.len() - 3 * span,
                );
            }
            // columns of 75 rows: pairs of groups read in one pass where the input is dense,
            // merged further up the tree, then a lone group and a short one (NOTE:
            // [paired-groups])
            check(&vals, &[75, 100], &[(s * 100) as isize, step], 0);
            check(&v32, &[75, 100], &[(s * 100) as isize, step], 0);
            // plan rows of 700 with a gap between them, reduced together (runs across two)
            let gap = (s * 700 + 5) as isize;
            check(&vals, &[9, 700], &[gap, step], 1);
            check(&v32, &[9, 700], &[gap, step], 1);
            // reversed: the last element first
            let n = 5000;
            check(&vals, &[3, n], &[-((s * n) as isize), -step], 3 * s * n - 1);
            check(&v32, &[n], &[-step], s * n);
        }
        // NOTE: [narrow-tiles]: columns whose maxima's bits depend on the order of their
        // steps and combines (zeros of both signs, NaNs of distinct payloads: a maximum keeps
        // the earlier zero and the later NaN), the contiguous copy's columns row by row against
        // the gathered ones column by column, 75 rows (pairs, a group and a short one) of 8 and
        // 100 columns; their sums NaN in the same columns (a sum's NaN payload is not fixed:
        // LLVM may swap the operands of an addition)
        let special = zeros_and_nans(2 * 75 * 100, 5);
        for len in [8usize, 100] {
            let (shape, strides) = ([75, len], [(2 * len) as isize, 2]);
            let strided = View {
                data: &special,
                shape: &shape,
                strides: &strides,
                offset: 0,
            };
            let copy = crate::kernels::strided::collect(strided);
            let dense = View {
                data: &copy,
                shape: &shape,
                strides: &contiguous_strides(&shape),
                offset: 0,
            };
            let bits = |v: AlignedVec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
                let max = |v| bits(reduce_isa(v, &[0], Pick::<f64, true>::new(), isa, NEVER));
                let nan = |v| {
                    let s = reduce_isa(v, &[0], SumF64::<f64>::new(), isa, NEVER);
                    s.iter().map(|x| x.is_nan()).collect::<Vec<_>>()
                };
                assert_eq!(max(dense), max(strided), "maxima, {len} columns, {isa:?}");
                assert_eq!(nan(dense), nan(strided), "sums, {len} columns, {isa:?}");
            }
        }
        // broadcast: one element, n times
        check(&vals, &[4, 3000], &[0, 0], 0);
        check(&v32, &[3000], &[0], 5);
    }

    /// Asserts that the f64 sums and the maxima over `dims` of two views of the same values
    /// are the same in every ISA's copy: the maxima bit for bit, the sums bit for bit, or
    /// where they hold a NaN, NaN in the same places.
    fn same_sums_and_maxima<T: Float>(a: View<'_, T>, b: View<'_, T>, dims: &[usize]) {
        let shape = a.shape;
        for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
            let sum = |v| reduce_isa(v, dims, SumF64::<T>::new(), isa, NEVER);
            let bits = |v: AlignedVec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let nan = |v: AlignedVec<f64>| v.iter().map(|x| x.is_nan()).collect::<Vec<_>>();
            let (sa, sb) = (sum(a), sum(b));
            if sa.iter().any(|x| x.is_nan()) {
                assert_eq!(nan(sa), nan(sb), "sums {shape:?} {dims:?} {isa:?}");
            } else {
                assert_eq!(bits(sa), bits(sb), "sums {shape:?} {dims:?} {isa:?}");
            }
            let max = |v| reduce_isa(v, dims, Pick::<T, true>::new(), isa, NEVER);
            let bits =
                |v: AlignedVec<T>| v.iter().map(|x| x.to_f64().to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(max(a)),
                bits(max(b)),
                "maxima {shape:?} {dims:?} {isa:?}"
            );
        }
    }

    #[test]
    fn narrow_columns_in_windows_give_the_bits_of_gathered_columns() {
        // NOTE: [narrow-tiles]: the contiguous copy's columns (subtrees of eight groups in
        // windows of 8, 16, 32 or 64 columns, read as one slice where the rows are one window
        // apart, NOTE: [whole-width-blocks], the rest a chunk of columns at a time; past
        // those, groups in windows of 40 to 256 columns, NOTE: [group-windows], or row by row
        // past them and where a window passes the data's end) against the gathered ones
        // column by column, bit for bit: sums of
        // random values, and maxima of zeros of both signs and NaNs of distinct payloads (whose
        // bits depend on the order of the steps and combines); rows of whole blocks (the last
        // window passes the data's end), blocks then a pair, a group and a rest, and two
        // reduced dims whose inner one wraps inside the blocks
        fn check<T: Float>(vals: &[T], shape: &[usize], dims: &[usize]) {
            let n: usize = shape.iter().product();
            let mut strides = contiguous_strides(shape);
            for s in &mut strides {
                *s *= 2;
            }
            let strided = View {
                data: &vals[..2 * n],
                shape,
                strides: &strides,
                offset: 0,
            };
            let copy = crate::kernels::strided::collect(strided);
            let dense = View {
                data: &copy,
                shape,
                strides: &contiguous_strides(shape),
                offset: 0,
            };
            same_sums_and_maxima(dense, strided, dims);
        }
        let n = 2 * 203 * 257;
        let vals = values(n, 13);
        let v32: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
        let special = zeros_and_nans(n, 17);
        let s32: Vec<f32> = special
            .iter()
            .map(|&v| {
                if v.is_nan() {
                    f32::from_bits(0x7fc0_0000 | (v.to_bits() & 0xffff) as u32)
                } else {
                    v as f32
                }
            })
            .collect();
        let widths = [
            1, 3, 8, 9, 16, 17, 24, 32, 33, 40, 48, 56, 57, 64, 65, 72, 100, 128,
        ];
        for w in widths.into_iter().chain([129, 200, 256, 257]) {
            for rows in [64, 128, 203] {
                check(&vals, &[rows, w], &[0]);
                check(&v32, &[rows, w], &[0]);
                check(&special, &[rows, w], &[0]);
                check(&s32, &[rows, w], &[0]);
            }
            check(&vals, &[5, 30, w], &[0, 1]);
            check(&v32, &[5, 30, w], &[0, 1]);
            check(&special, &[5, 30, w], &[0, 1]);
        }
        // blocks merged in registers (NOTE: [blocks-merged], [merged-runs]) through up to
        // three levels of the stack: fifteen blocks (twelve at 64 columns), then groups
        for (w, rows) in [(8, 1000), (16, 1000), (32, 1000), (64, 800)] {
            check(&vals, &[rows, w], &[0]);
            check(&v32, &[rows, w], &[0]);
            check(&special, &[rows, w], &[0]);
            check(&s32, &[rows, w], &[0]);
        }
    }

    #[test]
    fn runs_of_merged_blocks_stop_where_the_inner_reduced_dim_wraps() {
        // NOTE: [merged-runs]: a slice of the middle dim, so the two reduced dims do not merge
        // and each run of whole blocks ends with the inner one (64 and 128 rows: at its end,
        // where the outer dim steps; 150 and 200: blocks, then groups that wrap), against a
        // copy of the slice spread to every other element (gathered, no blocks), bit for bit:
        // sums of random values, maxima of zeros of both signs and NaNs of distinct payloads;
        // 8–32 columns in merged runs, 40 and 64 in the AVX-512 block kernel (f32) or through
        // windows (and f64 64 in merged runs)
        fn check<T: Float>(vals: &[T], inner: usize, w: usize) {
            let shape = [3, inner, w];
            let strides = [((inner + 10) * w) as isize, w as isize, 1];
            let sliced = View {
                data: &vals[..3 * (inner + 10) * w],
                shape: &shape,
                strides: &strides,
                offset: 0,
            };
            let copy = crate::kernels::strided::collect(sliced);
            let spread: Vec<T> = copy.iter().flat_map(|&v| [v, v]).collect();
            let mut strides = contiguous_strides(&shape);
            for s in &mut strides {
                *s *= 2;
            }
            let gathered = View {
                data: &spread,
                shape: &shape,
                strides: &strides,
                offset: 0,
            };
            same_sums_and_maxima(gathered, sliced, &[0, 1]);
        }
        let n = 3 * 210 * 64;
        let vals = values(n, 19);
        let v32: Vec<f32> = vals.iter().map(|&v| v as f32).collect();
        let special = zeros_and_nans(n, 23);
        for w in [8, 16, 32, 40, 64] {
            for inner in [64, 128, 150, 200] {
                check(&vals, inner, w);
                check(&v32, inner, w);
                check(&special, inner, w);
            }
        }
    }

    #[test]
    fn the_way_measured_faster_is_kept() {
        // NOTE: [streams-measured]: the trials alternate, starting in order
        let mut t = Trials::NEW;
        let mut ways = vec![];
        for k in 0..2 * TRIALS {
            let Choice::Try(way) = t.next() else {
                panic!("chose before the trials were done");
            };
            ways.push(way);
            // in order faster but for one outlier, streams slower but for one
            let s = match (way, k) {
                (Way::InOrder, 0) => 9.0,
                (Way::InOrder, _) => 2.0,
                (Way::Streams, 1) => 1.0,
                (Way::Streams, _) => 3.0,
            };
            t.record(way, s);
        }
        let expect: Vec<Way> = (0..2 * TRIALS)
            .map(|k| {
                if k % 2 == 0 {
                    Way::InOrder
                } else {
                    Way::Streams
                }
            })
            .collect();
        assert_eq!(ways, expect);
        assert_eq!(t.next(), Choice::InOrder);
        assert_eq!(t.next(), Choice::InOrder);
        // and the other way round; late records change nothing
        let mut t = Trials::NEW;
        for _ in 0..2 * TRIALS {
            let Choice::Try(way) = t.next() else {
                panic!("chose before the trials were done");
            };
            t.record(way, if way == Way::Streams { 1.0 } else { 2.0 });
        }
        t.record(Way::InOrder, 0.0);
        assert_eq!(t.next(), Choice::Streams);
        // trials handed out and not yet recorded count: two at once go different ways
        let mut t = Trials::NEW;
        assert_eq!(t.next(), Choice::Try(Way::InOrder));
        assert_eq!(t.next(), Choice::Try(Way::Streams));
    }

    #[test]
    fn measured_reads_give_the_bits_of_rows_read_in_order() {
        // NOTE: [streams-measured]: the trials of both ways, then the chosen one, each with
        // the bits of rows read from start to end; every input here falls in the last class
        let measured = Streams {
            min_input: 0,
            min_quarter: 20_000,
            measured: true,
            block: 512 << 10,
        };
        let data = values(4 * 40_000, 3);
        // rows in quarters (two shapes), rows of 7 runs and a tail side by side, and rows of
        // 100 and of 20 (NOTE: [short-streams]), sums and maxima
        let cases: [(&[usize], &[usize]); 5] = [
            (&[4, 40_000], &[1]),
            (&[160_000], &[0]),
            (&[40, 4000], &[1]),
            (&[1600, 100], &[1]),
            (&[8000, 20], &[1]),
        ];
        for k in 0..5 * 2 * TRIALS {
            let (shape, dims) = cases[k % 5];
            let v = View {
                data: &data,
                shape,
                strides: &contiguous_strides(shape),
                offset: 0,
            };
            let got = reduce_isa(v, dims, SumF64::<f64>::new(), math::isa(), measured);
            let want = reduce_isa(v, dims, SumF64::<f64>::new(), math::isa(), NEVER);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "call {k}, shape {shape:?}");
            let got = reduce_isa(v, dims, Pick::<f64, true>::new(), math::isa(), measured);
            let want = reduce_isa(v, dims, Pick::<f64, true>::new(), math::isa(), NEVER);
            assert_eq!(bits(&got), bits(&want), "maxima: call {k}, shape {shape:?}");
        }
        let mut readings = vec![Reading::Quarters, Reading::SideBySide];
        // short rows take trials only where the kernels written out for them fold them
        if rows_written_out::<SumF64<f64>>(100, math::isa()) {
            readings.extend([Reading::ShortRows, Reading::PartRows]);
        }
        for reading in readings {
            let class = SizeClass::of(data.len() * 8, 0, reading);
            let trials = TRIALS_BY_CLASS.lock().unwrap_or_else(|e| e.into_inner())[class.0];
            assert!(trials.chosen.is_some(), "{reading:?}: {trials:?}");
        }
    }

    #[test]
    fn size_classes_grow_by_fours() {
        let m = 16 << 20;
        let class = |b: usize| SizeClass::of(b, m, Reading::Quarters).0;
        assert_eq!(class(m), 0);
        assert_eq!(class(4 * m - 1), 0);
        assert_eq!(class(4 * m), 1);
        assert_eq!(class(16 * m - 1), 1);
        assert_eq!(class(16 * m), 2);
        assert_eq!(class(usize::MAX), 2);
        // rows side by side choose apart from rows in quarters, and short rows from both
        assert_eq!(SizeClass::of(m, m, Reading::SideBySide).0, CLASSES);
        assert_eq!(
            SizeClass::of(usize::MAX, m, Reading::SideBySide).0,
            2 * CLASSES - 1
        );
        assert_eq!(SizeClass::of(m, m, Reading::ShortRows).0, 2 * CLASSES);
        assert_eq!(SizeClass::of(m, m, Reading::PartRows).0, 3 * CLASSES);
        assert_eq!(
            SizeClass::of(usize::MAX, m, Reading::PartRows).0,
            4 * CLASSES - 1
        );
    }

    #[test]
    fn sums_are_as_accurate_as_pairwise_summation() {
        // 1 followed by many tiny terms, each below half an ulp of 1: a running sum loses all
        // of them, a pairwise one keeps them
        let n = 1 << 20;
        let mut x = vec![1e-16; n];
        x[0] = 1.0;
        let want = 1.0 + (n - 1) as f64 * 1e-16;
        for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
            let a = Array::from_vec(x.clone(), &[n]);
            let got = reduce_isa(a.v::<f64>(), &[0], SumF64::<f64>::new(), isa, ALWAYS);
            // within 16 roundings of the total, where a running sum would be 1e-10 off
            assert!(
                (got[0] - want).abs() <= 16.0 * f64::EPSILON,
                "{} vs {want}",
                got[0]
            );
            // the same down a column (rows accumulated into the output row)
            let rows = 1 << 14;
            let mut c = vec![1e-16; 2 * rows];
            c[0] = 1.0;
            c[1] = 1.0;
            let a = Array::from_vec(c, &[rows, 2]);
            let got = reduce_isa(a.v::<f64>(), &[0], SumF64::<f64>::new(), isa, ALWAYS);
            let want = 1.0 + (rows - 1) as f64 * 1e-16;
            for g in got {
                assert!((g - want).abs() <= 16.0 * f64::EPSILON, "{g} vs {want}");
            }
        }
        // odd lengths and rows of a matrix through the generic (closure) reduction
        for len in [1usize, 7, 8, 127, 128, 129, 255, 1000, 4099] {
            let v: Vec<f64> = (0..3 * len).map(|i| (i % 17) as f64 - 8.0).collect();
            let rows = reduce(
                Array::from_vec(v.clone(), &[3, len]).v::<f64>(),
                &[1],
                0.0,
                |s, v| s + v,
                |s, t| s + t,
            );
            for (r, got) in rows.iter().enumerate() {
                let want: f64 = v[r * len..(r + 1) * len].iter().sum();
                assert_eq!(*got, want, "row {r} of length {len}");
            }
        }
    }

    /// Deterministic values in [-1, 1) with a spread of magnitudes.
    /// The xorshift generator of the tests' values, seeded from `seed`.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn every_group_window_has_its_arm() {
        // NOTE: [group-windows]: each window of both tables is taken by an arm of
        // `GroupWindows` (a missing arm would fall back to row by row, the same bits but
        // slower), and gives the sums of the group's rows, paired and alone
        fn check<T: Float>() {
            for (i, &c) in group_windows::<T>().iter().enumerate() {
                let w = c - 3;
                let data: Vec<T> = (0..2 * GROUP * w + c)
                    .map(|k| T::from_f64((k % 7) as f64))
                    .collect();
                let at: Vec<usize> = (0..2 * GROUP).map(|r| r * w).collect();
                for rows in [GROUP, 2 * GROUP] {
                    let mut acc = vec![0.0; w];
                    let groups = GroupWindows {
                        f: SumF64::<T>::new(),
                        acc: &mut acc,
                        data: &data,
                        at: &at[..rows],
                        window: i,
                        far: false,
                        written_out: false,
                    };
                    assert!(groups.run(), "no arm for window {c}");
                    for (j, &s) in acc.iter().enumerate() {
                        let want: f64 = (0..rows).map(|r| data[r * w + j].to_f64()).sum();
                        assert_eq!(s, want, "window {c}, {rows} rows, column {j}");
                    }
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// `n` zeros of both signs, ones and NaNs of distinct payloads: values whose maxima's bits
    /// depend on the order of their steps and combines.
    fn zeros_and_nans(n: usize, seed: u64) -> Vec<f64> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|_| {
                let s = next();
                match s % 8 {
                    0 => f64::from_bits(0x7ff8_0000_0000_0000 | ((s >> 40) & 0xffff)),
                    1..=3 => 0.0,
                    4..=6 => -0.0,
                    _ => 1.0,
                }
            })
            .collect()
    }

    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut next = xorshift(seed);
        (0..n)
            .map(|i| {
                let s = next();
                let u = (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                u * [1.0, 1e3, 1e-3][i % 3]
            })
            .collect()
    }

    /// A strided view of `data` and the reference reduction: a plain loop over every
    /// position in f64, in order.
    struct Case {
        shape: Vec<usize>,
        strides: Vec<isize>,
        offset: usize,
        len: usize,
    }

    impl Case {
        /// Row-major contiguous.
        fn dense(shape: &[usize]) -> Case {
            let strides = contiguous_strides(shape).to_vec();
            Case {
                shape: shape.to_vec(),
                strides,
                offset: 0,
                len: numel(shape),
            }
        }
        /// The dims of a contiguous buffer of shape `perm`-permuted `shape`, seen in `shape`
        /// order (a transposed view).
        fn permuted(shape: &[usize], perm: &[usize]) -> Case {
            let mem: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
            let ms = contiguous_strides(&mem);
            let mut strides = vec![0; shape.len()];
            for (i, &p) in perm.iter().enumerate() {
                strides[p] = ms[i];
            }
            Case {
                shape: shape.to_vec(),
                strides,
                offset: 0,
                len: numel(shape),
            }
        }
        fn reference<A: Copy>(
            &self,
            data: &[f64],
            dims: &[usize],
            init: A,
            f: impl Fn(A, f64) -> A,
        ) -> Vec<A> {
            let kept = kept_shape(&self.shape, dims);
            let ks = contiguous_strides(&kept);
            let mut out = vec![init; numel(&kept)];
            let nd = self.shape.len();
            let mut idx = vec![0usize; nd];
            for _ in 0..numel(&self.shape) {
                let mut i = self.offset as isize;
                let mut o = 0isize;
                for d in 0..nd {
                    i += idx[d] as isize * self.strides[d];
                    if !dims.contains(&d) {
                        o += idx[d] as isize * ks[d];
                    }
                }
                out[o as usize] = f(out[o as usize], data[i as usize]);
                for d in (0..nd).rev() {
                    idx[d] += 1;
                    if idx[d] < self.shape[d] {
                        break;
                    }
                    idx[d] = 0;
                }
            }
            out
        }
    }

    fn view<'a, T>(c: &'a Case, data: &'a [T]) -> View<'a, T> {
        View {
            data,
            shape: &c.shape,
            strides: &c.strides,
            offset: c.offset,
        }
    }

    /// Every subset of dims, in every ISA copy: the same bits in each, within pairwise
    /// summation's bound of the plain loop (f64 and f32), and max/min exactly, NaN winning.
    fn check(c: &Case, seed: u64, special: bool) {
        let mut data = values(c.len, seed);
        if special && c.len > 3 {
            data[c.len / 3] = f64::INFINITY;
            data[c.len / 2] = f64::NEG_INFINITY;
            data[c.len - 2] = f64::NAN;
        }
        let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let d32w: Vec<f64> = d32.iter().map(|&v| v as f64).collect();
        let nd = c.shape.len();
        for mask in 0..1u32 << nd {
            let dims: Vec<usize> = (0..nd).filter(|d| mask >> d & 1 == 1).collect();
            let what = format!("shape {:?} strides {:?} dims {dims:?}", c.shape, c.strides);
            let sum = c.reference(&data, &dims, 0.0, |a, v| a + v);
            let abs = c.reference(&data, &dims, 0.0, |a, v| a + v.abs());
            let sum32 = c.reference(&d32w, &dims, 0.0, |a, v| a + v);
            let nanmax = |a: f64, v: f64| if a.is_nan() || v <= a { a } else { v };
            let nanmin = |a: f64, v: f64| if a.is_nan() || v >= a { a } else { v };
            let max = c.reference(&data, &dims, f64::NEG_INFINITY, nanmax);
            let min = c.reference(&data, &dims, f64::INFINITY, nanmin);
            let mut first: Option<[AlignedVec<f64>; 2]> = None;
            let isas = [Isa::Plain, Isa::Avx2, Isa::Avx512];
            for (isa, st) in isas
                .map(|i| (i, NEVER))
                .into_iter()
                .chain(isas.map(|i| (i, ALWAYS)))
            {
                let got = reduce_isa(view(c, &data), &dims, SumF64::<f64>::new(), isa, st);
                let got32 = reduce_isa(view(c, &d32), &dims, SumF64::<f32>::new(), isa, st);
                assert_eq!(got.len(), sum.len(), "{what}");
                for i in 0..sum.len() {
                    let close_within = |tol: f64| {
                        move |g: f64, w: f64| {
                            g == w
                                || (g.is_nan() && w.is_nan())
                                || (tol.is_finite() && (g - w).abs() <= tol)
                        }
                    };
                    let close = close_within(1e-14 * abs[i]);
                    // f32 groups of 8 summed in f32 first (NOTE: [f32-groups]): at most 7
                    // roundings of 2⁻²⁴ of the magnitudes
                    let close32 = close_within(4.0 * f32::EPSILON as f64 * abs[i]);
                    assert!(close(got[i], sum[i]), "{what}: {} vs {}", got[i], sum[i]);
                    assert!(
                        close32(got32[i], sum32[i]),
                        "{what}: {} vs {}",
                        got32[i],
                        sum32[i]
                    );
                }
                // (which NaN comes out of a sum of NaNs depends on the operand order that
                // each copy's instructions happen to use)
                let same_bits = |a: &[f64], b: &[f64]| {
                    a.iter()
                        .zip(b)
                        .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
                };
                match &first {
                    None => first = Some([got.clone(), got32.clone()]),
                    Some([f, f32]) => {
                        assert!(
                            same_bits(f, &got),
                            "{what} in {isa:?} {st:?}: {f:?} vs {got:?}"
                        );
                        assert!(
                            same_bits(f32, &got32),
                            "{what} f32 in {isa:?}: {f32:?} vs {got32:?}"
                        );
                    }
                }
                let mx = reduce_isa(view(c, &data), &dims, Pick::<f64, true>::new(), isa, st);
                let mn = reduce_isa(view(c, &data), &dims, Pick::<f64, false>::new(), isa, st);
                let mx32 = reduce_isa(view(c, &d32), &dims, Pick::<f32, true>::new(), isa, st);
                for i in 0..max.len() {
                    let same = |g: f64, w: f64| g == w || (g.is_nan() && w.is_nan());
                    assert!(same(mx[i], max[i]), "{what} max: {} vs {}", mx[i], max[i]);
                    assert!(same(mn[i], min[i]), "{what} min: {} vs {}", mn[i], min[i]);
                    assert!(same(mx32[i] as f64, max[i] as f32 as f64), "{what} max f32");
                }
            }
        }
    }

    #[test]
    fn rows_read_side_by_side_give_the_bits_of_rows_read_in_order() {
        // NOTE: [streams]: quarters of one row (groups of 4·q runs, q from 128 down, then the
        // runs one by one and a tail), rows side by side (9 × 2452, under the parallel bound:
        // two sets of four and one more, each row whole runs then a tail of 12 rows of 32, in
        // f32 a whole group of 8 and a partial one, then 20 elements; larger inputs are split
        // over the pool in pieces of rows), and blocks of a long row on three threads; sums
        // and maxima (a NaN in one row), f64 and f32, every ISA copy, against rows read from
        // start to end. NOTE: [held-rows]: a row to a block (ALWAYS), and blocks of 40 000
        // bytes: 13 × 2048 f64 in blocks of two rows and one, f32 in one of three; 9 × 4500
        // f64 in two blocks of one row; 3 × 5 × 2100 (rows of both outer dims) in blocks of 2
        // and 1 f64 rows; 64 × 2500 in pieces of 11 rows over the pool
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool");
        let shapes: [&[usize]; 14] = [
            &[600_000],
            &[300_001],
            &[5, 40_000],
            &[9, 4500],
            &[9, 2452],
            &[13, 2048],
            &[3, 5, 2100],
            &[64, 2500],
            &[6, 513],
            &[8, 33],
            &[70_000, 3],
            // NOTE: [short-streams]: rows shorter than a run four at a time from the quarters
            // (with one, two and three rows left over), in pieces over the pool for the last
            &[4001, 100],
            &[7, 9],
            &[2003, 511],
        ];
        let sets = [
            ALWAYS,
            // quarters of at least 20 000 bytes: 8 runs of f64 (a smallest group of 32), 4 of
            // f32 (of 16)
            Streams {
                min_input: 0,
                min_quarter: 20_000,
                measured: false,
                block: 40_000,
            },
        ];
        for (k, shape) in shapes.iter().enumerate() {
            let n: usize = shape.iter().product();
            let mut data = values(n, k as u64);
            data[n / 2] = f64::NAN;
            let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
            let (a, a32) = (Array::from_vec(data, shape), Array::from_vec(d32, shape));
            let last = shape.len() - 1;
            for dims in [vec![last], (0..shape.len()).collect()] {
                for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
                    let run = |st: Streams| {
                        pool.install(|| {
                            let bits = |v: AlignedVec<f64>| v.iter().map(|x| x.to_bits()).collect();
                            let bits32 =
                                |v: AlignedVec<f32>| v.into_iter().map(|x| x.to_bits() as u64);
                            let (x, x32) = (a.v::<f64>(), a32.v::<f32>());
                            let mut got: Vec<u64> =
                                bits(reduce_isa(x, &dims, SumF64::<f64>::new(), isa, st));
                            got.extend(bits(reduce_isa(x32, &dims, SumF64::<f32>::new(), isa, st)));
                            got.extend(bits(reduce_isa(
                                x,
                                &dims,
                                Pick::<f64, true>::new(),
                                isa,
                                st,
                            )));
                            got.extend(bits32(reduce_isa(
                                x32,
                                &dims,
                                Pick::<f32, true>::new(),
                                isa,
                                st,
                            )));
                            got
                        })
                    };
                    let want = run(NEVER);
                    for st in sets {
                        assert_eq!(
                            run(st),
                            want,
                            "shape {shape:?} dims {dims:?} {isa:?} {st:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_layout_and_dim_set_matches_a_plain_loop() {
        let shapes: [&[usize]; 12] = [
            &[1],
            &[7],
            &[33],
            &[300],
            // rows of several runs in either dtype (runs of 2048 f32 and 512 f64 elements)
            &[3, 4500],
            &[3, 70],
            &[70, 3],
            &[40, 33],
            &[17, 300],
            &[6, 7, 50],
            &[5, 1, 9, 20],
            &[2, 3, 4, 5],
        ];
        for (k, s) in shapes.iter().enumerate() {
            check(&Case::dense(s), k as u64, false);
            check(&Case::dense(s), k as u64 + 100, true);
        }
        // transposed and permuted views
        check(&Case::permuted(&[40, 33], &[1, 0]), 1, false);
        check(&Case::permuted(&[6, 7, 50], &[2, 0, 1]), 2, true);
        check(&Case::permuted(&[6, 7, 50], &[1, 2, 0]), 3, false);
        // a slice of a wider matrix (rows contiguous, not jointly), with an offset
        check(
            &Case {
                shape: vec![10, 40],
                strides: vec![64, 1],
                offset: 5,
                len: 640,
            },
            4,
            true,
        );
        // every other element (no contiguous rows), and a broadcast (stride 0) dim
        check(
            &Case {
                shape: vec![9, 20],
                strides: vec![40, 2],
                offset: 1,
                len: 400,
            },
            5,
            false,
        );
        check(
            &Case {
                shape: vec![4, 30, 9],
                strides: vec![9, 0, 1],
                offset: 0,
                len: 36,
            },
            6,
            true,
        );
        // empty dims: the reduced ones give the initial value, the kept ones nothing
        for s in [&[0usize, 5][..], &[5, 0], &[0]] {
            check(&Case::dense(s), 7, false);
        }
    }

    #[test]
    fn tiny_and_short_rows_give_the_bits_of_rows_folded_one_at_a_time() {
        // NOTE: [tiny-rows] rows of 1 to 8 one after the other (folded across rows) against the
        // order written out and against the same rows one element apart (folded one row at a
        // time); NOTE: [short-rows] rows of 9 to 32 too (eights, then the rest; 33 against the
        // rows apart only: a whole row of LANES and a partial one); NOTE: [sum-rows] rows up
        // to a run and past it, f64 and f32, against the rows apart (whole rows of LANES, a
        // partial one of every kind, whole groups of 8 and fewer); sums of f64
        // and f32, maxima and minima, every ISA copy, on one thread and on a pool of two
        let lens = (1..=33usize).chain([
            40, 56, 63, 64, 65, 100, 127, 128, 255, 300, 511, 512, 513, 1000, 1543, 2047, 2048,
            2049, 5000, 9000,
        ]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a pool");
        let order = |row: &[f64]| -> f64 {
            if row.len() <= 8 {
                return row.iter().fold(0.0, |a, &v| a + v);
            }
            let (eights, rest) = row.as_chunks::<8>();
            let mut acc = [0.0; 8];
            for e in eights {
                for j in 0..8 {
                    acc[j] += e[j];
                }
            }
            let q: [f64; 4] = std::array::from_fn(|j| acc[j] + acc[j + 4]);
            rest.iter()
                .fold((q[0] + q[2]) + (q[1] + q[3]), |a, &v| a + v)
        };
        for len in lens {
            let rows = if len <= 33 { 40_000 } else { 400_000 / len };
            let packed = values(rows * len, len as u64);
            // the same rows with one more element after each
            let apart: Vec<f64> = (0..rows * (len + 1))
                .map(|i| match (i / (len + 1), i % (len + 1)) {
                    (_, j) if j == len => 1e300,
                    (r, j) => packed[r * len + j],
                })
                .collect();
            let (p32, a32): (Vec<f32>, Vec<f32>) = (
                packed.iter().map(|&v| v as f32).collect(),
                apart.iter().map(|&v| v as f32).collect(),
            );
            let (ps, aps) = ([len as isize, 1], [(len + 1) as isize, 1]);
            let shape = [rows, len];
            fn view<'a, T>(data: &'a [T], shape: &'a [usize], strides: &'a [isize]) -> View<'a, T> {
                View {
                    data,
                    shape,
                    strides,
                    offset: 0,
                }
            }
            for isa in [Isa::Plain, Isa::Avx2, Isa::Avx512] {
                let sums = reduce_isa(
                    view(&packed, &shape, &ps),
                    &[1],
                    SumF64::<f64>::new(),
                    isa,
                    NEVER,
                );
                for (r, s) in sums
                    .iter()
                    .enumerate()
                    .take(if len <= LANES { rows } else { 0 })
                {
                    let want = order(&packed[r * len..(r + 1) * len]);
                    assert_eq!(s.to_bits(), want.to_bits(), "len {len} row {r} {isa:?}");
                }
                let all = |x: &[f64], x32: &[f32], st: &[isize]| -> Vec<u64> {
                    let bits = |v: AlignedVec<f64>| v.iter().map(|x| x.to_bits()).collect();
                    let mut out: Vec<u64> = bits(reduce_isa(
                        view(x, &shape, st),
                        &[1],
                        SumF64::<f64>::new(),
                        isa,
                        NEVER,
                    ));
                    out.extend(bits(reduce_isa(
                        view(x32, &shape, st),
                        &[1],
                        SumF64::<f32>::new(),
                        isa,
                        NEVER,
                    )));
                    out.extend(bits(reduce_isa(
                        view(x, &shape, st),
                        &[1],
                        Pick::<f64, true>::new(),
                        isa,
                        NEVER,
                    )));
                    let min32 = reduce_isa(
                        view(x32, &shape, st),
                        &[1],
                        Pick::<f32, false>::new(),
                        isa,
                        NEVER,
                    );
                    out.extend(min32.iter().map(|x| x.to_bits() as u64));
                    out
                };
                let want = all(&packed, &p32, &ps);
                assert_eq!(all(&apart, &a32, &aps), want, "apart: len {len} {isa:?}");
                // rows of four runs or more read in quarters (NOTE: [streams]), fewer read in
                // order by the sums' kernels (NOTE: [sum-rows]): the same bits
                let quarters = |x: &[f64], x32: &[f32]| -> Vec<u64> {
                    let mut out: Vec<u64> = reduce_isa(
                        view(x, &shape, &ps),
                        &[1],
                        SumF64::<f64>::new(),
                        isa,
                        ALWAYS,
                    )
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                    let s32 = reduce_isa(
                        view(x32, &shape, &ps),
                        &[1],
                        SumF64::<f32>::new(),
                        isa,
                        ALWAYS,
                    );
                    out.extend(s32.iter().map(|v| v.to_bits()));
                    out
                };
                assert_eq!(
                    quarters(&packed, &p32)[..],
                    want[..2 * rows],
                    "quarters: len {len} {isa:?}"
                );
                let on_pool = pool.install(|| all(&packed, &p32, &ps));
                assert_eq!(on_pool, want, "pool: len {len} {isa:?}");
            }
        }
    }

    /// Whether this CPU runs the kernels written out for AVX2 (and FMA), and for AVX-512 (F,
    /// DQ, VL).
    #[cfg(target_arch = "x86_64")]
    fn kernel_isas() -> (bool, bool) {
        (
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl"),
        )
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_sums_kernels_give_the_bits_of_the_generic_fold() {
        // NOTE: [sum-rows]: each kernel called directly (whatever the dispatch chooses) against
        // `fold_row` one row at a time, on every kind of row: short ones, whole and partial
        // rows of LANES, one run, runs and a tail, in both types
        let (avx2, avx512) = kernel_isas();
        for len in [
            9, 16, 31, 32, 33, 100, 511, 512, 513, 1543, 2047, 2048, 2049, 5000,
        ] {
            let rows = (20_000 / len).max(3);
            let x = values(rows * len, len as u64);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            // the generic fold, one row at a time
            fn generic<T: Float>(x: &[T], len: usize) -> Vec<u64> {
                let mut stack = Runs::new(None);
                x.chunks_exact(len)
                    .map(|row| fold_row(SumF64::<T>::new(), row, &mut stack).to_bits())
                    .collect()
            }
            let bits = |out: &[f64]| out.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let (f64_bits, f32_bits) = (generic(&x, len), generic(&x32, len));
            let mut got = vec![0.0; rows];
            // one after the other, and four at a time from the quarters (NOTE: [short-streams])
            for q in [false, true] {
                if avx2 {
                    // SAFETY: the CPU has AVX2 and FMA (detected above)
                    unsafe { rows::sum_rows_avx2(&x, len, &mut got, q) };
                    assert_eq!(bits(&got), f64_bits, "avx2 f64, rows of {len}, {q}");
                    unsafe { rows::sum_rows_avx2(&x32, len, &mut got, q) };
                    assert_eq!(bits(&got), f32_bits, "avx2 f32, rows of {len}, {q}");
                }
                if avx512 {
                    // SAFETY: the CPU has AVX-512F, DQ and VL (detected above)
                    unsafe { rows::sum_rows_avx512(&x, len, &mut got, q) };
                    assert_eq!(bits(&got), f64_bits, "avx512 f64, rows of {len}, {q}");
                    unsafe { rows::sum_rows_avx512(&x32, len, &mut got, q) };
                    assert_eq!(bits(&got), f32_bits, "avx512 f32, rows of {len}, {q}");
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_block_sums_kernel_gives_the_bits_of_the_generic_block() {
        // NOTE: [window-blocks-512]: the kernel called directly against `block_in_window`
        // through each window that takes blocks (48 and 64 for the narrow tiles), on tiles
        // that fill it and that do not (the last vector's lanes masked), random values and zeros of both signs (whose sums'
        // signs depend on the steps from the empty sum), rows from an offset, the last row's
        // window ending at the data's end
        let (_, avx512) = kernel_isas();
        if !avx512 {
            eprintln!("the_block_sums_kernel_gives_the_bits_of_the_generic_block: no AVX-512 here");
            return;
        }
        fn check<const C: usize, const V: usize>(x: &[f32], w: usize, off: usize) {
            let at: [usize; BLOCK] = std::array::from_fn(|r| off + r * w);
            let data = &x[..at[BLOCK - 1] + C];
            let f = SumF64::<f32>::new();
            let mut want = vec![f64::NAN; w];
            block_in_window::<_, C>(f, &mut want, data, &at);
            // the tile's sums in the front of a longer buffer, whose rest the masked stores
            // must leave alone
            let mut buf = vec![f64::NAN; C + 8];
            let (got, rest) = buf.split_at_mut(w);
            // SAFETY: the CPU has AVX-512F (detected above)
            unsafe { blocks::sum_block_f32::<V>(got, data, off, w as isize) };
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(&want), "{w} columns in {C}, from {off}");
            assert!(
                rest.iter().all(|x| x.is_nan()),
                "{w} columns in {C}: past the tile"
            );
            // the rows the other way (a flipped view), from the last
            let back: [usize; BLOCK] = std::array::from_fn(|r| at[BLOCK - 1 - r]);
            block_in_window::<_, C>(f, &mut want, data, &back);
            let (got, rest) = buf.split_at_mut(w);
            // SAFETY: as above
            unsafe { blocks::sum_block_f32::<V>(got, data, back[0], -(w as isize)) };
            assert!(
                rest.iter().all(|x| x.is_nan()),
                "{w} columns in {C}: past the tile"
            );
            assert_eq!(
                bits(got),
                bits(&want),
                "{w} columns in {C}, back from {off}"
            );
        }
        let n = 3 + BLOCK * 128 + 128;
        let random: Vec<f32> = values(n, 29).iter().map(|&v| v as f32).collect();
        let zeros: Vec<f32> = (0..n)
            .map(|k| if (k * 7919) % 5 < 3 { -0.0 } else { 0.0 })
            .collect();
        for x in [&random, &zeros] {
            for off in [0, 3] {
                // the narrow tiles' windows (`narrow_block_written_out`)
                for w in [33, 40, 47, 48] {
                    check::<48, 3>(x, w, off);
                }
                for w in [49, 56, 63, 64] {
                    check::<64, 4>(x, w, off);
                }
                for w in [65, 72, 79, 80] {
                    check::<80, 5>(x, w, off);
                }
                for w in [81, 90, 96] {
                    check::<96, 6>(x, w, off);
                }
                for w in [97, 100, 112] {
                    check::<112, 7>(x, w, off);
                }
                for w in [113, 120, 127, 128] {
                    check::<128, 8>(x, w, off);
                }
            }
        }
        assert_eq!(
            GROUP_WINDOWS_4[..4],
            [80, 96, 112, 128],
            "the windows of blocks"
        );
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_maxima_kernels_give_the_bits_of_the_generic_fold() {
        // NOTE: [pick-rows]: each kernel called directly against `fold_row` one row at a time,
        // on every kind of row, with the values whose bits depend on the order: zeros of both
        // signs (the first of a tie is kept), NaNs of distinct payloads (the last one wins) in
        // a third of the rows, infinities; maxima and minima, both types
        let (avx2, avx512) = kernel_isas();
        fn special(n: usize, len: usize, seed: u64) -> (Vec<f64>, Vec<f32>) {
            let mut next = xorshift(seed);
            (0..n)
                .map(|i| {
                    let s = next();
                    let (kind, payload) = (s % 100, (s >> 8) & 0xffff);
                    let sign = if (s >> 32) & 1 == 1 { -1.0 } else { 1.0 };
                    match kind {
                        0..=1 if (i / len).is_multiple_of(3) => (
                            f64::from_bits(0x7ff8_0000_0000_0000 | payload),
                            f32::from_bits(0x7fc0_0000 | payload as u32),
                        ),
                        0..=44 => (sign * 0.0, sign as f32 * 0.0),
                        45..=49 => (sign * f64::INFINITY, sign as f32 * f32::INFINITY),
                        _ => {
                            let v = ((s >> 40) % 5) as f64 - 2.0;
                            (v, v as f32)
                        }
                    }
                })
                .unzip()
        }
        fn generic<T: Float, const MAX: bool>(x: &[T], len: usize) -> Vec<f64> {
            let mut stack = Runs::new(None);
            x.chunks_exact(len)
                .map(|row| fold_row(Pick::<T, MAX>::new(), row, &mut stack).to_f64())
                .collect()
        }
        for len in [
            9, 16, 17, 31, 32, 33, 100, 511, 512, 513, 1543, 2047, 2048, 2049, 5000,
        ] {
            let rows = (20_000 / len).max(6);
            let (x, x32) = special(rows * len, len, len as u64);
            let want = [
                generic::<f64, true>(&x, len),
                generic::<f64, false>(&x, len),
                generic::<f32, true>(&x32, len),
                generic::<f32, false>(&x32, len),
            ];
            let (mut got, mut got32) = (vec![0.0; rows], vec![0.0f32; rows]);
            // the bits depend on the order in these rows: read backwards, some differ
            let backwards: Vec<u64> = x
                .chunks_exact(len)
                .map(|row| {
                    let f = Pick::<f64, true>::new();
                    row.iter()
                        .rev()
                        .fold(f.init(), |a, &v| f.step(a, v))
                        .to_bits()
                })
                .collect();
            assert_ne!(
                backwards,
                want[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "rows of {len}"
            );
            let check = |got: &[f64], k: usize, what: &str| {
                let want = want[k].iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let got = got.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(got, want, "{what}, rows of {len}");
            };
            // one after the other, and four at a time from the quarters (NOTE: [short-streams])
            for q in [false, true] {
                if avx2 {
                    // SAFETY: the CPU has AVX2 and FMA (detected above)
                    unsafe { rows::pick_rows_avx2::<f64, true>(&x, len, &mut got, q) };
                    check(&got, 0, "avx2 max f64");
                    unsafe { rows::pick_rows_avx2::<f64, false>(&x, len, &mut got, q) };
                    check(&got, 1, "avx2 min f64");
                    unsafe { rows::pick_rows_avx2::<f32, true>(&x32, len, &mut got32, q) };
                    let wide: Vec<f64> = got32.iter().map(|&v| v as f64).collect();
                    check(&wide, 2, "avx2 max f32");
                    unsafe { rows::pick_rows_avx2::<f32, false>(&x32, len, &mut got32, q) };
                    let wide: Vec<f64> = got32.iter().map(|&v| v as f64).collect();
                    check(&wide, 3, "avx2 min f32");
                }
                if avx512 {
                    // SAFETY: the CPU has AVX-512F, DQ and VL (detected above)
                    unsafe { rows::pick_rows_avx512::<true>(&x, len, &mut got, q) };
                    check(&got, 0, "avx512 max f64");
                    unsafe { rows::pick_rows_avx512::<false>(&x, len, &mut got, q) };
                    check(&got, 1, "avx512 min f64");
                }
            }
        }
    }

    #[test]
    fn tiles_of_contiguous_rows_are_as_wide_as_the_stack_allows() {
        // NOTE: [wide-tiles]: 1000 rows of f64 (8 levels, 64 bytes a column) take 4096
        // columns, a multiple of 64 within the stack's bytes
        assert_eq!(stack_levels(1000), 8);
        assert_eq!(stack_levels(8), 2);
        assert_eq!(tile_width(10_000, 1, 64, 1), 4096);
        const { assert!(4096 * 64 <= STACK_BYTES) };
        // never past the row, never under TILE where the row is longer
        assert_eq!(tile_width(3000, 1, 64, 1), 3000);
        assert_eq!(tile_width(10_000, 1, 100_000, 1), TILE);
        assert_eq!(tile_width(10, 1, 100_000, 1), 10);
        // split over threads: two tiles each (5000 columns, 2 threads: 4 tiles of 1216 or
        // fewer columns), unless the output rows give enough tiles already
        let w = tile_width(5000, 1, 56, 2);
        assert_eq!(w % 64, 0);
        assert!(5000usize.div_ceil(w) >= 4 && w >= TILE, "{w}");
        assert_eq!(tile_width(5000, 4, 56, 2), 4672);
    }

    #[test]
    fn results_do_not_depend_on_the_number_of_threads() {
        let pool = |n| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .unwrap()
        };
        // one long row (split in blocks on several threads), rows, columns, a middle dim
        // blocks of f32 rows are the longer ones
        let block = block_len::<f32>();
        let cases = [
            (Case::dense(&[3 * block + 1000]), vec![0]),
            (Case::dense(&[2, 2 * block + 5]), vec![1]),
            // rows shorter than two blocks, fewer than the threads: in shorter blocks (NOTE:
            // [short-blocks])
            (Case::dense(&[block / 2 + 1000]), vec![0]),
            (Case::dense(&[150_001]), vec![0]),
            (Case::dense(&[2, 200_000]), vec![1]),
            (Case::dense(&[300, 700]), vec![1]),
            // past FEW_PIECES_BYTES in both types: two pieces a thread (NOTE: [row-pieces])
            (Case::dense(&[700, 1000]), vec![1]),
            (Case::dense(&[300, 700]), vec![0]),
            (Case::dense(&[40, 2 * TILE + 100]), vec![0]),
            // two wide tiles on one thread, five on two or three (NOTE: [wide-tiles])
            (Case::dense(&[300, 5000]), vec![0]),
            (Case::dense(&[30, 40, 50]), vec![1]),
            (Case::dense(&[30, 40, 50]), vec![0, 2]),
            // fewer tiles than threads, their rows split: pieces and a rest, across the wraps
            // of an inner reduced dim, tiles of 1000 columns, two tiles on three threads
            // (NOTE: [split-rows])
            (Case::dense(&[5003, 24]), vec![0]),
            (Case::dense(&[7, 1100, 17]), vec![0, 1]),
            (Case::dense(&[800, 1000]), vec![0]),
            (Case::dense(&[2, 20_000, 5]), vec![1]),
        ];
        for (c, dims) in &cases {
            let data = values(c.len, 9);
            let run = |n: usize| {
                pool(n).install(|| reduce_with(view(c, &data), dims, SumF64::<f64>::new()))
            };
            let one = run(1);
            let d32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
            let run32 = |n: usize| {
                pool(n).install(|| reduce_with(view(c, &d32), dims, SumF64::<f32>::new()))
            };
            let one32 = run32(1);
            for n in [2, 3] {
                let got = run(n);
                assert!(
                    one.iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{:?} over {dims:?} on {n} threads",
                    c.shape
                );
                let got32 = run32(n);
                assert!(
                    one32
                        .iter()
                        .zip(&got32)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{:?} over {dims:?} on {n} threads (f32)",
                    c.shape
                );
            }
            let abs = c.reference(&data, dims, 0.0, |a, v| a + v.abs());
            let want = c.reference(&data, dims, 0.0, |a, v| a + v);
            for i in 0..want.len() {
                assert!((one[i] - want[i]).abs() <= 1e-14 * abs[i]);
            }
        }
    }
}
