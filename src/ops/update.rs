//! Functional updates: a copy of a tensor with some of its elements set or increased, the
//! transformable form of torch's in-place `x[idx] = v`, `index_put_`, `masked_fill_` and of
//! JAX's `x.at[idx].set(v)`. The tensor itself never changes.
//!
//! All are decompositions over primitives that carry exact derivative and batching rules:
//! `cat` and `slice` (contiguous slices), `index_add` and `where` (strided slices, index
//! tensors, masks), `gather` (`masked_scatter`), plus two integer primitives in
//! `prims::update` that say which write wins and where a masked position reads from. So every
//! update is differentiable in both the tensor and the values, to any order, and batches under
//! `vmap` with any of its operands batched (the indices and masks included).

use super::{require_dtype, require_same_dtype};
use crate::array::{DType, broadcast_shapes, broadcasts_to, normalize_dim};
use crate::core::{Tensor, bind};
use crate::error::{Error, Result};
use crate::prims::index::IndexAdd;
use crate::prims::update::{CountBefore, LastWrite};

/// `(start, len)` of `start..end` by `step` along a dim of size `n`, with Python's rules (as
/// [`Tensor::slice`]).
fn slice_range(
    op: &'static str,
    n: usize,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(usize, usize)> {
    if step < 1 {
        return Err(Error::invalid(
            op,
            format!("step must be positive, got {step}"),
        ));
    }
    let n = n as i64;
    let clampi = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let (s, e) = (clampi(start), clampi(end));
    let len = if e > s { (e - s - 1) / step + 1 } else { 0 };
    Ok((s as usize, len as usize))
}

/// A scalar of `dtype`.
fn scalar(value: f64, dtype: DType) -> Tensor {
    Tensor::full(&[], value, dtype).expect("a 0-d tensor fits in memory")
}

/// Shape `[n, 1, .., 1]` of rank `rank` (a per-row flag broadcast over the rest).
fn column(n: usize, rank: usize) -> Vec<i64> {
    let mut s = vec![1i64; rank];
    s[0] = n as i64;
    s
}

impl Tensor {
    /// A copy with the elements where `mask` is true set to `value` (torch's `masked_fill`).
    /// `mask` is bool and broadcasts to this tensor's shape. No derivative flows to the filled
    /// positions.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_slice(&[1.0, -2.0, 3.0]);
    /// let y = x.masked_fill(&x.lt_scalar(0.0)?, 0.0)?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 0.0, 3.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Tensor> {
        check_mask("masked_fill", self, mask)?;
        Tensor::where_(mask, &scalar(value, self.dtype()), self)
    }

    /// A copy with the positions where `mask` is true (in row-major order) set to the first
    /// elements of `source`, in order (torch's `masked_scatter`). `mask` is bool and broadcasts
    /// to this tensor's shape; `source` needs at least as many elements as the mask selects
    /// (checked here when the mask is concrete, by the gather that reads `source` otherwise).
    /// Differentiable in this tensor and in `source`.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::zeros(&[2, 2], functorch::DType::F64)?;
    /// let mask = Tensor::from_vec(vec![true, false, true, true], &[2, 2])?;
    /// let y = x.masked_scatter(&mask, &Tensor::from_slice(&[5.0, 6.0, 7.0, 8.0]))?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![5.0, 0.0, 6.0, 7.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn masked_scatter(&self, mask: &Tensor, source: &Tensor) -> Result<Tensor> {
        const OP: &str = "masked_scatter";
        check_mask(OP, self, mask)?;
        require_same_dtype(OP, self, source)?;
        let n = self.numel();
        let m = mask.broadcast_to(self.shape())?.reshape(&[n as i64])?;
        if let Some(a) = m.array() {
            let count = a
                .to_vec::<bool>()
                .expect("a bool mask")
                .iter()
                .filter(|&&b| b)
                .count();
            if count > source.numel() {
                return Err(Error::shape(
                    OP,
                    format!(
                        "the mask selects {count} elements, but source of shape {:?} has only {}",
                        source.shape(),
                        source.numel()
                    ),
                ));
            }
        }
        let zero = scalar(0.0, DType::I64);
        let pos = Tensor::where_(&m, &bind(&CountBefore, &[&m])?, &zero)?;
        let mut src = source.reshape(&[-1])?;
        if src.numel() == 0 {
            // nothing is read (the mask selects nothing); one element keeps the gather in range
            src = Tensor::zeros(&[1], self.dtype())?;
        }
        let picked = src.gather(0, &pos)?;
        let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        Tensor::where_(&m, &picked, &self.reshape(&[n as i64])?)?.reshape(&shape)
    }

    /// A copy with the slice `start..end` by `step` along `dim` replaced by `src` (torch's
    /// `slice_scatter`; the slice follows [`slice`](Tensor::slice)'s rules). `src` has the
    /// slice's shape. Differentiable in this tensor and in `src`.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::zeros(&[5], DType::F64)?;
    /// let y = x.slice_scatter(&Tensor::from_slice(&[1.0, 2.0]), 0, 1, 5, 2)?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 1.0, 0.0, 2.0, 0.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn slice_scatter(
        &self,
        src: &Tensor,
        dim: i64,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Tensor> {
        const OP: &str = "slice_scatter";
        let d = normalize_dim(OP, dim, self.ndim())?;
        let (s, len) = slice_range(OP, self.shape()[d], start, end, step)?;
        require_same_dtype(OP, self, src)?;
        let mut want = self.shape().to_vec();
        want[d] = len;
        if src.shape() != want.as_slice() {
            return Err(Error::shape(
                OP,
                format!(
                    "expected src to have the shape of the slice, {want:?}, got {:?}",
                    src.shape()
                ),
            ));
        }
        scatter_along(self, src, d, s, len, step as usize, false)
    }

    /// A copy with the slice at `index` along `dim` replaced by `src` (torch's
    /// `select_scatter`); `src` has this tensor's shape without `dim`. Negative `index` counts
    /// from the end.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::zeros(&[2, 2], DType::F64)?;
    /// let y = x.select_scatter(&Tensor::from_slice(&[1.0, 2.0]), 1, -1)?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 1.0, 0.0, 2.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn select_scatter(&self, src: &Tensor, dim: i64, index: i64) -> Result<Tensor> {
        const OP: &str = "select_scatter";
        let d = normalize_dim(OP, dim, self.ndim())?;
        let i = select_index(OP, self, d, index)?;
        require_same_dtype(OP, self, src)?;
        let mut want = self.shape().to_vec();
        want.remove(d);
        if src.shape() != want.as_slice() {
            return Err(Error::shape(
                OP,
                format!(
                    "expected src to have the shape of the selected slice, {want:?}, got {:?}",
                    src.shape()
                ),
            ));
        }
        scatter_along(self, &src.unsqueeze(d as i64)?, d, i, 1, 1, false)
    }

    /// A copy with the elements at the positions given by the index tensors set to `values`
    /// (or increased by them, if `accumulate`): torch's `index_put` (`x[i, j] = v`). The i64
    /// tensors in `indices` index the leading dims (one each; negative counts from the end) and
    /// broadcast together; `values` broadcasts to their shape followed by the remaining dims.
    /// When several positions repeat without `accumulate`, the last write wins. Differentiable
    /// in this tensor and in `values`.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::zeros(&[2, 3], DType::F64)?;
    /// let rows = Tensor::from_slice(&[0i64, 1]);
    /// let cols = Tensor::from_slice(&[2i64, 0]);
    /// let y = x.index_put(&[rows, cols], &Tensor::from_slice(&[5.0, 6.0]), false)?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 0.0, 5.0, 6.0, 0.0, 0.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn index_put(
        &self,
        indices: &[Tensor],
        values: &Tensor,
        accumulate: bool,
    ) -> Result<Tensor> {
        const OP: &str = "index_put";
        let (lin, ishape, rest) = linear_index(OP, self, indices)?;
        require_same_dtype(OP, self, values)?;
        let mut target = ishape.clone();
        target.extend_from_slice(rest);
        if !broadcasts_to(values.shape(), &target) {
            return Err(Error::shape(
                OP,
                format!(
                    "shape mismatch: values of shape {:?} cannot be broadcast to the indexing result of shape {target:?}",
                    values.shape()
                ),
            ));
        }
        let lead: usize = self.shape()[..indices.len()].iter().product();
        let m: usize = ishape.iter().product();
        let mut flat = vec![lead as i64];
        flat.extend(rest.iter().map(|&s| s as i64));
        let x2 = self.reshape(&flat)?;
        flat[0] = m as i64;
        let v2 = values.broadcast_to(&target)?.reshape(&flat)?;
        let out = if accumulate {
            x2.index_add(0, &lin, &v2)?
        } else {
            // only the last write to each position contributes, so the sum of the writes is
            // the set value, and the positions written are where some write landed
            let put = IndexAdd { dim: 0, size: lead };
            let wins = bind(&LastWrite, &[&lin])?;
            let winners = Tensor::where_(
                &wins.reshape(&column(m, flat.len()))?,
                &v2,
                &scalar(0.0, self.dtype()),
            )?;
            let placed = bind(&put, &[&winners, &lin])?;
            let hits = bind(&put, &[&wins.to_dtype(DType::I64)?, &lin])?;
            let written = hits.gt(&scalar(0.0, DType::I64))?;
            Tensor::where_(&written.reshape(&column(lead, flat.len()))?, &placed, &x2)?
        };
        let shape: Vec<i64> = self.shape().iter().map(|&s| s as i64).collect();
        out.reshape(&shape)
    }

    /// The elements at the positions given by the index tensors (torch's `x[i, j]` with index
    /// tensors): the result has the indices' broadcast shape followed by the dims not indexed.
    /// The reading counterpart of [`index_put`](Tensor::index_put).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let y = x.index(&[Tensor::from_slice(&[1i64, 0]), Tensor::from_slice(&[0i64, 1])])?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![3.0, 2.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn index(&self, indices: &[Tensor]) -> Result<Tensor> {
        let (lin, ishape, rest) = linear_index("index", self, indices)?;
        let lead: usize = self.shape()[..indices.len()].iter().product();
        let mut flat = vec![lead as i64];
        flat.extend(rest.iter().map(|&s| s as i64));
        let picked = self.reshape(&flat)?.index_select(0, &lin)?;
        let shape: Vec<i64> = ishape.iter().chain(rest).map(|&s| s as i64).collect();
        picked.reshape(&shape)
    }

    /// The slice `start..end` by `step` along `dim`, as the target of a functional update:
    /// `x.at_slice(0, 1, 3, 1).set(&v)` is `x[1:3] = v` without changing `x`.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::zeros(&[4], DType::F64)?;
    /// let y = x.at_slice(0, 1, 3, 1).set(&Tensor::scalar(7.0))?; // broadcast over the slice
    /// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 7.0, 7.0, 0.0]);
    /// let z = y.at_slice(0, 0, 4, 2).add(&Tensor::from_slice(&[1.0, 2.0]))?;
    /// assert_eq!(z.to_vec::<f64>()?, vec![1.0, 7.0, 9.0, 0.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn at_slice(&self, dim: i64, start: i64, end: i64, step: i64) -> At<'_> {
        At {
            x: self,
            target: Target::Slice {
                dim,
                start,
                end,
                step,
            },
        }
    }
    /// The slice at `index` along `dim` (that dim removed), as the target of a functional
    /// update: `x.at_select(0, 2).add(&v)` is `x[2] += v` without changing `x`.
    pub fn at_select(&self, dim: i64, index: i64) -> At<'_> {
        At {
            x: self,
            target: Target::Select { dim, index },
        }
    }
    /// The positions given by i64 index tensors on the leading dims (as
    /// [`index_put`](Tensor::index_put)), as the target of a functional update:
    /// `x.at_index(&[i, j]).set(&v)` is `x[i, j] = v` without changing `x`.
    ///
    /// ```
    /// use functorch::{DType, Tensor};
    /// let x = Tensor::zeros(&[3], DType::F64)?;
    /// let i = Tensor::from_slice(&[0i64, 2, 0]);
    /// // add accumulates repeated positions, as JAX's .at[i].add
    /// let y = x.at_index(&[i]).add(&Tensor::from_slice(&[1.0, 2.0, 3.0]))?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![4.0, 0.0, 2.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn at_index(&self, indices: &[Tensor]) -> At<'_> {
        At {
            x: self,
            target: Target::Index(indices.to_vec()),
        }
    }
    /// The positions where a bool `mask` (broadcasting to this tensor) is true, as the target
    /// of a functional update: `x.at_mask(&m).set(&v)` is `x[m] = v` for a `v` that broadcasts
    /// to `x` (a scalar, say) without changing `x`.
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_slice(&[1.0, -2.0, 3.0]);
    /// let y = x.at_mask(&x.lt_scalar(0.0)?).set(&Tensor::scalar(0.0))?;
    /// assert_eq!(y.to_vec::<f64>()?, vec![1.0, 0.0, 3.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn at_mask(&self, mask: &Tensor) -> At<'_> {
        At {
            x: self,
            target: Target::Mask(mask.clone()),
        }
    }
}

