//! Sparse Jacobians and Hessians, found and used automatically: `jacfwd(f).sparse()`,
//! `jacrev(f).sparse()` and `hessian(f).sparse()` (see [`Sparse`]).
//!
//! Three steps, each usable on its own:
//! 1. **detection** ([`Sparse::detect`]): the global sparsity pattern, from one traced run of
//!    `f` and a pass over its graph, without a derivative (`NOTE: [sparsity]` in `detect.rs`);
//! 2. **coloring**: columns that share no row get one color (forward mode), rows that share no
//!    column get one color (reverse mode), and a star coloring for Hessians;
//! 3. **compressed evaluation**: the existing vmapped jvp / vjp / Hessian-vector product over
//!    one seed per color (with `chunk_size`), then decompression into a [`SparseMatrix`].
//!
//! A [`PreparedSparse`] form ([`Sparse::prepare`]) keeps the pattern and the coloring for repeated
//! calls at new points (a Newton loop): each call is then only the compressed evaluation.

mod color;
mod detect;
mod matrix;

pub use matrix::{SparseMatrix, SparsityPattern};

use super::chunk::{self, ChunkArgs, OutDim};
use super::jvp::jvp_impl;
use super::options::{Opts, option_setters};
use super::vjp::{grad_impl, vjp_impl};
use super::{Argnums, Function, live_trees};
use crate::array::numel;
use crate::core::Tensor;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tree::{Args, Tree};
use color::{Coloring, SymmetricSources};

/// Which derivative a [`Sparse`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The Jacobian by forward mode (column coloring).
    Forward,
    /// The Jacobian by reverse mode (row coloring).
    Reverse,
    /// The Hessian of a scalar function (star coloring, forward-over-reverse products).
    Hessian,
}

/// A sparse Jacobian or Hessian: made by [`Jacfwd::sparse`](crate::Jacfwd::sparse),
/// [`Jacrev::sparse`](crate::Jacrev::sparse) or [`Hessian::sparse`](crate::Hessian::sparse),
/// keeping their `argnums`, `chunk_size`, `memory_budget` and `randomness`. Under a
/// `memory_budget` the products (one per color) run in chunks chosen as for the dense
/// transforms, and the budget counts the compressed result (colors × rows).
///
/// **The matrix.** Rows are the elements of the outputs (every output leaf flattened, in
/// order), columns the elements of the differentiated arguments (every leaf of the arguments
/// `argnums` selects, flattened, in order); for a Hessian both are the arguments' elements and
/// `f` must return one scalar. The result is a [`SparseMatrix`] (CSR) holding every entry of
/// the pattern.
///
/// **The pattern** is detected from one traced run of `f` ([`detect`](Sparse::detect)) and
/// holds for every input, not only the one traced: it is exact for elementwise ops, moves of
/// elements (slices, pads, cat, gathers with constant indices), sums and matrix products, and
/// conservative (every output element depends on every input element it reads) for an op
/// that mixes everything (a factorization, a gather at data-dependent indices, a custom rule).
/// So, as for `jit`, `f` must be traceable: no Rust branch on a tensor's value.
///
/// **A pattern you give** ([`with_pattern`](Sparse::with_pattern)) skips detection. A pattern
/// that misses a nonzero gives wrong values without an error: the compressed products add
/// the missing entry into its neighbours of the same color, and finding that out costs the
/// dense Jacobian. [`check`](Sparse::check) does exactly that (every call also computes the
/// dense result and compares): for tests and debugging.
///
/// **Cost.** One traced run of `f`, a linear pass over its graph, and one product per color
/// (3 for a tridiagonal Hessian, 5 for a 2-d five-point stencil), whatever the size.
///
/// ```
/// use functorch::{Tensor, jacfwd, hessian};
/// // a tridiagonal Jacobian: r_i = x_i² - x_{i-1} (x_{-1} = 0)
/// let r = |x: &Tensor| {
///     let prev = Tensor::cat(&[Tensor::from_vec(vec![0.0], &[1])?, x.narrow(0, 0, 4)?], 0)?;
///     x.square()?.sub(&prev)
/// };
/// let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]);
/// let j = jacfwd(r).sparse().call(&x)?;
/// assert_eq!(j.nnz(), 9);
/// assert_eq!((j.get(2, 2), j.get(2, 1), j.get(2, 3)), (6.0, -1.0, 0.0));
/// // the same as the dense Jacobian
/// let dense: Tensor = jacfwd(r).call(&x)?;
/// assert_eq!(j.to_dense()?.to_vec::<f64>()?, dense.to_vec::<f64>()?);
///
/// // the Hessian of a chain: tridiagonal, 3 colors at any n
/// let f = |x: &Tensor| x.narrow(0, 1, 4)?.mul(&x.narrow(0, 0, 4)?)?.sin()?.sum();
/// let h = hessian(f).sparse();
/// assert_eq!(h.detect(&x)?.nnz(), 13);
/// let hx = h.call(&x)?;
/// let dense: Tensor = hessian(f).call(&x)?;
/// assert!(hx.to_dense()?.sub(&dense)?.abs()?.max()?.item()? < 1e-12);
/// # Ok::<(), functorch::Error>(())
/// ```
#[derive(Clone)]
pub struct Sparse<F> {
    f: F,
    o: Opts,
    mode: Mode,
    pattern: Option<SparsityPattern>,
    check: bool,
    auto: bool,
}

