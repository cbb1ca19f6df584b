//! Matrix products through the `gemm` crate (any strides, so transposed and broadcast views are
//! never copied), with a plain loop for tiny matrices where a GEMM call costs more than the work.
//!
//! Sparse operands: Jacobians push a standard basis through the function, so a linear layer
//! meets operands with one nonzero per row or column (`Aᵀ @ [e_i, ...]`). Before a large
//! product, a scan that stops as soon as it has seen more than 2% nonzeros looks at the operand
//! opposite the long dimension (at most 1/16 of the product's cost, usually far less); if it is
//! that sparse, the product runs over its nonzeros only. This is exact: it is used only when the
//! dense operand is all finite (checked once per buffer), so `0 · ∞` cannot differ.

use super::strided::Plan;
use crate::array::{Array, Float, alloc, broadcast_shapes, numel, reshape_strides};
use gemm::Parallelism;
use rayon::prelude::*;

/// Below this many multiply-adds a matrix product runs as a plain loop.
const SMALL: usize = 4096;
/// Above this many multiply-adds one GEMM uses all cores.
const PARALLEL: usize = 1 << 18;

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

/// Zero an m×n output, walking it in memory order.
fn zero<T: Float>(
    m: usize,
    n: usize,
    at: &impl Fn(usize, usize) -> *mut T,
    o_rs: isize,
    o_cs: isize,
) {
    if o_rs.abs() <= o_cs.abs() {
        (0..n).for_each(|j| (0..m).for_each(|i| unsafe { *at(i, j) = T::ZERO }));
    } else {
        (0..m).for_each(|i| (0..n).for_each(|j| unsafe { *at(i, j) = T::ZERO }));
    }
}

/// Whether the left (`a`) or right (`b`) operand of a product is all finite.
type Finite<'a> = &'a (dyn Fn() -> bool + Sync);

/// `out[m, n] = a[m, k] @ b[k, n]` for raw strided operands, `out` with strides (`o_rs`, `o_cs`).
///
/// # Safety
/// The pointers must address matrices of the given sizes and strides.
#[allow(clippy::too_many_arguments)]
unsafe fn one<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    out: *mut T,
    o_rs: isize,
    o_cs: isize,
    a: *const T,
    a_rs: isize,
    a_cs: isize,
    b: *const T,
    b_rs: isize,
    b_cs: isize,
    par: bool,
    fin: (Finite<'_>, Finite<'_>),
) {
    let at = |i: usize, j: usize| unsafe { out.offset(i as isize * o_rs + j as isize * o_cs) };
    if m * n * k > SMALL && (m >= 16 || n >= 16) {
        let sparse_b = if m >= 16 {
            unsafe { nonzeros(b, k, n, b_rs, b_cs, k * n / 50) }
        } else {
            None
        };
        if let Some(nz) = sparse_b.filter(|_| (fin.0)()) {
            zero(m, n, &at, o_rs, o_cs);
            for (l, j, v) in nz {
                if o_rs == 1 && a_rs == 1 {
                    // column j of out += v · column l of a, both contiguous
                    let o = unsafe { std::slice::from_raw_parts_mut(at(0, j), m) };
                    let c = unsafe { std::slice::from_raw_parts(a.offset(l as isize * a_cs), m) };
                    o.iter_mut().zip(c).for_each(|(o, &c)| *o += c * v);
                    continue;
                }
                for i in 0..m {
                    unsafe { *at(i, j) += *a.offset(i as isize * a_rs + l as isize * a_cs) * v };
                }
            }
            return;
        }
        let sparse_a = if n >= 16 {
            unsafe { nonzeros(a, m, k, a_rs, a_cs, m * k / 50) }
        } else {
            None
        };
        if let Some(nz) = sparse_a.filter(|_| (fin.1)()) {
            zero(m, n, &at, o_rs, o_cs);
            for (i, l, v) in nz {
                if o_cs == 1 && b_cs == 1 {
                    // row i of out += v · row l of b, both contiguous
                    let o = unsafe { std::slice::from_raw_parts_mut(at(i, 0), n) };
                    let r = unsafe { std::slice::from_raw_parts(b.offset(l as isize * b_rs), n) };
                    o.iter_mut().zip(r).for_each(|(o, &r)| *o += v * r);
                    continue;
                }
                for j in 0..n {
                    unsafe { *at(i, j) += v * *b.offset(l as isize * b_rs + j as isize * b_cs) };
                }
            }
            return;
        }
    }
    if n == 1 && a_cs == 1 && b_rs == 1 && m * k > SMALL {
        // matrix-vector: one dot product per row, reading `a` once (no packing)
        let x = unsafe { std::slice::from_raw_parts(b, k) };
        let ap = SendPtr(a as *mut T);
        let row = |i: usize| {
            let _ = &ap;
            unsafe { std::slice::from_raw_parts(ap.0.offset(i as isize * a_rs), k) }
        };
        let dot = |r: &[T]| {
            let mut acc = [T::ZERO; 4];
            let (c4, rest) = r.as_chunks::<4>();
            let (x4, xrest) = x.as_chunks::<4>();
            for (u, v) in c4.iter().zip(x4) {
                for q in 0..4 {
                    acc[q] += u[q] * v[q];
                }
            }
            let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
            for (&u, &v) in rest.iter().zip(xrest) {
                s += u * v;
            }
            s
        };
        let o = SendPtr(out);
        let write = |i: usize| {
            let _ = &o;
            unsafe { *o.0.offset(i as isize * o_rs) = dot(row(i)) }
        };
        if par && m >= 64 {
            (0..m).into_par_iter().with_min_len(16).for_each(write);
        } else {
            (0..m).for_each(write);
        }
        return;
    }
    if m * n * k <= SMALL || k <= 4 {
        // rows of `out` as sums of k scaled rows of `b` (vectorizes when both are contiguous)
        for i in 0..m {
            for l in 0..k {
                let av = unsafe { *a.offset(i as isize * a_rs + l as isize * a_cs) };
                let brow = unsafe { b.offset(l as isize * b_rs) };
                if o_cs == 1 && b_cs == 1 {
                    let o = unsafe { std::slice::from_raw_parts_mut(at(i, 0), n) };
                    let r = unsafe { std::slice::from_raw_parts(brow, n) };
                    if l == 0 {
                        o.iter_mut().zip(r).for_each(|(o, &r)| *o = av * r);
                    } else {
                        o.iter_mut().zip(r).for_each(|(o, &r)| *o += av * r);
                    }
                } else {
                    for j in 0..n {
                        let bv = unsafe { *brow.offset(j as isize * b_cs) };
                        unsafe {
                            if l == 0 {
                                *at(i, j) = av * bv;
                            } else {
                                *at(i, j) += av * bv;
                            }
                        }
                    }
                }
            }
        }
        return;
    }
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            o_cs,
            o_rs,
            false,
            a,
            a_cs,
            a_rs,
            b,
            b_cs,
            b_rs,
            T::ZERO,
            T::ONE,
            false,
            false,
            false,
            if par {
                Parallelism::Rayon(0)
            } else {
                Parallelism::None
            },
        )
    }
}

