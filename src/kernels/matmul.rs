//! Matrix products through the `gemm` crate (any strides, so transposed and broadcast views are
//! never copied), with a plain loop for tiny matrices where a GEMM call costs more than the work.
//!
//! Sparse operands: Jacobians push a standard basis through the function, so a linear layer
//! meets operands with one nonzero per row or column (`Aᵀ @ [e_i, ...]`). Before a large
//! product, a scan that stops as soon as it has seen more than 2% nonzeros looks at the operand
//! opposite the long dimension (at most 1/16 of the product's cost, usually far less); if it is
//! that sparse, the product runs over its nonzeros only. This is exact: it is used only when the
//! dense operand is all finite (checked once per buffer), so `0 · ∞` cannot differ.

use super::strided::{Cost, PAR_WORK_PS, Plan, Threshold, split_by};
use crate::array::{
    AlignedVec, Array, Float, alloc, broadcast_shapes, matmul_shape, numel, reshape_strides,
};
use gemm::Parallelism;

/// Below this many multiply-adds a matrix product runs as a plain loop.
const SMALL: usize = 4096;
/// At most this many multiply-adds the AVX-512 and AVX2 backends run a product through the
/// small-product kernels (NOTE: [small-gemm]).
const SMALL_GEMM: usize = 1 << 21;
/// From this many multiply-adds a product called on one of the pool's threads splits over
/// them; one called from outside the pool splits by its estimated time (NOTE: [par-work],
/// [`GEMM_SPLIT`], [`STREAM_SPLIT`]).
pub(crate) const PARALLEL: usize = 1 << 18;

/// Where the GEMM routes (the small-product kernels, the packing GEMMs, batches of products)
/// split over the threads: from [`PARALLEL`] multiply-adds on the pool's threads, from 20 µs
/// of estimated one-thread time ([`gemm_cost`]) outside it (NOTE: [par-work]).
///
/// A product pays more for its split than an elementwise op's 12 µs: each thread packs or
/// streams its own copy of the shared operand, and its rows come in whole tiles. Medians of
/// single calls from the main thread on AMD Zen 4, one thread against two: f64 80³ 19.6
/// against 16–17 µs, f32 96³ 17.3 against 14.5–22, f64 192 × 128 × 10 15–17 against 15.4,
/// f32 512 × 128 × 10 19.6 against 18.0; with the former threshold of 2¹⁸ multiply-adds f32
/// 256 × 10 × 128 took 8.2 µs on one thread and 15.7 on two.
const GEMM_SPLIT: Threshold = Threshold {
    pool: PARALLEL,
    work_ps: 20_000_000,
};

/// Where the routes bound by memory traffic (matrix-vector products, scaled rows for inner
/// dimensions of at most 4) split: from [`PARALLEL`] multiply-adds on the pool's threads, from
/// the elementwise ops' estimated 12 µs outside it, at the traffic of one element of the
/// operand a multiply-add (NOTE: [par-work]). f64 512 × 512 times a vector: 29.9 µs on one
/// thread, 21.2 on two; outer products 256 × 4 × 256: 18–24 against 15.1 µs f64, f32 (half
/// the traffic, not split) 11.9 against 12.8.
const STREAM_SPLIT: Threshold = Threshold {
    pool: PARALLEL,
    work_ps: PAR_WORK_PS,
};

/// One thread's time per multiply-add of the GEMM routes for products whose output's
/// unit-stride side (the side the kernels run along in vectors) is `side` long and whose inner
/// dimension is `k`: an estimate for [`GEMM_SPLIT`]. On AMD Zen 4 with AVX-512 full vectors
/// took 36 ps a multiply-add in f64 and 18 in f32 (128³: 75–80 and 38–41 µs); a side that is
/// not a whole number of vectors pays for the lanes left empty (n = 10: 16 f64 or f32 lanes
/// for 10); each output element costs a write of two vectors' traffic, over `k` multiply-adds.
/// The estimates of 1000 × (8 × 8 × 8), 768 × 128 × 10, 768 × 10 × 128, 128³ and 80³ came
/// within 15% of their one-thread times, in both types.
fn gemm_cost<T>(side: usize, k: usize) -> Cost {
    let (full, lanes) = if size_of::<T>() == 8 {
        (36, 8)
    } else {
        (18, 16)
    };
    let side = side.max(1);
    let per_mac = full * side.next_multiple_of(lanes) / side;
    let per_output = 2 * Cost::traffic(size_of::<T>()).0 as usize / k.max(1);
    Cost(u32::try_from(per_mac + per_output).unwrap_or(u32::MAX))
}
/// The AVX micro-kernels run products whose output has at least this many rows and columns
/// and whose inner dimension is at least `AVX_MIN_DEPTH`; smaller ones go to the `gemm` crate.
const AVX_MIN_SIDE: usize = 32;
const AVX_MIN_DEPTH: usize = 16;
/// The depth and the side across the tiles from which `private-gemm-x86`'s AVX2 calls are
/// cut into pieces of whole tiles (NOTE: [gemm-pieces]).
const PIECES_MIN_DEPTH: usize = 256;
const PIECES_MIN_SIDE: usize = 128;
/// The AVX2 small-product kernels run single products with fewer output columns than this
/// (NOTE: [small-gemm]); wider ones measured 10–30% slower than `private-gemm-x86`'s packed
/// kernels (f64 256 × 64 × 128, 64 × 256 × 128 and 128³ on AMD Zen 3, one thread).
const AVX2_SMALL_MAX_N: usize = 16;

/// The nonzeros `(row, col, value)` of a strided matrix, if there are at most `limit`.
///
/// # Safety
/// `p` must address a `rows × cols` matrix with strides (`rs`, `cs`).
unsafe fn nonzeros<T: Float>(
    p: *const T,
    rows: usize,
    cols: usize,
    rs: isize,
    cs: isize,
    limit: usize,
) -> Option<Vec<(usize, usize, T)>> {
    // contiguous lines: count first (a vectorized pass), collect only if sparse enough
    let (lines, len, line_stride, transposed) = if rs == 1 {
        (cols, rows, cs, true)
    } else if cs == 1 {
        (rows, cols, rs, false)
    } else {
        (0, 0, 0, false)
    };
    if lines > 0 {
        let line = |q: usize| unsafe {
            std::slice::from_raw_parts(p.offset(q as isize * line_stride), len)
        };
        let mut count = 0;
        for q in 0..lines {
            count += line(q).iter().filter(|v| **v != T::ZERO).count();
            if count > limit {
                return None;
            }
        }
        let mut nz = Vec::with_capacity(count);
        for q in 0..lines {
            for (r, &v) in line(q).iter().enumerate() {
                if v != T::ZERO {
                    nz.push(if transposed { (r, q, v) } else { (q, r, v) });
                }
            }
        }
        return Some(nz);
    }
    let mut nz = Vec::new();
    let mut visit = |r: usize, c: usize| {
        let v = unsafe { *p.offset(r as isize * rs + c as isize * cs) };
        if v != T::ZERO {
            nz.push((r, c, v));
        }
        nz.len() <= limit
    };
    if cs.abs() <= rs.abs() {
        for r in 0..rows {
            for c in 0..cols {
                if !visit(r, c) {
                    return None;
                }
            }
        }
    } else {
        for c in 0..cols {
            for r in 0..rows {
                if !visit(r, c) {
                    return None;
                }
            }
        }
    }
    Some(nz)
}

/// Whether the left (`a`) or right (`b`) operand of a product is all finite.
type Finite<'a> = &'a (dyn Fn() -> bool + Sync);

/// Which dense GEMM runs the products that are neither sparse, matrix-vector nor thin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Our own AVX-512 GEMM ([`super::gemm`]) for every dense product. [`Backend::best`] is
    /// `Avx512`, which runs only the products of `suits_own_kernels` through it: elsewhere it
    /// measured 0–10% slower than `private-gemm-x86` (see the NOTE: [gemm]).
    Own,
    /// AVX-512 micro-kernels (`private-gemm-x86`, assembly generated at build time).
    Avx512,
    /// The same crate's AVX2 + FMA micro-kernels.
    Avx2,
    /// The `gemm` crate (runs on any CPU; its own AVX2 kernels where the CPU has them).
    Portable,
}

impl Backend {
    /// The fastest backend this CPU runs.
    pub(crate) fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if super::gemm::available() {
                return Backend::Avx512;
            }
            if super::simd() {
                return Backend::Avx2;
            }
        }
        Backend::Portable
    }

    /// The vector ISA of the loops that run beside this backend's GEMM (matrix-vector and
    /// scaled-row products): forcing a backend in the tests forces that copy too.
    fn isa(self) -> super::math::Isa {
        match self {
            Backend::Own | Backend::Avx512 => super::math::Isa::Avx512,
            Backend::Avx2 => super::math::Isa::Avx2,
            Backend::Portable => super::math::Isa::Plain,
        }
    }

    /// `self` if this CPU runs it, else the best backend below it.
    fn or_below(self) -> Self {
        match (self, Backend::best()) {
            (_, Backend::Portable) | (Backend::Portable, _) => Backend::Portable,
            (Backend::Own, Backend::Avx512) if super::gemm::available() => Backend::Own,
            (Backend::Own | Backend::Avx512, best) => best,
            (Backend::Avx2, _) => Backend::Avx2,
        }
    }
}

/// A strided matrix operand.
#[derive(Clone, Copy)]
struct Operand<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

impl<T: Copy> Operand<T> {
    /// Element (i, j).
    ///
    /// # Safety
    /// (i, j) must lie inside the matrix the operand addresses.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> T {
        // SAFETY: the caller keeps (i, j) inside the matrix
        unsafe { *self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }

    /// `len` elements from (i, j) along a unit stride, as a slice.
    ///
    /// # Safety
    /// The elements must lie inside the matrix and be contiguous.
    #[inline(always)]
    unsafe fn line(&self, i: usize, j: usize, len: usize) -> &[T] {
        // SAFETY: the caller guarantees the range is inside the matrix and contiguous
        unsafe {
            std::slice::from_raw_parts(
                self.ptr.offset(i as isize * self.rs + j as isize * self.cs),
                len,
            )
        }
    }
}

/// One matrix product `out[m, n] = a[m, k] @ b[k, n]` over raw strided operands, and the
/// routes it can take.
struct Product<'f, T> {
    m: usize,
    n: usize,
    k: usize,
    out: *mut T,
    o_rs: isize,
    o_cs: isize,
    a: Operand<T>,
    b: Operand<T>,
    /// Whether the product may split over the threads (false where the caller splits a batch
    /// of products over them); each route decides whether it does ([`Product::splits`]).
    par: bool,
    fin: (Finite<'f>, Finite<'f>),
    backend: Backend,
}

// SAFETY: a Product is a description of disjoint-output work on buffers that outlive it; it is
// shared across threads only by the parallel loops below, which write disjoint rows.
unsafe impl<T: Sync> Sync for Product<'_, T> {}