option_setters!(Sparse: chunk_size, memory_budget, memory_plan, progress);

impl<F> Sparse<F> {
    pub(crate) fn new(f: F, o: Opts, mode: Mode) -> Sparse<F> {
        Sparse {
            f,
            o,
            mode,
            pattern: None,
            check: false,
            auto: false,
        }
    }

    /// Use `pattern` instead of detecting one. It must hold every entry that can be nonzero
    /// (see the type's docs: a missing entry is not detected, unless [`check`](Sparse::check)
    /// is on); its shape is checked at each call.
    ///
    /// ```
    /// use functorch::{SparsityPattern, Tensor, jacrev};
    /// let p = SparsityPattern::from_entries(3, 3, &[(0, 0), (1, 1), (2, 2)])?;
    /// let j = jacrev(|x: &Tensor| x.exp()).sparse().with_pattern(p).call(&Tensor::from_slice(&[0.0, 0.0, 0.0]))?;
    /// assert_eq!(j.values(), &[1.0, 1.0, 1.0]);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn with_pattern(mut self, pattern: SparsityPattern) -> Self {
        self.pattern = Some(pattern);
        self
    }

    /// For a Jacobian: choose forward or reverse mode from the pattern, whichever needs fewer
    /// products (a reverse product costs about one forward pass more, so reverse mode is
    /// chosen when it needs at least two colors fewer). A pattern with a dense row (an output
    /// that reads every input) needs as many column colors as inputs but few row colors, and
    /// a dense column the other way round. No effect on Hessians.
    ///
    /// ```
    /// use functorch::{Tensor, jacfwd};
    /// // elementwise squares and their sum: one dense row
    /// let f = |x: &Tensor| Tensor::cat(&[x.square()?, x.sum()?.unsqueeze(0)?], 0);
    /// let x = Tensor::from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    /// let fwd = jacfwd(f).sparse().prepare(&x)?;
    /// let auto = jacfwd(f).sparse().auto_mode(true).prepare(&x)?;
    /// assert_eq!((fwd.colors(), auto.colors(), auto.mode()), (6, 2, "reverse"));
    /// assert_eq!(auto.call(&x)?, fwd.call(&x)?);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn auto_mode(mut self, on: bool) -> Self {
        self.auto = on;
        self
    }

    /// Also compute the dense result at every call and compare (an error names the first
    /// entry that differs, or that is nonzero outside the pattern). As costly as the dense
    /// derivative: for tests and for checking a pattern given by hand.
    ///
    /// ```
    /// use functorch::{SparsityPattern, Tensor, jacfwd};
    /// // a wrong pattern: the Jacobian of a cumulative sum is lower triangular, not diagonal
    /// let p = SparsityPattern::from_entries(2, 2, &[(0, 0), (1, 1)])?;
    /// let lower = Tensor::from_vec(vec![1.0, 0.0, 1.0, 1.0], &[2, 2])?;
    /// let f = |x: &Tensor| lower.matmul(x);
    /// let r = jacfwd(f).sparse().with_pattern(p).check(true).call(&Tensor::from_slice(&[1.0, 2.0]));
    /// assert!(r.is_err());
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn check(mut self, on: bool) -> Self {
        self.check = on;
        self
    }

    /// The sparsity pattern at `args` (detected, or the one given).
    ///
    /// # Errors
    /// As the dense transform for bad arguments (argnums, non-float inputs); for a Hessian, if
    /// `f` does not return one scalar; if a value's pattern would exceed 2²⁷ entries (a dense
    /// derivative); errors of `f` itself, which is traced once.
    pub fn detect<A: Args>(&self, args: &A) -> Result<SparsityPattern>
    where
        F: Function<A>,
    {
        let args = live_trees(args.to_args(), self.o.name)?;
        let sig = self.signature(&args)?;
        self.pattern_at(&|a| self.f.apply(a), &args, &sig)
    }

    /// The derivative at `args`, as a [`SparseMatrix`] (see the type's docs for its rows and
    /// columns).
    ///
    /// # Errors
    /// As [`detect`](Sparse::detect); a given pattern of the wrong shape; with
    /// [`check`](Sparse::check), a mismatch with the dense result.
    pub fn call<A: Args>(&self, args: &A) -> Result<SparseMatrix>
    where
        F: Function<A>,
    {
        let f = |a: Vec<Tree>| self.f.apply(a);
        let args = live_trees(args.to_args(), self.o.name)?;
        let state = self.state(&f, &args)?;
        self.run(&f, args, &state)
    }

    /// Detect the pattern and color it once at `args`, for calls at other points of the same
    /// shapes ([`PreparedSparse::call`]).
    ///
    /// ```
    /// use functorch::{Tensor, jacfwd};
    /// let f = |x: &Tensor| x.sin()?.mul_scalar(2.0);
    /// let jac = jacfwd(f).sparse().prepare(&Tensor::from_slice(&[0.0, 0.0]))?;
    /// assert_eq!(jac.colors(), 1); // a diagonal Jacobian: one jvp
    /// let j = jac.call(&Tensor::from_slice(&[0.0, std::f64::consts::PI]))?;
    /// assert_eq!(j.values()[0], 2.0);
    /// assert!((j.values()[1] + 2.0).abs() < 1e-12);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`call`](Sparse::call).
    pub fn prepare<A: Args>(&self, args: &A) -> Result<PreparedSparse<F>>
    where
        F: Function<A> + Clone,
    {
        let f = |a: Vec<Tree>| self.f.apply(a);
        let args = live_trees(args.to_args(), self.o.name)?;
        Ok(PreparedSparse {
            sparse: self.clone(),
            state: std::sync::Arc::new(self.state(&f, &args)?),
        })
    }

    /// As [`detect`](Sparse::detect), on positional trees (for programs built at run time).
    ///
    /// # Errors
    /// As [`detect`](Sparse::detect).
    pub fn detect_dyn(&self, args: Vec<Tree>) -> Result<SparsityPattern>
    where
        F: Function<Tree>,
    {
        let args = live_trees(args, self.o.name)?;
        let sig = self.signature(&args)?;
        self.pattern_at(&|a| self.f.apply(a), &args, &sig)
    }

    /// As [`call`](Sparse::call), on positional trees (for programs built at run time).
    ///
    /// # Errors
    /// As [`call`](Sparse::call).
    pub fn call_dyn(&self, args: Vec<Tree>) -> Result<SparseMatrix>
    where
        F: Function<Tree>,
    {
        let f = |a: Vec<Tree>| self.f.apply(a);
        let args = live_trees(args, self.o.name)?;
        let state = self.state(&f, &args)?;
        self.run(&f, args, &state)
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::transform(format!("{}.sparse()", self.o.call()), msg)
    }

    /// The argument leaves' layout: which are differentiated, and where their columns start.
    fn signature(&self, args: &[Tree]) -> Result<Signature> {
        if self.o.has_aux {
            return Err(self.err("has_aux is not supported by sparse derivatives"));
        }
        let idx = self.o.argnums().resolve(args.len(), &self.o)?;
        let mut offsets = Vec::new();
        let mut specs = Vec::new();
        let mut n = 0usize;
        for (a, t) in args.iter().enumerate() {
            for leaf in t.leaves() {
                specs.push((leaf.shape().to_vec(), leaf.dtype()));
                if idx.contains(&a) {
                    if !leaf.dtype().is_float() {
                        return Err(self.err(format!(
                            "expected the differentiated inputs to be float tensors, got a {} tensor",
                            leaf.dtype()
                        )));
                    }
                    offsets.push(Some(n));
                    n += leaf.numel();
                } else {
                    offsets.push(None);
                }
            }
        }
        if n == 0 {
            return Err(self.err("expected the differentiated inputs to hold at least one element"));
        }
        if n >= u32::MAX as usize {
            return Err(self.err(format!(
                "{n} differentiated elements: fewer than {} are supported",
                u32::MAX
            )));
        }
        Ok(Signature {
            idx,
            offsets,
            specs,
            n,
        })
    }

    /// Trace `f` and detect the pattern (or take the given one, checking its shape against the
    /// traced outputs).
    fn pattern_at(
        &self,
        f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
        args: &[Tree],
        sig: &Signature,
    ) -> Result<SparsityPattern> {
        let leaves: Vec<Tensor> = args.iter().flat_map(|a| a.leaves()).cloned().collect();
        let (out, graph) = super::jit::record(f, args, &leaves)?;
        let outs = out.leaves();
        for t in &outs {
            if !t.dtype().is_float() {
                return Err(self.err(format!(
                    "expected the outputs to be float tensors, got a {} tensor",
                    t.dtype()
                )));
            }
        }
        let hessian = self.mode == Mode::Hessian;
        if hessian && (outs.len() != 1 || outs[0].numel() != 1) {
            return Err(self.err(format!(
                "a sparse Hessian needs f to return one scalar, got {}",
                out.describe()
            )));
        }
        let nrows: usize = outs.iter().map(|t| t.numel()).sum();
        if let Some(p) = &self.pattern {
            let want = if hessian {
                (sig.n, sig.n)
            } else {
                (nrows, sig.n)
            };
            if (p.nrows(), p.ncols()) != want {
                return Err(self.err(format!(
                    "the given pattern is {}×{}, but the derivative is {}×{}",
                    p.nrows(),
                    p.ncols(),
                    want.0,
                    want.1
                )));
            }
            return Ok(p.clone());
        }
        let vals = detect::Detector::new(&graph, &sig.offsets, sig.n, hessian).run()?;
        if hessian {
            let n = sig.n as u64;
            let mut entries = Vec::new();
            if let Some(h) = vals[0].as_ref().and_then(|v| v.h.as_ref()) {
                for &code in h.get(0) {
                    let (i, j) = ((code / n) as usize, (code % n) as usize);
                    entries.push((i, j));
                    if i != j {
                        entries.push((j, i));
                    }
                }
            }
            return SparsityPattern::from_entries(sig.n, sig.n, &entries);
        }
        let mut row_ptr = Vec::with_capacity(nrows + 1);
        row_ptr.push(0);
        let mut cols = Vec::new();
        for (v, t) in vals.iter().zip(&outs) {
            for e in 0..t.numel() {
                if let Some(v) = v {
                    cols.extend(v.g.get(e).iter().map(|&c| c as usize));
                }
                row_ptr.push(cols.len());
            }
        }
        Ok(SparsityPattern::from_csr_unchecked(
            nrows, sig.n, row_ptr, cols,
        ))
    }

    /// Pattern, coloring and decompression plan at `args`.
    fn state(&self, f: &dyn Fn(Vec<Tree>) -> Result<Tree>, args: &[Tree]) -> Result<State> {
        let sig = self.signature(args)?;
        let pattern = self.pattern_at(f, args, &sig)?;
        let mut mode = self.mode;
        let (coloring, sources) = match self.mode {
            Mode::Forward | Mode::Reverse if self.auto => {
                // a reverse product costs about one forward pass more than a forward one
                let (c, r) = (color::columns(&pattern), color::rows(&pattern));
                if r.count + 1 < c.count {
                    mode = Mode::Reverse;
                    (r, None)
                } else {
                    mode = Mode::Forward;
                    (c, None)
                }
            }
            Mode::Forward => (color::columns(&pattern), None),
            Mode::Reverse => (color::rows(&pattern), None),
            Mode::Hessian => {
                let c = color::star(&pattern);
                match color::symmetric_source(&pattern, &c) {
                    Some(s) => (c, Some(s)),
                    None => {
                        // a column coloring is always symmetric-decomposable
                        let c = color::columns(&pattern);
                        let s = color::symmetric_source(&pattern, &c)
                            .ok_or_else(|| self.err("no symmetric coloring found"))?;
                        (c, Some(s))
                    }
                }
            }
        };
        Ok(State {
            pattern,
            coloring,
            sources,
            sig,
            mode,
        })
    }

    /// The compressed evaluation and decompression (and the dense check if asked).
    fn run(
        &self,
        f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
        args: Vec<Tree>,
        st: &State,
    ) -> Result<SparseMatrix> {
        let m = self.evaluate(f, args.clone(), st, &st.coloring, st.sources.as_ref())?;
        if self.check {
            self.check_dense(f, args, st, &m)?;
        }
        Ok(m)
    }

    fn evaluate(
        &self,
        f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
        args: Vec<Tree>,
        st: &State,
        coloring: &Coloring,
        sources: Option<&SymmetricSources>,
    ) -> Result<SparseMatrix> {
        let sig = &st.sig;
        let p = &st.pattern;
        let colors = &coloring.colors;
        let count = coloring.count;
        let o = &self.o;
        let sel: Vec<Tree> = sig.idx.iter().map(|&i| args[i].clone()).collect();
        let sel_specs: Vec<(Vec<usize>, DType)> = sig
            .offsets
            .iter()
            .zip(&sig.specs)
            .filter(|(off, _)| off.is_some())
            .map(|(_, s)| s.clone())
            .collect();
        let dtype = sel_specs[0].1;
        // seeds for colors start..start+len, one tensor [len, shape] per leaf; `first`: the
        // row or column index of the leaf's element 0
        let seeds =
            |specs: &[(Vec<usize>, DType)], start: usize, len: usize| -> Result<Vec<Tensor>> {
                let mut first = 0;
                specs
                    .iter()
                    .map(|(shape, dt)| {
                        let k = numel(shape);
                        let mut v = vec![0.0f64; len * k];
                        for e in 0..k {
                            let c = colors[first + e] as usize;
                            if c >= start && c < start + len {
                                v[(c - start) * k + e] = 1.0;
                            }
                        }
                        first += k;
                        let mut s = vec![len];
                        s.extend_from_slice(shape);
                        let t = Tensor::from_vec(v, &s)?;
                        if *dt == DType::F64 {
                            Ok(t)
                        } else {
                            t.to_dtype(*dt)
                        }
                    })
                    .collect()
            };
        let g = |sel_args: Vec<Tree>| -> Result<Tree> {
            let mut full = args.clone();
            for (k, &i) in sig.idx.iter().enumerate() {
                full[i] = sel_args[k].clone();
            }
            f(full)
        };
        let sel_basis = |start: usize, len: usize| -> Result<ChunkArgs> {
            let mut rows = seeds(&sel_specs, start, len)?.into_iter();
            Ok(ChunkArgs {
                args: sel.iter().map(|s| s.with_leaves(&mut rows)).collect(),
                dims: vec![Some(0); sel_specs.len()],
            })
        };
        // the compressed products, one flat buffer [count, len] per leaf of the result
        let fates = |r: &Tree| Ok(vec![OutDim::Stack(0); r.num_leaves()]);
        let stacked: Tree = match st.mode {
            Mode::Forward => {
                let push = |tangents: Vec<Tree>| -> Result<Tree> {
                    Ok(jvp_impl(&g, sel.clone(), tangents, o)?.1)
                };
                chunk::run(&push, count, &sel_basis, &fates, o)?
            }
            Mode::Reverse => {
                let (out, pb, _) = vjp_impl(f, args.clone(), Some(&sig.idx), o)?;
                let out_specs: Vec<(Vec<usize>, DType)> = out
                    .leaves()
                    .iter()
                    .map(|t| (t.shape().to_vec(), t.dtype()))
                    .collect();
                let basis = |start: usize, len: usize| -> Result<ChunkArgs> {
                    let rows = seeds(&out_specs, start, len)?;
                    Ok(ChunkArgs {
                        args: vec![out.with_leaves(&mut rows.into_iter())],
                        dims: vec![Some(0); out_specs.len()],
                    })
                };
                chunk::run(&|a| pb.apply_args(a), count, &basis, &fates, o)?
            }
            Mode::Hessian => {
                let many = Opts {
                    argnums: Some(Argnums::Many(sig.idx.iter().map(|&i| i as i64).collect())),
                    ..o.clone()
                };
                let grad_sel = |sel_args: Vec<Tree>| -> Result<Tree> {
                    let mut full = args.clone();
                    for (k, &i) in sig.idx.iter().enumerate() {
                        full[i] = sel_args[k].clone();
                    }
                    Ok(grad_impl(f, full, &many)?.0)
                };
                let push = |tangents: Vec<Tree>| -> Result<Tree> {
                    Ok(jvp_impl(&grad_sel, sel.clone(), tangents, o)?.1)
                };
                chunk::run(&push, count, &sel_basis, &fates, o)?
            }
        };
        let compressed: Vec<Vec<f64>> = stacked
            .leaves()
            .iter()
            .map(|t| t.to_vec_f64())
            .collect::<Result<_>>()?;
        // decompress: (leaf, local index) of a flat row (forward) or column (reverse, Hessian)
        let lens: Vec<usize> = compressed.iter().map(|c| c.len() / count.max(1)).collect();
        let mut starts = Vec::with_capacity(lens.len());
        let mut acc = 0;
        for &l in &lens {
            starts.push(acc);
            acc += l;
        }
        let read = |c: usize, flat: usize| -> f64 {
            let leaf = starts.partition_point(|&s| s <= flat) - 1;
            let local = flat - starts[leaf];
            compressed[leaf][c * lens[leaf] + local]
        };
        let mut values = Vec::with_capacity(p.nnz());
        match st.mode {
            Mode::Forward => {
                for (i, j) in p.entries() {
                    values.push(read(colors[j] as usize, i));
                }
            }
            Mode::Reverse => {
                for (i, j) in p.entries() {
                    values.push(read(colors[i] as usize, j));
                }
            }
            Mode::Hessian => {
                let src = sources.ok_or_else(|| self.err("no decompression plan"))?;
                for &(c, r) in &src.at {
                    values.push(read(c as usize, r));
                }
            }
        }
        Ok(SparseMatrix::with_dtype(p.clone(), values, dtype))
    }

    /// Compare `m` with the dense result (every column its own color).
    fn check_dense(
        &self,
        f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
        args: Vec<Tree>,
        st: &State,
        m: &SparseMatrix,
    ) -> Result<()> {
        let (nrows, ncols) = (m.nrows(), m.ncols());
        let full: Vec<(usize, usize)> = (0..nrows)
            .flat_map(|i| (0..ncols).map(move |j| (i, j)))
            .collect();
        let dense_pattern = SparsityPattern::from_entries(nrows, ncols, &full)?;
        let n_colors = if st.mode == Mode::Reverse {
            nrows
        } else {
            ncols
        };
        let identity = Coloring {
            colors: (0..n_colors as u32).collect(),
            count: n_colors,
        };
        let sources = match st.mode {
            Mode::Hessian => Some(
                color::symmetric_source(&dense_pattern, &identity)
                    .ok_or_else(|| self.err("no decompression plan for the dense check"))?,
            ),
            _ => None,
        };
        let dense_state = State {
            pattern: dense_pattern,
            coloring: identity.clone(),
            sources: None,
            sig: st.sig.clone(),
            mode: st.mode,
        };
        let d = self.evaluate(f, args, &dense_state, &identity, sources.as_ref())?;
        let tol = if m.dtype() == DType::F64 { 1e-8 } else { 1e-3 };
        for (k, (i, j, v)) in d.triplets().enumerate() {
            let s = m.get(i, j);
            let _ = k;
            if !m.pattern().contains(i, j) {
                if v != 0.0 {
                    return Err(self.err(format!(
                        "check: the dense result has {v} at ({i}, {j}), outside the sparsity pattern"
                    )));
                }
            } else if (s - v).abs() > tol * (1.0 + v.abs()) {
                return Err(self.err(format!(
                    "check: the sparse result has {s} at ({i}, {j}), the dense result {v}"
                )));
            }
        }
        Ok(())
    }
}

