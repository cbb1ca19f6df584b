//! `linearize`: the output of a function at a point and its Jacobian there as a linear
//! function of tangents, evaluating `f` once (`NOTE: [staging]`): the JVP runs once with staged
//! tangents, so the primal computation happens then, concretely, and only the tangent
//! computation is recorded; each call of the linear function replays that program.

use super::jit::record;
use super::jvp::jvp_impl;
use super::options::Opts;
use super::{Function, convert};
use crate::array::Shape;
use crate::core::Tensor;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::jit::{Program, optimize};
use crate::tree::{Args, Pytree, Tree};
use std::sync::Arc;

/// `linearize(f).call(&primals)` gives `f(primals)` and a [`Linearized`] function that maps
/// tangents to `J·tangents` without running `f` again, as torch.func's `linearize`.
#[derive(Clone)]
pub struct Linearize<F> {
    f: F,
    o: Opts,
}

/// The linearization of `f` at a point (see [`Linearize`]).
///
/// ```
/// use functorch::{Tensor, linearize};
/// let f = |x: &Tensor| x.exp();
/// let x = Tensor::from_slice(&[0.0, 1.0]);
/// let (y, lin): (Tensor, _) = linearize(f).call(&x)?;
/// let t: Tensor = lin.call(&Tensor::from_slice(&[1.0, 1.0]))?;
/// assert_eq!(t.to_vec::<f64>()?, y.to_vec::<f64>()?); // exp' = exp
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn linearize<F>(f: F) -> Linearize<F> {
    Linearize {
        f,
        o: Opts::new("linearize"),
    }
}

/// The Jacobian of a function at a point, as a linear function of tangents: the tangent
/// program of one JVP, recorded while the primal was computed (see [`Linearize`]). It can be
/// called any number of times, and it is itself transformable (a [`Function`]: `vmap` it over
/// a batch of tangents, differentiate it).
#[derive(Clone)]
pub struct Linearized {
    program: Arc<Program>,
    /// The primals' structure (tangents must match it), with their leaves' shapes and dtypes.
    primals: Vec<Tree>,
    specs: Vec<(Shape, DType)>,
    out: Tree,
    o: Opts,
}

impl<F> Linearize<F> {
    /// `(f(primals), linearized)`.
    pub fn call<A: Args, R: Pytree>(&self, primals: &A) -> Result<(R, Linearized)>
    where
        F: Function<A>,
    {
        let (out, lin) = self.call_dyn(primals.to_args())?;
        Ok((convert(out, || self.o.call())?, lin))
    }
    /// As [`call`](Linearize::call), on positional trees.
    pub fn call_dyn<A>(&self, primals: Vec<Tree>) -> Result<(Tree, Linearized)>
    where
        F: Function<A>,
    {
        let o = &self.o;
        let f = |a: Vec<Tree>| self.f.apply(a);
        let zeros: Vec<Tree> = primals
            .iter()
            .map(|p| p.map(&mut |t| t.zeros_like()))
            .collect::<Result<_>>()?;
        let leaves: Vec<Tensor> = zeros.iter().flat_map(|z| z.leaves()).cloned().collect();
        let specs = leaves
            .iter()
            .map(|t| (Shape::from_slice(t.shape()), t.dtype()))
            .collect();
        let primal_out = std::cell::RefCell::new(None);
        let push = |tangents: Vec<Tree>| -> Result<Tree> {
            let (y, t, _) = jvp_impl(&f, primals.clone(), tangents, o)?;
            *primal_out.borrow_mut() = Some(y);
            Ok(t)
        };
        let (tangent_out, graph) = record(&push, &zeros, &leaves)?;
        let out = primal_out.into_inner().expect("the jvp ran");
        let blank = Tensor::scalar(0.0);
        let template = |t: &Tree| t.map(&mut |_| Ok(blank.clone()));
        Ok((
            out,
            Linearized {
                program: Arc::new(Program::new(optimize(graph))),
                primals: primals.iter().map(template).collect::<Result<_>>()?,
                specs,
                out: template(&tangent_out)?,
                o: o.clone(),
            },
        ))
    }
}

impl Linearized {
    /// `J·tangents` for tangents shaped like the primals (a tuple for several arguments).
    pub fn call<A: Args, R: Pytree>(&self, tangents: &A) -> Result<R> {
        convert(self.call_dyn(tangents.to_args())?, || self.o.call())
    }
    /// As [`call`](Linearized::call), on positional trees.
    pub fn call_dyn(&self, tangents: Vec<Tree>) -> Result<Tree> {
        let call = || format!("{}: the linearized function", self.o.call());
        if tangents.len() != self.primals.len()
            || !tangents
                .iter()
                .zip(&self.primals)
                .all(|(t, p)| t.same_structure(p))
        {
            let describe = |v: &[Tree]| v.iter().map(Tree::describe).collect::<Vec<_>>();
            return Err(Error::transform(
                call(),
                format!(
                    "expected tangents with the structure of the primals, ({}), got ({})",
                    describe(&self.primals).join(", "),
                    describe(&tangents).join(", ")
                ),
            ));
        }
        let leaves: Vec<Tensor> = tangents.iter().flat_map(|t| t.leaves()).cloned().collect();
        for (k, (t, (s, d))) in leaves.iter().zip(&self.specs).enumerate() {
            if t.shape() != s.as_slice() || t.dtype() != *d {
                return Err(Error::transform(
                    call(),
                    format!(
                        "expected each tangent to have the shape and dtype of its primal, got a tangent {:?} {} for a primal {:?} {d} (leaf {k})",
                        t.shape(),
                        t.dtype(),
                        s.as_slice(),
                    ),
                ));
            }
        }
        let outs = self.program.run(&leaves)?;
        Ok(self.out.with_leaves(&mut outs.into_iter()))
    }
}

impl<A> Function<A> for Linearized {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        self.call_dyn(args)
    }
}