impl<T: Float> Product<'_, T> {
    /// Compute the product by the cheapest route: over the nonzeros of a sparse operand, as dot
    /// products for a matrix-vector product, by the small-product kernels (NOTE:
    /// [small-gemm]), as scaled rows for a tiny or thin product, or a dense GEMM.
    ///
    /// # Safety
    /// The pointers must address matrices of the given sizes and strides; `out` must not
    /// overlap the operands.
    unsafe fn run(&self) {
        // SAFETY (all calls below): the caller's guarantee is each route's precondition
        unsafe {
            if self.worth_sparsity_scan() && (self.sparse_right() || self.sparse_left()) {
                return;
            }
            if self.is_matrix_vector() {
                self.matrix_vector()
            } else if let Some(isa) = self.small_isa(false)
                && self.small(isa)
            {
                // done by the small-product kernels
            } else if self.is_tiny_or_thin() {
                self.scaled_rows()
            } else {
                self.dense()
            }
        }
    }

    /// Large enough, and long enough in one dimension, that scanning an operand for sparsity
    /// costs little next to the product.
    fn worth_sparsity_scan(&self) -> bool {
        self.m * self.n * self.k > SMALL && (self.m >= 16 || self.n >= 16)
    }

    fn is_matrix_vector(&self) -> bool {
        self.n == 1 && self.a.cs == 1 && self.b.rs == 1 && self.m * self.k > SMALL
    }

    /// Too small for a GEMM call to pay off, or an inner dimension of at most 4 (outer
    /// products), where a GEMM would pack its operands for almost no arithmetic.
    fn is_tiny_or_thin(&self) -> bool {
        self.m * self.n * self.k <= SMALL || self.k <= 4
    }

    /// Whether this product, on its route's `threshold` at `cost` a multiply-add, splits over
    /// the threads (NOTE: [par-work]), if the caller lets it.
    fn splits(&self, cost: Cost, threshold: Threshold) -> bool {
        self.par && split_by(self.m * self.n * self.k, cost, threshold)
    }

    /// [`splits`](Self::splits) for the GEMM routes.
    fn splits_gemm(&self) -> bool {
        let side = if self.o_cs == 1 { self.n } else { self.m };
        self.splits(gemm_cost::<T>(side, self.k), GEMM_SPLIT)
    }

    /// [`splits`](Self::splits) for the routes bound by memory traffic.
    fn splits_stream(&self) -> bool {
        self.splits(Cost::traffic(size_of::<T>()), STREAM_SPLIT)
    }

    /// The address of `out[i, j]`.
    #[inline(always)]
    fn out_at(&self, i: usize, j: usize) -> *mut T {
        self.out
            .wrapping_offset(i as isize * self.o_rs + j as isize * self.o_cs)
    }

    /// `len` elements of `out` from (i, j) along a unit stride.
    ///
    /// # Safety
    /// The elements must lie inside `out` and be contiguous, with no other live reference.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn out_run(&self, i: usize, j: usize, len: usize) -> &mut [T] {
        // SAFETY: the caller guarantees the range is inside `out`, contiguous and unaliased
        unsafe { std::slice::from_raw_parts_mut(self.out_at(i, j), len) }
    }

    /// Zero `out`, walking it in memory order.
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    unsafe fn zero_out(&self) {
        let z = |i: usize, j: usize| unsafe { *self.out_at(i, j) = T::ZERO };
        if self.o_rs.abs() <= self.o_cs.abs() {
            (0..self.n).for_each(|j| (0..self.m).for_each(|i| z(i, j)));
        } else {
            (0..self.m).for_each(|i| (0..self.n).for_each(|j| z(i, j)));
        }
    }

    /// If `b` has at most 2% nonzeros (and `a` is all finite, so that skipping `0 · a` changes
    /// nothing), add `v · column l of a` into column j of `out` for each nonzero `b[l, j] = v`.
    /// Returns whether it did.
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    unsafe fn sparse_right(&self) -> bool {
        if self.m < 16 {
            return false;
        }
        let (k, n, b) = (self.k, self.n, self.b);
        // SAFETY: b addresses a k × n matrix
        let Some(nz) = (unsafe { nonzeros(b.ptr, k, n, b.rs, b.cs, k * n / 50) }) else {
            return false;
        };
        if !(self.fin.0)() {
            return false;
        }
        // SAFETY: every (i, j) below is inside the m × n output and the m × k operand
        unsafe {
            self.zero_out();
            for (l, j, v) in nz {
                if self.o_rs == 1 && self.a.rs == 1 {
                    // both columns contiguous: a loop that vectorizes
                    let o = self.out_run(0, j, self.m);
                    let c = self.a.line(0, l, self.m);
                    o.iter_mut().zip(c).for_each(|(o, &c)| *o += c * v);
                } else {
                    for i in 0..self.m {
                        *self.out_at(i, j) += self.a.at(i, l) * v;
                    }
                }
            }
        }
        true
    }

    /// If `a` has at most 2% nonzeros (and `b` is all finite), add `v · row l of b` into row i
    /// of `out` for each nonzero `a[i, l] = v`. Returns whether it did.
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    unsafe fn sparse_left(&self) -> bool {
        if self.n < 16 {
            return false;
        }
        let (m, k, a) = (self.m, self.k, self.a);
        // SAFETY: a addresses an m × k matrix
        let Some(nz) = (unsafe { nonzeros(a.ptr, m, k, a.rs, a.cs, m * k / 50) }) else {
            return false;
        };
        if !(self.fin.1)() {
            return false;
        }
        // SAFETY: every (i, j) below is inside the m × n output and the k × n operand
        unsafe {
            self.zero_out();
            for (i, l, v) in nz {
                if self.o_cs == 1 && self.b.cs == 1 {
                    let o = self.out_run(i, 0, self.n);
                    let r = self.b.line(l, 0, self.n);
                    o.iter_mut().zip(r).for_each(|(o, &r)| *o += v * r);
                } else {
                    for j in 0..self.n {
                        *self.out_at(i, j) += v * self.b.at(l, j);
                    }
                }
            }
        }
        true
    }

    /// `out[i] = a[i, :] · b` for a single column `b`: one dot product per row, reading `a`
    /// once (no packing), rows split over the cores when large.
    ///
    /// # Safety
    /// As for [`run`](Self::run), with `a`'s rows and `b` contiguous.
    unsafe fn matrix_vector(&self) {
        let rows =
            |r: std::ops::Range<usize>| super::with_isa(self.backend.isa(), DotRows { p: self, r });
        over_rows(self.m, self.m >= 64 && self.splits_stream(), 16, rows);
    }

    /// Each row of `out` as the sum of k rows of `b` scaled by the row of `a` (vectorizes when
    /// `out` and `b` have contiguous rows); the first term writes, so `out` needs no zeroing.
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    unsafe fn scaled_rows(&self) {
        let (m, n, k) = (self.m, self.n, self.k);
        if self.o_cs == 1 && self.b.cs == 1 {
            let rows = |r: std::ops::Range<usize>| {
                super::with_isa(self.backend.isa(), ScaledRows { p: self, r })
            };
            over_rows(m, m >= 8 && self.splits_stream(), 4, rows);
            return;
        }
        // SAFETY: every index below is inside its matrix; the output rows are written in turn
        unsafe {
            for i in 0..m {
                for l in 0..k {
                    let av = self.a.at(i, l);
                    for j in 0..n {
                        let p = self.out_at(i, j);
                        let t = av * self.b.at(l, j);
                        *p = if l == 0 { t } else { *p + t };
                    }
                }
            }
        }
    }

    /// A dense GEMM through the backend. The AVX micro-kernels need rows and columns of some
    /// length to fill their 24–96 × 4–8 register tiles; skinnier products go to the `gemm`
    /// crate, whose kernels have smaller tiles.
    ///
    /// # Safety
    /// As for [`run`](Self::run).
    unsafe fn dense(&self) {
        let threads = if self.splits_gemm() {
            rayon::current_num_threads()
        } else {
            1
        };
        if self.backend.or_below() == Backend::Own
            || (self.backend.or_below() == Backend::Avx512 && self.suits_own_kernels())
        {
            let mat = |ptr: *const T, rs: isize, cs: isize| super::gemm::Mat { ptr, rs, cs };
            // SAFETY: `or_below` checked that this CPU has AVX-512F; the caller's guarantee
            // (valid operands and output, not overlapping); the output's elements are distinct
            // and k > 0 (`matmul_on` returns early for k = 0)
            unsafe {
                super::gemm::gemm(
                    self.m,
                    self.n,
                    self.k,
                    mat(self.a.ptr, self.a.rs, self.a.cs),
                    mat(self.b.ptr, self.b.rs, self.b.cs),
                    mat(self.out, self.o_rs, self.o_cs),
                    threads,
                )
            };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            let instr = match self.backend.or_below() {
                Backend::Own | Backend::Avx512 => Some(private_gemm_x86::InstrSet::Avx512),
                Backend::Avx2 => Some(private_gemm_x86::InstrSet::Avx256),
                Backend::Portable => None,
            };
            let dtype = if size_of::<T>() == 8 {
                private_gemm_x86::DType::F64
            } else {
                private_gemm_x86::DType::F32
            };
            if let Some(instr) = instr.filter(|_| self.suits_avx_kernels()) {
                // A column-major left operand is read in place by these kernels, column by
                // column at its leading dimension's stride: measured 2.5× slower than a
                // row-major one at 512³ (cache-set conflicts of power-of-two strides). Copying
                // it row-major costs m·k moves against m·n·k multiply-adds: in blocks of a
                // cache line each way (NOTE: [line-blocks]), in bands of rows on the product's
                // threads (NOTE: [parallel-transpose]), into the calling thread's recycled
                // buffer. (Element by element down 8 rows, into a fresh zeroed buffer, the
                // copy and its page faults took 10–13% of the f32 product at 512³ in a profile
                // on AMD Zen 3, 5–6% in blocks of 8 × 8.)
                let transposed = self.a_column_major();
                // NOTE: [gemm-pieces] The crate's kernels tile the output's contiguous
                // dimension (its columns when its rows are the longer stride, else its rows) in
                // `mr` elements, 24 f32 or 12 f64 with AVX2, inside chunks sized from the L2
                // cache and rounded to 16, not to `mr`: 256 f32 and 128 f64 elements with the
                // 512 KiB L2 of an AMD Zen 3 core, so every chunk ended in 16 or 8 elements run
                // by narrower kernels of fewer accumulators. In a profile of the 1024³ products
                // on one thread those took 7.3% (f32, `m8` kernel) and 8.1% (f64, `m4`) of the
                // time for 1.6% and 0.8% of the work, and nothing after this change. So a block
                // is computed in calls of 5 tiles along that dimension (120 f32, 60 f64: below
                // the chunk of any L2 of 256 KiB or more), the last call with the rest of the
                // block (up to `mr` − 1 more). Each element is still one chain of FMAs over the
                // depth in blocks of 512, so the values do not change (checked bit for bit
                // against whole calls at 1024³, 1000 × 700 × 1000, 300 × 40 × 777 and
                // 64 × 600 × 5000, both types, one and two threads). The crate chunks a call
                // only where a side reaches L2 bytes / (element bytes · 64 · ⌈min(k, 512) /
                // 64⌉) (128 f64 at k = 1024 here, 1024 at k = 64), so calls of short depth or
                // with few elements on the other side, where the extra calls cost more than
                // they save (f64 64 × 64 × 10⁴ in calls of 60 columns: 5–30% slower), stay
                // whole ([`PIECES_MIN_DEPTH`], [`PIECES_MIN_SIDE`]). Only for AVX2: the
                // AVX-512 tiles (96 f32; 24 or 48 f64, by the rows) are not measured on a
                // machine that has them.
                let along_cols = self.o_rs.unsigned_abs() > self.o_cs.unsigned_abs();
                let mr = if size_of::<T>() == 8 { 12 } else { 24 };
                let (piece, unit) = if instr == private_gemm_x86::InstrSet::Avx256 {
                    (5 * mr, mr)
                } else {
                    (usize::MAX, 16)
                };
                // the product with `a` as the left operand
                let product = |a: Operand<T>| {
                    let (m, n) = (self.m, self.n);
                    let (out, a_ptr, b_ptr) = (
                        SendPtr(self.out),
                        SendPtr(a.ptr as *mut T),
                        SendPtr(self.b.ptr as *mut T),
                    );
                    // the block of rows i0..i0 + rows and columns j0..j0 + cols of the product, on
                    // the calling thread, in one call
                    let call = |i0: usize, j0: usize, rows: usize, cols: usize| {
                        let _ = (&out, &a_ptr, &b_ptr);
                        let one = T::ONE;
                        let dst = out
                            .0
                            .wrapping_offset(i0 as isize * self.o_rs + j0 as isize * self.o_cs);
                        let lhs = a_ptr.0.wrapping_offset(i0 as isize * a.rs);
                        let rhs = b_ptr.0.wrapping_offset(j0 as isize * self.b.cs);
                        // SAFETY: the block lies inside the operands and the output, which are valid
                        // for these sizes and strides (the caller's guarantee); blocks are disjoint,
                        // T is the f32 or f64 named by `dtype`, no index lists or diagonal are
                        // passed, and `alpha` points at a T that outlives the call
                        unsafe {
                            private_gemm_x86::gemm(
                                dtype,
                                private_gemm_x86::IType::U64,
                                instr,
                                rows,
                                cols,
                                self.k,
                                dst as *mut (),
                                self.o_rs,
                                self.o_cs,
                                std::ptr::null(),
                                std::ptr::null(),
                                private_gemm_x86::DstKind::Full,
                                private_gemm_x86::Accum::Replace,
                                lhs as *const (),
                                a.rs,
                                a.cs,
                                false,
                                std::ptr::null(),
                                0,
                                rhs as *const (),
                                self.b.rs,
                                self.b.cs,
                                false,
                                &raw const one as *const (),
                                1,
                            )
                        }
                    };
                    // the same block in calls of at most `piece` along the output's contiguous
                    // dimension (NOTE: [gemm-pieces])
                    let block = |i0: usize, j0: usize, rows: usize, cols: usize| {
                        let (len, other) = if along_cols {
                            (cols, rows)
                        } else {
                            (rows, cols)
                        };
                        let piece = if self.k >= PIECES_MIN_DEPTH && other >= PIECES_MIN_SIDE {
                            piece
                        } else {
                            usize::MAX
                        };
                        let mut s = 0;
                        while s < len {
                            // the last call takes the rest with its tiles
                            let w = if len - s < piece.saturating_add(mr) {
                                len - s
                            } else {
                                piece
                            };
                            if along_cols {
                                call(i0, j0 + s, rows, w)
                            } else {
                                call(i0 + s, j0, w, cols)
                            }
                            s += w;
                        }
                    };
                    // blocks cut at whole tiles where they split the tiles' side
                    let unit_of = |cols: bool| if cols == along_cols { unit } else { 16 };
                    let (by_cols, width) =
                        output_blocks(m, n, self.k, threads, [unit_of(true), unit_of(false)]);
                    let len = if by_cols { n } else { m };
                    let tile = |t: usize| {
                        let (s, w) = (t * width, width.min(len - t * width));
                        if by_cols {
                            block(0, s, m, w)
                        } else {
                            block(s, 0, w, n)
                        }
                    };
                    let pieces = len.div_ceil(width);
                    if threads > 1 && pieces > 1 {
                        super::pieces::for_each_piece(pieces, tile);
                    } else {
                        (0..pieces).for_each(tile);
                    }
                };
                if transposed {
                    let (m, k) = (self.m, self.k);
                    super::gemm::with_buf(&super::gemm::BUF_T, m * k, |p: *mut T| {
                        // NOTE: [parallel-transpose] bands of rows on the product's threads
                        let bands = if threads > 1 && m * k >= TRANSPOSE_PAR_MIN {
                            2 * threads
                        } else {
                            1
                        };
                        // whole blocks of a cache line ([line-blocks]) but in the last band
                        let band = m.div_ceil(bands).next_multiple_of(64 / size_of::<T>());
                        let (a, dst) = (SendPtr(self.a.ptr as *mut T), SendPtr(p));
                        super::pieces::for_each_piece(m.div_ceil(band), |b| {
                            let _ = (&a, &dst);
                            let (i0, rows) = (b * band, band.min(m - b * band));
                            let rows_of_a = Operand {
                                ptr: a.0.wrapping_add(i0).cast_const(),
                                rs: 1,
                                cs: self.a.cs,
                            };
                            // SAFETY: `a` is valid for its size and strides (the caller's
                            // guarantee), with rs = 1, so its rows i0..i0 + rows are an
                            // `rows × k` operand at `ptr + i0` with the same strides; the
                            // buffer holds m · k elements, and this band's rows of it, from
                            // i0 · k on, are written by this piece alone
                            unsafe { transpose_to_rows(rows_of_a, rows, k, dst.0.add(i0 * k)) };
                        });
                        product(Operand {
                            ptr: p,
                            rs: k as isize,
                            cs: 1,
                        })
                    });
                } else {
                    product(self.a);
                }
                return;
            }
        }
        let product = || {
            // SAFETY: as above; `gemm` takes column-major strides, hence the swapped pairs
            unsafe {
                gemm::gemm(
                    self.m,
                    self.n,
                    self.k,
                    self.out,
                    self.o_cs,
                    self.o_rs,
                    false,
                    self.a.ptr,
                    self.a.cs,
                    self.a.rs,
                    self.b.ptr,
                    self.b.cs,
                    self.b.rs,
                    T::ZERO,
                    T::ONE,
                    false,
                    false,
                    false,
                    if threads > 1 {
                        Parallelism::Rayon(0)
                    } else {
                        Parallelism::None
                    },
                )
            }
        };
        if threads > 1 {
            // the crate splits on the pool's workers (NOTE: [team])
            super::pieces::to_the_pool(product)
        } else {
            product()
        }
    }

    /// The kernels that run this product (one of a `batch` of equal products, if so) if it
    /// runs through the small-product kernels (NOTE: [small-gemm]): at most [`SMALL_GEMM`]
    /// multiply-adds and an inner dimension over 4 (k ≤ 4 stays with the scaled rows, which
    /// write k = 1 products as plain products); the AVX-512 kernels on the AVX-512 backends,
    /// except a short inner dimension with 64 columns or more, where our packing GEMM
    /// measured 5% faster (256 × 10 × 128: 14.5 against 15.4 µs f64, 7.5 against 8.0 µs f32);
    /// the AVX2 kernels on the AVX2 backend for batches and for outputs narrower than
    /// [`AVX2_SMALL_MAX_N`].
    fn small_isa(&self, batch: bool) -> Option<super::gemm::SmallIsa> {
        use super::gemm::SmallIsa;
        if self.k <= 4 || self.m * self.n * self.k > SMALL_GEMM {
            return None;
        }
        let isa = match self.backend.or_below() {
            Backend::Own | Backend::Avx512 if !(self.k < AVX_MIN_DEPTH && self.n >= 64) => {
                SmallIsa::Avx512
            }
            Backend::Avx2 if batch || self.n < AVX2_SMALL_MAX_N => SmallIsa::Avx2,
            _ => return None,
        };
        isa.available().then_some(isa)
    }

    /// The product through the small-product kernels, rows split over the cores when
    /// parallel; false (nothing written) where they do not take these strides.
    ///
    /// # Safety
    /// As for [`run`](Self::run), with `isa` available.
    unsafe fn small(&self, isa: super::gemm::SmallIsa) -> bool {
        let mat = |ptr: *const T, rs: isize, cs: isize| super::gemm::Mat { ptr, rs, cs };
        // rows `r` and columns `c` of the product; whether the kernels took them
        let block = |r: std::ops::Range<usize>, c: std::ops::Range<usize>| {
            // SAFETY: `isa` is available (the caller's guarantee); rows r and columns c of the
            // operands and the output, which are valid, not overlapping, with distinct output
            // elements (the caller's guarantee); k > 0
            unsafe {
                super::gemm::small(
                    isa,
                    r.len(),
                    c.len(),
                    self.k,
                    mat(
                        self.a.ptr.wrapping_offset(r.start as isize * self.a.rs),
                        self.a.rs,
                        self.a.cs,
                    ),
                    mat(
                        self.b.ptr.wrapping_offset(c.start as isize * self.b.cs),
                        self.b.rs,
                        self.b.cs,
                    ),
                    mat(self.out_at(r.start, c.start), self.o_rs, self.o_cs),
                )
            }
        };
        // unit-stride rows of the output and of `b`: the kernels take every block, of rows, or
        // of columns where the rows are few (64 × 256 × 128 f32: 38.6 µs on one thread, 26.0
        // in rows on two; 32 × 256 × 128 f64: 38 µs whole on two)
        if self.splits_gemm() && self.o_cs == 1 && self.b.cs == 1 {
            // the blocks are disjoint
            if self.m >= 64 {
                over_rows(self.m, true, 32, |r| {
                    block(r, 0..self.n);
                });
                return true;
            }
            if self.n >= 64 {
                over_rows(self.n, true, 32, |c| {
                    block(0..self.m, c);
                });
                return true;
            }
        }
        block(0..self.m, 0..self.n)
    }

    /// Whether the product is large and square enough for the AVX micro-kernels to beat the
    /// `gemm` crate (measured: see BENCHMARKS.md).
    fn suits_avx_kernels(&self) -> bool {
        self.m.min(self.n) >= AVX_MIN_SIDE && self.k >= AVX_MIN_DEPTH
    }

    /// Whether the `Avx512` backend runs this product through our own GEMM: products the AVX
    /// micro-kernels leave to the `gemm` crate where ours measured faster (one thread, CPU
    /// time): a short inner dimension with 64 columns or more (256 × 10 × 128: 12.6 against
    /// 21.5 µs f64, 6.3 against 10.6 µs f32, torch 9.6 and 5.7 µs), and f64 products with few
    /// rows (512 × (16 × 64 × 32): 1.15 against 1.32 ms). With few columns (n = 10) ours pads
    /// its 16–32-column tiles and runs 20–100% slower; f32 with few rows measured 4% slower.
    ///
    /// And wide outputs with few rows, which ours runs by panels of `b` read in place (NOTE:
    /// [wide-panels]): 64 × 64 · 64 × 10⁴ 1.13–1.18 against 1.25–1.28 ms f64, 0.51–0.53
    /// against 0.65 ms f32.
    ///
    /// And the products the AVX micro-kernels would run without blocking for the L2 while
    /// streaming an operand about as large as it (NOTE: [crate-single-level]).
    ///
    /// And a column-major left operand, which the AVX micro-kernels take only after copying
    /// it row-major, where ours packs it as it goes: on the Intel Xeon (Emerald Rapids), one
    /// thread, wall medians, ours against the crate's: f32 aᵀ · b 256³ 224 against 239 µs,
    /// 512³ 1.74 against 1.85 ms, 1024³ and 2048³ within 1%; f64 256³ 444 against 467 µs,
    /// 512³ and 1024³ within 1%.
    fn suits_own_kernels(&self) -> bool {
        super::gemm::available()
            && (self.runs_by_panels()
                || self.crate_streams_past_l2()
                || self.a_column_major()
                || (!self.suits_avx_kernels()
                    && ((self.k < AVX_MIN_DEPTH && self.n >= 64)
                        || (size_of::<T>() == 8 && self.n >= AVX_MIN_SIDE))))
    }

    /// Whether `a` is column-major (unit stride down its columns) in a product the AVX
    /// micro-kernels would take, copying `a` row-major first.
    fn a_column_major(&self) -> bool {
        self.a.rs == 1 && self.a.cs != 1 && self.suits_avx_kernels()
    }

    /// NOTE: [crate-single-level] `private-gemm-x86` runs a call on one thread in a single
    /// level of tiles, without cutting the operands into blocks that fit the L2, where both
    /// sides of the output are shorter than `L2 / (element bytes · 64 · ⌈min(k, 512) / 64⌉)`
    /// elements (512 f64 and 1024 f32 with a 2 MiB L2 and k ≥ 449). It packs a depth block
    /// (up to 512 deep) of the operand whose rows run along the output's contiguous side (`b`,
    /// for a row-major output; `a` for a column-major one, which computes the transposed
    /// product) and reads that block once for every few rows of the output. Where the block
    /// takes more than three quarters of the L2, those reads wait on the L3. On the Intel Xeon
    /// (Emerald Rapids), one thread, wall medians of three, the crate against our GEMM:
    /// - block of 2 MiB or more: f64 500³ 4.66 against 3.23 ms (torch 3.18),
    ///   300 × 700 × 500 3.85 against 2.75 (torch 2.73), 64 × 1000 × 500 1.52 against 0.91,
    ///   342 × 1077 × 508 7.56 against 4.79; f32 1000³ 18.0 against 13.2 ms,
    ///   300 × 1000 × 1000 5.73 against 3.89;
    /// - 1.6–1.8 MiB: f64 500 × 400 × 500 2.88 against 2.58 ms, 96 × 1000 × 400 1.29 against
    ///   1.09, 122 × 636 × 398 0.97 against 0.89, 400 × 600 × 400 2.53 against 2.54; f32 900³
    ///   10.3 against 9.5 ms;
    /// - 1.2 MiB, where the crate stays faster: f64 500 × 500 × 300 1.82 against 2.06 ms; and
    ///   64 × 10⁴ × 64 (a block of 256 KiB), 1.24 against 1.31 ms.
    ///
    /// Of 24 random shapes from 64 to 1100 a side, the crate ran 0–20% faster on all but the
    /// two this rule takes. On two threads each thread's call takes half of the output's longer
    /// side (and half the streamed block), and there the crate measured faster on most of
    /// these (f64 64 × 1000 × 500 0.51 against 0.71 ms, 342 × 1077 × 508 2.39 against 2.56,
    /// f32 1000³ 6.0 against 6.8 ms; f64 500³ 1.95 against 1.85 ms). The rule still holds on
    /// any number of threads, so that a product's bits do not depend on the pool it runs in
    /// (NOTE: [gemm]). The L2's size is the one the crates read (`gemm_common::cache`).
    fn crate_streams_past_l2(&self) -> bool {
        let col_major = self.o_cs.unsigned_abs() > self.o_rs.unsigned_abs();
        let l2 = gemm_common::cache::CACHE_INFO[1].cache_bytes;
        streams_past_l2(self.m, self.n, self.k, size_of::<T>(), col_major, l2)
    }

    /// Whether our GEMM runs this product by panels of `b` read in place (NOTE:
    /// [wide-panels]), in the orientation [`super::gemm::gemm`] gives it (a column-major output
    /// computes the transposed product).
    fn runs_by_panels(&self) -> bool {
        if self.o_cs.unsigned_abs() > self.o_rs.unsigned_abs() {
            super::gemm::is_wide::<T>(self.n, self.m, self.k, self.a.cs, self.a.rs)
        } else {
            super::gemm::is_wide::<T>(self.m, self.n, self.k, self.b.rs, self.b.cs)
        }
    }
}

