//! A dense matrix product of our own for CPUs with AVX-512: packed operand panels and a
//! register-blocked micro-kernel written with `std::arch` intrinsics, f32 and f64, any strides.
//!
//! NOTE: [gemm] The blocking (the BLIS scheme):
//!
//! - The micro-kernel computes an `MR × NR` tile of the output, MR = 14 rows by NR = two
//!   512-bit vectors of columns (16 f64 or 32 f32), in 28 vector accumulators: each step of the
//!   depth loads two vectors of a packed row of `b` and broadcasts 14 values of a packed column
//!   of `a` (folded into the multiply-adds as memory operands), 28 FMAs for 16 loads, so that
//!   the two FMA units, not the load ports, set the pace. 28 accumulators + 2 `b` vectors + one
//!   broadcast leave one of the 32 registers free. The tile's columns run along the output's
//!   contiguous dimension (a column-major output computes the transposed product), so rows are
//!   stored as whole vectors, the last ones masked.
//! - The depth is cut into blocks of `KC` = 256: a packed `KC × NR` panel of `b` (32 KB) stays
//!   in the 48 KB L1 while the micro-kernel runs down the `MC × KC` block of packed `a`
//!   (MC = 336 rows, 688 KB f64, in the 2 MB L2), and the `KC × NC` block of packed `b`
//!   (NC = 2048 f64 / 4096 f32 columns, 4 MB) stays in L3 across the blocks of `a`.
//! - Packing copies any strides (transposed or broadcast views) into unit-stride panels padded
//!   with zeros to whole tiles, so the micro-kernel has no edge cases inside its loop; the
//!   padding only feeds tile elements that are never stored. Packing buffers are kept per
//!   thread and reused, so the large products take no page faults.
//! - Each output element is the sum of its depth blocks in order, each block summed by one
//!   chain of FMAs over l = 0..KC; nothing depends on where the element falls in a tile or on
//!   the number of threads, so splitting the output over threads (never the depth) gives the
//!   same bits. Threads take blocks of rows and share one packed block of `b` (packed by all of
//!   them), or, for products with few rows, blocks of columns.

use crate::array::Float;
use rayon::prelude::*;
use std::cell::Cell;

/// Rows of a micro-tile (broadcast from packed `a`).
const MR: usize = 14;
/// Depth of one block.
const KC: usize = 256;
/// Rows of one packed block of `a`.
const MC: usize = MR * 24;

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

/// An element type with a micro-kernel.
trait Elem: Copy + Send + Sync + 'static {
    /// Columns of a micro-tile: two vectors.
    const NR: usize;
    /// Columns of one packed block of `b`.
    const NC: usize;
    const ZERO: Self;
    /// `c[rows × cols] (+)= a_panel @ b_panel` over depth `kc` (written when `first`, else
    /// added to).
    ///
    /// # Safety
    /// AVX-512F present; `a` holds `kc · MR` and `b` `kc · NR` packed elements; `c` addresses
    /// a `rows × cols` block (rows ≤ MR, cols ≤ NR) with its strides.
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel(
        kc: usize,
        a: *const Self,
        b: *const Self,
        c: *mut Self,
        c_rs: isize,
        c_cs: isize,
        rows: usize,
        cols: usize,
        first: bool,
    );
}

