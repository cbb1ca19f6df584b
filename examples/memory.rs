//! Peak memory of `jacrev` by chunk size, measured with a counting global allocator.
//!
//! ```text
//! cargo run --release --example memory            # n = 2000, every configuration
//! cargo run --release --example memory -- 500     # a smaller n
//! ```
//!
//! The workload is `jacrev(x ↦ tanh(A x))` with `A` a random (normal) `n × n` matrix scaled by
//! `1/√n` (f64), for `chunk_size` 1, 10, 100, n and none, each with and without `preallocate(true)`.
//! The Jacobian itself is `n²` doubles (30.5 MiB at n = 2000): every configuration must hold at
//! least that much at its peak.
//!
//! How it is measured: the allocator below wraps `std::alloc::System` and keeps the bytes
//! currently allocated and their maximum in atomics (rayon's worker threads included). Each
//! configuration runs in a fresh child process (this program re-executed with `--one`), so the
//! library's buffer pool (`src/tensor/pool.rs`, which keeps freed large buffers for reuse)
//! starts empty and one configuration cannot lend its freed buffers to the next. Pooled buffers
//! count as allocated — the system allocator never sees them freed, so they are held memory.
//! The columns:
//!
//! - *peak*: the most bytes allocated during the call, above the baseline held just before it
//!   (`A`, `x`, and the runtime's own allocations);
//! - *held with J*: what is still allocated right after the call, above the baseline (the
//!   Jacobian plus whatever the pool kept);
//! - *held after drop*: the same once the Jacobian is dropped — what the pool keeps for the next
//!   call (the Jacobian's own buffer goes back to the pool too, if it is a pooled size);
//! - *time*: wall time of the call (first call in a fresh process: page faults included);
//! - *max err*: the largest difference from the closed form `diag(1 − tanh²(Ax)) A`.
//!
//! A second table runs the same configurations one after another in one process, to show what
//! the pool does across calls: there, memory the pool kept from an earlier call is part of the
//! baseline, and reusing it is not counted again.

use functorch::{Result, Tensor, jacrev};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Instant;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{CURRENT, Counting, PEAK};

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = (1 << 20) as f64;

/// One measurement.
struct Row {
    peak: usize,
    held: usize,
    held_after_drop: usize,
    /// Of `held_after_drop`, what the library's buffer pool keeps for reuse.
    pooled: usize,
    secs: f64,
    err: f64,
}

/// `A` (standard normal entries scaled by `1/√n`) and `x` (standard normal), drawn here and
/// handed over with `from_vec`, so that no intermediate buffer lands in the library's pool
/// before the measurement (its reuse would hide part of the call's allocations).
fn setup(n: usize) -> Result<(Tensor, Tensor)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut normal = || {
        // SplitMix64 and Box–Muller
        let mut unif = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (u, v) = (1.0 - unif(), unif());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let scale = 1.0 / (n as f64).sqrt();
    let a: Vec<f64> = (0..n * n).map(|_| normal() * scale).collect();
    let x: Vec<f64> = (0..n).map(|_| normal()).collect();
    Ok((Tensor::from_vec(a, &[n, n])?, Tensor::from_vec(x, &[n])?))
}

/// Run one configuration and measure it (the pool holds whatever earlier calls left there).
fn measure(a: &Tensor, x: &Tensor, chunk: Option<usize>, prealloc: bool) -> Result<Row> {
    let f = |x: &Tensor| a.matmul(x)?.tanh();
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t0 = Instant::now();
    let j: Tensor = jacrev(f).chunk_size(chunk).preallocate(prealloc).call(x)?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let held = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    // check the values against the closed form, with plain loops
    let n = x.shape()[0];
    let av = a.to_vec::<f64>()?;
    let t = a.matmul(x)?.tanh()?.to_vec::<f64>()?;
    let jv = j.to_vec::<f64>()?;
    let mut err = 0f64;
    for i in 0..n {
        let s = 1.0 - t[i] * t[i];
        for k in 0..n {
            err = err.max((jv[i * n + k] - s * av[i * n + k]).abs());
        }
    }
    drop((jv, av, t));
    drop(j);
    let held_after_drop = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    Ok(Row {
        peak,
        held,
        held_after_drop,
        pooled: functorch::pooled_bytes(),
        secs,
        err,
    })
}

