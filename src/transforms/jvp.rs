//! Forward mode: `jvp` (a Jacobian–vector product alongside the output) and `linearize`.

use super::vjp::{Pullback, vjp_impl};
use super::{Function, convert, split_aux, unwrap_at};
use crate::core::{LevelGuard, LevelKind, TracerKind, dual};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};

/// `(primal out, tangent out, aux)` of `f` at `primals` in the direction `tangents`.
pub(crate) fn jvp_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    primals: Vec<Tree>,
    tangents: Vec<Tree>,
    has_aux: bool,
    call: &str,
) -> Result<(Tree, Tree, Option<Tree>)> {
    if primals.len() != tangents.len() {
        return Err(Error::transform(
            call,
            format!(
                "expected primals and tangents to have the same structure, got {} primals and {} tangents",
                primals.len(),
                tangents.len()
            ),
        ));
    }
    for (i, (p, t)) in primals.iter().zip(&tangents).enumerate() {
        if !p.same_structure(t) {
            return Err(Error::transform(
                call,
                format!(
                    "primal {i} has structure {} but its tangent has structure {}",
                    p.describe(),
                    t.describe()
                ),
            ));
        }
        for (a, b) in p.leaves().into_iter().zip(t.leaves()) {
            if a.shape() != b.shape() || a.dtype() != b.dtype() {
                return Err(Error::transform(
                    call,
                    format!(
                        "expected each tangent to have the shape and dtype of its primal, got a tangent {:?} {} for a primal {:?} {} (argument {i})",
                        b.shape(),
                        b.dtype(),
                        a.shape(),
                        a.dtype()
                    ),
                ));
            }
        }
    }
    let guard = LevelGuard::push(LevelKind::Jvp);
    let level = guard.level.clone();
    let wrapped: Vec<Tree> = primals
        .iter()
        .zip(&tangents)
        .map(|(p, t)| {
            let mut ts = t.leaves().into_iter();
            p.map(&mut |x| {
                let tx = ts.next().unwrap();
                Ok(if x.dtype().is_float() {
                    dual(&level, x.clone(), Some(tx.clone()))
                } else {
                    x.clone()
                })
            })
        })
        .collect::<Result<_>>()?;
    let out = f(wrapped)?;
    let (out, aux) = split_aux(out, has_aux, call)?;
    let mut tans = Vec::new();
    let prim = out.map(&mut |t| {
        Ok(match t.tracer_at(&level) {
            Some(TracerKind::Dual { primal, tangent }) => {
                tans.push(tangent.clone().unwrap_or_else(|| primal.zeros_like()));
                primal.clone()
            }
            _ => {
                tans.push(t.zeros_like());
                t.clone()
            }
        })
    })?;
    let aux = aux.map(|a| unwrap_at(&level, &a));
    drop(guard);
    let tan = prim.with_leaves(&mut tans.into_iter());
    Ok((prim, tan, aux))
}

/// Forward-mode product: `jvp(f).call(&primals, &tangents)` gives `(f(primals), J·tangents)`
/// (with `has_aux`, `(output, jvp_out, aux)`), as torch.func's `jvp`. `primals` and `tangents`
/// are positional argument lists of the same structure and shapes.
#[derive(Clone)]
pub struct Jvp<F> {
    f: F,
    has_aux: bool,
}

/// Forward-mode Jacobian–vector product of `f` (see [`Jvp`]).
///
/// ```
/// use functorch::{Tensor, jvp};
/// // d/dt sin(x + t v) at t = 0 is cos(x) * v
/// let f = |x: &Tensor| x.sin();
/// let x = Tensor::from_slice(&[0.0, 1.0]);
/// let v = Tensor::from_slice(&[1.0, 2.0]);
/// let (y, t): (Tensor, Tensor) = jvp(f).call(&x, &v)?;
/// assert_eq!(y.to_vec::<f64>()?, vec![0.0, 1f64.sin()]);
/// assert_eq!(t.to_vec::<f64>()?, vec![1.0, 2.0 * 1f64.cos()]);
/// # Ok::<(), functorch::Error>(())
/// ```
pub fn jvp<F>(f: F) -> Jvp<F> {
    Jvp { f, has_aux: false }
}

