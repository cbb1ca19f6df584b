//! Factorizations of (batched) square matrices through faer: LU with partial pivoting for det,
//! slogdet, inv and solve; LLᵀ for cholesky. Computed in f64 (f32 inputs are widened and the
//! results narrowed), one matrix at a time.

use crate::array::{AlignedVec, Array, DType, numel};
use crate::error::{Error, Result};
use faer::linalg::solvers::{DenseSolveCore, Llt, PartialPivLu, Solve};
use faer::{MatRef, Side};

/// The matrices of a `[..., r, c]` array as f64 row-major blocks.
fn blocks(a: &Array) -> (Vec<f64>, usize, usize, usize) {
    let s = a.shape();
    let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
    let v: Vec<f64> = match a.dtype() {
        DType::F32 => a
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(|x| x as f64)
            .collect(),
        _ => a.to_vec::<f64>().unwrap(),
    };
    let nb = numel(&s[..s.len() - 2]);
    (v, nb, r, c)
}

fn to_array(v: Vec<f64>, shape: &[usize], dtype: DType) -> Array {
    match dtype {
        DType::F32 => Array::from_vec(
            v.into_iter().map(|x| x as f32).collect::<AlignedVec<_>>(),
            shape,
        ),
        _ => Array::from_vec(v, shape),
    }
}

fn lu(
    op: &'static str,
    m: &[f64],
    n: usize,
    shape: &[usize],
    require_regular: bool,
) -> Result<PartialPivLu<f64>> {
    let lu = PartialPivLu::new(MatRef::from_row_major_slice(m, n, n));
    // only an exact zero pivot is singular: NaN and infinite entries propagate into the result,
    // as in PyTorch (LAPACK's getrf reports exact zeros only)
    if require_regular && (0..n).any(|i| lu.U()[(i, i)] == 0.0) {
        return Err(Error::Singular {
            op,
            shape: shape.to_vec(),
            what: "singular",
        });
    }
    Ok(lu)
}

/// (sign, log|det|) of an LU factorization.
fn sign_logabs(lu: &PartialPivLu<f64>, n: usize) -> (f64, f64) {
    let (fwd, _) = lu.P().arrays();
    let mut seen = vec![false; n];
    let mut sign = 1.0;
    for i in 0..n {
        if seen[i] {
            continue;
        }
        let mut j = i;
        let mut len = 0;
        while !seen[j] {
            seen[j] = true;
            j = fwd[j];
            len += 1;
        }
        if len % 2 == 0 {
            sign = -sign;
        }
    }
    let mut logabs = 0.0;
    for i in 0..n {
        let u = lu.U()[(i, i)];
        if u < 0.0 {
            sign = -sign;
        }
        if u == 0.0 {
            sign = 0.0;
        }
        logabs += u.abs().ln();
    }
    (sign, logabs)
}

/// Determinants of `[..., n, n]`.
pub fn det(a: &Array) -> Result<Array> {
    let (v, nb, n, _) = blocks(a);
    let mut out = Vec::with_capacity(nb);
    for b in 0..nb {
        let lu = lu("det", &v[b * n * n..(b + 1) * n * n], n, a.shape(), false)?;
        let (s, l) = sign_logabs(&lu, n);
        out.push(if s == 0.0 { 0.0 } else { s * l.exp() });
    }
    Ok(to_array(out, &a.shape()[..a.shape().len() - 2], a.dtype()))
}

/// Signs and log-absolute-determinants of `[..., n, n]`.
pub fn slogdet(a: &Array) -> Result<(Array, Array)> {
    let (v, nb, n, _) = blocks(a);
    let (mut signs, mut logs) = (Vec::with_capacity(nb), Vec::with_capacity(nb));
    for b in 0..nb {
        let lu = lu(
            "slogdet",
            &v[b * n * n..(b + 1) * n * n],
            n,
            a.shape(),
            false,
        )?;
        let (s, l) = sign_logabs(&lu, n);
        signs.push(s);
        logs.push(l);
    }
    let bs = &a.shape()[..a.shape().len() - 2];
    Ok((
        to_array(signs, bs, a.dtype()),
        to_array(logs, bs, a.dtype()),
    ))
}

fn row_major(m: faer::MatRef<'_, f64>, out: &mut Vec<f64>) {
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            out.push(m[(i, j)]);
        }
    }
}

