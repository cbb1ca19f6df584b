//! Shape ops. Primitives: reshape, permute, broadcast_to, slice, cat, flip. Everything else
//! here (flatten, transpose, movedim, squeeze, unsqueeze, expand, select, stack, split, chunk,
//! diagonal, diag, tril, triu, ...) is a decomposition. The index ops are in `index`.

use crate::array::{Shape, broadcasts_to, infer_reshape, normalize_dim, normalize_dims};
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::prims::shape::{BroadcastTo, Concat, Flip, Permute, Reshape, Slice};
use smallvec::SmallVec;

impl Tensor {
    /// The same elements in a new shape; one entry may be -1. A view when the layout allows.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::arange(0.0, 6.0, 1.0, functorch::DType::F64)?;
    /// assert_eq!(x.reshape(&[2, -1])?.shape(), &[2, 3]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        let shape = infer_reshape("reshape", self.shape(), shape)?;
        if shape.as_slice() == self.shape() {
            return self.passthrough("reshape");
        }
        bind(&Reshape { shape }, &[self])
    }
    /// All elements as a 1-d tensor.
    pub fn flatten(&self) -> Result<Tensor> {
        self.reshape(&[-1])
    }
    /// Merge dims `start..=end` into one.
    pub fn flatten_dims(&self, start: i64, end: i64) -> Result<Tensor> {
        if self.ndim() == 0 {
            return self.reshape(&[1]);
        }
        let s = normalize_dim("flatten", start, self.ndim())?;
        let e = normalize_dim("flatten", end, self.ndim())?;
        if s > e {
            return Err(Error::invalid(
                "flatten",
                format!("start dim {start} comes after end dim {end}"),
            ));
        }
        let mut shape: Vec<i64> = self.shape()[..s].iter().map(|&v| v as i64).collect();
        shape.push(self.shape()[s..=e].iter().product::<usize>() as i64);
        shape.extend(self.shape()[e + 1..].iter().map(|&v| v as i64));
        self.reshape(&shape)
    }
    /// Reorder all dims (a view).
    pub fn permute(&self, perm: &[i64]) -> Result<Tensor> {
        if perm.len() != self.ndim() {
            return Err(Error::shape(
                "permute",
                format!(
                    "permutation {perm:?} has {} entries for a tensor of rank {}",
                    perm.len(),
                    self.ndim()
                ),
            ));
        }
        let p = normalize_dims("permute", perm, self.ndim())?;
        if p.iter().enumerate().all(|(i, &v)| i == v) {
            return self.passthrough("permute");
        }
        bind(&Permute { perm: p }, &[self])
    }
    /// Swap two dims (a view).
    pub fn transpose(&self, dim0: i64, dim1: i64) -> Result<Tensor> {
        let n = self.ndim();
        let a = normalize_dim("transpose", dim0, n.max(1))?;
        let b = normalize_dim("transpose", dim1, n.max(1))?;
        if a == b || n < 2 {
            return self.passthrough("transpose");
        }
        let mut perm: Vec<i64> = (0..n as i64).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }
    /// The transpose of a matrix (rank ≤ 2), as `torch.Tensor.t`.
    pub fn t(&self) -> Result<Tensor> {
        if self.ndim() > 2 {
            return Err(Error::shape(
                "t",
                format!(
                    "expects a tensor of rank <= 2, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        self.transpose(0, -1)
    }
    /// Swap the last two dims (the matrix transpose of a batch of matrices).
    pub fn mt(&self) -> Result<Tensor> {
        if self.ndim() < 2 {
            return Err(Error::shape(
                "mT",
                format!(
                    "expects a tensor of rank >= 2, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        self.transpose(-2, -1)
    }
    /// Move dim `source` to position `destination`.
    pub fn movedim(&self, source: i64, destination: i64) -> Result<Tensor> {
        let n = self.ndim();
        let s = normalize_dim("movedim", source, n.max(1))?;
        let d = normalize_dim("movedim", destination, n.max(1))?;
        if s == d || n < 2 {
            return self.passthrough("movedim");
        }
        let mut perm: Vec<i64> = (0..n as i64).filter(|&i| i as usize != s).collect();
        perm.insert(d, s as i64);
        self.permute(&perm)
    }
    /// Remove `dim` if it has size 1 (otherwise return the tensor unchanged, as PyTorch).
    pub fn squeeze(&self, dim: i64) -> Result<Tensor> {
        let d = normalize_dim("squeeze", dim, self.ndim().max(1))?;
        if self.ndim() == 0 || self.shape()[d] != 1 {
            return self.passthrough("squeeze");
        }
        let s: Vec<i64> = self
            .shape()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != d)
            .map(|(_, &v)| v as i64)
            .collect();
        self.reshape(&s)
    }
    /// Remove the listed dims that have size 1.
    pub fn squeeze_dims(&self, dims: &[i64]) -> Result<Tensor> {
        let ds = normalize_dims("squeeze", dims, self.ndim().max(1))?;
        let s: Vec<i64> = self
            .shape()
            .iter()
            .enumerate()
            .filter(|(i, v)| !(ds.contains(i) && **v == 1))
            .map(|(_, &v)| v as i64)
            .collect();
        self.reshape(&s)
    }
    /// Remove every size-1 dim.
    pub fn squeeze_all(&self) -> Result<Tensor> {
        let s: Vec<i64> = self
            .shape()
            .iter()
            .filter(|&&v| v != 1)
            .map(|&v| v as i64)
            .collect();
        self.reshape(&s)
    }
    /// Insert a size-1 dim at `dim` (negative counts from the end of the result: -1 appends).
    pub fn unsqueeze(&self, dim: i64) -> Result<Tensor> {
        let d = crate::array::normalize_new_dim("unsqueeze", dim, self.ndim())?;
        let mut s: Vec<i64> = self.shape().iter().map(|&v| v as i64).collect();
        s.insert(d, 1);
        self.reshape(&s)
    }
    /// Broadcast to `shape` without copying (new leading dims allowed).
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        if self.shape() == shape {
            return self.passthrough("broadcast_to");
        }
        if !broadcasts_to(self.shape(), shape) {
            return Err(Error::shape(
                "broadcast_to",
                format!(
                    "the shape {:?} cannot be broadcast to {shape:?}",
                    self.shape()
                ),
            ));
        }
        crate::array::checked_numel("broadcast_to", shape)?;
        bind(
            &BroadcastTo {
                shape: Shape::from_slice(shape),
            },
            &[self],
        )
    }
    /// PyTorch's `expand`: like `broadcast_to`, where -1 keeps the existing size.
    pub fn expand(&self, shape: &[i64]) -> Result<Tensor> {
        let lead = shape.len().checked_sub(self.ndim()).ok_or_else(|| {
            Error::shape(
                "expand",
                format!(
                    "cannot expand shape {:?} to {shape:?}: fewer dims",
                    self.shape()
                ),
            )
        })?;
        let mut to = Vec::with_capacity(shape.len());
        for (i, &s) in shape.iter().enumerate() {
            to.push(if s == -1 {
                if i < lead {
                    return Err(Error::shape(
                        "expand",
                        format!("-1 is not allowed for a new leading dim in {shape:?}"),
                    ));
                }
                self.shape()[i - lead]
            } else if s < 0 {
                return Err(Error::shape(
                    "expand",
                    format!("invalid size {s} in {shape:?}"),
                ));
            } else {
                s as usize
            });
        }
        crate::array::checked_numel("expand", &to)?;
        self.broadcast_to(&to).map_err(|_| {
            Error::shape(
                "expand",
                format!(
                    "the shape {:?} cannot be expanded to {shape:?}",
                    self.shape()
                ),
            )
        })
    }
    /// `x[start:end:step]` along `dim`, with Python's rules: negative `start`/`end` count from
    /// the end, both are clamped to the dim (`i64::MAX` means "to the end"); `step` ≥ 1. A view.
    pub fn slice(&self, dim: i64, start: i64, end: i64, step: i64) -> Result<Tensor> {
        let d = normalize_dim("slice", dim, self.ndim())?;
        if step < 1 {
            return Err(Error::invalid(
                "slice",
                format!("step must be positive, got {step}"),
            ));
        }
        let n = self.shape()[d] as i64;
        let clampi = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
        let (s, e) = (clampi(start), clampi(end));
        let len = if e > s { (e - s - 1) / step + 1 } else { 0 } as usize;
        if s == 0 && step == 1 && len as i64 == n {
            return self.passthrough("slice");
        }
        bind(
            &Slice {
                dim: d,
                start: s as usize,
                len,
                step: step as usize,
            },
            &[self],
        )
    }
    /// `len` elements from `start` along `dim`.
    pub fn narrow(&self, dim: i64, start: usize, len: usize) -> Result<Tensor> {
        let d = normalize_dim("narrow", dim, self.ndim())?;
        let end = start.saturating_add(len);
        if end > self.shape()[d] {
            return Err(Error::Index {
                op: "narrow",
                index: end.min(i64::MAX as usize) as i64,
                dim: d,
                size: self.shape()[d],
            });
        }
        self.slice(dim, start as i64, end as i64, 1)
    }
    /// The slice at `index` along `dim`, with that dim removed (negative `index` counts from
    /// the end).
    pub fn select(&self, dim: i64, index: i64) -> Result<Tensor> {
        let d = normalize_dim("select", dim, self.ndim())?;
        let n = self.shape()[d] as i64;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(Error::Index {
                op: "select",
                index,
                dim: d,
                size: n as usize,
            });
        }
        self.slice(d as i64, i, i + 1, 1)?.squeeze(d as i64)
    }
    /// Element `index` of the leading dim: `x[i]`.
    pub fn get(&self, index: i64) -> Result<Tensor> {
        self.select(0, index)
    }
    /// Reverse the listed dims (a view).
    pub fn flip(&self, dims: &[i64]) -> Result<Tensor> {
        let d = normalize_dims("flip", dims, self.ndim().max(1))?;
        let d: SmallVec<[usize; 4]> = d.into_iter().filter(|&v| v < self.ndim()).collect();
        if d.is_empty() {
            return self.passthrough("flip");
        }
        bind(&Flip { dims: d }, &[self])
    }
    /// Concatenate along an existing dim; shapes must agree elsewhere.
    pub fn cat(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("cat", "expected a non-empty list of tensors"))?;
        if first.ndim() == 0 {
            return Err(Error::shape(
                "cat",
                "zero-dimensional tensors cannot be concatenated",
            ));
        }
        let d = normalize_dim("cat", dim, first.ndim())?;
        for t in &tensors[1..] {
            super::require_same_dtype("cat", first, t)?;
            let ok = t.ndim() == first.ndim()
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (a, b))| i == d || a == b);
            if !ok {
                let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
                return Err(Error::shape(
                    "cat",
                    format!("shapes {shapes:?} must match except in dim {d}"),
                ));
            }
        }
        if tensors.len() == 1 {
            return first.passthrough("cat");
        }
        let mut shape = first.shape().to_vec();
        shape[d] = tensors
            .iter()
            .map(|t| t.shape()[d])
            .fold(0, usize::saturating_add);
        crate::array::checked_numel("cat", &shape)?;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        bind(&Concat { dim: d }, &refs)
    }
    /// Stack equally shaped tensors along a new dim.
    pub fn stack(tensors: &[Tensor], dim: i64) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("stack", "expected a non-empty list of tensors"))?;
        let d = crate::array::normalize_new_dim("stack", dim, first.ndim())?;
        for t in &tensors[1..] {
            super::require_same_dtype("stack", first, t)?;
            if t.shape() != first.shape() {
                let shapes: Vec<&[usize]> = tensors.iter().map(|t| t.shape()).collect();
                return Err(Error::shape(
                    "stack",
                    format!("expects tensors of equal shape, got {shapes:?}"),
                ));
            }
        }
        let us: Vec<Tensor> = tensors
            .iter()
            .map(|t| t.unsqueeze(d as i64))
            .collect::<Result<_>>()?;
        Tensor::cat(&us, d as i64)
    }
    /// Split into pieces of `size` along `dim` (the last may be smaller).
    pub fn split(&self, size: usize, dim: i64) -> Result<Vec<Tensor>> {
        let d = normalize_dim("split", dim, self.ndim())?;
        if size == 0 {
            return Err(Error::invalid("split", "split size must be positive"));
        }
        let n = self.shape()[d];
        (0..n.div_ceil(size).max(1))
            .map(|i| {
                self.slice(
                    d as i64,
                    (i * size) as i64,
                    ((i + 1) * size).min(n) as i64,
                    1,
                )
            })
            .collect()
    }
    /// Split into `chunks` nearly equal pieces along `dim` (as `torch.chunk`).
    pub fn chunk(&self, chunks: usize, dim: i64) -> Result<Vec<Tensor>> {
        if chunks == 0 {
            return Err(Error::invalid("chunk", "number of chunks must be positive"));
        }
        let d = normalize_dim("chunk", dim, self.ndim())?;
        self.split(self.shape()[d].div_ceil(chunks).max(1), dim)
    }
    /// The diagonal of the matrices in dims `dim1`, `dim2` (offset > 0: above the main
    /// diagonal), as a new last dim.
    pub fn diagonal(&self, offset: i64, dim1: i64, dim2: i64) -> Result<Tensor> {
        let n = self.ndim();
        let a = normalize_dim("diagonal", dim1, n)?;
        let b = normalize_dim("diagonal", dim2, n)?;
        if a == b {
            return Err(Error::invalid("diagonal", "dim1 and dim2 must differ"));
        }
        let mut perm: Vec<i64> = (0..n)
            .filter(|&i| i != a && i != b)
            .map(|i| i as i64)
            .collect();
        perm.extend([a as i64, b as i64]);
        let x = self.permute(&perm)?;
        let (r, c) = (self.shape()[a] as i64, self.shape()[b] as i64);
        let (start, count) = if offset >= 0 {
            (offset, r.min(c - offset))
        } else {
            // (the start only matters when the count is positive, so saturating is exact)
            (
                offset.saturating_neg().saturating_mul(c),
                (r + offset).min(c),
            )
        };
        let count = count.max(0);
        let mut flat: Vec<i64> = x.shape()[..n - 2].iter().map(|&v| v as i64).collect();
        flat.push(r * c);
        let x = x.reshape(&flat)?;
        if count == 0 {
            return x.slice(-1, 0, 0, 1);
        }
        x.slice(-1, start, start + (count - 1) * (c + 1) + 1, c + 1)
    }
    /// A 1-d tensor's diagonal matrix, or a 2-d tensor's main diagonal.
    pub fn diag(&self) -> Result<Tensor> {
        match self.ndim() {
            1 => Tensor::eye(self.shape()[0], self.dtype())?.mul(&self.unsqueeze(0)?),
            2 => self.diagonal(0, 0, 1),
            _ => Err(Error::shape(
                "diag",
                format!("expects a 1-d or 2-d tensor, got shape {:?}", self.shape()),
            )),
        }
    }
    /// The sum of the main diagonal of a matrix.
    pub fn trace(&self) -> Result<Tensor> {
        if self.ndim() != 2 {
            return Err(Error::shape(
                "trace",
                format!("expects a matrix, got shape {:?}", self.shape()),
            ));
        }
        self.diagonal(0, 0, 1)?.sum()
    }
    /// The lower triangle of the last two dims (at and below diagonal `k`), zeros above.
    pub fn tril(&self, k: i64) -> Result<Tensor> {
        self.triangle("tril", k, true)
    }
    /// The upper triangle of the last two dims (at and above diagonal `k`), zeros below.
    pub fn triu(&self, k: i64) -> Result<Tensor> {
        self.triangle("triu", k, false)
    }
    fn triangle(&self, op: &'static str, k: i64, lower: bool) -> Result<Tensor> {
        if self.ndim() < 2 {
            return Err(Error::shape(
                op,
                format!(
                    "expects a tensor of rank >= 2, got shape {:?}",
                    self.shape()
                ),
            ));
        }
        let (r, c) = (self.shape()[self.ndim() - 2], self.shape()[self.ndim() - 1]);
        let mut m = Vec::with_capacity(r * c);
        for i in 0..r as i64 {
            for j in 0..c as i64 {
                m.push(if lower { j - i <= k } else { j - i >= k });
            }
        }
        let mask = Tensor::from_vec(m, &[r, c])?;
        Tensor::where_(&mask, self, &Tensor::zeros(&[], self.dtype())?)
    }
}
