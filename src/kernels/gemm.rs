//! A dense matrix product of our own for CPUs with AVX-512: packed operand panels and a
//! register-blocked micro-kernel written with `std::arch` intrinsics, f32 and f64, any strides.
//!
//! NOTE: [gemm] The blocking (the BLIS scheme):
//!
//! - The micro-kernel computes an `mr × nr` tile of the output in `mr · nv` vector
//!   accumulators, `nr` = `nv` 512-bit vectors of columns: each step of the depth loads `nv`
//!   vectors of a packed row of `b` and broadcasts `mr` values of a column of `a`. Tiles
//!   8 × 3 vectors (24 f64 columns), 14 × 2 and 6 × 4 (24–28 accumulators, 4–5 registers for
//!   operands, no spills); each product takes the one that pads its output least. The tile's
//!   columns run along the output's contiguous dimension (a column-major output computes the
//!   transposed product), so rows are stored as whole vectors, the last ones masked, and the
//!   tile of the output is prefetched while the depth loop runs.
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

use crate::array::Float;
use rayon::prelude::*;
use std::cell::Cell;

/// Depth of one block.
const KC: usize = 128;
/// Bytes of one row of a packed block of `b` (its columns: 2048 f64 or 4096 f32).
const NC_BYTES: usize = 16384;
/// Products with fewer output columns than this read unit-stride rows of `a` in place.
const DIRECT_MAX_N: usize = 512;
/// Rows of one packed block of `a`.
const MC: usize = 504;

/// Whether this CPU runs the kernels here.
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
/// contiguous elements `a_rs` apart; `b` holds `kc · nr` packed elements; `c` addresses a
/// `rows × cols` block (rows ≤ mr, cols ≤ nr) with strides `c_rs`, `c_cs`.
type Kernel<T> = unsafe fn(
    kc: usize,
    a: *const T,
    a_rs: isize,
    b: *const T,
    c: *mut T,
    c_rs: isize,
    c_cs: isize,
    rows: usize,
    cols: usize,
    first: bool,
);

/// An element type with micro-kernels.
trait Elem: Copy + Send + Sync + 'static {
    /// Elements in one 512-bit vector.
    const LANES: usize;
    const ZERO: Self;
    /// The micro-kernel of `mr` rows by `nv` vectors of columns, reading `a` packed or in place
    /// (`direct`), if there is one.
    fn kernel(mr: usize, nv: usize, direct: bool) -> Option<Kernel<Self>>;
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
            c: *mut $T,
            c_rs: isize,
            c_cs: isize,
            rows: usize,
            cols: usize,
            first: bool,
        ) {
            use std::arch::x86_64::*;
            const L: usize = $lanes;
            let mut acc = [[$zero(); NV]; MR];
            if c_cs == 1 {
                // the tile of c is read or written at the end: fetch it meanwhile
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
                for _ in 0..kc {
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
                    b = b.add(NV * L);
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

mod f64_kernel {
    use super::{Elem, Kernel};
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
}

mod f32_kernel {
    use super::{Elem, Kernel};
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
struct Line([u64; 8]);

thread_local! {
    /// This thread's buffers for packed `a` and packed `b`, reused from call to call (taken out
    /// while in use, so a nested call on the same thread allocates its own).
    static BUF_A: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
    static BUF_B: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// Run `f` with a 64-byte aligned buffer of at least `len` elements of `T` from `cell`.
fn with_buf<T, R>(
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
    cell.set(buf);
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
                            c.at(ic + ir * mr, j0 + jr * nr) as *mut T,
                            c.rs,
                            c.cs,
                            rows,
                            cols,
                            p0 == 0,
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
    let bl = Blocking::<T>::new(m, n);
    let (mr, nr) = (bl.mr, bl.nr);
    if threads > 1 && m < threads * 2 * mr && n >= threads * 2 * nr {
        let width = n.div_ceil(threads).next_multiple_of(nr);
        (0..n.div_ceil(width)).into_par_iter().for_each(|t| {
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
                    let per = panels_b.div_ceil(threads);
                    (0..threads).into_par_iter().for_each(|t| {
                        let q = ((t * per).min(panels_b), ((t + 1) * per).min(panels_b));
                        // SAFETY: threads pack disjoint panels of the buffer
                        unsafe { pack_b(b, (p0, kc), (j0, nc), q, nr, dst.get()) }
                    });
                    (0..threads).into_par_iter().for_each(|t| {
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
