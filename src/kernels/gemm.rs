//! A dense matrix product of our own for CPUs with AVX-512: packed operand panels and a
//! register-blocked micro-kernel written with `std::arch` intrinsics, f32 and f64, any strides;
//! and small-product kernels without packing, for AVX-512 and for AVX2.
//!
//! NOTE: [gemm] The blocking (the BLIS scheme):
//!
//! - The micro-kernel computes an `mr × nr` tile of the output in `mr · nv` vector
//!   accumulators, `nr` = `nv` 512-bit vectors of columns: each step of the depth loads `nv`
//!   vectors of a packed row of `b` and broadcasts `mr` values of a column of `a`. Tiles
//!   8 × 3 vectors (24 f64 columns), 14 × 2 and 6 × 4 (24–28 accumulators, 4–5 registers for
//!   operands, no spills); each product takes the one that pads its output least. The tile's
//!   columns run along the output's contiguous dimension (a column-major output computes the
//!   transposed product), so rows are stored as whole vectors, the last ones masked, and a
//!   tile of the output that is added to (past the first depth block) is prefetched while the
//!   depth loop runs.
//! - The depth is cut into blocks of `KC` = 128: a packed `KC × nr` panel of `b` (24 KB f64)
//!   stays in the 48 KB L1 while the micro-kernel runs down the `MC × KC` block of `a`
//!   (MC = 504 rows, 504 KB f64, in the 2 MB L2), and the `KC × NC` block of packed `b`
//!   (NC = 2048 f64 / 4096 f32 columns, 2 MB) stays in L3 across the blocks of `a`. Measured
//!   at 256–1024³ (f64, one thread): KC = 128, 192 and 256 within the noise of each other.
//! - Packing copies any strides (transposed or broadcast views) into unit-stride panels padded
//!   with zeros to whole tiles, so the micro-kernel has no edge cases inside its loop; the
//!   padding only feeds tile elements that are never stored. Packing `a` is a scalar gather
//!   (one element a cycle at best), which costs 20–30% at 64³–256³ and with a long depth
//!   (64 × 10⁴ × 64): for outputs narrower than 512 columns, whole panels of unit-stride rows
//!   of `a` are read in place by the direct kernels (broadcasts from `mr` rows), measured
//!   10–25% faster there; at 1024³ packing wins (power-of-two row strides conflict in L1).
//!   Packing buffers are kept per thread and reused, so large products take no page faults.
//! - Each output element is the sum of its depth blocks in order, each block summed by one
//!   chain of FMAs over its depth; nothing depends on where the element falls in a tile or on
//!   the number of threads, so splitting the output over threads (never the depth) gives the
//!   same bits. Threads take blocks of rows and share each packed block of `b` (packed by all
//!   of them), or, for products with few rows, blocks of columns.
//!
//! Measured against `private-gemm-x86` (assembly micro-kernels, the `Avx512` backend), one
//! thread, CPU time, old and new binaries alternated: f64 64³ 9 vs 8–9 µs, 256³ 420 vs
//! 400–410 µs, 1024³ 28.1–28.8 vs 26.9–27.5 ms (76 GFLOP/s, 84% of the core's 90.4 peak),
//! 64 × 10⁴ × 64 1.37 vs 1.25 ms, 256 × 64 × 128 50–54 µs for both, f32 512³ 1.64–1.68 vs
//! 1.60–1.64 ms; on two threads 15–25% more CPU time than one (a fork-join per depth block),
//! where `Avx512` costs the same as one thread. So this is not the default backend yet.
//!
//! NOTE: [small-gemm] Small products (at most 2²¹ multiply-adds: the MLP shapes with n = 10,
//! batches of 16 × 64 × 32 or 8 × 8 × 8) cost as much in packing, padding to whole tiles and
//! per-call set-up as in arithmetic, so [`small`] runs them without packing anything: its
//! kernels broadcast elements of `a` from where they are (any strides) and load `b`'s rows in
//! place (unit stride; a `b` without, copied row-major once), `nv` vectors a row, the last
//! ones masked to the columns left, so nothing past a row is read or written. Tiles of 16, 12,
//! 8 and 6 rows for 1–4 vectors (16–24 accumulators); a panel's rows are split evenly over
//! its tiles, a shorter last tile rather than padding; depth blocks of 256, the block of `b`
//! kept in cache across blocks of 48 rows. A batch of equal products works out its tiles
//! once ([`small_batch`]). Measured (one thread, CPU time, against the routes before: the
//! `gemm` crate for n = 10 and f32 batches, the GEMM here for f64 batches, scaled rows for
//! 8 × 8 × 8): 1000 × (8 × 8 × 8) 110 → 27 µs f64, 66 → 25 µs f32; 512 × (16 × 64 × 32)
//! 2.1 → 1.0 ms f64, 405 → 350 µs f32; 256 × 128 × 10 20.6 → 19.2 µs f64, 12.5 → 9.5 µs
//! f32; 64³ and 64 × 256 × 128 3–5% faster. Products with a short depth and 64 columns or
//! more (256 × 10 × 128) measured 5% slower than the packing GEMM here, and larger ones
//! (10⁴ × 64 × 64) 3–10% slower than `private-gemm-x86`, so they stay there.
//!
//! The same kernels for AVX2 ([`SmallIsa::Avx2`], 16 registers of 256 bits): tiles of 12 rows
//! by one vector and 6 (5 when the last vector is partial) by two, at most 15 registers with
//! the mask. A panel takes at most two vectors because 4 × 3 spilled an accumulator to the
//! stack (and the mask, which AVX2 keeps in a vector register, with it) and ran at half the
//! rate. The last vector of a panel is loaded and stored with `vmaskmovpd`/`vmaskmovps` only
//! where it is partial. Measured on AMD Zen 3, one thread, CPU time, builds alternated, against
//! the routes before (`private-gemm-x86`'s AVX2 kernels, the `gemm` crate for n = 10):
//! 1000 × (8 × 8 × 8) 110 → 39 µs f64, 88 → 25 µs f32; 512 × (16 × 64 × 32) 1.41 → 1.05 ms
//! f64, 508 µs both f32; 128 × 256 × 10 23.2 → 21.4 µs f64, 12.8 → 12.2 µs f32; the other
//! n = 10 products within 3%. Products 64 columns wide or more (256 × 64 × 128, 128³) ran
//! 10–30% slower than `private-gemm-x86` (which packs `b`: the likely cause, not confirmed on
//! this machine without cache counters, is `b`'s rows read in place at a power-of-two stride
//! falling into a few L1 sets), so on AVX2 only batches and outputs narrower than 16 columns
//! take these kernels.

use crate::array::Float;
use std::cell::Cell;

/// Depth of one block.
const KC: usize = 128;
/// Bytes of one row of a packed block of `b` (its columns: 2048 f64 or 4096 f32).
const NC_BYTES: usize = 16384;
/// Products with fewer output columns than this read unit-stride rows of `a` in place.
const DIRECT_MAX_N: usize = 512;
/// Rows of one packed block of `a`.
const MC: usize = 504;

/// Whether this CPU runs the kernels here (AVX-512, under the cap of NOTE: [cpu-capability]).
pub(crate) fn available() -> bool {
    super::math::isa() == super::math::Isa::Avx512
}

/// A strided matrix: element (i, j) at `ptr + i·rs + j·cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

// SAFETY: a Mat is a view shared by the threads of one product, which write disjoint parts of
// the output
unsafe impl<T> Send for Mat<T> {}
// SAFETY: as above
unsafe impl<T> Sync for Mat<T> {}

impl<T> Mat<T> {
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> *const T {
        self.ptr
            .wrapping_offset(i as isize * self.rs + j as isize * self.cs)
    }