/// Where a functional update writes: made by [`Tensor::at_slice`], [`Tensor::at_select`],
/// [`Tensor::at_index`] and [`Tensor::at_mask`]; [`set`](At::set) and [`add`](At::add) give
/// the updated copy (JAX's `x.at[idx].set(v)` / `.add(v)`), [`get`](At::get) the target's
/// elements.
#[derive(Clone, Debug)]
pub struct At<'a> {
    x: &'a Tensor,
    target: Target,
}

#[derive(Clone, Debug)]
enum Target {
    Slice {
        dim: i64,
        start: i64,
        end: i64,
        step: i64,
    },
    Select {
        dim: i64,
        index: i64,
    },
    Index(Vec<Tensor>),
    Mask(Tensor),
}

impl At<'_> {
    /// A copy of the tensor with the target set to `value`, which broadcasts to the target's
    /// shape (to the whole tensor, for a mask). Repeated index positions: the last write wins.
    pub fn set(&self, value: &Tensor) -> Result<Tensor> {
        self.update(value, false)
    }
    /// A copy of the tensor with `value` added to the target (broadcast as for
    /// [`set`](At::set)); repeated index positions accumulate.
    pub fn add(&self, value: &Tensor) -> Result<Tensor> {
        self.update(value, true)
    }
    /// The target's elements: the slice, the selected slice, or the indexed elements. A mask
    /// selects a number of elements only its values know, which no transform can trace: use
    /// [`Tensor::where_`] or [`masked_fill`](Tensor::masked_fill) instead (this is an error).
    pub fn get(&self) -> Result<Tensor> {
        let x = self.x;
        match &self.target {
            Target::Slice {
                dim,
                start,
                end,
                step,
            } => x.slice(*dim, *start, *end, *step),
            Target::Select { dim, index } => x.select(*dim, *index),
            Target::Index(idx) => x.index(idx),
            Target::Mask(_) => Err(Error::invalid(
                "at_mask().get",
                "a mask selects a data-dependent number of elements; use where_ or masked_fill",
            )),
        }
    }

    fn update(&self, value: &Tensor, add: bool) -> Result<Tensor> {
        let x = self.x;
        let op = if add { "at().add" } else { "at().set" };
        require_same_dtype(op, x, value)?;
        match &self.target {
            Target::Slice {
                dim,
                start,
                end,
                step,
            } => {
                let d = normalize_dim(op, *dim, x.ndim())?;
                let (s, len) = slice_range(op, x.shape()[d], *start, *end, *step)?;
                let mut want = x.shape().to_vec();
                want[d] = len;
                let v = broadcast_value(op, value, &want)?;
                scatter_along(x, &v, d, s, len, *step as usize, add)
            }
            Target::Select { dim, index } => {
                let d = normalize_dim(op, *dim, x.ndim())?;
                let i = select_index(op, x, d, *index)?;
                let mut want = x.shape().to_vec();
                want.remove(d);
                let v = broadcast_value(op, value, &want)?.unsqueeze(d as i64)?;
                scatter_along(x, &v, d, i, 1, 1, add)
            }
            Target::Index(idx) => x.index_put(idx, value, add),
            Target::Mask(mask) => {
                check_mask(op, x, mask)?;
                if !broadcasts_to(value.shape(), x.shape()) {
                    return Err(Error::shape(
                        op,
                        format!(
                            "value of shape {:?} does not broadcast to the tensor's shape {:?}",
                            value.shape(),
                            x.shape()
                        ),
                    ));
                }
                if add {
                    x.add(&Tensor::where_(mask, value, &scalar(0.0, x.dtype()))?)
                } else {
                    Tensor::where_(mask, value, x)
                }
            }
        }
    }
}

