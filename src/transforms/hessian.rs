//! Hessians: `hessian` = `jacfwd(jacrev(f))` (forward-over-reverse, the chunk size applied to
//! both Jacobians), and the Hessian–vector products `hvp` (forward-over-reverse) and `vhp`
//! (reverse-over-reverse), which never build the Hessian.

use super::jacobian::{jacfwd_impl, jacrev_impl};
use super::jvp::jvp_impl;
use super::options::{Opts, option_setters};
use super::vjp::{grad_impl, vjp_impl};
use super::{Argnums, Function, callable, convert};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};

/// The Hessian, `jacfwd(jacrev(f))` (forward-over-reverse), as torch.func's `hessian`, plus
/// `has_aux` (as JAX has it), `chunk_size` (applied to both Jacobians, so it bounds the
/// memory of the whole computation) and `memory_budget` (applied to the outer, forward-mode
/// Jacobian over the Hessian's columns, whose chunks hold the inner ones).
#[derive(Clone)]
pub struct Hessian<F> {
    f: F,
    o: Opts,
}

/// The Hessian of `f` (see [`Hessian`]). For a tuple of argnums the result holds the blocks
/// `((H00, H01), (H10, H11))`; each block is `out.shape + in_i.shape + in_j.shape`.
///
/// ```
/// use functorch::{Tensor, hessian};
/// // the Hessian of sum(sin x) is diag(-sin x)
/// let x = Tensor::from_slice(&[0.5, 1.0, 1.5]);
/// let h: Tensor = hessian(|x: &Tensor| x.sin()?.sum()).call(&x)?;
/// assert_eq!(h.to_vec::<f64>()?, x.sin()?.neg()?.diag()?.to_vec::<f64>()?);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn hessian<F>(f: F) -> Hessian<F> {
    Hessian {
        f,
        o: Opts::new("hessian"),
    }
}

option_setters!(Hessian: argnums, has_aux, chunk_size, memory_budget, memory_plan, progress);

impl<F> Hessian<F> {
    /// The Hessian of a scalar function as a [`SparseMatrix`](crate::SparseMatrix), its
    /// pattern detected and star colored, one Hessian-vector product per color (see
    /// [`Sparse`](crate::Sparse)).
    pub fn sparse(self) -> super::sparse::Sparse<F> {
        super::sparse::Sparse::new(self.f, self.o, super::sparse::Mode::Hessian)
    }
}

impl<A, F: Function<A>> Function<A> for Hessian<F> {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        // the progress of the outer jacfwd is the progress of the whole
        // and the budget of the outer jacfwd bounds the whole: the inner Jacobians run inside
        // its chunks, whose memory it measures
        let inner_opts = Opts {
            progress: None,
            memory_budget: None,
            memory_plan: None,
            ..self.o.clone()
        };
        let inner = |a: Vec<Tree>| jacrev_impl(&|b| self.f.apply(b), a, &inner_opts);
        jacfwd_impl(&inner, args, &self.o)
    }
}
callable!(Hessian);

/// The tangents for the selected arguments, one tree per argument.
fn per_arg(o: &Opts, t: Tree, n: usize) -> Result<Vec<Tree>> {
    let v = match o.argnums() {
        Argnums::One(_) => vec![t],
        Argnums::Many(_) => t
            .into_tuple()
            .map_err(|e| Error::transform(o.call(), format!("expected a tuple of vectors: {e}")))?,
    };
    if v.len() != n {
        return Err(Error::transform(
            o.call(),
            format!("expected {n} vectors, got {}", v.len()),
        ));
    }
    Ok(v)
}

/// `g(sel) = grad(f)(args with the selected ones replaced by sel)`, for hvp and vhp.
fn grad_of_selected<'a>(
    f: &'a dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: &'a [Tree],
    idx: &'a [usize],
    o: &'a Opts,
) -> impl Fn(Vec<Tree>) -> Result<Tree> + 'a {
    move |sel: Vec<Tree>| {
        let mut full = args.to_vec();
        for (k, &i) in idx.iter().enumerate() {
            full[i] = sel[k].clone();
        }
        let many = Opts {
            argnums: Some(Argnums::Many(idx.iter().map(|&i| i as i64).collect())),
            has_aux: false,
            ..o.clone()
        };
        Ok(grad_impl(f, full, &many)?.0)
    }
}

