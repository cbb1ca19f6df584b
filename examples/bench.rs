//! The benchmark workloads of `../shared/bench/WORKLOADS.md`, timed exactly as specified there
//! (median wall time of one call after two warm-up calls, everything the call does included).
//! Prints one JSON line per workload, the format `../shared/bench/compare.py` reads:
//!
//! ```text
//! cargo run --release --example bench                      # all workloads
//! cargo run --release --example bench -- small_hessian_x1000 hessian_mlp_W1
//! python3 ../shared/bench/compare.py -- cargo run --release --example bench
//! ```

use functorch::{DType, Result, Tensor, grad, hessian, jacfwd, jacrev, jvp, manual_seed, vmap};
use std::time::{Duration, Instant};

fn randn(shape: &[usize], scale: f64) -> Tensor {
    Tensor::randn(shape, DType::F64)
        .unwrap()
        .mul_scalar(scale)
        .unwrap()
}

fn randn32(shape: &[usize], scale: f64) -> Tensor {
    Tensor::randn(shape, DType::F32)
        .unwrap()
        .mul_scalar(scale)
        .unwrap()
}

/// Median and minimum seconds of `f`, after two warm-up calls; at least 5 repetitions, more
/// until 0.5 s have passed (at most 200), as the peers are timed.
fn time(mut f: impl FnMut() -> Result<()>) -> (f64, f64, usize) {
    f().expect("warm-up");
    f().expect("warm-up");
    let mut times = Vec::new();
    let end = Instant::now() + Duration::from_millis(500);
    while times.len() < 5 || (Instant::now() < end && times.len() < 200) {
        let t0 = Instant::now();
        f().expect("timed call");
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[times.len() / 2], times[0], times.len())
}

fn emit(name: &str, r: (f64, f64, usize)) {
    println!(
        r#"{{"workload": "{name}", "system": "functorch-rs", "median_s": {:e}, "min_s": {:e}, "reps": {}}}"#,
        r.0, r.1, r.2
    );
}

fn rosenbrock(x: &Tensor) -> Result<Tensor> {
    let n = x.shape()[0] as i64;
    let (head, tail) = (x.slice(0, 0, n - 1, 1)?, x.slice(0, 1, n, 1)?);
    let a = tail.sub(&head.square()?)?.square()?.mul_scalar(100.0)?;
    let b = head.rsub_scalar(1.0)?.square()?;
    a.add(&b)?.sum()
}

fn mlp_loss(
    (w1, b1, w2, b2, x, y): &(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor),
) -> Result<Tensor> {
    let out = x.matmul(w1)?.add(b1)?.tanh()?.matmul(w2)?.add(b2)?;
    out.sub(y)?.square()?.mean()
}