    fn t(self) -> Self {
        Mat {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// `c[m × n] = a[m × k] @ b[k × n]` on up to `threads` threads (of the current rayon pool).
/// `c` is written, never read before it is written, so it may hold anything.
///
/// # Safety
/// [`available`] must be true; `a`, `b` and `c` must address matrices of these sizes with their
/// strides, `c`'s elements distinct (no zero or overlapping strides) and not overlapping `a` or
/// `b`; `k > 0`.
pub(crate) unsafe fn gemm<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
    threads: usize,
) {
    // the tile's columns along the output's contiguous dimension
    if c.cs.unsigned_abs() > c.rs.unsigned_abs() {
        // SAFETY: the transposed product addresses the same memory
        return unsafe { gemm(n, m, k, b.t(), a.t(), c.t(), threads) };
    }
    // SAFETY: T is f32 or f64 (the only `Float`s), so the casts name the same type; the
    // caller's guarantees carry over
    unsafe {
        if size_of::<T>() == 8 {
            run::<f64>(m, n, k, cast(a), cast(b), cast(c), threads)
        } else {
            run::<f32>(m, n, k, cast(a), cast(b), cast(c), threads)
        }
    }
}

fn cast<T, U>(m: Mat<T>) -> Mat<U> {
    Mat {
        ptr: m.ptr as *const U,
        rs: m.rs,
        cs: m.cs,
    }
}

/// A micro-kernel: `c[rows × cols] (+)= a_panel @ b_panel` over depth `kc` (written when
/// `first`, else added to), for a packed panel of `nr` columns of `b` and a panel of `mr` rows
/// of `a`: packed, or (the direct kernels) read in place from rows `a_rs` apart.
///
/// # Safety
/// AVX-512F present; `a` holds `kc · mr` packed elements, or (direct) `mr` rows of `kc`
/// contiguous elements `a_rs` apart; `b` addresses `kc` rows of `nr` contiguous elements, `b_rs`
/// apart (`nr` for a packed panel, NOTE: [wide-panels]); `c` addresses a
/// `rows × cols` block (rows ≤ mr, cols ≤ nr) with strides `c_rs`, `c_cs`. Unless `pf` is
/// null, step l of the depth also prefetches the line at `pf + l·pf_rs` into L2 (a hint, never
/// read: any address will do; NOTE: [wide-panels]).
type Kernel<T> = unsafe fn(
    kc: usize,
    a: *const T,
    a_rs: isize,
    b: *const T,
    b_rs: isize,
    c: *mut T,
    c_rs: isize,
    c_cs: isize,
    rows: usize,
    cols: usize,
    first: bool,
    pf: *const T,
    pf_rs: isize,
);

/// An element type with micro-kernels.
trait Elem: Copy + Send + Sync + 'static {
    /// Elements in one 512-bit vector.
    const LANES: usize;
    const ZERO: Self;
    /// The micro-kernel of `mr` rows by `nv` vectors of columns, reading `a` packed or in place
    /// (`direct`), if there is one.
    fn kernel(mr: usize, nv: usize, direct: bool) -> Option<Kernel<Self>>;
    /// The small-product kernel of `mr` rows by `nv` vectors of `isa`'s columns, the last
    /// vector partial if `masked` (NOTE: [small-gemm]), if there is one.
    fn small(isa: SmallIsa, mr: usize, nv: usize, masked: bool) -> Option<SmallKernel<Self>>;
}

/// The vector registers a small product's kernels run in (NOTE: [small-gemm]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SmallIsa {
    /// 32 registers of 512 bits (AVX-512F).
    Avx512,
    /// 16 registers of 256 bits (AVX2 and FMA).
    Avx2,
}

impl SmallIsa {
    /// Whether this CPU runs these kernels.
    pub(crate) fn available(self) -> bool {
        match self {
            SmallIsa::Avx512 => available(),
            SmallIsa::Avx2 => super::simd(),
        }
    }

    /// Elements of `T` in one vector.
    fn lanes<T>(self) -> usize {
        match self {
            SmallIsa::Avx512 => 64 / size_of::<T>(),
            SmallIsa::Avx2 => 32 / size_of::<T>(),
        }
    }

    /// Vectors of columns in one panel, at most.
    fn max_vectors(self) -> usize {
        match self {
            SmallIsa::Avx512 => 4,
            SmallIsa::Avx2 => 2,
        }
    }

    /// Rows of the tile for `nv` vectors of columns, the last partial if `masked`: `rows · nv`
    /// accumulators, `nv` vectors of `b`, one broadcast element of `a` and (AVX2, `masked`) the
    /// mask in the registers, 32 of AVX-512 and 16 of AVX2. (AVX2 tiles of 4 × 3 vectors spill
    /// an accumulator to the stack and ran at half the rate of 6 × 2.)
    fn tile_rows(self, nv: usize, masked: bool) -> usize {
        match self {
            SmallIsa::Avx512 => [0, 16, 12, 8, 6][nv],
            SmallIsa::Avx2 => [0, 12, if masked { 5 } else { 6 }][nv],
        }
    }
}

/// A small-product kernel: `c[MR × cols] (+)= a[MR × kc] @ b[kc × cols]` (written when
/// `first`, else added to), `a` read in place with any strides, `b` in place from rows `b_rs`
/// apart (unit stride along a row), `c` with unit stride along a row; `cols ≤ NV · lanes`,
/// the last vectors masked (NOTE: [small-gemm]).
///
/// # Safety
/// AVX-512F present; `a` addresses an `MR × kc` matrix with strides (`a_rs`, `a_cs`), `b` a
/// `kc × cols` one with strides (`b_rs`, 1), `c` an `MR × cols` one with strides (`c_rs`, 1).
type SmallKernel<T> = unsafe fn(
    kc: usize,
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    c: *mut T,
    c_rs: isize,
    cols: usize,
    first: bool,
);

/// `match mr` over the small kernels `$imp` of `nv` vectors (and `masked`, for the AVX2 ones)
/// and each listed row count.
macro_rules! small_rows {
    ($T:ty, $imp:ident, $mr:expr, $nv:literal: $($m:literal)*) => {
        match $mr {
            $($m => $imp::<$m, $nv> as SmallKernel<$T>,)*
            _ => return None,
        }
    };
    ($T:ty, $imp:ident, $mr:expr, $nv:literal, $masked:literal: $($m:literal)*) => {
        match $mr {
            $($m => $imp::<$m, $nv, $masked> as SmallKernel<$T>,)*
            _ => return None,
        }
    };
}

