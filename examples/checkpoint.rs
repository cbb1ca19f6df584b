//! Peak memory of `grad` through a deep residual MLP, with and without `checkpoint`, measured
//! with a counting global allocator (the method of `examples/memory.rs`).
//!
//! ```text
//! cargo run --release --example checkpoint                  # depth 64, width 256, batch 256
//! cargo run --release --example checkpoint -- 32 128 64     # depth, width, batch
//! ```
//!
//! The network: `h ← h + ½ tanh(h Wₗ)` for `l = 1..depth`, loss `Σ h²`; `grad` with respect to
//! every `Wₗ`. Without checkpointing the tape keeps every layer's intermediates (the product,
//! the tanh, the scaled and the summed activations: four `batch × width` tensors a layer).
//! With `checkpoint` around segments of `k` layers, it keeps one activation per segment and
//! recomputes a segment's intermediates when the backward pass reaches it (one more forward
//! pass in all). Segments of `√depth` layers are the classic choice.
//!
//! Each configuration runs in a fresh child process (this program re-executed with `--one`),
//! so the library's buffer pool starts empty; *peak* is the most bytes allocated during the
//! `grad` call above what was allocated just before it (weights and input), so it includes the
//! gradients themselves (`depth × width²` doubles). *max diff* compares the gradients with the
//! run without checkpointing.

use functorch::{Result, Tensor, checkpoint, grad};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Instant;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{CURRENT, Counting, PEAK};

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = (1 << 20) as f64;

/// Deterministic weights (scaled by `1/√width`) and input, from SplitMix64.
fn setup(depth: usize, width: usize, batch: usize) -> Result<(Vec<Tensor>, Tensor)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut unif = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let scale = (3.0 / width as f64).sqrt();
    let ws = (0..depth)
        .map(|_| {
            let v: Vec<f64> = (0..width * width).map(|_| unif() * scale).collect();
            Tensor::from_vec(v, &[width, width])
        })
        .collect::<Result<Vec<_>>>()?;
    let x: Vec<f64> = (0..batch * width).map(|_| unif()).collect();
    Ok((ws, Tensor::from_vec(x, &[batch, width])?))
}

/// Layers `ws` applied to `h`.
fn layers(h: &Tensor, ws: &[Tensor]) -> Result<Tensor> {
    let mut h = h.clone();
    for w in ws {
        h = h.add(&h.matmul(w)?.tanh()?.mul_scalar(0.5)?)?;
    }
    Ok(h)
}

/// `grad` of the loss with respect to every weight, checkpointing segments of `seg` layers
/// (`None`: no checkpointing). Returns the gradients, the peak bytes and the seconds.
fn measure(ws: &[Tensor], x: &Tensor, seg: Option<usize>) -> Result<(Vec<Tensor>, usize, f64)> {
    let segment = checkpoint(|(h, ws): &(Tensor, Vec<Tensor>)| layers(h, ws)).name("segment");
    let loss = |ws: &Vec<Tensor>| -> Result<Tensor> {
        let h = match seg {
            None => layers(x, ws)?,
            Some(k) => {
                let mut h = x.clone();
                for part in ws.chunks(k) {
                    h = segment.call(&(h, part.to_vec()))?;
                }
                h
            }
        };
        h.square()?.sum()
    };
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t0 = Instant::now();
    let g: Vec<Tensor> = grad(loss).call(&ws.to_vec())?;
    let secs = t0.elapsed().as_secs_f64();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    Ok((g, peak, secs))
}

fn seg_name(s: Option<usize>) -> String {
    s.map_or("none".into(), |k| k.to_string())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--one") {
        // child: `--one DEPTH WIDTH BATCH SEG`; prints the peak, the time, and the max
        // difference of its gradients from the unchecked run (computed after the measurement)
        let p: Vec<usize> = args[2..5]
            .iter()
            .map(|s| s.parse().expect("size"))
            .collect();
        let seg = match args[5].as_str() {
            "none" => None,
            k => Some(k.parse().expect("segment")),
        };
        let (ws, x) = setup(p[0], p[1], p[2])?;
        let (g, peak, secs) = measure(&ws, &x, seg)?;
        let (reference, _, _) = measure(&ws, &x, None)?;
        let mut diff = 0f64;
        for (a, b) in g.iter().zip(&reference) {
            diff = diff.max(a.sub(b)?.abs()?.max()?.item()?);
        }
        println!("ROW {peak} {secs} {diff:e}");
        return Ok(());
    }
    let p: Vec<usize> = [(1, 64), (2, 256), (3, 256)]
        .iter()
        .map(|&(i, d)| args.get(i).map_or(d, |s| s.parse().expect("size")))
        .collect();
    let (depth, width, batch) = (p[0], p[1], p[2]);
    let act = (batch * width * 8) as f64 / MIB;
    let grads = (depth * width * width * 8) as f64 / MIB;
    println!(
        "grad of Σ h² through {depth} layers h ← h + ½ tanh(h W), width {width}, batch {batch}, f64"
    );
    println!("(one activation is {act:.2} MiB; the gradients alone are {grads:.1} MiB)\n");
    println!(
        "| checkpointed segments of | peak above baseline | time | max diff of the gradients |"
    );
    println!("|---:|---:|---:|---:|");
    let root = (depth as f64).sqrt().round() as usize;
    let mut segs = vec![None, Some(1), Some(root.max(1)), Some(depth)];
    segs.dedup();
    let exe = std::env::current_exe().expect("this program's path");
    for seg in segs {
        let out = Command::new(&exe)
            .args([
                "--one",
                &depth.to_string(),
                &width.to_string(),
                &batch.to_string(),
                &seg_name(seg),
            ])
            .output()
            .expect("run the child process");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with("ROW ")) else {
            panic!(
                "the child for segments of {} failed:\n{stdout}\n{}",
                seg_name(seg),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let v: Vec<&str> = line.split_whitespace().skip(1).collect();
        let peak: usize = v[0].parse().unwrap();
        let secs: f64 = v[1].parse().unwrap();
        let diff: f64 = v[2].parse().unwrap();
        let label = match seg {
            None => "no checkpoint".to_string(),
            Some(k) => format!("{k} layers"),
        };
        println!(
            "| {label} | {:.1} MiB | {:.1} ms | {diff:.1e} |",
            peak as f64 / MIB,
            secs * 1e3
        );
        assert!(
            diff < 1e-12,
            "checkpointing changed the gradients by {diff:e}"
        );
    }
    Ok(())
}