fn mlp_out((w1, b1, w2, b2, x): &(Tensor, Tensor, Tensor, Tensor, Tensor)) -> Result<Tensor> {
    x.matmul(w1)?.add(b1)?.tanh()?.matmul(w2)?.add(b2)
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    manual_seed(7);

    for n in [10usize, 100, 1000] {
        let name = format!("hessian_sin_sum_n{n}");
        if want(&name) {
            let x = randn(&[n], 1.0);
            let h = hessian(|x: &Tensor| x.sin()?.sum());
            emit(&name, time(|| h.call::<_, Tensor>(&x).map(drop)));
        }
        let name = format!("hessian_rosenbrock_n{n}");
        if want(&name) {
            let x = randn(&[n], 1.0);
            let h = hessian(rosenbrock);
            emit(&name, time(|| h.call::<_, Tensor>(&x).map(drop)));
        }
    }

    if want("hessian_mlp_W1") {
        let args = (
            randn(&[16, 32], 0.3),
            randn(&[32], 1.0),
            randn(&[32, 1], 0.3),
            randn(&[1], 1.0),
            randn(&[64, 16], 1.0),
            randn(&[64, 1], 1.0),
        );
        let h = hessian(mlp_loss);
        emit(
            "hessian_mlp_W1",
            time(|| h.call::<_, Tensor>(&args).map(drop)),
        );
    }

    let mlp_args = (
        randn(&[32, 64], 0.2),
        randn(&[64], 1.0),
        randn(&[64, 16], 0.2),
        randn(&[16], 1.0),
        randn(&[128, 32], 1.0),
    );
    if want("vmap_jacrev_mlp_input") {
        let g = vmap(jacrev(mlp_out).argnums(4)).in_dims([None, None, None, None, Some(0)]);
        emit(
            "vmap_jacrev_mlp_input",
            time(|| g.call::<_, Tensor>(&mlp_args).map(drop)),
        );
    }
    if want("vmap_jacfwd_mlp_input") {
        let g = vmap(jacfwd(mlp_out).argnums(4)).in_dims([None, None, None, None, Some(0)]);
        emit(
            "vmap_jacfwd_mlp_input",
            time(|| g.call::<_, Tensor>(&mlp_args).map(drop)),
        );
    }

    if want("per_sample_grad_mlp_f32") {
        let labels: Vec<i64> = (0..256).map(|i| (i * 7 + 3) % 10).collect();
        let y = Tensor::from_vec(labels, &[256])
            .unwrap()
            .one_hot(10)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        let args = (
            randn32(&[64, 128], 0.1),
            randn32(&[128], 1.0),
            randn32(&[128, 10], 0.1),
            randn32(&[10], 1.0),
            randn32(&[256, 64], 1.0),
            y,
        );
        let ce = |(w1, b1, w2, b2, x, y): &(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)| -> Result<Tensor> {
            let logits = x.matmul(w1)?.add(b1)?.relu()?.matmul(w2)?.add(b2)?;
            logits.logsumexp(&[0], false)?.sub(&logits.mul(y)?.sum()?)
        };
        let g = vmap(grad(ce).argnums((0, 1, 2, 3))).in_dims([
            None,
            None,
            None,
            None,
            Some(0),
            Some(0),
        ]);
        emit(
            "per_sample_grad_mlp_f32",
            time(|| {
                g.call::<_, (Tensor, Tensor, Tensor, Tensor)>(&args)
                    .map(drop)
            }),
        );
    }

    if want("jacrev_tanh_layer_n2000_chunk100") {
        let a = randn(&[2000, 2000], 1.0 / 2000f64.sqrt());
        let x = randn(&[2000], 1.0);
        let g = jacrev(|x: &Tensor| a.matmul(x)?.tanh()).chunk_size(100);
        emit(
            "jacrev_tanh_layer_n2000_chunk100",
            time(|| g.call::<_, Tensor>(&x).map(drop)),
        );
    }

    if want("small_hessian_x1000") {
        let x = randn(&[3], 1.0);
        let f = |x: &Tensor| -> Result<Tensor> {
            let (x0, x1, x2) = (x.get(0)?, x.get(1)?, x.get(2)?);
            x0.square()?
                .mul(&x1)?
                .add(&x1.mul(&x2)?.sin()?)?
                .add(&x0.mul(&x2)?.exp()?)
        };
        let h = hessian(f);
        emit(
            "small_hessian_x1000",
            time(|| {
                for _ in 0..1000 {
                    h.call::<_, Tensor>(&x)?;
                }
                Ok(())
            }),
        );
    }

    if want("hvp_mlp_params") {
        let (x, y) = (randn(&[256, 64], 1.0), randn(&[256, 10], 1.0));
        let params = (
            randn(&[64, 128], 0.1),
            randn(&[128], 1.0),
            randn(&[128, 10], 0.1),
            randn(&[10], 1.0),
        );
        let tangents = (
            randn(&[64, 128], 1.0),
            randn(&[128], 1.0),
            randn(&[128, 10], 1.0),
            randn(&[10], 1.0),
        );
        let loss = |(w1, b1, w2, b2): &(Tensor, Tensor, Tensor, Tensor)| -> Result<Tensor> {
            let out = x.matmul(w1)?.add(b1)?.tanh()?.matmul(w2)?.add(b2)?;
            out.sub(&y)?.square()?.mean()
        };
        let f = jvp(grad(loss).argnums((0, 1, 2, 3)));
        emit(
            "hvp_mlp_params",
            time(|| {
                let (_, t): (
                    (Tensor, Tensor, Tensor, Tensor),
                    (Tensor, Tensor, Tensor, Tensor),
                ) = f.call(&params, &tangents)?;
                drop(t);
                Ok(())
            }),
        );
    }
}
