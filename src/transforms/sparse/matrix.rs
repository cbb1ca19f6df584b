//! Sparsity patterns and sparse matrices, both in compressed sparse row (CSR) form: row `i`'s
//! column indices are `col_indices[row_ptr[i]..row_ptr[i + 1]]`, sorted and without repeats.

use crate::core::Tensor;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Which entries of a matrix may be nonzero, in compressed sparse row form (rows sorted,
/// columns sorted and unique within a row).
///
/// ```
/// use functorch::SparsityPattern;
/// // a 3×3 tridiagonal pattern
/// let p = SparsityPattern::from_entries(3, 3, &[(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1), (2, 2)])?;
/// assert_eq!(p.nnz(), 7);
/// assert_eq!(p.row(1), &[0, 1, 2]);
/// assert!(p.contains(2, 1) && !p.contains(0, 2));
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparsityPattern {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<usize>,
}

impl SparsityPattern {
    /// A pattern from its CSR arrays: `row_ptr` has `nrows + 1` nondecreasing entries starting
    /// at 0 and ending at `col_indices.len()`; each row's columns are below `ncols`, sorted and
    /// unique.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first violated condition.
    pub fn new(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<usize>,
        col_indices: Vec<usize>,
    ) -> Result<SparsityPattern> {
        const OP: &str = "SparsityPattern::new";
        if row_ptr.len() != nrows + 1 {
            return Err(Error::invalid(
                OP,
                format!(
                    "row_ptr has {} entries, expected nrows + 1 = {}",
                    row_ptr.len(),
                    nrows + 1
                ),
            ));
        }
        if row_ptr[0] != 0 || row_ptr[nrows] != col_indices.len() {
            return Err(Error::invalid(
                OP,
                format!(
                    "row_ptr must start at 0 and end at col_indices.len() = {}, got {} and {}",
                    col_indices.len(),
                    row_ptr[0],
                    row_ptr[nrows]
                ),
            ));
        }
        for i in 0..nrows {
            let (a, b) = (row_ptr[i], row_ptr[i + 1]);
            if a > b {
                return Err(Error::invalid(
                    OP,
                    format!("row_ptr decreases at row {i} ({a} > {b})"),
                ));
            }
            let row = &col_indices[a..b];
            if let Some(&j) = row.iter().find(|&&j| j >= ncols) {
                return Err(Error::invalid(
                    OP,
                    format!("row {i} has column {j}, out of range for {ncols} columns"),
                ));
            }
            if row.windows(2).any(|w| w[0] >= w[1]) {
                return Err(Error::invalid(
                    OP,
                    format!("the columns of row {i} are not sorted and unique: {row:?}"),
                ));
            }
        }
        Ok(SparsityPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx: col_indices,
        })
    }

    /// A pattern holding the `(row, col)` entries given, in any order (repeats are merged).
    ///
    /// # Errors
    /// [`Error::Invalid`] if an entry is out of range.
    pub fn from_entries(
        nrows: usize,
        ncols: usize,
        entries: &[(usize, usize)],
    ) -> Result<SparsityPattern> {
        if let Some(&(i, j)) = entries.iter().find(|&&(i, j)| i >= nrows || j >= ncols) {
            return Err(Error::invalid(
                "SparsityPattern::from_entries",
                format!("entry ({i}, {j}) is out of range for a {nrows}×{ncols} pattern"),
            ));
        }
        let mut e = entries.to_vec();
        e.sort_unstable();
        e.dedup();
        let mut row_ptr = vec![0usize; nrows + 1];
        for &(i, _) in &e {
            row_ptr[i + 1] += 1;
        }
        for i in 0..nrows {
            row_ptr[i + 1] += row_ptr[i];
        }
        Ok(SparsityPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx: e.into_iter().map(|(_, j)| j).collect(),
        })
    }

    /// Built from arrays already known to be valid.
    pub(crate) fn from_csr_unchecked(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<usize>,
    ) -> SparsityPattern {
        debug_assert_eq!(row_ptr.len(), nrows + 1);
        SparsityPattern {
            nrows,
            ncols,
            row_ptr,
            col_idx,
        }
    }

    /// The number of rows.
    pub fn nrows(&self) -> usize {
        self.nrows
    }
    /// The number of columns.
    pub fn ncols(&self) -> usize {
        self.ncols
    }
    /// The number of entries that may be nonzero.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }
    /// The fraction of entries that may be nonzero (0 for an empty matrix).
    pub fn density(&self) -> f64 {
        let all = self.nrows as f64 * self.ncols as f64;
        if all == 0.0 {
            0.0
        } else {
            self.nnz() as f64 / all
        }
    }
    /// The CSR row pointers (`nrows + 1` entries).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }
    /// The CSR column indices, row after row.
    pub fn col_indices(&self) -> &[usize] {
        &self.col_idx
    }
    /// The columns of row `i`, sorted (empty for a row out of range).
    pub fn row(&self, i: usize) -> &[usize] {
        if i >= self.nrows {
            return &[];
        }
        &self.col_idx[self.row_ptr[i]..self.row_ptr[i + 1]]
    }
    /// Whether entry `(i, j)` may be nonzero.
    pub fn contains(&self, i: usize, j: usize) -> bool {
        self.row(i).binary_search(&j).is_ok()
    }
    /// The entries `(row, col)`, row by row.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.nrows).flat_map(move |i| self.row(i).iter().map(move |&j| (i, j)))
    }
    /// The transposed pattern.
    pub fn transpose(&self) -> SparsityPattern {
        let mut ptr = vec![0usize; self.ncols + 1];
        for &j in &self.col_idx {
            ptr[j + 1] += 1;
        }
        for j in 0..self.ncols {
            ptr[j + 1] += ptr[j];
        }
        let mut next = ptr.clone();
        let mut idx = vec![0usize; self.nnz()];
        for i in 0..self.nrows {
            for &j in self.row(i) {
                idx[next[j]] = i;
                next[j] += 1;
            }
        }
        SparsityPattern::from_csr_unchecked(self.ncols, self.nrows, ptr, idx)
    }
    /// This pattern as a dense 0/1 matrix of dtype `f64` (for inspection and tests).
    ///
    /// # Errors
    /// If the dense matrix cannot be allocated.
    pub fn to_dense(&self) -> Result<Tensor> {
        let mut d = vec![0.0f64; self.nrows * self.ncols];
        for (i, j) in self.entries() {
            d[i * self.ncols + j] = 1.0;
        }
        Tensor::from_vec(d, &[self.nrows, self.ncols])
    }
}

