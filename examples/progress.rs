//! A progress bar on long chunked Jacobians and Hessians, driven by the transforms'
//! `.progress(|done, total| ..)` callback and drawn with `indicatif`.
//!
//! ```text
//! cargo run --release --example progress            # n = 3000
//! cargo run --release --example progress -- 400     # a smaller n
//! ```
//!
//! `jacrev(x ↦ tanh(A x))` with `chunk_size(50)` computes the `n × n` Jacobian 50 rows at a
//! time, and `hessian(x ↦ Σ log cosh(A x))` with `chunk_size(50)` its `n × n` Hessian 50
//! columns at a time (the Hessian reports its outer `jacfwd`'s chunks). After each chunk the
//! transform calls the callback with (chunks done, chunks in all), which moves the bar; the
//! results are checked against their closed forms. indicatif draws nothing when standard
//! error is not a terminal (in CI, piped to a file), and the example prints its summary
//! either way.

use functorch::{DType, Result, Tensor, hessian, jacrev};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

const CHUNK: usize = 50;

/// A bar whose length is set by the first report (the callback learns the chunk count).
fn bar(what: &'static str) -> ProgressBar {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40.cyan/blue}] {pos}/{len} chunks ({elapsed}, eta {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what);
    pb
}

/// The callback for `.progress(..)`: `done` of `total` chunks.
fn report(pb: &ProgressBar) -> impl Fn(usize, usize) + Send + Sync + 'static {
    let pb = pb.clone();
    move |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    }
}

fn max_diff(a: &Tensor, b: &Tensor) -> Result<f64> {
    a.sub(b)?.abs()?.max()?.item()
}

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(3000, |s| s.parse().expect("n: a positive integer"));
    functorch::manual_seed(0);
    let a = Tensor::randn(&[n, n], DType::F64)?.div_scalar((n as f64).sqrt())?;
    let x = Tensor::randn(&[n], DType::F64)?;
    let chunks = n.div_ceil(CHUNK);

    // the Jacobian of tanh(A x): diag(1 − tanh²(A x)) A
    let pb = bar("jacrev");
    let t0 = Instant::now();
    let am = a.clone();
    let j: Tensor = jacrev(move |x: &Tensor| am.mv(x)?.tanh())
        .chunk_size(CHUNK)
        .progress(report(&pb))
        .call(&x)?;
    pb.finish();
    let t_j = t0.elapsed();
    let z = a.mv(&x)?.tanh()?;
    let want = z.square()?.neg()?.add_scalar(1.0)?.unsqueeze(1)?.mul(&a)?;
    let err_j = max_diff(&j, &want)?;

    // the Hessian of Σ log cosh(A x): Aᵀ diag(1 − tanh²(A x)) A
    let pb = bar("hessian");
    let t0 = Instant::now();
    let am = a.clone();
    let h: Tensor = hessian(move |x: &Tensor| am.mv(x)?.cosh()?.log()?.sum())
        .chunk_size(CHUNK)
        .progress(report(&pb))
        .call(&x)?;
    pb.finish();
    let t_h = t0.elapsed();
    let want = a.t()?.matmul(&want)?;
    let err_h = max_diff(&h, &want)?;

    println!("n = {n}, chunk_size = {CHUNK}: {chunks} chunks each");
    println!(
        "jacrev:  {:.2} s, max |difference| from the closed form {err_j:.1e}",
        t_j.as_secs_f64()
    );
    println!(
        "hessian: {:.2} s, max |difference| from the closed form {err_h:.1e}",
        t_h.as_secs_f64()
    );
    assert!(err_j < 1e-12 && err_h < 1e-10);
    Ok(())
}
