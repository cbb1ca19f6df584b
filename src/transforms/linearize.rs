//! `linearize`: the output of a function at a point and its Jacobian there as a linear
//! function of tangents. It is implemented in reverse mode (the transpose of the pullback),
//! which evaluates `f` once but differentiates twice; see [`Linearized`].

use super::options::Opts;
use super::vjp::{Pullback, vjp_impl};
use super::{Function, convert};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};

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

/// The Jacobian of a function at a point, as a linear function of tangents.
///
/// It is the transpose of the function's pullback: the pullback is linear in its cotangent, so
/// differentiating it (at a zero cotangent) once, in reverse, records `v ↦ J v` as a linear
/// tape; each call walks that tape.
pub struct Linearized {
    transposed: Pullback,
    nargs: usize,
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
        let nargs = primals.len();
        let o = &self.o;
        let (out, pb, _) = vjp_impl(&|a| self.f.apply(a), primals, None, o)?;
        let zero = out.map(&mut |t| Ok(t.zeros_like()))?;
        let (_, transposed, _) = vjp_impl(&|a| pb.apply_args(a), vec![zero], None, o)?;
        Ok((
            out,
            Linearized {
                transposed,
                nargs,
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
        if tangents.len() != self.nargs {
            return Err(Error::transform(
                self.o.call(),
                format!("expected {} tangents, got {}", self.nargs, tangents.len()),
            ));
        }
        let call = || format!("{}: the linearized function", self.o.call());
        let r = self.transposed.apply_for(Tree::Tuple(tangents), &call)?;
        Ok(r.into_tuple()?.pop().unwrap())
    }
}

impl<A> Function<A> for Linearized {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        self.call_dyn(args)
    }
}