/// How a product through `private-gemm-x86` is cut among `threads`: in blocks of columns or not (of
/// rows), and the blocks' width; `units` are the whole tiles that blocks of columns and blocks of
/// rows are cut at.
///
/// Threads get whole blocks of the output, along its longer side, each its own single-threaded GEMM
/// (packing its own operand panels): measured to cost the same CPU time as one thread's GEMM, where
/// the crate's own threading (all threads on one shared packed panel, synchronized per depth step)
/// cost 25–35% more at 1024³. A wide product with few rows also goes in blocks of 512 columns on
/// one thread: these fit the crate's direct (L2-sized) path, measured 15% faster at 64 × 64 × 10⁴
/// than the whole product. Blocks are at least 64 long, or half the side where that is shorter: 64
/// × 1000 × 64 stayed whole on two threads.
///
/// NOTE: [balanced-blocks] Blocks along a side cut at whole tiles of 24 f32 (12 f64) can leave the
/// threads uneven where the side holds few tiles: the 64 columns of f32 64 × 10⁴ × 64 went in
/// blocks of 48 and 16, so on two threads it took 3/4 of one thread's time. Where the other side
/// gives the slowest thread at least a fifth less of the output, the blocks run along it (here two
/// blocks of 32 rows). Each output element is the same chain of multiply-adds either way, so the
/// bits do not change. AMD Zen 4 under the AVX2 cap (NOTE: [cpu-capability]), two threads, builds
/// alternated six times, medians: f32 64 × 10⁴ × 64 629 → 501 µs (torch 481 µs: 0.86 → 1.15–1.19
/// side by side); f64 (blocks of 36 and 28 columns before) 1097 → 1068 µs. The AVX-512 tiles (16)
/// split 64 evenly.
#[cfg(target_arch = "x86_64")]
fn output_blocks(m: usize, n: usize, k: usize, threads: usize, units: [usize; 2]) -> (bool, usize) {
    let width_of = |len: usize, unit: usize| {
        if threads > 1 {
            let pieces = threads * if m * n * k >= 1 << 26 { 2 } else { 1 };
            len.div_ceil(pieces)
                .next_multiple_of(unit)
                .max(64.min(len.div_ceil(2)))
        } else {
            len
        }
    };
    // the slowest thread's share of the output
    let share = |len: usize, width: usize, other: usize| {
        len.div_ceil(width).div_ceil(threads) * width.min(len) * other
    };
    let mut by_cols = n >= m;
    if threads > 1 {
        let cols = share(n, width_of(n, units[0]), m);
        let rows = share(m, width_of(m, units[1]), n);
        if (by_cols && 4 * cols > 5 * rows) || (!by_cols && 4 * rows > 5 * cols) {
            by_cols = !by_cols;
        }
    }
    let unit = units[usize::from(!by_cols)];
    let mut width = width_of(if by_cols { n } else { m }, unit);
    if by_cols && m <= 128 && n >= 2048 {
        width = width.min(512 / unit * unit);
    }
    (by_cols, width)
}

