//! Implicit differentiation of a solver with `implicit_root`.
//!
//! ```text
//! cargo run --release --example implicit          # n = 8
//! cargo run --release --example implicit -- 64    # a larger system
//! ```
//!
//! The solution `x*(b)` of the nonlinear system `F(x, b) = A x + s x³ − b = 0` (A symmetric
//! positive definite, `s > 0`, so the root is unique) is found by Newton's method, iterating on
//! concrete values until `‖F‖∞ < 1e-14`. We differentiate the loss `L(b) = ‖x*(b) − c‖²` with
//! respect to `b` three ways and time each:
//!
//! 1. `implicit_root`: the solver runs once, untouched; the gradient comes from the implicit
//!    function theorem (one Jacobian `∂F/∂x` and one linear solve);
//! 2. unrolled: the same Newton iterations written with tensor ops, a fixed number of them, and
//!    `grad` differentiates through every iteration;
//! 3. central finite differences of the solver (2n solves).
//!
//! It also compares the Jacobian `∂x*/∂b` from `jacrev` and `jacfwd` of the implicit solution
//! with the unrolled one.

use functorch::{Result, Tensor, grad, implicit_root, jacfwd, jacrev};
use std::time::Instant;

const ITERS: usize = 30;

/// A deterministic SPD matrix `M Mᵀ / n + I` and vectors, from SplitMix64.
fn setup(n: usize) -> Result<(Tensor, Tensor, Tensor)> {
    let mut state = 0x5eed_u64;
    let mut unif = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let m: Vec<f64> = (0..n * n).map(|_| unif()).collect();
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let dot: f64 = (0..n).map(|k| m[i * n + k] * m[j * n + k]).sum();
            a[i * n + j] = dot / n as f64 + if i == j { 1.0 } else { 0.0 };
        }
    }
    let b: Vec<f64> = (0..n).map(|_| 2.0 * unif()).collect();
    let c: Vec<f64> = (0..n).map(|_| unif()).collect();
    Ok((
        Tensor::from_vec(a, &[n, n])?,
        Tensor::from_vec(b, &[n])?,
        Tensor::from_vec(c, &[n])?,
    ))
}

/// One Newton step for `A x + s x³ = b`, written with tensor ops (differentiable).
fn newton_step(a: &Tensor, s: f64, b: &Tensor, x: &Tensor) -> Result<Tensor> {
    let fx = a.mv(x)?.add(&x.pow_scalar(3.0)?.mul_scalar(s)?)?.sub(b)?;
    let jac = a.add(&x.square()?.mul_scalar(3.0 * s)?.diag()?)?;
    x.sub(&jac.solve(&fx)?)
}

fn max_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    a.sub(b)?.abs()?.max()?.item()
}

fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).map_or(8, |s| s.parse().expect("n"));
    let s = 0.5;
    let (a, b, c) = setup(n)?;

    // the solver: Newton's method to a tolerance, on concrete values
    let a1 = a.clone();
    let solver = move |b: &Tensor| -> Result<Tensor> {
        let mut x = b.zeros_like()?;
        for _ in 0..100 {
            let fx = a1.mv(&x)?.add(&x.pow_scalar(3.0)?.mul_scalar(s)?)?.sub(b)?;
            if fx.abs()?.max()?.item()? < 1e-14 {
                break;
            }
            x = newton_step(&a1, s, b, &x)?;
        }
        Ok(x)
    };
    let a2 = a.clone();
    let optimality =
        move |x: &Tensor, b: &Tensor| a2.mv(x)?.add(&x.pow_scalar(3.0)?.mul_scalar(s)?)?.sub(b);
    let root = implicit_root(solver.clone(), optimality).name("cubic");

    let x_star: Tensor = root.call(&b)?;
    let residual = a
        .mv(&x_star)?
        .add(&x_star.pow_scalar(3.0)?.mul_scalar(s)?)?
        .sub(&b)?;
    println!(
        "A x + {s} x³ = b, n = {n}: ‖F(x*)‖∞ = {:.1e}\n",
        residual.abs()?.max()?.item()?
    );

    let loss_implicit = |b: &Tensor| root.call::<_, Tensor>(b)?.sub(&c)?.square()?.sum();
    let unrolled = |b: &Tensor| -> Result<Tensor> {
        let mut x = b.zeros_like()?;
        for _ in 0..ITERS {
            x = newton_step(&a, s, b, &x)?;
        }
        Ok(x)
    };
    let loss_unrolled = |b: &Tensor| unrolled(b)?.sub(&c)?.square()?.sum();

    let t0 = Instant::now();
    let g_implicit: Tensor = grad(loss_implicit).call(&b)?;
    let t_implicit = t0.elapsed();

    let t0 = Instant::now();
    let g_unrolled: Tensor = grad(loss_unrolled).call(&b)?;
    let t_unrolled = t0.elapsed();

    let t0 = Instant::now();
    let eps = 1e-6;
    let bv = b.to_vec::<f64>()?;
    let mut fd = Vec::with_capacity(n);
    for i in 0..n {
        let (mut p, mut m) = (bv.clone(), bv.clone());
        p[i] += eps;
        m[i] -= eps;
        let lp = solver(&Tensor::from_vec(p, &[n])?)?
            .sub(&c)?
            .square()?
            .sum()?
            .item()?;
        let lm = solver(&Tensor::from_vec(m, &[n])?)?
            .sub(&c)?
            .square()?
            .sum()?
            .item()?;
        fd.push((lp - lm) / (2.0 * eps));
    }
    let g_fd = Tensor::from_vec(fd, &[n])?;
    let t_fd = t0.elapsed();

    println!("gradient of ‖x*(b) − c‖² with respect to b:\n");
    println!("| method | time | max |difference| from implicit |");
    println!("|---|---:|---:|");
    println!(
        "| implicit_root (IFT: one Jacobian, one solve) | {:.3} ms | — |",
        t_implicit.as_secs_f64() * 1e3
    );
    println!(
        "| unrolled Newton ({ITERS} steps through grad) | {:.3} ms | {:.1e} |",
        t_unrolled.as_secs_f64() * 1e3,
        max_diff(&g_unrolled, &g_implicit)?
    );
    println!(
        "| central finite differences ({} solves) | {:.3} ms | {:.1e} |",
        2 * n,
        t_fd.as_secs_f64() * 1e3,
        max_diff(&g_fd, &g_implicit)?
    );

    let x_of_b = |b: &Tensor| root.call::<_, Tensor>(b);
    let t0 = Instant::now();
    let j_rev: Tensor = jacrev(x_of_b).call(&b)?;
    let t_rev = t0.elapsed();
    let t0 = Instant::now();
    let j_fwd: Tensor = jacfwd(x_of_b).call(&b)?;
    let t_fwd = t0.elapsed();
    let t0 = Instant::now();
    let j_unrolled: Tensor = jacrev(unrolled).call(&b)?;
    let t_jun = t0.elapsed();
    println!("\nJacobian ∂x*/∂b ({n} × {n}):\n");
    println!("| method | time | max |difference| from jacrev(implicit) |");
    println!("|---|---:|---:|");
    println!(
        "| jacrev(implicit_root) | {:.3} ms | — |",
        t_rev.as_secs_f64() * 1e3
    );
    println!(
        "| jacfwd(implicit_root) | {:.3} ms | {:.1e} |",
        t_fwd.as_secs_f64() * 1e3,
        max_diff(&j_fwd, &j_rev)?
    );
    println!(
        "| jacrev(unrolled Newton) | {:.3} ms | {:.1e} |",
        t_jun.as_secs_f64() * 1e3,
        max_diff(&j_unrolled, &j_rev)?
    );
    assert!(max_diff(&g_unrolled, &g_implicit)? < 1e-8);
    assert!(max_diff(&g_fd, &g_implicit)? < 1e-6);
    assert!(max_diff(&j_fwd, &j_rev)? < 1e-10);
    Ok(())
}
