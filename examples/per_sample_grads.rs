//! Per-example gradients: the gradient of the loss of *each* example of a batch with respect
//! to the model's parameters (what differentially private SGD clips, and what gradient-noise
//! and influence estimates are made of), computed with `vmap(grad(loss))` in one batched call
//! instead of a loop of `grad` calls over the examples.
//!
//! The model is a 2-layer tanh MLP whose parameters live in a `#[derive(Pytree)]` struct; the
//! loss is the cross-entropy of one example. `grad(loss)` returns the gradient as the same
//! struct, and `vmap` over the examples (`in_dims([None, Some(0), Some(0)])`: the parameters
//! are shared, the inputs and labels are mapped) returns that struct with every field carrying
//! a leading batch dim.
//!
//! ```text
//! cargo run --release --example per_sample_grads
//! ```
//!
//! It prints the shapes of the per-example gradients, the largest difference from the loop of
//! `grad` calls (and from the gradient of the batch's mean loss, which must equal the mean of
//! the per-example gradients), a few per-example gradient norms, and the median time of each
//! approach. It panics if the results disagree.

use functorch::{DType, Pytree, Result, Tensor, grad, manual_seed, vmap};
use std::time::Instant;

const BATCH: usize = 64;
const INPUTS: usize = 32;
const HIDDEN: usize = 64;
const CLASSES: usize = 10;

/// The parameters of `x ↦ tanh(x W1 + b1) W2 + b2`.
#[derive(Clone, Pytree)]
struct Mlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Mlp {
    fn init() -> Result<Mlp> {
        let randn =
            |shape: &[usize], scale: f64| Tensor::randn(shape, DType::F64)?.mul_scalar(scale);
        Ok(Mlp {
            w1: randn(&[INPUTS, HIDDEN], (1.0 / INPUTS as f64).sqrt())?,
            b1: Tensor::zeros(&[HIDDEN], DType::F64)?,
            w2: randn(&[HIDDEN, CLASSES], (1.0 / HIDDEN as f64).sqrt())?,
            b2: Tensor::zeros(&[CLASSES], DType::F64)?,
        })
    }

    /// Logits for one example `[INPUTS]` or a batch `[n, INPUTS]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w1)?
            .add(&self.b1)?
            .tanh()?
            .matmul(&self.w2)?
            .add(&self.b2)
    }
}

/// Cross-entropy of one example (`x: [INPUTS]`, one-hot `y: [CLASSES]`).
fn loss((params, x, y): &(Mlp, Tensor, Tensor)) -> Result<Tensor> {
    let logits = params.forward(x)?;
    logits.logsumexp(&[-1], false)?.sub(&logits.mul(y)?.sum()?)
}

/// The mean cross-entropy of a batch (`x: [n, INPUTS]`, `y: [n, CLASSES]`).
fn batch_loss((params, x, y): &(Mlp, Tensor, Tensor)) -> Result<Tensor> {
    let logits = params.forward(x)?;
    let per_example = logits
        .logsumexp(&[-1], false)?
        .sub(&logits.mul(y)?.sum_dims(&[-1], false)?)?;
    per_example.mean()
}

/// Stack a list of structs field by field (`Vec<Mlp>` -> `Mlp` with a leading batch dim).
fn stack<P: Pytree>(items: &[P]) -> Result<P> {
    let trees: Vec<_> = items.iter().map(Pytree::to_tree).collect();
    let leaves: Vec<Vec<&Tensor>> = trees.iter().map(|t| t.leaves()).collect();
    let stacked = (0..leaves[0].len())
        .map(|k| Tensor::stack(&leaves.iter().map(|l| l[k].clone()).collect::<Vec<_>>(), 0))
        .collect::<Result<Vec<_>>>()?;
    P::from_tree(trees[0].with_leaves(&mut stacked.into_iter()))
}

/// The largest elementwise difference between two structs of the same type.
fn max_abs_diff<P: Pytree>(a: &P, b: &P) -> Result<f64> {
    let (a, b) = (a.to_tree(), b.to_tree());
    let mut worst = 0.0f64;
    for (x, y) in a.leaves().into_iter().zip(b.leaves()) {
        worst = worst.max(x.sub(y)?.abs()?.max()?.item()?);
    }
    Ok(worst)
}

