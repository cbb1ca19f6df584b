//! Jacobians as torch.func computes them, chunked (`NOTE: [chunking]`):
//!
//! - `jacrev`: one VJP, then the pullback vmapped over chunks of the output's standard basis;
//! - `jacfwd`: the JVP vmapped over chunks of the input's standard basis.
//!
//! The Hessians (`hessian`, `hvp`, `vhp`) are built on these in `hessian.rs`.
//!
//! Results follow torch.func's structure: the outer level follows the output's structure, the
//! inner level the argnums (an int argnums gives no inner tuple), each block shaped
//! `out.shape + in.shape`.

use super::budget;
use super::chunk::{self, ChunkArgs, OutDim};
use super::jvp::jvp_impl;
use super::options::{Opts, option_setters};
use super::vjp::vjp_impl;
use super::{Argnums, Function, Pullback, callable};
use crate::array::pool::measure;
use crate::array::{DType, Shape, numel};
use crate::core::Tensor;
use crate::error::{Error, Result};
use crate::ops::standard_basis_rows;
use crate::tree::Tree;

fn specs(leaves: &[&Tensor]) -> Vec<(Shape, DType)> {
    leaves
        .iter()
        .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
        .collect()
}

fn require_float(o: &Opts, what: &str, leaves: &[&Tensor]) -> Result<()> {
    if leaves.is_empty() {
        return Err(Error::transform(
            o.call(),
            format!("expected {what} to hold at least one tensor"),
        ));
    }
    for t in leaves {
        if !t.dtype().is_float() {
            return Err(Error::transform(
                o.call(),
                format!(
                    "expected {what} to be float tensors, got a {} tensor",
                    t.dtype()
                ),
            ));
        }
    }
    Ok(())
}

/// For each output leaf, the selected arguments' structure holding that output's blocks.
fn assemble(out: &Tree, sel: &[Tree], argnums: &Argnums, blocks: Vec<Vec<Tensor>>) -> Tree {
    let mut rows = blocks.into_iter();
    out.graft(&mut |_| {
        let mut it = rows
            .next()
            .expect("one row of blocks per output")
            .into_iter();
        argnums.select(sel.iter().map(|s| s.with_leaves(&mut it)).collect())
    })
}

/// The Jacobian of `f` with respect to the arguments `o.argnums` selects, by reverse mode.
pub(crate) fn jacrev_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &Opts,
) -> Result<Tree> {
    let idx = o.argnums().resolve(args.len(), o)?;
    let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
    let (fwd, usage) = measure(|| vjp_impl(f, args, Some(&idx), o));
    jacrev_from(sel, fwd?, usage.kept.max(0) as usize, o)
}

/// The rest of [`jacrev_impl`], from the forward pass (`(out, pullback, aux)`, holding
/// `held` bytes) on: the pullback over chunks of the output's basis.
fn jacrev_from(
    sel: Vec<Tree>,
    (out, pb, aux): (Tree, Pullback, Option<Tree>),
    held: usize,
    o: &Opts,
) -> Result<Tree> {
    let argnums = o.argnums();
    let out_leaves = out.leaves();
    require_float(o, "the outputs", &out_leaves)?;
    let out_specs = specs(&out_leaves);
    let in_specs: Vec<(Shape, DType)> = sel.iter().flat_map(|s| specs(&s.leaves())).collect();
    let total: usize = out_specs.iter().map(|(s, _)| numel(s)).sum();
    let o = &Opts { held, ..o.clone() };
    if let Some(budget) = budget::budget(o)? {
        // the result's size is known: refuse it before any chunk runs
        let row: usize = in_specs
            .iter()
            .map(|(s, d)| numel(s).saturating_mul(if *d == DType::F32 { 4 } else { 8 }))
            .sum();
        let need = row.saturating_mul(total);
        if held.saturating_add(need) > budget {
            return Err(budget::output_too_large(o, budget, need, held));
        }
    }
    let basis = |start: usize, len: usize| -> Result<ChunkArgs> {
        let rows = standard_basis_rows(&out_specs, start, len)?;
        Ok(ChunkArgs {
            args: vec![out.with_leaves(&mut rows.into_iter())],
            dims: vec![Some(0); out_specs.len()],
        })
    };
    let stacked = |g: &Tree| Ok(vec![OutDim::Stack(0); g.num_leaves()]);
    let g = chunk::run(&|a| pb.apply_args(a), total, &basis, &stacked, o)?;
    let cols: Vec<&Tensor> = g.leaves();
    let mut off = 0;
    let blocks = out_specs
        .iter()
        .map(|(os, _)| {
            let n = numel(os);
            let row = cols
                .iter()
                .zip(&in_specs)
                .map(|(c, (is, _))| {
                    let shape: Vec<i64> = os.iter().chain(is.iter()).map(|&v| v as i64).collect();
                    c.narrow(0, off, n)?.reshape(&shape)
                })
                .collect::<Result<Vec<_>>>();
            off += n;
            row
        })
        .collect::<Result<Vec<_>>>()?;
    let jac = assemble(&out, &sel, argnums, blocks);
    Ok(match aux {
        Some(a) => Tree::Tuple(vec![jac, a]),
        None => jac,
    })
}

