//! Matrix products through the `gemm` crate (any strides, so transposed and broadcast views are
//! never copied), with a plain loop for tiny matrices where a GEMM call costs more than the work.

use super::strided::Plan;
use crate::tensor::{Array, Float, alloc_filled, broadcast_shapes, numel, reshape_strides};
use gemm::Parallelism;
use rayon::prelude::*;

/// Below this many multiply-adds a matrix product runs as a plain loop.
const SMALL: usize = 4096;
/// Above this many multiply-adds one GEMM uses all cores.
const PARALLEL: usize = 1 << 18;

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
) {
    if m * n * k <= SMALL {
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for l in 0..k {
                    unsafe {
                        acc += *a.offset(i as isize * a_rs + l as isize * a_cs)
                            * *b.offset(l as isize * b_rs + j as isize * b_cs);
                    }
                }
                unsafe { *out.offset(i as isize * o_rs + j as isize * o_cs) = acc };
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
    let mut out = alloc_filled(nb * m * n, T::ZERO);
    let (av, bv) = (a.v::<T>(), b.v::<T>());
    let nd = batch.len();
    let (a_rs, a_cs) = (a.strides()[nd], a.strides()[nd + 1]);
    let (b_rs, b_cs) = (b.strides()[nd], b.strides()[nd + 1]);
    let work = m * n * k;
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
                );
            }
            return Array::from_vec(out, &out_shape);
        }
    }

    // A shared left operand times a batch of vectors (vmap of a matrix-vector product): one
    // GEMM `a @ [b_0 .. b_nb]`, written transposed into the [nb, m] result.
    if nb > 1 && n == 1 && a.strides()[..nd].iter().all(|&s| s == 0) {
        if let Some(bs) = reshape_strides(&batch, &b.strides()[..nd], &[nb]) {
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
                );
            }
            return Array::from_vec(out, &out_shape);
        }
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