/// `value` broadcast to `shape`, or an error naming `op`.
fn broadcast_value(op: &'static str, value: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if !broadcasts_to(value.shape(), shape) {
        return Err(Error::shape(
            op,
            format!(
                "value of shape {:?} does not broadcast to the target's shape {shape:?}",
                value.shape()
            ),
        ));
    }
    value.broadcast_to(shape)
}

/// A bool mask that broadcasts to `x`'s shape.
fn check_mask(op: &'static str, x: &Tensor, mask: &Tensor) -> Result<()> {
    require_dtype(op, mask, DType::Bool, "a bool mask")?;
    if !broadcasts_to(mask.shape(), x.shape()) {
        return Err(Error::shape(
            op,
            format!(
                "mask of shape {:?} does not broadcast to the tensor's shape {:?}",
                mask.shape(),
                x.shape()
            ),
        ));
    }
    Ok(())
}

/// `index` along dim `d` of `x`, negative counting from the end, checked.
fn select_index(op: &'static str, x: &Tensor, d: usize, index: i64) -> Result<usize> {
    let n = x.shape()[d] as i64;
    let i = if index < 0 { index + n } else { index };
    if i < 0 || i >= n {
        return Err(Error::Index {
            op,
            index,
            dim: d,
            size: n as usize,
        });
    }
    Ok(i as usize)
}