macro_rules! kernel {
    ($T:ty, $lanes:expr, $mask:ty, $zero:ident, $loadu:ident, $set1:ident, $fmadd:ident,
     $add:ident, $storeu:ident, $mloadu:ident, $mstoreu:ident) => {
        impl Elem for $T {
            const LANES: usize = $lanes;
            const ZERO: Self = 0.0;
            fn kernel(mr: usize, nv: usize, direct: bool) -> Option<Kernel<Self>> {
                #[cfg(target_arch = "x86_64")]
                {
                    Some(match (mr, nv, direct) {
                        (14, 2, false) => imp::<14, 2, false>,
                        (8, 3, false) => imp::<8, 3, false>,
                        (6, 4, false) => imp::<6, 4, false>,
                        (8, 3, true) => imp::<8, 3, true>,
                        (6, 4, true) => imp::<6, 4, true>,
                        _ => return None,
                    })
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (mr, nv, direct);
                    None
                }
            }
            fn small(
                isa: SmallIsa,
                mr: usize,
                nv: usize,
                masked: bool,
            ) -> Option<SmallKernel<Self>> {
                #[cfg(target_arch = "x86_64")]
                {
                    // the tiles of `SmallIsa::tile_rows` and every shorter one
                    Some(match (isa, nv, masked) {
                        (SmallIsa::Avx512, 1, false) => {
                            small_rows!($T, small_imp, mr, 1, false: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
                        }
                        (SmallIsa::Avx512, 1, true) => {
                            small_rows!($T, small_imp, mr, 1, true: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
                        }
                        (SmallIsa::Avx512, 2, false) => {
                            small_rows!($T, small_imp, mr, 2, false: 1 2 3 4 5 6 7 8 9 10 11 12)
                        }
                        (SmallIsa::Avx512, 2, true) => {
                            small_rows!($T, small_imp, mr, 2, true: 1 2 3 4 5 6 7 8 9 10 11 12)
                        }
                        (SmallIsa::Avx512, 3, false) => {
                            small_rows!($T, small_imp, mr, 3, false: 1 2 3 4 5 6 7 8)
                        }
                        (SmallIsa::Avx512, 3, true) => {
                            small_rows!($T, small_imp, mr, 3, true: 1 2 3 4 5 6 7 8)
                        }
                        (SmallIsa::Avx512, 4, false) => {
                            small_rows!($T, small_imp, mr, 4, false: 1 2 3 4 5 6)
                        }
                        (SmallIsa::Avx512, 4, true) => {
                            small_rows!($T, small_imp, mr, 4, true: 1 2 3 4 5 6)
                        }
                        (SmallIsa::Avx2, 1, false) => {
                            small_rows!($T, small_avx2, mr, 1, false: 1 2 3 4 5 6 7 8 9 10 11 12)
                        }
                        (SmallIsa::Avx2, 1, true) => {
                            small_rows!($T, small_avx2, mr, 1, true: 1 2 3 4 5 6 7 8 9 10 11 12)
                        }
                        (SmallIsa::Avx2, 2, false) => {
                            small_rows!($T, small_avx2, mr, 2, false: 1 2 3 4 5 6)
                        }
                        (SmallIsa::Avx2, 2, true) => {
                            small_rows!($T, small_avx2, mr, 2, true: 1 2 3 4 5)
                        }
                        _ => return None,
                    })
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (isa, mr, nv, masked);
                    None
                }
            }
        }

        /// The small-product kernel of MR rows by NV vectors of columns: MR · NV
        /// accumulators; when MASKED, the last vector of `b`'s rows loaded and stored masked
        /// to `cols` (so nothing past a row is read or written).
        ///
        /// # Safety
        /// As for [`SmallKernel`], with `cols = NV · lanes`, or `(NV - 1) · lanes < cols` when
        /// MASKED.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn small_imp<const MR: usize, const NV: usize, const MASKED: bool>(
            kc: usize,
            a: *const $T,
            a_rs: isize,
            a_cs: isize,
            b: *const $T,
            b_rs: isize,
            c: *mut $T,
            c_rs: isize,
            cols: usize,
            first: bool,
        ) {
            use std::arch::x86_64::*;
            const L: usize = $lanes;
            debug_assert!(if MASKED {
                (NV - 1) * L < cols && cols <= NV * L
            } else {
                cols == NV * L
            });
            // NOTE: [small-masks] Only the last vector of a partial row is loaded and stored
            // under a mask: a masked load of a whole vector measured 10–14% slower than a plain
            // one in the 6 × 4 tile (f64, rows in L1 and L2), as if it took a slot of the
            // ports that run the multiply-adds.
            let last: $mask = {
                let w = cols - (NV - 1) * L;
                if w >= L { !0 } else { (1 << w) - 1 }
            };
            // vector v of the row at p
            let load = |p: *const $T, v: usize| {
                // SAFETY: the callers' rows hold `cols` elements (the kernel's contract),
                // and the mask keeps the last vector to those
                unsafe {
                    if MASKED && v == NV - 1 {
                        $mloadu($zero(), last, p.add(v * L))
                    } else {
                        $loadu(p.add(v * L))
                    }
                }
            };
            let mut acc = [[$zero(); NV]; MR];
            // NOTE: [small-unroll] Row r of `a` is addressed as row r − 1's address plus
            // `a_rs`: a chain of MR dependent additions per step of the depth. Where `a`'s rows
            // have unit stride the depth is unrolled by 4: the chain is walked once per 4
            // steps, and the 4 values of a row are read at fixed offsets from its address.
            // (Without the unit stride, the compiler kept an offset for each row and step, on
            // the stack.) Each accumulator still adds its products in the order of the depth,
            // so the sums are those of the loop below.
            // - One vector of columns: the chain (17 cycles for 16 rows) took twice the 8
            //   cycles of the step's 16 multiply-adds; the 4 rows of `b` are loaded first.
            //   f32 256 × 128 × 10, one thread: 11.8 → 7.8 µs.
            // - Three and four vectors (8 × 3, 6 × 4): each step's rows of `b` are loaded in
            //   turn. f64 128³, one thread: 80 → 87 GFLOP/s with `b`'s rows 1 KB apart, 90 →
            //   91 where they are not a power of two apart (the loop alone, 6 × 4).
            // - Two vectors (12 rows) are not unrolled: the 12 row addresses and the unrolled
            //   steps spilled, at half the rate; their step is bound by its loads (f64
            //   256 × 128 × 10 unchanged at 13.9 µs unrolled by 2).
            let unroll: usize = if NV == 2 { 1 } else { 4 };
            // SAFETY: kc steps down MR rows of a and kc rows of b, each inside its matrix;
            // the last vector of b's rows loaded masked to its `cols` columns when MASKED
            unsafe {
                let (mut a, mut b) = (a, b);
                let mut steps = kc;
                while unroll > 1 && a_cs == 1 && steps >= unroll {
                    if NV == 1 {
                        let mut bv = [[$zero(); NV]; 4];
                        for (u, bu) in bv.iter_mut().enumerate() {
                            let row = b.offset(u as isize * b_rs);
                            for v in 0..NV {
                                bu[v] = load(row, v);
                            }
                        }
                        for r in 0..MR {
                            let row = a.offset(r as isize * a_rs);
                            for (u, bu) in bv.iter().enumerate() {
                                let ar = $set1(*row.add(u));
                                for v in 0..NV {
                                    acc[r][v] = $fmadd(ar, bu[v], acc[r][v]);
                                }
                            }
                        }
                    } else {
                        for u in 0..4 {
                            let row = b.offset(u as isize * b_rs);
                            let mut bv = [$zero(); NV];
                            for v in 0..NV {
                                bv[v] = load(row, v);
                            }
                            for r in 0..MR {
                                let ar = $set1(*a.offset(r as isize * a_rs + u as isize));
                                for v in 0..NV {
                                    acc[r][v] = $fmadd(ar, bv[v], acc[r][v]);
                                }
                            }
                        }
                    }
                    a = a.add(4);
                    b = b.offset(4 * b_rs);
                    steps -= 4;
                }
                for _ in 0..steps {
                    let mut bv = [$zero(); NV];
                    for v in 0..NV {
                        bv[v] = load(b, v);
                    }
                    for r in 0..MR {
                        let ar = $set1(*a.offset(r as isize * a_rs));
                        for v in 0..NV {
                            acc[r][v] = $fmadd(ar, bv[v], acc[r][v]);
                        }
                    }
                    a = a.offset(a_cs);
                    b = b.offset(b_rs);
                }
            }
            // SAFETY: row r < MR of c, its first `cols` elements contiguous (the last vector
            // masked when MASKED)
            unsafe {
                for r in 0..MR {
                    let p = c.offset(r as isize * c_rs);
                    for v in 0..NV {
                        let mut x = acc[r][v];
                        if !first {
                            x = $add(x, load(p, v));
                        }
                        if MASKED && v == NV - 1 {
                            $mstoreu(p.add(v * L), last, x);
                        } else {
                            $storeu(p.add(v * L), x);
                        }
                    }
                }
            }
        }

        /// The micro-kernel of MR rows by NV vectors of columns: MR · NV accumulators.
        ///
        /// # Safety
        /// As for [`Kernel`].
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn imp<const MR: usize, const NV: usize, const DIRECT: bool>(
            kc: usize,
            a: *const $T,
            a_rs: isize,
            b: *const $T,
            b_rs: isize,
            c: *mut $T,
            c_rs: isize,
            c_cs: isize,
            rows: usize,
            cols: usize,
            first: bool,
            pf: *const $T,
            pf_rs: isize,
        ) {
            use std::arch::x86_64::*;
            const L: usize = $lanes;
            let mut acc = [[$zero(); NV]; MR];
            if c_cs == 1 && !first {
                // the tile of c is read at the end: fetch it meanwhile. A tile written without
                // being read is left to the stores: fetching it too measured 5% slower at
                // 64 × 64 · 64 × 10⁴ f64 (the prefetches wait for fill buffers) and 12% at
                // 256 × 10 · 10 × 128 (10.8 against 9.5 µs), and no faster at 256³–1024³.
                for r in 0..MR {
                    if r < rows {
                        let p = c.wrapping_offset(r as isize * c_rs);
                        for v in 0..NV {
                            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(v * L) as *const i8);
                        }
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(NV * L - 1) as *const i8);
                    }
                }
            }
            // SAFETY: the panels hold kc steps of MR and NV·L elements
            unsafe {
                let (mut a, mut b) = (a, b);
                // one step of the depth: NV vectors of b's row, MR broadcasts of a's column
                let mut step = |acc: &mut [[_; NV]; MR]| {
                    let mut bv = [$zero(); NV];
                    for v in 0..NV {
                        bv[v] = $loadu(b.add(v * L));
                    }
                    for r in 0..MR {
                        let ar = if DIRECT {
                            $set1(*a.offset(r as isize * a_rs))
                        } else {
                            $set1(*a.add(r))
                        };
                        for v in 0..NV {
                            acc[r][v] = $fmadd(ar, bv[v], acc[r][v]);
                        }
                    }
                    a = a.add(if DIRECT { 1 } else { MR });
                    b = b.offset(b_rs);
                };
                if pf.is_null() {
                    for _ in 0..kc {
                        step(&mut acc);
                    }
                } else {
                    for l in 0..kc {
                        let p = pf.wrapping_offset(l as isize * pf_rs);
                        _mm_prefetch::<_MM_HINT_T1>(p as *const i8);
                        step(&mut acc);
                    }
                }
            }
            if c_cs == 1 {
                let mut masks = [0 as $mask; NV];
                for v in 0..NV {
                    let w = cols.saturating_sub(v * L).min(L);
                    masks[v] = if w == L { !0 } else { (1 << w) - 1 };
                }
                let full = cols == NV * L;
                // SAFETY: row r < rows of c, its first `cols` elements contiguous (masked)
                unsafe {
                    for r in 0..MR {
                        if r < rows {
                            let p = c.offset(r as isize * c_rs);
                            for v in 0..NV {
                                let mut x = acc[r][v];
                                if !first {
                                    x = $add(x, $mloadu($zero(), masks[v], p.add(v * L)));
                                }
                                if full {
                                    $storeu(p.add(v * L), x);
                                } else {
                                    $mstoreu(p.add(v * L), masks[v], x);
                                }
                            }
                        }
                    }
                }
            } else {
                let mut tile = [[[0.0 as $T; L]; NV]; MR];
                for r in 0..MR {
                    for v in 0..NV {
                        // SAFETY: each vector of `tile` holds L elements
                        unsafe { $storeu(tile[r][v].as_mut_ptr(), acc[r][v]) };
                    }
                }
                for (r, row) in tile.iter().enumerate().take(rows) {
                    for (j, &x) in row.as_flattened().iter().enumerate().take(cols) {
                        // SAFETY: (r, j) is inside the rows × cols block
                        unsafe {
                            let p = c.offset(r as isize * c_rs + j as isize * c_cs);
                            *p = if first { x } else { *p + x };
                        }
                    }
                }
            }
        }
    };
}

