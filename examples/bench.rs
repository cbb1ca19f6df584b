//! The benchmark workloads of `../shared/bench/WORKLOADS.md`, timed exactly as specified there
//! (median wall time of one call after two warm-up calls, everything the call does included).
//! Prints one JSON line per workload, the format `../shared/bench/compare.py` reads:
//!
//! ```text
//! cargo run --release --example bench                      # all workloads
//! cargo run --release --example bench -- small_hessian_x1000 hessian_mlp_W1
//! python3 ../shared/bench/compare.py -- cargo run --release --example bench
//! cargo run --release --example bench -- --jit      # the same workloads through `jit`
//! BENCH_JIT_PRINT=1 cargo run --release --example bench -- --jit hvp_mlp_params
//!                                                   # and each one's compiled program
//! cargo run --release --example bench -- --ops      # the kernel workloads (op_*), tiny-op costs
//! cargo run --release --example bench -- --floors   # this machine's bandwidth and GEMM rate,
//!                                                   # and each workload's floor
//! cargo run --release --example bench -- --sparse   # the sparse Jacobian and Hessian workloads
//!                                                   # (only these; also printed when named, as
//!                                                   # are their n = 10⁶ sizes)
//! ```

#[path = "common/pde.rs"]
mod pde;
use functorch::{
    Args, DType, Pytree, Result, Tensor, grad, hessian, jacfwd, jacrev, jit, jvp, manual_seed, vmap,
};
use pde::pde2d;
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

/// An MLP's four parameter tensors.
type Params = (Tensor, Tensor, Tensor, Tensor);

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

/// Seconds per call of `f`, over enough calls to take about 0.3 s (median of 5 such runs).
fn per_call(mut f: impl FnMut()) -> f64 {
    let mut n = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed().as_secs_f64() > 0.06 {
            break;
        }
        n *= 2;
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() / n as f64
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    runs[2]
}

/// The kernel-level workloads of WORKLOADS.md (plain ops, no transform) as JSON lines, then
/// the per-op overhead of tiny ops as text.
fn ops() {
    manual_seed(7);
    for n in [256usize, 1024] {
        let (a, b) = (randn(&[n, n], 1.0), randn(&[n, n], 1.0));
        emit(
            &format!("op_matmul_f64_{n}"),
            time(|| a.matmul(&b).map(drop)),
        );
    }
    let (a, b) = (randn32(&[1024, 1024], 1.0), randn32(&[1024, 1024], 1.0));
    emit("op_matmul_f32_1024", time(|| a.matmul(&b).map(drop)));
    // |N(0, 1)| + 0.1, inside every function's domain
    let x = randn(&[1_000_000], 1.0)
        .abs()
        .unwrap()
        .add_scalar(0.1)
        .unwrap();
    emit("op_exp_f64_1e6", time(|| x.exp().map(drop)));
    emit("op_log_f64_1e6", time(|| x.log().map(drop)));
    emit("op_sin_f64_1e6", time(|| x.sin().map(drop)));
    emit("op_tanh_f64_1e6", time(|| x.tanh().map(drop)));
    let x32 = randn32(&[1_000_000], 1.0);
    emit("op_tanh_f32_1e6", time(|| x32.tanh().map(drop)));
    let x = randn(&[10_000_000], 1.0);
    emit("op_sum_f64_1e7", time(|| x.sum().map(drop)));

    let a = Tensor::from_slice(&[1.0, 2.0, 3.0]);
    let b = Tensor::from_slice(&[4.0, 5.0, 6.0]);
    let t = per_call(|| drop(a.add(&b).unwrap()));
    println!("add of two 3-element f64 tensors: {:.0} ns per op", t * 1e9);
    let t = per_call(|| drop(a.sin().unwrap()));
    println!("sin of a 3-element f64 tensor:    {:.0} ns per op", t * 1e9);
}

