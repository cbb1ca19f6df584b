//! CPU time per call of kernel-level ops (matrix products of many shapes, every unary float op
//! in both dtypes, reductions, in the caches and from main memory), for side-by-side comparison
//! with torch on one thread:
//!
//! ```text
//! cargo build --release --example kernels
//! RAYON_NUM_THREADS=1 target/release/examples/kernels --list         # the op names
//! RAYON_NUM_THREADS=1 target/release/examples/kernels matmul_f64_64 exp_f64
//! python3 examples/kernels_vs_torch.py                # each op here, then in torch, in turn
//! ```
//!
//! Wall time on a shared machine moves by ±30% with other processes' load; CPU time per call
//! (the process's user + system time over at least `KERNELS_SECONDS` seconds of calls, default
//! 1.5) moves much less, so that is what this prints, one JSON line per op:
//! `{"op": NAME, "cpu_s": SECONDS_PER_CALL, "calls": N}`. Run it with `RAYON_NUM_THREADS=1` to
//! compare with torch's `torch.set_num_threads(1)`.
//!
//! On more than one thread CPU time counts every thread's time, spinning included, so with
//! `KERNELS_WALL=1` it prints the median wall time of single calls instead (over the same budget
//! of wall seconds): `{"op": NAME, "wall_s": MEDIAN_SECONDS_PER_CALL, "calls": N}`.

use functorch::{DType, Result, Tensor, manual_seed};

/// The process's CPU time (user + system, all threads) in seconds, from `/proc/self/stat`
/// (clock ticks of 1/100 s); wall time where that file does not exist.
fn cpu_seconds() -> f64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // the fields after the command name (which may contain spaces) start after ')'
        let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after ')'
        return (ticks(11) + ticks(12)) / 100.0;
    }
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs_f64()
}

/// CPU seconds per call of `f`: calls in doubling batches until a batch takes `budget` CPU
/// seconds, after two warm-up calls.
fn cpu_per_call(budget: f64, mut f: impl FnMut() -> Result<()>) -> (f64, usize) {
    f().expect("warm-up");
    f().expect("warm-up");
    let mut n = 1usize;
    loop {
        let t0 = cpu_seconds();
        for _ in 0..n {
            f().expect("timed call");
        }
        let dt = cpu_seconds() - t0;
        if dt >= budget {
            return (dt / n as f64, n);
        }
        n *= 2;
    }
}

/// The median wall seconds of one call of `f`, over calls for at least `budget` seconds (and at
/// least 5 calls), after two warm-up calls.
fn wall_median(budget: f64, mut f: impl FnMut() -> Result<()>) -> (f64, usize) {
    f().expect("warm-up");
    f().expect("warm-up");
    let start = std::time::Instant::now();
    let mut times = Vec::new();
    while times.len() < 5 || start.elapsed().as_secs_f64() < budget {
        let t0 = std::time::Instant::now();
        f().expect("timed call");
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times.len())
}

fn randn(shape: &[usize], dtype: DType) -> Tensor {
    Tensor::randn(shape, dtype).expect("randn")
}

/// The ops, by name: `(name, f64 or f32, a closure making the call)`.
type Op = (String, Box<dyn FnMut() -> Result<()>>);

fn matmul_op(name: &str, a: Tensor, b: Tensor) -> Op {
    (name.into(), Box::new(move || a.matmul(&b).map(drop)))
}