impl<F> Jvp<F> {
    /// The function returns `(output, aux)`; aux comes back as a third element, undifferentiated.
    pub fn has_aux(mut self, on: bool) -> Self {
        self.has_aux = on;
        self
    }
    /// `(output, tangent_out)` (plus `aux` with `has_aux`) at `primals` along `tangents`.
    pub fn call<A: Args, R: Pytree>(&self, primals: &A, tangents: &A) -> Result<R>
    where
        F: Function<A>,
    {
        convert(self.call_dyn(primals.to_args(), tangents.to_args())?, "jvp")
    }
    /// As [`call`](Jvp::call), on positional trees.
    pub fn call_dyn<A>(&self, primals: Vec<Tree>, tangents: Vec<Tree>) -> Result<Tree>
    where
        F: Function<A>,
    {
        let (o, t, aux) = jvp_impl(
            &|a| self.f.apply(a),
            primals,
            tangents,
            self.has_aux,
            "jvp(f, primals, tangents)",
        )?;
        let mut v = vec![o, t];
        v.extend(aux);
        Ok(Tree::Tuple(v))
    }
}

/// `linearize(f).call(&primals)` gives `f(primals)` and a [`Linearized`] function that maps
/// tangents to `J·tangents` without running `f` again, as torch.func's `linearize`.
#[derive(Clone)]
pub struct Linearize<F> {
    f: F,
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
    Linearize { f }
}

/// The Jacobian of a function at a point, as a linear function of tangents.
///
/// It is the transpose of the function's pullback: the pullback is linear in its cotangent, so
/// differentiating it (at a zero cotangent) once, in reverse, records `v ↦ J v` as a linear
/// tape; each call walks that tape.
pub struct Linearized {
    transposed: Pullback,
    nargs: usize,
}

impl<F> Linearize<F> {
    /// `(f(primals), linearized)`.
    pub fn call<A: Args, R: Pytree>(&self, primals: &A) -> Result<(R, Linearized)>
    where
        F: Function<A>,
    {
        let (out, lin) = self.call_dyn(primals.to_args())?;
        Ok((convert(out, "linearize")?, lin))
    }
    /// As [`call`](Linearize::call), on positional trees.
    pub fn call_dyn<A>(&self, primals: Vec<Tree>) -> Result<(Tree, Linearized)>
    where
        F: Function<A>,
    {
        let nargs = primals.len();
        let call = "linearize(f, *primals)";
        let (out, pb, _) = vjp_impl(&|a| self.f.apply(a), primals, None, false, call)?;
        let zero = out.map(&mut |t| Ok(t.zeros_like()))?;
        let (_, transposed, _) = vjp_impl(&|a| pb.apply_args(a), vec![zero], None, false, call)?;
        Ok((out, Linearized { transposed, nargs }))
    }
}

impl Linearized {
    /// `J·tangents` for tangents shaped like the primals (a tuple for several arguments).
    pub fn call<A: Args, R: Pytree>(&self, tangents: &A) -> Result<R> {
        convert(self.call_dyn(tangents.to_args())?, "linearize")
    }
    /// As [`call`](Linearized::call), on positional trees.
    pub fn call_dyn(&self, tangents: Vec<Tree>) -> Result<Tree> {
        if tangents.len() != self.nargs {
            return Err(Error::transform(
                "linearize",
                format!("expected {} tangents, got {}", self.nargs, tangents.len()),
            ));
        }
        let r = self.transposed.apply(Tree::Tuple(tangents))?;
        Ok(r.into_tuple()?.pop().unwrap())
    }
}

impl<A> Function<A> for Linearized {
    fn apply(&self, args: Vec<Tree>) -> Result<Tree> {
        self.call_dyn(args)
    }
}