/// `x` with the `len` positions `s, s + step, …` along `d` set to (or increased by) `v`, which
/// has `x`'s shape with `len` along `d`. A contiguous slice is a `cat` of the untouched parts
/// around the new middle; a strided one places `v` with `index_add` and picks it with `where`.
fn scatter_along(
    x: &Tensor,
    v: &Tensor,
    d: usize,
    s: usize,
    len: usize,
    step: usize,
    add: bool,
) -> Result<Tensor> {
    let n = x.shape()[d];
    if len == 0 {
        return x.passthrough("slice_scatter");
    }
    let dim = d as i64;
    if step == 1 || len == 1 {
        let mid = if add {
            x.narrow(dim, s, len)?.add(v)?
        } else {
            v.clone()
        };
        let parts: Vec<Tensor> = [
            (s > 0).then(|| x.narrow(dim, 0, s)).transpose()?,
            Some(mid),
            (s + len < n)
                .then(|| x.narrow(dim, s + len, n - s - len))
                .transpose()?,
        ]
        .into_iter()
        .flatten()
        .collect();
        return Tensor::cat(&parts, dim);
    }
    let positions: Vec<i64> = (0..len).map(|k| (s + k * step) as i64).collect();
    let idx = Tensor::from_vec(positions, &[len])?;
    if add {
        return x.index_add(dim, &idx, v);
    }
    let placed = bind(&IndexAdd { dim: d, size: n }, &[v, &idx])?;
    let mut hit = vec![false; n];
    for k in 0..len {
        hit[s + k * step] = true;
    }
    let mut mshape = vec![1usize; x.ndim()];
    mshape[d] = n;
    let mask = Tensor::from_vec(hit, &mshape)?;
    Tensor::where_(&mask, &placed, x)
}

