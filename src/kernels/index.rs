//! Indexing kernels: index_select / index_add along one dim with a 1-d index, and gather /
//! scatter_add with an index of the operand's rank. Indices are checked here, where their values
//! are known.

use super::strided::Plan;
use super::with_dtype;
use crate::array::{
    AlignedVec, Array, DType, Element, alloc, alloc_filled, checked_numel, contiguous_strides,
    numel,
};
use crate::error::{Error, Result};

fn check(op: &'static str, idx: &[i64], dim: usize, size: usize) -> Result<()> {
    for &i in idx {
        if i < 0 || i as usize >= size {
            return Err(Error::Index {
                op,
                index: i,
                dim,
                size,
            });
        }
    }
    Ok(())
}

/// Check that every element of the i64 array `x` lies in `0..size` (errors report `dim`).
pub(crate) fn check_range(op: &'static str, x: &Array, dim: usize, size: usize) -> Result<()> {
    let (mut bad, data) = (None, x.v::<i64>().data);
    Plan::new(x.shape(), [x.strides()]).run([x.offset], 0, x.numel(), |[i]| {
        let v = data[i];
        if bad.is_none() && (v < 0 || v as u64 >= size as u64) {
            bad = Some(v);
        }
    });
    match bad {
        Some(index) => Err(Error::Index {
            op,
            index,
            dim,
            size,
        }),
        None => Ok(()),
    }
}

/// The first element of the float array `x` (f32 or f64) for which `ok` fails, as f64.
pub(crate) fn find_float(x: &Array, ok: fn(f64) -> bool) -> Option<f64> {
    fn scan<T: Element + Into<f64>>(x: &Array, ok: fn(f64) -> bool) -> Option<f64> {
        let (mut bad, data) = (None, x.v::<T>().data);
        Plan::new(x.shape(), [x.strides()]).run([x.offset], 0, x.numel(), |[i]| {
            let v: f64 = data[i].into();
            if bad.is_none() && !ok(v) {
                bad = Some(v);
            }
        });
        bad
    }
    match x.dtype() {
        DType::F32 => scan::<f32>(x, ok),
        _ => scan::<f64>(x, ok),
    }
}

/// `x` with `dim` replaced by the positions listed in `idx` (1-d).
pub fn index_select(x: &Array, dim: usize, idx: &Array) -> Result<Array> {
    let mut shape = x.shape().to_vec();
    shape[dim] = idx.numel();
    checked_numel("index_select", &shape)?;
    let iv = idx.to_vec::<i64>().expect("i64 index");
    check("index_select", &iv, dim, x.shape()[dim])?;
    let mut xs = x.strides().to_vec();
    let sd = xs[dim];
    xs[dim] = 0;
    let mut is = vec![0isize; shape.len()];
    is[dim] = 1;
    let plan = Plan::new(&shape, [&xs, &is]);
    Ok(with_dtype!(x.dtype(), T => {
        let d = x.v::<T>().data;
        let mut out: AlignedVec<T> = alloc(numel(&shape));
        plan.run([x.offset, 0], 0, numel(&shape), |[o, k]| {
            out.push(d[(o as isize + iv[k] as isize * sd) as usize]);
        });
        Array::from_vec(out, &shape)
    }))
}

/// Zeros with `dim` of size `size`, plus `src`'s slices added at the positions `idx` lists
/// (the transpose of index_select).
pub fn index_add(src: &Array, dim: usize, idx: &Array, size: usize) -> Result<Array> {
    let iv = idx.to_vec::<i64>().expect("i64 index");
    check("index_add", &iv, dim, size)?;
    let mut shape = src.shape().to_vec();
    shape[dim] = size;
    let mut os = contiguous_strides(&shape).to_vec();
    let sd = os[dim];
    os[dim] = 0;
    let mut is = vec![0isize; shape.len()];
    is[dim] = 1;
    let plan = Plan::new(src.shape(), [src.strides(), &os, &is]);
    Ok(with_dtype!(src.dtype(), T => {
        let d = src.v::<T>().data;
        let mut out = alloc_filled(numel(&shape), T::default());
        plan.run([src.offset, 0, 0], 0, src.numel(), |[i, o, k]| {
            let p = (o as isize + iv[k] as isize * sd) as usize;
            out[p] = add(out[p], d[i]);
        });
        Array::from_vec(out, &shape)
    }))
}

#[inline(always)]
fn add<T: Element>(a: T, b: T) -> T {
    T::from_f64(a.to_f64() + b.to_f64())
}

/// `out[p] = x[p with p[dim] = idx[p]]`, out shaped like `idx`.
pub fn gather(x: &Array, dim: usize, idx: &Array) -> Result<Array> {
    let shape = idx.shape().to_vec();
    let mut xs = x.strides().to_vec();
    let sd = xs[dim];
    xs[dim] = 0;
    let size = x.shape()[dim];
    let iv = idx.v::<i64>();
    let id = iv.data;
    let plan = Plan::new(&shape, [&xs, idx.strides()]);
    let mut bad = None;
    let out = with_dtype!(x.dtype(), T => {
        let d = x.v::<T>().data;
        let mut out: AlignedVec<T> = alloc(numel(&shape));
        plan.run([x.offset, idx.offset], 0, numel(&shape), |[o, k]| {
            let j = id[k];
            if j < 0 || j as usize >= size {
                bad = Some(j);
                out.push(T::default());
            } else {
                out.push(d[(o as isize + j as isize * sd) as usize]);
            }
        });
        Array::from_vec(out, &shape)
    });
    match bad {
        Some(j) => Err(Error::Index {
            op: "gather",
            index: j,
            dim,
            size,
        }),
        None => Ok(out),
    }
}

/// Zeros of `shape` plus `src[p]` added at `p with p[dim] = idx[p]` (the transpose of gather).
pub fn scatter_add(src: &Array, dim: usize, idx: &Array, shape: &[usize]) -> Result<Array> {
    let mut os = contiguous_strides(shape).to_vec();
    let sd = os[dim];
    os[dim] = 0;
    let size = shape[dim];
    let iv = idx.v::<i64>();
    let id = iv.data;
    let plan = Plan::new(idx.shape(), [src.strides(), idx.strides(), &os]);
    let mut bad = None;
    let out = with_dtype!(src.dtype(), T => {
        let d = src.v::<T>().data;
        let mut out = alloc_filled(numel(shape), T::default());
        plan.run([src.offset, idx.offset, 0], 0, idx.numel(), |[i, k, o]| {
            let j = id[k];
            if j < 0 || j as usize >= size {
                bad = Some(j);
            } else {
                let p = (o as isize + j as isize * sd) as usize;
                out[p] = add(out[p], d[i]);
            }
        });
        Array::from_vec(out, shape)
    });
    match bad {
        Some(j) => Err(Error::Index {
            op: "scatter_add",
            index: j,
            dim,
            size,
        }),
        None => Ok(out),
    }
}
