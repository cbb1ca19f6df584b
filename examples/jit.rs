//! `jit` on a small Hessian: the traced program before and after optimization, and the time
//! per call eagerly and compiled; then `jit` inside the transforms (`hessian(jit(f))`,
//! `grad(jit(g))`), where the compiled function meets them as one primitive with compiled
//! rules.
//!
//! ```text
//! cargo run --release --example jit
//! ```

use functorch::{DType, Result, Tensor, grad, hessian, jit};
use std::time::Instant;

/// f(x) = x0² x1 + sin(x1 x2) + exp(x0 x2)
fn f(x: &Tensor) -> Result<Tensor> {
    let (x0, x1, x2) = (x.get(0)?, x.get(1)?, x.get(2)?);
    x0.square()?
        .mul(&x1)?
        .add(&x1.mul(&x2)?.sin()?)?
        .add(&x0.mul(&x2)?.exp()?)
}

/// A chain of elementwise ops over a vector: g(x) = Σ tanh(x)² · exp(−x²/8) + sin(x)
fn g(x: &Tensor) -> Result<Tensor> {
    x.tanh()?
        .square()?
        .mul(&x.square()?.mul_scalar(-0.125)?.exp()?)?
        .add(&x.sin()?)?
        .sum()
}

/// Seconds per call, the best of five runs of `n` calls.
fn per_call(n: usize, mut g: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = Instant::now();
        for _ in 0..n {
            g()?;
        }
        best = best.min(t0.elapsed().as_secs_f64() / n as f64);
    }
    Ok(best)
}

fn main() -> Result<()> {
    let x = Tensor::from_slice(&[0.5, -1.0, 0.25]);
    let h = hessian(f);
    let compiled = jit(hessian(f));

    let trace = compiled.trace(&x)?;
    let (before, after) = trace.equations();
    println!(
        "hessian(f) as traced ({before} equations):\n{}\n",
        trace.unoptimized()
    );
    println!(
        "after dead-code elimination, CSE and algebraic rewrites ({after} equations):\n{trace}\n"
    );

    let eager: Tensor = h.call(&x)?;
    let fast: Tensor = compiled.call(&x)?;
    let diff = eager.sub(&fast)?.abs()?.amax(&[0, 1], false)?.item()?;
    println!("max |eager - jit| = {diff:e}");

    let te = per_call(2000, || h.call(&x))?;
    let tj = per_call(2000, || compiled.call(&x))?;
    println!(
        "per call: eager {:.2} µs, jit {:.2} µs ({:.1}× faster), {} trace(s)",
        te * 1e6,
        tj * 1e6,
        te / tj,
        compiled.traces()
    );

    // jit inside: the transforms run outside, the compiled f and its compiled rules inside
    let inner = jit(f);
    let h_inner = hessian(inner.clone());
    let ti = per_call(2000, || h_inner.call(&x))?;
    println!(
        "hessian(jit(f)): {:.2} µs per call ({:.1}× eager), {} trace(s) of f, {} of its rules",
        ti * 1e6,
        te / ti,
        inner.traces(),
        inner.rule_traces()
    );
    let x = Tensor::linspace(-3.0, 3.0, 100_000, DType::F64)?;
    let (dg, dg_jit) = (grad(g), grad(jit(g)));
    let te = per_call(20, || dg.call(&x))?;
    let tj = per_call(20, || dg_jit.call(&x))?;
    println!(
        "grad of an elementwise chain over 10⁵ elements: eager {:.0} µs, grad(jit(g)) {:.0} µs ({:.1}×)",
        te * 1e6,
        tj * 1e6,
        te / tj
    );
    Ok(())
}