fn configs(n: usize) -> Vec<(Option<usize>, bool)> {
    let mut sizes: Vec<Option<usize>> = [1, 10, 100, n]
        .iter()
        .filter(|&&c| c <= n)
        .map(|&c| Some(c))
        .collect();
    sizes.dedup();
    sizes.push(None);
    let mut out = Vec::new();
    for prealloc in [false, true] {
        for &c in &sizes {
            out.push((c, prealloc));
        }
    }
    out
}

fn chunk_name(c: Option<usize>) -> String {
    c.map_or("none".into(), |c| c.to_string())
}

fn print_header(n: usize, result_mib: f64) {
    println!("jacrev(x -> tanh(A @ x)), n = {n}, f64; the Jacobian alone is {result_mib:.1} MiB\n");
    println!(
        "| chunk_size | preallocate | peak above baseline | peak / size of J | held with J | held after drop (pooled) | time |"
    );
    println!("|---:|:---:|---:|---:|---:|---:|---:|");
}

fn print_row(c: Option<usize>, prealloc: bool, r: &Row, result_mib: f64) {
    let peak = r.peak as f64 / MIB;
    println!(
        "| {} | {} | {:.1} MiB | {:.2}× | {:.1} MiB | {:.1} MiB ({:.1}) | {:.1} ms |",
        chunk_name(c),
        if prealloc { "yes" } else { "no" },
        peak,
        peak / result_mib,
        r.held as f64 / MIB,
        r.held_after_drop as f64 / MIB,
        r.pooled as f64 / MIB,
        r.secs * 1e3,
    );
    assert!(
        r.err < 1e-12,
        "chunk_size={} preallocate={prealloc}: wrong Jacobian (max err {:e})",
        chunk_name(c),
        r.err
    );
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // child mode: `--one N CHUNK PREALLOC`
    if args.get(1).map(String::as_str) == Some("--one") {
        let n: usize = args[2].parse().expect("n");
        let chunk = match args[3].as_str() {
            "none" => None,
            c => Some(c.parse().expect("chunk size")),
        };
        let prealloc = args[4] == "1";
        let (a, x) = setup(n)?;
        let r = measure(&a, &x, chunk, prealloc)?;
        println!(
            "ROW {} {} {} {} {:e} {}",
            r.peak, r.held, r.held_after_drop, r.secs, r.err, r.pooled
        );
        return Ok(());
    }
    let n: usize = args.get(1).map_or(2000, |s| s.parse().expect("n"));
    let result_mib = (n * n * 8) as f64 / MIB;
    let exe = std::env::current_exe().expect("this program's path");

    println!("## Each configuration in a fresh process (the buffer pool starts empty)\n");
    print_header(n, result_mib);
    for (c, prealloc) in configs(n) {
        let out = Command::new(&exe)
            .args([
                "--one",
                &n.to_string(),
                &chunk_name(c),
                if prealloc { "1" } else { "0" },
            ])
            .output()
            .expect("run the child process");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("ROW ")) else {
            panic!(
                "the child for chunk_size={} failed:\n{stdout}\n{}",
                chunk_name(c),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let v: Vec<&str> = line.split_whitespace().skip(1).collect();
        let r = Row {
            peak: v[0].parse().unwrap(),
            held: v[1].parse().unwrap(),
            held_after_drop: v[2].parse().unwrap(),
            secs: v[3].parse().unwrap(),
            err: v[4].parse().unwrap(),
            pooled: v[5].parse().unwrap(),
        };
        print_row(c, prealloc, &r, result_mib);
    }

    println!(
        "\n## All configurations in this one process, in this order (the pool carries over)\n"
    );
    let (a, x) = setup(n)?;
    let start = CURRENT.load(Ordering::Relaxed);
    print_header(n, result_mib);
    for (c, prealloc) in configs(n) {
        let r = measure(&a, &x, c, prealloc)?;
        print_row(c, prealloc, &r, result_mib);
    }
    println!(
        "\nallocated before the first call: {:.1} MiB (A and x included); after the last: {:.1} MiB",
        start as f64 / MIB,
        CURRENT.load(Ordering::Relaxed) as f64 / MIB
    );
    functorch::release_pooled_memory();
    println!(
        "after functorch::release_pooled_memory(): {:.1} MiB",
        CURRENT.load(Ordering::Relaxed) as f64 / MIB
    );
    Ok(())
}