/// The fewest elements of a column-major `a` copied row-major on more than one thread.
///
/// NOTE: [parallel-transpose] Before the AVX micro-kernels' product, a column-major `a` is
/// copied row-major ([`transpose_to_rows`]); on one thread, that copy left the other threads
/// idle while it ran. Copied in bands of rows on all of them (each band's rows of the
/// buffer written by one thread, the values unchanged). f32 aᵀ · b at 512³ through the AVX2
/// kernels (AMD Zen 4 under `FUNCTORCH_CPU_CAPABILITY=avx2`, NOTE: [cpu-capability]), two
/// threads, builds alternated six times, medians: 1.66 → 1.52 ms with the bands (1.73 → 1.52
/// in another run with [line-blocks] too); a · b of the same size 1.36–1.40 ms, torch 1.44
/// ms. (On AVX-512 our own GEMM packs a column-major `a` as it goes, and no copy is made.)
/// Below 2¹⁶ elements a copy takes 20–40 µs on one thread, less than waking a sleeping
/// worker from outside the pool can take here (NOTE: [caller-shares]); the threshold is not
/// tuned further.
#[cfg(target_arch = "x86_64")]
const TRANSPOSE_PAR_MIN: usize = 1 << 16;

/// The `m × k` matrix `a`, whose columns are contiguous (`a.rs = 1`), copied row-major to
/// `dst`, in blocks of a cache line each way ([`transpose_blocks`]).
///
/// # Safety
/// `a` addresses an `m × k` matrix with `a.rs = 1`; `dst` holds `m · k` elements, not
/// overlapping it.
#[cfg(target_arch = "x86_64")]
unsafe fn transpose_to_rows<T: Float>(a: Operand<T>, m: usize, k: usize, dst: *mut T) {
    // SAFETY: the caller's guarantee
    unsafe {
        if size_of::<T>() == 4 {
            transpose_blocks::<T, 16>(a, m, k, dst)
        } else {
            transpose_blocks::<T, 8>(a, m, k, dst)
        }
    }
}

/// [`transpose_to_rows`] in blocks of `B × B`, `B` elements a cache line.
///
/// NOTE: [line-blocks] Blocks of 8 × 8 f32 wrote half a cache line of each row of `dst` at a
/// time, and the other half only after a pass down all the rows; with rows of a power of two
/// bytes apart (2 KiB at k = 512) they all fall in the same few sets of the L1, so each half
/// line went out and came back. Blocks of one line each way (16 × 16 f32, 8 × 8 f64) read and
/// write whole lines. f32 512 × 512 on one thread (AMD Zen 4, best of 200): 130 → 89 µs
/// (83 in the AVX2 copy, not worth a copy of its own); f64 in blocks of 4 × 4 took 200 µs
/// against 147 in 8 × 8. f32 aᵀ · b at 512³ through the AVX2 kernels, one thread, alternated
/// six times: 2.76 → 2.69 ms (a · b 2.54).
///
/// # Safety
/// As for [`transpose_to_rows`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn transpose_blocks<T: Float, const B: usize>(
    a: Operand<T>,
    m: usize,
    k: usize,
    dst: *mut T,
) {
    // down B columns at a time: B sequential read streams
    for l0 in (0..k).step_by(B) {
        for i0 in (0..m).step_by(B) {
            let rows = (m - i0).min(B);
            if rows == B && l0 + B <= k {
                // a whole block through a fixed-size array, which the compiler transposes in
                // registers
                let mut t = [[T::ZERO; B]; B];
                for (c, tc) in t.iter_mut().enumerate() {
                    // SAFETY: a[i0..i0 + B, l0 + c] is a contiguous run (rs = 1) inside the
                    // m × k operand
                    tc.copy_from_slice(unsafe { a.line(i0, l0 + c, B) });
                }
                for (d, dst_row) in (0..B).map(|d| (d, (i0 + d) * k + l0)) {
                    let row: [T; B] = std::array::from_fn(|c| t[c][d]);
                    // SAFETY: dst_row + B = (i0 + d) · k + l0 + B ≤ m · k, inside `dst`
                    unsafe { dst.add(dst_row).cast::<[T; B]>().write_unaligned(row) };
                }
                continue;
            }
            for l in l0..(l0 + B).min(k) {
                // SAFETY: a[i0..i0 + rows, l] is a contiguous run (rs = 1) inside the m × k
                // operand
                let col = unsafe { a.line(i0, l, rows) };
                for (d, &v) in col.iter().enumerate() {
                    // SAFETY: (i0 + d) · k + l < m · k, inside `dst`
                    unsafe { dst.add((i0 + d) * k + l).write(v) };
                }
            }
        }
    }
}

/// `rows(range)` over the ranges that cover `0..m` (rows, or columns): one range, or, when
/// `parallel` and the pool has more than one thread, up to four per core of equal length (at
/// least `min_rows` rows each, a whole number per core where there are more ranges than cores)
/// run on all cores.
/// Ranges of `min_rows` rounded up left the cores uneven: 128 rows in ranges of 48 gave one
/// core 96 (a 128³ f64 product took 73 µs on two threads against 80 on one, and 45 after).
///
/// NOTE: [one-thread-inline] On a pool of one thread the work runs here, on the caller's thread:
/// a parallel iterator called from outside the pool hands its work to the pool's one worker and
/// sleeps until it is done, two futex calls and two context switches per call. The outer product
/// 1000 × 4 × 1000 in f32 spent a third of its time in them under `RAYON_NUM_THREADS=1` (perf,
/// AMD Zen 5).
fn over_rows(
    m: usize,
    parallel: bool,
    min_rows: usize,
    rows: impl Fn(std::ops::Range<usize>) + Sync,
) {
    let threads = rayon::current_num_threads();
    if parallel && threads > 1 && m >= 2 * min_rows.max(1) {
        let mut pieces = (m / min_rows.max(1)).min(threads * 4);
        if pieces > threads {
            pieces -= pieces % threads;
        }
        let per = m.div_ceil(pieces);
        super::pieces::for_each_piece(m.div_ceil(per), |c| rows(c * per..((c + 1) * per).min(m)));
    } else {
        rows(0..m);
    }
}

/// Rows `r` of a matrix-vector product, as dot products (the caller checked that `a`'s rows
/// and `b` are contiguous). NOTE: [isa-copies]
struct DotRows<'p, 'f, T> {
    p: &'p Product<'f, T>,
    r: std::ops::Range<usize>,
}

impl<T: Float> super::Vectorized for DotRows<'_, '_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        // two 64-byte vectors of partial sums a row
        if size_of::<T>() == 8 {
            dot_rows::<T, 16>(self.p, self.r)
        } else {
            dot_rows::<T, 32>(self.p, self.r)
        }
    }
}

