//! Indexing with Rust ranges (`x.i((1.., ..-1))` for NumPy's `x[1:, :-1]`), the triangle index
//! lists `triu_indices` / `tril_indices`, and indexing by a pair of index lists
//! (`x[rows, cols]`). All are decompositions over `slice`, `select` and `index_select`, so they
//! are differentiable and batchable like those.

use crate::array::DType;
use crate::core::Tensor;
use crate::error::{Error, Result};
use std::ops::RangeToInclusive;
use std::ops::{Bound, Range, RangeBounds, RangeFrom, RangeFull, RangeInclusive, RangeTo};

/// One entry of a multi-dimensional index (see [`Tensor::i`]): a single position, which removes
/// its dim as `select` does, or a Python slice `start:end:step`, which keeps it.
///
/// Built from an integer (`2`, `-1`), a Rust range of integers (`1..`, `..-1`, `2..5`, `..=3`,
/// `..`), or [`step`] for a range with a step. Negative positions count from the end, and slice
/// bounds are clamped to the dim, as in Python.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idx {
    /// `x[i]`: the position `i` (negative counts from the end); the dim is removed.
    At(i64),
    /// `x[start:end:step]`; `end == i64::MAX` means "to the end"; `step` ≥ 1.
    Slice {
        /// First position (negative counts from the end).
        start: i64,
        /// One past the last position (negative counts from the end).
        end: i64,
        /// Distance between positions, at least 1.
        step: i64,
    },
}

/// A range with a step, `start:end:step` in Python: `step(1.., 2)` is `x[1::2]`.
///
/// ```
/// use functorch::{Tensor, step};
/// let x = Tensor::arange(0.0, 6.0, 1.0, functorch::DType::F64)?;
/// assert_eq!(x.i(step(1.., 2))?.to_vec::<f64>()?, vec![1.0, 3.0, 5.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn step(range: impl Into<Idx>, step: i64) -> Idx {
    match range.into() {
        Idx::Slice { start, end, .. } => Idx::Slice { start, end, step },
        Idx::At(i) => Idx::Slice {
            start: i,
            end: if i == -1 { i64::MAX } else { i + 1 },
            step,
        },
    }
}

/// The integer types a range in [`Tensor::i`] or [`Tensor::slice_range`] may hold (`i32`, the
/// type of plain literals, `i64`, `isize`, `usize`).
pub trait RangeInt: Copy + private::Sealed {
    #[doc(hidden)]
    fn to_i128(self) -> i128;
}
mod private {
    pub trait Sealed {}
}
macro_rules! range_int {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {}
        impl RangeInt for $t {
            fn to_i128(self) -> i128 {
                self as i128
            }
        }
    )*};
}
range_int!(i32, i64, isize, usize);

fn bounds<T: RangeInt>(r: &impl RangeBounds<T>) -> Idx {
    let clamp = |v: i128| v.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
    let start = match r.start_bound() {
        Bound::Included(&s) => clamp(s.to_i128()),
        Bound::Excluded(&s) => clamp(s.to_i128() + 1),
        Bound::Unbounded => 0,
    };
    let end = match r.end_bound() {
        // `..=-1` is "through the last element"
        Bound::Included(&e) if e.to_i128() == -1 => i64::MAX,
        Bound::Included(&e) => clamp(e.to_i128() + 1),
        Bound::Excluded(&e) => clamp(e.to_i128()),
        Bound::Unbounded => i64::MAX,
    };
    Idx::Slice {
        start,
        end,
        step: 1,
    }
}

macro_rules! idx_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Idx {
            fn from(i: $t) -> Idx {
                Idx::At(i.to_i128().clamp(i64::MIN as i128, i64::MAX as i128) as i64)
            }
        }
        impl From<Range<$t>> for Idx {
            fn from(r: Range<$t>) -> Idx {
                bounds(&r)
            }
        }
        impl From<RangeFrom<$t>> for Idx {
            fn from(r: RangeFrom<$t>) -> Idx {
                bounds(&r)
            }
        }
        impl From<RangeTo<$t>> for Idx {
            fn from(r: RangeTo<$t>) -> Idx {
                bounds(&r)
            }
        }
        impl From<RangeInclusive<$t>> for Idx {
            fn from(r: RangeInclusive<$t>) -> Idx {
                bounds(&r)
            }
        }
        impl From<RangeToInclusive<$t>> for Idx {
            fn from(r: RangeToInclusive<$t>) -> Idx {
                bounds(&r)
            }
        }
    )*};
}
idx_from!(i32, i64, isize, usize);

impl From<RangeFull> for Idx {
    fn from(_: RangeFull) -> Idx {
        Idx::Slice {
            start: 0,
            end: i64::MAX,
            step: 1,
        }
    }
}