macro_rules! kernel {
    ($T:ty, $lanes:expr, $mask:ty, $zero:ident, $loadu:ident, $set1:ident, $fmadd:ident,
     $add:ident, $storeu:ident, $mloadu:ident, $mstoreu:ident) => {
        impl Elem for $T {
            const NR: usize = 2 * $lanes;
            const NC: usize = 16384 / $lanes;
            const ZERO: Self = 0.0;
            #[inline]
            unsafe fn kernel(
                kc: usize,
                a: *const Self,
                b: *const Self,
                c: *mut Self,
                c_rs: isize,
                c_cs: isize,
                rows: usize,
                cols: usize,
                first: bool,
            ) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the caller's guarantees
                unsafe {
                    imp(kc, a, b, c, c_rs, c_cs, rows, cols, first)
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let _ = (kc, a, b, c, c_rs, c_cs, rows, cols, first);
                    unreachable!("no AVX-512 off x86-64")
                }
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn imp(
            kc: usize,
            a: *const $T,
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
            let mut acc = [[$zero(); 2]; MR];
            // SAFETY: the packed panels hold kc steps of MR and 2·L elements
            unsafe {
                let (mut a, mut b) = (a, b);
                for _ in 0..kc {
                    let b0 = $loadu(b);
                    let b1 = $loadu(b.add(L));
                    for r in 0..MR {
                        let ar = $set1(*a.add(r));
                        acc[r][0] = $fmadd(ar, b0, acc[r][0]);
                        acc[r][1] = $fmadd(ar, b1, acc[r][1]);
                    }
                    a = a.add(MR);
                    b = b.add(2 * L);
                }
            }
            if c_cs == 1 {
                let m0: $mask = if cols >= L { !0 } else { (1 << cols) - 1 };
                let m1: $mask = if cols >= 2 * L {
                    !0
                } else if cols > L {
                    (1 << (cols - L)) - 1
                } else {
                    0
                };
                // SAFETY: row r < rows of c, its first `cols` elements contiguous (masked)
                unsafe {
                    for r in 0..MR {
                        if r < rows {
                            let p = c.offset(r as isize * c_rs);
                            let (mut v0, mut v1) = (acc[r][0], acc[r][1]);
                            if !first {
                                v0 = $add(v0, $mloadu($zero(), m0, p));
                                v1 = $add(v1, $mloadu($zero(), m1, p.add(L)));
                            }
                            if m0 == !0 && m1 == !0 {
                                $storeu(p, v0);
                                $storeu(p.add(L), v1);
                            } else {
                                $mstoreu(p, m0, v0);
                                $mstoreu(p.add(L), m1, v1);
                            }
                        }
                    }
                }
            } else {
                let mut tile = [[0.0 as $T; 2 * L]; MR];
                for r in 0..MR {
                    // SAFETY: each row of `tile` holds 2·L elements
                    unsafe {
                        $storeu(tile[r].as_mut_ptr(), acc[r][0]);
                        $storeu(tile[r].as_mut_ptr().add(L), acc[r][1]);
                    }
                }
                for (r, row) in tile.iter().enumerate().take(rows) {
                    for (j, &v) in row.iter().enumerate().take(cols) {
                        // SAFETY: (r, j) is inside the rows × cols block
                        unsafe {
                            let p = c.offset(r as isize * c_rs + j as isize * c_cs);
                            *p = if first { v } else { *p + v };
                        }
                    }
                }
            }
        }
    };
}

mod f64_kernel {
    use super::{Elem, MR};
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
    use super::{Elem, MR};
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
// SAFETY: used only for buffers whose parts are written by one thread each, and read after the
// fork-join that wrote them
unsafe impl<T> Send for Ptr<T> {}
// SAFETY: as above
unsafe impl<T> Sync for Ptr<T> {}

/// Pack `a[i0 .. i0 + mc, p0 .. p0 + kc]` into panels of MR rows: panel q holds, for each
/// depth l, the MR values of rows q·MR.. at depth l (zeros past row mc).
///
/// # Safety
/// The block lies inside `a`; `dst` holds `mc.div_ceil(MR) · MR · kc` elements.
unsafe fn pack_a<T: Elem>(a: Mat<T>, i0: usize, p0: usize, mc: usize, kc: usize, dst: *mut T) {
    for q in 0..mc.div_ceil(MR) {
        let rows = (mc - q * MR).min(MR);
        // SAFETY: the panel is inside dst, the rows inside a
        unsafe {
            let d = dst.add(q * MR * kc);
            if a.cs == 1 {
                for r in 0..rows {
                    let src = a.at(i0 + q * MR + r, p0);
                    for l in 0..kc {
                        *d.add(l * MR + r) = *src.add(l);
                    }
                }
            } else {
                for l in 0..kc {
                    let src = a.at(i0 + q * MR, p0 + l);
                    for r in 0..rows {
                        *d.add(l * MR + r) = *src.offset(r as isize * a.rs);
                    }
                }
            }
            for r in rows..MR {
                for l in 0..kc {
                    *d.add(l * MR + r) = T::ZERO;
                }
            }
        }
    }
}

/// Pack panels `q0 .. q1` of NR columns of `b[p0 .. p0 + kc, j0 .. j0 + nc]`: panel q holds,
/// for each depth l, the NR values of columns q·NR.. at depth l (zeros past column nc).
///
/// # Safety
/// The block lies inside `b`; `dst` holds `nc.div_ceil(NR) · NR · kc` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn pack_b<T: Elem>(
    b: Mat<T>,
    p0: usize,
    j0: usize,
    kc: usize,
    nc: usize,
    q0: usize,
    q1: usize,
    dst: *mut T,
) {
    let nr = T::NR;
    for q in q0..q1 {
        let cols = (nc - q * nr).min(nr);
        // SAFETY: the panel is inside dst, the columns inside b
        unsafe {
            let d = dst.add(q * nr * kc);
            if b.cs == 1 {
                for l in 0..kc {
                    let src = b.at(p0 + l, j0 + q * nr);
                    std::ptr::copy_nonoverlapping(src, d.add(l * nr), cols);
                    for j in cols..nr {
                        *d.add(l * nr + j) = T::ZERO;
                    }
                }
            } else {
                for j in 0..cols {
                    let src = b.at(p0, j0 + q * nr + j);
                    for l in 0..kc {
                        *d.add(l * nr + j) = *src.offset(l as isize * b.rs);
                    }
                }
                for l in 0..kc {
                    for j in cols..nr {
                        *d.add(l * nr + j) = T::ZERO;
                    }
                }
            }
        }
    }
}

/// Rows `i0 .. i1` of the output block `c[.., j0 .. j0 + nc]` for the depth block
/// `p0 .. p0 + kc`, from the packed block of `b` at `pb`.
///
/// # Safety
/// As for [`gemm`]; `pb` holds the packed block.
#[allow(clippy::too_many_arguments)]
unsafe fn rows_block<T: Elem>(
    a: Mat<T>,
    c: Mat<T>,
    pb: *const T,
    (i0, i1): (usize, usize),
    (j0, nc): (usize, usize),
    (p0, kc): (usize, usize),
) {
    let nr = T::NR;
    let panels_b = nc.div_ceil(nr);
    with_buf(&BUF_A, MC * kc, |pa: *mut T| {
        for ic in (i0..i1).step_by(MC) {
            let mc = (i1 - ic).min(MC);
            // SAFETY: the block is inside a; the buffer holds MC · kc elements
            unsafe { pack_a(a, ic, p0, mc, kc, pa) };
            for jr in 0..panels_b {
                let cols = (nc - jr * nr).min(nr);
                for ir in 0..mc.div_ceil(MR) {
                    let rows = (mc - ir * MR).min(MR);
                    // SAFETY: the panels are packed above; the tile is inside c
                    unsafe {
                        T::kernel(
                            kc,
                            pa.add(ir * MR * kc),
                            pb.add(jr * nr * kc),
                            c.at(ic + ir * MR, j0 + jr * nr) as *mut T,
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
unsafe fn run<T: Elem>(m: usize, n: usize, k: usize, a: Mat<T>, b: Mat<T>, c: Mat<T>, threads: usize) {
    let nr = T::NR;
    if threads > 1 && m < threads * 2 * MR && n >= threads * 2 * nr {
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
    let threads = if m >= threads * MR { threads } else { 1 };
    let rows_per = m.div_ceil(threads).next_multiple_of(MR);
    for j0 in (0..n).step_by(T::NC) {
        let nc = (n - j0).min(T::NC);
        let panels_b = nc.div_ceil(nr);
        for p0 in (0..k).step_by(KC) {
            let kc = (k - p0).min(KC);
            with_buf(&BUF_B, panels_b * nr * kc, |pb: *mut T| {
                if threads > 1 {
                    let dst = Ptr(pb);
                    let per = panels_b.div_ceil(threads);
                    (0..threads).into_par_iter().for_each(|t| {
                        let dst = dst;
                        let (q0, q1) = ((t * per).min(panels_b), ((t + 1) * per).min(panels_b));
                        // SAFETY: threads pack disjoint panels of the buffer
                        unsafe { pack_b(b, p0, j0, kc, nc, q0, q1, dst.0) }
                    });
                    (0..threads).into_par_iter().for_each(|t| {
                        let dst = dst;
                        let (i0, i1) = ((t * rows_per).min(m), ((t + 1) * rows_per).min(m));
                        // SAFETY: threads write disjoint rows of c
                        unsafe { rows_block(a, c, dst.0, (i0, i1), (j0, nc), (p0, kc)) }
                    });
                } else {
                    // SAFETY: the buffer holds the packed block
                    unsafe {
                        pack_b(b, p0, j0, kc, nc, 0, panels_b, pb);
                        rows_block(a, c, pb, (0, m), (j0, nc), (p0, kc));
                    }
                }
            });
        }
    }
}