/// The Jacobian of `f` with respect to the arguments `o.argnums` selects, by forward mode.
pub(crate) fn jacfwd_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &Opts,
) -> Result<Tree> {
    let argnums = o.argnums();
    let idx = argnums.resolve(args.len(), o)?;
    let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
    let sel_leaves: Vec<&Tensor> = sel.iter().flat_map(|s| s.leaves()).collect();
    require_float(o, "the differentiated inputs", &sel_leaves)?;
    let in_specs = specs(&sel_leaves);
    let total: usize = in_specs.iter().map(|(s, _)| numel(s)).sum();
    let g = |sel_args: Vec<Tree>| -> Result<Tree> {
        let mut full = args.clone();
        for (k, &i) in idx.iter().enumerate() {
            full[i] = sel_args[k].clone();
        }
        f(full)
    };
    let push = |tangents: Vec<Tree>| -> Result<Tree> {
        let (out, t, aux) = jvp_impl(&g, sel.clone(), tangents, o)?;
        Ok(Tree::Tuple(vec![t, out, aux.unwrap_or(Tree::None)]))
    };
    let basis = |start: usize, len: usize| -> Result<ChunkArgs> {
        let mut rows = standard_basis_rows(&in_specs, start, len)?.into_iter();
        Ok(ChunkArgs {
            args: sel.iter().map(|s| s.with_leaves(&mut rows)).collect(),
            dims: vec![Some(0); in_specs.len()],
        })
    };
    // the tangents are stacked; the primal and aux do not depend on the basis
    let fates = |r: &Tree| -> Result<Vec<OutDim>> {
        let Tree::Tuple(v) = r else {
            unreachable!("push returns a triple")
        };
        let mut d = vec![OutDim::Stack(0); v[0].num_leaves()];
        d.resize(r.num_leaves(), OutDim::First);
        Ok(d)
    };
    let mut r = chunk::run(&push, total, &basis, &fates, o)?.into_tuple()?;
    let aux = r.pop().unwrap();
    let out = r.pop().unwrap();
    let tangents = r.pop().unwrap();
    require_float(o, "the outputs", &out.leaves())?;
    let blocks = tangents
        .leaves()
        .into_iter()
        .map(|c| {
            let ro = c.ndim() - 1;
            let mut off = 0;
            in_specs
                .iter()
                .map(|(is, _)| {
                    let n = numel(is);
                    let shape: Vec<i64> = is
                        .iter()
                        .chain(c.shape()[1..].iter())
                        .map(|&v| v as i64)
                        .collect();
                    let b = c.narrow(0, off, n)?.reshape(&shape)?;
                    off += n;
                    let ri = is.len();
                    let perm: Vec<i64> = (ri..ri + ro).chain(0..ri).map(|v| v as i64).collect();
                    b.permute(&perm)
                })
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let jac = assemble(&out, &sel, argnums, blocks);
    Ok(if o.has_aux {
        Tree::Tuple(vec![jac, aux])
    } else {
        jac
    })
}

/// The Jacobian by reverse mode, as torch.func's `jacrev`: options
/// [`argnums`](Jacrev::argnums), [`has_aux`](Jacrev::has_aux),
/// [`chunk_size`](Jacrev::chunk_size) and [`preallocate`](Jacrev::preallocate), plus
/// [`memory_budget`](Jacrev::memory_budget) (the chunk size chosen to fit a memory budget).
#[derive(Clone)]
pub struct Jacrev<F> {
    f: F,
    o: Opts,
}

/// The Jacobian of `f` by reverse mode (see [`Jacrev`]).
///
/// ```
/// use functorch::{Tensor, jacrev};
/// // the Jacobian of elementwise sin is diag(cos x)
/// let x = Tensor::from_slice(&[0.0, 1.0, 2.0]);
/// let j: Tensor = jacrev(|x: &Tensor| x.sin()).call(&x)?;
/// assert_eq!(j.to_vec::<f64>()?, x.cos()?.diag()?.to_vec::<f64>()?);
/// // chunk_size bounds memory and changes nothing else
/// let j1: Tensor = jacrev(|x: &Tensor| x.sin()).chunk_size(1).call(&x)?;
/// assert_eq!(j1.to_vec::<f64>()?, j.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jacrev<F>(f: F) -> Jacrev<F> {
    Jacrev {
        f,
        o: Opts::new("jacrev"),
    }
}

option_setters!(Jacrev: argnums, has_aux, chunk_size, preallocate, memory_budget, memory_plan, progress);

impl<F> Jacrev<F> {
    /// The Jacobian as a [`SparseMatrix`](crate::SparseMatrix), its pattern detected and its
    /// rows colored, one vjp per color (see [`Sparse`](crate::Sparse)).
    pub fn sparse(self) -> super::sparse::Sparse<F> {
        super::sparse::Sparse::new(self.f, self.o, super::sparse::Mode::Reverse)
    }
}

impl<A, F: Function<A>> Function<A> for Jacrev<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        jacrev_impl(&|a| self.f.apply(a), args, &self.o)
    }
}
callable!(Jacrev);