/// What a call needs besides `f`: the argument layout, the pattern, its coloring and (for
/// Hessians) where each entry is read.
struct State {
    pattern: SparsityPattern,
    coloring: Coloring,
    sources: Option<SymmetricSources>,
    sig: Signature,
    /// The mode used (the builder's, or the one [`Sparse::auto_mode`] chose).
    mode: Mode,
}

/// The layout of the arguments at one call.
#[derive(Clone)]
struct Signature {
    idx: Vec<usize>,
    /// Per argument leaf: its first column, or `None` if it is not differentiated.
    offsets: Vec<Option<usize>>,
    specs: Vec<(Vec<usize>, DType)>,
    n: usize,
}

/// A [`Sparse`] derivative prepared at one point: the pattern and its coloring, kept for calls
/// at other points with the same argument shapes (see [`Sparse::prepare`]).
#[derive(Clone)]
pub struct PreparedSparse<F> {
    sparse: Sparse<F>,
    state: std::sync::Arc<State>,
}

impl<F> PreparedSparse<F> {
    /// The derivative at `args`: only the compressed products (one per color) and the
    /// decompression.
    ///
    /// # Errors
    /// If the arguments' structure, shapes or dtypes differ from those at preparation; errors
    /// of `f`.
    pub fn call<A: Args>(&self, args: &A) -> Result<SparseMatrix>
    where
        F: Function<A>,
    {
        let s = &self.sparse;
        let args = live_trees(args.to_args(), s.o.name)?;
        let specs: Vec<(Vec<usize>, DType)> = args
            .iter()
            .flat_map(|a| a.leaves())
            .map(|t| (t.shape().to_vec(), t.dtype()))
            .collect();
        if specs != self.state.sig.specs {
            return Err(s.err(format!(
                "prepared for arguments of shapes and dtypes {:?}, called with {:?}",
                self.state.sig.specs, specs
            )));
        }
        s.run(&|a| s.f.apply(a), args, &self.state)
    }
    /// The sparsity pattern.
    pub fn pattern(&self) -> &SparsityPattern {
        &self.state.pattern
    }
    /// The number of colors: products (jvps, vjps or Hessian-vector products) per call.
    pub fn colors(&self) -> usize {
        self.state.coloring.count
    }
    /// The mode the products run in: `"forward"`, `"reverse"` or `"hessian"`
    /// (forward-over-reverse).
    pub fn mode(&self) -> &'static str {
        match self.state.mode {
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
            Mode::Hessian => "hessian",
        }
    }
}