/// The AVX2 small-product kernel `small_avx2::<MR, NV>` for one element type, with that type's
/// 256-bit intrinsics (NOTE: [small-gemm]).
macro_rules! small_avx2 {
    ($T:ty, $lanes:expr, $zero:ident, $loadu:ident, $set1:ident, $fmadd:ident, $add:ident,
     $storeu:ident, $mloadu:ident, $mstoreu:ident, $lane_mask:ident) => {
        /// The AVX2 small-product kernel of MR rows by NV vectors of columns: MR · NV
        /// accumulators; when MASKED, the last vector of `b`'s rows loaded and stored masked
        /// to `cols` (the others are whole), so nothing past a row is read or written.
        ///
        /// # Safety
        /// As for [`SmallKernel`], with AVX2 and FMA present instead of AVX-512F, and
        /// `cols = NV · lanes`, or `(NV - 1) · lanes < cols` when MASKED.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn small_avx2<const MR: usize, const NV: usize, const MASKED: bool>(
            kc: usize,
            a: *const $T,
            a_rs: isize,
            a_cs: isize,
            b: *const $T,
            b_rs: isize,
            c: *mut $T,
            c_rs: isize,
            cols: usize,
            first: bool,
        ) {
            use std::arch::x86_64::*;
            const L: usize = $lanes;
            debug_assert!(if MASKED {
                (NV - 1) * L < cols && cols <= NV * L
            } else {
                cols == NV * L
            });
            // the columns of the last vector
            let w = cols - (NV - 1) * L;
            let mask = $lane_mask(w);
            let last = (NV - 1) * L;
            let mut acc = [[$zero(); NV]; MR];
            // SAFETY: kc steps down MR rows of a and kc rows of b, each inside its matrix;
            // the first NV - 1 vectors of a row of b are inside it, the last is masked to its
            // `cols` columns
            unsafe {
                let (mut a, mut b) = (a, b);
                for _ in 0..kc {
                    let mut bv = [$zero(); NV];
                    for v in 0..NV - 1 {
                        bv[v] = $loadu(b.add(v * L));
                    }
                    bv[NV - 1] = if MASKED {
                        $mloadu(b.add(last), mask)
                    } else {
                        $loadu(b.add(last))
                    };
                    for r in 0..MR {
                        let ar = $set1(*a.offset(r as isize * a_rs));
                        for v in 0..NV {
                            acc[r][v] = $fmadd(ar, bv[v], acc[r][v]);
                        }
                    }
                    a = a.offset(a_cs);
                    b = b.offset(b_rs);
                }
            }
            // SAFETY: row r < MR of c, its first `cols` elements contiguous: whole vectors
            // but the last, masked unless whole
            unsafe {
                for r in 0..MR {
                    let p = c.offset(r as isize * c_rs);
                    for v in 0..NV - 1 {
                        let mut x = acc[r][v];
                        if !first {
                            x = $add(x, $loadu(p.add(v * L)));
                        }
                        $storeu(p.add(v * L), x);
                    }
                    let mut x = acc[r][NV - 1];
                    if !first {
                        let y = if MASKED {
                            $mloadu(p.add(last), mask)
                        } else {
                            $loadu(p.add(last))
                        };
                        x = $add(x, y);
                    }
                    if MASKED {
                        $mstoreu(p.add(last), mask, x);
                    } else {
                        $storeu(p.add(last), x);
                    }
                }
            }
        }
    };
}

mod f64_kernel {
    use super::{Elem, Kernel, SmallIsa, SmallKernel};
    kernel!(
        f64,
        8,
        u8,
        _mm512_setzero_pd,
        _mm512_loadu_pd,
        _mm512_set1_pd,
        _mm512_fmadd_pd,
        _mm512_add_pd,
        _mm512_storeu_pd,
        _mm512_mask_loadu_pd,
        _mm512_mask_storeu_pd
    );
    small_avx2!(
        f64,
        4,
        _mm256_setzero_pd,
        _mm256_loadu_pd,
        _mm256_set1_pd,
        _mm256_fmadd_pd,
        _mm256_add_pd,
        _mm256_storeu_pd,
        _mm256_maskload_pd,
        _mm256_maskstore_pd,
        lane_mask
    );

    /// The mask of the first `w` of 4 lanes (all bits set in each).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn lane_mask(w: usize) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(w as i64), _mm256_setr_epi64x(0, 1, 2, 3))
    }
}

mod f32_kernel {
    use super::{Elem, Kernel, SmallIsa, SmallKernel};
    kernel!(
        f32,
        16,
        u16,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_set1_ps,
        _mm512_fmadd_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        _mm512_mask_loadu_ps,
        _mm512_mask_storeu_ps
    );
    small_avx2!(
        f32,
        8,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_set1_ps,
        _mm256_fmadd_ps,
        _mm256_add_ps,
        _mm256_storeu_ps,
        _mm256_maskload_ps,
        _mm256_maskstore_ps,
        lane_mask
    );

