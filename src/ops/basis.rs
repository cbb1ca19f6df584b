//! Concrete helpers of the Jacobian transforms that work on memory: the chunked standard basis
//! (torch.func's `_chunked_standard_basis_for_`) and a row buffer that stacks chunks as they
//! come, preallocated or concatenated (torch.func's `compute_jacobian_preallocate_and_copy`).

use crate::array::{Array, Buffer, DType, Element, Shape, alloc_filled, contiguous_strides, numel};
use crate::core::Tensor;
use crate::error::Result;
use crate::kernels::copy::copy_into;
use crate::kernels::with_dtype;

/// Rows `start..start+len` of the identity over the concatenated, flattened leaves described
/// by `specs`, split into one block per leaf shaped `[len, *leaf.shape]`.
pub(crate) fn standard_basis_rows(
    specs: &[(Shape, DType)],
    start: usize,
    len: usize,
) -> Result<Vec<Tensor>> {
    // memory that cannot be had is an error, not an abort (see `array::pool::fallible`)
    crate::array::pool::fallible("jacobian basis", || Ok(basis_rows(specs, start, len)))
}

fn basis_rows(specs: &[(Shape, DType)], start: usize, len: usize) -> Vec<Tensor> {
    let mut off = 0;
    specs
        .iter()
        .map(|(shape, dtype)| {
            let n = numel(shape);
            let mut full: Shape = Shape::from_slice(&[len]);
            full.extend_from_slice(shape);
            if crate::array::checked_numel("jacobian basis", &full).is_err() {
                crate::array::pool::refuse_shape(&full);
            }
            let ones = |r: usize| -> Option<usize> {
                let g = start + r;
                (g >= off && g < off + n).then(|| r * n + (g - off))
            };
            let t = match dtype {
                DType::F32 => {
                    let mut v = alloc_filled(len * n, 0f32);
                    (0..len).filter_map(ones).for_each(|i| v[i] = 1.0);
                    Array::from_vec(v, &full)
                }
                _ => {
                    let mut v = alloc_filled(len * n, 0f64);
                    (0..len).filter_map(ones).for_each(|i| v[i] = 1.0);
                    Array::from_vec(v, &full)
                }
            };
            off += n;
            Tensor::from_array(t)
        })
        .collect()
}

/// The chunks of one output, stacked along `dim` as they come: kept and concatenated at the
/// end, or — with `preallocate`, along dim 0 — copied into a result allocated once (tracers,
/// which have no memory to copy into, are concatenated).
pub(crate) struct RowBuffer {
    total: usize,
    dim: usize,
    parts: Vec<Tensor>,
    buf: Option<(Buffer, Shape, usize)>,
    preallocate: bool,
}

impl RowBuffer {
    /// A buffer for `total` rows stacked along `dim`.
    pub(crate) fn new(total: usize, dim: usize, preallocate: bool) -> RowBuffer {
        RowBuffer {
            total,
            dim,
            parts: Vec::new(),
            buf: None,
            preallocate: preallocate && dim == 0,
        }
    }
    /// Add the next chunk of rows (an error if the preallocated result cannot be had).
    pub(crate) fn push(&mut self, t: Tensor) -> Result<()> {
        crate::array::pool::fallible("jacobian preallocate", || {
            self.push_rows(t);
            Ok(())
        })
    }
    fn push_rows(&mut self, t: Tensor) {
        // a chunk holding every row is the result itself: copying it would only add a buffer
        let concrete = t
            .array()
            .filter(|a| self.preallocate && self.parts.is_empty() && a.shape()[0] < self.total);
        let Some(a) = concrete else {
            self.parts.push(t);
            return;
        };
        let (buf, shape, filled) = self.buf.get_or_insert_with(|| {
            let mut shape = Shape::from_slice(a.shape());
            shape[0] = self.total;
            let n = numel(&shape);
            let buf =
                with_dtype!(a.dtype(), T => <T as Element>::into_buffer(alloc_filled(n, T::default())));
            (buf, shape, 0)
        });
        let strides = contiguous_strides(shape);
        let at = *filled * strides[0] as usize;
        match buf {
            Buffer::F32(v) => copy_into(v, &strides, at, a.v::<f32>()),
            Buffer::F64(v) => copy_into(v, &strides, at, a.v::<f64>()),
            Buffer::I64(v) => copy_into(v, &strides, at, a.v::<i64>()),
            Buffer::Bool(v) => copy_into(v, &strides, at, a.v::<bool>()),
        }
        *filled += a.shape()[0];
    }
    /// All the rows, as one tensor.
    pub(crate) fn finish(self) -> Result<Tensor> {
        match self.buf {
            Some((buf, shape, _)) => Ok(Tensor::from_array(Array::from_buffer(buf, &shape))),
            None if self.parts.len() == 1 => Ok(self.parts.into_iter().next().unwrap()),
            None => Tensor::cat(&self.parts, self.dim as i64),
        }
    }
}
