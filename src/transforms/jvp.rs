//! Forward mode: `jvp`, a Jacobian–vector product alongside the output.

use super::options::{Opts, option_setters};
use super::{Function, convert, live_tree, live_trees, split_aux, unwrap_at};
use crate::core::{LevelGuard, LevelKind, TracerKind, dual};
use crate::error::{Error, Result};
use crate::tree::{Args, Pytree, Tree};

/// `(primal out, tangent out, aux)` of `f` at `primals` in the direction `tangents`.
pub(crate) fn jvp_impl(
    f: &dyn Fn(Vec<Tree>) -> Result<Tree>,
    primals: Vec<Tree>,
    tangents: Vec<Tree>,
    o: &Opts,
) -> Result<(Tree, Tree, Option<Tree>)> {
    if primals.len() != tangents.len() {
        return Err(Error::transform(
            o.call(),
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
                o.call(),
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
                    o.call(),
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
    let (primals, tangents) = (live_trees(primals, o.name)?, live_trees(tangents, o.name)?);
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
    let out = live_tree(f(wrapped)?, o.name)?;
    let (out, aux) = split_aux(out, o)?;
    let mut tans = Vec::new();
    let prim = out.map(&mut |t| {
        Ok(match t.tracer_at(&level) {
            Some(TracerKind::Dual { primal, tangent }) => {
                tans.push(tangent.clone().map_or_else(|| primal.zeros_like(), Ok)?);
                primal.clone()
            }
            _ => {
                tans.push(t.zeros_like()?);
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
    o: Opts,
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
    Jvp {
        f,
        o: Opts::new("jvp"),
    }
}

option_setters!(Jvp: has_aux);

impl<F> Jvp<F> {
    /// `(output, tangent_out)` (plus `aux` with `has_aux`) at `primals` along `tangents`.
    pub fn call<A: Args, R: Pytree>(&self, primals: &A, tangents: &A) -> Result<R>
    where
        F: Function<A>,
    {
        convert(
            self.call_dyn(primals.to_args(), tangents.to_args())?,
            || self.o.call(),
        )
    }
    /// As [`call`](Jvp::call), on positional trees.
    pub fn call_dyn<A>(&self, primals: Vec<Tree>, tangents: Vec<Tree>) -> Result<Tree>
    where
        F: Function<A>,
    {
        let (o, t, aux) = jvp_impl(&|a| self.f.apply(a), primals, tangents, &self.o)?;
        let mut v = vec![o, t];
        v.extend(aux);
        Ok(Tree::Tuple(v))
    }
}