    /// The mask of the first `w` of 8 lanes (all bits set in each).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn lane_mask(w: usize) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(w as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// The blocking of one product: the micro-kernel's tile (`mr` rows by `nr` columns) and the
/// depth, rows and columns of the packed blocks.
#[derive(Clone, Copy)]
struct Blocking<T> {
    kernel: Kernel<T>,
    /// The same tile reading `a` in place, if there is one.
    direct: Option<Kernel<T>>,
    mr: usize,
    nr: usize,
    kc: usize,
    mc: usize,
    nc: usize,
}

impl<T: Elem> Blocking<T> {
    /// The blocking for an `m × n` output: of the tiles 8 × 3 vectors, 14 × 2 and 6 × 4, the
    /// one that pads the output least (the first on a tie); rows of `a` read in place when the
    /// output has fewer than [`DIRECT_MAX_N`] columns.
    fn new(m: usize, n: usize) -> Self {
        let padded =
            |(mr, nv): (usize, usize)| m.next_multiple_of(mr) * n.next_multiple_of(nv * T::LANES);
        let (mr, nv) = [(8, 3), (14, 2), (6, 4)]
            .into_iter()
            .min_by_key(|&s| padded(s))
            .expect("three shapes");
        let kernel = T::kernel(mr, nv, false).expect("a kernel of this shape");
        let nr = nv * T::LANES;
        Blocking {
            kernel,
            direct: T::kernel(mr, nv, true).filter(|_| n < DIRECT_MAX_N),
            mr,
            nr,
            kc: KC,
            mc: MC.next_multiple_of(mr),
            nc: (NC_BYTES / size_of::<T>()).next_multiple_of(nr),
        }
    }
}

/// A cache line: the unit of the packing buffers, so that panels start 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line([u64; 8]);

thread_local! {
    /// This thread's buffers for packed `a` and packed `b`, reused from call to call (taken out
    /// while in use, so a nested call on the same thread allocates its own).
    static BUF_A: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
    static BUF_B: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
    /// This thread's buffer for a column-major left operand copied row-major before
    /// `private-gemm-x86`'s kernels read it (`matmul`'s dense products).
    pub(crate) static BUF_T: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// The largest buffer [`with_buf`] keeps on its thread for the next call. The packing buffers
/// (at most 2 MiB) always stay; a larger one (a transposed left operand of `matmul`, as large
/// as the operand) is freed after its call, so that no thread holds a product-sized buffer for
/// good.
const KEEP_BYTES: usize = 4 << 20;

/// Run `f` with a 64-byte aligned buffer of at least `len` elements of `T` from `cell`.
pub(crate) fn with_buf<T, R>(
    cell: &'static std::thread::LocalKey<Cell<Vec<Line>>>,
    len: usize,
    f: impl FnOnce(*mut T) -> R,
) -> R {
    let mut buf = cell.take();
    let lines = (len * size_of::<T>()).div_ceil(64);
    if buf.len() < lines {
        buf = vec![Line([0; 8]); lines];
    }
    let r = f(buf.as_mut_ptr() as *mut T);
    if buf.len() * size_of::<Line>() <= KEEP_BYTES {
        cell.set(buf);
    }
    r
}

/// A raw pointer that may cross threads (each thread writes disjoint parts).
#[derive(Clone, Copy)]
struct Ptr<T>(*mut T);
impl<T> Ptr<T> {
    /// The pointer (a method, so that closures capture the whole `Ptr`).
    fn get(&self) -> *mut T {
        self.0
    }
}

// SAFETY: used only for buffers whose parts are written by one thread each, and read after the
// fork-join that wrote them
unsafe impl<T> Send for Ptr<T> {}
// SAFETY: as above
unsafe impl<T> Sync for Ptr<T> {}

/// Pack `a[i0 .. i0 + mc, p0 .. p0 + kc]` into panels of `mr` rows: panel q holds, for each
/// depth l, the `mr` values of rows q·mr.. at depth l (zeros past row mc).
///
/// # Safety
/// The block lies inside `a`; `dst` holds `mc.div_ceil(mr) · mr · kc` elements.
unsafe fn pack_a<T: Elem>(
    a: Mat<T>,
    i0: usize,
    p0: usize,
    mc: usize,
    kc: usize,
    mr: usize,
    dst: *mut T,
) {
    for q in 0..mc.div_ceil(mr) {
        let rows = (mc - q * mr).min(mr);
        // SAFETY: the panel is inside dst, the rows inside a
        unsafe {
            let d = dst.add(q * mr * kc);
            if a.rs == 1 && rows == mr {
                for l in 0..kc {
                    let (src, d) = (a.at(i0 + q * mr, p0 + l), d.add(l * mr));
                    let mut r = 0;
                    while r + T::LANES <= mr {
                        copy_vector(src.add(r), d.add(r));
                        r += T::LANES;
                    }
                    for r in r..mr {
                        *d.add(r) = *src.add(r);
                    }
                }
                continue;
            }
            for l in 0..kc {
                let src = a.at(i0 + q * mr, p0 + l);
                let d = d.add(l * mr);
                for r in 0..rows {
                    *d.add(r) = *src.offset(r as isize * a.rs);
                }
                for r in rows..mr {
                    *d.add(r) = T::ZERO;
                }
            }
        }
    }
}

/// Pack panels `q0 .. q1` of `nr` columns of `b[p0 .. p0 + kc, j0 .. j0 + nc]`: panel q
/// holds, for each depth l, the `nr` values of columns q·nr.. at depth l (zeros past column
/// nc).
///
/// # Safety
/// The block lies inside `b`; `dst` holds `nc.div_ceil(nr) · nr · kc` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b<T: Elem>(
    b: Mat<T>,
    (p0, kc): (usize, usize),
    (j0, nc): (usize, usize),
    (q0, q1): (usize, usize),
    nr: usize,
    dst: *mut T,
) {
    if b.cs == 1 {
        // row by row of b, each read in order across the panels
        for l in 0..kc {
            for q in q0..q1 {
                let cols = (nc - q * nr).min(nr);
                // SAFETY: the panel is inside dst, the columns inside b
                unsafe {
                    let src = b.at(p0 + l, j0 + q * nr);
                    let d = dst.add(q * nr * kc + l * nr);
                    // whole vectors copied as such (a call to memcpy costs more than these)
                    let mut j = 0;
                    while j + T::LANES <= cols {
                        copy_vector(src.add(j), d.add(j));
                        j += T::LANES;
                    }
                    for j in j..cols {
                        *d.add(j) = *src.add(j);
                    }
                    for j in cols..nr {
                        *d.add(j) = T::ZERO;
                    }
                }
            }
        }
        return;
    }
    for q in q0..q1 {
        let cols = (nc - q * nr).min(nr);
        // SAFETY: the panel is inside dst, the columns inside b
        unsafe {
            let d = dst.add(q * nr * kc);
            for l in 0..kc {
                let src = b.at(p0 + l, j0 + q * nr);
                let d = d.add(l * nr);
                for j in 0..cols {
                    *d.add(j) = *src.offset(j as isize * b.cs);
                }
                for j in cols..nr {
                    *d.add(j) = T::ZERO;
                }
            }
        }
    }
}

/// Copy 64 bytes from `src` to `dst`.
///
/// # Safety
/// Both must be valid for 64 bytes.
#[inline(always)]
unsafe fn copy_vector<T>(src: *const T, dst: *mut T) {
    // SAFETY: the caller's guarantee
    unsafe {
        let v = std::ptr::read_unaligned(src as *const [u64; 8]);
        std::ptr::write_unaligned(dst as *mut [u64; 8], v);
    }
}

/// Rows `i0 .. i1` of the output block `c[.., j0 .. j0 + nc]` for the depth block
/// `p0 .. p0 + kc`, from the packed block of `b` at `pb`.
///
/// # Safety
/// As for [`gemm`]; `pb` holds the packed block.
unsafe fn rows_block<T: Elem>(
    bl: &Blocking<T>,
    a: Mat<T>,
    c: Mat<T>,
    pb: *const T,
    (i0, i1): (usize, usize),
    (j0, nc): (usize, usize),
    (p0, kc): (usize, usize),
) {
    let (mr, nr) = (bl.mr, bl.nr);
    let panels_b = nc.div_ceil(nr);
    // rows of a with unit stride are read in place, whole panels of mr rows at least
    let direct = bl.direct.filter(|_| a.cs == 1);
    with_buf(&BUF_A, bl.mc * kc, |pa: *mut T| {
        for ic in (i0..i1).step_by(bl.mc) {
            let mc = (i1 - ic).min(bl.mc);
            let whole = if direct.is_some() { mc / mr } else { 0 };
            // SAFETY: the block is inside a; the buffer holds mc · kc elements
            unsafe {
                pack_a(
                    a,
                    ic + whole * mr,
                    p0,
                    mc - whole * mr,
                    kc,
                    mr,
                    pa.add(whole * mr * kc),
                )
            };
            for jr in 0..panels_b {
                let cols = (nc - jr * nr).min(nr);
                for ir in 0..mc.div_ceil(mr) {
                    let rows = (mc - ir * mr).min(mr);
                    let (kernel, pa, a_rs) = match direct {
                        Some(d) if ir < whole => (d, a.at(ic + ir * mr, p0), a.rs),
                        _ => (bl.kernel, pa.wrapping_add(ir * mr * kc) as *const T, 1),
                    };
                    // SAFETY: the panels are packed above, or whole panels of rows of a
                    // read in place; the tile is inside c
                    unsafe {
                        kernel(
                            kc,
                            pa,
                            a_rs,
                            pb.add(jr * nr * kc),
                            nr as isize,
                            c.at(ic + ir * mr, j0 + jr * nr) as *mut T,
                            c.rs,
                            c.cs,
                            rows,
                            cols,
                            p0 == 0,
                            std::ptr::null(),
                            0,
                        )
                    }
                }
            }
        }
    })
}

/// The product on `threads` threads: blocks of rows sharing each packed block of `b`, or, with
/// too few rows for that, blocks of columns each on its own.
///
/// # Safety
/// As for [`gemm`].
unsafe fn run<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
    threads: usize,
) {
    let wide = wide_blocking::<T>(m, n, k, b.rs, b.cs);
    let bl = wide.unwrap_or_else(|| Blocking::<T>::new(m, n));
    let (mr, nr) = (bl.mr, bl.nr);
    if threads > 1 && (m < threads * 2 * mr || wide.is_some()) && n >= threads * 2 * nr {
        let width = n.div_ceil(threads).next_multiple_of(nr);
        super::pieces::for_each_piece(n.div_ceil(width), |t| {
            let j0 = t * width;
            let (b, c) = (
                Mat {
                    ptr: b.at(0, j0),
                    ..b
                },
                Mat {
                    ptr: c.at(0, j0),
                    ..c
                },
            );
            // SAFETY: threads write disjoint columns of c
            unsafe { run(m, width.min(n - j0), k, a, b, c, 1) }
        });
        return;
    }
    if wide.is_some() {
        // SAFETY: the caller's guarantees; `bl` is the wide blocking of this product
        return unsafe { wide_run(&bl, m, n, k, a, b, c) };
    }
    let threads = if m >= threads * mr { threads } else { 1 };
    let rows_per = m.div_ceil(threads).next_multiple_of(mr);
    for j0 in (0..n).step_by(bl.nc) {
        let nc = (n - j0).min(bl.nc);
        let panels_b = nc.div_ceil(nr);
        for p0 in (0..k).step_by(bl.kc) {
            let kc = (k - p0).min(bl.kc);
            with_buf(&BUF_B, panels_b * nr * kc, |pb: *mut T| {
                if threads > 1 {
                    let dst = Ptr(pb);
                    if panels_b * nr * kc >= PACK_PARALLEL {
                        let per = panels_b.div_ceil(threads);
                        super::pieces::for_each_piece(threads, |t| {
                            let q = ((t * per).min(panels_b), ((t + 1) * per).min(panels_b));
                            // SAFETY: threads pack disjoint panels of the buffer
                            unsafe { pack_b(b, (p0, kc), (j0, nc), q, nr, dst.get()) }
                        });
                    } else {
                        // SAFETY: the buffer holds the packed block
                        unsafe { pack_b(b, (p0, kc), (j0, nc), (0, panels_b), nr, pb) }
                    }
                    super::pieces::for_each_piece(threads, |t| {
                        let i = ((t * rows_per).min(m), ((t + 1) * rows_per).min(m));
                        // SAFETY: threads write disjoint rows of c
                        unsafe { rows_block(&bl, a, c, dst.get(), i, (j0, nc), (p0, kc)) }
                    });
                } else {
                    // SAFETY: the buffer holds the packed block
                    unsafe {
                        pack_b(b, (p0, kc), (j0, nc), (0, panels_b), nr, pb);
                        rows_block(&bl, a, c, pb, (0, m), (j0, nc), (p0, kc));
                    }
                }
            });
        }
    }
}

/// Outputs with at most this many rows (and at least `WIDE_MIN_N` columns) may run by panels
/// read in place (NOTE: [wide-panels]).
const WIDE_MAX_M: usize = 64;
const WIDE_MIN_N: usize = 2048;

/// Whether `c[m × n] = a[m × k] @ b` runs by panels of `b` read in place (NOTE:
/// [wide-panels]), for the element type `T` (f32 or f64) and `b`'s strides.
pub(crate) fn is_wide<T: Float>(m: usize, n: usize, k: usize, b_rs: isize, b_cs: isize) -> bool {
    if size_of::<T>() == 8 {
        wide_blocking::<f64>(m, n, k, b_rs, b_cs).is_some()
    } else {
        wide_blocking::<f32>(m, n, k, b_rs, b_cs).is_some()
    }
}

