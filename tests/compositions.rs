//! The composition stress test (Autodidax's "seven ways to one Hessian"): for several functions,
//! every way the library has of computing a second derivative must agree with the others and
//! with a closed form written by hand here:
//!
//! - `hessian`, `jacfwd(jacfwd)`, `jacrev(jacrev)`, `jacrev(jacfwd)`, `jacfwd(jacrev)`, the
//!   columns of `hvp` and the rows of `vhp`;
//! - chunked equals unchunked for every chunk size `1..=n` (jacrev, jacfwd, hessian, vmap), and
//!   `jacrev(preallocate=true)` equals the default;
//!
//! then the deeper nestings the spec asks for, each against a closed form: `vmap∘vmap∘grad∘grad`,
//! `jvp∘vjp`, `vjp∘jvp`, `grad∘grad∘grad`, `vmap∘jvp∘grad`, `linearize`, a pullback called many
//! times, and the pullback itself under `vmap`, `jvp` and `vjp`.
//!
//! The closed forms are plain `f64` arithmetic on `Vec`s: nothing in them goes through the
//! library's ops, so they cannot share a bug with what they check.

use functorch::{
    DType, Pullback, Result, Tensor, grad, hessian, hvp, jacfwd, jacrev, jvp, linearize, vhp, vjp,
    vmap,
};

mod common;
use common::{Rng, close_to as close, close_vals, mat, vals, vec1};

// ------------------------------------------------------------------------------- helpers

type Scalar = fn(&Tensor) -> Result<Tensor>;
type Closed = fn(&[f64]) -> Vec<f64>;

fn unit(n: usize, i: usize) -> Tensor {
    let mut v = vec![0.0; n];
    v[i] = 1.0;
    vec1(&v)
}

fn transpose(v: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .flat_map(|j| (0..rows).map(move |i| v[i * cols + j]))
        .collect()
}

// ---------------------------------------------------------------- the scalar test functions

/// `f(x) = (Σ sin xᵢ) · (Σ xᵢ²)`.
fn sin_q(x: &Tensor) -> Result<Tensor> {
    x.sin()?.sum()?.mul(&x.square()?.sum()?)
}
fn sin_q_grad(x: &[f64]) -> Vec<f64> {
    let s: f64 = x.iter().map(|v| v.sin()).sum();
    let q: f64 = x.iter().map(|v| v * v).sum();
    x.iter().map(|v| v.cos() * q + 2.0 * s * v).collect()
}
fn sin_q_hess(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let s: f64 = x.iter().map(|v| v.sin()).sum();
    let q: f64 = x.iter().map(|v| v * v).sum();
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let mut v = 2.0 * x[j] * x[i].cos() + 2.0 * x[i] * x[j].cos();
            if i == j {
                v += -x[i].sin() * q + 2.0 * s;
            }
            h[i * n + j] = v;
        }
    }
    h
}

/// `f(x) = Σᵢ sin(xᵢ) · xᵢ₊₁` (products of neighbours, through `narrow`).
fn sin_cross(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0];
    x.narrow(0, 0, n - 1)?
        .sin()?
        .mul(&x.narrow(0, 1, n - 1)?)?
        .sum()
}
fn sin_cross_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = 0.0;
            if i + 1 < n {
                g += x[i].cos() * x[i + 1];
            }
            if i > 0 {
                g += x[i - 1].sin();
            }
            g
        })
        .collect()
}
fn sin_cross_hess(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut h = vec![0.0; n * n];
    for i in 0..n - 1 {
        h[i * n + i] = -x[i].sin() * x[i + 1];
        h[i * n + i + 1] = x[i].cos();
        h[(i + 1) * n + i] = x[i].cos();
    }
    h
}

/// Rosenbrock: `Σᵢ 100 (xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)²`.
fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0];
    let head = x.narrow(0, 0, n - 1)?;
    let tail = x.narrow(0, 1, n - 1)?;
    let a = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    let b = head.rsub_scalar(1.0)?.square()?;
    a.add(&b)?.sum()
}
fn rosenbrock_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = 0.0;
            if i + 1 < n {
                g += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
            }
            if i > 0 {
                g += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
            }
            g
        })
        .collect()
}
fn rosenbrock_hess(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        if i + 1 < n {
            h[i * n + i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
            h[i * n + i + 1] = -400.0 * x[i];
            h[(i + 1) * n + i] = -400.0 * x[i];
        }
        if i > 0 {
            h[i * n + i] += 200.0;
        }
    }
    h
}

/// A one-hidden-layer MLP's mean squared error, as a function of its parameters
/// `θ = (a₁, a₂, b₁, b₂, c₁, c₂)`: `pred_k = Σⱼ cⱼ tanh(aⱼ x_k + bⱼ)`, `L = mean_k (pred_k − y_k)²`.
const MLP_X: [f64; 4] = [-1.0, -0.3, 0.4, 1.2];
const MLP_Y: [f64; 4] = [0.5, -0.2, 0.1, 0.9];
const MLP_H: usize = 2;

fn mlp_loss(theta: &Tensor) -> Result<Tensor> {
    let m = MLP_X.len();
    let a = theta.narrow(0, 0, MLP_H)?.reshape(&[1, MLP_H as i64])?;
    let b = theta.narrow(0, MLP_H, MLP_H)?;
    let c = theta.narrow(0, 2 * MLP_H, MLP_H)?;
    let x = mat(MLP_X.to_vec(), &[m, 1]);
    let y = vec1(&MLP_Y);
    let hidden = x.matmul(&a)?.add(&b)?.tanh()?;
    hidden.matmul(&c)?.sub(&y)?.square()?.mean()
}