/// The Jacobian by forward mode, as torch.func's `jacfwd`: options
/// [`argnums`](Jacfwd::argnums), [`has_aux`](Jacfwd::has_aux),
/// [`randomness`](Jacfwd::randomness), and [`chunk_size`](Jacfwd::chunk_size) (which
/// torch.func's jacfwd lacks; it bounds memory the same way jacrev's does), plus
/// [`memory_budget`](Jacfwd::memory_budget).
#[derive(Clone)]
pub struct Jacfwd<F> {
    f: F,
    o: Opts,
}

/// The Jacobian of `f` by forward mode (see [`Jacfwd`]).
///
/// ```
/// use functorch::{Tensor, jacfwd};
/// // f(x) = A x has Jacobian A
/// let a = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
/// let f = |x: &Tensor| a.matmul(x);
/// let j: Tensor = jacfwd(f).call(&Tensor::from_slice(&[0.5, -1.0]))?;
/// assert_eq!(j.to_vec::<f64>()?, a.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jacfwd<F>(f: F) -> Jacfwd<F> {
    Jacfwd {
        f,
        o: Opts::new("jacfwd"),
    }
}

option_setters!(Jacfwd: argnums, has_aux, chunk_size, randomness, memory_budget, memory_plan, progress);

impl<F> Jacfwd<F> {
    /// The Jacobian as a [`SparseMatrix`](crate::SparseMatrix), its pattern detected and its
    /// columns colored, one jvp per color (see [`Sparse`](crate::Sparse)).
    pub fn sparse(self) -> super::sparse::Sparse<F> {
        super::sparse::Sparse::new(self.f, self.o, super::sparse::Mode::Forward)
    }
}