/// What [`Tensor::i`] accepts: one [`Idx`]-like value (`1..`, `-1`, `step(.., 2)`) for the
/// leading dim, or a tuple of them (up to 6) for the leading dims in order.
pub trait IndexArg {
    /// The entries, one per leading dim.
    fn entries(self) -> Vec<Idx>;
}

impl<A: Into<Idx>> IndexArg for A {
    fn entries(self) -> Vec<Idx> {
        vec![self.into()]
    }
}

macro_rules! index_tuple {
    ($($a:ident),+) => {
        impl<$($a: Into<Idx>),+> IndexArg for ($($a,)+) {
            #[allow(non_snake_case)]
            fn entries(self) -> Vec<Idx> {
                let ($($a,)+) = self;
                vec![$($a.into()),+]
            }
        }
    };
}
index_tuple!(A);
index_tuple!(A, B);
index_tuple!(A, B, C);
index_tuple!(A, B, C, D);
index_tuple!(A, B, C, D, E);
index_tuple!(A, B, C, D, E, G);

impl Tensor {
    /// NumPy/PyTorch basic indexing with Rust ranges, over the leading dims: `x.i(1..)` is
    /// `x[1:]`, `x.i((.., ..-1))` is `x[:, :-1]`, `x.i((0, 2..))` is `x[0, 2:]` (an integer
    /// removes its dim), `x.i(step(.., 2))` is `x[::2]`. Dims not named are kept whole. Slices
    /// are views, as [`Tensor::slice`].
    ///
    /// A literal range with a negative end, such as `1..-1` (`x[1:-1]`), trips clippy's
    /// `reversed_empty_ranges` lint, which takes it for an empty range: allow the lint where
    /// you write one.
    ///
    /// ```
    /// use functorch::{Tensor, step};
    /// let x = Tensor::from_vec((0..12).map(f64::from).collect(), &[3, 4])?;
    /// assert_eq!(x.i(1..)?.shape(), &[2, 4]);                    // x[1:]
    /// assert_eq!(x.i((.., ..-1))?.shape(), &[3, 3]);             // x[:, :-1]
    /// assert_eq!(x.i((-1, 2..))?.to_vec::<f64>()?, vec![10.0, 11.0]); // x[-1, 2:]
    /// assert_eq!(x.i((step(.., 2), ..=1))?.to_vec::<f64>()?, vec![0.0, 1.0, 8.0, 9.0]); // x[::2, :2]
    /// assert!(x.i((0, 0, 0)).is_err()); // too many indices
    /// # Ok::<(), functorch::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] for more entries than dims or a step below 1, [`Error::Index`] for a
    /// position outside its dim.
    pub fn i(&self, index: impl IndexArg) -> Result<Tensor> {
        let entries = index.entries();
        if entries.len() > self.ndim() {
            return Err(Error::Invalid {
                op: "i",
                msg: format!(
                    "too many indices for a tensor of shape {:?}: {} given",
                    self.shape(),
                    entries.len()
                ),
            });
        }
        let mut x = self.clone();
        let mut d = 0i64;
        for e in entries {
            match e {
                Idx::At(i) => x = x.select(d, i)?,
                Idx::Slice { start, end, step } => {
                    x = x.slice(d, start, end, step)?;
                    d += 1;
                }
            }
        }
        Ok(x)
    }

    /// `x[range]` along `dim` with a Rust range: `x.slice_range(0, 1..)` is `x[1:]`,
    /// `x.slice_range(-1, ..-1)` is `x[..., :-1]` (a view, as [`Tensor::slice`]).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0]);
    /// // forward differences x[1:] - x[:-1]
    /// let d = x.slice_range(0, 1..)?.sub(&x.slice_range(0, ..-1)?)?;
    /// assert_eq!(d.to_vec::<f64>()?, vec![1.0, 1.0, 1.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Dim`] for a `dim` outside the rank.
    pub fn slice_range<T: RangeInt>(&self, dim: i64, range: impl RangeBounds<T>) -> Result<Tensor> {
        let Idx::Slice { start, end, step } = bounds(&range) else {
            unreachable!("a range gives a slice")
        };
        self.slice(dim, start, end, step)
    }