/// What hvp and vhp share: `g = grad(f)` over the arguments `o.argnums` selects, the selected
/// primals and the vectors (one tree per selected argument); `product(g, primals, vectors)`
/// applies g's derivative to the vectors (forward for `H v`, reverse for `vᵀ H`) and returns one
/// tree per selected argument, as a tuple.
fn hessian_product(
    o: &Opts,
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    args: Vec<Tree>,
    v: Tree,
    product: impl FnOnce(&dyn Fn(Vec<Tree>) -> Result<Tree>, Vec<Tree>, Vec<Tree>) -> Result<Tree>,
) -> Result<Tree> {
    let idx = o.argnums().resolve(args.len(), o)?;
    let sel: Vec<Tree> = idx.iter().map(|&i| args[i].clone()).collect();
    let vs = per_arg(o, v, idx.len())?;
    let g = grad_of_selected(f, &args, &idx, o);
    Ok(o.argnums().select(product(&g, sel, vs)?.into_tuple()?))
}

/// The Hessian–vector product `H v` of a scalar function, forward-over-reverse
/// (`jvp(grad(f), primals, v)`), without building `H`.
#[derive(Clone)]
pub struct Hvp<F> {
    f: F,
    o: Opts,
}

/// `H v` for the scalar function `f` (see [`Hvp`]); `v` is shaped like the argument(s)
/// `argnums` selects (a tuple for a tuple of argnums).
///
/// ```
/// use functorch::{Tensor, hvp};
/// // f(x) = sum(x³): H = diag(6x)
/// let f = |x: &Tensor| x.pow_scalar(3.0)?.sum();
/// let x = Tensor::from_slice(&[1.0, 2.0]);
/// let hv: Tensor = hvp(f).call(&x, &Tensor::from_slice(&[1.0, 1.0]))?;
/// assert_eq!(hv.to_vec::<f64>()?, vec![6.0, 12.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn hvp<F>(f: F) -> Hvp<F> {
    Hvp {
        f,
        o: Opts::new("hvp"),
    }
}

option_setters!(Hvp: argnums);

impl<F> Hvp<F> {
    /// `H v` at `primals`.
    pub fn call<A: Args, V: Pytree, R: Pytree>(&self, primals: &A, v: &V) -> Result<R>
    where
        F: Function<A>,
    {
        convert(self.call_dyn(primals.to_args(), v.to_tree())?, || {
            self.o.call()
        })
    }
    /// As [`call`](Hvp::call), on trees.
    pub fn call_dyn<A>(&self, args: Vec<Tree>, v: Tree) -> Result<Tree>
    where
        F: Function<A>,
    {
        let o = &self.o;
        hessian_product(o, &|a| self.f.apply(a), args, v, |g, sel, vs| {
            Ok(jvp_impl(g, sel, vs, o)?.1)
        })
    }
}

/// The vector–Hessian product `vᵀ H` of a scalar function, reverse-over-reverse
/// (`vjp(grad(f), primals)` applied to `v`), without building `H`. For a twice continuously
/// differentiable `f`, `H` is symmetric and this equals [`hvp`].
#[derive(Clone)]
pub struct Vhp<F> {
    f: F,
    o: Opts,
}

/// `vᵀ H` for the scalar function `f` (see [`Vhp`]).
///
/// ```
/// use functorch::{Tensor, vhp};
/// let f = |x: &Tensor| x.pow_scalar(3.0)?.sum();
/// let x = Tensor::from_slice(&[1.0, 2.0]);
/// let vh: Tensor = vhp(f).call(&x, &Tensor::from_slice(&[1.0, 1.0]))?;
/// assert_eq!(vh.to_vec::<f64>()?, vec![6.0, 12.0]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn vhp<F>(f: F) -> Vhp<F> {
    Vhp {
        f,
        o: Opts::new("vhp"),
    }
}

option_setters!(Vhp: argnums);

impl<F> Vhp<F> {
    /// `vᵀ H` at `primals`.
    pub fn call<A: Args, V: Pytree, R: Pytree>(&self, primals: &A, v: &V) -> Result<R>
    where
        F: Function<A>,
    {
        convert(self.call_dyn(primals.to_args(), v.to_tree())?, || {
            self.o.call()
        })
    }
    /// As [`call`](Vhp::call), on trees.
    pub fn call_dyn<A>(&self, args: Vec<Tree>, v: Tree) -> Result<Tree>
    where
        F: Function<A>,
    {
        let o = &self.o;
        hessian_product(o, &|a| self.f.apply(a), args, v, |g, sel, vs| {
            let (_, pb, _) = vjp_impl(g, sel, None, o)?;
            pb.apply_for(Tree::Tuple(vs), &|| o.call())
        })
    }
}
