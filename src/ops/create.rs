//! Creating concrete tensors. (Random tensors are ops, in `ops::random`, because `vmap`'s
//! `randomness` option governs them.)

use crate::array::{Array, DType, Element, alloc_filled, numel};
use crate::core::Tensor;
use crate::error::{Error, Result};

impl Tensor {
    /// A tensor from row-major data and a shape.
    ///
    /// ```
    /// let t = functorch::Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])?;
    /// assert_eq!(t.shape(), &[2, 3]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::shape(
                "from_vec",
                format!(
                    "{} elements cannot fill shape {shape:?} ({} elements)",
                    data.len(),
                    numel(shape)
                ),
            ));
        }
        Ok(Tensor::from_array(Array::from_vec(data, shape)))
    }
    /// A 1-d tensor holding a copy of `data`.
    pub fn from_slice<T: Element>(data: &[T]) -> Tensor {
        Tensor::from_array(Array::from_vec(data.to_vec(), &[data.len()]))
    }
    /// A 0-d tensor.
    pub fn scalar<T: Element>(value: T) -> Tensor {
        Tensor::from_array(Array::from_vec(vec![value], &[]))
    }
    /// A tensor filled with `value` (converted to `dtype`).
    pub fn full(shape: &[usize], value: f64, dtype: DType) -> Tensor {
        let n = numel(shape);
        Tensor::from_array(match dtype {
            DType::F32 => Array::from_vec(alloc_filled(n, value as f32), shape),
            DType::F64 => Array::from_vec(alloc_filled(n, value), shape),
            DType::I64 => Array::from_vec(alloc_filled(n, value as i64), shape),
            DType::Bool => Array::from_vec(alloc_filled(n, value != 0.0), shape),
        })
    }
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }
    /// A tensor of ones.
    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 1.0, dtype)
    }
    /// Zeros of this tensor's shape and dtype (a concrete tensor, even for a tracer).
    pub fn zeros_like(&self) -> Tensor {
        Tensor::zeros(self.shape(), self.dtype())
    }
    /// Ones of this tensor's shape and dtype (a concrete tensor, even for a tracer).
    pub fn ones_like(&self) -> Tensor {
        Tensor::ones(self.shape(), self.dtype())
    }
    /// `value` at every position of this tensor's shape, in its dtype.
    pub fn full_like(&self, value: f64) -> Tensor {
        Tensor::full(self.shape(), value, self.dtype())
    }
    /// The n×n identity matrix.
    pub fn eye(n: usize, dtype: DType) -> Tensor {
        let mut v = vec![0.0; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_vec(v, &[n, n]).unwrap().cast_concrete(dtype)
    }
    /// `start, start + step, ...` up to but excluding `end`, as PyTorch's `arange`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("invalid range {start}..{end} step {step}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Ok(Tensor::from_vec(v, &[n])?.cast_concrete(dtype))
    }
    /// `steps` evenly spaced values from `start` to `end` inclusive.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Tensor {
        let v: Vec<f64> = match steps {
            0 => vec![],
            1 => vec![start],
            _ => (0..steps)
                .map(|i| start + (end - start) * i as f64 / (steps - 1) as f64)
                .collect(),
        };
        Tensor::from_vec(v, &[steps]).unwrap().cast_concrete(dtype)
    }

    /// Conversion of a concrete f64 tensor built here to another dtype.
    pub(crate) fn cast_concrete(self, dtype: DType) -> Tensor {
        if dtype == DType::F64 {
            return self;
        }
        let v = self.to_vec::<f64>().expect("built as f64");
        let shape = self.shape().to_vec();
        Tensor::from_array(match dtype {
            DType::F32 => Array::from_vec(v.into_iter().map(|x| x as f32).collect(), &shape),
            DType::I64 => Array::from_vec(v.into_iter().map(|x| x as i64).collect(), &shape),
            DType::Bool => Array::from_vec(v.into_iter().map(|x| x != 0.0).collect(), &shape),
            DType::F64 => unreachable!(),
        })
    }
}