impl<A, F: Function<A>> Function<A> for Jacfwd<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        jacfwd_impl(&|a| self.f.apply(a), args, &self.o)
    }
}
callable!(Jacfwd);

/// Which way [`jacobian`] computes: chosen from the sizes (`Auto`, the default) or as asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum JacobianMode {
    /// Forward mode when the differentiated inputs have no more elements than the outputs,
    /// reverse mode otherwise (see [`Jacobian`]).
    #[default]
    Auto,
    /// Forward mode, as [`jacfwd`]: one Jacobian-vector product per input element.
    Forward,
    /// Reverse mode, as [`jacrev`]: one vector-Jacobian product per output element.
    Reverse,
}

/// The Jacobian in whichever mode needs fewer products: options
/// [`argnums`](Jacobian::argnums), [`has_aux`](Jacobian::has_aux),
/// [`chunk_size`](Jacobian::chunk_size), [`memory_budget`](Jacobian::memory_budget) and
/// [`mode`](Jacobian::mode). The result is nested as [`jacrev`]'s and [`jacfwd`]'s are.
///
/// The rule (`JacobianMode::Auto`): with `n` the elements of the differentiated inputs and `m`
/// those of the outputs, forward mode when `n <= m`, reverse mode otherwise. Forward mode
/// needs `n` Jacobian-vector products, reverse mode `m` vector-Jacobian products plus one
/// recorded forward pass, whose residuals it keeps; a vector-Jacobian product costs at least
/// a Jacobian-vector product, so forward mode wins ties. `m` is learned from that recorded
/// forward pass: when reverse mode is chosen it is the forward pass of the Jacobian (nothing is
/// evaluated twice); when forward mode is chosen it costs one extra evaluation of `f`.
/// [`chosen_mode`](Jacobian::chosen_mode) says which mode a call would take.
#[derive(Clone)]
pub struct Jacobian<F> {
    f: F,
    o: Opts,
}

/// The Jacobian of `f`, in forward or reverse mode, whichever needs fewer products (see
/// [`Jacobian`] for the rule).
///
/// ```
/// use functorch::{JacobianMode, Tensor, jacobian};
/// // f: R² → R³, f(x) = (x0 x1, sin x0, x1²): a tall Jacobian, computed in forward mode
/// let f = |x: &Tensor| {
///     let (a, b) = (x.narrow(0, 0, 1)?, x.narrow(0, 1, 1)?);
///     Tensor::cat(&[a.mul(&b)?, a.sin()?, b.square()?], 0)
/// };
/// let x = Tensor::from_slice(&[0.5, 2.0]);
/// assert_eq!(jacobian(f).chosen_mode(&x)?, JacobianMode::Forward);
/// let j: Tensor = jacobian(f).call(&x)?;
/// let want = [2.0, 0.5, 0.5f64.cos(), 0.0, 0.0, 4.0];
/// assert_eq!(j.shape(), &[3, 2]);
/// for (got, want) in j.to_vec::<f64>()?.iter().zip(want) {
///     assert!((got - want).abs() < 1e-15); // cos within a few ulp of libm's
/// }
/// // a wide one, sum(x²): R² → R, in reverse mode, the gradient 2x
/// let g = |x: &Tensor| x.square()?.sum();
/// assert_eq!(jacobian(g).chosen_mode(&x)?, JacobianMode::Reverse);
/// let j: Tensor = jacobian(g).call(&x)?;
/// assert_eq!(j.to_vec::<f64>()?, vec![1.0, 4.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jacobian<F>(f: F) -> Jacobian<F> {
    Jacobian {
        f,
        o: Opts::new("jacobian"),
    }
}

option_setters!(Jacobian: argnums, has_aux, chunk_size, memory_budget, memory_plan, progress);