/// The blocking of a product that runs by panels of `b` read in place (NOTE: [wide-panels]),
/// if it does: few rows, many columns, `b`'s rows unit-stride and far enough apart in the
/// address bits that a panel's rows stay in L1 together.
fn wide_blocking<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    b_rs: isize,
    b_cs: isize,
) -> Option<Blocking<T>> {
    if m > WIDE_MAX_M || n < WIDE_MIN_N || b_cs != 1 {
        return None;
    }
    let bl = Blocking::<T>::new(m, n);
    panel_stays_in_l1::<T>(b_rs, k.min(bl.kc), bl.nr).then_some(bl)
}

/// NOTE: [wide-panels] A wide output with few rows (64 × 64 · 64 × 10⁴) reads all of `b`
/// once and uses each column of it in only `m / mr` tiles, so packing `b` (a block at a time,
/// above) costs about what the multiply-adds do, and nothing overlaps it: `b` comes from L3 or
/// memory at their rate. MKL runs such products without copying either operand (its `nocopy`
/// kernels). Here `a` is packed once per depth block (all its rows fit in L1 and L2), and each
/// whole panel of `nr` columns of `b` is read in place by the tiles down the output, its rows
/// `b.rs` apart: the first tile brings the panel's lines into L1, the others find them there.
/// While a panel's tiles run, they prefetch the next panel's lines into L2 (tile i the i-th
/// line of each of its rows, one row per step of the depth), so the memory's latency runs
/// under the multiply-adds. The last, partial panel is packed (the kernels read whole rows).
/// Only strides that spread a panel's rows over enough L1 sets qualify
/// ([`panel_stays_in_l1`]): with a power-of-two stride of 4 KB or more every row falls into one
/// set, and packing each panel instead measured 3–10% slower than `private-gemm-x86`
/// (64 × 64 · 64 × 8192, 48 × 64 · 64 × 4096, f32 and f64). Each output element is still the
/// sum of the same depth blocks, each one chain of FMAs, so the bits are those of the blocked
/// path. Measured (one thread, wall time, medians of three, against `private-gemm-x86`'s
/// kernels, the route before): 64 × 64 · 64 × 10⁴ f64 1.25–1.28 → 1.13–1.18 ms, f32 0.65 →
/// 0.51–0.53 ms (torch 1.00 and 0.50–0.52); 32 × 64 · 64 × 10⁴ f64 0.74–0.93 → 0.58–0.61 ms;
/// 64 × 256 · 256 × 10⁴ f64 5.1–5.3 → 4.9 ms.
///
/// # Safety
/// As for [`gemm`], with `bl` from [`wide_blocking`] for this product.
unsafe fn wide_run<T: Elem>(
    bl: &Blocking<T>,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
) {
    let (mr, nr) = (bl.mr, bl.nr);
    let (tiles, panels) = (m.div_ceil(mr), n.div_ceil(nr));
    with_buf(&BUF_A, tiles * mr * bl.kc, |pa: *mut T| {
        with_buf(&BUF_B, nr * bl.kc, |pb: *mut T| {
            for p0 in (0..k).step_by(bl.kc) {
                let kc = (k - p0).min(bl.kc);
                // SAFETY: the block is inside a; the buffer holds tiles · mr · kc elements
                unsafe { pack_a(a, 0, p0, m, kc, mr, pa) };
                for jr in 0..panels {
                    let j = jr * nr;
                    let cols = (n - j).min(nr);
                    // a whole panel read in place, the last partial one packed
                    let (panel, panel_rs) = if cols == nr {
                        (b.at(p0, j), b.rs)
                    } else {
                        // SAFETY: the panel is inside b; the buffer holds nr · kc elements
                        unsafe { pack_b(b, (p0, kc), (j, cols), (0, 1), nr, pb) };
                        (pb as *const T, nr as isize)
                    };
                    // the lines of the next panel's first row: tile i fetches the i-th
                    let next = b.at(p0, j + nr) as usize;
                    let next_cols = n.saturating_sub(j + nr).min(nr);
                    let lines = ((next % 64) + next_cols * size_of::<T>()).div_ceil(64);
                    for ir in 0..tiles {
                        let rows = (m - ir * mr).min(mr);
                        let pf = if next_cols > 0 && ir < lines {
                            ((next & !63) + ir * 64) as *const T
                        } else {
                            std::ptr::null()
                        };
                        // SAFETY: the panel is packed above or lies inside b (whole rows of
                        // nr columns); the tile is inside c; the prefetches are hints
                        unsafe {
                            (bl.kernel)(
                                kc,
                                pa.add(ir * mr * kc),
                                1,
                                panel,
                                panel_rs,
                                c.at(ir * mr, j) as *mut T,
                                c.rs,
                                c.cs,
                                rows,
                                cols,
                                p0 == 0,
                                pf,
                                b.rs,
                            )
                        }
                    }
                }
            }
        })
    })
}

/// Whether `kc` rows of `nr` elements, `rs` elements apart, stay in L1 together (NOTE:
/// [wide-panels]): rows `rs · size` bytes apart fall into `4096 / gcd(rs · size, 4096)` of the
/// 64 sets of 64-byte lines, and the panel may take 6 ways of each set (of 12 in the 48 KB L1
/// of recent Intel cores, of 8 in AMD Zen 4's 32 KB), the rest left to `a` and `c`. 10⁴ f64
/// columns, depth 64: 32 sets, 192 lines of 192; a power-of-two stride of 4 KB or more puts
/// every row in one set.
fn panel_stays_in_l1<T>(rs: isize, kc: usize, nr: usize) -> bool {
    let bytes = rs.unsigned_abs() * size_of::<T>();
    let (mut x, mut y) = (bytes, 4096);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    let sets = (4096 / x.max(1)).min(64);
    let lines = kc * ((nr * size_of::<T>()).div_ceil(64) + usize::from(!bytes.is_multiple_of(64)));
    lines <= sets * 6
}

/// Elements of a packed block of `b` from which the threads of a product pack it together;
/// a smaller block is packed by the calling thread, sparing a fork-join: 6–8 µs from outside
/// the pool (NOTE: [par-work]), more than packing 2¹⁵ elements. 256 × 10 × 128 in f64 (a
/// block of 1280) took 22.7 µs on two threads with two fork-joins, 14.6 on one.
const PACK_PARALLEL: usize = 1 << 15;

/// Depth of one block of a small product.
const SMALL_KC: usize = 256;
/// Rows of one block of a small product whose depth block of `b` stays in cache.
const SMALL_MB: usize = 48;
/// Bytes of a depth block of `b` that stays in cache across the blocks of rows.
const SMALL_B_BYTES: usize = 256 * 1024;
/// Elements of a right operand without unit-stride rows that a small product packs, at most.
const SMALL_PACK_B: usize = 1 << 16;

/// `c[m × n] = a[m × k] @ b[k × n]` on this thread without packing (NOTE: [small-gemm]), if
/// the output has a unit stride along one side and `b` along the same side, or is small
/// enough to copy. Returns whether it did.
///
/// # Safety
/// As for [`gemm`], with `isa` [available](SmallIsa::available) instead of AVX-512F.
pub(crate) unsafe fn small<T: Float>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
) -> bool {
    if c.cs != 1 && n > 1 {
        if c.rs != 1 && m > 1 {
            return false;
        }
        // SAFETY: the transposed product addresses the same memory
        return unsafe { small(isa, n, m, k, b.t(), a.t(), c.t()) };
    }
    if b.cs != 1 && n > 1 && k * n > SMALL_PACK_B {
        return false;
    }
    // SAFETY: T is f32 or f64 (the only `Float`s), so the casts name the same type; the
    // caller's guarantees carry over
    unsafe {
        if size_of::<T>() == 8 {
            small_run::<f64>(isa, m, n, k, cast(a), cast(b), cast(c))
        } else {
            small_run::<f32>(isa, m, n, k, cast(a), cast(b), cast(c))
        }
    }
    true
}

/// [`small`] with `c`'s rows unit-stride: `b` copied row-major first if its rows are not.
///
/// # Safety
/// As for [`small`], with `c.cs = 1` (or n = 1).
unsafe fn small_run<T: Elem>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
) {
    if b.cs == 1 || n == 1 {
        // SAFETY: the caller's guarantee
        return unsafe { small_blocks(isa, m, n, k, a, b, c) };
    }
    with_buf(&BUF_B, k * n, |pb: *mut T| {
        // SAFETY: the buffer holds k · n elements; (l, j) is inside b
        unsafe {
            if b.rs.unsigned_abs() < b.cs.unsigned_abs() {
                for j in 0..n {
                    for l in 0..k {
                        *pb.add(l * n + j) = *b.at(l, j);
                    }
                }
            } else {
                for l in 0..k {
                    for j in 0..n {
                        *pb.add(l * n + j) = *b.at(l, j);
                    }
                }
            }
            let b = Mat {
                ptr: pb as *const T,
                rs: n as isize,
                cs: 1,
            };
            small_blocks(isa, m, n, k, a, b, c)
        }
    })
}