/// The machine's memory bandwidth (bytes/s, a large copy counted as read + write) and GEMM rate
/// (FLOP/s, a 1024³ f64 matmul through the library), then each workload's floor.
fn floors() {
    let n = 1 << 25; // 256 MB of f64
    let src = vec![1.0f64; n];
    let mut dst = vec![0.0f64; n];
    let t = per_call(|| {
        dst.copy_from_slice(&src);
        std::hint::black_box(&dst);
    });
    let bw = 2.0 * 8.0 * n as f64 / t;
    let x = randn(&[1024, 1024], 1.0);
    let t = per_call(|| drop(x.matmul(&x).unwrap()));
    let rate = 2.0 * 1024f64.powi(3) / t;
    println!(
        "memory bandwidth (copy, read + write): {:.1} GB/s",
        bw / 1e9
    );
    println!(
        "GEMM rate (1024³ f64 matmul):          {:.1} GFLOP/s",
        rate / 1e9
    );
    println!(
        "\n{:36} {:>12} {:>12} {:>10}",
        "workload", "result bytes", "min FLOPs", "floor"
    );
    // (name, bytes the result occupies, the flops a minimal algorithm must do)
    let mlp_fwd = |b: f64, i: f64, h: f64, o: f64| 2.0 * b * (i * h + h * o);
    let rows: Vec<(String, f64, f64)> = [10.0f64, 100.0, 1000.0]
        .iter()
        .flat_map(|&n| {
            [
                (format!("hessian_sin_sum_n{n}"), 8.0 * n * n, n),
                (format!("hessian_rosenbrock_n{n}"), 8.0 * n * n, 10.0 * n),
            ]
        })
        .chain([
            // 512 Hessian-vector products, each about 4 forward passes
            (
                "hessian_mlp_W1".to_string(),
                8.0 * 512.0 * 512.0,
                512.0 * 4.0 * mlp_fwd(64.0, 16.0, 32.0, 1.0),
            ),
            // per sample W2ᵀ diag(1 - h²) W1ᵀ
            (
                "vmap_jacrev_mlp_input".to_string(),
                8.0 * 128.0 * 16.0 * 32.0,
                128.0 * 2.0 * 16.0 * 64.0 * 32.0,
            ),
            (
                "vmap_jacfwd_mlp_input".to_string(),
                8.0 * 128.0 * 16.0 * 32.0,
                128.0 * 2.0 * 16.0 * 64.0 * 32.0,
            ),
            // forward, backward, and the per-sample outer products
            (
                "per_sample_grad_mlp_f32".to_string(),
                4.0 * 256.0 * (64.0 * 128.0 + 128.0 + 1280.0 + 10.0),
                3.0 * mlp_fwd(256.0, 64.0, 128.0, 10.0),
            ),
            // J = diag(1 - y²) A: one pass over A
            (
                "jacrev_tanh_layer_n2000_chunk100".to_string(),
                8.0 * 2000.0 * 2000.0,
                2.0 * 2000.0 * 2000.0,
            ),
            (
                "small_hessian_x1000".to_string(),
                1000.0 * 8.0 * 9.0,
                1000.0 * 100.0,
            ),
            // an HVP is about 4 forward passes
            (
                "hvp_mlp_params".to_string(),
                8.0 * (64.0 * 128.0 + 128.0 + 1280.0 + 10.0),
                4.0 * mlp_fwd(256.0, 64.0, 128.0, 10.0),
            ),
        ])
        .collect();
    for (name, bytes, flops) in rows {
        // writing the result once, or doing the minimal arithmetic, whichever takes longer
        let floor = (bytes / bw).max(flops / rate);
        println!(
            "{name:36} {bytes:>12.3e} {flops:>12.3e} {:>8.1}µs",
            floor * 1e6
        );
    }
}