fn ops() -> Vec<Op> {
    manual_seed(7);
    let mut v: Vec<Op> = Vec::new();
    for (t, dt) in [("f64", DType::F64), ("f32", DType::F32)] {
        for n in [64usize, 128, 256, 512, 1024, 2048] {
            v.push(matmul_op(
                &format!("matmul_{t}_{n}"),
                randn(&[n, n], dt),
                randn(&[n, n], dt),
            ));
        }
        // the shapes the transform workloads produce: tall-skinny, a long inner dimension,
        // matrix-vector, a batch of small products, inner dimension ≤ 4, transposed operands
        let shapes: [(&str, &[usize], &[usize]); 12] = [
            ("tall_10000x64x64", &[10000, 64], &[64, 64]),
            ("mlp_256x128x10", &[256, 128], &[128, 10]),
            ("mlp_256x10x128", &[256, 10], &[10, 128]),
            ("mlp_128x256x10", &[128, 256], &[256, 10]),
            ("mlp_64x256x128", &[64, 256], &[256, 128]),
            ("bmm_512x16x64x32", &[512, 16, 64], &[512, 64, 32]),
            ("inner_64x10000x64", &[64, 10000], &[10000, 64]),
            ("wide_64x64x10000", &[64, 64], &[64, 10000]),
            ("mv_2048", &[2048, 2048], &[2048]),
            ("bmm_1000x8x8x8", &[1000, 8, 8], &[1000, 8, 8]),
            ("outer_k4_1000x4x1000", &[1000, 4], &[4, 1000]),
            ("mlp_256x64x128", &[256, 64], &[64, 128]),
        ];
        for (name, sa, sb) in shapes {
            v.push(matmul_op(
                &format!("matmul_{t}_{name}"),
                randn(sa, dt),
                randn(sb, dt),
            ));
        }
        let (a, b) = (randn(&[512, 512], dt), randn(&[512, 512], dt));
        v.push(matmul_op(
            &format!("matmul_{t}_512_at_b"),
            a.t().unwrap(),
            b.clone(),
        ));
        v.push(matmul_op(
            &format!("matmul_{t}_512_a_bt"),
            a.clone(),
            b.t().unwrap(),
        ));

        // unary ops on 10⁶ elements inside every function's domain: |N(0,1)| + 0.1, and
        // uniform on (0, 1) for asin and acos
        let x = randn(&[1_000_000], dt)
            .abs()
            .unwrap()
            .add_scalar(0.1)
            .unwrap();
        let u = Tensor::rand(&[1_000_000], dt).unwrap();
        type Unary = fn(&Tensor) -> Result<Tensor>;
        let unary: [(&str, Unary); 21] = [
            ("exp", Tensor::exp),
            ("expm1", Tensor::expm1),
            ("log", Tensor::log),
            ("log1p", Tensor::log1p),
            ("sin", Tensor::sin),
            ("cos", Tensor::cos),
            ("tan", Tensor::tan),
            ("asin", Tensor::asin),
            ("acos", Tensor::acos),
            ("atan", Tensor::atan),
            ("sinh", Tensor::sinh),
            ("cosh", Tensor::cosh),
            ("tanh", Tensor::tanh),
            ("sigmoid", Tensor::sigmoid),
            ("erf", Tensor::erf),
            ("sqrt", Tensor::sqrt),
            ("add1", |x| x.add_scalar(1.0)),
            ("softplus", Tensor::softplus),
            ("rsqrt", Tensor::rsqrt),
            ("reciprocal", Tensor::reciprocal),
            ("pow", |x| x.pow_scalar(2.7)),
        ];
        for (name, f) in unary {
            let arg = if matches!(name, "asin" | "acos") {
                u.clone()
            } else {
                x.clone()
            };
            v.push((
                format!("{name}_{t}_1e6"),
                Box::new(move || f(&arg).map(drop)),
            ));
        }
        // the reciprocal of N(0, 1), half of it negative
        let signed = randn(&[1_000_000], dt);
        v.push((
            format!("reciprocal_signed_{t}_1e6"),
            Box::new(move || signed.reciprocal().map(drop)),
        ));
        // a binary op: the quotient of two vectors of 10⁶ elements
        let (xd, yd) = (x.clone(), x.add_scalar(1.0).unwrap());
        v.push((
            format!("div_{t}_1e6"),
            Box::new(move || xd.div(&yd).map(drop)),
        ));
        // reductions: all of a long vector, the rows and the columns of a matrix
        let x = randn(&[10_000_000], dt);
        let m = randn(&[1000, 10000], dt);
        let (x1, m1, m2, m3, m4) = (x.clone(), m.clone(), m.clone(), m.clone(), m.clone());
        v.push((format!("sum_{t}_1e7"), Box::new(move || x.sum().map(drop))));
        v.push((format!("max_{t}_1e7"), Box::new(move || x1.max().map(drop))));
        v.push((
            format!("sum_rows_{t}_1000x10000"),
            Box::new(move || m1.sum_dims(&[1], false).map(drop)),
        ));
        v.push((
            format!("sum_cols_{t}_1000x10000"),
            Box::new(move || m2.sum_dims(&[0], false).map(drop)),
        ));
        v.push((
            format!("mean_rows_{t}_1000x10000"),
            Box::new(move || m3.mean_dims(&[1], false).map(drop)),
        ));
        v.push((
            format!("logsumexp_rows_{t}_1000x10000"),
            Box::new(move || m4.logsumexp(&[1], false).map(drop)),
        ));
        // short rows: 10⁶ elements in rows of 100 and of 16 (in the caches), their sums, maxima,
        // softmax, and a bias added to each; 10⁷ elements in rows of 8, 64 and 100 (from main
        // memory), their sums and maxima, and their columns' sums
        for (r, c, all) in [
            (10_000, 100, true),
            (62_500, 16, true),
            (1_250_000, 8, false),
            (156_250, 64, false),
            (100_000, 100, false),
        ] {
            let m = randn(&[r, c], dt);
            let (m1, m2, m3) = (m.clone(), m.clone(), m.clone());
            v.push((
                format!("sum_rows_{t}_{r}x{c}"),
                Box::new(move || m.sum_dims(&[1], false).map(drop)),
            ));
            v.push((
                format!("max_rows_{t}_{r}x{c}"),
                Box::new(move || m1.amax(&[1], false).map(drop)),
            ));
            if !all {
                // their columns' sums too, from main memory
                v.push((
                    format!("sum_cols_{t}_{r}x{c}"),
                    Box::new(move || m2.sum_dims(&[0], false).map(drop)),
                ));
                continue;
            }
            let bias = randn(&[c], dt);
            v.push((
                format!("softmax_rows_{t}_{r}x{c}"),
                Box::new(move || m2.softmax(1).map(drop)),
            ));
            v.push((
                format!("bias_rows_{t}_{r}x{c}"),
                Box::new(move || m3.add(&bias).map(drop)),
            ));
        }
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let budget = std::env::var("KERNELS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.5);
    let wall = std::env::var("KERNELS_WALL").is_ok_and(|v| v == "1");
    for (name, mut f) in ops() {
        if args.iter().any(|a| a == "--list") {
            println!("{name}");
            continue;
        }
        if !args.is_empty() && !args.contains(&name) {
            continue;
        }
        if wall {
            let (s, n) = wall_median(budget, &mut f);
            println!(r#"{{"op": "{name}", "wall_s": {s:e}, "calls": {n}}}"#);
        } else {
            let (s, n) = cpu_per_call(budget, &mut f);
            println!(r#"{{"op": "{name}", "cpu_s": {s:e}, "calls": {n}}}"#);
        }
    }
}