/// `out[i] = a[i, :] · b` for the rows `r`, four rows at a time (each element of `b` loaded
/// once for four rows, four streams of `a` in flight), the rest one at a time; each row summed
/// in the same order either way (W interleaved partial sums combined pairwise, then the tail),
/// so results do not depend on how the rows are split over threads.
#[inline(always)]
fn dot_rows<T: Float, const W: usize>(p: &Product<'_, T>, r: std::ops::Range<usize>) {
    let k = p.k;
    // SAFETY: b is a contiguous column of k elements, rows of a are contiguous and inside the
    // matrix, and each out[i] is written once
    unsafe {
        let x = p.b.line(0, 0, k);
        let mut i = r.start;
        while i + 4 <= r.end {
            let rows = [0, 1, 2, 3].map(|d| p.a.line(i + d, 0, k));
            for (d, v) in dot4::<T, W>(rows, x).into_iter().enumerate() {
                *p.out_at(i + d, 0) = v;
            }
            i += 4;
        }
        for i in i..r.end {
            *p.out_at(i, 0) = dot::<T, W>(p.a.line(i, 0, k), x);
        }
    }
}

/// `Σ x[i]·y[i]` in W interleaved partial sums (independent chains that fill the vector
/// registers), combined by [`dot_end`].
#[inline(always)]
fn dot<T: Float, const W: usize>(x: &[T], y: &[T]) -> T {
    let mut acc = [T::ZERO; W];
    let (xw, _) = x.as_chunks::<W>();
    let (yw, _) = y.as_chunks::<W>();
    for (u, v) in xw.iter().zip(yw) {
        for q in 0..W {
            acc[q] += u[q] * v[q];
        }
    }
    dot_end(acc, x, y)
}

/// [`dot`] of four rows `x[r]` with one `y`, each summed exactly as `dot` sums it.
#[inline(always)]
fn dot4<T: Float, const W: usize>(x: [&[T]; 4], y: &[T]) -> [T; 4] {
    let (mut a0, mut a1, mut a2, mut a3) = ([T::ZERO; W], [T::ZERO; W], [T::ZERO; W], [T::ZERO; W]);
    let (yw, _) = y.as_chunks::<W>();
    let [x0, x1, x2, x3] = x.map(|x| x.as_chunks::<W>().0);
    for ((((v, u0), u1), u2), u3) in yw.iter().zip(x0).zip(x1).zip(x2).zip(x3) {
        for q in 0..W {
            a0[q] += u0[q] * v[q];
            a1[q] += u1[q] * v[q];
            a2[q] += u2[q] * v[q];
            a3[q] += u3[q] * v[q];
        }
    }
    [
        dot_end(a0, x[0], y),
        dot_end(a1, x[1], y),
        dot_end(a2, x[2], y),
        dot_end(a3, x[3], y),
    ]
}

/// The W partial sums of a dot product combined pairwise, plus the tail of `x · y` past the
/// last whole block of W.
#[inline(always)]
fn dot_end<T: Float, const W: usize>(mut acc: [T; W], x: &[T], y: &[T]) -> T {
    let mut w = W;
    while w > 1 {
        w /= 2;
        for q in 0..w {
            acc[q] += acc[q + w];
        }
    }
    let mut s = acc[0];
    let tail = x.len() / W * W;
    for (&u, &v) in x[tail..].iter().zip(&y[tail..]) {
        s += u * v;
    }
    s
}

/// Rows `r` of a product by scaled rows of `b` (the caller checked that `out` and `b` have
/// contiguous rows). NOTE: [isa-copies]
struct ScaledRows<'p, 'f, T> {
    p: &'p Product<'f, T>,
    r: std::ops::Range<usize>,
}

impl<T: Float> super::Vectorized for ScaledRows<'_, '_, T> {
    type Out = ();
    #[inline(always)]
    fn run(self) {
        let p = self.p;
        // NOTE: [scaled-rows-tile]
        let tile = if p.k >= 2 && p.k * p.n * size_of::<T>() > SCALED_ROWS_L1 {
            SCALED_ROWS_TILE
        } else {
            1
        };
        if tile == 1 {
            for i in self.r {
                // SAFETY: every index is inside its matrix; each output row is written once
                unsafe {
                    let a = |l: usize| p.a.at(i, l);
                    let b = |l: usize, j: usize, len: usize| p.b.line(l, j, len);
                    scaled_row_sum(p.out_run(i, 0, p.n), p.k, a, b)
                }
            }
            return;
        }
        let mut i0 = self.r.start;
        while i0 < self.r.end {
            let rows = i0..(i0 + tile).min(self.r.end);
            i0 = rows.end;
            // SAFETY: every index is inside its matrix; each output row of the tile is borrowed
            // for one block of columns at a time (never two at once) and each element is
            // written once
            unsafe {
                let b = |l: usize, j: usize, len: usize| p.b.line(l, j, len);
                let out = |i: usize| p.out_run(i, 0, p.n);
                let a = |i: usize, l: usize| p.a.at(i, l);
                // one copy for each k ≤ 4, its sums unrolled and the tile's factors read
                // once, as in `scaled_row_sum`
                let mut f = [[T::ZERO; 4]; SCALED_ROWS_TILE];
                if p.k <= 4 {
                    for (i, fi) in rows.clone().zip(&mut f) {
                        for (l, x) in fi.iter_mut().enumerate().take(p.k) {
                            *x = a(i, l);
                        }
                    }
                }
                let i0 = rows.start;
                let held = |i: usize, l: usize| f[i - i0][l];
                match p.k {
                    2 => scaled_rows_tile(rows, p.n, 2, out, held, b),
                    3 => scaled_rows_tile(rows, p.n, 3, out, held, b),
                    4 => scaled_rows_tile(rows, p.n, 4, out, held, b),
                    k => scaled_rows_tile(rows, p.n, k, out, a, b),
                }
            }
        }
    }
}

/// Columns `j..j + W` of one output row of [`scaled_row_sum`] and [`scaled_rows_tile`]:
/// `Σ_l a(l) · b(l, j, W)`, the first term written, the rest added in order, held in registers.
#[inline(always)]
fn scaled_block<'b, T: Float, const W: usize>(
    out: &mut [T],
    j: usize,
    k: usize,
    a: impl Fn(usize) -> T,
    b: impl Fn(usize, usize, usize) -> &'b [T],
) {
    let mut acc = [T::ZERO; W];
    let (a0, r0) = (a(0), b(0, j, W));
    for q in 0..W {
        acc[q] = a0 * r0[q];
    }
    for l in 1..k {
        let (al, rl) = (a(l), b(l, j, W));
        for q in 0..W {
            acc[q] += al * rl[q];
        }
    }
    out[j..j + W].copy_from_slice(&acc);
}

/// `out[j] = Σ_l a(l) · b(l)[j]` for one output row, summed in the order l = 0, 1, ..., k−1
/// (the first term written, not added to a zero), over blocks of 32 and then 8 columns held in
/// registers, so the row is written once. `b(l, j, len)` is row l of the right operand from
/// column j.
#[inline(always)]
fn scaled_row_sum<'b, T: Float>(
    out: &mut [T],
    k: usize,
    a: impl Fn(usize) -> T + Copy,
    b: impl Fn(usize, usize, usize) -> &'b [T] + Copy,
) {
    // one copy of the loop for each k ≤ 4, its sums unrolled (the same terms in the same order)
    // and the row's k factors read once, held in registers
    let mut f = [T::ZERO; 4];
    if k <= 4 {
        for (l, x) in f.iter_mut().enumerate().take(k) {
            *x = a(l);
        }
    }
    let held = |l: usize| f[l];
    match k {
        1 => scaled_row_sum_k(out, 1, held, b),
        2 => scaled_row_sum_k(out, 2, held, b),
        3 => scaled_row_sum_k(out, 3, held, b),
        4 => scaled_row_sum_k(out, 4, held, b),
        k => scaled_row_sum_k(out, k, a, b),
    }
}

/// [`scaled_row_sum`]'s loop, inlined into each arm of its `match` on `k`.
#[inline(always)]
fn scaled_row_sum_k<'b, T: Float>(
    out: &mut [T],
    k: usize,
    a: impl Fn(usize) -> T + Copy,
    b: impl Fn(usize, usize, usize) -> &'b [T] + Copy,
) {
    let n = out.len();
    // the columns before the output's first cache-line boundary one at a time, so that the
    // blocks' stores are aligned (`NOTE: [aligned-stores]`); each element's sum is the same.
    // Only in rows of 8 cache lines or more: in a short row (a batch of 8 × 8 products) the
    // head and the tail after it would leave no whole block, and every element would be summed
    // one at a time (AMD Zen 3, where no small-product kernel takes them: 1000 × (8 × 8 × 8)
    // f64 430 µs, 3.4× slower than its blocks)
    let head = if std::mem::size_of_val(out) >= 512 {
        super::store::head(out.as_ptr()).min(n)
    } else {
        0
    };
    for q in 0..head {
        scaled_block::<T, 1>(out, q, k, a, b);
    }
    let mut j = head;
    while j + 32 <= n {
        scaled_block::<T, 32>(out, j, k, a, b);
        j += 32;
    }
    while j + 8 <= n {
        scaled_block::<T, 8>(out, j, k, a, b);
        j += 8;
    }
    for q in j..n {
        scaled_block::<T, 1>(out, q, k, a, b);
    }
}

/// Rows of an output tile by scaled rows: up to this many at once when the rows of `b` are
/// larger than [`SCALED_ROWS_L1`].
const SCALED_ROWS_TILE: usize = 8;
/// Bytes of the rows of `b` above which scaled rows go in tiles of [`SCALED_ROWS_TILE`] rows:
/// half the L1 data cache of the x86-64 cores of recent years (32 or 48 KiB).
const SCALED_ROWS_L1: usize = 16 << 10;

// NOTE: [scaled-rows-tile]
// A product with k ≤ 4 writes much and computes little, but once the k rows of `b` it reads
// are more than half the L1 (32 KiB of f64 at k = 4 over 1000 columns), they fall out of it
// while the output streams through, and each output row re-reads all of `b` from L2. A tile of
// 8 output rows shares each block of `b` (k × 32 elements, held in L1) for 8 rows.
// 1000×4·4×1000 f64, one thread (AMD EPYC, 2026-11-30): 395 → 318 µs in a scratch kernel of
// the same loop, 2000×4·4×2000 2.77 → 2.11 ms; through `matmul` (`examples/kernels`, CPU time,
// old and new binaries alternated) 470–560 → 350–440 µs. Where
// `b`'s rows stay in L1 the tile measured slower or no faster (f64 1000×2·2×1000 170 → 183 µs,
// f32 1000×4·4×1000 (16 KiB) 232–298 → 249–264 µs), so those rows go one by one. k = 1 stays
// one by one as well (one row of `b`, read once per output vector), by the loop of one row
// ([`scaled_row_sum`]): the same rows through the tile loop measured ~10% slower in f32. The
// order of the sum of each element is unchanged (l = 0, 1, ..., k−1).
// For k ≤ 4 each loop is compiled once per k (its sums unrolled) and reads the row's (or the
// tile's) factors of `a` once, into registers, instead of once per block of 32 columns: the
// compiler cannot keep them there itself, as `a` is read through a raw pointer that may alias
// the output. One row at a time also starts its blocks at the output's first cache-line
// boundary (`NOTE: [aligned-stores]`). f32 1000×4·4×1000, one thread (CPU time, alternated with
// torch, 2026-12-01): 295–347 → 155–182 µs against torch's 217–247 (it was 0.66–0.81× torch);
// the aligned head alone 201–217 → 159–184 µs. f64 (tiles of rows) 373–388 → 305–356 µs.