/// The sign (±1) of the determinant of an orthogonal matrix.
fn orthogonal_sign(q: MatRef<'_, f64>) -> f64 {
    let n = q.nrows();
    let mut m = Vec::with_capacity(n * n);
    row_major(q, &mut m);
    let lu = PartialPivLu::new(MatRef::from_row_major_slice(&m, n, n));
    sign_logabs(&lu, n).0.signum()
}

/// Adjugates (transposed cofactor matrices) of `[..., n, n]`: `det(A) A⁻¹` where `A` is
/// regular, and through the SVD where it is singular (`adj(U S Vᵀ) = det(U) det(V) V adj(S) Uᵀ`,
/// `adj(S)_ii = Π_{j≠i} s_j`), so it is defined for every matrix, as the gradient of det is.
pub(crate) fn adjugate(a: &Array) -> Result<Array> {
    let (v, nb, n, _) = blocks(a);
    let mut out = Vec::with_capacity(nb * n * n);
    for b in 0..nb {
        let m = &v[b * n * n..(b + 1) * n * n];
        let lu = lu("det", m, n, a.shape(), false)?;
        let regular = (0..n).all(|i| lu.U()[(i, i)] != 0.0);
        if regular || n <= 1 {
            if n == 1 {
                out.push(1.0);
                continue;
            }
            let (s, l) = sign_logabs(&lu, n);
            let d = s * l.exp();
            let start = out.len();
            row_major(lu.inverse().as_ref(), &mut out);
            out[start..].iter_mut().for_each(|x| *x *= d);
            continue;
        }
        let svd = faer::linalg::solvers::Svd::new(MatRef::from_row_major_slice(m, n, n)).map_err(
            |_| Error::Singular {
                op: "det",
                shape: a.shape().to_vec(),
                what: "not decomposable (the SVD did not converge)",
            },
        )?;
        let (u, s, vm) = (svd.U(), svd.S().column_vector(), svd.V());
        let sign = orthogonal_sign(u) * orthogonal_sign(vm);
        // adj(S)_ii = product of the other singular values
        let others: Vec<f64> = (0..n)
            .map(|i| (0..n).filter(|&j| j != i).map(|j| s[j]).product())
            .collect();
        for i in 0..n {
            for j in 0..n {
                let x: f64 = (0..n).map(|k| vm[(i, k)] * others[k] * u[(j, k)]).sum();
                out.push(sign * x);
            }
        }
    }
    Ok(to_array(out, a.shape(), a.dtype()))
}

/// Inverses of `[..., n, n]`; an error if any is singular.
pub fn inv(a: &Array) -> Result<Array> {
    let (v, nb, n, _) = blocks(a);
    let mut out = Vec::with_capacity(nb * n * n);
    for b in 0..nb {
        let lu = lu("inv", &v[b * n * n..(b + 1) * n * n], n, a.shape(), true)?;
        row_major(lu.inverse().as_ref(), &mut out);
    }
    Ok(to_array(out, a.shape(), a.dtype()))
}

/// `A⁻¹ B` for `A: [..., n, n]`, `B: [..., n, k]` with equal batch dims.
pub fn solve(a: &Array, b: &Array) -> Result<Array> {
    let (va, nb, n, _) = blocks(a);
    let (vb, _, _, k) = blocks(b);
    let mut out = Vec::with_capacity(nb * n * k);
    for i in 0..nb {
        let lu = lu("solve", &va[i * n * n..(i + 1) * n * n], n, a.shape(), true)?;
        let rhs = MatRef::from_row_major_slice(&vb[i * n * k..(i + 1) * n * k], n, k);
        row_major(lu.solve(rhs).as_ref(), &mut out);
    }
    Ok(to_array(out, b.shape(), a.dtype()))
}

/// Lower Cholesky factors of symmetric positive definite `[..., n, n]` (the lower triangle is read).
pub fn cholesky(a: &Array) -> Result<Array> {
    let (v, nb, n, _) = blocks(a);
    let mut out = Vec::with_capacity(nb * n * n);
    for b in 0..nb {
        let m = MatRef::from_row_major_slice(&v[b * n * n..(b + 1) * n * n], n, n);
        let llt = Llt::new(m, Side::Lower).map_err(|_| Error::Singular {
            op: "cholesky",
            shape: a.shape().to_vec(),
            what: "not positive definite",
        })?;
        let l = llt.L();
        for i in 0..n {
            for j in 0..n {
                out.push(if j <= i { l[(i, j)] } else { 0.0 });
            }
        }
    }
    Ok(to_array(out, a.shape(), a.dtype()))
}
