//! Reductions over a set of dims: one pass over the input in memory order, accumulating into an
//! output laid out with zero strides along the reduced dims. Reductions of trailing contiguous
//! blocks (the common case) run on all cores.

use super::strided::{PAR_MIN, Plan};
use crate::array::{Element, Shape, View, alloc_filled, contiguous_strides, numel};
use rayon::prelude::*;

/// The shape after reducing `dims` with keepdim (reduced dims become 1).
pub fn kept_shape(shape: &[usize], dims: &[usize]) -> Shape {
    shape
        .iter()
        .enumerate()
        .map(|(i, &s)| if dims.contains(&i) { 1 } else { s })
        .collect()
}

/// Reduce `dims` of `x` with `f`, starting from `init`; the result has the keepdim shape.
/// `finish` post-processes each block result (e.g. nothing for sum).
pub fn reduce<T: Element, A: Element>(
    x: View<'_, T>,
    dims: &[usize],
    init: A,
    f: impl Fn(A, T) -> A + Sync + Send,
    combine: impl Fn(A, A) -> A + Sync + Send,
) -> Vec<A> {
    let kept = kept_shape(x.shape, dims);
    let n_out = numel(&kept);
    let n_in = x.numel();
    if n_in == 0 {
        return alloc_filled(n_out, init);
    }
    // Fast path: contiguous input, reduced dims are a trailing block.
    let nd = x.shape.len();
    let trailing = dims.iter().all(|&d| d >= nd - dims.len());
    if let (Some(s), true) = (x.contiguous(), trailing) {
        let block = n_in / n_out.max(1);
        let red = |chunk: &[T]| chunk.iter().fold(init, |a, &v| f(a, v));
        if n_in >= PAR_MIN && rayon::current_num_threads() > 1 {
            if n_out == 1 {
                let part = n_in.div_ceil(rayon::current_num_threads() * 4).max(4096);
                return vec![s.par_chunks(part).map(red).reduce(|| init, &combine)];
            }
            return s.par_chunks(block).map(red).collect();
        }
        return s.chunks(block).map(red).collect();
    }
    let mut out = alloc_filled(n_out, init);
    let mut ostr = contiguous_strides(&kept);
    for &d in dims {
        ostr[d] = 0;
    }
    let plan = Plan::new(x.shape, [x.strides, &ostr]);
    let data = x.data;
    plan.run([x.offset, 0], 0, n_in, |[i, o]| {
        out[o] = f(out[o], data[i]);
    });
    out
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
