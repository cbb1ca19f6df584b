//! Copies between strided layouts: concatenation, strided padding, casts.

use super::strided::Plan;
use super::with_dtype;
use crate::array::{
    AlignedVec, Array, DType, Element, View, alloc, alloc_filled, checked_numel,
    contiguous_strides, numel,
};

/// Copy `src` into `dst` seen through `dst_strides` from `dst_offset` (same shape as `src`).
pub(crate) fn copy_into<T: Element>(
    dst: &mut [T],
    dst_strides: &[isize],
    dst_offset: usize,
    src: View<'_, T>,
) {
    let plan = Plan::new(src.shape, [src.strides, dst_strides]);
    let data = src.data;
    plan.run([src.offset, dst_offset], 0, src.numel(), |[i, o]| {
        dst[o] = data[i]
    });
}

/// Concatenate arrays (same dtype, same shape but along `dim`) along `dim`.
///
/// # Panics
/// If the arrays do not have one dtype and equal shapes but along `dim`, or the result would be
/// too large (the public op checks all of this first; the check is repeated here because the
/// result is written without being zero-filled first).
pub(crate) fn concat(arrays: &[&Array], dim: usize) -> Array {
    let first = arrays[0];
    let mut shape = first.shape().to_vec();
    let fits = |a: &&Array| {
        a.dtype() == first.dtype()
            && a.shape().len() == shape.len()
            && (a.shape().iter().zip(&shape))
                .enumerate()
                .all(|(i, (x, y))| i == dim || x == y)
    };
    assert!(
        arrays.iter().all(fits),
        "internal error: concat of mismatched arrays"
    );
    let total = arrays
        .iter()
        .try_fold(0usize, |s, a| s.checked_add(a.shape()[dim]));
    shape[dim] = total.expect("internal error: concat result too large");
    checked_numel("cat", &shape).expect("internal error: concat result too large");
    let strides = contiguous_strides(&shape);
    with_dtype!(arrays[0].dtype(), T => {
        let n = numel(&shape);
        let mut out: AlignedVec<T> = alloc(n);
        // SAFETY: `alloc` reserved room for `n` elements. The pieces have the result's shape but
        // along `dim`, where their sizes add up to the result's (checked above), so the copies
        // below write every one of the `n` elements before the vector is read (or dropped:
        // T is `Copy`, with no destructor to run on the others); the copies themselves index
        // through bounds-checked slices.
        unsafe { out.set_len(n) };
        let mut at = 0usize;
        for a in arrays {
            copy_into(&mut out, &strides, at * strides[dim] as usize, a.v::<T>());
            at += a.shape()[dim];
        }
        Array::from_vec(out, &shape)
    })
}

/// Zeros of `x`'s shape with `dim` of size `size`, with `x` written at positions
/// `start, start + step, ...` along `dim` (the transpose of a strided slice).
pub(crate) fn pad_strided(x: &Array, dim: usize, start: usize, step: usize, size: usize) -> Array {
    let mut shape = x.shape().to_vec();
    shape[dim] = size;
    let strides = contiguous_strides(&shape);
    let mut dst_strides = strides.clone();
    dst_strides[dim] *= step as isize;
    with_dtype!(x.dtype(), T => {
        let mut out = alloc_filled(numel(&shape), T::default());
        copy_into(&mut out, &dst_strides, start * strides[dim] as usize, x.v::<T>());
        Array::from_vec(out, &shape)
    })
}

/// Convert elements to another dtype.
pub(crate) fn cast(x: &Array, to: DType) -> Array {
    use super::strided::map1;
    if x.dtype() == to {
        return x.clone();
    }
    with_dtype!(x.dtype(), S => {
        let v = x.v::<S>();
        match to {
            DType::F32 => Array::from_vec(map1(v, |e: S| e.to_f64() as f32), x.shape()),
            DType::F64 => Array::from_vec(map1(v, |e: S| e.to_f64()), x.shape()),
            DType::I64 => Array::from_vec(map1(v, |e: S| e.to_f64() as i64), x.shape()),
            DType::Bool => Array::from_vec(map1(v, |e: S| e.to_f64() != 0.0), x.shape()),
        }
    })
}
