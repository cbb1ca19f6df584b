//! Newton's method on the n-dimensional Rosenbrock function
//!
//! ```text
//! f(x) = Σ_{i<n-1} 100 (x[i+1] - x[i]²)² + (1 - x[i])²
//! ```
//!
//! with the gradient from [`grad_and_value`] and the exact Hessian from [`hessian`]; nothing is
//! derived by hand. Each iteration solves `(H + μI) d = -∇f` with [`Tensor::solve`], where the
//! Levenberg shift `μ` is zero when `H` is positive definite (checked with
//! [`Tensor::cholesky`]) and is raised until it is otherwise, so `d` is always a descent
//! direction; a backtracking (Armijo) line search then picks the step length. The iteration
//! ends at a point where `|∇f| < 1e-10` and the Hessian is positive definite: a minimum,
//! reached quadratically at the end.
//!
//! ```text
//! cargo run --release --example newton                         # n = 10
//! cargo run --release --example newton -- 100                  # n = 100
//! cargo run --release --example newton -- 10 --alternating     # the other minimum
//! ```
//!
//! It prints one line per iteration (`f`, `|∇f|`, the shift `μ` and the step length) and the
//! largest deviation of the result from 1, and panics if that is not below 1e-8.
//!
//! The start is `(-1.2, ..., -1.2)`. The 2-d function's classic start is `(-1.2, 1)`, but its
//! usual extension `(-1.2, 1, -1.2, 1, ...)` lies, for n ≥ 5, in the basin of this function's
//! *other* local minimum, near `(-1, 1, ..., 1)` with `f ≈ 3.99`, which any descent method
//! (this one included) then finds; `--alternating` starts there to show it, and checks only
//! that a minimum was reached.

use functorch::{DType, Result, Tensor, grad_and_value, hessian};

fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0] as i64;
    let (head, tail) = (x.slice(0, 0, n - 1, 1)?, x.slice(0, 1, n, 1)?);
    let valley = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    let slope = head.rsub_scalar(1.0)?.square()?;
    valley.add(&slope)?.sum()
}

/// The smallest shift `μ ≥ 0` (0, then 1e-3·scale, doubling) that makes `H + μI` positive
/// definite, and that matrix.
fn shift_to_positive_definite(h: &Tensor) -> Result<(f64, Tensor)> {
    let n = h.shape()[0];
    let eye = Tensor::eye(n, DType::F64)?;
    let scale = h.abs()?.max()?.item()?.max(1.0);
    let mut mu = 0.0;
    loop {
        let shifted = h.add(&eye.mul_scalar(mu)?)?;
        if shifted.cholesky().is_ok() {
            return Ok((mu, shifted));
        }
        mu = if mu == 0.0 { 1e-3 * scale } else { 2.0 * mu };
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let alternating = args.iter().any(|a| a == "--alternating");
    let n: usize = match args.iter().find(|a| !a.starts_with("--")) {
        Some(s) => s
            .parse()
            .expect("usage: newton [N] [--alternating], N >= 2"),
        None => 10,
    };
    assert!(n >= 2, "the Rosenbrock function needs n >= 2");

    let start: Vec<f64> = (0..n)
        .map(|i| if alternating && i % 2 == 1 { 1.0 } else { -1.2 })
        .collect();
    let mut x = Tensor::from_slice(&start);

    let grad_f = grad_and_value(rosenbrock);
    let hess_f = hessian(rosenbrock);

    let from = if alternating {
        "(-1.2, 1, -1.2, 1, ...)"
    } else {
        "(-1.2, ..., -1.2)"
    };
    println!("Newton's method on the {n}-dimensional Rosenbrock function, from {from}");
    println!(
        "{:>4}  {:>22}  {:>10}  {:>9}  {:>8}",
        "k", "f(x)", "|grad f|", "mu", "step"
    );
    // the iterates work their way along the chain, taking about 1.5 steps per coordinate
    let max_iter = 100 + 2 * n;
    let mut converged = false;
    for k in 0..max_iter {
        let (g, f): (Tensor, Tensor) = grad_f.call(&x)?;
        let (f, gnorm) = (f.item()?, g.norm()?.item()?);
        if gnorm < 1e-10 {
            println!("{k:>4}  {f:>22.15e}  {gnorm:>10.3e}  converged");
            converged = true;
            break;
        }

        // The Newton direction, from a Hessian made positive definite if it is not.
        let h: Tensor = hess_f.call(&x)?;
        let (mu, h) = shift_to_positive_definite(&h)?;
        let d = h.solve(&g.neg()?)?;

        // Backtracking line search: halve the step until f decreases enough (Armijo).
        let slope = g.dot(&d)?.item()?;
        let mut t = 1.0;
        let x_new = loop {
            let candidate = x.add(&d.mul_scalar(t)?)?;
            let f_new = rosenbrock(&candidate)?.item()?;
            if f_new <= f + 1e-4 * t * slope || t < 1e-12 {
                break candidate;
            }
            t *= 0.5;
        };
        println!("{k:>4}  {f:>22.15e}  {gnorm:>10.3e}  {mu:>9.2e}  {t:>8.4}");
        x = x_new;
    }
    assert!(converged, "no convergence in {max_iter} iterations");
    let h: Tensor = hess_f.call(&x)?;
    assert!(
        h.cholesky().is_ok(),
        "the Hessian is not positive definite at the end: not a minimum"
    );

    let deviation = x.sub_scalar(1.0)?.abs()?.max()?.item()?;
    if n <= 20 {
        println!("x = {x}");
    }
    println!("max |x[i] - 1| = {deviation:.3e}");
    if alternating {
        if deviation > 0.5 {
            println!("(the local minimum near (-1, 1, ..., 1), not the global one)");
        }
    } else {
        assert!(
            deviation < 1e-8,
            "Newton's method did not reach (1, ..., 1): max deviation {deviation:e}"
        );
    }
    Ok(())
}