/// The tiles of [`small`]: depth blocks of [`SMALL_KC`]; in each, panels of up to
/// [`SmallIsa::max_vectors`] vectors of columns (the last one narrower) by tiles of up to
/// [`SmallIsa::tile_rows`] rows, rows split evenly over the tiles of a block. When the depth block of `b` fits in [`SMALL_B_BYTES`] the rows go in
/// blocks of [`SMALL_MB`] (that block of `a` stays in L1 across the panels), else each panel
/// runs down all the rows (that panel of `b` stays in cache).
///
/// # Safety
/// As for [`small`], with `c.cs = 1` and `b.cs = 1` (or n = 1).
unsafe fn small_blocks<T: Elem>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
) {
    for p0 in (0..k).step_by(SMALL_KC) {
        let kc = (k - p0).min(SMALL_KC);
        small_tiles::<T>(isa, m, n, kc, |t| {
            // SAFETY: the tile's rows, columns and depths are inside the matrices; b's and
            // c's rows have unit stride
            unsafe { t.run(kc, a, b, c, p0) }
        });
    }
}

/// One tile of a small product: rows `i .. i + rows`, columns `j .. j + cols`.
#[derive(Clone, Copy)]
struct SmallTile<T> {
    kernel: SmallKernel<T>,
    i: usize,
    j: usize,
    cols: usize,
}

impl<T: Elem> SmallTile<T> {
    /// The tile over depths `p0 .. p0 + kc` (written when p0 = 0, else added to `c`).
    ///
    /// # Safety
    /// The tile and the depths lie inside the matrices; `b`'s and `c`'s rows have unit stride
    /// (or the tile is one column wide); the tile's ISA present.
    #[inline(always)]
    unsafe fn run(&self, kc: usize, a: Mat<T>, b: Mat<T>, c: Mat<T>, p0: usize) {
        // SAFETY: the caller's guarantee is the kernel's
        unsafe {
            (self.kernel)(
                kc,
                a.at(self.i, p0),
                a.rs,
                a.cs,
                b.at(p0, self.j),
                b.rs,
                c.at(self.i, self.j) as *mut T,
                c.rs,
                self.cols,
                p0 == 0,
            )
        }
    }
}

/// The tiles of an `m × n` small product with depth blocks of `kc`, in the order
/// [`small_blocks`] runs them; every panel but the last `isa.max_vectors()` whole vectors of
/// columns wide, so that only a tile's last vector is partial.
fn small_tiles<T: Elem>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    kc: usize,
    mut f: impl FnMut(SmallTile<T>),
) {
    let lanes = isa.lanes::<T>();
    let most = isa.max_vectors();
    let vecs = n.div_ceil(lanes);
    let panels = vecs.div_ceil(most);
    // panel q over rows r0 .. r1
    let mut tiles = |q: usize, r0: usize, r1: usize| {
        let nv = (vecs - most * q).min(most);
        let j = q * most * lanes;
        let cols = (n - j).min(nv * lanes);
        let masked = cols < nv * lanes;
        let count = (r1 - r0).div_ceil(isa.tile_rows(nv, masked));
        let height = (r1 - r0).div_ceil(count);
        let mut i = r0;
        while i < r1 {
            let rows = (r1 - i).min(height);
            let kernel = T::small(isa, rows, nv, masked).expect("a small kernel of this shape");
            f(SmallTile { kernel, i, j, cols });
            i += rows;
        }
    };
    if kc * n * size_of::<T>() <= SMALL_B_BYTES {
        for r0 in (0..m).step_by(SMALL_MB) {
            for q in 0..panels {
                tiles(q, r0, (r0 + SMALL_MB).min(m));
            }
        }
    } else {
        for q in 0..panels {
            tiles(q, 0, m);
        }
    }
}

/// Tiles of a small product that [`small_batch`] keeps on the stack.
const SMALL_BATCH_TILES: usize = 24;

/// The batch of products `c_t = a_t @ b_t` (each `m × n × k`, element t of `a` at
/// `a.ptr + offs[t].0` and likewise for `b` and `c`, all with the strides of `a`, `b` and `c`)
/// on this thread by the small kernels, the tiles worked out once for the batch, if each
/// product is one depth block of at most [`SMALL_BATCH_TILES`] tiles and the output and `b`
/// have unit-stride rows (or columns, both). Returns whether it did; with no elements, whether
/// it would take them.
///
/// # Safety
/// As for [`small`], for each element of the batch; the elements' outputs do not overlap.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn small_batch<T: Float>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
    offs: &[[isize; 3]],
) -> bool {
    let rows_unit = c.cs == 1 && b.cs == 1;
    if !rows_unit && n > 1 {
        if (c.rs == 1 && a.rs == 1) || m == 1 {
            // the transposed products: `b`, `a` swap places
            let swapped: Vec<[isize; 3]> = offs.iter().map(|&[oa, ob, oc]| [ob, oa, oc]).collect();
            // SAFETY: the transposed products address the same memory
            return unsafe { small_batch(isa, n, m, k, b.t(), a.t(), c.t(), &swapped) };
        }
        return false;
    }
    if k > SMALL_KC {
        return false;
    }
    // SAFETY: T is f32 or f64 (the only `Float`s), so the casts name the same type; the
    // caller's guarantees carry over
    unsafe {
        if size_of::<T>() == 8 {
            small_batch_run::<f64>(isa, m, n, k, cast(a), cast(b), cast(c), offs)
        } else {
            small_batch_run::<f32>(isa, m, n, k, cast(a), cast(b), cast(c), offs)
        }
    }
}