/// Per data point: the residual, ∇pred and ∇²pred (closed form).
fn mlp_parts(t: &[f64]) -> Vec<(f64, Vec<f64>, Vec<f64>)> {
    let h = MLP_H;
    let n = 3 * h;
    MLP_X
        .iter()
        .zip(MLP_Y)
        .map(|(&x, y)| {
            let mut pred = 0.0;
            let mut dp = vec![0.0; n];
            let mut d2 = vec![0.0; n * n];
            for j in 0..h {
                let (a, b, c) = (t[j], t[h + j], t[2 * h + j]);
                let s = (a * x + b).tanh();
                let s1 = 1.0 - s * s;
                let s2 = -2.0 * s * s1;
                pred += c * s;
                let (ia, ib, ic) = (j, h + j, 2 * h + j);
                dp[ia] = c * s1 * x;
                dp[ib] = c * s1;
                dp[ic] = s;
                let mut set = |p: usize, q: usize, v: f64| {
                    d2[p * n + q] = v;
                    d2[q * n + p] = v;
                };
                set(ia, ia, c * s2 * x * x);
                set(ia, ib, c * s2 * x);
                set(ib, ib, c * s2);
                set(ia, ic, s1 * x);
                set(ib, ic, s1);
            }
            (pred - y, dp, d2)
        })
        .collect()
}
fn mlp_grad(t: &[f64]) -> Vec<f64> {
    let m = MLP_X.len() as f64;
    let mut g = vec![0.0; t.len()];
    for (r, dp, _) in mlp_parts(t) {
        for (gi, d) in g.iter_mut().zip(dp) {
            *gi += 2.0 / m * r * d;
        }
    }
    g
}
fn mlp_hess(t: &[f64]) -> Vec<f64> {
    let n = t.len();
    let m = MLP_X.len() as f64;
    let mut h = vec![0.0; n * n];
    for (r, dp, d2) in mlp_parts(t) {
        for p in 0..n {
            for q in 0..n {
                h[p * n + q] += 2.0 / m * (dp[p] * dp[q] + r * d2[p * n + q]);
            }
        }
    }
    h
}

struct Case {
    name: &'static str,
    f: Scalar,
    grad: Closed,
    hess: Closed,
    x: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(7);
    vec![
        Case {
            name: "sum(sin x)·sum(x²)",
            f: sin_q,
            grad: sin_q_grad,
            hess: sin_q_hess,
            x: rng.vec(5, -1.5, 1.5),
        },
        Case {
            name: "Σ sin(xᵢ)·xᵢ₊₁",
            f: sin_cross,
            grad: sin_cross_grad,
            hess: sin_cross_hess,
            x: rng.vec(6, -2.0, 2.0),
        },
        Case {
            name: "rosenbrock",
            f: rosenbrock,
            grad: rosenbrock_grad,
            hess: rosenbrock_hess,
            x: rng.vec(5, -1.2, 1.2),
        },
        Case {
            name: "mlp loss in its parameters",
            f: mlp_loss,
            grad: mlp_grad,
            hess: mlp_hess,
            x: rng.vec(3 * MLP_H, -1.0, 1.0),
        },
    ]
}

// ------------------------------------------------------------------ scalar functions: all agree

#[test]
fn closed_forms_are_right() {
    // the hand-written derivatives themselves, against central differences of the function's
    // closed-form gradient, so that a wrong closed form cannot pass by agreeing with nothing
    for c in cases() {
        let n = c.x.len();
        let g = (c.grad)(&c.x);
        let h = (c.hess)(&c.x);
        let eps = 1e-5;
        for i in 0..n {
            let mut xp = c.x.clone();
            let mut xm = c.x.clone();
            xp[i] += eps;
            xm[i] -= eps;
            let fp = (c.f)(&vec1(&xp)).unwrap().item().unwrap();
            let fm = (c.f)(&vec1(&xm)).unwrap().item().unwrap();
            let fd = (fp - fm) / (2.0 * eps);
            close_vals(
                &[g[i]],
                &[fd],
                1e-6,
                &format!("{}: gradient {i} vs FD", c.name),
            );
            let gp = (c.grad)(&xp);
            let gm = (c.grad)(&xm);
            for j in 0..n {
                let fd = (gp[j] - gm[j]) / (2.0 * eps);
                close_vals(
                    &[h[j * n + i]],
                    &[fd],
                    1e-6,
                    &format!("{}: hessian ({j}, {i}) vs FD", c.name),
                );
            }
        }
    }
}

