//! Implicit differentiation of a solver with `implicit_root`.
//!
//! ```text
//! cargo run --release --example implicit          # n = 8
//! cargo run --release --example implicit -- 64    # a larger system
//! cargo run --release --example implicit -- 1000  # n > 128: the implicit gradients only
//! ```
//!
//! The solution `x*(b)` of the nonlinear system `F(x, b) = A x + s x³ − b = 0` (A symmetric
//! positive definite, `s > 0`, so the root is unique) is found by Newton's method, iterating on
//! concrete values until `‖F‖∞ < 1e-14`. We differentiate the loss `L(b) = ‖x*(b) − c‖²` with
//! respect to `b` three ways and time each:
//!
//! 1. `implicit_root`: the solver runs once, untouched; the gradient comes from the implicit
//!    function theorem (one Jacobian `∂F/∂x` and one linear solve); and again with
//!    `implicit_root(..).matrix_free()`, which solves the linear system by GMRES on products
//!    with `∂F/∂x` (a vjp of `F` per iteration), never building the `n × n` Jacobian;
//! 2. unrolled: the same Newton iterations written with tensor ops, a fixed number of them, and
//!    `grad` differentiates through every iteration;
//! 3. central finite differences of the solver (2n solves).
//!
//! It also compares the Jacobian `∂x*/∂b` from `jacrev` and `jacfwd` of the implicit solution
//! (dense and matrix-free) with the unrolled one. Each time is the best of three calls after
//! a warm-up call (finite differences: one run).

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

/// `f`'s result and the best time of three calls, after a warm-up call.
fn timed<R>(f: impl Fn() -> Result<R>) -> Result<(R, std::time::Duration)> {
    let mut r = f()?;
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        let t0 = Instant::now();
        r = f()?;
        best = best.min(t0.elapsed());
    }
    Ok((r, best))
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
    let root = implicit_root(solver.clone(), optimality.clone()).name("cubic");
    let root_mf = implicit_root(solver.clone(), optimality)
        .name("cubic")
        .matrix_free()
        .tol(1e-12);

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
    let loss_mf = |b: &Tensor| root_mf.call::<_, Tensor>(b)?.sub(&c)?.square()?.sum();
    let unrolled = |b: &Tensor| -> Result<Tensor> {
        let mut x = b.zeros_like()?;
        for _ in 0..ITERS {
            x = newton_step(&a, s, b, &x)?;
        }
        Ok(x)
    };
    let loss_unrolled = |b: &Tensor| unrolled(b)?.sub(&c)?.square()?.sum();

    let (g_implicit, t_implicit) = timed(|| grad(loss_implicit).call::<_, Tensor>(&b))?;
    let (g_mf, t_mf) = timed(|| grad(loss_mf).call::<_, Tensor>(&b))?;
    // the solver alone: what every gradient above includes
    let (_, t_solve) = timed(|| loss_implicit(&b))?;
    let solve_row = || {
        println!(
            "| (the loss alone: the Newton solve, no derivative) | {:.3} ms | — |",
            t_solve.as_secs_f64() * 1e3
        )
    };
    if n > 128 {
        // at this size the baselines take minutes: the two implicit gradients only
        println!("gradient of ‖x*(b) − c‖² with respect to b (n > 128: baselines skipped):\n");
        println!("| method | time | max |difference| from implicit |");
        println!("|---|---:|---:|");
        solve_row();
        println!(
            "| implicit_root (IFT: one Jacobian, one solve) | {:.3} ms | — |",
            t_implicit.as_secs_f64() * 1e3
        );
        println!(
            "| implicit_root, matrix_free (GMRES on vjps of F) | {:.3} ms | {:.1e} |",
            t_mf.as_secs_f64() * 1e3,
            max_diff(&g_mf, &g_implicit)?
        );
        assert!(max_diff(&g_mf, &g_implicit)? < 1e-9);
        return Ok(());
    }
    let (g_unrolled, t_unrolled) = timed(|| grad(loss_unrolled).call::<_, Tensor>(&b))?;

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
    solve_row();
    println!(
        "| implicit_root (IFT: one Jacobian, one solve) | {:.3} ms | — |",
        t_implicit.as_secs_f64() * 1e3
    );
    println!(
        "| implicit_root, matrix_free (GMRES on vjps of F) | {:.3} ms | {:.1e} |",
        t_mf.as_secs_f64() * 1e3,
        max_diff(&g_mf, &g_implicit)?
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
    let x_of_b_mf = |b: &Tensor| root_mf.call::<_, Tensor>(b);
    let (j_rev, t_rev) = timed(|| jacrev(x_of_b).call::<_, Tensor>(&b))?;
    let (j_fwd, t_fwd) = timed(|| jacfwd(x_of_b).call::<_, Tensor>(&b))?;
    let (j_rev_mf, t_rev_mf) = timed(|| jacrev(x_of_b_mf).call::<_, Tensor>(&b))?;
    let (j_fwd_mf, t_fwd_mf) = timed(|| jacfwd(x_of_b_mf).call::<_, Tensor>(&b))?;
    let (j_unrolled, t_jun) = timed(|| jacrev(unrolled).call::<_, Tensor>(&b))?;
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
        "| jacrev(implicit_root, matrix_free): {n} GMRES solves on vjps | {:.3} ms | {:.1e} |",
        t_rev_mf.as_secs_f64() * 1e3,
        max_diff(&j_rev_mf, &j_rev)?
    );
    println!(
        "| jacfwd(implicit_root, matrix_free): {n} GMRES solves on jvps | {:.3} ms | {:.1e} |",
        t_fwd_mf.as_secs_f64() * 1e3,
        max_diff(&j_fwd_mf, &j_rev)?
    );
    println!(
        "| jacrev(unrolled Newton) | {:.3} ms | {:.1e} |",
        t_jun.as_secs_f64() * 1e3,
        max_diff(&j_unrolled, &j_rev)?
    );
    assert!(max_diff(&g_unrolled, &g_implicit)? < 1e-8);
    assert!(max_diff(&g_fd, &g_implicit)? < 1e-6);
    assert!(max_diff(&j_fwd, &j_rev)? < 1e-10);
    assert!(max_diff(&g_mf, &g_implicit)? < 1e-9);
    assert!(max_diff(&j_rev_mf, &j_rev)? < 1e-9);
    assert!(max_diff(&j_fwd_mf, &j_rev)? < 1e-9);
    Ok(())
}