    /// The positions of the upper triangle of a `rows × cols` matrix, on and above diagonal
    /// `offset` (`0` the main diagonal, `1` strictly above): an i64 tensor of shape `[2, k]`,
    /// row indices then column indices, in row-major order (`torch.triu_indices`).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let iu = Tensor::triu_indices(3, 3, 1);
    /// assert_eq!(iu.to_vec::<i64>()?, vec![0, 0, 1, /* cols */ 1, 2, 2]);
    /// // r[triu_indices(n, 1)]: the strictly upper entries of a matrix
    /// let r = Tensor::from_vec((0..9).map(f64::from).collect(), &[3, 3])?;
    /// let upper = r.index_pairs(&iu.get(0)?, &iu.get(1)?)?;
    /// assert_eq!(upper.to_vec::<f64>()?, vec![1.0, 2.0, 5.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn triu_indices(rows: usize, cols: usize, offset: i64) -> Tensor {
        triangle_indices(rows, cols, |i, j| j - i >= offset)
    }

    /// The positions of the lower triangle of a `rows × cols` matrix, on and below diagonal
    /// `offset` (`0` the main diagonal, `-1` strictly below): an i64 tensor of shape `[2, k]`,
    /// row indices then column indices, in row-major order (`torch.tril_indices`).
    ///
    /// ```
    /// use functorch::Tensor;
    /// let il = Tensor::tril_indices(3, 3, 0);
    /// assert_eq!(il.to_vec::<i64>()?, vec![0, 1, 1, 2, 2, 2, /* cols */ 0, 0, 1, 0, 1, 2]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn tril_indices(rows: usize, cols: usize, offset: i64) -> Tensor {
        triangle_indices(rows, cols, |i, j| j - i <= offset)
    }

    /// `x[rows, cols]` as NumPy and PyTorch index with two integer arrays: the elements at
    /// `(rows[k], cols[k])` of the first two dims, for each `k` (trailing dims are kept). `rows`
    /// and `cols` are 1-d i64 tensors of equal length; negative positions count from the end.
    /// Differentiable and batchable in `self` (a decomposition over `index_select` on the
    /// flattened leading dims); the indices must be concrete values.
    ///
    /// ```
    /// use functorch::{Tensor, grad};
    /// let x = Tensor::from_vec((0..6).map(f64::from).collect(), &[2, 3])?;
    /// let rows = Tensor::from_slice(&[0i64, 1, -1]);
    /// let cols = Tensor::from_slice(&[2i64, 0, 1]);
    /// assert_eq!(x.index_pairs(&rows, &cols)?.to_vec::<f64>()?, vec![2.0, 3.0, 4.0]);
    /// // the gradient scatters back to the picked positions
    /// let g: Tensor = grad(|x: &Tensor| x.index_pairs(&rows, &cols)?.sum()).call(&x)?;
    /// assert_eq!(g.to_vec::<f64>()?, vec![0.0, 0.0, 1.0, 1.0, 1.0, 0.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Shape`] if `self` has fewer than 2 dims or the index lists differ in length or
    /// are not 1-d, [`Error::DType`] if they are not i64, [`Error::Index`] for a position
    /// outside its dim, [`Error::Traced`] if an index list is traced by a transform.
    pub fn index_pairs(&self, rows: &Tensor, cols: &Tensor) -> Result<Tensor> {
        const OP: &str = "index_pairs";
        if self.ndim() < 2 {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "expected a tensor of at least 2 dims, got shape {:?}",
                    self.shape()
                ),
            });
        }
        for t in [rows, cols] {
            if t.dtype() != DType::I64 {
                return Err(Error::DType {
                    op: OP,
                    expected: "an i64 index",
                    got: t.dtype(),
                });
            }
        }
        if rows.ndim() != 1 || rows.shape() != cols.shape() {
            return Err(Error::Shape {
                op: OP,
                msg: format!(
                    "expected two 1-d index lists of equal length, got shapes {:?} and {:?}",
                    rows.shape(),
                    cols.shape()
                ),
            });
        }
        let (n, m) = (self.shape()[0], self.shape()[1]);
        let wrap = |v: i64, size: usize, dim: usize| -> Result<i64> {
            let w = if v < 0 { v + size as i64 } else { v };
            if w < 0 || w >= size as i64 {
                return Err(Error::Index {
                    op: OP,
                    index: v,
                    dim,
                    size,
                });
            }
            Ok(w)
        };
        let traced = |e: Error| match e {
            Error::Traced { kind, .. } => Error::Traced { op: OP, kind },
            e => e,
        };
        let r = rows.to_vec::<i64>().map_err(traced)?;
        let c = cols.to_vec::<i64>().map_err(traced)?;
        let flat = r
            .iter()
            .zip(&c)
            .map(|(&i, &j)| Ok(wrap(i, n, 0)? * m as i64 + wrap(j, m, 1)?))
            .collect::<Result<Vec<i64>>>()?;
        let mut shape = vec![(n * m) as i64];
        shape.extend(self.shape()[2..].iter().map(|&s| s as i64));
        self.reshape(&shape)?
            .index_select(0, &Tensor::from_slice(&flat))
    }
}

fn triangle_indices(rows: usize, cols: usize, keep: impl Fn(i64, i64) -> bool) -> Tensor {
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for i in 0..rows {
        for j in 0..cols {
            if keep(i as i64, j as i64) {
                r.push(i as i64);
                c.push(j as i64);
            }
        }
    }
    let k = r.len();
    r.extend(c);
    Tensor::from_vec(r, &[2, k]).expect("2k elements for shape [2, k]")
}