#[test]
fn seven_ways_to_one_hessian() -> Result<()> {
    for c in cases() {
        let n = c.x.len();
        let x = vec1(&c.x);
        let f = c.f;
        let want_g = vec1(&(c.grad)(&c.x));
        let want_h = mat((c.hess)(&c.x), &[n, n]);
        let tol = 1e-10;

        // first derivatives, three ways
        let g: Tensor = grad(f).call(&x)?;
        close(&g, &want_g, tol, &format!("{}: grad", c.name));
        let g: Tensor = jacrev(f).call(&x)?;
        close(&g, &want_g, tol, &format!("{}: jacrev", c.name));
        let g: Tensor = jacfwd(f).call(&x)?;
        close(&g, &want_g, tol, &format!("{}: jacfwd", c.name));

        // second derivatives
        let h: Tensor = hessian(f).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: hessian", c.name));
        let h: Tensor = jacfwd(jacfwd(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacfwd(jacfwd)", c.name));
        let h: Tensor = jacrev(jacrev(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacrev(jacrev)", c.name));
        let h: Tensor = jacrev(jacfwd(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacrev(jacfwd)", c.name));
        let h: Tensor = jacfwd(jacrev(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacfwd(jacrev)", c.name));
        let h: Tensor = jacfwd(grad(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacfwd(grad)", c.name));
        let h: Tensor = jacrev(grad(f)).call(&x)?;
        close(&h, &want_h, tol, &format!("{}: jacrev(grad)", c.name));

        // Hessian–vector products: hvp's columns and vhp's rows rebuild H
        let mut cols = Vec::new();
        let mut rows = Vec::new();
        for i in 0..n {
            let hv: Tensor = hvp(f).call(&x, &unit(n, i))?;
            cols.extend(vals(&hv));
            let vh: Tensor = vhp(f).call(&x, &unit(n, i))?;
            rows.extend(vals(&vh));
        }
        let want = vals(&want_h);
        close_vals(
            &transpose(&cols, n, n),
            &want,
            tol,
            &format!("{}: hvp columns", c.name),
        );
        close_vals(&rows, &want, tol, &format!("{}: vhp rows", c.name));

        // and in a random direction, hvp = vhp = H v
        let v: Vec<f64> = Rng(n as u64).vec(n, -1.0, 1.0);
        let hv_want: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| want[i * n + j] * v[j]).sum())
            .collect();
        let hv: Tensor = hvp(f).call(&x, &vec1(&v))?;
        close_vals(&vals(&hv), &hv_want, tol, &format!("{}: hvp(v)", c.name));
        let vh: Tensor = vhp(f).call(&x, &vec1(&v))?;
        close_vals(&vals(&vh), &hv_want, tol, &format!("{}: vhp(v)", c.name));
    }
    Ok(())
}

#[test]
fn chunked_equals_unchunked_for_every_chunk_size() -> Result<()> {
    for c in cases() {
        let n = c.x.len();
        let x = vec1(&c.x);
        let f = c.f;
        let jr: Tensor = jacrev(grad(f)).call(&x)?;
        let jf: Tensor = jacfwd(grad(f)).call(&x)?;
        let h: Tensor = hessian(f).call(&x)?;
        let want_h = mat((c.hess)(&c.x), &[n, n]);
        close(&h, &want_h, 1e-10, &format!("{}: hessian", c.name));
        // a batch of n points for vmap
        let pts = Rng(11).vec(n * n, -1.0, 1.0);
        let xs = mat(pts.clone(), &[n, n]);
        let vy: Tensor = vmap(f).call(&xs)?;
        let vg: Tensor = vmap(grad(f)).call(&xs)?;
        let want_vg: Vec<f64> = pts.chunks(n).flat_map(|p| (c.grad)(p)).collect();
        close_vals(
            &vals(&vg),
            &want_vg,
            1e-10,
            &format!("{}: vmap(grad)", c.name),
        );
        for k in 1..=n + 1 {
            let what = |t: &str| format!("{}: {t} with chunk_size={k}", c.name);
            let a: Tensor = jacrev(grad(f)).chunk_size(k).call(&x)?;
            close(&a, &jr, 1e-12, &what("jacrev"));
            let a: Tensor = jacrev(grad(f)).chunk_size(k).preallocate(true).call(&x)?;
            close(&a, &jr, 1e-12, &what("jacrev(preallocate)"));
            let a: Tensor = jacfwd(grad(f)).chunk_size(k).call(&x)?;
            close(&a, &jf, 1e-12, &what("jacfwd"));
            let a: Tensor = hessian(f).chunk_size(k).call(&x)?;
            close(&a, &h, 1e-12, &what("hessian"));
            let a: Tensor = vmap(f).chunk_size(k).call(&xs)?;
            close(&a, &vy, 1e-12, &what("vmap"));
            let a: Tensor = vmap(grad(f)).chunk_size(k).call(&xs)?;
            close(&a, &vg, 1e-12, &what("vmap(grad)"));
            let a: Tensor = vmap(hessian(f).chunk_size(k)).chunk_size(k).call(&xs)?;
            let b: Tensor = vmap(hessian(f)).call(&xs)?;
            close(&a, &b, 1e-12, &what("vmap(hessian)"));
        }
    }
    Ok(())
}

// -------------------------------------------------------------- a vector-valued function R^n -> R^m

const VN: usize = 6;
const VM: usize = 4;

fn vf_a() -> Vec<f64> {
    Rng(3).vec(VM * VN, -0.7, 0.7)
}

/// `f_k(x) = tanh((A x)_k) + x_k · x_{k+1}`, `k < m`.
fn vecf(x: &Tensor) -> Result<Tensor> {
    let a = mat(vf_a(), &[VM, VN]);
    let lin = a.matmul(x)?.tanh()?;
    let prod = x.narrow(0, 0, VM)?.mul(&x.narrow(0, 1, VM)?)?;
    lin.add(&prod)
}
fn vecf_jac(x: &[f64]) -> Vec<f64> {
    let a = vf_a();
    let mut j = vec![0.0; VM * VN];
    for k in 0..VM {
        let u: f64 = (0..VN).map(|i| a[k * VN + i] * x[i]).sum();
        let s1 = 1.0 - u.tanh().powi(2);
        for i in 0..VN {
            j[k * VN + i] = s1 * a[k * VN + i];
        }
        j[k * VN + k] += x[k + 1];
        j[k * VN + k + 1] += x[k];
    }
    j
}
fn vecf_hess(x: &[f64]) -> Vec<f64> {
    let a = vf_a();
    let mut h = vec![0.0; VM * VN * VN];
    for k in 0..VM {
        let u: f64 = (0..VN).map(|i| a[k * VN + i] * x[i]).sum();
        let t = u.tanh();
        let s2 = -2.0 * t * (1.0 - t * t);
        for i in 0..VN {
            for j in 0..VN {
                h[(k * VN + i) * VN + j] = s2 * a[k * VN + i] * a[k * VN + j];
            }
        }
        h[(k * VN + k) * VN + k + 1] += 1.0;
        h[(k * VN + k + 1) * VN + k] += 1.0;
    }
    h
}

#[test]
fn vector_valued_function_all_agree() -> Result<()> {
    let xv = Rng(5).vec(VN, -1.0, 1.0);
    let x = vec1(&xv);
    let want_j = mat(vecf_jac(&xv), &[VM, VN]);
    let want_h = mat(vecf_hess(&xv), &[VM, VN, VN]);
    // the closed forms against central differences first
    let eps = 1e-6;
    for i in 0..VN {
        let mut xp = xv.clone();
        let mut xm = xv.clone();
        xp[i] += eps;
        xm[i] -= eps;
        let fd: Vec<f64> = vals(&vecf(&vec1(&xp))?)
            .iter()
            .zip(vals(&vecf(&vec1(&xm))?))
            .map(|(p, m)| (p - m) / (2.0 * eps))
            .collect();
        let col: Vec<f64> = (0..VM).map(|k| vals(&want_j)[k * VN + i]).collect();
        close_vals(&col, &fd, 1e-7, &format!("closed-form J column {i} vs FD"));
    }

    let tol = 1e-11;
    let j: Tensor = jacrev(vecf).call(&x)?;
    close(&j, &want_j, tol, "jacrev");
    let j: Tensor = jacfwd(vecf).call(&x)?;
    close(&j, &want_j, tol, "jacfwd");
    let j: Tensor = jacrev(vecf).preallocate(true).call(&x)?;
    close(&j, &want_j, tol, "jacrev(preallocate)");

    let h: Tensor = hessian(vecf).call(&x)?;
    close(&h, &want_h, tol, "hessian");
    let h: Tensor = jacfwd(jacfwd(vecf)).call(&x)?;
    close(&h, &want_h, tol, "jacfwd(jacfwd)");
    let h: Tensor = jacrev(jacrev(vecf)).call(&x)?;
    close(&h, &want_h, tol, "jacrev(jacrev)");
    let h: Tensor = jacrev(jacfwd(vecf)).call(&x)?;
    close(&h, &want_h, tol, "jacrev(jacfwd)");
    let h: Tensor = jacfwd(jacrev(vecf)).call(&x)?;
    close(&h, &want_h, tol, "jacfwd(jacrev)");

    // hvp/vhp of the scalar u·f(x) give Σ_k u_k H_k v
    let u = Rng(8).vec(VM, -1.0, 1.0);
    let uf = |x: &Tensor| vecf(x)?.dot(&vec1(&u));
    let hh = vecf_hess(&xv);
    let mut hu = vec![0.0; VN * VN];
    for k in 0..VM {
        for p in 0..VN * VN {
            hu[p] += u[k] * hh[k * VN * VN + p];
        }
    }
    for i in 0..VN {
        let col: Vec<f64> = (0..VN).map(|r| hu[r * VN + i]).collect();
        let hv: Tensor = hvp(uf).call(&x, &unit(VN, i))?;
        close_vals(&vals(&hv), &col, tol, &format!("hvp(u·f) column {i}"));
        let vh: Tensor = vhp(uf).call(&x, &unit(VN, i))?;
        close_vals(&vals(&vh), &col, tol, &format!("vhp(u·f) row {i}"));
    }

    // chunking: jacrev chunks the m outputs, jacfwd the n inputs, hessian both
    for k in 1..=VN {
        let a: Tensor = jacrev(vecf).chunk_size(k).call(&x)?;
        close(&a, &want_j, tol, &format!("jacrev chunk_size={k}"));
        let a: Tensor = jacrev(vecf).chunk_size(k).preallocate(true).call(&x)?;
        close(
            &a,
            &want_j,
            tol,
            &format!("jacrev preallocate chunk_size={k}"),
        );
        let a: Tensor = jacfwd(vecf).chunk_size(k).call(&x)?;
        close(&a, &want_j, tol, &format!("jacfwd chunk_size={k}"));
        let a: Tensor = hessian(vecf).chunk_size(k).call(&x)?;
        close(&a, &want_h, tol, &format!("hessian chunk_size={k}"));
        let a: Tensor = jacrev(jacrev(vecf).chunk_size(k))
            .chunk_size(k)
            .preallocate(true)
            .call(&x)?;
        close(&a, &want_h, tol, &format!("jacrev(jacrev) chunk_size={k}"));
    }
    Ok(())
}

// ---------------------------------------------------------------- a function of two arguments

/// `f(x, y) = Σ xᵢ² yᵢ + (Σ sin xᵢ)(Σ yᵢ)`.
fn two(args: &(Tensor, Tensor)) -> Result<Tensor> {
    let (x, y) = args;
    let a = x.square()?.mul(y)?.sum()?;
    a.add(&x.sin()?.sum()?.mul(&y.sum()?)?)
}

/// The four blocks of the closed-form Hessian of [`two`].
fn two_blocks(x: &[f64], y: &[f64]) -> [Vec<f64>; 4] {
    let n = x.len();
    let t: f64 = y.iter().sum();
    let mut hxx = vec![0.0; n * n];
    let mut hxy = vec![0.0; n * n];
    for i in 0..n {
        hxx[i * n + i] = 2.0 * y[i] - x[i].sin() * t;
        for j in 0..n {
            hxy[i * n + j] = x[i].cos() + if i == j { 2.0 * x[i] } else { 0.0 };
        }
    }
    let hyx = transpose(&hxy, n, n);
    [hxx, hxy, hyx, vec![0.0; n * n]]
}

#[test]
fn two_argument_function_all_agree() -> Result<()> {
    let n = 3;
    let xv = vec![0.3, -0.8, 1.1];
    let yv = vec![0.5, 1.5, -0.4];
    let args = (vec1(&xv), vec1(&yv));
    let s: f64 = xv.iter().map(|v| v.sin()).sum();
    let t: f64 = yv.iter().sum();
    let want_gx: Vec<f64> = (0..n)
        .map(|i| 2.0 * xv[i] * yv[i] + xv[i].cos() * t)
        .collect();
    let want_gy: Vec<f64> = (0..n).map(|i| xv[i] * xv[i] + s).collect();
    let (gx, gy): (Tensor, Tensor) = grad(two).argnums((0, 1)).call(&args)?;
    close_vals(&vals(&gx), &want_gx, 1e-12, "grad x");
    close_vals(&vals(&gy), &want_gy, 1e-12, "grad y");

    let want = two_blocks(&xv, &yv);
    type Blocks = ((Tensor, Tensor), (Tensor, Tensor));
    let check = |b: Blocks, what: &str| {
        let ((h00, h01), (h10, h11)) = b;
        for (k, h) in [h00, h01, h10, h11].iter().enumerate() {
            assert_eq!(h.shape(), &[n, n], "{what}: block {k} shape");
            close_vals(&vals(h), &want[k], 1e-11, &format!("{what}: block {k}"));
        }
    };
    let a = (0, 1);
    check(hessian(two).argnums(a).call(&args)?, "hessian");
    check(
        jacfwd(jacfwd(two).argnums(a)).argnums(a).call(&args)?,
        "jacfwd(jacfwd)",
    );
    check(
        jacrev(jacrev(two).argnums(a)).argnums(a).call(&args)?,
        "jacrev(jacrev)",
    );
    check(
        jacrev(jacfwd(two).argnums(a)).argnums(a).call(&args)?,
        "jacrev(jacfwd)",
    );
    check(
        jacfwd(grad(two).argnums(a)).argnums(a).call(&args)?,
        "jacfwd(grad)",
    );
    for k in 1..=2 * n {
        check(
            hessian(two).argnums(a).chunk_size(k).call(&args)?,
            &format!("hessian chunk_size={k}"),
        );
        check(
            jacrev(jacrev(two).argnums(a).chunk_size(k))
                .argnums(a)
                .chunk_size(k)
                .preallocate(true)
                .call(&args)?,
            &format!("jacrev(jacrev) chunk_size={k}"),
        );
    }
    // one argument at a time: the diagonal blocks
    let hyy: Tensor = hessian(two).argnums(1).call(&args)?;
    close_vals(&vals(&hyy), &want[3], 1e-12, "hessian argnums=1");
    let hxx: Tensor = hessian(two).argnums(-2).call(&args)?;
    close_vals(&vals(&hxx), &want[0], 1e-12, "hessian argnums=-2");

    // hvp over both arguments: (Hxx vx + Hxy vy, Hyx vx + Hyy vy)
    let vx = vec![1.0, -0.5, 0.25];
    let vy = vec![0.3, 0.0, -2.0];
    let mv = |m: &[f64], v: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| (0..n).map(|j| m[i * n + j] * v[j]).sum())
            .collect()
    };
    let add =
        |a: Vec<f64>, b: Vec<f64>| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p + q).collect() };
    let want_x = add(mv(&want[0], &vx), mv(&want[1], &vy));
    let want_y = add(mv(&want[2], &vx), mv(&want[3], &vy));
    let (hx, hy): (Tensor, Tensor) = hvp(two).argnums(a).call(&args, &(vec1(&vx), vec1(&vy)))?;
    close_vals(&vals(&hx), &want_x, 1e-12, "hvp x");
    close_vals(&vals(&hy), &want_y, 1e-12, "hvp y");
    let (hx, hy): (Tensor, Tensor) = vhp(two).argnums(a).call(&args, &(vec1(&vx), vec1(&vy)))?;
    close_vals(&vals(&hx), &want_x, 1e-12, "vhp x");
    close_vals(&vals(&hy), &want_y, 1e-12, "vhp y");
    Ok(())
}

// ------------------------------------------------------------------------ deeper nestings

/// `f(x) = x⁴ + sin x` on a 0-d tensor.
fn quartic_sin(x: &Tensor) -> Result<Tensor> {
    x.pow_scalar(4.0)?.add(&x.sin()?)
}

#[test]
fn vmap_vmap_grad_grad() -> Result<()> {
    let pts = Rng(21).vec(12, -2.0, 2.0);
    let xs = mat(pts.clone(), &[3, 4]);
    let d2: Tensor = vmap(vmap(grad(grad(quartic_sin)))).call(&xs)?;
    let want: Vec<f64> = pts.iter().map(|x| 12.0 * x * x - x.sin()).collect();
    assert_eq!(d2.shape(), &[3, 4]);
    close_vals(&vals(&d2), &want, 1e-12, "vmap(vmap(grad(grad)))");
    // the inner vmap over the other dim: the transpose of the same grid
    let d2t: Tensor = vmap(vmap(grad(grad(quartic_sin))).in_dims(0))
        .in_dims(1)
        .call(&xs)?;
    assert_eq!(d2t.shape(), &[4, 3]);
    close_vals(
        &vals(&d2t),
        &transpose(&want, 3, 4),
        1e-12,
        "in_dims=1 outside",
    );
    // and chunked at both levels
    let d2c: Tensor = vmap(vmap(grad(grad(quartic_sin))).chunk_size(3))
        .chunk_size(2)
        .call(&xs)?;
    close_vals(&vals(&d2c), &want, 1e-12, "chunked");
    Ok(())
}

#[test]
fn grad_grad_grad() -> Result<()> {
    for &x0 in &[-1.3f64, 0.0, 0.4, 2.5] {
        let x = Tensor::scalar(x0);
        let sin = |x: &Tensor| x.sin();
        let d3: Tensor = grad(grad(grad(sin))).call(&x)?;
        close_vals(&[d3.item()?], &[-x0.cos()], 1e-12, "sin'''");
        let d4: Tensor = grad(grad(grad(grad(sin)))).call(&x)?;
        close_vals(&[d4.item()?], &[x0.sin()], 1e-12, "sin''''");
        let quart = |x: &Tensor| x.pow_scalar(4.0);
        let d3: Tensor = grad(grad(grad(quart))).call(&x)?;
        close_vals(&[d3.item()?], &[24.0 * x0], 1e-12, "(x⁴)'''");
        let d4: Tensor = grad(grad(grad(grad(quart)))).call(&x)?;
        close_vals(&[d4.item()?], &[24.0], 1e-12, "(x⁴)''''");
        let d5: Tensor = grad(grad(grad(grad(grad(quart))))).call(&x)?;
        close_vals(&[d5.item()?], &[0.0], 1e-12, "(x⁴)'''''");
        // the same through forward mode: jacfwd of a 0-d function is its derivative
        let d3: Tensor = jacfwd(jacfwd(jacfwd(quart))).call(&x)?;
        close_vals(&[d3.item()?], &[24.0 * x0], 1e-12, "jacfwd³(x⁴)");
        let d3: Tensor = jacrev(jacfwd(grad(sin))).call(&x)?;
        close_vals(
            &[d3.item()?],
            &[-x0.cos()],
            1e-12,
            "jacrev(jacfwd(grad(sin)))",
        );
    }
    Ok(())
}

/// `g(x) = x ⊙ sin x`: J = diag(sin x + x cos x); the derivative of Jᵀu along v is
/// `u ⊙ (2 cos x − x sin x) ⊙ v`.
fn xsin(x: &Tensor) -> Result<Tensor> {
    x.mul(&x.sin()?)
}

#[test]
fn jvp_of_vjp_and_vjp_of_jvp() -> Result<()> {
    let n = 5;
    let mut rng = Rng(31);
    let (xv, uv, vv) = (
        rng.vec(n, -2.0, 2.0),
        rng.vec(n, -1.0, 1.0),
        rng.vec(n, -1.0, 1.0),
    );
    let (x, u, v) = (vec1(&xv), vec1(&uv), vec1(&vv));
    let want: Vec<f64> = (0..n)
        .map(|i| uv[i] * (2.0 * xv[i].cos() - xv[i] * xv[i].sin()) * vv[i])
        .collect();
    let jtu: Vec<f64> = (0..n)
        .map(|i| uv[i] * (xv[i].sin() + xv[i] * xv[i].cos()))
        .collect();

    // jvp∘vjp: forward-mode derivative, in x, of the pullback's output
    let pulled = |x: &Tensor| -> Result<Tensor> {
        let (_, pb): (Tensor, Pullback) = vjp(xsin).call(x)?;
        let (g,): (Tensor,) = pb.call(&u)?;
        Ok(g)
    };
    let (p, t): (Tensor, Tensor) = jvp(pulled).call(&x, &v)?;
    close_vals(&vals(&p), &jtu, 1e-12, "jvp∘vjp primal");
    close_vals(&vals(&t), &want, 1e-12, "jvp∘vjp tangent");

    // vjp∘jvp: reverse-mode derivative, in x, of the tangent output
    let pushed = |x: &Tensor| -> Result<Tensor> {
        let (_, t): (Tensor, Tensor) = jvp(xsin).call(x, &v)?;
        Ok(t)
    };
    let (_, pb): (Tensor, Pullback) = vjp(pushed).call(&x)?;
    let (g,): (Tensor,) = pb.call(&u)?;
    close_vals(&vals(&g), &want, 1e-12, "vjp∘jvp");

    // and both against central differences of the closed-form Jᵀu
    let eps = 1e-6;
    let jtu_at = |x: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| uv[i] * (x[i].sin() + x[i] * x[i].cos()))
            .collect()
    };
    let xp: Vec<f64> = xv.iter().zip(&vv).map(|(a, b)| a + eps * b).collect();
    let xm: Vec<f64> = xv.iter().zip(&vv).map(|(a, b)| a - eps * b).collect();
    let fd: Vec<f64> = jtu_at(&xp)
        .iter()
        .zip(jtu_at(&xm))
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect();
    close_vals(&vals(&t), &fd, 1e-7, "jvp∘vjp vs FD");
    Ok(())
}

#[test]
fn vmap_jvp_grad_is_batched_hvp() -> Result<()> {
    let n = 5;
    let b = 4;
    let mut rng = Rng(41);
    let xs = rng.vec(b * n, -1.5, 1.5);
    let vs = rng.vec(b * n, -1.0, 1.0);
    let hv = |(x, v): &(Tensor, Tensor)| -> Result<Tensor> {
        let (_, t): (Tensor, Tensor) = jvp(grad(sin_q)).call(x, v)?;
        Ok(t)
    };
    let got: Tensor = vmap(hv).call(&(mat(xs.clone(), &[b, n]), mat(vs.clone(), &[b, n])))?;
    assert_eq!(got.shape(), &[b, n]);
    let want: Vec<f64> = (0..b)
        .flat_map(|k| {
            let h = sin_q_hess(&xs[k * n..(k + 1) * n]);
            let v = &vs[k * n..(k + 1) * n];
            (0..n)
                .map(|i| (0..n).map(|j| h[i * n + j] * v[j]).sum())
                .collect::<Vec<f64>>()
        })
        .collect();
    close_vals(&vals(&got), &want, 1e-11, "vmap(jvp(grad))");
    // the same tangent for every point (in_dims None)
    let v0 = vec1(&vs[..n]);
    let got: Tensor = vmap(hv)
        .in_dims([Some(0), None])
        .call(&(mat(xs.clone(), &[b, n]), v0))?;
    let want: Vec<f64> = (0..b)
        .flat_map(|k| {
            let h = sin_q_hess(&xs[k * n..(k + 1) * n]);
            (0..n)
                .map(|i| (0..n).map(|j| h[i * n + j] * vs[j]).sum())
                .collect::<Vec<f64>>()
        })
        .collect();
    close_vals(
        &vals(&got),
        &want,
        1e-11,
        "vmap(jvp(grad)), in_dims=(0, None)",
    );
    Ok(())
}

#[test]
fn linearize_matches_jvp() -> Result<()> {
    let xv = Rng(51).vec(VN, -1.0, 1.0);
    let x = vec1(&xv);
    let j = vecf_jac(&xv);
    let (y, lin): (Tensor, _) = linearize(vecf).call(&x)?;
    close(&y, &vecf(&x)?, 1e-14, "linearize primal");
    let mut rng = Rng(52);
    let mut tangents: Vec<Vec<f64>> = (0..VN).map(|i| vals(&unit(VN, i))).collect();
    tangents.extend((0..3).map(|_| rng.vec(VN, -2.0, 2.0)));
    for (k, tv) in tangents.iter().enumerate() {
        let t = vec1(tv);
        let jt: Tensor = lin.call(&t)?;
        let (_, want): (Tensor, Tensor) = jvp(vecf).call(&x, &t)?;
        close(&jt, &want, 1e-12, &format!("linearize vs jvp, tangent {k}"));
        let closed: Vec<f64> = (0..VM)
            .map(|r| (0..VN).map(|c| j[r * VN + c] * tv[c]).sum())
            .collect();
        close_vals(
            &vals(&jt),
            &closed,
            1e-12,
            &format!("linearize vs J·t, tangent {k}"),
        );
    }
    // linearity: lin(2a − b) = 2 lin(a) − lin(b)
    let (a, b) = (vec1(&tangents[6]), vec1(&tangents[7]));
    let la: Tensor = lin.call(&a)?;
    let lb: Tensor = lin.call(&b)?;
    let lab: Tensor = lin.call(&a.mul_scalar(2.0)?.sub(&b)?)?;
    close(&lab, &la.mul_scalar(2.0)?.sub(&lb)?, 1e-12, "linearity");
    // a linearized function batches: vmap over the identity gives Jᵀ (rows = columns of J)
    let cols: Tensor = vmap(lin).call(&Tensor::eye(VN, DType::F64)?)?;
    close_vals(
        &vals(&cols),
        &transpose(&j, VM, VN),
        1e-12,
        "vmap(linearized)",
    );

    // two arguments
    let args = (vec1(&[0.3, -0.8, 1.1]), vec1(&[0.5, 1.5, -0.4]));
    let (_, lin2): (Tensor, _) = linearize(two).call(&args)?;
    let tx = vec1(&[1.0, 2.0, -1.0]);
    let ty = vec1(&[0.0, -0.5, 0.5]);
    let got: Tensor = lin2.call(&(tx.clone(), ty.clone()))?;
    let (_, want): (Tensor, Tensor) = jvp(two).call(&args, &(tx, ty))?;
    close(&got, &want, 1e-12, "linearize of two arguments");
    Ok(())
}

#[test]
fn pullback_is_reusable_and_transformable() -> Result<()> {
    let xv = Rng(61).vec(VN, -1.0, 1.0);
    let x = vec1(&xv);
    let j = vecf_jac(&xv);
    let (y, pb): (Tensor, Pullback) = vjp(vecf).call(&x)?;
    close(&y, &vecf(&x)?, 1e-14, "vjp primal");
    // called many times: each basis cotangent gives a row of J, twice over
    for round in 0..2 {
        for k in 0..VM {
            let (row,): (Tensor,) = pb.call(&unit(VM, k))?;
            close_vals(
                &vals(&row),
                &j[k * VN..(k + 1) * VN],
                1e-12,
                &format!("pullback row {k}, round {round}"),
            );
        }
    }
    let mut rng = Rng(62);
    let uv = rng.vec(VM, -1.0, 1.0);
    let duv = rng.vec(VM, -1.0, 1.0);
    let jt = |c: &[f64]| -> Vec<f64> {
        (0..VN)
            .map(|i| (0..VM).map(|k| c[k] * j[k * VN + i]).sum())
            .collect()
    };

    // under vmap: the whole Jacobian at once
    let (rows,): (Tensor,) = vmap(pb.clone()).call(&Tensor::eye(VM, DType::F64)?)?;
    close_vals(&vals(&rows), &j, 1e-12, "vmap(pullback)");
    let (rows,): (Tensor,) = vmap(pb.clone())
        .chunk_size(3)
        .call(&Tensor::eye(VM, DType::F64)?)?;
    close_vals(&vals(&rows), &j, 1e-12, "vmap(pullback), chunked");
    // vmap over dim 1 of the cotangents, result at dim 1: Jᵀ U for a matrix U
    let ucols = mat(rng.vec(VM * 3, -1.0, 1.0), &[VM, 3]);
    let (g,): (Tensor,) = vmap(pb.clone()).in_dims(1).out_dims(1).call(&ucols)?;
    assert_eq!(g.shape(), &[VN, 3]);
    let uc = vals(&ucols);
    for c in 0..3 {
        let col: Vec<f64> = (0..VM).map(|k| uc[k * 3 + c]).collect();
        let got: Vec<f64> = (0..VN).map(|i| vals(&g)[i * 3 + c]).collect();
        close_vals(
            &got,
            &jt(&col),
            1e-12,
            "vmap(pullback, in_dims=1, out_dims=1)",
        );
    }

    // under jvp: linear in the cotangent, so the tangent is the pullback of the tangent
    let ((p,), (t,)): ((Tensor,), (Tensor,)) = jvp(pb.clone()).call(&vec1(&uv), &vec1(&duv))?;
    close_vals(&vals(&p), &jt(&uv), 1e-12, "jvp(pullback) primal");
    close_vals(&vals(&t), &jt(&duv), 1e-12, "jvp(pullback) tangent");

    // under vjp: the transpose of the pullback is J itself
    let w = rng.vec(VN, -1.0, 1.0);
    let (_, pb2): (Tree1, Pullback) = vjp(pb.clone()).call(&vec1(&uv))?;
    let (ju,): (Tensor,) = pb2.call(&(vec1(&w),))?;
    let want: Vec<f64> = (0..VM)
        .map(|k| (0..VN).map(|i| j[k * VN + i] * w[i]).sum())
        .collect();
    close_vals(&vals(&ju), &want, 1e-12, "vjp(pullback)");

    // under jacrev and jacfwd: Jᵀ
    let (jtm,): (Tensor,) = jacrev(pb.clone()).call(&vec1(&uv))?;
    close_vals(
        &vals(&jtm),
        &transpose(&j, VM, VN),
        1e-12,
        "jacrev(pullback)",
    );
    let (jtm,): (Tensor,) = jacfwd(pb.clone()).call(&vec1(&uv))?;
    close_vals(
        &vals(&jtm),
        &transpose(&j, VM, VN),
        1e-12,
        "jacfwd(pullback)",
    );

    // the original pullback still works after all that
    let (g,): (Tensor,) = pb.call(&vec1(&uv))?;
    close_vals(&vals(&g), &jt(&uv), 1e-12, "pullback after transforms");
    Ok(())
}

type Tree1 = (Tensor,);

#[test]
fn pullback_of_several_arguments() -> Result<()> {
    let args = (vec1(&[0.3, -0.8, 1.1]), vec1(&[0.5, 1.5, -0.4]));
    let prod = |(a, b): &(Tensor, Tensor)| a.mul(b)?.sin();
    let (y, pb): (Tensor, Pullback) = vjp(prod).call(&args)?;
    let (a, b) = (vals(&args.0), vals(&args.1));
    let c: Vec<f64> = (0..3).map(|i| (a[i] * b[i]).cos()).collect();
    close_vals(
        &vals(&y),
        &(0..3).map(|i| (a[i] * b[i]).sin()).collect::<Vec<_>>(),
        1e-14,
        "value",
    );
    for u in [[1.0, 0.0, 0.0], [0.5, -1.0, 2.0]] {
        let (ga, gb): (Tensor, Tensor) = pb.call(&vec1(&u))?;
        let wa: Vec<f64> = (0..3).map(|i| u[i] * c[i] * b[i]).collect();
        let wb: Vec<f64> = (0..3).map(|i| u[i] * c[i] * a[i]).collect();
        close_vals(&vals(&ga), &wa, 1e-12, "cotangent a");
        close_vals(&vals(&gb), &wb, 1e-12, "cotangent b");
    }
    // batched over a stack of cotangents
    let us = mat(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0], &[3, 3]);
    let (ja, jb): (Tensor, Tensor) = vmap(pb).call(&us)?;
    let da: Vec<f64> = (0..9)
        .map(|p| if p % 4 == 0 { c[p / 4] * b[p / 4] } else { 0.0 })
        .collect();
    let db: Vec<f64> = (0..9)
        .map(|p| if p % 4 == 0 { c[p / 4] * a[p / 4] } else { 0.0 })
        .collect();
    close_vals(&vals(&ja), &da, 1e-12, "vmap(pullback) a");
    close_vals(&vals(&jb), &db, 1e-12, "vmap(pullback) b");
    Ok(())
}
