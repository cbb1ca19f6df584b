//! Linear algebra on (batched) square matrices: inv, solve, det, log|det| and its sign,
//! cholesky. The kernels factorize through faer; the rules are the standard matrix-calculus
//! identities, written with public ops.

use super::{Grads, PrimKind, Primitive, with_batch};
use crate::array::Array;
use crate::core::Tensor;
use crate::core::bind;
use crate::error::{Error, Result};
use crate::kernels::linalg;
use smallvec::smallvec;

fn float(op: &'static str, a: &Array) -> Result<()> {
    if a.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::DType {
            op,
            expected: "a float tensor",
            got: a.dtype(),
        })
    }
}

/// `x[..., None, None]`: a per-matrix scalar against `[..., n, n]`.
fn per_matrix(x: &Tensor) -> Result<Tensor> {
    x.unsqueeze(-1)?.unsqueeze(-1)
}

/// Matrix inverse.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Inv;

impl Primitive for Inv {
    fn name(&self) -> &'static str {
        "inv"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("inv", inputs[0])?;
        linalg::inv(inputs[0])
    }
    fn jvp(&self, _: &[&Tensor], t: &[Option<&Tensor>], y: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.matmul(t[0].unwrap())?.matmul(y)?.neg()?))
    }
    fn vjp(&self, _: &[Tensor], y: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let yt = y.mt()?;
        Ok(smallvec![Some(yt.matmul(ct)?.matmul(&yt)?.neg()?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
}

/// `A⁻¹ B` for `A: [..., n, n]`, `B: [..., n, k]` with equal batch dims.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Solve;

impl Primitive for Solve {
    fn name(&self) -> &'static str {
        "solve"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("solve", inputs[0])?;
        super::expect_same_dtype("solve", inputs)?;
        linalg::solve(inputs[0], inputs[1])
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], x: &Tensor) -> Result<Option<Tensor>> {
        // A X = B  ⇒  A dX = dB - dA X
        let rhs = match (t[0], t[1]) {
            (Some(ta), Some(tb)) => tb.sub(&ta.matmul(x)?)?,
            (Some(ta), None) => ta.matmul(x)?.neg()?,
            (None, Some(tb)) => tb.clone(),
            (None, None) => unreachable!(),
        };
        Ok(Some(bind(self, &[p[0], &rhs])?))
    }
    fn vjp(&self, inputs: &[Tensor], x: &Tensor, ct: &Tensor, needs: &[bool]) -> Result<Grads> {
        let gb = bind(self, &[&inputs[0].mt()?, ct])?;
        let ga = needs[0].then(|| gb.matmul(&x.mt()?)?.neg()).transpose()?;
        Ok(smallvec![ga, needs[1].then_some(gb)])
    }
    fn batch(&self, inputs: &[&Tensor], batched: &[bool], size: usize) -> Result<Tensor> {
        let a = with_batch(inputs[0], batched[0], size)?;
        let b = with_batch(inputs[1], batched[1], size)?;
        bind(self, &[&a, &b])
    }
}

/// Determinant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Det;

impl Primitive for Det {
    fn name(&self) -> &'static str {
        "det"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("det", inputs[0])?;
        linalg::det(inputs[0])
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        // d det = tr(adj(A) dA): defined at singular matrices too (torch's rule)
        let adj = bind(&Adjugate, &[p[0]])?;
        Ok(Some(
            adj.mt()?.mul(t[0].unwrap())?.sum_dims(&[-2, -1], false)?,
        ))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        let adj = bind(&Adjugate, &[&inputs[0]])?;
        Ok(smallvec![Some(per_matrix(ct)?.mul(&adj.mt()?)?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
}

/// The adjugate `adj(A)` (`det(A) A⁻¹` where `A` is regular): the transposed gradient of det.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Adjugate;

/// `A⁻¹` for the derivatives of the adjugate; a singular matrix is reported as det's.
fn inv_for_det(a: &Tensor) -> Result<Tensor> {
    a.inv().map_err(|e| match e {
        Error::Singular { shape, .. } => Error::Singular {
            op: "det",
            shape,
            what: "singular, where the second derivative of det is not implemented",
        },
        e => e,
    })
}

impl Primitive for Adjugate {
    fn name(&self) -> &'static str {
        "det"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("det", inputs[0])?;
        linalg::adjugate(inputs[0])
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], adj: &Tensor) -> Result<Option<Tensor>> {
        // adj = det · A⁻¹  ⇒  d adj = tr(A⁻¹ dA) adj − A⁻¹ dA adj
        let ai = inv_for_det(p[0])?;
        let da = t[0].unwrap();
        let tr = ai.mt()?.mul(da)?.sum_dims(&[-2, -1], false)?;
        let d = per_matrix(&tr)?
            .mul(adj)?
            .sub(&ai.matmul(da)?.matmul(adj)?)?;
        Ok(Some(d))
    }
    fn vjp(&self, inputs: &[Tensor], adj: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        // the transpose of the jvp: Ā = ⟨C, adj⟩ A⁻ᵀ − A⁻ᵀ C adjᵀ
        let ait = inv_for_det(&inputs[0])?.mt()?;
        let dot = ct.mul(adj)?.sum_dims(&[-2, -1], false)?;
        let g = per_matrix(&dot)?
            .mul(&ait)?
            .sub(&ait.matmul(ct)?.matmul(&adj.mt()?)?)?;
        Ok(smallvec![Some(g)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
}

/// `log|det A|` (`sign: false`) or the sign of `det A` (`sign: true`, no derivative).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Slogdet {
    pub(crate) sign: bool,
}

impl Primitive for Slogdet {
    fn name(&self) -> &'static str {
        "slogdet"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("slogdet", inputs[0])?;
        let (s, l) = linalg::slogdet(inputs[0])?;
        Ok(if self.sign { s } else { l })
    }
    fn jvp(&self, p: &[&Tensor], t: &[Option<&Tensor>], _: &Tensor) -> Result<Option<Tensor>> {
        if self.sign {
            return Ok(None);
        }
        Ok(Some(
            p[0].inv()?
                .mt()?
                .mul(t[0].unwrap())?
                .sum_dims(&[-2, -1], false)?,
        ))
    }
    fn vjp(&self, inputs: &[Tensor], _: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        if self.sign {
            return Ok(smallvec![None]);
        }
        Ok(smallvec![Some(
            per_matrix(ct)?.mul(&inputs[0].inv()?.mt()?)?
        )])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
    fn differentiable(&self) -> bool {
        !self.sign
    }
}

/// Lower Cholesky factor of a symmetric positive definite matrix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Cholesky;

/// Φ(X): the lower triangle of X with its diagonal halved.
fn phi(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[x.ndim() - 1];
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            m[i * n + j] = if i == j { 0.5 } else { 1.0 };
        }
    }
    let mask = Tensor::from_vec(m, &[n, n])?.to_dtype(x.dtype())?;
    x.mul(&mask)
}

impl Primitive for Cholesky {
    fn name(&self) -> &'static str {
        "cholesky"
    }
    fn kind(&self) -> PrimKind {
        PrimKind::Opaque
    }
    fn eval(&self, inputs: &[&Array]) -> Result<Array> {
        float("cholesky", inputs[0])?;
        linalg::cholesky(inputs[0])
    }
    fn jvp(&self, _: &[&Tensor], t: &[Option<&Tensor>], l: &Tensor) -> Result<Option<Tensor>> {
        // dL = L Φ(L⁻¹ dA L⁻ᵀ)
        let li = l.inv()?;
        Ok(Some(l.matmul(&phi(
            &li.matmul(t[0].unwrap())?.matmul(&li.mt()?)?,
        )?)?))
    }
    fn vjp(&self, _: &[Tensor], l: &Tensor, ct: &Tensor, _: &[bool]) -> Result<Grads> {
        // Ā = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹, symmetrized
        let li = l.inv()?;
        let g = li.mt()?.matmul(&phi(&l.mt()?.matmul(ct)?)?)?.matmul(&li)?;
        Ok(smallvec![Some(g.add(&g.mt()?)?.mul_scalar(0.5)?)])
    }
    fn batch(&self, inputs: &[&Tensor], _: &[bool], _: usize) -> Result<Tensor> {
        bind(self, inputs)
    }
}