/// `out(i)[j] = Σ_l a(i, l) · b(l)[j]` for the rows `rows` of the output, each summed in the
/// order l = 0, 1, ..., k−1 (the first term written, not added to a zero), over blocks of 32
/// and then 8 columns held in registers, every row of the tile for one block before the next,
/// so each row is written once. `b(l, j, len)` is row l of the right operand from column j;
/// `out(i)` is output row i, n long.
#[inline(always)]
fn scaled_rows_tile<'b, 'o, T: Float>(
    rows: std::ops::Range<usize>,
    n: usize,
    k: usize,
    out: impl Fn(usize) -> &'o mut [T] + Copy,
    a: impl Fn(usize, usize) -> T + Copy,
    b: impl Fn(usize, usize, usize) -> &'b [T] + Copy,
) {
    // the blocks start at column 0: an aligned head of the rows, as in `scaled_row_sum`,
    // measured slower here (f64 1000×4·4×1000, one thread: 332–364 → 435–470 µs)
    let mut j = 0;
    while j + 32 <= n {
        for i in rows.clone() {
            scaled_block::<T, 32>(out(i), j, k, |l| a(i, l), b);
        }
        j += 32;
    }
    while j + 8 <= n {
        for i in rows.clone() {
            scaled_block::<T, 8>(out(i), j, k, |l| a(i, l), b);
        }
        j += 8;
    }
    for i in rows {
        for q in j..n {
            scaled_block::<T, 1>(out(i), q, k, |l| a(i, l), b);
        }
    }
}

struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// Whether [`matmul`] of `a[..., m, 1]` and `b[..., 1, n]` (k = 1, m and n at least 2) writes
/// every element as the one product `a[.., i, 0] · b[.., 0, j]`, left operand first, as a
/// broadcast multiply does: such products run as scaled rows unless an operand is sparse enough
/// for a sparse route (more than 2% nonzeros is checked for every product the batch can be split
/// or folded into). `jit` fuses these products into their elementwise readers when it holds.
pub(crate) fn outer_is_products<T: Float>(a: &Array, b: &Array) -> bool {
    let (ar, br) = (a.shape().len(), b.shape().len());
    if ar < 2 || br < 2 || a.shape()[ar - 1] != 1 || b.shape()[br - 2] != 1 {
        return false;
    }
    let (m, n) = (a.shape()[ar - 2], b.shape()[br - 1]);
    let Ok(batch) = broadcast_shapes("matmul", &a.shape()[..ar - 2], &b.shape()[..br - 2]) else {
        return false;
    };
    let (nb, nd) = (numel(&batch), batch.len());
    // the nonzeros of each batch element's column of `a` (or row of `b`), as `nonzeros` counts
    let counts = |x: &Array, rows: usize, cols: usize| {
        let mut shape = batch.to_vec();
        shape.extend([rows, cols]);
        let x = x.broadcast_to(&shape);
        let v = x.v::<T>();
        let (len, step) = (rows * cols, v.strides[nd + usize::from(rows == 1)]);
        let mut c = Vec::with_capacity(nb);
        Plan::new(&batch, [&v.strides[..nd]]).run([v.offset], 0, nb, |[o]| {
            let at = |i: usize| v.data[(o as isize + i as isize * step) as usize];
            c.push((0..len).filter(|&i| at(i) != T::ZERO).count());
        });
        c
    };
    let (ca, cb) = (counts(a, m, 1), counts(b, 1, n));
    m >= 2
        && n >= 2
        && ca.iter().all(|&c| c > m / 50)
        && ca.iter().sum::<usize>() > nb * m / 50
        && cb.iter().all(|&c| c > n / 50)
}

/// The nonzeros `(l, j, v)` of each batch matrix (row-major over the batch) of a right operand
/// `b[..., k, n]` that has the product's batch dims, if [`matmul`] of any all-finite
/// `a[..., m, k]` by `b` runs each batch element's product by the sparse route over `b`: then
/// each column j of an element's output is +0 plus `a[.., :, l] · v` for each of its nonzeros in
/// this order, added in turn, and every other column is +0. `jit` reads products by constant
/// standard bases in this form, without scanning them on every call.
pub(crate) fn sparse_right_nonzeros<T: Float>(
    b: &Array,
    m: usize,
) -> Option<Vec<Vec<(usize, usize, T)>>> {
    let r = b.shape().len();
    if r < 3 || b.dtype() != T::DTYPE {
        return None;
    }
    let (k, n, nb) = (
        b.shape()[r - 2],
        b.shape()[r - 1],
        numel(&b.shape()[..r - 2]),
    );
    let v = b.v::<T>();
    // per-element products (no fold of the batch: b is batched, and n > 1), each scanned, with
    // the right operand first
    let batch_strides = &v.strides[..r - 2];
    if nb < 2 || batch_strides.iter().all(|&s| s == 0) || m < 16 || n < 2 || m * n * k <= SMALL {
        return None;
    }
    let mut offs = Vec::with_capacity(nb);
    Plan::new(&b.shape()[..r - 2], [batch_strides]).run([v.offset], 0, nb, |[o]| offs.push(o));
    let (rs, cs) = (v.strides[r - 2], v.strides[r - 1]);
    offs.into_iter()
        // SAFETY: each offset starts a k × n matrix of `b` with strides (rs, cs)
        .map(|o| unsafe { nonzeros(v.data.as_ptr().add(o), k, n, rs, cs, k * n / 50) })
        .collect()
}

/// `a[..., m, k] @ b[..., k, n]` with broadcast batch dims (shapes already validated).
pub fn matmul<T: Float>(a: &Array, b: &Array) -> Array {
    matmul_on::<T>(Backend::best(), a, b)
}

/// [`matmul`] with dense products through `backend` (or the best one below it on this CPU).
pub(crate) fn matmul_on<T: Float>(backend: Backend, a: &Array, b: &Array) -> Array {
    // The raw-pointer loops below rely on these shapes: check them whatever the caller did.
    if let Err(e) = matmul_shape("matmul", a.shape(), b.shape()) {
        panic!("internal error: {e}");
    }
    let (ar, br) = (a.shape().len(), b.shape().len());
    let (m, k, n) = (a.shape()[ar - 2], a.shape()[ar - 1], b.shape()[br - 1]);
    let batch =
        broadcast_shapes("matmul", &a.shape()[..ar - 2], &b.shape()[..br - 2]).expect("validated");
    let mut ashape = batch.to_vec();
    ashape.extend([m, k]);
    let mut bshape = batch.to_vec();
    bshape.extend([k, n]);
    let (a, b) = (a.broadcast_to(&ashape), b.broadcast_to(&bshape));
    let nb = numel(&batch);
    let mut out_shape = batch.to_vec();
    out_shape.extend([m, n]);
    // every path below writes every element (k = 0 excepted, filled here)
    let mut out: AlignedVec<T> = alloc(nb * m * n);
    if k == 0 {
        out.resize(nb * m * n, T::ZERO);
    } else {
        // SAFETY: T is a plain float; each element is written before the array is returned.
        unsafe { out.set_len(nb * m * n) };
    }
    let (av, bv) = (a.v::<T>(), b.v::<T>());
    let nd = batch.len();
    let work = m * n * k;
    let (fa, fb) = (|| a.all_finite(), || b.all_finite());
    let fin: (Finite<'_>, Finite<'_>) = (&fa, &fb);
    if nb == 0 || work == 0 {
        return Array::from_vec(out, &out_shape);
    }
    let (a_rs, a_cs) = (a.strides()[nd], a.strides()[nd + 1]);
    let (b_rs, b_cs) = (b.strides()[nd], b.strides()[nd + 1]);
    let a_op = Operand {
        ptr: av.data[a.offset..].as_ptr(),
        rs: a_rs,
        cs: a_cs,
    };
    let b_op = Operand {
        ptr: bv.data[b.offset..].as_ptr(),
        rs: b_rs,
        cs: b_cs,
    };

    // A shared right operand: fold the batch into the rows of one GEMM when the left operand's
    // (batch, row) dims form one strided dim.
    if nb > 1 && b.strides()[..nd].iter().all(|&s| s == 0) {
        let mut rows_shape = batch.to_vec();
        rows_shape.push(m);
        if let Some(rs) = reshape_strides(&rows_shape, &a.strides()[..nd + 1], &[nb * m]) {
            let p = Product {
                m: nb * m,
                n,
                k,
                out: out.as_mut_ptr(),
                o_rs: n as isize,
                o_cs: 1,
                a: Operand { rs: rs[0], ..a_op },
                b: b_op,
                par: true,
                fin,
                backend,
            };
            // SAFETY: the operands address the broadcast views' data with their strides (the
            // batch folded into a's rows), `out` holds nb·m·n fresh elements
            unsafe { p.run() };
            return Array::from_vec(out, &out_shape);
        }
    }

    // A shared left operand times a batch of vectors (vmap of a matrix-vector product): one
    // GEMM `a @ [b_0 .. b_nb]`, written transposed into the [nb, m] result.
    if nb > 1
        && n == 1
        && a.strides()[..nd].iter().all(|&s| s == 0)
        && let Some(bs) = reshape_strides(&batch, &b.strides()[..nd], &[nb])
    {
        let p = Product {
            m,
            n: nb,
            k,
            out: out.as_mut_ptr(),
            o_rs: 1,
            o_cs: m as isize,
            a: a_op,
            b: Operand { cs: bs[0], ..b_op },
            par: true,
            fin,
            backend,
        };
        // SAFETY: as above, the batch of vectors folded into b's columns
        unsafe { p.run() };
        return Array::from_vec(out, &out_shape);
    }

    // One product per batch element.
    let mut offs = Vec::with_capacity(nb);
    Plan::new(&batch, [&a.strides()[..nd], &b.strides()[..nd]]).run(
        [a.offset, b.offset],
        0,
        nb,
        |o| offs.push(o),
    );
    // Products that each element would run through the small kernels without a sparsity scan:
    // all of them at once, the route and the tiles worked out once (NOTE: [small-gemm]).
    let first = Product {
        m,
        n,
        k,
        out: out.as_mut_ptr(),
        o_rs: n as isize,
        o_cs: 1,
        a: a_op,
        b: b_op,
        par: false,
        fin,
        backend,
    };
    if !first.worth_sparsity_scan()
        && !first.is_matrix_vector()
        && let Some(isa) = first.small_isa(true)
    {
        let mat = |ptr: *const T, rs: isize, cs: isize| super::gemm::Mat { ptr, rs, cs };
        let items: Vec<[isize; 3]> = offs
            .iter()
            .enumerate()
            .map(|(i, &[oa, ob])| [oa as isize, ob as isize, (i * m * n) as isize])
            .collect();
        let (ap, bp, cp) = (
            mat(av.data.as_ptr(), a_rs, a_cs),
            mat(bv.data.as_ptr(), b_rs, b_cs),
            mat(out.as_mut_ptr(), n as isize, 1),
        );
        // SAFETY (both calls): `small_isa` checked that `isa` is available; each element's operands start
        // at the offsets the plan gave, inside the broadcast views' data with their strides,
        // and its output is the i-th m × n block of `out`, disjoint from the others; k > 0
        let batch = |r: std::ops::Range<usize>| unsafe {
            super::gemm::small_batch(isa, m, n, k, ap, bp, cp, &items[r])
        };
        // with no elements it says whether it takes them
        if batch(0..0) {
            over_rows(
                nb,
                split_by(nb * work, gemm_cost::<T>(n, k), GEMM_SPLIT),
                16,
                |r| {
                    batch(r);
                },
            );
            return Array::from_vec(out, &out_shape);
        }
    }
    let dst = SendPtr(out.as_mut_ptr());
    let (ap, bp) = (
        SendPtr(av.data.as_ptr() as *mut T),
        SendPtr(bv.data.as_ptr() as *mut T),
    );
    // the batch over the threads where its products are too small to split each
    let cost = gemm_cost::<T>(n, k);
    let over_batch = split_by(nb * work, cost, GEMM_SPLIT) && !split_by(work, cost, GEMM_SPLIT);
    let run = |i: usize| {
        let [oa, ob] = offs[i];
        let _ = (&dst, &ap, &bp);
        let p = Product {
            m,
            n,
            k,
            out: dst.0.wrapping_add(i * m * n),
            o_rs: n as isize,
            o_cs: 1,
            a: Operand {
                ptr: ap.0.wrapping_add(oa),
                rs: a_rs,
                cs: a_cs,
            },
            b: Operand {
                ptr: bp.0.wrapping_add(ob),
                rs: b_rs,
                cs: b_cs,
            },
            par: !over_batch,
            fin,
            backend,
        };
        // SAFETY: batch element i's operands start at the offsets the plan gave, and its
        // output is the i-th m × n block, disjoint from the others
        unsafe { p.run() }
    };
    if over_batch {
        super::pieces::for_each_piece(nb, run);
    } else {
        (0..nb).for_each(run);
    }
    Array::from_vec(out, &out_shape)
}