/// Time `g` on `args` (`reps` calls per timed repetition), eagerly or, with `--jit`, through
/// `jit(g)`, whose first call (trace and compile) is reported apart as `first_call_s`.
fn go<A: Args, R: Pytree>(
    name: &str,
    jit_mode: bool,
    reps: usize,
    g: impl Fn(&A) -> Result<R>,
    args: &A,
) {
    if !jit_mode {
        return emit(
            name,
            time(|| {
                for _ in 0..reps {
                    drop(g(args)?);
                }
                Ok(())
            }),
        );
    }
    let j = jit(g);
    if std::env::var_os("BENCH_JIT_PRINT").is_some() {
        let t = j.trace(args).expect("trace");
        eprintln!("{name}:\n{}\n", t.compiled());
    }
    let t0 = Instant::now();
    drop(j.call::<A, R>(args).expect("first call"));
    let first = t0.elapsed().as_secs_f64();
    let r = time(|| {
        for _ in 0..reps {
            drop(j.call::<A, R>(args)?);
        }
        Ok(())
    });
    println!(
        r#"{{"workload": "{name}", "system": "functorch.jit", "median_s": {:e}, "min_s": {:e}, "reps": {}, "first_call_s": {first:e}, "traces": {}}}"#,
        r.0,
        r.1,
        r.2,
        j.traces()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--ops") {
        return ops();
    }
    if args.iter().any(|a| a == "--floors") {
        return floors();
    }
    let jit_mode = args.iter().any(|a| a == "--jit");
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let want = |name: &str| only.is_empty() || only.iter().any(|o| *o == name);
    manual_seed(7);
    let sparse_flag = args.iter().any(|a| a == "--sparse");
    sparse_workloads(&|name: &str| {
        only.iter().any(|o| *o == name)
            || (sparse_flag && !name.ends_with("n1000000") && !name.ends_with("pde2d_n1000"))
    });
    if sparse_flag {
        return;
    }

    for n in [10usize, 100, 1000] {
        let name = format!("hessian_sin_sum_n{n}");
        if want(&name) {
            let x = randn(&[n], 1.0);
            let h = hessian(|x: &Tensor| x.sin()?.sum());
            go(&name, jit_mode, 1, |x: &Tensor| h.call::<_, Tensor>(x), &x);
        }
        let name = format!("hessian_rosenbrock_n{n}");
        if want(&name) {
            let x = randn(&[n], 1.0);
            let h = hessian(rosenbrock);
            go(&name, jit_mode, 1, |x: &Tensor| h.call::<_, Tensor>(x), &x);
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
        go(
            "hessian_mlp_W1",
            jit_mode,
            1,
            |a: &(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)| h.call::<_, Tensor>(a),
            &args,
        );
    }

    let mlp_args = (
        randn(&[32, 64], 0.2),
        randn(&[64], 1.0),
        randn(&[64, 16], 0.2),
        randn(&[16], 1.0),
        randn(&[128, 32], 1.0),
    );
    type Mlp = (Tensor, Tensor, Tensor, Tensor, Tensor);
    if want("vmap_jacrev_mlp_input") {
        let g = vmap(jacrev(mlp_out).argnums(4)).in_dims([None, None, None, None, Some(0)]);
        go(
            "vmap_jacrev_mlp_input",
            jit_mode,
            1,
            |a: &Mlp| g.call::<_, Tensor>(a),
            &mlp_args,
        );
    }
    if want("vmap_jacfwd_mlp_input") {
        let g = vmap(jacfwd(mlp_out).argnums(4)).in_dims([None, None, None, None, Some(0)]);
        go(
            "vmap_jacfwd_mlp_input",
            jit_mode,
            1,
            |a: &Mlp| g.call::<_, Tensor>(a),
            &mlp_args,
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
        go(
            "per_sample_grad_mlp_f32",
            jit_mode,
            1,
            |a: &(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)| g.call::<_, Params>(a),
            &args,
        );
    }

    if want("jacrev_tanh_layer_n2000_chunk100") {
        let a = randn(&[2000, 2000], 1.0 / 2000f64.sqrt());
        let x = randn(&[2000], 1.0);
        let g = jacrev(|x: &Tensor| a.matmul(x)?.tanh()).chunk_size(100);
        go(
            "jacrev_tanh_layer_n2000_chunk100",
            jit_mode,
            1,
            |x: &Tensor| g.call::<_, Tensor>(x),
            &x,
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
        go(
            "small_hessian_x1000",
            jit_mode,
            1000,
            |x: &Tensor| h.call::<_, Tensor>(x),
            &x,
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
        go(
            "hvp_mlp_params",
            jit_mode,
            1,
            |(p, t): &(Params, Params)| -> Result<Params> {
                let (_, t): (Params, Params) = f.call(p, t)?;
                Ok(t)
            },
            &(params, tangents),
        );
    }
}

/// The large sparse derivatives (opt-in): the whole one-off job (pattern detection, coloring,
/// compressed products) and, as `NAME_reuse`, a call of the prepared form, which keeps pattern
/// and coloring. The n = 10⁶ sizes (which the dense peers cannot run) print only when named.
fn sparse_workloads(want: &dyn Fn(&str) -> bool) {
    for n in [10_000usize, 1_000_000] {
        let name = format!("sparse_hessian_rosenbrock_n{n}");
        if want(&name) {
            let x = randn(&[n], 1.0);
            let h = hessian(rosenbrock).sparse();
            emit(&name, time(|| h.call(&x).map(drop)));
            let p = h.prepare(&x).expect("prepare");
            emit(&format!("{name}_reuse"), time(|| p.call(&x).map(drop)));
        }
    }
    for m in [100usize, 1000] {
        let name = format!("sparse_jacobian_pde2d_n{m}");
        if want(&name) {
            let (u, f) = (randn(&[m, m], 0.1), randn(&[m, m], 1.0));
            let r = |u: &Tensor| pde2d(u, &f, 1.0);
            let j = jacfwd(r).sparse();
            emit(&name, time(|| j.call(&u).map(drop)));
            let p = j.prepare(&u).expect("prepare");
            emit(&format!("{name}_reuse"), time(|| p.call(&u).map(drop)));
        }
    }
}