struct SendPtr<T>(*mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

/// `a[..., m, k] @ b[..., k, n]` with broadcast batch dims (shapes already validated).
pub fn matmul<T: Float>(a: &Array, b: &Array) -> Array {
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
    let mut out: Vec<T> = alloc(nb * m * n);
    if k == 0 {
        out.resize(nb * m * n, T::ZERO);
    } else {
        // SAFETY: T is a plain float; each element is written before the array is returned.
        unsafe { out.set_len(nb * m * n) };
    }
    let (av, bv) = (a.v::<T>(), b.v::<T>());
    let nd = batch.len();
    let (a_rs, a_cs) = (a.strides()[nd], a.strides()[nd + 1]);
    let (b_rs, b_cs) = (b.strides()[nd], b.strides()[nd + 1]);
    let work = m * n * k;
    let (fa, fb) = (|| a.all_finite(), || b.all_finite());
    let fin: (Finite<'_>, Finite<'_>) = (&fa, &fb);
    if nb == 0 || work == 0 {
        return Array::from_vec(out, &out_shape);
    }

    // A shared right operand: fold the batch into the rows of one GEMM when the left operand's
    // (batch, row) dims form one strided dim.
    if nb > 1 && b.strides()[..nd].iter().all(|&s| s == 0) {
        let mut rows_shape = batch.to_vec();
        rows_shape.push(m);
        if let Some(rs) = reshape_strides(&rows_shape, &a.strides()[..nd + 1], &[nb * m]) {
            unsafe {
                one(
                    nb * m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    n as isize,
                    1,
                    av.data.as_ptr().add(a.offset),
                    rs[0],
                    a_cs,
                    bv.data.as_ptr().add(b.offset),
                    b_rs,
                    b_cs,
                    nb * work >= PARALLEL,
                    fin,
                );
            }
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
        unsafe {
            one(
                m,
                nb,
                k,
                out.as_mut_ptr(),
                1,
                m as isize,
                av.data.as_ptr().add(a.offset),
                a_rs,
                a_cs,
                bv.data.as_ptr().add(b.offset),
                b_rs,
                bs[0],
                nb * work >= PARALLEL,
                fin,
            );
        }
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
    let dst = SendPtr(out.as_mut_ptr());
    let (ap, bp) = (
        SendPtr(av.data.as_ptr() as *mut T),
        SendPtr(bv.data.as_ptr() as *mut T),
    );
    let run = |i: usize| {
        let [oa, ob] = offs[i];
        let _ = (&dst, &ap, &bp);
        unsafe {
            one(
                m,
                n,
                k,
                dst.0.add(i * m * n),
                n as isize,
                1,
                ap.0.add(oa),
                a_rs,
                a_cs,
                bp.0.add(ob),
                b_rs,
                b_cs,
                work >= PARALLEL,
                fin,
            )
        }
    };
    if nb * work >= PARALLEL && work < PARALLEL && rayon::current_num_threads() > 1 {
        (0..nb).into_par_iter().for_each(run);
    } else {
        (0..nb).for_each(run);
    }
    Array::from_vec(out, &out_shape)
}

#[cfg(test)]
mod tests {
    use super::*;

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
