//! Creating concrete tensors. (Random tensors are ops, in `ops::random`, because `vmap`'s
//! `randomness` option governs them.)

use crate::array::pool::fallible;
use crate::array::{
    ALIGN, AlignedVec, Array, DType, Element, MAX_NUMEL, alloc, alloc_filled, checked_numel,
};
use crate::core::Tensor;
use crate::error::{Error, Result};
use crate::kernels::with_dtype;

/// `Error::Shape` unless `len` elements fill `shape` (which must be within `MAX_NUMEL`).
fn check_fill(op: &'static str, len: usize, shape: &[usize]) -> Result<()> {
    let n = checked_numel(op, shape)?;
    if len != n {
        return Err(Error::shape(
            op,
            format!("{len} elements cannot fill shape {shape:?} ({n} elements)"),
        ));
    }
    Ok(())
}

impl Tensor {
    /// A tensor from row-major data and a shape.
    ///
    /// The vector's memory becomes the tensor's, without a copy, unless it is from 4 KiB up to
    /// 16 MiB and does not start on a 64-byte boundary: then it is copied once into memory
    /// that does, as every tensor buffer of such a size does (`NOTE: [aligned]`;
    /// [`from_aligned_vec`](Tensor::from_aligned_vec) never copies). Fails with `Error::Shape`
    /// if the elements do not fill the shape.
    ///
    /// ```
    /// let t = functorch::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        check_fill("from_vec", data.len(), shape)?;
        fallible("from_vec", || {
            let misaligned = AlignedVec::<T>::copied_on_adoption(data.len())
                && !(data.as_ptr() as usize).is_multiple_of(ALIGN);
            let data = if misaligned {
                let mut v = alloc(data.len());
                v.extend_from_slice(&data);
                v
            } else {
                AlignedVec::from(data)
            };
            Ok(Tensor::from_array(Array::from_vec(data, shape)))
        })
    }
    /// A tensor from row-major data and a shape, taking the buffer as it is (no copy).
    /// Fails with `Error::Shape` if the elements do not fill the shape.
    ///
    /// ```
    /// use functorch::{AlignedVec, Tensor};
    /// let mut v = AlignedVec::with_capacity(6);
    /// v.extend((0..6).map(|i| i as f64));
    /// let t = Tensor::from_aligned_vec(v, &[2, 3])?;
    /// assert_eq!(t.sum()?.item()?, 15.0);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn from_aligned_vec<T: Element>(data: AlignedVec<T>, shape: &[usize]) -> Result<Tensor> {
        check_fill("from_aligned_vec", data.len(), shape)?;
        Ok(Tensor::from_array(Array::from_vec(data, shape)))
    }
    /// A 1-d tensor holding a copy of `data`.
    pub fn from_slice<T: Element>(data: &[T]) -> Tensor {
        Tensor::from_array(Array::from_vec(AlignedVec::from_slice(data), &[data.len()]))
    }
    /// A 0-d tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_array(Array::from_vec(vec![value], &[]))
    }
    /// A tensor filled with `value` (converted to `dtype`).
    ///
    /// Fails with `Error::Shape` if the shape has more than [`MAX_NUMEL`]
    /// elements and with `Error::OutOfMemory` if its buffer cannot be allocated.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let t = Tensor::full(&[2, 2], 0.5, DType::F32)?;
    /// assert_eq!(t.to_vec::<f32>()?, vec![0.5; 4]);
    /// assert!(Tensor::full(&[1 << 40, 1 << 40], 0.5, DType::F32).is_err());
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        Tensor::full_named("full", shape, value, dtype)
    }
    pub(crate) fn full_named(
        op: &'static str,
        shape: &[usize],
        value: f64,
        dtype: DType,
    ) -> Result<Tensor> {
        let n = checked_numel(op, shape)?;
        fallible(op, || {
            Ok(Tensor::from_array(match dtype {
                DType::F32 => Array::from_vec(alloc_filled(n, value as f32), shape),
                DType::F64 => Array::from_vec(alloc_filled(n, value), shape),
                DType::I64 => Array::from_vec(alloc_filled(n, value as i64), shape),
                DType::Bool => Array::from_vec(alloc_filled(n, value != 0.0), shape),
            }))
        })
    }
    /// A tensor of zeros (fails as [`full`](Tensor::full) does).
    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full_named("zeros", shape, 0.0, dtype)
    }
    /// A tensor of ones (fails as [`full`](Tensor::full) does).
    pub fn ones(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full_named("ones", shape, 1.0, dtype)
    }
    /// Zeros of this tensor's shape and dtype (a concrete tensor, even for a tracer).
    pub fn zeros_like(&self) -> Result<Tensor> {
        Tensor::full_named("zeros_like", self.shape(), 0.0, self.dtype())
    }
    /// Ones of this tensor's shape and dtype (a concrete tensor, even for a tracer).
    pub fn ones_like(&self) -> Result<Tensor> {
        Tensor::full_named("ones_like", self.shape(), 1.0, self.dtype())
    }
    /// `value` at every position of this tensor's shape, in its dtype.
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Tensor::full_named("full_like", self.shape(), value, self.dtype())
    }
    /// The n×n identity matrix.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// assert_eq!(Tensor::eye(2, DType::F64)?.to_vec::<f64>()?, vec![1.0, 0.0, 0.0, 1.0]);
    /// assert!(Tensor::eye(1 << 32, DType::F64).is_err()); // 2^64 elements
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn eye(n: usize, dtype: DType) -> Result<Tensor> {
        let len = checked_numel("eye", &[n, n])?;
        fallible("eye", || {
            Ok(Tensor::from_array(with_dtype!(dtype, T => {
                let mut v = alloc_filled(len, T::from_f64(0.0));
                for i in 0..n {
                    v[i * n + i] = T::from_f64(1.0);
                }
                Array::from_vec(v, &[n, n])
            })))
        })
    }
    /// `start, start + step, ...` up to but excluding `end`, as PyTorch's `arange`.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let t = Tensor::arange(0.0, 1.0, 0.25, DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![0.0, 0.25, 0.5, 0.75]);
    /// assert!(Tensor::arange(0.0, 1e30, 1.0, DType::F64).is_err()); // too many elements
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("invalid range {start}..{end} step {step}"),
            ));
        }
        let len = ((end - start) / step).ceil().max(0.0);
        if len.is_nan() || len > MAX_NUMEL as f64 {
            return Err(Error::shape(
                "arange",
                format!(
                    "the range {start}..{end} step {step} is too large ({len:e} elements, more \
                     than {MAX_NUMEL})"
                ),
            ));
        }
        let n = len as usize;
        Tensor::generate("arange", n, dtype, |i| start + i as f64 * step)
    }
    /// `steps` evenly spaced values from `start` to `end` inclusive.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let t = Tensor::linspace(0.0, 1.0, 3, DType::F64)?;
    /// assert_eq!(t.to_vec::<f64>()?, vec![0.0, 0.5, 1.0]);
    /// assert!(Tensor::linspace(0.0, 1.0, usize::MAX, DType::F64).is_err());
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        checked_numel("linspace", &[steps])?;
        Tensor::generate("linspace", steps, dtype, |i| match steps {
            1 => start,
            _ => start + (end - start) * i as f64 / (steps - 1) as f64,
        })
    }

    /// A 1-d tensor of `n` (already checked against `MAX_NUMEL`) values `f(i)` as `dtype`.
    fn generate(
        op: &'static str,
        n: usize,
        dtype: DType,
        f: impl Fn(usize) -> f64,
    ) -> Result<Tensor> {
        fallible(op, || {
            Ok(Tensor::from_array(with_dtype!(dtype, T => {
                let mut v: AlignedVec<T> = alloc(n);
                v.extend((0..n).map(|i| T::from_f64(f(i))));
                Array::from_vec(v, &[n])
            })))
        })
    }
}