/// Median wall time of `f` in milliseconds, over `reps` runs after one warm-up run.
fn median_ms<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut out = f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t0 = Instant::now();
        out = f()?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[reps / 2], out))
}

fn main() -> Result<()> {
    manual_seed(0);
    let params = Mlp::init()?;
    let x = Tensor::randn(&[BATCH, INPUTS], DType::F64)?;
    let labels: Vec<i64> = (0..BATCH as i64)
        .map(|i| (7 * i + 3) % CLASSES as i64)
        .collect();
    let y = Tensor::from_vec(labels, &[BATCH])?
        .one_hot(CLASSES)?
        .to_dtype(DType::F64)?;
    let args = (params.clone(), x.clone(), y.clone());

    // All examples at once: the parameters are shared (None), x and y mapped over dim 0.
    let per_example_grad = vmap(grad(loss)).in_dims([None, Some(0), Some(0)]);
    // The same, one example at a time.
    let one_grad = grad(loss);
    let looped = || -> Result<Mlp> {
        let grads = (0..BATCH as i64)
            .map(|i| one_grad.call(&(params.clone(), x.get(i)?, y.get(i)?)))
            .collect::<Result<Vec<Mlp>>>()?;
        stack(&grads)
    };

    let reps = 7;
    let (t_vmap, g_vmap) = median_ms(reps, || per_example_grad.call::<_, Mlp>(&args))?;
    let (t_loop, g_loop) = median_ms(reps, looped)?;

    println!(
        "per-example gradients of a {INPUTS}-{HIDDEN}-{CLASSES} MLP's cross-entropy, batch of {BATCH}"
    );
    for (name, g) in [
        ("w1", &g_vmap.w1),
        ("b1", &g_vmap.b1),
        ("w2", &g_vmap.w2),
        ("b2", &g_vmap.b2),
    ] {
        println!("  grad.{name}: {:?}", g.shape());
    }

    let diff = max_abs_diff(&g_vmap, &g_loop)?;
    println!("max |vmap(grad) - loop of grad|                = {diff:.3e}");

    // The mean of the per-example gradients is the gradient of the mean loss.
    let g_batch: Mlp = grad(batch_loss).call(&args)?;
    let g_mean = Mlp {
        w1: g_vmap.w1.mean_dims(&[0], false)?,
        b1: g_vmap.b1.mean_dims(&[0], false)?,
        w2: g_vmap.w2.mean_dims(&[0], false)?,
        b2: g_vmap.b2.mean_dims(&[0], false)?,
    };
    let diff_mean = max_abs_diff(&g_mean, &g_batch)?;
    println!("max |mean of per-example grads - batch grad|   = {diff_mean:.3e}");

    // Per-example gradient norms, e.g. for clipping in DP-SGD.
    let sq = |g: &Tensor| -> Result<Tensor> {
        let dims: Vec<i64> = (1..g.ndim() as i64).collect();
        g.square()?.sum_dims(&dims, false)
    };
    let norms = sq(&g_vmap.w1)?
        .add(&sq(&g_vmap.b1)?)?
        .add(&sq(&g_vmap.w2)?)?
        .add(&sq(&g_vmap.b2)?)?
        .sqrt()?;
    let first: Vec<String> = norms.to_vec::<f64>()?[..8]
        .iter()
        .map(|v| format!("{v:.4}"))
        .collect();
    println!("per-example gradient norms (first 8): {}", first.join(" "));

    println!("median of {reps} runs:");
    println!("  vmap(grad(loss))        {t_vmap:8.3} ms");
    println!("  loop of {BATCH} grad calls  {t_loop:8.3} ms");
    println!("  speed-up                {:8.1}x", t_loop / t_vmap);

    assert!(diff < 1e-12, "vmap(grad) disagrees with the loop: {diff:e}");
    assert!(
        diff_mean < 1e-12,
        "the mean per-example gradient is not the batch gradient: {diff_mean:e}"
    );
    Ok(())
}