/// A sparse matrix in compressed sparse row form: a [`SparsityPattern`] and one value per
/// entry (held as `f64`; [`dtype`](SparseMatrix::dtype) is the dtype of the computation that
/// produced it, which [`to_dense`](SparseMatrix::to_dense) restores).
///
/// ```
/// use functorch::{SparseMatrix, SparsityPattern};
/// let p = SparsityPattern::from_entries(2, 3, &[(0, 0), (1, 2)])?;
/// let m = SparseMatrix::new(p, vec![5.0, -1.0])?;
/// assert_eq!(m.nnz(), 2);
/// assert_eq!(m.get(1, 2), -1.0);
/// assert_eq!(m.triplets().collect::<Vec<_>>(), vec![(0, 0, 5.0), (1, 2, -1.0)]);
/// assert_eq!(m.to_dense()?.to_vec::<f64>()?, vec![5.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
/// assert_eq!(m.matvec(&[1.0, 1.0, 1.0])?, vec![5.0, -1.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMatrix {
    pattern: SparsityPattern,
    values: Vec<f64>,
    dtype: DType,
}

impl SparseMatrix {
    /// A matrix with the given pattern and values (one per entry, in CSR order), of dtype
    /// `f64`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the number of values is not the pattern's `nnz`.
    pub fn new(pattern: SparsityPattern, values: Vec<f64>) -> Result<SparseMatrix> {
        if values.len() != pattern.nnz() {
            return Err(Error::invalid(
                "SparseMatrix::new",
                format!(
                    "got {} values for a pattern of {} entries",
                    values.len(),
                    pattern.nnz()
                ),
            ));
        }
        Ok(SparseMatrix {
            pattern,
            values,
            dtype: DType::F64,
        })
    }
    pub(crate) fn with_dtype(pattern: SparsityPattern, values: Vec<f64>, dtype: DType) -> Self {
        debug_assert_eq!(values.len(), pattern.nnz());
        SparseMatrix {
            pattern,
            values,
            dtype,
        }
    }
    /// The pattern (which entries are stored).
    pub fn pattern(&self) -> &SparsityPattern {
        &self.pattern
    }
    /// The stored values, in CSR order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }
    /// The dtype of the computation the values come from.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The number of rows.
    pub fn nrows(&self) -> usize {
        self.pattern.nrows
    }
    /// The number of columns.
    pub fn ncols(&self) -> usize {
        self.pattern.ncols
    }
    /// The number of stored entries.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }
    /// Entry `(i, j)`: its value if stored, else 0.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        if i >= self.pattern.nrows {
            return 0.0;
        }
        let start = self.pattern.row_ptr[i];
        match self.pattern.row(i).binary_search(&j) {
            Ok(k) => self.values[start + k],
            Err(_) => 0.0,
        }
    }
    /// The stored entries as `(row, col, value)`, row by row.
    pub fn triplets(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.pattern
            .entries()
            .zip(&self.values)
            .map(|((i, j), &v)| (i, j, v))
    }
    /// `A x`.
    ///
    /// # Errors
    /// [`Error::Shape`] if `x` does not have `ncols` elements.
    pub fn matvec(&self, x: &[f64]) -> Result<Vec<f64>> {
        if x.len() != self.ncols() {
            return Err(Error::shape(
                "SparseMatrix::matvec",
                format!(
                    "a vector of {} elements for a {}×{} matrix",
                    x.len(),
                    self.nrows(),
                    self.ncols()
                ),
            ));
        }
        Ok((0..self.nrows())
            .map(|i| {
                let r = self.pattern.row_ptr[i]..self.pattern.row_ptr[i + 1];
                self.pattern.col_idx[r.clone()]
                    .iter()
                    .zip(&self.values[r])
                    .map(|(&j, &v)| v * x[j])
                    .sum()
            })
            .collect())
    }
    /// The dense matrix, a 2-d tensor of [`dtype`](SparseMatrix::dtype).
    ///
    /// # Errors
    /// If the dense matrix cannot be allocated.
    pub fn to_dense(&self) -> Result<Tensor> {
        let (m, n) = (self.nrows(), self.ncols());
        let mut d = vec![0.0f64; m * n];
        for (i, j, v) in self.triplets() {
            d[i * n + j] = v;
        }
        let t = Tensor::from_vec(d, &[m, n])?;
        if self.dtype == DType::F64 {
            Ok(t)
        } else {
            t.to_dtype(self.dtype)
        }
    }
    /// The matrix as faer's compressed sparse column matrix, the input of faer's sparse
    /// direct solvers (`sp_lu`, `sp_cholesky`). Feature `faer`.
    ///
    /// ```
    /// use functorch::{SparseMatrix, SparsityPattern};
    /// let p = SparsityPattern::from_entries(2, 2, &[(0, 0), (1, 1)])?;
    /// let a = SparseMatrix::new(p, vec![2.0, 4.0])?.to_faer()?;
    /// assert_eq!(a.compute_nnz(), 2);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Invalid`] if faer cannot allocate the matrix.
    #[cfg(feature = "faer")]
    #[cfg_attr(docsrs, doc(cfg(feature = "faer")))]
    pub fn to_faer(&self) -> Result<faer::sparse::SparseColMat<usize, f64>> {
        let t: Vec<faer::sparse::Triplet<usize, usize, f64>> = self
            .triplets()
            .map(|(i, j, v)| faer::sparse::Triplet::new(i, j, v))
            .collect();
        faer::sparse::SparseColMat::try_new_from_triplets(self.nrows(), self.ncols(), &t)
            .map_err(|e| Error::invalid("SparseMatrix::to_faer", format!("{e:?}")))
    }
}
