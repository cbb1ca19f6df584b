//! Index ops: index_select, gather and their transposes index_add and scatter_add (the
//! primitives of `prims::index`), and one_hot (a decomposition). Indices are i64 tensors.

use super::{require_dtype, require_same_dtype};
use crate::array::{DType, checked_numel, normalize_dim};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::index::{Gather, IndexAdd, IndexSelect, ScatterAdd, checked_index};

impl Tensor {
    /// One-hot encoding of an i64 tensor: a new last dim of `num_classes`, i64.
    pub fn one_hot(&self, num_classes: usize) -> Result<Tensor> {
        require_dtype(
            "one_hot",
            self,
            DType::I64,
            "an i64 tensor of class indices",
        )?;
        let mut out_shape = self.shape().to_vec();
        out_shape.push(num_classes);
        checked_numel("one_hot", &out_shape)?;
        // the range check runs in the kernel, where the values are known under any transform
        let x = checked_index("one_hot", self, self.ndim(), num_classes)?;
        let classes = Tensor::arange(0.0, num_classes as f64, 1.0, DType::I64)?;
        x.unsqueeze(-1)?.eq(&classes)?.to_dtype(DType::I64)
    }
    /// The positions `index` (1-d, i64) lists along `dim`; repeats allowed.
    pub fn index_select(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("index_select", dim, self.ndim().max(1))?;
        require_dtype("index_select", index, DType::I64, "an i64 index")?;
        if index.ndim() != 1 {
            return Err(Error::shape(
                "index_select",
                format!("the index must be 1-d, got shape {:?}", index.shape()),
            ));
        }
        if self.ndim() == 0 {
            return self.reshape(&[1])?.index_select(0, index)?.reshape(&[-1]);
        }
        let mut out = self.shape().to_vec();
        out[d] = index.numel();
        checked_numel("index_select", &out)?;
        let index = &checked_index("index_select", index, d, self.shape()[d])?;
        bind(&IndexSelect { dim: d }, &[self, index])
    }
    /// `out[i][j] = x[i][index[i][j]]` for `dim = 1` (torch.gather): `index` has this tensor's
    /// rank and is no larger along the other dims.
    pub fn gather(&self, dim: i64, index: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("gather", dim, self.ndim())?;
        require_dtype("gather", index, DType::I64, "an i64 index")?;
        let ok = index_fits(index, self, d);
        if !ok {
            return Err(Error::shape(
                "gather",
                format!(
                    "index of shape {:?} does not fit input of shape {:?} along dim {d}",
                    index.shape(),
                    self.shape()
                ),
            ));
        }
        let index = &checked_index("gather", index, d, self.shape()[d])?;
        bind(&Gather { dim: d }, &[self, index])
    }
    /// This tensor plus `src[p]` added at `p with p[dim] = index[p]` (torch.scatter_add);
    /// `index` and `src` have the same shape.
    pub fn scatter_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("scatter_add", dim, self.ndim())?;
        require_dtype("scatter_add", index, DType::I64, "an i64 index")?;
        require_same_dtype("scatter_add", self, src)?;
        let ok = index.shape() == src.shape() && index_fits(index, self, d);
        if !ok {
            return Err(Error::shape(
                "scatter_add",
                format!(
                    "index {:?} and src {:?} must have equal shapes that fit {:?} along dims other than {d}",
                    index.shape(),
                    src.shape(),
                    self.shape()
                ),
            ));
        }
        let index = &checked_index("scatter_add", index, d, self.shape()[d])?;
        self.add(&bind(
            &ScatterAdd {
                dim: d,
                shape: self.shape().into(),
            },
            &[src, index],
        )?)
    }
    /// This tensor plus the slices of `src` added at the positions `index` lists along `dim`
    /// (torch.index_add).
    pub fn index_add(&self, dim: i64, index: &Tensor, src: &Tensor) -> Result<Tensor> {
        let d = normalize_dim("index_add", dim, self.ndim())?;
        require_dtype("index_add", index, DType::I64, "an i64 index")?;
        require_same_dtype("index_add", self, src)?;
        let mut want = self.shape().to_vec();
        if index.ndim() != 1 {
            return Err(Error::shape(
                "index_add",
                format!("the index must be 1-d, got shape {:?}", index.shape()),
            ));
        }
        want[d] = index.shape()[0];
        if src.shape() != want.as_slice() {
            return Err(Error::shape(
                "index_add",
                format!("src has shape {:?}, expected {want:?}", src.shape()),
            ));
        }
        let index = &checked_index("index_add", index, d, self.shape()[d])?;
        self.add(&bind(
            &IndexAdd {
                dim: d,
                size: self.shape()[d],
            },
            &[src, index],
        )?)
    }
}

/// `index` has `x`'s rank and is no larger than `x` along every dim but `d` (the shapes
/// torch.gather and torch.scatter_add accept).
fn index_fits(index: &Tensor, x: &Tensor, d: usize) -> bool {
    index.ndim() == x.ndim()
        && index
            .shape()
            .iter()
            .zip(x.shape())
            .enumerate()
            .all(|(i, (a, b))| i == d || a <= b)
}