/// [`small_batch`] with `b`'s and `c`'s rows unit-stride and `k ≤ SMALL_KC`.
///
/// # Safety
/// As for [`small_batch`].
#[allow(clippy::too_many_arguments)]
unsafe fn small_batch_run<T: Elem>(
    isa: SmallIsa,
    m: usize,
    n: usize,
    k: usize,
    a: Mat<T>,
    b: Mat<T>,
    c: Mat<T>,
    offs: &[[isize; 3]],
) -> bool {
    let mut tiles: [Option<SmallTile<T>>; SMALL_BATCH_TILES] = [None; SMALL_BATCH_TILES];
    let mut count = 0;
    small_tiles::<T>(isa, m, n, k, |t| {
        if count < SMALL_BATCH_TILES {
            tiles[count] = Some(t);
        }
        count += 1;
    });
    if count > SMALL_BATCH_TILES {
        return false;
    }
    let tiles = &tiles[..count];
    let at = |x: Mat<T>, o: isize| Mat {
        ptr: x.ptr.wrapping_offset(o),
        ..x
    };
    for &[oa, ob, oc] in offs {
        let (a, b, c) = (at(a, oa), at(b, ob), at(c, oc));
        for t in tiles.iter().flatten() {
            // SAFETY: the batch element's matrices hold the tile (the caller's guarantee);
            // one depth block
            unsafe { t.run(k, a, b, c, 0) };
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random buffer of `len` values in [-0.5, 0.5).
    fn data(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    /// `a @ b` by the naive triple loop, in f64, for matrices given as (buffer, rs, cs).
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        (ars, acs): (usize, usize),
        b: &[f64],
        (brs, bcs): (usize, usize),
    ) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|l| a[i * ars + l * acs] * b[l * brs + j * bcs])
                    .sum();
            }
        }
        out
    }

    /// The small path against the naive product, f64 and f32: `a` row-major, column-major or
    /// with a row stride past its width, `b` row-major, column-major or strided (copied), the
    /// output row-major, column-major (the transposed product) or with padded rows. Returns
    /// whether the small path took the product.
    fn check_small(isa: SmallIsa, m: usize, n: usize, k: usize, layout: usize) -> bool {
        // strides of a (m × k), b (k × n) and c (m × n) for this layout
        let (ars, acs, alen) = match layout % 3 {
            0 => (k, 1, m * k),
            1 => (1, m, m * k),
            _ => (k + 3, 1, m * (k + 3)),
        };
        let (brs, bcs, blen) = match (layout / 3) % 3 {
            0 => (n, 1, k * n),
            1 => (1, k, k * n),
            _ => (2 * n, 2, 2 * k * n),
        };
        let (crs, ccs, clen) = match (layout / 9) % 3 {
            0 => (n, 1, m * n),
            1 => (1, m, m * n),
            _ => (n + 5, 1, m * (n + 5)),
        };
        let a = data(alen, (m * 131 + n * 17 + k) as u64);
        let b = data(blen, (m * 7 + n * 131 + k * 3) as u64);
        let want = naive(m, n, k, &a, (ars, acs), &b, (brs, bcs));
        let mat = |p: *const f64, rs: usize, cs: usize| Mat {
            ptr: p,
            rs: rs as isize,
            cs: cs as isize,
        };
        // a sentinel in c's unused elements: the path must not write them
        let mut c = vec![f64::NAN; clen];
        // SAFETY: the buffers hold the matrices with these strides; c's elements are distinct
        let took = unsafe {
            small(
                isa,
                m,
                n,
                k,
                mat(a.as_ptr(), ars, acs),
                mat(b.as_ptr(), brs, bcs),
                mat(c.as_mut_ptr(), crs, ccs),
            )
        };
        if !took {
            return false;
        }
        for i in 0..m {
            for j in 0..n {
                let (g, w) = (c[i * crs + j * ccs], want[i * n + j]);
                assert!(
                    (g - w).abs() <= 1e-13 * k as f64,
                    "{isa:?} {m}×{k}×{n} layout {layout} ({i}, {j}): {g} vs {w}"
                );
            }
        }
        let written = c.iter().filter(|x| !x.is_nan()).count();
        assert_eq!(written, m * n, "{m}×{k}×{n} layout {layout}");
        // f32
        let (a32, b32): (Vec<f32>, Vec<f32>) = (
            a.iter().map(|&x| x as f32).collect(),
            b.iter().map(|&x| x as f32).collect(),
        );
        let mut c32 = vec![f32::NAN; clen];
        let mat32 = |p: *const f32, rs: usize, cs: usize| Mat {
            ptr: p,
            rs: rs as isize,
            cs: cs as isize,
        };
        // SAFETY: as above
        let took32 = unsafe {
            small(
                isa,
                m,
                n,
                k,
                mat32(a32.as_ptr(), ars, acs),
                mat32(b32.as_ptr(), brs, bcs),
                mat32(c32.as_mut_ptr(), crs, ccs),
            )
        };
        assert!(took32);
        for i in 0..m {
            for j in 0..n {
                let (g, w) = (c32[i * crs + j * ccs] as f64, want[i * n + j]);
                assert!(
                    (g - w).abs() <= 1e-5 * k as f64,
                    "{isa:?} f32 {m}×{k}×{n} layout {layout} ({i}, {j}): {g} vs {w}"
                );
            }
        }
        assert_eq!(c32.iter().filter(|x| !x.is_nan()).count(), m * n);
        true
    }

    /// The small kernels of every ISA this CPU has (the AVX2 ones forced where AVX-512 is
    /// there too); none on a CPU without AVX2, which has no small kernels to test.
    fn small_isas() -> Vec<SmallIsa> {
        let isas: Vec<SmallIsa> = [SmallIsa::Avx512, SmallIsa::Avx2]
            .into_iter()
            .filter(|isa| isa.available())
            .collect();
        if isas.is_empty() {
            eprintln!("no AVX2: the small-product kernels are not built for this CPU");
        }
        isas
    }

    /// A thread keeps its buffer for the next call up to [`KEEP_BYTES`], and frees a larger
    /// one after its call.
    #[test]
    fn buffers_above_the_cap_are_not_kept() {
        let kept = |len: usize| {
            with_buf(&BUF_T, len, |p: *mut f64| {
                // SAFETY: the buffer holds `len` elements
                unsafe { p.add(len - 1).write(1.0) }
            });
            let buf = BUF_T.take();
            let lines = buf.len();
            BUF_T.set(buf);
            lines
        };
        assert_eq!(kept(KEEP_BYTES / 8), KEEP_BYTES / 64);
        assert_eq!(kept(KEEP_BYTES / 8 + 1), 0);
        assert_eq!(kept(100), 13);
    }

    /// `a @ b` by [`gemm`] in `T` into a fresh row-major `m × n` output, the operands given in
    /// f64 as (buffer, rs, cs) and rounded to `T`.
    fn product<T: Float>(
        m: usize,
        n: usize,
        k: usize,
        (a, ars, acs): (&[f64], usize, usize),
        (b, brs, bcs): (&[f64], usize, usize),
        threads: usize,
    ) -> Vec<T> {
        let (a, b): (Vec<T>, Vec<T>) = (
            a.iter().map(|&x| T::from_f64(x)).collect(),
            b.iter().map(|&x| T::from_f64(x)).collect(),
        );
        let mat = |p: *const T, rs: usize, cs: usize| Mat {
            ptr: p,
            rs: rs as isize,
            cs: cs as isize,
        };
        let mut c = vec![T::from_f64(f64::NAN); m * n];
        // SAFETY: the buffers hold the matrices with these strides; c's elements are distinct;
        // the callers pass k > 0
        unsafe {
            gemm(
                m,
                n,
                k,
                mat(a.as_ptr(), ars, acs),
                mat(b.as_ptr(), brs, bcs),
                mat(c.as_mut_ptr(), n, 1),
                threads,
            )
        };
        c
    }

    /// Wide products with few rows run by panels of `b` read in place (NOTE: [wide-panels]) and
    /// match the naive product, f64 and f32, on one thread and two: every tile height and
    /// remainder, depths of one step, odd and past one depth block, a last partial panel, `b`'s
    /// rows padded, `a` row- or column-major, and the transposed product into a column-major
    /// output. Too many rows, a power-of-two row stride of `b` or columns of `b` not
    /// contiguous do not take this path.
    #[test]
    fn wide_products_run_by_panels_and_match_the_naive_product() {
        if !available() {
            eprintln!("no AVX-512: our GEMM is not built for this CPU");
            return;
        }
        let check = |m: usize, n: usize, k: usize, pad: usize, a_cm: bool, threads: usize| {
            let (ars, acs) = if a_cm { (1, m) } else { (k, 1) };
            let (brs, bcs) = (n + pad, 1);
            let a = data(m * k, (m * 31 + k) as u64);
            let b = data(k * brs, (n * 17 + k * 5 + pad) as u64);
            let want = naive(m, n, k, &a, (ars, acs), &b, (brs, bcs));
            // (f32 past a depth of 64 needs rows on whole lines spread over all 64 sets: not
            // the strides here)
            assert!(
                is_wide::<f64>(m, n, k, brs as isize, 1),
                "{m}×{k}×{n} + {pad}"
            );
            assert_eq!(is_wide::<f32>(m, n, k, brs as isize, 1), k <= 64);
            let c = product::<f64>(m, n, k, (&a, ars, acs), (&b, brs, bcs), threads);
            for (i, (g, w)) in c.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-13 * k as f64,
                    "{m}×{k}×{n} + {pad} at {i}: {g} vs {w}"
                );
            }
            let c32 = product::<f32>(m, n, k, (&a, ars, acs), (&b, brs, bcs), threads);
            for (i, (&g, w)) in c32.iter().zip(&want).enumerate() {
                assert!(
                    (g as f64 - w).abs() <= 1e-5 * k as f64,
                    "f32 {m}×{k}×{n} + {pad} at {i}: {g} vs {w}"
                );
            }
            let mat = |p: *const f64, rs: usize, cs: usize| Mat {
                ptr: p,
                rs: rs as isize,
                cs: cs as isize,
            };
            // the n × m product (b^T)(a^T) into a column-major output: `gemm` computes its
            // transpose, the product above, on the same path
            let mut ct = vec![f64::NAN; m * n];
            // SAFETY: as above; the n × m output has strides (1, n)
            unsafe {
                gemm(
                    n,
                    m,
                    k,
                    mat(b.as_ptr(), bcs, brs),
                    mat(a.as_ptr(), acs, ars),
                    mat(ct.as_mut_ptr(), 1, n),
                    threads,
                )
            };
            for i in 0..m {
                for j in 0..n {
                    let (g, w) = (ct[i * n + j], want[i * n + j]);
                    assert!((g - w).abs() <= 1e-13 * k as f64, "transposed ({i}, {j})");
                }
            }
        };
        for m in [1, 7, 8, 13, 64] {
            for k in [1, 5, 64] {
                check(m, 2100, k, 0, false, 1);
            }
        }
        check(64, 2056, 200, 0, false, 1);
        check(20, 3000, 64, 1, true, 1);
        check(64, 2100, 64, 0, false, 2);
        check(9, 4500, 64, 5, true, 2);
        check(16, 2056, 200, 0, true, 2);
        assert!(!is_wide::<f64>(64, 4096, 64, 4096, 1));
        assert!(!is_wide::<f32>(64, 8192, 64, 8192, 1));
        assert!(!is_wide::<f64>(65, 10_000, 64, 10_000, 1));
        assert!(!is_wide::<f64>(64, 10_000, 64, 1, 10_000));
    }

    #[test]
    fn small_products_match_the_naive_product() {
        for isa in small_isas() {
            // rows: every tile height and remainder; columns: 1–5 vectors of either type,
            // whole and partial last vectors (NOTE: [small-masks]); depths: one step, every
            // remainder of the unrolled loop (NOTE: [small-unroll]), and past one depth block
            // (256)
            for m in [1, 2, 5, 7, 12, 13, 16, 17, 25, 48, 50, 97] {
                for n in [
                    1, 3, 4, 8, 10, 12, 16, 17, 24, 31, 32, 33, 40, 48, 64, 65, 100, 128,
                ] {
                    for k in [1, 5, 7, 9, 64, 66] {
                        assert!(check_small(isa, m, n, k, 0));
                    }
                }
            }
            for (m, n, k) in [(20, 10, 300), (7, 33, 513), (50, 70, 257), (3, 2000, 40)] {
                assert!(check_small(isa, m, n, k, 0));
            }
            // every layout of the operands and the output (each has a unit stride along a
            // side)
            for layout in 0..27 {
                for (m, n, k) in [
                    (16, 32, 64),
                    (13, 10, 37),
                    (1, 9, 5),
                    (9, 1, 5),
                    (40, 21, 300),
                ] {
                    assert!(
                        check_small(isa, m, n, k, layout),
                        "{isa:?} {m}×{k}×{n} layout {layout}"
                    );
                }
            }
        }
    }
}