/// Whether `private-gemm-x86`, on one thread, runs an `m × k · k × n` product of elements of
/// `size` bytes into a column- or row-major output in its single level of tiles with the
/// packed depth block of the operand it streams taking three quarters of an L2 of `l2` bytes
/// or more (NOTE: [crate-single-level]).
fn streams_past_l2(m: usize, n: usize, k: usize, size: usize, col_major: bool, l2: usize) -> bool {
    let side = l2 / size / 64 / k.min(512).div_ceil(64);
    let width = if col_major { m } else { n };
    m < side && n < side && k.min(512) * width * size >= l2 / 4 * 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::DType;
    use crate::kernels::copy::cast;

    fn dense(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn sparse_operands_give_the_dense_product() {
        let (m, k, n) = (40, 30, 20);
        let a: Vec<f64> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f64 - 50.0) / 17.0)
            .collect();
        // b: a scaled one-hot column basis (sparse right operand)
        let mut b = vec![0.0; k * n];
        for j in 0..n {
            b[(j * 7 % k) * n + j] = 1.0 + j as f64;
        }
        let got = matmul::<f64>(
            &Array::from_vec(a.clone(), &[m, k]),
            &Array::from_vec(b.clone(), &[k, n]),
        );
        assert_eq!(got.to_vec::<f64>().unwrap(), dense(&a, &b, m, k, n));
        // sparse left operand: one nonzero per row
        let (m2, k2, n2) = (20, 30, 40);
        let mut a2 = vec![0.0; m2 * k2];
        for i in 0..m2 {
            a2[i * k2 + (i * 11 % k2)] = -2.0 + i as f64;
        }
        let b2: Vec<f64> = (0..k2 * n2).map(|i| (i % 13) as f64 - 6.0).collect();
        let got = matmul::<f64>(
            &Array::from_vec(a2.clone(), &[m2, k2]),
            &Array::from_vec(b2.clone(), &[k2, n2]),
        );
        assert_eq!(got.to_vec::<f64>().unwrap(), dense(&a2, &b2, m2, k2, n2));
    }

    #[test]
    fn matrix_vector_and_column_major_sparse_operands() {
        // a matrix-vector product large enough for the dot-product path, serial and parallel
        for m in [40, 3000] {
            let k = 50;
            let a: Vec<f64> = (0..m * k)
                .map(|i| ((i * 31 % 97) as f64 - 48.0) / 7.0)
                .collect();
            let x: Vec<f64> = (0..k).map(|i| i as f64 / 3.0 - 4.0).collect();
            let got = matmul::<f64>(
                &Array::from_vec(a.clone(), &[m, k]),
                &Array::from_vec(x.clone(), &[k, 1]),
            );
            let want = dense(&a, &x, m, k, 1);
            for (g, w) in got.to_vec::<f64>().unwrap().iter().zip(&want) {
                assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "{g} vs {w}");
            }
        }
        // a sparse right operand stored column-major (a transposed view): one nonzero a column
        let (m, k, n) = (40, 30, 20);
        let a: Vec<f64> = (0..m * k).map(|i| (i % 11) as f64 - 5.0).collect();
        let mut bt = vec![0.0; n * k]; // b transposed, row-major [n, k]
        for j in 0..n {
            bt[j * k + (j * 3 % k)] = 2.0 + j as f64;
        }
        let b = Array::from_vec(bt.clone(), &[n, k]).permute(&[1, 0]);
        let got = matmul::<f64>(&Array::from_vec(a.clone(), &[m, k]), &b)
            .to_vec::<f64>()
            .unwrap();
        let b_rm: Vec<f64> = (0..k * n).map(|i| bt[(i % n) * k + i / n]).collect();
        assert_eq!(got, dense(&a, &b_rm, m, k, n));
    }

    /// A strided random matrix view of shape `[rows, cols]`: row-major, or the transpose of a
    /// row-major `[cols, rows]` buffer.
    fn random(rows: usize, cols: usize, seed: u64, transposed: bool) -> Array {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let data: Vec<f64> = (0..rows * cols)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        if transposed {
            Array::from_vec(data, &[cols, rows]).permute(&[1, 0])
        } else {
            Array::from_vec(data, &[rows, cols])
        }
    }

    /// Row-major values of an f64 array (any strides).
    fn values(a: &Array) -> Vec<f64> {
        a.to_vec::<f64>().unwrap()
    }

    #[test]
    fn every_backend_matches_the_naive_product() {
        // square, tall-skinny, wide, inner dimension ≤ 4, matrix-vector, and sizes around the
        // micro-kernels' tiles; each with plain and transposed operands
        let shapes = [
            (64, 64, 64),
            (97, 130, 61),
            (200, 33, 150),
            (1000, 32, 64),
            (256, 128, 10),
            (40, 300, 50),
            (300, 4, 200),
            (500, 300, 1),
            (48, 17, 96),
            (5, 7, 45),
            (9, 3, 8),
            (2, 300, 3),
            // the small kernels: n = 10, short and long depth, row and column remainders
            (128, 256, 10),
            (256, 10, 128),
            (16, 64, 32),
            (13, 37, 10),
            (8, 8, 8),
            (1, 9, 20),
            (20, 9, 1),
            (50, 300, 70),
            // calls of 5 tiles along the columns and a last one with the rest
            // (`NOTE: [gemm-pieces]`)
            (130, 260, 400),
            // scaled rows in tiles of 8 rows (`NOTE: [scaled-rows-tile]`: `b`'s rows over 16
            // KiB in f64, and in f32 for the last), with row, 32-, 8- and 1-column remainders
            (29, 3, 1003),
            (13, 2, 1100),
            (19, 4, 1027),
        ];
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = random(m, k, 2 * i as u64 + 1, ta);
                let b = random(k, n, 2 * i as u64 + 2, tb);
                let want = dense(&values(&a), &values(&b), m, k, n);
                let (a32, b32) = (cast(&a, DType::F32), cast(&b, DType::F32));
                for backend in [
                    Backend::Own,
                    Backend::Avx512,
                    Backend::Avx2,
                    Backend::Portable,
                ] {
                    let got = matmul_on::<f64>(backend, &a, &b).to_vec::<f64>().unwrap();
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-13 * k as f64,
                            "{m}×{k}×{n} ({ta}, {tb}) on {backend:?}: {g} vs {w}"
                        );
                    }
                    let got = matmul_on::<f32>(backend, &a32, &b32);
                    let got = cast(&got, DType::F64).to_vec::<f64>().unwrap();
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-5 * k as f64,
                            "f32 {m}×{k}×{n} ({ta}, {tb}) on {backend:?}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    /// The products the AVX-512 backend leaves to our GEMM on one thread (NOTE:
    /// [crate-single-level]): the rule for a 2 MiB L2, and the product through it.
    #[test]
    fn products_streaming_past_the_l2_in_the_crate() {
        let l2 = 2 << 20;
        // (m, n, k, element bytes, column-major output, taken)
        for (m, n, k, size, col_major, taken) in [
            (500, 500, 500, 8, false, true),
            (64, 500, 1000, 8, false, true),
            (96, 400, 1000, 8, false, true),
            (1000, 1000, 1000, 4, false, true),
            // the streamed block fits: 1.2 MiB, 256 KiB
            (500, 300, 500, 8, false, false),
            (64, 64, 10_000, 8, false, false),
            // a column-major output streams `a`
            (300, 500, 500, 8, true, false),
            (500, 300, 500, 8, true, true),
            // a side past the crate's single level: 512 f64 at k ≥ 449, 819 at k = 300
            (512, 500, 500, 8, false, false),
            (500, 800, 300, 8, false, true),
            (500, 820, 300, 8, false, false),
            (1024, 1000, 1000, 4, false, false),
        ] {
            assert_eq!(
                streams_past_l2(m, n, k, size, col_major, l2),
                taken,
                "{m} × {k} × {n}, {size} bytes, column-major {col_major}"
            );
        }
        // on one thread, through whichever route this machine's L2 gives it
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (m, k, n) = (100, 600, 480);
        let a = random(m, k, 71, false);
        let b = random(k, n, 72, false);
        let want = dense(&values(&a), &values(&b), m, k, n);
        let got = pool.install(|| matmul_on::<f64>(Backend::Avx512, &a, &b));
        for (g, w) in got.to_vec::<f64>().unwrap().iter().zip(&want) {
            assert!((g - w).abs() <= 1e-13 * k as f64, "{g} vs {w}");
        }
    }

    /// Products with k ≤ 4 by scaled rows sum each element in the order l = 0, 1, …, k−1, bit
    /// for bit, whatever the column (the aligned head, the 32- and 8-column blocks, the tail),
    /// the row (rows of every alignment: n from 1 to 70), the copy specialized for its k, and
    /// tiles of rows (`NOTE: [scaled-rows-tile]`: n = 1003 in f64 at k ≥ 3, n = 1100 in f64 at
    /// k ≥ 2 and in f32 at k = 4).
    #[test]
    fn scaled_rows_sum_each_element_in_order_bit_for_bit() {
        fn check<T: Float + std::fmt::Debug>(a: &Array, b: &Array, m: usize, k: usize, n: usize) {
            let (av, bv) = (a.to_vec::<T>().unwrap(), b.to_vec::<T>().unwrap());
            for backend in [
                Backend::Own,
                Backend::Avx512,
                Backend::Avx2,
                Backend::Portable,
            ] {
                let got = matmul_on::<T>(backend, a, b).to_vec::<T>().unwrap();
                for i in 0..m {
                    for j in 0..n {
                        let mut s = av[i * k] * bv[j];
                        for l in 1..k {
                            s += av[i * k + l] * bv[l * n + j];
                        }
                        assert_eq!(
                            got[i * n + j].to_f64().to_bits(),
                            s.to_f64().to_bits(),
                            "{m}×{k}×{n} at ({i}, {j}) on {backend:?}"
                        );
                    }
                }
            }
        }
        let ns = (1..=70).chain([1003, 1100]);
        for (t, n) in ns.enumerate() {
            for k in 1..=4 {
                let m = if n > 100 { 19 } else { 7 };
                let a = random(m, k, 7 * t as u64 + k as u64, false);
                let b = random(k, n, 7 * t as u64 + k as u64 + 100, false);
                check::<f64>(&a, &b, m, k, n);
                let (a32, b32) = (cast(&a, DType::F32), cast(&b, DType::F32));
                check::<f32>(&a32, &b32, m, k, n);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn output_blocks_split_the_threads_evenly() {
        // f32 tiles of 24 along the columns of a row-major output, 16 along its rows
        let f32 = [24, 16];
        // 64 columns would go in blocks of 48 and 16: two of 32 rows instead
        // (NOTE: [balanced-blocks])
        assert_eq!(output_blocks(64, 64, 10_000, 2, f32), (false, 32));
        // AVX-512 tiles of 16 split the 64 columns evenly: they stay
        assert_eq!(output_blocks(64, 64, 10_000, 2, [16, 16]), (true, 32));
        // a square product in four blocks of columns, whole tiles, near enough to even
        assert_eq!(output_blocks(512, 512, 512, 2, f32), (true, 144));
        // tall: blocks of rows; wide with few rows: columns, at most 504
        assert_eq!(output_blocks(10_000, 64, 64, 2, f32), (false, 5008));
        assert_eq!(output_blocks(64, 10_000, 64, 2, f32), (true, 504));
        // one thread: one block
        assert_eq!(output_blocks(64, 64, 10_000, 1, f32), (true, 64));
    }

    #[test]
    fn products_split_over_threads_match_the_naive_product() {
        // inside a pool of 3 threads, whatever the machine: blocks of columns (square, wide
        // with few rows, in blocks of 512), blocks of rows (tall), uneven last blocks, the
        // larger split above 2²⁶ multiply-adds, matrix-vector products with 4-row groups and a
        // remainder (whose results must not depend on the split), a large outer product, and
        // few rows by many columns (split by columns), k = 4 by scaled rows in tiles, the
        // small-product kernels in blocks of columns (32 rows) and of rows (64), a dense
        // product of 64 columns in two blocks, and a column-major `a` copied in bands; every
        // result the same bit for bit on one thread
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let shapes = [
            (200, 150, 333),
            (1000, 40, 70),
            (64, 48, 2100),
            (100, 20, 3000),
            (300, 256, 900),
            (3001, 100, 1),
            (43, 300, 1),
            (300, 64, 20),
            (1100, 3, 501),
            (20, 70, 700),
            (1100, 4, 1003),
            (32, 256, 128),
            (64, 300, 64),
            (64, 1000, 64),
            (40, 30, 50),
            // a column-major `a` large enough to be copied row-major in bands of rows on
            // all threads, the last band short (NOTE: [parallel-transpose])
            (301, 250, 97),
            // 74 columns of f32 in blocks of 48 and 26 on three threads: the blocks run
            // along the rows instead (NOTE: [balanced-blocks])
            (48, 200, 74),
        ];
        for (i, &(m, k, n)) in shapes.iter().enumerate() {
            let a = random(m, k, 40 + i as u64, i % 2 == 1 && n > 1);
            let b = random(k, n, 50 + i as u64, false);
            let want = dense(&values(&a), &values(&b), m, k, n);
            let (a32, b32) = (cast(&a, DType::F32), cast(&b, DType::F32));
            for backend in [
                Backend::Own,
                Backend::Avx512,
                Backend::Avx2,
                Backend::Portable,
            ] {
                let mut runs = Vec::new();
                for pool in [&pool, &one] {
                    let got = pool.install(|| matmul_on::<f64>(backend, &a, &b));
                    let got = got.to_vec::<f64>().unwrap();
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-13 * k as f64,
                            "{m}×{k}×{n} on {backend:?}: {g} vs {w}"
                        );
                    }
                    let got32 = pool.install(|| matmul_on::<f32>(backend, &a32, &b32));
                    let got32 = cast(&got32, DType::F64).to_vec::<f64>().unwrap();
                    for (g, w) in got32.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-5 * k as f64,
                            "f32 {m}×{k}×{n} on {backend:?}: {g} vs {w}"
                        );
                    }
                    runs.push((got, got32));
                }
                assert_eq!(runs[0], runs[1], "{m}×{k}×{n} on {backend:?}");
            }
        }
    }

    /// NOTE: [par-work]: a GEMM's estimated time counts the vector lanes a narrow output
    /// leaves empty and the writes of a short inner dimension.
    #[test]
    fn gemm_costs_count_empty_lanes_and_writes() {
        assert_eq!(gemm_cost::<f64>(128, 128), Cost(37));
        assert_eq!(gemm_cost::<f64>(10, 128), Cost(58));
        assert_eq!(gemm_cost::<f32>(128, 10), Cost(26));
        assert_eq!(gemm_cost::<f32>(8, 8), Cost(46));
        // degenerate sides cannot divide by zero
        assert_eq!(gemm_cost::<f64>(0, 0), Cost(288 + 160));
        // 256 × 10 × 128 in f32 (about 9 µs) stays whole outside the pool; 128³ in f64 splits
        let est = |macs: u64, c: Cost| macs * c.0 as u64;
        assert!(est(256 * 10 * 128, gemm_cost::<f32>(128, 10)) < GEMM_SPLIT.work_ps);
        assert!(est(128 * 128 * 128, gemm_cost::<f64>(128, 128)) >= GEMM_SPLIT.work_ps);
    }

    #[test]
    fn products_in_pieces_along_rows_and_columns() {
        // NOTE: [gemm-pieces]: deep enough and wide enough to be cut, along the columns of a
        // row-major output and along the rows of a column-major one (a shared left operand
        // against a batch of vectors, written transposed), with a rest in both types
        let (m, k, nb) = (300, 260, 150);
        let a = random(m, k, 21, false);
        let x = random(nb, k, 22, false).reshape(&[nb, k, 1]);
        let b = random(k, nb, 23, false);
        let (av, bv) = (values(&a), values(&b));
        let (a32, x32, b32) = (
            cast(&a, DType::F32),
            cast(&x, DType::F32),
            cast(&b, DType::F32),
        );
        for backend in [Backend::Avx2, Backend::Portable] {
            let got = matmul_on::<f64>(backend, &a, &x).to_vec::<f64>().unwrap();
            let got32 = matmul_on::<f32>(backend, &a32, &x32);
            let got32 = cast(&got32, DType::F64).to_vec::<f64>().unwrap();
            for t in 0..nb {
                let want = dense(&av, &values(&x.slice(0, t, 1, 1)), m, k, 1);
                for (i, w) in want.iter().enumerate() {
                    let (g, g32) = (got[t * m + i], got32[t * m + i]);
                    assert!((g - w).abs() <= 1e-13 * k as f64, "{backend:?}: {g} vs {w}");
                    assert!(
                        (g32 - w).abs() <= 1e-5 * k as f64,
                        "{backend:?}: {g32} vs {w}"
                    );
                }
            }
            let want = dense(&av, &bv, m, k, nb);
            let got = matmul_on::<f64>(backend, &a, &b).to_vec::<f64>().unwrap();
            let got32 = matmul_on::<f32>(backend, &a32, &b32);
            let got32 = cast(&got32, DType::F64).to_vec::<f64>().unwrap();
            for ((g, g32), w) in got.iter().zip(&got32).zip(&want) {
                assert!((g - w).abs() <= 1e-13 * k as f64, "{backend:?}: {g} vs {w}");
                assert!(
                    (g32 - w).abs() <= 1e-5 * k as f64,
                    "{backend:?}: {g32} vs {w}"
                );
            }
        }
    }

    #[test]
    fn batched_and_broadcast_products_on_every_backend() {
        // a batch of 3 against a shared right operand (folded into one GEMM), a shared left
        // operand against a batch of vectors, and a broadcast (stride-0) batch of left operands
        let (m, k, n) = (40, 48, 36);
        let a = random(3 * m, k, 11, false).reshape(&[3, m, k]);
        let b = random(k, n, 12, true);
        let x = random(3, k, 13, false).reshape(&[3, k, 1]);
        let a1 = random(m, k, 14, false);
        for backend in [
            Backend::Own,
            Backend::Avx512,
            Backend::Avx2,
            Backend::Portable,
        ] {
            let got = matmul_on::<f64>(backend, &a, &b).to_vec::<f64>().unwrap();
            let bv = values(&b);
            for t in 0..3 {
                let at = values(&a.slice(0, t, 1, 1));
                let want = dense(&at, &bv, m, k, n);
                for (g, w) in got[t * m * n..(t + 1) * m * n].iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-12, "{backend:?}: {g} vs {w}");
                }
            }
            let got = matmul_on::<f64>(backend, &a1, &x).to_vec::<f64>().unwrap();
            let av = values(&a1);
            for t in 0..3 {
                let xt = values(&x.slice(0, t, 1, 1));
                let want = dense(&av, &xt, m, k, 1);
                for (g, w) in got[t * m..(t + 1) * m].iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-12, "{backend:?}: {g} vs {w}");
                }
            }
            let abig = a1.broadcast_to(&[2, m, k]);
            let got = matmul_on::<f64>(backend, &abig, &b)
                .to_vec::<f64>()
                .unwrap();
            let want = dense(&av, &bv, m, k, n);
            for (g, w) in got.iter().zip(want.iter().chain(&want)) {
                assert!((g - w).abs() <= 1e-12, "{backend:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn batched_small_products_on_every_backend() {
        // batches of small products (with and without a sparsity scan, one row or column,
        // n = 10), each element's operands plain or transposed, and a broadcast (stride-0)
        // left operand against a batch of right operands, in f64 and f32, on every backend
        let nb = 5;
        for (s, &(m, k, n)) in [
            (8, 8, 8),
            (3, 5, 7),
            (16, 64, 32),
            (5, 9, 1),
            (1, 7, 12),
            (20, 6, 17),
            (24, 30, 10),
        ]
        .iter()
        .enumerate()
        {
            for (ta, tb, shared_a) in [
                (false, false, false),
                (true, false, false),
                (false, true, false),
                (true, true, false),
                (false, false, true),
            ] {
                let seed = 100 + 10 * s as u64;
                let batch = |rows: usize, cols: usize, seed: u64, t: bool| {
                    if t {
                        random(nb * cols, rows, seed, false)
                            .reshape(&[nb, cols, rows])
                            .permute(&[0, 2, 1])
                    } else {
                        random(nb * rows, cols, seed, false).reshape(&[nb, rows, cols])
                    }
                };
                let a = if shared_a {
                    random(m, k, seed, ta).broadcast_to(&[nb, m, k])
                } else {
                    batch(m, k, seed, ta)
                };
                let b = batch(k, n, seed + 1, tb);
                let (a32, b32) = (cast(&a, DType::F32), cast(&b, DType::F32));
                for backend in [
                    Backend::Own,
                    Backend::Avx512,
                    Backend::Avx2,
                    Backend::Portable,
                ] {
                    let got = values(&matmul_on::<f64>(backend, &a, &b));
                    let got32 = cast(&matmul_on::<f32>(backend, &a32, &b32), DType::F64);
                    let got32 = values(&got32);
                    for t in 0..nb {
                        let at = values(&a.slice(0, t, 1, 1));
                        let bt = values(&b.slice(0, t, 1, 1));
                        let want = dense(&at, &bt, m, k, n);
                        let r = t * m * n..(t + 1) * m * n;
                        for ((g, g32), w) in got[r.clone()].iter().zip(&got32[r]).zip(&want) {
                            assert!(
                                (g - w).abs() <= 1e-13 * k as f64,
                                "{m}×{k}×{n} ({ta}, {tb}, {shared_a}) {backend:?}: {g} vs {w}"
                            );
                            assert!(
                                (g32 - w).abs() <= 1e-5 * k as f64,
                                "f32 {m}×{k}×{n} ({ta}, {tb}) {backend:?}: {g32} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_large_batch_of_small_products_split_over_threads() {
        // enough tiny products for the batch to be split over a pool of 3 threads
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let (nb, m, k, n) = (601, 8, 8, 8);
        let a = random(nb * m, k, 7, false).reshape(&[nb, m, k]);
        let b = random(nb * k, n, 8, false).reshape(&[nb, k, n]);
        let got = values(&pool.install(|| matmul::<f64>(&a, &b)));
        for t in [0, 1, 300, 599, 600] {
            let want = dense(
                &values(&a.slice(0, t, 1, 1)),
                &values(&b.slice(0, t, 1, 1)),
                m,
                k,
                n,
            );
            for (g, w) in got[t * m * n..(t + 1) * m * n].iter().zip(&want) {
                assert!((g - w).abs() <= 1e-13 * k as f64, "element {t}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn zero_times_infinity_stays_nan() {
        // the dense operand holds an infinity where the sparse one is zero: the dense product's
        // NaN must survive, so the sparse path must not be taken
        let (m, k, n) = (40, 30, 20);
        let mut a = vec![1.0; m * k];
        a[5 * k + 3] = f64::INFINITY;
        let mut b = vec![0.0; k * n];
        b[0] = 1.0;
        let got = matmul::<f64>(&Array::from_vec(a, &[m, k]), &Array::from_vec(b, &[k, n]))
            .to_vec::<f64>()
            .unwrap();
        assert!(
            got[5 * n].is_nan(),
            "0 * inf must give NaN as in the dense product"
        );
    }
}
