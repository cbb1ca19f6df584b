//! Reductions over a set of dims: one pass over the input in memory order, accumulating into an
//! output laid out with zero strides along the reduced dims. Reductions of trailing contiguous
//! blocks (the common case) run on all cores, each block folded pairwise in vectorized runs.

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
        let red = |chunk: &[T]| fold_pairwise(chunk, init, &f, &combine);
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

/// Fold a contiguous block with `f` the way pairwise summation does: runs of up to 128
/// elements folded into 8 interleaved accumulators (independent chains, which the compiler
/// vectorizes), the results combined pairwise. For a sum this keeps pairwise summation's error
/// bound (O(log n) roundings per element rather than O(n)) at the speed of memory.
/// `init` must be neutral for `combine`.
fn fold_pairwise<T: Copy, A: Copy>(
    x: &[T],
    init: A,
    f: &impl Fn(A, T) -> A,
    combine: &impl Fn(A, A) -> A,
) -> A {
    const RUN: usize = 128;
    if x.len() <= RUN {
        let mut acc = [init; 8];
        let (c8, rest) = x.as_chunks::<8>();
        for c in c8 {
            for j in 0..8 {
                acc[j] = f(acc[j], c[j]);
            }
        }
        let tail = rest.iter().fold(init, |a, &v| f(a, v));
        let lo = combine(combine(acc[0], acc[1]), combine(acc[2], acc[3]));
        let hi = combine(combine(acc[4], acc[5]), combine(acc[6], acc[7]));
        return combine(combine(lo, hi), tail);
    }
    // split at a multiple of RUN near the middle (below len, since len > RUN)
    let half = (x.len() / 2).div_ceil(RUN) * RUN;
    combine(
        fold_pairwise(&x[..half], init, f, combine),
        fold_pairwise(&x[half..], init, f, combine),
    )
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

    #[test]
    fn sums_are_as_accurate_as_pairwise_summation() {
        // 1 followed by many tiny terms, each below half an ulp of 1: a running sum loses all
        // of them, a pairwise one keeps them
        let n = 1 << 20;
        let mut x = vec![1e-16; n];
        x[0] = 1.0;
        let a = Array::from_vec(x, &[n]);
        let got = reduce(a.v::<f64>(), &[0], 0.0, |s, v| s + v, |s, t| s + t);
        let want = 1.0 + (n - 1) as f64 * 1e-16;
        // within 16 roundings of the total (the 16 terms of one accumulator in a run), where a
        // running sum would be 1e-10 off
        assert!(
            (got[0] - want).abs() <= 16.0 * f64::EPSILON,
            "{} vs {want}",
            got[0]
        );
        // odd lengths, rows of a matrix, and a max with a NaN, through the same folding
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
        let mut v: Vec<f64> = (0..5000).map(|i| i as f64).collect();
        v[4321] = f64::NAN;
        let pick = |a: f64, v: f64| if a.is_nan() || v <= a { a } else { v };
        let m = reduce(
            Array::from_vec(v, &[5000]).v::<f64>(),
            &[0],
            f64::NEG_INFINITY,
            pick,
            pick,
        );
        assert!(m[0].is_nan());
    }
}
