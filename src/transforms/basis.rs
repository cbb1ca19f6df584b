//! The chunked standard basis (torch.func's `_chunked_standard_basis_for_`): the rows
//! `start..start+len` of the identity over the concatenated, flattened leaves, one block per
//! leaf shaped `[len, *leaf.shape]`. Chunking of every Jacobian lives here.

use crate::array::{Array, DType, Shape, alloc_filled, numel};
use crate::core::Tensor;
use crate::error::{Error, Result};

/// `(start, len)` of each chunk of `total` rows (`chunk = None`: one chunk).
pub(crate) fn chunks(
    total: usize,
    chunk: Option<usize>,
    call: &str,
) -> Result<Vec<(usize, usize)>> {
    let c = match chunk {
        Some(0) => {
            return Err(Error::transform(
                call,
                "chunk_size must be a positive integer, got 0",
            ));
        }
        Some(c) => c,
        None => total.max(1),
    };
    Ok((0..total.div_ceil(c))
        .map(|i| (i * c, c.min(total - i * c)))
        .collect())
}

/// Rows `start..start+len` of the identity, split into one block per leaf.
pub(crate) fn basis_chunk(specs: &[(Shape, DType)], start: usize, len: usize) -> Vec<Tensor> {
    let mut off = 0;
    specs
        .iter()
        .map(|(shape, dtype)| {
            let n = numel(shape);
            let mut full: Shape = Shape::from_slice(&[len]);
            full.extend_from_slice(shape);
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