/// The positions that i64 index tensors on the leading dims of `x` pick, as one 1-d index into
/// `x` reshaped to `[prod(leading dims), rest..]`; with the indices' broadcast shape and the
/// dims not indexed. Negative indices count from the end; concrete ones are range-checked here
/// (traced ones by the kernels that read them).
fn linear_index<'x>(
    op: &'static str,
    x: &'x Tensor,
    indices: &[Tensor],
) -> Result<(Tensor, Vec<usize>, &'x [usize])> {
    let k = indices.len();
    if k == 0 || k > x.ndim() {
        return Err(Error::invalid(
            op,
            format!(
                "expected between 1 and {} index tensors for a tensor of shape {:?}, got {k}",
                x.ndim(),
                x.shape()
            ),
        ));
    }
    let mut ishape: Vec<usize> = Vec::new();
    for (j, idx) in indices.iter().enumerate() {
        require_dtype(op, idx, DType::I64, "i64 index tensors")?;
        ishape = broadcast_shapes(op, &ishape, idx.shape())?.to_vec();
        let n = x.shape()[j] as i64;
        if let Some(a) = idx.array()
            && let Some(&bad) = a
                .to_vec::<i64>()
                .expect("an i64 index")
                .iter()
                .find(|&&v| v < -n || v >= n)
        {
            return Err(Error::Index {
                op,
                index: bad,
                dim: j,
                size: n as usize,
            });
        }
    }
    let zero = scalar(0.0, DType::I64);
    let mut lin: Option<Tensor> = None;
    let mut stride = 1usize;
    for j in (0..k).rev() {
        let n = x.shape()[j];
        let i = &indices[j];
        let i = Tensor::where_(&i.lt(&zero)?, &i.add(&scalar(n as f64, DType::I64))?, i)?;
        let term = if stride == 1 {
            i
        } else {
            i.mul(&scalar(stride as f64, DType::I64))?
        };
        lin = Some(match lin {
            None => term,
            Some(l) => l.add(&term)?,
        });
        stride *= n;
    }
    let m: usize = ishape.iter().product();
    let lin = lin
        .expect("at least one index")
        .broadcast_to(&ishape)?
        .reshape(&[m as i64])?;
    Ok((lin, ishape, &x.shape()[k..]))
}