impl<F> Jacobian<F> {
    /// Compute in this mode: [`JacobianMode::Auto`] (default) chooses by the sizes,
    /// `Forward` and `Reverse` are [`jacfwd`] and [`jacrev`].
    pub fn mode(mut self, mode: JacobianMode) -> Self {
        self.o.mode = mode;
        self
    }
    /// The mode a call at `args` takes: under [`JacobianMode::Auto`] this evaluates `f` once
    /// (to learn its output sizes) and applies [`Jacobian`]'s rule; otherwise it is the mode
    /// set.
    ///
    /// ```
    /// use functorch::{JacobianMode, Tensor, jacobian};
    /// let x = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    /// // elementwise: as many outputs as inputs, forward mode
    /// assert_eq!(jacobian(|x: &Tensor| x.exp()).chosen_mode(&x)?, JacobianMode::Forward);
    /// // fewer outputs than inputs: reverse mode, unless asked otherwise
    /// let f = |x: &Tensor| x.narrow(0, 0, 2);
    /// assert_eq!(jacobian(f).chosen_mode(&x)?, JacobianMode::Reverse);
    /// let forced = jacobian(f).mode(JacobianMode::Forward);
    /// assert_eq!(forced.chosen_mode(&x)?, JacobianMode::Forward);
    /// # Ok::<(), functorch::Error>(())
    /// ```
    pub fn chosen_mode<A: crate::tree::Args>(&self, args: &A) -> Result<JacobianMode>
    where
        F: Function<A>,
    {
        self.chosen_mode_dyn(args.to_args())
    }
    /// As [`chosen_mode`](Jacobian::chosen_mode), on positional trees.
    pub fn chosen_mode_dyn<A>(&self, args: Vec<Tree>) -> Result<JacobianMode>
    where
        F: Function<A>,
    {
        if self.o.mode != JacobianMode::Auto {
            return Ok(self.o.mode);
        }
        let n = selected_numel(&args, &self.o)?;
        let args = super::live_trees(args, self.o.name)?;
        let out = super::live_tree(self.f.apply(args)?, self.o.name)?;
        let (out, _) = super::split_aux(out, &self.o)?;
        Ok(auto_mode(n, leaves_numel(&out)))
    }
}

/// The elements of the arguments `o.argnums` selects.
fn selected_numel(args: &[Tree], o: &Opts) -> Result<usize> {
    let idx = o.argnums().resolve(args.len(), o)?;
    Ok(idx.iter().map(|&i| leaves_numel(&args[i])).sum())
}

fn leaves_numel(t: &Tree) -> usize {
    t.leaves().iter().map(|x| x.numel()).sum()
}

/// [`Jacobian`]'s rule: forward mode for `n` inputs and `m` outputs when `n <= m`.
fn auto_mode(n: usize, m: usize) -> JacobianMode {
    if n <= m {
        JacobianMode::Forward
    } else {
        JacobianMode::Reverse
    }
}

/// The Jacobian in `o.mode` (see [`Jacobian`]).
pub(crate) fn jacobian_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    o: &Opts,
) -> Result<Tree> {
    match o.mode {
        JacobianMode::Forward => jacfwd_impl(f, args, o),
        JacobianMode::Reverse => jacrev_impl(f, args, o),
        JacobianMode::Auto => {
            let idx = o.argnums().resolve(args.len(), o)?;
            let n: usize = idx.iter().map(|&i| leaves_numel(&args[i])).sum();
            let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
            // the recorded forward pass tells the output sizes; reverse mode goes on from it
            let (fwd, usage) = measure(|| vjp_impl(f, args.clone(), Some(&idx), o));
            let fwd = fwd?;
            match auto_mode(n, leaves_numel(&fwd.0)) {
                JacobianMode::Reverse => jacrev_from(sel, fwd, usage.kept.max(0) as usize, o),
                _ => {
                    drop(fwd);
                    jacfwd_impl(f, args, o)
                }
            }
        }
    }
}

impl<A, F: Function<A>> Function<A> for Jacobian<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        jacobian_impl(&|a| self.f.apply(a), args, &self.o)
    }
}
callable!(Jacobian);
